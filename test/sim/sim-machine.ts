// One simulated machine, shared by both workloads: a disk that outlives its processes, and the
// process currently running on it. A power loss kills the process and leaves the disk as the crash
// model says (sim-fs.ts); a process exit (the node stopping itself) keeps every write; either way
// the machine is started again later with a fresh process: a new Runtime with its own clock skew
// and random stream, so nothing of the old process can act again.

import { createHash } from 'node:crypto';

import type { Prng } from './prng';
import { SimFs, type CrashOutcome } from './sim-fs';
import { SimProcessRuntime, type SimScheduler } from './sim-runtime';

/** Each process's clock is off the world's by up to this much either way. */
const CLOCK_SKEW_MS_MAX = 100;
/** A node that stopped itself is restarted by its supervisor this much later. */
const SUPERVISOR_RESTART_MS = 500;

/** What the machines of one run did, summed. */
export interface MachineStats {
  crashes: number;
  restarts: number;
  /** Processes that stopped themselves (a failed write, a broken invariant). */
  fatalStops: number;
  /** Unsynced writes a power loss tore or lost. */
  tornWrites: number;
  lostWrites: number;
}

export class SimMachine {
  /** The disk as the current process sees it (a new view after every crash or restart). */
  fs: SimFs;
  /** The current (or last) process; `up` says whether it still runs. Set by the first startProcess(). */
  runtime!: SimProcessRuntime;
  incarnation = 0;
  up = false;
  restartAtMs = 0;

  constructor(
    readonly id: string,
    private readonly scheduler: SimScheduler,
    /** The run's random stream: every choice about this machine is drawn from it, in a fixed order. */
    private readonly rng: Prng,
    private readonly stats: MachineStats,
  ) {
    // An fdatasync takes virtual time (now and then a slow one): a crash meanwhile finds unsynced
    // writes, which the power-loss model keeps, loses or tears.
    this.fs = new SimFs({
      delay: (op) => (op === 'sync' ? this.runtime.sleep(this.runtime.random() < 0.05 ? this.rng.int(20, 120) : this.rng.int(1, 6)) : undefined),
    });
  }

  /** Starts a new process on the disk; the caller boots its software on the returned runtime. */
  startProcess(): SimProcessRuntime {
    this.incarnation++;
    this.runtime = new SimProcessRuntime(this.scheduler, `${this.id}#${this.incarnation}`, this.rng.int(-CLOCK_SKEW_MS_MAX, CLOCK_SKEW_MS_MAX), this.rng.fork());
    this.up = true;
    return this.runtime;
  }

  /** Whether `runtime` is this machine's live process: callbacks of an older one are ignored. */
  runs(runtime: SimProcessRuntime): boolean {
    return this.runtime === runtime && runtime.alive;
  }

  /** A power loss: the process stops dead, unsynced writes are kept, lost or torn; back in `downMs`. */
  powerLoss(downMs: number): CrashOutcome {
    this.runtime.kill();
    this.up = false;
    const { fs, outcome } = this.fs.crash(this.rng);
    this.fs = fs;
    this.stats.crashes++;
    this.stats.tornWrites += outcome.torn;
    this.stats.lostWrites += outcome.lost;
    this.restartAtMs = this.scheduler.nowMs + downMs;
    return outcome;
  }

  /** The process stopped itself: the operating system keeps every write; the supervisor restarts it. */
  processExit(): void {
    this.runtime.kill();
    this.up = false;
    this.fs = this.fs.restart();
    this.stats.fatalStops++;
    this.restartAtMs = this.scheduler.nowMs + SUPERVISOR_RESTART_MS;
  }

  /** Whether a machine that is down is due to start again. */
  restartDue(): boolean {
    return !this.up && this.scheduler.nowMs >= this.restartAtMs;
  }
}

/** SHA-256 over every machine's disk, file by file in a fixed order, then `extra`. */
export async function diskDigest(machines: Iterable<SimMachine>, extra: string): Promise<string> {
  const hash = createHash('sha256');
  for (const m of [...machines].sort((a, b) => a.id.localeCompare(b.id))) {
    for (const p of m.fs.paths().sort()) {
      hash.update(p);
      if ((await m.fs.stat(p)).isFile()) hash.update(await m.fs.readFile(p));
    }
  }
  hash.update(extra);
  return hash.digest('hex');
}
