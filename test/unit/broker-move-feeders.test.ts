// What the broker does for a queue moving to another set (node/queue-move.ts) that something on
// its set feeds directly: a topic's queue subscription is made remote (setSubscriptionAttributes
// remoteQueue), the emptied source is not deleted while a local one is left, and a dead-letter
// queue's dead letters leaving for its new set carry the queue each came from (through the
// outbox, snapshots and the codec), so a redrive there can still send them back.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { BrokerFormatError } from '../../src/broker/binary';
import { commandFromPayload, encodeCommand } from '../../src/broker/codec';
import type { Command } from '../../src/broker/commands';
import { forOlderReplicas, olderReplicasCanApply } from '../../src/broker/compat';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { BrokerHarness } from '../helpers/broker-harness';

function errorOf(r: { ok: boolean; error?: string }): string | undefined {
  return r.ok ? undefined : r.error;
}

/** Queue `fed` and topic `t` on one set, `t` delivering into `fed` locally. */
function fedByTopic(): BrokerHarness {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'fed', attrs: {} });
  h.ok({ kind: 'createTopic', topicName: 't', maxMsgSize: 65536, filterType: 1 });
  h.ok({ kind: 'subscribe', topicName: 't', subscriptionName: 's', protocol: 'queue', endpoint: 'fed', notifyStrategy: 'BACKOFF_RETRY', notifyContentFormat: 'SIMPLIFIED', filterTags: [], bindingKeys: [] });
  return h;
}

function publish(h: BrokerHarness, body: string): string {
  return h.ok({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.from(body)], msgTags: [], routingKey: '' }).msgIds[0]!;
}

const MAKE_REMOTE: Command = { kind: 'setSubscriptionAttributes', topicName: 't', subscriptionName: 's', remoteQueue: true };

describe('a queue subscription made remote', () => {
  test('publishes before go into the local queue; after, they wait as pushes for the queue on another set; the settings stay', () => {
    const h = fedByTopic();
    publish(h, 'before');
    assert.equal(h.sm.getQueueAttributes('fed')!.activeMsgNum, 1);
    h.ok(MAKE_REMOTE);
    h.ok(MAKE_REMOTE); // again (a new leader repeating the step): nothing more changes
    const id = publish(h, 'after');
    assert.equal(h.sm.getQueueAttributes('fed')!.activeMsgNum, 1, 'not enqueued here');
    const due = h.sm.duePushes(h.timeMs, 10);
    assert.deepEqual(
      due.map((d) => [d.endpoint, d.remoteQueue, d.msgId, h.body(d.body).toString()]),
      [['fed', true, id, 'after']],
    );
    const a = h.sm.getSubscriptionAttributes('t', 's');
    assert.ok(!('ok' in a));
    assert.equal(a.protocol, 'queue');
    assert.equal(a.notifyContentFormat, 'SIMPLIFIED');
    // Kept by a snapshot.
    const r = QueueStateMachine.restore(h.sm.snapshot());
    assert.deepEqual(r.duePushes(h.timeMs, 10), due);
    const e = encodeCommand({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('later')], msgTags: [], routingKey: '' });
    assert.ok(r.apply(h.index + 1, h.timeMs, e.payload, e.metaLen).ok);
    assert.equal(r.getQueueAttributes('fed')!.activeMsgNum, 1, 'still remote after the restore');
  });

  test('an http subscription is left as it is', () => {
    const h = fedByTopic();
    h.ok({ kind: 'subscribe', topicName: 't', subscriptionName: 'web', protocol: 'http', endpoint: 'http://x/', notifyStrategy: 'BACKOFF_RETRY', notifyContentFormat: 'JSON', filterTags: [], bindingKeys: [] });
    h.ok({ kind: 'setSubscriptionAttributes', topicName: 't', subscriptionName: 'web', remoteQueue: true });
    publish(h, 'x');
    assert.deepEqual(
      h.sm.duePushes(h.timeMs, 10).map((d) => [d.subscriptionName, d.remoteQueue]),
      [['web', undefined]],
    );
  });

  test('codec: the flag is one bit, absent unless set; unknown bits are refused; older replicas cannot apply it', () => {
    const plain: Command = { kind: 'setSubscriptionAttributes', topicName: 't', subscriptionName: 's' };
    const a = encodeCommand(plain);
    const b = encodeCommand(MAKE_REMOTE);
    assert.deepEqual(commandFromPayload(b.payload, b.metaLen), MAKE_REMOTE);
    assert.deepEqual(commandFromPayload(a.payload, a.metaLen), plain);
    assert.equal(b.metaLen, a.metaLen, 'a flag bit, no payload');
    assert.deepEqual(encodeCommand({ ...plain, remoteQueue: false }).payload, a.payload);
    const bad = Uint8Array.from(b.payload);
    bad[b.metaLen - 1] = 32;
    assert.throws(() => commandFromPayload(bad, b.metaLen), BrokerFormatError);
    assert.equal(olderReplicasCanApply(MAKE_REMOTE), false);
    assert.equal(forOlderReplicas(MAKE_REMOTE), undefined);
    assert.equal(olderReplicasCanApply({ ...plain, notifyContentFormat: 'JSON' }), true);
  });
});

describe('deleting the emptied source of a move', () => {
  test('deleteQueue ifEmpty refuses a queue a topic of its set still delivers into; once remote, it deletes', () => {
    const h = fedByTopic();
    assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'fed', ifEmpty: true })), 'queueNotEmpty');
    h.ok(MAKE_REMOTE);
    h.ok({ kind: 'deleteQueue', queueName: 'fed', ifEmpty: true });
  });

  test('a subscription naming another queue, or one in another case, does not hold it; a plain delete is not held', () => {
    const h = fedByTopic();
    h.ok({ kind: 'createQueue', queueName: 'Other', attrs: {} });
    h.ok({ kind: 'deleteQueue', queueName: 'Other', ifEmpty: true });
    h.ok({ kind: 'deleteQueue', queueName: 'fed' });
  });
});

describe("a dead-letter queue's dead letters moving to its new set", () => {
  /** Queue `src` dead-letters into `dlq` on this set; `far` a dead letter that came from another set. */
  function withDeadLetters(): BrokerHarness {
    const h = new BrokerHarness();
    h.ok({ kind: 'createQueue', queueName: 'dlq', attrs: {} });
    h.ok({ kind: 'createQueue', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1 } } });
    h.ok({ kind: 'sendMessages', queueName: 'src', delaySeconds: 0, bodies: [Buffer.from('local')] });
    h.ok({ kind: 'receiveMessages', queueName: 'src', numOfMsg: 1, seed: 1, visibilitySeconds: 0 });
    h.advance(1);
    h.ok({ kind: 'receiveMessages', queueName: 'src', numOfMsg: 1, seed: 2 });
    h.ok({ kind: 'sendMessages', queueName: 'dlq', delaySeconds: 0, bodies: [Buffer.from('far')], options: [{ deadLetterSource: 'elsewhere' }] });
    h.ok({ kind: 'sendMessages', queueName: 'dlq', delaySeconds: 0, bodies: [Buffer.from('plain')] });
    assert.equal(h.sm.getQueueAttributes('dlq')!.activeMsgNum, 3);
    return h;
  }

  test('a move to its own name carries the queue each came from; other moves do not', () => {
    const h = withDeadLetters();
    const r = h.ok({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: 'dlq', maxMessages: 10, remoteDestination: true });
    assert.equal(r.moved, 3);
    const due = h.sm.dueDeadLetters(h.timeMs, 10);
    assert.deepEqual(
      due.map((d) => [h.body(d.body).toString(), d.destinationQueue, d.move, d.deadLetterSource]),
      [
        ['local', 'dlq', true, 'src'],
        ['far', 'dlq', true, 'elsewhere'],
        ['plain', 'dlq', true, undefined],
      ],
    );
    // Kept by a snapshot, which reads back the same.
    const restored = QueueStateMachine.restore(h.sm.snapshot());
    assert.deepEqual(restored.dueDeadLetters(h.timeMs, 10), due);
    assert.deepEqual(Buffer.from(restored.snapshot()), Buffer.from(h.sm.snapshot()));

    const other = withDeadLetters();
    other.ok({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: 'x', maxMessages: 10, remoteDestination: true });
    assert.deepEqual(
      other.sm.dueDeadLetters(other.timeMs, 10).map((d) => d.deadLetterSource),
      [undefined, undefined, undefined],
      'a redrive to a named queue elsewhere is no dead letter there',
    );
  });

  test('a dead letter consumed and kept for rewind carries the queue it came from too when the kept ones move', () => {
    const h = withDeadLetters();
    h.ok({ kind: 'setQueueAttributes', queueName: 'dlq', attrs: { rewindSeconds: 3600 } });
    const got = h.ok({ kind: 'receiveMessages', queueName: 'dlq', numOfMsg: 10, seed: 3 });
    h.ok({ kind: 'deleteMessages', queueName: 'dlq', receiptHandles: got.messages.map((m) => m.receiptHandle) });
    assert.equal(h.sm.getQueueAttributes('dlq')!.rewindMsgNum, 3);
    h.ok({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: 'dlq', maxMessages: 10, remoteDestination: true, kept: true });
    const due = h.sm.dueDeadLetters(h.timeMs, 10);
    assert.deepEqual(
      due.map((d) => [h.body(d.body).toString(), d.moveOrigin?.kept, d.deadLetterSource]).sort(),
      [
        ['far', true, 'elsewhere'],
        ['local', true, 'src'],
        ['plain', true, undefined],
      ],
    );
    const restored = QueueStateMachine.restore(h.sm.snapshot());
    assert.deepEqual(restored.dueDeadLetters(h.timeMs, 10), due);
  });

  test('an outbox row of a moving queue without a source is the form without one: it reads; a bad source is a format error', () => {
    const h = withDeadLetters();
    h.ok({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: 'dlq', maxMessages: 10, remoteDestination: true });
    const text = Buffer.from(h.sm.snapshot()).toString('latin1');
    assert.ok(text.includes(',0,"src"]'), 'the source follows the move origin (enqueue time, kept)');
    const swap = (from: string, to: string): Uint8Array => {
      assert.ok(text.includes(from));
      return Uint8Array.from(Buffer.from(text.replace(from, to), 'latin1'));
    };
    // Same length (the meta is length-prefixed): JSON whitespace pads the shorter row.
    const without = QueueStateMachine.restore(swap(',0,"src"]', ',0      ]'));
    assert.deepEqual(
      without.dueDeadLetters(h.timeMs, 10).map((d) => d.deadLetterSource),
      [undefined, 'elsewhere', undefined],
    );
    assert.throws(() => QueueStateMachine.restore(swap(',0,"src"]', ',0,7    ]')), BrokerFormatError);
  });

  test('the copy on the new set remembers each source, and a redrive there sends them back', () => {
    const h = withDeadLetters();
    h.ok({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: 'dlq', maxMessages: 10, remoteDestination: true });
    const target = new BrokerHarness();
    target.ok({ kind: 'createQueue', queueName: 'dlq', attrs: {} });
    // As the leader's delivery loop sends them (node/push-delivery.ts).
    for (const d of h.sm.dueDeadLetters(h.timeMs, 10)) {
      const options = d.deadLetterSource !== undefined ? [{ deadLetterSource: d.deadLetterSource }] : undefined;
      target.ok({ kind: 'sendMessages', queueName: 'dlq', delaySeconds: 0, bodies: [h.body(d.body)], ...(options ? { options } : {}) });
    }
    const back = target.ok({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: null, maxMessages: 10 });
    assert.equal(back.moved, 2);
    assert.equal(back.stayed, 1, 'the plain message has no source');
    assert.deepEqual(
      target.sm.dueDeadLetters(target.timeMs, 10).map((d) => [d.destinationQueue, target.body(d.body).toString()]),
      [
        ['src', 'local'],
        ['elsewhere', 'far'],
      ],
    );
  });
});
