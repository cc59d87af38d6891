// Typed accessors over an SQS action's input (the AWS JSON 1.0 shape, see ./types.ts). Each returns
// the value or an ErrorResult naming the member, so an action reads as a sequence of early returns.
// Numbers are accepted as JSON numbers and, for robustness, as decimal integer text (the query
// protocol carries every value as text).

import { fail, type ErrorResult } from '../../protocol/errors';
import { LIMITS } from '../../protocol/limits';
import { isError, type IntRange } from '../params';
import type { SqsInput } from './types';

export { isError };

/** SQS limits (the 2012-11-05 model's documentation) that CMQ's LIMITS does not have. */
export const SQS_LIMITS = {
  queueNameCharsMax: 80,
  batchEntriesMax: 10,
  batchEntryIdCharsMax: 80,
  receiveMessagesMax: 10,
  waitTimeSecondsMax: 20,
  delaySecondsMax: 900,
  visibilityTimeoutMax: 43_200,
  messageAttributesMax: 10,
  messageAttributeNameCharsMax: 256,
  /** Significant digits of a Number attribute. */
  numberDigitsMax: 38,
  listResultsMax: 1000,
  /** SQS MaximumMessageSize when CreateQueue does not set it (CMQ's default is 64 KiB). */
  defaultMaximumMessageSize: 262_144,
  /** ReceiveMessage's ReceiveRequestAttemptId (the broker stores it: its limit). */
  receiveRequestAttemptIdCharsMax: LIMITS.receiveAttemptIdCharsMax,
} as const;

/** What ends the name of every FIFO queue, and of no other. */
export const FIFO_SUFFIX = '.fifo';

/**
 * 1-80 of [A-Za-z0-9_-], or a FIFO queue's name: such characters and `.fifo`, 80 in all. Which
 * kind a name must be is CreateQueue's check (the suffix goes with FifoQueue=true).
 */
export const SQS_QUEUE_NAME_RE = /^(?:[A-Za-z0-9_-]{1,80}|[A-Za-z0-9_-]{1,75}\.fifo)$/;

/**
 * MessageGroupId, MessageDeduplicationId, ReceiveRequestAttemptId: letters, digits and
 * punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~), that is printable ASCII but the space.
 */
const ID_CHARS_RE = /^[\x21-\x7e]+$/;

/** An optional id member of that alphabet with 1 to `max` characters (undefined when absent). */
export function optionalId(input: SqsInput, name: string, max: number): string | undefined | ErrorResult {
  const v = optionalString(input, name);
  if (v === undefined || isError(v)) return v;
  if (v.length < 1 || v.length > max || !ID_CHARS_RE.test(v)) {
    return fail('invalidParameterValue', name, `(${name} has 1 to ${max} letters, digits or punctuation characters)`);
  }
  return v;
}

/** The two ids of a send (either may be absent; the queue decides which it needs). */
export function sendIds(m: SqsInput): { groupId?: string; dedupId?: string } | ErrorResult {
  const groupId = optionalId(m, 'MessageGroupId', LIMITS.groupIdCharsMax);
  if (isError(groupId)) return groupId;
  const dedupId = optionalId(m, 'MessageDeduplicationId', LIMITS.dedupIdCharsMax);
  if (isError(dedupId)) return dedupId;
  return { ...(groupId !== undefined ? { groupId } : {}), ...(dedupId !== undefined ? { dedupId } : {}) };
}

export const BATCH_ENTRY_ID_RE = /^[A-Za-z0-9_-]{1,80}$/;

/** A required string member: absent or empty → missingParam; not a string → invalidParameterValue. */
export function requiredString(input: SqsInput, name: string): string | ErrorResult {
  const v = input[name];
  if (v === undefined || v === null || v === '') return fail('missingParam', name);
  if (typeof v !== 'string') return fail('invalidParameterValue', name, '(not a string)');
  return v;
}

/** An optional string member (undefined when absent). */
export function optionalString(input: SqsInput, name: string): string | undefined | ErrorResult {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return fail('invalidParameterValue', name, '(not a string)');
  return v;
}

const INT_TEXT_RE = /^[+-]?\d{1,15}$/;

/** An integer in range from a number or integer text; the error says which. */
export function toInt(name: string, v: unknown, range: IntRange): number | ErrorResult {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && INT_TEXT_RE.test(v)) n = Number(v);
  else return fail('invalidParameterValue', name, '(not an integer)');
  if (!Number.isSafeInteger(n)) return fail('invalidParameterValue', name, '(not an integer)');
  if (n < range.min || n > range.max) return fail('paramOutOfRange', name, `(must be between ${range.min} and ${range.max})`);
  return n === 0 ? 0 : n;
}

export function optionalInt(input: SqsInput, name: string, range: IntRange): number | undefined | ErrorResult {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  return toInt(name, v, range);
}

export function requiredInt(input: SqsInput, name: string, range: IntRange): number | ErrorResult {
  const v = input[name];
  if (v === undefined || v === null || v === '') return fail('missingParam', name);
  return toInt(name, v, range);
}

/** A list member (undefined when absent); every item must be a string. */
export function optionalStringList(input: SqsInput, name: string): string[] | undefined | ErrorResult {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return fail('invalidParameterValue', name, '(not a list of strings)');
  return v;
}

/** A map member (undefined when absent) as an object of unknown values. */
export function optionalMap(input: SqsInput, name: string): Record<string, unknown> | undefined | ErrorResult {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return fail('invalidParameterValue', name, '(not a map)');
  return v as Record<string, unknown>;
}

/**
 * A batch's Entries: 1 to 10 objects with distinct, well-formed Ids. These failures refuse the
 * whole request (SQS does the same); each entry's own members are checked by the action.
 */
export function batchEntries(input: SqsInput): SqsInput[] | ErrorResult {
  const v = input['Entries'];
  if (v === undefined || v === null) return fail('missingParam', 'Entries');
  if (!Array.isArray(v)) return fail('invalidParameterValue', 'Entries', '(not a list)');
  if (v.length === 0) return fail('emptyBatchRequest');
  if (v.length > SQS_LIMITS.batchEntriesMax) return fail('tooManyEntriesInBatch');
  const ids = new Set<string>();
  for (const e of v as unknown[]) {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return fail('invalidParameterValue', 'Entries', '(an entry is not a structure)');
    const id = (e as Record<string, unknown>)['Id'];
    if (typeof id !== 'string' || !BATCH_ENTRY_ID_RE.test(id)) return fail('invalidBatchEntryId', undefined, `(Id ${JSON.stringify(id ?? null)})`);
    if (ids.has(id)) return fail('batchEntryIdsNotDistinct', undefined, `(Id ${id})`);
    ids.add(id);
  }
  return v as SqsInput[];
}

/**
 * The characters SQS allows in a message body and string attribute values (XML 1.0's Char):
 * #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF. A lone surrogate is outside the set.
 */
// eslint-disable-next-line no-control-regex
const OUTSIDE_ALLOWED_RE = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Tab, line feed, carriage return and printable ASCII: most bodies, checked without the Unicode-aware pattern. */
// eslint-disable-next-line no-control-regex
const PLAIN_ASCII_RE = /^[\x09\x0A\x0D\x20-\x7E]*$/;

export function hasOnlyAllowedChars(s: string): boolean {
  return PLAIN_ASCII_RE.test(s) || !OUTSIDE_ALLOWED_RE.test(s);
}
