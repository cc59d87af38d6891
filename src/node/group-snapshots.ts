// One group's snapshots and the log space they reclaim: when to take one (counted in applied
// entries), taking it (durable log first, then the snapshot saved, then the log compacted, then
// the segments nobody needs released), serving the saved one to a follower, and installing one the
// leader sent (which replaces the replica's state machine and log).

import type { Logger } from '../protocol/log';
import type { FileSystem } from '../runtime/fs';
import type { Runtime } from '../runtime/timers';
import type { SnapshotStore } from '../storage/snapshot-store';
import type { SegmentedWal } from '../storage/wal';
import { LiveSegments } from './live-segments';
import { decodeNodeSnapshot, nodeSnapshotPieces } from './node-snapshot';
import type { RaftDriver } from './raft-driver';
import type { MachineKind, ReplicaMachine } from './replica-machine';
import { beginInstall, finishInstall } from './snapshot-transfer';

/** A snapshot that failed (a full disk) is tried again after this long, not after another full interval. */
const SNAPSHOT_RETRY_MS = 10_000;

/** What the replica serves from. Installing a snapshot replaces both; everyone reads them here. */
export interface ServingState<M> {
  sm: M;
  wal: SegmentedWal;
}

export interface GroupSnapshotsOptions<R = unknown, M extends ReplicaMachine<R> = ReplicaMachine<R>> {
  dataDir: string;
  fs: FileSystem | undefined;
  runtime: Runtime;
  /** The node's logger (staging messages); failures go to its `snapshot` component. */
  logger: Logger;
  commitLog: RaftDriver<R>;
  store: SnapshotStore;
  state: ServingState<M>;
  /** Makes the state machine an installed snapshot holds. */
  kind: MachineKind<M>;
  /** Take a snapshot after this many applied entries. */
  everyEntries: number;
  /** Opens the group's log in its data directory again (after an install swapped in the staged one). */
  reopenWal(): Promise<SegmentedWal>;
  /** Run once an installed snapshot is being served from, as after an apply. */
  afterInstall(): void;
  /** True once the node is shutting down: no snapshot is started from the apply path then. */
  closing(): boolean;
  /** True once the node stopped for good: no snapshot at shutdown then. */
  stopped(): boolean;
}

export class GroupSnapshots<R, M extends ReplicaMachine<R>> {
  snapshotsTaken = 0;
  segmentsReleased = 0;
  /** Snapshots installed from the leader (this node had fallen behind its compacted log). */
  snapshotsInstalled = 0;
  private entriesSinceSnapshot = 0;
  /** Compaction asked for a snapshot (its segment release frees segments without a live body). */
  private requested = false;
  private running: Promise<void> | undefined;
  /** No snapshot is started before this time (set after one failed). */
  private retryAtMs = -Infinity;
  private readonly log: Logger;

  constructor(private readonly o: GroupSnapshotsOptions<R, M>) {
    this.log = o.logger.child('snapshot');
  }

  /** `n` more entries were applied (counted towards the next snapshot). */
  countApplied(n: number): void {
    this.entriesSinceSnapshot += n;
  }

  /** A snapshot soon, whatever the count: taken at once if possible, else after the next apply. */
  request(): void {
    this.requested = true;
    this.snapshotIfDue();
  }

  /** Starts a snapshot when one is due (called after every apply). */
  snapshotIfDue(): void {
    // Asked for with nothing applied since the last one: that one already released what it could.
    if (this.requested && this.entriesSinceSnapshot === 0) this.requested = false;
    const due = this.entriesSinceSnapshot >= this.o.everyEntries || this.requested;
    if (due && !this.running && !this.o.closing() && this.o.runtime.nowMs() >= this.retryAtMs) {
      // Next turn: the log learns that these entries are applied only after this listener returns.
      this.o.runtime.setImmediate(() => void this.snapshotNow());
    }
  }

  /** The saved node snapshot at exactly `index`, for shipping to a follower. */
  async load(index: number): Promise<Uint8Array | undefined> {
    if (this.running) await this.running;
    const latest = await this.o.store.loadLatest();
    return latest && latest.index === index ? latest.data : undefined;
  }

  /**
   * The core accepted a snapshot from the leader: swap in the staged log, save the snapshot and
   * restore the state machine from it (the Ready loop waits for this).
   */
  async install(meta: { index: number; term: number }): Promise<{ wal: SegmentedWal; lastTimeMs: number; learnedAddresses: Record<string, string> }> {
    const { dataDir, fs, store, state } = this.o;
    if (this.running) await this.running;
    await beginInstall(dataDir, meta, fs);
    await state.wal.close();
    const installed = await finishInstall(dataDir, store, this.o.logger, fs);
    if (!installed || installed.index !== meta.index || installed.term !== meta.term) {
      throw new Error(`snapshot ${meta.index} (term ${meta.term}) was to be installed but the staging holds ${installed ? installed.index : 'nothing'}`);
    }
    const latest = await store.loadLatest();
    if (!latest || latest.index !== meta.index) throw new Error(`installed snapshot ${meta.index} does not load back`);
    const snap = decodeNodeSnapshot(latest.data);
    state.sm = this.o.kind.restore(snap.stateMachine);
    state.wal = await this.o.reopenWal();
    this.entriesSinceSnapshot = 0;
    this.snapshotsInstalled++;
    this.o.afterInstall();
    return { wal: state.wal, lastTimeMs: state.sm.lastTimeMs, learnedAddresses: snap.addresses };
  }

  /** Snapshot the state machine, then delete log segments nobody needs any more. */
  snapshotNow(): Promise<void> {
    if (this.running) return this.running;
    const { commitLog, store, state } = this.o;
    const index = state.sm.lastAppliedIndex;
    if (index === 0) return Promise.resolve();
    // A member applies what a majority committed, possibly before its own copy is appended here:
    // the snapshot waits until then (the next apply tries again).
    if (state.wal.lastIndex() < index) return Promise.resolve();
    // The core accepted a snapshot from the leader that is not installed yet: this state machine is
    // about to be replaced and the core no longer holds its entries (nothing to snapshot). A
    // compaction census asks for snapshots on its own timer, so it can land in that window.
    if (index < commitLog.status().snapshotIndex) return Promise.resolve();
    const meta = commitLog.snapshotMetaAt(index);
    this.requested = false;
    // Taken now in O(queues + chunks); its bytes are emitted a piece per write below while the
    // state machine goes on applying, so a large backlog never holds the event loop (a leader that
    // does misses its heartbeats). The live entries are learnt as the pieces go.
    const live = new LiveSegments(state.wal.closedSpans());
    const capture = state.sm.beginSnapshot((entryIndex) => live.add(entryIndex));
    const pieces = nodeSnapshotPieces({ voters: meta.voters, addresses: commitLog.learnedAddresses() }, capture);
    const covered = this.entriesSinceSnapshot;
    this.entriesSinceSnapshot = 0;
    this.running = (async () => {
      try {
        // Never a snapshot ahead of the durable log: after a power loss the log must still reach
        // the snapshot's index, or the next start-up finds the data directory inconsistent.
        await state.wal.untilDurable(index);
        await store.save({ index, term: meta.term }, pieces);
        if (!capture.done()) throw new Error(`snapshot at ${index} was saved before all of it was emitted`);
        commitLog.compact(meta);
        this.snapshotsTaken++;
        const released = await state.wal.releaseSegments((first, last) => live.keeps(first, last), index + 1);
        this.segmentsReleased += released;
      } catch (err) {
        // Not fatal (the log still holds everything): skipped, and tried again after a pause
        // (a full disk) at the next apply, covering the entries it did not.
        this.entriesSinceSnapshot += covered;
        this.retryAtMs = this.o.runtime.nowMs() + SNAPSHOT_RETRY_MS;
        this.log.error(`snapshot at ${index} failed (skipped; retried in ${SNAPSHOT_RETRY_MS / 1000} s or later): ${String(err)}`);
      } finally {
        capture.release();
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** At shutdown: let a snapshot under way finish, then take one so the next start-up replays nothing. */
  async beforeClose(): Promise<void> {
    if (this.running) await this.running;
    if (!this.o.stopped() && this.entriesSinceSnapshot > 0) await this.snapshotNow();
  }
}

