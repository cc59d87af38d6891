// Topic and subscription settings as they travel on the wire (spec §3.1, §3.2): shared by the
// server (api/, broker/) and the SDK (client/), so all three agree on one definition.

/** A topic's filterType on the wire: 1 filters by tag (filterTag / msgTag), 2 by routing key (bindingKey / routingKey). */
export const FILTER_TYPE = { tag: 1, routingKey: 2 } as const;
export type TopicFilterType = (typeof FILTER_TYPE)[keyof typeof FILTER_TYPE];

/** For decoders: a stored or received number is one of the FILTER_TYPE values. */
export function isTopicFilterType(v: unknown): v is TopicFilterType {
  return v === FILTER_TYPE.tag || v === FILTER_TYPE.routingKey;
}

/** Stored lower case (spec §3.2 [rec]: matched case-insensitively). */
export const SUBSCRIPTION_PROTOCOLS = ['queue', 'http'] as const;
export type SubscriptionProtocol = (typeof SUBSCRIPTION_PROTOCOLS)[number];

export const NOTIFY_STRATEGIES = ['BACKOFF_RETRY', 'EXPONENTIAL_DECAY_RETRY'] as const;
export type NotifyStrategy = (typeof NOTIFY_STRATEGIES)[number];

export const NOTIFY_CONTENT_FORMATS = ['JSON', 'SIMPLIFIED'] as const;
export type NotifyContentFormat = (typeof NOTIFY_CONTENT_FORMATS)[number];

/** Topic msgRetentionSeconds: fixed by CMQ at one day, not settable (spec §3.1). */
export const TOPIC_RETENTION_SECONDS = 86_400;

/** GetTopicAttributes (spec §3.3); createUin, qps and tags are constants the API adds. */
export interface TopicAttributes {
  topicId: string;
  topicName: string;
  /** Messages still waiting for delivery: the sum of the subscriptions' msgCount. */
  msgCount: number;
  maxMsgSize: number;
  msgRetentionSeconds: number;
  filterType: TopicFilterType;
  /** Unix seconds. */
  createTime: number;
  lastModifyTime: number;
}

/** GetSubscriptionAttributes (spec §3.3); topicOwner is a constant the API adds. */
export interface SubscriptionAttributes {
  subscriptionId: string;
  subscriptionName: string;
  topicName: string;
  protocol: SubscriptionProtocol;
  endpoint: string;
  notifyStrategy: NotifyStrategy;
  notifyContentFormat: NotifyContentFormat;
  filterTags: string[];
  bindingKeys: string[];
  /** HTTP pushes still pending; 0 for queue subscriptions (delivered at publish). */
  msgCount: number;
  createTime: number;
  lastModifyTime: number;
}
