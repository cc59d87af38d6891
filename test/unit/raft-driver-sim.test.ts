// The CI batch of the Raft-level workload (test/sim/raft-driver-sim.ts): the shipped RaftDriver
// with the real WAL, hard state, snapshot store and snapshot transfer, on simulated disks, network
// and time, with a toy state machine, crashes, whole-set power failures, partitions, weather,
// leader transfers, membership changes and compaction, checked by the Raft checkers. More seeds:
// `node dist/test/sim/run.js --seeds 1000` (add `--intensity 3`). A checker that
// cannot fail proves nothing, so deliberately broken variants must be caught too.
// (Commit-by-count, Raft's Figure 8, is too rare for random search: raft-commit.test.ts stages it.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runRaftDriverSimulation, type RaftDriverSimBug, type RaftDriverSimResult, type RaftDriverSimStats } from '../sim/raft-driver-sim';

const TIMEOUT_MS = 5 * 60_000;
const SEEDS = 16;

async function batch(from: number, seeds: number, durationMs: number, intensity: number): Promise<{ failures: string[]; stats: RaftDriverSimStats[] }> {
  const failures: string[] = [];
  const stats: RaftDriverSimStats[] = [];
  for (let seed = from; seed < from + seeds; seed++) {
    const r = await runRaftDriverSimulation({ seed, durationMs, intensity });
    if (!r.ok) failures.push(`seed ${seed}: ${r.failure!.check} at ${r.failure!.atMs} ms: ${r.failure!.message}\n  replay: ${r.replay}`);
    stats.push(r.stats);
  }
  return { failures, stats };
}

function sum(stats: RaftDriverSimStats[], key: keyof RaftDriverSimStats): number {
  return stats.reduce((n, s) => n + s[key], 0);
}

test(`raft-driver simulation: ${SEEDS} seeds x 20 s keep every Raft property and converge after healing`, { timeout: TIMEOUT_MS }, async () => {
  const { failures, stats } = await batch(1, SEEDS, 20_000, 1);
  assert.deepEqual(failures, []);
  // The batch must exercise what it claims to.
  const atLeast = (key: keyof RaftDriverSimStats, n: number): void => assert.ok(sum(stats, key) >= n, `only ${sum(stats, key)} ${key}`);
  atLeast('acked', SEEDS * 500);
  atLeast('readsAnswered', SEEDS * 50);
  atLeast('elections', SEEDS * 3);
  atLeast('crashes', SEEDS * 2);
  atLeast('powerFailures', 1);
  atLeast('lostWrites', 1);
  atLeast('replayed', SEEDS * 100);
  atLeast('partitions', SEEDS);
  atLeast('transfers', 10);
  atLeast('configChanges', 10);
  atLeast('truncations', 10);
  atLeast('snapshotsTaken', SEEDS * 5);
  atLeast('snapshotsInstalled', 10);
  atLeast('segmentsReleased', SEEDS);
  const fiveMembers = stats.filter((s) => s.nodes === 5).length;
  assert.ok(fiveMembers > 0 && fiveMembers < SEEDS, `${fiveMembers} five-member runs`);
  const shortTimers = stats.filter((s) => s.tickMs === 10).length;
  assert.ok(shortTimers > 0 && shortTimers < SEEDS, `${shortTimers} runs with short timers`);
});

test('raft-driver simulation: 10 seeds x 15 s at three times the fault rate', { timeout: TIMEOUT_MS }, async () => {
  const { failures, stats } = await batch(1001, 10, 15_000, 3);
  assert.deepEqual(failures, []);
  assert.ok(sum(stats, 'crashes') >= 30, `only ${sum(stats, 'crashes')} crashes`);
});

test('raft-driver simulation runs are reproducible: the same seed writes the same bytes to every disk', { timeout: TIMEOUT_MS }, async () => {
  const a = await runRaftDriverSimulation({ seed: 5, durationMs: 8000, intensity: 3 });
  const b = await runRaftDriverSimulation({ seed: 5, durationMs: 8000, intensity: 3 });
  assert.ok(a.ok, a.failure?.message);
  assert.ok(a.stats.crashes > 0 && a.stats.acked > 0, 'the run does something worth replaying');
  assert.equal(a.digest, b.digest);
  assert.deepEqual(a.stats, b.stats);
  const c = await runRaftDriverSimulation({ seed: 6, durationMs: 8000, intensity: 3 });
  assert.notEqual(c.digest, a.digest, 'another seed, another run');
  assert.equal(a.replay, 'node dist/test/sim/run.js --seed 5 --duration-ms 8000 --intensity 3');
});

// ---- deliberately broken variants --------------------------------------------------------------

async function firstFailure(bug: RaftDriverSimBug, maxSeeds: number): Promise<RaftDriverSimResult | undefined> {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const r = await runRaftDriverSimulation({ seed, durationMs: 15_000, bug, intensity: 2 });
    if (!r.ok) return r;
  }
  return undefined;
}

test('a core that grants two votes in one term is caught: two leaders in one term', { timeout: TIMEOUT_MS }, async () => {
  const r = await firstFailure('voteTwice', 10);
  assert.ok(r, 'no seed caught it');
  assert.equal(r.failure!.check, 'electionSafety');
  assert.match(r.replay, /run\.js --seed \d+ --duration-ms 15000 --bug voteTwice --intensity 2$/);
});

test('a driver whose read barrier does not wait for ReadIndex is caught: a stale read', { timeout: TIMEOUT_MS }, async () => {
  const r = await firstFailure('readWithoutQuorum', 5);
  assert.ok(r, 'no seed caught it');
  assert.equal(r.failure!.check, 'reads');
});

test('a disk that acknowledges fdatasync without persisting is caught after power losses', { timeout: TIMEOUT_MS }, async () => {
  const r = await firstFailure('unsyncedWrites', 5);
  assert.ok(r, 'no seed caught it');
  // The WAL finds the holes and refuses to start, or what was promised is gone.
  assert.match(r.failure!.check, /startFailure|recovery|durability|stateMachineSafety|electionSafety/);
});
