// The SQS queue actions over a real node: URLs, attributes both ways between the SQS and CMQ
// views of one queue, CreateQueue's idempotence, paging, tags, purge, delete.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { CommandResult } from '../../src/broker/commands';
import { ACCOUNT, arn, BASE_URL, openSqsNode, type SqsNode } from '../helpers/sqs-node';

let s: SqsNode;

before(async () => {
  s = await openSqsNode();
});
after(async () => {
  await s.close();
});


function okCmd(r: CommandResult): void {
  assert.ok(r.ok, JSON.stringify(r));
}

async function attributes(queueName: string, names: string[] = ['All']): Promise<Record<string, string>> {
  const r = await s.ok('GetQueueAttributes', { QueueUrl: s.url(queueName), AttributeNames: names });
  return (r['Attributes'] ?? {}) as Record<string, string>;
}

async function cmqAttributes(queueName: string) {
  const r = await s.node.getQueueAttributes(s.ctx, queueName);
  assert.ok(r.ok, JSON.stringify(r));
  return r.attributes;
}

void test('CreateQueue answers the queue URL; GetQueueUrl finds it; any host reaches it', async () => {
  const r = await s.ok('CreateQueue', { QueueName: 'urls-1' });
  assert.deepEqual(r, { QueueUrl: `${BASE_URL}/${ACCOUNT}/urls-1` });
  assert.deepEqual(await s.ok('GetQueueUrl', { QueueName: 'urls-1' }), r);
  assert.deepEqual(await s.ok('GetQueueUrl', { QueueName: 'urls-1', QueueOwnerAWSAccountId: ACCOUNT }), r);
  const other = await s.ok('GetQueueAttributes', { QueueUrl: `https://sqs.elsewhere.example/${ACCOUNT}/urls-1`, AttributeNames: ['QueueArn'] });
  assert.deepEqual(other, { Attributes: { QueueArn: arn('urls-1') } });
  const pathOnly = await s.ok('GetQueueAttributes', { QueueUrl: `/${ACCOUNT}/urls-1`, AttributeNames: ['QueueArn'] });
  assert.deepEqual(pathOnly, other);
});

void test('an SQS-created queue: every attribute reads back through SQS and lands in the CMQ settings', async () => {
  await s.ok('CreateQueue', { QueueName: 'dlq-1' });
  await s.ok('CreateQueue', {
    QueueName: 'attrs-1',
    Attributes: {
      VisibilityTimeout: '45',
      MaximumMessageSize: '2048',
      MessageRetentionPeriod: '86400',
      DelaySeconds: '7',
      ReceiveMessageWaitTimeSeconds: '3',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn('dlq-1'), maxReceiveCount: '4' }),
    },
  });
  const a = await attributes('attrs-1');
  assert.equal(a['VisibilityTimeout'], '45');
  assert.equal(a['MaximumMessageSize'], '2048');
  assert.equal(a['MessageRetentionPeriod'], '86400');
  assert.equal(a['DelaySeconds'], '7');
  assert.equal(a['ReceiveMessageWaitTimeSeconds'], '3');
  assert.deepEqual(JSON.parse(a['RedrivePolicy'] as string), { deadLetterTargetArn: arn('dlq-1'), maxReceiveCount: 4 });
  assert.equal(a['QueueArn'], arn('attrs-1'));
  assert.equal(a['ApproximateNumberOfMessages'], '0');
  assert.equal(a['ApproximateNumberOfMessagesNotVisible'], '0');
  assert.equal(a['ApproximateNumberOfMessagesDelayed'], '0');
  assert.equal(a['SqsManagedSseEnabled'], 'false');
  assert.match(a['CreatedTimestamp'] as string, /^\d{10}$/);
  assert.match(a['LastModifiedTimestamp'] as string, /^\d{10}$/);
  assert.ok(!('RedriveAllowPolicy' in a), 'never set: not reported');
  assert.ok(!('Policy' in a) && !('FifoQueue' in a) && !('KmsMasterKeyId' in a));

  const c = await cmqAttributes('attrs-1');
  assert.equal(c.visibilityTimeout, 45);
  assert.equal(c.maxMsgSize, 2048);
  assert.equal(c.msgRetentionSeconds, 86400);
  assert.equal(c.pollingWaitSeconds, 3);
  assert.equal(c.sqs.delaySeconds, 7);
  assert.deepEqual(c.deadLetterPolicy, { deadLetterQueue: 'dlq-1', policy: 0, maxReceiveCount: 4 });

  // Only what is asked is returned; nothing asked, nothing returned.
  assert.deepEqual(await attributes('attrs-1', ['DelaySeconds', 'VisibilityTimeout']), { VisibilityTimeout: '45', DelaySeconds: '7' });
  assert.deepEqual(await s.ok('GetQueueAttributes', { QueueUrl: s.url('attrs-1') }), {});
});

void test('an SQS-created queue without MaximumMessageSize gets SQS default of 256 KiB', async () => {
  await s.ok('CreateQueue', { QueueName: 'defaults-1' });
  const a = await attributes('defaults-1');
  assert.equal(a['MaximumMessageSize'], '262144');
  assert.equal(a['VisibilityTimeout'], '30');
  assert.equal(a['MessageRetentionPeriod'], '345600');
  assert.equal(a['DelaySeconds'], '0');
  assert.equal(a['ReceiveMessageWaitTimeSeconds'], '0');
});

void test('a CMQ-created queue reads through SQS', async () => {
  okCmd(await s.node.submit(s.ctx, { kind: 'createQueue', queueName: 'cmq-1', attrs: { visibilityTimeout: 50, maxMsgSize: 4096, pollingWaitSeconds: 5 } }));
  const a = await attributes('cmq-1');
  assert.equal(a['VisibilityTimeout'], '50');
  assert.equal(a['MaximumMessageSize'], '4096');
  assert.equal(a['ReceiveMessageWaitTimeSeconds'], '5');
  assert.equal(a['DelaySeconds'], '0');
  assert.equal(a['QueueArn'], arn('cmq-1'));
  assert.deepEqual(await s.ok('GetQueueUrl', { QueueName: 'cmq-1' }), { QueueUrl: s.url('cmq-1') });
});

void test('SetQueueAttributes changes settings; RedrivePolicy and RedriveAllowPolicy round trip and clear', async () => {
  await s.ok('CreateQueue', { QueueName: 'set-dlq' });
  await s.ok('CreateQueue', { QueueName: 'set-src' });
  const allow = { redrivePermission: 'byQueue', sourceQueueArns: [arn('set-src')] };
  assert.deepEqual(await s.ok('SetQueueAttributes', { QueueUrl: s.url('set-dlq'), Attributes: { RedriveAllowPolicy: JSON.stringify(allow) } }), {});
  await s.ok('SetQueueAttributes', {
    QueueUrl: s.url('set-src'),
    Attributes: { VisibilityTimeout: '0', DelaySeconds: '12', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn('set-dlq'), maxReceiveCount: 2 }) },
  });
  const src = await attributes('set-src');
  assert.equal(src['VisibilityTimeout'], '0');
  assert.equal(src['DelaySeconds'], '12');
  assert.deepEqual(JSON.parse(src['RedrivePolicy'] as string), { deadLetterTargetArn: arn('set-dlq'), maxReceiveCount: 2 });
  assert.deepEqual(JSON.parse((await attributes('set-dlq'))['RedriveAllowPolicy'] as string), allow);
  assert.deepEqual((await cmqAttributes('set-dlq')).sqs.redriveAllowPolicy, { permission: 'byQueue', sourceQueueNames: ['set-src'] });

  await s.ok('SetQueueAttributes', { QueueUrl: s.url('set-src'), Attributes: { RedrivePolicy: '' } });
  assert.ok(!('RedrivePolicy' in (await attributes('set-src'))));
  assert.equal((await cmqAttributes('set-src')).deadLetterPolicy, undefined);
  await s.ok('SetQueueAttributes', { QueueUrl: s.url('set-dlq'), Attributes: { RedriveAllowPolicy: '' } });
  assert.equal((await cmqAttributes('set-dlq')).sqs.redriveAllowPolicy, null);
});

void test('CreateQueue of an existing queue: same attributes → its URL, different → queueExists', async () => {
  const first = await s.ok('CreateQueue', { QueueName: 'idem-1', Attributes: { VisibilityTimeout: '60' } });
  assert.deepEqual(await s.ok('CreateQueue', { QueueName: 'idem-1', Attributes: { VisibilityTimeout: '60' } }), first);
  assert.deepEqual(await s.ok('CreateQueue', { QueueName: 'idem-1' }), first, 'no attributes asked: nothing differs');
  assert.equal((await s.err('CreateQueue', { QueueName: 'idem-1', Attributes: { VisibilityTimeout: '61' } })).error, 'queueExists');
  assert.equal((await s.err('CreateQueue', { QueueName: 'idem-1', Attributes: { DelaySeconds: '1' } })).error, 'queueExists');
  // Names are case-insensitive in opencmq: a name differing only in case is taken.
  assert.equal((await s.err('CreateQueue', { QueueName: 'IDEM-1' })).error, 'queueExists');
});

void test('ListQueues: prefix (case-sensitive), MaxResults and NextToken page through every queue once', async () => {
  const names = ['page-a', 'page-b', 'page-c', 'page-d', 'page-e', 'page-f', 'page-g'];
  for (const n of names) await s.ok('CreateQueue', { QueueName: n });
  await s.ok('CreateQueue', { QueueName: 'Page-upper' });
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const r = await s.ok('ListQueues', { QueueNamePrefix: 'page-', MaxResults: 3, ...(token ? { NextToken: token } : {}) });
    const urls = r['QueueUrls'] as string[];
    assert.ok(urls.length <= 3);
    seen.push(...urls);
    token = r['NextToken'] as string | undefined;
    pages++;
    // A queue deleted between pages does not disturb the paging.
    if (pages === 1) await s.ok('DeleteQueue', { QueueUrl: s.url('page-c') });
  } while (token !== undefined);
  assert.equal(pages, 3);
  assert.deepEqual(
    seen,
    names.map((n) => s.url(n)),
  );
  const all = await s.ok('ListQueues', { QueueNamePrefix: 'page-' });
  assert.equal((all['QueueUrls'] as string[]).length, 6);
  assert.ok(!('NextToken' in all), 'no MaxResults: no NextToken');
  assert.deepEqual(await s.ok('ListQueues', { QueueNamePrefix: 'Page-' }), { QueueUrls: [s.url('Page-upper')] });
  assert.deepEqual(await s.ok('ListQueues', { QueueNamePrefix: 'nothing-' }), {});
});

void test('ListDeadLetterSourceQueues pages the queues that name a dead-letter queue', async () => {
  await s.ok('CreateQueue', { QueueName: 'ldl-dlq' });
  const policy = JSON.stringify({ deadLetterTargetArn: arn('ldl-dlq'), maxReceiveCount: 5 });
  for (const n of ['ldl-a', 'ldl-b', 'ldl-c']) await s.ok('CreateQueue', { QueueName: n, Attributes: { RedrivePolicy: policy } });
  const p1 = await s.ok('ListDeadLetterSourceQueues', { QueueUrl: s.url('ldl-dlq'), MaxResults: 2 });
  assert.deepEqual(p1['queueUrls'], [s.url('ldl-a'), s.url('ldl-b')]);
  const p2 = await s.ok('ListDeadLetterSourceQueues', { QueueUrl: s.url('ldl-dlq'), MaxResults: 2, NextToken: p1['NextToken'] });
  assert.deepEqual(p2, { queueUrls: [s.url('ldl-c')] });
  assert.deepEqual(await s.ok('ListDeadLetterSourceQueues', { QueueUrl: s.url('ldl-a') }), { queueUrls: [] });
  assert.equal((await s.err('ListDeadLetterSourceQueues', { QueueUrl: s.url('ldl-none') })).error, 'queueNotExist');
});

void test('tags: given at creation, added, replaced, removed, listed', async () => {
  await s.ok('CreateQueue', { QueueName: 'tags-1', tags: { team: 'pay', env: 'test' } });
  assert.deepEqual(await s.ok('ListQueueTags', { QueueUrl: s.url('tags-1') }), { Tags: { team: 'pay', env: 'test' } });
  assert.deepEqual(await s.ok('TagQueue', { QueueUrl: s.url('tags-1'), Tags: { env: 'prod', cost: '' } }), {});
  assert.deepEqual(await s.ok('ListQueueTags', { QueueUrl: s.url('tags-1') }), { Tags: { team: 'pay', env: 'prod', cost: '' } });
  assert.deepEqual(await s.ok('UntagQueue', { QueueUrl: s.url('tags-1'), TagKeys: ['team', 'absent'] }), {});
  assert.deepEqual((await cmqAttributes('tags-1')).tags, { env: 'prod', cost: '' });
  await s.ok('UntagQueue', { QueueUrl: s.url('tags-1'), TagKeys: ['env', 'cost'] });
  assert.deepEqual(await s.ok('ListQueueTags', { QueueUrl: s.url('tags-1') }), {});
  assert.equal((await s.err('ListQueueTags', { QueueUrl: s.url('tags-none') })).error, 'queueNotExist');
});

void test('PurgeQueue empties the queue; DeleteQueue removes it', async () => {
  await s.ok('CreateQueue', { QueueName: 'purge-1' });
  const q = s.url('purge-1');
  for (const b of ['a', 'b', 'c']) await s.ok('SendMessage', { QueueUrl: q, MessageBody: b });
  await s.ok('SendMessage', { QueueUrl: q, MessageBody: 'later', DelaySeconds: 600 });
  await s.ok('ReceiveMessage', { QueueUrl: q, WaitTimeSeconds: 0 });
  assert.deepEqual(await s.ok('PurgeQueue', { QueueUrl: q }), {});
  const a = await attributes('purge-1');
  assert.equal(a['ApproximateNumberOfMessages'], '0');
  assert.equal(a['ApproximateNumberOfMessagesNotVisible'], '0');
  assert.equal(a['ApproximateNumberOfMessagesDelayed'], '0');
  assert.deepEqual(await s.ok('ReceiveMessage', { QueueUrl: q, WaitTimeSeconds: 0 }), {});
  assert.deepEqual(await s.ok('DeleteQueue', { QueueUrl: q }), {});
  assert.equal((await s.err('GetQueueUrl', { QueueName: 'purge-1' })).error, 'queueNotExist');
  assert.equal((await s.err('PurgeQueue', { QueueUrl: q })).error, 'queueNotExist');
  assert.equal((await s.err('DeleteQueue', { QueueUrl: q })).error, 'queueNotExist');
});

void test('a RedrivePolicy obeys the dead-letter queue RedriveAllowPolicy and needs the queue to exist', async () => {
  const allow = (p: object): Record<string, string> => ({ RedriveAllowPolicy: JSON.stringify(p) });
  const redrive = (dlq: string): Record<string, string> => ({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn(dlq), maxReceiveCount: 3 }) });
  await s.ok('CreateQueue', { QueueName: 'rap-deny', Attributes: allow({ redrivePermission: 'denyAll' }) });
  await s.ok('CreateQueue', { QueueName: 'rap-by', Attributes: allow({ redrivePermission: 'byQueue', sourceQueueArns: [arn('rap-listed')] }) });
  assert.equal((await s.err('CreateQueue', { QueueName: 'rap-src', Attributes: redrive('rap-deny') })).error, 'dlqNotAllowed');
  assert.equal((await s.err('CreateQueue', { QueueName: 'rap-src', Attributes: redrive('rap-by') })).error, 'dlqNotAllowed');
  await s.ok('CreateQueue', { QueueName: 'rap-listed', Attributes: redrive('rap-by') });
  assert.equal((await s.err('CreateQueue', { QueueName: 'rap-src', Attributes: redrive('rap-none') })).error, 'dlqNotExist');
});

void test('TagQueue beyond 50 tags in all is refused and changes nothing', async () => {
  const tags = (from: number, n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${from + i}`, 'v']));
  await s.ok('CreateQueue', { QueueName: 'tags-full', tags: tags(0, 40) });
  assert.equal((await s.err('TagQueue', { QueueUrl: s.url('tags-full'), Tags: tags(40, 11) })).error, 'queueTagsFull');
  assert.equal(Object.keys((await s.ok('ListQueueTags', { QueueUrl: s.url('tags-full') }))['Tags'] as object).length, 40);
  await s.ok('TagQueue', { QueueUrl: s.url('tags-full'), Tags: tags(35, 15) });
  assert.equal(Object.keys((await s.ok('ListQueueTags', { QueueUrl: s.url('tags-full') }))['Tags'] as object).length, 50);
});
