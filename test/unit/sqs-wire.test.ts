// The SQS wire without sockets (handleSqsRequest): protocol detection, JSON and XML answers, both
// error shapes with their HTTP status and x-amzn-query-error, the authentication rules (open
// server, Signature Version 4 through an injected verifier), the request context and env, the
// metrics seam, and the SQS code table.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthConfig } from '../../src/api/auth';
import type { HttpAnswer, HttpRequest } from '../../src/api/http-listener';
import type { SqsAction, SqsEnv, SqsInput } from '../../src/api/sqs/types';
import { createSqsContext, handleSqsRequest, type SqsWireOptions, type SigV4Request, type VerifySigV4 } from '../../src/api/sqs/wire';
import { ERRORS, fail, type ErrorName } from '../../src/protocol/errors';
import { LIMITS } from '../../src/protocol/limits';
import { SQS_CODES } from '../../src/protocol/sqs-codes';
import type { QueueService } from '../../src/service/queue-service';
import { captureLogger } from '../helpers/capture-logger';
import { one, parseXml, text } from '../helpers/tiny-xml';

const Q = 'http://localhost:9324/000000000000/q1';
const SIGNED: AuthConfig = { mode: 'signature', credentials: [{ secretId: 'AKIAGOOD', secretKey: 'secret' }], requireAkidPrefix: false };

/** A tiny action table: each action records what it was given. */
function fakeActions(seen: { env?: SqsEnv; input?: SqsInput; action?: string }[]): Record<string, SqsAction> {
  const record =
    (action: string, answer: (input: SqsInput) => ReturnType<SqsAction> | Awaited<ReturnType<SqsAction>>): SqsAction =>
    async (env, input) => {
      seen.push({ env, input, action });
      return answer(input);
    };
  return {
    ListQueues: record('ListQueues', () => ({ QueueUrls: [Q] })),
    GetQueueUrl: record('GetQueueUrl', (input) => (input['QueueName'] === 'q1' ? { QueueUrl: Q } : fail('queueNotExist'))),
    SendMessage: record('SendMessage', () => ({ MessageId: 'm1', MD5OfMessageBody: 'abc' })),
    DeleteQueue: record('DeleteQueue', () => ({})),
    PurgeQueue: record('PurgeQueue', () => fail('notApplied', undefined, '(no leader)')),
    DeleteMessage: record('DeleteMessage', () => {
      throw new Error('boom');
    }),
  };
}

function setup(opts: Partial<SqsWireOptions> = {}): { seen: { env?: SqsEnv; input?: SqsInput; action?: string }[]; run: (req: Partial<HttpRequest>) => Promise<HttpAnswer>; log: ReturnType<typeof captureLogger> } {
  const seen: { env?: SqsEnv; input?: SqsInput; action?: string }[] = [];
  const log = captureLogger();
  const ctx = createSqsContext({
    service: {} as QueueService,
    auth: { mode: 'open' },
    actions: fakeActions(seen),
    verifySigV4: () => assert.fail('the signature must not be checked on an open server'),
    log,
    requestIdPrefix: 't-',
    ...opts,
  });
  const run = (req: Partial<HttpRequest>): Promise<HttpAnswer> =>
    handleSqsRequest(ctx, { method: 'POST', host: 'localhost:9324', path: '/', query: '', headers: {}, body: Buffer.alloc(0), tls: false, remote: '192.0.2.1', ...req });
  return { seen, run, log };
}

function jsonReq(action: string, body: unknown, headers: IncomingHttpHeaders = {}): Partial<HttpRequest> {
  return {
    headers: { 'x-amz-target': `AmazonSQS.${action}`, 'content-type': 'application/x-amz-json-1.0', ...headers },
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  };
}

function queryReq(params: Record<string, string>, headers: IncomingHttpHeaders = {}): Partial<HttpRequest> {
  return { headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: Buffer.from(new URLSearchParams(params).toString()) };
}

function jsonOf(a: HttpAnswer): Record<string, unknown> {
  assert.equal(a.headers['Content-Type'], 'application/x-amz-json-1.0');
  return JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
}

/** The JSON error: status, query error header, __type, message. */
function jsonError(a: HttpAnswer): { status: number; queryError: string | undefined; type: unknown; message: unknown } {
  const body = jsonOf(a);
  return { status: a.status, queryError: a.headers['x-amzn-query-error'], type: body['__type'], message: body['message'] };
}

function xmlError(a: HttpAnswer): { status: number; type: string; code: string; message: string; requestId: string } {
  assert.equal(a.headers['Content-Type'], 'text/xml');
  const root = parseXml(a.body.toString('utf8'));
  assert.equal(root.name, 'ErrorResponse');
  const e = one(root, 'Error');
  return { status: a.status, type: text(e, 'Type'), code: text(e, 'Code'), message: text(e, 'Message'), requestId: text(root, 'RequestId') };
}

test('JSON 1.0: X-Amz-Target names the action; the answer is the output as JSON, HTTP 200', async () => {
  const { seen, run } = setup();
  const a = await run(jsonReq('SendMessage', { QueueUrl: Q, MessageBody: 'hi', DelaySeconds: 1 }));
  assert.equal(a.status, 200);
  assert.deepEqual(jsonOf(a), { MessageId: 'm1', MD5OfMessageBody: 'abc' });
  assert.equal(a.headers['x-amzn-RequestId'], 't-1');
  assert.deepEqual(seen[0]?.input, { QueueUrl: Q, MessageBody: 'hi', DelaySeconds: 1 });
  // An empty body is an empty input; an action without output answers {}.
  assert.deepEqual(jsonOf(await run(jsonReq('ListQueues', ''))), { QueueUrls: [Q] });
  assert.deepEqual(seen[1]?.input, {});
  const d = await run(jsonReq('DeleteQueue', { QueueUrl: Q }));
  assert.equal(d.status, 200);
  assert.deepEqual(jsonOf(d), {});
});

test('query: Action in a form body or a GET query; the answer is XML in the 2012-11-05 namespace', async () => {
  const { seen, run } = setup();
  const a = await run(queryReq({ Action: 'SendMessage', Version: '2012-11-05', QueueUrl: Q, MessageBody: 'hi', DelaySeconds: '1' }));
  assert.equal(a.status, 200);
  assert.equal(a.headers['Content-Type'], 'text/xml');
  const root = parseXml(a.body.toString('utf8'));
  assert.equal(root.name, 'SendMessageResponse');
  assert.equal(text(root, 'SendMessageResult', 'MessageId'), 'm1');
  assert.equal(text(root, 'ResponseMetadata', 'RequestId'), a.headers['x-amzn-RequestId']);
  assert.deepEqual(seen[0]?.input, { QueueUrl: Q, MessageBody: 'hi', DelaySeconds: 1 });
  const g = await run({ method: 'GET', query: 'Action=ListQueues&Version=2012-11-05' });
  assert.equal(text(parseXml(g.body.toString('utf8')), 'ListQueuesResult', 'QueueUrl'), Q);
  const d = await run(queryReq({ Action: 'DeleteQueue', QueueUrl: Q }));
  assert.deepEqual(parseXml(d.body.toString('utf8')).children.map((c) => c.name), ['ResponseMetadata']);
});

test('errors from an action: JSON with __type and x-amzn-query-error, XML with Type/Code, SQS statuses', async () => {
  const { run } = setup();
  assert.deepEqual(jsonError(await run(jsonReq('GetQueueUrl', { QueueName: 'nope' }))), {
    status: 400,
    queryError: 'AWS.SimpleQueueService.NonExistentQueue;Sender',
    type: 'com.amazonaws.sqs#QueueDoesNotExist',
    message: ERRORS.queueNotExist.text,
  });
  const x = xmlError(await run(queryReq({ Action: 'GetQueueUrl', QueueName: 'nope' })));
  assert.deepEqual({ ...x, requestId: undefined }, { status: 400, type: 'Sender', code: 'AWS.SimpleQueueService.NonExistentQueue', message: ERRORS.queueNotExist.text, requestId: undefined });
  // Nothing applied: 503, which SDKs retry; the detail follows the registry's text.
  assert.deepEqual(jsonError(await run(jsonReq('PurgeQueue', { QueueUrl: Q }))), {
    status: 503,
    queryError: 'ServiceUnavailable;Receiver',
    type: 'com.amazonaws.sqs#ServiceUnavailable',
    message: `${ERRORS.notApplied.text} (no leader)`,
  });
  assert.equal(xmlError(await run(queryReq({ Action: 'PurgeQueue', QueueUrl: Q }))).type, 'Receiver');
});

test('query: a request posted to the queue URL without QueueUrl names the queue by its path', async () => {
  const { run, seen } = setup();
  await run({ ...queryReq({ Action: 'SendMessage', MessageBody: 'hi' }), path: '/000000000000/q1' });
  assert.deepEqual(seen[0]?.input, { MessageBody: 'hi', QueueUrl: 'http://localhost:9324/000000000000/q1' });
  // A QueueUrl parameter wins; actions without one, and other paths, are left alone.
  await run({ ...queryReq({ Action: 'SendMessage', QueueUrl: 'http://x/1/other', MessageBody: 'hi' }), path: '/000000000000/q1' });
  assert.equal(seen[1]?.input?.['QueueUrl'], 'http://x/1/other');
  await run({ ...queryReq({ Action: 'ListQueues' }), path: '/000000000000/q1' });
  assert.deepEqual(seen[2]?.input, {});
  await run({ ...queryReq({ Action: 'SendMessage', MessageBody: 'hi' }), path: '/' });
  assert.equal(seen[3]?.input?.['QueueUrl'], undefined);
});

test('an action that throws is a logged 500 InternalFailure', async () => {
  const { run, log } = setup();
  const a = await run(jsonReq('DeleteMessage', { QueueUrl: Q, ReceiptHandle: 'h' }));
  assert.deepEqual(jsonError(a), { status: 500, queryError: 'InternalFailure;Receiver', type: 'com.amazonaws.sqs#InternalFailure', message: ERRORS.internalError.text });
  const line = log.lines.find((l) => l.level === 'error');
  assert.ok(line && line.msg.includes('boom') && line.msg.includes(a.headers['x-amzn-RequestId']!));
});

test('malformed requests: unknown or missing action, bad JSON, wrong content type, method, version, types', async () => {
  const { run, seen } = setup();
  const invalidAction = { status: 400, queryError: 'InvalidAction;Sender', type: 'com.amazonaws.sqs#InvalidAction' };
  const pick = (e: ReturnType<typeof jsonError>): unknown => ({ status: e.status, queryError: e.queryError, type: e.type });
  assert.deepEqual(pick(jsonError(await run(jsonReq('NoSuchAction', {})))), invalidAction);
  assert.deepEqual(pick(jsonError(await run(jsonReq('sendmessage', {})))), invalidAction);
  assert.deepEqual(pick(jsonError(await run({ ...jsonReq('SendMessage', {}), headers: { 'x-amz-target': 'Other.SendMessage', 'content-type': 'application/x-amz-json-1.0' } }))), invalidAction);
  // Known to the API, not in this server's table.
  assert.deepEqual(pick(jsonError(await run(jsonReq('TagQueue', { QueueUrl: Q })))), invalidAction);
  assert.deepEqual(pick(jsonError(await run({ ...jsonReq('SendMessage', {}), method: 'GET' }))), invalidAction);
  const invalidValue = { status: 400, queryError: 'InvalidParameterValue;Sender', type: 'com.amazonaws.sqs#InvalidParameterValue' };
  assert.deepEqual(pick(jsonError(await run(jsonReq('SendMessage', '{"QueueUrl":')))), invalidValue);
  assert.deepEqual(pick(jsonError(await run(jsonReq('SendMessage', '[]')))), invalidValue);
  assert.deepEqual(pick(jsonError(await run(jsonReq('SendMessage', {}, { 'content-type': 'application/json' })))), invalidValue);
  assert.deepEqual(pick(jsonError(await run(jsonReq('SendMessage', { QueueUrl: Q, DelaySeconds: 'soon' })))), invalidValue);

  assert.deepEqual(xmlError(await run(queryReq({ Action: 'Nope' }))).code, 'InvalidAction');
  assert.deepEqual(xmlError(await run(queryReq({ QueueUrl: Q }))).code, 'MissingParameter');
  assert.deepEqual(xmlError(await run({ method: 'PUT', query: 'Action=ListQueues' })).code, 'InvalidAction');
  assert.deepEqual(xmlError(await run(queryReq({ Action: 'ListQueues', Version: '2008-01-01' }))).code, 'InvalidParameterValue');
  const bad = xmlError(await run(queryReq({ Action: 'ListQueues', MaxResults: 'ten' })));
  assert.equal(bad.code, 'InvalidParameterValue');
  assert.match(bad.message, /MaxResults/);
  assert.equal(xmlError(await run({ body: Buffer.from('Action=ListQueues&QueueNamePrefix=%zz') })).code, 'InvalidParameterValue');
  assert.equal(seen.length, 0, 'no malformed request reached an action');
});

test('open server: unsigned requests are served as the account; a signed one names its sender, unchecked', async () => {
  const { run, seen } = setup({ accountId: '123456789012' });
  await run(jsonReq('ListQueues', {}));
  assert.equal(seen[0]?.env?.senderId, '123456789012');
  assert.equal(seen[0]?.env?.accountId, '123456789012');
  assert.equal(seen[0]?.env?.region, 'us-east-1');
  await run(jsonReq('ListQueues', {}, { authorization: 'AWS4-HMAC-SHA256 Credential=AKIAOTHER/20260101/eu-west-3/sqs/aws4_request, SignedHeaders=host, Signature=00' }));
  assert.equal(seen[1]?.env?.senderId, 'AKIAOTHER');
  assert.equal(seen[1]?.env?.region, 'eu-west-3');
  // A presigned query names it in X-Amz-Credential.
  await run({ method: 'GET', query: `Action=ListQueues&X-Amz-Credential=${encodeURIComponent('AKIAPRE/20260101/ap-south-1/sqs/aws4_request')}&X-Amz-Signature=00` });
  assert.equal(seen[2]?.env?.senderId, 'AKIAPRE');
  assert.equal(seen[2]?.env?.region, 'ap-south-1');
});

test('credentials configured: the verifier gets the request as received and the CMQ credentials', async () => {
  const calls: { req: SigV4Request; secret: string | undefined; unknown: string | undefined; now: number }[] = [];
  const verifySigV4: VerifySigV4 = (req, secretOf, nowMs) => {
    calls.push({ req, secret: secretOf('AKIAGOOD'), unknown: secretOf('AKIAOTHER'), now: nowMs });
    return { ok: true, accessKeyId: 'AKIAGOOD', region: 'eu-central-1' };
  };
  const { run, seen } = setup({ auth: SIGNED, verifySigV4, nowMs: () => 1234 });
  const req = { ...queryReq({ Action: 'ListQueues' }), path: '/some%20path', query: 'a=b' };
  const a = await run(req);
  assert.equal(a.status, 200);
  assert.equal(calls.length, 1);
  const call = calls[0]!;
  assert.deepEqual({ method: call.req.method, path: call.req.path, query: call.req.query, body: call.req.body.toString() }, { method: 'POST', path: '/some%20path', query: 'a=b', body: 'Action=ListQueues' });
  assert.equal(call.req.headers['content-type'], 'application/x-www-form-urlencoded');
  assert.deepEqual([call.secret, call.unknown, call.now], ['secret', undefined, 1234]);
  assert.equal(seen[0]?.env?.senderId, 'AKIAGOOD');
  assert.equal(seen[0]?.env?.region, 'eu-central-1');
});

test('signature failures map to the AWS codes and statuses, in both protocols, before the action runs', async () => {
  const cases: [Parameters<typeof failWith>[0], string, number, ErrorName][] = [
    ['missing', 'MissingAuthenticationToken', 403, 'authMissing'],
    ['incomplete', 'IncompleteSignature', 400, 'authIncomplete'],
    ['unknownKey', 'InvalidClientTokenId', 403, 'secretIdNotExist'],
    ['mismatch', 'SignatureDoesNotMatch', 403, 'authFailed'],
    ['expired', 'RequestExpired', 400, 'authExpired'],
  ];
  function failWith(failure: 'missing' | 'incomplete' | 'unknownKey' | 'mismatch' | 'expired'): VerifySigV4 {
    return () => ({ ok: false, failure, detail: `why ${failure}` });
  }
  for (const [failure, code, status, name] of cases) {
    const { run, seen, log } = setup({ auth: SIGNED, verifySigV4: failWith(failure) });
    assert.deepEqual(jsonError(await run(jsonReq('ListQueues', {}))), {
      status,
      queryError: `${code};Sender`,
      type: `com.amazonaws.sqs#${code}`,
      message: `${ERRORS[name].text} (why ${failure})`,
    });
    const x = xmlError(await run(queryReq({ Action: 'ListQueues' })));
    assert.deepEqual([x.status, x.type, x.code], [status, 'Sender', code]);
    // Auth comes first: an unknown action from an unsigned client is refused as unsigned.
    assert.equal(jsonError(await run(jsonReq('NoSuchAction', {}))).queryError, `${code};Sender`);
    assert.equal(seen.length, 0);
    const warning = log.lines.find((l) => l.level === 'warn');
    assert.ok(warning, failure);
    assert.equal(warning.fields?.['reason'], name);
  }
});

test('refused signatures are logged at most LIMITS.authFailureLogsPerMinute a minute per reason', async () => {
  let now = 0;
  const { run, log } = setup({
    auth: SIGNED,
    verifySigV4: () => ({ ok: false, failure: 'mismatch', detail: '' }),
    logClockMs: () => now,
  });
  const signed = { authorization: 'AWS4-HMAC-SHA256 Credential=AKIAGOOD/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00' };
  for (let i = 0; i < LIMITS.authFailureLogsPerMinute + 5; i++) await run(jsonReq('ListQueues', {}, signed));
  const warnings = (): typeof log.lines => log.lines.filter((l) => l.level === 'warn');
  assert.equal(warnings().length, LIMITS.authFailureLogsPerMinute);
  assert.equal(warnings()[0]?.fields?.['accessKeyId'], 'AKIAGOOD');
  assert.equal(warnings()[0]?.fields?.['action'], 'ListQueues');
  assert.equal(warnings()[0]?.fields?.['remote'], '192.0.2.1');
  assert.ok(!JSON.stringify(warnings()).includes('Signature=00'), 'the signature is never logged');
  now = 60_000;
  await run(jsonReq('ListQueues', {}, signed));
  assert.equal(warnings().length, LIMITS.authFailureLogsPerMinute + 1);
  assert.equal(warnings().at(-1)?.fields?.['suppressed'], 5);
});

test('the env: base URL from the scheme and Host, request context with requestId and traceparent', async () => {
  const { run, seen } = setup();
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const a = await run({ ...jsonReq('ListQueues', {}, { traceparent }), host: 'sqs.example:9443', tls: true });
  const env = seen[0]!.env!;
  assert.equal(env.baseUrl, 'https://sqs.example:9443');
  assert.equal(env.ctx.requestId, a.headers['x-amzn-RequestId']);
  assert.equal(env.ctx.traceparent, traceparent);
  assert.equal(env.ctx.clientAddress, '192.0.2.1');
  await run({ ...jsonReq('ListQueues', {}), host: '[::1]:9324' });
  assert.equal(seen[1]!.env!.baseUrl, 'http://[::1]:9324');
  // A Host header that cannot start a URL is not echoed into queue URLs.
  await run({ ...jsonReq('ListQueues', {}), host: 'evil/<x>' });
  assert.equal(seen[2]!.env!.baseUrl, 'http://localhost');
  await run({ ...jsonReq('ListQueues', {}), host: '' });
  assert.equal(seen[3]!.env!.baseUrl, 'http://localhost');
});

test('metrics: sqs:<Action> with the CMQ code of the outcome (0 when it succeeded), and the observer', async () => {
  const done: [string, number][] = [];
  const served: [string, string][] = [];
  const { run } = setup({
    onRequestDone: (action, code, seconds) => {
      assert.ok(seconds >= 0);
      done.push([action, code]);
    },
    observer: { served: (action, _ctx, outcome) => void served.push([action, outcome]) },
  });
  await run(jsonReq('ListQueues', {}));
  await run(jsonReq('GetQueueUrl', { QueueName: 'nope' }));
  await run(jsonReq('NoSuchAction', {}));
  await run(queryReq({ Action: 'TagQueue' }));
  assert.deepEqual(done, [
    ['sqs:ListQueues', 0],
    ['sqs:GetQueueUrl', 4440],
    ['sqs:unknown', 4000],
    ['sqs:TagQueue', 4000],
  ]);
  assert.deepEqual(served, [
    ['sqs:ListQueues', 'ok'],
    ['sqs:GetQueueUrl', 'notFound'],
    ['sqs:unknown', 'invalid'],
    ['sqs:TagQueue', 'invalid'],
  ]);
});

test('the SQS code table: every registry error, statuses that agree with the fault, the documented codes', () => {
  for (const name of Object.keys(ERRORS) as ErrorName[]) {
    const c = SQS_CODES[name];
    assert.ok(c, name);
    assert.ok(c.status >= 400 && c.status <= 599, name);
    assert.equal(c.fault, c.status >= 500 ? 'Receiver' : 'Sender', name);
    assert.match(c.code, /^[A-Za-z.]+$/, name);
    assert.match(c.shape, /^[A-Za-z]+$/, name);
  }
  const pick = (n: ErrorName): [string, string, number] => [SQS_CODES[n].code, SQS_CODES[n].shape, SQS_CODES[n].status];
  assert.deepEqual(pick('queueNotExist'), ['AWS.SimpleQueueService.NonExistentQueue', 'QueueDoesNotExist', 400]);
  assert.deepEqual(pick('queueExists'), ['QueueAlreadyExists', 'QueueNameExists', 400]);
  assert.deepEqual(pick('receiptHandleInvalid'), ['ReceiptHandleIsInvalid', 'ReceiptHandleIsInvalid', 404]);
  assert.deepEqual(pick('throttled'), ['RequestThrottled', 'RequestThrottled', 403]);
  assert.deepEqual(pick('queueRecreateTooSoon'), ['AWS.SimpleQueueService.QueueDeletedRecently', 'QueueDeletedRecently', 400]);
  assert.deepEqual(pick('batchSizeOutOfRange'), ['AWS.SimpleQueueService.TooManyEntriesInBatchRequest', 'TooManyEntriesInBatchRequest', 400]);
  assert.deepEqual(pick('notApplied'), ['ServiceUnavailable', 'ServiceUnavailable', 503]);
  assert.deepEqual(pick('outcomeUnknown'), ['InternalFailure', 'InternalFailure', 500]);
  assert.deepEqual(pick('missingParam'), ['MissingParameter', 'MissingParameter', 400]);
});
