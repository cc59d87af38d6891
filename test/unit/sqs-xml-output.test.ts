// The query protocol's XML: each output shape rendered with the model's element names and
// flattening, parsed back here (test/helpers/tiny-xml.ts is strict, so parsing also checks the
// answer is well-formed); escaping; error answers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SQS_OPERATIONS, type SqsActionName } from '../../src/api/sqs/shapes';
import { renderXmlError, renderXmlResult, SQS_XML_NAMESPACE, xmlEscape } from '../../src/api/sqs/xml-output';
import { all, one, parseXml, text, type XmlElement } from '../helpers/tiny-xml';

function render(action: SqsActionName, output: Record<string, unknown>): XmlElement {
  const op = SQS_OPERATIONS[action] as { output?: (typeof SQS_OPERATIONS)['SendMessage']['output'] };
  const root = parseXml(renderXmlResult(action, op.output, output, 'req-1'));
  assert.equal(root.name, `${action}Response`);
  assert.equal(root.attrs, `xmlns="${SQS_XML_NAMESPACE}"`);
  assert.equal(text(root, 'ResponseMetadata', 'RequestId'), 'req-1');
  return root;
}

function result(action: SqsActionName, output: Record<string, unknown>): XmlElement {
  const root = render(action, output);
  assert.deepEqual(root.children.map((c) => c.name), [`${action}Result`, 'ResponseMetadata']);
  return one(root, `${action}Result`);
}

/** A flattened map's entries as [name, value text]. */
function entries(el: XmlElement, name: string, key = 'Name', value = 'Value'): [string, string][] {
  return all(el, name).map((e) => [text(e, key), text(e, value)]);
}

test('ReceiveMessage: flattened <Message> elements with flattened <Attribute> and <MessageAttribute>', () => {
  const r = result('ReceiveMessage', {
    Messages: [
      {
        MessageId: 'm1',
        ReceiptHandle: 'rh1',
        MD5OfBody: 'md5b',
        Body: 'a <b> & "c"\r\nd',
        Attributes: { SenderId: '000000000000', ApproximateReceiveCount: '1' },
        MD5OfMessageAttributes: 'md5a',
        MessageAttributes: {
          colour: { StringValue: 'blue', DataType: 'String' },
          raw: { BinaryValue: 'AAEC', DataType: 'Binary' },
        },
      },
      { MessageId: 'm2', ReceiptHandle: 'rh2', MD5OfBody: 'x', Body: '' },
    ],
  });
  const messages = all(r, 'Message');
  assert.equal(messages.length, 2);
  const m = messages[0]!;
  assert.deepEqual(m.children.map((c) => c.name), ['MessageId', 'ReceiptHandle', 'MD5OfBody', 'Body', 'Attribute', 'Attribute', 'MD5OfMessageAttributes', 'MessageAttribute', 'MessageAttribute']);
  // CR survives (written as a reference, not normalised away by the parser).
  assert.equal(text(m, 'Body'), 'a <b> & "c"\r\nd');
  assert.deepEqual(entries(m, 'Attribute'), [['SenderId', '000000000000'], ['ApproximateReceiveCount', '1']]);
  const attrs = all(m, 'MessageAttribute');
  assert.equal(text(attrs[0]!, 'Name'), 'colour');
  assert.equal(text(attrs[0]!, 'Value', 'StringValue'), 'blue');
  assert.equal(text(attrs[0]!, 'Value', 'DataType'), 'String');
  assert.equal(text(attrs[1]!, 'Value', 'BinaryValue'), 'AAEC');
  assert.deepEqual(one(attrs[1]!, 'Value').children.map((c) => c.name), ['BinaryValue', 'DataType']);
  assert.equal(text(messages[1]!, 'Body'), '');
});

test('ReceiveMessage with no messages: an empty result element', () => {
  const r = result('ReceiveMessage', {});
  assert.deepEqual(r.children, []);
  assert.deepEqual(result('ReceiveMessage', { Messages: [] }).children, []);
});

test('GetQueueAttributes: flattened <Attribute>; ListQueueTags: flattened <Tag> with Key/Value', () => {
  assert.deepEqual(entries(result('GetQueueAttributes', { Attributes: { VisibilityTimeout: '30', QueueArn: 'arn:aws:sqs:us-east-1:000000000000:q' } }), 'Attribute'), [
    ['VisibilityTimeout', '30'],
    ['QueueArn', 'arn:aws:sqs:us-east-1:000000000000:q'],
  ]);
  assert.deepEqual(entries(result('ListQueueTags', { Tags: { team: 'ops', 'a&b': '<x>' } }), 'Tag', 'Key', 'Value'), [
    ['team', 'ops'],
    ['a&b', '<x>'],
  ]);
});

test('ListQueues and ListDeadLetterSourceQueues: flattened <QueueUrl> and NextToken', () => {
  const r = result('ListQueues', { QueueUrls: ['http://h/000000000000/a', 'http://h/000000000000/b'], NextToken: 't' });
  assert.deepEqual(all(r, 'QueueUrl').map((e) => e.text), ['http://h/000000000000/a', 'http://h/000000000000/b']);
  assert.equal(text(r, 'NextToken'), 't');
  const d = result('ListDeadLetterSourceQueues', { queueUrls: ['http://h/000000000000/src'] });
  assert.deepEqual(d.children.map((c) => [c.name, c.text]), [['QueueUrl', 'http://h/000000000000/src']]);
});

test('single values: CreateQueue, GetQueueUrl, SendMessage, StartMessageMoveTask, CancelMessageMoveTask', () => {
  assert.equal(text(result('CreateQueue', { QueueUrl: 'http://h/0/q' }), 'QueueUrl'), 'http://h/0/q');
  assert.equal(text(result('GetQueueUrl', { QueueUrl: 'http://h/0/q' }), 'QueueUrl'), 'http://h/0/q');
  const s = result('SendMessage', { MessageId: 'id', MD5OfMessageBody: 'b', MD5OfMessageAttributes: 'a', SequenceNumber: '1' });
  // The model's order, not the output object's.
  assert.deepEqual(s.children.map((c) => c.name), ['MD5OfMessageBody', 'MD5OfMessageAttributes', 'MessageId', 'SequenceNumber']);
  assert.equal(text(result('StartMessageMoveTask', { TaskHandle: 'th' }), 'TaskHandle'), 'th');
  assert.equal(text(result('CancelMessageMoveTask', { ApproximateNumberOfMessagesMoved: 12 }), 'ApproximateNumberOfMessagesMoved'), '12');
});

test('ListMessageMoveTasks: flattened <ListMessageMoveTasksResultEntry> with numbers', () => {
  const r = result('ListMessageMoveTasks', {
    Results: [{ TaskHandle: 'th', Status: 'RUNNING', SourceArn: 's', MaxNumberOfMessagesPerSecond: 5, ApproximateNumberOfMessagesMoved: 3, StartedTimestamp: 1700000000000 }],
  });
  const e = one(r, 'ListMessageMoveTasksResultEntry');
  assert.deepEqual(e.children.map((c) => [c.name, c.text]), [
    ['TaskHandle', 'th'],
    ['Status', 'RUNNING'],
    ['SourceArn', 's'],
    ['MaxNumberOfMessagesPerSecond', '5'],
    ['ApproximateNumberOfMessagesMoved', '3'],
    ['StartedTimestamp', '1700000000000'],
  ]);
});

test('batch results: flattened result entries and <BatchResultErrorEntry> with a boolean SenderFault', () => {
  const failed = [{ Id: 'b', SenderFault: true, Code: 'ReceiptHandleIsInvalid', Message: 'bad <handle>' }];
  const send = result('SendMessageBatch', {
    Successful: [{ Id: 'a', MessageId: 'm', MD5OfMessageBody: 'x' }],
    Failed: [{ Id: 'c', SenderFault: false, Code: 'InternalError', Message: 'm' }],
  });
  assert.deepEqual(send.children.map((c) => c.name), ['SendMessageBatchResultEntry', 'BatchResultErrorEntry']);
  assert.deepEqual(one(send, 'SendMessageBatchResultEntry').children.map((c) => [c.name, c.text]), [['Id', 'a'], ['MD5OfMessageBody', 'x'], ['MessageId', 'm']]);
  assert.equal(text(send, 'BatchResultErrorEntry', 'SenderFault'), 'false');
  const del = result('DeleteMessageBatch', { Successful: [{ Id: 'a' }], Failed: failed });
  assert.equal(text(del, 'DeleteMessageBatchResultEntry', 'Id'), 'a');
  assert.deepEqual(one(del, 'BatchResultErrorEntry').children.map((c) => [c.name, c.text]), [['Id', 'b'], ['SenderFault', 'true'], ['Code', 'ReceiptHandleIsInvalid'], ['Message', 'bad <handle>']]);
  const vis = result('ChangeMessageVisibilityBatch', { Successful: [{ Id: 'a' }, { Id: 'c' }], Failed: [] });
  assert.deepEqual(all(vis, 'ChangeMessageVisibilityBatchResultEntry').map((e) => text(e, 'Id')), ['a', 'c']);
});

test('actions without output answer the metadata alone', () => {
  for (const action of ['DeleteQueue', 'PurgeQueue', 'DeleteMessage', 'ChangeMessageVisibility', 'SetQueueAttributes', 'TagQueue', 'UntagQueue', 'AddPermission', 'RemovePermission'] as const) {
    assert.equal((SQS_OPERATIONS[action] as { output?: unknown }).output, undefined, action);
    const root = render(action, {});
    assert.deepEqual(root.children.map((c) => c.name), ['ResponseMetadata'], action);
  }
});

test('escaping: markup characters, CR, and characters XML 1.0 cannot carry', () => {
  assert.equal(xmlEscape(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  assert.equal(xmlEscape('a\rb\nc\td'), 'a&#xD;b\nc\td');
  // Characters outside XML 1.0's Char production become U+FFFD; everything else is kept.
  assert.equal(xmlEscape('a\u0000b\u0008c\u000Bd\u001Fe\uFFFEf\uFFFF'), 'a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\uFFFD');
  assert.equal(xmlEscape('lone \uD800 and \uDC00'), 'lone \uFFFD and \uFFFD');
  assert.equal(xmlEscape('emoji \u{1F600} \uD7FF \uE000 \uFFFD \u{10FFFF}'), 'emoji \u{1F600} \uD7FF \uE000 \uFFFD \u{10FFFF}');
  // And the whole answer stays parseable.
  const r = result('ReceiveMessage', { Messages: [{ MessageId: 'm', Body: 'x\u0001y' }] });
  assert.equal(text(r, 'Message', 'Body'), 'x\uFFFDy');
});

test('error answer: <ErrorResponse><Error><Type/><Code/><Message/><Detail/></Error><RequestId/>', () => {
  const root = parseXml(renderXmlError('Sender', 'AWS.SimpleQueueService.NonExistentQueue', 'queue <q> is gone', 'r-9'));
  assert.equal(root.name, 'ErrorResponse');
  assert.deepEqual(root.children.map((c) => c.name), ['Error', 'RequestId']);
  assert.deepEqual(one(root, 'Error').children.map((c) => [c.name, c.text]), [
    ['Type', 'Sender'],
    ['Code', 'AWS.SimpleQueueService.NonExistentQueue'],
    ['Message', 'queue <q> is gone'],
    ['Detail', ''],
  ]);
  assert.equal(text(root, 'RequestId'), 'r-9');
});
