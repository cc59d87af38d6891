// Integrity of an authenticated link: every socket write ends with a batch-MAC frame holding the
// GMAC (AES-256-GCM over additional data only) of all frames since the previous one. Each
// direction of each connection has its own key from the handshake, and batch n uses IV n, so an
// on-path attacker can neither inject, alter, reorder, replay nor drop frames without detection.
// GMAC runs at >10 GB/s with AES-NI and costs a few µs per write, so it is always on.

import { createCipheriv, timingSafeEqual, type CipherGCM } from 'node:crypto';

export const MAC_TAG_BYTES = 16;
export const MAC_KEY_BYTES = 32;

/** Incremental GMAC over a sequence of batches; `digest()` closes batch n and starts n + 1. */
export class BatchMacStream {
  private batchSeq = 0;
  private cipher: CipherGCM | null = null;
  private readonly iv = Buffer.alloc(12);

  constructor(private readonly key: Buffer) {
    if (key.length !== MAC_KEY_BYTES) throw new RangeError(`batch MAC key must be ${MAC_KEY_BYTES} bytes`);
  }

  update(data: Uint8Array): void {
    if (data.length === 0) return;
    this.current().setAAD(data);
  }

  digest(): Buffer {
    const cipher = this.current();
    cipher.final();
    const tag = cipher.getAuthTag();
    this.cipher = null;
    this.batchSeq += 1;
    return tag;
  }

  /** Closes the batch and compares its tag with `received` in constant time. */
  verify(received: Uint8Array): boolean {
    const expected = this.digest();
    return received.length === MAC_TAG_BYTES && timingSafeEqual(expected, received);
  }

  private current(): CipherGCM {
    if (this.cipher === null) {
      // IV = 0x00000000 ‖ u64 batch number; batchSeq stays far below 2^53.
      this.iv.writeUInt32BE(Math.floor(this.batchSeq / 0x1_0000_0000), 4);
      this.iv.writeUInt32BE(this.batchSeq >>> 0, 8);
      this.cipher = createCipheriv('aes-256-gcm', this.key, this.iv);
    }
    return this.cipher;
  }
}
