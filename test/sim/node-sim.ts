// The deterministic simulation of a replicated set running the SHIPPED node: every member is a
// real QueueNode (src/node/queue-node.ts) with its real RaftDriver, SegmentedWal, hard state,
// snapshot store, snapshot transfer and body repair, on a simulated disk (sim-fs.ts: power loss
// keeps, loses or tears unsynced writes; bit flips), a simulated peer network (sim-network.ts:
// loss, delay, reordering, duplication, partitions) and virtual time (sim-runtime.ts). Nothing in
// src/ knows it is simulated: the seams are the Runtime, the FileSystem and the peer network.
//
// Clients call a member's service as the server wires it (node/service-calls.ts): mostly the
// leader's, sometimes a follower's, whose calls then go to its leader over the simulated network
// as service calls, through leadership changes and partitions. Producers send batches, consumers receive and then
// delete some of what they got (some late, some never), an operator changes a visibility timeout
// and moves leadership. A few messages stay behind in a slow queue while the others fill and close
// segments around them, so compaction (a census every 2 s) copies their bodies forward all along.
// A FIFO queue with a FIFO dead-letter queue takes a share of the traffic (node-sim-fifo.ts):
// producers send to a few message groups with deduplication ids, consumers let some messages go
// to the dead-letter queue, and an operator redrives it with move tasks, which the leader runs and
// a new leader resumes.
// Faults: crashes (a power loss on that member's disk) and restarts, partitions (a member
// isolated, or one direction of one link), network weather, bit flips in message bodies on disk,
// and a full disk on one member for a while (its writes stall; a leader hands leadership over).
// After the fault phase the network heals, every member is up, producers stop and consumers drain
// the busy queues; the set stays quiet for a while with the stragglers still queued, then every
// queue is drained.
//
// Checkers: queue-history.ts (acknowledged sends delivered, no delivery within a visibility
// timeout of an earlier one, deleted stays deleted, bodies intact, no quarantine without damage,
// a retried send stored once), fifo-history.ts (a group's order, a group locked while in flight),
// move-history.ts (a moved message in one place at a time; every FIFO message ends deleted),
// replica agreement (every member's result at each index is the same), election safety (one
// leader per term), that no task of the driver threw, and, after a quiet period at the end, that
// every member's log is back within a bound of its live bytes. A failing seed prints the command that
// replays it; the same seed gives the same bytes on every disk.

import { crc32c } from '../../src/broker/checksum';
import { decodeCommand, type DecodedCommand } from '../../src/broker/codec';
import type { Command, CommandResult, MoveTaskView, QueueAttributesInput } from '../../src/broker/commands';
import { groupDataDir, NodeHost } from '../../src/node/host';
import type { QueueNode } from '../../src/node/queue-node';
import { PeerRequests } from '../../src/node/peer-requests';
import { DEFAULT_RAFT_TIMING, peerRequestTiming } from '../../src/node/raft-timing';
import { RoutedQueueService, serveServiceCalls } from '../../src/node/service-calls';
import { noopLogger } from '../../src/protocol/log';
import type { FileHandle, FileSystem, OpenFlags } from '../../src/runtime/fs';
import type { QueueService } from '../../src/service/queue-service';
import type { RequestContext } from '../../src/service/request-context';
import type { LogEntry } from '../../src/storage/types';
import { FifoHistory, type FifoHistoryStats } from './fifo-history';
import { MoveHistory, type MoveHistoryStats } from './move-history';
import { installPatch, type PatchBug } from './node-sim-bugs';
import { parseRecordBounds } from './node-sim-disk';
import { FIFO_DLQ, FIFO_MAX_RECEIVES, FIFO_QUEUE, FIFO_QUEUES, FifoWorkload, type FifoClient, type FifoTarget, type FifoWorkloadStats } from './node-sim-fifo';
import { Prng } from './prng';
import { issueCall } from './client-call';
import { bodyFor, bodyIdOf, dedupIdOf, emptyHistoryStats, QueueCheckFailure, QueueHistory, type HistoryStats, type QueueCheck } from './queue-history';
import { CALM, SimNetwork, type SimHostNetwork } from './sim-network';
import type { SimFs } from './sim-fs';
import { diskDigest, SimMachine } from './sim-machine';
import { SimScheduler, type SimProcessRuntime } from './sim-runtime';

/** Deliberately broken environments and nodes, to prove the checkers catch what they claim to. */
export type NodeSimBug =
  | 'fsyncLies' // the disk acknowledges fdatasync without making anything durable
  | 'noRelocation' // compaction never copies live bodies out of sparse segments (the census still asks for snapshots)
  | PatchBug;

export const NODE_SIM_BUGS: readonly NodeSimBug[] = [
  'fsyncLies',
  'noRelocation',
  'skipBodyCheck',
  'applyOwnClock',
  'holdOnStepDown',
  'waitForDeadLeader',
  'noDedup',
  'fifoNoGroupLock',
  'fifoReorder',
  'moveCopiesTwice',
  'moveLoses',
];

export interface NodeSimOptions {
  seed: number;
  /** Virtual milliseconds of the fault phase. */
  durationMs: number;
  bug?: NodeSimBug;
  /** Multiplies the rate of crashes, partitions, weather changes and bit flips (default 1). */
  intensity?: number;
  /** A scripted fault on top of the random ones: the leader of the moment is cut off from both others at `atMs` (virtual, from the start) for `forMs`. */
  isolateLeader?: { atMs: number; forMs: number };
  trace?: (line: string) => void;
}

export interface NodeSimStats extends HistoryStats, FifoHistoryStats, MoveHistoryStats, FifoWorkloadStats {
  /** Committed startMoveTask and cancelMoveTask entries that started or cancelled a task. */
  moveTasksStarted: number;
  moveTasksCancelled: number;
  /** Move tasks that moved messages in a later term than the one they started in (a new leader resumed them). */
  moveTasksResumed: number;
  tasksRun: number;
  crashes: number;
  /** Crashes of every member at once. */
  powerFailures: number;
  restarts: number;
  partitions: number;
  transfers: number;
  /** Client calls made on a member that did not lead then (its calls go to its leader), and how many of them succeeded. */
  viaFollower: number;
  viaFollowerOk: number;
  /** Members frozen (SIGSTOP) for a while, and bridges (a follower cut from the leader only). */
  freezes: number;
  bridges: number;
  /** Calls on a member that was neither frozen nor restarted, unanswered within the client's timeout. */
  clientTimeouts: number;
  weatherChanges: number;
  bitFlips: number;
  /** Times one member's disk filled (every write that grows a file fails with ENOSPC) for a while. */
  diskFulls: number;
  /** ...of which the member led when its disk filled. */
  diskFullLeaders: number;
  /** Times a leader with a stalled disk handed leadership to a follower. */
  stallStepDowns: number;
  /** The longest a member went on leading (in its own view) while its disk was stalled. */
  longestStalledLeadMs: number;
  tornWrites: number;
  lostWrites: number;
  elections: number;
  maxTerm: number;
  fatalStops: number;
  sendsAttempted: number;
  /** Failed sends with deduplication ids sent again (see Client.retry). */
  dedupRetries: number;
  receives: number;
  visibilityChanges: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
  segmentsReleased: number;
  /** Compaction passes of a leader that copied bodies forward (counted where they ran). */
  compactionRuns: number;
  /** Crashes (one member, or the whole set) at the step after a relocation entry committed. */
  relocationCrashes: number;
  /** Committed relocateBodies entries, the messages they pointed at a copy, and the body bytes copied. */
  relocationEntries: number;
  relocatedMessages: number;
  relocatedBytes: number;
  /** After the quiet period at the end: the largest log (bytes of WAL files) of a member, and that member's live body bytes. */
  finalLogBytes: number;
  finalLiveBytes: number;
  bodiesFromReplicas: number;
  /** Bodies that failed their checksum when read for delivery (then read from a replica, or quarantined). */
  corruptBodies: number;
  finalIndex: number;
  networkFrames: number;
  networkLost: number;
}

export interface NodeSimFailure {
  /**
   * startFailure: a member refused to start (its data directory is damaged or inconsistent);
   * unanswered: a member that was up and not frozen left a client call unanswered past the client's timeout.
   * logBound: after a quiet period a member's log holds more than its live messages need (compaction and snapshots did not reclaim the rest).
   */
  check: QueueCheck | 'electionSafety' | 'uncaught' | 'startFailure' | 'exception' | 'unanswered' | 'logBound';
  message: string;
  atMs: number;
}

export interface NodeSimResult {
  seed: number;
  ok: boolean;
  failure?: NodeSimFailure;
  stats: NodeSimStats;
  /** SHA-256 over every member's disk bytes and the run's statistics: equal for equal seeds. */
  digest: string;
  replay: string;
}

// ---- tuning ------------------------------------------------------------------------------------

const EPOCH_MS = 1_700_000_000_000;
const IDS = ['n1', 'n2', 'n3'] as const;
const STEP_MS = 10;
/** Small segments (a run closes a few dozen), so a run rolls over, compacts, releases and ships many of them. */
const SEGMENT_BYTES = 16 * 1024;
/** Recent entries kept in memory (64 MiB in a server): small, so bodies are read back from disk. */
const RECENT_BYTES_MAX = 4000;
const SNAPSHOT_EVERY_ENTRIES = [60, 250, 1000] as const;
const PRODUCERS = ['p1', 'p2'];
/**
 * Per 10 ms step, the chance that an idle producer sends and that an idle consumer with nothing
 * to delete receives (standard queues). The FIFO workload (node-sim-fifo.ts) adds traffic of its
 * own, and a run's cost is what the unit batch can afford: lower than the 0.3 and 0.4 the
 * standard queues had alone, so a run costs about a fifth more than it did then, not twice.
 */
const STANDARD_SEND_CHANCE = 0.22;
const STANDARD_RECEIVE_CHANCE = 0.3;
const CONSUMERS = ['c1', 'c2', 'c3'];
/** A client gives up on a request after this long (outcome unknown to it). */
const CLIENT_TIMEOUT_MS = 4000;
/**
 * A few messages left behind: a share of sends and receives goes to 'slow', whose long visibility
 * timeout keeps what a consumer received in flight for most of a run (and some are not received
 * until the drain), while the busy queues fill and close segments around them. Those segments end
 * up sparse, and compaction copies the stragglers' bodies forward under the faults of the run.
 */
const SLOW_SHARE = 0.08;
const SLOW_VISIBILITY_S = 20;
/**
 * Short visibility timeouts, so messages cycle several times per run. In half the seeds 'events'
 * keeps a rewind area: deleted messages then stay live until retention ends, which pins their
 * segments; in the other half deleted messages free their segments, which snapshots then release.
 */
const QUEUES = [
  { name: 'orders', visibilityTimeout: 1 },
  { name: 'events', visibilityTimeout: 2 },
  { name: 'slow', visibilityTimeout: SLOW_VISIBILITY_S },
] as const;
/** The queues most traffic goes to (the operator changes their visibility timeout now and then). */
const BUSY_QUEUES = QUEUES.filter((q) => q.name !== 'slow');
const EVENTS_REWIND_SECONDS = 600;
/** A census every 2 s of virtual time (10 s in a server), so compaction runs many times per run. */
const COMPACTION = { censusIntervalMs: 2000 } as const;
/**
 * After the drain, the set runs this long with no client traffic: enough censuses for the last
 * sparse segments to be settled, relocated, found dead and released by a snapshot.
 */
const QUIET_MS = 16_000;
/** The chance that a relocation entry committing during the fault phase brings a crash at the next step. */
const RELOCATION_CRASH_CHANCE = 0.3;
/** Compaction leaves a closed segment alone while at least half of it is live: a log may hold twice its live bytes. */
const LOG_LIVE_FACTOR = 2;
/**
 * What a log may hold on top of that: dead segments worth less than a snapshot of the index costs
 * (compaction asks for none then; counted from the census), its open tail, the prepared next
 * segment, and one more (a segment emptied after the last census).
 */
const LOG_SLACK_SEGMENTS = 3;
const SETUP_MS_MAX = 30_000;
const DRAIN_MS_MAX = 120_000;

// ---- the simulation ----------------------------------------------------------------------------

class SimAbort extends Error {
  constructor(
    readonly check: NodeSimFailure['check'],
    message: string,
  ) {
    super(message);
  }
}

/** A member's machine (disk, process) and the node running on it. */
class Member extends SimMachine {
  net!: SimHostNetwork;
  node: QueueNode | undefined;
  /** What a client of this member calls: the member's own service where it leads, else the leader's through service calls, as the server wires it. */
  service: QueueService | undefined;
}

interface Held {
  queue: string;
  handle: string;
  deleteAtMs: number;
}

interface Client extends FifoClient {
  id: string;
  busy: boolean;
  held: Held[];
  /** A send with deduplication ids that failed: sent again, the same bodies and ids, before anything new. */
  retry?: { queue: string; bodyIds: number[]; delaySeconds: number };
}

export class NodeSimulation {
  private readonly rng: Prng;
  private readonly scheduler = new SimScheduler(EPOCH_MS);
  private readonly network: SimNetwork;
  private readonly members = new Map<string, Member>();
  private readonly clients = new Map<string, Client>();
  private readonly fifoHistory = new FifoHistory(new Map([[FIFO_QUEUE, { maxReceiveCount: FIFO_MAX_RECEIVES }], [FIFO_DLQ, {}]]));
  private readonly moveHistory = new MoveHistory({
    source: FIFO_QUEUE,
    deadLetterQueue: FIFO_DLQ,
    maxReceiveCount: FIFO_MAX_RECEIVES,
    visibilityMs: new Map(FIFO_QUEUES.map((q) => [q.name, q.visibilityTimeout * 1000])),
  });
  private readonly history = new QueueHistory(
    new Map([...QUEUES, ...FIFO_QUEUES].map((q) => [q.name, q.visibilityTimeout * 1000])),
    this.fifoHistory,
    this.moveHistory,
  );
  private readonly fifo: FifoWorkload;
  /** The FIFO consumers run (not in the quiet period, whose log measure wants no traffic). */
  private fifoConsuming = true;
  /** The term each move task started in, until it is seen moving in a later one. */
  private readonly moveTaskTerm = new Map<string, number>();
  private readonly visibilitySeconds = new Map<string, number>(QUEUES.map((q) => [q.name, q.visibilityTimeout]));
  private readonly resultAt = new Map<number, { term: number; digest: string; node: string }>();
  private readonly leaderOfTerm = new Map<number, string>();
  private readonly snapshotEvery: number;
  private readonly eventsRewindSeconds: number;
  private readonly group: number;
  private readonly intensity: number;
  private nextBodyId = 1;
  private healAtMs = 0;
  private scriptedDone = false;
  /** The member whose disk is full, and when it gets its space back. */
  private full: { member: Member; untilMs: number } | undefined;
  /**
   * Draws of the full-disk fault, from a stream of their own so that adding this fault left every
   * other choice of a seed as it was.
   */
  private readonly diskRng: Prng;
  /** Draws of the crashes aimed at compaction, from a stream of their own (as the full-disk fault's). */
  private readonly compactionRng: Prng;
  /** Who crashes at the next step: a relocation entry just committed (every member may still be applying it). */
  private crashAfterRelocation: Member[] | undefined;
  private producing = true;
  /** The queues consumers read at the end (all of them while traffic runs). */
  private consumed: string[] | undefined;
  private failure: SimAbort | undefined;
  readonly stats: NodeSimStats;

  constructor(private readonly opts: NodeSimOptions) {
    this.rng = new Prng(opts.seed);
    this.diskRng = new Prng(opts.seed ^ 0x5d15_cf11);
    this.compactionRng = new Prng(opts.seed ^ 0x0c0a_c7ed);
    this.fifo = new FifoWorkload(
      {
        nowMs: () => this.scheduler.nowMs,
        producing: () => this.producing,
        consuming: () => this.fifoConsuming,
        history: this.history,
        pick: (rng) => this.fifoTarget(rng),
        newBodies: (n) => this.newBodies(n),
        ctx: () => this.ctx(),
      },
      new Prng(opts.seed ^ 0x0f1f_0516),
    );
    this.network = new SimNetwork(this.scheduler, this.rng.fork());
    this.snapshotEvery = this.rng.pick(SNAPSHOT_EVERY_ENTRIES);
    this.eventsRewindSeconds = this.rng.chance(0.5) ? EVENTS_REWIND_SECONDS : 0;
    // Half the seeds run the set as a group other than 0, whose ids all carry the group.
    this.group = this.rng.chance(0.5) ? 0 : 3;
    this.intensity = opts.intensity ?? 1;
    this.stats = {
      tasksRun: 0,
      crashes: 0,
      powerFailures: 0,
      restarts: 0,
      partitions: 0,
      transfers: 0,
      viaFollower: 0,
      viaFollowerOk: 0,
      freezes: 0,
      bridges: 0,
      clientTimeouts: 0,
      weatherChanges: 0,
      bitFlips: 0,
      diskFulls: 0,
      diskFullLeaders: 0,
      stallStepDowns: 0,
      longestStalledLeadMs: 0,
      tornWrites: 0,
      lostWrites: 0,
      elections: 0,
      maxTerm: 0,
      fatalStops: 0,
      sendsAttempted: 0,
      dedupRetries: 0,
      receives: 0,
      visibilityChanges: 0,
      snapshotsTaken: 0,
      snapshotsInstalled: 0,
      segmentsReleased: 0,
      compactionRuns: 0,
      relocationCrashes: 0,
      relocationEntries: 0,
      relocatedMessages: 0,
      relocatedBytes: 0,
      finalLogBytes: 0,
      finalLiveBytes: 0,
      bodiesFromReplicas: 0,
      corruptBodies: 0,
      finalIndex: 0,
      networkFrames: 0,
      networkLost: 0,
      moveTasksStarted: 0,
      moveTasksCancelled: 0,
      moveTasksResumed: 0,
      ...emptyHistoryStats(),
      ...this.fifoHistory.stats,
      ...this.moveHistory.stats,
      ...this.fifo.stats,
    };
    for (const id of [...PRODUCERS, ...CONSUMERS]) this.clients.set(id, { id, busy: false, held: [] });
  }

  replayCommand(): string {
    const parts = [`node dist/test/sim/run.js --queue --seed ${this.opts.seed} --duration-ms ${this.opts.durationMs}`];
    if (this.opts.bug) parts.push(`--bug ${this.opts.bug}`);
    if (this.intensity !== 1) parts.push(`--intensity ${this.intensity}`);
    return parts.join(' ');
  }

  async run(): Promise<NodeSimResult> {
    const bug = this.opts.bug;
    const removePatch = bug !== undefined && bug !== 'fsyncLies' && bug !== 'noRelocation' ? installPatch(bug) : undefined;
    try {
      for (const id of IDS) this.boot(this.newMember(id));
      await this.setUp();
      const end = this.scheduler.nowMs + this.opts.durationMs;
      while (this.scheduler.nowMs < end) {
        this.injectFaults();
        if (this.rng.chance(0.0015 * this.intensity)) await this.flipBodyBit();
        this.clientTraffic();
        this.fifo.step();
        await this.scheduler.runUntil(this.scheduler.nowMs + STEP_MS);
        this.checkAll();
      }
      await this.healAndDrain();
    } catch (err) {
      this.failure ??= err instanceof SimAbort ? err : err instanceof QueueCheckFailure ? new SimAbort(err.check, err.message) : new SimAbort('exception', err instanceof Error ? (err.stack ?? err.message) : String(err));
    }
    // Stop every member so nothing of this run keeps running into the next one.
    for (const m of this.members.values()) m.runtime.kill();
    try {
      return await this.result();
    } finally {
      removePatch?.();
    }
  }

  // ---- members -----------------------------------------------------------------------------------

  private newMember(id: string): Member {
    const m = new Member(id, this.scheduler, this.rng, this.stats);
    this.members.set(id, m);
    return m;
  }

  /** Start a member's process on its disk: QueueNode.open, exactly as the server does. */
  private boot(m: Member): void {
    const runtime = m.startProcess();
    m.net = this.network.attach(m.id, runtime);
    m.node = undefined;
    m.service = undefined;
    const peers = Object.fromEntries(IDS.filter((p) => p !== m.id).map((p, i) => [p, { host: 'sim', port: i + 1 }]));
    // As the server does: a host of one group, on the peer network's view of that group.
    NodeHost.open(
      {
        dataDir: `/data/${m.id}`,
        nodeId: m.id,
        network: m.net,
        replica: {
          fs: this.opts.bug === 'fsyncLies' ? lyingAboutSync(m.fs) : m.fs,
          runtime,
          segmentBytes: SEGMENT_BYTES,
          recentBytesMax: RECENT_BYTES_MAX,
          snapshotEveryEntries: this.snapshotEvery,
          compaction: this.opts.bug === 'noRelocation' ? { ...COMPACTION, liveRatio: 0 } : COMPACTION,
          log: this.opts.trace ? (line: string) => this.trace(`[${m.id}] ${line}`) : () => undefined,
          onFatal: (err) => this.onFatal(m, runtime, err),
          onApplied: (e, r) => this.applied(m, e, r),
        },
      },
      [{ group: this.group, voters: [...IDS], staticPeers: peers }],
    ).then(
      (host) => {
        if (!m.runs(runtime)) return;
        const node = host.group(this.group);
        const rpc = host.rpc(this.group)!;
        // As the server wires it: its clients' calls routed to the leader (or relayed when cut off
        // from it), other members' calls served on this node's own service.
        const requests = new PeerRequests(rpc.network, runtime, peerRequestTiming(DEFAULT_RAFT_TIMING));
        const routed = new RoutedQueueService(node, { selfId: m.id, network: rpc.network, leaderId: () => node.leaderId(), voters: () => node.voters() }, requests);
        serveServiceCalls(rpc, node, routed, m.id, runtime, noopLogger);
        m.service = routed;
        m.node = node;
      },
      (err: unknown) => {
        if (!m.runs(runtime)) return;
        this.fail('startFailure', `${m.id} failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      },
    );
  }

  /** A power loss on one member: its process stops dead, its disk keeps what the crash model says. */
  private crash(m: Member, downMs: number): void {
    this.collectStats(m);
    m.node = undefined;
    m.service = undefined;
    const outcome = m.powerLoss(downMs);
    this.trace(`${m.id} crashes (${outcome.kept} unsynced writes kept, ${outcome.lost} lost, ${outcome.torn} torn); back in ${downMs} ms`);
  }

  /** The node stopped itself (a failed fsync, damage it cannot serve past): the supervisor restarts it. */
  private onFatal(m: Member, runtime: SimProcessRuntime, err: Error): void {
    if (!m.runs(runtime)) return;
    this.trace(`${m.id} stops: ${err.message}`);
    this.collectStats(m);
    m.node = undefined;
    m.service = undefined;
    m.service = undefined;
    m.processExit();
  }

  private restartDue(): void {
    for (const m of this.members.values()) {
      if (m.restartDue()) {
        this.stats.restarts++;
        this.trace(`${m.id} restarts`);
        this.boot(m);
      }
    }
  }

  private leader(): Member | undefined {
    let best: Member | undefined;
    let bestTerm = -1;
    for (const m of this.members.values()) {
      const st = m.node?.observe().raft;
      if (st && st.role === 'leader' && st.term > bestTerm) {
        best = m;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** The member a client asks: the leader it would find, else any member that is up. */
  /** Mostly the leader; sometimes any member that is up, whose calls then go to its leader. */
  private pickMember(rng = this.rng): Member | undefined {
    const leader = this.leader();
    if (leader?.service && rng.chance(0.9)) return leader;
    const up = [...this.members.values()].filter((m) => m.service);
    return up.length > 0 ? rng.pick(up) : undefined;
  }

  /** A member for the FIFO workload's next call (drawn from its own stream), and how to call it. */
  private fifoTarget(rng: Prng): FifoTarget | undefined {
    const member = this.pickMember(rng);
    const service = member?.service;
    if (!member || !service) return undefined;
    const routed = this.countRouted(member);
    return {
      service,
      issue: (client, p, done) =>
        this.issue(client, member, p, (v) => {
          routed((v as { ok?: boolean } | undefined)?.ok);
          done(v);
        }),
    };
  }

  /** New body ids, known by their CRC32C to the checkers. */
  private newBodies(n: number): number[] {
    const ids = Array.from({ length: n }, () => this.nextBodyId++);
    for (const id of ids) this.bodyIdByCrc.set(crc32c(bodyFor(id)), id);
    return ids;
  }

  /** Counts calls on a member that does not lead; the returned function counts their successes. */
  private countRouted(m: Member): (ok: boolean | undefined) => void {
    const routed = m.node !== undefined && m.node.leaderId() !== m.id;
    if (routed) this.stats.viaFollower++;
    return (ok) => {
      if (routed && ok === true) this.stats.viaFollowerOk++;
    };
  }

  // ---- setup and traffic ---------------------------------------------------------------------

  private async setUp(): Promise<void> {
    for (const q of QUEUES) {
      await this.createQueue(q.name, { visibilityTimeout: q.visibilityTimeout, rewindSeconds: q.name === 'events' ? this.eventsRewindSeconds : 0, pollingWaitSeconds: 0 });
    }
    for (const q of FIFO_QUEUES) await this.createQueue(q.name, q.attrs);
  }

  private async createQueue(name: string, attrs: QueueAttributesInput): Promise<void> {
    const until = this.scheduler.nowMs + SETUP_MS_MAX;
    while (this.scheduler.nowMs < until) {
      const node = this.leader()?.node;
      if (node) {
        const r = await this.untilSettled(node.submit(this.ctx(), { kind: 'createQueue', queueName: name, attrs }));
        if (r !== undefined && (r.ok || r.error === 'queueExists')) return;
      }
      await this.scheduler.runUntil(this.scheduler.nowMs + 100);
    }
    throw new SimAbort('liveness', `queue ${name} could not be created within ${SETUP_MS_MAX} ms`);
  }

  /** Drives the simulation until `p` settles (or the client gives up): its value, or undefined. */
  private async untilSettled<T>(p: Promise<T>): Promise<T | undefined> {
    const r = await this.scheduler.settle(p, CLIENT_TIMEOUT_MS);
    return r?.status === 'fulfilled' ? r.value : undefined;
  }


  /**
   * Starts a client request on `member`; the client is busy until it settles or times out. A
   * member that was not frozen must answer every call within the client's timeout: served, or
   * refused with an error (cut off from the leader, no leader, no quorum), never left hanging.
   */
  private issue<T>(client: FifoClient, member: Member, p: Promise<T>, done: (value: T | undefined) => void): void {
    const unanswered = (startedMs: number): void => {
      this.stats.clientTimeouts++;
      this.fail('unanswered', `a call on ${member.id} issued at ${startedMs - EPOCH_MS} ms was not answered within ${CLIENT_TIMEOUT_MS} ms (the member was up and not frozen)`);
    };
    issueCall({ scheduler: this.scheduler, timeoutMs: CLIENT_TIMEOUT_MS, currentRuntime: () => member.runtime, unanswered, fail: (c, m) => this.fail(c, m) }, client, p, done);
  }

  /** Mostly a busy queue; now and then the slow one. */
  private pickQueue(): string {
    return this.rng.chance(SLOW_SHARE) ? 'slow' : this.rng.pick(BUSY_QUEUES).name;
  }

  private clientTraffic(): void {
    const now = this.scheduler.nowMs;
    for (const id of PRODUCERS) {
      const c = this.clients.get(id)!;
      if (c.busy || !this.producing || !this.rng.chance(STANDARD_SEND_CHANCE)) continue;
      const member = this.pickMember();
      const node = member?.service;
      if (!member || !node) continue;
      const routed = this.countRouted(member);
      // Half the producers' sends carry a deduplication id per body, and a failed one (not
      // applied, or its outcome unknown) is sent again with the same ids: it must not be stored twice.
      // The random draws are the same whether the send is new or a retry, and which sends carry
      // ids draws nothing: retries change the traffic, not the schedule of faults drawn after it.
      const retry = c.retry;
      c.retry = undefined;
      const drawnQueue = this.pickQueue();
      const drawnCount = this.rng.int(1, 4);
      const drawnDelay = this.rng.chance(0.1) ? 1 : 0;
      const queue = retry?.queue ?? drawnQueue;
      const bodyIds = retry?.bodyIds ?? Array.from({ length: drawnCount }, () => this.nextBodyId++);
      if (retry === undefined) for (const id of bodyIds) this.bodyIdByCrc.set(crc32c(bodyFor(id)), id);
      const delaySeconds = retry?.delaySeconds ?? drawnDelay;
      const deduplicated = retry !== undefined || bodyIds[0]! % 2 === 0;
      if (retry === undefined) this.stats.sendsAttempted += bodyIds.length;
      else this.stats.dedupRetries++;
      const command: Command = { kind: 'sendMessages', queueName: queue, delaySeconds, bodies: bodyIds.map(bodyFor) };
      if (deduplicated) command.options = bodyIds.map((id) => ({ dedupId: dedupIdOf(id) }));
      this.issue(c, member, node.submit(this.ctx(), command), (r) => {
        routed(r?.ok);
        if (r?.ok) this.history.sendAcked(bodyIds);
        else if (deduplicated && this.producing) c.retry = { queue, bodyIds, delaySeconds };
      });
    }
    for (const id of CONSUMERS) {
      const c = this.clients.get(id)!;
      if (c.busy) continue;
      const due = c.held.filter((h) => h.deleteAtMs <= now);
      const member = this.pickMember();
      const node = member?.service;
      if (!member || !node) continue;
      if (due.length > 0) {
        c.held = c.held.filter((h) => h.deleteAtMs > now);
        const queue = due[0]!.queue;
        const handles = due.filter((h) => h.queue === queue).map((h) => h.handle);
        c.held.push(...due.filter((h) => h.queue !== queue));
        this.issue(c, member, node.submit(this.ctx(), { kind: 'deleteMessages', queueName: queue, receiptHandles: handles }), () => undefined);
        continue;
      }
      if (!this.rng.chance(STANDARD_RECEIVE_CHANCE)) continue;
      const queue = this.consumed ? this.rng.pick(this.consumed) : this.pickQueue();
      this.stats.receives++;
      const memberId = member.id;
      const routed = this.countRouted(member);
      this.issue(c, member, node.receive(this.ctx(), queue, this.rng.int(1, 8), 0), (r) => {
        routed(r?.ok);
        if (!r?.ok) return;
        for (const m of r.messages) {
          this.history.clientDelivery(memberId, m.msgId, m.receiptHandle, m.bodyBytes);
          // Most are deleted within the visibility timeout; some late; some never (they come back).
          const roll = this.rng.next();
          if (roll < 0.1) continue;
          const vis = (this.visibilitySeconds.get(queue) ?? 1) * 1000;
          const after = roll < 0.85 ? this.rng.int(0, vis / 2) : this.rng.int(vis, vis * 2);
          c.held.push({ queue, handle: m.receiptHandle, deleteAtMs: this.scheduler.nowMs + after });
        }
      });
    }
  }

  // ---- faults --------------------------------------------------------------------------------

  /**
   * Now and then a relocation entry that just committed brings a crash at the next step: of the
   * leader (mostly), of another member, or of the whole set (a power failure), while members are
   * still applying it, the leader may be proposing the next one, and snapshots that would release
   * the old segments may be under way. Nothing of it may be lost, and no segment left behind.
   */
  private aimCrashAtRelocation(): void {
    if (!this.producing || this.intensity === 0 || this.crashAfterRelocation || !this.compactionRng.chance(RELOCATION_CRASH_CHANCE)) return;
    const all = [...this.members.values()];
    const roll = this.compactionRng.next();
    const leader = this.leader();
    this.crashAfterRelocation = roll < 0.2 ? all : roll < 0.7 && leader ? [leader] : [this.compactionRng.pick(all)];
  }

  private crashAtRelocation(): void {
    const victims = this.crashAfterRelocation?.filter((m) => m.up);
    this.crashAfterRelocation = undefined;
    if (!victims || victims.length === 0) return;
    this.stats.relocationCrashes++;
    if (victims.length === this.members.size) this.stats.powerFailures++;
    this.trace(`a relocation entry committed: ${victims.map((m) => m.id).join(', ')} crash${victims.length > 1 ? ' (power failure)' : ''}`);
    for (const m of victims) this.crash(m, this.compactionRng.int(200, 2000));
  }

  private injectFaults(): void {
    this.restartDue();
    this.crashAtRelocation();
    const now = this.scheduler.nowMs;
    const k = this.intensity;
    if (this.healAtMs !== 0 && now >= this.healAtMs) {
      this.network.heal();
      this.healAtMs = 0;
      this.trace('the network heals');
    }
    const scripted = this.opts.isolateLeader;
    if (scripted && !this.scriptedDone && now - EPOCH_MS >= scripted.atMs) {
      const leader = this.leader();
      if (leader) {
        this.scriptedDone = true;
        this.network.isolate(leader.id, IDS);
        this.stats.partitions++;
        this.healAtMs = now + scripted.forMs;
        this.trace(`${leader.id} (the leader) is isolated for ${scripted.forMs} ms (scripted)`);
      }
    }
    const down = [...this.members.values()].filter((m) => !m.up).length;
    if (down === 0 && this.rng.chance(0.0015 * k)) {
      this.crash(this.rng.pick([...this.members.values()]), this.rng.int(200, 3000));
    } else if (down === 0 && this.rng.chance(0.0004 * k)) {
      // A power failure of the whole set: every member loses what it had not synced.
      this.stats.powerFailures++;
      for (const m of this.members.values()) this.crash(m, this.rng.int(200, 1500));
    }
    if (this.healAtMs === 0 && this.rng.chance(0.0015 * k)) {
      const a = this.rng.pick(IDS);
      const kind = this.rng.next();
      const leader = this.leader()?.id;
      if (kind < 0.35) {
        this.network.isolate(a, IDS);
        this.trace(`${a} is isolated`);
      } else if (kind < 0.7 || leader === undefined || leader === a) {
        const b = this.rng.pick(IDS.filter((x) => x !== a));
        this.network.partition(a, b, true);
        this.trace(`the link ${a} -> ${b} is cut`);
      } else {
        // A bridge: this follower loses the leader but still reaches the other follower.
        this.network.partition(a, leader);
        this.stats.bridges++;
        this.trace(`${a} is cut from the leader ${leader} (a bridge through the third member)`);
      }
      this.stats.partitions++;
      this.healAtMs = now + this.rng.int(300, 3000);
    }
    if (this.rng.chance(0.0008 * k)) {
      // A frozen process (SIGSTOP, a stalled VM): its sockets stay open and nothing comes out.
      const leader = this.leader();
      const up = [...this.members.values()].filter((m) => m.up);
      const m = leader && this.rng.chance(0.7) ? leader : up.length > 0 ? this.rng.pick(up) : undefined;
      if (m) {
        const ms = this.rng.int(200, 2500);
        m.runtime.freeze(now + ms);
        this.stats.freezes++;
        this.trace(`${m.id} is frozen for ${ms} ms`);
      }
    }
    this.diskFullFault(now, k);
    if (this.rng.chance(0.002 * k)) {
      const calm = this.rng.chance(0.4);
      this.network.weather = calm
        ? CALM
        : { loss: this.rng.next() * 0.05, duplicate: this.rng.next() * 0.02, delayMinMs: 1, delayMaxMs: this.rng.int(2, 40) };
      this.stats.weatherChanges++;
    }
    if (this.rng.chance(0.0008 * k)) {
      const leader = this.leader();
      const target = this.rng.pick(IDS);
      if (leader?.node && target !== leader.id) {
        this.stats.transfers++;
        void leader.node.transferLeader(this.ctx(), target);
      }
    }
    if (this.rng.chance(0.0005)) {
      const node = this.leader()?.node;
      if (node) {
        const q = this.rng.pick(BUSY_QUEUES).name;
        const seconds = this.rng.int(1, 3);
        void node.submit(this.ctx(), { kind: 'setQueueAttributes', queueName: q, attrs: { visibilityTimeout: seconds } }).then((r) => {
          if (r.ok) this.visibilitySeconds.set(q, seconds);
        });
      }
    }
  }

  /**
   * One member's disk is full for 1-6 s: the real WAL and hard state stall and retry, the member
   * refuses writes, a leader hands leadership over; then space returns. Half the time only growing
   * a file fails (ENOSPC), so the WAL goes on writing into its preallocated segment until it needs
   * the next one; the other half every write fails, as on a full copy-on-write file system.
   */
  private diskFullFault(now: number, k: number): void {
    if (this.full) {
      if (now >= this.full.untilMs) this.endDiskFull();
      return;
    }
    if (!this.diskRng.chance(0.0006 * k)) return;
    // Half the time the leader's: the case that decides whether the set keeps serving.
    const m = (this.diskRng.chance(0.5) ? this.leader() : undefined) ?? this.diskRng.pick([...this.members.values()]);
    const everyWrite = this.diskRng.chance(0.5);
    if (everyWrite) m.fs.refuseWrites(true);
    else m.fs.setCapacity(m.fs.usedBytes());
    this.full = { member: m, untilMs: now + this.diskRng.int(1000, 6000) };
    this.stats.diskFulls++;
    if (m.node?.observe().raft.role === 'leader') this.stats.diskFullLeaders++;
    this.trace(`${m.id}'s disk is full${everyWrite ? ' (every write refused)' : ''} until ${this.full.untilMs - EPOCH_MS} ms`);
  }

  private endDiskFull(): void {
    if (!this.full) return;
    this.full.member.fs.setCapacity(undefined);
    this.full.member.fs.refuseWrites(false);
    this.trace(`${this.full.member.id}'s disk has space again`);
    this.full = undefined;
  }

  /**
   * Media damage inside a message body of a record that is not its segment's last (header and
   * meta damage make the real node refuse to start, a storage test's business; a bad last body is
   * a torn write to recovery).
   */
  private async flipBodyBit(): Promise<void> {
    const m = this.rng.pick([...this.members.values()]);
    const walDir = `${groupDataDir(`/data/${m.id}`, this.group)}/wal/`;
    const segments = m.fs.paths().filter((p) => p.startsWith(walDir) && p.endsWith('.wal'));
    if (segments.length === 0) return;
    const path = this.rng.pick(segments);
    const records = parseRecordBounds(await m.fs.readFile(path)).slice(0, -1).filter((r) => r.bodyLength > 0 && r.kind === 'command');
    if (records.length === 0) return;
    const r = this.rng.pick(records);
    const committed = this.msgIdsAt.get(r.index);
    // Only the committed send at that index matters to delivery: damage elsewhere is truncated away.
    if (!committed || committed.term !== r.term) return;
    m.fs.flipBit(path, r.bodyOffset + this.rng.int(0, r.bodyLength - 1), this.rng.int(0, 7));
    for (const id of committed.msgIds) this.history.damaged(id);
    this.stats.bitFlips++;
    this.trace(`bit flip in ${path} (entry ${r.index})`);
  }

  /** Body ids by the CRC32C of their bytes (bodies are made unique by their id prefix). */
  private readonly bodyIdByCrc = new Map<number, number>();

  /** The msgIds of each committed send, by index, with the entry's term. */
  private readonly msgIdsAt = new Map<number, { term: number; msgIds: string[] }>();

  // ---- checkers ------------------------------------------------------------------------------

  private fail(check: NodeSimFailure['check'], message: string): void {
    this.failure ??= new SimAbort(check, message);
  }

  /** Since when each member has led with a stalled disk. */
  private readonly stalledLeadSince = new Map<string, number>();

  private checkAll(): void {
    if (this.failure) throw this.failure;
    for (const m of this.members.values()) {
      const o = m.node?.observe();
      if (o && o.raft.role === 'leader' && o.diskStall !== undefined) {
        // A frozen process can do nothing, hand-over included: its clock starts again when it thaws.
        if (m.runtime.frozenUntilMs > this.scheduler.nowMs) {
          this.stalledLeadSince.set(m.id, this.scheduler.nowMs);
          continue;
        }
        const since = this.stalledLeadSince.get(m.id) ?? this.scheduler.nowMs;
        this.stalledLeadSince.set(m.id, since);
        this.stats.longestStalledLeadMs = Math.max(this.stats.longestStalledLeadMs, this.scheduler.nowMs - since);
      } else this.stalledLeadSince.delete(m.id);
    }
    const uncaught = this.scheduler.uncaught[0];
    if (uncaught) throw new SimAbort('uncaught', `a task of ${uncaught.owner} threw: ${String(uncaught.error)}`);
    for (const m of this.members.values()) {
      const st = m.node?.observe().raft;
      if (!st) continue;
      this.stats.maxTerm = Math.max(this.stats.maxTerm, st.term);
      if (st.role !== 'leader') continue;
      const known = this.leaderOfTerm.get(st.term);
      if (known === undefined) {
        this.leaderOfTerm.set(st.term, m.id);
        this.stats.elections++;
      } else if (known !== m.id) throw new SimAbort('electionSafety', `two leaders in term ${st.term}: ${known} and ${m.id}`);
    }
  }

  /** Every applied command on every member: the first apply of an index feeds the history, later ones must agree. */
  private applied(m: Member, e: LogEntry, result: CommandResult): void {
    try {
      const digest = JSON.stringify(result);
      const seen = this.resultAt.get(e.index);
      if (seen !== undefined) {
        if (seen.term !== e.term || seen.digest !== digest) {
          throw new SimAbort('replicaAgreement', `${m.id} got a different result at index ${e.index} (term ${e.term}) than ${seen.node} (term ${seen.term}): ${digest} vs ${seen.digest}`);
        }
        return;
      }
      this.resultAt.set(e.index, { term: e.term, digest, node: m.id });
      this.stats.finalIndex = Math.max(this.stats.finalIndex, e.index);
      this.observeCommitted(e, decodeCommand(e.payload, e.metaLen), result);
    } catch (err) {
      this.fail(err instanceof SimAbort || err instanceof QueueCheckFailure ? err.check : 'exception', err instanceof Error ? err.message : String(err));
    }
  }

  private observeCommitted(e: LogEntry, cmd: DecodedCommand, result: CommandResult): void {
    if (!result.ok) return;
    if (cmd.kind === 'sendMessages' && result.kind === 'sendMessages') {
      // The applying member's copy may be damaged on disk: its meta (checksummed with the header)
      // still names each body's CRC32C, which identifies the body the producer sent.
      const bodyIds = cmd.bodies.map((b) => bodyIdOf(e.payload.subarray(b.offset, b.offset + b.length)) ?? this.bodyIdByCrc.get(b.crc32c) ?? -1);
      const deduplicated = cmd.options?.map((o) => o.dedupId !== undefined) ?? [];
      const groupIds = cmd.options?.map((o) => o.groupId) ?? [];
      this.history.sendCommitted(e.index, e.timeMs, cmd.queueName, cmd.delaySeconds ?? 0, result.msgIds, bodyIds, deduplicated, groupIds);
      this.msgIdsAt.set(e.index, { term: e.term, msgIds: result.msgIds });
    } else if (cmd.kind === 'receiveMessages' && result.kind === 'receiveMessages') {
      for (const msg of result.messages) {
        this.history.delivered({ msgId: msg.msgId, queue: cmd.queueName, handle: msg.receiptHandle, index: e.index, timeMs: e.timeMs, source: 'log', node: 'log' }, msg.queueNumber, msg.seq, {
          dequeueCount: msg.dequeueCount,
          groupId: msg.groupId,
        });
      }
    } else if (cmd.kind === 'deleteMessages' && result.kind === 'deleteMessages') {
      const failed = new Set(result.failures.map((f) => f.index));
      this.history.deleteCommitted(e.index, e.timeMs, cmd.receiptHandles.filter((_, k) => !failed.has(k)));
    } else if (cmd.kind === 'relocateBodies' && result.kind === 'relocateBodies') {
      this.aimCrashAtRelocation();
      this.stats.relocationEntries++;
      this.stats.relocatedMessages += result.relocated;
      this.stats.relocatedBytes += result.bytes;
    } else if (cmd.kind === 'quarantineMessage') {
      this.history.quarantineCommitted(e.index, cmd.queueNumber, cmd.seq);
    } else if (cmd.kind === 'moveMessages' && result.kind === 'moveMessages') {
      this.fifoHistory.movedOut(cmd.sourceQueue, e.index, e.timeMs, result.moved);
      this.moveHistory.moveCommitted(e.index, e.timeMs, cmd.sourceQueue, result.moved, result.task);
      if (result.task) this.moveTaskMoved(result.task, e.term, result.moved);
    } else if (cmd.kind === 'startMoveTask' && result.kind === 'startMoveTask') {
      this.stats.moveTasksStarted++;
      this.moveTaskTerm.set(result.taskHandle, e.term);
    } else if (cmd.kind === 'cancelMoveTask' && result.kind === 'cancelMoveTask') {
      this.stats.moveTasksCancelled++;
      this.moveHistory.cancelCommitted(e.index, cmd.taskHandle);
    } else if (cmd.kind === 'setQueueAttributes' && cmd.attrs.visibilityTimeout !== undefined) {
      this.history.visibilityChanged(cmd.queueName, e.index, cmd.attrs.visibilityTimeout * 1000);
      this.stats.visibilityChanges++;
    }
  }

  /** Counts a task seen moving in a later term than it started in: a new leader's move loop resumed it. */
  private moveTaskMoved(task: MoveTaskView, term: number, moved: number): void {
    const started = this.moveTaskTerm.get(task.taskHandle);
    if (started === undefined || moved === 0 || term <= started) return;
    this.stats.moveTasksResumed++;
    this.moveTaskTerm.delete(task.taskHandle);
  }

  // ---- the end -------------------------------------------------------------------------------

  private async healAndDrain(): Promise<void> {
    this.endDiskFull();
    this.network.heal();
    this.healAtMs = 0;
    this.network.weather = CALM;
    this.producing = false;
    for (const m of this.members.values()) if (!m.up) m.restartAtMs = this.scheduler.nowMs;
    this.restartDue();
    // The busy queues first: the stragglers in 'slow' stay behind, scattered over the log, while
    // the set goes quiet and its logs are measured; then everything is drained and checked.
    this.trace('healed: every member up, producers stopped, draining the busy queues');
    this.consumed = BUSY_QUEUES.map((q) => q.name);
    await this.drain(false);
    this.fifoConsuming = false;
    await this.quietThenMeasureLogs();
    this.trace('draining every queue');
    this.consumed = QUEUES.map((q) => q.name);
    this.fifoConsuming = true;
    await this.drain(true);
    this.history.checkNothingLost();
    this.history.checkNothingLeft(new Set([FIFO_QUEUE, FIFO_DLQ]));
  }

  /** Consumers keep receiving until nothing was delivered for a while (and, if `complete`, every acknowledged send was). */
  private async drain(complete: boolean): Promise<void> {
    const until = this.scheduler.nowMs + DRAIN_MS_MAX;
    let quietSince = this.scheduler.nowMs;
    while (this.scheduler.nowMs < until) {
      this.restartDue();
      this.clientTraffic();
      this.fifo.step();
      await this.scheduler.runUntil(this.scheduler.nowMs + STEP_MS);
      this.checkAll();
      const busy = [...this.clients.values()].some((c) => c.busy || c.held.length > 0) || this.fifo.busy();
      if (busy || this.stats.clientDeliveries !== this.lastDeliveries) quietSince = this.scheduler.nowMs;
      this.lastDeliveries = this.stats.clientDeliveries;
      // Drained: nothing delivered for a while although consumers kept asking.
      if (this.scheduler.nowMs - quietSince > 8000 && (!complete || this.allAckedDelivered())) break;
      this.collectHistoryStats();
    }
  }

  /**
   * No client traffic for a while, with the stragglers still queued, then every member's log is
   * measured against the live body bytes its last census counted: compaction and snapshots must
   * have brought the disk down to what the live messages need, whatever the faults left behind
   * (without compaction, every segment holding a straggler would still be there).
   */
  private async quietThenMeasureLogs(): Promise<void> {
    this.trace('quiet: no client traffic');
    const until = this.scheduler.nowMs + QUIET_MS;
    while (this.scheduler.nowMs < until) {
      this.restartDue();
      await this.scheduler.runUntil(this.scheduler.nowMs + STEP_MS);
      this.checkAll();
    }
    let worst = -Infinity;
    for (const m of this.members.values()) {
      const node = m.node;
      if (!node) continue;
      const walDir = `${groupDataDir(`/data/${m.id}`, this.group)}/wal/`;
      let logBytes = 0;
      for (const path of m.fs.paths()) if (path.startsWith(walDir) && path.endsWith('.wal')) logBytes += (await m.fs.stat(path)).size;
      const c = node.stats().compaction;
      const live = c.liveBytes;
      const bound = LOG_LIVE_FACTOR * live + c.snapshotCostBytes + LOG_SLACK_SEGMENTS * SEGMENT_BYTES;
      this.trace(`${m.id}: log ${logBytes} bytes, ${live} live body bytes, snapshot cost ${c.snapshotCostBytes} bytes (bound ${bound}); files ${m.fs.paths().filter((p) => p.startsWith(walDir)).map((p) => p.slice(walDir.length)).join(' ')}`);
      if (logBytes - LOG_LIVE_FACTOR * live > worst) {
        worst = logBytes - LOG_LIVE_FACTOR * live;
        this.stats.finalLogBytes = logBytes;
        this.stats.finalLiveBytes = live;
      }
      if (logBytes > bound) {
        throw new SimAbort('logBound', `${m.id}'s log holds ${logBytes} bytes after ${QUIET_MS} ms of quiet, over ${bound} (${LOG_LIVE_FACTOR} x ${live} live body bytes + ${c.snapshotCostBytes} snapshot bytes + ${LOG_SLACK_SEGMENTS} segments)`);
      }
    }
  }

  private lastDeliveries = 0;

  private allAckedDelivered(): boolean {
    try {
      this.history.checkNothingLost();
      return true;
    } catch {
      return false;
    }
  }

  private collectHistoryStats(): void {
    Object.assign(this.stats, this.history.stats, this.fifoHistory.stats, this.moveHistory.stats, this.fifo.stats);
  }

  private async result(): Promise<NodeSimResult> {
    this.collectHistoryStats();
    this.stats.tasksRun = this.scheduler.tasksRun;
    this.stats.networkFrames = this.network.stats.frames;
    this.stats.networkLost = this.network.stats.lost;
    for (const m of this.members.values()) this.collectStats(m);
    const digest = await diskDigest(this.members.values(), JSON.stringify(this.stats));
    const r: NodeSimResult = { seed: this.opts.seed, ok: this.failure === undefined, stats: this.stats, digest, replay: this.replayCommand() };
    if (this.failure) r.failure = { check: this.failure.check, message: this.failure.message, atMs: this.scheduler.nowMs - EPOCH_MS };
    return r;
  }

  /** Adds an incarnation's counters to the run's (once: at its crash or stop, or at the end). */
  private collectStats(m: Member): void {
    const s = m.node?.stats();
    if (!s) return;
    this.stats.snapshotsTaken += s.snapshotsTaken;
    this.stats.snapshotsInstalled += s.snapshotsInstalled;
    this.stats.segmentsReleased += s.segmentsReleased;
    this.stats.compactionRuns += s.compaction.runs;
    this.stats.bodiesFromReplicas += s.bodiesFromReplicas;
    this.stats.corruptBodies += s.corruptBodies;
    this.stats.stallStepDowns += m.node!.observe().raftCounters.stallStepDowns;
  }

  /** The context of a simulated client's request: an id per request, virtual time. */
  private ctx(): RequestContext {
    return { requestId: `sim-${++this.requestSeq}`, clientAddress: '', receivedAtMs: this.scheduler.nowMs };
  }

  private requestSeq = 0;

  private trace(line: string): void {
    this.opts.trace?.(`${String(this.scheduler.nowMs - EPOCH_MS).padStart(7)} ${line}`);
  }
}

export function runNodeSimulation(opts: NodeSimOptions): Promise<NodeSimResult> {
  return new NodeSimulation(opts).run();
}

/** The disk as the 'fsyncLies' bug sees it: fdatasync and fsync return at once and persist nothing. */
export function lyingAboutSync(fs: SimFs): FileSystem {
  const open = async (path: string, flags: OpenFlags): Promise<FileHandle> => {
    const h = await fs.open(path, flags);
    return new Proxy(h, {
      get(target, prop, receiver) {
        if (prop === 'datasync' || prop === 'sync') return () => Promise.resolve();
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
  return new Proxy(fs, {
    get(target, prop, receiver) {
      if (prop === 'open') return open;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
