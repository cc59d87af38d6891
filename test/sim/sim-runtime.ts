// Virtual time for the simulator: one scheduler for the whole simulated world, and one Runtime
// (src/runtime/timers.ts) per simulated process, so the shipped driver's timers, setImmediate
// calls and clock reads all run on virtual time, in an order fixed by the seed.
//
// Tasks run one at a time in (time, sequence) order. After each task the scheduler lets every
// promise chain it started settle (one real setImmediate: the microtask queue is empty by then),
// so "what happens next" never depends on the host's speed. A process that crashes is killed: its
// pending timers never fire, and whatever it schedules afterwards is dropped, so an abandoned
// instance of the driver can never act again.

import type { Runtime, TimerHandle } from '../../src/runtime/timers';
import { Prng } from './prng';

interface Task {
  atMs: number;
  seq: number;
  fn: () => void;
  owner: SimProcessRuntime | undefined;
  cancelled: boolean;
}

/** A binary min-heap of tasks by (atMs, seq). */
class TaskHeap {
  private readonly items: Task[] = [];

  get size(): number {
    return this.items.length;
  }

  push(t: Task): void {
    const a = this.items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  peek(): Task | undefined {
    return this.items[0];
  }

  pop(): Task | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Task, b: Task): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class SimScheduler {
  private readonly heap = new TaskHeap();
  private seq = 0;
  private virtualMs: number;
  /** Tasks run so far (a measure of the simulation's work). */
  tasksRun = 0;
  /** Errors thrown by tasks: the driver must never throw out of a timer. */
  readonly uncaught: { atMs: number; owner: string; error: unknown }[] = [];

  constructor(readonly epochMs: number) {
    this.virtualMs = epochMs;
  }

  get nowMs(): number {
    return this.virtualMs;
  }

  schedule(delayMs: number, fn: () => void, owner?: SimProcessRuntime): Task {
    const task: Task = { atMs: this.virtualMs + Math.max(0, delayMs), seq: this.seq++, fn, owner, cancelled: false };
    this.heap.push(task);
    return task;
  }

  /** Runs every task due up to `untilMs`, then sets the clock there. */
  async runUntil(untilMs: number): Promise<void> {
    // What the caller started between calls (a process booting, a client's request) settles at
    // the current time first: with no task due, nothing else would let it run before time moves.
    await settle();
    for (;;) {
      const next = this.heap.peek();
      if (!next || next.atMs > untilMs) break;
      this.heap.pop();
      if (next.cancelled || (next.owner && !next.owner.alive)) continue;
      if (next.owner && next.owner.frozenUntilMs > next.atMs) {
        // A frozen process (SIGSTOP) runs nothing: its timers and the frames that reach it wait,
        // in their order, until it thaws.
        next.atMs = next.owner.frozenUntilMs;
        next.seq = this.seq++;
        this.heap.push(next);
        continue;
      }
      this.virtualMs = Math.max(this.virtualMs, next.atMs);
      this.tasksRun++;
      try {
        next.fn();
      } catch (error) {
        this.uncaught.push({ atMs: this.virtualMs, owner: next.owner?.name ?? '(world)', error });
      }
      await settle();
    }
    this.virtualMs = Math.max(this.virtualMs, untilMs);
  }

  /** Runs tasks until `p` settles or `maxMs` of virtual time passed: its outcome, or undefined when it did not settle. */
  async settle<T>(p: Promise<T>, maxMs: number): Promise<PromiseSettledResult<T> | undefined> {
    let outcome: PromiseSettledResult<T> | undefined;
    p.then(
      (value) => (outcome = { status: 'fulfilled', value }),
      (reason: unknown) => (outcome = { status: 'rejected', reason }),
    );
    await this.runUntilTrue(() => outcome !== undefined, maxMs);
    return outcome;
  }

  /** Runs tasks until `done()` holds or `maxMs` of virtual time passed; true when it held. */
  async runUntilTrue(done: () => boolean, maxMs: number, stepMs = 5): Promise<boolean> {
    const end = this.virtualMs + maxMs;
    while (!done()) {
      if (this.virtualMs >= end) return false;
      await this.runUntil(Math.min(end, this.virtualMs + stepMs));
    }
    return true;
  }
}

/**
 * One simulated process's Runtime: virtual time plus its own clock skew, its own random stream,
 * and a kill switch for crashes.
 */
export class SimProcessRuntime implements Runtime {
  alive = true;

  constructor(
    private readonly scheduler: SimScheduler,
    readonly name: string,
    private readonly skewMs: number,
    private readonly prng: Prng,
  ) {}

  /** Stop this process: nothing it scheduled runs, nothing it schedules from now on runs. */
  kill(): void {
    this.alive = false;
  }

  /** Until this virtual time the process is frozen (SIGSTOP): nothing of it runs, then everything due does. */
  frozenUntilMs = -Infinity;

  freeze(untilMs: number): void {
    this.frozenUntilMs = Math.max(this.frozenUntilMs, untilMs);
  }

  nowMs(): number {
    return this.scheduler.nowMs + this.skewMs;
  }

  monotonicMs(): number {
    return this.scheduler.nowMs - this.scheduler.epochMs;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    return this.scheduler.schedule(delayMs, fn, this);
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) (handle as Task).cancelled = true;
  }

  setInterval(fn: () => void, periodMs: number): TimerHandle {
    // One handle for the whole series: cancelling it stops every later firing.
    const series = { cancelled: false } as Task;
    const fire = (): void => {
      if (series.cancelled) return;
      this.scheduler.schedule(periodMs, fire, this);
      fn();
    };
    this.scheduler.schedule(periodMs, fire, this);
    return series;
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  setImmediate(fn: () => void): void {
    this.scheduler.schedule(0, fn, this);
  }

  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.scheduler.schedule(delayMs, resolve, this));
  }

  random(): number {
    return this.prng.next();
  }
}
