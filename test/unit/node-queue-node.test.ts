// The node driver over a real WAL in a temp dir: long polling, ticks, snapshots, reclamation,
// recovery. Timing assertions have wide margins: they check "woken early" vs "waited it out".

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import type { CommandResult } from '../../src/broker/commands';
import { QueueNode, type QueueNodeOptions } from '../../src/node/queue-node';
import type { RequestContext } from '../../src/service/request-context';

const RC: RequestContext = { requestId: 'test-1', clientAddress: '', receivedAtMs: 0 };

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function openNode(extra: Partial<QueueNodeOptions> = {}, dir?: string): Promise<{ node: QueueNode; dir: string }> {
  const dataDir = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'opencmq-node-')));
  if (!dir) dirs.push(dataDir);
  const node = await QueueNode.open({ dataDir, segmentBytes: 64 * 1024, log: () => {}, ...extra });
  return { node, dir: dataDir };
}

function ok<T extends CommandResult>(r: T): Extract<T, { ok: true }> {
  assert.ok(r.ok, `expected success, got ${JSON.stringify(r)}`);
  return r as Extract<T, { ok: true }>;
}

const body = (s: string): Buffer => Buffer.from(s);

test('a parked receive is answered at once by a send', async () => {
  const { node } = await openNode();
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} }));
  const t0 = Date.now();
  const pending = node.receive(RC, 'q', 1, 10);
  await new Promise((r) => setTimeout(r, 200));
  ok(await node.submit(RC, { kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('hello')] }));
  const r = await pending;
  assert.ok(r.ok);
  assert.equal(r.messages.length, 1);
  assert.equal(r.messages[0]!.bodyBytes.toString(), 'hello');
  assert.ok(Date.now() - t0 < 5000, 'woken by the send, not by the 10 s wait');
  await node.close();
});

test('a receive with nothing to take waits out its wait and answers empty', async () => {
  const { node } = await openNode();
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: { pollingWaitSeconds: 1 } }));
  const t0 = Date.now();
  const r = await node.receive(RC, 'q', 1, undefined); // the queue's pollingWaitSeconds (1 s) applies
  const waited = Date.now() - t0;
  assert.ok(r.ok);
  assert.equal(r.messages.length, 0);
  assert.ok(waited >= 950, `waited ${waited} ms`);
  await node.close();
});

test('a delayed message reaches a parked receive when its delay ends (tick)', async () => {
  const { node } = await openNode();
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} }));
  ok(await node.submit(RC, { kind: 'sendMessages', queueName: 'q', delaySeconds: 1, bodies: [body('later')] }));
  const immediate = await node.receive(RC, 'q', 1, 0);
  assert.ok(immediate.ok);
  assert.equal(immediate.messages.length, 0, 'not visible during its delay');
  const t0 = Date.now();
  const r = await node.receive(RC, 'q', 1, 10);
  assert.ok(r.ok);
  assert.equal(r.messages[0]?.bodyBytes.toString(), 'later');
  assert.ok(Date.now() - t0 < 5000, 'woken when the delay ended, not at the end of the wait');
  await node.close();
});

test('receive of a missing queue is 4440, also when the queue is deleted while waiting', async () => {
  const { node } = await openNode();
  const missing = await node.receive(RC, 'nope', 1, 0);
  assert.equal(missing.ok ? 'ok' : missing.error, 'queueNotExist');
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} }));
  const pending = node.receive(RC, 'q', 1, 10);
  await new Promise((r) => setTimeout(r, 100));
  ok(await node.submit(RC, { kind: 'deleteQueue', queueName: 'q' }));
  const r = await pending;
  assert.equal(r.ok ? 'ok' : r.error, 'queueNotExist');
  await node.close();
});

test('steady traffic keeps the log bounded: snapshots release dead segments', async () => {
  const { node, dir } = await openNode({ snapshotEveryEntries: 200 });
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} }));
  const payload = Buffer.alloc(1024, 7);
  for (let round = 0; round < 60; round++) {
    ok(await node.submit(RC, { kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: Array.from({ length: 16 }, () => payload) }));
    const r = await node.receive(RC, 'q', 16, 0);
    assert.ok(r.ok && r.messages.length === 16);
    const d = ok(await node.submit(RC, { kind: 'deleteMessages', queueName: 'q', receiptHandles: r.messages.map((m) => m.receiptHandle) }));
    assert.equal(d.kind === 'deleteMessages' && d.failures.length, 0);
  }
  await node.snapshotNow();
  const stats = node.stats();
  assert.ok(stats.snapshotsTaken >= 1);
  assert.ok(stats.segmentsReleased > 0, 'dead segments were deleted');
  // ~1 MiB of bodies went through 64 KiB segments; only a few segments may remain.
  const segments = (await readdir(path.join(dir, 'wal'))).filter((f) => f.endsWith('.wal'));
  assert.ok(segments.length <= 4, `segments left: ${segments.length}`);
  await node.close();
});

test('a live message pins its segment through reclamation and restart', async () => {
  const { node, dir } = await openNode({ snapshotEveryEntries: 50 });
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'keep', attrs: {} }));
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'churn', attrs: {} }));
  ok(await node.submit(RC, { kind: 'sendMessages', queueName: 'keep', delaySeconds: 0, bodies: [body('old but alive')] }));
  const payload = Buffer.alloc(2048, 1);
  for (let i = 0; i < 80; i++) {
    ok(await node.submit(RC, { kind: 'sendMessages', queueName: 'churn', delaySeconds: 0, bodies: [payload, payload, payload, payload] }));
    const r = await node.receive(RC, 'churn', 4, 0);
    assert.ok(r.ok);
    ok(await node.submit(RC, { kind: 'deleteMessages', queueName: 'churn', receiptHandles: r.messages.map((m) => m.receiptHandle) }));
  }
  await node.snapshotNow();
  assert.ok(node.stats().segmentsReleased > 0);
  // Some entries after the snapshot, to be replayed from the log.
  ok(await node.submit(RC, { kind: 'sendMessages', queueName: 'keep', delaySeconds: 0, bodies: [body('after snapshot')] }));
  await node.close();

  const { node: again } = await openNode({}, dir);
  const r = await again.receive(RC, 'keep', 16, 0);
  assert.ok(r.ok);
  assert.deepEqual(r.messages.map((m) => m.bodyBytes.toString()).sort(), ['after snapshot', 'old but alive']);
  const attrs = await again.getQueueAttributes(RC, 'churn');
  assert.ok(attrs.ok);
  assert.equal(attrs.attributes.activeMsgNum, 0);
  await again.close();
});

test('after a failed fsync the node acknowledges nothing more and reports a fatal error', async () => {
  let failNow = false;
  const fatal: Error[] = [];
  const { node } = await openNode({
    beforeDatasync: () => {
      if (failNow) throw new Error('injected EIO');
    },
    onFatal: (e) => fatal.push(e),
  });
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} }));
  failNow = true;
  const r = await node.submit(RC, { kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('x')] });
  // The entry was appended (it may be on disk after all): its fate is unknown, not "not applied".
  assert.equal(r.ok ? 'ok' : r.error, 'outcomeUnknown');
  assert.equal(fatal.length, 1);
  failNow = false;
  const later = await node.submit(RC, { kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('y')] });
  assert.equal(later.ok ? 'ok' : later.error, 'notApplied', 'no acknowledgement once durability is unknown; nothing proposed');
});

test('a graceful close answers parked receives with "no message" at once', async () => {
  const { node } = await openNode();
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} }));
  const t0 = Date.now();
  const pending = node.receive(RC, 'q', 1, 20);
  await new Promise((r) => setTimeout(r, 100));
  await node.close();
  const r = await pending;
  assert.ok(r.ok);
  assert.equal(r.messages.length, 0);
  assert.ok(Date.now() - t0 < 10_000, 'not held for the whole 20 s wait');
});

test('a member that knows no leader refuses writes and reads as "not applied" (6100), and so does a closing node', async () => {
  // Three voters but no transport: this member can never win an election or hear of a leader.
  const { node } = await openNode({ nodeId: 'n1', voters: ['n1', 'n2', 'n3'] });
  const w = await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} });
  assert.equal(w.ok ? 'ok' : w.error, 'notApplied');
  assert.match(w.ok ? '' : (w.detail ?? ''), /no leader known/);
  const list = await node.listQueues(RC, undefined, 0, 20);
  assert.equal(list.ok ? 'ok' : list.error, 'notApplied', 'a read that cannot be served is a result, not a throw');
  const r = await node.receive(RC, 'q', 1, 0);
  assert.equal(r.ok ? 'ok' : r.error, 'notApplied', 'a receive that cannot even check its queue applied nothing');
  await node.close();
  const after = await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} });
  assert.equal(after.ok ? 'ok' : after.error, 'notApplied');
});
