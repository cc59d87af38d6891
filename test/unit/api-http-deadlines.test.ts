// Hostile and unusual clients at the HTTP layer (loopback sockets, a recording service): the
// request deadline (from a request's first byte to the end of its body) kept apart from the idle
// keep-alive timeout, the per-client-address connection cap, half-closed connections and
// pipelined requests. Every request that arrives whole gets its answer.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type * as http from 'node:http';
import type * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApiServer, type ApiServerOptions } from '../../src/api/http-server';
import { clientAddressKey } from '../../src/api/client-cap';
import { RecordingQueueService } from '../helpers/recording-service';
import { parseReplies, rawConnect, rawPost, readReplies, readUntilClose } from '../helpers/raw-http';

const servers: http.Server[] = [];
const sockets: net.Socket[] = [];

after(async () => {
  for (const s of sockets) s.destroy();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/**
 * A server whose forward hook answers the made-up action `Slow` after `delay` ms with `tag`
 * echoed (how a follower's forwarded request looks to the client: a late answer).
 */
async function start(opts: Partial<ApiServerOptions> = {}): Promise<{ port: number; service: RecordingQueueService; server: http.Server }> {
  const service = new RecordingQueueService();
  const server = createApiServer({
    service,
    auth: { mode: 'open' },
    log: () => undefined,
    forward: (input) => {
      const p = new URLSearchParams(input.body.toString('utf8'));
      if (p.get('Action') !== 'Slow') return undefined;
      return sleep(Number(p.get('delay') ?? 0)).then(() => ({ code: 0, message: '', requestId: 'slow', tag: p.get('tag') }));
    },
    ...opts,
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, service, server };
}

/** Wait until the server holds no connection (it let go even of clients that never close). */
async function noConnectionsLeft(server: http.Server, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await new Promise<number>((resolve, reject) => server.getConnections((err, count) => (err ? reject(err) : resolve(count))));
    if (n === 0) return;
    if (Date.now() > deadline) throw new Error(`the server still holds ${n} connection(s) after ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function connect(port: number, localAddress?: string, neverEnd = false): Promise<net.Socket> {
  const s = await rawConnect(port, localAddress, neverEnd);
  sockets.push(s);
  return s;
}

const slow = (tag: string, delay: number): string => rawPost(`Action=Slow&tag=${tag}&delay=${delay}`);

void test('deadline: an idle keep-alive connection outlives the request deadline and is served again', async () => {
  const { port } = await start({ requestTimeoutMs: 500, keepAliveTimeoutMs: 20_000 });
  const s = await connect(port);
  s.write(slow('first', 0));
  const [first] = await readReplies(s, 1);
  assert.equal(first?.body['tag'], 'first');
  // Four request deadlines of idling between requests.
  await sleep(2000);
  assert.equal(s.destroyed, false);
  s.write(slow('second', 0));
  const [second] = await readReplies(s, 1);
  assert.equal(second?.body['tag'], 'second');
  assert.notEqual(second?.headers['connection'], 'close');
});

void test('deadline: a request whose headers never finish gets 6100/10800 and the connection is closed', async () => {
  const { port, server } = await start({ requestTimeoutMs: 1000 });
  // A client that would keep its side open forever: the node lets go anyway.
  const s = await connect(port, undefined, true);
  s.write('POST / HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-www-');
  const replies = parseReplies(await readUntilClose(s, 15_000));
  await noConnectionsLeft(server);
  assert.equal(replies.length, 1);
  assert.equal(replies[0]?.status, 200);
  assert.equal(replies[0]?.headers['connection'], 'close');
  assert.equal(replies[0]?.body['code'], 6100);
  assert.match(replies[0]?.body['message'] as string, /^\(10800\).*not received within 1 s/);
});

void test('deadline: a request whose body never finishes gets the same answer', async () => {
  const { port, service } = await start({ requestTimeoutMs: 1000 });
  const s = await connect(port);
  s.write('POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nAction=ListQueue');
  const replies = parseReplies(await readUntilClose(s, 15_000));
  assert.equal(replies.length, 1);
  assert.equal(replies[0]?.body['code'], 6100);
  assert.equal(replies[0]?.headers['connection'], 'close');
  assert.equal(service.calls.length, 0);
});

void test('deadline: a connection that never sends a byte is closed without an answer', async () => {
  const { port } = await start({ requestTimeoutMs: 1000 });
  const s = await connect(port);
  assert.equal(await readUntilClose(s, 15_000), '');
});

void test('deadline: answers owed on the connection go out first, then the cut request is answered', async () => {
  const { port } = await start({ requestTimeoutMs: 500 });
  const s = await connect(port);
  // A slow request (answered after four deadlines), then half of another one.
  s.write(slow('owed', 2000) + 'POST / HTTP/1.1\r\nHost: te');
  const replies = parseReplies(await readUntilClose(s, 15_000));
  assert.deepEqual(
    replies.map((r) => r.body['code']),
    [0, 6100],
  );
  assert.equal(replies[0]?.body['tag'], 'owed');
});

void test('malformed HTTP: the 400 is sent and the connection closed even if the client never closes its side', async () => {
  const { port, server } = await start();
  const s = await connect(port, undefined, true);
  s.write('THIS IS NOT HTTP\r\n\r\n');
  assert.match(await readUntilClose(s, 15_000), /^HTTP\/1\.1 400 /);
  // The client keeps its side open; the node must not wait for it.
  await noConnectionsLeft(server);
});

void test('half-close: a client that ends its side after a whole request still gets a slow answer', async () => {
  const { port } = await start({ requestTimeoutMs: 500 });
  const s = await connect(port);
  // Answered three request deadlines later: producing the answer is not under the deadline.
  s.end(slow('late', 1500));
  const replies = parseReplies(await readUntilClose(s, 15_000));
  assert.equal(replies.length, 1);
  assert.equal(replies[0]?.body['code'], 0);
  assert.equal(replies[0]?.body['tag'], 'late');
});

void test('half-close: a long-poll receive longer than the request deadline is answered', async () => {
  const { port, service } = await start({ requestTimeoutMs: 500 });
  service.scripts.receive = async () => {
    await sleep(1500);
    return { ok: true, messages: [] };
  };
  const s = await connect(port);
  s.end(rawPost('Action=ReceiveMessage&queueName=q&pollingWaitSeconds=2'));
  const replies = parseReplies(await readUntilClose(s, 15_000));
  assert.equal(replies.length, 1);
  assert.equal(replies[0]?.body['code'], 7000);
});

void test('pipelining: requests sent back to back are answered in order, the slowest first', async () => {
  const { port } = await start();
  const s = await connect(port);
  s.write(slow('a', 600) + slow('b', 0) + slow('c', 200));
  const replies = await readReplies(s, 3);
  assert.deepEqual(
    replies.map((r) => r.body['tag']),
    ['a', 'b', 'c'],
  );
});

void test('pipelining and half-close: every request is answered, in order, before the close', async () => {
  const { port } = await start();
  const s = await connect(port);
  s.end(slow('a', 600) + slow('b', 0) + slow('c', 200));
  const replies = parseReplies(await readUntilClose(s, 15_000));
  assert.deepEqual(
    replies.map((r) => r.body['tag']),
    ['a', 'b', 'c'],
  );
});

void test('per-client cap: the connection over the cap is closed at once; other addresses and freed slots get in', async () => {
  const { port } = await start({ maxConnectionsPerClient: 3 });
  const held: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const s = await connect(port, '127.0.0.2');
    s.write(slow(`held${i}`, 0));
    assert.equal((await readReplies(s, 1))[0]?.body['tag'], `held${i}`);
    held.push(s);
  }
  const over = await connect(port, '127.0.0.2');
  assert.equal(await readUntilClose(over, 10_000), '');

  const other = await connect(port, '127.0.0.3');
  other.write(slow('other', 0));
  assert.equal((await readReplies(other, 1))[0]?.body['tag'], 'other');

  // Closing one of the three frees its slot.
  const closed = new Promise((resolve) => held[0]?.once('close', resolve));
  held[0]?.destroy();
  await closed;
  // The server learns of the close a moment after the client; allow for it.
  for (let attempt = 0; ; attempt++) {
    const again = await connect(port, '127.0.0.2');
    again.write(slow('again', 0));
    try {
      assert.equal((await readReplies(again, 1, 10_000))[0]?.body['tag'], 'again');
      break;
    } catch (err) {
      if (attempt >= 20) throw err;
      await sleep(100);
    }
  }
});

void test('per-client cap: an IPv4 client counts the same on IPv4 and dual-stack listeners', () => {
  assert.equal(clientAddressKey('::ffff:127.0.0.2'), '127.0.0.2');
  assert.equal(clientAddressKey('::FFFF:10.1.2.3'), '10.1.2.3');
  assert.equal(clientAddressKey('10.1.2.3'), '10.1.2.3');
  assert.equal(clientAddressKey('2001:DB8::1'), '2001:db8::1');
  assert.equal(clientAddressKey('::ffff:abcd'), '::ffff:abcd');
});
