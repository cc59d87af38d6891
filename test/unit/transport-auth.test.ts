// Strangers cannot join or inject: a hand-driven raw client plays each kind of stranger (wrong
// secret, unknown id, garbage, data before authentication, a slow handshake, a forged batch MAC)
// against a real PeerTransport, which must disconnect it, log it, and deliver nothing it sent.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterEach, test } from 'node:test';

import { PeerTransport, type PeerAddress, type TransportLimits } from '../../src/transport';
import { BatchMacStream } from '../../src/transport/batch-mac';
import { CHANNEL, FrameDecoder, frameHeader } from '../../src/transport/frame-codec';
import { decodeHandshake, encodeHandshake, handshakeProof, linkKeys, type HandshakeTranscript } from '../../src/transport/handshake';
import { waitFor } from '../helpers/wait-for';

const HOST = '127.0.0.1';
const SECRET = 'unit-test cluster secret 0123456789';

interface Target {
  readonly t: PeerTransport;
  readonly port: number;
  readonly logs: string[];
  /** Everything the transport delivered to the application: must stay empty for strangers. */
  readonly delivered: string[];
}

const running: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.close()));
});

/** Node 'a' with one configured peer 'b' at an address where nothing listens. */
async function startTarget(limits: Partial<TransportLimits> = {}, secret = SECRET, id = 'a', peers: Record<string, PeerAddress> = { b: { host: HOST, port: 1 } }): Promise<Target> {
  const logs: string[] = [];
  const delivered: string[] = [];
  const t = new PeerTransport({ nodeId: id, listen: { host: HOST, port: 0 }, peers, clusterSecret: secret, log: (l) => logs.push(l), limits });
  t.onMessage((from, _channel, payload) => delivered.push(`message from ${from}: ${payload.toString()}`));
  t.onRequest((from, payload) => {
    delivered.push(`request from ${from}: ${payload.toString()}`);
    return Promise.resolve(Buffer.from('ok'));
  });
  const { port } = await t.start();
  running.push(t);
  return { t, port, logs, delivered };
}

/** A hand-driven TCP client that records frames it receives and whether it was disconnected. */
class RawClient {
  readonly frames: { channel: number; payload: Buffer }[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(1 << 20);

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      for (let r = this.decoder.next(); r.kind === 'frame'; r = this.decoder.next()) this.frames.push({ channel: r.channel, payload: r.payload });
    });
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = connect({ host: HOST, port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawClient(socket);
  }

  write(bytes: Buffer): void {
    if (!this.closed) this.socket.write(bytes);
  }

  async nextFrame(): Promise<{ channel: number; payload: Buffer }> {
    await waitFor(() => this.frames.length > 0 || this.closed, 'a frame');
    const f = this.frames.shift();
    if (!f) throw new Error('closed before a frame arrived');
    return f;
  }
}

/** Sends HELLO as `asId`, reads the CHALLENGE and answers it with a proof made from `secret`. */
async function handshakeAs(client: RawClient, asId: string, secret: string): Promise<HandshakeTranscript> {
  const dialerNonce = randomBytes(32);
  client.write(encodeHandshake({ type: 'hello', dialerId: asId, acceptorId: 'a', dialerNonce }));
  const challenge = decodeHandshake((await client.nextFrame()).payload);
  assert.ok(typeof challenge === 'object' && challenge.type === 'challenge');
  const transcript = { dialerId: asId, acceptorId: 'a', dialerNonce, acceptorNonce: challenge.acceptorNonce };
  client.write(encodeHandshake({ type: 'auth', dialerProof: handshakeProof(Buffer.from(secret), 'dialer', transcript) }));
  return transcript;
}

function raftFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  return Buffer.concat([frameHeader(CHANNEL.raft, payload.length), payload]);
}

function rpcRequestFrame(id: number, text: string): Buffer {
  const payload = Buffer.concat([Buffer.alloc(4), Buffer.from(text)]);
  payload.writeUInt32BE(id, 0);
  return Buffer.concat([frameHeader(CHANNEL.rpcRequest, payload.length), payload]);
}

/** Frames followed by the batch-MAC frame a real peer would write. */
function sealed(mac: BatchMacStream, frames: Buffer): Buffer {
  mac.update(frames);
  const tag = mac.digest();
  return Buffer.concat([frames, frameHeader(CHANNEL.batchMac, tag.length), tag]);
}

async function expectRejected(target: Target, client: RawClient, logPattern: RegExp): Promise<void> {
  await waitFor(() => client.closed, 'the stranger is disconnected');
  await waitFor(() => target.logs.some((l) => logPattern.test(l)), `a log line matching ${logPattern}`);
  assert.ok(target.t.stats().rejectedConnections >= 1);
  assert.deepEqual(target.delivered, []);
  assert.equal(target.t.stats().peers.b!.connected, false);
}

test('control: a client with the right secret and valid batch MACs is heard', async () => {
  const target = await startTarget();
  const client = await RawClient.connect(target.port);
  const transcript = await handshakeAs(client, 'b', SECRET);
  const welcome = decodeHandshake((await client.nextFrame()).payload);
  assert.deepEqual(welcome, { type: 'welcome' });
  const mac = new BatchMacStream(linkKeys(Buffer.from(SECRET), transcript).dialerToAcceptor);
  client.write(sealed(mac, Buffer.concat([raftFrame('one'), rpcRequestFrame(7, 'two')])));
  await waitFor(() => target.delivered.length === 2, 'delivery');
  assert.deepEqual(target.delivered, ['message from b: one', 'request from b: two']);
  assert.equal(target.t.stats().peers.b!.connected, true);
});

test('a forged or missing batch MAC after the handshake closes the link; nothing in the batch is delivered', async () => {
  const target = await startTarget();
  const client = await RawClient.connect(target.port);
  const transcript = await handshakeAs(client, 'b', SECRET);
  await client.nextFrame(); // welcome
  const mac = new BatchMacStream(linkKeys(Buffer.from(SECRET), transcript).dialerToAcceptor);
  client.write(sealed(mac, raftFrame('genuine')));
  await waitFor(() => target.delivered.length === 1, 'the genuine batch');
  // An on-path attacker appends a frame with a tag made under the wrong key.
  client.write(sealed(new BatchMacStream(randomBytes(32)), raftFrame('injected')));
  await waitFor(() => client.closed, 'disconnected');
  await waitFor(() => target.logs.some((l) => /batch MAC mismatch/.test(l)), 'logged');
  assert.deepEqual(target.delivered, ['message from b: genuine']);
});

test('a second connection from the same peer takes over only once the peer uses it', async () => {
  const target = await startTarget();
  const connectAsB = async (): Promise<{ client: RawClient; mac: BatchMacStream }> => {
    const client = await RawClient.connect(target.port);
    const transcript = await handshakeAs(client, 'b', SECRET);
    assert.deepEqual(decodeHandshake((await client.nextFrame()).payload), { type: 'welcome' });
    return { client, mac: new BatchMacStream(linkKeys(Buffer.from(SECRET), transcript).dialerToAcceptor) };
  };
  const first = await connectAsB();
  first.client.write(sealed(first.mac, raftFrame('on the first')));
  await waitFor(() => target.delivered.length === 1, 'first link works');

  // A peer that restarted (or redialled) authenticates again; until it sends, the old link stays.
  const second = await connectAsB();
  first.client.write(sealed(first.mac, raftFrame('still on the first')));
  await waitFor(() => target.delivered.length === 2, 'the first link is still the live one');
  assert.equal(first.client.closed, false);

  second.client.write(sealed(second.mac, raftFrame('on the second')));
  await waitFor(() => first.client.closed, 'the first link is closed once the second is used');
  await waitFor(() => target.delivered.length === 3, 'delivered');
  assert.deepEqual(target.delivered, ['message from b: on the first', 'message from b: still on the first', 'message from b: on the second']);
  assert.equal(second.client.closed, false);
  assert.equal(target.t.stats().peers.b!.connects, 2);
});

test('a wrong cluster secret is refused, and frames sent after the bad proof are never delivered', async () => {
  const target = await startTarget();
  const client = await RawClient.connect(target.port);
  await handshakeAs(client, 'b', 'a different secret, same length!!');
  client.write(raftFrame('let me in'));
  client.write(rpcRequestFrame(1, 'do something'));
  await expectRejected(target, client, /claiming to be 'b': 'b' failed authentication \(wrong cluster secret\?\)/);
  assert.ok(!client.frames.some((f) => f.channel === CHANNEL.handshake && (decodeHandshake(f.payload) as { type?: string }).type === 'welcome'));
});

test('two real nodes with different secrets never connect and both say why', async () => {
  const other = await startTarget({}, 'another cluster secret 0123456789', 'b', { a: { host: HOST, port: 1 } });
  const target = await startTarget({}, SECRET, 'a', { b: { host: HOST, port: other.port } });
  other.t.setPeers({ a: { host: HOST, port: target.port } });
  await waitFor(() => target.logs.some((l) => /failed to prove the cluster secret/.test(l)), 'a notices');
  await waitFor(() => other.logs.some((l) => /failed to prove the cluster secret/.test(l)), 'b notices');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(target.t.stats().peers.b!.connected, false);
  assert.equal(other.t.stats().peers.a!.connected, false);
  assert.deepEqual([...target.delivered, ...other.delivered], []);
});

test('an unknown node id is refused before any proof is exchanged', async () => {
  const target = await startTarget();
  const client = await RawClient.connect(target.port);
  client.write(encodeHandshake({ type: 'hello', dialerId: 'mallory', acceptorId: 'a', dialerNonce: randomBytes(32) }));
  client.write(raftFrame('hi'));
  await expectRejected(target, client, /claiming to be 'mallory': unknown node id 'mallory'/);
  assert.deepEqual(client.frames, [], 'no challenge (and so no proof) is given to an unknown id');
});

test('a dialer that wants another node is refused', async () => {
  const target = await startTarget();
  const client = await RawClient.connect(target.port);
  client.write(encodeHandshake({ type: 'hello', dialerId: 'b', acceptorId: 'c', dialerNonce: randomBytes(32) }));
  await expectRejected(target, client, /wanted node 'c', this is 'a'/);
});

test('garbage is refused: an HTTP request, random bytes, and a data frame before authentication', async () => {
  const target = await startTarget();
  const http = await RawClient.connect(target.port);
  http.write(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
  await expectRejected(target, http, /not an opencmq peer/);

  const noise = await RawClient.connect(target.port);
  noise.write(randomBytes(64 * 1024));
  await waitFor(() => noise.closed, 'noise disconnected');

  const early = await RawClient.connect(target.port);
  early.write(raftFrame('before hello'));
  await expectRejected(target, early, /frame on channel 1 before authentication/);
  assert.ok(target.t.stats().rejectedConnections >= 3);
  assert.deepEqual(target.delivered, []);
});

test('a handshake that is not finished in time is cut off (slowloris)', async () => {
  const target = await startTarget({ handshakeTimeoutMs: 300 });
  const silent = await RawClient.connect(target.port);
  const dribble = await RawClient.connect(target.port);
  const hello = encodeHandshake({ type: 'hello', dialerId: 'b', acceptorId: 'a', dialerNonce: randomBytes(32) });
  dribble.write(hello.subarray(0, 10));
  await expectRejected(target, silent, /handshake not finished within 300 ms/);
  await waitFor(() => dribble.closed, 'the dribbler is cut off too');
  // A client that got its challenge but never proves anything is cut off the same way.
  const stalled = await RawClient.connect(target.port);
  stalled.write(hello);
  await stalled.nextFrame();
  await waitFor(() => stalled.closed, 'the stalled prover is cut off');
  assert.equal(target.t.stats().pendingHandshakes, 0);
});

test('too many pending handshakes: further connections are refused at once', async () => {
  const target = await startTarget({ pendingHandshakesMax: 3 });
  const idle = await Promise.all([1, 2, 3].map(() => RawClient.connect(target.port)));
  await waitFor(() => target.t.stats().pendingHandshakes === 3, 'three pending');
  const extra = await RawClient.connect(target.port);
  await expectRejected(target, extra, /3 handshakes already pending/);
  assert.ok(idle.every((c) => !c.closed));
});

test('an authenticated link that goes silent is pinged, then closed as dead', async () => {
  const target = await startTarget({ pingIntervalMs: 50, idleTimeoutMs: 400 });
  const client = await RawClient.connect(target.port);
  await handshakeAs(client, 'b', SECRET);
  await client.nextFrame(); // welcome
  await waitFor(() => target.t.stats().peers.b!.connected, 'connected');
  await waitFor(() => client.closed, 'closed for silence');
  assert.ok(client.frames.filter((f) => f.channel === CHANNEL.ping).length >= 2, 'pings were sent while waiting');
  await waitFor(() => target.logs.some((l) => /connection to 'b' lost: nothing received for \d+ ms/.test(l)), 'logged');
});
