// CLI for the simulator:
//   node dist/test/sim/run.js --seeds 200            run seeds 1..200
//   node dist/test/sim/run.js --seed 1234 --steps 5000 [--nodes 5] [--bug voteTwice] [--intensity 4] [--trace]
//   node dist/test/sim/run.js --queue --seeds 200    the queue-level simulation of the shipped node (node-sim.ts)
//   node dist/test/sim/run.js --queue --seed 7 --duration-ms 30000 [--bug fsyncLies] [--intensity 3] [--trace]
//   node dist/test/sim/run.js --raft-driver --seeds 200   the Raft-level workload on the shipped driver (raft-driver-sim.ts)
//   node dist/test/sim/run.js --raft-driver --seed 7 --duration-ms 20000 [--nodes 5] [--bug voteTwice] [--intensity 3] [--readd-removed] [--trace]
// Exits 1 on the first failing seed, after printing the command that replays it.

import { NODE_SIM_BUGS, runNodeSimulation, type NodeSimBug, type NodeSimResult } from './node-sim';
import { RAFT_DRIVER_SIM_BUGS, runRaftDriverSimulation, type RaftDriverSimBug, type RaftDriverSimResult } from './raft-driver-sim';
import { runSimulation, SIM_BUGS, type SimBug, type SimResult } from './simulator';

/** Virtual time of a queue-level run's fault phase. */
const QUEUE_DURATION_MS_DEFAULT = 30_000;
/** Virtual time of a Raft-driver run's fault phase. */
const RAFT_DRIVER_DURATION_MS_DEFAULT = 20_000;

interface Args {
  seeds: number;
  firstSeed: number;
  steps: number;
  nodes?: number;
  bug?: SimBug;
  queueBug?: NodeSimBug;
  raftDriverBug?: RaftDriverSimBug;
  durationMs?: number;
  intensity?: number;
  trace: boolean;
  /** Run the queue-level simulation instead of the Raft one. */
  queue: boolean;
  /** Run the Raft-level workload on the shipped driver (raft-driver-sim.ts). */
  raftDriver: boolean;
  readdRemoved: boolean;
  stepsGiven: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 20, firstSeed: 1, steps: 4000, trace: false, queue: false, raftDriver: false, readdRemoved: false, stepsGiven: false };
  let bug: string | undefined;
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
      case '--steps':
        args.steps = int();
        args.stepsGiven = true;
        break;
      case '--nodes':
        args.nodes = int();
        break;
      case '--bug':
        bug = value();
        break;
      case '--queue':
        args.queue = true;
        break;
      case '--raft-driver':
        args.raftDriver = true;
        break;
      case '--readd-removed':
        args.readdRemoved = true;
        break;
      case '--duration-ms':
        args.durationMs = int();
        break;
      case '--intensity':
        args.intensity = Number(value());
        if (!(args.intensity > 0)) throw new Error('--intensity needs a positive number');
        break;
      case '--trace':
        args.trace = true;
        break;
      default:
        throw new Error(
          `unknown flag ${flag}; usage: run.js [--seeds N | --seed S] [--from S] [--steps K] [--nodes 3|5] [--bug B] [--intensity X] [--trace], ` +
            'or run.js --queue [--seeds N | --seed S] [--duration-ms T] [--bug B] [--intensity X] [--trace], ' +
            'or run.js --raft-driver [--seeds N | --seed S] [--duration-ms T] [--nodes 3|5] [--bug B] [--intensity X] [--readd-removed] [--trace]',
        );
    }
  }
  if (args.queue && args.raftDriver) throw new Error('--queue and --raft-driver are two different simulations: pick one');
  if (bug !== undefined) {
    if (args.raftDriver) {
      if (!(RAFT_DRIVER_SIM_BUGS as readonly string[]).includes(bug)) throw new Error(`--raft-driver --bug is one of ${RAFT_DRIVER_SIM_BUGS.join(', ')}`);
      args.raftDriverBug = bug as RaftDriverSimBug;
    } else if (args.queue) {
      if (!(NODE_SIM_BUGS as readonly string[]).includes(bug)) throw new Error(`--queue --bug is one of ${NODE_SIM_BUGS.join(', ')}`);
      args.queueBug = bug as NodeSimBug;
    } else {
      if (!(SIM_BUGS as readonly string[]).includes(bug)) throw new Error(`--bug is one of ${SIM_BUGS.join(', ')}`);
      args.bug = bug as SimBug;
    }
  }
  if ((args.queue || args.raftDriver) && args.stepsGiven) throw new Error('--queue and --raft-driver run for --duration-ms of virtual time, not --steps');
  if (args.readdRemoved && !args.raftDriver) throw new Error('--readd-removed is for --raft-driver');
  if (args.queue && args.nodes !== undefined) throw new Error('--queue always runs three members');
  if (args.durationMs !== undefined && !args.queue && !args.raftDriver) throw new Error('--duration-ms is for --queue and --raft-driver; the Raft-core simulator takes --steps');
  return args;
}


function describe(r: SimResult): string {
  const s = r.stats;
  return (
    `seed ${r.seed}: ${s.nodes} nodes, ${s.steps} steps, ${s.elections} elections (max term ${s.maxTerm}), ` +
    `${s.acked}/${s.proposals} proposals acknowledged, ${s.readsAnswered}/${s.reads} reads, ${s.crashes} crashes, ` +
    `${s.partitions} partitions, ${s.configChanges} config changes, ${s.transfers} transfers, ${s.snapshotsSent} snapshots sent, ` +
    `${s.messages} messages, ${s.tornWrites} torn writes, ${s.truncations} truncations, ${s.fetches} fetches (${s.fetchesLost} lost), ` +
    `${s.readsDropped} reads dropped, final commit ${s.finalCommit}`
  );
}

function describeQueue(r: NodeSimResult): string {
  const s = r.stats;
  return (
    `seed ${r.seed}: ${s.elections} elections (max term ${s.maxTerm}), ${s.ackedSends}/${s.sendsAttempted} sends acknowledged, ` +
    `${s.deliveries} deliveries (${s.redeliveries} after a visibility timeout), ${s.deletes} deletes, ` +
    `${s.crashes} crashes (${s.powerFailures} whole-set power failures; ${s.tornWrites} torn, ${s.lostWrites} lost unsynced writes), ` +
    `${s.partitions} partitions, ${s.transfers} transfers, ${s.snapshotsTaken} snapshots taken, ${s.snapshotsInstalled} installed, ` +
    `${s.segmentsReleased} segments released, ${s.bitFlips} bit flips (${s.corruptBodies} damaged bodies met, ${s.bodiesFromReplicas} served from a replica, ` +
    `${s.quarantined} quarantined), ${s.fatalStops} stops, final index ${s.finalIndex}, ${s.tasksRun} tasks, disk digest ${r.digest.slice(0, 16)}`
  );
}

async function mainQueue(args: Args): Promise<void> {
  const started = Date.now();
  for (let seed = args.firstSeed; seed < args.firstSeed + args.seeds; seed++) {
    const opts: Parameters<typeof runNodeSimulation>[0] = { seed, durationMs: args.durationMs ?? QUEUE_DURATION_MS_DEFAULT };
    if (args.queueBug) opts.bug = args.queueBug;
    if (args.intensity !== undefined) opts.intensity = args.intensity;
    if (args.trace) opts.trace = (line) => console.log(line);
    const r = await runNodeSimulation(opts);
    if (!r.ok) {
      console.log(describeQueue(r));
      console.log(`FAILED ${r.failure!.check} at ${r.failure!.atMs} ms: ${r.failure!.message}`);
      console.log(`replay: ${r.replay}`);
      process.exitCode = 1;
      return;
    }
    if (args.seeds <= 20 || args.trace) console.log(describeQueue(r));
  }
  const secs = (Date.now() - started) / 1000;
  console.log(`${args.seeds} queue seeds passed (${args.durationMs ?? QUEUE_DURATION_MS_DEFAULT} ms of virtual time each) in ${secs.toFixed(1)} s`);
}

function describeRaftDriver(r: RaftDriverSimResult): string {
  const s = r.stats;
  return (
    `seed ${r.seed}: ${s.nodes} members, ${s.tickMs} ms ticks, ${s.elections} elections (max term ${s.maxTerm}), ` +
    `${s.acked}/${s.proposals} proposals acknowledged, ${s.readsAnswered}/${s.reads} reads, ` +
    `${s.crashes} crashes (${s.powerFailures} whole-set power failures; ${s.tornWrites} torn, ${s.lostWrites} lost unsynced writes), ` +
    `${s.replayed} entries replayed at restarts, ${s.partitions} partitions, ${s.transfers} transfers, ${s.configChanges} config changes, ` +
    `${s.truncations} truncations, ${s.fatalStops} stops, final commit ${s.finalCommit}, ${s.tasksRun} tasks, disk digest ${r.digest.slice(0, 16)}`
  );
}

async function mainRaftDriver(args: Args): Promise<void> {
  const started = Date.now();
  const durationMs = args.durationMs ?? RAFT_DRIVER_DURATION_MS_DEFAULT;
  for (let seed = args.firstSeed; seed < args.firstSeed + args.seeds; seed++) {
    const opts: Parameters<typeof runRaftDriverSimulation>[0] = { seed, durationMs };
    if (args.nodes !== undefined) opts.nodes = args.nodes;
    if (args.raftDriverBug) opts.bug = args.raftDriverBug;
    if (args.intensity !== undefined) opts.intensity = args.intensity;
    if (args.readdRemoved) opts.readdRemoved = true;
    if (args.trace) opts.trace = (line) => console.log(line);
    const r = await runRaftDriverSimulation(opts);
    if (!r.ok) {
      console.log(describeRaftDriver(r));
      console.log(`FAILED ${r.failure!.check} at ${r.failure!.atMs} ms: ${r.failure!.message}`);
      console.log(`replay: ${r.replay}`);
      process.exitCode = 1;
      return;
    }
    if (args.seeds <= 20 || args.trace) console.log(describeRaftDriver(r));
  }
  const secs = (Date.now() - started) / 1000;
  console.log(`${args.seeds} raft-driver seeds passed (${durationMs} ms of virtual time each) in ${secs.toFixed(1)} s`);
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (args.queue) {
    void mainQueue(args);
    return;
  }
  if (args.raftDriver) {
    void mainRaftDriver(args);
    return;
  }
  const started = Date.now();
  let steps = 0;
  for (let seed = args.firstSeed; seed < args.firstSeed + args.seeds; seed++) {
    const opts: Parameters<typeof runSimulation>[0] = { seed, steps: args.steps };
    if (args.nodes !== undefined) opts.nodes = args.nodes;
    if (args.bug) opts.bug = args.bug;
    if (args.intensity !== undefined) opts.intensity = args.intensity;
    if (args.trace) opts.trace = (line) => console.log(line);
    const r = runSimulation(opts);
    steps += r.stats.steps;
    if (!r.ok) {
      console.log(describe(r));
      console.log(`FAILED ${r.failure!.check} at step ${r.failure!.step}: ${r.failure!.message}`);
      console.log(`replay: ${r.replay}`);
      process.exitCode = 1;
      return;
    }
    if (args.seeds <= 20 || args.trace) console.log(describe(r));
  }
  const secs = (Date.now() - started) / 1000;
  console.log(`${args.seeds} seeds passed (${steps} steps) in ${secs.toFixed(1)} s`);
}

main();
