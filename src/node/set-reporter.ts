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
//
// Adoption: once registered, the leader tells the controller which queues and topics its state
// machine holds (adoptEntities, in pages of CONTROLLER_LIMITS.adoptMax), so those without a route
// get one to this set: a set that ran before there was a controller, or data created while the
// controller was down, becomes routable. It does so once per leadership term, and again whenever
// the set's count of queues or topics differs from the count of its last complete walk; names
// already known to be routed here (this term) are not sent again. The walk pages by offset
// through a list that may change meanwhile, so a name can be missed while queues come and go:
// the count then differs and the next round walks again. A name the controller routes to
// another set is a conflict: its route stays, and the leader warns (the name exists on two sets).
// While conflicts remain it walks again every CONFLICT_RECHECK_MS, so once the operator deletes
// one copy the other gets (or keeps) the route, and the warning repeats about once a minute.

import type { AdoptConflict, ControllerCommand, ControllerQuery, ControllerResult, EntityRef } from '../controller/commands';
import { CONTROLLER_LIMITS, ENTITY_NAME_RE, ENTITY_TYPES, entityKey, type EntityType, type SetMember } from '../controller/model';
import type { ErrorResult } from '../protocol/errors';
import { LogRateLimit, type Logger } from '../protocol/log';
import type { Runtime, TimerHandle } from '../runtime/timers';
import type { QueueService } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import type { PeerNetwork } from '../transport';
import { RPC_SERVICE, type RpcRouter } from './rpc';

/** How often a leading member reports, by default. */
export const SET_REPORT_EVERY_MS = 5_000;
/** How often it checks whether it gained leadership (so a new leader reports within this). */
const LEADERSHIP_CHECK_MS = 500;
/** A member that takes longer than this to give its addresses is left out of this round. */
const MEMBER_INFO_TIMEOUT_MS = 2_000;
const FAILURE_LOGS_PER_MINUTE = 3;
/** A conflict warning names this many entities, then says how many more. */
const CONFLICTS_NAMED_MAX = 20;
/** While some names conflict, the walk (and its warning) repeats this often. */
export const CONFLICT_RECHECK_MS = 60_000;

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

/** The queues and topics the set's state machine holds, for adoption. */
export interface HeldEntities {
  /** How many it holds now (read every round, so cheap). */
  counts(): HeldCounts;
  /** Names of `type` from `offset` (at most `limit`), in a stable order, with the total. */
  page(type: EntityType, offset: number, limit: number): Promise<{ ok: true; totalCount: number; names: string[] } | ErrorResult>;
}

export interface HeldCounts {
  queues: number;
  topics: number;
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
  /** Absent: nothing is adopted. */
  held?: HeldEntities;
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
  /** The counts at the last complete adoption walk this term; undefined: walk in the next round. */
  private adoptedCounts: HeldCounts | undefined;
  private lastWalkMs = -Infinity;
  /** Bumped by forgetAdoption: a walk that began before does not record what it learned. */
  private adoptionEpoch = 0;
  /** entityKeys the controller routes to this set, as learned this term (not sent again). */
  private routedHere = new Set<string>();
  /** Names the controller routes to another set, as the last complete walk found them. */
  conflicts: AdoptConflict[] = [];
  /** Queues and topics that got a route to this set through this reporter (for tests and status). */
  adopted = 0;

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
    // Leading anew starts a fresh walk: while another member led, anything may have changed.
    if (leading !== this.wasLeading) this.forgetAdoption();
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
    return this.adopt();
  }

  /** Forgets what adoption learned, so the next round walks every name again. */
  forgetAdoption(): void {
    this.adoptionEpoch++;
    this.adoptedCounts = undefined;
    this.routedHere = new Set();
    this.conflicts = [];
  }

  /** Sends the controller the names it may not route here yet, when a walk is due. */
  private async adopt(): Promise<string | undefined> {
    const held = this.opts.held;
    if (held === undefined) return undefined;
    const counts = held.counts();
    const last = this.adoptedCounts;
    const now = this.opts.runtime.monotonicMs();
    const recheck = this.conflicts.length > 0 && now - this.lastWalkMs >= CONFLICT_RECHECK_MS;
    if (last !== undefined && last.queues === counts.queues && last.topics === counts.topics && !recheck) return undefined;
    this.lastWalkMs = now;
    const epoch = this.adoptionEpoch;
    const o = this.opts;
    const limit = CONTROLLER_LIMITS.adoptMax;
    const known = new Set<string>();
    const conflicts: AdoptConflict[] = [];
    const unfit: string[] = [];
    let adopted = 0;
    let batch: EntityRef[] = [];
    const flush = async (): Promise<string | undefined> => {
      if (batch.length === 0) return undefined;
      const sent = batch;
      batch = [];
      const r = await o.controller.submit({ kind: 'adoptEntities', setId: o.setId, entities: sent });
      if (!r.ok) return `adoptEntities: ${describe(r)}`;
      if (r.kind !== 'adopted') return `adoptEntities answered ${r.kind}`;
      adopted += r.adopted;
      conflicts.push(...r.conflicts);
      const conflicting = new Set(r.conflicts.map((c) => entityKey(c.type, c.name)));
      for (const e of sent) {
        const key = entityKey(e.type, e.name);
        if (!conflicting.has(key)) known.add(key);
      }
      return undefined;
    };
    let problem: string | undefined;
    walk: for (const type of ENTITY_TYPES) {
      for (let offset = 0; ; offset += limit) {
        const page = await held.page(type, offset, limit);
        if (!page.ok) {
          problem = `listing this set's ${type}s: ${describe(page)}`;
          break walk;
        }
        for (const name of page.names) {
          const key = entityKey(type, name);
          if (this.routedHere.has(key)) known.add(key);
          else if (!ENTITY_NAME_RE.test(name)) unfit.push(`${type} ${JSON.stringify(name)}`);
          else {
            batch.push({ type, name });
            if (batch.length === limit && (problem = await flush()) !== undefined) break walk;
          }
        }
        if (page.names.length === 0 || offset + limit >= page.totalCount) break;
      }
    }
    problem ??= await flush();
    this.adopted += adopted;
    if (adopted > 0) o.log.info(`set ${o.setId}: the controller now routes ${adopted} more queues and topics this set holds to it`, { setId: o.setId, adopted });
    if (epoch !== this.adoptionEpoch) return problem; // leadership changed meanwhile: the next term walks afresh
    if (problem !== undefined) {
      // Keep what this walk learned, so the retry sends less; the counts stay due.
      for (const key of known) this.routedHere.add(key);
      return problem;
    }
    this.routedHere = known;
    this.adoptedCounts = counts;
    this.conflicts = conflicts;
    if (conflicts.length > 0) this.warnConflicts(conflicts);
    if (unfit.length > 0) this.warn('unfit', `set ${o.setId}: ${unfit.length} names this set holds are not valid queue or topic names and get no route: ${unfit.slice(0, CONFLICTS_NAMED_MAX).join(', ')}`);
    return undefined;
  }

  private warnConflicts(conflicts: readonly AdoptConflict[]): void {
    const o = this.opts;
    const named = conflicts
      .slice(0, CONFLICTS_NAMED_MAX)
      .map((c) => `${c.type} ${c.name} (${c.setId === o.setId ? 'routed here under a name that differs in case' : `routed to set ${c.setId}`})`);
    const more = conflicts.length > named.length ? ` and ${conflicts.length - named.length} more` : '';
    this.warn(
      'conflict',
      `set ${o.setId}: ${conflicts.length} queues or topics on this set have a name the controller routes elsewhere, so requests never reach this set's copy: ${named.join(', ')}${more}. ` +
        'Each such name exists on two sets (names match regardless of case): keep one copy and delete the other, after moving its messages to a queue of another name if they matter. ' +
        "Once the routed copy is deleted, this set's copy gets the route within about a minute",
    );
  }

  private warn(reason: string, line: string): void {
    const admitted = this.limit.admit(reason);
    if (admitted === undefined) return;
    const more = admitted.suppressed > 0 ? ` (${admitted.suppressed} earlier warnings like this not logged)` : '';
    this.opts.log.warn(`${line}${more}`, { setId: this.opts.setId });
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

/**
 * What `service` (this node's own state machine, answering as of a read barrier) holds, paged
 * through its list calls in name order; `counts` reads the state machine's counters.
 */
export function heldEntitiesOf(service: Pick<QueueService, 'listQueues' | 'listTopics'>, counts: () => HeldCounts, context: () => RequestContext): HeldEntities {
  return {
    counts,
    async page(type, offset, limit) {
      if (type === 'queue') {
        const r = await service.listQueues(context(), undefined, offset, limit);
        return r.ok ? { ok: true, totalCount: r.totalCount, names: r.queueList.map((q) => q.queueName) } : r;
      }
      const r = await service.listTopics(context(), undefined, offset, limit);
      return r.ok ? { ok: true, totalCount: r.totalCount, names: r.topicList.map((t) => t.topicName) } : r;
    },
  };
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
