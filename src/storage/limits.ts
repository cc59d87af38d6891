// Every size and count limit of the storage layer in one place. Going over one gives a clear
// error rather than unbounded memory or disk use.

const KiB = 1024;
const MiB = 1024 * KiB;

export const STORAGE_LIMITS = {
  /** Nominal size of a WAL segment file (preallocated). A single larger record still fits. */
  segmentBytesDefault: 64 * MiB,
  /** Smallest segment size accepted (tests use small segments to exercise rollover). */
  segmentBytesMin: 4 * KiB,
  /** Largest payload (meta + body) of one log entry; far above any batch the node builds. */
  entryPayloadBytesMax: 256 * MiB,
  /** Encoded bytes waiting for the flush loop; appends beyond it are rejected (back-pressure). */
  appendPendingBytesMax: 512 * MiB,
  /** Staging buffers that appends encode into; one write covers many of them. */
  encodeChunkBytes: 1 * MiB,
  /** Staging buffers kept for reuse between flushes. */
  encodeChunkPoolMax: 16,
  /** Size of each write when zero-filling a new segment or clearing a torn tail. */
  zeroFillChunkBytes: 1 * MiB,
  /**
   * The next segment is zero-filled in the background while the log appends to the current one.
   * Written in one burst, its 64 MiB held the tail's fdatasync for 37 ms on an idle disk (and
   * 100 ms under load); paced, a pause after each chunk and an fdatasync after this many bytes, a
   * concurrent fdatasync of the tail waits for at most a few ms (docs/BENCHMARKS.md).
   */
  prepareSyncEveryBytes: 4 * MiB,
  /** The pause after each zero-filled chunk of the next segment (none once the segment is needed). */
  preparePauseMs: 2,
  /** Read window used by recovery to scan segments. */
  recoveryWindowBytes: 4 * MiB,
  /** Bytes read per positional read while replaying the log (entriesFrom). */
  replayChunkBytes: 4 * MiB,
  /** truncateSuffix clears at most this many bytes between two fdatasyncs. */
  truncateStepBytes: 4 * MiB,
  /** An fdatasync of WAL data slower than this is logged as a warning. */
  slowFsyncWarnMs: 100,
  /** At most this many slow-fsync warnings a minute; the rest are counted in the next one. */
  slowFsyncLogsPerMinute: 6,
  /** Snapshot files kept on disk (the newest ones). */
  snapshotsKept: 2,
} as const;
