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
