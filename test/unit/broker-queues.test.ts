// Queue management in the state machine: create/set/delete/list, attribute defaults and checks,
// dead-letter binding rules (cmq-api.md §2.2, §2.3, §2.7).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeCommand } from '../../src/broker/codec';
import type { Command, CommandResult, DeadLetterPolicy, QueueAttributes, QueueAttributesInput } from '../../src/broker/commands';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { LIMITS, QUEUE_ATTR_RANGES } from '../../src/protocol/limits';

const T0 = 1_700_000_000_000;

class Harness {
  sm = new QueueStateMachine();
  index = 0;
  timeMs = T0;

  run(cmd: Command): CommandResult {
    const { payload, metaLen } = encodeCommand(cmd);
    return this.sm.apply(++this.index, this.timeMs, payload, metaLen);
  }

  create(queueName: string, attrs: QueueAttributesInput = {}): CommandResult {
    return this.run({ kind: 'createQueue', queueName, attrs });
  }

  set(queueName: string, attrs: QueueAttributesInput): CommandResult {
    return this.run({ kind: 'setQueueAttributes', queueName, attrs });
  }

  attrs(queueName: string): QueueAttributes {
    const a = this.sm.getQueueAttributes(queueName);
    assert.ok(a, `queue ${queueName} missing`);
    return a;
  }
}

function errorOf(r: CommandResult): string {
  return r.ok ? 'ok' : r.error;
}

const p0 = (deadLetterQueue: string, maxReceiveCount = 3): DeadLetterPolicy => ({ deadLetterQueue, policy: 0, maxReceiveCount });
const p1 = (deadLetterQueue: string, maxTimeToLive = 300): DeadLetterPolicy => ({ deadLetterQueue, policy: 1, maxTimeToLive });

describe('create, get, set, delete', () => {
  test('createQueue applies the defaults and returns a deterministic queueId', () => {
    const h = new Harness();
    const r = h.create('orders');
    assert.deepEqual(r, { ok: true, kind: 'createQueue', queueId: `queue-${(1).toString(36)}` });
    assert.deepEqual(h.attrs('orders'), {
      queueId: 'queue-1',
      queueName: 'orders',
      maxMsgHeapNum: QUEUE_ATTR_RANGES.maxMsgHeapNum.def,
      pollingWaitSeconds: QUEUE_ATTR_RANGES.pollingWaitSeconds.def,
      visibilityTimeout: QUEUE_ATTR_RANGES.visibilityTimeout.def,
      maxMsgSize: QUEUE_ATTR_RANGES.maxMsgSize.def,
      msgRetentionSeconds: QUEUE_ATTR_RANGES.msgRetentionSeconds.def,
      rewindSeconds: QUEUE_ATTR_RANGES.rewindSeconds.def,
      createTime: T0 / 1000,
      lastModifyTime: T0 / 1000,
      activeMsgNum: 0,
      inactiveMsgNum: 0,
      delayMsgNum: 0,
      rewindMsgNum: 0,
      minMsgTime: 0,
      sqs: { delaySeconds: 0, redriveAllowPolicy: null, fifo: false, contentBasedDeduplication: false, deduplicationScope: 'queue', fifoThroughputLimit: 'perQueue' },
      tags: {},
    });
    h.index = 1000;
    assert.deepEqual(h.create('other'), { ok: true, kind: 'createQueue', queueId: `queue-${(1001).toString(36)}` });
  });

  test('names conflict case-insensitively but are looked up exactly', () => {
    const h = new Harness();
    h.create('Orders');
    assert.equal(errorOf(h.create('orders')), 'queueExists');
    assert.equal(errorOf(h.create('ORDERS')), 'queueExists');
    assert.equal(h.sm.getQueueAttributes('orders'), undefined);
    assert.equal(errorOf(h.set('orders', {})), 'queueNotExist');
    assert.ok(h.sm.getQueueAttributes('Orders'));
  });

  test('queue count is limited', () => {
    const h = new Harness();
    for (let i = 0; i < LIMITS.queueCountMax; i++) assert.equal(errorOf(h.create(`q${i}`)), 'ok');
    assert.equal(errorOf(h.create('one-more')), 'queueLimit');
    assert.equal(errorOf(h.create('q0')), 'queueExists');
    assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'q5' })), 'ok');
    assert.equal(errorOf(h.create('one-more')), 'ok');
  });

  test('rewindSeconds may not exceed msgRetentionSeconds, on create and on set', () => {
    const h = new Harness();
    assert.equal(errorOf(h.create('q', { msgRetentionSeconds: 100, rewindSeconds: 101 })), 'rewindSecondsTooLarge');
    assert.equal(h.sm.getQueueAttributes('q'), undefined);
    assert.equal(errorOf(h.create('q', { msgRetentionSeconds: 100, rewindSeconds: 100 })), 'ok');
    assert.equal(errorOf(h.set('q', { msgRetentionSeconds: 99 })), 'rewindSecondsTooLarge');
    assert.equal(h.attrs('q').msgRetentionSeconds, 100);
  });

  test('setQueueAttributes changes only the given fields, updates lastModifyTime and returns everything', () => {
    const h = new Harness();
    h.create('q', { maxMsgSize: 2048 });
    h.timeMs += 5000;
    const r = h.set('q', { visibilityTimeout: 99, pollingWaitSeconds: 7 });
    assert.ok(r.ok && r.kind === 'setQueueAttributes');
    assert.deepEqual(r.attributes, h.attrs('q'));
    assert.equal(r.attributes.visibilityTimeout, 99);
    assert.equal(r.attributes.pollingWaitSeconds, 7);
    assert.equal(r.attributes.maxMsgSize, 2048);
    assert.equal(r.attributes.createTime, T0 / 1000);
    assert.equal(r.attributes.lastModifyTime, T0 / 1000 + 5);
    assert.deepEqual(h.sm.queueSettings('q'), { pollingWaitSeconds: 7, visibilityTimeout: 99, maxMsgSize: 2048, fifo: false });
    assert.equal(h.sm.queueSettings('nope'), undefined);
  });

  test('deleteQueue removes the queue; a missing one gives queueNotExist', () => {
    const h = new Harness();
    h.create('q');
    assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'q' })), 'ok');
    assert.equal(h.sm.getQueueAttributes('q'), undefined);
    assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'q' })), 'queueNotExist');
    assert.equal(errorOf(h.create('q')), 'ok', 'the name is free again');
  });
});

describe('listing', () => {
  test('listQueues matches case-insensitive substrings, sorts by name and pages after counting', () => {
    const h = new Harness();
    for (const n of ['beta', 'Alpha', 'alphabet', 'gamma', 'xALPx']) h.create(n);
    assert.deepEqual(h.sm.listQueues('alp', 0, 20), {
      totalCount: 3,
      queueList: ['Alpha', 'alphabet', 'xALPx'].map((queueName) => ({ queueName, queueId: h.attrs(queueName).queueId })),
    });
    const paged = h.sm.listQueues(undefined, 1, 2);
    assert.equal(paged.totalCount, 5);
    assert.deepEqual(
      paged.queueList.map((q) => q.queueName),
      ['alphabet', 'beta'],
    );
    assert.deepEqual(h.sm.listQueues('zzz', 0, 20), { totalCount: 0, queueList: [] });
  });

  test('listDeadLetterSourceQueues lists the queues bound to a DLQ', () => {
    const h = new Harness();
    h.create('dlq');
    h.create('other');
    h.create('b-src', { deadLetterPolicy: p0('dlq') });
    h.create('a-src', { deadLetterPolicy: p1('dlq') });
    h.create('c', { deadLetterPolicy: p0('other') });
    const r = h.sm.listDeadLetterSourceQueues('dlq', undefined, 0, 20);
    assert.ok(!('ok' in r));
    assert.equal(r.totalCount, 2);
    assert.deepEqual(
      r.queueList.map((q) => q.queueName),
      ['a-src', 'b-src'],
    );
    const filtered = h.sm.listDeadLetterSourceQueues('dlq', 'B-', 0, 20);
    assert.ok(!('ok' in filtered));
    assert.deepEqual(
      filtered.queueList.map((q) => q.queueName),
      ['b-src'],
    );
    assert.deepEqual(h.sm.listDeadLetterSourceQueues('nope', undefined, 0, 20), { ok: false, error: 'queueNotExist' });
  });
});

describe('dead-letter policy rules', () => {
  test('the policy is returned by getQueueAttributes and cleared by null or unbind', () => {
    const h = new Harness();
    h.create('dlq');
    h.create('src', { deadLetterPolicy: p0('dlq', 5) });
    assert.deepEqual(h.attrs('src').deadLetterPolicy, p0('dlq', 5));
    assert.equal(errorOf(h.set('src', { deadLetterPolicy: null })), 'ok');
    assert.equal(h.attrs('src').deadLetterPolicy, undefined);
    h.set('src', { deadLetterPolicy: p1('dlq') });
    h.timeMs += 3000;
    assert.equal(errorOf(h.run({ kind: 'unbindDeadLetter', queueName: 'src' })), 'ok');
    assert.equal(h.attrs('src').deadLetterPolicy, undefined);
    assert.equal(h.attrs('src').lastModifyTime, T0 / 1000 + 3);
    assert.equal(errorOf(h.run({ kind: 'unbindDeadLetter', queueName: 'src' })), 'ok', 'unbinding an unbound queue succeeds');
    assert.equal(errorOf(h.run({ kind: 'unbindDeadLetter', queueName: 'nope' })), 'queueNotExist');
  });

  test('the DLQ must exist and may not be the queue itself', () => {
    const h = new Harness();
    assert.equal(errorOf(h.create('src', { deadLetterPolicy: p0('missing') })), 'dlqNotExist');
    assert.equal(errorOf(h.create('src', { deadLetterPolicy: p0('src') })), 'dlqPolicyParams');
    h.create('src');
    assert.equal(errorOf(h.set('src', { deadLetterPolicy: p0('src') })), 'dlqPolicyParams');
    assert.equal(errorOf(h.set('src', { deadLetterPolicy: p0('missing') })), 'dlqNotExist');
  });

  test('policy fields: policy 0 needs maxReceiveCount, policy 1 needs maxTimeToLive < msgRetentionSeconds', () => {
    const h = new Harness();
    h.create('dlq');
    assert.equal(errorOf(h.create('a', { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0 } })), 'dlqPolicyParams');
    assert.equal(errorOf(h.create('a', { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 1 } })), 'dlqPolicyParams');
    assert.equal(errorOf(h.create('a', { msgRetentionSeconds: 300, deadLetterPolicy: p1('dlq', 300) })), 'dlqPolicyParams');
    assert.equal(errorOf(h.create('a', { msgRetentionSeconds: 301, deadLetterPolicy: p1('dlq', 300) })), 'ok');
    assert.equal(errorOf(h.set('a', { msgRetentionSeconds: 300 })), 'dlqPolicyParams', 'a retention change re-checks the TTL');
    assert.equal(h.attrs('a').msgRetentionSeconds, 301);
  });

  test('no nesting: the DLQ may not have a DLQ, and a DLQ may not get one', () => {
    const h = new Harness();
    h.create('d1');
    h.create('d2');
    h.create('src', { deadLetterPolicy: p0('d1') });
    assert.equal(errorOf(h.create('x', { deadLetterPolicy: p0('src') })), 'dlqNested', 'src has a DLQ');
    assert.equal(errorOf(h.set('d1', { deadLetterPolicy: p0('d2') })), 'dlqNested', 'd1 is a DLQ');
    assert.equal(errorOf(h.set('src', { deadLetterPolicy: p0('d2') })), 'ok', 'rebinding elsewhere is fine');
    assert.equal(errorOf(h.set('d1', { deadLetterPolicy: p0('d2') })), 'ok', 'd1 is no longer a DLQ');
  });

  test('a DLQ takes at most deadLetterSourcesMax sources; rebinding an existing source does not count twice', () => {
    const h = new Harness();
    h.create('dlq');
    for (let i = 0; i < LIMITS.deadLetterSourcesMax; i++) assert.equal(errorOf(h.create(`s${i}`, { deadLetterPolicy: p0('dlq') })), 'ok');
    assert.equal(errorOf(h.create('extra', { deadLetterPolicy: p0('dlq') })), 'dlqBindTooMany');
    h.create('extra');
    assert.equal(errorOf(h.set('extra', { deadLetterPolicy: p0('dlq') })), 'dlqBindTooMany');
    assert.equal(errorOf(h.set('s0', { deadLetterPolicy: p1('dlq') })), 'ok');
    h.run({ kind: 'unbindDeadLetter', queueName: 's1' });
    assert.equal(errorOf(h.set('extra', { deadLetterPolicy: p0('dlq') })), 'ok');
  });

  test('a queue in use as a DLQ cannot be deleted', () => {
    const h = new Harness();
    h.create('dlq');
    h.create('src', { deadLetterPolicy: p1('dlq') });
    assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'dlq' })), 'dlqDeleteInUse');
    assert.ok(h.sm.getQueueAttributes('dlq'));
    h.run({ kind: 'unbindDeadLetter', queueName: 'src' });
    assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'dlq' })), 'ok');
  });

  test('a failed set changes nothing', () => {
    const h = new Harness();
    h.create('dlq');
    h.create('q', { visibilityTimeout: 10 });
    const before = h.attrs('q');
    h.timeMs += 1000;
    assert.equal(errorOf(h.set('q', { visibilityTimeout: 20, deadLetterPolicy: p0('missing') })), 'dlqNotExist');
    assert.deepEqual(h.attrs('q'), before);
  });
});
