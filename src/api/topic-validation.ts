// Validation of topic and subscription parameters (spec §3.1–§3.4): every type and range check
// that does not depend on state, so nothing invalid reaches QueueService.submit. The broker checks
// the rest (existence, limits, body size against the topic's maxMsgSize, a routingKey or
// bindingKey that a filterType 2 topic needs).

import type { Command } from '../broker/commands';
import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS, TOPIC_ATTR_RANGES } from '../protocol/limits';
import { RESOURCE_NAME_RE } from '../protocol/names';
import {
  FILTER_TYPE,
  NOTIFY_CONTENT_FORMATS,
  NOTIFY_STRATEGIES,
  SUBSCRIPTION_PROTOCOLS,
  type NotifyContentFormat,
  type NotifyStrategy,
  type SubscriptionProtocol,
  type TopicFilterType,
} from '../protocol/topic-types';
import type { FormParams } from './form';
import { arrayParam, isError, optionalInt, optionalString, requiredString, type IntRange } from './params';
import { batchBodiesParam, bodyBytes, withDedupId } from './queue-validation';

const FILTER_TYPE_RANGE: IntRange = { min: FILTER_TYPE.tag, max: FILTER_TYPE.routingKey };
/** ListSubscriptionByTopic (spec §3.3): offset 0–1000; limit 0–100 (clamped, like ListQueue's 50). */
const SUBSCRIPTION_OFFSET_RANGE: IntRange = { min: 0, max: 1000 };
const ANY_NON_NEGATIVE: IntRange = { min: 0, max: Number.MAX_SAFE_INTEGER };
const SUBSCRIPTION_LIST_LIMIT_MAX = 100;

/** A topic name: missing → 4000/10390, bad format → 4000/10590. */
export function topicNameParam(p: FormParams): string | ErrorResult {
  const v = requiredString(p, 'topicName');
  if (isError(v)) return v;
  return RESOURCE_NAME_RE.test(v) ? v : fail('topicNameFormat');
}

/** A subscription name: missing → 4000/10390, bad format → 4000/10620. */
export function subscriptionNameParam(p: FormParams): string | ErrorResult {
  const v = requiredString(p, 'subscriptionName');
  if (isError(v)) return v;
  return RESOURCE_NAME_RE.test(v) ? v : fail('subscriptionNameFormat');
}

export interface SubscriptionRef {
  topicName: string;
  subscriptionName: string;
}

export function subscriptionRefParams(p: FormParams): SubscriptionRef | ErrorResult {
  const topicName = topicNameParam(p);
  if (isError(topicName)) return topicName;
  const subscriptionName = subscriptionNameParam(p);
  if (isError(subscriptionName)) return subscriptionName;
  return { topicName, subscriptionName };
}

/** maxMsgSize 1024–1048576 (spec §3.1 [rec]): not an integer → 10360, out of range → 10350. */
export function topicMaxMsgSizeParam(p: FormParams): number | undefined | ErrorResult {
  return optionalInt(p, 'maxMsgSize', TOPIC_ATTR_RANGES.maxMsgSize);
}

export function createTopicParams(p: FormParams): Extract<Command, { kind: 'createTopic' }> | ErrorResult {
  const topicName = topicNameParam(p);
  if (isError(topicName)) return topicName;
  const maxMsgSize = topicMaxMsgSizeParam(p);
  if (isError(maxMsgSize)) return maxMsgSize;
  const filterType = optionalInt(p, 'filterType', FILTER_TYPE_RANGE);
  if (isError(filterType)) return filterType;
  return {
    kind: 'createTopic',
    topicName,
    maxMsgSize: maxMsgSize ?? TOPIC_ATTR_RANGES.maxMsgSize.def,
    filterType: (filterType ?? FILTER_TYPE.tag) as TopicFilterType,
  };
}

export interface SubscriptionListParams {
  topicName: string;
  searchWord: string | undefined;
  offset: number;
  limit: number;
}

export function listSubscriptionParams(p: FormParams): SubscriptionListParams | ErrorResult {
  const topicName = topicNameParam(p);
  if (isError(topicName)) return topicName;
  const offset = optionalInt(p, 'offset', SUBSCRIPTION_OFFSET_RANGE);
  if (isError(offset)) return offset;
  const limit = optionalInt(p, 'limit', ANY_NON_NEGATIVE);
  if (isError(limit)) return limit;
  return {
    topicName,
    searchWord: optionalString(p, 'searchWord'),
    offset: offset ?? 0,
    limit: Math.min(limit ?? LIMITS.listLimitDefault, SUBSCRIPTION_LIST_LIMIT_MAX),
  };
}

/** Length in characters (code points), as the 16-character tag limit counts them. */
function charCount(s: string): number {
  return [...s].length;
}

/**
 * A tag list (`msgTag.N` or `filterTag.N`): at most 5 tags of at most 16 characters, else
 * `tooMany` (10720 for msgTag, 10490 for filterTag). Empty items are dropped: they can match
 * nothing a client could mean. Absent → undefined.
 */
function tagListParam(p: FormParams, name: string, itemsMax: number, tooMany: ErrorResult): string[] | undefined | ErrorResult {
  const items = arrayParam(p, name, false, itemsMax, tooMany);
  if (isError(items)) return items;
  if (items.length === 0) return undefined;
  const tags = items.filter((t) => t !== '');
  for (const t of tags) if (charCount(t) > LIMITS.tagCharsMax) return tooMany;
  return tags;
}

export function msgTagsParam(p: FormParams): string[] | ErrorResult {
  const tags = tagListParam(p, 'msgTag', LIMITS.msgTagsMax, fail('msgTagTooMany'));
  return tags ?? [];
}

export function filterTagsParam(p: FormParams): string[] | undefined | ErrorResult {
  return tagListParam(p, 'filterTag', LIMITS.filterTagsMax, fail('filterTagLimit'));
}

/** A routing or binding key: ≤ 64 bytes of UTF-8 and ≤ 15 dots, else 4000/10691. */
export function routingKeyValue(key: string): string | ErrorResult {
  if (Buffer.byteLength(key, 'utf8') > LIMITS.routingKeyBytesMax) return fail('keyTooManyDelimiters', undefined, '(longer than 64 bytes)');
  let dots = 0;
  for (const c of key) if (c === '.') dots++;
  return dots > LIMITS.routingKeyDotsMax ? fail('keyTooManyDelimiters') : key;
}

/** routingKey: optional ('' when absent or empty; a filterType 2 topic then refuses it, 10700). */
export function routingKeyParam(p: FormParams): string | ErrorResult {
  return routingKeyValue(p.get('routingKey') ?? '');
}

/** `bindingKey.N`: at most 5 (10680), each a valid key (10691); empty items dropped. Absent → undefined. */
export function bindingKeysParam(p: FormParams): string[] | undefined | ErrorResult {
  const items = arrayParam(p, 'bindingKey', false, LIMITS.bindingKeysMax, fail('bindingKeyTooMany'));
  if (isError(items)) return items;
  if (items.length === 0) return undefined;
  const keys = items.filter((k) => k !== '');
  for (const k of keys) {
    const v = routingKeyValue(k);
    if (isError(v)) return v;
  }
  return keys;
}

export interface PublishParams {
  topicName: string;
  bodies: Buffer[];
  msgTags: string[];
  routingKey: string;
  dedupId?: string;
}

function publishFilterParams(p: FormParams): { msgTags: string[]; routingKey: string } | ErrorResult {
  const msgTags = msgTagsParam(p);
  if (isError(msgTags)) return msgTags;
  const routingKey = routingKeyParam(p);
  if (isError(routingKey)) return routingKey;
  return { msgTags, routingKey };
}

export function publishMessageParams(p: FormParams): PublishParams | ErrorResult {
  const topicName = topicNameParam(p);
  if (isError(topicName)) return topicName;
  const body = bodyBytes(p, 'msgBody');
  if (isError(body)) return body;
  const f = publishFilterParams(p);
  if (isError(f)) return f;
  return withDedupId<PublishParams>(p, { topicName, bodies: [body], ...f });
}

export function batchPublishMessageParams(p: FormParams): PublishParams | ErrorResult {
  const topicName = topicNameParam(p);
  if (isError(topicName)) return topicName;
  const bodies = batchBodiesParam(p);
  if (isError(bodies)) return bodies;
  const f = publishFilterParams(p);
  if (isError(f)) return f;
  return withDedupId<PublishParams>(p, { topicName, bodies, ...f });
}

/** protocol: `http` or `queue`, case-insensitive, stored lower case; anything else → 10510. */
export function protocolParam(p: FormParams): SubscriptionProtocol | ErrorResult {
  const v = requiredString(p, 'protocol');
  if (isError(v)) return v;
  const lower = v.toLowerCase();
  return (SUBSCRIPTION_PROTOCOLS as readonly string[]).includes(lower) ? (lower as SubscriptionProtocol) : fail('protocolUndefined');
}

const WHITESPACE_RE = /\s/u;
const HTTP_PREFIX_RE = /^http:\/\//i;

/**
 * endpoint (spec §3.2): whitespace → 4510/10570; http: must start with `http://`, be at most 500
 * characters and parse as a URL with a host, else 4000/10500; queue: a valid queue name, else 10500.
 */
export function endpointParam(p: FormParams, protocol: SubscriptionProtocol): string | ErrorResult {
  const v = requiredString(p, 'endpoint');
  if (isError(v)) return v;
  if (WHITESPACE_RE.test(v)) return fail('endpointBlank');
  if (protocol === 'queue') return RESOURCE_NAME_RE.test(v) ? v : fail('endpointFormat', undefined, '(not a queue name)');
  if (v.length > LIMITS.endpointCharsMax) return fail('endpointFormat', undefined, '(longer than 500 characters)');
  if (!HTTP_PREFIX_RE.test(v)) return fail('endpointFormat', undefined, '(must start with http://)');
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return fail('endpointFormat', undefined, '(not a URL)');
  }
  return url.hostname === '' ? fail('endpointFormat', undefined, '(no host)') : v;
}

/** notifyStrategy: BACKOFF_RETRY | EXPONENTIAL_DECAY_RETRY (any case), else 10520; empty = absent. */
export function notifyStrategyParam(p: FormParams): NotifyStrategy | undefined | ErrorResult {
  const v = optionalString(p, 'notifyStrategy');
  if (v === undefined) return undefined;
  const upper = v.toUpperCase();
  return (NOTIFY_STRATEGIES as readonly string[]).includes(upper) ? (upper as NotifyStrategy) : fail('notifyStrategyUndefined');
}

/**
 * notifyContentFormat: JSON | SIMPLIFIED (any case), else 10530; empty = absent. JSON is accepted
 * for queue subscriptions too (spec §3.5 [rec]): they get the raw body either way.
 */
export function notifyContentFormatParam(p: FormParams): NotifyContentFormat | undefined | ErrorResult {
  const v = optionalString(p, 'notifyContentFormat');
  if (v === undefined) return undefined;
  const upper = v.toUpperCase();
  return (NOTIFY_CONTENT_FORMATS as readonly string[]).includes(upper)
    ? (upper as NotifyContentFormat)
    : fail('notifyContentFormatUndefined');
}

/** Defaults (spec §3.2): EXPONENTIAL_DECAY_RETRY; JSON for http, SIMPLIFIED for queue. */
export const DEFAULT_NOTIFY_STRATEGY: NotifyStrategy = 'EXPONENTIAL_DECAY_RETRY';

export function subscribeParams(p: FormParams): Extract<Command, { kind: 'subscribe' }> | ErrorResult {
  const ref = subscriptionRefParams(p);
  if (isError(ref)) return ref;
  const protocol = protocolParam(p);
  if (isError(protocol)) return protocol;
  const endpoint = endpointParam(p, protocol);
  if (isError(endpoint)) return endpoint;
  const notifyStrategy = notifyStrategyParam(p);
  if (isError(notifyStrategy)) return notifyStrategy;
  const notifyContentFormat = notifyContentFormatParam(p);
  if (isError(notifyContentFormat)) return notifyContentFormat;
  const filterTags = filterTagsParam(p);
  if (isError(filterTags)) return filterTags;
  const bindingKeys = bindingKeysParam(p);
  if (isError(bindingKeys)) return bindingKeys;
  return {
    kind: 'subscribe',
    ...ref,
    protocol,
    endpoint,
    notifyStrategy: notifyStrategy ?? DEFAULT_NOTIFY_STRATEGY,
    notifyContentFormat: notifyContentFormat ?? (protocol === 'queue' ? 'SIMPLIFIED' : 'JSON'),
    filterTags: filterTags ?? [],
    bindingKeys: bindingKeys ?? [],
  };
}

/**
 * SetSubscriptionAttributes: only what the request carries changes; a present `filterTag.N` or
 * `bindingKey.N` replaces the whole set. protocol and endpoint cannot change and are ignored.
 */
export function setSubscriptionParams(p: FormParams): Extract<Command, { kind: 'setSubscriptionAttributes' }> | ErrorResult {
  const ref = subscriptionRefParams(p);
  if (isError(ref)) return ref;
  const notifyStrategy = notifyStrategyParam(p);
  if (isError(notifyStrategy)) return notifyStrategy;
  const notifyContentFormat = notifyContentFormatParam(p);
  if (isError(notifyContentFormat)) return notifyContentFormat;
  const filterTags = filterTagsParam(p);
  if (isError(filterTags)) return filterTags;
  const bindingKeys = bindingKeysParam(p);
  if (isError(bindingKeys)) return bindingKeys;
  const cmd: Extract<Command, { kind: 'setSubscriptionAttributes' }> = { kind: 'setSubscriptionAttributes', ...ref };
  if (notifyStrategy !== undefined) cmd.notifyStrategy = notifyStrategy;
  if (notifyContentFormat !== undefined) cmd.notifyContentFormat = notifyContentFormat;
  if (filterTags !== undefined) cmd.filterTags = filterTags;
  if (bindingKeys !== undefined) cmd.bindingKeys = bindingKeys;
  return cmd;
}
