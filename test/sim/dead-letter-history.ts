// The guarantees of the messages of dead-letter sources and their dead-letter queue across the
// sets these queues live on and move between. A message sent to a source is one body; it is
// delivered from the source, moves to the dead-letter queue once it was delivered maxReceiveCount
// times there (locally keeping its msgId, or through the source's outbox as a new message on the
// dead-letter queue's set), may be sent back to its source by a redrive, and moves with either
// queue when that queue moves (a new msgId on the target). Wherever it is, as a client sees it:
//   - no delivery of the body within the visibility timeout of an earlier one, whatever queue,
//     set or copy each came from (`doubleDelivery`);
//   - once deleted (from the source or the dead-letter queue) it is never delivered again
//     (`deletedRedelivered`), and never deleted again with another receipt handle: deleted from
//     the source or from its dead-letter queue, not both (`deletedTwice`); a delete is accepted
//     only within the visibility timeout of the delivery whose handle it names (`staleDelete`);
//   - a source never hands it out more than maxReceiveCount times on one copy: the next receive
//     dead-letters it (`notDeadLettered`);
//   - a dead letter is counted against the queue it came from: a dead letter stored on another set
//     names that source, and a redrive sends it back there and nowhere else (`deadLetterSource`);
//   - after the drain (consumers delete what they get, sooner or later) every body stored was
//     deleted, in whichever queue and on whichever set it ended (`unsettled`): a dead letter
//     dropped on its way, or a message a move left behind, is never deleted.
// Times are log times, each set's leader's clock: two sets' times are compared with `toleranceMs`
// of slack (cross-set-history.ts says why); one set's deliveries are in its log's order.

import { QueueCheckFailure } from './queue-history';

export type DeadLetterCheck = 'deletedTwice' | 'notDeadLettered' | 'deadLetterSource';

export class DeadLetterCheckFailure extends Error {
  constructor(
    readonly check: DeadLetterCheck,
    message: string,
  ) {
    super(message);
  }
}

export interface DeadLetterRoute {
  deadLetterQueue: string;
  sources: readonly string[];
  maxReceiveCount: number;
}

interface Delivery {
  group: number;
  queue: string;
  msgId: string;
  handle: string;
  index: number;
  timeMs: number;
  visibilityMs: number;
}

interface Deleted {
  group: number;
  msgId: string;
  handle: string;
  index: number;
  timeMs: number;
}

export interface DeadLetterStats {
  /** Deliveries (receive entries' messages) and accepted deletes, in these queues on every set. */
  deliveries: number;
  deletes: number;
  /** Deliveries from the dead-letter queue of a body delivered from its source before. */
  deadLettered: number;
  /** Of which its last source delivery was on another set (the dead letter crossed sets). */
  deadLetteredAcrossSets: number;
  /** Dead letters stored on the dead-letter queue's set by another set's outbox (naming their source). */
  remoteDeadLetters: number;
  /** Deliveries from a source of a body delivered from the dead-letter queue before (a redrive). */
  redriven: number;
  /** Bodies stored again as a new message (a move's copy or a dead letter sent to another set). */
  copies: number;
}

export class DeadLetterHistory {
  /** Which source each body was sent to (as the producer asked). */
  private readonly originOf = new Map<number, string>();
  private readonly bodyOf = new Map<string, number>();
  private readonly stored = new Set<number>();
  private readonly deliveries = new Map<number, Delivery[]>();
  private readonly byHandle = new Map<string, Delivery>();
  private readonly deletedAt = new Map<number, Deleted>();
  readonly stats: DeadLetterStats = { deliveries: 0, deletes: 0, deadLettered: 0, deadLetteredAcrossSets: 0, remoteDeadLetters: 0, redriven: 0, copies: 0 };

  constructor(
    private readonly route: DeadLetterRoute,
    private readonly toleranceMs: number,
  ) {}

  covers(queue: string): boolean {
    return queue === this.route.deadLetterQueue || this.route.sources.includes(queue);
  }

  /** A producer is sending body `bodyId` to source `queue` (before any entry stores it). */
  sending(bodyId: number, queue: string): void {
    this.originOf.set(bodyId, queue);
  }

  /**
   * A send entry of set `group` stored `msgId` with body `bodyId` in `queue`: a producer's send, a
   * move's copy, a dead letter from another set (naming `deadLetterSource`) or a redrive's send back.
   */
  sent(group: number, queue: string, msgId: string, bodyId: number, deadLetterSource: string | undefined, index: number): void {
    if (this.bodyOf.has(msgId)) return; // a deduplicated retry answers the first msgId
    const origin = this.originOf.get(bodyId);
    if (origin === undefined) throw new QueueCheckFailure('integrity', `set ${group + 1} stored body m${bodyId} in ${queue} at index ${index}, but no producer sent it to a dead-letter source`);
    if (queue !== this.route.deadLetterQueue && queue !== origin) {
      throw new DeadLetterCheckFailure('deadLetterSource', `body m${bodyId}, sent to ${origin}, was stored in ${queue} as ${msgId} (set ${group + 1}, index ${index})`);
    }
    if (deadLetterSource !== undefined) {
      if (deadLetterSource !== origin) throw new DeadLetterCheckFailure('deadLetterSource', `body m${bodyId}, sent to ${origin}, was stored in ${queue} as ${msgId} (set ${group + 1}, index ${index}) as a dead letter of ${deadLetterSource}`);
      this.stats.remoteDeadLetters++;
    }
    if (this.stored.has(bodyId)) this.stats.copies++;
    this.stored.add(bodyId);
    this.bodyOf.set(msgId, bodyId);
  }

  /** A receive entry of set `group` handed out `msgId` from `queue` (its dequeueCount there) at log time `timeMs`. */
  delivered(group: number, queue: string, msgId: string, handle: string, dequeueCount: number, index: number, timeMs: number, visibilityMs: number): void {
    const bodyId = this.bodyOf.get(msgId);
    if (bodyId === undefined) throw new QueueCheckFailure('integrity', `set ${group + 1} delivered ${msgId} from ${queue} at index ${index}, which no send stored`);
    const origin = this.originOf.get(bodyId)!;
    const where = `${msgId} (set ${group + 1}, ${queue}, index ${index}, t=${timeMs})`;
    if (queue !== this.route.deadLetterQueue) {
      if (queue !== origin) throw new DeadLetterCheckFailure('deadLetterSource', `body m${bodyId}, sent to ${origin}, delivered from ${queue} as ${where}`);
      if (dequeueCount > this.route.maxReceiveCount) {
        throw new DeadLetterCheckFailure('notDeadLettered', `body m${bodyId} delivered from its source as ${where} with receive count ${dequeueCount}: maxReceiveCount is ${this.route.maxReceiveCount}`);
      }
    }
    const d: Delivery = { group, queue, msgId, handle, index, timeMs, visibilityMs };
    const list = this.deliveries.get(bodyId) ?? [];
    for (const x of list) {
      // One set's entries are in log order; two sets' are compared by time, with slack.
      const slack = x.group === group ? 0 : this.toleranceMs;
      const [first, second] = x.group === group || x.timeMs <= timeMs ? [x, d] : [d, x];
      if (second.timeMs < first.timeMs + first.visibilityMs - slack) {
        throw new QueueCheckFailure(
          'doubleDelivery',
          `body m${bodyId} delivered as ${first.msgId} (set ${first.group + 1}, ${first.queue}, index ${first.index}, t=${first.timeMs}) and as ${second.msgId} (set ${second.group + 1}, ${second.queue}, index ${second.index}, t=${second.timeMs}), within the ${first.visibilityMs} ms visibility timeout`,
        );
      }
    }
    const del = this.deletedAt.get(bodyId);
    if (del !== undefined && this.after(d, del)) this.deletedThenDelivered(bodyId, del, d);
    const last = list[list.length - 1];
    if (last !== undefined && last.queue !== queue) {
      if (queue === this.route.deadLetterQueue) {
        this.stats.deadLettered++;
        if (last.group !== group) this.stats.deadLetteredAcrossSets++;
      } else if (last.queue === this.route.deadLetterQueue) this.stats.redriven++;
    }
    list.push(d);
    this.deliveries.set(bodyId, list);
    this.byHandle.set(`${group}:${handle}`, d);
    this.stats.deliveries++;
  }

  /** A delete entry of set `group` accepted `handles` at log time `timeMs`. */
  deleted(group: number, handles: readonly string[], index: number, timeMs: number): void {
    for (const h of handles) {
      const d = this.byHandle.get(`${group}:${h}`);
      if (d === undefined) throw new QueueCheckFailure('staleDelete', `set ${group + 1} accepted a delete at index ${index} of handle ${h}, which none of its receive entries issued`);
      const bodyId = this.bodyOf.get(d.msgId)!;
      if (timeMs >= d.timeMs + d.visibilityMs) throw new QueueCheckFailure('staleDelete', `set ${group + 1} accepted a delete at index ${index} t=${timeMs} of ${h} (${d.msgId} from ${d.queue}) after its visibility ended (${d.timeMs} + ${d.visibilityMs})`);
      const del: Deleted = { group, msgId: d.msgId, handle: h, index, timeMs };
      const before = this.deletedAt.get(bodyId);
      if (before !== undefined) {
        if (before.group === group && before.handle === h) continue; // the same delete asked again
        throw new DeadLetterCheckFailure('deletedTwice', `body m${bodyId} deleted as ${before.msgId} (set ${before.group + 1}, index ${before.index}, t=${before.timeMs}) and again as ${d.msgId} from ${d.queue} (set ${group + 1}, index ${index}, t=${timeMs})`);
      }
      this.deletedAt.set(bodyId, del);
      this.stats.deletes++;
      // A delivery seen before this delete (sets apply at their own pace) but decided after it.
      const later = (this.deliveries.get(bodyId) ?? []).find((x) => x !== d && this.after(x, del));
      if (later !== undefined) this.deletedThenDelivered(bodyId, del, later);
    }
  }

  /** Whether every body stored was deleted (the drain goes on until it is). */
  settled(): boolean {
    for (const b of this.stored) if (!this.deletedAt.has(b)) return false;
    return true;
  }

  /** After the drain: every body stored was deleted. */
  checkAllDeleted(): void {
    const left = [...this.stored].filter((b) => !this.deletedAt.has(b));
    if (left.length === 0) return;
    const b = left[0]!;
    const copies = [...this.bodyOf].filter(([, x]) => x === b).map(([msgId]) => msgId);
    const got = (this.deliveries.get(b) ?? []).map((d) => `${d.msgId} from ${d.queue} on set ${d.group + 1} at t=${d.timeMs}`);
    throw new QueueCheckFailure('unsettled', `${left.length} messages sent to dead-letter sources were never deleted, e.g. body m${b} (sent to ${this.originOf.get(b)}; stored as ${copies.join(', ')}; delivered ${got.length > 0 ? got.join(', ') : 'never'})`);
  }

  /** Whether delivery `d` was decided after delete `del` (in log order on one set, by time with slack across sets). */
  private after(d: Delivery, del: Deleted): boolean {
    return d.group === del.group ? d.index > del.index : d.timeMs > del.timeMs + this.toleranceMs;
  }

  private deletedThenDelivered(bodyId: number, del: Deleted, d: Delivery): never {
    throw new QueueCheckFailure(
      'deletedRedelivered',
      `body m${bodyId} deleted as ${del.msgId} (set ${del.group + 1}, index ${del.index}, t=${del.timeMs}) but delivered later as ${d.msgId} from ${d.queue} (set ${d.group + 1}, index ${d.index}, t=${d.timeMs})`,
    );
  }
}
