// Success paths and response shapes of every topic and subscription action (spec §1.5, §3.3)
// through handleCmqRequest with a recording fake service: the commands that reach submit, the
// reads that are made, and the exact field names and JSON types the SDKs read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from '../../src/broker/commands';
import { createApiContext, handleCmqRequest } from '../../src/api/http-server';
import { fail } from '../../src/protocol/errors';
import {
  RecordingQueueService,
  sampleSubscriptionAttributes,
  sampleTopicAttributes,
  type RecordingScripts,
} from '../helpers/recording-service';

function harness(scripts: RecordingScripts = {}) {
  const service = new RecordingQueueService(scripts);
  const ctx = createApiContext({ service, auth: { mode: 'open' }, log: () => undefined, requestIdPrefix: 'req-' });
  const call = (params: [string, string][] | Record<string, string>): Promise<Record<string, unknown>> =>
    handleCmqRequest(ctx, { method: 'POST', host: 'localhost:9600', path: '/', query: '', body: Buffer.from(new URLSearchParams(params).toString()) });
  return { service, call };
}

function assertOk(r: Record<string, unknown>): void {
  assert.equal(r['code'], 0, JSON.stringify(r));
  assert.equal(r['message'], '');
  assert.equal(typeof r['requestId'], 'string');
}

void test('CreateTopic: defaults maxMsgSize 65536 and filterType 1; answers topicId', async () => {
  const { service, call } = harness();
  const r = await call({ Action: 'CreateTopic', topicName: 'news' });
  assertOk(r);
  assert.equal(r['topicId'], 'topic-news');
  assert.deepEqual(service.submitted, [{ kind: 'createTopic', topicName: 'news', maxMsgSize: 65536, filterType: 1 }]);
});

void test('CreateTopic: Java-style full parameters reach submit typed', async () => {
  const { service, call } = harness();
  assertOk(await call({ Action: 'CreateTopic', topicName: 'routes', maxMsgSize: '1048576', filterType: '2' }));
  assert.deepEqual(service.submitted, [{ kind: 'createTopic', topicName: 'routes', maxMsgSize: 1048576, filterType: 2 }]);
});

void test('CreateTopic: broker errors are passed through (4460/10660, 4450/10610)', async () => {
  const { call } = harness({ submit: () => fail('topicExists') });
  const r = await call({ Action: 'CreateTopic', topicName: 'news' });
  assert.equal(r['code'], 4460);
  assert.equal(r['message'], '(10660)topic is already existed,case insensitive');
  const { call: call2 } = harness({ submit: () => fail('topicLimit') });
  assert.equal((await call2({ Action: 'CreateTopic', topicName: 'n' }))['code'], 4450);
});

void test('SetTopicAttributes: maxMsgSize submitted; without it, only an existence check', async () => {
  const { service, call } = harness();
  assertOk(await call({ Action: 'SetTopicAttributes', topicName: 'news', maxMsgSize: '2048', filterType: '2' }));
  assert.deepEqual(service.submitted, [{ kind: 'setTopicAttributes', topicName: 'news', maxMsgSize: 2048 }]);
  assertOk(await call({ Action: 'SetTopicAttributes', topicName: 'news' }));
  assert.deepEqual(service.calls.at(-1), { method: 'getTopicAttributes', topicName: 'news' });
  assert.equal(service.submitted.length, 1);
  const { call: missing } = harness({ getTopicAttributes: () => undefined });
  const r = await missing({ Action: 'SetTopicAttributes', topicName: 'gone' });
  assert.equal(r['code'], 4440);
  assert.equal(r['message'], '(10600)topic is not existed, or deleted');
});

void test('ListTopic: totalCount and topicList [{topicId, topicName}]; paging parameters passed', async () => {
  const { service, call } = harness({
    listTopics: () => ({ totalCount: 3, topicList: [{ topicId: 'topic-a', topicName: 'a' }] }),
  });
  const r = await call({ Action: 'ListTopic', searchWord: 'a', offset: '2', limit: '99' });
  assertOk(r);
  assert.equal(r['totalCount'], 3);
  assert.deepEqual(r['topicList'], [{ topicId: 'topic-a', topicName: 'a' }]);
  assert.deepEqual(service.calls, [{ method: 'listTopics', searchWord: 'a', offset: 2, limit: 50 }]);
  const r2 = await call({ Action: 'ListTopic' });
  assert.deepEqual(service.calls.at(-1), { method: 'listTopics', searchWord: undefined, offset: 0, limit: 20 });
  assertOk(r2);
});

void test('GetTopicAttributes: every documented field with its JSON type; 4440/10600 when missing', async () => {
  const { call } = harness({ getTopicAttributes: (name) => (name === 'news' ? { ...sampleTopicAttributes('news'), msgCount: 4, filterType: 2 } : undefined) });
  const r = await call({ Action: 'GetTopicAttributes', topicName: 'news' });
  assertOk(r);
  for (const f of ['msgCount', 'maxMsgSize', 'msgRetentionSeconds', 'createTime', 'lastModifyTime', 'filterType', 'createUin', 'qps']) {
    assert.equal(typeof r[f], 'number', f);
  }
  assert.equal(r['msgCount'], 4);
  assert.equal(r['maxMsgSize'], 65536);
  assert.equal(r['msgRetentionSeconds'], 86400);
  assert.equal(r['filterType'], 2);
  assert.equal(r['topicId'], 'topic-news');
  assert.deepEqual(r['tags'], []);
  const missing = await call({ Action: 'GetTopicAttributes', topicName: 'other' });
  assert.equal(missing['code'], 4440);
  assert.equal(missing['message'], '(10600)topic is not existed, or deleted');
});

void test('QueryTopicRoute: an empty addr list for a topic that exists; 4440/10600 when missing', async () => {
  const { service, call } = harness({ getTopicAttributes: (name) => (name === 'news' ? sampleTopicAttributes('news') : undefined) });
  const r = await call({ Action: 'QueryTopicRoute', topicName: 'news' });
  assertOk(r);
  assert.deepEqual(r['addr'], []);
  assert.deepEqual(service.calls, [{ method: 'getTopicAttributes', topicName: 'news' }]);
  assert.deepEqual(service.submitted, [], 'a read: nothing is written');
  const missing = await call({ Action: 'QueryTopicRoute', topicName: 'other' });
  assert.equal(missing['code'], 4440);
  assert.equal(missing['message'], '(10600)topic is not existed, or deleted');
  assert.equal(missing['addr'], undefined);
});

void test('DeleteTopic: submitted; 4000/10540 from the broker passed through', async () => {
  const { service, call } = harness();
  assertOk(await call({ Action: 'DeleteTopic', topicName: 'news' }));
  assert.deepEqual(service.submitted, [{ kind: 'deleteTopic', topicName: 'news' }]);
  const { call: busy } = harness({ submit: () => fail('topicHasSubscriptions') });
  const r = await busy({ Action: 'DeleteTopic', topicName: 'news' });
  assert.equal(r['code'], 4000);
  assert.ok(String(r['message']).startsWith('(10540)'));
});

void test('PublishMessage: body, tags and routingKey reach submit; msgId is a string', async () => {
  const { service, call } = harness();
  const r = await call([
    ['Action', 'PublishMessage'],
    ['topicName', 'news'],
    ['msgBody', 'hello wörld'],
    ['msgTag.1', 'a'],
    ['msgTag.2', ''],
    ['msgTag.3', 'b'],
    ['routingKey', 'x.y'],
  ]);
  assertOk(r);
  assert.equal(r['msgId'], '1');
  const [cmd] = service.submitted as [Extract<Command, { kind: 'publishMessages' }>];
  assert.equal(cmd.kind, 'publishMessages');
  assert.equal(cmd.topicName, 'news');
  assert.deepEqual(cmd.bodies.map((b) => Buffer.from(b).toString('utf8')), ['hello wörld']);
  assert.deepEqual(cmd.msgTags, ['a', 'b'], 'empty tags are dropped');
  assert.equal(cmd.routingKey, 'x.y');
});

void test('PublishMessage: Python sends an empty routingKey; it reaches the broker as ""', async () => {
  const { service, call } = harness();
  assertOk(await call({ Action: 'PublishMessage', topicName: 'news', msgBody: 'x', routingKey: '' }));
  assert.deepEqual((service.submitted[0] as Extract<Command, { kind: 'publishMessages' }>).msgTags, []);
  assert.equal((service.submitted[0] as Extract<Command, { kind: 'publishMessages' }>).routingKey, '');
});

void test('PublishMessage: broker errors 6030/10650, 6030/10730, 4000/10700, 4400/10230 passed through', async () => {
  for (const [name, code, module] of [
    ['topicNoSubscription', 6030, 10650],
    ['topicNoMatch', 6030, 10730],
    ['routingKeyMissing', 4000, 10700],
    ['msgTooLarge', 4400, 10230],
    ['topicNotExist', 4440, 10600],
  ] as const) {
    const { call } = harness({ submit: () => fail(name) });
    const r = await call({ Action: 'PublishMessage', topicName: 'news', msgBody: 'x' });
    assert.equal(r['code'], code, name);
    assert.ok(String(r['message']).startsWith(`(${module})`), name);
  }
});

void test('BatchPublishMessage: bodies in index order (Go numbers from 0); msgList [{msgId}]', async () => {
  const { service, call } = harness();
  const r = await call([
    ['Action', 'BatchPublishMessage'],
    ['topicName', 'news'],
    ['msgBody.1', 'second'],
    ['msgBody.0', 'first'],
    ['msgTag.0', 't'],
  ]);
  assertOk(r);
  assert.deepEqual(r['msgList'], [{ msgId: '1' }, { msgId: '2' }]);
  const cmd = service.submitted[0] as Extract<Command, { kind: 'publishMessages' }>;
  assert.deepEqual(cmd.bodies.map((b) => Buffer.from(b).toString('utf8')), ['first', 'second']);
  assert.deepEqual(cmd.msgTags, ['t']);
});

void test('BatchPublishMessage: a wrong number of msgIds from the service is an internal error', async () => {
  const { call } = harness({ submit: () => ({ ok: true, kind: 'publishMessages', msgIds: ['1'], deliveredQueues: [], pushes: 0 }) });
  const r = await call({ Action: 'BatchPublishMessage', topicName: 'news', 'msgBody.1': 'a', 'msgBody.2': 'b' });
  assert.equal(r['code'], 6000);
});

void test('Subscribe: queue subscription defaults (SIMPLIFIED, EXPONENTIAL_DECAY_RETRY); subscriptionId', async () => {
  const { service, call } = harness();
  const r = await call({ Action: 'Subscribe', topicName: 'news', subscriptionName: 'toQ', protocol: 'QUEUE', endpoint: 'inbox' });
  assertOk(r);
  assert.equal(r['subscriptionId'], 'subsc-toq');
  assert.deepEqual(service.submitted, [
    {
      kind: 'subscribe',
      topicName: 'news',
      subscriptionName: 'toQ',
      protocol: 'queue',
      endpoint: 'inbox',
      notifyStrategy: 'EXPONENTIAL_DECAY_RETRY',
      notifyContentFormat: 'SIMPLIFIED',
      filterTags: [],
      bindingKeys: [],
    },
  ]);
});

void test('Subscribe: Java sends JSON for a queue subscription and it is accepted (spec §3.5 [rec])', async () => {
  const { service, call } = harness();
  assertOk(
    await call({ Action: 'Subscribe', topicName: 'news', subscriptionName: 's', protocol: 'queue', endpoint: 'inbox', notifyContentFormat: 'JSON', notifyStrategy: 'BACKOFF_RETRY' }),
  );
  const cmd = service.submitted[0] as Extract<Command, { kind: 'subscribe' }>;
  assert.equal(cmd.notifyContentFormat, 'JSON');
  assert.equal(cmd.notifyStrategy, 'BACKOFF_RETRY');
});

void test('Subscribe: http subscription with filters; strategy and format matched in any case', async () => {
  const { service, call } = harness();
  assertOk(
    await call([
      ['Action', 'Subscribe'],
      ['topicName', 'news'],
      ['subscriptionName', 'hook'],
      ['protocol', 'Http'],
      ['endpoint', 'http://127.0.0.1:8080/push?x=1'],
      ['notifyStrategy', 'backoff_retry'],
      ['notifyContentFormat', 'simplified'],
      ['filterTag.1', 'a'],
      ['filterTag.2', 'b'],
      ['bindingKey.1', 'x.*'],
    ]),
  );
  assert.deepEqual(service.submitted, [
    {
      kind: 'subscribe',
      topicName: 'news',
      subscriptionName: 'hook',
      protocol: 'http',
      endpoint: 'http://127.0.0.1:8080/push?x=1',
      notifyStrategy: 'BACKOFF_RETRY',
      notifyContentFormat: 'SIMPLIFIED',
      filterTags: ['a', 'b'],
      bindingKeys: ['x.*'],
    },
  ]);
});

void test('Subscribe: broker errors 4490/10470, 4500/10480, 4000/10710 passed through', async () => {
  for (const [name, code, module] of [
    ['subscriptionExists', 4490, 10470],
    ['subscriptionLimit', 4500, 10480],
    ['bindingKeyMissing', 4000, 10710],
  ] as const) {
    const { call } = harness({ submit: () => fail(name) });
    const r = await call({ Action: 'Subscribe', topicName: 'news', subscriptionName: 's', protocol: 'queue', endpoint: 'q' });
    assert.equal(r['code'], code, name);
    assert.ok(String(r['message']).startsWith(`(${module})`), name);
  }
});

void test('ListSubscriptionByTopic: totalCount and subscriptionList with the four fields; 4440 passed through', async () => {
  const { service, call } = harness({
    listSubscriptions: (topic) =>
      topic === 'news'
        ? { totalCount: 1, subscriptionList: [{ subscriptionId: 'subsc-1', subscriptionName: 's', protocol: 'queue', endpoint: 'q' }] }
        : fail('topicNotExist'),
  });
  const r = await call({ Action: 'ListSubscriptionByTopic', topicName: 'news', searchWord: 's', offset: '0', limit: '10' });
  assertOk(r);
  assert.equal(r['totalCount'], 1);
  assert.deepEqual(r['subscriptionList'], [{ subscriptionId: 'subsc-1', subscriptionName: 's', protocol: 'queue', endpoint: 'q' }]);
  assert.deepEqual(service.calls[0], { method: 'listSubscriptions', topicName: 'news', searchWord: 's', offset: 0, limit: 10 });
  await call({ Action: 'ListSubscriptionByTopic', topicName: 'news' });
  assert.deepEqual(service.calls[1], { method: 'listSubscriptions', topicName: 'news', searchWord: undefined, offset: 0, limit: 20 });
  const missing = await call({ Action: 'ListSubscriptionByTopic', topicName: 'gone' });
  assert.equal(missing['code'], 4440);
  assert.ok(String(missing['message']).startsWith('(10600)'));
});

void test('SetSubscriptionAttributes: only the fields sent; protocol and endpoint ignored', async () => {
  const { service, call } = harness();
  assertOk(await call({ Action: 'SetSubscriptionAttributes', topicName: 'news', subscriptionName: 's', protocol: 'http', endpoint: 'x' }));
  assertOk(
    await call([
      ['Action', 'SetSubscriptionAttributes'],
      ['topicName', 'news'],
      ['subscriptionName', 's'],
      ['notifyStrategy', 'BACKOFF_RETRY'],
      ['notifyContentFormat', 'JSON'],
      ['filterTag.1', 'x'],
      ['bindingKey.1', ''],
    ]),
  );
  assert.deepEqual(service.submitted, [
    { kind: 'setSubscriptionAttributes', topicName: 'news', subscriptionName: 's' },
    {
      kind: 'setSubscriptionAttributes',
      topicName: 'news',
      subscriptionName: 's',
      notifyStrategy: 'BACKOFF_RETRY',
      notifyContentFormat: 'JSON',
      filterTags: ['x'],
      bindingKeys: [],
    },
  ]);
});

void test('GetSubscriptionAttributes: every field the SDKs read, with protocal and filterTag/filterTags aliases', async () => {
  const { call } = harness({
    getSubscriptionAttributes: (t, s) =>
      s === 'sub'
        ? { ...sampleSubscriptionAttributes(t, s), filterTags: ['a', 'b'], bindingKeys: ['k.#'], msgCount: 2 }
        : fail('subscriptionNotExist'),
  });
  const r = await call({ Action: 'GetSubscriptionAttributes', topicName: 'news', subscriptionName: 'sub' });
  assertOk(r);
  assert.equal(r['topicOwner'], '0');
  assert.equal(typeof r['topicOwner'], 'string');
  assert.equal(r['msgCount'], 2);
  assert.equal(r['protocol'], 'queue');
  assert.equal(r['protocal'], 'queue');
  assert.equal(r['endpoint'], 'target-queue');
  assert.equal(r['notifyStrategy'], 'EXPONENTIAL_DECAY_RETRY');
  assert.equal(r['notifyContentFormat'], 'SIMPLIFIED');
  assert.equal(typeof r['createTime'], 'number');
  assert.equal(typeof r['lastModifyTime'], 'number');
  assert.deepEqual(r['bindingKey'], ['k.#']);
  assert.deepEqual(r['filterTag'], ['a', 'b']);
  assert.deepEqual(r['filterTags'], ['a', 'b']);
  const missing = await call({ Action: 'GetSubscriptionAttributes', topicName: 'news', subscriptionName: 'other' });
  assert.equal(missing['code'], 4440);
  assert.equal(missing['message'], '(10560)subscription is not existed, or deleted');
});

void test('Unsubscribe and ClearSubscriptionFilterTags are submitted', async () => {
  const { service, call } = harness();
  assertOk(await call({ Action: 'Unsubscribe', topicName: 'news', subscriptionName: 's' }));
  assertOk(await call({ Action: 'ClearSubscriptionFilterTags', topicName: 'news', subscriptionName: 's' }));
  assert.deepEqual(service.submitted, [
    { kind: 'unsubscribe', topicName: 'news', subscriptionName: 's' },
    { kind: 'clearSubscriptionFilterTags', topicName: 'news', subscriptionName: 's' },
  ]);
});

void test("Java's misspelt ClearSUbscriptionFIlterTags reaches clearSubscriptionFilterTags", async () => {
  const { service, call } = harness();
  assertOk(await call({ Action: 'ClearSUbscriptionFIlterTags', topicName: 'news', subscriptionName: 's' }));
  assert.deepEqual(service.submitted, [{ kind: 'clearSubscriptionFilterTags', topicName: 'news', subscriptionName: 's' }]);
});

void test('no client action proposes pushSucceeded or pushFailed', async () => {
  const { service, call } = harness();
  for (const action of ['PushSucceeded', 'PushFailed']) {
    const r = await call({ Action: action, topicName: 'news', subscriptionName: 's', msgId: '1' });
    assert.equal(r['code'], 4000);
    assert.ok(String(r['message']).startsWith('(10430)'));
  }
  assert.deepEqual(service.calls, []);
});

void test('ListSubscriptionByTopic on a missing topic: 4440/10600, or 0 and an empty list with the Java-test compat switch', async () => {
  const missing = { listSubscriptions: () => fail('topicNotExist') };
  const params = { Action: 'ListSubscriptionByTopic', topicName: 'gone' };
  const strict = await harness(missing).call(params);
  assert.equal(strict['code'], 4440);
  assert.match(String(strict['message']), /10600/);

  const service = new RecordingQueueService(missing);
  const ctx = createApiContext({ service, auth: { mode: 'open' }, log: () => undefined, compat: { emptySubscriptionListForMissingTopic: true } });
  const lenient = await handleCmqRequest(ctx, { method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from(new URLSearchParams(params).toString()) });
  assertOk(lenient);
  assert.equal(lenient['totalCount'], 0);
  assert.deepEqual(lenient['subscriptionList'], []);
});

void test('PublishMessage / BatchPublishMessage: the dedupId extension reaches the broker as is; a bad one is 4000/10350', async () => {
  const { service, call } = harness();
  assertOk(await call([['Action', 'PublishMessage'], ['topicName', 'news'], ['msgBody', 'a'], ['dedupId', 'retry-token-1']]));
  assertOk(await call([['Action', 'BatchPublishMessage'], ['topicName', 'news'], ['msgBody.0', 'a'], ['msgBody.1', 'b'], ['dedupId', 'tok']]));
  assertOk(await call([['Action', 'PublishMessage'], ['topicName', 'news'], ['msgBody', 'a']]));
  assert.deepEqual(
    (service.submitted as Extract<Command, { kind: 'publishMessages' }>[]).map((c) => c.dedupId),
    ['retry-token-1', 'tok', undefined],
  );
  for (const bad of ['', 'has space', 'x'.repeat(129), 'é']) {
    const r = await call([['Action', 'PublishMessage'], ['topicName', 'news'], ['msgBody', 'a'], ['dedupId', bad]]);
    assert.deepEqual([r['code'], r['message']], [4000, '(10350)parameter dedupId value or length is out of range'], bad);
  }
});
