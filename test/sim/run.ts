// CLI for the simulator (one scaffolding, three workloads):
//   node dist/test/sim/run.js --seeds 200            the Raft-level workload (raft-driver-sim.ts), seeds 1..200
//   node dist/test/sim/run.js --seed 7 --duration-ms 20000 [--nodes 5] [--bug voteTwice] [--intensity 3] [--readd-removed] [--trace]
//   node dist/test/sim/run.js --queue --seeds 200    the queue-level workload of the shipped node (node-sim.ts)
//   node dist/test/sim/run.js --queue --seed 7 --duration-ms 30000 [--bug fsyncLies] [--intensity 3] [--trace]
//   node dist/test/sim/run.js --sets --seeds 50     three sets and a controller through the access layer (multiset-sim.ts)
//   node dist/test/sim/run.js --sets --seed 7 --duration-ms 20000 [--bug outboxFailureAsSent] [--intensity 2] [--trace]
// (--raft-driver names the default workload explicitly.) Exits 1 on the first failing seed, after
// printing the command that replays it.

import { MULTISET_SIM_BUGS, runMultiSetSimulation, type MultiSetBug, type MultiSetSimResult, type MultiSetSimStats } from './multiset-sim';
import { NODE_SIM_BUGS, runNodeSimulation, type NodeSimBug, type NodeSimResult } from './node-sim';
import { RAFT_DRIVER_SIM_BUGS, runRaftDriverSimulation, type RaftDriverSimBug, type RaftDriverSimResult } from './raft-driver-sim';

/** Virtual time of a queue-level run's fault phase. */
const QUEUE_DURATION_MS_DEFAULT = 30_000;
/** Virtual time of a multi-set run's fault phase. */
const SETS_DURATION_MS_DEFAULT = 20_000;
/** Virtual time of a Raft-level run's fault phase. */
const RAFT_DURATION_MS_DEFAULT = 20_000;

const USAGE =
  'usage: run.js [--raft-driver] [--seeds N | --seed S] [--from S] [--duration-ms T] [--nodes 3|5] [--bug B] [--intensity X] [--readd-removed] [--trace], ' +
  'or run.js --queue [--seeds N | --seed S] [--from S] [--duration-ms T] [--bug B] [--intensity X] [--trace], ' +
  'or run.js --sets [--seeds N | --seed S] [--from S] [--duration-ms T] [--bug B] [--intensity X] [--trace]';

interface Args {
  seeds: number;
  firstSeed: number;
  durationMs?: number;
  nodes?: number;
  raftBug?: RaftDriverSimBug;
  queueBug?: NodeSimBug;
  setsBug?: MultiSetBug;
  intensity?: number;
  readdRemoved: boolean;
  trace: boolean;
  /** Run the queue-level workload instead of the Raft-level one. */
  queue: boolean;
  /** Run the multi-set workload (three sets and a controller) instead. */
  sets: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 20, firstSeed: 1, trace: false, queue: false, sets: false, readdRemoved: false };
  let bug: string | undefined;
  let raftDriver = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const int = (): number => {
      const n = Number(value());
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer`);
      return n;
    };
    switch (flag) {
      case '--seeds':
        args.seeds = int();
        break;
      case '--seed':
        args.firstSeed = int();
        args.seeds = 1;
        break;
      case '--from':
        args.firstSeed = int();
        break;
      case '--duration-ms':
        args.durationMs = int();
        break;
      case '--nodes':
        args.nodes = int();
        if (args.nodes !== 3 && args.nodes !== 5) throw new Error('--nodes is 3 or 5');
        break;
      case '--bug':
        bug = value();
        break;
      case '--queue':
        args.queue = true;
        break;
      case '--sets':
        args.sets = true;
        break;
      case '--raft-driver':
        raftDriver = true;
        break;
      case '--readd-removed':
        args.readdRemoved = true;
        break;
      case '--intensity':
        args.intensity = Number(value());
        if (!(args.intensity > 0)) throw new Error('--intensity needs a positive number');
        break;
      case '--trace':
        args.trace = true;
        break;
      default:
        throw new Error(`unknown flag ${flag}; ${USAGE}`);
    }
  }
  if ([args.queue, args.sets, raftDriver].filter(Boolean).length > 1) throw new Error('--queue, --sets and --raft-driver are different workloads: pick one');
  if (args.sets && (args.nodes !== undefined || args.readdRemoved)) throw new Error('--sets always runs three sets of three members');
  if (args.queue && args.nodes !== undefined) throw new Error('--queue always runs three members');
  if (args.queue && args.readdRemoved) throw new Error('--readd-removed is for the Raft-level workload');
  if (bug !== undefined) {
    if (args.sets) {
      if (!(MULTISET_SIM_BUGS as readonly string[]).includes(bug)) throw new Error(`--sets --bug is one of ${MULTISET_SIM_BUGS.join(', ')}`);
      args.setsBug = bug as MultiSetBug;
    } else if (args.queue) {
      if (!(NODE_SIM_BUGS as readonly string[]).includes(bug)) throw new Error(`--queue --bug is one of ${NODE_SIM_BUGS.join(', ')}`);
      args.queueBug = bug as NodeSimBug;
    } else {
      if (!(RAFT_DRIVER_SIM_BUGS as readonly string[]).includes(bug)) throw new Error(`--bug is one of ${RAFT_DRIVER_SIM_BUGS.join(', ')}`);
      args.raftBug = bug as RaftDriverSimBug;
    }
  }
  return args;
}

function describeQueue(r: NodeSimResult): string {
  const s = r.stats;
  return (
    `seed ${r.seed}: ${s.elections} elections (max term ${s.maxTerm}), ${s.ackedSends}/${s.sendsAttempted} sends acknowledged, ` +
    `${s.deliveries} deliveries (${s.redeliveries} after a visibility timeout), ${s.deletes} deletes, ` +
    `${s.crashes} crashes (${s.powerFailures} whole-set power failures; ${s.tornWrites} torn, ${s.lostWrites} lost unsynced writes), ` +
    `${s.partitions} partitions (${s.bridges} bridges), ${s.freezes} freezes, ${s.transfers} transfers, ` +
    `${s.viaFollower} calls through a follower (${s.viaFollowerOk} succeeded), ${s.clientTimeouts} calls left unanswered, ` +
    `${s.dedupRetries} failed sends retried with their deduplication ids (${s.dedupHits} bodies recognised, not stored again), ` +
    `FIFO: ${s.fifoSendsAttempted} bodies sent (${s.fifoDedupRetries} sends retried), ${s.fifoDeliveries} deliveries, ${s.deadLettered} dead-lettered, ` +
    `move tasks: ${s.moveTasksStarted} started, ${s.moveTasksCancelled} cancelled, ${s.moveTasksResumed} resumed by a new leader, ${s.moveEntries} moving entries (${s.messagesMoved} messages, ${s.redriven} seen back in their queue), ` +
    `${s.diskFulls} full disks (${s.diskFullLeaders} on the leader, ${s.stallStepDowns} stalled leaders stepped down, longest lead on a stalled disk ${s.longestStalledLeadMs} ms), ` +
    `${s.snapshotsTaken} snapshots taken, ${s.snapshotsInstalled} installed, ${s.segmentsReleased} segments released, ` +
    `compaction: ${s.compactionRuns} passes, ${s.relocationEntries} relocation entries (${s.relocatedMessages} messages, ${s.relocatedBytes} bytes copied; ${s.relocationCrashes} crashes right after one), ` +
    `log at the end ${s.finalLogBytes} bytes for ${s.finalLiveBytes} live, ` +
    `${s.bitFlips} bit flips (${s.corruptBodies} damaged bodies met, ${s.bodiesFromReplicas} served from a replica, ` +
    `${s.quarantined} quarantined), ${s.fatalStops} stops, final index ${s.finalIndex}, ${s.tasksRun} tasks, disk digest ${r.digest.slice(0, 16)}`
  );
}

function describeSets(r: MultiSetSimResult): string {
  const s = r.stats;
  return (
    `seed ${r.seed}: ${s.elections} elections over four groups, ${s.ackedSends}/${s.sendsAttempted} sends acknowledged, ` +
    `${s.deliveries} deliveries (${s.redeliveries} after a visibility timeout), ${s.deletes} deletes, ${s.longPolls} long polls, ` +
    `${s.crossSetCallsOk}/${s.crossSetCalls} calls served through another set's member, queues per set ${s.queuesPerSet.join('/')}, ${s.shards} shards at the end, ` +
    `${s.ackedPublishes}/${s.publishes} publishes acknowledged (${s.topicDeliveries} deliveries from subscribed queues, ${s.remoteTopicDeliveries} on another set), ` +
    `${describeMoves(s)}, ` +
    `${s.crashes} crashes (${s.controllerLeaderCrashes} of the controller's leader; ${s.tornWrites} torn, ${s.lostWrites} lost unsynced writes), ` +
    `${s.partitions} partitions, ${s.freezes} freezes, ${s.transfers} transfers, ${s.slowDuringFaults} calls slower than the client's timeout during faults, ` +
    `${s.clientTimeouts} after the heal, ${s.tasksRun} tasks, disk digest ${r.digest.slice(0, 16)}`
  );
}

function describeMoves(s: MultiSetSimStats): string {
  return (
    `${s.movesCompleted}/${s.movesStarted} moves completed (${s.movesBack} back to a set the queue was on, ${s.movesResumed} resumed by a new leader, ${s.moveRetries} asked again while running; ` +
    `crashes during moves: ${s.moveSourceLeaderCrashes} source leader, ${s.moveTargetLeaderCrashes} target leader, ${s.moveControllerLeaderCrashes} controller leader), ` +
    `${s.movedCopies} messages moved, ${s.deliveriesAcrossSets} deliveries on another set than the previous one, ` +
    `${s.sourceHandleDeletesDuringMoves} source handles deleted during moves, ${s.oldHandlesRefused} old handles refused after; ` +
    `moves of a dead-letter source ${s.deadLetterSourceMoves} (${s.deadLetterSourceMovesLocal} to or from its dead-letter queue's set), ` +
    `of its dead-letter queue ${s.deadLetterQueueMoves} (${s.deadLetterQueueMovesFromSource} from a source's set), ` +
    `of a subscribed queue ${s.subscribedMoves} (${s.subscribedMovesFromTopicSet} from its topic's set); ` +
    `dead letters: ${s.deadLetterSends} sent to their sources, ${s.deadLettered} delivered from the dead-letter queue (${s.deadLetteredAcrossSets} on another set, ${s.remoteDeadLetters} sent there by an outbox), ` +
    `${s.redrives} redrives (${s.redriven} delivered back from their source)`
  );
}

function describeRaft(r: RaftDriverSimResult): string {
  const s = r.stats;
  return (
    `seed ${r.seed}: ${s.nodes} members, ${s.tickMs} ms ticks, ${s.elections} elections (max term ${s.maxTerm}), ` +
    `${s.acked}/${s.proposals} proposals acknowledged, ${s.readsAnswered}/${s.reads} reads, ` +
    `${s.crashes} crashes (${s.powerFailures} whole-set power failures; ${s.tornWrites} torn, ${s.lostWrites} lost unsynced writes), ` +
    `${s.replayed} entries replayed at restarts, ${s.partitions} partitions, ${s.transfers} transfers, ${s.configChanges} config changes, ` +
    `${s.truncations} truncations, ${s.snapshotsTaken} snapshots taken, ${s.snapshotsInstalled} installed, ${s.segmentsReleased} segments released, ` +
    `${s.fatalStops} stops, final commit ${s.finalCommit}, ${s.tasksRun} tasks, disk digest ${r.digest.slice(0, 16)}`
  );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const durationMs = args.durationMs ?? (args.queue ? QUEUE_DURATION_MS_DEFAULT : args.sets ? SETS_DURATION_MS_DEFAULT : RAFT_DURATION_MS_DEFAULT);
  const started = Date.now();
  let unanswered = 0;
  const unansweredSeeds: number[] = [];
  /** Compaction over every queue-level seed, so a batch shows it happened. */
  const compaction = { seedsRelocating: 0, entries: 0, messages: 0, bytes: 0, crashes: 0, released: 0 };
  /** FIFO traffic and redrive over every queue-level seed. */
  const fifo = { deliveries: 0, deadLettered: 0, tasks: 0, cancelled: 0, resumed: 0, moved: 0, redriven: 0 };
  /** Live queue moves over every multi-set seed (the same fields as a seed's line). */
  const moves: Partial<Record<keyof MultiSetSimStats, number>> = {};
  for (let seed = args.firstSeed; seed < args.firstSeed + args.seeds; seed++) {
    const trace = args.trace ? (line: string): void => console.log(line) : undefined;
    let r: NodeSimResult | RaftDriverSimResult | MultiSetSimResult;
    let line: string;
    if (args.sets) {
      const opts: Parameters<typeof runMultiSetSimulation>[0] = { seed, durationMs };
      if (args.setsBug) opts.bug = args.setsBug;
      if (args.intensity !== undefined) opts.intensity = args.intensity;
      if (trace) opts.trace = trace;
      const m = await runMultiSetSimulation(opts);
      for (const [k, v] of Object.entries(m.stats)) if (typeof v === 'number') moves[k as keyof MultiSetSimStats] = (moves[k as keyof MultiSetSimStats] ?? 0) + v;
      [r, line] = [m, describeSets(m)];
    } else if (args.queue) {
      const opts: Parameters<typeof runNodeSimulation>[0] = { seed, durationMs };
      if (args.queueBug) opts.bug = args.queueBug;
      if (args.intensity !== undefined) opts.intensity = args.intensity;
      if (trace) opts.trace = trace;
      const q = await runNodeSimulation(opts);
      unanswered += q.stats.clientTimeouts;
      if (q.stats.relocationEntries > 0) compaction.seedsRelocating++;
      compaction.entries += q.stats.relocationEntries;
      compaction.messages += q.stats.relocatedMessages;
      compaction.bytes += q.stats.relocatedBytes;
      compaction.crashes += q.stats.relocationCrashes;
      compaction.released += q.stats.segmentsReleased;
      fifo.deliveries += q.stats.fifoDeliveries;
      fifo.deadLettered += q.stats.deadLettered;
      fifo.tasks += q.stats.moveTasksStarted;
      fifo.cancelled += q.stats.moveTasksCancelled;
      fifo.resumed += q.stats.moveTasksResumed;
      fifo.moved += q.stats.messagesMoved;
      fifo.redriven += q.stats.redriven;
      if (q.stats.clientTimeouts > 0) unansweredSeeds.push(seed);
      [r, line] = [q, describeQueue(q)];
    } else {
      const opts: Parameters<typeof runRaftDriverSimulation>[0] = { seed, durationMs };
      if (args.nodes !== undefined) opts.nodes = args.nodes;
      if (args.raftBug) opts.bug = args.raftBug;
      if (args.intensity !== undefined) opts.intensity = args.intensity;
      if (args.readdRemoved) opts.readdRemoved = true;
      if (trace) opts.trace = trace;
      const d = await runRaftDriverSimulation(opts);
      [r, line] = [d, describeRaft(d)];
    }
    if (!r.ok) {
      console.log(line);
      console.log(`FAILED ${r.failure!.check} at ${r.failure!.atMs} ms: ${r.failure!.message}`);
      console.log(`replay: ${r.replay}`);
      process.exitCode = 1;
      return;
    }
    if (args.seeds <= 20 || args.trace) console.log(line);
  }
  const secs = (Date.now() - started) / 1000;
  console.log(`${args.seeds} ${args.queue ? 'queue' : args.sets ? 'multi-set' : 'raft'} seeds passed (${durationMs} ms of virtual time each) in ${secs.toFixed(1)} s`);
  if (args.sets) console.log(`moves: ${describeMoves(moves as unknown as MultiSetSimStats)}`);
  if (args.queue) {
    console.log(`client calls left unanswered: ${unanswered}${unansweredSeeds.length > 0 ? ` (seeds ${unansweredSeeds.slice(0, 20).join(', ')})` : ''}`);
    const c = compaction;
    console.log(
      `compaction: ${c.seedsRelocating} of ${args.seeds} seeds relocated bodies; ${c.entries} relocation entries, ${c.messages} messages and ${c.bytes} bytes relocated, ` +
        `${c.crashes} crashes right after a relocation, ${c.released} segments released`,
    );
    const f = fifo;
    console.log(
      `FIFO: ${f.deliveries} deliveries, ${f.deadLettered} dead-lettered; move tasks: ${f.tasks} started, ${f.cancelled} cancelled, ${f.resumed} resumed by a new leader; ` +
        `${f.moved} messages moved out of the dead-letter queue, ${f.redriven} seen back in their queue`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 2;
});
