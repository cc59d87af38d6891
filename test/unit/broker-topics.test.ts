// Topics and subscriptions in the state machine (cmq-api.md §3): management commands and their
// errors, publish semantics (one entry serves every matching subscription), http push
// bookkeeping and retry schedules, reads, snapshots and determinism.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeCommand } from '../../src/broker/codec';
import type { Command, CommandResult, NotifyStrategy, SubscriptionAttributes } from '../../src/broker/commands';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { PUSH_RETRY, nextAttemptMs, TOPIC_RETENTION_MS } from '../../src/broker/topics';
import type { ErrorName } from '../../src/protocol/errors';
import { LIMITS, TOPIC_ATTR_RANGES } from '../../src/protocol/limits';
import { BrokerHarness, HARNESS_T0 } from '../helpers/broker-harness';
import { toVersion2 } from '../helpers/snapshot-v2';

const T0 = HARNESS_T0;

class Harness extends BrokerHarness {
  topic(topicName: string, filterType: 1 | 2 = 1, maxMsgSize: number = TOPIC_ATTR_RANGES.maxMsgSize.def): CommandResult {
    return this.run({ kind: 'createTopic', topicName, maxMsgSize, filterType });
  }

  subscribe(topicName: string, subscriptionName: string, opts: Partial<Extract<Command, { kind: 'subscribe' }>> = {}): CommandResult {
    return this.run({
      kind: 'subscribe',
      topicName,
      subscriptionName,
      protocol: 'queue',
      endpoint: subscriptionName,
      notifyStrategy: 'EXPONENTIAL_DECAY_RETRY',
      notifyContentFormat: 'SIMPLIFIED',
      filterTags: [],
      bindingKeys: [],
      ...opts,
    });
  }

  http(topicName: string, subscriptionName: string, notifyStrategy: NotifyStrategy = 'EXPONENTIAL_DECAY_RETRY'): CommandResult {
    return this.subscribe(topicName, subscriptionName, { protocol: 'http', endpoint: `http://127.0.0.1:9/${subscriptionName}`, notifyStrategy, notifyContentFormat: 'JSON' });
  }

  publish(topicName: string, bodies: string[], msgTags: string[] = [], routingKey = ''): CommandResult {
    return this.run({ kind: 'publishMessages', topicName, bodies: bodies.map((b) => Buffer.from(b)), msgTags, routingKey });
  }

  queue(queueName: string): void {
    this.ok({ kind: 'createQueue', queueName, attrs: {} });
  }

  /** Receives everything visible in a queue and returns the bodies, read from the entries. */
  drain(queueName: string): string[] {
    const r = this.ok({ kind: 'receiveMessages', queueName, numOfMsg: 16, seed: 7 });
    return r.messages.map((m) => {
      const p = this.payloads.get(m.body.entryIndex);
      assert.ok(p, `entry ${m.body.entryIndex}`);
      return Buffer.from(p.subarray(m.body.offset, m.body.offset + m.body.length)).toString();
    });
  }

  subAttrs(topicName: string, subscriptionName: string): SubscriptionAttributes {
    const a = this.sm.getSubscriptionAttributes(topicName, subscriptionName);
    assert.ok(!('ok' in a), `subscription ${topicName}/${subscriptionName} missing`);
    return a;
  }
}

function errorOf(r: CommandResult | { ok: false; error: ErrorName } | object): string {
  return 'ok' in r && r.ok === false ? r.error : 'ok';
}

describe('topics: create, set, delete, list', () => {
  test('createTopic stores its settings and returns a deterministic topicId', () => {
    const h = new Harness();
    assert.deepEqual(h.topic('news', 2, 2048), { ok: true, kind: 'createTopic', topicId: 'topic-1' });
    assert.deepEqual(h.sm.getTopicAttributes('news'), {
      topicId: 'topic-1',
      topicName: 'news',
      msgCount: 0,
      maxMsgSize: 2048,
      msgRetentionSeconds: 86_400,
      filterType: 2,
      createTime: T0 / 1000,
      lastModifyTime: T0 / 1000,
    });
    h.index = 99;
    assert.deepEqual(h.topic('more'), { ok: true, kind: 'createTopic', topicId: `topic-${(100).toString(36)}` });
  });

  test('names conflict case-insensitively but are looked up exactly; topics and queues are separate', () => {
    const h = new Harness();
    h.queue('shared');
    assert.equal(errorOf(h.topic('shared')), 'ok');
    assert.equal(errorOf(h.topic('SHARED')), 'topicExists');
    assert.equal(h.sm.getTopicAttributes('Shared'), undefined);
    assert.equal(errorOf(h.run({ kind: 'setTopicAttributes', topicName: 'Shared', maxMsgSize: 1024 })), 'topicNotExist');
  });

  test('at most LIMITS.topicCountMax topics', () => {
    const h = new Harness();
    for (let k = 0; k < LIMITS.topicCountMax; k++) assert.equal(errorOf(h.topic(`t${k}`)), 'ok');
    assert.equal(errorOf(h.topic('one-more')), 'topicLimit');
    h.ok({ kind: 'deleteTopic', topicName: 't0' });
    assert.equal(errorOf(h.topic('one-more')), 'ok');
  });

  test('setTopicAttributes changes maxMsgSize and lastModifyTime only', () => {
    const h = new Harness();
    h.topic('t', 1);
    h.advance(5000);
    h.ok({ kind: 'setTopicAttributes', topicName: 't', maxMsgSize: 4096 });
    const a = h.sm.getTopicAttributes('t');
    assert.equal(a?.maxMsgSize, 4096);
    assert.equal(a?.lastModifyTime, T0 / 1000 + 5);
    assert.equal(a?.createTime, T0 / 1000);
    assert.equal(a?.filterType, 1);
    assert.equal(h.sm.topicMaxMsgSize('t'), 4096);
  });

  test('deleteTopic is refused while subscriptions exist (4000/10540)', () => {
    const h = new Harness();
    assert.equal(errorOf(h.run({ kind: 'deleteTopic', topicName: 't' })), 'topicNotExist');
    h.topic('t');
    h.subscribe('t', 's');
    assert.equal(errorOf(h.run({ kind: 'deleteTopic', topicName: 't' })), 'topicHasSubscriptions');
    h.ok({ kind: 'unsubscribe', topicName: 't', subscriptionName: 's' });
    h.ok({ kind: 'deleteTopic', topicName: 't' });
    assert.equal(h.sm.getTopicAttributes('t'), undefined);
    assert.equal(errorOf(h.topic('T')), 'ok');
  });

  test('listTopics filters by searchWord (case-insensitive), sorts by name and pages', () => {
    const h = new Harness();
    for (const n of ['beta', 'alpha', 'Alphabet', 'gamma']) h.topic(n);
    assert.deepEqual(h.sm.listTopics('ALPHA', 0, 20), {
      totalCount: 2,
      topicList: [
        { topicId: 'topic-3', topicName: 'Alphabet' },
        { topicId: 'topic-2', topicName: 'alpha' },
      ],
    });
    const page = h.sm.listTopics(undefined, 1, 2);
    assert.equal(page.totalCount, 4);
    assert.deepEqual(
      page.topicList.map((t) => t.topicName),
      ['alpha', 'beta'],
    );
  });
});

describe('subscriptions: subscribe, set, clear, unsubscribe, list', () => {
  test('subscribe stores every setting; GetSubscriptionAttributes reports them', () => {
    const h = new Harness();
    h.topic('t', 1);
    h.advance(2000);
    const r = h.subscribe('t', 'sub', { protocol: 'http', endpoint: 'http://h/x', notifyStrategy: 'BACKOFF_RETRY', notifyContentFormat: 'JSON', filterTags: ['a', 'b'], bindingKeys: ['k.#'] });
    assert.deepEqual(r, { ok: true, kind: 'subscribe', subscriptionId: 'subsc-2' });
    assert.deepEqual(h.subAttrs('t', 'sub'), {
      subscriptionId: 'subsc-2',
      subscriptionName: 'sub',
      topicName: 't',
      protocol: 'http',
      endpoint: 'http://h/x',
      notifyStrategy: 'BACKOFF_RETRY',
      notifyContentFormat: 'JSON',
      filterTags: ['a', 'b'],
      bindingKeys: ['k.#'],
      msgCount: 0,
      createTime: T0 / 1000 + 2,
      lastModifyTime: T0 / 1000 + 2,
    });
  });

  test('subscribe errors: topic missing, name taken (case-insensitive), limit, filterType 2 without bindingKey', () => {
    const h = new Harness();
    assert.equal(errorOf(h.subscribe('t', 's')), 'topicNotExist');
    h.topic('t', 1);
    h.subscribe('t', 'Sub');
    assert.equal(errorOf(h.subscribe('t', 'sub')), 'subscriptionExists');
    for (let k = 1; k < LIMITS.subscriptionsPerTopicMax; k++) assert.equal(errorOf(h.subscribe('t', `s${k}`)), 'ok');
    assert.equal(errorOf(h.subscribe('t', 'over')), 'subscriptionLimit');
    h.topic('r', 2);
    assert.equal(errorOf(h.subscribe('r', 's')), 'bindingKeyMissing');
    assert.equal(errorOf(h.subscribe('r', 's', { bindingKeys: ['a.*'] })), 'ok');
    // Names are per topic.
    h.topic('other');
    assert.equal(errorOf(h.subscribe('other', 'Sub')), 'ok');
  });

  test('setSubscriptionAttributes keeps absent fields and replaces whole tag/key sets', () => {
    const h = new Harness();
    h.topic('t', 2);
    h.subscribe('t', 's', { filterTags: ['a'], bindingKeys: ['x.*', 'y'] });
    h.advance(3000);
    h.ok({ kind: 'setSubscriptionAttributes', topicName: 't', subscriptionName: 's', notifyStrategy: 'BACKOFF_RETRY' });
    let a = h.subAttrs('t', 's');
    assert.equal(a.notifyStrategy, 'BACKOFF_RETRY');
    assert.equal(a.notifyContentFormat, 'SIMPLIFIED');
    assert.deepEqual(a.filterTags, ['a']);
    assert.deepEqual(a.bindingKeys, ['x.*', 'y']);
    assert.equal(a.lastModifyTime, T0 / 1000 + 3);
    h.ok({ kind: 'setSubscriptionAttributes', topicName: 't', subscriptionName: 's', notifyContentFormat: 'JSON', filterTags: ['b', 'c'], bindingKeys: ['z'] });
    a = h.subAttrs('t', 's');
    assert.equal(a.notifyContentFormat, 'JSON');
    assert.deepEqual(a.filterTags, ['b', 'c']);
    assert.deepEqual(a.bindingKeys, ['z']);
    assert.equal(a.protocol, 'queue');
    assert.equal(a.endpoint, 's');
    // A filterType 2 subscription cannot lose all its binding keys.
    assert.equal(errorOf(h.run({ kind: 'setSubscriptionAttributes', topicName: 't', subscriptionName: 's', bindingKeys: [] })), 'bindingKeyMissing');
    assert.deepEqual(h.subAttrs('t', 's').bindingKeys, ['z']);
    assert.equal(errorOf(h.run({ kind: 'setSubscriptionAttributes', topicName: 't', subscriptionName: 'nope' })), 'subscriptionNotExist');
    assert.equal(errorOf(h.run({ kind: 'setSubscriptionAttributes', topicName: 'nope', subscriptionName: 's' })), 'topicNotExist');
  });

  test('clearSubscriptionFilterTags empties the tags only', () => {
    const h = new Harness();
    h.topic('t');
    h.subscribe('t', 's', { filterTags: ['a', 'b'], bindingKeys: ['k'] });
    h.ok({ kind: 'clearSubscriptionFilterTags', topicName: 't', subscriptionName: 's' });
    assert.deepEqual(h.subAttrs('t', 's').filterTags, []);
    assert.deepEqual(h.subAttrs('t', 's').bindingKeys, ['k']);
    assert.equal(errorOf(h.run({ kind: 'clearSubscriptionFilterTags', topicName: 't', subscriptionName: 'x' })), 'subscriptionNotExist');
  });

  test('unsubscribe removes the subscription; errors for missing topic or subscription', () => {
    const h = new Harness();
    h.topic('t');
    h.subscribe('t', 's');
    assert.equal(errorOf(h.run({ kind: 'unsubscribe', topicName: 'x', subscriptionName: 's' })), 'topicNotExist');
    assert.equal(errorOf(h.run({ kind: 'unsubscribe', topicName: 't', subscriptionName: 'S' })), 'subscriptionNotExist');
    h.ok({ kind: 'unsubscribe', topicName: 't', subscriptionName: 's' });
    assert.equal(errorOf(h.sm.getSubscriptionAttributes('t', 's')), 'subscriptionNotExist');
    assert.equal(errorOf(h.sm.getSubscriptionAttributes('x', 's')), 'topicNotExist');
  });

  test('listSubscriptions filters, sorts and pages; a missing topic is 4440/10600', () => {
    const h = new Harness();
    h.topic('t');
    h.subscribe('t', 'b-sub');
    h.http('t', 'a-sub');
    h.subscribe('t', 'other');
    assert.deepEqual(h.sm.listSubscriptions('t', 'SUB', 0, 20), {
      totalCount: 2,
      subscriptionList: [
        { subscriptionId: 'subsc-3', subscriptionName: 'a-sub', protocol: 'http', endpoint: 'http://127.0.0.1:9/a-sub' },
        { subscriptionId: 'subsc-2', subscriptionName: 'b-sub', protocol: 'queue', endpoint: 'b-sub' },
      ],
    });
    const r = h.sm.listSubscriptions('t', undefined, 2, 5);
    assert.ok(!('ok' in r));
    assert.equal(r.totalCount, 3);
    assert.deepEqual(
      r.subscriptionList.map((s) => s.subscriptionName),
      ['other'],
    );
    assert.equal(errorOf(h.sm.listSubscriptions('nope', undefined, 0, 20)), 'topicNotExist');
  });
});

describe('publish', () => {
  test('one apply puts every body into every matching queue, referencing the publish entry', () => {
    const h = new Harness();
    h.queue('q1');
    h.queue('q2');
    h.queue('q3');
    h.topic('t');
    h.subscribe('t', 'q1');
    h.subscribe('t', 'q2', { notifyContentFormat: 'JSON' });
    h.subscribe('t', 'q3', { filterTags: ['only'] });
    const r = h.ok({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('hello'), Buffer.from('world')], msgTags: [], routingKey: '' });
    const entry = h.index;
    assert.deepEqual(r, { ok: true, kind: 'publishMessages', msgIds: [String(entry * 16), String(entry * 16 + 1)], deliveredQueues: ['q1', 'q2'], pushes: 0 });
    assert.equal(h.sm.getQueueAttributes('q1')?.activeMsgNum, 2);
    assert.equal(h.sm.getQueueAttributes('q2')?.activeMsgNum, 2);
    assert.equal(h.sm.getQueueAttributes('q3')?.activeMsgNum, 0);
    const got = h.ok({ kind: 'receiveMessages', queueName: 'q2', numOfMsg: 16, seed: 1 }).messages;
    assert.deepEqual(
      got.map((m) => [m.msgId, m.body.entryIndex]),
      [
        [String(entry * 16), entry],
        [String(entry * 16 + 1), entry],
      ],
    );
    assert.deepEqual(h.drain('q1'), ['hello', 'world']);
    assert.equal(h.subAttrs('t', 'q1').msgCount, 0);
    assert.equal(h.sm.getTopicAttributes('t')?.msgCount, 0);
  });

  test('the three tag rules decide which queues receive a message', () => {
    const h = new Harness();
    for (const q of ['all', 'ab', 'c']) h.queue(q);
    h.topic('t', 1);
    h.subscribe('t', 'all');
    h.subscribe('t', 'ab', { filterTags: ['a', 'b'] });
    h.subscribe('t', 'c', { filterTags: ['c'], bindingKeys: ['nothing.matches'] });
    h.publish('t', ['untagged'], [], 'ignored.on.filterType1');
    h.publish('t', ['tag-b'], ['b']);
    h.publish('t', ['tag-c-x'], ['x', 'c']);
    assert.deepEqual(h.drain('all'), ['untagged', 'tag-b', 'tag-c-x']);
    assert.deepEqual(h.drain('ab'), ['tag-b']);
    assert.deepEqual(h.drain('c'), ['tag-c-x']);
    assert.equal(errorOf(h.publish('t', ['lonely'], ['zzz'])), 'ok'); // 'all' takes it
  });

  test('routing keys decide on filterType 2 topics; tags are ignored there', () => {
    const h = new Harness();
    for (const q of ['ends0', 'star', 'hash']) h.queue(q);
    h.topic('r', 2);
    h.subscribe('r', 'ends0', { bindingKeys: ['1.#.0'] });
    h.subscribe('r', 'star', { bindingKeys: ['x.y', 'a.*'], filterTags: ['never'] });
    h.subscribe('r', 'hash', { bindingKeys: ['#'] });
    h.publish('r', ['m1'], [], '1.0');
    h.publish('r', ['m2'], ['t'], '1.2.3.4.4.2.2.0');
    h.publish('r', ['m3'], [], 'a.b');
    h.publish('r', ['m4'], [], 'a.b.c');
    assert.deepEqual(h.drain('ends0'), ['m1', 'm2']);
    assert.deepEqual(h.drain('star'), ['m3']);
    assert.deepEqual(h.drain('hash'), ['m1', 'm2', 'm3', 'm4']);
  });

  test('publish errors, in check order', () => {
    const h = new Harness();
    assert.equal(errorOf(h.publish('t', ['x'])), 'topicNotExist');
    h.topic('t', 1, 1024);
    assert.equal(errorOf(h.publish('t', ['x'.repeat(1025)])), 'msgTooLarge');
    assert.equal(errorOf(h.publish('t', ['x'])), 'topicNoSubscription');
    h.queue('q');
    h.subscribe('t', 'q', { filterTags: ['a'] });
    assert.equal(errorOf(h.publish('t', ['x'], ['b'])), 'topicNoMatch');
    assert.equal(errorOf(h.publish('t', ['x'])), 'topicNoMatch');
    assert.equal(errorOf(h.publish('t', ['x'.repeat(1024)], ['a'])), 'ok');
    h.topic('r', 2);
    assert.equal(errorOf(h.publish('r', ['x'], [], '')), 'routingKeyMissing');
    assert.equal(errorOf(h.publish('r', ['x'], [], 'k')), 'topicNoSubscription');
    h.subscribe('r', 'q', { bindingKeys: ['other'] });
    assert.equal(errorOf(h.publish('r', ['x'], [], 'k')), 'topicNoMatch');
    // Failed publishes changed nothing.
    assert.equal(h.sm.getQueueAttributes('q')?.activeMsgNum, 1);
  });

  test('a missing or full target queue drops that delivery only', () => {
    const h = new Harness();
    h.queue('here');
    h.ok({ kind: 'createQueue', queueName: 'small', attrs: { maxMsgSize: 1024 } });
    h.topic('t', 1, 2048);
    h.subscribe('t', 'gone');
    h.subscribe('t', 'here');
    h.subscribe('t', 'small');
    const r = h.ok({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.alloc(1500, 1)], msgTags: [], routingKey: '' });
    assert.deepEqual(r.deliveredQueues, ['here']);
    assert.equal(h.sm.getQueueAttributes('here')?.activeMsgNum, 1);
    assert.equal(h.sm.getQueueAttributes('small')?.activeMsgNum, 0);
    assert.equal(h.sm.topicStats().deliveryDrops, 2);
  });

  test('two subscriptions on one queue give two messages; the entry stays live until the last goes', () => {
    const h = new Harness();
    h.queue('q1');
    h.queue('q2');
    h.topic('t');
    h.subscribe('t', 'a', { endpoint: 'q1' });
    h.subscribe('t', 'b', { endpoint: 'q1' });
    h.subscribe('t', 'c', { endpoint: 'q2' });
    h.publish('t', ['x']);
    const entry = h.index;
    assert.equal(h.sm.getQueueAttributes('q1')?.activeMsgNum, 2);
    assert.deepEqual(h.sm.liveEntryIndexes(), [entry]);
    const del = (queueName: string): void => {
      const got = h.ok({ kind: 'receiveMessages', queueName, numOfMsg: 16, seed: 3 }).messages;
      const r = h.ok({ kind: 'deleteMessages', queueName, receiptHandles: got.map((m) => m.receiptHandle) });
      assert.deepEqual(r.failures, []);
    };
    del('q1');
    assert.deepEqual(h.sm.liveEntryIndexes(), [entry]);
    del('q2');
    assert.deepEqual(h.sm.liveEntryIndexes(), []);
  });
});

describe('http pushes', () => {
  function setup(strategy: NotifyStrategy = 'EXPONENTIAL_DECAY_RETRY'): { h: Harness; entry: number; msgId: string } {
    const h = new Harness();
    h.queue('q');
    h.topic('t');
    h.subscribe('t', 'q');
    h.http('t', 'web', strategy);
    const r = h.ok({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('payload')], msgTags: ['a', 'b'], routingKey: '' });
    assert.equal(r.pushes, 1);
    return { h, entry: h.index, msgId: r.msgIds[0]! };
  }

  test('a publish adds a pending push, listed as due at once and counted in msgCount', () => {
    const { h, entry, msgId } = setup();
    assert.equal(h.subAttrs('t', 'web').msgCount, 1);
    assert.equal(h.sm.getTopicAttributes('t')?.msgCount, 1);
    const due = h.sm.duePushes(h.timeMs, 10);
    assert.deepEqual(due, [
      {
        topicName: 't',
        subscriptionName: 'web',
        endpoint: 'http://127.0.0.1:9/web',
        notifyContentFormat: 'JSON',
        msgId,
        body: { entryIndex: entry, offset: due[0]!.body.offset, length: 7, crc32c: due[0]!.body.crc32c },
        msgTags: ['a', 'b'],
        publishTime: T0 / 1000,
        failedAttempts: 0,
        nextAttemptMs: T0,
      },
    ]);
    const p = h.payloads.get(entry)!;
    assert.equal(Buffer.from(p.subarray(due[0]!.body.offset, due[0]!.body.offset + 7)).toString(), 'payload');
    assert.equal(h.sm.nextPushAttemptMs(), T0);
    assert.ok(h.sm.liveEntryIndexes().includes(entry));
  });

  test('pushSucceeded removes the push; settling it again finds nothing', () => {
    const { h, entry, msgId } = setup();
    h.drain('q');
    assert.deepEqual(h.ok({ kind: 'pushSucceeded', topicName: 't', subscriptionName: 'web', msgId }), { ok: true, kind: 'pushSucceeded', found: true });
    assert.equal(h.subAttrs('t', 'web').msgCount, 0);
    assert.deepEqual(h.sm.duePushes(h.timeMs, 10), []);
    assert.equal(h.sm.nextPushAttemptMs(), undefined);
    assert.equal(h.sm.topicStats().pushesDelivered, 1);
    assert.deepEqual(h.ok({ kind: 'pushSucceeded', topicName: 't', subscriptionName: 'web', msgId }), { ok: true, kind: 'pushSucceeded', found: false });
    assert.deepEqual(h.ok({ kind: 'pushSucceeded', topicName: 'gone', subscriptionName: 'web', msgId }).found, false);
    assert.deepEqual(h.ok({ kind: 'pushFailed', topicName: 't', subscriptionName: 'web', msgId, seed: 1 }).outcome, 'unknown');
    // Bodies in q are in flight (not deleted), so the entry is still live through the queue only.
    assert.deepEqual(h.sm.liveEntryIndexes(), [entry]);
  });

  test('BACKOFF_RETRY: 19–29 s between attempts (jitter from the seed), dropped after 3 retries', () => {
    const { h, msgId } = setup('BACKOFF_RETRY');
    const seeds = [0, 10_000, 12_345];
    for (const seed of seeds) {
      const r = h.ok({ kind: 'pushFailed', topicName: 't', subscriptionName: 'web', msgId, seed });
      const want = h.timeMs + 19_000 + (seed % 10_001);
      assert.deepEqual(r, { ok: true, kind: 'pushFailed', outcome: 'retry', nextAttemptMs: want });
      assert.deepEqual(h.sm.duePushes(want - 1, 10), []);
      assert.equal(h.sm.duePushes(want, 10)[0]?.failedAttempts, seeds.indexOf(seed) + 1);
      h.timeMs = want;
    }
    assert.deepEqual(h.ok({ kind: 'pushFailed', topicName: 't', subscriptionName: 'web', msgId, seed: 5 }), { ok: true, kind: 'pushFailed', outcome: 'dropped' });
    assert.equal(h.subAttrs('t', 'web').msgCount, 0);
    assert.equal(h.sm.topicStats().pushDrops, 1);
  });

  test('EXPONENTIAL_DECAY_RETRY: 1 s, 2 s, 4 s, ... capped at 512 s, until the day of retention ends', () => {
    const { h, msgId } = setup();
    const delays: number[] = [];
    for (;;) {
      const r = h.ok({ kind: 'pushFailed', topicName: 't', subscriptionName: 'web', msgId, seed: 0 });
      if (r.outcome !== 'retry') {
        assert.equal(r.outcome, 'dropped');
        break;
      }
      delays.push(r.nextAttemptMs! - h.timeMs);
      h.timeMs = r.nextAttemptMs!;
    }
    assert.deepEqual(delays.slice(0, 11), [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 512].map((s) => s * 1000));
    assert.ok(delays.every((d) => d <= PUSH_RETRY.decayCapMs));
    assert.ok(h.timeMs < T0 + TOPIC_RETENTION_MS && h.timeMs + 512_000 >= T0 + TOPIC_RETENTION_MS);
  });

  test('nextAttemptMs drops a retry that would fall at or after expiry', () => {
    assert.equal(nextAttemptMs('EXPONENTIAL_DECAY_RETRY', 1, 1000, 0, 2001), 2000);
    assert.equal(nextAttemptMs('EXPONENTIAL_DECAY_RETRY', 1, 1000, 0, 2000), undefined);
    assert.equal(nextAttemptMs('EXPONENTIAL_DECAY_RETRY', 1000, 0, 0, Infinity), 512_000);
    assert.equal(nextAttemptMs('BACKOFF_RETRY', 3, 0, 10_000, Infinity), 29_000);
    assert.equal(nextAttemptMs('BACKOFF_RETRY', 4, 0, 0, Infinity), undefined);
  });

  test('a push never settled expires with the topic retention, through the tick schedule', () => {
    const { h, entry } = setup();
    const got = h.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: 1 }).messages;
    h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: got.map((m) => m.receiptHandle) });
    assert.deepEqual(h.sm.liveEntryIndexes(), [entry], 'the pending push alone keeps the entry');
    h.ok({ kind: 'unsubscribe', topicName: 't', subscriptionName: 'q' });
    h.advance(1000);
    h.publish('t', ['later']);
    assert.equal(h.subAttrs('t', 'web').msgCount, 2);
    h.timeMs = T0 + TOPIC_RETENTION_MS - 1;
    h.ok({ kind: 'tick' });
    assert.equal(h.sm.nextDeadlineMs(), T0 + TOPIC_RETENTION_MS);
    assert.equal(h.sm.duePushes(T0 + TOPIC_RETENTION_MS, 10).length, 1, 'an expired push is not due');
    h.timeMs = T0 + TOPIC_RETENTION_MS;
    h.ok({ kind: 'tick' });
    assert.equal(h.subAttrs('t', 'web').msgCount, 1);
    assert.equal(h.sm.topicStats().pushDrops, 1);
    assert.ok(!h.sm.liveEntryIndexes().includes(entry));
    assert.equal(h.sm.nextDeadlineMs(), T0 + 1000 + TOPIC_RETENTION_MS);
  });

  test('duePushes orders by next attempt, then publish order, then subscription; limit applies', () => {
    const h = new Harness();
    h.topic('t');
    h.http('t', 'w1');
    h.http('t', 'w2');
    const a = h.ok({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('1'), Buffer.from('2')], msgTags: [], routingKey: '' }).msgIds;
    h.advance(10);
    const b = h.ok({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('3')], msgTags: [], routingKey: '' }).msgIds;
    h.ok({ kind: 'pushFailed', topicName: 't', subscriptionName: 'w1', msgId: a[0]!, seed: 0 }); // → +1 s
    const order = h.sm.duePushes(h.timeMs + 5000, 100).map((p) => `${p.subscriptionName}:${p.msgId}`);
    assert.deepEqual(order, [`w2:${a[0]}`, `w1:${a[1]}`, `w2:${a[1]}`, `w1:${b[0]}`, `w2:${b[0]}`, `w1:${a[0]}`]);
    assert.deepEqual(h.sm.duePushes(h.timeMs + 5000, 2).length, 2);
    assert.equal(h.sm.duePushes(h.timeMs, 100).length, 5);
  });

  test('unsubscribe discards its pending pushes', () => {
    const { h, entry } = setup();
    h.drain('q');
    h.ok({ kind: 'unsubscribe', topicName: 't', subscriptionName: 'web' });
    assert.deepEqual(h.sm.duePushes(h.timeMs, 10), []);
    assert.equal(h.sm.getTopicAttributes('t')?.msgCount, 0);
    assert.deepEqual(h.sm.liveEntryIndexes(), [entry]); // still in flight in q
  });
});

// ---- snapshots and determinism ----

type Op =
  | { t: 'topic'; k: number; ft: 1 | 2 }
  | { t: 'setTopic'; k: number; size: number }
  | { t: 'delTopic'; k: number }
  | { t: 'sub'; k: number; s: number; http: boolean; strategy: NotifyStrategy; tags: string[]; keys: string[] }
  | { t: 'unsub'; k: number; s: number }
  | { t: 'setSub'; k: number; s: number; tags?: string[]; keys?: string[] }
  | { t: 'clear'; k: number; s: number }
  | { t: 'publish'; k: number; n: number; tags: string[]; rk: string }
  | { t: 'settle'; pick: number; ok: boolean; seed: number }
  | { t: 'queue'; s: number }
  | { t: 'recv'; s: number }
  | { t: 'adv'; ms: number };

const NP = { noNullPrototype: true } as const;
const k = fc.integer({ min: 0, max: 2 });
const s = fc.integer({ min: 0, max: 3 });
const tags = fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 2 });
const keys = fc.array(fc.constantFrom('a.*', '#', 'a.#.b', 'b'), { maxLength: 2 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('topic' as const), k, ft: fc.constantFrom(1 as const, 2 as const) }, NP),
  fc.record({ t: fc.constant('setTopic' as const), k, size: fc.integer({ min: 1024, max: 4096 }) }, NP),
  fc.record({ t: fc.constant('delTopic' as const), k }, NP),
  fc.record({ t: fc.constant('sub' as const), k, s, http: fc.boolean(), strategy: fc.constantFrom('BACKOFF_RETRY' as const, 'EXPONENTIAL_DECAY_RETRY' as const), tags, keys }, NP),
  fc.record({ t: fc.constant('unsub' as const), k, s }, NP),
  fc.record({ t: fc.constant('setSub' as const), k, s, tags, keys }, { requiredKeys: ['t', 'k', 's'], noNullPrototype: true }),
  fc.record({ t: fc.constant('clear' as const), k, s }, NP),
  fc.record({ t: fc.constant('publish' as const), k, n: fc.integer({ min: 1, max: 4 }), tags, rk: fc.constantFrom('', 'a.b', 'b', 'a.x.b') }, NP),
  fc.record({ t: fc.constant('settle' as const), pick: fc.nat(), ok: fc.boolean(), seed: fc.nat() }, NP),
  fc.record({ t: fc.constant('queue' as const), s }, NP),
  fc.record({ t: fc.constant('recv' as const), s }, NP),
  fc.record({ t: fc.constant('adv' as const), ms: fc.oneof(fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 0, max: 40_000_000 })) }, NP),
);

/** Turns an op into a command, choosing pushes to settle from the machine's (deterministic) reads. */
function toCommand(sm: QueueStateMachine, nowMs: number, op: Op): Command | undefined {
  const topicName = `t${op.t === 'queue' || op.t === 'recv' || op.t === 'settle' || op.t === 'adv' ? 0 : op.k}`;
  const subName = (n: number): string => `s${n}`;
  switch (op.t) {
    case 'topic':
      return { kind: 'createTopic', topicName, maxMsgSize: 2048, filterType: op.ft };
    case 'setTopic':
      return { kind: 'setTopicAttributes', topicName, maxMsgSize: op.size };
    case 'delTopic':
      return { kind: 'deleteTopic', topicName };
    case 'sub':
      return {
        kind: 'subscribe',
        topicName,
        subscriptionName: subName(op.s),
        protocol: op.http ? 'http' : 'queue',
        endpoint: op.http ? 'http://x/' : subName(op.s),
        notifyStrategy: op.strategy,
        notifyContentFormat: 'JSON',
        filterTags: op.tags,
        bindingKeys: op.keys,
      };
    case 'unsub':
      return { kind: 'unsubscribe', topicName, subscriptionName: subName(op.s) };
    case 'setSub': {
      const c: Command = { kind: 'setSubscriptionAttributes', topicName, subscriptionName: subName(op.s) };
      if (op.tags) c.filterTags = op.tags;
      if (op.keys) c.bindingKeys = op.keys;
      return c;
    }
    case 'clear':
      return { kind: 'clearSubscriptionFilterTags', topicName, subscriptionName: subName(op.s) };
    case 'publish':
      return { kind: 'publishMessages', topicName, bodies: Array.from({ length: op.n }, (_, i) => Buffer.from(`m${i}`)), msgTags: op.tags, routingKey: op.rk };
    case 'settle': {
      const due = sm.duePushes(nowMs, 50);
      const p = due[op.pick % Math.max(1, due.length)];
      if (p === undefined) return { kind: 'tick' };
      const base = { topicName: p.topicName, subscriptionName: p.subscriptionName, msgId: p.msgId };
      return op.ok ? { kind: 'pushSucceeded', ...base } : { kind: 'pushFailed', ...base, seed: op.seed };
    }
    case 'queue':
      return { kind: 'createQueue', queueName: subName(op.s), attrs: {} };
    case 'recv':
      return { kind: 'receiveMessages', queueName: subName(op.s), numOfMsg: 16, seed: 1 };
    case 'adv':
      return undefined;
  }
}

function reads(sm: QueueStateMachine, nowMs: number): unknown {
  const topics = sm.listTopics(undefined, 0, 50);
  return {
    topics,
    attrs: topics.topicList.map((t) => [sm.getTopicAttributes(t.topicName), sm.listSubscriptions(t.topicName, undefined, 0, 100)]),
    subs: ['t0', 't1', 't2'].flatMap((t) => ['s0', 's1', 's2', 's3'].map((x) => sm.getSubscriptionAttributes(t, x))),
    due: sm.duePushes(nowMs, 1000),
    next: [sm.nextDeadlineMs(), sm.nextPushAttemptMs()],
    live: sm.liveEntryIndexes(),
    stats: sm.topicStats(),
  };
}

describe('snapshots and determinism', () => {
  test('restore(snapshot) gives the same bytes, reads and results for any further entries', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), fc.array(opArb, { maxLength: 40 }), (before, after) => {
        const a = new QueueStateMachine();
        let index = 0;
        let timeMs = T0;
        const step = (machines: QueueStateMachine[], op: Op): void => {
          if (op.t === 'adv') {
            timeMs += op.ms;
            return;
          }
          const cmd = toCommand(machines[0]!, timeMs, op);
          if (cmd === undefined) return;
          const { payload, metaLen } = encodeCommand(cmd);
          index++;
          const results = machines.map((m) => m.apply(index, timeMs, payload, metaLen));
          for (const r of results.slice(1)) assert.deepEqual(r, results[0]);
        };
        for (const op of before) step([a], op);
        const snap = a.snapshot();
        const b = QueueStateMachine.restore(snap);
        assert.deepEqual(b.snapshot(), snap);
        assert.deepEqual(reads(b, timeMs), reads(a, timeMs));
        for (const op of after) step([a, b], op);
        assert.deepEqual(reads(b, timeMs), reads(a, timeMs));
        assert.deepEqual(b.snapshot(), a.snapshot());
      }),
      { numRuns: 150 },
    );
  });

  test('a snapshot in the version 1 format (no topics) still loads', () => {
    const h = new Harness();
    h.queue('q');
    h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('x')] });
    const now = h.sm.snapshot();
    const v2 = toVersion2(now);
    const emptyTopics = Buffer.from(JSON.stringify({ counters: { deliveryDrops: 0, pushDrops: 0, pushesDelivered: 0 }, topics: [] }));
    assert.deepEqual(Buffer.from(v2.subarray(v2.length - emptyTopics.length)), emptyTopics);
    const v1 = Uint8Array.from(v2.subarray(0, v2.length - 4 - emptyTopics.length));
    assert.equal(v1[4], 2);
    v1[4] = 1;
    const restored = QueueStateMachine.restore(v1);
    assert.deepEqual(restored.snapshot(), now);
    assert.deepEqual(restored.getQueueAttributes('q'), h.sm.getQueueAttributes('q'));
    assert.deepEqual(restored.listTopics(undefined, 0, 20), { totalCount: 0, topicList: [] });
  });

  test('a restored machine keeps pending pushes, their schedule and expiry', () => {
    const h = new Harness();
    h.topic('t');
    h.http('t', 'w', 'BACKOFF_RETRY');
    const [msgId] = h.ok({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('x')], msgTags: ['a'], routingKey: '' }).msgIds;
    h.ok({ kind: 'pushFailed', topicName: 't', subscriptionName: 'w', msgId: msgId!, seed: 3 });
    const r = QueueStateMachine.restore(h.sm.snapshot());
    assert.deepEqual(r.duePushes(T0 + 30_000, 10), h.sm.duePushes(T0 + 30_000, 10));
    assert.equal(r.duePushes(T0 + 30_000, 10)[0]?.failedAttempts, 1);
    assert.equal(r.nextDeadlineMs(), T0 + TOPIC_RETENTION_MS);
    assert.equal(r.nextPushAttemptMs(), T0 + 19_003);
  });
});
