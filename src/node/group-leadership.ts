// Moving one group's leadership and changing its voters, as an operator asks (or a shutting-down
// leader does itself), answered from the driver's outcome; and the mapping of a proposal the
// driver refused (a write, a membership change) to what the client is told.

import { fail, type ErrorResult } from '../protocol/errors';
import type { Logger } from '../protocol/log';
import type { MembershipChange, ServiceResult } from '../service/queue-service';
import type { DriverRefusal, Proposed, RaftDriver } from './raft-driver';

/** How long a leadership transfer (asked for, or a shutting-down leader's) is waited for. */
const LEADER_HANDOFF_TIMEOUT_MS = 2000;

export class GroupLeadership<R> {
  constructor(
    private readonly commitLog: RaftDriver<R>,
    /** The node's `raft` component. */
    private readonly log: Logger,
    /** True once the node stopped for good: nobody waits on a transfer then. */
    private readonly stopped: () => boolean,
  ) {}

  async transfer(nodeId: string): Promise<ServiceResult<{ from: string; to: string }>> {
    const from = this.commitLog.id;
    if (nodeId === from && this.commitLog.leaderId === from) return { ok: true, from, to: from };
    const r = this.commitLog.transferLeadership(nodeId);
    if (!r.ok) {
      // Not the leader here means no leader was known when the request arrived (else it would
      // have been forwarded): a transient state, so a retryable 6000, not a parameter error.
      if (r.reason === 'notLeader') return fail('notApplied', undefined, 'cannot transfer leadership: no leader is known here yet; retry');
      return fail('invalidParams', undefined, `cannot transfer leadership: ${nodeId} is not a voter of this set`);
    }
    if (await this.commitLog.waitUntil(() => this.commitLog.leaderId === nodeId, LEADER_HANDOFF_TIMEOUT_MS)) return { ok: true, from, to: nodeId };
    // The transfer may still complete (or have completed unseen here).
    return fail('outcomeUnknown', undefined, `leadership did not move to ${nodeId} within ${LEADER_HANDOFF_TIMEOUT_MS} ms`);
  }

  async changeMembership(change: MembershipChange): Promise<ServiceResult<{ voters: string[] }>> {
    const r = await this.commitLog.proposeConfigChange(
      change.type === 'add' ? { type: 'addVoter', node: change.nodeId, address: change.address } : { type: 'removeVoter', node: change.nodeId },
    );
    if (!r.ok) {
      // The core refusing the change itself (one pending, not a voter) is the request's fault.
      if (r.reason === 'refused') return fail('invalidParams', undefined, r.detail);
      const f = refusalResult(r);
      return { ...f, detail: `membership change failed: ${f.detail ?? ''}` };
    }
    const voters = this.commitLog.status().voters;
    this.log.info(`membership: ${change.type === 'add' ? `added ${change.nodeId} (${change.address})` : `removed ${change.nodeId}`}; voters now ${voters.join(', ')}`);
    return { ok: true, voters };
  }

  /**
   * Proposes a command entry. A leadership transfer under way (it takes a round trip or two)
   * appended nothing: wait for it to end and propose again, in case this node still leads.
   */
  async propose(payload: Uint8Array, metaLen: number): Promise<Proposed<R>> {
    const r = await this.commitLog.propose(payload, metaLen);
    if (r.ok || r.reason !== 'transferring') return r;
    await this.untilTransferEnds();
    return this.commitLog.propose(payload, metaLen);
  }

  /**
   * Waits until this member has applied everything committed before the call (ReadIndex: the
   * leader confirms it still leads), so a read answered after it is linearizable; else why not.
   */
  async readBarrier(): Promise<ErrorResult | undefined> {
    const r = await this.commitLog.readBarrier();
    if (r.ok) return undefined;
    if (r.reason === 'diskStalled') return fail('notApplied', undefined, r.detail);
    // A read changes nothing, so whatever stopped it, nothing was applied.
    return fail('notApplied', undefined, `read not possible here now: ${r.detail}`);
  }

  /** Resolves once no leadership transfer is under way here (or after the hand-off timeout). */
  async untilTransferEnds(): Promise<void> {
    await this.commitLog.waitUntil(() => this.commitLog.status().leadTransferee === undefined || this.stopped(), LEADER_HANDOFF_TIMEOUT_MS);
  }

  /**
   * A leader of a replicated set that is shutting down hands leadership to its most caught-up
   * follower first, so the set keeps serving after a pause of one round trip instead of an
   * election timeout (rolling restarts). Gives up after LEADER_HANDOFF_TIMEOUT_MS.
   */
  async handOff(): Promise<void> {
    if (this.stopped()) return;
    const st = this.commitLog.status();
    if (st.role !== 'leader') return;
    const target = Object.entries(st.progress).sort((a, b) => b[1].matchIndex - a[1].matchIndex)[0]?.[0];
    if (target === undefined) return; // a one-voter set has nobody to hand over to
    const r = this.commitLog.transferLeadership(target);
    if (!r.ok) return;
    this.log.info(`shutting down: transferring leadership to ${target}`, { target });
    await this.commitLog.waitUntil(() => this.commitLog.leaderId !== this.commitLog.id, LEADER_HANDOFF_TIMEOUT_MS);
  }
}

/**
 * What a client is told when the log did not complete a proposal: the driver's outcome decides the
 * code (notApplied, 6100, only when nothing was appended anywhere; outcomeUnknown otherwise, since
 * an appended entry may be on other members and be committed by a later leader).
 */
export function refusalResult(r: DriverRefusal): ErrorResult {
  if (r.outcome === 'outcomeUnknown') {
    return fail('outcomeUnknown', undefined, r.reason === 'dropped' ? `${r.detail}; a later leader may still commit it` : r.detail);
  }
  // A full disk or a stopped log: nothing here will take it; another member may.
  if (r.reason === 'diskStalled' || r.reason === 'stopped') return fail('notApplied', undefined, r.detail);
  return fail('notApplied', undefined, `${r.detail}; retry (any member forwards to the leader)`);
}
