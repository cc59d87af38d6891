// Single-server membership changes (Raft thesis §4.1-4.2): a configuration takes effect as soon as
// its entry is in a log, one change at a time, and a removed leader steps down once its removal
// is committed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster } from '../sim/harness';

function settle(c: Cluster, rounds = 5): void {
  for (let i = 0; i < rounds; i++) {
    c.tickAll();
    c.stabilize();
  }
}

function started(): Cluster {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  for (let i = 0; i < 5; i++) c.propose('n1', `c${i}`);
  settle(c);
  return c;
}

test('add a voter: the new node catches up and then counts toward the quorum', () => {
  const c = started();
  c.addMember('n4', []);
  const r = c.raft('n1').proposeConfigChange({ type: 'addVoter', node: 'n4' });
  assert.equal(r.ok, true);
  settle(c);
  assert.deepEqual(c.raft('n4').status().voters, ['n1', 'n2', 'n3', 'n4']);
  assert.deepEqual(c.applied('n4'), c.applied('n1'));
  // Four voters: a majority is three. n1 + n3 + n4 commit without n2; n1 + n4 alone cannot.
  c.isolate('n2');
  c.propose('n1', 'three-of-four');
  settle(c);
  assert.ok(c.applied('n4').includes('three-of-four'));
  c.isolate('n3');
  c.propose('n1', 'two-of-four');
  c.stabilize();
  assert.ok(!c.applied('n1').includes('two-of-four'));
});

test('add a voter whose entries are compacted away: it receives InstallSnapshot and catches up', () => {
  const c = started();
  c.snapshot('n1');
  c.addMember('n4', []);
  c.raft('n1').proposeConfigChange({ type: 'addVoter', node: 'n4' });
  settle(c);
  assert.ok(c.sent.some((m) => m.type === 'InstallSnapshot' && m.to === 'n4'));
  assert.equal(c.member('n4').storage.snapshot?.meta.index, 6);
  assert.deepEqual(c.applied('n4'), ['c0', 'c1', 'c2', 'c3', 'c4']);
  assert.equal(c.raft('n4').status().commitIndex, c.raft('n1').status().commitIndex);
});

test('remove a voter: the remaining two commit without it', () => {
  const c = started();
  c.raft('n1').proposeConfigChange({ type: 'removeVoter', node: 'n3' });
  settle(c);
  assert.deepEqual(c.raft('n1').status().voters, ['n1', 'n2']);
  c.crash('n3');
  c.propose('n1', 'after');
  settle(c);
  assert.ok(c.applied('n2').includes('after'));
  assert.deepEqual(Object.keys(c.raft('n1').status().progress), ['n2'], 'no replication to the removed node');
});

test('replace a dead node: add the new one, then remove the dead one', () => {
  const c = started();
  c.crash('n3');
  c.addMember('n4', []);
  assert.equal(c.raft('n1').proposeConfigChange({ type: 'addVoter', node: 'n4' }).ok, true);
  settle(c);
  assert.equal(c.raft('n1').proposeConfigChange({ type: 'removeVoter', node: 'n3' }).ok, true);
  settle(c);
  assert.deepEqual(c.raft('n4').status().voters, ['n1', 'n2', 'n4']);
  // The set again survives losing any one node.
  c.crash('n2');
  c.propose('n1', 'after');
  settle(c);
  assert.ok(c.applied('n4').includes('after'));
});

test('one change at a time: a second change is refused while the first is uncommitted', () => {
  const c = started();
  c.isolate('n1');
  c.addMember('n4', []);
  assert.equal(c.raft('n1').proposeConfigChange({ type: 'addVoter', node: 'n4' }).ok, true);
  assert.deepEqual(c.raft('n1').proposeConfigChange({ type: 'removeVoter', node: 'n2' }), { ok: false, reason: 'configChangeInProgress' });
  c.heal();
  settle(c);
  assert.equal(c.raft('n1').proposeConfigChange({ type: 'removeVoter', node: 'n2' }).ok, true);
});

test('a change is refused until the leader has committed an entry of its own term', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.dropIf = (m) => m.type === 'AppendEntries';
  for (let i = 0; i < 100 && c.raft('n1').status().role !== 'leader'; i++) {
    c.tick('n1');
    c.stabilize();
  }
  assert.deepEqual(c.raft('n1').proposeConfigChange({ type: 'removeVoter', node: 'n3' }), { ok: false, reason: 'configChangeInProgress' });
});

test('invalid changes are refused with the reason', () => {
  const c = started();
  const raft = c.raft('n1');
  assert.deepEqual(raft.proposeConfigChange({ type: 'addVoter', node: 'n2' }), { ok: false, reason: 'invalidChange', detail: 'n2 is already a voter' });
  assert.deepEqual(raft.proposeConfigChange({ type: 'removeVoter', node: 'n9' }), { ok: false, reason: 'invalidChange', detail: 'n9 is not a voter' });
  assert.deepEqual(c.raft('n2').proposeConfigChange({ type: 'removeVoter', node: 'n3' }), { ok: false, reason: 'notLeader', leaderHint: 'n1' });
  const one = new Cluster({ ids: ['n1'] });
  one.elect('n1');
  assert.deepEqual(one.raft('n1').proposeConfigChange({ type: 'removeVoter', node: 'n1' }), { ok: false, reason: 'invalidChange', detail: 'cannot remove the last voter' });
});

test('a leader removed by a config change steps down once it is committed and hands over with TimeoutNow', () => {
  const c = started();
  c.raft('n1').proposeConfigChange({ type: 'removeVoter', node: 'n1' });
  c.stabilize(); // no ticks: the handover must not need an election timeout
  assert.equal(c.raft('n1').status().role, 'follower');
  assert.ok(c.sent.some((m) => m.type === 'TimeoutNow' && m.from === 'n1'));
  const leader = c.leader();
  assert.ok(leader === 'n2' || leader === 'n3', `new leader ${leader}`);
  assert.deepEqual(c.raft(leader).status().voters, ['n2', 'n3']);
  c.propose(leader, 'after');
  settle(c, 30);
  assert.equal(c.raft('n1').status().role, 'follower', 'a non-voter never campaigns');
  assert.ok(c.applied(leader).includes('after'));
  // While its removal was uncommitted it led a set it was not part of: it did not count itself.
});

test('a removed leader does not count itself toward the commit of its own removal', () => {
  const c = started();
  c.isolate('n2');
  c.isolate('n3');
  c.raft('n1').proposeConfigChange({ type: 'removeVoter', node: 'n1' });
  c.pump();
  assert.deepEqual(c.raft('n1').status().voters, ['n2', 'n3'], 'in effect as soon as appended');
  c.heal();
  c.cutLink('n3', 'n1');
  c.cutLink('n1', 'n3');
  c.stabilize();
  // Only n2 has the entry: under {n2, n3} that is not a majority, and n1's own copy does not count.
  assert.equal(c.raft('n1').status().role, 'leader');
  assert.ok(c.raft('n1').status().commitIndex < c.raft('n1').status().lastIndex);
});

test('a configuration takes effect when appended and is undone when its entry is truncated', () => {
  const c = started();
  c.addMember('n4', []);
  c.isolate('n1');
  c.raft('n1').proposeConfigChange({ type: 'addVoter', node: 'n4' });
  c.pump();
  assert.deepEqual(c.raft('n1').status().voters, ['n1', 'n2', 'n3', 'n4']);
  for (let i = 0; i < 40 && !['n2', 'n3'].includes(c.leader() ?? ''); i++) {
    c.tickAll();
    c.stabilize();
  }
  const leader = c.leader()!;
  c.propose(leader, 'new');
  c.heal();
  settle(c);
  assert.deepEqual(c.raft('n1').status().voters, ['n1', 'n2', 'n3'], 'the truncated config entry no longer applies');
  assert.deepEqual(c.raft('n4').status().voters, [], 'n4 never became a member');
  assert.deepEqual(c.violations, []);
});

test('a restarted node rebuilds its configuration from the config entries in its log', () => {
  const c = started();
  c.addMember('n4', []);
  c.raft('n1').proposeConfigChange({ type: 'addVoter', node: 'n4' });
  settle(c);
  c.crash('n2');
  c.restart('n2');
  assert.deepEqual(c.raft('n2').status().voters, ['n1', 'n2', 'n3', 'n4']);
  c.crash('n4');
  c.restart('n4', []);
  assert.deepEqual(c.raft('n4').status().voters, ['n1', 'n2', 'n3', 'n4']);
});
