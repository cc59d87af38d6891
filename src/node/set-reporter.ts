// The leader of a set keeps the cluster controller's record of its set current: on gaining
// leadership and every `everyMs` while leading it registers the set if the controller does not
// know it, replaces its members when they changed, and reports its load. It runs on its own
// timer beside the data path and never waits in it; a round that fails is logged (a few lines
// a minute) and the next round tries again.
//
// Members' addresses: each member answers a `memberInfo` peer request with its own (its peer,
// CMQ API and SQS addresses), since only the member knows where its listeners are. A member that
// does not answer keeps the addresses the controller already has for it; a set is registered only
// once every member has answered.

import type { ControllerCommand, ControllerQuery, ControllerResult } from '../controller/commands';
import type { SetMember } from '../controller/model';
import { LogRateLimit, type Logger } from '../protocol/log';
import type { Runtime, TimerHandle } from '../runtime/timers';
import type { PeerNetwork } from '../transport';
import { RPC_SERVICE, type RpcRouter } from './rpc';

/** How often a leading member reports, by default. */
export const SET_REPORT_EVERY_MS = 5_000;
/** How often it checks whether it gained leadership (so a new leader reports within this). */
const LEADERSHIP_CHECK_MS = 500;
/** A member that takes longer than this to give its addresses is left out of this round. */
const MEMBER_INFO_TIMEOUT_MS = 2_000;
const FAILURE_LOGS_PER_MINUTE = 3;

/** What a member says about itself: SetMember without the id. */
export type MemberAddresses = Omit<SetMember, 'nodeId'>;

/** The set's load now, as the node's state machine and counters have it. */
export interface SetLoadNow {
  queues: number;
  messages: number;
  bytes: number;
  /** API requests this node served since it started (a counter; the rate is taken between reports). */
  requestsServed: number;
}

export interface SetReporterOptions {
  setId: number;
  group: number;
  selfId: string;
  leads(): boolean;
  voters(): readonly string[];
  self(): MemberAddresses;
  /** Another member's addresses (undefined when it did not answer). */
  memberInfo(nodeId: string): Promise<MemberAddresses | undefined>;
  load(): SetLoadNow;
  controller: { submit(c: ControllerCommand): Promise<ControllerResult>; read(q: ControllerQuery): Promise<ControllerResult> };
  runtime: Pick<Runtime, 'monotonicMs' | 'setInterval' | 'clearInterval'>;
  log: Logger;
  everyMs?: number;
}

export class SetReporter {
  private timer: TimerHandle | undefined;
  private running = false;
  private wasLeading = false;
  private lastRoundMs = -Infinity;
  private lastCount: { requests: number; atMs: number } | undefined;
  private readonly limit: LogRateLimit;
  /** Rounds that reached the controller with a load report (for tests and status). */
  reports = 0;

  constructor(private readonly opts: SetReporterOptions) {
    this.limit = new LogRateLimit(FAILURE_LOGS_PER_MINUTE, 60_000, () => opts.runtime.monotonicMs());
  }

  start(): void {
    this.timer ??= this.opts.runtime.setInterval(() => this.check(), LEADERSHIP_CHECK_MS);
  }

  stop(): void {
    if (this.timer !== undefined) this.opts.runtime.clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const leading = this.opts.leads();
    const gained = leading && !this.wasLeading;
    this.wasLeading = leading;
    if (!leading || this.running) return;
    const now = this.opts.runtime.monotonicMs();
    if (!gained && now - this.lastRoundMs < (this.opts.everyMs ?? SET_REPORT_EVERY_MS)) return;
    this.lastRoundMs = now;
    this.running = true;
    this.round().then(
      (problem) => {
        if (problem !== undefined) this.failed(problem);
      },
      (err: unknown) => this.failed(err instanceof Error ? err.message : String(err)),
    ).finally(() => {
      this.running = false;
    });
  }

  private failed(problem: string): void {
    const admitted = this.limit.admit('round');
    if (admitted === undefined) return;
    const more = admitted.suppressed > 0 ? ` (${admitted.suppressed} earlier failures not logged)` : '';
    this.opts.log.warn(`set ${this.opts.setId}: the controller was not updated (${problem}); trying again in the next round${more}`, { setId: this.opts.setId });
  }

  /** One round; a problem to log, or undefined when the controller is up to date. */
  async round(): Promise<string | undefined> {
    const o = this.opts;
    const listed = await o.controller.read({ kind: 'listSets' });
    if (!listed.ok) return `listSets: ${describe(listed)}`;
    if (listed.kind !== 'sets') return `listSets answered ${listed.kind}`;
    const known = listed.sets.find((s) => s.id === o.setId);
    if (known && known.group !== o.group) return `the controller has set ${o.setId} as group ${known.group}, this node runs it as group ${o.group}: check --set`;
    const members = await this.members(known?.members ?? []);
    if (!known) {
      if (members === undefined) return 'not every member gave its addresses yet, so the set is not registered yet';
      const r = await o.controller.submit({ kind: 'registerSet', setId: o.setId, group: o.group, members });
      if (!r.ok) return `registerSet: ${describe(r)}`;
      o.log.info(`set ${o.setId} (group ${o.group}) registered with the controller: members ${members.map((m) => m.nodeId).join(', ')}`, { setId: o.setId });
    } else if (members !== undefined && !sameMembers(members, known.members)) {
      const r = await o.controller.submit({ kind: 'setMembers', setId: o.setId, members });
      if (!r.ok) return `setMembers: ${describe(r)}`;
      o.log.info(`set ${o.setId}: the controller now has members ${members.map((m) => m.nodeId).join(', ')}`, { setId: o.setId });
    }
    const load = o.load();
    const now = o.runtime.monotonicMs();
    const prev = this.lastCount;
    const seconds = prev ? (now - prev.atMs) / 1000 : 0;
    const requestsPerSecond = prev && seconds > 0 ? Math.max(0, Math.round((load.requestsServed - prev.requests) / seconds)) : 0;
    const r = await o.controller.submit({ kind: 'reportLoad', setId: o.setId, queues: load.queues, messages: load.messages, bytes: load.bytes, requestsPerSecond });
    if (!r.ok) return `reportLoad: ${describe(r)}`;
    this.lastCount = { requests: load.requestsServed, atMs: now };
    this.reports++;
    return undefined;
  }

  /** Every voter's addresses, in id order; a silent one keeps what the controller has, else undefined. */
  private async members(known: readonly SetMember[]): Promise<SetMember[] | undefined> {
    const o = this.opts;
    const ids = [...o.voters()].sort();
    const answers = await Promise.all(ids.map((id) => (id === o.selfId ? Promise.resolve(o.self()) : o.memberInfo(id))));
    const out: SetMember[] = [];
    for (const [i, id] of ids.entries()) {
      const a = answers[i];
      if (a !== undefined) out.push({ nodeId: id, ...a });
      else {
        const had = known.find((m) => m.nodeId === id);
        if (!had) return undefined;
        out.push(had);
      }
    }
    return out;
  }
}

function describe(r: ControllerResult): string {
  return r.ok ? r.kind : `${r.error}${r.detail !== undefined ? `: ${r.detail}` : ''}`;
}

function sameMembers(a: readonly SetMember[], b: readonly SetMember[]): boolean {
  const key = (ms: readonly SetMember[]): string =>
    JSON.stringify([...ms].sort((x, y) => (x.nodeId < y.nodeId ? -1 : 1)).map((m) => [m.nodeId, m.peerAddress, m.apiAddress, m.sqsAddress ?? '']));
  return key(a) === key(b);
}

/** Serves this member's addresses to its set's leader. */
export function serveMemberInfo(rpc: RpcRouter, self: () => MemberAddresses): void {
  rpc.serve(RPC_SERVICE.memberInfo, () => Promise.resolve(Buffer.from(JSON.stringify(self()))));
}

/** Asks `nodeId` (a member of the group `network` is the view of) for its addresses. */
export async function askMemberInfo(network: PeerNetwork, nodeId: string): Promise<MemberAddresses | undefined> {
  try {
    const answer = await network.request(nodeId, Buffer.from([RPC_SERVICE.memberInfo]), { timeoutMs: MEMBER_INFO_TIMEOUT_MS });
    const v = JSON.parse(Buffer.from(answer).toString('utf8')) as Record<string, unknown>;
    if (typeof v['peerAddress'] !== 'string' || typeof v['apiAddress'] !== 'string') return undefined;
    return { peerAddress: v['peerAddress'], apiAddress: v['apiAddress'], ...(typeof v['sqsAddress'] === 'string' ? { sqsAddress: v['sqsAddress'] } : {}) };
  } catch {
    return undefined;
  }
}
