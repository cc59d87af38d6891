// A member's requests to other members of its set (service calls and whole requests to the
// leader, calls relayed through another member), what their failures mean for a client, and which
// members look reachable from here. Whether the peer can have executed a request decides between
// "not applied, retry" and "outcome unknown".
//
// A frozen or cut-off peer closes no socket, so waiting for the transport would take its idle
// timeout (5 s) or the request's (40 s). Two signs come sooner:
// - silence: the leader sends every member a heartbeat every heartbeat interval, so a leader
//   this member has heard nothing from for `silenceMs` (a few intervals) is frozen or cut off;
// - a missing echo: a request waiting longer than `echoAfterMs` makes this member ask the peer for
//   an empty answer; none within `echoTimeoutMs` means the path is broken in at least one
//   direction (it may still carry the peer's heartbeats to us: a one-way cut).
// Either way the requests waiting on that peer are answered "outcome unknown" (each may have
// arrived), and the peer counts as unreachable until an answer from it arrives again.

import type { Runtime, TimerHandle } from '../runtime/timers';
import { PeerRemoteError, requestNotExecuted, type PeerNetwork } from '../transport';
import { MEMBERS_ONLY_RPC_SERVICE, RPC_SERVICE, UNKNOWN_RPC_SERVICE } from './rpc';

/** Longer than the longest long poll (30 s), so a forwarded receive is not cut short. */
export const FORWARD_TIMEOUT_MS = 40_000;
/** How often waiting requests are checked. */
const CHECK_MS = 50;

export interface PeerRequestTiming {
  /** A leader silent this long is taken for frozen or cut off: a few heartbeat intervals. */
  readonly silenceMs: number;
  /** A request unanswered this long makes this member check the path with an echo. */
  readonly echoAfterMs: number;
  /** An echo unanswered this long means the path to the peer is broken. */
  readonly echoTimeoutMs: number;
}

export type PeerAnswer =
  | { ok: true; answer: Buffer }
  /** `notApplied`: the peer provably did not execute it; `outcomeUnknown`: it may have. */
  | { ok: false; outcome: 'notApplied' | 'outcomeUnknown'; why: string };

interface Waiting {
  readonly peer: string;
  /** Sent to the leader, which heartbeats this member: its silence counts. */
  readonly heartbeats: boolean;
  readonly sentAtMs: number;
  give(answer: PeerAnswer): void;
}

/** The echo request: a service byte and nothing else. Any answer proves the path both ways. */
const ECHO = Buffer.from([RPC_SERVICE.echo]);

/** What this member's failure detection did since it started (for metrics). */
export interface PeerRequestCounters {
  /** Requests given up ("outcome unknown") because the leader they went to fell silent. */
  givenUpLeaderSilent: number;
  /** Requests given up ("outcome unknown") because the peer did not answer an echo. */
  givenUpEchoUnanswered: number;
  echoesSent: number;
  echoesUnanswered: number;
}

export class PeerRequests {
  readonly counters: PeerRequestCounters = { givenUpLeaderSilent: 0, givenUpEchoUnanswered: 0, echoesSent: 0, echoesUnanswered: 0 };
  private readonly waiting = new Set<Waiting>();
  private checker: TimerHandle | undefined;
  private lastCheckMs = -Infinity;
  /** When an answer (to anything) last came from each peer. */
  private readonly lastAnswerMs = new Map<string, number>();
  /** Peers whose last echo went unanswered, since when: unreachable until they answer again. */
  private readonly echoFailedAtMs = new Map<string, number>();
  private readonly echoes = new Map<string, Promise<boolean>>();

  constructor(
    private readonly network: PeerNetwork,
    private readonly rt: Runtime,
    private readonly timing: PeerRequestTiming,
  ) {}

  /**
   * Send `request` to `peer` and wait for its answer or for the reason there is none.
   * `heartbeats`: the peer leads this member's group (so its silence says it is gone).
   */
  send(peer: string, request: Uint8Array, heartbeats: boolean): Promise<PeerAnswer> {
    return new Promise<PeerAnswer>((resolve) => {
      const w: Waiting = {
        peer,
        heartbeats,
        sentAtMs: this.rt.monotonicMs(),
        give: (answer) => {
          if (this.waiting.delete(w)) resolve(answer);
        },
      };
      this.waiting.add(w);
      this.checker ??= this.rt.setInterval(() => this.check(), CHECK_MS);
      this.network.request(peer, request, { timeoutMs: FORWARD_TIMEOUT_MS }).then(
        (answer) => {
          this.answered(peer);
          w.give({ ok: true, answer });
        },
        (err: unknown) => {
          if (err instanceof PeerRemoteError) this.answered(peer);
          const why = err instanceof Error ? err.message : String(err);
          w.give({ ok: false, outcome: notExecuted(err) ? 'notApplied' : 'outcomeUnknown', why });
        },
      );
    });
  }

  /**
   * Why `peer` looks unreachable from here, or undefined when it does not: no connection, a
   * failed echo not followed by an answer, or (for the leader, `heartbeats`) silence.
   */
  unreachable(peer: string, heartbeats: boolean): string | undefined {
    if (this.network.peerSilenceMs(peer) === undefined) return `no connection to ${peer}`;
    if (this.echoFailedAtMs.has(peer)) return `${peer} did not answer an echo within ${this.timing.echoTimeoutMs} ms`;
    return heartbeats ? this.silent(peer) : undefined;
  }

  /**
   * As `unreachable`, but a peer whose echo failed more than echoAfterMs ago gets one more echo
   * first (it may be back: a partition healed, the process thawed). Without it a failed echo would
   * be final, as nothing else is ever sent to a peer that looks unreachable: only an echo, never a
   * call, tests a link that led nowhere.
   */
  async recheck(peer: string, heartbeats: boolean): Promise<string | undefined> {
    const gone = this.unreachable(peer, heartbeats);
    if (gone === undefined || !this.echoFailedAtMs.has(peer) || this.network.peerSilenceMs(peer) === undefined) return gone;
    return (await this.confirm(peer)) ? this.unreachable(peer, heartbeats) : gone;
  }

  /** "nothing heard from P for N ms" when the leader `peer` has been silent too long, else undefined. */
  private silent(peer: string): string | undefined {
    const silence = this.network.peerSilenceMs(peer);
    if (silence === undefined || silence < this.timing.silenceMs) return undefined;
    return `nothing heard from ${peer} for ${Math.round(silence)} ms`;
  }

  private answered(peer: string): void {
    this.lastAnswerMs.set(peer, this.rt.monotonicMs());
    this.echoFailedAtMs.delete(peer);
  }

  private check(): void {
    const now = this.rt.monotonicMs();
    // A check that ran late means this process stalled: what it would measure is its own
    // silence, and the bytes that arrived meanwhile are not read yet. Skip this round.
    const late = now - this.lastCheckMs > 3 * CHECK_MS;
    this.lastCheckMs = now;
    if (this.waiting.size === 0) {
      if (this.checker !== undefined) this.rt.clearInterval(this.checker);
      this.checker = undefined;
      return;
    }
    if (late) return;
    const oldest = new Map<string, number>();
    for (const w of this.waiting) {
      if (w.heartbeats) {
        const silent = this.silent(w.peer);
        if (silent !== undefined) {
          this.counters.givenUpLeaderSilent++;
          w.give({ ok: false, outcome: 'outcomeUnknown', why: `${silent} while the request was in flight` });
          continue;
        }
      }
      oldest.set(w.peer, Math.min(oldest.get(w.peer) ?? Infinity, w.sentAtMs));
    }
    for (const [peer, sentAtMs] of oldest) {
      if (now - sentAtMs < this.timing.echoAfterMs || this.echoes.has(peer)) continue;
      if (now - (this.lastAnswerMs.get(peer) ?? -Infinity) < this.timing.echoAfterMs) continue;
      void this.probe(peer, now);
    }
  }

  /**
   * Whether `peer` answers: at once when it answered, or failed an echo, within the last
   * echoAfterMs; else after an echo (at most echoTimeoutMs). A member relays a call only through
   * a peer that passes this, so a call is never written to a link known to lead nowhere.
   */
  async confirm(peer: string): Promise<boolean> {
    const now = this.rt.monotonicMs();
    const failedAt = this.echoFailedAtMs.get(peer);
    if (failedAt !== undefined && now - failedAt < this.timing.echoAfterMs) return false;
    if (now - (this.lastAnswerMs.get(peer) ?? -Infinity) < this.timing.echoAfterMs) return true;
    return this.probe(peer, now);
  }

  /** Ask `peer` for an empty answer (one echo in flight per peer); without one in time, give up what waits on it. */
  private probe(peer: string, sentAtMs: number): Promise<boolean> {
    let inFlight = this.echoes.get(peer);
    if (inFlight) return inFlight;
    this.counters.echoesSent++;
    inFlight = this.network.request(peer, ECHO, { timeoutMs: this.timing.echoTimeoutMs }).then(
      () => {
        this.answered(peer);
        return true;
      },
      (err: unknown) => {
        // A node without the echo service still answered: the path works.
        if (err instanceof PeerRemoteError) {
          this.answered(peer);
          return true;
        }
        if ((this.lastAnswerMs.get(peer) ?? -Infinity) >= sentAtMs) return true; // something else came back meanwhile
        this.echoFailedAtMs.set(peer, this.rt.monotonicMs());
        this.counters.echoesUnanswered++;
        const why = `${peer} did not answer an echo within ${this.timing.echoTimeoutMs} ms while the request was in flight`;
        for (const w of this.waiting) {
          if (w.peer !== peer || w.sentAtMs > sentAtMs) continue;
          this.counters.givenUpEchoUnanswered++;
          w.give({ ok: false, outcome: 'outcomeUnknown', why });
        }
        return false;
      },
    );
    const settled = inFlight.finally(() => this.echoes.delete(peer));
    this.echoes.set(peer, settled);
    return settled;
  }
}

/**
 * The transport's verdict, and two more: a peer that has no handler for the request's service
 * (a node of an older version), or serves it to its group's members only, refused it before
 * running anything.
 */
function notExecuted(err: unknown): boolean {
  return requestNotExecuted(err) || (err instanceof PeerRemoteError && (err.message.includes(UNKNOWN_RPC_SERVICE) || err.message.includes(MEMBERS_ONLY_RPC_SERVICE)));
}
