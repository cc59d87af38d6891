// InMemoryCmq: the CMQ semantics users' tests rely on, driven by an injected clock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryCmq } from '../../src/client/fake';
import { CmqError } from '../../src/client/errors';
import { RECEIPT_HANDLE_RE } from '../../src/protocol/names';

function setup(): { cmq: InMemoryCmq; clock: { ms: number } } {
  const clock = { ms: 1_700_000_000_000 };
  return { cmq: new InMemoryCmq({ now: () => clock.ms, pollIntervalMs: 5 }), clock };
}

function isCode(code: number, moduleCode?: number): (e: unknown) => boolean {
  return (e: unknown) => e instanceof CmqError && e.code === code && (moduleCode === undefined || e.moduleCode === moduleCode);
}

void test('queue lifecycle: create, list, get, set, delete, with CMQ errors', async () => {
  const { cmq } = setup();
  assert.equal(await cmq.createQueue('orders', { visibilityTimeout: 5 }), 'queue-1');
  await cmq.createQueue('Other-queue');
  await assert.rejects(cmq.createQueue('ORDERS'), isCode(4460));
  await assert.rejects(cmq.createQueue('1bad'), isCode(4000, 10020));
  await assert.rejects(cmq.createQueue('q', { visibilityTimeout: 0 }), isCode(4000, 10350));
  await assert.rejects(cmq.createQueue('q', { rewindSeconds: 120, msgRetentionSeconds: 60 }), isCode(4000, 10700));

  const list = await cmq.listQueues({ searchWord: 'ORD' });
  assert.deepEqual(list, { totalCount: 1, queues: [{ queueId: 'queue-1', queueName: 'orders' }] });
  // Sorted by name in code-point order, as the server lists them: 'Other-queue' before 'orders'.
  assert.equal((await cmq.listQueues({ offset: 1, limit: 1 })).queues[0]?.queueName, 'orders');
  assert.equal((await cmq.listQueues()).totalCount, 2);

  const a = await cmq.getQueueAttributes('orders');
  assert.equal(a.visibilityTimeout, 5);
  assert.equal(a.maxMsgSize, 65536);
  assert.equal(a.createTime, 1_700_000_000);
  await cmq.setQueueAttributes('orders', { pollingWaitSeconds: 3 });
  assert.equal((await cmq.getQueueAttributes('orders')).pollingWaitSeconds, 3);
  assert.equal((await cmq.getQueueAttributes('orders')).visibilityTimeout, 5, 'other attributes are kept');

  await cmq.deleteQueue('orders');
  await assert.rejects(cmq.getQueueAttributes('orders'), isCode(4440, 10100));
  await assert.rejects(cmq.deleteQueue('orders'), isCode(4440));
});

void test('visibility timeout, receipt handles and 7000', async () => {
  const { cmq, clock } = setup();
  await cmq.createQueue('q', { visibilityTimeout: 30 });
  const id = await cmq.sendMessage('q', 'hello');
  const first = await cmq.receiveMessage('q', { pollingWaitSeconds: 0 });
  assert.ok(first);
  assert.equal(first.msgId, id);
  assert.equal(first.body, 'hello');
  assert.equal(first.dequeueCount, 1);
  assert.equal(first.enqueueTime, 1_700_000_000);
  assert.equal(first.firstDequeueTime, 1_700_000_000);
  assert.equal(first.nextVisibleTime, 1_700_000_030);
  assert.match(first.receiptHandle, RECEIPT_HANDLE_RE);
  assert.equal(await cmq.receiveMessage('q', { pollingWaitSeconds: 0 }), undefined, 'in flight: 7000');
  let attrs = await cmq.getQueueAttributes('q');
  assert.equal(attrs.inactiveMsgNum, 1);
  assert.equal(attrs.activeMsgNum, 0);

  clock.ms += 30_000;
  const second = await cmq.receiveMessage('q', { pollingWaitSeconds: 0 });
  assert.ok(second, 'visible again after the visibility timeout');
  assert.equal(second.dequeueCount, 2);
  assert.equal(second.firstDequeueTime, 1_700_000_000);
  assert.notEqual(second.receiptHandle, first.receiptHandle);
  await assert.rejects(cmq.deleteMessage('q', first.receiptHandle), isCode(4430, 10260), 'a superseded handle is invalid');
  await cmq.deleteMessage('q', second.receiptHandle);
  await assert.rejects(cmq.deleteMessage('q', second.receiptHandle), isCode(4430), 'deleting twice fails');
  clock.ms += 60_000;
  assert.equal(await cmq.receiveMessage('q', { pollingWaitSeconds: 0 }), undefined, 'deleted for good');
  attrs = await cmq.getQueueAttributes('q');
  assert.equal(attrs.activeMsgNum + attrs.inactiveMsgNum, 0);
});

void test('a handle expires at nextVisibleTime', async () => {
  const { cmq, clock } = setup();
  await cmq.createQueue('q', { visibilityTimeout: 2 });
  await cmq.sendMessage('q', 'x');
  const m = await cmq.receiveMessage('q', { pollingWaitSeconds: 0 });
  assert.ok(m);
  clock.ms += 2_000;
  await assert.rejects(cmq.deleteMessage('q', m.receiptHandle), isCode(4430));
});

void test('delayed messages stay hidden until due', async () => {
  const { cmq, clock } = setup();
  await cmq.createQueue('q');
  await cmq.sendMessage('q', 'later', { delaySeconds: 10 });
  assert.equal((await cmq.getQueueAttributes('q')).delayMsgNum, 1);
  assert.equal(await cmq.receiveMessage('q', { pollingWaitSeconds: 0 }), undefined);
  clock.ms += 10_000;
  assert.equal((await cmq.receiveMessage('q', { pollingWaitSeconds: 0 }))?.body, 'later');
  await assert.rejects(cmq.sendMessage('q', 'x', { delaySeconds: -1 }), isCode(4000, 10350));
});

void test('message size and batch limits', async () => {
  const { cmq } = setup();
  await cmq.createQueue('q', { maxMsgSize: 1024 });
  await assert.rejects(cmq.sendMessage('q', ''), isCode(4000, 10120));
  await assert.rejects(cmq.sendMessage('q', 'x'.repeat(1025)), isCode(4400, 10230));
  await cmq.sendMessage('q', Buffer.alloc(1024, 97));
  await assert.rejects(cmq.batchSendMessage('q', new Array<string>(17).fill('x')), isCode(4000, 10370));
  await assert.rejects(cmq.batchReceiveMessage('q', 17), isCode(4000, 10350));
  await assert.rejects(cmq.sendMessage('missing', 'x'), isCode(4440));
});

void test('batch send, receive in order, and batch delete with partial failure', async () => {
  const { cmq } = setup();
  await cmq.createQueue('q');
  const ids = await cmq.batchSendMessage('q', ['a', 'b', 'c']);
  assert.equal(ids.length, 3);
  const got = await cmq.batchReceiveMessage('q', 16, { pollingWaitSeconds: 0 });
  assert.deepEqual(
    got.map((m) => m.body),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(
    got.map((m) => m.msgId),
    ids,
  );
  const handles = got.map((m) => m.receiptHandle);
  const res = await cmq.batchDeleteMessage('q', [handles[0] ?? '', 'bogus', handles[2] ?? '']);
  assert.deepEqual(
    res.failed.map((f) => [f.receiptHandle, f.code]),
    [['bogus', 4430]],
  );
  assert.deepEqual(await cmq.batchDeleteMessage('q', [handles[1] ?? '']), { failed: [] });
  assert.deepEqual(await cmq.batchReceiveMessage('q', 2, { pollingWaitSeconds: 0 }), []);
});

void test('a long poll returns as soon as a message is sent', async () => {
  const cmq = new InMemoryCmq();
  await cmq.createQueue('q');
  const started = Date.now();
  const pending = cmq.receiveMessage('q', { pollingWaitSeconds: 5 });
  setTimeout(() => void cmq.sendMessage('q', 'wake'), 20);
  assert.equal((await pending)?.body, 'wake');
  assert.ok(Date.now() - started < 2000);
  // The queue's pollingWaitSeconds (0 by default) applies when the request gives none.
  assert.equal(await cmq.receiveMessage('q'), undefined);
});

void test('rewind redelivers deleted messages inside the window', async () => {
  const { cmq, clock } = setup();
  await cmq.createQueue('q', { rewindSeconds: 600 });
  await cmq.createQueue('plain');
  await assert.rejects(cmq.rewindQueue('plain', 1_700_000_000), isCode(6050, 10670));
  await cmq.sendMessage('q', 'm1');
  const m = await cmq.receiveMessage('q', { pollingWaitSeconds: 0 });
  assert.ok(m);
  await cmq.deleteMessage('q', m.receiptHandle);
  assert.equal((await cmq.getQueueAttributes('q')).rewindMsgNum, 1);
  clock.ms += 5_000;
  await assert.rejects(cmq.rewindQueue('q', 1_700_000_000 - 601), isCode(4000, 10680));
  await cmq.rewindQueue('q', 1_700_000_000);
  const again = await cmq.receiveMessage('q', { pollingWaitSeconds: 0 });
  assert.equal(again?.body, 'm1');
  assert.equal(again.dequeueCount, 2);
});

void test('dead letters: maxReceiveCount moves a message; DLQ rules', async () => {
  const { cmq, clock } = setup();
  await cmq.createQueue('dlq');
  await assert.rejects(
    cmq.createQueue('bad', { deadLetterPolicy: { deadLetterQueue: 'nope', policy: 0, maxReceiveCount: 1 } }),
    isCode(4000, 10730),
  );
  await cmq.createQueue('src', { visibilityTimeout: 1, deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 2 } });
  assert.deepEqual((await cmq.listDeadLetterSourceQueues('dlq')).queues.map((q) => q.queueName), ['src']);
  await assert.rejects(cmq.deleteQueue('dlq'), isCode(4000, 10750));
  await cmq.sendMessage('src', 'poison');
  for (let i = 0; i < 2; i++) {
    assert.equal((await cmq.receiveMessage('src', { pollingWaitSeconds: 0 }))?.body, 'poison');
    clock.ms += 1_000;
  }
  assert.equal(await cmq.receiveMessage('src', { pollingWaitSeconds: 0 }), undefined, 'moved instead of a third delivery');
  assert.equal((await cmq.receiveMessage('dlq', { pollingWaitSeconds: 0 }))?.body, 'poison');
  await cmq.unbindDeadLetterQueue('src');
  assert.equal((await cmq.getQueueAttributes('src')).deadLetterPolicy, undefined);
  await cmq.unbindDeadLetterQueue('src'); // a queue without a policy: succeeds, as on the server
  await cmq.deleteQueue('dlq');
});

void test('dead letters: time-to-live policy and retention', async () => {
  const { cmq, clock } = setup();
  await cmq.createQueue('dlq');
  await cmq.createQueue('src', { msgRetentionSeconds: 3600, deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 1, maxTimeToLive: 300 } });
  await cmq.sendMessage('src', 'stale');
  clock.ms += 300_000;
  assert.equal(await cmq.receiveMessage('src', { pollingWaitSeconds: 0 }), undefined);
  assert.equal((await cmq.receiveMessage('dlq', { pollingWaitSeconds: 0 }))?.body, 'stale');
  await cmq.createQueue('short', { msgRetentionSeconds: 60 });
  await cmq.sendMessage('short', 'old');
  clock.ms += 60_000;
  assert.equal((await cmq.getQueueAttributes('short')).activeMsgNum, 0, 'expired after retention');
});
