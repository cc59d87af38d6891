// Property tests of the SQS wire and actions: random and malformed requests, in either protocol,
// never throw, always get an answer an SQS client can read (a JSON object or an XML document with
// a 200, 4xx or 503 status; never an internal failure), and reach the service only with commands
// whose parameters passed validation.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

import { SQS_ACTIONS } from '../../src/api/sqs/actions';
import { verifySigV4 } from '../../src/api/sqs/sigv4';
import { createSqsContext, handleSqsRequest } from '../../src/api/sqs/wire';
import type { HttpRequest } from '../../src/api/http-listener';
import { LIMITS } from '../../src/protocol/limits';
import { RecordingQueueService } from '../helpers/recording-service';

const QUEUE_URL = 'http://127.0.0.1:9324/000000000000/q1';
const ACTIONS = [...Object.keys(SQS_ACTIONS), 'NoSuchAction', '', 'sendmessage'];
/** Member names the actions read, and a few they do not. */
const MEMBERS = [
  'QueueUrl',
  'QueueName',
  'Attributes',
  'AttributeNames',
  'MessageAttributeNames',
  'MessageSystemAttributeNames',
  'MessageBody',
  'MessageAttributes',
  'MessageSystemAttributes',
  'DelaySeconds',
  'MaxNumberOfMessages',
  'WaitTimeSeconds',
  'VisibilityTimeout',
  'ReceiptHandle',
  'Entries',
  'Id',
  'tags',
  'Tags',
  'TagKeys',
  'MaxResults',
  'NextToken',
  'QueueNamePrefix',
  'MessageGroupId',
  'MessageDeduplicationId',
  'ReceiveRequestAttemptId',
  'SourceArn',
  'DestinationArn',
  'MaxNumberOfMessagesPerSecond',
  'TaskHandle',
  'Unknown',
];

const scalar = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(QUEUE_URL, 'q1', 'q1.fifo', 'All', '.*', 'String', 'Number', 'Binary', 'true', 'false', '1-2-3-abc', 'arn:aws:sqs:us-east-1:000000000000:q1'),
  fc.integer({ min: -5, max: 100_000 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
/** A JSON value two levels deep: what a member may hold, right or wrong. */
const value: fc.Arbitrary<unknown> = fc.oneof(
  scalar,
  fc.array(scalar, { maxLength: 12 }),
  fc.dictionary(fc.oneof(fc.constantFrom(...MEMBERS), fc.string({ maxLength: 8 })), scalar, { maxKeys: 5 }),
  fc.array(fc.dictionary(fc.constantFrom(...MEMBERS), scalar, { maxKeys: 6 }), { maxLength: 12 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.record({ DataType: fc.oneof(scalar, fc.constant('String')), StringValue: scalar }, { requiredKeys: [] }), { maxKeys: 11 }),
);
const jsonInput = fc.dictionary(fc.constantFrom(...MEMBERS), value, { maxKeys: 6 });

function request(headers: Record<string, string>, body: Buffer, method = 'POST', query = ''): HttpRequest {
  return { method, host: '127.0.0.1:9324', path: '/', query, headers, body, tls: false };
}

/** The answer is something an SQS client reads: its protocol's format, a status it knows. */
function checkAnswer(a: { status: number; body: Buffer }, json: boolean): void {
  assert.ok([200, 400, 403, 404, 503].includes(a.status), `status ${a.status}: ${a.body.toString()}`);
  if (json) {
    const parsed = JSON.parse(a.body.toString()) as unknown;
    assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed));
  } else {
    assert.match(a.body.toString(), /^<\?xml version="1\.0"\?>\s*<[A-Za-z]+(Response|ErrorResponse)[ >]/);
  }
}

/** What reached the service passed the SQS rules: bounded batches, names and bodies. */
function checkSubmitted(service: RecordingQueueService): void {
  for (const c of service.submitted) {
    if ('queueName' in c) assert.ok(/^[A-Za-z0-9_-]{1,80}(\.fifo)?$/.test(c.queueName) && c.queueName.length <= 80, c.queueName);
    if (c.kind === 'sendMessages') {
      assert.ok(c.bodies.length >= 1 && c.bodies.length <= 10);
      for (const o of c.options ?? []) assert.ok(o.dedupId === undefined || o.dedupId.length <= LIMITS.dedupKeyCharsMax);
    }
    if (c.kind === 'deleteMessages') assert.ok(c.receiptHandles.length >= 1 && c.receiptHandles.length <= 10);
    if (c.kind === 'changeVisibility') for (const e of c.entries) assert.ok(e.visibilitySeconds >= 0 && e.visibilitySeconds <= 43_200);
  }
}

test('JSON 1.0: any action with any members answers in SQS form, never an internal failure', async () => {
  const service = new RecordingQueueService();
  const ctx = createSqsContext({ service, auth: { mode: 'open' }, actions: SQS_ACTIONS, verifySigV4, log: () => undefined });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ACTIONS), jsonInput, async (action, input) => {
      service.calls.length = 0;
      const a = await handleSqsRequest(ctx, request({ 'x-amz-target': `AmazonSQS.${action}`, 'content-type': 'application/x-amz-json-1.0' }, Buffer.from(JSON.stringify(input))));
      checkAnswer(a, true);
      checkSubmitted(service);
    }),
    { numRuns: 1500 },
  );
});

test('JSON 1.0: bodies that are not a JSON object, and wrong headers, are refused in SQS form', async () => {
  const service = new RecordingQueueService();
  const ctx = createSqsContext({ service, auth: { mode: 'open' }, actions: SQS_ACTIONS, verifySigV4, log: () => undefined });
  const body = fc.oneof(fc.string(), fc.uint8Array({ maxLength: 64 }).map((b) => String.fromCharCode(...b)), fc.jsonValue().map((v) => JSON.stringify(v)));
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ACTIONS), body, fc.constantFrom('application/x-amz-json-1.0', 'application/json', ''), async (action, text, type) => {
      const a = await handleSqsRequest(ctx, request({ 'x-amz-target': `AmazonSQS.${action}`, 'content-type': type }, Buffer.from(text, 'latin1')));
      checkAnswer(a, true);
    }),
    { numRuns: 800 },
  );
  assert.deepEqual(service.submitted, [], 'nothing malformed reached the service');
});

test('query protocol: any flattened parameters answer in SQS form, never an internal failure', async () => {
  const service = new RecordingQueueService();
  const ctx = createSqsContext({ service, auth: { mode: 'open' }, actions: SQS_ACTIONS, verifySigV4, log: () => undefined });
  const key = fc.oneof(
    fc.constantFrom(...MEMBERS),
    fc.tuple(fc.constantFrom('Attribute', 'AttributeName', 'MessageAttribute', 'SendMessageBatchRequestEntry', 'DeleteMessageBatchRequestEntry', 'Tag', 'TagKey'), fc.integer({ min: -1, max: 12 }), fc.constantFrom('', '.Name', '.Value', '.Id', '.MessageBody', '.ReceiptHandle', '.Value.StringValue', '.Value.DataType', '.Key')).map(([a, n, b]) => `${a}.${n}${b}`),
    fc.string({ maxLength: 10 }),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ACTIONS), fc.array(fc.tuple(key, fc.oneof(scalar.map(String), fc.string({ maxLength: 30 }))), { maxLength: 12 }), async (action, pairs) => {
      service.calls.length = 0;
      const form = new URLSearchParams([['Action', action], ['Version', '2012-11-05'], ['QueueUrl', QUEUE_URL], ...pairs]).toString();
      const a = await handleSqsRequest(ctx, request({ 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from(form)));
      checkAnswer(a, false);
      checkSubmitted(service);
    }),
    { numRuns: 1500 },
  );
});

test('signature mode: random Authorization headers are refused in SQS form and reach nothing', async () => {
  const service = new RecordingQueueService();
  const ctx = createSqsContext({
    service,
    auth: { mode: 'signature', credentials: [{ secretId: 'AKIDfuzz', secretKey: 'k' }], requireAkidPrefix: false },
    actions: SQS_ACTIONS,
    verifySigV4,
    log: () => undefined,
  });
  const auth = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.tuple(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), fc.string({ maxLength: 64 })).map(
      ([cred, signed, sig]) => `AWS4-HMAC-SHA256 Credential=${cred}, SignedHeaders=${signed}, Signature=${sig}`,
    ),
  );
  await fc.assert(
    fc.asyncProperty(auth, fc.string({ maxLength: 20 }), async (authorization, date) => {
      const a = await handleSqsRequest(
        ctx,
        request({ 'x-amz-target': 'AmazonSQS.ListQueues', 'content-type': 'application/x-amz-json-1.0', authorization, 'x-amz-date': date }, Buffer.from('{}')),
      );
      checkAnswer(a, true);
      assert.ok(a.status === 400 || a.status === 403, String(a.status));
    }),
    { numRuns: 800 },
  );
  assert.deepEqual(service.calls, [], 'no unsigned or badly signed request reached the service');
});
