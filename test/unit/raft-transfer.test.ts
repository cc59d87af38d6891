// Leadership transfer (Raft thesis §3.10): the leader stops taking proposals, brings the target up
// to date, and sends it TimeoutNow; the target campaigns at once, past the others' leases.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster } from '../sim/harness';

function settle(c: Cluster, rounds = 3): void {
  for (let i = 0; i < rounds; i++) {
    c.tickAll();
    c.stabilize();
  }
}

test('transfer to an up-to-date follower: TimeoutNow, and the target wins the next term', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.propose('n1', 'a');
  settle(c);
  assert.deepEqual(c.raft('n1').transferLeadership('n2'), { ok: true });
  c.pump();
  assert.ok(c.network.some((f) => f.msg.type === 'TimeoutNow' && f.msg.to === 'n2'));
  c.stabilize();
  assert.equal(c.leader(), 'n2');
  assert.equal(c.raft('n2').status().term, 2);
  assert.equal(c.raft('n1').status().role, 'follower');
  // n3 was still in n1's lease when n2 asked: the transfer flag let the vote through.
  assert.equal(c.raft('n3').status().votedFor, 'n2');
  c.propose('n2', 'b');
  settle(c);
  for (const id of ['n1', 'n2', 'n3']) assert.deepEqual(c.applied(id), ['a', 'b']);
});

test('transfer to a lagging follower catches it up before TimeoutNow', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.isolate('n3');
  for (let i = 0; i < 20; i++) c.propose('n1', `c${i}`);
  settle(c);
  c.heal();
  c.raft('n1').transferLeadership('n3');
  c.pump();
  assert.ok(!c.network.some((f) => f.msg.type === 'TimeoutNow'), 'not before n3 has the whole log');
  c.stabilize();
  assert.equal(c.leader(), 'n3');
  settle(c);
  assert.equal(c.applied('n3').length, 20);
});

test('proposals and config changes are refused while a transfer is in progress', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  settle(c);
  c.isolate('n3');
  c.raft('n1').transferLeadership('n3');
  assert.deepEqual(c.propose('n1', 'x'), { ok: false, reason: 'transferring' });
  assert.deepEqual(c.raft('n1').proposeConfigChange({ type: 'removeVoter', node: 'n2' }), { ok: false, reason: 'transferring' });
  assert.equal(c.raft('n1').status().leadTransferee, 'n3');
});

test('a transfer that cannot complete aborts after an election timeout; the leader serves again', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  settle(c);
  c.isolate('n3');
  c.raft('n1').transferLeadership('n3');
  for (let i = 0; i < 10; i++) {
    c.tick('n1');
    c.tick('n2');
    c.stabilize();
  }
  assert.equal(c.raft('n1').status().leadTransferee, undefined);
  assert.equal(c.leader(), 'n1');
  assert.equal(c.propose('n1', 'x').ok, true);
});

test('transfer to a non-voter or from a follower is refused; transfer to itself cancels', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  assert.deepEqual(c.raft('n1').transferLeadership('n9'), { ok: false, reason: 'notVoter' });
  assert.deepEqual(c.raft('n2').transferLeadership('n3'), { ok: false, reason: 'notLeader', leaderHint: 'n1' });
  c.isolate('n3');
  c.raft('n1').transferLeadership('n3');
  assert.deepEqual(c.raft('n1').transferLeadership('n1'), { ok: true });
  assert.equal(c.raft('n1').status().leadTransferee, undefined);
});
