// Open-loop load: requests go out on a fixed schedule whatever the server's answers, and each
// latency counts from the request's scheduled time. A closed loop (each connection waits for its
// answer) sends less while the server is slow, so its percentiles leave out exactly the requests
// a stall would have delayed (coordinated omission); an open loop keeps them.

import type { LoadResult, Target } from './load';
import { RawHttpConnection } from './raw-http';

/** Request k of `count` is due at startMs + k / ratePerS seconds. */
export class RateSchedule {
  private next = 0;

  constructor(
    readonly startMs: number,
    readonly ratePerS: number,
    readonly count: number,
  ) {
    if (!(ratePerS > 0)) throw new Error('rate must be positive');
  }

  /** Scheduled time of request k. */
  at(k: number): number {
    return this.startMs + (k * 1000) / this.ratePerS;
  }

  /**
   * The scheduled times of every request due by nowMs not yet taken, oldest first: after a late
   * wake-up all the missed ones, each with its own scheduled time (not nowMs).
   */
  due(nowMs: number): number[] {
    const out: number[] = [];
    while (this.next < this.count && this.at(this.next) <= nowMs) out.push(this.at(this.next++));
    return out;
  }

  /** When the next request is due; undefined once all were taken. */
  nextAtMs(): number | undefined {
    return this.next < this.count ? this.at(this.next) : undefined;
  }
}

export interface OpenLoopResult extends LoadResult {
  /** Requests the schedule issued (all of them: the run waits for the last answers). */
  issued: number;
  /** How long after its scheduled time each request was written (timer lateness, waiting for a connection). */
  sendLagMs: number[];
  /** Connections open before the run, and opened during it because none was free (the schedule waited for those). */
  preopened: number;
  openedDuringRun: number;
}

/**
 * Issue `op` at `requestsPerS` for `durationS`, each on a free connection (one request in flight
 * per connection); a new one is opened when none is free. Timers wake at most every millisecond
 * (libuv's clock), so requests can go out up to about a millisecond late, later when this process
 * waits for a CPU: that lateness is in the latency (it counts from the schedule) and is reported
 * separately as the send lag. Sleeping
 * between requests instead of spinning leaves the CPU to the servers on a small machine.
 */
export async function runOpenLoop(
  target: Target,
  requestsPerS: number,
  durationS: number,
  preopen: number,
  op: (conn: RawHttpConnection) => Promise<number>,
): Promise<OpenLoopResult> {
  const free: RawHttpConnection[] = [];
  for (let i = 0; i < preopen; i++) free.push(await target.connection(i));
  const extra: RawHttpConnection[] = [];
  const latenciesMs: number[] = [];
  const sendLagMs: number[] = [];
  let messages = 0;
  let errors = 0;
  let lastDone = 0;
  const inFlight = new Set<Promise<void>>();
  const schedule = new RateSchedule(performance.now(), requestsPerS, Math.max(1, Math.round(durationS * requestsPerS)));

  const issue = async (scheduledMs: number): Promise<void> => {
    let conn = free.pop();
    if (!conn) {
      conn = await RawHttpConnection.connect(target.port);
      extra.push(conn);
    }
    sendLagMs.push(performance.now() - scheduledMs);
    try {
      const n = await op(conn); // not `messages += await`: that reads messages before the wait
      messages += n;
      lastDone = performance.now();
      latenciesMs.push(lastDone - scheduledMs);
    } catch {
      errors++;
    }
    if (!conn.closed) free.push(conn);
  };

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      for (const at of schedule.due(performance.now())) {
        const p = issue(at).catch(() => {
          errors++; // could not even connect
        });
        inFlight.add(p);
        void p.then(() => inFlight.delete(p));
      }
      const next = schedule.nextAtMs();
      if (next === undefined) resolve();
      else setTimeout(tick, Math.max(0, next - performance.now()));
    };
    tick();
  });
  await Promise.all(inFlight);
  for (const c of extra) c.close();
  return {
    messages,
    seconds: ((lastDone || performance.now()) - schedule.startMs) / 1000,
    latenciesMs,
    errors,
    emptyReceives: 0,
    issued: schedule.count,
    sendLagMs,
    preopened: preopen,
    openedDuringRun: extra.length,
  };
}
