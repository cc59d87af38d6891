// Validation of queue-action parameters (spec §2.1–§2.3, §2.7): every type and range check that
// does not depend on state, so that nothing invalid reaches QueueService.submit. The broker checks
// the rest (existence, limits, per-queue maxMsgSize, dead-letter binding rules, receipt handles).

import type { DeadLetterPolicy, QueueAttributesInput } from '../protocol/queue-types';
import { SETTABLE_QUEUE_INT_ATTRS } from '../protocol/queue-types';
import { fail, type ErrorResult } from '../protocol/errors';
import { DEAD_LETTER_RANGES, LIMITS, QUEUE_ATTR_RANGES } from '../protocol/limits';
import { RESOURCE_NAME_RE } from '../protocol/names';
import { valueBytes, type FormParams } from './form';
import { arrayParam, arrayParamKeys, isError, optionalInt, optionalString, requiredInt, requiredString, type IntRange } from './params';

/** Largest message body accepted at the API (spec §2.1 [rec]); the queue's maxMsgSize may be lower. */
export const MSG_BODY_BYTES_MAX = QUEUE_ATTR_RANGES.maxMsgSize.max;
/** Largest total of the bodies in one batch (4470/10300). */

const ANY_NON_NEGATIVE: IntRange = { min: 0, max: Number.MAX_SAFE_INTEGER };
const DELAY_RANGE: IntRange = { min: 0, max: LIMITS.delaySecondsMax };
const POLLING_RANGE: IntRange = { min: 0, max: LIMITS.pollingWaitSecondsMax };
const NUM_OF_MSG_RANGE: IntRange = { min: 1, max: LIMITS.batchItemsMax };

/** A queue name parameter: missing → 4000/10390, bad format → 4000/10020. */
export function queueNameParam(p: FormParams, name = 'queueName'): string | ErrorResult {
  const v = requiredString(p, name);
  if (isError(v)) return v;
  return RESOURCE_NAME_RE.test(v) ? v : fail('queueNameFormat');
}


const SHARDS_RANGE: IntRange = { min: 1, max: LIMITS.queueShardsMax };

/**
 * `shards` (opencmq extension) of CreateQueue / SetQueueAttributes: how many shards (sets) the
 * queue spreads over, 1 to LIMITS.queueShardsMax; absent: undefined (create: one; set: as now).
 */
export function shardsParam(p: FormParams): number | undefined | ErrorResult {
  return optionalInt(p, 'shards', SHARDS_RANGE);
}

/**
 * The settable attributes of CreateQueue / SetQueueAttributes. On create, absent values are
 * compared with the defaults for the cross-field rules; on set, those rules are checked here only
 * when both fields are in the request (the broker knows the current values).
 * An empty deadLetterPolicy means "none" on create and "clear" (null) on set.
 */
export function queueAttributesParams(p: FormParams, forCreate: boolean): QueueAttributesInput | ErrorResult {
  const attrs: QueueAttributesInput = {};
  for (const name of SETTABLE_QUEUE_INT_ATTRS) {
    const v = optionalInt(p, name, QUEUE_ATTR_RANGES[name]);
    if (isError(v)) return v;
    if (v !== undefined) attrs[name] = v;
  }
  const retention = attrs.msgRetentionSeconds ?? (forCreate ? QUEUE_ATTR_RANGES.msgRetentionSeconds.def : undefined);
  const rewind = attrs.rewindSeconds;
  if (rewind !== undefined && retention !== undefined && rewind > retention) return fail('rewindSecondsTooLarge');

  const dlp = p.get('deadLetterPolicy');
  if (dlp !== undefined) {
    if (dlp === '') {
      if (!forCreate) attrs.deadLetterPolicy = null;
    } else {
      const policy = parseDeadLetterPolicy(dlp, retention);
      if (isError(policy)) return policy;
      attrs.deadLetterPolicy = policy;
    }
  }
  return attrs;
}

/**
 * Parse the JSON deadLetterPolicy (spec §2.7). Not JSON or not an object → 10710; deadLetterQueue
 * missing or not a string → 10760 (not a valid queue name → 10730, it cannot exist); policy not 0
 * or 1 → 10770; the count or TTL the policy needs missing or out of range → 10720. Only the field
 * the policy uses is kept.
 */
export function parseDeadLetterPolicy(text: string, msgRetentionSeconds: number | undefined): DeadLetterPolicy | ErrorResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail('dlqPolicyNotJson');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('dlqPolicyNotJson');
  const o = json as Record<string, unknown>;
  const queue = o['deadLetterQueue'];
  if (typeof queue !== 'string') return fail('dlqPolicyQueueMember');
  if (!RESOURCE_NAME_RE.test(queue)) return fail('dlqNotExist');
  const policy = o['policy'];
  if (policy !== 0 && policy !== 1) return fail('dlqPolicyPolicyMember');
  if (policy === 0) {
    const count = o['maxReceiveCount'];
    if (!isIntIn(count, DEAD_LETTER_RANGES.maxReceiveCount)) return fail('dlqPolicyParams', undefined, '(maxReceiveCount)');
    return { deadLetterQueue: queue, policy, maxReceiveCount: count };
  }
  const ttl = o['maxTimeToLive'];
  if (!isIntIn(ttl, DEAD_LETTER_RANGES.maxTimeToLive)) return fail('dlqPolicyParams', undefined, '(maxTimeToLive)');
  if (msgRetentionSeconds !== undefined && ttl >= msgRetentionSeconds) {
    return fail('dlqPolicyParams', undefined, '(maxTimeToLive must be less than msgRetentionSeconds)');
  }
  return { deadLetterQueue: queue, policy, maxTimeToLive: ttl };
}

function isIntIn(v: unknown, r: IntRange): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= r.min && v <= r.max;
}

export interface ListParams {
  searchWord: string | undefined;
  offset: number;
  limit: number;
}

/** searchWord (empty = none), offset ≥ 0 (default 0), limit ≥ 0 (default 20, clamped to 50). */
export function listParams(p: FormParams): ListParams | ErrorResult {
  const offset = optionalInt(p, 'offset', ANY_NON_NEGATIVE);
  if (isError(offset)) return offset;
  const limit = optionalInt(p, 'limit', ANY_NON_NEGATIVE);
  if (isError(limit)) return limit;
  return {
    searchWord: optionalString(p, 'searchWord'),
    offset: offset ?? 0,
    limit: Math.min(limit ?? LIMITS.listLimitDefault, LIMITS.listLimitMax),
  };
}

/**
 * One message body, the parameter `key` (errors name it `name`): missing → 10390, empty →
 * 4000/10120, over 1 MiB of UTF-8 → 4400/10230. The bytes as sent when parseForm made `p`.
 */
export function bodyBytes(p: FormParams, key: string, name: string = key): Buffer | ErrorResult {
  const bytes = valueBytes(p, key);
  if (bytes === undefined) return fail('missingParam', name);
  if (bytes.length === 0) return fail('msgBodyEmpty');
  return bytes.length > MSG_BODY_BYTES_MAX ? fail('msgTooLarge') : bytes;
}

/** Absent: null, the queue's own delay (0 unless set through the SQS API's DelaySeconds). */
export function delaySecondsParam(p: FormParams): number | null | ErrorResult {
  const v = optionalInt(p, 'delaySeconds', DELAY_RANGE);
  return v ?? null;
}

/** Printable ASCII, no spaces: what a client puts in a retry token. */
const DEDUP_ID_RE = new RegExp(`^[\\x21-\\x7e]{1,${LIMITS.dedupIdCharsMax}}$`);

/**
 * `dedupId` (opencmq extension): a retried send or publish carrying the same id within
 * LIMITS.dedupWindowMs is answered with the first one's msgIds and not applied again. Absent:
 * undefined; present, it must be 1-128 printable ASCII characters (4000/10350).
 */
export function dedupIdParam(p: FormParams): string | undefined | ErrorResult {
  const v = p.get('dedupId');
  if (v === undefined) return undefined;
  return DEDUP_ID_RE.test(v) ? v : fail('paramOutOfRange', 'dedupId');
}

/** Per body of a send: a single body's id is the request's; a batch's body p gets `id/p`. */
export function bodyDedupIds(dedupId: string, count: number): string[] {
  return count === 1 ? [dedupId] : Array.from({ length: count }, (_, p) => `${dedupId}/${p}`);
}

export interface SendParams {
  queueName: string;
  delaySeconds: number | null;
  dedupId?: string;
  bodies: Buffer[];
}

export function sendMessageParams(p: FormParams): SendParams | ErrorResult {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  const body = bodyBytes(p, 'msgBody');
  if (isError(body)) return body;
  const delaySeconds = delaySecondsParam(p);
  if (isError(delaySeconds)) return delaySeconds;
  return withDedupId<SendParams>(p, { queueName, delaySeconds, bodies: [body] });
}

/** The `msgBody.N` bodies of a batch send or publish, each checked, together within the batch limit. */
export function batchBodiesParam(p: FormParams): Buffer[] | ErrorResult {
  const keys = arrayParamKeys(p, 'msgBody', true);
  if (isError(keys)) return keys;
  const bodies: Buffer[] = [];
  let total = 0;
  for (const k of keys) {
    const b = bodyBytes(p, k, 'msgBody');
    if (isError(b)) return b;
    total += b.length;
    bodies.push(b);
  }
  return total > LIMITS.batchBodyBytesMax ? fail('batchTooLarge') : bodies;
}

export function batchSendMessageParams(p: FormParams): SendParams | ErrorResult {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  const bodies = batchBodiesParam(p);
  if (isError(bodies)) return bodies;
  const delaySeconds = delaySecondsParam(p);
  if (isError(delaySeconds)) return delaySeconds;
  return withDedupId<SendParams>(p, { queueName, delaySeconds, bodies });
}

/** `params` with the request's dedupId when it has a valid one. */
export function withDedupId<T extends { dedupId?: string }>(p: FormParams, params: T): T | ErrorResult {
  const dedupId = dedupIdParam(p);
  if (isError(dedupId)) return dedupId;
  if (dedupId !== undefined) params.dedupId = dedupId;
  return params;
}

export interface ReceiveParams {
  queueName: string;
  numOfMsg: number;
  /** undefined: the queue's pollingWaitSeconds applies. */
  waitSeconds: number | undefined;
}

export function receiveMessageParams(p: FormParams, batch: boolean): ReceiveParams | ErrorResult {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  let numOfMsg = 1;
  if (batch) {
    const n = requiredInt(p, 'numOfMsg', NUM_OF_MSG_RANGE);
    if (isError(n)) return n;
    numOfMsg = n;
  }
  const waitSeconds = optionalInt(p, 'pollingWaitSeconds', POLLING_RANGE);
  if (isError(waitSeconds)) return waitSeconds;
  return { queueName, numOfMsg, waitSeconds };
}

/** A receipt handle: missing → 10390; empty or longer than 256 characters → 4000/10470. */
export function receiptHandleValue(value: string | undefined): string | ErrorResult {
  if (value === undefined) return fail('missingParam', 'receiptHandle');
  if (value === '' || value.length > LIMITS.receiptHandleCharsMax) return fail('receiptHandleError');
  return value;
}

export interface DeleteParams {
  queueName: string;
  receiptHandles: string[];
}

export function deleteMessageParams(p: FormParams): DeleteParams | ErrorResult {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  const h = receiptHandleValue(p.get('receiptHandle'));
  if (isError(h)) return h;
  return { queueName, receiptHandles: [h] };
}

export function batchDeleteMessageParams(p: FormParams): DeleteParams | ErrorResult {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  const handles = arrayParam(p, 'receiptHandle', true);
  if (isError(handles)) return handles;
  for (const h of handles) {
    const v = receiptHandleValue(h);
    if (isError(v)) return v;
  }
  return { queueName, receiptHandles: handles };
}

export function rewindQueueParams(p: FormParams): { queueName: string; startConsumeTimeSec: number } | ErrorResult {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  const t = requiredInt(p, 'startConsumeTime', ANY_NON_NEGATIVE);
  if (isError(t)) return t;
  return { queueName, startConsumeTimeSec: t };
}
