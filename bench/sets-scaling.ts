// Two sets against one on this machine: batched sends to one 3-node set's leader, then to the
// leaders of two 3-node sets at once (each its own queue and its own connections, as clients of a
// cluster whose queues sit on two sets would be), alternated --rounds times. Each set is the same
// three `opencmq server` processes `cluster start-local` runs; the two sets share nothing but the
// machine's cores and disk, which is what a second set adds on a machine: more event loops.
//
//   node dist/bench/sets-scaling.js [--duration S] [--connections N] [--rounds R]

import os from 'node:os';
import { parseArgs } from 'node:util';

import { agreedLeader, cpuSeconds, machineCpuSeconds, startSet, type BenchServers } from './bench-servers';
import { BATCH, createQueue, mustOk, runFor, sendBatch, Target } from './load';

const WARM_UP_S = 5;

interface Round {
  messages: number;
  seconds: number;
  /** CPU seconds of every server process, and of the machine (busy), over the run. */
  serverCpu: number;
  machineBusy: number;
}

async function sendLoad(sets: BenchServers[], connections: number, durationS: number): Promise<Round> {
  const leaders = await Promise.all(sets.map((s) => agreedLeader(s.nodes)));
  const targets = leaders.map((l) => new Target(l.id, l.port));
  try {
    for (const t of targets) await createQueue(t, 'scale');
    const pids = sets.flatMap((s) => s.nodes.map((n) => n.pid));
    const cpu0 = pids.reduce((n, pid) => n + cpuSeconds(pid), 0);
    const m0 = machineCpuSeconds().busy;
    const req = sendBatch('scale');
    const results = await Promise.all(
      targets.map((t) =>
        runFor(t, connections, durationS, async (c) => {
          await mustOk(c, req);
          return BATCH;
        }),
      ),
    );
    return {
      messages: results.reduce((n, r) => n + r.messages, 0),
      seconds: Math.max(...results.map((r) => r.seconds)),
      serverCpu: pids.reduce((n, pid) => n + cpuSeconds(pid), 0) - cpu0,
      machineBusy: machineCpuSeconds().busy - m0,
    };
  } finally {
    for (const t of targets) t.close();
  }
}

function line(label: string, r: Round): string {
  const perS = r.messages / r.seconds;
  return `${label.padEnd(10)} ${Math.round(perS).toString().padStart(7)} msg/s   servers ${(r.serverCpu / r.seconds).toFixed(2)} cores, machine busy ${(r.machineBusy / r.seconds).toFixed(2)} of ${os.cpus().length} cores`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' }, rounds: { type: 'string', default: '3' } } });
  const durationS = Number(values.duration);
  const connections = Number(values.connections);
  const rounds = Number(values.rounds);
  console.log(`two 3-node sets against one: batched sends (${BATCH}/req), ${connections} connections per set, ${durationS} s per run, fsync on, ${new Date().toISOString()}`);
  const first = await startSet({ fsync: true });
  const second = await startSet({ fsync: true });
  try {
    // Fresh servers run slower at first (compilation, log preallocation): warm both, unreported.
    await sendLoad([first, second], connections, WARM_UP_S);
    const ratios: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      const one = await sendLoad([first], connections, durationS);
      console.log(line(`1 set`, one));
      const two = await sendLoad([first, second], connections, durationS);
      console.log(line(`2 sets`, two));
      ratios.push(two.messages / two.seconds / (one.messages / one.seconds));
    }
    console.log(`2 sets / 1 set: ${ratios.map((x) => `${x.toFixed(2)}x`).join(', ')}`);
  } finally {
    await first.stop();
    await second.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
