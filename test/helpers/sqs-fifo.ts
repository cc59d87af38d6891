// A FIFO queue end to end with the AWS SDK for JavaScript, at whatever SQS endpoint the client is
// aimed (a one-node server, or any node of a cluster of sets): create it with content-based
// deduplication, send to two groups (one duplicate), receive in group order with the FIFO system
// attributes, delete; a send without a group is refused with SQS's error.

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
}
