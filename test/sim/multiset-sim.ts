// The deterministic simulation of a cluster of three sets with a controller, running the SHIPPED
// access layer: nine processes (three sets of three members, sets 1-3 as Raft groups 0-2), the
// controller group's replicas on set 1's members. Each process is what the server starts with a
// controller: a NodeHost of its set's group (and, on set 1, the controller group), wired by
// src/node/cluster-wiring.ts exactly as server.ts wires it (routed service, service calls,
// controller client, other sets over the network's group views, the set reporter, the routing
// service and the topic outboxes into queues on other sets). Nothing in src/ knows it is
// simulated: the seams are the Runtime, the FileSystem and the peer network (sim-*.ts).
//
// Clients call any member of any set through the service the wiring returns, as the API does:
// queues are created through the controller's placement (so they spread over the sets), a topic
// on one set has queue subscriptions that may be on others, one queue grows to 2 and then 3
// shards mid-run, and another is deleted and created again (placed anew) while members hold its
// old route. A dead-letter queue has two sources (maxReceiveCount 2), on its set or on others:
// their consumers leave many messages undeleted, so messages are dead-lettered, locally or
// through the source's outbox to another set, and now and then the operator redrives the
// dead-letter queue (its messages go back to the sources they came from, wherever those are).
// Five queues are moved live to another set, again and again (back to a set they were on too):
// two plain queues, a dead-letter source (to and from its dead-letter queue's set: its dead
// letters turn local or remote), the dead-letter queue (to and from a source's set: the sources
// there are bound again through the route), and a subscribed queue (to and from its topic's set:
// the topic's delivery turns remote); all while producers and consumers use them and faults hit
// (the source set's leader, the target's and the controller's among the crashes); an operator
// asks a running move again (a retry answers the same move). Producers send, consumers receive
// (some with a long poll), delete most, some late, abandon some; a publisher publishes to the
// topic. Faults: members
// killed (a power loss) and restarted, the controller's leader among them, a member isolated,
// frozen members, network weather, leader transfers.
//
// Checkers, per set (each set's log is its own history): queue-history.ts (no delivery within a
// visibility timeout of an earlier one, deleted stays deleted, bodies intact, stale deletes
// refused), replica agreement per group (the controller's too), election safety per group, no
// task threw; across sets: every acknowledged send delivered after the drain, every acknowledged
// publish delivered at least once from every subscribed queue, once the faults healed every call
// answered within the client's timeout, and after the drain every member serving every queue.
// Across a move (cross-set-history.ts): a message delivered on one set is not delivered on the
// other within its visibility timeout, a message deleted on one set is not delivered on the other
// later, and after the drain every stored message was deleted on whichever set it ended; every
// move completes once the faults heal (the route names the target alone, no other set holds the
// queue), a move's answers name that move, and a receipt handle of the set a queue left answers
// receiptHandleInvalid once the move is done. The dead-letter queue and its sources, per message
// wherever it is (dead-letter-history.ts): never delivered within a visibility timeout of an
// earlier delivery, deleted from the source or from the dead-letter queue and not both, never
// delivered after that, never handed out by a source more than maxReceiveCount times on one
// copy, counted against the source it came from (a dead letter stored on another set names it, a
// redrive sends it back there), and after the drain every one deleted.

import { decodeCommand, type DecodedCommand } from '../../src/broker/codec';
import type { Command, CommandOk, CommandResult } from '../../src/broker/commands';
import { wireClusterAccess, wireSetService } from '../../src/node/cluster-wiring';
import { NodeHost, type HostedGroup } from '../../src/node/host';
import { groupOfId } from '../../src/node/shards';
import type { QueueNode } from '../../src/node/queue-node';
import { DEFAULT_RAFT_TIMING } from '../../src/node/raft-timing';
import type { SetReporter } from '../../src/node/set-reporter';
import type { QueueMover } from '../../src/node/queue-move';
import { CONTROLLER_GROUP } from '../../src/protocol/groups';
import { LIMITS } from '../../src/protocol/limits';
import { noopLogger } from '../../src/protocol/log';
import type { QueueService } from '../../src/service/queue-service';
import type { RequestContext } from '../../src/service/request-context';
import type { ControllerNode } from '../../src/node/controller-node';
import type { LogEntry } from '../../src/storage/types';
import { CrossSetHistory } from './cross-set-history';
import { DeadLetterCheckFailure, DeadLetterHistory, type DeadLetterCheck } from './dead-letter-history';
import { installMultiSetPatch, type MultiSetBug } from './multiset-sim-bugs';
import { Prng } from './prng';
import { issueCall } from './client-call';
import { bodyFor, bodyIdOf, QueueCheckFailure, QueueHistory, type QueueCheck } from './queue-history';
import { CALM, SimNetwork, type SimHostNetwork } from './sim-network';
import { diskDigest, SimMachine } from './sim-machine';
import { SimScheduler } from './sim-runtime';

export { MULTISET_SIM_BUGS, type MultiSetBug } from './multiset-sim-bugs';

export interface MultiSetSimOptions {
  seed: number;
  /** Virtual milliseconds of the fault phase. */
  durationMs: number;
  bug?: MultiSetBug;
  /** Multiplies the rate of crashes, partitions, freezes and weather changes (default 1). */
  intensity?: number;
  trace?: (line: string) => void;
}

export interface MultiSetSimStats {
  crashes: number;
  controllerLeaderCrashes: number;
  restarts: number;
  partitions: number;
  freezes: number;
  transfers: number;
  weatherChanges: number;
  tornWrites: number;
  lostWrites: number;
  fatalStops: number;
  elections: number;
  /** Queues placed on each set (index set id - 1), as the controller placed them at the start. */
  queuesPerSet: number[];
  /** Shards the growing queue has at the end. */
  shards: number;
  /** Times the recreated queue was deleted and created again (placement may put it on another set). */
  recreations: number;
  /** Acknowledged sends whose queue was deleted after they were stored (not expected back). */
  droppedWithQueue: number;
  sendsAttempted: number;
  ackedSends: number;
  /** Calls a client made on a member of a set other than the one holding the queue or topic. */
  crossSetCalls: number;
  crossSetCallsOk: number;
  deliveries: number;
  redeliveries: number;
  deletes: number;
  longPolls: number;
  publishes: number;
  ackedPublishes: number;
  /** Deliveries of published messages from a subscribed queue (repeats included). */
  topicDeliveries: number;
  /** Of which from a queue on another set than the topic (through the outbox). */
  remoteTopicDeliveries: number;
  /** Calls left unanswered within the client's timeout while faults were on (allowed), and after they healed (a failure). */
  slowDuringFaults: number;
  clientTimeouts: number;
  /** Live moves of a queue to another set: started (an ok answer), completed, and those whose source set changed leader while they ran (a new leader's mover went on). */
  movesStarted: number;
  movesCompleted: number;
  movesResumed: number;
  /** Moves to a set the queue was on before. */
  movesBack: number;
  /** Running moves asked again (each answered the same move). */
  moveRetries: number;
  /** Crashes while a move ran of its source set's leader, its target set's leader, the controller's leader. */
  moveSourceLeaderCrashes: number;
  moveTargetLeaderCrashes: number;
  moveControllerLeaderCrashes: number;
  /** Receipt handles of a move's source set accepted there while the move ran. */
  sourceHandleDeletesDuringMoves: number;
  /** Receipt handles of a moved queue's old set used after the move: each answered receiptHandleInvalid. */
  oldHandlesRefused: number;
  /** Messages a move stored on another set (new msgId, same body), and deliveries of a body from another set than its previous one. */
  movedCopies: number;
  deliveriesAcrossSets: number;
  /** Moves of the moving dead-letter source, and of them those to or from its dead-letter queue's set (dead letters turn remote or local). */
  deadLetterSourceMoves: number;
  deadLetterSourceMovesLocal: number;
  /** Moves of the dead-letter queue, and of them those leaving a set that holds one of its sources (bound again through the route). */
  deadLetterQueueMoves: number;
  deadLetterQueueMovesFromSource: number;
  /** Moves of the moving subscribed queue, and of them those leaving its topic's set (delivery turns remote). */
  subscribedMoves: number;
  subscribedMovesFromTopicSet: number;
  /** Acknowledged sends to the dead-letter sources. */
  deadLetterSends: number;
  /** Deliveries from the dead-letter queue of a message delivered from its source before, and of them those on another set than that delivery. */
  deadLettered: number;
  deadLetteredAcrossSets: number;
  /** Dead letters another set's outbox stored on the dead-letter queue's set, naming their source. */
  remoteDeadLetters: number;
  /** Redrives of the dead-letter queue that moved something, and deliveries from a source of messages redriven there. */
  redrives: number;
  redriven: number;
  tasksRun: number;
}

export interface MultiSetSimFailure {
  check: QueueCheck | DeadLetterCheck | 'electionSafety' | 'uncaught' | 'startFailure' | 'exception' | 'unanswered' | 'topicLost' | 'setup' | 'staleRoute' | 'moveAnswer' | 'moveStuck' | 'moveHandle';
  message: string;
  atMs: number;
}

export interface MultiSetSimResult {
  seed: number;
  ok: boolean;
  failure?: MultiSetSimFailure;
  stats: MultiSetSimStats;
  digest: string;
  replay: string;
}

// ---- tuning ------------------------------------------------------------------------------------

const EPOCH_MS = 1_700_000_000_000;
const SETS = [1, 2, 3] as const;
const MEMBERS_PER_SET = 3;
const STEP_MS = 10;
const SEGMENT_BYTES = 64 * 1024;
/** Across sets a call may take a controller read and a hop to another set's leader. */
const CLIENT_TIMEOUT_MS = 6000;
const PRODUCERS = ['p1', 'p2'];
const CONSUMERS = ['c1', 'c2', 'c3'];
const PUBLISHER = 'pub';
const SEND_CHANCE = 0.2;
const RECEIVE_CHANCE = 0.3;
const PUBLISH_CHANCE = 0.05;
/** Standard queues, created through placement at random members. */
const QUEUES = [
  { name: 'alpha', visibilityTimeout: 1 },
  { name: 'beta', visibilityTimeout: 2 },
  { name: 'gamma', visibilityTimeout: 1 },
] as const;
/** The queue that grows to more shards mid-run. */
const WIDE = { name: 'wide', visibilityTimeout: 2 } as const;
/** The queue an operator deletes and creates again mid-run: nodes with its old route must find the new one. */
const RECREATED = 'gamma';
/** After the drain, each member must serve every queue within this long (stale routes refreshed). */
const PROBE_MS_MAX = 20_000;
const OPERATOR = 'op';
/**
 * Created between the delete and the new create: placement puts a new queue on the least loaded
 * set, often the one that just lost RECREATED; this one takes that place, so RECREATED usually
 * comes back on another set than it was on.
 */
const FILLER = 'filler';
const TOPIC = 'news';
/** The topic's subscribed queues (placed like any queue: on the topic's set or another). */
const SUB_QUEUES = [
  { name: 'sub-a', visibilityTimeout: 2 },
  { name: 'sub-b', visibilityTimeout: 2 },
] as const;
const SENT_QUEUES = [...QUEUES.map((q) => q.name), WIDE.name];
/**
 * A dead-letter queue and its two sources (maxReceiveCount MAX_RECEIVE_COUNT), placed like any
 * queue: the dead-letter queue on a source's set or on another, and moves change that.
 */
const DEAD = { name: 'dead', visibilityTimeout: 2 } as const;
const DL_SOURCES = [
  { name: 'orders', visibilityTimeout: 1 },
  { name: 'refunds', visibilityTimeout: 2 },
] as const;
const MAX_RECEIVE_COUNT = 2;
const DL_SOURCE_NAMES: readonly string[] = DL_SOURCES.map((q) => q.name);
const DL_QUEUES = [DEAD, ...DL_SOURCES];
/**
 * A consumer of a dead-letter source leaves this share of what it gets undeleted (so messages
 * reach maxReceiveCount), and of the dead-letter queue this share (so a redrive finds some there).
 */
const DL_ABANDON = 0.4;
const DLQ_ABANDON = 0.3;
/** Per step, the chance that the operator redrives the dead-letter queue (sends its messages back to their sources). */
const REDRIVE_CHANCE = 0.006;
const REDRIVER = 'redriver';
const ALL_QUEUES = [...QUEUES, WIDE, ...SUB_QUEUES, ...DL_QUEUES];
/** Published bodies get ids from here (sent bodies count up from 1). */
const PUBLISH_BODY_BASE = 1_000_000;
const SETUP_MS_MAX = 60_000;
const DRAIN_MS_MAX = 120_000;
/** After the heal, calls must be answered within the client's timeout once this long passed (routes and links settle). */
const SETTLE_AFTER_HEAL_MS = 3000;
/**
 * The queues moved live: two plain standard queues, a dead-letter source (its dead letters go to
 * DEAD locally or through its outbox, and change from one to the other as either moves), the
 * dead-letter queue itself (its sources on its set are bound again through the route), and a
 * subscribed queue (a topic on its set then delivers through the outbox). The growing queue is
 * refused by a move (several shards); RECREATED is deleted by the operator, which would end a
 * move of it.
 */
const SUBSCRIBED_MOVING = SUB_QUEUES[0].name;
const DL_SOURCE_MOVING = DL_SOURCES[0].name;
const MOVABLE = ['alpha', 'beta', DL_SOURCE_MOVING, DEAD.name, SUBSCRIBED_MOVING] as const;
const MOVER = 'mover';
/** The first move of each queue starts this far into the fault phase, the next this long after the previous one completed (fractions of the phase). */
const FIRST_MOVE_AT = [0.05, 0.4] as const;
const NEXT_MOVE_AFTER = [0.02, 0.2] as const;
/** Per step, the chance that the operator asks a running move again. */
const MOVE_RETRY_CHANCE = 0.01;
/** How often the workload reads the controller's routes of the moving queues (its leader's state, locally). */
const MOVE_WATCH_MS = 250;
/** While a move runs, the share of crashes aimed at its source's, its target's and the controller's leader. */
const MOVE_CRASH_AIMED = 0.75;
/** Two sets' log times are compared with this slack: twice the simulator's clock skew (sim-machine.ts). */
const CROSS_SET_TOLERANCE_MS = 2 * 100 + 50;
/** Answers to a move of a movable queue that are wrong (the others are availability answers: asked again). */
const MOVE_REFUSALS: ReadonlySet<string> = new Set(['routeChangeRunning', 'queueMoveUnsupported', 'shardedUnsupported', 'queueNotExist', 'setNotExist', 'setNotActive']);

// ---- the simulation ----------------------------------------------------------------------------

class SimAbort extends Error {
  constructor(
    readonly check: MultiSetSimFailure['check'],
    message: string,
  ) {
    super(message);
  }
}

class Member extends SimMachine {
  net!: SimHostNetwork;
  setId = 0;
  group = 0;
  node: QueueNode | undefined;
  controller: ControllerNode | undefined;
  service: QueueService | undefined;
  reporter: SetReporter | undefined;
  mover: QueueMover | undefined;
  /** This member's own set's service (not routed across sets): what its set holds. */
  own: QueueService | undefined;
}

interface RunningMove {
  from: number;
  to: number;
  startedMs: number;
  /** The source set's leaders seen while it ran: more than one, and a new leader's mover went on. */
  sourceLeaders: Set<string>;
  /** The latest receipt handle the source set issued for the queue while it ran (used again after the move). */
  sourceHandle: string | undefined;
}

/** The live moves of one queue: where it is, the move asked for or running, when the next starts. */
interface MovingQueue {
  name: string;
  /** The set the controller routes it to (only these moves change that). */
  at: number;
  /** Sets it was on, in order. */
  visited: number[];
  /** The target of a move asked for that has not been answered ok yet: asked again until it is. */
  asking: number | undefined;
  running: RunningMove | undefined;
  /** Virtual ms from the start of the fault phase when its next move is asked for. */
  nextAtMs: number;
}

interface Held {
  queue: string;
  handle: string;
  deleteAtMs: number;
}

interface Client {
  id: string;
  busy: boolean;
  held: Held[];
}

export class MultiSetSimulation {
  private readonly rng: Prng;
  private readonly scheduler = new SimScheduler(EPOCH_MS);
  private readonly network: SimNetwork;
  private readonly members = new Map<string, Member>();
  private readonly ids: string[] = [];
  private readonly controllerVoters: string[];
  private readonly clients = new Map<string, Client>();
  /** Each set's log is its own history: indexes, msgIds and handles are per group. */
  private readonly histories = new Map<number, QueueHistory>();
  /** Per group (the controller's too): each index's result and term, as the first replica applied it. */
  private readonly resultAt = new Map<number, Map<number, { term: number; digest: string; node: string }>>();
  private readonly leaderOfTerm = new Map<number, Map<number, string>>();
  private readonly acked = new Set<number>();
  private readonly delivered = new Set<number>();
  private readonly publishAcked = new Set<number>();
  /** Per subscribed queue, the published bodies delivered from it. */
  private readonly topicDelivered = new Map<string, Set<number>>(SUB_QUEUES.map((q) => [q.name, new Set()]));
  private readonly intensity: number;
  private nextBodyId = 1;
  /** Messages of the sent queues handed to a consumer, repeats included. */
  private clientDeliveries = 0;
  private nextPublishId = PUBLISH_BODY_BASE;
  private healAtMs = 0;
  /** Virtual time after which every call must be answered in time (the faults healed); 0 while they may not be. */
  private answersDueFromMs = 0;
  private producing = true;
  private wideShards = 1;
  /** When the growing queue gets its next shard (virtual, from the start). */
  private readonly growAtMs: number[];
  private topicSet = 0;
  /** When the operator deletes and recreates RECREATED (virtual, from the start), and how far it got. */
  private readonly recreateAtMs: number;
  private recreatePhase: 'waiting' | 'deleting' | 'filling' | 'creating' | 'done' = 'waiting';
  /** Per `group:queue`, the body ids of each committed send, by index (a queue delete drops those before it). */
  private readonly storedIn = new Map<string, { index: number; bodyIds: number[] }[]>();
  private readonly dropped = new Set<number>();
  private readonly placed = new Map<string, number>();
  private failure: SimAbort | undefined;
  private requestSeq = 0;
  private readonly moving = new Map<string, MovingQueue>();
  /** Completed moves, with a handle their source issued, for the check after the drain. */
  private readonly movesDone: { name: string; from: number; to: number; sourceHandle: string | undefined }[] = [];
  private readonly crossSets = new CrossSetHistory(CROSS_SET_TOLERANCE_MS);
  private readonly deadLetters = new DeadLetterHistory({ deadLetterQueue: DEAD.name, sources: DL_SOURCE_NAMES, maxReceiveCount: MAX_RECEIVE_COUNT }, CROSS_SET_TOLERANCE_MS);
  private watchingMoves = false;
  private lastMoveWatchMs = 0;
  private faultStartMs = 0;
  readonly stats: MultiSetSimStats;

  constructor(private readonly opts: MultiSetSimOptions) {
    this.rng = new Prng(opts.seed);
    this.network = new SimNetwork(this.scheduler, this.rng.fork());
    this.network.dialOnSetPeers = true;
    this.intensity = opts.intensity ?? 1;
    for (const setId of SETS) {
      for (let k = 1; k <= MEMBERS_PER_SET; k++) this.ids.push(`s${setId}n${k}`);
      this.histories.set(setId - 1, new QueueHistory(new Map(ALL_QUEUES.map((q) => [q.name, q.visibilityTimeout * 1000]))));
    }
    this.controllerVoters = this.membersOf(1);
    this.recreateAtMs = this.rng.int(opts.durationMs * 0.3, opts.durationMs * 0.7);
    this.growAtMs = [this.rng.int(opts.durationMs / 5, opts.durationMs / 2), this.rng.int(opts.durationMs / 2, (opts.durationMs * 4) / 5)];
    this.stats = {
      crashes: 0,
      controllerLeaderCrashes: 0,
      restarts: 0,
      partitions: 0,
      freezes: 0,
      transfers: 0,
      weatherChanges: 0,
      tornWrites: 0,
      lostWrites: 0,
      fatalStops: 0,
      elections: 0,
      queuesPerSet: [0, 0, 0],
      shards: 1,
      recreations: 0,
      droppedWithQueue: 0,
      sendsAttempted: 0,
      ackedSends: 0,
      crossSetCalls: 0,
      crossSetCallsOk: 0,
      deliveries: 0,
      redeliveries: 0,
      deletes: 0,
      longPolls: 0,
      publishes: 0,
      ackedPublishes: 0,
      topicDeliveries: 0,
      remoteTopicDeliveries: 0,
      slowDuringFaults: 0,
      clientTimeouts: 0,
      movesStarted: 0,
      movesCompleted: 0,
      movesResumed: 0,
      movesBack: 0,
      moveRetries: 0,
      moveSourceLeaderCrashes: 0,
      moveTargetLeaderCrashes: 0,
      moveControllerLeaderCrashes: 0,
      sourceHandleDeletesDuringMoves: 0,
      oldHandlesRefused: 0,
      movedCopies: 0,
      deliveriesAcrossSets: 0,
      deadLetterSourceMoves: 0,
      deadLetterSourceMovesLocal: 0,
      deadLetterQueueMoves: 0,
      deadLetterQueueMovesFromSource: 0,
      subscribedMoves: 0,
      subscribedMovesFromTopicSet: 0,
      deadLetterSends: 0,
      deadLettered: 0,
      deadLetteredAcrossSets: 0,
      remoteDeadLetters: 0,
      redrives: 0,
      redriven: 0,
      tasksRun: 0,
    };
    for (const id of [...PRODUCERS, ...CONSUMERS, PUBLISHER, OPERATOR, MOVER, REDRIVER]) this.clients.set(id, { id, busy: false, held: [] });
    for (const name of MOVABLE) {
      const nextAtMs = this.rng.int(opts.durationMs * FIRST_MOVE_AT[0], opts.durationMs * FIRST_MOVE_AT[1]);
      this.moving.set(name, { name, at: 0, visited: [], asking: undefined, running: undefined, nextAtMs });
    }
  }

  private membersOf(setId: number): string[] {
    return Array.from({ length: MEMBERS_PER_SET }, (_, k) => `s${setId}n${k + 1}`);
  }

  replayCommand(): string {
    const parts = [`node dist/test/sim/run.js --sets --seed ${this.opts.seed} --duration-ms ${this.opts.durationMs}`];
    if (this.opts.bug) parts.push(`--bug ${this.opts.bug}`);
    if (this.intensity !== 1) parts.push(`--intensity ${this.intensity}`);
    return parts.join(' ');
  }

  async run(): Promise<MultiSetSimResult> {
    const removePatch = this.opts.bug !== undefined ? installMultiSetPatch(this.opts.bug) : undefined;
    try {
      for (const setId of SETS) {
        for (const id of this.membersOf(setId)) {
          const m = new Member(id, this.scheduler, this.rng, this.stats);
          m.setId = setId;
          m.group = setId - 1;
          this.members.set(id, m);
          this.boot(m);
        }
      }
      await this.setUp();
      const start = this.scheduler.nowMs;
      this.faultStartMs = start;
      const end = start + this.opts.durationMs;
      while (this.scheduler.nowMs < end) {
        this.injectFaults();
        this.growWide(start);
        this.recreate(start);
        this.moveQueues(false);
        this.traffic();
        await this.scheduler.runUntil(this.scheduler.nowMs + STEP_MS);
        this.checkAll();
      }
      await this.healAndDrain();
    } catch (err) {
      this.failure ??= err instanceof SimAbort ? err : err instanceof QueueCheckFailure || err instanceof DeadLetterCheckFailure ? new SimAbort(err.check, err.message) : new SimAbort('exception', err instanceof Error ? (err.stack ?? err.message) : String(err));
    }
    for (const m of this.members.values()) {
      m.reporter?.stop();
      m.mover?.stop();
      m.runtime.kill();
    }
    try {
      return await this.result();
    } finally {
      removePatch?.();
    }
  }

  // ---- members -----------------------------------------------------------------------------------

  private peerAddress(id: string): { host: string; port: number } {
    return { host: 'sim', port: 1000 + this.ids.indexOf(id) };
  }

  private peersOf(ids: readonly string[], self: string): Record<string, { host: string; port: number }> {
    return Object.fromEntries(ids.filter((p) => p !== self).map((p) => [p, this.peerAddress(p)]));
  }

  /** Start a member's process: a NodeHost and the cluster wiring, as server.ts does with a controller. */
  private boot(m: Member): void {
    const runtime = m.startProcess();
    m.net = this.network.attach(m.id, runtime);
    m.node = undefined;
    m.controller = undefined;
    m.service = undefined;
    m.reporter = undefined;
    const voter = this.controllerVoters.includes(m.id);
    const ctlPeers = this.peersOf(this.controllerVoters, m.id);
    // A node links with the controller's voters before anything else (a voter's replica sets its own peers).
    if (!voter) m.net.group(CONTROLLER_GROUP).setPeers(ctlPeers);
    const setMembers = this.membersOf(m.setId);
    const groups: HostedGroup[] = [{ group: m.group, voters: setMembers, staticPeers: this.peersOf(setMembers, m.id) }];
    if (voter) groups.push({ group: CONTROLLER_GROUP, kind: 'controller', voters: [...this.controllerVoters], staticPeers: ctlPeers });
    const log = this.opts.trace ? (line: string) => this.trace(`[${m.id}] ${line}`) : () => undefined;
    NodeHost.open(
      {
        dataDir: `/data/${m.id}`,
        nodeId: m.id,
        network: m.net,
        replica: {
          fs: m.fs,
          runtime,
          segmentBytes: SEGMENT_BYTES,
          log,
          onFatal: (err) => {
            if (!m.runs(runtime)) return;
            this.trace(`${m.id} stops: ${err.message}`);
            this.down(m);
            m.processExit();
          },
          onApplied: (e, r) => this.applied(m, m.group, e, r),
        },
        controller: { onApplied: (e, r) => this.applied(m, CONTROLLER_GROUP, e, r) },
      },
      groups,
    ).then(
      (host) => {
        if (!m.runs(runtime)) {
          void host.close().catch(() => undefined);
          return;
        }
        const node = host.group(m.group);
        const rpc = host.rpc(m.group)!;
        const { routed } = wireSetService({ node, rpc, selfId: m.id, runtime, timing: DEFAULT_RAFT_TIMING, log: noopLogger });
        m.own = routed;
        const peer = this.peerAddress(m.id);
        const wired = wireClusterAccess({
          node,
          rpc,
          own: routed,
          views: m.net,
          ...(voter ? { localController: host.controller() } : {}),
          selfId: m.id,
          setId: m.setId,
          setGroup: m.group,
          controllerVoters: Object.fromEntries(this.controllerVoters.map((id) => [id, this.peerAddress(id)])),
          runtime,
          timing: DEFAULT_RAFT_TIMING,
          log: noopLogger,
          addresses: () => ({ peerAddress: `${peer.host}:${peer.port}`, apiAddress: `http://sim:${peer.port + 1000}` }),
          requestsServed: () => 0,
        });
        wired.reporter.start();
        wired.mover.start();
        m.node = node;
        m.controller = voter ? host.controller() : undefined;
        m.service = wired.service;
        m.reporter = wired.reporter;
        m.mover = wired.mover;
      },
      (err: unknown) => {
        if (!m.runs(runtime)) return;
        this.fail('startFailure', `${m.id} failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      },
    );
  }

  private down(m: Member): void {
    m.reporter?.stop();
    m.mover?.stop();
    m.mover = undefined;
    m.node = undefined;
    m.controller = undefined;
    m.service = undefined;
    m.reporter = undefined;
    m.own = undefined;
  }

  private crash(m: Member, downMs: number): void {
    this.down(m);
    const outcome = m.powerLoss(downMs);
    this.trace(`${m.id} crashes (${outcome.kept} unsynced writes kept, ${outcome.lost} lost, ${outcome.torn} torn); back in ${downMs} ms`);
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

  private leaderOf(group: number): Member | undefined {
    let best: Member | undefined;
    let bestTerm = -1;
    for (const m of this.members.values()) {
      const st = group === CONTROLLER_GROUP ? m.controller?.status() : m.node?.observe().raft;
      if (st && st.role === 'leader' && st.term > bestTerm && (group === CONTROLLER_GROUP || m.group === group)) {
        best = m;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** Any member of any set that is up: clients do not know where a queue is. */
  private pickMember(rng = this.rng): Member | undefined {
    const up = [...this.members.values()].filter((m) => m.service);
    return up.length > 0 ? rng.pick(up) : undefined;
  }

  // ---- setup -----------------------------------------------------------------------------------

  /** Retries `call` at random members until it gives an ok answer (or `accept` takes its error). */
  private async until(what: string, call: (s: QueueService) => Promise<CommandResult>, accept: (r: CommandResult) => boolean = () => false): Promise<void> {
    const deadline = this.scheduler.nowMs + SETUP_MS_MAX;
    let last = 'no member up';
    while (this.scheduler.nowMs < deadline) {
      this.restartDue();
      const s = this.pickMember()?.service;
      if (s) {
        const r = await this.untilSettled(call(s));
        if (r !== undefined && (r.ok || accept(r))) return;
        last = r === undefined ? 'no answer' : r.ok ? 'ok' : `${r.error} ${r.detail ?? ''}`;
      }
      await this.scheduler.runUntil(this.scheduler.nowMs + 200);
      this.checkAll();
    }
    throw new SimAbort('setup', `${what} did not succeed within ${SETUP_MS_MAX} ms (last: ${last})`);
  }

  private async setUp(): Promise<void> {
    // The controller needs every set registered before it places anything on it.
    const deadline = this.scheduler.nowMs + SETUP_MS_MAX;
    let registered = 0;
    while ((registered = await this.registeredSets()) < SETS.length) {
      if (this.scheduler.nowMs > deadline) throw new SimAbort('setup', `only ${registered} sets registered with the controller within ${SETUP_MS_MAX} ms`);
      await this.scheduler.runUntil(this.scheduler.nowMs + 200);
      this.checkAll();
    }
    for (const q of [...QUEUES, WIDE, ...SUB_QUEUES, DEAD]) {
      await this.until(`create ${q.name}`, (s) => s.submit(this.ctx(), { kind: 'createQueue', queueName: q.name, attrs: { visibilityTimeout: q.visibilityTimeout, pollingWaitSeconds: 0 } }), (r) => !r.ok && r.error === 'queueExists');
    }
    // The sources after their dead-letter queue (which must exist to be named): on its set or another, as placement has it.
    for (const q of DL_SOURCES) {
      const attrs = { visibilityTimeout: q.visibilityTimeout, pollingWaitSeconds: 0, deadLetterPolicy: { deadLetterQueue: DEAD.name, policy: 0 as const, maxReceiveCount: MAX_RECEIVE_COUNT } };
      await this.until(`create ${q.name}`, (s) => s.submit(this.ctx(), { kind: 'createQueue', queueName: q.name, attrs }), (r) => !r.ok && r.error === 'queueExists');
    }
    await this.until(`create topic ${TOPIC}`, (s) => s.submit(this.ctx(), { kind: 'createTopic', topicName: TOPIC, maxMsgSize: 65536, filterType: 1 }), (r) => !r.ok && r.error === 'topicExists');
    for (const q of SUB_QUEUES) {
      await this.until(
        `subscribe ${q.name}`,
        (s) =>
          s.submit(this.ctx(), {
            kind: 'subscribe',
            topicName: TOPIC,
            subscriptionName: q.name,
            protocol: 'queue',
            endpoint: q.name,
            notifyStrategy: 'BACKOFF_RETRY',
            notifyContentFormat: 'SIMPLIFIED',
            filterTags: [],
            bindingKeys: [],
          }),
        (r) => !r.ok && r.error === 'subscriptionExists',
      );
    }
    await this.readPlacement();
    this.trace(`placed: ${[...this.placed].map(([n, s]) => `${n} on set ${s}`).join(', ')}; topic ${TOPIC} on set ${this.topicSet}`);
    // Where placement put them (five of them move later, so the end says little about placement).
    for (const [, setId] of this.placed) if (setId >= 1 && setId <= SETS.length) this.stats.queuesPerSet[setId - 1]!++;
    for (const q of this.moving.values()) {
      const at = this.placed.get(q.name);
      if (at === undefined) throw new SimAbort('setup', `no route of ${q.name} read from the controller`);
      q.at = at;
      q.visited.push(at);
    }
  }

  /** Sets the controller lists (its leader's state, read locally). */
  private async registeredSets(): Promise<number> {
    const ctl = this.leaderOf(CONTROLLER_GROUP)?.controller;
    if (!ctl) return 0;
    const r = await this.untilSettled(ctl.read({ kind: 'listSets' }));
    return r?.ok && r.kind === 'sets' ? r.sets.filter((set) => set.members.length > 0).length : 0;
  }

  /** Where the controller placed each queue and the topic (its leader's state: nothing is asked over the network). */
  private async readPlacement(): Promise<void> {
    for (const m of this.members.values()) {
      if (!m.controller?.leads()) continue;
      for (const q of ALL_QUEUES) {
        const r = await this.untilSettled(m.controller.read({ kind: 'getRoute', type: 'queue', name: q.name }));
        if (r?.ok && r.kind === 'entity') this.placed.set(q.name, r.entity.shards[0]!);
      }
      const t = await this.untilSettled(m.controller.read({ kind: 'getRoute', type: 'topic', name: TOPIC }));
      if (t?.ok && t.kind === 'entity') this.topicSet = t.entity.shards[0]!;
      return;
    }
  }

  private async untilSettled<T>(p: Promise<T>): Promise<T | undefined> {
    const r = await this.scheduler.settle(p, CLIENT_TIMEOUT_MS);
    return r?.status === 'fulfilled' ? r.value : undefined;
  }

  // ---- traffic ---------------------------------------------------------------------------------

  /** Grows the wide queue by a shard at the drawn times (through any member's service, as SetQueueAttributes with a shard count). */
  private growWide(start: number): void {
    const due = this.growAtMs[this.wideShards - 1];
    if (due === undefined || this.scheduler.nowMs - start < due) return;
    const c = this.clients.get(PUBLISHER)!;
    const member = this.pickMember();
    if (c.busy || !member?.service) return;
    const shards = this.wideShards + 1;
    this.issue(c, member, member.service.submit(this.ctx(), { kind: 'setQueueAttributes', queueName: WIDE.name, attrs: {}, shards }), (r) => {
      if (r?.ok && this.wideShards < shards) {
        this.wideShards = shards;
        this.trace(`${WIDE.name} has ${shards} shards`);
      }
    });
  }

  /** The operator deletes RECREATED through any member, then creates it again through any member (the controller places it anew). */
  private recreate(start: number): void {
    const c = this.clients.get(OPERATOR)!;
    if (c.busy || this.recreatePhase === 'done' || this.scheduler.nowMs - start < this.recreateAtMs) return;
    const member = this.pickMember();
    if (!member?.service) return;
    if (this.recreatePhase === 'waiting') this.recreatePhase = 'deleting';
    if (this.recreatePhase === 'deleting') {
      this.issue(c, member, member.service.submit(this.ctx(), { kind: 'deleteQueue', queueName: RECREATED }), (r) => {
        if (r?.ok || (r && !r.ok && r.error === 'queueNotExist')) {
          this.recreatePhase = 'filling';
          this.trace(`${RECREATED} deleted`);
        }
      });
      return;
    }
    if (this.recreatePhase === 'filling') {
      this.issue(c, member, member.service.submit(this.ctx(), { kind: 'createQueue', queueName: FILLER, attrs: {} }), (r) => {
        if (r?.ok || (r && !r.ok && r.error === 'queueExists')) this.recreatePhase = 'creating';
      });
      return;
    }
    const q = QUEUES.find((x) => x.name === RECREATED)!;
    this.issue(c, member, member.service.submit(this.ctx(), { kind: 'createQueue', queueName: RECREATED, attrs: { visibilityTimeout: q.visibilityTimeout, pollingWaitSeconds: 0 } }), (r) => {
      if (r?.ok || (r && !r.ok && r.error === 'queueExists')) {
        this.recreatePhase = 'done';
        this.stats.recreations++;
        this.trace(`${RECREATED} created again`);
      }
    });
  }

  // ---- live moves --------------------------------------------------------------------------------

  /**
   * The operator's live moves: each movable queue moves to another set at a drawn time of the fault
   * phase, and again a while after that move completed (half the time back to a set it was on). A
   * move asked for is asked again until it is answered ok (an unanswered ask may have started it:
   * the answer must then be that move); a running move is asked again now and then (a retry). In
   * the drain no move starts, but those asked for or running are driven to their end.
   */
  private moveQueues(draining: boolean): void {
    this.watchMoves();
    for (const q of this.moving.values()) {
      const r = q.running;
      const leader = r === undefined ? undefined : this.leaderOf(r.from - 1);
      if (r !== undefined && leader !== undefined) r.sourceLeaders.add(leader.id);
    }
    const c = this.clients.get(MOVER)!;
    if (c.busy) return;
    for (const q of this.moving.values()) {
      if (!draining && q.asking === undefined && q.running === undefined && this.scheduler.nowMs - this.faultStartMs >= q.nextAtMs) q.asking = this.moveTarget(q);
      if (q.asking !== undefined) return this.askMove(c, q, q.asking);
      if (q.running !== undefined && !draining && this.rng.chance(MOVE_RETRY_CHANCE)) return this.askMove(c, q, q.running.to);
    }
  }

  private moveTarget(q: MovingQueue): number {
    // Each kind of move both ways: the subscribed queue to and from its topic's set, the
    // dead-letter source and queue to and from a set holding the other end (local and remote
    // dead letters).
    const others = SETS.filter((s) => s !== q.at);
    const toward = (sets: (number | undefined)[]): number | undefined => {
      const fit = others.filter((s) => sets.includes(s));
      return fit.length > 0 && this.rng.chance(0.6) ? this.rng.pick(fit) : undefined;
    };
    const ends =
      q.name === SUBSCRIBED_MOVING ? [this.topicSet] : q.name === DL_SOURCE_MOVING ? [this.placed.get(DEAD.name)] : q.name === DEAD.name ? DL_SOURCE_NAMES.map((n) => this.placed.get(n)) : [];
    const chosen = toward(ends);
    if (chosen !== undefined) return chosen;
    const before = q.visited.filter((s) => s !== q.at);
    if (before.length > 0 && this.rng.chance(0.5)) return this.rng.pick(before);
    return this.rng.pick(SETS.filter((s) => s !== q.at));
  }

  private askMove(c: Client, q: MovingQueue, to: number): void {
    const member = this.pickMember();
    const service = member?.service;
    if (!member || service?.moveQueue === undefined) return;
    // What the answer must name, as things stood when asked (the move may complete before the answer arrives).
    const run = q.running;
    const retry = run !== undefined;
    const from = q.at;
    const what = `moving ${q.name} from set ${from} to set ${to}${retry ? ' (asked again while it runs)' : ''}`;
    this.issue(c, member, service.moveQueue(this.ctx(), q.name, to), (r) => {
      if (r === undefined) return; // unanswered: asked again
      if (!r.ok) {
        // Availability answers (a leader being elected, a set out of reach) are asked again; a refusal is wrong here.
        if (MOVE_REFUSALS.has(r.error)) this.fail('moveAnswer', `${what} answered ${r.error}${r.detail !== undefined ? ` ${r.detail}` : ''}`);
        return;
      }
      const m = r.move;
      if (m.to !== to) return this.fail('moveAnswer', `${what} answered a move to set ${m.to}`);
      if (m.phase === 'done') {
        // Done already: an earlier ask that went unanswered started it, and it completed meanwhile.
        if (m.from !== to) return this.fail('moveAnswer', `${what} answered done from set ${m.from}`);
        if (q.running === undefined && q.asking === to) this.moveStarted(q, to);
        if (retry) this.stats.moveRetries++;
        if (q.running !== undefined && q.running === (run ?? q.running) && q.running.to === to) this.moveCompleted(q);
        return;
      }
      if (m.from !== from) return this.fail('moveAnswer', `${what} answered a move from set ${m.from} (${m.phase})`);
      if (retry) {
        this.stats.moveRetries++;
        return;
      }
      if (q.running === undefined && q.asking === to) this.moveStarted(q, to);
    });
  }

  private moveStarted(q: MovingQueue, to: number): void {
    q.asking = undefined;
    q.running = { from: q.at, to, startedMs: this.scheduler.nowMs, sourceLeaders: new Set(), sourceHandle: undefined };
    this.stats.movesStarted++;
    if (q.visited.includes(to)) this.stats.movesBack++;
    if (q.name === DL_SOURCE_MOVING) {
      this.stats.deadLetterSourceMoves++;
      const dlq = this.placed.get(DEAD.name);
      if (dlq === q.at || dlq === to) this.stats.deadLetterSourceMovesLocal++;
    } else if (q.name === DEAD.name) {
      this.stats.deadLetterQueueMoves++;
      if (DL_SOURCE_NAMES.some((n) => this.placed.get(n) === q.at)) this.stats.deadLetterQueueMovesFromSource++;
    } else if (q.name === SUBSCRIBED_MOVING) {
      this.stats.subscribedMoves++;
      if (q.at === this.topicSet) this.stats.subscribedMovesFromTopicSet++;
    }
    this.trace(`moving ${q.name} from set ${q.at} to set ${to}`);
  }

  private moveCompleted(q: MovingQueue): void {
    const r = q.running!;
    q.running = undefined;
    q.at = r.to;
    q.visited.push(r.to);
    this.placed.set(q.name, r.to);
    const d = this.opts.durationMs;
    q.nextAtMs = this.scheduler.nowMs - this.faultStartMs + this.rng.int(d * NEXT_MOVE_AFTER[0], d * NEXT_MOVE_AFTER[1]);
    this.stats.movesCompleted++;
    if (r.sourceLeaders.size > 1) this.stats.movesResumed++;
    this.movesDone.push({ name: q.name, from: r.from, to: r.to, sourceHandle: r.sourceHandle });
    this.trace(`${q.name} moved from set ${r.from} to set ${r.to} in ${this.scheduler.nowMs - r.startedMs} ms`);
  }

  /** Reads the routes of the moving queues from the controller's leader (locally): a route naming the target alone ends the move. */
  private watchMoves(): void {
    const now = this.scheduler.nowMs;
    if (this.watchingMoves || now - this.lastMoveWatchMs < MOVE_WATCH_MS) return;
    const running = [...this.moving.values()].filter((q) => q.running !== undefined);
    const ctl = this.leaderOf(CONTROLLER_GROUP)?.controller;
    if (running.length === 0 || ctl === undefined) return;
    this.lastMoveWatchMs = now;
    this.watchingMoves = true;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.watchingMoves = false;
    };
    const reads = running.map(async (q) => {
      const run = q.running;
      const r = await ctl.read({ kind: 'getRoute', type: 'queue', name: q.name });
      if (run === undefined || q.running !== run || !r.ok || r.kind !== 'entity') return;
      const e = r.entity;
      if (e.change === undefined && e.shards.length === 1 && e.shards[0] === run.to) this.moveCompleted(q);
    });
    void Promise.all(reads).then(finish, finish);
    this.scheduler.schedule(CLIENT_TIMEOUT_MS, finish);
  }

  /** The running move of `queue` whose source is set group + 1, if any. */
  private moveLeaving(queue: string, group: number): RunningMove | undefined {
    const r = this.moving.get(queue)?.running;
    return r !== undefined && r.from === group + 1 ? r : undefined;
  }

  private crossSet(member: Member, queue: string, isTopic = false): (ok: boolean | undefined) => void {
    const where = isTopic ? this.topicSet : this.placed.get(queue);
    const cross = where !== undefined && where !== member.setId && queue !== WIDE.name;
    if (cross) this.stats.crossSetCalls++;
    return (ok) => {
      if (cross && ok === true) this.stats.crossSetCallsOk++;
    };
  }

  private traffic(): void {
    const now = this.scheduler.nowMs;
    for (const id of PRODUCERS) {
      const c = this.clients.get(id)!;
      if (c.busy || !this.producing || !this.rng.chance(SEND_CHANCE)) continue;
      const member = this.pickMember();
      if (!member?.service) continue;
      const queue = this.rng.pick([...SENT_QUEUES, ...DL_SOURCE_NAMES]);
      const bodyIds = Array.from({ length: this.rng.int(1, 4) }, () => this.nextBodyId++);
      this.stats.sendsAttempted += bodyIds.length;
      const toDeadLetterSource = this.deadLetters.covers(queue);
      if (toDeadLetterSource) for (const b of bodyIds) this.deadLetters.sending(b, queue);
      const counted = this.crossSet(member, queue);
      const command: Command = { kind: 'sendMessages', queueName: queue, delaySeconds: 0, bodies: bodyIds.map(bodyFor) };
      this.issue(c, member, member.service.submit(this.ctx(), command), (r) => {
        counted(r?.ok);
        if (r?.ok) {
          for (const b of bodyIds) this.acked.add(b);
          this.stats.ackedSends += bodyIds.length;
          if (toDeadLetterSource) this.stats.deadLetterSends += bodyIds.length;
        }
      });
    }
    this.redrive();
    const pub = this.clients.get(PUBLISHER)!;
    if (!pub.busy && this.producing && this.rng.chance(PUBLISH_CHANCE)) {
      const member = this.pickMember();
      if (member?.service) {
        const bodyId = this.nextPublishId++;
        this.stats.publishes++;
        const counted = this.crossSet(member, TOPIC, true);
        this.issue(pub, member, member.service.submit(this.ctx(), { kind: 'publishMessages', topicName: TOPIC, bodies: [bodyFor(bodyId)], msgTags: [], routingKey: '' }), (r) => {
          counted(r?.ok);
          if (r?.ok) {
            this.publishAcked.add(bodyId);
            this.stats.ackedPublishes++;
          }
        });
      }
    }
    for (const id of CONSUMERS) {
      const c = this.clients.get(id)!;
      if (c.busy) continue;
      const member = this.pickMember();
      if (!member?.service) continue;
      const due = c.held.filter((h) => h.deleteAtMs <= now);
      if (due.length > 0) {
        const queue = due[0]!.queue;
        const handles = due.filter((h) => h.queue === queue).map((h) => h.handle);
        c.held = c.held.filter((h) => h.queue !== queue || h.deleteAtMs > now);
        this.issue(c, member, member.service.submit(this.ctx(), { kind: 'deleteMessages', queueName: queue, receiptHandles: handles }), () => undefined);
        continue;
      }
      if (!this.rng.chance(RECEIVE_CHANCE)) continue;
      const queue = this.rng.chance(0.25) ? this.rng.pick(SUB_QUEUES).name : this.rng.chance(0.3) ? this.rng.pick(DL_QUEUES).name : this.rng.pick(SENT_QUEUES);
      const wait = this.rng.chance(0.15) ? this.rng.int(1, 2) : 0;
      if (wait > 0) this.stats.longPolls++;
      const counted = this.crossSet(member, queue);
      this.issue(c, member, member.service.receive(this.ctx(), queue, this.rng.int(1, 8), wait), (r) => {
        counted(r?.ok);
        if (!r?.ok) return;
        for (const msg of r.messages) {
          this.clientDelivery(member.id, queue, msg.msgId, msg.receiptHandle, msg.bodyBytes);
          const roll = this.rng.next();
          // Left undeleted: visible again after its timeout (a source's, received maxReceiveCount times, is dead-lettered).
          // In the drain the dead-letter queue and its sources are abandoned as rarely as the others, so they empty.
          const abandon = !this.producing ? 0.1 : DL_SOURCE_NAMES.includes(queue) ? DL_ABANDON : queue === DEAD.name ? DLQ_ABANDON : 0.1;
          if (roll < abandon) continue;
          const vis = (ALL_QUEUES.find((q) => q.name === queue)?.visibilityTimeout ?? 1) * 1000;
          const after = roll < 0.85 ? this.rng.int(0, vis / 2) : this.rng.int(vis, vis * 2);
          c.held.push({ queue, handle: msg.receiptHandle, deleteAtMs: this.scheduler.nowMs + after });
        }
      });
    }
  }

  /** Now and then the operator sends the dead-letter queue's messages back to the sources they came from (a redrive, wherever those are). */
  private redrive(): void {
    const c = this.clients.get(REDRIVER)!;
    if (c.busy || !this.producing || !this.rng.chance(REDRIVE_CHANCE)) return;
    const member = this.pickMember();
    if (!member?.service) return;
    this.issue(c, member, member.service.submit(this.ctx(), { kind: 'moveMessages', sourceQueue: DEAD.name, destinationQueue: null, maxMessages: LIMITS.moveBatchMax }), (r) => {
      if (r?.ok && r.kind === 'moveMessages' && r.moved > 0) {
        this.stats.redrives++;
        this.trace(`redrive of ${DEAD.name}: ${r.moved} messages back to their sources`);
      }
    });
  }

  private clientDelivery(memberId: string, queue: string, msgId: string, handle: string, body: Uint8Array): void {
    const bodyId = bodyIdOf(body);
    if (bodyId === undefined) throw new QueueCheckFailure('integrity', `${memberId} delivered ${msgId} from ${queue} with a damaged body`);
    if (this.deadLetters.covers(queue)) {
      // Which message and copy this is, and whether it may be handed out now, is judged from the log (observeDeadLetterQueue).
      this.delivered.add(bodyId);
      this.clientDeliveries++;
      return;
    }
    const sub = this.topicDelivered.get(queue);
    if (sub) {
      if (bodyId < PUBLISH_BODY_BASE) throw new QueueCheckFailure('integrity', `${memberId} delivered sent body m${bodyId} from subscribed queue ${queue}`);
      sub.add(bodyId);
      this.stats.topicDeliveries++;
      const where = groupOfId(msgId);
      if (where !== undefined && where !== this.topicSet - 1) this.stats.remoteTopicDeliveries++;
      return;
    }
    const group = groupOfId(msgId);
    const history = group === undefined ? undefined : this.histories.get(group);
    if (!history) throw new QueueCheckFailure('integrity', `${memberId} delivered ${msgId}, whose id names no set`);
    history.clientDelivery(memberId, msgId, handle, body);
    this.delivered.add(bodyId);
    this.clientDeliveries++;
  }

  /**
   * Starts a client request on `member`; the client is busy until it settles or times out. Once
   * the faults healed (and routes had a moment to settle), a member that is up and not frozen
   * must answer within the client's timeout, whatever set holds the queue.
   */
  private issue<T>(client: Client, member: Member, p: Promise<T>, done: (value: T | undefined) => void): void {
    const unanswered = (startedMs: number): void => {
      if (this.answersDueFromMs !== 0 && startedMs >= this.answersDueFromMs) {
        this.stats.clientTimeouts++;
        this.fail('unanswered', `a call on ${member.id} issued at ${startedMs - EPOCH_MS} ms, after the faults healed, was not answered within ${CLIENT_TIMEOUT_MS} ms`);
      } else this.stats.slowDuringFaults++;
    };
    issueCall({ scheduler: this.scheduler, timeoutMs: CLIENT_TIMEOUT_MS, currentRuntime: () => member.runtime, unanswered, fail: (c, m) => this.fail(c, m) }, client, p, done);
  }

  // ---- faults ----------------------------------------------------------------------------------

  private injectFaults(): void {
    this.restartDue();
    const now = this.scheduler.nowMs;
    const k = this.intensity;
    if (this.healAtMs !== 0 && now >= this.healAtMs) {
      this.network.heal();
      this.healAtMs = 0;
      this.trace('the network heals');
    }
    const all = [...this.members.values()];
    const down = all.filter((m) => !m.up).length;
    if (down === 0 && this.rng.chance(0.002 * k)) {
      // A third of the crashes hit the controller's leader; while a queue moves, most hit a leader the move depends on.
      const ctl = this.leaderOf(CONTROLLER_GROUP);
      const move = this.rng.pick([...this.moving.values()]).running;
      const aimed = move && this.rng.chance(MOVE_CRASH_AIMED) ? this.rng.pick([ctl, this.leaderOf(move.from - 1), this.leaderOf(move.to - 1)]) : undefined;
      const m = aimed ?? (ctl && this.rng.chance(0.33) ? ctl : this.rng.pick(all));
      if (m === ctl) this.stats.controllerLeaderCrashes++;
      for (const q of this.moving.values()) {
        const r = q.running;
        if (r === undefined) continue;
        if (m === ctl) this.stats.moveControllerLeaderCrashes++;
        if (m === this.leaderOf(r.from - 1)) this.stats.moveSourceLeaderCrashes++;
        if (m === this.leaderOf(r.to - 1)) this.stats.moveTargetLeaderCrashes++;
      }
      this.crash(m, this.rng.int(200, 3000));
    }
    if (this.healAtMs === 0 && this.rng.chance(0.0015 * k)) {
      const a = this.rng.pick(this.ids);
      this.network.isolate(a, this.ids);
      this.stats.partitions++;
      this.healAtMs = now + this.rng.int(300, 3000);
      this.trace(`${a} is isolated until ${this.healAtMs - EPOCH_MS} ms`);
    }
    if (this.rng.chance(0.0008 * k)) {
      const up = all.filter((m) => m.up);
      if (up.length > 0) {
        const m = this.rng.pick(up);
        const ms = this.rng.int(200, 2500);
        m.runtime.freeze(now + ms);
        this.stats.freezes++;
        this.trace(`${m.id} is frozen for ${ms} ms`);
      }
    }
    if (this.rng.chance(0.002 * k)) {
      this.network.weather = this.rng.chance(0.4) ? CALM : { loss: this.rng.next() * 0.03, duplicate: this.rng.next() * 0.02, delayMinMs: 1, delayMaxMs: this.rng.int(2, 30) };
      this.stats.weatherChanges++;
    }
    if (this.rng.chance(0.0008 * k)) {
      const setId = this.rng.pick(SETS);
      const leader = this.leaderOf(setId - 1);
      const target = this.rng.pick(this.membersOf(setId));
      if (leader?.node && target !== leader.id) {
        this.stats.transfers++;
        void leader.node.transferLeader(this.ctx(), target);
      }
    }
  }

  // ---- checkers --------------------------------------------------------------------------------

  private fail(check: MultiSetSimFailure['check'], message: string): void {
    this.failure ??= new SimAbort(check, message);
  }

  private checkAll(): void {
    if (this.failure) throw this.failure;
    const uncaught = this.scheduler.uncaught[0];
    if (uncaught) throw new SimAbort('uncaught', `a task of ${uncaught.owner} threw: ${String(uncaught.error)}`);
    for (const m of this.members.values()) {
      for (const [group, st] of [
        [m.group, m.node?.observe().raft],
        [CONTROLLER_GROUP, m.controller?.status()],
      ] as const) {
        if (!st || st.role !== 'leader') continue;
        let terms = this.leaderOfTerm.get(group);
        if (!terms) this.leaderOfTerm.set(group, (terms = new Map<number, string>()));
        const known = terms.get(st.term);
        if (known === undefined) {
          terms.set(st.term, m.id);
          this.stats.elections++;
        } else if (known !== m.id) throw new SimAbort('electionSafety', `group ${group}: two leaders in term ${st.term}: ${known} and ${m.id}`);
      }
    }
  }

  /** Every applied entry of every group on every member: the first apply of an index feeds that set's history, later ones must agree. */
  private applied(m: Member, group: number, e: LogEntry, result: unknown): void {
    try {
      const digest = JSON.stringify(result);
      let at = this.resultAt.get(group);
      if (!at) this.resultAt.set(group, (at = new Map<number, { term: number; digest: string; node: string }>()));
      const seen = at.get(e.index);
      if (seen !== undefined) {
        if (seen.term !== e.term || seen.digest !== digest) {
          throw new SimAbort('replicaAgreement', `group ${group}: ${m.id} got a different result at index ${e.index} (term ${e.term}) than ${seen.node} (term ${seen.term}): ${digest} vs ${seen.digest}`);
        }
        return;
      }
      at.set(e.index, { term: e.term, digest, node: m.id });
      if (group !== CONTROLLER_GROUP) this.observeCommitted(group, this.histories.get(group)!, e, result as CommandResult);
    } catch (err) {
      this.fail(err instanceof SimAbort || err instanceof QueueCheckFailure || err instanceof DeadLetterCheckFailure ? err.check : 'exception', err instanceof Error ? err.message : String(err));
    }
  }

  private observeCommitted(group: number, history: QueueHistory, e: LogEntry, result: CommandResult): void {
    if (!result.ok) return;
    const cmd = decodeCommand(e.payload, e.metaLen);
    // The subscribed queues are fed by the topic (and outbox sends with deduplication ids): their guarantee is checked end to end.
    const queueOf = (cmd as { queueName?: string }).queueName;
    if (queueOf !== undefined && this.topicDelivered.has(queueOf)) return;
    // A dead-letter source's message may be in it or in the dead-letter queue, on any set: checked per body, across them all.
    if (queueOf !== undefined && this.deadLetters.covers(queueOf)) return this.observeDeadLetterQueue(group, e, cmd, result);
    if (cmd.kind === 'sendMessages' && result.kind === 'sendMessages') {
      // No body is damaged in this workload: every stored body names its id.
      const bodyIds = cmd.bodies.map((b) => bodyIdOf(e.payload.subarray(b.offset, b.offset + b.length)) ?? -1);
      // A move's send (with a deduplication id) retried after an unknown outcome answers the msgId it stored the first time.
      const deduplicated = result.msgIds.map((id, k) => cmd.options?.[k]?.dedupId !== undefined && history.knows(id));
      history.sendCommitted(e.index, e.timeMs, cmd.queueName, cmd.delaySeconds ?? 0, result.msgIds, bodyIds, deduplicated);
      result.msgIds.forEach((id, k) => this.crossSets.sent(id, bodyIds[k]!));
      const key = `${group}:${cmd.queueName}`;
      const list = this.storedIn.get(key) ?? [];
      list.push({ index: e.index, bodyIds });
      this.storedIn.set(key, list);
    } else if (cmd.kind === 'deleteQueue' && cmd.queueName === RECREATED) {
      // Its messages go with it: acknowledged sends stored there before are not expected back.
      // (The other deletes are of a moved queue's emptied source: what it held went to the target.)
      const key = `${group}:${cmd.queueName}`;
      const list = this.storedIn.get(key) ?? [];
      for (const s of list) if (s.index < e.index) for (const b of s.bodyIds) this.dropped.add(b);
      this.storedIn.set(key, list.filter((s) => s.index > e.index));
    } else if (cmd.kind === 'receiveMessages' && result.kind === 'receiveMessages') {
      const leaving = this.moveLeaving(cmd.queueName, group);
      const visibilityMs = (ALL_QUEUES.find((q) => q.name === cmd.queueName)?.visibilityTimeout ?? 1) * 1000;
      for (const msg of result.messages) {
        history.delivered({ msgId: msg.msgId, queue: cmd.queueName, handle: msg.receiptHandle, index: e.index, timeMs: e.timeMs, source: 'log', node: 'log' }, msg.queueNumber, msg.seq);
        this.crossSets.delivered(group, msg.msgId, msg.receiptHandle, e.index, e.timeMs, visibilityMs);
        if (leaving !== undefined) leaving.sourceHandle = msg.receiptHandle;
      }
    } else if (cmd.kind === 'deleteMessages' && result.kind === 'deleteMessages') {
      const failed = new Set(result.failures.map((f) => f.index));
      const accepted = cmd.receiptHandles.filter((_, k) => !failed.has(k));
      history.deleteCommitted(e.index, e.timeMs, accepted);
      this.crossSets.deleted(group, accepted, e.index, e.timeMs);
      if (this.moveLeaving(cmd.queueName, group) !== undefined) this.stats.sourceHandleDeletesDuringMoves += accepted.length;
    } else if (cmd.kind === 'quarantineMessage') {
      history.quarantineCommitted(e.index, cmd.queueNumber, cmd.seq);
    }
  }

  /** A committed entry of the dead-letter queue or a source, fed to the checker across sets (dead-letter-history.ts). */
  private observeDeadLetterQueue(group: number, e: LogEntry, cmd: DecodedCommand, result: CommandOk): void {
    if (cmd.kind === 'sendMessages' && result.kind === 'sendMessages') {
      cmd.bodies.forEach((b, k) => {
        const bodyId = bodyIdOf(e.payload.subarray(b.offset, b.offset + b.length)) ?? -1;
        this.deadLetters.sent(group, cmd.queueName, result.msgIds[k]!, bodyId, cmd.options?.[k]?.deadLetterSource, e.index);
      });
    } else if (cmd.kind === 'receiveMessages' && result.kind === 'receiveMessages') {
      const leaving = this.moveLeaving(cmd.queueName, group);
      const visibilityMs = (cmd.visibilitySeconds ?? DL_QUEUES.find((q) => q.name === cmd.queueName)!.visibilityTimeout) * 1000;
      for (const msg of result.messages) {
        this.deadLetters.delivered(group, cmd.queueName, msg.msgId, msg.receiptHandle, msg.dequeueCount, e.index, e.timeMs, visibilityMs);
        if (leaving !== undefined) leaving.sourceHandle = msg.receiptHandle;
      }
    } else if (cmd.kind === 'deleteMessages' && result.kind === 'deleteMessages') {
      const failed = new Set(result.failures.map((f) => f.index));
      const accepted = cmd.receiptHandles.filter((_, k) => !failed.has(k));
      this.deadLetters.deleted(group, accepted, e.index, e.timeMs);
      if (this.moveLeaving(cmd.queueName, group) !== undefined) this.stats.sourceHandleDeletesDuringMoves += accepted.length;
    }
  }

  // ---- the end -----------------------------------------------------------------------------------

  private async healAndDrain(): Promise<void> {
    this.network.heal();
    this.healAtMs = 0;
    this.network.weather = CALM;
    this.producing = false;
    for (const m of this.members.values()) if (!m.up) m.restartAtMs = this.scheduler.nowMs;
    this.restartDue();
    this.answersDueFromMs = this.scheduler.nowMs + SETTLE_AFTER_HEAL_MS;
    this.trace('healed: every member up, producers stopped, draining');
    const until = this.scheduler.nowMs + DRAIN_MS_MAX;
    let quietSince = this.scheduler.nowMs;
    let lastDelivered = -1;
    while (this.scheduler.nowMs < until) {
      this.restartDue();
      // A create the controller placed but the set never took completes on the client's retry:
      // the operator goes on until the queue is back.
      this.recreate(0);
      this.moveQueues(true);
      this.traffic();
      await this.scheduler.runUntil(this.scheduler.nowMs + STEP_MS);
      this.checkAll();
      // Every delivery counts, a repeat too: a message received and abandoned keeps the drain going until it is deleted.
      const got = this.clientDeliveries + this.stats.topicDeliveries;
      // Quiet: nothing delivered for a while, nothing held to delete (consumers keep asking, with long polls, so some call is nearly always in flight).
      const busy = [...this.clients.values()].some((c) => c.held.length > 0);
      if (busy || got !== lastDelivered) quietSince = this.scheduler.nowMs;
      lastDelivered = got;
      if (this.scheduler.nowMs - quietSince > 8000 && this.recreatePhase === 'done' && this.movesEnded() && this.allDelivered() && this.deadLetters.settled()) break;
    }
    await this.readPlacement();
    this.trace(`placed at the end: ${[...this.placed].map(([n, set]) => `${n} on set ${set}`).join(', ')}`);
    await this.checkMovesEnded();
    this.checkNothingLost();
    this.crossSets.checkAllDeleted(this.dropped);
    this.deadLetters.checkAllDeleted();
    await this.probeRoutes();
    await this.probeOldHandles();
  }

  private movesEnded(): boolean {
    return [...this.moving.values()].every((q) => q.asking === undefined && q.running === undefined);
  }

  /**
   * Every move completed once the faults healed: the controller routes the queue to its target
   * alone, and no other set holds it (the source deleted its emptied copy).
   */
  private async checkMovesEnded(): Promise<void> {
    for (const q of this.moving.values()) {
      if (q.asking !== undefined) throw new SimAbort('moveStuck', `the move of ${q.name} from set ${q.at} to set ${q.asking} was never answered ok within ${DRAIN_MS_MAX} ms of the heal`);
      if (q.running !== undefined) throw new SimAbort('moveStuck', `the move of ${q.name} from set ${q.running.from} to set ${q.running.to} did not complete within ${DRAIN_MS_MAX} ms of the heal`);
      const placed = this.placed.get(q.name);
      if (placed !== q.at) throw new SimAbort('moveStuck', `${q.name} moved to set ${q.at}, but the controller routes it to set ${placed}`);
      for (const setId of SETS) {
        if (setId === q.at) continue;
        const holds = await this.setHolds(setId, q.name);
        if (holds !== false) throw new SimAbort('moveStuck', `set ${setId} ${holds === true ? 'still holds' : 'did not answer whether it holds'} ${q.name}, which moved to set ${q.at} (visited ${q.visited.join(' -> ')})`);
      }
    }
  }

  /** Whether set `setId` holds queue `name` (its leader's own state); undefined if it did not answer. */
  private async setHolds(setId: number, name: string): Promise<boolean | undefined> {
    const until = this.scheduler.nowMs + PROBE_MS_MAX;
    while (this.scheduler.nowMs < until) {
      this.restartDue();
      const own = this.leaderOf(setId - 1)?.own;
      const r = own ? await this.untilSettled(own.getQueueAttributes(this.ctx(), name)) : undefined;
      this.checkAll();
      if (r?.ok) return true;
      if (r !== undefined && r.error === 'queueNotExist') return false;
      await this.scheduler.runUntil(this.scheduler.nowMs + 500);
    }
    return undefined;
  }

  /**
   * A receipt handle the set a queue left issued during the move, used after the move: that copy
   * is gone, so the handle answers receiptHandleInvalid (docs/errors.md) wherever it is used.
   */
  private async probeOldHandles(): Promise<void> {
    for (const mv of this.movesDone) {
      if (mv.sourceHandle === undefined || this.moving.get(mv.name)?.at === mv.from) continue;
      const until = this.scheduler.nowMs + PROBE_MS_MAX;
      let last = 'no answer';
      for (;;) {
        this.restartDue();
        const s = this.pickMember()?.service;
        const r = s ? await this.untilSettled(s.submit(this.ctx(), { kind: 'deleteMessages', queueName: mv.name, receiptHandles: [mv.sourceHandle] })) : undefined;
        this.checkAll();
        if (r !== undefined) {
          const refused = r.ok ? r.kind === 'deleteMessages' && r.failures.length === 1 && r.failures[0]!.error === 'receiptHandleInvalid' : r.error === 'receiptHandleInvalid';
          if (refused) {
            this.stats.oldHandlesRefused++;
            break;
          }
          last = r.ok ? JSON.stringify(r) : `${r.error}${r.detail !== undefined ? ` ${r.detail}` : ''}`;
          if (r.ok || !['notApplied', 'outcomeUnknown'].includes(r.error)) throw new SimAbort('moveHandle', `a receipt handle set ${mv.from} issued for ${mv.name} before it moved to set ${mv.to} answered ${last}, not receiptHandleInvalid`);
        }
        if (this.scheduler.nowMs >= until) throw new SimAbort('moveHandle', `a receipt handle set ${mv.from} issued for ${mv.name} was not answered within ${PROBE_MS_MAX} ms after the drain: ${last}`);
        await this.scheduler.runUntil(this.scheduler.nowMs + 500);
      }
    }
  }

  /**
   * Every member serves every queue once the cluster healed: a member that cached a route before
   * the queue was deleted and created elsewhere must find the new one (a stale route answers
   * queueNotExist, after which the access layer asks the controller again).
   */
  private async probeRoutes(): Promise<void> {
    for (const m of this.members.values()) {
      for (const queue of ALL_QUEUES.map((q) => q.name)) {
        const until = this.scheduler.nowMs + PROBE_MS_MAX;
        let last = 'no answer';
        for (;;) {
          this.restartDue();
          const s = m.service;
          const r = s ? await this.untilSettled(s.getQueueAttributes(this.ctx(), queue)) : undefined;
          this.checkAll();
          if (r?.ok) break;
          if (r) last = `${r.error}${r.detail !== undefined ? ` ${r.detail}` : ''}`;
          if (this.scheduler.nowMs >= until) throw new SimAbort('staleRoute', `${m.id} did not serve queue ${queue} (on set ${this.placed.get(queue)}) within ${PROBE_MS_MAX} ms after the drain: ${last}`);
          await this.scheduler.runUntil(this.scheduler.nowMs + 500);
        }
      }
    }
  }

  private allDelivered(): boolean {
    try {
      this.checkNothingLost();
      return true;
    } catch {
      return false;
    }
  }

  private checkNothingLost(): void {
    const lost = [...this.acked].filter((b) => !this.delivered.has(b) && !this.dropped.has(b));
    if (lost.length > 0) throw new QueueCheckFailure('lostMessage', `${lost.length} acknowledged sends never delivered, e.g. m${lost[0]}`);
    for (const [queue, got] of this.topicDelivered) {
      const missing = [...this.publishAcked].filter((b) => !got.has(b));
      if (missing.length > 0) throw new SimAbort('topicLost', `${missing.length} acknowledged publishes never delivered from ${queue} (on set ${this.placed.get(queue)}; topic on set ${this.topicSet}), e.g. m${missing[0]}`);
    }
  }

  private async result(): Promise<MultiSetSimResult> {
    for (const h of this.histories.values()) {
      this.stats.deliveries += h.stats.deliveries;
      this.stats.redeliveries += h.stats.redeliveries;
      this.stats.deletes += h.stats.deletes;
    }
    this.stats.tasksRun = this.scheduler.tasksRun;
    this.stats.movedCopies = this.crossSets.stats.copies;
    this.stats.deliveriesAcrossSets = this.crossSets.stats.deliveriesAcrossCopies;
    const dl = this.deadLetters.stats;
    this.stats.deadLettered = dl.deadLettered;
    this.stats.deadLetteredAcrossSets = dl.deadLetteredAcrossSets;
    this.stats.remoteDeadLetters = dl.remoteDeadLetters;
    this.stats.redriven = dl.redriven;
    this.stats.shards = this.wideShards;
    this.stats.droppedWithQueue = [...this.acked].filter((b) => this.dropped.has(b)).length;
    const digest = await diskDigest(this.members.values(), JSON.stringify(this.stats));
    const r: MultiSetSimResult = { seed: this.opts.seed, ok: this.failure === undefined, stats: this.stats, digest, replay: this.replayCommand() };
    if (this.failure) r.failure = { check: this.failure.check, message: this.failure.message, atMs: this.scheduler.nowMs - EPOCH_MS };
    return r;
  }

  private ctx(): RequestContext {
    return { requestId: `sim-${++this.requestSeq}`, clientAddress: '', receivedAtMs: this.scheduler.nowMs };
  }

  private trace(line: string): void {
    this.opts.trace?.(`${String(this.scheduler.nowMs - EPOCH_MS).padStart(7)} ${line}`);
  }
}

export function runMultiSetSimulation(opts: MultiSetSimOptions): Promise<MultiSetSimResult> {
  return new MultiSetSimulation(opts).run();
}
