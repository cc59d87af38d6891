// Wire compatibility (spec §1.1, §1.2, §1.5, §6): the request shapes the official SDKs send —
// paths, GET and POST, each SDK's Content-Type, '+' for spaces, unknown parameters,
// clientRequestId, action-name case — and the response envelope, driven with raw node:http so
// the bytes on the wire are exactly what is written here.

import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { LIMITS } from '../../src/protocol/limits';

import { envelope, err, formEncode, httpRequest, keepAliveAgent, ok, startTestServer, uniqueName, type CmqBody, type RawReply, type RawRequest, type TestServer } from '../helpers/http-harness';

let s: TestServer;

before(async () => {
  s = await startTestServer();
});

after(async () => {
  await s.close();
});

async function raw(req: RawRequest): Promise<RawReply> {
  return httpRequest(s.port, req);
}

/** A raw POST of a literal body; returns the checked envelope. */
async function post(body: string | Buffer, headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/x-www-form-urlencoded' }, path = '/v2/index.php'): Promise<CmqBody> {
  return envelope(await raw({ method: 'POST', path, headers, body }));
}

async function get(query: string, path = '/v2/index.php'): Promise<CmqBody> {
  return envelope(await raw({ method: 'GET', path: `${path}?${query}` }));
}

async function newQueue(prefix: string): Promise<string> {
  const q = uniqueName(prefix);
  ok(await s.call('CreateQueue', { queueName: q, visibilityTimeout: 600 }));
  return q;
}

async function receiveBody(q: string): Promise<string> {
  const r = ok(await s.call('ReceiveMessage', { queueName: q, pollingWaitSeconds: 0 }));
  return r['msgBody'] as string;
}

/** The server still answers a normal request. */
async function stillServing(): Promise<void> {
  ok(await s.call('ListQueue', { limit: 1 }));
}

describe('wire compatibility', { concurrency: true }, () => {
  test('every action is served at /, /v2/index.php and any other path', async () => {
    const q = uniqueName('paths');
    ok(await post(`Action=CreateQueue&queueName=${q}`, {}, '/'));
    for (const path of ['/', '/v2/index.php', '/some/other/path', '/v2/index.php/', '/index.php']) {
      const r = ok(await post(`Action=GetQueueAttributes&queueName=${q}`, {}, path));
      assert.equal(r['queueName'] ?? q, q);
    }
    ok(await post(`Action=DeleteQueue&queueName=${q}`, {}, '/anything'));
  });

  test('GET with the parameters in the query string; "+" and %20 decode to a space', async () => {
    const q = uniqueName('get');
    ok(await get(`Action=CreateQueue&queueName=${q}&visibilityTimeout=600`));
    ok(await get(`Action=SendMessage&queueName=${q}&msgBody=hello+GET%20world%21+%2B1`, '/'));
    const r = ok(await get(`Action=ReceiveMessage&queueName=${q}&pollingWaitSeconds=0`));
    assert.equal(r['msgBody'], 'hello GET world! +1');
    const a = ok(await get(`Action=GetQueueAttributes&queueName=${q}`));
    assert.equal(a['inactiveMsgNum'], 1);
  });

  test('POST bodies are form-parsed whatever the Content-Type: none (Python), */* (Java), form (Go), others', async () => {
    const q = await newQueue('ctype');
    const variants: [string, http.OutgoingHttpHeaders][] = [
      ['python', { Connection: 'Keep-Alive' }],
      ['java', { 'Content-Type': '*/*;charset=utf-8' }],
      ['go', { 'Content-Type': 'application/x-www-form-urlencoded' }],
      ['node', { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' }],
      ['json', { 'Content-Type': 'application/json' }],
      ['text', { 'Content-Type': 'text/plain' }],
    ];
    for (const [who, headers] of variants) {
      ok(await post(`Action=SendMessage&queueName=${q}&msgBody=from+${who}+a%2Bb%26c%3Dd`, headers));
    }
    const bodies: string[] = [];
    for (let i = 0; i < variants.length; i++) bodies.push(await receiveBody(q));
    assert.deepEqual(bodies.sort(), variants.map(([who]) => `from ${who} a+b&c=d`).sort());
  });

  test('"+" is a space and %2B a plus, in body values; keys keep their "." (msgBody.1)', async () => {
    const q = await newQueue('plus');
    ok(await post(`Action=BatchSendMessage&queueName=${q}&msgBody.1=x+y%2Bz%20w&msgBody.2=%E4%B8%AD%E6%96%87+ok`));
    const got = [await receiveBody(q), await receiveBody(q)].sort();
    assert.deepEqual(got, ['x y+z w', '中文 ok'].sort());
  });

  test('POST reads the body and ignores the query string; an empty body falls back to the query', async () => {
    const q = await newQueue('postquery');
    const other = await newQueue('postquery-other');
    // The query says DeleteQueue(other); the body says GetQueueAttributes(q): the body wins.
    const r = ok(await post(`Action=GetQueueAttributes&queueName=${q}`, {}, `/v2/index.php?Action=DeleteQueue&queueName=${other}`));
    assert.equal(typeof r['visibilityTimeout'], 'number');
    ok(await s.call('GetQueueAttributes', { queueName: other }));
    // No body at all: the query is used (spec §1.2 [rec]).
    const fromQuery = envelope(await raw({ method: 'POST', path: `/v2/index.php?Action=GetQueueAttributes&queueName=${other}`, headers: {} }));
    ok(fromQuery);
    assert.equal(fromQuery['visibilityTimeout'], 600);
  });

  test('unknown parameters are accepted and ignored (UserpollingWaitSeconds, Region, Token, RequestClient, …)', async () => {
    const q = await newQueue('unknown');
    const extra = { UserpollingWaitSeconds: 40, Region: 'gz', Token: 'tmp-token', RequestClient: 'SDK_Python_1.3', someFutureParam: 'x', 'odd.key': '1' };
    ok(await post(formEncode({ Action: 'SendMessage', queueName: q, msgBody: 'm', ...extra })));
    const r = ok(await post(formEncode({ Action: 'ReceiveMessage', queueName: q, pollingWaitSeconds: 0, ...extra })));
    assert.equal(r['msgBody'], 'm');
    ok(await post(formEncode({ Action: 'GetQueueAttributes', queueName: q, numOfMsg: 99, ...extra })));
    // The Go SDK's auth-free form (appId instead of SecretId…) on a server without credentials.
    ok(await post(formEncode({ Action: 'GetQueueAttributes', queueName: q, appId: '1250000000', RequestClient: 'SDK_GO_1.2.0' })));
  });

  test('clientRequestId is echoed as a JSON number, on success and on errors', async () => {
    const q = await newQueue('crid');
    const r1 = await raw({ body: `Action=GetQueueAttributes&queueName=${q}&clientRequestId=1231231231` });
    assert.match(r1.raw, /"clientRequestId":1231231231[,}]/);
    assert.equal(ok(envelope(r1))['clientRequestId'], 1231231231);
    const r2 = await raw({ body: `Action=GetQueueAttributes&queueName=${uniqueName('none')}&clientRequestId=4294967295` });
    err(envelope(r2), 4440, 10100);
    assert.match(r2.raw, /"clientRequestId":4294967295[,}]/);
    const r3 = await raw({ body: 'Action=NoSuchAction&clientRequestId=7' });
    err(envelope(r3), 4000, 10430);
    assert.equal(r3.json['clientRequestId'], 7);
    // A uint64 beyond 2^53 is written exactly, as a number.
    const r4 = await raw({ body: `Action=ListQueue&limit=1&clientRequestId=18446744073709551615` });
    ok(envelope(r4));
    assert.match(r4.raw, /"clientRequestId":18446744073709551615[,}]/);
    // Not a number: left out.
    const r5 = await raw({ body: `Action=ListQueue&limit=1&clientRequestId=abc` });
    ok(envelope(r5));
    assert.equal(r5.json['clientRequestId'], undefined);
  });

  test('action names match case-insensitively', async () => {
    const q = uniqueName('case');
    ok(await post(`Action=createqueue&queueName=${q}&visibilityTimeout=600`));
    ok(await post(`Action=SENDMESSAGE&queueName=${q}&msgBody=hi`));
    const r = ok(await post(`Action=batchReceiveMessage&queueName=${q}&numOfMsg=1&pollingWaitSeconds=0`));
    assert.equal((r['msgInfoList'] as unknown[]).length, 1);
    ok(await post(`Action=getQueueAttributes&queueName=${q}`));
    ok(await post(`Action=DeleteQUEUE&queueName=${q}`));
  });

  test('an unknown action → 4000/10430 naming it; a missing or empty Action → 4000/10390', async () => {
    const r = await post('Action=FlyToTheMoon&queueName=x');
    err(r, 4000, 10430);
    assert.match(r.message, /FlyToTheMoon/);
    err(await post('queueName=x'), 4000, 10390);
    err(await post('Action=&queueName=x'), 4000, 10390);
    err(await raw({ method: 'POST', headers: {} }).then(envelope), 4000, 10390);
  });

  test('every response: HTTP 200, JSON Content-Type, numeric code, string message, unique string requestId', async () => {
    const q = await newQueue('envelope');
    const replies: RawReply[] = [];
    const bodies = [
      `Action=GetQueueAttributes&queueName=${q}`,
      `Action=SendMessage&queueName=${q}&msgBody=e`,
      `Action=ReceiveMessage&queueName=${q}&pollingWaitSeconds=0`,
      `Action=ReceiveMessage&queueName=${q}&pollingWaitSeconds=0`, // 7000
      `Action=GetQueueAttributes&queueName=${uniqueName('missing')}`, // 4440
      `Action=CreateQueue&queueName=${q}`, // 4460
      'Action=CreateQueue&queueName=1bad', // 10020
      'Action=Nope', // 10430
      `Action=DeleteMessage&queueName=${q}&receiptHandle=junk`, // 4430
      'Action=ListQueue',
    ];
    for (const b of bodies) replies.push(await raw({ body: b, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }));
    const ids = new Set<string>();
    for (const r of replies) {
      const e = envelope(r);
      ids.add(e.requestId);
    }
    assert.equal(ids.size, replies.length, 'requestIds are unique');
    assert.deepEqual(
      replies.map((r) => r.json['code']),
      [0, 0, 0, 7000, 4440, 4460, 4000, 4000, 4430, 0],
    );
  });

  test('malformed bodies (bad %-escapes, invalid UTF-8) → 4000/10420, and the server keeps serving', async () => {
    const bad: (string | Buffer)[] = [
      'Action=ListQueue&x=%zz',
      'Action=ListQueue&x=%',
      'Action=ListQueue&x=%4',
      'Action=ListQueue&msgBody=%ff%fe',
      Buffer.concat([Buffer.from('Action=ListQueue&x='), Buffer.from([0xc3, 0x28])]),
    ];
    for (const b of bad) err(await post(b), 4000, 10420);
    err(await get('Action=ListQueue&x=%zz'), 4000, 10420);
    await stillServing();
  });

  test('a repeated parameter → 4000/10330; an HTTP method other than GET/POST → 4000/10410 (still HTTP 200)', async () => {
    err(await post('Action=ListQueue&limit=1&limit=2'), 4000, 10330);
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      err(envelope(await raw({ method, body: 'Action=ListQueue' })), 4000, 10410);
    }
  });

  test('a body over the request limit (4 MB) → 4000/10420, with or without Content-Length; the server keeps serving', async () => {
    const big = Buffer.alloc(LIMITS.requestBytesMax + 1, 'a');
    big.write('Action=SendMessage&queueName=q&msgBody=');
    err(envelope(await raw({ body: big, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })), 4000, 10420);
    await stillServing();
    err(envelope(await raw({ body: big, chunked: true })), 4000, 10420);
    await stillServing();
  });

  test('a GET query over the request limit → 4000/10420 as HTTP 200 JSON; the server keeps serving', async () => {
    for (const size of [LIMITS.requestBytesMax + 1, LIMITS.requestBytesMax + 500_000]) {
      const query = `Action=ListQueue&pad=${'p'.repeat(size)}`;
      err(envelope(await raw({ method: 'GET', path: `/v2/index.php?${query}` })), 4000, 10420);
      await stillServing();
    }
  });

  test('a chunked POST body is parsed like any other', async () => {
    const q = await newQueue('chunked');
    ok(envelope(await raw({ body: `Action=SendMessage&queueName=${q}&msgBody=in+two+chunks`, chunked: true })));
    assert.equal(await receiveBody(q), 'in two chunks');
  });

  test('keep-alive: several requests over one connection (Python sends Connection: Keep-Alive)', async () => {
    const agent = keepAliveAgent({ keepAlive: true, maxSockets: 1 });
    try {
      const ports = new Set<number | undefined>();
      for (let i = 0; i < 4; i++) {
        const r = await raw({ body: 'Action=ListQueue&limit=1', headers: { Connection: 'Keep-Alive' }, agent });
        ok(envelope(r));
        ports.add(r.localPort);
      }
      assert.equal(ports.size, 1, 'one socket for all requests');
    } finally {
      agent.destroy();
    }
  });
});
