// Recently committed entry payloads, kept in memory so that a message received soon after it was
// sent is served without a disk read. Bounded by bytes; oldest entries are evicted first.

export class PayloadCache {
  private readonly entries = new Map<number, Uint8Array>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  put(index: number, payload: Uint8Array): void {
    if (payload.byteLength > this.maxBytes) return;
    this.entries.set(index, payload);
    this.bytes += payload.byteLength;
    // Map iteration order is insertion order, and indexes are inserted ascending.
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.byteLength;
    }
  }

  get(index: number): Uint8Array | undefined {
    return this.entries.get(index);
  }
}
