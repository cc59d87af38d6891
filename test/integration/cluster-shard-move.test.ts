// Moving one shard of a queue of several to another set under load, as real processes:
// `cluster start-local --sets 3`, a queue of two shards (on two of the three sets) with a backlog,
// producers and consumers through every node with the history checker, then
// `opencmq cluster move-queue NAME --from F --to T` moves the shard on F to the third set while
// the source set's leader is killed (its successor resumes the drain). The move ends with the
// queue on its other shard's set and the target, two shards still; the drain then checks the
// history: nothing acknowledged lost, no message delivered twice within one visibility period.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { CheckedLoad, describeReport } from '../helpers/checked-load';
import { alive, freeBases, startCli } from '../helpers/cli-process';
import { callUntilOk, cmqRequest } from '../helpers/load-clients';
import { type StatusReport, statusJson, until } from '../helpers/local-sets';

const VISIBILITY_S = 3;
const QUEUE = 'spread';
const BACKLOG = 200;
const SETS = 3;

test('move-queue --from: one shard of a two-shard queue moves to the third set under load, the source set\'s leader killed mid-move; nothing acknowledged lost, nothing delivered twice', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-shard-move-'));
  const n = SETS * 3;
  const [api, raft, admin, sqs] = await freeBases(4, n);
  const endpoints = Array.from({ length: n }, (_, i) => `http://127.0.0.1:${api! + i}`);
  const setEndpoints = (id: number): string[] => endpoints.slice((id - 1) * 3, id * 3);
  const cli = startCli(
    ['cluster', 'start-local', '--sets', String(SETS), '--keep-going', '--data-dir', path.join(dir, 'c'), '--base-port', String(api), '--raft-base-port', String(raft),
      '--admin-base-port', String(admin), '--sqs-base-port', String(sqs), '--log-format', 'json'],
    { timeoutMs: 230_000 },
  );
  const killed = new Set<string>();
  const live = (): string[] => endpoints.filter((e) => !killed.has(e));
  let pids: Record<string, number> = {};
  let load: CheckedLoad | undefined;
  let failed = true;
  const startedAt = Date.now();
  try {
    await until('the members line', 30_000, () => Promise.resolve(/^members: /m.test(cli.stdout()) ? true : undefined));
    const line = /^members: (.*)$/m.exec(cli.stdout())![1]!;
    pids = Object.fromEntries([...line.matchAll(/(n\d) pid (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
    // Any node's view will do (one node may be slow to reach the controller on a busy machine); what
    // each saw is kept for the timeout's message.
    await until(`${SETS} sets registered with the controller`, 120_000, async () => {
      const st = await statusJson(endpoints);
      if (st.some((x) => x?.sets?.length === SETS)) return true;
      throw new Error(`sets seen per node: ${st.map((x) => x?.sets?.length ?? 'none').join(',')}`);
    });
    console.log(`${SETS} sets up in ${Date.now() - startedAt} ms`);

    await callUntilOk(endpoints, 'CreateQueue', { queueName: QUEUE, visibilityTimeout: VISIBILITY_S, shards: 2 }, { timeoutMs: 60_000, acceptCodes: [4460] });
    // The load's own create finds the queue there (4460) and leaves it as it is: two shards.
    load = await CheckedLoad.start({ endpoints, queueName: QUEUE, visibilityTimeoutS: VISIBILITY_S, senders: 3, receivers: 2 });
    const placed = await until('both shards counted on their sets', 30_000, async () => {
      const st = (await statusJson(endpoints.slice(0, 1)))[0]?.sets ?? [];
      return st.reduce((k, x) => k + x.entities, 0) === 2 ? st : undefined;
    });
    const holding = placed.filter((x) => x.entities === 1).map((x) => x.id);
    const to = placed.find((x) => x.entities === 0)!.id;
    const from = holding[0]!;
    const stays = holding[1]!;
    for (let i = 0; i < BACKLOG; i += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => load!.probeSend(endpoints[(i + k) % n]!)));
    await load.waitForProgress({ sends: 20, deletes: 20 });

    // Without --from the queue's shards' sets are named, and nothing starts.
    const bare = await startCli(['cluster', 'move-queue', QUEUE, '--to', String(to), '--endpoint', endpoints[0]!], { timeoutMs: 60_000 }).done;
    assert.notEqual(bare.code, 0);
    assert.match(bare.stderr, new RegExp(`2 shards, on sets ${[...holding].sort((a, b) => a - b).join(', ')}`));

    const moveStartedAt = Date.now();
    const started = await startCli(['cluster', 'move-queue', QUEUE, '--from', String(from), '--to', String(to), '--endpoint', endpoints[0]!, '--json'], { timeoutMs: 60_000 }).done;
    assert.equal(started.code, 0, started.stderr);
    const begun = JSON.parse(started.stdout) as { fromSet: number; toSet: number; phase: string; sourceMessages: number };
    assert.deepEqual([begun.fromSet, begun.toSet, begun.phase], [from, to, 'copying']);
    console.log(`shard move ${from} -> ${to} (shard on ${stays} stays): started, ${begun.sourceMessages} messages on set ${from}`);
    await new Promise((r) => setTimeout(r, 700));
    const victim = await until(`a leader of set ${from}`, 30_000, async () => (await statusJson(setEndpoints(from))).find((r: StatusReport) => r.reachable && r.role === 'leader'));
    process.kill(pids[victim.nodeId]!, 'SIGKILL');
    killed.add(victim.endpoint);
    console.log(`killed ${victim.nodeId}, the leader of the source set ${from}, mid-move`);
    await load.waitForProgress({ sends: 20, deletes: 20, timeoutMs: 30_000 });
    await until(`the shard move ${from} -> ${to} done`, 120_000, async () => {
      const r = await cmqRequest(live()[0]!, 'OpencmqMoveQueue', { queueName: QUEUE, toSet: to, fromSet: from }, { timeoutMs: 10_000 });
      return r.code === 0 && r['phase'] === 'done' ? true : undefined;
    });
    console.log(`shard move ${from} -> ${to}: done in ${Date.now() - moveStartedAt} ms`);
    await load.waitForProgress({ sends: 20, deletes: 20, timeoutMs: 30_000 });
    const after = (await statusJson(live().slice(0, 1)))[0]?.sets ?? [];
    assert.deepEqual(Object.fromEntries(after.map((x) => [x.id, x.entities])), { [from]: 0, [stays]: 1, [to]: 1 }, 'one shard on the set that kept it, one on the target');
    const attrs = await callUntilOk(live(), 'GetQueueAttributes', { queueName: QUEUE }, { timeoutMs: 30_000 });
    assert.equal(attrs['shards'], 2, JSON.stringify(attrs));

    const report = await load.finish(live());
    console.log(`shard move (source leader killed): ${describeReport(report)}; whole test ${Date.now() - startedAt} ms`);
    assert.ok(report.summary.sendsAcked >= BACKLOG);
    cli.interrupt();
    await cli.done;
    failed = false;
  } finally {
    await load?.stop().catch(() => undefined);
    if (failed) {
      console.error(
        cli
          .stderr()
          .split('\n')
          .filter((l) => l.includes('mov') || l.includes('"level":"warn"') || l.includes('"level":"error"'))
          .slice(-80)
          .join('\n'),
      );
    }
    cli.kill();
    for (const pid of Object.values(pids)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
