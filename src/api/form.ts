// Parses application/x-www-form-urlencoded bodies and query strings (spec §1.2) into a map of
// decoded key -> decoded value. One pass over the bytes; a component is copied only when it holds
// '%' or '+'. Keys are kept as sent ('msgBody.1' stays 'msgBody.1'). Long values (message bodies)
// are decoded on first read and their bytes are kept (ParsedForm, valueBytes), so a body can go to
// the log as the bytes sent.

import { isUtf8 } from 'node:buffer';
import { fail, type ErrorResult } from '../protocol/errors';

/** Decoded request parameters, in the order they were sent. */
export type FormParams = Map<string, string>;

/** Spans of the input are recorded as start * SPAN_BASE + end, exact while the input is shorter. */
const SPAN_BASE = 2 ** 26;
/**
 * Values of at least this many bytes are decoded into strings only when asked for: a message
 * body goes on as its bytes, and is read as a string only to check a signature.
 */
const LAZY_VALUE_BYTES = 256;

/**
 * The parameters parseForm gives: a map of decoded values that decodes long values (message
 * bodies) only on first use, and knows where their UTF-8 bytes are (see valueBytes). Until a
 * long value is decoded the map holds '' for it, which no reader sees: get and every iteration
 * decode first.
 */
export class ParsedForm extends Map<string, string> {
  /** A long value sent unescaped: its span of `source`; an escaped one: its decoded bytes. */
  private readonly spans = new Map<string, number | Buffer>();
  /** How many long values are not decoded yet. */
  private undecoded = 0;

  constructor(private readonly source: Buffer) {
    super();
  }

  /** parseForm's: a value, decoded; or where the bytes of a long value are, to decode it later. */
  setValue(key: string, value: string | undefined, bytes: number | Buffer): void {
    if (value !== undefined) {
      super.set(key, value);
      return;
    }
    this.spans.set(key, bytes);
    this.undecoded++;
    super.set(key, '');
  }

  /** The bytes of a long value, or undefined. */
  bytesOf(key: string): Buffer | undefined {
    const span = this.spans.get(key);
    if (span === undefined || typeof span !== 'number') return span;
    const start = Math.floor(span / SPAN_BASE);
    return this.source.subarray(start, span - start * SPAN_BASE);
  }

  override get(key: string): string | undefined {
    const v = super.get(key);
    // A long value is never '': '' with a span is one not decoded yet.
    return v === '' && this.spans.has(key) ? this.decode(key) : v;
  }

  override set(key: string, value: string): this {
    // Only parseForm knows where a value's bytes are: a value set afterwards has none.
    if (this.spans.delete(key) && super.get(key) === '') this.undecoded--;
    return super.set(key, value);
  }

  override entries(): MapIterator<[string, string]> {
    this.decodeAll();
    return super.entries();
  }

  override values(): MapIterator<string> {
    this.decodeAll();
    return super.values();
  }

  override [Symbol.iterator](): MapIterator<[string, string]> {
    this.decodeAll();
    return super[Symbol.iterator]();
  }

  override forEach(callback: (value: string, key: string, map: Map<string, string>) => void, thisArg?: unknown): void {
    this.decodeAll();
    super.forEach(callback, thisArg);
  }

  private decode(key: string): string {
    const value = (this.bytesOf(key) as Buffer).toString('utf8');
    this.undecoded--;
    super.set(key, value);
    return value;
  }

  private decodeAll(): void {
    if (this.undecoded === 0) return;
    for (const key of this.spans.keys()) if (super.get(key) === '') this.decode(key);
  }
}

/**
 * The UTF-8 bytes of a parameter's value (`Buffer.from(p.get(key), 'utf8')`), without decoding
 * and encoding it again when it is a long value of a ParsedForm: a view of the request when it
 * was sent unescaped.
 */
export function valueBytes(p: FormParams, key: string): Buffer | undefined {
  if (p instanceof ParsedForm) {
    const bytes = p.bytesOf(key);
    if (bytes !== undefined) return bytes;
  }
  const value = p.get(key);
  return value === undefined ? undefined : Buffer.from(value, 'utf8');
}

export type FormParseResult = { ok: true; params: FormParams } | ErrorResult;

const AMP = 0x26;
const EQ = 0x3d;
const PLUS = 0x2b;
const PCT = 0x25;
const SPACE = 0x20;

/** What the 10420 message names when the form cannot be parsed. */
const PARSE_ARG = 'request';

class MalformedForm extends Error {}

/**
 * Parse a form body or query string. Malformed percent-encoding or invalid UTF-8 gives 4000/10420;
 * a key sent twice gives 4000/10330. Empty segments (`a=1&&b=2`) are skipped; a segment without
 * '=' is a key with an empty value; only the first '=' splits (`a=b=c` is a -> 'b=c').
 */
export function parseForm(input: Buffer | string): FormParseResult {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  // Raw (unescaped) bytes must be UTF-8 too. Checking the whole buffer once is enough for the
  // components without escapes: they are split at ASCII bytes, which never occur inside a
  // multi-byte sequence.
  if (!isUtf8(buf)) return fail('cannotParse', PARSE_ARG, '(invalid UTF-8)');
  const params = new ParsedForm(buf);
  const end = buf.length;
  const recordSpans = end < SPAN_BASE;
  let start = 0;
  // Positions of the next '%' and '+' at or after `start`, found with native indexOf and reused
  // while they lie ahead: the common body without escapes is then scanned once, not per byte in JS.
  let nextPct = -1;
  let nextPlus = -1;
  const needsCopy = (from: number, to: number): boolean => {
    if (nextPct !== end && nextPct < from) nextPct = indexOrEnd(buf, PCT, from);
    if (nextPlus !== end && nextPlus < from) nextPlus = indexOrEnd(buf, PLUS, from);
    return nextPct < to || nextPlus < to;
  };
  try {
    while (start <= end) {
      let amp = buf.indexOf(AMP, start);
      if (amp < 0) amp = end;
      if (amp > start) {
        let eq = buf.indexOf(EQ, start);
        if (eq < 0 || eq > amp) eq = amp;
        const key = decodeComponent(buf, start, eq, needsCopy(start, eq));
        // Long values are decoded on first use (undefined here), from their bytes.
        let value: string | undefined = '';
        let bytes: number | Buffer = 0;
        if (eq < amp) {
          if (needsCopy(eq + 1, amp)) {
            bytes = unescapeComponent(buf, eq + 1, amp);
            value = bytes.length >= LAZY_VALUE_BYTES ? undefined : bytes.toString('utf8');
          } else if (recordSpans && amp - eq - 1 >= LAZY_VALUE_BYTES) {
            bytes = (eq + 1) * SPAN_BASE + amp;
            value = undefined;
          } else {
            value = buf.toString('utf8', eq + 1, amp);
          }
        }
        if (params.has(key)) return fail('paramNotRepeatable', key);
        params.setValue(key, value, bytes);
      }
      start = amp + 1;
    }
  } catch (e) {
    if (e instanceof MalformedForm) return fail('cannotParse', PARSE_ARG, e.message);
    throw e;
  }
  return { ok: true, params };
}

function indexOrEnd(buf: Buffer, byte: number, from: number): number {
  const i = buf.indexOf(byte, from);
  return i < 0 ? buf.length : i;
}

function decodeComponent(buf: Buffer, start: number, end: number, needsCopy: boolean): string {
  return needsCopy ? unescapeComponent(buf, start, end).toString('utf8') : buf.toString('utf8', start, end);
}

/** The bytes a component with '%' or '+' stands for, checked to be UTF-8. */
function unescapeComponent(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  let j = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i] as number;
    if (b === PLUS) {
      out[j++] = SPACE;
    } else if (b === PCT) {
      const hi = i + 1 < end ? hexValue(buf[i + 1] as number) : -1;
      const lo = i + 2 < end ? hexValue(buf[i + 2] as number) : -1;
      if (hi < 0 || lo < 0) throw new MalformedForm('(bad percent-encoding)');
      out[j++] = (hi << 4) | lo;
      i += 2;
    } else {
      out[j++] = b;
    }
  }
  const decoded = out.subarray(0, j);
  if (!isUtf8(decoded)) throw new MalformedForm('(invalid UTF-8)');
  return decoded;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
