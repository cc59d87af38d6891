// The CI batch of the queue-level simulation (test/sim/queue-sim.ts): the real QueueStateMachine on
// every replica of a simulated Raft set, with crashes, partitions, torn writes and bit flips, and
// client-level checkers. More seeds: `npm run sim -- --queue --seeds 500` (add `--intensity 3`).
// A checker that cannot fail proves nothing, so deliberately broken drivers must be caught too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runQueueSimulation, type QueueSimBug, type QueueSimResult, type QueueSimStats } from '../sim/queue-sim';
import { bodyFor, bodyIdOf, QueueCheckFailure, QueueHistory, type Delivery } from '../sim/queue-history';

const SEEDS = 8;
const STEPS = 2500;

function sum(stats: QueueSimStats[], key: keyof QueueSimStats): number {
  return stats.reduce((n, s) => n + s[key], 0);
}

test(`queue simulation: ${SEEDS} seeds x ${STEPS} steps keep every queue property and drain after healing`, () => {
  const failures: string[] = [];
  const stats: QueueSimStats[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = runQueueSimulation({ seed, steps: STEPS });
    if (!r.ok) failures.push(`seed ${seed}: ${r.failure!.check} at step ${r.failure!.step}: ${r.failure!.message}\n  replay: ${r.replay}`);
    stats.push(r.stats);
  }
  assert.deepEqual(failures, []);
  // The batch must exercise what it claims to.
  const atLeast = (key: keyof QueueSimStats, n: number): void => assert.ok(sum(stats, key) >= n, `only ${sum(stats, key)} ${key}`);
  atLeast('ackedSends', SEEDS * 200);
  atLeast('redeliveries', SEEDS * 50);
  atLeast('deletes', SEEDS * 200);
  atLeast('ticks', SEEDS * 20);
  atLeast('crashes', SEEDS);
  atLeast('elections', SEEDS * 2);
  atLeast('tornWrites', 3);
  atLeast('snapshotsInstalled', 3);
  atLeast('compactions', SEEDS * 5);
  atLeast('fetches', 10);
  atLeast('bitFlips', SEEDS * 5);
  atLeast('damagedBodiesFound', 3);
  atLeast('quarantined', 3);
  atLeast('damagedAtRecovery', 3);
  atLeast('corruptionStops', 1);
  atLeast('truncations', 1);
  atLeast('visibilityChanges', 3);
});

test('queue simulation runs are reproducible: the same seed gives the same run', () => {
  const a = runQueueSimulation({ seed: 11, steps: 800 });
  const b = runQueueSimulation({ seed: 11, steps: 800 });
  assert.ok(a.ok, a.failure?.message);
  assert.deepEqual(a.stats, b.stats);
  assert.equal(a.replay, 'node dist/test/sim/run.js --queue --seed 11 --steps 800');
});

function firstFailure(bug: QueueSimBug, maxSeeds: number): QueueSimResult | undefined {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const r = runQueueSimulation({ seed, steps: 2000, bug });
    if (!r.ok) return r;
  }
  return undefined;
}

test('a follower that answers receives from its own state is caught: a message delivered twice within its visibility timeout', () => {
  const r = firstFailure('followerReceive', 5);
  assert.ok(r, 'no seed caught it');
  assert.match(r.failure!.check, /doubleDelivery|deletedRedelivered/);
  assert.match(r.replay, /--queue --seed \d+ --steps 2000 --bug followerReceive$/);
});

test('a driver that acknowledges sends before they commit is caught: acknowledged messages lost', () => {
  const r = firstFailure('ackBeforeCommit', 5);
  assert.ok(r, 'no seed caught it');
  assert.equal(r.failure!.check, 'lostMessage');
});

test('a driver that skips the per-body CRC32C is caught: a flipped bit reaches a consumer', () => {
  const r = firstFailure('skipBodyCrc', 5);
  assert.ok(r, 'no seed caught it');
  assert.equal(r.failure!.check, 'integrity');
});

// ---- the history checker on hand-made histories ------------------------------------------------

function history(): QueueHistory {
  const h = new QueueHistory(new Map([['q', 1000]]));
  h.sendCommitted(10, 1000, 'q', 0, ['160', '161'], [1, 2]);
  h.sendAcked([1, 2]);
  return h;
}

function delivery(index: number, timeMs: number, handle: string, source: Delivery['source'] = 'log'): Delivery {
  return { msgId: '160', queue: 'q', handle, index, timeMs, source, node: 'n1' };
}

function failsWith(check: string, fn: () => void): void {
  assert.throws(fn, (err: unknown) => err instanceof QueueCheckFailure && err.check === check);
}

test('history: a redelivery within the visibility timeout is a double delivery; after it, fine', () => {
  const h = history();
  h.delivered(delivery(11, 1100, 'a'), 1, 0);
  h.delivered(delivery(20, 2100, 'b'), 1, 0);
  failsWith('doubleDelivery', () => h.delivered(delivery(21, 2500, 'c'), 1, 0));
  // Out of index order (a delivery served outside the log, seen late) is checked against both neighbours.
  failsWith('doubleDelivery', () => h.delivered(delivery(15.5, 1200, 'd', 'local'), 1, 0));
});

test('history: a delete must use the latest handle within its visibility; deleted stays deleted', () => {
  const h = history();
  h.delivered(delivery(11, 1100, 'a'), 1, 0);
  failsWith('staleDelete', () => h.deleteCommitted(12, 2100, ['a']));
  h.delivered(delivery(13, 2200, 'b'), 1, 0);
  failsWith('staleDelete', () => h.deleteCommitted(14, 2300, ['a']));
  h.deleteCommitted(14, 2300, ['b']);
  failsWith('deletedRedelivered', () => h.delivered(delivery(15, 9000, 'c'), 1, 0));
});

test('history: an acknowledged message never delivered is lost unless its body was found damaged', () => {
  const h = history();
  h.delivered(delivery(11, 1100, 'a'), 1, 0);
  h.clientDelivery('n1', '160', 'a', bodyFor(1));
  failsWith('lostMessage', () => h.checkNothingLost());
  h.delivered({ ...delivery(12, 1200, 'b'), msgId: '161' }, 1, 1);
  failsWith('falseQuarantine', () => h.quarantineCommitted(13, 1, 1));
  h.damaged('161');
  h.quarantineCommitted(13, 1, 1);
  h.checkNothingLost();
});

test('history: a damaged or misattributed body reaching a client is an integrity failure', () => {
  const h = history();
  h.delivered(delivery(11, 1100, 'a'), 1, 0);
  const damaged = Uint8Array.from(bodyFor(1));
  const last = damaged.length - 1;
  damaged[last] = damaged[last]! ^ 1;
  assert.equal(bodyIdOf(damaged), undefined);
  failsWith('integrity', () => h.clientDelivery('n1', '160', 'a', damaged));
  failsWith('integrity', () => h.clientDelivery('n1', '160', 'a', bodyFor(2)));
  failsWith('delay', () => h.delivered({ ...delivery(9, 900, 'x'), msgId: '161' }, 1, 1));
});
