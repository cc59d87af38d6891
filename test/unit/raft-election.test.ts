// Leader election, rule by rule (Raft paper Figure 2: "All Servers", "Followers", "Candidates",
// RequestVote RPC), plus the Ready rule that a vote leaves only once it is durable.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RaftMessage } from '../../src/raft/types';
import { Cluster } from '../sim/harness';
import { entry, Solo } from '../sim/solo';

function votes(msgs: RaftMessage[]): { to: string; granted: boolean; term: number }[] {
  return msgs.flatMap((m) => (m.type === 'RequestVoteResponse' || m.type === 'PreVoteResponse' ? [{ to: m.to, granted: m.voteGranted, term: m.term }] : []));
}

test('Followers/Candidates: a follower that hears nothing times out, campaigns, wins a majority and leads', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  const roles = c.member('n1').softStates.map((s) => s.role);
  assert.deepEqual(roles, ['preCandidate', 'candidate', 'leader']);
  for (const id of ['n1', 'n2', 'n3']) {
    const s = c.raft(id).status();
    assert.equal(s.term, 1);
    assert.equal(s.leader, 'n1');
  }
  assert.equal(c.raft('n2').status().role, 'follower');
  // Upon election the leader appends a noop of its term and commits it everywhere.
  c.tickAll(2);
  c.stabilize();
  for (const id of ['n1', 'n2', 'n3']) assert.equal(c.raft(id).status().commitIndex, 1);
});

test('election timeout is randomized in [electionTicks, 2 * electionTicks) from the injected random()', () => {
  for (const [r, expected] of [
    [0, 10],
    [0.5, 15],
    [0.9999, 19],
  ] as const) {
    const n = new Solo({ electionTicks: 10, random: () => r });
    let ticks = 0;
    while (n.raft.status().role === 'follower') {
      n.tick();
      ticks++;
    }
    assert.equal(ticks, expected, `random() = ${r}`);
  }
  assert.throws(() => new Solo({ random: () => 1 }), /random\(\) must return/);
});

test('RequestVote rule 2: a node grants at most one vote per term (the same candidate may ask again)', () => {
  const n = new Solo();
  const ask = (from: string): RaftMessage => ({ type: 'RequestVote', from, to: 'a', term: 1, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
  assert.deepEqual(votes(n.step(ask('b'))), [{ to: 'b', granted: true, term: 1 }]);
  assert.deepEqual(votes(n.step(ask('c'))), [{ to: 'c', granted: false, term: 1 }]);
  assert.deepEqual(votes(n.step(ask('b'))), [{ to: 'b', granted: true, term: 1 }]);
  assert.equal(n.raft.status().votedFor, 'b');
  assert.equal(n.storage.hardState.votedFor, 'b');
});

test('RequestVote rule 2 / §5.4.1: a vote is denied to a candidate whose log is less up-to-date', () => {
  const n = new Solo({ log: [entry(1, 1), entry(2, 2)], hardState: { term: 2, votedFor: undefined, commitIndex: 0 } });
  const ask = (from: string, lastLogIndex: number, lastLogTerm: number): RaftMessage => ({ type: 'RequestVote', from, to: 'a', term: 3, lastLogIndex, lastLogTerm, transfer: false });
  assert.equal(votes(n.step(ask('b', 5, 1)))[0]!.granted, false, 'older last term, longer log');
  assert.equal(votes(n.step(ask('b', 1, 2)))[0]!.granted, false, 'same last term, shorter log');
  assert.equal(votes(n.step(ask('c', 2, 2)))[0]!.granted, true, 'same last term, same length');
  assert.equal(n.raft.status().votedFor, 'c');
});

test('RequestVote rule 1: a request from an older term is refused with the current term', () => {
  const n = new Solo({ hardState: { term: 5, votedFor: undefined, commitIndex: 0 } });
  const out = n.step({ type: 'RequestVote', from: 'b', to: 'a', term: 4, lastLogIndex: 9, lastLogTerm: 4, transfer: false });
  assert.deepEqual(votes(out), [{ to: 'b', granted: false, term: 5 }]);
  assert.equal(n.raft.status().votedFor, undefined);
});

test('All Servers: a higher term in any message makes a node adopt it and become follower (a leader steps down)', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.raft('n1').step({ type: 'HeartbeatResponse', from: 'n2', to: 'n1', term: 7, readSeq: 0 });
  const s = c.raft('n1').status();
  assert.equal(s.role, 'follower');
  assert.equal(s.term, 7);
  assert.equal(s.votedFor, undefined);
});

test('Candidates: a candidate that hears from a leader of its term becomes follower', () => {
  const n = new Solo();
  n.tick(10);
  assert.equal(n.raft.status().role, 'candidate');
  const term = n.raft.status().term;
  n.step({ type: 'Heartbeat', from: 'b', to: 'a', term, leaderCommit: 0, readSeq: 0 });
  assert.equal(n.raft.status().role, 'follower');
  assert.equal(n.raft.status().leader, 'b');
});

test('Candidates: a candidate rejected by a majority returns to follower; a timed-out one campaigns at a higher term', () => {
  const n = new Solo();
  n.tick(10);
  const term = n.raft.status().term;
  n.step({ type: 'RequestVoteResponse', from: 'b', to: 'a', term, voteGranted: false });
  assert.equal(n.raft.status().role, 'candidate', 'one rejection of two is not a majority');
  n.step({ type: 'RequestVoteResponse', from: 'c', to: 'a', term, voteGranted: false });
  assert.equal(n.raft.status().role, 'follower');
  n.tick(10);
  assert.equal(n.raft.status().role, 'candidate');
  assert.equal(n.raft.status().term, term + 1);
});

test('a vote and a candidate\'s RequestVote leave only after the hard state recording them is persisted', () => {
  const voter = new Solo();
  voter.raft.step({ type: 'RequestVote', from: 'b', to: 'a', term: 1, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
  const rd1 = voter.raft.ready();
  assert.deepEqual(rd1.hardState, { term: 1, votedFor: 'b', commitIndex: 0 });
  assert.deepEqual(rd1.messages, [], 'the vote waits for its hard state');
  voter.storage.persist(rd1, undefined);
  voter.raft.advance(rd1);
  const rd2 = voter.raft.ready();
  assert.equal(rd2.hardState, undefined);
  assert.deepEqual(votes(rd2.messages), [{ to: 'b', granted: true, term: 1 }]);

  const candidate = new Solo();
  for (let i = 0; i < 10; i++) candidate.raft.tick();
  const rd = candidate.raft.ready();
  assert.deepEqual(rd.hardState, { term: 1, votedFor: 'a', commitIndex: 0 });
  assert.deepEqual(rd.messages, []);
  candidate.raft.advance(rd);
  assert.deepEqual(
    candidate.raft.ready().messages.map((m) => `${m.type}->${m.to}`),
    ['RequestVote->b', 'RequestVote->c'],
  );
});

test('a node that is not a voter never campaigns', () => {
  const n = new Solo({ voters: [] });
  n.tick(100);
  assert.equal(n.raft.status().role, 'follower');
  assert.equal(n.raft.status().term, 0);
});

test('a single voter elects itself and commits alone', () => {
  const c = new Cluster({ ids: ['n1'] });
  c.elect('n1');
  assert.equal(c.propose('n1', 'x').ok, true);
  c.stabilize();
  assert.deepEqual(c.applied('n1'), ['x']);
});
