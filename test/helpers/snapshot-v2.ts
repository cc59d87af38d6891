// A broker snapshot of today's format rewritten in the version 2 layout (whole chunks, without the
// bodyEntry column, as written before bodies could be relocated; no deduplication ids), so tests can check that data
// directories of the earlier release still load.

import { BYTES_PER_SLOT, BYTES_PER_SLOT_V2, Chunk } from '../../src/broker/message-store';
import { DENSE_CHUNK, SNAPSHOT_VERSION } from '../../src/broker/snapshot';

const HEADER_BYTES = 4 + 1 + 6 * 8 + 4;

export function toVersion2(current: Uint8Array): Uint8Array {
  if (current[4] !== SNAPSHOT_VERSION || SNAPSHOT_VERSION !== 5) throw new Error('not a version 5 snapshot');
  const src = Buffer.from(current.buffer, current.byteOffset, current.byteLength);
  const out: Buffer[] = [Buffer.from(src.subarray(0, HEADER_BYTES))];
  out[0]![4] = 2;
  const queues = src.readUInt32LE(HEADER_BYTES - 4);
  let at = HEADER_BYTES;
  for (let q = 0; q < queues; q++) {
    const metaLen = src.readUInt32LE(at);
    const chunks = src.readUInt32LE(at + 4 + metaLen);
    out.push(src.subarray(at, at + 4 + metaLen + 4));
    at += 4 + metaLen + 4;
    for (let c = 0; c < chunks; c++) {
      const firstSeq = src.readDoubleLE(at);
      const n = src.readUInt32LE(at + 8);
      const live = src.readUInt32LE(at + 12);
      out.push(src.subarray(at, at + 12));
      at += 16;
      let cols: Buffer;
      if (live === DENSE_CHUNK) {
        cols = src.subarray(at, at + n * BYTES_PER_SLOT);
        at += n * BYTES_PER_SLOT;
      } else {
        // Only the live slots were written: lay them out as the whole chunk, the others GONE (zero).
        const chunk = new Chunk(firstSeq, n);
        const slots: number[] = [];
        for (let k = 0; k < live; k++, at += 2) slots.push(src.readUInt16LE(at));
        for (const col of chunk.f64Columns()) {
          for (const i of slots) {
            col[i] = src.readDoubleLE(at);
            at += 8;
          }
        }
        for (const col of chunk.u32Columns()) {
          for (const i of slots) {
            col[i] = src.readUInt32LE(at);
            at += 4;
          }
        }
        for (const col of chunk.u8Columns()) for (const i of slots) col[i] = src[at++]!;
        cols = Buffer.from(chunk.buffer);
      }
      // Drop bodyEntry (the fifth f64 column, bytes 32n..40n).
      out.push(cols.subarray(0, 32 * n), cols.subarray(40 * n));
      if (32 * n + (BYTES_PER_SLOT - 40) * n !== n * BYTES_PER_SLOT_V2) throw new Error('layout changed: update this helper');
    }
  }
  // The topics, without the deduplication ids that follow them since version 4.
  out.push(src.subarray(at, at + 4 + src.readUInt32LE(at)));
  return Uint8Array.from(Buffer.concat(out));
}
