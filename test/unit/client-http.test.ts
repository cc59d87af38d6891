// CmqClient against a tiny HTTP server that recomputes the signature independently (spec §1.4),
// records the decoded parameters and answers with canned CMQ JSON.

import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { CmqClient, type CmqClientOptions } from '../../src/client/client';
import { CmqError, CmqNetworkError } from '../../src/client/errors';

const SECRET_ID = 'AKIDtest';
const SECRET_KEY = 'test-secret-key';

interface Seen {
  method: string;
  path: string;
  host: string;
  contentType: string | undefined;
  params: Record<string, string>;
  /** undefined when unsigned; else whether the signature checked out. */
  signatureValid: boolean | undefined;
  socketId: number;
}

type Responder = (p: Record<string, string>, req: http.IncomingMessage, res: http.ServerResponse) => unknown;

let server: http.Server;
let port: number;
let seen: Seen[] = [];
let respond: Responder = () => ({ code: 0, message: '', requestId: 'r' });
let socketCounter = 0;
const socketIds = new WeakMap<object, number>();

/** Independent of src/client/signature.ts on purpose. */
function expectedSignature(method: string, host: string, path: string, params: Record<string, string>): string {
  const keys = Object.keys(params)
    .filter((k) => k !== 'Signature')
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const text = `${method}${host}${path}?` + keys.map((k) => `${k.replace(/_/g, '.')}=${params[k]}`).join('&');
  const algo = params.SignatureMethod === 'HmacSHA256' ? 'sha256' : 'sha1';
  return createHmac(algo, SECRET_KEY).update(text, 'utf8').digest('base64');
}

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const raw = req.method === 'POST' ? Buffer.concat(chunks).toString('utf8') : url.search.slice(1);
      const params = Object.fromEntries(new URLSearchParams(raw));
      const host = req.headers.host ?? '';
      const signature = params.Signature;
      let socketId = socketIds.get(req.socket);
      if (socketId === undefined) {
        socketId = ++socketCounter;
        socketIds.set(req.socket, socketId);
      }
      seen.push({
        method: req.method ?? '',
        path: url.pathname,
        host,
        contentType: req.headers['content-type'],
        params,
        signatureValid: signature === undefined ? undefined : signature === expectedSignature(req.method ?? '', host, url.pathname, params),
        socketId,
      });
      const out = respond(params, req, res);
      if (out === undefined) return; // the responder took over
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(typeof out === 'string' ? out : JSON.stringify(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen = [];
  respond = () => ({ code: 0, message: '', requestId: 'r' });
});

function client(opts: Partial<CmqClientOptions> = {}): CmqClient {
  return new CmqClient({ endpoint: `http://127.0.0.1:${port}`, secretId: SECRET_ID, secretKey: SECRET_KEY, retryBackoffMs: 5, ...opts });
}

function last(): Seen {
  const s = seen[seen.length - 1];
  assert.ok(s, 'the server saw a request');
  return s;
}

void test('SendMessage: signed form POST with the common parameters (HmacSHA256 by default)', async () => {
  respond = () => ({ code: 0, message: '', requestId: 'r1', msgId: '123' });
  const c = client();
  const body = 'hello world & more = 1+1 ünïcode 消息';
  const t0 = Math.floor(Date.now() / 1000);
  assert.equal(await c.sendMessage('q1', body, { delaySeconds: 3 }), '123');
  c.close();
  const s = last();
  assert.equal(s.method, 'POST');
  assert.equal(s.path, '/');
  assert.equal(s.host, `127.0.0.1:${port}`);
  assert.equal(s.contentType, 'application/x-www-form-urlencoded');
  assert.equal(s.signatureValid, true);
  const p = s.params;
  assert.equal(p.Action, 'SendMessage');
  assert.equal(p.queueName, 'q1');
  assert.equal(p.msgBody, body);
  assert.equal(p.delaySeconds, '3');
  assert.equal(p.SecretId, SECRET_ID);
  assert.equal(p.SignatureMethod, 'HmacSHA256');
  assert.equal(p.RequestClient, 'opencmq-ts/0.1.0');
  assert.match(p.Nonce ?? '', /^[1-9]\d*$/);
  assert.ok(Math.abs(Number(p.Timestamp) - t0) <= 5);
});

void test('GET with HmacSHA1 puts parameters in the query and signs with GET; Buffer bodies are sent as UTF-8', async () => {
  respond = () => ({ code: 0, message: '', requestId: 'r', msgId: '9' });
  const c = client({ method: 'GET', signatureMethod: 'HmacSHA1', path: '/v2/index.php' });
  await c.sendMessage('q1', Buffer.from('bytes ✓'));
  c.close();
  const s = last();
  assert.equal(s.method, 'GET');
  assert.equal(s.path, '/v2/index.php');
  assert.equal(s.params.SignatureMethod, 'HmacSHA1');
  assert.equal(s.params.msgBody, 'bytes ✓');
  assert.equal(s.signatureValid, true);
});

void test('a path in the endpoint URL is used when no path option is given', async () => {
  const c = client({ endpoint: `http://127.0.0.1:${port}/v2/index.php` });
  await c.deleteQueue('q1');
  c.close();
  assert.equal(last().path, '/v2/index.php');
  assert.equal(last().signatureValid, true);
});

void test('without credentials requests are unsigned', async () => {
  const c = new CmqClient({ endpoint: `http://127.0.0.1:${port}` });
  await c.deleteQueue('q1');
  c.close();
  const p = last().params;
  assert.equal(p.Action, 'DeleteQueue');
  assert.equal(p.Signature, undefined);
  assert.equal(p.SecretId, undefined);
  assert.equal(last().signatureValid, undefined);
  assert.throws(() => new CmqClient({ endpoint: 'http://h', secretId: 'x' }), TypeError);
  assert.throws(() => new CmqClient({ endpoint: 'ftp://h' }), TypeError);
});

void test('BatchSendMessage sends msgBody.1..n and returns msgIds in order', async () => {
  respond = () => ({ code: 0, message: '', requestId: 'r', msgList: [{ msgId: 'a' }, { msgId: 'b' }, { msgId: 'c' }] });
  const c = client();
  const ids = await c.batchSendMessage('q1', ['one', 'two', Buffer.from('three')], { delaySeconds: 0 });
  assert.deepEqual(ids, ['a', 'b', 'c']);
  assert.deepEqual(await c.batchSendMessage('q1', []), []);
  c.close();
  assert.equal(seen.length, 1, 'an empty batch sends nothing');
  const p = last().params;
  assert.equal(p['msgBody.1'], 'one');
  assert.equal(p['msgBody.2'], 'two');
  assert.equal(p['msgBody.3'], 'three');
  assert.equal(p['msgBody.0'], undefined);
  assert.equal(p.delaySeconds, '0');
  assert.equal(last().signatureValid, true);
});

void test('CreateQueue sends attributes and deadLetterPolicy as a JSON string; returns queueId', async () => {
  respond = () => ({ code: 0, message: '', requestId: 'r', queueId: 'queue-7' });
  const c = client();
  const id = await c.createQueue('q1', {
    visibilityTimeout: 5,
    maxMsgSize: 2048,
    deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 3 },
  });
  c.close();
  assert.equal(id, 'queue-7');
  const p = last().params;
  assert.equal(p.visibilityTimeout, '5');
  assert.equal(p.maxMsgSize, '2048');
  assert.equal(p.pollingWaitSeconds, undefined, 'unset attributes are not sent');
  assert.deepEqual(JSON.parse(p.deadLetterPolicy ?? ''), { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 3 });
});

void test('ListQueue: paging parameters and parsed list; offset without limit sends the default limit', async () => {
  respond = () => ({ code: 0, message: '', requestId: 'r', totalCount: 3, queueList: [{ queueId: 'queue-1', queueName: 'a' }] });
  const c = client();
  assert.deepEqual(await c.listQueues({ searchWord: 'a', offset: 2 }), { totalCount: 3, queues: [{ queueId: 'queue-1', queueName: 'a' }] });
  assert.equal(last().params.searchWord, 'a');
  assert.equal(last().params.offset, '2');
  assert.equal(last().params.limit, '20');
  await c.listDeadLetterSourceQueues('dlq', { limit: 5 });
  c.close();
  assert.equal(last().params.Action, 'ListDeadLetterSourceQueues');
  assert.equal(last().params.deadLetterQueueName, 'dlq');
  assert.equal(last().params.limit, '5');
});

void test('GetQueueAttributes parses numbers, numeric strings, rewindmsgNum and a JSON-string deadLetterPolicy', async () => {
  respond = () => ({
    code: 0,
    message: '',
    requestId: 'r',
    maxMsgHeapNum: 1000000,
    pollingWaitSeconds: 0,
    visibilityTimeout: '30',
    maxMsgSize: 65536,
    msgRetentionSeconds: 345600,
    rewindSeconds: 0,
    createTime: 1700000000,
    lastModifyTime: 1700000001,
    activeMsgNum: 2,
    inactiveMsgNum: 1,
    delayMsgNum: 0,
    rewindmsgNum: 4,
    minMsgTime: 1700000002,
    deadLetterPolicy: '{"deadLetterQueue":"dlq","policy":1,"maxTimeToLive":300}',
  });
  const c = client();
  const a = await c.getQueueAttributes('q1');
  c.close();
  assert.equal(a.visibilityTimeout, 30);
  assert.equal(a.activeMsgNum, 2);
  assert.equal(a.rewindMsgNum, 4);
  assert.equal(a.createTime, 1700000000);
  assert.deepEqual(a.deadLetterPolicy, { deadLetterQueue: 'dlq', policy: 1, maxTimeToLive: 300 });
});

void test('ReceiveMessage: message fields; 7000 is undefined, not an error', async () => {
  const msg = {
    msgId: 'm1',
    msgBody: 'body',
    receiptHandle: 'h-1',
    enqueueTime: 1700000000,
    firstDequeueTime: 1700000001,
    nextVisibleTime: 1700000031,
    dequeueCount: 1,
  };
  respond = () => ({ code: 0, message: '', requestId: 'r', ...msg });
  const c = client();
  assert.deepEqual(await c.receiveMessage('q1', { pollingWaitSeconds: 2 }), {
    msgId: 'm1',
    body: 'body',
    receiptHandle: 'h-1',
    enqueueTime: 1700000000,
    firstDequeueTime: 1700000001,
    nextVisibleTime: 1700000031,
    dequeueCount: 1,
  });
  assert.equal(last().params.pollingWaitSeconds, '2');
  respond = () => ({ code: 7000, message: '(10200)no message', requestId: 'r' });
  assert.equal(await c.receiveMessage('q1'), undefined);
  assert.equal(last().params.pollingWaitSeconds, undefined);
  assert.deepEqual(await c.batchReceiveMessage('q1', 4, { pollingWaitSeconds: 0 }), []);
  assert.equal(last().params.numOfMsg, '4');
  respond = () => ({ code: 0, message: '', requestId: 'r', msgInfoList: [msg, { ...msg, msgId: 'm2' }] });
  const list = await c.batchReceiveMessage('q1', 2);
  c.close();
  assert.deepEqual(
    list.map((m) => m.msgId),
    ['m1', 'm2'],
  );
});

void test('a receive waits past timeoutMs: the socket allows the poll wait + 5 s', async () => {
  respond = (_p, _req, res) => {
    setTimeout(() => res.end(JSON.stringify({ code: 7000, message: '(10200)no message', requestId: 'r' })), 400);
    return undefined;
  };
  const c = client({ timeoutMs: 100, retries: 0 });
  assert.equal(await c.receiveMessage('q1', { pollingWaitSeconds: 1 }), undefined);
  // A plain call with the same delay times out.
  await assert.rejects(c.deleteQueue('q1'), (e: unknown) => e instanceof CmqNetworkError && e.kind === 'timeout');
  c.close();
});

void test('an aborted receive rejects with kind aborted', async () => {
  respond = (_p, _req, res) => {
    setTimeout(() => res.end('{"code":7000,"message":"","requestId":"r"}'), 300);
    return undefined;
  };
  const c = client();
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  await assert.rejects(c.receiveMessage('q1', { pollingWaitSeconds: 1, signal: ac.signal }), (e: unknown) => e instanceof CmqNetworkError && e.kind === 'aborted');
  c.close();
});

void test('BatchDeleteMessage: receiptHandle.1..n; 6010 and 6020 come back as failures, not errors', async () => {
  const c = client();
  assert.deepEqual(await c.batchDeleteMessage('q1', ['h1', 'h2']), { failed: [] });
  assert.equal(last().params['receiptHandle.1'], 'h1');
  assert.equal(last().params['receiptHandle.2'], 'h2');
  respond = () => ({
    code: 6010,
    message: '(10150)delete message partially failed',
    requestId: 'r',
    errorList: [{ code: 4430, message: '(10260)receipt handle is invalid', receiptHandle: 'h2' }],
  });
  assert.deepEqual(await c.batchDeleteMessage('q1', ['h1', 'h2']), {
    failed: [{ receiptHandle: 'h2', code: 4430, message: '(10260)receipt handle is invalid' }],
  });
  respond = () => ({ code: 6020, message: '(10290)batch delete message failed', requestId: 'r' });
  const all = await c.batchDeleteMessage('q1', ['h1', 'h2']);
  assert.deepEqual(
    all.failed.map((f) => [f.receiptHandle, f.code]),
    [
      ['h1', 6020],
      ['h2', 6020],
    ],
  );
  respond = () => ({ code: 4440, message: '(10100)queue is not existed, or deleted', requestId: 'r' });
  await assert.rejects(c.batchDeleteMessage('q1', ['h1']), (e: unknown) => e instanceof CmqError && e.code === 4440);
  const before = seen.length;
  assert.deepEqual(await c.batchDeleteMessage('q1', []), { failed: [] });
  assert.equal(seen.length, before, 'an empty delete sends nothing');
  c.close();
});

void test('other actions send their parameters', async () => {
  const c = client();
  await c.setQueueAttributes('q1', { rewindSeconds: 60 });
  assert.equal(last().params.Action, 'SetQueueAttributes');
  assert.equal(last().params.rewindSeconds, '60');
  await c.rewindQueue('q1', 1700000000.7);
  assert.equal(last().params.Action, 'RewindQueue');
  assert.equal(last().params.startConsumeTime, '1700000000');
  await c.unbindDeadLetterQueue('q1');
  assert.equal(last().params.Action, 'UnbindDeadLetterQueue');
  await c.deleteMessage('q1', 'h9');
  assert.equal(last().params.Action, 'DeleteMessage');
  assert.equal(last().params.receiptHandle, 'h9');
  c.close();
  assert.ok(seen.every((s) => s.signatureValid === true));
});

void test('a non-zero code throws CmqError with code, module code, name and requestId', async () => {
  respond = () => ({ code: 4440, message: '(10100)queue is not existed, or deleted', requestId: 'req-42' });
  const c = client();
  await assert.rejects(c.getQueueAttributes('nope'), (e: unknown) => {
    assert.ok(e instanceof CmqError);
    assert.equal(e.code, 4440);
    assert.equal(e.moduleCode, 10100);
    assert.equal(e.errorName, 'queueNotExist');
    assert.equal(e.requestId, 'req-42');
    return true;
  });
  respond = () => ({ code: '4460', message: '(10060)queue is already existed,case insensitive', requestId: 'r' });
  await assert.rejects(c.createQueue('x'), (e: unknown) => e instanceof CmqError && e.code === 4460 && e.errorName === 'queueExists');
  // 4460 alone is ambiguous (queue or topic exists): without a module code there is no name.
  respond = () => ({ code: '4460', message: 'exists', requestId: 'r' });
  await assert.rejects(c.createQueue('x'), (e: unknown) => e instanceof CmqError && e.code === 4460 && e.errorName === undefined);
  c.close();
});

void test('non-200 and non-JSON answers are CmqNetworkError', async () => {
  const c = client({ retries: 0 });
  respond = (_p, _req, res) => {
    res.writeHead(500);
    res.end('oops');
    return undefined;
  };
  await assert.rejects(c.listQueues(), (e: unknown) => e instanceof CmqNetworkError && e.kind === 'status' && e.status === 500);
  respond = () => 'not json';
  await assert.rejects(c.listQueues(), (e: unknown) => e instanceof CmqNetworkError && e.kind === 'parse');
  respond = () => '{"message":"no code"}';
  await assert.rejects(c.listQueues(), (e: unknown) => e instanceof CmqNetworkError && e.kind === 'parse');
  c.close();
});

void test('retries: idempotent reads are retried after a reset; sends only with a dedupId (the default) or retryWrites', async () => {
  let resets = 0;
  const resetFirst = (n: number): Responder => {
    resets = 0;
    return (_p, req) => {
      if (resets < n) {
        resets++;
        req.socket.destroy();
        return undefined;
      }
      return { code: 0, message: '', requestId: 'r', totalCount: 0, queueList: [], msgId: 'm' };
    };
  };
  const c = client({ retries: 2 });
  respond = resetFirst(2);
  assert.deepEqual(await c.listQueues(), { totalCount: 0, queues: [] });
  assert.equal(seen.length, 3);
  // Each attempt is signed afresh.
  assert.notEqual(seen[0]?.params.Nonce, seen[2]?.params.Nonce);

  seen = [];
  respond = resetFirst(1);
  assert.equal(await c.sendMessage('q1', 'x'), 'm');
  assert.equal(seen.length, 2, 'a send with a dedupId is retried...');
  assert.ok(seen[0]?.params.dedupId !== undefined && seen[0].params.dedupId === seen[1]?.params.dedupId, '...with the same dedupId');
  seen = [];
  respond = resetFirst(0);
  await c.sendMessage('q1', 'x');
  await c.batchSendMessage('q1', ['x', 'y'], { dedupId: 'mine' });
  assert.notEqual(seen[0]?.params.dedupId, seen[1]?.params.dedupId, 'a fresh dedupId per call');
  assert.equal(seen[1]?.params.dedupId, 'mine', "or the caller's own");

  const plain = client({ retries: 2, deduplicateSends: false });
  seen = [];
  respond = resetFirst(1);
  await assert.rejects(plain.sendMessage('q1', 'x'), (e: unknown) => e instanceof CmqNetworkError && e.kind === 'reset' && e.mayHaveBeenApplied);
  assert.equal(seen.length, 1, 'a send without a dedupId that may have been applied is not retried');
  assert.equal(seen[0]?.params.dedupId, undefined);
  plain.close();

  respond = resetFirst(3);
  await assert.rejects(c.listQueues(), (e: unknown) => e instanceof CmqNetworkError);
  c.close();

  const w = client({ retries: 2, retryWrites: true });
  seen = [];
  respond = resetFirst(1);
  assert.equal(await w.sendMessage('q1', 'x'), 'm');
  assert.equal(seen.length, 2);
  w.close();
});

void test('connection refused is a connect error that was certainly not applied', async () => {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const c = new CmqClient({ endpoint: `http://127.0.0.1:${deadPort}`, retries: 1, retryBackoffMs: 1 });
  await assert.rejects(c.sendMessage('q', 'x'), (e: unknown) => e instanceof CmqNetworkError && e.kind === 'connect' && !e.mayHaveBeenApplied);
  c.close();
});

void test('sequential requests reuse one keep-alive connection', async () => {
  const c = client();
  for (let i = 0; i < 5; i++) await c.deleteQueue(`q${i}`);
  c.close();
  assert.equal(new Set(seen.map((s) => s.socketId)).size, 1);
});

void test('clusterStatus: the controller fields pass through (set, controller, sets, route changes); absent ones stay absent', async () => {
  const changes = { total: 1, listed: [{ entityType: 'queue', name: 'q', shards: 1, startedAtMs: 5, change: 'move', shard: 0, from: 1, to: 2, phase: 'copying' }] };
  const common = { code: 0, message: '', requestId: 'r', nodeId: 'n1', role: 'leader', term: 2, leader: 'n1', commitIndex: 3, appliedIndex: 3, lastIndex: 3, voters: ['n1'], peers: [] };
  respond = () => ({ ...common, set: { id: 1, group: 0 }, controller: { voters: [], leader: 'n1' }, sets: [], changes });
  const c = client();
  const s = await c.clusterStatus();
  assert.deepEqual([s.set, s.controller, s.sets, s.changes], [{ id: 1, group: 0 }, { voters: [], leader: 'n1' }, [], changes]);
  respond = () => common;
  const plain = await c.clusterStatus();
  c.close();
  assert.deepEqual([plain.set, plain.controller, plain.sets, plain.changes], [undefined, undefined, undefined, undefined]);
});
