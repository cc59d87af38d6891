// Determinism and state properties of the controller over random command sequences: every
// invariant holds after every command; two replicas applying the same entries agree on every
// result and on their snapshots; a snapshot restores an equal state; route versions and
// routeEpoch change exactly when a route does.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ControllerResult } from '../../src/controller/commands';
import { checkState, ControllerInvariantError } from '../../src/controller/invariant';
import type { EntityRecord } from '../../src/controller/model';
import { ControllerStateMachine } from '../../src/controller/state-machine';
import { controllerLog, controllerQuery } from '../helpers/controller-arbitraries';

const NUM_RUNS = 300;

function routes(m: ControllerStateMachine): Map<string, EntityRecord> {
  const out = new Map<string, EntityRecord>();
  for (const type of ['queue', 'topic'] as const) {
    const res = m.read({ kind: 'listRoutes', type, prefix: '', offset: 0, limit: 1000 });
    assert.ok(res.ok && res.kind === 'routes');
    for (const e of res.entities) out.set(`${type}:${e.name}`, e);
  }
  return out;
}

test('two replicas applying the same entries give the same results and snapshots; invariants hold throughout', () => {
  fc.assert(
    fc.property(controllerLog, (log) => {
      const a = new ControllerStateMachine();
      const b = new ControllerStateMachine();
      for (const { cmd, timeMs } of log) {
        const ra = a.apply(cmd, timeMs);
        const rb = b.apply(structuredClone(cmd), timeMs);
        assert.deepEqual(ra, rb);
        checkState(a.view());
      }
      assert.deepEqual(a.snapshot(), b.snapshot());
    }),
    { numRuns: NUM_RUNS },
  );
});

test('a restored snapshot is the same state: same snapshot, same reads, same results from then on', () => {
  fc.assert(
    fc.property(controllerLog, controllerLog, fc.array(controllerQuery, { maxLength: 10 }), (before, after, queries) => {
      const m = new ControllerStateMachine();
      for (const { cmd, timeMs } of before) m.apply(cmd, timeMs);
      const bytes = m.snapshot();
      const r = ControllerStateMachine.restore(bytes);
      assert.ok(r, 'restores');
      checkState(r.view());
      assert.deepEqual(r.snapshot(), bytes);
      assert.equal(r.epoch, m.epoch);
      assert.deepEqual(r.listSets(), m.listSets());
      for (const q of queries) assert.deepEqual(r.read(q), m.read(q));
      for (const { cmd, timeMs } of after) assert.deepEqual(r.apply(cmd, timeMs), m.apply(cmd, timeMs));
      assert.deepEqual(r.snapshot(), m.snapshot());
    }),
    { numRuns: NUM_RUNS },
  );
});

test('a route\'s version changes exactly when a route changes, routeEpoch then and when a move begins, advances or is aborted; refusals change nothing', () => {
  fc.assert(
    fc.property(controllerLog, (log) => {
      const m = new ControllerStateMachine();
      for (const { cmd, timeMs } of log) {
        const epoch = m.epoch;
        const before = routes(m);
        const snap = m.snapshot();
        const res: ControllerResult = m.apply(cmd, timeMs);
        if (!res.ok) {
          assert.deepEqual(m.snapshot(), snap, `${cmd.kind} refused (${res.error}) but changed the state`);
          continue;
        }
        const after = routes(m);
        const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => {
          const x = before.get(k);
          const y = after.get(k);
          return x === undefined || y === undefined || x.shards.join() !== y.shards.join();
        });
        // A move's phases change how its route is served, not the route: the epoch only.
        const movePhase = (e: EntityRecord | undefined): string => (e?.change?.type === 'move' ? e.change.phase : '-');
        const phased = [...before.keys()].filter((k) => after.has(k) && !changed.includes(k) && movePhase(before.get(k)) !== movePhase(after.get(k))).length;
        assert.equal(m.epoch, epoch + changed.length + phased, `${cmd.kind}: epoch ${epoch} -> ${m.epoch}, ${changed.length} routes changed, ${phased} moves changed phase`);
        if (cmd.kind === 'adoptEntities') {
          // Each adopted entity is a new route with its own version, all within this command's epochs.
          assert.ok(res.ok && res.kind === 'adopted' && res.adopted === changed.length);
          assert.ok(changed.every((k) => before.get(k) === undefined));
          const versions = changed.map((k) => after.get(k)!.version).sort((x, y) => x - y);
          assert.deepEqual(versions, changed.map((_, i) => epoch + 1 + i));
          continue;
        }
        assert.ok(changed.length <= 1);
        for (const [k, y] of after) {
          const x = before.get(k);
          if (x === undefined) continue;
          if (changed.includes(k)) assert.equal(y.version, m.epoch, `${k}: version after its route changed`);
          else assert.equal(y.version, x.version, `${k}: version without a route change`);
        }
        if (changed.length === 1 && after.has(changed[0]!)) assert.equal(after.get(changed[0]!)!.version, m.epoch);
      }
    }),
    { numRuns: NUM_RUNS },
  );
});

test('random sequences reach the interesting states (the generators are not vacuous)', () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(controllerLog, (log) => {
      const m = new ControllerStateMachine();
      for (const { cmd, timeMs } of log) {
        const res = m.apply(cmd, timeMs);
        seen.add(res.ok ? `${cmd.kind} ok` : res.error);
        if (res.ok && res.kind === 'adopted' && res.adopted > 0) seen.add('adopted some');
        if (res.ok && res.kind === 'adopted' && res.conflicts.length > 0) seen.add('adopt conflict');
        if (res.ok && cmd.kind === 'createEntity' && cmd.setId !== undefined) seen.add('createEntity on a set');
        for (const e of routes(m).values()) if (e.shards.length > 1) seen.add('sharded');
      }
    }),
    { numRuns: NUM_RUNS },
  );
  const wanted = ['completeMove ok', 'confirmShard ok', 'abortMove ok', 'deleteEntity ok', 'sharded', 'routeChangeRunning', 'setHoldsEntity', 'setNotActive', 'notEnoughSets', 'queueExists', 'routeChangePhase', 'adoptEntities ok', 'adopted some', 'adopt conflict', 'createEntity on a set'];
  assert.deepEqual(wanted.filter((s) => !seen.has(s)), []);
});

test('restore refuses a well-formed snapshot of an impossible state', () => {
  const m = new ControllerStateMachine();
  m.apply({ kind: 'registerSet', setId: 1, group: 0, members: [{ nodeId: 'n', peerAddress: 'p', apiAddress: 'a' }] }, 0);
  m.apply({ kind: 'createEntity', type: 'queue', name: 'q' }, 0);
  const bytes = m.snapshot();
  // routeEpoch (f64 after magic and version) set to 0: below the queue's version 1.
  const broken = Uint8Array.from(bytes);
  new DataView(broken.buffer).setFloat64(5, 0, true);
  assert.ok(ControllerStateMachine.restore(bytes));
  assert.equal(ControllerStateMachine.restore(broken), undefined);
  assert.throws(() => checkState({ ...m.view(), routeEpoch: 0 }), ControllerInvariantError);
});

test('an entry time that is not a whole number of ms is a driver bug: apply throws before changing anything', () => {
  const m = new ControllerStateMachine();
  const cmd = { kind: 'registerSet' as const, setId: 1, group: 0, members: [{ nodeId: 'n', peerAddress: 'p', apiAddress: 'a' }] };
  for (const t of [1.5, -1, Number.NaN]) assert.throws(() => m.apply(cmd, t), ControllerInvariantError);
  assert.deepEqual(m.listSets(), []);
});
