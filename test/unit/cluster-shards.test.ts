// One queue over several sets (node/sharded-queues.ts, node/shards.ts, through the access layer
// node/cluster-service.ts): created on every shard's set, grown live, sends spread, receives
// gathered (and long polls in slices), receipt handles sent to the set whose group issued them,
// attributes added up, whole-queue changes on every shard, listed once. The sets are real queue
// state machines behind a QueueService; the controller is the real controller state machine.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { Command, CommandResult, DeleteFailure } from '../../src/broker/commands';
import { QUEUE_ACTIONS } from '../../src/api/queue-actions';
import { queueSendCommand } from '../../src/node/outbox';
import { groupOfId, oneSetOnly } from '../../src/node/shards';
import { fail, type ErrorResult } from '../../src/protocol/errors';
import type { QueueService } from '../../src/service/queue-service';
import type { RequestContext } from '../../src/service/request-context';
import { BrokerHarness } from '../helpers/broker-harness';

import { cluster, ctx, errorOf, FakeSet, groupOf, ok, send } from '../helpers/set-fakes';

async function sharded(c: ReturnType<typeof cluster>, name: string, shards: number): Promise<void> {
  await ok(c.svc, { kind: 'createQueue', queueName: name, attrs: {}, shards });
}

void test('receipt handles and msgIds name their group; no prefix is group 0', () => {
  assert.equal(groupOfId('1-2-3-4'), 0);
  assert.equal(groupOfId('g7:1-2-3-4'), 7);
  assert.equal(groupOfId('g99999999999:1'), 0); // no group number of 10 digits or fewer: group 0's shape
  assert.equal(groupOfId('g4294967296:1'), undefined);
});

void test('CreateQueue with shards: placed on as many sets by the controller, created on each; one shard is as before', async () => {
  const c = cluster();
  const r = await ok(c.svc, { kind: 'createQueue', queueName: 'wide', attrs: { visibilityTimeout: 45 }, shards: 3 });
  assert.deepEqual(c.controller.shards('wide'), [1, 2, 3]);
  for (const s of c.sets) assert.equal(s.h.sm.getQueueAttributes('wide')?.visibilityTimeout, 45, `set ${s.id}`);
  assert.equal(r.queueId, c.set(1).h.sm.getQueueAttributes('wide')?.queueId, "shard 0's id");
  // Never the extension field on a set's command.
  assert.ok(c.sets.every((s) => s.submitted.every((x) => !('shards' in x))));
  // Again: the queue exists.
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'wide', attrs: {}, shards: 3 })), 'queueExists');
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'WIDE', attrs: {}, shards: 3 })), 'queueExists');
  // shards 1: today's create, one set.
  await ok(c.svc, { kind: 'createQueue', queueName: 'narrow', attrs: {}, shards: 1 });
  assert.equal(c.controller.shards('narrow')?.length, 1);
  assert.equal(c.sets.filter((s) => s.has('narrow')).length, 1);
});

void test('more shards than sets, or one set without a controller: notEnoughSets, nothing created', async () => {
  const c = cluster(2);
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'toowide', attrs: {}, shards: 3 })), 'notEnoughSets');
  assert.ok(c.sets.every((s) => !s.has('toowide')));
  assert.equal(c.controller.shards('toowide'), undefined);

  const alone = new FakeSet(1, 0);
  const single = oneSetOnly(alone);
  const r = await single.submit(ctx, { kind: 'createQueue', queueName: 'q', attrs: {}, shards: 2 });
  assert.equal(errorOf(r), 'notEnoughSets');
  assert.ok(!alone.has('q'));
  await ok(single, { kind: 'createQueue', queueName: 'q', attrs: {}, shards: 1 });
  assert.equal(errorOf(await single.submit(ctx, { kind: 'setQueueAttributes', queueName: 'q', attrs: {}, shards: 2 })), 'notEnoughSets');
  await ok(single, { kind: 'setQueueAttributes', queueName: 'q', attrs: { visibilityTimeout: 9 }, shards: 1 });
  assert.equal(alone.h.sm.getQueueAttributes('q')?.visibilityTimeout, 9);
});

void test('FIFO queues are refused for several shards (create and grow), with nothing placed', async () => {
  const c = cluster();
  const fifo = await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'ordered', attrs: { sqs: { fifo: true } }, shards: 2 });
  assert.equal(errorOf(fifo), 'shardedUnsupported');
  assert.match((fifo as ErrorResult).detail ?? '', /message group/);
  assert.equal(c.controller.submitted.filter((x) => x.kind === 'createEntity').length, 0, 'nothing placed');
  // A FIFO queue of one shard does not grow.
  await ok(c.svc, { kind: 'createQueue', queueName: 'ordered', attrs: { sqs: { fifo: true } } });
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'ordered', attrs: {}, shards: 2 })), 'shardedUnsupported');
  assert.equal(c.controller.shards('ordered')?.length, 1);
});

void test('sends spread over the shards in turn, a batch whole; a deduplication id keeps a retry on its shard', async () => {
  const c = cluster();
  await sharded(c, 'spread', 3);
  for (let i = 0; i < 6; i++) await send(c.svc, 'spread', `m${i}`);
  assert.deepEqual(
    c.sets.map((s) => s.counts('spread').active),
    [2, 2, 2],
  );
  const batch = await ok(c.svc, { kind: 'sendMessages', queueName: 'spread', delaySeconds: null, bodies: [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')] });
  assert.equal(new Set(batch.msgIds.map(groupOfId)).size, 1, 'a batch goes to one shard');
  const first = await send(c.svc, 'spread', 'once', 'key-1');
  const again = await send(c.svc, 'spread', 'once', 'key-1');
  const third = await send(c.svc, 'spread', 'once', 'key-1');
  assert.deepEqual(again.msgIds, first.msgIds);
  assert.deepEqual(third.msgIds, first.msgIds);
  const total = c.sets.reduce((n, s) => n + s.counts('spread').active, 0);
  assert.equal(total, 6 + 3 + 1);
  // A producer and a consumer on the same node: receives take their own turns, sends still spread.
  await sharded(c, 'pair', 2);
  for (let i = 0; i < 4; i++) {
    await send(c.svc, 'pair', `p${i}`);
    assert.ok((await c.svc.receive(ctx, 'pair', 1, 0)).ok);
  }
  assert.deepEqual(
    [1, 2].map((id) => c.set(id).counts('pair').active + c.set(id).counts('pair').inactive),
    [2, 2],
  );
  // A shard whose set applies nothing passes a send without an id to the next shard.
  const up = (): number => c.set(1).counts('spread').active + c.set(3).counts('spread').active;
  const before = up();
  c.set(2).down = true;
  for (let i = 0; i < 3; i++) await send(c.svc, 'spread', `d${i}`);
  assert.equal(up(), before + 3, 'every send taken by a shard whose set is up');
});

void test('a receive gathers across shards, never takes more than it returns, and long-polls one shard at a time in slices', async () => {
  const c = cluster();
  await sharded(c, 'gather', 3);
  for (const s of c.sets) s.h.ok({ kind: 'sendMessages', queueName: 'gather', delaySeconds: null, bodies: [Buffer.from(`on-${s.id}`)] });
  const two = await c.svc.receive(ctx, 'gather', 2, 0);
  assert.ok(two.ok);
  assert.equal(two.messages.length, 2);
  const inflight = (): number => c.sets.reduce((n, s) => n + s.counts('gather').inactive, 0);
  assert.equal(inflight(), 2, 'what was taken was returned');
  const rest = await c.svc.receive(ctx, 'gather', 16, 0);
  assert.ok(rest.ok);
  assert.equal(rest.messages.length, 1);
  assert.deepEqual(
    [...two.messages, ...rest.messages].map((m) => m.bodyBytes.toString()).sort(),
    ['on-1', 'on-2', 'on-3'],
  );
  assert.equal(inflight(), 3);

  // Nothing anywhere: the first pass does not wait, then one shard at a time for a 1 s slice.
  for (const s of c.sets) s.waits.length = 0;
  const empty = await c.svc.receive(ctx, 'gather', 16, 3);
  assert.ok(empty.ok);
  assert.deepEqual(empty.messages, []);
  const waits = c.sets.map((s) => s.waits);
  assert.deepEqual(
    waits.flat().filter((w) => w === 0).length,
    3,
    'each shard asked once without waiting',
  );
  assert.deepEqual(
    waits.flat().filter((w) => w > 0),
    [1, 1, 1],
    'three slices of 1 s, one per shard',
  );
  // A message arriving on a shard while it is waited on is returned.
  for (const s of c.sets) s.waits.length = 0;
  c.set(3).onWait = () => c.set(3).h.ok({ kind: 'sendMessages', queueName: 'gather', delaySeconds: null, bodies: [Buffer.from('late')] });
  const late = await c.svc.receive(ctx, 'gather', 16, 30);
  assert.ok(late.ok);
  assert.deepEqual(
    late.messages.map((m) => m.bodyBytes.toString()),
    ['late'],
  );
  assert.ok(c.sets.flatMap((s) => s.waits).filter((w) => w > 0).length <= 3, 'stopped waiting once a message came');
  // The queue's own pollingWaitSeconds when the receive gives none.
  c.set(3).onWait = undefined;
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'gather', attrs: { pollingWaitSeconds: 2 } });
  for (const s of c.sets) s.waits.length = 0;
  const dflt = await c.svc.receive(ctx, 'gather', 1, undefined);
  assert.ok(dflt.ok && dflt.messages.length === 0);
  assert.equal(c.sets.flatMap((s) => s.waits).filter((w) => w > 0).length, 2);
});

void test('deletes and visibility changes go to the set whose group issued each handle; a batch is split and its failures come back in order', async () => {
  const c = cluster();
  await sharded(c, 'handles', 3);
  for (const s of c.sets) s.h.ok({ kind: 'sendMessages', queueName: 'handles', delaySeconds: null, bodies: [Buffer.from(`a${s.id}`), Buffer.from(`b${s.id}`)] });
  const got = await c.svc.receive(ctx, 'handles', 16, 0);
  assert.ok(got.ok);
  assert.equal(got.messages.length, 6);
  const bySet = (id: number): string[] => got.messages.filter((m) => groupOfId(m.receiptHandle) === groupOf(id)).map((m) => m.receiptHandle);
  assert.equal(bySet(1).length, 2);
  assert.ok(bySet(1).every((h) => /^\d/.test(h)), 'set 1 is group 0: handles without a prefix');
  // One handle of the group-0 set: deleted there.
  const one = await ok(c.svc, { kind: 'deleteMessages', queueName: 'handles', receiptHandles: [bySet(1)[0]!] });
  assert.deepEqual(one.failures, []);
  assert.equal(c.set(1).counts('handles').inactive, 1);
  // A batch across sets, with a handle of no set of the queue and one already deleted.
  const batch = [bySet(3)[0]!, 'g77:1-2-3-4', bySet(1)[1]!, bySet(1)[0]!, bySet(2)[0]!];
  const r = await ok(c.svc, { kind: 'deleteMessages', queueName: 'handles', receiptHandles: batch });
  assert.deepEqual(
    r.failures.map((f: DeleteFailure) => [f.index, f.receiptHandle, f.malformed]),
    [
      [1, 'g77:1-2-3-4', true],
      [3, bySet(1)[0], false],
    ],
  );
  assert.deepEqual(
    c.sets.map((s) => s.counts('handles').inactive),
    [0, 1, 1],
  );
  // Visibility: each entry on its set, the failures in request order.
  const vis = await ok(c.svc, {
    kind: 'changeVisibility',
    queueName: 'handles',
    entries: [
      { receiptHandle: 'g2:9-9-9-9', visibilitySeconds: 0 },
      { receiptHandle: bySet(2)[1]!, visibilitySeconds: 0 },
      { receiptHandle: bySet(3)[1]!, visibilitySeconds: 0 },
    ],
  });
  assert.deepEqual(
    vis.failures.map((f) => f.index),
    [0],
  );
  assert.deepEqual(
    c.sets.map((s) => s.counts('handles').active),
    [0, 1, 1],
  );
  // A shard's set down: a batch whose other part was applied says the outcome is not known.
  c.set(3).down = true;
  const split = await c.svc.submit(ctx, { kind: 'deleteMessages', queueName: 'handles', receiptHandles: [bySet(2)[0]!, bySet(3)[0]!] });
  assert.equal(errorOf(split), 'outcomeUnknown');
});

void test('GetQueueAttributes adds up the shards: counters summed, settings from shard 0, the shard count', async () => {
  const c = cluster();
  await ok(c.svc, { kind: 'createQueue', queueName: 'counted', attrs: { maxMsgSize: 2048 }, shards: 3 });
  c.set(1).h.ok({ kind: 'sendMessages', queueName: 'counted', delaySeconds: null, bodies: [Buffer.from('1'), Buffer.from('2')] });
  c.set(2).h.ok({ kind: 'sendMessages', queueName: 'counted', delaySeconds: 600, bodies: [Buffer.from('3')] });
  c.set(3).h.ok({ kind: 'sendMessages', queueName: 'counted', delaySeconds: null, bodies: [Buffer.from('4')] });
  c.set(3).h.ok({ kind: 'receiveMessages', queueName: 'counted', numOfMsg: 1, seed: 1 });
  const a = await c.svc.getQueueAttributes(ctx, 'counted');
  assert.ok(a.ok, JSON.stringify(a));
  assert.equal(a.attributes.activeMsgNum, 2);
  assert.equal(a.attributes.delayMsgNum, 1);
  assert.equal(a.attributes.inactiveMsgNum, 1);
  assert.equal(a.attributes.maxMsgSize, 2048);
  assert.equal(a.attributes.shards, 3);
  assert.equal(a.attributes.queueId, c.set(1).h.sm.getQueueAttributes('counted')?.queueId);
  // A shard that cannot answer fails it: a partial sum would look whole.
  c.set(2).down = true;
  assert.equal(errorOf(await c.svc.getQueueAttributes(ctx, 'counted')), 'notApplied');
  // Through the API: the shards field.
  c.set(2).down = false;
  const api = await QUEUE_ACTIONS.GetQueueAttributes!({ service: c.svc, ctx }, new Map([['queueName', 'counted']]));
  assert.equal((api as { fields?: Record<string, unknown> }).fields?.['shards'], 3);
});

void test('SetQueueAttributes, RewindQueue, PurgeQueue, tags and DeleteQueue apply to every shard; delete then removes the route', async () => {
  const c = cluster();
  await sharded(c, 'whole', 3);
  const set = await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'whole', attrs: { visibilityTimeout: 77, rewindSeconds: 3600 } });
  assert.equal(set.attributes.shards, 3);
  for (const s of c.sets) {
    const a = s.h.sm.getQueueAttributes('whole');
    assert.equal(a?.visibilityTimeout, 77, `set ${s.id}`);
    assert.equal(a?.rewindSeconds, 3600, `set ${s.id}`);
  }
  await ok(c.svc, { kind: 'tagQueue', queueName: 'whole', tags: { team: 'blue' } });
  assert.ok(c.sets.every((s) => s.h.sm.getQueueAttributes('whole')?.tags['team'] === 'blue'));
  await ok(c.svc, { kind: 'untagQueue', queueName: 'whole', keys: ['team'] });
  assert.ok(c.sets.every((s) => s.h.sm.getQueueAttributes('whole')?.tags['team'] === undefined));
  for (let i = 0; i < 6; i++) await send(c.svc, 'whole', `m${i}`);
  const purged = await ok(c.svc, { kind: 'purgeQueue', queueName: 'whole' });
  assert.equal(purged.purged, 6);
  assert.ok(c.sets.every((s) => s.counts('whole').active === 0));
  await ok(c.svc, { kind: 'rewindQueue', queueName: 'whole', startConsumeTimeSec: Math.floor(c.set(1).h.timeMs / 1000) - 10 });
  assert.ok(c.sets.every((s) => s.submitted.some((x) => x.kind === 'rewindQueue')));
  // One shard's set down: applied on the others, and the answer says it is not known whole.
  c.set(3).down = true;
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'whole', attrs: { visibilityTimeout: 5 } })), 'outcomeUnknown');
  c.set(3).down = false;
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'whole', attrs: { visibilityTimeout: 5 } });
  assert.ok(c.sets.every((s) => s.h.sm.getQueueAttributes('whole')?.visibilityTimeout === 5));
  // Delete: every shard, then the route; a retry after a partial failure completes it.
  c.set(2).down = true;
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'deleteQueue', queueName: 'whole' })), 'outcomeUnknown');
  assert.ok(c.controller.shards('whole'), 'the route stays while a shard is left');
  c.set(2).down = false;
  await ok(c.svc, { kind: 'deleteQueue', queueName: 'whole' });
  assert.ok(c.sets.every((s) => !s.has('whole')));
  assert.equal(c.controller.shards('whole'), undefined);
  assert.equal(errorOf(await c.svc.getQueueAttributes(ctx, 'whole')), 'queueNotExist');
});

void test('ListQueue shows a sharded queue once: totalCount, offset and limit as for one set', async () => {
  const c = cluster();
  const reference = new BrokerHarness();
  const names = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
  for (const [i, name] of names.entries()) {
    await ok(c.svc, { kind: 'createQueue', queueName: name, attrs: {}, shards: (i % 3) + 1 });
    reference.ok({ kind: 'createQueue', queueName: name, attrs: {} });
  }
  for (const searchWord of [undefined, 'a', 'ta']) {
    for (const [offset, limit] of [[0, 20], [0, 2], [1, 2], [3, 5], [4, 1], [9, 5]] as const) {
      const r = await c.svc.listQueues(ctx, searchWord, offset, limit);
      assert.ok(r.ok);
      const want = reference.sm.listQueues(searchWord, offset, limit);
      assert.equal(r.totalCount, want.totalCount, `${searchWord} ${offset} ${limit}`);
      assert.deepEqual(
        r.queueList.map((q) => q.queueName),
        want.queueList.map((q) => q.queueName),
        `${searchWord} ${offset} ${limit}`,
      );
    }
  }
  // The id listed is shard 0's, as GetQueueAttributes says.
  const beta = await c.svc.listQueues(ctx, 'beta', 0, 1);
  const betaAttrs = await c.svc.getQueueAttributes(ctx, 'beta');
  assert.ok(beta.ok && betaAttrs.ok);
  assert.equal(beta.queueList[0]?.queueId, betaAttrs.attributes.queueId);
});

void test('a queue grows live from 1 to 3 shards: the old shard keeps its messages, which are still received; sends then spread', async () => {
  const c = cluster();
  await ok(c.svc, { kind: 'createQueue', queueName: 'grows', attrs: { visibilityTimeout: 120 } });
  const home = c.controller.shards('grows')![0]!;
  await ok(c.svc, { kind: 'tagQueue', queueName: 'grows', tags: { env: 'prod' } });
  for (let i = 0; i < 4; i++) await send(c.svc, 'grows', `old${i}`);
  const grown = await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'grows', attrs: {}, shards: 3 });
  assert.equal(grown.attributes.shards, 3);
  assert.equal(c.controller.shards('grows')?.length, 3);
  assert.equal(c.controller.shards('grows')?.[0], home);
  for (const s of c.sets) {
    const a = s.h.sm.getQueueAttributes('grows');
    assert.equal(a?.visibilityTimeout, 120, `set ${s.id}: shard 0's settings`);
    assert.equal(a?.tags['env'], 'prod', `set ${s.id}: shard 0's tags`);
  }
  for (let i = 0; i < 3; i++) await send(c.svc, 'grows', `new${i}`);
  assert.ok(c.sets.every((s) => s.counts('grows').active >= 1), 'the new shards take sends');
  const bodies: string[] = [];
  for (let i = 0; i < 4 && bodies.length < 7; i++) {
    const r = await c.svc.receive(ctx, 'grows', 16, 0);
    assert.ok(r.ok);
    bodies.push(...r.messages.map((m) => m.bodyBytes.toString()));
  }
  assert.deepEqual(bodies.sort(), ['new0', 'new1', 'new2', 'old0', 'old1', 'old2', 'old3']);
  // Fewer shards: refused; the same number: nothing to do.
  const fewer = await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'grows', attrs: {}, shards: 2 });
  assert.equal(errorOf(fewer), 'paramOutOfRange');
  const same = await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'grows', attrs: { pollingWaitSeconds: 3 }, shards: 3 });
  assert.equal(same.attributes.pollingWaitSeconds, 3);
  assert.ok(c.sets.every((s) => s.h.sm.getQueueAttributes('grows')?.pollingWaitSeconds === 3));
});

void test('a growth whose new shard could not be created keeps the queue on its old shards; a retry completes it', async () => {
  const c = cluster();
  await ok(c.svc, { kind: 'createQueue', queueName: 'retry', attrs: {} });
  assert.deepEqual(c.controller.shards('retry'), [1]);
  c.set(3).refuse.add('createQueue');
  const first = await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'retry', attrs: {}, shards: 3 });
  assert.equal(errorOf(first), 'notApplied');
  assert.match((first as ErrorResult).detail ?? '', /set 3/);
  assert.deepEqual(c.controller.shards('retry'), [1], 'the route is unchanged while a shard is pending');
  for (let i = 0; i < 3; i++) await send(c.svc, 'retry', `p${i}`);
  assert.equal(c.set(1).counts('retry').active, 3, 'meanwhile the old shard takes every send');
  c.set(3).refuse.clear();
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'retry', attrs: {}, shards: 3 });
  assert.deepEqual(c.controller.shards('retry'), [1, 2, 3]);
  assert.ok(c.sets.every((s) => s.has('retry')));

  // A queue of one shard deleted while its growth is pending: the pending shards and the route go too.
  await ok(c.svc, { kind: 'createQueue', queueName: 'stuck', attrs: {} });
  const home = c.controller.shards('stuck')![0]!;
  const blocked = c.sets.find((s) => s.id !== home)!;
  blocked.refuse.add('createQueue');
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'stuck', attrs: {}, shards: 3 })), 'notApplied');
  assert.ok(c.sets.filter((s) => s.has('stuck')).length === 2, 'one pending shard was made');
  await ok(c.svc, { kind: 'deleteQueue', queueName: 'stuck' });
  assert.equal(c.controller.shards('stuck'), undefined);
  assert.ok(c.sets.every((s) => !s.has('stuck')));
  blocked.refuse.clear();
  await ok(c.svc, { kind: 'createQueue', queueName: 'stuck', attrs: {}, shards: 3 });
});

void test('a create whose shard set fails answers its error; a retry creates the missing shards', async () => {
  const c = cluster();
  c.set(2).refuse.add('createQueue');
  const first = await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'partial', attrs: {}, shards: 3 });
  assert.equal(errorOf(first), 'notApplied');
  assert.deepEqual(c.controller.shards('partial'), [1, 2, 3], 'the place is kept for the retry');
  assert.ok(!c.set(2).has('partial'));
  c.set(2).refuse.clear();
  const again = await ok(c.svc, { kind: 'createQueue', queueName: 'partial', attrs: {}, shards: 3 });
  assert.equal(again.queueId, c.set(1).h.sm.getQueueAttributes('partial')?.queueId);
  assert.ok(c.sets.every((s) => s.has('partial')));
  // A set refusing for good undoes the create: no shard, no route.
  for (let i = 0; i < 3; i++) c.set(3).h.ok({ kind: 'createQueue', queueName: `x${i}`, attrs: {} });
  const bad = await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'bad', attrs: { rewindSeconds: 600, msgRetentionSeconds: 60 }, shards: 2 });
  assert.equal(errorOf(bad), 'rewindSecondsTooLarge');
  assert.equal(c.controller.shards('bad'), undefined);
  assert.ok(c.sets.every((s) => !s.has('bad')));
});

void test('a node that cached the route before a growth learns of the new shards by the route epoch', async () => {
  const c = cluster();
  let now = 0;
  const other = c.node(2, () => now);
  await ok(c.svc, { kind: 'createQueue', queueName: 'seen', attrs: {} });
  await send(other, 'seen', 'before'); // the other node caches one shard
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'seen', attrs: {}, shards: 3 });
  now += 60_000;
  // The first use after the interval reads the epoch, then the route, in the background.
  await send(other, 'seen', 'x');
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  await send(other, 'seen', 'y');
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 3; i++) await send(other, 'seen', `z${i}`);
  assert.ok(c.sets.every((s) => s.counts('seen').active >= 1), JSON.stringify(c.sets.map((s) => s.counts('seen'))));
  const got: string[] = [];
  for (let i = 0; i < 3 && got.length < 6; i++) {
    const r = await other.receive(ctx, 'seen', 16, 0);
    assert.ok(r.ok);
    got.push(...r.messages.map((m) => m.bodyBytes.toString()));
  }
  assert.equal(got.length, 6);
});

void test('what is not built for several shards is refused, never run on shard 0 alone', async () => {
  const c = cluster();
  await sharded(c, 'many', 2);
  await ok(c.svc, { kind: 'createQueue', queueName: 'single', attrs: {} });
  assert.equal(errorOf(await c.svc.listMoveTasks(ctx, 'many')), 'shardedUnsupported');
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'startMoveTask', sourceQueue: 'many', destinationQueue: null, maxPerSecond: null })), 'shardedUnsupported');
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'moveMessages', sourceQueue: 'many', destinationQueue: null, maxMessages: 1 })), 'shardedUnsupported');
});

void test('a dead-letter queue of several shards: bound remote from any set, its dead letters spread by the access layer, its sources listed, its delete refused while named', async () => {
  const c = cluster();
  await sharded(c, 'dead', 2);
  await ok(c.svc, { kind: 'createQueue', queueName: 'work', attrs: {} });
  const workSet = c.sets.find((s) => s.has('work'))!;
  await ok(c.node(3), { kind: 'setQueueAttributes', queueName: 'work', attrs: { deadLetterPolicy: { deadLetterQueue: 'dead', policy: 0, maxReceiveCount: 1 } } });
  // Bound remote: its dead letters go through the access layer, which spreads them over the shards.
  assert.equal(workSet.h.sm.getQueueAttributes('work')!.deadLetterPolicy?.remote, true);
  const sources = await c.node(2).listDeadLetterSourceQueues(ctx, 'dead', undefined, 0, 10);
  assert.ok(sources.ok, JSON.stringify(sources));
  assert.deepEqual(sources.queueList.map((q) => q.queueName), ['work']);
  assert.equal(sources.totalCount, 1);
  // The send a dead letter becomes (node/outbox.ts) goes to one shard, kept there by its key.
  const deadLetter = queueSendCommand('dead', Buffer.from('late'), 'd:work 1 9', { deadLetterSource: 'work' }) as Extract<Command, { kind: 'sendMessages' }>;
  const sent = await ok(c.svc, deadLetter);
  const again = await ok(c.svc, deadLetter);
  assert.deepEqual(again.msgIds, sent.msgIds, 'a repeat is the same message');
  const attrs = await c.svc.getQueueAttributes(ctx, 'dead');
  assert.ok(attrs.ok && attrs.attributes.activeMsgNum === 1, JSON.stringify(attrs));
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'deleteQueue', queueName: 'dead' })), 'dlqDeleteInUse');
  assert.ok(c.sets.filter((s) => s.has('dead')).length === 2);
});

void test('the API passes shards on CreateQueue and SetQueueAttributes, within 1 to 64', async () => {
  const seen: Command[] = [];
  const service = {
    submit: (_ctx: RequestContext, command: Command): Promise<CommandResult> => {
      seen.push(command);
      if (command.kind === 'createQueue') return Promise.resolve({ ok: true, kind: 'createQueue', queueId: 'queue-1' });
      return Promise.resolve(fail('queueNotExist'));
    },
  } as unknown as QueueService;
  const env = { service, ctx };
  await QUEUE_ACTIONS.CreateQueue!(env, new Map([['queueName', 'q'], ['shards', '4']]));
  await QUEUE_ACTIONS.SetQueueAttributes!(env, new Map([['queueName', 'q'], ['shards', '6']]));
  await QUEUE_ACTIONS.CreateQueue!(env, new Map([['queueName', 'q']]));
  assert.deepEqual(
    seen.map((x) => (x as { shards?: number }).shards),
    [4, 6, undefined],
  );
  for (const bad of ['0', '65', 'x']) {
    const r = await QUEUE_ACTIONS.CreateQueue!(env, new Map([['queueName', 'q'], ['shards', bad]]));
    assert.ok(['paramOutOfRange', 'paramErrorType'].includes(errorOf(r) ?? ''), `${bad}: ${JSON.stringify(r)}`);
  }
  assert.equal(seen.length, 3);
});

void test('a topic subscription to a queue of several shards delivers through the access layer (remoteQueue), even from a set holding a shard', async () => {
  const c = cluster();
  await sharded(c, 'fanned', 3);
  await ok(c.svc, { kind: 'createQueue', queueName: 'plain', attrs: {} });
  await ok(c.svc, { kind: 'createTopic', topicName: 'news', maxMsgSize: 65_536, filterType: 1 });
  const topicSet = c.sets.find((s) => s.h.sm.getTopicAttributes('news') !== undefined)!;
  const plainSet = c.controller.shards('plain')![0]!;
  for (const endpoint of ['fanned', 'plain']) {
    await ok(c.svc, {
      kind: 'subscribe',
      topicName: 'news',
      subscriptionName: `to-${endpoint}`,
      protocol: 'queue',
      endpoint,
      notifyStrategy: 'BACKOFF_RETRY',
      notifyContentFormat: 'SIMPLIFIED',
      filterTags: [],
      bindingKeys: [],
    });
  }
  const flags = topicSet.submitted.filter((x) => x.kind === 'subscribe').map((x) => [x.endpoint, x.remoteQueue === true]);
  assert.deepEqual(flags, [
    ['fanned', true],
    ['plain', plainSet !== topicSet.id],
  ]);
});

void test('cached routes are not read again while the route epoch stands; the epoch is read at most once per interval', async () => {
  const c = cluster();
  let now = 0;
  const other = c.node(2, () => now);
  await sharded(c, 'steady', 2);
  await send(other, 'steady', 'first');
  const reads = (kind: string): number => c.controller.reads.filter((q) => q.kind === kind).length;
  const routes = reads('getRoute');
  const epochs = reads('listSets');
  for (let i = 0; i < 20; i++) {
    now += 500;
    await send(other, 'steady', `m${i}`);
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(reads('getRoute'), routes, 'no route read again');
  const checks = reads('listSets') - epochs;
  assert.ok(checks >= 4 && checks <= 6, `${checks} epoch reads over 10 s`);
});
