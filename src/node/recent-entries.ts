// The driver's window of recently persisted entries and the LogView the Raft core reads through
// it: terms come from the disk index, payloads only from the window (a miss is answered
// 'unavailable' and loaded from disk asynchronously). Shared by the node's RaftDriver and the
// queue-level simulator, so the simulator exercises the same window rules as the node.

import type { LogView, RaftEntry } from '../raft/types';

/**
 * Recently persisted entries, by index, bounded by payload bytes; evicts the oldest. Indexes are
 * contiguous from `lo`, so eviction walks a counter (iterating a Map from its front after many
 * deletions costs V8 a scan over the deleted slots every time).
 */
export class RecentEntries {
  private readonly byIndex = new Map<number, RaftEntry>();
  private bytes = 0;
  /** Lowest index held (meaningful while byIndex is not empty). */
  private lo = 0;

  constructor(private readonly maxBytes: number) {}

  add(e: RaftEntry): void {
    if (this.byIndex.size === 0) this.lo = e.index;
    this.byIndex.set(e.index, e);
    this.bytes += e.payload.byteLength;
    while (this.bytes > this.maxBytes && this.byIndex.size > 1) {
      const old = this.byIndex.get(this.lo);
      if (old) {
        this.byIndex.delete(this.lo);
        this.bytes -= old.payload.byteLength;
      }
      this.lo++;
    }
  }

  /** Drops entries >= index (a conflicting suffix being replaced). */
  truncateFrom(index: number): void {
    const hi = this.lo + this.byIndex.size;
    for (let i = Math.max(index, this.lo); i < hi; i++) {
      const e = this.byIndex.get(i);
      if (!e) continue;
      this.byIndex.delete(i);
      this.bytes -= e.payload.byteLength;
    }
  }

  get(index: number): RaftEntry | undefined {
    return this.byIndex.get(index);
  }
}

/** What the core may read from the disk side without waiting: bounds and terms. */
export interface DiskIndex {
  firstIndex(): number;
  lastIndex(): number;
  term(index: number): number | undefined;
}

/**
 * The core's view of the log: entries lo..hi up to maxBytes (at least one) from the window;
 * 'compacted' below the disk's first index, 'unavailable' when the first one is not in memory.
 */
export function windowLogView(disk: DiskIndex, recent: () => RecentEntries): LogView {
  return {
    firstIndex: () => disk.firstIndex(),
    lastIndex: () => disk.lastIndex(),
    term: (index) => disk.term(index),
    entries: (lo, hi, maxBytes) => {
      if (lo < disk.firstIndex()) return 'compacted';
      const window = recent();
      const out: RaftEntry[] = [];
      let bytes = 0;
      for (let i = lo; i <= hi; i++) {
        const e = window.get(i);
        if (!e) return out.length > 0 ? out : 'unavailable';
        if (out.length > 0 && bytes + e.payload.byteLength > maxBytes) break;
        out.push(e);
        bytes += e.payload.byteLength;
      }
      return out;
    },
  };
}
