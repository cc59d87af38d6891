// The census of live body bytes per log segment, message by message, and what it makes freeable.
// One accounting for the running member (compaction.ts walks the state machine a slice at a time
// between other work) and for `opencmq wal verify` (one walk over a state machine restored from a
// stopped data directory), so the figures an operator reads offline are the ones the metrics show.

import type { BodyScanCursor, QueueStateMachine } from '../broker/state-machine';
import { spanIndexOf, type EntrySpan } from './live-segments';

/** Live body bytes per span (log segment), summed as live messages are visited. */
export class SegmentTally {
  /** Body bytes of live messages (each shared body once per run of readers; pending pushes not included). */
  liveBytes = 0;
  /** Per span: the body bytes live messages and pending http pushes read from it. */
  readonly live: Float64Array;
  /** Per span: the bodies counted in `live` for messages (what a relocation would list). */
  readonly bodies: Float64Array;
  private lastEntry = -1;
  private lastOffset = -1;
  private hint = -1;

  /** `spans`: the segments, in log order, not overlapping. */
  constructor(readonly spans: readonly EntrySpan[]) {
    this.live = new Float64Array(spans.length);
    this.bodies = new Float64Array(spans.length);
  }

  /** A live message reads `length` bytes at `offset` of entry `entry`. */
  message(entry: number, offset: number, length: number): void {
    // Readers of one body come in runs (a dead-letter move, a fan-out): counted once per run.
    if (entry === this.lastEntry && offset === this.lastOffset) return;
    this.lastEntry = entry;
    this.lastOffset = offset;
    this.liveBytes += length;
    this.add(entry, length);
    if (this.hint >= 0) this.bodies[this.hint]!++;
  }

  /** A pending http push reads a body of `length` bytes from entry `entry` (it pins the segment too). */
  push(entry: number, length: number): void {
    this.add(entry, length);
  }

  private add(entry: number, length: number): void {
    this.hint = spanIndexOf(this.spans, entry, this.hint);
    if (this.hint >= 0) this.live[this.hint]! += length;
  }
}

/** Visits at most `maxSlots` message slots from `cursor` into `tally`; where to go on, or undefined when done. */
export function censusSlice(sm: QueueStateMachine, cursor: BodyScanCursor, maxSlots: number, tally: SegmentTally): BodyScanCursor | undefined {
  return sm.scanBodies(cursor, maxSlots, (_q, _seq, entry, offset, length) => tally.message(entry, offset, length));
}

/** After the last slice: pending http pushes read bodies too (as the snapshot's segment release counts them). */
export function censusPushes(sm: QueueStateMachine, tally: SegmentTally): void {
  sm.forEachPushBody((entry, length) => tally.push(entry, length));
}

/** The whole census in one synchronous walk (a stopped data directory: nothing else runs). */
export function liveBytesPerSegment(sm: QueueStateMachine, spans: readonly EntrySpan[]): SegmentTally {
  const tally = new SegmentTally(spans);
  let cursor: BodyScanCursor | undefined = { queueNumber: 0, seq: 0 };
  while (cursor) cursor = censusSlice(sm, cursor, Infinity, tally);
  censusPushes(sm, tally);
  return tally;
}

/**
 * What copying a body forward writes besides the body: its place and the message reading it in the
 * relocation entry's meta (f64 entry, u32 offset, length, CRC32C, u16 count, then f64 queue number
 * and seq per message).
 */
export const RELOCATED_BODY_OVERHEAD_BYTES = 8 + 4 + 4 + 4 + 2 + 16;

/**
 * Segments compaction copies out of: holding something live, but what a copy would write (the live
 * bytes and each body's relocation overhead) below `liveRatio` of their size, and settled
 * (`settled(k)`: the running member's rule; offline every segment is). Counting the overhead keeps
 * a segment of tiny relocated bodies from looking sparse, and being copied again, census after
 * census. Indexes into `live`.
 */
export function sparseSegments(fileBytes: readonly number[], live: Float64Array, bodies: Float64Array, liveRatio: number, settled: (k: number) => boolean): number[] {
  const out: number[] = [];
  if (liveRatio <= 0) return out;
  for (let k = 0; k < live.length; k++) {
    const l = live[k]!;
    if (l > 0 && l + bodies[k]! * RELOCATED_BODY_OVERHEAD_BYTES < liveRatio * fileBytes[k]! && settled(k)) out.push(k);
  }
  return out;
}

/** What compaction and a snapshot would free: segments without a live body, and the dead part of the sparse ones. */
export function reclaimableBytes(fileBytes: readonly number[], live: Float64Array, sparse: readonly number[]): number {
  let n = 0;
  for (let k = 0; k < fileBytes.length; k++) if (live[k] === 0) n += fileBytes[k]!;
  for (const k of sparse) n += fileBytes[k]! - live[k]!;
  return n;
}
