// The controller's Raft group across a leader crash and a partition of its leader: a new leader
// takes over, commands keep being applied, nothing acknowledged is lost, a command in flight when
// the leader died is answered with its result or "outcome unknown" (never a wrong answer), and a
// cut-off old leader never answers a read from stale state. On the simulator's scaffolding.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ControllerCommand, ControllerResult } from '../../src/controller/commands';
import type { ControllerNode } from '../../src/node/controller-node';
import { ControllerHosts, IDS, setMembers } from '../helpers/controller-hosts';

/** Submits `command`, retrying while the answer is "not applied" (safe: nothing was), as a client does. */
async function submitRetrying(c: ControllerHosts, node: () => ControllerNode, command: ControllerCommand): Promise<ControllerResult> {
  for (let attempt = 0; ; attempt++) {
    const r = await c.settled(node().submit(command));
    if (r.ok || r.error !== 'notApplied' || attempt === 50) return r;
    await c.scheduler.runUntil(c.scheduler.nowMs + 100);
  }
}

async function routeOf(c: ControllerHosts, on: string, name: string): Promise<ControllerResult> {
  for (let attempt = 0; ; attempt++) {
    const r = await c.settled(c.controller(on).read({ kind: 'getRoute', type: 'queue', name }));
    if (r.ok || r.error !== 'notApplied' || attempt === 50) return r;
    await c.scheduler.runUntil(c.scheduler.nowMs + 100);
  }
}

function isError(r: ControllerResult, ...errors: string[]): boolean {
  return !r.ok && errors.includes(r.error);
}

/** Every running replica applied the same entries with the same results. */
function sameEverywhere(c: ControllerHosts): void {
  const logs = IDS.map((id) => c.applied.get(id)!);
  for (const l of logs) assert.deepEqual(l, logs[0]);
}

// The command in flight is sent this many ms before the leader dies: before it arrives, while it
// is being replicated, after it committed.
for (const leadMs of [0, 2, 4, 8, 40]) {
  test(`the controller leader crashes ${leadMs} ms after a follower forwarded a command to it: a new leader, nothing acknowledged lost, the command's answer true`, { timeout: 60_000 }, async () => {
    const c = await ControllerHosts.start({ seed: 100 + leadMs });
    const leader = await c.untilControllerLeader();
    const survivors = IDS.filter((id) => id !== leader);
    const follower = survivors[0]!;
    const acked: string[] = [];
    // Until the follower has heard from the new leader it answers "not applied": retried, as a client does.
    assert.ok((await submitRetrying(c, () => c.controller(follower), { kind: 'registerSet', setId: 1, group: 0, members: setMembers(1) })).ok);
    for (const name of ['a1', 'a2']) {
      assert.ok((await submitRetrying(c, () => c.controller(follower), { kind: 'createEntity', type: 'queue', name })).ok);
      acked.push(name);
    }

    const inFlight = c.controller(follower).submit({ kind: 'createEntity', type: 'queue', name: 'inflight' });
    await c.scheduler.runUntil(c.scheduler.nowMs + leadMs);
    c.crash(leader);
    const answer = await c.settled(inFlight);
    assert.ok((answer.ok && answer.kind === 'entity' && answer.entity.name === 'inflight') || isError(answer, 'outcomeUnknown', 'notApplied'), JSON.stringify(answer));

    const next = await c.untilControllerLeader(survivors);
    assert.notEqual(next, leader);
    for (const name of ['b1', 'b2']) {
      const r = await submitRetrying(c, () => c.controller(follower), { kind: 'createEntity', type: 'queue', name });
      assert.ok(r.ok, JSON.stringify(r));
      acked.push(name);
    }
    for (const name of acked) assert.ok((await routeOf(c, follower, name)).ok, `${name} was acknowledged and is still there`);
    const inflightRoute = await routeOf(c, follower, 'inflight');
    if (answer.ok) {
      assert.ok(answer.kind === 'entity' && inflightRoute.ok && inflightRoute.kind === 'entity', JSON.stringify(inflightRoute));
      assert.deepEqual(inflightRoute.entity, answer.entity, 'a command answered ok was applied as answered');
    } else if (answer.error === 'notApplied') assert.ok(isError(inflightRoute, 'queueNotExist'), 'a command answered "not applied" was not');
    else assert.ok(inflightRoute.ok || isError(inflightRoute, 'queueNotExist'));

    // The crashed member comes back on its disk and catches up to the same state.
    await c.settled(c.boot(leader));
    await c.untilCaughtUp();
    sameEverywhere(c);
    await c.closeAll();
  });
}

test('a partitioned controller leader: the majority elects another and goes on, the old one answers no stale read and acknowledges nothing', { timeout: 60_000 }, async () => {
  const c = await ControllerHosts.start({ seed: 5 });
  const old = await c.untilControllerLeader();
  const others = IDS.filter((id) => id !== old);
  assert.ok((await c.settled(c.controller(old).submit({ kind: 'registerSet', setId: 1, group: 0, members: setMembers(1) }))).ok);
  assert.ok((await c.settled(c.controller(old).submit({ kind: 'createEntity', type: 'queue', name: 'before' }))).ok);

  // Cut off, and stopped for a while (a long pause): when it runs again it still believes it
  // leads, though the others have elected a leader and committed more since.
  c.network.isolate(old, IDS);
  const pausedUntil = c.scheduler.nowMs + 5_000;
  c.pause(old, pausedUntil);
  const next = await c.untilControllerLeader(others);
  const during = await submitRetrying(c, () => c.controller(next), { kind: 'createEntity', type: 'queue', name: 'during' });
  assert.ok(during.ok, JSON.stringify(during));
  assert.ok(c.scheduler.nowMs < pausedUntil, 'the old leader is still paused');
  assert.ok(c.controller(old).leads(), 'the old leader still believes it leads');

  // Asked now, it must not answer from its state (which lacks "during"): its read barrier needs a
  // majority it cannot reach, and once it finds out it stepped down the read is refused.
  const stale = await c.settled(c.controller(old).read({ kind: 'getRoute', type: 'queue', name: 'during' }));
  assert.ok(isError(stale, 'notApplied'), `a read on the cut-off old leader: ${JSON.stringify(stale)}`);
  const cutOff = await c.settled(c.controller(old).submit({ kind: 'createEntity', type: 'queue', name: 'cut-off' }));
  assert.ok(isError(cutOff, 'notApplied', 'outcomeUnknown'), `a command on the cut-off old leader: ${JSON.stringify(cutOff)}`);

  c.network.heal();
  await c.untilCaughtUp();
  sameEverywhere(c);
  for (const id of IDS) {
    assert.ok((await routeOf(c, id, 'before')).ok);
    assert.ok((await routeOf(c, id, 'during')).ok);
    const r = await routeOf(c, id, 'cut-off');
    if (isError(cutOff, 'notApplied')) assert.ok(isError(r, 'queueNotExist'), 'a command answered "not applied" was not');
  }
  const after = await submitRetrying(c, () => c.controller(old), { kind: 'createEntity', type: 'queue', name: 'after' });
  assert.ok(after.ok, JSON.stringify(after));
  await c.closeAll();
});
