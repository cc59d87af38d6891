// Queue subscriptions whose queue is on another set (subscribe.remoteQueue): the state machine
// keeps their messages pending like http pushes instead of enqueuing them here; the flag travels
// in the command codec and the snapshot, reads back as false from data written before it, and is
// refused while older replicas (which could not decode it) are voters.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { decodeCommand, encodeCommand } from '../../src/broker/codec';
import type { Command, CommandResult } from '../../src/broker/commands';
import { forOlderReplicas, olderReplicasCanApply } from '../../src/broker/compat';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { BrokerFormatError } from '../../src/broker/binary';
import { commandForVoters } from '../../src/node/version-gate';
import { BrokerHarness, HARNESS_T0 } from '../helpers/broker-harness';

type Subscribe = Extract<Command, { kind: 'subscribe' }>;

function subscribeCmd(over: Partial<Subscribe> = {}): Subscribe {
  return {
    kind: 'subscribe',
    topicName: 't',
    subscriptionName: 'far',
    protocol: 'queue',
    endpoint: 'orders',
    notifyStrategy: 'BACKOFF_RETRY',
    notifyContentFormat: 'SIMPLIFIED',
    filterTags: [],
    bindingKeys: [],
    ...over,
  };
}

class Harness extends BrokerHarness {
  constructor() {
    super();
    this.ok({ kind: 'createTopic', topicName: 't', maxMsgSize: 65536, filterType: 1 });
  }

  publish(bodies: string[], msgTags: string[] = []): Extract<CommandResult, { ok: true; kind: 'publishMessages' }> {
    return this.ok({ kind: 'publishMessages', topicName: 't', bodies: bodies.map((b) => Buffer.from(b)), msgTags, routingKey: '' });
  }

  /** Bodies visible in a local queue, received. */
  drain(queueName: string): string[] {
    const r = this.ok({ kind: 'receiveMessages', queueName, numOfMsg: 16, seed: 7 });
    return r.messages.map((m) => this.body(m.body).toString());
  }
}

/** A snapshot of a machine without queues, its topics JSON rewritten by `edit` (as an older release wrote it). */
function withTopicsJson(snapshot: Uint8Array, edit: (topics: Record<string, unknown>) => void): Uint8Array {
  const HEADER_BYTES = 4 + 1 + 6 * 8 + 4;
  const src = Buffer.from(snapshot);
  assert.equal(src.readUInt32LE(HEADER_BYTES - 4), 0, 'no queues: the topics JSON follows the header');
  const len = src.readUInt32LE(HEADER_BYTES);
  const topics = JSON.parse(src.subarray(HEADER_BYTES + 4, HEADER_BYTES + 4 + len).toString('utf8')) as Record<string, unknown>;
  edit(topics);
  const json = Buffer.from(JSON.stringify(topics), 'utf8');
  const lenBytes = Buffer.alloc(4);
  lenBytes.writeUInt32LE(json.length);
  return Uint8Array.from(Buffer.concat([src.subarray(0, HEADER_BYTES), lenBytes, json, src.subarray(HEADER_BYTES + 4 + len)]));
}

describe('remote queue subscriptions in the state machine', () => {
  test('publish keeps pending pushes for a remote queue subscription and enqueues nothing here', () => {
    const h = new Harness();
    // A queue of the same name on this set must not receive them: the subscription names the other set's.
    h.ok({ kind: 'createQueue', queueName: 'orders', attrs: {} });
    h.ok(subscribeCmd({ remoteQueue: true }));
    const r = h.publish(['a', 'b'], ['x']);
    assert.deepEqual(r.deliveredQueues, []);
    assert.equal(r.pushes, 1);
    assert.deepEqual(h.drain('orders'), []);
    const due = h.sm.duePushes(HARNESS_T0, 10);
    assert.deepEqual(
      due.map((p) => [p.subscriptionName, p.endpoint, p.remoteQueue, p.msgId, h.body(p.body).toString(), p.msgTags]),
      [
        ['far', 'orders', true, r.msgIds[0], 'a', ['x']],
        ['far', 'orders', true, r.msgIds[1], 'b', ['x']],
      ],
    );
    assert.equal(h.sm.topicStats().pendingPushes, 2);
    assert.equal(h.sm.topicStats().deliveryDrops, 0);
    const attrs = h.sm.getSubscriptionAttributes('t', 'far');
    assert.ok(!('ok' in attrs));
    assert.equal(attrs.msgCount, 2);
  });

  test('a queue subscription without the flag still enqueues locally, and its due list is unchanged', () => {
    const h = new Harness();
    h.ok({ kind: 'createQueue', queueName: 'orders', attrs: {} });
    h.ok(subscribeCmd());
    h.publish(['a']);
    assert.deepEqual(h.drain('orders'), ['a']);
    assert.deepEqual(h.sm.duePushes(HARNESS_T0, 10), []);
  });

  test('pushSucceeded clears a remote queue push and counts it as a remote delivery; pushFailed follows the retry policy', () => {
    const h = new Harness();
    h.ok(subscribeCmd({ remoteQueue: true }));
    const [first, second] = h.publish(['a', 'b']).msgIds;
    assert.deepEqual(h.ok({ kind: 'pushSucceeded', topicName: 't', subscriptionName: 'far', msgId: first! }), { ok: true, kind: 'pushSucceeded', found: true });
    assert.deepEqual(
      h.sm.duePushes(HARNESS_T0, 10).map((p) => p.msgId),
      [second],
    );
    const stats = h.sm.topicStats();
    assert.equal(stats.pushesDelivered, 1);
    assert.equal(stats.remoteQueueDeliveries, 1);
    // BACKOFF_RETRY: three retries, then the fourth failure drops it.
    for (let k = 1; k <= 3; k++) {
      const f = h.ok({ kind: 'pushFailed', topicName: 't', subscriptionName: 'far', msgId: second!, seed: 0 });
      assert.equal(f.outcome, 'retry');
    }
    assert.equal(h.ok({ kind: 'pushFailed', topicName: 't', subscriptionName: 'far', msgId: second!, seed: 0 }).outcome, 'dropped');
    assert.equal(h.sm.topicStats().pendingPushes, 0);
    assert.equal(h.sm.topicStats().pushDrops, 1);
  });

  test('remoteQueue on an http subscription means nothing', () => {
    const h = new Harness();
    h.ok(subscribeCmd({ protocol: 'http', endpoint: 'http://127.0.0.1:9/x', notifyContentFormat: 'JSON', remoteQueue: true }));
    h.publish(['a']);
    const [p] = h.sm.duePushes(HARNESS_T0, 10);
    assert.equal(p?.remoteQueue, undefined);
  });

  test('a snapshot keeps the flag, the pending pushes and the counter', () => {
    const h = new Harness();
    h.ok(subscribeCmd({ remoteQueue: true }));
    h.ok(subscribeCmd({ subscriptionName: 'near', endpoint: 'local' }));
    const [m1] = h.publish(['a', 'b']).msgIds;
    h.ok({ kind: 'pushSucceeded', topicName: 't', subscriptionName: 'far', msgId: m1! });
    const snap = h.sm.snapshot();
    const r = QueueStateMachine.restore(snap);
    assert.deepEqual(r.snapshot(), snap);
    assert.deepEqual(r.duePushes(HARNESS_T0, 10), h.sm.duePushes(HARNESS_T0, 10));
    assert.equal(r.duePushes(HARNESS_T0, 10)[0]?.remoteQueue, true);
    assert.equal(r.topicStats().remoteQueueDeliveries, 1);
    // The restored subscription still keeps new messages pending rather than enqueuing them.
    const e = encodeCommand({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('c')], msgTags: [], routingKey: '' });
    const next = r.apply(h.index + 1, HARNESS_T0, e.payload, e.metaLen);
    assert.ok(next.ok && next.kind === 'publishMessages');
    assert.equal(r.topicStats().pendingPushes, 2);
  });

  test('a snapshot without remote queue subscriptions has no trace of them (older releases read it as before)', () => {
    const h = new Harness();
    h.ok(subscribeCmd());
    h.publish(['a']);
    const text = Buffer.from(h.sm.snapshot()).toString('latin1');
    assert.ok(!text.includes('remoteQueue'), 'no remoteQueue field or counter');
  });

  test('a snapshot written before the flag existed loads with every queue subscription local', () => {
    const h = new Harness();
    h.ok(subscribeCmd({ remoteQueue: true }));
    h.publish(['a']);
    h.ok({ kind: 'pushSucceeded', topicName: 't', subscriptionName: 'far', msgId: h.sm.duePushes(HARNESS_T0, 1)[0]!.msgId });
    const snap = h.sm.snapshot();
    assert.ok(Buffer.from(snap).toString('latin1').includes('"remoteQueue":true'));
    const older = withTopicsJson(snap, (topics) => {
      delete (topics.counters as Record<string, unknown>).remoteQueueDeliveries;
      for (const t of topics.topics as { subscriptions: Record<string, unknown>[] }[]) for (const s of t.subscriptions) delete s.remoteQueue;
    });
    const r = QueueStateMachine.restore(older);
    assert.equal(r.topicStats().remoteQueueDeliveries, 0);
    const e = encodeCommand({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('b')], msgTags: [], routingKey: '' });
    const res = r.apply(h.index + 1, HARNESS_T0, e.payload, e.metaLen);
    // A local queue subscription whose queue is missing here: dropped, as before the flag.
    assert.ok(res.ok && res.kind === 'publishMessages');
    assert.equal(r.topicStats().deliveryDrops, 1);
    assert.equal(r.topicStats().pendingPushes, 0);
  });

  test('a bad remoteQueue value in a snapshot is a format error', () => {
    const h = new Harness();
    h.ok(subscribeCmd({ remoteQueue: true }));
    const bad = withTopicsJson(h.sm.snapshot(), (topics) => {
      for (const t of topics.topics as { subscriptions: Record<string, unknown>[] }[]) for (const s of t.subscriptions) s.remoteQueue = 'yes';
    });
    assert.throws(() => QueueStateMachine.restore(bad), BrokerFormatError);
  });
});

describe('remote queue subscriptions in the codec', () => {
  test('the flag round-trips; without it the bytes are the earlier layout and decode without the field', () => {
    const local = subscribeCmd();
    const remote = subscribeCmd({ remoteQueue: true });
    const a = encodeCommand(local);
    const b = encodeCommand(remote);
    assert.deepEqual(decodeCommand(a.payload, a.metaLen), local);
    assert.deepEqual(decodeCommand(b.payload, b.metaLen), remote);
    // The flag is one trailing byte: the earlier layout is the rest, unchanged.
    assert.equal(b.metaLen, a.metaLen + 1);
    assert.deepEqual(Buffer.from(b.payload.subarray(0, a.metaLen)), Buffer.from(a.payload));
    assert.equal(b.payload[a.metaLen], 1);
    assert.deepEqual(encodeCommand(subscribeCmd({ remoteQueue: false })).payload, a.payload);
  });

  test('unknown subscribe flags are refused', () => {
    const b = encodeCommand(subscribeCmd({ remoteQueue: true }));
    const p = Uint8Array.from(b.payload);
    p[b.metaLen - 1] = 3;
    assert.throws(() => decodeCommand(p, b.metaLen), BrokerFormatError);
  });
});

describe('remote queue subscriptions during a rolling upgrade', () => {
  test('older replicas cannot apply a remote subscribe, and it has no older form', () => {
    const remote = subscribeCmd({ remoteQueue: true });
    assert.equal(olderReplicasCanApply(remote), false);
    assert.equal(forOlderReplicas(remote), undefined);
    assert.equal(olderReplicasCanApply(subscribeCmd()), true);
    assert.equal(olderReplicasCanApply(subscribeCmd({ remoteQueue: false })), true);
  });

  test('while a voter runs the previous release it is refused as not applied; afterwards it passes', () => {
    const remote = subscribeCmd({ remoteQueue: true });
    const refused = commandForVoters(remote, ['n3']);
    assert.ok('ok' in refused && refused.ok === false);
    assert.equal(refused.error, 'notApplied');
    assert.deepEqual(commandForVoters(remote, []), remote);
    assert.deepEqual(commandForVoters(subscribeCmd(), ['n3']), subscribeCmd());
  });
});
