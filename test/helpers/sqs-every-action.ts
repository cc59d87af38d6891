// Every SQS action a current AWS SDK for JavaScript (v3) sends, end to end against a running
// server, with what each must answer. Shared by the single-node and the 3-node set tests, so
// both check the same thing. The SDK itself checks the MD5 digests of bodies it sends and
// receives (its middleware fails the call on a mismatch), so those are checked on every send and
// receive here too.

import assert from 'node:assert/strict';
import {
  CancelMessageMoveTaskCommand,
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListDeadLetterSourceQueuesCommand,
  ListMessageMoveTasksCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
  TagQueueCommand,
  UntagQueueCommand,
  type Message,
} from '@aws-sdk/client-sqs';

import { sqsErrorOf } from './sqs-server';

export function sqsClient(endpoint: string, credentials = { accessKeyId: 'AKIDsqs-test', secretAccessKey: 'sqs-test-key' }, maxAttempts = 3): SQSClient {
  return new SQSClient({ endpoint, region: 'us-east-1', credentials, maxAttempts });
}


/** Receives until `count` messages arrived (or `seconds` passed), without deleting them. */
async function receiveAll(c: SQSClient, QueueUrl: string, count: number, seconds = 10): Promise<Message[]> {
  const out: Message[] = [];
  const deadline = Date.now() + seconds * 1000;
  while (out.length < count && Date.now() < deadline) {
    const r = await c.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
    );
    out.push(...(r.Messages ?? []));
  }
  return out;
}

/** Runs every action once or more on queues named with `prefix`, checking each answer; deletes what it made. */
export async function exerciseEveryAction(c: SQSClient, prefix: string): Promise<void> {
  // CreateQueue (with attributes and tags), idempotent with the same attributes, refused with others.
  const created = await c.send(
    new CreateQueueCommand({ QueueName: `${prefix}-main`, Attributes: { VisibilityTimeout: '5', DelaySeconds: '0', MaximumMessageSize: '65536' }, tags: { team: 'payments' } }),
  );
  const url = created.QueueUrl!;
  assert.match(url, new RegExp(`/\\d{12}/${prefix}-main$`));
  assert.equal((await c.send(new CreateQueueCommand({ QueueName: `${prefix}-main`, Attributes: { VisibilityTimeout: '5' } }))).QueueUrl, url);
  const exists = await sqsErrorOf(c.send(new CreateQueueCommand({ QueueName: `${prefix}-main`, Attributes: { VisibilityTimeout: '6' } })));
  assert.equal(exists.name, 'QueueNameExists');
  const dlqUrl = (await c.send(new CreateQueueCommand({ QueueName: `${prefix}-dlq` }))).QueueUrl!;
  const otherUrl = (await c.send(new CreateQueueCommand({ QueueName: `${prefix}-other` }))).QueueUrl!;

  // GetQueueUrl, and the error for a queue that does not exist.
  assert.equal((await c.send(new GetQueueUrlCommand({ QueueName: `${prefix}-main` }))).QueueUrl, url);
  const missing = await sqsErrorOf(c.send(new GetQueueUrlCommand({ QueueName: `${prefix}-missing` })));
  assert.ok(missing instanceof QueueDoesNotExist, missing.name);
  assert.equal(missing.$metadata.httpStatusCode, 400);

  // ListQueues: prefix, MaxResults and NextToken paging.
  const all = await c.send(new ListQueuesCommand({ QueueNamePrefix: prefix }));
  assert.deepEqual([...(all.QueueUrls ?? [])].sort(), [dlqUrl, url, otherUrl].sort());
  const page1 = await c.send(new ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 2 }));
  assert.equal(page1.QueueUrls?.length, 2);
  assert.ok(page1.NextToken);
  const page2 = await c.send(new ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 2, NextToken: page1.NextToken }));
  assert.deepEqual([...(page1.QueueUrls ?? []), ...(page2.QueueUrls ?? [])].sort(), [dlqUrl, url, otherUrl].sort());

  // SetQueueAttributes (a redrive policy to the DLQ) and GetQueueAttributes.
  const dlqArn = (await c.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
  assert.match(dlqArn ?? '', new RegExp(`^arn:aws:sqs:[a-z0-9-]+:\\d{12}:${prefix}-dlq$`));
  await c.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }), ReceiveMessageWaitTimeSeconds: '1' } }));
  const attrs = (await c.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes ?? {};
  assert.equal(attrs.VisibilityTimeout, '5');
  assert.equal(attrs.ReceiveMessageWaitTimeSeconds, '1');
  assert.equal((JSON.parse(attrs.RedrivePolicy ?? '{}') as { maxReceiveCount?: number }).maxReceiveCount, 5);
  for (const k of ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed', 'CreatedTimestamp', 'LastModifiedTimestamp', 'QueueArn'] as const) {
    assert.ok(attrs[k] !== undefined, k);
  }
  assert.deepEqual((await c.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlqUrl }))).queueUrls, [url]);

  // Tags.
  await c.send(new TagQueueCommand({ QueueUrl: url, Tags: { env: 'test', team: 'billing' } }));
  await c.send(new UntagQueueCommand({ QueueUrl: url, TagKeys: ['env'] }));
  assert.deepEqual((await c.send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags, { team: 'billing' });

  // SendMessage with message attributes of every type and a system attribute; the SDK checks the digests.
  const sent = await c.send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: 'credit 42 to account 7 ✓',
      MessageAttributes: {
        kind: { DataType: 'String', StringValue: 'credit' },
        amount: { DataType: 'Number', StringValue: '42.50' },
        raw: { DataType: 'Binary', BinaryValue: Buffer.from([0, 1, 2, 255]) },
        currency: { DataType: 'String.iso4217', StringValue: 'EUR' },
      },
      MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1' } },
    }),
  );
  assert.ok(sent.MessageId && sent.MD5OfMessageBody && sent.MD5OfMessageAttributes && sent.MD5OfMessageSystemAttributes);

  // SendMessageBatch: ten entries, one refused on its own (an empty body).
  const batch = await c.send(
    new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: i === 3 ? '' : `batch ${i}`, ...(i === 5 ? { DelaySeconds: 1 } : {}) })),
    }),
  );
  assert.equal(batch.Successful?.length, 9);
  assert.deepEqual(
    batch.Failed?.map((f) => [f.Id, f.SenderFault]),
    [['m3', true]],
  );

  // ReceiveMessage with its own visibility, every attribute; the first message's attributes come back as sent.
  const got = await receiveAll(c, url, 10);
  assert.equal(got.length, 10);
  const first = got.find((m) => m.MessageId === sent.MessageId);
  assert.ok(first, 'the attributed message was received');
  assert.equal(first.Body, 'credit 42 to account 7 ✓');
  assert.equal(first.MessageAttributes?.amount?.StringValue, '42.50');
  assert.deepEqual(Buffer.from(first.MessageAttributes?.raw?.BinaryValue ?? []), Buffer.from([0, 1, 2, 255]));
  assert.equal(first.MessageAttributes?.currency?.DataType, 'String.iso4217');
  assert.equal(first.Attributes?.AWSTraceHeader, 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1');
  assert.equal(first.Attributes?.ApproximateReceiveCount, '1');
  for (const k of ['SentTimestamp', 'ApproximateFirstReceiveTimestamp', 'SenderId'] as const) assert.ok(first.Attributes?.[k], k);
  // Nothing more is visible while they are in flight.
  assert.deepEqual((await c.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }))).Messages ?? [], []);

  // ChangeMessageVisibility(Batch): two made visible at once come back; a bad handle fails its entry.
  await c.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: got[0]!.ReceiptHandle, VisibilityTimeout: 0 }));
  const vis = await c.send(
    new ChangeMessageVisibilityBatchCommand({
      QueueUrl: url,
      Entries: [
        { Id: 'a', ReceiptHandle: got[1]!.ReceiptHandle, VisibilityTimeout: 0 },
        { Id: 'b', ReceiptHandle: got[2]!.ReceiptHandle, VisibilityTimeout: 600 },
        { Id: 'bad', ReceiptHandle: 'not-a-handle', VisibilityTimeout: 5 },
      ],
    }),
  );
  assert.deepEqual(vis.Successful?.map((s) => s.Id).sort(), ['a', 'b']);
  assert.equal(vis.Failed?.[0]?.Code, 'ReceiptHandleIsInvalid');
  const again = await receiveAll(c, url, 2);
  assert.deepEqual(again.map((m) => m.MessageId).sort(), [got[0]!.MessageId, got[1]!.MessageId].sort());
  assert.ok(again.every((m) => m.Attributes?.ApproximateReceiveCount === '2'));

  // DeleteMessage and DeleteMessageBatch; a stale handle is not an error for DeleteMessage (as SQS).
  await c.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: again[0]!.ReceiptHandle }));
  await c.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: again[0]!.ReceiptHandle }));
  const del = await c.send(
    new DeleteMessageBatchCommand({ QueueUrl: url, Entries: [...again.slice(1), ...got.slice(2)].map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) }),
  );
  assert.equal(del.Failed?.length ?? 0, 0);
  const counts = (await c.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes;
  assert.deepEqual([counts?.ApproximateNumberOfMessages, counts?.ApproximateNumberOfMessagesNotVisible], ['0', '0']);

  // PurgeQueue.
  await c.send(new SendMessageCommand({ QueueUrl: otherUrl, MessageBody: 'to purge' }));
  await c.send(new PurgeQueueCommand({ QueueUrl: otherUrl }));
  assert.equal((await c.send(new GetQueueAttributesCommand({ QueueUrl: otherUrl, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes?.ApproximateNumberOfMessages, '0');

  // Message move tasks: dead letters back to their source, and a paced task cancelled.
  await exerciseMoveTasks(c, prefix);

  // DeleteQueue: the source before its dead-letter queue.
  for (const u of [url, otherUrl, dlqUrl]) await c.send(new DeleteQueueCommand({ QueueUrl: u }));
  assert.deepEqual((await c.send(new ListQueuesCommand({ QueueNamePrefix: prefix }))).QueueUrls ?? [], []);
}

async function visibleIn(c: SQSClient, QueueUrl: string): Promise<number> {
  const a = await c.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
  return Number(a.Attributes?.ApproximateNumberOfMessages);
}

async function until(what: string, check: () => Promise<boolean>, seconds = 20): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what} within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** StartMessageMoveTask / ListMessageMoveTasks / CancelMessageMoveTask on a dead-letter queue. */
async function exerciseMoveTasks(c: SQSClient, prefix: string): Promise<void> {
  const dlq = (await c.send(new CreateQueueCommand({ QueueName: `${prefix}-mdlq` }))).QueueUrl!;
  const dlqArn = (await c.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const src = (
    await c.send(
      new CreateQueueCommand({ QueueName: `${prefix}-msrc`, Attributes: { VisibilityTimeout: '0', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }) } }),
    )
  ).QueueUrl!;
  await c.send(new SendMessageBatchCommand({ QueueUrl: src, Entries: Array.from({ length: 5 }, (_, i) => ({ Id: `e${i}`, MessageBody: `dead ${i}` })) }));
  // Received once (visibility 0: back at once), then moved to the DLQ by the next receive.
  await until('five dead letters', async () => {
    await c.send(new ReceiveMessageCommand({ QueueUrl: src, MaxNumberOfMessages: 10 }));
    return (await visibleIn(c, dlq)) === 5;
  });
  const started = await c.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
  assert.ok(started.TaskHandle);
  await until('the move task to complete', async () => {
    const tasks = (await c.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results ?? [];
    return tasks[0]?.Status === 'COMPLETED';
  });
  const done = (await c.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn, MaxResults: 10 }))).Results![0]!;
  assert.equal(done.ApproximateNumberOfMessagesMoved, 5);
  assert.equal(done.TaskHandle, undefined, 'a finished task has no handle');
  assert.equal(await visibleIn(c, src), 5);
  assert.equal(await visibleIn(c, dlq), 0);
  const cancelDone = await sqsErrorOf(c.send(new CancelMessageMoveTaskCommand({ TaskHandle: started.TaskHandle })));
  assert.equal(cancelDone.name, 'UnsupportedOperation');

  // A slow task (1 message/s) over the five, cancelled while it runs.
  await c.send(new SetQueueAttributesCommand({ QueueUrl: src, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }) } }));
  await until('five dead letters again', async () => {
    await c.send(new ReceiveMessageCommand({ QueueUrl: src, MaxNumberOfMessages: 10 }));
    return (await visibleIn(c, dlq)) === 5;
  });
  const slow = await c.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn, DestinationArn: dlqArn.replace(/-mdlq$/, '-msrc'), MaxNumberOfMessagesPerSecond: 1 }));
  const running = (await c.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results![0]!;
  assert.equal(running.Status, 'RUNNING');
  assert.equal(running.TaskHandle, slow.TaskHandle);
  const cancelled = await c.send(new CancelMessageMoveTaskCommand({ TaskHandle: slow.TaskHandle }));
  assert.ok((cancelled.ApproximateNumberOfMessagesMoved ?? -1) < 5);
  assert.equal((await c.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results![0]!.Status, 'CANCELLED');
  for (const u of [src, dlq]) await c.send(new DeleteQueueCommand({ QueueUrl: u }));
}
