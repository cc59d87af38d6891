// Where each message of a source queue and its dead-letter queue is, as deliveries show it: a
// message is in exactly one place at a time. It enters its source queue when its send commits;
// a receive that reaches it after it was delivered maxReceiveCount times moves it to the
// dead-letter queue; a redrive (a moveMessages entry out of the dead-letter queue, a move task's
// or an operator's) moves it back. Each entry into a queue gives it a new seq there, and moves
// keep its msgId, so a delivery names the place (queue, seq) the message is in.
//
// Check `twoPlaces`: a delivery from a place the message cannot have reached from the place of
// its previous delivery (a dead-letter move needs maxReceiveCount deliveries, a redrive needs a
// moveMessages entry out of the dead-letter queue after the message was visible there): the
// message was copied, not moved. (Lost messages are QueueHistory.checkNothingLeft's: every
// message sent to these queues ends deleted.)
// Check `moveTask`: a task moves nothing once cancelled, and never more than it set out to.

import type { MoveTaskView } from '../../src/broker/commands';
import { QueueCheckFailure } from './queue-history';

export interface MoveRoute {
  source: string;
  deadLetterQueue: string;
  maxReceiveCount: number;
  visibilityMs: ReadonlyMap<string, number>;
}

interface Place {
  queue: string;
  /** undefined until the message is delivered from there. */
  seq: number | undefined;
  dequeueCount: number;
  /** The latest delivery from this place, or where the message may have entered it. */
  index: number;
  /** Time from which it was visible (and movable) in this place, as far as known. */
  visibleFromMs: number;
}

export interface MoveHistoryStats {
  /** Messages seen in the dead-letter queue after a dead-letter move. */
  deadLettered: number;
  /** Messages seen back in their source after a redrive. */
  redriven: number;
  /** Committed moveMessages entries that moved something, and the messages they moved. */
  moveEntries: number;
  messagesMoved: number;
}

export class MoveHistory {
  private readonly place = new Map<string, Place>();
  /** (index, time) of moveMessages entries out of the dead-letter queue that moved something. */
  private readonly moves: { index: number; timeMs: number }[] = [];
  private readonly cancelledAt = new Map<string, number>();
  readonly stats: MoveHistoryStats = { deadLettered: 0, redriven: 0, moveEntries: 0, messagesMoved: 0 };

  constructor(private readonly route: MoveRoute) {}

  covers(queue: string): boolean {
    return queue === this.route.source || queue === this.route.deadLetterQueue;
  }

  /** A send committed a new message to the source queue. */
  sent(msgId: string, index: number, timeMs: number): void {
    this.place.set(msgId, { queue: this.route.source, seq: undefined, dequeueCount: 0, index, visibleFromMs: timeMs });
  }

  /** A moveMessages entry committed (first apply anywhere). */
  moveCommitted(index: number, timeMs: number, sourceQueue: string, moved: number, task: MoveTaskView | undefined): void {
    if (task !== undefined) {
      const cancelled = this.cancelledAt.get(task.taskHandle);
      if (cancelled !== undefined && moved > 0) throw new QueueCheckFailure('moveTask', `move task ${task.taskHandle} moved ${moved} messages at index ${index}, after it was cancelled at ${cancelled}`);
      if (task.movedCount > task.toMove) throw new QueueCheckFailure('moveTask', `move task ${task.taskHandle} moved ${task.movedCount} messages of the ${task.toMove} it set out to move`);
    }
    if (moved === 0 || sourceQueue !== this.route.deadLetterQueue) return;
    this.moves.push({ index, timeMs });
    this.stats.moveEntries++;
    this.stats.messagesMoved += moved;
  }

  cancelCommitted(index: number, taskHandle: string): void {
    this.cancelledAt.set(taskHandle, index);
  }

  /** A delivery from `queue` (one of the two) at `seq` there, in log order. */
  delivered(msgId: string, queue: string, seq: number, dequeueCount: number, index: number, timeMs: number): void {
    const p = this.place.get(msgId);
    if (p === undefined) throw new QueueCheckFailure('integrity', `${msgId} delivered from ${queue}, but it was never sent to ${this.route.source}`);
    const here = (): void => {
      p.queue = queue;
      p.seq = seq;
      p.dequeueCount = dequeueCount;
      p.index = index;
      p.visibleFromMs = timeMs + this.visibility(queue);
    };
    if (p.queue === queue && (p.seq === undefined || p.seq === seq)) return here();
    const { source, deadLetterQueue: dlq, maxReceiveCount } = this.route;
    const where = `${msgId} delivered from ${queue} (seq ${seq}, receive ${dequeueCount}) at index ${index} t=${timeMs}`;
    const was = `it was at ${p.queue}${p.seq === undefined ? '' : ` seq ${p.seq}`} after receive ${p.dequeueCount} at index ${p.index}`;
    // Out of the source only by a dead-letter move, which needs maxReceiveCount deliveries there.
    const mayLeaveSource = p.queue === source && p.seq !== undefined && p.dequeueCount >= maxReceiveCount;
    if (queue === dlq && p.queue === source) {
      if (!mayLeaveSource) throw new QueueCheckFailure('twoPlaces', `${where}, but ${was}: it cannot have been moved to ${dlq}`);
      this.stats.deadLettered++;
      return here();
    }
    if (queue === source && p.queue === dlq) {
      if (!this.movedSince(p.index, p.visibleFromMs, index)) throw new QueueCheckFailure('twoPlaces', `${where}, but ${was} and no move out of ${dlq} committed since it was visible there`);
      this.stats.redriven++;
      return here();
    }
    if (queue === source && p.queue === source) {
      // A round trip through the dead-letter queue without a delivery there.
      if (!mayLeaveSource || !this.movedSince(p.index, p.visibleFromMs, index)) throw new QueueCheckFailure('twoPlaces', `${where}, but ${was}: a second copy`);
      this.stats.deadLettered++;
      this.stats.redriven++;
      return here();
    }
    // Back in the dead-letter queue at another seq: that takes deliveries from the source between.
    throw new QueueCheckFailure('twoPlaces', `${where}, but ${was}: a second copy`);
  }

  /** A moveMessages entry out of the dead-letter queue that moved something, after `afterIndex`, at or after `fromMs`, before `beforeIndex`. */
  private movedSince(afterIndex: number, fromMs: number, beforeIndex: number): boolean {
    for (let k = this.moves.length - 1; k >= 0; k--) {
      const m = this.moves[k]!;
      if (m.index >= beforeIndex) continue;
      return m.index > afterIndex && m.timeMs >= fromMs;
    }
    return false;
  }

  private visibility(queue: string): number {
    const ms = this.route.visibilityMs.get(queue);
    if (ms === undefined) throw new QueueCheckFailure('driver', `no visibility timeout known for ${queue}`);
    return ms;
  }
}
