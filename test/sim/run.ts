// CLI for the simulator:
//   node dist/test/sim/run.js --seeds 200            run seeds 1..200
//   node dist/test/sim/run.js --seed 1234 --steps 5000 [--nodes 5] [--bug voteTwice] [--intensity 4] [--trace]
// Exits 1 on the first failing seed, after printing the command that replays it.

import { runSimulation, SIM_BUGS, type SimBug, type SimResult } from './simulator';

interface Args {
  seeds: number;
  firstSeed: number;
  steps: number;
  nodes?: number;
  bug?: SimBug;
  intensity?: number;
  trace: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 20, firstSeed: 1, steps: 4000, trace: false };
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
        break;
      case '--nodes':
        args.nodes = int();
        break;
      case '--bug': {
        const b = value();
        if (!(SIM_BUGS as readonly string[]).includes(b)) throw new Error(`--bug is one of ${SIM_BUGS.join(', ')}`);
        args.bug = b as SimBug;
        break;
      }
      case '--intensity':
        args.intensity = Number(value());
        if (!(args.intensity > 0)) throw new Error('--intensity needs a positive number');
        break;
      case '--trace':
        args.trace = true;
        break;
      default:
        throw new Error(`unknown flag ${flag}; usage: run.js [--seeds N | --seed S] [--from S] [--steps K] [--nodes 3|5] [--bug B] [--intensity X] [--trace]`);
    }
  }
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

function main(): void {
  const args = parseArgs(process.argv.slice(2));
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
