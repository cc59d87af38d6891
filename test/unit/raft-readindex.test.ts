// ReadIndex (Raft thesis §6.4): a read is served at the commitIndex the leader had when the read
// arrived, once a heartbeat round has confirmed that it was still the leader, and never before the
// leader has committed an entry of its own term.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster } from '../sim/harness';

function settle(c: Cluster, rounds = 3): void {
  for (let i = 0; i < rounds; i++) {
    c.tickAll();
    c.stabilize();
  }
}

test('ReadIndex: answered after a heartbeat round confirms leadership, at the commitIndex of the request', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  for (let i = 0; i < 3; i++) c.propose('n1', `c${i}`);
  settle(c);
  const commit = c.raft('n1').status().commitIndex;
  assert.deepEqual(c.raft('n1').readIndex('r1'), { ok: true });
  c.pump();
  assert.deepEqual(c.member('n1').readStates, [], 'not before the confirmation');
  const heartbeats = c.network.filter((f) => f.msg.type === 'Heartbeat' && f.msg.readSeq > 0);
  assert.equal(heartbeats.length, 2, 'the read triggers a heartbeat round at once');
  c.propose('n1', 'after'); // proposed after the read: not required to be visible to it
  c.stabilize();
  assert.deepEqual(c.member('n1').readStates, [{ requestId: 'r1', index: commit }]);
});

test('ReadIndex: one confirming follower is enough in a set of three (leader + 1 = majority)', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  c.isolate('n3');
  c.raft('n1').readIndex('r1');
  c.stabilize();
  assert.equal(c.member('n1').readStates.length, 1);
});

test('ReadIndex waits until the leader has committed an entry of its own term', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.dropIf = (m) => m.type === 'AppendEntries';
  for (let i = 0; i < 100 && c.raft('n1').status().role !== 'leader'; i++) {
    c.tick('n1');
    c.stabilize();
  }
  assert.equal(c.raft('n1').status().role, 'leader');
  assert.equal(c.raft('n1').status().commitIndex, 0, 'the noop is not committed yet');
  assert.deepEqual(c.raft('n1').readIndex('r1'), { ok: true });
  c.tick('n1', 3);
  c.stabilize();
  assert.deepEqual(c.member('n1').readStates, [], 'heartbeats alone do not answer it');
  c.dropIf = undefined;
  settle(c);
  assert.deepEqual(c.member('n1').readStates, [{ requestId: 'r1', index: 1 }]);
});

test('a leader cut off from the majority never answers a read; it is dropped when the leader steps down', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  settle(c);
  c.isolate('n1');
  assert.deepEqual(c.raft('n1').readIndex('r1'), { ok: true });
  for (let i = 0; i < 25; i++) {
    c.tick('n1');
    c.stabilize();
  }
  assert.notEqual(c.raft('n1').status().role, 'leader');
  assert.deepEqual(c.member('n1').readStates, []);
  assert.deepEqual(c.member('n1').droppedReads, ['r1']);
});

test('a single voter answers a read at once; followers answer notLeader with a hint', () => {
  const solo = new Cluster({ ids: ['n1'] });
  solo.elect('n1');
  solo.raft('n1').readIndex('r1');
  solo.pump();
  assert.deepEqual(solo.member('n1').readStates, [{ requestId: 'r1', index: 1 }]);

  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  assert.deepEqual(c.raft('n2').readIndex('r2'), { ok: false, reason: 'notLeader', leaderHint: 'n1' });
});

test('reads are answered in order, many per heartbeat round', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  settle(c);
  for (let i = 0; i < 10; i++) c.raft('n1').readIndex(`r${i}`);
  c.pump();
  const rounds = c.network.filter((f) => f.msg.type === 'Heartbeat').length;
  assert.equal(rounds, 2, 'one heartbeat per follower for all ten reads');
  c.stabilize();
  assert.deepEqual(c.member('n1').readStates.map((r) => r.requestId), Array.from({ length: 10 }, (_, i) => `r${i}`));
});
