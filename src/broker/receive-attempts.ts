// Receive attempts (SQS ReceiveRequestAttemptId, FIFO queues only). A client whose receive was
// lost on the way back (a generic error, a timeout, a failover) retries it with the same attempt
// id and must get the same messages under the same receipt handles, not the next ones: in a FIFO
// queue the lost messages' groups stay locked while they are in flight, so a fresh receive would
// stall those groups until the visibility timeout ends. So a receive that names an attempt id is
// remembered under it, in replicated state (the log entry's time, no clock): which messages it
// returned and under which handle, for LIMITS.receiveAttemptWindowMs after that receive. The
// queue (queue.ts) answers a retry from here only while every one of those messages is still in
// flight under that handle with the deadline the attempt left it (none deleted, received again,
// or its visibility changed); otherwise the retry is a fresh receive, which the id then names.
//
// Bounded per queue (LIMITS.receiveAttemptsPerQueueMax): beyond it the oldest attempt is
// forgotten, and a retry of it is a fresh receive. Entries are kept in the order they were made,
// which is the order they expire (entry time never goes backwards, the window is one constant),
// so expiry is a walk from the front. An attempt is never changed once made (a retry that resets
// the visibility makes a new one): a snapshot may keep it while the queue goes on.

import { LIMITS } from '../protocol/limits';
import { BrokerFormatError } from './binary';

/** One message of a remembered receive: the message, the receipt handle it went out under, its deadline. */
export interface AttemptMessage {
  readonly seq: number;
  readonly dequeueCount: number;
  readonly token: number;
  /** The next visible time the receive (or the latest retry) gave it. */
  readonly deadlineMs: number;
}

export interface ReceiveAttempt {
  /** The entry time of the first receive under this id: the window runs from it. */
  readonly atMs: number;
  /** In the order the receive returned them. */
  readonly messages: readonly AttemptMessage[];
}

/** As a snapshot keeps one: [attemptId, atMs, then per message seq, dequeueCount, token, deadlineMs]. */
export type ReceiveAttemptRow = [string, number, ...number[]];

const FIELDS_PER_MESSAGE = 4;

export class ReceiveAttempts {
  /** Insertion-ordered: the front expires first. */
  private readonly byId = new Map<string, ReceiveAttempt>();

  constructor(private readonly capacity: number = LIMITS.receiveAttemptsPerQueueMax) {}

  get size(): number {
    return this.byId.size;
  }

  /** The attempt `id` if it is remembered and its window has not ended by nowMs (forgets those that ended). */
  find(id: string, nowMs: number): ReceiveAttempt | undefined {
    this.expire(nowMs);
    return this.byId.get(id);
  }

  /** `id` names `messages` from now on (a fresh receive: its window starts at nowMs). */
  remember(id: string, atMs: number, messages: readonly AttemptMessage[]): void {
    this.byId.delete(id);
    this.byId.set(id, { atMs, messages });
    while (this.byId.size > this.capacity) this.byId.delete(this.byId.keys().next().value!);
  }

  /** A retry answered from `id` moved its messages' deadlines: the same attempt, same window, new deadlines. */
  replace(id: string, messages: readonly AttemptMessage[]): void {
    const a = this.byId.get(id);
    if (a !== undefined) this.byId.set(id, { atMs: a.atMs, messages });
  }

  forget(id: string): void {
    this.byId.delete(id);
  }

  /** Forgets the attempts whose window ended by nowMs. */
  expire(nowMs: number): void {
    for (const [id, a] of this.byId) {
      if (a.atMs + LIMITS.receiveAttemptWindowMs > nowMs) return;
      this.byId.delete(id);
    }
  }

  /** Every remembered attempt, oldest first, as a snapshot keeps it. */
  rows(): ReceiveAttemptRow[] {
    const out: ReceiveAttemptRow[] = [];
    for (const [id, a] of this.byId) {
      const row: ReceiveAttemptRow = [id, a.atMs];
      for (const m of a.messages) row.push(m.seq, m.dequeueCount, m.token, m.deadlineMs);
      out.push(row);
    }
    return out;
  }

  /** Attempts from a snapshot's rows (oldest first); `what` names the queue in errors. */
  static fromRows(rows: unknown, what: string): ReceiveAttempts {
    const bad = (why: string): BrokerFormatError => new BrokerFormatError(`snapshot: ${what}: bad receive attempt (${why})`);
    if (!Array.isArray(rows)) throw bad('not a list');
    const out = new ReceiveAttempts();
    for (const row of rows as unknown[]) {
      if (!Array.isArray(row) || row.length < 2 || (row.length - 2) % FIELDS_PER_MESSAGE !== 0) throw bad('shape');
      const [id, atMs, ...fields] = row as unknown[];
      if (typeof id !== 'string' || id.length === 0) throw bad('id');
      if (!fields.every((f) => typeof f === 'number' && Number.isFinite(f)) || typeof atMs !== 'number' || !Number.isFinite(atMs)) throw bad('numbers');
      const n = fields as number[];
      const messages: AttemptMessage[] = [];
      for (let k = 0; k < n.length; k += FIELDS_PER_MESSAGE) messages.push({ seq: n[k]!, dequeueCount: n[k + 1]!, token: n[k + 2]!, deadlineMs: n[k + 3]! });
      out.byId.set(id, { atMs, messages });
    }
    return out;
  }

  /** Rough heap bytes (the queue's indexBytes). */
  bytes(): number {
    let b = 0;
    for (const [id, a] of this.byId) b += 64 + 2 * id.length + a.messages.length * 48;
    return b;
  }
}
