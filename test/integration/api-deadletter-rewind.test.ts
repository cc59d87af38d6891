// Message rewind (spec §2.6, RewindQueue) and dead-letter queues (spec §2.7: deadLetterPolicy on
// CreateQueue/SetQueueAttributes, the move after maxReceiveCount receives, UnbindDeadLetterQueue,
// UnbindDeadLetter, ListDeadLetterSourceQueues) over HTTP against a real server.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { arrayOf, err, nowSec, ok, sleep, startTestServer, uniqueName, type CmqBody, type Params, type TestServer } from '../helpers/http-harness';

let s: TestServer;

before(async () => {
  s = await startTestServer();
});

after(async () => {
  await s.close();
});

async function create(prefix: string, attrs: Params = {}): Promise<string> {
  const name = uniqueName(prefix);
  ok(await s.call('CreateQueue', { queueName: name, ...attrs }));
  return name;
}

async function attrs(name: string): Promise<CmqBody> {
  return ok(await s.call('GetQueueAttributes', { queueName: name }));
}

interface Received {
  msgId: string;
  msgBody: string;
  receiptHandle: string;
}

async function receive(queueName: string, pollingWaitSeconds = 0): Promise<Received> {
  const r = ok(await s.call('ReceiveMessage', { queueName, pollingWaitSeconds }));
  return r as unknown as Received;
}

async function send(queueName: string, msgBody: string): Promise<string> {
  return ok(await s.call('SendMessage', { queueName, msgBody }))['msgId'] as string;
}

/** deadLetterPolicy as GetQueueAttributes reports it: an object, or a JSON string of one. */
function policyOf(a: CmqBody): Record<string, unknown> | undefined {
  const p = a['deadLetterPolicy'];
  if (p === undefined || p === null || p === '') return undefined;
  if (typeof p === 'string') return JSON.parse(p) as Record<string, unknown>;
  assert.equal(typeof p, 'object');
  return p as Record<string, unknown>;
}

function dlp(o: Record<string, unknown>): string {
  return JSON.stringify(o);
}

/** Sleeps until the wall clock is in a new second (plus a margin), so that times in seconds differ. */
async function nextSecond(): Promise<void> {
  const ms = 1000 - (Date.now() % 1000);
  await sleep(ms + 50);
}

describe('RewindQueue', { concurrency: true }, () => {
  test('a queue with rewind disabled (rewindSeconds 0) → 6050/10670', async () => {
    const q = await create('norewind');
    const r = await s.call('RewindQueue', { queueName: q, startConsumeTime: nowSec() });
    err(r, 6050, 10670);
    assert.equal(r.message, '(10670)your queue cannot be rewinded');
  });

  test('startConsumeTime outside [now − rewindSeconds, now] → 4000/10680; inside → success', async () => {
    const q = await create('window', { rewindSeconds: 60 });
    err(await s.call('RewindQueue', { queueName: q, startConsumeTime: nowSec() - 120 }), 4000, 10680);
    err(await s.call('RewindQueue', { queueName: q, startConsumeTime: nowSec() + 100 }), 4000, 10680);
    err(await s.call('RewindQueue', { queueName: q, startConsumeTime: 0 }), 4000, 10680);
    const r = ok(await s.call('RewindQueue', { queueName: q, startConsumeTime: nowSec() - 30 }));
    assert.deepEqual(Object.keys(r).sort(), ['code', 'message', 'requestId']);
  });

  test('RewindQueue parameters: startConsumeTime missing → 10390, not an integer → 10360, negative → 10350', async () => {
    const q = await create('rwparams', { rewindSeconds: 60 });
    err(await s.call('RewindQueue', { queueName: q }), 4000, 10390);
    err(await s.call('RewindQueue', { queueName: q, startConsumeTime: 'yesterday' }), 4000, 10360);
    err(await s.call('RewindQueue', { queueName: q, startConsumeTime: -5 }), 4000, 10350);
    err(await s.call('RewindQueue', { queueName: uniqueName('rwghost'), startConsumeTime: nowSec() }), 4440, 10100);
  });

  test('rewind brings back deleted (and in-flight) messages in production order, with new receipt handles', async () => {
    const q = await create('rewind', { rewindSeconds: 600, visibilityTimeout: 600 });
    const t0 = nowSec();
    const ids = [await send(q, 'r1'), await send(q, 'r2'), await send(q, 'r3'), await send(q, 'r4')];
    const first = [await receive(q), await receive(q), await receive(q), await receive(q)];
    assert.deepEqual(
      first.map((m) => m.msgBody),
      ['r1', 'r2', 'r3', 'r4'],
    );
    // Delete three of them, newest first; r4 stays in flight.
    for (const m of first.slice(0, 3).reverse()) ok(await s.call('DeleteMessage', { queueName: q, receiptHandle: m.receiptHandle }));
    let a = await attrs(q);
    assert.deepEqual([a['activeMsgNum'], a['inactiveMsgNum'], a['rewindMsgNum'], a['rewindmsgNum']], [0, 1, 3, 3]);
    err(await s.call('ReceiveMessage', { queueName: q, pollingWaitSeconds: 0 }), 7000, 10200);

    ok(await s.call('RewindQueue', { queueName: q, startConsumeTime: t0 }));
    a = await attrs(q);
    assert.equal(a['activeMsgNum'], 4);
    assert.equal(a['rewindMsgNum'], 0);
    const again = [await receive(q), await receive(q), await receive(q), await receive(q)];
    assert.deepEqual(
      again.map((m) => m.msgBody),
      ['r1', 'r2', 'r3', 'r4'],
      'production order',
    );
    assert.deepEqual(
      again.map((m) => m.msgId),
      ids,
    );
    for (let i = 0; i < 4; i++) assert.notEqual(again[i]!.receiptHandle, first[i]!.receiptHandle, 'a new handle');
    // Old handles are dead, new ones work.
    err(await s.call('DeleteMessage', { queueName: q, receiptHandle: first[3]!.receiptHandle }), 4430, 10260);
    ok(await s.call('BatchDeleteMessage', { queueName: q, ...arrayOf('receiptHandle', again.map((m) => m.receiptHandle)) }));
  });

  test('rewind delivers only the messages produced at or after startConsumeTime', async () => {
    const q = await create('rewindfrom', { rewindSeconds: 600, visibilityTimeout: 600 });
    await send(q, 'early');
    await nextSecond();
    const t = nowSec();
    await send(q, 'late1');
    await send(q, 'late2');
    for (let i = 0; i < 3; i++) {
      const m = await receive(q);
      ok(await s.call('DeleteMessage', { queueName: q, receiptHandle: m.receiptHandle }));
    }
    ok(await s.call('RewindQueue', { queueName: q, startConsumeTime: t }));
    assert.deepEqual([(await receive(q)).msgBody, (await receive(q)).msgBody], ['late1', 'late2']);
    err(await s.call('ReceiveMessage', { queueName: q, pollingWaitSeconds: 0 }), 7000, 10200);
    assert.equal((await attrs(q))['rewindMsgNum'], 1, "'early' stays in the rewind area");
  });

  test('setting rewindSeconds to 0 drops the rewind area and disables rewind', async () => {
    const q = await create('rewindoff', { rewindSeconds: 600, visibilityTimeout: 600 });
    const t0 = nowSec();
    await send(q, 'x');
    const m = await receive(q);
    ok(await s.call('DeleteMessage', { queueName: q, receiptHandle: m.receiptHandle }));
    assert.equal((await attrs(q))['rewindMsgNum'], 1);
    ok(await s.call('SetQueueAttributes', { queueName: q, rewindSeconds: 0 }));
    const a = await attrs(q);
    assert.equal(a['rewindMsgNum'], 0);
    assert.equal(a['rewindmsgNum'], 0);
    err(await s.call('RewindQueue', { queueName: q, startConsumeTime: t0 }), 6050, 10670);
  });

  test('rewindSeconds greater than msgRetentionSeconds → 4000/10700, on create and on set', async () => {
    err(await s.call('CreateQueue', { queueName: uniqueName('rw'), msgRetentionSeconds: 100, rewindSeconds: 200 }), 4000, 10700);
    // Against the default retention (345600 s).
    err(await s.call('CreateQueue', { queueName: uniqueName('rw'), rewindSeconds: 345_601 }), 4000, 10700);
    await create('rweq', { msgRetentionSeconds: 100, rewindSeconds: 100 });
    const q = await create('rwset', { msgRetentionSeconds: 1000, rewindSeconds: 500 });
    err(await s.call('SetQueueAttributes', { queueName: q, rewindSeconds: 1001 }), 4000, 10700);
    err(await s.call('SetQueueAttributes', { queueName: q, msgRetentionSeconds: 499 }), 4000, 10700);
    err(await s.call('SetQueueAttributes', { queueName: q, msgRetentionSeconds: 300, rewindSeconds: 301 }), 4000, 10700);
    const a = await attrs(q);
    assert.deepEqual([a['msgRetentionSeconds'], a['rewindSeconds']], [1000, 500], 'refused sets change nothing');
    const r = ok(await s.call('SetQueueAttributes', { queueName: q, msgRetentionSeconds: 300, rewindSeconds: 300 }));
    assert.deepEqual([r['msgRetentionSeconds'], r['rewindSeconds']], [300, 300]);
  });
});

describe('dead-letter queues', { concurrency: true }, () => {
  test('deadLetterPolicy that is not JSON (or not a JSON object) → 4000/10710', async () => {
    const dlq = await create('dlq-json');
    for (const bad of ['{bad', `{"deadLetterQueue":"${dlq}",`, 'not json', '[]', '42', '"str"', 'null']) {
      err(await s.call('CreateQueue', { queueName: uniqueName('src'), deadLetterPolicy: bad }), 4000, 10710);
    }
    const q = await create('src-json');
    err(await s.call('SetQueueAttributes', { queueName: q, deadLetterPolicy: '{bad' }), 4000, 10710);
  });

  test('deadLetterPolicy without a string deadLetterQueue → 10760; without policy 0 or 1 → 10770', async () => {
    const dlq = await create('dlq-members');
    const cases: [Record<string, unknown>, number][] = [
      [{ policy: 0, maxReceiveCount: 3 }, 10760],
      [{ deadLetterQueue: 5, policy: 0, maxReceiveCount: 3 }, 10760],
      [{ deadLetterQueue: null, policy: 0, maxReceiveCount: 3 }, 10760],
      [{ deadLetterQueue: dlq, maxReceiveCount: 3 }, 10770],
      [{ deadLetterQueue: dlq, policy: 2, maxReceiveCount: 3 }, 10770],
      [{ deadLetterQueue: dlq, policy: '0', maxReceiveCount: 3 }, 10770],
      [{ deadLetterQueue: dlq, policy: -1, maxReceiveCount: 3 }, 10770],
    ];
    for (const [policy, module] of cases) {
      err(await s.call('CreateQueue', { queueName: uniqueName('src'), deadLetterPolicy: dlp(policy) }), 4000, module);
    }
    const q = await create('src-members');
    err(await s.call('SetQueueAttributes', { queueName: q, deadLetterPolicy: dlp({ policy: 0, maxReceiveCount: 1 }) }), 4000, 10760);
    err(await s.call('SetQueueAttributes', { queueName: q, deadLetterPolicy: dlp({ deadLetterQueue: dlq }) }), 4000, 10770);
  });

  test('maxReceiveCount outside 1–1000, maxTimeToLive outside 300–43200 or not below msgRetentionSeconds → 10720', async () => {
    const dlq = await create('dlq-ranges');
    const bad: Record<string, unknown>[] = [
      { deadLetterQueue: dlq, policy: 0 },
      { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 0 },
      { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 1001 },
      { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 2.5 },
      { deadLetterQueue: dlq, policy: 0, maxReceiveCount: '3' },
      { deadLetterQueue: dlq, policy: 1 },
      { deadLetterQueue: dlq, policy: 1, maxTimeToLive: 299 },
      { deadLetterQueue: dlq, policy: 1, maxTimeToLive: 43_201 },
    ];
    for (const p of bad) err(await s.call('CreateQueue', { queueName: uniqueName('src'), deadLetterPolicy: dlp(p) }), 4000, 10720);
    // maxTimeToLive must be below the source queue's msgRetentionSeconds.
    const ttl600 = dlp({ deadLetterQueue: dlq, policy: 1, maxTimeToLive: 600 });
    err(await s.call('CreateQueue', { queueName: uniqueName('src'), msgRetentionSeconds: 600, deadLetterPolicy: ttl600 }), 4000, 10720);
    const q = await create('src-ranges', { msgRetentionSeconds: 600 });
    err(await s.call('SetQueueAttributes', { queueName: q, deadLetterPolicy: ttl600 }), 4000, 10720);
    err(await s.call('SetQueueAttributes', { queueName: q, deadLetterPolicy: dlp({ deadLetterQueue: dlq, policy: 0, maxReceiveCount: 0 }) }), 4000, 10720);
    // With a TTL policy bound, msgRetentionSeconds may not drop to the TTL or below.
    ok(await s.call('SetQueueAttributes', { queueName: q, deadLetterPolicy: dlp({ deadLetterQueue: dlq, policy: 1, maxTimeToLive: 300 }) }));
    err(await s.call('SetQueueAttributes', { queueName: q, msgRetentionSeconds: 300 }), 4000, 10720);
    assert.equal((await attrs(q))['msgRetentionSeconds'], 600);
    ok(await s.call('SetQueueAttributes', { queueName: q, msgRetentionSeconds: 301 }));
    ok(await s.call('UnbindDeadLetterQueue', { queueName: q }));
    // The edges are accepted.
    for (const p of [
      { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 1 },
      { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 1000 },
      { deadLetterQueue: dlq, policy: 1, maxTimeToLive: 300 },
      { deadLetterQueue: dlq, policy: 1, maxTimeToLive: 43_200 },
    ]) {
      const src = await create('src-edge', { deadLetterPolicy: dlp(p) });
      ok(await s.call('UnbindDeadLetterQueue', { queueName: src }));
    }
  });

  test('a dead-letter queue that does not exist → 4000/10730', async () => {
    for (const name of [uniqueName('missing-dlq'), '1-not-a-queue-name']) {
      const p = dlp({ deadLetterQueue: name, policy: 0, maxReceiveCount: 3 });
      err(await s.call('CreateQueue', { queueName: uniqueName('src'), deadLetterPolicy: p }), 4000, 10730);
      const q = await create('src-missing');
      err(await s.call('SetQueueAttributes', { queueName: q, deadLetterPolicy: p }), 4000, 10730);
    }
  });

  test('dead-letter queues do not nest → 4000/10740', async () => {
    const inner = await create('dlq-inner');
    const middle = await create('dlq-middle', { deadLetterPolicy: dlp({ deadLetterQueue: inner, policy: 0, maxReceiveCount: 3 }) });
    // A DLQ that has a DLQ itself.
    err(await s.call('CreateQueue', { queueName: uniqueName('src'), deadLetterPolicy: dlp({ deadLetterQueue: middle, policy: 0, maxReceiveCount: 3 }) }), 4000, 10740);
    // A queue already serving as a DLQ cannot get one.
    const other = await create('dlq-other');
    err(await s.call('SetQueueAttributes', { queueName: inner, deadLetterPolicy: dlp({ deadLetterQueue: other, policy: 0, maxReceiveCount: 3 }) }), 4000, 10740);
    assert.equal(policyOf(await attrs(inner)), undefined);
  });

  test('one dead-letter queue serves at most 6 source queues: a 7th → 4000/10780', async () => {
    const dlq = await create('dlq-six');
    const p = dlp({ deadLetterQueue: dlq, policy: 0, maxReceiveCount: 5 });
    const sources: string[] = [];
    for (let i = 0; i < 6; i++) sources.push(await create('six-src', { deadLetterPolicy: p }));
    err(await s.call('CreateQueue', { queueName: uniqueName('seventh'), deadLetterPolicy: p }), 4000, 10780);
    const seventh = await create('seventh');
    err(await s.call('SetQueueAttributes', { queueName: seventh, deadLetterPolicy: p }), 4000, 10780);
    // Changing the policy of one of the six is not a 7th binding.
    ok(await s.call('SetQueueAttributes', { queueName: sources[0]!, deadLetterPolicy: dlp({ deadLetterQueue: dlq, policy: 0, maxReceiveCount: 9 }) }));
    // After unbinding one, there is room again.
    ok(await s.call('UnbindDeadLetterQueue', { queueName: sources[1]! }));
    ok(await s.call('SetQueueAttributes', { queueName: seventh, deadLetterPolicy: p }));
  });

  test('policy 0: after maxReceiveCount receives without delete the message moves to the DLQ, same body', async () => {
    const dlq = await create('dlq-move', { visibilityTimeout: 600 });
    const src = await create('src-move', { visibilityTimeout: 1, deadLetterPolicy: dlp({ deadLetterQueue: dlq, policy: 0, maxReceiveCount: 2 }) });
    const body = 'poison message ü & = +';
    await send(src, body);
    const r1 = await receive(src);
    const r2 = await receive(src, 6); // back after the 1 s visibility timeout
    assert.equal(r1.msgBody, body);
    assert.equal(r2.msgBody, body);
    assert.equal((r2 as unknown as { dequeueCount: number }).dequeueCount, 2);
    await sleep(1600);
    // The third receive would exceed maxReceiveCount: the message moves instead of being delivered.
    err(await s.call('ReceiveMessage', { queueName: src, pollingWaitSeconds: 0 }), 7000, 10200);
    const sa = await attrs(src);
    assert.deepEqual([sa['activeMsgNum'], sa['inactiveMsgNum'], sa['delayMsgNum']], [0, 0, 0]);
    assert.equal((await attrs(dlq))['activeMsgNum'], 1);
    const moved = await receive(dlq);
    assert.equal(moved.msgBody, body);
    ok(await s.call('DeleteMessage', { queueName: dlq, receiptHandle: moved.receiptHandle }));
  });

  test('a message deleted before maxReceiveCount receives does not move', async () => {
    const dlq = await create('dlq-nomove');
    const src = await create('src-nomove', { deadLetterPolicy: dlp({ deadLetterQueue: dlq, policy: 0, maxReceiveCount: 1 }) });
    await send(src, 'fine');
    const m = await receive(src);
    ok(await s.call('DeleteMessage', { queueName: src, receiptHandle: m.receiptHandle }));
    assert.equal((await attrs(dlq))['activeMsgNum'], 0);
  });

  test('GetQueueAttributes reports the policy; policy 1 with the smallest maxTimeToLive (300 s) is accepted', async () => {
    const dlq = await create('dlq-report');
    const p0 = await create('src-p0', { deadLetterPolicy: dlp({ deadLetterQueue: dlq, policy: 0, maxReceiveCount: 7 }) });
    assert.deepEqual(
      { ...policyOf(await attrs(p0)) },
      { deadLetterQueue: dlq, policy: 0, maxReceiveCount: 7 },
    );
    const p1 = await create('src-p1', { deadLetterPolicy: dlp({ deadLetterQueue: dlq, policy: 1, maxTimeToLive: 300 }) });
    assert.deepEqual(
      { ...policyOf(await attrs(p1)) },
      { deadLetterQueue: dlq, policy: 1, maxTimeToLive: 300 },
    );
    // Set on an existing queue: the response (the full attribute set) carries it too.
    const later = await create('src-later');
    const r = ok(await s.call('SetQueueAttributes', { queueName: later, deadLetterPolicy: dlp({ deadLetterQueue: dlq, policy: 1, maxTimeToLive: 300 }) }));
    assert.deepEqual({ ...policyOf(r) }, { deadLetterQueue: dlq, policy: 1, maxTimeToLive: 300 });
    assert.deepEqual({ ...policyOf(await attrs(later)) }, { deadLetterQueue: dlq, policy: 1, maxTimeToLive: 300 });
    // Changing an unrelated attribute keeps the policy.
    ok(await s.call('SetQueueAttributes', { queueName: later, visibilityTimeout: 12 }));
    assert.equal(policyOf(await attrs(later))?.['policy'], 1);
  });

  test('deleting a queue that is a DLQ → 4000/10750; after unbinding its source it can be deleted', async () => {
    const dlq = await create('dlq-del');
    const src = await create('src-del', { deadLetterPolicy: dlp({ deadLetterQueue: dlq, policy: 0, maxReceiveCount: 3 }) });
    const r = await s.call('DeleteQueue', { queueName: dlq });
    err(r, 4000, 10750);
    await attrs(dlq); // still there
    ok(await s.call('UnbindDeadLetterQueue', { queueName: src }));
    ok(await s.call('DeleteQueue', { queueName: dlq }));
    // A source queue itself can always be deleted.
    const dlq2 = await create('dlq-del2');
    const src2 = await create('src-del2', { deadLetterPolicy: dlp({ deadLetterQueue: dlq2, policy: 0, maxReceiveCount: 3 }) });
    ok(await s.call('DeleteQueue', { queueName: src2 }));
    ok(await s.call('DeleteQueue', { queueName: dlq2 }));
  });

  for (const action of ['UnbindDeadLetterQueue', 'UnbindDeadLetter']) {
    test(`${action} clears the policy of the source queue`, async () => {
      const dlq = await create('dlq-unbind');
      const src = await create('src-unbind', { visibilityTimeout: 1, deadLetterPolicy: dlp({ deadLetterQueue: dlq, policy: 0, maxReceiveCount: 1 }) });
      assert.notEqual(policyOf(await attrs(src)), undefined);
      const r = ok(await s.call(action, { queueName: src }));
      assert.equal(typeof r.requestId, 'string');
      assert.equal(policyOf(await attrs(src)), undefined);
      const listed = ok(await s.call('ListDeadLetterSourceQueues', { deadLetterQueueName: dlq }));
      assert.equal(listed['totalCount'], 0);
      // Without a policy, receiving past the old maxReceiveCount delivers instead of moving.
      await send(src, 'keep');
      await receive(src);
      const again = await receive(src, 6);
      assert.equal(again.msgBody, 'keep');
      assert.equal((await attrs(dlq))['activeMsgNum'], 0);
    });
  }

  test('UnbindDeadLetterQueue on an unknown queue → 4440/10100; a missing queueName → 4000/10390', async () => {
    err(await s.call('UnbindDeadLetterQueue', { queueName: uniqueName('unbind-ghost') }), 4440, 10100);
    err(await s.call('UnbindDeadLetterQueue', {}), 4000, 10390);
  });

  test('ListDeadLetterSourceQueues lists the source queues, with searchWord and paging', async () => {
    const dlq = await create('dlq-list');
    const p = dlp({ deadLetterQueue: dlq, policy: 0, maxReceiveCount: 3 });
    const tag = `lsrc${Math.random().toString(36).slice(2, 7)}`;
    const ids = new Map<string, string>();
    for (const suffix of ['Apple', 'banana', 'cherry']) {
      const name = `${tag}-${suffix}`;
      const r = ok(await s.call('CreateQueue', { queueName: name, deadLetterPolicy: p }));
      ids.set(name, r['queueId'] as string);
    }
    await create(`${tag}-unrelated`);
    const r = ok(await s.call('ListDeadLetterSourceQueues', { deadLetterQueueName: dlq }));
    assert.equal(r['totalCount'], 3);
    const list = r['queueList'] as Record<string, unknown>[];
    assert.ok(Array.isArray(list));
    assert.deepEqual(list.map((q) => q['queueName']).sort(), [...ids.keys()].sort());
    for (const q of list) {
      assert.equal(typeof q['queueId'], 'string');
      assert.equal(q['queueId'], ids.get(q['queueName'] as string));
    }
    const search = ok(await s.call('ListDeadLetterSourceQueues', { deadLetterQueueName: dlq, searchWord: 'APPLE' }));
    assert.equal(search['totalCount'], 1);
    assert.deepEqual(
      (search['queueList'] as Record<string, unknown>[]).map((q) => q['queueName']),
      [`${tag}-Apple`],
    );
    const page1 = ok(await s.call('ListDeadLetterSourceQueues', { deadLetterQueueName: dlq, offset: 0, limit: 2 }));
    const page2 = ok(await s.call('ListDeadLetterSourceQueues', { deadLetterQueueName: dlq, offset: 2, limit: 2 }));
    assert.equal(page1['totalCount'], 3);
    assert.equal(page2['totalCount'], 3);
    const names = [...(page1['queueList'] as Record<string, unknown>[]), ...(page2['queueList'] as Record<string, unknown>[])].map((q) => q['queueName']);
    assert.deepEqual([...names].sort(), [...ids.keys()].sort());
    // A queue nobody uses as a DLQ has no sources.
    const lonely = await create('dlq-lonely');
    const none = ok(await s.call('ListDeadLetterSourceQueues', { deadLetterQueueName: lonely }));
    assert.equal(none['totalCount'], 0);
    assert.deepEqual(none['queueList'], []);
  });

  test('ListDeadLetterSourceQueues: unknown DLQ → 4440/10100; missing name → 4000/10390; bad name → 4000/10020', async () => {
    err(await s.call('ListDeadLetterSourceQueues', { deadLetterQueueName: uniqueName('no-dlq') }), 4440, 10100);
    err(await s.call('ListDeadLetterSourceQueues', {}), 4000, 10390);
    err(await s.call('ListDeadLetterSourceQueues', { deadLetterQueueName: 'bad name' }), 4000, 10020);
  });
});
