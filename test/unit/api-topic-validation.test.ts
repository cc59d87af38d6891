// Every documented validation error of every topic and subscription action (spec §3.3), driven
// through handleCmqRequest with a recording fake: each must give the right code and module and
// must not reach the service at all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createApiContext, handleCmqRequest } from '../../src/api/http-server';
import { RecordingQueueService } from '../helpers/recording-service';
import { routingKeyValue } from '../../src/api/topic-validation';
import { isError } from '../../src/api/params';

function harness(): { service: RecordingQueueService; call: (params: [string, string][]) => Promise<Record<string, unknown>> } {
  const service = new RecordingQueueService();
  const ctx = createApiContext({ service, auth: { mode: 'open' }, log: () => undefined, requestIdPrefix: 'v-' });
  const call = (params: [string, string][]): Promise<Record<string, unknown>> =>
    handleCmqRequest(ctx, { method: 'POST', host: 'localhost', path: '/', query: '', body: Buffer.from(new URLSearchParams(params).toString()) });
  return { service, call };
}

type Case = [title: string, params: [string, string][], code: number, module: number, messageIncludes?: string];

const T: [string, string] = ['topicName', 't1'];
const S: [string, string] = ['subscriptionName', 's1'];
const list = (name: string, values: string[], base = 1): [string, string][] => values.map((v, i) => [`${name}.${i + base}`, v]);
const n = (count: number, prefix = 'x'): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);
const QUEUE_SUB: [string, string][] = [T, S, ['protocol', 'queue'], ['endpoint', 'q1']];
const HTTP_SUB = (endpoint: string): [string, string][] => [T, S, ['protocol', 'http'], ['endpoint', endpoint]];
const dots = (count: number): string => Array.from({ length: count + 1 }, () => 'a').join('.');

const TOPIC_NAME_CASES: Case[] = [
  ['no topicName', [], 4000, 10390, 'lacked of required parameter topicName'],
  ['empty topicName', [['topicName', '']], 4000, 10390],
  ['topicName starts with a digit', [['topicName', '1t']], 4000, 10590, '(10590)topic name format error'],
  ['topicName of 65 chars', [['topicName', 't'.repeat(65)]], 4000, 10590],
  ['topicName with a dot', [['topicName', 't.x']], 4000, 10590],
];

const SUB_NAME_CASES: Case[] = [
  ['no subscriptionName', [T], 4000, 10390, 'lacked of required parameter subscriptionName'],
  ['subscriptionName with a space', [T, ['subscriptionName', 'a b']], 4000, 10620, '(10620)subscription name format error'],
  ['subscriptionName of 65 chars', [T, ['subscriptionName', 's'.repeat(65)]], 4000, 10620],
];

const PUBLISH_FILTER_CASES = (body: [string, string][]): Case[] => [
  ['6 msgTags', [T, ...body, ...list('msgTag', n(6))], 4000, 10720, '(10720)too many msgTag'],
  ['17 msgTags', [T, ...body, ...list('msgTag', n(17))], 4000, 10720],
  ['a msgTag of 17 chars', [T, ...body, ['msgTag.1', 'm'.repeat(17)]], 4000, 10720],
  ['msgTag indexes with a gap', [T, ...body, ['msgTag.1', 'a'], ['msgTag.3', 'b']], 4000, 10380],
  ['routingKey of 65 bytes', [T, ...body, ['routingKey', 'k'.repeat(65)]], 4000, 10691, '(10691)too many delimeters'],
  ['routingKey of 22 three-byte chars (66 bytes)', [T, ...body, ['routingKey', '路'.repeat(22)]], 4000, 10691],
  ['routingKey with 16 dots', [T, ...body, ['routingKey', dots(16)]], 4000, 10691],
];

const CASES: Record<string, Case[]> = {
  CreateTopic: [
    ...TOPIC_NAME_CASES,
    ['maxMsgSize 1023', [T, ['maxMsgSize', '1023']], 4000, 10350, 'parameter maxMsgSize value'],
    ['maxMsgSize 1048577', [T, ['maxMsgSize', '1048577']], 4000, 10350],
    ['maxMsgSize not a number', [T, ['maxMsgSize', 'big']], 4000, 10360],
    ['filterType 0', [T, ['filterType', '0']], 4000, 10350, 'parameter filterType value'],
    ['filterType 3', [T, ['filterType', '3']], 4000, 10350],
    ['filterType text', [T, ['filterType', 'tag']], 4000, 10360],
  ],
  SetTopicAttributes: [
    ...TOPIC_NAME_CASES,
    ['maxMsgSize 1023', [T, ['maxMsgSize', '1023']], 4000, 10350],
    ['maxMsgSize empty', [T, ['maxMsgSize', '']], 4000, 10360],
  ],
  ListTopic: [
    ['negative offset', [['offset', '-1']], 4000, 10350],
    ['limit not a number', [['limit', 'x']], 4000, 10360],
  ],
  GetTopicAttributes: TOPIC_NAME_CASES,
  DeleteTopic: TOPIC_NAME_CASES,
  PublishMessage: [
    ...TOPIC_NAME_CASES,
    ['no msgBody', [T], 4000, 10390, 'lacked of required parameter msgBody'],
    ['empty msgBody', [T, ['msgBody', '']], 4000, 10120],
    ['msgBody over 1 MiB', [T, ['msgBody', 'b'.repeat(1024 * 1024 + 1)]], 4400, 10230],
    ...PUBLISH_FILTER_CASES([['msgBody', 'hi']]),
  ],
  BatchPublishMessage: [
    ...TOPIC_NAME_CASES,
    ['no msgBody.N', [T], 4000, 10390, 'lacked of required parameter msgBody'],
    ['17 bodies', [T, ...list('msgBody', n(17))], 4000, 10370, 'msgBody parameter batch size is out of range'],
    ['bodies not consecutive', [T, ['msgBody.1', 'a'], ['msgBody.3', 'b']], 4000, 10380],
    ['an empty body', [T, ['msgBody.1', 'a'], ['msgBody.2', '']], 4000, 10120],
    ['bodies totalling over 1 MiB', [T, ['msgBody.1', 'a'.repeat(600_000)], ['msgBody.2', 'b'.repeat(600_000)]], 4470, 10300],
    ...PUBLISH_FILTER_CASES(list('msgBody', ['a', 'b'])),
  ],
  Subscribe: [
    ...TOPIC_NAME_CASES,
    ...SUB_NAME_CASES,
    ['no protocol', [T, S, ['endpoint', 'q1']], 4000, 10390, 'lacked of required parameter protocol'],
    ['protocol https', [T, S, ['protocol', 'https'], ['endpoint', 'https://h/']], 4000, 10510, '(10510)undefined protocol'],
    ['protocol sms', [T, S, ['protocol', 'sms'], ['endpoint', 'q1']], 4000, 10510],
    ['no endpoint', [T, S, ['protocol', 'queue']], 4000, 10390, 'lacked of required parameter endpoint'],
    ['queue endpoint not a queue name', [T, S, ['protocol', 'queue'], ['endpoint', '9lives']], 4000, 10500, '(10500)endpoint format error'],
    ['queue endpoint that is a URL', [T, S, ['protocol', 'queue'], ['endpoint', 'http://h/']], 4000, 10500],
    ['http endpoint with a space', HTTP_SUB('http://h/a b'), 4510, 10570, '(10570)url connot contain any blank characters'],
    ['http endpoint with a tab', HTTP_SUB('http://h/\tb'), 4510, 10570],
    ['http endpoint without http://', HTTP_SUB('ftp://h/'), 4000, 10500],
    ['https endpoint on protocol http', HTTP_SUB('https://h/'), 4000, 10500],
    ['http endpoint with no scheme', HTTP_SUB('h:80/x'), 4000, 10500],
    ['http endpoint of 501 chars', HTTP_SUB('http://h/' + 'p'.repeat(492)), 4000, 10500],
    ['http endpoint that is not a URL', HTTP_SUB('http://[zz/'), 4000, 10500],
    ['notifyStrategy unknown', [...QUEUE_SUB, ['notifyStrategy', 'NEVER']], 4000, 10520, '(10520)undefined notify retry stragety'],
    ['notifyContentFormat XML', [...QUEUE_SUB, ['notifyContentFormat', 'XML']], 4000, 10530, '(10530)undefined notify content format'],
    ['6 filterTags', [...QUEUE_SUB, ...list('filterTag', n(6))], 4000, 10490, '(10490)number of filterTag exceed limit'],
    ['a filterTag of 17 chars', [...QUEUE_SUB, ['filterTag.1', 'f'.repeat(17)]], 4000, 10490],
    ['6 bindingKeys', [...QUEUE_SUB, ...list('bindingKey', n(6))], 4000, 10680, '(10680)too many bindingKey'],
    ['a bindingKey with 16 dots', [...QUEUE_SUB, ['bindingKey.1', dots(16)]], 4000, 10691],
    ['a bindingKey of 65 bytes', [...QUEUE_SUB, ['bindingKey.0', 'k'.repeat(65)]], 4000, 10691],
    ['bindingKey indexes starting at 2', [...QUEUE_SUB, ['bindingKey.2', 'a']], 4000, 10380],
  ],
  ListSubscriptionByTopic: [
    ...TOPIC_NAME_CASES,
    ['offset 1001', [T, ['offset', '1001']], 4000, 10350],
    ['negative limit', [T, ['limit', '-1']], 4000, 10350],
  ],
  SetSubscriptionAttributes: [
    ...TOPIC_NAME_CASES,
    ...SUB_NAME_CASES,
    ['notifyStrategy unknown', [T, S, ['notifyStrategy', 'x']], 4000, 10520],
    ['notifyContentFormat unknown', [T, S, ['notifyContentFormat', 'x']], 4000, 10530],
    ['6 filterTags', [T, S, ...list('filterTag', n(6))], 4000, 10490],
    ['6 bindingKeys', [T, S, ...list('bindingKey', n(6))], 4000, 10680],
    ['a bindingKey with 16 dots', [T, S, ['bindingKey.1', dots(16)]], 4000, 10691],
  ],
  GetSubscriptionAttributes: [...TOPIC_NAME_CASES, ...SUB_NAME_CASES],
  Unsubscribe: [...TOPIC_NAME_CASES, ...SUB_NAME_CASES],
  ClearSubscriptionFilterTags: [...TOPIC_NAME_CASES, ...SUB_NAME_CASES],
  QueryTopicRoute: TOPIC_NAME_CASES,
};

for (const [action, cases] of Object.entries(CASES)) {
  for (const [title, params, code, module, includes] of cases) {
    void test(`${action} validation: ${title} → ${code}/${module}`, async () => {
      const { service, call } = harness();
      const r = await call([['Action', action], ...params]);
      assert.equal(r['code'], code, JSON.stringify(r).slice(0, 300));
      assert.ok((r['message'] as string).startsWith(`(${module})`), r['message'] as string);
      if (includes !== undefined) assert.ok((r['message'] as string).includes(includes), r['message'] as string);
      assert.deepEqual(service.calls, [], 'an invalid request never reaches the service');
    });
  }
}

void test('routingKeyValue: 64 bytes and 15 dots are the largest accepted', () => {
  assert.equal(routingKeyValue('k'.repeat(64)), 'k'.repeat(64));
  assert.equal(routingKeyValue(dots(15)), dots(15));
  assert.equal(routingKeyValue(''), '');
  assert.ok(isError(routingKeyValue('k'.repeat(65))));
  assert.ok(isError(routingKeyValue(dots(16))));
  // 16 chars but 48 bytes: fine; the limit counts bytes.
  assert.equal(routingKeyValue('路'.repeat(16)), '路'.repeat(16));
});

void test('boundaries that are accepted reach the service', async () => {
  const { service, call } = harness();
  const accepted: [string, string][][] = [
    [['Action', 'CreateTopic'], T, ['maxMsgSize', '1024'], ['filterType', '2']],
    [['Action', 'CreateTopic'], T, ['maxMsgSize', '1048576'], ['filterType', '1']],
    [['Action', 'PublishMessage'], T, ['msgBody', 'x'], ...list('msgTag', ['t'.repeat(16), ...n(4)]), ['routingKey', dots(15)]],
    [['Action', 'BatchPublishMessage'], T, ...list('msgBody', n(16), 0)],
    [['Action', 'Subscribe'], T, S, ['protocol', 'HTTP'], ['endpoint', 'http://h/' + 'p'.repeat(491)]],
    [['Action', 'Subscribe'], ...QUEUE_SUB, ...list('filterTag', n(5)), ...list('bindingKey', [dots(15), 'k'.repeat(64), '#', '*.a', 'b'])],
    [['Action', 'ListSubscriptionByTopic'], T, ['offset', '1000'], ['limit', '500']],
  ];
  for (const params of accepted) {
    const r = await call(params);
    assert.equal(r['code'], 0, JSON.stringify(r));
  }
  assert.equal(service.calls.length, accepted.length);
});
