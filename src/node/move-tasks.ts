// Message move tasks (dead-letter redrive, broker/redrive.ts) are replicated state; moving their
// messages is the leader's work: for every RUNNING task, this loop proposes `moveMessages` entries
// naming the task, one at a time per task, each of at most LIMITS.moveBatchMax messages, paced to
// the task's maxPerSecond. The broker decides everything else (what moves, when the task is done),
// so a new leader simply resumes from the tasks it finds running: nothing here needs to survive a
// failover. It runs exactly while the node leads (started and stopped with leadership, as
// push-delivery.ts and compaction.ts are), and reads time and sets timers through the Runtime only.

import type { Command, CommandResult, MoveTaskView } from '../broker/commands';
import { LIMITS } from '../protocol/limits';
import type { Logger } from '../protocol/log';
import { unrefTimer } from '../runtime/node-runtime';
import type { Runtime, TimerHandle } from '../runtime/timers';

export interface MoveTaskHost {
  runtime: Runtime;
  log: Logger;
  /** The RUNNING tasks as of the last applied entry (QueueStateMachine.runningMoveTasks). */
  runningTasks(): MoveTaskView[];
  /** Proposes a command through the log; resolves with its result once applied here. */
  submit(command: Command): Promise<CommandResult>;
}

/** After a refused or failed proposal (leadership moving, a full disk), the task is tried again this much later. */
const RETRY_AFTER_MS = 1000;

/** The moveMessages entry that advances `t` next: its batch size, and how long it takes at the task's pace. */
export function nextMove(t: MoveTaskView): { command: Command; batch: number } {
  const left = Math.max(1, t.toMove - t.movedCount);
  const batch = Math.min(LIMITS.moveBatchMax, left, t.maxPerSecond ?? LIMITS.moveBatchMax);
  return { command: { kind: 'moveMessages', sourceQueue: t.sourceQueue, destinationQueue: t.destinationQueue, maxMessages: batch, taskHandle: t.taskHandle }, batch };
}

export class MoveTaskRunner {
  private running = false;
  /** Bumped by start and stop: a proposal of an earlier run, settling late, changes nothing. */
  private generation = 0;
  /** Tasks with a moveMessages entry in flight (at most one each). */
  private readonly inFlight = new Set<string>();
  /** Per task, the monotonic time before which its next entry is not proposed (its pace, or a retry). */
  private readonly notBefore = new Map<string, number>();
  private timer: TimerHandle | undefined;
  private pumpQueued = false;
  /** Messages moved by this node's proposals since it started (for tests and logs). */
  moved = 0;

  constructor(private readonly host: MoveTaskHost) {}

  get isRunning(): boolean {
    return this.running;
  }

  /** Begin proposing (this node became leader): resumes every task found running. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.generation++;
    this.schedulePump();
  }

  /** Stop proposing (leadership lost, shutdown); entries in flight settle without effect here. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    this.inFlight.clear();
    this.notBefore.clear();
    if (this.timer !== undefined) this.host.runtime.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A task may have started: look soon. */
  wake(): void {
    if (this.running) this.schedulePump();
  }

  /** At most one look per event-loop turn, after the I/O callbacks (client requests) of that turn. */
  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    this.host.runtime.setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private pump(): void {
    if (!this.running) return;
    const rt = this.host.runtime;
    const now = rt.monotonicMs();
    let wakeAt = Infinity;
    const live = new Set<string>();
    for (const t of this.host.runningTasks()) {
      live.add(t.taskHandle);
      if (this.inFlight.has(t.taskHandle)) continue;
      const at = this.notBefore.get(t.taskHandle) ?? 0;
      if (at > now) wakeAt = Math.min(wakeAt, at);
      else this.propose(t);
    }
    // Tasks no longer running (completed, cancelled, failed) need no pacing any more.
    for (const h of [...this.notBefore.keys()]) if (!live.has(h)) this.notBefore.delete(h);
    if (this.timer !== undefined) rt.clearTimeout(this.timer);
    this.timer = undefined;
    if (wakeAt !== Infinity) {
      this.timer = rt.setTimeout(() => {
        this.timer = undefined;
        this.schedulePump();
      }, Math.max(1, wakeAt - now));
      unrefTimer(this.timer);
    }
  }

  private propose(t: MoveTaskView): void {
    const { command } = nextMove(t);
    const rt = this.host.runtime;
    const generation = this.generation;
    const started = rt.monotonicMs();
    this.inFlight.add(t.taskHandle);
    const settle = (r: CommandResult | undefined): void => {
      if (generation !== this.generation) return;
      this.inFlight.delete(t.taskHandle);
      if (r?.ok === true && r.kind === 'moveMessages') {
        this.moved += r.moved;
        // maxPerSecond: the next entry no sooner than these messages take at that rate; none: at
        // once, yet after the requests that arrived meanwhile (schedulePump yields a turn).
        if (t.maxPerSecond !== null) this.notBefore.set(t.taskHandle, started + (Math.max(r.moved, 1) * 1000) / t.maxPerSecond);
      } else {
        const why = r === undefined ? 'the proposal failed' : r.ok ? `unexpected result ${r.kind}` : `${r.error}${r.detail === undefined ? '' : ` (${r.detail})`}`;
        this.host.log.warn(`move task ${t.taskHandle} (${t.sourceQueue}): ${why}; retrying in ${RETRY_AFTER_MS} ms`);
        this.notBefore.set(t.taskHandle, rt.monotonicMs() + RETRY_AFTER_MS);
      }
      this.schedulePump();
    };
    this.host.submit(command).then(settle, () => settle(undefined));
  }
}
