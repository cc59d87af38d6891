// GET /readyz decisions: ready only when a leader is known, this node is a voter, applying keeps
// up with commit, the disk is not stalled and the node is neither failed nor shutting down; each
// refusal names its reason.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decideReadiness, READINESS_LIMITS, type ReadinessInput } from '../../src/node/readiness';

function input(over: Partial<Omit<ReadinessInput, 'raft'>> & { raft?: Partial<ReadinessInput['raft']> } = {}): ReadinessInput {
  return {
    closing: false,
    fatal: undefined,
    diskStall: undefined,
    ...over,
    raft: { id: 'n2', leader: 'n1', voters: ['n1', 'n2', 'n3'], commitIndex: 100, appliedIndex: 100, term: 3, ...over.raft },
  };
}

void describe('readiness', () => {
  void test('a voter that knows its leader and has applied what is committed is ready', () => {
    assert.deepEqual(decideReadiness(input()), { ready: true, leader: 'n1' });
    // The leader itself, and a node a little behind in applying.
    assert.deepEqual(decideReadiness(input({ raft: { id: 'n1' } })), { ready: true, leader: 'n1' });
    assert.equal(decideReadiness(input({ raft: { commitIndex: 100 + READINESS_LIMITS.applyLagMaxEntries, appliedIndex: 100 } })).ready, true);
  });

  void test('no leader known (peers lost, election under way): noLeader', () => {
    const r = decideReadiness(input({ raft: { leader: undefined, term: 7 } }));
    assert.equal(r.ready, false);
    assert.equal(!r.ready && r.reason, 'noLeader');
    assert.match(!r.ready ? r.detail : '', /term 7/);
  });

  void test('a --join node not yet added (no voters) or a removed node: notMember', () => {
    for (const voters of [[], ['n1', 'n3']]) {
      const r = decideReadiness(input({ raft: { voters, leader: undefined } }));
      assert.equal(!r.ready && r.reason, 'notMember');
    }
  });

  void test('applying far behind commit: applyBehind', () => {
    const r = decideReadiness(input({ raft: { commitIndex: 5000, appliedIndex: 5000 - READINESS_LIMITS.applyLagMaxEntries - 1 } }));
    assert.equal(!r.ready && r.reason, 'applyBehind');
  });

  void test('a stalled disk, a failure and shutting down each make the node unready, with the detail', () => {
    const stalled = decideReadiness(input({ diskStall: 'disk full on n2 (ENOSPC at write of /d/wal/x)' }));
    assert.equal(!stalled.ready && stalled.reason, 'diskStalled');
    assert.match(!stalled.ready ? stalled.detail : '', /ENOSPC/);
    const failed = decideReadiness(input({ fatal: 'fdatasync failed' }));
    assert.equal(!failed.ready && failed.reason, 'failed');
    const closing = decideReadiness(input({ closing: true }));
    assert.equal(!closing.ready && closing.reason, 'shuttingDown');
  });

  void test('the first reason wins: shutting down, then failed, then disk, then membership, then leader', () => {
    const all = input({ closing: true, fatal: 'x', diskStall: 'y', raft: { voters: [], leader: undefined } });
    assert.equal((decideReadiness(all) as { reason: string }).reason, 'shuttingDown');
    assert.equal((decideReadiness({ ...all, closing: false }) as { reason: string }).reason, 'failed');
    assert.equal((decideReadiness({ ...all, closing: false, fatal: undefined }) as { reason: string }).reason, 'diskStalled');
    assert.equal((decideReadiness({ ...all, closing: false, fatal: undefined, diskStall: undefined }) as { reason: string }).reason, 'notMember');
  });
});
