// Queue settings as they travel on the wire: shared by the server (api/, broker/) and the SDK
// (client/), so the three agree on one definition.

/** Spec §2.7. */
export interface DeadLetterPolicy {
  deadLetterQueue: string;
  /** 0: moved after maxReceiveCount receives without delete; 1: moved when maxTimeToLive expires. */
  policy: 0 | 1;
  maxReceiveCount?: number;
  maxTimeToLive?: number;
  /**
   * The dead-letter queue is on another set of the cluster (set only by the access layer, which
   * knows the routes and has checked the dead-letter queue there; never by a client). Dead letters
   * then wait in the queue's outbox and its set's leader sends them there. Absent: false.
   */
  remote?: boolean;
}

/** The integer queue settings (spec §2.2), in the order CMQ documents them. */
export const SETTABLE_QUEUE_INT_ATTRS = [
  'maxMsgHeapNum',
  'pollingWaitSeconds',
  'visibilityTimeout',
  'maxMsgSize',
  'msgRetentionSeconds',
  'rewindSeconds',
] as const;

export type QueueIntAttr = (typeof SETTABLE_QUEUE_INT_ATTRS)[number];

/** The queue's current settings, every one present. */
export type QueueSettingsValues = Record<QueueIntAttr, number>;

/** Which queues may name a queue as their dead-letter queue (SQS RedriveAllowPolicy). */
export interface RedriveAllowPolicy {
  permission: 'allowAll' | 'denyAll' | 'byQueue';
  /** byQueue: the source queues allowed (1 to 10 names). */
  sourceQueueNames?: string[];
}

/**
 * Queue settings that only the SQS API sets (CMQ has none of them); every queue has them, with
 * these defaults, so a queue made through either API works through the other.
 */
export interface SqsQueueSettings {
  /** Delay of a message sent without one of its own (SQS DelaySeconds, 0-900). */
  delaySeconds: number;
  /** null: any queue may use this one as its dead-letter queue. */
  redriveAllowPolicy: RedriveAllowPolicy | null;
  /**
   * A FIFO queue (SQS FifoQueue): every message has a group, delivered in send order within it,
   * one batch of a group in flight at a time. Set at creation only (a change fails: fifoImmutable).
   */
  fifo: boolean;
  /** SQS ContentBasedDeduplication: the API derives a body's deduplication id from its content. */
  contentBasedDeduplication: boolean;
  /** SQS DeduplicationScope: the API namespaces deduplication ids by message group ('messageGroup'). */
  deduplicationScope: 'queue' | 'messageGroup';
  /** SQS FifoThroughputLimit: stored and reported only (opencmq does not throttle). */
  fifoThroughputLimit: 'perQueue' | 'perMessageGroupId';
}

export const SQS_QUEUE_DEFAULTS: SqsQueueSettings = {
  delaySeconds: 0,
  redriveAllowPolicy: null,
  fifo: false,
  contentBasedDeduplication: false,
  deduplicationScope: 'queue',
  fifoThroughputLimit: 'perQueue',
};

/** Settable queue attributes; absent fields keep their current (or default) value. */
export type QueueAttributesInput = Partial<QueueSettingsValues> & {
  /** null clears the policy (on the wire: an empty deadLetterPolicy). */
  deadLetterPolicy?: DeadLetterPolicy | null;
  /** Absent fields keep their current (or default) value. */
  sqs?: Partial<SqsQueueSettings>;
  /** Tags given when the queue is created (createQueue only; later: tagQueue / untagQueue). */
  tags?: Record<string, string>;
};

/** GetQueueAttributes (spec §2.2, §2.3): settings, times in Unix seconds, and message counters. */
export interface QueueAttributeFields extends QueueSettingsValues {
  createTime: number;
  lastModifyTime: number;
  /** Visible messages. */
  activeMsgNum: number;
  /** Received, not yet deleted, still invisible. */
  inactiveMsgNum: number;
  delayMsgNum: number;
  /** Deleted messages kept for rewind. */
  rewindMsgNum: number;
  /** Enqueue time of the oldest undeleted message; 0 when there is none. */
  minMsgTime: number;
  deadLetterPolicy?: DeadLetterPolicy;
}
