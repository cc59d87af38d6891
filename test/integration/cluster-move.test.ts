// Moving a queue to another set under load, as real processes: `cluster start-local --sets 2`,
// a queue with a backlog on one set, producers and consumers through every node of both sets with
// the history checker, `opencmq cluster move-queue` to the other set, and kill -9 of a leader
// mid-move: the source set's (its mover is resumed by the new leader), the target set's, the
// controller's. Each move ends with the queue on the target alone; the drain then checks the
// history: nothing acknowledged lost, no message delivered twice within one visibility period.
// A set keeps a majority through one kill (start-local --keep-going does not restart a member),
// so each test kills at most one member of each set. The last test moves what something on its
// set feeds or is fed by: a dead-letter queue with a source beside it, that source (with its
// dead-letter policy), and a queue a topic on its set delivers into, while sends, dead letters
// and publishes go on; everything arrives, and a redrive after the moves sends the dead letters
// back to their source.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { CheckedLoad, describeReport } from '../helpers/checked-load';
import { alive, freeBases, startCli } from '../helpers/cli-process';
import { callUntilOk, cmqRequest, type CmqResponse } from '../helpers/load-clients';
import { type StatusReport, statusJson, until } from '../helpers/local-sets';

type Report = StatusReport;

const VISIBILITY_S = 3;
const QUEUE = 'moving';
const BACKLOG = 300;



interface TwoSets {
  endpoints: string[];
  /** start-local: set 1 is n1-n3 (endpoints 0-2), set 2 n4-n6. */
  setEndpoints: (setId: number) => string[];
  pids: Record<string, number>;
  cli: ReturnType<typeof startCli>;
  dir: string;
  /** Endpoints of members not killed. */
  alive: () => string[];
  kill: (r: Report) => void;
}

async function startTwoSets(prefix: string): Promise<TwoSets> {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const [api, raft, admin, sqs] = await freeBases(4, 6);
  const endpoints = [0, 1, 2, 3, 4, 5].map((i) => `http://127.0.0.1:${api! + i}`);
  const cli = startCli(
    ['cluster', 'start-local', '--sets', '2', '--keep-going', '--data-dir', path.join(dir, 'c'), '--base-port', String(api), '--raft-base-port', String(raft),
      '--admin-base-port', String(admin), '--sqs-base-port', String(sqs), '--log-format', 'json'],
    { timeoutMs: 230_000 },
  );
  const killed = new Set<string>();
  const t: TwoSets = {
    endpoints,
    setEndpoints: (id) => (id === 1 ? endpoints.slice(0, 3) : endpoints.slice(3)),
    pids: {},
    cli,
    dir,
    alive: () => endpoints.filter((e) => !killed.has(e)),
    kill: (r) => {
      process.kill(t.pids[r.nodeId]!, 'SIGKILL');
      killed.add(r.endpoint);
    },
  };
  await until('the members line', 30_000, () => Promise.resolve(/^members: /m.test(cli.stdout()) ? true : undefined));
  const line = /^members: (.*)$/m.exec(cli.stdout())![1]!;
  t.pids = Object.fromEntries([...line.matchAll(/(n\d) pid (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  await until('both sets registered with the controller', 120_000, async () => {
    const st = await statusJson(endpoints.slice(0, 1));
    return st[0]?.sets?.length === 2 ? true : undefined;
  });
  return t;
}

function stopTwoSets(t: TwoSets, failed: boolean): void {
  if (failed) {
    console.error(
      t.cli
        .stderr()
        .split('\n')
        .filter((l) => l.includes('mov') || l.includes('"level":"warn"') || l.includes('"level":"error"'))
        .slice(-80)
        .join('\n'),
    );
  }
  t.cli.kill();
  for (const pid of Object.values(t.pids)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(t.dir, { recursive: true, force: true });
}

/** The set holding the queue, once the controller counts it. */
async function setOfQueue(t: TwoSets): Promise<number> {
  const sets = await until('the queue counted on its set', 30_000, async () => {
    const st = (await statusJson(t.alive().slice(0, 1)))[0]?.sets ?? [];
    return st.reduce((n, x) => n + x.entities, 0) === 1 ? st : undefined;
  });
  return sets.find((x) => x.entities === 1)!.id;
}

/** A backlog of `n` messages, every send recorded in the history. */
async function backlog(t: TwoSets, load: CheckedLoad, n: number): Promise<void> {
  const eps = t.alive();
  for (let i = 0; i < n; i += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => load.probeSend(eps[(i + k) % eps.length]!)));
}

/**
 * One move under load: `cluster move-queue` to `to`, `victim` (a status row) killed ~0.7 s later,
 * then waits until the move is done and the load still progresses. Returns how long the move took.
 */
async function moveRound(t: TwoSets, load: CheckedLoad, from: number, to: number, victim: () => Promise<Report>, what: string): Promise<number> {
  const startedAt = Date.now();
  const started = await startCli(['cluster', 'move-queue', QUEUE, '--to', String(to), '--endpoint', t.alive()[0]!, '--json'], { timeoutMs: 60_000 }).done;
  assert.equal(started.code, 0, started.stderr);
  const begun = JSON.parse(started.stdout) as { fromSet: number; toSet: number; phase: string; sourceMessages: number };
  assert.deepEqual([begun.fromSet, begun.toSet, begun.phase], [from, to, 'copying']);
  console.log(`move ${from} -> ${to}: started, ${begun.sourceMessages} messages on set ${from}`);
  // Status lists the move until it is done (a small backlog may be moved already by now).
  const during = (await statusJson(t.alive().slice(0, 1)))[0];
  assert.ok(during?.changes, `status reads the route changes: ${JSON.stringify(during?.controller)}`);
  const listed = during.changes.listed.find((c) => c.name === QUEUE);
  if (listed === undefined) console.log(`move ${from} -> ${to}: status no longer lists it`);
  else {
    assert.ok(listed.change === 'move' && listed.shard === 0 && listed.from === from && listed.to === to, JSON.stringify(listed));
    console.log(`move ${from} -> ${to}: status lists it in phase ${listed.phase}`);
  }
  await new Promise((r) => setTimeout(r, Math.max(0, startedAt + 700 - Date.now())));
  const v = await victim();
  t.kill(v);
  console.log(`move ${from} -> ${to}: killed ${v.nodeId} (${what}) mid-move`);
  await load.waitForProgress({ sends: 20, deletes: 20, timeoutMs: 30_000 });
  await until(`the move ${from} -> ${to} done`, 120_000, async () => {
    const r = await cmqRequest(t.alive()[0]!, 'OpencmqMoveQueue', { queueName: QUEUE, toSet: to }, { timeoutMs: 10_000 });
    return r.code === 0 && r['phase'] === 'done' ? true : undefined;
  });
  const tookMs = Date.now() - startedAt;
  console.log(`move ${from} -> ${to}: done in ${tookMs} ms`);
  // The load goes on against the queue on its new set.
  await load.waitForProgress({ sends: 20, deletes: 20, timeoutMs: 30_000 });
  const st = (await statusJson(t.alive().slice(0, 1)))[0];
  assert.deepEqual(
    Object.fromEntries((st?.sets ?? []).map((x) => [x.id, x.entities])),
    { [from]: 0, [to]: 1 },
    'the queue is routed to the target set only',
  );
  assert.deepEqual(st?.changes, { total: 0, listed: [] }, 'no route change left under way');
  return tookMs;
}

/** The leader of set `id` as its reachable members report it. */
async function leaderOf(t: TwoSets, id: number): Promise<Report> {
  return until(`a leader of set ${id}`, 30_000, async () => (await statusJson(t.setEndpoints(id).filter((e) => t.alive().includes(e)))).find((r) => r.reachable && r.role === 'leader'));
}

test('move-queue under load, the source set\'s leader killed mid-move: the new leader finishes it; nothing acknowledged lost, nothing delivered twice', { timeout: 240_000 }, async () => {
  const t = await startTwoSets('opencmq-move-src-');
  let load: CheckedLoad | undefined;
  let failed = true;
  try {
    load = await CheckedLoad.start({ endpoints: t.endpoints, queueName: QUEUE, visibilityTimeoutS: VISIBILITY_S, senders: 3, receivers: 2 });
    const from = await setOfQueue(t);
    const to = from === 1 ? 2 : 1;
    await backlog(t, load, BACKLOG);
    await load.waitForProgress({ sends: 20, deletes: 20 });
    await moveRound(t, load, from, to, () => leaderOf(t, from), `leader of the source set ${from}`);
    const report = await load.finish(t.alive());
    console.log(`move (source leader killed): ${describeReport(report)}`);
    assert.ok(report.summary.sendsAcked >= BACKLOG);
    t.cli.interrupt();
    await t.cli.done;
    failed = false;
  } finally {
    await load?.stop().catch(() => undefined);
    stopTwoSets(t, failed);
  }
});

test('move-queue there and back under load: the target set\'s leader killed in one move, the controller\'s leader in the other; nothing acknowledged lost, nothing delivered twice', { timeout: 240_000 }, async () => {
  const t = await startTwoSets('opencmq-move-tgt-');
  let load: CheckedLoad | undefined;
  let failed = true;
  try {
    load = await CheckedLoad.start({ endpoints: t.endpoints, queueName: QUEUE, visibilityTimeoutS: VISIBILITY_S, senders: 3, receivers: 2 });
    const home = await setOfQueue(t);
    const away = home === 1 ? 2 : 1;
    await backlog(t, load, BACKLOG);
    await load.waitForProgress({ sends: 20, deletes: 20 });
    // The controller runs on set 1's members: set 2's leader is killed in the move into set 2,
    // the controller's leader (a member of set 1) in the other, so each set loses one member.
    const controllerLeader = async (): Promise<Report> => {
      const st = (await statusJson(t.alive().slice(0, 1)))[0];
      const id = st?.controller?.leader;
      assert.ok(id, 'the controller has a leader');
      const r = (await statusJson(t.setEndpoints(1).filter((e) => t.alive().includes(e)))).find((x) => x.nodeId === id);
      assert.ok(r, `${id} is a member of set 1`);
      return r;
    };
    const intoSet2 = (from: number): Promise<number> => moveRound(t, load!, from, 2, () => leaderOf(t, 2), 'leader of the target set 2');
    const intoSet1 = (from: number): Promise<number> => moveRound(t, load!, from, 1, controllerLeader, 'leader of the controller');
    await (away === 2 ? intoSet2(home) : intoSet1(home));
    await backlog(t, load, BACKLOG / 3);
    await (home === 2 ? intoSet2(away) : intoSet1(away));
    const report = await load.finish(t.alive());
    console.log(`move (target and controller leaders killed): ${describeReport(report)}`);
    t.cli.interrupt();
    await t.cli.done;
    failed = false;
  } finally {
    await load?.stop().catch(() => undefined);
    stopTwoSets(t, failed);
  }
});

/** A CMQ call through any live node, retried until it succeeds (or answers one of `accept`). */
function caller(t: TwoSets): (action: string, params: Record<string, string | number>, accept?: number[]) => Promise<CmqResponse> {
  return (action, params, accept = []) => callUntilOk(t.alive(), action, params, { timeoutMs: 60_000, acceptCodes: accept });
}

/** Moves `name` to set `to` and waits until the move is done. */
async function moveAndWait(t: TwoSets, name: string, to: number): Promise<number> {
  const call = caller(t);
  const startedAt = Date.now();
  const r = await call('OpencmqMoveQueue', { queueName: name, toSet: to });
  if (r['phase'] !== 'done') {
    await until(`the move of ${name} to set ${to} done`, 120_000, async () => {
      const a = await cmqRequest(t.alive()[0]!, 'OpencmqMoveQueue', { queueName: name, toSet: to }, { timeoutMs: 10_000 });
      return a.code === 0 && a['phase'] === 'done' ? true : undefined;
    });
  }
  return Date.now() - startedAt;
}

/** Every message of `queueName`, received and deleted until it is empty; their bodies. */
async function drainAll(t: TwoSets, queueName: string): Promise<string[]> {
  const call = caller(t);
  const out: string[] = [];
  for (;;) {
    const r = await call('BatchReceiveMessage', { queueName, numOfMsg: 16, pollingWaitSeconds: 1 }, [7000]);
    const list = (r['msgInfoList'] as { msgBody: string; receiptHandle: string }[] | undefined) ?? [];
    if (r.code === 7000 || list.length === 0) {
      const a = await call('GetQueueAttributes', { queueName });
      if (Number(a['activeMsgNum']) + Number(a['inactiveMsgNum']) === 0) return out;
      continue;
    }
    out.push(...list.map((m) => m.msgBody));
    const handles: Record<string, string> = {};
    list.forEach((m, i) => (handles[`receiptHandle.${i + 1}`] = m.receiptHandle));
    await call('BatchDeleteMessage', { queueName, ...handles });
  }
}

function missing(acked: Set<string>, got: string[]): string[] {
  const seen = new Set(got);
  return [...acked].filter((b) => !seen.has(b));
}

test('move-queue of a dead-letter queue, of its source with a dead-letter policy, and of a queue fed by a topic on its set, while sends, dead letters and publishes go on: everything arrives; a redrive after the moves sends the dead letters back', { timeout: 240_000 }, async () => {
  const t = await startTwoSets('opencmq-move-feeders-');
  const call = caller(t);
  const stop = new AbortController();
  const loops: Promise<void>[] = [];
  let failed = true;
  try {
    // The dead-letter queue on set 1, its source created beside it (bound within the set).
    await call('CreateQueue', { queueName: 'dlq' });
    await moveAndWait(t, 'dlq', 1);
    await call('CreateQueue', { queueName: 'src', visibilityTimeout: 1, deadLetterPolicy: JSON.stringify({ deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1 }) });
    const src = await call('OpencmqMoveQueue', { queueName: 'src', toSet: 1 });
    assert.equal(src['phase'], 'done', 'placed beside its dead-letter queue');
    // A topic, wherever it is placed, and a queue on its set subscribed to it.
    const before = (await statusJson(t.alive().slice(0, 1)))[0]!.sets!.map((x) => [x.id, x.entities] as const);
    await call('CreateTopic', { topicName: 'news' });
    const topicSet = await until('the topic counted', 30_000, async () => {
      const now = (await statusJson(t.alive().slice(0, 1)))[0]?.sets ?? [];
      return now.find((x) => x.entities > (before.find(([id]) => id === x.id)?.[1] ?? 0))?.id;
    });
    await call('CreateQueue', { queueName: 'fed' });
    await moveAndWait(t, 'fed', topicSet);
    await call('Subscribe', { topicName: 'news', subscriptionName: 'to-fed', protocol: 'queue', endpoint: 'fed', notifyContentFormat: 'SIMPLIFIED' });

    // Sends into src; a consumer that never deletes (each message is dead-lettered at its second
    // receive); publishes to the topic. Bodies acknowledged are recorded.
    const sent = new Set<string>();
    const published = new Set<string>();
    const loop = (body: (i: number) => Promise<void>): void => {
      loops.push(
        (async () => {
          for (let i = 0; !stop.signal.aborted; i++) {
            await body(i).catch(() => undefined);
            await new Promise((r) => setTimeout(r, 20));
          }
        })(),
      );
    };
    loop(async (i) => {
      const b = `s-${i}`;
      const r = await cmqRequest(t.alive()[i % t.alive().length]!, 'SendMessage', { queueName: 'src', msgBody: b }, { timeoutMs: 10_000 });
      if (r.code === 0) sent.add(b);
    });
    loop(async (i) => {
      await cmqRequest(t.alive()[i % t.alive().length]!, 'BatchReceiveMessage', { queueName: 'src', numOfMsg: 16, pollingWaitSeconds: 1 }, { timeoutMs: 10_000 });
    });
    loop(async (i) => {
      const b = `p-${i}`;
      const r = await cmqRequest(t.alive()[(i + 1) % t.alive().length]!, 'PublishMessage', { topicName: 'news', msgBody: b }, { timeoutMs: 10_000 });
      if (r.code === 0) published.add(b);
    });
    await until('load under way', 30_000, () => Promise.resolve(sent.size >= 50 && published.size >= 50 ? true : undefined));

    // The dead-letter queue first, while its source on its set dead-letters into it.
    console.log(`move dlq 1 -> 2 (a source on set 1): ${await moveAndWait(t, 'dlq', 2)} ms`);
    // Then the source, into the set its dead-letter queue is on now.
    console.log(`move src 1 -> 2 (its dead-letter queue there): ${await moveAndWait(t, 'src', 2)} ms`);
    const away = topicSet === 1 ? 2 : 1;
    console.log(`move fed ${topicSet} -> ${away} (its topic on set ${topicSet}): ${await moveAndWait(t, 'fed', away)} ms`);
    const moreFrom = sent.size + published.size;
    await until('load after the moves', 30_000, () => Promise.resolve(sent.size + published.size >= moreFrom + 100 ? true : undefined));
    stop.abort();
    await Promise.all(loops);

    const after = (await statusJson(t.alive().slice(0, 1)))[0]?.sets ?? [];
    console.log(`routes per set: ${JSON.stringify(after.map((x) => [x.id, x.entities]))}; sent ${sent.size}, published ${published.size}`);

    const fed = await drainAll(t, 'fed');
    assert.deepEqual(missing(published, fed), [], 'every acknowledged publish reached the moved queue');

    // Every message of src is dead-lettered by its second receive: received until none is left.
    await until('src emptied into its dead-letter queue', 120_000, async () => {
      await call('BatchReceiveMessage', { queueName: 'src', numOfMsg: 16, pollingWaitSeconds: 1 }, [7000]);
      const a = await call('GetQueueAttributes', { queueName: 'src' });
      return Number(a['activeMsgNum']) + Number(a['inactiveMsgNum']) + Number(a['delayMsgNum'] ?? 0) === 0 ? true : undefined;
    });
    const dlq = await call('GetQueueAttributes', { queueName: 'dlq' });
    await until('every dead letter in the dead-letter queue', 60_000, async () => {
      const a = await call('GetQueueAttributes', { queueName: 'dlq' });
      return Number(a['activeMsgNum']) >= sent.size ? true : undefined;
    });
    console.log(`dead-letter queue: ${String(dlq['activeMsgNum'])} then all ${sent.size}`);
    const sources = await call('ListDeadLetterSourceQueues', { deadLetterQueueName: 'dlq' });
    assert.equal(sources['totalCount'], 1);

    // The redrive sends each dead letter back to its source, which it remembers across the move.
    await until('the dead-letter queue redriven', 60_000, async () => {
      await call('OpencmqRedriveDeadLetterQueue', { queueName: 'dlq' });
      const a = await call('GetQueueAttributes', { queueName: 'dlq' });
      return Number(a['activeMsgNum']) + Number(a['inactiveMsgNum']) === 0 ? true : undefined;
    });
    // src dead-letters on its second receive: take them off with deletes at the first.
    const back = await drainAll(t, 'src');
    assert.deepEqual(missing(sent, back), [], 'every acknowledged send went through the dead-letter queue and back');
    t.cli.interrupt();
    await t.cli.done;
    failed = false;
  } finally {
    stop.abort();
    await Promise.all(loops).catch(() => undefined);
    stopTwoSets(t, failed);
  }
});


test('move-queue takes the messages kept for rewind with their enqueue times: RewindQueue on the target to before the move brings back the consumed ones', { timeout: 240_000 }, async () => {
  const t = await startTwoSets('opencmq-move-kept-');
  let failed = true;
  const name = 'kept';
  const call = async (action: string, params: Record<string, string | number>): Promise<Record<string, unknown>> => {
    const r = await cmqRequest(t.endpoints[0]!, action, params, { timeoutMs: 10_000 });
    assert.equal(r.code, 0, `${action}: ${JSON.stringify(r)}`);
    return r;
  };
  const receiveAll = async (): Promise<{ msgBody: string; receiptHandle: string; enqueueTime: number }[]> => {
    const out: { msgBody: string; receiptHandle: string; enqueueTime: number }[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await cmqRequest(t.endpoints[0]!, 'BatchReceiveMessage', { queueName: name, numOfMsg: 16, pollingWaitSeconds: 1 }, { timeoutMs: 10_000 });
      if (r.code === 0) out.push(...(r['msgInfoList'] as { msgBody: string; receiptHandle: string; enqueueTime: number }[]));
    }
    return out.sort((a, b) => (a.msgBody < b.msgBody ? -1 : 1));
  };
  try {
    await call('CreateQueue', { queueName: name, rewindSeconds: 3600, visibilityTimeout: 60 });
    const t0 = Math.floor(Date.now() / 1000);
    for (const b of ['k1', 'k2', 'k3', 'k4', 'k5']) await call('SendMessage', { queueName: name, msgBody: b });
    // k1-k3 consumed before the move: kept for rewind on the source.
    const got = (await call('BatchReceiveMessage', { queueName: name, numOfMsg: 3, pollingWaitSeconds: 1 }))['msgInfoList'] as { msgBody: string; receiptHandle: string }[];
    assert.deepEqual(
      got.map((m) => m.msgBody),
      ['k1', 'k2', 'k3'],
    );
    for (const m of got) await call('DeleteMessage', { queueName: name, receiptHandle: m.receiptHandle });
    const before = await call('GetQueueAttributes', { queueName: name });
    assert.deepEqual([before['activeMsgNum'], before['rewindMsgNum']], [2, 3]);
    await new Promise((r) => setTimeout(r, 1_100));
    const from = await setOfQueue(t);
    const to = from === 1 ? 2 : 1;
    const movedAtSec = Math.floor(Date.now() / 1000);
    const started = await startCli(['cluster', 'move-queue', name, '--to', String(to), '--endpoint', t.endpoints[0]!, '--json'], { timeoutMs: 60_000 }).done;
    assert.equal(started.code, 0, started.stderr);
    await until(`the move ${from} -> ${to} done`, 120_000, async () => {
      const r = await cmqRequest(t.endpoints[0]!, 'OpencmqMoveQueue', { queueName: name, toSet: to }, { timeoutMs: 10_000 });
      return r.code === 0 && r['phase'] === 'done' ? true : undefined;
    });
    const after = (await statusJson(t.endpoints.slice(0, 1)))[0]?.sets ?? [];
    assert.deepEqual(Object.fromEntries(after.map((x) => [x.id, x.entities])), { [from]: 0, [to]: 1 });
    const moved = await call('GetQueueAttributes', { queueName: name });
    assert.deepEqual([moved['activeMsgNum'], moved['rewindMsgNum']], [2, 3], 'the kept ones moved, still kept');
    await call('RewindQueue', { queueName: name, startConsumeTime: t0 });
    const back = await receiveAll();
    assert.deepEqual(
      back.map((m) => m.msgBody),
      ['k1', 'k2', 'k3', 'k4', 'k5'],
    );
    for (const m of back) assert.ok(m.enqueueTime >= t0 && m.enqueueTime < movedAtSec, `${m.msgBody} keeps its enqueue time from before the move (${m.enqueueTime})`);
    t.cli.interrupt();
    await t.cli.done;
    failed = false;
  } finally {
    stopTwoSets(t, failed);
  }
});
