// The commands of the queue state machine and their results. A command is what the log stores
// (binary-encoded by ./codec.ts); `apply` turns one into a state change plus a result. Every
// parameter has already been validated for type and range by api/; the broker checks only what
// depends on state (existence, limits, dead-letter rules, receipt handles).

import type { ErrorResult } from '../protocol/errors';
import type { QueueAttributeFields, QueueAttributesInput, SqsQueueSettings } from '../protocol/queue-types';
import type { NotifyContentFormat, NotifyStrategy, SubscriptionProtocol, TopicFilterType } from '../protocol/topic-types';

export type { DeadLetterPolicy, QueueAttributesInput, RedriveAllowPolicy, SqsQueueSettings } from '../protocol/queue-types';
export type {
  NotifyContentFormat,
  NotifyStrategy,
  SubscriptionAttributes,
  SubscriptionProtocol,
  TopicAttributes,
  TopicFilterType,
} from '../protocol/topic-types';

export type Command =
  /**
   * `shards` (createQueue: how many; setQueueAttributes: grow to this many) is for the access layer
   * (node/sharded-queues.ts), which spreads a queue over that many sets: it is never logged, the
   * broker never sees it, and a node without a controller refuses more than one.
   */
  | { kind: 'createQueue'; queueName: string; attrs: QueueAttributesInput; shards?: number }
  | { kind: 'setQueueAttributes'; queueName: string; attrs: QueueAttributesInput; shards?: number }
  /**
   * `ifEmpty`: only when the queue holds no message (visible, in flight, delayed) and none waits
   * in its outbox, and no topic of this set enqueues into it (a local queue subscription), checked
   * in the same entry (queueNotEmpty otherwise): the last step of moving a queue to another set,
   * which must not drop a message sent or published there meanwhile. `keptToo` (with ifEmpty): nor
   * any message kept for rewind (a consumer may delete one after the move copied the others), so
   * the move's copy of them is whole.
   */
  | { kind: 'deleteQueue'; queueName: string; ifEmpty?: boolean; keptToo?: boolean }
  /**
   * One SendMessage or BatchSendMessage. Bodies are stored in this entry, once. delaySeconds null:
   * the queue's own delaySeconds (a setting of the SQS API; 0 unless set). `options`, when present,
   * has one item per body (SQS: per-entry delay, bodies that carry message attributes).
   */
  | { kind: 'sendMessages'; queueName: string; delaySeconds: number | null; bodies: Uint8Array[]; options?: SendBodyOptions[] }
  /**
   * Take up to numOfMsg visible messages, in order. `seed` (random, chosen by the leader) makes the
   * receipt handles unguessable while every replica derives the same ones.
   */
  | {
      kind: 'receiveMessages';
      queueName: string;
      numOfMsg: number;
      seed: number;
      /** How long the received messages stay invisible; absent: the queue's visibilityTimeout. */
      visibilitySeconds?: number;
      /**
       * SQS ReceiveRequestAttemptId (FIFO queues; a standard queue ignores it): a retry with the
       * same id gets the same messages while they are untouched (receive-attempts.ts).
       */
      attemptId?: string;
    }
  | { kind: 'deleteMessages'; queueName: string; receiptHandles: string[] }
  | { kind: 'rewindQueue'; queueName: string; startConsumeTimeSec: number }
  /**
   * Each message still in flight under its receipt handle becomes visible again after
   * visibilitySeconds from this entry's time (0: at once); the handle stays valid meanwhile.
   */
  | { kind: 'changeVisibility'; queueName: string; entries: VisibilityChange[] }
  /** Every message of the queue that is visible, delayed or in flight is deleted (not kept for rewind). */
  | { kind: 'purgeQueue'; queueName: string }
  /** Adds or replaces the queue's tags (at most LIMITS.queueTagsMax in all). */
  | { kind: 'tagQueue'; queueName: string; tags: Record<string, string> }
  /** Removes these tag keys (absent ones are ignored). */
  | { kind: 'untagQueue'; queueName: string; keys: string[] }
  | { kind: 'unbindDeadLetter'; queueName: string }
  /** A message whose body failed its checksum on read: never deliver it again. */
  | { kind: 'quarantineMessage'; queueName: string; queueNumber: number; seq: number }
  /** Carries time forward: delays end, visibility ends, retention and dead-letter TTL expire. */
  | { kind: 'tick' }
  /**
   * Compaction: copies of live bodies from sparse old log segments, stored in this entry; each
   * listed message still at exactly `from` is pointed here, so the old segment can be deleted.
   */
  | { kind: 'relocateBodies'; bodies: RelocatedBody[] }
  | { kind: 'createTopic'; topicName: string; maxMsgSize: number; filterType: TopicFilterType }
  | { kind: 'setTopicAttributes'; topicName: string; maxMsgSize: number }
  | { kind: 'deleteTopic'; topicName: string }
  | {
      kind: 'subscribe';
      topicName: string;
      subscriptionName: string;
      protocol: SubscriptionProtocol;
      /** http: the URL to POST to; queue: the queue name. */
      endpoint: string;
      notifyStrategy: NotifyStrategy;
      notifyContentFormat: NotifyContentFormat;
      filterTags: string[];
      bindingKeys: string[];
      /**
       * protocol queue only: the queue is on another set (decided by whoever proposes this, which
       * knows the routes; the state machine never looks it up). Published messages are then kept
       * pending, like http pushes, and the leader sends them to that queue with a deduplication id
       * (node/outbox.ts) instead of enqueuing them here. Absent: false.
       */
      remoteQueue?: boolean;
    }
  | { kind: 'unsubscribe'; topicName: string; subscriptionName: string }
  /** Absent fields are kept; a present filterTags / bindingKeys replaces the whole set. */
  | {
      kind: 'setSubscriptionAttributes';
      topicName: string;
      subscriptionName: string;
      notifyStrategy?: NotifyStrategy;
      notifyContentFormat?: NotifyContentFormat;
      filterTags?: string[];
      bindingKeys?: string[];
      /**
       * true: a queue subscription delivering into a queue of this set from now on keeps its
       * messages pending and sends them through the access layer, as one subscribed with
       * `remoteQueue` (the queue is moving to another set: node/queue-move.ts). Never undone (a
       * remote delivery reaches the queue wherever it is); ignored for http. Absent: unchanged.
       */
      remoteQueue?: boolean;
    }
  | { kind: 'clearSubscriptionFilterTags'; topicName: string; subscriptionName: string }
  /**
   * One PublishMessage or BatchPublishMessage; msgTags and routingKey apply to every body. The
   * bodies are stored in this entry, once, and every matching subscription is served by this one
   * entry: queue subscriptions get a message referencing the same bytes, http ones a pending push.
   */
  | {
      kind: 'publishMessages';
      topicName: string;
      bodies: Uint8Array[];
      msgTags: string[];
      routingKey: string;
      /** A publish with a dedupId sent to this topic within LIMITS.dedupWindowMs answers the first msgIds and delivers nothing. */
      dedupId?: string;
    }
  /** The leader's POST of a pending push was answered 2xx (remote queue: the queue's set took it). */
  | { kind: 'pushSucceeded'; topicName: string; subscriptionName: string; msgId: string }
  /**
   * The leader's POST failed; the next attempt follows the subscription's notifyStrategy. `seed`
   * (random, chosen by the leader) picks the BACKOFF_RETRY jitter, so every replica agrees.
   */
  | { kind: 'pushFailed'; topicName: string; subscriptionName: string; msgId: string; seed: number }
  /**
   * Dead-letter redrive (broker/redrive.ts): up to maxMessages (1..LIMITS.moveBatchMax) visible
   * messages of sourceQueue, oldest first, move to destinationQueue (null: each back to the queue
   * it was dead-lettered from; one with no known source stays). With taskHandle, the move advances
   * that task: its destination applies, and it moves no more than the task has left.
   */
  | {
      kind: 'moveMessages';
      sourceQueue: string;
      destinationQueue: string | null;
      maxMessages: number;
      taskHandle?: string;
      /**
       * destinationQueue is on another set (set only by the access layer, which checked it there):
       * the messages leave into the source's outbox and its set's leader sends them there.
       */
      remoteDestination?: boolean;
      /**
       * Only with remoteDestination to the queue's own name (a move of the queue to another set,
       * node/queue-move.ts): instead of visible messages, the messages kept for rewind leave, still
       * kept; those no rewind can reach any more (enqueued before rewindCutoffMs) are dropped.
       */
      kept?: boolean;
    }
  /** Starts a move task on a dead-letter queue (at most one running per source); maxPerSecond null: no pace. */
  | { kind: 'startMoveTask'; sourceQueue: string; destinationQueue: string | null; maxPerSecond: number | null; remoteDestination?: boolean }
  | { kind: 'cancelMoveTask'; taskHandle: string }
  /**
   * The leader's send of a pending dead letter (a queue whose dead-letter queue is on another set,
   * DeadLetterPolicy.remote) was taken by the dead-letter queue's set: it leaves the outbox.
   */
  | { kind: 'deadLetterSent'; queueName: string; msgId: string }
  /**
   * That send failed. Not `gone`: tried again after a capped backoff, for as long as it takes (a
   * dead letter is never dropped while its dead-letter queue exists). `gone`: the dead-letter
   * queue does not exist or refuses the message for good; it is dropped and counted.
   */
  | { kind: 'deadLetterFailed'; queueName: string; msgId: string; gone: boolean };

export type CommandKind = Command['kind'];

/** What one body of a send asks beyond the body (absent fields: as for a plain send). */
export interface SendBodyOptions {
  /** This body's own delay, overriding the send's delaySeconds. */
  delaySeconds?: number;
  /**
   * The body is a message envelope (service/message-envelope.ts: message attributes, then the
   * body), not the body alone: receivers unwrap it. Delivered with ReceivedMessage.enveloped.
   */
  enveloped?: boolean;
  /**
   * The size the queue's maxMsgSize limits, when it is not the stored length: an envelope's
   * body and attributes as SQS counts them, without the envelope's framing.
   */
  countedBytes?: number;
  /**
   * A deduplication key (1 to LIMITS.dedupKeyCharsMax characters, opaque): a body whose key was
   * sent to this queue within LIMITS.dedupWindowMs is not enqueued again; the send answers the
   * first msgId.
   */
  dedupId?: string;
  /**
   * The message group (SQS MessageGroupId, 1 to LIMITS.groupIdCharsMax characters). Required on a
   * FIFO queue (fifoGroupIdRequired), which delivers a group's messages in send order, one batch
   * in flight at a time; ignored on a standard queue.
   */
  groupId?: string;
  /**
   * The body is a dead letter of this queue, on another set (sent by that set's leader,
   * node/outbox.ts): the queue remembers where it came from, so a redrive can send it back.
   */
  deadLetterSource?: string;
  /**
   * The body is a message of this queue on the set it is moving from (node/queue-move.ts, sent by
   * that set's leader only; no API request sets it): it keeps its first enqueue time and its
   * receive count and first receive time, and `kept` ones arrive as deleted and kept for rewind,
   * not visible.
   */
  moveOrigin?: MoveOrigin;
}

/** What a message carries from the set its queue moves away from (SendBodyOptions.moveOrigin). */
export interface MoveOrigin {
  /** Its first enqueue time there. */
  enqueueMs: number;
  /** It was deleted there and kept for rewind. */
  kept: boolean;
  /**
   * How many times it was received there (1 or more; absent: never), so a maxReceiveCount
   * dead-letter policy counts on from there: the target answers dequeueCount (SQS
   * ApproximateReceiveCount) from it as the source would have.
   */
  dequeueCount?: number;
  /** Its first receive there (SQS ApproximateFirstReceiveTimestamp); present exactly when dequeueCount is. */
  firstDequeueMs?: number;
}

/** One entry of a changeVisibility command. */
export interface VisibilityChange {
  receiptHandle: string;
  visibilitySeconds: number;
}

/** One body a `relocateBodies` entry copies forward, and the messages that read it. */
export interface RelocatedBody {
  from: BodyRef;
  /** The body's bytes (checked against from.crc32c by the leader before proposing). */
  body: Uint8Array;
  messages: { queueNumber: number; seq: number }[];
}

/** Where a message body lives: a slice of a log entry's payload, with its CRC32C. */
export interface BodyRef {
  entryIndex: number;
  /** Byte offset of the body within the entry's payload. */
  offset: number;
  length: number;
  crc32c: number;
}

export interface ReceivedMessage {
  msgId: string;
  receiptHandle: string;
  /** Unix seconds. */
  enqueueTime: number;
  firstDequeueTime: number;
  nextVisibleTime: number;
  dequeueCount: number;
  /** Unix ms of the enqueue and of the first receive (SQS reports milliseconds). */
  enqueueMs: number;
  firstDequeueMs: number;
  /** The stored body is a message envelope (SendBodyOptions.enveloped). */
  enveloped: boolean;
  /** FIFO queues only: SQS SequenceNumber, increasing with every message enqueued (ids.ts sequenceNumberOf). */
  sequenceNumber?: string;
  /** FIFO queues: the message's group (SendBodyOptions.groupId). */
  groupId?: string;
  body: BodyRef;
  /** Identify the message for quarantine if its body turns out to be damaged. */
  queueNumber: number;
  seq: number;
}

/** What GetQueueAttributes reports; opencmq always knows the queue's id and name. */
export interface QueueAttributes extends QueueAttributeFields {
  queueId: string;
  queueName: string;
  /** The SQS API's settings (defaults for a queue that never set them). */
  sqs: SqsQueueSettings;
  tags: Record<string, string>;
  /** A queue of several shards: how many (set by the access layer; absent: one). */
  shards?: number;
}

export interface DeleteFailure {
  /** Position of the handle in the request (0-based). */
  index: number;
  receiptHandle: string;
  error: 'receiptHandleInvalid';
  /**
   * true: not a receipt handle of this queue at all. false: well formed, but no longer the latest
   * handle of a message in flight (deleted, received again, visibility over).
   */
  malformed: boolean;
}

export type CommandOk =
  | { ok: true; kind: 'createQueue'; queueId: string }
  | { ok: true; kind: 'setQueueAttributes'; attributes: QueueAttributes }
  | { ok: true; kind: 'deleteQueue' }
  /** sequenceNumbers (FIFO queues only): one per body, beside its msgId (for a duplicate, the first send's). */
  | { ok: true; kind: 'sendMessages'; msgIds: string[]; sequenceNumbers?: string[] }
  /** messages may be empty: nothing was visible. */
  | { ok: true; kind: 'receiveMessages'; messages: ReceivedMessage[] }
  | { ok: true; kind: 'deleteMessages'; failures: DeleteFailure[] }
  | { ok: true; kind: 'rewindQueue' }
  /** failures: the entries whose handle was not that of a message in flight (DeleteFailure's rules). */
  | { ok: true; kind: 'changeVisibility'; failures: DeleteFailure[] }
  | { ok: true; kind: 'purgeQueue'; purged: number }
  | { ok: true; kind: 'tagQueue' }
  | { ok: true; kind: 'untagQueue' }
  | { ok: true; kind: 'unbindDeadLetter' }
  | { ok: true; kind: 'quarantineMessage' }
  | { ok: true; kind: 'tick' }
  /** relocated: messages now reading their body from this entry; bytes: body bytes copied here. */
  | { ok: true; kind: 'relocateBodies'; relocated: number; bytes: number }
  | { ok: true; kind: 'createTopic'; topicId: string }
  | { ok: true; kind: 'setTopicAttributes' }
  | { ok: true; kind: 'deleteTopic' }
  | { ok: true; kind: 'subscribe'; subscriptionId: string }
  | { ok: true; kind: 'unsubscribe' }
  | { ok: true; kind: 'setSubscriptionAttributes' }
  | { ok: true; kind: 'clearSubscriptionFilterTags' }
  /**
   * deliveredQueues: the queues that received the messages (so the node can wake long polls);
   * pushes: how many http subscriptions got a pending push per message.
   */
  | { ok: true; kind: 'publishMessages'; msgIds: string[]; deliveredQueues: string[]; pushes: number }
  /** found: false when the push was no longer pending (already settled, expired, unsubscribed). */
  | { ok: true; kind: 'pushSucceeded'; found: boolean }
  /** retry: nextAttemptMs is set; dropped: retries exhausted; unknown: the push was not pending. */
  | { ok: true; kind: 'pushFailed'; outcome: 'retry' | 'dropped' | 'unknown'; nextAttemptMs?: number }
  /**
   * moved: messages moved; remaining: visible messages left in the source; stayed: visible
   * messages looked at and left where they are (destination null, and the queue they were
   * dead-lettered from is unknown or deleted). task: the task advanced, as it is now.
   */
  | { ok: true; kind: 'moveMessages'; moved: number; remaining: number; stayed: number; task?: MoveTaskView }
  | { ok: true; kind: 'startMoveTask'; taskHandle: string; task: MoveTaskView }
  | { ok: true; kind: 'cancelMoveTask'; task: MoveTaskView }
  /** found: false when the dead letter was no longer pending (already settled, its queue deleted). */
  | { ok: true; kind: 'deadLetterSent'; found: boolean }
  /** retry: nextAttemptMs is set; dropped: gone; unknown: the dead letter was not pending. */
  | { ok: true; kind: 'deadLetterFailed'; outcome: 'retry' | 'dropped' | 'unknown'; nextAttemptMs?: number };

export type CommandResult = CommandOk | ErrorResult;

export interface QueueListItem {
  queueId: string;
  queueName: string;
}

export interface QueueList {
  totalCount: number;
  queueList: QueueListItem[];
}

export interface TopicListItem {
  topicId: string;
  topicName: string;
}

export interface TopicList {
  totalCount: number;
  topicList: TopicListItem[];
}

export interface SubscriptionListItem {
  subscriptionId: string;
  subscriptionName: string;
  protocol: SubscriptionProtocol;
  endpoint: string;
}

export interface SubscriptionList {
  totalCount: number;
  subscriptionList: SubscriptionListItem[];
}

/**
 * A dead letter the node should send now (dueDeadLetters): a message of `sourceQueue` past its
 * dead-letter policy, for its dead-letter queue on another set (or one redriven out of the
 * dead-letter queue `sourceQueue` to a queue on another set).
 */
export interface DueDeadLetter {
  deadLetter: true;
  /** The queue whose outbox holds it. */
  sourceQueue: string;
  /** Its dead-letter queue (a move: the redrive's destination), on another set. */
  destinationQueue: string;
  /** Its msgId in the source queue. */
  msgId: string;
  /** The log entry that put it in the outbox (with sourceQueue and msgId, its deduplication key). */
  sinceIndex: number;
  /** A redrive out of a dead-letter queue, not a dead letter. */
  move: boolean;
  /** A dead letter moving with its dead-letter queue to another set: the queue it came from (PendingDeadLetter.deadLetterSource). */
  deadLetterSource?: string;
  body: BodyRef;
  /** The body is an SQS message envelope (SendBodyOptions.enveloped). */
  enveloped: boolean;
  /** Its group, when it leaves a FIFO queue. */
  groupId?: string;
  /** A message of a queue moving to another set: what it carries there (SendBodyOptions.moveOrigin). */
  moveOrigin?: MoveOrigin;
  failedAttempts: number;
  nextAttemptMs: number;
}

/** What the leader's delivery loop sends: topic pushes and dead letters for other sets. */
export type DueDelivery = DuePush | DueDeadLetter;

/** A push the node should attempt now (duePushes): everything it needs for the POST or the send. */
export interface DuePush {
  topicName: string;
  subscriptionName: string;
  /** http: the URL; remote queue: the queue name. */
  endpoint: string;
  /** The subscription's queue is on another set: send the body there (node/outbox.ts), do not POST. */
  remoteQueue?: boolean;
  notifyContentFormat: NotifyContentFormat;
  msgId: string;
  body: BodyRef;
  msgTags: string[];
  /** Unix seconds, as the JSON push body reports it. */
  publishTime: number;
  /** Failed attempts so far. */
  failedAttempts: number;
  nextAttemptMs: number;
}

export type MoveTaskStatus = 'RUNNING' | 'COMPLETED' | 'CANCELLED' | 'FAILED';

/** A message move task as reads report it (a copy). */
export interface MoveTaskView {
  taskHandle: string;
  sourceQueue: string;
  /** null: each message back to the queue it was dead-lettered from. */
  destinationQueue: string | null;
  maxPerSecond: number | null;
  status: MoveTaskStatus;
  /** Why a FAILED task failed. */
  failureReason?: string;
  /** Unix ms of the entry that started it. */
  startedMs: number;
  movedCount: number;
  /** Visible messages the source held when the task started: it completes once it moved this many. */
  toMove: number;
  /** destinationQueue is on another set (startMoveTask.remoteDestination); absent: false. */
  remoteDestination?: boolean;
}
