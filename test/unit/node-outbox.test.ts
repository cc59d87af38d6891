// The leader's delivery of remote queue subscriptions (node/outbox.ts through push-delivery.ts):
// a real topic-set state machine, a fake or state-machine-backed queue set, and the push loop
// between them. Each message is sent once when the queue takes it, again after a 'retry', with the
// same deduplication id after a leader change, and the queue's set then keeps it once.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import type { Command, CommandResult } from '../../src/broker/commands';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { outboxDedupId, queueDeliveryOutcome, queueDeliveryThrough, queueSendCommand, type DeliverToQueue, type QueueDeliveryOutcome } from '../../src/node/outbox';
import { PushDelivery, type PushDeliveryOptions } from '../../src/node/push-delivery';
import { QueueNode } from '../../src/node/queue-node';
import type { RequestContext } from '../../src/service/request-context';
import { fail } from '../../src/protocol/errors';
import { nodeRuntime } from '../../src/runtime/node-runtime';
import { BrokerHarness } from '../helpers/broker-harness';

/** The topic's set: a state machine on the wall clock (the loop compares due times with it). */
class TopicSet extends BrokerHarness {
  readonly proposed: Command[] = [];

  constructor(notifyStrategy: 'BACKOFF_RETRY' | 'EXPONENTIAL_DECAY_RETRY' = 'EXPONENTIAL_DECAY_RETRY') {
    super();
    this.timeMs = Date.now();
    this.ok({ kind: 'createTopic', topicName: 'news', maxMsgSize: 65536, filterType: 1 });
    this.ok({
      kind: 'subscribe',
      topicName: 'news',
      subscriptionName: 'far',
      protocol: 'queue',
      endpoint: 'orders',
      notifyStrategy,
      notifyContentFormat: 'SIMPLIFIED',
      filterTags: [],
      bindingKeys: [],
      remoteQueue: true,
    });
  }

  publish(...bodies: string[]): string[] {
    this.timeMs = Date.now();
    return this.ok({ kind: 'publishMessages', topicName: 'news', bodies: bodies.map((b) => Buffer.from(b)), msgTags: ['t1'], routingKey: '' }).msgIds;
  }

  pending(): number {
    return this.sm.topicStats().pendingPushes;
  }

  /** The push loop's view of this set's replica (`sm`, which a test may replace by another one). */
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
      post: () => Promise.reject(new Error('a remote queue push must not be POSTed')),
      ...(deliverToQueue ? { deliverToQueue } : {}),
      runtime: nodeRuntime,
      log: () => undefined,
      ...extra,
    };
  }
}

interface Sent {
  queueName: string;
  body: string;
  dedupId: string;
}

/** A queue set that answers each send from a script (the last answer repeats). */
function scripted(answers: QueueDeliveryOutcome[], sent: Sent[]): DeliverToQueue {
  return (queueName, body, dedupId) => {
    sent.push({ queueName, body: body.toString(), dedupId });
    return Promise.resolve(answers.length > 1 ? answers.shift()! : answers[0]!);
  };
}

/** A queue's set: a state machine of its own, applying the sends the loop makes. */
class QueueSet extends BrokerHarness {
  submit = (command: Command): Promise<CommandResult> => {
    this.timeMs = Math.max(this.timeMs, Date.now());
    return Promise.resolve(this.run(command));
  };

  drain(queueName: string): string[] {
    const r = this.ok({ kind: 'receiveMessages', queueName, numOfMsg: 16, seed: 7 });
    return r.messages.map((m) => this.body(m.body).toString());
  }
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

describe('delivery into queues on other sets', () => {
  test('each message is sent once, raw, with its stable dedup id, and settled by pushSucceeded', async () => {
    const topics = new TopicSet();
    const msgIds = topics.publish('a', 'b');
    const sent: Sent[] = [];
    const loop = new PushDelivery(topics.options(scripted(['delivered'], sent)));
    loop.start();
    try {
      await waitFor('both settled', () => topics.pending() === 0);
      await sleep(300); // nothing more is sent once they are settled
    } finally {
      await loop.stop();
    }
    assert.deepEqual(
      sent.sort((x, y) => x.body.localeCompare(y.body)),
      [
        { queueName: 'orders', body: 'a', dedupId: outboxDedupId('news', 'far', msgIds[0]!) },
        { queueName: 'orders', body: 'b', dedupId: outboxDedupId('news', 'far', msgIds[1]!) },
      ],
    );
    assert.deepEqual(topics.proposed.map((c) => c.kind), ['pushSucceeded', 'pushSucceeded']);
    assert.equal(topics.sm.topicStats().remoteQueueDeliveries, 2);
    const s = loop.stats();
    assert.equal(s.queueDelivered, 2);
    assert.equal(s.queueFailed, 0);
  });

  test("'retry' proposes pushFailed and the message is sent again, with the same dedup id, when due", async () => {
    const topics = new TopicSet();
    const [msgId] = topics.publish('a');
    const sent: Sent[] = [];
    const loop = new PushDelivery(topics.options(scripted(['retry', 'delivered'], sent)));
    loop.start();
    try {
      // EXPONENTIAL_DECAY_RETRY: the second attempt is due 1 s after the first failure.
      await waitFor('delivered after a retry', () => topics.pending() === 0);
    } finally {
      await loop.stop();
    }
    assert.deepEqual(topics.proposed.map((c) => c.kind), ['pushFailed', 'pushSucceeded']);
    assert.equal(sent.length, 2);
    assert.equal(sent[0]!.dedupId, outboxDedupId('news', 'far', msgId!));
    assert.equal(sent[1]!.dedupId, sent[0]!.dedupId);
    assert.deepEqual(loop.stats().queueFailed, 1);
    assert.deepEqual(loop.stats().queueGone, 0);
  });

  test("'gone' proposes pushFailed under the subscription's policy and is counted", async () => {
    const topics = new TopicSet('BACKOFF_RETRY');
    topics.publish('a');
    const sent: Sent[] = [];
    const loop = new PushDelivery(topics.options(scripted(['gone'], sent)));
    loop.start();
    try {
      await waitFor('the failure applied', () => topics.proposed.length === 1);
    } finally {
      await loop.stop();
    }
    const [p] = topics.sm.duePushes(Date.now() + 60_000, 10);
    assert.equal(p?.failedAttempts, 1, 'kept for the retries the policy allows');
    assert.equal(topics.proposed[0]!.kind, 'pushFailed');
    assert.equal(loop.stats().queueGone, 1);
    assert.equal(loop.stats().queueFailed, 1);
  });

  test('a new leader sends what the old one left unsettled with the same dedup id, and the queue keeps it once', async () => {
    const topics = new TopicSet();
    topics.publish('a');
    const queues = new QueueSet();
    queues.ok({ kind: 'createQueue', queueName: 'orders', attrs: {} });
    const sent: Sent[] = [];
    const through = queueDeliveryThrough((cmd) => queues.submit(cmd));
    const recording: DeliverToQueue = async (queueName, body, dedupId, signal) => {
      sent.push({ queueName, body: body.toString(), dedupId });
      return through(queueName, body, dedupId, signal);
    };
    // The old leader's send is applied by the queue's set, but its pushSucceeded never is (it
    // loses leadership while proposing).
    let proposing = false;
    const old = new PushDelivery(
      topics.options(recording, {
        propose: () => {
          proposing = true;
          return new Promise<CommandResult>(() => undefined);
        },
      }),
    );
    old.start();
    await waitFor('the old leader sent and is proposing', () => proposing);
    await old.stop();
    assert.equal(topics.pending(), 1, 'still pending: no outcome was applied');
    // The new leader: another replica of the same log (restored from a snapshot of it).
    topics.sm = QueueStateMachine.restore(topics.sm.snapshot());
    const next = new PushDelivery(topics.options(recording));
    next.start();
    try {
      await waitFor('the new leader settled it', () => topics.proposed.some((c) => c.kind === 'pushSucceeded'));
    } finally {
      await next.stop();
    }
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.dedupId, sent[0]!.dedupId);
    assert.deepEqual(queues.drain('orders'), ['a'], 'the second send was dropped as a duplicate');
  });

  test('without a way to reach other sets nothing is attempted or failed; once set, the messages go', async () => {
    const topics = new TopicSet();
    topics.publish('a');
    const loop = new PushDelivery(topics.options(undefined));
    loop.start();
    try {
      await sleep(1500);
      assert.deepEqual(topics.proposed, []);
      assert.equal(topics.sm.duePushes(Date.now(), 10)[0]?.failedAttempts, 0);
      const sent: Sent[] = [];
      loop.setDeliverToQueue(scripted(['delivered'], sent));
      await waitFor('delivered', () => topics.pending() === 0);
      assert.equal(sent.length, 1);
    } finally {
      await loop.stop();
    }
  });
});

describe('the send a remote delivery is, and what its answer means', () => {
  test('SendMessage of the raw body, no delay, one dedup id', () => {
    const body = Buffer.from('x');
    assert.deepEqual(queueSendCommand('orders', body, 'k'), { kind: 'sendMessages', queueName: 'orders', delaySeconds: 0, bodies: [body], options: [{ dedupId: 'k' }] });
  });

  test('applied: delivered; missing or refused for good: gone; anything else: retry', () => {
    assert.equal(queueDeliveryOutcome({ ok: true, kind: 'sendMessages', msgIds: ['1'] }), 'delivered');
    assert.equal(queueDeliveryOutcome(fail('queueNotExist')), 'gone');
    assert.equal(queueDeliveryOutcome(fail('fifoGroupIdRequired')), 'gone');
    assert.equal(queueDeliveryOutcome(fail('msgTooLarge')), 'gone');
    assert.equal(queueDeliveryOutcome(fail('notApplied')), 'retry');
    assert.equal(queueDeliveryOutcome(fail('outcomeUnknown')), 'retry');
    assert.equal(queueDeliveryOutcome(fail('heapFull')), 'retry');
  });

  test('a FIFO queue or a missing queue on the queue set is gone, as a local delivery drops it', async () => {
    const queues = new QueueSet();
    queues.ok({ kind: 'createQueue', queueName: 'f', attrs: { sqs: { fifo: true } } });
    const deliver = queueDeliveryThrough((cmd) => queues.submit(cmd));
    const signal = new AbortController().signal;
    assert.equal(await deliver('f', Buffer.from('x'), 'k1', signal), 'gone');
    assert.equal(await deliver('nope', Buffer.from('x'), 'k2', signal), 'gone');
  });

  test('dedup ids differ per subscription and message, and never look like a client id', () => {
    const a = outboxDedupId('news', 'far', '16');
    assert.notEqual(a, outboxDedupId('news', 'far2', '16'));
    assert.notEqual(a, outboxDedupId('news', 'far', '32'));
    // CMQ dedupIds are printable ASCII without spaces; SQS keys start with q: or g:.
    assert.ok(a.includes(' ') && !a.startsWith('q:') && !a.startsWith('g:'));
  });
});

describe('two sets of one node each: a topic on one, its queue on the other', () => {
  const RC: RequestContext = { requestId: 'test-outbox', clientAddress: '', receivedAtMs: 0 };
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function open(dir?: string): Promise<{ node: QueueNode; dir: string }> {
    const dataDir = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'opencmq-outbox-')));
    if (!dir) dirs.push(dataDir);
    return { node: await QueueNode.open({ dataDir, segmentBytes: 64 * 1024, log: () => undefined }), dir: dataDir };
  }

  async function must(p: Promise<CommandResult>): Promise<CommandResult> {
    const r = await p;
    assert.ok(r.ok, `expected success, got ${JSON.stringify(r)}`);
    return r;
  }

  async function setUpTopic(node: QueueNode, queueName: string): Promise<void> {
    await must(node.submit(RC, { kind: 'createTopic', topicName: 'news', maxMsgSize: 65536, filterType: 1 }));
    await must(
      node.submit(RC, {
        kind: 'subscribe',
        topicName: 'news',
        subscriptionName: 'far',
        protocol: 'queue',
        endpoint: queueName,
        notifyStrategy: 'BACKOFF_RETRY',
        notifyContentFormat: 'SIMPLIFIED',
        filterTags: [],
        bindingKeys: [],
        remoteQueue: true,
      }),
    );
  }

  function pendingOf(node: QueueNode): number {
    return node.observe().topics.pendingPushes;
  }

  test('published before a restart of the topic set, delivered once after it', async () => {
    const queues = await open();
    let topics = await open();
    try {
      await must(queues.node.submit(RC, { kind: 'createQueue', queueName: 'orders', attrs: {} }));
      await setUpTopic(topics.node, 'orders');
      // No route to other sets yet: the message stays pending, durable in the topic set's log.
      await must(topics.node.submit(RC, { kind: 'publishMessages', topicName: 'news', bodies: [Buffer.from('hello')], msgTags: [], routingKey: '' }));
      assert.equal(pendingOf(topics.node), 1);
      await topics.node.close();
      topics = { node: (await open(topics.dir)).node, dir: topics.dir };
      assert.equal(pendingOf(topics.node), 1, 'still pending after the restart');
      const sent: string[] = [];
      topics.node.deliverToRemoteQueues(async (queueName, body, dedupId, signal) => {
        sent.push(dedupId);
        return queueDeliveryThrough((cmd) => queues.node.submit(RC, cmd))(queueName, body, dedupId, signal);
      });
      await waitFor('delivered', () => pendingOf(topics.node) === 0);
      const r = await queues.node.receive(RC, 'orders', 16, 0);
      assert.ok(r.ok);
      assert.deepEqual(r.messages.map((m) => m.bodyBytes.toString()), ['hello']);
      assert.equal(sent.length, 1);
      assert.equal(topics.node.observe().topics.remoteQueueDeliveries, 1);
    } finally {
      await topics.node.close();
      await queues.node.close();
    }
  });

  test('a missing queue is counted as gone, and the message stays pending for its retries', async () => {
    const queues = await open();
    const topics = await open();
    try {
      await setUpTopic(topics.node, 'missing');
      topics.node.deliverToRemoteQueues(queueDeliveryThrough((cmd) => queues.node.submit(RC, cmd)));
      await must(topics.node.submit(RC, { kind: 'publishMessages', topicName: 'news', bodies: [Buffer.from('x')], msgTags: [], routingKey: '' }));
      await waitFor('the failure counted', () => topics.node.observe().served.remoteQueueGone === 1);
      assert.equal(topics.node.observe().served.pushFailures, 1);
      assert.equal(pendingOf(topics.node), 1, 'BACKOFF_RETRY: retried in 19-29 s, dropped after 3 retries');
    } finally {
      await topics.node.close();
      await queues.node.close();
    }
  });
});
