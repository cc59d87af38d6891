// SQS messages: the checks of a message to send (body characters, message attributes, system
// attributes), the envelope it is stored as (service/message-envelope.ts), and a received message
// in the shape ReceiveMessage returns.

import { isUtf8 } from 'node:buffer';
import { fail, type ErrorResult } from '../../protocol/errors';
import type { DeliveredMessage } from '../../service/queue-service';
import { decodeEnvelope, type MessageAttributeValue, type MessageEnvelope } from '../../service/message-envelope';
import { Utf8JsonString } from '../json-bytes';
import { md5OfBody, md5OfMessageAttributes } from './md5';
import { SQS_LIMITS, hasOnlyAllowedChars } from './validation';

export type AttributeMap = Map<string, MessageAttributeValue>;

const ATTR_NAME_RE = /^[A-Za-z0-9_.-]+$/;
const DATA_TYPE_RE = /^(String|Number|Binary)(\.[A-Za-z0-9_.-]+)?$/;
const DATA_TYPE_CHARS_MAX = 256;
const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** A message attribute name as SQS allows it (≤ 256 of [A-Za-z0-9_.-], no AWS./Amazon. prefix, no '..', no '.' at either end). */
export function isValidAttributeName(name: string): boolean {
  if (name.length === 0 || name.length > SQS_LIMITS.messageAttributeNameCharsMax || !ATTR_NAME_RE.test(name)) return false;
  const lower = name.toLowerCase();
  if (lower.startsWith('aws.') || lower.startsWith('amazon.')) return false;
  return !name.includes('..') && !name.startsWith('.') && !name.endsWith('.');
}

/** A Number value: a decimal number of at most 38 significant digits. */
export function isValidNumber(text: string): boolean {
  if (!NUMBER_RE.test(text)) return false;
  const mantissa = text.replace(/^[+-]/, '').replace(/[eE].*$/, '').replace('.', '');
  const significant = mantissa.replace(/^0+/, '').replace(/0+$/, '');
  return significant.length <= SQS_LIMITS.numberDigitsMax;
}

function binaryOf(v: unknown): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string' && v.length % 4 === 0 && BASE64_RE.test(v)) return Buffer.from(v, 'base64');
  return undefined;
}

function attrValue(member: string, name: string, raw: unknown): MessageAttributeValue | ErrorResult {
  const bad = (why: string): ErrorResult => fail('invalidParameterValue', member, `(attribute ${name}: ${why})`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('not a structure');
  const o = raw as Record<string, unknown>;
  const dataType = o['DataType'];
  if (typeof dataType !== 'string' || dataType === '') return bad('DataType is required');
  if (dataType.length > DATA_TYPE_CHARS_MAX || !DATA_TYPE_RE.test(dataType)) return bad(`DataType ${dataType} is not String, Number or Binary (with an optional .custom suffix)`);
  for (const reserved of ['StringListValues', 'BinaryListValues']) {
    const l = o[reserved];
    if (l !== undefined && l !== null && !(Array.isArray(l) && l.length === 0)) return bad(`${reserved} is not implemented by SQS`);
  }
  const sv = o['StringValue'];
  const bv = o['BinaryValue'];
  if (dataType.startsWith('Binary')) {
    if (sv !== undefined && sv !== null) return bad('a Binary attribute has no StringValue');
    const bytes = binaryOf(bv);
    if (bytes === undefined) return bad('BinaryValue must be base64');
    if (bytes.byteLength === 0) return bad('BinaryValue is empty');
    return { dataType, binaryValue: bytes };
  }
  if (bv !== undefined && bv !== null) return bad(`a ${dataType} attribute has no BinaryValue`);
  if (typeof sv !== 'string' || sv === '') return bad('StringValue is required and not empty');
  if (!hasOnlyAllowedChars(sv)) return bad('StringValue has characters outside the allowed set');
  if (dataType.startsWith('Number') && !isValidNumber(sv)) return bad(`${sv} is not a number of at most ${SQS_LIMITS.numberDigitsMax} digits`);
  return { dataType, stringValue: sv };
}

/** MessageAttributes of a send: at most 10, names and values as SQS allows them. */
export function parseMessageAttributes(raw: unknown): AttributeMap | ErrorResult {
  const out: AttributeMap = new Map();
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object' || Array.isArray(raw)) return fail('invalidParameterValue', 'MessageAttributes', '(not a map)');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > SQS_LIMITS.messageAttributesMax) {
    return fail('invalidParameterValue', 'MessageAttributes', `(at most ${SQS_LIMITS.messageAttributesMax} attributes)`);
  }
  for (const [name, v] of entries) {
    if (!isValidAttributeName(name)) return fail('invalidParameterValue', 'MessageAttributes', `(attribute name ${JSON.stringify(name)} is not allowed)`);
    const value = attrValue('MessageAttributes', name, v);
    if ('ok' in value) return value;
    out.set(name, value);
  }
  return out;
}

/** MessageSystemAttributes of a send: only AWSTraceHeader, a String. */
export function parseSystemAttributes(raw: unknown): AttributeMap | ErrorResult {
  const out: AttributeMap = new Map();
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object' || Array.isArray(raw)) return fail('invalidParameterValue', 'MessageSystemAttributes', '(not a map)');
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (name !== 'AWSTraceHeader') return fail('invalidAttributeName', name, '(the only message system attribute a send may set is AWSTraceHeader)');
    const value = attrValue('MessageSystemAttributes', name, v);
    if ('ok' in value) return value;
    if (value.dataType !== 'String') return fail('invalidParameterValue', 'MessageSystemAttributes', '(AWSTraceHeader is a String)');
    out.set(name, value);
  }
  return out;
}

/** Which message system attributes ReceiveMessage reports, and from what. */
const SYSTEM_ATTRIBUTE_NAMES = [
  'SenderId',
  'SentTimestamp',
  'ApproximateReceiveCount',
  'ApproximateFirstReceiveTimestamp',
  'SequenceNumber',
  'MessageDeduplicationId',
  'MessageGroupId',
  'AWSTraceHeader',
  'DeadLetterQueueSourceArn',
] as const;

/**
 * The system attribute names a receive asked for (AttributeNames and MessageSystemAttributeNames
 * together; 'All' is every one). The older AttributeNames member is typed with queue attribute
 * names in the model, so those are accepted too and report nothing.
 */
export function requestedSystemAttributes(lists: (readonly string[] | undefined)[], queueAttributeNames: ReadonlySet<string>): Set<string> | ErrorResult {
  const known = new Set<string>(SYSTEM_ATTRIBUTE_NAMES);
  const out = new Set<string>();
  for (const list of lists) {
    for (const n of list ?? []) {
      if (n === 'All') for (const a of SYSTEM_ATTRIBUTE_NAMES) out.add(a);
      else if (known.has(n)) out.add(n);
      else if (!queueAttributeNames.has(n)) return fail('invalidAttributeName', n);
    }
  }
  return out;
}

/** MessageAttributeNames of a receive: 'All' or '.*' (every one), a name, or 'prefix.*'. */
function attributeSelector(names: readonly string[] | undefined): (name: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  let all = false;
  for (const n of names ?? []) {
    if (n === 'All' || n === '.*') all = true;
    else if (n.endsWith('.*')) prefixes.push(n.slice(0, -1));
    else exact.add(n);
  }
  return (name) => all || exact.has(name) || prefixes.some((p) => name.startsWith(p));
}

function renderAttributes(m: AttributeMap): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, v] of m) {
    out[name] =
      v.binaryValue !== undefined && v.stringValue === undefined
        ? { DataType: v.dataType, BinaryValue: Buffer.from(v.binaryValue).toString('base64') }
        : { DataType: v.dataType, StringValue: v.stringValue ?? '' };
  }
  return out;
}

/**
 * The digest of the Body the client gets: the one stored with an SQS message's envelope, else that
 * of the stored bytes when they are UTF-8, else of the UTF-8 of the text they decode to (a CMQ body
 * that is not UTF-8).
 */
function bodyDigest(envelope: MessageEnvelope | undefined, bytes: Buffer): string {
  if (envelope?.bodyMd5 !== undefined) return Buffer.from(envelope.bodyMd5.buffer, envelope.bodyMd5.byteOffset, envelope.bodyMd5.byteLength).toString('hex');
  return md5OfBody(isUtf8(bytes) ? bytes : Buffer.from(bytes.toString('utf8'), 'utf8'));
}

export interface ReceiveSelection {
  system: Set<string>;
  attribute: (name: string) => boolean;
  /** Whether `attribute` may select any name (false: the receive asked for no message attributes). */
  anyAttribute: boolean;
  /** Whether an envelope's attributes must be decoded: some are asked for, or a system attribute kept there. */
  decodesEnvelope: boolean;
}

/** What a receive reports of each message: made once per receive, not per message. */
export function receiveSelection(system: Set<string>, messageAttributeNames: readonly string[] | undefined): ReceiveSelection {
  const anyAttribute = (messageAttributeNames?.length ?? 0) > 0;
  return {
    system,
    attribute: attributeSelector(messageAttributeNames),
    anyAttribute,
    decodesEnvelope: anyAttribute || ENVELOPE_SYSTEM_ATTRIBUTES.some((n) => system.has(n)),
  };
}

/** The system attributes an SQS message keeps in its envelope (the others are the broker's). */
const ENVELOPE_SYSTEM_ATTRIBUTES: readonly string[] = ['SenderId', 'AWSTraceHeader', 'MessageGroupId', 'MessageDeduplicationId'];

/**
 * One received message as ReceiveMessage returns it. An enveloped body is unwrapped; a plain one
 * (sent through the CMQ API) is the body as it is, read as UTF-8, with no message attributes and
 * no SenderId. MD5OfBody is over the Body string the client gets (so it checks out even for a
 * CMQ body that is not valid UTF-8). The envelope's attributes are decoded only when the receive
 * asked for some of them.
 */
export function renderReceived(m: DeliveredMessage, sel: ReceiveSelection): Record<string, unknown> {
  const envelope: MessageEnvelope | undefined = m.enveloped ? decodeEnvelope(m.bodyBytes, sel.decodesEnvelope ? 'all' : 'body') : undefined;
  const bodyBytes = envelope?.body ?? m.bodyBytes;
  const bytes = Buffer.from(bodyBytes.buffer, bodyBytes.byteOffset, bodyBytes.byteLength);
  const out: Record<string, unknown> = {
    MessageId: m.msgId,
    ReceiptHandle: m.receiptHandle,
    MD5OfBody: bodyDigest(envelope, bytes),
    // Rendered from its bytes (decoded as UTF-8): a JSON answer copies them, no string made.
    Body: new Utf8JsonString(bytes),
  };
  if (sel.system.size > 0) {
    const system: Record<string, string> = {};
    for (const name of SYSTEM_ATTRIBUTE_NAMES) {
      if (!sel.system.has(name)) continue;
      const v = systemAttribute(m, envelope, name);
      if (v !== undefined) system[name] = v;
    }
    if (Object.keys(system).length > 0) out['Attributes'] = system;
  }
  if (sel.anyAttribute && envelope !== undefined) {
    const attrs: AttributeMap = new Map();
    for (const [name, v] of envelope.attributes) if (sel.attribute(name)) attrs.set(name, v);
    if (attrs.size > 0) {
      out['MD5OfMessageAttributes'] = md5OfMessageAttributes(attrs);
      out['MessageAttributes'] = renderAttributes(attrs);
    }
  }
  return out;
}

function systemAttribute(m: DeliveredMessage, envelope: MessageEnvelope | undefined, name: (typeof SYSTEM_ATTRIBUTE_NAMES)[number]): string | undefined {
  switch (name) {
    case 'SenderId':
    case 'AWSTraceHeader':
    case 'MessageDeduplicationId':
      return envelope?.system.get(name)?.stringValue;
    case 'SentTimestamp':
      return String(m.enqueueMs);
    case 'ApproximateReceiveCount':
      return String(m.dequeueCount);
    case 'ApproximateFirstReceiveTimestamp':
      return String(m.firstDequeueMs);
    // A FIFO queue's messages carry their group in the broker; a standard queue's group id (SQS
    // fair queues) is in the envelope only. SequenceNumber is a FIFO queue's, as in SQS.
    case 'MessageGroupId':
      return envelope?.system.get('MessageGroupId')?.stringValue ?? m.groupId;
    case 'SequenceNumber':
      return m.groupId !== undefined ? m.sequenceNumber : undefined;
    case 'DeadLetterQueueSourceArn':
      return undefined;
  }
}
