// A FIFO queue end to end with the AWS SDK for JavaScript, at whatever SQS endpoint the client is
// aimed (a one-node server, or any node of a cluster of sets): create it with content-based
// deduplication, send to two groups (one duplicate), receive in group order with the FIFO system
// attributes, delete; a send without a group is refused with SQS's error; a receive retried with
// its ReceiveRequestAttemptId gets the same messages and receipt handles.

import assert from 'node:assert/strict';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

import { sqsErrorOf } from './sqs-server';

/** How exerciseFifo creates its queue (so a test may create it beforehand, alike). */
export const FIFO_ATTRIBUTES = { FifoQueue: 'true', ContentBasedDeduplication: 'true' };

export async function exerciseFifo(sqs: SQSClient, queueName: string): Promise<void> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: FIFO_ATTRIBUTES }));
  assert.ok(QueueUrl?.endsWith(`/${queueName}`), QueueUrl);
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['FifoQueue', 'ContentBasedDeduplication', 'DeduplicationScope'] }));
  assert.deepEqual(attrs.Attributes, { FifoQueue: 'true', ContentBasedDeduplication: 'true', DeduplicationScope: 'queue' });

  const one = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'a1', MessageGroupId: 'A' }));
  const batch = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl,
      Entries: [
        { Id: 'b1', MessageBody: 'b1', MessageGroupId: 'B' },
        { Id: 'a2', MessageBody: 'a2', MessageGroupId: 'A', MessageDeduplicationId: 'a2-id' },
        { Id: 'a1dup', MessageBody: 'a1', MessageGroupId: 'A' },
      ],
    }),
  );
  assert.equal(batch.Failed?.length ?? 0, 0, JSON.stringify(batch.Failed));
  const seq = new Map((batch.Successful ?? []).map((e) => [e.Id, e]));
  assert.match(one.SequenceNumber ?? '', /^\d{20}$/);
  assert.ok(seq.get('a2')!.SequenceNumber! > one.SequenceNumber!);
  assert.equal(seq.get('a1dup')!.MessageId, one.MessageId, 'the same body within 5 minutes is deduplicated');

  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['All'] }));
  const msgs = got.Messages ?? [];
  const group = (g: string): string[] => msgs.filter((m) => m.Attributes?.MessageGroupId === g).map((m) => m.Body ?? '');
  assert.deepEqual(group('A'), ['a1', 'a2']);
  assert.deepEqual(group('B'), ['b1']);
  const a2 = msgs.find((m) => m.Body === 'a2');
  assert.equal(a2?.Attributes?.MessageDeduplicationId, 'a2-id');
  assert.equal(a2?.Attributes?.SequenceNumber, seq.get('a2')!.SequenceNumber);
  const deleted = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: msgs.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) }));
  assert.equal(deleted.Successful?.length, 3);

  const refused = await sqsErrorOf(sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x', MessageDeduplicationId: 'x' })));
  assert.equal(refused.name, 'MissingParameter');
  assert.equal(refused.$metadata.httpStatusCode, 400);

  await exerciseReceiveAttempt(sqs, QueueUrl!);
}

/**
 * A receive repeated with the same ReceiveRequestAttemptId (as after a lost answer) gets the same
 * messages under the same receipt handles, though they are in flight and nothing else is visible.
 */
async function exerciseReceiveAttempt(sqs: SQSClient, QueueUrl: string): Promise<void> {
  const sent = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl,
      Entries: [
        { Id: 'c1', MessageBody: 'c1', MessageGroupId: 'C' },
        { Id: 'c2', MessageBody: 'c2', MessageGroupId: 'C' },
      ],
    }),
  );
  assert.equal(sent.Successful?.length, 2, JSON.stringify(sent.Failed));
  const receive = () => sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60, ReceiveRequestAttemptId: 'attempt-c' }));
  const first = (await receive()).Messages ?? [];
  assert.deepEqual(
    first.map((m) => m.Body),
    ['c1', 'c2'],
  );
  const again = (await receive()).Messages ?? [];
  const view = (ms: typeof first) => ms.map((m) => [m.MessageId, m.ReceiptHandle, m.Body, m.MD5OfBody]);
  assert.deepEqual(view(again), view(first), 'the retry gets the same messages and receipt handles');
  const deleted = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: again.map((m, i) => ({ Id: `c${i}`, ReceiptHandle: m.ReceiptHandle })) }));
  assert.equal(deleted.Successful?.length, 2);
}
