// Dead-letter redrive in the broker: dead letters remember their source queue, moveMessages moves
// visible messages back (or to a named queue), and move tasks advance, finish, fail and survive a
// snapshot.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { decodeCommand, encodeCommand } from '../../src/broker/codec';
import type { Command, CommandResult, MoveTaskView } from '../../src/broker/commands';
import type { QueueState } from '../../src/broker/queue';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { LIMITS } from '../../src/protocol/limits';
import { BrokerHarness } from '../helpers/broker-harness';

function errorOf(r: CommandResult): string {
  assert.equal(r.ok, false, 'expected an error');
  return r.ok ? '' : r.error;
}

/** A harness with queues `a` and `b` dead-lettering into `dlq` after one receive. */
function setup(): BrokerHarness {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'dlq', attrs: {} });
  for (const q of ['a', 'b']) h.ok({ kind: 'createQueue', queueName: q, attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1 } } });
  h.ok({ kind: 'createQueue', queueName: 'other', attrs: {} });
  return h;
}

/** Sends `bodies` to `queue` and dead-letters them (received once, then once too often). Returns their msgIds. */
function deadLetter(h: BrokerHarness, queue: string, bodies: string[]): string[] {
  const msgIds: string[] = [];
  for (let k = 0; k < bodies.length; k += 16) {
    const batch = bodies.slice(k, k + 16).map((b) => Buffer.from(b));
    msgIds.push(...h.ok({ kind: 'sendMessages', queueName: queue, delaySeconds: 0, bodies: batch }).msgIds);
  }
  for (;;) {
    const got = h.ok({ kind: 'receiveMessages', queueName: queue, numOfMsg: 16, seed: 7, visibilitySeconds: 1 });
    if (got.messages.length === 0) break;
  }
  h.advance(1500);
  // The first receive carries time past the visibility timeout; each moves up to 16 dead letters.
  do h.ok({ kind: 'receiveMessages', queueName: queue, numOfMsg: 16, seed: 8 });
  while (h.sm.visibleCount(queue) > 0);
  return msgIds;
}

/** Receives everything visible in `queue`: msgId → [body, dequeueCount]. */
function drain(h: BrokerHarness, queue: string): Map<string, [string, number]> {
  const out = new Map<string, [string, number]>();
  for (;;) {
    const got = h.ok({ kind: 'receiveMessages', queueName: queue, numOfMsg: 16, seed: 9 });
    if (got.messages.length === 0) return out;
    for (const m of got.messages) out.set(m.msgId, [h.body(m.body).toString(), m.dequeueCount]);
  }
}

function move(h: BrokerHarness, sourceQueue: string, destinationQueue: string | null, maxMessages: number = LIMITS.moveBatchMax, taskHandle?: string): CommandResult {
  const cmd: Command = { kind: 'moveMessages', sourceQueue, destinationQueue, maxMessages };
  if (taskHandle !== undefined) cmd.taskHandle = taskHandle;
  return h.run(cmd);
}

function moved(r: CommandResult): Extract<CommandResult, { kind: 'moveMessages' }> {
  assert.ok(r.ok && r.kind === 'moveMessages', `moveMessages failed: ${r.ok ? r.kind : r.error}`);
  return r;
}

function queueOf(sm: QueueStateMachine, name: string): QueueState {
  return (sm as unknown as { byName: Map<string, QueueState> }).byName.get(name)!;
}

function restore(h: BrokerHarness): void {
  h.sm = QueueStateMachine.restore(h.sm.snapshot());
}

function tasks(h: BrokerHarness, source: string): MoveTaskView[] {
  const t = h.sm.listMoveTasks(source);
  assert.ok(Array.isArray(t));
  return t;
}

describe('dead-letter sources and moveMessages', () => {
  test('messages go back to the queue they were dead-lettered from, through a snapshot, keeping msgId and body', () => {
    const h = setup();
    const fromA = deadLetter(h, 'a', ['a1', 'a2', 'a3']);
    const fromB = deadLetter(h, 'b', ['b1', 'b2']);
    assert.equal(h.sm.visibleCount('dlq'), 5);
    restore(h);
    const r = moved(move(h, 'dlq', null));
    assert.deepEqual({ moved: r.moved, remaining: r.remaining, stayed: r.stayed }, { moved: 5, remaining: 0, stayed: 0 });
    const a = drain(h, 'a');
    const b = drain(h, 'b');
    assert.deepEqual([...a.keys()].sort(), [...fromA].sort());
    assert.deepEqual([...b.keys()].sort(), [...fromB].sort());
    assert.deepEqual([...a.values()].map(([body]) => body).sort(), ['a1', 'a2', 'a3']);
    // Enqueued afresh: this receive is the first since the move.
    for (const [, n] of [...a.values(), ...b.values()]) assert.equal(n, 1);
    // The sources left with their messages: the dead-letter queue keeps nothing for them.
    assert.equal(queueOf(h.sm, 'dlq').redrive, undefined);
  });

  test('a message moved back and dead-lettered again is remembered again', () => {
    const h = setup();
    deadLetter(h, 'a', ['x']);
    moved(move(h, 'dlq', null));
    h.advance(10);
    h.ok({ kind: 'receiveMessages', queueName: 'a', numOfMsg: 1, seed: 1, visibilitySeconds: 1 });
    h.advance(1500);
    h.ok({ kind: 'receiveMessages', queueName: 'a', numOfMsg: 1, seed: 2 });
    assert.equal(h.sm.visibleCount('dlq'), 1);
    assert.equal(moved(move(h, 'dlq', null)).moved, 1);
    assert.equal(h.sm.visibleCount('a'), 1);
  });

  test('an explicit destination takes every visible message, oldest first, maxMessages at a time', () => {
    const h = setup();
    const ids = deadLetter(h, 'a', Array.from({ length: 20 }, (_, k) => `m${k}`));
    h.ok({ kind: 'sendMessages', queueName: 'dlq', delaySeconds: 0, bodies: [Buffer.from('direct')] });
    let r = moved(move(h, 'dlq', 'other', 7));
    assert.deepEqual({ moved: r.moved, remaining: r.remaining }, { moved: 7, remaining: 14 });
    const first = drain(h, 'other');
    assert.deepEqual([...first.keys()].sort(), ids.slice(0, 7).sort(), 'the oldest seven');
    r = moved(move(h, 'dlq', 'other'));
    assert.deepEqual({ moved: r.moved, remaining: r.remaining, stayed: r.stayed }, { moved: 14, remaining: 0, stayed: 0 });
    assert.ok([...drain(h, 'other').values()].some(([body]) => body === 'direct'), 'a message sent to the DLQ directly moves to a named queue');
  });

  test('in-flight and delayed messages are not moved', () => {
    const h = setup();
    deadLetter(h, 'a', ['one', 'two']);
    h.ok({ kind: 'sendMessages', queueName: 'dlq', delaySeconds: 60, bodies: [Buffer.from('late')] });
    const inFlight = h.ok({ kind: 'receiveMessages', queueName: 'dlq', numOfMsg: 1, seed: 3 }).messages;
    assert.equal(inFlight.length, 1);
    const r = moved(move(h, 'dlq', 'other'));
    assert.deepEqual({ moved: r.moved, remaining: r.remaining }, { moved: 1, remaining: 0 });
    const attrs = h.sm.getQueueAttributes('dlq')!;
    assert.equal(attrs.inactiveMsgNum, 1);
    assert.equal(attrs.delayMsgNum, 1);
    // The receipt handle of the message in flight still works: it never moved.
    assert.deepEqual(h.ok({ kind: 'deleteMessages', queueName: 'dlq', receiptHandles: [inFlight[0]!.receiptHandle] }).failures, []);
  });

  test('back to their sources: a message with no known source, or whose source was deleted, stays (counted)', () => {
    const h = setup();
    deadLetter(h, 'a', ['from-a']);
    deadLetter(h, 'b', ['from-b']);
    h.ok({ kind: 'sendMessages', queueName: 'dlq', delaySeconds: 0, bodies: [Buffer.from('direct')] });
    h.ok({ kind: 'unbindDeadLetter', queueName: 'b' });
    h.ok({ kind: 'deleteQueue', queueName: 'b' });
    // A queue re-created under the name is another queue: the message does not go there.
    h.ok({ kind: 'createQueue', queueName: 'b', attrs: {} });
    const r = moved(move(h, 'dlq', null));
    assert.deepEqual({ moved: r.moved, remaining: r.remaining, stayed: r.stayed }, { moved: 1, remaining: 2, stayed: 2 });
    assert.equal(h.sm.visibleCount('a'), 1);
    assert.equal(h.sm.visibleCount('b'), 0);
    // The two that stayed can still be received from the DLQ, and moved to a named queue.
    assert.equal(moved(move(h, 'dlq', 'other')).moved, 2);
  });

  test('errors: a missing source or destination, a destination equal to the source; nothing changes', () => {
    const h = setup();
    deadLetter(h, 'a', ['x']);
    assert.equal(errorOf(move(h, 'nope', null)), 'queueNotExist');
    assert.equal(errorOf(move(h, 'dlq', 'nope')), 'queueNotExist');
    assert.equal(errorOf(move(h, 'dlq', 'dlq')), 'moveSameQueue');
    assert.equal(h.sm.visibleCount('dlq'), 1);
  });
});

describe('move tasks', () => {
  function start(h: BrokerHarness, sourceQueue: string, destinationQueue: string | null = null, maxPerSecond: number | null = null): CommandResult {
    return h.run({ kind: 'startMoveTask', sourceQueue, destinationQueue, maxPerSecond });
  }

  function handleOf(r: CommandResult): string {
    assert.ok(r.ok && r.kind === 'startMoveTask', `startMoveTask failed: ${r.ok ? r.kind : r.error}`);
    return r.taskHandle;
  }

  test('a task moves what the source held at its start, then completes', () => {
    const h = setup();
    deadLetter(h, 'a', Array.from({ length: 5 }, (_, k) => `m${k}`));
    const handle = handleOf(start(h, 'dlq', null, 10));
    assert.equal(handle, `move-${h.index.toString(36)}`, 'the handle names the entry that started it');
    let [t] = tasks(h, 'dlq');
    assert.deepEqual(t, { taskHandle: handle, sourceQueue: 'dlq', destinationQueue: null, maxPerSecond: 10, status: 'RUNNING', startedMs: h.timeMs, movedCount: 0, toMove: 5 });
    assert.equal(errorOf(start(h, 'dlq')), 'moveTaskRunning', 'one running task per source');
    // Messages arriving after the start are not the task's: it stops at toMove.
    deadLetter(h, 'a', ['late1', 'late2']);
    let r = moved(move(h, 'dlq', null, 3, handle));
    assert.equal(r.moved, 3);
    assert.equal(r.task?.status, 'RUNNING');
    r = moved(move(h, 'dlq', null, 1000, handle));
    assert.equal(r.moved, 2, 'no more than the task has left');
    assert.equal(r.remaining, 2);
    [t] = tasks(h, 'dlq');
    assert.equal(t!.status, 'COMPLETED');
    assert.equal(t!.movedCount, 5);
    // A move for a finished task (proposed before it finished) does nothing.
    assert.equal(moved(move(h, 'dlq', null, 1000, handle)).moved, 0);
    assert.equal(h.sm.visibleCount('dlq'), 2);
    assert.deepEqual(h.sm.runningMoveTasks(), []);
  });

  test('a task completes when nothing movable is left, and a task on an empty source completes at once', () => {
    const h = setup();
    deadLetter(h, 'a', ['x']);
    h.ok({ kind: 'sendMessages', queueName: 'dlq', delaySeconds: 0, bodies: [Buffer.from('direct')] });
    const handle = handleOf(start(h, 'dlq'));
    assert.equal(tasks(h, 'dlq')[0]!.toMove, 2);
    const r = moved(move(h, 'dlq', null, 1000, handle));
    assert.deepEqual({ moved: r.moved, stayed: r.stayed, status: r.task?.status }, { moved: 1, stayed: 1, status: 'COMPLETED' });
    moved(move(h, 'dlq', 'other'));
    const second = start(h, 'dlq');
    assert.ok(second.ok && second.kind === 'startMoveTask');
    assert.equal(second.task.status, 'COMPLETED');
  });

  test('cancel: the task stops, and moves proposed before do nothing', () => {
    const h = setup();
    deadLetter(h, 'a', ['x', 'y']);
    const handle = handleOf(start(h, 'dlq', 'other'));
    assert.equal(moved(move(h, 'dlq', null, 1, handle)).moved, 1);
    const c = h.run({ kind: 'cancelMoveTask', taskHandle: handle });
    assert.ok(c.ok && c.kind === 'cancelMoveTask');
    assert.deepEqual({ status: c.task.status, movedCount: c.task.movedCount }, { status: 'CANCELLED', movedCount: 1 });
    assert.equal(moved(move(h, 'dlq', null, 1, handle)).moved, 0);
    assert.equal(h.sm.visibleCount('other'), 1, 'the task destination applied');
    assert.equal(errorOf(h.run({ kind: 'cancelMoveTask', taskHandle: handle })), 'moveTaskNotRunning');
    assert.equal(errorOf(h.run({ kind: 'cancelMoveTask', taskHandle: 'move-zz' })), 'moveTaskNotExist');
    assert.equal(errorOf(move(h, 'dlq', null, 1, 'move-zz')), 'moveTaskNotExist');
    handleOf(start(h, 'dlq'));
  });

  test('a task fails when its destination is deleted', () => {
    const h = setup();
    deadLetter(h, 'a', ['x', 'y']);
    const handle = handleOf(start(h, 'dlq', 'other'));
    h.ok({ kind: 'deleteQueue', queueName: 'other' });
    const [t] = tasks(h, 'dlq');
    assert.deepEqual({ status: t!.status, failureReason: t!.failureReason }, { status: 'FAILED', failureReason: 'the destination queue was deleted' });
    assert.equal(moved(move(h, 'dlq', null, 10, handle)).moved, 0);
    assert.equal(h.sm.visibleCount('dlq'), 2);
  });

  test('refused: a source that is not a dead-letter queue, missing queues, a destination equal to the source', () => {
    const h = setup();
    h.ok({ kind: 'sendMessages', queueName: 'other', delaySeconds: 0, bodies: [Buffer.from('x')] });
    assert.equal(errorOf(start(h, 'other', 'a')), 'moveSourceNotDlq');
    assert.equal(errorOf(start(h, 'nope')), 'queueNotExist');
    assert.equal(errorOf(start(h, 'dlq', 'nope')), 'queueNotExist');
    assert.equal(errorOf(start(h, 'dlq', 'dlq')), 'moveSameQueue');
    assert.equal(errorOf(h.sm.listMoveTasks('nope') as CommandResult), 'queueNotExist');
    assert.deepEqual(tasks(h, 'dlq'), []);
  });

  test('at most ten tasks are kept per source, most recent first', () => {
    const h = setup();
    const handles: string[] = [];
    for (let k = 0; k < LIMITS.moveTasksPerQueueMax + 3; k++) {
      deadLetter(h, 'a', [`m${k}`]);
      const handle = handleOf(start(h, 'dlq', 'other'));
      handles.push(handle);
      moved(move(h, 'dlq', 'other', 1000, handle));
    }
    const list = tasks(h, 'dlq');
    assert.equal(list.length, LIMITS.moveTasksPerQueueMax);
    assert.deepEqual(
      list.map((t) => t.taskHandle),
      handles.slice(-LIMITS.moveTasksPerQueueMax).reverse(),
    );
    assert.ok(list.every((t) => t.status === 'COMPLETED' && t.movedCount === 1));
  });

  test('a snapshot taken mid-task restores to the same results and bytes', () => {
    const h = setup();
    deadLetter(h, 'a', Array.from({ length: 40 }, (_, k) => `a${k}`));
    deadLetter(h, 'b', Array.from({ length: 10 }, (_, k) => `b${k}`));
    const handle = handleOf(start(h, 'dlq', null, 5));
    moved(move(h, 'dlq', null, 7, handle));
    const snap = h.sm.snapshot();
    const twin = new BrokerHarness();
    twin.sm = QueueStateMachine.restore(snap);
    twin.index = h.index;
    twin.timeMs = h.timeMs;
    for (const [k, p] of h.payloads) twin.payloads.set(k, p);
    assert.deepEqual(twin.sm.snapshot(), snap, 'a restore snapshots to the same bytes');
    const script = (x: BrokerHarness): unknown[] => {
      const out: unknown[] = [];
      out.push(move(x, 'dlq', null, 20, handle));
      x.advance(1000);
      out.push(x.run({ kind: 'receiveMessages', queueName: 'a', numOfMsg: 16, seed: 5 }));
      out.push(move(x, 'dlq', null, 1000, handle));
      out.push(x.sm.listMoveTasks('dlq'), x.sm.runningMoveTasks());
      out.push(drain(x, 'b'));
      return out;
    };
    assert.deepEqual(script(twin), script(h));
    assert.deepEqual(twin.sm.snapshot(), h.sm.snapshot());
    assert.equal(tasks(h, 'dlq')[0]!.status, 'COMPLETED');
  });
});

describe('redrive commands in the log', () => {
  test('encode and decode', () => {
    const cmds: Command[] = [
      { kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: null, maxMessages: 1000 },
      { kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: 'x', maxMessages: 1, taskHandle: 'move-1z' },
      { kind: 'startMoveTask', sourceQueue: 'dlq', destinationQueue: null, maxPerSecond: null },
      { kind: 'startMoveTask', sourceQueue: 'dlq', destinationQueue: 'x', maxPerSecond: 500 },
      { kind: 'cancelMoveTask', taskHandle: 'move-1z' },
    ];
    for (const c of cmds) {
      const { payload, metaLen } = encodeCommand(c);
      assert.deepEqual(decodeCommand(payload, metaLen), c);
    }
  });

  test('the leader refuses counts and rates out of range', () => {
    assert.throws(() => encodeCommand({ kind: 'moveMessages', sourceQueue: 'd', destinationQueue: null, maxMessages: LIMITS.moveBatchMax + 1 }));
    assert.throws(() => encodeCommand({ kind: 'moveMessages', sourceQueue: 'd', destinationQueue: null, maxMessages: 0 }));
    assert.throws(() => encodeCommand({ kind: 'startMoveTask', sourceQueue: 'd', destinationQueue: null, maxPerSecond: 0 }));
    assert.throws(() => encodeCommand({ kind: 'startMoveTask', sourceQueue: 'd', destinationQueue: null, maxPerSecond: LIMITS.moveMaxPerSecondMax + 1 }));
  });
});

void test('FIFO dead letters move back in order within their groups, keeping them; a group with a message in flight stays; FIFO and standard do not mix', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'dlq.fifo', attrs: { sqs: { fifo: true } } });
  h.ok({ kind: 'createQueue', queueName: 'src.fifo', attrs: { sqs: { fifo: true }, deadLetterPolicy: { deadLetterQueue: 'dlq.fifo', policy: 0, maxReceiveCount: 1 } } });
  h.ok({ kind: 'createQueue', queueName: 'plain', attrs: {} });
  const bodies = ['a1', 'b1', 'a2', 'c1', 'b2'];
  h.ok({ kind: 'sendMessages', queueName: 'src.fifo', delaySeconds: null, bodies: bodies.map((b) => Buffer.from(b)), options: bodies.map((b) => ({ groupId: b[0]! })) });
  // Received once, made visible again, then moved to the DLQ by the next receive (maxReceiveCount 1).
  const first = h.ok({ kind: 'receiveMessages', queueName: 'src.fifo', numOfMsg: 10, seed: 1 }).messages;
  h.ok({ kind: 'changeVisibility', queueName: 'src.fifo', entries: first.map((m) => ({ receiptHandle: m.receiptHandle, visibilitySeconds: 0 })) });
  assert.deepEqual(h.ok({ kind: 'receiveMessages', queueName: 'src.fifo', numOfMsg: 10, seed: 2 }).messages, []);
  // Group c's message is taken by a consumer of the DLQ: it stays, with nothing behind it.
  const c = h.ok({ kind: 'receiveMessages', queueName: 'dlq.fifo', numOfMsg: 1, seed: 3 }).messages;
  assert.equal(c.length, 1);
  assert.deepEqual(h.run({ kind: 'moveMessages', sourceQueue: 'dlq.fifo', destinationQueue: 'plain', maxMessages: 10 }), { ok: false, error: 'moveFifo' });
  assert.deepEqual(h.run({ kind: 'moveMessages', sourceQueue: 'plain', destinationQueue: 'src.fifo', maxMessages: 10 }), { ok: false, error: 'moveFifo' });
  const moved = h.ok({ kind: 'moveMessages', sourceQueue: 'dlq.fifo', destinationQueue: null, maxMessages: 10 });
  const inFlightGroup = c[0]!.groupId!;
  const movedBodies = bodies.filter((b) => b[0] !== inFlightGroup);
  assert.equal(moved.moved, movedBodies.length);
  assert.equal(moved.stayed, bodies.length - movedBodies.length - 1);
  const back = h.ok({ kind: 'receiveMessages', queueName: 'src.fifo', numOfMsg: 10, seed: 4 }).messages;
  const got = back.map((m) => [m.groupId, h.body(m.body).toString()]);
  for (const g of new Set(movedBodies.map((b) => b[0]!))) {
    assert.deepEqual(
      got.filter(([gid]) => gid === g).map(([, b]) => b),
      movedBodies.filter((b) => b[0] === g),
      `group ${g} in send order, under its group id`,
    );
  }
  assert.equal(got.length, movedBodies.length);
});
