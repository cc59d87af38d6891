// One Raft group's replica: wires the group's Raft driver, its queue state machine and the bodies
// on its disk into the QueueService the API calls. Recovery is group-recovery.ts, the driver's
// setup group-raft.ts, body reads body-reader.ts, snapshots group-snapshots.ts, leadership moves and membership changes
// group-leadership.ts; this file applies, ticks, parks long polls and runs pushes.
// The state machine stays pure and sees time only through log entries.

import { olderReplicasCanApply } from '../broker/compat';
import { commandForVoters, votersOnOlderRelease } from './version-gate';
import { encodeCommand, type EncodedCommand } from '../broker/codec';
import { GroupIds, type GroupNumber } from '../broker/ids';
import type {
  Command,
  CommandResult,
  MoveTaskView,
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
import type { ClusterStatusView, DeadLetterSourceScope, DeliveredMessage, MembershipChange, QueueService, ReceiveOptions, ReceiveOutcome, ServiceResult } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import type { DiskStall } from '../storage/disk-stall';
import type { SnapshotStore } from '../storage/snapshot-store';
import type { LogEntry } from '../storage/types';
import type { RaftStatus } from '../raft';
import type { SegmentedWal } from '../storage/wal';
import type { DriverRefusal, RaftDriver } from './raft-driver';
import { BodyReader } from './body-reader';
import { Compaction, DEFAULT_COMPACTION, type CompactionSettings, type CompactionStats } from './compaction';
import { GroupLeadership, refusalResult } from './group-leadership';
import type { GroupReplicaOptions } from './group-options';
import { openWal, recoverGroup } from './group-recovery';
import { closeReplica, groupStatusView, openGroupRaft } from './group-raft';
import { GroupSnapshots, type ServingState } from './group-snapshots';
import { ParkedReceives } from './long-poll';
import { PushDelivery } from './push-delivery';
import type { DeliverToQueue } from './outbox';
import { MoveTaskRunner } from './move-tasks';
import type { SnapshotReceiver } from './snapshot-transfer';
import { applyEntries, type MachineKind } from './replica-machine';
import { toLogger, type Logger } from '../protocol/log';
import { stderrLine } from './logger';
import { nodeRuntime } from '../runtime/node-runtime';
import { randomU32, type Runtime, type TimerHandle } from '../runtime/timers';

export interface QueueNodeOptions extends GroupReplicaOptions<CommandResult> {
  /** How long an http subscriber, or another set taking a remote queue's message, may take to answer a push (default 15 s, as CMQ). */
  pushTimeoutMs?: number;
  /** Compaction of sparse log segments (default DEFAULT_COMPACTION: below half live, a census every 10 s). */
  compaction?: Partial<CompactionSettings>;
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
  /** Push attempts (http, remote queues) that failed (each retry counts). */
  pushFailures: number;
  /** Of pushFailures: sends into a queue on another set that did not exist or refused the message for good. */
  remoteQueueGone: number;
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
  compaction: Readonly<CompactionStats>;
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
  compaction: CompactionStats;
}

/**
 * Ticks are at least this far apart: deadlines (one per in-flight message) can be a millisecond
 * apart, and one tick entry per deadline would flood the log. A receive applies due transitions
 * of its own queue anyway; the tick only bounds how late an idle queue notices them.
 */
const TICK_MIN_INTERVAL_MS = 50;
/** The id of the embedded single-node server's only voter. */
export const SINGLE_NODE_ID = 'n1';
const SOLE_VOTER_STARTUP_TIMEOUT_MS = 10_000;
const DEFAULT_SNAPSHOT_EVERY_ENTRIES = 100_000;
/** After the push loop halted (a refused outcome), look again this much later. */
const PUSH_RECHECK_MS = 1000;
/** What a Raft entry of its own (noop, config) answers: nobody waits on it. */
const RAFT_ENTRY_RESULT: CommandResult = { ok: true, kind: 'tick' };

export class QueueNode implements QueueService {
  private readonly parked: ParkedReceives;
  private readonly rt: Runtime;
  /** The node's logger; each message goes out under its component. */
  private readonly logger: Logger;
  private readonly log: { server: Logger; raft: Logger; storage: Logger };
  private inflight = 0;
  private closing = false;
  private fatal: Error | undefined;
  private tickTimer: TimerHandle | undefined;
  private tickAtMs = Infinity;
  private tickInFlight = false;
  private lastTickMs = -Infinity;
  /** The state machine and log served from (a snapshot install replaces both). */
  private readonly state: ServingState<QueueStateMachine>;
  /** Takes snapshots when due, reclaims log space, installs the leader's snapshots. */
  private readonly snapshots: GroupSnapshots<CommandResult, QueueStateMachine>;
  /** Leadership transfers and membership changes. */
  private readonly leadership: GroupLeadership<CommandResult>;
  /** Reads message bodies back for delivery and pushes, checked, from here or a replica. */
  private readonly bodies: BodyReader;
  /** POSTs topic pushes to http subscribers while this node leads. */
  private readonly pushes: PushDelivery;
  /** Copies live bodies out of sparse log segments (leader) and asks for the snapshots that free them. */
  private readonly compaction: Compaction;
  /** Proposes the moves of running message move tasks (dead-letter redrive) while this node leads. */
  private readonly moveTasks: MoveTaskRunner;
  private pushRecheck: TimerHandle | undefined;
  private readonly served: ServedCounters = { messagesSent: 0, messagesReceived: 0, messagesDeleted: 0, messagesPublished: 0, pushFailures: 0, remoteQueueGone: 0 };

  private constructor(
    sm: QueueStateMachine,
    wal: SegmentedWal,
    private readonly commitLog: RaftDriver<CommandResult>,
    snapshotStore: SnapshotStore,
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
    };
    this.state = { sm, wal };
    this.snapshots = new GroupSnapshots({
      dataDir: opts.dataDir,
      fs: opts.fs,
      runtime: this.rt,
      logger: this.logger,
      commitLog,
      store: snapshotStore,
      state: this.state,
      kind: queueMachines(opts.group ?? 0),
      everyEntries: opts.snapshotEveryEntries ?? DEFAULT_SNAPSHOT_EVERY_ENTRIES,
      reopenWal: () => openWal(opts, this.logger, diskStall),
      afterInstall: () => this.afterApply(),
      closing: () => this.closing,
      stopped: () => this.fatal !== undefined,
    });
    this.leadership = new GroupLeadership(commitLog, this.log.raft, () => this.fatal !== undefined);
    this.bodies = new BodyReader({
      selfId: commitLog.id,
      recentPayload: (index) => commitLog.recentPayload(index),
      wal: () => this.state.wal,
      voters: () => commitLog.status().voters,
      rpc: opts.rpc,
      log: this.log.storage,
    });
    this.pushes = new PushDelivery({
      dueDeliveries: (nowMs, limit) => this.state.sm.dueDeliveries(nowMs, limit),
      nextAttemptMs: () => this.state.sm.nextPushAttemptMs(),
      readBody: (ref) => this.bodies.readOne(ref),
      propose: (command) => this.submit(this.internalContext('push'), command),
      runtime: this.rt,
      log: this.logger,
      // A refused outcome (leadership lost, throttled): look again shortly.
      onHalt: () => this.recheckPushesSoon(),
      ...(opts.pushTimeoutMs !== undefined ? { requestTimeoutMs: opts.pushTimeoutMs } : {}),
    });
    this.compaction = new Compaction({
      runtime: this.rt,
      log: this.logger.child('compaction'),
      state: this.state,
      settings: { ...DEFAULT_COMPACTION, ...opts.compaction },
      leads: () => this.leadsAndServes(),
      readBodies: (refs) => this.bodies.readRefs(refs),
      submit: (command) => this.submit(this.internalContext('compaction'), command),
      requestSnapshot: () => this.snapshots.request(),
    });
    this.moveTasks = new MoveTaskRunner({
      runtime: this.rt,
      log: this.logger.child('move-tasks'),
      runningTasks: () => this.state.sm.runningMoveTasks(),
      submit: (command) => this.submit(this.internalContext('move-tasks'), command),
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
    const recovered = await recoverGroup(opts, nodeId, log, queueMachines(opts.group ?? 0));
    const { snapshots, sm, diskStall, wal, replayed } = recovered;
    const { commitLog, receiver, soleVoter } = openGroupRaft<CommandResult, QueueStateMachine>(opts, nodeId, recovered, log, {
      onFatal: (err) => node.onFatal(err),
      loadSnapshot: (index) => node.snapshots.load(index),
      wal: () => node.state.wal,
      install: (meta) => node.snapshots.install(meta),
    });
    const node: QueueNode = new QueueNode(sm, wal, commitLog, snapshots, diskStall, receiver, opts);
    if (opts.rpc) node.bodies.serve(opts.rpc);
    node.snapshots.countApplied(replayed);
    node.afterApply();
    node.compaction.start();
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
    return Promise.resolve({ ok: true, status: groupStatusView(this.commitLog.status()) });
  }

  /**
   * How this node, while it leads, sends topic messages into queues on other sets (remote queue
   * subscriptions; node/outbox.ts queueDeliveryThrough over the access layer). Until set, those
   * messages stay pending.
   */
  deliverToRemoteQueues(deliver: DeliverToQueue): void {
    this.pushes.setDeliverToQueue(deliver);
  }

  transferLeader(_ctx: RequestContext, nodeId: string): Promise<ServiceResult<{ from: string; to: string }>> {
    return this.leadership.transfer(nodeId);
  }

  changeMembership(_ctx: RequestContext, change: MembershipChange): Promise<ServiceResult<{ voters: string[] }>> {
    return this.leadership.changeMembership(change);
  }

  /** The current leader's id, if known. */
  leaderId(): string | undefined {
    return this.commitLog.leaderId;
  }

  /** The group's voters, this node included. */
  voters(): readonly string[] {
    return this.commitLog.status().voters;
  }

  /** Resolves once this node leads its group (or rejects after timeoutMs). */
  async untilLeader(timeoutMs: number): Promise<void> {
    const leads = (): boolean => this.commitLog.leaderId === this.commitLog.id;
    await this.commitLog.waitUntil(() => leads() || this.fatal !== undefined, timeoutMs);
    if (this.fatal) throw this.fatal;
    if (!leads()) throw new Error(`no leadership after ${timeoutMs} ms`);
  }

  // ---- QueueService ------------------------------------------------------------------------

  async submit(ctx: RequestContext, command: Command): Promise<CommandResult> {
    const c = this.forEveryVoter(command);
    return 'kind' in c ? this.submitEncoded(ctx, c, encodeCommand(c)) : c;
  }

  /** `command` in a form every voter applies, while some run the previous release (node/version-gate.ts). */
  private forEveryVoter(command: Command): Command | ErrorResult {
    if (olderReplicasCanApply(command)) return command;
    return commandForVoters(command, votersOnOlderRelease(this.opts.network, this.voters(), this.commitLog.id));
  }

  /**
   * submit, with `command` already encoded as `encoded` (a follower's service call carries it so,
   * checked on arrival): the leader does not encode, and checksum, the bodies again.
   */
  async submitEncoded(_ctx: RequestContext, command: Command, encoded: EncodedCommand): Promise<CommandResult> {
    // A follower's call arrives encoded: the same check as submit's, before anything is proposed.
    if (!olderReplicasCanApply(command)) {
      const c = this.forEveryVoter(command);
      if (!('kind' in c)) return c;
      if (c !== command) return this.submitEncoded(_ctx, c, encodeCommand(c));
    }
    if (this.fatal) return fail('notApplied', undefined, 'node stopped after a storage failure; retry on another member');
    if (this.closing) return fail('notApplied', undefined, 'node is shutting down; retry on another member');
    if (this.inflight >= LIMITS.inflightProposalsMax) return fail('throttled');
    const { payload, metaLen } = encoded;
    this.inflight++;
    try {
      const r = await this.leadership.propose(payload, metaLen);
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
      wal: { bytesWritten: this.state.wal.stats.bytesWritten, segments: this.state.wal.segmentCount(), diskBytes: this.state.wal.diskBytes() },
      broker: this.state.sm.stats(),
      topics: this.state.sm.topicStats(),
      served: { ...this.served, remoteQueueGone: this.pushes.stats().queueGone },
      snapshotsInstalled: this.snapshots.snapshotsInstalled,
      compaction: this.compaction.stats,
    };
  }

  /** Every queue's attributes (counts and oldest message time), for per-queue metrics at scrape time. */
  eachQueue(): Iterable<QueueAttributes> {
    return this.state.sm.eachQueueAttributes();
  }

  async receive(ctx: RequestContext, queueName: string, numOfMsg: number, waitSeconds: number | undefined, options?: ReceiveOptions): Promise<ReceiveOutcome> {
    // The receive itself goes through the log, so it is decided on up-to-date state. The local
    // look-up only picks the wait; a queue missing locally may just not be applied yet (a freshly
    // elected leader), so confirm with a read barrier before answering 4440.
    let settings = this.state.sm.queueSettings(queueName);
    if (!settings) {
      const stale = await this.readBarrier();
      if (stale) return stale;
      settings = this.state.sm.queueSettings(queueName);
      if (!settings) return fail('queueNotExist');
    }
    const waitMs = (waitSeconds ?? settings.pollingWaitSeconds) * 1000;
    const deadline = this.rt.nowMs() + waitMs;
    // A retried attempt's messages are in flight, not visible: its first receive goes through the
    // log whatever is visible (only a FIFO queue remembers attempts).
    let retry = options?.attemptId !== undefined && settings.fifo;
    for (;;) {
      if (retry || this.state.sm.visibleCount(queueName) > 0) {
        retry = false;
        const command: Command = { kind: 'receiveMessages', queueName, numOfMsg, seed: randomU32(this.rt) };
        if (options?.visibilitySeconds !== undefined) command.visibilitySeconds = options.visibilitySeconds;
        if (options?.attemptId !== undefined) command.attemptId = options.attemptId;
        const r = await this.submit(ctx, command);
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
      if (!this.state.sm.queueSettings(queueName)) return fail('queueNotExist');
    }
  }

  async listQueues(_ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<QueueList>> {
    return this.read(() => ({ ok: true, ...this.state.sm.listQueues(searchWord, offset, limit) }));
  }

  async getQueueAttributes(_ctx: RequestContext, queueName: string): Promise<ServiceResult<{ attributes: QueueAttributes }>> {
    return this.read(() => {
      const attributes = this.state.sm.getQueueAttributes(queueName);
      return attributes ? { ok: true, attributes } : fail('queueNotExist');
    });
  }

  async listDeadLetterSourceQueues(
    _ctx: RequestContext,
    deadLetterQueueName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
    scope?: DeadLetterSourceScope,
  ): Promise<ServiceResult<QueueList>> {
    if (scope?.remoteOnly === true) return this.read(() => ({ ok: true, ...this.state.sm.listRemoteDeadLetterSources(deadLetterQueueName, searchWord, offset, limit) }));
    return this.read(() => okList(this.state.sm.listDeadLetterSourceQueues(deadLetterQueueName, searchWord, offset, limit)));
  }

  async listMoveTasks(_ctx: RequestContext, sourceQueue: string): Promise<ServiceResult<{ tasks: MoveTaskView[] }>> {
    return this.read(() => {
      const tasks = this.state.sm.listMoveTasks(sourceQueue);
      return Array.isArray(tasks) ? { ok: true, tasks } : tasks;
    });
  }

  async listTopics(_ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<TopicList>> {
    return this.read(() => ({ ok: true, ...this.state.sm.listTopics(searchWord, offset, limit) }));
  }

  async getTopicAttributes(_ctx: RequestContext, topicName: string): Promise<ServiceResult<{ attributes: TopicAttributes }>> {
    return this.read(() => {
      const attributes = this.state.sm.getTopicAttributes(topicName);
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
    return this.read(() => okList(this.state.sm.listSubscriptions(topicName, searchWord, offset, limit)));
  }

  async getSubscriptionAttributes(_ctx: RequestContext, topicName: string, subscriptionName: string): Promise<ServiceResult<{ attributes: SubscriptionAttributes }>> {
    return this.read(() => {
      const r = this.state.sm.getSubscriptionAttributes(topicName, subscriptionName);
      return 'ok' in r ? r : { ok: true, attributes: r };
    });
  }

  /** The context of work this node starts itself (ticks, push outcomes, compaction), for the service calls it makes. */
  private internalContext(origin: 'tick' | 'push' | 'compaction' | 'move-tasks'): RequestContext {
    return { requestId: `${this.commitLog.id}-${origin}`, clientAddress: '', receivedAtMs: this.rt.nowMs() };
  }

  /**
   * Reads are linearizable: the state machine has applied everything committed before the read
   * began (ReadIndex), so a leader that was just elected, or just deposed, never answers stale.
   */
  private readBarrier(): Promise<ErrorResult | undefined> {
    return this.leadership.readBarrier();
  }

  /** `answer`, computed once the read barrier passed (or the barrier's failure). */
  private async read<T extends object>(answer: () => ServiceResult<T>): Promise<ServiceResult<T>> {
    return (await this.readBarrier()) ?? answer();
  }

  // ---- apply loop ----------------------------------------------------------------------------

  private applyCommitted(entries: LogEntry[]): CommandResult[] {
    const { results, broken } = applyEntries(entries, RAFT_ENTRY_RESULT, fail('internalError'), (e) => {
      const result = this.state.sm.apply(e.index, e.timeMs, e.payload, e.metaLen);
      this.compaction.applied(result);
      if (result.ok && result.kind === 'startMoveTask') this.moveTasks.wake();
      this.opts.onApplied?.(e, result);
      return result;
    });
    // A broken invariant: stop rather than serve a state we cannot trust; restart recovers.
    if (broken !== undefined) {
      this.onFatal(broken);
      return results;
    }
    this.snapshots.countApplied(entries.length);
    this.afterApply();
    return results;
  }

  /** This node leads its group and is serving (background work that proposes runs only then). */
  private leadsAndServes(): boolean {
    return this.commitLog.leaderId === this.commitLog.id && !this.closing && !this.fatal;
  }

  /** Run the push loop exactly while this node leads; wake it after applies. */
  private syncPushes(): void {
    const leads = this.leadsAndServes();
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

  /** Run the move-task loop exactly while this node leads (it resumes the running tasks it finds). */
  private syncMoveTasks(): void {
    const leads = this.leadsAndServes();
    if (leads && !this.moveTasks.isRunning) this.moveTasks.start();
    else if (!leads && this.moveTasks.isRunning) this.moveTasks.stop();
  }

  /** Run pushes and move tasks while leading, wake long polls that can now be served, schedule the next tick, snapshot when due. */
  private afterApply(): void {
    this.syncPushes();
    this.syncMoveTasks();
    for (const q of [...this.parked.queuesWithWaiters()]) {
      if (!this.state.sm.queueSettings(q)) this.parked.wake(q, Infinity);
      else {
        const n = this.state.sm.visibleCount(q);
        if (n > 0) this.parked.wake(q, n);
      }
    }
    this.scheduleTick();
    this.snapshots.snapshotIfDue();
  }

  private scheduleTick(): void {
    const deadline = this.state.sm.nextDeadlineMs();
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

  /** Snapshot the state machine, then delete log segments nobody needs any more. */
  snapshotNow(): Promise<void> {
    return this.snapshots.snapshotNow();
  }

  /** One compaction census now, with the relocation and snapshot request it leads to (tests, tools). */
  compactNow(): Promise<void> {
    return this.compaction.runOnce();
  }

  stats(): NodeStats {
    return {
      lastAppliedIndex: this.state.sm.lastAppliedIndex,
      parkedReceives: this.parked.size,
      inflightProposals: this.inflight,
      corruptBodies: this.bodies.corruptBodies,
      bodiesFromReplicas: this.bodies.bodiesFromReplicas,
      snapshotsTaken: this.snapshots.snapshotsTaken,
      snapshotsInstalled: this.snapshots.snapshotsInstalled,
      segmentsReleased: this.snapshots.segmentsReleased,
      walBytes: this.state.wal.diskBytes(),
      compaction: { ...this.compaction.stats },
    };
  }

  /** Stop serving: answer parked receives, wait for writes in flight, snapshot, close the log. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.tickTimer) this.rt.clearTimeout(this.tickTimer);
    this.compaction.stop();
    this.moveTasks.stop();
    if (this.pushRecheck) this.rt.clearTimeout(this.pushRecheck);
    await this.pushes.stop();
    this.parked.wakeAll();
    await closeReplica({ inflight: () => this.inflight, sleep: (ms) => this.rt.sleep(ms), leadership: this.leadership, snapshots: this.snapshots, receiver: this.receiver, commitLog: this.commitLog });
  }

  private onFatal(err: unknown): void {
    if (this.fatal) return;
    this.fatal = err instanceof Error ? err : new Error(String(err));
    this.compaction.stop();
    this.moveTasks.stop();
    this.log.server.error(`FATAL: ${this.fatal.stack ?? this.fatal.message}`);
    this.opts.onFatal?.(this.fatal);
  }
}

/** Group `group`'s queue state machine, fresh or from a snapshot. */
function queueMachines(group: GroupNumber): MachineKind<QueueStateMachine> {
  const ids = new GroupIds(group);
  return { create: () => new QueueStateMachine(ids), restore: (bytes) => QueueStateMachine.restore(bytes, ids) };
}

/** A list from the state machine as a service result (the list, or the error it gave). */
function okList<T extends object>(r: T | ErrorResult): ServiceResult<T> {
  return 'ok' in r ? r : { ok: true, ...r };
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

