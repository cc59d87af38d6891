// Whether this node can serve clients right now (GET /readyz). A pure decision over what the node
// reports, so every reason is unit-tested without a cluster; the admin listener only renders it.

import type { NodeObservation } from './queue-node';

export const READINESS_LIMITS = {
  /**
   * Committed entries this node may have left to apply and still be ready. Applying normally
   * trails commit by at most one Ready (a few entries); thousands mean the node is replaying or
   * catching up and would answer reads late.
   */
  applyLagMaxEntries: 1000,
} as const;

export type NotReadyReason = 'shuttingDown' | 'failed' | 'diskStalled' | 'notMember' | 'noLeader' | 'applyBehind';

export type Readiness = { ready: true; leader: string } | { ready: false; reason: NotReadyReason; detail: string };

/** What the decision needs: a subset of NodeObservation, so tests build it by hand. */
export type ReadinessInput = Pick<NodeObservation, 'closing' | 'fatal' | 'diskStall'> & {
  raft: Pick<NodeObservation['raft'], 'id' | 'leader' | 'voters' | 'commitIndex' | 'appliedIndex' | 'term'>;
};

/** The first reason that stops this node serving, in the order an operator should fix them. */
export function decideReadiness(o: ReadinessInput): Readiness {
  if (o.closing) return { ready: false, reason: 'shuttingDown', detail: 'the node is shutting down' };
  if (o.fatal !== undefined) return { ready: false, reason: 'failed', detail: `the node stopped serving after a failure: ${o.fatal}` };
  if (o.diskStall !== undefined) return { ready: false, reason: 'diskStalled', detail: `writes are refused: ${o.diskStall}` };
  const r = o.raft;
  if (!r.voters.includes(r.id)) {
    // A `--join` node before `cluster add-node`, or a node removed from its set.
    return { ready: false, reason: 'notMember', detail: `${r.id} is not a voter of its set (voters: ${r.voters.join(', ') || 'none known'})` };
  }
  if (r.leader === undefined) return { ready: false, reason: 'noLeader', detail: `no leader is known in term ${r.term} (peers unreachable or an election under way)` };
  const lag = r.commitIndex - r.appliedIndex;
  if (lag > READINESS_LIMITS.applyLagMaxEntries) {
    return { ready: false, reason: 'applyBehind', detail: `${lag} committed entries not yet applied (applied ${r.appliedIndex}, commit ${r.commitIndex})` };
  }
  return { ready: true, leader: r.leader };
}
