// Cross-set delivery of topic messages: a queue subscription whose queue lives on another set
// (subscribe.remoteQueue) keeps its messages pending in the topic's set, as an http subscription
// does, and the topic set's leader sends each one into the queue (push-delivery.ts runs the loop,
// the retries and the settling through the log). Each send carries a deduplication id derived
// from the topic, the subscription and the msgId, so a send repeated after a crash, a failover or
// an answer lost on the way is dropped by the queue's set: within the queue's deduplication window
// (LIMITS.dedupWindowMs) a message reaches the queue once; past it, at least once. Dead letters of
// a queue whose dead-letter queue is on another set (broker/dead-letter-outbox.ts) go the same way,
// keyed by their source queue and msgId.

import type { Command, CommandResult, MoveOrigin } from '../broker/commands';
import { errorKind, type ErrorResult } from '../protocol/errors';

/**
 * What one send to a remote queue came to. delivered: the queue's set applied it (or had already:
 * a duplicate answers like the first send). retry: not known to be applied, try again later.
 * gone: the queue does not exist, or refuses such a message for good (a FIFO queue, which needs a
 * group id, or a body over its maxMsgSize): a local delivery would have dropped it.
 */
export type QueueDeliveryOutcome = 'delivered' | 'retry' | 'gone';

/**
 * What a send carries besides its body: a dead letter keeps its SQS envelope (message attributes;
 * `countedBytes` is then what the queue's maxMsgSize limits) and, from a FIFO queue, its group.
 */
export interface QueueSendOptions {
  enveloped?: boolean;
  countedBytes?: number;
  groupId?: string;
  /** A dead letter: the queue it comes from, remembered by the dead-letter queue for redrive. */
  deadLetterSource?: string;
  /** A message of a queue moving to another set: its first enqueue time, and whether it is kept for rewind. */
  moveOrigin?: MoveOrigin;
}

/**
 * Sends `body` into `queueName` (on whichever set holds it) with the deduplication key `dedupId`.
 * Should settle promptly once `signal` aborts; a rejection counts as 'retry'.
 */
export type DeliverToQueue = (queueName: string, body: Buffer, dedupId: string, signal: AbortSignal, options?: QueueSendOptions) => Promise<QueueDeliveryOutcome>;

/**
 * The deduplication key of one message of one subscription: the same on every leader, every
 * attempt. Client keys never collide with it: a CMQ dedupId has no spaces, and the SQS API's keys
 * start with `g:` or `q:` (api/sqs/fifo.ts). Topic and subscription names are at most 64
 * characters and a msgId about 30, well under LIMITS.dedupKeyCharsMax.
 */
export function outboxDedupId(topicName: string, subscriptionName: string, msgId: string): string {
  return `t:${topicName} ${subscriptionName} ${msgId}`;
}

/**
 * The deduplication key of a dead letter of `sourceQueue` (its dead-letter queue on another set),
 * or of a message redriven out of it: the same on every leader, every attempt; `d:` keeps it apart
 * from topic keys and client keys. `sinceIndex`, the entry that put it in the outbox, tells apart
 * two trips of one msgId (moves within a set keep it). About 120 characters at most.
 */
export function deadLetterDedupId(sourceQueue: string, msgId: string, sinceIndex: number): string {
  return `d:${sourceQueue} ${msgId} ${sinceIndex}`;
}

/**
 * Whether a send is one of a queue being moved to another set (node/queue-move.ts): a message
 * leaving a queue's outbox for the queue of the same name, keyed by deadLetterDedupId. The access
 * layer routes it by a route that knows of the move, never by an older cached one: sent back into
 * the queue it left, it would be moved again under a new key, and a copy that reached the target
 * before a leader change would then be stored twice.
 */
export function isQueueMoveSend(command: Command): boolean {
  if (command.kind !== 'sendMessages' || command.options?.length !== 1) return false;
  return command.options[0]?.dedupId?.startsWith(`d:${command.queueName} `) === true;
}

/**
 * The send one remote queue delivery is: SendMessage of the raw body, no delay, as a local
 * delivery (a dead letter: as a local dead-letter move, with its envelope and group).
 */
export function queueSendCommand(queueName: string, body: Buffer, dedupId: string, options: QueueSendOptions = {}): Command {
  return { kind: 'sendMessages', queueName, delaySeconds: 0, bodies: [body], options: [{ ...options, dedupId }] };
}

/** The outcome a send's answer means for the pending message. */
export function queueDeliveryOutcome(result: CommandResult): QueueDeliveryOutcome {
  if (result.ok) return 'delivered';
  return refusedForGood(result) ? 'gone' : 'retry';
}

/**
 * Missing (notFound) or refused whatever happens next (invalid): retrying cannot succeed. Every
 * other failure may pass (a full queue, no leader, an outcome not known: the dedup id makes the
 * retry safe).
 */
function refusedForGood(result: ErrorResult): boolean {
  const kind = errorKind(result.error);
  return kind === 'notFound' || kind === 'invalid';
}

/**
 * A DeliverToQueue over a submit that routes a command to the set holding its queue (the access
 * layer's ClusterQueueService.submit, with an internal request context).
 */
export function queueDeliveryThrough(submit: (command: Command, signal: AbortSignal) => Promise<CommandResult>): DeliverToQueue {
  return async (queueName, body, dedupId, signal, options) => {
    const result = await submit(queueSendCommand(queueName, body, dedupId, options), signal);
    return queueDeliveryOutcome(result);
  };
}
