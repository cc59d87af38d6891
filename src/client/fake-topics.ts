// The topic half of InMemoryCmq: topics, subscriptions, tag and routing-key filtering, and
// delivery into queue subscriptions through a callback into the queue half. Same errors as the
// server (CmqError with its codes). http subscriptions are accepted and matched, but nothing is
// POSTed: their msgCount stays 0.

import type { FakeDedup } from './fake-dedup';
import { CmqError } from './errors';
import { checkBatchBytes } from './fake-batch';
import type {
  CmqTopicApi,
  CreateTopicOptions,
  ListOptions,
  PublishOptions,
  SubscribeOptions,
  SubscriptionAttributes,
  SubscriptionAttributesInput,
  SubscriptionList,
  TopicAttributes,
  TopicAttributesInput,
  TopicList,
} from './types';
import type { ErrorName } from '../protocol/errors';
import { LIMITS, TOPIC_ATTR_RANGES } from '../protocol/limits';
import { isValidResourceName } from '../protocol/names';
import {
  FILTER_TYPE,
  isTopicFilterType,
  NOTIFY_CONTENT_FORMATS,
  NOTIFY_STRATEGIES,
  SUBSCRIPTION_PROTOCOLS,
  TOPIC_RETENTION_SECONDS,
  type NotifyContentFormat,
  type NotifyStrategy,
  type TopicFilterType,
} from '../protocol/topic-types';

/** What the topic half needs from the queue half. */
export interface TopicHost {
  now(): number;
  /** Runs a synchronous operation as an async call, turning throws into rejections. */
  run<T>(op: () => T): Promise<T>;
  /** A fresh msgId for each body. */
  nextMsgIds(count: number): string[];
  /** Enqueue into a subscribed queue; a missing or refusing queue drops the delivery silently. */
  deliver(queueName: string, bodies: readonly string[], msgIds: readonly string[]): void;
  /** The fake's deduplication of sends and publishes (a dedupId). */
  readonly dedup: FakeDedup;
}

interface StoredSubscription {
  subscriptionId: string;
  name: string;
  protocol: SubscribeOptions['protocol'];
  endpoint: string;
  notifyStrategy: NotifyStrategy;
  notifyContentFormat: NotifyContentFormat;
  filterTags: string[];
  bindingKeys: string[];
  createMs: number;
  modifyMs: number;
}

interface StoredTopic {
  topicId: string;
  name: string;
  maxMsgSize: number;
  filterType: TopicFilterType;
  createMs: number;
  modifyMs: number;
  subscriptions: StoredSubscription[];
}

function fail(name: ErrorName, arg?: string): never {
  throw CmqError.fromName(name, arg);
}

function sec(ms: number): number {
  return Math.floor(ms / 1000);
}

/** `*` is exactly one non-empty word, `#` zero or more words, anything else itself (spec §3.4). */
export function bindingKeyMatches(pattern: readonly string[], words: readonly string[]): boolean {
  const [p, ...restP] = pattern;
  if (p === undefined) return words.length === 0;
  if (p === '#') {
    for (let k = 0; k <= words.length; k++) if (bindingKeyMatches(restP, words.slice(k))) return true;
    return false;
  }
  const [w, ...restW] = words;
  if (w === undefined) return false;
  return (p === '*' ? w !== '' : p === w) && bindingKeyMatches(restP, restW);
}

function checkKey(key: string): void {
  if (Buffer.byteLength(key) > LIMITS.routingKeyBytesMax || key.split('.').length - 1 > LIMITS.routingKeyDotsMax) fail('keyTooManyDelimiters');
}

function checkTags(tags: readonly string[] | undefined, error: ErrorName, max: number): string[] | undefined {
  if (tags === undefined) return undefined;
  const kept = tags.filter((t) => t !== '');
  if (tags.length > max || kept.some((t) => [...t].length > LIMITS.tagCharsMax)) fail(error);
  return kept;
}

function checkKeys(keys: readonly string[] | undefined): string[] | undefined {
  if (keys === undefined) return undefined;
  if (keys.length > LIMITS.bindingKeysMax) fail('bindingKeyTooMany');
  const kept = keys.filter((k) => k !== '');
  kept.forEach(checkKey);
  return kept;
}

function checkSettings(attrs: SubscriptionAttributesInput): void {
  if (attrs.notifyStrategy !== undefined && !NOTIFY_STRATEGIES.includes(attrs.notifyStrategy)) fail('notifyStrategyUndefined');
  if (attrs.notifyContentFormat !== undefined && !NOTIFY_CONTENT_FORMATS.includes(attrs.notifyContentFormat)) fail('notifyContentFormatUndefined');
}

function checkMaxMsgSize(v: number | undefined): void {
  const r = TOPIC_ATTR_RANGES.maxMsgSize;
  if (v !== undefined && (!Number.isInteger(v) || v < r.min || v > r.max)) fail('paramOutOfRange', 'maxMsgSize');
}

export class InMemoryTopics implements CmqTopicApi {
  private readonly topics = new Map<string, StoredTopic>();
  private idCounter = 0;

  constructor(private readonly host: TopicHost) {}

  createTopic(topicName: string, opts: CreateTopicOptions = {}): Promise<string> {
    return this.host.run(() => {
      if (!isValidResourceName(topicName)) fail('topicNameFormat');
      checkMaxMsgSize(opts.maxMsgSize);
      if (opts.filterType !== undefined && !isTopicFilterType(opts.filterType)) fail('paramOutOfRange', 'filterType');
      const lower = topicName.toLowerCase();
      for (const t of this.topics.values()) if (t.name.toLowerCase() === lower) fail('topicExists');
      if (this.topics.size >= LIMITS.topicCountMax) fail('topicLimit');
      const now = this.host.now();
      const topic: StoredTopic = {
        topicId: `topic-${++this.idCounter}`,
        name: topicName,
        maxMsgSize: opts.maxMsgSize ?? TOPIC_ATTR_RANGES.maxMsgSize.def,
        filterType: opts.filterType ?? FILTER_TYPE.tag,
        createMs: now,
        modifyMs: now,
        subscriptions: [],
      };
      this.topics.set(topicName, topic);
      return topic.topicId;
    });
  }

  setTopicAttributes(topicName: string, attrs: TopicAttributesInput): Promise<void> {
    return this.host.run(() => {
      // As on the server: the name's form and the request's values before the topic's existence.
      if (!isValidResourceName(topicName)) fail('topicNameFormat');
      checkMaxMsgSize(attrs.maxMsgSize);
      const t = this.topic(topicName);
      if (attrs.maxMsgSize === undefined) return;
      t.maxMsgSize = attrs.maxMsgSize;
      t.modifyMs = this.host.now();
    });
  }

  listTopics(opts: ListOptions = {}): Promise<TopicList> {
    return this.host.run(() => {
      const { totalCount, page } = pageOf([...this.topics.values()], opts, LIMITS.listLimitMax);
      return { totalCount, topics: page.map((t) => ({ topicId: t.topicId, topicName: t.name })) };
    });
  }

  getTopicAttributes(topicName: string): Promise<TopicAttributes> {
    return this.host.run(() => {
      const t = this.topic(topicName);
      return {
        topicId: t.topicId,
        topicName: t.name,
        msgCount: 0,
        maxMsgSize: t.maxMsgSize,
        msgRetentionSeconds: TOPIC_RETENTION_SECONDS,
        filterType: t.filterType,
        createTime: sec(t.createMs),
        lastModifyTime: sec(t.modifyMs),
      };
    });
  }

  deleteTopic(topicName: string): Promise<void> {
    return this.host.run(() => {
      const t = this.topic(topicName);
      if (t.subscriptions.length > 0) fail('topicHasSubscriptions');
      this.topics.delete(topicName);
    });
  }

  publishMessage(topicName: string, body: string | Buffer, opts: PublishOptions = {}): Promise<string> {
    return this.host.run(() => this.publish(topicName, [body], opts)[0] ?? '');
  }

  batchPublishMessage(topicName: string, bodies: ReadonlyArray<string | Buffer>, opts: PublishOptions = {}): Promise<string[]> {
    return this.host.run(() => {
      if (bodies.length === 0) return [];
      if (bodies.length > LIMITS.batchItemsMax) fail('batchSizeOutOfRange', 'msgBody');
      checkBatchBytes(bodies);
      return this.publish(topicName, bodies, opts);
    });
  }

  subscribe(topicName: string, subscriptionName: string, opts: SubscribeOptions): Promise<string> {
    return this.host.run(() => {
      if (!isValidResourceName(topicName)) fail('topicNameFormat');
      if (!isValidResourceName(subscriptionName)) fail('subscriptionNameFormat');
      const protocol = String(opts.protocol).toLowerCase();
      if (!(SUBSCRIPTION_PROTOCOLS as readonly string[]).includes(protocol)) fail('protocolUndefined');
      if (/\s/u.test(opts.endpoint)) fail('endpointBlank');
      const endpointOk =
        protocol === 'queue'
          ? isValidResourceName(opts.endpoint)
          : /^http:\/\/[^/?#]+/i.test(opts.endpoint) && opts.endpoint.length <= LIMITS.endpointCharsMax;
      if (!endpointOk) fail('endpointFormat');
      checkSettings(opts);
      const filterTags = checkTags(opts.filterTags, 'filterTagLimit', LIMITS.filterTagsMax) ?? [];
      const bindingKeys = checkKeys(opts.bindingKeys) ?? [];
      const t = this.topic(topicName);
      const lower = subscriptionName.toLowerCase();
      if (t.subscriptions.some((s) => s.name.toLowerCase() === lower)) fail('subscriptionExists');
      if (t.subscriptions.length >= LIMITS.subscriptionsPerTopicMax) fail('subscriptionLimit');
      if (t.filterType === FILTER_TYPE.routingKey && bindingKeys.length === 0) fail('bindingKeyMissing');
      const now = this.host.now();
      const sub: StoredSubscription = {
        subscriptionId: `subsc-${++this.idCounter}`,
        name: subscriptionName,
        protocol: protocol === 'http' ? 'http' : 'queue',
        endpoint: opts.endpoint,
        notifyStrategy: opts.notifyStrategy ?? 'EXPONENTIAL_DECAY_RETRY',
        notifyContentFormat: opts.notifyContentFormat ?? (protocol === 'queue' ? 'SIMPLIFIED' : 'JSON'),
        filterTags,
        bindingKeys,
        createMs: now,
        modifyMs: now,
      };
      t.subscriptions.push(sub);
      return sub.subscriptionId;
    });
  }

  listSubscriptions(topicName: string, opts: ListOptions = {}): Promise<SubscriptionList> {
    return this.host.run(() => {
      const { totalCount, page } = pageOf(this.topic(topicName).subscriptions, opts, 100);
      return {
        totalCount,
        subscriptions: page.map((s) => ({ subscriptionId: s.subscriptionId, subscriptionName: s.name, protocol: s.protocol, endpoint: s.endpoint })),
      };
    });
  }

  setSubscriptionAttributes(topicName: string, subscriptionName: string, attrs: SubscriptionAttributesInput): Promise<void> {
    return this.host.run(() => {
      checkSettings(attrs);
      const filterTags = checkTags(attrs.filterTags, 'filterTagLimit', LIMITS.filterTagsMax);
      const bindingKeys = checkKeys(attrs.bindingKeys);
      const { topic, sub } = this.subscription(topicName, subscriptionName);
      if (topic.filterType === FILTER_TYPE.routingKey && bindingKeys?.length === 0) fail('bindingKeyMissing');
      if (attrs.notifyStrategy !== undefined) sub.notifyStrategy = attrs.notifyStrategy;
      if (attrs.notifyContentFormat !== undefined) sub.notifyContentFormat = attrs.notifyContentFormat;
      if (filterTags !== undefined) sub.filterTags = filterTags;
      if (bindingKeys !== undefined) sub.bindingKeys = bindingKeys;
      sub.modifyMs = this.host.now();
    });
  }

  getSubscriptionAttributes(topicName: string, subscriptionName: string): Promise<SubscriptionAttributes> {
    return this.host.run(() => {
      const { sub } = this.subscription(topicName, subscriptionName);
      return {
        topicOwner: '0',
        msgCount: 0,
        protocol: sub.protocol,
        endpoint: sub.endpoint,
        notifyStrategy: sub.notifyStrategy,
        notifyContentFormat: sub.notifyContentFormat,
        filterTags: [...sub.filterTags],
        bindingKeys: [...sub.bindingKeys],
        createTime: sec(sub.createMs),
        lastModifyTime: sec(sub.modifyMs),
      };
    });
  }

  unsubscribe(topicName: string, subscriptionName: string): Promise<void> {
    return this.host.run(() => {
      const { topic, sub } = this.subscription(topicName, subscriptionName);
      topic.subscriptions = topic.subscriptions.filter((s) => s !== sub);
    });
  }

  clearSubscriptionFilterTags(topicName: string, subscriptionName: string): Promise<void> {
    return this.host.run(() => {
      const { sub } = this.subscription(topicName, subscriptionName);
      sub.filterTags = [];
      sub.modifyMs = this.host.now();
    });
  }

  // ---- internals ----

  private topic(name: string): StoredTopic {
    if (!isValidResourceName(name)) fail('topicNameFormat');
    const t = this.topics.get(name);
    if (t === undefined) fail('topicNotExist');
    return t;
  }

  private subscription(topicName: string, subscriptionName: string): { topic: StoredTopic; sub: StoredSubscription } {
    if (!isValidResourceName(topicName)) fail('topicNameFormat');
    if (!isValidResourceName(subscriptionName)) fail('subscriptionNameFormat');
    const topic = this.topic(topicName);
    const sub = topic.subscriptions.find((s) => s.name === subscriptionName);
    if (sub === undefined) fail('subscriptionNotExist');
    return { topic, sub };
  }

  /** The server's checks in the broker's order, then delivery to every matching queue subscription. */
  private publish(topicName: string, bodies: ReadonlyArray<string | Buffer>, opts: PublishOptions): string[] {
    const msgTags = checkTags(opts.tags, 'msgTagTooMany', LIMITS.msgTagsMax) ?? [];
    const routingKey = opts.routingKey ?? '';
    checkKey(routingKey);
    const texts = bodies.map((b) => (typeof b === 'string' ? b : b.toString('utf8')));
    if (texts.some((b) => b === '')) fail('msgBodyEmpty');
    const t = this.topic(topicName);
    if (texts.some((b) => Buffer.byteLength(b) > t.maxMsgSize)) fail('msgTooLarge');
    if (t.filterType === FILTER_TYPE.routingKey && routingKey === '') fail('routingKeyMissing');
    if (t.subscriptions.length === 0) fail('topicNoSubscription');
    const words = routingKey.split('.');
    const matching = t.subscriptions.filter((s) =>
      t.filterType === FILTER_TYPE.tag
        ? s.filterTags.length === 0 || msgTags.some((tag) => s.filterTags.includes(tag))
        : s.bindingKeys.some((k) => bindingKeyMatches(k.split('.'), words)),
    );
    if (matching.length === 0) fail('topicNoMatch');
    const first = this.host.dedup.recall(`t:${topicName}`, opts.dedupId, this.host.now());
    if (first !== undefined) return first;
    const msgIds = this.host.nextMsgIds(texts.length);
    for (const s of matching) if (s.protocol === 'queue') this.host.deliver(s.endpoint, texts, msgIds);
    this.host.dedup.remember(`t:${topicName}`, opts.dedupId, msgIds, this.host.now());
    return msgIds;
  }
}

function pageOf<T extends { name: string }>(all: readonly T[], opts: ListOptions, limitMax: number): { totalCount: number; page: T[] } {
  const word = opts.searchWord?.toLowerCase() ?? '';
  const matching = all.filter((x) => x.name.toLowerCase().includes(word)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const offset = Math.max(0, opts.offset ?? 0);
  const limit = Math.min(limitMax, Math.max(0, opts.limit ?? LIMITS.listLimitDefault));
  return { totalCount: matching.length, page: matching.slice(offset, offset + limit) };
}
