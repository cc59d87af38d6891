// A node's simulated disk: hard state, the latest snapshot (meta plus state-machine data) and the
// log after it. It is the LogView the core reads, and it persists Ready contents in the order the
// driver contract prescribes (snapshot, truncate, entries, then hard state). A crash can cut a
// Ready short: `persist` takes how many entries and whether the hard state made it to disk.

import assert from 'node:assert/strict';
import type { HardState, LogView, RaftEntry, Ready, RestoredState, SnapshotMeta } from '../../src/raft/types';
import type { SmSnapshot } from './state-machine';

export class MemoryStorage implements LogView {
  hardState: HardState = { term: 0, votedFor: undefined, commitIndex: 0 };
  snapshot: { meta: SnapshotMeta; data: SmSnapshot } | undefined;
  private log: RaftEntry[] = [];
  /** Index of log[0]. */
  private offset = 1;
  /** Fault injection: entries() answers 'unavailable' for indexes below this (exercises fetches). */
  unavailableBelow = 0;

  firstIndex(): number {
    return this.offset;
  }

  lastIndex(): number {
    return this.offset + this.log.length - 1;
  }

  term(index: number): number | undefined {
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.log[index - this.offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): RaftEntry[] | 'unavailable' | 'compacted' {
    if (lo < this.offset) return 'compacted';
    if (lo < this.unavailableBelow) return 'unavailable';
    return this.load(lo, hi, maxBytes);
  }

  /** What the driver's asynchronous loader returns (ignores unavailableBelow). */
  load(lo: number, hi: number, maxBytes: number): RaftEntry[] {
    const out: RaftEntry[] = [];
    let bytes = 0;
    for (let i = Math.max(lo, this.offset); i <= Math.min(hi, this.lastIndex()); i++) {
      const e = this.log[i - this.offset]!;
      if (out.length > 0 && bytes + e.payload.length > maxBytes) break;
      out.push(e);
      bytes += e.payload.length;
    }
    return out;
  }

  all(): readonly RaftEntry[] {
    return this.log;
  }

  /** Persist a Ready (or, for a crash mid-write, its first `entryCount` entries and maybe not the hard state). */
  persist(rd: Ready, snapshotData: SmSnapshot | undefined, entryCount = rd.entriesToPersist.length, hardState = true): void {
    if (rd.snapshotToInstall) {
      assert.ok(snapshotData && snapshotData.index === rd.snapshotToInstall.index, 'snapshot data missing for install');
      this.snapshot = { meta: rd.snapshotToInstall, data: snapshotData };
      this.log = [];
      this.offset = rd.snapshotToInstall.index + 1;
    }
    if (rd.truncateFrom !== undefined) {
      assert.ok(rd.truncateFrom >= this.offset, `truncate below the snapshot (${rd.truncateFrom} < ${this.offset})`);
      if (rd.truncateFrom <= this.lastIndex()) this.log.length = rd.truncateFrom - this.offset;
    }
    const entries = rd.entriesToPersist.slice(0, entryCount);
    for (const e of entries) {
      assert.equal(e.index, this.lastIndex() + 1, `persist leaves a gap at ${e.index}`);
      this.log.push(e);
    }
    // Entries first, hard state after: a commitIndex must never reach disk ahead of its entries.
    if (rd.hardState && hardState && entryCount === rd.entriesToPersist.length) this.hardState = { ...rd.hardState };
  }

  /** The driver took a snapshot at meta.index: keep it and drop the entries it covers. */
  compact(meta: SnapshotMeta, data: SmSnapshot): void {
    assert.equal(meta.index, data.index);
    this.snapshot = { meta, data };
    const drop = Math.min(meta.index + 1 - this.offset, this.log.length);
    if (drop > 0) this.log = this.log.slice(drop);
    this.offset = meta.index + 1;
  }

  clone(): MemoryStorage {
    const c = new MemoryStorage();
    c.restoreFrom(this);
    return c;
  }

  /** Become a copy of `other` (a crash reverting to what was synced). */
  restoreFrom(other: MemoryStorage): void {
    this.hardState = { ...other.hardState };
    this.snapshot = other.snapshot;
    this.log = [...other.log];
    this.offset = other.offset;
  }

  /** What a restarting node hands to `new RaftNode`. */
  restored(): RestoredState {
    const snapIndex = this.snapshot?.meta.index ?? 0;
    const last = this.log[this.log.length - 1];
    const r: RestoredState = {
      hardState: { ...this.hardState },
      configEntries: this.log.filter((e) => e.kind === 'config'),
      appliedIndex: snapIndex,
      lastTimeMs: last?.timeMs ?? 0,
    };
    if (this.snapshot) r.snapshotMeta = this.snapshot.meta;
    return r;
  }
}
