// Peer links over mutually authenticated TLS (src/transport/peer-tls.ts): members with certificates
// from the cluster CA connect, exchange raft frames and requests without a batch MAC; a peer whose
// certificate comes from another CA, names another node id, or who speaks plain TCP is refused.
// Certificates: test/fixtures/tls (see its generate.sh).

import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import { afterEach, test } from 'node:test';

import { PeerTransport, type PeerAddress, type TransportLimits } from '../../src/transport';
import { FrameDecoder, FRAME_HEADER_BYTES } from '../../src/transport/frame-codec';
import { encodeHandshake } from '../../src/transport/handshake';
import type { PeerTlsOptions } from '../../src/transport/peer-tls';
import { peerTls } from '../helpers/tls-fixtures';
import { sleep, waitFor as waitForCondition } from '../helpers/wait-for';

const HOST = '127.0.0.1';
const SECRET = 'unit-test cluster secret 0123456789';
const FAST: Partial<TransportLimits> = { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200, handshakeTimeoutMs: 3000 };

interface TestNode {
  readonly id: string;
  readonly t: PeerTransport;
  readonly port: number;
  readonly logs: string[];
  readonly inbox: string[];
}

const running: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.close()));
});

async function startNode(id: string, security: { tls?: PeerTlsOptions; secret?: string }, peers: Record<string, PeerAddress> = {}): Promise<TestNode> {
  const logs: string[] = [];
  const inbox: string[] = [];
  const t = new PeerTransport({
    nodeId: id,
    listen: { host: HOST, port: 0 },
    peers,
    ...(security.tls ? { tls: security.tls } : {}),
    ...(security.secret !== undefined ? { clusterSecret: security.secret } : {}),
    log: (line) => logs.push(line),
    limits: FAST,
  });
  t.onMessage((from, _channel, payload) => inbox.push(`${from}: ${payload.toString()}`));
  t.onRequest((from, payload) => Promise.resolve(Buffer.from(`${t.nodeId} answers ${from}: ${payload.toString()}`)));
  const { port } = await t.start();
  running.push(t);
  return { id, t, port, logs, inbox };
}

function book(nodes: readonly TestNode[]): Record<string, PeerAddress> {
  return Object.fromEntries(nodes.map((n) => [n.id, { host: HOST, port: n.port }]));
}

/** TLS handshakes on a loaded two-core machine take longer than plain TCP. */
const waitFor = (condition: () => boolean, what: string): Promise<void> => waitForCondition(condition, what, 15_000);

function connected(n: TestNode, peer: string): boolean {
  return n.t.stats().peers[peer]?.connected === true;
}

test('three members over TLS: one link per pair, raft frames and requests flow, and no batch MAC is sent', async () => {
  const nodes = await Promise.all(['n1', 'n2', 'n3'].map((id) => startNode(id, { tls: peerTls(id) })));
  for (const n of nodes) n.t.setPeers(book(nodes));
  await waitFor(() => nodes.every((n) => nodes.every((p) => p === n || connected(n, p.id))), 'all connected');
  const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];

  assert.equal((await n1.t.request('n3', Buffer.from('ping?'))).toString(), 'n3 answers n1: ping?');
  assert.equal((await n3.t.request('n2', Buffer.from('x'))).toString(), 'n2 answers n3: x');

  // Let pings settle, then measure the bytes of one frame: header + group id + payload, no MAC frame.
  await sleep(50);
  const before = n1.t.stats().peers['n2']!.bytesOut;
  const payload = Buffer.from('hello over tls');
  assert.equal(n1.t.send('n2', 'raft', payload), true);
  await waitFor(() => n2.inbox.includes('n1: hello over tls'), 'delivery');
  const sent = n1.t.stats().peers['n2']!.bytesOut - before;
  // A ping may have gone out in between (5 bytes each); a batch MAC would add 21 bytes per write.
  const frameBytes = FRAME_HEADER_BYTES + 1 + payload.length;
  assert.equal((sent - frameBytes) % FRAME_HEADER_BYTES, 0, `${sent} bytes: frame plus pings only`);
  assert.ok(sent < frameBytes + 21, `${sent} bytes: no batch MAC`);
  for (const n of nodes) assert.equal(n.t.stats().rejectedConnections, 0, n.logs.join('\n'));
});

test('a peer whose certificate comes from another CA is refused both ways', async () => {
  const n1 = await startNode('n1', { tls: peerTls('n1') });
  // The impostor trusts the real CA, so its own checks pass and it reaches n1's.
  const impostor = await startNode('n2', { tls: peerTls('other-n2') }, { n1: { host: HOST, port: n1.port } });
  n1.t.setPeers({ n2: { host: HOST, port: impostor.port } });
  await waitFor(() => n1.t.stats().rejectedConnections >= 1 && n1.t.stats().peers['n2']!.dialAttempts >= 2, 'refusals');
  assert.equal(connected(n1, 'n2'), false);
  assert.equal(connected(impostor, 'n1'), false);
  assert.match(n1.logs.join('\n'), /rejected connection from .*not accepted/);
  assert.match(n1.t.stats().peers['n2']!.lastError ?? '', /TLS peer at .* refused: certificate .* not accepted/);
  assert.deepEqual(n1.inbox, []);
});

test('a member cannot pose as another: the certificate must name the node id it claims', async () => {
  const n1 = await startNode('n1', { tls: peerTls('n1') });
  // Dialling: at n2's address answers a node whose (valid) certificate names n9.
  const n9 = await startNode('n9', { tls: peerTls('wrong-id') });
  n1.t.setPeers({ n2: { host: HOST, port: n9.port }, n3: { host: HOST, port: 1 } });
  await waitFor(() => /names node 'n9', not 'n2'/.test(n1.t.stats().peers['n2']!.lastError ?? ''), 'dial refused');
  assert.equal(connected(n1, 'n2'), false);

  // Accepting: n2's genuine certificate, but a HELLO claiming to be n3.
  const socket = tls.connect({ host: HOST, port: n1.port, ...peerTls('n2'), rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const decoder = new FrameDecoder(512);
  let closed = false;
  socket.on('data', (c: Buffer) => decoder.push(c));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  socket.write(encodeHandshake({ type: 'hello', dialerId: 'n3', acceptorId: 'n1', dialerNonce: Buffer.alloc(32, 7) }));
  await waitFor(() => closed, 'the acceptor closes the connection');
  const first = decoder.next();
  assert.equal(first.kind, 'need-more', 'no challenge was sent');
  assert.match(n1.logs.join('\n'), /claiming to be 'n3': its TLS certificate names node 'n2', not 'n3'/);

  // And a node cannot even start with a certificate naming another node.
  assert.throws(() => new PeerTransport({ nodeId: 'n2', listen: { host: HOST, port: 0 }, peers: {}, tls: peerTls('wrong-id') }), /names node 'n9', but this node is 'n2'/);
});

test('a plain-TCP peer and a TLS peer do not connect, whichever dials', async () => {
  const secure = await startNode('n1', { tls: peerTls('n1'), secret: SECRET });
  const plain = await startNode('n2', { secret: SECRET }, { n1: { host: HOST, port: secure.port } });
  secure.t.setPeers({ n2: { host: HOST, port: plain.port } });
  await waitFor(() => secure.t.stats().rejectedConnections >= 1 && plain.t.stats().rejectedConnections >= 1, 'both refuse');
  assert.equal(connected(secure, 'n2'), false);
  assert.equal(connected(plain, 'n1'), false);
  assert.match(secure.logs.join('\n'), /TLS handshake failed/);
  assert.match(plain.logs.join('\n'), /not an opencmq peer/);
  assert.deepEqual([...secure.inbox, ...plain.inbox], []);
});

test('with TLS and a cluster secret, the secret must match too', async () => {
  const n1 = await startNode('n1', { tls: peerTls('n1'), secret: SECRET });
  const n2 = await startNode('n2', { tls: peerTls('n2'), secret: `${SECRET} but another` }, { n1: { host: HOST, port: n1.port } });
  n1.t.setPeers({ n2: { host: HOST, port: n2.port } });
  await waitFor(() => /failed (to prove the cluster secret|authentication)/.test(n1.t.stats().peers['n2']!.lastError ?? ''), 'secret mismatch');
  assert.equal(connected(n1, 'n2'), false);
  // Unchanged control: the same secret on both connects.
  const n3 = await startNode('n3', { tls: peerTls('n3'), secret: SECRET }, { n1: { host: HOST, port: n1.port } });
  n1.t.setPeers({ n2: { host: HOST, port: n2.port }, n3: { host: HOST, port: n3.port } });
  await waitFor(() => connected(n1, 'n3'), 'n1-n3 connected');
});
