// The commands of the queue state machine and their results. A command is what the log stores
// (binary-encoded by ./codec.ts); `apply` turns one into a state change plus a result. Every
// parameter has already been validated for type and range by api/; the broker checks only what
// depends on state (existence, limits, dead-letter rules, receipt handles).

import type { ErrorResult } from '../protocol/errors';
import type { QueueAttributeFields, QueueAttributesInput } from '../protocol/queue-types';

export type { DeadLetterPolicy, QueueAttributesInput } from '../protocol/queue-types';

export type Command =
  | { kind: 'createQueue'; queueName: string; attrs: QueueAttributesInput }
  | { kind: 'setQueueAttributes'; queueName: string; attrs: QueueAttributesInput }
  | { kind: 'deleteQueue'; queueName: string }
  /** One SendMessage or BatchSendMessage. Bodies are stored in this entry, once. */
  | { kind: 'sendMessages'; queueName: string; delaySeconds: number; bodies: Uint8Array[] }
  /**
   * Take up to numOfMsg visible messages, in order. `seed` (random, chosen by the leader) makes the
   * receipt handles unguessable while every replica derives the same ones.
   */
  | { kind: 'receiveMessages'; queueName: string; numOfMsg: number; seed: number }
  | { kind: 'deleteMessages'; queueName: string; receiptHandles: string[] }
  | { kind: 'rewindQueue'; queueName: string; startConsumeTimeSec: number }
  | { kind: 'unbindDeadLetter'; queueName: string }
  /** A message whose body failed its checksum on read: never deliver it again. */
  | { kind: 'quarantineMessage'; queueName: string; queueNumber: number; seq: number }
  /** Carries time forward: delays end, visibility ends, retention and dead-letter TTL expire. */
  | { kind: 'tick' };

export type CommandKind = Command['kind'];

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
  body: BodyRef;
  /** Identify the message for quarantine if its body turns out to be damaged. */
  queueNumber: number;
  seq: number;
}

/** What GetQueueAttributes reports; opencmq always knows the queue's id and name. */
export interface QueueAttributes extends QueueAttributeFields {
  queueId: string;
  queueName: string;
}

export interface DeleteFailure {
  /** Position of the handle in the request (0-based). */
  index: number;
  receiptHandle: string;
  error: 'receiptHandleInvalid';
}

export type CommandOk =
  | { ok: true; kind: 'createQueue'; queueId: string }
  | { ok: true; kind: 'setQueueAttributes'; attributes: QueueAttributes }
  | { ok: true; kind: 'deleteQueue' }
  | { ok: true; kind: 'sendMessages'; msgIds: string[] }
  /** messages may be empty: nothing was visible. */
  | { ok: true; kind: 'receiveMessages'; messages: ReceivedMessage[] }
  | { ok: true; kind: 'deleteMessages'; failures: DeleteFailure[] }
  | { ok: true; kind: 'rewindQueue' }
  | { ok: true; kind: 'unbindDeadLetter' }
  | { ok: true; kind: 'quarantineMessage' }
  | { ok: true; kind: 'tick' };

export type CommandResult = CommandOk | ErrorResult;

export interface QueueListItem {
  queueId: string;
  queueName: string;
}

export interface QueueList {
  totalCount: number;
  queueList: QueueListItem[];
}
