// `npm run bench`: single-node throughput and latency with 1 KiB messages, plus the server's
// memory for a large backlog. The server runs in its own process (as users run it); this process
// is the load generator. Not a test: it prints figures for docs/BENCHMARKS.md.
//
//   npm run bench -- [--duration S] [--backlog N] [--only a,b] [--no-fsync] [--quick]

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { isOk, RawHttpConnection } from './raw-http';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const BODY = 'x'.repeat(1024);

interface Args {
  durationS: number;
  backlog: number;
  only: Set<string> | undefined;
  fsync: boolean;
}

function parse(): Args {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      backlog: { type: 'string', default: '1000000' },
      only: { type: 'string' },
      'no-fsync': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
    },
  });
  const quick = values.quick === true;
  return {
    durationS: quick ? 2 : Number(values.duration),
    backlog: quick ? 20_000 : Number(values.backlog),
    only: values.only ? new Set(values.only.split(',')) : undefined,
    fsync: !values['no-fsync'],
  };
}

// ---- load generation ------------------------------------------------------------------------

let port = 0;
const pool: RawHttpConnection[] = [];

/** A connection per worker; connections are reused across scenarios. */
async function connection(i: number): Promise<RawHttpConnection> {
  while (pool.length <= i) pool.push(await RawHttpConnection.connect(port));
  return pool[i]!;
}

async function call(conn: RawHttpConnection, request: Buffer): Promise<Record<string, unknown>> {
  return JSON.parse((await conn.send(request)).toString()) as Record<string, unknown>;
}

async function mustOk(conn: RawHttpConnection, request: Buffer): Promise<void> {
  const body = await conn.send(request);
  if (!isOk(body)) throw new Error(body.toString());
}

const sendOne = (q: string): Buffer => RawHttpConnection.request(`Action=SendMessage&queueName=${q}&msgBody=${BODY}`);
const sendBatch = (q: string, n: number): Buffer => {
  let s = `Action=BatchSendMessage&queueName=${q}`;
  for (let i = 1; i <= n; i++) s += `&msgBody.${i}=${BODY}`;
  return RawHttpConnection.request(s);
};

interface Result {
  name: string;
  messages: number;
  seconds: number;
  latenciesMs: number[];
  errors: number;
}

/** Run `workers` loops of `op` for `durationS`; op returns the messages it handled. */
async function runFor(
  name: string,
  workers: number,
  durationS: number,
  op: (conn: RawHttpConnection, worker: number) => Promise<number>,
): Promise<Result> {
  const latencies: number[] = [];
  let messages = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + durationS * 1000;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const conn = await connection(w);
      while (performance.now() < end) {
        const s = performance.now();
        try {
          const n = await op(conn, w);
          messages += n;
          latencies.push(performance.now() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  return { name, messages, seconds: (performance.now() - t0) / 1000, latenciesMs: latencies, errors };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function report(r: Result): void {
  const sorted = r.latenciesMs.sort((a, b) => a - b);
  const rate = r.messages / r.seconds;
  console.log(
    `${r.name.padEnd(34)} ${Math.round(rate).toString().padStart(9)} msg/s   p50 ${pct(sorted, 50).toFixed(2).padStart(7)} ms   p99 ${pct(sorted, 99).toFixed(2).padStart(7)} ms   requests ${sorted.length}${r.errors ? `   errors ${r.errors}` : ''}`,
  );
}

const receiveRequests = new Map<string, Buffer>();

async function receiveDeleteBatch(conn: RawHttpConnection, q: string): Promise<number> {
  let req = receiveRequests.get(q);
  if (!req) receiveRequests.set(q, (req = RawHttpConnection.request(`Action=BatchReceiveMessage&queueName=${q}&numOfMsg=16&pollingWaitSeconds=0`)));
  const r = await call(conn, req);
  if (r.code !== 0) return 0;
  const list = r.msgInfoList as { receiptHandle: string }[];
  let p = `Action=BatchDeleteMessage&queueName=${q}`;
  list.forEach((m, i) => (p += `&receiptHandle.${i + 1}=${encodeURIComponent(m.receiptHandle)}`));
  await mustOk(conn, RawHttpConnection.request(p));
  return list.length;
}

async function createQueue(q: string): Promise<void> {
  const conn = await connection(0);
  await mustOk(conn, RawHttpConnection.request(`Action=CreateQueue&queueName=${q}&maxMsgHeapNum=100000000&visibilityTimeout=300&maxMsgSize=65536`));
}

async function backlogOf(q: string): Promise<number> {
  const r = await call(await connection(0), RawHttpConnection.request(`Action=GetQueueAttributes&queueName=${q}`));
  return r.activeMsgNum as number;
}

// ---- server process ----------------------------------------------------------------------

function readRss(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

async function startServer(dataDir: string, fsync: boolean): Promise<ChildProcess> {
  const args = [CLI, 'server', '--data-dir', dataDir, '--port', '0', ...(fsync ? [] : ['--no-fsync'])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on http:\/\/[^\s]+:(\d+)/.exec(out);
      if (m && port === 0) {
        port = Number(m[1]);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return child;
}

async function main(): Promise<void> {
  const args = parse();
  const want = (s: string): boolean => !args.only || args.only.has(s);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-bench-'));
  const server = await startServer(dataDir, args.fsync);
  const pid = server.pid!;
  console.log(`opencmq bench: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, ` +
    `1 KiB messages, ${args.durationS} s per scenario, fsync ${args.fsync ? 'on' : 'OFF'}, ${new Date().toISOString()}`);
  try {
    await createQueue('bq');
    await createQueue('uq');
    await createQueue('mq');
    const bqSend = sendBatch('bq', 16);
    const uqSend = sendOne('uq');
    const mqSend = sendBatch('mq', 16);
    const backlogSend = sendBatch('backlog', 16);
    if (want('batch-send')) report(await runFor('batched send (16/req, 32 conns)', 32, args.durationS, async (c) => {
      await mustOk(c, bqSend);
      return 16;
    }));
    if (want('send')) report(await runFor('unbatched send (64 clients)', 64, args.durationS, async (c) => {
      await mustOk(c, uqSend);
      return 1;
    }));
    if (want('receive-delete')) {
      const have = await backlogOf('bq');
      console.log(`  (receive+delete drains the ${have} messages left by batched send)`);
      report(await runFor('batched receive+delete (16/req, 32 conns)', 32, args.durationS, (c) => receiveDeleteBatch(c, 'bq')));
    }
    if (want('mixed')) {
      report(await runFor('mixed: 16 senders + 16 receivers (batch 16)', 32, args.durationS, async (c, w) => {
        if (w % 2 === 0) {
          await mustOk(c, mqSend);
          return 16;
        }
        return receiveDeleteBatch(c, 'mq');
      }));
    }
    const mem = readRss(pid);
    console.log(`server RSS now ${mem.rssMb.toFixed(0)} MB, peak ${mem.peakMb.toFixed(0)} MB`);
    if (want('backlog')) {
      await createQueue('backlog');
      const t0 = performance.now();
      let sent = 0;
      await Promise.all(Array.from({ length: 32 }, async (_, w) => {
        const c = await connection(w);
        while (sent < args.backlog) {
          sent += 16;
          await mustOk(c, backlogSend);
        }
      }));
      const s = (performance.now() - t0) / 1000;
      const n = await backlogOf('backlog');
      global.gc?.();
      await new Promise((r) => setTimeout(r, 2000));
      const m = readRss(pid);
      console.log(`backlog: ${n} messages queued in ${s.toFixed(1)} s (${Math.round(n / s)} msg/s); server RSS ${m.rssMb.toFixed(0)} MB, peak ${m.peakMb.toFixed(0)} MB`);
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    for (const c of pool) c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
