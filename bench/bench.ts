// `npm run bench`: throughput, latency and CPU cost with 1 KiB messages, for a single node and for
// a 3-node set on this machine, plus the single server's memory for a large backlog. Servers run
// as their own processes (as users run them); this process is the load generator. Not a test:
// it prints figures for docs/BENCHMARKS.md.
//
//   npm run bench -- [--duration S] [--backlog N] [--only a,b] [--cluster] [--connections N]
//                    [--no-fsync] [--quick] [--cpu-prof DIR] [--heap-sample DIR] [--gc-stats DIR] [--tls | --peer-tls] [--admin]
//                    [--rate N] [--cold-backlog N] [--disk-duration S] [--disk-settle S] [--server-arg ARG ...]
//
// --server-arg ARG: one more flag (or value) for every server of the single-node and set scenarios,
// e.g. `--server-arg=--compact-below --server-arg=0` to measure without compaction.
// --admin: servers run with their admin listener, so metrics are collected (the cost of metrics),
// and each set scenario also prints how the leader's writes to its followers were batched.
//
// --heap-sample DIR: every server samples its allocations, freed ones included, and writes
// DIR/<single|set>/<node id>/<pid>.heapprofile at exit (summary: heap-profile-summary.js).
// --gc-stats DIR: every server counts its garbage collections by kind; printed after the runs.
//
// --tls: HTTPS between the load generator and the servers, and mutual TLS on the set's peer links
// (certificates from test/fixtures/tls), to measure what TLS costs; --peer-tls: the peer links only.
//
// Scenarios (for --only): batch-send, send, receive-delete, mixed, backlog, sqs-batch-send,
// sqs-receive-delete (single node);
// cluster-send, cluster-recv, cluster-mixed, cluster-follower-send, cluster-send-latency,
// cluster-send-unbatched, cluster-recv-cold (3-node set). --cluster runs the set's scenarios and
// their single-node counterparts, to compare CPU per message. The set's three newer scenarios run
// after the others, so the state they leave (queued messages, a large log) does not change what
// the others measure:
//
// cluster-send-latency: batched sends (as cluster-send) in an open loop at half the peak rate:
// requests go out on a fixed schedule, on as many connections as that needs, and each latency
// counts from the request's scheduled time (no coordinated omission). The peak is cluster-send's
// figure when it ran earlier in the same run; otherwise --rate N (messages/s) is the target
// itself; otherwise a 5 s closed-loop probe of batched sends measures the peak first. Prints
// target and achieved rate, p50/p90/p99/p99.9/max, and how late requests went out.
//
// cluster-send-unbatched: one message per SendMessage from 64 closed-loop connections (as send).
//
// cluster-recv-cold: batched receive+delete (as cluster-recv) from a backlog of --cold-backlog
// messages (default 1,000,000) whose bodies the servers no longer hold in memory, so each receive
// reads them back from the log files (through the OS page cache, which likely still holds them).
// Filling is not timed. Prints the ratio to cluster-recv when that ran too.
//
// sqs-batch-send, sqs-receive-delete: the SQS API's JSON 1.0 protocol on the single node's SQS
// listener (bench/sqs-load.ts): SendMessageBatch of 10 x 1 KiB, and ReceiveMessage of up to 10 +
// DeleteMessageBatch, on --connections closed loops. Each first runs the CMQ API doing the same
// work (10 per request: cmq-batch-send-10, cmq-receive-delete-10) and prints the SQS figure's
// ratio to it, and to batch-send / receive-delete (16 per request) when those ran too.
//
// disk (only when named in --only: two runs of --disk-duration, default 60 s, each followed by
// --disk-settle, default 30 s, without load): a single node with 4 MiB log segments under a
// steady send / receive+delete load that leaves 1 in 100 received messages in flight; prints the
// data directory's bytes on disk against the live bytes every 5 s, with compaction on and with
// --compact-below 0 (bench/disk-scenario.ts).

import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import {
  agreedLeader,
  highestTerm,
  cpuSeconds,
  leaderSeenBy,
  machineCpuSeconds,
  peerCounterSums,
  readIo,
  readRss,
  startSet,
  startSingleNode,
  TLS_FIXTURES,
  type ServerProc,
  type StartOptions,
} from './bench-servers';
import { RECENT_BYTES_DEFAULT } from '../src/node/raft-driver';
import { summarizeCpuProfile } from './cpu-profile-summary';
import type { GcStats } from './gc-stats-preload';
import { RawHttpConnection } from './raw-http';
import {
  BATCH,
  BODY,
  backlogOf,
  createQueue,
  fill,
  mustOk,
  receiveDeleteBatch,
  runFor,
  sendBatch,
  sendOne,
  Target,
  type LoadResult,
} from './load';
import { runOpenLoop, type OpenLoopResult } from './open-loop';
import { runDiskScenario } from './disk-scenario';
import { SQS_BATCH, sqsCreateQueue, sqsFill, sqsReceiveDelete, sqsSendBatch, SqsTarget } from './sqs-load';

const SINGLE_SCENARIOS = ['batch-send', 'send', 'receive-delete', 'mixed', 'backlog', 'sqs-batch-send', 'sqs-receive-delete'] as const;
const SET_SCENARIOS = [
  'cluster-send',
  'cluster-recv',
  'cluster-mixed',
  'cluster-follower-send',
  'cluster-send-latency',
  'cluster-send-unbatched',
  'cluster-recv-cold',
] as const;
/** Run only when named in --only: about 3.5 minutes more, and about disk, not speed. */
const OPTIONAL_SCENARIOS = ['disk'] as const;
/** What --cluster selects: the set, and the single-node runs its CPU per message is compared with. */
const CLUSTER_SELECTION = ['batch-send', 'receive-delete', 'mixed', ...SET_SCENARIOS];
/** Single-node scenario and its 3-node counterpart, for the CPU comparison. */
const COUNTERPARTS: [label: string, single: string, set: string][] = [
  ['batched send', 'batch-send', 'cluster-send'],
  ['batched receive+delete', 'receive-delete', 'cluster-recv'],
  ['mixed send + receive+delete', 'mixed', 'cluster-mixed'],
];
/** Closed-loop clients of the unbatched send (batched scenarios: --connections, default 32). */
const UNBATCHED_CLIENTS = 64;
/**
 * A receive+delete run starts from at least this many messages per second of run time, so it
 * measures draining, not an empty queue (above the rates measured, with room to spare).
 */
const RECEIVE_BACKLOG_PER_S = { single: 90_000, set: 60_000 };
/** The open-loop latency run's target, as a share of the peak batched-send rate. */
const LATENCY_RATE_SHARE = 0.5;
/** Closed-loop run that finds the peak when cluster-send did not run and no --rate was given. */
const PEAK_PROBE_S = 5;
/**
 * Connections opened before the open-loop run: enough for this long of requests in flight at
 * once, so a stall of the server up to this long does not make the schedule wait for a connect.
 */
const OPEN_LOOP_CONNECTIONS_S = 0.2;

interface Args {
  durationS: number;
  /** Closed-loop connections of each batched scenario. */
  connections: number;
  backlog: number;
  only: Set<string> | undefined;
  fsync: boolean;
  cpuProfDir: string | undefined;
  /** Sample every server's allocations (freed ones included) into DIR/<single|set>/<node id>. */
  heapSampleDir: string | undefined;
  /** Count every server's garbage collections into DIR/<single|set>/<node id>/gc-stats.json. */
  gcStatsDir: string | undefined;
  apiTls: boolean;
  peerTls: boolean;
  admin: boolean;
  /** Target of cluster-send-latency in messages/s, when cluster-send does not run before it. */
  rate: number | undefined;
  coldBacklog: number;
  /** The disk scenario's seconds of load per variant, and of settling after it. */
  diskS: number;
  diskSettleS: number;
  /** Extra flags for every server started (e.g. `--compact-below 0`, to compare). */
  serverArgs: string[];
}

function parse(): Args {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '32' },
      backlog: { type: 'string', default: '1000000' },
      only: { type: 'string' },
      cluster: { type: 'boolean', default: false },
      'no-fsync': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      'heap-sample': { type: 'string' },
      'gc-stats': { type: 'string' },
      tls: { type: 'boolean', default: false },
      'peer-tls': { type: 'boolean', default: false },
      admin: { type: 'boolean', default: false },
      rate: { type: 'string' },
      'cold-backlog': { type: 'string', default: '1000000' },
      'disk-duration': { type: 'string', default: '60' },
      'disk-settle': { type: 'string', default: '30' },
      'server-arg': { type: 'string', multiple: true },
    },
  });
  const quick = values.quick === true;
  let only = values.only ? new Set(values.only.split(',').map((s) => s.trim())) : undefined;
  if (values.cluster) only = new Set([...(only ?? []), ...CLUSTER_SELECTION]);
  const known = new Set<string>([...SINGLE_SCENARIOS, ...SET_SCENARIOS, ...OPTIONAL_SCENARIOS]);
  for (const s of only ?? []) if (!known.has(s)) throw new Error(`unknown scenario ${s}; known: ${[...known].join(', ')}`);
  const connections = Number(values.connections);
  if (!Number.isInteger(connections) || connections < 2) throw new Error('--connections must be an integer >= 2');
  const durationS = quick ? 2 : Number(values.duration);
  if (!(durationS > 0)) throw new Error('--duration must be a positive number of seconds');
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && !(rate > 0)) throw new Error('--rate must be a positive number of messages per second');
  const coldBacklog = quick ? 100_000 : Number(values['cold-backlog']);
  if (!Number.isInteger(coldBacklog) || coldBacklog < 1) throw new Error('--cold-backlog must be a positive integer');
  const diskS = quick ? 10 : Number(values['disk-duration']);
  const diskSettleS = quick ? 10 : Number(values['disk-settle']);
  if (!(diskS > 0) || !(diskSettleS >= 0)) throw new Error('--disk-duration must be positive and --disk-settle not negative (seconds)');
  return {
    durationS,
    connections,
    backlog: quick ? 20_000 : Number(values.backlog),
    only,
    fsync: !values['no-fsync'],
    cpuProfDir: values['cpu-prof'] ? path.resolve(values['cpu-prof']) : undefined,
    heapSampleDir: values['heap-sample'] ? path.resolve(values['heap-sample']) : undefined,
    gcStatsDir: values['gc-stats'] ? path.resolve(values['gc-stats']) : undefined,
    apiTls: values.tls === true,
    peerTls: values.tls === true || values['peer-tls'] === true,
    admin: values.admin === true,
    rate,
    coldBacklog,
    diskS,
    diskSettleS,
    serverArgs: values['server-arg'] ?? [],
  };
}

// ---- measuring and reporting ---------------------------------------------------------------

interface Measured extends LoadResult {
  key: string;
  label: string;
  /** CPU seconds used during the run by each server process, and their sum. */
  cpuByNode: { id: string; seconds: number }[];
  serverCpuS: number;
  loadGenCpuS: number;
  /** CPU seconds used by everything else on the machine during the run (other work skews figures). */
  otherCpuS: number;
  stealS: number;
}

const results = new Map<string, Measured>();

/** Run one scenario, with the CPU time of every server process and of this one around it. */
async function measure(key: string, label: string, servers: ServerProc[], run: () => Promise<LoadResult>): Promise<Measured> {
  const before = servers.map((n) => cpuSeconds(n.pid));
  const machine0 = machineCpuSeconds();
  const lg0 = process.cpuUsage();
  const r = await run();
  const lg = process.cpuUsage(lg0);
  const machine1 = machineCpuSeconds();
  const cpuByNode = servers.map((n, i) => ({ id: n.id, seconds: cpuSeconds(n.pid) - before[i]! }));
  const serverCpuS = cpuByNode.reduce((s, c) => s + c.seconds, 0);
  const loadGenCpuS = (lg.user + lg.system) / 1e6;
  const m: Measured = {
    ...r,
    key,
    label,
    cpuByNode,
    serverCpuS,
    loadGenCpuS,
    otherCpuS: Math.max(0, machine1.busy - machine0.busy - serverCpuS - loadGenCpuS),
    stealS: machine1.steal - machine0.steal,
  };
  results.set(key, m);
  return m;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const per100k = (seconds: number, messages: number): number => (messages > 0 ? (seconds * 100_000) / messages : NaN);

function report(m: Measured, leaderId?: string): void {
  const sorted = m.latenciesMs.sort((a, b) => a - b);
  const rate = m.messages / m.seconds;
  const extra = `${m.errors ? `   errors ${m.errors}` : ''}${m.emptyReceives ? `   empty receives ${m.emptyReceives}` : ''}`;
  console.log(
    `${m.label.padEnd(44)} ${Math.round(rate).toString().padStart(9)} msg/s   p50 ${pct(sorted, 50).toFixed(2).padStart(7)} ms   ` +
      `p99 ${pct(sorted, 99).toFixed(2).padStart(7)} ms   ops ${sorted.length}${extra}`,
  );
  const nodes = m.cpuByNode.map((c) => `${c.id}${c.id === leaderId ? ' (leader)' : ''} ${c.seconds.toFixed(1)}`).join(', ');
  console.log(
    `${''.padEnd(44)} CPU per 100k msgs: servers ${per100k(m.serverCpuS, m.messages).toFixed(2)} s, load generator ` +
      `${per100k(m.loadGenCpuS, m.messages).toFixed(2)} s   (CPU s during the run: ${nodes}; other processes ${m.otherCpuS.toFixed(1)}` +
      `${m.stealS >= 0.1 ? `; stolen by the hypervisor ${m.stealS.toFixed(1)}` : ''}; available ${(m.seconds * os.cpus().length).toFixed(1)})`,
  );
}

function reportComparison(): void {
  const rows = COUNTERPARTS.filter(([, s, c]) => results.has(s) || results.has(c));
  if (rows.length === 0) return;
  console.log('\nserver CPU per 100k messages (all server processes), single node vs 3-node set:');
  for (const [label, s, c] of rows) {
    const single = results.get(s);
    const set = results.get(c);
    const a = single ? per100k(single.serverCpuS, single.messages) : NaN;
    const b = set ? per100k(set.serverCpuS, set.messages) : NaN;
    const ratio = Number.isFinite(a) && Number.isFinite(b) ? `   set = ${(b / a).toFixed(2)}x single node` : '';
    console.log(`  ${label.padEnd(30)} single ${a.toFixed(2).padStart(6)} s   3-node set ${b.toFixed(2).padStart(6)} s${ratio}`);
  }
}

// ---- scenarios -------------------------------------------------------------------------------

function batchedSend(target: Target, q: string, a: Args): Promise<LoadResult> {
  const req = sendBatch(q);
  return runFor(target, a.connections, a.durationS, async (c) => {
    await mustOk(c, req);
    return BATCH;
  });
}

/** One message per request, from UNBATCHED_CLIENTS closed loops. */
function unbatchedSend(target: Target, q: string, a: Args): Promise<LoadResult> {
  const req = sendOne(q);
  return runFor(target, UNBATCHED_CLIENTS, a.durationS, async (c) => {
    await mustOk(c, req);
    return 1;
  });
}

/** cluster-send-latency's target in messages/s, and where it came from (see the header comment). */
async function latencyTarget(target: Target, q: string, a: Args): Promise<{ perS: number; from: string }> {
  const peak = results.get('cluster-send');
  if (peak) {
    const p = peak.messages / peak.seconds;
    return { perS: LATENCY_RATE_SHARE * p, from: `${LATENCY_RATE_SHARE} x cluster-send's ${Math.round(p)} msg/s` };
  }
  if (a.rate !== undefined) return { perS: a.rate, from: '--rate' };
  console.log(`  (measuring the peak batched-send rate: ${PEAK_PROBE_S} s closed loop, not reported as a scenario)`);
  const probe = await batchedSend(target, q, { ...a, durationS: PEAK_PROBE_S });
  const p = probe.messages / probe.seconds;
  return { perS: LATENCY_RATE_SHARE * p, from: `${LATENCY_RATE_SHARE} x the ${PEAK_PROBE_S} s closed-loop probe's ${Math.round(p)} msg/s` };
}

/** Batched sends at `perS` messages/s in an open loop. */
function openLoopSend(target: Target, q: string, perS: number, a: Args): Promise<OpenLoopResult> {
  const req = sendBatch(q);
  const requestsPerS = perS / BATCH;
  const preopen = Math.max(a.connections, Math.ceil(requestsPerS * OPEN_LOOP_CONNECTIONS_S));
  return runOpenLoop(target, requestsPerS, a.durationS, preopen, async (c) => {
    await mustOk(c, req);
    return BATCH;
  });
}

function reportOpenLoop(m: Measured, r: OpenLoopResult, target: { perS: number; from: string }): void {
  const sorted = m.latenciesMs.sort((x, y) => x - y);
  const lag = r.sendLagMs.sort((x, y) => x - y);
  const achieved = m.messages / m.seconds;
  const f = (v: number): string => v.toFixed(2);
  console.log(`  target ${Math.round(target.perS)} msg/s (${Math.round(target.perS / BATCH)} req/s; ${target.from}); achieved ${Math.round(achieved)} msg/s`);
  console.log(
    `  latency from the scheduled time (ms): p50 ${f(pct(sorted, 50))}  p90 ${f(pct(sorted, 90))}  p99 ${f(pct(sorted, 99))}  ` +
      `p99.9 ${f(pct(sorted, 99.9))}  max ${f(pct(sorted, 100))}   (${sorted.length} of ${r.issued} requests answered)`,
  );
  console.log(
    `  requests written late by (ms): p50 ${f(pct(lag, 50))}  p99 ${f(pct(lag, 99))}  max ${f(pct(lag, 100))}; ` +
      `connections ${r.preopened} opened before, ${r.openedDuringRun} during the run (each made the schedule wait for a connect)`,
  );
  if (achieved < 0.95 * target.perS) console.log('  WARNING: achieved under 95% of the target: the set did not keep up, latencies include the queueing');
}

/**
 * Push every entry logged so far out of the servers' memory. A receive takes a body from the
 * driver's window of recent log entries (RecentEntries, RECENT_BYTES_DEFAULT of payload, on every
 * node) when it is still there, else reads it from the log files; nothing else keeps bodies. Each
 * message sent adds at least its body to the window, so this many more evicts everything before.
 * Chosen over restarting the set: the same processes as cluster-recv (the leader, warmed-up code)
 * then differ only in where bodies come from, with no start-up replay, election or cold code in
 * the figure. Filling the backlog itself past the window would not do: a run draining most of it
 * would end in the newest entries, still in memory.
 */
async function evictRecentEntries(target: Target, q: string): Promise<void> {
  await createQueue(target, q);
  await fill(target, q, Math.ceil(RECENT_BYTES_DEFAULT / BODY.length) + BATCH);
}

function reportCold(m: Measured, left: number): void {
  const warm = results.get('cluster-recv');
  if (warm) {
    const rate = (x: Measured): number => x.messages / x.seconds;
    const cpu = (x: Measured): number => per100k(x.serverCpuS, x.messages);
    console.log(`  cold / cluster-recv: ${(rate(m) / rate(warm)).toFixed(2)}x the msg/s, ${(cpu(m) / cpu(warm)).toFixed(2)}x the server CPU per 100k messages`);
    // Receives take the oldest messages first, and cluster-recv's backlog is larger than the window.
    console.log(
      `  (cluster-recv drains the oldest of a backlog larger than the servers' window of ~${Math.floor(RECENT_BYTES_DEFAULT / BODY.length)} ` +
        `newest bodies, so it too reads bodies from the log files: compare the leader's reads per message of the two)`,
    );
  }
  const cachedGb = Number(/^Cached:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? NaN) / 1024 / 1024;
  console.log(
    `  ${left} messages left queued. Bodies came from the log files, but through the OS page cache, which likely still holds them ` +
      `(page cache now ${cachedGb.toFixed(1)} GB; see the leader's reads from the device): this measures the servers' read path, not the disk`,
  );
}

/**
 * Run a receive scenario and say how many bytes per message its leader read: about a body's
 * size through read calls when bodies come from the log files, and from the device when the
 * page cache did not hold them.
 */
async function withLeaderReads(pid: number, fn: () => Promise<Measured>): Promise<Measured> {
  const before = readIo(pid);
  const m = await fn();
  const after = readIo(pid);
  const per = (bytes: number): string => (m.messages > 0 ? (bytes / m.messages).toFixed(0) : '?');
  console.log(
    `  leader read per message: ${per(after.readCallBytes - before.readCallBytes)} B through read calls (log files and sockets), ` +
      `${per(after.deviceBytes - before.deviceBytes)} B from the storage device`,
  );
  return m;
}

function receiveDelete(target: Target, q: string, a: Args): Promise<LoadResult> {
  return runFor(target, a.connections, a.durationS, (c) => receiveDeleteBatch(target, c, q));
}

/** Half the connections send batches, half receive and delete them, on one queue. */
function mixed(target: Target, q: string, a: Args): Promise<LoadResult> {
  const req = sendBatch(q);
  return runFor(target, a.connections, a.durationS, async (c, w) => {
    if (w % 2 === 0) {
      await mustOk(c, req);
      return BATCH;
    }
    return receiveDeleteBatch(target, c, q);
  });
}

/** Top a queue up so a receive+delete run of durationS does not run dry. */
async function ensureBacklog(target: Target, q: string, perS: number, durationS: number): Promise<void> {
  const want = perS * durationS;
  const have = await backlogOf(target, q);
  if (have < want) {
    console.log(`  (preloading ${q} from ${have} to ${want} messages)`);
    await fill(target, q, want - have);
  } else {
    console.log(`  (receive+delete drains the ${have} messages queued in ${q})`);
  }
}

async function runSingleNode(args: Args, want: (s: string) => boolean, start: StartOptions): Promise<void> {
  console.log('\n== single node (one-voter set) ==');
  const servers = await startSingleNode(start);
  const node = servers.nodes[0]!;
  const target = new Target(node.id, node.port);
  const run = (key: string, label: string, fn: () => Promise<LoadResult>): Promise<Measured> => measure(key, label, servers.nodes, fn);
  try {
    for (const q of ['bq', 'uq', 'mq']) await createQueue(target, q);
    if (want('batch-send')) report(await run('batch-send', `batched send (${BATCH}/req, ${args.connections} conns)`, () => batchedSend(target, 'bq', args)));
    if (want('send')) report(await run('send', `unbatched send (${UNBATCHED_CLIENTS} clients)`, () => unbatchedSend(target, 'uq', args)));
    if (want('receive-delete')) {
      await ensureBacklog(target, 'bq', RECEIVE_BACKLOG_PER_S.single, args.durationS);
      report(await run('receive-delete', `batched receive+delete (${BATCH}/req, ${args.connections} conns)`, () => receiveDelete(target, 'bq', args)));
    }
    if (want('mixed')) {
      report(await run('mixed', `mixed: ${args.connections / 2} senders + ${args.connections / 2} receivers (batch ${BATCH})`, () => mixed(target, 'mq', args)));
    }
    await runSqs(args, want, node, run);
    const mem = readRss(node.pid);
    console.log(`server RSS now ${mem.rssMb.toFixed(0)} MB, peak ${mem.peakMb.toFixed(0)} MB`);
    if (want('backlog')) {
      await createQueue(target, 'backlog');
      const t0 = performance.now();
      await fill(target, 'backlog', args.backlog);
      const s = (performance.now() - t0) / 1000;
      const n = await backlogOf(target, 'backlog');
      await new Promise((r) => setTimeout(r, 2000));
      const m = readRss(node.pid);
      console.log(`backlog: ${n} messages queued in ${s.toFixed(1)} s (${Math.round(n / s)} msg/s); server RSS ${m.rssMb.toFixed(0)} MB, peak ${m.peakMb.toFixed(0)} MB`);
    }
  } finally {
    target.close();
    await servers.stop();
  }
}

/** The SQS scenarios on the single node's SQS listener, each compared with its CMQ counterpart. */
async function runSqs(args: Args, want: (s: string) => boolean, node: ServerProc, run: (key: string, label: string, fn: () => Promise<LoadResult>) => Promise<Measured>): Promise<void> {
  if (!want('sqs-batch-send') && !want('sqs-receive-delete')) return;
  const sqs = new SqsTarget(node.sqsPort!);
  const cmq = new Target(node.id, node.port);
  const vsCmq = (m: Measured, cmqKey: string, perRequest: number): void => {
    const c = results.get(cmqKey);
    if (c === undefined) return;
    const ratio = m.messages / m.seconds / (c.messages / c.seconds);
    console.log(
      `  SQS / CMQ (${cmqKey}, ${perRequest} per request): ${ratio.toFixed(2)}x the msg/s, ` +
        `${(per100k(m.serverCpuS, m.messages) / per100k(c.serverCpuS, c.messages)).toFixed(2)}x the server CPU per 100k messages`,
    );
  };
  try {
    await sqsCreateQueue(sqs, 'sq');
    await createQueue(cmq, 'cq10');
    if (want('sqs-batch-send')) {
      // The CMQ API doing the same work (SQS batches hold at most 10): the like-for-like figure.
      report(await run('cmq-batch-send-10', `CMQ BatchSendMessage (${SQS_BATCH}/req, ${args.connections} conns)`, () => {
        const req = sendBatch('cq10', SQS_BATCH);
        return runFor(cmq, args.connections, args.durationS, async (c) => {
          await mustOk(c, req);
          return SQS_BATCH;
        });
      }));
      const m = await run('sqs-batch-send', `SQS SendMessageBatch (${SQS_BATCH}/req, ${args.connections} conns)`, () =>
        runFor(sqs, args.connections, args.durationS, (c) => sqsSendBatch(sqs, c, 'sq')),
      );
      report(m);
      vsCmq(m, 'cmq-batch-send-10', SQS_BATCH);
      vsCmq(m, 'batch-send', BATCH);
    }
    if (want('sqs-receive-delete')) {
      await ensureBacklog(cmq, 'cq10', RECEIVE_BACKLOG_PER_S.single, args.durationS);
      report(await run('cmq-receive-delete-10', `CMQ BatchReceiveMessage + BatchDeleteMessage (${SQS_BATCH}/req, ${args.connections} conns)`, () =>
        runFor(cmq, args.connections, args.durationS, (c) => receiveDeleteBatch(cmq, c, 'cq10', SQS_BATCH)),
      ));
      const want = RECEIVE_BACKLOG_PER_S.single * args.durationS;
      const have = await backlogOf(cmq, 'sq');
      if (have < want) {
        console.log(`  (preloading sq through SQS from ${have} to ${want} messages)`);
        await sqsFill(sqs, 'sq', want - have);
      }
      const m = await run('sqs-receive-delete', `SQS ReceiveMessage + DeleteMessageBatch (${SQS_BATCH}/req, ${args.connections} conns)`, () =>
        runFor(sqs, args.connections, args.durationS, (c) => sqsReceiveDelete(sqs, c, 'sq')),
      );
      report(m);
      vsCmq(m, 'cmq-receive-delete-10', SQS_BATCH);
      vsCmq(m, 'receive-delete', BATCH);
    }
  } finally {
    sqs.close();
    cmq.close();
  }
}

/** The 3-node set: load goes to the leader (the fast path); one run goes through a follower. */
async function runSet(args: Args, want: (s: string) => boolean, start: StartOptions): Promise<string> {
  console.log('\n== 3-node set on loopback (acknowledged after a majority fsync) ==');
  const servers = await startSet(start);
  let leaderProc = await agreedLeader(servers.nodes);
  let leader = new Target(leaderProc.id, leaderProc.port);
  const followers = (): ServerProc[] => servers.nodes.filter((n) => n !== leaderProc);
  console.log(`leader ${leaderProc.id} (:${leaderProc.port}); followers ${followers().map((n) => `${n.id} (:${n.port})`).join(', ')}`);
  /** Load must go to the current leader: after an election (CPU starvation can cause one), follow it. */
  const checkLeader = async (): Promise<void> => {
    if ((await leaderSeenBy(leaderProc)) === leaderProc.id) return;
    leader.close();
    leaderProc = await agreedLeader(servers.nodes);
    leader = new Target(leaderProc.id, leaderProc.port);
    console.log(`  WARNING: leadership moved to ${leaderProc.id}; the run before this line includes an election`);
  };
  // Elections under load are spurious (nothing failed): each raises the term. Counted over the
  // timed runs only, with the term before and after each.
  let elections = 0;
  let loadedMs = 0;
  const run = async (key: string, label: string, fn: () => Promise<LoadResult>): Promise<Measured> => {
    const termBefore = await highestTerm(servers.nodes);
    const started = Date.now();
    const linkBefore = await leaderLinkCounters(leaderProc);
    const m = await measure(key, label, servers.nodes, fn);
    report(m, leaderProc.id);
    reportLinks(linkBefore, await leaderLinkCounters(leaderProc), m.messages);
    loadedMs += Date.now() - started;
    elections += (await highestTerm(servers.nodes)) - termBefore;
    await checkLeader();
    return m;
  };
  try {
    for (const q of ['cbq', 'cmq', 'cfq']) await createQueue(leader, q);
    if (want('cluster-send')) await run('cluster-send', `set: batched send (${BATCH}/req, ${args.connections} conns)`, () => batchedSend(leader, 'cbq', args));
    if (want('cluster-recv')) {
      await ensureBacklog(leader, 'cbq', RECEIVE_BACKLOG_PER_S.set, args.durationS);
      await withLeaderReads(leaderProc.pid, () => run('cluster-recv', `set: batched receive+delete (${BATCH}/req, ${args.connections} conns)`, () => receiveDelete(leader, 'cbq', args)));
    }
    if (want('cluster-mixed')) {
      await run('cluster-mixed', `set: mixed ${args.connections / 2} senders + ${args.connections / 2} receivers`, () => mixed(leader, 'cmq', args));
      console.log(`  queued at the end of the mixed run: ${await backlogOf(leader, 'cmq')} messages`);
    }
    if (want('cluster-follower-send')) {
      const f = followers()[0]!;
      const follower = new Target(f.id, f.port);
      try {
        await run('cluster-follower-send', `set: batched send via follower ${f.id}`, () => batchedSend(follower, 'cfq', args));
      } finally {
        follower.close();
      }
    }
    if (want('cluster-send-latency')) {
      await createQueue(leader, 'clq');
      const goal = await latencyTarget(leader, 'clq', args);
      let r: OpenLoopResult | undefined;
      const m = await run('cluster-send-latency', `set: batched send, open loop at ${Math.round(goal.perS)} msg/s`, async () => (r = await openLoopSend(leader, 'clq', goal.perS, args)));
      reportOpenLoop(m, r!, goal);
    }
    if (want('cluster-send-unbatched')) {
      await createQueue(leader, 'cuq');
      await run('cluster-send-unbatched', `set: unbatched send (${UNBATCHED_CLIENTS} clients)`, () => unbatchedSend(leader, 'cuq', args));
    }
    if (want('cluster-recv-cold')) {
      await createQueue(leader, 'ccq');
      const t0 = performance.now();
      await fill(leader, 'ccq', args.coldBacklog - (await backlogOf(leader, 'ccq')));
      await evictRecentEntries(leader, 'ccw');
      console.log(`  (filled ccq to ${await backlogOf(leader, 'ccq')} messages and pushed them out of the servers' memory in ${((performance.now() - t0) / 1000).toFixed(0)} s, not timed)`);
      await checkLeader();
      const label = `set: batched receive+delete, cold backlog (${BATCH}/req, ${args.connections} conns)`;
      const m = await withLeaderReads(leaderProc.pid, () => run('cluster-recv-cold', label, () => receiveDelete(leader, 'ccq', args)));
      reportCold(m, await backlogOf(leader, 'ccq'));
    }
    const rss = servers.nodes.map((n) => `${n.id} ${readRss(n.pid).peakMb.toFixed(0)} MB`).join(', ');
    console.log(`server peak RSS: ${rss}`);
    console.log(`elections during the runs: ${elections} in ${(loadedMs / 1000).toFixed(0)} s under load (term went up ${elections} times; each is spurious: nothing failed)`);
  } finally {
    leader.close();
    await servers.stop();
  }
  return leaderProc.id;
}

/** The leader's writes and frames to its followers so far (servers started with --admin), else undefined. */
async function leaderLinkCounters(leader: ServerProc): Promise<{ writes: number; frames: number; bytes: number } | undefined> {
  const sums = await peerCounterSums(leader, ['opencmq_peer_writes_total', 'opencmq_peer_frames_sent_total', 'opencmq_peer_bytes_sent_total']);
  if (sums === undefined) return undefined;
  const [writes, frames, bytes] = sums as [number, number, number];
  return { writes, frames, bytes };
}

/** How the leader's traffic to its followers was batched over a run (with --admin). */
function reportLinks(before: { writes: number; frames: number; bytes: number } | undefined, after: typeof before, messages: number): void {
  if (before === undefined || after === undefined || messages === 0) return;
  const writes = after.writes - before.writes;
  const frames = after.frames - before.frames;
  const bytes = after.bytes - before.bytes;
  console.log(
    `  leader -> followers: ${((writes / messages) * 1000).toFixed(1)} socket writes and ${((frames / messages) * 1000).toFixed(1)} frames per 1,000 messages ` +
      `(${(frames / Math.max(1, writes)).toFixed(2)} frames, ${Math.round(bytes / Math.max(1, writes))} bytes per write)`,
  );
}

async function printProfile(dir: string, title: string): Promise<void> {
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) {
    console.log(`no CPU profile in ${dir}`);
    return;
  }
  console.log(`\n${title}`);
  for (const f of files) for (const line of summarizeCpuProfile(path.join(dir, f))) console.log(line);
}

async function main(): Promise<void> {
  const args = parse();
  const want = (s: string): boolean => (args.only ? args.only.has(s) : !(OPTIONAL_SCENARIOS as readonly string[]).includes(s));
  const [l1, l5] = os.loadavg();
  console.log(
    `opencmq bench: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, 1 KiB messages, ` +
      `${args.durationS} s per scenario, fsync ${args.fsync ? 'on' : 'OFF'}, TLS ${args.apiTls ? 'on (client API and peers)' : args.peerTls ? 'on the peer links only' : 'off'}, ${new Date().toISOString()}, ` +
      `load average before ${l1!.toFixed(2)} (1 min) ${l5!.toFixed(2)} (5 min)`,
  );
  const profDir = (mode: string): string | undefined => (args.cpuProfDir ? path.join(args.cpuProfDir, mode) : undefined);
  const heapDir = (mode: string): string | undefined => (args.heapSampleDir ? path.join(args.heapSampleDir, mode) : undefined);
  const gcDir = (mode: string): string | undefined => (args.gcStatsDir ? path.join(args.gcStatsDir, mode) : undefined);
  if (args.cpuProfDir) await mkdir(args.cpuProfDir, { recursive: true });
  let setLeader: string | undefined;
  if (args.apiTls) RawHttpConnection.tlsCa = await readFile(path.join(TLS_FIXTURES, 'ca.pem'));
  const tls = { apiTls: args.apiTls, peerTls: args.peerTls };
  if (SINGLE_SCENARIOS.some(want)) await runSingleNode(args, want, { fsync: args.fsync, ...tls, cpuProfDir: profDir('single'), heapSampleDir: heapDir('single'), gcStatsDir: gcDir('single'), admin: args.admin, serverArgs: args.serverArgs });
  if (SET_SCENARIOS.some(want)) setLeader = await runSet(args, want, { fsync: args.fsync, ...tls, cpuProfDir: profDir('set'), heapSampleDir: heapDir('set'), gcStatsDir: gcDir('set'), admin: args.admin, serverArgs: args.serverArgs });
  reportComparison();
  if (want('disk')) {
    await runDiskScenario(
      { loadS: args.diskS, settleS: args.diskSettleS, connections: args.connections },
      { fsync: args.fsync, ...tls, cpuProfDir: profDir('disk'), heapSampleDir: heapDir('disk'), gcStatsDir: gcDir('disk') },
    );
  }
  console.log(`\nload average after ${os.loadavg()[0]!.toFixed(2)} (1 min); ${new Date().toISOString()}`);
  if (args.cpuProfDir) {
    if (SINGLE_SCENARIOS.some(want)) await printProfile(path.join(args.cpuProfDir, 'single', 'n1'), 'CPU profile of the single node:');
    if (setLeader) await printProfile(path.join(args.cpuProfDir, 'set', setLeader), `CPU profile of the set's leader ${setLeader}:`);
  }
  if (args.gcStatsDir) await printGcStats(args.gcStatsDir, setLeader);
}

/** Each server's garbage collections over its whole life (written at its exit by gc-stats-preload). */
async function printGcStats(dir: string, setLeader: string | undefined): Promise<void> {
  console.log('\ngarbage collections per server (count, total pause):');
  for (const mode of ['single', 'set']) {
    for (const id of (await readdir(path.join(dir, mode)).catch(() => [])).sort()) {
      const text = await readFile(path.join(dir, mode, id, 'gc-stats.json'), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const stats = JSON.parse(text) as GcStats;
      const kinds = Object.entries(stats).map(([kind, s]) => `${kind} ${s.count} (${s.ms.toFixed(0)} ms)`);
      console.log(`  ${mode} ${id}${mode === 'set' && id === setLeader ? ' (leader)' : ''}: ${kinds.join(', ')}`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
