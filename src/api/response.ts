// The response envelope (spec §1.5): always HTTP 200 with `{code, message, requestId, ...}`,
// `code` a number, `message` a string ('' on success), `requestId` a string. Also the JSON
// shapes of queue attributes and received messages, with the types the SDKs read them as.

import type { QueueAttributes } from '../broker/commands';
import { CMQ_CODES, errorMessage } from '../protocol/cmq-codes';
import type { ErrorResult } from '../protocol/errors';
import { plainBody } from '../service/message-envelope';
import type { DeliveredMessage } from '../service/queue-service';
import { jsonBytes, Utf8JsonString } from './json-bytes';

/** Action-specific fields of a response, merged after the envelope. */
export type ResponseFields = Record<string, unknown>;

/** What an action handler produces: success fields, or an error that may carry fields (errorList). */
export type ActionOutcome = { ok: true; fields: ResponseFields } | (ErrorResult & { fields?: ResponseFields });

export function success(fields: ResponseFields = {}): ActionOutcome {
  return { ok: true, fields };
}

/** The `message` of an error response: `(module)text`, then the detail if any. */
export function errorText(e: ErrorResult): string {
  const m = errorMessage(e.error, e.arg);
  return e.detail === undefined || e.detail === '' ? m : m + ' ' + e.detail;
}

export function renderOutcome(outcome: ActionOutcome, requestId: string): Record<string, unknown> {
  const head: Record<string, unknown> = outcome.ok
    ? { code: 0, message: '', requestId }
    : { code: CMQ_CODES[outcome.error].code, message: errorText(outcome), requestId };
  return outcome.fields === undefined ? head : Object.assign(head, outcome.fields);
}

/**
 * Serialise a response as the bytes sent: what `Buffer.from(responseJson(body))` gives, rendered
 * without building the answer as a string (see ./json-bytes).
 */
export function responseBytes(body: Record<string, unknown>): Buffer {
  return jsonBytes(body);
}

/**
 * Serialise a response. bigint values (a clientRequestId above 2^53) are written as exact JSON
 * integers, which JSON.stringify cannot do.
 */
export function responseJson(body: Record<string, unknown>): string {
  let bigints: [string, bigint][] | undefined;
  for (const k of Object.keys(body)) {
    const v = body[k];
    if (typeof v === 'bigint') (bigints ??= []).push([k, v]);
  }
  if (bigints === undefined) return JSON.stringify(body);
  const rest: Record<string, unknown> = {};
  for (const k of Object.keys(body)) if (typeof body[k] !== 'bigint') rest[k] = body[k];
  let json = JSON.stringify(rest);
  const extra = bigints.map(([k, v]) => `${JSON.stringify(k)}:${v.toString()}`).join(',');
  json = json === '{}' ? `{${extra}}` : `${json.slice(0, -1)},${extra}}`;
  return json;
}

const UINT64_MAX = (1n << 64n) - 1n;

/**
 * The clientRequestId to echo (spec §1.3 [rec]): a number when the parameter is an unsigned
 * integer that fits in 64 bits (a bigint above 2^53), else nothing.
 */
export function clientRequestIdEcho(value: string | undefined): number | bigint | undefined {
  if (value === undefined || !/^\d{1,20}$/.test(value)) return undefined;
  const n = Number(value);
  if (Number.isSafeInteger(n)) return n;
  const big = BigInt(value);
  return big <= UINT64_MAX ? big : undefined;
}

/** All attributes of a queue as GetQueueAttributes / SetQueueAttributes return them (spec §2.2). */
export function queueAttributesFields(a: QueueAttributes): ResponseFields {
  const f: ResponseFields = {
    queueId: a.queueId,
    queueName: a.queueName,
    maxMsgHeapNum: a.maxMsgHeapNum,
    pollingWaitSeconds: a.pollingWaitSeconds,
    visibilityTimeout: a.visibilityTimeout,
    maxMsgSize: a.maxMsgSize,
    msgRetentionSeconds: a.msgRetentionSeconds,
    createTime: a.createTime,
    lastModifyTime: a.lastModifyTime,
    activeMsgNum: a.activeMsgNum,
    inactiveMsgNum: a.inactiveMsgNum,
    rewindSeconds: a.rewindSeconds,
    // Java reads rewindMsgNum, the docs and Python rewindmsgNum: send both.
    rewindMsgNum: a.rewindMsgNum,
    rewindmsgNum: a.rewindMsgNum,
    minMsgTime: a.minMsgTime,
    delayMsgNum: a.delayMsgNum,
  };
  // opencmq extension: a queue of several shards says how many (absent: one).
  if (a.shards !== undefined) f['shards'] = a.shards;
  const d = a.deadLetterPolicy;
  if (d !== undefined) {
    const policy: ResponseFields = { deadLetterQueue: d.deadLetterQueue, policy: d.policy };
    if (d.maxReceiveCount !== undefined) policy['maxReceiveCount'] = d.maxReceiveCount;
    if (d.maxTimeToLive !== undefined) policy['maxTimeToLive'] = d.maxTimeToLive;
    f['deadLetterPolicy'] = policy;
  }
  return f;
}

/**
 * One received message as (Batch)ReceiveMessage returns it; the body a JSON string of its UTF-8
 * bytes, decoded only if it must be escaped (see Utf8JsonString).
 */
export function receivedMessageFields(m: DeliveredMessage): ResponseFields {
  return {
    msgId: m.msgId,
    msgBody: new Utf8JsonString(plainBody(m)),
    receiptHandle: m.receiptHandle,
    enqueueTime: m.enqueueTime,
    firstDequeueTime: m.firstDequeueTime,
    nextVisibleTime: m.nextVisibleTime,
    dequeueCount: m.dequeueCount,
  };
}
