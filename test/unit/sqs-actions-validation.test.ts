// Every request check of the SQS actions, table-driven, against a real node: each bad request
// gets the registry error SQS's rule calls for, and none of them changes the queue.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { SqsInput } from '../../src/api/sqs/types';
import type { ErrorName } from '../../src/protocol/errors';
import { ACCOUNT, arn, openSqsNode, type SqsNode } from '../helpers/sqs-node';

let s: SqsNode;
let Q: string;

before(async () => {
  s = await openSqsNode();
  await s.ok('CreateQueue', { QueueName: 'q' });
  Q = s.url('q');
});
after(async () => {
  await s.close();
});

const attrs = (a: Record<string, unknown>): SqsInput => ({ QueueName: 'newq', Attributes: a });
const fifoAttrs = (a: Record<string, unknown>): SqsInput => ({ QueueName: 'newq.fifo', Attributes: { FifoQueue: 'true', ...a } });
const send = (extra: Record<string, unknown>): SqsInput => ({ QueueUrl: Q, MessageBody: 'hello', ...extra });
const withAttr = (name: string, v: unknown): SqsInput => send({ MessageAttributes: { [name]: v } });
const str = (v: string): Record<string, string> => ({ DataType: 'String', StringValue: v });
const entries = (n: number, f: (i: number) => Record<string, unknown> = () => ({})): SqsInput => ({
  QueueUrl: Q,
  Entries: Array.from({ length: n }, (_, i) => ({ Id: `e${i}`, MessageBody: 'x', ...f(i) })),
});

type Row = [string, string, () => SqsInput, ErrorName];

const ROWS: Row[] = [
  // Queue names
  ['QueueName missing', 'CreateQueue', () => ({}), 'missingParam'],
  ['QueueName of 81 characters', 'CreateQueue', () => ({ QueueName: 'a'.repeat(81) }), 'invalidParameterValue'],
  ['QueueName with a space', 'CreateQueue', () => ({ QueueName: 'bad name' }), 'invalidParameterValue'],
  ['QueueName with a dot', 'CreateQueue', () => ({ QueueName: 'a.b' }), 'invalidParameterValue'],
  ['a .fifo name without FifoQueue', 'CreateQueue', () => ({ QueueName: 'orders.fifo' }), 'invalidParameterValue'],
  ['a .fifo name with FifoQueue false', 'CreateQueue', () => ({ QueueName: 'orders.fifo', Attributes: { FifoQueue: 'false' } }), 'invalidParameterValue'],
  ['FifoQueue true without the .fifo suffix', 'CreateQueue', () => attrs({ FifoQueue: 'true' }), 'invalidParameterValue'],
  ['a FIFO name of 81 characters', 'CreateQueue', () => ({ QueueName: `${'f'.repeat(76)}.fifo`, Attributes: { FifoQueue: 'true' } }), 'invalidParameterValue'],
  ['a FIFO name with a dot before .fifo', 'CreateQueue', () => ({ QueueName: 'a.b.fifo', Attributes: { FifoQueue: 'true' } }), 'invalidParameterValue'],
  ['FifoQueue yes', 'CreateQueue', () => ({ QueueName: 'f.fifo', Attributes: { FifoQueue: 'yes' } }), 'invalidAttributeValue'],
  ['ContentBasedDeduplication on a standard queue', 'CreateQueue', () => attrs({ ContentBasedDeduplication: 'true' }), 'invalidAttributeName'],
  ['DeduplicationScope on a standard queue', 'CreateQueue', () => attrs({ DeduplicationScope: 'queue' }), 'invalidAttributeName'],
  ['FifoThroughputLimit on a standard queue', 'CreateQueue', () => attrs({ FifoThroughputLimit: 'perQueue' }), 'invalidAttributeName'],
  ['ContentBasedDeduplication maybe', 'CreateQueue', () => fifoAttrs({ ContentBasedDeduplication: 'maybe' }), 'invalidAttributeValue'],
  ['DeduplicationScope group', 'CreateQueue', () => fifoAttrs({ DeduplicationScope: 'group' }), 'invalidAttributeValue'],
  ['FifoThroughputLimit perGroup', 'CreateQueue', () => fifoAttrs({ FifoThroughputLimit: 'perGroup' }), 'invalidAttributeValue'],
  ['FifoThroughputLimit perMessageGroupId with DeduplicationScope queue', 'CreateQueue', () => fifoAttrs({ FifoThroughputLimit: 'perMessageGroupId' }), 'invalidAttributeValue'],
  // Queue attributes
  ['an unknown attribute', 'CreateQueue', () => attrs({ Colour: 'red' }), 'invalidAttributeName'],
  ['All as an attribute to set', 'CreateQueue', () => attrs({ All: '1' }), 'invalidAttributeName'],
  ['read-only QueueArn', 'CreateQueue', () => attrs({ QueueArn: arn('newq') }), 'invalidAttributeName'],
  ['read-only ApproximateNumberOfMessages', 'CreateQueue', () => attrs({ ApproximateNumberOfMessages: '0' }), 'invalidAttributeName'],
  ['VisibilityTimeout 43201', 'CreateQueue', () => attrs({ VisibilityTimeout: '43201' }), 'invalidAttributeValue'],
  ['VisibilityTimeout -1', 'CreateQueue', () => attrs({ VisibilityTimeout: '-1' }), 'invalidAttributeValue'],
  ['VisibilityTimeout not a number', 'CreateQueue', () => attrs({ VisibilityTimeout: 'ten' }), 'invalidAttributeValue'],
  ['VisibilityTimeout as a JSON number', 'CreateQueue', () => attrs({ VisibilityTimeout: 30 }), 'invalidAttributeValue'],
  ['DelaySeconds 901', 'CreateQueue', () => attrs({ DelaySeconds: '901' }), 'invalidAttributeValue'],
  ['MaximumMessageSize 1023', 'CreateQueue', () => attrs({ MaximumMessageSize: '1023' }), 'invalidAttributeValue'],
  ['MaximumMessageSize 1048577', 'CreateQueue', () => attrs({ MaximumMessageSize: '1048577' }), 'invalidAttributeValue'],
  ['MessageRetentionPeriod 59', 'CreateQueue', () => attrs({ MessageRetentionPeriod: '59' }), 'invalidAttributeValue'],
  ['MessageRetentionPeriod 1209601', 'CreateQueue', () => attrs({ MessageRetentionPeriod: '1209601' }), 'invalidAttributeValue'],
  ['ReceiveMessageWaitTimeSeconds 21', 'CreateQueue', () => attrs({ ReceiveMessageWaitTimeSeconds: '21' }), 'invalidAttributeValue'],
  ['RedrivePolicy not JSON', 'CreateQueue', () => attrs({ RedrivePolicy: '{nope' }), 'invalidAttributeValue'],
  ['RedrivePolicy without its ARN', 'CreateQueue', () => attrs({ RedrivePolicy: '{"maxReceiveCount":3}' }), 'invalidAttributeValue'],
  [
    'RedrivePolicy naming another account',
    'CreateQueue',
    () => attrs({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn('q', '111111111111'), maxReceiveCount: 3 }) }),
    'invalidAttributeValue',
  ],
  [
    'RedrivePolicy maxReceiveCount 0',
    'CreateQueue',
    () => attrs({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn('q'), maxReceiveCount: 0 }) }),
    'invalidAttributeValue',
  ],
  [
    'RedrivePolicy maxReceiveCount 1001',
    'CreateQueue',
    () => attrs({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn('q'), maxReceiveCount: '1001' }) }),
    'invalidAttributeValue',
  ],
  ['RedriveAllowPolicy bad permission', 'CreateQueue', () => attrs({ RedriveAllowPolicy: '{"redrivePermission":"some"}' }), 'invalidAttributeValue'],
  ['RedriveAllowPolicy byQueue without ARNs', 'CreateQueue', () => attrs({ RedriveAllowPolicy: '{"redrivePermission":"byQueue"}' }), 'invalidAttributeValue'],
  [
    'RedriveAllowPolicy byQueue with 11 ARNs',
    'CreateQueue',
    () => attrs({ RedriveAllowPolicy: JSON.stringify({ redrivePermission: 'byQueue', sourceQueueArns: Array.from({ length: 11 }, (_, i) => arn(`s${i}`)) }) }),
    'invalidAttributeValue',
  ],
  [
    'RedriveAllowPolicy allowAll with ARNs',
    'CreateQueue',
    () => attrs({ RedriveAllowPolicy: JSON.stringify({ redrivePermission: 'allowAll', sourceQueueArns: [arn('q')] }) }),
    'invalidAttributeValue',
  ],
  ['a Policy (not stored)', 'CreateQueue', () => attrs({ Policy: '{"Version":"2012-10-17","Statement":[]}' }), 'invalidAttributeValue'],
  ['a KmsMasterKeyId (not stored)', 'CreateQueue', () => attrs({ KmsMasterKeyId: 'alias/aws/sqs' }), 'invalidAttributeValue'],
  ['SqsManagedSseEnabled maybe', 'CreateQueue', () => attrs({ SqsManagedSseEnabled: 'maybe' }), 'invalidAttributeValue'],
  // Tags
  ['51 tags', 'CreateQueue', () => ({ QueueName: 'newq', tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) }), 'invalidParameterValue'],
  ['a tag key of 129 characters', 'CreateQueue', () => ({ QueueName: 'newq', tags: { ['k'.repeat(129)]: 'v' } }), 'invalidParameterValue'],
  ['a tag value of 257 characters', 'TagQueue', () => ({ QueueUrl: Q, Tags: { k: 'v'.repeat(257) } }), 'invalidParameterValue'],
  ['an aws: tag key', 'TagQueue', () => ({ QueueUrl: Q, Tags: { 'aws:owner': 'me' } }), 'invalidParameterValue'],
  ['TagQueue without Tags', 'TagQueue', () => ({ QueueUrl: Q }), 'missingParam'],
  ['UntagQueue without TagKeys', 'UntagQueue', () => ({ QueueUrl: Q, TagKeys: [] }), 'missingParam'],
  // Queue URLs
  ['QueueUrl missing', 'GetQueueAttributes', () => ({}), 'missingParam'],
  ['QueueUrl without an account', 'GetQueueAttributes', () => ({ QueueUrl: 'http://127.0.0.1:9324/q' }), 'invalidAddress'],
  ['QueueUrl with a short account', 'GetQueueAttributes', () => ({ QueueUrl: 'http://127.0.0.1:9324/12345/q' }), 'invalidAddress'],
  ['QueueUrl that is no URL', 'GetQueueAttributes', () => ({ QueueUrl: 'queue q please' }), 'invalidAddress'],
  ['QueueUrl with a bad name', 'GetQueueAttributes', () => ({ QueueUrl: `http://h/${ACCOUNT}/a%20b` }), 'invalidAddress'],
  ['QueueUrl of another account', 'GetQueueAttributes', () => ({ QueueUrl: 'http://127.0.0.1:9324/111111111111/q' }), 'queueNotExist'],
  ['QueueUrl of a missing queue', 'GetQueueAttributes', () => ({ QueueUrl: s.url('missing') }), 'queueNotExist'],
  ['GetQueueUrl of a missing queue', 'GetQueueUrl', () => ({ QueueName: 'missing' }), 'queueNotExist'],
  ['GetQueueUrl for another account', 'GetQueueUrl', () => ({ QueueName: 'q', QueueOwnerAWSAccountId: '111111111111' }), 'queueNotExist'],
  ['GetQueueAttributes of an unknown name', 'GetQueueAttributes', () => ({ QueueUrl: Q, AttributeNames: ['Colour'] }), 'invalidAttributeName'],
  ['SetQueueAttributes without Attributes', 'SetQueueAttributes', () => ({ QueueUrl: Q }), 'missingParam'],
  ['SetQueueAttributes of QueueArn', 'SetQueueAttributes', () => ({ QueueUrl: Q, Attributes: { QueueArn: arn('x') } }), 'invalidAttributeName'],
  ['SetQueueAttributes making a standard queue FIFO', 'SetQueueAttributes', () => ({ QueueUrl: Q, Attributes: { FifoQueue: 'true' } }), 'fifoImmutable'],
  ['SetQueueAttributes of a FIFO-only attribute on a standard queue', 'SetQueueAttributes', () => ({ QueueUrl: Q, Attributes: { ContentBasedDeduplication: 'true' } }), 'invalidAttributeName'],
  // Listing
  ['ListQueues MaxResults 0', 'ListQueues', () => ({ MaxResults: 0 }), 'paramOutOfRange'],
  ['ListQueues MaxResults 1001', 'ListQueues', () => ({ MaxResults: 1001 }), 'paramOutOfRange'],
  ['ListQueues NextToken not base64url', 'ListQueues', () => ({ MaxResults: 5, NextToken: 'not a token!' }), 'invalidParameterValue'],
  ['ListQueues NextToken not ours', 'ListQueues', () => ({ MaxResults: 5, NextToken: Buffer.from('hello').toString('base64url') }), 'invalidParameterValue'],
  ['ListDeadLetterSourceQueues MaxResults 1001', 'ListDeadLetterSourceQueues', () => ({ QueueUrl: Q, MaxResults: 1001 }), 'paramOutOfRange'],
  // Sending
  ['MessageBody missing', 'SendMessage', () => ({ QueueUrl: Q }), 'missingParam'],
  ['MessageBody empty', 'SendMessage', () => send({ MessageBody: '' }), 'missingParam'],
  ['MessageBody with NUL', 'SendMessage', () => send({ MessageBody: 'a\u0000b' }), 'invalidMessageContents'],
  ['MessageBody with U+FFFE', 'SendMessage', () => send({ MessageBody: 'a\uFFFEb' }), 'invalidMessageContents'],
  ['MessageBody with a lone surrogate', 'SendMessage', () => send({ MessageBody: 'a\uD800b' }), 'invalidMessageContents'],
  ['MessageBody over 1 MiB', 'SendMessage', () => send({ MessageBody: 'x'.repeat(1024 * 1024 + 1) }), 'msgTooLarge'],
  ['DelaySeconds 901', 'SendMessage', () => send({ DelaySeconds: 901 }), 'paramOutOfRange'],
  ['DelaySeconds -1', 'SendMessage', () => send({ DelaySeconds: -1 }), 'paramOutOfRange'],
  ['DelaySeconds 1.5', 'SendMessage', () => send({ DelaySeconds: 1.5 }), 'invalidParameterValue'],
  ['MessageDeduplicationId on a standard queue', 'SendMessage', () => send({ MessageDeduplicationId: 'd' }), 'invalidParameterValue'],
  ['MessageGroupId of 129 characters', 'SendMessage', () => send({ MessageGroupId: 'g'.repeat(129) }), 'invalidParameterValue'],
  ['MessageGroupId with a space', 'SendMessage', () => send({ MessageGroupId: 'a b' }), 'invalidParameterValue'],
  ['MessageGroupId empty', 'SendMessage', () => send({ MessageGroupId: '' }), 'invalidParameterValue'],
  ['MessageGroupId with a non-ASCII letter', 'SendMessage', () => send({ MessageGroupId: 'gé' }), 'invalidParameterValue'],
  ['MessageDeduplicationId of 129 characters', 'SendMessage', () => send({ MessageDeduplicationId: 'd'.repeat(129) }), 'invalidParameterValue'],
  ['11 message attributes', 'SendMessage', () => send({ MessageAttributes: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`a${i}`, str('v')])) }), 'invalidParameterValue'],
  ['attribute name AWS.x', 'SendMessage', () => withAttr('AWS.x', str('v')), 'invalidParameterValue'],
  ['attribute name amazon.x', 'SendMessage', () => withAttr('amazon.x', str('v')), 'invalidParameterValue'],
  ['attribute name a..b', 'SendMessage', () => withAttr('a..b', str('v')), 'invalidParameterValue'],
  ['attribute name .a', 'SendMessage', () => withAttr('.a', str('v')), 'invalidParameterValue'],
  ['attribute name a.', 'SendMessage', () => withAttr('a.', str('v')), 'invalidParameterValue'],
  ['attribute name with a space', 'SendMessage', () => withAttr('a b', str('v')), 'invalidParameterValue'],
  ['attribute name of 257 characters', 'SendMessage', () => withAttr('a'.repeat(257), str('v')), 'invalidParameterValue'],
  ['attribute without DataType', 'SendMessage', () => withAttr('a', { StringValue: 'v' }), 'invalidParameterValue'],
  ['attribute DataType Text', 'SendMessage', () => withAttr('a', { DataType: 'Text', StringValue: 'v' }), 'invalidParameterValue'],
  ['String attribute without a value', 'SendMessage', () => withAttr('a', { DataType: 'String' }), 'invalidParameterValue'],
  ['String attribute empty', 'SendMessage', () => withAttr('a', str('')), 'invalidParameterValue'],
  ['String attribute with NUL', 'SendMessage', () => withAttr('a', str('\u0000')), 'invalidParameterValue'],
  ['Number attribute abc', 'SendMessage', () => withAttr('n', { DataType: 'Number', StringValue: 'abc' }), 'invalidParameterValue'],
  ['Number attribute of 39 digits', 'SendMessage', () => withAttr('n', { DataType: 'Number', StringValue: '1'.repeat(39) }), 'invalidParameterValue'],
  ['Binary attribute with a StringValue', 'SendMessage', () => withAttr('b', { DataType: 'Binary', StringValue: 'x' }), 'invalidParameterValue'],
  ['Binary attribute not base64', 'SendMessage', () => withAttr('b', { DataType: 'Binary', BinaryValue: 'not base64!' }), 'invalidParameterValue'],
  ['StringListValues (not implemented by SQS)', 'SendMessage', () => withAttr('a', { DataType: 'String', StringValue: 'v', StringListValues: ['x'] }), 'invalidParameterValue'],
  ['a system attribute other than AWSTraceHeader', 'SendMessage', () => send({ MessageSystemAttributes: { SenderId: str('me') } }), 'invalidAttributeName'],
  ['AWSTraceHeader as a Number', 'SendMessage', () => send({ MessageSystemAttributes: { AWSTraceHeader: { DataType: 'Number', StringValue: '1' } } }), 'invalidParameterValue'],
  // Batches
  ['Entries missing', 'SendMessageBatch', () => ({ QueueUrl: Q }), 'missingParam'],
  ['no entries', 'SendMessageBatch', () => entries(0), 'emptyBatchRequest'],
  ['11 entries', 'SendMessageBatch', () => entries(11), 'tooManyEntriesInBatch'],
  ['two entries with one Id', 'SendMessageBatch', () => entries(2, () => ({ Id: 'same' })), 'batchEntryIdsNotDistinct'],
  ['an Id with a space', 'SendMessageBatch', () => entries(1, () => ({ Id: 'a b' })), 'invalidBatchEntryId'],
  ['an Id of 81 characters', 'SendMessageBatch', () => entries(1, () => ({ Id: 'i'.repeat(81) })), 'invalidBatchEntryId'],
  ['entries of more than 1 MiB together', 'SendMessageBatch', () => entries(3, () => ({ MessageBody: 'x'.repeat(400 * 1024) })), 'batchTooLarge'],
  ['DeleteMessageBatch with no entries', 'DeleteMessageBatch', () => ({ QueueUrl: Q, Entries: [] }), 'emptyBatchRequest'],
  [
    'DeleteMessageBatch with 11 entries',
    'DeleteMessageBatch',
    () => ({ QueueUrl: Q, Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `d${i}`, ReceiptHandle: 'x' })) }),
    'tooManyEntriesInBatch',
  ],
  [
    'ChangeMessageVisibilityBatch with one Id twice',
    'ChangeMessageVisibilityBatch',
    () => ({ QueueUrl: Q, Entries: [{ Id: 'a', ReceiptHandle: 'x', VisibilityTimeout: 1 }, { Id: 'a', ReceiptHandle: 'y', VisibilityTimeout: 1 }] }),
    'batchEntryIdsNotDistinct',
  ],
  // Receiving
  ['MaxNumberOfMessages 0', 'ReceiveMessage', () => ({ QueueUrl: Q, MaxNumberOfMessages: 0 }), 'paramOutOfRange'],
  ['MaxNumberOfMessages 11', 'ReceiveMessage', () => ({ QueueUrl: Q, MaxNumberOfMessages: 11 }), 'paramOutOfRange'],
  ['WaitTimeSeconds 21', 'ReceiveMessage', () => ({ QueueUrl: Q, WaitTimeSeconds: 21 }), 'paramOutOfRange'],
  ['VisibilityTimeout 43201 on receive', 'ReceiveMessage', () => ({ QueueUrl: Q, VisibilityTimeout: 43201 }), 'paramOutOfRange'],
  ['an unknown system attribute name', 'ReceiveMessage', () => ({ QueueUrl: Q, MessageSystemAttributeNames: ['Colour'] }), 'invalidAttributeName'],
  ['ReceiveRequestAttemptId of 129 characters', 'ReceiveMessage', () => ({ QueueUrl: Q, ReceiveRequestAttemptId: 'r'.repeat(129) }), 'invalidParameterValue'],
  ['ReceiveRequestAttemptId empty', 'ReceiveMessage', () => ({ QueueUrl: Q, ReceiveRequestAttemptId: '' }), 'invalidParameterValue'],
  ['ReceiveRequestAttemptId with a tab', 'ReceiveMessage', () => ({ QueueUrl: Q, ReceiveRequestAttemptId: 'a\tb' }), 'invalidParameterValue'],
  // Receipt handles
  ['DeleteMessage without ReceiptHandle', 'DeleteMessage', () => ({ QueueUrl: Q }), 'missingParam'],
  ['DeleteMessage with a handle that cannot be ours', 'DeleteMessage', () => ({ QueueUrl: Q, ReceiptHandle: 'a b c' }), 'receiptHandleInvalid'],
  ['ChangeMessageVisibility without VisibilityTimeout', 'ChangeMessageVisibility', () => ({ QueueUrl: Q, ReceiptHandle: '1-1-1-1' }), 'missingParam'],
  ['ChangeMessageVisibility 43201', 'ChangeMessageVisibility', () => ({ QueueUrl: Q, ReceiptHandle: '1-1-1-1', VisibilityTimeout: 43201 }), 'paramOutOfRange'],
  // Message move tasks
  ['StartMessageMoveTask without SourceArn', 'StartMessageMoveTask', () => ({}), 'missingParam'],
  ['StartMessageMoveTask on a queue that is no dead-letter queue', 'StartMessageMoveTask', () => ({ SourceArn: arn('q') }), 'moveSourceNotDlq'],
  ['StartMessageMoveTask with an ARN of another account', 'StartMessageMoveTask', () => ({ SourceArn: 'arn:aws:sqs:us-east-1:111122223333:q' }), 'invalidParameterValue'],
  ['StartMessageMoveTask 501 messages/s', 'StartMessageMoveTask', () => ({ SourceArn: arn('q'), MaxNumberOfMessagesPerSecond: 501 }), 'paramOutOfRange'],
  ['ListMessageMoveTasks 11 results', 'ListMessageMoveTasks', () => ({ SourceArn: arn('q'), MaxResults: 11 }), 'paramOutOfRange'],
  ['CancelMessageMoveTask of no task', 'CancelMessageMoveTask', () => ({ TaskHandle: 'h' }), 'moveTaskNotExist'],
  // Not built
  ['AddPermission', 'AddPermission', () => ({ QueueUrl: Q, Label: 'l', AWSAccountIds: [ACCOUNT], Actions: ['SendMessage'] }), 'unsupportedOperation'],
  ['RemovePermission', 'RemovePermission', () => ({ QueueUrl: Q, Label: 'l' }), 'unsupportedOperation'],
];

for (const [what, action, input, error] of ROWS) {
  void test(`${action}: ${what} → ${error}`, async () => {
    const r = await s.err(action, input());
    assert.equal(r.error, error, JSON.stringify(r));
  });
}

void test('none of the refused requests created a queue or sent a message', async () => {
  const list = await s.ok('ListQueues', {});
  assert.deepEqual(list['QueueUrls'], [Q]);
  const a = await s.ok('GetQueueAttributes', { QueueUrl: Q, AttributeNames: ['All'] });
  const got = a['Attributes'] as Record<string, string>;
  assert.equal(got['ApproximateNumberOfMessages'], '0');
  assert.equal(got['ApproximateNumberOfMessagesDelayed'], '0');
  assert.deepEqual(await s.ok('ListQueueTags', { QueueUrl: Q }), {});
});

void test('the limits themselves are accepted, and integers may come as text (query protocol)', async () => {
  await s.ok('CreateQueue', {
    QueueName: 'b'.repeat(80),
    Attributes: {
      VisibilityTimeout: '43200',
      DelaySeconds: '900',
      MaximumMessageSize: '1048576',
      MessageRetentionPeriod: '1209600',
      ReceiveMessageWaitTimeSeconds: '20',
      FifoQueue: 'false',
      SqsManagedSseEnabled: 'true',
      Policy: '',
    },
    tags: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${'k'.repeat(120)}${i}`, 'v'.repeat(256)])),
  });
  const big = s.url('b'.repeat(80));
  await s.ok('SendMessage', {
    QueueUrl: big,
    MessageBody: '\t\n\r \uD7FF\uE000\uFFFD\u{10000}\u{10FFFF}',
    DelaySeconds: '900',
    MessageAttributes: {
      ...Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`a${i}`, str('v')])),
      ['n.' + 'x'.repeat(254)]: { DataType: 'Number.custom', StringValue: '-1.' + '2'.repeat(37) + 'e10' },
    },
  });
  const r = await s.ok('ReceiveMessage', { QueueUrl: big, MaxNumberOfMessages: '10', WaitTimeSeconds: '0', VisibilityTimeout: '43200' });
  assert.deepEqual(r, {}, 'delayed 900 s, so nothing to receive');
  await s.ok('DeleteQueue', { QueueUrl: big });
});
