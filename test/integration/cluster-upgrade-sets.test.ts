// The in-place upgrade of one set into a cluster of sets, as real processes: `cluster start-local`
// (one set, no controller) is given queues (one with a dead-letter policy naming another), a topic
// with a queue subscription, messages (one in flight, one delayed), and stopped; then
// `cluster start-local --sets 2` runs on the same data directory and ports. Set 1's members keep
// their data; set 1's leader adopts what its set holds, so every node of either set serves the old
// queues and topic: counts as before, old messages received (the in-flight one after its
// visibility, the delayed one when due), the dead-letter policy still moves, a publish reaches the
// subscribed queue, lists show each old queue once, the old names stay taken whatever their case,
// and new queues go to the new, empty set. A second restart on the same data serves it all again.
// A second test upgrades a set of plain `opencmq server` processes member by member (rolling): the
// set serves throughout, and a new set then serves its queue.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { alive, freeBases, listenOn, startCli, type CliProcess } from '../helpers/cli-process';
import { callUntilOk, cmqRequest, type CmqResponse } from '../helpers/load-clients';
import { spawnServer, type ServerProcess } from '../helpers/server-process';
import { statusJson, until } from '../helpers/local-sets';

const QUEUE_EXISTS = 4460;
/** The in-flight message's queue hides a received message this long (s). */
const VISIBILITY_S = 30;
/** The delayed message becomes visible this long after it was sent (s). */
const DELAY_S = 30;
const OLD_QUEUES = ['up-counts', 'up-dlq', 'up-main', 'up-plain', 'up-sub'];



/** One call that must succeed (retried on the answers a client retries: not applied, no leader yet). */
async function ok(endpoint: string, action: string, params: Record<string, string | number>): Promise<CmqResponse> {
  return callUntilOk([endpoint], action, params, { timeoutMs: 30_000 });
}

/** A message from `queueName` through `endpoint`, waiting up to `timeoutMs` for one. */
async function receiveOne(endpoint: string, queueName: string, timeoutMs = 60_000): Promise<CmqResponse> {
  return until(`a message on ${queueName} through ${endpoint}`, timeoutMs, async () => {
    const r = await cmqRequest(endpoint, 'ReceiveMessage', { queueName, pollingWaitSeconds: 1 }, { timeoutMs: 10_000 });
    if (r.code !== 0 && r.code !== 7000) throw new Error(`ReceiveMessage ${queueName}: ${r.code} ${r.message}`);
    return r.code === 0 ? r : undefined;
  });
}

/** The queue counters GetQueueAttributes gives that do not depend on the clock. */
async function counts(endpoint: string, queueName: string): Promise<{ active: unknown; inactive: unknown; delayed: unknown }> {
  const a = await ok(endpoint, 'GetQueueAttributes', { queueName });
  return { active: a['activeMsgNum'], inactive: a['inactiveMsgNum'], delayed: a['delayMsgNum'] };
}

interface Ports {
  api: number;
  raft: number;
  admin: number;
  sqs: number;
}

function startLocal(dataDir: string, ports: Ports, sets: number): { cli: CliProcess; pids: () => Record<string, number> } {
  const cli = startCli(
    ['cluster', 'start-local', ...(sets > 1 ? ['--sets', String(sets)] : []), '--keep-going', '--data-dir', dataDir, '--base-port', String(ports.api),
      '--raft-base-port', String(ports.raft), '--admin-base-port', String(ports.admin), '--sqs-base-port', String(ports.sqs), '--log-format', 'json'],
    { timeoutMs: 280_000 },
  );
  const pids = (): Record<string, number> => {
    const line = /^members: (.*)$/m.exec(cli.stdout())?.[1] ?? '';
    return Object.fromEntries([...line.matchAll(/(n\d) pid (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  };
  return { cli, pids };
}

/** Ctrl-C, as an operator stops it: every member stops gracefully and the command exits 0. */
async function stop(cli: CliProcess): Promise<void> {
  cli.interrupt();
  const r = await cli.done;
  assert.equal(r.code, 0, r.stderr.slice(-2000));
}

/** Every old queue listed once, with the right total, through `endpoint`. */
async function assertListed(endpoint: string, also: readonly string[] = []): Promise<void> {
  const all = await ok(endpoint, 'ListQueue', { searchWord: 'up-', limit: 50 });
  const listed = (all['queueList'] as { queueName: string }[]).map((q) => q.queueName).sort();
  assert.deepEqual(listed, [...OLD_QUEUES, ...also].sort(), endpoint);
  assert.equal(all['totalCount'], OLD_QUEUES.length + also.length, endpoint);
}

/** The queues naming up-dlq as their dead-letter queue, through `endpoint`. */
async function assertSources(endpoint: string, expected: string[]): Promise<void> {
  const r = await ok(endpoint, 'ListDeadLetterSourceQueues', { deadLetterQueueName: 'up-dlq' });
  assert.deepEqual((r['queueList'] as { queueName: string }[]).map((q) => q.queueName).sort(), expected, endpoint);
  assert.equal(r['totalCount'], expected.length, endpoint);
}

test('one set upgraded in place to two sets: every old queue and topic served through every node, new queues on the new set, and again after a restart', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-upgrade-'));
  const dataDir = path.join(dir, 'd');
  const [api, raft, admin, sqs] = await freeBases(4, 6);
  const ports: Ports = { api: api!, raft: raft!, admin: admin!, sqs: sqs! };
  const endpoints = [0, 1, 2, 3, 4, 5].map((i) => `http://127.0.0.1:${api! + i}`);
  const set1 = endpoints.slice(0, 3);
  const set2 = endpoints.slice(3);
  const runs: { cli: CliProcess; pids: () => Record<string, number> }[] = [];
  const held: Server[] = [];
  const release = (): Promise<unknown> => Promise.all(held.splice(0).map((h) => new Promise((resolve) => h.close(resolve))));
  try {
    // 1. One set, no controller: the data to keep.
    // Set 2's ports stay held while the one set runs, so that no connection of this busy machine
    // takes one of them as its local port before set 2 starts.
    held.push(...(await Promise.all([ports.api, ports.raft, ports.admin, ports.sqs].flatMap((base) => [3, 4, 5].map((i) => listenOn(base + i))))));
    const single = startLocal(dataDir, ports, 1);
    runs.push(single);
    await callUntilOk(set1, 'CreateQueue', { queueName: 'up-dlq' }, { timeoutMs: 60_000, acceptCodes: [QUEUE_EXISTS] });
    await ok(set1[1]!, 'CreateQueue', { queueName: 'up-main', visibilityTimeout: 1, deadLetterPolicy: JSON.stringify({ deadLetterQueue: 'up-dlq', policy: 0, maxReceiveCount: 1 }) });
    await ok(set1[2]!, 'CreateQueue', { queueName: 'up-plain', visibilityTimeout: VISIBILITY_S });
    await ok(set1[0]!, 'CreateQueue', { queueName: 'up-counts' });
    await ok(set1[0]!, 'CreateQueue', { queueName: 'up-sub' });
    await ok(set1[1]!, 'CreateTopic', { topicName: 'up-topic' });
    await ok(set1[2]!, 'Subscribe', { topicName: 'up-topic', subscriptionName: 'to-up-sub', protocol: 'queue', endpoint: 'up-sub', notifyContentFormat: 'SIMPLIFIED' });
    for (const msgBody of ['c1', 'c2', 'c3']) await ok(set1[0]!, 'SendMessage', { queueName: 'up-counts', msgBody });
    await ok(set1[1]!, 'SendMessage', { queueName: 'up-main', msgBody: 'to be dead-lettered' });
    await ok(set1[2]!, 'PublishMessage', { topicName: 'up-topic', msgBody: 'published before' });
    // Two in flight: one comes back after its visibility, one is deleted after the upgrade with the handle it got before.
    await ok(set1[0]!, 'SendMessage', { queueName: 'up-plain', msgBody: 'in flight' });
    await ok(set1[0]!, 'SendMessage', { queueName: 'up-plain', msgBody: 'deleted after the upgrade' });
    const inFlight = new Map<string, string>();
    for (let k = 0; k < 2; k++) {
      const m = await receiveOne(set1[1]!, 'up-plain');
      inFlight.set(String(m['msgBody']), String(m['receiptHandle']));
    }
    assert.deepEqual([...inFlight.keys()].sort(), ['deleted after the upgrade', 'in flight']);
    const hiddenUntil = Date.now() + VISIBILITY_S * 1000;
    await ok(set1[2]!, 'SendMessage', { queueName: 'up-plain', msgBody: 'delayed', delaySeconds: DELAY_S });
    const dueAt = Date.now() + DELAY_S * 1000;
    await until('the published message in up-sub', 30_000, async () => ((await counts(set1[0]!, 'up-sub')).active === 1 ? true : undefined));
    const before = new Map<string, Awaited<ReturnType<typeof counts>>>();
    for (const q of OLD_QUEUES) before.set(q, await counts(set1[0]!, q));
    assert.deepEqual(before.get('up-plain'), { active: 0, inactive: 2, delayed: 1 });
    assert.deepEqual(before.get('up-counts'), { active: 3, inactive: 0, delayed: 0 });
    await stop(single.cli);

    // 2. Two sets on the same data directory and ports: set 1 is n1-n3 with their data, set 2 (n4-n6) is new.
    await release();
    const upgraded = startLocal(dataDir, ports, 2);
    runs.push(upgraded);
    await until('the members line', 30_000, () => Promise.resolve(Object.keys(upgraded.pids()).length === 6 ? true : undefined));
    // Set 1's leader adopts what its set holds: the controller counts the old queues and the topic on set 1.
    const sets = await until('both sets registered, set 1 counting its queues and topic', 120_000, async () => {
      const s = (await statusJson(endpoints.slice(0, 1)))[0]?.sets;
      return s?.length === 2 && s[0]!.entities === OLD_QUEUES.length + 1 ? s : undefined;
    });
    assert.deepEqual(sets.map((s) => [s.id, s.entities]), [[1, OLD_QUEUES.length + 1], [2, 0]]);

    // 3. Every old queue, through nodes of both sets: the counts as before.
    for (const [i, q] of OLD_QUEUES.entries()) {
      for (const endpoint of [set2[i % 3]!, set1[(i + 1) % 3]!]) {
        const now = await counts(endpoint, q);
        if (q === 'up-plain') {
          // The in-flight and the delayed one are counted as before unless their time has come.
          if (Date.now() < Math.min(hiddenUntil, dueAt) - 2000) assert.deepEqual(now, before.get(q), `${q} through ${endpoint}`);
        } else assert.deepEqual(now, before.get(q), `${q} through ${endpoint}`);
      }
    }
    for (const endpoint of [set1[2]!, set2[1]!]) await assertListed(endpoint);
    // The dead-letter binding made before: its policy and its source, through a node of set 2.
    const mainAttrs = await ok(set2[0]!, 'GetQueueAttributes', { queueName: 'up-main' });
    assert.equal((mainAttrs['deadLetterPolicy'] as { deadLetterQueue?: unknown } | undefined)?.deadLetterQueue, 'up-dlq', JSON.stringify(mainAttrs));
    await assertSources(set2[2]!, ['up-main']);
    // The old names are taken, whatever their case, through a node of either set.
    for (const [endpoint, queueName] of [[set2[2]!, 'UP-PLAIN'], [set1[0]!, 'Up-Dlq']] as const) {
      const again = await cmqRequest(endpoint, 'CreateQueue', { queueName }, { timeoutMs: 30_000 });
      assert.equal(again.code, QUEUE_EXISTS, `${queueName} through ${endpoint}: ${JSON.stringify(again)}`);
    }
    const topicAgain = await cmqRequest(set2[0]!, 'CreateTopic', { topicName: 'UP-TOPIC' }, { timeoutMs: 30_000 });
    assert.notEqual(topicAgain.code, 0, JSON.stringify(topicAgain));

    // A receipt handle given before the upgrade deletes its message through a node of set 2.
    await ok(set2[1]!, 'DeleteMessage', { queueName: 'up-plain', receiptHandle: inFlight.get('deleted after the upgrade')! });

    // The old messages, received through set 2's nodes.
    for (const body of ['c1', 'c2', 'c3']) {
      const got = await receiveOne(set2[0]!, 'up-counts');
      assert.ok(['c1', 'c2', 'c3'].includes(String(got['msgBody'])), body);
      await ok(set2[1]!, 'DeleteMessage', { queueName: 'up-counts', receiptHandle: String(got['receiptHandle']) });
    }
    // A publish to the old topic through set 2 reaches the subscribed queue, after the one from before.
    await ok(set2[2]!, 'PublishMessage', { topicName: 'up-topic', msgBody: 'published after' });
    const published: string[] = [];
    for (let k = 0; k < 2; k++) {
      const got = await receiveOne(set2[k]!, 'up-sub');
      published.push(String(got['msgBody']));
      await ok(set1[k]!, 'DeleteMessage', { queueName: 'up-sub', receiptHandle: String(got['receiptHandle']) });
    }
    assert.deepEqual(published.sort(), ['published after', 'published before']);
    // The dead-letter policy still applies: received once, then past maxReceiveCount, it moves to up-dlq.
    const first = await receiveOne(set2[1]!, 'up-main');
    assert.equal(first['msgBody'], 'to be dead-lettered');
    let receivedAgain: CmqResponse | undefined;
    const dead = await until('the message moved to up-dlq', 60_000, async () => {
      const r = await cmqRequest(set2[2]!, 'ReceiveMessage', { queueName: 'up-main', pollingWaitSeconds: 1 }, { timeoutMs: 10_000 });
      if (r.code === 0) receivedAgain ??= r;
      const d = await cmqRequest(set1[1]!, 'ReceiveMessage', { queueName: 'up-dlq', pollingWaitSeconds: 1 }, { timeoutMs: 10_000 });
      return d.code === 0 ? d : undefined;
    });
    assert.equal(receivedAgain, undefined, 'received again from up-main past maxReceiveCount');
    assert.equal(dead['msgBody'], 'to be dead-lettered');
    await ok(set2[0]!, 'DeleteMessage', { queueName: 'up-dlq', receiptHandle: String(dead['receiptHandle']) });
    // The in-flight message comes back once its visibility ends, the delayed one once it is due; not
    // before; the deleted one never (else it would be among the two received here).
    const gotAt = new Map<string, { m: CmqResponse; atMs: number }>();
    for (const endpoint of [set2[0]!, set2[2]!]) {
      const m = await receiveOne(endpoint, 'up-plain', 120_000);
      gotAt.set(String(m['msgBody']), { m, atMs: Date.now() });
    }
    assert.deepEqual([...gotAt.keys()].sort(), ['delayed', 'in flight']);
    // 1 s of slack: the servers' clock decides, and the request takes time.
    assert.ok(gotAt.get('in flight')!.atMs >= hiddenUntil - 1000, 'the in-flight message came back before its visibility ended');
    assert.ok(gotAt.get('delayed')!.atMs >= dueAt - 1000, 'the delayed message came before it was due');
    assert.ok(Number(gotAt.get('in flight')!.m['dequeueCount']) >= 2, JSON.stringify(gotAt.get('in flight')!.m));
    assert.deepEqual(await counts(set1[0]!, 'up-plain'), { active: 0, inactive: 2, delayed: 0 }, 'only the two just received are left');
    for (const { m } of gotAt.values()) await ok(set1[2]!, 'DeleteMessage', { queueName: 'up-plain', receiptHandle: String(m['receiptHandle']) });

    // New queues go to the new, empty set (the least loaded).
    const fresh = ['up-new-1', 'up-new-2'];
    for (const [i, queueName] of fresh.entries()) await ok(endpoints[i * 3]!, 'CreateQueue', { queueName });
    const placed = await until('the controller counting the new queues', 60_000, async () => {
      const s = (await statusJson(endpoints.slice(3, 4)))[0]?.sets;
      return s && s.reduce((n, x) => n + x.entities, 0) === OLD_QUEUES.length + 1 + fresh.length ? s : undefined;
    });
    assert.deepEqual(placed.map((s) => [s.id, s.entities]), [[1, OLD_QUEUES.length + 1], [2, fresh.length]]);
    for (const [i, queueName] of fresh.entries()) await ok(set1[i]!, 'SendMessage', { queueName, msgBody: `new ${queueName}` });
    // A new queue on the new set dead-letters into the old queue on the old set.
    await ok(set2[0]!, 'SetQueueAttributes', { queueName: 'up-new-2', deadLetterPolicy: JSON.stringify({ deadLetterQueue: 'up-dlq', policy: 0, maxReceiveCount: 5 }) });
    // A new queue, on the new set, subscribed to the old topic on the old set.
    await ok(set2[2]!, 'Subscribe', { topicName: 'up-topic', subscriptionName: 'to-up-new-1', protocol: 'queue', endpoint: 'up-new-1', notifyContentFormat: 'SIMPLIFIED' });
    await stop(upgraded.cli);

    // 4. What the upgraded nodes wrote survives a restart: everything is served again.
    const again = startLocal(dataDir, ports, 2);
    runs.push(again);
    await until('both sets registered again, with every queue and topic counted', 120_000, async () => {
      const s = (await statusJson(endpoints.slice(0, 1)))[0]?.sets;
      return s?.length === 2 && s[0]!.entities === OLD_QUEUES.length + 1 && s[1]!.entities === fresh.length ? s : undefined;
    });
    for (const endpoint of [set2[0]!, set1[1]!]) await assertListed(endpoint, fresh);
    for (const [i, q] of OLD_QUEUES.entries()) {
      const c = await counts(endpoints[(i + 3) % 6]!, q);
      assert.deepEqual(c, { active: 0, inactive: 0, delayed: 0 }, q);
    }
    for (const [i, queueName] of fresh.entries()) {
      const got = await receiveOne(endpoints[i * 3 + 1]!, queueName);
      assert.equal(got['msgBody'], `new ${queueName}`);
      await ok(endpoints[i * 3 + 2]!, 'DeleteMessage', { queueName, receiptHandle: String(got['receiptHandle']) });
    }
    await assertSources(set1[0]!, ['up-main', 'up-new-2']);
    // The old topic delivers to its old queue on its own set and to the new queue on the new set.
    await ok(set1[2]!, 'PublishMessage', { topicName: 'up-topic', msgBody: 'published after the restart' });
    for (const [endpoint, queueName] of [[set2[2]!, 'up-sub'], [set1[0]!, 'up-new-1']] as const) {
      const last = await receiveOne(endpoint, queueName);
      assert.equal(last['msgBody'], 'published after the restart', queueName);
    }
    const taken = await cmqRequest(set2[1]!, 'CreateQueue', { queueName: 'UP-MAIN' }, { timeoutMs: 30_000 });
    assert.equal(taken.code, QUEUE_EXISTS, JSON.stringify(taken));
    await stop(again.cli);
  } catch (err) {
    // What the servers said is what explains a failure here.
    const live = runs[runs.length - 1];
    if (live) console.error(live.cli.stderr().split('\n').filter((l) => !l.includes('"level":"info"')).slice(-80).join('\n'));
    throw err;
  } finally {
    await release();
    for (const run of runs) {
      run.cli.kill();
      for (const pid of Object.values(run.pids())) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a rolling upgrade: set 1 restarted member by member with the controller flags keeps serving throughout; then a new set serves its queue', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-upgrade-rolling-'));
  const [raft] = await freeBases(1, 6);
  const secret = randomBytes(24).toString('hex');
  const address = (i: number): string => `n${i + 1}=127.0.0.1:${raft! + i}`;
  /** Member i (0-2 set 1, 3-5 set 2), with the controller flags when `upgraded`. */
  const member = (i: number, upgraded: boolean): Promise<ServerProcess> => {
    const set = i < 3 ? 1 : 2;
    const peers = [0, 1, 2].map((k) => k + (set - 1) * 3).filter((k) => k !== i).flatMap((k) => ['--peer', address(k)]);
    const args = ['--node-id', `n${i + 1}`, '--raft-port', String(raft! + i), '--cluster-secret', secret, ...peers];
    if (upgraded) args.push('--set', String(set), ...[0, 1, 2].flatMap((k) => ['--controller-peer', address(k)]));
    return spawnServer(path.join(dir, `n${i + 1}`), args);
  };
  const nodes: ServerProcess[] = [];
  try {
    for (const i of [0, 1, 2]) nodes[i] = await member(i, false);
    const urls = (): string[] => nodes.map((n) => n.url);
    await callUntilOk(urls(), 'CreateQueue', { queueName: 'roll-q' }, { timeoutMs: 60_000, acceptCodes: [QUEUE_EXISTS] });
    await callUntilOk(urls(), 'SendMessage', { queueName: 'roll-q', msgBody: 'before' }, { timeoutMs: 30_000 });
    let sent = 1;
    for (const i of [0, 1, 2]) {
      assert.equal(await nodes[i]!.stop(), 0, nodes[i]!.output().slice(-2000));
      nodes[i] = await member(i, true);
      if (i === 0) {
        // The only member running the controller has no controller quorum: it answers "not applied, retry".
        const r = await cmqRequest(nodes[0]!.url, 'GetQueueAttributes', { queueName: 'roll-q' }, { timeoutMs: 30_000 });
        assert.equal(r.code, 6100, JSON.stringify(r));
      }
      // The members not restarted yet serve as before; the restarted ones once two voters run the controller.
      const serving = i === 0 ? urls().slice(1) : urls();
      for (const url of serving) {
        await callUntilOk([url], 'SendMessage', { queueName: 'roll-q', msgBody: `after n${i + 1} from ${url}` }, { timeoutMs: 60_000 });
        sent++;
      }
    }
    // Set 2 joins: its members serve the old queue once set 1's leader has adopted it.
    for (const i of [3, 4, 5]) nodes[i] = await member(i, true);
    await until('both sets registered, set 1 holding the old queue', 120_000, async () => {
      const s = (await statusJson([nodes[0]!.url]))[0]?.sets;
      return s?.length === 2 && s[0]!.entities === 1 ? true : undefined;
    });
    const a = await ok(nodes[4]!.url, 'GetQueueAttributes', { queueName: 'roll-q' });
    assert.equal(a['activeMsgNum'], sent);
    const got = await receiveOne(nodes[5]!.url, 'roll-q');
    assert.equal(got['msgBody'], 'before');
  } finally {
    await Promise.all(nodes.filter((n) => !n.hasExited()).map((n) => n.kill9()));
    rmSync(dir, { recursive: true, force: true });
  }
});
