// The simulated disk of a queue-simulation node. Every log entry is stored as a real WAL record
// (src/storage/wal-format.ts: a header CRC32C over the header and the command meta, a body CRC32C
// over the message bodies), so a flipped bit is found exactly where the real WAL finds it, and
// the rules for what happens next follow the real WAL (docs/storage.md) and node driver:
//
// - Recovery (at every boot) verifies every record. A bad body CRC in any record but the last is
//   kept and remembered as known damage (its meta is intact, so it replays); in the last record it
//   is taken for a torn write and the record is dropped. A partial record at the end (a crash in
//   the middle of a write) is a torn tail and is dropped.
// - Loads for the Raft core (a follower lagging beyond the in-memory window, an apply after a
//   restart) verify both CRCs; known damage is returned as it is (as `readEntries` with
//   tolerateKnownDamage does); damage found for the first time is a `WalCorruptionError`, which
//   stops the real node (RaftDriver.fetch -> fail), so the simulated node crashes and recovers.
// - Message bodies read for delivery are raw slices (`readSlice`, no record check): the state
//   machine's per-body CRC32C, recorded in the send's meta, decides whether a body is whole.
// - Bit flips land in the body part of a record that is not the last one on the disk: header and
//   meta damage makes the real node refuse to start (an operator restores the disk), which is a
//   storage test (test/unit/storage-wal.test.ts), not something a simulated set can recover from;
//   the last record's body CRC cannot be told apart from a torn write.
//
// After a snapshot, records that still hold a live message body (visible, in flight, delayed,
// in a rewind area: QueueStateMachine.liveEntryIndexes) are retained, as the real node keeps
// every segment holding one; everything else below the snapshot is gone.

import type { HardState, RaftEntry, Ready, SnapshotMeta } from '../../src/raft/types';
import { decodeRecord, HEADER_BYTES, readHeader, recordBytes, writeRecord } from '../../src/storage/wal-format';

export interface WalSnapshot {
  meta: SnapshotMeta;
  stateMachine: Uint8Array;
}

/** What a leader ships with InstallSnapshot: the state machine and the entries holding its live bodies. */
export interface ShippedSnapshot {
  index: number;
  stateMachine: Uint8Array;
  bodies: RaftEntry[];
}

export interface RecoveryReport {
  tornTailDropped: boolean;
  /** The last record's body CRC failed: dropped as a torn write (possibly an acknowledged entry). */
  damagedLastDropped: number | undefined;
  damagedBodies: number[];
}

export type LoadResult = { ok: true; entries: RaftEntry[] } | { ok: false; corruptIndex: number };

function encode(e: RaftEntry, batchDelta: number): Buffer {
  const buf = Buffer.alloc(recordBytes(e.payload.length));
  writeRecord(buf, 0, e, batchDelta);
  return buf;
}

interface Decoded {
  entry: RaftEntry;
  bodyOk: boolean;
}

function decode(buf: Buffer, index: number): Decoded {
  const d = decodeRecord(buf, 0, index);
  if (!d.ok) throw new Error(`sim wal: record ${index} does not decode (${d.reason}); the simulator damages only bodies`);
  // Copy: the payload is a view into the record, and later flips must not reach what was read.
  const e = d.entry;
  return { entry: { index: e.index, term: e.term, kind: e.kind, timeMs: e.timeMs, metaLen: e.metaLen, payload: Uint8Array.from(e.payload) }, bodyOk: d.bodyOk };
}

export class SimWal {
  hardState: HardState = { term: 0, votedFor: undefined, commitIndex: 0 };
  snapshot: WalSnapshot | undefined;
  /** records[i] holds entry offset + i. */
  private records: Buffer[] = [];
  private terms: number[] = [];
  private offset = 1;
  /** Records at or below the snapshot kept because they hold live bodies. */
  private retained = new Map<number, Buffer>();
  /** Bodies whose CRC failed at the last recovery: loads return them as they are. */
  private readonly knownDamaged = new Set<number>();
  /** Bytes of a record a crash cut short; recovery drops them. */
  private tornBytes: Buffer | undefined;

  firstIndex(): number {
    return this.offset;
  }

  lastIndex(): number {
    return this.offset + this.records.length - 1;
  }

  term(index: number): number | undefined {
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.terms[index - this.offset];
  }

  lastTimeMs(): number {
    const last = this.records[this.records.length - 1];
    return last ? readHeader(last, 0).timeMs : 0;
  }

  /**
   * Persist (a prefix of) a Ready: snapshot install, truncation, entries as one write batch, hard
   * state last. A crash mid-write passes a shorter entryCount and may leave torn bytes behind.
   */
  persist(rd: Ready, install: ShippedSnapshot | undefined, entryCount: number, withHardState: boolean, tornFraction?: number): void {
    if (rd.snapshotToInstall) {
      if (!install || install.index !== rd.snapshotToInstall.index) throw new Error('sim wal: snapshot data missing for install');
      this.snapshot = { meta: rd.snapshotToInstall, stateMachine: install.stateMachine };
      this.records = [];
      this.terms = [];
      this.offset = rd.snapshotToInstall.index + 1;
      this.retained = new Map(install.bodies.map((e) => [e.index, encode(e, 0)]));
      this.knownDamaged.clear();
    }
    this.tornBytes = undefined;
    if (rd.truncateFrom !== undefined && rd.truncateFrom <= this.lastIndex()) {
      if (rd.truncateFrom < this.offset) throw new Error(`sim wal: truncate below the snapshot (${rd.truncateFrom} < ${this.offset})`);
      this.records.length = rd.truncateFrom - this.offset;
      this.terms.length = this.records.length;
      for (const i of [...this.knownDamaged]) if (i >= rd.truncateFrom) this.knownDamaged.delete(i);
    }
    const entries = rd.entriesToPersist.slice(0, entryCount);
    const batchFirst = entries[0]?.index ?? 0;
    for (const e of entries) {
      if (e.index !== this.lastIndex() + 1) throw new Error(`sim wal: append leaves a gap at ${e.index}`);
      this.records.push(encode(e, e.index - batchFirst));
      this.terms.push(e.term);
    }
    const next = rd.entriesToPersist[entryCount];
    if (tornFraction !== undefined && next) {
      // Part of the next record reached the disk: never a whole record (padding would still decode).
      const rec = encode(next, next.index - (batchFirst || next.index));
      this.tornBytes = rec.subarray(0, Math.floor(tornFraction * (HEADER_BYTES + next.payload.length)));
    }
    if (rd.hardState && withHardState && entryCount === rd.entriesToPersist.length) this.hardState = { ...rd.hardState };
  }

  /** The driver took a snapshot at meta.index: keep it, and the records of `live` entries below it. */
  compact(meta: SnapshotMeta, stateMachine: Uint8Array, live: readonly number[]): void {
    const keep = new Map<number, Buffer>();
    for (const i of live) {
      if (i > meta.index) break;
      const rec = this.recordAt(i);
      if (rec) keep.set(i, rec);
    }
    const drop = Math.min(meta.index + 1 - this.offset, this.records.length);
    if (drop > 0) {
      this.records = this.records.slice(drop);
      this.terms = this.terms.slice(drop);
    }
    this.offset = meta.index + 1;
    this.retained = keep;
    this.snapshot = { meta, stateMachine };
  }

  private recordAt(index: number): Buffer | undefined {
    if (index >= this.offset) return this.records[index - this.offset];
    return this.retained.get(index);
  }

  /** Start-up: verify every record and settle the tail, as SegmentedWal.open does. */
  recover(): RecoveryReport {
    const report: RecoveryReport = { tornTailDropped: this.tornBytes !== undefined, damagedLastDropped: undefined, damagedBodies: [] };
    if (this.tornBytes && decodeRecord(this.tornBytes, 0, this.lastIndex() + 1).ok) throw new Error('sim wal: a torn record decodes as whole');
    this.tornBytes = undefined;
    this.knownDamaged.clear();
    for (const [i, rec] of this.retained) if (!decode(rec, i).bodyOk) this.knownDamaged.add(i);
    for (let k = 0; k < this.records.length; k++) {
      const index = this.offset + k;
      if (decode(this.records[k]!, index).bodyOk) continue;
      if (k === this.records.length - 1) {
        this.records.length = k;
        this.terms.length = k;
        report.damagedLastDropped = index;
      } else this.knownDamaged.add(index);
    }
    report.damagedBodies = [...this.knownDamaged].sort((a, b) => a - b);
    return report;
  }

  /** Entries lo..hi (at least one, then up to maxBytes), every record verified; known damage passes. */
  load(lo: number, hi: number, maxBytes: number): LoadResult {
    const entries: RaftEntry[] = [];
    let bytes = 0;
    for (let i = Math.max(lo, this.offset); i <= Math.min(hi, this.lastIndex()); i++) {
      const d = decode(this.records[i - this.offset]!, i);
      if (!d.bodyOk && !this.knownDamaged.has(i)) return { ok: false, corruptIndex: i };
      if (entries.length > 0 && bytes + d.entry.payload.length > maxBytes) break;
      entries.push(d.entry);
      bytes += d.entry.payload.length;
    }
    return { ok: true, entries };
  }

  /** Start-up replay: entries from..to as they are (damaged bodies replay; their meta is intact). */
  replay(from: number, to: number): RaftEntry[] {
    const out: RaftEntry[] = [];
    for (let i = Math.max(from, this.offset); i <= Math.min(to, this.lastIndex()); i++) out.push(decode(this.records[i - this.offset]!, i).entry);
    return out;
  }

  /** Config entries in the log (what a restarting node scans for its membership). */
  configEntries(): RaftEntry[] {
    const out: RaftEntry[] = [];
    this.records.forEach((rec, k) => {
      if (readHeader(rec, 0).kind === 'config') out.push(decode(rec, this.offset + k).entry);
    });
    return out;
  }

  /** `length` bytes of entry `index`'s payload from `offset`, unverified; undefined if the entry is gone. */
  bodySlice(index: number, offset: number, length: number): Uint8Array | undefined {
    const rec = this.recordAt(index);
    if (!rec) return undefined;
    const h = readHeader(rec, 0);
    if (offset + length > h.metaLen + h.bodyLen) return undefined;
    return Uint8Array.from(rec.subarray(HEADER_BYTES + offset, HEADER_BYTES + offset + length));
  }

  /** What a leader ships with its snapshot: the retained entries (bytes as they are on disk). */
  snapshotBodies(): RaftEntry[] {
    return [...this.retained].sort((a, b) => a[0] - b[0]).map(([i, rec]) => decode(rec, i).entry);
  }

  /**
   * Flip one bit in the body part of a record that is not the last on the disk, preferring
   * entries in `prefer` (those holding live messages). Returns the entry index, if any.
   */
  flipBit(pickIndex: (n: number) => number, prefer: ReadonlySet<number>): number | undefined {
    const candidates: number[] = [];
    const preferred: number[] = [];
    const consider = (index: number, rec: Buffer): void => {
      if (readHeader(rec, 0).bodyLen === 0) return;
      candidates.push(index);
      if (prefer.has(index)) preferred.push(index);
    };
    for (const [i, rec] of this.retained) consider(i, rec);
    for (let k = 0; k < this.records.length - 1; k++) consider(this.offset + k, this.records[k]!);
    const pool = preferred.length > 0 && pickIndex(10) < 7 ? preferred : candidates;
    if (pool.length === 0) return undefined;
    const index = pool[pickIndex(pool.length)]!;
    const rec = this.recordAt(index)!;
    const h = readHeader(rec, 0);
    const bit = pickIndex(h.bodyLen * 8);
    const pos = HEADER_BYTES + h.metaLen + (bit >>> 3);
    rec[pos] = rec[pos]! ^ (1 << (bit & 7));
    return index;
  }
}
