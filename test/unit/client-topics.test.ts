// The SDK's topic and subscription methods against a real in-process server (real node, real log):
// every method's success path, the typed results, the CmqError codes the server's documented
// errors become, and publish → queue subscription → receive through the client alone.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { CmqClient, CmqError } from '../../src/client';
import { startTestServer, uniqueName, type TestServer } from '../helpers/http-harness';

let s: TestServer;
let client: CmqClient;

before(async () => {
  s = await startTestServer();
  client = new CmqClient({ endpoint: s.url, retries: 0 });
});

after(async () => {
  client.close();
  await s.close();
});

async function rejectsWith(p: Promise<unknown>, code: number, module: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CmqError, String(e));
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(`(${module})`), e.message);
    return true;
  });
}

void test('createTopic / getTopicAttributes / setTopicAttributes / listTopics / deleteTopic', async () => {
  const t = uniqueName('ct');
  const id = await client.createTopic(t, { maxMsgSize: 2048, filterType: 2 });
  assert.match(id, /^topic-/);
  const a = await client.getTopicAttributes(t);
  assert.equal(a.topicId, id);
  assert.equal(a.topicName, t);
  assert.equal(a.maxMsgSize, 2048);
  assert.equal(a.filterType, 2);
  assert.equal(a.msgRetentionSeconds, 86400);
  assert.equal(a.msgCount, 0);
  assert.ok(a.createTime > 0);
  await client.setTopicAttributes(t, { maxMsgSize: 4096 });
  assert.equal((await client.getTopicAttributes(t)).maxMsgSize, 4096);
  const l = await client.listTopics({ searchWord: t });
  assert.deepEqual(l, { totalCount: 1, topics: [{ topicId: id, topicName: t }] });
  await rejectsWith(client.createTopic(t), 4460, 10660);
  await client.deleteTopic(t);
  await rejectsWith(client.getTopicAttributes(t), 4440, 10600);
  await rejectsWith(client.createTopic('9bad'), 4000, 10590);
});

void test('subscribe / listSubscriptions / getSubscriptionAttributes / setSubscriptionAttributes / clear / unsubscribe', async () => {
  const t = uniqueName('st');
  await client.createTopic(t);
  const id = await client.subscribe(t, 'hook', {
    protocol: 'http',
    endpoint: 'http://127.0.0.1:9/push',
    notifyStrategy: 'BACKOFF_RETRY',
    notifyContentFormat: 'SIMPLIFIED',
    filterTags: ['a', 'b'],
  });
  assert.match(id, /^subsc-/);
  await client.subscribe(t, 'toq', { protocol: 'queue', endpoint: 'someq' });
  const list = await client.listSubscriptions(t);
  assert.equal(list.totalCount, 2);
  assert.deepEqual(
    list.subscriptions.map((x) => [x.subscriptionName, x.protocol, x.endpoint]).sort(),
    [
      ['hook', 'http', 'http://127.0.0.1:9/push'],
      ['toq', 'queue', 'someq'],
    ],
  );
  assert.equal((await client.listSubscriptions(t, { searchWord: 'ho' })).totalCount, 1);
  const a = await client.getSubscriptionAttributes(t, 'hook');
  assert.equal(a.protocol, 'http');
  assert.equal(a.endpoint, 'http://127.0.0.1:9/push');
  assert.equal(a.notifyStrategy, 'BACKOFF_RETRY');
  assert.equal(a.notifyContentFormat, 'SIMPLIFIED');
  assert.deepEqual(a.filterTags, ['a', 'b']);
  assert.deepEqual(a.bindingKeys, []);
  assert.equal(typeof a.topicOwner, 'string');
  await client.setSubscriptionAttributes(t, 'hook', { notifyStrategy: 'EXPONENTIAL_DECAY_RETRY', filterTags: ['c'] });
  const b = await client.getSubscriptionAttributes(t, 'hook');
  assert.equal(b.notifyStrategy, 'EXPONENTIAL_DECAY_RETRY');
  assert.equal(b.notifyContentFormat, 'SIMPLIFIED', 'unchanged');
  assert.deepEqual(b.filterTags, ['c']);
  await client.setSubscriptionAttributes(t, 'hook', { filterTags: [] });
  assert.deepEqual((await client.getSubscriptionAttributes(t, 'hook')).filterTags, [], 'an empty list clears the set');
  await client.setSubscriptionAttributes(t, 'hook', { filterTags: ['d'] });
  await client.clearSubscriptionFilterTags(t, 'hook');
  assert.deepEqual((await client.getSubscriptionAttributes(t, 'hook')).filterTags, []);
  await rejectsWith(client.subscribe(t, 'hook', { protocol: 'queue', endpoint: 'q' }), 4490, 10470);
  await rejectsWith(client.subscribe(t, 'x', { protocol: 'http', endpoint: 'https://h/' }), 4000, 10500);
  await rejectsWith(client.deleteTopic(t), 4000, 10540);
  await client.unsubscribe(t, 'hook');
  await client.unsubscribe(t, 'toq');
  await rejectsWith(client.getSubscriptionAttributes(t, 'hook'), 4440, 10560);
  await client.deleteTopic(t);
});

void test('publishMessage / batchPublishMessage into queue subscriptions, with tags and routing keys', async () => {
  const t = uniqueName('pt');
  const q1 = uniqueName('pq');
  const q2 = uniqueName('pq');
  await client.createTopic(t);
  await client.createQueue(q1);
  await client.createQueue(q2);
  await rejectsWith(client.publishMessage(t, 'x'), 6030, 10650);
  await client.subscribe(t, 's1', { protocol: 'queue', endpoint: q1 });
  await client.subscribe(t, 's2', { protocol: 'queue', endpoint: q2, filterTags: ['vip'] });
  const id = await client.publishMessage(t, 'plain');
  const ids = await client.batchPublishMessage(t, ['v1', Buffer.from('v2')], { tags: ['vip'] });
  assert.equal(ids.length, 2);
  assert.deepEqual(await client.batchPublishMessage(t, []), []);
  const m1 = await client.batchReceiveMessage(q1, 16, { pollingWaitSeconds: 0 });
  assert.deepEqual(
    m1.map((m) => m.body),
    ['plain', 'v1', 'v2'],
  );
  assert.equal(m1[0]?.msgId, id);
  const m2 = await client.batchReceiveMessage(q2, 16, { pollingWaitSeconds: 0 });
  assert.deepEqual(
    m2.map((m) => m.body),
    ['v1', 'v2'],
  );

  const rt = uniqueName('rt');
  const rq = uniqueName('rq');
  await client.createTopic(rt, { filterType: 2 });
  await client.createQueue(rq);
  await client.subscribe(rt, 'keys', { protocol: 'queue', endpoint: rq, bindingKeys: ['order.*', 'audit.#'] });
  await rejectsWith(client.publishMessage(rt, 'x'), 4000, 10700);
  await rejectsWith(client.publishMessage(rt, 'x', { routingKey: 'order' }), 6030, 10730);
  await client.publishMessage(rt, 'created', { routingKey: 'order.created' });
  await client.publishMessage(rt, 'audited', { routingKey: 'audit' });
  const m3 = await client.batchReceiveMessage(rq, 16, { pollingWaitSeconds: 0 });
  assert.deepEqual(
    m3.map((m) => m.body),
    ['created', 'audited'],
  );
});
