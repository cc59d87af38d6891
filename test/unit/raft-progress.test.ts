// The leader's per-peer bookkeeping: the in-flight window (count and bytes), probe/replicate
// transitions, stale rejections, and the majority computation behind commit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftInvariantError } from '../../src/raft/assert';
import { applyChange, majorityValue, Membership, quorum } from '../../src/raft/membership';
import { Inflights, Progress } from '../../src/raft/progress';

test('Inflights: full by count or by bytes; acknowledgements free the oldest first', () => {
  const byCount = new Inflights(3, 1_000_000);
  byCount.add(5, 10);
  byCount.add(9, 10);
  byCount.add(12, 10);
  assert.equal(byCount.full(), true);
  assert.throws(() => byCount.add(13, 1), RaftInvariantError);
  byCount.freeLE(9);
  assert.equal(byCount.count, 1);
  assert.equal(byCount.full(), false);
  const byBytes = new Inflights(100, 1000);
  byBytes.add(1, 600);
  assert.equal(byBytes.full(), false);
  byBytes.add(2, 600);
  assert.equal(byBytes.full(), true, 'over the byte budget');
  byBytes.freeFirst();
  assert.equal(byBytes.bytes, 600);
  assert.throws(() => byBytes.add(2, 1), RaftInvariantError, 'indexes must increase');
});

test('Progress: probe -> replicate on a match, back to probe on a rejection; stale rejections are ignored', () => {
  const pr = new Progress(11, 4, 1 << 20);
  assert.equal(pr.state, 'probe');
  pr.probeSent = true;
  assert.equal(pr.isPaused(), true, 'one probe at a time');
  assert.equal(pr.maybeDecrTo(7, 5), false, 'answers a probe we did not send (next - 1 is 10)');
  assert.equal(pr.maybeDecrTo(10, 5), true);
  assert.equal(pr.nextIndex, 5);
  assert.equal(pr.probeSent, false);
  assert.equal(pr.maybeUpdate(8), true);
  pr.becomeReplicate();
  assert.equal(pr.nextIndex, 9);
  pr.inflights.add(12, 100);
  pr.nextIndex = 13;
  assert.equal(pr.maybeDecrTo(8, 1), false, 'a rejection at or below matchIndex is stale');
  assert.equal(pr.maybeDecrTo(12, 1), true);
  assert.equal(pr.nextIndex, 9, 'replicate falls back to matchIndex + 1');
  pr.becomeSnapshot(40);
  assert.equal(pr.isPaused(), true);
  pr.becomeProbe();
  assert.equal(pr.nextIndex, 41, 'after a snapshot, resume right after it');
});

test('majority: the value a quorum has reached', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(quorum), [1, 2, 2, 3, 3, 4]);
  const match: Record<string, number> = { a: 9, b: 4, c: 7, d: 1, e: 7 };
  assert.equal(majorityValue(['a', 'b', 'c'], (id) => match[id]!), 7);
  assert.equal(majorityValue(['a', 'b', 'c', 'd'], (id) => match[id]!), 4);
  assert.equal(majorityValue(['a', 'b', 'c', 'd', 'e'], (id) => match[id]!), 7);
});

test('membership: changes produce full voter sets; truncation undoes them; votersAt looks back', () => {
  assert.deepEqual(applyChange(['a', 'b'], { type: 'addVoter', node: 'c' }), ['a', 'b', 'c']);
  assert.equal(applyChange(['a'], { type: 'removeVoter', node: 'a' }), 'cannot remove the last voter');
  const m = new Membership({ index: 0, voters: ['c', 'a', 'b'] });
  m.append(5, ['a', 'b', 'c', 'd']);
  m.append(9, ['a', 'b', 'd']);
  assert.deepEqual(m.voters, ['a', 'b', 'd']);
  assert.deepEqual(m.votersAt(7), ['a', 'b', 'c', 'd']);
  assert.deepEqual(m.votersAt(4), ['a', 'b', 'c']);
  m.truncateFrom(6);
  assert.deepEqual(m.voters, ['a', 'b', 'c', 'd']);
  m.compact(5);
  assert.deepEqual(m.votersAt(5), ['a', 'b', 'c', 'd']);
  assert.throws(() => m.append(5, ['a']), RaftInvariantError);
});
