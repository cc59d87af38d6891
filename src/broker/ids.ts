// Public ids (msgId, receipt handle, queueId, topicId, subscriptionId) name the Raft group whose
// state machine issued them, so ids from different sets never collide once queues live on many
// sets. Group 0, the only group of a node today, issues exactly the ids it always did (no marker),
// so data directories and ids handed out before groups existed stay valid; every other group
// prefixes its ids with `g<group>:` (':' is allowed in receipt handles, RECEIPT_HANDLE_RE).

import { formatReceiptHandle, parseReceiptHandle, type ParsedHandle } from './receipt-handle';

/**
 * A Raft group's number (the peer wire's group id, a u32); 0 is the set every node runs today.
 * CONTROLLER_GROUP (the top of the range) is the cluster controller's, never a set's.
 */
export type GroupNumber = number;
export { CONTROLLER_GROUP } from '../protocol/groups';

/** A message's place in the log as its id: entry index and position in its send batch (0..15). */
export function msgIdOf(entryIndex: number, batchPos: number, group: GroupNumber = 0): string {
  return `${groupPrefix(group)}${entryIndex * 16 + batchPos}`;
}

/**
 * SQS's SequenceNumber of a message: its place in the log (entryIndex * 16 + batch position, as
 * in its msgId) as 20 decimal digits, so it increases with every message enqueued in a queue and
 * compares as a string too. It names no Raft group: a queue lives in one group.
 */
export function sequenceNumberOf(entryIndex: number, batchPos: number): string {
  return String(entryIndex * 16 + batchPos).padStart(20, '0');
}

function groupPrefix(group: GroupNumber): string {
  return group === 0 ? '' : `g${group}:`;
}

/** The ids one group's state machine issues, and the receipt handles it accepts. */
export class GroupIds {
  private readonly prefix: string;

  constructor(readonly group: GroupNumber) {
    if (!Number.isSafeInteger(group) || group < 0 || group > 0xffff_ffff) throw new RangeError(`group number ${group} is not a u32`);
    this.prefix = groupPrefix(group);
  }

  msgId(entryIndex: number, batchPos: number): string {
    return msgIdOf(entryIndex, batchPos, this.group);
  }

  receiptHandle(queueNumber: number, seq: number, dequeueCount: number, token: number): string {
    return this.prefix + formatReceiptHandle(queueNumber, seq, dequeueCount, token);
  }

  /** undefined for anything but a handle of this group's shape (another group's included). */
  parseReceiptHandle(handle: string): ParsedHandle | undefined {
    if (!handle.startsWith(this.prefix)) return undefined;
    return parseReceiptHandle(handle.slice(this.prefix.length));
  }

  /** Ids of queues, topics and subscriptions: the index of the entry that created them. */
  queueId(index: number): string {
    return `${this.prefix}queue-${index.toString(36)}`;
  }

  topicId(index: number): string {
    return `${this.prefix}topic-${index.toString(36)}`;
  }

  subscriptionId(index: number): string {
    return `${this.prefix}subsc-${index.toString(36)}`;
  }

  /** A message move task's handle: the index of the entry that started it. */
  moveTaskHandle(index: number): string {
    return `${this.prefix}move-${index.toString(36)}`;
  }
}

/** Group 0's ids: those of every node today. */
export const GROUP_0_IDS = new GroupIds(0);
