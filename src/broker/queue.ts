// One queue's state: attributes, its message columns and the three orderings over them (visible by
// seq, in flight by next visible time, delayed by due time). Every per-message operation is
// O(log n) or amortized O(1); nothing walks the backlog except rewind and rewindSeconds → 0, which
// are rare administrative actions.
//
// Invariants (checked in full by the model tests; the cheap parts also at run time, see invariant()):
// - each message is in exactly one state; visibleCount etc. equal the number of slots in that state
//   (checked: no counter goes below zero);
// - every VISIBLE message has one entry in `visible`, every INFLIGHT one an entry in `inflight`
//   with its current deadline, every DELAYED one in `delayed` (other entries are stale, skipped)
//   (checked: a heap never holds fewer entries than its state's counter, an empty `visible` means
//   no VISIBLE message);
// - enqueue time never decreases with seq, so retention and dead-letter TTL advance from the head
//   (checked on append), except for messages a queue move carried in from another set with their
//   first enqueue time (send with moveOrigin): one enqueued before a message ahead of it is also
//   in `carried`, by enqueue time, and retention expires it from there (see expireRetention).
//   Dead-letter TTL walks from the head alone: such a message is moved once the walk reaches it.
// - FIFO queues (sqs.fifo) keep their VISIBLE messages per message group (./fifo-groups.ts) and
//   leave `visible` empty; the group structures follow every state change through setState
//   (checked: group counters never go below zero, a group's heap holds its visible messages).

import { fail, type ErrorResult } from '../protocol/errors';
import type { DeadLetterPolicy, DeleteFailure, MoveOrigin, QueueAttributes, ReceivedMessage, SendBodyOptions, VisibilityChange } from './commands';
import type { DecodedBody } from './codec';
import type { DedupHit } from './dedup';
import { SQS_QUEUE_DEFAULTS, type QueueSettingsValues, type SqsQueueSettings } from '../protocol/queue-types';
import { FifoGroups, type FifoGroup, type FifoGroupRows } from './fifo-groups';
import { SeqHeap, TimedIdHeap } from './heaps';
import { BATCH_POS_MASK, CHUNK_SLOTS, DELAYED, ENVELOPED, GONE, INFLIGHT, MessageStore, REWIND, VISIBLE, type Chunk } from './message-store';
import { sequenceNumberOf, type GroupIds } from './ids';
import type { DeadLetterOutbox } from './dead-letter-outbox';
import { QueueRedrive } from './redrive';
import { receiptToken } from './receipt-handle';
import { ReceiveAttempts, type AttemptMessage } from './receive-attempts';
import { invariant } from './invariant';

/** A queue's integer settings, every one present. */
export type QueueConfig = QueueSettingsValues;

/** A message on its way to a dead-letter queue: the body stays where it is. */
export interface MovedMessage {
  /** When it was enqueued where it leaves (a dead-letter or redrive move enqueues it anew; a queue move keeps it). */
  enqueueMs?: number;
  /** The entry that enqueued it (its msgId). */
  entryIndex: number;
  /** The entry holding its body now. */
  bodyEntry: number;
  bodyOffset: number;
  bodyLength: number;
  bodyCrc: number;
  /** Position in its send batch, with the ENVELOPED bit (message-store.ts). */
  batchPos: number;
  /** Its message group, when it leaves a FIFO queue. */
  groupId?: string;
  /**
   * How many times it was received where it leaves, and when first (absent: never). Only a queue
   * move carries them on (MoveOrigin); a dead-letter or redrive move starts again from 0.
   */
  dequeueCount?: number;
  firstDequeueMs?: number;
}

/** What a send answers: per body its msgId and SQS sequence number (a duplicate: the first send's). */
export interface SendOutcome {
  ok: true;
  msgIds: string[];
  /** FIFO queues only (SQS answers a standard queue's sends without them): not made per message otherwise. */
  sequenceNumbers?: string[];
}

export interface DeadLetterRouter {
  /** `src` has already dropped the message; put it in src's dead-letter queue (or drop it). */
  deadLetter(src: QueueState, moved: MovedMessage, nowMs: number): void;
}

/** Unix seconds, as CMQ reports times. */
export function toSec(ms: number): number {
  return Math.floor(ms / 1000);
}


const COMPACT_SLACK = 1024;

/** A copy, so a reader never holds the queue's own (mutable) arrays. */
export function copyAllowPolicy(p: SqsQueueSettings['redriveAllowPolicy']): SqsQueueSettings['redriveAllowPolicy'] {
  if (p === null) return null;
  return p.sourceQueueNames === undefined ? { permission: p.permission } : { permission: p.permission, sourceQueueNames: [...p.sourceQueueNames] };
}

/**
 * Whether message slot i of c may still be delivered, so its body must be kept: any state but
 * GONE, except deleted messages enqueued before `rewindCutoffMs` (never rewound again).
 */
export function needsBody(c: Chunk, i: number, rewindCutoffMs: number): boolean {
  const st = c.state[i];
  return st !== GONE && !(st === REWIND && c.enqueueMs[i]! < rewindCutoffMs);
}

export class QueueState {
  readonly nameLower: string;
  readonly store = new MessageStore();
  readonly visible = new SeqHeap();
  readonly inflight = new TimedIdHeap();
  readonly delayed = new TimedIdHeap();
  /**
   * (enqueue time, seq) of every message enqueued before one ahead of it in seq: only messages a
   * queue move carried in keep such an early time. Entries whose message is GONE are stale, skipped.
   * Not in snapshots: rebuildIndexes finds them again from the enqueueMs column.
   */
  readonly carried = new TimedIdHeap();
  /** The latest enqueue time of a message appended (after a restore: of one not GONE). */
  private latestEnqueueMs = -Infinity;
  visibleCount = 0;
  inflightCount = 0;
  delayedCount = 0;
  rewindCount = 0;
  /** Dead-letter TTL (policy 1) has been applied to every seq below this. */
  ttlCursor = 0;
  /**
   * Deleted messages enqueued before this are never rewound again, whatever rewindSeconds becomes:
   * raising rewindSeconds does not bring back messages that had already left the window, whose
   * bodies compaction may have let go (see rewindCutoffMs).
   */
  rewindFloorMs = 0;
  /** The deadline this queue is scheduled at in the state machine (Infinity: none). */
  scheduledDeadlineMs = Infinity;
  /** Lower bound of the oldest VISIBLE/INFLIGHT/DELAYED seq (a read cache; not in snapshots). */
  private undeletedCursor = 0;
  /** The SQS API's settings; CMQ leaves them at their defaults. */
  sqs: SqsQueueSettings = { ...SQS_QUEUE_DEFAULTS };
  /** The message groups of a FIFO queue (see enableFifo); undefined on a standard queue. */
  fifo: FifoGroups | undefined = undefined;
  readonly tags = new Map<string, string>();
  /** Where its dead letters came from and its move tasks (redrive.ts); only on queues that have any. */
  redrive: QueueRedrive | undefined = undefined;
  /**
   * Its dead letters not yet taken by its dead-letter queue on another set (dead-letter-outbox.ts);
   * only on queues that have any.
   */
  deadLetters: DeadLetterOutbox | undefined = undefined;
  /** Its recent receives by attempt id (receive-attempts.ts); only on FIFO queues that had one. */
  receiveAttempts: ReceiveAttempts | undefined = undefined;

  constructor(
    readonly name: string,
    readonly queueId: string,
    readonly queueNumber: number,
    readonly createTimeMs: number,
    public lastModifyTimeMs: number,
    public config: QueueConfig,
    public policy: DeadLetterPolicy | undefined,
    /** The ids of the group whose state machine holds this queue (msgIds, receipt handles). */
    private readonly ids: GroupIds,
  ) {
    this.nameLower = name.toLowerCase();
  }

  /** Makes this (new or restored, still empty) queue a FIFO queue: sqs.fifo is set at creation only. */
  enableFifo(): void {
    invariant(this.store.nextSeq === 0 || this.fifo === undefined, () => `queue ${this.name}: FIFO enabled on a queue that has messages`);
    this.fifo ??= new FifoGroups(this.store);
  }

  /** Messages that count against maxMsgHeapNum. */
  heldCount(): number {
    return this.visibleCount + this.inflightCount + this.delayedCount;
  }

  private count(state: number, delta: number): void {
    switch (state) {
      case VISIBLE:
        this.visibleCount += delta;
        break;
      case INFLIGHT:
        this.inflightCount += delta;
        break;
      case DELAYED:
        this.delayedCount += delta;
        break;
      case REWIND:
        this.rewindCount += delta;
        break;
      default:
        break;
    }
    invariant(this.visibleCount >= 0 && this.inflightCount >= 0 && this.delayedCount >= 0 && this.rewindCount >= 0, () => `queue ${this.name}: a message counter went below zero`);
  }

  /** The one place a state changes, so counters and chunk liveness stay exact. */
  private setState(c: Chunk, i: number, next: number): void {
    const prev = c.state[i]!;
    if (prev === next) return;
    this.store.writable(c);
    this.count(prev, -1);
    this.count(next, 1);
    c.state[i] = next;
    if (prev === GONE) c.live++;
    // FIFO queues order their visible messages per group instead (fifo-groups.ts).
    if (this.fifo !== undefined) this.fifo.changed(c.firstSeq + i, prev, next);
    else if (next === VISIBLE) this.visible.push(c.firstSeq + i);
    if (next === GONE) {
      this.store.released(c);
      this.redrive?.sources.delete(c.firstSeq + i);
      this.redrive?.remoteSources.delete(c.firstSeq + i);
    }
  }

  /**
   * Adds a message; dueMs > enqueueMs makes it DELAYED until then. Returns its seq. `carriedIn`: a
   * message a queue move brings with its first enqueue time, which may be before the others'.
   */
  append(moved: MovedMessage, enqueueMs: number, dueMs: number, carriedIn = false): number {
    const seq = this.store.nextSeq;
    invariant(carriedIn || enqueueMs >= this.latestEnqueueMs, () => `queue ${this.name}: enqueue time ${enqueueMs} of seq ${seq} before the latest one, ${this.latestEnqueueMs}`);
    if (enqueueMs < this.latestEnqueueMs) this.carried.push(enqueueMs, seq);
    else this.latestEnqueueMs = enqueueMs;
    const c = this.store.allocate();
    const i = seq - c.firstSeq;
    c.entryIndex[i] = moved.entryIndex;
    c.bodyEntry[i] = moved.bodyEntry;
    c.bodyOffset[i] = moved.bodyOffset;
    c.bodyLength[i] = moved.bodyLength;
    c.bodyCrc[i] = moved.bodyCrc;
    c.batchPos[i] = moved.batchPos;
    c.enqueueMs[i] = enqueueMs;
    c.firstDequeueMs[i] = -1;
    c.dequeueCount[i] = 0;
    c.token[i] = 0;
    // A message without a group reaching a FIFO queue (a dead-letter move from a standard queue,
    // which validation refuses to bind) joins the group '' (no SQS group id is empty).
    if (this.fifo !== undefined) this.fifo.assign(seq, moved.groupId ?? '');
    if (dueMs > enqueueMs) {
      c.deadlineMs[i] = dueMs;
      this.setState(c, i, DELAYED);
      this.delayed.push(dueMs, seq);
    } else {
      c.deadlineMs[i] = 0;
      this.setState(c, i, VISIBLE);
    }
    return seq;
  }

  /**
   * delaySeconds null: the queue's own delay (sqs.delaySeconds). options (one per body, when
   * present) may give a body its own delay, mark it enveloped, and say the size maxMsgSize limits.
   */
  send(
    entryIndex: number,
    nowMs: number,
    delaySeconds: number | null,
    bodies: DecodedBody[],
    options?: readonly SendBodyOptions[],
    /** Per body: the message an earlier send of its dedupId made; that body is not enqueued again. */
    duplicateOf?: readonly (DedupHit | undefined)[],
  ): SendOutcome | ErrorResult {
    const fifo = this.fifo !== undefined;
    if (fifo) {
      // SQS: every FIFO message has a group; only the queue has a delay (so due order is send order).
      if (options === undefined || options.some((o) => o.groupId === undefined)) return fail('fifoGroupIdRequired');
      if ((delaySeconds !== null && delaySeconds > 0) || options.some((o) => o.delaySeconds !== undefined)) return fail('fifoMessageDelay');
    }
    let fresh = 0;
    for (let p = 0; p < bodies.length; p++) {
      if (duplicateOf?.[p] !== undefined) continue;
      // One kept for rewind does not count against maxMsgHeapNum, here as on the set it left.
      if (options?.[p]?.moveOrigin?.kept !== true) fresh++;
      if ((options?.[p]?.countedBytes ?? bodies[p]!.length) > this.config.maxMsgSize) return fail('msgTooLarge');
    }
    if (fresh > 0 && this.heldCount() + fresh > this.config.maxMsgHeapNum) return fail('heapFull');
    const msgIds: string[] = [];
    const sequenceNumbers: string[] | undefined = fifo ? [] : undefined;
    for (let p = 0; p < bodies.length; p++) {
      const first = duplicateOf?.[p];
      if (first !== undefined) {
        msgIds.push(this.ids.msgId(first.entryIndex, first.batchPos & BATCH_POS_MASK));
        sequenceNumbers?.push(sequenceNumberOf(first.entryIndex, first.batchPos & BATCH_POS_MASK));
        continue;
      }
      const b = bodies[p]!;
      const o = options?.[p];
      if (o?.moveOrigin !== undefined) {
        this.receiveMoved(entryIndex, p, b, o, o.moveOrigin, nowMs);
        msgIds.push(this.ids.msgId(entryIndex, p));
        continue;
      }
      // On a FIFO queue an explicit delay of 0 (a CMQ send's default) still gets the queue's delay.
      const delay = fifo ? this.sqs.delaySeconds : (o?.delaySeconds ?? delaySeconds ?? this.sqs.delaySeconds);
      const dueMs = delay > 0 ? nowMs + delay * 1000 : 0;
      const pos = o?.enveloped === true ? p | ENVELOPED : p;
      const moved: MovedMessage = { entryIndex, bodyEntry: entryIndex, bodyOffset: b.offset, bodyLength: b.length, bodyCrc: b.crc32c, batchPos: pos };
      if (fifo) moved.groupId = o!.groupId;
      const seq = this.append(moved, nowMs, dueMs);
      if (o?.deadLetterSource !== undefined) {
        this.redrive ??= new QueueRedrive();
        this.redrive.remoteSources.set(seq, o.deadLetterSource);
      }
      msgIds.push(this.ids.msgId(entryIndex, p));
      sequenceNumbers?.push(sequenceNumberOf(entryIndex, p));
    }
    return sequenceNumbers === undefined ? { ok: true, msgIds } : { ok: true, msgIds, sequenceNumbers };
  }

  /**
   * A message of this queue arriving from the set the queue moves away from (node/queue-move.ts):
   * with its first enqueue time (never later than now), so retention and rewind judge it as there;
   * with its receive count and first receive time, so its next receive counts on from there (and a
   * maxReceiveCount policy dead-letters it at that receive if the count is already past it);
   * a `kept` one deleted and kept for rewind, as it was there; a dead letter with the queue it
   * came from (SendBodyOptions.deadLetterSource). One retention or the rewind window
   * no longer reaches is not stored: it would be dropped at once, or never be rewound.
   */
  private receiveMoved(entryIndex: number, p: number, b: DecodedBody, o: SendBodyOptions, origin: MoveOrigin, nowMs: number): void {
    const enqueueMs = Math.min(origin.enqueueMs, nowMs);
    if (enqueueMs + this.config.msgRetentionSeconds * 1000 <= nowMs) return;
    if (origin.kept && (this.config.rewindSeconds === 0 || enqueueMs < this.rewindCutoffMs(nowMs))) return;
    const pos = o.enveloped === true ? p | ENVELOPED : p;
    const m: MovedMessage = { entryIndex, bodyEntry: entryIndex, bodyOffset: b.offset, bodyLength: b.length, bodyCrc: b.crc32c, batchPos: pos };
    if (this.fifo !== undefined) m.groupId = o.groupId;
    const seq = this.append(m, enqueueMs, 0, true);
    if (origin.dequeueCount !== undefined && origin.dequeueCount > 0) {
      const c = this.store.writable(this.store.chunkOf(seq)!);
      const i = seq - c.firstSeq;
      c.dequeueCount[i] = origin.dequeueCount;
      // As its enqueue time: never later than now (the sets' clocks differ a little), never before it.
      c.firstDequeueMs[i] = Math.max(enqueueMs, Math.min(origin.firstDequeueMs ?? nowMs, nowMs));
    }
    // A dead letter moving with its dead-letter queue: a redrive here still sends it back.
    if (o.deadLetterSource !== undefined) {
      this.redrive ??= new QueueRedrive();
      this.redrive.remoteSources.set(seq, o.deadLetterSource);
    }
    if (origin.kept) {
      const c = this.store.chunkOf(seq)!;
      this.setState(c, seq - c.firstSeq, REWIND);
    }
  }

  /** The lowest visible seq, taken out of `visible`; -1 when none. */
  private popVisible(): number {
    while (this.visible.size > 0) {
      const seq = this.visible.pop();
      if (this.store.state(seq) === VISIBLE) return seq;
    }
    invariant(this.visibleCount === 0, () => `queue ${this.name}: ${this.visibleCount} visible messages but none in the visible heap`);
    return -1;
  }

  /**
   * visibilitySeconds: how long the messages stay in flight (default: the queue's visibilityTimeout).
   * attemptId (FIFO queues; ignored on a standard queue, as SQS does): a retry of the receive that
   * named it gets the same messages again while they are untouched (retryAttempt); otherwise this
   * receives afresh and the id names what it returns.
   */
  receive(nowMs: number, numOfMsg: number, seed: number, router: DeadLetterRouter, visibilitySeconds = this.config.visibilityTimeout, attemptId?: string): ReceivedMessage[] {
    const nextVisibleMs = nowMs + visibilitySeconds * 1000;
    const fifo = this.fifo;
    const attempt = fifo === undefined ? undefined : attemptId;
    if (attempt !== undefined) {
      const again = this.retryAttempt(attempt, nowMs, nextVisibleMs);
      if (again !== undefined) return again;
    }
    const out: ReceivedMessage[] = [];
    const p = this.policy;
    const maxReceives = p !== undefined && p.policy === 0 && p.maxReceiveCount !== undefined ? p.maxReceiveCount : Infinity;
    if (fifo !== undefined) {
      // As SQS does: as many messages of one group as may go, then the next group (fifo-groups.ts).
      while (out.length < numOfMsg) {
        const g = fifo.popReady();
        if (g === undefined) break;
        while (out.length < numOfMsg) {
          const seq = fifo.popHead(g);
          if (seq < 0) break;
          this.deliver(seq, nowMs, nextVisibleMs, maxReceives, seed, router, out, g);
        }
        fifo.requeue(g);
      }
    } else {
      while (out.length < numOfMsg) {
        const seq = this.popVisible();
        if (seq < 0) break;
        this.deliver(seq, nowMs, nextVisibleMs, maxReceives, seed, router, out, undefined);
      }
    }
    if (attempt !== undefined) this.rememberAttempt(attempt, nowMs, out);
    this.compact();
    return out;
  }

  /**
   * The messages of attempt `id` again, if every one is still in flight under the receipt handle
   * it went out under and with the deadline the attempt left it (none deleted, received again, or
   * its visibility changed since); undefined otherwise (receive afresh). As SQS does, the retry
   * resets their visibility timeout (in flight until nextVisibleMs); their receive count stays.
   */
  private retryAttempt(id: string, nowMs: number, nextVisibleMs: number): ReceivedMessage[] | undefined {
    const a = this.receiveAttempts?.find(id, nowMs);
    if (a === undefined) return undefined;
    const slots: { c: Chunk; i: number }[] = [];
    for (const m of a.messages) {
      const c = this.store.chunkOf(m.seq);
      if (c === undefined) return undefined;
      const i = m.seq - c.firstSeq;
      const untouched = c.state[i] === INFLIGHT && c.dequeueCount[i] === m.dequeueCount && c.token[i] === m.token && c.deadlineMs[i] === m.deadlineMs;
      if (!untouched || !(nowMs < m.deadlineMs)) return undefined;
      slots.push({ c, i });
    }
    const out: ReceivedMessage[] = [];
    const kept: AttemptMessage[] = [];
    for (let k = 0; k < slots.length; k++) {
      const { c, i } = slots[k]!;
      const m = a.messages[k]!;
      this.store.writable(c);
      c.deadlineMs[i] = nextVisibleMs;
      this.inflight.push(nextVisibleMs, m.seq);
      out.push(this.received(c, i, nextVisibleMs, this.fifo?.groupOf(m.seq)));
      kept.push({ seq: m.seq, dequeueCount: m.dequeueCount, token: m.token, deadlineMs: nextVisibleMs });
    }
    this.receiveAttempts!.replace(id, kept);
    return out;
  }

  /** A fresh receive under attempt `id`: the id names `out` now (an empty answer is not remembered: its retry receives afresh). */
  private rememberAttempt(id: string, nowMs: number, out: readonly ReceivedMessage[]): void {
    if (out.length === 0) {
      this.receiveAttempts?.forget(id);
      return;
    }
    this.receiveAttempts ??= new ReceiveAttempts();
    this.receiveAttempts.remember(
      id,
      nowMs,
      out.map((m) => {
        const c = this.store.chunkOf(m.seq)!;
        const i = m.seq - c.firstSeq;
        return { seq: m.seq, dequeueCount: m.dequeueCount, token: c.token[i]!, deadlineMs: c.deadlineMs[i]! };
      }),
    );
  }

  /** Puts VISIBLE message seq in flight and adds it to out, or dead-letters it (maxReceiveCount). */
  private deliver(seq: number, nowMs: number, nextVisibleMs: number, maxReceives: number, seed: number, router: DeadLetterRouter, out: ReceivedMessage[], group: FifoGroup | undefined): void {
    const c = this.store.chunkOf(seq)!;
    const i = seq - c.firstSeq;
    const dequeueCount = c.dequeueCount[i]! + 1;
    if (dequeueCount > maxReceives) {
      router.deadLetter(this, this.takeForMove(c, i), nowMs);
      return;
    }
    const token = receiptToken(seed, out.length, seq, dequeueCount);
    this.store.writable(c);
    c.token[i] = token;
    c.dequeueCount[i] = dequeueCount;
    if (c.firstDequeueMs[i]! < 0) c.firstDequeueMs[i] = nowMs;
    c.deadlineMs[i] = nextVisibleMs;
    this.setState(c, i, INFLIGHT);
    this.inflight.push(nextVisibleMs, seq);
    out.push(this.received(c, i, nextVisibleMs, group));
  }

  /** Message slot i of c as a receive returns it, under its latest receipt handle. */
  private received(c: Chunk, i: number, nextVisibleMs: number, group: FifoGroup | undefined): ReceivedMessage {
    const seq = c.firstSeq + i;
    const dequeueCount = c.dequeueCount[i]!;
    const pos = c.batchPos[i]!;
    const m: ReceivedMessage = {
      msgId: this.ids.msgId(c.entryIndex[i]!, pos & BATCH_POS_MASK),
      receiptHandle: this.ids.receiptHandle(this.queueNumber, seq, dequeueCount, c.token[i]!),
      enqueueTime: toSec(c.enqueueMs[i]!),
      firstDequeueTime: toSec(c.firstDequeueMs[i]!),
      nextVisibleTime: toSec(nextVisibleMs),
      dequeueCount,
      enqueueMs: c.enqueueMs[i]!,
      firstDequeueMs: c.firstDequeueMs[i]!,
      enveloped: (pos & ENVELOPED) !== 0,
      body: { entryIndex: c.bodyEntry[i]!, offset: c.bodyOffset[i]!, length: c.bodyLength[i]!, crc32c: c.bodyCrc[i]! },
      queueNumber: this.queueNumber,
      seq,
    };
    if (group !== undefined) {
      m.groupId = group.id;
      m.sequenceNumber = sequenceNumberOf(c.entryIndex[i]!, pos & BATCH_POS_MASK);
    }
    return m;
  }

  deleteMessages(nowMs: number, handles: string[]): DeleteFailure[] {
    const failures: DeleteFailure[] = [];
    for (let k = 0; k < handles.length; k++) {
      const h = handles[k]!;
      const m = this.inFlightUnder(nowMs, h);
      if (typeof m === 'string') failures.push({ index: k, receiptHandle: h, error: 'receiptHandleInvalid', malformed: m === 'malformed' });
      else this.setState(m.c, m.i, this.config.rewindSeconds > 0 ? REWIND : GONE);
    }
    this.compact();
    return failures;
  }

  /**
   * Each message in flight under its handle becomes visible visibilitySeconds from now (0: at
   * once, and its handle is then spent); the handle stays the message's latest.
   */
  changeVisibility(nowMs: number, changes: readonly VisibilityChange[]): DeleteFailure[] {
    const failures: DeleteFailure[] = [];
    for (let k = 0; k < changes.length; k++) {
      const { receiptHandle, visibilitySeconds } = changes[k]!;
      const m = this.inFlightUnder(nowMs, receiptHandle);
      if (typeof m === 'string') {
        failures.push({ index: k, receiptHandle, error: 'receiptHandleInvalid', malformed: m === 'malformed' });
        continue;
      }
      const { c, i } = m;
      const seq = c.firstSeq + i;
      this.store.writable(c);
      if (visibilitySeconds === 0) {
        this.setState(c, i, VISIBLE);
      } else {
        c.deadlineMs[i] = nowMs + visibilitySeconds * 1000;
        this.inflight.push(c.deadlineMs[i], seq);
      }
    }
    this.compact();
    return failures;
  }

  /**
   * The message whose latest receipt handle this is, if it is still in flight (spec §4);
   * 'malformed' when it is no handle of this queue, 'stale' when it is one but not that.
   */
  private inFlightUnder(nowMs: number, handle: string): { c: Chunk; i: number } | 'malformed' | 'stale' {
    const h = this.ids.parseReceiptHandle(handle);
    if (h === undefined || h.queueNumber !== this.queueNumber || h.seq >= this.store.nextSeq) return 'malformed';
    const c = this.store.chunkOf(h.seq);
    if (c === undefined) return 'stale';
    const i = h.seq - c.firstSeq;
    if (c.state[i] !== INFLIGHT || c.dequeueCount[i] !== h.dequeueCount || c.token[i] !== h.token) return 'stale';
    if (!(nowMs < c.deadlineMs[i]!)) return 'stale';
    return { c, i };
  }

  /** Deletes every message not yet deleted (visible, in flight, delayed); none is kept for rewind. Returns how many. */
  purge(): number {
    const before = this.heldCount();
    if (before === 0) return 0;
    this.store.forEachSlot(this.store.headSeq, (c, i) => {
      const st = c.state[i];
      if (st === VISIBLE || st === INFLIGHT || st === DELAYED) this.setState(c, i, GONE);
    });
    this.undeletedCursor = 0;
    this.compact();
    return before;
  }

  takeForMove(c: Chunk, i: number): MovedMessage {
    const groupId = this.fifo?.groupOf(c.firstSeq + i).id;
    const moved: MovedMessage = {
      enqueueMs: c.enqueueMs[i]!,
      entryIndex: c.entryIndex[i]!,
      bodyEntry: c.bodyEntry[i]!,
      bodyOffset: c.bodyOffset[i]!,
      bodyLength: c.bodyLength[i]!,
      bodyCrc: c.bodyCrc[i]!,
      batchPos: c.batchPos[i]!,
    };
    if (groupId !== undefined) moved.groupId = groupId;
    if (c.dequeueCount[i]! > 0) {
      moved.dequeueCount = c.dequeueCount[i]!;
      moved.firstDequeueMs = c.firstDequeueMs[i]!;
    }
    this.setState(c, i, GONE);
    return moved;
  }

  /**
   * Redrive (redrive.ts): visible messages leave this queue, oldest first, at most `max` of them,
   * as for a dead-letter move. `pick(seq)` gives where the message goes, or undefined to leave it
   * here, visible. Returns how many moved and how many were left.
   */
  moveVisible(max: number, pick: (seq: number) => ((m: MovedMessage) => void) | undefined): { moved: number; stayed: number } {
    if (this.fifo !== undefined) return this.moveVisibleFifo(this.fifo, max, pick);
    let moved = 0;
    const stayed: number[] = [];
    while (moved < max && this.visible.size > 0) {
      const seq = this.visible.pop();
      if (this.store.state(seq) !== VISIBLE) continue; // stale heap entry
      const place = pick(seq);
      if (place === undefined) {
        stayed.push(seq);
        continue;
      }
      const c = this.store.chunkOf(seq)!;
      place(this.takeForMove(c, seq - c.firstSeq));
      moved++;
    }
    for (const seq of stayed) this.visible.push(seq);
    this.compact();
    return { moved, stayed: stayed.length };
  }

  /**
   * moveVisible on a FIFO queue, in send order: a group with a message in flight stays whole (its
   * later messages must not get ahead of it), the others move with their group ids, so their
   * order within each group holds in the destination. Walks the queue from its head: redrive is
   * an administrative action, in batches of at most LIMITS.moveBatchMax.
   */
  private moveVisibleFifo(fifo: FifoGroups, max: number, pick: (seq: number) => ((m: MovedMessage) => void) | undefined): { moved: number; stayed: number } {
    const store = this.store;
    let moved = 0;
    let stayed = 0;
    for (let seq = store.firstLiveFrom(store.headSeq); seq < store.nextSeq && moved < max; seq = store.firstLiveFrom(seq + 1)) {
      if (store.state(seq) !== VISIBLE) continue;
      const place = fifo.groupOf(seq).inflight > 0 ? undefined : pick(seq);
      if (place === undefined) {
        stayed++;
        continue;
      }
      const c = store.chunkOf(seq)!;
      place(this.takeForMove(c, seq - c.firstSeq));
      moved++;
    }
    this.compact();
    return { moved, stayed };
  }

  /**
   * A move of this queue to another set (redrive.ts, kept): messages kept for rewind leave, oldest
   * first, at most `max` of them, each to `place`; those enqueued before rewindCutoffMs, which no
   * rewind reaches any more, are dropped on the way (at most `max` of them too). Walks from the
   * head: the move runs it once nothing visible, in flight or delayed is left, so nearly every
   * message still here is kept for rewind (one sent or rewound meanwhile is passed over, at most
   * `max` of those too). Returns how many left.
   */
  moveKept(nowMs: number, max: number, place: (seq: number) => (m: MovedMessage) => void): number {
    const store = this.store;
    const cutoff = this.rewindCutoffMs(nowMs);
    let moved = 0;
    let dropped = 0;
    let passed = 0;
    for (let seq = store.firstLiveFrom(store.headSeq); seq < store.nextSeq && moved < max && dropped < max && passed < max; seq = store.firstLiveFrom(seq + 1)) {
      const c = store.chunkOf(seq)!;
      const i = seq - c.firstSeq;
      if (c.state[i] !== REWIND) {
        passed++;
        continue;
      }
      if (c.enqueueMs[i]! < cutoff) {
        this.setState(c, i, GONE);
        dropped++;
        continue;
      }
      const put = place(seq); // before the take, which forgets what the queue knew of seq
      put(this.takeForMove(c, i));
      moved++;
    }
    this.compact();
    return moved;
  }

  /** Removes a message from delivery for good. false if it no longer exists. */
  quarantine(seq: number): boolean {
    if (this.store.state(seq) === GONE) return false;
    const c = this.store.chunkOf(seq)!;
    this.setState(c, seq - c.firstSeq, GONE);
    this.compact();
    return true;
  }

  /**
   * Rewind (spec §2.6): every retained message enqueued at or after startSec that is in flight or
   * in the rewind area becomes visible again. Visible ones stay visible; delayed ones stay delayed
   * (they were never deliverable, so there is nothing to replay).
   */
  rewind(nowMs: number, startSec: number): ErrorResult | undefined {
    const window = this.config.rewindSeconds;
    if (window === 0) return fail('rewindDisabled');
    const nowSec = toSec(nowMs);
    if (startSec < nowSec - window || startSec > nowSec) return fail('rewindTimeInvalid');
    const fromMs = startSec * 1000;
    const nextSeq = this.store.nextSeq;
    // The chunks holding a message a move carried in (tidying `carried` on the way).
    const withCarried = new Set<Chunk>();
    this.carried.retain((_t, seq) => {
      if (this.store.state(seq) === GONE) return false;
      withCarried.add(this.store.chunkOf(seq)!);
      return true;
    });
    for (const c of [...this.store.chunks]) {
      if (c === undefined) continue;
      const used = Math.min(c.capacity, nextSeq - c.firstSeq);
      // Enqueue times grow with seq but for carried messages: a chunk without any whose last live
      // message is older than fromMs holds nothing to rewind. (A GONE slot's columns are not read:
      // a snapshot need not keep them.)
      let last = used - 1;
      while (last >= 0 && c.state[last] === GONE) last--;
      if (last < 0 || (c.enqueueMs[last]! < fromMs && !withCarried.has(c))) continue;
      for (let i = 0; i < used; i++) {
        const st = c.state[i];
        const e = c.enqueueMs[i]!;
        if ((st === INFLIGHT && e >= fromMs) || (st === REWIND && e >= fromMs && e >= this.rewindFloorMs)) this.setState(c, i, VISIBLE);
      }
    }
    this.undeletedCursor = 0;
    this.compact();
    return undefined;
  }

  /** rewindSeconds set to 0: the rewind area is dropped at once (spec §2.6). */
  dropRewindArea(): void {
    if (this.rewindCount === 0) return;
    this.store.forEachSlot(this.store.headSeq, (c, i) => {
      if (c.state[i] === REWIND) this.setState(c, i, GONE);
    });
  }

  /**
   * Deleted messages (REWIND) enqueued before this time can no longer be rewound (RewindQueue takes
   * a start within [now − rewindSeconds, now]): they stay counted (rewindMsgNum, spec §2.6) until
   * retention ends, but their bodies are no longer needed.
   */
  rewindCutoffMs(nowMs: number): number {
    return Math.max(this.rewindFloorMs, nowMs - this.config.rewindSeconds * 1000);
  }

  /** rewindSeconds changes: a larger window does not reach back past the old one (rewindFloorMs). */
  setRewindSeconds(rewindSeconds: number, nowMs: number): void {
    const old = this.config.rewindSeconds;
    if (rewindSeconds > old) this.rewindFloorMs = Math.max(this.rewindFloorMs, nowMs - old * 1000);
  }

  /** Carries this queue's time forward to nowMs. TTL moves come before retention (TTL < retention). */
  processDue(nowMs: number, router: DeadLetterRouter): void {
    const p = this.policy;
    if (p !== undefined && p.policy === 1 && p.maxTimeToLive !== undefined) this.expireTtl(nowMs, p.maxTimeToLive * 1000, router);
    this.expireRetention(nowMs);
    this.releaseDue(this.delayed, DELAYED, nowMs);
    this.releaseDue(this.inflight, INFLIGHT, nowMs);
    this.compact();
  }

  private expireTtl(nowMs: number, ttlMs: number, router: DeadLetterRouter): void {
    const store = this.store;
    let seq = store.firstLiveFrom(Math.max(this.ttlCursor, store.headSeq));
    while (seq < store.nextSeq) {
      const c = store.chunkOf(seq)!;
      const i = seq - c.firstSeq;
      if (c.enqueueMs[i]! + ttlMs > nowMs) break;
      // Deleted messages (rewind area) are not moved, and never will be: TTL applies once per message.
      if (c.state[i] !== REWIND) router.deadLetter(this, this.takeForMove(c, i), nowMs);
      seq = store.firstLiveFrom(seq + 1);
    }
    this.ttlCursor = seq;
  }

  private expireRetention(nowMs: number): void {
    const retentionMs = this.config.msgRetentionSeconds * 1000;
    const store = this.store;
    // Carried messages first, by enqueue time: the walk from the head below stops at the first
    // message still retained, and one carried in behind it may be older. Every other message is
    // no older than those before it, so between them the two find every message due.
    const carried = this.carried;
    while (carried.size > 0 && carried.peekTime() + retentionMs <= nowMs) {
      const seq = carried.peekId();
      carried.pop();
      if (store.state(seq) === GONE) continue;
      const c = store.chunkOf(seq)!;
      this.setState(c, seq - c.firstSeq, GONE);
    }
    let head = store.advanceHead();
    while (head < store.nextSeq) {
      const c = store.chunkOf(head)!;
      const i = head - c.firstSeq;
      if (c.enqueueMs[i]! + retentionMs > nowMs) break;
      this.setState(c, i, GONE);
      head = store.advanceHead();
    }
  }

  private releaseDue(heap: TimedIdHeap, state: number, nowMs: number): void {
    while (heap.peekTime() <= nowMs) {
      const t = heap.peekTime();
      const seq = heap.peekId();
      heap.pop();
      const c = this.store.chunkOf(seq);
      if (c === undefined) continue;
      const i = seq - c.firstSeq;
      if (c.state[i] !== state || c.deadlineMs[i] !== t) continue; // stale entry
      this.setState(c, i, VISIBLE);
    }
  }

  private isCurrent(heap: TimedIdHeap, state: number): boolean {
    const seq = heap.peekId();
    const c = this.store.chunkOf(seq);
    if (c === undefined) return false;
    const i = seq - c.firstSeq;
    return c.state[i] === state && c.deadlineMs[i] === heap.peekTime();
  }

  private cleanTop(heap: TimedIdHeap, state: number): number {
    while (heap.size > 0 && !this.isCurrent(heap, state)) heap.pop();
    return heap.peekTime();
  }

  /** Earliest time something changes here without a command; Infinity if never. */
  nextDeadlineMs(): number {
    const store = this.store;
    let d = Infinity;
    const head = store.advanceHead();
    if (head < store.nextSeq) d = this.enqueueMsOf(head) + this.config.msgRetentionSeconds * 1000;
    const p = this.policy;
    if (p !== undefined && p.policy === 1 && p.maxTimeToLive !== undefined) {
      this.ttlCursor = store.firstLiveFrom(Math.max(this.ttlCursor, head));
      if (this.ttlCursor < store.nextSeq) d = Math.min(d, this.enqueueMsOf(this.ttlCursor) + p.maxTimeToLive * 1000);
    }
    while (this.carried.size > 0 && store.state(this.carried.peekId()) === GONE) this.carried.pop();
    if (this.carried.size > 0) d = Math.min(d, this.carried.peekTime() + this.config.msgRetentionSeconds * 1000);
    d = Math.min(d, this.cleanTop(this.delayed, DELAYED));
    return Math.min(d, this.cleanTop(this.inflight, INFLIGHT));
  }

  private enqueueMsOf(seq: number): number {
    const c = this.store.chunkOf(seq)!;
    return c.enqueueMs[seq - c.firstSeq]!;
  }

  /** Rebuilds a heap once stale entries outnumber live ones, so heaps stay O(live). */
  private compact(): void {
    const store = this.store;
    invariant(
      (this.fifo !== undefined || this.visible.size >= this.visibleCount) && this.inflight.size >= this.inflightCount && this.delayed.size >= this.delayedCount,
      () => `queue ${this.name}: heaps (${this.visible.size}, ${this.inflight.size}, ${this.delayed.size}) hold fewer entries than messages (${this.visibleCount}, ${this.inflightCount}, ${this.delayedCount})`,
    );
    invariant(this.fifo === undefined || this.visible.size === 0, () => `queue ${this.name}: a FIFO queue uses its visible heap`);
    if (this.fifo !== undefined) this.fifo.compact(this.visibleCount);
    else if (this.visible.size > 2 * this.visibleCount + COMPACT_SLACK) this.visible.retain((seq) => store.state(seq) === VISIBLE);
    if (this.inflight.size > 2 * this.inflightCount + COMPACT_SLACK) this.inflight.retain((t, seq) => this.holds(seq, INFLIGHT, t));
    if (this.delayed.size > 2 * this.delayedCount + COMPACT_SLACK) this.delayed.retain((t, seq) => this.holds(seq, DELAYED, t));
    if (this.carried.size > 2 * (this.heldCount() + this.rewindCount) + COMPACT_SLACK) this.carried.retain((_t, seq) => store.state(seq) !== GONE);
  }

  private holds(seq: number, state: number, deadlineMs: number): boolean {
    const c = this.store.chunkOf(seq);
    return c !== undefined && c.state[seq - c.firstSeq] === state && c.deadlineMs[seq - c.firstSeq] === deadlineMs;
  }

  /**
   * After a snapshot restore: counters, chunk liveness and heaps from the state column; on a FIFO
   * queue, `groups` gives each message not GONE its group (FifoGroups.snapshotRows).
   */
  rebuildIndexes(groups?: FifoGroupRows): void {
    const nextSeq = this.store.nextSeq;
    const fifo = this.fifo;
    invariant(fifo === undefined || groups !== undefined, () => `queue ${this.name}: a FIFO queue restored without its groups`);
    let k = 0;
    const restored = fifo?.restoreGroups(groups!.groups);
    for (const c of this.store.chunks) {
      if (c === undefined) continue;
      c.live = 0;
      const used = Math.min(c.capacity, nextSeq - c.firstSeq);
      for (let i = 0; i < used; i++) {
        const st = c.state[i]!;
        if (st === GONE) continue;
        c.live++;
        this.count(st, 1);
        const seq = c.firstSeq + i;
        // Out of enqueue order: carried in by a queue move (see append).
        const e = c.enqueueMs[i]!;
        if (e < this.latestEnqueueMs) this.carried.pushUnordered(e, seq);
        else this.latestEnqueueMs = e;
        if (fifo !== undefined) {
          const g = restored![groups!.of[k++]!];
          invariant(g !== undefined, () => `queue ${this.name}: message ${seq} restored without a group`);
          fifo.assignTo(seq, g);
          fifo.changed(seq, GONE, st);
        }
        if (st === VISIBLE) {
          if (fifo === undefined) this.visible.push(seq);
        } else if (st === INFLIGHT) this.inflight.pushUnordered(c.deadlineMs[i]!, seq);
        else if (st === DELAYED) this.delayed.pushUnordered(c.deadlineMs[i]!, seq);
      }
    }
    this.inflight.heapify();
    this.delayed.heapify();
    this.carried.heapify();
    invariant(fifo === undefined || k === groups!.of.length, () => `queue ${this.name}: ${groups!.of.length} group rows for ${k} messages`);
  }

  /** Log entries whose bodies this queue may still deliver (see needsBody), in seq order. */
  collectEntryIndexes(nowMs: number, out: number[]): void {
    let last = -1;
    const cutoff = this.rewindCutoffMs(nowMs);
    this.store.forEachSlot(0, (c, i) => {
      if (!needsBody(c, i, cutoff)) return;
      const e = c.bodyEntry[i]!;
      if (e !== last) out.push(e);
      last = e;
    });
  }

  /**
   * Calls fn for each message that is not GONE from seq `from` on, visiting slots while
   * `budget.slots` lasts (each visited slot takes one); returns the seq to continue from, or -1
   * once past the last. For compaction's census, which visits a large backlog a slice at a time.
   */
  scanBodies(from: number, nowMs: number, budget: { slots: number }, fn: (seq: number, bodyEntry: number, offset: number, length: number, crc: number) => void): number {
    const store = this.store;
    const cutoff = this.rewindCutoffMs(nowMs);
    let seq = store.firstLiveFrom(Math.max(from, store.headSeq));
    while (seq < store.nextSeq) {
      if (budget.slots <= 0) return seq;
      const c = store.chunkOf(seq);
      if (c === undefined) {
        seq = store.firstLiveFrom(seq);
        continue;
      }
      const end = Math.min(c.firstSeq + c.capacity, store.nextSeq);
      for (let i = seq - c.firstSeq; seq < end && budget.slots > 0; i++, seq++, budget.slots--) {
        if (needsBody(c, i, cutoff)) fn(seq, c.bodyEntry[i]!, c.bodyOffset[i]!, c.bodyLength[i]!, c.bodyCrc[i]!);
      }
      if (seq === end && seq < store.nextSeq) seq = store.firstLiveFrom(c.firstSeq + CHUNK_SLOTS);
    }
    return -1;
  }

  /**
   * Points message `seq` at a copy of its body in entry `entry` (compaction). Only when the message
   * is still live with its body exactly at `from` (it may have been deleted, moved or relocated
   * since the leader looked): false otherwise. Length and CRC32C stay: the copy is of the same bytes.
   */
  relocateBody(seq: number, from: { entryIndex: number; offset: number; length: number; crc32c: number }, entry: number, offset: number): boolean {
    if (this.store.state(seq) === GONE) return false;
    const c = this.store.chunkOf(seq)!;
    const i = seq - c.firstSeq;
    if (c.bodyEntry[i] !== from.entryIndex || c.bodyOffset[i] !== from.offset || c.bodyLength[i] !== from.length || c.bodyCrc[i] !== from.crc32c) return false;
    this.store.writable(c);
    c.bodyEntry[i] = entry;
    c.bodyOffset[i] = offset;
    return true;
  }

  /** Enqueue time (s) of the oldest message not deleted; 0 when none. */
  private minMsgTimeSec(): number {
    const store = this.store;
    let s = store.firstLiveFrom(Math.max(this.undeletedCursor, store.headSeq));
    while (s < store.nextSeq && store.state(s) === REWIND) s = store.firstLiveFrom(s + 1);
    this.undeletedCursor = s;
    return s < store.nextSeq ? toSec(this.enqueueMsOf(s)) : 0;
  }

  attributes(): QueueAttributes {
    const a: QueueAttributes = {
      queueId: this.queueId,
      queueName: this.name,
      ...this.config,
      createTime: toSec(this.createTimeMs),
      lastModifyTime: toSec(this.lastModifyTimeMs),
      activeMsgNum: this.visibleCount,
      inactiveMsgNum: this.inflightCount,
      delayMsgNum: this.delayedCount,
      rewindMsgNum: this.rewindCount,
      minMsgTime: this.minMsgTimeSec(),
      sqs: { ...this.sqs, redriveAllowPolicy: copyAllowPolicy(this.sqs.redriveAllowPolicy) },
      tags: Object.fromEntries(this.tags),
    };
    if (this.policy !== undefined) a.deadLetterPolicy = { ...this.policy };
    return a;
  }

  indexBytes(): number {
    return this.store.bytes() + this.visible.capacityBytes() + this.inflight.capacityBytes() + this.delayed.capacityBytes() + this.carried.capacityBytes() + (this.fifo?.bytes() ?? 0) + (this.receiveAttempts?.bytes() ?? 0);
  }
}
