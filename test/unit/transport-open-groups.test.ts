// Open groups (PeerTransportOptions.openGroups): a node that passes the handshake but is in none
// of the acceptor's groups may send requests to an open group and gets its answers on the
// connection it came in on; it is refused by every other group, it never reaches any group's Raft
// (not even the open group's), and a node without the secret (or the CA's certificate) is still
// refused at the handshake. Configured peers work on both kinds of group as before.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import * as tls from 'node:tls';
import { afterEach, describe, test } from 'node:test';

import {
  PeerRemoteError,
  PeerTransport,
  RequestNotSentError,
  UnknownPeerError,
  type GroupId,
  type PeerAddress,
  type PeerNetwork,
  type TransportLimits,
} from '../../src/transport';
import { CHANNEL, FrameDecoder, frameHeader } from '../../src/transport/frame-codec';
import { decodeHandshake, encodeHandshake, handshakeProof } from '../../src/transport/handshake';
import type { PeerTlsOptions } from '../../src/transport/peer-tls';
import { peerTls } from '../helpers/tls-fixtures';
import { waitFor as waitForCondition } from '../helpers/wait-for';

const HOST = '127.0.0.1';
const SECRET = 'unit-test cluster secret 0123456789';
const WRONG_SECRET = 'not the cluster secret 9876543210';
/** The open group (the controller's number in a real node) and a closed one (a set's). */
const OPEN: GroupId = 0xffff_ffff;
const CLOSED: GroupId = 4;
const FAST: Partial<TransportLimits> = { reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 100 };

/** Generous: TLS handshakes and a loaded two-core machine. */
const waitFor = (condition: () => boolean, what: string): Promise<void> => waitForCondition(condition, what, 20_000);

interface View {
  readonly net: PeerNetwork;
  /** Raft frames delivered to this view. */
  readonly inbox: string[];
}

interface TestNode {
  readonly id: string;
  readonly t: PeerTransport;
  readonly port: number;
  readonly logs: string[];
  /** A view of `group` that records raft frames and answers requests with "<node>/<group> got <payload> from <peer>". */
  join(group: GroupId, peers: Record<string, PeerAddress>): View;
}

interface NodeOptions {
  readonly openGroups?: readonly GroupId[];
  readonly secret?: string;
  readonly tls?: PeerTlsOptions;
  readonly limits?: Partial<TransportLimits>;
}

const running: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.close()));
});

async function startNode(id: string, opts: NodeOptions = {}): Promise<TestNode> {
  const logs: string[] = [];
  const t = new PeerTransport({
    nodeId: id,
    listen: { host: HOST, port: 0 },
    peers: {},
    ...(opts.tls ? { tls: opts.tls } : { clusterSecret: opts.secret ?? SECRET }),
    log: (line) => logs.push(line),
    limits: { ...FAST, ...opts.limits },
    ...(opts.openGroups ? { openGroups: opts.openGroups } : {}),
  });
  const { port } = await t.start();
  running.push(t);
  const join = (group: GroupId, peers: Record<string, PeerAddress>): View => {
    const net = t.group(group);
    const inbox: string[] = [];
    net.onMessage((from, payload) => inbox.push(`${from}: ${payload.toString()}`));
    net.onRequest((from, payload) => Promise.resolve(Buffer.from(`${id}/${group} got ${payload.toString()} from ${from}`)));
    net.setPeers(peers);
    return { net, inbox };
  };
  return { id, t, port, logs, join };
}

const at = (n: TestNode): PeerAddress => ({ host: HOST, port: n.port });

/** `caller` dials `voter` in both groups (it knows the voter; the voter need not know it). */
function callerOf(caller: TestNode, voter: TestNode): { open: View; closed: View } {
  return { open: caller.join(OPEN, { [voter.id]: at(voter) }), closed: caller.join(CLOSED, { [voter.id]: at(voter) }) };
}

/** A request that keeps being retried while the caller's link is still coming up. */
async function requestOnceLinked(view: View, peer: string, payload: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return (await view.net.request(peer, Buffer.from(payload))).toString();
    } catch (err) {
      if (!(err instanceof RequestNotSentError) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe('open groups: admission of authenticated nodes outside the configuration', () => {
  test('an authenticated unknown node is served on an open group and answered on its own connection', async () => {
    const v = await startNode('v', { openGroups: [OPEN] });
    const vOpen = v.join(OPEN, {});
    v.join(CLOSED, {});
    const c = await startNode('c');
    const calls = callerOf(c, v);

    assert.equal(await requestOnceLinked(calls.open, 'v', 'hello'), `v/${OPEN} got hello from c`);
    const seen = v.t.stats().peers.c;
    assert.ok(seen, 'the voter keeps a link to the caller while it is connected');
    assert.equal(seen.inboundOnly, true);
    assert.equal(seen.address, '', 'nowhere to dial it');
    assert.equal(seen.connected, true);
    assert.match(v.logs.join('\n'), /'c', in none of this node's groups, connected from .* for the open groups/);

    // Answers only: the voter has no way to start a conversation with the caller.
    assert.equal(vOpen.net.send('c', Buffer.from('x')), false);
    await assert.rejects(vOpen.net.request('c', Buffer.from('x')), UnknownPeerError);
    assert.equal(v.t.stats().peers.c!.dialAttempts, 0);
  });

  test('the same node is refused by a closed group, and no group takes its raft frames (the open one neither)', async () => {
    const v = await startNode('v', { openGroups: [OPEN] });
    const vOpen = v.join(OPEN, {});
    const vClosed = v.join(CLOSED, {});
    const c = await startNode('c');
    const calls = callerOf(c, v);
    await requestOnceLinked(calls.open, 'v', 'warm-up');

    await assert.rejects(calls.closed.net.request('v', Buffer.from('let me in')), (err: unknown) => {
      assert.ok(err instanceof PeerRemoteError);
      assert.match(err.message, new RegExp(`'c' is not a peer of group ${CLOSED} here`));
      return true;
    });
    assert.equal(calls.open.net.send('v', Buffer.from('vote for me')), true);
    assert.equal(calls.closed.net.send('v', Buffer.from('append this')), true);
    // Two raft frames and one request, each counted as refused; nothing reaches a handler.
    await waitFor(() => (v.t.stats().peers.c?.unknownGroupFrames ?? 0) >= 3, 'the refusals are counted');
    assert.deepEqual(vOpen.inbox, []);
    assert.deepEqual(vClosed.inbox, []);
  });

  test('a node with the wrong secret is refused everywhere, at the handshake', async () => {
    const v = await startNode('v', { openGroups: [OPEN] });
    v.join(OPEN, {});
    v.join(CLOSED, {});
    const x = await startNode('x', { secret: WRONG_SECRET });
    const calls = callerOf(x, v);
    await waitFor(() => v.t.stats().rejectedConnections >= 2 && (x.t.stats().peers.v?.dialAttempts ?? 0) >= 2, 'repeated refusals');
    // The dialer checks the voter's proof first, so it is the one to hang up.
    assert.match(x.t.stats().peers.v!.lastError ?? '', /failed to prove the cluster secret/);
    assert.match(v.logs.join('\n'), /rejected connection from .* claiming to be 'x'/);
    assert.equal(v.t.stats().peers.x, undefined, 'no link is kept for it');
    assert.equal(x.t.stats().peers.v!.connected, false);
    await assert.rejects(calls.open.net.request('v', Buffer.from('q')), RequestNotSentError);
    await assert.rejects(calls.closed.net.request('v', Buffer.from('q')), RequestNotSentError);
  });

  test('a stranger that gets a challenge but cannot prove the secret is cut off, and nothing it sends is served', async () => {
    const v = await startNode('v', { openGroups: [OPEN] });
    const served: string[] = [];
    v.t.group(OPEN).onRequest((from) => {
      served.push(from);
      return Promise.resolve(Buffer.alloc(0));
    });
    const socket = connect({ host: HOST, port: v.port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const decoder = new FrameDecoder(1 << 16);
    let closed = false;
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    const dialerNonce = randomBytes(32);
    socket.write(encodeHandshake({ type: 'hello', dialerId: 'mallory', acceptorId: 'v', dialerNonce }));
    let frame = decoder.next();
    await waitFor(() => (frame = decoder.next()).kind === 'frame' || closed, 'a challenge');
    assert.equal(frame.kind, 'frame', 'an open group lets an unknown id reach the challenge');
    const challenge = frame.kind === 'frame' ? decodeHandshake(frame.payload) : 'none';
    assert.ok(typeof challenge === 'object' && challenge.type === 'challenge');
    const transcript = { dialerId: 'mallory', acceptorId: 'v', dialerNonce, acceptorNonce: challenge.acceptorNonce };
    socket.write(encodeHandshake({ type: 'auth', dialerProof: handshakeProof(Buffer.from(WRONG_SECRET), 'dialer', transcript) }));
    const request = Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from('q')]);
    socket.write(Buffer.concat([frameHeader(CHANNEL.rpcRequest, request.length), request]));
    await waitFor(() => closed, 'the stranger is disconnected');
    await waitFor(() => v.logs.some((l) => /claiming to be 'mallory': 'mallory' failed authentication/.test(l)), 'the refusal is logged');
    assert.deepEqual(served, []);
    assert.equal(v.t.stats().peers.mallory, undefined);
  });

  test('without an open group the unknown node is refused at the handshake, as before', async () => {
    const v = await startNode('v');
    v.join(OPEN, {});
    const c = await startNode('c');
    callerOf(c, v);
    await waitFor(() => v.t.stats().rejectedConnections >= 2, 'repeated refusals');
    assert.match(v.logs.join('\n'), /claiming to be 'c': unknown node id 'c'/);
    assert.equal(v.t.stats().peers.c, undefined);
  });

  test('a configured peer works as before on the open and the closed group, both ways', async () => {
    const v = await startNode('v', { openGroups: [OPEN] });
    const m = await startNode('m');
    const vOpen = v.join(OPEN, { m: at(m) });
    const vClosed = v.join(CLOSED, { m: at(m) });
    const mOpen = m.join(OPEN, { v: at(v) });
    const mClosed = m.join(CLOSED, { v: at(v) });

    assert.equal(await requestOnceLinked(mOpen, 'v', 'o'), `v/${OPEN} got o from m`);
    assert.equal(await requestOnceLinked(mClosed, 'v', 'c'), `v/${CLOSED} got c from m`);
    assert.equal(await requestOnceLinked(vOpen, 'm', 'o2'), `m/${OPEN} got o2 from v`);
    assert.equal(await requestOnceLinked(vClosed, 'm', 'c2'), `m/${CLOSED} got c2 from v`);
    assert.equal(mOpen.net.send('v', Buffer.from('raft-open')), true);
    assert.equal(mClosed.net.send('v', Buffer.from('raft-closed')), true);
    await waitFor(() => vOpen.inbox.length === 1 && vClosed.inbox.length === 1, 'raft frames delivered');
    assert.deepEqual([vOpen.inbox, vClosed.inbox], [['m: raft-open'], ['m: raft-closed']]);
    assert.equal(v.t.stats().peers.m!.inboundOnly, false);
    assert.equal(v.t.stats().peers.m!.unknownGroupFrames, 0);
  });

  test('an inbound-only link is forgotten when its connection closes; the node can call again', async () => {
    const v = await startNode('v', { openGroups: [OPEN] });
    v.join(OPEN, {});
    const c = await startNode('c');
    const calls = callerOf(c, v);
    await requestOnceLinked(calls.open, 'v', 'first');
    assert.ok(v.t.stats().peers.c);

    calls.open.net.setPeers({});
    calls.closed.net.setPeers({});
    await waitFor(() => v.t.stats().peers.c === undefined, 'the voter forgets the caller');
    assert.equal(v.t.stats().peers.c, undefined);

    const again = c.t.group(OPEN);
    again.setPeers({ v: at(v) });
    assert.equal(await requestOnceLinked({ net: again, inbox: [] }, 'v', 'second'), `v/${OPEN} got second from c`);
  });

  test('an inbound-only peer that a group then names becomes an ordinary peer of that group', async () => {
    const v = await startNode('v', { openGroups: [OPEN] });
    v.join(OPEN, {});
    const vClosed = v.join(CLOSED, {});
    const c = await startNode('c');
    const calls = callerOf(c, v);
    await requestOnceLinked(calls.open, 'v', 'first');
    assert.equal(v.t.stats().peers.c!.inboundOnly, true);

    vClosed.net.setPeers({ c: at(c) });
    const stats = v.t.stats().peers.c!;
    assert.equal(stats.inboundOnly, false);
    assert.equal(stats.address, `${HOST}:${c.port}`);
    assert.equal(await requestOnceLinked(calls.closed, 'v', 'now'), `v/${CLOSED} got now from c`);
    assert.equal(await requestOnceLinked(vClosed, 'c', 'back'), `c/${CLOSED} got back from v`);
  });

  test('at most inboundPeersMax inbound-only peers at once; configured peers are not counted', async () => {
    const v = await startNode('v', { openGroups: [OPEN], limits: { inboundPeersMax: 1 } });
    v.join(OPEN, {});
    const c1 = await startNode('c1');
    await requestOnceLinked(callerOf(c1, v).open, 'v', 'first');
    const c2 = await startNode('c2');
    callerOf(c2, v);
    await waitFor(() => v.logs.some((l) => /claiming to be 'c2': unknown node id 'c2'/.test(l)), 'the second stranger is refused');
    assert.equal(v.t.stats().peers.c2, undefined);
    assert.equal(v.t.stats().peers.c1!.connected, true);
  });

  test('an open group id must be a u32', () => {
    assert.throws(() => new PeerTransport({ nodeId: 'v', listen: { host: HOST, port: 0 }, peers: {}, clusterSecret: SECRET, openGroups: [-1] }), RangeError);
  });
});

describe('open groups over mutual TLS', () => {
  test('a node with a certificate of the cluster CA is served on the open group, refused by the closed one', async () => {
    const n1 = await startNode('n1', { tls: peerTls('n1'), openGroups: [OPEN] });
    n1.join(OPEN, {});
    n1.join(CLOSED, {});
    const n2 = await startNode('n2', { tls: peerTls('n2') });
    const calls = callerOf(n2, n1);
    assert.equal(await requestOnceLinked(calls.open, 'n1', 'tls'), `n1/${OPEN} got tls from n2`);
    await assert.rejects(calls.closed.net.request('n1', Buffer.from('q')), PeerRemoteError);
    assert.equal(n1.t.stats().peers.n2!.inboundOnly, true);
  });

  test('a certificate of another CA, or one naming another node id, is refused everywhere', async () => {
    const n1 = await startNode('n1', { tls: peerTls('n1'), openGroups: [OPEN] });
    n1.join(OPEN, {});
    // Trusts the real CA (so it dials), but its own certificate comes from another CA.
    const impostor = await startNode('n2', { tls: peerTls('other-n2') });
    callerOf(impostor, n1);
    // A valid certificate, but it names n9 while the HELLO claims n3.
    const socket = tls.connect({ host: HOST, port: n1.port, ...peerTls('wrong-id'), rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    socket.on('error', () => undefined);
    socket.write(encodeHandshake({ type: 'hello', dialerId: 'n3', acceptorId: 'n1', dialerNonce: randomBytes(32) }));
    await waitFor(
      () => n1.logs.some((l) => /not accepted/.test(l)) && n1.logs.some((l) => /claiming to be 'n3': its TLS certificate names node 'n9', not 'n3'/.test(l)),
      'both refused',
    );
    assert.equal(n1.t.stats().peers.n2, undefined);
    assert.equal(n1.t.stats().peers.n3, undefined);
    socket.destroy();
  });
});
