// Queue management over HTTP against a real server (spec §2.1–§2.3): CreateQueue, ListQueue,
// GetQueueAttributes, SetQueueAttributes, DeleteQueue, QueryQueueRoute — success paths, the
// attribute ranges and defaults, and every documented error.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { arrayOf, err, nowSec, ok, startTestServer, uniqueName, type CmqBody, type Params, type TestServer } from '../helpers/http-harness';

let s: TestServer;

before(async () => {
  s = await startTestServer();
});

after(async () => {
  await s.close();
});

/** The 13 integer attributes Java reads with getInt (spec §2.3 GetQueueAttributes, §6 #15). */
const INT_FIELDS = [
  'maxMsgHeapNum',
  'pollingWaitSeconds',
  'visibilityTimeout',
  'maxMsgSize',
  'msgRetentionSeconds',
  'createTime',
  'lastModifyTime',
  'activeMsgNum',
  'inactiveMsgNum',
  'rewindSeconds',
  'rewindMsgNum',
  'minMsgTime',
  'delayMsgNum',
] as const;

function assertAttributeTypes(a: CmqBody): void {
  for (const f of INT_FIELDS) {
    assert.equal(typeof a[f], 'number', `${f} is a number in ${JSON.stringify(a)}`);
    assert.ok(Number.isInteger(a[f]), `${f} is an integer`);
  }
  assert.equal(typeof a['rewindmsgNum'], 'number', 'rewindmsgNum (doc spelling) is present too');
  assert.equal(a['rewindmsgNum'], a['rewindMsgNum']);
}

async function create(name: string, attrs: Record<string, string | number> = {}): Promise<string> {
  const r = ok(await s.call('CreateQueue', { queueName: name, ...attrs }));
  assert.equal(typeof r['queueId'], 'string');
  assert.notEqual(r['queueId'], '');
  return r['queueId'] as string;
}

async function attrs(name: string): Promise<CmqBody> {
  const a = ok(await s.call('GetQueueAttributes', { queueName: name }));
  assertAttributeTypes(a);
  return a;
}

const RANGES: Record<string, { min: number; max: number }> = {
  maxMsgHeapNum: { min: 1_000_000, max: 1_000_000_000 },
  pollingWaitSeconds: { min: 0, max: 30 },
  visibilityTimeout: { min: 1, max: 43_200 },
  maxMsgSize: { min: 1024, max: 1_048_576 },
  msgRetentionSeconds: { min: 60, max: 1_296_000 },
  rewindSeconds: { min: 0, max: 1_296_000 },
};

describe('CreateQueue', () => {
  test('returns a string queueId; GetQueueAttributes shows the documented defaults', async () => {
    const name = uniqueName('defaults');
    const before = nowSec();
    const queueId = await create(name);
    const after = nowSec();
    const a = await attrs(name);
    assert.equal(a['maxMsgHeapNum'], 100_000_000);
    assert.equal(a['pollingWaitSeconds'], 0);
    assert.equal(a['visibilityTimeout'], 30);
    assert.equal(a['maxMsgSize'], 65_536);
    assert.equal(a['msgRetentionSeconds'], 345_600);
    assert.equal(a['rewindSeconds'], 0);
    for (const f of ['activeMsgNum', 'inactiveMsgNum', 'delayMsgNum', 'rewindMsgNum', 'rewindmsgNum', 'minMsgTime']) {
      assert.equal(a[f], 0, f);
    }
    // Unix seconds, not milliseconds.
    assert.ok((a['createTime'] as number) >= before - 1 && (a['createTime'] as number) <= after + 1, `createTime ${String(a['createTime'])}`);
    assert.ok((a['lastModifyTime'] as number) >= (a['createTime'] as number));
    assert.equal(a['deadLetterPolicy'], undefined, 'no dead-letter policy by default');
    if (a['queueId'] !== undefined) assert.equal(a['queueId'], queueId);
  });

  test('two queues get different queueIds', async () => {
    const a = await create(uniqueName('idA'));
    const b = await create(uniqueName('idB'));
    assert.notEqual(a, b);
  });

  test('every settable attribute is accepted at its minimum and read back', async () => {
    const name = uniqueName('mins');
    const mins = Object.fromEntries(Object.entries(RANGES).map(([k, r]) => [k, r.min]));
    await create(name, mins);
    const a = await attrs(name);
    for (const [k, v] of Object.entries(mins)) assert.equal(a[k], v, k);
  });

  test('every settable attribute is accepted at its maximum (maxMsgSize 1048576) and read back', async () => {
    const name = uniqueName('maxs');
    const maxs = Object.fromEntries(Object.entries(RANGES).map(([k, r]) => [k, r.max]));
    await create(name, maxs);
    const a = await attrs(name);
    for (const [k, v] of Object.entries(maxs)) assert.equal(a[k], v, k);
    assert.equal(a['maxMsgSize'], 1_048_576);
  });

  test('an attribute just outside its range → 4000/10350, and no queue is created', async () => {
    for (const [k, r] of Object.entries(RANGES)) {
      for (const v of [r.min - 1, r.max + 1]) {
        const name = uniqueName('range');
        // rewindSeconds above its max is also above the maximum retention; give the largest
        // retention so that only the range rule can apply.
        const extra: Params = k === 'rewindSeconds' ? { msgRetentionSeconds: 1_296_000 } : {};
        err(await s.call('CreateQueue', { queueName: name, ...extra, [k]: v }), 4000, 10350);
        err(await s.call('GetQueueAttributes', { queueName: name }), 4440, 10100);
      }
    }
  });

  test('an attribute that is not an integer → 4000/10360', async () => {
    for (const v of ['abc', '1.5', '0x10']) {
      err(await s.call('CreateQueue', { queueName: uniqueName('type'), visibilityTimeout: v }), 4000, 10360);
    }
  });

  test('bad queue names → 4000/10020', async () => {
    const bad = ['1abc', '-abc', '_abc', 'a.b', 'a b', 'a$b', 'queue/1', 'é-queue', 'q' + 'x'.repeat(64)];
    for (const name of bad) err(await s.call('CreateQueue', { queueName: name }), 4000, 10020);
  });

  test('names at the edges of the format are accepted: 1 and 64 characters, digits, "-" and "_"', async () => {
    const suffix = Math.random().toString(36).slice(2, 8);
    for (const name of [`Z${suffix}`, 'a' + suffix + 'x'.repeat(63 - suffix.length), `A1-b_2-${suffix}`]) {
      await create(name);
      await attrs(name);
    }
    // A single letter.
    const single = 'x';
    await create(single);
  });

  test('missing queueName → 4000/10390', async () => {
    err(await s.call('CreateQueue', {}), 4000, 10390);
    err(await s.call('CreateQueue', { queueName: '' }), 4000, 10390);
  });

  test('a duplicate name → 4460, also when it differs only in case', async () => {
    const name = uniqueName('Dup');
    await create(name);
    const again = await s.call('CreateQueue', { queueName: name });
    err(again, 4460);
    assert.match(again.message, /queue is already existed/);
    err(await s.call('CreateQueue', { queueName: name.toUpperCase() }), 4460);
    err(await s.call('CreateQueue', { queueName: name.toLowerCase() }), 4460);
    // Lookups use the exact name (spec §2.1 [rec]): the other-case name is not a queue.
    err(await s.call('GetQueueAttributes', { queueName: name.toUpperCase() }), 4440, 10100);
  });

  test('at most 1000 queues: the 1001st → 4450/10220; deleting one makes room', { timeout: 60_000 }, async () => {
    // Its own server: the limit is per server, and the other tests need room for their queues.
    const own = await startTestServer();
    try {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < 1000) {
          const n = next++;
          ok(await own.call('CreateQueue', { queueName: `limit-${n}` }));
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      const list = ok(await own.call('ListQueue', {}));
      assert.equal(list['totalCount'], 1000);
      err(await own.call('CreateQueue', { queueName: 'one-too-many' }), 4450, 10220);
      ok(await own.call('DeleteQueue', { queueName: 'limit-500' }));
      ok(await own.call('CreateQueue', { queueName: 'one-too-many' }));
      err(await own.call('CreateQueue', { queueName: 'two-too-many' }), 4450, 10220);
    } finally {
      await own.close();
    }
  });
});

describe('ListQueue', () => {
  const tag = `lst${Math.random().toString(36).slice(2, 8)}`;
  const names = [`${tag}-alpha`, `${tag}-Beta`, `${tag}-gamma`, `x-${tag}-delta`, `${tag}-epsilon`];

  before(async () => {
    for (const n of names) await create(n);
  });

  async function list(params: Record<string, string | number>): Promise<{ total: number; names: string[] }> {
    const r = ok(await s.call('ListQueue', params));
    assert.equal(typeof r['totalCount'], 'number');
    assert.ok(Array.isArray(r['queueList']), 'queueList is an array');
    const items = r['queueList'] as Record<string, unknown>[];
    for (const q of items) {
      assert.equal(typeof q['queueId'], 'string');
      assert.equal(typeof q['queueName'], 'string');
    }
    return { total: r['totalCount'] as number, names: items.map((q) => q['queueName'] as string) };
  }

  test('searchWord is a case-insensitive substring match', async () => {
    const all = await list({ searchWord: tag });
    assert.equal(all.total, 5);
    assert.deepEqual([...all.names].sort(), [...names].sort());
    const upper = await list({ searchWord: tag.toUpperCase() });
    assert.deepEqual([...upper.names].sort(), [...names].sort());
    const beta = await list({ searchWord: `${tag}-bETA` });
    assert.deepEqual(beta.names, [`${tag}-Beta`]);
    // A substring in the middle of the name (not a prefix).
    const delta = await list({ searchWord: 'DELTA' });
    assert.ok(delta.names.includes(`x-${tag}-delta`));
    const none = await list({ searchWord: `${tag}-nothing` });
    assert.equal(none.total, 0);
    assert.deepEqual(none.names, []);
  });

  test('totalCount counts matches before paging; offset/limit page through them', async () => {
    const full = await list({ searchWord: tag, offset: 0, limit: 50 });
    assert.equal(full.names.length, 5);
    const p1 = await list({ searchWord: tag, offset: 0, limit: 2 });
    const p2 = await list({ searchWord: tag, offset: 2, limit: 2 });
    const p3 = await list({ searchWord: tag, offset: 4, limit: 2 });
    const p4 = await list({ searchWord: tag, offset: 6, limit: 2 });
    for (const p of [p1, p2, p3, p4]) assert.equal(p.total, 5, 'totalCount is before paging');
    assert.deepEqual([p1.names.length, p2.names.length, p3.names.length, p4.names.length], [2, 2, 1, 0]);
    assert.deepEqual([...p1.names, ...p2.names, ...p3.names], full.names, 'pages are consecutive slices of one order');
  });

  test('without searchWord every queue counts; limit defaults to 20 and is capped at 50', async () => {
    const all = await list({});
    assert.ok(all.total >= 5);
    assert.equal(all.names.length, Math.min(20, all.total));
    // Make sure there are more than 50 queues on this server.
    for (let i = all.total; i < 55; i++) await create(uniqueName('fill'));
    const big = await list({ limit: 1000 });
    assert.ok(big.total >= 55);
    assert.equal(big.names.length, 50);
  });

  test('a deleted queue is gone from the very next list', async () => {
    const name = `${tag}-doomed`;
    await create(name);
    assert.equal((await list({ searchWord: tag })).total, 6);
    ok(await s.call('DeleteQueue', { queueName: name }));
    const after = await list({ searchWord: tag });
    assert.equal(after.total, 5);
    assert.ok(!after.names.includes(name));
  });

  test('a negative offset or limit → 4000/10350; a non-integer → 4000/10360', async () => {
    err(await s.call('ListQueue', { offset: -1, limit: 10 }), 4000, 10350);
    err(await s.call('ListQueue', { offset: 0, limit: -1 }), 4000, 10350);
    err(await s.call('ListQueue', { offset: 'x', limit: 10 }), 4000, 10360);
  });
});

describe('GetQueueAttributes', () => {
  test('an unknown queue → 4440/10100', async () => {
    const r = await s.call('GetQueueAttributes', { queueName: uniqueName('nope') });
    err(r, 4440, 10100);
    assert.equal(r.message, '(10100)queue is not existed, or deleted');
  });

  test('a bad or missing queueName → 4000/10020 / 4000/10390', async () => {
    err(await s.call('GetQueueAttributes', { queueName: '9lives' }), 4000, 10020);
    err(await s.call('GetQueueAttributes', {}), 4000, 10390);
  });

  test('counters follow sends, delays, receives and deletes; minMsgTime is the oldest undeleted enqueue time', async () => {
    const name = uniqueName('counters');
    await create(name, { visibilityTimeout: 600, rewindSeconds: 600 });
    const t0 = nowSec();
    ok(await s.call('BatchSendMessage', { queueName: name, ...arrayOf('msgBody', ['a', 'b', 'c']) }));
    ok(await s.call('SendMessage', { queueName: name, msgBody: 'later', delaySeconds: 600 }));
    const t1 = nowSec();
    let a = await attrs(name);
    assert.deepEqual([a['activeMsgNum'], a['inactiveMsgNum'], a['delayMsgNum'], a['rewindMsgNum']], [3, 0, 1, 0]);
    const minMsgTime = a['minMsgTime'] as number;
    assert.ok(minMsgTime >= t0 && minMsgTime <= t1, `minMsgTime ${minMsgTime} in [${t0}, ${t1}]`);

    const r1 = ok(await s.call('ReceiveMessage', { queueName: name, pollingWaitSeconds: 0 }));
    const r2 = ok(await s.call('ReceiveMessage', { queueName: name, pollingWaitSeconds: 0 }));
    a = await attrs(name);
    assert.deepEqual([a['activeMsgNum'], a['inactiveMsgNum'], a['delayMsgNum'], a['rewindMsgNum']], [1, 2, 1, 0]);

    ok(await s.call('DeleteMessage', { queueName: name, receiptHandle: r1['receiptHandle'] as string }));
    a = await attrs(name);
    assert.deepEqual([a['activeMsgNum'], a['inactiveMsgNum'], a['delayMsgNum'], a['rewindMsgNum']], [1, 1, 1, 1]);
    assert.equal(a['rewindmsgNum'], 1);

    ok(await s.call('DeleteMessage', { queueName: name, receiptHandle: r2['receiptHandle'] as string }));
    a = await attrs(name);
    assert.deepEqual([a['activeMsgNum'], a['inactiveMsgNum'], a['delayMsgNum'], a['rewindMsgNum']], [1, 0, 1, 2]);
  });

  test('without rewind, deleted messages are not counted anywhere; an empty queue has minMsgTime 0', async () => {
    const name = uniqueName('drained');
    await create(name, { visibilityTimeout: 600 });
    ok(await s.call('SendMessage', { queueName: name, msgBody: 'only' }));
    const r = ok(await s.call('ReceiveMessage', { queueName: name, pollingWaitSeconds: 0 }));
    ok(await s.call('DeleteMessage', { queueName: name, receiptHandle: r['receiptHandle'] as string }));
    const a = await attrs(name);
    for (const f of ['activeMsgNum', 'inactiveMsgNum', 'delayMsgNum', 'rewindMsgNum', 'rewindmsgNum', 'minMsgTime']) {
      assert.equal(a[f], 0, f);
    }
  });
});

describe('SetQueueAttributes', () => {
  test('returns the full attribute set with the new values; GetQueueAttributes shows them', async () => {
    const name = uniqueName('set');
    await create(name);
    const created = await attrs(name);
    const changes = { maxMsgHeapNum: 2_000_000, pollingWaitSeconds: 7, visibilityTimeout: 99, maxMsgSize: 4096, msgRetentionSeconds: 7200, rewindSeconds: 3600 };
    const r = ok(await s.call('SetQueueAttributes', { queueName: name, ...changes }));
    assertAttributeTypes(r);
    for (const [k, v] of Object.entries(changes)) assert.equal(r[k], v, `response ${k}`);
    const a = await attrs(name);
    for (const [k, v] of Object.entries(changes)) assert.equal(a[k], v, `read back ${k}`);
    assert.equal(a['createTime'], created['createTime']);
    assert.ok((a['lastModifyTime'] as number) >= (created['lastModifyTime'] as number));
  });

  test('attributes not in the request keep their values', async () => {
    const name = uniqueName('partial');
    await create(name, { visibilityTimeout: 45, maxMsgSize: 2048 });
    const r = ok(await s.call('SetQueueAttributes', { queueName: name, pollingWaitSeconds: 3 }));
    assert.equal(r['pollingWaitSeconds'], 3);
    assert.equal(r['visibilityTimeout'], 45);
    assert.equal(r['maxMsgSize'], 2048);
    assert.equal(r['msgRetentionSeconds'], 345_600);
  });

  test('every attribute at min and max is accepted; outside → 4000/10350 and nothing changes', async () => {
    const name = uniqueName('setrange');
    await create(name, { msgRetentionSeconds: 1_296_000 });
    for (const [k, r] of Object.entries(RANGES)) {
      for (const v of [r.min, r.max]) assert.equal(ok(await s.call('SetQueueAttributes', { queueName: name, [k]: v }))[k], v, `${k}=${v}`);
      // Leave a value that is neither bound, to see that a refused change leaves it alone.
      const mid = r.min + 1;
      ok(await s.call('SetQueueAttributes', { queueName: name, [k]: mid }));
      for (const v of [r.min - 1, r.max + 1]) err(await s.call('SetQueueAttributes', { queueName: name, [k]: v }), 4000, 10350);
      assert.equal((await attrs(name))[k], mid, `${k} unchanged after refused sets`);
      // rewindSeconds (next) may go up to msgRetentionSeconds only.
      if (k === 'msgRetentionSeconds') ok(await s.call('SetQueueAttributes', { queueName: name, [k]: r.max }));
    }
  });

  test('an unknown queue → 4440/10100; missing queueName → 4000/10390', async () => {
    err(await s.call('SetQueueAttributes', { queueName: uniqueName('ghost'), visibilityTimeout: 5 }), 4440, 10100);
    err(await s.call('SetQueueAttributes', { visibilityTimeout: 5 }), 4000, 10390);
  });
});

describe('DeleteQueue', () => {
  test('afterwards every action on the queue → 4440/10100', async () => {
    const name = uniqueName('gone');
    await create(name, { visibilityTimeout: 600, rewindSeconds: 60 });
    ok(await s.call('SendMessage', { queueName: name, msgBody: 'm' }));
    const got = ok(await s.call('ReceiveMessage', { queueName: name, pollingWaitSeconds: 0 }));
    const handle = got['receiptHandle'] as string;
    const r = ok(await s.call('DeleteQueue', { queueName: name }));
    assert.deepEqual(Object.keys(r).sort(), ['code', 'message', 'requestId']);

    const calls: [string, Record<string, string | number>][] = [
      ['GetQueueAttributes', { queueName: name }],
      ['SetQueueAttributes', { queueName: name, visibilityTimeout: 5 }],
      ['DeleteQueue', { queueName: name }],
      ['SendMessage', { queueName: name, msgBody: 'x' }],
      ['BatchSendMessage', { queueName: name, ...arrayOf('msgBody', ['x', 'y']) }],
      ['ReceiveMessage', { queueName: name, pollingWaitSeconds: 0 }],
      ['ReceiveMessage', { queueName: name }],
      ['BatchReceiveMessage', { queueName: name, numOfMsg: 4, pollingWaitSeconds: 0 }],
      ['DeleteMessage', { queueName: name, receiptHandle: handle }],
      ['BatchDeleteMessage', { queueName: name, ...arrayOf('receiptHandle', [handle]) }],
      ['RewindQueue', { queueName: name, startConsumeTime: nowSec() - 10 }],
      ['UnbindDeadLetterQueue', { queueName: name }],
      ['UnbindDeadLetter', { queueName: name }],
      ['ListDeadLetterSourceQueues', { deadLetterQueueName: name }],
    ];
    for (const [action, params] of calls) err(await s.call(action, params), 4440, 10100);
    const listed = ok(await s.call('ListQueue', { searchWord: name }));
    assert.equal(listed['totalCount'], 0);
  });

  test('the same name can be created again: a new, empty queue on which old receipt handles fail', async () => {
    const name = uniqueName('again');
    const firstId = await create(name, { visibilityTimeout: 600 });
    ok(await s.call('BatchSendMessage', { queueName: name, ...arrayOf('msgBody', ['old1', 'old2']) }));
    const got = ok(await s.call('ReceiveMessage', { queueName: name, pollingWaitSeconds: 0 }));
    const oldHandle = got['receiptHandle'] as string;
    ok(await s.call('DeleteQueue', { queueName: name }));

    const secondId = await create(name, { visibilityTimeout: 600 });
    assert.notEqual(secondId, firstId);
    const a = await attrs(name);
    assert.equal(a['activeMsgNum'], 0);
    assert.equal(a['inactiveMsgNum'], 0);
    assert.equal(a['visibilityTimeout'], 600);
    err(await s.call('ReceiveMessage', { queueName: name, pollingWaitSeconds: 0 }), 7000, 10200);

    // The successor has messages in the same positions; the old handle still must not match.
    ok(await s.call('BatchSendMessage', { queueName: name, ...arrayOf('msgBody', ['new1', 'new2']) }));
    ok(await s.call('ReceiveMessage', { queueName: name, pollingWaitSeconds: 0 }));
    err(await s.call('DeleteMessage', { queueName: name, receiptHandle: oldHandle }), 4430, 10260);
    assert.equal((await attrs(name))['inactiveMsgNum'], 1);
  });

  test('an unknown queue → 4440/10100; a bad name → 4000/10020', async () => {
    err(await s.call('DeleteQueue', { queueName: uniqueName('never') }), 4440, 10100);
    err(await s.call('DeleteQueue', { queueName: 'bad name' }), 4000, 10020);
  });
});

describe('QueryQueueRoute', () => {
  test('answers with an addr list (no TCP gateway: may be empty)', async () => {
    const name = uniqueName('route');
    await create(name);
    const r = ok(await s.call('QueryQueueRoute', { queueName: name }));
    assert.ok(Array.isArray(r['addr']));
    for (const a of r['addr'] as unknown[]) assert.equal(typeof a, 'string');
  });
});
