// Calls the cluster controller from any node, a member of the controller group or not. A member
// runs a call on the voter it reaches and never passes it on (controller-calls.ts), so the
// client finds the leader itself: the voter that last answered first, then the others in turn,
// moving on whenever one answers `notApplied` (not the leader, no leader yet, unreachable), for
// at most `giveUpMs`, then it gives the last error. The answer carries no leader hint: with at
// most CONTROLLER_LIMITS.membersMax voters a round costs a few peer round trips, and the
// controller's wire stays as the members already speak it.

import { decodeControllerResult } from '../controller/codec';
import type { ControllerCommand, ControllerQuery, ControllerResult } from '../controller/commands';
import { fail } from '../protocol/errors';
import type { Runtime } from '../runtime/timers';
import { encodeControllerCall, type ControllerCall } from './controller-calls';
import type { PeerRequests } from './peer-requests';

/** The calls a controller replica on this node takes (it forwards them to its leader). */
export interface LocalController {
  submit(command: ControllerCommand): Promise<ControllerResult>;
  read(query: ControllerQuery): Promise<ControllerResult>;
}

export interface ControllerClientOptions {
  selfId: string;
  /** The controller group's voters. */
  voters: readonly string[];
  /** Requests over the controller group's peer view (whose peers are the voters). */
  requests: PeerRequests;
  /** This node's own controller replica, when it is a voter (a node cannot send itself a peer request). */
  local?: LocalController;
  runtime: Pick<Runtime, 'monotonicMs' | 'sleep'>;
  /** How long one call keeps trying (default CONTROLLER_CLIENT_GIVE_UP_MS). */
  giveUpMs?: number;
}

/** An election takes a few election timeouts at worst; a call keeps trying that long. */
export const CONTROLLER_CLIENT_GIVE_UP_MS = 10_000;
/** Pause after a round in which no voter took the call (an election under way). */
const ROUND_PAUSE_MS = 200;

export class ControllerClient {
  private leader: string | undefined;

  constructor(private readonly opts: ControllerClientOptions) {
    if (opts.voters.length === 0) throw new Error('the controller client needs at least one voter');
  }

  submit(command: ControllerCommand): Promise<ControllerResult> {
    return this.call({ op: 'submit', command });
  }

  read(query: ControllerQuery): Promise<ControllerResult> {
    return this.call({ op: 'read', query });
  }

  /** The voter that last took a call (the leader then), if any. */
  lastLeader(): string | undefined {
    return this.leader;
  }

  private async call(call: ControllerCall): Promise<ControllerResult> {
    const rt = this.opts.runtime;
    const deadline = rt.monotonicMs() + (this.opts.giveUpMs ?? CONTROLLER_CLIENT_GIVE_UP_MS);
    let last: ControllerResult = fail('notApplied', undefined, 'the controller was not asked');
    for (;;) {
      for (const voter of this.order()) {
        const r = await this.once(voter, call);
        // Anything but "not applied" was decided by the voter asked: it leads (or led) the group.
        if (r.ok || r.error !== 'notApplied') {
          this.leader = voter;
          return r;
        }
        last = r;
        if (this.leader === voter) this.leader = undefined;
        if (rt.monotonicMs() >= deadline) return last;
      }
      if (rt.monotonicMs() + ROUND_PAUSE_MS >= deadline) return last;
      await rt.sleep(ROUND_PAUSE_MS);
    }
  }

  /** The last leader first, then the voters in their order. */
  private order(): string[] {
    const voters = [...this.opts.voters];
    const first = this.leader;
    return first === undefined ? voters : [first, ...voters.filter((v) => v !== first)];
  }

  private async once(voter: string, call: ControllerCall): Promise<ControllerResult> {
    if (voter === this.opts.selfId) {
      const local = this.opts.local;
      if (!local) return fail('notApplied', undefined, `${voter} is this node, which runs no controller replica`);
      // The local replica passes the call to the leader it knows; that leader is not learnt here.
      return call.op === 'submit' ? local.submit(call.command) : local.read(call.query);
    }
    const failed = (outcome: 'notApplied' | 'outcomeUnknown', why: string): ControllerResult =>
      fail(call.op === 'read' ? 'notApplied' : outcome, undefined, `controller voter ${voter}: ${why}`);
    // No connection to the voter fails at once as "not sent" (not applied); a voter that went
    // silent with the call in flight is given up after an unanswered echo (peer-requests.ts).
    const a = await this.opts.requests.send(voter, encodeControllerCall(call), false);
    if (!a.ok) return failed(a.outcome, a.why);
    return decodeControllerResult(a.answer) ?? failed('outcomeUnknown', 'its answer could not be decoded');
  }
}
