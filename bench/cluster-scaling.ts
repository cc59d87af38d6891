// A cluster of two sets through its access layer, on this machine: `opencmq cluster start-local
// --sets 2` (six servers, the controller on set 1's members), two queues placed one on each set
// (OpencmqMoveQueue puts each where it is wanted), then batched sends in closed loops, alternated
// --rounds times:
//   one set       queue A's load to set 1's leader (set 2 idle): the single-set figure, with the
//                 access layer in the path;
//   two sets      queue A's load to set 1's leader and queue B's to set 2's, at once;
//   hop           queue B's load to set 1's leader, which relays each call to set 2 (the cost of a
//                 client that reaches a node of the wrong set);
//   any node      both queues' loads spread over all six nodes (a load balancer in front of the
//                 cluster): half the calls reach a node of the other set, which relays them, and
//                 a third of the rest a follower, which forwards them to its leader.
// Each line gives msg/s, the servers' CPU per 100,000 messages and the median request latency.
//
//   node dist/bench/cluster-scaling.js [--duration S] [--connections N] [--rounds R]

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { agreedLeader, cpuSeconds, freePort, machineCpuSeconds, type ServerProc } from './bench-servers';
import { BATCH, call, ConnectionPool, createQueue, mustOk, runFor, sendBatch, Target, type LoadResult } from './load';
import { RawHttpConnection } from './raw-http';

const WARM_UP_S = 5;
const NODES = 6;
const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js');

interface Cluster {
  nodes: ServerProc[];
  stop(): Promise<void>;
}

/** Ports P..P+5 all free (checked one by one: good enough on a machine running nothing else). */
async function freeBase(): Promise<number> {
  for (;;) {
    const base = await freePort();
    if (base + NODES >= 65535) continue;
    const probes = await Promise.all(Array.from({ length: NODES }, () => freePort()));
    if (!probes.some((p) => p >= base && p < base + NODES)) return base;
  }
}

async function startCluster(): Promise<Cluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-bench-cluster-'));
  const [api, raft, admin, sqs] = [await freeBase(), await freeBase(), await freeBase(), await freeBase()];
  const child = spawn(process.execPath, [CLI, 'cluster', 'start-local', '--sets', '2', '--data-dir', path.join(dir, 'c'),
    '--base-port', String(api), '--raft-base-port', String(raft), '--admin-base-port', String(admin), '--sqs-base-port', String(sqs),
    '--log-format', 'json', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  // The servers' warnings (peers not up yet at start) are kept for an error report, not printed.
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-64 * 1024)));
  const deadline = Date.now() + 30_000;
  while (!/^members: /m.test(out)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`start-local did not start:\n${out}\n${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const pids = new Map([...(/^members: (.*)$/m.exec(out)![1]!).matchAll(/(n\d) pid (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  const nodes = Array.from({ length: NODES }, (_, i): ServerProc => {
    const id = `n${i + 1}`;
    return { id, pid: pids.get(id)!, port: api + i, child, dataDir: path.join(dir, 'c', id), output: () => out };
  });
  // The members line comes as the processes start, before they listen.
  for (const n of nodes) {
    for (;;) {
      try {
        (await RawHttpConnection.connect(n.port)).close();
        break;
      } catch {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${n.id} is not listening:\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  return {
    nodes,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Calls `action` until it answers code 0 (the controller elects, sets register), returning the answer. */
async function untilOk(t: Target, query: string, timeoutMs = 120_000): Promise<Record<string, unknown>> {
  const req = RawHttpConnection.request(query);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(await t.connection(0), req);
    if (r.code === 0) return r;
    if (Date.now() > deadline) throw new Error(`${query}: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** Queue `q` on set `setId`: moved there if placement put it elsewhere, and waited for. */
async function placeOn(t: Target, q: string, setId: number): Promise<void> {
  await createQueue(t, q, 120_000);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await untilOk(t, `Action=OpencmqMoveQueue&queueName=${q}&toSet=${setId}`);
    if (r.phase === 'done') return;
    if (Date.now() > deadline) throw new Error(`queue ${q} did not reach set ${setId}: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

interface Load {
  /** Where the connections go (spread evenly over them). */
  targets: Target[];
  queue: string;
}

interface Run {
  messages: number;
  seconds: number;
  serverCpu: number;
  machineBusy: number;
  medianMs: number;
}

/** A pool spreading its connections over several targets in turn. */
class SpreadPool extends ConnectionPool {
  constructor(private readonly targets: Target[]) {
    super(targets[0]!.port);
  }

  override connection(i: number): Promise<RawHttpConnection> {
    const n = this.targets.length;
    return this.targets[i % n]!.connection(Math.floor(i / n));
  }
}

async function run(loads: Load[], connections: number, durationS: number, pids: number[]): Promise<Run> {
  const failures = new Map<string, number>();
  const cpu0 = pids.reduce((n, pid) => n + cpuSeconds(pid), 0);
  const m0 = machineCpuSeconds().busy;
  const results: LoadResult[] = await Promise.all(
    loads.map((l) => {
      const req = sendBatch(l.queue);
      return runFor(new SpreadPool(l.targets), connections, durationS, async (c) => {
        try {
          await mustOk(c, req);
        } catch (err) {
          const what = (err instanceof Error ? err.message : String(err)).replace(/"requestId":"[^"]*",?/, '').slice(0, 160);
          failures.set(what, (failures.get(what) ?? 0) + 1);
          throw err;
        }
        return BATCH;
      });
    }),
  );
  const lat = results.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const errors = results.reduce((n, r) => n + r.errors, 0);
  if (errors > 0) console.log(`  (${errors} failed requests: ${[...failures].map(([w, n]) => `${n} x ${w}`).join('; ')})`);
  return {
    messages: results.reduce((n, r) => n + r.messages, 0),
    seconds: Math.max(...results.map((r) => r.seconds)),
    serverCpu: pids.reduce((n, pid) => n + cpuSeconds(pid), 0) - cpu0,
    machineBusy: machineCpuSeconds().busy - m0,
    medianMs: lat[Math.floor(lat.length / 2)] ?? NaN,
  };
}

function line(label: string, r: Run): string {
  const perS = r.messages / r.seconds;
  const cpuPer100k = (r.serverCpu / r.messages) * 100_000;
  return `${label.padEnd(10)} ${Math.round(perS).toString().padStart(7)} msg/s   servers ${cpuPer100k.toFixed(2)} CPU s/100k msgs, machine busy ${(r.machineBusy / r.seconds).toFixed(2)} of ${os.cpus().length} cores, median ${r.medianMs.toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' }, rounds: { type: 'string', default: '3' } } });
  const durationS = Number(values.duration);
  const connections = Number(values.connections);
  const rounds = Number(values.rounds);
  console.log(`a cluster of two 3-node sets through its access layer: batched sends (${BATCH}/req), ${connections} connections per queue, ${durationS} s per run, fsync on, ${new Date().toISOString()}`);
  const cluster = await startCluster();
  const pools: Target[] = [];
  try {
    const [set1, set2] = [cluster.nodes.slice(0, 3), cluster.nodes.slice(3)];
    const any = new Target('n1', cluster.nodes[0]!.port);
    pools.push(any);
    await placeOn(any, 'scaleA', 1);
    await placeOn(any, 'scaleB', 2);
    const l1 = await agreedLeader(set1, 60_000);
    const l2 = await agreedLeader(set2, 60_000);
    const t1 = new Target(l1.id, l1.port);
    const t2 = new Target(l2.id, l2.port);
    // A connection carries one request at a time: each load has its own.
    const allA = cluster.nodes.map((n) => new Target(n.id, n.port));
    const allB = cluster.nodes.map((n) => new Target(n.id, n.port));
    pools.push(t1, t2, ...allA, ...allB);
    const pids = cluster.nodes.map((n) => n.pid);
    console.log(`queue scaleA on set 1 (leader ${l1.id}), scaleB on set 2 (leader ${l2.id})`);
    await run([{ targets: [t1], queue: 'scaleA' }, { targets: [t2], queue: 'scaleB' }], connections, WARM_UP_S, pids);
    const ratios: string[] = [];
    for (let r = 1; r <= rounds; r++) {
      const one = await run([{ targets: [t1], queue: 'scaleA' }], connections, durationS, pids);
      console.log(line('one set', one));
      const two = await run([{ targets: [t1], queue: 'scaleA' }, { targets: [t2], queue: 'scaleB' }], connections, durationS, pids);
      console.log(line('two sets', two));
      const hop = await run([{ targets: [t1], queue: 'scaleB' }], connections, durationS, pids);
      console.log(line('hop', hop));
      const spread = await run([{ targets: allA, queue: 'scaleA' }, { targets: allB, queue: 'scaleB' }], connections, durationS, pids);
      console.log(line('any node', spread));
      const rate = (x: Run): number => x.messages / x.seconds;
      ratios.push(`two sets ${(rate(two) / rate(one)).toFixed(2)}x, any node ${(rate(spread) / rate(one)).toFixed(2)}x, hop ${(rate(hop) / rate(one)).toFixed(2)}x`);
    }
    for (const [i, r] of ratios.entries()) console.log(`round ${i + 1} against one set: ${r}`);
  } finally {
    for (const p of pools) p.close();
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
