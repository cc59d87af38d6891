// Moving a queue to another set under load, as real processes: `cluster start-local --sets 2`,
// a queue with a backlog on one set, producers and consumers through every node of both sets with
// the history checker, `opencmq cluster move-queue` to the other set, and kill -9 of the source
// set's leader mid-move (its mover is resumed by the new leader). The move ends with the queue on
// the target alone; the drain then checks the history: nothing acknowledged lost, no message
// delivered twice within one visibility period.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import type { ClusterNodeStatus } from '../../src/protocol/cluster-types';
import { CheckedLoad, describeReport } from '../helpers/checked-load';
import { alive, freeBases, startCli } from '../helpers/cli-process';
import { cmqRequest } from '../helpers/load-clients';

type Report = ClusterNodeStatus & { endpoint: string; reachable: boolean };

const VISIBILITY_S = 3;
const QUEUE = 'moving';
const BACKLOG = 300;

async function statusJson(endpoints: string[]): Promise<Report[]> {
  const r = await startCli(['cluster', 'status', '--endpoints', endpoints.join(','), '--timeout', '5', '--json'], { timeoutMs: 60_000 }).done;
  return JSON.parse(r.stdout) as Report[];
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

test('move-queue under load to the other set, the source leader killed mid-move: the move ends, nothing acknowledged is lost, nothing delivered twice', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-move-'));
  const [api, raft, admin, sqs] = await freeBases(4, 6);
  const endpoints = [0, 1, 2, 3, 4, 5].map((i) => `http://127.0.0.1:${api! + i}`);
  const cli = startCli(
    ['cluster', 'start-local', '--sets', '2', '--keep-going', '--data-dir', path.join(dir, 'c'), '--base-port', String(api), '--raft-base-port', String(raft),
      '--admin-base-port', String(admin), '--sqs-base-port', String(sqs), '--log-format', 'json'],
    { timeoutMs: 230_000 },
  );
  let pids: Record<string, number> = {};
  let load: CheckedLoad | undefined;
  try {
    await until('the members line', 30_000, () => Promise.resolve(/^members: /m.test(cli.stdout()) ? true : undefined));
    const line = /^members: (.*)$/m.exec(cli.stdout())![1]!;
    pids = Object.fromEntries([...line.matchAll(/(n\d) pid (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
    await until('both sets registered with the controller', 120_000, async () => {
      const s = await statusJson(endpoints.slice(0, 1));
      return s[0]?.sets?.length === 2 ? true : undefined;
    });

    load = await CheckedLoad.start({ endpoints, queueName: QUEUE, visibilityTimeoutS: VISIBILITY_S, senders: 3, receivers: 2 });
    const sets = await until('the queue counted on its set', 30_000, async () => {
      const s = (await statusJson(endpoints.slice(0, 1)))[0]?.sets ?? [];
      return s.reduce((n, x) => n + x.entities, 0) === 1 ? s : undefined;
    });
    const from = sets.find((s) => s.entities === 1)!.id;
    const to = sets.find((s) => s.id !== from)!.id;
    // start-local: set 1 is n1-n3 (endpoints 0-2), set 2 n4-n6.
    const sourceEndpoints = from === 1 ? endpoints.slice(0, 3) : endpoints.slice(3);
    // A backlog, every send recorded in the history.
    for (let i = 0; i < BACKLOG; i += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => load!.probeSend(endpoints[(i + k) % endpoints.length]!)));
    await load.waitForProgress({ sends: 20, deletes: 20 });

    const started = await startCli(['cluster', 'move-queue', QUEUE, '--to', String(to), '--endpoint', endpoints[0]!, '--json'], { timeoutMs: 60_000 }).done;
    assert.equal(started.code, 0, started.stderr);
    const begun = JSON.parse(started.stdout) as { fromSet: number; toSet: number; phase: string; sourceMessages: number };
    assert.equal(begun.fromSet, from);
    assert.equal(begun.toSet, to);
    console.log(`move: started ${JSON.stringify(begun)}`);

    // Mid-move: the source set's leader (its mover) killed.
    await new Promise((r) => setTimeout(r, 700));
    const leaderStatus = (await statusJson(sourceEndpoints)).find((s) => s.reachable && s.role === 'leader');
    assert.ok(leaderStatus, 'the source set has a leader');
    const victim = leaderStatus.nodeId;
    process.kill(pids[victim]!, 'SIGKILL');
    console.log(`move: killed ${victim}, leader of set ${from}, mid-move`);
    const survivors = endpoints.filter((e) => e !== leaderStatus.endpoint);
    await load.waitForProgress({ sends: 20, deletes: 20, timeoutMs: 30_000 });

    const done = await until('the move done', 120_000, async () => {
      const r = await cmqRequest(survivors[0]!, 'OpencmqMoveQueue', { queueName: QUEUE, toSet: to }, { timeoutMs: 10_000 });
      return r.code === 0 && r['phase'] === 'done' ? r : undefined;
    });
    assert.equal(done['toSet'], to);
    // The load goes on against the queue on its new set.
    await load.waitForProgress({ sends: 20, deletes: 20, timeoutMs: 30_000 });
    const report = await load.finish(survivors);
    console.log(`move: ${describeReport(report)}`);
    assert.ok(report.summary.sendsAcked >= BACKLOG);
    const after = (await statusJson(survivors.slice(0, 1)))[0]?.sets ?? [];
    assert.deepEqual(
      after.map((s) => [s.id, s.entities]).sort(),
      [
        [from, 0],
        [to, 1],
      ].sort(),
      'the queue is routed to the target set only',
    );
    cli.interrupt();
    await cli.done;
  } catch (err) {
    console.error(
      cli
        .stderr()
        .split('\n')
        .filter((l) => l.includes('move') || l.includes('"level":"warn"') || l.includes('"level":"error"'))
        .slice(-80)
        .join('\n'),
    );
    throw err;
  } finally {
    await load?.stop().catch(() => undefined);
    cli.kill();
    for (const pid of Object.values(pids)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
