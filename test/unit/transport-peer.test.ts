// PeerTransport over real loopback sockets: one connection per pair when everyone dials at once,
// ordered and complete delivery, coalesced writes, reconnects, send-queue limits, the frame size
// limit, and request/response with its failure modes.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';

import {
  FrameTooLargeError,
  PeerOverloadedError,
  PeerRemoteError,
  PeerTimeoutError,
  PeerTransport,
  PeerUnavailableError,
  RequestNotSentError,
  requestNotExecuted,
  UnknownPeerError,
  type PeerAddress,
  type TransportLimits,
} from '../../src/transport';
import { sleep, waitFor } from '../helpers/wait-for';

const HOST = '127.0.0.1';
const SECRET = 'unit-test cluster secret 0123456789';
const MiB = 1024 * 1024;
/** Quick reconnects so tests do not wait on production backoff. */
const FAST: Partial<TransportLimits> = { reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 100 };

interface TestNode {
  readonly id: string;
  readonly t: PeerTransport;
  readonly port: number;
  readonly logs: string[];
  readonly inbox: { from: string; payload: Buffer }[];
}

const running: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.close()));
});

async function startNode(
  id: string,
  opts: { port?: number; peers?: Record<string, PeerAddress>; limits?: Partial<TransportLimits> } = {},
): Promise<TestNode> {
  const logs: string[] = [];
  const inbox: { from: string; payload: Buffer }[] = [];
  const t = new PeerTransport({
    nodeId: id,
    listen: { host: HOST, port: opts.port ?? 0 },
    peers: opts.peers ?? {},
    clusterSecret: SECRET,
    log: (line) => logs.push(line),
    limits: { ...FAST, ...opts.limits },
  });
  t.onMessage((from, channel, payload) => {
    assert.equal(channel, 'raft');
    inbox.push({ from, payload });
  });
  const { port } = await t.start();
  running.push(t);
  return { id, t, port, logs, inbox };
}

function addressBook(nodes: readonly TestNode[]): Record<string, PeerAddress> {
  return Object.fromEntries(nodes.map((n) => [n.id, { host: HOST, port: n.port }]));
}

/** Starts the nodes, then gives all of them the full peer set in one turn: everyone dials at once. */
async function cluster(ids: readonly string[], limits: Record<string, Partial<TransportLimits>> = {}): Promise<TestNode[]> {
  const nodes = await Promise.all(ids.map((id) => startNode(id, { limits: limits[id] ?? {} })));
  const book = addressBook(nodes);
  for (const n of nodes) n.t.setPeers(book);
  await waitFor(() => nodes.every((n) => Object.values(n.t.stats().peers).every((p) => p.connected)), 'all connected');
  return nodes;
}

/** A port nothing listens on (a transport that bound it and closed again). */
async function freePort(): Promise<number> {
  const probe = await startNode('probe');
  running.splice(running.indexOf(probe.t), 1);
  await probe.t.close();
  return probe.port;
}

/** Both ends agree on the same TCP connection, and nobody holds any other socket. */
function onePerPair(nodes: readonly TestNode[]): boolean {
  for (const x of nodes) {
    const sx = x.t.stats();
    if (sx.openSockets !== nodes.length - 1 || sx.pendingHandshakes !== 0) return false;
    for (const y of nodes) {
      if (x === y) continue;
      const px = sx.peers[y.id];
      const py = y.t.stats().peers[x.id];
      if (!px?.connected || !py?.connected) return false;
      if (px.localPort !== py.remotePort || px.remotePort !== py.localPort || px.dialedByUs === py.dialedByUs) return false;
    }
  }
  return true;
}

function portsOf(nodes: readonly TestNode[]): string {
  return nodes.map((n) => Object.entries(n.t.stats().peers).map(([id, p]) => `${n.id}-${id}:${p.localPort}`)).join(',');
}

describe('connections', () => {
  test('three nodes dialling each other at once end with exactly one connection per pair', async () => {
    for (let round = 0; round < 6; round++) {
      const nodes = await cluster(['a', 'b', 'c']);
      await waitFor(() => onePerPair(nodes), `one connection per pair (round ${round})`);
      // The tie-break settles it on the first try: no node ever switched connections.
      for (const n of nodes) for (const p of Object.values(n.t.stats().peers)) assert.equal(p.connects, 1, `${n.id}: ${portsOf(nodes)}`);
      const settled = portsOf(nodes);
      await sleep(100);
      assert.equal(portsOf(nodes), settled, 'the chosen connections stay');
      assert.ok(onePerPair(nodes));
      for (const x of nodes) for (const y of nodes) if (x !== y) x.t.send(y.id, 'raft', Buffer.from(`${x.id}->${y.id}`));
      await waitFor(() => nodes.every((n) => n.inbox.length === 2), 'every node hears from both others');
      for (const n of nodes) {
        assert.deepEqual(n.inbox.map((m) => m.payload.toString()).sort(), nodes.filter((o) => o !== n).map((o) => `${o.id}->${n.id}`));
      }
      await Promise.all(running.splice(0).map((t) => t.close()));
    }
  });

  test('a node that closes and restarts on the same port is reconnected, with frames queued meanwhile', async () => {
    const [a, b] = await cluster(['a', 'b']);
    assert.ok(a && b);
    await b.t.close();
    await waitFor(() => !a.t.stats().peers.b!.connected, 'a sees b gone');
    assert.ok(a.t.send('b', 'raft', Buffer.from('sent while b was down')));
    await sleep(150); // a few failed dials
    assert.ok(a.t.stats().peers.b!.dialAttempts >= 2, 'a keeps redialling');

    const b2 = await startNode('b', { port: b.port, peers: { a: { host: HOST, port: a.port } } });
    await waitFor(() => a.t.stats().peers.b!.connected && b2.t.stats().peers.a!.connected, 'reconnected');
    a.t.send('b', 'raft', Buffer.from('after'));
    b2.t.send('a', 'raft', Buffer.from('hello from the new b'));
    await waitFor(() => b2.inbox.length === 2 && a.inbox.length === 1, 'traffic both ways');
    assert.deepEqual(
      b2.inbox.map((m) => m.payload.toString()),
      ['sent while b was down', 'after'],
    );
    assert.equal(a.inbox[0]!.payload.toString(), 'hello from the new b');
    assert.ok(a.t.stats().peers.b!.reconnects >= 1);
    assert.ok(a.logs.some((l) => /cannot connect/.test(l)));
  });

  test('setPeers drops a removed peer and fails its requests', async () => {
    const [a, b] = await cluster(['a', 'b']);
    assert.ok(a && b);
    b.t.onRequest(() => new Promise<Buffer>(() => {}));
    const inFlight = a.t.request('b', Buffer.from('x'), { timeoutMs: 30_000 });
    await waitFor(() => b.t.stats().peers.a!.rpcServing === 1, 'request arrived');
    a.t.setPeers({});
    await assert.rejects(inFlight, PeerUnavailableError);
    assert.throws(() => a.t.send('b', 'raft', Buffer.from('x')), UnknownPeerError);
    await waitFor(() => !b.t.stats().peers.a!.connected, 'b sees the link closed');
  });
});

describe('frames', () => {
  const payloadFor = (i: number): Buffer => {
    const size = i % 500 === 499 ? MiB : 4 + ((i * 7919) % 20_000);
    const buf = Buffer.alloc(size, i & 0xff);
    buf.writeUInt32BE(i, 0);
    return buf;
  };

  test('10,000 frames of varying sizes, 1 MiB ones included, arrive complete and in order both ways', async () => {
    const [a, b] = await cluster(['a', 'b']);
    assert.ok(a && b);
    const count = 10_000;
    const pump = async (from: TestNode, to: TestNode): Promise<void> => {
      for (let i = 0; i < count; i++) {
        // The caller's flow control: Raft would stop sending to a slow follower.
        while (from.t.queuedBytes(to.id) > 8 * MiB) await sleep(1);
        assert.ok(from.t.send(to.id, 'raft', payloadFor(i)));
        if (i % 64 === 0) await new Promise((r) => setImmediate(r));
      }
    };
    await Promise.all([pump(a, b), pump(b, a)]);
    await waitFor(() => a.inbox.length === count && b.inbox.length === count, 'all frames', 20_000);
    for (const n of [a, b]) {
      n.inbox.forEach((m, i) => {
        if (!m.payload.equals(payloadFor(i))) assert.fail(`${n.id}: frame ${i} differs (got ${m.payload.length} bytes, index ${m.payload.readUInt32BE(0)})`);
      });
    }
    const s = a.t.stats().peers.b!;
    assert.equal(s.dropped, 0);
    assert.ok(s.framesOut >= count && s.framesIn >= count);
    assert.ok(s.bytesOut > 20 * MiB);
    assert.equal(s.reconnects, 0);
  });

  test("frames sent in one turn leave in one socket write; separate turns' frames do not", async () => {
    const [a, b] = await cluster(['a', 'b']);
    assert.ok(a && b);
    await waitFor(() => a.t.stats().peers.b!.queuedFrames === 0, 'idle');
    const before = a.t.stats().peers.b!;
    for (let i = 0; i < 2000; i++) a.t.send('b', 'raft', Buffer.from(`m${i}`));
    assert.equal(a.t.stats().peers.b!.writes, before.writes, 'nothing is written during the turn');
    await waitFor(() => b.inbox.length === 2000, 'delivered');
    const mid = a.t.stats().peers.b!;
    assert.ok(mid.framesOut - before.framesOut >= 2000);
    assert.ok(mid.writes - before.writes <= 2, `2000 frames took ${mid.writes - before.writes} writes`);
    assert.deepEqual(
      b.inbox.map((m) => m.payload.toString()),
      Array.from({ length: 2000 }, (_, i) => `m${i}`),
    );

    for (let i = 0; i < 10; i++) {
      a.t.send('b', 'raft', Buffer.from(`turn ${i}`));
      await sleep(2);
    }
    await waitFor(() => b.inbox.length === 2010, 'delivered');
    assert.ok(a.t.stats().peers.b!.writes - mid.writes >= 10, 'each turn is its own write');
  });

  test('when the peer is down, raft frames beyond the queue limits are dropped and counted', async () => {
    const bPort = await freePort();
    const a = await startNode('a', { peers: { b: { host: HOST, port: bPort } }, limits: { sendQueueBytesMax: 10 * 1024, sendQueueFramesMax: 1000 } });
    const accepted: number[] = [];
    for (let i = 0; i < 20; i++) {
      const frame = Buffer.alloc(1024, i);
      if (a.t.send('b', 'raft', frame)) accepted.push(i);
    }
    // 9 frames of 1030 bytes (header and the 1-byte group id included) fit in 10 KiB; the 10th would not.
    assert.deepEqual(
      accepted,
      [0, 1, 2, 3, 4, 5, 6, 7, 8],
    );
    const s = a.t.stats().peers.b!;
    assert.equal(s.dropped, 11);
    assert.equal(s.droppedBytes, 11 * 1030);
    assert.equal(a.t.queuedBytes('b'), 9 * 1030);
    assert.equal(a.logs.filter((l) => /send queue to 'b' is full/.test(l)).length, 1, 'logged once per episode');

    const b = await startNode('b', { port: bPort, peers: { a: { host: HOST, port: a.port } } });
    await waitFor(() => b.inbox.length === 9, 'the queued frames arrive');
    assert.deepEqual(
      b.inbox.map((m) => m.payload[0]),
      accepted,
    );
    await waitFor(() => a.t.queuedBytes('b') === 0, 'queue empties');
  });

  test('the frame-count limit applies too', async () => {
    const a = await startNode('a', { peers: { b: { host: HOST, port: await freePort() } }, limits: { sendQueueFramesMax: 5 } });
    const results = Array.from({ length: 8 }, () => a.t.send('b', 'raft', Buffer.from('x')));
    assert.deepEqual(results, [true, true, true, true, true, false, false, false]);
    assert.equal(a.t.stats().peers.b!.queuedFrames, 5);
    assert.equal(a.t.stats().peers.b!.dropped, 3);
  });

  test('an empty queue takes one frame bigger than the byte limit, so the largest frame can be sent', async () => {
    const a = await startNode('a', { peers: { b: { host: HOST, port: await freePort() } }, limits: { sendQueueBytesMax: 1000 } });
    assert.equal(a.t.send('b', 'raft', Buffer.alloc(5000)), true);
    assert.equal(a.t.send('b', 'raft', Buffer.alloc(1)), false);
    assert.equal(a.t.queuedBytes('b'), 5006);
  });

  test('an inbound frame over frameBytesMax closes the connection with a logged error; nothing is delivered', async () => {
    const [a, b] = await cluster(['a', 'b'], { b: { frameBytesMax: 64 * 1024 } });
    assert.ok(a && b);
    assert.ok(a.t.send('b', 'raft', Buffer.alloc(100 * 1024, 7)));
    // 102400 bytes and the group id, on the group raft channel.
    await waitFor(() => b.logs.some((l) => /frame of 102401 bytes on channel 6, over frameBytesMax \(65536\)/.test(l)), 'b logs the oversized frame');
    assert.equal(b.inbox.length, 0);
    await waitFor(() => a.t.stats().peers.b!.connects >= 2 && b.t.stats().peers.a!.connected, 'the link comes back');
    a.t.send('b', 'raft', Buffer.from('small'));
    await waitFor(() => b.inbox.length === 1, 'small frames still pass');
    assert.equal(b.inbox[0]!.payload.toString(), 'small');
  });

  test('sending a payload over our own frameBytesMax throws at once', async () => {
    const a = await startNode('a', { peers: { b: { host: HOST, port: await freePort() } }, limits: { frameBytesMax: 1000 } });
    // The frame's payload is the group id (1 byte for group 0) and the raft payload.
    assert.throws(() => a.t.send('b', 'raft', Buffer.alloc(1000)), FrameTooLargeError);
    assert.ok(a.t.send('b', 'raft', Buffer.alloc(999)));
    await assert.rejects(a.t.request('b', Buffer.alloc(1000)), FrameTooLargeError);
    assert.throws(() => a.t.send('nobody', 'raft', Buffer.alloc(1)), UnknownPeerError);
  });
});

describe('requests', () => {
  test('round trips are matched by id, in both directions, up to 1 MiB', async () => {
    const [a, b] = await cluster(['a', 'b']);
    assert.ok(a && b);
    for (const n of [a, b]) n.t.onRequest((from, payload) => Promise.resolve(Buffer.concat([Buffer.from(`${n.id} answers ${from}: `), payload])));
    const asks = Array.from({ length: 500 }, (_, i) => a.t.request('b', Buffer.from(`q${i}`)));
    const back = b.t.request('a', Buffer.from('reverse'));
    const answers = await Promise.all(asks);
    answers.forEach((ans, i) => assert.equal(ans.toString(), `b answers a: q${i}`));
    assert.equal((await back).toString(), 'a answers b: reverse');

    const big = Buffer.alloc(MiB, 3);
    const bigAnswer = await a.t.request('b', big);
    assert.equal(bigAnswer.length, MiB + 'b answers a: '.length);
    assert.ok(bigAnswer.subarray(-MiB).equals(big));
    assert.equal(a.t.stats().peers.b!.rpcInflight, 0);
  });

  test('a request that is not answered in time rejects with PeerTimeoutError', async () => {
    const [a, b] = await cluster(['a', 'b']);
    assert.ok(a && b);
    let release: (v: Buffer) => void = () => {};
    b.t.onRequest(() => new Promise<Buffer>((resolve) => (release = resolve)));
    await assert.rejects(a.t.request('b', Buffer.from('slow'), { timeoutMs: 100 }), PeerTimeoutError);
    assert.equal(a.t.stats().peers.b!.rpcTimeouts, 1);
    assert.equal(a.t.stats().peers.b!.rpcInflight, 0);
    release(Buffer.from('too late'));
    await waitFor(() => a.t.stats().peers.b!.rpcLateResponses === 1, 'the late answer is counted, not delivered');
  });

  test('requests in flight when the peer dies reject at once with PeerUnavailableError', { timeout: 15_000 }, async () => {
    const [a, b] = await cluster(['a', 'b']);
    assert.ok(a && b);
    b.t.onRequest(() => new Promise<Buffer>(() => {}));
    const inFlight = Promise.allSettled(Array.from({ length: 3 }, (_, i) => a.t.request('b', Buffer.from(`r${i}`), { timeoutMs: 60_000 })));
    await waitFor(() => b.t.stats().peers.a!.rpcServing === 3, 'requests reached b');
    await b.t.close();
    for (const outcome of await inFlight) {
      assert.equal(outcome.status, 'rejected');
      if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof PeerUnavailableError, String(outcome.reason));
    }
    assert.equal(a.t.stats().peers.b!.rpcInflight, 0);
    // With no connection, a new request fails at once rather than waiting for its timeout.
    await assert.rejects(a.t.request('b', Buffer.from('x'), { timeoutMs: 60_000 }), PeerUnavailableError);
  });

  test('a request that reached the peer and lost its connection is not reported as unsent; one never written is', { timeout: 15_000 }, async () => {
    const [a, b] = await cluster(['a', 'b']);
    assert.ok(a && b);
    const seen: string[] = [];
    b.t.onRequest((_from, payload) => {
      seen.push(payload.toString());
      return new Promise<Buffer>(() => {});
    });
    const reached = a.t.request('b', Buffer.from('reached'), { timeoutMs: 60_000 });
    await waitFor(() => seen.length === 1, 'the request reached b');
    // Queued in this turn, so still waiting for the next write when the connection is cut.
    const queued = a.t.request('b', Buffer.from('queued'), { timeoutMs: 60_000 });
    const link = (a.t as unknown as { links: Map<string, { active: { destroy(reason: string): void } | null }> }).links.get('b')!;
    link.active!.destroy('cut by the test');
    const [r1, r2] = await Promise.allSettled([reached, queued]);
    assert.ok(r1.status === 'rejected' && r1.reason instanceof PeerUnavailableError && !(r1.reason instanceof RequestNotSentError), String(r1.status === 'rejected' ? r1.reason : r1.value));
    assert.equal(requestNotExecuted(r1.status === 'rejected' ? r1.reason : undefined), false);
    assert.ok(r2.status === 'rejected' && r2.reason instanceof RequestNotSentError, String(r2.status === 'rejected' ? r2.reason : r2.value));
    assert.equal(requestNotExecuted(r2.reason), true);
    // The withdrawn request never reaches b, even after the link is back.
    await waitFor(() => a.t.stats().peers.b!.connected, 'reconnected');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seen, ['reached'], 'the queued request was withdrawn, never delivered');
  });

  test('with no connection a request is refused as not sent; a timeout after writing is a PeerTimeoutError', { timeout: 15_000 }, async () => {
    const [a, b] = await cluster(['a', 'b']);
    assert.ok(a && b);
    b.t.onRequest(() => new Promise<Buffer>(() => {}));
    const slow = await a.t.request('b', Buffer.from('slow'), { timeoutMs: 100 }).catch((e: unknown) => e);
    assert.ok(slow instanceof PeerTimeoutError && !requestNotExecuted(slow), String(slow));
    await b.t.close();
    await waitFor(() => !a.t.stats().peers.b!.connected, 'disconnected');
    const refused = await a.t.request('b', Buffer.from('x'), { timeoutMs: 60_000 }).catch((e: unknown) => e);
    assert.ok(refused instanceof RequestNotSentError && requestNotExecuted(refused), String(refused));
  });

  test('requests in flight to a peer process killed with SIGKILL reject with PeerUnavailableError', { timeout: 15_000 }, async () => {
    const a = await startNode('a', { peers: { b: { host: HOST, port: await freePort() } } });
    // Node b in its own process: it dials a, then takes requests and never answers them.
    const script = `
      const { PeerTransport } = require(process.argv[1]);
      const t = new PeerTransport({ nodeId: 'b', listen: { host: '${HOST}', port: 0 }, peers: { a: { host: '${HOST}', port: Number(process.argv[2]) } },
        clusterSecret: '${SECRET}', log: () => {} });
      t.onRequest(() => { process.send('serving'); return new Promise(() => {}); });
      void t.start();`;
    const child = spawn(process.execPath, ['-e', script, path.join(__dirname, '..', '..', 'src', 'transport'), String(a.port)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitFor(() => a.t.stats().peers.b!.connected, 'the child connects', 10_000);
      const serving = new Promise((resolve) => child.once('message', resolve));
      const inFlight = Promise.allSettled([a.t.request('b', Buffer.from('x'), { timeoutMs: 60_000 })]);
      await serving;
      child.kill('SIGKILL');
      const [outcome] = await inFlight;
      assert.equal(outcome?.status, 'rejected');
      if (outcome?.status === 'rejected') assert.ok(outcome.reason instanceof PeerUnavailableError, String(outcome.reason));
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });

  test('handler failures, a missing handler and an unknown peer are typed errors', async () => {
    const [a, b] = await cluster(['a', 'b']);
    assert.ok(a && b);
    await assert.rejects(a.t.request('b', Buffer.from('x')), (err: unknown) => err instanceof PeerRemoteError && /no request handler/.test(err.message));
    b.t.onRequest((_from, payload) => {
      if (payload.toString() === 'sync') throw new Error('sync boom');
      return Promise.reject(new Error('async boom'));
    });
    await assert.rejects(a.t.request('b', Buffer.from('sync')), /sync boom/);
    await assert.rejects(a.t.request('b', Buffer.from('async')), (err: unknown) => err instanceof PeerRemoteError && /async boom/.test(err.message));
    await assert.rejects(a.t.request('zed', Buffer.from('x')), UnknownPeerError);
  });

  test('in-flight and serving limits answer PeerOverloadedError instead of queueing without bound', async () => {
    const [a, b] = await cluster(['a', 'b'], { a: { rpcInflightPerPeerMax: 2 }, b: { rpcServingPerPeerMax: 1 } });
    assert.ok(a && b);
    const releases: (() => void)[] = [];
    b.t.onRequest((_from, payload) => new Promise<Buffer>((resolve) => releases.push(() => resolve(payload))));
    const first = a.t.request('b', Buffer.from('1'));
    const second = a.t.request('b', Buffer.from('2')); // b is already serving one: busy
    await assert.rejects(a.t.request('b', Buffer.from('3')), PeerOverloadedError); // a's own limit
    await assert.rejects(second, (err: unknown) => err instanceof PeerOverloadedError && /busy/.test(err.message));
    await waitFor(() => releases.length === 1, 'first request is being served');
    releases[0]!();
    assert.equal((await first).toString(), '1');
  });
});
