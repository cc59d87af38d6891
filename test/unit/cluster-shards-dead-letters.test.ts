// Dead-letter policies on a queue of several shards, through the access layer
// (node/cluster-service.ts, node/sharded-queues.ts): every shard gets the policy bound `remote`,
// whatever set it is on, so each shard's dead letters leave through its set's outbox and reach the
// dead-letter queue once; the queue is listed and counted once as a source; growth gives new shards
// the policy; a redrive brings the messages back through the access layer. The sets are real queue
// state machines behind a QueueService (test/helpers/set-fakes.ts); each set's outbox is sent on
// here as its leader's delivery loop would (node/push-delivery.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { DeadLetterPolicy } from '../../src/broker/commands';
import { deadLetterDedupId, queueDeliveryThrough } from '../../src/node/outbox';
import type { QueueService } from '../../src/service/queue-service';

import { cluster, ctx, errorOf, ok, send } from '../helpers/set-fakes';

type Cluster = ReturnType<typeof cluster>;

const POLICY: DeadLetterPolicy = { deadLetterQueue: 'dead', policy: 0, maxReceiveCount: 1 };

/**
 * Every set's due dead letters and redriven messages sent through `via` (the access layer) as its
 * leader sends them, with the same deduplication key, each settled once taken (twice when
 * `repeat`: a send whose answer was lost, repeated). The number sent.
 */
async function sendOutboxes(c: Cluster, via: QueueService = c.svc, repeat = false): Promise<number> {
  const deliver = queueDeliveryThrough((command) => via.submit(ctx, command));
  let n = 0;
  for (const s of c.sets) {
    for (const d of s.h.sm.dueDeliveries(s.h.timeMs, 1000)) {
      if (!('deadLetter' in d)) continue;
      for (let i = 0; i < (repeat ? 2 : 1); i++) {
        const outcome = await deliver(d.destinationQueue, s.h.body(d.body), deadLetterDedupId(d.sourceQueue, d.msgId, d.sinceIndex), new AbortController().signal, d.move ? {} : { deadLetterSource: d.sourceQueue });
        assert.equal(outcome, 'delivered', `${d.sourceQueue} ${d.msgId} to ${d.destinationQueue}`);
      }
      const settled = s.h.run({ kind: 'deadLetterSent', queueName: d.sourceQueue, msgId: d.msgId });
      assert.ok(settled.ok);
      n++;
    }
  }
  return n;
}

/** Receives `name` without deleting until it is empty, past maxReceiveCount 1: every message dead-lettered. */
async function receiveUntilDeadLettered(c: Cluster, name: string): Promise<string[]> {
  const seen: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (;;) {
      const r = await c.svc.receive(ctx, name, 16, 0, { visibilitySeconds: 0 });
      assert.ok(r.ok, JSON.stringify(r));
      if (r.messages.length === 0) break;
      seen.push(...r.messages.map((m) => m.bodyBytes.toString()));
      if (seen.length > 1000) assert.fail('a receive loop that never ends');
    }
    for (const s of c.sets) s.h.advance(1_000);
  }
  return seen;
}

/** A one-shard queue placed on set `setId` (where the controller would not put it by itself). */
function placeOn(c: Cluster, name: string, setId: number): void {
  assert.ok(c.controller.sm.apply({ kind: 'createEntity', type: 'queue', name, setId }, 5_000).ok);
  assert.ok(c.set(setId).h.run({ kind: 'createQueue', queueName: name, attrs: {} }).ok);
}

function policyOn(c: Cluster, setId: number, name: string): DeadLetterPolicy | undefined {
  return c.set(setId).h.sm.getQueueAttributes(name)?.deadLetterPolicy;
}

void test('CreateQueue with shards and a dead-letter policy: every shard bound remote, its dead letters reach the dead-letter queue once from every shard', async () => {
  const c = cluster();
  await ok(c.svc, { kind: 'createQueue', queueName: 'dead', attrs: {} });
  const dlqSet = c.controller.shards('dead')![0]!;
  await ok(c.node(2), { kind: 'createQueue', queueName: 'work', attrs: { deadLetterPolicy: POLICY }, shards: 3 });
  // Every shard, the one beside the dead-letter queue too.
  for (const id of [1, 2, 3]) assert.deepEqual(policyOn(c, id, 'work'), { ...POLICY, remote: true }, `set ${id}`);
  const attrs = await c.svc.getQueueAttributes(ctx, 'work');
  assert.ok(attrs.ok && attrs.attributes.deadLetterPolicy?.deadLetterQueue === 'dead' && attrs.attributes.shards === 3, JSON.stringify(attrs));

  // Listed, and counted, once (from any node), though three sets name it.
  for (const id of [1, 2, 3]) {
    const sources = await c.node(id).listDeadLetterSourceQueues(ctx, 'dead', undefined, 0, 10);
    assert.ok(sources.ok, JSON.stringify(sources));
    assert.deepEqual(
      sources.queueList.map((q) => q.queueName),
      ['work'],
    );
    assert.equal(sources.totalCount, 1);
  }
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'deleteQueue', queueName: 'dead' })), 'dlqDeleteInUse');
  assert.ok(c.set(dlqSet).has('dead'));

  for (let i = 0; i < 9; i++) await send(c.svc, 'work', `m${i}`);
  assert.deepEqual(
    c.sets.map((s) => s.counts('work').active),
    [3, 3, 3],
  );
  const received = await receiveUntilDeadLettered(c, 'work');
  assert.equal(received.length, 9, 'each message received once before it was dead-lettered');
  assert.ok(c.sets.every((s) => s.h.sm.stats().deadLetterPending === 3), 'each shard keeps its own dead letters in its outbox');
  // Sent twice each (an answer lost): the dead-letter queue keeps each once.
  assert.equal(await sendOutboxes(c, c.node(3), true), 9);
  assert.equal(await sendOutboxes(c), 0, 'nothing left to send');
  const dead = await c.svc.getQueueAttributes(ctx, 'dead');
  assert.ok(dead.ok && dead.attributes.activeMsgNum === 9, JSON.stringify(dead));
  const w = await c.svc.getQueueAttributes(ctx, 'work');
  assert.ok(w.ok && w.attributes.activeMsgNum + w.attributes.inactiveMsgNum === 0, JSON.stringify(w));
});

void test('a redrive from the dead-letter queue brings dead letters of a sharded queue back through the access layer, spread over the shards', async () => {
  const c = cluster();
  // The dead-letter queue on a set holding no shard of the queue: every message goes back through the access layer.
  await ok(c.svc, { kind: 'createQueue', queueName: 'work', attrs: {}, shards: 2 });
  const shardSets = c.controller.shards('work')!;
  const other = [1, 2, 3].find((id) => !shardSets.includes(id))!;
  placeOn(c, 'dead', other);
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'work', attrs: { deadLetterPolicy: POLICY } });
  for (const id of shardSets) assert.equal(policyOn(c, id, 'work')?.remote, true);

  for (let i = 0; i < 8; i++) await send(c.svc, 'work', `r${i}`);
  await receiveUntilDeadLettered(c, 'work');
  assert.equal(await sendOutboxes(c), 8);
  assert.equal(c.set(other).counts('dead').active, 8);

  const moved = await ok(c.node(shardSets[0]!), { kind: 'moveMessages', sourceQueue: 'dead', destinationQueue: null, maxMessages: 100 });
  assert.equal(moved.moved, 8);
  // They wait in the dead-letter queue's outbox, then go to the queue by name: the access layer picks a shard for each.
  assert.equal(await sendOutboxes(c), 8);
  const back = shardSets.map((id) => c.set(id).counts('work').active);
  assert.equal(
    back.reduce((a, b) => a + b, 0),
    8,
    JSON.stringify(back),
  );
  assert.ok(
    back.every((n) => n > 0),
    `spread over both shards: ${JSON.stringify(back)}`,
  );
  assert.equal(c.set(other).counts('dead').active, 0);
});

void test('SetQueueAttributes on a sharded queue: the policy checked as for a queue on another set, bound remote on every shard, cleared on every shard', async () => {
  const c = cluster();
  await ok(c.svc, { kind: 'createQueue', queueName: 'dead', attrs: {} });
  await ok(c.svc, { kind: 'createQueue', queueName: 'work', attrs: {}, shards: 3 });
  const set = (policy: DeadLetterPolicy | null, name = 'work'): ReturnType<QueueService['submit']> => c.node(2).submit(ctx, { kind: 'setQueueAttributes', queueName: name, attrs: { deadLetterPolicy: policy } });
  const none = (): boolean => [1, 2, 3].every((id) => policyOn(c, id, 'work') === undefined);

  // Refusals, nothing applied on any shard.
  assert.equal(errorOf(await set({ ...POLICY, deadLetterQueue: 'missing' })), 'dlqNotExist');
  assert.equal(errorOf(await set({ ...POLICY, deadLetterQueue: 'work' })), 'dlqPolicyParams');
  assert.equal(errorOf(await set({ deadLetterQueue: 'dead', policy: 0 })), 'dlqPolicyParams');
  await ok(c.svc, { kind: 'createQueue', queueName: 'nested', attrs: {} });
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'nested', attrs: { deadLetterPolicy: { ...POLICY, deadLetterQueue: 'dead' } } });
  assert.equal(errorOf(await set({ ...POLICY, deadLetterQueue: 'nested' })), 'dlqNested', 'the dead-letter queue has one of its own');
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'nested', attrs: { deadLetterPolicy: null } });
  await ok(c.svc, { kind: 'createQueue', queueName: 'feeder', attrs: {} });
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'feeder', attrs: { deadLetterPolicy: { ...POLICY, deadLetterQueue: 'work' } } });
  assert.equal(errorOf(await set(POLICY)), 'dlqNested', 'the sharded queue is a dead-letter queue');
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'feeder', attrs: { deadLetterPolicy: null } });
  assert.ok(none());

  const bound = await ok(c.node(2), { kind: 'setQueueAttributes', queueName: 'work', attrs: { deadLetterPolicy: POLICY } });
  assert.equal(bound.attributes.deadLetterPolicy?.deadLetterQueue, 'dead');
  for (const id of [1, 2, 3]) assert.deepEqual(policyOn(c, id, 'work'), { ...POLICY, remote: true }, `set ${id}`);
  // Bound again: not counted twice against the dead-letter queue's sources.
  await ok(c.node(3), { kind: 'setQueueAttributes', queueName: 'work', attrs: { deadLetterPolicy: { ...POLICY, maxReceiveCount: 4 } } });
  for (const id of [1, 2, 3]) assert.equal(policyOn(c, id, 'work')?.maxReceiveCount, 4);
  // The dead-letter queue takes at most 6 sources: the sharded one counts once.
  for (let i = 0; i < 5; i++) {
    await ok(c.svc, { kind: 'createQueue', queueName: `src${i}`, attrs: {} });
    await ok(c.svc, { kind: 'setQueueAttributes', queueName: `src${i}`, attrs: { deadLetterPolicy: POLICY } });
  }
  const all = await c.svc.listDeadLetterSourceQueues(ctx, 'dead', undefined, 0, 10);
  assert.ok(all.ok && all.totalCount === 6, JSON.stringify(all));
  // On another set than the dead-letter queue's (one beside it is bound, and counted, by that set).
  placeOn(c, 'seventh', [1, 2, 3].find((id) => id !== c.controller.shards('dead')![0])!);
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'seventh', attrs: { deadLetterPolicy: POLICY } })), 'dlqBindTooMany');
  // Paged as one list.
  const page = await c.svc.listDeadLetterSourceQueues(ctx, 'dead', undefined, 1, 2);
  assert.ok(page.ok, JSON.stringify(page));
  assert.deepEqual(
    page.queueList.map((q) => q.queueName),
    ['src1', 'src2'],
  );
  assert.equal(page.totalCount, 6);

  // Cleared: on every shard.
  await ok(c.node(3), { kind: 'setQueueAttributes', queueName: 'work', attrs: { deadLetterPolicy: null } });
  assert.ok(none());
  const after = await c.svc.listDeadLetterSourceQueues(ctx, 'dead', undefined, 0, 10);
  assert.ok(after.ok && after.totalCount === 5, JSON.stringify(after));
});

void test('growth gives new shards the policy, bound remote; a one-shard queue bound beside its dead-letter queue keeps that binding and is still listed once', async () => {
  const c = cluster();
  await ok(c.svc, { kind: 'createQueue', queueName: 'dead', attrs: {} });
  const dlqSet = c.controller.shards('dead')![0]!;
  // Created with the policy: placed beside the dead-letter queue, bound there (not remote).
  await ok(c.svc, { kind: 'createQueue', queueName: 'work', attrs: { deadLetterPolicy: POLICY } });
  assert.deepEqual(c.controller.shards('work'), [dlqSet]);
  assert.deepEqual(policyOn(c, dlqSet, 'work'), POLICY);
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'work', attrs: {}, shards: 3 });
  for (const id of [1, 2, 3].filter((x) => x !== dlqSet)) assert.deepEqual(policyOn(c, id, 'work'), { ...POLICY, remote: true }, `new shard on set ${id}`);
  assert.deepEqual(policyOn(c, dlqSet, 'work'), POLICY);
  const sources = await c.svc.listDeadLetterSourceQueues(ctx, 'dead', undefined, 0, 10);
  assert.ok(sources.ok, JSON.stringify(sources));
  assert.deepEqual(
    sources.queueList.map((q) => q.queueName),
    ['work'],
  );
  assert.equal(sources.totalCount, 1);

  // Every shard dead-letters: the local one straight in, the others through the access layer.
  for (let i = 0; i < 6; i++) await send(c.svc, 'work', `g${i}`);
  await receiveUntilDeadLettered(c, 'work');
  assert.equal(await sendOutboxes(c), 4);
  assert.equal(c.set(dlqSet).counts('dead').active, 6);

  // A queue of several shards with a policy grows too: the new shard is bound remote.
  const d = cluster(4);
  await ok(d.svc, { kind: 'createQueue', queueName: 'dead', attrs: {} });
  await ok(d.svc, { kind: 'createQueue', queueName: 'wide', attrs: { deadLetterPolicy: POLICY }, shards: 2 });
  await ok(d.svc, { kind: 'setQueueAttributes', queueName: 'wide', attrs: {}, shards: 4 });
  for (const s of d.sets) assert.deepEqual(s.h.sm.getQueueAttributes('wide')?.deadLetterPolicy, { ...POLICY, remote: true }, `set ${s.id}`);
});

void test('a sharded queue created with a policy whose dead-letter queue is refused: nothing placed, nothing created', async () => {
  const c = cluster();
  const before = c.controller.submitted.filter((x) => x.kind === 'createEntity').length;
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'work', attrs: { deadLetterPolicy: POLICY }, shards: 2 })), 'dlqNotExist');
  await ok(c.svc, { kind: 'createQueue', queueName: 'dead', attrs: { sqs: { redriveAllowPolicy: { permission: 'denyAll' } } } });
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'work', attrs: { deadLetterPolicy: POLICY }, shards: 2 })), 'dlqNotAllowed');
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'work', attrs: { deadLetterPolicy: { ...POLICY, deadLetterQueue: 'work' } }, shards: 2 })), 'dlqPolicyParams');
  assert.equal(c.controller.submitted.filter((x) => x.kind === 'createEntity').length, before + 2, 'the dead-letter queue, and the refused-by-its-sets create (whose place was given back)');
  assert.equal(c.controller.shards('work'), undefined);
  assert.ok(c.sets.every((s) => !s.has('work')));
});

void test('a queue being moved to another set (two sets for a while, not shards) still refuses a dead-letter policy until the move is done', async () => {
  const c = cluster();
  placeOn(c, 'dead', 3);
  placeOn(c, 'moving', 1);
  const moved = await c.svc.moveQueue(ctx, 'moving', 2);
  assert.ok(moved.ok, JSON.stringify(moved));
  // A node that knows of the move (its route names both sets).
  assert.equal(c.controller.sm.route('queue', 'moving')?.change?.type, 'move');
  const r = await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'moving', attrs: { deadLetterPolicy: POLICY } });
  assert.equal(errorOf(r), 'shardedUnsupported', JSON.stringify(r));
  assert.ok([1, 2].every((id) => policyOn(c, id, 'moving') === undefined));
});
