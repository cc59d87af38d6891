// Raft's two timeouts and everything that must agree with them, defined once: the tick, the
// heartbeat and election ticks the core counts, and when a member takes its leader for gone
// (peer-requests.ts). The operator sets the two in milliseconds (--heartbeat-ms,
// --election-timeout-ms); the defaults are justified in docs/operations.md.

import type { PeerRequestTiming } from './peer-requests';

export const RAFT_TIMING_DEFAULTS = {
  /** The leader sends every member something at least this often. */
  heartbeatMs: 100,
  /**
   * A member that hears nothing from its leader for a random time in [this, 2 × this) starts an
   * election (after a pre-vote: it cannot disrupt a leader the others still hear).
   */
  electionTimeoutMs: 400,
} as const;

/** Bounds of the two settings (ms). */
export const RAFT_TIMING_LIMITS = {
  heartbeatMs: { min: 10, max: 10_000 },
  electionTimeoutMs: { min: 50, max: 60_000 },
  /** At least this many heartbeats fit in the shortest election timeout (a late one or two never elect). */
  heartbeatsPerElectionMin: 3,
  /** The tick is at most this long, and divides both settings: finer ticks spread elections better. */
  tickMsMax: 50,
  /** ... and at least this long: a finer tick is CPU for nothing. */
  tickMsMin: 5,
} as const;

export interface RaftTiming {
  readonly heartbeatMs: number;
  readonly electionTimeoutMs: number;
  /** Milliseconds between Raft ticks: the largest divisor of both settings up to tickMsMax. */
  readonly tickMs: number;
  readonly heartbeatTicks: number;
  readonly electionTicks: number;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The timing for these settings, or why they are refused (a sentence naming the flag). */
export function raftTiming(heartbeatMs: number = RAFT_TIMING_DEFAULTS.heartbeatMs, electionTimeoutMs: number = RAFT_TIMING_DEFAULTS.electionTimeoutMs): RaftTiming | string {
  const L = RAFT_TIMING_LIMITS;
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < L.heartbeatMs.min || heartbeatMs > L.heartbeatMs.max) {
    return `--heartbeat-ms must be a whole number of ms from ${L.heartbeatMs.min} to ${L.heartbeatMs.max}`;
  }
  if (!Number.isInteger(electionTimeoutMs) || electionTimeoutMs < L.electionTimeoutMs.min || electionTimeoutMs > L.electionTimeoutMs.max) {
    return `--election-timeout-ms must be a whole number of ms from ${L.electionTimeoutMs.min} to ${L.electionTimeoutMs.max}`;
  }
  if (electionTimeoutMs < L.heartbeatsPerElectionMin * heartbeatMs) {
    return `--election-timeout-ms (${electionTimeoutMs}) must be at least ${L.heartbeatsPerElectionMin} × --heartbeat-ms (${heartbeatMs})`;
  }
  const common = gcd(heartbeatMs, electionTimeoutMs);
  let tickMs = 0;
  for (let t = Math.min(common, L.tickMsMax); t >= L.tickMsMin; t--) {
    if (common % t === 0) {
      tickMs = t;
      break;
    }
  }
  if (tickMs === 0) {
    return `--heartbeat-ms (${heartbeatMs}) and --election-timeout-ms (${electionTimeoutMs}) must share a divisor of at least ${L.tickMsMin} ms (their tick), e.g. both multiples of 10`;
  }
  return { heartbeatMs, electionTimeoutMs, tickMs, heartbeatTicks: heartbeatMs / tickMs, electionTicks: electionTimeoutMs / tickMs };
}

/** The defaults, as a RaftTiming. */
export const DEFAULT_RAFT_TIMING = raftTiming() as RaftTiming;

/**
 * When a member gives up on a peer (peer-requests.ts): a leader silent for three heartbeat
 * intervals (one or two late heartbeats are weather, three are not), and an echo after as long
 * without an answer. Both are shorter than the election timeout, so requests on a frozen leader
 * are answered before the others have elected a new one.
 */
export function peerRequestTiming(t: RaftTiming): PeerRequestTiming {
  const silenceMs = Math.min(3 * t.heartbeatMs, t.electionTimeoutMs);
  return { silenceMs, echoAfterMs: silenceMs, echoTimeoutMs: silenceMs };
}
