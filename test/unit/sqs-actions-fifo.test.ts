// FIFO queues through the SQS actions over a real node: CreateQueue's name and attribute rules,
// the FIFO attributes both ways, what a send to a FIFO queue needs (group, deduplication id or
// content-based deduplication, no own delay), deduplication by queue or by group, order and the
// group lock as ReceiveMessage / DeleteMessage / ChangeMessageVisibility show them, sequence
// numbers, the system attributes a receive reports, and batches with good and bad entries.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';

import { SQS_ACTIONS } from '../../src/api/sqs/actions';
import { dedupKey } from '../../src/api/sqs/fifo';
import type { SqsInput } from '../../src/api/sqs/types';
import { createSqsContext, handleSqsRequest } from '../../src/api/sqs/wire';
import { LIMITS } from '../../src/protocol/limits';
import { ACCOUNT, arn, openSqsNode, SENDER, type SqsNode } from '../helpers/sqs-node';
import { all, parseXml, text } from '../helpers/tiny-xml';

let s: SqsNode;

before(async () => {
  s = await openSqsNode();
});
after(async () => {
  await s.close();
});


async function fifoQueue(name: string, attributes: Record<string, string> = {}): Promise<string> {
  await s.ok('CreateQueue', { QueueName: name, Attributes: { FifoQueue: 'true', ...attributes } });
  return s.url(name);
}

async function attributes(q: string): Promise<Record<string, string>> {
  const r = await s.ok('GetQueueAttributes', { QueueUrl: q, AttributeNames: ['All'] });
  return (r['Attributes'] ?? {}) as Record<string, string>;
}

type Msg = Record<string, unknown> & { Body: string; ReceiptHandle: string; MessageId: string; Attributes?: Record<string, string> };

async function receive(q: string, extra: SqsInput = {}): Promise<Msg[]> {
  const r = await s.ok('ReceiveMessage', { QueueUrl: q, WaitTimeSeconds: 0, MaxNumberOfMessages: 10, ...extra });
  return (r['Messages'] ?? []) as Msg[];
}

async function send(q: string, body: string, groupId: string, extra: SqsInput = {}): Promise<{ MessageId: string; SequenceNumber: string }> {
  const r = await s.ok('SendMessage', { QueueUrl: q, MessageBody: body, MessageGroupId: groupId, ...extra });
  return r as { MessageId: string; SequenceNumber: string };
}

const bodies = (msgs: Msg[]): string[] => msgs.map((m) => m.Body);

void test('CreateQueue: a .fifo name with FifoQueue=true is a FIFO queue; its FIFO attributes have SQS defaults', async () => {
  const q = await fifoQueue('orders.fifo');
  assert.equal(q, s.url('orders.fifo'));
  const a = await attributes(q);
  assert.equal(a['FifoQueue'], 'true');
  assert.equal(a['ContentBasedDeduplication'], 'false');
  assert.equal(a['DeduplicationScope'], 'queue');
  assert.equal(a['FifoThroughputLimit'], 'perQueue');
  assert.equal(a['QueueArn'], arn('orders.fifo'));
  const c = await s.node.getQueueAttributes(s.ctx, 'orders.fifo');
  assert.ok(c.ok);
  assert.equal(c.attributes.sqs.fifo, true);
  assert.deepEqual(await s.ok('GetQueueUrl', { QueueName: 'orders.fifo' }), { QueueUrl: q });
  // The suffix counts in the 80 characters.
  const longest = `${'f'.repeat(75)}.fifo`;
  assert.equal(longest.length, 80);
  await fifoQueue(longest);
  // A standard queue reports no FIFO attribute, not even FifoQueue=false.
  await s.ok('CreateQueue', { QueueName: 'plain-1', Attributes: { FifoQueue: 'false' } });
  const p = await attributes(s.url('plain-1'));
  for (const name of ['FifoQueue', 'ContentBasedDeduplication', 'DeduplicationScope', 'FifoThroughputLimit']) assert.ok(!(name in p), name);
});

void test('CreateQueue and SetQueueAttributes: the FIFO attributes round trip; FifoQueue cannot change', async () => {
  const q = await fifoQueue('attrs.fifo', { ContentBasedDeduplication: 'true', DeduplicationScope: 'messageGroup', FifoThroughputLimit: 'perMessageGroupId' });
  let a = await attributes(q);
  assert.equal(a['ContentBasedDeduplication'], 'true');
  assert.equal(a['DeduplicationScope'], 'messageGroup');
  assert.equal(a['FifoThroughputLimit'], 'perMessageGroupId');

  // perMessageGroupId needs DeduplicationScope messageGroup, whichever of the two changes.
  assert.equal((await s.err('SetQueueAttributes', { QueueUrl: q, Attributes: { DeduplicationScope: 'queue' } })).error, 'invalidAttributeValue');
  await s.ok('SetQueueAttributes', { QueueUrl: q, Attributes: { DeduplicationScope: 'queue', FifoThroughputLimit: 'perQueue', ContentBasedDeduplication: 'false' } });
  a = await attributes(q);
  assert.equal(a['ContentBasedDeduplication'], 'false');
  assert.equal(a['DeduplicationScope'], 'queue');
  assert.equal(a['FifoThroughputLimit'], 'perQueue');
  assert.equal((await s.err('SetQueueAttributes', { QueueUrl: q, Attributes: { FifoThroughputLimit: 'perMessageGroupId' } })).error, 'invalidAttributeValue');

  // Naming the current kind again is accepted; changing it is not.
  await s.ok('SetQueueAttributes', { QueueUrl: q, Attributes: { FifoQueue: 'true' } });
  assert.equal((await s.err('SetQueueAttributes', { QueueUrl: q, Attributes: { FifoQueue: 'false' } })).error, 'fifoImmutable');
  await s.ok('SetQueueAttributes', { QueueUrl: s.url('plain-1'), Attributes: { FifoQueue: 'false' } });
  assert.equal((await s.err('SetQueueAttributes', { QueueUrl: s.url('plain-1'), Attributes: { DeduplicationScope: 'queue' } })).error, 'invalidAttributeName');
  assert.equal((await attributes(q))['FifoQueue'], 'true');
});

void test('CreateQueue of an existing FIFO queue compares the FIFO attributes given', async () => {
  const q = await fifoQueue('idem.fifo', { ContentBasedDeduplication: 'true' });
  assert.deepEqual(await s.ok('CreateQueue', { QueueName: 'idem.fifo', Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' } }), { QueueUrl: q });
  assert.deepEqual(await s.ok('CreateQueue', { QueueName: 'idem.fifo', Attributes: { FifoQueue: 'true' } }), { QueueUrl: q });
  for (const changed of [{ ContentBasedDeduplication: 'false' }, { DeduplicationScope: 'messageGroup' }, { FifoThroughputLimit: 'perMessageGroupId', DeduplicationScope: 'messageGroup' }]) {
    const r = await s.err('CreateQueue', { QueueName: 'idem.fifo', Attributes: { FifoQueue: 'true', ...changed } });
    assert.equal(r.error, 'queueExists', JSON.stringify(changed));
  }
});

void test('a FIFO queue dead-letters into a FIFO queue only', async () => {
  await s.ok('CreateQueue', { QueueName: 'dlq-standard' });
  await fifoQueue('dlq.fifo');
  const redrive = (dlq: string): Record<string, string> => ({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn(dlq), maxReceiveCount: 2 }) });
  assert.equal((await s.err('CreateQueue', { QueueName: 'src.fifo', Attributes: { FifoQueue: 'true', ...redrive('dlq-standard') } })).error, 'dlqPolicyParams');
  await fifoQueue('src.fifo', redrive('dlq.fifo'));
  assert.deepEqual(JSON.parse((await attributes(s.url('src.fifo')))['RedrivePolicy'] as string), { deadLetterTargetArn: arn('dlq.fifo'), maxReceiveCount: 2 });
});

void test('SendMessage to a FIFO queue: a group is required, a deduplication id or content-based deduplication, no own delay', async () => {
  const q = await fifoQueue('rules.fifo');
  // Without any id: the broker refuses it (the settings are not read for such a send).
  assert.equal((await s.err('SendMessage', { QueueUrl: q, MessageBody: 'x' })).error, 'fifoGroupIdRequired');
  assert.equal((await s.err('SendMessage', { QueueUrl: q, MessageBody: 'x', MessageDeduplicationId: 'd1' })).error, 'fifoGroupIdRequired');
  const noDedup = await s.err('SendMessage', { QueueUrl: q, MessageBody: 'x', MessageGroupId: 'g' });
  assert.equal(noDedup.error, 'invalidParameterValue');
  assert.match(noDedup.detail ?? '', /ContentBasedDeduplication/);
  assert.equal((await s.err('SendMessage', { QueueUrl: q, MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'd1', DelaySeconds: 5 })).error, 'fifoMessageDelay');
  assert.equal((await s.err('SendMessage', { QueueUrl: q, MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'a b' })).error, 'invalidParameterValue');
  assert.equal((await attributes(q))['ApproximateNumberOfMessages'], '0', 'nothing refused was enqueued');
  // DelaySeconds 0 is accepted and ignored (the queue's delay applies), as SQS does.
  const sent = await send(q, 'x', 'g', { MessageDeduplicationId: 'd1', DelaySeconds: 0 });
  assert.match(sent.SequenceNumber, /^\d{20}$/);
  assert.equal((await attributes(q))['ApproximateNumberOfMessages'], '1');
});

void test('ids at their limits: a 128-character group and deduplication id of every allowed character', async () => {
  const q = await fifoQueue('limits.fifo');
  const punctuation = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
  const id = (punctuation + 'azAZ09').repeat(4).slice(0, 128);
  assert.equal(id.length, 128);
  await send(q, 'edge', id, { MessageDeduplicationId: id });
  const [m] = await receive(q, { MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'], ReceiveRequestAttemptId: id });
  assert.deepEqual(m?.Attributes, { MessageDeduplicationId: id, MessageGroupId: id });
  // The broker's key for them fits its limit in either scope, and so does the CMQ API's batch key.
  assert.ok(dedupKey('messageGroup', id, id).length <= LIMITS.dedupKeyCharsMax);
  assert.ok(dedupKey('queue', id, id).length <= LIMITS.dedupKeyCharsMax);
  assert.ok(`${'d'.repeat(LIMITS.dedupIdCharsMax)}/${LIMITS.batchItemsMax - 1}`.length <= LIMITS.dedupKeyCharsMax);
});

void test('group-scoped keys name one (group, id) pair: a colon in either does not make two pairs meet', () => {
  assert.notEqual(dedupKey('messageGroup', 'a:b', 'c'), dedupKey('messageGroup', 'a', 'b:c'));
  assert.notEqual(dedupKey('messageGroup', 'a', 'bc'), dedupKey('messageGroup', 'ab', 'c'));
  assert.notEqual(dedupKey('queue', 'g', 'x'), dedupKey('messageGroup', 'g', 'x'));
});

void test('deduplication with DeduplicationScope queue: one id across groups is one message', async () => {
  const q = await fifoQueue('scope-q.fifo');
  const first = await send(q, 'one', 'g1', { MessageDeduplicationId: 'same' });
  const again = await send(q, 'one again', 'g2', { MessageDeduplicationId: 'same' });
  assert.equal(again.MessageId, first.MessageId);
  assert.equal(again.SequenceNumber, first.SequenceNumber);
  assert.deepEqual(bodies(await receive(q)), ['one']);
});

void test('deduplication with DeduplicationScope messageGroup: one id is one message per group', async () => {
  const q = await fifoQueue('scope-g.fifo', { DeduplicationScope: 'messageGroup' });
  const a = await send(q, 'a', 'g1', { MessageDeduplicationId: 'same' });
  const b = await send(q, 'b', 'g2', { MessageDeduplicationId: 'same' });
  const aAgain = await send(q, 'a again', 'g1', { MessageDeduplicationId: 'same' });
  assert.notEqual(b.MessageId, a.MessageId);
  assert.equal(aAgain.MessageId, a.MessageId);
  assert.deepEqual(bodies(await receive(q)).sort(), ['a', 'b']);
});

void test('content-based deduplication: the id is the SHA-256 of the body; a given id still wins', async () => {
  const q = await fifoQueue('content.fifo', { ContentBasedDeduplication: 'true' });
  const first = await send(q, 'same body', 'g');
  const dup = await send(q, 'same body', 'g', { MessageAttributes: { other: { DataType: 'String', StringValue: 'attrs are not hashed' } } });
  assert.equal(dup.MessageId, first.MessageId);
  const other = await send(q, 'other body', 'g');
  assert.notEqual(other.MessageId, first.MessageId);
  const explicit = await send(q, 'same body', 'g', { MessageDeduplicationId: 'mine' });
  assert.notEqual(explicit.MessageId, first.MessageId);
  const got = await receive(q, { MessageSystemAttributeNames: ['MessageDeduplicationId'] });
  assert.deepEqual(
    got.map((m) => [m.Body, m.Attributes?.['MessageDeduplicationId']]),
    [
      ['same body', createHash('sha256').update('same body').digest('hex')],
      ['other body', createHash('sha256').update('other body').digest('hex')],
      ['same body', 'mine'],
    ],
  );
});

void test('order within a group and the group lock, through ReceiveMessage, DeleteMessage and ChangeMessageVisibility', async () => {
  const q = await fifoQueue('order.fifo', { ContentBasedDeduplication: 'true' });
  for (const b of ['a1', 'a2', 'a3']) await send(q, b, 'A');
  await send(q, 'b1', 'B');
  const [a1, ...none] = await receive(q, { MaxNumberOfMessages: 1 });
  assert.equal(a1?.Body, 'a1');
  assert.equal(none.length, 0);
  // Group A is locked while a1 is in flight: only B's message comes.
  assert.deepEqual(bodies(await receive(q)), ['b1']);
  assert.deepEqual(await receive(q), []);
  await s.ok('DeleteMessage', { QueueUrl: q, ReceiptHandle: a1.ReceiptHandle });
  const rest = await receive(q);
  assert.deepEqual(bodies(rest), ['a2', 'a3']);
  // a2 visible again, a3 still in flight: the group stays locked.
  await s.ok('ChangeMessageVisibility', { QueueUrl: q, ReceiptHandle: rest[0]!.ReceiptHandle, VisibilityTimeout: 0 });
  assert.deepEqual(await receive(q), []);
  await s.ok('ChangeMessageVisibilityBatch', { QueueUrl: q, Entries: [{ Id: 'a3', ReceiptHandle: rest[1]!.ReceiptHandle, VisibilityTimeout: 0 }] });
  const again = await receive(q, { AttributeNames: ['ApproximateReceiveCount'] });
  assert.deepEqual(
    again.map((m) => [m.Body, m.Attributes?.['ApproximateReceiveCount']]),
    [
      ['a2', '2'],
      ['a3', '2'],
    ],
  );
  await s.ok('DeleteMessageBatch', { QueueUrl: q, Entries: again.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) });
  assert.deepEqual(await receive(q), []);
});

void test('ReceiveRequestAttemptId: a retried receive gets the same messages and receipt handles, even with nothing visible; a touched one makes it a fresh receive', async () => {
  const q = await fifoQueue('attempt.fifo', { ContentBasedDeduplication: 'true' });
  for (const b of ['a1', 'a2']) await send(q, b, 'A');
  await send(q, 'b1', 'B');
  const first = await receive(q, { MaxNumberOfMessages: 2, ReceiveRequestAttemptId: 'try-1', AttributeNames: ['ApproximateReceiveCount'] });
  assert.deepEqual(bodies(first), ['a1', 'a2']);
  // Its messages are in flight and group B's is the only one visible; a retry still gets the first answer, waiting for nothing.
  const again = await receive(q, { MaxNumberOfMessages: 10, WaitTimeSeconds: 5, ReceiveRequestAttemptId: 'try-1', AttributeNames: ['ApproximateReceiveCount'] });
  assert.deepEqual(again, first);
  assert.deepEqual(bodies(await receive(q, { ReceiveRequestAttemptId: 'try-2' })), ['b1']);
  // Nothing visible at all now: the retry of try-2 goes through the log all the same.
  const b = await receive(q, { WaitTimeSeconds: 5, ReceiveRequestAttemptId: 'try-2' });
  assert.deepEqual(bodies(b), ['b1']);
  // Deleting one of try-1's messages makes its retry a fresh receive: group A is locked by a2, B by b1.
  await s.ok('DeleteMessage', { QueueUrl: q, ReceiptHandle: first[0]!.ReceiptHandle });
  assert.deepEqual(await receive(q, { ReceiveRequestAttemptId: 'try-1' }), []);
  await s.ok('DeleteMessage', { QueueUrl: q, ReceiptHandle: first[1]!.ReceiptHandle });
  await s.ok('DeleteMessage', { QueueUrl: q, ReceiptHandle: b[0]!.ReceiptHandle });
  // A standard queue ignores the id, as SQS does: a repeated id gets the next messages.
  await s.ok('CreateQueue', { QueueName: 'attempt-std' });
  const std = s.url('attempt-std');
  for (const body of ['s1', 's2']) await s.ok('SendMessage', { QueueUrl: std, MessageBody: body });
  const one = await receive(std, { MaxNumberOfMessages: 1, ReceiveRequestAttemptId: 'same' });
  const two = await receive(std, { MaxNumberOfMessages: 1, ReceiveRequestAttemptId: 'same' });
  assert.deepEqual([...bodies(one), ...bodies(two)].sort(), ['s1', 's2']);
});

void test('SequenceNumber: 20 digits, increasing with every send, the same on receive', async () => {
  const q = await fifoQueue('seq.fifo', { ContentBasedDeduplication: 'true' });
  const sent: string[] = [];
  for (let i = 0; i < 5; i++) sent.push((await send(q, `m${i}`, i % 2 === 0 ? 'even' : 'odd')).SequenceNumber);
  const batch = await s.ok('SendMessageBatch', {
    QueueUrl: q,
    Entries: [0, 1, 2].map((i) => ({ Id: `b${i}`, MessageBody: `b${i}`, MessageGroupId: 'even' })),
  });
  for (const e of batch['Successful'] as { SequenceNumber: string }[]) sent.push(e.SequenceNumber);
  for (const n of sent) assert.match(n, /^\d{20}$/);
  for (let i = 1; i < sent.length; i++) assert.ok(sent[i]! > sent[i - 1]!, `${sent[i]} after ${sent[i - 1]}`);
  const got = await receive(q, { MessageSystemAttributeNames: ['SequenceNumber'] });
  const byBody = new Map(got.map((m) => [m.Body, m.Attributes?.['SequenceNumber']]));
  ['m0', 'm1', 'm2', 'm3', 'm4', 'b0', 'b1', 'b2'].forEach((b, i) => assert.equal(byBody.get(b), sent[i], b));
});

void test('ReceiveMessage reports MessageGroupId, MessageDeduplicationId and SequenceNumber, by name or with All', async () => {
  const q = await fifoQueue('sysattrs.fifo');
  const sent = await send(q, 'hello', 'grp-1', { MessageDeduplicationId: 'dedup-1' });
  const [m] = await receive(q, { MessageSystemAttributeNames: ['All'] });
  const a = m?.Attributes ?? {};
  assert.equal(a['MessageGroupId'], 'grp-1');
  assert.equal(a['MessageDeduplicationId'], 'dedup-1');
  assert.equal(a['SequenceNumber'], sent.SequenceNumber);
  assert.equal(a['SenderId'], SENDER);
  assert.equal(a['ApproximateReceiveCount'], '1');
  await s.ok('ChangeMessageVisibility', { QueueUrl: q, ReceiptHandle: m!.ReceiptHandle, VisibilityTimeout: 0 });
  const [again] = await receive(q, { AttributeNames: ['MessageGroupId', 'SequenceNumber'] });
  assert.deepEqual(again?.Attributes, { SequenceNumber: sent.SequenceNumber, MessageGroupId: 'grp-1' });
});

void test('a standard queue: MessageGroupId is kept as a system attribute only; no SequenceNumber; ReceiveRequestAttemptId accepted', async () => {
  await s.ok('CreateQueue', { QueueName: 'fair-1' });
  const q = s.url('fair-1');
  const r = await s.ok('SendMessage', { QueueUrl: q, MessageBody: 'x1', MessageGroupId: 'tenant-1' });
  assert.ok(!('SequenceNumber' in r));
  await s.ok('SendMessage', { QueueUrl: q, MessageBody: 'x2', MessageGroupId: 'tenant-1' });
  // Not a FIFO group: both messages of the group are delivered, in flight together.
  const got = await receive(q, { MessageSystemAttributeNames: ['All'], ReceiveRequestAttemptId: 'attempt-1' });
  assert.deepEqual(bodies(got).sort(), ['x1', 'x2']);
  for (const m of got) {
    assert.equal(m.Attributes?.['MessageGroupId'], 'tenant-1');
    assert.ok(!('SequenceNumber' in (m.Attributes ?? {})));
    assert.ok(!('MessageDeduplicationId' in (m.Attributes ?? {})));
  }
  const batch = await s.ok('SendMessageBatch', {
    QueueUrl: q,
    Entries: [
      { Id: 'ok', MessageBody: 'y', MessageGroupId: 'tenant-2' },
      { Id: 'dedup', MessageBody: 'y', MessageDeduplicationId: 'd' },
    ],
  });
  assert.deepEqual(
    (batch['Successful'] as { Id: string }[]).map((e) => e.Id),
    ['ok'],
  );
  assert.deepEqual(
    (batch['Failed'] as { Id: string; Code: string }[]).map((e) => [e.Id, e.Code]),
    [['dedup', 'InvalidParameterValue']],
  );
});

void test('SendMessageBatch to a FIFO queue: good entries are sent in order, each bad one fails alone', async () => {
  const q = await fifoQueue('batch.fifo');
  const r = await s.ok('SendMessageBatch', {
    QueueUrl: q,
    Entries: [
      { Id: 'first', MessageBody: 'p1', MessageGroupId: 'g', MessageDeduplicationId: 'p1' },
      { Id: 'nogroup', MessageBody: 'p2', MessageDeduplicationId: 'p2' },
      { Id: 'nodedup', MessageBody: 'p3', MessageGroupId: 'g' },
      { Id: 'delayed', MessageBody: 'p4', MessageGroupId: 'g', MessageDeduplicationId: 'p4', DelaySeconds: 3 },
      { Id: 'second', MessageBody: 'p5', MessageGroupId: 'g', MessageDeduplicationId: 'p5' },
      { Id: 'repeat', MessageBody: 'p1 again', MessageGroupId: 'g', MessageDeduplicationId: 'p1' },
    ],
  });
  const ok = r['Successful'] as { Id: string; MessageId: string; SequenceNumber: string; MD5OfMessageBody: string }[];
  assert.deepEqual(
    ok.map((e) => e.Id),
    ['first', 'second', 'repeat'],
  );
  assert.ok(ok[1]!.SequenceNumber > ok[0]!.SequenceNumber);
  assert.equal(ok[2]!.MessageId, ok[0]!.MessageId, 'a duplicate within the batch answers the first');
  assert.equal(ok[2]!.SequenceNumber, ok[0]!.SequenceNumber);
  const failed = r['Failed'] as { Id: string; Code: string; SenderFault: boolean }[];
  assert.deepEqual(
    failed.map((e) => [e.Id, e.Code, e.SenderFault]),
    [
      ['nogroup', 'MissingParameter', true],
      ['nodedup', 'InvalidParameterValue', true],
      ['delayed', 'InvalidParameterValue', true],
    ],
  );
  assert.deepEqual(bodies(await receive(q)), ['p1', 'p5']);
});

void test('SendMessageBatch to a FIFO queue without any id: every entry fails for its group', async () => {
  const q = await fifoQueue('batch-noid.fifo');
  const r = await s.ok('SendMessageBatch', { QueueUrl: q, Entries: [{ Id: 'a', MessageBody: 'a' }, { Id: 'b', MessageBody: 'b' }] });
  assert.deepEqual(r['Successful'], []);
  assert.deepEqual(
    (r['Failed'] as { Id: string; Code: string }[]).map((e) => [e.Id, e.Code]),
    [
      ['a', 'MissingParameter'],
      ['b', 'MissingParameter'],
    ],
  );
});

void test('the query protocol carries the FIFO members both ways (XML SequenceNumber and FIFO system attributes)', async () => {
  await fifoQueue('wire.fifo');
  const ctx = createSqsContext({
    service: s.node,
    auth: { mode: 'open' },
    actions: SQS_ACTIONS,
    verifySigV4: () => assert.fail('an open server checks no signature'),
    accountId: ACCOUNT,
    log: () => undefined,
    requestIdPrefix: 'fifo-',
  });
  const q = s.url('wire.fifo');
  const post = async (params: Record<string, string>) => {
    const a = await handleSqsRequest(ctx, {
      method: 'POST',
      host: '127.0.0.1:9324',
      path: '/',
      query: '',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.from(new URLSearchParams({ Version: '2012-11-05', ...params }).toString()),
      tls: false,
      remote: '127.0.0.1',
    });
    assert.equal(a.status, 200, a.body.toString('utf8'));
    return parseXml(a.body.toString('utf8'));
  };
  const sent = await post({ Action: 'SendMessage', QueueUrl: q, MessageBody: 'over query', MessageGroupId: 'g-q', MessageDeduplicationId: 'd-q' });
  const seq = text(sent, 'SendMessageResult', 'SequenceNumber');
  assert.match(seq, /^\d{20}$/);
  const got = await post({ Action: 'ReceiveMessage', QueueUrl: q, 'AttributeName.1': 'All', ReceiveRequestAttemptId: 'try-1' });
  const attrs = Object.fromEntries(all(all(got, 'ReceiveMessageResult')[0]!, 'Message').flatMap((m) => all(m, 'Attribute').map((a) => [text(a, 'Name'), text(a, 'Value')])));
  assert.equal(attrs['MessageGroupId'], 'g-q');
  assert.equal(attrs['MessageDeduplicationId'], 'd-q');
  assert.equal(attrs['SequenceNumber'], seq);
});
