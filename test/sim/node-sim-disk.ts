// Reading a simulated member's WAL segment the way a disk inspector would: where each intact
// record is and where its message bodies lie, so the simulator can damage a body (and nothing
// else) the way failing media does.

import { align8, headerCrcMatches, HEADER_BYTES, readHeader, RECORD_MAGIC } from '../../src/storage/wal-format';
import type { EntryKind } from '../../src/storage/types';

export interface RecordBounds {
  index: number;
  term: number;
  kind: EntryKind | undefined;
  /** File offset of the body part (after the command meta). */
  bodyOffset: number;
  bodyLength: number;
}

/** The intact records of a segment file, in order, up to the first that is not one. */
export function parseRecordBounds(file: Buffer): RecordBounds[] {
  const out: RecordBounds[] = [];
  let pos = 0;
  while (pos + HEADER_BYTES <= file.length) {
    const h = readHeader(file, pos);
    if (h.magic !== RECORD_MAGIC || !headerCrcMatches(file, pos, h)) break;
    const bodyOffset = pos + HEADER_BYTES + h.metaLen;
    if (bodyOffset + h.bodyLen > file.length) break;
    out.push({ index: h.index, term: h.term, kind: h.kind, bodyOffset, bodyLength: h.bodyLen });
    pos += align8(HEADER_BYTES + h.metaLen + h.bodyLen);
  }
  return out;
}
