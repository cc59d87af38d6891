// Placement: a new queue or topic goes to the least loaded active set (by the rule in
// src/controller/placement.ts), ties to the lowest set id; the controller's own count of what it
// placed spreads placements made between two load reports; draining sets get nothing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseSets } from '../../src/controller/placement';
import type { SetRecord } from '../../src/controller/model';
import { ControllerStateMachine } from '../../src/controller/state-machine';
import { apply, entityOf, errorOf, members, withSets } from '../helpers/controller-sets';

function report(m: ControllerStateMachine, setId: number, requestsPerSecond: number, bytes: number): void {
  assert.equal(apply(m, { kind: 'reportLoad', setId, queues: 0, messages: 0, bytes, requestsPerSecond }).ok, true);
}

function create(m: ControllerStateMachine, name: string, shards?: number): number[] {
  const cmd = shards === undefined ? { kind: 'createEntity' as const, type: 'queue' as const, name } : { kind: 'createEntity' as const, type: 'queue' as const, name, shards };
  return entityOf(apply(m, cmd)).shards;
}

test('a new queue goes to the set with the lowest request rate and backlog', () => {
  const m = withSets(3);
  report(m, 1, 100, 10_000);
  report(m, 2, 10, 1_000);
  report(m, 3, 50, 5_000);
  assert.deepEqual(create(m, 'q1'), [2]);
});

test('request rate and backlog both count: the set low on both wins over one low on only one', () => {
  const m = withSets(3);
  report(m, 1, 0, 9_000); // idle but a big backlog
  report(m, 2, 90, 0); // no backlog but busy
  report(m, 3, 10, 1_000);
  assert.deepEqual(create(m, 'q1'), [3]);
});

test('ties go to the lowest set id', () => {
  const m = withSets(3);
  assert.deepEqual(create(m, 'q1'), [1]);
  const n = withSets(3);
  for (const id of [1, 2, 3]) report(n, id, 5, 500);
  assert.deepEqual(create(n, 'q1'), [1]);
  // Not the first registered: the lowest id.
  const o = new ControllerStateMachine();
  for (const id of [3, 1, 2]) apply(o, { kind: 'registerSet', setId: id, group: id, members: members(id) });
  assert.deepEqual(create(o, 'q1', 2), [1, 2]);
});

test('placements between two load reports spread over the sets by the controller\'s own count', () => {
  const m = withSets(3);
  for (const id of [1, 2, 3]) report(m, id, 20, 2_000);
  assert.deepEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((n) => create(m, n)[0]), [1, 2, 3, 1, 2, 3]);
  assert.deepEqual(m.listSets().map((s) => s.entities), [2, 2, 2]);
});

test('a busy set still gets nothing while an idle one has fewer than its share', () => {
  const m = withSets(2);
  report(m, 1, 1000, 1_000_000);
  // set 2: (0 + 0 + entityShare)/3 <= 1/3 < set 1's (1 + 1 + 0)/3 whatever its count.
  assert.deepEqual(['a', 'b', 'c'].map((n) => create(m, n)[0]), [2, 2, 2]);
});

test('a set that has not reported yet counts as idle', () => {
  const m = withSets(2);
  report(m, 1, 1, 1);
  assert.deepEqual(create(m, 'q1'), [2]);
});

test('draining sets get nothing new; with none active a create is refused', () => {
  const m = withSets(3);
  report(m, 2, 0, 0);
  report(m, 1, 50, 50);
  report(m, 3, 60, 60);
  assert.equal(apply(m, { kind: 'setSetState', setId: 2, state: 'draining' }).ok, true);
  assert.deepEqual(create(m, 'q1'), [1]);
  assert.deepEqual(create(m, 'q2', 2), [3, 1]);
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'queue', name: 'q3', shards: 3 })), 'notEnoughSets');
  for (const id of [1, 3]) apply(m, { kind: 'setSetState', setId: id, state: 'draining' });
  assert.equal(errorOf(apply(m, { kind: 'createEntity', type: 'topic', name: 't1' })), 'notEnoughSets');
  apply(m, { kind: 'setSetState', setId: 2, state: 'active' });
  assert.deepEqual(entityOf(apply(m, { kind: 'createEntity', type: 'topic', name: 't1' })).shards, [2]);
});

test('K shards go to the K best distinct sets, best first', () => {
  const m = withSets(4);
  report(m, 1, 40, 4_000);
  report(m, 2, 30, 3_000);
  report(m, 3, 10, 1_000);
  report(m, 4, 20, 2_000);
  assert.deepEqual(create(m, 'q1', 3), [3, 4, 2]);
});

test('chooseSets leaves out the excluded sets and returns fewer when not enough qualify', () => {
  const sets: SetRecord[] = [1, 2, 3].map((id) => ({ id, group: id, state: 'active', members: members(id), load: undefined }));
  assert.deepEqual(chooseSets({ sets, entities: () => 0 }, 2, new Set([1])), [2, 3]);
  assert.deepEqual(chooseSets({ sets, entities: () => 0 }, 5, new Set([2])), [1, 3]);
  assert.deepEqual(chooseSets({ sets, entities: (id) => (id === 1 ? 5 : 0) }, 1), [2]);
});
