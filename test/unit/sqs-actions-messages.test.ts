// The SQS message actions over a real node: send → receive with attributes and digests (the
// body digest checked by the AWS SDK's own middleware), delays, batches with partial failures,
// delete and visibility semantics, and messages crossing between the CMQ and SQS APIs.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';

import { receiveMessageMiddleware, sendMessageBatchMiddleware, sendMessageMiddleware } from '@aws-sdk/middleware-sdk-sqs';

import { md5OfMessageAttributes, md5OfMessageSystemAttributes } from '../../src/api/sqs/md5';
import type { SqsInput, SqsOutput } from '../../src/api/sqs/types';
import { envelopeHead, writeEnvelopes, type MessageAttributeValue } from '../../src/service/message-envelope';
import { openSqsNode, SENDER, type SqsNode } from '../helpers/sqs-node';

let s: SqsNode;

before(async () => {
  s = await openSqsNode();
});
after(async () => {
  await s.close();
});

/** The hash constructor the SDK's middleware takes. */
class Md5 {
  private readonly h = createHash('md5');
  update(data: Uint8Array): void {
    this.h.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.h.digest());
  }
}

type Middleware = (options: { md5: typeof Md5 }) => (next: (args: unknown) => Promise<unknown>) => (args: unknown) => Promise<unknown>;

/** Run the SDK's MD5 check of an action's output (it throws on a mismatch). */
async function sdkChecks(mw: unknown, input: SqsInput, output: SqsOutput): Promise<void> {
  const handler = (mw as Middleware)({ md5: Md5 })(() => Promise.resolve({ output }));
  await handler({ input });
}

async function newQueue(name: string, attributes: Record<string, string> = {}): Promise<string> {
  await s.ok('CreateQueue', { QueueName: name, Attributes: attributes });
  return s.url(name);
}

type Msg = Record<string, unknown> & { Body: string; ReceiptHandle: string; MessageId: string };

async function receive(q: string, extra: SqsInput = {}): Promise<Msg[]> {
  const r = await s.ok('ReceiveMessage', { QueueUrl: q, WaitTimeSeconds: 0, ...extra });
  return (r['Messages'] ?? []) as Msg[];
}

/** Poll until `n` messages arrived (delays end on the node's tick). */
async function receiveEventually(q: string, n: number, extra: SqsInput = {}, timeoutMs = 15_000): Promise<Msg[]> {
  const got: Msg[] = [];
  const until = Date.now() + timeoutMs;
  while (got.length < n && Date.now() < until) got.push(...(await receive(q, { WaitTimeSeconds: 1, MaxNumberOfMessages: 10, ...extra })));
  return got;
}

const ATTRS = {
  'order.id': { DataType: 'String', StringValue: 'A-17' },
  'order.total': { DataType: 'Number', StringValue: '12.50' },
  thumbnail: { DataType: 'Binary', BinaryValue: Buffer.from([0, 1, 2, 255]).toString('base64') },
  kind: { DataType: 'String.custom', StringValue: 'gift' },
};

function attrMap(a: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }>): Map<string, MessageAttributeValue> {
  const m = new Map<string, MessageAttributeValue>();
  for (const [k, v] of Object.entries(a)) {
    m.set(k, v.BinaryValue !== undefined ? { dataType: v.DataType, binaryValue: Buffer.from(v.BinaryValue, 'base64') } : { dataType: v.DataType, stringValue: v.StringValue });
  }
  return m;
}

void test('SendMessage → ReceiveMessage: body, message and system attributes, digests', async () => {
  const q = await newQueue('msg-1');
  const body = 'héllo wörld \u{1F600}';
  const trace = 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1';
  const input: SqsInput = { QueueUrl: q, MessageBody: body, MessageAttributes: ATTRS, MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: trace } } };
  const sent = await s.ok('SendMessage', input);
  await sdkChecks(sendMessageMiddleware, input, sent);
  assert.equal(sent['MD5OfMessageBody'], createHash('md5').update(body, 'utf8').digest('hex'));
  assert.equal(sent['MD5OfMessageAttributes'], md5OfMessageAttributes(attrMap(ATTRS)));
  assert.equal(sent['MD5OfMessageSystemAttributes'], md5OfMessageSystemAttributes(attrMap({ AWSTraceHeader: { DataType: 'String', StringValue: trace } })));
  assert.equal(typeof sent['MessageId'], 'string');

  const before = Date.now();
  const recvInput: SqsInput = { QueueUrl: q, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'] };
  const out = await s.ok('ReceiveMessage', recvInput);
  await sdkChecks(receiveMessageMiddleware, recvInput, out);
  const [m] = out['Messages'] as Msg[];
  assert.ok(m);
  assert.equal(m.Body, body);
  assert.equal(m.MessageId, sent['MessageId']);
  assert.equal(m['MD5OfMessageAttributes'], sent['MD5OfMessageAttributes']);
  assert.deepEqual(m['MessageAttributes'], ATTRS);
  const sys = m['Attributes'] as Record<string, string>;
  assert.equal(sys['SenderId'], SENDER);
  assert.equal(sys['AWSTraceHeader'], trace);
  assert.equal(sys['ApproximateReceiveCount'], '1');
  const sentAt = Number(sys['SentTimestamp']);
  const firstAt = Number(sys['ApproximateFirstReceiveTimestamp']);
  assert.ok(sentAt > 1_600_000_000_000 && sentAt <= Date.now(), `SentTimestamp ${sentAt} in ms`);
  assert.ok(firstAt >= sentAt && firstAt <= Date.now() && firstAt >= before - 5000, `ApproximateFirstReceiveTimestamp ${firstAt}`);
});

void test('ReceiveMessage returns only the attributes asked for, and digests those', async () => {
  const q = await newQueue('msg-2', { VisibilityTimeout: '0' });
  await s.ok('SendMessage', { QueueUrl: q, MessageBody: 'x', MessageAttributes: ATTRS });
  // Visibility 0: visible again once the node's clock moves on, so each receive below may poll.
  const [plain] = await receiveEventually(q, 1);
  assert.ok(plain);
  assert.ok(!('Attributes' in plain) && !('MessageAttributes' in plain) && !('MD5OfMessageAttributes' in plain), JSON.stringify(plain));

  const [some] = await receiveEventually(q, 1, { MessageAttributeNames: ['order.*', 'kind'], AttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'] });
  assert.ok(some);
  const want = { 'order.id': ATTRS['order.id'], 'order.total': ATTRS['order.total'], kind: ATTRS.kind };
  assert.deepEqual(some['MessageAttributes'], want);
  assert.equal(some['MD5OfMessageAttributes'], md5OfMessageAttributes(attrMap(want)));
  assert.deepEqual(Object.keys(some['Attributes'] as object).sort(), ['ApproximateReceiveCount', 'SentTimestamp']);
  assert.equal((some['Attributes'] as Record<string, string>)['ApproximateReceiveCount'], '2');

  const [dotStar] = await receiveEventually(q, 1, { MessageAttributeNames: ['.*'] });
  assert.deepEqual(dotStar?.['MessageAttributes'], ATTRS);
  const [none] = await receiveEventually(q, 1, { MessageAttributeNames: ['absent'] });
  assert.ok(none && !('MessageAttributes' in none) && !('MD5OfMessageAttributes' in none));
});

void test('an empty receive has no Messages member', async () => {
  const q = await newQueue('msg-empty');
  assert.deepEqual(await s.ok('ReceiveMessage', { QueueUrl: q, WaitTimeSeconds: 0 }), {});
});

void test('a CMQ-sent body reaches an SQS receiver as it is; an SQS-sent message is stored as an envelope', async () => {
  const q = await newQueue('cross-1');
  const r = await s.node.submit(s.ctx, { kind: 'sendMessages', queueName: 'cross-1', delaySeconds: 0, bodies: [Buffer.from('from cmq')] });
  assert.ok(r.ok, JSON.stringify(r));
  const [m] = await receive(q, { AttributeNames: ['All'], MessageAttributeNames: ['All'] });
  assert.ok(m);
  assert.equal(m.Body, 'from cmq');
  assert.equal(m['MD5OfBody'], createHash('md5').update('from cmq').digest('hex'));
  assert.ok(!('MessageAttributes' in m));
  assert.ok(!('SenderId' in (m['Attributes'] as object)), 'no sender is known for a CMQ message');

  await s.ok('SendMessage', { QueueUrl: q, MessageBody: 'from sqs', MessageAttributes: ATTRS });
  const got = await s.node.receive(s.ctx, 'cross-1', 1, 0);
  assert.ok(got.ok && got.messages[0], JSON.stringify(got));
  assert.equal(got.messages[0].enveloped, true, 'stored as an envelope: the CMQ API unwraps it');
});

void test('a receive answers with the body digest stored at the send, not one made again', async () => {
  const q = await newQueue('digest-stored');
  // An envelope as a send writes it, but whose stored digest is not the body's: the receive's
  // MD5OfBody shows which one it used. A version 1 envelope (no digest) gets one made.
  const stored = writeEnvelopes([{ head: envelopeHead(new Map(), new Map()), body: Buffer.from('the body') }])[0]!;
  stored.bodyMd5.fill(0xab);
  const v1 = Buffer.concat([Buffer.from([1]), stored.bytes.subarray(17)]);
  const r = await s.node.submit(s.ctx, {
    kind: 'sendMessages',
    queueName: 'digest-stored',
    delaySeconds: 0,
    bodies: [stored.bytes, v1],
    options: [{ enveloped: true }, { enveloped: true }],
  });
  assert.ok(r.ok, JSON.stringify(r));
  const got = await receive(q, { MaxNumberOfMessages: 10 });
  assert.deepEqual(
    got.map((m) => [m.Body, m['MD5OfBody']]),
    [
      ['the body', 'ab'.repeat(16)],
      ['the body', createHash('md5').update('the body').digest('hex')],
    ],
  );
});

void test('DelaySeconds: per message, the queue default, and an explicit 0 overriding it', async () => {
  const q = await newQueue('delay-1');
  await s.ok('SendMessage', { QueueUrl: q, MessageBody: 'delayed', DelaySeconds: 2 });
  await s.ok('SendMessage', { QueueUrl: q, MessageBody: 'now' });
  const first = await receive(q, { MaxNumberOfMessages: 10 });
  assert.deepEqual(
    first.map((m) => m.Body),
    ['now'],
  );
  const later = await receiveEventually(q, 1);
  assert.deepEqual(
    later.map((m) => m.Body),
    ['delayed'],
  );

  const d = await newQueue('delay-2', { DelaySeconds: '600' });
  await s.ok('SendMessage', { QueueUrl: d, MessageBody: 'queue default' });
  await s.ok('SendMessage', { QueueUrl: d, MessageBody: 'explicit zero', DelaySeconds: 0 });
  assert.deepEqual(
    (await receive(d, { MaxNumberOfMessages: 10 })).map((m) => m.Body),
    ['explicit zero'],
  );
  const a = await s.ok('GetQueueAttributes', { QueueUrl: d, AttributeNames: ['ApproximateNumberOfMessagesDelayed'] });
  assert.deepEqual(a, { Attributes: { ApproximateNumberOfMessagesDelayed: '1' } });
});

void test('SendMessageBatch: invalid entries fail alone, the rest are sent together', async () => {
  const q = await newQueue('batch-1');
  const input: SqsInput = {
    QueueUrl: q,
    Entries: [
      { Id: 'ok-1', MessageBody: 'one', MessageAttributes: { a: ATTRS.kind } },
      { Id: 'bad-chars', MessageBody: 'nul \u0000' },
      { Id: 'ok-2', MessageBody: 'two', DelaySeconds: 0 },
      { Id: 'bad-delay', MessageBody: 'x', DelaySeconds: 901 },
      { Id: 'bad-attr', MessageBody: 'x', MessageAttributes: { 'AWS.x': ATTRS.kind } },
      { Id: 'no-body', MessageBody: '' },
    ],
  };
  const out = await s.ok('SendMessageBatch', input);
  await sdkChecks(sendMessageBatchMiddleware, input, out);
  const ok = out['Successful'] as Record<string, unknown>[];
  const failed = out['Failed'] as Record<string, unknown>[];
  assert.deepEqual(
    ok.map((e) => e['Id']),
    ['ok-1', 'ok-2'],
  );
  assert.ok(ok.every((e) => typeof e['MessageId'] === 'string' && typeof e['MD5OfMessageBody'] === 'string'));
  assert.equal(ok[0]?.['MD5OfMessageAttributes'], md5OfMessageAttributes(attrMap({ a: ATTRS.kind })));
  assert.ok(!('MD5OfMessageAttributes' in (ok[1] as object)));
  assert.deepEqual(
    failed.map((f) => [f['Id'], f['SenderFault'], f['Code']]),
    [
      ['bad-chars', true, 'InvalidMessageContents'],
      ['bad-delay', true, 'InvalidParameterValue'],
      ['bad-attr', true, 'InvalidParameterValue'],
      ['no-body', true, 'MissingParameter'],
    ],
  );
  assert.ok(failed.every((f) => typeof f['Message'] === 'string' && (f['Message']).length > 0));
  const got = await receiveEventually(q, 2);
  assert.deepEqual(got.map((m) => m.Body).sort(), ['one', 'two']);
});

void test('SendMessageBatch: a failure of the one send command fails every entry sent; a missing queue fails the request', async () => {
  const q = await newQueue('batch-2', { MaximumMessageSize: '1024' });
  const out = await s.ok('SendMessageBatch', {
    QueueUrl: q,
    Entries: [
      { Id: 'small', MessageBody: 'x' },
      { Id: 'big', MessageBody: 'y'.repeat(2000) },
    ],
  });
  assert.deepEqual(out['Successful'], []);
  assert.deepEqual(
    (out['Failed'] as Record<string, unknown>[]).map((f) => [f['Id'], f['SenderFault']]),
    [
      ['small', true],
      ['big', true],
    ],
  );
  assert.deepEqual(await receive(q), []);
  const missing = await s.err('SendMessageBatch', { QueueUrl: s.url('batch-none'), Entries: [{ Id: 'a', MessageBody: 'x' }] });
  assert.equal(missing.error, 'queueNotExist');
});

void test('the queue MaximumMessageSize counts body and attributes, not the stored envelope', async () => {
  const q = await newQueue('size-1', { MaximumMessageSize: '1024' });
  // 1000 body bytes + "a" + "String" + 17 value bytes = 1024: exactly the limit.
  await s.ok('SendMessage', { QueueUrl: q, MessageBody: 'b'.repeat(1000), MessageAttributes: { a: { DataType: 'String', StringValue: 'v'.repeat(17) } } });
  const over = await s.err('SendMessage', { QueueUrl: q, MessageBody: 'b'.repeat(1000), MessageAttributes: { a: { DataType: 'String', StringValue: 'v'.repeat(18) } } });
  assert.equal(over.error, 'msgTooLarge');
});

void test('DeleteMessage: a current handle deletes, a stale one succeeds, a malformed one is ReceiptHandleIsInvalid', async () => {
  const q = await newQueue('del-1');
  await s.ok('SendMessage', { QueueUrl: q, MessageBody: 'x' });
  const [m] = await receive(q);
  assert.ok(m);
  assert.deepEqual(await s.ok('DeleteMessage', { QueueUrl: q, ReceiptHandle: m.ReceiptHandle }), {});
  assert.deepEqual(await s.ok('DeleteMessage', { QueueUrl: q, ReceiptHandle: m.ReceiptHandle }), {}, 'stale: succeeds');
  assert.equal((await s.err('DeleteMessage', { QueueUrl: q, ReceiptHandle: 'notahandle' })).error, 'receiptHandleInvalid');
  const a = await s.ok('GetQueueAttributes', { QueueUrl: q, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] });
  assert.deepEqual(a, { Attributes: { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' } });
});

void test('DeleteMessageBatch: current and stale handles succeed, malformed ones fail', async () => {
  const q = await newQueue('del-2');
  await s.ok('SendMessageBatch', { QueueUrl: q, Entries: [{ Id: 'a', MessageBody: 'a' }, { Id: 'b', MessageBody: 'b' }] });
  const got = await receiveEventually(q, 2);
  assert.equal(got.length, 2);
  await s.ok('DeleteMessage', { QueueUrl: q, ReceiptHandle: got[1]!.ReceiptHandle });
  const out = await s.ok('DeleteMessageBatch', {
    QueueUrl: q,
    Entries: [
      { Id: 'current', ReceiptHandle: got[0]!.ReceiptHandle },
      { Id: 'stale', ReceiptHandle: got[1]!.ReceiptHandle },
      { Id: 'malformed', ReceiptHandle: 'notahandle' },
      { Id: 'foreign', ReceiptHandle: 'has spaces' },
      { Id: 'missing' },
    ],
  });
  assert.deepEqual(out['Successful'], [{ Id: 'current' }, { Id: 'stale' }]);
  assert.deepEqual(
    (out['Failed'] as Record<string, unknown>[]).map((f) => [f['Id'], f['SenderFault'], f['Code']]),
    [
      ['foreign', true, 'ReceiptHandleIsInvalid'],
      ['missing', true, 'MissingParameter'],
      ['malformed', true, 'ReceiptHandleIsInvalid'],
    ],
  );
  assert.deepEqual(await receive(q), []);
});

void test('ChangeMessageVisibility: 0 makes the message visible now; stale → MessageNotInflight; malformed → ReceiptHandleIsInvalid', async () => {
  const q = await newQueue('vis-1', { VisibilityTimeout: '600' });
  await s.ok('SendMessage', { QueueUrl: q, MessageBody: 'x' });
  const [m] = await receive(q);
  assert.ok(m);
  assert.deepEqual(await receive(q), [], 'in flight for 600 s');
  assert.deepEqual(await s.ok('ChangeMessageVisibility', { QueueUrl: q, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }), {});
  const [again] = await receiveEventually(q, 1, { AttributeNames: ['ApproximateReceiveCount'] });
  assert.ok(again);
  assert.equal((again['Attributes'] as Record<string, string>)['ApproximateReceiveCount'], '2');
  assert.equal((await s.err('ChangeMessageVisibility', { QueueUrl: q, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 10 })).error, 'messageNotInflight');
  assert.equal((await s.err('ChangeMessageVisibility', { QueueUrl: q, ReceiptHandle: 'notahandle', VisibilityTimeout: 10 })).error, 'receiptHandleInvalid');
  assert.deepEqual(await s.ok('ChangeMessageVisibility', { QueueUrl: q, ReceiptHandle: again.ReceiptHandle, VisibilityTimeout: 600 }), {});
});

void test('ReceiveMessage VisibilityTimeout overrides the queue: 0 leaves the message visible', async () => {
  const q = await newQueue('vis-2', { VisibilityTimeout: '600' });
  await s.ok('SendMessage', { QueueUrl: q, MessageBody: 'x' });
  const [m1] = await receive(q, { VisibilityTimeout: 0 });
  assert.ok(m1);
  const [m2] = await receiveEventually(q, 1);
  assert.ok(m2);
  assert.equal(m2.MessageId, m1.MessageId);
  assert.deepEqual(await receive(q), [], 'the queue default (600 s) applied to the second receive');
});

void test('ChangeMessageVisibilityBatch: per-entry results', async () => {
  const q = await newQueue('vis-3', { VisibilityTimeout: '600' });
  await s.ok('SendMessageBatch', { QueueUrl: q, Entries: [{ Id: 'a', MessageBody: 'a' }, { Id: 'b', MessageBody: 'b' }] });
  const got = await receiveEventually(q, 2);
  assert.equal(got.length, 2);
  await s.ok('DeleteMessage', { QueueUrl: q, ReceiptHandle: got[1]!.ReceiptHandle });
  const out = await s.ok('ChangeMessageVisibilityBatch', {
    QueueUrl: q,
    Entries: [
      { Id: 'current', ReceiptHandle: got[0]!.ReceiptHandle, VisibilityTimeout: 0 },
      { Id: 'deleted', ReceiptHandle: got[1]!.ReceiptHandle, VisibilityTimeout: 0 },
      { Id: 'malformed', ReceiptHandle: 'notahandle', VisibilityTimeout: 0 },
      { Id: 'no-timeout', ReceiptHandle: got[0]!.ReceiptHandle },
      { Id: 'too-long', ReceiptHandle: got[0]!.ReceiptHandle, VisibilityTimeout: 43201 },
    ],
  });
  assert.deepEqual(out['Successful'], [{ Id: 'current' }]);
  assert.deepEqual(
    (out['Failed'] as Record<string, unknown>[]).map((f) => [f['Id'], f['Code']]),
    [
      ['no-timeout', 'MissingParameter'],
      ['too-long', 'InvalidParameterValue'],
      ['deleted', 'AWS.SimpleQueueService.MessageNotInflight'],
      ['malformed', 'ReceiptHandleIsInvalid'],
    ],
  );
  const back = await receiveEventually(q, 1);
  assert.deepEqual(
    back.map((m) => m.Body),
    ['a'],
  );
});
