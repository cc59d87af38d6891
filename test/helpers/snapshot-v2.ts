// A broker snapshot of today's format rewritten in the version 2 layout (chunks without the
// bodyEntry column, as written before bodies could be relocated), so tests can check that data
// directories of the earlier release still load.

import { BYTES_PER_SLOT, BYTES_PER_SLOT_V2 } from '../../src/broker/message-store';
import { SNAPSHOT_VERSION } from '../../src/broker/snapshot';

const HEADER_BYTES = 4 + 1 + 6 * 8 + 4;

export function toVersion2(v3: Uint8Array): Uint8Array {
  if (v3[4] !== SNAPSHOT_VERSION || SNAPSHOT_VERSION !== 3) throw new Error('not a version 3 snapshot');
  const src = Buffer.from(v3.buffer, v3.byteOffset, v3.byteLength);
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
      const n = src.readUInt32LE(at + 8);
      out.push(src.subarray(at, at + 12));
      const cols = src.subarray(at + 12, at + 12 + n * BYTES_PER_SLOT);
      // Drop bodyEntry (the fifth f64 column, bytes 32n..40n).
      out.push(cols.subarray(0, 32 * n), cols.subarray(40 * n));
      at += 12 + n * BYTES_PER_SLOT;
      if (32 * n + (BYTES_PER_SLOT - 40) * n !== n * BYTES_PER_SLOT_V2) throw new Error('layout changed: update this helper');
    }
  }
  out.push(src.subarray(at));
  return Uint8Array.from(Buffer.concat(out));
}
