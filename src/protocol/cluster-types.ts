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
}
