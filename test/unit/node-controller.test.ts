// The controller's Raft group hosted beside a queue group on three hosts: it elects, takes
// commands submitted on any member, applies them the same everywhere, keeps its data apart, and
// comes back from its log and from its snapshots after every host restarted. On the simulator's
// scaffolding (virtual time, simulated disks and network), as node-host.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONTROLLER_GROUP } from '../../src/broker/ids';
import type { ControllerResult } from '../../src/controller/commands';
import { ControllerStateMachine } from '../../src/controller/state-machine';
import { groupDataDir, NodeHost, type HostedGroup } from '../../src/node/host';
import type { RequestContext } from '../../src/service/request-context';
import { ControllerHosts, IDS, setMembers } from '../helpers/controller-hosts';
import { SimFs } from '../sim/sim-fs';
import { Prng } from '../sim/prng';
import { SimProcessRuntime, SimScheduler } from '../sim/sim-runtime';

const CTX: RequestContext = { requestId: 'controller-test', clientAddress: '', receivedAtMs: 0 };

function entity(r: ControllerResult): { name: string; shards: number[]; version: number } {
  assert.ok(r.ok && r.kind === 'entity', JSON.stringify(r));
  return { name: r.entity.name, shards: r.entity.shards, version: r.entity.version };
}

test('three hosts run queue group 0 and the controller: a command submitted on a follower is applied on all three alike, and both groups keep apart', { timeout: 60_000 }, async () => {
  const c = await ControllerHosts.start();
  const leader = await c.untilControllerLeader();
  const follower = IDS.find((id) => id !== leader)!;
  const ctl = c.controller(follower);
  assert.ok(!ctl.leads());

  const registered = await c.settled(ctl.submit({ kind: 'registerSet', setId: 1, group: 0, members: setMembers(1) }));
  assert.deepEqual(registered, { ok: true, kind: 'done', routeEpoch: 0 });
  const created = await c.settled(ctl.submit({ kind: 'createEntity', type: 'queue', name: 'orders' }));
  assert.deepEqual(entity(created), { name: 'orders', shards: [1], version: 1 });
  // A name taken is refused the same way wherever it is submitted.
  const again = await c.settled(c.controller(leader).submit({ kind: 'createEntity', type: 'queue', name: 'orders' }));
  assert.ok(!again.ok && again.error === 'queueExists', JSON.stringify(again));

  await c.untilCaughtUp();
  const logs = IDS.map((id) => c.applied.get(id)!);
  assert.equal(logs[0]!.length, 3);
  for (const l of logs) assert.deepEqual(l, logs[0], 'every replica applied the same entries with the same results');
  assert.deepEqual(logs[0]!.map((a) => a.result), [registered, created, again], 'what the submitter was told is what every replica applied');

  // Reads go to the leader after a read barrier: the same answer from every member.
  for (const id of IDS) {
    const route = await c.settled(c.controller(id).read({ kind: 'getRoute', type: 'queue', name: 'orders' }));
    assert.deepEqual(entity(route), { name: 'orders', shards: [1], version: 1 });
  }

  // The status view of each member.
  for (const id of IDS) {
    const st = c.controller(id).status();
    assert.equal(st.nodeId, id);
    assert.equal(st.leader, leader);
    assert.equal(st.role, id === leader ? 'leader' : 'follower');
    assert.ok(st.term >= 1);
    assert.ok(st.commitIndex >= logs[0]![2]!.index && st.appliedIndex >= logs[0]![2]!.index, JSON.stringify(st));
    assert.deepEqual([...st.voters].sort(), [...IDS]);
  }

  // Queue group 0 works beside it, with its own leader, log and state.
  const queueLeader = await (async () => {
    assert.ok(await c.scheduler.runUntilTrue(() => IDS.some((id) => c.hosts.get(id)!.group(0).leaderId() === id), 20_000));
    return c.hosts.get(IDS.find((id) => c.hosts.get(id)!.group(0).leaderId() === id)!)!.group(0);
  })();
  const q = await c.settled(queueLeader.submit(CTX, { kind: 'createQueue', queueName: 'orders', attrs: { pollingWaitSeconds: 0 } }));
  assert.ok(q.ok && q.kind === 'createQueue', JSON.stringify(q));
  const sent = await c.settled(queueLeader.submit(CTX, { kind: 'sendMessages', queueName: 'orders', delaySeconds: 0, bodies: [Buffer.from('m')] }));
  assert.ok(sent.ok);
  const got = await c.settled(queueLeader.receive(CTX, 'orders', 1, 0));
  assert.ok(got.ok && got.messages[0]?.bodyBytes.toString() === 'm');
  await c.untilCaughtUp();
  assert.equal(c.applied.get(leader)!.length, 3, 'queue commands never reach the controller');
  for (const id of IDS) {
    const paths = c.disks.get(id)!.paths();
    const dir = groupDataDir(`/data/${id}`, CONTROLLER_GROUP);
    assert.equal(dir, `/data/${id}/groups/4294967295`);
    assert.ok(paths.some((p) => p.startsWith(`${dir}/wal/`) && p.endsWith('.wal')), `the controller's log on ${id}`);
    assert.ok(paths.some((p) => p.startsWith(`/data/${id}/wal/`) && p.endsWith('.wal')), `group 0's log where it always was on ${id}`);
  }
  assert.throws(() => c.hosts.get(leader)!.group(CONTROLLER_GROUP), /not hosted/);
  await c.closeAll();
});

test('the controller group number is reserved: no queue group takes it, the controller takes no other, no set is given it', { timeout: 30_000 }, async () => {
  const scheduler = new SimScheduler(1_700_000_000_000);
  const runtime = new SimProcessRuntime(scheduler, 'n1', 0, new Prng(3));
  const fs = new SimFs();
  const replica = { fs, runtime, log: () => undefined };
  const open = async (dataDir: string, groups: HostedGroup[]): Promise<PromiseSettledResult<NodeHost> | undefined> =>
    scheduler.settle(NodeHost.open({ dataDir, replica }, groups), 10_000);
  const refused = /controller's and only the controller's/;
  assert.match(String((await open('/a', [{ group: CONTROLLER_GROUP, voters: ['n1'] }]) as PromiseRejectedResult).reason), refused);
  assert.match(String((await open('/b', [{ group: 5, kind: 'controller', voters: ['n1'] }]) as PromiseRejectedResult).reason), refused);
  assert.ok(!fs.paths().some((p) => p.startsWith('/a') || p.startsWith('/b')), 'nothing opened');
  const opened = await open('/c', [{ group: 0, voters: ['n1'] }]);
  assert.ok(opened?.status === 'fulfilled');
  assert.throws(() => opened.value.controller(), /not hosted/);
  await scheduler.settle(opened.value.close(), 10_000);

  const m = new ControllerStateMachine();
  const r = m.apply({ kind: 'registerSet', setId: 1, group: CONTROLLER_GROUP, members: setMembers(1) }, 0);
  assert.ok(!r.ok && r.error === 'paramOutOfRange', JSON.stringify(r));
  assert.ok(m.apply({ kind: 'registerSet', setId: 1, group: CONTROLLER_GROUP - 1, members: setMembers(1) }, 0).ok, 'the group below is a set\'s like any other');
});

async function fillController(c: ControllerHosts, on: string, names: string[]): Promise<void> {
  const first = await c.settled(c.controller(on).submit({ kind: 'registerSet', setId: 1, group: 0, members: setMembers(1) }));
  assert.ok(first.ok);
  assert.ok((await c.settled(c.controller(on).submit({ kind: 'registerSet', setId: 2, group: 1, members: setMembers(2) }))).ok);
  for (const name of names) {
    const r = await c.settled(c.controller(on).submit({ kind: 'createEntity', type: 'topic', name }));
    assert.ok(r.ok, JSON.stringify(r));
  }
}

async function everything(c: ControllerHosts, on: string): Promise<ControllerResult[]> {
  return [
    await c.settled(c.controller(on).read({ kind: 'listSets' })),
    await c.settled(c.controller(on).read({ kind: 'listRoutes', type: 'topic', prefix: '', offset: 0, limit: 1000 })),
    await c.settled(c.controller(on).read({ kind: 'listRoutes', type: 'queue', prefix: '', offset: 0, limit: 1000 })),
  ];
}

test('after all three hosts restart on their disks the controller state comes back from its log', { timeout: 60_000 }, async () => {
  const c = await ControllerHosts.start();
  const leader = await c.untilControllerLeader();
  const names = ['t1', 't2', 't3', 't4'];
  await fillController(c, IDS.find((id) => id !== leader)!, names);
  await c.untilCaughtUp();
  const before = await everything(c, leader);
  const routes = before[1]!;
  assert.ok(routes.ok && routes.kind === 'routes' && routes.totalCount === names.length);
  for (const id of IDS) assert.equal(c.controller(id).stats().snapshotsTaken, 0, 'no snapshot yet: the state comes from the log');

  for (const id of IDS) c.crash(id);
  await c.settled(Promise.all(IDS.map((id) => c.boot(id))));
  const again = await c.untilControllerLeader();
  for (const id of IDS) assert.deepEqual(await everything(c, id), before, `${id} (led by ${again}) serves the state from before`);
  const more = await c.settled(c.controller(again).submit({ kind: 'createEntity', type: 'queue', name: 'after' }));
  assert.deepEqual(entity(more).version, names.length + 1, 'the route epoch carries on');
  await c.closeAll();
});

test('after all three hosts restart the controller state comes back from its snapshot (the log compacted up to it)', { timeout: 60_000 }, async () => {
  const c = await ControllerHosts.start({ snapshotEveryEntries: 4 });
  const leader = await c.untilControllerLeader();
  const names = Array.from({ length: 10 }, (_, i) => `topic-${i}`);
  await fillController(c, leader, names);
  await c.untilCaughtUp();
  assert.ok(
    await c.scheduler.runUntilTrue(() => IDS.every((id) => c.controller(id).stats().snapshotsTaken > 0), 10_000),
    'every replica took a snapshot past the threshold',
  );
  const before = await everything(c, leader);
  const applied = c.controller(leader).stats().lastAppliedIndex;

  for (const id of IDS) c.crash(id);
  await c.settled(Promise.all(IDS.map((id) => c.boot(id))));
  for (const id of IDS) {
    const st = c.controller(id).stats();
    assert.ok(st.snapshotIndex > 0 && st.snapshotIndex <= applied, `${id} started from its snapshot (at ${st.snapshotIndex})`);
  }
  const again = await c.untilControllerLeader();
  for (const id of IDS) assert.deepEqual(await everything(c, id), before, `${id} (led by ${again}) serves the state from before`);
  await c.closeAll();
});

test('a controller member that missed entries the others compacted away catches up by installing the leader\'s snapshot', { timeout: 60_000 }, async () => {
  const c = await ControllerHosts.start({ snapshotEveryEntries: 4, seed: 21 });
  const leader = await c.untilControllerLeader();
  const behind = IDS.find((id) => id !== leader)!;
  const up = IDS.filter((id) => id !== behind);
  await fillController(c, leader, ['early']);
  await c.untilCaughtUp();
  c.crash(behind);
  for (let i = 0; i < 12; i++) {
    const r = await c.settled(c.controller(leader).submit({ kind: 'createEntity', type: 'queue', name: `late-${i}` }));
    assert.ok(r.ok, JSON.stringify(r));
  }
  assert.ok(
    await c.scheduler.runUntilTrue(() => c.controller(leader).stats().snapshotIndex > c.applied.get(behind)!.at(-1)!.index, 10_000),
    'the leader compacted its log past what the crashed member holds',
  );
  const before = await everything(c, leader);
  await c.settled(c.boot(behind));
  await c.untilCaughtUp();
  assert.ok(c.controller(behind).stats().snapshotsInstalled > 0, 'caught up from a snapshot the leader sent');
  assert.deepEqual(await everything(c, behind), before);
  // Its own state is the others': a command applied after the install gives it the same result
  // (the route epoch and the placement depend on everything before).
  const check = await c.settled(c.controller(behind).submit({ kind: 'createEntity', type: 'queue', name: 'check' }));
  assert.ok(check.ok && check.kind === 'entity' && check.routeEpoch === 14, JSON.stringify(check));
  await c.untilCaughtUp();
  assert.deepEqual(c.applied.get(behind)!.at(-1), c.applied.get(leader)!.at(-1));
  for (const id of up) assert.equal(c.controller(id).stats().snapshotsInstalled, 0);
  await c.closeAll();
});
