// The node's segmented write-ahead log: appends are encoded into staging buffers and made durable
// by one flush loop (one write + one fdatasync per batch: group commit); reads are positional
// through a per-segment in-memory index. On-disk format and recovery rules: docs/storage.md.
import { join } from 'node:path';
import type { FileHandle, FileSystem } from '../runtime/fs';
import { nodeFs } from '../runtime/node-fs';
import { nodeRuntime } from '../runtime/node-runtime';
import type { Clock, Timers } from '../runtime/timers';
import { atStep, DiskStall, stallCode } from './disk-stall';
import { readFully, syncDirectory, writevFully, zeroFill } from './file-io';
import { STORAGE_LIMITS } from './limits';
import { ENTRY_KINDS, EntryUnavailableError, WalCorruptionError, type LogEntry, type RecoveryReport } from './types';
import {
  HEADER_BYTES,
  PREALLOC_SUFFIX,
  SEAL_BYTES,
  align8,
  decodeRecord,
  encodeSeal,
  readHeader,
  recordBytes,
  segmentFileName,
  writeRecord,
} from './wal-format';
import { recoverSegments } from './wal-recovery';
import { Segment, type SegmentInfo } from './wal-segment';
import { loggerFor, LogRateLimit, type Logger, type LogSink } from '../protocol/log';

export type { SegmentInfo } from './wal-segment';

export interface WalOptions {
  /** Nominal segment size (default 64 MiB); files are preallocated to it. */
  segmentBytes?: number;
  /** fdatasync before an append resolves (default true). false only for benchmarks. */
  fsync?: boolean;
  /** Where recovery findings, failures and slow fsyncs are reported (default: stderr lines). */
  log?: LogSink;
  /** An fdatasync taking longer than this is logged as a warning (default STORAGE_LIMITS.slowFsyncWarnMs). */
  slowFsyncWarnMs?: number;
  /** Bytes per read while replaying (entriesFrom); tests shrink it. */
  replayChunkBytes?: number;
  hooks?: WalHooks;
  /**
   * Start a flush in the same turn as the append instead of one macrotask later. For a caller that
   * already batches (the Raft driver appends one Ready at a time), the extra turn is only latency.
   */
  flushImmediately?: boolean;
  /**
   * Where a write, allocation or fsync that fails with ENOSPC, EDQUOT or EIO is waited out and
   * reported (the node shares one with its hard-state store); default: one of its own.
   */
  stall?: DiskStall;
  /** Told the duration of every batch flush and fdatasync (metrics); called off the append path. */
  observer?: WalObserver;
  /** Where the segment files live (default: the real file system; the simulator passes its disk). */
  fs?: FileSystem;
  /** The clock for durations, the turn boundary group commit waits for, the pacing of segment preparation (default: the real ones). */
  runtime?: Clock & Pick<Timers, 'setImmediate' | 'setTimeout'>;
}

/** Durations in seconds, for latency histograms. */
export interface WalObserver {
  /** One group-commit batch: write plus fdatasync, including any time waiting out a disk stall. */
  flushed(seconds: number): void;
  /** One fdatasync of segment data. */
  datasynced(seconds: number): void;
}

/** Test seams. Production code leaves them unset. */
export interface WalHooks {
  /** Runs before every fdatasync of segment data; throwing stands in for a failed fsync. */
  beforeDatasync?: (segment: string) => void;
  /** Runs before every write of records or a seal; throwing stands in for a failed write. */
  beforeWrite?: (segment: string) => void;
  /** Runs before a new segment file is created and zero-filled; throwing stands in for a failed allocation. */
  beforeAllocate?: (file: string) => void;
  /** Runs before a prepared file is renamed to a new segment; throwing stands in for a failed rename. */
  beforeRename?: (segment: string) => void;
}

/** The log stopped accepting appends after a write or fsync failed (the node must restart). */
export class WalFailedError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'WalFailedError';
  }
}

export interface WalStats {
  appends: number;
  entries: number;
  /** Batches written by the flush loop. */
  flushes: number;
  /** fdatasync calls on segment data (group commit keeps this far below `appends`). */
  datasyncs: number;
  bytesWritten: number;
  rollovers: number;
  /** Records that failed a checksum when read back. */
  checksumFailures: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

interface PreparedFile {
  path: string;
  fh: FileHandle;
  bytes: number;
}

/** Terms are stored as u32. */
const TERM_MAX = 0xffff_ffff;
const BATCH_CAPACITY_INITIAL = 256;

/**
 * Appended entries not yet durable: encoded records packed into staging chunks (a record never
 * straddles two chunks), plus per-record sizes and terms. Two instances alternate so the flush
 * path allocates nothing per entry.
 */
class WriteBatch {
  firstIndex = 0;
  count = 0;
  bytes = 0;
  chunks: Buffer[] = [];
  chunkUsed: number[] = [];
  recordBytes = new Uint32Array(BATCH_CAPACITY_INITIAL);
  payloadLens = new Uint32Array(BATCH_CAPACITY_INITIAL);
  terms = new Float64Array(BATCH_CAPACITY_INITIAL);
  waiters: Waiter[] = [];
  /** Records of this batch already written and synced (a stalled flush resumes after them). */
  done = 0;

  get lastIndex(): number {
    return this.firstIndex + this.count - 1;
  }

  add(bytes: number, payloadLen: number, term: number): void {
    if (this.count === this.terms.length) this.grow();
    this.recordBytes[this.count] = bytes;
    this.payloadLens[this.count] = payloadLen;
    this.terms[this.count] = term;
    this.count++;
    this.bytes += bytes;
  }

  private grow(): void {
    const n = this.terms.length * 2;
    const rb = new Uint32Array(n);
    rb.set(this.recordBytes);
    this.recordBytes = rb;
    const pl = new Uint32Array(n);
    pl.set(this.payloadLens);
    this.payloadLens = pl;
    const t = new Float64Array(n);
    t.set(this.terms);
    this.terms = t;
  }

  termOf(index: number): number | undefined {
    return index >= this.firstIndex && index <= this.lastIndex ? this.terms[index - this.firstIndex] : undefined;
  }
}

/** An error's message as a log line of component `wal`, which already says where it comes from. */
function withoutPrefix(message: string): string {
  return message.replace(/^wal: /, '');
}

function defaultLog(line: string): void {
  process.stderr.write(line + '\n');
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function checkIndexArg(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`wal: ${name} must be a non-negative integer`);
}

/** Whether a segment being prepared should yield to the log's own writes between chunks. */
interface PreparePacing {
  /** Resolves once the next chunk may be written: after a pause, or at once when the segment is needed now. */
  pause(): Promise<void>;
}

const UNPACED: PreparePacing = { pause: () => Promise.resolve() };

async function prepareSegmentFile(fs: FileSystem, dir: string, name: string, bytes: number, hooks: WalHooks, pacing: PreparePacing = UNPACED): Promise<PreparedFile> {
  const path = join(dir, name);
  const fh = await atStep('allocate', path, () => {
    hooks.beforeAllocate?.(path);
    return fs.open(path, 'wx+');
  });
  try {
    // Zero-filled and synced ahead of use, so appends only overwrite allocated blocks and the
    // per-batch fdatasync has no file-size metadata to flush. A disk too full for it fails here,
    // and the partial file is removed so it holds no space while the flush retries.
    await atStep('allocate', path, () => zeroFillPaced(fh, bytes, pacing));
    await atStep('allocate-fsync', path, () => fh.sync());
  } catch (err) {
    await fh.close().catch(() => undefined);
    await fs.unlink(path).catch(() => undefined);
    throw err;
  }
  return { path, fh, bytes };
}

/**
 * Zero-fills [0, bytes) a chunk at a time, pausing after each and flushing every
 * prepareSyncEveryBytes, so the device never holds a whole segment of zeros in front of the tail's
 * fdatasync (STORAGE_LIMITS.prepareSyncEveryBytes says what a burst cost).
 */
async function zeroFillPaced(fh: FileHandle, bytes: number, pacing: PreparePacing): Promise<void> {
  const chunk = STORAGE_LIMITS.zeroFillChunkBytes;
  let unsynced = 0;
  for (let pos = 0; pos < bytes; pos += chunk) {
    const n = Math.min(chunk, bytes - pos);
    await zeroFill(fh, pos, n);
    unsynced += n;
    if (pos + n >= bytes) break;
    if (unsynced >= STORAGE_LIMITS.prepareSyncEveryBytes) {
      await fh.datasync();
      unsynced = 0;
    }
    await pacing.pause();
  }
}

export class SegmentedWal {
  readonly stats: WalStats = {
    appends: 0,
    entries: 0,
    flushes: 0,
    datasyncs: 0,
    bytesWritten: 0,
    rollovers: 0,
    checksumFailures: 0,
  };
  /** In index order, non-overlapping; all but the last (the tail, being appended to) are sealed. */
  private segmentList: Segment[];
  /** Index the next append must start with; lastIndex() is one less. */
  private nextIndex = 1;
  /** Every entry <= durableIndex is written and (with fsync) synced. */
  private durableIndex = 0;
  private lastTermValue = 0;
  private pending = new WriteBatch();
  private inflight: WriteBatch | undefined;
  private spare: WriteBatch | undefined;
  private flushScheduled = false;
  private flushing = false;
  private failure: WalFailedError | undefined;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  /** Set while truncateSuffix/reset run: appends must wait for them. */
  private appendsBlocked = false;
  private prepared: Promise<PreparedFile | Error> | undefined;
  private preparedBytes = 0;
  private prepareSeq = 0;
  /** The segment being prepared in the background is needed now (a rollover waits for it, or the log closes). */
  private preparingInHurry = false;
  private readonly preparePacing: PreparePacing = {
    pause: () =>
      this.preparingInHurry || this.closing
        ? Promise.resolve()
        : new Promise<void>((resolve) => void this.rt.setTimeout(resolve, STORAGE_LIMITS.preparePauseMs)),
  };
  private chunkPool: Buffer[] = [];
  /** Entries reported in damagedBodies at recovery: replay yields them, readEntries rejects them. */
  private knownDamaged = new Set<number>();
  /** Slow-fsync warnings: a disk that is slow stays slow, and one line per batch would flood. */
  private readonly slowFsyncLogs: LogRateLimit;
  /** Serializes truncateSuffix, reset and releaseSegments. Never rejects. */
  private adminChain: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly fsyncEnabled: boolean,
    private readonly log: Logger,
    private readonly replayChunkBytes: number,
    private readonly hooks: WalHooks,
    segments: Segment[],
    private readonly flushImmediately: boolean,
    private readonly stall: DiskStall,
    private readonly slowFsyncWarnMs: number,
    private readonly observer: WalObserver | undefined,
    private readonly fs: FileSystem,
    private readonly rt: Clock & Pick<Timers, 'setImmediate' | 'setTimeout'>,
  ) {
    this.segmentList = segments;
    this.slowFsyncLogs = new LogRateLimit(STORAGE_LIMITS.slowFsyncLogsPerMinute, 60_000, () => rt.monotonicMs());
  }

  /** Opens (creating if missing) and recovers the log in `dir`. Throws WalCorruptionError if damaged beyond a torn tail. */
  static async open(dir: string, opts: WalOptions = {}): Promise<{ wal: SegmentedWal; report: RecoveryReport }> {
    const requested = opts.segmentBytes ?? STORAGE_LIMITS.segmentBytesDefault;
    if (!Number.isSafeInteger(requested) || requested < STORAGE_LIMITS.segmentBytesMin) {
      throw new RangeError(`wal: segmentBytes must be an integer >= ${STORAGE_LIMITS.segmentBytesMin}`);
    }
    const log = loggerFor(opts.log, 'wal', defaultLog);
    const fs = opts.fs ?? nodeFs;
    const stall = opts.stall ?? new DiskStall(opts.log ?? defaultLog);
    const recovered = await recoverSegments(dir, log, fs, stall);
    const wal = new SegmentedWal(
      dir,
      align8(requested),
      opts.fsync ?? true,
      log,
      Math.max(1, opts.replayChunkBytes ?? STORAGE_LIMITS.replayChunkBytes),
      opts.hooks ?? {},
      recovered.segments,
      opts.flushImmediately ?? false,
      stall,
      opts.slowFsyncWarnMs ?? STORAGE_LIMITS.slowFsyncWarnMs,
      opts.observer,
      fs,
      opts.runtime ?? nodeRuntime,
    );
    try {
      await wal.finishRecovery();
    } catch (err) {
      await wal.close();
      throw err;
    }
    for (const d of recovered.damagedBodies) wal.knownDamaged.add(d.index);
    const report: RecoveryReport = {
      firstIndex: wal.firstIndex(),
      lastIndex: wal.lastIndex(),
      tornTailBytes: recovered.tornTailBytes,
      damagedBodies: recovered.damagedBodies,
    };
    log.info(
      `opened ${dir}: entries ${report.firstIndex}..${report.lastIndex} in ${wal.segmentList.length} segment(s)` +
        (report.tornTailBytes > 0 ? `, torn tail of ${report.tornTailBytes} bytes dropped` : '') +
        (report.damagedBodies.length > 0 ? `, ${report.damagedBodies.length} DAMAGED BODIES` : ''),
      { firstIndex: report.firstIndex, lastIndex: report.lastIndex },
    );
    return { wal, report };
  }

  /** Makes sure there is an unsealed tail to append to, and starts preparing the next segment. */
  private async finishRecovery(): Promise<void> {
    const last = this.segmentList[this.segmentList.length - 1];
    this.nextIndex = last ? last.lastIndex + 1 : 1;
    this.durableIndex = this.nextIndex - 1;
    this.lastTermValue = last ? (this.termAt(last.lastIndex) ?? 0) : 0;
    if (!last || last.sealed) {
      try {
        await this.createTail(this.nextIndex);
      } catch (err) {
        // A full disk must not keep the node from starting (and serving reads): the first flush
        // creates the tail instead, waiting for space as any stalled write does.
        if (stallCode(err) === undefined) throw err;
        this.log.error(`cannot create the next segment yet (${toError(err).message}); it is created when the first entry is written`);
      }
    }
    if (!this.prepared) this.startPreparing();
  }

  // ---- appending -------------------------------------------------------------------------------

  /**
   * Appends entries (indexes must continue at lastIndex() + 1) and resolves once they are durable.
   * Entries are copied before this returns, so the caller may reuse the payload buffers.
   */
  append(entries: readonly LogEntry[]): Promise<void> {
    const refused = this.refuseAppend(entries);
    if (refused) return Promise.reject(refused);
    if (entries.length === 0) return this.whenDurable(this.nextIndex - 1);
    const batch = this.pending;
    if (batch.count === 0) batch.firstIndex = this.nextIndex;
    for (const e of entries) this.encode(batch, e);
    this.nextIndex += entries.length;
    this.lastTermValue = entries[entries.length - 1]!.term;
    this.stats.appends++;
    this.stats.entries += entries.length;
    const durable = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
    this.scheduleFlush();
    return durable;
  }

  private refuseAppend(entries: readonly LogEntry[]): Error | undefined {
    if (this.closing) return new Error('wal: closed');
    if (this.failure) return this.failure;
    if (this.appendsBlocked) return new Error('wal: append while truncateSuffix/reset runs; await it first');
    let expected = this.nextIndex;
    let term = this.lastTermValue;
    let bytes = 0;
    for (const e of entries) {
      if (e.index !== expected) {
        return new RangeError(`wal: append of index ${e.index} where ${expected} is next (indexes must be contiguous)`);
      }
      if (!Number.isSafeInteger(e.term) || e.term < term || e.term > TERM_MAX) {
        return new RangeError(`wal: term ${e.term} of entry ${e.index} is not an integer >= the previous term ${term} (and < 2^32)`);
      }
      if (!ENTRY_KINDS.includes(e.kind)) return new RangeError(`wal: entry ${e.index} has unknown kind ${String(e.kind)}`);
      if (!Number.isFinite(e.timeMs)) return new RangeError(`wal: timeMs of entry ${e.index} is not finite`);
      const len = e.payload.length;
      if (len > STORAGE_LIMITS.entryPayloadBytesMax) {
        return new RangeError(`wal: entry ${e.index} payload of ${len} bytes exceeds ${STORAGE_LIMITS.entryPayloadBytesMax}`);
      }
      if (!Number.isInteger(e.metaLen) || e.metaLen < 0 || e.metaLen > len) {
        return new RangeError(`wal: metaLen ${e.metaLen} of entry ${e.index} is outside its payload`);
      }
      term = e.term;
      expected++;
      bytes += recordBytes(len);
    }
    if (this.pending.bytes + bytes > STORAGE_LIMITS.appendPendingBytesMax) {
      return new Error(`wal: more than ${STORAGE_LIMITS.appendPendingBytesMax} bytes waiting to be written`);
    }
    return undefined;
  }

  private encode(batch: WriteBatch, e: LogEntry): void {
    const bytes = recordBytes(e.payload.length);
    let ci = batch.chunks.length - 1;
    if (ci < 0 || batch.chunkUsed[ci]! + bytes > batch.chunks[ci]!.length) {
      batch.chunks.push(this.takeChunk(bytes));
      batch.chunkUsed.push(0);
      ci++;
    }
    const pos = batch.chunkUsed[ci]!;
    writeRecord(batch.chunks[ci]!, pos, e, e.index - batch.firstIndex);
    batch.chunkUsed[ci] = pos + bytes;
    batch.add(bytes, e.payload.length, e.term);
  }

  private takeChunk(minBytes: number): Buffer {
    if (minBytes <= STORAGE_LIMITS.encodeChunkBytes) {
      return this.chunkPool.pop() ?? Buffer.allocUnsafe(STORAGE_LIMITS.encodeChunkBytes);
    }
    return Buffer.allocUnsafe(minBytes);
  }

  private recycle(batch: WriteBatch): void {
    for (const chunk of batch.chunks) {
      if (chunk.length === STORAGE_LIMITS.encodeChunkBytes && this.chunkPool.length < STORAGE_LIMITS.encodeChunkPoolMax) {
        this.chunkPool.push(chunk);
      }
    }
    batch.chunks = [];
    batch.chunkUsed = [];
    batch.count = 0;
    batch.bytes = 0;
    batch.done = 0;
    batch.waiters = [];
  }

  /** Resolves once entry `index` (already appended) is durable; rejects if the log failed. */
  private whenDurable(index: number): Promise<void> {
    if (index <= this.durableIndex) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    const batch = this.inflight && index <= this.inflight.lastIndex ? this.inflight : this.pending;
    return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing) return;
    this.flushScheduled = true;
    const start = (): void => {
      this.flushScheduled = false;
      void this.flushLoop();
    };
    // One macrotask of delay gathers every append made in the current turn into the first batch.
    if (this.flushImmediately) queueMicrotask(start);
    else this.rt.setImmediate(start);
  }

  /** Group commit: write everything pending, sync once, resolve it all, repeat while more arrived. */
  private async flushLoop(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.count > 0 && !this.failure) {
        const batch = this.pending;
        this.pending = this.spare ?? new WriteBatch();
        this.spare = undefined;
        this.inflight = batch;
        const started = this.observer ? this.rt.monotonicMs() : 0;
        try {
          // Disk full or an I/O error: retried until space returns; each attempt re-writes from
          // memory everything not yet synced, so a retried fsync never vouches for lost pages.
          await this.stall.run(() => this.writeBatch(batch), () => this.closing);
        } catch (err) {
          this.fail(err);
          break;
        }
        this.inflight = undefined;
        this.durableIndex = batch.lastIndex;
        this.stats.flushes++;
        this.observer?.flushed((this.rt.monotonicMs() - started) / 1000);
        const waiters = batch.waiters;
        this.recycle(batch);
        this.spare = batch;
        for (const w of waiters) w.resolve();
      }
    } finally {
      this.inflight = undefined;
      this.flushing = false;
    }
  }

  /**
   * Writes a batch with one writev per segment touched and one fdatasync each. A record that
   * would cross the nominal segment size goes to a new segment; the old one gets a seal and is
   * synced before the new one exists, so a later segment always implies complete earlier ones.
   *
   * Resumable: records already synced (b.done) are skipped, and a failure forgets the tail's
   * unsynced records in memory, so the next attempt writes them again from the batch's buffers at
   * the last synced offset before it syncs. After a failed fsync the kernel may have dropped those
   * pages and marked them clean; writing them again is what makes the next fsync mean something.
   */
  private async writeBatch(b: WriteBatch): Promise<void> {
    try {
      await this.writeBatchFrom(b);
    } catch (err) {
      const tail = this.segmentList[this.segmentList.length - 1];
      const firstUnsynced = b.firstIndex + b.done;
      if (tail && !tail.sealed && tail.lastIndex >= firstUnsynced) tail.truncateFrom(firstUnsynced);
      throw err;
    }
  }

  private async writeBatchFrom(b: WriteBatch): Promise<void> {
    let seg = await this.writableTail(b.firstIndex + b.done);
    let iov: Buffer[] = [];
    let groupBytes = 0;
    let ci = 0;
    let pos = 0;
    let sliceChunk = -1;
    let sliceStart = 0;
    let sliceEnd = 0;
    const closeSlice = (): void => {
      if (sliceChunk >= 0 && sliceEnd > sliceStart) iov.push(b.chunks[sliceChunk]!.subarray(sliceStart, sliceEnd));
      sliceChunk = -1;
    };
    for (let r = 0; r < b.count; r++) {
      const bytes = b.recordBytes[r]!;
      while (pos >= b.chunkUsed[ci]!) {
        ci++;
        pos = 0;
      }
      if (r < b.done) {
        pos += bytes;
        continue;
      }
      const index = b.firstIndex + r;
      if (seg.count > 0 && seg.writeOffset + groupBytes + bytes + SEAL_BYTES > this.segmentBytes) {
        closeSlice();
        await this.writeGroup(seg, iov, groupBytes, true);
        b.done = r;
        seg = await this.createTail(index);
        this.stats.rollovers++;
        iov = [];
        groupBytes = 0;
      }
      seg.push(seg.writeOffset + groupBytes, b.payloadLens[r]!, b.terms[r]!);
      if (sliceChunk === ci && sliceEnd === pos) {
        sliceEnd += bytes;
      } else {
        closeSlice();
        sliceChunk = ci;
        sliceStart = pos;
        sliceEnd = pos + bytes;
      }
      groupBytes += bytes;
      pos += bytes;
    }
    closeSlice();
    if (groupBytes > 0) await this.writeGroup(seg, iov, groupBytes, false);
    b.done = b.count;
  }

  /** The unsealed tail to append `index` to, created first if a full disk deferred it. */
  private async writableTail(index: number): Promise<Segment> {
    const last = this.segmentList[this.segmentList.length - 1];
    if (last && !last.sealed) return last;
    return this.createTail(index);
  }

  private async writeGroup(seg: Segment, iov: Buffer[], groupBytes: number, seal: boolean): Promise<void> {
    if (seal) iov.push(encodeSeal(seg.lastIndex));
    const total = groupBytes + (seal ? SEAL_BYTES : 0);
    await atStep(seal ? 'write-seal' : 'write', seg.path, () => {
      this.hooks.beforeWrite?.(seg.name);
      return writevFully(seg.fh, iov, seg.writeOffset);
    });
    this.stats.bytesWritten += total;
    seg.fileBytes = Math.max(seg.fileBytes, seg.writeOffset + total);
    if (this.fsyncEnabled) await this.datasync(seg);
    seg.writeOffset += groupBytes;
    if (seal) seg.sealed = true;
  }

  private async datasync(seg: Segment): Promise<void> {
    const started = this.rt.monotonicMs();
    await atStep('fdatasync', seg.path, () => {
      this.hooks.beforeDatasync?.(seg.name);
      return seg.fh.datasync();
    });
    this.stats.datasyncs++;
    // Every acknowledged write waits for this; a slow disk shows up here before anywhere else.
    const ms = this.rt.monotonicMs() - started;
    if (ms > this.slowFsyncWarnMs) {
      const admitted = this.slowFsyncLogs.admit('fdatasync');
      if (admitted) {
        this.log.warn(`slow fdatasync: ${Math.round(ms)} ms on ${seg.name} (over ${this.slowFsyncWarnMs} ms)`, {
          durationMs: Math.round(ms),
          segment: seg.name,
          ...(admitted.suppressed > 0 ? { suppressed: admitted.suppressed } : {}),
        });
      }
    }
    this.observer?.datasynced((this.rt.monotonicMs() - started) / 1000);
  }

  /** After a failed write or sync nothing on disk can be trusted to match memory: refuse appends. */
  private fail(err: unknown): void {
    if (!this.failure) {
      const msg = toError(err).message;
      this.failure = new WalFailedError(`wal: a write or fsync failed, the log accepts no more appends: ${msg}`, err);
      this.log.error(withoutPrefix(this.failure.message));
    }
    for (const batch of [this.inflight, this.pending]) {
      if (!batch) continue;
      for (const w of batch.waiters.splice(0)) w.reject(this.failure);
    }
  }

  /** Turns the prepared zero-filled file into the segment starting at `firstIndex`. */
  private async createTail(firstIndex: number): Promise<Segment> {
    const file = await this.takePrepared();
    const name = segmentFileName(firstIndex);
    const path = join(this.dir, name);
    let at = file.path;
    try {
      await atStep('rename', path, () => {
        this.hooks.beforeRename?.(name);
        return this.fs.rename(file.path, path);
      });
      at = path;
      // The name must be durable before anything in the file is acknowledged.
      await atStep('directory fsync', this.dir, () => syncDirectory(this.dir, this.fs));
    } catch (err) {
      // Keep the allocated file (under whichever name it now has) for the next attempt: a full
      // disk may have no room for another one.
      this.prepared = Promise.resolve({ ...file, path: at });
      this.preparedBytes = file.bytes;
      throw err;
    }
    const seg = new Segment(name, path, firstIndex, file.fh, file.bytes);
    this.segmentList.push(seg);
    this.startPreparing();
    return seg;
  }

  private startPreparing(): void {
    const name = `next-${this.prepareSeq++}${PREALLOC_SUFFIX}`;
    this.preparingInHurry = false;
    this.prepared = prepareSegmentFile(this.fs, this.dir, name, this.segmentBytes, this.hooks, this.preparePacing).then(
      (file) => {
        this.preparedBytes = file.bytes;
        return file;
      },
      (err: unknown) => toError(err),
    );
  }

  private async takePrepared(): Promise<PreparedFile> {
    const preparing = this.prepared;
    this.prepared = undefined;
    // The log waits for it now: the rest is written without pauses.
    this.preparingInHurry = true;
    const ready = preparing ? await preparing : undefined;
    this.preparedBytes = 0;
    if (ready !== undefined && !(ready instanceof Error)) return ready;
    if (ready) this.log.warn(`preparing the next segment failed (${ready.message}); retrying now`);
    try {
      return await prepareSegmentFile(this.fs, this.dir, `next-${this.prepareSeq++}${PREALLOC_SUFFIX}`, this.segmentBytes, this.hooks);
    } catch (err) {
      if (stallCode(err) === undefined) throw err;
      // Too little space for a whole preallocated segment (64 MiB by default), which a disk that
      // an operator freed only partly may never have again: the segment starts empty and grows
      // with each write instead (each fdatasync then also records the new size). Appends go on as
      // long as there is any space, and stall, as any write does, only when there is none.
      const lazy = await prepareSegmentFile(this.fs, this.dir, `next-${this.prepareSeq++}${PREALLOC_SUFFIX}`, 0, this.hooks);
      this.log.warn(`no space for a preallocated segment of ${this.segmentBytes} bytes (${toError(err).message}); the next segment grows as it is written`);
      return lazy;
    }
  }

  // ---- positions ---------------------------------------------------------------------------------

  /**
   * First index of the final run of contiguous segments (entries firstIndex..lastIndex are all
   * present). Older segments kept across a reclamation hole are still readable but not counted.
   * Equals lastIndex() + 1 when the log holds no entries.
   */
  firstIndex(): number {
    const segs = this.segmentList;
    let k = segs.length - 1;
    while (k > 0 && segs[k - 1]!.lastIndex + 1 === segs[k]!.firstIndex) k--;
    return segs[k]?.firstIndex ?? this.nextIndex;
  }

  /** Index of the last appended entry (durable or not); 0 for a new log. */
  lastIndex(): number {
    return this.nextIndex - 1;
  }

  /** Index of the last entry known durable. */
  lastDurableIndex(): number {
    return this.durableIndex;
  }

  /** Resolves once every entry up to `index` (appended already) is durable; rejects if the log failed. */
  untilDurable(index: number): Promise<void> {
    if (index > this.lastIndex()) return Promise.reject(new Error(`entry ${index} is not in the log (it ends at ${this.lastIndex()})`));
    return this.whenDurable(index);
  }

  /** Term of the entry at lastIndex(); 0 if there is none (or it is not on disk after a restart). */
  lastTerm(): number {
    return this.lastTermValue;
  }

  /** Whether entry `index`'s body is known to be damaged (found at recovery or by a read). */
  isKnownDamaged(index: number): boolean {
    return this.knownDamaged.has(index);
  }

  /** Term of entry `index` if the log holds it (written or pending), else undefined. */
  termAt(index: number): number | undefined {
    const seg = this.segmentFor(index);
    if (seg) return seg.termOf(index);
    return this.inflight?.termOf(index) ?? this.pending.termOf(index);
  }

  /** Where an entry's record lives (diagnostics, tests); undefined if not present. */
  locate(index: number): { segment: string; fileOffset: number; recordBytes: number } | undefined {
    const seg = this.segmentFor(index);
    if (!seg) return undefined;
    return { segment: seg.name, fileOffset: seg.offsetOf(index), recordBytes: seg.endOf(index) - seg.offsetOf(index) };
  }

  private segmentFor(index: number): Segment | undefined {
    const segs = this.segmentList;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = segs[mid]!;
      if (index < s.firstIndex) hi = mid - 1;
      else if (index > s.lastIndex) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  // ---- reading -----------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closing) throw new Error('wal: closed');
  }

  /** Waits until `index` is durable; entries appended but not yet durable are waited for, not refused. */
  private async untilReadable(index: number): Promise<void> {
    if (index > this.nextIndex - 1 || index < 1) throw new EntryUnavailableError(index);
    if (index > this.durableIndex) await this.whenDurable(index);
  }

  /**
   * Entries from..toInclusive, every checksum verified (WalCorruptionError on a mismatch, including
   * entries recovery listed in damagedBodies). Reads each segment's part with one positional
   * read, so keep ranges moderate; use entriesFrom to stream a long stretch.
   */
  /**
   * Entries from..toInclusive, checksums verified. With tolerateKnownDamage, an entry whose body
   * is known damaged (found at recovery, report.damagedBodies, or by an earlier read) is returned
   * as it is, as replay does: its meta is intact and its message bodies fail their own checksums
   * when read for delivery. A body found damaged by this read becomes known damage.
   */
  async readEntries(from: number, toInclusive: number, opts: { tolerateKnownDamage?: boolean } = {}): Promise<LogEntry[]> {
    this.assertOpen();
    checkIndexArg('from', from);
    checkIndexArg('toInclusive', toInclusive);
    if (toInclusive < from) return [];
    await this.untilReadable(toInclusive);
    const out: LogEntry[] = [];
    for (let i = from; i <= toInclusive; ) {
      const seg = this.segmentFor(i);
      if (!seg) throw new EntryUnavailableError(i);
      const last = Math.min(toInclusive, seg.lastIndex);
      await this.readRange(seg, i, last, opts.tolerateKnownDamage ?? false, out);
      i = last + 1;
    }
    return out;
  }

  private async readRange(
    seg: Segment,
    from: number,
    to: number,
    tolerateKnownDamage: boolean,
    out: LogEntry[] = [],
  ): Promise<LogEntry[]> {
    const start = seg.offsetOf(from);
    const buf = Buffer.allocUnsafe(seg.endOf(to) - start);
    await seg.read(from, (fh) => readFully(fh, buf, 0, buf.length, start));
    let pos = 0;
    for (let i = from; i <= to; i++) {
      const d = decodeRecord(buf, pos, i);
      if (!d.ok) throw this.checksumFailure(seg, start + pos, `entry ${i}: ${d.reason}`);
      if (!d.bodyOk) {
        if (!this.knownDamaged.has(i)) {
          // Header and meta are intact (checked above): from now on this is known damage, as if
          // recovery had found it; its message bodies fail their own checksums when read.
          this.knownDamaged.add(i);
          this.log.error(`DAMAGED BODY: entry ${i} in ${seg.name} at offset ${start + pos} failed its body checksum on a read`);
        }
        if (!tolerateKnownDamage) throw this.checksumFailure(seg, start + pos, `entry ${i}: body checksum mismatch`);
      }
      out.push(d.entry);
      pos += d.recordBytes;
    }
    return out;
  }

  private checksumFailure(seg: Segment, fileOffset: number, what: string): WalCorruptionError {
    this.stats.checksumFailures++;
    const err = new WalCorruptionError(`wal: CHECKSUM FAILURE in ${seg.name} at offset ${fileOffset}: ${what}`, seg.name, fileOffset);
    this.log.error(withoutPrefix(err.message));
    return err;
  }

  /**
   * Streams entries from `from` to the last durable entry, reading about replayChunkBytes at a
   * time (the next read overlaps the consumer's work). Entries recovery listed in damagedBodies are
   * yielded as they are (meta intact; their bodies fail their own checksum when read). Throws
   * EntryUnavailableError at a reclamation hole: replay only from at or after the snapshot point.
   */
  async *entriesFrom(from: number): AsyncGenerator<LogEntry, void, undefined> {
    this.assertOpen();
    checkIndexArg('from', from);
    if (from < 1 || from > this.nextIndex) throw new EntryUnavailableError(from);
    let reading = this.readReplayChunk(from);
    while (reading) {
      const entries = await reading;
      reading = this.readReplayChunk(entries[entries.length - 1]!.index + 1);
      // Keeps a failed read-ahead from becoming an unhandled rejection if the consumer stops early.
      reading?.catch(() => undefined);
      for (const e of entries) yield e;
    }
  }

  private readReplayChunk(from: number): Promise<LogEntry[]> | undefined {
    if (from > this.durableIndex) return undefined;
    const seg = this.segmentFor(from);
    if (!seg) return Promise.reject(new EntryUnavailableError(from));
    const to = seg.lastIndexWithin(from, Math.min(seg.lastIndex, this.durableIndex), this.replayChunkBytes);
    return this.readRange(seg, from, to, true);
  }

  /**
   * `length` bytes of entry `index`'s payload starting at `offsetInPayload`, in one positional read
   * and without checksum verification (message bodies carry their own CRC, checked by the caller).
   */
  async readSlice(index: number, offsetInPayload: number, length: number): Promise<Buffer> {
    this.assertOpen();
    checkIndexArg('index', index);
    await this.untilReadable(index);
    const seg = this.segmentFor(index);
    if (!seg) throw new EntryUnavailableError(index);
    const payloadLen = seg.payloadLenOf(index);
    if (!Number.isSafeInteger(offsetInPayload) || !Number.isSafeInteger(length) || offsetInPayload < 0 || length < 0 ||
        offsetInPayload + length > payloadLen) {
      throw new RangeError(`wal: slice ${offsetInPayload}+${length} is outside entry ${index}'s ${payloadLen}-byte payload`);
    }
    const buf = Buffer.allocUnsafe(length);
    const position = seg.offsetOf(index) + HEADER_BYTES + offsetInPayload;
    await seg.read(index, (fh) => readFully(fh, buf, 0, length, position));
    return buf;
  }

  // ---- truncation and reclamation -----------------------------------------------------------------

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.adminChain.then(fn);
    this.adminChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Runs a change to the end of the log with appends held off and nothing left in flight. */
  private rewriteEnd(fn: () => Promise<void>): Promise<void> {
    return this.exclusive(async () => {
      this.assertOpen();
      if (this.failure) throw this.failure;
      this.appendsBlocked = true;
      try {
        await this.whenDurable(this.nextIndex - 1);
        await fn();
      } catch (err) {
        // Memory and disk may disagree after a failed partial rewrite; a restart recovers from disk.
        if (!(err instanceof WalFailedError)) this.fail(err);
        throw this.failure ?? err;
      } finally {
        this.appendsBlocked = false;
      }
    });
  }

  /**
   * Drops entries >= fromIndex (Raft conflict resolution), durably, before resolving. Appends made
   * while it runs are rejected: await it, then append from fromIndex.
   */
  truncateSuffix(fromIndex: number): Promise<void> {
    checkIndexArg('fromIndex', fromIndex);
    if (fromIndex < 1) return Promise.reject(new RangeError('wal: fromIndex must be >= 1'));
    return this.rewriteEnd(async () => {
      if (fromIndex >= this.nextIndex) return;
      await this.dropFrom(fromIndex);
      this.nextIndex = fromIndex;
      this.durableIndex = fromIndex - 1;
      this.lastTermValue = this.termAt(fromIndex - 1) ?? 0;
      for (const i of this.knownDamaged) if (i >= fromIndex) this.knownDamaged.delete(i);
    });
  }

  /**
   * Discards every entry and makes `nextIndex` the index of the next append (after installing a
   * snapshot that the log does not reach). A crash midway leaves a prefix of the old log or an
   * empty one starting at 1: the caller compares the log with its snapshot at start-up.
   */
  reset(nextIndex: number): Promise<void> {
    checkIndexArg('nextIndex', nextIndex);
    if (nextIndex < 1) return Promise.reject(new RangeError('wal: nextIndex must be >= 1'));
    return this.rewriteEnd(async () => {
      await this.deleteNewestFirst(() => true);
      await this.createTail(nextIndex);
      this.nextIndex = nextIndex;
      this.durableIndex = nextIndex - 1;
      this.lastTermValue = 0;
      this.knownDamaged.clear();
    });
  }

  /**
   * Leaves a hole: the next append starts at `nextIndex` (> lastIndex() + 1). The tail is sealed
   * (or, when empty, deleted) and a new segment starts at `nextIndex`; entries before the hole
   * stay readable, as those kept across a reclamation hole are. Used to stage the entries a
   * snapshot needs (runs with gaps between them) when a follower installs one from its leader.
   */
  skipTo(nextIndex: number): Promise<void> {
    checkIndexArg('nextIndex', nextIndex);
    if (nextIndex <= this.nextIndex) {
      return Promise.reject(new RangeError(`wal: skipTo(${nextIndex}) must move past the next index ${this.nextIndex}`));
    }
    return this.rewriteEnd(async () => {
      // No tail, or a sealed one, when a full disk deferred creating the next segment.
      const tail = this.segmentList[this.segmentList.length - 1];
      if (!tail || tail.sealed) {
        // nothing to close
      } else if (tail.count === 0) {
        this.segmentList.pop();
        await this.deleteSegmentFile(tail);
        await syncDirectory(this.dir, this.fs);
      } else {
        await this.writeGroup(tail, [], 0, true);
      }
      await this.createTail(nextIndex);
      this.nextIndex = nextIndex;
      this.durableIndex = nextIndex - 1;
    });
  }

  /** Deletes trailing segments while `doomed` says so; each unlink is durable before the next. */
  private async deleteNewestFirst(doomed: (s: Segment) => boolean): Promise<void> {
    for (let s = this.segmentList[this.segmentList.length - 1]; s && doomed(s); s = this.segmentList[this.segmentList.length - 1]) {
      this.segmentList.pop();
      await this.deleteSegmentFile(s);
      // Newest first and synced one by one: a crash leaves a prefix of the log, never a false hole.
      await syncDirectory(this.dir, this.fs);
    }
  }

  private async dropFrom(fromIndex: number): Promise<void> {
    await this.deleteNewestFirst((s) => s.firstIndex >= fromIndex);
    const last = this.segmentList[this.segmentList.length - 1];
    if (last && last.count > 0 && last.lastIndex >= fromIndex) await this.clearRecordsFrom(last, fromIndex);
    else await this.createTail(fromIndex);
  }

  /**
   * Zeroes the records of entries >= fromIndex (and the seal) in `seg`, which becomes the tail.
   * Zeroing runs backwards in record-aligned steps, each synced, and no step spans two of the
   * write batches the records were appended in: a crash tears at most one step, so it leaves a
   * prefix of the old log, then at most a torn part of one batch (which recovery drops as a torn
   * tail), then zeros. A step across batches, torn, could leave zeros followed by intact records
   * of a later batch, which recovery must take for lost acknowledged data.
   */
  private async clearRecordsFrom(seg: Segment, fromIndex: number): Promise<void> {
    const starts: number[] = [];
    const batches: number[] = [];
    const header = Buffer.alloc(HEADER_BYTES);
    for (let i = fromIndex; i <= seg.lastIndex; i++) {
      const at = seg.offsetOf(i);
      starts.push(at);
      await readFully(seg.fh, header, 0, HEADER_BYTES, at);
      batches.push(i - readHeader(header, 0).batchDelta);
    }
    let stepEnd = seg.writeOffset + (seg.sealed ? SEAL_BYTES : 0);
    const cut = seg.offsetOf(fromIndex);
    seg.truncateFrom(fromIndex);
    seg.writeOffset = cut;
    seg.sealed = false;
    let k = starts.length - 1;
    while (stepEnd > cut) {
      const batch = batches[k];
      let start = starts[k--]!;
      while (k >= 0 && batches[k] === batch && stepEnd - starts[k]! <= STORAGE_LIMITS.truncateStepBytes) start = starts[k--]!;
      await zeroFill(seg.fh, start, stepEnd - start);
      if (this.fsyncEnabled) await this.datasync(seg);
      stepEnd = start;
    }
  }

  /** The entry ranges of the closed segments (sealed, not the tail, not empty), in log order: what releaseSegments may delete. */
  closedSpans(): { firstIndex: number; lastIndex: number }[] {
    return this.closedSegments().map((s) => ({ firstIndex: s.firstIndex, lastIndex: s.lastIndex }));
  }

  /** Sealed segments other than the tail that hold entries. */
  private closedSegments(): Segment[] {
    const tail = this.segmentList[this.segmentList.length - 1];
    return this.segmentList.filter((s) => s !== tail && s.sealed && s.count > 0);
  }

  /**
   * Deletes every closed (sealed, not the tail) segment whose entries are all < belowIndex and for
   * which keep(firstIndex, lastIndex) is false; returns how many. Their entries become unavailable
   * (a hole if a kept segment lies below them); the remaining set survives restart.
   */
  releaseSegments(keep: (firstIndex: number, lastIndex: number) => boolean, belowIndex: number): Promise<number> {
    return this.exclusive(async () => {
      this.assertOpen();
      const victims = this.closedSegments().filter((s) => s.lastIndex < belowIndex && !keep(s.firstIndex, s.lastIndex));
      if (victims.length === 0) return 0;
      const doomed = new Set(victims);
      this.segmentList = this.segmentList.filter((s) => !doomed.has(s));
      for (const s of victims) {
        for (const i of this.knownDamaged) if (s.has(i)) this.knownDamaged.delete(i);
        await this.deleteSegmentFile(s);
      }
      await syncDirectory(this.dir, this.fs);
      return victims.length;
    });
  }

  private async deleteSegmentFile(seg: Segment): Promise<void> {
    await this.fs.unlink(seg.path);
    await seg.retire();
  }

  // ---- metrics and shutdown ------------------------------------------------------------------------

  /** Segment files in the log (metrics: cheaper than segments().length). */
  segmentCount(): number {
    return this.segmentList.length;
  }

  segments(): SegmentInfo[] {
    return this.segmentList.map((s) => s.info());
  }

  /** Bytes on disk: every segment file plus the prepared next one. */
  diskBytes(): number {
    return this.segmentList.reduce((sum, s) => sum + s.fileBytes, this.preparedBytes);
  }

  /** Encoded bytes appended but not yet handed to the disk (for back-pressure). */
  pendingBytes(): number {
    return this.pending.bytes;
  }

  /** Waits for appends in flight, then closes every file. Later calls reject. */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    await this.whenDurable(this.nextIndex - 1).catch(() => undefined);
    await this.adminChain;
    const preparing = this.prepared;
    this.prepared = undefined;
    const file = preparing ? await preparing : undefined;
    if (file && !(file instanceof Error)) {
      await file.fh.close();
      await this.fs.unlink(file.path).catch(() => undefined);
    }
    this.preparedBytes = 0;
    await Promise.all(this.segmentList.map((s) => s.retire()));
  }
}
