// Hostile clients against whole HTTP servers: thousands of half-sent requests from one address
// must not lock other clients out (per-client-address cap) and are cut by the request deadline;
// and the real node (`startServer`) applies both, while a half-closed long poll still gets its
// answer. Opens thousands of sockets: run it under the shared heavy-test lock.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { createApiServer } from '../../src/api/http-server';
import { startServer } from '../../src/node/server';
import { LIMITS } from '../../src/protocol/limits';
import { parseReplies, rawConnect, rawPost, readReplies, readUntilClose } from '../helpers/raw-http';
import { RecordingQueueService } from '../helpers/recording-service';

/** The soft open-files limit of this process (Linux), or a conservative guess. */
function openFilesLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s+/)[3]);
    return Number.isFinite(soft) ? soft : 1024;
  } catch {
    return 1024;
  }
}

interface Attacker {
  socket: net.Socket;
  data: string;
  closed: boolean;
}

/** One connection from `localAddress` that sends only the start of a request's headers. */
function halfOpen(port: number, localAddress: string): Promise<Attacker> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const a: Attacker = { socket, data: '', closed: false };
    socket.on('data', (d: Buffer) => (a.data += d.toString('utf8')));
    socket.on('error', () => {
      // Refused (reset) connections count as closed.
    });
    socket.on('close', () => {
      a.closed = true;
      resolve(a);
    });
    socket.once('connect', () => {
      socket.write('POST /v2/index.php HTTP/1.1\r\nHost: cmq\r\nContent-Type: application/x-www-form-urlencoded\r\n');
      resolve(a);
    });
  });
}

/** One well-behaved request on a fresh connection from 127.0.0.1. */
function listQueues(port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const body = 'Action=ListQueue';
    const req = http.request(
      { host: '127.0.0.1', port, localAddress: '127.0.0.1', agent: false, method: 'POST', path: '/v2/index.php', headers: { 'Content-Length': body.length } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString('utf8')));
        res.on('end', () => {
          try {
            resolve(JSON.parse(text) as Record<string, unknown>);
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

void test('hostile clients: thousands of half-sent requests from one address do not lock others out, and are cut by the deadline', async () => {
  const perClient = LIMITS.httpConnectionsPerClientDefault;
  // Each attacking connection costs two descriptors here (client and server side): size to fit.
  const attackers = Math.min(3000, Math.floor((openFilesLimit() - 500) / 2));
  assert.ok(attackers > perClient * 2, `too few file descriptors for this test (ulimit -n ${openFilesLimit()})`);
  // A global cap the attack alone would fill, as 10,000 would be in production.
  const globalCap = Math.floor((attackers * 2) / 3);
  // Long enough that the attack is still held while the well-behaved client runs, on a slow machine.
  const requestTimeoutMs = 20_000;
  const server = createApiServer({ service: new RecordingQueueService(), auth: { mode: 'open' }, log: () => undefined, requestTimeoutMs, maxConnections: globalCap });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const all: Attacker[] = [];
  try {
    for (let i = 0; i < attackers; i += 250) {
      const batch = await Promise.all(Array.from({ length: Math.min(250, attackers - i) }, () => halfOpen(port, '127.0.0.2')));
      all.push(...batch);
    }
    // Let the server accept (or refuse) them all.
    let last = -1;
    for (let stable = 0; stable < 10; ) {
      const closed = all.filter((a) => a.closed).length;
      stable = closed === last ? stable + 1 : 0;
      last = closed;
      await sleep(100);
    }

    for (let i = 0; i < 50; i++) {
      const reply = await listQueues(port);
      assert.equal(reply['code'], 0, `request ${i}: ${JSON.stringify(reply)}`);
    }

    const refused = all.filter((a) => a.closed);
    assert.equal(all.length - refused.length, perClient, 'connections still held by the attacking address');
    assert.ok(
      refused.every((a) => a.data === ''),
      'a refused connection is closed without an answer',
    );

    // The held ones are cut by the request deadline, each with a CMQ answer.
    await waitFor('the request deadline to close every half-sent request', () => all.every((a) => a.closed), requestTimeoutMs + 30_000);
    const cut = all.filter((a) => a.data !== '');
    assert.equal(cut.length, perClient);
    for (const a of cut) {
      const [reply] = parseReplies(a.data);
      assert.equal(reply?.body['code'], 6100);
    }
  } finally {
    for (const a of all) a.socket.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

void test('opencmq server: the request deadline and the per-client cap apply; a half-closed long poll is answered', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-hostile-'));
  const server = await startServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    credentials: [],
    insecureNoAuth: false,
    segmentBytes: 1 << 20,
    log: () => undefined,
    requestTimeoutMs: 1000,
    keepAliveTimeoutMs: 30_000,
    maxConnectionsPerClient: 2,
  });
  const sockets: net.Socket[] = [];
  try {
    const cut = await rawConnect(server.port, '127.0.0.2');
    sockets.push(cut);
    cut.write('POST / HTTP/1.1\r\nHost: cmq\r\n');
    const [answer] = parseReplies(await readUntilClose(cut, 20_000));
    assert.equal(answer?.body['code'], 6100);

    // Two connections from one address are served (and kept alive); a third is refused.
    const a = await rawConnect(server.port, '127.0.0.3');
    const b = await rawConnect(server.port, '127.0.0.3');
    sockets.push(a, b);
    a.write(rawPost('Action=CreateQueue&queueName=hostile'));
    assert.equal((await readReplies(a, 1))[0]?.body['code'], 0);
    b.write(rawPost('Action=ListQueue'));
    assert.equal((await readReplies(b, 1))[0]?.body['code'], 0);
    const over = await rawConnect(server.port, '127.0.0.3');
    sockets.push(over);
    assert.equal(await readUntilClose(over, 10_000), '');
    // An idle keep-alive connection outlives the request deadline.
    await sleep(2500);
    a.write(rawPost('Action=SendMessage&queueName=hostile&msgBody=x'));
    assert.equal((await readReplies(a, 1))[0]?.body['code'], 0);
    a.write(rawPost('Action=ReceiveMessage&queueName=hostile'));
    assert.equal((await readReplies(a, 1))[0]?.body['code'], 0);

    // A long poll three deadlines long, sent by a client that then ends its side.
    b.end(rawPost('Action=ReceiveMessage&queueName=hostile&pollingWaitSeconds=3'));
    const [poll] = parseReplies(await readUntilClose(b, 20_000));
    assert.equal(poll?.body['code'], 7000);
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
