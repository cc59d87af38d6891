// The SQS actions (API version 2012-11-05) over the same queues as the CMQ actions: each validates
// its input (the AWS JSON 1.0 shape, whichever protocol carried it: ./types.ts), calls the
// QueueService (writes through `submit`, one command per request) and returns the JSON 1.0 shape
// of its response. Errors are registry names; the wire renders them with their SQS codes.

import { SQS_CODES } from '../../protocol/sqs-codes';
import type { SendBodyOptions } from '../../broker/commands';
import { errorKind, errorText, fail, type ErrorName, type ErrorResult } from '../../protocol/errors';
import { LIMITS, QUEUE_ATTR_RANGES } from '../../protocol/limits';
import { SQS_QUEUE_DEFAULTS } from '../../protocol/queue-types';
import { RECEIPT_HANDLE_RE } from '../../protocol/names';
import { countedWith, envelopeHead, writeEnvelopes, type EnvelopeParts, type MessageAttributeValue } from '../../service/message-envelope';
import type { QueueList } from '../../broker/commands';
import type { ReceiveOptions, ServiceResult } from '../../service/queue-service';
import { checkFifoSettings, hasSettings, namesFifoAttributes, parseQueueAttributes, QUEUE_ATTRIBUTE_NAMES, renderQueueAttributes, requestedAttributeNames, withSqsDefaults } from './attributes';
import { MOVE_TASK_ACTIONS } from './move-tasks';
import { submit } from '../queue-actions';
import { md5OfMessageAttributes, md5OfMessageSystemAttributes } from './md5';
import { parseMessageAttributes, parseSystemAttributes, receiveSelection, renderReceived, requestedSystemAttributes } from './messages';
import { sendFields, type SendFields, type SendTarget } from './fifo';
import { queueNameOfUrl, queueUrl } from './queue-url';
import type { SqsAction, SqsEnv, SqsInput, SqsOutput } from './types';
import {
  batchEntries,
  hasOnlyAllowedChars,
  isError,
  optionalInt,
  optionalId,
  optionalMap,
  optionalString,
  optionalStringList,
  requiredInt,
  requiredString,
  sendIds,
  FIFO_SUFFIX,
  SQS_LIMITS,
  SQS_QUEUE_NAME_RE,
} from './validation';


/** Whether a failure is the sender's (SenderFault): a request it can fix, not the service's state. */
function senderFault(name: ErrorName): boolean {
  const kind = errorKind(name);
  return kind !== 'internal' && kind !== 'notApplied' && kind !== 'outcomeUnknown' && kind !== 'throttled';
}

export function failedEntry(id: string, e: ErrorResult): Record<string, unknown> {
  const message = errorText(e.error, e.arg) + (e.detail !== undefined ? ` ${e.detail}` : '');
  return { Id: id, SenderFault: senderFault(e.error), Code: SQS_CODES[e.error].code, Message: message };
}

/** The queue a request names by QueueUrl. */
function queueOf(env: SqsEnv, input: SqsInput): string | ErrorResult {
  const url = requiredString(input, 'QueueUrl');
  return isError(url) ? url : queueNameOfUrl(env, url);
}

/**
 * CreateQueue's QueueName: a FIFO queue's name (FifoQueue=true) ends in `.fifo`, which counts in
 * its 80 characters, and no other queue's name does.
 */
function queueNameOf(input: SqsInput, fifo: boolean): string | ErrorResult {
  const name = requiredString(input, 'QueueName');
  if (isError(name)) return name;
  if (fifo && !(name.endsWith(FIFO_SUFFIX) && SQS_QUEUE_NAME_RE.test(name))) {
    return fail(
      'invalidParameterValue',
      'QueueName',
      `(the name of a FIFO queue can only include letters, digits, hyphens or underscores, must end with the ${FIFO_SUFFIX} suffix and be 1 to 80 in length)`,
    );
  }
  if (!fifo && (name.endsWith(FIFO_SUFFIX) || !SQS_QUEUE_NAME_RE.test(name))) {
    const why = name.endsWith(FIFO_SUFFIX) ? `; a name ending ${FIFO_SUFFIX} needs the attribute FifoQueue=true` : '';
    return fail('invalidParameterValue', 'QueueName', `(1 to 80 letters, digits, hyphens or underscores${why})`);
  }
  return name;
}

// ---------------------------------------------------------------------------------------------
// Tags

/** A tag map (CreateQueue `tags`, TagQueue `Tags`): at most 50, keys 1-128 and values 0-256 characters. */
function parseTags(member: string, raw: Record<string, unknown>): Record<string, string> | ErrorResult {
  const entries = Object.entries(raw);
  if (entries.length > LIMITS.queueTagsMax) return fail('invalidParameterValue', member, `(at most ${LIMITS.queueTagsMax} tags)`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (k.length < 1 || k.length > LIMITS.tagKeyCharsMax) return fail('invalidParameterValue', member, `(a tag key has 1 to ${LIMITS.tagKeyCharsMax} characters)`);
    if (k.toLowerCase().startsWith('aws:')) return fail('invalidParameterValue', member, '(tag keys starting aws: are reserved)');
    if (typeof v !== 'string') return fail('invalidParameterValue', member, `(the value of tag ${k} is not a string)`);
    if (v.length > LIMITS.tagValueCharsMax) return fail('invalidParameterValue', member, `(a tag value has at most ${LIMITS.tagValueCharsMax} characters)`);
    out[k] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Queues

const createQueue: SqsAction = async (env, input) => {
  const rawAttrs = optionalMap(input, 'Attributes');
  if (isError(rawAttrs)) return rawAttrs;
  const asked = parseQueueAttributes(env, rawAttrs ?? {}, true);
  if (isError(asked)) return asked;
  const fifo = asked.sqs?.fifo === true;
  const name = queueNameOf(input, fifo);
  if (isError(name)) return name;
  const fifoError = checkFifoSettings(asked, { ...SQS_QUEUE_DEFAULTS, fifo });
  if (fifoError !== undefined) return fifoError;
  const rawTags = optionalMap(input, 'tags');
  if (isError(rawTags)) return rawTags;
  const tags = rawTags === undefined ? undefined : parseTags('tags', rawTags);
  if (isError(tags)) return tags;
  const attrs = withSqsDefaults(asked);
  if (tags !== undefined && Object.keys(tags).length > 0) attrs.tags = tags;
  const r = await submit(env, { kind: 'createQueue', queueName: name, attrs });
  if (r.ok) return { QueueUrl: queueUrl(env, name) };
  if (r.error !== 'queueExists') return r;
  // SQS: creating an existing queue with the same attributes returns its URL; tags are not compared.
  const existing = await env.service.getQueueAttributes(env.ctx, name);
  if (!existing.ok) {
    return existing.error === 'queueNotExist' ? fail('queueExists', undefined, '(a queue whose name differs only in case exists: names are case-insensitive here)') : existing;
  }
  if (!hasSettings(existing.attributes, asked)) return fail('queueExists', undefined, '(with different attributes)');
  return { QueueUrl: queueUrl(env, name) };
};

const getQueueUrl: SqsAction = async (env, input) => {
  const name = requiredString(input, 'QueueName');
  if (isError(name)) return name;
  const owner = optionalString(input, 'QueueOwnerAWSAccountId');
  if (isError(owner)) return owner;
  if (owner !== undefined && owner !== env.accountId) return fail('queueNotExist', undefined, `(account ${owner} is not this server's)`);
  const a = await env.service.getQueueAttributes(env.ctx, name);
  return a.ok ? { QueueUrl: queueUrl(env, name) } : a;
};

const deleteQueue: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const r = await submit(env, { kind: 'deleteQueue', queueName: name });
  return r.ok ? {} : r;
};

const purgeQueue: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const r = await submit(env, { kind: 'purgeQueue', queueName: name });
  return r.ok ? {} : r;
};

const getQueueAttributes: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const names = optionalStringList(input, 'AttributeNames');
  if (isError(names)) return names;
  const wanted = requestedAttributeNames(names);
  if (isError(wanted)) return wanted;
  const a = await env.service.getQueueAttributes(env.ctx, name);
  if (!a.ok) return a;
  const attributes = renderQueueAttributes(env, a.attributes, wanted);
  return Object.keys(attributes).length > 0 ? { Attributes: attributes } : {};
};

const setQueueAttributes: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const raw = optionalMap(input, 'Attributes');
  if (isError(raw)) return raw;
  if (raw === undefined) return fail('missingParam', 'Attributes');
  const attrs = parseQueueAttributes(env, raw, false);
  if (isError(attrs)) return attrs;
  if (namesFifoAttributes(raw)) {
    // Their rules depend on the queue's kind and current settings. A concurrent change of the
    // same settings between this read and the write is not seen here.
    const current = await env.service.getQueueAttributes(env.ctx, name);
    if (!current.ok) return current;
    const fifoError = checkFifoSettings(attrs, current.attributes.sqs);
    if (fifoError !== undefined) return fifoError;
  }
  const r = await submit(env, { kind: 'setQueueAttributes', queueName: name, attrs });
  return r.ok ? {} : r;
};

// ---------------------------------------------------------------------------------------------
// Listing: the service pages by offset over names in order; SQS pages by an opaque token. The
// token holds the last name returned, so a page continues after it even when queues were
// created or deleted in between, on whichever node serves the next call.

const TOKEN_PREFIX = 'v1:';

function encodeToken(lastName: string): string {
  return Buffer.from(TOKEN_PREFIX + lastName, 'utf8').toString('base64url');
}

function decodeToken(token: string): string | ErrorResult {
  const text = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
  const name = text.startsWith(TOKEN_PREFIX) ? text.slice(TOKEN_PREFIX.length) : '';
  return SQS_QUEUE_NAME_RE.test(name) ? name : fail('invalidParameterValue', 'NextToken', '(not a token this service returned)');
}

type ListPage = (offset: number, limit: number) => Promise<ServiceResult<QueueList>>;

/** Every name a listing has (at most LIMITS.queueCountMax queues exist), read page by page. */
async function allNames(list: ListPage): Promise<string[] | ErrorResult> {
  const names: string[] = [];
  for (;;) {
    const r = await list(names.length, LIMITS.queueCountMax);
    if (!r.ok) return r;
    for (const q of r.queueList) names.push(q.queueName);
    if (r.queueList.length === 0 || names.length >= r.totalCount) return names;
  }
}

/**
 * One page of queue URLs. Without MaxResults: up to 1000 and never a NextToken (as SQS); with it:
 * MaxResults (1-1000) and a NextToken when more follow.
 */
async function listPage(
  env: SqsEnv,
  input: SqsInput,
  prefix: string | undefined,
  list: ListPage,
): Promise<{ urls: string[]; nextToken?: string } | ErrorResult> {
  const max = optionalInt(input, 'MaxResults', { min: 1, max: SQS_LIMITS.listResultsMax });
  if (isError(max)) return max;
  const token = optionalString(input, 'NextToken');
  if (isError(token)) return token;
  const after = token === undefined || token === '' ? undefined : decodeToken(token);
  if (isError(after)) return after;
  const names = await allNames(list);
  if (isError(names)) return names;
  // The service orders names by UTF-16 code units, as `<` does.
  const matching = names.filter((n) => (prefix === undefined || n.startsWith(prefix)) && (after === undefined || n > after));
  const take = matching.slice(0, max ?? SQS_LIMITS.listResultsMax);
  const urls = take.map((n) => queueUrl(env, n));
  const last = take[take.length - 1];
  return max !== undefined && matching.length > take.length && last !== undefined ? { urls, nextToken: encodeToken(last) } : { urls };
}

const listQueues: SqsAction = async (env, input) => {
  const prefix = optionalString(input, 'QueueNamePrefix');
  if (isError(prefix)) return prefix;
  const p = prefix === '' ? undefined : prefix;
  // The service's search is a case-insensitive substring: it narrows, startsWith decides.
  const page = await listPage(env, input, p, (offset, limit) => env.service.listQueues(env.ctx, p, offset, limit));
  if (isError(page)) return page;
  const out: SqsOutput = {};
  if (page.urls.length > 0) out['QueueUrls'] = page.urls;
  if (page.nextToken !== undefined) out['NextToken'] = page.nextToken;
  return out;
};

const listDeadLetterSourceQueues: SqsAction = async (env, input) => {
  const dlq = queueOf(env, input);
  if (isError(dlq)) return dlq;
  const page = await listPage(env, input, undefined, (offset, limit) => env.service.listDeadLetterSourceQueues(env.ctx, dlq, undefined, offset, limit));
  if (isError(page)) return page;
  const out: SqsOutput = { queueUrls: page.urls };
  if (page.nextToken !== undefined) out['NextToken'] = page.nextToken;
  return out;
};

// ---------------------------------------------------------------------------------------------
// Tags

const tagQueue: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const raw = optionalMap(input, 'Tags');
  if (isError(raw)) return raw;
  if (raw === undefined || Object.keys(raw).length === 0) return fail('missingParam', 'Tags');
  const tags = parseTags('Tags', raw);
  if (isError(tags)) return tags;
  const r = await submit(env, { kind: 'tagQueue', queueName: name, tags });
  return r.ok ? {} : r;
};

const untagQueue: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const keys = optionalStringList(input, 'TagKeys');
  if (isError(keys)) return keys;
  if (keys === undefined || keys.length === 0) return fail('missingParam', 'TagKeys');
  if (keys.length > LIMITS.queueTagsMax) return fail('invalidParameterValue', 'TagKeys', `(at most ${LIMITS.queueTagsMax} keys)`);
  if (keys.some((k) => k.length < 1 || k.length > LIMITS.tagKeyCharsMax)) {
    return fail('invalidParameterValue', 'TagKeys', `(a tag key has 1 to ${LIMITS.tagKeyCharsMax} characters)`);
  }
  const r = await submit(env, { kind: 'untagQueue', queueName: name, keys });
  return r.ok ? {} : r;
};

const listQueueTags: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const a = await env.service.getQueueAttributes(env.ctx, name);
  if (!a.ok) return a;
  return Object.keys(a.attributes.tags).length > 0 ? { Tags: { ...a.attributes.tags } } : {};
};

// ---------------------------------------------------------------------------------------------
// Sending

const DELAY_RANGE = { min: 0, max: SQS_LIMITS.delaySecondsMax };

/** A message checked and ready to send: what its envelope is made of, and what the send command needs to know of it. */
interface OutgoingMessage {
  /** Its envelope's head (attributes and SenderId) and body, written with the request's other messages. */
  parts: EnvelopeParts;
  options: SendBodyOptions;
  /** The body and attributes as SQS counts them (the batch's 1 MiB total). */
  counted: number;
  /** MD5OfMessageAttributes and MD5OfMessageSystemAttributes, when it has such attributes. */
  digests: { MD5OfMessageAttributes?: string; MD5OfMessageSystemAttributes?: string };
}

/**
 * Check one message (SendMessage's input, or one SendMessageBatch entry) and say what its
 * envelope is made of. SenderId is stored with it (who sent it, reported on receive) but is not
 * counted against the queue's MaximumMessageSize: SQS does not count it either; nor are
 * MessageGroupId and MessageDeduplicationId, stored beside it so a receive can report them.
 * `target`: the queue's FIFO settings, when the request made them necessary (see ./fifo.ts).
 */
function outgoing(env: SqsEnv, m: SqsInput, target: SendTarget | undefined): OutgoingMessage | ErrorResult {
  const body = requiredString(m, 'MessageBody');
  if (isError(body)) return body;
  if (env.textAllowed !== true && !hasOnlyAllowedChars(body)) return fail('invalidMessageContents');
  const delay = optionalInt(m, 'DelaySeconds', DELAY_RANGE);
  if (isError(delay)) return delay;
  const ids = sendIds(m);
  if (isError(ids)) return ids;
  const attributes = parseMessageAttributes(m['MessageAttributes']);
  if (isError(attributes)) return attributes;
  const given = parseSystemAttributes(m['MessageSystemAttributes']);
  if (isError(given)) return given;
  const fields = sendFields(target, ids, body, delay);
  if (isError(fields)) return fields;
  const counted = countedWith(attributes, Buffer.byteLength(body, 'utf8'));
  if (counted > QUEUE_ATTR_RANGES.maxMsgSize.max) return fail('msgTooLarge', undefined, `(${counted} bytes)`);
  const fieldNames = Object.keys(fields.system) as (keyof SendFields['system'])[];
  let head: Uint8Array;
  if (attributes.size === 0 && given.size === 0 && fieldNames.length === 0) {
    head = senderOnlyHead(env.senderId);
  } else {
    const system = new Map([['SenderId', { dataType: 'String', stringValue: env.senderId }], ...given]);
    for (const name of fieldNames) system.set(name, { dataType: 'String', stringValue: fields.system[name]! });
    head = envelopeHead(attributes, system);
  }
  const options: SendBodyOptions = { enveloped: true, countedBytes: counted };
  if (delay !== undefined && !fields.dropDelay) options.delaySeconds = delay;
  if (fields.groupId !== undefined) options.groupId = fields.groupId;
  if (fields.dedupKey !== undefined) options.dedupId = fields.dedupKey;
  const digests: OutgoingMessage['digests'] = {};
  if (attributes.size > 0) digests.MD5OfMessageAttributes = md5OfMessageAttributes(attributes);
  if (given.size > 0) digests.MD5OfMessageSystemAttributes = md5OfMessageSystemAttributes(given);
  return { parts: { head, body }, options, counted, digests };
}

/**
 * The envelope head of a message with no attributes but its SenderId (almost every message),
 * made once per sender: a server has few senders, and the cache is cleared if it ever has many.
 */
const senderOnlyHeads = new Map<string, Buffer>();
const SENDER_ONLY_HEADS_MAX = 1024;
const NO_ATTRIBUTES: ReadonlyMap<string, MessageAttributeValue> = new Map();

export function senderOnlyHead(senderId: string): Buffer {
  let head = senderOnlyHeads.get(senderId);
  if (head === undefined) {
    if (senderOnlyHeads.size >= SENDER_ONLY_HEADS_MAX) senderOnlyHeads.clear();
    head = envelopeHead(NO_ATTRIBUTES, new Map([['SenderId', { dataType: 'String', stringValue: senderId }]]));
    senderOnlyHeads.set(senderId, head);
  }
  return head;
}

/**
 * The queue's FIFO settings, read only when a message of the request carries a MessageGroupId or
 * MessageDeduplicationId: a send without either needs none of them (a FIFO queue refuses it in the
 * broker), so a standard queue's plain sends cost no extra read.
 */
async function sendTarget(env: SqsEnv, queueName: string, messages: readonly SqsInput[]): Promise<SendTarget | undefined | ErrorResult> {
  const given = (v: unknown): boolean => v !== undefined && v !== null;
  if (!messages.some((m) => given(m['MessageGroupId']) || given(m['MessageDeduplicationId']))) return undefined;
  const a = await env.service.getQueueAttributes(env.ctx, queueName);
  return a.ok ? a.attributes.sqs : a;
}

/** What a send answers per message (SequenceNumber: FIFO queues only, as SQS). */
function sendResult(m: OutgoingMessage, md5OfBody: string, msgId: string, sequenceNumber: string | undefined, id?: string): Record<string, unknown> {
  const out: Record<string, unknown> = id === undefined ? {} : { Id: id };
  out['MessageId'] = msgId;
  out['MD5OfMessageBody'] = md5OfBody;
  if (m.digests.MD5OfMessageAttributes !== undefined) out['MD5OfMessageAttributes'] = m.digests.MD5OfMessageAttributes;
  if (m.digests.MD5OfMessageSystemAttributes !== undefined) out['MD5OfMessageSystemAttributes'] = m.digests.MD5OfMessageSystemAttributes;
  if (m.options.groupId !== undefined && sequenceNumber !== undefined) out['SequenceNumber'] = sequenceNumber;
  return out;
}

/**
 * Send the messages in one command (one log entry), their envelopes written into one buffer;
 * their message ids, sequence numbers and body digests, in order.
 */
async function sendAll(
  env: SqsEnv,
  queueName: string,
  msgs: readonly OutgoingMessage[],
): Promise<{ msgIds: string[]; sequenceNumbers?: string[]; md5s: string[] } | ErrorResult> {
  // Each envelope stores its body's digest, made here once for the answer and every receive.
  const envelopes = writeEnvelopes(msgs.map((m) => m.parts));
  const r = await submit(env, {
    kind: 'sendMessages',
    queueName,
    delaySeconds: null,
    bodies: envelopes.map((e) => e.bytes),
    options: msgs.map((m) => m.options),
  });
  if (!r.ok) return r;
  if (r.msgIds.length !== msgs.length) return fail('internalError', undefined, `(${r.msgIds.length} msgIds for ${msgs.length} messages)`);
  const md5s = envelopes.map((e) => e.bodyMd5.toString('hex'));
  return r.sequenceNumbers === undefined ? { msgIds: r.msgIds, md5s } : { msgIds: r.msgIds, sequenceNumbers: r.sequenceNumbers, md5s };
}

const sendMessage: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const target = await sendTarget(env, name, [input]);
  if (isError(target)) return target;
  const m = outgoing(env, input, target);
  if (isError(m)) return m;
  const sent = await sendAll(env, name, [m]);
  if (isError(sent)) return sent;
  return sendResult(m, sent.md5s[0]!, sent.msgIds[0]!, sent.sequenceNumbers?.[0]);
};

const sendMessageBatch: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const entries = batchEntries(input);
  if (isError(entries)) return entries;
  const target = await sendTarget(env, name, entries);
  if (isError(target)) return target;
  const failed: Record<string, unknown>[] = [];
  const ready: { id: string; m: OutgoingMessage }[] = [];
  let total = 0;
  for (const e of entries) {
    const id = e['Id'] as string;
    const m = outgoing(env, e, target);
    if (isError(m)) {
      failed.push(failedEntry(id, m));
      continue;
    }
    total += m.counted;
    ready.push({ id, m });
  }
  if (total > LIMITS.batchBodyBytesMax) return fail('batchTooLarge', undefined, `(${total} bytes in all)`);
  const successful: Record<string, unknown>[] = [];
  if (ready.length > 0) {
    const sent = await sendAll(
      env,
      name,
      ready.map((x) => x.m),
    );
    // The queue missing is the request's failure, as SQS reports it; any other failure of the
    // one command is every remaining entry's.
    if (isError(sent) && sent.error === 'queueNotExist') return sent;
    ready.forEach((x, i) => {
      if (isError(sent)) failed.push(failedEntry(x.id, sent));
      else successful.push(sendResult(x.m, sent.md5s[i]!, sent.msgIds[i]!, sent.sequenceNumbers?.[i], x.id));
    });
  }
  return { Successful: successful, Failed: failed };
};

// ---------------------------------------------------------------------------------------------
// Receiving

const QUEUE_ATTRIBUTE_NAME_SET: ReadonlySet<string> = new Set(QUEUE_ATTRIBUTE_NAMES);

const receiveMessage: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const n = optionalInt(input, 'MaxNumberOfMessages', { min: 1, max: SQS_LIMITS.receiveMessagesMax });
  if (isError(n)) return n;
  const wait = optionalInt(input, 'WaitTimeSeconds', { min: 0, max: SQS_LIMITS.waitTimeSecondsMax });
  if (isError(wait)) return wait;
  const visibility = optionalInt(input, 'VisibilityTimeout', { min: 0, max: SQS_LIMITS.visibilityTimeoutMax });
  if (isError(visibility)) return visibility;
  const attributeNames = optionalStringList(input, 'AttributeNames');
  if (isError(attributeNames)) return attributeNames;
  const systemNames = optionalStringList(input, 'MessageSystemAttributeNames');
  if (isError(systemNames)) return systemNames;
  const messageAttributeNames = optionalStringList(input, 'MessageAttributeNames');
  if (isError(messageAttributeNames)) return messageAttributeNames;
  // A retried FIFO receive with the same attempt id gets the same messages while they are
  // untouched (broker/receive-attempts.ts); a standard queue ignores it, as SQS does.
  const attemptId = optionalId(input, 'ReceiveRequestAttemptId', SQS_LIMITS.receiveRequestAttemptIdCharsMax);
  if (isError(attemptId)) return attemptId;
  const system = requestedSystemAttributes([attributeNames, systemNames], QUEUE_ATTRIBUTE_NAME_SET);
  if (isError(system)) return system;
  const numOfMsg = n ?? 1;
  const options: ReceiveOptions = {};
  if (visibility !== undefined) options.visibilitySeconds = visibility;
  if (attemptId !== undefined) options.attemptId = attemptId;
  const out = await env.service.receive(env.ctx, name, numOfMsg, wait, options);
  if (!out.ok) return out;
  if (out.messages.length === 0) return {};
  const sel = receiveSelection(system, messageAttributeNames);
  return { Messages: out.messages.slice(0, numOfMsg).map((m) => renderReceived(m, sel)) };
};

// ---------------------------------------------------------------------------------------------
// Deleting and changing visibility

/** A receipt handle member: required; one that cannot be ours is refused before anything is logged. */
function receiptHandleOf(m: SqsInput): string | ErrorResult {
  const h = requiredString(m, 'ReceiptHandle');
  if (isError(h)) return h;
  return RECEIPT_HANDLE_RE.test(h) ? h : fail('receiptHandleInvalid');
}

const deleteMessage: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const h = receiptHandleOf(input);
  if (isError(h)) return h;
  const r = await submit(env, { kind: 'deleteMessages', queueName: name, receiptHandles: [h] });
  if (!r.ok) return r;
  // A well-formed handle that is no longer current succeeds: SQS says the message may then not be deleted.
  return r.failures.some((f) => f.malformed) ? fail('receiptHandleInvalid') : {};
};

interface HandleEntry {
  id: string;
  handle: string;
  visibilitySeconds: number;
}

/** The entries of a batch whose own members are valid; the others go straight to `failed`. */
function handleEntries(entries: SqsInput[], failed: Record<string, unknown>[], withVisibility: boolean): HandleEntry[] {
  const ok: HandleEntry[] = [];
  for (const e of entries) {
    const id = e['Id'] as string;
    const handle = receiptHandleOf(e);
    if (isError(handle)) {
      failed.push(failedEntry(id, handle));
      continue;
    }
    let visibilitySeconds = 0;
    if (withVisibility) {
      const v = requiredInt(e, 'VisibilityTimeout', { min: 0, max: SQS_LIMITS.visibilityTimeoutMax });
      if (isError(v)) {
        failed.push(failedEntry(id, v));
        continue;
      }
      visibilitySeconds = v;
    }
    ok.push({ id, handle, visibilitySeconds });
  }
  return ok;
}

const deleteMessageBatch: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const entries = batchEntries(input);
  if (isError(entries)) return entries;
  const failed: Record<string, unknown>[] = [];
  const valid = handleEntries(entries, failed, false);
  const successful: Record<string, unknown>[] = [];
  if (valid.length > 0) {
    const r = await submit(env, { kind: 'deleteMessages', queueName: name, receiptHandles: valid.map((v) => v.handle) });
    if (!r.ok && r.error === 'queueNotExist') return r;
    const malformed = new Set(r.ok ? r.failures.filter((f) => f.malformed).map((f) => f.index) : []);
    valid.forEach((v, i) => {
      if (!r.ok) failed.push(failedEntry(v.id, r));
      else if (malformed.has(i)) failed.push(failedEntry(v.id, fail('receiptHandleInvalid')));
      else successful.push({ Id: v.id });
    });
  }
  return { Successful: successful, Failed: failed };
};

const VISIBILITY_RANGE = { min: 0, max: SQS_LIMITS.visibilityTimeoutMax };

const changeMessageVisibility: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const h = receiptHandleOf(input);
  if (isError(h)) return h;
  const v = requiredInt(input, 'VisibilityTimeout', VISIBILITY_RANGE);
  if (isError(v)) return v;
  const r = await submit(env, { kind: 'changeVisibility', queueName: name, entries: [{ receiptHandle: h, visibilitySeconds: v }] });
  if (!r.ok) return r;
  const f = r.failures[0];
  if (f === undefined) return {};
  return f.malformed ? fail('receiptHandleInvalid') : fail('messageNotInflight');
};

const changeMessageVisibilityBatch: SqsAction = async (env, input) => {
  const name = queueOf(env, input);
  if (isError(name)) return name;
  const entries = batchEntries(input);
  if (isError(entries)) return entries;
  const failed: Record<string, unknown>[] = [];
  const valid = handleEntries(entries, failed, true);
  const successful: Record<string, unknown>[] = [];
  if (valid.length > 0) {
    const r = await submit(env, {
      kind: 'changeVisibility',
      queueName: name,
      entries: valid.map((v) => ({ receiptHandle: v.handle, visibilitySeconds: v.visibilitySeconds })),
    });
    if (!r.ok && r.error === 'queueNotExist') return r;
    const failures = new Map(r.ok ? r.failures.map((f) => [f.index, f]) : []);
    valid.forEach((v, i) => {
      const f = failures.get(i);
      if (!r.ok) failed.push(failedEntry(v.id, r));
      else if (f !== undefined) failed.push(failedEntry(v.id, fail(f.malformed ? 'receiptHandleInvalid' : 'messageNotInflight')));
      else successful.push({ Id: v.id });
    });
  }
  return { Successful: successful, Failed: failed };
};

// ---------------------------------------------------------------------------------------------
// Not built yet

function unsupported(action: string, why: string): SqsAction {
  return () => Promise.resolve(fail('unsupportedOperation', action, why));
}

const PERMISSIONS = '(access is granted by the server\'s credentials, not by queue policies)';

/** Canonical SQS action name → action. */
export const SQS_ACTIONS: Readonly<Record<string, SqsAction>> = {
  CreateQueue: createQueue,
  GetQueueUrl: getQueueUrl,
  DeleteQueue: deleteQueue,
  PurgeQueue: purgeQueue,
  GetQueueAttributes: getQueueAttributes,
  SetQueueAttributes: setQueueAttributes,
  ListQueues: listQueues,
  ListDeadLetterSourceQueues: listDeadLetterSourceQueues,
  TagQueue: tagQueue,
  UntagQueue: untagQueue,
  ListQueueTags: listQueueTags,
  SendMessage: sendMessage,
  SendMessageBatch: sendMessageBatch,
  ReceiveMessage: receiveMessage,
  DeleteMessage: deleteMessage,
  DeleteMessageBatch: deleteMessageBatch,
  ChangeMessageVisibility: changeMessageVisibility,
  ChangeMessageVisibilityBatch: changeMessageVisibilityBatch,
  AddPermission: unsupported('AddPermission', PERMISSIONS),
  RemovePermission: unsupported('RemovePermission', PERMISSIONS),
  ...MOVE_TASK_ACTIONS,
};
