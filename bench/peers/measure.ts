// What every peer scenario shares: closed-loop workers with per-operation latency, the message
// body (1 KiB, carrying an id for the failover run), percentiles and CPU time from /proc.

import { cpuSeconds } from '../bench-servers';

export const MESSAGE_BYTES = 1024;
/** Messages per request where the system batches (opencmq BatchSendMessage / BatchReceiveMessage). */
export const BATCH = 16;
/** Messages in flight per producer side: opencmq 32 connections x 16; peers a window of 512 unconfirmed. */
export const IN_FLIGHT_MAX = 512;
/** A scenario that finds nothing to do for this long has stalled (a consumer waiting on an empty queue). */
export const STALL_TIMEOUT_MS = 30_000;

/** When a closed-loop run stops: after a time, after a number of messages, or at whichever comes first. */
export interface Until {
  durationS?: number;
  messages?: number;
}

export interface ScenarioResult {
  /** Messages produced (produce, mixed) or consumed (consume). */
  messages: number;
  seconds: number;
  /** Per message acknowledgement latency; empty where the scenario has none (push consumers). */
  latenciesMs: number[];
  errors: number;
  /** Extra facts for the detail line (e.g. messages consumed during a mixed run). */
  note?: string;
}

/** A 1 KiB body that starts with its id, so a consumer can tell which message it got. */
export function body(id: number): string {
  return `${id}:`.padEnd(MESSAGE_BYTES, 'x');
}

export function bodyBuffer(id: number): Buffer {
  return Buffer.from(body(id));
}

/** The id at the start of a body, or -1 when it has none (the fixed bodies of the throughput runs). */
export function idOf(text: string): number {
  const colon = text.indexOf(':');
  return colon > 0 && colon < 16 ? Number(text.slice(0, colon)) : -1;
}

/**
 * Run `workers` closed loops of `op` until `until` says stop; op returns the messages it handled.
 * Latency is recorded for ops where `timed(worker)` is true (all by default).
 */
export async function closedLoops(
  workers: number,
  until: Until,
  op: (worker: number) => Promise<number>,
  timed: (worker: number) => boolean = () => true,
): Promise<ScenarioResult> {
  const latenciesMs: number[] = [];
  let messages = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = until.durationS === undefined ? Infinity : t0 + until.durationS * 1000;
  const target = until.messages ?? Infinity;
  let lastProgress = t0;
  const running = (): boolean => messages < target && performance.now() < end && performance.now() - lastProgress < STALL_TIMEOUT_MS;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (running()) {
        const s = performance.now();
        try {
          const n = await op(w);
          messages += n;
          if (n > 0) lastProgress = performance.now();
          if (timed(w) && n > 0) latenciesMs.push(performance.now() - s);
        } catch {
          errors++;
          // A dead connection fails at once; do not spin on it.
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    }),
  );
  return { messages, seconds: (performance.now() - t0) / 1000, latenciesMs, errors };
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor((p / 100) * sortedMs.length))]!;
}

/** CPU seconds of a set of processes; a process that is gone counts as 0 (it was killed). */
export function cpuOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuSeconds(pid);
    } catch {
      // gone
    }
  }
  return total;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
