// Calls to another set (node/remote-sets.ts) over real peer transports on loopback: a node of set
// A reaches set B's leader through whichever of B's members it can reach, learns B's members from
// the controller's list of sets, keeps "not applied" and "outcome unknown" honest, and B's open
// set group serves it service calls and the echo only, never the members' own services.

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';

import type { SetView } from '../../src/controller/commands';
import { decodeAnswer, encodeCall } from '../../src/node/call-codec';
import { RemoteSets } from '../../src/node/remote-sets';
import { MEMBERS_ONLY_RPC_SERVICE, RPC_SERVICE, RpcRouter } from '../../src/node/rpc';
import { RoutedQueueService, serveServiceCalls } from '../../src/node/service-calls';
import { PeerRequests } from '../../src/node/peer-requests';
import { fail, type ErrorResult } from '../../src/protocol/errors';
import { noopLogger } from '../../src/protocol/log';
import { nodeRuntime } from '../../src/runtime/node-runtime';
import type { RequestContext } from '../../src/service/request-context';
import { PeerRemoteError, PeerTransport, RequestNotSentError, type GroupId, type PeerNetwork, type TransportLimits } from '../../src/transport';
import { RecordingQueueService } from '../helpers/recording-service';

const HOST = '127.0.0.1';
const SECRET = 'unit-test cluster secret 0123456789';
const FAST: Partial<TransportLimits> = { reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 100 };
/** Set 1 runs group 0 (the calling node's), set 2 group 1. */
const GROUP_A: GroupId = 0;
const GROUP_B: GroupId = 1;
const TIMING = { silenceMs: 300, echoAfterMs: 300, echoTimeoutMs: 300 };
/** Generous for a loaded two-core machine: loopback dials and handshakes take milliseconds. */
const CONNECT_WAIT_MS = 5_000;

/** The services a set's members serve one another (forwarding, snapshots, bodies, addresses). */
const MEMBERS_ONLY = [RPC_SERVICE.forward, RPC_SERVICE.snapshot, RPC_SERVICE.body, RPC_SERVICE.memberInfo];

const RC: RequestContext = { requestId: 'remote-1', clientAddress: '192.0.2.7', receivedAtMs: 1_700_000_000_000 };

const running: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.close()));
});

async function transport(id: string, openGroups: GroupId[]): Promise<{ t: PeerTransport; port: number }> {
  const t = new PeerTransport({ nodeId: id, listen: { host: HOST, port: 0 }, peers: {}, clusterSecret: SECRET, limits: FAST, log: () => undefined, openGroups });
  const { port } = await t.start();
  running.push(t);
  return { t, port };
}

/** One member of set B as a server wires it: its own service, the routed one, the call server. */
interface Member {
  readonly id: string;
  readonly t: PeerTransport;
  readonly port: number;
  readonly view: PeerNetwork;
  readonly rpc: RpcRouter;
  readonly service: RecordingQueueService;
  readonly routed: RoutedQueueService;
  /** Who this member takes for the leader (scripted: no Raft runs here). */
  leader: string | undefined;
  /** Requests of the members-only services this member served, as "service<from". */
  readonly membersOnlyServed: string[];
}

/** Set B: members b1 (the leader), b2, b3, each with its set group open. */
async function setB(ids = ['b1', 'b2', 'b3']): Promise<Member[]> {
  const started = await Promise.all(ids.map((id) => transport(id, [GROUP_B])));
  const members: Member[] = [];
  for (const [i, id] of ids.entries()) {
    const { t, port } = started[i]!;
    const view = t.group(GROUP_B);
    view.setPeers(Object.fromEntries(ids.flatMap((o, j) => (o === id ? [] : [[o, { host: HOST, port: started[j]!.port }]]))));
    const rpc = new RpcRouter(view);
    const service = new RecordingQueueService();
    const state: { leader: string | undefined } = { leader: ids[0] };
    const routed = new RoutedQueueService(service, { selfId: id, network: view, leaderId: () => state.leader, voters: () => ids }, new PeerRequests(view, nodeRuntime, TIMING));
    const m: Member = {
      id,
      t,
      port,
      view,
      rpc,
      service,
      routed,
      get leader() {
        return state.leader;
      },
      set leader(v) {
        state.leader = v;
      },
      membersOnlyServed: [],
    };
    serveServiceCalls(rpc, service, routed, id, nodeRuntime, noopLogger);
    for (const service of MEMBERS_ONLY) {
      rpc.serve(service, (from) => {
        m.membersOnlyServed.push(`${service}<${from}`);
        return Promise.resolve(Buffer.from('{}'));
      });
    }
    members.push(m);
  }
  return members;
}

function setView(id: number, group: GroupId, members: { id: string; port: number }[]): SetView {
  return {
    id,
    group,
    state: 'active',
    members: members.map((m) => ({ nodeId: m.id, peerAddress: `${HOST}:${m.port}`, apiAddress: `http://${HOST}:1` })),
    load: undefined,
    entities: 0,
  };
}

/** The calling node a1 of set A, with a scripted controller. */
async function caller(list: () => SetView[] | ErrorResult, connectWaitMs = CONNECT_WAIT_MS): Promise<{ sets: RemoteSets; t: PeerTransport; reads: () => number }> {
  const { t, port } = await transport('a1', [GROUP_A]);
  let reads = 0;
  const sets = new RemoteSets({
    transport: t,
    selfId: 'a1',
    hostedGroups: [GROUP_A],
    listSets: () => {
      reads++;
      const r = list();
      return Promise.resolve(Array.isArray(r) ? [setView(1, GROUP_A, [{ id: 'a1', port }]), ...r] : r);
    },
    runtime: nodeRuntime,
    timing: TIMING,
    connectWaitMs,
  });
  return { sets, t, reads: () => reads };
}

function callsOn(members: Member[]): Record<string, string[]> {
  return Object.fromEntries(members.map((m) => [m.id, m.service.calls.map((c) => c.method)]));
}

describe('calls to another set', () => {
  test("a call from a node of set A runs on set B's leader, relayed by the follower it reached first", async () => {
    const b = await setB();
    // The controller lists b2 first: a follower, which passes the call to b1.
    const { sets } = await caller(() => [setView(2, GROUP_B, [b[1]!, b[0]!, b[2]!])]);
    const svc = sets.service(2);
    const got = await svc.getQueueAttributes(RC, 'orders');
    assert.ok(got.ok, JSON.stringify(got));
    assert.equal(got.attributes.queueName, 'orders');
    const sent = await svc.submit(RC, { kind: 'sendMessages', queueName: 'orders', delaySeconds: 0, bodies: [Buffer.from([0xff, 0x00])] });
    assert.ok(sent.ok, JSON.stringify(sent));
    assert.deepEqual(callsOn(b), { b1: ['getQueueAttributes', 'submit'], b2: [], b3: [] }, 'everything ran on the leader only');
    assert.deepEqual(b[0]!.service.contexts, [RC, RC], "under the caller's request context");
    assert.equal(b[1]!.routed.counters.relayedIn, 2, 'both went through b2');
    const submitted = b[0]!.service.submitted[0];
    assert.ok(submitted?.kind === 'sendMessages');
    assert.deepEqual([...submitted.bodies[0]!], [0xff, 0x00], 'bodies byte for byte');
  });

  test('a member that answers "not applied" (it knows no leader) hands the call to the next; the one that answered is tried first next time', async () => {
    const b = await setB();
    b[1]!.leader = undefined; // b2 knows no leader, so it cannot relay
    const { sets } = await caller(() => [setView(2, GROUP_B, [b[1]!, b[2]!, b[0]!])]);
    const svc = sets.service(2);
    const r = await svc.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(b[1]!.routed.counters.relayedIn, 1, 'b2 was asked first');
    assert.equal(b[2]!.routed.counters.relayedIn, 1, 'then b3, which relayed it to b1');
    assert.deepEqual(callsOn(b), { b1: ['submit'], b2: [], b3: [] });
    await svc.listQueues(RC, undefined, 0, 10);
    assert.equal(b[1]!.routed.counters.relayedIn, 1, 'b2 is not asked again: b3 answered last');
    assert.equal(b[2]!.routed.counters.relayedIn, 2);
  });

  test('an unknown set is setNotExist; a controller that cannot answer leaves the call not applied', async () => {
    let answer: SetView[] | ErrorResult = [];
    const { sets, reads } = await caller(() => answer);
    const r = await sets.service(7).listQueues(RC, undefined, 0, 10);
    assert.ok(!r.ok);
    assert.equal(r.error, 'setNotExist');
    answer = fail('notApplied', undefined, 'no controller leader');
    const w = await sets.service(7).submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} });
    assert.ok(!w.ok);
    assert.equal(w.error, 'notApplied', 'nothing was sent to any set');
    assert.match(w.detail ?? '', /could not be read from the controller/);
    assert.equal(reads(), 2, 'an unknown set is looked up again on the next call');
  });

  test("a set's members are read once and cached; invalidate makes the next call read them again", async () => {
    const b = await setB();
    const { sets, reads } = await caller(() => [setView(2, GROUP_B, b)]);
    const svc = sets.service(2);
    for (let i = 0; i < 3; i++) assert.ok((await svc.listTopics(RC, undefined, 0, 10)).ok);
    assert.equal(reads(), 1);
    sets.invalidate(2);
    assert.ok((await svc.listTopics(RC, undefined, 0, 10)).ok);
    assert.equal(reads(), 2);
  });

  test('when no member can be reached a read and an unsent write are not applied; members the controller lists anew are tried at once', async () => {
    const b = await setB();
    // A member list that leads nowhere: a port with nothing behind it.
    const gone = await transport('gone', []);
    const deadPort = gone.port;
    await gone.t.close();
    let listed = [setView(2, GROUP_B, [{ id: 'b9', port: deadPort }])];
    const { sets, reads } = await caller(() => listed, 1_000);
    const svc = sets.service(2);
    const r = await svc.getQueueAttributes(RC, 'q');
    assert.ok(!r.ok);
    assert.equal(r.error, 'notApplied');
    assert.match(r.detail ?? '', /no member of set 2 could take the call .*b9/);
    const w = await svc.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} });
    assert.ok(!w.ok);
    assert.equal(w.error, 'notApplied', 'never sent: cannot have run');
    assert.equal(reads(), 2, 'a cached set whose members all fail is read again once');

    // The set's members changed: the cached list fails, the fresh one is used in the same call.
    listed = [setView(2, GROUP_B, b)];
    const again = await svc.getQueueAttributes(RC, 'q');
    assert.ok(again.ok, JSON.stringify(again));
    assert.equal(reads(), 3);
    assert.deepEqual(callsOn(b).b1, ['getQueueAttributes']);

    // Every member stops: a read is not applied.
    await Promise.all(b.map((m) => m.t.close()));
    const down = await svc.listQueues(RC, undefined, 0, 10);
    assert.ok(!down.ok);
    assert.equal(down.error, 'notApplied');
  });

  test('a listed node that does not serve the set refuses before running anything: a write moves on to the next member', async () => {
    const b = await setB();
    // z has the set group open but no handler for it (it left the set, say).
    const z = await transport('z', [GROUP_B]);
    const { sets } = await caller(() => [setView(2, GROUP_B, [{ id: 'z', port: z.port }, ...b])]);
    const w = await sets.service(2).submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} });
    assert.ok(w.ok, `z's refusal is not an unknown outcome: ${JSON.stringify(w)}`);
    assert.deepEqual(callsOn(b).b1, ['submit']);
  });

  test("a set's own administration is not served on another set's behalf", async () => {
    const b = await setB();
    const { sets } = await caller(() => [setView(2, GROUP_B, b)]);
    const svc = sets.service(2);
    for (const r of [await svc.clusterStatus(RC), await svc.transferLeader(RC, 'b2'), await svc.changeMembership(RC, { type: 'remove', nodeId: 'b3' })]) {
      assert.ok(!r.ok);
      assert.equal(r.error, 'invalidParams');
      assert.match(r.detail ?? '', /served only by the set's own members/);
    }
    assert.deepEqual(callsOn(b), { b1: [], b2: [], b3: [] });
  });
});

describe("a set's open group and nodes of other sets", () => {
  /** a1 dials set B's members on B's group without being one of them. */
  async function outsider(b: Member[]): Promise<PeerNetwork> {
    const { t } = await transport('a1', [GROUP_A]);
    const view = t.group(GROUP_B);
    view.setPeers(Object.fromEntries(b.map((m) => [m.id, { host: HOST, port: m.port }])));
    return view;
  }

  async function requestOnceLinked(view: PeerNetwork, peer: string, payload: Uint8Array): Promise<Buffer> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        return await view.request(peer, payload);
      } catch (err) {
        if (!(err instanceof RequestNotSentError) || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  test('a non-member gets calls and echoes; members-only services refuse it before running, and still serve members', async () => {
    const b = await setB();
    const a = await outsider(b);
    assert.equal((await requestOnceLinked(a, 'b1', Buffer.from([RPC_SERVICE.echo]))).length, 0, 'the echo answers');
    for (const service of MEMBERS_ONLY) {
      await assert.rejects(requestOnceLinked(a, 'b1', Buffer.from([service, 1, 2, 3])), (err: unknown) => {
        assert.ok(err instanceof PeerRemoteError);
        assert.match(err.message, new RegExp(`${MEMBERS_ONLY_RPC_SERVICE} ${service}: 'a1' is not a member`));
        return true;
      });
    }
    assert.deepEqual(b[0]!.membersOnlyServed, [], 'no members-only handler ran for a1');
    // A member asks the same: served.
    for (const service of MEMBERS_ONLY) await requestOnceLinked(b[1]!.view, 'b1', Buffer.from([service]));
    assert.deepEqual(b[0]!.membersOnlyServed, MEMBERS_ONLY.map((s) => `${s}<b2`));
  });

  test("a plain call from a non-member to a follower runs on the leader, not on the follower's own service", async () => {
    const b = await setB();
    const a = await outsider(b);
    const answer = await requestOnceLinked(a, 'b2', encodeCall(RPC_SERVICE.call, RC, { method: 'getTopicAttributes', topicName: 't' }));
    const r = decodeAnswer<{ ok: boolean }>(answer);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(callsOn(b), { b1: ['getTopicAttributes'], b2: [], b3: [] });
  });

  test('a plain call from a member runs where it is sent, as before (a member sends it to the leader it knows)', async () => {
    const b = await setB();
    const answer = await requestOnceLinked(b[2]!.view, 'b2', encodeCall(RPC_SERVICE.call, RC, { method: 'getTopicAttributes', topicName: 't' }));
    assert.ok(decodeAnswer<{ ok: boolean }>(answer).ok);
    assert.deepEqual(callsOn(b), { b1: [], b2: ['getTopicAttributes'], b3: [] });
  });
});
