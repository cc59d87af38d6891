// The servers a bench run drives: one `opencmq server` process, or a 3-node set of them on
// loopback, started exactly as users start them; plus the CPU time each process has used.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { RawHttpConnection } from './raw-http';
import { SERVER_NODE_FLAGS } from '../src/cli/node-flags';

// Relative to this compiled file, so a build into any outDir runs its own server.
const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const HEAP_SAMPLE_PRELOAD = path.join(__dirname, 'heap-sample-preload.js');
const GC_STATS_PRELOAD = path.join(__dirname, 'gc-stats-preload.js');
const SET_IDS = ['n1', 'n2', 'n3'] as const;
/** The committed test certificates (test/fixtures/tls): n1..n3 name their node and localhost. */
export const TLS_FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'tls');
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const LEADER_TIMEOUT_MS = 20_000;
/** Server error lines echoed to the bench's stderr, per server. */
const ERROR_LINES_SHOWN = 5;
/** Server output kept for error reports (the tail). */
const OUTPUT_KEEP_CHARS = 64 * 1024;

export interface ServerProc {
  id: string;
  pid: number;
  /** Client API port on 127.0.0.1. */
  port: number;
  child: ChildProcess;
  /** Its data directory (removed when the servers stop). */
  dataDir: string;
  output(): string;
  /** The admin listener's port on 127.0.0.1 when started with `admin`. */
  adminPort?: number;
  /** The SQS listener's port on 127.0.0.1 (single node only). */
  sqsPort?: number;
}

export interface BenchServers {
  nodes: ServerProc[];
  stop(): Promise<void>;
}

export interface StartOptions {
  fsync: boolean;
  /** HTTPS on the client API, with the test certificates. */
  apiTls?: boolean;
  /** Mutual TLS on the set's peer links (instead of the cluster secret), with the test certificates. */
  peerTls?: boolean;
  /** When set, each server runs with `--cpu-prof` and writes its profile to DIR/<node id>. */
  cpuProfDir?: string | undefined;
  /** When set, each server samples its allocations (heap-sample-preload.ts) into DIR/<node id>. */
  heapSampleDir?: string | undefined;
  /** When set, each server counts its garbage collections (gc-stats-preload.ts) into DIR/<node id>. */
  gcStatsDir?: string | undefined;
  /** Run each server with its admin listener (and so metrics collection) on a free port. */
  admin?: boolean;
  /** More `opencmq server` options for every server (e.g. `--segment-mb 4`). */
  serverArgs?: string[];
}

async function spawnServer(id: string, dataDir: string, extraArgs: string[], opts: StartOptions): Promise<ServerProc> {
  const adminPort = opts.admin ? await freePort() : undefined;
  const adminArgs = adminPort !== undefined ? ['--admin-port', String(adminPort)] : [];
  const nodeArgs = [...SERVER_NODE_FLAGS, ...(opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', path.join(opts.cpuProfDir, id)] : [])];
  if (opts.heapSampleDir) nodeArgs.push('--require', HEAP_SAMPLE_PRELOAD);
  if (opts.gcStatsDir) nodeArgs.push('--require', GC_STATS_PRELOAD);
  const tlsArgs = opts.apiTls ? ['--tls-cert', path.join(TLS_FIXTURES, `${id}.pem`), '--tls-key', path.join(TLS_FIXTURES, `${id}.key`)] : [];
  const args = [...nodeArgs, CLI, 'server', '--data-dir', dataDir, '--port', '0', ...(opts.fsync ? [] : ['--no-fsync']), ...tlsArgs, ...adminArgs, ...extraArgs, ...(opts.serverArgs ?? [])];
  const env = { ...process.env };
  delete env.OPENCMQ_SECRET_ID;
  delete env.OPENCMQ_SECRET_KEY;
  if (opts.heapSampleDir) env.OPENCMQ_BENCH_HEAP_SAMPLE_DIR = path.join(opts.heapSampleDir, id);
  if (opts.gcStatsDir) env.OPENCMQ_BENCH_GC_STATS_DIR = path.join(opts.gcStatsDir, id);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let shown = 0;
  const onOutput = (chunk: Buffer): void => {
    const text = chunk.toString();
    out = (out + text).slice(-OUTPUT_KEEP_CHARS);
    // Errors and event-loop stalls (which explain an election) must not go unnoticed behind a
    // figure, nor compaction copying during a run; the first few say enough.
    for (const line of text.split('\n')) {
      if (!/CORRUPTION|stopping|error|event loop held|compaction: relocated/i.test(line) || shown > ERROR_LINES_SHOWN) continue;
      shown++;
      process.stderr.write(shown > ERROR_LINES_SHOWN ? `[${id}] (more error lines not shown)\n` : `[${id}] ${line}\n`);
    }
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS);
    const onListening = (): void => {
      const m = /listening on https?:\/\/[^\s]+:(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stderr.off('data', onListening);
      child.off('exit', onExit);
      resolve({ id, pid: child.pid!, port: Number(m[1]), child, dataDir, output: () => out, ...(adminPort !== undefined ? { adminPort } : {}) });
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      reject(new Error(`server ${id} exited (${code ?? signal}) before listening:\n${out}`));
    };
    child.stderr.on('data', onListening);
    child.once('exit', onExit);
  });
}

async function stopAll(nodes: ServerProc[]): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      if (n.child.exitCode !== null || n.child.signalCode !== null) return;
      const exited = new Promise((r) => n.child.once('exit', r));
      n.child.kill('SIGTERM');
      const timer = setTimeout(() => n.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** The embedded default: a one-voter set. */
export async function startSingleNode(opts: StartOptions): Promise<BenchServers> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-bench-'));
  try {
    // The SQS listener on a free port (its default, 9324, may be taken on a shared machine).
    const sqsPort = await freePort();
    const node = { ...(await spawnServer('n1', dir, ['--sqs-port', String(sqsPort)], opts)), sqsPort };
    return {
      nodes: [node],
      stop: async () => {
        await stopAll([node]);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** A 3-node set on loopback: the same command line as `opencmq cluster start-local` runs. */
export async function startSet(opts: StartOptions): Promise<BenchServers> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'opencmq-bench-set-'));
  const secret = randomBytes(24).toString('hex');
  const raftPorts = new Map<string, number>();
  for (const id of SET_IDS) raftPorts.set(id, await freePort());
  const started: ServerProc[] = [];
  const stop = async (): Promise<void> => {
    await stopAll(started);
    await rm(root, { recursive: true, force: true });
  };
  // Wait for all three either way, so none is left running (or writing into root) on failure.
  const outcomes = await Promise.allSettled(
    SET_IDS.map(async (id) => {
      const peers = SET_IDS.flatMap((p) => (p === id ? [] : ['--peer', `${p}=127.0.0.1:${raftPorts.get(p)}`]));
      const security = opts.peerTls
        ? ['--peer-tls-cert', path.join(TLS_FIXTURES, `${id}.pem`), '--peer-tls-key', path.join(TLS_FIXTURES, `${id}.key`), '--peer-tls-ca', path.join(TLS_FIXTURES, 'ca.pem')]
        : ['--cluster-secret', secret];
      const args = ['--node-id', id, '--raft-port', String(raftPorts.get(id)), ...security, ...peers];
      started.push(await spawnServer(id, path.join(root, id), args, opts));
    }),
  );
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  started.sort((a, b) => a.id.localeCompare(b.id));
  return { nodes: started, stop };
}

// ---- cluster status ------------------------------------------------------------------------

interface NodeStatus {
  nodeId: string;
  role: string;
  leader: string;
  term: number;
}

const statusRequest = RawHttpConnection.request('Action=OpencmqClusterStatus');

async function statusOf(port: number): Promise<NodeStatus | undefined> {
  let conn: RawHttpConnection | undefined;
  try {
    conn = await RawHttpConnection.connect(port);
    const r = JSON.parse((await conn.send(statusRequest)).toString()) as Partial<NodeStatus> & { code: number };
    if (r.code !== 0) return undefined;
    return { nodeId: r.nodeId ?? '', role: r.role ?? '', leader: r.leader ?? '', term: r.term ?? 0 };
  } catch {
    return undefined;
  } finally {
    conn?.close();
  }
}

/** The leader every member agrees on (via `OpencmqClusterStatus`), waiting for an election. */
export async function agreedLeader(nodes: ServerProc[], timeoutMs = LEADER_TIMEOUT_MS): Promise<ServerProc> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const all = await Promise.all(nodes.map((n) => statusOf(n.port)));
    const leader = all.find((s) => s?.role === 'leader');
    if (leader && all.every((s) => s?.leader === leader.nodeId && s.term === leader.term)) {
      return nodes.find((n) => n.id === leader.nodeId)!;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no agreed leader after ${timeoutMs} ms`);
}

/** The highest term any node reports now: each election (won or not) raises it by one. */
export async function highestTerm(nodes: ServerProc[]): Promise<number> {
  const all = await Promise.all(nodes.map((n) => statusOf(n.port)));
  return Math.max(0, ...all.map((s) => s?.term ?? 0));
}

/** The leader as one node sees it right now ('' if none), to notice elections during a run. */
export async function leaderSeenBy(node: ServerProc): Promise<string> {
  return (await statusOf(node.port))?.leader ?? '';
}

// ---- CPU time --------------------------------------------------------------------------------

let clockTicks: number | undefined;

function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU seconds of a process, all its threads (libuv's fsync workers included). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond();
}

/** CPU seconds the whole machine spent busy (all CPUs, all processes) and stolen by the hypervisor. */
export function machineCpuSeconds(): { busy: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal ...
  const t = line.trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number): number => t[i] ?? 0;
  return { busy: (at(0) + at(1) + at(2) + at(5) + at(6)) / clockTicksPerSecond(), steal: at(7) / clockTicksPerSecond() };
}

/**
 * Bytes a process read through read calls (files, page cache hits included, and sockets) and
 * bytes it made the kernel fetch from the storage device (page cache misses).
 */
export function readIo(pid: number): { readCallBytes: number; deviceBytes: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const n = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(io)?.[1] ?? NaN);
  return { readCallBytes: n('rchar'), deviceBytes: n('read_bytes') };
}

export function readRss(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/**
 * For each name, the sum over peers of that per-peer counter on `server`'s /metrics (e.g.
 * opencmq_peer_writes_total), from one scrape; undefined when it runs without an admin listener.
 */
export async function peerCounterSums(server: ServerProc, names: readonly string[]): Promise<number[] | undefined> {
  if (server.adminPort === undefined) return undefined;
  const text = await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
  const sums = names.map(() => 0);
  for (const line of text.split('\n')) {
    const k = names.findIndex((n) => line.startsWith(`${n}{`));
    if (k >= 0) sums[k]! += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sums;
}
