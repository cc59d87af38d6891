// How a member of a replicated set is wired to serve clients: within its set (requests run here,
// their service calls where the leader is) and, with a controller, across sets (every queue or
// topic call goes to the set the controller routes it to). The server (server.ts) and the
// deterministic simulator (test/sim/multiset-sim.ts) both call these, so the simulator runs the
// code the server ships: everything here takes its clock and timers from the Runtime it is given.

import type { ControllerQuery } from '../controller/commands';
import { CONTROLLER_GROUP } from '../protocol/groups';
import type { Logger } from '../protocol/log';
import type { Runtime } from '../runtime/timers';
import type { QueueService } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import type { GroupId, PeerAddress, PeerNetwork } from '../transport';
import { ClusterQueueService } from './cluster-service';
import { ControllerClient } from './controller-client';
import type { ControllerNode } from './controller-node';
import { controllerStatus, withControllerStatus } from './controller-status';
import { queueDeliveryThrough } from './outbox';
import { QueueMover } from './queue-move';
import { PeerRequests } from './peer-requests';
import type { QueueNode } from './queue-node';
import { peerRequestTiming, type RaftTiming } from './raft-timing';
import { listSetsOf, RemoteSets, type SetDirectory } from './remote-sets';
import type { RpcRouter } from './rpc';
import { RoutedQueueService, serveServiceCalls } from './service-calls';
import { askMemberInfo, heldEntitiesOf, serveMemberInfo, SetReporter, type MemberAddresses } from './set-reporter';

/** How long a status answer waits for the controller's list of sets. */
const STATUS_CONTROLLER_WAIT_MS = 2_000;

export interface SetServiceOptions {
  /** This member's replica of its set's group, and that group's RpcRouter. */
  node: QueueNode;
  rpc: RpcRouter;
  selfId: string;
  runtime: Runtime;
  timing: RaftTiming;
  log: Logger;
}

export interface SetService {
  /** One view of which peers answer, shared by every way this node sends requests to them. */
  requests: PeerRequests;
  /** This set's service as a client of this member sees it: the leader's, through service calls when it leads elsewhere. */
  routed: RoutedQueueService;
}

/** A member's service within its set; other members' service calls run on this node's own service (a relayed one goes on to the leader). */
export function wireSetService(o: SetServiceOptions): SetService {
  const { node, rpc } = o;
  const requests = new PeerRequests(rpc.network, o.runtime, peerRequestTiming(o.timing));
  const routed = new RoutedQueueService(node, { selfId: o.selfId, network: rpc.network, leaderId: () => node.leaderId(), voters: () => node.voters() }, requests);
  serveServiceCalls(rpc, node, routed, o.selfId, o.runtime, o.log.child('api'));
  return { requests, routed };
}

export interface ClusterAccessOptions {
  node: QueueNode;
  rpc: RpcRouter;
  /** This set's service for this member's clients (wireSetService's `routed`). */
  own: QueueService;
  /** The transport's per-group views: the controller group's and other sets' groups. */
  views: { group(id: GroupId): PeerNetwork };
  /** This member's replica of the controller group, on a controller voter. */
  localController?: ControllerNode;
  selfId: string;
  setId: number;
  setGroup: number;
  /** The controller group's voters and their peer addresses. */
  controllerVoters: Readonly<Record<string, PeerAddress>>;
  runtime: Runtime;
  timing: RaftTiming;
  log: Logger;
  /** What this member tells its set's leader about itself (filled in once its listeners are up). */
  addresses: () => MemberAddresses;
  /** Client requests served by this member so far (the set's leader reports the rate). */
  requestsServed: () => number;
}

export interface ClusterAccess {
  /** The client-facing service: routed to the owning set, and answering status with the controller's view. */
  service: QueueService;
  /** The routing layer itself (without the status wrapper). */
  access: ClusterQueueService;
  /** Other sets' services (calls go to their leaders). */
  sets: SetDirectory;
  /** Registers this set and reports its load while this member leads it: start once addresses are known, stop at close. */
  reporter: SetReporter;
  /** While this member leads its set, drains the queues moving away from the set: start and stop with the reporter. */
  mover: QueueMover;
}

/**
 * The access layer across sets, as a node with a controller runs it: a controller client, other
 * sets reached over the transport's group views, the set reporter, the routing service, and the
 * topic outboxes into queues on other sets delivered through that routing while this node leads.
 */
export function wireClusterAccess(o: ClusterAccessOptions): ClusterAccess {
  const { node, rpc, runtime, selfId } = o;
  const view = o.views.group(CONTROLLER_GROUP);
  const voters = Object.keys(o.controllerVoters).sort();
  const local = o.localController;
  const controllerClient = (giveUpMs?: number): ControllerClient =>
    new ControllerClient({
      selfId,
      voters,
      requests: new PeerRequests(view, runtime, peerRequestTiming(o.timing)),
      ...(local ? { local } : {}),
      runtime,
      ...(giveUpMs !== undefined ? { giveUpMs } : {}),
    });
  const client = controllerClient();
  serveMemberInfo(rpc, o.addresses);
  const sets = new RemoteSets({
    transport: o.views,
    selfId,
    hostedGroups: [o.setGroup, CONTROLLER_GROUP],
    listSets: listSetsOf(client),
    runtime,
    timing: peerRequestTiming(o.timing),
  });
  const members = rpc.network;
  const context = (requestId: string): RequestContext => ({ requestId, clientAddress: '', receivedAtMs: runtime.nowMs() });
  const reporter = new SetReporter({
    setId: o.setId,
    group: o.setGroup,
    selfId,
    leads: () => node.leaderId() === selfId,
    voters: () => node.voters(),
    self: o.addresses,
    memberInfo: (id) => askMemberInfo(members, id),
    load: () => {
      const s = node.observe();
      const m = s.broker.messages;
      return { queues: s.broker.queues, messages: m.visible + m.inFlight + m.delayed, bytes: s.compaction.liveBytes, requestsServed: o.requestsServed() };
    },
    // What this set holds, so the controller routes it here (a set from before the controller).
    held: heldEntitiesOf(
      node,
      () => {
        const s = node.observe();
        return { queues: s.broker.queues, topics: s.topics.topics };
      },
      () => context(`${selfId}-adopt`),
    ),
    controller: client,
    runtime,
    log: o.log.child('controller'),
  });
  // A status answer waits for the controller a short while only.
  const statusClient = controllerClient(STATUS_CONTROLLER_WAIT_MS);
  const statusSource = {
    setId: o.setId,
    group: o.setGroup,
    voters: o.controllerVoters,
    ...(local ? { member: () => local.status() } : {}),
    lastLeader: () => statusClient.lastLeader() ?? client.lastLeader(),
    read: (q: ControllerQuery) => statusClient.read(q),
  };
  // Any node serves any queue or topic: each call goes to the set the controller routes it to
  // (this set's through `own`, which reaches its leader). Calls other nodes send this set
  // (serveServiceCalls) run on it directly and are never routed again, so none bounces.
  const access = new ClusterQueueService({ ownSetId: o.setId, own: o.own, sets, controller: client, log: o.log.child('access'), nowMs: () => runtime.nowMs() });
  // While this node leads its set, it drains the queues moving away from the set.
  let moveCalls = 0;
  const mover = new QueueMover({
    setId: o.setId,
    leads: () => node.leaderId() === selfId,
    controller: client,
    own: o.own,
    serviceOf: (id) => (id === o.setId ? o.own : sets.service(id)),
    forgetRoute: (name) => access.forgetRoute(name),
    runtime,
    log: o.log.child('move'),
    ctx: () => context(`${selfId}-move-${++moveCalls}`),
  });
  // While this node leads its set, it sends topic messages into queues on other sets through
  // the same routing (a subscription's outbox, node/outbox.ts).
  let outboxSends = 0;
  node.deliverToRemoteQueues(queueDeliveryThrough((command) => access.submit(context(`${selfId}-outbox-${++outboxSends}`), command)));
  return { service: withControllerStatus(access, () => controllerStatus(statusSource)), access, sets, reporter, mover };
}
