// The CI batch of the multi-set simulation (test/sim/multiset-sim.ts): three sets of three real
// members and a controller on set 1's, each wired by the server's own cluster wiring, on simulated
// disks, network and time, with crashes (the controller's leader too), partitions and freezes;
// clients call any member of any set. More seeds: `npm run sim -- --sets --seeds 200`. A checker
// that cannot fail proves nothing, so a broken access layer or queue mover must be caught too.
// Five queues move live between the sets while this runs (the checks across sets: cross-set-history.ts):
// two plain ones, a dead-letter source, its dead-letter queue and a queue subscribed to a topic
// (the checks of dead letters across sets: dead-letter-history.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runMultiSetSimulation, type MultiSetBug, type MultiSetSimResult, type MultiSetSimStats } from '../sim/multiset-sim';

const SEEDS = 5;
const DURATION_MS = 15_000;
const INTENSITY = 2;
const TIMEOUT_MS = 5 * 60_000;

function sum(stats: MultiSetSimStats[], key: keyof MultiSetSimStats): number {
  return stats.reduce((n, s) => n + (s[key] as number), 0);
}

/** What the batch must exercise, summed over its seeds. */
const COVERAGE: [keyof MultiSetSimStats, number][] = [
  ['ackedSends', SEEDS * 300],
  ['deliveries', SEEDS * 300],
  ['redeliveries', SEEDS * 50],
  ['deletes', SEEDS * 300],
  ['longPolls', SEEDS * 20],
  ['crossSetCallsOk', SEEDS * 300],
  ['ackedPublishes', SEEDS * 10],
  ['remoteTopicDeliveries', SEEDS * 10],
  ['crashes', SEEDS],
  ['controllerLeaderCrashes', 1],
  ['partitions', SEEDS],
  ['freezes', 2],
  ['transfers', 2],
  // A queue deleted and created again mid-run (placed anew), messages stored in it before gone with it.
  ['recreations', SEEDS],
  ['droppedWithQueue', 1],
  // Live moves: started and asked again while running, some back to a set the queue was on, some
  // driven on by a new leader of the source set after a crash hit the set's, the target's or the
  // controller's leader; messages sent over and delivered on both sides; old handles used.
  ['movesStarted', SEEDS * 2],
  ['movesBack', 1],
  ['movesResumed', 1],
  ['moveRetries', SEEDS],
  ['moveSourceLeaderCrashes', 1],
  ['moveTargetLeaderCrashes', 1],
  ['moveControllerLeaderCrashes', 1],
  ['movedCopies', SEEDS * 20],
  ['deliveriesAcrossSets', SEEDS * 5],
  ['sourceHandleDeletesDuringMoves', SEEDS * 5],
  ['oldHandlesRefused', 1],
  // Moves of each kind: a dead-letter source to and from its dead-letter queue's set, the
  // dead-letter queue from a set holding a source, a subscribed queue from its topic's set.
  ['deadLetterSourceMoves', SEEDS],
  ['deadLetterSourceMovesLocal', 2],
  ['deadLetterQueueMoves', SEEDS],
  ['deadLetterQueueMovesFromSource', 2],
  ['subscribedMoves', SEEDS],
  ['subscribedMovesFromTopicSet', 2],
  // Dead letters, locally and across sets (sent there by a source's outbox), and redriven back.
  ['deadLetterSends', SEEDS * 100],
  ['deadLettered', SEEDS * 10],
  ['deadLetteredAcrossSets', SEEDS * 5],
  ['remoteDeadLetters', SEEDS * 5],
  ['redrives', 2],
  ['redriven', 1],
];

test(`multi-set simulation: ${SEEDS} seeds x ${DURATION_MS / 1000} s keep every queue and topic guarantee across three sets`, { timeout: TIMEOUT_MS }, async () => {
  const failures: string[] = [];
  const stats: MultiSetSimStats[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = await runMultiSetSimulation({ seed, durationMs: DURATION_MS, intensity: INTENSITY });
    if (!r.ok) failures.push(`seed ${seed}: ${r.failure!.check} at ${r.failure!.atMs} ms: ${r.failure!.message}\n  replay: ${r.replay}`);
    stats.push(r.stats);
  }
  assert.deepEqual(failures, []);
  const missing = COVERAGE.filter(([key, n]) => sum(stats, key) < n).map(([key, n]) => `${key} ${sum(stats, key)} < ${n}`);
  assert.deepEqual(missing, []);
  // Placement spread the queues over every set, and the growing queue reached three shards.
  for (const s of stats) assert.ok(s.queuesPerSet.every((n) => n > 0), `queues per set ${s.queuesPerSet.join('/')}`);
  assert.ok(stats.some((s) => s.shards === 3), 'no run grew the queue to three shards');
  // Every move started completed (the run fails otherwise; this keeps the counting honest).
  assert.equal(sum(stats, 'movesCompleted'), sum(stats, 'movesStarted'));
});

test('multi-set simulation runs are reproducible: the same seed writes the same bytes to every disk', { timeout: TIMEOUT_MS }, async () => {
  const a = await runMultiSetSimulation({ seed: 21, durationMs: 6000, intensity: 3 });
  const b = await runMultiSetSimulation({ seed: 21, durationMs: 6000, intensity: 3 });
  assert.ok(a.ok, a.failure?.message);
  assert.ok(a.stats.ackedSends > 0 && a.stats.crossSetCallsOk > 0, 'the run does something worth replaying');
  assert.equal(a.digest, b.digest);
  assert.deepEqual(a.stats, b.stats);
  assert.equal(a.replay, 'node dist/test/sim/run.js --sets --seed 21 --duration-ms 6000 --intensity 3');
});

async function firstFailure(bug: MultiSetBug, maxSeeds: number): Promise<MultiSetSimResult | undefined> {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const r = await runMultiSetSimulation({ seed, durationMs: DURATION_MS, intensity: INTENSITY, bug });
    if (!r.ok) return r;
  }
  return undefined;
}

test('an access layer that reports a failed delivery into another set\'s queue as sent is caught: topic messages go missing', { timeout: TIMEOUT_MS }, async () => {
  const caught = await firstFailure('outboxFailureAsSent', 4);
  assert.ok(caught, 'no seed caught it');
  assert.equal(caught.failure!.check, 'topicLost', caught.failure!.message);
  assert.match(caught.replay, /--sets --seed \d+ --duration-ms 15000 --bug outboxFailureAsSent --intensity 2$/);
});

test('a route cache that keeps the first route it learned is caught: after a queue is deleted and created on another set, members that knew it never find it', { timeout: TIMEOUT_MS }, async () => {
  const caught = await firstFailure('firstRouteForever', 6);
  assert.ok(caught, 'no seed caught it');
  // A moved queue's old route kept forever also keeps its source's outbox from sending (never back into the source): the move never ends.
  assert.ok(['staleRoute', 'moveStuck'].includes(caught.failure!.check), `${caught.failure!.check}: ${caught.failure!.message}`);
});

test('a queue move that also sends the messages in flight to the target is caught: the target hands them out within their visibility timeout', { timeout: TIMEOUT_MS }, async () => {
  for (const seed of [1, 2]) {
    const r = await runMultiSetSimulation({ seed, durationMs: DURATION_MS, intensity: INTENSITY, bug: 'moveInFlight' });
    assert.ok(!r.ok, `seed ${seed} did not catch it`);
    assert.equal(r.failure!.check, 'doubleDelivery', r.failure!.message);
    assert.match(r.failure!.message, /^body m\d+ delivered as \S+ \(set \d/, 'caught by the check across sets');
  }
});

test('a queue move that deletes the source while messages are in flight there is caught: those not deleted in time never come back', { timeout: TIMEOUT_MS }, async () => {
  // Seed 1 catches it too (lostMessage), but only when the drain gives up waiting, 120 s of virtual time later.
  const r = await runMultiSetSimulation({ seed: 2, durationMs: DURATION_MS, intensity: INTENSITY, bug: 'moveDeletesBusySource' });
  assert.ok(!r.ok, 'seed 2 did not catch it');
  assert.equal(r.failure!.check, 'unsettled', r.failure!.message);
});

test('a queue move that creates the target without the dead-letter policy is caught: the moved source hands a message out past maxReceiveCount', { timeout: TIMEOUT_MS }, async () => {
  const caught = await firstFailure('moveDropsDeadLetterPolicy', 2);
  assert.ok(caught, 'no seed caught it');
  assert.equal(caught.failure!.check, 'notDeadLettered', caught.failure!.message);
});

test('a move of a dead-letter queue that sends its dead letters as its own is caught: a dead letter is counted against the wrong source', { timeout: TIMEOUT_MS }, async () => {
  const caught = await firstFailure('moveForgetsDeadLetterSource', 3);
  assert.ok(caught, 'no seed caught it');
  assert.equal(caught.failure!.check, 'deadLetterSource', caught.failure!.message);
  assert.match(caught.failure!.message, /as a dead letter of dead$/);
});
