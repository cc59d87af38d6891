// One replica of the cluster controller's Raft group: the controller state machine (controller/)
// run with the same driver, log, hard state, snapshots and recovery as a queue group's replica
// (group-recovery.ts, group-raft.ts, group-snapshots.ts), applying committed entries with their
// entry time. Commands go through the log on the leader; reads are answered on the leader after
// a read barrier (ReadIndex), so neither a new nor a deposed leader answers stale. A member that
// does not lead sends both to the leader (controller-calls.ts).

import type { ControllerCommand, ControllerQuery, ControllerResult } from '../controller/commands';
import { fail } from '../protocol/errors';
import { toLogger, type Logger } from '../protocol/log';
import { nodeRuntime } from '../runtime/node-runtime';
import type { ClusterStatusView } from '../service/queue-service';
import type { LogEntry } from '../storage/types';
import { callLeader, serveControllerCalls, type ControllerCall } from './controller-calls';
import { ControllerMachine, controllerEntry } from './controller-machine';
import type { GroupReplicaOptions } from './group-options';
import { GroupLeadership, refusalResult } from './group-leadership';
import { closeReplica, groupStatusView, openGroupRaft } from './group-raft';
import { recoverGroup, openWal } from './group-recovery';
import { GroupSnapshots, type ServingState } from './group-snapshots';
import { stderrLine } from './logger';
import { PeerRequests } from './peer-requests';
import { SINGLE_NODE_ID } from './queue-node';
import type { RaftDriver } from './raft-driver';
import { DEFAULT_RAFT_TIMING, peerRequestTiming } from './raft-timing';
import { applyEntries } from './replica-machine';
import type { SnapshotReceiver } from './snapshot-transfer';

export type ControllerNodeOptions = GroupReplicaOptions<ControllerResult>;

/** The controller's metadata is small and changes seldom: a snapshot every this many entries keeps its log short. */
export const CONTROLLER_SNAPSHOT_EVERY_ENTRIES = 10_000;

/** What a Raft entry of its own (noop, config) answers: nobody waits on it. */
const RAFT_ENTRY_RESULT: ControllerResult = { ok: true, kind: 'done', routeEpoch: 0 };

export interface ControllerStats {
  lastAppliedIndex: number;
  /** The index the Raft log starts after (the last snapshot taken or installed; 0 before any). */
  snapshotIndex: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
  segmentsReleased: number;
}

export class ControllerNode {
  private readonly logger: Logger;
  private inflight = 0;
  private closing = false;
  private fatal: Error | undefined;
  /** Sends calls to the leader (absent for a one-voter group, which is always its own leader). */
  private readonly requests: PeerRequests | undefined;

  private constructor(
    private readonly state: ServingState<ControllerMachine>,
    private readonly commitLog: RaftDriver<ControllerResult>,
    private readonly snapshots: GroupSnapshots<ControllerResult, ControllerMachine>,
    private readonly leadership: GroupLeadership<ControllerResult>,
    private readonly receiver: SnapshotReceiver | undefined,
    private readonly opts: ControllerNodeOptions,
  ) {
    this.logger = toLogger(opts.log, stderrLine);
    const rt = opts.runtime ?? nodeRuntime;
    if (opts.network && opts.rpc) {
      this.requests = new PeerRequests(opts.network, rt, peerRequestTiming(opts.timing ?? DEFAULT_RAFT_TIMING));
      serveControllerCalls(opts.rpc, (call) => this.here(call), commitLog.id, this.logger.child('controller'));
    }
    commitLog.onCommit((entries) => this.applyCommitted(entries));
  }

  /** Recovers from the latest snapshot plus the committed log after it; serves at once ("no leader" until one is elected). */
  static async open(opts: ControllerNodeOptions): Promise<ControllerNode> {
    const log = toLogger(opts.log, stderrLine);
    const nodeId = opts.nodeId ?? SINGLE_NODE_ID;
    const recovered = await recoverGroup(opts, nodeId, log, ControllerMachine.kind);
    const rt = opts.runtime ?? nodeRuntime;
    // The driver's hooks and the snapshots refer to each other; both exist before anything calls them.
    const { commitLog, receiver }: { commitLog: RaftDriver<ControllerResult>; receiver: SnapshotReceiver | undefined } = openGroupRaft(opts, nodeId, recovered, log, {
      onFatal: (err) => node.onFatal(err),
      loadSnapshot: (index) => snapshots.load(index),
      wal: () => state.wal,
      install: (meta) => snapshots.install(meta),
    });
    const state: ServingState<ControllerMachine> = { sm: recovered.sm, wal: recovered.wal };
    const stopped = (): boolean => node.fatal !== undefined;
    const snapshots: GroupSnapshots<ControllerResult, ControllerMachine> = new GroupSnapshots({
      dataDir: opts.dataDir,
      fs: opts.fs,
      runtime: rt,
      logger: log,
      commitLog,
      store: recovered.snapshots,
      state,
      kind: ControllerMachine.kind,
      everyEntries: opts.snapshotEveryEntries ?? CONTROLLER_SNAPSHOT_EVERY_ENTRIES,
      reopenWal: () => openWal(opts, log, recovered.diskStall),
      afterInstall: () => undefined,
      closing: () => node.closing,
      stopped,
    });
    const leadership = new GroupLeadership<ControllerResult>(commitLog, log.child('raft'), stopped);
    const node: ControllerNode = new ControllerNode(state, commitLog, snapshots, leadership, receiver, opts);
    snapshots.countApplied(recovered.replayed);
    snapshots.snapshotIfDue();
    return node;
  }

  /** Applies `command` through the controller's log (on the leader, wherever it is called) and gives its result. */
  submit(command: ControllerCommand): Promise<ControllerResult> {
    return this.route({ op: 'submit', command });
  }

  /** Answers `query` on the leader, as of everything committed before the call (linearizable). */
  read(query: ControllerQuery): Promise<ControllerResult> {
    return this.route({ op: 'read', query });
  }

  /** This member's view of the controller group: role, term, leader, commit and applied index, voters, peers' progress. */
  status(): ClusterStatusView {
    return groupStatusView(this.commitLog.status());
  }

  /** The current leader's id, if known. */
  leaderId(): string | undefined {
    return this.commitLog.leaderId;
  }

  /** This member leads the controller group (as far as it knows). */
  leads(): boolean {
    return this.commitLog.leaderId === this.commitLog.id;
  }

  stats(): ControllerStats {
    return {
      lastAppliedIndex: this.state.sm.lastAppliedIndex,
      snapshotIndex: this.commitLog.status().snapshotIndex,
      snapshotsTaken: this.snapshots.snapshotsTaken,
      snapshotsInstalled: this.snapshots.snapshotsInstalled,
      segmentsReleased: this.snapshots.segmentsReleased,
    };
  }

  /** Snapshot the controller state, then delete log segments nobody needs any more. */
  snapshotNow(): Promise<void> {
    return this.snapshots.snapshotNow();
  }

  /** Where `call` runs: here when this member leads (or has nobody to send it to), else on the leader. */
  private route(call: ControllerCall): Promise<ControllerResult> {
    const leader = this.commitLog.leaderId;
    if (leader === this.commitLog.id || !this.requests) return this.here(call);
    if (leader === undefined) return Promise.resolve(fail('notApplied', undefined, 'no controller leader is known here yet; retry'));
    return callLeader(this.requests, leader, call);
  }

  /** Runs `call` on this member: a member that does not lead refuses it (nothing applied). */
  private async here(call: ControllerCall): Promise<ControllerResult> {
    if (this.fatal) return fail('notApplied', undefined, 'controller replica stopped after a storage failure; retry on another member');
    if (this.closing) return fail('notApplied', undefined, 'controller replica is shutting down; retry on another member');
    this.inflight++;
    try {
      if (call.op === 'read') return (await this.leadership.readBarrier()) ?? this.state.sm.read(call.query);
      const { payload, metaLen } = controllerEntry(call.command);
      const r = await this.leadership.propose(payload, metaLen);
      return r.ok ? r.value : refusalResult(r);
    } finally {
      this.inflight--;
    }
  }

  private applyCommitted(entries: LogEntry[]): ControllerResult[] {
    const { results, broken } = applyEntries(entries, RAFT_ENTRY_RESULT, fail('internalError'), (e) => {
      const result = this.state.sm.apply(e.index, e.timeMs, e.payload);
      this.opts.onApplied?.(e, result);
      return result;
    });
    if (broken !== undefined) {
      this.onFatal(broken);
      return results;
    }
    this.snapshots.countApplied(entries.length);
    this.snapshots.snapshotIfDue();
    return results;
  }

  /** Stop serving: wait for calls in flight, hand leadership over, snapshot, close the log. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const rt = this.opts.runtime ?? nodeRuntime;
    await closeReplica({ inflight: () => this.inflight, sleep: (ms) => rt.sleep(ms), leadership: this.leadership, snapshots: this.snapshots, receiver: this.receiver, commitLog: this.commitLog });
  }

  private onFatal(err: unknown): void {
    if (this.fatal) return;
    this.fatal = err instanceof Error ? err : new Error(String(err));
    this.logger.child('server').error(`FATAL (controller): ${this.fatal.stack ?? this.fatal.message}`);
    this.opts.onFatal?.(this.fatal);
  }
}
