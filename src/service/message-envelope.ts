// How a message that carries SQS message attributes is stored: one byte string holding the
// attributes, the system attributes and the body. The broker keeps it as the message's body and
// flags the message as enveloped; receivers unwrap it here. Protocol-neutral (no SQS wire types).
//
// Layout, version 2 (lengths and counts little-endian):
//   u8 version = 2
//   16 bytes: the MD5 of the body (made once, when the message is sent: SQS answers carry it on
//             every send and every receive, and on 1 KiB it costs as much as the rest of a receive)
//   u32 attribute count, then each attribute   } sorted by name when encoded; a repeated name
//   u32 system attribute count, then each one  } does not decode
//   u32 body length, body bytes                  (last, so decoding returns it as a view)
// Each attribute: u32 name length, UTF-8 name; u32 data type length, UTF-8 data type;
//   u8 value kind (0 none, 1 string, 2 binary); unless none, u32 value length and its bytes.
// Version 1 is the same without the digest; it still decodes (its receivers make the digest).

import { isUtf8 } from 'node:buffer';
import { hash } from 'node:crypto';

export interface MessageAttributeValue {
  dataType: string;
  stringValue?: string;
  binaryValue?: Uint8Array;
}

export interface MessageEnvelope {
  attributes: Map<string, MessageAttributeValue>;
  /** AWSTraceHeader etc., and opencmq's own SenderId. */
  system: Map<string, MessageAttributeValue>;
  body: Uint8Array;
  /** The body's MD5, as stored with it (version 2); undefined in a version 1 envelope. */
  bodyMd5?: Uint8Array;
}

export const ENVELOPE_VERSION = 2;
/** The version before the body's digest was stored. */
const ENVELOPE_VERSION_1 = 1;
const MD5_BYTES = 16;
const KIND_NONE = 0;
const KIND_STRING = 1;
const KIND_BINARY = 2;
/** The least an attribute takes: name length, data type length, value kind. */
const MIN_ATTRIBUTE_BYTES = 4 + 4 + 1;


/** One attribute's place in the output: strings stay strings until written (no interim copies). */
interface SizedAttribute {
  name: string;
  a: MessageAttributeValue;
  kind: number;
}

/** The attributes sorted by name, and the bytes they take (their count included). */
function sizeAttributes(attrs: ReadonlyMap<string, MessageAttributeValue>): { list: SizedAttribute[]; bytes: number } {
  const list: SizedAttribute[] = [];
  let bytes = 4;
  for (const name of [...attrs.keys()].sort()) {
    const a = attrs.get(name)!;
    const kind = a.stringValue !== undefined ? KIND_STRING : a.binaryValue !== undefined ? KIND_BINARY : KIND_NONE;
    const value = kind === KIND_STRING ? Buffer.byteLength(a.stringValue!, 'utf8') : kind === KIND_BINARY ? a.binaryValue!.length : 0;
    list.push({ name, a, kind });
    bytes += MIN_ATTRIBUTE_BYTES + Buffer.byteLength(name, 'utf8') + Buffer.byteLength(a.dataType, 'utf8') + (kind === KIND_NONE ? 0 : 4 + value);
  }
  return { list, bytes };
}

/**
 * The bytes of an envelope between its digest and its body: the attributes and the system
 * attributes (messages with the same attributes have the same head, so a sender may reuse one).
 * Sized first, then written straight into one buffer with Buffer's native UTF-8 writes
 * (TextEncoder would allocate a copy of every string).
 */
export function envelopeHead(attributeMap: ReadonlyMap<string, MessageAttributeValue>, systemMap: ReadonlyMap<string, MessageAttributeValue>): Buffer {
  const attributes = sizeAttributes(attributeMap);
  const system = sizeAttributes(systemMap);
  const out = Buffer.allocUnsafe(attributes.bytes + system.bytes);
  let at = 0;
  const text = (s: string): void => {
    const n = out.write(s, at + 4, 'utf8');
    out.writeUInt32LE(n, at);
    at += 4 + n;
  };
  const bytes = (b: Uint8Array): void => {
    at = out.writeUInt32LE(b.length, at);
    out.set(b, at);
    at += b.length;
  };
  for (const { list } of [attributes, system]) {
    at = out.writeUInt32LE(list.length, at);
    for (const { name, a, kind } of list) {
      text(name);
      text(a.dataType);
      at = out.writeUInt8(kind, at);
      if (kind === KIND_STRING) text(a.stringValue!);
      else if (kind === KIND_BINARY) bytes(a.binaryValue!);
    }
  }
  return out;
}

/** One envelope to write: its head (envelopeHead) and its body, as bytes or as text stored as UTF-8. */
export interface EnvelopeParts {
  head: Uint8Array;
  body: Uint8Array | string;
}

/** A written envelope, and views of its body and of the body's MD5 in it. */
export interface WrittenEnvelope {
  bytes: Buffer;
  body: Buffer;
  bodyMd5: Buffer;
}

/**
 * Envelopes written into one buffer (a send's messages are stored together, so one allocation
 * serves them all), each with its body's digest. A body given as text is written as UTF-8
 * straight into its place (no copy made first).
 */
export function writeEnvelopes(parts: readonly EnvelopeParts[]): WrittenEnvelope[] {
  const bodyLengths = parts.map((p) => (typeof p.body === 'string' ? Buffer.byteLength(p.body, 'utf8') : p.body.length));
  let total = 0;
  parts.forEach((p, i) => (total += 1 + MD5_BYTES + p.head.length + 4 + bodyLengths[i]!));
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  return parts.map((p, i) => {
    const start = at;
    const length = bodyLengths[i]!;
    at = out.writeUInt8(ENVELOPE_VERSION, at);
    const md5At = at;
    at += MD5_BYTES;
    out.set(p.head, at);
    at = out.writeUInt32LE(length, at + p.head.length);
    if (typeof p.body === 'string') out.write(p.body, at, 'utf8');
    else out.set(p.body, at);
    const body = out.subarray(at, at + length);
    at += length;
    out.set(hash('md5', body, 'buffer'), md5At);
    return { bytes: out.subarray(start, at), body, bodyMd5: out.subarray(md5At, md5At + MD5_BYTES) };
  });
}

/**
 * Envelopes of a plain send are cut from slabs of this size, as Node's own pool serves small
 * allocations: a send's envelopes live until its command is encoded (the command's payload is a
 * copy), and a fresh buffer of a batch's ten kilobytes costs more than writing them.
 */
const ENVELOPE_SLAB_BYTES = 256 * 1024;
let envelopeSlab = Buffer.allocUnsafeSlow(0);
let envelopeSlabAt = 0;

function envelopeSpace(n: number): Buffer {
  if (n > ENVELOPE_SLAB_BYTES / 8) return Buffer.allocUnsafe(n);
  if (envelopeSlabAt + n > envelopeSlab.length) {
    envelopeSlab = Buffer.allocUnsafeSlow(ENVELOPE_SLAB_BYTES);
    envelopeSlabAt = 0;
  }
  const out = envelopeSlab.subarray(envelopeSlabAt, envelopeSlabAt + n);
  envelopeSlabAt = (envelopeSlabAt + n + 7) & ~7;
  return out;
}

/** Where an envelope's body digest starts (after the version byte), and its length. */
export const ENVELOPE_DIGEST_AT = 1;
export const ENVELOPE_DIGEST_BYTES = MD5_BYTES;

/**
 * writeEnvelopes for bodies that share one head and are ranges [start, end) of one buffer (a
 * request's bytes): the same envelopes, without a part object or a view per body to make them.
 * Each envelope's body digest is at ENVELOPE_DIGEST_AT.
 */
export function writeEnvelopesFrom(head: Uint8Array, source: Buffer, ranges: readonly { start: number; end: number }[]): Buffer[] {
  const fixed = 1 + MD5_BYTES + head.length + 4;
  let total = 0;
  for (const r of ranges) total += fixed + r.end - r.start;
  const out = envelopeSpace(total);
  const envelopes: Buffer[] = [];
  let at = 0;
  for (const r of ranges) {
    const start = at;
    const length = r.end - r.start;
    out[at] = ENVELOPE_VERSION;
    out.set(head, at + 1 + MD5_BYTES);
    at = out.writeUInt32LE(length, at + 1 + MD5_BYTES + head.length);
    // One plain view of the body serves the copy and the digest, and the digest comes back as a
    // 16-character string: typed arrays (a Buffer above all) cost more to make than those bytes.
    const body = new Uint8Array(source.buffer, source.byteOffset + r.start, length);
    out.set(body, at);
    at += length;
    const digest = hash('md5', body, 'binary');
    for (let i = 0; i < MD5_BYTES; i++) out[start + 1 + i] = digest.charCodeAt(i);
    envelopes.push(out.subarray(start, at));
  }
  return envelopes;
}

export function encodeEnvelope(e: Pick<MessageEnvelope, 'attributes' | 'system' | 'body'>): Uint8Array {
  return writeEnvelopes([{ head: envelopeHead(e.attributes, e.system), body: e.body }])[0]!.bytes;
}

/** Not a well-formed envelope: decoding stops and returns undefined. */
class Malformed extends Error {}

/**
 * Reads an envelope's fields in order, each checked against the bytes left (a length, count or
 * kind the bytes do not bear out throws Malformed). A class, not closures: every SQS receive
 * decodes one envelope per message.
 */
class EnvelopeReader {
  at = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.at === this.bytes.length;
  }

  need(n: number): void {
    if (n > this.bytes.length - this.at) throw new Malformed();
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.at++);
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  take(n: number): Uint8Array {
    this.need(n);
    const c = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return c;
  }

  chunk(): Uint8Array {
    return this.take(this.u32());
  }

  text(): string {
    const c = this.chunk();
    if (!isUtf8(c)) throw new Malformed();
    // Buffer keeps a leading U+FEFF (part of the name, not a marker), as a strict decoder would.
    return Buffer.from(c.buffer, c.byteOffset, c.length).toString('utf8');
  }

  /** An attribute section; `skip`: framing checked, nothing decoded, an empty map returned. */
  attributes(skip: boolean): Map<string, MessageAttributeValue> {
    const count = this.u32();
    // Every attribute takes at least MIN_ATTRIBUTE_BYTES: a count the bytes cannot hold is false.
    if (count > (this.bytes.length - this.at) / MIN_ATTRIBUTE_BYTES) throw new Malformed();
    const out = new Map<string, MessageAttributeValue>();
    let previous: string | undefined;
    for (let i = 0; i < count; i++) {
      if (skip) {
        this.chunk();
        this.chunk();
        const kind = this.u8();
        if (kind === KIND_STRING || kind === KIND_BINARY) this.chunk();
        else if (kind !== KIND_NONE) throw new Malformed();
        continue;
      }
      const name = this.text();
      // Names are written sorted and unique; anything else was not written by encodeEnvelope.
      if (previous !== undefined && !(previous < name)) throw new Malformed();
      previous = name;
      const dataType = this.text();
      const kind = this.u8();
      if (kind === KIND_NONE) out.set(name, { dataType });
      else if (kind === KIND_STRING) out.set(name, { dataType, stringValue: this.text() });
      else if (kind === KIND_BINARY) out.set(name, { dataType, binaryValue: this.chunk() });
      else throw new Malformed();
    }
    return out;
  }
}

/**
 * The envelope in `bytes`, or undefined when they are not a well-formed one (never throws).
 * The body, its digest and binary values are views into `bytes`, not copies. `parts` 'body': the
 * attributes are stepped over (their framing checked, their text not decoded) and returned
 * empty, for a receiver that reports none of them.
 */
export function decodeEnvelope(bytes: Uint8Array, parts: 'all' | 'body' = 'all'): MessageEnvelope | undefined {
  const r = new EnvelopeReader(bytes);
  const skip = parts === 'body';
  try {
    const version = r.u8();
    if (version !== ENVELOPE_VERSION && version !== ENVELOPE_VERSION_1) return undefined;
    const bodyMd5 = version === ENVELOPE_VERSION ? r.take(MD5_BYTES) : undefined;
    const attributes = r.attributes(skip);
    const system = r.attributes(skip);
    const body = r.chunk();
    if (!r.done) return undefined; // trailing bytes
    return bodyMd5 === undefined ? { attributes, system, body } : { attributes, system, body, bodyMd5 };
  } catch {
    return undefined; // Malformed: a length, count or kind the bytes do not bear out
  }
}

/**
 * Bytes SQS counts against MaximumMessageSize: the body and every message attribute's name, data
 * type and value (UTF-8 bytes). System attributes do not count, as in SQS.
 */
export function countedBytes(e: MessageEnvelope): number {
  return countedWith(e.attributes, e.body.length);
}

/** countedBytes of a body of `bodyLength` bytes with these message attributes. */
export function countedWith(attributes: ReadonlyMap<string, MessageAttributeValue>, bodyLength: number): number {
  let n = bodyLength;
  for (const [name, a] of attributes) {
    n += utf8ByteLength(name) + utf8ByteLength(a.dataType);
    if (a.stringValue !== undefined) n += utf8ByteLength(a.stringValue);
    else if (a.binaryValue !== undefined) n += a.binaryValue.length;
  }
  return n;
}

function utf8ByteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * The message body a delivered message carries for a protocol without message attributes (CMQ):
 * an enveloped body (sent through the SQS API) without its attributes. An envelope that does not
 * decode cannot come from encodeEnvelope (its bytes passed their CRC32C); it is delivered as stored.
 */
export function plainBody(m: { enveloped: boolean; bodyBytes: Buffer }): Buffer {
  if (!m.enveloped) return m.bodyBytes;
  const body = decodeEnvelope(m.bodyBytes, 'body')?.body;
  return body === undefined ? m.bodyBytes : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}
