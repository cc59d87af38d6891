// A leader whose disk is full (or failing) hands leadership to a follower, and a member whose disk
// is stalled does not take leadership. A stalled leader cannot make anything durable: every write
// is refused with 6100 until space returns, and its Ready loop (which also sends heartbeats) waits
// at the stalled write. Without this the set would serve again only after the followers' election
// timeout ran out and an election was won; with it, after one round trip of a leadership transfer.
//
// Raft safety does not depend on any of this: a TimeoutNow only makes its target campaign at once,
// and the target still needs a majority of votes for a log at least as up to date as theirs; a
// member that does not campaign, or ignores a TimeoutNow, is indistinguishable from a slow one.

import type { RaftStatus } from '../raft/types';

/**
 * How long a leader's disk must have been stalled before it hands leadership over: 250 ms, and
 * at most half the election timeout (raft-timing.ts; 400 ms by default). A stalled leader sends no
 * heartbeats, so waiting longer would only let an election (slower, and at a random moment) happen
 * first. Any stall lasts at least one retry interval (500 ms), so a one-off failed write that
 * succeeds on its retry moves leadership too; that costs one round trip, which a moved leader
 * costs anyway.
 */
export function stallStepDownMs(electionTimeoutMs: number): number {
  return Math.min(250, Math.floor(electionTimeoutMs / 2));
}

/**
 * The follower a stalled leader hands over to: the most caught-up voter, preferring those it heard
 * from within the last election timeout (the core forgets who it heard from at every timeout, and
 * a stalled leader hears little), ties broken by id so the choice is deterministic. Undefined when
 * there is nobody, this member does not lead, or a transfer is already under way (the core gives
 * one up after an election timeout, and the next call picks again).
 */
export function stallStepDownTarget(st: RaftStatus): string | undefined {
  if (st.role !== 'leader' || st.leadTransferee !== undefined) return undefined;
  const candidates = Object.entries(st.progress).filter(([id]) => id !== st.id && st.voters.includes(id));
  candidates.sort(([a, pa], [b, pb]) => Number(pb.recentActive) - Number(pa.recentActive) || pb.matchIndex - pa.matchIndex || (a < b ? -1 : 1));
  return candidates[0]?.[0];
}
