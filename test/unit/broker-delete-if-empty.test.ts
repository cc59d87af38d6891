// deleteQueue `ifEmpty`, the last step of moving a queue to another set: the queue goes only when
// it holds nothing (visible, in flight, delayed, or waiting in its outbox), judged in the same
// entry; the flag survives the codec and is never proposed to replicas of the previous release.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { commandFromPayload, encodeCommand } from '../../src/broker/codec';
import { forOlderReplicas, olderReplicasCanApply } from '../../src/broker/compat';
import { BrokerHarness } from '../helpers/broker-harness';

function errorOf(r: { ok: boolean; error?: string }): string | undefined {
  return r.ok ? undefined : r.error;
}

test('deleteQueue ifEmpty refuses a queue holding a visible, in-flight or delayed message, and deletes an empty one', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: {} });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('a')] });
  assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true })), 'queueNotEmpty', 'visible');
  const got = h.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 1, seed: 1 });
  assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true })), 'queueNotEmpty', 'in flight');
  h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [got.messages[0]!.receiptHandle] });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 60, bodies: [Buffer.from('b')] });
  assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true })), 'queueNotEmpty', 'delayed');
  assert.ok(h.sm.getQueueAttributes('q'), 'every refusal left the queue');
  h.ok({ kind: 'purgeQueue', queueName: 'q' });
  h.ok({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true });
  assert.equal(h.sm.getQueueAttributes('q'), undefined);
  assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true })), 'queueNotExist');
});

test('deleteQueue ifEmpty refuses a queue whose outbox still holds a message moved out of it', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: {} });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('a')] });
  const moved = h.ok({ kind: 'moveMessages', sourceQueue: 'q', destinationQueue: 'q', maxMessages: 10, remoteDestination: true });
  assert.equal(moved.moved, 1);
  assert.equal(h.sm.getQueueAttributes('q')!.activeMsgNum, 0, 'the message left the queue into its outbox');
  assert.equal(errorOf(h.run({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true })), 'queueNotEmpty');
  const due = h.sm.dueDeadLetters(h.timeMs + 1, 10);
  assert.equal(due.length, 1);
  h.ok({ kind: 'deadLetterSent', queueName: 'q', msgId: due[0]!.msgId });
  h.ok({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true });
});

test('a plain deleteQueue still deletes a queue holding messages', () => {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: {} });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('a')] });
  h.ok({ kind: 'deleteQueue', queueName: 'q' });
});

test('ifEmpty survives the codec; only a plain delete is proposed to replicas of the previous release', () => {
  for (const cmd of [{ kind: 'deleteQueue' as const, queueName: 'q', ifEmpty: true }, { kind: 'deleteQueue' as const, queueName: 'q' }]) {
    const { payload, metaLen } = encodeCommand(cmd);
    assert.deepEqual(commandFromPayload(payload, metaLen), cmd);
  }
  assert.equal(olderReplicasCanApply({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true }), false);
  assert.equal(forOlderReplicas({ kind: 'deleteQueue', queueName: 'q', ifEmpty: true }), undefined, 'no older form: dropping the check could lose messages');
  assert.equal(olderReplicasCanApply({ kind: 'deleteQueue', queueName: 'q' }), true);
});
