// The Raft core of one node, shaped like etcd's RawNode: the driver feeds it ticks, messages and
// proposals, takes a Ready (what to persist, send, apply), does it, and calls advance(). The core
// does no I/O, reads no clock and draws randomness only from the injected `random`.
//
// Beyond the paper's Figure 2: pre-vote and check-quorum (thesis §9.6), pipelined and batched
// AppendEntries with per-peer flow control, InstallSnapshot progress, leader transfer (§3.10),
// single-server membership changes taking effect when appended (§4.1), and ReadIndex (§6.4).

import { raftAssert } from './assert';
import { decodeConfigChange, encodeConfigChange } from './codec';
import { entryBytes, RAFT_LIMITS } from './limits';
import { applyChange, majorityValue, Membership, quorum } from './membership';
import { Progress } from './progress';
import { RaftLog } from './raft-log';
import type {
  AppendEntries,
  AppendEntriesResponse,
  ConfigChange,
  ConfigChangeResult,
  EntryFetch,
  HardState,
  Heartbeat,
  InstallSnapshot,
  PreVote,
  ProposeResult,
  RaftConfig,
  RaftEntry,
  RaftMessage,
  RaftStatus,
  ReadIndexResult,
  ReadState,
  Ready,
  RequestVote,
  Role,
  SnapshotMeta,
  SoftState,
  TransferResult,
} from './types';

/** Distributes Omit over a union, so each message variant keeps its own fields. */
type Outgoing = RaftMessage extends infer M ? (M extends RaftMessage ? Omit<M, 'from' | 'term'> & { term?: number } : never) : never;

interface PendingRead {
  requestId: string;
  index: number;
  seq: number;
}

export class RaftNode {
  readonly id: string;
  private readonly cfg: RaftConfig;
  private readonly maxInflightBytes: number;
  private readonly maxUncommittedBytes: number;

  // Persistent state (Raft paper Figure 2): currentTerm, votedFor, log[].
  private term = 0;
  private votedFor: string | undefined;
  private readonly log: RaftLog;
  private readonly membership: Membership;

  // Volatile state.
  private role: Role = 'follower';
  private leader: string | undefined;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Votes received in the current (pre-)campaign. */
  private votes = new Map<string, boolean>();

  // Leader state: one Progress per other voter (nextIndex[], matchIndex[]).
  private readonly progress = new Map<string, Progress>();
  /** Index of the noop this leader appended when it took office. */
  private termStartIndex = 0;
  private leadTransferee: string | undefined;
  private transferElapsed = 0;
  /** (index, bytes) of entries this leader appended and has not committed, from uncommittedHead on. */
  private uncommitted: { index: number; bytes: number }[] = [];
  private uncommittedHead = 0;
  private uncommittedBytes = 0;
  /** Peers to send AppendEntries to when the Ready is built (batching); value: send even if empty. */
  private readonly appendDirty = new Map<string, boolean>();

  // ReadIndex (thesis §6.4).
  private readSeq = 0;
  private readHeartbeatDue = false;
  private pendingReads: PendingRead[] = [];
  private readsAwaitingTermCommit: string[] = [];
  private readStates: ReadState[] = [];
  private droppedReads: string[] = [];

  // Entry loads requested from the driver (one at a time).
  private fetchOutstanding: { from: number; to: number; ageTicks: number } | undefined;
  private fetchesToEmit: EntryFetch[] = [];
  private committedFetchPending = false;

  // The Ready cycle.
  private msgs: RaftMessage[] = [];
  /** Messages that may leave only once the state produced so far is durable. */
  private msgsAfterPersist: RaftMessage[] = [];
  /** msgsAfterPersist bound to the outstanding Ready: released when it is advanced. */
  private msgsBound: RaftMessage[] = [];
  private msgsReleased: RaftMessage[] = [];
  private readyOutstanding: Ready | undefined;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private snapshotEmittedIndex = 0;
  private snapshotInstalledIndex = 0;

  constructor(config: RaftConfig) {
    raftAssert(config.electionTicks > config.heartbeatTicks && config.heartbeatTicks >= 1, 'need electionTicks > heartbeatTicks >= 1');
    raftAssert(config.maxInflightAppends >= 1 && config.maxBytesPerAppend >= 1, 'flow-control limits must be positive');
    this.cfg = config;
    this.id = config.id;
    this.maxInflightBytes = config.maxInflightBytes ?? RAFT_LIMITS.inflightBytesDefault;
    this.maxUncommittedBytes = config.maxUncommittedBytes ?? RAFT_LIMITS.uncommittedBytesDefault;
    const r = config.restored;
    this.log = new RaftLog(
      config.log,
      r.snapshotMeta,
      r.hardState.commitIndex,
      r.appliedIndex,
      r.lastTimeMs,
      config.maxWindowBytes ?? RAFT_LIMITS.windowBytesDefault,
    );
    this.membership = new Membership({ index: this.log.snapshotIndex, voters: r.snapshotMeta?.voters ?? config.voters });
    for (const e of r.configEntries) {
      raftAssert(e.kind === 'config', () => `restored config entry ${e.index} has kind ${e.kind}`);
      raftAssert(this.log.term(e.index) === e.term, () => `restored config entry ${e.index} is not in the log`);
      this.membership.append(e.index, decodeConfigChange(e.payload).voters);
    }
    // A crash may persist a Ready's entries but not its hard state. No vote or response left for
    // that state (they wait for it), so adopting the log's last term with no vote is safe.
    const lastTerm = this.log.lastTerm();
    this.term = Math.max(r.hardState.term, lastTerm);
    this.votedFor = this.term === r.hardState.term ? r.hardState.votedFor : undefined;
    this.becomeFollower(this.term, undefined);
    this.prevSoft = this.softState();
    this.prevHard = { ...r.hardState };
  }

  // ==== the driver's API ============================================================================

  tick(): void {
    this.tickFetch();
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  step(m: RaftMessage): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (m.term > this.term) {
      if (m.type === 'RequestVote' || m.type === 'PreVote') {
        const force = m.type === 'RequestVote' && m.transfer;
        // Leader lease (check-quorum): while we hear from a live leader, a vote request is a
        // disruption (e.g. a node rejoining after a partition), not an election.
        if (!force && this.inLease()) return;
      }
      if (m.type === 'PreVote' || (m.type === 'PreVoteResponse' && m.voteGranted)) {
        // A pre-vote never changes anyone's term.
      } else {
        const fromLeader = m.type === 'AppendEntries' || m.type === 'Heartbeat' || m.type === 'InstallSnapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : undefined);
      }
    } else if (m.term < this.term) {
      this.answerStale(m);
      return;
    }
    if (m.type === 'RequestVote' || m.type === 'PreVote') {
      this.handleVoteRequest(m); // the same rules in every role
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  propose(entry: { kind: 'command'; timeMs: number; metaLen: number; payload: Uint8Array }): ProposeResult {
    raftAssert(
      Number.isFinite(entry.timeMs) && Number.isInteger(entry.metaLen) && entry.metaLen >= 0 && entry.metaLen <= entry.payload.length,
      'propose: bad timeMs or metaLen',
    );
    if (this.role !== 'leader') return this.notLeader();
    if (this.leadTransferee !== undefined) return { ok: false, reason: 'transferring' };
    const bytes = entryBytes(entry.payload.length);
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.maxUncommittedBytes) {
      return { ok: false, reason: 'tooMuchInFlight' };
    }
    const index = this.log.lastIndex() + 1;
    // Built field by field in the order every RaftEntry is (codec, driver, config and noop entries):
    // a spread gave proposals a shape of their own, and the log's hot loops saw two.
    const timeMs = Math.max(entry.timeMs, this.log.lastTimeMs);
    this.appendAsLeader({ index, term: this.term, kind: entry.kind, timeMs, metaLen: entry.metaLen, payload: entry.payload });
    return { ok: true, index, term: this.term };
  }

  proposeConfigChange(change: ConfigChange): ConfigChangeResult {
    if (this.role !== 'leader') return this.notLeader();
    if (this.leadTransferee !== undefined) return { ok: false, reason: 'transferring' };
    // One change at a time, and only once this leader has committed an entry of its own term
    // (otherwise an uncommitted change of an earlier leader could still be superseded).
    if (this.membership.latestIndex > this.log.commitIndex || !this.committedInTerm()) {
      return { ok: false, reason: 'configChangeInProgress' };
    }
    const voters = applyChange(this.membership.voters, change);
    if (typeof voters === 'string') return { ok: false, reason: 'invalidChange', detail: voters };
    const index = this.log.lastIndex() + 1;
    const payload = encodeConfigChange({ change, voters });
    this.appendAsLeader({ index, term: this.term, kind: 'config', timeMs: this.log.lastTimeMs, metaLen: 0, payload });
    return { ok: true, index, term: this.term };
  }

  transferLeadership(to: string): TransferResult {
    if (this.role !== 'leader') return this.notLeader();
    if (to === this.id) {
      this.leadTransferee = undefined;
      return { ok: true };
    }
    const pr = this.progress.get(to);
    if (!pr || !this.membership.isVoter(to)) return { ok: false, reason: 'notVoter' };
    if (this.leadTransferee === to) return { ok: true };
    this.leadTransferee = to;
    this.transferElapsed = 0;
    if (pr.matchIndex === this.log.lastIndex()) this.send({ type: 'TimeoutNow', to });
    else this.markDirty(to, true);
    return { ok: true };
  }

  readIndex(requestId: string): ReadIndexResult {
    if (this.role !== 'leader') return this.notLeader();
    if (this.pendingReads.length + this.readsAwaitingTermCommit.length >= RAFT_LIMITS.pendingReadsMax) {
      return { ok: false, reason: 'tooMuchInFlight' };
    }
    // Until this leader commits an entry of its term, its commitIndex may be behind the cluster's.
    if (!this.committedInTerm()) this.readsAwaitingTermCommit.push(requestId);
    else this.registerRead(requestId);
    return { ok: true };
  }

  /** The driver's transfer of a snapshot to `peer` ended (see Ready.messages InstallSnapshot). */
  reportSnapshot(peer: string, outcome: 'finished' | 'failed'): void {
    const pr = this.role === 'leader' ? this.progress.get(peer) : undefined;
    if (!pr || pr.state !== 'snapshot') return;
    if (outcome === 'failed') pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Either way wait for the follower's answer (or the next heartbeat) before probing.
    pr.probeSent = true;
  }

  /** Entries the driver loaded for an entryFetch (any prefix of the range). */
  entriesLoaded(entries: RaftEntry[]): void {
    this.fetchOutstanding = undefined;
    this.committedFetchPending = false;
    if (!this.log.acceptLoaded(entries)) return;
    if (this.role === 'leader') for (const id of this.progress.keys()) this.markDirty(id, false);
  }

  /** The driver installed Ready.snapshotToInstall (state machine and log). */
  snapshotInstalled(meta: SnapshotMeta): void {
    this.log.snapshotInstalled(meta);
    this.snapshotInstalledIndex = meta.index;
  }

  appliedTo(index: number): void {
    this.log.appliedTo(index);
  }

  /** What a snapshot of the state machine at applied `index` must record. */
  snapshotMetaAt(index: number): SnapshotMeta {
    raftAssert(index <= this.log.appliedIndex, () => `snapshotMetaAt(${index}) beyond appliedIndex ${this.log.appliedIndex}`);
    const term = this.log.term(index);
    raftAssert(term !== undefined, () => `snapshotMetaAt(${index}): entry is compacted`);
    return { index, term, voters: this.membership.votersAt(index) };
  }

  /** The driver saved a snapshot: entries up to meta.index may be forgotten (and are sent as snapshots). */
  compact(meta: SnapshotMeta): void {
    if (meta.index <= this.log.snapshotIndex) return;
    const expected = this.membership.votersAt(meta.index);
    raftAssert(
      [...meta.voters].sort().join('\n') === expected.join('\n'),
      () => `compact(${meta.index}): voters ${meta.voters.join(',')} differ from the log's ${expected.join(',')}`,
    );
    this.log.compact(meta);
    this.membership.compact(meta.index);
  }

  hasReady(): boolean {
    if (this.readyOutstanding) return false;
    this.flushSends();
    return (
      this.softChanged() ||
      this.hardChanged() ||
      this.log.hasUnpersisted() ||
      (this.log.pendingSnapshot !== undefined && this.snapshotEmittedIndex !== this.log.pendingSnapshot.index) ||
      (!this.committedFetchPending && this.log.hasCommittedToApply()) ||
      this.msgs.length > 0 ||
      this.msgsAfterPersist.length > 0 ||
      this.msgsReleased.length > 0 ||
      this.readStates.length > 0 ||
      this.droppedReads.length > 0 ||
      this.fetchesToEmit.length > 0
    );
  }

  ready(): Ready {
    raftAssert(this.readyOutstanding === undefined, 'ready() called again before advance()');
    this.flushSends();
    const rd: Ready = {
      entriesToPersist: [],
      committedEntries: [],
      messages: [],
      readStates: this.readStates,
      droppedReads: this.droppedReads,
      entryFetches: [],
    };
    this.readStates = [];
    this.droppedReads = [];
    if (this.softChanged()) rd.softState = this.prevSoft = this.softState();
    if (this.hardChanged()) rd.hardState = this.prevHard = this.hardState();
    const pending = this.log.pendingSnapshot;
    if (pending && this.snapshotEmittedIndex !== pending.index) {
      rd.snapshotToInstall = pending;
      this.snapshotEmittedIndex = pending.index;
    }
    const { entries, truncateFrom } = this.log.takeUnpersisted();
    rd.entriesToPersist = entries;
    if (truncateFrom !== undefined) rd.truncateFrom = truncateFrom;
    if (!this.committedFetchPending) {
      const committed = this.log.takeCommitted();
      if (committed === 'unavailable') {
        this.committedFetchPending = true;
        this.requestFetch(this.log.applyingIndex + 1, Math.min(this.log.commitIndex, this.log.persistedIndex));
      } else {
        rd.committedEntries = committed;
      }
    }
    rd.entryFetches = this.fetchesToEmit;
    this.fetchesToEmit = [];
    rd.messages = this.msgs.concat(this.msgsReleased);
    this.msgs = [];
    this.msgsReleased = [];
    const persists = rd.entriesToPersist.length > 0 || rd.hardState !== undefined || rd.snapshotToInstall !== undefined;
    // Everything before this Ready is durable (advance was called); if this Ready persists nothing,
    // the held messages depend on nothing outstanding and may leave now.
    if (persists) this.msgsBound = this.msgsAfterPersist;
    else rd.messages.push(...this.msgsAfterPersist);
    this.msgsAfterPersist = [];
    this.readyOutstanding = rd;
    return rd;
  }

  /** The driver persisted the Ready's entries and hard state (and installed its snapshot) and sent its messages. */
  advance(rd: Ready): void {
    raftAssert(rd === this.readyOutstanding, 'advance() with a Ready that is not the outstanding one');
    if (rd.snapshotToInstall) {
      raftAssert(this.snapshotInstalledIndex === rd.snapshotToInstall.index, 'advance() before snapshotInstalled()');
    }
    this.readyOutstanding = undefined;
    this.log.stableTo(rd.entriesToPersist);
    this.msgsReleased.push(...this.msgsBound);
    this.msgsBound = [];
    if (this.role === 'leader') this.maybeCommit();
  }

  /** The index of the snapshot the core accepted and the driver has yet to install, if any. */
  pendingSnapshotIndex(): number | undefined {
    return this.log.pendingSnapshot?.index;
  }

  /** The role alone: what a caller asking often needs, without the copies `status()` makes. */
  currentRole(): Role {
    return this.role;
  }

  status(): RaftStatus {
    const progress: RaftStatus['progress'] = {};
    for (const [id, pr] of this.progress) progress[id] = pr.status();
    const s: RaftStatus = {
      id: this.id,
      term: this.term,
      votedFor: this.votedFor,
      role: this.role,
      leader: this.leader,
      commitIndex: this.log.commitIndex,
      appliedIndex: this.log.appliedIndex,
      lastIndex: this.log.lastIndex(),
      persistedIndex: this.log.persistedIndex,
      snapshotIndex: this.log.snapshotIndex,
      voters: [...this.membership.voters],
      progress,
    };
    if (this.leadTransferee !== undefined) s.leadTransferee = this.leadTransferee;
    return s;
  }

  // ==== hooks overridden only by the simulator's deliberately broken variants =====================

  /** Raft §5.4.2: a leader commits by counting replicas only entries of its own term. */
  protected canCommitAt(index: number): boolean {
    return this.log.term(index) === this.term;
  }

  /** Figure 2 RequestVote rule: vote at most once per term (pre-votes: only for a later term). */
  protected mayVoteFor(m: RequestVote | PreVote): boolean {
    return (
      this.votedFor === m.from ||
      (this.votedFor === undefined && this.leader === undefined) ||
      (m.type === 'PreVote' && m.term > this.term)
    );
  }

  // ==== roles ======================================================================================

  private becomeFollower(term: number, leader: string | undefined): void {
    if (term > this.term) {
      this.term = term;
      this.votedFor = undefined;
    }
    const wasLeader = this.role === 'leader';
    this.role = 'follower';
    this.leader = leader;
    this.resetTimers();
    if (wasLeader || this.progress.size > 0) this.leaveLeadership();
  }

  private leaveLeadership(): void {
    this.progress.clear();
    this.appendDirty.clear();
    this.leadTransferee = undefined;
    this.uncommitted = [];
    this.uncommittedHead = 0;
    this.uncommittedBytes = 0;
    this.readHeartbeatDue = false;
    this.droppedReads.push(...this.readsAwaitingTermCommit, ...this.pendingReads.map((r) => r.requestId));
    this.readsAwaitingTermCommit = [];
    this.pendingReads = [];
  }

  private becomePreCandidate(): void {
    raftAssert(this.role !== 'leader', 'a leader cannot become a pre-candidate');
    // The term does not change: a pre-vote only asks whether an election could be won.
    this.role = 'preCandidate';
    this.leader = undefined;
    this.resetTimers();
    this.votes = new Map([[this.id, true]]);
    if (this.tallyVotes() === 'won') {
      this.becomeCandidate(false);
      return;
    }
    for (const to of this.otherVoters()) {
      this.send({ type: 'PreVote', to, term: this.term + 1, lastLogIndex: this.log.lastIndex(), lastLogTerm: this.log.lastTerm() });
    }
  }

  private becomeCandidate(transfer: boolean): void {
    raftAssert(this.role !== 'leader', 'a leader cannot become a candidate');
    this.term += 1;
    this.votedFor = this.id;
    this.role = 'candidate';
    this.leader = undefined;
    this.resetTimers();
    this.votes = new Map([[this.id, true]]);
    if (this.tallyVotes() === 'won') {
      this.becomeLeader();
      return;
    }
    for (const to of this.otherVoters()) {
      this.send({ type: 'RequestVote', to, lastLogIndex: this.log.lastIndex(), lastLogTerm: this.log.lastTerm(), transfer });
    }
  }

  private becomeLeader(): void {
    raftAssert(this.role === 'candidate', 'only a candidate becomes leader');
    this.role = 'leader';
    this.leader = this.id;
    this.resetTimers();
    this.progress.clear();
    const next = this.log.lastIndex() + 1;
    for (const id of this.otherVoters()) this.addProgress(id, next);
    this.readSeq = 0;
    this.termStartIndex = next;
    // A noop of our own term: committing it commits every earlier entry (§5.4.2) and unblocks reads.
    this.appendAsLeader({ index: next, term: this.term, kind: 'noop', timeMs: this.log.lastTimeMs, metaLen: 0, payload: new Uint8Array(0) });
  }

  private addProgress(id: string, nextIndex: number): void {
    const pr = new Progress(nextIndex, this.cfg.maxInflightAppends, this.maxInflightBytes);
    pr.recentActive = true;
    this.progress.set(id, pr);
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + Math.floor(this.cfg.random() * this.cfg.electionTicks);
    raftAssert(
      this.randomizedElectionTimeout >= this.cfg.electionTicks && this.randomizedElectionTimeout < 2 * this.cfg.electionTicks,
      'random() must return a number in [0, 1)',
    );
  }

  // ==== ticks ======================================================================================

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout && this.promotable()) {
      this.electionElapsed = 0;
      if (this.cfg.preVote) this.becomePreCandidate();
      else this.becomeCandidate(false);
    }
  }

  private tickLeader(): void {
    this.electionElapsed++;
    this.heartbeatElapsed++;
    if (this.leadTransferee !== undefined && ++this.transferElapsed >= this.cfg.electionTicks) {
      this.leadTransferee = undefined; // the transfer did not complete within an election timeout
    }
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, undefined);
          return;
        }
        for (const pr of this.progress.values()) pr.recentActive = false;
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  private tickFetch(): void {
    if (this.fetchOutstanding && ++this.fetchOutstanding.ageTicks > 2 * this.cfg.electionTicks) {
      // The driver never answered: ask again when the entries are next needed.
      this.fetchOutstanding = undefined;
      this.committedFetchPending = false;
    }
  }

  private inLease(): boolean {
    return this.cfg.checkQuorum && this.leader !== undefined && this.electionElapsed < this.cfg.electionTicks;
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.membership.voters) if (id === this.id || this.progress.get(id)?.recentActive) active++;
    return active >= quorum(this.membership.voters.length);
  }

  private promotable(): boolean {
    return this.membership.isVoter(this.id) && this.log.pendingSnapshot === undefined;
  }

  // ==== receiving =================================================================================

  /** A message from an older term: tell leaders and candidates about ours so they step down. */
  private answerStale(m: RaftMessage): void {
    switch (m.type) {
      case 'AppendEntries':
        this.send({ type: 'AppendEntriesResponse', to: m.from, success: false, rejectedIndex: m.prevLogIndex, hintIndex: 0, hintTerm: 0 });
        return;
      case 'Heartbeat':
        this.send({ type: 'HeartbeatResponse', to: m.from, readSeq: 0 });
        return;
      case 'RequestVote':
        this.send({ type: 'RequestVoteResponse', to: m.from, voteGranted: false });
        return;
      case 'PreVote':
        this.send({ type: 'PreVoteResponse', to: m.from, voteGranted: false });
        return;
      case 'InstallSnapshot':
      case 'TimeoutNow':
      case 'RequestVoteResponse':
      case 'PreVoteResponse':
      case 'AppendEntriesResponse':
      case 'HeartbeatResponse':
      case 'InstallSnapshotResponse':
        return;
    }
  }

  private handleVoteRequest(m: RequestVote | PreVote): void {
    const responseType = m.type === 'RequestVote' ? 'RequestVoteResponse' : 'PreVoteResponse';
    if (this.mayVoteFor(m) && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      // A granted pre-vote carries the term the candidate asked about, so it can tell rounds apart.
      this.send({ type: responseType, to: m.from, term: m.term, voteGranted: true });
      if (m.type === 'RequestVote') {
        this.electionElapsed = 0;
        this.votedFor = m.from;
      }
    } else {
      this.send({ type: responseType, to: m.from, voteGranted: false });
    }
  }

  private stepFollower(m: RaftMessage): void {
    switch (m.type) {
      case 'AppendEntries':
        this.heardFromLeader(m.from);
        this.handleAppendEntries(m);
        return;
      case 'Heartbeat':
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'InstallSnapshot':
        this.heardFromLeader(m.from);
        this.handleInstallSnapshot(m);
        return;
      case 'TimeoutNow':
        // Leader transfer: campaign at once, skipping pre-vote and the others' leases.
        if (this.promotable()) this.becomeCandidate(true);
        return;
      case 'RequestVote':
      case 'PreVote':
      case 'RequestVoteResponse':
      case 'PreVoteResponse':
      case 'AppendEntriesResponse':
      case 'HeartbeatResponse':
      case 'InstallSnapshotResponse':
        return;
    }
  }

  private heardFromLeader(from: string): void {
    this.electionElapsed = 0;
    this.leader = from;
  }

  private stepCandidate(m: RaftMessage): void {
    switch (m.type) {
      case 'AppendEntries':
      case 'Heartbeat':
      case 'InstallSnapshot':
        // A leader of our term exists (for a pre-candidate: of the term we did not leave).
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'RequestVoteResponse':
      case 'PreVoteResponse': {
        const expected = this.role === 'candidate' ? 'RequestVoteResponse' : 'PreVoteResponse';
        if (m.type !== expected) return;
        if (m.voteGranted && m.term !== (this.role === 'candidate' ? this.term : this.term + 1)) return;
        if (!this.membership.isVoter(m.from) || this.votes.has(m.from)) return;
        this.votes.set(m.from, m.voteGranted);
        const outcome = this.tallyVotes();
        if (outcome === 'won') {
          if (this.role === 'preCandidate') this.becomeCandidate(false);
          else this.becomeLeader();
        } else if (outcome === 'lost') {
          this.becomeFollower(this.term, undefined);
        }
        return;
      }
      case 'TimeoutNow':
      case 'RequestVote':
      case 'PreVote':
      case 'AppendEntriesResponse':
      case 'HeartbeatResponse':
      case 'InstallSnapshotResponse':
        return;
    }
  }

  private tallyVotes(): 'won' | 'lost' | 'pending' {
    const voters = this.membership.voters;
    let granted = 0;
    let rejected = 0;
    for (const id of voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = quorum(voters.length);
    if (granted >= q) return 'won';
    if (rejected > voters.length - q) return 'lost';
    return 'pending';
  }

  private stepLeader(m: RaftMessage): void {
    switch (m.type) {
      case 'AppendEntries':
      case 'Heartbeat':
      case 'InstallSnapshot':
        raftAssert(false, () => `two leaders in term ${this.term}: ${this.id} and ${m.from}`);
        return;
      case 'AppendEntriesResponse':
      case 'HeartbeatResponse':
      case 'InstallSnapshotResponse': {
        const pr = this.progress.get(m.from);
        if (!pr) return;
        pr.recentActive = true;
        if (m.type === 'AppendEntriesResponse') this.handleAppendResponse(m, pr);
        else if (m.type === 'InstallSnapshotResponse') this.handleMatch(m.from, pr, m.matchIndex);
        else this.handleHeartbeatResponse(m.from, pr, m.readSeq);
        return;
      }
      case 'TimeoutNow':
      case 'RequestVote':
      case 'PreVote':
      case 'RequestVoteResponse':
      case 'PreVoteResponse':
        return;
    }
  }

  // ---- follower side of replication ---------------------------------------------------------------

  private handleAppendEntries(m: AppendEntries): void {
    const commit = this.log.commitIndex;
    if (m.prevLogIndex < commit) {
      // Everything up to our commitIndex matches any leader's log (Leader Completeness).
      this.send({ type: 'AppendEntriesResponse', to: m.from, success: true, matchIndex: commit });
      return;
    }
    if (!this.log.matchTerm(m.prevLogIndex, m.prevLogTerm)) {
      // Leader Completeness: a leader's log holds every committed entry.
      raftAssert(m.prevLogIndex > commit, () => `leader ${m.from} (term ${m.term}) disagrees with committed entry ${m.prevLogIndex}`);
      // Figure 2 rule 2, plus a hint that lets the leader skip a whole term of mismatches at once.
      const hint = this.log.findConflictByTerm(Math.min(m.prevLogIndex, this.log.lastIndex()), m.prevLogTerm);
      this.send({ type: 'AppendEntriesResponse', to: m.from, success: false, rejectedIndex: m.prevLogIndex, hintIndex: hint.index, hintTerm: hint.term });
      return;
    }
    // Figure 2 rules 3 and 4: drop a conflicting suffix, append what is new, keep what matches.
    const lastNew = m.prevLogIndex + m.entries.length;
    const firstNew = m.entries.findIndex((e) => !this.log.matchTerm(e.index, e.term));
    if (firstNew >= 0) this.appendToLog(m.entries.slice(firstNew));
    // Figure 2 rule 5.
    this.log.commitTo(Math.min(m.leaderCommit, lastNew));
    this.send({ type: 'AppendEntriesResponse', to: m.from, success: true, matchIndex: lastNew });
  }

  private handleHeartbeat(m: Heartbeat): void {
    this.log.commitTo(m.leaderCommit);
    this.send({ type: 'HeartbeatResponse', to: m.from, readSeq: m.readSeq });
  }

  private handleInstallSnapshot(m: InstallSnapshot): void {
    const s = m.snapshot;
    if (this.log.pendingSnapshot) return; // one install at a time; the leader retries
    if (s.index <= this.log.commitIndex) {
      this.send({ type: 'InstallSnapshotResponse', to: m.from, matchIndex: this.log.commitIndex });
      return;
    }
    if (this.log.matchTerm(s.index, s.term)) {
      // We already hold the snapshot's entries: just learn that they are committed.
      this.log.commitTo(s.index);
      this.send({ type: 'InstallSnapshotResponse', to: m.from, matchIndex: s.index });
      return;
    }
    this.log.restore(s);
    this.membership.restore(s);
    this.fetchOutstanding = undefined;
    this.committedFetchPending = false;
    this.send({ type: 'InstallSnapshotResponse', to: m.from, matchIndex: s.index });
  }

  /** Append (truncating a conflicting suffix) and let config entries take effect at once. */
  private appendToLog(entries: RaftEntry[]): void {
    const first = entries[0];
    if (!first) return;
    this.membership.truncateFrom(first.index);
    this.log.append(entries);
    let configChanged = false;
    for (const e of entries) {
      if (e.kind === 'config') {
        this.membership.append(e.index, decodeConfigChange(e.payload).voters);
        configChanged = true;
      }
    }
    if (configChanged && this.role === 'leader') this.onLeaderConfigChange();
  }

  // ---- leader side of replication ---------------------------------------------------------------

  private appendAsLeader(entry: RaftEntry): void {
    this.appendToLog([entry]);
    const bytes = entryBytes(entry.payload.length);
    this.uncommitted.push({ index: entry.index, bytes });
    this.uncommittedBytes += bytes;
    for (const id of this.progress.keys()) this.markDirty(id, false);
    // A one-voter group commits as soon as the entry is persisted (see advance()).
  }

  private onLeaderConfigChange(): void {
    const voters = this.membership.voters;
    for (const id of [...this.progress.keys()]) if (!voters.includes(id)) this.progress.delete(id);
    for (const id of voters) {
      if (id !== this.id && !this.progress.has(id)) {
        this.addProgress(id, this.log.lastIndex());
        this.markDirty(id, true);
      }
    }
    if (this.leadTransferee !== undefined && !voters.includes(this.leadTransferee)) this.leadTransferee = undefined;
    this.maybeCommit();
  }

  private handleAppendResponse(m: AppendEntriesResponse, pr: Progress): void {
    if (m.success) {
      this.handleMatch(m.from, pr, m.matchIndex);
      return;
    }
    // Where to probe next: past the last entry of ours whose term is <= the follower's hint term.
    let probeAt = m.hintIndex;
    if (m.hintTerm > 0) probeAt = this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index;
    if (pr.maybeDecrTo(m.rejectedIndex, probeAt + 1)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      this.markDirty(m.from, true);
    }
  }

  private handleMatch(from: string, pr: Progress, matchIndex: number): void {
    raftAssert(matchIndex <= this.log.lastIndex(), () => `${from} claims to match ${matchIndex}, beyond our last index`);
    const updated = pr.maybeUpdate(matchIndex);
    switch (pr.state) {
      case 'probe':
        if (updated || pr.matchIndex + 1 >= pr.nextIndex) pr.becomeReplicate();
        break;
      case 'snapshot':
        if (pr.matchIndex >= pr.pendingSnapshot) {
          pr.becomeProbe();
          pr.becomeReplicate();
        }
        break;
      case 'replicate':
        pr.inflights.freeLE(matchIndex);
        break;
    }
    if (updated) {
      this.maybeCommit();
      if (this.role !== 'leader') return;
      if (from === this.leadTransferee && pr.matchIndex === this.log.lastIndex()) this.send({ type: 'TimeoutNow', to: from });
    }
    this.markDirty(from, false);
  }

  private handleHeartbeatResponse(from: string, pr: Progress, readSeq: number): void {
    pr.probeSent = false;
    // A lost AppendEntries can leave the pipeline full forever; a heartbeat round trip frees a slot.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.matchIndex < this.log.lastIndex()) this.markDirty(from, true);
    else if (from === this.leadTransferee) this.send({ type: 'TimeoutNow', to: from }); // the first may be lost
    if (readSeq > pr.readAckSeq) {
      pr.readAckSeq = readSeq;
      this.advanceReads();
    }
  }

  private markDirty(id: string, sendIfEmpty: boolean): void {
    this.appendDirty.set(id, sendIfEmpty || (this.appendDirty.get(id) ?? false));
  }

  /** Build the batched AppendEntries (and read heartbeats) that accumulated since the last Ready. */
  private flushSends(): void {
    if (this.role !== 'leader') {
      this.appendDirty.clear();
      return;
    }
    for (const [id, sendIfEmpty] of this.appendDirty) {
      let first = true;
      while (this.sendAppend(id, first && sendIfEmpty)) first = false;
    }
    this.appendDirty.clear();
    if (this.readHeartbeatDue) {
      this.readHeartbeatDue = false;
      this.broadcastHeartbeat();
    }
  }

  /** Send one AppendEntries to `to` if flow control allows; true when another may follow at once. */
  private sendAppend(to: string, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevLogIndex = pr.nextIndex - 1;
    const prevLogTerm = this.log.term(prevLogIndex);
    if (prevLogTerm === undefined) {
      raftAssert(prevLogIndex < this.log.snapshotIndex, () => `no term for ${prevLogIndex} (next ${pr.nextIndex}, last ${this.log.lastIndex()})`);
      this.sendSnapshot(to, pr);
      return false;
    }
    let entries: RaftEntry[] = [];
    const last = this.log.lastIndex();
    if (pr.nextIndex <= last) {
      const got = this.log.entries(pr.nextIndex, last, this.cfg.maxBytesPerAppend);
      if (got === 'compacted') {
        this.sendSnapshot(to, pr);
        return false;
      }
      if (got === 'unavailable') {
        this.requestFetch(pr.nextIndex, last);
        return false;
      }
      entries = got;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'AppendEntries', to, prevLogIndex, prevLogTerm, entries, leaderCommit: this.log.commitIndex });
    const lastSent = entries[entries.length - 1];
    if (pr.state === 'probe') {
      pr.probeSent = true;
      return false;
    }
    if (!lastSent) return false;
    let bytes = 0;
    for (const e of entries) bytes += entryBytes(e.payload.length);
    pr.inflights.add(lastSent.index, bytes);
    pr.nextIndex = lastSent.index + 1;
    return true;
  }

  private sendSnapshot(to: string, pr: Progress): void {
    // A peer we have not heard from lately may be down: do not start a large transfer to it.
    if (!pr.recentActive) return;
    const snap = this.log.snapshotMeta;
    raftAssert(snap !== undefined, 'a snapshot is needed but none was ever taken');
    this.send({ type: 'InstallSnapshot', to, snapshot: snap });
    pr.becomeSnapshot(snap.index);
  }

  private broadcastHeartbeat(): void {
    for (const [to, pr] of this.progress) {
      const hb: Omit<Heartbeat, 'from' | 'term'> = {
        type: 'Heartbeat',
        to,
        leaderCommit: Math.min(pr.matchIndex, this.log.commitIndex),
        readSeq: this.readSeq,
      };
      this.send(hb);
    }
  }

  private maybeCommit(): void {
    const voters = this.membership.voters;
    const index = majorityValue(voters, (id) => (id === this.id ? this.log.persistedIndex : (this.progress.get(id)?.matchIndex ?? 0)));
    if (index <= this.log.commitIndex || !this.canCommitAt(index)) return;
    this.log.commitTo(index);
    this.onCommitted();
  }

  private onCommitted(): void {
    const commit = this.log.commitIndex;
    const u = this.uncommitted;
    while (this.uncommittedHead < u.length && u[this.uncommittedHead]!.index <= commit) this.uncommittedBytes -= u[this.uncommittedHead++]!.bytes;
    if (this.uncommittedHead === u.length) {
      this.uncommitted = [];
      this.uncommittedHead = 0;
    } else if (this.uncommittedHead > 1024 && this.uncommittedHead * 2 > u.length) {
      this.uncommitted = u.slice(this.uncommittedHead);
      this.uncommittedHead = 0;
    }
    // Followers learn the new commitIndex at once (it rides on the next batch when there is one).
    for (const id of this.progress.keys()) this.markDirty(id, true);
    if (this.committedInTerm() && this.readsAwaitingTermCommit.length > 0) {
      const waiting = this.readsAwaitingTermCommit;
      this.readsAwaitingTermCommit = [];
      for (const id of waiting) this.registerRead(id);
    }
    if (!this.membership.isVoter(this.id) && this.membership.latestIndex <= commit) this.stepDownRemoved();
  }

  /** Our removal is committed (thesis §4.2.2): hand over to the most caught-up voter and step down. */
  private stepDownRemoved(): void {
    this.flushSends();
    let best: string | undefined;
    for (const [id, pr] of this.progress) {
      if (pr.matchIndex === this.log.lastIndex() && (best === undefined || id < best)) best = id;
    }
    if (best !== undefined) this.send({ type: 'TimeoutNow', to: best });
    this.becomeFollower(this.term, undefined);
  }

  private committedInTerm(): boolean {
    return this.role === 'leader' && this.log.commitIndex >= this.termStartIndex;
  }

  // ---- ReadIndex ----------------------------------------------------------------------------------

  private registerRead(requestId: string): void {
    if (this.membership.voters.length === 1 && this.membership.isVoter(this.id)) {
      this.readStates.push({ requestId, index: this.log.commitIndex });
      return;
    }
    this.readSeq++;
    this.pendingReads.push({ requestId, index: this.log.commitIndex, seq: this.readSeq });
    this.readHeartbeatDue = true;
  }

  private advanceReads(): void {
    const voters = this.membership.voters;
    const q = quorum(voters.length);
    let confirmed = 0;
    for (const read of this.pendingReads) {
      let acks = 0;
      for (const id of voters) if (id === this.id || (this.progress.get(id)?.readAckSeq ?? 0) >= read.seq) acks++;
      if (acks < q) break;
      this.readStates.push({ requestId: read.requestId, index: read.index });
      confirmed++;
    }
    if (confirmed > 0) this.pendingReads = this.pendingReads.slice(confirmed);
  }

  // ---- entry loads ------------------------------------------------------------------------------

  private requestFetch(from: number, to: number): void {
    if (this.fetchOutstanding) return;
    const range = { from, to: Math.min(to, from + RAFT_LIMITS.fetchEntriesMax - 1) };
    this.fetchOutstanding = { ...range, ageTicks: 0 };
    this.fetchesToEmit.push(range);
  }

  // ---- sending and state snapshots -------------------------------------------------------------

  private send(m: Outgoing): void {
    const full: RaftMessage = { ...m, from: this.id, term: m.term ?? this.term };
    if (mustWaitForPersist(full)) this.msgsAfterPersist.push(full);
    else this.msgs.push(full);
  }

  private notLeader(): { ok: false; reason: 'notLeader'; leaderHint?: string } {
    return this.leader !== undefined && this.leader !== this.id
      ? { ok: false, reason: 'notLeader', leaderHint: this.leader }
      : { ok: false, reason: 'notLeader' };
  }

  private otherVoters(): string[] {
    return this.membership.voters.filter((id) => id !== this.id);
  }

  private softState(): SoftState {
    return { role: this.role, leader: this.leader };
  }

  private hardState(): HardState {
    return { term: this.term, votedFor: this.votedFor, commitIndex: this.log.commitIndex };
  }

  private softChanged(): boolean {
    return this.prevSoft.role !== this.role || this.prevSoft.leader !== this.leader;
  }

  private hardChanged(): boolean {
    const h = this.prevHard;
    return h.term !== this.term || h.votedFor !== this.votedFor || h.commitIndex !== this.log.commitIndex;
  }
}

/**
 * etcd's rule: a response or a vote speaks for this node's durable state, so it leaves only once
 * the state it reflects (term, vote, entries, snapshot) is on disk. Requests a leader or
 * pre-candidate sends promise nothing and leave at once (the leader writes its own log in parallel).
 */
function mustWaitForPersist(m: RaftMessage): boolean {
  switch (m.type) {
    case 'RequestVote':
    case 'RequestVoteResponse':
    case 'AppendEntriesResponse':
    case 'HeartbeatResponse':
    case 'InstallSnapshotResponse':
      return true;
    case 'PreVote':
    case 'PreVoteResponse':
    case 'AppendEntries':
    case 'Heartbeat':
    case 'InstallSnapshot':
    case 'TimeoutNow':
      return false;
  }
}
