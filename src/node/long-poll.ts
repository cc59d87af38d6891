// Receives that found nothing and wait for a message (CMQ long polling, up to 30 s). The driver
// wakes waiters when a send, a visibility expiry or a rewind makes messages visible, and each
// waiter answers "no message" exactly when its wait runs out.

import { LIMITS } from '../protocol/limits';
import { nodeRuntime } from '../runtime/node-runtime';
import type { Timers } from '../runtime/timers';

export interface Waiter {
  queueName: string;
  /** Resolves the waiter's promise: true = woken (try again), false = the wait ran out. */
  settle(woken: boolean): void;
}

export class ParkedReceives {
  private readonly byQueue = new Map<string, Set<Waiter>>();
  private count = 0;

  constructor(
    private readonly timers: Timers = nodeRuntime,
    private readonly max = LIMITS.parkedReceivesMax,
  ) {}

  get size(): number {
    return this.count;
  }

  /**
   * Wait until woken or until `deadlineMs` of wall-clock time has passed. Returns undefined when
   * too many receives are already parked (the caller answers with an error rather than grow).
   */
  park(queueName: string, waitMs: number): Promise<boolean> | undefined {
    if (this.count >= this.max) return undefined;
    return new Promise<boolean>((resolve) => {
      let set = this.byQueue.get(queueName);
      if (!set) {
        set = new Set();
        this.byQueue.set(queueName, set);
      }
      const waiters = set;
      let done = false;
      const waiter: Waiter = {
        queueName,
        settle: (woken) => {
          if (done) return;
          done = true;
          this.timers.clearTimeout(timer);
          waiters.delete(waiter);
          if (waiters.size === 0 && this.byQueue.get(queueName) === waiters) this.byQueue.delete(queueName);
          this.count--;
          resolve(woken);
        },
      };
      const timer = this.timers.setTimeout(() => waiter.settle(false), Math.max(0, waitMs));
      waiters.add(waiter);
      this.count++;
    });
  }

  queuesWithWaiters(): IterableIterator<string> {
    return this.byQueue.keys();
  }

  /** Wake up to `n` waiters of a queue, oldest first. */
  wake(queueName: string, n: number): void {
    const set = this.byQueue.get(queueName);
    if (!set) return;
    for (const w of [...set]) {
      if (n-- <= 0) break;
      w.settle(true);
    }
  }

  wakeAll(): void {
    for (const set of [...this.byQueue.values()]) for (const w of [...set]) w.settle(true);
  }
}
