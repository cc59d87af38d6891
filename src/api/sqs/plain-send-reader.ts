// The common shape of an AWS JSON 1.0 SendMessage or SendMessageBatch, read from the request's
// bytes: a QueueUrl, and a MessageBody with an optional DelaySeconds (or up to 10 entries of Id,
// MessageBody and optional DelaySeconds), nothing else. The general path (JSON.parse, the shape
// check, the action's per-member checks) costs more per message than the rest of a send; this
// reader yields the bodies as ranges of the request's bytes instead, without a string per body.
//
// It recognises a request only when the general path would accept every part of it: any other
// member, a null, an escape, a number that is not a plain integer, an Id, body, delay, size or
// queue URL the general path would refuse, anything unusual at all gives undefined, and the
// request takes the general path, which then answers it exactly as before. So this reader never
// makes an error of its own; a test runs generated requests through both paths and compares.

import { isUtf8 } from 'node:buffer';

import { LIMITS, QUEUE_ATTR_RANGES } from '../../protocol/limits';
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, OPEN_BRACE, OPEN_BRACKET, QUOTE } from '../json-bytes';
import { queueNameOfUrl } from './queue-url';
import type { SqsEnv } from './types';
import { SQS_LIMITS } from './validation';

/** One message of a plain send: its body is bytes [start, end) of the request. */
export interface PlainMessage {
  /** The batch entry's Id (SendMessageBatch only). */
  id: string | undefined;
  start: number;
  end: number;
  delaySeconds: number | undefined;
}

export interface PlainSend {
  action: 'SendMessage' | 'SendMessageBatch';
  queueName: string;
  /** The request's bytes, which the messages' ranges refer to. */
  source: Buffer;
  messages: PlainMessage[];
}

const SPACE = 0x20;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
/** U+FFFE and U+FFFF in UTF-8: characters valid UTF-8 can hold that SQS does not allow. */
const U_FFFE = Buffer.from([0xef, 0xbf, 0xbe]);
const U_FFFF = Buffer.from([0xef, 0xbf, 0xbf]);
/** How far a string's end is looked for byte by byte before indexOf takes over. */
const SHORT_STRING_BYTES = 16;
/** DelaySeconds has at most this many digits here (900 at most); longer ones go the general way. */
const DELAY_DIGITS_MAX = 3;
const DELAY_MAX = SQS_LIMITS.delaySecondsMax;

/** 1 for the bytes of a batch entry Id (BATCH_ENTRY_ID_RE: [A-Za-z0-9_-]). */
const ID_BYTE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-') ID_BYTE[c.charCodeAt(0)] = 1;

/** A member name as bytes, to compare with a key in the request without making a string of it. */
const key = (name: string): Buffer => Buffer.from(name, 'latin1');
const QUEUE_URL = key('QueueUrl');
const ENTRIES = key('Entries');
const ID = key('Id');
const MESSAGE_BODY = key('MessageBody');
const DELAY_SECONDS = key('DelaySeconds');

/** Not the common shape (or not a request the general path would accept whole): take the general path. */
class NotPlain extends Error {}
const NOT_PLAIN = new NotPlain();

/**
 * The plain send in `body` (the request of `action`, already known to be a JSON 1.0 POST), or
 * undefined when the request must take the general path. `env` gives the account its queue URL
 * must name.
 */
export function readPlainSend(action: string, body: Buffer, env: Pick<SqsEnv, 'accountId'>): PlainSend | undefined {
  if (action !== 'SendMessage' && action !== 'SendMessageBatch') return undefined;
  // What the general path checks of the whole body first (UTF-8, and for its shortcut of the
  // allowed characters: no escape, no U+FFFE/U+FFFF); and no control byte anywhere, so no string
  // holds a raw one (JSON.parse refuses it) and the only whitespace is the space.
  if (body.length === 0 || body.indexOf(BACKSLASH) >= 0 || hasControlByte(body) || !isUtf8(body)) return undefined;
  if (body.indexOf(U_FFFE) >= 0 || body.indexOf(U_FFFF) >= 0) return undefined;
  try {
    const r = new Reader(body);
    const read = action === 'SendMessage' ? r.sendMessage() : r.sendMessageBatch();
    const queueName = queueNameOf(env.accountId, read.queueUrl);
    if (queueName === undefined) return undefined;
    return { action, queueName, source: body, messages: read.messages };
  } catch (e) {
    if (e instanceof NotPlain) return undefined;
    throw e;
  }
}

/**
 * The queue names of the queue URLs plain sends named, by account: a sender names the same few
 * queues request after request, and reading a URL costs a request more than the rest of its
 * reading. Emptied when it holds many (URLs are the clients' to choose).
 */
const queueNames = new Map<string, Map<string, string>>();
const QUEUE_NAMES_MAX = 1024;

/** The queue a URL names (queueNameOfUrl), or undefined when the general path must refuse it. */
function queueNameOf(accountId: string, url: string): string | undefined {
  let names = queueNames.get(accountId);
  if (names === undefined) {
    names = new Map();
    queueNames.set(accountId, names);
  }
  let name = names.get(url);
  if (name === undefined) {
    const r = queueNameOfUrl({ accountId }, url);
    if (typeof r !== 'string') return undefined;
    if (names.size >= QUEUE_NAMES_MAX) names.clear();
    name = r;
    names.set(url, name);
  }
  return name;
}

/**
 * Whether any byte is below 0x20, four bytes at a time where the buffer is aligned: for a word w,
 * (w - 0x20202020) & ~w has a byte's top bit set for the lowest byte below 0x20, if any (a byte of
 * 0x80 or more has its top bit cleared by ~w and borrows nothing). Four words per step and `| 0`
 * on every step keep V8 in 32-bit integer arithmetic: this loop reads every byte of the request.
 */
export function hasControlByte(b: Buffer): boolean {
  const offset = b.byteOffset;
  const alignedStart = Math.min(b.length, ((offset + 3) & ~3) - offset);
  for (let i = 0; i < alignedStart; i++) if ((b[i] as number) < SPACE) return true;
  const words = (b.length - alignedStart) >>> 2;
  if (words > 0) {
    const w32 = new Int32Array(b.buffer, offset + alignedStart, words);
    let control = 0;
    let j = 0;
    for (; j + 4 <= words; j += 4) {
      const w0 = (w32[j] as number) | 0;
      const w1 = (w32[j + 1] as number) | 0;
      const w2 = (w32[j + 2] as number) | 0;
      const w3 = (w32[j + 3] as number) | 0;
      control |= (((w0 - 0x20202020) | 0) & ~w0) | (((w1 - 0x20202020) | 0) & ~w1) | (((w2 - 0x20202020) | 0) & ~w2) | (((w3 - 0x20202020) | 0) & ~w3);
    }
    for (; j < words; j++) {
      const w = (w32[j] as number) | 0;
      control |= ((w - 0x20202020) | 0) & ~w;
    }
    if ((control & 0x80808080) !== 0) return true;
  }
  for (let i = alignedStart + words * 4; i < b.length; i++) if ((b[i] as number) < SPACE) return true;
  return false;
}

/**
 * A strict reader of the plain shapes. The body has already been checked to hold no backslash and
 * no control byte, so a string runs to the next quote and whitespace is spaces only. Every
 * departure from the shapes throws NotPlain. The last string read is [s, e) (no array per string).
 */
class Reader {
  private at = 0;
  private s = 0;
  private e = 0;

  constructor(private readonly b: Buffer) {}

  sendMessage(): { queueUrl: string; messages: PlainMessage[] } {
    const m = this.message(QUEUE_URL, () => this.queueUrl());
    this.end();
    return { queueUrl: m.head, messages: [{ id: undefined, start: m.start, end: m.end, delaySeconds: m.delaySeconds }] };
  }

  sendMessageBatch(): { queueUrl: string; messages: PlainMessage[] } {
    let queueUrl: string | undefined;
    let messages: PlainMessage[] | undefined;
    this.open();
    do {
      this.key();
      if (this.is(QUEUE_URL) && queueUrl === undefined) queueUrl = this.queueUrl();
      else if (this.is(ENTRIES) && messages === undefined) messages = this.entries();
      else throw NOT_PLAIN;
    } while (this.next());
    this.end();
    if (queueUrl === undefined || messages === undefined) throw NOT_PLAIN;
    return { queueUrl, messages };
  }

  /** Entries: 1 to 10 entries with distinct Ids, within the batch's size limit. */
  private entries(): PlainMessage[] {
    const out: PlainMessage[] = [];
    let total = 0;
    this.expect(OPEN_BRACKET);
    this.spaces();
    if (this.b[this.at] === CLOSE_BRACKET) throw NOT_PLAIN; // empty: the general path's error
    for (;;) {
      if (out.length === SQS_LIMITS.batchEntriesMax) throw NOT_PLAIN;
      const m = this.entry();
      for (const other of out) if (other.id === m.id) throw NOT_PLAIN;
      total += m.end - m.start;
      out.push(m);
      this.spaces();
      const c = this.b[this.at++];
      if (c === CLOSE_BRACKET) break;
      if (c !== COMMA) throw NOT_PLAIN;
      this.spaces();
    }
    if (total > LIMITS.batchBodyBytesMax) throw NOT_PLAIN;
    return out;
  }

  private entry(): PlainMessage {
    const m = this.message(ID, () => this.id());
    return { id: m.head, start: m.start, end: m.end, delaySeconds: m.delaySeconds };
  }

  /**
   * One message's object: its `headKey` member (SendMessage's QueueUrl, an entry's Id), its
   * MessageBody and an optional DelaySeconds; any other member, or one given twice (JSON.parse
   * keeps the last), is not a plain send.
   */
  private message(headKey: Buffer, readHead: () => string): { head: string; start: number; end: number; delaySeconds: number | undefined } {
    let head: string | undefined;
    let start = -1;
    let end = -1;
    let delaySeconds: number | undefined;
    this.open();
    do {
      this.key();
      if (this.is(headKey) && head === undefined) head = readHead();
      else if (this.is(MESSAGE_BODY) && start < 0) {
        this.body();
        start = this.s;
        end = this.e;
      } else if (this.is(DELAY_SECONDS) && delaySeconds === undefined) delaySeconds = this.delay();
      else throw NOT_PLAIN;
    } while (this.next());
    if (head === undefined || start < 0) throw NOT_PLAIN;
    return { head, start, end, delaySeconds };
  }

  /** An object's `{` (an empty object is not plain: its first key must follow). */
  private open(): void {
    this.spaces();
    this.expect(OPEN_BRACE);
    this.spaces();
  }

  /** After a member: true at a comma (another member follows), false at the object's `}`. */
  private next(): boolean {
    this.spaces();
    const c = this.b[this.at++];
    if (c === CLOSE_BRACE) return false;
    if (c !== COMMA) throw NOT_PLAIN;
    this.spaces();
    return true;
  }

  /** A member's key (left in [s, e)) and the colon after it. */
  private key(): void {
    this.string();
    this.spaces();
    this.expect(COLON);
    this.spaces();
  }

  /** Whether the key just read is `name`. */
  private is(name: Buffer): boolean {
    const s = this.s;
    if (this.e - s !== name.length) return false;
    const b = this.b;
    for (let i = 0; i < name.length; i++) if (b[s + i] !== name[i]) return false;
    return true;
  }

  /** A string, its contents left in [s, e): up to the next quote, as the body has no escape. */
  private string(): void {
    this.expect(QUOTE);
    // Keys and Ids are short: a few bytes looked at here cost less than a call to indexOf.
    const b = this.b;
    const near = Math.min(b.length, this.at + SHORT_STRING_BYTES);
    let end = this.at;
    while (end < near && b[end] !== QUOTE) end++;
    if (end === near) end = b.indexOf(QUOTE, near);
    if (end < 0) throw NOT_PLAIN;
    this.s = this.at;
    this.e = end;
    this.at = end + 1;
  }

  private queueUrl(): string {
    this.string();
    if (this.e === this.s) throw NOT_PLAIN; // missing, to the general path
    return this.b.toString('utf8', this.s, this.e);
  }

  /** A message body: not empty, and within the largest message a queue may take (no attributes count). */
  private body(): void {
    this.string();
    const length = this.e - this.s;
    if (length === 0 || length > QUEUE_ATTR_RANGES.maxMsgSize.max) throw NOT_PLAIN;
  }

  /** A batch entry Id as BATCH_ENTRY_ID_RE takes it: 1 to 80 of [A-Za-z0-9_-]. */
  private id(): string {
    this.string();
    const { s, e } = this;
    if (e === s || e - s > SQS_LIMITS.batchEntryIdCharsMax) throw NOT_PLAIN;
    for (let i = s; i < e; i++) if (ID_BYTE[this.b[i] as number] === 0) throw NOT_PLAIN;
    return this.b.toString('latin1', s, e);
  }

  /** DelaySeconds as a plain JSON integer (no sign, fraction, exponent or leading zero) in range. */
  private delay(): number {
    const b = this.b;
    const start = this.at;
    let n = 0;
    while (this.at < b.length) {
      const c = b[this.at] as number;
      if (c < DIGIT_0 || c > DIGIT_9) break;
      n = n * 10 + (c - DIGIT_0);
      this.at++;
    }
    const digits = this.at - start;
    if (digits === 0 || digits > DELAY_DIGITS_MAX || (digits > 1 && b[start] === DIGIT_0) || n > DELAY_MAX) throw NOT_PLAIN;
    return n;
  }

  private expect(c: number): void {
    if (this.b[this.at] !== c) throw NOT_PLAIN;
    this.at++;
  }

  private spaces(): void {
    while (this.b[this.at] === SPACE) this.at++;
  }

  /** Nothing but spaces after the object. */
  private end(): void {
    this.spaces();
    if (this.at !== this.b.length) throw NOT_PLAIN;
  }
}
