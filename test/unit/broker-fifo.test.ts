// FIFO queues in the state machine (SQS FIFO semantics): a group's messages in send order, the
// group locked while any of its messages is in flight, groups served in parallel, and all of it
// through the codec, dead-letter moves, rewind, purge and snapshots. The last tests compare the
// state machine with a model over random operation sequences.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

import { decodeCommand, encodeCommand } from '../../src/broker/codec';
import type { Command, CommandResult, QueueAttributesInput, ReceivedMessage } from '../../src/broker/commands';
import { sequenceNumberOf } from '../../src/broker/ids';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { SQS_QUEUE_DEFAULTS } from '../../src/protocol/queue-types';
import { BrokerHarness } from '../helpers/broker-harness';

const FIFO: QueueAttributesInput = { sqs: { fifo: true } };

function setup(attrs: QueueAttributesInput = {}, name = 'f'): BrokerHarness {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: name, attrs: { ...attrs, sqs: { fifo: true, ...attrs.sqs } } });
  return h;
}

/** Sends bodies named `<group><n>` (e.g. 'A1') to their group; returns the result. */
function send(h: BrokerHarness, names: string[], queueName = 'f', extra: { dedupId?: string }[] = []): Extract<CommandResult, { kind: 'sendMessages' }> {
  return h.ok({
    kind: 'sendMessages',
    queueName,
    delaySeconds: null,
    bodies: names.map((n) => Buffer.from(n)),
    options: names.map((n, i) => ({ groupId: n.slice(0, 1), ...extra[i] })),
  });
}

function receive(h: BrokerHarness, n = 10, visibilitySeconds?: number, queueName = 'f'): ReceivedMessage[] {
  const cmd: Command = { kind: 'receiveMessages', queueName, numOfMsg: n, seed: 11 };
  if (visibilitySeconds !== undefined) cmd.visibilitySeconds = visibilitySeconds;
  return h.ok(cmd).messages;
}

const names = (h: BrokerHarness, ms: ReceivedMessage[]): string[] => ms.map((m) => h.body(m.body).toString());

function del(h: BrokerHarness, ms: ReceivedMessage[], queueName = 'f'): void {
  assert.deepEqual(h.ok({ kind: 'deleteMessages', queueName, receiptHandles: ms.map((m) => m.receiptHandle) }).failures, []);
}

function tick(h: BrokerHarness, ms: number): void {
  h.advance(ms);
  h.ok({ kind: 'tick' });
}

void test('one receive takes as many messages of the oldest group as it may, in send order, then the next group', () => {
  const h = setup();
  send(h, ['A1', 'B1', 'A2', 'B2', 'A3']);
  const got = receive(h, 10);
  assert.deepEqual(names(h, got), ['A1', 'A2', 'A3', 'B1', 'B2']);
  assert.deepEqual(
    got.map((m) => m.groupId),
    ['A', 'A', 'A', 'B', 'B'],
  );
});

void test('a group is locked while any of its messages is in flight; other groups go on; deleting them unlocks it', () => {
  const h = setup();
  send(h, ['A1', 'A2', 'B1', 'A3', 'B2']);
  const a = receive(h, 2);
  assert.deepEqual(names(h, a), ['A1', 'A2']);
  const b = receive(h, 1);
  assert.deepEqual(names(h, b), ['B1'], 'A is locked, B is served');
  assert.deepEqual(receive(h), [], 'both groups are locked now');
  del(h, a.slice(0, 1));
  assert.deepEqual(receive(h), [], 'A2 still holds group A');
  del(h, a.slice(1));
  assert.deepEqual(names(h, receive(h)), ['A3']);
  del(h, b);
  assert.deepEqual(names(h, receive(h)), ['B2']);
});

void test('a message whose visibility ends comes back before the later messages of its group', () => {
  const h = setup({ visibilityTimeout: 5 });
  send(h, ['A1', 'A2']);
  assert.deepEqual(names(h, receive(h, 1)), ['A1']);
  tick(h, 4999);
  assert.deepEqual(receive(h), [], 'still in flight: A2 waits');
  tick(h, 1);
  const again = receive(h);
  assert.deepEqual(names(h, again), ['A1', 'A2']);
  assert.deepEqual(
    again.map((m) => m.dequeueCount),
    [2, 1],
  );
});

void test('changeVisibility 0 releases a message, but its group stays locked until none of it is in flight', () => {
  const h = setup();
  send(h, ['A1', 'A2', 'A3']);
  const [a1, a2] = receive(h, 2);
  assert.ok(a1 && a2);
  h.ok({ kind: 'changeVisibility', queueName: 'f', entries: [{ receiptHandle: a1.receiptHandle, visibilitySeconds: 0 }] });
  assert.deepEqual(receive(h), [], 'A2 is in flight: A1 may not overtake it, nor A3');
  h.ok({ kind: 'changeVisibility', queueName: 'f', entries: [{ receiptHandle: a2.receiptHandle, visibilitySeconds: 0 }] });
  assert.deepEqual(names(h, receive(h)), ['A1', 'A2', 'A3']);
});

void test('dead-letter on maxReceiveCount: the moved message unblocks its group and keeps its group in the FIFO dead-letter queue', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'dlq', attrs: FIFO });
  h.ok({ kind: 'createQueue', queueName: 'f', attrs: { ...FIFO, visibilityTimeout: 1, deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1 } } });
  const sent = send(h, ['A1', 'A2']);
  assert.deepEqual(names(h, receive(h, 1)), ['A1']);
  tick(h, 1000);
  const next = receive(h, 1);
  assert.deepEqual(names(h, next), ['A2'], 'A1 went to the dead-letter queue in this receive; A2 follows at once');
  const moved = receive(h, 10, undefined, 'dlq');
  assert.deepEqual(
    moved.map((m) => [h.body(m.body).toString(), m.groupId, m.msgId, m.sequenceNumber]),
    [['A1', 'A', sent.msgIds[0], sent.sequenceNumbers![0]]],
  );
});

void test('a dead-letter TTL move of a message in flight unlocks its group', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'dlq', attrs: FIFO });
  h.ok({ kind: 'createQueue', queueName: 'f', attrs: { ...FIFO, msgRetentionSeconds: 60, deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 1, maxTimeToLive: 10 } } });
  send(h, ['A1']);
  tick(h, 5000);
  send(h, ['A2']);
  assert.deepEqual(names(h, receive(h, 1, 30)), ['A1']);
  assert.deepEqual(receive(h), []);
  tick(h, 5000);
  assert.deepEqual(names(h, receive(h)), ['A2'], 'A1 left for the dead-letter queue while in flight');
  assert.deepEqual(names(h, receive(h, 10, undefined, 'dlq')), ['A1']);
});

void test('a FIFO queue and its dead-letter queue are both FIFO or both standard', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'std', attrs: {} });
  h.ok({ kind: 'createQueue', queueName: 'fdlq', attrs: FIFO });
  const to = (q: string) => ({ deadLetterPolicy: { deadLetterQueue: q, policy: 0 as const, maxReceiveCount: 3 } });
  const r1 = h.run({ kind: 'createQueue', queueName: 'f', attrs: { ...FIFO, ...to('std') } });
  assert.ok(!r1.ok && r1.error === 'dlqPolicyParams');
  const r2 = h.run({ kind: 'createQueue', queueName: 's', attrs: to('fdlq') });
  assert.ok(!r2.ok && r2.error === 'dlqPolicyParams');
  h.ok({ kind: 'createQueue', queueName: 'f', attrs: { ...FIFO, ...to('fdlq') } });
});

void test('deduplication on a FIFO queue: a duplicate is not enqueued and answers the first msgId and sequence number', () => {
  const h = setup();
  const first = send(h, ['A1', 'A2'], 'f', [{ dedupId: 'x' }, { dedupId: 'y' }]);
  const again = send(h, ['A1', 'A3'], 'f', [{ dedupId: 'x' }, { dedupId: 'z' }]);
  assert.equal(again.msgIds[0], first.msgIds[0]);
  assert.equal(again.sequenceNumbers![0], first.sequenceNumbers![0]);
  assert.deepEqual(names(h, receive(h)), ['A1', 'A2', 'A3']);
});

void test('every FIFO message needs a group; only the queue has a delay; a standard queue ignores groups', () => {
  const h = setup();
  assert.deepEqual(h.run({ kind: 'sendMessages', queueName: 'f', delaySeconds: null, bodies: [Buffer.from('x')] }), { ok: false, error: 'fifoGroupIdRequired' });
  assert.deepEqual(h.run({ kind: 'sendMessages', queueName: 'f', delaySeconds: null, bodies: [Buffer.from('x'), Buffer.from('y')], options: [{ groupId: 'g' }, {}] }), {
    ok: false,
    error: 'fifoGroupIdRequired',
  });
  assert.deepEqual(h.run({ kind: 'sendMessages', queueName: 'f', delaySeconds: null, bodies: [Buffer.from('x')], options: [{ groupId: 'g', delaySeconds: 0 }] }), {
    ok: false,
    error: 'fifoMessageDelay',
  });
  assert.deepEqual(h.run({ kind: 'sendMessages', queueName: 'f', delaySeconds: 5, bodies: [Buffer.from('x')], options: [{ groupId: 'g' }] }), { ok: false, error: 'fifoMessageDelay' });
  assert.equal(h.sm.getQueueAttributes('f')!.activeMsgNum, 0, 'refused sends enqueue nothing');
  h.ok({ kind: 'createQueue', queueName: 'std', attrs: {} });
  send(h, ['A1', 'A2'], 'std');
  const got = receive(h, 10, undefined, 'std');
  assert.deepEqual(names(h, got), ['A1', 'A2'], 'no group lock on a standard queue');
  assert.ok(got.every((m) => m.groupId === undefined));
});

void test('the queue delay applies to every FIFO message (an explicit 0 too); due order is send order while it stays', () => {
  const h = setup({ sqs: { delaySeconds: 5 } });
  send(h, ['A1']);
  h.ok({ kind: 'sendMessages', queueName: 'f', delaySeconds: 0, bodies: [Buffer.from('A2')], options: [{ groupId: 'A' }] });
  assert.deepEqual(receive(h), []);
  tick(h, 5000);
  assert.deepEqual(names(h, receive(h)), ['A1', 'A2']);
  // Documented: a lowered queue delay lets a later message be due before an earlier one still delayed.
  const h2 = setup({ sqs: { delaySeconds: 10 } });
  send(h2, ['A1']);
  h2.ok({ kind: 'setQueueAttributes', queueName: 'f', attrs: { sqs: { delaySeconds: 0 } } });
  send(h2, ['A2']);
  assert.deepEqual(names(h2, receive(h2)), ['A2']);
});

void test('fifo is set at creation only; the FIFO settings are stored, reported, and go through the codec', () => {
  const h = setup({ sqs: { contentBasedDeduplication: true, deduplicationScope: 'messageGroup', fifoThroughputLimit: 'perMessageGroupId' } });
  h.ok({ kind: 'createQueue', queueName: 'std', attrs: {} });
  assert.deepEqual(h.run({ kind: 'setQueueAttributes', queueName: 'f', attrs: { sqs: { fifo: false } } }), { ok: false, error: 'fifoImmutable' });
  assert.deepEqual(h.run({ kind: 'setQueueAttributes', queueName: 'std', attrs: { sqs: { fifo: true } } }), { ok: false, error: 'fifoImmutable' });
  h.ok({ kind: 'setQueueAttributes', queueName: 'f', attrs: { sqs: { fifo: true, contentBasedDeduplication: false } } });
  assert.deepEqual(h.sm.getQueueAttributes('f')!.sqs, {
    ...SQS_QUEUE_DEFAULTS,
    fifo: true,
    contentBasedDeduplication: false,
    deduplicationScope: 'messageGroup',
    fifoThroughputLimit: 'perMessageGroupId',
  });
  assert.deepEqual(h.sm.getQueueAttributes('std')!.sqs, SQS_QUEUE_DEFAULTS);
  const restored = QueueStateMachine.restore(h.sm.snapshot());
  assert.deepEqual(restored.getQueueAttributes('f')!.sqs, h.sm.getQueueAttributes('f')!.sqs);
  const cmds: Command[] = [
    { kind: 'createQueue', queueName: 'f', attrs: { sqs: { fifo: true, contentBasedDeduplication: true, deduplicationScope: 'queue', fifoThroughputLimit: 'perQueue' } } },
    { kind: 'sendMessages', queueName: 'f', delaySeconds: null, bodies: [Buffer.from('a'), Buffer.from('b')], options: [{ groupId: 'g1', dedupId: 'd' }, { groupId: 'g'.repeat(128), enveloped: true }] },
  ];
  for (const c of cmds) {
    const { payload, metaLen } = encodeCommand(c);
    const d = decodeCommand(payload, metaLen);
    if (c.kind === 'sendMessages' && d.kind === 'sendMessages') assert.deepEqual(d.options, c.options);
    else assert.deepEqual(d, c);
  }
  assert.throws(() => encodeCommand({ kind: 'sendMessages', queueName: 'f', delaySeconds: null, bodies: [Buffer.from('a')], options: [{ groupId: '' }] }), /groupId/);
  assert.throws(() => encodeCommand({ kind: 'createQueue', queueName: 'x', attrs: { sqs: { deduplicationScope: 'nope' as 'queue' } } }), /deduplicationScope/);
});

void test('sequence numbers: 20 digits, increasing with every message of a queue, the same on send and receive', () => {
  const h = setup();
  const a = send(h, ['A1', 'B1']);
  const b = send(h, ['A2']);
  const all = [...a.sequenceNumbers!, ...b.sequenceNumbers!];
  assert.ok(all.every((s) => /^\d{20}$/.test(s)));
  assert.deepEqual([...all].sort(), all);
  assert.equal(new Set(all).size, 3);
  assert.equal(sequenceNumberOf(3, 2), '00000000000000000050');
  const got = receive(h);
  assert.deepEqual(
    got.map((m) => m.sequenceNumber),
    [a.sequenceNumbers![0], b.sequenceNumbers![0], a.sequenceNumbers![1]],
  );
});

void test('rewind on a FIFO queue replays deleted and in-flight messages in group order; the group locks stay right', () => {
  const h = setup({ rewindSeconds: 3600 });
  send(h, ['A1', 'A2', 'A3']);
  tick(h, 1000);
  const a1 = receive(h, 1);
  del(h, a1);
  const a2 = receive(h, 1);
  assert.deepEqual(names(h, a2), ['A2']);
  h.ok({ kind: 'rewindQueue', queueName: 'f', startConsumeTimeSec: Math.floor(h.timeMs / 1000) - 60 });
  assert.equal(h.sm.getQueueAttributes('f')!.inactiveMsgNum, 0);
  assert.deepEqual(names(h, receive(h)), ['A1', 'A2', 'A3']);
});

void test('purge on a FIFO queue with messages in flight leaves no group locked', () => {
  const h = setup();
  send(h, ['A1', 'A2', 'B1']);
  receive(h, 1);
  assert.equal(h.ok({ kind: 'purgeQueue', queueName: 'f' }).purged, 3);
  send(h, ['A3', 'B2']);
  assert.deepEqual(names(h, receive(h)), ['A3', 'B2']);
});

void test('a topic cannot deliver into a FIFO queue (no group): the delivery is dropped and counted', () => {
  const h = setup();
  h.ok({ kind: 'createTopic', topicName: 't', maxMsgSize: 65536, filterType: 1 });
  h.ok({ kind: 'subscribe', topicName: 't', subscriptionName: 's', protocol: 'queue', endpoint: 'f', notifyStrategy: 'BACKOFF_RETRY', notifyContentFormat: 'SIMPLIFIED', filterTags: [], bindingKeys: [] });
  h.ok({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('x')], msgTags: [], routingKey: '' });
  assert.equal(h.sm.topicStats().deliveryDrops, 1);
  assert.equal(h.sm.getQueueAttributes('f')!.activeMsgNum, 0);
});

void test('a snapshot taken mid-way restores to a machine giving the same results and snapshot bytes', () => {
  const h = setup({ visibilityTimeout: 3, rewindSeconds: 600 });
  const script: ((hh: { run: (c: Command) => CommandResult; advance: (ms: number) => void }, handles: string[]) => void)[] = [];
  const step = (f: (typeof script)[number]) => script.push(f);
  const recv = (n: number, vis?: number) =>
    step((x, handles) => {
      const r = x.run({ kind: 'receiveMessages', queueName: 'f', numOfMsg: n, seed: 5, ...(vis === undefined ? {} : { visibilitySeconds: vis }) });
      if (r.ok && r.kind === 'receiveMessages') handles.push(...r.messages.map((m) => m.receiptHandle));
    });
  const sendStep = (ns: string[]) =>
    step((x) => x.run({ kind: 'sendMessages', queueName: 'f', delaySeconds: null, bodies: ns.map((n) => Buffer.from(n)), options: ns.map((n) => ({ groupId: n.slice(0, 1) })) }));
  const delStep = (k: number) => step((x, handles) => x.run({ kind: 'deleteMessages', queueName: 'f', receiptHandles: [handles[k % handles.length] ?? 'x'] }));
  const adv = (ms: number) => step((x) => x.advance(ms));
  sendStep(['A1', 'B1', 'A2', 'C1', 'B2', 'A3']);
  recv(2);
  recv(1, 10);
  delStep(0);
  adv(3000);
  sendStep(['C2', 'A4']);
  recv(3);
  // -- the snapshot is taken here --
  delStep(1);
  recv(10);
  adv(3500);
  recv(4);
  delStep(3);
  step((x) => x.run({ kind: 'rewindQueue', queueName: 'f', startConsumeTimeSec: Math.floor(h.timeMs / 1000) - 5 }));
  recv(10);
  adv(20_000);
  recv(10);
  const half = 7;
  const handles: string[] = [];
  const direct = { run: (c: Command) => h.run(c), advance: (ms: number) => h.advance(ms) };
  script.slice(0, half).forEach((f) => f(direct, handles));
  const restored = QueueStateMachine.restore(h.sm.snapshot());
  // Both machines apply the same remaining entries.
  const results: [CommandResult[], CommandResult[]] = [[], []];
  const handles2 = [...handles];
  let index = h.index;
  let time = h.timeMs;
  const onBoth = {
    run: (c: Command): CommandResult => {
      const { payload, metaLen } = encodeCommand(c);
      h.payloads.set(++index, payload);
      const a = h.sm.apply(index, time, payload, metaLen);
      const b = restored.apply(index, time, payload, metaLen);
      results[0].push(a);
      results[1].push(b);
      return a;
    },
    advance: (ms: number) => {
      time += ms;
    },
  };
  script.slice(half).forEach((f) => f(onBoth, handles2));
  assert.ok(results[0].length > 5);
  assert.deepEqual(results[1], results[0]);
  assert.deepEqual(Buffer.from(restored.snapshot()), Buffer.from(h.sm.snapshot()));
});

void test('a snapshot written before FIFO queues existed (queue meta without the FIFO settings) loads as standard queues', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'old', attrs: { sqs: { delaySeconds: 3 } } });
  const snap = Buffer.from(h.sm.snapshot());
  const header = 4 + 1 + 6 * 8 + 4;
  const metaLen = snap.readUInt32LE(header);
  const meta = JSON.parse(snap.subarray(header + 4, header + 4 + metaLen).toString()) as { sqs: Record<string, unknown> };
  meta.sqs = { delaySeconds: meta.sqs.delaySeconds, redriveAllowPolicy: meta.sqs.redriveAllowPolicy };
  const newMeta = Buffer.from(JSON.stringify(meta));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(newMeta.length);
  const old = Buffer.concat([snap.subarray(0, header), len, newMeta, snap.subarray(header + 4 + metaLen)]);
  const restored = QueueStateMachine.restore(Uint8Array.from(old));
  assert.deepEqual(restored.getQueueAttributes('old')!.sqs, { ...SQS_QUEUE_DEFAULTS, delaySeconds: 3 });
});

// ---- model-based property test ----

interface ModelMsg {
  body: string;
  group: number;
  /** Order of the message within its group. */
  order: number;
  sentMs: number;
  deleted: boolean;
  /** In flight until this time (exclusive), under `handle`; -1: never received. */
  untilMs: number;
  handle: string;
  receives: number;
  /** The last entry applied when untilMs was set. */
  setAtIndex: number;
}

type Op =
  | { t: 'send'; groups: number[] }
  | { t: 'recv'; n: number; vis: number }
  | { t: 'del'; pick: number }
  | { t: 'vis'; pick: number; vis: number }
  | { t: 'adv'; ms: number }
  | { t: 'snap' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('send' as const), groups: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('recv' as const), n: fc.integer({ min: 1, max: 10 }), vis: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('del' as const), pick: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('vis' as const), pick: fc.nat(50), vis: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('adv' as const), ms: fc.constantFrom(0, 500, 1000, 2000, 3000) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('snap' as const) }) },
);

/** Runs ops on a FIFO queue over `groupCount` groups, checking the FIFO rules against a model after every step. */
function runFifoScenario(groupCount: number, queueDelay: number, ops: Op[]): void {
  const h = setup({ sqs: { delaySeconds: queueDelay }, visibilityTimeout: 2 });
  const msgs = new Map<string, ModelMsg>();
  const byGroup: ModelMsg[][] = Array.from({ length: groupCount }, () => []);
  const handles: string[] = [];
  const byHandle = new Map<string, ModelMsg>();
  let bodyNo = 0;
  const inFlight = (m: ModelMsg): boolean => !m.deleted && h.timeMs < m.untilMs;
  const pendingOf = (g: number): ModelMsg[] => byGroup[g]!.filter((m) => !m.deleted);
  const due = (m: ModelMsg): boolean => h.timeMs >= m.sentMs + queueDelay * 1000;
  const handleValid = (handle: string): boolean => {
    const m = byHandle.get(handle);
    return m !== undefined && m.handle === handle && inFlight(m);
  };

  const receiveAndCheck = (n: number, vis: number, step: number): ReceivedMessage[] => {
    const lockedBefore = byGroup.map((ms) => ms.some(inFlight));
    const got = h.ok({ kind: 'receiveMessages', queueName: 'f', numOfMsg: n, seed: step, visibilitySeconds: vis }).messages;
    assert.ok(got.length <= n);
    const taken = new Map<number, ModelMsg[]>();
    let lastGroup = -1;
    for (const r of got) {
      const m = msgs.get(h.body(r.body).toString());
      assert.ok(m, 'a received message was sent');
      assert.equal(r.groupId, `g${m.group}`);
      // (c) never in flight twice; (a) a locked group delivers nothing.
      assert.ok(!inFlight(m), `step ${step}: ${m.body} delivered while in flight`);
      assert.ok(!lockedBefore[m.group], `step ${step}: ${m.body} delivered while group ${m.group} was locked`);
      // A group's messages come together in one receive.
      if (m.group !== lastGroup) assert.ok(!taken.has(m.group), `step ${step}: group ${m.group} split within a receive`);
      lastGroup = m.group;
      const list = taken.get(m.group) ?? [];
      list.push(m);
      taken.set(m.group, list);
    }
    for (const [g, list] of taken) {
      // (b) a group's delivery is its oldest undeleted messages, in send order (a redelivered one included).
      assert.deepEqual(
        list.map((m) => m.body),
        pendingOf(g)
          .slice(0, list.length)
          .map((m) => m.body),
        `step ${step}: group ${g} out of order`,
      );
    }
    if (got.length < n) {
      // Nothing held back: every unlocked group gave all its due messages.
      for (let g = 0; g < groupCount; g++) {
        if (lockedBefore[g]) continue;
        const dueCount = pendingOf(g).filter(due).length;
        assert.equal(taken.get(g)?.length ?? 0, dueCount, `step ${step}: group ${g} held back messages`);
      }
    }
    got.forEach((r) => {
      const m = msgs.get(h.body(r.body).toString())!;
      m.untilMs = h.timeMs + vis * 1000;
      m.setAtIndex = h.index;
      m.handle = r.receiptHandle;
      m.receives++;
      assert.equal(r.dequeueCount, m.receives);
      handles.push(r.receiptHandle);
      byHandle.set(r.receiptHandle, m);
    });
    return got;
  };

  ops.forEach((op, step) => {
    switch (op.t) {
      case 'send': {
        const bodies = op.groups.map((g) => ({ g, body: `g${g}-${bodyNo++}` }));
        const r = h.ok({
          kind: 'sendMessages',
          queueName: 'f',
          delaySeconds: null,
          bodies: bodies.map((b) => Buffer.from(b.body)),
          options: bodies.map((b) => ({ groupId: `g${b.g}` })),
        });
        assert.equal(r.sequenceNumbers!.length, bodies.length);
        for (const b of bodies) {
          const m: ModelMsg = { body: b.body, group: b.g, order: byGroup[b.g]!.length, sentMs: h.timeMs, deleted: false, untilMs: -1, handle: '', receives: 0, setAtIndex: 0 };
          msgs.set(b.body, m);
          byGroup[b.g]!.push(m);
        }
        break;
      }
      case 'recv':
        receiveAndCheck(op.n, op.vis, step);
        break;
      case 'del': {
        const handle = handles[handles.length - 1 - (op.pick % Math.max(1, handles.length))] ?? 'none';
        const valid = handleValid(handle);
        const r = h.ok({ kind: 'deleteMessages', queueName: 'f', receiptHandles: [handle] });
        assert.equal(r.failures.length === 0, valid, `step ${step}: delete of ${handle}`);
        if (valid) byHandle.get(handle)!.deleted = true;
        break;
      }
      case 'vis': {
        const handle = handles[handles.length - 1 - (op.pick % Math.max(1, handles.length))] ?? 'none';
        const valid = handleValid(handle);
        const r = h.ok({ kind: 'changeVisibility', queueName: 'f', entries: [{ receiptHandle: handle, visibilitySeconds: op.vis }] });
        assert.equal(r.failures.length === 0, valid, `step ${step}: visibility change of ${handle}`);
        // Visibility 0 makes the message visible at once (no deadline left to pass).
        if (valid) Object.assign(byHandle.get(handle)!, { untilMs: h.timeMs + op.vis * 1000, setAtIndex: op.vis === 0 ? -1 : h.index });
        break;
      }
      case 'adv':
        tick(h, op.ms);
        break;
      case 'snap': {
        const bytes = h.sm.snapshot();
        h.sm = QueueStateMachine.restore(bytes);
        assert.deepEqual(Buffer.from(h.sm.snapshot()), Buffer.from(bytes), `step ${step}: restore gives the same snapshot`);
        break;
      }
    }
    const a = h.sm.getQueueAttributes('f')!;
    const undeleted = [...msgs.values()].filter((m) => !m.deleted);
    assert.equal(a.activeMsgNum + a.inactiveMsgNum + a.delayMsgNum, undeleted.length, `step ${step}: messages held`);
    // A receive with visibility 0 leaves its messages in flight until the next entry is applied.
    const heldInFlight = (m: ModelMsg): boolean => inFlight(m) || (!m.deleted && m.untilMs === h.timeMs && m.setAtIndex === h.index);
    assert.equal(a.inactiveMsgNum, undeleted.filter(heldInFlight).length, `step ${step}: in flight`);
  });

  // (d) Nothing is lost: receiving (and deleting) on, every undeleted message comes out once.
  const left = new Set([...msgs.values()].filter((m) => !m.deleted).map((m) => m.body));
  for (let round = 0; left.size > 0; round++) {
    assert.ok(round < 1000, `messages never delivered: ${[...left].join(', ')}`);
    tick(h, 3000 + queueDelay * 1000);
    const got = receiveAndCheck(10, 30, ops.length + round);
    for (const r of got) {
      const m = msgs.get(h.body(r.body).toString())!;
      assert.ok(left.delete(m.body), `${m.body} delivered twice`);
    }
    if (got.length > 0) {
      assert.deepEqual(h.ok({ kind: 'deleteMessages', queueName: 'f', receiptHandles: got.map((r) => r.receiptHandle) }).failures, []);
      for (const r of got) byHandle.get(r.receiptHandle)!.deleted = true;
    }
  }
  const a = h.sm.getQueueAttributes('f')!;
  assert.deepEqual([a.activeMsgNum, a.inactiveMsgNum, a.delayMsgNum], [0, 0, 0]);
}

void test('FIFO rules hold against a model over random sends, receives, deletes, visibility changes, time and restores', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.constantFrom(0, 0, 1), fc.array(opArb, { minLength: 1, maxLength: 80 }), (groups, delay, ops) =>
      runFifoScenario(groups, delay, ops.map((op) => (op.t === 'send' ? { ...op, groups: op.groups.map((g) => g % groups) } : op))),
    ),
    { numRuns: 250 },
  );
});

void test('a long FIFO scenario keeps the rules over many messages', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.array(opArb, { minLength: 300, maxLength: 400 }), (groups, ops) =>
      runFifoScenario(groups, 0, ops.map((op) => (op.t === 'send' ? { ...op, groups: op.groups.map((g) => g % groups) } : op))),
    ),
    { numRuns: 10 },
  );
});
