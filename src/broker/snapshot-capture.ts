// A snapshot taken in slices, so a backlog of millions of messages never stops the event loop for
// as long as encoding all of it takes (about 40 ms per million messages, plus checksumming and
// copying the result: long enough at tens of millions to miss the heartbeats that keep a leader).
//
// Taking the capture costs O(queues + chunks): it records the small parts (header, queue
// attributes, topics) and a reference to every message chunk, and marks the chunks as held.
// `next` then emits the snapshot's bytes in pieces of bounded size. Meanwhile the state machine
// keeps applying: the first write to a held chunk (`MessageStore.writable`) hands it to the
// capture's `keep`, which copies its columns as they were, so the bytes emitted are exactly those
// of the state at the capture, whatever was applied since. The pieces concatenated are the
// format snapshot.ts decodes.

import { ByteWriter, utf8Bytes } from './binary';
import { invariant } from './invariant';
import { BYTES_PER_SLOT, Chunk, GONE, type ChunkKeeper } from './message-store';
import { needsBody, type QueueState } from './queue';
import type { Remembered } from './dedup';
import { DENSE_CHUNK, MAGIC, queueMetaJson, SNAPSHOT_VERSION, topicsMeta, type SnapshotHeader, type TopicsSnapshot } from './snapshot';

/** Bytes per piece when the caller names no bound: a few ms of copying on any machine. */
export const SNAPSHOT_PIECE_BYTES = 4 * 1024 * 1024;

/** f64 firstSeq + u32 capacity + u32 live-or-DENSE_CHUNK before each chunk's columns. */
const CHUNK_HEADER_BYTES = 16;

/**
 * Remembered deduplication ids, emitted when their turn comes: the table holds up to half a
 * million, too many to encode while capturing (hundreds of milliseconds at once), so the capture
 * only takes references to them, a slice at a time. Each row: the key (u32 length, UTF-8), then
 * entryIndex, batchPos and expiresMs as f64.
 */
class DedupSlice {
  readonly keys: string[] = [];
  readonly records: Remembered[] = [];
  bytes = 0;

  add(key: string, r: Remembered): void {
    this.keys.push(key);
    this.records.push(r);
    this.bytes += 4 + Buffer.byteLength(key, 'utf8') + 3 * 8;
  }

  write(w: ByteWriter): void {
    this.keys.forEach((k, i) => {
      const r = this.records[i]!;
      w.longStr(k);
      w.f64(r.entryIndex);
      w.f64(r.batchPos);
      w.f64(r.expiresMs);
    });
  }
}

/** Rows per DedupSlice: a few hundred kilobytes of snapshot. */
const DEDUP_SLICE_ROWS = 4096;

/** A part of the snapshot: bytes fixed at the capture, or a chunk or ids emitted when their turn comes. */
type Part = Uint8Array | Chunk | DedupSlice;

/**
 * Bytes a chunk with `live` messages takes in the snapshot: its whole buffer, or, when fewer are
 * live than that pays for, only the live slots (a u16 slot number and the slot's columns each).
 * A few messages left behind keep a whole chunk of 4,096 in memory; the snapshot need not copy it.
 */
export function chunkSnapshotBytes(capacity: number, live: number): number {
  return CHUNK_HEADER_BYTES + (isSparse(capacity, live) ? live * (2 + BYTES_PER_SLOT) : capacity * BYTES_PER_SLOT);
}

function isSparse(capacity: number, live: number): boolean {
  return live * (2 + BYTES_PER_SLOT) < capacity * BYTES_PER_SLOT;
}

export class SnapshotCapture implements ChunkKeeper {
  /** Total bytes of the snapshot. */
  readonly size: number;
  private readonly parts: Part[] = [];
  private nextPart = 0;
  private emitted = 0;
  /** Copies of held chunks taken before their first write since the capture. */
  private readonly kept = new Map<Chunk, ArrayBuffer>();
  /** Each held chunk's queue's rewind cutoff at the capture (which deleted messages still need their body). */
  private readonly rewindCutoff = new Map<Chunk, number>();
  /** Each held chunk's live messages at the capture (its encoding and size follow from it). */
  private readonly liveAt = new Map<Chunk, number>();

  /**
   * `onLiveEntry` hears, as the chunks are emitted, the log entry of every message live at the
   * capture (consecutive repeats once), and at once the entries of pending pushes and pending dead
   * letters: when the last
   * piece is out it has heard every entry storage must keep.
   */
  constructor(
    header: SnapshotHeader,
    queues: QueueState[],
    topics: TopicsSnapshot,
    /** The deduplication table's entries in its order (their records never change). */
    dedup: Iterable<[string, Remembered]>,
    private readonly onLiveEntry?: (entryIndex: number) => void,
  ) {
    const head = new ByteWriter(4 + 1 + 6 * 8 + 4);
    for (const b of MAGIC) head.u8(b);
    head.u8(SNAPSHOT_VERSION);
    head.f64(header.lastAppliedIndex);
    head.f64(header.lastTimeMs);
    head.f64(header.nextQueueNumber);
    head.f64(header.quarantined);
    head.f64(header.deadLetterMoves);
    head.f64(header.deadLetterDrops);
    head.u32(queues.length);
    this.parts.push(head.finish());
    for (const q of [...queues].sort((a, b) => a.queueNumber - b.queueNumber)) {
      const meta = utf8Bytes(queueMetaJson(q));
      const chunks = q.store.chunks.filter((c): c is Chunk => c !== undefined);
      const w = new ByteWriter(4 + meta.length + 4);
      w.u32(meta.length);
      w.bytes(meta);
      w.u32(chunks.length);
      this.parts.push(w.finish());
      const cutoff = q.rewindCutoffMs(header.lastTimeMs);
      for (const c of chunks) {
        // A chunk held by an earlier capture still being emitted: that one copies it now.
        c.keeper?.keep(c);
        c.keeper = this;
        this.parts.push(c);
        this.liveAt.set(c, c.live);
        if (onLiveEntry !== undefined) this.rewindCutoff.set(c, cutoff);
      }
    }
    const topicsJson = utf8Bytes(JSON.stringify(topicsMeta(topics)));
    const slices: DedupSlice[] = [];
    let rows = 0;
    for (const [key, r] of dedup) {
      if (rows % DEDUP_SLICE_ROWS === 0) slices.push(new DedupSlice());
      slices[slices.length - 1]!.add(key, r);
      rows++;
    }
    const tail = new ByteWriter(4 + topicsJson.length + 4);
    tail.u32(topicsJson.length);
    tail.bytes(topicsJson);
    tail.u32(rows);
    this.parts.push(tail.finish(), ...slices);
    if (onLiveEntry !== undefined) {
      for (const t of topics.topics) for (const s of t.subscriptions.values()) for (const p of s.pending.values()) onLiveEntry(p.entryIndex);
      // Dead letters waiting for a dead-letter queue on another set read their bodies there too.
      for (const q of queues) q.deadLetters?.forEachBody((e) => onLiveEntry(e));
    }
    this.size = this.parts.reduce((n, p) => n + this.partBytes(p), 0);
  }

  private partBytes(p: Part): number {
    if (p instanceof Chunk) return chunkSnapshotBytes(p.capacity, this.liveAt.get(p)!);
    return p instanceof DedupSlice ? p.bytes : p.length;
  }

  /** Called before the first write to a held chunk: keeps its columns as the capture saw them. */
  keep(c: Chunk): void {
    invariant(c.keeper === this, 'a chunk was handed to a capture that does not hold it');
    this.kept.set(c, c.buffer.slice(0));
    c.keeper = undefined;
  }

  /** True once every byte was emitted. */
  done(): boolean {
    return this.nextPart >= this.parts.length;
  }

  /**
   * The next piece: whole parts up to `maxBytes` (at least one part, so a piece may be one chunk
   * over the bound), or undefined once everything was emitted.
   */
  next(maxBytes = SNAPSHOT_PIECE_BYTES): Uint8Array | undefined {
    if (this.done()) return undefined;
    let end = this.nextPart;
    let bytes = 0;
    do bytes += this.partBytes(this.parts[end++]!);
    while (end < this.parts.length && bytes + this.partBytes(this.parts[end]!) <= maxBytes);
    const w = new ByteWriter(bytes);
    for (; this.nextPart < end; this.nextPart++) {
      const p = this.parts[this.nextPart]!;
      if (p instanceof Chunk) this.emitChunk(w, p);
      else if (p instanceof DedupSlice) p.write(w);
      else w.bytes(p);
      this.parts[this.nextPart] = EMPTY; // emitted: the capture no longer pins it
    }
    invariant(w.pos === bytes, () => `snapshot piece of ${w.pos} bytes, ${bytes} expected`);
    this.emitted += bytes;
    if (this.done()) invariant(this.emitted === this.size, () => `snapshot of ${this.emitted} bytes, ${this.size} expected`);
    return w.finish();
  }

  /** Lets go of every chunk still held (the snapshot was abandoned, or is complete). */
  release(): void {
    for (let k = this.nextPart; k < this.parts.length; k++) {
      const p = this.parts[k]!;
      if (p instanceof Chunk && p.keeper === this) p.keeper = undefined;
      this.parts[k] = EMPTY;
    }
    this.nextPart = this.parts.length;
    this.kept.clear();
    this.rewindCutoff.clear();
    this.liveAt.clear();
  }

  private emitChunk(w: ByteWriter, c: Chunk): void {
    const copy = this.kept.get(c);
    this.kept.delete(c);
    if (c.keeper === this) c.keeper = undefined;
    const view = copy === undefined ? c : new Chunk(c.firstSeq, c.capacity, copy);
    const live = this.liveAt.get(c)!;
    this.liveAt.delete(c);
    w.f64(c.firstSeq);
    w.u32(c.capacity);
    if (isSparse(c.capacity, live)) writeSparse(w, view, live);
    else {
      w.u32(DENSE_CHUNK);
      w.bytes(new Uint8Array(view.buffer));
    }
    if (this.onLiveEntry === undefined) return;
    const cutoff = this.rewindCutoff.get(c)!;
    this.rewindCutoff.delete(c);
    let last = -1;
    for (let i = 0; i < view.capacity; i++) {
      if (!needsBody(view, i, cutoff)) continue;
      const e = view.bodyEntry[i]!;
      if (e !== last) this.onLiveEntry(e);
      last = e;
    }
  }
}

const EMPTY = new Uint8Array(0);

/** The live slots of `c` only: their slot numbers, then each column's values for them, in layout order. */
function writeSparse(w: ByteWriter, c: Chunk, live: number): void {
  const slots: number[] = [];
  for (let i = 0; i < c.capacity; i++) if (c.state[i] !== GONE) slots.push(i);
  invariant(slots.length === live, () => `chunk ${c.firstSeq}: ${slots.length} live slots, ${live} counted`);
  w.u32(live);
  for (const i of slots) w.u16(i);
  for (const col of c.f64Columns()) for (const i of slots) w.f64(col[i]!);
  for (const col of c.u32Columns()) for (const i of slots) w.u32(col[i]!);
  for (const col of c.u8Columns()) for (const i of slots) w.u8(col[i]!);
}

/** The whole snapshot in one buffer (tests, tools, and small states). */
export function drainSnapshot(capture: SnapshotCapture): Uint8Array {
  const out = capture.next(Infinity) ?? new Uint8Array(0);
  invariant(capture.done() && out.length === capture.size, 'a drained snapshot came out short');
  return out;
}
