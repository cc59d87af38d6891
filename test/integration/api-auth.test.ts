// Authentication (spec §1.3, §1.4): requests signed exactly the way the Python, Java and Go SDKs
// sign them — by a signer written here from the spec, checked against the spec's test vectors,
// not the server's own signature code — plus the authentication errors and the start-up rule
// that an unauthenticated server may only listen on loopback.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type * as http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startServer } from '../../src/node/server';
import {
  envelope,
  err,
  formEncode,
  hmacBase64,
  httpRequest,
  nowSec,
  ok,
  signedParams,
  startTestServer,
  stringToSign,
  testServerTls,
  uniqueName,
  type CmqBody,
  type Params,
  type SignOptions,
  type TestServer,
} from '../helpers/http-harness';

const SECRET_ID = 'AKIDtest';
const SECRET_KEY = 'secret';

let s: TestServer;

before(async () => {
  s = await startTestServer({ credentials: [{ secretId: SECRET_ID, secretKey: SECRET_KEY }] });
});

after(async () => {
  await s.close();
});

type Sdk = 'python' | 'java' | 'go' | 'get';

/** How each SDK shapes a request (spec §1.2, §5): method, path, headers, extra parameters. */
function sdkShape(sdk: Sdk): { sign: Omit<SignOptions, 'host' | 'secretId' | 'secretKey'>; headers: http.OutgoingHttpHeaders } {
  switch (sdk) {
    case 'python':
      return { sign: { method: 'POST', path: '/v2/index.php', algo: 'HmacSHA1', extra: { RequestClient: 'SDK_Python_1.3' }, omitAtValues: true }, headers: { Connection: 'Keep-Alive' } };
    case 'java':
      return { sign: { method: 'POST', path: '/', algo: 'HmacSHA256', extra: { RequestClient: 'SDK_JAVA_1.3' } }, headers: { 'Content-Type': '*/*;charset=utf-8' } };
    case 'go':
      return {
        sign: { method: 'POST', path: '/', algo: 'HmacSHA256', extra: { RequestClient: 'SDK_GO_1.2.0', clientRequestId: String(Math.floor(Math.random() * 2 ** 32)) } },
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      };
    case 'get':
      return { sign: { method: 'GET', path: '/v2/index.php', algo: 'HmacSHA1', extra: { RequestClient: 'SDK_Python_1.3' } }, headers: {} };
    default: {
      const never: never = sdk;
      throw new Error(String(never));
    }
  }
}

/** Send already-built parameters the way `opts` says (GET: query; POST: body). */
async function sendParams(all: Record<string, string>, method: 'GET' | 'POST', reqPath: string, headers: http.OutgoingHttpHeaders): Promise<CmqBody> {
  const encoded = formEncode(all);
  const reply =
    method === 'GET'
      ? await httpRequest(s.port, { method: 'GET', path: `${reqPath}?${encoded}`, headers })
      : await httpRequest(s.port, { method: 'POST', path: reqPath, headers, body: encoded });
  return envelope(reply);
}

/** A request signed like `sdk` with the right credentials (overridable). */
async function signedCall(sdk: Sdk, action: string, params: Params = {}, override: Partial<SignOptions> = {}): Promise<CmqBody> {
  const shape = sdkShape(sdk);
  const o: SignOptions = { ...shape.sign, host: s.host, secretId: SECRET_ID, secretKey: SECRET_KEY, ...override };
  return sendParams(signedParams(action, params, o), o.method, o.path, shape.headers);
}

describe('the test signer', () => {
  const KEY = 'pPgfLipfEXZ7VcRzhAMIyPaU7UbQyFFx';
  const base = {
    Action: 'SendMessage',
    Nonce: '2889712707386595659',
    RequestClient: 'SDK_Python_1.3',
    SecretId: 'AKIDPcYDclDJCn8D0Xypa4f3pKYUCVYLn3zT',
    SignatureMethod: 'HmacSHA1',
    Timestamp: '1534154812',
    clientRequestId: '1231231231',
    delaySeconds: '0',
    msgBody: 'msg',
    queueName: 'test1',
  };

  test('reproduces spec test vector 1 (HmacSHA1, from the official docs)', () => {
    // Keys given in a shuffled order: the signer must sort them.
    const shuffled = Object.fromEntries(Object.entries(base).reverse());
    const text = stringToSign('POST', 'cmq-queue-gz.api.tencentyun.com', '/v2/index.php', shuffled);
    assert.equal(
      text,
      'POSTcmq-queue-gz.api.tencentyun.com/v2/index.php?Action=SendMessage&Nonce=2889712707386595659&RequestClient=SDK_Python_1.3&SecretId=AKIDPcYDclDJCn8D0Xypa4f3pKYUCVYLn3zT&SignatureMethod=HmacSHA1&Timestamp=1534154812&clientRequestId=1231231231&delaySeconds=0&msgBody=msg&queueName=test1',
    );
    assert.equal(hmacBase64(text, KEY, 'HmacSHA1'), 'C16WEtEXsD5v5tnaUMLAbZewXhI=');
  });

  test('reproduces spec test vectors 2 (HmacSHA256) and 3 (host:port, path /, spaces and "&" in values)', () => {
    const v2 = stringToSign('POST', 'cmq-queue-gz.api.tencentyun.com', '/v2/index.php', { ...base, SignatureMethod: 'HmacSHA256' });
    assert.equal(hmacBase64(v2, KEY, 'HmacSHA256'), '7aNNVzszJftqWPLvvnHU3lDznBYFPof7ACkTD3OJUu4=');
    const v3 = stringToSign('POST', '127.0.0.1:8080', '/', {
      Action: 'BatchSendMessage',
      Nonce: '12345',
      RequestClient: 'SDK_JAVA_1.3',
      SecretId: 'AKIDPcYDclDJCn8D0Xypa4f3pKYUCVYLn3zT',
      SignatureMethod: 'HmacSHA1',
      Timestamp: '1700000000',
      delaySeconds: '0',
      'msgBody.1': 'hello world',
      'msgBody.2': 'a&b=c',
      queueName: 'test1',
    });
    assert.equal(
      v3,
      'POST127.0.0.1:8080/?Action=BatchSendMessage&Nonce=12345&RequestClient=SDK_JAVA_1.3&SecretId=AKIDPcYDclDJCn8D0Xypa4f3pKYUCVYLn3zT&SignatureMethod=HmacSHA1&Timestamp=1700000000&delaySeconds=0&msgBody.1=hello world&msgBody.2=a&b=c&queueName=test1',
    );
    assert.equal(hmacBase64(v3, KEY, 'HmacSHA1'), '3Gj+GSb0Uxu507HPwD9e2GiSjyU=');
  });

  test('sorts keys by code unit (msgBody.1 < msgBody.10 < msgBody.2; upper case first) and leaves out Signature', () => {
    const text = stringToSign('GET', 'h', '/', { 'msgBody.2': 'b', 'msgBody.10': 'j', 'msgBody.1': 'a', queueName: 'q', Action: 'X', Signature: 'zzz' });
    assert.equal(text, 'GETh/?Action=X&msgBody.1=a&msgBody.10=j&msgBody.2=b&queueName=q');
  });
});

describe('signed requests', () => {
  test('signed like the Python SDK (HmacSHA1, POST /v2/index.php, no Content-Type): a full queue round trip', async () => {
    const q = uniqueName('py');
    // Python sends its whole QueueMeta on CreateQueue.
    ok(await signedCall('python', 'CreateQueue', { queueName: q, pollingWaitSeconds: 0, visibilityTimeout: 30, maxMsgSize: 65536, msgRetentionSeconds: 345600, rewindSeconds: 0 }));
    // Python may send Nonce up to 2^63 − 1.
    ok(await signedCall('python', 'SendMessage', { queueName: q, msgBody: 'hello python & friends = 100%', delaySeconds: 0 }, { nonce: '9223372036854775807' }));
    const r = ok(await signedCall('python', 'ReceiveMessage', { queueName: q, pollingWaitSeconds: 1, UserpollingWaitSeconds: 1 }));
    assert.equal(r['msgBody'], 'hello python & friends = 100%');
    ok(await signedCall('python', 'DeleteMessage', { queueName: q, receiptHandle: r['receiptHandle'] as string }));
    // Python's set_sign('sha256').
    const a = ok(await signedCall('python', 'GetQueueAttributes', { queueName: q }, { algo: 'HmacSHA256' }));
    assert.equal(a['activeMsgNum'], 0);
  });

  test('signed like the Java SDK (HmacSHA256, POST /, */* Content-Type, 1-based arrays)', async () => {
    const q = uniqueName('java');
    ok(await signedCall('java', 'CreateQueue', { queueName: q, maxMsgSize: 1048576 }));
    const sent = ok(await signedCall('java', 'BatchSendMessage', { queueName: q, 'msgBody.1': 'hello world', 'msgBody.2': 'a&b=c', delaySeconds: 0 }));
    assert.equal((sent['msgList'] as unknown[]).length, 2);
    const r = ok(await signedCall('java', 'BatchReceiveMessage', { queueName: q, numOfMsg: 2, pollingWaitSeconds: 1 }));
    const list = r['msgInfoList'] as Record<string, string>[];
    assert.deepEqual(list.map((m) => m['msgBody']).sort(), ['a&b=c', 'hello world']);
    ok(await signedCall('java', 'BatchDeleteMessage', { queueName: q, 'receiptHandle.1': list[0]!['receiptHandle']!, 'receiptHandle.2': list[1]!['receiptHandle']! }));
    // Java v1.1.1 also sends Token (temporary credentials); it is signed like any other parameter.
    ok(await signedCall('java', 'GetQueueAttributes', { queueName: q }, { extra: { RequestClient: 'SDK_JAVA_1.3', Token: 'sts-token' } }));
  });

  test('signed like the Go SDK (0-based arrays, clientRequestId echoed as a number)', async () => {
    const q = uniqueName('go');
    ok(await signedCall('python', 'CreateQueue', { queueName: q }));
    const o: SignOptions = { ...sdkShape('go').sign, host: s.host, secretId: SECRET_ID, secretKey: SECRET_KEY, extra: { RequestClient: 'SDK_GO_1.2.0', clientRequestId: '3141592653' } };
    const all = signedParams('BatchSendMessage', { queueName: q, 'msgBody.0': 'zero', 'msgBody.1': 'one' }, o);
    const reply = await httpRequest(s.port, { method: 'POST', path: '/', headers: sdkShape('go').headers, body: formEncode(all) });
    const r = ok(envelope(reply));
    assert.equal(r['clientRequestId'], 3141592653);
    assert.match(reply.raw, /"clientRequestId":3141592653[,}]/);
    assert.equal((r['msgList'] as unknown[]).length, 2);
    const got = ok(await signedCall('go', 'BatchReceiveMessage', { queueName: q, numOfMsg: 16, pollingWaitSeconds: 1 }));
    const list = got['msgInfoList'] as Record<string, string>[];
    assert.deepEqual(list.map((m) => m['msgBody']).sort(), ['one', 'zero']);
    ok(await signedCall('go', 'BatchDeleteMessage', { queueName: q, 'receiptHandle.0': list[0]!['receiptHandle']!, 'receiptHandle.1': list[1]!['receiptHandle']! }));
  });

  test('signed GET with the parameters in the query string', async () => {
    const q = uniqueName('get');
    ok(await signedCall('get', 'CreateQueue', { queueName: q }));
    ok(await signedCall('get', 'SendMessage', { queueName: q, msgBody: 'via GET + spaces' }));
    const r = ok(await signedCall('get', 'ReceiveMessage', { queueName: q, pollingWaitSeconds: 0 }));
    assert.equal(r['msgBody'], 'via GET + spaces');
  });

  test('the Host header the client sent is what is signed (endpoint names, not the socket address)', async () => {
    const host = 'cmq-queue-gz.api.tencentyun.com';
    const all = signedParams('ListQueue', { limit: 1 }, { method: 'POST', host, path: '/v2/index.php', algo: 'HmacSHA1', secretId: SECRET_ID, secretKey: SECRET_KEY });
    ok(envelope(await httpRequest(s.port, { body: formEncode(all), headers: { Host: host } })));
    // Signed for that host but sent with another Host header → refused.
    err(envelope(await httpRequest(s.port, { body: formEncode(all), headers: { Host: 'other.example.com:9999' } })), 4100, 10030);
  });

  test('parameters the server does not know are signed too, with "_" in key names signed as "." (spec §1.4)', async () => {
    ok(await signedCall('java', 'ListQueue', { limit: 1, custom_key: 'v', Region: 'gz' }));
    const text = stringToSign('POST', 'h', '/', { a_b: '1', Action: 'X' });
    assert.equal(text, 'POSTh/?Action=X&a.b=1');
  });

  test('tolerated SDK variants (spec §1.4 quirks 2 and 4): "http://" left in the signed host; a signed default port missing from Host', async () => {
    // DivXPro Node SDK against an http:// endpoint.
    const divx = signedParams('ListQueue', {}, { method: 'POST', host: `http://${s.host}`, path: '/v2/index.php', algo: 'HmacSHA1', secretId: SECRET_ID, secretKey: SECRET_KEY });
    ok(await sendParams(divx, 'POST', '/v2/index.php', {}));
    // Python signs example.com:80 from its endpoint but http.client sends Host: example.com.
    const py = signedParams('ListQueue', {}, { method: 'POST', host: 'cmq.example.com:80', path: '/v2/index.php', algo: 'HmacSHA1', secretId: SECRET_ID, secretKey: SECRET_KEY });
    ok(envelope(await httpRequest(s.port, { body: formEncode(py), headers: { Host: 'cmq.example.com' } })));
  });

  test('a message body starting with "@", signed the Python way (@-values left out) or fully (Java): both succeed', async () => {
    const q = uniqueName('at');
    ok(await signedCall('python', 'CreateQueue', { queueName: q }));
    ok(await signedCall('python', 'SendMessage', { queueName: q, msgBody: '@python-style' }));
    ok(await signedCall('java', 'SendMessage', { queueName: q, msgBody: '@java-style' }));
    const bodies = [];
    for (let i = 0; i < 2; i++) bodies.push(ok(await signedCall('java', 'ReceiveMessage', { queueName: q, pollingWaitSeconds: 0 }))['msgBody']);
    assert.deepEqual(bodies.sort(), ['@java-style', '@python-style']);
  });

  test('the @-omission is a POST quirk only: a GET signed without its @-values → 4100/10030', async () => {
    const q = uniqueName('atget');
    ok(await signedCall('python', 'CreateQueue', { queueName: q }));
    err(await signedCall('get', 'SendMessage', { queueName: q, msgBody: '@get' }, { omitAtValues: true }), 4100, 10030);
    ok(await signedCall('get', 'SendMessage', { queueName: q, msgBody: '@get' }));
  });
});

describe('authentication errors', () => {
  test('a wrong SecretKey → 4100/10030', async () => {
    const r = await signedCall('python', 'ListQueue', {}, { secretKey: 'not-the-secret' });
    err(r, 4100, 10030);
    assert.equal(r.message, '(10030)authentication failed');
    err(await signedCall('java', 'ListQueue', {}, { secretKey: 'secret2' }), 4100, 10030);
  });

  test('an unknown SecretId → 4100/10270', async () => {
    const r = await signedCall('python', 'ListQueue', {}, { secretId: 'AKIDunknown' });
    err(r, 4100, 10270);
    assert.equal(r.message, '(10270)secret id is not existed');
  });

  test('a missing Signature (or SecretId, Nonce, Timestamp) → 4000/10390; an unsigned request too', async () => {
    for (const drop of ['Signature', 'SecretId', 'Nonce', 'Timestamp']) {
      const all = signedParams('ListQueue', {}, { method: 'POST', host: s.host, path: '/v2/index.php', algo: 'HmacSHA1', secretId: SECRET_ID, secretKey: SECRET_KEY });
      delete all[drop];
      const r = await sendParams(all, 'POST', '/v2/index.php', {});
      err(r, 4000, 10390);
      assert.match(r.message, new RegExp(drop));
    }
    err(await s.call('ListQueue', {}), 4000, 10390);
  });

  test('a Timestamp that is not an integer → 4000/10360', async () => {
    err(await signedCall('python', 'ListQueue', {}, { timestamp: 'yesterday' }), 4000, 10360);
  });

  test('anything changed after signing → 4100/10030: a value, the path, the method, the algorithm', async () => {
    const o: SignOptions = { method: 'POST', host: s.host, path: '/v2/index.php', algo: 'HmacSHA1', secretId: SECRET_ID, secretKey: SECRET_KEY };
    const q = uniqueName('tamper');
    ok(await signedCall('python', 'CreateQueue', { queueName: q }));
    const all = signedParams('SendMessage', { queueName: q, msgBody: 'original' }, o);
    err(await sendParams({ ...all, msgBody: 'tampered' }, 'POST', '/v2/index.php', {}), 4100, 10030);
    err(await sendParams({ ...all, extraParam: 'added' }, 'POST', '/v2/index.php', {}), 4100, 10030);
    err(await sendParams(all, 'POST', '/other/path', {}), 4100, 10030);
    err(await sendParams(all, 'GET', '/v2/index.php', {}), 4100, 10030);
    // Signed with SHA-1 but claiming SHA-256.
    const sha1 = signedParams('ListQueue', {}, o);
    err(await sendParams({ ...sha1, SignatureMethod: 'HmacSHA256' }, 'POST', '/v2/index.php', {}), 4100, 10030);
    // Nothing was sent by the refused requests.
    assert.equal(ok(await signedCall('python', 'GetQueueAttributes', { queueName: q }))['activeMsgNum'], 0);
  });

  test('an unknown SignatureMethod means HmacSHA1 (spec §1.3)', async () => {
    const o: SignOptions = { method: 'POST', host: s.host, path: '/v2/index.php', algo: 'HmacSHA1', secretId: SECRET_ID, secretKey: SECRET_KEY };
    const params: Record<string, string> = {
      Action: 'ListQueue',
      Nonce: '42',
      SecretId: SECRET_ID,
      SignatureMethod: 'HmacMD5',
      Timestamp: String(nowSec()),
    };
    params['Signature'] = hmacBase64(stringToSign(o.method, o.host, o.path, params), SECRET_KEY, 'HmacSHA1');
    ok(await sendParams(params, 'POST', '/v2/index.php', {}));
    delete params['SignatureMethod'];
    params['Signature'] = hmacBase64(stringToSign(o.method, o.host, o.path, params), SECRET_KEY, 'HmacSHA1');
    ok(await sendParams(params, 'POST', '/v2/index.php', {}));
  });

  test('with requireAkidPrefix, a SecretId not starting with AKID → 4000/10450', async () => {
    const strict = await startTestServer({
      credentials: [
        { secretId: 'plainid', secretKey: 'k1' },
        { secretId: 'AKIDok', secretKey: 'k2' },
      ],
      requireAkidPrefix: true,
    });
    try {
      const sign = (secretId: string, secretKey: string): Record<string, string> =>
        signedParams('ListQueue', {}, { method: 'POST', host: strict.host, path: '/', algo: 'HmacSHA1', secretId, secretKey });
      err(envelope(await httpRequest(strict.port, { path: '/', body: formEncode(sign('plainid', 'k1')) })), 4000, 10450);
      ok(envelope(await httpRequest(strict.port, { path: '/', body: formEncode(sign('AKIDok', 'k2')) })));
    } finally {
      await strict.close();
    }
  });
});

describe('start-up', () => {
  async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-api-start-'));
    try {
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  test('without credentials the server refuses a non-loopback host (0.0.0.0) unless insecureNoAuth', async () => {
    await withDir(async (dir) => {
      await assert.rejects(
        startServer({ dataDir: dir, host: '0.0.0.0', port: 0, credentials: [], insecureNoAuth: false, segmentBytes: 1 << 20, log: () => {}, ...testServerTls() }),
        /refusing to listen on 0\.0\.0\.0/,
      );
    });
    await withDir(async (dir) => {
      const open = await startServer({ dataDir: dir, host: '0.0.0.0', port: 0, credentials: [], insecureNoAuth: true, segmentBytes: 1 << 20, log: () => {}, ...testServerTls() });
      try {
        // Open: an unsigned request is served.
        ok(envelope(await httpRequest(open.port, { body: 'Action=ListQueue' })));
      } finally {
        await open.close();
      }
    });
  });

  test('with credentials the server may listen on 0.0.0.0, and then requires signatures', async () => {
    await withDir(async (dir) => {
      const srv = await startServer({
        dataDir: dir,
        host: '0.0.0.0',
        port: 0,
        credentials: [{ secretId: SECRET_ID, secretKey: SECRET_KEY }],
        insecureNoAuth: false,
        segmentBytes: 1 << 20,
        log: () => {},
        ...testServerTls(),
      });
      try {
        err(envelope(await httpRequest(srv.port, { body: 'Action=ListQueue' })), 4000, 10390);
        const all = signedParams('ListQueue', {}, { method: 'POST', host: `127.0.0.1:${srv.port}`, path: '/', algo: 'HmacSHA256', secretId: SECRET_ID, secretKey: SECRET_KEY });
        ok(envelope(await httpRequest(srv.port, { path: '/', body: formEncode(all) })));
      } finally {
        await srv.close();
      }
    });
  });
});
