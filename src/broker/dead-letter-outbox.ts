// Dead letters on their way to a dead-letter queue on another set (DeadLetterPolicy.remote). The
// state machine cannot append to a queue it does not hold, so a message past its policy leaves the
// source queue into the source's outbox, in replicated state, and the set's leader sends it to the
// dead-letter queue's set (node/push-delivery.ts, node/outbox.ts) with a deduplication key made of
// the source queue and its msgId, then settles it through the log (deadLetterSent /
// deadLetterFailed). A new leader resumes where the old one stopped.
//
// Unlike a topic's push, a dead letter is never given up on while its dead-letter queue exists: a
// failed send is tried again after a backoff capped at DEAD_LETTER_RETRY.capMs, for as long as it
// takes. Only `gone` (the dead-letter queue does not exist, or refuses the message for good) drops
// it, counted in deadLetterDrops, as a local dead letter whose queue is missing is.
//
// The body stays where it was (its log entry); the outbox keeps that entry live, for compaction and
// snapshots, as pending pushes do.

import { BrokerFormatError } from './binary';
import type { DueDeadLetter } from './commands';
import { ENVELOPED } from './message-store';
import type { MovedMessage } from './queue';

/** Backoff between sends of one dead letter: 1 s, 2 s, 4 s, ... at most capMs, never dropped. */
export const DEAD_LETTER_RETRY = {
  firstMs: 1_000,
  capMs: 60_000,
} as const;

/** The wait after the `failedAttempts`-th failed send. */
export function deadLetterRetryMs(failedAttempts: number): number {
  return Math.min(DEAD_LETTER_RETRY.firstMs * 2 ** Math.min(Math.max(failedAttempts - 1, 0), 30), DEAD_LETTER_RETRY.capMs);
}

/** One dead letter waiting to be sent. */
export interface PendingDeadLetter {
  /** The dead-letter queue named by the policy when the message was dead-lettered. */
  deadLetterQueue: string;
  bodyEntry: number;
  bodyOffset: number;
  bodyLength: number;
  bodyCrc: number;
  /** Position in its send batch, with the ENVELOPED bit (message-store.ts). */
  batchPos: number;
  groupId?: string;
  failedAttempts: number;
  nextAttemptMs: number;
}

/** As a snapshot keeps one: [msgId, deadLetterQueue, bodyEntry, offset, length, crc, batchPos, failedAttempts, nextAttemptMs, groupId | null]. */
export type DeadLetterRow = [string, string, number, number, number, number, number, number, number, string | null];

export type DeadLetterFailure = { outcome: 'retry'; nextAttemptMs: number } | { outcome: 'dropped' } | { outcome: 'unknown' };

export class DeadLetterOutbox {
  /** By msgId, in the order they were dead-lettered. */
  readonly pending = new Map<string, PendingDeadLetter>();

  get size(): number {
    return this.pending.size;
  }

  add(msgId: string, deadLetterQueue: string, moved: MovedMessage, nowMs: number): void {
    const p: PendingDeadLetter = {
      deadLetterQueue,
      bodyEntry: moved.bodyEntry,
      bodyOffset: moved.bodyOffset,
      bodyLength: moved.bodyLength,
      bodyCrc: moved.bodyCrc,
      batchPos: moved.batchPos,
      failedAttempts: 0,
      nextAttemptMs: nowMs,
    };
    if (moved.groupId !== undefined) p.groupId = moved.groupId;
    this.pending.set(msgId, p);
  }

  /** The dead-letter queue took it; false when it was not pending (already settled). */
  sent(msgId: string): boolean {
    return this.pending.delete(msgId);
  }

  failed(msgId: string, gone: boolean, nowMs: number): DeadLetterFailure {
    const p = this.pending.get(msgId);
    if (p === undefined) return { outcome: 'unknown' };
    if (gone) {
      this.pending.delete(msgId);
      return { outcome: 'dropped' };
    }
    p.failedAttempts++;
    p.nextAttemptMs = nowMs + deadLetterRetryMs(p.failedAttempts);
    return { outcome: 'retry', nextAttemptMs: p.nextAttemptMs };
  }

  /** Those due at nowMs, appended to `out` in dead-letter order. */
  collectDue(sourceQueue: string, nowMs: number, out: DueDeadLetter[]): void {
    for (const [msgId, p] of this.pending) {
      if (p.nextAttemptMs > nowMs) continue;
      const due: DueDeadLetter = {
        deadLetter: true,
        sourceQueue,
        deadLetterQueue: p.deadLetterQueue,
        msgId,
        body: { entryIndex: p.bodyEntry, offset: p.bodyOffset, length: p.bodyLength, crc32c: p.bodyCrc },
        enveloped: (p.batchPos & ENVELOPED) !== 0,
        failedAttempts: p.failedAttempts,
        nextAttemptMs: p.nextAttemptMs,
      };
      if (p.groupId !== undefined) due.groupId = p.groupId;
      out.push(due);
    }
  }

  /** Earliest next send; Infinity when none. */
  nextAttemptMs(): number {
    let d = Infinity;
    for (const p of this.pending.values()) d = Math.min(d, p.nextAttemptMs);
    return d;
  }

  /** Each pending body: the entry holding it and its length. */
  forEachBody(fn: (entryIndex: number, length: number) => void): void {
    for (const p of this.pending.values()) fn(p.bodyEntry, p.bodyLength);
  }

  rows(): DeadLetterRow[] {
    return [...this.pending].map(([msgId, p]): DeadLetterRow => [
      msgId,
      p.deadLetterQueue,
      p.bodyEntry,
      p.bodyOffset,
      p.bodyLength,
      p.bodyCrc,
      p.batchPos,
      p.failedAttempts,
      p.nextAttemptMs,
      p.groupId ?? null,
    ]);
  }

  /** What rows() wrote; a BrokerFormatError for anything else. */
  static fromRows(v: unknown, what: string): DeadLetterOutbox {
    const bad = (): never => {
      throw new BrokerFormatError(`snapshot: bad pending dead letters of ${what}`);
    };
    if (!Array.isArray(v)) return bad();
    const out = new DeadLetterOutbox();
    for (const row of v as unknown[]) {
      if (!Array.isArray(row) || row.length !== 10) return bad();
      const [msgId, dlq, ...rest] = row as unknown[];
      const nums = rest.slice(0, 7);
      const groupId = rest[7];
      if (typeof msgId !== 'string' || typeof dlq !== 'string' || out.pending.has(msgId)) return bad();
      if (!nums.every((n) => typeof n === 'number' && Number.isFinite(n))) return bad();
      if (groupId !== null && typeof groupId !== 'string') return bad();
      const [bodyEntry, bodyOffset, bodyLength, bodyCrc, batchPos, failedAttempts, nextAttemptMs] = nums as number[];
      const p: PendingDeadLetter = { deadLetterQueue: dlq, bodyEntry: bodyEntry!, bodyOffset: bodyOffset!, bodyLength: bodyLength!, bodyCrc: bodyCrc!, batchPos: batchPos!, failedAttempts: failedAttempts!, nextAttemptMs: nextAttemptMs! };
      if (groupId !== null) p.groupId = groupId;
      out.pending.set(msgId, p);
    }
    return out;
  }
}
