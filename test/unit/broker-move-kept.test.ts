// The broker's part of moving a queue to another set with its messages kept for rewind
// (node/queue-move.ts): the source's moveMessages `kept` takes them into its outbox with their
// enqueue times; a send with moveOrigin stores a message on the target with its first enqueue
// time, kept ones as kept; retention and rewind judge such messages by that time although they
// arrive after newer ones; deleteQueue `keptToo`; a moved message's receive count and first
// receive time, carried on so that its next receive counts on from there; all of it through the
// codec and snapshots.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { renderReceived, receiveSelection } from '../../src/api/sqs/messages';
import { BrokerFormatError } from '../../src/broker/binary';
import { commandFromPayload, encodeCommand } from '../../src/broker/codec';
import { DeadLetterOutbox } from '../../src/broker/dead-letter-outbox';
import type { Command, MoveOrigin } from '../../src/broker/commands';
import { forOlderReplicas, olderReplicasCanApply } from '../../src/broker/compat';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { BrokerHarness } from '../helpers/broker-harness';

function errorOf(r: { ok: boolean; error?: string }): string | undefined {
  return r.ok ? undefined : r.error;
}

const sec = (ms: number): number => Math.floor(ms / 1000);

function moved(queueName: string, body: string, moveOrigin: MoveOrigin, dedupId = `d:${queueName} ${body} 1`): Command {
  return { kind: 'sendMessages', queueName, delaySeconds: 0, bodies: [Buffer.from(body)], options: [{ dedupId, moveOrigin }] };
}

function attrs(h: BrokerHarness, q = 'q'): { active: number; inflight: number; rewind: number } {
  const a = h.sm.getQueueAttributes(q)!;
  return { active: a.activeMsgNum, inflight: a.inactiveMsgNum, rewind: a.rewindMsgNum };
}

function receiveAll(h: BrokerHarness, q = 'q'): { body: string; enqueueTime: number; receiptHandle: string }[] {
  const r = h.ok({ kind: 'receiveMessages', queueName: q, numOfMsg: 16, seed: 5 });
  return r.messages.map((m) => ({ body: h.body(m.body).toString(), enqueueTime: m.enqueueTime, receiptHandle: m.receiptHandle })).sort((a, b) => (a.body < b.body ? -1 : 1));
}

test('a moved message keeps its first enqueue time; a kept one arrives deleted and kept for rewind, and a rewind to before its arrival brings it back', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 3600 } });
  const t = h.timeMs + 600_000;
  h.advance(600_000);
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('native')] });
  h.ok(moved('q', 'visible', { enqueueMs: t - 100_000, kept: false }));
  h.ok(moved('q', 'kept', { enqueueMs: t - 200_000, kept: true }));
  assert.deepEqual(attrs(h), { active: 2, inflight: 0, rewind: 1 });
  assert.deepEqual(
    receiveAll(h).map((m) => [m.body, m.enqueueTime]),
    [
      ['native', sec(t)],
      ['visible', sec(t - 100_000)],
    ],
  );
  // A rewind to between the kept one's enqueue time and the visible one's: the kept one stays.
  h.ok({ kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: sec(t - 150_000) });
  assert.deepEqual(attrs(h), { active: 2, inflight: 0, rewind: 1 });
  h.ok({ kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: sec(t - 300_000) });
  assert.deepEqual(attrs(h), { active: 3, inflight: 0, rewind: 0 });
  assert.deepEqual(
    receiveAll(h).map((m) => [m.body, m.enqueueTime]),
    [
      ['kept', sec(t - 200_000)],
      ['native', sec(t)],
      ['visible', sec(t - 100_000)],
    ],
  );
});

test('a moved message is stored once per deduplication id, never dated after now, and a kept one does not count against maxMsgHeapNum', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 3600, maxMsgHeapNum: 1_000_000 } });
  h.ok(moved('q', 'k', { enqueueMs: h.timeMs - 1000, kept: true }));
  const again = h.run(moved('q', 'k', { enqueueMs: h.timeMs - 1000, kept: true }));
  assert.ok(again.ok && again.kind === 'sendMessages' && again.msgIds.length === 1);
  assert.deepEqual(attrs(h), { active: 0, inflight: 0, rewind: 1 }, 'the resend was deduplicated');
  h.ok(moved('q', 'future', { enqueueMs: h.timeMs + 3_600_000, kept: false }));
  assert.deepEqual(
    receiveAll(h).map((m) => [m.body, m.enqueueTime]),
    [['future', sec(h.timeMs)]],
  );
});

test('a moved message retention has already ended, or a kept one no rewind reaches, is not stored', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 60, msgRetentionSeconds: 600 } });
  h.advance(3_600_000);
  h.ok(moved('q', 'expired', { enqueueMs: h.timeMs - 600_000, kept: false }, 'd:q a 1'));
  h.ok(moved('q', 'old-kept', { enqueueMs: h.timeMs - 61_000, kept: true }, 'd:q b 1'));
  assert.deepEqual(attrs(h), { active: 0, inflight: 0, rewind: 0 });
  h.ok({ kind: 'setQueueAttributes', queueName: 'q', attrs: { rewindSeconds: 0 } });
  h.ok(moved('q', 'kept', { enqueueMs: h.timeMs - 1_000, kept: true }, 'd:q c 1'));
  assert.deepEqual(attrs(h), { active: 0, inflight: 0, rewind: 0 }, 'a queue that keeps nothing for rewind does not keep it');
});

for (const restored of [false, true]) {
  test(`retention ends a carried message on time though a newer message is ahead of it${restored ? ', after a snapshot restore' : ''}`, () => {
    const h = new BrokerHarness();
    h.ok({ kind: 'createQueue', queueName: 'q', attrs: { msgRetentionSeconds: 60, rewindSeconds: 60 } });
    h.advance(600_000);
    const t = h.timeMs;
    h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('newer')] });
    h.ok(moved('q', 'older', { enqueueMs: t - 50_000, kept: false }, 'd:q o 1'));
    h.ok(moved('q', 'older-kept', { enqueueMs: t - 40_000, kept: true }, 'd:q k 1'));
    if (restored) h.sm = QueueStateMachine.restore(h.sm.snapshot());
    assert.equal(h.sm.nextDeadlineMs(), t + 10_000, 'the carried message is due first');
    h.advance(10_000);
    h.ok({ kind: 'tick' });
    assert.deepEqual(attrs(h), { active: 1, inflight: 0, rewind: 1 });
    assert.equal(h.sm.nextDeadlineMs(), t + 20_000);
    h.advance(10_000);
    h.ok({ kind: 'tick' });
    assert.deepEqual(attrs(h), { active: 1, inflight: 0, rewind: 0 });
    assert.equal(h.sm.nextDeadlineMs(), t + 60_000, 'the newer one, at its own time');
    assert.deepEqual(
      receiveAll(h).map((m) => m.body),
      ['newer'],
    );
  });
}

test('a rewind reaches a message enqueued after fromMs in a chunk whose last message was carried in with an older time', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 3600 } });
  h.advance(600_000);
  const t = h.timeMs;
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('n')] });
  const [n] = receiveAll(h);
  h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [n!.receiptHandle] });
  h.ok(moved('q', 'c', { enqueueMs: t - 100_000, kept: true }));
  h.ok({ kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: sec(t - 10_000) });
  assert.deepEqual(attrs(h), { active: 1, inflight: 0, rewind: 1 });
  assert.deepEqual(
    receiveAll(h).map((m) => m.body),
    ['n'],
  );
});

test('moveMessages kept takes the kept messages into the outbox with their enqueue times, drops those no rewind reaches; deleteQueue keptToo waits for them', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 60, msgRetentionSeconds: 3600 } });
  const t0 = h.timeMs;
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('a'), Buffer.from('b')] });
  h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: receiveAll(h).map((m) => m.receiptHandle) });
  h.advance(100_000);
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('c')] });
  h.advance(1_000);
  h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: receiveAll(h).map((m) => m.receiptHandle) });
  assert.deepEqual(attrs(h), { active: 0, inflight: 0, rewind: 3 });
  assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true, keptToo: true })), 'queueNotEmpty');

  const r = h.ok({ kind: 'moveMessages', sourceQueue: 'q', destinationQueue: 'q', maxMessages: 10, remoteDestination: true, kept: true });
  assert.deepEqual([r.moved, r.remaining], [1, 0], 'c moves; a and b, older than the rewind window, are dropped');
  assert.deepEqual(attrs(h), { active: 0, inflight: 0, rewind: 0 });
  const check = (sm: QueueStateMachine): void => {
    const due = sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10);
    assert.equal(due.length, 1);
    assert.equal(h.body(due[0]!.body).toString(), 'c');
    assert.deepEqual(due[0]!.moveOrigin, { enqueueMs: t0 + 100_000, kept: true, dequeueCount: 1, firstDequeueMs: t0 + 101_000 });
    assert.equal(due[0]!.destinationQueue, 'q');
  };
  check(h.sm);
  const snap = h.sm.snapshot();
  const back = QueueStateMachine.restore(snap);
  check(back);
  assert.deepEqual(Buffer.from(back.snapshot()), Buffer.from(snap), 'the same bytes again');
  assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true, keptToo: true })), 'queueNotEmpty', 'still in the outbox');
  h.ok({ kind: 'deadLetterSent', queueName: 'q', msgId: h.sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 1)[0]!.msgId });
  h.ok({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true, keptToo: true });
});

test('a rewind of the source sends visible the kept messages waiting in its outbox that it reaches; the others stay kept', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 3600 } });
  const t0 = h.timeMs;
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('old')] });
  h.advance(60_000);
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('new')] });
  h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: receiveAll(h).map((m) => m.receiptHandle) });
  h.ok({ kind: 'moveMessages', sourceQueue: 'q', destinationQueue: 'q', maxMessages: 10, remoteDestination: true, kept: true });
  h.ok({ kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: sec(t0 + 30_000) });
  const kept = (sm: QueueStateMachine): [string, boolean | undefined][] =>
    sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10).map((d) => [h.body(d.body).toString(), d.moveOrigin?.kept]);
  assert.deepEqual(kept(h.sm), [
    ['old', true],
    ['new', false],
  ]);
  assert.deepEqual(kept(QueueStateMachine.restore(h.sm.snapshot())), kept(h.sm), 'as a snapshot keeps it');
});

test("a queue move's visible messages leave with their enqueue times; a redrive's to another queue carry none", () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: {} });
  const t0 = h.timeMs;
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('a'), Buffer.from('b')] });
  h.advance(5_000);
  h.ok({ kind: 'moveMessages', sourceQueue: 'q', destinationQueue: 'q', maxMessages: 1, remoteDestination: true });
  h.ok({ kind: 'moveMessages', sourceQueue: 'q', destinationQueue: 'elsewhere', maxMessages: 1, remoteDestination: true });
  const due = h.sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10);
  assert.deepEqual(
    due.map((d) => [d.destinationQueue, d.moveOrigin]),
    [
      ['q', { enqueueMs: t0, kept: false }],
      ['elsewhere', undefined],
    ],
  );
});

test('moveOrigin, moveMessages kept and deleteQueue keptToo survive the codec; none is proposed to replicas of the previous release', () => {
  const cmds: Command[] = [
    moved('q', 'x', { enqueueMs: 1_700_000_000_123, kept: true }),
    moved('q', 'x', { enqueueMs: 5, kept: false }),
    { kind: 'moveMessages', sourceQueue: 'q', destinationQueue: 'q', maxMessages: 10, remoteDestination: true, kept: true },
    { kind: 'deleteQueue', queueName: 'q', ifEmpty: true, keptToo: true },
  ];
  for (const cmd of cmds) {
    const { payload, metaLen } = encodeCommand(cmd);
    const back = commandFromPayload(payload, metaLen);
    if (cmd.kind === 'sendMessages' && back.kind === 'sendMessages') {
      assert.deepEqual(back.options, cmd.options);
    } else assert.deepEqual(back, cmd);
    assert.equal(olderReplicasCanApply(cmd), false);
    assert.equal(forOlderReplicas(cmd), undefined);
  }
  assert.throws(() => encodeCommand({ kind: 'moveMessages', sourceQueue: 'q', destinationQueue: 'other', maxMessages: 10, remoteDestination: true, kept: true }));
  assert.throws(() => encodeCommand({ kind: 'deleteQueue', queueName: 'q', keptToo: true }));
});

const SQS_RECEIVE_ATTRS = receiveSelection(new Set(['ApproximateReceiveCount', 'ApproximateFirstReceiveTimestamp']), undefined);

/** What one receive of `q` gives, per body: [dequeueCount, firstDequeueTime, firstDequeueMs, SQS ApproximateReceiveCount, SQS ApproximateFirstReceiveTimestamp]. */
function receiveCounts(h: BrokerHarness, q = 'q', visibilitySeconds?: number): Map<string, [number, number, number, string, string]> {
  const cmd: Command = { kind: 'receiveMessages', queueName: q, numOfMsg: 16, seed: 9 };
  if (visibilitySeconds !== undefined) cmd.visibilitySeconds = visibilitySeconds;
  const r = h.ok(cmd);
  const out = new Map<string, [number, number, number, string, string]>();
  for (const m of r.messages) {
    const bodyBytes = h.body(m.body);
    const sqs = renderReceived({ ...m, bodyBytes }, SQS_RECEIVE_ATTRS)['Attributes'] as Record<string, string>;
    out.set(bodyBytes.toString(), [m.dequeueCount, m.firstDequeueTime, m.firstDequeueMs, sqs['ApproximateReceiveCount']!, sqs['ApproximateFirstReceiveTimestamp']!]);
  }
  return out;
}

for (const restored of [false, true]) {
  test(`a moved message keeps its receive count and first receive time: its next receive counts on from them (CMQ and SQS)${restored ? ', after a snapshot restore' : ''}`, () => {
    const h = new BrokerHarness();
    h.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 3600 } });
    h.advance(600_000);
    const t = h.timeMs;
    h.ok(moved('q', 'received', { enqueueMs: t - 100_000, kept: false, dequeueCount: 3, firstDequeueMs: t - 50_000 }));
    h.ok(moved('q', 'never', { enqueueMs: t - 100_000, kept: false }));
    // The source's clock a little ahead: a first receive is never after now, nor before the enqueue.
    h.ok(moved('q', 'ahead', { enqueueMs: t - 100_000, kept: false, dequeueCount: 1, firstDequeueMs: t + 5_000 }));
    h.ok(moved('q', 'skewed', { enqueueMs: t + 60_000, kept: false, dequeueCount: 2, firstDequeueMs: t - 70_000 }));
    if (restored) h.sm = QueueStateMachine.restore(h.sm.snapshot());
    h.advance(1_000);
    const now = h.timeMs;
    assert.deepEqual(
      [...receiveCounts(h, 'q', 0)].sort(),
      [
        ['ahead', [2, sec(t), t, '2', String(t)]],
        ['never', [1, sec(now), now, '1', String(now)]],
        ['received', [4, sec(t - 50_000), t - 50_000, '4', String(t - 50_000)]],
        ['skewed', [3, sec(t), t, '3', String(t)]],
      ],
    );
    h.advance(1_000);
    assert.deepEqual(receiveCounts(h).get('received'), [5, sec(t - 50_000), t - 50_000, '5', String(t - 50_000)], 'and on from there');
  });
}

test("a moved message at or past its queue's maxReceiveCount is dead-lettered at its next receive; one below it is delivered until it is past", () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'dlq', attrs: {} });
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 5 } } });
  const t = h.timeMs;
  h.ok(moved('q', 'at', { enqueueMs: t, kept: false, dequeueCount: 5, firstDequeueMs: t }));
  h.ok(moved('q', 'past', { enqueueMs: t, kept: false, dequeueCount: 7, firstDequeueMs: t }));
  h.ok(moved('q', 'below', { enqueueMs: t, kept: false, dequeueCount: 4, firstDequeueMs: t }));
  assert.deepEqual([...receiveCounts(h, 'q', 0).keys()], ['below'], 'the fifth receive of "below"');
  assert.equal(h.sm.getQueueAttributes('dlq')!.activeMsgNum, 2, '"at" and "past" went to the dead-letter queue');
  h.advance(1);
  assert.equal(receiveCounts(h).size, 0, 'its sixth receive dead-letters it too');
  assert.equal(h.sm.getQueueAttributes('dlq')!.activeMsgNum, 3);
  assert.deepEqual(
    [...receiveCounts(h, 'dlq').values()].map((c) => c[0]),
    [1, 1, 1],
    'a dead letter starts again from 0 in its dead-letter queue, as any other',
  );
});

test('a kept moved message keeps its receive count through a rewind on the target, as a rewind on the source keeps it', () => {
  const rewound = (h: BrokerHarness, fromSec: number): number | undefined => {
    h.ok({ kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: fromSec });
    return receiveCounts(h).get('m')?.[0];
  };
  // On the source: received twice, deleted, rewound: the next receive is its third.
  const source = new BrokerHarness();
  source.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 3600 } });
  const t = source.timeMs;
  source.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('m')] });
  source.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 1, seed: 1, visibilitySeconds: 0 });
  source.advance(1_000);
  const [m] = receiveAll(source);
  source.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [m!.receiptHandle] });
  source.advance(1_000);
  source.ok({ kind: 'moveMessages', sourceQueue: 'q', destinationQueue: 'q', maxMessages: 10, remoteDestination: true, kept: true });
  const [due] = source.sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10);
  assert.deepEqual(due!.moveOrigin, { enqueueMs: t, kept: true, dequeueCount: 2, firstDequeueMs: t });
  // On the target: it arrives kept with that count; a rewind makes it visible, and the next receive is its third.
  const target = new BrokerHarness();
  target.timeMs = source.timeMs;
  target.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 3600 } });
  target.ok(moved('q', 'm', due!.moveOrigin));
  assert.deepEqual(attrs(target), { active: 0, inflight: 0, rewind: 1 });
  assert.equal(rewound(target, sec(t)), 3);
  // The same on a source that had not moved it.
  const stay = new BrokerHarness();
  stay.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 3600 } });
  stay.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('m')] });
  stay.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 1, seed: 1, visibilitySeconds: 0 });
  stay.advance(1_000);
  stay.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [receiveAll(stay)[0]!.receiptHandle] });
  stay.advance(1_000);
  assert.equal(rewound(stay, sec(t)), 3);
});

test("a queue move's messages leave with their receive counts (visible and kept, through snapshots); a redrive's to another queue and a dead letter carry none", () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 3600, deadLetterPolicy: { deadLetterQueue: 'far-dlq', policy: 0, maxReceiveCount: 3, remote: true } } });
  // 'a', past maxReceiveCount at its fourth receive, leaves for far-dlq on another set.
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('a')] });
  for (let k = 0; k < 4; k++) {
    h.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: k, visibilitySeconds: 0 });
    h.advance(1_000);
  }
  const t0 = h.timeMs;
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('b'), Buffer.from('c'), Buffer.from('d')] });
  h.advance(1_000);
  const t1 = h.timeMs;
  h.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: 5, visibilitySeconds: 0 });
  h.advance(1_000);
  h.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: 6, visibilitySeconds: 0 });
  h.advance(1_000);
  // Received a third time: 'b' is deleted (kept for rewind), 'c' and 'd' made visible again.
  const got = receiveAll(h);
  assert.deepEqual(got.map((m) => m.body), ['b', 'c', 'd']);
  h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [got[0]!.receiptHandle] });
  h.ok({ kind: 'changeVisibility', queueName: 'q', entries: [{ receiptHandle: got[1]!.receiptHandle, visibilitySeconds: 0 }, { receiptHandle: got[2]!.receiptHandle, visibilitySeconds: 0 }] });
  h.ok({ kind: 'moveMessages', sourceQueue: 'q', destinationQueue: 'elsewhere', maxMessages: 1, remoteDestination: true });
  h.ok({ kind: 'moveMessages', sourceQueue: 'q', destinationQueue: 'q', maxMessages: 10, remoteDestination: true });
  h.ok({ kind: 'moveMessages', sourceQueue: 'q', destinationQueue: 'q', maxMessages: 10, remoteDestination: true, kept: true });
  const origins = (sm: QueueStateMachine): [string, string, MoveOrigin | undefined][] =>
    sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10).map((d) => [h.body(d.body).toString(), d.destinationQueue, d.moveOrigin]);
  const want: [string, string, MoveOrigin | undefined][] = [
    ['a', 'far-dlq', undefined],
    ['c', 'elsewhere', undefined],
    ['d', 'q', { enqueueMs: t0, kept: false, dequeueCount: 3, firstDequeueMs: t1 }],
    ['b', 'q', { enqueueMs: t0, kept: true, dequeueCount: 3, firstDequeueMs: t1 }],
  ];
  assert.deepEqual(origins(h.sm), want);
  const snap = h.sm.snapshot();
  const back = QueueStateMachine.restore(snap);
  assert.deepEqual(origins(back), want);
  assert.deepEqual(Buffer.from(back.snapshot()), Buffer.from(snap), 'the same bytes again');
});

test('outbox rows: a moving message received before has the 17-field form; the 12-, 14- and 15-field forms written before still read; bad ones are refused', () => {
  const base = ['id', 'q', 7, 7, 0, 1, 123, 0, 0, 1000, null, 1];
  const rows = [
    base,
    [...base.map((v, k) => (k === 0 ? 'id2' : v)), 5_000, 1],
    [...base.map((v, k) => (k === 0 ? 'id3' : v)), 5_000, 0, 'src'],
    [...base.map((v, k) => (k === 0 ? 'id4' : v)), 5_000, 0, null, 3, 6_000],
    [...base.map((v, k) => (k === 0 ? 'id5' : v)), 5_000, 1, 'src', 1, 5_500],
  ];
  const outbox = DeadLetterOutbox.fromRows(rows, 'q');
  assert.deepEqual(
    [...outbox.pending].map(([id, p]) => [id, p.origin, p.deadLetterSource]),
    [
      ['id', undefined, undefined],
      ['id2', { enqueueMs: 5_000, kept: true }, undefined],
      ['id3', { enqueueMs: 5_000, kept: false }, 'src'],
      ['id4', { enqueueMs: 5_000, kept: false, dequeueCount: 3, firstDequeueMs: 6_000 }, undefined],
      ['id5', { enqueueMs: 5_000, kept: true, dequeueCount: 1, firstDequeueMs: 5_500 }, 'src'],
    ],
  );
  assert.deepEqual(outbox.rows(), rows, 'written back in the same forms');
  for (const bad of [
    [...base, 5_000, 0, null, 0, 6_000],
    [...base, 5_000, 0, null, 1.5, 6_000],
    [...base, 5_000, 0, null, 2, -1],
    [...base, 5_000, 0, null, 2, null],
    [...base, 5_000, 0, 7, 2, 6_000],
    [...base, 5_000, 0, null, 2],
  ]) {
    assert.throws(() => DeadLetterOutbox.fromRows([bad], 'q'), BrokerFormatError, JSON.stringify(bad));
  }
});

test('a move origin with a receive count survives the codec; entries written before counts were carried still decode; bad counts are refused', () => {
  const withCounts: MoveOrigin[] = [
    { enqueueMs: 1_700_000_000_123, kept: true, dequeueCount: 1, firstDequeueMs: 1_700_000_000_500 },
    { enqueueMs: 5, kept: false, dequeueCount: 0xffff_ffff, firstDequeueMs: 0 },
  ];
  for (const origin of withCounts) {
    const cmd = moved('q', 'x', origin);
    const { payload, metaLen } = encodeCommand(cmd);
    const back = commandFromPayload(payload, metaLen);
    assert.ok(back.kind === 'sendMessages' && cmd.kind === 'sendMessages');
    assert.deepEqual(back.options, cmd.options);
    assert.equal(olderReplicasCanApply(cmd), false);
  }
  // As the release before wrote them: the origin without counts, in the same bytes as then.
  const written: [string, MoveOrigin][] = [
    ['0104010071000000000101000000935f3ca902480700643a712078203100b08756febc78420178', { enqueueMs: 1_700_000_000_123, kept: true }],
    ['0104010071000000000101000000935f3ca902480700643a712078203100000000000014400078', { enqueueMs: 5, kept: false }],
  ];
  for (const [hex, origin] of written) {
    const bytes = Buffer.from(hex, 'hex');
    const back = commandFromPayload(bytes, bytes.length - 1);
    assert.ok(back.kind === 'sendMessages');
    assert.deepEqual(back.options, [{ dedupId: 'd:q x 1', moveOrigin: origin }]);
    const again = encodeCommand(moved('q', 'x', origin));
    assert.equal(Buffer.from(again.payload).toString('hex'), hex, 'and written so still');
  }
  for (const bad of [
    { enqueueMs: 5, kept: false, dequeueCount: 0, firstDequeueMs: 5 },
    { enqueueMs: 5, kept: false, dequeueCount: 1.5, firstDequeueMs: 5 },
    { enqueueMs: 5, kept: false, dequeueCount: 2 },
    { enqueueMs: 5, kept: false, firstDequeueMs: 5 },
    { enqueueMs: 5, kept: false, dequeueCount: 2, firstDequeueMs: Number.NaN },
  ]) {
    assert.throws(() => encodeCommand(moved('q', 'x', bad)), BrokerFormatError, JSON.stringify(bad));
  }
  // Decoding refuses a count of 0 and origin flags it does not know.
  const good = encodeCommand(moved('q', 'x', { enqueueMs: 5, kept: false, dequeueCount: 1, firstDequeueMs: 5 }));
  const flagsAt = good.metaLen - 13;
  assert.equal(good.payload[flagsAt], 2, 'the origin flags byte');
  const zero = Buffer.from(good.payload);
  zero.writeUInt32LE(0, flagsAt + 1);
  assert.throws(() => commandFromPayload(zero, good.metaLen), BrokerFormatError);
  const unknown = Buffer.from(good.payload);
  unknown[flagsAt] = 6;
  assert.throws(() => commandFromPayload(unknown, good.metaLen), BrokerFormatError);
});
