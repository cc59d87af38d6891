// Commitment (Raft paper §5.3, §5.4.2, Figure 2 "Leaders" last rule, Figure 8): a leader commits
// by majority matchIndex only entries of its own term; earlier entries are committed indirectly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftInvariantError } from '../../src/raft/assert';
import { RaftNode } from '../../src/raft/raft-node';
import type { RaftConfig } from '../../src/raft/types';
import { Cluster } from '../sim/harness';
import { entry, Solo } from '../sim/solo';

/** The bug Figure 8 is about: commit whatever a majority holds, whatever its term. */
class CommitByCountNode extends RaftNode {
  protected override canCommitAt(): boolean {
    return true;
  }
}

const five = ['a', 'b', 'c', 'd', 'e'];

function oldTermLeader(makeNode?: (config: RaftConfig) => RaftNode): Solo {
  // Log: 1 (term 1, committed), 2 (term 2, never committed). Now leader of term 4, noop at 3.
  const n = new Solo({ voters: five, log: [entry(1, 1), entry(2, 2)], hardState: { term: 3, votedFor: undefined, commitIndex: 1 }, ...(makeNode ? { makeNode } : {}) });
  n.becomeLeader(five);
  n.drain();
  assert.equal(n.raft.status().term, 4);
  assert.equal(n.raft.status().lastIndex, 3);
  return n;
}

function ack(n: Solo, from: string, matchIndex: number): void {
  n.step({ type: 'AppendEntriesResponse', from, to: 'a', term: n.raft.status().term, success: true, matchIndex });
}

test('Leaders rule: an entry from an earlier term is not committed by counting replicas (Figure 8)', () => {
  const n = oldTermLeader();
  ack(n, 'b', 2);
  ack(n, 'c', 2);
  assert.equal(n.raft.status().commitIndex, 1, 'entry 2 is on 3 of 5 but of term 2: not committed');
  ack(n, 'b', 3);
  assert.equal(n.raft.status().commitIndex, 1);
  ack(n, 'c', 3);
  assert.equal(n.raft.status().commitIndex, 3, 'committing the term-4 noop commits entry 2 with it');
  assert.equal(n.sm.index, 3);
});

test('the same scenario with the rule removed commits the old entry (the check above is what prevents it)', () => {
  const n = oldTermLeader((config) => new CommitByCountNode(config));
  ack(n, 'b', 2);
  ack(n, 'c', 2);
  assert.equal(n.raft.status().commitIndex, 2);
});

/**
 * The full Figure 8 story on five nodes. s1 (term 1) gets X onto s2 only; s5 wins term 2 without
 * X and logs its own noop at X's index, then crashes; s1 wins term 3 and copies X to s3 and s4 but
 * not yet its own noop; s1 crashes; s5 wins term 4 (its last term, 2, beats X's 1) and overwrites X.
 */
function figure8(makeNode?: (config: RaftConfig) => RaftNode): { c: Cluster; committedX: boolean; detected: string[] } {
  const ids = ['s1', 's2', 's3', 's4', 's5'];
  const c = new Cluster({ ids, checkQuorum: false, maxBytesPerAppend: 60, ...(makeNode ? { makeNode } : {}) });
  c.elect('s1');
  c.tickAll();
  c.stabilize();
  c.dropIf = (m) => m.type === 'AppendEntries' && m.to !== 's2';
  assert.equal(c.propose('s1', 'X').ok, true); // index 2, term 1
  c.stabilize();
  c.crash('s1');
  c.dropIf = (m) => m.type === 'AppendEntries' && m.from === 's5';
  c.elect('s5'); // term 2 (votes of s3, s4), noop at index 2 stays on s5
  assert.equal(c.member('s5').storage.term(2), c.raft('s5').status().term);
  c.crash('s5');
  // Keep the term-3 noop (index 3) from everyone, except inside probes the receiver refuses anyway.
  c.dropIf = (m) => m.type === 'AppendEntries' && m.entries.some((e) => e.index >= 3) && c.member(m.to).storage.lastIndex() >= m.prevLogIndex;
  c.restart('s1');
  c.elect('s1'); // term 3; X reaches s3 and s4, the noop (index 3) reaches no one
  c.tickAll(3);
  c.stabilize();
  for (const id of ['s2', 's3', 's4']) assert.equal(c.member(id).storage.all()[1]?.term, 1, `${id} holds X`);
  const committedX = c.raft('s1').status().commitIndex >= 2;
  c.crash('s1');
  c.heal();
  c.restart('s5');
  const detected: string[] = [];
  try {
    c.elect('s5');
    c.tickAll(3);
    c.stabilize();
  } catch (err) {
    if (!(err instanceof RaftInvariantError)) throw err;
    detected.push(err.message); // a follower noticed a leader contradicting its committed entry
  }
  detected.push(...c.violations);
  return { c, committedX, detected };
}

test('Figure 8 on a live cluster: a correct leader does not commit X, so the next leader may overwrite it safely', () => {
  const { c, committedX, detected } = figure8();
  assert.equal(committedX, false);
  assert.deepEqual(detected, []);
  assert.equal(c.leader(), 's5');
  for (const id of ['s2', 's3', 's4', 's5']) {
    assert.deepEqual(c.applied(id), [], `${id}: X was never committed`);
    assert.equal(c.member(id).storage.term(2), 2, `${id}: X was overwritten by s5's entry`);
  }
});

test('Figure 8 with commit-by-count: X is committed, then contradicted by the next leader, and that is caught', () => {
  const { committedX, detected } = figure8((config) => new CommitByCountNode(config));
  assert.equal(committedX, true);
  assert.ok(detected.length > 0, 'a committed entry was contradicted and nobody noticed');
  assert.match(detected.join('\n'), /disagrees with committed entry 2|applied a different entry 2/);
});

test('commit needs a majority: an entry on 2 of 5 nodes stays uncommitted until a third has it', () => {
  const n = new Solo({ voters: five });
  n.becomeLeader(five);
  n.drain();
  ack(n, 'b', 1);
  assert.equal(n.raft.status().commitIndex, 0);
  ack(n, 'c', 1);
  assert.equal(n.raft.status().commitIndex, 1);
});

test('commitIndex never decreases, through elections and restarts', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  for (let i = 0; i < 5; i++) c.propose('n1', `c${i}`);
  c.tickAll(2);
  c.stabilize();
  const high = c.raft('n2').status().commitIndex;
  assert.equal(high, 6);
  c.crash('n1');
  for (let i = 0; i < 30 && !c.leader(); i++) {
    c.tickAll();
    c.stabilize();
  }
  for (const id of ['n2', 'n3']) assert.ok(c.raft(id).status().commitIndex >= high);
  c.restart('n1');
  assert.equal(c.raft('n1').status().commitIndex, 6, 'the persisted commitIndex hint survives the restart');
  assert.equal(c.applied('n1').length, 5, 'and the committed entries are applied again from the log');
});
