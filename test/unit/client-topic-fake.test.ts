// InMemoryCmq's topics: the same behaviour and errors as the server for the cases users' tests
// rely on (tag rules, routing keys, batch into two queues, missing queues, the documented errors).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { CmqError, InMemoryCmq } from '../../src/client';
import { bindingKeyMatches } from '../../src/client/fake-topics';

async function rejectsWith(p: Promise<unknown>, code: number, module: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof CmqError && e.code === code && e.message.includes(`(${module})`));
}

async function bodies(cmq: InMemoryCmq, queue: string): Promise<string[]> {
  return (await cmq.batchReceiveMessage(queue, 16, { pollingWaitSeconds: 0 })).map((m) => m.body);
}

void test('fake: topic lifecycle and attributes', async () => {
  const cmq = new InMemoryCmq();
  const id = await cmq.createTopic('t', { maxMsgSize: 2048 });
  const a = await cmq.getTopicAttributes('t');
  assert.equal(a.topicId, id);
  assert.equal(a.maxMsgSize, 2048);
  assert.equal(a.filterType, 1);
  assert.equal(a.msgRetentionSeconds, 86400);
  await rejectsWith(cmq.createTopic('T'), 4460, 10660);
  await rejectsWith(cmq.createTopic('1t'), 4000, 10590);
  await rejectsWith(cmq.createTopic('u', { maxMsgSize: 10 }), 4000, 10350);
  await cmq.setTopicAttributes('t', { maxMsgSize: 4096 });
  assert.equal((await cmq.getTopicAttributes('t')).maxMsgSize, 4096);
  assert.deepEqual(await cmq.listTopics(), { totalCount: 1, topics: [{ topicId: id, topicName: 't' }] });
  await cmq.subscribe('t', 's', { protocol: 'queue', endpoint: 'q' });
  await rejectsWith(cmq.deleteTopic('t'), 4000, 10540);
  await cmq.unsubscribe('t', 's');
  await cmq.deleteTopic('t');
  await rejectsWith(cmq.getTopicAttributes('t'), 4440, 10600);
});

void test('fake: the three tag rules, publish errors, msgIds kept in the queue', async () => {
  const cmq = new InMemoryCmq();
  for (const q of ['all', 'ab']) await cmq.createQueue(q);
  await cmq.createTopic('t');
  await rejectsWith(cmq.publishMessage('t', 'x'), 6030, 10650);
  await cmq.subscribe('t', 'all', { protocol: 'queue', endpoint: 'all' });
  await cmq.subscribe('t', 'ab', { protocol: 'queue', endpoint: 'ab', filterTags: ['a', 'b'] });
  await cmq.subscribe('t', 'gone', { protocol: 'queue', endpoint: 'missing' });
  const id = await cmq.publishMessage('t', 'plain');
  await cmq.publishMessage('t', 'tagged', { tags: ['b'] });
  await cmq.publishMessage('t', 'other', { tags: ['z'] });
  const first = await cmq.receiveMessage('all', { pollingWaitSeconds: 0 });
  assert.equal(first?.msgId, id);
  assert.deepEqual(await bodies(cmq, 'all'), ['tagged', 'other']);
  assert.deepEqual(await bodies(cmq, 'ab'), ['tagged']);
  await rejectsWith(cmq.publishMessage('t', 'x', { tags: ['1', '2', '3', '4', '5', '6'] }), 4000, 10720);
  await rejectsWith(cmq.publishMessage('t', ''), 4000, 10120);
  await rejectsWith(cmq.publishMessage('t', 'x'.repeat(65537)), 4400, 10230);
  await cmq.unsubscribe('t', 'all');
  await cmq.unsubscribe('t', 'gone');
  await rejectsWith(cmq.publishMessage('t', 'untagged'), 6030, 10730);
});

void test('fake: routing keys and a batch landing in two queues', async () => {
  const cmq = new InMemoryCmq();
  for (const q of ['q1', 'q2']) await cmq.createQueue(q);
  await cmq.createTopic('r', { filterType: 2 });
  await rejectsWith(cmq.subscribe('r', 's', { protocol: 'queue', endpoint: 'q1' }), 4000, 10710);
  await cmq.subscribe('r', 's1', { protocol: 'queue', endpoint: 'q1', bindingKeys: ['1.#.0'] });
  await cmq.subscribe('r', 's2', { protocol: 'queue', endpoint: 'q2', bindingKeys: ['#'] });
  await rejectsWith(cmq.publishMessage('r', 'x'), 4000, 10700);
  const ids = await cmq.batchPublishMessage('r', ['a', 'b'], { routingKey: '1.0' });
  assert.equal(ids.length, 2);
  await cmq.publishMessage('r', 'c', { routingKey: '1.2' });
  assert.deepEqual(await bodies(cmq, 'q1'), ['a', 'b']);
  assert.deepEqual(await bodies(cmq, 'q2'), ['a', 'b', 'c']);
});

void test('fake: subscription settings, validation and clearing', async () => {
  const cmq = new InMemoryCmq();
  await cmq.createTopic('t');
  await rejectsWith(cmq.subscribe('t', 's', { protocol: 'http', endpoint: 'ftp://x' }), 4000, 10500);
  await rejectsWith(cmq.subscribe('t', 's', { protocol: 'http', endpoint: 'http://x/a b' }), 4510, 10570);
  await rejectsWith(cmq.subscribe('t', 's', { protocol: 'queue', endpoint: 'q', filterTags: ['1', '2', '3', '4', '5', '6'] }), 4000, 10490);
  await rejectsWith(cmq.subscribe('t', 's', { protocol: 'queue', endpoint: 'q', bindingKeys: ['1', '2', '3', '4', '5', '6'] }), 4000, 10680);
  await cmq.subscribe('t', 'h', { protocol: 'http', endpoint: 'http://127.0.0.1/x', filterTags: ['a'] });
  await rejectsWith(cmq.subscribe('t', 'H', { protocol: 'queue', endpoint: 'q' }), 4490, 10470);
  let a = await cmq.getSubscriptionAttributes('t', 'h');
  assert.equal(a.notifyContentFormat, 'JSON');
  assert.equal(a.notifyStrategy, 'EXPONENTIAL_DECAY_RETRY');
  await cmq.setSubscriptionAttributes('t', 'h', { notifyStrategy: 'BACKOFF_RETRY', filterTags: ['b', 'c'] });
  a = await cmq.getSubscriptionAttributes('t', 'h');
  assert.equal(a.notifyStrategy, 'BACKOFF_RETRY');
  assert.deepEqual(a.filterTags, ['b', 'c']);
  await cmq.clearSubscriptionFilterTags('t', 'h');
  assert.deepEqual((await cmq.getSubscriptionAttributes('t', 'h')).filterTags, []);
  const l = await cmq.listSubscriptions('t');
  assert.equal(l.totalCount, 1);
  assert.equal(l.subscriptions[0]?.protocol, 'http');
  await rejectsWith(cmq.getSubscriptionAttributes('t', 'none'), 4440, 10560);
});

void test('fake: binding key matcher follows the AMQP rules', () => {
  const m = (pattern: string, key: string): boolean => bindingKeyMatches(pattern.split('.'), key.split('.'));
  assert.ok(m('#', 'a.b.c'));
  assert.ok(m('1.#.0', '1.0'));
  assert.ok(m('1.#.0', '1.2.3.4.4.2.2.0'));
  assert.ok(!m('1.#.0', '1.0.1'));
  assert.ok(m('a.*', 'a.b'));
  assert.ok(!m('a.*', 'a'));
  assert.ok(!m('a.*', 'a.'));
  assert.ok(!m('a.*', 'a.b.c'));
  assert.ok(!m('A.b', 'a.b'));
});
