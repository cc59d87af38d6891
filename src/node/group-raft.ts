// A group replica's Raft driver, made from what recovery brought back (whatever state machine the
// group runs): its voters, timing (a lone voter elects itself at once), snapshot transfer with
// peers; and the group's Raft state as a status view reports it.

import type { Logger } from '../protocol/log';
import type { RaftStatus } from '../raft';
import { nodeRuntime } from '../runtime/node-runtime';
import type { ClusterStatusView } from '../service/queue-service';
import type { LogEntry } from '../storage/types';
import type { SegmentedWal } from '../storage/wal';
import type { GroupReplicaOptions } from './group-options';
import { walOptions, type RecoveredGroup } from './group-recovery';
import { RaftDriver, type RaftDriverOptions } from './raft-driver';
import { DEFAULT_RAFT_TIMING } from './raft-timing';
import type { ReplicaMachine } from './replica-machine';
import { SnapshotReceiver, SnapshotSender } from './snapshot-transfer';

const SOLE_VOTER_ELECTION_TICKS = 2;

/** What the driver calls back into the replica for (bound late: the replica is made after the driver). */
export interface GroupRaftHooks {
  onFatal(err: Error): void;
  /** The saved snapshot at exactly `index`, for shipping to a follower. */
  loadSnapshot(index: number): Promise<Uint8Array | undefined>;
  /** The log the replica serves from now. */
  wal(): SegmentedWal;
  install: NonNullable<RaftDriverOptions['snapshotTransfer']>['install'];
}

export interface GroupRaft<R> {
  commitLog: RaftDriver<R>;
  /** Stages snapshots the leader sends (absent for a one-voter group). */
  receiver: SnapshotReceiver | undefined;
  /** This node is the group's only voter. */
  soleVoter: boolean;
}

export function openGroupRaft<R, M extends ReplicaMachine<R>>(opts: GroupReplicaOptions<R>, nodeId: string, recovered: RecoveredGroup<M>, log: Logger, hooks: GroupRaftHooks): GroupRaft<R> {
  const { latest, restored, sm, diskStall, wal, hardState, configEntries, lastTimeMs } = recovered;
  const voters = opts.voters ?? [nodeId];
  const soleVoter = voters.length === 1 && voters[0] === nodeId;
  const timing = opts.timing ?? DEFAULT_RAFT_TIMING;
  if (opts.ticks && opts.ticks.tickMs !== timing.tickMs) throw new Error(`the host ticks every ${opts.ticks.tickMs} ms, the timing wants ${timing.tickMs}`);
  const runtime = opts.runtime ?? nodeRuntime;
  const raftOpts: RaftDriverOptions = {
    id: nodeId,
    voters,
    wal,
    hardState,
    appliedIndex: sm.lastAppliedIndex,
    lastTimeMs,
    configEntries,
    runtime,
    tickMs: timing.tickMs,
    ...(opts.ticks ? { ticks: opts.ticks } : {}),
    // A lone voter has nobody to disturb: it may elect itself after the shortest timeout.
    electionTicks: soleVoter ? SOLE_VOTER_ELECTION_TICKS : timing.electionTicks,
    heartbeatTicks: soleVoter ? 1 : timing.heartbeatTicks,
    log,
    onFatal: (err) => hooks.onFatal(err),
    diskStall,
    ...(opts.recentBytesMax !== undefined ? { recentBytesMax: opts.recentBytesMax } : {}),
  };
  if (latest && restored) raftOpts.snapshotMeta = { index: latest.index, term: latest.term, voters: restored.voters };
  if (opts.network) raftOpts.network = opts.network;
  if (opts.staticPeers) raftOpts.staticPeers = opts.staticPeers;
  if (restored) raftOpts.learnedAddresses = restored.addresses;
  let receiver: SnapshotReceiver | undefined;
  if (opts.rpc) {
    receiver = new SnapshotReceiver(opts.dataDir, walOptions(opts, log, diskStall), runtime, log, (index, term) => intactEntry(hooks.wal(), index, term));
    receiver.serve(opts.rpc);
    const sender = new SnapshotSender(opts.rpc, nodeId, { loadSnapshot: (index) => hooks.loadSnapshot(index), wal: () => hooks.wal() }, log, runtime);
    raftOpts.snapshotTransfer = { sender, receiver, install: (meta) => hooks.install(meta) };
  }
  return { commitLog: new RaftDriver<R>(raftOpts), receiver, soleVoter };
}

/** What the end of a replica's close acts on. */
export interface ClosingReplica {
  /** Calls still waiting for their entries. */
  inflight(): number;
  sleep(ms: number): Promise<void>;
  leadership: { handOff(): Promise<void> };
  snapshots: { beforeClose(): Promise<void> };
  receiver: { close(): Promise<void> } | undefined;
  commitLog: { close(): Promise<void> };
}

/**
 * The end of every replica's close, once it takes no new calls: the calls in flight answered,
 * leadership handed to a follower, a last snapshot, snapshot transfers and the log closed.
 */
export async function closeReplica(r: ClosingReplica): Promise<void> {
  while (r.inflight() > 0) await r.sleep(5);
  await r.leadership.handOff();
  await r.snapshots.beforeClose();
  await r.receiver?.close();
  await r.commitLog.close();
}

/** Entry `index` of `term` from `wal` when it holds it with an intact body, else undefined (never throws). */
export async function intactEntry(wal: SegmentedWal, index: number, term: number): Promise<LogEntry | undefined> {
  // termAt finds the entry in any segment still on disk, those kept below the log's first index
  // for their live bodies included (the entries a snapshot transfer ships); only durable ones count.
  if (index > wal.lastDurableIndex() || wal.termAt(index) !== term || wal.isKnownDamaged(index)) return undefined;
  try {
    const [entry] = await wal.readEntries(index, index); // checksums verified: a damaged body throws
    return entry?.term === term ? entry : undefined;
  } catch {
    return undefined;
  }
}

/** This member's view of its group, as a status report shows it. */
export function groupStatusView(st: RaftStatus): ClusterStatusView {
  const peers = Object.entries(st.progress).map(([nodeId, p]) => ({
    nodeId,
    matchIndex: p.matchIndex,
    nextIndex: p.nextIndex,
    state: p.state,
    lag: st.lastIndex - p.matchIndex,
  }));
  return {
    nodeId: st.id,
    role: st.role,
    term: st.term,
    leader: st.leader ?? '',
    commitIndex: st.commitIndex,
    appliedIndex: st.appliedIndex,
    lastIndex: st.lastIndex,
    voters: st.voters,
    peers,
  };
}
