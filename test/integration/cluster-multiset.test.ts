// A cluster of two sets from one command, as real processes: `cluster start-local --sets 2`
// starts six servers, set 1's members run the controller, both sets register and report their
// load, and `cluster status` shows the controller and both sets. Then the controller's leader is
// killed (SIGKILL): a new controller leader is elected and the load reports go on. The voters are
// not told of set 2's nodes (no --controller-caller): set 2 reaches the controller because the
// controller group is open to every node that passes the peer handshake. A queue created on set 2
// before the controller had a route for it is adopted: the controller then routes it to set 2.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { alive, freeBases, startCli } from '../helpers/cli-process';
import { callUntilOk } from '../helpers/load-clients';
import { type StatusReport, until } from '../helpers/local-sets';

type Report = StatusReport;

async function status(endpoints: string[]): Promise<{ json: Report[]; table: string }> {
  const json = await startCli(['cluster', 'status', '--endpoints', endpoints.join(','), '--timeout', '5', '--json'], { timeoutMs: 60_000 }).done;
  const table = await startCli(['cluster', 'status', '--endpoints', endpoints.join(','), '--timeout', '5'], { timeoutMs: 60_000 }).done;
  return { json: JSON.parse(json.stdout) as Report[], table: table.stdout };
}

/** The controller leader every answering voter agrees on, if any. */
function controllerLeader(reports: readonly Report[]): string | undefined {
  const views = reports.filter((r) => r.reachable && r.controller?.member).map((r) => r.controller!.member!);
  const leaders = new Set(views.map((v) => v.leader));
  const leader = [...leaders][0];
  return leaders.size === 1 && leader && views.some((v) => v.role === 'leader') ? leader : undefined;
}

/** Both sets as some member read them, each with a load report. */
function setsReported(reports: readonly Report[]): NonNullable<Report['sets']> | undefined {
  const sets = reports.find((r) => r.reachable && r.sets?.length === 2)?.sets;
  return sets && sets.every((s) => s.load !== null) ? sets : undefined;
}

/** The one set holding the queue and its one message, when the reports say so. */
function holding(sets: NonNullable<Report['sets']> | undefined): NonNullable<Report['sets']>[number] | undefined {
  if (!sets) return undefined;
  const withMessage = sets.filter((x) => x.load!.messages === 1 && x.entities === 1);
  const rest = sets.filter((x) => !withMessage.includes(x));
  return withMessage.length === 1 && rest.every((x) => x.load!.messages === 0 && x.entities === 0) ? withMessage[0] : undefined;
}


test('start-local --sets 2: both sets register, status shows the controller and both sets; the controller leader killed, another leads and reports go on', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-multiset-'));
  const [api, raft, admin, sqs] = await freeBases(4, 6);
  const endpoints = [0, 1, 2, 3, 4, 5].map((i) => `http://127.0.0.1:${api! + i}`);
  const cli = startCli(
    ['cluster', 'start-local', '--sets', '2', '--keep-going', '--data-dir', path.join(dir, 'c'), '--base-port', String(api), '--raft-base-port', String(raft),
      '--admin-base-port', String(admin), '--sqs-base-port', String(sqs), '--log-format', 'json'],
    { timeoutMs: 280_000 },
  );
  let pids: Record<string, number> = {};
  try {
    await until('the members line', 30_000, () => Promise.resolve(/^members: /m.test(cli.stdout()) ? true : undefined));
    const line = /^members: (.*)$/m.exec(cli.stdout())![1]!;
    pids = Object.fromEntries([...line.matchAll(/(n\d) pid (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
    assert.deepEqual(Object.keys(pids), ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']);

    // A queue created through set 2's members (placed by the controller on either set) and sent a
    // message: the reports of the set holding it count them, and the controller routes it there.
    await callUntilOk(endpoints.slice(3), 'CreateQueue', { queueName: 'on-set-2' }, { timeoutMs: 60_000 });
    await callUntilOk(endpoints.slice(3), 'SendMessage', { queueName: 'on-set-2', msgBody: 'hello' }, { timeoutMs: 30_000 });
    const first = await until('every member answering, both sets registered with load reports, a controller leader', 120_000, async () => {
      const s = await status(endpoints);
      const leader = controllerLeader(s.json);
      const sets = setsReported(s.json);
      // The table is a second status call: it must have read the sets too.
      const everyone = s.json.every((r) => r.reachable) && /^sets \(2, /m.test(s.table);
      return everyone && leader !== undefined && sets !== undefined && holding(sets) !== undefined ? { ...s, leader, sets } : undefined;
    });
    const held = holding(first.sets)!;
    const other = first.sets.find((x) => x !== held)!;
    assert.deepEqual([held.load!.queues, held.entities, other.load!.queues, other.load!.messages, other.entities], [1, 1, 0, 0, 0]);
    assert.deepEqual(
      first.sets.map((s) => [s.id, s.group, s.state, s.members.map((m) => m.nodeId)]),
      [
        [1, 0, 'active', ['n1', 'n2', 'n3']],
        [2, 1, 'active', ['n4', 'n5', 'n6']],
      ],
    );
    assert.equal(first.sets[1]!.members[0]!.apiAddress, endpoints[3]);
    assert.ok(['n1', 'n2', 'n3'].includes(first.leader), first.leader);
    // Every member says which set it is in; set 2's members see the controller without being voters.
    for (const r of first.json) {
      assert.ok(r.reachable, r.endpoint);
      const n = Number(r.nodeId.slice(1));
      assert.deepEqual(r.set, { id: n <= 3 ? 1 : 2, group: n <= 3 ? 0 : 1 });
      assert.equal(r.controller?.member !== undefined, n <= 3, r.nodeId);
    }
    assert.match(first.table, /^controller: voters n1 \(127\.0\.0\.1:\d+\), n2 .*; leader n[123]$/m);
    assert.match(first.table, /^sets \(2, as n\d read them from the controller\):$/m);
    assert.match(first.table, /^2 +1 +active +n4,n5,n6 /m);

    const before = new Map(first.sets.map((s) => [s.id, s.load!.atMs]));
    const killed = first.leader;
    process.kill(pids[killed]!, 'SIGKILL');
    const survivors = endpoints.filter((_, i) => `n${i + 1}` !== killed);
    const after = await until('a new controller leader and newer load reports from both sets', 120_000, async () => {
      const s = await status(survivors);
      const leader = controllerLeader(s.json);
      const sets = setsReported(s.json);
      if (leader === undefined || leader === killed || !sets) return undefined;
      return sets.every((set) => set.load!.atMs > before.get(set.id)!) ? { leader, sets } : undefined;
    });
    assert.notEqual(after.leader, killed);
    // The kill was reported and the others kept running.
    assert.equal(alive(pids[killed]!), false);
    for (const [id, pid] of Object.entries(pids)) if (id !== killed) assert.ok(alive(pid), `${id} still runs`);

    cli.interrupt();
    const r = await cli.done;
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.match(r.stderr, new RegExp(`^member ${killed} was killed by signal SIGKILL; the others keep running`, 'm'));
    assert.match(r.stderr, /^2 sets stopped$/m);
  } finally {
    cli.kill();
    for (const pid of Object.values(pids)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
