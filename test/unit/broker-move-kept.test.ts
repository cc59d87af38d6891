// The broker's part of moving a queue to another set with its messages kept for rewind
// (node/queue-move.ts): the source's moveMessages `kept` takes them into its outbox with their
// enqueue times; a send with moveOrigin stores a message on the target with its first enqueue
// time, kept ones as kept; retention and rewind judge such messages by that time although they
// arrive after newer ones; deleteQueue `keptToo`; all of it through the codec and snapshots.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { commandFromPayload, encodeCommand } from '../../src/broker/codec';
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
    assert.deepEqual(due[0]!.moveOrigin, { enqueueMs: t0 + 100_000, kept: true });
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
