// Several Raft groups over one PeerTransport: each group's view sees only its own frames,
// requests and peers; the links are the union of the groups' peers; frames and requests for a
// group the receiver does not serve are dropped (counted) or answered with an error; and a node of
// wire version 1 (before group ids) keeps working with a new one, whichever side dials.

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';

import { groupIdBytes, readGroupId, writeGroupId } from '../../src/transport/group-codec';
import {
  PeerRemoteError,
  PeerTransport,
  RequestNotSentError,
  UnknownPeerError,
  CURRENT_WIRE_VERSION,
  WIRE_VERSION,
  type GroupId,
  type PeerAddress,
  type PeerNetwork,
  type TransportLimits,
  type WireVersion,
} from '../../src/transport';
import { waitFor } from '../helpers/wait-for';

const HOST = '127.0.0.1';
const SECRET = 'unit-test cluster secret 0123456789';
/** Quick reconnects so tests do not wait on production backoff. */
const FAST: Partial<TransportLimits> = { reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 100 };

/** One group's view on a node and what reached it. */
interface Member {
  readonly net: PeerNetwork;
  readonly inbox: string[];
}

interface TestNode {
  readonly id: string;
  readonly t: PeerTransport;
  readonly port: number;
  readonly logs: string[];
  /** Views that record messages and answer requests with "<node>/<group> got <payload>". */
  join(group: GroupId, peers: Record<string, PeerAddress>): Member;
}

const running: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.close()));
});

async function startNode(id: string, opts: { port?: number; peers?: Record<string, PeerAddress>; wireVersion?: WireVersion } = {}): Promise<TestNode> {
  const logs: string[] = [];
  const t = new PeerTransport({
    nodeId: id,
    listen: { host: HOST, port: opts.port ?? 0 },
    peers: opts.peers ?? {},
    clusterSecret: SECRET,
    log: (line) => logs.push(line),
    limits: FAST,
    ...(opts.wireVersion !== undefined ? { wireVersion: opts.wireVersion } : {}),
  });
  const { port } = await t.start();
  running.push(t);
  const join = (group: GroupId, peers: Record<string, PeerAddress>): Member => {
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

/** A port nothing listens on (a transport that bound it and closed again). */
async function freePort(): Promise<number> {
  const probe = await startNode('probe');
  running.splice(running.indexOf(probe.t), 1);
  await probe.t.close();
  return probe.port;
}

function connected(n: TestNode, peer: string): boolean {
  return n.t.stats().peers[peer]?.connected === true;
}

/** Both sides know each other's wire version on the live connection. */
async function linked(x: TestNode, y: TestNode): Promise<void> {
  await waitFor(() => x.t.stats().peers[y.id]?.wireVersion != null && y.t.stats().peers[x.id]?.wireVersion != null, `${x.id} and ${y.id} linked`);
}

describe('group ids on the wire', () => {
  test('the varint encoding: 1 byte up to 127, 5 for a u32; truncated, over-long and too large ids are refused', () => {
    for (const [group, bytes] of [
      [0, 1],
      [127, 1],
      [128, 2],
      [16_383, 2],
      [16_384, 3],
      [0xffff_ffff, 5],
    ] as const) {
      const buf = Buffer.alloc(8, 0xee);
      assert.equal(writeGroupId(buf, 1, group), 1 + bytes);
      assert.equal(groupIdBytes(group), bytes);
      assert.deepEqual(readGroupId(buf.subarray(1)), { group, bytes });
    }
    assert.equal(readGroupId(Buffer.alloc(0)), undefined);
    assert.equal(readGroupId(Buffer.from([0x80])), undefined, 'truncated');
    assert.equal(readGroupId(Buffer.from([0x80, 0x00])), undefined, 'over-long zero');
    assert.equal(readGroupId(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x10])), undefined, '2^32');
    assert.equal(readGroupId(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])), undefined, 'six bytes');
  });
});

describe('groups over one pair of transports', () => {
  test('raft frames and requests reach their own group only, in both directions', async () => {
    const [a, b] = await Promise.all([startNode('a'), startNode('b')]);
    const a1 = a.join(1, { b: at(b) });
    const a2 = a.join(2, { b: at(b) });
    const a0 = a.join(0, { b: at(b) });
    const b1 = b.join(1, { a: at(a) });
    const b2 = b.join(2, { a: at(a) });
    const b0 = b.join(0, { a: at(a) });
    await linked(a, b);
    assert.equal(a.t.stats().peers.b!.wireVersion, CURRENT_WIRE_VERSION);
    assert.equal(a1.net.peerWireVersion('b'), CURRENT_WIRE_VERSION, 'each group sees the link\'s version');

    assert.equal(a1.net.send('b', Buffer.from('one')), true);
    assert.equal(a2.net.send('b', Buffer.from('two')), true);
    assert.equal(a0.net.send('b', Buffer.from('zero')), true);
    assert.equal(b2.net.send('a', Buffer.from('two back')), true);
    await waitFor(() => b1.inbox.length + b2.inbox.length + b0.inbox.length === 3 && a2.inbox.length === 1, 'delivery');
    assert.deepEqual([b0.inbox, b1.inbox, b2.inbox], [['a: zero'], ['a: one'], ['a: two']]);
    assert.deepEqual([a0.inbox, a1.inbox, a2.inbox], [[], [], ['b: two back']]);

    assert.equal((await a1.net.request('b', Buffer.from('q1'))).toString(), 'b/1 got q1 from a');
    assert.equal((await a2.net.request('b', Buffer.from('q2'))).toString(), 'b/2 got q2 from a');
    assert.equal((await b0.net.request('a', Buffer.from('q0'))).toString(), 'a/0 got q0 from b');
    // The transport's own methods are group 0's.
    assert.equal((await a.t.request('b', Buffer.from('plain'))).toString(), 'b/0 got plain from a');
    assert.equal(a.t.group(1), a1.net, 'one view per group');
    for (const n of [a, b]) assert.equal(Object.values(n.t.stats().peers).reduce((sum, p) => sum + p.unknownGroupFrames, 0), 0);
  });

  test("the links are the union of the groups' peers: a peer one group drops stays linked while another uses it", async () => {
    const [a, b, c] = await Promise.all([startNode('a'), startNode('b'), startNode('c')]);
    const a1 = a.join(1, { b: at(b), c: at(c) });
    const a2 = a.join(2, { b: at(b) });
    const b1 = b.join(1, { a: at(a) });
    const b2 = b.join(2, { a: at(a) });
    c.join(1, { a: at(a) });
    await waitFor(() => connected(a, 'b') && connected(a, 'c'), 'a linked to b and c');
    const connectsToB = a.t.stats().peers.b!.connects;

    a1.net.setPeers({ c: at(c) });
    assert.equal(a1.net.send('b', Buffer.from('not in group 1 any more')), false);
    await assert.rejects(a1.net.request('b', Buffer.from('x')), UnknownPeerError);
    assert.equal(a2.net.send('b', Buffer.from('still in group 2')), true);
    await waitFor(() => b2.inbox.length === 1, 'group 2 delivery');
    assert.deepEqual(b1.inbox, []);
    assert.equal(a.t.stats().peers.b!.connects, connectsToB, 'the link to b was kept');
    assert.equal(connected(a, 'b'), true);

    a2.net.setPeers({});
    assert.equal(a.t.stats().peers.b, undefined, 'no group has b: the link is gone');
    assert.equal(connected(a, 'c'), true);
  });

  test('one node id at two addresses in two groups is logged and refused; the group keeps its peers', async () => {
    const [a, b] = await Promise.all([startNode('a'), startNode('b')]);
    const a1 = a.join(1, { b: at(b) });
    const a2 = a.join(2, {});
    const elsewhere = await freePort();
    a2.net.setPeers({ b: { host: HOST, port: elsewhere } });
    assert.match(a.logs.join('\n'), new RegExp(`refused the peers of group 2: they put 'b' at ${HOST}:${elsewhere}, group 1 at ${HOST}:${b.port}`));
    assert.equal(a2.net.send('b', Buffer.from('x')), false, 'group 2 did not get b');
    assert.equal(a.t.stats().peers.b!.address, `${HOST}:${b.port}`);
    assert.equal(a1.net.send('b', Buffer.from('x')), true);
    // The same address is no conflict.
    a2.net.setPeers({ b: at(b) });
    assert.equal(a2.net.send('b', Buffer.from('y')), true);
  });

  test('a raft frame for a group the receiver does not serve with the sender is dropped and counted', async () => {
    const [a, b] = await Promise.all([startNode('a'), startNode('b')]);
    const a0 = a.join(0, { b: at(b) });
    const a7 = a.join(7, { b: at(b) });
    const a8 = a.join(8, { b: at(b) });
    const b0 = b.join(0, { a: at(a) });
    // b has group 8, but not with a.
    const b8 = b.join(8, {});
    await linked(a, b);
    assert.equal(a7.net.send('b', Buffer.from('to nobody')), true);
    assert.equal(a8.net.send('b', Buffer.from('to a stranger')), true);
    assert.equal(a0.net.send('b', Buffer.from('after')), true);
    await waitFor(() => b0.inbox.length === 1, 'the group 0 frame after them');
    assert.equal(b.t.stats().peers.a!.unknownGroupFrames, 2);
    assert.deepEqual([b0.inbox, b8.inbox], [['a: after'], []]);
    assert.equal(b.t.stats().peers.a!.connects, 1, 'not a reason to drop the link');
  });

  test('a request for a group the receiver does not serve gets an error answer', async () => {
    const [a, b] = await Promise.all([startNode('a'), startNode('b')]);
    const a7 = a.join(7, { b: at(b) });
    const a8 = a.join(8, { b: at(b) });
    b.join(0, { a: at(a) });
    b.join(8, {});
    await linked(a, b);
    await assert.rejects(a7.net.request('b', Buffer.from('x')), (err: unknown) => err instanceof PeerRemoteError && /no request handler for group 7 on this node/.test(err.message));
    await assert.rejects(a8.net.request('b', Buffer.from('x')), (err: unknown) => err instanceof PeerRemoteError && /'a' is not a peer of group 8 here/.test(err.message));
    assert.equal(b.t.stats().peers.a!.unknownGroupFrames, 2);
  });

  test("a group's frames queued before the link is up wait until the peer says it takes group ids", async () => {
    // a knows b at a dead address, so the link is b's dial: a, accepting, writes what it queued
    // at once, before b's first frame can have told it b's wire version.
    const dead = await freePort();
    const a = await startNode('a');
    const a3 = a.join(3, { b: { host: HOST, port: dead } });
    const a0 = a.join(0, { b: { host: HOST, port: dead } });
    assert.equal(a0.net.send('b', Buffer.from('early 0')), true);
    assert.equal(a3.net.send('b', Buffer.from('early 3')), true);
    assert.equal(a0.net.send('b', Buffer.from('later 0')), true);
    const b = await startNode('b');
    const b3 = b.join(3, { a: at(a) });
    const b0 = b.join(0, { a: at(a) });
    await waitFor(() => b3.inbox.length === 1 && b0.inbox.length === 2, 'all delivered');
    assert.equal(a.t.stats().peers.b!.dialedByUs, false);
    assert.deepEqual([b3.inbox, b0.inbox], [['a: early 3'], ['a: early 0', 'a: later 0']]);
  });
});

describe('a node of wire version 1 (before group ids) and a new one', () => {
  for (const dialer of ['new', 'old'] as const) {
    test(`the ${dialer} node dials: group 0 flows both ways without group ids; other groups are refused, not misdelivered`, async () => {
      // The acceptor first knows the dialer at a dead address, so only the dialer's dial succeeds.
      const dead = await freePort();
      const oldNode = await startNode('o', { wireVersion: WIRE_VERSION.legacy });
      const newNode = await startNode('n');
      const [dialing, accepting] = dialer === 'new' ? [newNode, oldNode] : [oldNode, newNode];
      const acceptingGroup0 = accepting.join(0, { [dialing.id]: { host: HOST, port: dead } });
      const dialingGroup0 = dialing.join(0, { [accepting.id]: at(accepting) });
      await linked(newNode, oldNode);
      assert.equal(dialing.t.stats().peers[accepting.id]!.dialedByUs, true);
      accepting.t.group(0).setPeers({ [dialing.id]: at(dialing) });
      const oldGroup0 = dialer === 'new' ? acceptingGroup0 : dialingGroup0;
      const newGroup0 = dialer === 'new' ? dialingGroup0 : acceptingGroup0;
      assert.equal(newNode.t.stats().peers.o!.wireVersion, WIRE_VERSION.legacy);
      assert.equal(oldNode.t.stats().peers.n!.wireVersion, WIRE_VERSION.legacy, 'the link uses version 1 on both sides');

      assert.equal(newGroup0.net.send('o', Buffer.from('to old')), true);
      assert.equal(oldGroup0.net.send('n', Buffer.from('to new')), true);
      await waitFor(() => oldGroup0.inbox.length === 1 && newGroup0.inbox.length === 1, 'delivery');
      assert.deepEqual([oldGroup0.inbox, newGroup0.inbox], [['n: to old'], ['o: to new']]);
      assert.equal((await newGroup0.net.request('o', Buffer.from('q'))).toString(), 'o/0 got q from n');
      assert.equal((await oldGroup0.net.request('n', Buffer.from('q'))).toString(), 'n/0 got q from o');

      // The old node has only group 0: frames of other groups are not sent at all.
      const new5 = newNode.join(5, { o: at(oldNode) });
      const droppedBefore = newNode.t.stats().peers.o!.dropped;
      assert.equal(new5.net.send('o', Buffer.from('group 5')), false);
      assert.equal(newNode.t.stats().peers.o!.dropped, droppedBefore + 1);
      await assert.rejects(new5.net.request('o', Buffer.from('group 5')), (err: unknown) => err instanceof RequestNotSentError && /without Raft groups/.test(err.message));
      assert.equal(newGroup0.net.send('o', Buffer.from('still fine')), true);
      await waitFor(() => oldGroup0.inbox.length === 2, 'delivery after');
      assert.deepEqual(oldGroup0.inbox, ['n: to old', 'n: still fine']);

      // The old node would have closed the link on a frame it cannot read.
      for (const n of [oldNode, newNode]) {
        const other = n === oldNode ? 'n' : 'o';
        assert.equal(n.t.stats().peers[other]!.connects, 1, n.logs.join('\n'));
        assert.doesNotMatch(n.logs.join('\n'), /unexpected channel|lost/);
      }
    });
  }

  test("frames of other groups queued before the link is up are dropped, and counted, once the peer turns out to be old; group 0's still go", async () => {
    // As above: the old node dials, so the new one writes its queue before the old one's first frame.
    const dead = await freePort();
    const a = await startNode('a');
    const a0 = a.join(0, { b: { host: HOST, port: dead } });
    const a6 = a.join(6, { b: { host: HOST, port: dead } });
    assert.equal(a6.net.send('b', Buffer.from('for group 6')), true);
    assert.equal(a0.net.send('b', Buffer.from('for group 0')), true);
    const droppedBefore = a.t.stats().peers.b!.dropped;
    const oldB = await startNode('b', { wireVersion: WIRE_VERSION.legacy });
    const oldB0 = oldB.join(0, { a: at(a) });
    await waitFor(() => oldB0.inbox.length === 1, 'the group 0 frame arrives');
    assert.deepEqual(oldB0.inbox, ['a: for group 0']);
    assert.equal(a.t.stats().peers.b!.dropped, droppedBefore + 1);
    assert.equal(a.t.stats().peers.b!.dialedByUs, false);
    assert.equal(oldB.t.stats().peers.a!.connects, 1, oldB.logs.join('\n'));
  });

  test('a node of wire version 2 (group ids, no service calls) and a new one settle on version 2, which each group sees', async () => {
    const [a, b] = await Promise.all([startNode('a'), startNode('b', { wireVersion: WIRE_VERSION.groups })]);
    const a3 = a.join(3, { b: at(b) });
    const b3 = b.join(3, { a: at(a) });
    assert.equal(a3.net.peerWireVersion('b'), undefined, 'no link yet');
    await linked(a, b);
    assert.equal(a3.net.peerWireVersion('b'), WIRE_VERSION.groups);
    assert.equal(b3.net.peerWireVersion('a'), WIRE_VERSION.groups);
    assert.equal(a3.net.send('b', Buffer.from('group ids still flow')), true);
    await waitFor(() => b3.inbox.length === 1, 'group 3 delivery');
  });

  test('an old node that restarts as a new one gets group ids on its next connection', async () => {
    const bPort = await freePort();
    const a = await startNode('a');
    const a0 = a.join(0, { b: { host: HOST, port: bPort } });
    const a4 = a.join(4, { b: { host: HOST, port: bPort } });
    const oldB = await startNode('b', { port: bPort, wireVersion: WIRE_VERSION.legacy });
    const oldB0 = oldB.join(0, { a: at(a) });
    await linked(a, oldB);
    assert.equal(a4.net.send('b', Buffer.from('refused')), false);
    assert.equal(a0.net.send('b', Buffer.from('old')), true);
    await waitFor(() => oldB0.inbox.length === 1, 'delivery to the old node');

    running.splice(running.indexOf(oldB.t), 1);
    await oldB.t.close();
    await waitFor(() => !connected(a, 'b'), 'a sees b go');
    const newB = await startNode('b', { port: bPort });
    const newB0 = newB.join(0, { a: at(a) });
    const newB4 = newB.join(4, { a: at(a) });
    await waitFor(() => a.t.stats().peers.b!.wireVersion === CURRENT_WIRE_VERSION, 'a learns b speaks group ids');
    assert.equal(a4.net.send('b', Buffer.from('now sent')), true);
    await waitFor(() => newB4.inbox.length === 1, 'group 4 delivery');
    assert.deepEqual([newB4.inbox, newB0.inbox], [['a: now sent'], []]);
  });
});
