// What every group replica is opened with, whatever state machine it runs (queues and topics in a
// set, the cluster's metadata in the controller): where its data lives, how its log is written,
// its Raft group, peers and timing. Each replica kind adds its own options to these.

import type { GroupNumber } from '../broker/ids';
import type { LogSink } from '../protocol/log';
import type { FileSystem } from '../runtime/fs';
import type { Runtime } from '../runtime/timers';
import type { LogEntry } from '../storage/types';
import type { WalHooks, WalObserver } from '../storage/wal';
import type { PeerAddress, PeerNetwork } from '../transport';
import type { RaftTiming } from './raft-timing';
import type { RpcRouter } from './rpc';
import type { TickSource } from './tick-scheduler';

/** `R`: what the group's state machine answers an applied command with. */
export interface GroupReplicaOptions<R> {
  dataDir: string;
  /** fdatasync before acknowledging (default true). */
  fsync?: boolean;
  /** Clock, timers and randomness (default: the real ones; the simulator passes virtual ones). */
  runtime?: Runtime;
  log?: LogSink;
  /** Take a snapshot after this many applied entries (default: the replica kind's; 100,000 for a queue group). */
  snapshotEveryEntries?: number;
  segmentBytes?: number;
  /** Bytes of recent log entries kept in memory for replication and bodies (default 64 MiB; the simulator keeps few, so bodies come from disk). */
  recentBytesMax?: number;
  /** Called when the node can no longer guarantee durability (failed fsync, broken invariant). */
  onFatal?: (err: Error) => void;
  /** Fault injection for tests: runs before every fdatasync; throwing stands in for a failed one. */
  beforeDatasync?: (segment: string) => void;
  /** Fault injection for tests: hooks on the WAL's writes and segment allocations. */
  walHooks?: Omit<WalHooks, 'beforeDatasync'>;
  /** How often a write stalled by a full disk is retried (default 500 ms; tests shorten it). */
  diskStallRetryMs?: number;
  /** The Raft group this replica belongs to, named by every id it issues (default 0, every node's only group today). */
  group?: GroupNumber;
  /** This node's id in its Raft group (default "n1": the embedded single-node server). */
  nodeId?: string;
  /** The initial voters (default: this node alone). */
  voters?: string[];
  /** This set's view of the peer connections (its Raft group's); absent for a one-voter group. */
  network?: PeerNetwork;
  /** Request routing over `network` (needed for snapshot transfer to and from peers). */
  rpc?: RpcRouter;
  /** The peer addresses given on the command line. */
  staticPeers?: Readonly<Record<string, PeerAddress>>;
  /** Raft's heartbeat and election timeouts (default DEFAULT_RAFT_TIMING, raft-timing.ts). */
  timing?: RaftTiming;
  /** The host's tick scheduler, shared by the groups it runs (default: the driver's own). */
  ticks?: TickSource;
  /** Told WAL flush and fdatasync durations (the metrics endpoint's histograms). */
  walObserver?: WalObserver;
  /**
   * Told every command this node applies, with its result, in log order (replays at start-up
   * included): the simulator's checkers watch the shipped apply path through it.
   */
  onApplied?: (entry: LogEntry, result: R) => void;
  /** Where the data directory lives (default: the real file system; the simulator passes its disk). */
  fs?: FileSystem;
}
