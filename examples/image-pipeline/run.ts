// The image pipeline demo: an opencmq server in a temp dir, a producer putting image jobs on
// `image-requests`, three worker processes consuming them, and a collector reading
// `image-results`. One worker is SIGKILLed while it holds a job; that job comes back after the
// 2 s visibility timeout and another worker finishes it. Exits 0 only if every job is done.
//
// Usage: node dist/examples/image-pipeline/run.js [--jobs N] [--verbose]

import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CmqClient, Consumer } from '../../src/client';
import { startServer } from '../../src/node/server';
import {
  REQUEST_QUEUE,
  REQUEST_VISIBILITY_TIMEOUT_SECONDS,
  RESULT_QUEUE,
  makeJob,
  type ImageResult,
  type SupervisorCommand,
  type WorkerReport,
} from './jobs';

const WORKER_COUNT = 3;
const DEADLINE_MS = 60_000;
/** The supervisor kills a worker when it starts a job after this many results are in. */
const KILL_AFTER_RESULTS = 3;

interface Kill {
  worker: string;
  imageId: string;
  delivery: number;
  atMs: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function command(child: ChildProcess, cmd: SupervisorCommand): void {
  if (child.connected) child.send(cmd);
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { jobs: { type: 'string' }, verbose: { type: 'boolean' } } });
  const jobCount = Number(values.jobs ?? 12);
  if (!Number.isInteger(jobCount) || jobCount < WORKER_COUNT + KILL_AFTER_RESULTS) {
    console.error(`--jobs must be an integer >= ${WORKER_COUNT + KILL_AFTER_RESULTS}`);
    return 2;
  }
  const verbose = values.verbose === true;
  const log = (line: string): void => {
    if (verbose) console.log(`  · ${line}`);
  };
  const started = Date.now();

  const dataDir = await mkdtemp(path.join(tmpdir(), 'opencmq-image-pipeline-'));
  const server = await startServer({ dataDir, host: '127.0.0.1', port: 0, credentials: [], insecureNoAuth: false, log: (l) => log(`server: ${l}`) }).catch(
    async (err: unknown) => {
      await rm(dataDir, { recursive: true, force: true });
      throw err;
    },
  );
  const client = new CmqClient({ endpoint: server.url });
  const workers = new Map<string, ChildProcess>();
  let collector: Consumer | undefined;

  try {
    console.log(`image pipeline: ${jobCount} jobs, ${WORKER_COUNT} workers, visibility timeout ${REQUEST_VISIBILITY_TIMEOUT_SECONDS} s, server ${server.url}`);
    await client.createQueue(REQUEST_QUEUE, { visibilityTimeout: REQUEST_VISIBILITY_TIMEOUT_SECONDS, pollingWaitSeconds: 1 });
    await client.createQueue(RESULT_QUEUE, { visibilityTimeout: 30 });

    // ---- collector: records the first result per image, reports any duplicate ----
    const done = new Map<string, ImageResult>();
    const duplicates: ImageResult[] = [];
    let allDone: () => void = () => undefined;
    const allDonePromise = new Promise<void>((resolve) => (allDone = resolve));
    collector = new Consumer(client, {
      queueName: RESULT_QUEUE,
      concurrency: 4,
      batchSize: 16,
      pollingWaitSeconds: 1,
      onError: (err) => console.error(`collector: ${String(err)}`),
      handler: (msg) => {
        const r = JSON.parse(msg.body) as ImageResult;
        if (done.has(r.imageId)) duplicates.push(r);
        else done.set(r.imageId, r);
        log(`result ${r.imageId} from ${r.worker} (delivery ${r.delivery})`);
        if (done.size === jobCount) allDone();
      },
    });
    collector.start();

    // ---- workers: child processes, one of which will be killed mid-job ----
    let kill: Kill | undefined;
    const ready = new Set<string>();
    let allReady: () => void = () => undefined;
    const allReadyPromise = new Promise<void>((resolve) => (allReady = resolve));
    for (let i = 1; i <= WORKER_COUNT; i++) {
      const name = `worker-${i}`;
      const child = fork(path.join(__dirname, 'worker.js'), [server.url, name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.set(name, child);
      child.on('message', (m: WorkerReport) => {
        switch (m.type) {
          case 'ready':
            ready.add(m.worker);
            if (ready.size === WORKER_COUNT) allReady();
            break;
          case 'started':
            log(`${m.worker} started ${m.imageId} (delivery ${m.delivery})`);
            if (kill === undefined && done.size >= KILL_AFTER_RESULTS) {
              // The worker holds the job (received, not deleted) and is waiting for our go: kill it now.
              kill = { worker: m.worker, imageId: m.imageId, delivery: m.delivery, atMs: Date.now() };
              child.kill('SIGKILL');
              console.log(`killed ${m.worker} (SIGKILL) while it held ${m.imageId} (delivery ${m.delivery})`);
            } else {
              command(child, { type: 'go', imageId: m.imageId });
            }
            break;
        }
      });
    }
    await Promise.race([allReadyPromise, sleep(15_000)]);
    if (ready.size < WORKER_COUNT) throw new Error(`only ${ready.size} of ${WORKER_COUNT} workers started`);

    // ---- producer ----
    const jobs = Array.from({ length: jobCount }, (_, i) => makeJob(i));
    for (let i = 0; i < jobs.length; i += 16) {
      await client.batchSendMessage(
        REQUEST_QUEUE,
        jobs.slice(i, i + 16).map((j) => JSON.stringify(j)),
      );
    }
    console.log(`produced ${jobCount} jobs on ${REQUEST_QUEUE}`);

    const finished = await Promise.race([allDonePromise.then(() => true), sleep(DEADLINE_MS).then(() => false)]);
    const elapsedS = ((Date.now() - started) / 1000).toFixed(1);

    // ---- summary ----
    const perWorker = new Map<string, number>([...workers.keys()].map((w) => [w, 0]));
    for (const r of done.values()) perWorker.set(r.worker, (perWorker.get(r.worker) ?? 0) + 1);
    console.log('results per worker:');
    for (const [w, n] of perWorker) console.log(`  ${w}: ${n} job${n === 1 ? '' : 's'}${kill?.worker === w ? ' (killed)' : ''}`);
    if (kill === undefined) {
      console.log('no worker was killed (too few jobs?)');
    } else {
      const r = done.get(kill.imageId);
      if (r === undefined) console.log(`NOT redelivered: ${kill.imageId} has no result`);
      else if (r.worker === kill.worker) console.log(`NOT redelivered: ${kill.imageId} was finished by ${kill.worker} before the kill landed`);
      else {
        const afterS = ((r.finishedAtMs - kill.atMs) / 1000).toFixed(1);
        console.log(
          `redelivered: ${kill.imageId} (${kill.worker} was killed holding it; done by ${r.worker} on delivery ${r.delivery}, ${afterS} s after the kill)`,
        );
      }
    }
    console.log(
      duplicates.length === 0
        ? 'duplicates: none'
        : `duplicates: ${duplicates.map((d) => `${d.imageId} (again by ${d.worker}, delivery ${d.delivery})`).join(', ')}`,
    );
    if (!finished) {
      const missing = jobs.filter((j) => !done.has(j.imageId)).map((j) => j.imageId);
      console.log(`FAILED: ${missing.length} of ${jobCount} jobs have no result after ${DEADLINE_MS / 1000} s: ${missing.join(', ')}`);
      return 1;
    }
    console.log(`all ${jobCount} jobs done, each recorded once, in ${elapsedS} s`);
    return 0;
  } finally {
    await collector?.stop({ abortReceive: true });
    await stopWorkers(workers);
    client.close();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Asks live workers to stop, and kills any that have not exited within 5 s. */
async function stopWorkers(workers: Map<string, ChildProcess>): Promise<void> {
  await Promise.all(
    [...workers.values()].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      command(child, { type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('image pipeline failed:', err);
    process.exit(1);
  },
);
