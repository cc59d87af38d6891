// CRC32C of message bodies, computed once on the leader when a send is encoded. A thin wrapper
// over the native @node-rs/crc32 (a pure function: no I/O, no state), so broker/ need not import
// storage/ (the layering rules forbid it).

import { crc32c as nativeCrc32c } from '@node-rs/crc32';

export function crc32c(data: Uint8Array | string, initial?: number): number {
  const input = typeof data === 'string' || Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return initial === undefined ? nativeCrc32c(input) : nativeCrc32c(input, initial);
}
