// Dead letters on their way to a dead-letter queue on another set (DeadLetterPolicy.remote). The
// state machine cannot append to a queue it does not hold, so a message past its policy leaves the
// source queue into the source's outbox, in replicated state, and the set's leader sends it to the
// dead-letter queue's set (node/push-delivery.ts, node/outbox.ts) with a deduplication key made of
// the source queue, its msgId and the log entry that put it there, then settles it through the log
// (deadLetterSent / deadLetterFailed). A new leader resumes where the old one stopped. A redrive
// out of a dead-letter queue to a queue on another set (redrive.ts) goes the same way: `move`.
//
// Unlike a topic's push, a dead letter is never given up on while its dead-letter queue exists: a
// failed send is tried again after a backoff capped at DEAD_LETTER_RETRY.capMs, for as long as it
// takes. Only `gone` (the dead-letter queue does not exist, or refuses the message for good) drops
// it, counted in deadLetterDrops, as a local dead letter whose queue is missing is.
//
// The body stays where it was (its log entry); the outbox keeps that entry live, for compaction and
// snapshots, as pending pushes do.

import { BrokerFormatError } from './binary';
import type { DueDeadLetter, MoveOrigin } from './commands';
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

/** One dead letter (or redriven message) waiting to be sent. */
export interface PendingDeadLetter {
  /** Where it goes: the dead-letter queue named by the policy when the message was dead-lettered (a move: the redrive's destination). */
  destination: string;
  /**
   * The log entry that put it here. With the queue and msgId, its deduplication key: a msgId can
   * come back to a queue (moves within a set keep it), an entry index never repeats.
   */
  sinceIndex: number;
  /** A redrive out of this (dead-letter) queue, not a dead letter of it. */
  move: boolean;
  /**
   * A dead letter leaving its dead-letter queue for the queue's new set (a queue move,
   * node/queue-move.ts): the queue it was dead-lettered from, which the copy there remembers so
   * that a redrive can still send it back. Only with `origin`.
   */
  deadLetterSource?: string;
  bodyEntry: number;
  bodyOffset: number;
  bodyLength: number;
  bodyCrc: number;
  /** Position in its send batch, with the ENVELOPED bit (message-store.ts). */
  batchPos: number;
  groupId?: string;
  /** A message of a queue moving to another set (a move to the queue's own name there). */
  origin?: MoveOrigin;
  failedAttempts: number;
  nextAttemptMs: number;
}

/**
 * As a snapshot keeps one: [msgId, destination, sinceIndex, bodyEntry, offset, length, crc, batchPos,
 * failedAttempts, nextAttemptMs, groupId | null, move (0/1)], then, for a message of a queue
 * moving to another set only, [origin enqueueMs, kept (0/1)], and after them, for a dead letter
 * moving with its dead-letter queue, the queue it came from (rows without them are what snapshots
 * held before queue moves carried them). A moving message received before has the 17-field form:
 * [..., origin enqueueMs, kept, source queue | null, dequeueCount, firstDequeueMs] (rows of 14 or
 * 15 fields are what snapshots held before moves carried receive counts).
 */
export type DeadLetterRow =
  | [string, string, number, number, number, number, number, number, number, number, string | null, number]
  | [string, string, number, number, number, number, number, number, number, number, string | null, number, number, number]
  | [string, string, number, number, number, number, number, number, number, number, string | null, number, number, number, string]
  | [string, string, number, number, number, number, number, number, number, number, string | null, number, number, number, string | null, number, number];

export type DeadLetterFailure = { outcome: 'retry'; nextAttemptMs: number } | { outcome: 'dropped' } | { outcome: 'unknown' };

export class DeadLetterOutbox {
  /** By msgId, in the order they were dead-lettered. */
  readonly pending = new Map<string, PendingDeadLetter>();

  get size(): number {
    return this.pending.size;
  }

  add(msgId: string, destination: string, moved: MovedMessage, sinceIndex: number, nowMs: number, move = false, origin?: MoveOrigin, deadLetterSource?: string): void {
    const p: PendingDeadLetter = {
      destination,
      sinceIndex,
      move,
      bodyEntry: moved.bodyEntry,
      bodyOffset: moved.bodyOffset,
      bodyLength: moved.bodyLength,
      bodyCrc: moved.bodyCrc,
      batchPos: moved.batchPos,
      failedAttempts: 0,
      nextAttemptMs: nowMs,
    };
    if (moved.groupId !== undefined) p.groupId = moved.groupId;
    if (origin !== undefined) {
      p.origin = { ...origin };
      if (deadLetterSource !== undefined) p.deadLetterSource = deadLetterSource;
    }
    this.pending.set(msgId, p);
  }

  /** Its destination took it: what was pending, or undefined when it was not (already settled). */
  sent(msgId: string): PendingDeadLetter | undefined {
    const p = this.pending.get(msgId);
    this.pending.delete(msgId);
    return p;
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

  /**
   * Those due at nowMs, appended to `out` in dead-letter order. Of a FIFO message group only the
   * oldest waiting message is ever listed: its group's next one is sent once it is taken, so the
   * destination gets the group in order, as a move within a set keeps it.
   */
  collectDue(sourceQueue: string, nowMs: number, out: DueDeadLetter[]): void {
    const groupsSeen = new Set<string>();
    for (const [msgId, p] of this.pending) {
      if (p.groupId !== undefined) {
        const key = `${p.destination}\u0000${p.groupId}`;
        if (groupsSeen.has(key)) continue;
        groupsSeen.add(key);
      }
      if (p.nextAttemptMs > nowMs) continue;
      const due: DueDeadLetter = {
        deadLetter: true,
        sourceQueue,
        destinationQueue: p.destination,
        msgId,
        sinceIndex: p.sinceIndex,
        move: p.move,
        body: { entryIndex: p.bodyEntry, offset: p.bodyOffset, length: p.bodyLength, crc32c: p.bodyCrc },
        enveloped: (p.batchPos & ENVELOPED) !== 0,
        failedAttempts: p.failedAttempts,
        nextAttemptMs: p.nextAttemptMs,
      };
      if (p.groupId !== undefined) due.groupId = p.groupId;
      if (p.origin !== undefined) due.moveOrigin = { ...p.origin };
      if (p.deadLetterSource !== undefined) due.deadLetterSource = p.deadLetterSource;
      out.push(due);
    }
  }

  /**
   * A rewind of the queue from fromMs: its messages kept for rewind waiting here to be sent to the
   * set the queue moves to, enqueued at or after fromMs, are sent visible instead, as the rewind
   * made visible those still in the queue. (One whose kept copy already reached that set stays
   * kept there unless the rewind, which reaches both sets, came there after it.)
   */
  rewindKept(fromMs: number): void {
    for (const p of this.pending.values()) {
      if (p.origin?.kept === true && p.origin.enqueueMs >= fromMs) p.origin.kept = false;
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
    return [...this.pending].map(([msgId, p]): DeadLetterRow => {
      const row: DeadLetterRow = [msgId, p.destination, p.sinceIndex, p.bodyEntry, p.bodyOffset, p.bodyLength, p.bodyCrc, p.batchPos, p.failedAttempts, p.nextAttemptMs, p.groupId ?? null, p.move ? 1 : 0];
      // Only a queue move's messages have the two more fields (three for a dead letter moving with
      // its dead-letter queue), so other rows keep their earlier form.
      if (p.origin === undefined) return row;
      const moved: DeadLetterRow = [...row, p.origin.enqueueMs, p.origin.kept ? 1 : 0];
      // Only one received before has its receive count (so the others keep their earlier form).
      if (p.origin.dequeueCount !== undefined) return [...moved, p.deadLetterSource ?? null, p.origin.dequeueCount, p.origin.firstDequeueMs!];
      return p.deadLetterSource === undefined ? moved : [...moved, p.deadLetterSource];
    });
  }

  /** What rows() wrote; a BrokerFormatError for anything else. */
  static fromRows(v: unknown, what: string): DeadLetterOutbox {
    const bad = (): never => {
      throw new BrokerFormatError(`snapshot: bad pending dead letters of ${what}`);
    };
    if (!Array.isArray(v)) return bad();
    const out = new DeadLetterOutbox();
    for (const row of v as unknown[]) {
      if (!Array.isArray(row) || (row.length !== 12 && row.length !== 14 && row.length !== 15 && row.length !== 17)) return bad();
      const [msgId, destination, ...rest] = row as unknown[];
      const nums = rest.slice(0, 8);
      const groupId = rest[8];
      const move = rest[9];
      if (typeof msgId !== 'string' || typeof destination !== 'string' || out.pending.has(msgId)) return bad();
      if (!nums.every((n) => typeof n === 'number' && Number.isFinite(n))) return bad();
      if (groupId !== null && typeof groupId !== 'string') return bad();
      if (move !== 0 && move !== 1) return bad();
      const [sinceIndex, bodyEntry, bodyOffset, bodyLength, bodyCrc, batchPos, failedAttempts, nextAttemptMs] = nums as number[];
      const p: PendingDeadLetter = { destination, sinceIndex: sinceIndex!, move: move === 1, bodyEntry: bodyEntry!, bodyOffset: bodyOffset!, bodyLength: bodyLength!, bodyCrc: bodyCrc!, batchPos: batchPos!, failedAttempts: failedAttempts!, nextAttemptMs: nextAttemptMs! };
      if (groupId !== null) p.groupId = groupId;
      if (row.length >= 14) {
        const [originMs, kept, source, dequeueCount, firstDequeueMs] = rest.slice(10);
        if (typeof originMs !== 'number' || !Number.isFinite(originMs) || (kept !== 0 && kept !== 1)) return bad();
        if (row.length === 15 && typeof source !== 'string') return bad();
        p.origin = { enqueueMs: originMs, kept: kept === 1 };
        if (row.length === 17) {
          if (source !== null && typeof source !== 'string') return bad();
          if (typeof dequeueCount !== 'number' || !Number.isInteger(dequeueCount) || dequeueCount < 1 || dequeueCount > 0xffff_ffff) return bad();
          if (typeof firstDequeueMs !== 'number' || !Number.isFinite(firstDequeueMs) || firstDequeueMs < 0) return bad();
          p.origin.dequeueCount = dequeueCount;
          p.origin.firstDequeueMs = firstDequeueMs;
        }
        if (typeof source === 'string') p.deadLetterSource = source;
      }
      out.pending.set(msgId, p);
    }
    return out;
  }
}
