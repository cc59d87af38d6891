// Every size and count limit of the Raft core in one place. Going over one gives a result the
// caller sees (tooMuchInFlight) or a paused stream, never unbounded memory.

const KiB = 1024;
const MiB = 1024 * KiB;

export const RAFT_LIMITS = {
  /** Bytes of AppendEntries payload in flight to one peer (replicate state). */
  inflightBytesDefault: 16 * MiB,
  /** Payload bytes the leader holds proposed but uncommitted; more answers tooMuchInFlight. */
  uncommittedBytesDefault: 64 * MiB,
  /** Persisted, applied entries kept in memory for followers that lag a little. */
  windowBytesDefault: 64 * MiB,
  /** Payload bytes of committed entries handed out in one Ready. */
  committedBytesPerReady: 8 * MiB,
  /** Committed entries handed out but not yet reported by appliedTo(); emission pauses beyond it. */
  unappliedEntriesMax: 65_536,
  /** Entries loaded through entriesLoaded() kept for the next append or apply. */
  loadedCacheBytes: 16 * MiB,
  /** Entries asked for by one fetch (the driver may return a prefix). */
  fetchEntriesMax: 4096,
  /** ReadIndex requests waiting for confirmation; more answers tooMuchInFlight. */
  pendingReadsMax: 65_536,
  /** Accounting overhead per entry on top of its payload. */
  entryOverheadBytes: 48,
  /**
   * Node ids are at most this many UTF-8 bytes (they travel in every message).
   * The codec's bound; the transport's handshake admits only shorter ids (TRANSPORT_LIMITS.nodeIdBytesMax),
   * so every id a running node has decodes here (test/unit/limits-agree.test.ts checks).
   */
  nodeIdBytesMax: 255,
  /** Entries in one decoded AppendEntries. */
  entriesPerMessageMax: 1_000_000,
  /** Voters in one configuration. */
  votersMax: 255,
} as const;

/** Bytes an entry counts for in flow control and memory budgets. */
export function entryBytes(payloadLength: number): number {
  return payloadLength + RAFT_LIMITS.entryOverheadBytes;
}
