// The production Runtime: the wall clock, Node's timers and crypto randomness.

import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import type { Runtime, TimerHandle } from './timers';

/** Within randomInt's range (below 2^48): 47 bits of resolution, more than a 32-bit draw needs. */
const RANDOM_SCALE = 2 ** 47;

export const nodeRuntime: Runtime = {
  nowMs: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimeout: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
  setInterval: (fn, periodMs) => setInterval(fn, periodMs),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout | undefined),
  setImmediate: (fn) => void setImmediate(fn),
  sleep: (delayMs) => new Promise<void>((resolve) => setTimeout(resolve, delayMs)),
  random: () => randomInt(0, RANDOM_SCALE) / RANDOM_SCALE,
};

/** Keeps a timer from holding the process open, where the runtime's timers are Node's. */
export function unrefTimer(h: TimerHandle): void {
  const t = h as { unref?: () => void };
  if (typeof t.unref === 'function') t.unref();
}
