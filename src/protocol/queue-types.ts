// Queue settings as they travel on the wire: shared by the server (api/, broker/) and the SDK
// (client/), so the three agree on one definition.

/** Spec §2.7. */
export interface DeadLetterPolicy {
  deadLetterQueue: string;
  /** 0: moved after maxReceiveCount receives without delete; 1: moved when maxTimeToLive expires. */
  policy: 0 | 1;
  maxReceiveCount?: number;
  maxTimeToLive?: number;
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

/** Settable queue attributes; absent fields keep their current (or default) value. */
export type QueueAttributesInput = Partial<QueueSettingsValues> & {
  /** null clears the policy (on the wire: an empty deadLetterPolicy). */
  deadLetterPolicy?: DeadLetterPolicy | null;
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
