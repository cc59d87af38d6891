// The leader's HTTP push loop against a fake pending-push store and fake or real HTTP endpoints.

import { nodeRuntime } from '../../src/runtime/node-runtime';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

import type { BodyRef, CommandResult, DuePush } from '../../src/broker/commands';
import { HttpPoster, PushDelivery, pushRequest, type PushDeliveryOptions, type PushOutcomeCommand, type PushPost } from '../../src/node/push-delivery';
import { fail } from '../../src/protocol/errors';

/** The broker's view of pending pushes: listed until an outcome is applied (as TopicRegistry does). */
class FakeStore {
  readonly pending = new Map<string, DuePush>();
  readonly bodies = new Map<number, Buffer>();
  readonly proposed: PushOutcomeCommand[] = [];
  proposeDelayMs = 0;
  proposeResult: (() => CommandResult) | undefined;
  private nextEntry = 1;

  add(endpoint: string, text: string, extra: Partial<DuePush> = {}): DuePush {
    const entryIndex = this.nextEntry++;
    const body = Buffer.from(text);
    this.bodies.set(entryIndex, body);
    const push: DuePush = {
      topicName: 'orders',
      subscriptionName: 'sub1',
      endpoint,
      notifyContentFormat: 'JSON',
      msgId: String(entryIndex * 16),
      body: { entryIndex, offset: 0, length: body.length, crc32c: 0 },
      msgTags: [],
      publishTime: 1_700_000_000,
      failedAttempts: 0,
      nextAttemptMs: entryIndex, // publish order
      ...extra,
    };
    this.pending.set(`${push.subscriptionName}/${push.msgId}`, push);
    return push;
  }

  options(extra: Partial<PushDeliveryOptions> = {}): PushDeliveryOptions {
    return {
      dueDeliveries: (nowMs, limit) =>
        [...this.pending.values()]
          .filter((p) => p.nextAttemptMs <= nowMs)
          .sort((a, b) => a.nextAttemptMs - b.nextAttemptMs)
          .slice(0, limit)
          .map((p) => ({ ...p, msgTags: [...p.msgTags] })),
      nextAttemptMs: () => Math.min(...[...this.pending.values()].map((p) => p.nextAttemptMs)),
      readBody: (ref: BodyRef) => {
        const b = this.bodies.get(ref.entryIndex);
        return b ? Promise.resolve(b) : Promise.reject(new Error(`entry ${ref.entryIndex}: CRC32C mismatch`));
      },
      propose: async (cmd) => {
        this.proposed.push(cmd);
        if (this.proposeDelayMs > 0) await sleep(this.proposeDelayMs);
        if (this.proposeResult) return this.proposeResult();
        if (cmd.kind !== 'pushSucceeded' && cmd.kind !== 'pushFailed') throw new Error(`no dead letters here: ${cmd.kind}`);
        const key = `${cmd.subscriptionName}/${cmd.msgId}`;
        const p = this.pending.get(key);
        if (!p) return { ok: true, kind: cmd.kind, found: false } as CommandResult;
        if (cmd.kind === 'pushSucceeded') {
          this.pending.delete(key);
          return { ok: true, kind: 'pushSucceeded', found: true };
        }
        p.failedAttempts++;
        p.nextAttemptMs = Date.now() + 3_600_000; // not due again during the test
        return { ok: true, kind: 'pushFailed', outcome: 'retry', nextAttemptMs: p.nextAttemptMs };
      },
      runtime: { ...nodeRuntime, random: () => 424242 / 2 ** 32 },
      requestId: () => 'req-1',
      log: () => undefined,
      ...extra,
    };
  }
}

interface Posted {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A fake endpoint set: per-origin status and latency ('never': no answer; 'gate': answers when the
 * test calls openGates()); records what was posted and the concurrency per origin.
 */
class FakeHttp {
  readonly posted: Posted[] = [];
  readonly inFlight = new Map<string, number>();
  readonly maxInFlight = new Map<string, number>();
  readonly behaviour = new Map<string, { status: number; delayMs: number | 'never' | 'gate' }>();
  private gates: (() => void)[] = [];

  openGates(): void {
    for (const open of this.gates.splice(0)) open();
  }

  readonly post: PushPost = (url, headers, body) => {
    this.posted.push({ url, headers, body: body.toString() });
    const origin = new URL(url).origin;
    const n = (this.inFlight.get(origin) ?? 0) + 1;
    this.inFlight.set(origin, n);
    this.maxInFlight.set(origin, Math.max(n, this.maxInFlight.get(origin) ?? 0));
    const b = this.behaviour.get(origin) ?? { status: 200, delayMs: 0 };
    if (b.delayMs === 'never') return new Promise(() => undefined);
    const answered = b.delayMs === 'gate' ? new Promise<void>((r) => this.gates.push(r)) : sleep(b.delayMs);
    return answered.then(() => {
      this.inFlight.set(origin, (this.inFlight.get(origin) ?? 1) - 1);
      return { status: b.status };
    });
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const A = 'http://a.example:8080/hook';
const B = 'http://b.example/hook';

test('a 2xx answer is proposed as pushSucceeded and the push is settled', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  store.add(A, 'hello');
  const d = new PushDelivery(store.options({ post: net.post }));
  d.start();
  await waitFor('delivery', () => store.pending.size === 0);
  assert.deepEqual(store.proposed, [{ kind: 'pushSucceeded', topicName: 'orders', subscriptionName: 'sub1', msgId: '16' }]);
  assert.equal(net.posted.length, 1);
  assert.equal(net.posted[0]!.url, A);
  await waitFor('stats', () => d.stats().inFlight === 0);
  assert.equal(d.stats().delivered, 1);
  await d.stop();
});

test('a 500, a 302 and no answer within the timeout are each proposed as pushFailed with a fresh seed', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  net.behaviour.set('http://a.example:8080', { status: 500, delayMs: 0 });
  net.behaviour.set('http://b.example', { status: 302, delayMs: 0 });
  net.behaviour.set('http://c.example', { status: 200, delayMs: 'never' });
  store.add(A, 'x');
  store.add(B, 'y');
  store.add('http://c.example/slow', 'z');
  let seed = 7;
  const d = new PushDelivery(store.options({ post: net.post, requestTimeoutMs: 60, runtime: { ...nodeRuntime, random: () => seed++ / 2 ** 32 } }));
  const started = Date.now();
  d.start();
  await waitFor('three outcomes', () => store.proposed.length === 3);
  assert.ok(Date.now() - started >= 50, 'the unanswered POST failed only at its timeout');
  assert.deepEqual(
    store.proposed.map((c) => [c.kind, c.msgId, c.kind === 'pushFailed' ? c.seed : -1]).sort(),
    [
      ['pushFailed', '16', 7],
      ['pushFailed', '32', 8],
      ['pushFailed', '48', 9],
    ].sort(),
  );
  await waitFor('stats', () => d.stats().failed === 3);
  assert.equal(d.stats().delivered, 0);
  assert.equal(store.pending.size, 3, 'failed pushes stay pending (rescheduled by the broker)');
  await d.stop();
});

test('JSON and SIMPLIFIED requests carry exactly the spec §3.5 headers and bodies', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  store.add(A, '{"order":1} 你好', { msgTags: ['a', 'b'], publishTime: 1_700_000_123, subscriptionName: 's-json' });
  store.add(B, 'raw body', { notifyContentFormat: 'SIMPLIFIED', subscriptionName: 's-simple' });
  let n = 0;
  const d = new PushDelivery(store.options({ post: net.post, requestId: () => `rid-${++n}`, topicOwner: 1250000000 }));
  d.start();
  await waitFor('both delivered', () => store.pending.size === 0);
  await d.stop();
  const json = net.posted.find((p) => p.url === A)!;
  const simple = net.posted.find((p) => p.url === B)!;
  const base = { 'Content-Type': 'text/plain', 'User-Agent': 'Qcloud Notification Service Agent' };
  assert.deepEqual(json.headers, {
    ...base,
    'x-cmq-request-id': json.headers['x-cmq-request-id'],
    'x-cmq-message-id': '16',
    'x-cmq-message-tag': 'a, b',
  });
  assert.deepEqual(simple.headers, {
    ...base,
    'x-cmq-request-id': simple.headers['x-cmq-request-id'],
    'x-cmq-message-id': '32',
    'x-cmq-message-tag': '',
  });
  assert.deepEqual([json.headers['x-cmq-request-id'], simple.headers['x-cmq-request-id']].sort(), ['rid-1', 'rid-2']);
  assert.equal(
    json.body,
    '{"TopicOwner":1250000000,"topicName":"orders","subscriptionName":"s-json","msgId":"16","msgBody":"{\\"order\\":1} 你好","publishTime":1700000123}',
  );
  assert.equal(simple.body, 'raw body');
});

test('header values are sent as UTF-8 bytes and never carry control characters', () => {
  const push = new FakeStore().add(A, 'x', { msgTags: ['标签', 'a\nb'] });
  const { headers } = pushRequest(push, Buffer.from('x'), 'r', 0);
  assert.equal(Buffer.from(headers['x-cmq-message-tag']!, 'latin1').toString('utf8'), '标签, a?b');
  assert.doesNotThrow(() => http.validateHeaderValue('x-cmq-message-tag', headers['x-cmq-message-tag']!));
});

test('an endpoint that never answers holds at most its per-endpoint share and delays no other endpoint', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  net.behaviour.set('http://a.example:8080', { status: 200, delayMs: 'never' });
  // The dead endpoint's backlog comes first in the due list, beyond the first fetch window.
  for (let i = 0; i < 40; i++) store.add(A, `a${i}`, { subscriptionName: 'dead' });
  const b1 = store.add(B, 'b1', { subscriptionName: 'alive' });
  const d = new PushDelivery(store.options({ post: net.post, perEndpointInFlightMax: 3, inFlightMax: 5, requestTimeoutMs: 60_000 }));
  d.start();
  await waitFor('delivery to the live endpoint', () => !store.pending.has(`alive/${b1.msgId}`));
  // Later pushes to the live endpoint go out at once too, while the dead one still holds its slots.
  const b2 = store.add(B, 'b2', { subscriptionName: 'alive', nextAttemptMs: 0 });
  d.wake();
  await waitFor('second delivery', () => !store.pending.has(`alive/${b2.msgId}`));
  assert.equal(net.maxInFlight.get('http://a.example:8080'), 3, 'the dead endpoint never gets more than its share');
  assert.deepEqual(d.stats().perEndpointInFlight, { 'http://a.example:8080': 3 });
  assert.equal(d.stats().inFlight, 3);
  assert.equal(net.posted.filter((p) => p.url === A).length, 3);
  await d.stop();
});

test('overall concurrency is bounded across endpoints', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  for (let e = 0; e < 6; e++) {
    net.behaviour.set(`http://e${e}.example`, { status: 200, delayMs: 'never' });
    for (let i = 0; i < 3; i++) store.add(`http://e${e}.example/`, `m${i}`, { subscriptionName: `s${e}` });
  }
  const opts = store.options({ post: net.post, perEndpointInFlightMax: 2, inFlightMax: 7 });
  let looks = 0;
  const dueDeliveries = opts.dueDeliveries;
  opts.dueDeliveries = (nowMs, limit) => {
    looks++;
    return dueDeliveries(nowMs, limit);
  };
  const d = new PushDelivery(opts);
  d.start();
  await waitFor('the overall bound reached', () => d.stats().inFlight === 7);
  const looksBefore = looks;
  await sleep(100);
  assert.ok(looks - looksBefore <= 2, `no busy loop while everything due is blocked (${looks - looksBefore} looks)`);
  d.wake();
  await sleep(30);
  assert.equal(net.posted.length, 7);
  for (const n of Object.values(d.stats().perEndpointInFlight)) assert.ok(n <= 2);
  await d.stop();
  assert.equal(d.stats().inFlight, 0);
  assert.deepEqual(store.proposed, []);
});

test('a push due later is posted when due, without a wake-up', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  const d = new PushDelivery(store.options({ post: net.post, sleepMaxMs: 60_000 }));
  d.start();
  await sleep(10);
  const dueAt = Date.now() + 50;
  store.add(A, 'later', { nextAttemptMs: dueAt });
  d.wake(); // as the node does after applying the publish
  await waitFor('delivery', () => store.pending.size === 0);
  assert.ok(Date.now() >= dueAt);
  assert.equal(net.posted.length, 1);
  await d.stop();
});

test('a push listed again while its POST or its outcome is still in flight is not posted twice', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  net.behaviour.set('http://a.example:8080', { status: 200, delayMs: 40 });
  store.proposeDelayMs = 40; // the push stays listed until the outcome is applied
  store.add(A, 'once');
  const d = new PushDelivery(store.options({ post: net.post, sleepMaxMs: 5 }));
  d.start();
  const waking = setInterval(() => d.wake(), 2);
  await waitFor('settled', () => store.pending.size === 0);
  clearInterval(waking);
  await sleep(20);
  assert.equal(net.posted.length, 1);
  assert.equal(store.proposed.length, 1);
  await d.stop();
});

test('stop() mid-flight abandons the POSTs and proposes nothing afterwards', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  net.behaviour.set('http://a.example:8080', { status: 200, delayMs: 'gate' });
  net.behaviour.set('http://b.example', { status: 200, delayMs: 'never' });
  store.add(A, 'late answer');
  store.add(B, 'no answer');
  const d = new PushDelivery(store.options({ post: net.post }));
  d.start();
  await waitFor('both posted', () => net.posted.length === 2);
  await d.stop(); // resolves although B never answers
  assert.equal(d.stats().inFlight, 0);
  net.openGates(); // A answers 200 after the stop
  await sleep(50);
  assert.deepEqual(store.proposed, []);
  assert.equal(store.pending.size, 2, 'both stay pending for the next leader');
  assert.equal(d.isRunning, false);
});

test('start() after stop() delivers again', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  net.behaviour.set('http://a.example:8080', { status: 200, delayMs: 'gate' });
  store.add(A, 'm');
  const d = new PushDelivery(store.options({ post: net.post }));
  d.start();
  await waitFor('posted', () => net.posted.length === 1);
  await d.stop();
  net.behaviour.set('http://a.example:8080', { status: 200, delayMs: 0 });
  d.start();
  await waitFor('delivered by the second run', () => store.pending.size === 0);
  assert.equal(net.posted.length, 2, 'at-least-once: the abandoned POST is made again');
  assert.equal(store.proposed.length, 1);
  await d.stop();
});

test('a refused proposal (no longer leader) halts the loop quietly', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  store.proposeResult = () => fail('internalError', undefined, 'not the leader');
  store.add(A, 'm1');
  const halts: string[] = [];
  const d = new PushDelivery(store.options({ post: net.post, onHalt: (r) => halts.push(r), sleepMaxMs: 5 }));
  d.start();
  await waitFor('halt', () => halts.length === 1);
  assert.equal(d.isRunning, false);
  assert.match(halts[0]!, /pushSucceeded.*not the leader/);
  store.add(B, 'm2', { nextAttemptMs: 0 });
  d.wake();
  await sleep(40);
  assert.equal(net.posted.length, 1, 'nothing is posted after the halt');
  assert.equal(store.proposed.length, 1);
});

test('a rejected proposal halts the loop too', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  const halts: string[] = [];
  const opts = store.options({ post: net.post, onHalt: (r) => halts.push(r) });
  opts.propose = () => Promise.reject(new Error('proposal dropped: leadership changed'));
  store.add(A, 'm1');
  const d = new PushDelivery(opts);
  d.start();
  await waitFor('halt', () => halts.length === 1);
  assert.match(halts[0]!, /leadership changed/);
  assert.equal(d.isRunning, false);
});

test('a body that cannot be read is a failed attempt, never a POST', async () => {
  const store = new FakeStore();
  const net = new FakeHttp();
  const push = store.add(A, 'x');
  store.bodies.delete(push.body.entryIndex);
  const d = new PushDelivery(store.options({ post: net.post }));
  d.start();
  await waitFor('outcome', () => store.proposed.length === 1);
  assert.equal(store.proposed[0]!.kind, 'pushFailed');
  assert.equal(net.posted.length, 0);
  await waitFor('stats', () => d.stats().bodyReadFailures === 1 && d.stats().failed === 1);
  await d.stop();
});

test('the default poster: the request on the wire, keep-alive reuse, and the timeout', async () => {
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.url === '/silent') return; // never answers
      res.writeHead(req.url === '/fail' ? 503 : 200, { 'Content-Type': 'text/plain' });
      res.end(req.url === '/big' ? 'x'.repeat(1_000_000) : 'ok'); // /big: far beyond the response bound
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const store = new FakeStore();
    store.add(`${base}/hook?k=v`, 'hello 世界', { msgTags: ['t1', 't2'] });
    store.add(`${base}/hook?k=v`, 'second');
    store.add(`${base}/fail`, 'refused', { notifyContentFormat: 'SIMPLIFIED' });
    store.add(`${base}/silent`, 'unanswered');
    const d = new PushDelivery(store.options({ requestTimeoutMs: 1000, perEndpointInFlightMax: 1 }));
    d.start();
    await waitFor('four outcomes', () => store.proposed.length === 4, 5000);
    await d.stop();
    assert.deepEqual(store.proposed.map((c) => `${c.kind} ${c.msgId}`).sort(), ['pushFailed 48', 'pushFailed 64', 'pushSucceeded 16', 'pushSucceeded 32']);
    const first = seen.find((s) => s.body.includes('hello'))!;
    assert.equal(first.method, 'POST');
    assert.equal(first.url, '/hook?k=v');
    assert.equal(first.headers['content-type'], 'text/plain');
    assert.equal(first.headers['user-agent'], 'Qcloud Notification Service Agent');
    assert.equal(first.headers['x-cmq-request-id'], 'req-1');
    assert.equal(first.headers['x-cmq-message-id'], '16');
    assert.equal(first.headers['x-cmq-message-tag'], 't1, t2');
    assert.equal(first.headers['content-length'], String(Buffer.byteLength(first.body)));
    assert.deepEqual(JSON.parse(first.body), {
      TopicOwner: 0,
      topicName: 'orders',
      subscriptionName: 'sub1',
      msgId: '16',
      msgBody: 'hello 世界',
      publishTime: 1_700_000_000,
    });
    assert.equal(seen.find((s) => s.url === '/fail')!.body, 'refused');
    assert.equal(connections, 1, 'one keep-alive connection (one slot per endpoint origin) carried every POST');

    // The poster on its own: its timeout, and an unreachable port.
    const poster = new HttpPoster();
    const started = Date.now();
    await assert.rejects(poster.post(`${base}/silent`, {}, Buffer.from('x'), 100), /no answer within 100 ms/);
    assert.ok(Date.now() - started < 2000);
    await assert.rejects(poster.post('http://127.0.0.1:1/', {}, Buffer.from('x'), 1000));
    await assert.rejects(poster.post('ftp://127.0.0.1/', {}, Buffer.from('x'), 1000), /unsupported endpoint scheme/);
    assert.deepEqual(await poster.post(`${base}/fail`, {}, Buffer.from('x'), 1000), { status: 503 });
    assert.deepEqual(await poster.post(`${base}/big`, {}, Buffer.from('x'), 5000), { status: 200 }, 'a huge answer is cut, not read');
    poster.close();
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
