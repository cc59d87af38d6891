// The MD5 digests SQS returns. The body digest is checked by the AWS SDK itself: the SQS client
// validates MD5OfMessageBody / MD5OfBody on every SendMessage and ReceiveMessage, so our digests
// are fed to it as a server's answer. The JavaScript SDK does not check attribute digests (the
// Java, .NET and Go SDKs do), so those are checked against published vectors computed by AWS and
// by other SQS implementations, and against the documented algorithm written out step by step.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { HttpResponse } from '@smithy/core/protocols';
import { md5OfBody, md5OfMessageAttributes, md5OfMessageSystemAttributes } from '../../src/api/sqs/md5';
import type { MessageAttributeValue } from '../../src/service/message-envelope';

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** An SQS client whose server answers every request with `answer` (JSON 1.0). */
function clientAnswering(answer: () => unknown): SQSClient {
  return new SQSClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9324',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
    requestHandler: {
      handle: () =>
        Promise.resolve({
          response: new HttpResponse({
            statusCode: 200,
            headers: { 'content-type': 'application/x-amz-json-1.0' },
            body: Readable.from([Buffer.from(JSON.stringify(answer()))]),
          }),
        }),
    },
  });
}

const QUEUE_URL = 'http://127.0.0.1:9324/000000000000/q';

test('the SDK accepts our MD5OfMessageBody on SendMessage and MD5OfBody on ReceiveMessage', async () => {
  let body = '';
  const client = clientAnswering(() => ({ MessageId: 'm', MD5OfMessageBody: md5OfBody(utf8(body)), Messages: [{ MessageId: 'm', ReceiptHandle: 'r', Body: body, MD5OfBody: md5OfBody(utf8(body)) }] }));
  try {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 200, unit: 'grapheme' }), async (text) => {
        body = text;
        const sent = await client.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: text }));
        assert.equal(sent.MD5OfMessageBody, md5OfBody(utf8(text)));
        const received = await client.send(new ReceiveMessageCommand({ QueueUrl: QUEUE_URL }));
        assert.equal(received.Messages?.[0]?.Body, text);
      }),
      { numRuns: 60 },
    );
  } finally {
    client.destroy();
  }
});

test('the SDK refuses a wrong body digest (so the check above has teeth)', async () => {
  const client = clientAnswering(() => ({ MessageId: 'm', MD5OfMessageBody: md5OfBody(utf8('something else')) }));
  try {
    await assert.rejects(client.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: 'hello' })), /InvalidChecksumError/);
  } finally {
    client.destroy();
  }
});

test('md5OfBody of known bodies', () => {
  assert.equal(md5OfBody(new Uint8Array(0)), 'd41d8cd98f00b204e9800998ecf8427e');
  // GoAws README: "this is a test of the GoAws Queue messaging" as sent with the AWS CLI.
  assert.equal(md5OfBody(utf8('this is a test of the GoAws Queue messaging')), '9d3f5eaac3b1b4dd509f39e71e25f954');
});

const str = (stringValue: string, dataType = 'String'): MessageAttributeValue => ({ dataType, stringValue });

test('md5OfMessageAttributes reproduces published digests', () => {
  // AWS's own SDK samples (as used by Yandex Message Queue's tests of the same algorithm).
  assert.equal(md5OfMessageAttributes(new Map([['test_attribute_name_2', str('test_attribute_value_2')], ['test_attribute_name_1', str('test_attribute_value_1')]])), 'd53f3b558fe951154770f25cb63dbba9');
  assert.equal(md5OfMessageAttributes(new Map([['test_attribute_name', { dataType: 'Binary', binaryValue: utf8('test_attribute_value') }]])), '23f6bd27ea87aab7dfeadcc9aebee495');
  // LocalStack and sqslite unit tests.
  assert.equal(md5OfMessageAttributes({ Hello: str('There'), General: str('Kenobi') }), 'fca026605781cb4126a1e9044df24232');
  assert.equal(md5OfMessageAttributes({ timestamp: str('1493147359900', 'Number') }), '235c5c510d26fb653d073faed50ae77c');
  assert.equal(md5OfMessageAttributes({ ordinal: str('1', 'Number'), category: str('test') }), 'd21ae90c49061e927f57df5f5d72be1f');
  assert.equal(md5OfMessageAttributes({ SellerName: str('Example Store') }), 'cd28f3b68aeee4b2eac9c66f2f694b58');
});

test('md5OfMessageSystemAttributes is the same digest over the system attributes', () => {
  const trace = new Map([['AWSTraceHeader', str('Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1')]]);
  assert.equal(md5OfMessageSystemAttributes(trace), reference(trace));
});

/** The documented algorithm, written out with whole buffers (independently of the module's streaming). */
function reference(attrs: ReadonlyMap<string, MessageAttributeValue>): string {
  const len = (b: Buffer): Buffer => {
    const l = Buffer.alloc(4);
    l.writeUInt32BE(b.length);
    return Buffer.concat([l, b]);
  };
  const parts: Buffer[] = [];
  for (const name of [...attrs.keys()].sort((a, b) => Buffer.compare(utf8(a), utf8(b)))) {
    const v = attrs.get(name)!;
    parts.push(len(utf8(name)), len(utf8(v.dataType)));
    if (v.stringValue !== undefined) parts.push(Buffer.of(1), len(utf8(v.stringValue)));
    else if (v.binaryValue !== undefined) parts.push(Buffer.of(2), len(Buffer.from(v.binaryValue)));
  }
  return createHash('md5').update(Buffer.concat(parts)).digest('hex');
}

const attributeName = fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/);
const attributeValue: fc.Arbitrary<MessageAttributeValue> = fc.oneof(
  fc.record({ dataType: fc.constantFrom('String', 'String.json', 'Number', 'Number.int'), stringValue: fc.string({ maxLength: 64, unit: 'grapheme' }) }),
  fc.record({ dataType: fc.constantFrom('Binary', 'Binary.gif'), binaryValue: fc.uint8Array({ maxLength: 64 }) }),
);
const attributeSet = fc.uniqueArray(fc.tuple(attributeName, attributeValue), { maxLength: 10, selector: ([n]) => n });

test('md5OfMessageAttributes agrees with the documented algorithm on random attribute sets', () => {
  fc.assert(
    fc.property(attributeSet, (entries) => {
      const attrs = new Map(entries);
      assert.equal(md5OfMessageAttributes(attrs), reference(attrs));
      // The order the attributes came in does not matter; a plain object gives the same digest.
      assert.equal(md5OfMessageAttributes(new Map([...entries].reverse())), reference(attrs));
      assert.equal(md5OfMessageAttributes(Object.fromEntries(entries)), reference(attrs));
    }),
    { numRuns: 300 },
  );
});

test('every part of an attribute changes the digest', () => {
  const base = new Map([['a', str('v')], ['b', { dataType: 'Binary', binaryValue: utf8('v') }]]);
  const digest = md5OfMessageAttributes(base);
  const variants: Map<string, MessageAttributeValue>[] = [
    new Map([['A', str('v')], ['b', { dataType: 'Binary', binaryValue: utf8('v') }]]),
    new Map([['a', str('v', 'Number')], ['b', { dataType: 'Binary', binaryValue: utf8('v') }]]),
    new Map([['a', str('w')], ['b', { dataType: 'Binary', binaryValue: utf8('v') }]]),
    new Map([['a', str('v')], ['b', { dataType: 'Binary', binaryValue: utf8('w') }]]),
    // Same bytes, other transport type.
    new Map([['a', str('v')], ['b', { dataType: 'Binary', stringValue: 'v' }]]),
    new Map([['a', str('v')]]),
  ];
  for (const v of variants) assert.notEqual(md5OfMessageAttributes(v), digest);
});
