// Receive attempts in the state machine (SQS ReceiveRequestAttemptId, broker/receive-attempts.ts):
// a FIFO receive retried with the same attempt id gets the same messages under the same receipt
// handles while none of them was touched (deleted, received again, visibility changed), within
// five minutes, resetting their visibility and not counting the receive again; otherwise the
// retry is a fresh receive, which the id names from then on. A standard queue ignores the id.
// Then the bound, snapshots (round trip, older snapshots), the codec (old layouts, new field) and
// what a replica of the previous release is given.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeCommand, encodeCommand } from '../../src/broker/codec';
import type { Command, ReceivedMessage } from '../../src/broker/commands';
import { forOlderReplicas, olderReplicasCanApply } from '../../src/broker/compat';
import { ReceiveAttempts } from '../../src/broker/receive-attempts';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { LIMITS } from '../../src/protocol/limits';
import { BrokerHarness } from '../helpers/broker-harness';

const VISIBILITY_S = 30;

function fifo(name = 'f'): BrokerHarness {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: name, attrs: { visibilityTimeout: VISIBILITY_S, sqs: { fifo: true } } });
  return h;
}

/** Sends bodies named `<group><n>` (e.g. 'A1') to their group. */
function send(h: BrokerHarness, names: string[], queueName = 'f'): void {
  const fifoQueue = h.sm.getQueueAttributes(queueName)!.sqs.fifo;
  h.ok({
    kind: 'sendMessages',
    queueName,
    delaySeconds: null,
    bodies: names.map((n) => Buffer.from(n)),
    ...(fifoQueue ? { options: names.map((n) => ({ groupId: n.slice(0, 1) })) } : {}),
  });
}

let seed = 1;
function receive(h: BrokerHarness, n: number, attemptId?: string, extra: { visibilitySeconds?: number; queueName?: string } = {}): ReceivedMessage[] {
  const cmd: Command = { kind: 'receiveMessages', queueName: extra.queueName ?? 'f', numOfMsg: n, seed: seed++ };
  if (attemptId !== undefined) cmd.attemptId = attemptId;
  if (extra.visibilitySeconds !== undefined) cmd.visibilitySeconds = extra.visibilitySeconds;
  return h.ok(cmd).messages;
}

const names = (h: BrokerHarness, ms: ReceivedMessage[]): string[] => ms.map((m) => h.body(m.body).toString());
const handles = (ms: ReceivedMessage[]): string[] => ms.map((m) => m.receiptHandle);

void test('a retry with the same attempt id gets the same messages, receipt handles and bodies; the receive is not counted again; the groups stay locked', () => {
  const h = fifo();
  send(h, ['A1', 'A2', 'A3', 'B1']);
  const first = receive(h, 2, 'try-1');
  assert.deepEqual(names(h, first), ['A1', 'A2']);
  h.advance(1_000);
  // Another size of batch, as a retry may ask: the same answer still.
  const again = receive(h, 10, 'try-1');
  assert.deepEqual(handles(again), handles(first));
  assert.deepEqual(names(h, again), ['A1', 'A2']);
  assert.deepEqual(
    again.map((m) => [m.msgId, m.dequeueCount, m.groupId, m.sequenceNumber, m.firstDequeueMs, m.enqueueMs]),
    first.map((m) => [m.msgId, 1, 'A', m.sequenceNumber, m.firstDequeueMs, m.enqueueMs]),
  );
  // Group A is still locked: a receive without the id gets B's message only.
  assert.deepEqual(names(h, receive(h, 10)), ['B1']);
  // The handles delete.
  assert.deepEqual(h.ok({ kind: 'deleteMessages', queueName: 'f', receiptHandles: handles(again) }).failures, []);
  assert.deepEqual(names(h, receive(h, 10)), ['A3']);
});

void test('a retry resets the visibility timeout, as SQS does: in flight for the retry\'s visibility from the retry', () => {
  const h = fifo();
  send(h, ['A1', 'A2']);
  const first = receive(h, 1, 'vis');
  assert.equal(first[0]!.nextVisibleTime, Math.floor((h.timeMs + VISIBILITY_S * 1000) / 1000));
  h.advance(20_000);
  const again = receive(h, 1, 'vis');
  assert.deepEqual(handles(again), handles(first));
  assert.equal(again[0]!.nextVisibleTime, Math.floor((h.timeMs + VISIBILITY_S * 1000) / 1000));
  // Past the first receive's deadline, before the retry's: still in flight, group A still locked.
  h.advance(20_000);
  assert.deepEqual(receive(h, 10), []);
  // A retry with its own visibility: that one.
  const third = receive(h, 1, 'vis', { visibilitySeconds: 100 });
  assert.deepEqual(handles(third), handles(first));
  assert.equal(third[0]!.nextVisibleTime, Math.floor((h.timeMs + 100_000) / 1000));
  h.advance(99_000);
  assert.deepEqual(receive(h, 10), []);
  h.advance(1_000);
  const later = receive(h, 10);
  assert.deepEqual(names(h, later), ['A1', 'A2'], 'visible again once the retry\'s timeout ends');
  assert.equal(later[0]!.dequeueCount, 2);
});

void test('a retry after one of the messages was deleted is a fresh receive, and the id names the new answer', () => {
  const h = fifo();
  send(h, ['A1', 'A2', 'B1', 'B2']);
  const first = receive(h, 2, 'del');
  assert.deepEqual(names(h, first), ['A1', 'A2']);
  h.ok({ kind: 'deleteMessages', queueName: 'f', receiptHandles: [first[0]!.receiptHandle] });
  const fresh = receive(h, 10, 'del');
  assert.deepEqual(names(h, fresh), ['B1', 'B2'], 'A2 still holds group A');
  const again = receive(h, 10, 'del');
  assert.deepEqual(handles(again), handles(fresh));
});

void test('a retry after a visibility change, or after the visibility ended, is a fresh receive', () => {
  const h = fifo();
  send(h, ['A1', 'B1']);
  const first = receive(h, 1, 'chg');
  assert.deepEqual(names(h, first), ['A1']);
  assert.deepEqual(h.ok({ kind: 'changeVisibility', queueName: 'f', entries: [{ receiptHandle: first[0]!.receiptHandle, visibilitySeconds: 60 }] }).failures, []);
  const fresh = receive(h, 1, 'chg');
  assert.deepEqual(names(h, fresh), ['B1'], 'not A1 again: its visibility changed');

  const h2 = fifo();
  send(h2, ['A1']);
  const a = receive(h2, 1, 'late');
  h2.advance(VISIBILITY_S * 1000);
  const b = receive(h2, 1, 'late');
  assert.deepEqual(names(h2, b), ['A1']);
  assert.notEqual(b[0]!.receiptHandle, a[0]!.receiptHandle, 'received again, under a new handle');
  assert.equal(b[0]!.dequeueCount, 2);
  // The message received again under another id: the first id no longer matches it.
  const h3 = fifo();
  send(h3, ['A1']);
  const c = receive(h3, 1, 'one');
  h3.advance(VISIBILITY_S * 1000);
  const d = receive(h3, 1, 'two');
  assert.notEqual(d[0]!.receiptHandle, c[0]!.receiptHandle);
  assert.deepEqual(receive(h3, 1, 'one'), [], 'A1 is in flight under attempt two');
});

void test('an attempt id is good for five minutes after the receive', () => {
  const h = fifo();
  send(h, ['A1', 'B1']);
  const first = receive(h, 1, 'window', { visibilitySeconds: 900 });
  h.advance(LIMITS.receiveAttemptWindowMs - 1);
  assert.deepEqual(handles(receive(h, 1, 'window', { visibilitySeconds: 900 })), handles(first));
  // Retries do not extend the window: it runs from the first receive.
  h.advance(1);
  assert.deepEqual(names(h, receive(h, 1, 'window')), ['B1'], 'the id has expired: a fresh receive');
});

void test('an empty answer is not remembered: its retry receives what came since', () => {
  const h = fifo();
  assert.deepEqual(receive(h, 1, 'empty'), []);
  send(h, ['A1']);
  assert.deepEqual(names(h, receive(h, 1, 'empty')), ['A1']);
});

void test('a standard queue ignores the attempt id, as SQS does', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 's', attrs: { visibilityTimeout: VISIBILITY_S } });
  send(h, ['x1', 'x2'], 's');
  const first = receive(h, 1, 'std', { queueName: 's' });
  assert.deepEqual(names(h, first), ['x1']);
  assert.deepEqual(names(h, receive(h, 1, 'std', { queueName: 's' })), ['x2']);
  const snap = Buffer.from(h.sm.snapshot()).toString('latin1');
  assert.ok(!snap.includes('receiveAttempts'));
});

void test('at most receiveAttemptsPerQueueMax attempts per queue: beyond it the oldest is forgotten', () => {
  const a = new ReceiveAttempts(2);
  const m = (seq: number) => [{ seq, dequeueCount: 1, token: 7, deadlineMs: 1_000 }];
  a.remember('one', 0, m(1));
  a.remember('two', 1, m(2));
  a.remember('three', 2, m(3));
  assert.equal(a.size, 2);
  assert.equal(a.find('one', 3), undefined);
  assert.deepEqual(a.find('two', 3)?.messages, m(2));
  // Expiry walks from the oldest.
  assert.equal(a.find('two', 1 + LIMITS.receiveAttemptWindowMs), undefined);
  assert.ok(a.find('three', 1 + LIMITS.receiveAttemptWindowMs) !== undefined);
  assert.equal(a.size, 1);

  // Through the state machine, at the real bound.
  const h = fifo();
  const groups = Array.from({ length: LIMITS.receiveAttemptsPerQueueMax + 1 }, (_, k) => `g${k}`);
  for (let k = 0; k < groups.length; k += 10) {
    const part = groups.slice(k, k + 10);
    h.ok({ kind: 'sendMessages', queueName: 'f', delaySeconds: null, bodies: part.map((g) => Buffer.from(g)), options: part.map((g) => ({ groupId: g })) });
  }
  const got = groups.map((_, k) => receive(h, 1, `id-${k}`));
  const last = groups.length - 1;
  assert.deepEqual(handles(receive(h, 1, `id-${last}`)), handles(got[last]!));
  assert.deepEqual(handles(receive(h, 1, 'id-1')), handles(got[1]!));
  assert.deepEqual(receive(h, 1, 'id-0'), [], 'forgotten: a fresh receive, and every group is locked');
});

void test('a snapshot keeps the attempts: the restored machine answers a retry alike, and snapshots to the same bytes', () => {
  const h = fifo();
  send(h, ['A1', 'A2', 'B1']);
  const first = receive(h, 2, 'snap');
  receive(h, 1, 'other');
  h.advance(2_000);
  const bytes = h.sm.snapshot();
  const restored = QueueStateMachine.restore(bytes);
  assert.deepEqual(Buffer.from(restored.snapshot()), Buffer.from(bytes));
  const cmd: Command = { kind: 'receiveMessages', queueName: 'f', numOfMsg: 10, seed: 99, attemptId: 'snap' };
  const { payload, metaLen } = encodeCommand(cmd);
  const a = h.sm.apply(h.index + 1, h.timeMs, payload, metaLen);
  const b = restored.apply(h.index + 1, h.timeMs, payload, metaLen);
  assert.deepEqual(b, a);
  assert.ok(a.ok && a.kind === 'receiveMessages');
  assert.deepEqual(handles(a.messages), handles(first));
  assert.deepEqual(Buffer.from(restored.snapshot()), Buffer.from(h.sm.snapshot()));
});

void test('a snapshot without receive attempts (as older ones are) loads with none; a damaged one is refused', () => {
  const h = fifo();
  send(h, ['A1']);
  const noAttempts = Buffer.from(h.sm.snapshot());
  assert.ok(!noAttempts.toString('latin1').includes('receiveAttempts'), 'no attempts: the meta keeps its earlier shape');
  const first = receive(h, 1, 'x');
  const withAttempts = Buffer.from(h.sm.snapshot());
  const text = withAttempts.toString('latin1');
  assert.ok(text.includes('"receiveAttempts":[["x"'));
  // Older snapshot: the field taken out of the meta loads, and a retry is then a fresh receive.
  const header = 4 + 1 + 6 * 8 + 4;
  const metaLen = withAttempts.readUInt32LE(header);
  const meta = JSON.parse(withAttempts.subarray(header + 4, header + 4 + metaLen).toString()) as Record<string, unknown>;
  const rewrite = (m: Record<string, unknown>): Uint8Array => {
    const json = Buffer.from(JSON.stringify(m));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length);
    return Uint8Array.from(Buffer.concat([withAttempts.subarray(0, header), len, json, withAttempts.subarray(header + 4 + metaLen)]));
  };
  const { receiveAttempts, ...older } = meta;
  assert.ok(Array.isArray(receiveAttempts));
  const old = QueueStateMachine.restore(rewrite(older));
  const retry = encodeCommand({ kind: 'receiveMessages', queueName: 'f', numOfMsg: 1, seed: 3, attemptId: 'x' });
  const r = old.apply(h.index + 1, h.timeMs, retry.payload, retry.metaLen);
  assert.deepEqual(r, { ok: true, kind: 'receiveMessages', messages: [] }, 'A1 in flight, its group locked, the attempt unknown');
  assert.ok(first.length === 1);
  assert.throws(() => QueueStateMachine.restore(rewrite({ ...meta, receiveAttempts: [['x', 0, 1, 2]] })), /receive attempt/);
  assert.throws(() => QueueStateMachine.restore(rewrite({ ...meta, receiveAttempts: 'nope' })), /receive attempt/);
});

void test('codec: the attempt id round trips with and without the receive\'s own visibility; the earlier layouts are unchanged', () => {
  const base = { kind: 'receiveMessages' as const, queueName: 'q.fifo', numOfMsg: 10, seed: 123 };
  const cases: Command[] = [
    base,
    { ...base, visibilitySeconds: 0 },
    { ...base, visibilitySeconds: 43_200 },
    { ...base, attemptId: 'a' },
    { ...base, attemptId: 'x'.repeat(LIMITS.receiveAttemptIdCharsMax), visibilitySeconds: 0 },
    { ...base, attemptId: '!#$%&()*+,-./:;<=>?@[\\]^_`{|}~', visibilitySeconds: 7 },
  ];
  for (const c of cases) {
    const { payload, metaLen } = encodeCommand(c);
    assert.deepEqual(decodeCommand(payload, metaLen), c);
  }
  // The layouts written before attempt ids: bytes as they were (version, kind, str16 name, u8, u32[, u32]).
  const plain = encodeCommand(base);
  assert.equal(plain.metaLen, 2 + 2 + 'q.fifo'.length + 1 + 4);
  assert.equal(encodeCommand({ ...base, visibilitySeconds: 5 }).metaLen, plain.metaLen + 4);
  assert.equal(encodeCommand({ ...base, attemptId: 'abc' }).metaLen, plain.metaLen + 4 + 2 + 3);
  assert.throws(() => encodeCommand({ ...base, attemptId: '' }), /attemptId/);
  assert.throws(() => encodeCommand({ ...base, attemptId: 'x'.repeat(LIMITS.receiveAttemptIdCharsMax + 1) }), /attemptId/);
  assert.throws(() => encodeCommand({ ...base, attemptId: 'a', visibilitySeconds: 0xffff_ffff }), /visibilitySeconds/);
});

void test('a replica of the previous release is given the receive without its attempt id (a retry is then a fresh receive)', () => {
  const base = { kind: 'receiveMessages' as const, queueName: 'q', numOfMsg: 1, seed: 1 };
  assert.equal(olderReplicasCanApply(base), true);
  assert.equal(olderReplicasCanApply({ ...base, attemptId: 'a' }), false);
  assert.deepEqual(forOlderReplicas({ ...base, attemptId: 'a' }), base);
  assert.equal(forOlderReplicas({ ...base, attemptId: 'a', visibilitySeconds: 5 }), undefined);
});
