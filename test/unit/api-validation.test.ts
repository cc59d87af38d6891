// Every documented validation error of every queue action, driven through handleCmqRequest with a
// recording fake: each must give the right code and module, and must not reach the service at all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createApiContext, handleCmqRequest } from '../../src/api/http-server';
import { RecordingQueueService } from '../helpers/recording-service';
import { bodyBytes, parseDeadLetterPolicy } from '../../src/api/queue-validation';
import { parseForm, type FormParams } from '../../src/api/form';

function harness(): { service: RecordingQueueService; call: (params: [string, string][]) => Promise<Record<string, unknown>> } {
  const service = new RecordingQueueService();
  const ctx = createApiContext({ service, auth: { mode: 'open' }, log: () => undefined, requestIdPrefix: 'v-' });
  const call = (params: [string, string][]): Promise<Record<string, unknown>> =>
    handleCmqRequest(ctx, { method: 'POST', host: 'localhost', path: '/', query: '', body: Buffer.from(new URLSearchParams(params).toString()) });
  return { service, call };
}

type Case = [title: string, params: [string, string][], code: number, module: number, messageIncludes?: string];

const Q: [string, string] = ['queueName', 'q1'];
const long = (n: number): string => 'h'.repeat(n);
const dlp = (o: unknown): [string, string] => ['deadLetterPolicy', typeof o === 'string' ? o : JSON.stringify(o)];
const batch = (name: string, from: number, count: number, value = (i: number) => `v${i}`): [string, string][] =>
  Array.from({ length: count }, (_, i) => [`${name}.${from + i}`, value(i)] as [string, string]);

const CASES: Record<string, Case[]> = {
  CreateQueue: [
    ['no queueName', [], 4000, 10390, 'lacked of required parameter queueName'],
    ['empty queueName', [['queueName', '']], 4000, 10390],
    ['name starts with a digit', [['queueName', '1abc']], 4000, 10020, '(10020)queue name format error'],
    ['name with a dot', [['queueName', 'a.b']], 4000, 10020],
    ['name with a space', [['queueName', 'a b']], 4000, 10020],
    ['name of 65 chars', [['queueName', 'a'.repeat(65)]], 4000, 10020],
    ['maxMsgHeapNum below range', [Q, ['maxMsgHeapNum', '999999']], 4000, 10350, 'parameter maxMsgHeapNum value'],
    ['maxMsgHeapNum above range', [Q, ['maxMsgHeapNum', '1000000001']], 4000, 10350],
    ['maxMsgHeapNum not a number', [Q, ['maxMsgHeapNum', 'lots']], 4000, 10360, 'parameter maxMsgHeapNum error type'],
    ['pollingWaitSeconds 31', [Q, ['pollingWaitSeconds', '31']], 4000, 10350],
    ['pollingWaitSeconds -1', [Q, ['pollingWaitSeconds', '-1']], 4000, 10350],
    ['visibilityTimeout 0', [Q, ['visibilityTimeout', '0']], 4000, 10350],
    ['visibilityTimeout 43201', [Q, ['visibilityTimeout', '43201']], 4000, 10350],
    ['visibilityTimeout 1.5', [Q, ['visibilityTimeout', '1.5']], 4000, 10360],
    ['maxMsgSize 1023', [Q, ['maxMsgSize', '1023']], 4000, 10350],
    ['maxMsgSize 1048577', [Q, ['maxMsgSize', '1048577']], 4000, 10350],
    ['msgRetentionSeconds 59', [Q, ['msgRetentionSeconds', '59']], 4000, 10350],
    ['msgRetentionSeconds 1296001', [Q, ['msgRetentionSeconds', '1296001']], 4000, 10350],
    ['rewindSeconds -1', [Q, ['rewindSeconds', '-1']], 4000, 10350],
    ['rewindSeconds > msgRetentionSeconds', [Q, ['msgRetentionSeconds', '600'], ['rewindSeconds', '601']], 4000, 10700],
    ['rewindSeconds > default retention', [Q, ['rewindSeconds', '345601']], 4000, 10700],
    ['deadLetterPolicy not JSON', [Q, dlp('{deadLetterQueue:')], 4000, 10710, 'must be a json string'],
    ['deadLetterPolicy an array', [Q, dlp([])], 4000, 10710],
    ['deadLetterPolicy a string', [Q, dlp('"dlq"')], 4000, 10710],
    ['deadLetterPolicy null', [Q, dlp('null')], 4000, 10710],
    ['no deadLetterQueue', [Q, dlp({ policy: 0, maxReceiveCount: 3 })], 4000, 10760],
    ['deadLetterQueue a number', [Q, dlp({ deadLetterQueue: 5, policy: 0, maxReceiveCount: 3 })], 4000, 10760],
    ['deadLetterQueue not a name', [Q, dlp({ deadLetterQueue: 'no such', policy: 0, maxReceiveCount: 3 })], 4000, 10730],
    ['no policy', [Q, dlp({ deadLetterQueue: 'dlq', maxReceiveCount: 3 })], 4000, 10770],
    ['policy 2', [Q, dlp({ deadLetterQueue: 'dlq', policy: 2, maxReceiveCount: 3 })], 4000, 10770],
    ['policy "0"', [Q, dlp({ deadLetterQueue: 'dlq', policy: '0', maxReceiveCount: 3 })], 4000, 10770],
    ['policy 0 without maxReceiveCount', [Q, dlp({ deadLetterQueue: 'dlq', policy: 0 })], 4000, 10720],
    ['maxReceiveCount 0', [Q, dlp({ deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 0 })], 4000, 10720],
    ['maxReceiveCount 1001', [Q, dlp({ deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1001 })], 4000, 10720],
    ['maxReceiveCount 2.5', [Q, dlp({ deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 2.5 })], 4000, 10720],
    ['maxReceiveCount "3"', [Q, dlp({ deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: '3' })], 4000, 10720],
    ['policy 1 without maxTimeToLive', [Q, dlp({ deadLetterQueue: 'dlq', policy: 1, maxReceiveCount: 3 })], 4000, 10720],
    ['maxTimeToLive 299', [Q, dlp({ deadLetterQueue: 'dlq', policy: 1, maxTimeToLive: 299 })], 4000, 10720],
    ['maxTimeToLive 43201', [Q, dlp({ deadLetterQueue: 'dlq', policy: 1, maxTimeToLive: 43201 })], 4000, 10720],
    ['maxTimeToLive ≥ msgRetentionSeconds', [Q, ['msgRetentionSeconds', '600'], dlp({ deadLetterQueue: 'dlq', policy: 1, maxTimeToLive: 600 })], 4000, 10720],
  ],
  SetQueueAttributes: [
    ['no queueName', [['visibilityTimeout', '5']], 4000, 10390],
    ['bad queueName', [['queueName', '-q']], 4000, 10020],
    ['visibilityTimeout 0', [Q, ['visibilityTimeout', '0']], 4000, 10350],
    ['maxMsgSize text', [Q, ['maxMsgSize', 'big']], 4000, 10360],
    ['rewindSeconds > msgRetentionSeconds', [Q, ['msgRetentionSeconds', '60'], ['rewindSeconds', '61']], 4000, 10700],
    ['deadLetterPolicy not JSON', [Q, dlp('x')], 4000, 10710],
    ['deadLetterPolicy bad policy', [Q, dlp({ deadLetterQueue: 'dlq', policy: -1 })], 4000, 10770],
  ],
  GetQueueAttributes: [
    ['no queueName', [], 4000, 10390],
    ['bad queueName', [['queueName', 'x'.repeat(100)]], 4000, 10020],
  ],
  DeleteQueue: [
    ['no queueName', [], 4000, 10390],
    ['bad queueName', [['queueName', '_q']], 4000, 10020],
  ],
  ListQueue: [
    ['offset -1', [['offset', '-1']], 4000, 10350],
    ['offset text', [['offset', 'first']], 4000, 10360],
    ['limit -1', [['limit', '-1']], 4000, 10350],
    ['limit empty', [['limit', '']], 4000, 10360],
  ],
  SendMessage: [
    ['no queueName', [['msgBody', 'x']], 4000, 10390],
    ['bad queueName', [['queueName', 'q/1'], ['msgBody', 'x']], 4000, 10020],
    ['no msgBody', [Q], 4000, 10390, 'lacked of required parameter msgBody'],
    ['empty msgBody', [Q, ['msgBody', '']], 4000, 10120, "(10120)message body can't be empty"],
    ['delaySeconds -1', [Q, ['msgBody', 'x'], ['delaySeconds', '-1']], 4000, 10350],
    ['delaySeconds above max', [Q, ['msgBody', 'x'], ['delaySeconds', '6048001']], 4000, 10350],
    ['delaySeconds text', [Q, ['msgBody', 'x'], ['delaySeconds', 'soon']], 4000, 10360],
  ],
  BatchSendMessage: [
    ['no queueName', batch('msgBody', 1, 2), 4000, 10390],
    ['no msgBody.N', [Q, ['msgBody', 'x']], 4000, 10390, 'lacked of required parameter msgBody'],
    ['index gap', [Q, ['msgBody.1', 'a'], ['msgBody.3', 'c']], 4000, 10380, '(10380)msgBody parameter is not consequent'],
    ['starts at 2', [Q, ['msgBody.2', 'a']], 4000, 10380],
    ['17 items', [Q, ...batch('msgBody', 1, 17)], 4000, 10370, '(10370)msgBody parameter batch size is out of range'],
    ['an empty item', [Q, ['msgBody.0', 'a'], ['msgBody.1', '']], 4000, 10120],
    ['delaySeconds out of range', [Q, ...batch('msgBody', 0, 2), ['delaySeconds', '-5']], 4000, 10350],
  ],
  ReceiveMessage: [
    ['no queueName', [], 4000, 10390],
    ['pollingWaitSeconds 31', [Q, ['pollingWaitSeconds', '31']], 4000, 10350],
    ['pollingWaitSeconds 30000', [Q, ['pollingWaitSeconds', '30000']], 4000, 10350],
    ['pollingWaitSeconds -1', [Q, ['pollingWaitSeconds', '-1']], 4000, 10350],
    ['pollingWaitSeconds text', [Q, ['pollingWaitSeconds', 'x']], 4000, 10360],
  ],
  BatchReceiveMessage: [
    ['no queueName', [['numOfMsg', '3']], 4000, 10390],
    ['no numOfMsg', [Q], 4000, 10390, 'lacked of required parameter numOfMsg'],
    ['numOfMsg 0', [Q, ['numOfMsg', '0']], 4000, 10350],
    ['numOfMsg 17', [Q, ['numOfMsg', '17']], 4000, 10350],
    ['numOfMsg text', [Q, ['numOfMsg', 'ten']], 4000, 10360],
    ['pollingWaitSeconds 31', [Q, ['numOfMsg', '3'], ['pollingWaitSeconds', '31']], 4000, 10350],
  ],
  DeleteMessage: [
    ['no queueName', [['receiptHandle', 'h']], 4000, 10390],
    ['no receiptHandle', [Q], 4000, 10390, 'lacked of required parameter receiptHandle'],
    ['empty receiptHandle', [Q, ['receiptHandle', '']], 4000, 10470, '(10470)receiptHandle error'],
    ['receiptHandle of 257 chars', [Q, ['receiptHandle', long(257)]], 4000, 10470],
  ],
  BatchDeleteMessage: [
    ['no queueName', batch('receiptHandle', 1, 2), 4000, 10390],
    ['no receiptHandle.N', [Q, ['receiptHandle', 'h']], 4000, 10390],
    ['an empty handle', [Q, ['receiptHandle.1', 'h'], ['receiptHandle.2', '']], 4000, 10470],
    ['a handle of 257 chars', [Q, ['receiptHandle.0', long(257)]], 4000, 10470],
    ['index gap', [Q, ['receiptHandle.0', 'a'], ['receiptHandle.2', 'b']], 4000, 10380],
    ['17 handles', [Q, ...batch('receiptHandle', 0, 17)], 4000, 10370],
  ],
  RewindQueue: [
    ['no queueName', [['startConsumeTime', '1700000000']], 4000, 10390],
    ['no startConsumeTime', [Q], 4000, 10390],
    ['startConsumeTime text', [Q, ['startConsumeTime', 'yesterday']], 4000, 10360],
    ['startConsumeTime negative', [Q, ['startConsumeTime', '-1']], 4000, 10350],
  ],
  UnbindDeadLetterQueue: [
    ['no queueName', [], 4000, 10390],
    ['bad queueName', [['queueName', '9']], 4000, 10020],
  ],
  UnbindDeadLetter: [['no queueName', [], 4000, 10390]],
  ListDeadLetterSourceQueues: [
    ['no deadLetterQueueName', [], 4000, 10390, 'lacked of required parameter deadLetterQueueName'],
    ['bad deadLetterQueueName', [['deadLetterQueueName', 'a b']], 4000, 10020],
    ['offset -1', [['deadLetterQueueName', 'dlq'], ['offset', '-1']], 4000, 10350],
  ],
  QueryQueueRoute: [['no queueName', [], 4000, 10390]],
};

for (const [action, cases] of Object.entries(CASES)) {
  for (const [title, params, code, module, includes] of cases) {
    void test(`validation: ${action}: ${title} → ${code}/${module}, service untouched`, async () => {
      const { service, call } = harness();
      const r = await call([['Action', action], ...params]);
      assert.equal(r['code'], code, JSON.stringify(r));
      assert.ok(typeof r['message'] === 'string' && r['message'].startsWith(`(${module})`), JSON.stringify(r));
      if (includes !== undefined) assert.ok((r['message']).includes(includes), `${r['message']} ∌ ${includes}`);
      assert.equal(typeof r['requestId'], 'string');
      assert.deepEqual(service.calls, []);
    });
  }
}

void test('validation: the cases above cover every queue action', async () => {
  const { QUEUE_ACTIONS } = await import('../../src/api/queue-actions');
  assert.deepEqual(Object.keys(CASES).sort(), Object.keys(QUEUE_ACTIONS).sort());
});

void test('validation: a body over 1 MiB of UTF-8 → 4400/10230 (cannot fit in a 1 MB request, so checked directly)', () => {
  const body = (text: string): Map<string, string> => new Map([['msgBody', text]]);
  const ok = bodyBytes(body('é'.repeat(524_288)), 'msgBody');
  assert.ok(Buffer.isBuffer(ok) && ok.length === 1_048_576);
  assert.deepEqual(bodyBytes(body('é'.repeat(524_288) + 'x'), 'msgBody'), { ok: false, error: 'msgTooLarge' });
  // The same from parsed forms, whose bodies are the bytes sent: raw and percent-encoded.
  for (const encode of [(t: string) => t, encodeURIComponent]) {
    const parsed = (text: string): FormParams => {
      const r = parseForm(`Action=SendMessage&msgBody=${encode(text)}`);
      assert.ok(r.ok);
      return r.params;
    };
    const sent = bodyBytes(parsed('é'.repeat(524_288)), 'msgBody');
    assert.ok(Buffer.isBuffer(sent) && sent.equals(Buffer.from('é'.repeat(524_288))));
    assert.deepEqual(bodyBytes(parsed('é'.repeat(524_288) + 'x'), 'msgBody'), { ok: false, error: 'msgTooLarge' });
  }
});

void test('validation: deadLetterPolicy keeps only the field its policy uses', () => {
  assert.deepEqual(parseDeadLetterPolicy('{"deadLetterQueue":"d","policy":0,"maxReceiveCount":5,"maxTimeToLive":1}', undefined), {
    deadLetterQueue: 'd',
    policy: 0,
    maxReceiveCount: 5,
  });
  assert.deepEqual(parseDeadLetterPolicy('{"deadLetterQueue":"d","policy":1,"maxTimeToLive":300,"extra":true}', 345600), {
    deadLetterQueue: 'd',
    policy: 1,
    maxTimeToLive: 300,
  });
});

const COMMON: Case[] = [
  ['no Action', [['queueName', 'q']], 4000, 10390, '(10390)lacked of required parameter Action'],
  ['empty Action', [['Action', '']], 4000, 10390],
  ['unknown Action', [['Action', 'PeekMessage']], 4000, 10430, '(10430)action name PeekMessage is not existed'],
  ['repeated key', [['Action', 'SendMessage'], ['queueName', 'a'], ['queueName', 'b'], ['msgBody', 'x']], 4000, 10330, 'parameter queueName is NOT a repeatable'],
];
for (const [title, params, code, module, includes] of COMMON) {
  void test(`validation: ${title} → ${code}/${module}`, async () => {
    const { service, call } = harness();
    const r = await call(params);
    assert.equal(r['code'], code);
    assert.ok((r['message'] as string).startsWith(`(${module})`), r['message'] as string);
    if (includes !== undefined) assert.ok((r['message'] as string).includes(includes), r['message'] as string);
    assert.deepEqual(service.calls, []);
  });
}
