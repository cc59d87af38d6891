// The SDK's public data types and the queue API that both CmqClient and the in-memory fake
// implement (so code written against CmqQueueApi runs unchanged on either).

import type { QueueAttributeFields, QueueAttributesInput } from '../protocol/queue-types';

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

/** GetQueueAttributes (spec §2.3). Times are Unix seconds. */
export interface QueueAttributes extends QueueAttributeFields {
  /** Present when the server returns them (opencmq does). */
  queueId?: string;
  queueName?: string;
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

export interface SendOptions {
  delaySeconds?: number;
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
  createQueue(queueName: string, attrs?: QueueAttributesInput): Promise<string>;
  listQueues(opts?: ListOptions): Promise<QueueList>;
  getQueueAttributes(queueName: string): Promise<QueueAttributes>;
  setQueueAttributes(queueName: string, attrs: QueueAttributesInput): Promise<void>;
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
}

export type { ClusterNodeStatus } from '../protocol/cluster-types';
