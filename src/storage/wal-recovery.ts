// Start-up recovery of a WAL directory: verifies every segment, decides between a torn tail (an
// unfinished write that was never acknowledged, dropped and zeroed) and real corruption (refuse
// to start), and rebuilds each segment's in-memory index. Rules are in docs/storage.md.
import { join } from 'node:path';
import type { FileHandle, FileSystem } from '../runtime/fs';
import { nodeFs } from '../runtime/node-fs';
import { crc32c } from './crc32c';
import { atStep, type DiskStall } from './disk-stall';
import { readFully, zeroFill } from './file-io';
import { STORAGE_LIMITS } from './limits';
import { WalCorruptionError, type RecoveryReport } from './types';
import {
  HEADER_BYTES,
  PREALLOC_SUFFIX,
  RECORD_MAGIC,
  RECORD_MAGIC_BYTES,
  SEAL_BYTES,
  headerCrcMatches,
  isSealFor,
  parseSegmentFileName,
  readHeader,
  recordBytes,
  type RecordHeader,
} from './wal-format';
import { Segment } from './wal-segment';
import type { Logger } from '../protocol/log';

const ZERO_BLOCK = Buffer.alloc(4096);

export interface RecoveredLog {
  /** In index order; every one but the last is sealed. The last may be sealed too. */
  segments: Segment[];
  tornTailBytes: number;
  damagedBodies: RecoveryReport['damagedBodies'];
}

export interface SegmentScan {
  /** Offset just past the last intact record (where a seal, damage or zero fill starts). */
  end: number;
  sealed: boolean;
  badBodies: { index: number; offset: number }[];
  /** Offset of the last intact record, -1 if none; and whether its body checksum held. */
  lastRecordOffset: number;
  lastBodyOk: boolean;
  /** For an unsealed segment: what lies after `end`. */
  after?: AfterEnd;
}

/**
 * `stall`: where a full disk is waited out. Dropping a torn tail writes (zeroes) and syncs; on a
 * full disk that write fails, and start-up then waits for space (logged as any stalled step,
 * naming the file) instead of exiting into a restart loop. Without it, the step's error is thrown.
 */
export async function recoverSegments(dir: string, log: Logger, fs: FileSystem = nodeFs, stall?: DiskStall): Promise<RecoveredLog> {
  await fs.mkdir(dir, { recursive: true });
  const names = (await fs.readdir(dir)).sort();
  for (const name of names) {
    // A half-prepared next segment holds no data; never reuse it (see SegmentedWal).
    if (name.endsWith(PREALLOC_SUFFIX)) await fs.unlink(join(dir, name));
  }
  const segNames = names.filter((n) => parseSegmentFileName(n) !== undefined);
  const result: RecoveredLog = { segments: [], tornTailBytes: 0, damagedBodies: [] };
  try {
    for (let i = 0; i < segNames.length; i++) {
      await recoverSegment(dir, segNames[i]!, i === segNames.length - 1, result, log, fs, stall);
    }
  } catch (err) {
    await Promise.all(result.segments.map((s) => s.retire()));
    throw err;
  }
  return result;
}

/** Opens a segment file (read-only for inspection) with an empty index; scanSegment fills it. */
export async function openSegment(dir: string, name: string, readOnly = false, fs: FileSystem = nodeFs): Promise<Segment> {
  const path = join(dir, name);
  const fh = await fs.open(path, readOnly ? 'r' : 'r+');
  try {
    const { size } = await fh.stat();
    return new Segment(name, path, parseSegmentFileName(name)!, fh, size);
  } catch (err) {
    await fh.close();
    throw err;
  }
}

async function recoverSegment(
  dir: string,
  name: string,
  isLast: boolean,
  result: RecoveredLog,
  log: Logger,
  fs: FileSystem,
  stall: DiskStall | undefined,
): Promise<void> {
  const seg = await openSegment(dir, name, false, fs);
  result.segments.push(seg);
  const prev = result.segments[result.segments.length - 2];
  const overlap = judgeOverlap(seg, prev);
  if (overlap) throw new WalCorruptionError(overlap.message, name, overlap.offset);
  const scan = await scanSegment(seg);
  const verdict = judgeSegment(seg, scan, isLast);
  if (verdict.kind === 'corrupt') throw new WalCorruptionError(verdict.message, name, verdict.offset);
  if (verdict.kind === 'tornTail') {
    await applyTornTail(seg, verdict, log, stall);
    result.tornTailBytes += verdict.bytes;
  }
  for (const bad of scan.badBodies) {
    if (!seg.has(bad.index)) continue; // dropped as part of the torn tail
    result.damagedBodies.push({ index: bad.index, segment: name, fileOffset: bad.offset });
    log.error(
      `DAMAGED BODY: entry ${bad.index} in ${name} at offset ${bad.offset} failed its body checksum; ` +
        `the entry is kept (its meta is intact) and reads of its body will fail`,
      { index: bad.index, segment: name, offset: bad.offset },
    );
  }
}

/**
 * Reads a segment the way start-up does, without changing anything: its intact records from the
 * start (recorded in `seg`), whether a seal follows them, and for an unsealed segment what lies
 * after them. `seg` may be opened read-only. Start-up and `opencmq wal verify` share this reading.
 */
export async function scanSegment(seg: Segment): Promise<SegmentScan> {
  const scan = await scanRecords(seg);
  if (scan.sealed) return scan;
  return { ...scan, after: await scanAfterEnd(seg, scan.end) };
}

/** A later segment must start after the previous one ends; anything else is corruption. */
export function judgeOverlap(seg: Segment, prev: Segment | undefined): { message: string; offset: number } | undefined {
  if (!prev || seg.firstIndex > prev.lastIndex) return undefined;
  return {
    message: `wal: segment ${seg.name} starts at index ${seg.firstIndex}, inside ${prev.name} (which ends at ${prev.lastIndex})`,
    offset: 0,
  };
}

/** What start-up does with a scanned segment (rules in docs/storage.md); pure, changes nothing. */
export type SegmentVerdict =
  | { kind: 'ok' }
  /** Drop `bytes` from `from` (zeroed); with dropLastRecord the last intact record goes too. */
  | { kind: 'tornTail'; from: number; bytes: number; dropLastRecord: boolean; lastIndexAfter: number }
  | { kind: 'corrupt'; message: string; offset: number };

/**
 * Decides between a complete segment, a torn tail (an unfinished write that was never
 * acknowledged) and real corruption. Intact records from a later write batch after the damage mean
 * acknowledged data sits behind it: corruption. A last record whose header and meta are intact but
 * whose body is not, with nothing after it, is a torn write of that record.
 */
export function judgeSegment(seg: Segment, scan: SegmentScan, isLast: boolean): SegmentVerdict {
  if (scan.sealed) return { kind: 'ok' };
  const nextIndex = seg.lastIndex + 1;
  if (!isLast) {
    // A segment is sealed and synced before the next one is created, so this is lost data.
    return {
      kind: 'corrupt',
      message:
        `wal: segment ${seg.name} is followed by later segments but its records stop at offset ${scan.end} ` +
        `(entry ${nextIndex}) without a seal: damaged or missing data`,
      offset: scan.end,
    };
  }
  const after = scan.after ?? { newestBatchFirst: 0, garbageEnd: scan.end };
  if (after.newestBatchFirst > nextIndex) {
    return {
      kind: 'corrupt',
      message:
        `wal: segment ${seg.name} is damaged at offset ${scan.end} (entry ${nextIndex}) but intact entries ` +
        `written after it (a write batch starting at ${after.newestBatchFirst}) follow; refusing to drop them`,
      offset: scan.end,
    };
  }
  let end = scan.end;
  let garbageEnd = after.garbageEnd;
  const dropLastRecord = scan.lastRecordOffset >= 0 && !scan.lastBodyOk;
  if (dropLastRecord) {
    end = scan.lastRecordOffset;
    garbageEnd = Math.max(garbageEnd, Math.min(scan.end, seg.fileBytes));
  }
  if (garbageEnd <= end) return { kind: 'ok' };
  return { kind: 'tornTail', from: end, bytes: garbageEnd - end, dropLastRecord, lastIndexAfter: dropLastRecord ? seg.lastIndex - 1 : seg.lastIndex };
}

/**
 * Drops a torn tail: forgets a torn last record and zeroes the leftover bytes, so they can never
 * be mistaken for records after new appends.
 */
async function applyTornTail(seg: Segment, v: Extract<SegmentVerdict, { kind: 'tornTail' }>, log: Logger, stall: DiskStall | undefined): Promise<void> {
  if (v.dropLastRecord) seg.truncateFrom(seg.lastIndex);
  seg.writeOffset = v.from;
  const zero = async (): Promise<void> => {
    await atStep('zero torn tail', seg.path, () => zeroFill(seg.fh, v.from, v.bytes));
    await atStep('zero torn tail fdatasync', seg.path, () => seg.fh.datasync());
  };
  await (stall ? stall.run(zero, () => false) : zero());
  log.warn(`torn tail in ${seg.name}: dropped ${v.bytes} bytes at offset ${v.from} (log now ends at entry ${seg.lastIndex})`);
}

/** A view of a file through one reusable read window, so a sequential scan costs few reads. */
export class WindowReader {
  private buf = Buffer.alloc(0);
  private start = 0;
  private len = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
  ) {}

  /** Bytes [offset, offset + length), valid until the next call; undefined past end of file. */
  async view(offset: number, length: number): Promise<Buffer | undefined> {
    if (offset + length > this.size) return undefined;
    if (offset >= this.start && offset + length <= this.start + this.len) {
      return this.buf.subarray(offset - this.start, offset - this.start + length);
    }
    const n = Math.min(Math.max(length, STORAGE_LIMITS.recoveryWindowBytes), this.size - offset);
    if (this.buf.length < n) this.buf = Buffer.allocUnsafe(n);
    await readFully(this.fh, this.buf, 0, n, offset);
    this.start = offset;
    this.len = n;
    return this.buf.subarray(0, length);
  }
}

export interface IntactRecord {
  payloadLen: number;
  term: number;
  /** Index minus the first index of its write batch. */
  batchDelta: number;
  bytes: number;
  bodyOk: boolean;
}

/** The record at `pos` if its magic, header CRC and index are right (the body may still be bad). */
export async function readIntactRecord(r: WindowReader, pos: number, index: number): Promise<IntactRecord | undefined> {
  const hb = await r.view(pos, HEADER_BYTES);
  if (!hb) return undefined;
  const h = readHeader(hb, 0);
  const payloadLen = h.metaLen + h.bodyLen;
  if (h.magic !== RECORD_MAGIC || h.index !== index || payloadLen > STORAGE_LIMITS.entryPayloadBytesMax) {
    return undefined;
  }
  const hm = await r.view(pos, HEADER_BYTES + h.metaLen);
  if (!hm || !headerCrcMatches(hm, 0, h)) return undefined;
  const body = await r.view(pos + HEADER_BYTES + h.metaLen, h.bodyLen);
  const bodyOk = body !== undefined && crc32c(body) === h.bodyCrc;
  return { payloadLen, term: h.term, batchDelta: h.batchDelta, bytes: recordBytes(payloadLen), bodyOk };
}

/** Reads records from the start of the segment until the first one that is not intact, or a seal. */
async function scanRecords(seg: Segment): Promise<SegmentScan> {
  const r = new WindowReader(seg.fh, seg.fileBytes);
  const badBodies: SegmentScan['badBodies'] = [];
  let pos = 0;
  let lastRecordOffset = -1;
  let lastBodyOk = true;
  for (;;) {
    const index = seg.firstIndex + seg.count;
    const rec = await readIntactRecord(r, pos, index);
    if (!rec) break;
    seg.push(pos, rec.payloadLen, rec.term);
    if (!rec.bodyOk) badBodies.push({ index, offset: pos });
    lastRecordOffset = pos;
    lastBodyOk = rec.bodyOk;
    pos += rec.bytes;
  }
  const sealView = await r.view(pos, SEAL_BYTES);
  const sealed = sealView !== undefined && isSealFor(sealView, 0, seg.lastIndex);
  seg.writeOffset = pos;
  seg.sealed = sealed;
  return { end: pos, sealed, badBodies, lastRecordOffset, lastBodyOk };
}

export interface AfterEnd {
  /** Highest write-batch first index among intact records found past the end; 0 if none. */
  newestBatchFirst: number;
  /** Offset just past the last nonzero byte at or after the end (the end itself if none). */
  garbageEnd: number;
}

/**
 * Scans the unsealed last segment past its last intact record: for intact records written later
 * (evidence of real corruption, not a torn write) and for the extent of leftover bytes.
 */
async function scanAfterEnd(seg: Segment, from: number): Promise<AfterEnd> {
  const result: AfterEnd = { newestBatchFirst: 0, garbageEnd: from };
  const size = seg.fileBytes;
  if (from >= size) return result;
  const buf = Buffer.allocUnsafe(Math.min(STORAGE_LIMITS.recoveryWindowBytes, size - from));
  // `from` and the window size are multiples of 8, so an aligned magic never straddles windows.
  for (let ws = from; ws < size; ws += buf.length) {
    const n = Math.min(buf.length, size - ws);
    await readFully(seg.fh, buf, 0, n, ws);
    const view = buf.subarray(0, n);
    const lastNz = lastNonZero(view);
    if (lastNz < 0) continue;
    result.garbageEnd = ws + lastNz + 1;
    for (let k = view.indexOf(RECORD_MAGIC_BYTES); k >= 0; k = view.indexOf(RECORD_MAGIC_BYTES, k + 1)) {
      if ((ws + k) % 8 !== 0) continue;
      const batchFirst = await intactBatchFirstAt(seg.fh, ws + k, size);
      result.newestBatchFirst = Math.max(result.newestBatchFirst, batchFirst);
    }
  }
  return result;
}

/** If an intact record header (magic, CRC over header and meta) sits at `pos`: its batch's first index. */
async function intactBatchFirstAt(fh: FileHandle, pos: number, size: number): Promise<number> {
  const h = await intactHeaderAt(fh, pos, size);
  return h ? Math.max(1, h.index - h.batchDelta) : 0;
}

/** The record header at `pos` if its magic and CRC (over header and meta) hold, whatever its index. */
export async function intactHeaderAt(fh: FileHandle, pos: number, size: number): Promise<RecordHeader | undefined> {
  if (pos + HEADER_BYTES > size) return undefined;
  const hb = Buffer.allocUnsafe(HEADER_BYTES);
  await readFully(fh, hb, 0, HEADER_BYTES, pos);
  const h = readHeader(hb, 0);
  if (h.magic !== RECORD_MAGIC || h.index < 1 || h.metaLen > STORAGE_LIMITS.entryPayloadBytesMax) return undefined;
  if (pos + HEADER_BYTES + h.metaLen > size) return undefined;
  const hm = Buffer.allocUnsafe(HEADER_BYTES + h.metaLen);
  await readFully(fh, hm, 0, hm.length, pos);
  return headerCrcMatches(hm, 0, h) ? h : undefined;
}

export function lastNonZero(buf: Buffer): number {
  for (let blockEnd = buf.length; blockEnd > 0; blockEnd -= ZERO_BLOCK.length) {
    const start = Math.max(0, blockEnd - ZERO_BLOCK.length);
    if (ZERO_BLOCK.compare(buf, start, blockEnd, 0, blockEnd - start) === 0) continue;
    for (let i = blockEnd - 1; i >= start; i--) if (buf[i] !== 0) return i;
  }
  return -1;
}
