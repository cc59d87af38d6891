// The CI batch of the deterministic simulator (test/sim/simulator.ts): fixed seeds, each a few
// thousand steps of faults, client traffic and membership changes, every checker on. More seeds:
// `node dist/test/sim/run.js --seeds 1000` (add `--intensity 3` for harsher weather).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSimulation, type SimStats } from '../sim/simulator';

function batch(from: number, seeds: number, steps: number, intensity: number): { failures: string[]; total: SimStats[] } {
  const failures: string[] = [];
  const total: SimStats[] = [];
  for (let seed = from; seed < from + seeds; seed++) {
    const r = runSimulation({ seed, steps, intensity });
    if (!r.ok) failures.push(`seed ${seed}: ${r.failure!.check} at step ${r.failure!.step}: ${r.failure!.message}\n  replay: ${r.replay}`);
    total.push(r.stats);
  }
  return { failures, total };
}

function sum(stats: SimStats[], key: keyof SimStats): number {
  return stats.reduce((n, s) => n + s[key], 0);
}

test('simulator: 40 seeds x 5000 steps keep every safety property and converge after healing', () => {
  const { failures, total } = batch(1, 40, 5000, 1);
  assert.deepEqual(failures, []);
  // The batch must actually exercise what it claims to.
  assert.ok(sum(total, 'acked') > 40 * 500, `${sum(total, 'acked')} acknowledged proposals`);
  assert.ok(sum(total, 'elections') > 60, `${sum(total, 'elections')} elections`);
  assert.ok(sum(total, 'crashes') > 60, `${sum(total, 'crashes')} crashes`);
  assert.ok(sum(total, 'tornWrites') > 30, `${sum(total, 'tornWrites')} torn writes`);
  assert.ok(sum(total, 'truncations') > 10, `${sum(total, 'truncations')} truncations`);
  assert.ok(sum(total, 'snapshotsSent') > 30, `${sum(total, 'snapshotsSent')} snapshots sent`);
  assert.ok(sum(total, 'configChanges') > 10, `${sum(total, 'configChanges')} config changes`);
  assert.ok(sum(total, 'transfers') > 10, `${sum(total, 'transfers')} transfers`);
  assert.ok(sum(total, 'fetchesLost') > 0, `${sum(total, 'fetchesLost')} lost loads`);
  assert.ok(sum(total, 'readsAnswered') > 40 * 100, `${sum(total, 'readsAnswered')} reads answered`);
  const fiveNode = total.filter((s) => s.nodes === 5).length;
  assert.ok(fiveNode > 0 && fiveNode < 40, `${fiveNode} five-node runs`);
});

test('simulator: 20 seeds x 4000 steps at three times the fault rate', () => {
  const { failures } = batch(1001, 20, 4000, 3);
  assert.deepEqual(failures, []);
});

test('simulator runs are reproducible: the same seed gives the same run', () => {
  const a = runSimulation({ seed: 7, steps: 1500 });
  const b = runSimulation({ seed: 7, steps: 1500 });
  assert.deepEqual(a.stats, b.stats);
  assert.equal(a.replay, 'node dist/test/sim/run.js --seed 7 --steps 1500');
});
