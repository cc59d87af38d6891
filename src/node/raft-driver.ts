// The node's Raft driver (RaftDriver; the core's own in-memory log is src/raft/raft-log.ts):
// proposals become entries of a Raft group (one voter for the embedded single-node server, three
// for a set), committed once a majority has them on disk.
// This file is the driver of ARCHITECTURE-GUIDE §3: it owns the tick timer, persists each Ready
// (hard state, then entries, group-committed by the WAL), sends messages, applies committed
// entries through the listener, and calls advance().

import {
  decodeConfigChange,
  decodeMessage,
  encodeMessage,
  RaftNode,
  type HardState as RaftHardState,
  type LogView,
  type ConfigChange,
  type RaftEntry,
  type RaftMessage,
  type RaftStatus,
  type Role,
  type Ready,
  type SnapshotMeta,
} from '../raft';
import type { DiskStall } from '../storage/disk-stall';
import type { HardStateStore } from '../storage/hard-state';
import type { LogEntry } from '../storage/types';
import type { SegmentedWal } from '../storage/wal';
import type { PeerAddress, PeerNetwork } from '../transport';
import type { SnapshotReceiver, SnapshotSender } from './snapshot-transfer';
import { loggerFor, type Logger, type LogSink } from '../protocol/log';
import { RecentEntries, windowLogView } from './recent-entries';
import { TickScheduler, type TickSource } from './tick-scheduler';
import { stallStepDownMs, stallStepDownTarget } from './stall-step-down';
import type { Runtime, TimerHandle } from '../runtime/timers';

/**
 * Why a proposal, membership change or read did not complete here, as a value: `outcome` says
 * whether a retry is safe. notApplied: nothing was appended anywhere (or, for a read, nothing was
 * read), so a retry cannot apply it twice; outcomeUnknown: the entry was appended and a later
 * leader may still commit it. The driver never rejects its promises with these: failures are
 * results here, and only the node turns them into service errors.
 */
export interface DriverRefusal {
  readonly ok: false;
  readonly outcome: 'notApplied' | 'outcomeUnknown';
  readonly reason: RefusalReason;
  /** Who leads, when known (reason notLeader). */
  readonly leaderHint?: string;
  /** For operators and clients: what happened, in a sentence. */
  readonly detail: string;
}

export type RefusalReason =
  | 'notLeader' // this node does not lead (nothing appended)
  | 'transferring' // leadership is being handed over; retry once it ends (nothing appended)
  | 'refused' // the core refused it before appending (too much in flight, a config change pending)
  | 'diskStalled' // the disk is full or failing here (nothing appended)
  | 'stopped' // the driver stopped (a failure, or shutdown)
  | 'dropped' // another leader's entry took its index: it will never commit
  | 'timeout'; // no commit within the proposal timeout: it may still commit

/** A proposal's fate: the state machine's result, or why there is none. */
export type Proposed<R> = { readonly ok: true; readonly value: R } | DriverRefusal;

function refusal(outcome: DriverRefusal['outcome'], reason: RefusalReason, detail: string, leaderHint?: string): DriverRefusal {
  return leaderHint === undefined ? { ok: false, outcome, reason, detail } : { ok: false, outcome, reason, detail, leaderHint };
}

function notLeader(leaderHint: string | undefined): DriverRefusal {
  return refusal('notApplied', 'notLeader', leaderHint ? `not the leader (leader is ${leaderHint})` : 'not the leader (no leader known)', leaderHint);
}

function dropped(index: number): DriverRefusal {
  return refusal('outcomeUnknown', 'dropped', `proposal at index ${index} was replaced by another leader's entry`);
}

function timedOut(index: number): DriverRefusal {
  return refusal('outcomeUnknown', 'timeout', `proposal at index ${index} was not committed in time; its outcome is unknown`);
}

export interface RaftDriverOptions {
  id: string;
  /** Initial voters; used only when the log and snapshot carry no configuration. */
  voters: string[];
  wal: SegmentedWal;
  hardState: HardStateStore;
  /** This group's view of the peer network; absent for a one-voter group. */
  network?: PeerNetwork;
  /** Peer addresses from the command line (the transport starts with these); given, the driver keeps the transport's peers in step with the configuration. */
  staticPeers?: Readonly<Record<string, PeerAddress>>;
  /** Addresses of voters added by config changes the snapshot covers ("host:port" by node id). */
  learnedAddresses?: Readonly<Record<string, string>>;
  snapshotMeta?: SnapshotMeta;
  /** The state machine already reflects entries up to here. */
  appliedIndex: number;
  lastTimeMs: number;
  /** Config entries in the log after the snapshot, in order. */
  configEntries: RaftEntry[];
  /** Clock, timers and randomness (the simulator passes virtual ones). */
  runtime: Runtime;
  tickMs: number;
  /** The host's tick scheduler, shared by its groups (default: one of this driver's own, every tickMs). */
  ticks?: TickSource;
  electionTicks: number;
  heartbeatTicks: number;
  log: LogSink;
  /** Storage failed or an invariant broke: the node must stop. */
  onFatal: (err: Error) => void;
  /**
   * Stalled storage steps (disk full, I/O errors) shared with the WAL: while one is stalled new
   * proposals are refused, and hard-state saves that hit one are retried rather than fatal.
   */
  diskStall?: DiskStall;
  /** Bytes of recent entries kept in memory, for replication and for serving bodies (default 64 MiB). */
  recentBytesMax?: number;
  /** How long a proposal may wait for its commit (default 10 s). */
  proposalTimeoutMs?: number;
  /** Snapshot transfer with peers (absent for a one-voter group). */
  snapshotTransfer?: {
    sender: SnapshotSender;
    receiver: SnapshotReceiver;
    /**
     * Install the staged snapshot `meta` (the node swaps in the staged log and restores its state
     * machine) and return the log to use from now on and the snapshot's latest entry time.
     */
    install: (meta: SnapshotMeta) => Promise<{ wal: SegmentedWal; lastTimeMs: number; learnedAddresses: Record<string, string> }>;
  };
}

export const RECENT_BYTES_DEFAULT = 64 * 1024 * 1024;
const CORE_WINDOW_BYTES = 16 * 1024 * 1024;
const PROPOSAL_TIMEOUT_DEFAULT_MS = 10_000;
/**
 * Entries read from disk per fetch for a lagging follower: at most the core's RAFT_LIMITS.fetchEntriesMax
 * (it asks for no more; a smaller read is a prefix it asks again after). test/unit/limits-agree.test.ts checks.
 */
export const FETCH_ENTRIES_MAX = 1024;
const APPEND_BYTES_MAX = 1024 * 1024;
/**
 * One AppendEntries in flight per follower: proposals that arrive while it is out go together in
 * the next one, sent when the follower answers. A replication round costs about the same CPU on
 * every member whatever it carries (event-loop turns, socket and log writes, an fsync, the answer),
 * and on a loaded machine that fixed cost, not the disk, sets throughput and tail latency: with 64
 * in flight the leader sent a round per Ready, twice as many (docs/BENCHMARKS.md). A lagging
 * follower still gets APPEND_BYTES_MAX per round trip (about 500 MB/s at a 2 ms round trip), and
 * a lost append is recovered as before, by the heartbeat answer that frees a full pipeline.
 */
const INFLIGHT_APPENDS_MAX = 1;

interface PendingProposal<R> {
  term: number;
  settle: (r: Proposed<R>) => void;
  timer: TimerHandle;
}

type ReadOutcome = { readonly ok: true } | DriverRefusal;

export class RaftDriver<R> {
  private readonly raft: RaftNode;
  private recent: RecentEntries;
  /** The log on disk; replaced when a snapshot from the leader is installed. */
  private wal: SegmentedWal;
  private readonly pending = new Map<number, PendingProposal<R>>();
  /** The core's role as of the last Ready (its soft state). */
  private role: Role = 'follower';
  private readonly pendingConfig = new Map<number, PendingProposal<undefined>>();
  /** Addresses of voters added by config entries: every member must be able to reach them. */
  private readonly learned = new Map<string, string>();
  /**
   * Nodes whose latest config entry removed them, with that entry's index. Only a committed
   * removal takes a node out of the transport's peers: an uncommitted one may yet be replaced by
   * the log of a leader that is that very node, which this node must then be able to answer.
   */
  private readonly removed = new Map<string, number>();
  private peersKey = '';
  /** A config entry was appended, truncated or installed: the peer set may need to change. */
  private membershipDirty = true;
  private readonly reads = new Map<string, { settle: (r: ReadOutcome) => void; index?: number }>();
  private listener: ((entries: LogEntry[]) => R[]) | undefined;
  /** Stops this driver's ticks (at close or after a failure). */
  private readonly stopTicks: () => void;
  private readonly rt: Runtime;
  private readonly leaderWatchers = new Set<() => void>();
  private scheduled = false;
  private processing = false;
  private stopped = false;
  private failure: Error | undefined;
  private readSeq = 0;
  private appliedIndex: number;
  private leader: string | undefined;
  private readonly log: Logger;
  /** The latest term in which this node stood for election (voted for itself). */
  private candidateTerm = 0;
  /** Cumulative since start, read by the metrics endpoint. */
  readonly counters = { elections: 0, leaderChanges: 0, snapshotsSent: 0, snapshotSendFailures: 0, stallStepDowns: 0 };
  private readonly proposalTimeoutMs: number;
  private latestHardState: { term: number; votedFor: string; commitIndex: number } | undefined;
  /**
   * Speculative appends: a proposal accepted by the core is written to the WAL at once, so the
   * WAL's group commit keeps the disk busy while the Ready loop is elsewhere. When a Ready later
   * asks to persist these entries they are already on their way. Safe because the core will ask
   * for exactly these entries (checked), and a truncation removes them as it removes any entry.
   */
  private readonly speculative = new Map<number, { entry: RaftEntry; durable: Promise<void> }>();
  private truncating = false;
  /** Latest entry time this driver has seen or proposed: proposals never need clamping. */
  private lastTimeMs: number;

  constructor(private readonly opts: RaftDriverOptions) {
    this.rt = opts.runtime;
    this.log = loggerFor(opts.log, 'raft', (line) => process.stderr.write(`${line}\n`));
    this.recent = new RecentEntries(opts.recentBytesMax ?? RECENT_BYTES_DEFAULT);
    this.wal = opts.wal;
    for (const [id, a] of Object.entries(opts.learnedAddresses ?? {})) this.learned.set(id, a);
    this.learnConfig(opts.configEntries);
    this.appliedIndex = opts.appliedIndex;
    this.lastTimeMs = opts.lastTimeMs;
    this.proposalTimeoutMs = opts.proposalTimeoutMs ?? PROPOSAL_TIMEOUT_DEFAULT_MS;
    const hs = opts.hardState.current;
    // A vote for itself restored from disk is an earlier run's election, not one of this run.
    this.candidateTerm = hs.term;
    const restored: ConstructorParameters<typeof RaftNode>[0]['restored'] = {
      hardState: { term: hs.term, votedFor: hs.votedFor === '' ? undefined : hs.votedFor, commitIndex: hs.commitIndex },
      configEntries: opts.configEntries,
      appliedIndex: opts.appliedIndex,
      lastTimeMs: opts.lastTimeMs,
    };
    if (opts.snapshotMeta) restored.snapshotMeta = opts.snapshotMeta;
    this.raft = new RaftNode({
      id: opts.id,
      voters: opts.voters,
      electionTicks: opts.electionTicks,
      heartbeatTicks: opts.heartbeatTicks,
      random: () => opts.runtime.random(),
      preVote: true,
      checkQuorum: true,
      maxInflightAppends: INFLIGHT_APPENDS_MAX,
      maxBytesPerAppend: APPEND_BYTES_MAX,
      // The core's own window stays small: its misses are answered from `recent` synchronously.
      maxWindowBytes: CORE_WINDOW_BYTES,
      log: this.logView(),
      restored,
    });
    opts.network?.onMessage((_from, payload) => {
      let msg: RaftMessage;
      try {
        msg = decodeMessage(payload);
      } catch (err) {
        this.log.warn(`dropped an undecodable message: ${String(err)}`);
        return;
      }
      if (msg.type === 'InstallSnapshot') {
        // The core may accept it only when the snapshot and its entries are staged here.
        const receiver = this.opts.snapshotTransfer?.receiver;
        if (!receiver?.isReady(msg.snapshot)) {
          this.log.warn(`ignoring InstallSnapshot ${msg.snapshot.index} from ${msg.from}: not staged here`);
          return;
        }
      }
      if (msg.type === 'TimeoutNow' && this.opts.diskStall?.current()) {
        // Leading needs a working disk: a stalled member declines a hand-over (the leader's
        // transfer times out and it picks again, or an election elects someone else).
        this.log.warn(`declining leadership from ${msg.from}: ${this.opts.diskStall.describe(this.opts.diskStall.current()!)}`, { peer: msg.from });
        return;
      }
      this.guard(() => this.raft.step(msg));
      // Accepted (not, say, already covered by the commit index): no new transfer may replace the
      // staging until it is installed. One the core ignored stays replaceable.
      if (msg.type === 'InstallSnapshot' && this.raft.pendingSnapshotIndex() === msg.snapshot.index) this.opts.snapshotTransfer?.receiver.reserve();
      this.schedule();
    });
    this.updatePeers();
    const ticks = opts.ticks ?? new TickScheduler(this.rt, opts.tickMs);
    this.stopTicks = ticks.subscribe(() => {
      this.guard(() => this.raft.tick());
      this.stepDownIfStalled();
      // The Ready loop answers proposals when it sees the core step down, but a loop held by a
      // stalled disk sees nothing: the tick looks too, so no client waits for the proposal timeout.
      if (this.role === 'leader' && this.pending.size + this.pendingConfig.size > 0 && this.raft.currentRole() !== 'leader') this.settlePendingOnStepDown();
      if (this.leaderWatchers.size > 0) this.notifyLeaderWatchers();
      this.schedule();
    });
    this.schedule();
  }

  onCommit(listener: (entries: LogEntry[]) => R[]): void {
    this.listener = listener;
  }

  get id(): string {
    return this.opts.id;
  }

  /** The payload of a recent entry, if still in memory (saves a disk read when serving bodies). */
  recentPayload(index: number): Uint8Array | undefined {
    return this.recent.get(index)?.payload;
  }

  get leaderId(): string | undefined {
    return this.leader;
  }

  /**
   * Resolves once `until()` holds, checked now, after every Ready and tick, and when the driver
   * stops; false when `timeoutMs` passed first. For waits on leadership (who leads, whether a
   * transfer ended) that would otherwise poll.
   */
  waitUntil(until: () => boolean, timeoutMs: number): Promise<boolean> {
    if (until()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const check = (): void => {
        if (!until() && !this.stopped && !this.failure) return;
        finish(until());
      };
      const finish = (ok: boolean): void => {
        this.leaderWatchers.delete(check);
        this.rt.clearTimeout(timer);
        resolve(ok);
      };
      const timer = this.rt.setTimeout(() => finish(until()), timeoutMs);
      this.leaderWatchers.add(check);
    });
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  /** Proposes a command; resolves with its result once committed and applied, or with why not (never rejects). */
  propose(payload: Uint8Array, metaLen: number): Promise<Proposed<R>> {
    if (this.failure) return Promise.resolve(refusal('notApplied', 'stopped', `the log stopped after a failure: ${this.failure.message}; it was not appended`));
    // Entries already handed to the log wait for the disk (and are acknowledged only once
    // durable); new ones are refused here, before the core sees them, so nothing piles up.
    const stalled = this.opts.diskStall?.current();
    if (stalled) return Promise.resolve(refusal('notApplied', 'diskStalled', `${this.opts.diskStall!.describe(stalled)}; not applied, retry`));
    const timeMs = Math.max(this.rt.nowMs(), this.lastTimeMs);
    const r = this.raft.propose({ kind: 'command', timeMs, metaLen, payload });
    if (!r.ok) {
      if (r.reason === 'notLeader') return Promise.resolve(notLeader(r.leaderHint));
      if (r.reason === 'transferring') return Promise.resolve(refusal('notApplied', 'transferring', 'leadership is being transferred; the proposal was not appended'));
      return Promise.resolve(refusal('notApplied', 'refused', `proposal refused (${r.reason}); it was not appended`));
    }
    this.lastTimeMs = timeMs;
    this.appendSpeculatively({ index: r.index, term: r.term, kind: 'command', timeMs, metaLen, payload });
    this.schedule();
    return this.awaitCommit(this.pending, r.index, r.term);
  }

  /** Settles once the entry at `index` (proposed in `term`) is applied, dropped, or timed out. */
  private awaitCommit<T>(pending: Map<number, PendingProposal<T>>, index: number, term: number): Promise<Proposed<T>> {
    return new Promise<Proposed<T>>((settle) => {
      const timer = this.rt.setTimeout(() => {
        pending.delete(index);
        settle(timedOut(index));
      }, this.proposalTimeoutMs);
      pending.set(index, { term, settle, timer });
    });
  }

  /**
   * Proposes a single-server membership change and resolves once its entry is committed (the new
   * configuration already took effect when the entry was appended).
   */
  proposeConfigChange(change: ConfigChange): Promise<Proposed<undefined>> {
    if (this.failure) return Promise.resolve(refusal('notApplied', 'stopped', `the log stopped after a failure: ${this.failure.message}`));
    const r = this.raft.proposeConfigChange(change);
    if (!r.ok) {
      if (r.reason === 'notLeader') return Promise.resolve(notLeader(r.leaderHint));
      const detail = 'detail' in r ? `: ${r.detail}` : '';
      return Promise.resolve(refusal('notApplied', 'refused', `membership change refused: ${r.reason}${detail}`));
    }
    this.schedule();
    return this.awaitCommit(this.pendingConfig, r.index, r.term);
  }

  /** Addresses learned from config entries (saved with snapshots). */
  learnedAddresses(): Record<string, string> {
    return Object.fromEntries(this.learned);
  }

  /**
   * Resolves once the state machine reflects everything committed before the call (ReadIndex), so
   * a read that follows cannot return stale state, even on a leader that was just deposed.
   */
  readBarrier(): Promise<ReadOutcome> {
    if (this.failure) return Promise.resolve(refusal('notApplied', 'stopped', `the log stopped after a failure: ${this.failure.message}`));
    const stalled = this.opts.diskStall?.current();
    if (stalled) {
      // The Ready loop is held at a persist, so a ReadIndex would wait for the disk. A lone voter
      // cannot be deposed: once everything committed is applied it may answer at once. A member
      // of a set cannot know it still leads: refused, to be retried on another member. After a
      // restart the commit index is only the hint saved on disk, and entries past it (written
      // before a crash) are committed again only by an entry of the new term, which the full
      // disk holds back: until then the state applied is older than what clients were told, so
      // reads are refused rather than answered from it (a queue created then would be missing).
      const st = this.raft.status();
      const sole = st.voters.length === 1 && st.voters[0] === this.opts.id;
      if (sole && st.role === 'leader' && this.appliedIndex >= st.commitIndex && st.commitIndex >= st.persistedIndex) return Promise.resolve({ ok: true });
      return Promise.resolve(refusal('notApplied', 'diskStalled', `${this.opts.diskStall!.describe(stalled)}; not applied, retry`));
    }
    const id = `r${++this.readSeq}`;
    const r = this.raft.readIndex(id);
    if (!r.ok) {
      if (r.reason === 'notLeader') return Promise.resolve(notLeader(r.leaderHint));
      return Promise.resolve(refusal('notApplied', 'refused', `read refused (${r.reason})`));
    }
    this.schedule();
    return new Promise((settle) => this.reads.set(id, { settle }));
  }

  /** What a snapshot of the state machine at applied `index` must record. */
  snapshotMetaAt(index: number): SnapshotMeta {
    return this.raft.snapshotMetaAt(index);
  }

  /** A snapshot at meta.index is saved: the core may forget the entries it covers. */
  compact(meta: SnapshotMeta): void {
    this.guard(() => this.raft.compact(meta));
  }

  transferLeadership(to: string): ReturnType<RaftNode['transferLeadership']> {
    const r = this.raft.transferLeadership(to);
    this.schedule();
    return r;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.stopTicks();
    this.notifyLeaderWatchers();
    while (this.processing) {
      // A Ready waiting for a stalled disk would wait forever: closing the log gives up its
      // unsynced writes (never acknowledged) and releases the Ready loop.
      if (this.opts.diskStall?.current()) void this.wal.close();
      await this.rt.sleep(2);
    }
    // Appended entries may still commit under the next leader; reads just did not happen.
    const closed = refusal('outcomeUnknown', 'stopped', 'the node is shutting down; the entry may still commit');
    for (const map of [this.pending, this.pendingConfig] as Map<number, PendingProposal<unknown>>[]) {
      for (const [, p] of map) {
        this.rt.clearTimeout(p.timer);
        p.settle(closed);
      }
      map.clear();
    }
    for (const [, rd] of this.reads) rd.settle(refusal('notApplied', 'stopped', 'the node is shutting down'));
    this.reads.clear();
    // A current commit hint lets the next start-up apply the log without waiting for an election.
    if (this.latestHardState && !this.failure) {
      const hint = { ...this.latestHardState, commitIndex: Math.min(this.latestHardState.commitIndex, this.appliedIndex) };
      // Only a hint: a full disk at shutdown costs the next start-up an election, nothing more.
      await this.opts.hardState.save(hint).catch((err: unknown) => this.log.warn(`commit hint not saved at close: ${String(err)}`));
    }
    await this.wal.close();
    await this.opts.hardState.close();
  }

  // ---- the Ready loop --------------------------------------------------------------------------

  private appendSpeculatively(entry: RaftEntry): void {
    if (this.truncating || this.failure || entry.index !== this.wal.lastIndex() + 1) return;
    this.recent.add(entry);
    const durable = this.wal.append([entry]);
    durable.catch((err: unknown) => this.fail(err));
    this.speculative.set(entry.index, { entry, durable });
  }

  /**
   * Persist a Ready's entries: those already appended speculatively are awaited (after checking
   * they are exactly what the core asks for); the rest are appended now.
   */
  private async persistEntries(entries: RaftEntry[]): Promise<void> {
    let i = 0;
    let lastDurable: Promise<void> | undefined;
    for (; i < entries.length; i++) {
      const e = entries[i]!;
      const spec = this.speculative.get(e.index);
      if (!spec) break;
      this.speculative.delete(e.index);
      const s = spec.entry;
      if (s.term !== e.term || s.kind !== e.kind || s.timeMs !== e.timeMs || s.metaLen !== e.metaLen || s.payload !== e.payload) {
        // Not what the core wants at this index: replace it (and everything after it).
        this.log.info(`speculative entry ${e.index} differs from the core's; rewriting it`);
        await this.truncateLog(e.index);
        break;
      }
      lastDurable = spec.durable;
    }
    if (lastDurable) await lastDurable;
    this.learnConfig(entries);
    const rest = entries.slice(i);
    if (rest.length === 0) return;
    for (const e of rest) {
      this.recent.add(e);
      if (e.timeMs > this.lastTimeMs) this.lastTimeMs = e.timeMs;
    }
    await this.wal.append(rest);
  }

  private async truncateLog(from: number): Promise<void> {
    this.truncating = true;
    try {
      // Every speculative write in flight must land before the suffix is cut.
      const inFlight = [...this.speculative.values()].map((x) => x.durable);
      for (const i of [...this.speculative.keys()]) if (i >= from) this.speculative.delete(i);
      this.recent.truncateFrom(from);
      this.dropPendingFrom(from);
      for (const [id, index] of this.removed) if (index >= from) this.removed.delete(id);
      this.membershipDirty = true;
      await Promise.allSettled(inFlight);
      await this.wal.truncateSuffix(from);
    } finally {
      this.truncating = false;
    }
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    this.rt.setImmediate(() => {
      this.scheduled = false;
      void this.processReady();
    });
  }

  /** One Ready at a time: persist, send, apply, advance. Proposals meanwhile form the next one. */
  private async processReady(): Promise<void> {
    if (this.processing || this.failure) return;
    this.processing = true;
    try {
      while (!this.stopped && !this.failure && this.raft.hasReady()) {
        const rd = this.raft.ready();
        // A candidacy always reaches the hard state (a new term with a vote for itself) before
        // its vote requests leave, even when the election is won within the same Ready.
        if (rd.hardState && rd.hardState.votedFor === this.opts.id && rd.hardState.term > this.candidateTerm) {
          this.candidateTerm = rd.hardState.term;
          this.counters.elections++;
          // Several in a row without a leader line in between point at a split vote or a cut link.
          this.log.info(`${this.opts.id} stands for election in term ${rd.hardState.term}`, { term: rd.hardState.term });
        }
        if (rd.softState && rd.softState.role !== 'leader' && this.role === 'leader') this.settlePendingOnStepDown();
        if (rd.softState) this.role = rd.softState.role;
        if (rd.softState && rd.softState.leader !== this.leader) {
          if (rd.softState.leader !== undefined) this.counters.leaderChanges++;
          this.leader = rd.softState.leader;
          const term = this.raft.status().term;
          this.log.info(`${this.opts.id} sees leader ${this.leader ?? '(none)'} in term ${term}`, { leader: this.leader ?? null, term });
        }
        this.send(rd.messages);
        if (rd.snapshotToInstall) await this.installSnapshot(rd.snapshotToInstall);
        // Committed entries are already on disk: apply (and answer their clients) now rather than
        // after this Ready's own fsync, which would double every request's latency.
        this.apply(rd.committedEntries);
        // Order per the core's contract: truncate, append, then hard state (a commit hint must
        // never reach disk before the entries it covers), then advance.
        if (rd.truncateFrom !== undefined) await this.truncateLog(rd.truncateFrom);
        if (rd.entriesToPersist.length > 0) await this.persistEntries(rd.entriesToPersist);
        if (rd.hardState) await this.saveHardState(rd.hardState);
        this.answerReads(rd);
        this.raft.advance(rd);
        if (this.leaderWatchers.size > 0) this.notifyLeaderWatchers();
        this.updatePeers();
        for (const f of rd.entryFetches) void this.fetch(f.from, f.to);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.processing = false;
    }
  }

  /** Replace log and state machine with the staged snapshot the core accepted (see snapshot-transfer.ts). */
  private async installSnapshot(meta: SnapshotMeta): Promise<void> {
    const transfer = this.opts.snapshotTransfer;
    if (!transfer) throw new Error(`asked to install snapshot ${meta.index} without snapshot transfer`);
    // Whatever was speculatively appended or cached belongs to the log being replaced.
    await Promise.allSettled([...this.speculative.values()].map((x) => x.durable));
    this.speculative.clear();
    this.recent = new RecentEntries(this.opts.recentBytesMax ?? RECENT_BYTES_DEFAULT);
    for (const [i, p] of this.pending) {
      // Proposals from an earlier leadership: the snapshot may or may not include them.
      this.pending.delete(i);
      this.rt.clearTimeout(p.timer);
      p.settle(timedOut(i));
    }
    const started = this.rt.monotonicMs();
    const installed = await transfer.install(meta);
    transfer.receiver.installed();
    this.wal = installed.wal;
    for (const [id, a] of Object.entries(installed.learnedAddresses)) this.learned.set(id, a);
    this.membershipDirty = true;
    this.lastTimeMs = Math.max(this.lastTimeMs, installed.lastTimeMs);
    this.appliedIndex = meta.index;
    this.raft.snapshotInstalled(meta);
    this.log.info(`${this.opts.id} installed snapshot ${meta.index} (term ${meta.term}) in ${Math.round(this.rt.monotonicMs() - started)} ms`);
  }

  /**
   * Term and vote must be durable before anything that depends on them leaves; the commit index
   * is only a restart hint (the core never needs it back), so a change of it alone is not worth
   * an fsync on the hot path. It is saved along with the next term/vote change and at close.
   */
  private async saveHardState(h: RaftHardState): Promise<void> {
    const next = toStoreHardState(h);
    const cur = this.opts.hardState.current;
    this.latestHardState = next;
    if (next.term === cur.term && next.votedFor === cur.votedFor) return;
    const stall = this.opts.diskStall;
    if (stall) await stall.run(() => this.opts.hardState.save(next), () => this.stopped);
    else await this.opts.hardState.save(next);
  }

  /**
   * A leader whose disk has been stalled for stallStepDownMs hands leadership to a follower
   * (stall-step-down.ts). Its Ready loop is usually held at the stalled write, so the TimeoutNow
   * the core queues could not leave: it is sent from here as well.
   */
  private stepDownIfStalled(): void {
    const stall = this.opts.diskStall;
    const stalled = stall?.current();
    if (!stall || !stalled || this.stopped || this.failure) return;
    const stalledMs = this.rt.nowMs() - stalled.since;
    if (stalledMs < stallStepDownMs(this.opts.electionTicks * this.opts.tickMs)) return;
    const st = this.raft.status();
    const target = stallStepDownTarget(st);
    if (target === undefined || !this.raft.transferLeadership(target).ok) return;
    this.counters.stallStepDowns++;
    this.log.warn(`${this.opts.id} hands leadership to ${target}: ${stall.describe(stalled)} for ${stalledMs} ms`, { target, stalledMs });
    if (this.processing) this.send([{ type: 'TimeoutNow', from: this.opts.id, to: target, term: st.term }]);
    this.schedule();
  }

  private send(messages: RaftMessage[]): void {
    const transport = this.opts.network;
    // A member whose disk is stalled does not campaign: it would have to step down again at once.
    // Campaigns start with a PreVote (TimeoutNow ones are declined above), so it holds those back.
    const stalled = this.opts.diskStall?.current() !== undefined;
    for (const m of messages) {
      if (stalled && m.type === 'PreVote') continue;
      if (m.type === 'InstallSnapshot') {
        this.shipSnapshot(m);
        continue;
      }
      if (!transport) continue;
      try {
        transport.send(m.to, encodeMessage(m));
      } catch (err) {
        this.log.warn(`cannot send ${m.type} to ${m.to}: ${String(err)}`, { peer: m.to });
      }
    }
  }

  /**
   * Stream the snapshot and its entries to the follower, then send the InstallSnapshot message
   * itself (which the follower's core accepts only once everything is staged there).
   */
  private shipSnapshot(m: Extract<RaftMessage, { type: 'InstallSnapshot' }>): void {
    const sender = this.opts.snapshotTransfer?.sender;
    const transport = this.opts.network;
    if (!sender || !transport) {
      this.raft.reportSnapshot(m.to, 'failed');
      return;
    }
    // A transfer still running reports when it ends; the core waits for it.
    if (sender.isSending(m.to)) return;
    this.log.info(`${m.to} is behind the compacted log; sending snapshot ${m.snapshot.index}`, { peer: m.to });
    sender.send(m.to, m.snapshot).then(
      () => {
        this.counters.snapshotsSent++;
        if (this.stopped || this.failure) return;
        try {
          transport.send(m.to, encodeMessage(m));
        } catch (err) {
          this.log.warn(`cannot send InstallSnapshot to ${m.to}: ${String(err)}`, { peer: m.to });
        }
        this.guard(() => this.raft.reportSnapshot(m.to, 'finished'));
        this.schedule();
      },
      (err: unknown) => {
        this.counters.snapshotSendFailures++;
        this.log.error(`snapshot transfer to ${m.to} failed: ${err instanceof Error ? err.message : String(err)}`, { peer: m.to });
        if (this.stopped || this.failure) return;
        this.guard(() => this.raft.reportSnapshot(m.to, 'failed'));
        this.schedule();
      },
    );
  }

  /** Remember the addresses config entries carry and who they removed. */
  private learnConfig(entries: readonly RaftEntry[]): void {
    for (const e of entries) {
      if (e.kind !== 'config') continue;
      this.membershipDirty = true;
      let change: ConfigChange;
      try {
        change = decodeConfigChange(e.payload).change;
      } catch {
        continue; // the core refuses it loudly; the address book just skips it
      }
      if (change.type === 'addVoter') {
        this.removed.delete(change.node);
        if (change.address !== undefined) this.learned.set(change.node, change.address);
      } else this.removed.set(change.node, e.index);
    }
  }

  /**
   * Keep the transport's peer set equal to: the voters, the command line's peers and the nodes
   * config entries added, minus nodes a committed config entry removed and not voters again;
   * addresses learned from config entries win over the command line's.
   */
  private updatePeers(): void {
    const transport = this.opts.network;
    // Without staticPeers the caller manages the transport's peers itself.
    if (!transport || !this.opts.staticPeers || !this.membershipDirty) return;
    this.membershipDirty = false;
    const { voters, commitIndex } = this.raft.status();
    const ids = new Set<string>([...Object.keys(this.opts.staticPeers ?? {}), ...voters, ...this.learned.keys()]);
    const peers: Record<string, PeerAddress> = {};
    for (const id of [...ids].sort()) {
      const removedAt = this.removed.get(id);
      if (id === this.opts.id || (removedAt !== undefined && removedAt <= commitIndex && !voters.includes(id))) continue;
      const learned = this.learned.get(id);
      const address = learned !== undefined ? parseAddress(learned) : this.opts.staticPeers?.[id];
      if (address) peers[id] = address;
    }
    const key = JSON.stringify(peers);
    if (key === this.peersKey) return;
    if (this.peersKey !== '') this.log.info(`${this.opts.id} now talks to ${Object.keys(peers).join(', ') || 'nobody'}`);
    this.peersKey = key;
    transport.setPeers(peers);
  }

  private apply(entries: RaftEntry[]): void {
    if (entries.length === 0) return;
    for (const e of entries) {
      if (e.kind !== 'config') continue;
      // A removal that commits now takes its node out of the peers (updatePeers, after this Ready).
      this.membershipDirty = true;
      const p = this.pendingConfig.get(e.index);
      if (!p) continue;
      this.pendingConfig.delete(e.index);
      this.rt.clearTimeout(p.timer);
      p.settle(p.term === e.term ? { ok: true, value: undefined } : dropped(e.index));
    }
    const listener = this.listener;
    if (!listener) throw new Error('RaftDriver: no commit listener');
    const results = listener(entries);
    entries.forEach((e, i) => {
      const p = this.pending.get(e.index);
      if (!p) return;
      this.pending.delete(e.index);
      this.rt.clearTimeout(p.timer);
      p.settle(p.term === e.term ? { ok: true, value: results[i]! } : dropped(e.index));
    });
    this.appliedIndex = entries[entries.length - 1]!.index;
    this.raft.appliedTo(this.appliedIndex);
    for (const [id, r] of this.reads) {
      if (r.index !== undefined && r.index <= this.appliedIndex) {
        this.reads.delete(id);
        r.settle({ ok: true });
      }
    }
  }

  private answerReads(rd: Ready): void {
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.requestId);
      if (!r) continue;
      if (rs.index <= this.appliedIndex) {
        this.reads.delete(rs.requestId);
        r.settle({ ok: true });
      } else r.index = rs.index;
    }
    for (const id of rd.droppedReads) {
      const r = this.reads.get(id);
      if (!r) continue;
      this.reads.delete(id);
      r.settle(notLeader(this.leader));
    }
  }

  /**
   * This node stopped leading (check-quorum found no majority, a higher term, a transfer): what it
   * proposed may still be committed by the next leader, or replaced; it cannot tell, and waiting
   * would hold its clients until a heal or the proposal timeout. Answer them now.
   */
  private settlePendingOnStepDown(): void {
    const stepped = refusal('outcomeUnknown', 'dropped', `${this.opts.id} stopped leading before the entry committed`);
    for (const map of [this.pending, this.pendingConfig] as Map<number, PendingProposal<unknown>>[]) {
      for (const [, p] of map) {
        this.rt.clearTimeout(p.timer);
        p.settle(stepped);
      }
      map.clear();
    }
  }

  /** Proposals at or after `index` were overwritten before they could commit. */
  private dropPendingFrom(index: number): void {
    for (const map of [this.pending, this.pendingConfig] as Map<number, PendingProposal<unknown>>[]) {
      for (const [i, p] of map) {
        if (i >= index) {
          map.delete(i);
          this.rt.clearTimeout(p.timer);
          p.settle(dropped(i));
        }
      }
    }
  }

  private async fetch(from: number, to: number): Promise<void> {
    const wal = this.wal;
    try {
      const hi = Math.min(to, from + FETCH_ENTRIES_MAX - 1);
      const entries = await wal.readEntries(from, hi, { tolerateKnownDamage: true });
      if (wal !== this.wal) return; // a snapshot replaced the log meanwhile
      this.guard(() => this.raft.entriesLoaded(entries));
      this.schedule();
    } catch (err) {
      if (wal !== this.wal) return;
      // Damaged record headers or meta (a damaged body alone is returned as known damage): stop
      // (a restart's recovery finds and reports it) rather than retry the same failing read forever.
      this.log.error(`loading entries ${from}..${to} failed: ${String(err)}`);
      this.fail(err);
    }
  }

  private logView(): LogView {
    // `wal` and `recent` are replaced by a snapshot install: read them at each call.
    return windowLogView(
      { firstIndex: () => this.wal.firstIndex(), lastIndex: () => this.wal.lastIndex(), term: (index) => this.wal.termAt(index) },
      () => this.recent,
    );
  }

  private notifyLeaderWatchers(): void {
    for (const w of [...this.leaderWatchers]) w();
  }

  /** Runs a core call; a broken invariant stops the node (it restarts and recovers from disk). */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    // After close() began, a write given up on (a stalled disk) is not a failure of the node.
    if (this.failure || this.stopped) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    this.stopTicks();
    this.notifyLeaderWatchers();
    const why = `the node stopped after a failure (${this.failure.message})`;
    for (const map of [this.pending, this.pendingConfig] as Map<number, PendingProposal<unknown>>[]) {
      for (const [, p] of map) {
        this.rt.clearTimeout(p.timer);
        p.settle(refusal('outcomeUnknown', 'stopped', `${why}; the entry may still commit`));
      }
      map.clear();
    }
    for (const [, rd] of this.reads) rd.settle(refusal('notApplied', 'stopped', why));
    this.reads.clear();
    this.opts.onFatal(this.failure);
  }
}

/** "host:port" (the host may be a bracketed IPv6 address) as a PeerAddress. */
export function parseAddress(a: string): PeerAddress | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(a);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port > 0 && port <= 65535 ? { host: m[1]!, port } : undefined;
}

function toStoreHardState(h: RaftHardState): { term: number; votedFor: string; commitIndex: number } {
  return { term: h.term, votedFor: h.votedFor ?? '', commitIndex: h.commitIndex };
}
