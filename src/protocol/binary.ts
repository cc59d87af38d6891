// Little-endian byte writer and bounds-checked reader shared by the binary codecs of the pure
// state machines (the broker's commands and snapshots, the controller's). The reader throws
// FormatError on any overrun; each codec decides what malformed bytes mean for it.

export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8Bytes(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}

/** Writes into a buffer of a known or estimated size; grows by doubling when the estimate is short. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  pos = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(16, capacity));
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A string of at most 65535 UTF-8 bytes, u16 length first. */
  shortStr(s: string): void {
    if (this.asciiStr(s, 2)) return;
    const b = utf8Bytes(s);
    if (b.length > 0xffff) throw new FormatError(`string too long (${b.length} bytes)`);
    this.u16(b.length);
    this.bytes(b);
  }

  /** A string with a u32 length first. */
  longStr(s: string): void {
    if (this.asciiStr(s, 4)) return;
    const b = utf8Bytes(s);
    this.u32(b.length);
    this.bytes(b);
  }

  /**
   * Writes `s` with its length first when it is all ASCII (queue names, receipt handles: nearly
   * every string here), byte by byte into the buffer: no encoder call and no temporary array per
   * string. False, with pos unchanged, when it is not ASCII or too long for a u16 length.
   */
  private asciiStr(s: string, lengthBytes: 2 | 4): boolean {
    const n = s.length;
    if (lengthBytes === 2 && n > 0xffff) return false;
    this.ensure(lengthBytes + n);
    const buf = this.buf;
    const at = this.pos + lengthBytes;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) return false;
      buf[at + i] = c;
    }
    if (lengthBytes === 2) this.view.setUint16(this.pos, n, true);
    else this.view.setUint32(this.pos, n, true);
    this.pos = at + n;
    return true;
  }

  /** The written bytes; no copy when the capacity was exact. */
  finish(): Uint8Array {
    return this.pos === this.buf.length ? this.buf : this.buf.subarray(0, this.pos);
  }
}

export class ByteReader {
  private readonly view: DataView;
  pos: number;

  constructor(
    private readonly data: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    if (start < 0 || end > data.length || start > end) throw new FormatError('reader range out of bounds');
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.pos = start;
  }

  private take(n: number): number {
    const at = this.pos;
    if (at + n > this.end) throw new FormatError(`truncated: need ${n} bytes at ${at}, end ${this.end}`);
    this.pos = at + n;
    return at;
  }

  u8(): number {
    return this.view.getUint8(this.take(1));
  }

  u16(): number {
    return this.view.getUint16(this.take(2), true);
  }

  u32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  f64(): number {
    return this.view.getFloat64(this.take(8), true);
  }

  /** A finite integer stored as f64 (seq numbers, times, indexes). */
  int(): number {
    const v = this.f64();
    if (!Number.isSafeInteger(v)) throw new FormatError(`expected an integer, got ${v}`);
    return v;
  }

  bytes(n: number): Uint8Array {
    const at = this.take(n);
    return this.data.subarray(at, at + n);
  }

  shortStr(): string {
    return this.decode(this.u16());
  }

  longStr(): string {
    return this.decode(this.u32());
  }

  private decode(n: number): string {
    try {
      return utf8Decoder.decode(this.bytes(n));
    } catch (e) {
      if (e instanceof FormatError) throw e;
      throw new FormatError('invalid UTF-8');
    }
  }

  atEnd(): boolean {
    return this.pos === this.end;
  }

  expectEnd(what: string): void {
    if (this.pos !== this.end) throw new FormatError(`${what}: ${this.end - this.pos} trailing bytes`);
  }
}
