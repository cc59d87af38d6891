// Message life cycle in the queue state machine: send, receive, delete, visibility, delay,
// retention, rewind, dead letters, heap limit, quarantine (cmq-api.md §2, §4).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32c } from '../../src/broker/checksum';
import { encodeCommand } from '../../src/broker/codec';
import type { Command, CommandResult, QueueAttributes, QueueAttributesInput, ReceivedMessage } from '../../src/broker/commands';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { RECEIPT_HANDLE_RE } from '../../src/protocol/names';

const T0 = 1_700_000_000_000;

class Harness {
  sm = new QueueStateMachine();
  index = 0;
  timeMs = T0;
  payloads = new Map<number, Uint8Array>();
  seed = 1;

  run(cmd: Command): CommandResult {
    const { payload, metaLen } = encodeCommand(cmd);
    this.index++;
    this.payloads.set(this.index, payload);
    return this.sm.apply(this.index, this.timeMs, payload, metaLen);
  }

  advance(ms: number): void {
    this.timeMs += ms;
    this.ok(this.run({ kind: 'tick' }));
  }

  ok<R extends CommandResult>(r: R): Extract<R, { ok: true }> {
    if (!r.ok) assert.fail(`expected success, got ${r.error}`);
    return r as Extract<R, { ok: true }>;
  }

  create(queueName: string, attrs: QueueAttributesInput = {}): void {
    this.ok(this.run({ kind: 'createQueue', queueName, attrs }));
  }

  set(queueName: string, attrs: QueueAttributesInput): CommandResult {
    return this.run({ kind: 'setQueueAttributes', queueName, attrs });
  }

  send(queueName: string, bodies: string[], delaySeconds = 0): string[] {
    const r = this.run({ kind: 'sendMessages', queueName, delaySeconds, bodies: bodies.map((b) => Buffer.from(b)) });
    if (!r.ok || r.kind !== 'sendMessages') return assert.fail(`send failed: ${JSON.stringify(r)}`);
    return r.msgIds;
  }

  receive(queueName: string, numOfMsg = 16): ReceivedMessage[] {
    const r = this.run({ kind: 'receiveMessages', queueName, numOfMsg, seed: this.seed++ });
    if (!r.ok || r.kind !== 'receiveMessages') return assert.fail(`receive failed: ${JSON.stringify(r)}`);
    return r.messages;
  }

  /** Indexes (in request order) of the handles that failed. */
  del(queueName: string, receiptHandles: string[]): number[] {
    const r = this.run({ kind: 'deleteMessages', queueName, receiptHandles });
    if (!r.ok || r.kind !== 'deleteMessages') return assert.fail(`delete failed: ${JSON.stringify(r)}`);
    for (const f of r.failures) assert.equal(f.error, 'receiptHandleInvalid');
    return r.failures.map((f) => f.index);
  }

  attrs(queueName: string): QueueAttributes {
    const a = this.sm.getQueueAttributes(queueName);
    assert.ok(a, `queue ${queueName} missing`);
    return a;
  }

  counts(queueName: string): [number, number, number, number] {
    const a = this.attrs(queueName);
    return [a.activeMsgNum, a.inactiveMsgNum, a.delayMsgNum, a.rewindMsgNum];
  }

  body(m: ReceivedMessage): string {
    const p = this.payloads.get(m.body.entryIndex);
    assert.ok(p);
    return Buffer.from(p.subarray(m.body.offset, m.body.offset + m.body.length)).toString();
  }

  bodies(ms: ReceivedMessage[]): string[] {
    return ms.map((m) => this.body(m));
  }
}

function errorOf(r: CommandResult): string {
  return r.ok ? 'ok' : r.error;
}

describe('send and receive', () => {
  test('a sent message is received once with full metadata and a body reference into its entry', () => {
    const h = new Harness();
    h.create('q');
    const ids = h.send('q', ['hello', 'world!']);
    const sendIndex = h.index;
    assert.deepEqual(ids, [String(sendIndex * 16), String(sendIndex * 16 + 1)]);
    h.timeMs += 2500;
    const got = h.receive('q', 16);
    assert.equal(got.length, 2);
    assert.deepEqual(h.bodies(got), ['hello', 'world!']);
    const [m] = got;
    assert.ok(m);
    assert.equal(m.msgId, ids[0]);
    assert.equal(m.dequeueCount, 1);
    assert.equal(m.enqueueTime, Math.floor(T0 / 1000));
    assert.equal(m.firstDequeueTime, Math.floor((T0 + 2500) / 1000));
    assert.equal(m.nextVisibleTime, Math.floor((T0 + 2500 + 30_000) / 1000));
    assert.match(m.receiptHandle, RECEIPT_HANDLE_RE);
    assert.equal(m.body.entryIndex, sendIndex);
    const p = h.payloads.get(sendIndex)!;
    assert.equal(m.body.crc32c, crc32c(p.subarray(m.body.offset, m.body.offset + m.body.length)));
    assert.notEqual(got[0]!.receiptHandle, got[1]!.receiptHandle);
    assert.deepEqual(h.receive('q'), [], 'nothing else is visible');
    assert.deepEqual(h.counts('q'), [0, 2, 0, 0]);
  });

  test('receive returns the oldest first and at most numOfMsg', () => {
    const h = new Harness();
    h.create('q');
    h.send('q', ['a', 'b']);
    h.send('q', ['c']);
    h.send('q', ['d', 'e']);
    assert.deepEqual(h.bodies(h.receive('q', 3)), ['a', 'b', 'c']);
    assert.deepEqual(h.bodies(h.receive('q', 1)), ['d']);
    assert.equal(h.sm.visibleCount('q'), 1);
    assert.deepEqual(h.bodies(h.receive('q', 16)), ['e']);
    assert.equal(h.sm.visibleCount('q'), 0);
  });

  test('an empty queue gives an empty list, not an error', () => {
    const h = new Harness();
    h.create('q');
    assert.deepEqual(h.receive('q'), []);
  });

  test('message operations on a missing queue fail with queueNotExist', () => {
    const h = new Harness();
    const cmds: Command[] = [
      { kind: 'sendMessages', queueName: 'nope', delaySeconds: 0, bodies: [Buffer.from('x')] },
      { kind: 'receiveMessages', queueName: 'nope', numOfMsg: 1, seed: 1 },
      { kind: 'deleteMessages', queueName: 'nope', receiptHandles: ['1-0-1-1'] },
      { kind: 'rewindQueue', queueName: 'nope', startConsumeTimeSec: 0 },
    ];
    for (const c of cmds) assert.equal(errorOf(h.run(c)), 'queueNotExist', c.kind);
  });

  test('a body larger than maxMsgSize rejects the whole batch', () => {
    const h = new Harness();
    h.create('q', { maxMsgSize: 1024 });
    const r = h.run({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.alloc(10), Buffer.alloc(1025)] });
    assert.equal(errorOf(r), 'msgTooLarge');
    assert.deepEqual(h.counts('q'), [0, 0, 0, 0]);
    h.run({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.alloc(1024)] });
    assert.deepEqual(h.counts('q'), [1, 0, 0, 0]);
  });

  test('maxMsgHeapNum counts visible, in-flight and delayed messages; a batch that would exceed it is refused whole', () => {
    const h = new Harness();
    h.create('q', { maxMsgHeapNum: 3, rewindSeconds: 600 });
    h.send('q', ['a']);
    h.send('q', ['b'], 10);
    h.receive('q', 1);
    assert.equal(errorOf(h.run({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('c'), Buffer.from('d')] })), 'heapFull');
    assert.deepEqual(h.counts('q'), [0, 1, 1, 0]);
    h.send('q', ['c']);
    assert.equal(errorOf(h.run({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('d')] })), 'heapFull');
    // Deleting frees room even though the message stays in the rewind area.
    const [m] = h.receive('q', 1);
    assert.deepEqual(h.del('q', [m!.receiptHandle]), []);
    assert.deepEqual(h.send('q', ['d']).length, 1);
  });
});

describe('receipt handles and visibility', () => {
  test('a handle deletes the message once; a second delete fails', () => {
    const h = new Harness();
    h.create('q');
    h.send('q', ['a']);
    const [m] = h.receive('q');
    assert.deepEqual(h.del('q', [m!.receiptHandle]), []);
    assert.deepEqual(h.counts('q'), [0, 0, 0, 0]);
    assert.deepEqual(h.del('q', [m!.receiptHandle]), [0]);
    h.advance(60_000);
    assert.deepEqual(h.receive('q'), [], 'a deleted message never comes back');
  });

  test('after the visibility timeout the message is visible again and the old handle is invalid', () => {
    const h = new Harness();
    h.create('q', { visibilityTimeout: 5 });
    h.send('q', ['a']);
    const [first] = h.receive('q');
    h.advance(4_999);
    assert.deepEqual(h.receive('q'), [], 'still in flight 1 ms before it ends');
    h.advance(1);
    assert.deepEqual(h.counts('q'), [1, 0, 0, 0]);
    assert.deepEqual(h.del('q', [first!.receiptHandle]), [0], 'handle expired with the visibility timeout');
    const [second] = h.receive('q');
    assert.equal(second!.dequeueCount, 2);
    assert.equal(second!.firstDequeueTime, first!.firstDequeueTime);
    assert.equal(second!.msgId, first!.msgId);
    assert.notEqual(second!.receiptHandle, first!.receiptHandle);
  });

  test('only the latest handle is valid: a superseded one fails even while the message is in flight', () => {
    const h = new Harness();
    h.create('q', { visibilityTimeout: 1 });
    h.send('q', ['a']);
    const [first] = h.receive('q');
    h.advance(1000);
    const [second] = h.receive('q');
    assert.deepEqual(h.del('q', [first!.receiptHandle]), [0]);
    assert.deepEqual(h.counts('q'), [0, 1, 0, 0]);
    assert.deepEqual(h.del('q', [second!.receiptHandle]), []);
  });

  test('the same seed on a later receive still gives a different handle', () => {
    const h = new Harness();
    h.create('q', { visibilityTimeout: 1 });
    h.send('q', ['a']);
    const first = h.run({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 1, seed: 7 });
    h.advance(1000);
    const second = h.run({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 1, seed: 7 });
    assert.ok(first.ok && first.kind === 'receiveMessages' && second.ok && second.kind === 'receiveMessages');
    const a = first.messages[0]!.receiptHandle;
    const b = second.messages[0]!.receiptHandle;
    assert.notEqual(a, b);
    assert.deepEqual(h.del('q', [a]), [0]);
  });

  test('handles are unguessable: the leader-chosen seed changes every token', () => {
    const tokens = new Set<string>();
    for (const seed of [1, 2, 3, 0xffff_ffff]) {
      const h = new Harness();
      h.create('q');
      h.send('q', ['a', 'b']);
      const r = h.run({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 2, seed });
      assert.ok(r.ok && r.kind === 'receiveMessages');
      for (const m of r.messages) tokens.add(m.receiptHandle.split('-')[3]!);
    }
    assert.equal(tokens.size, 8);
  });

  test('a batch delete deletes the valid handles and reports the others by position', () => {
    const h = new Harness();
    h.create('q');
    h.create('other');
    h.send('q', ['a', 'b', 'c']);
    h.send('other', ['x']);
    const ms = h.receive('q');
    const [o] = h.receive('other');
    const failures = h.del('q', [ms[0]!.receiptHandle, 'garbage', o!.receiptHandle, ms[2]!.receiptHandle, ms[0]!.receiptHandle]);
    assert.deepEqual(failures, [1, 2, 4]);
    assert.deepEqual(h.counts('q'), [0, 1, 0, 0]);
    assert.deepEqual(h.counts('other'), [0, 1, 0, 0]);
  });

  test('forged handles fail: wrong token, wrong dequeue count, non-canonical numbers', () => {
    const h = new Harness();
    h.create('q');
    h.send('q', ['a']);
    const [m] = h.receive('q');
    const [qn, seq, dc, token] = m!.receiptHandle.split('-');
    const forged = [
      `${qn}-${seq}-${dc}-${(Number(token) + 1) % 2 ** 32}`,
      `${qn}-${seq}-${Number(dc) + 1}-${token}`,
      `0${qn}-${seq}-${dc}-${token}`,
      `${qn}-${seq}-${dc}`,
      `${qn}-${Number(seq) + 1}-${dc}-${token}`,
    ];
    assert.deepEqual(h.del('q', forged), [0, 1, 2, 3, 4]);
    assert.deepEqual(h.del('q', [m!.receiptHandle]), []);
  });

  test('handles of a deleted queue fail on a re-created queue of the same name', () => {
    const h = new Harness();
    h.create('q');
    h.send('q', ['a']);
    const [m] = h.receive('q');
    h.ok(h.run({ kind: 'deleteQueue', queueName: 'q' }));
    h.create('q');
    h.send('q', ['b']);
    h.receive('q');
    assert.deepEqual(h.del('q', [m!.receiptHandle]), [0]);
  });

  test('a visibilityTimeout change affects later receives only', () => {
    const h = new Harness();
    h.create('q', { visibilityTimeout: 10 });
    h.send('q', ['a', 'b']);
    const [a] = h.receive('q', 1);
    h.ok(h.set('q', { visibilityTimeout: 100 }));
    const [b] = h.receive('q', 1);
    assert.equal(a!.nextVisibleTime, Math.floor(T0 / 1000) + 10);
    assert.equal(b!.nextVisibleTime, Math.floor(T0 / 1000) + 100);
    h.advance(10_000);
    assert.deepEqual(h.counts('q'), [1, 1, 0, 0]);
    assert.equal(h.sm.nextDeadlineMs(), T0 + 100_000);
  });

  test('nextDeadlineMs reports the next visibility end and delay end; ticks cost nothing when nothing is due', () => {
    const h = new Harness();
    assert.equal(h.sm.nextDeadlineMs(), undefined);
    h.create('q', { visibilityTimeout: 20, msgRetentionSeconds: 1000 });
    h.send('q', ['a']);
    assert.equal(h.sm.nextDeadlineMs(), T0 + 1_000_000, 'retention');
    h.send('q', ['b'], 5);
    assert.equal(h.sm.nextDeadlineMs(), T0 + 5000);
    h.receive('q');
    assert.equal(h.sm.nextDeadlineMs(), T0 + 5000);
    h.advance(5000);
    assert.equal(h.sm.nextDeadlineMs(), T0 + 20_000);
  });

  test('entry time must never go back and indexes must grow', () => {
    const h = new Harness();
    h.create('q');
    const { payload, metaLen } = encodeCommand({ kind: 'tick' });
    assert.throws(() => h.sm.apply(h.index + 1, h.timeMs - 1, payload, metaLen), /invariant/);
    assert.throws(() => h.sm.apply(h.index, h.timeMs, payload, metaLen), /invariant/);
    assert.equal(h.sm.lastAppliedIndex, 1);
    assert.equal(h.sm.lastTimeMs, T0);
  });
});

describe('delay and retention', () => {
  test('a delayed message is invisible until its delay ends, and keeps its send time as enqueue time', () => {
    const h = new Harness();
    h.create('q');
    h.send('q', ['late'], 10);
    h.send('q', ['now']);
    assert.deepEqual(h.counts('q'), [1, 0, 1, 0]);
    assert.deepEqual(h.bodies(h.receive('q')), ['now']);
    h.advance(9_999);
    assert.deepEqual(h.receive('q'), []);
    h.advance(1);
    const [m] = h.receive('q');
    assert.equal(h.body(m!), 'late');
    assert.equal(m!.enqueueTime, Math.floor(T0 / 1000));
    assert.deepEqual(h.counts('q'), [0, 2, 0, 0]);
  });

  test('retention removes messages in every state, including the rewind area', () => {
    const h = new Harness();
    h.create('q', { msgRetentionSeconds: 100, rewindSeconds: 100, visibilityTimeout: 1000 });
    h.send('q', ['inflight', 'deleted', 'visible']);
    h.send('q', ['delayed'], 500); // longer than retention: expires before it is ever due
    const [b, c] = h.receive('q', 2);
    h.del('q', [c!.receiptHandle]);
    h.timeMs += 1000;
    h.send('q', ['young']);
    assert.deepEqual(h.counts('q'), [2, 1, 1, 1]);
    assert.equal(h.attrs('q').minMsgTime, Math.floor(T0 / 1000));
    h.advance(99_000 - 1);
    assert.deepEqual(h.counts('q'), [2, 1, 1, 1]);
    h.advance(1);
    assert.deepEqual(h.counts('q'), [1, 0, 0, 0]);
    assert.equal(h.attrs('q').minMsgTime, Math.floor((T0 + 1000) / 1000));
    assert.deepEqual(h.del('q', [b!.receiptHandle]), [0]);
    assert.deepEqual(h.bodies(h.receive('q')), ['young']);
    h.advance(100_000);
    assert.deepEqual(h.counts('q'), [0, 0, 0, 0]);
    assert.equal(h.attrs('q').minMsgTime, 0);
    assert.deepEqual(h.sm.liveEntryIndexes(), []);
  });

  test('a shorter retention applies at once to messages already queued', () => {
    const h = new Harness();
    h.create('q', { msgRetentionSeconds: 1000 });
    h.send('q', ['old']);
    h.timeMs += 200_000;
    h.send('q', ['new']);
    h.ok(h.set('q', { msgRetentionSeconds: 100 }));
    assert.deepEqual(h.counts('q'), [1, 0, 0, 0]);
    assert.deepEqual(h.bodies(h.receive('q')), ['new']);
  });
});

describe('rewind', () => {
  test('rewind needs rewindSeconds > 0 and a start time inside [now - rewindSeconds, now]', () => {
    const h = new Harness();
    h.create('off');
    h.create('on', { rewindSeconds: 60 });
    const now = Math.floor(T0 / 1000);
    assert.equal(errorOf(h.run({ kind: 'rewindQueue', queueName: 'off', startConsumeTimeSec: now })), 'rewindDisabled');
    assert.equal(errorOf(h.run({ kind: 'rewindQueue', queueName: 'on', startConsumeTimeSec: now - 61 })), 'rewindTimeInvalid');
    assert.equal(errorOf(h.run({ kind: 'rewindQueue', queueName: 'on', startConsumeTimeSec: now + 1 })), 'rewindTimeInvalid');
    h.ok(h.run({ kind: 'rewindQueue', queueName: 'on', startConsumeTimeSec: now - 60 }));
    h.ok(h.run({ kind: 'rewindQueue', queueName: 'on', startConsumeTimeSec: now }));
  });

  test('rewind redelivers deleted and in-flight messages produced at or after T, in production order', () => {
    const h = new Harness();
    h.create('q', { rewindSeconds: 3600 });
    h.send('q', ['before']);
    const t1 = h.timeMs + 10_000;
    h.timeMs = t1;
    h.send('q', ['m1', 'm2']);
    h.timeMs += 1000;
    h.send('q', ['m3', 'm4']);
    const first = h.receive('q', 4); // before, m1, m2, m3 ; m4 stays visible
    assert.deepEqual(h.del('q', first.slice(0, 3).map((m) => m.receiptHandle)), []);
    assert.deepEqual(h.counts('q'), [1, 1, 0, 3]);
    h.timeMs += 5000;
    h.ok(h.run({ kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: Math.floor(t1 / 1000) }));
    assert.deepEqual(h.counts('q'), [4, 0, 0, 1], "'before' stays deleted");
    assert.deepEqual(h.del('q', [first[3]!.receiptHandle]), [0], 'in-flight handle invalidated by rewind');
    const again = h.receive('q');
    assert.deepEqual(h.bodies(again), ['m1', 'm2', 'm3', 'm4']);
    assert.deepEqual(
      again.map((m) => m.dequeueCount),
      [2, 2, 2, 1],
    );
    assert.equal(again[0]!.firstDequeueTime, first[1]!.firstDequeueTime);
    assert.equal(again[0]!.msgId, first[1]!.msgId);
  });

  test('minMsgTime counts rewound messages as undeleted again', () => {
    const h = new Harness();
    h.create('q', { rewindSeconds: 600 });
    h.send('q', ['a']);
    h.timeMs += 5000;
    h.send('q', ['b']);
    const [a] = h.receive('q', 1);
    h.del('q', [a!.receiptHandle]);
    assert.equal(h.attrs('q').minMsgTime, Math.floor(T0 / 1000) + 5);
    h.ok(h.run({ kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: Math.floor(T0 / 1000) }));
    assert.equal(h.attrs('q').minMsgTime, Math.floor(T0 / 1000));
  });

  test('without rewind a deleted message is gone; rewindSeconds=0 drops the rewind area at once', () => {
    const h = new Harness();
    h.create('q', { rewindSeconds: 600 });
    h.send('q', ['a', 'b']);
    const ms = h.receive('q');
    h.del('q', ms.map((m) => m.receiptHandle));
    assert.deepEqual(h.counts('q'), [0, 0, 0, 2]);
    assert.equal(h.sm.liveEntryIndexes().length, 1);
    const r = h.ok(h.set('q', { rewindSeconds: 0 }));
    assert.ok(r.kind === 'setQueueAttributes');
    assert.equal(r.attributes.rewindMsgNum, 0);
    assert.deepEqual(h.sm.liveEntryIndexes(), []);
    h.ok(h.set('q', { rewindSeconds: 600 }));
    h.ok(h.run({ kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: Math.floor(T0 / 1000) }));
    assert.deepEqual(h.receive('q'), []);
  });
});

describe('dead letters', () => {
  test('policy 0: a receive past maxReceiveCount moves the message to the DLQ instead of delivering it', () => {
    const h = new Harness();
    h.create('dlq');
    h.create('src', { visibilityTimeout: 1, deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 2 } });
    const [id] = h.send('src', ['poison']);
    h.send('src', ['fine']);
    assert.equal(h.receive('src', 1)[0]!.dequeueCount, 1);
    h.advance(1000);
    assert.equal(h.receive('src', 1)[0]!.dequeueCount, 2);
    h.advance(1000);
    const got = h.receive('src', 1);
    assert.deepEqual(h.bodies(got), ['fine'], 'the poison message is skipped over');
    assert.deepEqual(h.counts('src'), [0, 1, 0, 0]);
    assert.deepEqual(h.counts('dlq'), [1, 0, 0, 0]);
    assert.equal(h.sm.stats().deadLetterMoves, 1);
    h.timeMs += 3000;
    const [d] = h.receive('dlq');
    assert.equal(d!.msgId, id);
    assert.equal(h.body(d!), 'poison');
    assert.equal(d!.dequeueCount, 1);
    assert.equal(d!.enqueueTime, Math.floor((T0 + 2000) / 1000), 'enqueue time in the DLQ is the move time');
    assert.equal(d!.firstDequeueTime, Math.floor((T0 + 5000) / 1000));
  });

  test('policy 1: a message not deleted within maxTimeToLive of enqueue moves, whatever its state', () => {
    const h = new Harness();
    h.create('dlq');
    h.create('src', { visibilityTimeout: 1000, rewindSeconds: 600, deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 1, maxTimeToLive: 300 } });
    h.send('src', ['inflight', 'deleted', 'visible']);
    h.send('src', ['delayed'], 1000);
    const ms = h.receive('src', 2);
    h.del('src', [ms[1]!.receiptHandle]);
    h.timeMs += 100_000;
    h.send('src', ['young']);
    assert.equal(h.sm.nextDeadlineMs(), T0 + 300_000);
    h.advance(200_000 - 1);
    assert.deepEqual(h.counts('dlq'), [0, 0, 0, 0]);
    h.advance(1);
    assert.deepEqual(h.counts('src'), [1, 0, 0, 1]);
    assert.deepEqual(h.counts('dlq'), [3, 0, 0, 0]);
    assert.deepEqual(h.del('src', [ms[0]!.receiptHandle]), [0]);
    assert.deepEqual(h.bodies(h.receive('dlq')), ['inflight', 'visible', 'delayed']);
  });

  test('setting policy 1 on a queue moves its already-expired messages at once', () => {
    const h = new Harness();
    h.create('dlq');
    h.create('src');
    h.send('src', ['a']);
    h.timeMs += 400_000;
    h.ok(h.set('src', { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 1, maxTimeToLive: 300 } }));
    assert.deepEqual(h.counts('dlq'), [1, 0, 0, 0]);
  });

  test('moves ignore the DLQ heap limit', () => {
    const h = new Harness();
    h.create('dlq', { maxMsgHeapNum: 1 });
    h.create('src', { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 1, maxTimeToLive: 300 } });
    h.send('dlq', ['x']);
    h.send('src', ['a', 'b']);
    h.advance(300_000);
    assert.deepEqual(h.counts('dlq'), [3, 0, 0, 0]);
  });

  test('after unbinding, messages are no longer moved', () => {
    const h = new Harness();
    h.create('dlq');
    h.create('src', { visibilityTimeout: 1, deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1 } });
    h.send('src', ['a']);
    h.receive('src');
    h.ok(h.run({ kind: 'unbindDeadLetter', queueName: 'src' }));
    h.advance(1000);
    assert.equal(h.receive('src')[0]!.dequeueCount, 2);
    assert.deepEqual(h.counts('dlq'), [0, 0, 0, 0]);
  });
});

describe('quarantine and liveness', () => {
  test('a quarantined message is never delivered again and its entry is no longer live', () => {
    const h = new Harness();
    h.create('q', { visibilityTimeout: 1 });
    h.send('q', ['bad']);
    const badEntry = h.index;
    h.send('q', ['good']);
    const goodEntry = h.index;
    assert.deepEqual(h.sm.liveEntryIndexes(), [badEntry, goodEntry]);
    const [bad] = h.receive('q', 1);
    h.ok(h.run({ kind: 'quarantineMessage', queueName: 'q', queueNumber: bad!.queueNumber, seq: bad!.seq }));
    assert.equal(h.sm.stats().quarantined, 1);
    assert.deepEqual(h.sm.liveEntryIndexes(), [goodEntry]);
    assert.deepEqual(h.del('q', [bad!.receiptHandle]), [0]);
    h.advance(5000);
    assert.deepEqual(h.bodies(h.receive('q')), ['good']);
    // Repeats, wrong queue numbers and missing queues are ignored.
    h.ok(h.run({ kind: 'quarantineMessage', queueName: 'q', queueNumber: bad!.queueNumber, seq: bad!.seq }));
    h.ok(h.run({ kind: 'quarantineMessage', queueName: 'q', queueNumber: 99, seq: 1 }));
    h.ok(h.run({ kind: 'quarantineMessage', queueName: 'gone', queueNumber: 1, seq: 1 }));
    assert.equal(h.sm.stats().quarantined, 1);
  });

  test('liveEntryIndexes counts every queue, sorted and unique; deleting a queue frees its messages', () => {
    const h = new Harness();
    h.create('a');
    h.create('b');
    h.send('b', ['1', '2']);
    const e1 = h.index;
    h.send('a', ['3']);
    const e2 = h.index;
    h.send('b', ['4']);
    const e3 = h.index;
    assert.deepEqual(h.sm.liveEntryIndexes(), [e1, e2, e3]);
    assert.deepEqual(h.sm.stats().messages, { visible: 4, inFlight: 0, delayed: 0, rewind: 0 });
    h.ok(h.run({ kind: 'deleteQueue', queueName: 'b' }));
    assert.deepEqual(h.sm.liveEntryIndexes(), [e2]);
    assert.equal(h.sm.stats().queues, 1);
  });
});
