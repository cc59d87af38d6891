// One Raft group's replica: wires the group's Raft driver, its queue state machine and the bodies
// on its disk into the QueueService the API calls. Recovery is group-recovery.ts, body reads
// body-reader.ts; this file applies, ticks, parks long polls, runs pushes and takes snapshots.
// The state machine stays pure and sees time only through log entries.

import { encodeCommand } from '../broker/codec';
import { GroupIds, type GroupNumber } from '../broker/ids';
import type {
  Command,
  CommandResult,
  QueueAttributes,
  QueueList,
  ReceivedMessage,
  SubscriptionAttributes,
  SubscriptionList,
  TopicAttributes,
  TopicList,
} from '../broker/commands';
import { QueueStateMachine, type BrokerStats } from '../broker/state-machine';
import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import type { ClusterStatusView, DeliveredMessage, MembershipChange, QueueService, ReceiveOutcome, ServiceResult } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import type { DiskStall } from '../storage/disk-stall';
import { SnapshotStore } from '../storage/snapshot-store';
import type { LogEntry } from '../storage/types';
import type { RaftStatus } from '../raft';
import type { FileSystem } from '../runtime/fs';
import type { SegmentedWal, WalHooks, WalObserver } from '../storage/wal';
import type { PeerAddress, PeerNetwork } from '../transport';
import { decodeNodeSnapshot, encodeNodeSnapshot } from './node-snapshot';
import { RaftDriver, type DriverRefusal, type RaftDriverOptions } from './raft-driver';
import { BodyReader } from './body-reader';
import { openWal, recoverGroup, walOptions } from './group-recovery';
import { ParkedReceives } from './long-poll';
import type { TickSource } from './tick-scheduler';
import { PushDelivery } from './push-delivery';
import type { RpcRouter } from './rpc';
import { beginInstall, finishInstall, SnapshotReceiver, SnapshotSender } from './snapshot-transfer';
import { toLogger, type Logger, type LogSink } from '../protocol/log';
import { nodeRuntime } from '../runtime/node-runtime';
import { randomU32, type Runtime, type TimerHandle } from '../runtime/timers';

export interface QueueNodeOptions {
  dataDir: string;
  /** fdatasync before acknowledging (default true). */
  fsync?: boolean;
  /** Clock, timers and randomness (default: the real ones; the simulator passes virtual ones). */
  runtime?: Runtime;
  log?: LogSink;
  /** Take a snapshot after this many applied entries (default 100,000). */
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
  /** Raft tick period (default 50 ms); ignored when `ticks` is given. */
  tickMs?: number;
  /** The host's tick scheduler, shared by the groups it runs (default: the driver's own). */
  ticks?: TickSource;
  /** How long an http subscriber may take to answer a push (default 15 s, as CMQ). */
  pushTimeoutMs?: number;
  /** Told WAL flush and fdatasync durations (the metrics endpoint's histograms). */
  walObserver?: WalObserver;
  /**
   * Told every command this node applies, with its result, in log order (replays at start-up
   * included): the simulator's checkers watch the shipped apply path through it.
   */
  onApplied?: (entry: LogEntry, result: CommandResult) => void;
  /** Where the data directory lives (default: the real file system; the simulator passes its disk). */
  fs?: FileSystem;
}

/** What this node has served, counted where its proposals return (the leader's view), since start. */
export interface ServedCounters {
  /** Messages accepted by SendMessage/BatchSendMessage. */
  messagesSent: number;
  /** Messages handed out by ReceiveMessage/BatchReceiveMessage. */
  messagesReceived: number;
  /** Messages deleted by DeleteMessage/BatchDeleteMessage (handles that failed not counted). */
  messagesDeleted: number;
  /** Messages accepted by PublishMessage/BatchPublishMessage. */
  messagesPublished: number;
  /** Push attempts to http subscribers that failed (each retry counts). */
  pushFailures: number;
}

/** The node's state as the admin endpoint reads it at request time: plain values, no I/O. */
export interface NodeObservation {
  raft: RaftStatus;
  raftCounters: Readonly<RaftDriver<CommandResult>['counters']>;
  closing: boolean;
  /** Why the node stopped serving for good (a failed fsync, a broken invariant). */
  fatal: string | undefined;
  /** The stalled storage step, described, while the disk is full or failing. */
  diskStall: string | undefined;
  wal: { bytesWritten: number; segments: number; diskBytes: number };
  broker: BrokerStats;
  topics: ReturnType<QueueStateMachine['topicStats']>;
  served: Readonly<ServedCounters>;
  snapshotsInstalled: number;
}

export interface NodeStats {
  lastAppliedIndex: number;
  parkedReceives: number;
  inflightProposals: number;
  corruptBodies: number;
  /** Bodies damaged (or missing) here and delivered from an intact copy on another replica. */
  bodiesFromReplicas: number;
  snapshotsTaken: number;
  /** Snapshots installed from the leader (this node had fallen behind its compacted log). */
  snapshotsInstalled: number;
  segmentsReleased: number;
  walBytes: number;
}

/**
 * Ticks are at least this far apart: deadlines (one per in-flight message) can be a millisecond
 * apart, and one tick entry per deadline would flood the log. A receive applies due transitions
 * of its own queue anyway; the tick only bounds how late an idle queue notices them.
 */
const TICK_MIN_INTERVAL_MS = 50;
/** The id of the embedded single-node server's only voter. */
export const SINGLE_NODE_ID = 'n1';
/** With 50 ms ticks: heartbeats every 100 ms, elections after 0.5-1 s of silence. */
export const DEFAULT_TICK_MS = 50;
const DEFAULT_ELECTION_TICKS = 10;
const DEFAULT_HEARTBEAT_TICKS = 2;
const SOLE_VOTER_ELECTION_TICKS = 2;
/** How long a shutting-down leader waits for its successor to take over. */
const LEADER_HANDOFF_TIMEOUT_MS = 2000;
const SOLE_VOTER_STARTUP_TIMEOUT_MS = 10_000;
const DEFAULT_SNAPSHOT_EVERY_ENTRIES = 100_000;
/** A snapshot that failed (a full disk) is tried again after this long, not after another full interval. */
const SNAPSHOT_RETRY_MS = 10_000;
/** After the push loop halted (a refused outcome), look again this much later. */
const PUSH_RECHECK_MS = 1000;

export class QueueNode implements QueueService {
  private readonly parked: ParkedReceives;
  private readonly rt: Runtime;
  /** The node's logger; each message goes out under its component. */
  private readonly logger: Logger;
  private readonly log: { server: Logger; raft: Logger; storage: Logger; snapshot: Logger };
  private readonly snapshotEveryEntries: number;
  private inflight = 0;
  private closing = false;
  private fatal: Error | undefined;
  private tickTimer: TimerHandle | undefined;
  private tickAtMs = Infinity;
  private tickInFlight = false;
  private lastTickMs = -Infinity;
  private entriesSinceSnapshot = 0;
  private snapshotRunning: Promise<void> | undefined;
  /** No snapshot is started before this time (set after one failed). */
  private snapshotRetryAtMs = -Infinity;
  private readonly counters = { snapshotsTaken: 0, segmentsReleased: 0, snapshotsInstalled: 0 };
  /** Reads message bodies back for delivery and pushes, checked, from here or a replica. */
  private readonly bodies: BodyReader;
  /** POSTs topic pushes to http subscribers while this node leads. */
  private readonly pushes: PushDelivery;
  private pushRecheck: TimerHandle | undefined;
  private readonly served: ServedCounters = { messagesSent: 0, messagesReceived: 0, messagesDeleted: 0, messagesPublished: 0, pushFailures: 0 };

  private constructor(
    private sm: QueueStateMachine,
    private wal: SegmentedWal,
    private readonly commitLog: RaftDriver<CommandResult>,
    private readonly snapshots: SnapshotStore,
    /** Stalled disk writes (full disk, I/O errors), shared by every log this node opens. */
    private readonly diskStall: DiskStall,
    /** Stages snapshots the leader sends (absent for a one-voter group). */
    private readonly receiver: SnapshotReceiver | undefined,
    private readonly opts: QueueNodeOptions,
  ) {
    this.rt = opts.runtime ?? nodeRuntime;
    this.parked = new ParkedReceives(this.rt);
    this.logger = toLogger(opts.log, stderrLine);
    this.log = {
      server: this.logger.child('server'),
      raft: this.logger.child('raft'),
      storage: this.logger.child('storage'),
      snapshot: this.logger.child('snapshot'),
    };
    this.snapshotEveryEntries = opts.snapshotEveryEntries ?? DEFAULT_SNAPSHOT_EVERY_ENTRIES;
    this.bodies = new BodyReader({
      selfId: commitLog.id,
      recentPayload: (index) => commitLog.recentPayload(index),
      wal: () => this.wal,
      voters: () => commitLog.status().voters,
      rpc: opts.rpc,
      log: this.log.storage,
    });
    this.pushes = new PushDelivery({
      duePushes: (nowMs, limit) => this.sm.duePushes(nowMs, limit),
      nextAttemptMs: () => this.sm.nextPushAttemptMs(),
      readBody: (ref) => this.bodies.readOne(ref),
      propose: (command) => this.submit(this.internalContext('push'), command),
      runtime: this.rt,
      log: this.logger,
      // A refused outcome (leadership lost, throttled): look again shortly.
      onHalt: () => this.recheckPushesSoon(),
      ...(opts.pushTimeoutMs !== undefined ? { requestTimeoutMs: opts.pushTimeoutMs } : {}),
    });
    commitLog.onCommit((entries) => this.applyCommitted(entries));
  }

  /**
   * Recover from the latest snapshot plus the committed log after it, then start serving. The log
   * is a Raft group: one voter (this node) for the embedded server, three for a set.
   */
  static async open(opts: QueueNodeOptions): Promise<QueueNode> {
    const log = toLogger(opts.log, stderrLine);
    const nodeId = opts.nodeId ?? SINGLE_NODE_ID;
    const { snapshots, latest, restored, sm, diskStall, wal, hardState, configEntries, lastTimeMs, replayed } = await recoverGroup(opts, nodeId, log);
    const voters = opts.voters ?? [nodeId];
    const soleVoter = voters.length === 1 && voters[0] === nodeId;
    const raftOpts: RaftDriverOptions = {
      id: nodeId,
      voters,
      wal,
      hardState,
      appliedIndex: sm.lastAppliedIndex,
      lastTimeMs,
      configEntries,
      runtime: opts.runtime ?? nodeRuntime,
      tickMs: opts.ticks?.tickMs ?? opts.tickMs ?? DEFAULT_TICK_MS,
      ...(opts.ticks ? { ticks: opts.ticks } : {}),
      // A lone voter has nobody to disturb: it may elect itself after the shortest timeout.
      electionTicks: soleVoter ? SOLE_VOTER_ELECTION_TICKS : DEFAULT_ELECTION_TICKS,
      heartbeatTicks: soleVoter ? 1 : DEFAULT_HEARTBEAT_TICKS,
      log,
      onFatal: (err) => node.onFatal(err),
      diskStall,
      ...(opts.recentBytesMax !== undefined ? { recentBytesMax: opts.recentBytesMax } : {}),
    };
    if (latest && restored) raftOpts.snapshotMeta = { index: latest.index, term: latest.term, voters: restored.voters };
    if (opts.network) raftOpts.network = opts.network;
    if (opts.staticPeers) raftOpts.staticPeers = opts.staticPeers;
    if (restored) raftOpts.learnedAddresses = restored.addresses;
    let receiver: SnapshotReceiver | undefined;
    if (opts.rpc) {
      const walOpts = walOptions(opts, log, diskStall);
      receiver = new SnapshotReceiver(opts.dataDir, walOpts, opts.runtime ?? nodeRuntime, log);
      receiver.serve(opts.rpc);
      const sender = new SnapshotSender(opts.rpc, nodeId, { loadSnapshot: (index) => node.loadSnapshot(index), wal: () => node.wal }, log, opts.runtime ?? nodeRuntime);
      raftOpts.snapshotTransfer = { sender, receiver, install: (meta) => node.installSnapshot(meta) };
    }
    const commitLog = new RaftDriver<CommandResult>(raftOpts);
    const node: QueueNode = new QueueNode(sm, wal, commitLog, snapshots, diskStall, receiver, opts);
    if (opts.rpc) node.bodies.serve(opts.rpc);
    node.entriesSinceSnapshot = replayed;
    node.afterApply();
    // A one-node set serves as soon as it has elected itself (a few ticks); a member of a larger
    // set serves at once and answers "no leader" until an election is won.
    if (soleVoter) {
      await node.untilLeader(SOLE_VOTER_STARTUP_TIMEOUT_MS);
      // Everything in the log is applied before the first request, unless the disk is full: then
      // the barrier waits for space, and the node serves meanwhile (writes refused, reads of
      // what is applied) instead of not starting at all.
      await untilBarrierOrStall(commitLog.readBarrier(), diskStall, log, opts.runtime ?? nodeRuntime);
    }
    return node;
  }

  clusterStatus(_ctx: RequestContext): Promise<ServiceResult<{ status: ClusterStatusView }>> {
    const st = this.commitLog.status();
    const peers = Object.entries(st.progress).map(([nodeId, p]) => ({
      nodeId,
      matchIndex: p.matchIndex,
      nextIndex: p.nextIndex,
      state: p.state,
      lag: st.lastIndex - p.matchIndex,
    }));
    const status: ClusterStatusView = {
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
    return Promise.resolve({ ok: true, status });
  }

  async transferLeader(_ctx: RequestContext, nodeId: string): Promise<ServiceResult<{ from: string; to: string }>> {
    const from = this.commitLog.id;
    if (nodeId === from && this.commitLog.leaderId === from) return { ok: true, from, to: from };
    const r = this.commitLog.transferLeadership(nodeId);
    if (!r.ok) {
      // Not the leader here means no leader was known when the request arrived (else it would
      // have been forwarded): a transient state, so a retryable 6000, not a parameter error.
      if (r.reason === 'notLeader') return fail('notApplied', undefined, 'cannot transfer leadership: no leader is known here yet; retry');
      return fail('invalidParams', undefined, `cannot transfer leadership: ${nodeId} is not a voter of this set`);
    }
    if (await this.commitLog.waitUntil(() => this.commitLog.leaderId === nodeId, LEADER_HANDOFF_TIMEOUT_MS)) return { ok: true, from, to: nodeId };
    // The transfer may still complete (or have completed unseen here).
    return fail('outcomeUnknown', undefined, `leadership did not move to ${nodeId} within ${LEADER_HANDOFF_TIMEOUT_MS} ms`);
  }

  async changeMembership(_ctx: RequestContext, change: MembershipChange): Promise<ServiceResult<{ voters: string[] }>> {
    const r = await this.commitLog.proposeConfigChange(
      change.type === 'add' ? { type: 'addVoter', node: change.nodeId, address: change.address } : { type: 'removeVoter', node: change.nodeId },
    );
    if (!r.ok) {
      // The core refusing the change itself (one pending, not a voter) is the request's fault.
      if (r.reason === 'refused') return fail('invalidParams', undefined, r.detail);
      const f = refusalResult(r);
      return { ...f, detail: `membership change failed: ${f.detail ?? ''}` };
    }
    const voters = this.commitLog.status().voters;
    this.log.raft.info(`membership: ${change.type === 'add' ? `added ${change.nodeId} (${change.address})` : `removed ${change.nodeId}`}; voters now ${voters.join(', ')}`);
    return { ok: true, voters };
  }

  /** Resolves once no leadership transfer is under way here (or after the hand-off timeout). */
  private async untilTransferEnds(): Promise<void> {
    await this.commitLog.waitUntil(() => this.commitLog.status().leadTransferee === undefined || this.fatal !== undefined, LEADER_HANDOFF_TIMEOUT_MS);
  }

  /** The current leader's id, if known. */
  leaderId(): string | undefined {
    return this.commitLog.leaderId;
  }

  /** Resolves once this node leads its group (or rejects after timeoutMs). */
  async untilLeader(timeoutMs: number): Promise<void> {
    const leads = (): boolean => this.commitLog.leaderId === this.commitLog.id;
    await this.commitLog.waitUntil(() => leads() || this.fatal !== undefined, timeoutMs);
    if (this.fatal) throw this.fatal;
    if (!leads()) throw new Error(`no leadership after ${timeoutMs} ms`);
  }

  // ---- QueueService ------------------------------------------------------------------------

  async submit(_ctx: RequestContext, command: Command): Promise<CommandResult> {
    if (this.fatal) return fail('notApplied', undefined, 'node stopped after a storage failure; retry on another member');
    if (this.closing) return fail('notApplied', undefined, 'node is shutting down; retry on another member');
    if (this.inflight >= LIMITS.inflightProposalsMax) return fail('throttled');
    const { payload, metaLen } = encodeCommand(command);
    this.inflight++;
    try {
      let r = await this.commitLog.propose(payload, metaLen);
      if (!r.ok && r.reason === 'transferring') {
        // A leadership transfer is under way (it takes a round trip or two): nothing was
        // appended, so wait for it to end and propose again if this node still leads.
        await this.untilTransferEnds();
        r = await this.commitLog.propose(payload, metaLen);
      }
      if (!r.ok) return refusalResult(r);
      this.countServed(command, r.value);
      return r.value;
    } finally {
      this.inflight--;
    }
  }

  /** A few integer additions per proposal: the metrics endpoint reads these at scrape time. */
  private countServed(command: Command, r: CommandResult): void {
    if (!r.ok) return;
    const c = this.served;
    if (r.kind === 'sendMessages') c.messagesSent += r.msgIds.length;
    else if (r.kind === 'receiveMessages') c.messagesReceived += r.messages.length;
    else if (r.kind === 'deleteMessages' && command.kind === 'deleteMessages') c.messagesDeleted += command.receiptHandles.length - r.failures.length;
    else if (r.kind === 'publishMessages') c.messagesPublished += r.msgIds.length;
    else if (command.kind === 'pushFailed') c.pushFailures++;
  }

  /** Everything the admin endpoint reports, read now (cheap: no I/O, no per-message work). */
  observe(): NodeObservation {
    const stall = this.diskStall.current();
    return {
      raft: this.commitLog.status(),
      raftCounters: this.commitLog.counters,
      closing: this.closing,
      fatal: this.fatal?.message,
      diskStall: stall ? this.diskStall.describe(stall) : undefined,
      wal: { bytesWritten: this.wal.stats.bytesWritten, segments: this.wal.segmentCount(), diskBytes: this.wal.diskBytes() },
      broker: this.sm.stats(),
      topics: this.sm.topicStats(),
      served: this.served,
      snapshotsInstalled: this.counters.snapshotsInstalled,
    };
  }

  /** Every queue's attributes (counts and oldest message time), for per-queue metrics at scrape time. */
  eachQueue(): Iterable<QueueAttributes> {
    return this.sm.eachQueueAttributes();
  }

  async receive(ctx: RequestContext, queueName: string, numOfMsg: number, waitSeconds: number | undefined): Promise<ReceiveOutcome> {
    // The receive itself goes through the log, so it is decided on up-to-date state. The local
    // look-up only picks the wait; a queue missing locally may just not be applied yet (a freshly
    // elected leader), so confirm with a read barrier before answering 4440.
    let settings = this.sm.queueSettings(queueName);
    if (!settings) {
      const stale = await this.readBarrier();
      if (stale) return stale;
      settings = this.sm.queueSettings(queueName);
      if (!settings) return fail('queueNotExist');
    }
    const waitMs = (waitSeconds ?? settings.pollingWaitSeconds) * 1000;
    const deadline = this.rt.nowMs() + waitMs;
    for (;;) {
      if (this.sm.visibleCount(queueName) > 0) {
        const r = await this.submit(ctx, { kind: 'receiveMessages', queueName, numOfMsg, seed: randomU32(this.rt) });
        if (!r.ok) return r;
        if (r.kind !== 'receiveMessages') return fail('internalError');
        if (r.messages.length > 0) return this.readBodies(ctx, queueName, r.messages);
      }
      // A graceful shutdown cuts long polls short with the ordinary "no message" answer, which
      // every consumer loop already handles by polling again (elsewhere, after a failover).
      if (this.closing) return { ok: true, messages: [] };
      const remaining = deadline - this.rt.nowMs();
      if (remaining <= 0) return { ok: true, messages: [] };
      const parked = this.parked.park(queueName, remaining);
      if (!parked) return fail('internalError', undefined, 'too many receives are waiting');
      if (!(await parked)) return { ok: true, messages: [] };
      if (!this.sm.queueSettings(queueName)) return fail('queueNotExist');
    }
  }

  async listQueues(_ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<QueueList>> {
    return this.read(() => ({ ok: true, ...this.sm.listQueues(searchWord, offset, limit) }));
  }

  async getQueueAttributes(_ctx: RequestContext, queueName: string): Promise<ServiceResult<{ attributes: QueueAttributes }>> {
    return this.read(() => {
      const attributes = this.sm.getQueueAttributes(queueName);
      return attributes ? { ok: true, attributes } : fail('queueNotExist');
    });
  }

  async listDeadLetterSourceQueues(
    _ctx: RequestContext,
    deadLetterQueueName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
  ): Promise<ServiceResult<QueueList>> {
    return this.read(() => okList(this.sm.listDeadLetterSourceQueues(deadLetterQueueName, searchWord, offset, limit)));
  }

  async listTopics(_ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<TopicList>> {
    return this.read(() => ({ ok: true, ...this.sm.listTopics(searchWord, offset, limit) }));
  }

  async getTopicAttributes(_ctx: RequestContext, topicName: string): Promise<ServiceResult<{ attributes: TopicAttributes }>> {
    return this.read(() => {
      const attributes = this.sm.getTopicAttributes(topicName);
      return attributes ? { ok: true, attributes } : fail('topicNotExist');
    });
  }

  async listSubscriptions(
    _ctx: RequestContext,
    topicName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
  ): Promise<ServiceResult<SubscriptionList>> {
    return this.read(() => okList(this.sm.listSubscriptions(topicName, searchWord, offset, limit)));
  }

  async getSubscriptionAttributes(_ctx: RequestContext, topicName: string, subscriptionName: string): Promise<ServiceResult<{ attributes: SubscriptionAttributes }>> {
    return this.read(() => {
      const r = this.sm.getSubscriptionAttributes(topicName, subscriptionName);
      return 'ok' in r ? r : { ok: true, attributes: r };
    });
  }

  /** The context of work this node starts itself (ticks, push outcomes), for the service calls it makes. */
  private internalContext(origin: 'tick' | 'push'): RequestContext {
    return { requestId: `${this.commitLog.id}-${origin}`, clientAddress: '', receivedAtMs: this.rt.nowMs() };
  }

  /**
   * Reads are linearizable: the state machine has applied everything committed before the read
   * began (ReadIndex), so a leader that was just elected, or just deposed, never answers stale.
   */
  private async readBarrier(): Promise<ErrorResult | undefined> {
    const r = await this.commitLog.readBarrier();
    if (r.ok) return undefined;
    if (r.reason === 'diskStalled') return fail('notApplied', undefined, r.detail);
    // A read changes nothing, so whatever stopped it, nothing was applied.
    return fail('notApplied', undefined, `read not possible here now: ${r.detail}`);
  }

  /** `answer`, computed once the read barrier passed (or the barrier's failure). */
  private async read<T extends object>(answer: () => ServiceResult<T>): Promise<ServiceResult<T>> {
    return (await this.readBarrier()) ?? answer();
  }

  // ---- apply loop ----------------------------------------------------------------------------

  private applyCommitted(entries: LogEntry[]): CommandResult[] {
    const results: CommandResult[] = [];
    try {
      for (const e of entries) {
        // Only commands reach the state machine; noop and config entries are Raft's own.
        if (e.kind !== 'command') {
          results.push({ ok: true, kind: 'tick' });
          continue;
        }
        const result = this.sm.apply(e.index, e.timeMs, e.payload, e.metaLen);
        this.opts.onApplied?.(e, result);
        results.push(result);
      }
    } catch (err) {
      // A broken invariant: stop rather than serve a state we cannot trust; restart recovers.
      this.onFatal(err);
      while (results.length < entries.length) results.push(fail('internalError'));
      return results;
    }
    this.entriesSinceSnapshot += entries.length;
    this.afterApply();
    return results;
  }

  /** Wake long polls that can now be served, schedule the next tick, snapshot when due. */
  /** Run the push loop exactly while this node leads; wake it after applies. */
  private syncPushes(): void {
    const leads = this.commitLog.leaderId === this.commitLog.id && !this.closing && !this.fatal;
    if (leads && !this.pushes.isRunning) this.pushes.start();
    else if (!leads && this.pushes.isRunning) void this.pushes.stop();
    if (leads) this.pushes.wake();
  }

  private recheckPushesSoon(): void {
    if (this.pushRecheck || this.closing) return;
    this.pushRecheck = this.rt.setTimeout(() => {
      this.pushRecheck = undefined;
      this.syncPushes();
    }, PUSH_RECHECK_MS);
  }

  private afterApply(): void {
    this.syncPushes();
    for (const q of [...this.parked.queuesWithWaiters()]) {
      if (!this.sm.queueSettings(q)) this.parked.wake(q, Infinity);
      else {
        const n = this.sm.visibleCount(q);
        if (n > 0) this.parked.wake(q, n);
      }
    }
    this.scheduleTick();
    if (this.entriesSinceSnapshot >= this.snapshotEveryEntries && !this.snapshotRunning && !this.closing && this.rt.nowMs() >= this.snapshotRetryAtMs) {
      // Next turn: the log learns that these entries are applied only after this listener returns.
      this.rt.setImmediate(() => void this.snapshotNow());
    }
  }

  private scheduleTick(): void {
    const deadline = this.sm.nextDeadlineMs();
    if (deadline === undefined || this.closing || this.fatal) return;
    const due = Math.max(deadline, this.lastTickMs + TICK_MIN_INTERVAL_MS);
    if (this.tickTimer && due >= this.tickAtMs) return;
    if (this.tickTimer) this.rt.clearTimeout(this.tickTimer);
    this.tickAtMs = due;
    // +1 ms: entry time must be strictly past the deadline when the tick is applied.
    const delay = Math.max(0, due - this.rt.nowMs() + 1);
    this.tickTimer = this.rt.setTimeout(() => {
      this.tickTimer = undefined;
      this.tickAtMs = Infinity;
      if (this.tickInFlight) return;
      this.tickInFlight = true;
      this.lastTickMs = this.rt.nowMs();
      void this.submit(this.internalContext('tick'), { kind: 'tick' }).finally(() => {
        this.tickInFlight = false;
        this.scheduleTick();
      });
    }, Math.min(delay, 2 ** 31 - 1));
  }

  // ---- bodies ------------------------------------------------------------------------------

  private async readBodies(ctx: RequestContext, queueName: string, messages: ReceivedMessage[]): Promise<ReceiveOutcome> {
    const bodies = await this.bodies.read(messages);
    const delivered: DeliveredMessage[] = [];
    for (const [i, m] of messages.entries()) {
      const body = bodies[i];
      if (body) delivered.push({ ...m, bodyBytes: body });
      else await this.submit(ctx, { kind: 'quarantineMessage', queueName, queueNumber: m.queueNumber, seq: m.seq });
    }
    if (delivered.length === 0) {
      return fail('receiveFailed', undefined, 'message body failed its checksum and was quarantined');
    }
    return { ok: true, messages: delivered };
  }

  // ---- snapshots and reclamation -------------------------------------------------------------

  /** The saved node snapshot at exactly `index`, for shipping to a follower. */
  private async loadSnapshot(index: number): Promise<Uint8Array | undefined> {
    if (this.snapshotRunning) await this.snapshotRunning;
    const latest = await this.snapshots.loadLatest();
    return latest && latest.index === index ? latest.data : undefined;
  }

  /**
   * The core accepted a snapshot from the leader: swap in the staged log, save the snapshot and
   * restore the state machine from it (the Ready loop waits for this).
   */
  private async installSnapshot(meta: { index: number; term: number }): Promise<{ wal: SegmentedWal; lastTimeMs: number; learnedAddresses: Record<string, string> }> {
    if (this.snapshotRunning) await this.snapshotRunning;
    await beginInstall(this.opts.dataDir, meta, this.opts.fs);
    await this.wal.close();
    const installed = await finishInstall(this.opts.dataDir, this.snapshots, this.logger, this.opts.fs);
    if (!installed || installed.index !== meta.index || installed.term !== meta.term) {
      throw new Error(`snapshot ${meta.index} (term ${meta.term}) was to be installed but the staging holds ${installed ? installed.index : 'nothing'}`);
    }
    const latest = await this.snapshots.loadLatest();
    if (!latest || latest.index !== meta.index) throw new Error(`installed snapshot ${meta.index} does not load back`);
    const snap = decodeNodeSnapshot(latest.data);
    this.sm = QueueStateMachine.restore(snap.stateMachine, new GroupIds(this.sm.group));
    this.wal = await openWal(this.opts, this.logger, this.diskStall);
    this.entriesSinceSnapshot = 0;
    this.counters.snapshotsInstalled++;
    this.afterApply();
    return { wal: this.wal, lastTimeMs: this.sm.lastTimeMs, learnedAddresses: snap.addresses };
  }

  /** Snapshot the state machine, then delete log segments nobody needs any more. */
  snapshotNow(): Promise<void> {
    if (this.snapshotRunning) return this.snapshotRunning;
    const index = this.sm.lastAppliedIndex;
    if (index === 0) return Promise.resolve();
    // A member applies what a majority committed, possibly before its own copy is appended here:
    // the snapshot waits until then (the next apply tries again).
    if (this.wal.lastIndex() < index) return Promise.resolve();
    const meta = this.commitLog.snapshotMetaAt(index);
    const data = encodeNodeSnapshot({ voters: meta.voters, addresses: this.commitLog.learnedAddresses(), stateMachine: this.sm.snapshot() });
    const live = this.sm.liveEntryIndexes();
    const covered = this.entriesSinceSnapshot;
    this.entriesSinceSnapshot = 0;
    this.snapshotRunning = (async () => {
      try {
        // Never a snapshot ahead of the durable log: after a power loss the log must still reach
        // the snapshot's index, or the next start-up finds the data directory inconsistent.
        await this.wal.untilDurable(index);
        await this.snapshots.save({ index, term: meta.term }, data);
        this.commitLog.compact(meta);
        this.counters.snapshotsTaken++;
        const released = await this.wal.releaseSegments((first, last) => anyInRange(live, first, last), index + 1);
        this.counters.segmentsReleased += released;
      } catch (err) {
        // Not fatal (the log still holds everything): skipped, and tried again after a pause
        // (a full disk) at the next apply, covering the entries it did not.
        this.entriesSinceSnapshot += covered;
        this.snapshotRetryAtMs = this.rt.nowMs() + SNAPSHOT_RETRY_MS;
        this.log.snapshot.error(`snapshot at ${index} failed (skipped; retried in ${SNAPSHOT_RETRY_MS / 1000} s or later): ${String(err)}`);
      } finally {
        this.snapshotRunning = undefined;
      }
    })();
    return this.snapshotRunning;
  }

  stats(): NodeStats {
    return {
      lastAppliedIndex: this.sm.lastAppliedIndex,
      parkedReceives: this.parked.size,
      inflightProposals: this.inflight,
      corruptBodies: this.bodies.corruptBodies,
      bodiesFromReplicas: this.bodies.bodiesFromReplicas,
      snapshotsTaken: this.counters.snapshotsTaken,
      snapshotsInstalled: this.counters.snapshotsInstalled,
      segmentsReleased: this.counters.segmentsReleased,
      walBytes: this.wal.diskBytes(),
    };
  }

  /** Stop serving: answer parked receives, wait for writes in flight, snapshot, close the log. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.tickTimer) this.rt.clearTimeout(this.tickTimer);
    if (this.pushRecheck) this.rt.clearTimeout(this.pushRecheck);
    await this.pushes.stop();
    this.parked.wakeAll();
    while (this.inflight > 0) await this.rt.sleep(5);
    await this.handOffLeadership();
    if (this.snapshotRunning) await this.snapshotRunning;
    // A snapshot at shutdown makes the next start-up replay nothing.
    if (!this.fatal && this.entriesSinceSnapshot > 0) await this.snapshotNow();
    await this.receiver?.close();
    await this.commitLog.close();
  }

  /**
   * A leader of a replicated set that is shutting down hands leadership to its most caught-up
   * follower first, so the set keeps serving after a pause of one round trip instead of an
   * election timeout (rolling restarts). Gives up after LEADER_HANDOFF_TIMEOUT_MS.
   */
  private async handOffLeadership(): Promise<void> {
    if (this.fatal) return;
    const st = this.commitLog.status();
    if (st.role !== 'leader') return;
    const target = Object.entries(st.progress).sort((a, b) => b[1].matchIndex - a[1].matchIndex)[0]?.[0];
    if (target === undefined) return; // a one-voter set has nobody to hand over to
    const r = this.commitLog.transferLeadership(target);
    if (!r.ok) return;
    this.log.raft.info(`shutting down: transferring leadership to ${target}`, { target });
    await this.commitLog.waitUntil(() => this.commitLog.leaderId !== this.commitLog.id, LEADER_HANDOFF_TIMEOUT_MS);
  }

  private onFatal(err: unknown): void {
    if (this.fatal) return;
    this.fatal = err instanceof Error ? err : new Error(String(err));
    this.log.server.error(`FATAL: ${this.fatal.stack ?? this.fatal.message}`);
    this.opts.onFatal?.(this.fatal);
  }
}

/**
 * What a client is told when the log did not complete a proposal: the driver's outcome decides the
 * code (notApplied, 6100, only when nothing was appended anywhere; outcomeUnknown otherwise, since
 * an appended entry may be on other members and be committed by a later leader).
 */
function refusalResult(r: DriverRefusal): ErrorResult {
  if (r.outcome === 'outcomeUnknown') {
    return fail('outcomeUnknown', undefined, r.reason === 'dropped' ? `${r.detail}; a later leader may still commit it` : r.detail);
  }
  // A full disk or a stopped log: nothing here will take it; another member may.
  if (r.reason === 'diskStalled' || r.reason === 'stopped') return fail('notApplied', undefined, r.detail);
  return fail('notApplied', undefined, `${r.detail}; retry (any member forwards to the leader)`);
}

/** A list from the state machine as a service result (the list, or the error it gave). */
function okList<T extends object>(r: T | ErrorResult): ServiceResult<T> {
  return 'ok' in r ? r : { ok: true, ...r };
}

function stderrLine(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** True when the sorted array holds a value in [lo, hi]. */
function anyInRange(sorted: number[], lo: number, hi: number): boolean {
  let a = 0;
  let b = sorted.length;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (sorted[mid]! < lo) a = mid + 1;
    else b = mid;
  }
  return a < sorted.length && sorted[a]! <= hi;
}

/** Resolves when `barrier` does, or as soon as a disk stall is seen (the barrier then finishes later). */
async function untilBarrierOrStall(barrier: Promise<{ ok: true } | DriverRefusal>, stall: DiskStall, log: Logger, timers: Runtime): Promise<void> {
  let settled = false;
  const done = barrier.then((r) => {
    settled = true;
    if (!r.ok) throw new Error(`the log could not be read up to its end at start-up: ${r.detail}`);
  });
  while (!settled) {
    const s = stall.current();
    if (s) {
      done.catch(() => undefined);
      log.child('storage').error(`starting while storage is stalled: ${stall.describe(s)}; writes are refused until it clears`);
      return;
    }
    await Promise.race([done, timers.sleep(20)]);
  }
  await done;
}

