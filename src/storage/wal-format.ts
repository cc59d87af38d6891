// The on-disk layout of WAL records and segment file names. Everything here is pure (buffers in,
// numbers out) so recovery, the flush path and reads agree on one definition of a valid record.
//
// Record frame, little-endian, total length a multiple of 8:
//   0  magic u32        RECORD_MAGIC (SEAL_MAGIC for the seal that closes a segment)
//   4  headerCrc u32    CRC32C of bytes [8, 48) and of the meta bytes
//   8  index u64        (two u32 halves; indexes stay below 2^53)
//  16  term u32
//  20  kind u8         0 command, 1 noop, 2 config (ENTRY_KINDS order); 3 reserved zero bytes follow
//  24  timeMs f64
//  32  metaLen u32
//  36  bodyLen u32
//  40  bodyCrc u32      CRC32C of the body bytes
//  44  batchDelta u32   index minus the first index of the write batch (group commit) it was in
//  48  meta bytes, body bytes, zero padding to a multiple of 8
import { ENTRY_KINDS, type EntryKind, type LogEntry } from './types';
import { crc32c } from './crc32c';

export const HEADER_BYTES = 48;
/** A seal is a bare header (no payload) whose index is the segment's last entry index. */
export const SEAL_BYTES = HEADER_BYTES;
export const RECORD_ALIGN = 8;
/** Fixed, nonzero and byte-varied, so neither zero fill nor typical text looks like a header. */
export const RECORD_MAGIC = 0xd7a3c61b;
export const SEAL_MAGIC = 0x9e5ea1ed;
export const RECORD_MAGIC_BYTES = u32le(RECORD_MAGIC);

const TWO_POW_32 = 0x1_0000_0000;
/** The high half of a u64 index/term must keep the value below 2^53. */
const U64_HIGH_MAX = 0x1f_ffff;
const SEGMENT_NAME_DIGITS = 20;
const SEGMENT_NAME_RE = /^(\d{20})\.wal$/;
export const SEGMENT_SUFFIX = '.wal';
/** Suffix of a zero-filled file waiting to become the next segment; stale ones are deleted at open. */
export const PREALLOC_SUFFIX = '.prealloc';

function u32le(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
}

export function align8(n: number): number {
  return Math.ceil(n / RECORD_ALIGN) * RECORD_ALIGN;
}

/** On-disk size of a record whose payload (meta + body) is `payloadBytes` long. */
export function recordBytes(payloadBytes: number): number {
  return align8(HEADER_BYTES + payloadBytes);
}

export function segmentFileName(firstIndex: number): string {
  return String(firstIndex).padStart(SEGMENT_NAME_DIGITS, '0') + SEGMENT_SUFFIX;
}

/** The first index a segment file name stands for, or undefined if it is not a segment name. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = SEGMENT_NAME_RE.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

function writeU64(buf: Buffer, pos: number, v: number): void {
  buf.writeUInt32LE(v >>> 0, pos);
  buf.writeUInt32LE(Math.floor(v / TWO_POW_32), pos + 4);
}

/** Reads a u64 written by writeU64; -1 if it does not fit in a safe integer. */
function readU64(buf: Buffer, pos: number): number {
  const hi = buf.readUInt32LE(pos + 4);
  if (hi > U64_HIGH_MAX) return -1;
  return hi * TWO_POW_32 + buf.readUInt32LE(pos);
}

/**
 * Encodes `entry` at buf[pos..] and returns the record length. `buf` must have recordBytes()
 * room. The payload is copied first so both CRCs run over the staged bytes in one call each.
 */
export function writeRecord(buf: Buffer, pos: number, entry: LogEntry, batchDelta: number): number {
  const payloadLen = entry.payload.length;
  const total = recordBytes(payloadLen);
  const payloadPos = pos + HEADER_BYTES;
  const bodyPos = payloadPos + entry.metaLen;
  const end = payloadPos + payloadLen;
  buf.set(entry.payload, payloadPos);
  buf.fill(0, end, pos + total);
  buf.writeUInt32LE(RECORD_MAGIC, pos);
  writeU64(buf, pos + 8, entry.index);
  buf.writeUInt32LE(entry.term, pos + 16);
  buf.writeUInt32LE(ENTRY_KINDS.indexOf(entry.kind), pos + 20);
  buf.writeDoubleLE(entry.timeMs, pos + 24);
  buf.writeUInt32LE(entry.metaLen, pos + 32);
  buf.writeUInt32LE(payloadLen - entry.metaLen, pos + 36);
  buf.writeUInt32LE(crc32c(buf.subarray(bodyPos, end)), pos + 40);
  buf.writeUInt32LE(batchDelta, pos + 44);
  buf.writeUInt32LE(crc32c(buf.subarray(pos + 8, bodyPos)), pos + 4);
  return total;
}

/** The seal written after a segment's last record when the log rolls over to the next segment. */
export function encodeSeal(lastIndex: number): Buffer {
  const buf = Buffer.alloc(SEAL_BYTES);
  buf.writeUInt32LE(SEAL_MAGIC, 0);
  writeU64(buf, 8, lastIndex);
  buf.writeUInt32LE(crc32c(buf.subarray(8, HEADER_BYTES)), 4);
  return buf;
}

export interface RecordHeader {
  magic: number;
  headerCrc: number;
  /** -1 when the stored value is not a safe integer (only possible in a damaged header). */
  index: number;
  term: number;
  /** undefined when the stored byte is not a known kind (only possible in a damaged header). */
  kind: EntryKind | undefined;
  timeMs: number;
  metaLen: number;
  bodyLen: number;
  bodyCrc: number;
  batchDelta: number;
}

/** Parses the fixed header at buf[pos..pos+48); says nothing about validity. */
export function readHeader(buf: Buffer, pos: number): RecordHeader {
  return {
    magic: buf.readUInt32LE(pos),
    headerCrc: buf.readUInt32LE(pos + 4),
    index: readU64(buf, pos + 8),
    term: buf.readUInt32LE(pos + 16),
    kind: ENTRY_KINDS[buf.readUInt32LE(pos + 20)],
    timeMs: buf.readDoubleLE(pos + 24),
    metaLen: buf.readUInt32LE(pos + 32),
    bodyLen: buf.readUInt32LE(pos + 36),
    bodyCrc: buf.readUInt32LE(pos + 40),
    batchDelta: buf.readUInt32LE(pos + 44),
  };
}

/** True if buf holds header + meta at pos and the header CRC matches. */
export function headerCrcMatches(buf: Buffer, pos: number, h: RecordHeader): boolean {
  const end = pos + HEADER_BYTES + h.metaLen;
  return end <= buf.length && crc32c(buf.subarray(pos + 8, end)) === h.headerCrc;
}

export function isAllZero(buf: Buffer, pos: number, length: number): boolean {
  for (let i = pos; i < pos + length; i++) if (buf[i] !== 0) return false;
  return true;
}

/** True if buf[pos..] holds an intact seal whose last index is `lastIndex`. */
export function isSealFor(buf: Buffer, pos: number, lastIndex: number): boolean {
  if (pos + SEAL_BYTES > buf.length) return false;
  const h = readHeader(buf, pos);
  return (
    h.magic === SEAL_MAGIC &&
    h.index === lastIndex &&
    h.metaLen === 0 &&
    h.bodyLen === 0 &&
    headerCrcMatches(buf, pos, h)
  );
}

export type DecodedRecord =
  | { ok: true; entry: LogEntry; bodyOk: boolean; recordBytes: number }
  | { ok: false; reason: string };

/**
 * Decodes and verifies the record at buf[pos..], which must be entry `expectedIndex`. The payload
 * is a view into `buf` (no copy). A bad body CRC is reported, not rejected: the caller decides.
 */
export function decodeRecord(buf: Buffer, pos: number, expectedIndex: number): DecodedRecord {
  if (pos + HEADER_BYTES > buf.length) return { ok: false, reason: 'record header past end of data' };
  const h = readHeader(buf, pos);
  if (h.magic !== RECORD_MAGIC) return { ok: false, reason: 'bad magic' };
  if (!headerCrcMatches(buf, pos, h)) return { ok: false, reason: 'header checksum mismatch' };
  if (h.index !== expectedIndex) return { ok: false, reason: `index ${h.index} where ${expectedIndex} was expected` };
  if (h.kind === undefined) return { ok: false, reason: 'unknown entry kind' };
  const payloadPos = pos + HEADER_BYTES;
  const end = payloadPos + h.metaLen + h.bodyLen;
  if (end > buf.length) return { ok: false, reason: 'record body past end of data' };
  const bodyOk = crc32c(buf.subarray(payloadPos + h.metaLen, end)) === h.bodyCrc;
  const entry: LogEntry = {
    index: h.index,
    term: h.term,
    kind: h.kind,
    timeMs: h.timeMs,
    metaLen: h.metaLen,
    payload: buf.subarray(payloadPos, end),
  };
  return { ok: true, entry, bodyOk, recordBytes: recordBytes(h.metaLen + h.bodyLen) };
}
