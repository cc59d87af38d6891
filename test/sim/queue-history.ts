// The history of a queue simulation and the properties it must keep, as a client would state them:
// an acknowledged send is never lost, a message is not handed out again while a receipt for it is
// still in its visibility period, a deleted message never comes back, a delivered body is the body
// that was sent. The simulator (queue-sim.ts) reports every committed send, receive, delete and
// quarantine (once, in log order, at the first apply anywhere), and every delivery a client saw.
//
// Time here is log time: the leader's timestamp in the entry that decided a delivery, which is the
// only clock the state machine has (docs/broker.md). A delivery that did not come through the log
// (a deliberately broken driver) carries the serving node's clock and sits between two log entries.
//
// FIFO queues add their own properties (fifo-history.ts), and a source queue with its dead-letter
// queue, between which messages move keeping their msgIds, theirs (move-history.ts): this history
// feeds them, and lets a message be delivered from either queue of the pair.

import { crc32c } from '../../src/broker/checksum';
import { LIMITS } from '../../src/protocol/limits';
import type { FifoHistory } from './fifo-history';
import type { MoveHistory } from './move-history';

export type QueueCheck =
  | 'lostMessage' // (a) an acknowledged send was never delivered (and not quarantined)
  | 'doubleDelivery' // (b) delivered again within the visibility timeout of an earlier delivery
  | 'deletedRedelivered' // (c) delivered after a successful delete
  | 'staleDelete' // a delete succeeded with a handle that was superseded or past its visibility
  | 'delay' // delivered before its delay ended, or before it was sent
  | 'integrity' // a client got a body that is not the one sent, or a message nobody sent
  | 'storedTwice' // a send retried with the same deduplication ids was enqueued again
  | 'falseQuarantine' // a body was quarantined although this node's copy was intact
  | 'bodyMissing' // a live message's body was no longer on the node's disk (reclaimed too early)
  | 'replicaAgreement' // (d) replicas' results or state differ at the same index
  | 'fifoOrder' // a FIFO group's message delivered before an earlier one of its group (fifo-history.ts)
  | 'fifoGroupLock' // a FIFO group's message delivered while another of its group was in flight
  | 'twoPlaces' // a message delivered from a place a move cannot have put it: copied, not moved (move-history.ts)
  | 'unsettled' // after the drain, a message of a FIFO or dead-letter queue neither deleted nor quarantined
  | 'moveTask' // a move task moved after its cancel, or more than it set out to
  | 'liveness'
  | 'driver';

export class QueueCheckFailure extends Error {
  constructor(
    readonly check: QueueCheck,
    message: string,
  ) {
    super(message);
  }
}

/** What a receive entry reports of a message beyond the Delivery, for the FIFO and move checks. */
export interface DeliveryDetail {
  dequeueCount: number;
  groupId?: string | undefined;
}

/** One hand-out of a message to a consumer. */
export interface Delivery {
  msgId: string;
  queue: string;
  handle: string;
  /** The receive entry's index; a delivery not decided by the log sits at applied + 0.5. */
  index: number;
  timeMs: number;
  source: 'log' | 'local';
  node: string;
}

interface SentMessage {
  bodyId: number;
  queue: string;
  index: number;
  timeMs: number;
  delayMs: number;
}

// ---- message bodies ----------------------------------------------------------------------------

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const FILLER = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Body `id`: "m<id>:" then filler derived from the id, 8..120 bytes, so any damage is visible. */
export function bodyFor(id: number): Uint8Array {
  let h = crc32c(`body-${id}`);
  const len = 8 + (h % 113);
  let s = `m${id}:`;
  while (s.length < len) {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    s += FILLER[h % FILLER.length];
  }
  return encoder.encode(s);
}

/** A body's deduplication id: the same on every attempt to send it. */
export function dedupIdOf(bodyId: number): string {
  return `m${bodyId}`;
}

/** The id of an intact body; undefined for anything bodyFor never produced. */
export function bodyIdOf(bytes: Uint8Array): number | undefined {
  const text = decoder.decode(bytes);
  const m = /^m(\d+):/.exec(text);
  if (!m) return undefined;
  const id = Number(m[1]);
  const expect = bodyFor(id);
  if (expect.length !== bytes.length) return undefined;
  for (let i = 0; i < expect.length; i++) if (expect[i] !== bytes[i]) return undefined;
  return id;
}

// ---- the history -------------------------------------------------------------------------------

export interface HistoryStats {
  ackedSends: number;
  deliveries: number;
  /** Log deliveries of a message that had been delivered before (its visibility ran out). */
  redeliveries: number;
  clientDeliveries: number;
  deletes: number;
  quarantined: number;
  /** Damaged bodies a driver found (and did not deliver). */
  damagedBodiesFound: number;
  lostToQuarantine: number;
  /** Retried sends whose bodies the state machine recognised by their deduplication ids (answered the first msgIds). */
  dedupHits: number;
}

export function emptyHistoryStats(): HistoryStats {
  return { ackedSends: 0, deliveries: 0, redeliveries: 0, clientDeliveries: 0, deletes: 0, quarantined: 0, damagedBodiesFound: 0, lostToQuarantine: 0, dedupHits: 0 };
}

export class QueueHistory {
  private readonly sent = new Map<string, SentMessage>();
  private readonly msgIdOfBody = new Map<number, string>();
  /** Deliveries per message, sorted by index. */
  private readonly deliveries = new Map<string, Delivery[]>();
  private readonly byHandle = new Map<string, Delivery>();
  private readonly byQueueSeq = new Map<string, string>();
  private readonly deletedAt = new Map<string, number>();
  private readonly damageFound = new Set<string>();
  private readonly quarantined = new Set<string>();
  private readonly acked = new Set<number>();
  private readonly clientDelivered = new Set<number>();
  readonly stats: HistoryStats = emptyHistoryStats();

  /** Per queue, the visibility timeout in effect after each index (setQueueAttributes changes it for later receives). */
  private readonly visibilityMs = new Map<string, { afterIndex: number; ms: number }[]>();

  constructor(
    initialVisibilityMs: ReadonlyMap<string, number>,
    private readonly fifo?: FifoHistory,
    private readonly moves?: MoveHistory,
  ) {
    for (const [queue, ms] of initialVisibilityMs) this.visibilityMs.set(queue, [{ afterIndex: 0, ms }]);
  }

  /** Whether a send committed `msgId` already (a send retried with its deduplication id answers it again). */
  knows(msgId: string): boolean {
    return this.sent.has(msgId);
  }

  /** A setQueueAttributes entry at `index` changed the queue's visibility timeout. */
  visibilityChanged(queue: string, index: number, ms: number): void {
    this.visibilityMs.get(queue)?.push({ afterIndex: index, ms });
  }

  /** The visibility timeout a receive at `index` gave its messages. */
  private visibility(queue: string, index: number): number {
    const changes = this.visibilityMs.get(queue);
    if (changes === undefined) throw new QueueCheckFailure('driver', `no visibility timeout known for queue ${queue}`);
    let ms = changes[0]!.ms;
    for (const c of changes) if (c.afterIndex < index) ms = c.ms;
    return ms;
  }

  /**
   * A send entry was applied (first time anywhere): its messages exist from here on. A body the
   * client retried with its deduplication id (`deduplicated`) must come back under the msgId it
   * got the first time, within the deduplication window, not as a second message.
   */
  sendCommitted(index: number, timeMs: number, queue: string, delaySeconds: number, msgIds: string[], bodyIds: number[], deduplicated: boolean[] = [], groupIds: (string | undefined)[] = []): void {
    if (msgIds.length !== bodyIds.length) throw new QueueCheckFailure('integrity', `send at ${index}: ${msgIds.length} msgIds for ${bodyIds.length} bodies`);
    msgIds.forEach((msgId, k) => {
      const bodyId = bodyIds[k]!;
      const first = this.msgIdOfBody.get(bodyId);
      if (deduplicated[k] === true && first !== undefined) {
        const info = this.sent.get(first)!;
        if (msgId !== first && timeMs - info.timeMs < LIMITS.dedupWindowMs) {
          throw new QueueCheckFailure('storedTwice', `body m${bodyId} sent again at ${index} with its deduplication id became ${msgId}; it was ${first} at ${info.index}`);
        }
        if (msgId === first) {
          this.stats.dedupHits++;
          return;
        }
      }
      if (this.sent.has(msgId)) throw new QueueCheckFailure('integrity', `msgId ${msgId} assigned twice (again at ${index})`);
      this.sent.set(msgId, { bodyId, queue, index, timeMs, delayMs: delaySeconds * 1000 });
      this.msgIdOfBody.set(bodyId, msgId);
      if (this.fifo?.isFifo(queue) === true) {
        const groupId = groupIds[k];
        if (groupId === undefined) throw new QueueCheckFailure('integrity', `send at ${index} put ${msgId} in FIFO queue ${queue} without a group`);
        this.fifo.sent(queue, groupId, msgId);
      }
      if (this.moves?.covers(queue) === true) this.moves.sent(msgId, index, timeMs);
    });
  }

  /**
   * A message was handed out: by a receive entry (first apply anywhere), or by a driver that did
   * not go through the log. Checks it against every other delivery of the same message.
   */
  delivered(d: Delivery, queueNumber: number, seq: number, detail?: DeliveryDetail): void {
    const info = this.sent.get(d.msgId);
    if (!info) throw new QueueCheckFailure('integrity', `${d.node} delivered ${d.msgId}, which was never sent`);
    const moves = this.moves?.covers(info.queue) === true && this.moves.covers(d.queue) ? this.moves : undefined;
    if (info.queue !== d.queue && moves === undefined) throw new QueueCheckFailure('integrity', `${d.msgId} sent to ${info.queue} but delivered from ${d.queue}`);
    // Where the message is (before the checks of its deliveries in time: a copy shows as one).
    if (moves !== undefined && detail !== undefined) moves.delivered(d.msgId, d.queue, seq, detail.dequeueCount, d.index, d.timeMs);
    if (d.index <= info.index || d.timeMs < info.timeMs + info.delayMs) {
      throw new QueueCheckFailure(
        'delay',
        `${d.msgId} delivered at index ${d.index} t=${d.timeMs} but sent at ${info.index} t=${info.timeMs} with delay ${info.delayMs} ms`,
      );
    }
    const del = this.deletedAt.get(d.msgId);
    if (del !== undefined && del < d.index) {
      throw new QueueCheckFailure('deletedRedelivered', `${d.msgId} delivered at ${this.where(d)} after it was deleted at index ${del}`);
    }
    const list = this.deliveries.get(d.msgId) ?? [];
    let pos = list.length;
    while (pos > 0 && list[pos - 1]!.index > d.index) pos--;
    const prev = list[pos - 1];
    const next = list[pos];
    if (prev && d.timeMs < prev.timeMs + this.visibility(prev.queue, prev.index)) this.doubleDelivery(prev, d);
    if (next && next.timeMs < d.timeMs + this.visibility(d.queue, d.index)) this.doubleDelivery(d, next);
    if (d.source === 'log' && list.some((x) => x.source === 'log')) this.stats.redeliveries++;
    list.splice(pos, 0, d);
    this.deliveries.set(d.msgId, list);
    this.byHandle.set(d.handle, d);
    this.byQueueSeq.set(`${queueNumber}:${seq}`, d.msgId);
    this.stats.deliveries++;
    if (this.fifo?.isFifo(d.queue) === true && d.source === 'log') {
      if (detail?.groupId === undefined) throw new QueueCheckFailure('integrity', `${d.msgId} delivered from FIFO queue ${d.queue} without its group`);
      const groupId = this.fifo.groupOfSent(d.msgId);
      if (groupId !== detail.groupId) throw new QueueCheckFailure('integrity', `${d.msgId} sent to group ${groupId} but delivered in group ${detail.groupId}`);
      const visibilityMs = this.visibility(d.queue, d.index);
      this.fifo.delivered({ msgId: d.msgId, queue: d.queue, groupId, seq, dequeueCount: detail.dequeueCount, index: d.index, timeMs: d.timeMs, visibilityMs });
    }
  }

  private doubleDelivery(first: Delivery, second: Delivery): never {
    const vis = this.visibility(first.queue, first.index);
    throw new QueueCheckFailure(
      'doubleDelivery',
      `${first.msgId} delivered at ${this.where(first)} and again at ${this.where(second)}, within the ${vis} ms visibility timeout`,
    );
  }

  private where(d: Delivery): string {
    return `index ${d.index} t=${d.timeMs} (${d.source === 'log' ? 'receive entry' : 'served locally'} on ${d.node}, handle ${d.handle})`;
  }

  /** A delete entry was applied (first time anywhere); `succeeded` are the handles it accepted. */
  deleteCommitted(index: number, timeMs: number, succeeded: string[]): void {
    for (const h of succeeded) {
      const d = this.byHandle.get(h);
      if (!d || d.source !== 'log') throw new QueueCheckFailure('staleDelete', `delete at ${index} accepted handle ${h}, which no receive entry issued`);
      const later = (this.deliveries.get(d.msgId) ?? []).filter((x) => x.source === 'log' && x.index > d.index && x.index < index);
      if (later.length > 0) throw new QueueCheckFailure('staleDelete', `delete at ${index} accepted ${h} although ${d.msgId} was delivered again at ${later[0]!.index}`);
      const vis = this.visibility(d.queue, d.index);
      if (timeMs >= d.timeMs + vis) throw new QueueCheckFailure('staleDelete', `delete at ${index} t=${timeMs} accepted ${h} after its visibility ended (${d.timeMs} + ${vis})`);
      const after = (this.deliveries.get(d.msgId) ?? []).find((x) => x.index > index);
      if (after) throw new QueueCheckFailure('deletedRedelivered', `${d.msgId} deleted at index ${index} but delivered at ${this.where(after)}`);
      this.deletedAt.set(d.msgId, index);
      this.fifo?.gone(d.msgId);
      this.stats.deletes++;
    }
  }

  /** A driver found a message's body damaged (or missing) and proposed to quarantine it. */
  damaged(msgId: string): void {
    if (!this.damageFound.has(msgId)) this.stats.damagedBodiesFound++;
    this.damageFound.add(msgId);
  }

  /** A quarantine entry was applied (first time anywhere) and took the message out of delivery. */
  quarantineCommitted(index: number, queueNumber: number, seq: number): void {
    const msgId = this.byQueueSeq.get(`${queueNumber}:${seq}`);
    if (msgId === undefined) throw new QueueCheckFailure('falseQuarantine', `quarantine at ${index} of ${queueNumber}:${seq}, never delivered`);
    if (!this.damageFound.has(msgId)) throw new QueueCheckFailure('falseQuarantine', `quarantine at ${index} of ${msgId}, whose body no driver found damaged`);
    this.quarantined.add(msgId);
    this.fifo?.gone(msgId);
    this.stats.quarantined++;
  }

  sendAcked(bodyIds: number[]): void {
    for (const id of bodyIds) this.acked.add(id);
    this.stats.ackedSends += bodyIds.length;
  }

  /** A consumer got a message (body already checked by the driver, or not, if the driver is broken). */
  clientDelivery(node: string, msgId: string, handle: string, body: Uint8Array): void {
    const bodyId = bodyIdOf(body);
    if (bodyId === undefined) throw new QueueCheckFailure('integrity', `${node} delivered ${msgId} with a damaged body`);
    const info = this.sent.get(msgId);
    if (!info || info.bodyId !== bodyId) throw new QueueCheckFailure('integrity', `${node} delivered body m${bodyId} as message ${msgId}`);
    if (!this.byHandle.has(handle)) throw new QueueCheckFailure('driver', `${node} answered ${msgId} with handle ${handle}, which no delivery issued`);
    this.clientDelivered.add(bodyId);
    this.stats.clientDeliveries++;
  }

  /**
   * After the drain of `queues` (whose consumers delete what they get, sooner or later): every
   * message a send committed there was deleted, or quarantined, whichever queue of a move pair it
   * ended in. A message a move dropped is left over.
   */
  checkNothingLeft(queues: ReadonlySet<string>): void {
    const left: string[] = [];
    for (const [msgId, info] of this.sent) {
      if (queues.has(info.queue) && !this.deletedAt.has(msgId) && !this.quarantined.has(msgId)) left.push(msgId);
    }
    if (left.length > 0) {
      const first = left[0]!;
      const info = this.sent.get(first)!;
      throw new QueueCheckFailure('unsettled', `${left.length} messages sent to ${[...queues].join(', ')} were never deleted, e.g. ${first} (body m${info.bodyId}, sent to ${info.queue} at index ${info.index}; deliveries: ${JSON.stringify(this.deliveries.get(first) ?? [])})`);
    }
  }

  /** (a): after the drain, every acknowledged send reached a consumer, or its body was found damaged. */
  checkNothingLost(): void {
    const lost: number[] = [];
    for (const bodyId of this.acked) {
      if (this.clientDelivered.has(bodyId)) continue;
      const msgId = this.msgIdOfBody.get(bodyId);
      if (msgId !== undefined && this.quarantined.has(msgId)) {
        this.stats.lostToQuarantine++;
        continue;
      }
      lost.push(bodyId);
    }
    if (lost.length > 0) {
      const first = lost[0]!;
      const msgId = this.msgIdOfBody.get(first);
      const where = msgId === undefined ? 'its send never committed' : `msgId ${msgId}, deliveries: ${JSON.stringify(this.deliveries.get(msgId) ?? [])}`;
      throw new QueueCheckFailure('lostMessage', `${lost.length} acknowledged messages never delivered, e.g. m${first} (${where})`);
    }
  }
}
