// One WAL segment file and its in-memory index: the file offset, payload length and term of each
// entry, so any entry (or part of its payload) is one positional read away.
import type { FileHandle } from '../runtime/fs';
import { EntryUnavailableError } from './types';
import { recordBytes } from './wal-format';

const INDEX_CAPACITY_INITIAL = 1024;

export interface SegmentInfo {
  name: string;
  firstIndex: number;
  /** firstIndex - 1 when the segment holds no entries. */
  lastIndex: number;
  /** Size of the file on disk (preallocated space included). */
  bytes: number;
  /** Bytes holding records (the seal excluded). */
  usedBytes: number;
  sealed: boolean;
}

export class Segment {
  /** Entries held: firstIndex .. firstIndex + count - 1, contiguous. */
  count = 0;
  /** Offset just past the last record: where the next record or the seal goes. */
  writeOffset = 0;
  /** A sealed segment is closed: complete, never written again (except by truncateSuffix). */
  sealed = false;
  private offsets = new Float64Array(INDEX_CAPACITY_INITIAL);
  private payloadLens = new Uint32Array(INDEX_CAPACITY_INITIAL);
  /** Terms change rarely, so they are kept as runs: runStarts[k] begins a run of runTerms[k]. */
  private runStarts: number[] = [];
  private runTerms: number[] = [];
  private activeReads = 0;
  private retired = false;
  private closing: Promise<void> | undefined;
  private closeWaiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly path: string,
    readonly firstIndex: number,
    readonly fh: FileHandle,
    /** Size of the file on disk; grows when a record is written past the preallocated end. */
    public fileBytes: number,
  ) {}

  get lastIndex(): number {
    return this.firstIndex + this.count - 1;
  }

  has(index: number): boolean {
    return index >= this.firstIndex && index <= this.lastIndex;
  }

  /** Records the next entry (index lastIndex + 1) at `offset`. */
  push(offset: number, payloadLen: number, term: number): void {
    if (this.count === this.offsets.length) this.grow();
    this.offsets[this.count] = offset;
    this.payloadLens[this.count] = payloadLen;
    const index = this.firstIndex + this.count;
    if (this.runTerms.length === 0 || this.runTerms[this.runTerms.length - 1] !== term) {
      this.runStarts.push(index);
      this.runTerms.push(term);
    }
    this.count++;
  }

  private grow(): void {
    const offsets = new Float64Array(this.offsets.length * 2);
    offsets.set(this.offsets);
    this.offsets = offsets;
    const lens = new Uint32Array(this.payloadLens.length * 2);
    lens.set(this.payloadLens);
    this.payloadLens = lens;
  }

  /** File offset of entry `index` (which must be held). */
  offsetOf(index: number): number {
    return this.offsets[index - this.firstIndex]!;
  }

  payloadLenOf(index: number): number {
    return this.payloadLens[index - this.firstIndex]!;
  }

  /** File offset just past the record of entry `index`. */
  endOf(index: number): number {
    return this.offsetOf(index) + recordBytes(this.payloadLenOf(index));
  }

  termOf(index: number): number {
    for (let k = this.runStarts.length - 1; k >= 0; k--) {
      if (this.runStarts[k]! <= index) return this.runTerms[k]!;
    }
    throw new Error(`segment ${this.name}: no term for index ${index}`);
  }

  /**
   * The largest index in [from, maxIndex] such that the records from..index span at most
   * `bytes` (at least `from` itself), so a replay read stays near a chosen size.
   */
  lastIndexWithin(from: number, maxIndex: number, bytes: number): number {
    const start = this.offsetOf(from);
    let lo = from;
    let hi = maxIndex;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.endOf(mid) - start <= bytes) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Forgets entries >= index (in memory only). */
  truncateFrom(index: number): void {
    if (index > this.lastIndex) return;
    this.count = Math.max(0, index - this.firstIndex);
    while (this.runStarts.length > 0 && this.runStarts[this.runStarts.length - 1]! >= index) {
      this.runStarts.pop();
      this.runTerms.pop();
    }
  }

  info(): SegmentInfo {
    return {
      name: this.name,
      firstIndex: this.firstIndex,
      lastIndex: this.lastIndex,
      bytes: this.fileBytes,
      usedBytes: this.writeOffset,
      sealed: this.sealed,
    };
  }

  /**
   * Runs a read on the file handle. A segment retired (deleted) meanwhile keeps its handle open
   * until the reads in progress finish; a read that starts after retirement fails as unavailable.
   */
  async read<T>(index: number, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    if (this.retired) throw new EntryUnavailableError(index);
    this.activeReads++;
    try {
      return await fn(this.fh);
    } finally {
      this.activeReads--;
      if (this.retired && this.activeReads === 0) void this.closeHandle();
    }
  }

  /** Marks the segment deleted; resolves once its handle is closed (after reads in progress). */
  retire(): Promise<void> {
    this.retired = true;
    if (this.activeReads === 0) return this.closeHandle();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  private closeHandle(): Promise<void> {
    this.closing ??= this.fh.close().then(
      () => this.wakeCloseWaiters(),
      () => this.wakeCloseWaiters(),
    );
    return this.closing;
  }

  private wakeCloseWaiters(): void {
    for (const wake of this.closeWaiters.splice(0)) wake();
  }
}
