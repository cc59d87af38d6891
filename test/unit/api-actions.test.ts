// Success paths and response shapes of every queue action (spec §1.5, §2.3), the request pipeline
// (method, parameter source, Action matching, clientRequestId, requestId) and failure handling,
// through handleCmqRequest with a recording fake service.

import { encodeEnvelope } from '../../src/service/message-envelope';
import { LIMITS } from '../../src/protocol/limits';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command, CommandResult } from '../../src/broker/commands';
import { createApiContext, handleCmqRequest, type CmqRequestInput } from '../../src/api/http-server';
import {
  RecordingQueueService,
  sampleDeliveredMessage,
  sampleQueueAttributes,
  type RecordingScripts,
} from '../helpers/recording-service';
import { canonicalQuery, computeSignature } from '../../src/api/signature';
import type { AuthConfig } from '../../src/api/auth';
import { responseBytes, responseJson } from '../../src/api/response';
import { fail } from '../../src/protocol/errors';

type Params = [string, string][] | Record<string, string>;

function harness(scripts: RecordingScripts = {}, auth: AuthConfig = { mode: 'open' }) {
  const service = new RecordingQueueService(scripts);
  const logs: string[] = [];
  const ctx = createApiContext({ service, auth, log: (l) => logs.push(l), requestIdPrefix: 'req-' });
  const raw = (input: Partial<CmqRequestInput>): Promise<Record<string, unknown>> =>
    handleCmqRequest(ctx, { method: 'POST', host: 'localhost:9600', path: '/v2/index.php', query: '', body: Buffer.alloc(0), ...input });
  const call = (params: Params): Promise<Record<string, unknown>> => raw({ body: Buffer.from(new URLSearchParams(params).toString()) });
  return { service, logs, raw, call };
}

/** The response as a client reads it: the bytes the server sends, parsed. */
function wire(r: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(responseBytes(r).toString('utf8')) as Record<string, unknown>;
}

function assertEnvelope(r: Record<string, unknown>, code: number): void {
  assert.equal(r['code'], code, JSON.stringify(r));
  assert.equal(typeof r['message'], 'string');
  assert.equal(typeof r['requestId'], 'string');
  if (code === 0) assert.equal(r['message'], '');
}

const INT_ATTRS = [
  'maxMsgHeapNum',
  'pollingWaitSeconds',
  'visibilityTimeout',
  'maxMsgSize',
  'msgRetentionSeconds',
  'createTime',
  'lastModifyTime',
  'activeMsgNum',
  'inactiveMsgNum',
  'rewindSeconds',
  'rewindMsgNum',
  'minMsgTime',
  'delayMsgNum',
];

// --- Queue management

void test('CreateQueue: Python-style full meta reaches submit typed; queueId is a string', async () => {
  const { service, call } = harness();
  const r = await call({
    Action: 'CreateQueue',
    queueName: 'orders_1',
    pollingWaitSeconds: '0',
    visibilityTimeout: '30',
    maxMsgSize: '1048576',
    msgRetentionSeconds: '345600',
    rewindSeconds: '0',
    maxMsgHeapNum: '1000000',
  });
  assertEnvelope(r, 0);
  assert.equal(r['queueId'], 'queue-orders_1');
  assert.deepEqual(service.submitted, [
    {
      kind: 'createQueue',
      queueName: 'orders_1',
      attrs: { maxMsgHeapNum: 1000000, pollingWaitSeconds: 0, visibilityTimeout: 30, maxMsgSize: 1048576, msgRetentionSeconds: 345600, rewindSeconds: 0 },
    },
  ]);
});

void test('CreateQueue: only given attributes are passed; a deadLetterPolicy is parsed; an empty one means none', async () => {
  const { service, call } = harness();
  assertEnvelope(await call({ Action: 'CreateQueue', queueName: 'a', deadLetterPolicy: '{"deadLetterQueue":"dlq","policy":0,"maxReceiveCount":5}' }), 0);
  assertEnvelope(await call({ Action: 'CreateQueue', queueName: 'b', deadLetterPolicy: '' }), 0);
  assertEnvelope(await call({ Action: 'CreateQueue', queueName: 'c', msgRetentionSeconds: '3600', deadLetterPolicy: '{"deadLetterQueue":"dlq","policy":1,"maxTimeToLive":3599}' }), 0);
  assert.deepEqual(service.submitted, [
    { kind: 'createQueue', queueName: 'a', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 5 } } },
    { kind: 'createQueue', queueName: 'b', attrs: {} },
    { kind: 'createQueue', queueName: 'c', attrs: { msgRetentionSeconds: 3600, deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 1, maxTimeToLive: 3599 } } },
  ]);
});

void test('CreateQueue: broker errors pass through with their code and message', async () => {
  const { call } = harness({ submit: () => fail('queueExists') });
  const r = await call({ Action: 'CreateQueue', queueName: 'a' });
  assertEnvelope(r, 4460);
  assert.equal(r['message'], '(10060)queue is already existed,case insensitive');
  const r2 = await harness({ submit: () => fail('dlqNested') }).call({ Action: 'CreateQueue', queueName: 'a' });
  assert.deepEqual([r2['code'], r2['message']], [4000, '(10740)deadLetter queue is not allowed to nest']);
});

void test('ListQueue: defaults offset 0 / limit 20, clamps limit to 50, passes searchWord; types of the answer', async () => {
  const { service, call } = harness({
    listQueues: () => ({ totalCount: 7, queueList: [{ queueId: 'queue-a', queueName: 'a' }, { queueId: 'queue-b', queueName: 'b' }] }),
  });
  const r = await call({ Action: 'ListQueue' });
  assertEnvelope(r, 0);
  assert.equal(r['totalCount'], 7);
  assert.deepEqual(r['queueList'], [{ queueId: 'queue-a', queueName: 'a' }, { queueId: 'queue-b', queueName: 'b' }]);
  await call({ Action: 'ListQueue', searchWord: 'test', offset: '5', limit: '500' });
  await call({ Action: 'ListQueue', searchWord: '', limit: '0' });
  assert.deepEqual(service.calls, [
    { method: 'listQueues', searchWord: undefined, offset: 0, limit: 20 },
    { method: 'listQueues', searchWord: 'test', offset: 5, limit: 50 },
    { method: 'listQueues', searchWord: undefined, offset: 0, limit: 0 },
  ]);
});

void test('GetQueueAttributes: all 13 int fields as numbers, both rewindMsgNum spellings, names as strings', async () => {
  const attrs = { ...sampleQueueAttributes('q1'), activeMsgNum: 3, rewindMsgNum: 2 };
  const { call } = harness({ getQueueAttributes: () => attrs });
  const r = await call({ Action: 'GetQueueAttributes', queueName: 'q1' });
  assertEnvelope(r, 0);
  for (const k of INT_ATTRS) assert.ok(Number.isInteger(r[k]), `${k}=${String(r[k])}`);
  assert.equal(r['activeMsgNum'], 3);
  assert.equal(r['rewindMsgNum'], 2);
  assert.equal(r['rewindmsgNum'], 2);
  assert.equal(r['queueName'], 'q1');
  assert.equal(r['queueId'], 'queue-q1');
  assert.equal('deadLetterPolicy' in r, false);
});

void test('GetQueueAttributes: deadLetterPolicy rendered as an object when set', async () => {
  const attrs = { ...sampleQueueAttributes('q1'), deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 1 as const, maxTimeToLive: 300 } };
  const r = await harness({ getQueueAttributes: () => attrs }).call({ Action: 'GetQueueAttributes', queueName: 'q1' });
  assert.deepEqual(r['deadLetterPolicy'], { deadLetterQueue: 'dlq', policy: 1, maxTimeToLive: 300 });
});

void test('GetQueueAttributes: unknown queue → 4440 "(10100)queue is not existed, or deleted"', async () => {
  const r = await harness({ getQueueAttributes: () => undefined }).call({ Action: 'GetQueueAttributes', queueName: 'gone' });
  assertEnvelope(r, 4440);
  assert.equal(r['message'], '(10100)queue is not existed, or deleted');
});

void test('SetQueueAttributes: returns the full attribute set; empty deadLetterPolicy clears it', async () => {
  const { service, call } = harness();
  const r = await call({ Action: 'SetQueueAttributes', queueName: 'q1', visibilityTimeout: '60', deadLetterPolicy: '' });
  assertEnvelope(r, 0);
  for (const k of INT_ATTRS) assert.ok(Number.isInteger(r[k]), k);
  assert.equal(r['visibilityTimeout'], 60);
  assert.equal(r['rewindmsgNum'], 0);
  assert.equal(r['queueName'], 'q1');
  assert.deepEqual(service.submitted, [{ kind: 'setQueueAttributes', queueName: 'q1', attrs: { visibilityTimeout: 60, deadLetterPolicy: null } }]);
});

void test('DeleteQueue, RewindQueue, UnbindDeadLetterQueue / UnbindDeadLetter: commands and empty success', async () => {
  const { service, call } = harness();
  const requests: Record<string, string>[] = [
    { Action: 'DeleteQueue', queueName: 'q1' },
    { Action: 'RewindQueue', queueName: 'q1', startConsumeTime: '1700000000' },
    { Action: 'UnbindDeadLetterQueue', queueName: 'q1' },
    { Action: 'UnbindDeadLetter', queueName: 'q2' },
  ];
  for (const params of requests) {
    const r = await call(params);
    assertEnvelope(r, 0);
    assert.deepEqual(Object.keys(r).sort(), ['code', 'message', 'requestId']);
  }
  assert.deepEqual(service.submitted, [
    { kind: 'deleteQueue', queueName: 'q1' },
    { kind: 'rewindQueue', queueName: 'q1', startConsumeTimeSec: 1700000000 },
    { kind: 'unbindDeadLetter', queueName: 'q1' },
    { kind: 'unbindDeadLetter', queueName: 'q2' },
  ]);
});

void test('RewindQueue: broker errors 6050/10670 and 4000/10680 pass through', async () => {
  const r = await harness({ submit: () => fail('rewindDisabled') }).call({ Action: 'RewindQueue', queueName: 'q', startConsumeTime: '1' });
  assert.deepEqual([r['code'], r['message']], [6050, '(10670)your queue cannot be rewinded']);
});

void test('ListDeadLetterSourceQueues: list and broker error', async () => {
  const { service, call } = harness({ listDeadLetterSourceQueues: () => ({ totalCount: 1, queueList: [{ queueId: 'queue-s', queueName: 's' }] }) });
  const r = await call({ Action: 'ListDeadLetterSourceQueues', deadLetterQueueName: 'dlq', limit: '99' });
  assertEnvelope(r, 0);
  assert.equal(r['totalCount'], 1);
  assert.deepEqual(r['queueList'], [{ queueId: 'queue-s', queueName: 's' }]);
  assert.deepEqual(service.calls, [{ method: 'listDeadLetterSourceQueues', deadLetterQueueName: 'dlq', searchWord: undefined, offset: 0, limit: 50 }]);
  const e = await harness({ listDeadLetterSourceQueues: () => fail('queueNotExist') }).call({ Action: 'ListDeadLetterSourceQueues', deadLetterQueueName: 'dlq' });
  assertEnvelope(e, 4440);
});

void test('QueryQueueRoute: addr is an empty list for a queue that exists', async () => {
  const { service, call } = harness({ getQueueAttributes: (name) => sampleQueueAttributes(name) });
  const r = await call({ Action: 'QueryQueueRoute', queueName: 'q' });
  assertEnvelope(r, 0);
  assert.deepEqual(r['addr'], []);
  assert.deepEqual(service.calls, [{ method: 'getQueueAttributes', queueName: 'q' }]);
});

void test('QueryQueueRoute: a queue that does not exist is 4440/10100', async () => {
  const r = await harness({ getQueueAttributes: () => undefined }).call({ Action: 'QueryQueueRoute', queueName: 'gone' });
  assertEnvelope(r, 4440);
  assert.equal(r['message'], '(10100)queue is not existed, or deleted');
  assert.equal(r['addr'], undefined);
});

// --- Messages

void test("SendMessage: UTF-8 body bytes, no delaySeconds is the queue's own delay (null), msgId a string", async () => {
  const { service, call } = harness();
  const r = await call({ Action: 'SendMessage', queueName: 'q1', msgBody: 'héllo 世界 + 😀' });
  assertEnvelope(r, 0);
  assert.equal(typeof r['msgId'], 'string');
  const [c] = service.submitted as [Command & { kind: 'sendMessages' }];
  assert.equal(c.kind, 'sendMessages');
  assert.equal(c.delaySeconds, null);
  assert.deepEqual(c.bodies.map((b) => Buffer.from(b).toString('utf8')), ['héllo 世界 + 😀']);
  await call({ Action: 'SendMessage', queueName: 'q1', msgBody: 'x', delaySeconds: '6048000' });
  assert.equal((service.submitted[1] as { delaySeconds: number }).delaySeconds, 6048000);
});

void test('SendMessage: broker 4400/10230 (queue maxMsgSize) and 4410 pass through', async () => {
  const r = await harness({ submit: () => fail('msgTooLarge') }).call({ Action: 'SendMessage', queueName: 'q1', msgBody: 'x' });
  assert.deepEqual([r['code'], r['message']], [4400, '(10230)exceed maximum message size']);
});

void test('BatchSendMessage: 0-based and 1-based bodies in index order; msgList of {msgId}', async () => {
  for (const from of [0, 1]) {
    const { service, call } = harness();
    const params: [string, string][] = [['Action', 'BatchSendMessage'], ['queueName', 'q1'], ['delaySeconds', '5']];
    for (let i = 15; i >= 0; i--) params.push([`msgBody.${from + i}`, `m${i}`]);
    const r = await call(params);
    assertEnvelope(r, 0);
    const list = r['msgList'] as { msgId: unknown }[];
    assert.equal(list.length, 16);
    for (const m of list) assert.equal(typeof m.msgId, 'string');
    assert.deepEqual(list.map((m) => m.msgId), Array.from({ length: 16 }, (_, i) => String(i + 1)));
    const [c] = service.submitted as [Command & { kind: 'sendMessages' }];
    assert.deepEqual(c.bodies.map((b) => Buffer.from(b).toString()), Array.from({ length: 16 }, (_, i) => `m${i}`));
    assert.equal(c.delaySeconds, 5);
  }
});

void test('SendMessage: a service answering with too few msgIds is an internal error', async () => {
  const { call, logs } = harness({ submit: () => ({ ok: true, kind: 'sendMessages', msgIds: [], sequenceNumbers: [] }) });
  const r = await call({ Action: 'SendMessage', queueName: 'q1', msgBody: 'x' });
  assertEnvelope(r, 6000);
  assert.ok((r['message'] as string).startsWith('(10050)server internal error'));
  assert.equal(logs.length, 1);
  assert.match(logs[0] as string, /0 msgIds for 1 messages/);
});

void test('ReceiveMessage: fields at top level with the SDK types; msgBody decoded as UTF-8', async () => {
  const m = sampleDeliveredMessage('体 body');
  const { service, call } = harness({ receive: () => ({ ok: true, messages: [m] }) });
  // As sent: the body is rendered from its bytes.
  const r = wire(await call({ Action: 'ReceiveMessage', queueName: 'q1', pollingWaitSeconds: '3', UserpollingWaitSeconds: '3' }));
  assertEnvelope(r, 0);
  assert.equal(r['msgBody'], '体 body');
  for (const k of ['msgId', 'msgBody', 'receiptHandle']) assert.equal(typeof r[k], 'string', k);
  for (const k of ['enqueueTime', 'firstDequeueTime', 'nextVisibleTime', 'dequeueCount']) assert.ok(Number.isInteger(r[k]), k);
  assert.equal(r['receiptHandle'], m.receiptHandle);
  await call({ Action: 'ReceiveMessage', queueName: 'q1' });
  assert.deepEqual(service.calls, [
    { method: 'receive', queueName: 'q1', numOfMsg: 1, waitSeconds: 3 },
    { method: 'receive', queueName: 'q1', numOfMsg: 1, waitSeconds: undefined },
  ]);
});

void test('SendMessage / BatchSendMessage: the dedupId extension gives each body an id (a batch: id/position); a bad one is 4000/10350', async () => {
  const { service, call } = harness();
  assertEnvelope(await call({ Action: 'SendMessage', queueName: 'q1', msgBody: 'a', dedupId: 'tok-1' }), 0);
  assertEnvelope(await call({ Action: 'BatchSendMessage', queueName: 'q1', 'msgBody.0': 'a', 'msgBody.1': 'b', dedupId: 'tok-2' }), 0);
  assertEnvelope(await call({ Action: 'SendMessage', queueName: 'q1', msgBody: 'a' }), 0);
  assert.deepEqual(
    (service.submitted as Extract<Command, { kind: 'sendMessages' }>[]).map((c) => c.options),
    [[{ dedupId: 'tok-1' }], [{ dedupId: 'tok-2/0' }, { dedupId: 'tok-2/1' }], undefined],
  );
  for (const bad of ['', 'a b', 'x'.repeat(129)]) {
    const r = await call({ Action: 'SendMessage', queueName: 'q1', msgBody: 'a', dedupId: bad });
    assert.deepEqual([r['code'], r['message']], [4000, '(10350)parameter dedupId value or length is out of range'], bad);
  }
});

void test('ReceiveMessage: a message sent through the SQS API (an envelope with attributes) is delivered as its body alone', async () => {
  const envelope = encodeEnvelope({ attributes: new Map([['colour', { dataType: 'String', stringValue: 'blue' }]]), system: new Map(), body: Buffer.from('just the body') });
  const m = { ...sampleDeliveredMessage(Buffer.from(envelope)), enveloped: true };
  const { call } = harness({ receive: () => ({ ok: true, messages: [m] }) });
  assert.equal(wire(await call({ Action: 'ReceiveMessage', queueName: 'q1' }))['msgBody'], 'just the body');
});

void test('ReceiveMessage / BatchReceiveMessage: nothing → 7000 "(10200)no message"', async () => {
  const { call } = harness();
  const requests: Record<string, string>[] = [{ Action: 'ReceiveMessage', queueName: 'q1' }, { Action: 'BatchReceiveMessage', queueName: 'q1', numOfMsg: '5' }];
  for (const params of requests) {
    const r = await call(params);
    assert.deepEqual({ ...r, requestId: 'x' }, { code: 7000, message: '(10200)no message', requestId: 'x' });
  }
});

void test('ReceiveMessage: a service error (unknown queue) passes through', async () => {
  const r = await harness({ receive: () => fail('queueNotExist') }).call({ Action: 'ReceiveMessage', queueName: 'q1' });
  assertEnvelope(r, 4440);
});

void test('BatchReceiveMessage: msgInfoList with per-message fields; numOfMsg and wait passed on', async () => {
  const msgs = [sampleDeliveredMessage('a', 1), sampleDeliveredMessage(Buffer.from('b'), 2), sampleDeliveredMessage('c', 3)];
  const { service, call } = harness({ receive: () => ({ ok: true, messages: msgs }) });
  const r = wire(await call({ Action: 'BatchReceiveMessage', queueName: 'q1', numOfMsg: '10', pollingWaitSeconds: '0' }));
  assertEnvelope(r, 0);
  const list = r['msgInfoList'] as Record<string, unknown>[];
  assert.deepEqual(list.map((m) => m['msgBody']), ['a', 'b', 'c']);
  for (const m of list) {
    assert.deepEqual(Object.keys(m).sort(), ['dequeueCount', 'enqueueTime', 'firstDequeueTime', 'msgBody', 'msgId', 'nextVisibleTime', 'receiptHandle']);
    assert.equal(typeof m['msgId'], 'string');
    assert.equal(typeof m['enqueueTime'], 'number');
  }
  assert.deepEqual(service.calls, [{ method: 'receive', queueName: 'q1', numOfMsg: 10, waitSeconds: 0 }]);
});

void test('DeleteMessage: any non-empty handle reaches the broker; a failure is 4430', async () => {
  const { service, call } = harness();
  const odd = 'weird handle/with spaces?' + 'x'.repeat(231);
  assertEnvelope(await call({ Action: 'DeleteMessage', queueName: 'q1', receiptHandle: odd }), 0);
  assert.deepEqual(service.submitted, [{ kind: 'deleteMessages', queueName: 'q1', receiptHandles: [odd] }]);
  const failing = harness({
    submit: (c) => ({ ok: true, kind: 'deleteMessages', failures: [{ index: 0, receiptHandle: (c as { receiptHandles: string[] }).receiptHandles[0] as string, error: 'receiptHandleInvalid', malformed: false }] }),
  });
  const r = await failing.call({ Action: 'DeleteMessage', queueName: 'q1', receiptHandle: 'old' });
  assert.deepEqual([r['code'], r['message']], [4430, '(10260)receipt handle is invalid']);
});

function failHandles(bad: Set<string>): RecordingScripts['submit'] {
  return (c: Command): CommandResult => {
    assert.equal(c.kind, 'deleteMessages');
    const failures = c.receiptHandles.flatMap((h, index) => (bad.has(h) ? [{ index, receiptHandle: h, error: 'receiptHandleInvalid' as const, malformed: false }] : []));
    return { ok: true, kind: 'deleteMessages', failures };
  };
}

void test('BatchDeleteMessage: all ok → 0; some fail → 6010 + errorList; all fail → 6020 + errorList', async () => {
  const params = { Action: 'BatchDeleteMessage', queueName: 'q1', 'receiptHandle.0': 'h0', 'receiptHandle.1': 'h1', 'receiptHandle.2': 'h2' };
  const allOk = harness({ submit: failHandles(new Set()) });
  const r0 = await allOk.call(params);
  assertEnvelope(r0, 0);
  assert.equal('errorList' in r0, false);
  assert.deepEqual(allOk.service.submitted, [{ kind: 'deleteMessages', queueName: 'q1', receiptHandles: ['h0', 'h1', 'h2'] }]);

  const r1 = await harness({ submit: failHandles(new Set(['h1'])) }).call(params);
  assert.equal(r1['code'], 6010);
  assert.equal(r1['message'], '(10150)delete message partially failed');
  assert.deepEqual(r1['errorList'], [{ code: 4430, message: '(10260)receipt handle is invalid', receiptHandle: 'h1' }]);

  const r2 = await harness({ submit: failHandles(new Set(['h0', 'h1', 'h2'])) }).call(params);
  assert.equal(r2['code'], 6020);
  assert.equal(r2['message'], '(10290)batch delete message failed');
  assert.deepEqual((r2['errorList'] as { receiptHandle: string }[]).map((e) => e.receiptHandle), ['h0', 'h1', 'h2']);
});

// --- Pipeline

void test('pipeline: Action matched case-insensitively', async () => {
  const { service, call } = harness();
  for (const a of ['sendmessage', 'SENDMESSAGE', 'sEnDmEsSaGe']) assertEnvelope(await call({ Action: a, queueName: 'q', msgBody: 'x' }), 0);
  assert.equal(service.submitted.length, 3);
  assertEnvelope(await call({ Action: 'unbinddeadletterqueue', queueName: 'q' }), 0);
});

void test('pipeline: GET reads the query; POST reads the body, else falls back to the query', async () => {
  const { service, raw } = harness();
  const q = 'Action=SendMessage&queueName=fromQuery&msgBody=a+b';
  assertEnvelope(await raw({ method: 'GET', query: q, body: Buffer.from('Action=SendMessage&queueName=fromBody&msgBody=x') }), 0);
  assertEnvelope(await raw({ method: 'POST', query: q }), 0);
  assertEnvelope(await raw({ method: 'POST', query: q, body: Buffer.from('Action=SendMessage&queueName=fromBody&msgBody=x') }), 0);
  assertEnvelope(await raw({ method: 'get', query: q }), 0);
  assert.deepEqual(service.submitted.map((c) => (c as { queueName: string }).queueName), ['fromQuery', 'fromQuery', 'fromBody', 'fromQuery']);
  assert.equal(Buffer.from((service.submitted[0] as { bodies: Uint8Array[] }).bodies[0] as Uint8Array).toString(), 'a b');
});

void test('pipeline: other methods → 4000/10410 naming the method', async () => {
  const { service, raw } = harness();
  for (const m of ['PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS']) {
    const r = await raw({ method: m, query: 'Action=ListQueue' });
    assertEnvelope(r, 4000);
    assert.equal(r['message'], `(10410)unexpected http ${m} only GET or POST is supported`);
  }
  assert.deepEqual(service.calls, []);
});

void test('pipeline: request over the request limit → 4000/10420; malformed form → 4000/10420', async () => {
  const { service, raw } = harness();
  const big = Buffer.alloc(LIMITS.requestBytesMax + 1, 0x61);
  let r = await raw({ body: big });
  assertEnvelope(r, 4000);
  assert.ok((r['message'] as string).startsWith('(10420)cannot parse request, or request size is more than 1MB'));
  r = await raw({ method: 'GET', query: 'a'.repeat(LIMITS.requestBytesMax + 1) });
  assert.ok((r['message'] as string).startsWith('(10420)'));
  r = await raw({ body: Buffer.from('Action=SendMessage&queueName=q&msgBody=%E4%BD') });
  assert.ok((r['message'] as string).startsWith('(10420)'));
  r = await raw({ body: Buffer.from('Action=SendMessage&queueName=q&msgBody=100%') });
  assert.ok((r['message'] as string).startsWith('(10420)'));
  assert.deepEqual(service.calls, []);
});

void test('pipeline: unknown parameters are ignored', async () => {
  const { service, call } = harness();
  assertEnvelope(await call({ Action: 'SendMessage', queueName: 'q', msgBody: 'x', Region: 'gz', RequestClient: 'SDK_GO_1.2.0', Token: 't', whatever: '1' }), 0);
  assert.equal(service.submitted.length, 1);
});

void test('pipeline: clientRequestId echoed as a number when an unsigned integer, on success and error', async () => {
  const { call } = harness();
  let r = await call({ Action: 'SendMessage', queueName: 'q', msgBody: 'x', clientRequestId: '4294967295' });
  assert.equal(r['clientRequestId'], 4294967295);
  r = await call({ Action: 'Nope', clientRequestId: '12' });
  assert.equal(r['clientRequestId'], 12);
  assertEnvelope(r, 4000);
  for (const bad of ['abc', '-1', '1.5', '', '18446744073709551616']) {
    r = await call({ Action: 'ListQueue', clientRequestId: bad });
    assert.equal('clientRequestId' in r, false, bad);
  }
  r = await call({ Action: 'ListQueue', clientRequestId: '18446744073709551615' });
  assert.equal(r['clientRequestId'], 18446744073709551615n);
  assert.ok(responseJson(r).endsWith(',"clientRequestId":18446744073709551615}'));
  assert.equal((JSON.parse(responseJson(r)) as { code: unknown }).code, 0);
});

void test('pipeline: requestIds are unique strings with the configured prefix', async () => {
  const { call } = harness();
  const ids = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const r = await call(i % 2 ? { Action: 'ListQueue' } : {});
    assert.match(r['requestId'] as string, /^req-\d+$/);
    ids.add(r['requestId'] as string);
  }
  assert.equal(ids.size, 50);
});

void test('pipeline: a throwing or rejecting service → 6000/10050, logged, never thrown', async () => {
  const { call, logs } = harness({
    submit: () => {
      throw new Error('disk on fire');
    },
    receive: () => Promise.reject(new TypeError('boom')),
    listQueues: () => {
      throw 'a string'; // eslint-disable-line @typescript-eslint/only-throw-error
    },
  });
  const requests: Record<string, string>[] = [
    { Action: 'SendMessage', queueName: 'q', msgBody: 'x' },
    { Action: 'ReceiveMessage', queueName: 'q' },
    { Action: 'ListQueue' },
  ];
  for (const params of requests) {
    const r = await call(params);
    assertEnvelope(r, 6000);
    assert.equal(r['message'], '(10050)server internal error');
  }
  assert.equal(logs.length, 3);
  assert.match(logs[0] as string, /disk on fire/);
  assert.match(logs[1] as string, /boom/);
  assert.match(logs[2] as string, /a string/);
});

void test('pipeline: a result of the wrong kind from submit is an internal error', async () => {
  const r = await harness({ submit: () => ({ ok: true, kind: 'tick' }) }).call({ Action: 'DeleteQueue', queueName: 'q' });
  assertEnvelope(r, 6000);
});

void test('pipeline: signature mode end to end (spec vector 3), and nothing reaches the service when it fails', async () => {
  const secretId = 'AKIDPcYDclDJCn8D0Xypa4f3pKYUCVYLn3zT';
  const secretKey = 'pPgfLipfEXZ7VcRzhAMIyPaU7UbQyFFx';
  const auth: AuthConfig = { mode: 'signature', credentials: [{ secretId, secretKey }], requireAkidPrefix: true };
  const { service, raw } = harness({}, auth);
  const params = new Map([
    ['Action', 'BatchSendMessage'],
    ['Nonce', '12345'],
    ['RequestClient', 'SDK_JAVA_1.3'],
    ['SecretId', secretId],
    ['SignatureMethod', 'HmacSHA1'],
    ['Timestamp', '1700000000'],
    ['delaySeconds', '0'],
    ['msgBody.1', 'hello world'],
    ['msgBody.2', 'a&b=c'],
    ['queueName', 'test1'],
  ]);
  const sig = computeSignature('POST127.0.0.1:8080/?' + canonicalQuery(params), secretKey, 'HmacSHA1');
  assert.equal(sig, '3Gj+GSb0Uxu507HPwD9e2GiSjyU=');
  const body = Buffer.from(new URLSearchParams([...params, ['Signature', sig]]).toString());
  const ok = await raw({ host: '127.0.0.1:8080', path: '/', body });
  assertEnvelope(ok, 0);
  assert.equal((ok['msgList'] as unknown[]).length, 2);
  assert.equal(service.submitted.length, 1);

  const bad = await raw({ host: '127.0.0.1:8081', path: '/', body });
  assert.deepEqual([bad['code'], bad['message']], [4100, '(10030)authentication failed']);
  const noSig = await raw({ host: '127.0.0.1:8080', path: '/', body: Buffer.from(new URLSearchParams([...params]).toString()) });
  assert.deepEqual([noSig['code'], noSig['message']], [4000, '(10390)lacked of required parameter Signature']);
  const appId = await raw({ body: Buffer.from('Action=SendMessage&appId=1&queueName=q&msgBody=x') });
  assert.equal(appId['code'], 4000);
  assert.equal(service.calls.length, 1);
});

void test("pipeline: 'open' mode accepts the Go SDK appId form but still requires Action", async () => {
  const { service, raw } = harness();
  assertEnvelope(await raw({ body: Buffer.from('Action=SendMessage&appId=1&queueName=q&msgBody=x&clientRequestId=7') }), 0);
  assert.equal(service.submitted.length, 1);
  const r = await raw({ body: Buffer.from('appId=1&queueName=q') });
  assert.equal(r['message'], '(10390)lacked of required parameter Action');
});
