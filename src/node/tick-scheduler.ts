// Raft ticks: one timer per host drives the ticks of every group it runs, instead of one interval
// per group. A driver without a host's scheduler gets one of its own, so there is one code path.

import type { Runtime, TimerHandle } from '../runtime/timers';

export interface TickSource {
  /** Milliseconds between ticks: the unit of the drivers' election and heartbeat timeouts. */
  readonly tickMs: number;
  /** Calls `onTick` at every tick until the returned function is called. */
  subscribe(onTick: () => void): () => void;
}

export class TickScheduler implements TickSource {
  private readonly subscribers = new Set<() => void>();
  private timer: TimerHandle | undefined;

  constructor(
    private readonly rt: Pick<Runtime, 'setInterval' | 'clearInterval'>,
    readonly tickMs: number,
  ) {}

  subscribe(onTick: () => void): () => void {
    // Each subscription is its own entry, so one callback subscribed twice ticks twice.
    const entry = (): void => onTick();
    this.subscribers.add(entry);
    // The timer runs only while someone listens: a host whose groups all closed holds no timer.
    this.timer ??= this.rt.setInterval(() => {
      for (const fn of [...this.subscribers]) fn();
    }, this.tickMs);
    return () => {
      this.subscribers.delete(entry);
      if (this.subscribers.size === 0 && this.timer !== undefined) {
        this.rt.clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }
}
