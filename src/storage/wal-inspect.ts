// A read-only map of a WAL directory for `opencmq wal verify` and `wal salvage`: what start-up
// would do (the same scan and the same judgement as SegmentedWal.open, see wal-recovery.ts), and
// beyond that every intact record, including those after damage that start-up stops at, and every
// damaged byte range with the entry indexes it must have held. Nothing is written.
import { readdir } from 'node:fs/promises';
import type { FileHandle } from '../runtime/fs';
import { readFully } from './file-io';
import { STORAGE_LIMITS } from './limits';
import { PREALLOC_SUFFIX, RECORD_MAGIC_BYTES, SEAL_BYTES, isSealFor, parseSegmentFileName } from './wal-format';
import {
  WindowReader,
  intactHeaderAt,
  judgeOverlap,
  judgeSegment,
  lastNonZero,
  openSegment,
  readIntactRecord,
  scanSegment,
  type SegmentVerdict,
} from './wal-recovery';
import type { Segment } from './wal-segment';

export interface InspectedRecord {
  index: number;
  term: number;
  /** File offset and on-disk length of the record. */
  offset: number;
  bytes: number;
  /** False: header and meta intact, body part failed its checksum. */
  bodyOk: boolean;
}

/** Bytes in a segment that hold no intact record (and are not zero fill after the last one). */
export interface DamagedRange {
  segment: string;
  startOffset: number;
  endOffset: number;
  /** First entry index whose record should have been here. */
  firstIndex: number;
  /** Last such index; undefined when nothing after the range tells (damage at the very end). */
  lastIndex: number | undefined;
  /** Terms of the intact entries just before and just after (undefined if none). */
  termBefore: number | undefined;
  termAfter: number | undefined;
}

export interface InspectedSegment {
  name: string;
  firstIndex: number;
  fileBytes: number;
  /** Every intact record found, in file order (indexes increasing). */
  records: InspectedRecord[];
  damaged: DamagedRange[];
  /** Whether the records end with a seal. */
  sealed: boolean;
  /** What start-up does with this segment (its scan stops at the first damage). */
  verdict: SegmentVerdict;
  /** Last entry start-up keeps from this segment (firstIndex - 1 if none). */
  startupLastIndex: number;
}

export type StartupOutcome =
  | {
      kind: 'starts';
      /** Entries start-up keeps: firstIndex..lastIndex of the final contiguous run, as SegmentedWal reports. */
      lastIndex: number;
      tornTailBytes: number;
      tornTailSegment: string | undefined;
      damagedBodies: { index: number; segment: string; fileOffset: number }[];
    }
  | { kind: 'refuses'; message: string; segment: string; fileOffset: number };

export interface WalInspection {
  dir: string;
  segments: InspectedSegment[];
  /** Half-prepared next-segment files (no data; start-up deletes them). */
  preallocFiles: string[];
  startup: StartupOutcome;
}

/** Maps the WAL in `dir` without changing it. A missing directory is an empty log. */
export async function inspectWal(dir: string): Promise<WalInspection> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    names = [];
  }
  const segNames = names.filter((n) => parseSegmentFileName(n) !== undefined);
  const out: WalInspection = {
    dir,
    segments: [],
    preallocFiles: names.filter((n) => n.endsWith(PREALLOC_SUFFIX)),
    startup: { kind: 'starts', lastIndex: 0, tornTailBytes: 0, tornTailSegment: undefined, damagedBodies: [] },
  };
  let prev: Segment | undefined;
  let refused: StartupOutcome | undefined;
  const damagedBodies: { index: number; segment: string; fileOffset: number }[] = [];
  let tornTailBytes = 0;
  let tornTailSegment: string | undefined;
  for (let i = 0; i < segNames.length; i++) {
    const seg = await openSegment(dir, segNames[i]!, true);
    try {
      const overlap = judgeOverlap(seg, prev);
      const scan = await scanSegment(seg);
      let verdict = judgeSegment(seg, scan, i === segNames.length - 1);
      if (overlap) verdict = { kind: 'corrupt', ...overlap };
      const startupLastIndex = verdict.kind === 'tornTail' ? verdict.lastIndexAfter : seg.lastIndex;
      if (!refused) {
        if (verdict.kind === 'corrupt') {
          refused = { kind: 'refuses', message: verdict.message, segment: seg.name, fileOffset: verdict.offset };
        } else {
          if (verdict.kind === 'tornTail') {
            tornTailBytes += verdict.bytes;
            tornTailSegment = seg.name;
          }
          for (const b of scan.badBodies) {
            if (b.index <= startupLastIndex) damagedBodies.push({ index: b.index, segment: seg.name, fileOffset: b.offset });
          }
        }
      }
      const records: InspectedRecord[] = [];
      for (let k = seg.firstIndex; k <= seg.lastIndex; k++) {
        records.push({ index: k, term: seg.termOf(k), offset: seg.offsetOf(k), bytes: seg.endOf(k) - seg.offsetOf(k), bodyOk: true });
      }
      for (const b of scan.badBodies) records[b.index - seg.firstIndex]!.bodyOk = false;
      const inspected: InspectedSegment = {
        name: seg.name,
        firstIndex: seg.firstIndex,
        fileBytes: seg.fileBytes,
        records,
        damaged: [],
        sealed: scan.sealed,
        verdict,
        startupLastIndex,
      };
      if (!scan.sealed) await mapAfterDamage(seg.fh, seg.fileBytes, scan.end, inspected);
      out.segments.push(inspected);
      prev = seg;
    } finally {
      await seg.fh.close();
    }
  }
  boundTrailingRanges(out.segments);
  const lastSeg = out.segments[out.segments.length - 1];
  out.startup = refused ?? {
    kind: 'starts',
    lastIndex: lastSeg ? lastSeg.startupLastIndex : 0,
    tornTailBytes,
    tornTailSegment,
    damagedBodies,
  };
  return out;
}

/**
 * Past the point where start-up's scan stops in an unsealed segment: finds every later intact
 * record (8-byte aligned magic with a matching header CRC, then records in sequence from there),
 * and records the bytes between as damaged ranges.
 */
async function mapAfterDamage(fh: FileHandle, size: number, from: number, seg: InspectedSegment): Promise<void> {
  let pos = from;
  for (;;) {
    const prevRec = seg.records[seg.records.length - 1];
    const prevIndex = prevRec ? prevRec.index : seg.firstIndex - 1;
    const next = await nextIntactHeader(fh, size, pos, prevIndex);
    if (!next) {
      const garbageEnd = await lastNonZeroFrom(fh, size, pos);
      if (garbageEnd > pos) addRange(seg, pos, garbageEnd, prevIndex + 1, undefined, prevRec?.term, undefined);
      return;
    }
    if (next.offset > pos) addRange(seg, pos, next.offset, prevIndex + 1, next.index - 1, prevRec?.term, next.term);
    // Records in sequence from the one found, exactly as start-up reads them.
    const r = new WindowReader(fh, size);
    let at = next.offset;
    let index = next.index;
    for (;;) {
      const rec = await readIntactRecord(r, at, index);
      if (!rec) break;
      seg.records.push({ index, term: rec.term, offset: at, bytes: rec.bytes, bodyOk: rec.bodyOk });
      at += rec.bytes;
      index++;
    }
    const sealView = await r.view(at, SEAL_BYTES);
    if (sealView && isSealFor(sealView, 0, index - 1)) {
      seg.sealed = true;
      return;
    }
    pos = at;
  }
}

function addRange(
  seg: InspectedSegment,
  start: number,
  end: number,
  firstIndex: number,
  lastIndex: number | undefined,
  termBefore: number | undefined,
  termAfter: number | undefined,
): void {
  seg.damaged.push({ segment: seg.name, startOffset: start, endOffset: end, firstIndex, lastIndex, termBefore, termAfter });
}

/** The next aligned offset >= from holding an intact header of an entry after `afterIndex`. */
async function nextIntactHeader(
  fh: FileHandle,
  size: number,
  from: number,
  afterIndex: number,
): Promise<{ offset: number; index: number; term: number } | undefined> {
  if (from >= size) return undefined;
  const buf = Buffer.allocUnsafe(Math.min(STORAGE_LIMITS.recoveryWindowBytes, size - from));
  // `from` and the window size are multiples of 8, so an aligned magic never straddles windows.
  for (let ws = from; ws < size; ws += buf.length) {
    const n = Math.min(buf.length, size - ws);
    await readFully(fh, buf, 0, n, ws);
    const view = buf.subarray(0, n);
    for (let k = view.indexOf(RECORD_MAGIC_BYTES); k >= 0; k = view.indexOf(RECORD_MAGIC_BYTES, k + 1)) {
      if ((ws + k) % 8 !== 0) continue;
      const h = await intactHeaderAt(fh, ws + k, size);
      if (h && h.index > afterIndex) return { offset: ws + k, index: h.index, term: h.term };
    }
  }
  return undefined;
}

/** Offset just past the last nonzero byte at or after `from` (`from` itself if none). */
async function lastNonZeroFrom(fh: FileHandle, size: number, from: number): Promise<number> {
  if (from >= size) return from;
  let end = from;
  const buf = Buffer.allocUnsafe(Math.min(STORAGE_LIMITS.recoveryWindowBytes, size - from));
  for (let ws = from; ws < size; ws += buf.length) {
    const n = Math.min(buf.length, size - ws);
    await readFully(fh, buf, 0, n, ws);
    const nz = lastNonZero(buf.subarray(0, n));
    if (nz >= 0) end = ws + nz + 1;
  }
  return end;
}

/**
 * A damaged range at the end of a segment that a later segment follows. A segment followed by
 * another ends with its seal, so a range no longer than a seal is just the seal: no entry lost
 * (lastIndex < firstIndex). Otherwise the later segment's first index bounds the entries lost.
 */
function boundTrailingRanges(segments: InspectedSegment[]): void {
  for (let i = 0; i + 1 < segments.length; i++) {
    const last = segments[i]!.damaged[segments[i]!.damaged.length - 1];
    if (!last || last.lastIndex !== undefined) continue;
    if (last.endOffset - last.startOffset <= SEAL_BYTES) {
      last.lastIndex = last.firstIndex - 1;
    } else {
      last.lastIndex = segments[i + 1]!.firstIndex - 1;
      last.termAfter = segments[i + 1]!.records[0]?.term;
    }
  }
}

/** Entries a damaged range lost (0 for a damaged seal; undefined when unbounded). */
export function lostCount(r: DamagedRange): number | undefined {
  return r.lastIndex === undefined ? undefined : Math.max(0, r.lastIndex - r.firstIndex + 1);
}
