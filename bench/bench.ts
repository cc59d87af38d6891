// `npm run bench`: single-node throughput and latency with 1 KiB messages, plus the server's
// memory for a large backlog. The server runs in its own process (as users run it); this process
// is the load generator. Not a test: it prints figures for docs/BENCHMARKS.md.
//
//   npm run bench -- [--duration S] [--backlog N] [--only a,b] [--no-fsync] [--quick]

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

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

// ---- HTTP load generation --------------------------------------------------------------------

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
let port = 0;

function call(params: string): Promise<Record<string, unknown>> {
  const data = Buffer.from(params);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/', method: 'POST', agent, headers: { 'Content-Length': data.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>);
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const enc = encodeURIComponent;
const sendOne = (q: string): string => `Action=SendMessage&queueName=${q}&msgBody=${BODY}`;
const sendBatchParams = (q: string, n: number): string => {
  let s = `Action=BatchSendMessage&queueName=${q}`;
  for (let i = 1; i <= n; i++) s += `&msgBody.${i}=${BODY}`;
  return s;
};

interface Result {
  name: string;
  messages: number;
  seconds: number;
  latenciesMs: number[];
  errors: number;
}

/** Run `workers` loops of `op` for `durationS`; op returns the messages it handled. */
async function runFor(name: string, workers: number, durationS: number, op: () => Promise<number>): Promise<Result> {
  const latencies: number[] = [];
  let messages = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + durationS * 1000;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          const n = await op();
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

async function receiveDeleteBatch(q: string): Promise<number> {
  const r = await call(`Action=BatchReceiveMessage&queueName=${q}&numOfMsg=16&pollingWaitSeconds=0`);
  if (r.code !== 0) return 0;
  const list = r.msgInfoList as { receiptHandle: string }[];
  let p = `Action=BatchDeleteMessage&queueName=${q}`;
  list.forEach((m, i) => (p += `&receiptHandle.${i + 1}=${enc(m.receiptHandle)}`));
  const d = await call(p);
  if (d.code !== 0) throw new Error(`delete failed: ${JSON.stringify(d)}`);
  return list.length;
}

async function createQueue(q: string): Promise<void> {
  const r = await call(`Action=CreateQueue&queueName=${q}&maxMsgHeapNum=100000000&visibilityTimeout=300&maxMsgSize=65536`);
  if (r.code !== 0) throw new Error(JSON.stringify(r));
}

async function backlogOf(q: string): Promise<number> {
  const r = await call(`Action=GetQueueAttributes&queueName=${q}`);
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
    if (want('batch-send')) report(await runFor('batched send (16/req, 32 conns)', 32, args.durationS, async () => {
      const r = await call(sendBatchParams('bq', 16));
      if (r.code !== 0) throw new Error(JSON.stringify(r));
      return 16;
    }));
    if (want('send')) report(await runFor('unbatched send (64 clients)', 64, args.durationS, async () => {
      const r = await call(sendOne('uq'));
      if (r.code !== 0) throw new Error(JSON.stringify(r));
      return 1;
    }));
    if (want('receive-delete')) {
      const have = await backlogOf('bq');
      console.log(`  (receive+delete drains the ${have} messages left by batched send)`);
      report(await runFor('batched receive+delete (16/req, 32 conns)', 32, args.durationS, () => receiveDeleteBatch('bq')));
    }
    if (want('mixed')) {
      report(await runFor('mixed: 16 senders + 16 receivers (batch 16)', 32, args.durationS, (() => {
        let i = 0;
        return async () => {
          if (i++ % 2 === 0) {
            const r = await call(sendBatchParams('mq', 16));
            if (r.code !== 0) throw new Error(JSON.stringify(r));
            return 16;
          }
          return receiveDeleteBatch('mq');
        };
      })()));
    }
    const mem = readRss(pid);
    console.log(`server RSS now ${mem.rssMb.toFixed(0)} MB, peak ${mem.peakMb.toFixed(0)} MB`);
    if (want('backlog')) {
      await createQueue('backlog');
      const t0 = performance.now();
      let sent = 0;
      await Promise.all(Array.from({ length: 32 }, async () => {
        while (sent < args.backlog) {
          sent += 16;
          const r = await call(sendBatchParams('backlog', 16));
          if (r.code !== 0) throw new Error(JSON.stringify(r));
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
    agent.destroy();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
