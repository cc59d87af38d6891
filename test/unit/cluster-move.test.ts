// Moving a one-shard queue to another set (node/queue-move.ts) through the access layer
// (node/cluster-service.ts, node/sharded-queues.ts): OpencmqMoveQueue's checks, how the queue is
// served in each phase of the move, and the mover on the source set's leader that drains it into
// the target through its outbox and ends the move. The sets are real queue state machines, the
// controller the real controller state machine; the outbox is sent as the leader's delivery loop
// sends it (through the access layer, with its deduplication id, settled through the log).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { Command } from '../../src/broker/commands';
import { deadLetterDedupId, outboxDedupId, queueSendCommand } from '../../src/node/outbox';
import { deadLetterSendOptions } from '../../src/node/push-delivery';
import { QueueMover, type MoveStep } from '../../src/node/queue-move';
import { MOVE_QUEUE_ACTIONS } from '../../src/api/move-queue-action';
import { ClusterQueueService } from '../../src/node/cluster-service';
import { captureLogger } from '../helpers/capture-logger';
import { deliverOutbox, moverOf } from '../helpers/move-fakes';
import { cluster, ctx, errorOf, ok, send, type FakeSet } from '../helpers/set-fakes';

type Cluster = ReturnType<typeof cluster>;

/** A queue on set 1 of two, holding `bodies` visible messages. */
async function queueOnSet1(c: Cluster, name: string, bodies: string[]): Promise<void> {
  const placed = await c.controller.submit({ kind: 'createEntity', type: 'queue', name, setId: 1 });
  assert.ok(placed.ok);
  await ok(c.set(1), { kind: 'createQueue', queueName: name, attrs: { visibilityTimeout: 30 } });
  for (const b of bodies) await send(c.set(1), name, b);
}

/** What a topic's leader does with the pushes of its remote queue subscriptions: each sent through `via`, then settled. */
async function deliverPushes(topicSet: FakeSet, via: ClusterQueueService): Promise<number> {
  const due = topicSet.h.sm.duePushes(topicSet.h.timeMs, 1000).filter((p) => p.remoteQueue === true);
  for (const p of due) {
    const r = await via.submit(ctx, queueSendCommand(p.endpoint, topicSet.h.body(p.body), outboxDedupId(p.topicName, p.subscriptionName, p.msgId)));
    assert.ok(r.ok, JSON.stringify(r));
    await ok(topicSet, { kind: 'pushSucceeded', topicName: p.topicName, subscriptionName: p.subscriptionName, msgId: p.msgId });
  }
  return due.length;
}

/** Rounds of the mover, each followed by the outbox sends of the sets given, until the move completes (at most 10). */
async function moveToEnd(mover: QueueMover, name: string, c: Cluster, outboxes: number[]): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const step = (await mover.round()).get(name);
    if (step === 'completed') return;
    for (const id of outboxes) await deliverOutbox(c.set(id), c.svc);
  }
  assert.fail(`the move of ${name} did not end`);
}

/** A received message past a maxReceiveCount of 1: received once, back at once, received again. */
function receiveTwice(set: FakeSet, name: string): void {
  set.h.run({ kind: 'receiveMessages', queueName: name, numOfMsg: 16, seed: 1, visibilitySeconds: 0 });
  set.h.advance(1);
  set.h.run({ kind: 'receiveMessages', queueName: name, numOfMsg: 16, seed: 2 });
}

function bodiesOf(set: FakeSet, name: string): string[] {
  const out: string[] = [];
  const r = set.h.run({ kind: 'receiveMessages', queueName: name, numOfMsg: 16, seed: 3, visibilitySeconds: 1 });
  if (r.ok && r.kind === 'receiveMessages') for (const m of r.messages) out.push(set.h.body(m.body).toString());
  return out.sort();
}

void test('moveQueue: refused for a missing or FIFO queue, and a sharded one without fromSet; the target is checked by the controller', async () => {
  const c = cluster(3);
  assert.equal(errorOf(await c.svc.moveQueue(ctx, 'nope', 2)), 'queueNotExist');
  await ok(c.svc, { kind: 'createQueue', queueName: 'wide', attrs: {}, shards: 2 });
  assert.equal(errorOf(await c.svc.moveQueue(ctx, 'wide', 3)), 'missingParam');
  await queueOnSet1(c, 'plain', []);
  const fifo = await c.controller.submit({ kind: 'createEntity', type: 'queue', name: 'ordered.fifo', setId: 1 });
  assert.ok(fifo.ok);
  await ok(c.set(1), { kind: 'createQueue', queueName: 'ordered.fifo', attrs: { sqs: { fifo: true } } });
  assert.equal(errorOf(await c.svc.moveQueue(ctx, 'ordered.fifo', 2)), 'queueMoveUnsupported');
  const there = await c.svc.moveQueue(ctx, 'plain', 1);
  assert.ok(there.ok);
  assert.equal(there.move.phase, 'done', 'already on that set: nothing to move');
  assert.equal(errorOf(await c.svc.moveQueue(ctx, 'plain', 9)), 'setNotExist');
  for (const name of ['ordered.fifo', 'plain']) assert.equal(c.controller.sm.route('queue', name)?.change, undefined, `${name}: no move recorded`);
  assert.ok(!c.set(2).has('plain'));
});

void test('moveQueue: records the move, creates the queue on the target with its settings; again: the same move; elsewhere: refused', async () => {
  const c = cluster(3);
  await queueOnSet1(c, 'q', ['a']);
  const r = await c.svc.moveQueue(ctx, 'q', 2);
  assert.ok(r.ok);
  assert.deepEqual(r.move, { from: 1, to: 2, phase: 'copying', sourceMessages: 1 });
  assert.deepEqual(c.controller.sm.route('queue', 'q')?.change, { type: 'move', shard: 0, from: 1, to: 2, phase: 'copying', startedAtMs: (c.controller.sm.route('queue', 'q')?.change as { startedAtMs: number }).startedAtMs });
  assert.equal(c.set(2).h.sm.getQueueAttributes('q')?.visibilityTimeout, 30, 'created on the target with the source settings');
  const again = await c.svc.moveQueue(ctx, 'q', 2);
  assert.ok(again.ok);
  assert.equal(again.move.phase, 'copying');
  assert.equal(errorOf(await c.svc.moveQueue(ctx, 'q', 3)), 'routeChangeRunning');
  // The extension action over the same service.
  const params = new Map([
    ['queueName', 'q'],
    ['toSet', '2'],
  ]);
  const answer = (await MOVE_QUEUE_ACTIONS['OpencmqMoveQueue']!({ service: c.svc, ctx }, { get: (k: string) => params.get(k) } as never)) as { ok: boolean; fields: Record<string, unknown> };
  assert.deepEqual(answer, { ok: true, fields: { fromSet: 1, toSet: 2, phase: 'copying', sourceMessages: 1 } });
});

void test('during a move: sends go to the target, receives gather from both, handles go to the set that issued them, attributes add up, whole-queue changes reach both', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', ['old-1', 'old-2']);
  const other = c.node(2); // a node of the target set that read the route before the move
  assert.ok((await other.getQueueAttributes(ctx, 'q')).ok);
  const before = await c.svc.receive(ctx, 'q', 1, 0);
  assert.ok(before.ok && before.messages.length === 1);
  const handle = before.messages[0]!.receiptHandle;
  assert.ok((await c.svc.moveQueue(ctx, 'q', 2)).ok);

  await send(c.svc, 'q', 'new-1');
  assert.equal(c.set(2).counts('q').active, 1, 'a send goes to the target');
  assert.equal(c.set(1).counts('q').active, 1);
  // The other node learns of the move by the route epoch (read in the background, then used).
  for (let i = 0; i < 2; i++) {
    await other.getQueueAttributes(ctx, 'q');
    await new Promise((r) => setImmediate(r));
  }
  await send(other, 'q', 'new-2');
  assert.equal(c.set(2).counts('q').active, 2, "the other node's send went to the target too");

  const attrs = await c.svc.getQueueAttributes(ctx, 'q');
  assert.ok(attrs.ok);
  assert.equal(attrs.attributes.activeMsgNum, 3);
  assert.equal(attrs.attributes.inactiveMsgNum, 1);
  assert.equal(attrs.attributes.shards, undefined, 'one queue, not two shards');

  const got = await c.svc.receive(ctx, 'q', 16, 0);
  assert.ok(got.ok);
  assert.deepEqual(got.messages.map((m) => m.bodyBytes.toString()).sort(), ['new-1', 'new-2', 'old-2']);
  // A handle from before the move still works: it goes to the source.
  const del = await ok(c.svc, { kind: 'deleteMessages', queueName: 'q', receiptHandles: [handle, ...got.messages.map((m) => m.receiptHandle)] });
  assert.deepEqual(del.failures, []);
  assert.equal(c.set(1).counts('q').inactive, 0);
  assert.equal(c.set(2).counts('q').inactive, 0);

  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'q', attrs: { visibilityTimeout: 77 } });
  assert.equal(c.set(1).h.sm.getQueueAttributes('q')?.visibilityTimeout, 77);
  assert.equal(c.set(2).h.sm.getQueueAttributes('q')?.visibilityTimeout, 77);
});

void test('the mover drains the source into the target, waits for messages in flight, deletes the emptied source and ends the move', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', ['m1', 'm2', 'm3', 'm4']);
  const inflight = await c.svc.receive(ctx, 'q', 1, 0);
  assert.ok(inflight.ok && inflight.messages.length === 1);
  assert.ok((await c.svc.moveQueue(ctx, 'q', 2)).ok);
  const forgot: string[] = [];
  const mover = moverOf(c, 1, (name) => forgot.push(name));

  let steps = await mover.round();
  assert.equal(steps.get('q'), 'moving' satisfies MoveStep);
  assert.deepEqual(forgot, ['q'], "this node's cached route is read again before its outbox sends");
  assert.equal(c.set(1).counts('q').active, 0, 'the visible messages left the source');
  assert.equal(c.set(1).counts('q').inactive, 1, 'the one in flight stays');
  assert.equal(await deliverOutbox(c.set(1), c.svc), 3);
  assert.equal(c.set(2).counts('q').active, 3);
  // Sent again (a new leader resending what it had not settled): deduplicated on the target.
  steps = await mover.round();
  assert.equal(steps.get('q'), 'waiting', 'a message is in flight on the source');
  assert.equal(c.controller.sm.route('queue', 'q')?.change?.type, 'move');

  await ok(c.svc, { kind: 'deleteMessages', queueName: 'q', receiptHandles: [inflight.messages[0]!.receiptHandle] });
  steps = await mover.round();
  assert.equal(steps.get('q'), 'completed');
  const route = c.controller.sm.route('queue', 'q');
  assert.deepEqual(route?.shards, [2]);
  assert.equal(route?.change, undefined);
  assert.ok(!c.set(1).has('q'), 'the source is deleted');
  assert.deepEqual(bodiesOf(c.set(2), 'q'), ['m2', 'm3', 'm4']);
  assert.ok(c.set(1).submitted.some((x) => x.kind === 'deleteQueue' && x.ifEmpty === true), 'deleted only if empty');
  // Nothing left to do.
  assert.equal((await mover.round()).size, 0);
  const done = await c.svc.moveQueue(ctx, 'q', 2);
  assert.ok(done.ok);
  assert.equal(done.move.phase, 'done');
});

void test('a move takes the messages kept for rewind too, after those in flight are settled, with their enqueue times: a rewind on the target to before the move brings them back', async () => {
  const c = cluster(2);
  const both = (ms: number): void => c.sets.forEach((s) => s.h.advance(ms));
  const t0Sec = Math.floor(c.set(1).h.timeMs / 1000);
  assert.ok((await c.controller.submit({ kind: 'createEntity', type: 'queue', name: 'q', setId: 1 })).ok);
  await ok(c.set(1), { kind: 'createQueue', queueName: 'q', attrs: { visibilityTimeout: 30, rewindSeconds: 3600 } });
  await send(c.set(1), 'q', 'm1');
  await send(c.set(1), 'q', 'm2');
  both(20_000);
  await send(c.set(1), 'q', 'm3');
  await send(c.set(1), 'q', 'm4');
  both(5_000);
  // m1 and m3 consumed before the move; m2 in flight, deleted by its consumer during the move.
  const got = await c.svc.receive(ctx, 'q', 3, 0);
  assert.ok(got.ok && got.messages.length === 3);
  const byBody = new Map(got.messages.map((m) => [m.bodyBytes.toString(), m.receiptHandle]));
  await ok(c.svc, { kind: 'deleteMessages', queueName: 'q', receiptHandles: [byBody.get('m1')!, byBody.get('m3')!] });
  await ok(c.svc, { kind: 'changeVisibility', queueName: 'q', entries: [{ receiptHandle: byBody.get('m2')!, visibilitySeconds: 600 }] });
  // m4 is visible; so, once its visibility ends, is nothing else.
  assert.equal(c.set(1).h.sm.getQueueAttributes('q')?.rewindMsgNum, 2);
  both(5_000);
  assert.ok((await c.svc.moveQueue(ctx, 'q', 2)).ok);
  const mover = moverOf(c, 1);

  assert.equal((await mover.round()).get('q'), 'moving' satisfies MoveStep, 'the visible ones (m4)');
  assert.equal(await deliverOutbox(c.set(1), c.svc), 1);
  assert.equal((await mover.round()).get('q'), 'waiting', 'm2 in flight: nothing kept is taken yet');
  assert.equal(c.set(1).h.sm.getQueueAttributes('q')?.rewindMsgNum, 2, 'the kept ones wait on the source');
  await ok(c.svc, { kind: 'deleteMessages', queueName: 'q', receiptHandles: [byBody.get('m2')!] });
  assert.equal((await mover.round()).get('q'), 'moving', 'now the kept ones (m1, m2, m3)');
  assert.equal(c.set(1).h.sm.getQueueAttributes('q')?.rewindMsgNum, 0);
  // A new leader sends the first again before it was settled: deduplicated on the target.
  const first = c.set(1).h.sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10)[0]!;
  assert.equal(first.moveOrigin?.kept, true);
  await ok(c.svc, queueSendCommand('q', c.set(1).h.body(first.body), deadLetterDedupId('q', first.msgId, first.sinceIndex), deadLetterSendOptions(first, c.set(1).h.body(first.body))));
  assert.equal(await deliverOutbox(c.set(1), c.svc), 3);
  assert.equal((await mover.round()).get('q'), 'completed');
  assert.ok(!c.set(1).has('q'));
  assert.ok(c.set(1).submitted.some((x) => x.kind === 'deleteQueue' && x.ifEmpty === true && x.keptToo === true), 'deleted only if nothing kept is left either');

  const target = c.set(2).h.sm.getQueueAttributes('q')!;
  assert.equal(target.rewindMsgNum, 3, 'kept on the target, each once');
  assert.equal(target.activeMsgNum, 1);
  assert.equal(target.minMsgTime, t0Sec + 20, 'm4 keeps its enqueue time');
  // As on the source: a rewind to between the sends brings back m3 only; to the first send, all.
  await ok(c.svc, { kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: t0Sec + 10 });
  assert.deepEqual(bodiesOf(c.set(2), 'q'), ['m3', 'm4']);
  both(2_000);
  await ok(c.svc, { kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: t0Sec });
  const r = c.set(2).h.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: 3 });
  assert.deepEqual(r.messages.map((m) => [c.set(2).h.body(m.body).toString(), m.enqueueTime]).sort(), [
    ['m1', t0Sec],
    ['m2', t0Sec],
    ['m3', t0Sec + 20],
    ['m4', t0Sec + 20],
  ]);
});

void test("the source leader's outbox sends reach the target even through a route cached before the move (a new leader's): never back into the source", async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', ['m1', 'm2']);
  const newLeader = c.node(1);
  assert.ok((await newLeader.getQueueAttributes(ctx, 'q')).ok, 'its route read before the move');
  assert.ok((await c.svc.moveQueue(ctx, 'q', 2)).ok);
  assert.equal((await moverOf(c, 1).round()).get('q'), 'moving');
  // The old leader sent m1 and died before settling it; the new leader sends both.
  const due = c.set(1).h.sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10);
  const first = due[0]!;
  await ok(c.svc, queueSendCommand('q', c.set(1).h.body(first.body), deadLetterDedupId('q', first.msgId, first.sinceIndex), deadLetterSendOptions(first, c.set(1).h.body(first.body))));
  assert.equal(await deliverOutbox(c.set(1), newLeader), 2);
  assert.equal(c.set(1).counts('q').active, 0, 'nothing went back into the source');
  assert.deepEqual(bodiesOf(c.set(2), 'q'), ['m1', 'm2'], 'each once: the resend was deduplicated on the target');
});

void test('a message sent to the source by a node that did not know of the move refuses the delete, is moved on, and the move then ends', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', ['m1']);
  assert.ok((await c.svc.moveQueue(ctx, 'q', 2)).ok);
  const mover = moverOf(c, 1);
  assert.equal((await mover.round()).get('q'), 'moving');
  await deliverOutbox(c.set(1), c.svc);
  // Lands on the source just before the delete is applied.
  let landed = false;
  c.set(1).beforeApply = (cmd: Command) => {
    if (cmd.kind === 'deleteQueue' && !landed) {
      landed = true;
      c.set(1).h.run({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('late')] });
    }
  };
  assert.equal((await mover.round()).get('q'), 'notEmpty');
  assert.ok(c.set(1).has('q'), 'not deleted: it held the late message');
  assert.equal(c.controller.sm.route('queue', 'q')?.change?.type, 'move', 'in cutover');
  assert.equal((await mover.round()).get('q'), 'moving');
  await deliverOutbox(c.set(1), c.svc);
  assert.equal((await mover.round()).get('q'), 'completed');
  assert.deepEqual(bodiesOf(c.set(2), 'q'), ['late', 'm1']);
});

void test('a new leader resumes a move whose source was already deleted; meanwhile the emptied source counts as an empty shard', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', ['m1']);
  const got = await c.svc.receive(ctx, 'q', 1, 0);
  assert.ok(got.ok);
  assert.ok((await c.svc.moveQueue(ctx, 'q', 2)).ok);
  await ok(c.svc, { kind: 'deleteMessages', queueName: 'q', receiptHandles: [got.messages[0]!.receiptHandle] });
  await send(c.svc, 'q', 'on-target');
  // The old leader advanced the move and deleted the source, then died before completing it.
  assert.ok((await c.controller.submit({ kind: 'advanceMove', type: 'queue', name: 'q' })).ok);
  await ok(c.set(1), { kind: 'deleteQueue', queueName: 'q', ifEmpty: true });
  const fresh = c.node(1);
  const r = await fresh.receive(ctx, 'q', 16, 0);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(
    r.messages.map((m) => m.bodyBytes.toString()),
    ['on-target'],
  );
  const a = await fresh.getQueueAttributes(ctx, 'q');
  assert.ok(a.ok);
  assert.equal(a.attributes.inactiveMsgNum, 1);
  // A handle of the deleted source: none can be current (it had none in flight).
  const old = await ok(fresh, { kind: 'deleteMessages', queueName: 'q', receiptHandles: [got.messages[0]!.receiptHandle, r.messages[0]!.receiptHandle] });
  assert.deepEqual(
    old.failures.map((f) => [f.index, f.error]),
    [[0, 'receiptHandleInvalid']],
  );
  // A long poll waits its whole wait on the target, none of it on the deleted source.
  c.set(2).waits.length = 0;
  const none = await fresh.receive(ctx, 'q', 1, 2);
  assert.ok(none.ok && none.messages.length === 0);
  assert.equal(c.set(2).waits.reduce((a, b) => a + b, 0), 2);
  assert.equal((await moverOf(c, 1).round()).get('q'), 'completed');
  assert.deepEqual(c.controller.sm.route('queue', 'q')?.shards, [2]);
});

void test('the mover creates the queue on the target before it moves anything, and a non-leader does nothing', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', ['m1']);
  assert.ok((await c.controller.submit({ kind: 'beginMove', type: 'queue', name: 'q', to: 2 })).ok);
  c.set(2).down = true;
  const mover = moverOf(c, 1);
  assert.equal((await mover.round()).get('q'), 'targetMissing');
  assert.equal(c.set(1).counts('q').active, 1, 'nothing moved while the target lacks the queue');
  c.set(2).down = false;
  assert.equal((await mover.round()).get('q'), 'moving');
  assert.ok(c.set(2).has('q'));
});

void test('DeleteQueue during a move deletes both copies and abandons the move', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', ['m1']);
  assert.ok((await c.svc.moveQueue(ctx, 'q', 2)).ok);
  await ok(c.svc, { kind: 'deleteQueue', queueName: 'q' });
  assert.ok(!c.set(1).has('q'));
  assert.ok(!c.set(2).has('q'));
  assert.equal(c.controller.sm.route('queue', 'q'), undefined);
  assert.equal((await moverOf(c, 1).round()).size, 0);
});

void test('a long poll of a moving queue goes on on the target when the source is deleted during the wait', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', []);
  assert.ok((await c.svc.moveQueue(ctx, 'q', 2)).ok);
  let deleted = false;
  c.set(1).onWait = () => {
    c.set(1).h.run({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true });
    deleted = true;
  };
  c.set(2).onWait = () => {
    if (deleted) c.set(2).h.run({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('late')] });
  };
  const r = await c.svc.receive(ctx, 'q', 1, 5);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(
    r.messages.map((m) => m.bodyBytes.toString()),
    ['late'],
  );
  assert.ok(deleted);
});

void test('a send to a moving queue whose target cannot take it now answers notApplied, never that the queue does not exist', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', []);
  assert.ok((await c.svc.moveQueue(ctx, 'q', 2)).ok);
  await ok(c.set(1), { kind: 'deleteQueue', queueName: 'q', ifEmpty: true });
  c.set(2).down = true;
  const r = await c.svc.submit(ctx, { kind: 'sendMessages', queueName: 'q', delaySeconds: null, bodies: [Buffer.from('x')] });
  assert.equal(errorOf(r), 'notApplied');
  c.set(2).down = false;
  await send(c.svc, 'q', 'x');
  assert.equal(c.set(2).counts('q').active, 1);
});

void test('the mover lists every route only when the route epoch moved; a move begun meanwhile is found', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', ['m1']);
  await queueOnSet1(c, 'other', []);
  const mover = moverOf(c, 1);
  const listings = (): number => c.controller.reads.filter((q) => q.kind === 'listRoutes').length;
  assert.equal((await mover.round()).size, 0);
  assert.equal(listings(), 1);
  assert.equal((await mover.round()).size, 0);
  assert.equal(listings(), 1, 'nothing changed: one listSets, no listing');
  assert.ok((await c.svc.moveQueue(ctx, 'q', 2)).ok);
  assert.equal((await mover.round()).get('q'), 'moving');
  assert.equal(listings(), 2);
  await deliverOutbox(c.set(1), c.svc);
  // Under way and the epoch unchanged: the move is read again by name, not by listing everything.
  const byName = c.controller.reads.filter((q) => q.kind === 'getRoute').length;
  assert.equal((await mover.round()).get('q'), 'completed');
  assert.equal(listings(), 2);
  assert.ok(c.controller.reads.filter((q) => q.kind === 'getRoute').length > byName);
});

void test("an outbox send of a moving queue is never sent back into the set it leaves, even when the controller's answer is from before the move began", async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', ['m1']);
  const before = await c.controller.read({ kind: 'getRoute', type: 'queue', name: 'q' });
  assert.ok((await c.svc.moveQueue(ctx, 'q', 2)).ok);
  assert.equal((await moverOf(c, 1).round()).get('q'), 'moving');
  // A node of set 1 whose controller reads come from a replica that has not applied the move yet.
  const lagging = new ClusterQueueService({
    ownSetId: 1,
    own: c.set(1),
    sets: { service: (id) => c.set(id), invalidate: () => undefined },
    controller: { submit: (x) => c.controller.submit(x), read: (q) => (q.kind === 'getRoute' ? Promise.resolve(before) : c.controller.read(q)) },
    log: captureLogger(),
    pollSliceSeconds: 1,
  });
  const d = c.set(1).h.sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10)[0]!;
  const r = await lagging.submit(ctx, queueSendCommand('q', c.set(1).h.body(d.body), deadLetterDedupId('q', d.msgId, d.sinceIndex), { enveloped: d.enveloped }));
  assert.equal(errorOf(r), 'notApplied', 'refused: retried later');
  assert.equal(c.set(1).counts('q').active, 0, 'nothing went back into the source');
  assert.equal(await deliverOutbox(c.set(1), c.svc), 1);
  assert.deepEqual(bodiesOf(c.set(2), 'q'), ['m1']);
});

// ---- what feeds a queue or what it feeds on its set: dead-letter policies, dead-letter queues, topics

const POLICY = { policy: 0 as const, maxReceiveCount: 1 };

void test('a queue whose dead-letter queue stays behind moves with its policy bound remote; what either copy dead-letters during and after the move reaches it', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'dlq', []);
  await queueOnSet1(c, 'src', ['a']);
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', ...POLICY } } });
  receiveTwice(c.set(1), 'src'); // 'a' is dead-lettered on the source, locally
  await send(c.set(1), 'src', 'b');
  const r = await c.svc.moveQueue(ctx, 'src', 2);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(c.set(2).h.sm.getQueueAttributes('src')?.deadLetterPolicy, { deadLetterQueue: 'dlq', ...POLICY, remote: true }, 'on the target: the same policy, its queue on another set');
  assert.deepEqual(c.set(1).h.sm.getQueueAttributes('src')?.deadLetterPolicy, { deadLetterQueue: 'dlq', ...POLICY }, 'the source keeps its own');
  const mover = moverOf(c, 1);
  assert.equal((await mover.round()).get('src'), 'moving');
  await deliverOutbox(c.set(1), c.svc);
  receiveTwice(c.set(2), 'src'); // 'b', moved before any receive, is dead-lettered on the target
  await deliverOutbox(c.set(2), c.svc);
  await moveToEnd(mover, 'src', c, [1, 2]);
  assert.deepEqual(c.controller.sm.route('queue', 'src')?.shards, [2]);
  await send(c.svc, 'src', 'c');
  receiveTwice(c.set(2), 'src');
  assert.equal(await deliverOutbox(c.set(2), c.svc), 1);
  assert.deepEqual(bodiesOf(c.set(1), 'dlq'), ['a', 'b', 'c']);
  const sources = await c.svc.listDeadLetterSourceQueues(ctx, 'dlq', undefined, 0, 10);
  assert.ok(sources.ok);
  assert.deepEqual(
    sources.queueList.map((q) => q.queueName),
    ['src'],
    'still its source, from the other set',
  );
});

void test("a moved message keeps its receive count and first receive time: a maxReceiveCount policy counts on across the move, and the poison message is dead-lettered at the receive past it", async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'dlq', []);
  await queueOnSet1(c, 'src', ['poison']);
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 3 } } });
  const firstReceiveMs = c.set(1).h.timeMs;
  // Received twice on the source and never deleted; 'fresh' never received.
  for (let k = 0; k < 2; k++) {
    const got = await c.svc.receive(ctx, 'src', 16, 0, { visibilitySeconds: 0 });
    assert.ok(got.ok && got.messages.length === 1 && got.messages[0]!.dequeueCount === k + 1);
    c.sets.forEach((s) => s.h.advance(1_000));
  }
  await send(c.set(1), 'src', 'fresh');
  assert.ok((await c.svc.moveQueue(ctx, 'src', 2)).ok);
  const mover = moverOf(c, 1);
  await moveToEnd(mover, 'src', c, [1]);
  assert.ok(!c.set(1).has('src'));
  const counts = async (): Promise<[string, number, number][]> => {
    const got = await c.svc.receive(ctx, 'src', 16, 0, { visibilitySeconds: 0 });
    assert.ok(got.ok);
    c.sets.forEach((s) => s.h.advance(1_000));
    return got.messages.map((m): [string, number, number] => [m.bodyBytes.toString(), m.dequeueCount, m.firstDequeueMs]).sort();
  };
  const third = c.set(2).h.timeMs;
  assert.deepEqual(await counts(), [
    ['fresh', 1, third],
    ['poison', 3, firstReceiveMs],
  ], 'its third receive, on the target');
  // Its fourth is past maxReceiveCount 3: dead-lettered there (the dead-letter queue stayed on set 1).
  assert.deepEqual(await counts(), [['fresh', 2, third]]);
  assert.equal(await deliverOutbox(c.set(2), c.svc), 1);
  assert.deepEqual(bodiesOf(c.set(1), 'dlq'), ['poison']);
});

void test('a queue moving to the set of its dead-letter queue is bound there locally; the source is deleted only once its outbox has sent its dead letters', async () => {
  const c = cluster(2);
  assert.ok((await c.controller.submit({ kind: 'createEntity', type: 'queue', name: 'dlq', setId: 2 })).ok);
  await ok(c.set(2), { kind: 'createQueue', queueName: 'dlq', attrs: {} });
  await queueOnSet1(c, 'src', ['x']);
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', ...POLICY } } });
  assert.equal(c.set(1).h.sm.getQueueAttributes('src')?.deadLetterPolicy?.remote, true);
  receiveTwice(c.set(1), 'src'); // 'x' waits in the source's outbox
  assert.ok((await c.svc.moveQueue(ctx, 'src', 2)).ok);
  assert.deepEqual(c.set(2).h.sm.getQueueAttributes('src')?.deadLetterPolicy, { deadLetterQueue: 'dlq', ...POLICY }, 'bound locally on the target');
  const mover = moverOf(c, 1);
  assert.equal((await mover.round()).get('src'), 'notEmpty', 'empty, but a dead letter is still on its way');
  assert.ok(c.set(1).has('src'));
  assert.equal(await deliverOutbox(c.set(1), c.svc), 1);
  assert.equal((await mover.round()).get('src'), 'completed');
  await send(c.svc, 'src', 'y');
  receiveTwice(c.set(2), 'src');
  assert.deepEqual(c.set(2).h.sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10), [], 'dead-lettered within the set');
  assert.deepEqual(bodiesOf(c.set(2), 'dlq'), ['x', 'y']);
});

void test('a dead-letter queue moves: its sources on its set are bound remote first (by every new leader, and one bound meanwhile too), their dead letters follow it, and a redrive from its new set sends them back', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'dlq', []);
  await queueOnSet1(c, 'src', ['early']);
  await ok(c.svc, { kind: 'setQueueAttributes', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', ...POLICY } } });
  receiveTwice(c.set(1), 'src');
  assert.deepEqual(bodiesOf(c.set(1), 'dlq'), ['early']);
  c.set(1).h.advance(2_000); // visible again
  const r = await c.svc.moveQueue(ctx, 'dlq', 2);
  assert.ok(r.ok, JSON.stringify(r));
  // Each round by a new leader: every step is repeated from what is replicated.
  assert.equal((await moverOf(c, 1).round()).get('dlq'), 'moving');
  assert.deepEqual(c.set(1).h.sm.getQueueAttributes('src')?.deadLetterPolicy, { deadLetterQueue: 'dlq', ...POLICY, remote: true });
  await send(c.svc, 'src', 'during');
  receiveTwice(c.set(1), 'src'); // into the source's outbox now, sent by name
  await deliverOutbox(c.set(1), c.svc);
  // A queue of the set bound to it meanwhile (through a route read before the move), just before the delete.
  let bound = false;
  c.set(1).beforeApply = (cmd: Command) => {
    if (cmd.kind === 'deleteQueue' && !bound) {
      bound = true;
      c.set(1).h.run({ kind: 'createQueue', queueName: 'late', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', ...POLICY } } });
    }
  };
  assert.equal((await moverOf(c, 1).round()).get('dlq'), 'notEmpty', 'dlqDeleteInUse: a local source is left');
  assert.ok(bound);
  assert.equal((await moverOf(c, 1).round()).get('dlq'), 'completed');
  assert.equal(c.set(1).h.sm.getQueueAttributes('late')?.deadLetterPolicy?.remote, true);
  assert.ok(!c.set(1).has('dlq'));
  assert.deepEqual(c.controller.sm.route('queue', 'dlq')?.shards, [2]);
  await send(c.svc, 'src', 'after');
  receiveTwice(c.set(1), 'src');
  await deliverOutbox(c.set(1), c.svc);
  assert.deepEqual(bodiesOf(c.set(2), 'dlq'), ['after', 'during', 'early']);
  c.set(2).h.advance(2_000);
  const sources = await c.svc.listDeadLetterSourceQueues(ctx, 'dlq', undefined, 0, 10);
  assert.ok(sources.ok);
  assert.deepEqual(
    sources.queueList.map((q) => q.queueName),
    ['late', 'src'],
  );
  // Redrive back to the sources: each message knows its source, which is on the other set now.
  const back = await ok(c.svc, { kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: null, maxMessages: 10 });
  assert.equal(back.moved, 3);
  assert.equal(await deliverOutbox(c.set(2), c.svc), 3);
  assert.deepEqual(bodiesOf(c.set(1), 'src'), ['after', 'during', 'early']);
});

void test('a queue fed by a topic on its set moves: the subscription delivers through the route from the first step, one made meanwhile is turned too, and every publish arrives', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'fed', []);
  assert.ok((await c.controller.submit({ kind: 'createEntity', type: 'topic', name: 'news', setId: 1 })).ok);
  await ok(c.set(1), { kind: 'createTopic', topicName: 'news', maxMsgSize: 65536, filterType: 1 });
  const subscribe = (name: string): Command => ({ kind: 'subscribe', topicName: 'news', subscriptionName: name, protocol: 'queue', endpoint: 'fed', notifyStrategy: 'BACKOFF_RETRY', notifyContentFormat: 'SIMPLIFIED', filterTags: [], bindingKeys: [] });
  await ok(c.set(1), subscribe('to-fed') as Command & { kind: 'subscribe' });
  const publish = (body: string): Promise<unknown> => ok(c.svc, { kind: 'publishMessages', topicName: 'news', bodies: [Buffer.from(body)], msgTags: [], routingKey: '' });
  await publish('p1');
  assert.equal(c.set(1).counts('fed').active, 1, 'delivered locally');
  assert.ok((await c.svc.moveQueue(ctx, 'fed', 2)).ok);
  const mover = moverOf(c, 1);
  assert.equal((await mover.round()).get('fed'), 'moving');
  await publish('p2');
  assert.equal(c.set(1).counts('fed').active, 0, 'kept pending for the route now');
  assert.equal(await deliverPushes(c.set(1), c.svc), 1);
  await deliverOutbox(c.set(1), c.svc);
  // A local subscription made just before the delete (through a route read before the move).
  let sneaked = false;
  c.set(1).beforeApply = (cmd: Command) => {
    if (cmd.kind === 'deleteQueue' && !sneaked) {
      sneaked = true;
      c.set(1).h.run(subscribe('sneak'));
    }
  };
  assert.equal((await mover.round()).get('fed'), 'notEmpty', 'a topic of the set would still deliver into the source');
  assert.equal((await mover.round()).get('fed'), 'completed');
  await publish('p3');
  assert.equal(await deliverPushes(c.set(1), c.svc), 2, 'both subscriptions deliver through the route');
  assert.deepEqual(bodiesOf(c.set(2), 'fed'), ['p1', 'p2', 'p3', 'p3']);
});

void test('a move recorded before the queue is made on its target: sends (with a deduplication id too), receives, long polls and attributes are served by the source, never "the queue does not exist"', async () => {
  const c = cluster(2);
  await queueOnSet1(c, 'q', ['m1']);
  // What moveQueue does first; the queue is made on the target a moment later.
  assert.ok((await c.controller.submit({ kind: 'beginMove', type: 'queue', name: 'q', to: 2 })).ok);
  c.svc.forgetRoute('q');
  assert.ok(!c.set(2).has('q'));
  await send(c.svc, 'q', 'm2');
  const deduped = { kind: 'sendMessages' as const, queueName: 'q', delaySeconds: null, bodies: [Buffer.from('m3')], options: [{ dedupId: 'k3' }] };
  const first = await c.svc.submit(ctx, deduped);
  assert.ok(first.ok, JSON.stringify(first));
  const retried = await c.svc.submit(ctx, deduped);
  assert.ok(retried.ok && first.kind === 'sendMessages' && retried.kind === 'sendMessages');
  assert.deepEqual(retried.msgIds, first.msgIds, 'the retry is deduplicated where the first send went');
  assert.equal(c.set(1).counts('q').active, 3);
  const a = await c.svc.getQueueAttributes(ctx, 'q');
  assert.ok(a.ok, JSON.stringify(a));
  assert.equal(a.attributes.activeMsgNum, 3);
  const got = await c.svc.receive(ctx, 'q', 16, 0);
  assert.ok(got.ok, JSON.stringify(got));
  assert.deepEqual(got.messages.map((m) => m.bodyBytes.toString()).sort(), ['m1', 'm2', 'm3']);
  const polled = await c.svc.receive(ctx, 'q', 1, 1);
  assert.ok(polled.ok, JSON.stringify(polled));
  assert.equal(polled.messages.length, 0);
  const cmd = await c.svc.submit(ctx, { kind: 'receiveMessages', queueName: 'q', numOfMsg: 1, seed: 1 });
  assert.ok(cmd.ok, JSON.stringify(cmd));
});
