// The Ready contract between the core and its driver: what comes out when, what must be durable
// before what, and how a restart resumes from whatever reached the disk.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftInvariantError } from '../../src/raft/assert';
import { Cluster } from '../sim/harness';
import { MemoryStorage } from '../sim/memory-storage';
import { RaftNode } from '../../src/raft/raft-node';
import { entry, emptyReady, Solo } from '../sim/solo';
import { commandPayload } from '../sim/state-machine';

test('ready() twice without advance() is a driver bug; advance() of a stale Ready too', () => {
  const n = new Solo();
  n.raft.step({ type: 'RequestVote', from: 'b', to: 'a', term: 1, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
  const rd = n.raft.ready();
  assert.equal(n.raft.hasReady(), false, 'nothing more until advance');
  assert.throws(() => n.raft.ready(), RaftInvariantError);
  n.raft.advance(rd);
  assert.throws(() => n.raft.advance(rd), RaftInvariantError);
});

test('softState and hardState appear only when they change', () => {
  const n = new Solo({ voters: ['a'] });
  n.tick(10);
  const withSoft = n.readies.filter((r) => r.softState);
  assert.deepEqual(withSoft.map((r) => r.softState!.role), ['leader'], 'candidate and leader within one Ready: only the result shows');
  const hard = n.readies.filter((r) => r.hardState).map((r) => r.hardState);
  assert.deepEqual(hard, [
    { term: 1, votedFor: 'a', commitIndex: 0 },
    { term: 1, votedFor: 'a', commitIndex: 1 },
  ]);
  n.tick(5);
  assert.equal(n.readies.slice(2).filter((r) => r.softState || r.hardState).length, 0);
});

test('a leader\'s AppendEntries leave in the same Ready as the entries it still has to persist', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.tickAll();
  c.stabilize();
  c.raft('n1').propose({ kind: 'command', timeMs: 0, metaLen: 0, payload: commandPayload('x') });
  const rd = c.raft('n1').ready();
  assert.equal(rd.entriesToPersist.length, 1);
  assert.deepEqual(rd.messages.map((m) => m.type), ['AppendEntries', 'AppendEntries']);
  c.handleReady(c.member('n1'), rd);
});

test('committedEntries never include an entry this node has not persisted', () => {
  const n = new Solo({ hardState: { term: 1, votedFor: undefined, commitIndex: 0 } });
  n.raft.step({ type: 'AppendEntries', from: 'b', to: 'a', term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [entry(1, 1), entry(2, 1)], leaderCommit: 2 });
  const rd = n.raft.ready();
  assert.deepEqual(rd.committedEntries, []);
  n.raft.step({ type: 'Heartbeat', from: 'b', to: 'a', term: 1, leaderCommit: 2, readSeq: 0 }); // between ready and advance
  n.storage.persist(rd, undefined);
  n.raft.advance(rd);
  const next = n.raft.ready();
  assert.deepEqual(next.committedEntries.map((e) => e.index), [1, 2]);
  assert.deepEqual(next.messages.map((m) => m.type), ['AppendEntriesResponse', 'HeartbeatResponse'], 'held responses, in order');
});

test('entry times never go backwards: the core clamps a proposal to the last entry time', () => {
  const c = new Cluster({ ids: ['n1'] });
  c.elect('n1');
  const raft = c.raft('n1');
  raft.propose({ kind: 'command', timeMs: 1000, metaLen: 0, payload: commandPayload('a') });
  raft.propose({ kind: 'command', timeMs: 900, metaLen: 0, payload: commandPayload('b') });
  c.pump();
  assert.deepEqual(c.member('n1').storage.all().map((e) => e.timeMs), [0, 1000, 1000]);
});

test('a crash that kept a Ready\'s entries but not its hard state: the node adopts the log\'s last term, with no vote', () => {
  const storage = new MemoryStorage();
  storage.persist({ ...emptyReady(), entriesToPersist: [entry(1, 1), entry(2, 3)], hardState: { term: 1, votedFor: 'b', commitIndex: 1 } }, undefined);
  const raft = new RaftNode({
    id: 'a',
    voters: ['a', 'b', 'c'],
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
    preVote: true,
    checkQuorum: true,
    maxInflightAppends: 8,
    maxBytesPerAppend: 1 << 20,
    log: storage,
    restored: storage.restored(),
  });
  const s = raft.status();
  assert.equal(s.term, 3);
  assert.equal(s.votedFor, undefined);
  assert.equal(s.commitIndex, 1);
  assert.deepEqual(raft.ready().hardState, { term: 3, votedFor: undefined, commitIndex: 1 }, 'written back at once');
});

test('status() reports what `opencmq cluster status` shows', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.isolate('n3');
  for (let i = 0; i < 3; i++) c.propose('n1', `c${i}`);
  c.tickAll(2);
  c.stabilize();
  const s = c.raft('n1').status();
  assert.equal(s.role, 'leader');
  assert.equal(s.leader, 'n1');
  assert.equal(s.commitIndex, 4);
  assert.equal(s.appliedIndex, 4);
  assert.equal(s.lastIndex, 4);
  assert.deepEqual(Object.keys(s.progress).sort(), ['n2', 'n3']);
  assert.deepEqual(s.progress.n2, { matchIndex: 4, nextIndex: 5, state: 'replicate', inflight: 0, recentActive: true });
  assert.equal(s.progress.n3!.matchIndex, 1, 'n3 got the noop before it was cut off');
  assert.ok(s.progress.n3!.inflight > 0, 'appends to the cut-off n3 are outstanding');
  assert.deepEqual(c.raft('n2').status().progress, {}, 'followers report no progress');
});
