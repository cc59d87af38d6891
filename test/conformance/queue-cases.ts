// Queue behaviour cases (spec §2), written once against CmqApi and run against every
// implementation (test/unit/conformance-fake.test.ts, test/integration/conformance-server.test.ts).
// Time: no implementation-specific clock; the few cases about visibility, delay and dead letters
// use the shortest settings (1 s) and wait with generous margins.

import assert from 'node:assert/strict';

import type { Message } from '../../src/client/types';
import { QUEUE_ATTR_RANGES } from '../../src/protocol/limits';
import { fresh, nowSec, rejectsWith, sleep, type CmqApi, type ConformanceCase } from './target';

async function newQueue(api: CmqApi, prefix: string, attrs: Parameters<CmqApi['createQueue']>[1] = {}): Promise<string> {
  const name = fresh(prefix);
  const id = await api.createQueue(name, attrs);
  assert.equal(typeof id, 'string');
  assert.ok(id.length > 0);
  return name;
}

/** Receives one message, waiting up to `waitSeconds`; fails when none comes. */
async function receiveOne(api: CmqApi, queue: string, waitSeconds = 5): Promise<Message> {
  const m = await api.receiveMessage(queue, { pollingWaitSeconds: waitSeconds });
  assert.ok(m, `a message in ${queue} within ${waitSeconds} s`);
  return m;
}

/** Receives (without deleting) until `count` distinct bodies arrived or `waitSeconds` passed. */
async function receiveBodies(api: CmqApi, queue: string, count: number, waitSeconds = 5): Promise<string[]> {
  const out: string[] = [];
  const deadline = Date.now() + waitSeconds * 1000;
  while (out.length < count && Date.now() < deadline) {
    const got = await api.batchReceiveMessage(queue, 16, { pollingWaitSeconds: 1 });
    out.push(...got.map((m) => m.body));
  }
  return out;
}

export const queueCases: readonly ConformanceCase[] = [
  {
    name: 'dedupId: a repeated send or batch send with the same id answers the first msgIds and enqueues nothing; another id enqueues',
    run: async (api) => {
      const q = await newQueue(api, 'q-dedup');
      const id = await api.sendMessage(q, 'once', { dedupId: 'op-1' });
      assert.equal(await api.sendMessage(q, 'once', { dedupId: 'op-1' }), id);
      const batch = await api.batchSendMessage(q, ['a', 'b'], { dedupId: 'op-2' });
      assert.deepEqual(await api.batchSendMessage(q, ['a', 'b'], { dedupId: 'op-2' }), batch);
      assert.notEqual(await api.sendMessage(q, 'once', { dedupId: 'op-3' }), id);
      assert.deepEqual((await receiveBodies(api, q, 5, 2)).sort(), ['a', 'b', 'once', 'once']);
    },
  },
  {
    name: 'createQueue → getQueueAttributes: documented defaults, empty counts, name and id',
    run: async (api) => {
      const t0 = nowSec();
      const name = fresh('q-attrs');
      const id = await api.createQueue(name);
      const a = await api.getQueueAttributes(name);
      assert.equal(a.queueName, name);
      assert.equal(a.queueId, id);
      for (const [key, range] of Object.entries(QUEUE_ATTR_RANGES)) {
        assert.equal(a[key as keyof typeof a], range.def, key);
      }
      assert.deepEqual(
        [a.activeMsgNum, a.inactiveMsgNum, a.delayMsgNum, a.rewindMsgNum],
        [0, 0, 0, 0],
      );
      assert.ok(a.createTime >= t0 - 1 && a.createTime <= nowSec() + 1, `createTime ${a.createTime}`);
      assert.equal(a.deadLetterPolicy, undefined);
    },
  },
  {
    name: 'createQueue with attributes keeps them',
    run: async (api) => {
      const name = await newQueue(api, 'q-custom', { visibilityTimeout: 5, maxMsgSize: 2048, pollingWaitSeconds: 3, msgRetentionSeconds: 3600, rewindSeconds: 600 });
      const a = await api.getQueueAttributes(name);
      assert.deepEqual(
        [a.visibilityTimeout, a.maxMsgSize, a.pollingWaitSeconds, a.msgRetentionSeconds, a.rewindSeconds],
        [5, 2048, 3, 3600, 600],
      );
    },
  },
  {
    name: 'createQueue: an existing name (case-insensitive) fails 4460',
    run: async (api) => {
      const name = await newQueue(api, 'q-dup');
      await rejectsWith(api.createQueue(name), 'queueExists');
      await rejectsWith(api.createQueue(name.toUpperCase()), 'queueExists');
    },
  },
  {
    name: 'createQueue: a malformed name fails 4000/10020',
    run: async (api) => {
      await rejectsWith(api.createQueue('9starts-with-digit'), 'queueNameFormat');
      await rejectsWith(api.createQueue('has space'), 'queueNameFormat');
      await rejectsWith(api.createQueue(`q${'x'.repeat(64)}`), 'queueNameFormat');
    },
  },
  {
    name: 'createQueue / setQueueAttributes: out-of-range attributes fail 4000/10350',
    run: async (api) => {
      await rejectsWith(api.createQueue(fresh('q-range'), { visibilityTimeout: 0 }), 'paramOutOfRange');
      await rejectsWith(api.createQueue(fresh('q-range'), { maxMsgSize: 1023 }), 'paramOutOfRange');
      await rejectsWith(api.createQueue(fresh('q-range'), { pollingWaitSeconds: 31 }), 'paramOutOfRange');
      const name = await newQueue(api, 'q-range');
      await rejectsWith(api.setQueueAttributes(name, { msgRetentionSeconds: 59 }), 'paramOutOfRange');
      assert.equal((await api.getQueueAttributes(name)).msgRetentionSeconds, QUEUE_ATTR_RANGES.msgRetentionSeconds.def);
    },
  },
  {
    name: 'rewindSeconds larger than msgRetentionSeconds is refused',
    run: async (api) => {
      await rejectsWith(api.createQueue(fresh('q-rw'), { msgRetentionSeconds: 600, rewindSeconds: 601 }), 'rewindSecondsTooLarge');
    },
  },
  {
    name: 'setQueueAttributes changes only what is given and moves lastModifyTime',
    run: async (api) => {
      const name = await newQueue(api, 'q-set');
      const before = await api.getQueueAttributes(name);
      await api.setQueueAttributes(name, { visibilityTimeout: 7, maxMsgSize: 4096 });
      const a = await api.getQueueAttributes(name);
      assert.equal(a.visibilityTimeout, 7);
      assert.equal(a.maxMsgSize, 4096);
      assert.equal(a.pollingWaitSeconds, before.pollingWaitSeconds);
      assert.equal(a.msgRetentionSeconds, before.msgRetentionSeconds);
      assert.ok(a.lastModifyTime >= before.lastModifyTime);
    },
  },
  {
    name: 'listQueues: searchWord, totalCount before paging, offset and limit',
    run: async (api) => {
      const word = fresh('ql');
      const names = [`${word}-a`, `${word}-b`, `${word}-c`];
      for (const n of names) await api.createQueue(n);
      const all = await api.listQueues({ searchWord: word });
      assert.equal(all.totalCount, 3);
      assert.deepEqual(all.queues.map((q) => q.queueName).sort(), names);
      for (const q of all.queues) assert.equal(typeof q.queueId, 'string');
      const page = await api.listQueues({ searchWord: word, offset: 1, limit: 1 });
      assert.equal(page.totalCount, 3);
      assert.equal(page.queues.length, 1);
      const rest = await api.listQueues({ searchWord: word, offset: 3 });
      assert.equal(rest.totalCount, 3);
      assert.deepEqual(rest.queues, []);
    },
  },
  {
    name: 'deleteQueue: the queue is gone (4440 afterwards, name reusable)',
    run: async (api) => {
      const name = await newQueue(api, 'q-del');
      await api.deleteQueue(name);
      await rejectsWith(api.getQueueAttributes(name), 'queueNotExist');
      await rejectsWith(api.deleteQueue(name), 'queueNotExist');
      assert.equal((await api.listQueues({ searchWord: name })).totalCount, 0);
      await api.createQueue(name);
    },
  },
  {
    name: 'every queue action on a missing queue fails 4440/10100',
    run: async (api) => {
      const q = fresh('q-missing');
      await rejectsWith(api.getQueueAttributes(q), 'queueNotExist');
      await rejectsWith(api.setQueueAttributes(q, { visibilityTimeout: 5 }), 'queueNotExist');
      await rejectsWith(api.sendMessage(q, 'x'), 'queueNotExist');
      await rejectsWith(api.batchSendMessage(q, ['x']), 'queueNotExist');
      await rejectsWith(api.receiveMessage(q, { pollingWaitSeconds: 0 }), 'queueNotExist');
      await rejectsWith(api.batchReceiveMessage(q, 2, { pollingWaitSeconds: 0 }), 'queueNotExist');
      await rejectsWith(api.deleteMessage(q, 'abc'), 'queueNotExist');
      await rejectsWith(api.batchDeleteMessage(q, ['abc']), 'queueNotExist');
      await rejectsWith(api.rewindQueue(q, nowSec()), 'queueNotExist');
      await rejectsWith(api.listDeadLetterSourceQueues(q), 'queueNotExist');
    },
  },
  {
    name: 'send → receive → delete: body, msgId, times, dequeueCount; the queue is then empty',
    run: async (api) => {
      const q = await newQueue(api, 'q-srd');
      const t0 = nowSec();
      const body = 'hello, 世界 & =+%';
      const id = await api.sendMessage(q, body);
      const m = await receiveOne(api, q);
      assert.equal(m.msgId, id);
      assert.equal(m.body, body);
      assert.equal(m.dequeueCount, 1);
      assert.ok(m.receiptHandle.length > 0);
      assert.ok(m.enqueueTime >= t0 - 1 && m.enqueueTime <= nowSec() + 1, `enqueueTime ${m.enqueueTime}`);
      assert.ok(m.firstDequeueTime >= m.enqueueTime);
      assert.ok(m.nextVisibleTime >= m.firstDequeueTime + 29, `nextVisibleTime ${m.nextVisibleTime} with the default 30 s timeout`);
      await api.deleteMessage(q, m.receiptHandle);
      assert.equal(await api.receiveMessage(q, { pollingWaitSeconds: 0 }), undefined);
      const a = await api.getQueueAttributes(q);
      assert.deepEqual([a.activeMsgNum, a.inactiveMsgNum], [0, 0]);
    },
  },
  {
    name: 'a Buffer body arrives as its UTF-8 text',
    run: async (api) => {
      const q = await newQueue(api, 'q-buf');
      await api.sendMessage(q, Buffer.from('bytes ✓', 'utf8'));
      assert.equal((await receiveOne(api, q)).body, 'bytes ✓');
    },
  },
  {
    name: 'receive on an empty queue: undefined / [] (7000 is not an error)',
    run: async (api) => {
      const q = await newQueue(api, 'q-empty');
      assert.equal(await api.receiveMessage(q, { pollingWaitSeconds: 0 }), undefined);
      assert.deepEqual(await api.batchReceiveMessage(q, 16, { pollingWaitSeconds: 0 }), []);
      const t = Date.now();
      assert.equal(await api.receiveMessage(q, { pollingWaitSeconds: 1 }), undefined);
      assert.ok(Date.now() - t >= 900, 'a 1 s long poll waits about a second');
    },
  },
  {
    name: 'a long poll is woken by a send',
    run: async (api) => {
      const q = await newQueue(api, 'q-poll');
      const t = Date.now();
      const pending = api.receiveMessage(q, { pollingWaitSeconds: 20 });
      await sleep(300);
      await api.sendMessage(q, 'wake');
      const m = await pending;
      assert.equal(m?.body, 'wake');
      assert.ok(Date.now() - t < 15_000, 'woken well before the 20 s wait ended');
    },
  },
  {
    name: 'batch send → batch receive → batch delete: order, ids, all deleted',
    run: async (api) => {
      const q = await newQueue(api, 'q-batch');
      const bodies = Array.from({ length: 5 }, (_, i) => `b${i}`);
      const ids = await api.batchSendMessage(q, bodies);
      assert.equal(ids.length, 5);
      assert.equal(new Set(ids).size, 5);
      const got = await api.batchReceiveMessage(q, 16, { pollingWaitSeconds: 2 });
      assert.deepEqual(got.map((m) => m.body), bodies);
      assert.deepEqual(got.map((m) => m.msgId), ids);
      const r = await api.batchDeleteMessage(q, got.map((m) => m.receiptHandle));
      assert.deepEqual(r.failed, []);
      assert.deepEqual(await api.batchReceiveMessage(q, 16, { pollingWaitSeconds: 0 }), []);
    },
  },
  {
    name: 'batchReceiveMessage returns at most numOfMsg',
    run: async (api) => {
      const q = await newQueue(api, 'q-num');
      await api.batchSendMessage(q, ['1', '2', '3']);
      const got = await api.batchReceiveMessage(q, 2, { pollingWaitSeconds: 1 });
      assert.deepEqual(got.map((m) => m.body), ['1', '2']);
    },
  },
  {
    name: 'batch limits: more than 16 bodies, numOfMsg 0 or 17, more than 16 handles',
    run: async (api) => {
      const q = await newQueue(api, 'q-blim');
      const seventeen = Array.from({ length: 17 }, (_, i) => `m${i}`);
      await rejectsWith(api.batchSendMessage(q, seventeen), 'batchSizeOutOfRange');
      await rejectsWith(api.batchReceiveMessage(q, 17, { pollingWaitSeconds: 0 }), 'paramOutOfRange');
      await rejectsWith(api.batchReceiveMessage(q, 0, { pollingWaitSeconds: 0 }), 'paramOutOfRange');
      await rejectsWith(api.batchDeleteMessage(q, seventeen), 'batchSizeOutOfRange');
      assert.equal((await api.getQueueAttributes(q)).activeMsgNum, 0, 'nothing of the refused batch was enqueued');
    },
  },
  {
    name: 'message body limits: empty fails 4000/10120, over maxMsgSize fails 4400',
    run: async (api) => {
      const q = await newQueue(api, 'q-size', { maxMsgSize: 1024 });
      await rejectsWith(api.sendMessage(q, ''), 'msgBodyEmpty');
      await rejectsWith(api.sendMessage(q, 'x'.repeat(1025)), 'msgTooLarge');
      await rejectsWith(api.batchSendMessage(q, ['ok', 'x'.repeat(1025)]), 'msgTooLarge');
      await api.sendMessage(q, 'x'.repeat(1024));
      const a = await api.getQueueAttributes(q);
      assert.equal(a.activeMsgNum, 1, 'only the message at the limit was enqueued');
    },
  },
  {
    name: 'out-of-range delaySeconds and pollingWaitSeconds fail 4000/10350',
    run: async (api) => {
      const q = await newQueue(api, 'q-prange');
      await rejectsWith(api.sendMessage(q, 'x', { delaySeconds: -1 }), 'paramOutOfRange');
      await rejectsWith(api.receiveMessage(q, { pollingWaitSeconds: 31 }), 'paramOutOfRange');
    },
  },
  {
    name: 'deleteMessage: an unknown handle fails 4430; a used handle fails 4430 the second time',
    run: async (api) => {
      const q = await newQueue(api, 'q-handle');
      await api.sendMessage(q, 'x');
      const m = await receiveOne(api, q);
      await rejectsWith(api.deleteMessage(q, `${m.receiptHandle}0`), 'receiptHandleInvalid');
      await api.deleteMessage(q, m.receiptHandle);
      await rejectsWith(api.deleteMessage(q, m.receiptHandle), 'receiptHandleInvalid');
    },
  },
  {
    name: 'batchDeleteMessage: partial failure lists only the bad handles, with 4430',
    run: async (api) => {
      const q = await newQueue(api, 'q-bdel');
      await api.batchSendMessage(q, ['a', 'b']);
      const got = await api.batchReceiveMessage(q, 2, { pollingWaitSeconds: 2 });
      assert.equal(got.length, 2);
      const bogus = `${got[0]!.receiptHandle}0`;
      const r = await api.batchDeleteMessage(q, [got[0]!.receiptHandle, bogus, got[1]!.receiptHandle]);
      assert.equal(r.failed.length, 1);
      assert.equal(r.failed[0]!.receiptHandle, bogus);
      assert.equal(r.failed[0]!.code, 4430);
      const all = await api.batchDeleteMessage(q, [got[0]!.receiptHandle]);
      assert.deepEqual(all.failed.map((f) => [f.receiptHandle, f.code]), [[got[0]!.receiptHandle, 4430]]);
    },
  },
  {
    name: 'visibility timeout: a received message is hidden, then redelivered with a new handle; the old one is dead',
    run: async (api) => {
      // 3 s: long enough that the checks below run while the message is surely still in flight.
      const q = await newQueue(api, 'q-vis', { visibilityTimeout: 3 });
      await api.sendMessage(q, 'again');
      const first = await receiveOne(api, q);
      assert.equal(await api.receiveMessage(q, { pollingWaitSeconds: 0 }), undefined, 'hidden while in flight');
      const a = await api.getQueueAttributes(q);
      assert.deepEqual([a.activeMsgNum, a.inactiveMsgNum], [0, 1]);
      const second = await receiveOne(api, q, 15);
      assert.equal(second.msgId, first.msgId);
      assert.equal(second.dequeueCount, 2);
      assert.equal(second.firstDequeueTime, first.firstDequeueTime);
      assert.notEqual(second.receiptHandle, first.receiptHandle);
      await rejectsWith(api.deleteMessage(q, first.receiptHandle), 'receiptHandleInvalid');
      await api.deleteMessage(q, second.receiptHandle);
    },
  },
  {
    name: 'delaySeconds hides a message until the delay has passed',
    run: async (api) => {
      const q = await newQueue(api, 'q-delay');
      await api.sendMessage(q, 'later', { delaySeconds: 4 });
      assert.equal(await api.receiveMessage(q, { pollingWaitSeconds: 0 }), undefined);
      const a = await api.getQueueAttributes(q);
      assert.deepEqual([a.activeMsgNum, a.delayMsgNum], [0, 1]);
      const m = await receiveOne(api, q, 15);
      assert.equal(m.body, 'later');
    },
  },
  {
    name: 'dead letter by receive count: a message received maxReceiveCount times moves to the dead-letter queue',
    run: async (api) => {
      const dlq = await newQueue(api, 'q-dlq');
      const src = await newQueue(api, 'q-src', { visibilityTimeout: 1, deadLetterPolicy: { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 1 } });
      const a = await api.getQueueAttributes(src);
      assert.deepEqual(a.deadLetterPolicy, { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 1 });
      const id = await api.sendMessage(src, 'poison');
      await receiveOne(api, src);
      await sleep(1500);
      // The next receive finds the message over its receive count and moves it instead.
      assert.equal(await api.receiveMessage(src, { pollingWaitSeconds: 1 }), undefined);
      // The moved message keeps its msgId and starts over: first receive there counts 1.
      const moved = await receiveOne(api, dlq, 10);
      assert.deepEqual([moved.body, moved.msgId, moved.dequeueCount], ['poison', id, 1]);
      assert.equal((await api.getQueueAttributes(src)).activeMsgNum + (await api.getQueueAttributes(src)).inactiveMsgNum, 0);
    },
  },
  {
    name: 'redrive: dead letters go back to their source (msgId and body kept), others stay; a named destination takes any; errors',
    run: async (api) => {
      const dlq = await newQueue(api, 'q-dlq');
      const src = await newQueue(api, 'q-src', { visibilityTimeout: 1, deadLetterPolicy: { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 1 } });
      const other = await newQueue(api, 'q-other');
      const ids = await api.batchSendMessage(src, ['p1', 'p2']);
      assert.equal((await receiveBodies(api, src, 2)).length, 2);
      await sleep(1500);
      // Over their receive count: this receive moves both to the dead-letter queue.
      assert.deepEqual(await api.batchReceiveMessage(src, 16, { pollingWaitSeconds: 1 }), []);
      await api.sendMessage(dlq, 'direct');
      assert.equal((await api.getQueueAttributes(dlq)).activeMsgNum, 3);

      assert.equal(await api.redriveDeadLetterQueue(dlq), 2);
      const back = await api.batchReceiveMessage(src, 16, { pollingWaitSeconds: 1 });
      assert.deepEqual(back.map((m) => [m.body, m.msgId, m.dequeueCount]).sort(), [['p1', ids[0], 1], ['p2', ids[1], 1]]);
      // Sent to the dead-letter queue directly: no source to go back to.
      assert.equal((await api.getQueueAttributes(dlq)).activeMsgNum, 1);
      assert.equal(await api.redriveDeadLetterQueue(dlq), 0);

      assert.equal(await api.redriveDeadLetterQueue(dlq, { destinationQueue: other, maxMessages: 1 }), 1);
      assert.equal((await receiveOne(api, other)).body, 'direct');
      assert.equal(await api.redriveDeadLetterQueue(dlq, { destinationQueue: other }), 0);

      await rejectsWith(api.redriveDeadLetterQueue(fresh('q-none')), 'queueNotExist');
      await rejectsWith(api.redriveDeadLetterQueue(dlq, { destinationQueue: fresh('q-none') }), 'queueNotExist');
      await rejectsWith(api.redriveDeadLetterQueue(dlq, { destinationQueue: dlq }), 'moveSameQueue');
      await rejectsWith(api.redriveDeadLetterQueue(dlq, { maxMessages: 0 }), 'paramOutOfRange');
      await rejectsWith(api.redriveDeadLetterQueue('9-bad'), 'queueNameFormat');
    },
  },
  {
    name: 'dead-letter bindings: sources listed, the target cannot be deleted, unbind, unbind again is a no-op',
    run: async (api) => {
      const dlq = await newQueue(api, 'q-dlq');
      const src = await newQueue(api, 'q-src');
      await api.setQueueAttributes(src, { deadLetterPolicy: { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 3 } });
      const sources = await api.listDeadLetterSourceQueues(dlq);
      assert.equal(sources.totalCount, 1);
      assert.deepEqual(sources.queues.map((q) => q.queueName), [src]);
      await rejectsWith(api.deleteQueue(dlq), 'dlqDeleteInUse');
      await api.unbindDeadLetterQueue(src);
      assert.equal((await api.getQueueAttributes(src)).deadLetterPolicy, undefined);
      assert.equal((await api.listDeadLetterSourceQueues(dlq)).totalCount, 0);
      // Unbinding a queue that has no policy succeeds: no policy is what the caller wants.
      const modified = (await api.getQueueAttributes(src)).lastModifyTime;
      await api.unbindDeadLetterQueue(src);
      assert.equal((await api.getQueueAttributes(src)).lastModifyTime, modified);
      await api.deleteQueue(dlq);
    },
  },
  {
    name: 'dead-letter policy errors: missing target, nesting, bad parameters',
    run: async (api) => {
      const dlq = await newQueue(api, 'q-dlq');
      const src = await newQueue(api, 'q-src', { deadLetterPolicy: { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 2 } });
      await rejectsWith(api.createQueue(fresh('q-x'), { deadLetterPolicy: { deadLetterQueue: fresh('q-none'), policy: 0, maxReceiveCount: 2 } }), 'dlqNotExist');
      // src already dead-letters: it cannot be a dead-letter queue itself.
      await rejectsWith(api.createQueue(fresh('q-x'), { deadLetterPolicy: { deadLetterQueue: src, policy: 0, maxReceiveCount: 2 } }), 'dlqNested');
      // A queue naming itself: a parameter error (checked before nesting).
      await rejectsWith(api.setQueueAttributes(src, { deadLetterPolicy: { deadLetterQueue: src, policy: 0, maxReceiveCount: 2 } }), 'dlqPolicyParams');
      // The policy's own fields are checked before its target: a bad count wins over a missing queue.
      await rejectsWith(api.createQueue(fresh('q-x'), { deadLetterPolicy: { deadLetterQueue: fresh('q-none'), policy: 0, maxReceiveCount: 0 } }), 'dlqPolicyParams');
      await rejectsWith(api.createQueue(fresh('q-x'), { deadLetterPolicy: { deadLetterQueue: '9-not-a-name', policy: 0, maxReceiveCount: 1 } }), 'dlqNotExist');
      await rejectsWith(api.createQueue(fresh('q-x'), { deadLetterPolicy: { deadLetterQueue: dlq, policy: 1, maxTimeToLive: 3600 }, msgRetentionSeconds: 3600 }), 'dlqPolicyParams');
      await rejectsWith(api.createQueue(fresh('q-x'), { deadLetterPolicy: { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 0 } }), 'dlqPolicyParams');
      await rejectsWith(api.createQueue(fresh('q-x'), { deadLetterPolicy: { deadLetterQueue: dlq, policy: 1 } }), 'dlqPolicyParams');
      // The policy in force is checked on every change: retention may not drop to its time-to-live.
      const ttl = await newQueue(api, 'q-ttl', { msgRetentionSeconds: 3600, deadLetterPolicy: { deadLetterQueue: dlq, policy: 1, maxTimeToLive: 300 } });
      await rejectsWith(api.setQueueAttributes(ttl, { msgRetentionSeconds: 300 }), 'dlqPolicyParams');
      assert.equal((await api.getQueueAttributes(ttl)).msgRetentionSeconds, 3600);
    },
  },
  {
    name: 'rewind: deleted messages come back from the chosen time; counted as rewind messages meanwhile',
    run: async (api) => {
      const q = await newQueue(api, 'q-rewind', { rewindSeconds: 3600 });
      const start = nowSec() - 1;
      await api.batchSendMessage(q, ['r1', 'r2']);
      const got = await api.batchReceiveMessage(q, 16, { pollingWaitSeconds: 2 });
      assert.equal(got.length, 2);
      assert.deepEqual((await api.batchDeleteMessage(q, got.map((m) => m.receiptHandle))).failed, []);
      const a = await api.getQueueAttributes(q);
      assert.deepEqual([a.activeMsgNum, a.rewindMsgNum], [0, 2]);
      await api.rewindQueue(q, start);
      assert.deepEqual((await receiveBodies(api, q, 2)).sort(), ['r1', 'r2']);
    },
  },
  {
    name: 'rewind errors: rewindSeconds 0 fails 6050, a time in the future or past the window fails',
    run: async (api) => {
      const plain = await newQueue(api, 'q-norw');
      await rejectsWith(api.rewindQueue(plain, nowSec()), 'rewindDisabled');
      const q = await newQueue(api, 'q-rwerr', { rewindSeconds: 60 });
      await rejectsWith(api.rewindQueue(q, nowSec() + 3600), 'rewindTimeInvalid');
      await rejectsWith(api.rewindQueue(q, nowSec() - 3600), 'rewindTimeInvalid');
    },
  },
  {
    name: 'listQueues is sorted by name whatever the creation order; limit is capped at 50',
    run: async (api) => {
      const word = fresh('qs');
      for (const suffix of ['c', 'a', 'Z', 'b']) await api.createQueue(`${word}-${suffix}`);
      const list = await api.listQueues({ searchWord: word });
      assert.deepEqual(list.queues.map((q) => q.queueName), [`${word}-Z`, `${word}-a`, `${word}-b`, `${word}-c`]);
      const upper = await api.listQueues({ searchWord: word.toUpperCase() });
      assert.equal(upper.totalCount, 4, 'searchWord matches case-insensitively');
      const capped = await api.listQueues({ limit: 1000 });
      assert.ok(capped.queues.length <= 50, `at most 50 per page, got ${capped.queues.length}`);
    },
  },
  {
    name: 'the queue pollingWaitSeconds applies when a receive gives none',
    run: async (api) => {
      const q = await newQueue(api, 'q-qwait', { pollingWaitSeconds: 1 });
      const t = Date.now();
      assert.equal(await api.receiveMessage(q), undefined);
      assert.ok(Date.now() - t >= 900, 'waited about the queue setting');
    },
  },
  {
    name: 'delaySeconds: the largest allowed delay is accepted, one more is refused',
    run: async (api) => {
      const q = await newQueue(api, 'q-dmax');
      await api.sendMessage(q, 'far', { delaySeconds: 6_048_000 });
      await rejectsWith(api.sendMessage(q, 'too far', { delaySeconds: 6_048_001 }), 'paramOutOfRange');
      await rejectsWith(api.batchSendMessage(q, ['a'], { delaySeconds: 6_048_001 }), 'paramOutOfRange');
      assert.equal((await api.getQueueAttributes(q)).delayMsgNum, 1);
    },
  },
  {
    name: 'empty batches (send, delete) are answered without a request: no error, even for a missing queue',
    run: async (api) => {
      const q = await newQueue(api, 'q-bempty');
      assert.deepEqual(await api.batchSendMessage(q, []), []);
      assert.deepEqual(await api.batchDeleteMessage(q, []), { failed: [] });
      const missing = fresh('q-missing');
      assert.deepEqual(await api.batchSendMessage(missing, []), []);
      assert.deepEqual(await api.batchDeleteMessage(missing, []), { failed: [] });
      assert.equal((await api.getQueueAttributes(q)).activeMsgNum, 0);
    },
  },
  {
    name: 'rewind brings back deleted and in-flight messages but not ones still delayed',
    run: async (api) => {
      const q = await newQueue(api, 'q-rwmix', { rewindSeconds: 3600 });
      const start = nowSec() - 1;
      await api.sendMessage(q, 'deleted');
      await api.sendMessage(q, 'inflight');
      await api.sendMessage(q, 'delayed', { delaySeconds: 3600 });
      const got = await api.batchReceiveMessage(q, 16, { pollingWaitSeconds: 2 });
      assert.deepEqual(got.map((m) => m.body), ['deleted', 'inflight']);
      await api.deleteMessage(q, got[0]!.receiptHandle);
      await api.rewindQueue(q, start);
      assert.deepEqual((await receiveBodies(api, q, 2)).sort(), ['deleted', 'inflight']);
      const a = await api.getQueueAttributes(q);
      assert.equal(a.delayMsgNum, 1, 'the delayed message is still delayed');
      // The old handle of the message made visible again by the rewind no longer deletes.
      await rejectsWith(api.deleteMessage(q, got[1]!.receiptHandle), 'receiptHandleInvalid');
    },
  },
  {
    name: 'setting rewindSeconds to 0 drops the rewind area',
    run: async (api) => {
      const q = await newQueue(api, 'q-rwdrop', { rewindSeconds: 3600 });
      await api.sendMessage(q, 'x');
      const m = await receiveOne(api, q);
      await api.deleteMessage(q, m.receiptHandle);
      assert.equal((await api.getQueueAttributes(q)).rewindMsgNum, 1);
      await api.setQueueAttributes(q, { rewindSeconds: 0 });
      assert.equal((await api.getQueueAttributes(q)).rewindMsgNum, 0);
      await rejectsWith(api.rewindQueue(q, nowSec()), 'rewindDisabled');
    },
  },
  {
    name: 'a visibilityTimeout change applies to later receives, not to messages already in flight',
    run: async (api) => {
      const q = await newQueue(api, 'q-vischg', { visibilityTimeout: 60 });
      await api.batchSendMessage(q, ['first', 'second']);
      const first = await receiveOne(api, q);
      await api.setQueueAttributes(q, { visibilityTimeout: 120 });
      const second = await receiveOne(api, q);
      assert.ok(first.nextVisibleTime - first.firstDequeueTime <= 61, 'first keeps 60 s');
      assert.ok(second.nextVisibleTime - second.firstDequeueTime >= 119, 'second gets 120 s');
    },
  },
  {
    name: 'getQueueAttributes minMsgTime: the oldest undeleted message',
    run: async (api) => {
      const q = await newQueue(api, 'q-min');
      assert.equal((await api.getQueueAttributes(q)).minMsgTime, 0);
      const t0 = nowSec();
      await api.sendMessage(q, 'x');
      const a = await api.getQueueAttributes(q);
      assert.ok(a.minMsgTime >= t0 - 1 && a.minMsgTime <= nowSec() + 1, `minMsgTime ${a.minMsgTime}`);
    },
  },
  {
    name: 'a batch over 1 MB in total fails 4470/10300, even when each body fits the queue',
    run: async (api) => {
      const q = await newQueue(api, 'q-bbig', { maxMsgSize: 1_048_576 });
      const body = 'x'.repeat(600 * 1024);
      await rejectsWith(api.batchSendMessage(q, [body, body]), 'batchTooLarge');
      assert.equal((await api.getQueueAttributes(q)).activeMsgNum, 0);
      await api.batchSendMessage(q, [body]);
    },
  },
  {
    name: 'a redelivered message after rewind keeps counting receives',
    run: async (api) => {
      const q = await newQueue(api, 'q-rwcount', { rewindSeconds: 3600 });
      const start = nowSec() - 1;
      await api.sendMessage(q, 'again');
      const m = await receiveOne(api, q);
      await api.deleteMessage(q, m.receiptHandle);
      await api.rewindQueue(q, start);
      const again = await receiveOne(api, q);
      assert.equal(again.msgId, m.msgId);
      assert.equal(again.dequeueCount, 2);
      assert.equal(again.firstDequeueTime, m.firstDequeueTime);
    },
  },
  {
    name: 'deleting a queue while a long poll waits on it ends the poll with 4440',
    run: async (api) => {
      const q = await newQueue(api, 'q-delwait');
      // The expectation is attached before the queue goes, so the rejection is never unhandled.
      const outcome = rejectsWith(api.receiveMessage(q, { pollingWaitSeconds: 5 }), 'queueNotExist');
      await sleep(300);
      await api.deleteQueue(q);
      await outcome;
    },
  },
  {
    name: 'listDeadLetterSourceQueues: sorted, searchWord, paging',
    run: async (api) => {
      const dlq = await newQueue(api, 'q-dlq');
      const word = fresh('qsrc');
      for (const n of ['c', 'a', 'b']) await api.createQueue(`${word}-${n}`, { deadLetterPolicy: { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 5 } });
      await api.createQueue(fresh('other'), { deadLetterPolicy: { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 5 } });
      const all = await api.listDeadLetterSourceQueues(dlq);
      assert.equal(all.totalCount, 4);
      const some = await api.listDeadLetterSourceQueues(dlq, { searchWord: word, offset: 1, limit: 1 });
      assert.equal(some.totalCount, 3);
      assert.deepEqual(some.queues.map((x) => x.queueName), [`${word}-b`]);
    },
  },
  {
    name: 'a dead-letter queue takes at most 6 source queues',
    run: async (api) => {
      const dlq = await newQueue(api, 'q-dlq');
      for (let i = 0; i < 6; i++) await newQueue(api, 'q-src', { deadLetterPolicy: { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 5 } });
      await rejectsWith(api.createQueue(fresh('q-src'), { deadLetterPolicy: { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 5 } }), 'dlqBindTooMany');
    },
  },
  {
    name: 'parameter errors come before existence: a bad request on a missing queue reports the parameter',
    run: async (api) => {
      const missing = fresh('q-missing');
      await rejectsWith(api.sendMessage(missing, ''), 'msgBodyEmpty');
      await rejectsWith(api.sendMessage(missing, 'x', { delaySeconds: -1 }), 'paramOutOfRange');
      await rejectsWith(api.receiveMessage(missing, { pollingWaitSeconds: 31 }), 'paramOutOfRange');
      await rejectsWith(api.batchReceiveMessage(missing, 17, { pollingWaitSeconds: 0 }), 'paramOutOfRange');
      await rejectsWith(api.batchSendMessage(missing, Array.from({ length: 17 }, () => 'x')), 'batchSizeOutOfRange');
      await rejectsWith(api.setQueueAttributes(missing, { visibilityTimeout: 0 }), 'paramOutOfRange');
      const existing = await newQueue(api, 'q-exists');
      await rejectsWith(api.createQueue(existing, { visibilityTimeout: 0 }), 'paramOutOfRange');
    },
  },
  {
    name: 'a malformed queue name on any action fails 4000/10020',
    run: async (api) => {
      await rejectsWith(api.getQueueAttributes('9bad'), 'queueNameFormat');
      await rejectsWith(api.sendMessage('9bad', 'x'), 'queueNameFormat');
      await rejectsWith(api.receiveMessage('9bad', { pollingWaitSeconds: 0 }), 'queueNameFormat');
      await rejectsWith(api.deleteQueue('9bad'), 'queueNameFormat');
    },
  },
];
