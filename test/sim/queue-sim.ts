// A deterministic simulation of a replicated queue: a 3- or 5-node set in one process, each
// replica applying committed entries to the real QueueStateMachine (src/broker/), with commands
// encoded by the broker's own codec, on a Raft group (src/raft/) over a simulated network (loss,
// delay, reordering, duplication, partitions) and simulated disks holding real WAL records
// (sim-wal.ts: crashes lose unsynced writes, torn writes, bit flips in message bodies).
//
// The node driver is a model of src/node/queue-node.ts and raft-driver.ts: entries carry the
// proposing leader's clock (virtual time plus a per-node skew; the core clamps it so it never goes
// back), receives and deletes are proposals decided by apply(), the leader proposes `tick` entries
// when the state machine's next deadline passes, bodies are read back from the in-memory window or
// the disk and checked against the per-body CRC32C before delivery, damaged ones are quarantined
// through the log. Snapshots hold the state machine; a snapshot shipped to a lagging follower
// carries the entries holding its live bodies (the design in docs/ARCHITECTURE.md; the real
// driver does not ship snapshots yet).
//
// Clients: producers send batches (acknowledged when the proposing leader applies the entry),
// consumers receive, then delete some of what they got (some late, some never). After the last
// step the network heals, every node restarts, producers stop and consumers drain the queues.
// Checkers: queue-history.ts (acknowledged sends delivered, no delivery within a visibility
// timeout of another, deleted stays deleted, bodies intact), plus replica agreement (every
// replica's result at each index, and its snapshot bytes at sampled indexes, are the same), plus
// election safety and commit monotonicity. A failing seed prints the command that replays it.

import { crc32c } from '../../src/broker/checksum';
import { decodeCommand, encodeCommand, type DecodedCommand } from '../../src/broker/codec';
import type { BodyRef, Command, CommandResult, ReceivedMessage } from '../../src/broker/commands';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { decodeMessage, encodeMessage } from '../../src/raft/codec';
import { RaftNode } from '../../src/raft/raft-node';
import type { LogView, RaftConfig, RaftEntry, RaftMessage, Ready } from '../../src/raft/types';
import { RecentEntries, windowLogView } from '../../src/node/recent-entries';
import { Prng } from './prng';
import { bodyFor, QueueCheckFailure, QueueHistory, type HistoryStats, type QueueCheck } from './queue-history';
import { SimWal, type ShippedSnapshot } from './sim-wal';

/** Deliberately broken drivers, to prove the checkers can fail. */
export type QueueSimBug =
  | 'followerReceive' // followers answer receives from their own state, without a log entry
  | 'ackBeforeCommit' // a send is acknowledged once the leader accepts it, before it commits
  | 'skipBodyCrc'; // bodies are delivered without checking their CRC32C

export const QUEUE_SIM_BUGS: readonly QueueSimBug[] = ['followerReceive', 'ackBeforeCommit', 'skipBodyCrc'];

export interface QueueSimOptions {
  seed: number;
  steps: number;
  /** 3 or 5 (default: chosen by the seed). */
  nodes?: number;
  bug?: QueueSimBug;
  /** Multiplies the rate of crashes, partitions, weather changes, transfers and bit flips (default 1). */
  intensity?: number;
  trace?: (line: string) => void;
}

export interface QueueSimStats extends HistoryStats {
  nodes: number;
  steps: number;
  elections: number;
  maxTerm: number;
  crashes: number;
  partitions: number;
  transfers: number;
  messages: number;
  tornWrites: number;
  truncations: number;
  fetches: number;
  fetchesLost: number;
  snapshotsSent: number;
  snapshotsInstalled: number;
  compactions: number;
  proposals: number;
  bitFlips: number;
  /** Loads that met a damaged record not known at start-up: the node stopped, as the real one does. */
  corruptionStops: number;
  /** Damaged bodies recovery found (and kept) at start-up. */
  damagedAtRecovery: number;
  /** Last records dropped at recovery because their body CRC failed (the torn-write rule). */
  damagedLastDropped: number;
  localDeliveries: number;
  /** Bodies quarantined for damage on the delivering node while another replica held an intact copy. */
  quarantinedWithIntactReplica: number;
  ticks: number;
  /** setQueueAttributes entries changing a visibility timeout that committed. */
  visibilityChanges: number;
  finalIndex: number;
}

export interface QueueSimFailure {
  check: QueueCheck | 'electionSafety' | 'commitMonotonic' | 'exception';
  message: string;
  step: number;
}

export interface QueueSimResult {
  seed: number;
  ok: boolean;
  failure?: QueueSimFailure;
  stats: QueueSimStats;
  /** The command that replays this run exactly. */
  replay: string;
}

// ---- tuning ----------------------------------------------------------------------------------------

/** One step is 5 ms of virtual time; Raft ticks every 10 steps (50 ms, as the real node). */
const MS_PER_STEP = 5;
const EPOCH_MS = 1_700_000_000_000;
const TICK_EVERY = 10;
const ELECTION_TICKS = 10;
const HEARTBEAT_TICKS = 2;
const CLOCK_SKEW_MS_MAX = 100;
/** As QueueNode: tick entries at least this far apart. */
const TICK_MIN_INTERVAL_MS = 50;
/** The driver's window of recent entries (64 MiB in the real node): small, so bodies come from disk. */
const RECENT_BYTES_MAX = 4000;
const LOAD_BYTES_MAX = 1500;
/** A client gives up on a request after 3 s (outcome unknown). */
const OP_TIMEOUT_STEPS = 600;
const HEAL_STEPS_MAX = 12_000;
/** Snapshot after this many applied entries (per seed): often means lagging followers get snapshots, rarely means they load from disk. */
const SNAPSHOT_AFTER_ENTRIES = [40, 150, 500] as const;
/** Replicas' snapshot bytes are compared at every index that is a multiple of this. */
const DIGEST_EVERY = 16;
const ID_POOL = ['n1', 'n2', 'n3', 'n4', 'n5'];
const PRODUCERS = ['p1', 'p2'];
const CONSUMERS = ['c1', 'c2', 'c3'];
const OUTSTANDING_MAX = 2;
/** Short visibility timeouts, so messages cycle several times per run; one queue keeps a rewind area. */
const QUEUES = [
  { name: 'orders', visibilityTimeout: 1, rewindSeconds: 0 },
  { name: 'events', visibilityTimeout: 2, rewindSeconds: 600 },
] as const;

// ---- the simulated node --------------------------------------------------------------------------

interface Persisting {
  rd: Ready;
  doneAt: number;
  install: ShippedSnapshot | undefined;
}

class QueueSimNode {
  readonly wal = new SimWal();
  sm = new QueueStateMachine();
  raft: RaftNode | undefined;
  incarnation = 0;
  /** The core's applied index (noop and config entries included). */
  appliedIndex = 0;
  persisting: Persisting | undefined;
  loads: { from: number; to: number; at: number }[] = [];
  incomingSnapshots = new Map<number, ShippedSnapshot>();
  recent = new RecentEntries(RECENT_BYTES_MAX);
  downUntil = 0;
  skewMs = 0;
  lastTickMs = -Infinity;
  tickInFlight = false;
  lastCommit = 0;

  constructor(
    readonly id: string,
    readonly tickPhase: number,
    readonly voters: string[],
  ) {}
}

interface InFlight {
  msg: RaftMessage;
  at: number;
  snapshot?: ShippedSnapshot;
}

type OpKind = 'create' | 'setVisibility' | 'send' | 'receive' | 'delete' | 'tick' | 'quarantine';

/** A client request the set accepted, waiting for the proposing node to apply its entry. */
interface Op {
  kind: OpKind;
  client: string;
  queue: string;
  node: string;
  incarnation: number;
  index: number;
  term: number;
  issuedStep: number;
  bodyIds: number[];
  ackedEarly: boolean;
}

interface Held {
  queue: string;
  msgId: string;
  handle: string;
  deleteAtStep: number;
}

interface Client {
  id: string;
  outstanding: number;
  held: Held[];
}

class SimAbort extends Error {
  constructor(
    readonly check: QueueSimFailure['check'],
    message: string,
  ) {
    super(message);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function digestOf(bytes: Uint8Array): string {
  return `${crc32c(bytes)}/${bytes.length}`;
}

// ---- the simulation --------------------------------------------------------------------------------

export class QueueSimulation {
  private readonly rng: Prng;
  private readonly nodes = new Map<string, QueueSimNode>();
  private network: InFlight[] = [];
  private readonly cut = new Set<string>();
  private now = 0;
  private step = 0;
  private healing = false;
  private lossRate = 0;
  private dupRate = 0;
  private partitionUntil = 0;
  private nextBodyId = 1;
  private readonly clients = new Map<string, Client>();
  private readonly ops = new Map<string, Op>();
  private readonly queuesReady = new Set<string>();
  /** The leader (of the highest term) as of the start of this step's client traffic. */
  private stepLeader: QueueSimNode | undefined;
  private readonly snapshotAfterEntries: number;
  /** The visibility timeout an operator last asked for, per queue (consumers pace their deletes by it). */
  private readonly visibilitySeconds = new Map<string, number>(QUEUES.map((q) => [q.name, q.visibilityTimeout]));
  private readonly history: QueueHistory;

  // Replica agreement and the truth about entries.
  private readonly leaderOfTerm = new Map<number, string>();
  /** Every proposal's payload and bodies, by `index:term` (pristine: what the leader encoded). */
  private readonly proposals = new Map<string, { payload: Uint8Array; bodyIds: number[] }>();
  private readonly committedPayload = new Map<number, Uint8Array>();
  private readonly resultAt = new Map<number, { term: number; digest: string }>();
  private readonly smDigestAt = new Map<number, string>();

  readonly stats: QueueSimStats;

  constructor(private readonly opts: QueueSimOptions) {
    this.rng = new Prng(opts.seed);
    const n = opts.nodes ?? (this.rng.chance(0.25) ? 5 : 3);
    this.snapshotAfterEntries = this.rng.pick(SNAPSHOT_AFTER_ENTRIES);
    const ids = ID_POOL.slice(0, n);
    this.stats = {
      nodes: n,
      steps: 0,
      elections: 0,
      maxTerm: 0,
      crashes: 0,
      partitions: 0,
      transfers: 0,
      messages: 0,
      tornWrites: 0,
      truncations: 0,
      fetches: 0,
      fetchesLost: 0,
      snapshotsSent: 0,
      snapshotsInstalled: 0,
      compactions: 0,
      proposals: 0,
      bitFlips: 0,
      corruptionStops: 0,
      damagedAtRecovery: 0,
      damagedLastDropped: 0,
      localDeliveries: 0,
      quarantinedWithIntactReplica: 0,
      ticks: 0,
      visibilityChanges: 0,
      finalIndex: 0,
      ackedSends: 0,
      deliveries: 0,
      redeliveries: 0,
      clientDeliveries: 0,
      deletes: 0,
      quarantined: 0,
      damagedBodiesFound: 0,
      lostToQuarantine: 0,
    };
    this.history = new QueueHistory(new Map(QUEUES.map((q) => [q.name, q.visibilityTimeout * 1000])));
    for (const id of [...PRODUCERS, ...CONSUMERS]) this.clients.set(id, { id, outstanding: 0, held: [] });
    for (const id of ids) {
      const node = new QueueSimNode(id, this.rng.int(0, TICK_EVERY - 1), ids);
      this.nodes.set(id, node);
      this.boot(node);
    }
  }

  replayCommand(): string {
    const parts = [`node dist/test/sim/run.js --queue --seed ${this.opts.seed} --steps ${this.opts.steps}`];
    if (this.opts.nodes !== undefined) parts.push(`--nodes ${this.opts.nodes}`);
    if (this.opts.bug) parts.push(`--bug ${this.opts.bug}`);
    if (this.opts.intensity !== undefined && this.opts.intensity !== 1) parts.push(`--intensity ${this.opts.intensity}`);
    return parts.join(' ');
  }

  run(): QueueSimResult {
    let failure: QueueSimFailure | undefined;
    try {
      for (this.step = 1; this.step <= this.opts.steps; this.step++) {
        this.advanceTime();
        this.injectFaults();
        this.clientTraffic();
        this.checkAll();
      }
      this.heal();
    } catch (err) {
      if (err instanceof QueueCheckFailure || err instanceof SimAbort) failure = { check: err.check, message: err.message, step: this.step };
      else failure = { check: 'exception', message: err instanceof Error ? (err.stack ?? err.message) : String(err), step: this.step };
    }
    this.stats.steps = this.step;
    Object.assign(this.stats, this.history.stats);
    const result: QueueSimResult = { seed: this.opts.seed, ok: failure === undefined, stats: this.stats, replay: this.replayCommand() };
    if (failure) result.failure = failure;
    return result;
  }

  private trace(line: string): void {
    this.opts.trace?.(`[${this.step} t=${this.now * MS_PER_STEP}] ${line}`);
  }

  /** A node's wall clock: virtual time plus its skew. */
  private clock(node: QueueSimNode): number {
    return EPOCH_MS + this.now * MS_PER_STEP + node.skewMs;
  }

  // ---- nodes: boot, crash ---------------------------------------------------------------------

  /** Start-up as QueueNode.open does it: recover the disk, restore the snapshot, replay what is known committed. */
  private boot(node: QueueSimNode): void {
    node.incarnation++;
    const report = node.wal.recover();
    this.stats.damagedAtRecovery += report.damagedBodies.length;
    if (report.damagedLastDropped !== undefined) {
      this.stats.damagedLastDropped++;
      this.trace(`${node.id}: recovery dropped entry ${report.damagedLastDropped}: the last record's body CRC failed (torn-write rule)`);
    }
    node.recent = new RecentEntries(RECENT_BYTES_MAX);
    const snap = node.wal.snapshot;
    node.sm = snap ? QueueStateMachine.restore(snap.stateMachine) : new QueueStateMachine();
    if (snap) this.noteSmDigest(node, snap.stateMachine);
    const knownCommitted = Math.min(node.wal.hardState.commitIndex, node.wal.lastIndex());
    for (const e of node.wal.replay(node.sm.lastAppliedIndex + 1, knownCommitted)) if (e.kind === 'command') this.applyCommand(node, e);
    node.appliedIndex = node.sm.lastAppliedIndex;
    node.skewMs = this.rng.int(-CLOCK_SKEW_MS_MAX, CLOCK_SKEW_MS_MAX);
    node.lastTickMs = -Infinity;
    node.tickInFlight = false;
    const jitter = this.rng.fork();
    const restored: RaftConfig['restored'] = {
      hardState: { ...node.wal.hardState },
      configEntries: node.wal.configEntries(),
      appliedIndex: node.sm.lastAppliedIndex,
      lastTimeMs: Math.max(node.sm.lastTimeMs, node.wal.lastTimeMs()),
    };
    if (snap) restored.snapshotMeta = snap.meta;
    node.raft = new RaftNode({
      id: node.id,
      voters: node.voters,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      random: () => jitter.next(),
      preVote: true,
      checkQuorum: true,
      maxInflightAppends: 8,
      maxBytesPerAppend: 1500,
      maxInflightBytes: 12_000,
      maxUncommittedBytes: 16_000,
      maxWindowBytes: 3000,
      log: this.logView(node),
      restored,
    });
    node.lastCommit = node.raft.status().commitIndex;
    this.trace(`${node.id} boots (incarnation ${node.incarnation}, applied ${node.sm.lastAppliedIndex}, last ${node.wal.lastIndex()}, damaged bodies [${report.damagedBodies.join(',')}])`);
  }

  /** What the core reads: terms from the disk index, payloads from the driver's window only. */
  private logView(node: QueueSimNode): LogView {
    return windowLogView({ firstIndex: () => node.wal.firstIndex(), lastIndex: () => node.wal.lastIndex(), term: (index) => node.wal.term(index) }, () => node.recent);
  }

  private live(): QueueSimNode[] {
    return [...this.nodes.values()].filter((n) => n.raft !== undefined);
  }

  private crash(node: QueueSimNode, downFor: number, why: string): void {
    this.stats.crashes++;
    const p = node.persisting;
    if (p) {
      // The write in progress may have partly reached the disk: a snapshot install is atomic, then
      // a prefix of the entries (maybe a partial record after it), the hard state only after all.
      this.stats.tornWrites++;
      if (p.rd.snapshotToInstall === undefined || this.rng.chance(0.5)) {
        const count = this.rng.int(0, p.rd.entriesToPersist.length);
        const torn = this.rng.chance(0.5) ? this.rng.next() : undefined;
        node.wal.persist(p.rd, p.install, count, this.rng.chance(0.5), torn);
      }
    }
    node.raft = undefined;
    node.persisting = undefined;
    node.loads = [];
    node.incomingSnapshots.clear();
    node.downUntil = this.now + downFor;
    for (const [key, op] of this.ops) {
      if (op.node === node.id) {
        this.ops.delete(key);
        this.finishOp(op, 'unknown');
      }
    }
    this.trace(`${node.id} ${why} (down ${downFor})`);
  }

  // ---- time and network -----------------------------------------------------------------------------

  private advanceTime(): void {
    this.now++;
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.network) (f.at <= this.now ? due : later).push(f);
    this.network = later;
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.rng.int(0, i);
      [due[i], due[j]] = [due[j]!, due[i]!];
    }
    for (const f of due) this.deliver(f);
    for (const node of this.live()) {
      if (node.persisting && node.persisting.doneAt <= this.now) this.finishPersist(node);
      this.finishLoads(node);
      if (node.raft && (this.now + node.tickPhase) % TICK_EVERY === 0) node.raft.tick();
    }
    for (const node of this.nodes.values()) if (!node.raft && node.downUntil <= this.now) this.boot(node);
    for (const node of this.live()) this.pumpReady(node);
    if (this.step % 10 === 0) this.expireOps();
  }

  private deliver(f: InFlight): void {
    const { msg } = f;
    const to = this.nodes.get(msg.to);
    const sender = this.nodes.get(msg.from)?.raft;
    if (!to?.raft || this.cut.has(`${msg.from}->${msg.to}`) || this.rng.chance(this.lossRate)) {
      if (msg.type === 'InstallSnapshot') sender?.reportSnapshot(msg.to, 'failed');
      return;
    }
    if (f.snapshot) to.incomingSnapshots.set(f.snapshot.index, f.snapshot);
    to.raft.step(msg);
    if (msg.type === 'InstallSnapshot') sender?.reportSnapshot(msg.to, 'finished');
  }

  private send(from: QueueSimNode, msg: RaftMessage): void {
    this.stats.messages++;
    const f: InFlight = { msg: decodeMessage(encodeMessage(msg)), at: this.now + this.delay() };
    if (msg.type === 'InstallSnapshot') {
      const snap = from.wal.snapshot;
      if (!snap || snap.meta.index !== msg.snapshot.index) throw new SimAbort('driver', `${from.id} asked to send snapshot ${msg.snapshot.index} it does not hold`);
      // The state machine plus the entries holding its live bodies, read from the leader's disk.
      f.snapshot = { index: snap.meta.index, stateMachine: snap.stateMachine, bodies: from.wal.snapshotBodies() };
      this.stats.snapshotsSent++;
    }
    this.network.push(f);
    if (this.rng.chance(this.dupRate)) this.network.push({ ...f, at: this.now + this.delay() });
  }

  private delay(): number {
    return this.rng.chance(0.1) ? this.rng.int(6, 40) : this.rng.int(1, 6);
  }

  // ---- the driver loop ------------------------------------------------------------------------------

  private pumpReady(node: QueueSimNode): void {
    for (let guard = 0; guard < 100; guard++) {
      const raft = node.raft;
      if (!raft || node.persisting || !raft.hasReady()) return;
      this.handleReady(node, raft, raft.ready());
    }
    throw new SimAbort('liveness', `${node.id}: Ready loop does not settle`);
  }

  private handleReady(node: QueueSimNode, raft: RaftNode, rd: Ready): void {
    if (rd.softState) {
      this.trace(`${node.id} is ${rd.softState.role} (leader ${rd.softState.leader ?? '-'}, term ${raft.status().term})`);
      if (rd.softState.role === 'leader') this.stats.elections++;
    }
    for (const m of rd.messages) this.send(node, m);
    for (const e of rd.committedEntries) this.applyEntry(node, e);
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last) {
      raft.appliedTo(last.index);
      node.appliedIndex = last.index;
      const snapIndex = node.wal.snapshot?.meta.index ?? 0;
      if (node.sm.lastAppliedIndex - snapIndex >= this.snapshotAfterEntries && this.rng.chance(0.2)) this.compact(node);
    }
    if (rd.truncateFrom !== undefined) {
      this.stats.truncations++;
      node.recent.truncateFrom(rd.truncateFrom);
    }
    for (const f of rd.entryFetches) {
      this.stats.fetches++;
      // Now and then a load never answers: the core must ask again.
      if (this.rng.chance(0.1)) this.stats.fetchesLost++;
      else node.loads.push({ from: f.from, to: f.to, at: this.now + this.rng.int(1, 12) });
    }
    let install: ShippedSnapshot | undefined;
    if (rd.snapshotToInstall) {
      install = node.incomingSnapshots.get(rd.snapshotToInstall.index);
      if (!install) throw new SimAbort('driver', `${node.id}: no data for snapshot ${rd.snapshotToInstall.index}`);
      node.incomingSnapshots.clear();
    }
    node.persisting = { rd, doneAt: this.now + (this.rng.chance(0.3) ? 0 : this.rng.int(1, 5)), install };
    if (node.persisting.doneAt <= this.now) this.finishPersist(node);
  }

  private finishPersist(node: QueueSimNode): void {
    const p = node.persisting!;
    node.persisting = undefined;
    node.wal.persist(p.rd, p.install, p.rd.entriesToPersist.length, true);
    const meta = p.rd.snapshotToInstall;
    if (meta && p.install) {
      node.recent = new RecentEntries(RECENT_BYTES_MAX);
      node.sm = QueueStateMachine.restore(p.install.stateMachine);
      this.noteSmDigest(node, p.install.stateMachine);
      node.appliedIndex = meta.index;
      node.raft!.snapshotInstalled(meta);
      this.stats.snapshotsInstalled++;
      this.trace(`${node.id} installed snapshot ${meta.index} with ${p.install.bodies.length} body entries`);
    }
    for (const e of p.rd.entriesToPersist) node.recent.add(e);
    node.raft!.advance(p.rd);
  }

  /** Entry loads complete: every record verified; damage nobody knew of stops the node. */
  private finishLoads(node: QueueSimNode): void {
    const done = node.loads.filter((l) => l.at <= this.now);
    if (done.length === 0) return;
    node.loads = node.loads.filter((l) => l.at > this.now);
    for (const l of done) {
      const r = node.wal.load(l.from, l.to, LOAD_BYTES_MAX);
      if (!r.ok) {
        // RaftDriver.fetch: a WalCorruptionError is fatal; the restart's recovery finds and reports it.
        this.stats.corruptionStops++;
        this.crash(node, this.rng.int(20, 200), `stops: CORRUPTION in entry ${r.corruptIndex} (body CRC) found by a load`);
        return;
      }
      node.raft!.entriesLoaded(r.entries);
    }
  }

  /** QueueNode.snapshotNow: snapshot at the state machine's index, compact the core, release what no live body needs. */
  private compact(node: QueueSimNode): void {
    const raft = node.raft!;
    const index = node.sm.lastAppliedIndex;
    const meta = raft.snapshotMetaAt(index);
    const data = node.sm.snapshot();
    this.noteSmDigest(node, data);
    raft.compact(meta);
    node.wal.compact(meta, data, node.sm.liveEntryIndexes());
    this.stats.compactions++;
  }

  // ---- applying -------------------------------------------------------------------------------------

  private applyEntry(node: QueueSimNode, e: RaftEntry): void {
    if (e.kind === 'command') {
      const result = this.applyCommand(node, e);
      this.resolveOp(node, e, result);
    } else {
      const seen = this.resultAt.get(e.index);
      if (seen && seen.term !== e.term) throw new SimAbort('replicaAgreement', `${node.id} applied a ${e.kind} entry of term ${e.term} at ${e.index}, where term ${seen.term} was applied`);
      if (!seen) this.resultAt.set(e.index, { term: e.term, digest: e.kind });
      this.resolveOp(node, e, undefined);
    }
  }

  /** Apply one command to the node's state machine; the first apply of an index anywhere feeds the history. */
  private applyCommand(node: QueueSimNode, e: RaftEntry): CommandResult {
    const cmd = decodeCommand(e.payload, e.metaLen);
    const quarantinedBefore = cmd.kind === 'quarantineMessage' ? node.sm.stats().quarantined : 0;
    const result = node.sm.apply(e.index, e.timeMs, e.payload, e.metaLen);
    const digest = JSON.stringify(result);
    const seen = this.resultAt.get(e.index);
    if (seen === undefined) {
      this.resultAt.set(e.index, { term: e.term, digest });
      const quarantined = cmd.kind === 'quarantineMessage' && node.sm.stats().quarantined > quarantinedBefore;
      this.observeCommitted(e, cmd, result, quarantined);
    } else if (seen.term !== e.term || seen.digest !== digest) {
      throw new SimAbort('replicaAgreement', `${node.id} got a different result at index ${e.index} (term ${e.term}): ${digest} vs ${seen.digest} (term ${seen.term})`);
    }
    if (e.index % DIGEST_EVERY === 0) this.noteSmDigest(node, node.sm.snapshot());
    return result;
  }

  /** (d) Replicas at the same applied index hold byte-identical state-machine snapshots. */
  private noteSmDigest(node: QueueSimNode, snapshot: Uint8Array): void {
    const index = node.sm.lastAppliedIndex;
    const digest = digestOf(snapshot);
    const seen = this.smDigestAt.get(index);
    if (seen === undefined) this.smDigestAt.set(index, digest);
    else if (seen !== digest) throw new SimAbort('replicaAgreement', `${node.id}'s state machine at index ${index} differs from another replica's (${digest} vs ${seen})`);
  }

  private observeCommitted(e: RaftEntry, cmd: DecodedCommand, result: CommandResult, quarantined: boolean): void {
    const proposal = this.proposals.get(`${e.index}:${e.term}`);
    if (!proposal) throw new SimAbort('driver', `entry ${e.index} (term ${e.term}) was never proposed`);
    this.committedPayload.set(e.index, proposal.payload);
    if (!result.ok) return;
    switch (cmd.kind) {
      case 'sendMessages':
        if (result.kind === 'sendMessages') this.history.sendCommitted(e.index, e.timeMs, cmd.queueName, cmd.delaySeconds, result.msgIds, proposal.bodyIds);
        return;
      case 'receiveMessages':
        if (result.kind !== 'receiveMessages') return;
        for (const m of result.messages) {
          const d = { msgId: m.msgId, queue: cmd.queueName, handle: m.receiptHandle, index: e.index, timeMs: e.timeMs, source: 'log' as const, node: 'log' };
          this.history.delivered(d, m.queueNumber, m.seq);
        }
        return;
      case 'deleteMessages': {
        if (result.kind !== 'deleteMessages') return;
        const failed = new Set(result.failures.map((f) => f.index));
        this.history.deleteCommitted(e.index, e.timeMs, cmd.receiptHandles.filter((_, k) => !failed.has(k)));
        return;
      }
      case 'quarantineMessage':
        if (quarantined) this.history.quarantineCommitted(e.index, cmd.queueNumber, cmd.seq);
        return;
      case 'setQueueAttributes':
        if (cmd.attrs.visibilityTimeout === undefined) return;
        this.history.visibilityChanged(cmd.queueName, e.index, cmd.attrs.visibilityTimeout * 1000);
        this.stats.visibilityChanges++;
        return;
      case 'createQueue':
      case 'deleteQueue':
      case 'rewindQueue':
      case 'unbindDeadLetter':
      case 'tick':
        return;
      // The queue simulation proposes no topic commands.
      case 'createTopic':
      case 'setTopicAttributes':
      case 'deleteTopic':
      case 'subscribe':
      case 'unsubscribe':
      case 'setSubscriptionAttributes':
      case 'clearSubscriptionFilterTags':
      case 'publishMessages':
      case 'pushSucceeded':
      case 'pushFailed':
        return;
      default: {
        const never: never = cmd;
        throw new Error(`unknown command ${String(never)}`);
      }
    }
  }

  // ---- client requests ------------------------------------------------------------------------------

  /** Propose a command on `node`, as QueueNode.submit does; the op resolves when `node` applies it. */
  private propose(node: QueueSimNode, cmd: Command, op: Pick<Op, 'kind' | 'client' | 'queue'>, bodyIds: number[] = []): Op | undefined {
    const raft = node.raft;
    if (!raft) return undefined;
    const { payload, metaLen } = encodeCommand(cmd);
    const r = raft.propose({ kind: 'command', timeMs: this.clock(node), metaLen, payload });
    this.stats.proposals++;
    if (!r.ok) return undefined;
    this.proposals.set(`${r.index}:${r.term}`, { payload, bodyIds });
    const full: Op = { ...op, node: node.id, incarnation: node.incarnation, index: r.index, term: r.term, issuedStep: this.step, bodyIds, ackedEarly: false };
    const key = `${node.id}:${r.index}`;
    const replaced = this.ops.get(key);
    if (replaced) {
      // This node's log lost the earlier proposal at this index (truncated) before applying it.
      this.ops.delete(key);
      this.finishOp(replaced, 'dropped');
    }
    this.ops.set(key, full);
    const client = this.clients.get(op.client);
    if (client) client.outstanding++;
    return full;
  }

  private resolveOp(node: QueueSimNode, e: RaftEntry, result: CommandResult | undefined): void {
    const key = `${node.id}:${e.index}`;
    const op = this.ops.get(key);
    if (!op || op.incarnation !== node.incarnation) return;
    this.ops.delete(key);
    // Another leader's entry took the proposal's place: it failed for sure.
    if (op.term !== e.term || result === undefined) this.finishOp(op, 'dropped');
    else this.finishOp(op, result, node);
  }

  private expireOps(): void {
    for (const [key, op] of this.ops) {
      if (op.issuedStep + OP_TIMEOUT_STEPS < this.step) {
        this.ops.delete(key);
        this.finishOp(op, 'unknown');
      }
    }
  }

  private finishOp(op: Op, outcome: CommandResult | 'dropped' | 'unknown', node?: QueueSimNode): void {
    const client = this.clients.get(op.client);
    if (client) client.outstanding--;
    const result = typeof outcome === 'string' ? undefined : outcome;
    switch (op.kind) {
      case 'create':
        if (result && (result.ok || result.error === 'queueExists')) this.queuesReady.add(op.queue);
        return;
      case 'send':
        if (result?.ok && !op.ackedEarly) this.history.sendAcked(op.bodyIds);
        return;
      case 'receive':
        if (result?.ok && result.kind === 'receiveMessages' && node && client) this.deliverToClient(node, client, op.queue, result.messages);
        return;
      case 'tick': {
        const n = this.nodes.get(op.node);
        if (n && n.incarnation === op.incarnation) n.tickInFlight = false;
        return;
      }
      case 'delete':
      case 'quarantine':
      case 'setVisibility':
        return;
      default: {
        const never: never = op.kind;
        throw new Error(`unknown op ${String(never)}`);
      }
    }
  }

  /** QueueNode.readBodies: read each body, check its CRC32C; deliver the whole ones, quarantine the rest. */
  private deliverToClient(node: QueueSimNode, client: Client, queue: string, messages: ReceivedMessage[]): void {
    for (const m of messages) {
      const body = this.readBody(node, m.body);
      const whole = body !== undefined && body.length === m.body.length && crc32c(body) === m.body.crc32c;
      if (body !== undefined && (whole || this.opts.bug === 'skipBodyCrc')) {
        this.history.clientDelivery(node.id, m.msgId, m.receiptHandle, body);
        client.held.push({ queue, msgId: m.msgId, handle: m.receiptHandle, deleteAtStep: this.deleteAt(queue) });
        continue;
      }
      this.checkDamageIsReal(node, m, body);
      this.history.damaged(m.msgId);
      if (this.intactElsewhere(node, m.body)) this.stats.quarantinedWithIntactReplica++;
      this.trace(`${node.id}: CORRUPTION: body of ${m.msgId} (entry ${m.body.entryIndex}) failed its CRC32C; quarantining`);
      this.propose(node, { kind: 'quarantineMessage', queueName: queue, queueNumber: m.queueNumber, seq: m.seq }, { kind: 'quarantine', client: 'driver', queue });
    }
  }

  /** A body the driver refuses must really differ from what was sent, and must still be on disk. */
  private checkDamageIsReal(node: QueueSimNode, m: ReceivedMessage, body: Uint8Array | undefined): void {
    const ref = m.body;
    if (body === undefined) {
      throw new QueueCheckFailure('bodyMissing', `${node.id}: the body of live message ${m.msgId} (entry ${ref.entryIndex}) is no longer on disk`);
    }
    const payload = this.committedPayload.get(ref.entryIndex);
    if (payload && sameBytes(payload.subarray(ref.offset, ref.offset + ref.length), body)) {
      throw new QueueCheckFailure('falseQuarantine', `${node.id}: body of ${m.msgId} is intact but failed its CRC32C check`);
    }
  }

  /** Whether another node holds a whole copy of the body (the quarantine still removes it everywhere). */
  private intactElsewhere(node: QueueSimNode, ref: BodyRef): boolean {
    for (const other of this.nodes.values()) {
      if (other === node) continue;
      const body = this.readBody(other, ref);
      if (body && body.length === ref.length && crc32c(body) === ref.crc32c) return true;
    }
    return false;
  }

  /** RaftDriver.recentPayload, else WAL readSlice (unverified: the per-body CRC decides). */
  private readBody(node: QueueSimNode, ref: BodyRef): Uint8Array | undefined {
    const cached = node.recent.get(ref.entryIndex);
    if (cached) return cached.payload.subarray(ref.offset, ref.offset + ref.length);
    return node.wal.bodySlice(ref.entryIndex, ref.offset, ref.length);
  }

  /** When a consumer deletes a message: soon, late (after its visibility ended), or never. */
  private deleteAt(queue: string): number {
    const visSteps = (this.visibilitySeconds.get(queue) ?? 1) * (1000 / MS_PER_STEP);
    if (this.healing) return this.step + this.rng.int(1, 10);
    const r = this.rng.next();
    if (r < 0.15) return Infinity;
    if (r < 0.3) return this.step + this.rng.int(visSteps, 2 * visSteps);
    return this.step + this.rng.int(1, Math.floor(visSteps / 2));
  }

  // ---- client traffic -------------------------------------------------------------------------------

  private currentLeader(): QueueSimNode | undefined {
    let best: QueueSimNode | undefined;
    let bestTerm = -1;
    for (const n of this.live()) {
      const s = n.raft!.status();
      if (s.role === 'leader' && s.term > bestTerm) {
        best = n;
        bestTerm = s.term;
      }
    }
    return best;
  }

  /** Where a client's request lands: mostly the leader, sometimes any node (which refuses if not leader). */
  private target(): QueueSimNode | undefined {
    const leader = this.stepLeader;
    if (leader?.raft && this.rng.chance(0.9)) return leader;
    const live = this.live();
    return live.length > 0 ? this.rng.pick(live) : undefined;
  }

  private clientTraffic(): void {
    this.stepLeader = this.currentLeader();
    const touched = new Set<QueueSimNode>();
    this.setUpQueues(touched);
    if (!this.healing) for (const id of PRODUCERS) this.produce(this.clients.get(id)!, touched);
    for (const id of CONSUMERS) this.consume(this.clients.get(id)!, touched);
    const leader = this.stepLeader;
    if (leader?.raft) {
      this.maybeTick(leader);
      touched.add(leader);
    }
    for (const n of touched) this.pumpReady(n);
  }

  private setUpQueues(touched: Set<QueueSimNode>): void {
    const setup = this.clients.get('p1')!;
    if (this.queuesReady.size === QUEUES.length || setup.outstanding > 0 || !this.rng.chance(0.2)) return;
    const q = QUEUES.find((x) => !this.queuesReady.has(x.name))!;
    const node = this.target();
    if (!node) return;
    const attrs = { visibilityTimeout: q.visibilityTimeout, rewindSeconds: q.rewindSeconds, msgRetentionSeconds: 3600, pollingWaitSeconds: 0 };
    this.propose(node, { kind: 'createQueue', queueName: q.name, attrs }, { kind: 'create', client: setup.id, queue: q.name });
    touched.add(node);
  }

  private readyQueue(): string | undefined {
    const ready = QUEUES.filter((q) => this.queuesReady.has(q.name));
    return ready.length > 0 ? this.rng.pick(ready).name : undefined;
  }

  private produce(client: Client, touched: Set<QueueSimNode>): void {
    if (client.outstanding >= OUTSTANDING_MAX || !this.rng.chance(0.06)) return;
    const queue = this.readyQueue();
    const node = this.target();
    if (queue === undefined || !node) return;
    const bodyIds: number[] = [];
    for (let k = this.rng.int(1, 4); k > 0; k--) bodyIds.push(this.nextBodyId++);
    const delaySeconds = this.rng.chance(0.1) ? 1 : 0;
    const cmd: Command = { kind: 'sendMessages', queueName: queue, delaySeconds, bodies: bodyIds.map(bodyFor) };
    const op = this.propose(node, cmd, { kind: 'send', client: client.id, queue }, bodyIds);
    if (op && this.opts.bug === 'ackBeforeCommit') {
      // Broken driver: answers the producer as soon as the leader has the entry.
      op.ackedEarly = true;
      this.history.sendAcked(bodyIds);
    }
    touched.add(node);
  }

  private consume(client: Client, touched: Set<QueueSimNode>): void {
    this.deleteDue(client, touched);
    if (client.outstanding >= OUTSTANDING_MAX || !this.rng.chance(this.healing ? 0.3 : 0.05)) return;
    const queue = this.readyQueue();
    if (queue === undefined) return;
    const numOfMsg = this.rng.int(1, 4);
    const seed = this.rng.nextU32();
    if (this.opts.bug === 'followerReceive' && this.rng.chance(0.5)) {
      const follower = this.live().find((n) => n.raft!.status().role !== 'leader' && this.rng.chance(0.5));
      if (follower) {
        this.serveLocally(follower, client, queue, numOfMsg, seed);
        return;
      }
    }
    const node = this.target();
    // QueueNode.receive: a receive is proposed only when the node's state has visible messages
    // (a follower would forward the request to the leader; here it just goes to the leader).
    if (!node || node !== this.stepLeader || node.sm.visibleCount(queue) === 0) return;
    this.propose(node, { kind: 'receiveMessages', queueName: queue, numOfMsg, seed }, { kind: 'receive', client: client.id, queue });
    touched.add(node);
  }

  private deleteDue(client: Client, touched: Set<QueueSimNode>): void {
    if (client.outstanding >= OUTSTANDING_MAX) return;
    const due = client.held.filter((h) => h.deleteAtStep <= this.step);
    if (due.length === 0) return;
    const node = this.target();
    if (!node) return;
    const queue = due[0]!.queue;
    const batch = due.filter((h) => h.queue === queue).slice(0, 16);
    client.held = client.held.filter((h) => !batch.includes(h));
    this.propose(node, { kind: 'deleteMessages', queueName: queue, receiptHandles: batch.map((h) => h.handle) }, { kind: 'delete', client: client.id, queue });
    touched.add(node);
  }

  /** Broken driver (followerReceive): a follower answers from its own state, as if it were a read. */
  private serveLocally(node: QueueSimNode, client: Client, queue: string, numOfMsg: number, seed: number): void {
    const sm = QueueStateMachine.restore(node.sm.snapshot());
    const index = node.sm.lastAppliedIndex;
    const timeMs = Math.max(this.clock(node), node.sm.lastTimeMs);
    const { payload, metaLen } = encodeCommand({ kind: 'receiveMessages', queueName: queue, numOfMsg, seed });
    const r = sm.apply(index + 1, timeMs, payload, metaLen);
    if (!r.ok || r.kind !== 'receiveMessages') return;
    for (const m of r.messages) {
      this.stats.localDeliveries++;
      const d = { msgId: m.msgId, queue, handle: m.receiptHandle, index: index + 0.5, timeMs, source: 'local' as const, node: node.id };
      this.history.delivered(d, m.queueNumber, m.seq);
    }
    this.deliverToClient(node, client, queue, r.messages);
  }

  /** QueueNode.scheduleTick: the leader proposes a tick once the next deadline has passed. */
  private maybeTick(node: QueueSimNode): void {
    if (node.tickInFlight) return;
    const deadline = node.sm.nextDeadlineMs();
    if (deadline === undefined) return;
    const now = this.clock(node);
    if (now < Math.max(deadline, node.lastTickMs + TICK_MIN_INTERVAL_MS) + 1) return;
    node.lastTickMs = now;
    if (this.propose(node, { kind: 'tick' }, { kind: 'tick', client: 'driver', queue: '' })) {
      node.tickInFlight = true;
      this.stats.ticks++;
    }
  }

  // ---- faults ---------------------------------------------------------------------------------------

  private injectFaults(): void {
    if (this.healing) return;
    if (this.now >= this.partitionUntil && this.cut.size > 0) {
      this.cut.clear();
      this.trace('partition heals');
    }
    const k = this.opts.intensity ?? 1;
    if (this.rng.chance(k / 400)) {
      this.lossRate = this.rng.pick([0, 0, 0.02, 0.1, 0.3]);
      this.dupRate = this.rng.pick([0, 0, 0.02, 0.1]);
    }
    if (this.cut.size === 0 && this.rng.chance(k / 500)) this.partition();
    const down = [...this.nodes.values()].filter((n) => !n.raft).length;
    if (this.rng.chance(k / 700) && down < Math.floor(this.nodes.size / 2)) {
      const victim = this.pickLive();
      if (victim) this.crash(victim, this.rng.int(20, 500), 'crashes');
    }
    if (this.rng.chance(k / 1200)) this.transferLeader();
    if (this.rng.chance(1 / 600)) this.changeVisibility();
    if (this.rng.chance(k / 150)) this.flipBit();
  }

  /** An operator changes a queue's visibility timeout (it applies to later receives only). */
  private changeVisibility(): void {
    const queue = this.readyQueue();
    const node = this.currentLeader();
    if (queue === undefined || !node) return;
    const seconds = this.rng.int(1, 3);
    this.visibilitySeconds.set(queue, seconds);
    this.propose(node, { kind: 'setQueueAttributes', queueName: queue, attrs: { visibilityTimeout: seconds } }, { kind: 'setVisibility', client: 'admin', queue });
    this.trace(`admin sets the visibility timeout of ${queue} to ${seconds} s`);
    this.pumpReady(node);
  }

  private pickLive(): QueueSimNode | undefined {
    const live = this.live();
    return live.length > 0 ? this.rng.pick(live) : undefined;
  }

  private partition(): void {
    const ids = [...this.nodes.keys()];
    this.stats.partitions++;
    const kind = this.rng.int(0, 2);
    if (kind === 0) {
      const victim = this.rng.pick(ids);
      for (const other of ids) {
        if (other === victim) continue;
        this.cut.add(`${victim}->${other}`);
        this.cut.add(`${other}->${victim}`);
      }
      this.trace(`partition: ${victim} isolated`);
    } else if (kind === 1) {
      const side = new Set(ids.filter(() => this.rng.chance(0.5)));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.cut.add(`${a}->${b}`);
      this.trace(`partition: {${[...side].join(',')}} | rest`);
    } else {
      for (let n = this.rng.int(1, 3); n > 0; n--) {
        const a = this.rng.pick(ids);
        const b = this.rng.pick(ids);
        if (a !== b) this.cut.add(`${a}->${b}`);
      }
      this.trace(`partition: one-way cuts ${[...this.cut].join(' ')}`);
    }
    this.partitionUntil = this.now + this.rng.int(50, 800);
  }

  private transferLeader(): void {
    const leader = this.currentLeader();
    if (!leader) return;
    const others = leader.raft!.status().voters.filter((v) => v !== leader.id);
    if (others.length === 0) return;
    const to = this.rng.pick(others);
    const r = leader.raft!.transferLeadership(to);
    this.trace(`${leader.id} transfers leadership to ${to}: ${r.ok ? 'ok' : r.reason}`);
    if (r.ok) this.stats.transfers++;
    this.pumpReady(leader);
  }

  /** A bit rots on some node's disk, preferably in a record that still holds a live message. */
  private flipBit(): void {
    const node = this.rng.pick([...this.nodes.values()]);
    const live = new Set(node.raft ? node.sm.liveEntryIndexes() : []);
    const index = node.wal.flipBit((n) => this.rng.int(0, n - 1), live);
    if (index === undefined) return;
    this.stats.bitFlips++;
    this.trace(`${node.id}: a bit flips in the body of entry ${index} on disk`);
  }

  // ---- checkers and the end of the run ---------------------------------------------------------------

  private checkAll(): void {
    for (const node of this.live()) {
      const s = node.raft!.status();
      if (s.term > this.stats.maxTerm) this.stats.maxTerm = s.term;
      if (s.role === 'leader') {
        const other = this.leaderOfTerm.get(s.term);
        if (other === undefined) this.leaderOfTerm.set(s.term, node.id);
        else if (other !== node.id) throw new SimAbort('electionSafety', `two leaders in term ${s.term}: ${other} and ${node.id}`);
      }
      if (s.commitIndex < node.lastCommit) throw new SimAbort('commitMonotonic', `${node.id} commitIndex went back from ${node.lastCommit} to ${s.commitIndex}`);
      node.lastCommit = s.commitIndex;
    }
  }

  /** Stop the faults, heal the network, restart every node, stop producing, and drain the queues. */
  private heal(): void {
    this.healing = true;
    this.trace('--- healing: producers stop, consumers drain ---');
    this.cut.clear();
    this.lossRate = 0;
    this.dupRate = 0;
    for (const n of this.nodes.values()) if (!n.raft) n.downUntil = this.now;
    // Messages a consumer meant never to delete are abandoned (their visibility runs out).
    for (const c of this.clients.values()) c.held = c.held.filter((h) => h.deleteAtStep !== Infinity);
    const deadline = this.step + HEAL_STEPS_MAX;
    let problem = '';
    for (; this.step <= deadline; this.step++) {
      this.advanceTime();
      this.clientTraffic();
      this.checkAll();
      if (this.step % 25 !== 0) continue;
      problem = this.drainProblem();
      if (problem === '') {
        this.finalChecks();
        return;
      }
    }
    throw new SimAbort('liveness', `not drained ${HEAL_STEPS_MAX} steps after healing: ${problem}`);
  }

  private drainProblem(): string {
    const leader = this.currentLeader();
    if (!leader) return 'no leader';
    const s = leader.raft!.status();
    if (s.commitIndex < s.lastIndex) return `leader ${leader.id} has uncommitted entries`;
    if (this.queuesReady.size < QUEUES.length) return 'queues not created yet';
    for (const n of this.nodes.values()) {
      if (!n.raft) return `${n.id} is down`;
      if (n.appliedIndex !== s.commitIndex) return `${n.id} applied ${n.appliedIndex} of ${s.commitIndex}`;
    }
    if (this.ops.size > 0) return `${this.ops.size} requests outstanding`;
    const m = leader.sm.stats().messages;
    if (m.visible + m.inFlight + m.delayed > 0) return `messages left: ${JSON.stringify(m)}`;
    for (const c of this.clients.values()) if (c.held.length > 0) return `${c.id} still holds ${c.held.length} messages`;
    return '';
  }

  private finalChecks(): void {
    this.history.checkNothingLost();
    let first: { id: string; digest: string } | undefined;
    for (const n of this.nodes.values()) {
      const digest = digestOf(n.sm.snapshot());
      if (!first) first = { id: n.id, digest };
      else if (digest !== first.digest) throw new SimAbort('replicaAgreement', `after the drain ${n.id}'s state differs from ${first.id}'s`);
    }
    this.stats.finalIndex = this.currentLeader()!.raft!.status().commitIndex;
  }
}

export function runQueueSimulation(opts: QueueSimOptions): QueueSimResult {
  return new QueueSimulation(opts).run();
}
