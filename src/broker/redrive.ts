// Dead-letter redrive: moving messages out of a dead-letter queue, back to the queues they were
// dead-lettered from or to a named queue, and the replicated move tasks that do it a batch at a
// time (the leader's node/move-tasks.ts proposes their moveMessages entries). Pure, like the rest
// of the broker: every replica applies the same entries to the same result.
//
// A dead-letter queue remembers where each of its dead letters came from (QueueRedrive.sources,
// seq → source queueNumber), on queues that received dead letters only; an entry goes when its
// message leaves the queue (QueueState drops it when the message becomes GONE), so it is bounded
// by the messages held. Queue numbers are never reused, so a deleted source is never mistaken for
// a queue created later under its name.

import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import type { CommandResult, MoveOrigin, MoveTaskStatus, MoveTaskView } from './commands';
import type { GroupIds } from './ids';
import type { MovedMessage, QueueState } from './queue';

/** What a queue that received dead letters, or ran move tasks, keeps for redrive. */
export class QueueRedrive {
  /** Seq of a dead letter here → queueNumber of the queue it was dead-lettered from; in seq order. */
  readonly sources = new Map<number, number>();
  /** Seq of a dead letter sent here from another set → the name of the queue it came from there. */
  readonly remoteSources = new Map<number, string>();
  /** This queue's move tasks, most recent first, at most LIMITS.moveTasksPerQueueMax. */
  tasks: MoveTaskView[] = [];

  isEmpty(): boolean {
    return this.sources.size === 0 && this.remoteSources.size === 0 && this.tasks.length === 0;
  }
}

/** What redrive needs of the state machine. */
export interface RedriveHost {
  readonly ids: GroupIds;
  queue(name: string): QueueState | undefined;
  queueByNumber(queueNumber: number): QueueState | undefined;
  queues(): Iterable<QueueState>;
  /** Some queue's dead-letter policy names this one. */
  isDeadLetterQueue(q: QueueState): boolean;
  /** The queue's next deadline may have changed. */
  reschedule(q: QueueState): void;
  /**
   * `m` has left `q` for `destination`, a queue on another set: into q's outbox, from which the
   * set's leader sends it there (dead-letter-outbox.ts). `origin`: a message of q moving with q to
   * another set, with what it carries there; `deadLetterSource`: with it, the queue a dead letter
   * of q came from, kept by the copy of q there.
   */
  sendElsewhere(q: QueueState, destination: string, m: MovedMessage, nowMs: number, origin?: MoveOrigin, deadLetterSource?: string): void;
}

function copyTask(t: MoveTaskView): MoveTaskView {
  return { ...t };
}

/** What a message of a queue moving to another set carries there: its enqueue time and receive count, as it has them here. */
function moveOrigin(m: MovedMessage, nowMs: number, kept: boolean): MoveOrigin {
  const origin: MoveOrigin = { enqueueMs: m.enqueueMs ?? nowMs, kept };
  if (m.dequeueCount !== undefined && m.firstDequeueMs !== undefined) {
    origin.dequeueCount = m.dequeueCount;
    origin.firstDequeueMs = m.firstDequeueMs;
  }
  return origin;
}

function redriveOf(q: QueueState): QueueRedrive {
  q.redrive ??= new QueueRedrive();
  return q.redrive;
}

/** Drops the redrive state of a queue once it holds nothing (so only queues that need it pay). */
function tidy(q: QueueState): void {
  if (q.redrive?.isEmpty() === true) q.redrive = undefined;
}

export class Redriver {
  constructor(private readonly host: RedriveHost) {}

  /** A dead letter of `src` was appended to `dlq` at `seq`. */
  recordDeadLetter(dlq: QueueState, seq: number, src: QueueState): void {
    redriveOf(dlq).sources.set(seq, src.queueNumber);
  }

  /**
   * `remoteDestination`: destinationQueue is on another set (checked there by the access layer):
   * the messages go into the source's outbox. With destination null, a dead letter that came from
   * another set (QueueRedrive.remoteSources) goes back there the same way, unless its source queue
   * is on this set now. A move to the queue's own name on another set is the queue moving there
   * (node/queue-move.ts): each dead letter carries the name of the queue it came from, so that the
   * copy there can send it back on a redrive.
   */
  moveMessages(
    sourceQueue: string,
    destinationQueue: string | null,
    maxMessages: number,
    taskHandle: string | undefined,
    nowMs: number,
    remoteDestination = false,
  ): CommandResult {
    const src = this.host.queue(sourceQueue);
    if (src === undefined) return fail('queueNotExist');
    let task: MoveTaskView | undefined;
    let dest = destinationQueue;
    let remote = remoteDestination;
    let max = maxMessages;
    if (taskHandle !== undefined) {
      task = src.redrive?.tasks.find((t) => t.taskHandle === taskHandle);
      if (task === undefined) return fail('moveTaskNotExist');
      // A move proposed before the task was cancelled, failed or completed does nothing.
      if (task.status !== 'RUNNING') return { ok: true, kind: 'moveMessages', moved: 0, remaining: src.visibleCount, stayed: 0, task: copyTask(task) };
      dest = task.destinationQueue;
      remote = task.remoteDestination === true;
      max = Math.min(max, task.toMove - task.movedCount);
    }
    const elsewhere = remote && dest !== null ? dest : undefined;
    const dst = dest === null || elsewhere !== undefined ? undefined : this.host.queue(dest);
    if (dest !== null && elsewhere === undefined && dst === undefined) return fail('queueNotExist');
    if (dst === src) return fail('moveSameQueue');
    if (dst !== undefined && (dst.fifo !== undefined) !== (src.fifo !== undefined)) return fail('moveFifo');
    const sources = src.redrive?.sources;
    const remoteSources = src.redrive?.remoteSources;
    const targets = new Set<QueueState>();
    const originOf = (seq: number): string | undefined => this.host.queueByNumber(sources?.get(seq) ?? -1)?.name ?? remoteSources?.get(seq);
    // To the queue's own name on another set: the queue is moving there (node/queue-move.ts), and
    // its messages keep their first enqueue time and receive count (and a dead letter the queue it
    // came from).
    const toElsewhere = (name: string, deadLetterSource?: string) => (m: MovedMessage) =>
      this.host.sendElsewhere(src, name, m, nowMs, name === src.name ? moveOrigin(m, nowMs, false) : undefined, deadLetterSource);
    // Otherwise like a dead-letter move: the same body and msgId, a new seq, enqueued now,
    // dequeueCount 0, whatever the destination's maxMsgHeapNum (refusing would leave redrive
    // stuck half done).
    const { moved, stayed } = src.moveVisible(max, (seq) => {
      if (elsewhere !== undefined) return toElsewhere(elsewhere, elsewhere === src.name ? originOf(seq) : undefined);
      let target = dst ?? this.host.queueByNumber(sources?.get(seq) ?? -1);
      const from = dst === undefined && target === undefined ? remoteSources?.get(seq) : undefined;
      if (from !== undefined) {
        // Sent here from another set: back there, unless its queue is on this set by now.
        target = this.host.queue(from);
        if (target === undefined) return toElsewhere(from);
      }
      // A message with no known source, or whose source was deleted, stays (as one whose source
      // is not of its kind: a FIFO message goes only to a FIFO queue, keeping its group).
      if (target === undefined || target === src || (target.fifo !== undefined) !== (src.fifo !== undefined)) return undefined;
      targets.add(target);
      return (m: MovedMessage) => target.append(m, nowMs, 0);
    });
    this.host.reschedule(src);
    for (const q of targets) this.host.reschedule(q);
    tidy(src);
    if (task !== undefined) {
      task.movedCount += moved;
      // Done once it moved what the source held at its start, or nothing movable is left.
      if (task.movedCount >= task.toMove || moved < max) task.status = 'COMPLETED';
      return { ok: true, kind: 'moveMessages', moved, remaining: src.visibleCount, stayed, task: copyTask(task) };
    }
    return { ok: true, kind: 'moveMessages', moved, remaining: src.visibleCount, stayed };
  }

  /**
   * A move of `sourceQueue` to another set, once nothing visible, in flight or delayed is left
   * there: up to maxMessages messages kept for rewind leave into its outbox for the queue of the
   * same name there, still kept, with their enqueue times (QueueState.moveKept). `remaining`: the
   * messages kept for rewind still here.
   */
  moveKept(sourceQueue: string, maxMessages: number, nowMs: number): CommandResult {
    const src = this.host.queue(sourceQueue);
    if (src === undefined) return fail('queueNotExist');
    // A kept dead letter takes the queue it came from along, as a visible one does (moveMessages).
    const sourceOf = (seq: number): string | undefined => this.host.queueByNumber(src.redrive?.sources?.get(seq) ?? -1)?.name ?? src.redrive?.remoteSources?.get(seq);
    const moved = src.moveKept(nowMs, maxMessages, (seq) => {
      const from = sourceOf(seq);
      return (m) => this.host.sendElsewhere(src, src.name, m, nowMs, moveOrigin(m, nowMs, true), from);
    });
    this.host.reschedule(src);
    return { ok: true, kind: 'moveMessages', moved, remaining: src.rewindCount, stayed: 0 };
  }

  startMoveTask(sourceQueue: string, destinationQueue: string | null, maxPerSecond: number | null, index: number, nowMs: number, remoteDestination = false): CommandResult {
    const src = this.host.queue(sourceQueue);
    if (src === undefined) return fail('queueNotExist');
    const remote = remoteDestination && destinationQueue !== null;
    if (destinationQueue !== null && !remote) {
      const dst = this.host.queue(destinationQueue);
      if (dst === undefined) return fail('queueNotExist');
      if (dst === src) return fail('moveSameQueue');
      if ((dst.fifo !== undefined) !== (src.fifo !== undefined)) return fail('moveFifo');
    }
    // As in SQS, the source is a dead-letter queue: named by a policy, or holding dead letters
    // (from this set or another).
    if (!this.host.isDeadLetterQueue(src) && (src.redrive?.sources.size ?? 0) === 0 && (src.redrive?.remoteSources.size ?? 0) === 0) return fail('moveSourceNotDlq');
    const r = redriveOf(src);
    if (r.tasks.some((t) => t.status === 'RUNNING')) return fail('moveTaskRunning');
    const toMove = src.visibleCount;
    const task: MoveTaskView = {
      taskHandle: this.host.ids.moveTaskHandle(index),
      sourceQueue,
      destinationQueue,
      maxPerSecond,
      status: toMove === 0 ? 'COMPLETED' : 'RUNNING',
      startedMs: nowMs,
      movedCount: 0,
      toMove,
    };
    if (remote) task.remoteDestination = true;
    r.tasks.unshift(task);
    // Only the new task can be running: the ones dropped are finished.
    if (r.tasks.length > LIMITS.moveTasksPerQueueMax) r.tasks.length = LIMITS.moveTasksPerQueueMax;
    return { ok: true, kind: 'startMoveTask', taskHandle: task.taskHandle, task: copyTask(task) };
  }

  cancelMoveTask(taskHandle: string): CommandResult {
    const task = this.find(taskHandle);
    if (task === undefined) return fail('moveTaskNotExist');
    if (task.status !== 'RUNNING') return fail('moveTaskNotRunning', undefined, `it is ${task.status}`);
    task.status = 'CANCELLED';
    return { ok: true, kind: 'cancelMoveTask', task: copyTask(task) };
  }

  /**
   * `name` is being deleted: running tasks moving into it fail. Its own tasks go with it (its
   * dead letters, and their sources, too); dead letters elsewhere that came from it stay put.
   */
  queueDeleted(name: string): void {
    for (const q of this.host.queues()) {
      for (const t of q.redrive?.tasks ?? []) {
        if (t.status === 'RUNNING' && t.destinationQueue === name && t.remoteDestination !== true) failTask(t, 'the destination queue was deleted');
      }
    }
  }

  private find(taskHandle: string): MoveTaskView | undefined {
    for (const q of this.host.queues()) {
      const t = q.redrive?.tasks.find((x) => x.taskHandle === taskHandle);
      if (t !== undefined) return t;
    }
    return undefined;
  }

  /** The source's tasks, most recent first. */
  listMoveTasks(sourceQueue: string): MoveTaskView[] | ErrorResult {
    const src = this.host.queue(sourceQueue);
    if (src === undefined) return fail('queueNotExist');
    return (src.redrive?.tasks ?? []).map(copyTask);
  }

  /** Every running task, by source queue number (for the leader's move loop). */
  runningMoveTasks(): MoveTaskView[] {
    const out: { n: number; t: MoveTaskView }[] = [];
    for (const q of this.host.queues()) for (const t of q.redrive?.tasks ?? []) if (t.status === 'RUNNING') out.push({ n: q.queueNumber, t: copyTask(t) });
    return out.sort((a, b) => a.n - b.n).map((x) => x.t);
  }
}

function failTask(t: MoveTaskView, reason: string): void {
  t.status = 'FAILED';
  t.failureReason = reason;
}

// ---- snapshots (in the queue's meta JSON; a snapshot without it loads with no redrive state) ----

/**
 * As the snapshot keeps it: sources as runs [firstSeq, count, queueNumber, ...] of consecutive
 * seqs; dead letters from another set as [seq, queue name] (written only when there are some).
 */
export interface RedriveMeta {
  sources: number[];
  tasks: MoveTaskView[];
  remoteSources?: [number, string][];
}

export function redriveMeta(r: QueueRedrive | undefined): RedriveMeta | undefined {
  if (r === undefined || r.isEmpty()) return undefined;
  const runs: number[] = [];
  for (const [seq, n] of r.sources) {
    const k = runs.length - 3;
    if (k >= 0 && runs[k + 2] === n && runs[k]! + runs[k + 1]! === seq) runs[k + 1]!++;
    else runs.push(seq, 1, n);
  }
  const meta: RedriveMeta = { sources: runs, tasks: r.tasks.map(copyTask) };
  if (r.remoteSources.size > 0) meta.remoteSources = [...r.remoteSources];
  return meta;
}

const STATUSES: readonly MoveTaskStatus[] = ['RUNNING', 'COMPLETED', 'CANCELLED', 'FAILED'];

/** Throws (the caller turns it into a format error) when `v` is not what redriveMeta wrote. */
export function parseRedriveMeta(v: unknown): QueueRedrive {
  const bad = (what: string): never => {
    throw new Error(`bad redrive ${what}`);
  };
  if (typeof v !== 'object' || v === null) return bad('state');
  const { sources, tasks, remoteSources } = v as Record<string, unknown>;
  if (!Array.isArray(sources) || sources.length % 3 !== 0 || !sources.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) return bad('sources');
  if (!Array.isArray(tasks) || tasks.length > LIMITS.moveTasksPerQueueMax) return bad('tasks');
  const r = new QueueRedrive();
  const nums = sources as number[];
  for (let k = 0; k < nums.length; k += 3) for (let j = 0; j < nums[k + 1]!; j++) r.sources.set(nums[k]! + j, nums[k + 2]!);
  if (remoteSources !== undefined) {
    if (!Array.isArray(remoteSources)) return bad('remote sources');
    for (const row of remoteSources as unknown[]) {
      if (!Array.isArray(row) || row.length !== 2 || !Number.isSafeInteger(row[0]) || typeof row[1] !== 'string') return bad('remote source');
      r.remoteSources.set(row[0] as number, row[1]);
    }
  }
  r.tasks = tasks.map((raw: unknown) => {
    const t = raw as Record<string, unknown>;
    const num = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : bad('task'));
    const status = STATUSES.find((s) => s === t.status) ?? bad('task status');
    const task: MoveTaskView = {
      taskHandle: typeof t.taskHandle === 'string' ? t.taskHandle : bad('task handle'),
      sourceQueue: typeof t.sourceQueue === 'string' ? t.sourceQueue : bad('task source'),
      destinationQueue: t.destinationQueue === null || typeof t.destinationQueue === 'string' ? t.destinationQueue : bad('task destination'),
      maxPerSecond: t.maxPerSecond === null ? null : num(t.maxPerSecond),
      status,
      startedMs: num(t.startedMs),
      movedCount: num(t.movedCount),
      toMove: num(t.toMove),
    };
    if (t.failureReason !== undefined) task.failureReason = typeof t.failureReason === 'string' ? t.failureReason : bad('failure reason');
    if (t.remoteDestination !== undefined) task.remoteDestination = t.remoteDestination === true ? true : bad('task remote destination');
    return task;
  });
  return r;
}
