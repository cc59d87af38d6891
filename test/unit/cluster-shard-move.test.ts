// Moving one shard of a queue of several to another set (node/queue-move.ts, through the access
// layer of node/cluster-service.ts and node/sharded-queues.ts): OpencmqMoveQueue with fromSet and
// its refusals, how the queue is served while the shard moves (sends spread over the shards with
// the target in the source's turn, receives gather from all, old handles work, counters add up,
// whole-queue changes reach every set), a growth and a move never at once, and the mover that
// drains the shard, safe to repeat on a new leader. The sets are real queue state machines, the
// controller the real controller state machine.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { deadLetterDedupId, queueSendCommand } from '../../src/node/outbox';
import { deadLetterSendOptions } from '../../src/node/push-delivery';
import { MOVE_QUEUE_ACTIONS } from '../../src/api/move-queue-action';
import { servedShards } from '../../src/node/route-cache';
import type { ErrorResult } from '../../src/protocol/errors';
import { deliverOutbox, moverOf } from '../helpers/move-fakes';
import { cluster, ctx, errorOf, ok, send, type FakeSet } from '../helpers/set-fakes';

type Cluster = ReturnType<typeof cluster>;

/** The mover of set `fromSet`, its dropped routes dropped from the access layer's cache too. */
function moverOfShard(c: Cluster, fromSet: number): ReturnType<typeof moverOf> {
  return moverOf(c, fromSet, (name) => c.svc.forgetRoute(name));
}

/** A queue of two shards on sets 1 and 2 of three (placement: the lowest ids first). */
async function twoShards(c: Cluster, name: string, attrs: Record<string, unknown> = { visibilityTimeout: 30 }): Promise<void> {
  await ok(c.svc, { kind: 'createQueue', queueName: name, attrs, shards: 2 });
  assert.deepEqual(c.controller.sm.route('queue', name)?.shards, [1, 2]);
}

function bodiesOf(set: FakeSet, name: string): string[] {
  const out: string[] = [];
  const r = set.h.run({ kind: 'receiveMessages', queueName: name, numOfMsg: 16, seed: 3, visibilitySeconds: 1 });
  if (r.ok && r.kind === 'receiveMessages') for (const m of r.messages) out.push(set.h.body(m.body).toString());
  return out.sort();
}

function detailOf(r: { ok: boolean }): string {
  return r.ok ? '' : ((r as ErrorResult).detail ?? '');
}

void test('the route of a queue whose shard moves: its shards, the target last; the source keeps its index', () => {
  const moving = { type: 'move' as const, shard: 0, from: 1, to: 3, phase: 'copying' as const, startedAtMs: 0 };
  assert.deepEqual(servedShards({ type: 'queue', shards: [1, 2], change: moving }), { shards: [1, 2, 3], move: { shard: 0, from: 1, to: 3, phase: 'copying' } });
  assert.deepEqual(servedShards({ type: 'queue', shards: [1], change: moving }), { shards: [1, 3], move: { shard: 0, from: 1, to: 3, phase: 'copying' } });
  assert.deepEqual(servedShards({ type: 'queue', shards: [1, 2], change: undefined }), { shards: [1, 2], move: undefined });
});

void test('moveQueue of a sharded queue: without fromSet refused naming the shards\' sets; a set without a shard and a target holding one refused', async () => {
  const c = cluster(4);
  await twoShards(c, 'wide');
  const bare = await c.svc.moveQueue(ctx, 'wide', 3);
  assert.equal(errorOf(bare), 'missingParam');
  assert.match(detailOf(bare), /2 shards, on sets 1, 2: fromSet names the set/);
  const none = await c.svc.moveQueue(ctx, 'wide', 3, 4);
  assert.equal(errorOf(none), 'paramOutOfRange');
  assert.match(detailOf(none), /no shard on set 4; it is on sets 1, 2/);
  const holds = await c.svc.moveQueue(ctx, 'wide', 2, 1);
  assert.equal(errorOf(holds), 'setHoldsEntity');
  assert.match(detailOf(holds), /on sets 1, 2/);
  assert.equal(errorOf(await c.svc.moveQueue(ctx, 'wide', 9, 1)), 'setNotExist');
  // Asking to move a shard onto its own set: nothing to do.
  const there = await c.svc.moveQueue(ctx, 'wide', 1, 1);
  assert.ok(there.ok);
  assert.equal(there.move.phase, 'done');
  assert.equal(c.controller.sm.route('queue', 'wide')?.change, undefined, 'no move recorded');
  assert.ok(!c.set(3).has('wide'));
  // fromSet of a one-shard queue must be its set.
  assert.ok((await c.controller.submit({ kind: 'createEntity', type: 'queue', name: 'one', setId: 1 })).ok);
  await ok(c.set(1), { kind: 'createQueue', queueName: 'one', attrs: {} });
  assert.equal(errorOf(await c.svc.moveQueue(ctx, 'one', 3, 2)), 'paramOutOfRange');
  // The extension action takes fromSet.
  const params = new Map([
    ['queueName', 'wide'],
    ['toSet', '3'],
  ]);
  const action = MOVE_QUEUE_ACTIONS['OpencmqMoveQueue']!;
  const bareAnswer = (await action({ service: c.svc, ctx }, { get: (k: string) => params.get(k) } as never)) as { ok: boolean; error?: string };
  assert.equal(bareAnswer.error, 'missingParam');
  params.set('fromSet', '0');
  assert.equal(((await action({ service: c.svc, ctx }, { get: (k: string) => params.get(k) } as never)) as { error?: string }).error, 'paramOutOfRange');
  params.set('fromSet', '2');
  const answer = (await action({ service: c.svc, ctx }, { get: (k: string) => params.get(k) } as never)) as { ok: boolean; fields: Record<string, unknown> };
  assert.deepEqual(answer, { ok: true, fields: { fromSet: 2, toSet: 3, phase: 'copying', sourceMessages: 0 } });
  assert.deepEqual(c.controller.sm.route('queue', 'wide')?.change, { type: 'move', shard: 1, from: 2, to: 3, phase: 'copying', startedAtMs: (c.controller.sm.route('queue', 'wide')?.change as { startedAtMs: number }).startedAtMs });
});

void test('a shard move: asked again the same move; another move, a growth, and a move during a growth are refused (one route change at a time)', async () => {
  const c = cluster(4);
  await twoShards(c, 'q', { visibilityTimeout: 30, pollingWaitSeconds: 0 });
  await send(c.svc, 'q', 'a');
  const r = await c.svc.moveQueue(ctx, 'q', 3, 1);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.move, { from: 1, to: 3, phase: 'copying', sourceMessages: c.set(1).counts('q').active });
  assert.equal(c.set(3).h.sm.getQueueAttributes('q')?.visibilityTimeout, 30, 'the target created with the shard\'s settings');
  const again = await c.svc.moveQueue(ctx, 'q', 3, 1);
  assert.ok(again.ok);
  assert.equal(again.move.phase, 'copying');
  const other = await c.svc.moveQueue(ctx, 'q', 4, 2);
  assert.equal(errorOf(other), 'routeChangeRunning');
  assert.match(detailOf(other), /shard 0 is moving from set 1 to set 3/);
  assert.equal(errorOf(await c.svc.moveQueue(ctx, 'q', 4, 1)), 'routeChangeRunning', 'the same shard elsewhere');
  const grow = await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'q', attrs: {}, shards: 3 });
  assert.equal(errorOf(grow), 'routeChangeRunning');
  assert.match(detailOf(grow), /shard 0 is moving from set 1 to set 3/);
  assert.equal(c.controller.sm.route('queue', 'q')?.change?.type, 'move', 'the move is untouched');

  // A growth under way (recorded, not yet confirmed: its data path failed half-way) refuses a move.
  const d = cluster(4);
  await twoShards(d, 'g');
  d.set(3).refuse.add('createQueue');
  assert.ok(!(await d.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'g', attrs: {}, shards: 3 })).ok);
  assert.equal(d.controller.sm.route('queue', 'g')?.change?.type, 'grow');
  const during = await d.svc.moveQueue(ctx, 'g', 4, 1);
  assert.equal(errorOf(during), 'routeChangeRunning');
  assert.match(detailOf(during), /growing/);
});

void test('while a shard moves: sends spread with the target in the source\'s turn, receives gather from every set, old handles work, counters add up, whole-queue changes reach every set', async () => {
  const c = cluster(3);
  await twoShards(c, 'q');
  for (let i = 0; i < 4; i++) await send(c.svc, 'q', `old-${i}`);
  assert.equal(c.set(1).counts('q').active, 2);
  assert.equal(c.set(2).counts('q').active, 2);
  const before = await c.set(1).receive(ctx, 'q', 1, 0);
  assert.ok(before.ok && before.messages.length === 1);
  const handle = before.messages[0]!.receiptHandle;
  assert.ok((await c.svc.moveQueue(ctx, 'q', 3, 1)).ok);

  for (let i = 0; i < 4; i++) await send(c.svc, 'q', `new-${i}`);
  assert.equal(c.set(1).counts('q').active, 1, 'the moving source takes no new message');
  assert.equal(c.set(2).counts('q').active, 4, 'the other shard keeps its turns');
  assert.equal(c.set(3).counts('q').active, 2, "the target takes the source's turns");
  // A deduplication id that hashed to the moving shard goes to its target, and a retry meets it there.
  for (let i = 0; i < 6; i++) await send(c.svc, 'q', `dedup-${i}`, `k-${i}`);
  for (let i = 0; i < 6; i++) await send(c.svc, 'q', `dedup-${i}`, `k-${i}`);
  assert.equal(c.set(1).counts('q').active, 1);
  const sum = (['active', 'inactive'] as const).map((k) => [1, 2, 3].reduce((n, id) => n + c.set(id).counts('q')[k], 0));
  assert.deepEqual(sum, [13, 1], 'each deduplicated send stored once');

  const attrs = await c.svc.getQueueAttributes(ctx, 'q');
  assert.ok(attrs.ok);
  assert.equal(attrs.attributes.activeMsgNum, 13);
  assert.equal(attrs.attributes.inactiveMsgNum, 1);
  assert.equal(attrs.attributes.shards, 2, 'still two shards, not three');

  const got = await c.svc.receive(ctx, 'q', 16, 0);
  assert.ok(got.ok);
  assert.equal(got.messages.length, 13, 'from the source, the target and the other shard');
  assert.ok(got.messages.some((m) => m.bodyBytes.toString().startsWith('old-')));
  assert.ok(got.messages.some((m) => m.bodyBytes.toString() === 'new-0' || m.bodyBytes.toString() === 'new-2'));
  const del = await ok(c.svc, { kind: 'deleteMessages', queueName: 'q', receiptHandles: [handle, ...got.messages.map((m) => m.receiptHandle)] });
  assert.deepEqual(del.failures, [], "a handle of the source from before the move works");
  for (const id of [1, 2, 3]) assert.equal(c.set(id).counts('q').inactive, 0);

  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'q', attrs: { visibilityTimeout: 77 } });
  for (const id of [1, 2, 3]) assert.equal(c.set(id).h.sm.getQueueAttributes('q')?.visibilityTimeout, 77, `set ${id}`);
});

void test('the moved shard keeps the queue\'s dead-letter policy bound remote, like the other shards, even beside the dead-letter queue; a policy set during the move reaches all', async () => {
  const c = cluster(3);
  assert.ok((await c.controller.submit({ kind: 'createEntity', type: 'queue', name: 'dlq', setId: 3 })).ok);
  await ok(c.set(3), { kind: 'createQueue', queueName: 'dlq', attrs: {} });
  // Two shards on sets 1 and 2 (placement avoids set 3, which holds the dead-letter queue).
  await ok(c.svc, { kind: 'createQueue', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1 } }, shards: 2 });
  assert.deepEqual(c.controller.sm.route('queue', 'src')?.shards, [1, 2]);
  assert.ok((await c.svc.moveQueue(ctx, 'src', 3, 1)).ok);
  assert.equal(c.set(3).h.sm.getQueueAttributes('src')?.deadLetterPolicy?.remote, true, 'bound remote on the target too');
  // A policy set during the move reaches every set of the queue, the moving shard's source and target too.
  await ok(c.node(2), { kind: 'setQueueAttributes', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 3 } } });
  for (const id of [1, 2, 3]) assert.deepEqual(c.set(id).h.sm.getQueueAttributes('src')?.deadLetterPolicy, { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 3, remote: true }, `set ${id}`);
  const mover = moverOfShard(c, 1);
  for (let i = 0; i < 5 && (await mover.round()).get('src') !== 'completed'; i++) await deliverOutbox(c.set(1), c.svc);
  assert.deepEqual(c.controller.sm.route('queue', 'src')?.shards, [3, 2]);
  // A policy set again after the move reaches both shards, bound remote.
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 2 } } });
  for (const id of [2, 3]) {
    const p = c.set(id).h.sm.getQueueAttributes('src')?.deadLetterPolicy;
    assert.equal(p?.maxReceiveCount, 2, `set ${id}`);
    assert.equal(p?.remote, true, `set ${id}`);
  }
});

void test('the mover drains the shard into its target, waits for the one in flight, ends the move; a new leader repeating steps stores nothing twice', async () => {
  const c = cluster(3);
  await twoShards(c, 'q');
  for (let i = 0; i < 8; i++) await send(c.svc, 'q', `m${i}`);
  const onSource = bodiesOf(c.set(1), 'q');
  const onOther = bodiesOf(c.set(2), 'q');
  assert.equal(onSource.length, 4);
  c.sets.forEach((s) => s.h.advance(2_000)); // the peeks above made them invisible for 1 s
  const inflight = await c.set(1).receive(ctx, 'q', 1, 0);
  assert.ok(inflight.ok && inflight.messages.length === 1);
  const stale = c.node(2); // a node that read the route before the move and never again
  assert.ok((await stale.getQueueAttributes(ctx, 'q')).ok);
  assert.ok((await c.svc.moveQueue(ctx, 'q', 3, 1)).ok);

  const mover = moverOfShard(c, 1);
  assert.equal((await mover.round()).get('q'), 'moving');
  // The old leader sent the first and died before settling it; a new leader's mover and outbox do it all again.
  const first = c.set(1).h.sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10)[0]!;
  await ok(c.svc, queueSendCommand('q', c.set(1).h.body(first.body), deadLetterDedupId('q', first.msgId, first.sinceIndex), deadLetterSendOptions(first, c.set(1).h.body(first.body))));
  const successor = moverOfShard(c, 1);
  assert.equal((await successor.round()).get('q'), 'waiting', 'nothing visible left; one in flight');
  assert.equal(await deliverOutbox(c.set(1), c.node(1)), 3);
  assert.equal(c.set(3).counts('q').active, 3, 'the resent one deduplicated on the target');
  assert.equal(c.controller.sm.route('queue', 'q')?.change?.type, 'move');

  await ok(c.svc, { kind: 'deleteMessages', queueName: 'q', receiptHandles: [inflight.messages[0]!.receiptHandle] });
  assert.equal((await successor.round()).get('q'), 'completed');
  const route = c.controller.sm.route('queue', 'q');
  assert.deepEqual(route?.shards, [3, 2], 'shard 0 is on set 3 now; shard 1 untouched');
  assert.equal(route?.change, undefined);
  assert.ok(!c.set(1).has('q'), 'the emptied source is deleted');
  assert.equal((await mover.round()).size, 0, 'the old mover finds nothing to do');
  const done = await c.svc.moveQueue(ctx, 'q', 3, 1);
  assert.ok(done.ok);
  assert.equal(done.move.phase, 'done', 'asked again after it completed');
  const moved = onSource.filter((b) => b !== inflight.messages[0]!.bodyBytes.toString());
  assert.deepEqual(bodiesOf(c.set(3), 'q'), moved.sort());
  assert.deepEqual(bodiesOf(c.set(2), 'q'), onOther, 'the other shard kept its own');
  // The node with the route from before the move: a send meeting the deleted source goes on to a shard that exists.
  await send(stale, 'q', 'late-1');
  await send(stale, 'q', 'late-2');
  assert.ok(!c.set(1).has('q'));
  const total = [2, 3].reduce((n, id) => n + c.set(id).counts('q').active + c.set(id).counts('q').inactive, 0);
  assert.equal(total, 9, 'the 7 left and both late ones');
});

void test('while a shard moves and its target cannot be reached, a send goes to another shard, and to the moving source only when nothing else takes it', async () => {
  const c = cluster(3);
  await twoShards(c, 'q');
  assert.ok((await c.svc.moveQueue(ctx, 'q', 3, 1)).ok);
  c.set(3).down = true;
  for (let i = 0; i < 4; i++) await send(c.svc, 'q', `m${i}`);
  assert.equal(c.set(2).counts('q').active, 4, 'the other shard takes them');
  assert.equal(c.set(1).counts('q').active, 0);
  c.set(2).down = true;
  await send(c.svc, 'q', 'last-resort');
  assert.equal(c.set(1).counts('q').active, 1, 'the source, last: its mover moves it on');
});
