// CmqClient with several endpoints, against fake members: it moves on when a request certainly was
// not applied (connection refused, 6100), and never silently repeats a write whose outcome is
// unknown (6000/10810, a connection broken after sending); such errors say whether retry is safe.

import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as dns from 'node:dns';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';

import { CmqClient } from '../../src/client/client';
import { CmqError, CmqNetworkError } from '../../src/client/errors';
import { signString, stringToSign } from '../../src/client/signature';
import { errorMessage } from '../../src/protocol/cmq-codes';

type Answer = Record<string, unknown> | 'reset';

interface FakeMember {
  url: string;
  /** Actions received, in order. */
  seen: string[];
  /** Host header and parameters of each request. */
  requests: { host: string; params: Record<string, string> }[];
  answer: (action: string) => Answer;
  close(): Promise<void>;
}

const members: FakeMember[] = [];
after(async () => {
  await Promise.all(members.map((m) => m.close()));
});

const OK: Answer = { code: 0, message: '', requestId: 'r', msgId: 'id-1', totalCount: 0, queueList: [] };
const NOT_APPLIED: Answer = { code: 6100, message: `${errorMessage('notApplied')} no leader is known yet`, requestId: 'r' };
const UNKNOWN: Answer = { code: 6000, message: `${errorMessage('outcomeUnknown')} proposal at index 7 was not committed in time`, requestId: 'r' };

async function member(answer: (action: string) => Answer): Promise<FakeMember> {
  const seen: string[] = [];
  const m: FakeMember = { url: '', seen, requests: [], answer, close: () => Promise.resolve() };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString()));
      const action = params.Action ?? '';
      seen.push(action);
      m.requests.push({ host: req.headers.host ?? '', params });
      const out = m.answer(action);
      if (out === 'reset') {
        req.socket.destroy(); // read the request, then the connection breaks: sent, no answer
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(out));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  m.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  m.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  members.push(m);
  return m;
}

/** A URL nothing listens on: connecting is refused. */
async function deadUrl(): Promise<string> {
  const m = await member(() => OK);
  await m.close();
  return m.url;
}

function client(endpoints: string[], extra: Partial<ConstructorParameters<typeof CmqClient>[0]> = {}): CmqClient {
  const c = new CmqClient({ endpoints, retryBackoffMs: 5, timeoutMs: 5000, ...extra });
  after(() => c.close());
  return c;
}

test('a refused connection moves to the next endpoint at once, and the client stays there', async () => {
  const dead = await deadUrl();
  const live = await member(() => OK);
  const c = client([dead, live.url]);
  assert.equal(await c.sendMessage('q', 'a'), 'id-1');
  assert.equal(c.endpoint, live.url);
  await c.sendMessage('q', 'b');
  assert.deepEqual(live.seen, ['SendMessage', 'SendMessage'], 'each send applied once, on the live member');
});

test('a 6100 answer moves a write to the next endpoint: applied once there', async () => {
  const electing = await member(() => NOT_APPLIED);
  const live = await member(() => OK);
  const c = client([electing.url, live.url]);
  assert.equal(await c.sendMessage('q', 'a'), 'id-1');
  assert.deepEqual(electing.seen, ['SendMessage']);
  assert.deepEqual(live.seen, ['SendMessage']);
});

test('6000/10810 on a write without a dedupId is not retried: the error says the outcome is unknown and retry is not safe', async () => {
  const unsure = await member(() => UNKNOWN);
  const other = await member(() => OK);
  const c = client([unsure.url, other.url], { deduplicateSends: false });
  const err = await c.sendMessage('q', 'a').catch((e: unknown) => e);
  assert.ok(err instanceof CmqError, String(err));
  assert.equal(err.code, 6000);
  assert.equal(err.errorName, 'outcomeUnknown');
  assert.equal(err.outcome, 'unknown');
  assert.equal(err.retrySafe, false);
  assert.deepEqual(other.seen, [], 'the write was not repeated elsewhere');
});

test('6000/10810 on a read is retried on the next endpoint', async () => {
  const unsure = await member(() => UNKNOWN);
  const other = await member(() => OK);
  const c = client([unsure.url, other.url]);
  const list = await c.listQueues();
  assert.equal(list.totalCount, 0);
  assert.deepEqual(other.seen, ['ListQueue']);
});

test('a connection broken after a write (no dedupId) was sent surfaces as unknown; a receive is retried elsewhere', async () => {
  const breaking = await member(() => 'reset');
  const other = await member((action) => (action === 'ReceiveMessage' ? { code: 7000, message: '(10200)no message', requestId: 'r' } : OK));
  const c = client([breaking.url, other.url], { deduplicateSends: false });
  const err = await c.sendMessage('q', 'a').catch((e: unknown) => e);
  assert.ok(err instanceof CmqNetworkError, String(err));
  assert.equal(err.kind, 'reset');
  assert.equal(err.outcome, 'unknown');
  assert.equal(err.retrySafe, false);
  assert.deepEqual(other.seen, [], 'the send was not repeated elsewhere');
  assert.equal(await c.receiveMessage('q', { pollingWaitSeconds: 0 }), undefined);
  assert.deepEqual(other.seen, ['ReceiveMessage']);
});

test('6000/10810 on a send with a dedupId (the default) is retried on the next endpoint with the same id', async () => {
  const unsure = await member(() => UNKNOWN);
  const other = await member(() => OK);
  const c = client([unsure.url, other.url]);
  await c.sendMessage('q', 'a');
  assert.deepEqual(other.seen, ['SendMessage']);
  const id = (r: { params: Record<string, string> } | undefined): string | undefined => r?.params['dedupId'];
  assert.ok(id(unsure.requests[0]) !== undefined && id(unsure.requests[0]) === id(other.requests[0]));
});

test('with every member answering 6100 the attempts are bounded; the last error says retry is safe', async () => {
  const a = await member(() => NOT_APPLIED);
  const b = await member(() => NOT_APPLIED);
  const c = client([a.url, b.url], { retries: 5 });
  const err = await c.sendMessage('q', 'x').catch((e: unknown) => e);
  assert.ok(err instanceof CmqError, String(err));
  assert.equal(err.code, 6100);
  assert.equal(err.outcome, 'notApplied');
  assert.equal(err.retrySafe, true);
  assert.equal(a.seen.length + b.seen.length, 6, 'one attempt plus five retries');
  assert.ok(a.seen.length >= 2 && b.seen.length >= 2, 'alternating between members');
});

test('retryTimeMs bounds the time spent retrying', async () => {
  const a = await member(() => NOT_APPLIED);
  const c = client([a.url, await deadUrl()], { retries: 1000, retryBackoffMs: 20, retryTimeMs: 300 });
  const started = Date.now();
  const err = await c.sendMessage('q', 'x').catch((e: unknown) => e);
  assert.ok((err instanceof CmqError || err instanceof CmqNetworkError) && err.retrySafe, String(err));
  assert.ok(Date.now() - started < 5000, `gave up after ${Date.now() - started} ms`);
});

test('all endpoints refused: a connect error, certainly not applied', async () => {
  const c = client([await deadUrl(), await deadUrl()]);
  const err = await c.sendMessage('q', 'x').catch((e: unknown) => e);
  assert.ok(err instanceof CmqNetworkError, String(err));
  assert.equal(err.kind, 'connect');
  assert.equal(err.retrySafe, true);
});

test('the endpoint list is checked: at least one, all URLs, one protocol', () => {
  assert.throws(() => new CmqClient({ endpoints: [] }), /endpoint/);
  assert.throws(() => new CmqClient({ endpoints: ['http://a:1', 'nope'] }), /not a URL/);
  assert.throws(() => new CmqClient({ endpoints: ['http://a:1', 'https://b:2'] }), /all http/);
  const c = new CmqClient({ endpoint: 'http://a:1', endpoints: ['http://b:2', 'http://a:1'] });
  assert.equal(c.endpoint, 'http://a:1', '`endpoint` comes first; duplicates are dropped');
  c.close();
});

test('each endpoint signs with its own host', async () => {
  const a = await member(() => NOT_APPLIED);
  const b = await member(() => OK);
  const c = client([a.url, b.url], { secretId: 'AKIDx', secretKey: 'k' });
  await c.sendMessage('q', 'x');
  for (const m of [a, b]) {
    assert.equal(m.requests.length, 1);
    const { host, params } = m.requests[0]!;
    assert.equal(host, new URL(m.url).host);
    const expected = signString(stringToSign('POST', host, '/', params), 'k', 'HmacSHA256');
    assert.equal(params.Signature, expected, `signed for ${host}`);
  }
});

test('an endpoint that does not complete the connection is left after connectTimeoutMs', async () => {
  // The name of the first endpoint never resolves, so its socket stays in the connecting state,
  // as one to a host that drops SYNs would.
  const agent = new http.Agent({
    keepAlive: true,
    lookup: ((hostname: string, options: unknown, cb: (...args: unknown[]) => void) => {
      if (hostname !== 'black-hole.invalid') (dns.lookup as (...a: unknown[]) => void)(hostname, options, cb);
    }) as unknown as http.AgentOptions['lookup'],
  });
  after(() => agent.destroy());
  const live = await member(() => OK);
  const c = client(['http://black-hole.invalid:9600', live.url], { connectTimeoutMs: 300, timeoutMs: 20_000, agent });
  const started = Date.now();
  assert.equal(await c.sendMessage('q', 'a'), 'id-1');
  const took = Date.now() - started;
  assert.ok(took >= 250 && took < 5000, `took ${took} ms`);
  assert.deepEqual(live.seen, ['SendMessage']);
  assert.equal(c.endpoint, live.url);
});
