// Start-up recovery of a WAL directory: verifies every segment, decides between a torn tail (an
// unfinished write that was never acknowledged, dropped and zeroed) and real corruption (refuse
// to start), and rebuilds each segment's in-memory index. Rules are in docs/storage.md.
import { mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from './crc32c';
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
} from './wal-format';
import { Segment } from './wal-segment';

const ZERO_BLOCK = Buffer.alloc(4096);

export interface RecoveredLog {
  /** In index order; every one but the last is sealed. The last may be sealed too. */
  segments: Segment[];
  tornTailBytes: number;
  damagedBodies: RecoveryReport['damagedBodies'];
}

interface ScanResult {
  /** Offset just past the last intact record (where a seal, damage or zero fill starts). */
  end: number;
  sealed: boolean;
  badBodies: { index: number; offset: number }[];
  /** Offset of the last intact record, -1 if none; and whether its body checksum held. */
  lastRecordOffset: number;
  lastBodyOk: boolean;
}

export async function recoverSegments(dir: string, log: (line: string) => void): Promise<RecoveredLog> {
  await mkdir(dir, { recursive: true });
  const names = (await readdir(dir)).sort();
  for (const name of names) {
    // A half-prepared next segment holds no data; never reuse it (see SegmentedWal).
    if (name.endsWith(PREALLOC_SUFFIX)) await unlink(join(dir, name));
  }
  const segNames = names.filter((n) => parseSegmentFileName(n) !== undefined);
  const result: RecoveredLog = { segments: [], tornTailBytes: 0, damagedBodies: [] };
  try {
    for (let i = 0; i < segNames.length; i++) {
      await recoverSegment(dir, segNames[i]!, i === segNames.length - 1, result, log);
    }
  } catch (err) {
    await Promise.all(result.segments.map((s) => s.retire()));
    throw err;
  }
  return result;
}

async function openSegment(dir: string, name: string): Promise<Segment> {
  const path = join(dir, name);
  const fh = await open(path, 'r+');
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
  log: (line: string) => void,
): Promise<void> {
  const seg = await openSegment(dir, name);
  result.segments.push(seg);
  const prev = result.segments[result.segments.length - 2];
  if (prev && seg.firstIndex <= prev.lastIndex) {
    throw new WalCorruptionError(
      `wal: segment ${name} starts at index ${seg.firstIndex}, inside ${prev.name} (which ends at ${prev.lastIndex})`,
      name,
      0,
    );
  }
  const scan = await scanRecords(seg);
  if (!scan.sealed && !isLast) {
    // A segment is sealed and synced before the next one is created, so this is lost data.
    throw new WalCorruptionError(
      `wal: segment ${name} is followed by later segments but its records stop at offset ${scan.end} ` +
        `(entry ${seg.lastIndex + 1}) without a seal: damaged or missing data`,
      name,
      scan.end,
    );
  }
  if (!scan.sealed) {
    result.tornTailBytes += await settleTail(seg, scan, log);
  }
  for (const bad of scan.badBodies) {
    if (!seg.has(bad.index)) continue; // dropped as part of the torn tail
    result.damagedBodies.push({ index: bad.index, segment: name, fileOffset: bad.offset });
    log(
      `wal: DAMAGED BODY: entry ${bad.index} in ${name} at offset ${bad.offset} failed its body checksum; ` +
        `the entry is kept (its meta is intact) and reads of its body will fail`,
    );
  }
}

/** A view of a file through one reusable read window, so a sequential scan costs few reads. */
class WindowReader {
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

interface IntactRecord {
  payloadLen: number;
  term: number;
  bytes: number;
  bodyOk: boolean;
}

/** The record at `pos` if its magic, header CRC and index are right (the body may still be bad). */
async function readIntactRecord(r: WindowReader, pos: number, index: number): Promise<IntactRecord | undefined> {
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
  return { payloadLen, term: h.term, bytes: recordBytes(payloadLen), bodyOk };
}

/** Reads records from the start of the segment until the first one that is not intact, or a seal. */
async function scanRecords(seg: Segment): Promise<ScanResult> {
  const r = new WindowReader(seg.fh, seg.fileBytes);
  const badBodies: ScanResult['badBodies'] = [];
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

interface AfterEnd {
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
  if (pos + HEADER_BYTES > size) return 0;
  const hb = Buffer.allocUnsafe(HEADER_BYTES);
  await readFully(fh, hb, 0, HEADER_BYTES, pos);
  const h = readHeader(hb, 0);
  if (h.magic !== RECORD_MAGIC || h.index < 1 || h.metaLen > STORAGE_LIMITS.entryPayloadBytesMax) return 0;
  if (pos + HEADER_BYTES + h.metaLen > size) return 0;
  const hm = Buffer.allocUnsafe(HEADER_BYTES + h.metaLen);
  await readFully(fh, hm, 0, hm.length, pos);
  return headerCrcMatches(hm, 0, h) ? Math.max(1, h.index - h.batchDelta) : 0;
}

function lastNonZero(buf: Buffer): number {
  for (let blockEnd = buf.length; blockEnd > 0; blockEnd -= ZERO_BLOCK.length) {
    const start = Math.max(0, blockEnd - ZERO_BLOCK.length);
    if (ZERO_BLOCK.compare(buf, start, blockEnd, 0, blockEnd - start) === 0) continue;
    for (let i = blockEnd - 1; i >= start; i--) if (buf[i] !== 0) return i;
  }
  return -1;
}

/**
 * Decides what follows the last intact record of the unsealed last segment. Intact records from
 * a later write batch mean acknowledged data sits behind the damage: refuse to start. Otherwise
 * the damage is a torn write: drop it (and a last record whose body is bad), zero the leftover
 * bytes so they can never be mistaken for records after new appends, and return their count.
 */
async function settleTail(seg: Segment, scan: ScanResult, log: (line: string) => void): Promise<number> {
  const nextIndex = seg.lastIndex + 1;
  const after = await scanAfterEnd(seg, scan.end);
  if (after.newestBatchFirst > nextIndex) {
    throw new WalCorruptionError(
      `wal: segment ${seg.name} is damaged at offset ${scan.end} (entry ${nextIndex}) but intact entries ` +
        `written after it (a write batch starting at ${after.newestBatchFirst}) follow; refusing to drop them`,
      seg.name,
      scan.end,
    );
  }
  let end = scan.end;
  let garbageEnd = after.garbageEnd;
  if (scan.lastRecordOffset >= 0 && !scan.lastBodyOk) {
    // Header and meta intact but body not, and nothing after it: a torn write of the last record.
    seg.truncateFrom(seg.lastIndex);
    end = scan.lastRecordOffset;
    garbageEnd = Math.max(garbageEnd, Math.min(scan.end, seg.fileBytes));
  }
  seg.writeOffset = end;
  if (garbageEnd <= end) return 0;
  await zeroFill(seg.fh, end, garbageEnd - end);
  await seg.fh.datasync();
  log(
    `wal: torn tail in ${seg.name}: dropped ${garbageEnd - end} bytes at offset ${end} ` +
      `(log now ends at entry ${seg.lastIndex})`,
  );
  return garbageEnd - end;
}
