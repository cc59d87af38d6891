// The one CRC32C (Castagnoli) used by every layer, so records, snapshots and message bodies are
// all checked with the same hardware-accelerated implementation.
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC32C of `data`, continuing from `initial` (the CRC of preceding bytes), as an unsigned 32-bit number. */
export function crc32c(data: Uint8Array, initial = 0): number {
  return nativeCrc32c(data, initial) >>> 0;
}
