// Binary codec of broker commands: what a log entry's payload holds. payload = meta ‖ bodies. The
// meta part (version, kind, names, numbers and, for sends, each body's length and CRC32C) is all
// that apply() decodes; the body part is the raw message bodies, read back only on delivery.
//
// Meta layout (little-endian), after `u8 version` and `u8 kind`:
//   createQueue / setQueueAttributes: str16 queueName, str32 attrsJson (a deadLetterPolicy's
//                       `remote` is written only when true: a dead-letter queue on another set)
//   deleteQueue:                      str16 queueName (then optionally u8 flags (1: ifEmpty, 2: keptToo), written only when set)
//   unbindDeadLetter:                 str16 queueName
//   sendMessages:       str16 queueName, u32 delaySeconds, u8 count, count × (u32 length, u32 crc32c),
//                       then optionally (SQS sends): u8 flags (1: delaySeconds is the queue's own,
//                       2: per-body options follow), count × (u8 bodyFlags (1: enveloped, 2: u32
//                       delaySeconds follows, 4: u32 countedBytes follows, 8: str16 dedupId
//                       follows, 16: str16 groupId follows, 32: str16 deadLetterSource follows,
//                       64: f64 moveOrigin.enqueueMs and u8 originFlags (1: kept, 2: u32
//                       dequeueCount and f64 firstDequeueMs follow) follow), [u32], [u32],
//                       [str16], [str16], [str16], [f64 u8 [u32 f64]])
//   receiveMessages:    str16 queueName, u8 numOfMsg, u32 seed, then optionally u32 visibilitySeconds,
//                       then optionally str16 attemptId (with it, visibilitySeconds is always
//                       written, 0xffffffff standing for absent; without it, the earlier layouts)
//   changeVisibility:   str16 queueName, u8 count, count × (str16 receiptHandle, u32 visibilitySeconds)
//   purgeQueue:         str16 queueName
//   tagQueue:           str16 queueName, u8 count, count × (str16 key, str16 value)
//   untagQueue:         str16 queueName, list keys
//   deleteMessages:     str16 queueName, u8 count, count × str16 receiptHandle
//   rewindQueue:        str16 queueName, f64 startConsumeTimeSec
//   quarantineMessage:  str16 queueName, f64 queueNumber, f64 seq
//   tick:               (nothing)
//   relocateBodies:     u16 count, count × (f64 fromEntry, u32 fromOffset, u32 length, u32 crc32c,
//                       u16 messages, messages × (f64 queueNumber, f64 seq)); the bodies follow the
//                       meta in this order, like a send's
//   createTopic:        str16 topicName, u32 maxMsgSize, u8 filterType
//   setTopicAttributes: str16 topicName, u32 maxMsgSize
//   deleteTopic:        str16 topicName
//   subscribe:          str16 topicName, str16 subscriptionName, u8 protocol, str16 endpoint,
//                       u8 notifyStrategy, u8 notifyContentFormat, list filterTags, list bindingKeys,
//                       then optionally u8 flags (1: remoteQueue), written only when a flag is set
//   unsubscribe / clearSubscriptionFilterTags: str16 topicName, str16 subscriptionName
//   setSubscriptionAttributes: str16 topicName, str16 subscriptionName, u8 presentFlags, then
//                       the present ones of u8 notifyStrategy, u8 notifyContentFormat, list filterTags,
//                       list bindingKeys (flags 1, 2, 4, 8); flag 16 (no payload, set only when
//                       true, so the bytes stay the earlier ones otherwise): remoteQueue
//   publishMessages:    str16 topicName, list msgTags, str16 routingKey, u8 count,
//                       count × (u32 length, u32 crc32c), then optionally str16 dedupId
//   pushSucceeded:      str16 topicName, str16 subscriptionName, str16 msgId
//   pushFailed:         str16 topicName, str16 subscriptionName, str16 msgId, u32 seed
//   moveMessages:       str16 sourceQueue, opt destinationQueue, u32 maxMessages, opt taskHandle
//   startMoveTask:      str16 sourceQueue, opt destinationQueue, u8 hasRate, [u32 maxPerSecond]
//                       (both then optionally u8 flags (1: remoteDestination; moveMessages also 2: kept),
//                       written only when set)
//   cancelMoveTask:     str16 taskHandle
//   deadLetterSent:     str16 queueName, str16 msgId
//   deadLetterFailed:   str16 queueName, str16 msgId, u8 gone (0/1)
// where list = u8 count, count × str16, opt = u8 present (0/1), [str16]. Enums are indexes into the protocol/topic-types.ts arrays.

import { LIMITS } from '../protocol/limits';
import { SETTABLE_QUEUE_INT_ATTRS } from '../protocol/queue-types';
import { isTopicFilterType, NOTIFY_CONTENT_FORMATS, NOTIFY_STRATEGIES, SUBSCRIPTION_PROTOCOLS } from '../protocol/topic-types';
import { BrokerFormatError, ByteReader, ByteWriter, utf8Bytes } from './binary';
import { crc32c } from './checksum';
import { invariant } from './invariant';
import type { BodyRef, Command, DeadLetterPolicy, QueueAttributesInput, RedriveAllowPolicy, RelocatedBody, SendBodyOptions, SqsQueueSettings } from './commands';

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
  createTopic: 11,
  setTopicAttributes: 12,
  deleteTopic: 13,
  subscribe: 14,
  unsubscribe: 15,
  setSubscriptionAttributes: 16,
  clearSubscriptionFilterTags: 17,
  publishMessages: 18,
  pushSucceeded: 19,
  pushFailed: 20,
  relocateBodies: 21,
  changeVisibility: 22,
  purgeQueue: 23,
  tagQueue: 24,
  untagQueue: 25,
  moveMessages: 26,
  startMoveTask: 27,
  cancelMoveTask: 28,
  deadLetterSent: 29,
  deadLetterFailed: 30,
} as const satisfies Record<Command['kind'], number>;

/** A body as the meta part describes it; offset is from the start of the payload. */
export interface DecodedBody {
  offset: number;
  length: number;
  crc32c: number;
}

/** A relocated body as the meta part describes it: where it was, and its offset in this payload. */
export interface DecodedRelocation {
  from: BodyRef;
  offset: number;
  messages: { queueNumber: number; seq: number }[];
}

/** Most bodies one relocateBodies entry may carry, and most messages reading one body (u16 counts). */
export const RELOCATE_COUNT_MAX = 0xffff;

export type DecodedCommand =
  | Exclude<Command, { kind: 'sendMessages' | 'publishMessages' | 'relocateBodies' }>
  | { kind: 'relocateBodies'; bodies: DecodedRelocation[] }
  | { kind: 'sendMessages'; queueName: string; delaySeconds: number | null; bodies: DecodedBody[]; options?: SendBodyOptions[] }
  | { kind: 'publishMessages'; topicName: string; bodies: DecodedBody[]; msgTags: string[]; routingKey: string; dedupId?: string };

const SUB_REMOTE_QUEUE = 1;
/** A receive's visibilitySeconds slot when it carries an attempt id but no visibility of its own. */
const VISIBILITY_ABSENT = 0xffff_ffff;
const MOVE_REMOTE_DESTINATION = 1;
const DELETE_IF_EMPTY = 1;
const DELETE_KEPT_TOO = 2;
const MOVE_KEPT = 2;

const SET_SUB_STRATEGY = 1;
const SET_SUB_FORMAT = 2;
const SET_SUB_TAGS = 4;
const SET_SUB_KEYS = 8;
const SET_SUB_REMOTE_QUEUE = 16;

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

/** A moved message's first receive time: a time, as its enqueue time is. */
function receiveTimeOk(ms: number | undefined): boolean {
  return ms !== undefined && Number.isFinite(ms) && ms >= 0;
}

function batchCountOk(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= LIMITS.batchItemsMax;
}

export function encodeCommand(cmd: Command): EncodedCommand {
  if (cmd.kind === 'sendMessages') return encodeSend(cmd.queueName, cmd.delaySeconds, cmd.bodies, cmd.options);
  if (cmd.kind === 'publishMessages') return encodePublish(cmd.topicName, cmd.msgTags, cmd.routingKey, cmd.bodies, cmd.dedupId);
  if (cmd.kind === 'relocateBodies') return encodeRelocate(cmd.bodies);
  // A delete carries up to 16 receipt handles: sized for them, the writer need not grow (and copy).
  const w = new ByteWriter(cmd.kind === 'deleteMessages' ? 64 + cmd.receiptHandles.reduce((n, h) => n + 2 + h.length, 0) : 64);
  w.u8(CODEC_VERSION);
  w.u8(KIND_CODES[cmd.kind]);
  switch (cmd.kind) {
    case 'createQueue':
    case 'setQueueAttributes': {
      const json = JSON.stringify(attrsToWrite(cmd.attrs));
      // Refuse here, on the leader, anything apply() could not decode: a committed entry that
      // fails to decode would stop every replica.
      parseAttrs(json);
      w.shortStr(cmd.queueName);
      w.longStr(json);
      break;
    }
    case 'deleteQueue':
      w.shortStr(cmd.queueName);
      // Optional trailing flags (absent in the earlier layout), written only when set.
      check(cmd.keptToo !== true || cmd.ifEmpty === true, 'keptToo needs ifEmpty');
      if (cmd.ifEmpty === true) w.u8(DELETE_IF_EMPTY | (cmd.keptToo === true ? DELETE_KEPT_TOO : 0));
      break;
    case 'unbindDeadLetter':
      w.shortStr(cmd.queueName);
      break;
    case 'receiveMessages':
      check(batchCountOk(cmd.numOfMsg), `numOfMsg out of range: ${cmd.numOfMsg}`);
      check(isU32(cmd.seed), `seed must be a u32: ${cmd.seed}`);
      w.shortStr(cmd.queueName);
      w.u8(cmd.numOfMsg);
      w.u32(cmd.seed);
      if (cmd.visibilitySeconds !== undefined) {
        check(isU32(cmd.visibilitySeconds) && cmd.visibilitySeconds !== VISIBILITY_ABSENT, `visibilitySeconds out of range: ${cmd.visibilitySeconds}`);
        w.u32(cmd.visibilitySeconds);
      } else if (cmd.attemptId !== undefined) w.u32(VISIBILITY_ABSENT);
      if (cmd.attemptId !== undefined) {
        check(cmd.attemptId.length > 0 && cmd.attemptId.length <= LIMITS.receiveAttemptIdCharsMax, `attemptId length out of range: ${cmd.attemptId.length}`);
        w.shortStr(cmd.attemptId);
      }
      break;
    case 'changeVisibility':
      check(batchCountOk(cmd.entries.length), `visibility change count out of range: ${cmd.entries.length}`);
      w.shortStr(cmd.queueName);
      w.u8(cmd.entries.length);
      for (const e of cmd.entries) {
        check(isU32(e.visibilitySeconds), `visibilitySeconds must be a u32: ${e.visibilitySeconds}`);
        w.shortStr(e.receiptHandle);
        w.u32(e.visibilitySeconds);
      }
      break;
    case 'purgeQueue':
      w.shortStr(cmd.queueName);
      break;
    case 'tagQueue': {
      const tags = Object.entries(cmd.tags);
      check(tags.length <= 0xff, `too many tags: ${tags.length}`);
      w.shortStr(cmd.queueName);
      w.u8(tags.length);
      for (const [k, v] of tags) {
        w.shortStr(k);
        w.shortStr(v);
      }
      break;
    }
    case 'untagQueue':
      w.shortStr(cmd.queueName);
      writeList(w, cmd.keys);
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
    case 'createTopic':
      check(isU32(cmd.maxMsgSize), `maxMsgSize must be a u32: ${cmd.maxMsgSize}`);
      check(isTopicFilterType(cmd.filterType), `filterType must be 1 or 2: ${String(cmd.filterType)}`);
      w.shortStr(cmd.topicName);
      w.u32(cmd.maxMsgSize);
      w.u8(cmd.filterType);
      break;
    case 'setTopicAttributes':
      check(isU32(cmd.maxMsgSize), `maxMsgSize must be a u32: ${cmd.maxMsgSize}`);
      w.shortStr(cmd.topicName);
      w.u32(cmd.maxMsgSize);
      break;
    case 'deleteTopic':
      w.shortStr(cmd.topicName);
      break;
    case 'subscribe':
      w.shortStr(cmd.topicName);
      w.shortStr(cmd.subscriptionName);
      w.u8(enumCode(SUBSCRIPTION_PROTOCOLS, cmd.protocol));
      w.shortStr(cmd.endpoint);
      w.u8(enumCode(NOTIFY_STRATEGIES, cmd.notifyStrategy));
      w.u8(enumCode(NOTIFY_CONTENT_FORMATS, cmd.notifyContentFormat));
      writeList(w, cmd.filterTags);
      writeList(w, cmd.bindingKeys);
      // Absent unless set, so every subscribe an older replica could apply keeps its old bytes.
      if (cmd.remoteQueue === true) w.u8(SUB_REMOTE_QUEUE);
      break;
    case 'unsubscribe':
    case 'clearSubscriptionFilterTags':
      w.shortStr(cmd.topicName);
      w.shortStr(cmd.subscriptionName);
      break;
    case 'setSubscriptionAttributes': {
      w.shortStr(cmd.topicName);
      w.shortStr(cmd.subscriptionName);
      const flags =
        (cmd.notifyStrategy !== undefined ? SET_SUB_STRATEGY : 0) |
        (cmd.notifyContentFormat !== undefined ? SET_SUB_FORMAT : 0) |
        (cmd.filterTags !== undefined ? SET_SUB_TAGS : 0) |
        (cmd.bindingKeys !== undefined ? SET_SUB_KEYS : 0) |
        (cmd.remoteQueue === true ? SET_SUB_REMOTE_QUEUE : 0);
      w.u8(flags);
      if (cmd.notifyStrategy !== undefined) w.u8(enumCode(NOTIFY_STRATEGIES, cmd.notifyStrategy));
      if (cmd.notifyContentFormat !== undefined) w.u8(enumCode(NOTIFY_CONTENT_FORMATS, cmd.notifyContentFormat));
      if (cmd.filterTags !== undefined) writeList(w, cmd.filterTags);
      if (cmd.bindingKeys !== undefined) writeList(w, cmd.bindingKeys);
      break;
    }
    case 'pushSucceeded':
    case 'pushFailed':
      w.shortStr(cmd.topicName);
      w.shortStr(cmd.subscriptionName);
      w.shortStr(cmd.msgId);
      if (cmd.kind === 'pushFailed') {
        check(isU32(cmd.seed), `seed must be a u32: ${cmd.seed}`);
        w.u32(cmd.seed);
      }
      break;
    case 'moveMessages':
      check(moveCountOk(cmd.maxMessages), `maxMessages out of range: ${cmd.maxMessages}`);
      w.shortStr(cmd.sourceQueue);
      writeOpt(w, cmd.destinationQueue);
      w.u32(cmd.maxMessages);
      writeOpt(w, cmd.taskHandle ?? null);
      // Absent unless set, so every move an older replica could apply keeps its old bytes.
      check(cmd.kept !== true || (cmd.remoteDestination === true && cmd.destinationQueue === cmd.sourceQueue), 'kept is for a queue moving to another set');
      if (cmd.remoteDestination === true) w.u8(MOVE_REMOTE_DESTINATION | (cmd.kept === true ? MOVE_KEPT : 0));
      break;
    case 'startMoveTask':
      check(cmd.maxPerSecond === null || rateOk(cmd.maxPerSecond), `maxPerSecond out of range: ${cmd.maxPerSecond}`);
      w.shortStr(cmd.sourceQueue);
      writeOpt(w, cmd.destinationQueue);
      w.u8(cmd.maxPerSecond === null ? 0 : 1);
      if (cmd.maxPerSecond !== null) w.u32(cmd.maxPerSecond);
      if (cmd.remoteDestination === true) w.u8(MOVE_REMOTE_DESTINATION);
      break;
    case 'cancelMoveTask':
      w.shortStr(cmd.taskHandle);
      break;
    case 'deadLetterSent':
    case 'deadLetterFailed':
      w.shortStr(cmd.queueName);
      w.shortStr(cmd.msgId);
      if (cmd.kind === 'deadLetterFailed') w.u8(cmd.gone ? 1 : 0);
      break;
    default: {
      const never: never = cmd;
      throw new BrokerFormatError(`unknown command ${String(never)}`);
    }
  }
  const payload = w.finish();
  return { payload, metaLen: payload.length };
}

const SEND_QUEUE_DELAY = 1;
const SEND_BODY_OPTIONS = 2;
const BODY_ENVELOPED = 1;
const BODY_DELAY = 2;
const BODY_COUNTED = 4;
const BODY_DEDUP = 8;
const BODY_GROUP = 16;
const BODY_DEAD_LETTER_SOURCE = 32;
const BODY_MOVE_ORIGIN = 64;
/** The u8 after a move origin's f64 enqueueMs. */
const ORIGIN_KEPT = 1;
/** Its receive count and first receive time follow (a message never received writes neither: the earlier bytes). */
const ORIGIN_RECEIVED = 2;

/** One allocation for the whole payload: meta written in place, then the bodies copied after it. */
function encodeSend(queueName: string, delaySeconds: number | null, bodies: Uint8Array[], options: readonly SendBodyOptions[] | undefined): EncodedCommand {
  check(batchCountOk(bodies.length), `body count out of range: ${bodies.length}`);
  check(delaySeconds === null || isU32(delaySeconds), `delaySeconds must be a u32: ${delaySeconds}`);
  check(options === undefined || options.length === bodies.length, `${options?.length} body options for ${bodies.length} bodies`);
  const name = utf8Bytes(queueName);
  check(name.length <= 0xffff, 'queue name too long');
  // Plain CMQ sends keep the original layout; the extension is there only when something needs it.
  const extended = delaySeconds === null || options !== undefined;
  let metaLen = 2 + 2 + name.length + 4 + 1 + 8 * bodies.length;
  const dedupIds = options?.map((o) => (o.dedupId === undefined ? undefined : utf8Bytes(o.dedupId)));
  const groupIds = options?.map((o) => (o.groupId === undefined ? undefined : utf8Bytes(o.groupId)));
  const sources = options?.map((o) => (o.deadLetterSource === undefined ? undefined : utf8Bytes(o.deadLetterSource)));
  if (extended) {
    metaLen += 1;
    options?.forEach((o, p) => {
      metaLen += 1 + (o.delaySeconds !== undefined ? 4 : 0) + (o.countedBytes !== undefined ? 4 : 0) + (dedupIds![p] !== undefined ? 2 + dedupIds![p].length : 0);
      metaLen += groupIds![p] !== undefined ? 2 + groupIds![p].length : 0;
      metaLen += sources![p] !== undefined ? 2 + sources![p].length : 0;
      metaLen += o.moveOrigin !== undefined ? 9 + (o.moveOrigin.dequeueCount !== undefined ? 12 : 0) : 0;
    });
  }
  let total = metaLen;
  for (const b of bodies) total += b.length;
  const w = new ByteWriter(total);
  w.u8(CODEC_VERSION);
  w.u8(KIND_CODES.sendMessages);
  w.u16(name.length);
  w.bytes(name);
  w.u32(delaySeconds ?? 0);
  w.u8(bodies.length);
  for (const b of bodies) {
    w.u32(b.length);
    w.u32(crc32c(b));
  }
  if (extended) {
    w.u8((delaySeconds === null ? SEND_QUEUE_DELAY : 0) | (options !== undefined ? SEND_BODY_OPTIONS : 0));
    options?.forEach((o, p) => {
      check(o.delaySeconds === undefined || isU32(o.delaySeconds), `delaySeconds must be a u32: ${o.delaySeconds}`);
      check(o.countedBytes === undefined || isU32(o.countedBytes), `countedBytes must be a u32: ${o.countedBytes}`);
      const id = dedupIds![p];
      check(id === undefined || (id.length >= 1 && id.length <= 0xffff), 'dedupId must not be empty');
      const group = groupIds![p];
      check(group === undefined || (group.length >= 1 && group.length <= 0xffff), 'groupId must not be empty');
      const source = sources![p];
      check(source === undefined || (source.length >= 1 && source.length <= 0xffff), 'deadLetterSource must not be empty');
      const origin = o.moveOrigin;
      check(origin === undefined || (Number.isFinite(origin.enqueueMs) && origin.enqueueMs >= 0), `bad move origin time ${origin?.enqueueMs}`);
      check(
        origin?.dequeueCount === undefined ? origin?.firstDequeueMs === undefined : origin.dequeueCount >= 1 && isU32(origin.dequeueCount) && receiveTimeOk(origin.firstDequeueMs),
        `bad move origin receives ${origin?.dequeueCount} ${origin?.firstDequeueMs}`,
      );
      w.u8(
        (o.enveloped === true ? BODY_ENVELOPED : 0) |
          (o.delaySeconds !== undefined ? BODY_DELAY : 0) |
          (o.countedBytes !== undefined ? BODY_COUNTED : 0) |
          (id !== undefined ? BODY_DEDUP : 0) |
          (group !== undefined ? BODY_GROUP : 0) |
          (source !== undefined ? BODY_DEAD_LETTER_SOURCE : 0) |
          (origin !== undefined ? BODY_MOVE_ORIGIN : 0),
      );
      if (o.delaySeconds !== undefined) w.u32(o.delaySeconds);
      if (o.countedBytes !== undefined) w.u32(o.countedBytes);
      if (id !== undefined) {
        w.u16(id.length);
        w.bytes(id);
      }
      if (group !== undefined) {
        w.u16(group.length);
        w.bytes(group);
      }
      if (source !== undefined) {
        w.u16(source.length);
        w.bytes(source);
      }
      if (origin !== undefined) {
        w.f64(origin.enqueueMs);
        w.u8((origin.kept ? ORIGIN_KEPT : 0) | (origin.dequeueCount !== undefined ? ORIGIN_RECEIVED : 0));
        if (origin.dequeueCount !== undefined) {
          w.u32(origin.dequeueCount);
          w.f64(origin.firstDequeueMs!);
        }
      }
    });
  }
  invariant(w.pos === metaLen, 'sendMessages meta size');
  for (const b of bodies) w.bytes(b);
  return { payload: w.finish(), metaLen };
}

/** Topic bodies, like sends: meta written first, then the bodies copied after it in one payload. */
function encodePublish(topicName: string, msgTags: string[], routingKey: string, bodies: Uint8Array[], dedupId: string | undefined): EncodedCommand {
  check(batchCountOk(bodies.length), `body count out of range: ${bodies.length}`);
  const meta = new ByteWriter(64 + 8 * bodies.length);
  meta.u8(CODEC_VERSION);
  meta.u8(KIND_CODES.publishMessages);
  meta.shortStr(topicName);
  writeList(meta, msgTags);
  meta.shortStr(routingKey);
  meta.u8(bodies.length);
  for (const b of bodies) {
    meta.u32(b.length);
    meta.u32(crc32c(b));
  }
  if (dedupId !== undefined) {
    check(dedupId.length >= 1, 'dedupId must not be empty');
    meta.shortStr(dedupId);
  }
  const metaBytes = meta.finish();
  let total = metaBytes.length;
  for (const b of bodies) total += b.length;
  const w = new ByteWriter(total);
  w.bytes(metaBytes);
  for (const b of bodies) w.bytes(b);
  return { payload: w.finish(), metaLen: metaBytes.length };
}

/** Like a send: meta (where each body was, and who reads it), then the bodies, in one payload. */
function encodeRelocate(bodies: RelocatedBody[]): EncodedCommand {
  check(bodies.length >= 1 && bodies.length <= RELOCATE_COUNT_MAX, `relocated body count out of range: ${bodies.length}`);
  let metaLen = 2 + 2;
  let total = 0;
  for (const b of bodies) {
    const f = b.from;
    check(Number.isSafeInteger(f.entryIndex) && f.entryIndex >= 1 && isU32(f.offset) && isU32(f.crc32c), 'bad relocated body reference');
    check(b.body.length === f.length, `relocated body of ${b.body.length} bytes, ${f.length} expected`);
    check(b.messages.length >= 1 && b.messages.length <= RELOCATE_COUNT_MAX, `relocated body read by ${b.messages.length} messages`);
    for (const m of b.messages) check(Number.isSafeInteger(m.queueNumber) && Number.isSafeInteger(m.seq) && m.seq >= 0, 'bad relocated message');
    metaLen += 8 + 4 + 4 + 4 + 2 + 16 * b.messages.length;
    total += f.length;
  }
  const w = new ByteWriter(metaLen + total);
  w.u8(CODEC_VERSION);
  w.u8(KIND_CODES.relocateBodies);
  w.u16(bodies.length);
  for (const b of bodies) {
    w.f64(b.from.entryIndex);
    w.u32(b.from.offset);
    w.u32(b.from.length);
    w.u32(b.from.crc32c);
    w.u16(b.messages.length);
    for (const m of b.messages) {
      w.f64(m.queueNumber);
      w.f64(m.seq);
    }
  }
  invariant(w.pos === metaLen, 'relocateBodies meta size');
  for (const b of bodies) w.bytes(b.body);
  return { payload: w.finish(), metaLen };
}

function decodeRelocate(r: ByteReader, metaLen: number): DecodedCommand {
  const n = r.u16();
  check(n >= 1, 'relocateBodies without bodies');
  const bodies: DecodedRelocation[] = [];
  let offset = metaLen;
  for (let k = 0; k < n; k++) {
    const from: BodyRef = { entryIndex: r.int(), offset: r.u32(), length: r.u32(), crc32c: r.u32() };
    const count = r.u16();
    check(count >= 1, 'relocated body read by no message');
    const messages: { queueNumber: number; seq: number }[] = [];
    for (let i = 0; i < count; i++) messages.push({ queueNumber: r.int(), seq: r.int() });
    bodies.push({ from, offset, messages });
    offset += from.length;
  }
  return { kind: 'relocateBodies', bodies };
}

function enumCode<T extends string>(values: readonly T[], v: T): number {
  const code = values.indexOf(v);
  check(code >= 0, `unknown value ${v}`);
  return code;
}

function readEnum<T extends string>(r: ByteReader, values: readonly T[], what: string): T {
  const code = r.u8();
  const v = values[code];
  check(v !== undefined, `unknown ${what} ${code}`);
  return v;
}

function writeList(w: ByteWriter, items: readonly string[]): void {
  check(items.length <= 0xff, `list too long: ${items.length}`);
  w.u8(items.length);
  for (const s of items) w.shortStr(s);
}

function moveCountOk(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= LIMITS.moveBatchMax;
}

function rateOk(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= LIMITS.moveMaxPerSecondMax;
}

function writeOpt(w: ByteWriter, v: string | null): void {
  w.u8(v === null ? 0 : 1);
  if (v !== null) w.shortStr(v);
}

function readOpt(r: ByteReader): string | null {
  const present = r.u8();
  check(present <= 1, `bad presence flag ${present}`);
  return present === 1 ? r.shortStr() : null;
}

function decodeMove(r: ByteReader, metaLen: number): DecodedCommand {
  const sourceQueue = r.shortStr();
  const destinationQueue = readOpt(r);
  const maxMessages = r.u32();
  check(moveCountOk(maxMessages), `maxMessages out of range: ${maxMessages}`);
  const taskHandle = readOpt(r);
  const cmd: Extract<Command, { kind: 'moveMessages' }> = { kind: 'moveMessages', sourceQueue, destinationQueue, maxMessages };
  if (taskHandle !== null) cmd.taskHandle = taskHandle;
  const flags = readMoveFlags(r, metaLen, MOVE_REMOTE_DESTINATION | MOVE_KEPT);
  if (flags & MOVE_REMOTE_DESTINATION) cmd.remoteDestination = true;
  if (flags & MOVE_KEPT) {
    check(cmd.remoteDestination === true && destinationQueue === sourceQueue, 'kept is for a queue moving to another set');
    cmd.kept = true;
  }
  return cmd;
}

function decodeStartMove(r: ByteReader, metaLen: number): DecodedCommand {
  const sourceQueue = r.shortStr();
  const destinationQueue = readOpt(r);
  const hasRate = r.u8();
  check(hasRate <= 1, `bad presence flag ${hasRate}`);
  const maxPerSecond = hasRate === 1 ? r.u32() : null;
  check(maxPerSecond === null || rateOk(maxPerSecond), `maxPerSecond out of range: ${maxPerSecond}`);
  const cmd: Extract<Command, { kind: 'startMoveTask' }> = { kind: 'startMoveTask', sourceQueue, destinationQueue, maxPerSecond };
  if (readMoveFlags(r, metaLen, MOVE_REMOTE_DESTINATION) !== 0) cmd.remoteDestination = true;
  return cmd;
}

/**
 * The optional trailing flags of a move (absent in the earlier layout): remoteDestination always
 * among them when present, then those of `allowed`.
 */
function readMoveFlags(r: ByteReader, metaLen: number, allowed: number): number {
  if (r.pos === metaLen) return 0;
  const flags = r.u8();
  check((flags & MOVE_REMOTE_DESTINATION) !== 0 && (flags & ~allowed) === 0, `unknown move flags ${flags}`);
  return flags;
}

function readList(r: ByteReader): string[] {
  const n = r.u8();
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.shortStr());
  return out;
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
    case KIND_CODES.deleteQueue: {
      const cmd: DecodedCommand = { kind: 'deleteQueue', queueName: r.shortStr() };
      if (r.pos !== metaLen) {
        const flags = r.u8();
        check(flags === DELETE_IF_EMPTY || flags === (DELETE_IF_EMPTY | DELETE_KEPT_TOO), `unknown delete flags ${flags}`);
        cmd.ifEmpty = true;
        if (flags & DELETE_KEPT_TOO) cmd.keptToo = true;
      }
      return cmd;
    }
    case KIND_CODES.unbindDeadLetter:
      return { kind: 'unbindDeadLetter', queueName: r.shortStr() };
    case KIND_CODES.sendMessages:
      return decodeSend(r, metaLen);
    case KIND_CODES.receiveMessages: {
      const queueName = r.shortStr();
      const numOfMsg = r.u8();
      check(batchCountOk(numOfMsg), `numOfMsg out of range: ${numOfMsg}`);
      const seed = r.u32();
      if (r.pos === metaLen) return { kind: 'receiveMessages', queueName, numOfMsg, seed };
      const visibilitySeconds = r.u32();
      if (r.pos === metaLen) return { kind: 'receiveMessages', queueName, numOfMsg, seed, visibilitySeconds };
      const attemptId = r.shortStr();
      check(attemptId.length > 0 && attemptId.length <= LIMITS.receiveAttemptIdCharsMax, `attemptId length out of range: ${attemptId.length}`);
      const cmd: DecodedCommand = { kind: 'receiveMessages', queueName, numOfMsg, seed, attemptId };
      if (visibilitySeconds !== VISIBILITY_ABSENT) cmd.visibilitySeconds = visibilitySeconds;
      return cmd;
    }
    case KIND_CODES.changeVisibility: {
      const queueName = r.shortStr();
      const n = r.u8();
      check(batchCountOk(n), `visibility change count out of range: ${n}`);
      const entries: { receiptHandle: string; visibilitySeconds: number }[] = [];
      for (let i = 0; i < n; i++) entries.push({ receiptHandle: r.shortStr(), visibilitySeconds: r.u32() });
      return { kind: 'changeVisibility', queueName, entries };
    }
    case KIND_CODES.purgeQueue:
      return { kind: 'purgeQueue', queueName: r.shortStr() };
    case KIND_CODES.tagQueue: {
      const queueName = r.shortStr();
      const n = r.u8();
      const tags: Record<string, string> = {};
      for (let i = 0; i < n; i++) {
        const k = r.shortStr();
        tags[k] = r.shortStr();
      }
      return { kind: 'tagQueue', queueName, tags };
    }
    case KIND_CODES.untagQueue:
      return { kind: 'untagQueue', queueName: r.shortStr(), keys: readList(r) };
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
    case KIND_CODES.relocateBodies:
      return decodeRelocate(r, metaLen);
    case KIND_CODES.createTopic: {
      const topicName = r.shortStr();
      const maxMsgSize = r.u32();
      const filterType = r.u8();
      check(isTopicFilterType(filterType), `filterType must be 1 or 2: ${filterType}`);
      return { kind: 'createTopic', topicName, maxMsgSize, filterType };
    }
    case KIND_CODES.setTopicAttributes:
      return { kind: 'setTopicAttributes', topicName: r.shortStr(), maxMsgSize: r.u32() };
    case KIND_CODES.deleteTopic:
      return { kind: 'deleteTopic', topicName: r.shortStr() };
    case KIND_CODES.subscribe:
      return decodeSubscribe(r, metaLen);
    case KIND_CODES.unsubscribe:
      return { kind: 'unsubscribe', topicName: r.shortStr(), subscriptionName: r.shortStr() };
    case KIND_CODES.clearSubscriptionFilterTags:
      return { kind: 'clearSubscriptionFilterTags', topicName: r.shortStr(), subscriptionName: r.shortStr() };
    case KIND_CODES.setSubscriptionAttributes:
      return decodeSetSubscription(r);
    case KIND_CODES.publishMessages:
      return decodePublish(r, metaLen);
    case KIND_CODES.pushSucceeded:
      return { kind: 'pushSucceeded', topicName: r.shortStr(), subscriptionName: r.shortStr(), msgId: r.shortStr() };
    case KIND_CODES.pushFailed:
      return { kind: 'pushFailed', topicName: r.shortStr(), subscriptionName: r.shortStr(), msgId: r.shortStr(), seed: r.u32() };
    case KIND_CODES.moveMessages:
      return decodeMove(r, metaLen);
    case KIND_CODES.startMoveTask:
      return decodeStartMove(r, metaLen);
    case KIND_CODES.cancelMoveTask:
      return { kind: 'cancelMoveTask', taskHandle: r.shortStr() };
    case KIND_CODES.deadLetterSent:
      return { kind: 'deadLetterSent', queueName: r.shortStr(), msgId: r.shortStr() };
    case KIND_CODES.deadLetterFailed: {
      const cmd = { kind: 'deadLetterFailed' as const, queueName: r.shortStr(), msgId: r.shortStr(), gone: r.u8() };
      check(cmd.gone <= 1, `bad gone flag ${cmd.gone}`);
      return { ...cmd, gone: cmd.gone === 1 };
    }
    default:
      throw new BrokerFormatError(`unknown command kind ${code}`);
  }
}

function decodeSend(r: ByteReader, metaLen: number): DecodedCommand {
  const queueName = r.shortStr();
  const delay = r.u32();
  const bodies = readBodies(r, metaLen);
  if (r.pos === metaLen) return { kind: 'sendMessages', queueName, delaySeconds: delay, bodies };
  const flags = r.u8();
  check((flags & ~(SEND_QUEUE_DELAY | SEND_BODY_OPTIONS)) === 0, `unknown send flags ${flags}`);
  const cmd: DecodedCommand = { kind: 'sendMessages', queueName, delaySeconds: flags & SEND_QUEUE_DELAY ? null : delay, bodies };
  if (flags & SEND_BODY_OPTIONS) {
    const options: SendBodyOptions[] = [];
    for (let i = 0; i < bodies.length; i++) {
      const f = r.u8();
      check((f & ~(BODY_ENVELOPED | BODY_DELAY | BODY_COUNTED | BODY_DEDUP | BODY_GROUP | BODY_DEAD_LETTER_SOURCE | BODY_MOVE_ORIGIN)) === 0, `unknown body flags ${f}`);
      const o: SendBodyOptions = {};
      if (f & BODY_ENVELOPED) o.enveloped = true;
      if (f & BODY_DELAY) o.delaySeconds = r.u32();
      if (f & BODY_COUNTED) o.countedBytes = r.u32();
      if (f & BODY_DEDUP) {
        o.dedupId = r.shortStr();
        check(o.dedupId.length >= 1, 'empty dedupId');
      }
      if (f & BODY_GROUP) {
        o.groupId = r.shortStr();
        check(o.groupId.length >= 1, 'empty groupId');
      }
      if (f & BODY_DEAD_LETTER_SOURCE) {
        o.deadLetterSource = r.shortStr();
        check(o.deadLetterSource.length >= 1, 'empty deadLetterSource');
      }
      if (f & BODY_MOVE_ORIGIN) {
        const enqueueMs = r.f64();
        check(Number.isFinite(enqueueMs) && enqueueMs >= 0, `bad move origin time ${enqueueMs}`);
        const originFlags = r.u8();
        check((originFlags & ~(ORIGIN_KEPT | ORIGIN_RECEIVED)) === 0, `unknown move origin flags ${originFlags}`);
        o.moveOrigin = { enqueueMs, kept: (originFlags & ORIGIN_KEPT) !== 0 };
        if (originFlags & ORIGIN_RECEIVED) {
          const dequeueCount = r.u32();
          const firstDequeueMs = r.f64();
          check(dequeueCount >= 1 && receiveTimeOk(firstDequeueMs), `bad move origin receives ${dequeueCount} ${firstDequeueMs}`);
          o.moveOrigin.dequeueCount = dequeueCount;
          o.moveOrigin.firstDequeueMs = firstDequeueMs;
        }
      }
      options.push(o);
    }
    cmd.options = options;
  }
  return cmd;
}

function decodePublish(r: ByteReader, metaLen: number): DecodedCommand {
  const topicName = r.shortStr();
  const msgTags = readList(r);
  const routingKey = r.shortStr();
  const bodies = readBodies(r, metaLen);
  if (r.pos === metaLen) return { kind: 'publishMessages', topicName, msgTags, routingKey, bodies };
  const dedupId = r.shortStr();
  check(dedupId.length >= 1, 'empty dedupId');
  return { kind: 'publishMessages', topicName, msgTags, routingKey, bodies, dedupId };
}

/**
 * The command a whole payload (meta and bodies) encodes, with its bodies as views into `payload`:
 * what another node's encodeCommand produced, taken back (a follower's call of the service). Each
 * body is checked against its CRC32C and the payload must end where the last body does.
 */
export function commandFromPayload(payload: Uint8Array, metaLen: number): Command {
  const cmd = decodeCommand(payload, metaLen);
  if (cmd.kind === 'relocateBodies') {
    const views = bodyViews(payload, cmd.bodies.map((b) => ({ offset: b.offset, length: b.from.length, crc32c: b.from.crc32c })));
    return { kind: 'relocateBodies', bodies: cmd.bodies.map((b, k) => ({ from: b.from, body: views[k]!, messages: b.messages })) };
  }
  if (cmd.kind !== 'sendMessages' && cmd.kind !== 'publishMessages') {
    check(payload.length === metaLen, `${payload.length - metaLen} bytes after the command`);
    return cmd;
  }
  return { ...cmd, bodies: bodyViews(payload, cmd.bodies) };
}

/** The bodies as views into `payload`, each checked against its CRC32C; the payload must end with the last. */
function bodyViews(payload: Uint8Array, described: readonly DecodedBody[]): Uint8Array[] {
  const bodies: Uint8Array[] = [];
  let end = payload.length;
  for (const b of described) {
    check(b.offset + b.length <= payload.length, 'body past the end of the payload');
    const body = payload.subarray(b.offset, b.offset + b.length);
    check(crc32c(body) === b.crc32c, 'body fails its CRC32C');
    bodies.push(body);
    end = b.offset + b.length;
  }
  check(end === payload.length, `${payload.length - end} bytes after the last body`);
  return bodies;
}

function readBodies(r: ByteReader, metaLen: number): DecodedBody[] {
  const n = r.u8();
  check(batchCountOk(n), `body count out of range: ${n}`);
  const bodies: DecodedBody[] = [];
  let offset = metaLen;
  for (let i = 0; i < n; i++) {
    const length = r.u32();
    bodies.push({ offset, length, crc32c: r.u32() });
    offset += length;
  }
  return bodies;
}

function decodeSubscribe(r: ByteReader, metaLen: number): DecodedCommand {
  const cmd: Extract<Command, { kind: 'subscribe' }> = {
    kind: 'subscribe',
    topicName: r.shortStr(),
    subscriptionName: r.shortStr(),
    protocol: readEnum(r, SUBSCRIPTION_PROTOCOLS, 'protocol'),
    endpoint: r.shortStr(),
    notifyStrategy: readEnum(r, NOTIFY_STRATEGIES, 'notifyStrategy'),
    notifyContentFormat: readEnum(r, NOTIFY_CONTENT_FORMATS, 'notifyContentFormat'),
    filterTags: readList(r),
    bindingKeys: readList(r),
  };
  if (r.pos === metaLen) return cmd;
  const flags = r.u8();
  check((flags & ~SUB_REMOTE_QUEUE) === 0, `unknown subscribe flags ${flags}`);
  if (flags & SUB_REMOTE_QUEUE) cmd.remoteQueue = true;
  return cmd;
}

function decodeSetSubscription(r: ByteReader): DecodedCommand {
  const cmd: Extract<Command, { kind: 'setSubscriptionAttributes' }> = {
    kind: 'setSubscriptionAttributes',
    topicName: r.shortStr(),
    subscriptionName: r.shortStr(),
  };
  const flags = r.u8();
  check((flags & ~(SET_SUB_STRATEGY | SET_SUB_FORMAT | SET_SUB_TAGS | SET_SUB_KEYS | SET_SUB_REMOTE_QUEUE)) === 0, `unknown flags ${flags}`);
  if (flags & SET_SUB_STRATEGY) cmd.notifyStrategy = readEnum(r, NOTIFY_STRATEGIES, 'notifyStrategy');
  if (flags & SET_SUB_FORMAT) cmd.notifyContentFormat = readEnum(r, NOTIFY_CONTENT_FORMATS, 'notifyContentFormat');
  if (flags & SET_SUB_TAGS) cmd.filterTags = readList(r);
  if (flags & SET_SUB_KEYS) cmd.bindingKeys = readList(r);
  if (flags & SET_SUB_REMOTE_QUEUE) cmd.remoteQueue = true;
  return cmd;
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
    } else if (key === 'sqs') {
      out.sqs = parseSqsSettings(value);
    } else if (key === 'tags') {
      check(isRecord(value) && Object.values(value).every((v) => typeof v === 'string'), 'tags must map strings to strings');
      out.tags = { ...(value as Record<string, string>) };
    } else {
      const k = SETTABLE_QUEUE_INT_ATTRS.find((a) => a === key);
      check(k !== undefined, `unknown queue attribute ${key}`);
      out[k] = int(value, key);
    }
  }
  return out;
}

function parseSqsSettings(v: unknown): NonNullable<QueueAttributesInput['sqs']> {
  check(isRecord(v), 'sqs settings must be an object');
  const { delaySeconds, redriveAllowPolicy, fifo, contentBasedDeduplication, deduplicationScope, fifoThroughputLimit, ...rest } = v;
  check(Object.keys(rest).length === 0, 'unknown sqs setting');
  const out: NonNullable<QueueAttributesInput['sqs']> = {};
  if (delaySeconds !== undefined) out.delaySeconds = int(delaySeconds, 'delaySeconds');
  if (redriveAllowPolicy !== undefined) out.redriveAllowPolicy = redriveAllowPolicy === null ? null : parseAllowPolicy(redriveAllowPolicy);
  if (fifo !== undefined) out.fifo = bool(fifo, 'fifo');
  if (contentBasedDeduplication !== undefined) out.contentBasedDeduplication = bool(contentBasedDeduplication, 'contentBasedDeduplication');
  if (deduplicationScope !== undefined) out.deduplicationScope = parseDeduplicationScope(deduplicationScope);
  if (fifoThroughputLimit !== undefined) out.fifoThroughputLimit = parseThroughputLimit(fifoThroughputLimit);
  return out;
}

function bool(v: unknown, what: string): boolean {
  check(typeof v === 'boolean', `${what} must be a boolean`);
  return v;
}

/** Also reads snapshots' queue meta (snapshot.ts). */
export function parseDeduplicationScope(v: unknown): SqsQueueSettings['deduplicationScope'] {
  check(v === 'queue' || v === 'messageGroup', 'deduplicationScope must be queue or messageGroup');
  return v;
}

/** Also reads snapshots' queue meta (snapshot.ts). */
export function parseThroughputLimit(v: unknown): SqsQueueSettings['fifoThroughputLimit'] {
  check(v === 'perQueue' || v === 'perMessageGroupId', 'fifoThroughputLimit must be perQueue or perMessageGroupId');
  return v;
}

/** Also reads snapshots' queue meta (snapshot.ts). */
export function parseAllowPolicy(v: unknown): RedriveAllowPolicy {
  check(isRecord(v), 'redriveAllowPolicy must be an object');
  const { permission, sourceQueueNames, ...rest } = v;
  check(Object.keys(rest).length === 0, 'unknown redriveAllowPolicy field');
  check(permission === 'allowAll' || permission === 'denyAll' || permission === 'byQueue', 'bad redrive permission');
  if (sourceQueueNames === undefined) return { permission };
  check(Array.isArray(sourceQueueNames) && sourceQueueNames.every((n) => typeof n === 'string'), 'sourceQueueNames must be strings');
  return { permission, sourceQueueNames: [...(sourceQueueNames)] };
}

/** A policy's `remote: false` is its absence: not written, so the bytes stay those older replicas decode. */
function attrsToWrite(attrs: QueueAttributesInput): QueueAttributesInput {
  const p = attrs.deadLetterPolicy;
  if (p === undefined || p === null || p.remote === undefined || p.remote) return attrs;
  const { remote: _absent, ...policy } = p;
  return { ...attrs, deadLetterPolicy: policy };
}

function parsePolicy(v: unknown): DeadLetterPolicy {
  check(isRecord(v), 'deadLetterPolicy must be an object');
  const { deadLetterQueue, policy, maxReceiveCount, maxTimeToLive, remote, ...rest } = v;
  check(Object.keys(rest).length === 0, 'unknown deadLetterPolicy field');
  // Present only when true, so a policy without it keeps the bytes older replicas decode.
  check(remote === undefined || remote === true, 'remote must be true when present');
  check(typeof deadLetterQueue === 'string', 'deadLetterQueue must be a string');
  check(policy === 0 || policy === 1, 'policy must be 0 or 1');
  const out: DeadLetterPolicy = { deadLetterQueue, policy };
  if (maxReceiveCount !== undefined) out.maxReceiveCount = int(maxReceiveCount, 'maxReceiveCount');
  if (maxTimeToLive !== undefined) out.maxTimeToLive = int(maxTimeToLive, 'maxTimeToLive');
  if (remote === true) out.remote = true;
  return out;
}
