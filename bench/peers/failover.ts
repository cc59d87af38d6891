// The failover run, the same for every system: producers and a consumer run through a node that
// is not the leader; the leader is killed with SIGKILL mid-run; afterwards the consumer drains.
// Reports acknowledged messages never delivered (lost), deliveries beyond the first (duplicated)
// and the longest time without any acknowledged send after the kill (unavailable).

import { IN_FLIGHT_MAX, sleep } from './measure';
import type { FailoverDriver } from './system';

/** Messages in flight during the failover run: a quarter of the throughput runs' window. */
const FAILOVER_IN_FLIGHT = IN_FLIGHT_MAX / 4;
/** A send that keeps failing this long after the load phase ended is given up (not acknowledged). */
const SEND_GIVE_UP_MS = 30_000;
const RETRY_PAUSE_MS = 50;
/** The drain ends when every acknowledged message came, or nothing new came for this long. */
const DRAIN_QUIET_MS = 8_000;
const DRAIN_MAX_MS = 60_000;

export interface FailoverOptions {
  beforeKillS: number;
  afterKillS: number;
}

export interface FailoverResult {
  killed: string;
  acknowledged: number;
  lost: number;
  /** Deliveries of another stored copy of an id (the message was stored twice). */
  duplicated: number;
  /** Deliveries beyond the first of the same stored copy (its delete or ack was lost); 0 where copies have no name. */
  redelivered: number;
  /** Longest stretch after the kill with no acknowledged send, in ms. */
  unavailableMs: number;
  failedSends: number;
  gaveUp: number;
}

export async function runFailover(d: FailoverDriver, opts: FailoverOptions): Promise<FailoverResult> {
  const deliveries = new Map<number, number>();
  let redelivered = 0;
  /** Per id, the copies seen (only for systems that name them). */
  const copies = new Map<number, Set<string>>();
  const stopConsumer = await d.consume((id, copy) => {
    if (id < 0) return;
    if (copy !== undefined) {
      const seen = copies.get(id) ?? new Set<string>();
      copies.set(id, seen);
      if (seen.has(copy)) {
        redelivered++;
        return;
      }
      seen.add(copy);
    }
    deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
  });
  const acked: number[] = [];
  const ackTimes: number[] = [];
  let nextId = 0;
  let failedSends = 0;
  let gaveUp = 0;
  const t0 = performance.now();
  const killAt = t0 + opts.beforeKillS * 1000;
  const end = killAt + opts.afterKillS * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const ids = Array.from({ length: d.idsPerSend }, () => nextId++);
      for (;;) {
        try {
          await d.send(ids);
          acked.push(...ids);
          ackTimes.push(performance.now());
          break;
        } catch {
          failedSends++;
          if (performance.now() > end + SEND_GIVE_UP_MS) {
            gaveUp += ids.length;
            break;
          }
          await sleep(RETRY_PAUSE_MS);
        }
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, FAILOVER_IN_FLIGHT / d.idsPerSend) }, worker);
  await sleep(opts.beforeKillS * 1000);
  const killed = await d.killLeader();
  const killedAt = performance.now();
  await Promise.all(workers);

  const drainStart = performance.now();
  let lastCount = -1;
  let lastChange = drainStart;
  while (performance.now() - drainStart < DRAIN_MAX_MS) {
    const missing = acked.some((id) => !deliveries.has(id));
    if (!missing) break;
    if (deliveries.size !== lastCount) {
      lastCount = deliveries.size;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > DRAIN_QUIET_MS) break;
    await sleep(250);
  }
  await stopConsumer();

  // With no acknowledged send after the kill at all, the whole rest of the run was unavailable.
  let unavailableMs = ackTimes.some((t) => t > killedAt) ? 0 : end - killedAt;
  let prev = killedAt;
  for (const t of ackTimes.filter((x) => x > killedAt).sort((a, b) => a - b)) {
    unavailableMs = Math.max(unavailableMs, t - prev);
    prev = t;
  }
  let duplicated = 0;
  for (const n of deliveries.values()) duplicated += n - 1;
  return {
    killed,
    acknowledged: acked.length,
    lost: acked.filter((id) => !deliveries.has(id)).length,
    duplicated,
    redelivered,
    unavailableMs,
    failedSends,
    gaveUp,
  };
}
