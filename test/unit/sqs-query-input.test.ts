// The query protocol's flattened parameters rebuilt into each action's JSON 1.0 input (the shapes
// of the 2012-11-05 model), and JSON 1.0 bodies checked against the same shapes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseForm } from '../../src/api/form';
import { jsonInput, queryInput } from '../../src/api/sqs/query-input';
import { SQS_OPERATIONS, sqsOperation, type SqsActionName } from '../../src/api/sqs/shapes';

const Q = 'https://sqs.example/000000000000/q1';

function fromQuery(action: SqsActionName, pairs: [string, string][]): unknown {
  const form = parseForm(new URLSearchParams([['Action', action], ['Version', '2012-11-05'], ...pairs]).toString());
  assert.ok(form.ok);
  const r = queryInput(SQS_OPERATIONS[action].input, form.params);
  assert.ok(r.ok, JSON.stringify(r));
  return r.input;
}

function queryError(action: SqsActionName, pairs: [string, string][]): { error: string; arg?: string } {
  const form = parseForm(new URLSearchParams(pairs).toString());
  assert.ok(form.ok);
  const r = queryInput(SQS_OPERATIONS[action].input, form.params);
  assert.ok(!r.ok, `expected an error, got ${JSON.stringify(r)}`);
  return r.arg === undefined ? { error: r.error } : { error: r.error, arg: r.arg };
}

/** What each action's query parameters become: every action of the API, every member kind. */
const CASES: { action: SqsActionName; query: [string, string][]; input: Record<string, unknown> }[] = [
  {
    action: 'CreateQueue',
    query: [
      ['QueueName', 'q1'],
      ['Attribute.1.Name', 'VisibilityTimeout'],
      ['Attribute.1.Value', '40'],
      ['Attribute.2.Name', 'FifoQueue'],
      ['Attribute.2.Value', 'true'],
      ['Tag.1.Key', 'team'],
      ['Tag.1.Value', 'ops'],
    ],
    input: { QueueName: 'q1', Attributes: { VisibilityTimeout: '40', FifoQueue: 'true' }, tags: { team: 'ops' } },
  },
  { action: 'GetQueueUrl', query: [['QueueName', 'q1'], ['QueueOwnerAWSAccountId', '123456789012']], input: { QueueName: 'q1', QueueOwnerAWSAccountId: '123456789012' } },
  { action: 'ListQueues', query: [['QueueNamePrefix', 'q'], ['MaxResults', '10'], ['NextToken', 't']], input: { QueueNamePrefix: 'q', NextToken: 't', MaxResults: 10 } },
  { action: 'ListQueues', query: [], input: {} },
  {
    action: 'GetQueueAttributes',
    query: [['QueueUrl', Q], ['AttributeName.1', 'All'], ['AttributeName.2', 'Policy']],
    input: { QueueUrl: Q, AttributeNames: ['All', 'Policy'] },
  },
  {
    action: 'SetQueueAttributes',
    query: [['QueueUrl', Q], ['Attribute.1.Name', 'DelaySeconds'], ['Attribute.1.Value', '5']],
    input: { QueueUrl: Q, Attributes: { DelaySeconds: '5' } },
  },
  { action: 'DeleteQueue', query: [['QueueUrl', Q]], input: { QueueUrl: Q } },
  { action: 'PurgeQueue', query: [['QueueUrl', Q]], input: { QueueUrl: Q } },
  {
    action: 'SendMessage',
    query: [
      ['QueueUrl', Q],
      ['MessageBody', 'hello + world & more'],
      ['DelaySeconds', '3'],
      ['MessageAttribute.1.Name', 'colour'],
      ['MessageAttribute.1.Value.StringValue', 'blue'],
      ['MessageAttribute.1.Value.DataType', 'String'],
      ['MessageAttribute.2.Name', 'raw'],
      ['MessageAttribute.2.Value.BinaryValue', 'AAEC'],
      ['MessageAttribute.2.Value.DataType', 'Binary'],
      ['MessageSystemAttribute.1.Name', 'AWSTraceHeader'],
      ['MessageSystemAttribute.1.Value.StringValue', 'Root=1-5759e988-bd862e3fe1be46a994272793'],
      ['MessageSystemAttribute.1.Value.DataType', 'String'],
      ['MessageDeduplicationId', 'd1'],
      ['MessageGroupId', 'g1'],
    ],
    input: {
      QueueUrl: Q,
      MessageBody: 'hello + world & more',
      DelaySeconds: 3,
      MessageAttributes: { colour: { StringValue: 'blue', DataType: 'String' }, raw: { BinaryValue: 'AAEC', DataType: 'Binary' } },
      MessageSystemAttributes: { AWSTraceHeader: { StringValue: 'Root=1-5759e988-bd862e3fe1be46a994272793', DataType: 'String' } },
      MessageDeduplicationId: 'd1',
      MessageGroupId: 'g1',
    },
  },
  {
    action: 'SendMessageBatch',
    query: [
      ['QueueUrl', Q],
      ['SendMessageBatchRequestEntry.1.Id', 'a'],
      ['SendMessageBatchRequestEntry.1.MessageBody', 'one'],
      ['SendMessageBatchRequestEntry.1.DelaySeconds', '0'],
      ['SendMessageBatchRequestEntry.2.Id', 'b'],
      ['SendMessageBatchRequestEntry.2.MessageBody', 'two'],
      ['SendMessageBatchRequestEntry.2.MessageAttribute.1.Name', 'n'],
      ['SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue', '7'],
      ['SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType', 'Number'],
    ],
    input: {
      QueueUrl: Q,
      Entries: [
        { Id: 'a', MessageBody: 'one', DelaySeconds: 0 },
        { Id: 'b', MessageBody: 'two', MessageAttributes: { n: { StringValue: '7', DataType: 'Number' } } },
      ],
    },
  },
  {
    action: 'ReceiveMessage',
    query: [
      ['QueueUrl', Q],
      ['AttributeName.1', 'All'],
      ['MessageSystemAttributeName.1', 'SenderId'],
      ['MessageSystemAttributeName.2', 'SentTimestamp'],
      ['MessageAttributeName.1', 'colour'],
      ['MessageAttributeName.2', 'size.*'],
      ['MaxNumberOfMessages', '10'],
      ['VisibilityTimeout', '30'],
      ['WaitTimeSeconds', '20'],
      ['ReceiveRequestAttemptId', 'r1'],
    ],
    input: {
      QueueUrl: Q,
      AttributeNames: ['All'],
      MessageSystemAttributeNames: ['SenderId', 'SentTimestamp'],
      MessageAttributeNames: ['colour', 'size.*'],
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 30,
      WaitTimeSeconds: 20,
      ReceiveRequestAttemptId: 'r1',
    },
  },
  { action: 'DeleteMessage', query: [['QueueUrl', Q], ['ReceiptHandle', 'rh+/=']], input: { QueueUrl: Q, ReceiptHandle: 'rh+/=' } },
  {
    action: 'DeleteMessageBatch',
    query: [
      ['QueueUrl', Q],
      ['DeleteMessageBatchRequestEntry.1.Id', 'x'],
      ['DeleteMessageBatchRequestEntry.1.ReceiptHandle', 'h1'],
      ['DeleteMessageBatchRequestEntry.2.Id', 'y'],
      ['DeleteMessageBatchRequestEntry.2.ReceiptHandle', 'h2'],
    ],
    input: { QueueUrl: Q, Entries: [{ Id: 'x', ReceiptHandle: 'h1' }, { Id: 'y', ReceiptHandle: 'h2' }] },
  },
  {
    action: 'ChangeMessageVisibility',
    query: [['QueueUrl', Q], ['ReceiptHandle', 'h1'], ['VisibilityTimeout', '0']],
    input: { QueueUrl: Q, ReceiptHandle: 'h1', VisibilityTimeout: 0 },
  },
  {
    action: 'ChangeMessageVisibilityBatch',
    query: [
      ['QueueUrl', Q],
      ['ChangeMessageVisibilityBatchRequestEntry.1.Id', 'x'],
      ['ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle', 'h1'],
      ['ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout', '45'],
    ],
    input: { QueueUrl: Q, Entries: [{ Id: 'x', ReceiptHandle: 'h1', VisibilityTimeout: 45 }] },
  },
  {
    action: 'TagQueue',
    query: [['QueueUrl', Q], ['Tag.1.Key', 'a'], ['Tag.1.Value', '1'], ['Tag.2.Key', 'b'], ['Tag.2.Value', '']],
    input: { QueueUrl: Q, Tags: { a: '1', b: '' } },
  },
  { action: 'UntagQueue', query: [['QueueUrl', Q], ['TagKey.1', 'a'], ['TagKey.2', 'b']], input: { QueueUrl: Q, TagKeys: ['a', 'b'] } },
  { action: 'ListQueueTags', query: [['QueueUrl', Q]], input: { QueueUrl: Q } },
  {
    action: 'ListDeadLetterSourceQueues',
    query: [['QueueUrl', Q], ['MaxResults', '1000'], ['NextToken', 'n']],
    input: { QueueUrl: Q, NextToken: 'n', MaxResults: 1000 },
  },
  {
    action: 'StartMessageMoveTask',
    query: [['SourceArn', 'arn:aws:sqs:us-east-1:000000000000:dlq'], ['DestinationArn', 'arn:aws:sqs:us-east-1:000000000000:q1'], ['MaxNumberOfMessagesPerSecond', '50']],
    input: { SourceArn: 'arn:aws:sqs:us-east-1:000000000000:dlq', DestinationArn: 'arn:aws:sqs:us-east-1:000000000000:q1', MaxNumberOfMessagesPerSecond: 50 },
  },
  {
    action: 'ListMessageMoveTasks',
    query: [['SourceArn', 'arn:aws:sqs:us-east-1:000000000000:dlq'], ['MaxResults', '5']],
    input: { SourceArn: 'arn:aws:sqs:us-east-1:000000000000:dlq', MaxResults: 5 },
  },
  { action: 'CancelMessageMoveTask', query: [['TaskHandle', 'th']], input: { TaskHandle: 'th' } },
  {
    action: 'AddPermission',
    query: [['QueueUrl', Q], ['Label', 'l'], ['AWSAccountId.1', '111122223333'], ['ActionName.1', 'SendMessage'], ['ActionName.2', 'ReceiveMessage']],
    input: { QueueUrl: Q, Label: 'l', AWSAccountIds: ['111122223333'], Actions: ['SendMessage', 'ReceiveMessage'] },
  },
  { action: 'RemovePermission', query: [['QueueUrl', Q], ['Label', 'l']], input: { QueueUrl: Q, Label: 'l' } },
];

test('every action of the API has a shape, and every one is covered here', () => {
  const names = Object.keys(SQS_OPERATIONS).sort();
  assert.deepEqual(names, [
    'AddPermission', 'CancelMessageMoveTask', 'ChangeMessageVisibility', 'ChangeMessageVisibilityBatch', 'CreateQueue',
    'DeleteMessage', 'DeleteMessageBatch', 'DeleteQueue', 'GetQueueAttributes', 'GetQueueUrl', 'ListDeadLetterSourceQueues',
    'ListMessageMoveTasks', 'ListQueueTags', 'ListQueues', 'PurgeQueue', 'ReceiveMessage', 'RemovePermission', 'SendMessage',
    'SendMessageBatch', 'SetQueueAttributes', 'StartMessageMoveTask', 'TagQueue', 'UntagQueue',
  ]);
  assert.deepEqual([...new Set(CASES.map((c) => c.action))].sort(), names);
  // Action names are case-sensitive, and nothing inherited is an action.
  assert.equal(sqsOperation('sendmessage'), undefined);
  assert.equal(sqsOperation('toString'), undefined);
  assert.ok(sqsOperation('SendMessage'));
});

for (const c of CASES) {
  test(`query ${c.action} ${c.query.map(([k]) => k).join(' ') || '(no parameters)'} -> JSON input`, () => {
    assert.deepEqual(fromQuery(c.action, c.query), c.input);
    // The same input sent as JSON 1.0 comes out the same.
    const r = jsonInput(SQS_OPERATIONS[c.action].input, JSON.parse(JSON.stringify(c.input)));
    assert.ok(r.ok);
    assert.deepEqual(r.input, c.input);
  });
}

test('list items and map entries are taken in index order, whatever order they were sent in', () => {
  assert.deepEqual(fromQuery('GetQueueAttributes', [['AttributeName.2', 'B'], ['AttributeName.10', 'J'], ['AttributeName.1', 'A'], ...range(3, 9).map((i): [string, string] => [`AttributeName.${i}`, `x${i}`])]), {
    AttributeNames: ['A', 'B', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'J'],
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

test('an empty list is sent as the member name with an empty value', () => {
  assert.deepEqual(fromQuery('GetQueueAttributes', [['QueueUrl', Q], ['AttributeNames', '']]), { QueueUrl: Q, AttributeNames: [] });
});

test('parameters the action does not take are ignored (signature parameters, other actions\' members)', () => {
  assert.deepEqual(
    fromQuery('DeleteQueue', [['QueueUrl', Q], ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'], ['X-Amz-Signature', 'abc'], ['MessageBody', 'x'], ['Foo.1.Bar', 'y']]),
    { QueueUrl: Q },
  );
});

test('integers are parsed strictly; a non-integer is an error naming the parameter', () => {
  for (const bad of ['abc', '1.5', '', ' 3', '3 ', '0x10', '1e3', '2147483648', '-2147483649', '+3']) {
    assert.deepEqual(queryError('ReceiveMessage', [['QueueUrl', Q], ['MaxNumberOfMessages', bad]]), { error: 'paramErrorType', arg: 'MaxNumberOfMessages' }, bad);
  }
  assert.deepEqual(fromQuery('ReceiveMessage', [['MaxNumberOfMessages', '-2147483648']]), { MaxNumberOfMessages: -2147483648 });
  // Nested: the error names the flattened parameter.
  assert.deepEqual(queryError('SendMessageBatch', [['SendMessageBatchRequestEntry.1.Id', 'a'], ['SendMessageBatchRequestEntry.1.DelaySeconds', 'soon']]), {
    error: 'paramErrorType',
    arg: 'SendMessageBatchRequestEntry.1.DelaySeconds',
  });
});

test('indexes must run 1, 2, 3 without a gap, in decimal without leading zeros', () => {
  assert.deepEqual(queryError('UntagQueue', [['TagKey.1', 'a'], ['TagKey.3', 'c']]), { error: 'paramNotConsecutive', arg: 'TagKey' });
  assert.deepEqual(queryError('UntagQueue', [['TagKey.2', 'b']]), { error: 'paramNotConsecutive', arg: 'TagKey' });
  assert.deepEqual(queryError('UntagQueue', [['TagKey.01', 'a']]), { error: 'paramKeyFormat', arg: 'TagKey.01' });
  assert.deepEqual(queryError('UntagQueue', [['TagKey.x', 'a']]), { error: 'paramKeyFormat', arg: 'TagKey.x' });
  assert.deepEqual(queryError('DeleteMessageBatch', [['DeleteMessageBatchRequestEntry.0.Id', 'a']]), { error: 'paramKeyFormat', arg: 'DeleteMessageBatchRequestEntry.0' });
});

test('a map entry needs its name and its value; a name sent twice is refused', () => {
  assert.deepEqual(queryError('SetQueueAttributes', [['Attribute.1.Value', '5']]), { error: 'missingParam', arg: 'Attribute.1.Name' });
  assert.deepEqual(queryError('SetQueueAttributes', [['Attribute.1.Name', 'DelaySeconds']]), { error: 'missingParam', arg: 'Attribute.1.Value' });
  assert.deepEqual(
    queryError('SetQueueAttributes', [['Attribute.1.Name', 'A'], ['Attribute.1.Value', '1'], ['Attribute.2.Name', 'A'], ['Attribute.2.Value', '2']]),
    { error: 'paramNotRepeatable', arg: 'Attribute.2.Name' },
  );
  assert.deepEqual(queryError('SendMessage', [['MessageAttribute.1.Name', 'a']]), { error: 'missingParam', arg: 'MessageAttribute.1.Value' });
});

test('a map entry named __proto__ is an ordinary entry', () => {
  const input = fromQuery('TagQueue', [['Tag.1.Key', '__proto__'], ['Tag.1.Value', 'v']]) as { Tags: Record<string, unknown> };
  assert.ok(Object.prototype.hasOwnProperty.call(input.Tags, '__proto__'));
  assert.equal(JSON.stringify(input), '{"Tags":{"__proto__":"v"}}');
  assert.equal(Object.getPrototypeOf(input.Tags), Object.prototype);
});

test('JSON 1.0 input: types are checked against the shape; unknown members and nulls are dropped', () => {
  const shape = SQS_OPERATIONS.SendMessageBatch.input;
  const ok = jsonInput(shape, { QueueUrl: Q, Entries: [{ Id: 'a', MessageBody: 'b', DelaySeconds: 2, Extra: 1 }], Junk: true, MessageBody: null });
  assert.deepEqual(ok, { ok: true, input: { QueueUrl: Q, Entries: [{ Id: 'a', MessageBody: 'b', DelaySeconds: 2 }] } });
  const bad = (body: unknown): unknown => {
    const r = jsonInput(shape, body);
    return r.ok ? r : { error: r.error, arg: r.arg };
  };
  assert.deepEqual(bad({ QueueUrl: 5 }), { error: 'paramErrorType', arg: 'QueueUrl' });
  assert.deepEqual(bad({ Entries: {} }), { error: 'paramErrorType', arg: 'Entries' });
  assert.deepEqual(bad({ Entries: [{ Id: 'a', DelaySeconds: '2' }] }), { error: 'paramErrorType', arg: 'Entries.1.DelaySeconds' });
  assert.deepEqual(bad({ Entries: [{ Id: 'a', DelaySeconds: 1.5 }] }), { error: 'paramErrorType', arg: 'Entries.1.DelaySeconds' });
  assert.deepEqual(bad({ Entries: [null] }), { error: 'paramErrorType', arg: 'Entries.1' });
  assert.deepEqual(bad({ Entries: [{ Id: 'a', MessageAttributes: { x: 'y' } }] }), { error: 'paramErrorType', arg: 'Entries.1.MessageAttributes.x' });
  assert.deepEqual(bad([]), { error: 'cannotParse', arg: 'request' });
  assert.deepEqual(bad('x'), { error: 'cannotParse', arg: 'request' });
});
