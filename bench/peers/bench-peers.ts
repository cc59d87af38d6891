// `npm run bench:peers`: the same scenarios against opencmq (3-node set), RabbitMQ quorum queues
// (3-node cluster) and NATS JetStream (3 servers, R3 file stream), all on this machine's loopback,
// each driven from this process with its usual Node client. Prints throughput, latency and server
// CPU per 100k messages with ratios to opencmq, then the failover runs. Not a test.
//
//   npm run bench:peers -- [--quick] [--only opencmq,opencmq-nofsync,nats,rabbitmq]
//                          [--duration S] [--backlog N] [--no-failover]
//
// Peers come from Debian packages: apt-get install -y rabbitmq-server nats-server

import os from 'node:os';
import { parseArgs } from 'node:util';

import { machineCpuSeconds } from '../bench-servers';
import { runFailover, type FailoverResult } from './failover';
import { BATCH, cpuOf, IN_FLIGHT_MAX, percentile, type ScenarioResult } from './measure';
import { NatsSystem, natsUnavailableReason } from './nats';
import { OpencmqSystem } from './opencmq';
import { RabbitmqSystem, rabbitmqUnavailableReason } from './rabbitmq';
import type { PeerSystem } from './system';

const SYSTEMS = ['opencmq', 'opencmq-nofsync', 'nats', 'rabbitmq'] as const;
type SystemKey = (typeof SYSTEMS)[number];
type ScenarioKey = 'produce' | 'consume' | 'produce+consume';

interface Args {
  systems: SystemKey[];
  durationS: number;
  backlog: number;
  failover: boolean;
  quick: boolean;
}

function parse(): Args {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      duration: { type: 'string', default: '10' },
      backlog: { type: 'string', default: '200000' },
      'no-failover': { type: 'boolean', default: false },
    },
  });
  const quick = values.quick === true;
  const only = values.only?.split(',').map((s) => s.trim()) ?? (quick ? ['opencmq'] : [...SYSTEMS]);
  for (const s of only) if (!(SYSTEMS as readonly string[]).includes(s)) throw new Error(`unknown system ${s}; known: ${SYSTEMS.join(', ')}`);
  const durationS = quick ? 3 : Number(values.duration);
  const backlog = quick ? 20_000 : Number(values.backlog);
  if (!(durationS > 0) || !(backlog > 0)) throw new Error('--duration and --backlog must be positive');
  return { systems: only as SystemKey[], durationS, backlog, failover: !quick && !values['no-failover'], quick };
}

interface Row extends ScenarioResult {
  system: string;
  scenario: ScenarioKey;
  serverCpuS: number;
  loadGenCpuS: number;
}

const rows: Row[] = [];
const failovers: { system: string; result: FailoverResult | string }[] = [];
const durability: { system: string; text: string }[] = [];

async function measure(sys: PeerSystem, scenario: ScenarioKey, run: () => Promise<ScenarioResult>): Promise<void> {
  const pids = sys.serverPids();
  const cpu0 = cpuOf(pids);
  const machine0 = machineCpuSeconds();
  const lg0 = process.cpuUsage();
  const r = await run();
  const lg = process.cpuUsage(lg0);
  const machine1 = machineCpuSeconds();
  const row: Row = { ...r, system: sys.name, scenario, serverCpuS: cpuOf(pids) - cpu0, loadGenCpuS: (lg.user + lg.system) / 1e6 };
  // Other work on the machine, and time the hypervisor stole, skew a run: say how much there was.
  const otherCpuS = Math.max(0, machine1.busy - machine0.busy - row.serverCpuS - row.loadGenCpuS);
  const stolenS = machine1.steal - machine0.steal;
  rows.push(row);
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  console.log(
    `  ${scenario.padEnd(16)} ${Math.round(r.messages / r.seconds).toString().padStart(7)} msg/s  ${r.messages} msgs in ${r.seconds.toFixed(1)} s` +
      `  p50 ${fmtMs(percentile(sorted, 50))}  p99 ${fmtMs(percentile(sorted, 99))}  server CPU ${row.serverCpuS.toFixed(1)} s` +
      ` (${per100k(row.serverCpuS, r.messages).toFixed(2)} s/100k), load generator ${row.loadGenCpuS.toFixed(1)} s` +
      `${r.errors ? `  errors ${r.errors}` : ''}${r.note ? `  ${r.note}` : ''}` +
      `  [other processes ${otherCpuS.toFixed(1)} CPU-s, stolen ${stolenS.toFixed(1)} s]`,
  );
}

const per100k = (s: number, messages: number): number => (messages > 0 ? (s * 100_000) / messages : NaN);
const fmtMs = (ms: number): string => (Number.isFinite(ms) ? `${ms.toFixed(1)} ms` : '-');

async function startSystem(key: SystemKey): Promise<PeerSystem | string> {
  switch (key) {
    case 'opencmq':
      return OpencmqSystem.start(true);
    case 'opencmq-nofsync':
      return OpencmqSystem.start(false);
    case 'nats':
      return natsUnavailableReason() ?? NatsSystem.start();
    case 'rabbitmq':
      return rabbitmqUnavailableReason() ?? RabbitmqSystem.start();
  }
}

async function runSystem(key: SystemKey, args: Args): Promise<void> {
  console.log(`\n== ${key} ==`);
  const t0 = performance.now();
  const sys = await startSystem(key);
  if (typeof sys === 'string') {
    console.log(`  SKIPPED: ${sys}`);
    failovers.push({ system: key, result: `skipped: ${sys}` });
    return;
  }
  console.log(`  started in ${((performance.now() - t0) / 1000).toFixed(1)} s; durability: ${sys.durability}`);
  durability.push({ system: sys.name, text: sys.durability });
  try {
    for (const q of ['produce', 'backlog', 'mixed']) await sys.createQueue(q);
    await measure(sys, 'produce', () => sys.produce('produce', { durationS: args.durationS }));
    const p0 = performance.now();
    const pre = await sys.produce('backlog', { messages: args.backlog });
    console.log(`  (preloaded ${pre.messages} messages in ${((performance.now() - p0) / 1000).toFixed(1)} s)`);
    await measure(sys, 'consume', () => sys.consume('backlog', pre.messages));
    await measure(sys, 'produce+consume', () => sys.mixed('mixed', args.durationS));
    if (args.failover) {
      console.log('  failover: load through a non-leader, the leader is killed (SIGKILL) after 5 s ...');
      const f = await runFailover(await sys.failover('failover'), { beforeKillS: 5, afterKillS: 10 });
      console.log(
        `  failover: killed ${f.killed}; acknowledged ${f.acknowledged}, lost ${f.lost}, duplicated ${f.duplicated}, redelivered ${f.redelivered}, ` +
          `unavailable ${f.unavailableMs.toFixed(0)} ms, failed sends (retried) ${f.failedSends}, given up ${f.gaveUp}`,
      );
      failovers.push({ system: sys.name, result: f });
    }
  } catch (err) {
    console.log(`  FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    failovers.push({ system: sys.name, result: `failed: ${err instanceof Error ? err.message : String(err)}` });
  } finally {
    await sys.stop();
  }
}

function printTable(): void {
  if (rows.length === 0 && failovers.every((f) => typeof f.result === 'string')) return;
  const base = (system: string, r: Row): Row | undefined => rows.find((b) => b.system === system && b.scenario === r.scenario);
  const ratio = (x: number, y: number | undefined): string => (y !== undefined && Number.isFinite(x / y) ? `${(x / y).toFixed(2)}x` : '-');
  const rate = (r: Row | undefined): number | undefined => r && r.messages / r.seconds;
  const cpu = (r: Row | undefined): number | undefined => r && per100k(r.serverCpuS, r.messages);
  console.log(
    '\n| system | scenario | msg/s | p50 | p99 | server CPU s /100k msgs | load generator CPU s /100k | msg/s ÷ opencmq | CPU ÷ opencmq |' +
      ' msg/s ÷ opencmq --no-fsync | CPU ÷ opencmq --no-fsync |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const sorted = [...r.latenciesMs].sort((a, b) => a - b);
    const fsyncBase = base('opencmq', r);
    const noFsyncBase = base('opencmq --no-fsync', r);
    console.log(
      `| ${r.system} | ${r.scenario} | ${Math.round(rate(r)!).toLocaleString('en-US')} | ${fmtMs(percentile(sorted, 50))} | ${fmtMs(percentile(sorted, 99))} | ` +
        `${cpu(r)!.toFixed(2)} | ${per100k(r.loadGenCpuS, r.messages).toFixed(2)} | ${ratio(rate(r)!, rate(fsyncBase))} | ${ratio(cpu(r)!, cpu(fsyncBase))} | ` +
        `${ratio(rate(r)!, rate(noFsyncBase))} | ${ratio(cpu(r)!, cpu(noFsyncBase))} |`,
    );
  }
  if (failovers.length > 0) {
    // duplicated: an id stored twice; redelivered: one stored message delivered again after its
    // delete was lost (only systems that name stored messages tell the two apart).
    console.log('\n| system | leader killed | acknowledged | lost | duplicated | redelivered | unavailable |');
    console.log('|---|---|---:|---:|---:|---:|---:|');
    for (const { system, result: f } of failovers) {
      if (typeof f === 'string') console.log(`| ${system} | ${f} | | | | | |`);
      else console.log(`| ${system} | ${f.killed} | ${f.acknowledged} | ${f.lost} | ${f.duplicated} | ${f.redelivered} | ${(f.unavailableMs / 1000).toFixed(2)} s |`);
    }
  }
  console.log('\nDurability (when a message is on disk at the time its send is acknowledged):');
  for (const d of durability) console.log(`  ${d.system}: ${d.text}`);
}

async function main(): Promise<void> {
  const args = parse();
  const [l1] = os.loadavg();
  console.log(
    `opencmq bench:peers: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ` +
      `${new Date().toISOString()}, load average ${l1!.toFixed(2)}\n1 KiB messages; ${args.durationS} s produce and produce+consume runs; ` +
      `consume drains a backlog of ${args.backlog}; ${IN_FLIGHT_MAX} messages in flight (opencmq: ${IN_FLIGHT_MAX / BATCH} connections x ${BATCH} per request)` +
      `${args.quick ? '; --quick: opencmq alone, a smoke run' : ''}`,
  );
  for (const key of args.systems) await runSystem(key, args);
  printTable();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
