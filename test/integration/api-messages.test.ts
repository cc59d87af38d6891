// Messages over HTTP against a real server (spec §2.3–§2.5, §4): SendMessage, BatchSendMessage,
// ReceiveMessage, BatchReceiveMessage, DeleteMessage, BatchDeleteMessage — bodies, delays,
// visibility, receipt handles, long polling and every documented error. The tests run
// concurrently (each on its own queues) so that the ones about time overlap their waits.

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

/** The call and how long it took, in ms. */
async function timed(action: string, params: Params): Promise<{ r: CmqBody; ms: number }> {
  const t = performance.now();
  const r = await s.call(action, params);
  return { r, ms: performance.now() - t };
}

interface Msg {
  msgId: string;
  msgBody: string;
  receiptHandle: string;
  enqueueTime: number;
  firstDequeueTime: number;
  nextVisibleTime: number;
  dequeueCount: number;
}

/** Checks the field types of one received message (spec §2.3 ReceiveMessage, §1.5, §4). */
function asMsg(o: Record<string, unknown>): Msg {
  for (const f of ['msgId', 'msgBody', 'receiptHandle']) assert.equal(typeof o[f], 'string', `${f} is a string in ${JSON.stringify(o).slice(0, 300)}`);
  for (const f of ['enqueueTime', 'firstDequeueTime', 'nextVisibleTime', 'dequeueCount']) {
    assert.equal(typeof o[f], 'number', `${f} is a number`);
    assert.ok(Number.isInteger(o[f]), `${f} is an integer`);
  }
  assert.match(o['receiptHandle'] as string, /^[A-Za-z0-9:_-]{1,256}$/, 'handle passes the Go SDK check (spec §4)');
  return o as unknown as Msg;
}

async function receiveOne(queueName: string, pollingWaitSeconds = 0): Promise<Msg> {
  return asMsg(ok(await s.call('ReceiveMessage', { queueName, pollingWaitSeconds })));
}

async function expectEmpty(queueName: string): Promise<void> {
  const r = await s.call('ReceiveMessage', { queueName, pollingWaitSeconds: 0 });
  err(r, 7000, 10200);
  assert.equal(r.message, '(10200)no message');
}

/** Sends one body with SendMessage and returns its msgId. */
async function send(queueName: string, msgBody: string, extra: Params = {}): Promise<string> {
  const r = ok(await s.call('SendMessage', { queueName, msgBody, ...extra }));
  assert.equal(typeof r['msgId'], 'string');
  assert.notEqual(r['msgId'], '');
  return r['msgId'] as string;
}

function msgIds(r: CmqBody): string[] {
  assert.ok(Array.isArray(r['msgList']), 'msgList is an array');
  return (r['msgList'] as Record<string, unknown>[]).map((m) => {
    assert.equal(typeof m['msgId'], 'string');
    return m['msgId'] as string;
  });
}

/** Receives until `n` messages came back (each wait up to `waitSeconds`). */
async function receiveN(queueName: string, n: number, waitSeconds = 3): Promise<Msg[]> {
  const out: Msg[] = [];
  while (out.length < n) {
    const r = ok(await s.call('BatchReceiveMessage', { queueName, numOfMsg: Math.min(16, n - out.length), pollingWaitSeconds: waitSeconds }));
    for (const m of r['msgInfoList'] as Record<string, unknown>[]) out.push(asMsg(m));
  }
  return out;
}

describe('messages', { concurrency: true }, () => {
  // ---- SendMessage / BatchSendMessage ----------------------------------------------------

  test('SendMessage returns a string msgId; distinct messages get distinct ids', async () => {
    const q = await create('send');
    const a = await send(q, 'one');
    const b = await send(q, 'two');
    assert.notEqual(a, b);
    const got = [await receiveOne(q), await receiveOne(q)];
    assert.deepEqual(
      got.map((m) => [m.msgId, m.msgBody]).sort(),
      [
        [a, 'one'],
        [b, 'two'],
      ].sort(),
    );
  });

  test('bodies round-trip exactly: spaces, "+", "&", "=", "%", newlines, UTF-8, "@"', async () => {
    const q = await create('bodies', { visibilityTimeout: 600 });
    const bodies = [
      'hello world',
      'a+b',
      'a&b=c&d',
      '100% sure %41 %zz',
      'line1\nline2\r\nline3\ttab',
      '中文消息 émoji 😀 Ωμέγα',
      '@starts-with-at',
      '{"json":true,"list":[1,2,3],"s":"x y"}',
      ' leading and trailing spaces ',
      '=',
      '+',
    ];
    for (const b of bodies) await send(q, b);
    const got = await receiveN(q, bodies.length);
    assert.deepEqual(got.map((m) => m.msgBody).sort(), [...bodies].sort());
  });

  test('BatchSendMessage: msgList is in request order; bodies map to their msgIds', async () => {
    const q = await create('batchorder', { visibilityTimeout: 600 });
    const bodies = Array.from({ length: 12 }, (_, i) => `body-${i + 1} x&y=z+${i}`);
    const r = ok(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', bodies) }));
    const ids = msgIds(r);
    assert.equal(ids.length, 12);
    assert.equal(new Set(ids).size, 12);
    const got = await receiveN(q, 12);
    const byId = new Map(got.map((m) => [m.msgId, m.msgBody]));
    ids.forEach((id, i) => assert.equal(byId.get(id), bodies[i], `msgList[${i}]`));
  });

  test('BatchSendMessage orders items by numeric index, whatever order the keys arrive in', async () => {
    const q = await create('batchnum', { visibilityTimeout: 600 });
    // msgBody.1 … msgBody.11, sent as 10, 2, 11, 1, 3…: the lexicographic order would differ.
    const params: Params = { queueName: q };
    for (const i of [10, 2, 11, 1, 3, 4, 5, 6, 7, 8, 9]) params[`msgBody.${i}`] = `n${i}`;
    const ids = msgIds(ok(await s.call('BatchSendMessage', params)));
    const got = await receiveN(q, 11);
    const byId = new Map(got.map((m) => [m.msgId, m.msgBody]));
    assert.deepEqual(
      ids.map((id) => byId.get(id)),
      Array.from({ length: 11 }, (_, i) => `n${i + 1}`),
    );
  });

  test('BatchSendMessage accepts 0-based (Go) and 1-based (Python/Java) indexes, 1 to 16 items', async () => {
    const q = await create('batchbase', { visibilityTimeout: 600 });
    const zero = ok(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', ['z0', 'z1', 'z2'], 0) }));
    assert.equal(msgIds(zero).length, 3);
    const one = ok(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', ['o1'], 1) }));
    assert.equal(msgIds(one).length, 1);
    const sixteen = ok(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', Array.from({ length: 16 }, (_, i) => `s${i}`), 0) }));
    assert.equal(msgIds(sixteen).length, 16);
    assert.equal((await attrs(q))['activeMsgNum'], 20);
  });

  test('BatchSendMessage errors: 17 bodies → 10370, gaps → 10380, none → 10390; nothing is sent', async () => {
    const q = await create('batcherr');
    const seventeen = Array.from({ length: 17 }, (_, i) => `m${i}`);
    err(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', seventeen) }), 4000, 10370);
    err(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', seventeen, 0) }), 4000, 10370);
    err(await s.call('BatchSendMessage', { queueName: q, 'msgBody.1': 'a', 'msgBody.3': 'c' }), 4000, 10380);
    err(await s.call('BatchSendMessage', { queueName: q, 'msgBody.2': 'b', 'msgBody.3': 'c' }), 4000, 10380);
    err(await s.call('BatchSendMessage', { queueName: q, 'msgBody.0': 'a', 'msgBody.2': 'c' }), 4000, 10380);
    err(await s.call('BatchSendMessage', { queueName: q }), 4000, 10390);
    assert.equal((await attrs(q))['activeMsgNum'], 0);
  });

  test('an empty body → 4000/10120 (SendMessage and a batch item); a missing one → 4000/10390', async () => {
    const q = await create('empty');
    err(await s.call('SendMessage', { queueName: q, msgBody: '' }), 4000, 10120);
    err(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', ['ok', '']) }), 4000, 10120);
    err(await s.call('SendMessage', { queueName: q }), 4000, 10390);
    assert.equal((await attrs(q))['activeMsgNum'], 0);
  });

  test('a body over the queue maxMsgSize (in UTF-8 bytes) → 4400/10230; exactly maxMsgSize is fine', async () => {
    const q = await create('size', { maxMsgSize: 1024, visibilityTimeout: 600 });
    await send(q, 'a'.repeat(1024));
    err(await s.call('SendMessage', { queueName: q, msgBody: 'a'.repeat(1025) }), 4400, 10230);
    // 342 × '€' is 342 characters but 1026 bytes; 341 × '€' + 'a' is exactly 1024 bytes.
    err(await s.call('SendMessage', { queueName: q, msgBody: '€'.repeat(342) }), 4400, 10230);
    await send(q, '€'.repeat(341) + 'a');
    // One oversized item refuses the whole batch.
    err(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', ['small', 'b'.repeat(1025)]) }), 4400, 10230);
    assert.equal((await attrs(q))['activeMsgNum'], 2);
    const got = await receiveN(q, 2);
    assert.deepEqual(got.map((m) => Buffer.byteLength(m.msgBody)).sort(), [1024, 1024]);
  });

  test('a body just under 1 MiB round-trips on a queue with maxMsgSize 1048576', async () => {
    const q = await create('nearmib', { maxMsgSize: 1_048_576, visibilityTimeout: 600 });
    const unit = 'abcdefghijklmnopqrstuvwxyz0123456789-_.~ABCDEFGHIJKLMNOPQRSTUV';
    const body = unit.repeat(Math.ceil(1_047_552 / unit.length)).slice(0, 1_047_552);
    await send(q, body);
    const m = await receiveOne(q);
    assert.equal(m.msgBody.length, body.length);
    assert.ok(m.msgBody === body, 'same body');
  });

  test('a body of exactly 1 MiB round-trips on a queue with maxMsgSize 1048576, even fully %-escaped', async () => {
    const q = await create('mib', { maxMsgSize: 1_048_576, visibilityTimeout: 600 });
    for (const body of ['x'.repeat(1_048_576), '&'.repeat(1_048_576)]) {
      await send(q, body);
      const m = await receiveOne(q);
      assert.ok(m.msgBody === body, 'same body');
    }
  });

  test('maxMsgSize 1048576: one byte more → 4400/10230 (or 10420 if the request itself is over the limit)', async () => {
    const q = await create('overmib', { maxMsgSize: 1_048_576 });
    const r = await s.call('SendMessage', { queueName: q, msgBody: 'x'.repeat(1_048_577) });
    assert.ok(r.code === 4400 || r.code === 4000, JSON.stringify(r).slice(0, 200));
    if (r.code === 4400) err(r, 4400, 10230);
    else err(r, 4000, 10420);
    assert.equal((await attrs(q))['activeMsgNum'], 0);
  });

  test('delaySeconds: counted in delayMsgNum and not receivable until due; then receivable', async () => {
    const q = await create('delay', { visibilityTimeout: 600 });
    const sentAtMs = Date.now();
    const id = await send(q, 'later', { delaySeconds: 2 });
    let a = await attrs(q);
    assert.equal(a['delayMsgNum'], 1);
    assert.equal(a['activeMsgNum'], 0);
    await expectEmpty(q);
    // A long poll started now is answered once the delay ends.
    const { r, ms } = await timed('ReceiveMessage', { queueName: q, pollingWaitSeconds: 8 });
    const m = asMsg(ok(r));
    assert.ok(Date.now() >= sentAtMs + 2000 - 50, `received ${Date.now() - sentAtMs} ms after the send, before the 2 s delay`);
    assert.ok(ms < 8000, 'the long poll returned when the message became due, not at the end of its wait');
    assert.equal(m.msgId, id);
    assert.equal(m.msgBody, 'later');
    assert.equal(m.dequeueCount, 1);
    // enqueueTime is the send time (spec §4 [rec]), not the due time.
    const sentSec = Math.floor(sentAtMs / 1000);
    assert.ok(m.enqueueTime >= sentSec && m.enqueueTime <= sentSec + 1, `enqueueTime ${m.enqueueTime}, sent at ${sentSec}`);
    a = await attrs(q);
    assert.equal(a['delayMsgNum'], 0);
    assert.equal(a['inactiveMsgNum'], 1);
  });

  test('BatchSendMessage delaySeconds applies to every message of the batch', async () => {
    const q = await create('batchdelay', { visibilityTimeout: 600 });
    ok(await s.call('BatchSendMessage', { queueName: q, delaySeconds: 1, ...arrayOf('msgBody', ['d1', 'd2', 'd3']) }));
    const a = await attrs(q);
    assert.equal(a['delayMsgNum'], 3);
    assert.equal(a['activeMsgNum'], 0);
    await expectEmpty(q);
    const got = await receiveN(q, 3, 5);
    assert.deepEqual(got.map((m) => m.msgBody).sort(), ['d1', 'd2', 'd3']);
    assert.equal((await attrs(q))['delayMsgNum'], 0);
  });

  test('delaySeconds range 0–6048000: the maximum is accepted; outside → 10350, not an integer → 10360', async () => {
    const q = await create('delayrange');
    await send(q, 'far', { delaySeconds: 6_048_000 });
    await send(q, 'now', { delaySeconds: 0 });
    err(await s.call('SendMessage', { queueName: q, msgBody: 'x', delaySeconds: 6_048_001 }), 4000, 10350);
    err(await s.call('SendMessage', { queueName: q, msgBody: 'x', delaySeconds: -1 }), 4000, 10350);
    err(await s.call('SendMessage', { queueName: q, msgBody: 'x', delaySeconds: 'soon' }), 4000, 10360);
    err(await s.call('BatchSendMessage', { queueName: q, delaySeconds: 6_048_001, ...arrayOf('msgBody', ['x']) }), 4000, 10350);
    const a = await attrs(q);
    assert.equal(a['delayMsgNum'], 1);
    assert.equal(a['activeMsgNum'], 1);
  });

  test('send/receive/delete on an unknown queue → 4440/10100', async () => {
    const q = uniqueName('nosuch');
    err(await s.call('SendMessage', { queueName: q, msgBody: 'x' }), 4440, 10100);
    err(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', ['x']) }), 4440, 10100);
    err(await s.call('ReceiveMessage', { queueName: q, pollingWaitSeconds: 0 }), 4440, 10100);
    err(await s.call('BatchReceiveMessage', { queueName: q, numOfMsg: 2, pollingWaitSeconds: 0 }), 4440, 10100);
    err(await s.call('DeleteMessage', { queueName: q, receiptHandle: '1-2-3-4' }), 4440, 10100);
    err(await s.call('BatchDeleteMessage', { queueName: q, ...arrayOf('receiptHandle', ['1-2-3-4']) }), 4440, 10100);
  });

  // ---- ReceiveMessage / BatchReceiveMessage ----------------------------------------------

  test('ReceiveMessage: every field with the right type and value on the first receive', async () => {
    const q = await create('fields', { visibilityTimeout: 20 });
    const sentSec = nowSec();
    const id = await send(q, 'payload');
    const before = nowSec();
    const m = await receiveOne(q);
    const after = nowSec();
    assert.equal(m.msgId, id);
    assert.equal(m.msgBody, 'payload');
    assert.equal(m.dequeueCount, 1);
    assert.ok(m.enqueueTime >= sentSec && m.enqueueTime <= after, `enqueueTime ${m.enqueueTime} (s, not ms)`);
    assert.ok(m.firstDequeueTime >= m.enqueueTime, 'firstDequeueTime ≥ enqueueTime');
    assert.ok(m.firstDequeueTime >= before && m.firstDequeueTime <= after, `firstDequeueTime ${m.firstDequeueTime}`);
    assert.ok(m.nextVisibleTime >= before + 20 - 1 && m.nextVisibleTime <= after + 20 + 1, `nextVisibleTime ${m.nextVisibleTime} ≈ now + 20`);
  });

  test('BatchReceiveMessage: msgInfoList items carry the same fields', async () => {
    const q = await create('batchfields', { visibilityTimeout: 30 });
    ok(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', ['b1', 'b2']) }));
    const r = ok(await s.call('BatchReceiveMessage', { queueName: q, numOfMsg: 2, pollingWaitSeconds: 0 }));
    assert.ok(Array.isArray(r['msgInfoList']));
    const list = (r['msgInfoList'] as Record<string, unknown>[]).map(asMsg);
    assert.deepEqual(list.map((m) => m.msgBody).sort(), ['b1', 'b2']);
    for (const m of list) {
      assert.equal(m.dequeueCount, 1);
      assert.ok(m.firstDequeueTime >= m.enqueueTime);
      assert.ok(Math.abs(m.nextVisibleTime - (nowSec() + 30)) <= 2);
    }
    assert.notEqual(list[0]!.receiptHandle, list[1]!.receiptHandle);
  });

  test('in flight a message is invisible (7000); after visibilityTimeout it is back with dequeueCount 2 and a new handle', async () => {
    const q = await create('visibility', { visibilityTimeout: 1 });
    const id = await send(q, 'again');
    const first = await receiveOne(q);
    await expectEmpty(q);
    assert.equal((await attrs(q))['inactiveMsgNum'], 1);
    const { r } = await timed('ReceiveMessage', { queueName: q, pollingWaitSeconds: 6 });
    const second = asMsg(ok(r));
    assert.ok(nowSec() >= first.nextVisibleTime, 'not visible before its nextVisibleTime');
    assert.equal(second.msgId, id);
    assert.equal(second.msgBody, 'again');
    assert.equal(second.dequeueCount, 2);
    assert.equal(second.enqueueTime, first.enqueueTime);
    assert.equal(second.firstDequeueTime, first.firstDequeueTime, 'firstDequeueTime is kept');
    assert.notEqual(second.receiptHandle, first.receiptHandle, 'every receive issues a new handle');
    // Only the latest handle deletes (spec §4).
    err(await s.call('DeleteMessage', { queueName: q, receiptHandle: first.receiptHandle }), 4430, 10260);
    ok(await s.call('DeleteMessage', { queueName: q, receiptHandle: second.receiptHandle }));
  });

  test('BatchReceiveMessage returns the messages available (fewer than numOfMsg) without waiting for more', async () => {
    const q = await create('fewer', { visibilityTimeout: 600 });
    ok(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', ['f1', 'f2', 'f3']) }));
    const { r, ms } = await timed('BatchReceiveMessage', { queueName: q, numOfMsg: 10, pollingWaitSeconds: 10 });
    const list = (ok(r)['msgInfoList'] as Record<string, unknown>[]).map(asMsg);
    assert.deepEqual(list.map((m) => m.msgBody).sort(), ['f1', 'f2', 'f3']);
    assert.ok(ms < 5000, `returned after ${Math.round(ms)} ms: it waited for a full batch`);
  });

  test('BatchReceiveMessage gives at most numOfMsg messages', async () => {
    const q = await create('atmost', { visibilityTimeout: 600 });
    ok(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', ['a', 'b', 'c', 'd', 'e']) }));
    const r = ok(await s.call('BatchReceiveMessage', { queueName: q, numOfMsg: 2, pollingWaitSeconds: 0 }));
    assert.equal((r['msgInfoList'] as unknown[]).length, 2);
    const a = await attrs(q);
    assert.equal(a['activeMsgNum'], 3);
    assert.equal(a['inactiveMsgNum'], 2);
  });

  test('receive parameters: numOfMsg 0/17 → 10350, missing → 10390; pollingWaitSeconds −1/31 → 10350', async () => {
    const q = await create('recvparams');
    err(await s.call('BatchReceiveMessage', { queueName: q, numOfMsg: 0 }), 4000, 10350);
    err(await s.call('BatchReceiveMessage', { queueName: q, numOfMsg: 17 }), 4000, 10350);
    err(await s.call('BatchReceiveMessage', { queueName: q }), 4000, 10390);
    err(await s.call('BatchReceiveMessage', { queueName: q, numOfMsg: 'two' }), 4000, 10360);
    err(await s.call('ReceiveMessage', { queueName: q, pollingWaitSeconds: 31 }), 4000, 10350);
    err(await s.call('ReceiveMessage', { queueName: q, pollingWaitSeconds: -1 }), 4000, 10350);
    err(await s.call('BatchReceiveMessage', { queueName: q, numOfMsg: 1, pollingWaitSeconds: 31 }), 4000, 10350);
    err(await s.call('ReceiveMessage', { queueName: '0bad' }), 4000, 10020);
    err(await s.call('ReceiveMessage', {}), 4000, 10390);
  });

  test('long polling: pollingWaitSeconds=3 on an empty queue answers 7000 after about 3 s', async () => {
    const q = await create('poll3');
    const { r, ms } = await timed('ReceiveMessage', { queueName: q, pollingWaitSeconds: 3 });
    err(r, 7000, 10200);
    assert.equal(r.message, '(10200)no message');
    assert.ok(ms >= 2900, `answered after ${Math.round(ms)} ms, before the 3 s wait`);
    assert.ok(ms <= 4500, `answered after ${Math.round(ms)} ms, long after the 3 s wait`);
  });

  test('long polling: BatchReceiveMessage with pollingWaitSeconds=2 on an empty queue answers 7000 after about 2 s', async () => {
    const q = await create('bpoll2');
    const { r, ms } = await timed('BatchReceiveMessage', { queueName: q, numOfMsg: 5, pollingWaitSeconds: 2 });
    err(r, 7000, 10200);
    assert.ok(ms >= 1900 && ms <= 3500, `answered after ${Math.round(ms)} ms`);
  });

  test('long polling: a 5 s receive returns soon after a message is sent 1 s in', async () => {
    const q = await create('pollwake');
    const waiting = timed('ReceiveMessage', { queueName: q, pollingWaitSeconds: 5 });
    await sleep(1000);
    const id = await send(q, 'wake up');
    const { r, ms } = await waiting;
    const m = asMsg(ok(r));
    assert.equal(m.msgId, id);
    assert.equal(m.msgBody, 'wake up');
    assert.ok(ms >= 900, `answered after ${Math.round(ms)} ms, before the message was sent`);
    assert.ok(ms < 3500, `answered after ${Math.round(ms)} ms: it did not return promptly`);
  });

  test('long polling: two waiting receives and one message — exactly one gets it, the other answers 7000 at its deadline', async () => {
    const q = await create('pollpair', { visibilityTimeout: 600 });
    const a = timed('ReceiveMessage', { queueName: q, pollingWaitSeconds: 3 });
    const b = timed('ReceiveMessage', { queueName: q, pollingWaitSeconds: 3 });
    await sleep(500);
    await send(q, 'only one');
    const results = await Promise.all([a, b]);
    const winners = results.filter((x) => x.r.code === 0);
    const losers = results.filter((x) => x.r.code !== 0);
    assert.equal(winners.length, 1, JSON.stringify(results.map((x) => x.r)));
    assert.equal(asMsg(winners[0]!.r).msgBody, 'only one');
    err(losers[0]!.r, 7000, 10200);
    assert.ok(losers[0]!.ms >= 2800, `the other receive answered after ${Math.round(losers[0]!.ms)} ms, before its 3 s wait`);
  });

  test('a receive waiting on a queue that gets deleted → 4440/10100', async () => {
    const q = await create('polldelete');
    const waiting = timed('ReceiveMessage', { queueName: q, pollingWaitSeconds: 5 });
    await sleep(500);
    ok(await s.call('DeleteQueue', { queueName: q }));
    const { r } = await waiting;
    err(r, 4440, 10100);
  });

  test("long polling: the queue's pollingWaitSeconds applies when the request has none; 0 in the request overrides it", async () => {
    const q = await create('pollattr', { pollingWaitSeconds: 2 });
    const { r, ms } = await timed('ReceiveMessage', { queueName: q });
    err(r, 7000, 10200);
    assert.ok(ms >= 1900 && ms <= 3500, `no-parameter receive answered after ${Math.round(ms)} ms, queue says 2 s`);
    const q5 = await create('pollattr5', { pollingWaitSeconds: 5 });
    const zero = await timed('ReceiveMessage', { queueName: q5, pollingWaitSeconds: 0 });
    err(zero.r, 7000, 10200);
    assert.ok(zero.ms < 3000, `pollingWaitSeconds=0 waited ${Math.round(zero.ms)} ms (queue default is 5 s)`);
  });

  test('SetQueueAttributes visibilityTimeout affects future receives only', async () => {
    const q = await create('vtchange', { visibilityTimeout: 30 });
    ok(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', ['m1', 'm2']) }));
    const m1 = await receiveOne(q);
    assert.ok(Math.abs(m1.nextVisibleTime - (nowSec() + 30)) <= 2);
    ok(await s.call('SetQueueAttributes', { queueName: q, visibilityTimeout: 1 }));
    const m2 = await receiveOne(q);
    assert.ok(Math.abs(m2.nextVisibleTime - (nowSec() + 1)) <= 2, `nextVisibleTime ${m2.nextVisibleTime} ≈ now + 1`);
    // m2 comes back after ~1 s; m1 keeps its 30 s.
    const again = asMsg(ok(await s.call('ReceiveMessage', { queueName: q, pollingWaitSeconds: 6 })));
    assert.equal(again.msgId, m2.msgId);
    assert.equal(again.dequeueCount, 2);
    await expectEmpty(q);
    assert.equal((await attrs(q))['inactiveMsgNum'], 2);
    ok(await s.call('DeleteMessage', { queueName: q, receiptHandle: m1.receiptHandle }));
  });

  // ---- DeleteMessage / BatchDeleteMessage ------------------------------------------------

  test('DeleteMessage removes the message; the same handle again → 4430/10260', async () => {
    const q = await create('del', { visibilityTimeout: 1 });
    await send(q, 'bye');
    const m = await receiveOne(q);
    const r = ok(await s.call('DeleteMessage', { queueName: q, receiptHandle: m.receiptHandle }));
    assert.deepEqual(Object.keys(r).sort(), ['code', 'message', 'requestId']);
    const again = await s.call('DeleteMessage', { queueName: q, receiptHandle: m.receiptHandle });
    err(again, 4430, 10260);
    assert.equal(again.message, '(10260)receipt handle is invalid');
    const a = await attrs(q);
    assert.deepEqual([a['activeMsgNum'], a['inactiveMsgNum']], [0, 0]);
    // Deleted for good: it does not come back after the visibility timeout.
    err(await s.call('ReceiveMessage', { queueName: q, pollingWaitSeconds: 2 }), 7000, 10200);
  });

  test('a handle used after the visibility timeout expired → 4430; the message is receivable again', async () => {
    const q = await create('expired', { visibilityTimeout: 1 });
    await send(q, 'slow consumer');
    const m = await receiveOne(q);
    await sleep(1600);
    err(await s.call('DeleteMessage', { queueName: q, receiptHandle: m.receiptHandle }), 4430, 10260);
    const again = await receiveOne(q, 3);
    assert.equal(again.msgId, m.msgId);
    assert.equal(again.dequeueCount, 2);
  });

  test('garbage handles → 4430/10260; empty or over 256 characters → 4000/10470; missing → 4000/10390', async () => {
    const q = await create('garbage', { visibilityTimeout: 600 });
    const other = await create('garbage-other', { visibilityTimeout: 600 });
    await send(other, 'elsewhere');
    const foreign = await receiveOne(other);
    await send(q, 'here');
    await receiveOne(q);
    for (const h of ['garbage', '1-2-3-4', '0', '99999999999999999999', foreign.receiptHandle]) {
      err(await s.call('DeleteMessage', { queueName: q, receiptHandle: h }), 4430, 10260);
    }
    err(await s.call('DeleteMessage', { queueName: q, receiptHandle: '' }), 4000, 10470);
    err(await s.call('DeleteMessage', { queueName: q, receiptHandle: 'h'.repeat(257) }), 4000, 10470);
    err(await s.call('DeleteMessage', { queueName: q }), 4000, 10390);
    // The foreign handle still works on its own queue.
    ok(await s.call('DeleteMessage', { queueName: other, receiptHandle: foreign.receiptHandle }));
  });

  test('BatchDeleteMessage with all valid handles (0-based indexes) → 0', async () => {
    const q = await create('bdel', { visibilityTimeout: 600 });
    ok(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', ['a', 'b', 'c']) }));
    const got = await receiveN(q, 3);
    ok(await s.call('BatchDeleteMessage', { queueName: q, ...arrayOf('receiptHandle', got.map((m) => m.receiptHandle), 0) }));
    const a = await attrs(q);
    assert.deepEqual([a['activeMsgNum'], a['inactiveMsgNum']], [0, 0]);
  });

  test('BatchDeleteMessage mixing valid and invalid handles → 6010 with errorList; the valid ones are deleted', async () => {
    const q = await create('bdelmix', { visibilityTimeout: 600 });
    ok(await s.call('BatchSendMessage', { queueName: q, ...arrayOf('msgBody', ['a', 'b', 'c']) }));
    const [m1, m2, m3] = await receiveN(q, 3);
    const r = await s.call('BatchDeleteMessage', { queueName: q, ...arrayOf('receiptHandle', [m1!.receiptHandle, 'bogus-handle', m3!.receiptHandle]) });
    err(r, 6010, 10150);
    assert.equal(r.message, '(10150)delete message partially failed');
    assert.ok(Array.isArray(r['errorList']), 'errorList is an array');
    const list = r['errorList'] as Record<string, unknown>[];
    assert.equal(list.length, 1);
    assert.equal(list[0]!['code'], 4430);
    assert.equal(typeof list[0]!['message'], 'string');
    assert.equal(list[0]!['receiptHandle'], 'bogus-handle');
    const a = await attrs(q);
    assert.deepEqual([a['activeMsgNum'], a['inactiveMsgNum']], [0, 1], 'm1 and m3 deleted, m2 still in flight');
    err(await s.call('DeleteMessage', { queueName: q, receiptHandle: m1!.receiptHandle }), 4430, 10260);
    err(await s.call('DeleteMessage', { queueName: q, receiptHandle: m3!.receiptHandle }), 4430, 10260);
    ok(await s.call('DeleteMessage', { queueName: q, receiptHandle: m2!.receiptHandle }));
  });

  test('BatchDeleteMessage with the same handle twice: the second fails → 6010', async () => {
    const q = await create('bdeltwice', { visibilityTimeout: 600 });
    await send(q, 'once');
    const m = await receiveOne(q);
    const r = await s.call('BatchDeleteMessage', { queueName: q, ...arrayOf('receiptHandle', [m.receiptHandle, m.receiptHandle]) });
    err(r, 6010, 10150);
    const list = r['errorList'] as Record<string, unknown>[];
    assert.equal(list.length, 1);
    assert.equal(list[0]!['receiptHandle'], m.receiptHandle);
    assert.equal((await attrs(q))['inactiveMsgNum'], 0);
  });

  test('BatchDeleteMessage with only invalid handles → 6020 with an errorList entry for each', async () => {
    const q = await create('bdelbad', { visibilityTimeout: 600 });
    await send(q, 'stays');
    const m = await receiveOne(q);
    ok(await s.call('DeleteMessage', { queueName: q, receiptHandle: m.receiptHandle }));
    const bad = [m.receiptHandle, 'nope', '7-7-7-7'];
    const r = await s.call('BatchDeleteMessage', { queueName: q, ...arrayOf('receiptHandle', bad) });
    err(r, 6020, 10290);
    const list = r['errorList'] as Record<string, unknown>[];
    assert.ok(Array.isArray(list));
    assert.deepEqual(
      list.map((e) => e['receiptHandle']),
      bad,
    );
    for (const e of list) {
      assert.equal(e['code'], 4430);
      assert.equal(typeof e['message'], 'string');
    }
  });

  test('BatchDeleteMessage parameters: 17 handles → 10370, gap → 10380, none → 10390, an empty one → 10470', async () => {
    const q = await create('bdelparams');
    err(await s.call('BatchDeleteMessage', { queueName: q, ...arrayOf('receiptHandle', Array.from({ length: 17 }, (_, i) => `h${i}`)) }), 4000, 10370);
    err(await s.call('BatchDeleteMessage', { queueName: q, 'receiptHandle.1': 'a', 'receiptHandle.3': 'b' }), 4000, 10380);
    err(await s.call('BatchDeleteMessage', { queueName: q }), 4000, 10390);
    err(await s.call('BatchDeleteMessage', { queueName: q, ...arrayOf('receiptHandle', ['a', '']) }), 4000, 10470);
  });

  // Not covered here: maxMsgHeapNum → 4410/10240 needs 1,000,000 messages (the attribute's
  // minimum), far too many for this suite; test/unit/broker-messages.test.ts covers it on the
  // state machine with maxMsgHeapNum 3. Likewise retention (msgRetentionSeconds ≥ 60 s).
});
