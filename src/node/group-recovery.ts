// Bringing one group's replica back from its data directory: finish a snapshot install a crash cut
// short, restore the latest snapshot, open the log (refusing a damaged one with what to do), open
// the hard state, and apply what the commit hint says is committed. What the replica then runs on.

import path from 'node:path';

import type { Logger } from '../protocol/log';
import { nodeFs } from '../runtime/node-fs';
import { nodeRuntime } from '../runtime/node-runtime';
import { DiskStall } from '../storage/disk-stall';
import { HardStateStore } from '../storage/hard-state';
import { SnapshotStore, type LoadedSnapshot } from '../storage/snapshot-store';
import { WalCorruptionError, type LogEntry } from '../storage/types';
import { SegmentedWal, type WalOptions } from '../storage/wal';
import { decodeNodeSnapshot } from './node-snapshot';
import type { GroupReplicaOptions } from './group-options';
import type { MachineKind, ReplicaMachine } from './replica-machine';
import { finishInstall } from './snapshot-transfer';

export interface RecoveredGroup<M> {
  snapshots: SnapshotStore;
  latest: LoadedSnapshot | undefined;
  restored: ReturnType<typeof decodeNodeSnapshot> | undefined;
  sm: M;
  /** One record of stalled disk writes for the WAL, a staged WAL and the hard state alike. */
  diskStall: DiskStall;
  wal: SegmentedWal;
  hardState: HardStateStore;
  /** Config entries in the log after the snapshot, in order: they rebuild the membership. */
  configEntries: LogEntry[];
  /** The latest entry time seen (the leader's next proposals never go back before it). */
  lastTimeMs: number;
  /** Committed entries applied from the log. */
  replayed: number;
}

/** `kind` makes the group's state machine (fresh, or from the snapshot's state machine part). */
export async function recoverGroup<R, M extends ReplicaMachine<R>>(
  opts: GroupReplicaOptions<R>,
  nodeId: string,
  log: Logger,
  kind: MachineKind<M>,
): Promise<RecoveredGroup<M>> {
  const fs = opts.fs ?? nodeFs;
  await fs.mkdir(opts.dataDir, { recursive: true });
  const snapshots = await SnapshotStore.open(path.join(opts.dataDir, 'snapshots'), { log, fs });
  const diskStall = new DiskStall(log, { nodeId, runtime: opts.runtime ?? nodeRuntime, ...(opts.diskStallRetryMs !== undefined ? { retryMs: opts.diskStallRetryMs } : {}) });
  // A snapshot install from the leader that a crash interrupted is completed before anything is
  // read. It writes the snapshot: on a full disk start-up waits for space (finishing is idempotent)
  // rather than exiting into a restart loop.
  await diskStall.run(() => finishInstall(opts.dataDir, snapshots, log, fs), () => false);
  const latest = await snapshots.loadLatest();
  const restored = latest ? decodeNodeSnapshot(latest.data) : undefined;
  const sm = restored ? kind.restore(restored.stateMachine) : kind.create();
  const wal = await openWal(opts, log, diskStall);
  const hardState = await HardStateStore.open(path.join(opts.dataDir, 'raft'), fs);
  if (wal.lastIndex() < sm.lastAppliedIndex) {
    throw new Error(`log ends at ${wal.lastIndex()} but the snapshot is at ${sm.lastAppliedIndex}: data directory is inconsistent`);
  }
  // Apply what is known to be committed (the commit hint saved with the hard state); Raft
  // delivers the rest once this node learns its commit index again.
  const knownCommitted = hardState.current.commitIndex;
  let lastTimeMs = sm.lastTimeMs;
  let replayed = 0;
  const configEntries: LogEntry[] = [];
  for await (const e of wal.entriesFrom(sm.lastAppliedIndex + 1)) {
    if (e.kind === 'config') configEntries.push(e);
    if (e.index <= knownCommitted && e.kind === 'command') {
      const result = sm.apply(e.index, e.timeMs, e.payload, e.metaLen);
      opts.onApplied?.(e, result);
      replayed++;
    }
    lastTimeMs = Math.max(lastTimeMs, e.timeMs);
  }
  log.child('server').info(`recovered: snapshot at ${latest ? latest.index : 0}, replayed ${replayed} committed entries, log ends at ${wal.lastIndex()}`);
  return { snapshots, latest, restored, sm, diskStall, wal, hardState, configEntries, lastTimeMs, replayed };
}

/** How this replica's logs are written (its own and one staged by a snapshot transfer). */
export function walOptions<R>(opts: GroupReplicaOptions<R>, log: Logger, stall: DiskStall): WalOptions {
  const walOpts: WalOptions = { fsync: opts.fsync ?? true, log, stall, ...(opts.walObserver ? { observer: opts.walObserver } : {}) };
  if (opts.fs) walOpts.fs = opts.fs;
  if (opts.runtime) walOpts.runtime = opts.runtime;
  if (opts.segmentBytes !== undefined) walOpts.segmentBytes = opts.segmentBytes;
  if (opts.beforeDatasync || opts.walHooks) walOpts.hooks = { ...opts.walHooks, ...(opts.beforeDatasync ? { beforeDatasync: opts.beforeDatasync } : {}) };
  return walOpts;
}

/** Opens the replica's log; a damaged one is refused with what to do about it. */
export async function openWal<R>(opts: GroupReplicaOptions<R>, log: Logger, stall: DiskStall): Promise<SegmentedWal> {
  const { wal, report } = await SegmentedWal.open(path.join(opts.dataDir, 'wal'), walOptions(opts, log, stall)).catch((err: unknown) => {
    if (!(err instanceof WalCorruptionError)) throw err;
    throw new Error(
      `CORRUPTION: the write-ahead log in ${opts.dataDir} is damaged (${err.message}). ` +
        'Refusing to start rather than lose acknowledged messages. See what is damaged with ' +
        `"opencmq wal verify ${opts.dataDir}"; then copy what is readable with "opencmq wal salvage", ` +
        'or, for a member of a replicated set, remove it, wipe it and let it rejoin.',
    );
  });
  if (report.tornTailBytes > 0) log.child('wal').warn(`dropped a torn tail of ${report.tornTailBytes} bytes (never acknowledged)`);
  for (const d of report.damagedBodies) {
    log.child('wal').error(`CORRUPTION: entry ${d.index} in ${d.segment} at offset ${d.fileOffset} has a damaged body part; its messages will be quarantined when read`);
  }
  return wal;
}
