// The core's view of its log: a snapshot boundary, an in-memory window of the newest entries (the
// unpersisted tail plus recent persisted ones, bounded by bytes), older entries read through the
// driver's synchronous LogView, and the cursors of the Ready cycle (emitted for persistence,
// persisted, committed, handed to apply, applied).
//
// Invariants:
//   snapshotIndex <= appliedIndex <= applyingIndex <= min(commitIndex, persistedIndex) (unless a
//     snapshot install is pending), commitIndex <= lastIndex
//   the window holds exactly the entries [windowStart, lastIndex], contiguous;
//   every index in (snapshotIndex, windowStart) is persisted and identical in the LogView;
//   persistedIndex <= emittedIndex, and every entry above emittedIndex is in the window.

import { raftAssert } from './assert';
import { entryBytes, RAFT_LIMITS } from './limits';
import type { LogView, RaftEntry, SnapshotMeta } from './types';

export type EntriesResult = RaftEntry[] | 'unavailable' | 'compacted';

export class RaftLog {
  snapshotIndex: number;
  snapshotTerm: number;
  /** The latest snapshot the driver holds (restored or compacted to); sent to peers that need one. */
  snapshotMeta: SnapshotMeta | undefined;

  private win: RaftEntry[] = [];
  private winHead = 0;
  /** Index of win[winHead]; lastIndex + 1 when the window is empty. */
  private windowStart: number;
  private windowBytes = 0;

  /** Highest index known committed (Raft paper: commitIndex). Never decreases. */
  commitIndex: number;
  /** The persisted log equals this log up to here. */
  persistedIndex: number;
  /** Entries up to here have been handed to the driver for persistence. */
  private emittedIndex: number;
  /** The next Ready must tell the driver to discard persisted entries from here. */
  private pendingTruncateFrom: number | undefined;
  /** Committed entries handed to the apply loop up to here. */
  applyingIndex: number;
  /** The driver reported applying up to here. */
  appliedIndex: number;
  /** A snapshot received from the leader and not yet installed by the driver. */
  pendingSnapshot: SnapshotMeta | undefined;
  /** Time of the newest entry this log has held. */
  lastTimeMs: number;

  /** Entries loaded on request (entriesLoaded), all below windowStart: one contiguous run. */
  private loaded: RaftEntry[] = [];

  constructor(
    private readonly view: LogView,
    snapshot: SnapshotMeta | undefined,
    commitHint: number,
    appliedIndex: number | undefined,
    lastTimeMs: number | undefined,
    private readonly maxWindowBytes: number,
  ) {
    this.snapshotMeta = snapshot;
    this.snapshotIndex = snapshot?.index ?? 0;
    this.snapshotTerm = snapshot?.term ?? 0;
    const viewLast = view.lastIndex();
    const lastIndex = Math.max(viewLast, this.snapshotIndex);
    if (viewLast > this.snapshotIndex) {
      raftAssert(view.term(this.snapshotIndex + 1) !== undefined, () => `log does not continue after snapshot ${this.snapshotIndex}`);
      const t = this.snapshotIndex === 0 ? 0 : view.term(this.snapshotIndex);
      raftAssert(t === undefined || t === this.snapshotTerm, () => `log disagrees with snapshot at ${this.snapshotIndex}`);
    }
    this.windowStart = lastIndex + 1;
    this.persistedIndex = lastIndex;
    this.emittedIndex = lastIndex;
    this.commitIndex = Math.max(this.snapshotIndex, Math.min(commitHint, lastIndex));
    this.appliedIndex = appliedIndex ?? this.snapshotIndex;
    raftAssert(
      this.appliedIndex >= this.snapshotIndex && this.appliedIndex <= this.commitIndex,
      () => `restored appliedIndex ${this.appliedIndex} outside [${this.snapshotIndex}, ${this.commitIndex}]`,
    );
    this.applyingIndex = this.appliedIndex;
    this.lastTimeMs = lastTimeMs ?? 0;
    if (lastTimeMs === undefined && lastIndex > this.snapshotIndex) {
      const last = view.entries(lastIndex, lastIndex, 0);
      if (Array.isArray(last) && last[0]) this.lastTimeMs = last[0].timeMs;
    }
  }

  lastIndex(): number {
    return this.windowStart + this.win.length - this.winHead - 1;
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    raftAssert(t !== undefined, 'term of the last entry is unknown');
    return t;
  }

  /** Term of entry `index`; undefined when compacted away or past the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex() || index < 0) return undefined;
    if (index >= this.windowStart) return this.win[this.winHead + index - this.windowStart]!.term;
    const t = this.view.term(index);
    raftAssert(t !== undefined, () => `LogView has no term for persisted entry ${index}`);
    return t;
  }

  /** Raft paper §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up-to-date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /**
   * Entries [lo, hi] (a prefix of them within maxBytes, at least one): from the window, the loaded
   * cache or the LogView. 'compacted' below the snapshot; 'unavailable' when the driver must load them.
   */
  entries(lo: number, hi: number, maxBytes: number): EntriesResult {
    raftAssert(lo >= 1 && hi <= this.lastIndex(), () => `entries(${lo}, ${hi}) out of range (last ${this.lastIndex()})`);
    if (lo > hi) return [];
    if (lo <= this.snapshotIndex) return 'compacted';
    if (lo >= this.windowStart) return this.fromWindow(lo, hi, maxBytes);
    const below = Math.min(hi, this.windowStart - 1);
    const cached = this.fromLoaded(lo, below, maxBytes);
    if (cached) return cached;
    const got = this.view.entries(lo, below, maxBytes);
    if (got === 'compacted') {
      raftAssert(false, () => `LogView answered 'compacted' for ${lo}, above snapshot ${this.snapshotIndex}`);
    }
    if (got === 'unavailable') return got;
    raftAssert(got.length > 0 && got[0]!.index === lo, () => `LogView.entries(${lo}, ${below}) returned a wrong range`);
    for (let i = 1; i < got.length; i++) raftAssert(got[i]!.index === lo + i, 'LogView.entries: not contiguous');
    raftAssert(got[got.length - 1]!.index <= below, 'LogView.entries: past the requested range');
    return got;
  }

  private fromWindow(lo: number, hi: number, maxBytes: number): RaftEntry[] {
    const out: RaftEntry[] = [];
    let bytes = 0;
    for (let i = lo; i <= hi; i++) {
      const e = this.win[this.winHead + i - this.windowStart]!;
      const b = entryBytes(e.payload.length);
      if (out.length > 0 && bytes + b > maxBytes) break;
      out.push(e);
      bytes += b;
    }
    return out;
  }

  private fromLoaded(lo: number, hi: number, maxBytes: number): RaftEntry[] | undefined {
    const first = this.loaded[0];
    if (!first || lo < first.index || lo > first.index + this.loaded.length - 1) return undefined;
    const out: RaftEntry[] = [];
    let bytes = 0;
    for (let i = lo - first.index; i < this.loaded.length && out.length <= hi - lo; i++) {
      const e = this.loaded[i]!;
      const b = entryBytes(e.payload.length);
      if (out.length > 0 && bytes + b > maxBytes) break;
      out.push(e);
      bytes += b;
    }
    return out;
  }

  /** Keep loaded entries that still belong to this log and sit below the window; one run only. */
  acceptLoaded(entries: RaftEntry[]): boolean {
    const run: RaftEntry[] = [];
    let bytes = 0;
    for (const e of entries) {
      if (e.index <= this.snapshotIndex || e.index >= this.windowStart) continue;
      if (this.term(e.index) !== e.term) continue;
      const last = run[run.length - 1];
      if (last && e.index !== last.index + 1) break;
      if (run.length > 0 && bytes + entryBytes(e.payload.length) > RAFT_LIMITS.loadedCacheBytes) break;
      run.push(e);
      bytes += entryBytes(e.payload.length);
    }
    if (run.length === 0) return false;
    this.loaded = run;
    return true;
  }

  /** The first index in [index-from-the-top, 0] whose term is <= term (the conflict hint search). */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snapshotIndex) {
      const t = this.term(i)!;
      if (t <= term) return { index: i, term: t };
      i--;
    }
    return { index: this.snapshotIndex, term: this.snapshotTerm };
  }

  /**
   * Append entries received from the leader (or proposed), truncating a conflicting suffix first.
   * The first entry must be at most lastIndex + 1 and above commitIndex.
   */
  append(entries: RaftEntry[]): void {
    const first = entries[0];
    if (!first) return;
    raftAssert(first.index > this.commitIndex, () => `append would overwrite committed entry ${first.index} (commit ${this.commitIndex})`);
    raftAssert(first.index <= this.lastIndex() + 1, () => `append leaves a gap at ${first.index} (last ${this.lastIndex()})`);
    if (first.index <= this.lastIndex()) this.truncateFrom(first.index);
    let prevTerm = this.term(first.index - 1) ?? 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      raftAssert(e.index === first.index + i, 'append: entries not contiguous');
      raftAssert(e.term >= prevTerm, () => `append: term goes back at ${e.index}`);
      prevTerm = e.term;
      this.win.push(e);
      this.windowBytes += entryBytes(e.payload.length);
      if (e.timeMs > this.lastTimeMs) this.lastTimeMs = e.timeMs;
    }
  }

  private truncateFrom(index: number): void {
    if (index < this.windowStart) {
      // The conflict lies below the window: the window restarts at it (all of it is being replaced).
      this.win = [];
      this.winHead = 0;
      this.windowBytes = 0;
      this.windowStart = index;
    } else {
      const keep = this.winHead + index - this.windowStart;
      for (let i = keep; i < this.win.length; i++) this.windowBytes -= entryBytes(this.win[i]!.payload.length);
      this.win.length = keep;
    }
    this.loaded = [];
    if (index <= this.emittedIndex) {
      this.emittedIndex = index - 1;
      this.pendingTruncateFrom = Math.min(this.pendingTruncateFrom ?? index, index);
    }
    this.persistedIndex = Math.min(this.persistedIndex, index - 1);
  }

  commitTo(index: number): boolean {
    if (index <= this.commitIndex) return false;
    raftAssert(index <= this.lastIndex(), () => `commitTo(${index}) beyond lastIndex ${this.lastIndex()}`);
    this.commitIndex = index;
    return true;
  }

  hasUnpersisted(): boolean {
    return this.lastIndex() > this.emittedIndex || this.pendingTruncateFrom !== undefined;
  }

  /** Entries to hand to the driver for persistence, and mark them emitted. */
  takeUnpersisted(): { entries: RaftEntry[]; truncateFrom: number | undefined } {
    const lo = this.emittedIndex + 1;
    const hi = this.lastIndex();
    raftAssert(lo >= this.windowStart || lo > hi, 'unpersisted entries fell out of the window');
    const entries = lo <= hi ? this.fromWindow(lo, hi, Infinity) : [];
    const truncateFrom = this.pendingTruncateFrom;
    raftAssert(truncateFrom === undefined || entries[0]?.index === truncateFrom, 'truncateFrom must equal the first entry to persist');
    this.pendingTruncateFrom = undefined;
    this.emittedIndex = hi;
    return { entries, truncateFrom };
  }

  /** The driver persisted `entries` (one Ready's worth): raise persistedIndex over what still matches. */
  stableTo(entries: RaftEntry[]): void {
    if (this.pendingSnapshot) return; // the disk is about to be reset to the snapshot
    const first = entries[0];
    if (!first || first.index > this.persistedIndex + 1) return;
    for (const e of entries) {
      if (e.index > this.emittedIndex || this.term(e.index) !== e.term) break;
      if (e.index > this.persistedIndex) this.persistedIndex = e.index;
    }
    this.trimWindow();
  }

  hasCommittedToApply(): boolean {
    return (
      this.pendingSnapshot === undefined &&
      Math.min(this.commitIndex, this.persistedIndex) > this.applyingIndex &&
      this.applyingIndex - this.appliedIndex < RAFT_LIMITS.unappliedEntriesMax
    );
  }

  /** Committed, persisted entries not yet handed to apply; 'unavailable' when they must be loaded. */
  takeCommitted(): RaftEntry[] | 'unavailable' {
    if (!this.hasCommittedToApply()) return [];
    const lo = this.applyingIndex + 1;
    const hi = Math.min(this.commitIndex, this.persistedIndex, this.appliedIndex + RAFT_LIMITS.unappliedEntriesMax);
    const got = this.entries(lo, hi, RAFT_LIMITS.committedBytesPerReady);
    raftAssert(got !== 'compacted', () => `committed entry ${lo} is compacted before being applied`);
    if (got === 'unavailable') return got;
    this.applyingIndex = got[got.length - 1]!.index;
    return got;
  }

  appliedTo(index: number): void {
    raftAssert(index <= this.applyingIndex, () => `appliedTo(${index}) beyond the entries handed out (${this.applyingIndex})`);
    if (index > this.appliedIndex) this.appliedIndex = index;
    this.trimWindow();
  }

  /** Forget persisted, applied entries from the front of the window while it is over budget. */
  private trimWindow(): void {
    const limit = Math.min(this.persistedIndex, this.applyingIndex);
    while (this.windowBytes > this.maxWindowBytes && this.winHead < this.win.length && this.windowStart <= limit) {
      this.windowBytes -= entryBytes(this.win[this.winHead]!.payload.length);
      this.winHead++;
      this.windowStart++;
    }
    if (this.winHead > 1024 && this.winHead * 2 > this.win.length) {
      this.win = this.win.slice(this.winHead);
      this.winHead = 0;
    }
  }

  /** The driver snapshotted the state machine at meta.index: entries up to it may be forgotten. */
  compact(meta: SnapshotMeta): void {
    if (meta.index <= this.snapshotIndex) return;
    raftAssert(meta.index <= this.appliedIndex, () => `compact(${meta.index}) beyond appliedIndex ${this.appliedIndex}`);
    raftAssert(this.term(meta.index) === meta.term, () => `compact(${meta.index}): term ${meta.term} does not match the log`);
    while (this.winHead < this.win.length && this.windowStart <= meta.index) {
      this.windowBytes -= entryBytes(this.win[this.winHead]!.payload.length);
      this.winHead++;
      this.windowStart++;
    }
    if (this.windowStart <= meta.index) this.windowStart = meta.index + 1;
    this.loaded = this.loaded.filter((e) => e.index > meta.index);
    this.snapshotIndex = meta.index;
    this.snapshotTerm = meta.term;
    this.snapshotMeta = meta;
  }

  /** A snapshot from the leader replaces the whole log; the driver installs it before anything else. */
  restore(meta: SnapshotMeta): void {
    raftAssert(meta.index > this.commitIndex, () => `restore(${meta.index}) at or below commitIndex ${this.commitIndex}`);
    this.win = [];
    this.winHead = 0;
    this.windowBytes = 0;
    this.windowStart = meta.index + 1;
    this.loaded = [];
    this.snapshotIndex = meta.index;
    this.snapshotTerm = meta.term;
    this.snapshotMeta = meta;
    this.commitIndex = meta.index;
    this.emittedIndex = meta.index;
    this.pendingTruncateFrom = undefined;
    this.pendingSnapshot = meta;
  }

  /** The driver installed the pending snapshot: the disk now holds it and nothing after it. */
  snapshotInstalled(meta: SnapshotMeta): void {
    const pending = this.pendingSnapshot;
    raftAssert(pending !== undefined && pending.index === meta.index && pending.term === meta.term, 'snapshotInstalled: not the pending snapshot');
    this.pendingSnapshot = undefined;
    this.persistedIndex = meta.index;
    this.applyingIndex = meta.index;
    this.appliedIndex = meta.index;
  }
}
