// The data the Raft core exchanges with its driver: log entries, messages (named as in the Raft
// paper), the Ready batch, and the synchronous view of the persisted log the core reads through.

export type EntryKind = 'command' | 'noop' | 'config';

/** A log entry: storage's LogEntry plus `kind`. Config entries carry an encoded ConfigChangeEntry. */
export interface RaftEntry {
  index: number;
  term: number;
  kind: EntryKind;
  /** Leader's clock when proposed; never decreases along the log (the core clamps it). */
  timeMs: number;
  metaLen: number;
  payload: Uint8Array;
}

/** What must be on disk before this node may vote or acknowledge: term and vote, plus a commit hint. */
export interface HardState {
  term: number;
  /** Candidate this node voted for in `term`, or undefined. */
  votedFor: string | undefined;
  /** Persisted as a restart hint only: it may lag, it never runs ahead of the persisted log. */
  commitIndex: number;
}

/** Identifies a state-machine snapshot: it reflects every entry up to `index` (whose term is `term`). */
export interface SnapshotMeta {
  index: number;
  term: number;
  /** The voters in effect at `index`. */
  voters: string[];
}

/**
 * A single-server membership change. `address` (opaque to the core, "host:port" for the node
 * driver) travels in the config entry so every member learns how to reach a new voter.
 */
export type ConfigChange = { type: 'addVoter'; node: string; address?: string } | { type: 'removeVoter'; node: string };

/** The payload of a config entry: the change and the full voter set it produces. */
export interface ConfigChangeEntry {
  change: ConfigChange;
  voters: string[];
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

// ---- messages -------------------------------------------------------------------------------------

interface Envelope {
  from: string;
  to: string;
  /** The sender's currentTerm (for PreVote: the term it would campaign in). */
  term: number;
}

export interface RequestVote extends Envelope {
  type: 'RequestVote';
  lastLogIndex: number;
  lastLogTerm: number;
  /** Campaign started by TimeoutNow (leader transfer): voters ignore their leader lease. */
  transfer: boolean;
}

export interface RequestVoteResponse extends Envelope {
  type: 'RequestVoteResponse';
  voteGranted: boolean;
}

/** Asks "would you vote for me in `term`?" without anyone changing term (thesis §9.6). */
export interface PreVote extends Envelope {
  type: 'PreVote';
  lastLogIndex: number;
  lastLogTerm: number;
}

export interface PreVoteResponse extends Envelope {
  type: 'PreVoteResponse';
  voteGranted: boolean;
}

export interface AppendEntries extends Envelope {
  type: 'AppendEntries';
  prevLogIndex: number;
  prevLogTerm: number;
  /** Contiguous, starting at prevLogIndex + 1. */
  entries: RaftEntry[];
  leaderCommit: number;
}

export type AppendEntriesResponse = Envelope & { type: 'AppendEntriesResponse' } & (
    | {
        success: true;
        /** The follower's log matches the leader's up to here. */
        matchIndex: number;
      }
    | {
        success: false;
        /** prevLogIndex of the rejected AppendEntries. */
        rejectedIndex: number;
        /** Conflict hint: the follower's last index with term <= the rejected prevLogTerm... */
        hintIndex: number;
        /** ...and that entry's term (0 when hintIndex is 0). */
        hintTerm: number;
      }
  );

/**
 * Leader liveness and ReadIndex confirmation. Not an AppendEntries: it does no log matching, so it
 * cannot disturb the pipeline; `leaderCommit` is min(follower's matchIndex, commitIndex).
 */
export interface Heartbeat extends Envelope {
  type: 'Heartbeat';
  leaderCommit: number;
  /** Latest ReadIndex round; echoed back so the leader can count confirmations. */
  readSeq: number;
}

export interface HeartbeatResponse extends Envelope {
  type: 'HeartbeatResponse';
  readSeq: number;
}

/** A request for the driver to ship the state-machine snapshot `snapshot` to `to`. */
export interface InstallSnapshot extends Envelope {
  type: 'InstallSnapshot';
  snapshot: SnapshotMeta;
}

export interface InstallSnapshotResponse extends Envelope {
  type: 'InstallSnapshotResponse';
  /** The follower's log now matches the leader's up to here. */
  matchIndex: number;
}

/** Leader transfer: "campaign now" (thesis §3.10). */
export interface TimeoutNow extends Envelope {
  type: 'TimeoutNow';
}

export type RaftMessage =
  | RequestVote
  | RequestVoteResponse
  | PreVote
  | PreVoteResponse
  | AppendEntries
  | AppendEntriesResponse
  | Heartbeat
  | HeartbeatResponse
  | InstallSnapshot
  | InstallSnapshotResponse
  | TimeoutNow;

export type RaftMessageType = RaftMessage['type'];

// ---- the persisted log, as the driver exposes it ----------------------------------------------------

/**
 * A synchronous view of this node's persisted log. It must reflect everything the driver has
 * persisted before it calls advance(). `term(i)` must answer for every index in
 * [firstIndex(), lastIndex()]; `entries` may answer 'unavailable' (not in memory: the core then asks
 * for a load through Ready.entryFetches) and answers 'compacted' only for indexes the core has
 * compacted (compact()). `entries` returns at least one entry when any is in range, then stops
 * before exceeding maxBytes.
 */
export interface LogView {
  firstIndex(): number;
  lastIndex(): number;
  term(index: number): number | undefined;
  entries(lo: number, hiInclusive: number, maxBytes: number): RaftEntry[] | 'unavailable' | 'compacted';
}

// ---- configuration and restored state ----------------------------------------------------------

export interface RestoredState {
  hardState: HardState;
  /** The latest snapshot the state machine can be restored from, if any. */
  snapshotMeta?: SnapshotMeta;
  /** Every config entry in the log after snapshotMeta.index, in index order (read at start-up). */
  configEntries: RaftEntry[];
  /** The state machine already reflects entries up to here (default: snapshotMeta.index or 0). */
  appliedIndex?: number;
  /** Time of the last entry in the log, so entries this node appends never go back in time. */
  lastTimeMs?: number;
}

export interface RaftConfig {
  id: string;
  /** Initial configuration; used only when the snapshot and the log carry none. A joining node passes []. */
  voters: string[];
  /** Election timeout in ticks; the randomized timeout is in [electionTicks, 2 * electionTicks). */
  electionTicks: number;
  heartbeatTicks: number;
  /** Seeded random numbers in [0, 1): the only source of randomness. */
  random: () => number;
  preVote: boolean;
  checkQuorum: boolean;
  /** AppendEntries in flight per peer in replicate state. */
  maxInflightAppends: number;
  /** Payload bytes per AppendEntries (at least one entry is always sent). */
  maxBytesPerAppend: number;
  /** Optional limits; defaults in RAFT_LIMITS. */
  maxInflightBytes?: number;
  maxUncommittedBytes?: number;
  maxWindowBytes?: number;
  log: LogView;
  restored: RestoredState;
}

// ---- results of the API ----------------------------------------------------------------------------

export type NotLeader = { ok: false; reason: 'notLeader'; leaderHint?: string };

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | NotLeader
  | { ok: false; reason: 'transferring' }
  | { ok: false; reason: 'tooMuchInFlight' };

export type ConfigChangeResult =
  | { ok: true; index: number; term: number }
  | NotLeader
  | { ok: false; reason: 'transferring' }
  /** A config change is not committed yet, or this leader has not committed an entry in its term. */
  | { ok: false; reason: 'configChangeInProgress' }
  | { ok: false; reason: 'invalidChange'; detail: string };

export type TransferResult = { ok: true } | NotLeader | { ok: false; reason: 'notVoter' };

export type ReadIndexResult = { ok: true } | NotLeader | { ok: false; reason: 'tooMuchInFlight' };

// ---- Ready -----------------------------------------------------------------------------------------

export interface SoftState {
  role: Role;
  leader: string | undefined;
}

/** A ReadIndex answer: serve `requestId` once the state machine has applied `index`. */
export interface ReadState {
  requestId: string;
  index: number;
}

export interface EntryFetch {
  from: number;
  to: number;
}

export interface Ready {
  softState?: SoftState;
  /** Present only when changed; persist it before anything in a later Ready is sent. */
  hardState?: HardState;
  /** Install this snapshot (state machine + log reset), then call snapshotInstalled(), before persisting entries. */
  snapshotToInstall?: SnapshotMeta;
  /** When set: discard persisted entries >= truncateFrom before appending (equals entriesToPersist[0].index). */
  truncateFrom?: number;
  entriesToPersist: RaftEntry[];
  /** Committed and already persisted locally: apply in order, then call appliedTo(). */
  committedEntries: RaftEntry[];
  /** Safe to send at once (messages that depend on this Ready's state are held until advance()). */
  messages: RaftMessage[];
  readStates: ReadState[];
  /** ReadIndex requests that will never be answered (leadership lost): the driver fails them. */
  droppedReads: string[];
  /** Load these entries (or a prefix) and hand them to entriesLoaded(). */
  entryFetches: EntryFetch[];
}

// ---- status ----------------------------------------------------------------------------------------

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export interface PeerStatus {
  matchIndex: number;
  nextIndex: number;
  state: ProgressState;
  inflight: number;
  recentActive: boolean;
  pendingSnapshot?: number;
}

export interface RaftStatus {
  id: string;
  term: number;
  votedFor: string | undefined;
  role: Role;
  leader: string | undefined;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  persistedIndex: number;
  snapshotIndex: number;
  voters: string[];
  leadTransferee?: string;
  /** Only on the leader: every other voter. */
  progress: Record<string, PeerStatus>;
}
