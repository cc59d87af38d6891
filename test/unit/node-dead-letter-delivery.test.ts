// The leader's sending of dead letters into a dead-letter queue on another set (push-delivery.ts
// with outbox.ts): a real source-set state machine whose queue's policy is remote, the delivery
// loop, and a fake or state-machine-backed dead-letter queue set. Each dead letter goes once with
// its envelope and group under a stable deduplication id, is retried until taken, is dropped only
// when gone, and a new leader's repeat is kept once.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { Command, CommandResult, DeadLetterPolicy, SendBodyOptions } from '../../src/broker/commands';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { deadLetterDedupId, queueDeliveryThrough, type DeliverToQueue, type QueueDeliveryOutcome, type QueueSendOptions } from '../../src/node/outbox';
import { PushDelivery, type PushDeliveryOptions } from '../../src/node/push-delivery';
import { nodeRuntime } from '../../src/runtime/node-runtime';
import { countedBytes, decodeEnvelope, encodeEnvelope } from '../../src/service/message-envelope';
import { BrokerHarness } from '../helpers/broker-harness';

const POLICY: DeadLetterPolicy = { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1, remote: true };

/** The source queue's set, on the wall clock (the loop compares due times with it). */
class SourceSet extends BrokerHarness {
  readonly proposed: Command[] = [];

  constructor(fifo = false) {
    super();
    this.timeMs = Date.now();
    this.ok({ kind: 'createQueue', queueName: 'src', attrs: fifo ? { deadLetterPolicy: POLICY, sqs: { fifo: true } } : { deadLetterPolicy: POLICY } });
  }

  /** Sends, then receives twice: past maxReceiveCount 1, every message is in the outbox. */
  deadLetters(sends: { body: Uint8Array; options?: SendBodyOptions }[]): string[] {
    this.timeMs = Date.now();
    const msgIds = sends.map(({ body, options }) => this.ok({ kind: 'sendMessages', queueName: 'src', delaySeconds: options === undefined ? null : 0, bodies: [body], ...(options ? { options: [options] } : {}) }).msgIds[0]!);
    this.ok({ kind: 'receiveMessages', queueName: 'src', numOfMsg: 16, seed: 1, visibilitySeconds: 0 });
    this.advance(1);
    this.ok({ kind: 'receiveMessages', queueName: 'src', numOfMsg: 16, seed: 2 });
    assert.equal(this.pending(), msgIds.length);
    return msgIds;
  }

  pending(): number {
    return this.sm.stats().deadLetterPending;
  }

  options(deliverToQueue: DeliverToQueue | undefined, extra: Partial<PushDeliveryOptions> = {}): PushDeliveryOptions {
    return {
      dueDeliveries: (nowMs, limit) => this.sm.dueDeliveries(nowMs, limit),
      nextAttemptMs: () => this.sm.nextPushAttemptMs(),
      readBody: (ref) => Promise.resolve(this.body(ref)),
      propose: (cmd) => {
        this.proposed.push(cmd);
        this.timeMs = Math.max(this.timeMs, Date.now());
        return Promise.resolve(this.run(cmd));
      },
      post: () => Promise.reject(new Error('a dead letter must not be POSTed')),
      ...(deliverToQueue ? { deliverToQueue } : {}),
      runtime: nodeRuntime,
      log: () => undefined,
      ...extra,
    };
  }
}

interface Sent {
  queueName: string;
  body: Buffer;
  dedupId: string;
  options: QueueSendOptions | undefined;
}

function scripted(answers: QueueDeliveryOutcome[], sent: Sent[]): DeliverToQueue {
  return (queueName, body, dedupId, _signal, options) => {
    sent.push({ queueName, body, dedupId, options });
    return Promise.resolve(answers.length > 1 ? answers.shift()! : answers[0]!);
  };
}

/** The dead-letter queue's set: a state machine applying the sends. */
class DlqSet extends BrokerHarness {
  constructor(fifo = false) {
    super();
    this.ok({ kind: 'createQueue', queueName: 'dlq', attrs: fifo ? { sqs: { fifo: true } } : {} });
  }

  submit = (command: Command): Promise<CommandResult> => {
    this.timeMs = Math.max(this.timeMs, Date.now());
    return Promise.resolve(this.run(command));
  };

  receiveAll(): Extract<CommandResult, { ok: true; kind: 'receiveMessages' }>['messages'] {
    return this.ok({ kind: 'receiveMessages', queueName: 'dlq', numOfMsg: 16, seed: 7 }).messages;
  }
}

function recordingThrough(dlqSet: DlqSet, sent: Sent[]): DeliverToQueue {
  const through = queueDeliveryThrough((cmd) => dlqSet.submit(cmd));
  return (queueName, body, dedupId, signal, options) => {
    sent.push({ queueName, body, dedupId, options });
    return through(queueName, body, dedupId, signal, options);
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function running<T>(loop: PushDelivery, body: () => Promise<T>): Promise<T> {
  loop.start();
  try {
    return await body();
  } finally {
    await loop.stop();
  }
}

describe('dead letters into a dead-letter queue on another set', () => {
  test('each is sent once, with its envelope and a stable deduplication id, lands in the dead-letter queue, and is settled', async () => {
    const src = new SourceSet();
    const envelope = encodeEnvelope({ attributes: new Map([['kind', { dataType: 'String', stringValue: 'credit' }]]), system: new Map(), body: Buffer.from('with attributes') });
    const counted = countedBytes(decodeEnvelope(envelope)!);
    const [plain, attributed] = src.deadLetters([{ body: Buffer.from('plain') }, { body: envelope, options: { enveloped: true, countedBytes: counted } }]);
    const since = src.index; // the receive that dead-lettered both
    const dlqSet = new DlqSet();
    const sent: Sent[] = [];
    const loop = new PushDelivery(src.options(recordingThrough(dlqSet, sent)));
    await running(loop, async () => {
      await waitFor('both settled', () => src.pending() === 0);
      await sleep(300); // nothing more is sent once they are settled
    });
    sent.sort((a, b) => a.dedupId.localeCompare(b.dedupId));
    const expected = [
      { queueName: 'dlq', dedupId: deadLetterDedupId('src', plain!, since), options: { deadLetterSource: 'src' } },
      { queueName: 'dlq', dedupId: deadLetterDedupId('src', attributed!, since), options: { enveloped: true, countedBytes: counted, deadLetterSource: 'src' } },
    ].sort((a, b) => a.dedupId.localeCompare(b.dedupId));
    assert.deepEqual(
      sent.map((s) => ({ queueName: s.queueName, dedupId: s.dedupId, options: s.options })),
      expected,
    );
    assert.ok(sent.every((s) => s.dedupId.startsWith('d:src ') && s.dedupId.endsWith(` ${since}`)));
    assert.deepEqual(src.proposed.map((c) => c.kind), ['deadLetterSent', 'deadLetterSent']);
    assert.equal(src.sm.stats().deadLetterMoves, 2);
    assert.equal(loop.stats().deadLettersSent, 2);
    // In the dead-letter queue as a local move leaves them: the body, the envelope flag.
    const got = dlqSet.receiveAll().map((m) => ({ body: dlqSet.body(m.body), enveloped: m.enveloped }));
    got.sort((a, b) => Number(a.enveloped) - Number(b.enveloped));
    assert.deepEqual(got, [
      { body: Buffer.from('plain'), enveloped: false },
      { body: Buffer.from(envelope), enveloped: true },
    ]);
  });

  test('a FIFO queue\'s dead letter keeps its message group in the FIFO dead-letter queue', async () => {
    const src = new SourceSet(true);
    src.deadLetters([{ body: Buffer.from('f'), options: { groupId: 'g7' } }]);
    const dlqSet = new DlqSet(true);
    const sent: Sent[] = [];
    await running(new PushDelivery(src.options(recordingThrough(dlqSet, sent))), () => waitFor('settled', () => src.pending() === 0));
    assert.equal(sent[0]!.options?.groupId, 'g7');
    assert.equal(dlqSet.receiveAll()[0]?.groupId, 'g7');
  });

  test("'retry' proposes deadLetterFailed and the same dead letter goes again, same id, until taken; nothing is dropped", async () => {
    const src = new SourceSet();
    const [msgId] = src.deadLetters([{ body: Buffer.from('x') }]);
    const since = src.index;
    const sent: Sent[] = [];
    const loop = new PushDelivery(src.options(scripted(['retry', 'retry', 'delivered'], sent)));
    // Backoff 1 s, then 2 s.
    await running(loop, () => waitFor('taken after two retries', () => src.pending() === 0));
    assert.deepEqual(
      src.proposed.map((c) => (c.kind === 'deadLetterFailed' ? `failed gone=${c.gone}` : c.kind)),
      ['failed gone=false', 'failed gone=false', 'deadLetterSent'],
    );
    assert.equal(sent.length, 3);
    assert.ok(sent.every((s) => s.dedupId === deadLetterDedupId('src', msgId!, since)));
    assert.equal(src.sm.stats().deadLetterDrops, 0);
    assert.equal(src.sm.stats().deadLetterMoves, 1);
    assert.equal(loop.stats().deadLetterFailures, 2);
  });

  test("'gone' drops it, counted in deadLetterDrops", async () => {
    const src = new SourceSet();
    src.deadLetters([{ body: Buffer.from('x') }]);
    const loop = new PushDelivery(src.options(scripted(['gone'], [])));
    await running(loop, () => waitFor('dropped', () => src.pending() === 0));
    assert.deepEqual(src.proposed, [{ kind: 'deadLetterFailed', queueName: 'src', msgId: (src.proposed[0] as { msgId: string }).msgId, gone: true }]);
    assert.equal(src.sm.stats().deadLetterDrops, 1);
    assert.equal(loop.stats().deadLettersGone, 1);
  });

  test('through the access layer: the send carries the group a FIFO dead-letter queue needs; a missing queue is gone, a full one retry', async () => {
    const fifo = new DlqSet(true);
    const deliver = queueDeliveryThrough((cmd) => fifo.submit(cmd));
    const signal = new AbortController().signal;
    assert.equal(await deliver('dlq', Buffer.from('x'), 'd:src 1', signal, { groupId: 'g1' }), 'delivered');
    assert.equal(fifo.receiveAll()[0]?.groupId, 'g1');
    // Without a group a FIFO queue refuses it for good.
    assert.equal(await deliver('dlq', Buffer.from('x'), 'd:src 2', signal), 'gone');
    assert.equal(await deliver('nowhere', Buffer.from('x'), 'd:src 3', signal, { groupId: 'g1' }), 'gone');
    const standard = new DlqSet();
    const toStandard = queueDeliveryThrough((cmd) => standard.submit(cmd));
    standard.ok({ kind: 'setQueueAttributes', queueName: 'dlq', attrs: { maxMsgHeapNum: 1 } });
    assert.equal(await toStandard('dlq', Buffer.from('x'), 'd:src 1', signal, { enveloped: false }), 'delivered');
    // Full: not taken now, taken later (a dead letter waits for room, it is not dropped).
    assert.equal(await toStandard('dlq', Buffer.from('y'), 'd:src 2', signal), 'retry');
  });

  test('a new leader sends what the old one left unsettled with the same id, and the dead-letter queue keeps it once', async () => {
    const src = new SourceSet();
    src.deadLetters([{ body: Buffer.from('once') }]);
    const dlqSet = new DlqSet();
    const sent: Sent[] = [];
    const deliver = recordingThrough(dlqSet, sent);
    let proposing = false;
    const old = new PushDelivery(
      src.options(deliver, {
        propose: () => {
          proposing = true;
          return new Promise<CommandResult>(() => undefined);
        },
      }),
    );
    old.start();
    await waitFor('the old leader sent and is proposing', () => proposing);
    await old.stop();
    assert.equal(src.pending(), 1, 'still pending: no outcome was applied');
    src.sm = QueueStateMachine.restore(src.sm.snapshot());
    await running(new PushDelivery(src.options(deliver)), () => waitFor('the new leader settled it', () => src.pending() === 0));
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.dedupId, sent[0]!.dedupId);
    assert.deepEqual(
      dlqSet.receiveAll().map((m) => dlqSet.body(m.body).toString()),
      ['once'],
    );
  });

  test('a redrive with no destination sends a dead letter from another set back to its source queue there', async () => {
    const src = new SourceSet();
    src.deadLetters([{ body: Buffer.from('round trip') }]);
    const dlqSet = new DlqSet();
    await running(new PushDelivery(src.options(queueDeliveryThrough((cmd) => dlqSet.submit(cmd)))), () => waitFor('in the dead-letter queue', () => src.pending() === 0));
    // On the dead-letter queue's set: a move task back to where each came from.
    dlqSet.timeMs = Math.max(dlqSet.timeMs, Date.now());
    const task = dlqSet.ok({ kind: 'startMoveTask', sourceQueue: 'dlq', destinationQueue: null, maxPerSecond: null });
    assert.equal(dlqSet.ok({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: null, maxMessages: 10, taskHandle: task.taskHandle }).moved, 1);
    const proposed: Command[] = [];
    const back = new PushDelivery({
      dueDeliveries: (nowMs, limit) => dlqSet.sm.dueDeliveries(nowMs, limit),
      nextAttemptMs: () => dlqSet.sm.nextPushAttemptMs(),
      readBody: (ref) => Promise.resolve(dlqSet.body(ref)),
      propose: (cmd) => {
        proposed.push(cmd);
        return dlqSet.submit(cmd);
      },
      deliverToQueue: queueDeliveryThrough((cmd) => {
        src.timeMs = Math.max(src.timeMs, Date.now());
        return Promise.resolve(src.run(cmd));
      }),
      post: () => Promise.reject(new Error('not an http push')),
      runtime: nodeRuntime,
      log: () => undefined,
    });
    await running(back, () => waitFor('back in its source queue', () => dlqSet.sm.stats().deadLetterPending === 0));
    assert.deepEqual(proposed.map((c) => c.kind), ['deadLetterSent']);
    const got = src.ok({ kind: 'receiveMessages', queueName: 'src', numOfMsg: 10, seed: 3 }).messages;
    assert.deepEqual(
      got.map((m) => src.body(m.body).toString()),
      ['round trip'],
    );
  });

  test('without a way to reach other sets nothing is attempted or failed', async () => {
    const src = new SourceSet();
    src.deadLetters([{ body: Buffer.from('x') }]);
    const loop = new PushDelivery(src.options(undefined));
    await running(loop, async () => {
      await sleep(1200);
      assert.deepEqual(src.proposed, []);
      const sent: Sent[] = [];
      loop.setDeliverToQueue(scripted(['delivered'], sent));
      await waitFor('sent once it can', () => src.pending() === 0);
      assert.equal(sent.length, 1);
    });
  });
});
