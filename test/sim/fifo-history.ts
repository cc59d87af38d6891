// The FIFO properties of a queue simulation, as a client of an SQS FIFO queue states them:
//
// - order (`fifoOrder`): a group's messages are first delivered in the order their sends
//   committed; and a later message of a group is never delivered while an earlier one of the same
//   group and queue is visible again (its visibility ended, it was neither deleted nor delivered
//   since) and still there;
// - group lock (`fifoGroupLock`): no message of a group is delivered while another message of the
//   same group and queue, delivered by an earlier receive, is still in flight (its visibility not
//   yet over and no delete or quarantine committed).
//
// Both are exact: time is the entry time the state machine applies every entry at (the same value
// on every replica, never going back), and a message's visibility ends at its receive's time plus
// the visibility timeout, as the broker releases it (deadline <= time of the entry). The queue
// order within a queue is the message's seq there, which every delivery reports; a message that
// leaves a queue (a dead-letter move, a redrive) gets a new seq in the next one.
//
// A visible message may leave its queue without being delivered, and a later one of its group then
// goes first: a dead-letter move (a receive reaching a message already delivered maxReceiveCount
// times moves it and goes on with the group), or a redrive of a dead-letter queue (a moveMessages
// entry that moved anything, committed after the message became visible). Neither is a violation.

import { QueueCheckFailure } from './queue-history';

/** What the checker knows of a FIFO queue. */
export interface FifoQueueSpec {
  /** A receive reaching a message delivered this many times moves it to the dead-letter queue (absent: no policy). */
  maxReceiveCount?: number;
}

/** One delivery of a FIFO message, in log order. */
export interface FifoDelivery {
  msgId: string;
  queue: string;
  groupId: string;
  /** The message's position in this queue (assigned when it entered it). */
  seq: number;
  dequeueCount: number;
  index: number;
  timeMs: number;
  /** How long this receive made it invisible. */
  visibilityMs: number;
}

/** A message's latest delivery from the queue it is in now. */
interface Held {
  msgId: string;
  seq: number;
  dequeueCount: number;
  index: number;
  timeMs: number;
  visibilityMs: number;
}

/** The messages of one group in one queue, by msgId, as far as deliveries showed them. */
type GroupInQueue = Map<string, Held>;

export interface FifoHistoryStats {
  fifoDeliveries: number;
  /** Deliveries that went ahead of an earlier message of their group because a receive moved that one to the dead-letter queue. */
  fifoPastDeadLetters: number;
  /** ...because a redrive may have moved that one out of the queue. */
  fifoPastMoves: number;
}

export class FifoHistory {
  /** Per origin queue and group: msgIds in the order their sends committed, and how many of them were delivered in order so far. */
  private readonly sendOrder = new Map<string, { msgIds: string[]; firstDelivered: number }>();
  /** Position of each FIFO message in its group's send order, and its group key. */
  private readonly positionOf = new Map<string, { key: string; pos: number; groupId: string }>();
  private readonly firstDelivered = new Set<string>();
  /** Per "queue NUL group": the messages delivered from there and still there. */
  private readonly groups = new Map<string, GroupInQueue>();
  /** Where each message's latest delivery left it (key into `groups`). */
  private readonly at = new Map<string, string>();
  /** Per queue: (index, time) of committed moveMessages entries out of it that moved something. */
  private readonly movesOut = new Map<string, { index: number; timeMs: number }[]>();
  readonly stats: FifoHistoryStats = { fifoDeliveries: 0, fifoPastDeadLetters: 0, fifoPastMoves: 0 };

  constructor(private readonly queues: ReadonlyMap<string, FifoQueueSpec>) {}

  isFifo(queue: string): boolean {
    return this.queues.has(queue);
  }

  /** A send committed (first time anywhere) a new message of `groupId` to `queue`. */
  sent(queue: string, groupId: string, msgId: string): void {
    const key = `${queue}\u0000${groupId}`;
    let order = this.sendOrder.get(key);
    if (order === undefined) {
      order = { msgIds: [], firstDelivered: 0 };
      this.sendOrder.set(key, order);
    }
    this.positionOf.set(msgId, { key, pos: order.msgIds.length, groupId });
    order.msgIds.push(msgId);
  }

  /** The group a FIFO send gave the message (moves keep it). */
  groupOfSent(msgId: string): string {
    const p = this.positionOf.get(msgId);
    if (p === undefined) throw new QueueCheckFailure('integrity', `FIFO message ${msgId} delivered, but no FIFO send made it`);
    return p.groupId;
  }

  /** A moveMessages entry committed at `index` moved `moved` messages out of `queue`. */
  movedOut(queue: string, index: number, timeMs: number, moved: number): void {
    if (moved === 0) return;
    const list = this.movesOut.get(queue) ?? [];
    list.push({ index, timeMs });
    this.movesOut.set(queue, list);
  }

  /** A delete (or a quarantine) committed: the message left its queue for good. */
  gone(msgId: string): void {
    const key = this.at.get(msgId);
    if (key === undefined) return;
    this.groups.get(key)?.delete(msgId);
    this.at.delete(msgId);
  }

  /** The deliveries of one receive entry, in the order the entry answered them. */
  delivered(d: FifoDelivery): void {
    this.stats.fifoDeliveries++;
    this.checkFirstDeliveryOrder(d);
    const key = `${d.queue}\u0000${d.groupId}`;
    const group = this.groups.get(key) ?? new Map<string, Held>();
    this.groups.set(key, group);
    for (const n of [...group.values()]) {
      if (n.msgId === d.msgId) continue;
      if (n.index === d.index) {
        // The same receive: a group's messages come out in queue order.
        if (n.seq > d.seq) this.fail('fifoOrder', d, `after ${n.msgId} (seq ${n.seq}) in the same receive`);
        continue;
      }
      const visibleAt = n.timeMs + n.visibilityMs;
      if (d.timeMs < visibleAt) {
        this.fail('fifoGroupLock', d, `while ${n.msgId} of the same group, delivered at index ${n.index} t=${n.timeMs}, was in flight until t=${visibleAt}`);
      }
      if (n.seq > d.seq) continue;
      // n is earlier in the queue and visible again: it must have left the queue.
      const max = this.queues.get(d.queue)?.maxReceiveCount;
      if (max !== undefined && n.dequeueCount >= max) {
        // This receive reached it first and moved it to the dead-letter queue.
        group.delete(n.msgId);
        this.at.delete(n.msgId);
        this.stats.fifoPastDeadLetters++;
        continue;
      }
      if (this.movedOutBetween(d.queue, visibleAt, d.index)) {
        this.stats.fifoPastMoves++;
        continue;
      }
      this.fail('fifoOrder', d, `while ${n.msgId} (seq ${n.seq}), earlier in its group and visible again since t=${visibleAt}, was neither deleted nor delivered`);
    }
    // The message's previous place (another queue, or another seq here) is left.
    const prev = this.at.get(d.msgId);
    if (prev !== undefined && prev !== key) this.groups.get(prev)?.delete(d.msgId);
    group.set(d.msgId, { msgId: d.msgId, seq: d.seq, dequeueCount: d.dequeueCount, index: d.index, timeMs: d.timeMs, visibilityMs: d.visibilityMs });
    this.at.set(d.msgId, key);
  }

  /** (a) the first delivery of each message of a group comes in send order, with no message of the group skipped. */
  private checkFirstDeliveryOrder(d: FifoDelivery): void {
    if (this.firstDelivered.has(d.msgId)) return;
    this.firstDelivered.add(d.msgId);
    const p = this.positionOf.get(d.msgId);
    if (p === undefined) throw new QueueCheckFailure('integrity', `FIFO message ${d.msgId} delivered from ${d.queue}, but no FIFO send made it`);
    const order = this.sendOrder.get(p.key)!;
    if (p.pos !== order.firstDelivered) {
      const skipped = order.msgIds[order.firstDelivered];
      this.fail('fifoOrder', d, `for the first time before ${skipped}, sent earlier to the same group and never delivered`);
    }
    order.firstDelivered++;
  }

  /** A moveMessages entry out of `queue` that moved something committed at or after `fromMs` and before `beforeIndex`. */
  private movedOutBetween(queue: string, fromMs: number, beforeIndex: number): boolean {
    const list = this.movesOut.get(queue);
    if (list === undefined) return false;
    for (let k = list.length - 1; k >= 0; k--) {
      const m = list[k]!;
      if (m.index >= beforeIndex) continue;
      if (m.timeMs < fromMs) return false;
      return true;
    }
    return false;
  }

  private fail(check: 'fifoOrder' | 'fifoGroupLock', d: FifoDelivery, why: string): never {
    throw new QueueCheckFailure(check, `${d.msgId} (group ${d.groupId}, seq ${d.seq} in ${d.queue}) delivered at index ${d.index} t=${d.timeMs} ${why}`);
  }
}
