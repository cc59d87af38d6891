// Whom a leader with a stalled disk hands leadership to (src/node/stall-step-down.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { stallStepDownTarget } from '../../src/node/stall-step-down';
import type { PeerStatus } from '../../src/raft/types';
import { leaderStatus } from '../helpers/raft-status';

function peer(matchIndex: number, recentActive: boolean): PeerStatus {
  return { matchIndex, nextIndex: matchIndex + 1, state: 'replicate', inflight: 0, recentActive };
}

const leader = leaderStatus;

test('the most caught-up follower heard from recently is chosen, ties by id', () => {
  assert.equal(stallStepDownTarget(leader({ n2: peer(80, true), n3: peer(100, true) })), 'n3');
  assert.equal(stallStepDownTarget(leader({ n3: peer(100, true), n2: peer(100, true) })), 'n2');
  // One not heard from lately is likely down or cut off: a reachable one goes first.
  assert.equal(stallStepDownTarget(leader({ n2: peer(80, true), n3: peer(100, false) })), 'n2');
  // Right after the core forgot who it heard from, any voter is better than none.
  assert.equal(stallStepDownTarget(leader({ n2: peer(80, false), n3: peer(100, false) })), 'n3');
});

test('nobody is chosen by a follower, a lone voter, during a transfer, or among non-voters', () => {
  assert.equal(stallStepDownTarget(leader({ n2: peer(100, true) }, { role: 'follower' })), undefined);
  assert.equal(stallStepDownTarget(leader({})), undefined);
  assert.equal(stallStepDownTarget(leader({ n2: peer(100, true) }, { leadTransferee: 'n2' })), undefined);
  assert.equal(stallStepDownTarget(leader({ n2: peer(100, true) }, { voters: ['n1'] })), undefined);
});
