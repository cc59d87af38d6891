// JSON rendered straight into UTF-8 bytes, for the answers the server writes most (batched
// receives: kilobytes of message bodies per answer). JSON.stringify followed by Buffer.from
// decodes every body from its bytes into a string, scans it for characters to escape, builds the
// whole answer as a string and encodes it back to UTF-8; here a body that needs no escaping (the
// usual case) is copied as bytes, once. The output is byte for byte what
// `Buffer.from(JSON.stringify(value), 'utf8')` gives; anything outside the fast paths (a body or
// string that needs escaping, an object with its own toJSON) is handed to JSON.stringify itself.

import { isUtf8 } from 'node:buffer';

/**
 * A JSON string held as its UTF-8 bytes (a message body read from the log). JSON.stringify
 * writes it as the bytes decoded as UTF-8 (invalid sequences as U+FFFD); jsonBytes copies the
 * bytes when that decoding and JSON's escaping would give them back unchanged.
 */
export class Utf8JsonString {
  constructor(readonly bytes: Buffer) {}

  toJSON(): string {
    return this.bytes.toString('utf8');
  }

  /** The text itself, where an answer is rendered as text (the SQS query protocol's XML). */
  toString(): string {
    return this.bytes.toString('utf8');
  }
}

/** 1 for the bytes that stand for themselves inside a JSON string (neither controls nor '"' nor '\'). */
const PLAIN_BYTE = new Uint8Array(256);
for (let b = 0x20; b < 256; b++) PLAIN_BYTE[b] = b === 0x22 || b === 0x5c ? 0 : 1;

/** JSON's structural bytes (also read by the SQS API's byte-level send reader). */
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COMMA = 0x2c;
export const COLON = 0x3a;
export const OPEN_BRACE = 0x7b;
export const CLOSE_BRACE = 0x7d;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACKET = 0x5d;

/**
 * Answers are rendered into slabs of this size and handed out as views of them, so most answers
 * cost neither an allocation nor a copy; a slab is freed once every answer in it has been written
 * to its socket. An answer that does not fit moves to a slab of its own size.
 */
const SLAB_BYTES = 128 * 1024;
/** Less room than this left in a slab: start the next answer in a new one. */
const SLAB_MIN_FREE = 4 * 1024;

class ByteSink {
  buf!: Buffer;
  /** The same memory as 32-bit words, to check copied bytes four at a time. */
  private words!: Int32Array;
  /** Where the answer being rendered starts in buf. */
  private start = 0;
  pos = 0;

  constructor() {
    this.allocate(SLAB_BYTES);
  }

  /** Not zeroed, and not from Node's pool: word i of `words` is bytes 4i..4i+3 of `buf`. */
  private allocate(size: number): void {
    this.buf = Buffer.allocUnsafeSlow(size);
    this.words = new Int32Array(this.buf.buffer, this.buf.byteOffset, size >>> 2);
  }

  begin(): void {
    if (this.buf.length - this.pos < SLAB_MIN_FREE) {
      this.allocate(SLAB_BYTES);
      this.pos = 0;
    }
    this.start = this.pos;
  }

  /** Room for n more bytes at pos; the answer so far may move to a new slab (marks stay valid). */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const length = this.pos - this.start;
    let size = SLAB_BYTES;
    while (size < length + n) size *= 2;
    const old = this.buf;
    this.allocate(size);
    old.copy(this.buf, 0, this.start, this.pos);
    this.start = 0;
    this.pos = length;
  }

  /** The current position, as an offset in the answer (a slab change does not move it). */
  mark(): number {
    return this.pos - this.start;
  }

  rewind(mark: number): void {
    this.pos = this.start + mark;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** A string known to hold only characters below U+0080 that need no escaping. */
  ascii(s: string): void {
    this.ensure(s.length);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** Any string, as UTF-8 (the output of JSON.stringify: no lone surrogates). */
  utf8(s: string): void {
    // A UTF-16 code unit never takes more than 3 bytes of UTF-8.
    this.ensure(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /**
   * Bytes [from, to) of the buffer: -1 if one is a control character (below 0x20), else 1 when
   * one is 0x80 or above, else 0. Whole words at a time: for a word w, (w - 0x20202020) & ~w has a
   * byte's top bit set for the lowest byte below 0x20, if any (a byte of 0x80 or more has its top
   * bit cleared by ~w and borrows nothing).
   */
  controlsOrHigh(from: number, to: number): number {
    const b = this.buf;
    let high = 0;
    let i = from;
    const headEnd = Math.min(to, (from + 3) & ~3);
    for (; i < headEnd; i++) {
      const c = b[i] as number;
      if (c < 0x20) return -1;
      high |= c;
    }
    const w32 = this.words;
    const wordsEnd = to >>> 2;
    let control = 0;
    for (let j = i >>> 2; j < wordsEnd; j++) {
      const w = w32[j] as number;
      control |= (w - 0x20202020) & ~w;
      high |= w;
    }
    if ((control & 0x80808080) !== 0) return -1;
    for (i = Math.max(i, wordsEnd << 2); i < to; i++) {
      const c = b[i] as number;
      if (c < 0x20) return -1;
      high |= c;
    }
    return (high & 0x80808080) !== 0 ? 1 : 0;
  }

  /** The answer rendered since begin(), as a view of the slab. */
  take(): Buffer {
    const out = this.buf.subarray(this.start, this.pos);
    // Next answer at an 8-byte boundary; an oversized slab is left to the answer that needed it.
    this.pos = (this.pos + 7) & ~7;
    if (this.buf.length > SLAB_BYTES) this.pos = this.buf.length;
    this.start = this.pos;
    return out;
  }
}

const sink = new ByteSink();

/**
 * `Buffer.from(JSON.stringify(value), 'utf8')` for the values answers are made of (plain objects,
 * arrays, strings, numbers, booleans, null, Utf8JsonString), with two differences: a bigint is
 * written as an exact JSON integer (JSON.stringify throws), and the bigint-valued keys of the top
 * object are written after its other keys (as responseJson does).
 */
export function jsonBytes(value: unknown): Buffer {
  // A throw (from a toJSON) leaves a partial answer in the slab; the next one starts after it.
  sink.begin();
  if (isPlainObject(value)) writeObject(value, true);
  else if (!writeValue(value)) sink.ascii('null');
  return sink.take();
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/** Write one value; false (and nothing written) for what JSON leaves out: undefined, functions, symbols. */
function writeValue(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
      writeString(v);
      return true;
    case 'number':
      writeNumber(v);
      return true;
    case 'boolean':
      sink.ascii(v ? 'true' : 'false');
      return true;
    case 'bigint':
      sink.ascii(v.toString());
      return true;
    case 'undefined':
    case 'function':
    case 'symbol':
      return false;
    case 'object':
      if (v === null) sink.ascii('null');
      else if (v instanceof Utf8JsonString) writeUtf8String(v.bytes);
      else if (Array.isArray(v)) writeArray(v);
      else if (isPlainObject(v)) writeObject(v, false);
      else return writeByStringify(v);
      return true;
  }
}

/** What JSON.stringify makes of anything else (a toJSON, a class instance); false when it leaves it out. */
function writeByStringify(v: unknown): boolean {
  const json = JSON.stringify(v) as string | undefined;
  if (json === undefined) return false;
  sink.utf8(json);
  return true;
}

function writeObject(o: Record<string, unknown>, bigintsLast: boolean): void {
  sink.byte(OPEN_BRACE);
  let empty = true;
  // for-in over an object's own keys is Object.keys' order, and lets V8 load each value from
  // the object's layout instead of looking the key up; a plain object inherits no enumerable key.
  for (const k in o) {
    const v = o[k];
    if (bigintsLast && typeof v === 'bigint') continue;
    if (writeMember(k, v, empty)) empty = false;
  }
  if (bigintsLast) {
    for (const k in o) {
      const v = o[k];
      if (typeof v === 'bigint' && writeMember(k, v, empty)) empty = false;
    }
  }
  sink.byte(CLOSE_BRACE);
}

/** `"key":value`, after a comma unless first; nothing at all (false) when JSON leaves the value out. */
function writeMember(k: string, v: unknown, first: boolean): boolean {
  const mark = sink.mark();
  if (!first) sink.byte(COMMA);
  writeString(k);
  sink.byte(COLON);
  if (writeValue(v)) return true;
  sink.rewind(mark);
  return false;
}

function writeArray(a: readonly unknown[]): void {
  sink.byte(OPEN_BRACKET);
  for (let i = 0; i < a.length; i++) {
    if (i > 0) sink.byte(COMMA);
    if (!writeValue(a[i])) sink.ascii('null');
  }
  sink.byte(CLOSE_BRACKET);
}

function writeNumber(n: number): void {
  if (n >= 0 && n <= 0xffff_ffff && Number.isInteger(n)) {
    // The usual case (times, counts, codes): decimal digits without an intermediate string,
    // in unsigned 32-bit arithmetic.
    let t = n >>> 0;
    const digits = decimalDigits(t);
    sink.ensure(digits);
    const b = sink.buf;
    for (let p = sink.pos + digits - 1; p >= sink.pos; p--) {
      const q = (t / 10) >>> 0;
      b[p] = 0x30 + t - q * 10;
      t = q;
    }
    sink.pos += digits;
    return;
  }
  // JSON.stringify writes finite numbers as String does, and NaN and the infinities as null.
  sink.ascii(Number.isFinite(n) ? String(n) : 'null');
}

/** How many decimal digits an unsigned 32-bit integer has. */
function decimalDigits(t: number): number {
  if (t < 100_000) return t < 10 ? 1 : t < 100 ? 2 : t < 1000 ? 3 : t < 10_000 ? 4 : 5;
  return t < 1_000_000 ? 6 : t < 10_000_000 ? 7 : t < 100_000_000 ? 8 : t < 1_000_000_000 ? 9 : 10;
}

/** A string; characters from U+0020 to U+007F other than '"' and '\' stand for themselves. */
function writeString(s: string): void {
  const n = s.length;
  sink.ensure(n + 2);
  const b = sink.buf;
  let p = sink.pos;
  b[p++] = QUOTE;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || PLAIN_BYTE[c] === 0) {
      sink.utf8(JSON.stringify(s));
      return;
    }
    b[p++] = c;
  }
  b[p++] = QUOTE;
  sink.pos = p;
}

/**
 * UTF-8 bytes as a JSON string. When they hold no control character, '"' or '\' and are valid
 * UTF-8, decoding and JSON.stringify would give them back unchanged (JSON escapes nothing else
 * that valid UTF-8 can encode): copy them. Otherwise do exactly that decoding and escaping.
 */
function writeUtf8String(bytes: Buffer): void {
  if (bytes.indexOf(QUOTE) < 0 && bytes.indexOf(BACKSLASH) < 0) {
    const n = bytes.length;
    sink.ensure(n + 2);
    const b = sink.buf;
    const start = sink.pos + 1;
    b[sink.pos] = QUOTE;
    bytes.copy(b, start);
    const found = sink.controlsOrHigh(start, start + n);
    if (found === 0 || (found === 1 && isUtf8(bytes))) {
      b[start + n] = QUOTE;
      sink.pos = start + n + 1;
      return;
    }
    // sink.pos has not moved: the copy is overwritten.
  }
  sink.utf8(JSON.stringify(bytes.toString('utf8')));
}
