// The state machine's support for the SQS API: per-body send options (delay, envelope flag,
// counted size), the queue's own delay, receive with its own visibility, changeVisibility,
// purgeQueue, tags, the redrive allow policy, send deduplication, and all of it through the codec
// and a snapshot.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeCommand, encodeCommand } from '../../src/broker/codec';
import type { Command, ReceivedMessage } from '../../src/broker/commands';
import { DedupTable } from '../../src/broker/dedup';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { LIMITS } from '../../src/protocol/limits';
import { SQS_QUEUE_DEFAULTS } from '../../src/protocol/queue-types';
import { BrokerHarness } from '../helpers/broker-harness';

const body = (s: string): Uint8Array => Buffer.from(s);

function setup(attrs: Extract<Command, { kind: 'createQueue' }>['attrs'] = {}): BrokerHarness {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs });
  return h;
}

function receive(h: BrokerHarness, n = 16, visibilitySeconds?: number): ReceivedMessage[] {
  const cmd: Command = { kind: 'receiveMessages', queueName: 'q', numOfMsg: n, seed: 7 };
  if (visibilitySeconds !== undefined) cmd.visibilitySeconds = visibilitySeconds;
  return h.ok(cmd).messages;
}

function counts(h: BrokerHarness): [number, number, number] {
  const a = h.sm.getQueueAttributes('q')!;
  return [a.activeMsgNum, a.inactiveMsgNum, a.delayMsgNum];
}

void test('codec: the send extension, receive visibility and the new commands round-trip; plain sends keep the old layout', () => {
  const commands: Command[] = [
    { kind: 'sendMessages', queueName: 'q', delaySeconds: null, bodies: [body('a')] },
    { kind: 'sendMessages', queueName: 'q', delaySeconds: 5, bodies: [body('a'), body('bb')], options: [{ enveloped: true, countedBytes: 1 }, { delaySeconds: 9 }] },
    { kind: 'receiveMessages', queueName: 'q', numOfMsg: 10, seed: 3, visibilitySeconds: 0 },
    { kind: 'changeVisibility', queueName: 'q', entries: [{ receiptHandle: 'h1', visibilitySeconds: 0 }, { receiptHandle: 'h2', visibilitySeconds: 43_200 }] },
    { kind: 'purgeQueue', queueName: 'q' },
    { kind: 'tagQueue', queueName: 'q', tags: { team: 'payments', 'cost-centre': '' } },
    { kind: 'untagQueue', queueName: 'q', keys: ['team'] },
    { kind: 'createQueue', queueName: 'q', attrs: { sqs: { delaySeconds: 3, redriveAllowPolicy: { permission: 'byQueue', sourceQueueNames: ['a'] } }, tags: { k: 'v' } } },
  ];
  for (const c of commands) {
    const { payload, metaLen } = encodeCommand(c);
    const d = decodeCommand(payload, metaLen);
    if (c.kind === 'sendMessages' && d.kind === 'sendMessages') {
      assert.equal(d.delaySeconds, c.delaySeconds);
      assert.deepEqual(d.options, c.options);
      assert.deepEqual(
        d.bodies.map((b) => Buffer.from(payload.subarray(b.offset, b.offset + b.length)).toString()),
        c.bodies.map((b) => Buffer.from(b).toString()),
      );
    } else {
      assert.deepEqual(d, c);
    }
  }
  // A CMQ send (explicit delay, no options) is byte for byte what earlier releases wrote.
  const plain = encodeCommand({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('x')] });
  assert.equal(plain.metaLen, 2 + 2 + 1 + 4 + 1 + 8);
});

void test("sends: no delay is the queue's own delay; a body's own delay wins; countedBytes is what maxMsgSize limits", () => {
  const h = setup({ sqs: { delaySeconds: 10 }, maxMsgSize: 1024 });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: null, bodies: [body('queue delay')] });
  const plain = h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('explicit 0')] });
  assert.equal(plain.sequenceNumbers, undefined, 'sequence numbers are made for FIFO queues only');
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: null, bodies: [body('own 0'), body('own 20')], options: [{ delaySeconds: 0 }, { delaySeconds: 20 }] });
  assert.deepEqual(counts(h), [2, 0, 2]);
  h.advance(10_000);
  h.ok({ kind: 'tick' });
  assert.deepEqual(counts(h), [3, 0, 1]);
  // 1024 stored bytes pass whatever; a body counted above maxMsgSize is refused even if stored smaller.
  const big = new Uint8Array(1024);
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [big] });
  assert.deepEqual(h.run({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('x')], options: [{ countedBytes: 1025 }] }), {
    ok: false,
    error: 'msgTooLarge',
  });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [new Uint8Array(1100)], options: [{ enveloped: true, countedBytes: 1000 }] });
});

void test('enveloped bodies are flagged on delivery, keep their msgId, and stay flagged through a dead-letter move and a snapshot', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'dlq', attrs: {} });
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1 } } });
  const sent = h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('plain'), body('env')], options: [{}, { enveloped: true }] });
  const got = receive(h, 2, 1);
  assert.deepEqual(
    got.map((m) => [m.msgId, m.enveloped]),
    [
      [sent.msgIds[0], false],
      [sent.msgIds[1], true],
    ],
  );
  assert.ok(got.every((m) => m.enqueueMs === h.timeMs && m.firstDequeueMs === h.timeMs));
  h.advance(1000);
  assert.deepEqual(receive(h), []); // second receive > maxReceiveCount: both move to the DLQ
  const restored = QueueStateMachine.restore(h.sm.snapshot());
  for (const sm of [h.sm, restored]) {
    const { payload, metaLen } = encodeCommand({ kind: 'receiveMessages', queueName: 'dlq', numOfMsg: 2, seed: 1 });
    const r = sm.apply(h.index + 1, h.timeMs, payload, metaLen);
    assert.ok(r.ok && r.kind === 'receiveMessages');
    assert.deepEqual(
      r.messages.map((m) => [m.msgId, m.enveloped]),
      [
        [sent.msgIds[0], false],
        [sent.msgIds[1], true],
      ],
    );
  }
});

void test('receive with its own visibility: 0 makes the message visible again at once; longer holds it', () => {
  const h = setup({ visibilityTimeout: 30 });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('a'), body('b')] });
  const [a] = receive(h, 1, 0);
  assert.ok(a);
  h.ok({ kind: 'tick' });
  assert.deepEqual(counts(h), [2, 0, 0]);
  const [first] = receive(h, 1, 100);
  assert.equal(first?.nextVisibleTime, Math.floor((h.timeMs + 100_000) / 1000));
  h.advance(60_000);
  h.ok({ kind: 'tick' });
  assert.deepEqual(counts(h), [1, 1, 0], 'still in flight after the queue timeout, within its own');
  h.advance(40_000);
  h.ok({ kind: 'tick' });
  assert.deepEqual(counts(h), [2, 0, 0]);
});

void test('changeVisibility: extends, shortens, or releases at once; malformed and stale handles fail apart; the handle stays valid', () => {
  const h = setup({ visibilityTimeout: 30 });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('a'), body('b'), body('c')] });
  const [a, b, c] = receive(h, 3);
  assert.ok(a && b && c);
  const r = h.ok({
    kind: 'changeVisibility',
    queueName: 'q',
    entries: [
      { receiptHandle: a.receiptHandle, visibilitySeconds: 300 },
      { receiptHandle: b.receiptHandle, visibilitySeconds: 0 },
      { receiptHandle: 'not-a-handle', visibilitySeconds: 5 },
      { receiptHandle: c.receiptHandle, visibilitySeconds: 1 },
    ],
  });
  assert.deepEqual(r.failures, [{ index: 2, receiptHandle: 'not-a-handle', error: 'receiptHandleInvalid', malformed: true }]);
  assert.deepEqual(counts(h), [1, 2, 0], 'b is visible at once');
  // b's handle is spent (b is visible): stale, not malformed.
  const again = h.ok({ kind: 'changeVisibility', queueName: 'q', entries: [{ receiptHandle: b.receiptHandle, visibilitySeconds: 5 }] });
  assert.deepEqual(again.failures, [{ index: 0, receiptHandle: b.receiptHandle, error: 'receiptHandleInvalid', malformed: false }]);
  h.advance(2000);
  h.ok({ kind: 'tick' });
  assert.deepEqual(counts(h), [2, 1, 0], 'c came back after its shortened 1 s');
  h.advance(100_000);
  h.ok({ kind: 'tick' });
  assert.deepEqual(counts(h), [2, 1, 0], 'a is held past the queue timeout by its extension');
  assert.deepEqual(h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [a.receiptHandle] }).failures, []);
  assert.deepEqual(counts(h), [2, 0, 0]);
});

void test('deleteMessages tells a malformed handle from a stale one', () => {
  const h = setup();
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('a')] });
  const [a] = receive(h, 1);
  assert.ok(a);
  assert.deepEqual(h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [a.receiptHandle] }).failures, []);
  assert.deepEqual(h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [a.receiptHandle, 'garbage'] }).failures, [
    { index: 0, receiptHandle: a.receiptHandle, error: 'receiptHandleInvalid', malformed: false },
    { index: 1, receiptHandle: 'garbage', error: 'receiptHandleInvalid', malformed: true },
  ]);
});

void test('purgeQueue deletes visible, delayed and in-flight messages (none kept for rewind) and later sends are untouched', () => {
  const h = setup({ rewindSeconds: 3600 });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('a'), body('b'), body('c')] });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 60, bodies: [body('d')] });
  const [a] = receive(h, 1);
  assert.ok(a);
  h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [a.receiptHandle] });
  receive(h, 1);
  assert.equal(h.ok({ kind: 'purgeQueue', queueName: 'q' }).purged, 3);
  const attrs = h.sm.getQueueAttributes('q')!;
  assert.deepEqual([attrs.activeMsgNum, attrs.inactiveMsgNum, attrs.delayMsgNum, attrs.rewindMsgNum], [0, 0, 0, 1]);
  h.advance(120_000);
  h.ok({ kind: 'tick' });
  assert.deepEqual(counts(h), [0, 0, 0]);
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body('e')] });
  assert.deepEqual(
    receive(h).map((m) => h.body(m.body).toString()),
    ['e'],
  );
  assert.deepEqual(h.run({ kind: 'purgeQueue', queueName: 'nope' }), { ok: false, error: 'queueNotExist' });
});

void test('tags: set at create, added, replaced and removed; at most 50', () => {
  const h = setup({ tags: { a: '1' } });
  h.ok({ kind: 'tagQueue', queueName: 'q', tags: { a: '2', b: '' } });
  h.ok({ kind: 'untagQueue', queueName: 'q', keys: ['b', 'absent'] });
  assert.deepEqual(h.sm.getQueueAttributes('q')!.tags, { a: '2' });
  const many = Object.fromEntries(Array.from({ length: 49 }, (_, i) => [`k${i}`, 'v']));
  h.ok({ kind: 'tagQueue', queueName: 'q', tags: many });
  assert.deepEqual(h.run({ kind: 'tagQueue', queueName: 'q', tags: { one: 'more' } }), { ok: false, error: 'queueTagsFull' });
  h.ok({ kind: 'tagQueue', queueName: 'q', tags: { a: 'replaced, not added' } });
  const tooMany = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
  assert.deepEqual(h.run({ kind: 'createQueue', queueName: 'other', attrs: { tags: tooMany } }), { ok: false, error: 'queueTagsFull' });
});

void test('the redrive allow policy of a dead-letter queue decides which sources may name it; settings survive a snapshot', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'dlq', attrs: { sqs: { redriveAllowPolicy: { permission: 'byQueue', sourceQueueNames: ['ok'] } } } });
  const policy = { deadLetterQueue: 'dlq', policy: 0 as const, maxReceiveCount: 3 };
  h.ok({ kind: 'createQueue', queueName: 'ok', attrs: { deadLetterPolicy: policy } });
  assert.deepEqual(h.run({ kind: 'createQueue', queueName: 'other', attrs: { deadLetterPolicy: policy } }), { ok: false, error: 'dlqNotAllowed' });
  h.ok({ kind: 'setQueueAttributes', queueName: 'dlq', attrs: { sqs: { redriveAllowPolicy: null, delaySeconds: 7 } } });
  h.ok({ kind: 'createQueue', queueName: 'other', attrs: { deadLetterPolicy: policy } });
  h.ok({ kind: 'setQueueAttributes', queueName: 'dlq', attrs: { sqs: { redriveAllowPolicy: { permission: 'denyAll' } } } });
  h.ok({ kind: 'createQueue', queueName: 'third', attrs: {} });
  assert.deepEqual(h.run({ kind: 'setQueueAttributes', queueName: 'third', attrs: { deadLetterPolicy: policy } }), { ok: false, error: 'dlqNotAllowed' });
  h.ok({ kind: 'tagQueue', queueName: 'dlq', tags: { env: 'prod' } });
  const restored = QueueStateMachine.restore(h.sm.snapshot());
  const a = restored.getQueueAttributes('dlq')!;
  assert.deepEqual(a.sqs, { ...SQS_QUEUE_DEFAULTS, delaySeconds: 7, redriveAllowPolicy: { permission: 'denyAll' } });
  assert.deepEqual(a.tags, { env: 'prod' });
  assert.deepEqual(restored.getQueueAttributes('ok')!.sqs, SQS_QUEUE_DEFAULTS);
});

void test('deduplication: a retried send with the same ids answers the first msgIds and enqueues nothing; other queues and new ids are apart', () => {
  const h = setup();
  h.ok({ kind: 'createQueue', queueName: 'other', attrs: {} });
  const send = (queueName: string, ids: (string | undefined)[]): string[] =>
    h.ok({ kind: 'sendMessages', queueName, delaySeconds: 0, bodies: ids.map((_, i) => body(`m${i}`)), options: ids.map((dedupId) => (dedupId === undefined ? {} : { dedupId })) }).msgIds;
  const first = send('q', ['t1/0', 't1/1']);
  assert.deepEqual(send('q', ['t1/0', 't1/1']), first, 'the retry answers the first msgIds');
  assert.deepEqual(counts(h), [2, 0, 0], 'and enqueues nothing');
  const mixed = send('q', ['t1/1', 'fresh', undefined, 'fresh']);
  assert.equal(mixed[0], first[1]);
  assert.equal(mixed[3], mixed[1], 'a repeated id within one send is one message');
  assert.notEqual(mixed[2], mixed[1]);
  assert.deepEqual(counts(h), [4, 0, 0]);
  assert.notDeepEqual(send('other', ['t1/0']), [first[0]], 'ids are per queue');
  // A deleted message's id still deduplicates (SQS: the id, not the message, is remembered).
  const got = receive(h);
  h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: got.map((m) => m.receiptHandle) });
  assert.deepEqual(send('q', ['t1/0']), [first[0]]);
  assert.deepEqual(counts(h), [0, 0, 0]);
});

void test('deduplication: ids are forgotten after the window, and kept across a snapshot', () => {
  const h = setup();
  const send = (id: string): string => h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body(id)], options: [{ dedupId: id }] }).msgIds[0]!;
  const a = send('a');
  h.advance(LIMITS.dedupWindowMs - 1000);
  const b = send('b');
  const restored = QueueStateMachine.restore(h.sm.snapshot());
  h.advance(999);
  for (const sm of [h.sm, restored]) {
    const apply = (id: string, at: number): string => {
      const { payload, metaLen } = encodeCommand({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body(id)], options: [{ dedupId: id }] });
      const r = sm.apply(at, h.timeMs, payload, metaLen);
      assert.ok(r.ok && r.kind === 'sendMessages');
      return r.msgIds[0]!;
    };
    assert.equal(apply('a', h.index + 1), a, 'still within the window of a');
    assert.equal(apply('b', h.index + 2), b);
  }
  h.index += 2;
  h.advance(2);
  assert.notEqual(send('a'), a, "a's window ended");
  assert.equal(send('b'), b);
});

void test('deduplication: the table is bounded, forgetting the oldest first', () => {
  const t = new DedupTable(3);
  for (let i = 0; i < 5; i++) t.remember('q1', `id${i}`, { entryIndex: i + 1, batchPos: 0 }, 1000);
  assert.equal(t.size, 3);
  assert.equal(t.evicted, 2);
  assert.equal(t.find('q1', 'id0', 1000), undefined);
  assert.deepEqual(t.find('q1', 'id4', 1000), { entryIndex: 5, batchPos: 0, expiresMs: 1000 + LIMITS.dedupWindowMs });
  t.expire(1000 + LIMITS.dedupWindowMs);
  assert.equal(t.size, 0);
});

void test('deduplication of publishes: a retried publish answers the first msgIds and delivers nothing again, per topic', () => {
  const h = setup();
  h.ok({ kind: 'createTopic', topicName: 't', maxMsgSize: 65_536, filterType: 1 });
  h.ok({ kind: 'createTopic', topicName: 'u', maxMsgSize: 65_536, filterType: 1 });
  for (const topicName of ['t', 'u']) {
    h.ok({ kind: 'subscribe', topicName, subscriptionName: 's', protocol: 'queue', endpoint: 'q', notifyStrategy: 'BACKOFF_RETRY', notifyContentFormat: 'JSON', filterTags: [], bindingKeys: [] });
  }
  const publish = (topicName: string, dedupId?: string): Extract<ReturnType<BrokerHarness['run']>, { kind: 'publishMessages' }> => {
    const cmd: Command = { kind: 'publishMessages', topicName, bodies: [body('x'), body('y')], msgTags: [], routingKey: '' };
    if (dedupId !== undefined) cmd.dedupId = dedupId;
    return h.ok(cmd);
  };
  const first = publish('t', 'p1');
  assert.deepEqual(first.deliveredQueues, ['q']);
  const retry = publish('t', 'p1');
  assert.deepEqual([retry.msgIds, retry.deliveredQueues, retry.pushes], [first.msgIds, [], 0]);
  assert.deepEqual(counts(h), [2, 0, 0]);
  assert.notDeepEqual(publish('u', 'p1').msgIds, first.msgIds, 'ids are per topic');
  publish('t');
  assert.deepEqual(counts(h), [6, 0, 0]);
  const restored = QueueStateMachine.restore(h.sm.snapshot());
  const { payload, metaLen } = encodeCommand({ kind: 'publishMessages', topicName: 't', bodies: [body('x'), body('y')], msgTags: [], routingKey: '', dedupId: 'p1' });
  const r = restored.apply(h.index + 1, h.timeMs, payload, metaLen);
  assert.ok(r.ok && r.kind === 'publishMessages');
  assert.deepEqual(r.msgIds, first.msgIds, 'remembered across a snapshot');
});
