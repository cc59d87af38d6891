// The state machine a group replica runs, as the generic replica plumbing (recovery, snapshots,
// the apply loop) sees it: applied entries in log order, a snapshot emitted a piece at a time,
// and a way to make one fresh or from its snapshot bytes. The queue state machine (broker/) and
// the controller's (controller-machine.ts) both fit it.

import type { LogEntry } from '../storage/types';

/** A snapshot being emitted: `next` gives the pieces in order, undefined after the last. */
export interface SnapshotPieces {
  next(): Uint8Array | undefined;
  /** True once every piece was emitted. */
  done(): boolean;
  /** Called when the snapshot is saved or abandoned (what it held may go). */
  release(): void;
}

/** `R`: what an applied command answers. */
export interface ReplicaMachine<R> {
  /** The index of the last command applied (0 before any). */
  readonly lastAppliedIndex: number;
  /** The latest entry time applied (the leader's next proposals never go back before it). */
  readonly lastTimeMs: number;
  /** Applies a committed command entry; throws only on a broken invariant (the replica then stops). */
  apply(index: number, timeMs: number, payload: Uint8Array, metaLen: number): R;
  /** A snapshot of the state now; `onLiveEntry` hears the log entries it still needs (bodies). */
  beginSnapshot(onLiveEntry?: (entryIndex: number) => void): SnapshotPieces;
}

/** How a group's state machine is made: fresh, or from the state machine part of a snapshot. */
export interface MachineKind<M> {
  create(): M;
  /** Throws when `bytes` are not a snapshot of this kind. */
  restore(bytes: Uint8Array): M;
}

/**
 * Applies committed entries in log order: each command through `applyCommand`; Raft's own entries
 * (noop, config) never reach the state machine and answer `raftEntry`. A throw is a broken
 * invariant: that entry and every one after it answer `failed`, and `broken` says what broke (the
 * replica must stop rather than serve a state it cannot trust).
 */
export function applyEntries<R>(entries: readonly LogEntry[], raftEntry: R, failed: R, applyCommand: (entry: LogEntry) => R): { results: R[]; broken: unknown } {
  const results: R[] = [];
  try {
    for (const e of entries) results.push(e.kind === 'command' ? applyCommand(e) : raftEntry);
  } catch (err) {
    while (results.length < entries.length) results.push(failed);
    return { results, broken: err ?? new Error('apply threw nothing') };
  }
  return { results, broken: undefined };
}
