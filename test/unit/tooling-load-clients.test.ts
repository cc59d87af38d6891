// The fault-test load driver (test/helpers/load-clients.ts): against a real single server its
// history must check clean, it must fail over past dead, silent and failing endpoints, and a fake
// server that hands one message to two receivers at once, and one that answers 6100 "not applied"
// for sends it did apply, must be caught by the history checker.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startServer, type StartedServer } from '../../src/node/server';
import { formatViolations, History } from '../helpers/history';
import { callUntilOk, cmqRequest, drainQueue, startLoad } from '../helpers/load-clients';

const VISIBILITY_S = 5;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let server: StartedServer;
let dataDir: string;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-tooling-'));
  server = await startServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    credentials: [],
    insecureNoAuth: false,
    segmentBytes: 1 << 20,
    log: () => {},
  });
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function createQueue(queueName: string): Promise<void> {
  await callUntilOk([server.url], 'CreateQueue', { queueName, visibilityTimeout: VISIBILITY_S });
}

/** An HTTP "CMQ server" answering every request with `handler`'s envelope. */
async function fakeServer(handler: (params: URLSearchParams, res: http.ServerResponse) => void): Promise<string> {
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(new URLSearchParams(Buffer.concat(chunks).toString()), res));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
}

function reply(res: http.ServerResponse, body: Record<string, unknown>): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ message: '', requestId: 'fake', ...body }));
}

describe('startLoad against one real server', () => {
  for (const batch of [undefined, 8]) {
    test(`sends, receives and deletes with a clean history (${batch === undefined ? 'single' : `batch ${batch}`})`, async () => {
      const queueName = `tooling-load-${batch ?? 1}`;
      await createQueue(queueName);
      const history = new History();
      const load = startLoad({ endpoints: [server.url], queueName, senders: 2, receivers: 2, history, ...(batch !== undefined ? { batch } : {}) });
      await sleep(800);
      await load.stop();
      const stats = load.stats();
      // Nothing was cut short, so nothing is hidden in flight: the drain sees every undeleted message.
      assert.equal(stats.errors, 0, stats.lastError);
      assert.ok(stats.sendsAcked > 0, 'some sends acknowledged');
      assert.ok(stats.deletesAcked > 0, 'some messages received and deleted');
      assert.equal(stats.messagesReceived, history.receives().length);
      const drained = await drainQueue({ endpoints: [server.url], queueName, history, pollingWaitSeconds: 0 });
      const violations = history.check(drained, { visibilityTimeoutMs: VISIBILITY_S * 1000, drainIsComplete: true });
      assert.deepEqual(violations, [], formatViolations(violations));
      const summary = history.summary();
      assert.equal(summary.sendsAcked, stats.sendsAcked);
      assert.equal(summary.sendsFailed, 0);
      // Every acknowledged message was deleted exactly once, by the load or by the drain.
      assert.equal(summary.deletesAcked + drained.length, summary.sendsAcked);
    });
  }
});

describe('startLoad failover', () => {
  test('moves past a refused, a silent and a 6000-answering endpoint to a working one, and never crashes', async () => {
    const queueName = 'tooling-failover';
    await createQueue(queueName);
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(closed.address() as net.AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    const silent = net.createServer((s) => s.on('error', () => {}).resume());
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => silent.close(() => r())));
    const silentUrl = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const failingUrl = await fakeServer((_p, res) => reply(res, { code: 6000, message: 'server internal error' }));

    const history = new History();
    const load = startLoad({
      endpoints: [deadUrl, failingUrl, silentUrl, server.url],
      queueName,
      senders: 2,
      receivers: 2,
      history,
      requestTimeoutMs: 300,
      receiveTimeoutMs: 1500,
      errorBackoffMs: 10,
    });
    await sleep(2200);
    await load.stop();
    const stats = load.stats();
    assert.ok(stats.failovers >= 3, `failovers: ${stats.failovers}`);
    assert.ok(stats.sendsFailed > 0, 'sends to the bad endpoints are recorded as unknown');
    assert.ok(stats.sendsAcked > 0, 'sends reached the working endpoint');
    assert.ok(stats.deletesAcked > 0, 'receivers reached the working endpoint');
    const drained = await drainQueue({ endpoints: [server.url], queueName, history, pollingWaitSeconds: 0 });
    const violations = history.check(drained, { visibilityTimeoutMs: VISIBILITY_S * 1000 });
    assert.deepEqual(violations, [], formatViolations(violations));
  });

  test('cmqRequest times out on a silent endpoint and can be aborted', async () => {
    const silent = net.createServer((s) => s.on('error', () => {}).resume());
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => silent.close(() => r())));
    const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    await assert.rejects(cmqRequest(url, 'ListQueue', {}, { timeoutMs: 100 }), /timed out after 100 ms/);
    const abort = new AbortController();
    const pending = cmqRequest(url, 'ListQueue', {}, { timeoutMs: 10_000, signal: abort.signal });
    abort.abort();
    await assert.rejects(pending);
  });
});

describe('the checker catches a server that breaks visibility', () => {
  test('one message handed to two receivers at once is reported as visibilityOverlap', async () => {
    const bodies: string[] = [];
    const parked: http.ServerResponse[] = [];
    let handles = 0;
    const pair = (): void => {
      while (parked.length >= 2 && bodies.length > 0) {
        const msgBody = bodies.shift()!;
        const nextVisibleTime = Math.floor(Date.now() / 1000) + 30;
        for (const res of parked.splice(0, 2)) {
          reply(res, { code: 0, msgId: `id-${msgBody}`, msgBody, receiptHandle: `h${handles++}`, nextVisibleTime, dequeueCount: 1, enqueueTime: 0, firstDequeueTime: 0 });
        }
      }
    };
    const url = await fakeServer((p, res) => {
      const action = p.get('Action');
      if (action === 'SendMessage') {
        bodies.push(p.get('msgBody') ?? '');
        reply(res, { code: 0, msgId: `id-${bodies.length}` });
      } else if (action === 'ReceiveMessage') {
        parked.push(res);
        setTimeout(() => {
          const i = parked.indexOf(res);
          if (i >= 0) parked.splice(i, 1);
          reply(res, { code: 7000, message: 'no message' });
        }, 200);
      } else {
        reply(res, { code: 0 }); // DeleteMessage: always "deleted"
      }
      pair();
    });

    const history = new History();
    const load = startLoad({ endpoints: [url], queueName: 'q', senders: 1, receivers: 2, history });
    await sleep(600);
    await load.stop();
    const violations = history.check([], { visibilityTimeoutMs: 30_000 });
    const overlaps = violations.filter((v) => v.kind === 'visibilityOverlap');
    assert.ok(overlaps.length > 0, formatViolations(violations));
    for (const v of overlaps) {
      assert.equal(history.receives().filter((r) => r.body === v.body).length, 2, 'flagged bodies were delivered twice');
    }
    assert.ok(violations.every((v) => v.kind === 'visibilityOverlap' || v.kind === 'lost'), formatViolations(violations));
  });
});

describe('the checker catches a server that answers "not applied" for a send it applied', () => {
  /** A queue server that answers every third send 6100; `honest` decides whether it keeps those messages. */
  async function notApplyingServer(honest: boolean): Promise<string> {
    const queue: string[] = [];
    let sends = 0;
    let handles = 0;
    return fakeServer((p, res) => {
      const action = p.get('Action');
      if (action === 'SendMessage') {
        const body = p.get('msgBody') ?? '';
        if (++sends % 3 === 0) {
          if (!honest) queue.push(body); // the bug: applied, yet answered "not applied"
          reply(res, { code: 6100, message: '(10800)service temporarily unavailable, the request was not applied, retry' });
          return;
        }
        queue.push(body);
        reply(res, { code: 0, msgId: `id-${sends}` });
      } else if (action === 'ReceiveMessage' || action === 'BatchReceiveMessage') {
        const msgBody = queue.shift();
        if (msgBody === undefined) {
          reply(res, { code: 7000, message: '(10200)no message' });
          return;
        }
        const m = { msgId: `id-${msgBody}`, msgBody, receiptHandle: `h${handles++}`, nextVisibleTime: Math.floor(Date.now() / 1000) + 30, dequeueCount: 1, enqueueTime: 0, firstDequeueTime: 0 };
        reply(res, action === 'ReceiveMessage' ? { code: 0, ...m } : { code: 0, msgInfoList: [m] });
      } else {
        reply(res, { code: 0 }); // deletes: the message was removed when received
      }
    });
  }

  for (const honest of [false, true]) {
    test(honest ? 'a server whose 6100 sends really were not applied checks clean' : 'delivered 6100 sends are reported as notAppliedDelivered', async () => {
      const url = await notApplyingServer(honest);
      const history = new History();
      const load = startLoad({ endpoints: [url], queueName: 'q', senders: 1, receivers: 1, history, pollingWaitSeconds: 0 });
      while (history.summary().sendsNotApplied < 5) await sleep(20);
      await load.stop();
      assert.ok((load.stats().errorAnswers['6100/10800'] ?? 0) >= 5, JSON.stringify(load.stats().errorAnswers));
      const drained = await drainQueue({ endpoints: [url], queueName: 'q', history, pollingWaitSeconds: 0 });
      const violations = history.check(drained, { visibilityTimeoutMs: 30_000, drainIsComplete: true });
      if (honest) {
        assert.deepEqual(violations, [], formatViolations(violations));
        return;
      }
      const flagged = violations.filter((v) => v.kind === 'notAppliedDelivered');
      assert.ok(flagged.length >= 5, formatViolations(violations));
      const notApplied = new Set(history.sends().filter((x) => x.outcome === 'notApplied').map((x) => x.body));
      for (const v of flagged) assert.ok(notApplied.has(v.body), `${v.body} was answered 6100`);
      assert.ok(violations.every((v) => v.kind === 'notAppliedDelivered'), formatViolations(violations));
    });
  }
});
