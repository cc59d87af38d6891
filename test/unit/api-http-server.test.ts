// The node:http wrapper over loopback: headers, any path, any Content-Type, keep-alive, the body
// size limit, the Host header used for signing, and malformed HTTP.

import { LIMITS } from '../../src/protocol/limits';
import { fail } from '../../src/protocol/errors';
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createApiServer } from '../../src/api/http-server';
import { RecordingQueueService } from '../helpers/recording-service';
import { canonicalQuery, computeSignature } from '../../src/api/signature';

const SECRET_ID = 'AKIDlocal';
const SECRET_KEY = 'local-secret';

let server: http.Server;
let port: number;
let service: RecordingQueueService;
const logs: string[] = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

before(async () => {
  service = new RecordingQueueService();
  server = createApiServer({
    service,
    auth: { mode: 'signature', credentials: [{ secretId: SECRET_ID, secretKey: SECRET_KEY }], requireAkidPrefix: true },
    log: (l) => logs.push(l),
    requestIdPrefix: 'http-',
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  agent.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  raw: string;
  socketPort: number | undefined;
}

function request(opts: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent, method: opts.method ?? 'POST', path: opts.path ?? '/', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, unknown> = {};
        if (raw !== '') body = JSON.parse(raw) as Record<string, unknown>;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, raw, socketPort: res.socket?.localPort });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function signed(params: [string, string][], method: string, host: string, path: string): string {
  const p = new Map<string, string>([['SecretId', SECRET_ID], ['Nonce', '1'], ['Timestamp', '1700000000'], ...params]);
  p.set('Signature', computeSignature(method + host + path + '?' + canonicalQuery(p), SECRET_KEY, 'HmacSHA1'));
  return new URLSearchParams([...p]).toString();
}

void test('http: POST with no Content-Type (Python) at /v2/index.php; JSON headers and exact Content-Length', async () => {
  const body = signed([['Action', 'SendMessage'], ['queueName', 'q'], ['msgBody', 'hi there']], 'POST', `127.0.0.1:${port}`, '/v2/index.php');
  const r = await request({ path: '/v2/index.php', body });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.raw));
  assert.equal(r.body['code'], 0);
  assert.equal(typeof r.body['msgId'], 'string');
});

void test("http: Java's '*/*;charset=utf-8' Content-Type at '/', and GET with the query", async () => {
  const host = `127.0.0.1:${port}`;
  const body = signed([['Action', 'ListQueue']], 'POST', host, '/');
  const r1 = await request({ path: '/', body, headers: { 'Content-Type': '*/*;charset=utf-8' } });
  assert.equal(r1.body['code'], 0);
  const q = signed([['Action', 'ListQueue']], 'GET', host, '/any/path');
  const r2 = await request({ method: 'GET', path: '/any/path?' + q });
  assert.equal(r2.body['code'], 0);
});

void test('http: the Host header (not the socket address) is what is signed', async () => {
  const body = signed([['Action', 'ListQueue']], 'POST', 'cmq.example.com:80', '/');
  const r = await request({ body, headers: { Host: 'cmq.example.com:80' } });
  assert.equal(r.body['code'], 0);
  const wrong = await request({ body, headers: { Host: 'elsewhere:80' } });
  assert.equal(wrong.body['code'], 4100);
});

void test('http: keep-alive connections are reused across requests', async () => {
  const host = `127.0.0.1:${port}`;
  const ports = new Set<number | undefined>();
  for (let i = 0; i < 5; i++) {
    const r = await request({ body: signed([['Action', 'ListQueue']], 'POST', host, '/') });
    assert.equal(r.body['code'], 0);
    assert.notEqual(r.headers['connection'], 'close');
    ports.add(r.socketPort);
  }
  assert.equal(ports.size, 1);
});

void test('http: a bad signature and unsupported methods still answer HTTP 200 JSON', async () => {
  const r = await request({ body: 'Action=ListQueue&SecretId=AKIDlocal&Nonce=1&Timestamp=1&Signature=abc' });
  assert.equal(r.status, 200);
  assert.deepEqual([r.body['code'], r.body['message']], [4100, '(10030)authentication failed']);
  const put = await request({ method: 'PUT', body: 'Action=ListQueue' });
  assert.equal(put.status, 200);
  assert.equal(put.body['message'], '(10410)unexpected http PUT only GET or POST is supported');
});

void test('http: a declared body over the request limit → 10420 without reading it, connection closed', async () => {
  const r = await request({ headers: { 'Content-Length': String(LIMITS.requestBytesMax + 1) }, body: Buffer.alloc(LIMITS.requestBytesMax + 1, 0x61) });
  assert.equal(r.status, 200);
  assert.equal(r.body['code'], 4000);
  assert.match(r.body['message'] as string, /^\(10420\)/);
  assert.equal(r.headers['connection'], 'close');
});

void test('http: a chunked body growing over the request limit → 10420', async () => {
  const reply = await new Promise<Reply>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(raw) as Record<string, unknown>, raw, socketPort: undefined });
      });
    });
    req.on('error', reject);
    // Transfer-Encoding: chunked; write pieces until past the limit.
    const piece = Buffer.alloc(64 * 1024, 0x62);
    for (let i = 0; i * piece.length <= LIMITS.requestBytesMax; i++) req.write(piece);
    req.end();
  });
  assert.equal(reply.status, 200);
  assert.match(reply.body['message'] as string, /^\(10420\)/);
});

void test('http: a GET query up to the limit is accepted (node would otherwise cap URLs at 16 KB)', async () => {
  const host = `127.0.0.1:${port}`;
  const q = signed([['Action', 'SendMessage'], ['queueName', 'q'], ['msgBody', 'x'.repeat(200_000)]], 'GET', host, '/');
  const r = await request({ method: 'GET', path: '/?' + q });
  assert.equal(r.body['code'], 0);
});

void test('http: malformed HTTP gets a 400 and the server keeps serving', async () => {
  const text = await new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('THIS IS NOT HTTP\r\n\r\n'));
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
  });
  assert.match(text, /^HTTP\/1\.1 400/);
  const r = await request({ body: signed([['Action', 'ListQueue']], 'POST', `127.0.0.1:${port}`, '/') });
  assert.equal(r.body['code'], 0);
});

void test('http: a read the service refuses during failover is answered as the error it returns (6100), not logged', async () => {
  const before = logs.length;
  service.scripts.listQueues = () => fail('notApplied', undefined, 'read not possible here now: not the leader (no leader known)');
  try {
    const r = await request({ body: signed([['Action', 'ListQueue']], 'POST', `127.0.0.1:${port}`, '/') });
    assert.equal(r.body['code'], 6100);
    assert.equal(r.body['message'], '(10800)service temporarily unavailable, the request was not applied, retry read not possible here now: not the leader (no leader known)');
    assert.equal(logs.length, before, 'not logged as an internal error');
  } finally {
    delete service.scripts.listQueues;
  }
});

void test('http: a service exception becomes 6000/10050 and is logged', async () => {
  const before = logs.length;
  service.scripts.listQueues = () => {
    throw new Error('exploded');
  };
  try {
    const r = await request({ body: signed([['Action', 'ListQueue']], 'POST', `127.0.0.1:${port}`, '/') });
    assert.equal(r.status, 200);
    assert.deepEqual([r.body['code'], r.body['message']], [6000, '(10050)server internal error']);
    assert.equal(typeof r.body['requestId'], 'string');
    assert.equal(logs.length, before + 1);
    assert.match(logs[before] as string, /exploded/);
  } finally {
    delete service.scripts.listQueues;
  }
});
