// Every size, count and time limit of the peer transport in one place. Going over a size or count
// limit gives a typed error (or, for one-way raft frames, a counted drop), never unbounded growth.
// Tests and operators may override any of them through `PeerTransportOptions.limits`.

const KiB = 1024;
const MiB = 1024 * KiB;

export interface TransportLimits {
  /** Largest payload of one frame after the handshake; a bigger inbound frame closes the link. */
  readonly frameBytesMax: number;
  /** Largest handshake frame: anything bigger before authentication is a stranger. */
  readonly handshakeFrameBytesMax: number;
  /** Raft bytes queued for one peer (our queue plus the socket's unsent bytes); beyond: drop. */
  readonly sendQueueBytesMax: number;
  /** Frames queued for one peer; beyond: drop (raft) or PeerOverloadedError (rpc). */
  readonly sendQueueFramesMax: number;
  /** Bytes per socket write; a turn's frames beyond it go out in more writes (one frame at least). */
  readonly writeBatchBytesMax: number;
  /** Requests this node has in flight to one peer; beyond: PeerOverloadedError at once. */
  readonly rpcInflightPerPeerMax: number;
  /** Requests from one peer being handled here at once; beyond: answered "busy". */
  readonly rpcServingPerPeerMax: number;
  /** Default time a request waits for its answer (long polls pass a longer one). */
  readonly rpcTimeoutMsDefault: number;
  /** Inbound connections still in their handshake; more are refused at once. */
  readonly pendingHandshakesMax: number;
  /**
   * Links to nodes in none of this node's groups that called an open group, at once; beyond,
   * further such nodes are refused at the handshake (configured peers never are).
   */
  readonly inboundPeersMax: number;
  /** A connection (dialled or accepted) must finish its handshake within this time. */
  readonly handshakeTimeoutMs: number;
  /** Reconnect backoff: first delay, doubled per failed attempt up to the cap, with jitter. */
  readonly reconnectBackoffMsMin: number;
  readonly reconnectBackoffMsMax: number;
  /** A link that sent nothing for this long sends a ping. */
  readonly pingIntervalMs: number;
  /** A link that received nothing (not even a ping) for this long is closed as dead. */
  readonly idleTimeoutMs: number;
  /** close() waits this long for queued frames to drain before destroying sockets. */
  readonly closeFlushTimeoutMs: number;
  /** Log lines about rejected strangers, at most this many per minute (the rest are counted). */
  readonly rejectLogsPerMinute: number;
  /** Node ids are 1..this many UTF-8 bytes. */
  readonly nodeIdBytesMax: number;
  /** The cluster secret must have at least this many bytes. */
  readonly clusterSecretBytesMin: number;
}

export const TRANSPORT_LIMITS: TransportLimits = {
  frameBytesMax: 64 * MiB,
  handshakeFrameBytesMax: 512,
  sendQueueBytesMax: 64 * MiB,
  sendQueueFramesMax: 100_000,
  writeBatchBytesMax: 4 * MiB,
  rpcInflightPerPeerMax: 4096,
  rpcServingPerPeerMax: 4096,
  rpcTimeoutMsDefault: 10_000,
  pendingHandshakesMax: 64,
  inboundPeersMax: 1024,
  handshakeTimeoutMs: 3000,
  reconnectBackoffMsMin: 50,
  reconnectBackoffMsMax: 2000,
  pingIntervalMs: 1000,
  idleTimeoutMs: 5000,
  closeFlushTimeoutMs: 1000,
  rejectLogsPerMinute: 30,
  nodeIdBytesMax: 64,
  clusterSecretBytesMin: 16,
};
