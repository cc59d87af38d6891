// SQS queue attributes (string values on the wire) to and from opencmq's queue settings. The SQS
// names map onto the settings CMQ already has where they mean the same (visibility, size,
// retention, long-poll wait, dead-letter policy) and onto QueueAttributes.sqs for the two only
// SQS has (DelaySeconds, RedriveAllowPolicy), so a queue made through either API reads the same
// through both.

import type { QueueAttributes } from '../../broker/commands';
import { fail, type ErrorResult } from '../../protocol/errors';
import { DEAD_LETTER_RANGES, QUEUE_ATTR_RANGES } from '../../protocol/limits';
import type { DeadLetterPolicy, QueueAttributesInput, RedriveAllowPolicy, SqsQueueSettings } from '../../protocol/queue-types';
import type { IntRange } from '../params';
import { queueArn, queueNameOfArn } from './queue-url';
import type { SqsEnv } from './types';
import { SQS_LIMITS } from './validation';

/** Every queue attribute name of the 2012-11-05 model (QueueAttributeName), 'All' included. */
export const QUEUE_ATTRIBUTE_NAMES = [
  'All',
  'Policy',
  'VisibilityTimeout',
  'MaximumMessageSize',
  'MessageRetentionPeriod',
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
  'ApproximateNumberOfMessagesDelayed',
  'DelaySeconds',
  'ReceiveMessageWaitTimeSeconds',
  'RedrivePolicy',
  'FifoQueue',
  'ContentBasedDeduplication',
  'KmsMasterKeyId',
  'KmsDataKeyReusePeriodSeconds',
  'DeduplicationScope',
  'FifoThroughputLimit',
  'RedriveAllowPolicy',
  'SqsManagedSseEnabled',
] as const;

const KNOWN = new Set<string>(QUEUE_ATTRIBUTE_NAMES);

/** Integer attributes: SQS name → the setting it is, and SQS's range. */
const INT_ATTRS = {
  DelaySeconds: { min: 0, max: SQS_LIMITS.delaySecondsMax },
  MaximumMessageSize: { min: QUEUE_ATTR_RANGES.maxMsgSize.min, max: QUEUE_ATTR_RANGES.maxMsgSize.max },
  MessageRetentionPeriod: { min: 60, max: 1_209_600 },
  ReceiveMessageWaitTimeSeconds: { min: 0, max: SQS_LIMITS.waitTimeSecondsMax },
  VisibilityTimeout: { min: 0, max: SQS_LIMITS.visibilityTimeoutMax },
} as const satisfies Record<string, IntRange>;

type IntAttr = keyof typeof INT_ATTRS;

/** FIFO-only attributes (SQS name → setting): a standard queue does not have them. */
const FIFO_ONLY_ATTRS = [
  ['ContentBasedDeduplication', 'contentBasedDeduplication'],
  ['DeduplicationScope', 'deduplicationScope'],
  ['FifoThroughputLimit', 'fifoThroughputLimit'],
] as const;

/** Whether an Attributes map names FifoQueue or a FIFO-only attribute (their checks need the queue's kind). */
export function namesFifoAttributes(attrs: Record<string, unknown>): boolean {
  return 'FifoQueue' in attrs || FIFO_ONLY_ATTRS.some(([name]) => name in attrs);
}

/** SQS booleans: true or false (any case). */
function boolAttr(name: string, value: string): boolean | ErrorResult {
  const v = value.toLowerCase();
  if (v === 'true' || v === 'false') return v === 'true';
  return fail('invalidAttributeValue', name, '(true or false)');
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T | ErrorResult {
  return (allowed as readonly string[]).includes(value) ? (value as T) : fail('invalidAttributeValue', name, `(${allowed.join(' or ')})`);
}

/**
 * The FIFO rules of a queue's settings once `asked` is applied to `current` (CreateQueue: the
 * defaults): FIFO-only attributes on a standard queue are unknown to SQS (invalidAttributeName),
 * and FifoThroughputLimit perMessageGroupId needs DeduplicationScope messageGroup. Whether a queue
 * is FIFO is fixed at creation (the broker refuses a change: fifoImmutable).
 */
export function checkFifoSettings(asked: QueueAttributesInput, current: SqsQueueSettings): ErrorResult | undefined {
  if (asked.sqs?.fifo !== undefined && asked.sqs.fifo !== current.fifo) return fail('fifoImmutable', undefined, `(FifoQueue is ${String(current.fifo)})`);
  if (!current.fifo) {
    for (const [name, key] of FIFO_ONLY_ATTRS) if (asked.sqs?.[key] !== undefined) return fail('invalidAttributeName', name, '(FIFO queues only)');
    return undefined;
  }
  const scope = asked.sqs?.deduplicationScope ?? current.deduplicationScope;
  const limit = asked.sqs?.fifoThroughputLimit ?? current.fifoThroughputLimit;
  if (limit === 'perMessageGroupId' && scope !== 'messageGroup') {
    return fail('invalidAttributeValue', 'FifoThroughputLimit', '(perMessageGroupId is allowed only when DeduplicationScope is messageGroup)');
  }
  return undefined;
}

/**
 * Accepted but not stored: opencmq keeps no access policy (the server's credentials decide) and
 * does no KMS encryption, so only the value that means "none" is accepted.
 */
const NOT_STORED = new Set(['Policy', 'KmsMasterKeyId', 'KmsDataKeyReusePeriodSeconds']);

const INT_TEXT_RE = /^\d{1,10}$/;

function intAttr(name: IntAttr, value: string): number | ErrorResult {
  const r = INT_ATTRS[name];
  if (!INT_TEXT_RE.test(value)) return fail('invalidAttributeValue', name, `(${JSON.stringify(value)} is not an integer)`);
  const n = Number(value);
  if (n < r.min || n > r.max) return fail('invalidAttributeValue', name, `(must be between ${r.min} and ${r.max})`);
  return n;
}

function parseJsonObject(name: string, value: string): { json: Record<string, unknown> } | ErrorResult {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return fail('invalidAttributeValue', name, '(not JSON)');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('invalidAttributeValue', name, '(not a JSON object)');
  return { json: v as Record<string, unknown> };
}

/** RedrivePolicy `{"deadLetterTargetArn": ARN, "maxReceiveCount": 1-1000}` (the count as a number or text). */
function redrivePolicy(env: SqsEnv, value: string): DeadLetterPolicy | ErrorResult {
  const parsed = parseJsonObject('RedrivePolicy', value);
  if ('ok' in parsed) return parsed;
  const o = parsed.json;
  const arn = o['deadLetterTargetArn'];
  if (typeof arn !== 'string') return fail('invalidAttributeValue', 'RedrivePolicy', '(deadLetterTargetArn is required)');
  const dlq = queueNameOfArn(env, arn);
  if (dlq === undefined) return fail('invalidAttributeValue', 'RedrivePolicy', `(${arn} is not a queue ARN of account ${env.accountId})`);
  const count = o['maxReceiveCount'];
  const n = typeof count === 'number' ? count : typeof count === 'string' && /^\d{1,10}$/.test(count) ? Number(count) : NaN;
  const r = DEAD_LETTER_RANGES.maxReceiveCount;
  if (!Number.isInteger(n) || n < r.min || n > r.max) {
    return fail('invalidAttributeValue', 'RedrivePolicy', `(maxReceiveCount must be an integer between ${r.min} and ${r.max})`);
  }
  return { deadLetterQueue: dlq, policy: 0, maxReceiveCount: n };
}

const SOURCE_ARNS_MAX = 10;

/** RedriveAllowPolicy `{"redrivePermission": allowAll|denyAll|byQueue, "sourceQueueArns": [1-10 ARNs, byQueue only]}`. */
function redriveAllowPolicy(env: SqsEnv, value: string): RedriveAllowPolicy | ErrorResult {
  const parsed = parseJsonObject('RedriveAllowPolicy', value);
  if ('ok' in parsed) return parsed;
  const o = parsed.json;
  const permission = o['redrivePermission'];
  if (permission !== 'allowAll' && permission !== 'denyAll' && permission !== 'byQueue') {
    return fail('invalidAttributeValue', 'RedriveAllowPolicy', '(redrivePermission must be allowAll, denyAll or byQueue)');
  }
  const arns = o['sourceQueueArns'];
  if (permission !== 'byQueue') {
    if (arns !== undefined) return fail('invalidAttributeValue', 'RedriveAllowPolicy', '(sourceQueueArns is only for byQueue)');
    return { permission };
  }
  if (!Array.isArray(arns) || arns.length < 1 || arns.length > SOURCE_ARNS_MAX) {
    return fail('invalidAttributeValue', 'RedriveAllowPolicy', `(byQueue needs 1 to ${SOURCE_ARNS_MAX} sourceQueueArns)`);
  }
  const names: string[] = [];
  for (const arn of arns as unknown[]) {
    const name = typeof arn === 'string' ? queueNameOfArn(env, arn) : undefined;
    if (name === undefined) return fail('invalidAttributeValue', 'RedriveAllowPolicy', `(${JSON.stringify(arn)} is not a queue ARN of account ${env.accountId})`);
    if (!names.includes(name)) names.push(name);
  }
  return { permission, sourceQueueNames: names };
}

/**
 * The Attributes map of CreateQueue or SetQueueAttributes as opencmq settings. Only the attributes
 * given are in the result (CreateQueue adds its defaults apart, so an existing queue can be
 * compared with exactly what was asked). Read-only and unknown names → invalidAttributeName.
 */
export function parseQueueAttributes(env: SqsEnv, attrs: Record<string, unknown>, forCreate: boolean): QueueAttributesInput | ErrorResult {
  const out: QueueAttributesInput = {};
  const sqs: NonNullable<QueueAttributesInput['sqs']> = {};
  for (const [name, value] of Object.entries(attrs)) {
    if (!KNOWN.has(name) || name === 'All') return fail('invalidAttributeName', name);
    if (typeof value !== 'string') return fail('invalidAttributeValue', name, '(attribute values are strings)');
    if (NOT_STORED.has(name)) {
      if (value !== '') return fail('invalidAttributeValue', name, '(not supported: opencmq stores no access policy and does no KMS encryption)');
      continue;
    }
    switch (name) {
      case 'FifoQueue':
      case 'ContentBasedDeduplication': {
        const b = boolAttr(name, value);
        if (typeof b !== 'boolean') return b;
        if (name === 'FifoQueue') sqs.fifo = b;
        else sqs.contentBasedDeduplication = b;
        continue;
      }
      case 'DeduplicationScope': {
        const v = oneOf(name, value, ['messageGroup', 'queue'] as const);
        if (typeof v !== 'string') return v;
        sqs.deduplicationScope = v;
        continue;
      }
      case 'FifoThroughputLimit': {
        const v = oneOf(name, value, ['perQueue', 'perMessageGroupId'] as const);
        if (typeof v !== 'string') return v;
        sqs.fifoThroughputLimit = v;
        continue;
      }
      case 'SqsManagedSseEnabled':
        // Accepted for compatibility, without effect: nothing is encrypted at rest by opencmq.
        if (value !== 'true' && value !== 'false') return fail('invalidAttributeValue', name, '(true or false)');
        continue;
      case 'RedrivePolicy': {
        if (value === '') {
          if (!forCreate) out.deadLetterPolicy = null;
          continue;
        }
        const p = redrivePolicy(env, value);
        if ('ok' in p) return p;
        out.deadLetterPolicy = p;
        continue;
      }
      case 'RedriveAllowPolicy': {
        if (value === '') {
          sqs.redriveAllowPolicy = null;
          continue;
        }
        const p = redriveAllowPolicy(env, value);
        if ('ok' in p) return p;
        sqs.redriveAllowPolicy = p;
        continue;
      }
    }
    if (!(name in INT_ATTRS)) return fail('invalidAttributeName', name, '(read-only)');
    const n = intAttr(name as IntAttr, value);
    if (typeof n !== 'number') return n;
    switch (name as IntAttr) {
      case 'DelaySeconds':
        sqs.delaySeconds = n;
        break;
      case 'MaximumMessageSize':
        out.maxMsgSize = n;
        break;
      case 'MessageRetentionPeriod':
        out.msgRetentionSeconds = n;
        break;
      case 'ReceiveMessageWaitTimeSeconds':
        out.pollingWaitSeconds = n;
        break;
      case 'VisibilityTimeout':
        out.visibilityTimeout = n;
        break;
    }
  }
  if (Object.keys(sqs).length > 0) out.sqs = sqs;
  return out;
}

/** CreateQueue's settings: what was asked, with SQS's default where SQS's differs from CMQ's. */
export function withSqsDefaults(attrs: QueueAttributesInput): QueueAttributesInput {
  return { ...attrs, maxMsgSize: attrs.maxMsgSize ?? SQS_LIMITS.defaultMaximumMessageSize };
}

function samePolicy(a: DeadLetterPolicy | undefined, b: DeadLetterPolicy | null | undefined): boolean {
  if (a === undefined || b === null || b === undefined) return (a === undefined) === (b === null || b === undefined);
  return a.deadLetterQueue === b.deadLetterQueue && a.policy === b.policy && a.maxReceiveCount === b.maxReceiveCount;
}

function sameAllow(a: RedriveAllowPolicy | null, b: RedriveAllowPolicy | null): boolean {
  if (a === null || b === null) return a === b;
  const sa = [...(a.sourceQueueNames ?? [])].sort();
  const sb = [...(b.sourceQueueNames ?? [])].sort();
  return a.permission === b.permission && sa.length === sb.length && sa.every((s, i) => s === sb[i]);
}

/** Whether an existing queue has every setting `asked` gives (CreateQueue of an existing queue). */
export function hasSettings(q: QueueAttributes, asked: QueueAttributesInput): boolean {
  for (const k of ['maxMsgSize', 'msgRetentionSeconds', 'pollingWaitSeconds', 'visibilityTimeout'] as const) {
    const v = asked[k];
    if (v !== undefined && q[k] !== v) return false;
  }
  if (asked.deadLetterPolicy !== undefined && !samePolicy(q.deadLetterPolicy, asked.deadLetterPolicy)) return false;
  if (asked.sqs?.delaySeconds !== undefined && q.sqs.delaySeconds !== asked.sqs.delaySeconds) return false;
  if (asked.sqs?.redriveAllowPolicy !== undefined && !sameAllow(q.sqs.redriveAllowPolicy, asked.sqs.redriveAllowPolicy)) return false;
  for (const k of ['fifo', 'contentBasedDeduplication', 'deduplicationScope', 'fifoThroughputLimit'] as const) {
    const v = asked.sqs?.[k];
    if (v !== undefined && q.sqs[k] !== v) return false;
  }
  return true;
}

/**
 * The names GetQueueAttributes asked for, 'All' expanded; unknown → invalidAttributeName.
 * None asked: none returned (as SQS).
 */
export function requestedAttributeNames(names: readonly string[] | undefined): Set<string> | ErrorResult {
  const out = new Set<string>();
  for (const n of names ?? []) {
    if (!KNOWN.has(n)) return fail('invalidAttributeName', n);
    if (n === 'All') for (const a of QUEUE_ATTRIBUTE_NAMES) out.add(a);
    else out.add(n);
  }
  out.delete('All');
  return out;
}

function redrivePolicyText(env: SqsEnv, p: DeadLetterPolicy): string {
  return JSON.stringify({ deadLetterTargetArn: queueArn(env, p.deadLetterQueue), maxReceiveCount: p.maxReceiveCount });
}

function redriveAllowText(env: SqsEnv, p: RedriveAllowPolicy): string {
  const o: Record<string, unknown> = { redrivePermission: p.permission };
  if (p.permission === 'byQueue') o['sourceQueueArns'] = (p.sourceQueueNames ?? []).map((n) => queueArn(env, n));
  return JSON.stringify(o);
}

/**
 * The queue's attributes as SQS reports them, limited to `wanted`. Attributes a queue does not
 * have are left out, as SQS leaves them out: FIFO ones on a standard queue, Policy and KMS ones
 * (never stored), a RedrivePolicy when there is none or when it is CMQ's time-to-live policy (SQS
 * cannot say it), a RedriveAllowPolicy never set.
 */
export function renderQueueAttributes(env: SqsEnv, q: QueueAttributes, wanted: Set<string>): Record<string, string> {
  const all: Record<string, string | undefined> = {
    QueueArn: queueArn(env, q.queueName),
    ApproximateNumberOfMessages: String(q.activeMsgNum),
    ApproximateNumberOfMessagesNotVisible: String(q.inactiveMsgNum),
    ApproximateNumberOfMessagesDelayed: String(q.delayMsgNum),
    CreatedTimestamp: String(q.createTime),
    LastModifiedTimestamp: String(q.lastModifyTime),
    VisibilityTimeout: String(q.visibilityTimeout),
    MaximumMessageSize: String(q.maxMsgSize),
    MessageRetentionPeriod: String(q.msgRetentionSeconds),
    DelaySeconds: String(q.sqs.delaySeconds),
    ReceiveMessageWaitTimeSeconds: String(q.pollingWaitSeconds),
    RedrivePolicy: q.deadLetterPolicy?.policy === 0 ? redrivePolicyText(env, q.deadLetterPolicy) : undefined,
    RedriveAllowPolicy: q.sqs.redriveAllowPolicy !== null ? redriveAllowText(env, q.sqs.redriveAllowPolicy) : undefined,
    SqsManagedSseEnabled: 'false',
    // A standard queue reports none of these, as SQS (not even FifoQueue false).
    FifoQueue: q.sqs.fifo ? 'true' : undefined,
    ContentBasedDeduplication: q.sqs.fifo ? String(q.sqs.contentBasedDeduplication) : undefined,
    DeduplicationScope: q.sqs.fifo ? q.sqs.deduplicationScope : undefined,
    FifoThroughputLimit: q.sqs.fifo ? q.sqs.fifoThroughputLimit : undefined,
  };
  const out: Record<string, string> = {};
  for (const name of QUEUE_ATTRIBUTE_NAMES) {
    const v = all[name];
    if (v !== undefined && wanted.has(name)) out[name] = v;
  }
  return out;
}
