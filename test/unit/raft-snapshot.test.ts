// Snapshots: log compaction, InstallSnapshot progress for followers that need compacted entries,
// and restarts from a snapshot plus the log after it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftInvariantError } from '../../src/raft/assert';
import type { InstallSnapshotResponse } from '../../src/raft/types';
import { Cluster } from '../sim/harness';
import { entry, Solo } from '../sim/solo';

function settle(c: Cluster, rounds = 5): void {
  for (let i = 0; i < rounds; i++) {
    c.tickAll();
    c.stabilize();
  }
}

function lagging(): Cluster {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.isolate('n3');
  for (let i = 0; i < 30; i++) c.propose('n1', `c${i}`);
  settle(c);
  c.snapshot('n1');
  return c;
}

test('a follower that needs compacted entries receives InstallSnapshot, installs it, and catches up', () => {
  const c = lagging();
  assert.equal(c.raft('n1').status().snapshotIndex, 31);
  c.propose('n1', 'after');
  c.heal();
  settle(c);
  const installs = c.sent.filter((m) => m.type === 'InstallSnapshot' && m.to === 'n3');
  assert.equal(installs.length, 1);
  assert.equal(c.member('n3').storage.snapshot?.meta.index, 31);
  assert.deepEqual(c.applied('n3'), [...Array.from({ length: 30 }, (_, i) => `c${i}`), 'after']);
  assert.deepEqual(c.raft('n1').status().progress.n3!.state, 'replicate');
  const resp = c.sent.find((m): m is InstallSnapshotResponse => m.type === 'InstallSnapshotResponse');
  assert.equal(resp?.matchIndex, 31);
});

test('the follower answers InstallSnapshot only once the snapshot is installed', () => {
  const n = new Solo({ hardState: { term: 1, votedFor: undefined, commitIndex: 0 } });
  n.raft.step({ type: 'InstallSnapshot', from: 'b', to: 'a', term: 1, snapshot: { index: 10, term: 1, voters: ['a', 'b', 'c'] } });
  const rd = n.raft.ready();
  assert.deepEqual(rd.snapshotToInstall, { index: 10, term: 1, voters: ['a', 'b', 'c'] });
  assert.deepEqual(rd.messages, []);
  assert.throws(() => n.raft.advance(rd), RaftInvariantError, 'advance before snapshotInstalled is a driver bug');
});

test('a failed snapshot transfer is retried', () => {
  const c = lagging();
  let dropped = 0;
  c.heal();
  c.dropIf = (m) => m.type === 'InstallSnapshot' && dropped++ === 0;
  settle(c, 10);
  assert.equal(c.sent.filter((m) => m.type === 'InstallSnapshot').length, 2);
  assert.equal(c.applied('n3').length, 30);
});

test('InstallSnapshot of entries the follower already holds only advances its commitIndex', () => {
  const log = [1, 2, 3, 4, 5].map((i) => entry(i, 1));
  const n = new Solo({ log, hardState: { term: 1, votedFor: undefined, commitIndex: 0 } });
  const out = n.step({ type: 'InstallSnapshot', from: 'b', to: 'a', term: 1, snapshot: { index: 3, term: 1, voters: ['a', 'b', 'c'] } });
  assert.ok(n.readies.every((r) => r.snapshotToInstall === undefined));
  assert.equal(n.raft.status().commitIndex, 3);
  assert.equal(n.raft.status().lastIndex, 5);
  assert.deepEqual(out.map((m) => m.type === 'InstallSnapshotResponse' && m.matchIndex), [3]);
});

test('a node restarts from its snapshot plus the log after it and re-applies committed entries', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  for (let i = 0; i < 10; i++) c.propose('n1', `a${i}`);
  settle(c);
  c.snapshot('n2');
  for (let i = 0; i < 5; i++) c.propose('n1', `b${i}`);
  settle(c);
  const before = [...c.applied('n2')];
  c.crash('n2');
  c.restart('n2');
  assert.equal(c.raft('n2').status().snapshotIndex, 11);
  assert.deepEqual(c.applied('n2'), before);
  c.propose('n1', 'c');
  settle(c);
  assert.deepEqual(c.applied('n2'), [...before, 'c']);
});

test('compaction is bounded by what was applied and must name the configuration at that index', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.propose('n1', 'x');
  settle(c);
  const raft = c.raft('n1');
  const applied = raft.status().appliedIndex;
  assert.throws(() => raft.snapshotMetaAt(applied + 1), RaftInvariantError);
  assert.throws(() => raft.compact({ index: applied + 1, term: 1, voters: ['n1', 'n2', 'n3'] }), RaftInvariantError);
  assert.throws(() => raft.compact({ index: applied, term: 1, voters: ['n1', 'n2'] }), RaftInvariantError);
  raft.compact(raft.snapshotMetaAt(applied));
  assert.equal(raft.status().snapshotIndex, applied);
});

test('a leader does not start a snapshot transfer to a peer it has not heard from lately', () => {
  const c = lagging();
  for (let i = 0; i < 12; i++) c.tick('n1'); // n3 stays silent for more than an election timeout
  c.stabilize();
  assert.equal(c.sent.filter((m) => m.type === 'InstallSnapshot').length, 0);
  assert.equal(c.raft('n1').status().progress.n3!.recentActive, false);
});
