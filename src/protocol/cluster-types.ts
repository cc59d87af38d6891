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
}

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
