// A follower's requests to its leader (forwarded client requests, service calls), and what their
// failures mean for a client. Whether the leader can have executed a request decides between
// "not applied, retry" and "outcome unknown"; a request still waiting OLD_LEADER_GRACE_MS after
// this node sees another leader is given up as outcome unknown: the old leader is presumably
// frozen or cut off (else the wait would be the transport's idle timeout, ~5 s).

import type { Runtime, TimerHandle } from '../runtime/timers';
import { PeerRemoteError, requestNotExecuted, type PeerNetwork } from '../transport';
import { UNKNOWN_RPC_SERVICE } from './rpc';

/** Longer than the longest long poll (30 s), so a forwarded receive is not cut short. */
export const FORWARD_TIMEOUT_MS = 40_000;
/** How often requests in flight check whether the leader they went to is still the leader. */
const LEADER_CHECK_MS = 50;
/**
 * After another leader is known, the old one still gets this long to answer (a deposed but
 * healthy leader answers at once, often with the committed result); past it, it is presumed
 * frozen or cut off.
 */
const OLD_LEADER_GRACE_MS = 1000;

export type LeaderAnswer =
  | { ok: true; answer: Buffer }
  /** `notApplied`: the leader provably did not execute it; `outcomeUnknown`: it may have. */
  | { ok: false; outcome: 'notApplied' | 'outcomeUnknown'; why: string };

interface Waiting {
  readonly leader: string;
  otherSince: number | undefined;
  abandon(): void;
}

export class LeaderRequests {
  private readonly waiting = new Set<Waiting>();
  private checker: TimerHandle | undefined;

  constructor(
    private readonly network: PeerNetwork,
    private readonly leaderId: () => string | undefined,
    private readonly rt: Runtime,
  ) {}

  /** Send `request` to `leader` and wait for its answer or for the reason there is none. */
  send(leader: string, request: Uint8Array): Promise<LeaderAnswer> {
    return new Promise<LeaderAnswer>((resolve) => {
      const w: Waiting = {
        leader,
        otherSince: undefined,
        abandon: () => {
          this.waiting.delete(w);
          resolve({ ok: false, outcome: 'outcomeUnknown', why: `leadership moved to ${this.leaderId() ?? '(unknown)'} while the request was in flight` });
        },
      };
      this.waiting.add(w);
      this.checker ??= this.rt.setInterval(() => this.check(), LEADER_CHECK_MS);
      this.network.request(leader, request, { timeoutMs: FORWARD_TIMEOUT_MS }).then(
        (answer) => {
          if (this.waiting.delete(w)) resolve({ ok: true, answer });
        },
        (err: unknown) => {
          if (!this.waiting.delete(w)) return;
          const why = err instanceof Error ? err.message : String(err);
          resolve({ ok: false, outcome: notExecuted(err) ? 'notApplied' : 'outcomeUnknown', why });
        },
      );
    });
  }

  private check(): void {
    const current = this.leaderId();
    const now = this.rt.monotonicMs();
    for (const w of this.waiting) {
      if (current === undefined || current === w.leader) w.otherSince = undefined;
      else if (w.otherSince === undefined) w.otherSince = now;
      else if (now - w.otherSince >= OLD_LEADER_GRACE_MS) w.abandon();
    }
    if (this.waiting.size === 0 && this.checker !== undefined) {
      this.rt.clearInterval(this.checker);
      this.checker = undefined;
    }
  }
}

/**
 * The transport's verdict, and one more: a leader that has no handler for the request's service
 * (a node of an older version) refused it before running anything.
 */
function notExecuted(err: unknown): boolean {
  return requestNotExecuted(err) || (err instanceof PeerRemoteError && err.message.includes(UNKNOWN_RPC_SERVICE));
}
