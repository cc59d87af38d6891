// A follower runs a client request itself (parse, authenticate, validate, answer in the client's
// protocol) and sends the leader only the service calls it makes, over the peer RPC with the
// log's binary command codec (call-codec.ts). The leader runs them on its own service,
// never passing them on, so a call cannot bounce between nodes. The protocol stays on the node the
// client talks to: the leader needs no HTTP parsing for a follower's requests, and any protocol
// with a service underneath (CMQ today) is forwarded the same way.

import { fail, type ErrorResult } from '../protocol/errors';
import type { Logger } from '../protocol/log';
import type { Runtime } from '../runtime/timers';
import { CallFormatError, decodeAnswer, decodeCall, dispatchCall, encodeAnswer, encodeCall, type LeaderService, type ServiceCall } from './call-codec';
import type { ClusterStatusView, MembershipChange, QueueService, ReceiveOutcome, ServiceResult } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import { WIRE_VERSION, type PeerNetwork } from '../transport';
import type { Command, CommandResult, QueueAttributes, QueueList, SubscriptionAttributes, SubscriptionList, TopicAttributes, TopicList } from '../broker/commands';
import { LeaderRequests } from './leader-requests';
import { RPC_SERVICE, type RpcRouter } from './rpc';

/** Serve followers' calls on `local`, this node's own service. */
export function serveServiceCalls(rpc: RpcRouter, local: LeaderService, selfId: string, rt: Runtime, log: Logger): void {
  let unnamed = 0;
  rpc.serve(RPC_SERVICE.call, async (from, payload) => {
    let decoded: ReturnType<typeof decodeCall>;
    try {
      decoded = decodeCall(payload);
    } catch (e) {
      // Nothing ran. A bug or a version this node does not know; never a client's doing.
      const why = e instanceof CallFormatError ? e.message : String(e);
      log.error(`a service call from ${from} could not be decoded: ${why}`, { peer: from });
      return encodeAnswer(fail('internalError', undefined, `leader ${selfId} could not decode the call: ${why}`));
    }
    const ctx = decoded.ctx ?? { requestId: `${selfId}-call-${++unnamed}`, clientAddress: '', receivedAtMs: rt.nowMs() };
    try {
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

/**
 * The service a node's client protocols use: its own where it leads (or knows no leader, when
 * its own answers say so), the leader's through service calls otherwise. Node status is always
 * this node's own.
 */
export class RoutedQueueService implements QueueService {
  private readonly requests: LeaderRequests;

  constructor(
    private readonly local: QueueService,
    private readonly selfId: string,
    private readonly network: PeerNetwork,
    private readonly leaderId: () => string | undefined,
    rt: Runtime,
  ) {
    this.requests = new LeaderRequests(network, leaderId, rt);
  }

  /**
   * Run `call` where the leader is. A failure on the way is notApplied when the leader provably
   * did not run it, and for a read (which changes nothing) always; else outcomeUnknown.
   */
  private async route<T extends object>(ctx: RequestContext, call: ServiceCall, here: () => Promise<T | ErrorResult>, read: boolean): Promise<T | ErrorResult> {
    const leader = this.leaderId();
    if (leader === undefined || leader === this.selfId) return here();
    const failed = (outcome: 'notApplied' | 'outcomeUnknown', why: string): ErrorResult =>
      fail(read ? 'notApplied' : outcome, undefined, `forwarding to leader ${leader} failed: ${why}`);
    if (!servesServiceCalls(this.network.peerWireVersion(leader))) {
      // The API's forward hook sends a whole request to such a leader; the leader changed since.
      return failed('notApplied', 'it runs an older version, which takes only whole requests; retry');
    }
    const a = await this.requests.send(leader, encodeCall(RPC_SERVICE.call, ctx, call));
    if (!a.ok) return failed(a.outcome, a.why);
    try {
      return decodeAnswer<T | ErrorResult>(a.answer);
    } catch (e) {
      return failed('outcomeUnknown', `its answer could not be decoded: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  submit(ctx: RequestContext, command: Command): Promise<CommandResult> {
    return this.route(ctx, { method: 'submit', command }, () => this.local.submit(ctx, command), false);
  }

  receive(ctx: RequestContext, queueName: string, numOfMsg: number, waitSeconds: number | undefined): Promise<ReceiveOutcome> {
    return this.route(ctx, { method: 'receive', queueName, numOfMsg, waitSeconds }, () => this.local.receive(ctx, queueName, numOfMsg, waitSeconds), false);
  }

  listQueues(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<QueueList>> {
    return this.route(ctx, { method: 'listQueues', searchWord, offset, limit }, () => this.local.listQueues(ctx, searchWord, offset, limit), true);
  }

  getQueueAttributes(ctx: RequestContext, queueName: string): Promise<ServiceResult<{ attributes: QueueAttributes }>> {
    return this.route(ctx, { method: 'getQueueAttributes', queueName }, () => this.local.getQueueAttributes(ctx, queueName), true);
  }

  listDeadLetterSourceQueues(
    ctx: RequestContext,
    deadLetterQueueName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
  ): Promise<ServiceResult<QueueList>> {
    return this.route(
      ctx,
      { method: 'listDeadLetterSourceQueues', deadLetterQueueName, searchWord, offset, limit },
      () => this.local.listDeadLetterSourceQueues(ctx, deadLetterQueueName, searchWord, offset, limit),
      true,
    );
  }

  listTopics(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<TopicList>> {
    return this.route(ctx, { method: 'listTopics', searchWord, offset, limit }, () => this.local.listTopics(ctx, searchWord, offset, limit), true);
  }

  getTopicAttributes(ctx: RequestContext, topicName: string): Promise<ServiceResult<{ attributes: TopicAttributes }>> {
    return this.route(ctx, { method: 'getTopicAttributes', topicName }, () => this.local.getTopicAttributes(ctx, topicName), true);
  }

  listSubscriptions(ctx: RequestContext, topicName: string, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<SubscriptionList>> {
    return this.route(
      ctx,
      { method: 'listSubscriptions', topicName, searchWord, offset, limit },
      () => this.local.listSubscriptions(ctx, topicName, searchWord, offset, limit),
      true,
    );
  }

  getSubscriptionAttributes(ctx: RequestContext, topicName: string, subscriptionName: string): Promise<ServiceResult<{ attributes: SubscriptionAttributes }>> {
    return this.route(
      ctx,
      { method: 'getSubscriptionAttributes', topicName, subscriptionName },
      () => this.local.getSubscriptionAttributes(ctx, topicName, subscriptionName),
      true,
    );
  }

  clusterStatus(ctx: RequestContext): Promise<ServiceResult<{ status: ClusterStatusView }>> {
    return this.local.clusterStatus(ctx);
  }

  transferLeader(ctx: RequestContext, nodeId: string): Promise<ServiceResult<{ from: string; to: string }>> {
    return this.route(ctx, { method: 'transferLeader', nodeId }, () => this.local.transferLeader(ctx, nodeId), false);
  }

  changeMembership(ctx: RequestContext, change: MembershipChange): Promise<ServiceResult<{ voters: string[] }>> {
    return this.route(ctx, { method: 'changeMembership', change }, () => this.local.changeMembership(ctx, change), false);
  }
}
