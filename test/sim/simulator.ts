// A deterministic simulator of a Raft set: 3 or 5 RaftNodes (plus nodes added later) in one
// process, driven by one seeded PRNG through virtual time. It simulates the network (loss, delay,
// reordering, duplication, symmetric and one-way partitions), the disk (asynchronous persistence; a
// crash loses whatever was not persisted and can cut a Ready's write short), crashes and restarts,
// membership changes, leader transfers, snapshots and log compaction, slow entry loads, clients
// proposing commands and ReadIndex reads. Checkers run after every step; the first violation stops
// the run and names the seed that replays it.

import { RaftNode } from '../../src/raft/raft-node';
import { encodeMessage, decodeMessage } from '../../src/raft/codec';
import type { PreVote, RaftConfig, RaftEntry, RaftMessage, Ready, RequestVote } from '../../src/raft/types';
import { MemoryStorage } from './memory-storage';
import { Prng } from './prng';
import { chainHash, commandPayload, commandText, TestStateMachine, type SmSnapshot } from './state-machine';

/** Deliberately broken variants, to prove the checkers can fail. */
export type SimBug =
  | 'voteTwice' // the core grants every RequestVote of a term (core bug)
  | 'commitOldTerm' // the core commits entries of earlier terms by counting replicas (core bug)
  | 'readWithoutQuorum' // the driver answers reads from the leader's commitIndex without ReadIndex
  | 'unsyncedWrites'; // the driver calls advance() before its writes are durable

export const SIM_BUGS: readonly SimBug[] = ['voteTwice', 'commitOldTerm', 'readWithoutQuorum', 'unsyncedWrites'];

export interface SimOptions {
  seed: number;
  steps: number;
  /** 3 or 5 (default: chosen by the seed). */
  nodes?: number;
  bug?: SimBug;
  /** Multiplies the rate of crashes, partitions, weather changes, transfers and config changes (default 1). */
  intensity?: number;
  trace?: (line: string) => void;
}

export interface SimFailure {
  check: string;
  message: string;
  step: number;
}

export interface SimStats {
  nodes: number;
  steps: number;
  elections: number;
  maxTerm: number;
  proposals: number;
  acked: number;
  reads: number;
  readsAnswered: number;
  crashes: number;
  partitions: number;
  snapshotsSent: number;
  configChanges: number;
  transfers: number;
  messages: number;
  /** Readies whose write a crash cut short. */
  tornWrites: number;
  /** Readies that told the driver to truncate a conflicting suffix. */
  truncations: number;
  fetches: number;
  fetchesLost: number;
  readsDropped: number;
  finalCommit: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  failure?: SimFailure;
  stats: SimStats;
  /** The command that replays this run exactly. */
  replay: string;
}

class CheckFailure extends Error {
  constructor(
    readonly check: string,
    message: string,
  ) {
    super(message);
  }
}

// ---- tuning ----------------------------------------------------------------------------------------

const TICK_EVERY = 10; // virtual time units per node tick
const ELECTION_TICKS = 10;
const HEARTBEAT_TICKS = 2;
const HEAL_STEPS_MAX = 6000;
const ID_POOL = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9'];
const MEMBERS_MAX = 7;

// ---- the simulated node (its driver) -----------------------------------------------------------

interface Persisting {
  rd: Ready;
  doneAt: number;
  snapshotData: SmSnapshot | undefined;
}

class SimNode {
  readonly storage = new MemoryStorage();
  sm = new TestStateMachine();
  raft: RaftNode | undefined;
  incarnation = 0;
  /** Disk log chain hashes: diskChain[i - diskChainBase] is the chain hash at index i. */
  diskChain: number[] = [0];
  diskChainBase = 0;
  persisting: Persisting | undefined;
  loads: { entries: RaftEntry[]; at: number }[] = [];
  /** Snapshot data that arrived with InstallSnapshot messages, by index, until one is installed. */
  incomingSnapshots = new Map<number, SmSnapshot>();
  tickPhase: number;
  downUntil = 0;
  decommissioned = false;
  /** For the unsyncedWrites bug: the disk as of the last fdatasync, and when the next one ends. */
  durable = new MemoryStorage();
  syncAt = Infinity;
  lastCommit = 0;

  constructor(
    readonly id: string,
    tickPhase: number,
    /** The bootstrap configuration this node is started with every time (its "config file"). */
    readonly initialVoters: string[],
  ) {
    this.tickPhase = tickPhase;
  }
}

interface InFlight {
  msg: RaftMessage;
  at: number;
  snapshotData?: SmSnapshot;
}

interface Proposal {
  id: string;
  node: string;
  incarnation: number;
  index: number;
  term: number;
}

interface Read {
  requestId: string;
  node: string;
  incarnation: number;
  minIndex: number;
}

// ---- the simulation --------------------------------------------------------------------------------

export class Simulation {
  private readonly rng: Prng;
  private readonly nodes = new Map<string, SimNode>();
  private network: InFlight[] = [];
  private readonly cut = new Set<string>();
  private now = 0;
  private step = 0;
  private healing = false;
  private lossRate = 0;
  private dupRate = 0;
  private partitionUntil = 0;
  private proposalSeq = 0;
  private readSeq = 0;

  // Checker state.
  private readonly leaderOfTerm = new Map<number, string>();
  private readonly chainOfEntry = new Map<string, number>();
  private readonly appliedHash: number[] = [];
  private readonly appliedId: (string | undefined)[] = [];
  private readonly pending = new Map<string, Proposal>();
  private readonly acked = new Map<string, number>();
  private readonly reads = new Map<string, Read>();
  private maxCommitSeen = 0;
  private toDecommission: string[] = [];
  private pendingConfig: { index: number; term: number; node: string; type: 'addVoter' | 'removeVoter' } | undefined;

  readonly stats: SimStats;

  constructor(private readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    const n = opts.nodes ?? (this.rng.chance(0.25) ? 5 : 3);
    const ids = ID_POOL.slice(0, n);
    this.stats = {
      nodes: n,
      steps: 0,
      elections: 0,
      maxTerm: 0,
      proposals: 0,
      acked: 0,
      reads: 0,
      readsAnswered: 0,
      crashes: 0,
      partitions: 0,
      snapshotsSent: 0,
      configChanges: 0,
      transfers: 0,
      messages: 0,
      tornWrites: 0,
      truncations: 0,
      fetches: 0,
      fetchesLost: 0,
      readsDropped: 0,
      finalCommit: 0,
    };
    for (const id of ids) this.startNew(id, ids);
  }

  replayCommand(): string {
    const parts = [`node dist/test/sim/run.js --seed ${this.opts.seed} --steps ${this.opts.steps}`];
    if (this.opts.nodes !== undefined) parts.push(`--nodes ${this.opts.nodes}`);
    if (this.opts.bug) parts.push(`--bug ${this.opts.bug}`);
    if (this.opts.intensity !== undefined && this.opts.intensity !== 1) parts.push(`--intensity ${this.opts.intensity}`);
    return parts.join(' ');
  }

  run(): SimResult {
    let failure: SimFailure | undefined;
    try {
      for (this.step = 1; this.step <= this.opts.steps; this.step++) {
        this.advanceTime();
        this.injectFaults();
        this.clientTraffic();
        this.checkAll();
      }
      this.heal();
    } catch (err) {
      failure =
        err instanceof CheckFailure
          ? { check: err.check, message: err.message, step: this.step }
          : { check: 'exception', message: err instanceof Error ? (err.stack ?? err.message) : String(err), step: this.step };
    }
    this.stats.steps = this.step;
    const result: SimResult = { seed: this.opts.seed, ok: failure === undefined, stats: this.stats, replay: this.replayCommand() };
    if (failure) result.failure = failure;
    return result;
  }

  private trace(line: string): void {
    this.opts.trace?.(`[${this.step} t=${this.now}] ${line}`);
  }

  // ---- nodes ----------------------------------------------------------------------------------

  private startNew(id: string, voters: string[]): SimNode {
    const node = new SimNode(id, this.rng.int(0, TICK_EVERY - 1), voters);
    this.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  private boot(node: SimNode): void {
    node.incarnation++;
    node.sm = new TestStateMachine();
    if (node.storage.snapshot) node.sm.restore(node.storage.snapshot.data);
    const jitter = this.rng.fork();
    const config: RaftConfig = {
      id: node.id,
      voters: node.initialVoters,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      random: () => jitter.next(),
      preVote: true,
      checkQuorum: true,
      maxInflightAppends: 4,
      maxBytesPerAppend: 160,
      maxInflightBytes: 2000,
      maxUncommittedBytes: 3000,
      maxWindowBytes: 1500,
      log: node.storage,
      restored: node.storage.restored(),
    };
    node.raft = this.makeRaft(config);
    node.lastCommit = node.raft.status().commitIndex;
    this.trace(`${node.id} boots (incarnation ${node.incarnation}, term ${node.raft.status().term}, last ${node.raft.status().lastIndex})`);
  }

  private makeRaft(config: RaftConfig): RaftNode {
    switch (this.opts.bug) {
      case 'voteTwice':
        return new VoteTwiceNode(config);
      case 'commitOldTerm':
        return new CommitOldTermNode(config);
      case 'readWithoutQuorum':
      case 'unsyncedWrites':
      case undefined:
        return new RaftNode(config);
    }
  }

  private live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raft !== undefined);
  }

  private crash(node: SimNode, downFor: number): void {
    this.stats.crashes++;
    const p = node.persisting;
    if (this.opts.bug === 'unsyncedWrites') {
      // Everything since the last fdatasync is lost.
      node.storage.restoreFrom(node.durable);
      this.rebuildDiskChain(node);
      node.syncAt = Infinity;
    } else if (p) {
      // The write in progress may have partly reached the disk: a snapshot install is atomic, then
      // some prefix of the entries, and the hard state only after all of them.
      this.stats.tornWrites++;
      const installed = p.rd.snapshotToInstall === undefined || this.rng.chance(0.5);
      if (installed) {
        const count = this.rng.int(0, p.rd.entriesToPersist.length);
        this.persistToDisk(node, p.rd, p.snapshotData, count, this.rng.chance(0.5));
      }
    }
    node.raft = undefined;
    node.persisting = undefined;
    node.loads = [];
    node.incomingSnapshots.clear();
    node.downUntil = this.now + downFor;
    this.trace(`${node.id} crashes (down ${downFor})`);
  }

  // ---- time -----------------------------------------------------------------------------------

  private advanceTime(): void {
    this.now++;
    // Messages due now, in a random order among themselves.
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
      if (node.syncAt <= this.now) {
        node.durable = node.storage.clone();
        node.syncAt = Infinity;
      }
      if (node.persisting && node.persisting.doneAt <= this.now) this.finishPersist(node);
      const ready = node.loads.filter((l) => l.at <= this.now);
      if (ready.length > 0) {
        node.loads = node.loads.filter((l) => l.at > this.now);
        for (const l of ready) node.raft!.entriesLoaded(l.entries);
      }
      if ((this.now + node.tickPhase) % TICK_EVERY === 0) node.raft!.tick();
    }
    for (const node of this.nodes.values()) {
      if (!node.raft && !node.decommissioned && node.downUntil <= this.now) this.boot(node);
    }
    for (const node of this.live()) this.pumpReady(node);
  }

  private deliver(f: InFlight): void {
    const { msg } = f;
    const to = this.nodes.get(msg.to);
    const sender = this.nodes.get(msg.from)?.raft;
    const dropped = !to?.raft || this.cut.has(`${msg.from}->${msg.to}`) || this.rng.chance(this.lossRate);
    if (dropped) {
      if (msg.type === 'InstallSnapshot') sender?.reportSnapshot(msg.to, 'failed');
      return;
    }
    if (f.snapshotData) to.incomingSnapshots.set(f.snapshotData.index, f.snapshotData);
    to.raft!.step(msg);
    if (msg.type === 'InstallSnapshot') sender?.reportSnapshot(msg.to, 'finished');
  }

  private send(from: SimNode, msg: RaftMessage): void {
    this.stats.messages++;
    // Every message crosses the wire codec, so the simulator exercises it too.
    const wire = decodeMessage(encodeMessage(msg));
    const f: InFlight = { msg: wire, at: this.now + this.delay() };
    if (msg.type === 'InstallSnapshot') {
      const snap = from.storage.snapshot;
      if (!snap || snap.meta.index !== msg.snapshot.index) throw new CheckFailure('driver', `${from.id} asked to send snapshot ${msg.snapshot.index} it does not hold`);
      f.snapshotData = snap.data;
      this.stats.snapshotsSent++;
    }
    this.network.push(f);
    if (this.rng.chance(this.dupRate)) this.network.push({ ...f, at: this.now + this.delay() });
  }

  private delay(): number {
    return this.rng.chance(0.1) ? this.rng.int(6, 40) : this.rng.int(1, 6);
  }

  // ---- the driver loop ----------------------------------------------------------------------

  private pumpReady(node: SimNode): void {
    for (let guard = 0; guard < 100; guard++) {
      const raft = node.raft;
      if (!raft || node.persisting || !raft.hasReady()) return;
      const rd = raft.ready();
      this.handleReady(node, raft, rd);
    }
    throw new CheckFailure('liveness', `${node.id}: Ready loop does not settle`);
  }

  private handleReady(node: SimNode, raft: RaftNode, rd: Ready): void {
    if (rd.softState) {
      this.trace(`${node.id} is ${rd.softState.role} (leader ${rd.softState.leader ?? '-'}, term ${raft.status().term})`);
      if (rd.softState.role === 'leader') this.stats.elections++;
    }
    for (const m of rd.messages) this.send(node, m);
    for (const e of rd.committedEntries) this.applyEntry(node, e);
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last) {
      raft.appliedTo(last.index);
      if (this.rng.chance(0.1) && node.sm.index - (node.storage.snapshot?.meta.index ?? 0) >= 20) this.compactDisk(node);
    }
    for (const rs of rd.readStates) this.checkRead(node, rs.requestId, rs.index);
    for (const id of rd.droppedReads) {
      this.reads.delete(id);
      this.stats.readsDropped++;
    }
    if (rd.truncateFrom !== undefined) this.stats.truncations++;
    for (const f of rd.entryFetches) {
      this.stats.fetches++;
      // Now and then the driver's load fails and it never answers: the core must ask again.
      if (this.rng.chance(0.1)) this.stats.fetchesLost++;
      else node.loads.push({ entries: node.storage.load(f.from, f.to, 400), at: this.now + this.rng.int(1, 12) });
    }
    let snapshotData: SmSnapshot | undefined;
    if (rd.snapshotToInstall) {
      snapshotData = node.incomingSnapshots.get(rd.snapshotToInstall.index);
      if (!snapshotData) throw new CheckFailure('driver', `${node.id}: no data for snapshot ${rd.snapshotToInstall.index}`);
      node.incomingSnapshots.clear();
    }
    const p: Persisting = { rd, doneAt: this.now + (this.rng.chance(0.3) ? 0 : this.rng.int(1, 5)), snapshotData };
    node.persisting = p;
    if (this.opts.bug === 'unsyncedWrites') {
      // Broken driver: writes into the page cache and calls advance() before fdatasync.
      if (node.syncAt === Infinity) node.syncAt = p.doneAt;
      p.doneAt = this.now;
    }
    if (p.doneAt <= this.now) this.finishPersist(node);
  }

  private finishPersist(node: SimNode): void {
    const p = node.persisting!;
    node.persisting = undefined;
    this.persistToDisk(node, p.rd, p.snapshotData, p.rd.entriesToPersist.length, true);
    if (p.rd.snapshotToInstall) {
      node.sm.restore(p.snapshotData!);
      this.noteApplied(node, p.snapshotData!.index, p.snapshotData!.hash, undefined);
      node.raft!.snapshotInstalled(p.rd.snapshotToInstall);
    }
    node.raft!.advance(p.rd);
  }

  /** Write to the simulated disk and check Log Matching on every entry that lands. */
  private persistToDisk(node: SimNode, rd: Ready, data: SmSnapshot | undefined, count: number, hardState: boolean): void {
    node.storage.persist(rd, data, count, hardState);
    if (rd.snapshotToInstall) {
      node.diskChainBase = rd.snapshotToInstall.index;
      node.diskChain = [data!.hash];
    }
    if (rd.truncateFrom !== undefined) node.diskChain.length = Math.max(1, rd.truncateFrom - node.diskChainBase);
    for (const e of rd.entriesToPersist.slice(0, count)) {
      const pos = e.index - node.diskChainBase;
      node.diskChain.length = pos;
      const h = chainHash(node.diskChain[pos - 1]!, e);
      node.diskChain.push(h);
      const key = `${e.index}:${e.term}`;
      const seen = this.chainOfEntry.get(key);
      if (seen === undefined) this.chainOfEntry.set(key, h);
      else if (seen !== h) throw new CheckFailure('logMatching', `${node.id} holds entry ${key} after a different log prefix than another node`);
    }
  }

  private rebuildDiskChain(node: SimNode): void {
    node.diskChainBase = node.storage.snapshot?.meta.index ?? 0;
    node.diskChain = [node.storage.snapshot?.data.hash ?? 0];
    for (const e of node.storage.all()) node.diskChain.push(chainHash(node.diskChain[node.diskChain.length - 1]!, e));
  }

  private compactDisk(node: SimNode): void {
    const raft = node.raft!;
    const meta = raft.snapshotMetaAt(node.sm.index);
    raft.compact(meta); // before the LogView forgets the entries
    node.storage.compact(meta, node.sm.snapshot());
    const drop = Math.min(meta.index - node.diskChainBase, node.diskChain.length - 1);
    if (drop > 0) {
      node.diskChain = node.diskChain.slice(drop);
      node.diskChainBase += drop;
    }
  }

  // ---- applying ---------------------------------------------------------------------------------

  private applyEntry(node: SimNode, e: RaftEntry): void {
    node.sm.apply(e);
    const id = e.kind === 'command' ? commandText(e) : e.kind === 'config' ? `config@${e.term}` : undefined;
    this.noteApplied(node, e.index, node.sm.hash, id);
    if (e.kind === 'command') {
      const p = this.pending.get(commandText(e));
      if (p && p.node === node.id && p.incarnation === node.incarnation && p.index === e.index && p.term === e.term) {
        this.pending.delete(p.id);
        // Durability: what the history at this index holds is now fixed for good (every later apply
        // of this index anywhere must reach the same hash: noteApplied).
        if (this.appliedId[e.index] !== p.id) throw new CheckFailure('durability', `acknowledged ${p.id} at ${e.index} but ${this.appliedId[e.index]} was applied there first`);
        this.acked.set(p.id, e.index);
        this.stats.acked++;
      }
    }
    const pc = this.pendingConfig;
    if (pc && e.index === pc.index && e.term === pc.term) {
      this.pendingConfig = undefined;
      this.trace(`config change committed: ${pc.type} ${pc.node}`);
      // Most removed nodes are shut down (after this step); some keep running as non-voters.
      if (pc.type === 'removeVoter' && this.rng.chance(0.7)) {
        this.nodes.get(pc.node)!.decommissioned = true; // never re-added
        this.toDecommission.push(pc.node);
      }
    } else if (pc && e.index === pc.index) {
      this.pendingConfig = undefined; // the change was overwritten
    }
  }

  /** State machine safety: every node applies the same entry (and prefix) at each index. */
  private noteApplied(node: SimNode, index: number, hash: number, id: string | undefined): void {
    const seen = this.appliedHash[index];
    if (seen === undefined) {
      this.appliedHash[index] = hash;
      if (id !== undefined) this.appliedId[index] = id;
    } else if (seen !== hash) {
      throw new CheckFailure('stateMachineSafety', `${node.id} applied a different history at index ${index}`);
    }
  }

  // ---- clients ----------------------------------------------------------------------------------

  private clientTraffic(): void {
    if (this.healing) return;
    const leaders = this.live().filter((n) => n.raft!.status().role === 'leader');
    const target = leaders.length > 0 && this.rng.chance(0.9) ? this.rng.pick(leaders) : this.pickLive();
    if (!target) return;
    const raft = target.raft!;
    if (this.rng.chance(0.3)) {
      for (let k = this.rng.int(1, 3); k > 0; k--) {
        const id = `p${++this.proposalSeq}`;
        const r = raft.propose({ kind: 'command', timeMs: this.now, metaLen: 0, payload: commandPayload(id) });
        this.stats.proposals++;
        if (r.ok) this.pending.set(id, { id, node: target.id, incarnation: target.incarnation, index: r.index, term: r.term });
      }
    }
    if (this.rng.chance(0.06)) this.issueRead(target);
    this.pumpReady(target);
  }

  private issueRead(node: SimNode): void {
    const raft = node.raft!;
    const requestId = `r${++this.readSeq}`;
    this.stats.reads++;
    if (this.opts.bug === 'readWithoutQuorum') {
      // Broken driver: trusts its own idea of being leader and reads at its commitIndex.
      const s = raft.status();
      if (s.role !== 'leader') return;
      this.reads.set(requestId, { requestId, node: node.id, incarnation: node.incarnation, minIndex: this.maxCommitSeen });
      this.checkRead(node, requestId, s.commitIndex);
      return;
    }
    if (raft.readIndex(requestId).ok) {
      this.reads.set(requestId, { requestId, node: node.id, incarnation: node.incarnation, minIndex: this.maxCommitSeen });
    }
  }

  /** Linearizable reads: a read index covers everything committed before the read was issued. */
  private checkRead(node: SimNode, requestId: string, index: number): void {
    const read = this.reads.get(requestId);
    if (!read) return;
    this.reads.delete(requestId);
    this.stats.readsAnswered++;
    if (read.node !== node.id || read.incarnation !== node.incarnation) {
      throw new CheckFailure('reads', `read ${requestId} answered by ${node.id}, issued on ${read.node}`);
    }
    if (index < read.minIndex) {
      throw new CheckFailure('reads', `read ${requestId} on ${node.id} got index ${index} but ${read.minIndex} was committed before it was issued`);
    }
  }

  private pickLive(): SimNode | undefined {
    const live = this.live();
    return live.length > 0 ? this.rng.pick(live) : undefined;
  }

  // ---- faults -----------------------------------------------------------------------------------

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
    const members = [...this.nodes.values()].filter((n) => !n.decommissioned);
    const down = members.filter((n) => !n.raft).length;
    if (this.rng.chance(k / 700) && down < Math.floor(members.length / 2)) {
      const victim = this.pickLive();
      if (victim) this.crash(victim, this.rng.int(20, 500));
    }
    if (this.rng.chance(k / 1000)) this.changeMembership();
    if (this.rng.chance(k / 1200)) this.transferLeader();
    if (this.rng.chance(1 / 100)) {
      const n = this.pickLive();
      if (n) n.storage.unavailableBelow = this.rng.chance(0.5) ? n.storage.lastIndex() - this.rng.int(0, 30) : 0;
    }
  }

  private partition(): void {
    const ids = [...this.nodes.keys()];
    this.stats.partitions++;
    const kind = this.rng.int(0, 2);
    if (kind === 0) {
      const victim = this.rng.pick(ids);
      for (const other of ids) {
        if (other !== victim) {
          this.cut.add(`${victim}->${other}`);
          this.cut.add(`${other}->${victim}`);
        }
      }
      this.trace(`partition: ${victim} isolated`);
    } else if (kind === 1) {
      const side = new Set(ids.filter(() => this.rng.chance(0.5)));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.cut.add(`${a}->${b}`);
      this.trace(`partition: {${[...side].join(',')}} | rest`);
    } else {
      for (let k = this.rng.int(1, 3); k > 0; k--) {
        const a = this.rng.pick(ids);
        const b = this.rng.pick(ids);
        if (a !== b) this.cut.add(`${a}->${b}`);
      }
      this.trace(`partition: one-way cuts ${[...this.cut].join(' ')}`);
    }
    this.partitionUntil = this.now + this.rng.int(50, 800);
  }

  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
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

  private changeMembership(): void {
    const leader = this.currentLeader();
    if (!leader || this.pendingConfig) return;
    const raft = leader.raft!;
    const voters = raft.status().voters;
    const members = [...this.nodes.values()].filter((n) => !n.decommissioned);
    let change: { type: 'addVoter' | 'removeVoter'; node: string };
    if (voters.length <= 3 || (voters.length < 5 && this.rng.chance(0.5))) {
      const idle = members.find((n) => n.raft && !voters.includes(n.id));
      const fresh = ID_POOL.find((id) => !this.nodes.has(id));
      if (idle) change = { type: 'addVoter', node: idle.id };
      else if (fresh && members.length < MEMBERS_MAX) change = { type: 'addVoter', node: this.startNew(fresh, []).id };
      else return;
    } else {
      change = { type: 'removeVoter', node: this.rng.pick(voters) };
    }
    const r = raft.proposeConfigChange(change);
    this.trace(`${leader.id} proposes ${change.type} ${change.node}: ${r.ok ? 'ok' : r.reason}`);
    if (r.ok) {
      this.stats.configChanges++;
      this.pendingConfig = { index: r.index, term: r.term, ...change };
    }
    this.pumpReady(leader);
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

  // ---- checkers ---------------------------------------------------------------------------------

  private checkAll(): void {
    for (const id of this.toDecommission) {
      const gone = this.nodes.get(id)!;
      if (gone.raft) this.crash(gone, 0);
      this.trace(`${id} decommissioned`);
    }
    this.toDecommission = [];
    for (const node of this.live()) {
      const s = node.raft!.status();
      if (s.term > this.stats.maxTerm) this.stats.maxTerm = s.term;
      if (s.role === 'leader') {
        const other = this.leaderOfTerm.get(s.term);
        if (other === undefined) this.leaderOfTerm.set(s.term, node.id);
        else if (other !== node.id) throw new CheckFailure('electionSafety', `two leaders in term ${s.term}: ${other} and ${node.id}`);
      }
      if (s.commitIndex < node.lastCommit) throw new CheckFailure('commitMonotonic', `${node.id} commitIndex went back from ${node.lastCommit} to ${s.commitIndex}`);
      node.lastCommit = s.commitIndex;
      if (s.commitIndex > this.maxCommitSeen) this.maxCommitSeen = s.commitIndex;
      if (s.appliedIndex > s.commitIndex) throw new CheckFailure('applied', `${node.id} applied ${s.appliedIndex} beyond commit ${s.commitIndex}`);
    }
  }

  /** Stop the faults, heal the network, restart every member, and wait for everyone to converge. */
  private heal(): void {
    this.healing = true;
    this.trace('--- healing ---');
    this.cut.clear();
    this.lossRate = 0;
    this.dupRate = 0;
    for (const n of this.nodes.values()) {
      if (!n.raft && !n.decommissioned) n.downUntil = this.now;
      n.storage.unavailableBelow = 0;
    }
    const deadline = this.step + HEAL_STEPS_MAX;
    let lastProblem = '';
    for (; this.step <= deadline; this.step++) {
      this.advanceTime();
      this.checkAll();
      if (this.step % 25 !== 0) continue;
      lastProblem = this.convergenceProblem();
      if (lastProblem === '') {
        this.stats.finalCommit = this.currentLeader()!.raft!.status().commitIndex;
        return;
      }
    }
    throw new CheckFailure('liveness', `no convergence ${HEAL_STEPS_MAX} steps after healing: ${lastProblem}`);
  }

  private convergenceProblem(): string {
    const leader = this.currentLeader();
    if (!leader) return 'no leader';
    const s = leader.raft!.status();
    if (s.commitIndex < s.lastIndex) return `leader ${leader.id} has uncommitted entries`;
    let maxAcked = 0;
    for (const index of this.acked.values()) maxAcked = Math.max(maxAcked, index);
    if (s.commitIndex < maxAcked) return `leader ${leader.id} commit ${s.commitIndex} below acknowledged ${maxAcked}`;
    for (const id of s.voters) {
      const n = this.nodes.get(id);
      if (!n?.raft) return `voter ${id} is down`;
      if (n.sm.index !== s.commitIndex) return `voter ${id} applied ${n.sm.index} of ${s.commitIndex}`;
    }
    return '';
  }
}

// ---- deliberately broken cores ---------------------------------------------------------------------

class VoteTwiceNode extends RaftNode {
  protected override mayVoteFor(m: RequestVote | PreVote): boolean {
    return m.type === 'RequestVote' || super.mayVoteFor(m);
  }
}

class CommitOldTermNode extends RaftNode {
  protected override canCommitAt(): boolean {
    return true;
  }
}

export function runSimulation(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
