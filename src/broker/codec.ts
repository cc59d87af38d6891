// Binary codec of broker commands: what a log entry's payload holds. payload = meta ‖ bodies. The
// meta part (version, kind, names, numbers and, for sends, each body's length and CRC32C) is all
// that apply() decodes; the body part is the raw message bodies, read back only on delivery.
//
// Meta layout (little-endian), after `u8 version` and `u8 kind`:
//   createQueue / setQueueAttributes: str16 queueName, str32 attrsJson
//   deleteQueue / unbindDeadLetter:   str16 queueName
//   sendMessages:       str16 queueName, u32 delaySeconds, u8 count, count × (u32 length, u32 crc32c)
//   receiveMessages:    str16 queueName, u8 numOfMsg, u32 seed
//   deleteMessages:     str16 queueName, u8 count, count × str16 receiptHandle
//   rewindQueue:        str16 queueName, f64 startConsumeTimeSec
//   quarantineMessage:  str16 queueName, f64 queueNumber, f64 seq
//   tick:               (nothing)

import { LIMITS } from '../protocol/limits';
import { SETTABLE_QUEUE_INT_ATTRS } from '../protocol/queue-types';
import { BrokerFormatError, ByteReader, ByteWriter, utf8Bytes } from './binary';
import { crc32c } from './checksum';
import type { Command, DeadLetterPolicy, QueueAttributesInput } from './commands';

export const CODEC_VERSION = 1;

const KIND_CODES = {
  createQueue: 1,
  setQueueAttributes: 2,
  deleteQueue: 3,
  sendMessages: 4,
  receiveMessages: 5,
  deleteMessages: 6,
  rewindQueue: 7,
  unbindDeadLetter: 8,
  quarantineMessage: 9,
  tick: 10,
} as const satisfies Record<Command['kind'], number>;

/** A body as the meta part describes it; offset is from the start of the payload. */
export interface DecodedBody {
  offset: number;
  length: number;
  crc32c: number;
}

export type DecodedCommand =
  | Exclude<Command, { kind: 'sendMessages' }>
  | { kind: 'sendMessages'; queueName: string; delaySeconds: number; bodies: DecodedBody[] };

export interface EncodedCommand {
  payload: Uint8Array;
  metaLen: number;
}

function check(cond: boolean, what: string): asserts cond {
  if (!cond) throw new BrokerFormatError(what);
}

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
}

function batchCountOk(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= LIMITS.batchItemsMax;
}

export function encodeCommand(cmd: Command): EncodedCommand {
  if (cmd.kind === 'sendMessages') return encodeSend(cmd.queueName, cmd.delaySeconds, cmd.bodies);
  const w = new ByteWriter(64);
  w.u8(CODEC_VERSION);
  w.u8(KIND_CODES[cmd.kind]);
  switch (cmd.kind) {
    case 'createQueue':
    case 'setQueueAttributes': {
      const json = JSON.stringify(cmd.attrs);
      // Refuse here, on the leader, anything apply() could not decode: a committed entry that
      // fails to decode would stop every replica.
      parseAttrs(json);
      w.shortStr(cmd.queueName);
      w.longStr(json);
      break;
    }
    case 'deleteQueue':
    case 'unbindDeadLetter':
      w.shortStr(cmd.queueName);
      break;
    case 'receiveMessages':
      check(batchCountOk(cmd.numOfMsg), `numOfMsg out of range: ${cmd.numOfMsg}`);
      check(isU32(cmd.seed), `seed must be a u32: ${cmd.seed}`);
      w.shortStr(cmd.queueName);
      w.u8(cmd.numOfMsg);
      w.u32(cmd.seed);
      break;
    case 'deleteMessages':
      check(batchCountOk(cmd.receiptHandles.length), `receipt handle count out of range: ${cmd.receiptHandles.length}`);
      w.shortStr(cmd.queueName);
      w.u8(cmd.receiptHandles.length);
      for (const h of cmd.receiptHandles) w.shortStr(h);
      break;
    case 'rewindQueue':
      check(Number.isSafeInteger(cmd.startConsumeTimeSec), 'startConsumeTimeSec must be an integer');
      w.shortStr(cmd.queueName);
      w.f64(cmd.startConsumeTimeSec);
      break;
    case 'quarantineMessage':
      check(Number.isSafeInteger(cmd.queueNumber) && Number.isSafeInteger(cmd.seq), 'queueNumber/seq must be integers');
      w.shortStr(cmd.queueName);
      w.f64(cmd.queueNumber);
      w.f64(cmd.seq);
      break;
    case 'tick':
      break;
    default: {
      const never: never = cmd;
      throw new BrokerFormatError(`unknown command ${String(never)}`);
    }
  }
  const payload = w.finish();
  return { payload, metaLen: payload.length };
}

/** One allocation for the whole payload: meta written in place, then the bodies copied after it. */
function encodeSend(queueName: string, delaySeconds: number, bodies: Uint8Array[]): EncodedCommand {
  check(batchCountOk(bodies.length), `body count out of range: ${bodies.length}`);
  check(isU32(delaySeconds), `delaySeconds must be a u32: ${delaySeconds}`);
  const name = utf8Bytes(queueName);
  check(name.length <= 0xffff, 'queue name too long');
  const metaLen = 2 + 2 + name.length + 4 + 1 + 8 * bodies.length;
  let total = metaLen;
  for (const b of bodies) total += b.length;
  const w = new ByteWriter(total);
  w.u8(CODEC_VERSION);
  w.u8(KIND_CODES.sendMessages);
  w.u16(name.length);
  w.bytes(name);
  w.u32(delaySeconds);
  w.u8(bodies.length);
  for (const b of bodies) {
    w.u32(b.length);
    w.u32(crc32c(b));
  }
  for (const b of bodies) w.bytes(b);
  return { payload: w.finish(), metaLen };
}

/** Decodes payload[0, metaLen) only; the body part may be absent (payload truncated to metaLen). */
export function decodeCommand(payload: Uint8Array, metaLen: number): DecodedCommand {
  check(Number.isInteger(metaLen) && metaLen >= 2 && metaLen <= payload.length, `bad metaLen ${metaLen}`);
  const r = new ByteReader(payload, 0, metaLen);
  const version = r.u8();
  check(version === CODEC_VERSION, `unsupported command version ${version}`);
  const code = r.u8();
  const cmd = decodeBody(r, code, metaLen);
  r.expectEnd('command meta');
  return cmd;
}

function decodeBody(r: ByteReader, code: number, metaLen: number): DecodedCommand {
  switch (code) {
    case KIND_CODES.createQueue:
      return { kind: 'createQueue', queueName: r.shortStr(), attrs: parseAttrs(r.longStr()) };
    case KIND_CODES.setQueueAttributes:
      return { kind: 'setQueueAttributes', queueName: r.shortStr(), attrs: parseAttrs(r.longStr()) };
    case KIND_CODES.deleteQueue:
      return { kind: 'deleteQueue', queueName: r.shortStr() };
    case KIND_CODES.unbindDeadLetter:
      return { kind: 'unbindDeadLetter', queueName: r.shortStr() };
    case KIND_CODES.sendMessages:
      return decodeSend(r, metaLen);
    case KIND_CODES.receiveMessages: {
      const queueName = r.shortStr();
      const numOfMsg = r.u8();
      check(batchCountOk(numOfMsg), `numOfMsg out of range: ${numOfMsg}`);
      return { kind: 'receiveMessages', queueName, numOfMsg, seed: r.u32() };
    }
    case KIND_CODES.deleteMessages: {
      const queueName = r.shortStr();
      const n = r.u8();
      check(batchCountOk(n), `receipt handle count out of range: ${n}`);
      const receiptHandles: string[] = [];
      for (let i = 0; i < n; i++) receiptHandles.push(r.shortStr());
      return { kind: 'deleteMessages', queueName, receiptHandles };
    }
    case KIND_CODES.rewindQueue:
      return { kind: 'rewindQueue', queueName: r.shortStr(), startConsumeTimeSec: r.int() };
    case KIND_CODES.quarantineMessage:
      return { kind: 'quarantineMessage', queueName: r.shortStr(), queueNumber: r.int(), seq: r.int() };
    case KIND_CODES.tick:
      return { kind: 'tick' };
    default:
      throw new BrokerFormatError(`unknown command kind ${code}`);
  }
}

function decodeSend(r: ByteReader, metaLen: number): DecodedCommand {
  const queueName = r.shortStr();
  const delaySeconds = r.u32();
  const n = r.u8();
  check(batchCountOk(n), `body count out of range: ${n}`);
  const bodies: DecodedBody[] = [];
  let offset = metaLen;
  for (let i = 0; i < n; i++) {
    const length = r.u32();
    bodies.push({ offset, length, crc32c: r.u32() });
    offset += length;
  }
  return { kind: 'sendMessages', queueName, delaySeconds, bodies };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function int(v: unknown, what: string): number {
  check(typeof v === 'number' && Number.isSafeInteger(v), `${what} must be an integer`);
  return v;
}

function parseAttrs(json: string): QueueAttributesInput {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new BrokerFormatError('queue attributes are not JSON');
  }
  check(isRecord(raw), 'queue attributes must be an object');
  const out: QueueAttributesInput = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'deadLetterPolicy') {
      out.deadLetterPolicy = value === null ? null : parsePolicy(value);
    } else {
      const k = SETTABLE_QUEUE_INT_ATTRS.find((a) => a === key);
      check(k !== undefined, `unknown queue attribute ${key}`);
      out[k] = int(value, key);
    }
  }
  return out;
}

function parsePolicy(v: unknown): DeadLetterPolicy {
  check(isRecord(v), 'deadLetterPolicy must be an object');
  const { deadLetterQueue, policy, maxReceiveCount, maxTimeToLive, ...rest } = v;
  check(Object.keys(rest).length === 0, 'unknown deadLetterPolicy field');
  check(typeof deadLetterQueue === 'string', 'deadLetterQueue must be a string');
  check(policy === 0 || policy === 1, 'policy must be 0 or 1');
  const out: DeadLetterPolicy = { deadLetterQueue, policy };
  if (maxReceiveCount !== undefined) out.maxReceiveCount = int(maxReceiveCount, 'maxReceiveCount');
  if (maxTimeToLive !== undefined) out.maxTimeToLive = int(maxTimeToLive, 'maxTimeToLive');
  return out;
}
