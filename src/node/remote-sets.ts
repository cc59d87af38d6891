// Calls to another set. A node reaches set S's members over the transport's view of S's Raft
// group, whose peers it takes from the controller's list of sets (this node is not a member: the
// members serve it because set groups are open to service calls from any node of the cluster).
// Every call goes to one member with `relay` set: the member runs it if it leads, else passes it
// to its leader once (service-calls.ts). The caller need not know which member leads.
//
// Members are tried in turn, the one that last answered first. A member that cannot be reached,
// or answers "not applied" (it knows no leader, or cannot reach it), hands the call to the next;
// a member that may have run the call ends the attempt (outcomeUnknown for a write), so a write
// is never run twice by this layer.

import type { ControllerQuery, ControllerResult, SetView } from '../controller/commands';
import { fail, type ErrorResult } from '../protocol/errors';
import type { Runtime } from '../runtime/timers';
import type { ClusterStatusView, MembershipChange, QueueService, ServiceResult } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import type { GroupId, PeerAddress, PeerNetwork } from '../transport';
import { decodeAnswer, encodeCall, type ServiceCall } from './call-codec';
import { PeerRequests, type PeerRequestTiming } from './peer-requests';
import { parseAddress } from './raft-driver';
import { RPC_SERVICE } from './rpc';
import { CallingQueueService, isRead, servesServiceCalls } from './service-calls';

/** The services of sets, by set id. */
export interface SetDirectory {
  /** The QueueService of set `setId`: calls go to that set's leader. For this node's own set, the caller uses its own service instead. */
  service(setId: number): QueueService;
  /** Forget what is known of set `setId` (its members may have changed); next call re-reads the controller. */
  invalidate(setId: number): void;
}

/**
 * How long a call to a set waits for a first connection to any of its members (a set this node
 * has not called before, or whose links all dropped): a dial and a handshake, on a loaded machine.
 */
export const REMOTE_CONNECT_WAIT_MS = 3_000;
/** How often that wait looks. */
const CONNECT_POLL_MS = 20;

export interface RemoteSetsOptions {
  /** Views of the transport's groups; a view's setPeers makes the transport link to them. */
  readonly transport: { group(id: GroupId): PeerNetwork };
  readonly selfId: string;
  /** Groups this node hosts: their peers are their replicas' business, never set here. */
  readonly hostedGroups: readonly GroupId[];
  /** The controller's sets (its listSets read). */
  listSets(): Promise<SetView[] | ErrorResult>;
  readonly runtime: Runtime;
  /** Failure detection on the links to other sets' members (echo after / echo timeout). */
  readonly timing: PeerRequestTiming;
  /** Default REMOTE_CONNECT_WAIT_MS. */
  readonly connectWaitMs?: number;
}

/** What this node knows of one set, as the controller last listed it. */
interface KnownSet {
  readonly id: number;
  readonly group: GroupId;
  /** Other members, in the controller's order, with where to reach them. */
  readonly members: readonly { id: string; address: PeerAddress }[];
  /** Members the controller listed with an address this node cannot use. */
  readonly unusable: readonly string[];
}

export class RemoteSets implements SetDirectory {
  private readonly known = new Map<number, KnownSet>();
  private readonly services = new Map<number, QueueService>();
  /** Per group: which members answer (shared by every call to that set). */
  private readonly requests = new Map<GroupId, PeerRequests>();
  /** Per group: the peers last given to its view, so unchanged ones are not set again. */
  private readonly peersSet = new Map<GroupId, string>();
  /** Per set: the member that last answered, tried first. */
  private readonly preferred = new Map<number, string>();
  private reading: Promise<SetView[] | ErrorResult> | undefined;
  private readonly hosted: ReadonlySet<GroupId>;

  constructor(private readonly opts: RemoteSetsOptions) {
    this.hosted = new Set(opts.hostedGroups);
  }

  service(setId: number): QueueService {
    let s = this.services.get(setId);
    if (!s) {
      s = new RemoteSetService(setId, (ctx, call) => this.call(setId, ctx, call));
      this.services.set(setId, s);
    }
    return s;
  }

  invalidate(setId: number): void {
    this.known.delete(setId);
  }

  /**
   * Run `call` on set `setId`'s leader. notApplied when no member could take it (nothing ran);
   * for a write that may have reached a member and got no answer, outcomeUnknown.
   */
  async call<T extends object>(setId: number, ctx: RequestContext, call: ServiceCall): Promise<T | ErrorResult> {
    const cached = this.known.has(setId);
    const target = await this.lookup(setId);
    if ('ok' in target) return target;
    const first = await this.callSet<T>(target, ctx, call);
    if (!('unreached' in first)) return first.answer;
    // Every member failed before running it: the set's members may have changed since this node
    // listed them. One fresh look; a second try only when the controller names other members.
    if (cached) {
      this.known.delete(setId);
      const fresh = await this.lookup(setId);
      if ('ok' in fresh) return fresh;
      if (membersKey(fresh) !== membersKey(target)) {
        const second = await this.callSet<T>(fresh, ctx, call);
        if (!('unreached' in second)) return second.answer;
        return unreached(fresh, second.unreached);
      }
    }
    return unreached(target, first.unreached);
  }

  /** The set as known, else as the controller lists it now (one read shared by concurrent callers). */
  private async lookup(setId: number): Promise<KnownSet | ErrorResult> {
    const known = this.known.get(setId);
    if (known) return known;
    this.reading ??= this.opts
      .listSets()
      .catch((e: unknown) => fail('internalError', undefined, e instanceof Error ? e.message : String(e)))
      .finally(() => {
        this.reading = undefined;
      });
    const sets = await this.reading;
    // Nothing was sent to the set yet: whatever the controller answered, the call did not run.
    if (!Array.isArray(sets)) {
      return fail('notApplied', undefined, `the members of set ${setId} could not be read from the controller (${sets.error}${sets.detail !== undefined ? `: ${sets.detail}` : ''}); retry`);
    }
    for (const s of sets) this.known.set(s.id, this.learn(s));
    return this.known.get(setId) ?? fail('setNotExist', String(setId), `the controller has no set ${setId}`);
  }

  private learn(s: SetView): KnownSet {
    const members: { id: string; address: PeerAddress }[] = [];
    const unusable: string[] = [];
    for (const m of s.members) {
      if (m.nodeId === this.opts.selfId) continue;
      const address = parseAddress(m.peerAddress);
      if (address) members.push({ id: m.nodeId, address });
      else unusable.push(m.nodeId);
    }
    return { id: s.id, group: s.group, members, unusable };
  }

  /** The set's group view, its peers set to the set's members (unless this node hosts the group). */
  private reach(set: KnownSet): { view: PeerNetwork; requests: PeerRequests } {
    const view = this.opts.transport.group(set.group);
    if (!this.hosted.has(set.group)) {
      const key = membersKey(set);
      if (this.peersSet.get(set.group) !== key) {
        view.setPeers(Object.fromEntries(set.members.map((m) => [m.id, m.address])));
        this.peersSet.set(set.group, key);
      }
    }
    let requests = this.requests.get(set.group);
    if (!requests) {
      requests = new PeerRequests(view, this.opts.runtime, this.opts.timing);
      this.requests.set(set.group, requests);
    }
    return { view, requests };
  }

  /** Waits (bounded) until some member of the set is connected: a first call dials them all. */
  private async anyConnected(view: PeerNetwork, set: KnownSet): Promise<void> {
    const rt = this.opts.runtime;
    const until = rt.monotonicMs() + (this.opts.connectWaitMs ?? REMOTE_CONNECT_WAIT_MS);
    while (!set.members.some((m) => view.peerSilenceMs(m.id) !== undefined) && rt.monotonicMs() < until) await rt.sleep(CONNECT_POLL_MS);
  }

  private async callSet<T extends object>(set: KnownSet, ctx: RequestContext, call: ServiceCall): Promise<{ answer: T | ErrorResult } | { unreached: string[] }> {
    const reasons = set.unusable.map((id) => `${id}'s peer address is not host:port`);
    if (set.members.length === 0) return { unreached: [...reasons, 'no other member is known'] };
    const { view, requests } = this.reach(set);
    await this.anyConnected(view, set);
    const read = isRead(call);
    const request = encodeCall(RPC_SERVICE.call, ctx, call, true);
    const last = this.preferred.get(set.id);
    const order = [...set.members].sort((a, b) => Number(b.id === last) - Number(a.id === last));
    for (const { id } of order) {
      if (!servesServiceCalls(view.peerWireVersion(id))) {
        reasons.push(`${id} runs an older version without service calls`);
        continue;
      }
      const gone = requests.unreachable(id, false);
      // A member whose echo failed a while ago gets one more (it may be back); never a call first.
      if (gone !== undefined && (view.peerSilenceMs(id) === undefined || !(await requests.confirm(id)))) {
        reasons.push(gone);
        continue;
      }
      const a = await requests.send(id, request, false);
      if (!a.ok) {
        if (a.outcome === 'outcomeUnknown' && !read) return { answer: fail('outcomeUnknown', undefined, `set ${set.id}: the call to ${id} failed after it was sent: ${a.why}`) };
        reasons.push(`${id}: ${a.why}`);
        continue;
      }
      let answer: T | ErrorResult;
      try {
        answer = decodeAnswer<T | ErrorResult>(a.answer);
      } catch (e) {
        const why = `${id}'s answer could not be decoded: ${e instanceof Error ? e.message : String(e)}`;
        if (!read) return { answer: fail('outcomeUnknown', undefined, `set ${set.id}: ${why}`) };
        reasons.push(why);
        continue;
      }
      if ('ok' in answer && answer.ok === false && answer.error === 'notApplied') {
        reasons.push(`${id}: ${answer.detail ?? 'not applied'}`);
        continue;
      }
      this.preferred.set(set.id, id);
      return { answer };
    }
    return { unreached: reasons };
  }
}

function unreached(set: KnownSet, reasons: readonly string[]): ErrorResult {
  return fail('notApplied', undefined, `no member of set ${set.id} could take the call (${reasons.join('; ')}); retry`);
}

function membersKey(set: KnownSet): string {
  return JSON.stringify(set.members.map((m) => [m.id, m.address.host, m.address.port]));
}

/** Set `setId`'s QueueService as another set's node sees it: every call goes to its leader. */
class RemoteSetService extends CallingQueueService {
  constructor(
    private readonly setId: number,
    private readonly send: (ctx: RequestContext, call: ServiceCall) => Promise<object>,
  ) {
    super();
  }

  protected route<T extends object>(ctx: RequestContext, call: ServiceCall): Promise<T | ErrorResult> {
    return this.send(ctx, call) as Promise<T | ErrorResult>;
  }

  // A set's own administration (its status, leader, membership) is served by its own members, to
  // an operator who names the node: never on another set's behalf.
  clusterStatus(): Promise<ServiceResult<{ status: ClusterStatusView }>> {
    return Promise.resolve(this.notHere('cluster status'));
  }

  override transferLeader(): Promise<ServiceResult<{ from: string; to: string }>> {
    return Promise.resolve(this.notHere('leader transfer'));
  }

  override changeMembership(_ctx: RequestContext, _change: MembershipChange): Promise<ServiceResult<{ voters: string[] }>> {
    return Promise.resolve(this.notHere('membership change'));
  }

  private notHere(what: string): ErrorResult {
    return fail('invalidParams', undefined, `a ${what} of set ${this.setId} is served only by the set's own members: send it to one of them`);
  }
}

/** The controller's listSets read as RemoteSets takes it (from a ControllerClient). */
export function listSetsOf(controller: { read(q: ControllerQuery): Promise<ControllerResult> }): () => Promise<SetView[] | ErrorResult> {
  return async () => {
    const r = await controller.read({ kind: 'listSets' });
    if (!r.ok) return r;
    return r.kind === 'sets' ? r.sets : fail('internalError', undefined, `the controller answered listSets with ${r.kind}`);
  };
}
