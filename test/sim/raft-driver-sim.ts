// The Raft-level workload on the shared simulation scaffolding: 3 or 5 members, each running the
// SHIPPED RaftDriver (src/node/raft-driver.ts) with the real SegmentedWal, HardStateStore,
// SnapshotStore and snapshot transfer on a simulated disk (sim-fs.ts), the simulated peer network
// (sim-network.ts) and virtual time (sim-runtime.ts), and a toy hash-chain state machine
// (state-machine.ts) as its commit listener. It is the queue-level workload's sibling
// (node-sim.ts): same scheduler, disk and network, other clients and other checkers.
//
// Clients propose commands through whichever member leads (driver.propose) and issue ReadIndex
// reads (driver.readBarrier, then read the toy state). An operator moves leadership
// (driver.transferLeadership) and changes membership one server at a time
// (driver.proposeConfigChange: fresh or idle members are added, any voter removed, most removed
// members shut down for good). Members snapshot the toy state and compact, and lagging ones get
// the leader's snapshot through the real SnapshotSender/SnapshotReceiver, installed as QueueNode
// installs it. Faults: crashes (a power loss on that member's disk; the restart re-opens the
// snapshot, the WAL and the hard state and replays the committed prefix, as QueueNode.open does),
// whole-set power failures, symmetric, split and one-way partitions, network weather. After the
// fault phase the network heals, every member is up, and the set must converge.
//
// Checkers: election safety (one leader per term); the same applied history on every member (a
// chain hash over (index, term, kind, payload) recorded at every apply, restart replays and
// restored snapshots included); commit never moves back within a process; applied never passes
// commit; an acknowledged proposal is what the history holds at its index, and after the heal
// every voter applied it; a read that completes saw everything committed anywhere before it
// started; a restart finds the committed prefix its hard state promises; no task of the driver
// threw.


import { RaftDriver, type RaftDriverOptions } from '../../src/node/raft-driver';
import { RpcRouter } from '../../src/node/rpc';
import { beginInstall, finishInstall, SnapshotReceiver, SnapshotSender } from '../../src/node/snapshot-transfer';
import type { ConfigChange, RaftEntry } from '../../src/raft';
import { RaftNode } from '../../src/raft/raft-node';
import type { PreVote, RequestVote } from '../../src/raft/types';
import { HardStateStore } from '../../src/storage/hard-state';
import { SnapshotStore } from '../../src/storage/snapshot-store';
import { SegmentedWal, type WalOptions } from '../../src/storage/wal';
import { lyingAboutSync } from './node-sim';
import { Prng } from './prng';
import { CALM, SimNetwork, type SimPeerNetwork } from './sim-network';

/** The Raft group the workload's set runs as (the wire and the driver are the same for any group). */
const GROUP = 0;
import { diskDigest, SimMachine, type MachineStats } from './sim-machine';
import { SimScheduler, type SimProcessRuntime } from './sim-runtime';
import { commandPayload, commandText, TestStateMachine } from './state-machine';

/** Deliberately broken variants, to prove the checkers catch what they claim to. */
export type RaftDriverSimBug =
  | 'voteTwice' // the core grants every RequestVote of a term (a patch of RaftNode.mayVoteFor)
  | 'commitOldTerm' // the core commits entries of earlier terms by counting replicas (RaftNode.canCommitAt)
  | 'readWithoutQuorum' // the driver's read barrier resolves at once, without ReadIndex
  | 'unsyncedWrites'; // the disk acknowledges fdatasync without making anything durable

export const RAFT_DRIVER_SIM_BUGS: readonly RaftDriverSimBug[] = ['voteTwice', 'commitOldTerm', 'readWithoutQuorum', 'unsyncedWrites'];

export interface RaftDriverSimOptions {
  seed: number;
  /** Virtual milliseconds of the fault phase. */
  durationMs: number;
  /** 3 or 5 initial members (default: chosen by the seed, 5 in a quarter of the seeds). */
  nodes?: number;
  bug?: RaftDriverSimBug;
  /** Multiplies the rate of crashes, partitions, weather changes, transfers and config changes (default 1). */
  intensity?: number;
  /**
   * Let the operator add back a member it removed (same id, its old disk). Off by default: a
   * member whose log still says that id was removed neither sends to it nor (in the real
   * transport) accepts it, so when the re-added member leads, such a member cannot catch up.
   */
  readdRemoved?: boolean;
  trace?: (line: string) => void;
}

export interface RaftDriverSimStats {
  nodes: number;
  /** Milliseconds per Raft tick (50 in a server; 10 in seeds with short timers). */
  tickMs: number;
  tasksRun: number;
  elections: number;
  maxTerm: number;
  proposals: number;
  acked: number;
  reads: number;
  readsAnswered: number;
  crashes: number;
  /** Crashes of every member at once. */
  powerFailures: number;
  restarts: number;
  tornWrites: number;
  lostWrites: number;
  partitions: number;
  weatherChanges: number;
  transfers: number;
  /** Membership changes committed. */
  configChanges: number;
  /** Suffixes of a member's WAL cut off because another leader's entries replaced them. */
  truncations: number;
  /** Committed entries re-applied from the WAL at restarts (up to the hard state's commit hint). */
  replayed: number;
  snapshotsTaken: number;
  /** Snapshots a member installed from its leader (sent by the real snapshot transfer). */
  snapshotsInstalled: number;
  segmentsReleased: number;
  fatalStops: number;
  finalCommit: number;
  networkFrames: number;
  networkLost: number;
}

export type RaftDriverSimCheck =
  | 'electionSafety'
  | 'stateMachineSafety'
  | 'commitMonotonic'
  | 'applied'
  | 'durability'
  | 'reads'
  | 'recovery'
  | 'liveness'
  | 'uncaught'
  | 'startFailure'
  | 'exception';

export interface RaftDriverSimFailure {
  check: RaftDriverSimCheck;
  message: string;
  atMs: number;
}

export interface RaftDriverSimResult {
  seed: number;
  ok: boolean;
  failure?: RaftDriverSimFailure;
  stats: RaftDriverSimStats;
  /** SHA-256 over every member's disk bytes and the run's statistics: equal for equal seeds. */
  digest: string;
  replay: string;
}

// ---- tuning ------------------------------------------------------------------------------------

const EPOCH_MS = 1_700_000_000_000;
const ID_POOL = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9'] as const;
const MEMBERS_MAX = 7;
const STEP_MS = 10;
/**
 * Timer settings, per seed: the server's defaults (queue-node.ts: 50 ms ticks, elections after
 * 10-20 of them), or short ones (elections after 40-80 ms), under which network delays and slow
 * fsyncs often reach the election timeout, so candidacies overlap and votes split.
 */
const TIMERS = [
  { tickMs: 50, electionTicks: 10, heartbeatTicks: 2 },
  { tickMs: 10, electionTicks: 4, heartbeatTicks: 1 },
] as const;
/** Small segments and a small window of recent entries, so logs roll over and lagging followers are read from disk. */
const SEGMENT_BYTES = 16 * 1024;
const RECENT_BYTES_MAX = 2000;
const HEAL_MS_MAX = 60_000;
/** A snapshot every this many applied entries (per seed), after which the log is compacted. */
const SNAPSHOT_EVERY_ENTRIES = [100, 400] as const;

// ---- the simulation ----------------------------------------------------------------------------

class SimAbort extends Error {
  constructor(
    readonly check: RaftDriverSimCheck,
    message: string,
  ) {
    super(message);
  }
}

/** A member's machine (disk, process) and the driver running on it. */
class Member extends SimMachine {
  net!: SimPeerNetwork;
  driver: RaftDriver<number> | undefined;
  sm = new TestStateMachine();
  /** Removed and shut down for good. */
  decommissioned = false;
  /** Highest commit index this process has reported (commit never moves back within a process). */
  lastCommit = 0;

  constructor(
    id: string,
    scheduler: SimScheduler,
    rng: Prng,
    stats: MachineStats,
    /** The bootstrap voters it is started with every time (its "config file"): empty for members added later. */
    readonly initialVoters: string[],
  ) {
    super(id, scheduler, rng, stats);
  }
}

interface Applied {
  term: number;
  hash: number;
  /** The command's text, for commands. */
  id: string | undefined;
  node: string;
}

/** What a toy node's snapshot holds (the chain hash stands for the state). */
interface ToySnapshot {
  hash: number;
  lastTimeMs: number;
  voters: string[];
  addresses: Record<string, string>;
}

function encodeToySnapshot(s: ToySnapshot): Uint8Array {
  return Buffer.from(JSON.stringify(s));
}

function decodeToySnapshot(data: Uint8Array): ToySnapshot {
  return JSON.parse(Buffer.from(data).toString('utf8')) as ToySnapshot;
}

/** A running member's log and snapshot bookkeeping (the parts of QueueNode the driver calls back into). */
interface ToyNode {
  /** Replaced when a snapshot from the leader is installed. */
  wal: SegmentedWal;
  lastTimeMs: number;
  sinceSnapshot: number;
  snapshotRunning: Promise<void> | undefined;
}

export class RaftDriverSimulation {
  private readonly rng: Prng;
  private readonly scheduler = new SimScheduler(EPOCH_MS);
  private readonly network: SimNetwork;
  private readonly members = new Map<string, Member>();
  private readonly intensity: number;
  private readonly timers: (typeof TIMERS)[number];
  private readonly snapshotEvery: number;
  private readonly leaderOfTerm = new Map<number, string>();
  private readonly appliedAt = new Map<number, Applied>();
  /** Acknowledged proposals: id -> index. */
  private readonly acked = new Map<string, number>();
  private maxCommitSeen = 0;
  /** Members a removal was proposed for (it may have committed even when the proposal timed out). */
  private readonly removedIds = new Set<string>();
  private proposalSeq = 0;
  /** Reads not yet answered, by the process that serves them (a crashed one never answers). */
  private readonly readsInFlight = new Set<{ runtime: SimProcessRuntime }>();
  /** The process a membership change in flight was proposed to, until it is decided or that process dies. */
  private configBy: SimProcessRuntime | undefined;
  private healAtMs = 0;
  private healing = false;
  private failure: SimAbort | undefined;
  readonly stats: RaftDriverSimStats;

  constructor(private readonly opts: RaftDriverSimOptions) {
    this.rng = new Prng(opts.seed);
    this.network = new SimNetwork(this.scheduler, this.rng.fork());
    this.intensity = opts.intensity ?? 1;
    const n = opts.nodes ?? (this.rng.chance(0.25) ? 5 : 3);
    if (n !== 3 && n !== 5) throw new RangeError('nodes must be 3 or 5');
    this.timers = this.rng.pick(TIMERS);
    this.snapshotEvery = this.rng.pick(SNAPSHOT_EVERY_ENTRIES);
    this.stats = {
      nodes: n,
      tickMs: this.timers.tickMs,
      tasksRun: 0,
      elections: 0,
      maxTerm: 0,
      proposals: 0,
      acked: 0,
      reads: 0,
      readsAnswered: 0,
      crashes: 0,
      powerFailures: 0,
      restarts: 0,
      tornWrites: 0,
      lostWrites: 0,
      partitions: 0,
      weatherChanges: 0,
      transfers: 0,
      configChanges: 0,
      truncations: 0,
      replayed: 0,
      snapshotsTaken: 0,
      snapshotsInstalled: 0,
      segmentsReleased: 0,
      fatalStops: 0,
      finalCommit: 0,
      networkFrames: 0,
      networkLost: 0,
    };
  }

  replayCommand(): string {
    const parts = [`node dist/test/sim/run.js --seed ${this.opts.seed} --duration-ms ${this.opts.durationMs}`];
    if (this.opts.nodes !== undefined) parts.push(`--nodes ${this.opts.nodes}`);
    if (this.opts.bug) parts.push(`--bug ${this.opts.bug}`);
    if (this.intensity !== 1) parts.push(`--intensity ${this.intensity}`);
    if (this.opts.readdRemoved) parts.push('--readd-removed');
    return parts.join(' ');
  }

  async run(): Promise<RaftDriverSimResult> {
    const removePatch = installBug(this.opts.bug);
    try {
      const ids = ID_POOL.slice(0, this.stats.nodes);
      for (const id of ids) this.boot(this.newMember(id, [...ids]));
      const end = this.scheduler.nowMs + this.opts.durationMs;
      while (this.scheduler.nowMs < end) {
        this.injectFaults();
        this.clientTraffic();
        await this.scheduler.runUntil(this.scheduler.nowMs + STEP_MS);
        this.checkAll();
      }
      await this.heal();
    } catch (err) {
      this.failure ??= err instanceof SimAbort ? err : new SimAbort('exception', err instanceof Error ? (err.stack ?? err.message) : String(err));
    }
    for (const m of this.members.values()) m.runtime.kill();
    try {
      return await this.result();
    } finally {
      removePatch();
    }
  }

  // ---- members -----------------------------------------------------------------------------------

  private newMember(id: string, initialVoters: string[]): Member {
    const m = new Member(id, this.scheduler, this.rng, this.stats, initialVoters);
    this.members.set(id, m);
    return m;
  }

  /** Start a member's process on its disk. */
  private boot(m: Member): void {
    const runtime = m.startProcess();
    m.net = this.network.attach(m.id, runtime).group(GROUP);
    m.driver = undefined;
    m.sm = new TestStateMachine();
    m.lastCommit = 0;
    this.open(m, runtime).then(
      (driver) => {
        if (m.runs(runtime)) m.driver = driver;
        else void driver.close().catch(() => undefined);
      },
      (err: unknown) => {
        if (!m.runs(runtime)) return;
        this.fail(err instanceof SimAbort ? err.check : 'startFailure', `${m.id} failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      },
    );
  }

  /**
   * What a node does at start-up (as QueueNode.open does, with a toy state machine): finish a
   * snapshot install a crash cut short, restore the latest snapshot, open the WAL and the hard
   * state, apply the entries known committed (up to the commit hint), collect the config entries
   * after the snapshot, and start the driver with the real snapshot transfer; everything else is
   * left to Raft.
   */
  private async open(m: Member, runtime: SimProcessRuntime): Promise<RaftDriver<number>> {
    const fs = this.opts.bug === 'unsyncedWrites' ? lyingAboutSync(m.fs) : m.fs;
    const dir = `/data/${m.id}`;
    const log = this.opts.trace ? (line: string) => this.trace(`[${m.id}] ${line}`) : () => undefined;
    await fs.mkdir(dir, { recursive: true });
    const snapshots = await SnapshotStore.open(`${dir}/snapshots`, { log, fs });
    await finishInstall(dir, snapshots, log, fs);
    const sm = m.sm;
    const latest = await snapshots.loadLatest();
    const restored = latest ? decodeToySnapshot(latest.data) : undefined;
    if (latest && restored) this.restore(m, sm, latest.index, restored);
    const walOpts: WalOptions = { fs, runtime, segmentBytes: SEGMENT_BYTES, log };
    const toy: ToyNode = { wal: await this.openWal(dir, walOpts), lastTimeMs: restored?.lastTimeMs ?? 0, sinceSnapshot: 0, snapshotRunning: undefined };
    const hardState = await HardStateStore.open(`${dir}/raft`, fs);
    if (toy.wal.lastIndex() < sm.index) throw new SimAbort('recovery', `${m.id}: the log ends at ${toy.wal.lastIndex()} but the snapshot is at ${sm.index}`);
    const hint = hardState.current.commitIndex;
    const configEntries: RaftEntry[] = [];
    for await (const e of toy.wal.entriesFrom(sm.index + 1)) {
      if (e.kind === 'config') configEntries.push(e);
      if (e.index <= hint) {
        this.apply(m, sm, e);
        this.stats.replayed++;
        toy.sinceSnapshot++;
      }
      toy.lastTimeMs = Math.max(toy.lastTimeMs, e.timeMs);
    }
    if (sm.index < hint) throw new SimAbort('recovery', `${m.id}: the hard state says ${hint} is committed but the log ends at ${toy.wal.lastIndex()}`);
    this.trace(`${m.id} opens: term ${hardState.current.term}, snapshot at ${latest?.index ?? 0}, applied ${sm.index}, log ends at ${toy.wal.lastIndex()}`);
    const rpc = new RpcRouter(m.net);
    const receiver = new SnapshotReceiver(dir, walOpts, runtime, log);
    receiver.serve(rpc);
    const sender = new SnapshotSender(
      rpc,
      m.id,
      {
        loadSnapshot: async (index) => {
          if (toy.snapshotRunning) await toy.snapshotRunning;
          const l = await snapshots.loadLatest();
          return l && l.index === index ? l.data : undefined;
        },
        wal: () => toy.wal,
      },
      log,
      runtime,
    );
    const options: RaftDriverOptions = {
      id: m.id,
      voters: m.initialVoters,
      wal: toy.wal,
      hardState,
      network: m.net,
      staticPeers: Object.fromEntries(ID_POOL.filter((p) => p !== m.id).map((p) => [p, { host: 'sim', port: portOf(p) }])),
      appliedIndex: sm.index,
      lastTimeMs: toy.lastTimeMs,
      configEntries,
      runtime,
      tickMs: this.timers.tickMs,
      electionTicks: this.timers.electionTicks,
      heartbeatTicks: this.timers.heartbeatTicks,
      recentBytesMax: RECENT_BYTES_MAX,
      log,
      onFatal: (err) => this.onFatal(m, runtime, err),
      snapshotTransfer: {
        sender,
        receiver,
        // As QueueNode.installSnapshot: swap in the staged log, save the snapshot, restore from it.
        install: async (meta) => {
          if (toy.snapshotRunning) await toy.snapshotRunning;
          await beginInstall(dir, meta, fs);
          await toy.wal.close();
          const installed = await finishInstall(dir, snapshots, log, fs);
          if (!installed || installed.index !== meta.index || installed.term !== meta.term) throw new Error(`snapshot ${meta.index} was to be installed but the staging holds ${installed?.index ?? 'nothing'}`);
          const l = await snapshots.loadLatest();
          if (!l || l.index !== meta.index) throw new Error(`installed snapshot ${meta.index} does not load back`);
          const snap = decodeToySnapshot(l.data);
          this.restore(m, sm, l.index, snap);
          toy.wal = await this.openWal(dir, walOpts);
          toy.lastTimeMs = Math.max(toy.lastTimeMs, snap.lastTimeMs);
          toy.sinceSnapshot = 0;
          this.stats.snapshotsInstalled++;
          return { wal: toy.wal, lastTimeMs: toy.lastTimeMs, learnedAddresses: snap.addresses };
        },
      },
    };
    if (latest && restored) {
      options.snapshotMeta = { index: latest.index, term: latest.term, voters: restored.voters };
      options.learnedAddresses = restored.addresses;
    }
    const driver = new RaftDriver<number>(options);
    driver.onCommit((entries) => {
      const results = entries.map((e) => {
        this.apply(m, sm, e);
        toy.lastTimeMs = Math.max(toy.lastTimeMs, e.timeMs);
        return e.index;
      });
      toy.sinceSnapshot += entries.length;
      // Next turn, as QueueNode does: the driver learns these entries are applied only after the listener returns.
      if (toy.sinceSnapshot >= this.snapshotEvery && !toy.snapshotRunning) runtime.setImmediate(() => void this.snapshotNow(driver, toy, snapshots, sm));
      return results;
    });
    return driver;
  }

  private async openWal(dir: string, walOpts: WalOptions): Promise<SegmentedWal> {
    const { wal } = await SegmentedWal.open(`${dir}/wal`, walOpts);
    // Counts the suffixes the driver cuts off (its truncation is private to it).
    const truncateSuffix = wal.truncateSuffix.bind(wal);
    wal.truncateSuffix = (from: number) => {
      this.stats.truncations++;
      return truncateSuffix(from);
    };
    return wal;
  }

  /** As QueueNode.snapshotNow: snapshot the toy state, then let the core and the WAL forget what it covers. */
  private snapshotNow(driver: RaftDriver<number>, toy: ToyNode, snapshots: SnapshotStore, sm: TestStateMachine): Promise<void> {
    if (toy.snapshotRunning) return toy.snapshotRunning;
    const index = sm.index;
    if (index === 0 || toy.wal.lastIndex() < index) return Promise.resolve();
    const meta = driver.snapshotMetaAt(index);
    const data = encodeToySnapshot({ hash: sm.hash, lastTimeMs: toy.lastTimeMs, voters: meta.voters, addresses: driver.learnedAddresses() });
    const covered = toy.sinceSnapshot;
    toy.sinceSnapshot = 0;
    toy.snapshotRunning = (async () => {
      try {
        await toy.wal.untilDurable(index);
        await snapshots.save({ index, term: meta.term }, data);
        driver.compact(meta);
        this.stats.snapshotsTaken++;
        this.stats.segmentsReleased += await toy.wal.releaseSegments(() => false, index + 1);
      } catch {
        toy.sinceSnapshot += covered;
      } finally {
        toy.snapshotRunning = undefined;
      }
    })();
    return toy.snapshotRunning;
  }

  /** A member's state machine takes a snapshot's state: it must be the history every member applied up to there. */
  private restore(m: Member, sm: TestStateMachine, index: number, snap: ToySnapshot): void {
    sm.restore({ index, hash: snap.hash, commands: [] });
    const seen = this.appliedAt.get(index);
    if (seen === undefined) this.appliedAt.set(index, { term: 0, hash: snap.hash, id: undefined, node: m.id });
    else if (seen.hash !== snap.hash) throw this.abort('stateMachineSafety', `${m.id} restored a snapshot at ${index} with a different history than ${seen.node} applied`);
  }

  /** Apply one entry to a member's toy state machine and check it against every other member's history. */
  private apply(m: Member, sm: TestStateMachine, e: RaftEntry): void {
    try {
      sm.apply(e);
    } catch (err) {
      throw this.abort('applied', `${m.id}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const id = e.kind === 'command' ? commandText(e) : undefined;
    const seen = this.appliedAt.get(e.index);
    if (seen === undefined) this.appliedAt.set(e.index, { term: e.term, hash: sm.hash, id, node: m.id });
    else if (seen.hash !== sm.hash) {
      throw this.abort('stateMachineSafety', `${m.id} applied a different history at index ${e.index} (term ${e.term}) than ${seen.node} (term ${seen.term})`);
    }
  }

  /** A power loss on one member: its process stops dead, its disk keeps what the crash model says. */
  private crash(m: Member, downMs: number): void {
    m.driver = undefined;
    const outcome = m.powerLoss(downMs);
    this.trace(`${m.id} crashes (${outcome.kept} unsynced writes kept, ${outcome.lost} lost, ${outcome.torn} torn); back in ${downMs} ms`);
  }

  /** The driver stopped itself (a failed write, a broken invariant): the supervisor restarts it. */
  private onFatal(m: Member, runtime: SimProcessRuntime, err: Error): void {
    if (!m.runs(runtime)) return;
    this.trace(`${m.id} stops: ${err.message}`);
    m.driver = undefined;
    m.processExit();
  }

  private restartDue(): void {
    for (const m of this.members.values()) {
      if (!m.decommissioned && m.restartDue()) {
        this.stats.restarts++;
        this.trace(`${m.id} restarts`);
        this.boot(m);
      }
    }
  }

  private running(): Member[] {
    return [...this.members.values()].filter((m) => m.driver !== undefined);
  }

  /** The member that leads in the highest term, as far as the members themselves know. */
  private leader(): Member | undefined {
    let best: Member | undefined;
    let bestTerm = -1;
    for (const m of this.running()) {
      const st = m.driver!.status();
      if (st.role === 'leader' && st.term > bestTerm) {
        best = m;
        bestTerm = st.term;
      }
    }
    return best;
  }

  // ---- clients -----------------------------------------------------------------------------------

  /** A member a client asks: one that believes it leads (a deposed one too) nine times in ten. */
  private pickTarget(): Member | undefined {
    const running = this.running();
    const leaders = running.filter((m) => m.driver!.status().role === 'leader');
    if (leaders.length > 0 && this.rng.chance(0.9)) return this.rng.pick(leaders);
    return running.length > 0 ? this.rng.pick(running) : undefined;
  }

  private clientTraffic(): void {
    if (this.rng.chance(0.4)) {
      const m = this.pickTarget();
      if (m) for (let k = this.rng.int(1, 3); k > 0; k--) this.propose(m);
    }
    if (this.inFlightReads() < 4 && this.rng.chance(0.1)) {
      const m = this.pickTarget();
      if (m) this.read(m);
    }
  }

  private propose(m: Member): void {
    const id = `p${++this.proposalSeq}`;
    this.stats.proposals++;
    const runtime = m.runtime;
    m.driver!.propose(commandPayload(id), 0).then(
      (r) => {
        // Not the leader, dropped, timed out: the client does not know, and need not.
        if (!r.ok || !runtime.alive) return;
        const index = r.value;
        // Durability: what the history holds at this index is fixed from now on (every later
        // apply of it anywhere must reach the same chain hash).
        const there = this.appliedAt.get(index);
        if (there?.id !== id) this.fail('durability', `${m.id} acknowledged ${id} at ${index} but ${there?.id ?? 'nothing'} was applied there first`);
        this.acked.set(id, index);
        this.stats.acked++;
      },
      (err: unknown) => this.fail('exception', `propose rejected (the driver answers with values): ${String(err)}`),
    );
  }

  /** A ReadIndex read: once the barrier resolves, the state must reflect everything committed before the read began. */
  private read(m: Member): void {
    const minIndex = this.maxCommitSeen;
    const runtime = m.runtime;
    const sm = m.sm;
    this.stats.reads++;
    const token = { runtime };
    this.readsInFlight.add(token);
    m.driver!.readBarrier().then(
      (r) => {
        this.readsInFlight.delete(token);
        if (!r.ok || !runtime.alive) return;
        this.stats.readsAnswered++;
        if (sm.index < minIndex) this.fail('reads', `a read on ${m.id} saw state at ${sm.index} but ${minIndex} was committed before it began`);
      },
      () => {
        this.readsInFlight.delete(token);
      },
    );
  }

  private inFlightReads(): number {
    let n = 0;
    for (const r of this.readsInFlight) {
      if (r.runtime.alive) n++;
      else this.readsInFlight.delete(r);
    }
    return n;
  }

  private configInFlight(): boolean {
    return this.configBy?.alive === true;
  }

  // ---- faults ------------------------------------------------------------------------------------

  private injectFaults(): void {
    this.restartDue();
    const now = this.scheduler.nowMs;
    const k = this.intensity;
    const ids = [...this.members.values()].filter((m) => !m.decommissioned).map((m) => m.id);
    if (this.healAtMs !== 0 && now >= this.healAtMs) {
      this.network.heal();
      this.healAtMs = 0;
      this.trace('the network heals');
    }
    const live = [...this.members.values()].filter((m) => !m.decommissioned);
    const down = live.filter((m) => !m.up).length;
    if (down < Math.floor(live.length / 2) && this.rng.chance(0.002 * k)) {
      const up = live.filter((m) => m.up);
      this.crash(this.rng.pick(up), this.rng.int(200, 3000));
    } else if (down === 0 && this.rng.chance(0.0002 * k)) {
      this.stats.powerFailures++;
      this.trace('power failure of the whole set');
      for (const m of live) this.crash(m, this.rng.int(200, 1500));
    }
    if (this.healAtMs === 0 && this.rng.chance(0.0015 * k)) {
      this.partition(ids);
      this.stats.partitions++;
      this.healAtMs = now + this.rng.int(300, 3000);
    }
    if (this.rng.chance(0.002 * k)) {
      this.network.weather = this.rng.chance(0.4)
        ? CALM
        : { loss: this.rng.pick([0, 0.02, 0.1, 0.3]), duplicate: this.rng.pick([0, 0.02, 0.1]), delayMinMs: 1, delayMaxMs: this.rng.int(2, 40) };
      this.stats.weatherChanges++;
    }
    if (this.rng.chance(0.001 * k)) this.transferLeader();
    if (this.rng.chance(0.0008 * k)) this.changeMembership();
  }

  private partition(ids: string[]): void {
    const kind = this.rng.int(0, 2);
    if (kind === 0) {
      const a = this.rng.pick(ids);
      this.network.isolate(a, ids);
      this.trace(`${a} is isolated`);
    } else if (kind === 1) {
      const side = new Set(ids.filter(() => this.rng.chance(0.5)));
      for (const a of side) for (const b of ids) if (!side.has(b)) this.network.partition(a, b);
      this.trace(`split: {${[...side].join(',')}} | rest`);
    } else {
      for (let n = this.rng.int(1, 3); n > 0; n--) {
        const a = this.rng.pick(ids);
        const b = this.rng.pick(ids);
        if (a !== b) this.network.partition(a, b, true);
      }
      this.trace('one-way cuts');
    }
  }

  private transferLeader(): void {
    const leader = this.leader();
    if (!leader) return;
    const others = leader.driver!.status().voters.filter((v) => v !== leader.id);
    if (others.length === 0) return;
    const to = this.rng.pick(others);
    const r = leader.driver!.transferLeadership(to);
    this.trace(`${leader.id} transfers leadership to ${to}: ${r.ok ? 'ok' : r.reason}`);
    if (r.ok) this.stats.transfers++;
  }

  /** Single-server changes, as an operator makes them: add a fresh or idle member, or remove any voter (the leader too). */
  private changeMembership(): void {
    const leader = this.leader();
    if (!leader || this.configInFlight() || this.healing) return;
    const voters = leader.driver!.status().voters;
    const members = [...this.members.values()].filter((m) => !m.decommissioned);
    let change: ConfigChange;
    if (voters.length <= 3 || (voters.length < 5 && this.rng.chance(0.5))) {
      const idle = members.find((m) => m.up && !voters.includes(m.id) && (this.opts.readdRemoved === true || !this.removedIds.has(m.id)));
      const fresh = ID_POOL.find((id) => !this.members.has(id));
      if (idle) change = { type: 'addVoter', node: idle.id, address: `sim:${portOf(idle.id)}` };
      else if (fresh && members.length < MEMBERS_MAX) {
        const m = this.newMember(fresh, []);
        this.boot(m);
        change = { type: 'addVoter', node: fresh, address: `sim:${portOf(fresh)}` };
      } else return;
    } else {
      change = { type: 'removeVoter', node: this.rng.pick(voters) };
      this.removedIds.add(change.node);
    }
    const runtime = leader.runtime;
    this.configBy = runtime;
    this.trace(`${leader.id} proposes ${change.type} ${change.node}`);
    leader.driver!.proposeConfigChange(change).then(
      (r) => {
        if (this.configBy === runtime) this.configBy = undefined;
        if (!r.ok) {
          this.trace(`${change.type} ${change.node} failed: ${r.detail}`);
          return;
        }
        this.stats.configChanges++;
        this.trace(`committed: ${change.type} ${change.node}`);
        // Most removed members are shut down for good; some keep running as non-voters.
        if (change.type === 'removeVoter' && !this.healing && this.rng.chance(0.7)) {
          const gone = this.members.get(change.node)!;
          if (gone.up) {
            gone.runtime.kill();
            gone.up = false;
            gone.driver = undefined;
          }
          gone.decommissioned = true;
          this.trace(`${gone.id} decommissioned`);
        }
      },
      (err: unknown) => this.fail('exception', `proposeConfigChange rejected (the driver answers with values): ${String(err)}`),
    );
  }

  // ---- checkers ----------------------------------------------------------------------------------

  private abort(check: RaftDriverSimCheck, message: string): SimAbort {
    this.failure ??= new SimAbort(check, message);
    return this.failure;
  }

  private fail(check: RaftDriverSimCheck, message: string): void {
    this.abort(check, message);
  }

  private checkAll(): void {
    if (this.failure) throw this.failure;
    const uncaught = this.scheduler.uncaught[0];
    if (uncaught) throw new SimAbort('uncaught', `a task of ${uncaught.owner} threw: ${String(uncaught.error)}`);
    for (const m of this.running()) {
      const st = m.driver!.status();
      this.stats.maxTerm = Math.max(this.stats.maxTerm, st.term);
      if (st.role === 'leader') {
        const known = this.leaderOfTerm.get(st.term);
        if (known === undefined) {
          this.leaderOfTerm.set(st.term, m.id);
          this.stats.elections++;
        } else if (known !== m.id) throw new SimAbort('electionSafety', `two leaders in term ${st.term}: ${known} and ${m.id}`);
      }
      if (st.commitIndex < m.lastCommit) throw new SimAbort('commitMonotonic', `${m.id} commit index went back from ${m.lastCommit} to ${st.commitIndex}`);
      m.lastCommit = st.commitIndex;
      this.maxCommitSeen = Math.max(this.maxCommitSeen, st.commitIndex);
      if (m.sm.index > st.commitIndex) throw new SimAbort('applied', `${m.id} applied ${m.sm.index} beyond its commit index ${st.commitIndex}`);
    }
  }

  /** Stop the faults, heal the network, restart every member, and wait for the set to converge. */
  private async heal(): Promise<void> {
    this.healing = true;
    this.network.heal();
    this.healAtMs = 0;
    this.network.weather = CALM;
    for (const m of this.members.values()) if (!m.up) m.restartAtMs = this.scheduler.nowMs;
    this.trace('--- healed: every member up, no more faults ---');
    const until = this.scheduler.nowMs + HEAL_MS_MAX;
    let problem = '';
    while (this.scheduler.nowMs < until) {
      this.restartDue();
      await this.scheduler.runUntil(this.scheduler.nowMs + 100);
      this.checkAll();
      problem = this.convergenceProblem();
      if (problem === '' && !this.configInFlight()) {
        this.stats.finalCommit = this.leader()!.driver!.status().commitIndex;
        return;
      }
    }
    throw new SimAbort('liveness', `no convergence ${HEAL_MS_MAX} ms after healing: ${problem}`);
  }

  private convergenceProblem(): string {
    const leader = this.leader();
    if (!leader) return 'no leader';
    const st = leader.driver!.status();
    if (st.commitIndex < st.lastIndex) return `leader ${leader.id} has uncommitted entries`;
    let maxAcked = 0;
    for (const index of this.acked.values()) maxAcked = Math.max(maxAcked, index);
    if (st.commitIndex < maxAcked) return `leader ${leader.id} commit ${st.commitIndex} below acknowledged ${maxAcked}`;
    for (const id of st.voters) {
      const m = this.members.get(id);
      if (!m?.driver) return `voter ${id} is not running`;
      if (m.sm.index !== st.commitIndex) {
        const own = m.driver.status();
        return `voter ${id} applied ${m.sm.index} of ${st.commitIndex} (it knows commit ${own.commitIndex}, applied ${own.appliedIndex}, log to ${own.lastIndex}, persisted ${own.persistedIndex}, role ${own.role}; leader sees ${JSON.stringify(st.progress[id])})`;
      }
    }
    // Every voter applied everything committed, with the history checked at each apply: every
    // acknowledged proposal is there, at the index it was acknowledged at.
    for (const [id, index] of this.acked) {
      if (this.appliedAt.get(index)?.id !== id) throw new SimAbort('durability', `acknowledged ${id} at ${index} is not in the history`);
    }
    return '';
  }

  // ---- the end -------------------------------------------------------------------------------------

  private async result(): Promise<RaftDriverSimResult> {
    this.stats.tasksRun = this.scheduler.tasksRun;
    this.stats.networkFrames = this.network.stats.frames;
    this.stats.networkLost = this.network.stats.lost;
    const digest = await diskDigest(this.members.values(), JSON.stringify(this.stats));
    const r: RaftDriverSimResult = { seed: this.opts.seed, ok: this.failure === undefined, stats: this.stats, digest, replay: this.replayCommand() };
    if (this.failure) r.failure = { check: this.failure.check, message: this.failure.message, atMs: this.scheduler.nowMs - EPOCH_MS };
    return r;
  }

  private trace(line: string): void {
    this.opts.trace?.(`${String(this.scheduler.nowMs - EPOCH_MS).padStart(7)} ${line}`);
  }
}

export function runRaftDriverSimulation(opts: RaftDriverSimOptions): Promise<RaftDriverSimResult> {
  return new RaftDriverSimulation(opts).run();
}

function portOf(id: string): number {
  return ID_POOL.indexOf(id as (typeof ID_POOL)[number]) + 1;
}

// ---- deliberately broken variants: patches of the shipped classes, removed after the run ----------

type Patchable = Record<string, unknown>;

function installBug(bug: RaftDriverSimBug | undefined): () => void {
  const patch = (proto: object, name: string, fn: unknown): (() => void) => {
    const p = proto as Patchable;
    const original = p[name];
    p[name] = fn;
    return () => {
      p[name] = original;
    };
  };
  switch (bug) {
    case 'voteTwice': {
      // Figure 2 broken: every RequestVote is granted, even a second one in the same term.
      const original = (RaftNode.prototype as unknown as Patchable)['mayVoteFor'] as (this: RaftNode, m: RequestVote | PreVote) => boolean;
      return patch(RaftNode.prototype, 'mayVoteFor', function (this: RaftNode, m: RequestVote | PreVote) {
        return m.type === 'RequestVote' || original.call(this, m);
      });
    }
    case 'commitOldTerm':
      // §5.4.2 broken: an entry of an earlier term is committed by counting replicas.
      return patch(RaftNode.prototype, 'canCommitAt', () => true);
    case 'readWithoutQuorum':
      // The leader trusts its own idea of leading and of what is applied.
      return patch(RaftDriver.prototype, 'readBarrier', () => Promise.resolve({ ok: true }));
    case 'unsyncedWrites':
      return () => undefined; // the disk, not the code: see open()
    case undefined:
      return () => undefined;
  }
}
