// Topics and subscriptions over HTTP against a real server (spec §3): every action's success path
// and documented errors, publishing into queue subscriptions end to end (the three tag rules, the
// routing-key rules), a batch landing in two queues, and Java's misspelt action name.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { arrayOf, err, nowSec, ok, startTestServer, uniqueName, type Params, type TestServer } from '../helpers/http-harness';

let s: TestServer;

before(async () => {
  s = await startTestServer();
});

after(async () => {
  await s.close();
});

async function newTopic(prefix: string, params: Params = {}): Promise<string> {
  const name = uniqueName(prefix);
  const r = ok(await s.call('CreateTopic', { topicName: name, ...params }));
  assert.equal(typeof r['topicId'], 'string');
  return name;
}

async function newQueue(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  ok(await s.call('CreateQueue', { queueName: name }));
  return name;
}

async function subscribeQueue(topic: string, queue: string, extra: Params = {}): Promise<string> {
  const sub = uniqueName('sub');
  const r = ok(await s.call('Subscribe', { topicName: topic, subscriptionName: sub, protocol: 'queue', endpoint: queue, ...extra }));
  assert.equal(typeof r['subscriptionId'], 'string');
  return sub;
}

/** Every body currently in the queue (received and deleted), in order. */
async function drain(queue: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const r = await s.call('BatchReceiveMessage', { queueName: queue, numOfMsg: 16, pollingWaitSeconds: 0 });
    if (r.code === 7000) return out;
    ok(r);
    const list = r['msgInfoList'] as { msgBody: string; receiptHandle: string }[];
    for (const m of list) {
      out.push(m.msgBody);
      ok(await s.call('DeleteMessage', { queueName: queue, receiptHandle: m.receiptHandle }));
    }
  }
}

describe('topic management', () => {
  test('CreateTopic → GetTopicAttributes: documented defaults and JSON types', async () => {
    const before = nowSec();
    const t = await newTopic('t-attrs');
    const a = ok(await s.call('GetTopicAttributes', { topicName: t }));
    for (const f of ['msgCount', 'maxMsgSize', 'msgRetentionSeconds', 'createTime', 'lastModifyTime', 'filterType', 'createUin', 'qps']) {
      assert.equal(typeof a[f], 'number', `${f} in ${JSON.stringify(a)}`);
    }
    assert.equal(a['msgCount'], 0);
    assert.equal(a['maxMsgSize'], 65536);
    assert.equal(a['msgRetentionSeconds'], 86400);
    assert.equal(a['filterType'], 1);
    assert.ok((a['createTime'] as number) >= before - 1 && (a['createTime'] as number) <= nowSec() + 1);
    assert.equal(typeof a['topicId'], 'string');
    assert.deepEqual(a['tags'], []);
  });

  test('CreateTopic with maxMsgSize 1048576 and filterType 2 (Java style)', async () => {
    const t = await newTopic('t-java', { maxMsgSize: 1048576, filterType: 2 });
    const a = ok(await s.call('GetTopicAttributes', { topicName: t }));
    assert.equal(a['maxMsgSize'], 1048576);
    assert.equal(a['filterType'], 2);
  });

  test('CreateTopic errors: name format 10590, range 10350, exists 4460 (case-insensitive)', async () => {
    err(await s.call('CreateTopic', { topicName: '1bad' }), 4000, 10590);
    err(await s.call('CreateTopic', { topicName: 'ok', maxMsgSize: 1023 }), 4000, 10350);
    err(await s.call('CreateTopic', { topicName: 'ok', filterType: 3 }), 4000, 10350);
    err(await s.call('CreateTopic', {}), 4000, 10390);
    const t = await newTopic('t-dup');
    err(await s.call('CreateTopic', { topicName: t }), 4460, 10660);
    err(await s.call('CreateTopic', { topicName: t.toUpperCase() }), 4460, 10660);
  });

  test('SetTopicAttributes changes maxMsgSize and lastModifyTime stays ≥ createTime; filterType cannot change', async () => {
    const t = await newTopic('t-set');
    ok(await s.call('SetTopicAttributes', { topicName: t, maxMsgSize: 2048, filterType: 2 }));
    const a = ok(await s.call('GetTopicAttributes', { topicName: t }));
    assert.equal(a['maxMsgSize'], 2048);
    assert.equal(a['filterType'], 1);
    assert.ok((a['lastModifyTime'] as number) >= (a['createTime'] as number));
    ok(await s.call('SetTopicAttributes', { topicName: t }));
    err(await s.call('SetTopicAttributes', { topicName: t, maxMsgSize: 1048577 }), 4000, 10350);
    err(await s.call('SetTopicAttributes', { topicName: uniqueName('none'), maxMsgSize: 2048 }), 4440, 10600);
    err(await s.call('SetTopicAttributes', { topicName: uniqueName('none') }), 4440, 10600);
  });

  test('ListTopic: totalCount and topicList, searchWord and paging', async () => {
    const word = `lst${Math.random().toString(36).slice(2, 8)}`;
    const names = [`${word}-a`, `${word}-b`, `${word}-c`];
    for (const n of names) ok(await s.call('CreateTopic', { topicName: n }));
    const all = ok(await s.call('ListTopic', { searchWord: word }));
    assert.equal(all['totalCount'], 3);
    const list = all['topicList'] as { topicId: string; topicName: string }[];
    assert.deepEqual(list.map((x) => x.topicName).sort(), names);
    for (const x of list) assert.equal(typeof x.topicId, 'string');
    const page = ok(await s.call('ListTopic', { searchWord: word, offset: 1, limit: 1 }));
    assert.equal(page['totalCount'], 3);
    assert.equal((page['topicList'] as unknown[]).length, 1);
    const plain = ok(await s.call('ListTopic'));
    assert.equal(typeof plain['totalCount'], 'number');
    assert.ok(Array.isArray(plain['topicList']));
  });

  test('GetTopicAttributes of a missing topic → 4440/10600', async () => {
    err(await s.call('GetTopicAttributes', { topicName: uniqueName('none') }), 4440, 10600);
  });

  test('DeleteTopic: refused with subscriptions (4000/10540), then deleted; again → 4440/10600', async () => {
    const t = await newTopic('t-del');
    const q = await newQueue('q-del');
    const sub = await subscribeQueue(t, q);
    err(await s.call('DeleteTopic', { topicName: t }), 4000, 10540);
    ok(await s.call('Unsubscribe', { topicName: t, subscriptionName: sub }));
    ok(await s.call('DeleteTopic', { topicName: t }));
    err(await s.call('GetTopicAttributes', { topicName: t }), 4440, 10600);
    err(await s.call('DeleteTopic', { topicName: t }), 4440, 10600);
    err(await s.call('ListSubscriptionByTopic', { topicName: t }), 4440, 10600);
  });
});

describe('subscriptions', () => {
  test('Subscribe (queue, protocol in upper case) → GetSubscriptionAttributes with every SDK field', async () => {
    const t = await newTopic('t-sub');
    const q = await newQueue('q-sub');
    const sub = await subscribeQueue(t, q, { protocol: 'QUEUE', notifyContentFormat: 'JSON', 'filterTag.1': 'a', 'filterTag.2': 'b' });
    const a = ok(await s.call('GetSubscriptionAttributes', { topicName: t, subscriptionName: sub }));
    assert.equal(typeof a['topicOwner'], 'string');
    assert.equal(a['msgCount'], 0);
    assert.equal(a['protocol'], 'queue');
    assert.equal(a['protocal'], 'queue');
    assert.equal(a['endpoint'], q);
    assert.equal(a['notifyStrategy'], 'EXPONENTIAL_DECAY_RETRY');
    assert.equal(a['notifyContentFormat'], 'JSON');
    assert.equal(typeof a['createTime'], 'number');
    assert.equal(typeof a['lastModifyTime'], 'number');
    assert.deepEqual(a['bindingKey'], []);
    assert.deepEqual(a['filterTag'], ['a', 'b']);
    assert.deepEqual(a['filterTags'], ['a', 'b']);
  });

  test('Subscribe (http) with defaults JSON and EXPONENTIAL_DECAY_RETRY', async () => {
    const t = await newTopic('t-http');
    ok(await s.call('Subscribe', { topicName: t, subscriptionName: 'hook', protocol: 'http', endpoint: 'http://127.0.0.1:9/push' }));
    const a = ok(await s.call('GetSubscriptionAttributes', { topicName: t, subscriptionName: 'hook' }));
    assert.equal(a['protocol'], 'http');
    assert.equal(a['endpoint'], 'http://127.0.0.1:9/push');
    assert.equal(a['notifyContentFormat'], 'JSON');
    assert.equal(a['notifyStrategy'], 'EXPONENTIAL_DECAY_RETRY');
    ok(await s.call('Unsubscribe', { topicName: t, subscriptionName: 'hook' }));
  });

  test('Subscribe errors: every documented parameter code, exists 4490/10470, missing topic 4440/10600', async () => {
    const t = await newTopic('t-suberr');
    const base = { topicName: t, subscriptionName: 's1' };
    err(await s.call('Subscribe', { ...base, subscriptionName: 'bad name', protocol: 'queue', endpoint: 'q' }), 4000, 10620);
    err(await s.call('Subscribe', { ...base, protocol: 'sms', endpoint: 'q' }), 4000, 10510);
    err(await s.call('Subscribe', { ...base, protocol: 'http', endpoint: 'ftp://x/' }), 4000, 10500);
    err(await s.call('Subscribe', { ...base, protocol: 'http', endpoint: 'http://x/' + 'p'.repeat(500) }), 4000, 10500);
    err(await s.call('Subscribe', { ...base, protocol: 'http', endpoint: 'http://x/a b' }), 4510, 10570);
    err(await s.call('Subscribe', { ...base, protocol: 'queue', endpoint: '-q' }), 4000, 10500);
    err(await s.call('Subscribe', { ...base, protocol: 'queue', endpoint: 'q', notifyStrategy: 'SOMETIMES' }), 4000, 10520);
    err(await s.call('Subscribe', { ...base, protocol: 'queue', endpoint: 'q', notifyContentFormat: 'XML' }), 4000, 10530);
    err(await s.call('Subscribe', { ...base, protocol: 'queue', endpoint: 'q', ...arrayOf('filterTag', ['1', '2', '3', '4', '5', '6']) }), 4000, 10490);
    err(await s.call('Subscribe', { ...base, protocol: 'queue', endpoint: 'q', ...arrayOf('bindingKey', ['1', '2', '3', '4', '5', '6']) }), 4000, 10680);
    err(await s.call('Subscribe', { ...base, protocol: 'queue', endpoint: 'q', 'bindingKey.1': 'a.'.repeat(16) + 'a' }), 4000, 10691);
    err(await s.call('Subscribe', { ...base, topicName: uniqueName('none'), protocol: 'queue', endpoint: 'q' }), 4440, 10600);
    ok(await s.call('Subscribe', { ...base, protocol: 'queue', endpoint: 'q' }));
    err(await s.call('Subscribe', { ...base, subscriptionName: 'S1', protocol: 'queue', endpoint: 'q' }), 4490, 10470);
  });

  test('Subscribe on a filterType 2 topic without a bindingKey → 4000/10710', async () => {
    const t = await newTopic('t-rk', { filterType: 2 });
    err(await s.call('Subscribe', { topicName: t, subscriptionName: 's', protocol: 'queue', endpoint: 'q' }), 4000, 10710);
    ok(await s.call('Subscribe', { topicName: t, subscriptionName: 's', protocol: 'queue', endpoint: 'q', 'bindingKey.1': '#' }));
  });

  test('ListSubscriptionByTopic: totalCount, subscriptionList fields, searchWord and paging', async () => {
    const t = await newTopic('t-lsub');
    for (const n of ['alpha', 'beta', 'alpine']) {
      ok(await s.call('Subscribe', { topicName: t, subscriptionName: n, protocol: 'queue', endpoint: 'somequeue' }));
    }
    const all = ok(await s.call('ListSubscriptionByTopic', { topicName: t }));
    assert.equal(all['totalCount'], 3);
    const list = all['subscriptionList'] as Record<string, unknown>[];
    assert.deepEqual(list.map((x) => x['subscriptionName']).sort(), ['alpha', 'alpine', 'beta']);
    for (const x of list) {
      assert.equal(typeof x['subscriptionId'], 'string');
      assert.equal(x['protocol'], 'queue');
      assert.equal(x['endpoint'], 'somequeue');
    }
    const al = ok(await s.call('ListSubscriptionByTopic', { topicName: t, searchWord: 'al', offset: 1, limit: 1 }));
    assert.equal(al['totalCount'], 2);
    assert.equal((al['subscriptionList'] as unknown[]).length, 1);
    err(await s.call('ListSubscriptionByTopic', { topicName: t, offset: 1001 }), 4000, 10350);
  });

  test('SetSubscriptionAttributes replaces tag sets and keeps the rest; errors 4440/10560, 10520', async () => {
    const t = await newTopic('t-ssub');
    const q = await newQueue('q-ssub');
    const sub = await subscribeQueue(t, q, { 'filterTag.1': 'a' });
    ok(await s.call('SetSubscriptionAttributes', { topicName: t, subscriptionName: sub, notifyStrategy: 'BACKOFF_RETRY', 'filterTag.1': 'x', 'filterTag.2': 'y' }));
    const a = ok(await s.call('GetSubscriptionAttributes', { topicName: t, subscriptionName: sub }));
    assert.equal(a['notifyStrategy'], 'BACKOFF_RETRY');
    assert.deepEqual(a['filterTag'], ['x', 'y']);
    assert.equal(a['notifyContentFormat'], 'SIMPLIFIED');
    assert.equal(a['endpoint'], q);
    err(await s.call('SetSubscriptionAttributes', { topicName: t, subscriptionName: 'nobody' }), 4440, 10560);
    err(await s.call('SetSubscriptionAttributes', { topicName: t, subscriptionName: sub, notifyStrategy: 'x' }), 4000, 10520);
    err(await s.call('GetSubscriptionAttributes', { topicName: t, subscriptionName: 'nobody' }), 4440, 10560);
    err(await s.call('GetSubscriptionAttributes', { topicName: uniqueName('none'), subscriptionName: sub }), 4440, 10600);
  });

  test('SetSubscriptionAttributes cannot empty the bindingKeys of a filterType 2 subscription (10710)', async () => {
    const t = await newTopic('t-ssub2', { filterType: 2 });
    ok(await s.call('Subscribe', { topicName: t, subscriptionName: 's', protocol: 'queue', endpoint: 'q', 'bindingKey.1': 'a.*' }));
    err(await s.call('SetSubscriptionAttributes', { topicName: t, subscriptionName: 's', 'bindingKey.1': '' }), 4000, 10710);
    ok(await s.call('SetSubscriptionAttributes', { topicName: t, subscriptionName: 's', 'bindingKey.1': 'b.#' }));
    const a = ok(await s.call('GetSubscriptionAttributes', { topicName: t, subscriptionName: 's' }));
    assert.deepEqual(a['bindingKey'], ['b.#']);
  });

  test("ClearSubscriptionFilterTags, also as Java's misspelt ClearSUbscriptionFIlterTags", async () => {
    const t = await newTopic('t-clear');
    for (const [sub, action] of [
      ['c1', 'ClearSubscriptionFilterTags'],
      ['c2', 'ClearSUbscriptionFIlterTags'],
    ] as const) {
      ok(await s.call('Subscribe', { topicName: t, subscriptionName: sub, protocol: 'queue', endpoint: 'q', 'filterTag.1': 'a' }));
      ok(await s.call(action, { topicName: t, subscriptionName: sub }));
      const a = ok(await s.call('GetSubscriptionAttributes', { topicName: t, subscriptionName: sub }));
      assert.deepEqual(a['filterTag'], [], action);
      assert.deepEqual(a['filterTags'], [], action);
    }
    err(await s.call('ClearSUbscriptionFIlterTags', { topicName: t, subscriptionName: 'nobody' }), 4440, 10560);
  });

  test('Unsubscribe: gone afterwards; again → 4440/10560', async () => {
    const t = await newTopic('t-unsub');
    ok(await s.call('Subscribe', { topicName: t, subscriptionName: 'u', protocol: 'queue', endpoint: 'q' }));
    ok(await s.call('Unsubscribe', { topicName: t, subscriptionName: 'u' }));
    const l = ok(await s.call('ListSubscriptionByTopic', { topicName: t }));
    assert.equal(l['totalCount'], 0);
    assert.deepEqual(l['subscriptionList'], []);
    err(await s.call('Unsubscribe', { topicName: t, subscriptionName: 'u' }), 4440, 10560);
  });
});

describe('publishing', () => {
  test('PublishMessage with no subscription → 6030/10650; to a missing topic → 4440/10600', async () => {
    const t = await newTopic('t-nosub');
    err(await s.call('PublishMessage', { topicName: t, msgBody: 'x' }), 6030, 10650);
    err(await s.call('BatchPublishMessage', { topicName: t, 'msgBody.1': 'x' }), 6030, 10650);
    err(await s.call('PublishMessage', { topicName: uniqueName('none'), msgBody: 'x' }), 4440, 10600);
  });

  test('PublishMessage into a queue subscription: the raw body arrives, msgId is a string and is kept', async () => {
    const t = await newTopic('t-pub');
    const q = await newQueue('q-pub');
    await subscribeQueue(t, q, { notifyContentFormat: 'JSON' });
    const r = ok(await s.call('PublishMessage', { topicName: t, msgBody: 'publishMessage', routingKey: '' }));
    assert.equal(typeof r['msgId'], 'string');
    const m = ok(await s.call('ReceiveMessage', { queueName: q, pollingWaitSeconds: 0 }));
    assert.equal(m['msgBody'], 'publishMessage');
    assert.equal(m['msgId'], r['msgId']);
  });

  test('a publish wakes a long poll waiting on the subscribed queue', async () => {
    const t = await newTopic('t-wake');
    const q = await newQueue('q-wake');
    await subscribeQueue(t, q);
    const waiting = s.call('ReceiveMessage', { queueName: q, pollingWaitSeconds: 10 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    ok(await s.call('PublishMessage', { topicName: t, msgBody: 'wake' }));
    const m = ok(await waiting);
    assert.equal(m['msgBody'], 'wake');
    assert.ok(Date.now() - started < 5000, 'woken by the publish, not by the wait running out');
  });

  test('body size is checked against the topic maxMsgSize (4400/10230)', async () => {
    const t = await newTopic('t-size', { maxMsgSize: 1024 });
    const q = await newQueue('q-size');
    await subscribeQueue(t, q);
    ok(await s.call('PublishMessage', { topicName: t, msgBody: 'x'.repeat(1024) }));
    err(await s.call('PublishMessage', { topicName: t, msgBody: 'x'.repeat(1025) }), 4400, 10230);
    err(await s.call('BatchPublishMessage', { topicName: t, 'msgBody.1': 'ok', 'msgBody.2': 'x'.repeat(1025) }), 4400, 10230);
    assert.deepEqual(await drain(q), ['x'.repeat(1024)]);
  });

  test('publish parameter errors: msgTag 10720, routingKey 10691, empty body 10120, 17 bodies 10370', async () => {
    const t = await newTopic('t-perr');
    err(await s.call('PublishMessage', { topicName: t, msgBody: 'x', ...arrayOf('msgTag', ['1', '2', '3', '4', '5', '6']) }), 4000, 10720);
    err(await s.call('PublishMessage', { topicName: t, msgBody: 'x', 'msgTag.1': 'x'.repeat(17) }), 4000, 10720);
    err(await s.call('PublishMessage', { topicName: t, msgBody: 'x', routingKey: 'a.'.repeat(16) + 'a' }), 4000, 10691);
    err(await s.call('PublishMessage', { topicName: t, msgBody: 'x', routingKey: 'k'.repeat(65) }), 4000, 10691);
    err(await s.call('PublishMessage', { topicName: t, msgBody: '' }), 4000, 10120);
    const bodies = Array.from({ length: 17 }, (_, i) => `b${i}`);
    err(await s.call('BatchPublishMessage', { topicName: t, ...arrayOf('msgBody', bodies) }), 4000, 10370);
  });

  test('tag filtering (filterType 1): the three rules end to end; no match → 6030/10730', async () => {
    const t = await newTopic('t-tags');
    const all = await newQueue('q-all');
    const ab = await newQueue('q-ab');
    const c = await newQueue('q-c');
    await subscribeQueue(t, all);
    await subscribeQueue(t, ab, arrayOf('filterTag', ['a', 'b']));
    await subscribeQueue(t, c, { 'filterTag.1': 'c', 'bindingKey.1': 'ignored.on.type1' });
    ok(await s.call('PublishMessage', { topicName: t, msgBody: 'untagged' }));
    ok(await s.call('PublishMessage', { topicName: t, msgBody: 'tag-a', 'msgTag.1': 'a' }));
    ok(await s.call('PublishMessage', { topicName: t, msgBody: 'tag-b-c', ...arrayOf('msgTag', ['b', 'c']) }));
    ok(await s.call('PublishMessage', { topicName: t, msgBody: 'tag-z', 'msgTag.1': 'z', routingKey: 'ignored.on.type1' }));
    // Rule 1: no filterTag takes everything, tagged or not.
    assert.deepEqual(await drain(all), ['untagged', 'tag-a', 'tag-b-c', 'tag-z']);
    // Rule 2: with filterTags, a message sharing at least one tag. Rule 3: never an untagged one.
    assert.deepEqual(await drain(ab), ['tag-a', 'tag-b-c']);
    assert.deepEqual(await drain(c), ['tag-b-c']);

    const t2 = await newTopic('t-tags2');
    await subscribeQueue(t2, ab, { 'filterTag.1': 'only' });
    err(await s.call('PublishMessage', { topicName: t2, msgBody: 'nothing' }), 6030, 10730);
    err(await s.call('PublishMessage', { topicName: t2, msgBody: 'wrong', 'msgTag.1': 'other' }), 6030, 10730);
    ok(await s.call('PublishMessage', { topicName: t2, msgBody: 'right', 'msgTag.1': 'only' }));
    assert.deepEqual(await drain(ab), ['right']);
  });

  test('routing keys (filterType 2): *, # and 1.#.0 vs 1.0 end to end; no routingKey → 4000/10700', async () => {
    const t = await newTopic('t-route', { filterType: 2 });
    const star = await newQueue('q-star');
    const hash = await newQueue('q-hash');
    const oneZero = await newQueue('q-1x0');
    const exact = await newQueue('q-exact');
    await subscribeQueue(t, star, { 'bindingKey.1': 'a.*' });
    await subscribeQueue(t, hash, { 'bindingKey.1': '#' });
    await subscribeQueue(t, oneZero, { 'bindingKey.1': '1.#.0' });
    await subscribeQueue(t, exact, { ...arrayOf('bindingKey', ['x.y', 'A.b']), 'filterTag.1': 'ignored-on-type2' });
    const keys = ['a.b', 'a', 'a.b.c', '1.0', '1.2.3.4.4.2.2.0', '1.0.1', 'x.y', 'a.B', 'A.b'];
    for (const k of keys) ok(await s.call('PublishMessage', { topicName: t, msgBody: `rk:${k}`, routingKey: k }));
    assert.deepEqual(await drain(star), ['rk:a.b', 'rk:a.B']);
    assert.deepEqual(await drain(hash), keys.map((k) => `rk:${k}`));
    assert.deepEqual(await drain(oneZero), ['rk:1.0', 'rk:1.2.3.4.4.2.2.0']);
    assert.deepEqual(await drain(exact), ['rk:x.y', 'rk:A.b']);
    err(await s.call('PublishMessage', { topicName: t, msgBody: 'x' }), 4000, 10700);
    err(await s.call('PublishMessage', { topicName: t, msgBody: 'x', routingKey: '' }), 4000, 10700);

    const t2 = await newTopic('t-route2', { filterType: 2 });
    await subscribeQueue(t2, star, { 'bindingKey.1': 'a.*' });
    err(await s.call('PublishMessage', { topicName: t2, msgBody: 'x', routingKey: 'b.c' }), 6030, 10730);
    err(await s.call('PublishMessage', { topicName: t2, msgBody: 'x', routingKey: 'a' }), 6030, 10730);
    assert.deepEqual(await drain(star), []);
  });

  test('BatchPublishMessage lands every body, in order, in two subscribed queues; msgList [{msgId}]', async () => {
    const t = await newTopic('t-batch');
    const q1 = await newQueue('q-b1');
    const q2 = await newQueue('q-b2');
    await subscribeQueue(t, q1);
    await subscribeQueue(t, q2, { 'filterTag.1': 'k' });
    const bodies = Array.from({ length: 16 }, (_, i) => `m${i}`);
    const r = ok(await s.call('BatchPublishMessage', { topicName: t, ...arrayOf('msgBody', bodies, 0), 'msgTag.0': 'k' }));
    const list = r['msgList'] as { msgId: string }[];
    assert.equal(list.length, 16);
    for (const m of list) assert.equal(typeof m.msgId, 'string');
    assert.equal(new Set(list.map((m) => m.msgId)).size, 16);
    assert.deepEqual(await drain(q1), bodies);
    assert.deepEqual(await drain(q2), bodies);
  });

  test('a queue subscription whose queue is missing drops silently; the publish succeeds', async () => {
    const t = await newTopic('t-drop');
    const q = await newQueue('q-drop');
    await subscribeQueue(t, uniqueName('missing'));
    await subscribeQueue(t, q);
    ok(await s.call('PublishMessage', { topicName: t, msgBody: 'survives' }));
    assert.deepEqual(await drain(q), ['survives']);
  });

  test('an http subscription counts its pending push in msgCount (subscription and topic)', async () => {
    const t = await newTopic('t-count');
    ok(await s.call('Subscribe', { topicName: t, subscriptionName: 'h', protocol: 'http', endpoint: 'http://127.0.0.1:9/never' }));
    ok(await s.call('PublishMessage', { topicName: t, msgBody: 'pending' }));
    const sa = ok(await s.call('GetSubscriptionAttributes', { topicName: t, subscriptionName: 'h' }));
    const ta = ok(await s.call('GetTopicAttributes', { topicName: t }));
    // The push may already have been attempted (and failed) by the node's push loop, but it is
    // retried, so it is still pending.
    assert.equal(sa['msgCount'], 1);
    assert.equal(ta['msgCount'], 1);
    ok(await s.call('Unsubscribe', { topicName: t, subscriptionName: 'h' }));
    const after = ok(await s.call('GetTopicAttributes', { topicName: t }));
    assert.equal(after['msgCount'], 0);
  });
});
