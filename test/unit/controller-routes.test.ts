// The controller's commands: sets, names per kind, refusals with registry errors, the phases of a
// move and of a shard growth, and how route versions and routeEpoch follow them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ControllerResult } from '../../src/controller/commands';
import { CONTROLLER_LIMITS } from '../../src/controller/model';
import { ControllerStateMachine } from '../../src/controller/state-machine';
import { apply, entityOf, errorOf, members, withSets } from '../helpers/controller-sets';

function route(m: ControllerStateMachine, name: string, type: 'queue' | 'topic' = 'queue') {
  return entityOf(m.read({ kind: 'getRoute', type, name }));
}

test('sets: registered active; duplicate ids or groups, bad ids and bad members are refused', () => {
  const m = withSets(2);
  assert.deepEqual(
    m.listSets().map((s) => [s.id, s.group, s.state, s.members.length, s.entities]),
    [
      [1, 0, 'active', 3, 0],
      [2, 1, 'active', 3, 0],
    ],
  );
  assert.equal(errorOf(apply(m, { kind: 'registerSet', setId: 2, group: 7, members: members(2) })), 'setExists');
  assert.equal(errorOf(apply(m, { kind: 'registerSet', setId: 3, group: 1, members: members(3) })), 'setExists');
  for (const setId of [0, -1, 1.5, 2 ** 32]) assert.equal(errorOf(apply(m, { kind: 'registerSet', setId, group: 9, members: members(3) })), 'paramOutOfRange');
  assert.equal(errorOf(apply(m, { kind: 'registerSet', setId: 3, group: -1, members: members(3) })), 'paramOutOfRange');
  assert.equal(errorOf(apply(m, { kind: 'registerSet', setId: 3, group: 9, members: [] })), 'paramOutOfRange');
  const twice = [members(3)[0]!, members(3)[0]!];
  assert.equal(errorOf(apply(m, { kind: 'registerSet', setId: 3, group: 9, members: twice })), 'paramOutOfRange');
  assert.equal(errorOf(apply(m, { kind: 'registerSet', setId: 3, group: 9, members: [{ nodeId: 'x', peerAddress: '', apiAddress: 'a' }] })), 'paramOutOfRange');
  assert.equal(m.listSets().length, 2);
});

test('members, state and load of a set; unknown sets are refused', () => {
  const m = withSets(1);
  const next = [{ nodeId: 'n9', peerAddress: 'p:1', apiAddress: 'a:1', sqsAddress: 's:1' }];
  assert.equal(apply(m, { kind: 'setMembers', setId: 1, members: next }).ok, true);
  assert.equal(apply(m, { kind: 'setSetState', setId: 1, state: 'draining' }).ok, true);
  assert.equal(apply(m, { kind: 'reportLoad', setId: 1, queues: 3, messages: 40, bytes: 500, requestsPerSecond: 2.5 }, 77_000).ok, true);
  const [s] = m.listSets();
  assert.deepEqual(s, { id: 1, group: 0, state: 'draining', members: next, load: { queues: 3, messages: 40, bytes: 500, requestsPerSecond: 2.5, atMs: 77_000 }, entities: 0 });
  assert.equal(errorOf(apply(m, { kind: 'reportLoad', setId: 1, queues: -1, messages: 0, bytes: 0, requestsPerSecond: 0 })), 'paramOutOfRange');
  assert.equal(errorOf(apply(m, { kind: 'reportLoad', setId: 1, queues: 0, messages: 0, bytes: 0, requestsPerSecond: Number.NaN })), 'paramOutOfRange');
  assert.equal(errorOf(apply(m, { kind: 'setMembers', setId: 9, members: next })), 'setNotExist');
  assert.equal(errorOf(apply(m, { kind: 'setSetState', setId: 9, state: 'active' })), 'setNotExist');
  assert.equal(errorOf(apply(m, { kind: 'reportLoad', setId: 9, queues: 0, messages: 0, bytes: 0, requestsPerSecond: 0 })), 'setNotExist');
  assert.equal(m.epoch, 0, 'no route changed');
});

test('names are unique per kind regardless of case; a delete frees the name', () => {
  const m = withSets(2);
  const q = entityOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'orders' }));
  assert.deepEqual(q, { type: 'queue', name: 'orders', shards: [1], version: 1, change: undefined });
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'orders' })), 'queueExists');
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'ORDERS' })), 'queueExists');
  assert.equal(entityOf(apply(m, { kind: 'createEntity', type: 'topic', name: 'orders' })).version, 2, 'a topic may share a queue\'s name');
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'topic', name: 'Orders' })), 'topicExists');
  // Lookups match the exact name, as the broker's do.
  assert.equal(errorOf(m.read({ kind: 'getRoute', type: 'queue', name: 'ORDERS' })), 'queueNotExist');
  assert.equal(errorOf(apply(m, { kind: 'deleteEntity', type: 'queue', name: 'ORDERS' })), 'queueNotExist');
  const deleted = entityOf(apply(m, { kind: 'deleteEntity', type: 'queue', name: 'orders' }));
  assert.equal(deleted.version, 1);
  assert.equal(m.epoch, 3);
  assert.equal(errorOf(m.read({ kind: 'getRoute', type: 'queue', name: 'orders' })), 'queueNotExist');
  assert.deepEqual(route(m, 'orders', 'topic').shards, [2]);
  const again = entityOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'ORDERS' }));
  assert.equal(again.version, 4, 'a name created again never shows an old version');
  assert.equal(errorOf(apply(m, { kind: 'deleteEntity', type: 'topic', name: 'nope' })), 'topicNotExist');
});

test('bad names and shard counts are refused', () => {
  const m = withSets(2);
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: '' })), 'queueNameFormat');
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'topic', name: 'a b' })), 'topicNameFormat');
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'x'.repeat(81) })), 'queueNameFormat');
  assert.equal(entityOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'jobs.fifo' })).name, 'jobs.fifo');
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'q', shards: 0 })), 'paramOutOfRange');
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'q', shards: 65 })), 'paramOutOfRange');
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'topic', name: 't', shards: 2 })), 'paramOutOfRange');
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'q', shards: 3 })), 'notEnoughSets');
  assert.deepEqual(entityOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'q', shards: 2 })).shards.length, 2);
});

test('a move: copying, cutover, then the route names the target; the version changes only then, the epoch at every phase', () => {
  const m = withSets(3);
  apply(m, { kind: 'createEntity', type: 'queue', name: 'q' }); // on set 1, version 1
  assert.equal(m.epoch, 1);
  const begun = entityOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'q', to: 3 }, 5_000));
  assert.deepEqual(begun, { type: 'queue', name: 'q', shards: [1], version: 1, change: { type: 'move', shard: 0, from: 1, to: 3, phase: 'copying', startedAtMs: 5_000 } });
  assert.deepEqual(m.listSets().map((s) => s.entities), [1, 0, 1], 'the target counts for placement already');
  assert.equal(m.epoch, 2, 'cached routes learn that the queue moves');
  assert.equal(errorOf(apply(m, { kind: 'completeMove', type: 'queue', name: 'q' })), 'routeChangePhase');
  assert.equal(errorOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'q', to: 2 })), 'routeChangeRunning');
  assert.equal(errorOf(apply(m, { kind: 'deleteEntity', type: 'queue', name: 'q' })), 'routeChangeRunning');
  const cut = entityOf(apply(m, { kind: 'advanceMove', type: 'queue', name: 'q' }));
  assert.equal(cut.change?.type === 'move' && cut.change.phase, 'cutover');
  assert.deepEqual(cut.shards, [1]);
  assert.equal(cut.version, 1);
  assert.equal(m.epoch, 3);
  assert.equal(errorOf(apply(m, { kind: 'advanceMove', type: 'queue', name: 'q' })), 'routeChangePhase');
  const done = entityOf(apply(m, { kind: 'completeMove', type: 'queue', name: 'q' }));
  assert.deepEqual(done, { type: 'queue', name: 'q', shards: [3], version: 4, change: undefined });
  assert.equal(m.epoch, 4);
  assert.deepEqual(m.listSets().map((s) => s.entities), [0, 0, 1]);
  assert.equal(errorOf(apply(m, { kind: 'completeMove', type: 'queue', name: 'q' })), 'routeChangeNotExist');
  assert.equal(errorOf(apply(m, { kind: 'abortMove', type: 'queue', name: 'q' })), 'routeChangeNotExist');
  assert.equal(errorOf(apply(m, { kind: 'advanceMove', type: 'queue', name: 'q' })), 'routeChangeNotExist');
});

test('an aborted move leaves the route on the source and its version unchanged; the epoch moves', () => {
  const m = withSets(2);
  apply(m, { kind: 'createEntity', type: 'topic', name: 't' });
  for (const advance of [false, true]) {
    const before = m.epoch;
    apply(m, { kind: 'beginMove', type: 'topic', name: 't', to: 2 });
    if (advance) apply(m, { kind: 'advanceMove', type: 'topic', name: 't' });
    assert.deepEqual(entityOf(apply(m, { kind: 'abortMove', type: 'topic', name: 't' })), { type: 'topic', name: 't', shards: [1], version: 1, change: undefined });
    assert.equal(m.epoch, before + (advance ? 3 : 2), 'cached routes stop serving the move');
    assert.deepEqual(m.listSets().map((s) => s.entities), [1, 0]);
  }
});

test('moves to the same, a draining or an unknown set are refused; moving off a draining set works', () => {
  const m = withSets(3);
  apply(m, { kind: 'createEntity', type: 'queue', name: 'q' }); // set 1
  assert.equal(errorOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'q', to: 1 })), 'setHoldsEntity');
  assert.equal(errorOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'q', to: 9 })), 'setNotExist');
  assert.equal(errorOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'q', to: 0 })), 'paramOutOfRange');
  assert.equal(errorOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'nope', to: 2 })), 'queueNotExist');
  apply(m, { kind: 'setSetState', setId: 2, state: 'draining' });
  assert.equal(errorOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'q', to: 2 })), 'setNotActive');
  apply(m, { kind: 'setSetState', setId: 1, state: 'draining' });
  assert.equal(entityOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'q', to: 3 })).change?.type, 'move');
});

test('one shard of a sharded queue moves; never onto a set holding another shard', () => {
  const m = withSets(4);
  assert.deepEqual(entityOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'q', shards: 2 })).shards, [1, 2]);
  assert.equal(errorOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'q', to: 1, shard: 1 })), 'setHoldsEntity');
  assert.equal(errorOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'q', to: 3, shard: 2 })), 'paramOutOfRange');
  assert.equal(entityOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'q', to: 4, shard: 1 })).change?.type, 'move');
  apply(m, { kind: 'advanceMove', type: 'queue', name: 'q' });
  assert.deepEqual(entityOf(apply(m, { kind: 'completeMove', type: 'queue', name: 'q' })).shards, [1, 4]);
});

test('shard growth: new shards pending on the best free sets until all are confirmed', () => {
  const m = withSets(4);
  apply(m, { kind: 'reportLoad', setId: 2, queues: 0, messages: 0, bytes: 100, requestsPerSecond: 100 });
  apply(m, { kind: 'createEntity', type: 'queue', name: 'q' }); // set 1 (sets 1, 3, 4 idle)
  const grown = entityOf(apply(m, { kind: 'growShards', name: 'q', shards: 3 }, 9_000));
  assert.deepEqual(grown, {
    type: 'queue',
    name: 'q',
    shards: [1],
    version: 1,
    change: { type: 'grow', startedAtMs: 9_000, pending: [{ shard: 1, set: 3, confirmed: false }, { shard: 2, set: 4, confirmed: false }] },
  });
  assert.deepEqual(m.listSets().map((s) => s.entities), [1, 0, 1, 1]);
  assert.equal(errorOf(apply(m, { kind: 'growShards', name: 'q', shards: 4 })), 'routeChangeRunning');
  assert.equal(errorOf(apply(m, { kind: 'beginMove', type: 'queue', name: 'q', to: 2 })), 'routeChangeRunning');
  assert.equal(errorOf(apply(m, { kind: 'advanceMove', type: 'queue', name: 'q' })), 'routeChangePhase');
  assert.equal(errorOf(apply(m, { kind: 'completeMove', type: 'queue', name: 'q' })), 'routeChangePhase');
  assert.equal(errorOf(apply(m, { kind: 'confirmShard', name: 'q', shard: 0 })), 'routeChangePhase');
  const one = entityOf(apply(m, { kind: 'confirmShard', name: 'q', shard: 2 }));
  assert.deepEqual(one.shards, [1], 'the route grows only when every new shard exists');
  assert.equal(one.version, 1);
  assert.deepEqual(entityOf(apply(m, { kind: 'confirmShard', name: 'q', shard: 2 })), one, 'a repeated confirmation changes nothing');
  const all = entityOf(apply(m, { kind: 'confirmShard', name: 'q', shard: 1 }));
  assert.deepEqual(all, { type: 'queue', name: 'q', shards: [1, 3, 4], version: 2, change: undefined });
  assert.equal(m.epoch, 2);
  assert.equal(errorOf(apply(m, { kind: 'confirmShard', name: 'q', shard: 1 })), 'routeChangeNotExist');
});

test('shard growth refusals, and an aborted growth drops the pending shards', () => {
  const m = withSets(3);
  apply(m, { kind: 'createEntity', type: 'queue', name: 'q', shards: 2 });
  apply(m, { kind: 'createEntity', type: 'topic', name: 't' });
  assert.equal(errorOf(apply(m, { kind: 'growShards', name: 'q', shards: 2 })), 'paramOutOfRange');
  assert.equal(errorOf(apply(m, { kind: 'growShards', name: 'q', shards: 65 })), 'paramOutOfRange');
  assert.equal(errorOf(apply(m, { kind: 'growShards', name: 'q', shards: 4 })), 'notEnoughSets');
  assert.equal(errorOf(apply(m, { kind: 'growShards', name: 't', shards: 2 })), 'queueNotExist', 'topics have one shard');
  apply(m, { kind: 'setSetState', setId: 3, state: 'draining' });
  assert.equal(errorOf(apply(m, { kind: 'growShards', name: 'q', shards: 3 })), 'notEnoughSets', 'not onto a draining set');
  apply(m, { kind: 'setSetState', setId: 3, state: 'active' });
  const before = m.listSets().map((s) => s.entities);
  assert.equal(entityOf(apply(m, { kind: 'growShards', name: 'q', shards: 3 })).change?.type, 'grow');
  assert.deepEqual(entityOf(apply(m, { kind: 'abortMove', type: 'queue', name: 'q' })), { type: 'queue', name: 'q', shards: [1, 2], version: 1, change: undefined });
  assert.deepEqual(m.listSets().map((s) => s.entities), before);
  assert.equal(errorOf(apply(m, { kind: 'confirmShard', name: 'q', shard: 2 })), 'routeChangeNotExist');
});

test('listRoutes: one kind, by prefix, in name order, paged', () => {
  const m = withSets(2);
  for (const name of ['b-2', 'a-1', 'b-1', 'c', 'b-3']) apply(m, { kind: 'createEntity', type: 'queue', name });
  apply(m, { kind: 'createEntity', type: 'topic', name: 'b-0' });
  const res = m.read({ kind: 'listRoutes', type: 'queue', prefix: 'b-', offset: 1, limit: 5 });
  assert.ok(res.ok && res.kind === 'routes');
  assert.equal(res.totalCount, 3);
  assert.deepEqual(res.entities.map((e) => e.name), ['b-2', 'b-3']);
  assert.equal(res.routeEpoch, 6);
  const all = m.read({ kind: 'listRoutes', type: 'topic', prefix: '', offset: 0, limit: 1000 });
  assert.ok(all.ok && all.kind === 'routes');
  assert.deepEqual(all.entities.map((e) => e.name), ['b-0']);
  assert.equal(errorOf(m.read({ kind: 'listRoutes', type: 'queue', prefix: '', offset: -1, limit: 5 })), 'paramOutOfRange');
  assert.equal(errorOf(m.read({ kind: 'listRoutes', type: 'queue', prefix: '', offset: 0, limit: 0 })), 'paramOutOfRange');
  assert.equal(errorOf(m.read({ kind: 'listRoutes', type: 'queue', prefix: '', offset: 0, limit: 1001 })), 'paramOutOfRange');
  const sets = m.read({ kind: 'listSets' });
  assert.ok(sets.ok && sets.kind === 'sets');
  assert.deepEqual(sets.sets.map((s) => s.entities), [3, 3]);
});

test('results are copies: changing one does not change the state', () => {
  const m = withSets(2);
  const e = entityOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'q' }));
  e.shards[0] = 2;
  m.listSets()[0]!.members.length = 0;
  assert.deepEqual(route(m, 'q').shards, [1]);
  assert.equal(m.listSets()[0]!.members.length, 3);
});

function adoptedOf(res: ControllerResult): Extract<ControllerResult, { kind: 'adopted' }> {
  assert.ok(res.ok && res.kind === 'adopted', JSON.stringify(res));
  return res;
}

test('createEntity with setId: on that set whatever the load; unknown, draining, bad ids and more than one shard are refused', () => {
  const m = withSets(3);
  apply(m, { kind: 'reportLoad', setId: 3, queues: 0, messages: 0, bytes: 1_000_000, requestsPerSecond: 500 });
  // Placement would pick set 1 (idle, lowest id); setId 3 puts it beside whatever lives there.
  assert.deepEqual(entityOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'orders-dlq', setId: 3 })), { type: 'queue', name: 'orders-dlq', shards: [3], version: 1, change: undefined });
  assert.deepEqual(entityOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'orders', setId: 3, shards: 1 })).shards, [3]);
  assert.deepEqual(entityOf(apply(m, { kind: 'createEntity', type: 'topic', name: 'news', setId: 2 })).shards, [2]);
  assert.deepEqual(m.listSets().map((s) => s.entities), [0, 1, 2]);
  assert.equal(m.epoch, 3);
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'x', setId: 9 })), 'setNotExist');
  for (const setId of [0, -1, 1.5, 2 ** 32, Number.NaN]) assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'x', setId })), 'paramOutOfRange');
  const sharded = apply(m, { kind: 'createEntity', type: 'queue', name: 'x', setId: 1, shards: 2 });
  assert.equal(errorOf(sharded), 'paramOutOfRange');
  assert.ok(!sharded.ok && sharded.arg === 'setId' && /placed by the controller/.test(sharded.detail ?? ''), JSON.stringify(sharded));
  apply(m, { kind: 'setSetState', setId: 2, state: 'draining' });
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'x', setId: 2 })), 'setNotActive');
  // A name taken is queueExists before the set is looked at (the create changes nothing either way).
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'ORDERS', setId: 9 })), 'queueExists');
  assert.equal(m.epoch, 3, 'refusals change no route');
  assert.deepEqual(m.listSets().map((s) => s.entities), [0, 1, 2]);
});

test('adoptEntities: unrouted ones are routed to the set, each its own route change; ones already there are fine; ones elsewhere are conflicts left alone', () => {
  const m = withSets(3);
  apply(m, { kind: 'createEntity', type: 'queue', name: 'here', setId: 2 }); // epoch 1
  apply(m, { kind: 'createEntity', type: 'queue', name: 'there', setId: 3 }); // epoch 2
  apply(m, { kind: 'createEntity', type: 'topic', name: 'Mixed', setId: 2 }); // epoch 3
  const res = adoptedOf(
    apply(m, {
      kind: 'adoptEntities',
      setId: 2,
      entities: [
        { type: 'queue', name: 'new-1' },
        { type: 'queue', name: 'here' },
        { type: 'queue', name: 'there' },
        { type: 'topic', name: 'new-1' },
        { type: 'topic', name: 'mixed' },
        { type: 'queue', name: 'new-1' },
      ],
    }),
  );
  assert.deepEqual(res, {
    ok: true,
    kind: 'adopted',
    adopted: 2,
    conflicts: [
      { type: 'queue', name: 'there', setId: 3 },
      // Same set, but the controller's name differs in case: lookups are exact, so neither reaches the other.
      { type: 'topic', name: 'Mixed', setId: 2 },
    ],
    routeEpoch: 5,
  });
  assert.deepEqual(route(m, 'new-1'), { type: 'queue', name: 'new-1', shards: [2], version: 4, change: undefined });
  assert.deepEqual(route(m, 'new-1', 'topic'), { type: 'topic', name: 'new-1', shards: [2], version: 5, change: undefined });
  assert.deepEqual(route(m, 'there').shards, [3], 'a conflict leaves the route as it was');
  assert.equal(route(m, 'here').version, 1);
  assert.deepEqual(m.listSets().map((s) => s.entities), [0, 4, 1]);
  // The same report again changes nothing.
  const again = adoptedOf(apply(m, { kind: 'adoptEntities', setId: 2, entities: [{ type: 'queue', name: 'new-1' }, { type: 'queue', name: 'here' }] }));
  assert.deepEqual(again, { ok: true, kind: 'adopted', adopted: 0, conflicts: [], routeEpoch: 5 });
  assert.deepEqual(adoptedOf(apply(m, { kind: 'adoptEntities', setId: 1, entities: [] })), { ok: true, kind: 'adopted', adopted: 0, conflicts: [], routeEpoch: 5 });
});

test('adoptEntities: a queue moving or growing onto the set is not a conflict; a draining set adopts, an unknown one is refused', () => {
  const m = withSets(3);
  apply(m, { kind: 'createEntity', type: 'queue', name: 'moving', setId: 1 });
  apply(m, { kind: 'beginMove', type: 'queue', name: 'moving', to: 3 });
  apply(m, { kind: 'createEntity', type: 'queue', name: 'growing', setId: 1 });
  assert.deepEqual(entityOf(apply(m, { kind: 'growShards', name: 'growing', shards: 2 })).change, { type: 'grow', startedAtMs: 1000, pending: [{ shard: 1, set: 2, confirmed: false }] });
  assert.deepEqual(adoptedOf(apply(m, { kind: 'adoptEntities', setId: 3, entities: [{ type: 'queue', name: 'moving' }] })).conflicts, []);
  assert.deepEqual(adoptedOf(apply(m, { kind: 'adoptEntities', setId: 2, entities: [{ type: 'queue', name: 'growing' }] })).conflicts, []);
  assert.deepEqual(adoptedOf(apply(m, { kind: 'adoptEntities', setId: 2, entities: [{ type: 'queue', name: 'moving' }] })).conflicts, [{ type: 'queue', name: 'moving', setId: 1 }]);
  apply(m, { kind: 'setSetState', setId: 3, state: 'draining' });
  const drained = adoptedOf(apply(m, { kind: 'adoptEntities', setId: 3, entities: [{ type: 'topic', name: 'old-data' }] }));
  assert.equal(drained.adopted, 1, 'its data is there already, so it gets a route even while draining');
  assert.deepEqual(route(m, 'old-data', 'topic').shards, [3]);
  const epoch = m.epoch;
  assert.equal(errorOf(apply(m, { kind: 'adoptEntities', setId: 9, entities: [{ type: 'queue', name: 'x' }] })), 'setNotExist');
  for (const setId of [0, 1.5, 2 ** 32]) assert.equal(errorOf(apply(m, { kind: 'adoptEntities', setId, entities: [{ type: 'queue', name: 'x' }] })), 'paramOutOfRange');
  assert.equal(m.epoch, epoch);
});

test('adoptEntities: at most CONTROLLER_LIMITS.adoptMax per command, and one bad name refuses the whole command', () => {
  const m = withSets(2);
  const many = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'queue' as const, name: `q-${i}` }));
  const over = apply(m, { kind: 'adoptEntities', setId: 1, entities: many(CONTROLLER_LIMITS.adoptMax + 1) });
  assert.equal(errorOf(over), 'paramOutOfRange');
  assert.ok(!over.ok && over.arg === 'entities');
  assert.equal(m.epoch, 0);
  assert.equal(adoptedOf(apply(m, { kind: 'adoptEntities', setId: 1, entities: many(CONTROLLER_LIMITS.adoptMax) })).adopted, CONTROLLER_LIMITS.adoptMax);
  assert.equal(m.epoch, CONTROLLER_LIMITS.adoptMax);
  assert.equal(errorOf(apply(m, { kind: 'adoptEntities', setId: 2, entities: [{ type: 'topic', name: 'fine' }, { type: 'topic', name: 'not fine' }] })), 'topicNameFormat');
  assert.equal(errorOf(apply(m, { kind: 'adoptEntities', setId: 2, entities: [{ type: 'queue', name: 'x'.repeat(81) }] })), 'queueNameFormat');
  assert.equal(errorOf(m.read({ kind: 'getRoute', type: 'topic', name: 'fine' })), 'topicNotExist', 'nothing of a refused command is adopted');
});

test('adopted routes survive a snapshot: same routes, versions, counts and epoch after restore', () => {
  const m = withSets(2);
  apply(m, { kind: 'createEntity', type: 'queue', name: 'made' });
  adoptedOf(apply(m, { kind: 'adoptEntities', setId: 2, entities: [{ type: 'queue', name: 'old-a' }, { type: 'topic', name: 'old-b' }, { type: 'queue', name: 'made' }] }));
  const r = ControllerStateMachine.restore(m.snapshot());
  assert.ok(r);
  assert.equal(r.epoch, 3);
  assert.deepEqual(r.listSets(), m.listSets());
  assert.deepEqual(r.listSets().map((s) => s.entities), [1, 2]);
  assert.deepEqual(route(r, 'old-a'), { type: 'queue', name: 'old-a', shards: [2], version: 2, change: undefined });
  assert.deepEqual(route(r, 'old-b', 'topic'), { type: 'topic', name: 'old-b', shards: [2], version: 3, change: undefined });
  assert.deepEqual(r.snapshot(), m.snapshot());
});

test('listChanges: the moves and growths under way, oldest first (ties: queues, then by name), paged; finished and aborted ones drop out', () => {
  const m = withSets(4);
  for (const name of ['idle', 'mv-b', 'mv-a', 'grow', 'gone']) apply(m, { kind: 'createEntity', type: 'queue', name, setId: 1 });
  apply(m, { kind: 'createEntity', type: 'topic', name: 'mv-a', setId: 1 });
  apply(m, { kind: 'beginMove', type: 'queue', name: 'grow', to: 2 }, 1000);
  apply(m, { kind: 'abortMove', type: 'queue', name: 'grow' }, 1000);
  apply(m, { kind: 'beginMove', type: 'queue', name: 'gone', to: 2 }, 1500);
  apply(m, { kind: 'advanceMove', type: 'queue', name: 'gone' }, 1600);
  apply(m, { kind: 'completeMove', type: 'queue', name: 'gone' }, 1700);
  // Three moves begun by one entry time, the one begun last by name first.
  apply(m, { kind: 'beginMove', type: 'topic', name: 'mv-a', to: 3 }, 2000);
  apply(m, { kind: 'beginMove', type: 'queue', name: 'mv-b', to: 2 }, 2000);
  apply(m, { kind: 'beginMove', type: 'queue', name: 'mv-a', to: 4 }, 2000);
  apply(m, { kind: 'advanceMove', type: 'queue', name: 'mv-a' }, 2500);
  apply(m, { kind: 'growShards', name: 'grow', shards: 3 }, 3000);
  apply(m, { kind: 'confirmShard', name: 'grow', shard: 2 }, 3500);
  const all = m.read({ kind: 'listChanges', offset: 0, limit: 1000 });
  assert.ok(all.ok && all.kind === 'routes', JSON.stringify(all));
  assert.equal(all.totalCount, 4);
  assert.equal(all.routeEpoch, m.epoch);
  assert.deepEqual(
    all.entities.map((e) => [e.type, e.name, e.shards, e.change]),
    [
      ['queue', 'mv-a', [1], { type: 'move', shard: 0, from: 1, to: 4, phase: 'cutover', startedAtMs: 2000 }],
      ['queue', 'mv-b', [1], { type: 'move', shard: 0, from: 1, to: 2, phase: 'copying', startedAtMs: 2000 }],
      ['topic', 'mv-a', [1], { type: 'move', shard: 0, from: 1, to: 3, phase: 'copying', startedAtMs: 2000 }],
      ['queue', 'grow', [1], { type: 'grow', pending: [{ shard: 1, set: 3, confirmed: false }, { shard: 2, set: 4, confirmed: true }], startedAtMs: 3000 }],
    ],
  );
  const page = m.read({ kind: 'listChanges', offset: 1, limit: 2 });
  assert.ok(page.ok && page.kind === 'routes');
  assert.equal(page.totalCount, 4, 'the count covers every change, not the page');
  assert.deepEqual(page.entities.map((e) => `${e.type}:${e.name}`), ['queue:mv-b', 'topic:mv-a']);
  // A listed entity is a copy: changing it leaves the machine's change alone.
  all.entities[0]!.change = undefined;
  assert.equal(route(m, 'mv-a').change?.type, 'move');
  assert.equal(errorOf(m.read({ kind: 'listChanges', offset: -1, limit: 5 })), 'paramOutOfRange');
  assert.equal(errorOf(m.read({ kind: 'listChanges', offset: 0, limit: 0 })), 'paramOutOfRange');
  assert.equal(errorOf(m.read({ kind: 'listChanges', offset: 0, limit: CONTROLLER_LIMITS.listLimitMax + 1 })), 'paramOutOfRange');
  apply(m, { kind: 'completeMove', type: 'queue', name: 'mv-a' }, 4000);
  apply(m, { kind: 'abortMove', type: 'topic', name: 'mv-a' }, 4000);
  apply(m, { kind: 'confirmShard', name: 'grow', shard: 1 }, 4000);
  const left = m.read({ kind: 'listChanges', offset: 0, limit: 10 });
  assert.ok(left.ok && left.kind === 'routes');
  assert.deepEqual([left.totalCount, left.entities.map((e) => e.name)], [1, ['mv-b']]);
});
