// The contract between the node driver and the write-ahead log. Entries are opaque to storage
// except for `metaLen`, which splits the payload into a small meta part (command fields) and a
// body part (message bodies), each with its own checksum, so a damaged body is found on read while
// the command it belongs to can still be replayed.

/**
 * What an entry holds: a state-machine command, a leader's empty first entry of its term, or a
 * cluster membership change. Only commands reach the queue state machine.
 */
export type EntryKind = 'command' | 'noop' | 'config';

export const ENTRY_KINDS: readonly EntryKind[] = ['command', 'noop', 'config'];

export interface LogEntry {
  /** Raft log index, 1-based, contiguous. */
  index: number;
  /** Raft term; below 2^32. */
  term: number;
  kind: EntryKind;
  /** Leader's wall clock when proposed, never decreasing along the log. */
  timeMs: number;
  /** payload[0, metaLen) is the meta part; payload[metaLen, end) the body part. */
  metaLen: number;
  payload: Uint8Array;
}

export interface RecoveryReport {
  /** Entries found intact from firstIndex to lastIndex. */
  firstIndex: number;
  lastIndex: number;
  /** Bytes dropped from the end of the last segment (a torn write that was never acknowledged). */
  tornTailBytes: number;
  /** Entries whose body part failed its checksum (meta intact): replayed, bodies checked on read. */
  damagedBodies: { index: number; segment: string; fileOffset: number }[];
}

/** Thrown when the log is damaged in a way that cannot be a torn tail (valid records follow it). */
export class WalCorruptionError extends Error {
  constructor(
    message: string,
    readonly segment: string,
    readonly fileOffset: number,
  ) {
    super(message);
    this.name = 'WalCorruptionError';
  }
}

/** Thrown by reads of entries that were never written or whose segment has been reclaimed. */
export class EntryUnavailableError extends Error {
  constructor(readonly index: number) {
    super(`log entry ${index} is not available`);
    this.name = 'EntryUnavailableError';
  }
}
