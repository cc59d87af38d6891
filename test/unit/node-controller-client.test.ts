// The controller client from a node outside the controller group (and from a voter): it finds the
// leader among the voters, follows it when leadership moves, goes around a voter that is down,
// and gives up after its bounded time with the last error when no voter can take the call. On
// the simulator's scaffolding (three controller voters, virtual time, simulated network).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CONTROLLER_GROUP } from '../../src/broker/ids';
import type { ControllerResult } from '../../src/controller/commands';
import { ControllerClient } from '../../src/node/controller-client';
import { PeerRequests } from '../../src/node/peer-requests';
import { DEFAULT_RAFT_TIMING, peerRequestTiming } from '../../src/node/raft-timing';
import { ControllerHosts, IDS, setMembers } from '../helpers/controller-hosts';
import { Prng } from '../sim/prng';
import { SimProcessRuntime } from '../sim/sim-runtime';

const CALLER = 'n4';

/** A client on a process of its own (n4), linked to the three voters over the controller group's view. */
function callerClient(c: ControllerHosts, giveUpMs?: number): { client: ControllerClient; runtime: SimProcessRuntime } {
  const runtime = new SimProcessRuntime(c.scheduler, `${CALLER}#1`, 0, new Prng(99));
  const view = c.network.attach(CALLER, runtime).group(CONTROLLER_GROUP);
  view.setPeers(Object.fromEntries(IDS.map((id, i) => [id, { host: 'sim', port: i + 1 }])));
  const client = new ControllerClient({
    selfId: CALLER,
    voters: [...IDS],
    requests: new PeerRequests(view, runtime, peerRequestTiming(DEFAULT_RAFT_TIMING)),
    runtime,
    ...(giveUpMs !== undefined ? { giveUpMs } : {}),
  });
  return { client, runtime };
}

function setIds(r: ControllerResult): number[] {
  assert.ok(r.ok && r.kind === 'sets', JSON.stringify(r));
  return r.sets.map((s) => s.id);
}

test('a node outside the controller group submits and reads through whichever voter leads, and learns which one it is', { timeout: 60_000 }, async () => {
  const c = await ControllerHosts.start({ seed: 11 });
  const leader = await c.untilControllerLeader();
  const { client } = callerClient(c);
  const r = await c.settled(client.submit({ kind: 'registerSet', setId: 2, group: 1, members: setMembers(2) }));
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(client.lastLeader(), leader);
  assert.deepEqual(setIds(await c.settled(client.read({ kind: 'listSets' }))), [2]);
  // A refusal by the state machine is the leader's answer, given as it is (not retried elsewhere).
  const again = await c.settled(client.submit({ kind: 'registerSet', setId: 2, group: 1, members: setMembers(2) }));
  assert.ok(!again.ok && again.error !== 'notApplied', JSON.stringify(again));
  await c.closeAll();
});

test('the controller leader dies: the client reaches the new leader on its next call, without being told', { timeout: 60_000 }, async () => {
  const c = await ControllerHosts.start({ seed: 12 });
  const leader = await c.untilControllerLeader();
  const { client } = callerClient(c);
  assert.ok((await c.settled(client.submit({ kind: 'registerSet', setId: 1, group: 0, members: setMembers(1) }))).ok);
  assert.equal(client.lastLeader(), leader);
  c.crash(leader);
  // Called at once: the old leader is gone and no new one may be elected yet; the client keeps trying.
  const r = await c.settled(client.submit({ kind: 'reportLoad', setId: 1, queues: 3, messages: 10, bytes: 100, requestsPerSecond: 5 }));
  assert.ok(r.ok, JSON.stringify(r));
  const next = client.lastLeader();
  assert.ok(next !== undefined && next !== leader, `a new leader answered (${String(next)})`);
  assert.equal(await c.untilControllerLeader(IDS.filter((id) => id !== leader)), next);
  const sets = await c.settled(client.read({ kind: 'listSets' }));
  assert.ok(sets.ok && sets.kind === 'sets' && sets.sets[0]?.load?.queues === 3, JSON.stringify(sets));
  await c.closeAll();
});

test('a voter that is down is gone around: the first voter tried is dead, the call still lands on the leader', { timeout: 60_000 }, async () => {
  const c = await ControllerHosts.start({ seed: 13 });
  let leader = await c.untilControllerLeader();
  // The client tries the voters in order when it knows no leader: make the first one a dead follower.
  const dead = IDS.find((id) => id !== leader)!;
  const order = [dead, ...IDS.filter((id) => id !== dead)];
  c.crash(dead);
  leader = await c.untilControllerLeader(IDS.filter((id) => id !== dead));
  const runtime = new SimProcessRuntime(c.scheduler, `${CALLER}#1`, 0, new Prng(98));
  const view = c.network.attach(CALLER, runtime).group(CONTROLLER_GROUP);
  view.setPeers(Object.fromEntries(IDS.map((id, i) => [id, { host: 'sim', port: i + 1 }])));
  const client = new ControllerClient({ selfId: CALLER, voters: order, requests: new PeerRequests(view, runtime, peerRequestTiming(DEFAULT_RAFT_TIMING)), runtime });
  const r = await c.settled(client.submit({ kind: 'registerSet', setId: 3, group: 2, members: setMembers(3) }));
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(client.lastLeader(), leader);
  await c.closeAll();
});

test('no voter can take the call: the client gives up after its bounded time with the last "not applied"', { timeout: 60_000 }, async () => {
  const c = await ControllerHosts.start({ seed: 14 });
  await c.untilControllerLeader();
  const { client, runtime } = callerClient(c, 3_000);
  for (const id of IDS) c.network.partition(CALLER, id);
  const started = runtime.monotonicMs();
  const r = await c.settled(client.read({ kind: 'listSets' }));
  const took = runtime.monotonicMs() - started;
  assert.ok(!r.ok && r.error === 'notApplied', JSON.stringify(r));
  assert.ok(took >= 2_500 && took <= 3_500, `gave up after ${took} ms (giveUpMs 3000)`);
  await c.closeAll();
});

test('on a voter, the client goes through the local replica, which passes the call to its leader', { timeout: 60_000 }, async () => {
  const c = await ControllerHosts.start({ seed: 15 });
  const leader = await c.untilControllerLeader();
  const follower = IDS.find((id) => id !== leader)!;
  const host = c.hosts.get(follower)!;
  const client = new ControllerClient({
    selfId: follower,
    voters: [follower],
    local: host.controller(),
    // Never used: the only voter is this node.
    requests: new PeerRequests(c.network.attach('unused', new SimProcessRuntime(c.scheduler, 'unused#1', 0, new Prng(1))).group(CONTROLLER_GROUP), new SimProcessRuntime(c.scheduler, 'unused#2', 0, new Prng(2)), peerRequestTiming(DEFAULT_RAFT_TIMING)),
    runtime: new SimProcessRuntime(c.scheduler, `${follower}#client`, 0, new Prng(3)),
  });
  const r = await c.settled(client.submit({ kind: 'registerSet', setId: 4, group: 3, members: setMembers(4) }));
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(setIds(await c.settled(c.controller(leader).read({ kind: 'listSets' }))), [4]);
  await c.closeAll();
});
