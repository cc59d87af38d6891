// opencmq's own admin data on the wire, shared by the server (api/) and the SDK (client/).

/** One node's view of its replicated set (the `OpencmqClusterStatus` extension action). */
export interface ClusterNodeStatus {
  nodeId: string;
  role: 'follower' | 'preCandidate' | 'candidate' | 'leader';
  term: number;
  /** '' when no leader is known. */
  leader: string;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  voters: string[];
  /** Only on the leader: each other voter's replication progress and lag in entries. */
  peers: { nodeId: string; matchIndex: number; nextIndex: number; state: string; lag: number }[];
  /** This node's set and its queue group, when it runs with a controller. */
  set?: { id: number; group: number };
  /** The cluster controller as this node sees it, when it runs with one. */
  controller?: ControllerStatus;
  /** Every set the controller knows, read from its leader; absent when that read failed (see controller.problem). */
  sets?: SetStatus[];
  /** The route changes under way, read from the controller's leader; absent when that read failed (see controller.changesProblem). */
  changes?: RouteChangesStatus;
}

export interface ControllerStatus {
  /** The controller's voters, by id, with their peer addresses ("host:port"). */
  voters: { nodeId: string; peerAddress: string }[];
  /** The leader as this node last learnt it ('' when unknown). */
  leader: string;
  /** This node's own replica of the controller, when it is a voter. */
  member?: { role: ClusterNodeStatus['role']; term: number; leader: string; commitIndex: number; appliedIndex: number; lastIndex: number };
  /** Why the sets could not be read from the controller (absent when they were). */
  problem?: string;
  /** Why the route changes could not be read (absent when they were): no answer, or a controller of a release without the listing. */
  changesProblem?: string;
}

/** The route changes under way: at most LIMITS.statusRouteChangesMax listed, oldest first; `total` counts them all. */
export interface RouteChangesStatus {
  total: number;
  listed: RouteChangeStatus[];
}

/**
 * One queue's (or topic's) route change. `shards`: its shards now. A move: shard `shard` goes from
 * set `from` to set `to`, in phase copying (the target fills while the source serves) or cutover
 * (the source hands over the rest). A growth: to `toShards` shards; `pending` are the new shards,
 * each on its set, confirmed once created there. `startedAtMs`: the controller's entry time (Unix ms).
 */
export type RouteChangeStatus = { entityType: 'queue' | 'topic'; name: string; shards: number; startedAtMs: number } & (
  | { change: 'move'; shard: number; from: number; to: number; phase: 'copying' | 'cutover' }
  | { change: 'grow'; toShards: number; pending: { shard: number; set: number; confirmed: boolean }[] }
);

export interface SetStatus {
  id: number;
  group: number;
  state: 'active' | 'draining';
  members: { nodeId: string; peerAddress: string; apiAddress: string; sqsAddress?: string }[];
  /** Queue and topic shards placed on the set, as the controller counts them. */
  entities: number;
  /** The last load report of the set's leader; null before the first. `atMs`: the controller's entry time (Unix ms). */
  load: { queues: number; messages: number; bytes: number; requestsPerSecond: number; atMs: number } | null;
}
