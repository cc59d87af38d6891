// Raft ticks: one timer per host drives the ticks of every group it runs, instead of one interval
// per group. A driver without a host's scheduler gets one of its own, so there is one code path.
// Ticks are also where a held event loop shows: a leader's heartbeats go out on ticks, so a tick
// that comes far later than due means heartbeats that late (the host warns of it).

import type { Runtime, TimerHandle } from '../runtime/timers';

export interface TickSource {
  /** Milliseconds between ticks: the unit of the drivers' election and heartbeat timeouts. */
  readonly tickMs: number;
  /** Calls `onTick` at every tick until the returned function is called. */
  subscribe(onTick: () => void): () => void;
}

/** Told when ticks came `gapMs` apart, at least `minGapMs` (the event loop was held that long). */
export interface TickStallWatch {
  readonly minGapMs: number;
  onStall(gapMs: number): void;
}

export class TickScheduler implements TickSource {
  private readonly subscribers = new Set<() => void>();
  private timer: TimerHandle | undefined;
  private lastTickMs: number | undefined;

  constructor(
    private readonly rt: Pick<Runtime, 'setInterval' | 'clearInterval' | 'monotonicMs'>,
    readonly tickMs: number,
    private readonly stalls?: TickStallWatch,
  ) {}

  subscribe(onTick: () => void): () => void {
    // Each subscription is its own entry, so one callback subscribed twice ticks twice.
    const entry = (): void => onTick();
    this.subscribers.add(entry);
    // The timer runs only while someone listens: a host whose groups all closed holds no timer.
    this.timer ??= this.rt.setInterval(() => {
      this.watchGap();
      for (const fn of [...this.subscribers]) fn();
    }, this.tickMs);
    return () => {
      this.subscribers.delete(entry);
      if (this.subscribers.size === 0 && this.timer !== undefined) {
        this.rt.clearInterval(this.timer);
        this.timer = undefined;
        this.lastTickMs = undefined;
      }
    };
  }

  private watchGap(): void {
    const now = this.rt.monotonicMs();
    const gap = this.lastTickMs === undefined ? 0 : now - this.lastTickMs;
    this.lastTickMs = now;
    if (this.stalls !== undefined && gap >= this.stalls.minGapMs) this.stalls.onStall(gap);
  }
}
