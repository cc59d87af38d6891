// The SDK's public data types and the queue and topic APIs that both CmqClient and the in-memory
// fake implement (so code written against CmqQueueApi / CmqTopicApi runs unchanged on either).

import type { QueueAttributeFields, QueueAttributesInput } from '../protocol/queue-types';
import type { NotifyContentFormat, NotifyStrategy, SubscriptionProtocol, TopicFilterType } from '../protocol/topic-types';

/** A received message. Times are Unix seconds, as the server returns them. */
export interface Message {
  msgId: string;
  body: string;
  /** Valid for deleting this message until nextVisibleTime; each receive issues a new one. */
  receiptHandle: string;
  enqueueTime: number;
  firstDequeueTime: number;
  nextVisibleTime: number;
  /** How many times the message has been received, this receive included. */
  dequeueCount: number;
}

export type { DeadLetterPolicy, QueueAttributesInput } from '../protocol/queue-types';

/**
 * What CreateQueue and SetQueueAttributes send: the attributes, and `shards` (opencmq extension,
 * a cluster of several sets): how many sets the queue spreads over (create), or grows to (set).
 */
export type QueueAttributesRequest = QueueAttributesInput & { shards?: number };

/** GetQueueAttributes (spec §2.3). Times are Unix seconds. */
export interface QueueAttributes extends QueueAttributeFields {
  /** Present when the server returns them (opencmq does). */
  queueId?: string;
  queueName?: string;
  /** opencmq extension: present for a queue of several shards, how many. */
  shards?: number;
}

export interface QueueSummary {
  queueId: string;
  queueName: string;
}

export interface QueueList {
  /** Matches before paging. */
  totalCount: number;
  queues: QueueSummary[];
}

export interface ListOptions {
  searchWord?: string;
  offset?: number;
  limit?: number;
}

/** Options of redriveDeadLetterQueue (opencmq extension). */
export interface RedriveOptions {
  /** Move every message to this queue; absent: each back to the queue it was dead-lettered from. */
  destinationQueue?: string;
  /** At most this many messages (1-1,000,000); absent: all (up to 1,000,000). */
  maxMessages?: number;
}

export interface SendOptions {
  delaySeconds?: number;
  /**
   * Deduplication id (opencmq extension, 1-128 printable ASCII characters): a send carrying an id
   * the queue saw within 5 minutes is answered with the first send's msgIds and not enqueued again.
   * Default: a fresh id per call (see CmqClientOptions.deduplicateSends); give your own to make a
   * send idempotent across process restarts (say, the id of the business operation).
   */
  dedupId?: string;
}

export interface ReceiveOptions {
  /** 0–30; when omitted the queue's pollingWaitSeconds applies. */
  pollingWaitSeconds?: number;
  /** Abandons the wait (the request fails with CmqNetworkError kind 'aborted'). */
  signal?: AbortSignal;
}

export interface BatchDeleteFailure {
  receiptHandle: string;
  code: number;
  message: string;
}

export interface BatchDeleteResult {
  /** Handles that were not deleted (e.g. 4430 expired or superseded). Empty when all succeeded. */
  failed: BatchDeleteFailure[];
}

/** Every classic CMQ queue action, typed. */
export interface CmqQueueApi {
  /** Returns the queueId. */
  createQueue(queueName: string, attrs?: QueueAttributesRequest): Promise<string>;
  listQueues(opts?: ListOptions): Promise<QueueList>;
  getQueueAttributes(queueName: string): Promise<QueueAttributes>;
  setQueueAttributes(queueName: string, attrs: QueueAttributesRequest): Promise<void>;
  deleteQueue(queueName: string): Promise<void>;
  /** Returns the msgId. */
  sendMessage(queueName: string, body: string | Buffer, opts?: SendOptions): Promise<string>;
  /** Returns the msgIds in request order. */
  batchSendMessage(queueName: string, bodies: ReadonlyArray<string | Buffer>, opts?: SendOptions): Promise<string[]>;
  /** undefined when no message arrived within the wait (code 7000). */
  receiveMessage(queueName: string, opts?: ReceiveOptions): Promise<Message | undefined>;
  /** Up to numOfMsg (1–16) messages; [] when none arrived within the wait (code 7000). */
  batchReceiveMessage(queueName: string, numOfMsg: number, opts?: ReceiveOptions): Promise<Message[]>;
  deleteMessage(queueName: string, receiptHandle: string): Promise<void>;
  /** Partial (6010) and total (6020) failure are returned in `failed`, not thrown. */
  batchDeleteMessage(queueName: string, receiptHandles: readonly string[]): Promise<BatchDeleteResult>;
  rewindQueue(queueName: string, startConsumeTimeSec: number): Promise<void>;
  unbindDeadLetterQueue(queueName: string): Promise<void>;
  listDeadLetterSourceQueues(deadLetterQueueName: string, opts?: ListOptions): Promise<QueueList>;
  /**
   * Moves the visible messages of a dead-letter queue, oldest first, back to the queues they were
   * dead-lettered from (or all to `destinationQueue`); returns how many moved. A message whose
   * source is unknown or deleted stays. opencmq extension (OpencmqRedriveDeadLetterQueue).
   */
  redriveDeadLetterQueue(deadLetterQueueName: string, opts?: RedriveOptions): Promise<number>;
}

export type { ClusterNodeStatus } from '../protocol/cluster-types';

// ---- topics and subscriptions (spec §3) ----

export type { NotifyContentFormat, NotifyStrategy, SubscriptionProtocol, TopicFilterType } from '../protocol/topic-types';

/** CreateTopic settings; filterType can only be chosen at creation. */
export interface CreateTopicOptions {
  /** 1024–1048576 bytes, default 65536. */
  maxMsgSize?: number;
  /** 1: tags (msgTag / filterTag, the default); 2: routing keys (routingKey / bindingKey). */
  filterType?: TopicFilterType;
}

/** SetTopicAttributes: maxMsgSize is the only settable attribute. */
export interface TopicAttributesInput {
  maxMsgSize?: number;
}

/** GetTopicAttributes (spec §3.3). Times are Unix seconds. */
export interface TopicAttributes {
  /** Present when the server returns them (opencmq does). */
  topicId?: string;
  topicName?: string;
  /** Messages still waiting for delivery to the topic's http subscriptions. */
  msgCount: number;
  maxMsgSize: number;
  /** Always 86400 in CMQ. */
  msgRetentionSeconds: number;
  filterType: TopicFilterType;
  createTime: number;
  lastModifyTime: number;
}

export interface TopicSummary {
  topicId: string;
  topicName: string;
}

export interface TopicList {
  /** Matches before paging. */
  totalCount: number;
  topics: TopicSummary[];
}

export interface PublishOptions {
  /** msgTag.N: at most 5 tags of at most 16 characters (filterType 1 topics). */
  tags?: readonly string[];
  /** Words separated by '.', ≤ 64 bytes and ≤ 15 dots (filterType 2 topics; required there). */
  routingKey?: string;
  /** As SendOptions.dedupId, per topic: a retried publish is delivered to nobody twice. */
  dedupId?: string;
}

export interface SubscribeOptions {
  /** 'queue': the endpoint is a queue name; 'http': a URL starting with http:// that is POSTed to. */
  protocol: SubscriptionProtocol;
  endpoint: string;
  /** Default EXPONENTIAL_DECAY_RETRY. */
  notifyStrategy?: NotifyStrategy;
  /** Default JSON for http, SIMPLIFIED for queue (a queue always receives the raw body). */
  notifyContentFormat?: NotifyContentFormat;
  /** At most 5 tags (filterType 1); none: every message. */
  filterTags?: readonly string[];
  /** At most 5 AMQP-style keys with `*` and `#` (filterType 2; at least one is required there). */
  bindingKeys?: readonly string[];
}

/** SetSubscriptionAttributes: what is given changes; a tag or key list replaces the whole set ([] clears it). */
export interface SubscriptionAttributesInput {
  notifyStrategy?: NotifyStrategy;
  notifyContentFormat?: NotifyContentFormat;
  filterTags?: readonly string[];
  bindingKeys?: readonly string[];
}

export interface SubscriptionSummary {
  subscriptionId: string;
  subscriptionName: string;
  protocol: SubscriptionProtocol;
  endpoint: string;
}

export interface SubscriptionList {
  totalCount: number;
  subscriptions: SubscriptionSummary[];
}

/** GetSubscriptionAttributes (spec §3.3). Times are Unix seconds. */
export interface SubscriptionAttributes {
  topicOwner: string;
  /** Messages still waiting for delivery (http subscriptions; always 0 for queue ones). */
  msgCount: number;
  protocol: SubscriptionProtocol;
  endpoint: string;
  notifyStrategy: NotifyStrategy;
  notifyContentFormat: NotifyContentFormat;
  filterTags: string[];
  bindingKeys: string[];
  createTime: number;
  lastModifyTime: number;
}

/** Every classic CMQ topic and subscription action, typed. */
export interface CmqTopicApi {
  /** Returns the topicId. */
  createTopic(topicName: string, opts?: CreateTopicOptions): Promise<string>;
  setTopicAttributes(topicName: string, attrs: TopicAttributesInput): Promise<void>;
  listTopics(opts?: ListOptions): Promise<TopicList>;
  getTopicAttributes(topicName: string): Promise<TopicAttributes>;
  /** Fails with 4000/10540 while the topic has subscriptions. */
  deleteTopic(topicName: string): Promise<void>;
  /** Returns the msgId. 6030 when no subscription takes the message. */
  publishMessage(topicName: string, body: string | Buffer, opts?: PublishOptions): Promise<string>;
  /** 1–16 bodies sharing the tags and routing key; returns the msgIds in request order. */
  batchPublishMessage(topicName: string, bodies: ReadonlyArray<string | Buffer>, opts?: PublishOptions): Promise<string[]>;
  /** Returns the subscriptionId. */
  subscribe(topicName: string, subscriptionName: string, opts: SubscribeOptions): Promise<string>;
  listSubscriptions(topicName: string, opts?: ListOptions): Promise<SubscriptionList>;
  setSubscriptionAttributes(topicName: string, subscriptionName: string, attrs: SubscriptionAttributesInput): Promise<void>;
  getSubscriptionAttributes(topicName: string, subscriptionName: string): Promise<SubscriptionAttributes>;
  unsubscribe(topicName: string, subscriptionName: string): Promise<void>;
  clearSubscriptionFilterTags(topicName: string, subscriptionName: string): Promise<void>;
}
