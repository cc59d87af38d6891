// Pre-vote (thesis §9.6), check-quorum and the leader lease: a node cut off and rejoining must not
// disrupt a healthy leader, and a leader cut off from its majority must step down by itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster } from '../sim/harness';
import { entry, Solo } from '../sim/solo';

function terms(c: Cluster): number[] {
  return [...c.members.keys()].map((id) => c.raft(id).status().term);
}

test('pre-vote: a partitioned node that rejoins does not disrupt the term', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.propose('n1', 'a');
  c.stabilize();
  c.isolate('n3');
  for (let i = 0; i < 100; i++) {
    c.tickAll();
    c.stabilize();
  }
  assert.ok(c.member('n3').softStates.some((s) => s.role === 'preCandidate'), 'n3 tried to get elected');
  assert.equal(c.raft('n3').status().term, 1, 'a failed pre-vote leaves the term alone');
  c.heal();
  for (let i = 0; i < 30; i++) {
    c.tickAll();
    c.stabilize();
  }
  assert.equal(c.leader(), 'n1');
  assert.deepEqual(terms(c), [1, 1, 1]);
  assert.deepEqual(c.applied('n3'), ['a']);
});

test('without pre-vote the same rejoin does disrupt the term (so the test above can fail)', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'], preVote: false, checkQuorum: false });
  c.elect('n1');
  c.isolate('n3');
  for (let i = 0; i < 100; i++) {
    c.tickAll();
    c.stabilize();
  }
  assert.ok(c.raft('n3').status().term > 1);
  c.heal();
  for (let i = 0; i < 30; i++) {
    c.tickAll();
    c.stabilize();
  }
  assert.ok(Math.min(...terms(c)) > 1, 'the whole set moved to a new term');
});

test('pre-vote changes no one\'s term or vote, and is refused to a node whose log is behind', () => {
  const n = new Solo({ log: [entry(1, 1), entry(2, 1)], hardState: { term: 1, votedFor: undefined, commitIndex: 0 } });
  let out = n.step({ type: 'PreVote', from: 'b', to: 'a', term: 5, lastLogIndex: 2, lastLogTerm: 1 });
  assert.deepEqual(out.map((m) => m.type === 'PreVoteResponse' && [m.voteGranted, m.term]), [[true, 5]]);
  assert.equal(n.raft.status().term, 1);
  assert.equal(n.raft.status().votedFor, undefined);
  assert.equal(n.readies.find((r) => r.hardState), undefined, 'nothing to persist');
  out = n.step({ type: 'PreVote', from: 'c', to: 'a', term: 5, lastLogIndex: 1, lastLogTerm: 1 });
  assert.deepEqual(out.map((m) => m.type === 'PreVoteResponse' && [m.voteGranted, m.term]), [[false, 1]]);
});

test('a pre-candidate becomes candidate only after a majority of pre-votes, then asks for real votes', () => {
  const n = new Solo({ preVote: true });
  const preVotes = n.tick(10);
  assert.deepEqual(preVotes.map((m) => `${m.type}:${m.term}`), ['PreVote:1', 'PreVote:1']);
  assert.equal(n.raft.status().role, 'preCandidate');
  assert.equal(n.raft.status().term, 0);
  const out = n.step({ type: 'PreVoteResponse', from: 'b', to: 'a', term: 1, voteGranted: true });
  assert.equal(n.raft.status().role, 'candidate');
  assert.equal(n.raft.status().term, 1);
  assert.deepEqual(out.map((m) => `${m.type}->${m.to}:${m.term}`), ['RequestVote->b:1', 'RequestVote->c:1']);
});

test('check-quorum: a leader that does not hear from a majority within an election timeout steps down', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.isolate('n1');
  for (let i = 0; i < 20; i++) {
    c.tick('n1');
    c.stabilize();
  }
  assert.equal(c.raft('n1').status().role, 'follower');
  assert.equal(c.raft('n1').status().term, 1);

  const noCheck = new Cluster({ ids: ['n1', 'n2', 'n3'], checkQuorum: false });
  noCheck.elect('n1');
  noCheck.isolate('n1');
  for (let i = 0; i < 20; i++) {
    noCheck.tick('n1');
    noCheck.stabilize();
  }
  assert.equal(noCheck.raft('n1').status().role, 'leader', 'without check-quorum it would lead forever');
});

test('check-quorum: a leader that hears from a majority stays leader through many timeouts', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.isolate('n3');
  for (let i = 0; i < 60; i++) {
    c.tickAll();
    c.stabilize();
  }
  assert.equal(c.raft('n1').status().role, 'leader');
  assert.equal(c.raft('n1').status().term, 1);
});

test('leader lease: a follower that hears from its leader ignores a RequestVote of a higher term', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.raft('n2').step({ type: 'RequestVote', from: 'n3', to: 'n2', term: 9, lastLogIndex: 99, lastLogTerm: 9, transfer: false });
  c.pump();
  assert.equal(c.raft('n2').status().term, 1);
  assert.equal(c.network.length, 0, 'not even a refusal');
  // Once the lease has run out (no leader heard for an election timeout) the vote is granted.
  c.isolate('n2');
  c.tick('n2', 10);
  c.stabilize();
  c.raft('n2').step({ type: 'RequestVote', from: 'n3', to: 'n2', term: 9, lastLogIndex: 99, lastLogTerm: 9, transfer: false });
  c.pump();
  assert.equal(c.raft('n2').status().term, 9);
  assert.equal(c.raft('n2').status().votedFor, 'n3');
});

test('a partition: the majority side elects a new leader, the minority leader steps down, entries it took are discarded', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3', 'n4', 'n5'] });
  c.elect('n1');
  c.propose('n1', 'before');
  c.stabilize();
  for (const a of ['n1', 'n2']) for (const b of ['n3', 'n4', 'n5']) {
    c.cutLink(a, b);
    c.cutLink(b, a);
  }
  assert.equal(c.propose('n1', 'lost').ok, true, 'the old leader still accepts, but cannot commit');
  for (let i = 0; i < 40; i++) {
    c.tickAll();
    c.stabilize();
  }
  const leader = c.leader();
  assert.ok(leader && ['n3', 'n4', 'n5'].includes(leader), `leader ${leader}`);
  assert.notEqual(c.raft('n1').status().role, 'leader');
  assert.equal(c.raft('n1').status().term, 1, 'pre-vote kept the minority from raising its term');
  assert.notEqual(c.raft('n2').status().role, 'leader');
  c.propose(leader, 'after');
  c.heal();
  for (let i = 0; i < 20; i++) {
    c.tickAll();
    c.stabilize();
  }
  for (const id of c.members.keys()) assert.deepEqual(c.applied(id), ['before', 'after'], id);
  assert.deepEqual(c.violations, []);
});
