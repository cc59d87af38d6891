// The payment-notification flow, on real server processes: one publish goes into a
// settlement queue and is pushed over HTTP to a risk-control endpoint that is sometimes down
// (retried until it answers 2xx), a dead endpoint never delays the others, an endpoint that does
// not answer in time is retried, and pushes pending when the leader is killed are resumed by the
// next leader (at least once).

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

import { callUntilOk } from '../helpers/load-clients';
import { cmqCall } from '../helpers/raw-cmq';
import { startTestSet, waitForLeader } from '../helpers/cluster';
import { makeDataDir, spawnServer } from '../helpers/server-process';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
  /** What the subscriber answered. */
  status: number;
}

/** An HTTP subscriber whose answer the test decides per request. */
async function subscriber(answer: (r: Received, n: number) => number): Promise<{ url: string; got: Received[]; close: () => Promise<void> }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString(), at: Date.now(), status: 0 };
      got.push(r);
      r.status = answer(r, got.length);
      res.statusCode = r.status;
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    got,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function ok(endpoint: string, action: string, params: Record<string, string | number>): Promise<Record<string, unknown>> {
  const r = await cmqCall(endpoint, action, params);
  assert.equal(r.code, 0, `${action}: ${JSON.stringify(r)}`);
  return r;
}

test('publish once: the settlement queue gets it, the risk endpoint gets it after its outages', { timeout: 60_000 }, async () => {
  const data = await makeDataDir('opencmq-push-');
  const server = await spawnServer(data.dir);
  // Risk control is down for its first two attempts, then answers 200.
  const risk = await subscriber((_r, n) => (n <= 2 ? 500 : 200));
  const simple = await subscriber(() => 204);
  try {
    const url = server.url;
    await ok(url, 'CreateQueue', { queueName: 'settle' });
    await ok(url, 'CreateTopic', { topicName: 'payments' });
    await ok(url, 'Subscribe', { topicName: 'payments', subscriptionName: 'settlement', protocol: 'queue', endpoint: 'settle', notifyContentFormat: 'SIMPLIFIED' });
    await ok(url, 'Subscribe', {
      topicName: 'payments',
      subscriptionName: 'risk',
      protocol: 'http',
      endpoint: `${risk.url}/risk`,
      notifyStrategy: 'EXPONENTIAL_DECAY_RETRY',
      notifyContentFormat: 'JSON',
    });
    // An endpoint nobody listens on: its retries must not hold up the others.
    await ok(url, 'Subscribe', { topicName: 'payments', subscriptionName: 'dead', protocol: 'http', endpoint: 'http://127.0.0.1:1/dead' });
    await ok(url, 'Subscribe', { topicName: 'payments', subscriptionName: 'simple', protocol: 'http', endpoint: `${simple.url}/s`, notifyContentFormat: 'SIMPLIFIED' });

    const pub = await ok(url, 'PublishMessage', { topicName: 'payments', msgBody: 'pay order-1 100.00', 'msgTag.1': 'cny' });
    const msgId = String(pub.msgId);

    const settled = await ok(url, 'ReceiveMessage', { queueName: 'settle', pollingWaitSeconds: 5 });
    assert.equal(settled.msgBody, 'pay order-1 100.00');

    await until(() => simple.got.length === 1, 'the SIMPLIFIED push');
    assert.equal(simple.got[0]!.body, 'pay order-1 100.00');
    assert.equal(simple.got[0]!.headers['x-cmq-message-id'], msgId);

    await until(() => risk.got.length === 3, 'the third attempt at the risk endpoint', 30_000);
    const [first, second, third] = risk.got;
    assert.ok(second!.at - first!.at >= 900, 'EXPONENTIAL_DECAY_RETRY waits ~1 s after the first failure');
    assert.ok(third!.at - second!.at >= 1800, '... then ~2 s');
    assert.equal(third!.path, '/risk');
    assert.equal(third!.headers['user-agent'], 'Qcloud Notification Service Agent');
    assert.equal(third!.headers['x-cmq-message-id'], msgId);
    assert.equal(third!.headers['x-cmq-message-tag'], 'cny');
    const json = JSON.parse(third!.body) as Record<string, unknown>;
    assert.equal(json.topicName, 'payments');
    assert.equal(json.subscriptionName, 'risk');
    assert.equal(json.msgId, msgId);
    assert.equal(json.msgBody, 'pay order-1 100.00');

    await until(async () => Number((await ok(url, 'GetSubscriptionAttributes', { topicName: 'payments', subscriptionName: 'risk' })).msgCount) === 0, 'risk msgCount 0');
    const dead = await ok(url, 'GetSubscriptionAttributes', { topicName: 'payments', subscriptionName: 'dead' });
    assert.equal(Number(dead.msgCount), 1, 'the dead endpoint still has its push waiting');
  } catch (err) {
    console.log(server.output().slice(-3000));
    throw err;
  } finally {
    await risk.close();
    await simple.close();
    await server.stop();
    await data.cleanup();
  }
});

test('an endpoint that does not answer in time is retried, and recovers', { timeout: 60_000 }, async () => {
  const data = await makeDataDir('opencmq-push-timeout-');
  const server = await spawnServer(data.dir, ['--push-timeout', '1']);
  // The first request hangs (never answered), later ones succeed.
  const hung: http.ServerResponse[] = [];
  const got: number[] = [];
  const slow = http.createServer((req, res) => {
    got.push(Date.now());
    req.resume();
    if (got.length === 1) hung.push(res);
    else res.end('ok');
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  const port = (slow.address() as AddressInfo).port;
  try {
    const url = server.url;
    await ok(url, 'CreateTopic', { topicName: 't' });
    await ok(url, 'Subscribe', { topicName: 't', subscriptionName: 'slow', protocol: 'http', endpoint: `http://127.0.0.1:${port}/x`, notifyStrategy: 'EXPONENTIAL_DECAY_RETRY' });
    await ok(url, 'PublishMessage', { topicName: 't', msgBody: 'm' });
    await until(() => got.length >= 2, 'a retry after the timed-out attempt');
    assert.ok(got[1]! - got[0]! >= 1500, `timeout (1 s) then a 1 s back-off before the retry (${got[1]! - got[0]!} ms)`);
    await until(async () => Number((await ok(url, 'GetSubscriptionAttributes', { topicName: 't', subscriptionName: 'slow' })).msgCount) === 0, 'delivered');
  } finally {
    for (const r of hung) r.destroy();
    slow.closeAllConnections();
    await new Promise<void>((resolve) => slow.close(() => resolve()));
    await server.stop();
    await data.cleanup();
  }
});

test('pushes pending when the leader is killed are delivered by the next leader', { timeout: 120_000 }, async () => {
  let up = false;
  const sink = await subscriber(() => (up ? 200 : 503));
  const set = await startTestSet();
  try {
    const endpoints = set.ids.map(set.url);
    await callUntilOk(endpoints, 'CreateTopic', { topicName: 'alerts' }, { timeoutMs: 20_000, acceptCodes: [0, 4460] });
    const { leader } = await waitForLeader(set);
    const lead = set.url(leader);
    await ok(lead, 'Subscribe', { topicName: 'alerts', subscriptionName: 'ops', protocol: 'http', endpoint: `${sink.url}/ops`, notifyStrategy: 'EXPONENTIAL_DECAY_RETRY' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(String((await ok(lead, 'PublishMessage', { topicName: 'alerts', msgBody: `alert-${i}` })).msgId));
    await until(() => new Set(sink.got.map((r) => r.headers['x-cmq-message-id'])).size === 5, 'a first (failing) attempt for each');

    await set.servers.get(leader)!.kill9();
    up = true;
    await until(
      () => ids.every((id) => sink.got.some((r) => r.headers['x-cmq-message-id'] === id && r.status === 200)),
      'every alert delivered after the failover',
      30_000,
    );
    const survivors = set.ids.filter((id) => id !== leader).map(set.url);
    await until(async () => {
      const r = await callUntilOk(survivors, 'GetSubscriptionAttributes', { topicName: 'alerts', subscriptionName: 'ops' }, { timeoutMs: 5000 });
      return Number(r.msgCount) === 0;
    }, 'nothing left to push');
    const delivered = new Set(sink.got.filter((r) => r.status === 200).map((r) => r.headers['x-cmq-message-id']));
    for (const id of ids) assert.ok(delivered.has(id), `alert ${id} reached the endpoint`);
  } finally {
    await sink.close();
    await set.close();
  }
});
