// Consumer over the in-memory fake: concurrency bound, delete on success only, redelivery after a
// failure, graceful stop, and surviving network errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer } from '../../src/client/consumer';
import { InMemoryCmq } from '../../src/client/fake';
import { CmqNetworkError } from '../../src/client/errors';
import type { Message, ReceiveOptions } from '../../src/client/types';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

void test('handles every message with at most `concurrency` handlers and deletes them (batched)', async () => {
  const cmq = new InMemoryCmq({ pollIntervalMs: 5 });
  await cmq.createQueue('jobs');
  const bodies = Array.from({ length: 40 }, (_, i) => `job-${i}`);
  for (let i = 0; i < bodies.length; i += 16) await cmq.batchSendMessage('jobs', bodies.slice(i, i + 16));

  let batchDeletes = 0;
  const realBatchDelete = cmq.batchDeleteMessage.bind(cmq);
  cmq.batchDeleteMessage = (q, handles) => {
    batchDeletes++;
    return realBatchDelete(q, handles);
  };
  const seen: string[] = [];
  let running = 0;
  let maxRunning = 0;
  const errors: unknown[] = [];
  const consumer = new Consumer(cmq, {
    queueName: 'jobs',
    concurrency: 4,
    batchSize: 8,
    pollingWaitSeconds: 1,
    onError: (e) => errors.push(e),
    handler: async (m) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(2);
      seen.push(m.body);
      running--;
    },
  });
  consumer.start();
  await until(() => seen.length === bodies.length, 'all messages handled');
  await consumer.stop({ abortReceive: true });
  assert.deepEqual([...seen].sort(), [...bodies].sort());
  assert.ok(maxRunning <= 4, `at most 4 handlers ran at once (saw ${maxRunning})`);
  assert.ok(maxRunning > 1, 'handlers did run concurrently');
  assert.ok(batchDeletes > 0, 'deletes were batched');
  assert.deepEqual(errors, []);
  const attrs = await cmq.getQueueAttributes('jobs');
  assert.equal(attrs.activeMsgNum + attrs.inactiveMsgNum, 0, 'every message was deleted');
});

void test('a failed handler leaves the message for redelivery and reports it', async () => {
  const clock = { ms: 1_000_000 };
  const cmq = new InMemoryCmq({ now: () => clock.ms, pollIntervalMs: 5 });
  await cmq.createQueue('q', { visibilityTimeout: 30 });
  await cmq.sendMessage('q', 'flaky');
  const attempts: number[] = [];
  const failures: Array<{ err: unknown; msg: Message | undefined }> = [];
  const consumer = new Consumer(cmq, {
    queueName: 'q',
    pollingWaitSeconds: 1,
    onError: (err, msg) => failures.push({ err, msg }),
    handler: (m) => {
      attempts.push(m.dequeueCount);
      if (m.dequeueCount === 1) throw new Error('boom');
    },
  });
  consumer.start();
  await until(() => failures.length === 1, 'the failure report');
  assert.equal((failures[0]?.err as Error).message, 'boom');
  assert.equal(failures[0]?.msg?.body, 'flaky');
  assert.equal((await cmq.getQueueAttributes('q')).inactiveMsgNum, 1, 'not deleted: still in flight');
  clock.ms += 30_000; // the visibility timeout passes
  await until(() => attempts.length === 2, 'the redelivery');
  await until(async () => (await cmq.getQueueAttributes('q')).inactiveMsgNum === 0, 'the delete');
  await consumer.stop({ abortReceive: true });
  assert.deepEqual(attempts, [1, 2]);
  assert.equal((await cmq.getQueueAttributes('q')).activeMsgNum, 0);
});

void test('stop() waits for running handlers and their deletes', async () => {
  const cmq = new InMemoryCmq({ pollIntervalMs: 5 });
  await cmq.createQueue('q');
  await cmq.batchSendMessage('q', ['a', 'b']);
  let started = 0;
  let finished = 0;
  const consumer = new Consumer(cmq, {
    queueName: 'q',
    concurrency: 2,
    batchSize: 2,
    pollingWaitSeconds: 0,
    handler: async () => {
      started++;
      await sleep(100);
      finished++;
    },
  });
  consumer.start();
  await until(() => started === 2, 'both handlers started');
  await consumer.stop();
  assert.equal(finished, 2);
  assert.equal(consumer.inFlightCount, 0);
  const attrs = await cmq.getQueueAttributes('q');
  assert.equal(attrs.activeMsgNum + attrs.inactiveMsgNum, 0, 'deletes completed before stop() resolved');
  assert.equal(consumer.isRunning, false);
});

void test('stop({abortReceive}) ends a long poll at once; without it stop waits for the poll', async () => {
  const cmq = new InMemoryCmq();
  await cmq.createQueue('q');
  const consumer = new Consumer(cmq, { queueName: 'q', pollingWaitSeconds: 30, handler: () => undefined, onError: () => undefined });
  consumer.start();
  await sleep(20);
  const t0 = Date.now();
  await consumer.stop({ abortReceive: true });
  assert.ok(Date.now() - t0 < 1000);

  const capped = new InMemoryCmq({ maxWaitMs: 150 });
  await capped.createQueue('q');
  const slow = new Consumer(capped, { queueName: 'q', pollingWaitSeconds: 1, handler: () => undefined, onError: () => undefined });
  slow.start();
  await sleep(20);
  const t1 = Date.now();
  await slow.stop();
  assert.ok(Date.now() - t1 >= 50, 'waited for the poll to end');
});

void test('network errors on receive are reported, backed off and retried', async () => {
  const cmq = new InMemoryCmq({ pollIntervalMs: 5 });
  await cmq.createQueue('q');
  await cmq.sendMessage('q', 'eventually');
  let failuresLeft = 3;
  const realReceive = cmq.receiveMessage.bind(cmq);
  cmq.receiveMessage = (q: string, opts?: ReceiveOptions) => {
    if (failuresLeft > 0) {
      failuresLeft--;
      return Promise.reject(new CmqNetworkError('connect', 'ECONNREFUSED', { mayHaveBeenApplied: false }));
    }
    return realReceive(q, opts);
  };
  const errors: unknown[] = [];
  const handled: string[] = [];
  const consumer = new Consumer(cmq, {
    queueName: 'q',
    pollingWaitSeconds: 1,
    minBackoffMs: 5,
    maxBackoffMs: 20,
    onError: (e) => errors.push(e),
    handler: (m) => void handled.push(m.body),
  });
  consumer.start();
  await until(() => handled.length === 1, 'the message after the errors');
  await consumer.stop({ abortReceive: true });
  assert.equal(errors.length, 3);
  assert.ok(errors.every((e) => e instanceof CmqNetworkError));
  assert.deepEqual(handled, ['eventually']);
});

void test('option validation', () => {
  const cmq = new InMemoryCmq();
  const handler = (): void => undefined;
  assert.throws(() => new Consumer(cmq, { queueName: 'q', handler, batchSize: 17 }), RangeError);
  assert.throws(() => new Consumer(cmq, { queueName: 'q', handler, batchSize: 0 }), RangeError);
  assert.throws(() => new Consumer(cmq, { queueName: 'q', handler, concurrency: 0 }), RangeError);
  assert.throws(() => new Consumer(cmq, { queueName: 'q', handler, pollingWaitSeconds: 31 }), RangeError);
});
