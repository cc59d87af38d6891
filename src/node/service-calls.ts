// A follower runs a client request itself (parse, authenticate, validate, answer in the client's
// protocol) and sends the leader only the service calls it makes, over the peer RPC with the
// log's binary command codec (call-codec.ts). The leader runs them on its own service,
// never passing them on, so a call cannot bounce between nodes. The protocol stays on the node the
// client talks to: the leader needs no HTTP parsing for a follower's requests, and any protocol
// with a service underneath (CMQ today) is forwarded the same way.

import { olderReplicasCanApply } from '../broker/compat';
import { commandForVoters, votersOnOlderRelease } from './version-gate';
import { fail, type ErrorResult } from '../protocol/errors';
import type { Logger } from '../protocol/log';
import type { Runtime } from '../runtime/timers';
import { CallFormatError, decodeAnswer, decodeCall, dispatchCall, encodeAnswer, encodeCall, type LeaderService, type ServiceCall } from './call-codec';
import type { ClusterStatusView, DeadLetterSourceScope, MembershipChange, QueueService, ReceiveOptions, ReceiveOutcome, ServiceResult } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import { WIRE_VERSION, type PeerNetwork } from '../transport';
import type { Command, CommandResult, MoveTaskView, QueueAttributes, QueueList, SubscriptionAttributes, SubscriptionList, TopicAttributes, TopicList } from '../broker/commands';
import type { PeerRequests } from './peer-requests';
import { RPC_SERVICE, type RpcRouter } from './rpc';

/**
 * Serve other members' calls. A plain call runs on `local`, this node's own service, and is never
 * passed on. A relayed call comes from a member that cannot reach the leader itself: it runs here
 * if this node leads, else goes on to the leader through `routed` (once; never relayed again).
 * A call from a node outside the set (another set's, on the open set group) is always taken as
 * relayed: its caller cannot know which member leads, and must reach the leader anyway.
 */
export function serveServiceCalls(rpc: RpcRouter, local: LeaderService, routed: RoutedQueueService | undefined, selfId: string, rt: Runtime, log: Logger): void {
  let unnamed = 0;
  rpc.serve(RPC_SERVICE.call, async (from, payload, member) => {
    let decoded: ReturnType<typeof decodeCall>;
    try {
      decoded = decodeCall(payload);
    } catch (e) {
      // Nothing ran. A bug or a version this node does not know; never a client's doing.
      const why = e instanceof CallFormatError ? e.message : String(e);
      log.error(`a service call from ${from} could not be decoded: ${why}`, { peer: from });
      return encodeAnswer(fail('internalError', undefined, `${selfId} could not decode the call: ${why}`));
    }
    const ctx = decoded.ctx ?? { requestId: `${selfId}-call-${++unnamed}`, clientAddress: '', receivedAtMs: rt.nowMs() };
    try {
      if ((decoded.relay || !member) && routed) return encodeAnswer(await routed.relayed(from, ctx, decoded.call));
      return encodeAnswer(await dispatchCall(local, ctx, decoded.call));
    } catch (e) {
      // Services answer expected failures as results: whatever is thrown is a bug.
      log.error(`internal error in request ${ctx.requestId} (a service call from ${from}): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`, {
        requestId: ctx.requestId,
      });
      return encodeAnswer(fail('internalError'));
    }
  });
}

/** Whether `version` (a link's wire version) means the node behind it serves service calls. */
export function servesServiceCalls(version: number | undefined): boolean {
  return version === undefined || version >= WIRE_VERSION.serviceCalls;
}

/** What the routed service needs to know about its group. */
export interface GroupView {
  readonly selfId: string;
  readonly network: PeerNetwork;
  leaderId(): string | undefined;
  /** The group's voters (this node included), where a relay may go. */
  voters(): readonly string[];
}

/** How often calls went round an unreachable leader since start (for metrics). */
export interface RelayCounters {
  /** Calls this member sent through another member because it could not reach the leader. */
  relayedOut: number;
  /** Calls other members relayed through this one. */
  relayedIn: number;
  /** Calls answered 6100 at once: neither the leader nor any other member could be reached. */
  refusedUnreachable: number;
}

/**
 * A QueueService whose every call (but node status) is a ServiceCall handed to `route`: the one
 * place the service's methods map to calls, shared by the service of this node's own set
 * (RoutedQueueService) and that of another set (remote-sets.ts).
 */
export abstract class CallingQueueService implements QueueService {
  /** Run `call` where it belongs and give its answer (an ErrorResult when it could not run there). */
  protected abstract route<T extends object>(ctx: RequestContext, call: ServiceCall): Promise<T | ErrorResult>;

  abstract clusterStatus(ctx: RequestContext): Promise<ServiceResult<{ status: ClusterStatusView }>>;

  submit(ctx: RequestContext, command: Command): Promise<CommandResult> {
    return this.route(ctx, { method: 'submit', command });
  }

  receive(ctx: RequestContext, queueName: string, numOfMsg: number, waitSeconds: number | undefined, options?: ReceiveOptions): Promise<ReceiveOutcome> {
    const call: ServiceCall = options === undefined ? { method: 'receive', queueName, numOfMsg, waitSeconds } : { method: 'receive', queueName, numOfMsg, waitSeconds, options };
    return this.route(ctx, call);
  }

  listQueues(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<QueueList>> {
    return this.route(ctx, { method: 'listQueues', searchWord, offset, limit });
  }

  getQueueAttributes(ctx: RequestContext, queueName: string): Promise<ServiceResult<{ attributes: QueueAttributes }>> {
    return this.route(ctx, { method: 'getQueueAttributes', queueName });
  }

  listDeadLetterSourceQueues(
    ctx: RequestContext,
    deadLetterQueueName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
    scope?: DeadLetterSourceScope,
  ): Promise<ServiceResult<QueueList>> {
    return this.route(ctx, { method: 'listDeadLetterSourceQueues', deadLetterQueueName, searchWord, offset, limit, ...(scope?.remoteOnly === true ? { remoteOnly: true } : {}) });
  }

  listMoveTasks(ctx: RequestContext, sourceQueue: string): Promise<ServiceResult<{ tasks: MoveTaskView[] }>> {
    return this.route(ctx, { method: 'listMoveTasks', sourceQueue });
  }

  listTopics(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<TopicList>> {
    return this.route(ctx, { method: 'listTopics', searchWord, offset, limit });
  }

  getTopicAttributes(ctx: RequestContext, topicName: string): Promise<ServiceResult<{ attributes: TopicAttributes }>> {
    return this.route(ctx, { method: 'getTopicAttributes', topicName });
  }

  listSubscriptions(ctx: RequestContext, topicName: string, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<SubscriptionList>> {
    return this.route(ctx, { method: 'listSubscriptions', topicName, searchWord, offset, limit });
  }

  getSubscriptionAttributes(ctx: RequestContext, topicName: string, subscriptionName: string): Promise<ServiceResult<{ attributes: SubscriptionAttributes }>> {
    return this.route(ctx, { method: 'getSubscriptionAttributes', topicName, subscriptionName });
  }

  transferLeader(ctx: RequestContext, nodeId: string): Promise<ServiceResult<{ from: string; to: string }>> {
    return this.route(ctx, { method: 'transferLeader', nodeId });
  }

  changeMembership(ctx: RequestContext, change: MembershipChange): Promise<ServiceResult<{ voters: string[] }>> {
    return this.route(ctx, { method: 'changeMembership', change });
  }
}

/**
 * The service a node's client protocols use: its own where it leads (or knows no leader and
 * can reach nobody, when its own answers say so), the leader's through service calls otherwise.
 * A member that cannot reach the leader (silent, a one-way cut, no connection) or knows none
 * relays the call through another member it can reach, which passes it to the leader: clients on
 * a member cut off from the leader are still served. Node status is always this node's own.
 */
export class RoutedQueueService extends CallingQueueService {
  readonly counters: RelayCounters = { relayedOut: 0, relayedIn: 0, refusedUnreachable: 0 };

  constructor(
    private readonly local: LeaderService,
    private readonly group: GroupView,
    private readonly requests: PeerRequests,
  ) {
    super();
  }

  /**
   * Run `call` where the leader is. A failure on the way is notApplied when the leader provably
   * did not run it, and for a read (which changes nothing) always; else outcomeUnknown.
   */
  protected async route<T extends object>(ctx: RequestContext, call: ServiceCall): Promise<T | ErrorResult> {
    const { selfId } = this.group;
    const here = (): Promise<T | ErrorResult> => dispatchCall(this.local, ctx, call) as Promise<T | ErrorResult>;
    const read = isRead(call);
    const leader = this.group.leaderId();
    if (leader === selfId) return here();
    const gone = leader === undefined ? 'no leader is known here' : await this.requests.recheck(leader, true);
    if (gone === undefined) return this.callPeer(leader!, ctx, call, read, false);
    // Cut off from the leader, or none known: through a member that answers, if any (all asked
    // at once, so this waits one echo at most).
    const others = this.group.voters().filter((id) => id !== selfId && id !== leader);
    const reasons = await Promise.all(others.map((id) => this.requests.recheck(id, false)));
    const candidates = others.filter((_, i) => reasons[i] === undefined);
    const answers = await Promise.all(candidates.map((id) => this.requests.confirm(id)));
    const via = candidates.find((_, i) => answers[i]);
    if (via !== undefined) {
      this.counters.relayedOut++;
      return this.callPeer(via, ctx, call, read, true);
    }
    if (leader === undefined) return here(); // says "no leader is known yet", retryable
    this.counters.refusedUnreachable++;
    return fail('notApplied', undefined, `leader ${leader} is unreachable from ${selfId} (${gone}) and no other member answers; retry`);
  }

  /** A call another member relayed (`from` cannot reach the leader): run here, or pass it to the leader once. */
  relayed(from: string, ctx: RequestContext, call: ServiceCall): Promise<object> {
    this.counters.relayedIn++;
    const { selfId } = this.group;
    const leader = this.group.leaderId();
    if (leader === selfId) return dispatchCall(this.local, ctx, call);
    const read = isRead(call);
    if (leader === undefined || leader === from) return Promise.resolve(fail('notApplied', undefined, `${selfId}, asked by ${from} to relay, knows no leader either; retry`));
    return this.requests.recheck(leader, true).then((gone) =>
      gone !== undefined ? fail('notApplied', undefined, `${selfId}, asked by ${from} to relay, cannot reach leader ${leader} either (${gone}); retry`) : this.callPeer(leader, ctx, call, read, false),
    );
  }

  private async callPeer<T extends object>(peer: string, ctx: RequestContext, call: ServiceCall, read: boolean, relay: boolean): Promise<T | ErrorResult> {
    const how = relay ? `relaying through ${peer}` : `forwarding to leader ${peer}`;
    const failed = (outcome: 'notApplied' | 'outcomeUnknown', why: string): ErrorResult => fail(read ? 'notApplied' : outcome, undefined, `${how} failed: ${why}`);
    if (!servesServiceCalls(this.group.network.peerWireVersion(peer))) {
      // The API's forward hook sends a whole request to such a leader; the leader changed since.
      return failed('notApplied', 'it runs an older version, which takes only whole requests; retry');
    }
    const a = await this.requests.send(peer, encodeCall(RPC_SERVICE.call, ctx, call, relay), !relay);
    if (!a.ok) return failed(a.outcome, a.why);
    try {
      return decodeAnswer<T | ErrorResult>(a.answer);
    } catch (e) {
      return failed('outcomeUnknown', `its answer could not be decoded: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  override submit(ctx: RequestContext, command: Command): Promise<CommandResult> {
    // A leader of the previous release could not decode every command (node/version-gate.ts);
    // the commands it knows (every CMQ one without a dedupId) skip the look at the voters.
    const c = olderReplicasCanApply(command) ? command : commandForVoters(command, this.olderVoters());
    if (!('kind' in c)) return Promise.resolve(c);
    return super.submit(ctx, c);
  }

  private olderVoters(): string[] {
    return votersOnOlderRelease(this.group.network, this.group.voters(), this.group.selfId);
  }

  override receive(ctx: RequestContext, queueName: string, numOfMsg: number, waitSeconds: number | undefined, options?: ReceiveOptions): Promise<ReceiveOutcome> {
    // A receive's own visibility is this release's: a leader of the previous one would ignore it.
    // It would ignore an attempt id too, which is harmless: a retry is then a fresh receive, as before.
    if (options?.visibilitySeconds !== undefined) {
      const older = this.olderVoters();
      if (older.length > 0) return Promise.resolve(fail('notApplied', undefined, `(${older.join(', ')} still run the previous release: retry once every member is upgraded)`));
    }
    return super.receive(ctx, queueName, numOfMsg, waitSeconds, options);
  }

  clusterStatus(ctx: RequestContext): Promise<ServiceResult<{ status: ClusterStatusView }>> {
    return this.local.clusterStatus(ctx);
  }
}

/** Calls that change nothing: a failure on the way is always "not applied". */
export function isRead(call: ServiceCall): boolean {
  return call.method !== 'submit' && call.method !== 'receive' && call.method !== 'transferLeader' && call.method !== 'changeMembership';
}
