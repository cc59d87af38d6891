// A checker that cannot fail proves nothing: run the simulator against deliberately broken
// variants and require that each is caught within a few seeds, by the property it breaks.
// (Commit-by-count, Raft's Figure 8, is too rare for random search: raft-commit.test.ts stages it.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSimulation, type SimBug, type SimResult } from '../sim/simulator';

function firstFailure(bug: SimBug, maxSeeds: number): SimResult | undefined {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const r = runSimulation({ seed, steps: 3000, bug });
    if (!r.ok) return r;
  }
  return undefined;
}

test('a follower that votes twice in a term is caught: two leaders in one term', () => {
  const r = firstFailure('voteTwice', 30);
  assert.ok(r, 'no seed caught it');
  assert.match(`${r.failure!.check} ${r.failure!.message}`, /electionSafety|two leaders in term/);
  assert.match(r.replay, /--bug voteTwice/);
});

test('a driver that reads without ReadIndex confirmation is caught: a stale read', () => {
  const r = firstFailure('readWithoutQuorum', 30);
  assert.ok(r, 'no seed caught it');
  assert.equal(r.failure!.check, 'reads');
});

test('a driver that acknowledges writes before fdatasync is caught after a crash', () => {
  const r = firstFailure('unsyncedWrites', 30);
  assert.ok(r, 'no seed caught it');
  assert.match(`${r.failure!.check} ${r.failure!.message}`, /durability|stateMachineSafety|logMatching|invariant/);
});
