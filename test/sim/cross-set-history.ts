// The guarantees of one message across the sets a queue moves over. A live move sends a visible
// message from the set the queue leaves to the set it goes to as a new message there: a new msgId
// (its "copy" on that set), the same body. Each set's QueueHistory checks the deliveries of one
// msgId; this checks the copies of one body against each other, as a client sees them:
//   - no copy is delivered within the visibility timeout of a delivery of another copy (a copy
//     handed out while the message was in flight elsewhere: `doubleDelivery`);
//   - once a copy was deleted no other copy is delivered later (`deletedRedelivered`);
//   - after the drain (consumers delete what they get, sooner or later) every body stored was
//     deleted, on whichever set it ended (`unsettled`): a copy dropped with messages still in
//     flight there (received, not deleted) never comes back to be deleted.
// Bodies identify messages (queue-history.ts bodyFor): every send of the workload has its own.
//
// Times are log times: each entry's time is its set's leader's clock, and every process's clock is
// off by up to the simulator's skew, so two sets' times are compared with `toleranceMs` of slack
// (twice the skew: the source's entry may be stamped late, the target's early).

import { QueueCheckFailure } from './queue-history';

interface CopyDelivery {
  group: number;
  msgId: string;
  handle: string;
  index: number;
  timeMs: number;
  visibilityMs: number;
}

export interface CrossSetStats {
  /** Bodies stored as a second (third...) copy: messages a move sent to another set. */
  copies: number;
  /** Deliveries of a body from another copy than its previous delivery's (a message delivered on both sides of a move). */
  deliveriesAcrossCopies: number;
}

export class CrossSetHistory {
  private readonly bodyOf = new Map<string, number>();
  private readonly copiesOf = new Map<number, number>();
  private readonly deliveries = new Map<number, CopyDelivery[]>();
  private readonly byHandle = new Map<string, CopyDelivery>();
  private readonly deletedAt = new Map<number, { msgId: string; index: number; timeMs: number; group: number }>();
  readonly stats: CrossSetStats = { copies: 0, deliveriesAcrossCopies: 0 };

  constructor(private readonly toleranceMs: number) {}

  /** A send entry stored `msgId` with body `bodyId` (a producer's send or a move's). */
  sent(msgId: string, bodyId: number): void {
    if (this.bodyOf.has(msgId)) return; // a deduplicated retry answers the first msgId
    this.bodyOf.set(msgId, bodyId);
    const n = (this.copiesOf.get(bodyId) ?? 0) + 1;
    this.copiesOf.set(bodyId, n);
    if (n > 1) this.stats.copies++;
  }

  /** A receive entry of set `group` handed out `msgId` at log time `timeMs`. */
  delivered(group: number, msgId: string, handle: string, index: number, timeMs: number, visibilityMs: number): void {
    const bodyId = this.bodyOf.get(msgId);
    if (bodyId === undefined) return; // not a body this checker follows
    const d: CopyDelivery = { group, msgId, handle, index, timeMs, visibilityMs };
    const list = this.deliveries.get(bodyId) ?? [];
    for (const x of list) {
      if (x.msgId === msgId) continue; // the same copy: its set's QueueHistory judges it
      const [first, second] = x.timeMs <= timeMs ? [x, d] : [d, x];
      if (second.timeMs < first.timeMs + first.visibilityMs - this.toleranceMs) {
        throw new QueueCheckFailure(
          'doubleDelivery',
          `body m${bodyId} delivered as ${first.msgId} (set ${first.group + 1}, index ${first.index}, t=${first.timeMs}) and as ${second.msgId} (set ${second.group + 1}, index ${second.index}, t=${second.timeMs}), within the ${first.visibilityMs} ms visibility timeout`,
        );
      }
    }
    const del = this.deletedAt.get(bodyId);
    if (del !== undefined && del.msgId !== msgId && timeMs > del.timeMs + this.toleranceMs) this.deletedThenDelivered(bodyId, del, d);
    const last = list.reduce<CopyDelivery | undefined>((a, x) => (a === undefined || x.timeMs > a.timeMs ? x : a), undefined);
    if (last !== undefined && last.msgId !== msgId) this.stats.deliveriesAcrossCopies++;
    list.push(d);
    this.deliveries.set(bodyId, list);
    this.byHandle.set(`${group}:${handle}`, d);
  }

  /** A delete entry of set `group` accepted `handles` at log time `timeMs`. */
  deleted(group: number, handles: readonly string[], index: number, timeMs: number): void {
    for (const h of handles) {
      const d = this.byHandle.get(`${group}:${h}`);
      if (d === undefined) continue;
      const bodyId = this.bodyOf.get(d.msgId)!;
      const del = { msgId: d.msgId, index, timeMs, group };
      if (!this.deletedAt.has(bodyId)) this.deletedAt.set(bodyId, del);
      // A delivery of another copy seen before this delete (sets apply at their own pace) but decided after it.
      const later = (this.deliveries.get(bodyId) ?? []).find((x) => x.msgId !== d.msgId && x.timeMs > timeMs + this.toleranceMs);
      if (later !== undefined) this.deletedThenDelivered(bodyId, del, later);
    }
  }

  /** After the drain: every body stored, except those in `dropped` (gone with their queue), was deleted. */
  checkAllDeleted(dropped: ReadonlySet<number>): void {
    const left = [...this.copiesOf.keys()].filter((b) => !this.deletedAt.has(b) && !dropped.has(b));
    if (left.length === 0) return;
    const b = left[0]!;
    const copies = [...this.bodyOf].filter(([, x]) => x === b).map(([msgId]) => msgId);
    const got = (this.deliveries.get(b) ?? []).map((d) => `${d.msgId} on set ${d.group + 1} at t=${d.timeMs}`);
    throw new QueueCheckFailure('unsettled', `${left.length} stored messages were never deleted, e.g. body m${b} (stored as ${copies.join(', ')}; delivered ${got.length > 0 ? got.join(', ') : 'never'})`);
  }

  private deletedThenDelivered(bodyId: number, del: { msgId: string; index: number; timeMs: number; group: number }, d: CopyDelivery): never {
    throw new QueueCheckFailure(
      'deletedRedelivered',
      `body m${bodyId} deleted as ${del.msgId} (set ${del.group + 1}, index ${del.index}, t=${del.timeMs}) but delivered later as ${d.msgId} (set ${d.group + 1}, index ${d.index}, t=${d.timeMs})`,
    );
  }
}
