// Time and timers as the server's driver code sees them: an interface, so production passes the
// real clock and Node's timers while the deterministic simulator passes a virtual clock whose
// timers fire in an order fixed by the seed. Code under node/ and storage/ reads time and
// schedules work only through these.

/** A scheduled callback; only ever handed back to the `Timers` that made it. */
export type TimerHandle = { readonly __timer?: never } | object;

export interface Clock {
  /** Wall-clock milliseconds since the epoch (entry times, deadlines shown to clients). */
  nowMs(): number;
  /** Milliseconds from an arbitrary origin that never go back (durations, rate limits). */
  monotonicMs(): number;
}

export interface Timers {
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, periodMs: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
  /** Runs `fn` once the current turn's I/O callbacks have run (Node's setImmediate). */
  setImmediate(fn: () => void): void;
  /** Resolves after `delayMs` (a polling wait). */
  sleep(delayMs: number): Promise<void>;
}

/** What the driver needs of its environment beyond storage and network. */
export interface Runtime extends Clock, Timers {
  /** Uniform in [0, 1) with at least 32 bits of resolution: election jitter, receipt-handle seeds, push back-off. */
  random(): number;
}

/** A uniform 32-bit unsigned integer from the runtime's randomness. */
export function randomU32(rt: Pick<Runtime, 'random'>): number {
  return Math.floor(rt.random() * 2 ** 32) >>> 0;
}
