// Peer transport throughput on loopback: two PeerTransports in two processes (as two nodes would
// be). One-way 17 KiB frames sent in batches per event-loop turn (MB/s, frames/s), then RPC round
// trips at a few concurrencies. Not a test: it prints figures for the lead to record.
//
//   node dist/bench/transport-bench.js [--duration S] [--frame-bytes N] [--batch N] [--concurrency 1,16,128] [--only oneway,rpc]

import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { PeerTransport } from '../src/transport';

const HOST = '127.0.0.1';
const SECRET = 'transport-bench cluster secret 0123456789';

type ToChild = { kind: 'peers'; port: number } | { kind: 'report' };
type FromChild = { kind: 'ready'; port: number } | { kind: 'connected' } | { kind: 'counts'; frames: number; bytes: number; cpuUs: number };

// ---- the receiving node (child process) ----------------------------------------------------------

async function receiver(): Promise<void> {
  const t = new PeerTransport({ nodeId: 'b', listen: { host: HOST, port: 0 }, peers: {}, clusterSecret: SECRET, log: () => {} });
  let frames = 0;
  let bytes = 0;
  t.onMessage((_from, _channel, payload) => {
    frames += 1;
    bytes += payload.length;
  });
  t.onRequest((_from, payload) => Promise.resolve(payload));
  const { port } = await t.start();
  const send = (m: FromChild): void => {
    process.send?.(m);
  };
  process.on('message', (m: ToChild) => {
    switch (m.kind) {
      case 'peers':
        t.setPeers({ a: { host: HOST, port: m.port } });
        return;
      case 'report': {
        const cpu = process.cpuUsage();
        send({ kind: 'counts', frames, bytes, cpuUs: cpu.user + cpu.system });
        return;
      }
    }
  });
  process.on('disconnect', () => void t.close().then(() => process.exit(0)));
  send({ kind: 'ready', port });
}

// ---- the sending node (this process) -------------------------------------------------------------

function ask(child: ChildProcess, message: ToChild, want: FromChild['kind']): Promise<FromChild> {
  return new Promise((resolve) => {
    const onMessage = (m: FromChild): void => {
      if (m.kind !== want) return;
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function cpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

async function oneWay(t: PeerTransport, child: ChildProcess, durationS: number, frameBytes: number, batch: number): Promise<void> {
  const payload = Buffer.alloc(frameBytes, 0x5a);
  const before = (await ask(child, { kind: 'report' }, 'counts')) as Extract<FromChild, { kind: 'counts' }>;
  const cpu0 = cpuUs();
  const t0 = performance.now();
  const end = t0 + durationS * 1000;
  let dropped = 0;
  while (performance.now() < end) {
    // Flow control as Raft would do it: keep a bounded amount in flight.
    if (t.queuedBytes('b') > 16 * 1024 * 1024) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    for (let i = 0; i < batch; i++) if (!t.send('b', 'raft', payload)) dropped += 1;
    await turn();
  }
  while (t.queuedBytes('b') > 0) await new Promise((r) => setTimeout(r, 1));
  const after = (await ask(child, { kind: 'report' }, 'counts')) as Extract<FromChild, { kind: 'counts' }>;
  const seconds = (performance.now() - t0) / 1000;
  const frames = after.frames - before.frames;
  const mb = (after.bytes - before.bytes) / 1e6;
  const writes = t.stats().peers.b!.writes;
  console.log(
    `one-way ${frameBytes}-byte frames, ${batch}/turn: ${(mb / seconds).toFixed(0)} MB/s, ${Math.round(frames / seconds)} frames/s ` +
      `(${frames} frames in ${seconds.toFixed(1)} s, ${dropped} dropped, ${writes} writes so far; ` +
      `CPU sender ${((cpuUs() - cpu0) / 1e6 / seconds * 100).toFixed(0)}%, receiver ${((after.cpuUs - before.cpuUs) / 1e6 / seconds * 100).toFixed(0)}%)`,
  );
}

async function rpc(t: PeerTransport, durationS: number, concurrency: number, payloadBytes: number): Promise<void> {
  const payload = Buffer.alloc(payloadBytes, 1);
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + durationS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          await t.request('b', payload);
          latencies.push(performance.now() - s);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((x, y) => x - y);
  const pct = (p: number): string => (latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN).toFixed(3);
  console.log(
    `rpc ${payloadBytes}-byte echo, concurrency ${String(concurrency).padStart(3)}: ${Math.round(latencies.length / seconds)} round trips/s, p50 ${pct(50)} ms, p99 ${pct(99)} ms${errors ? `, ${errors} errors` : ''}`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      'frame-bytes': { type: 'string', default: String(17 * 1024) },
      batch: { type: 'string', default: '64' },
      concurrency: { type: 'string', default: '1,16,128' },
      only: { type: 'string' },
    },
  });
  const durationS = Number(values.duration);
  const only = values.only ? new Set(values.only.split(',')) : undefined;
  const child = fork(__filename, ['--receiver'], { stdio: 'inherit' });
  const ready = (await new Promise<FromChild>((resolve) => child.once('message', resolve))) as Extract<FromChild, { kind: 'ready' }>;
  const t = new PeerTransport({ nodeId: 'a', listen: { host: HOST, port: 0 }, peers: { b: { host: HOST, port: ready.port } }, clusterSecret: SECRET, log: () => {} });
  const { port } = await t.start();
  child.send({ kind: 'peers', port } satisfies ToChild);
  while (!t.stats().peers.b!.connected) await new Promise((r) => setTimeout(r, 5));
  console.log(`transport bench: node ${process.version}, ${durationS} s per scenario, sender and receiver in separate processes`);
  try {
    if (!only || only.has('oneway')) await oneWay(t, child, durationS, Number(values['frame-bytes']), Number(values.batch));
    if (!only || only.has('rpc')) {
      for (const c of values.concurrency.split(',').map(Number)) await rpc(t, durationS, c, 100);
    }
  } finally {
    await t.close();
    child.disconnect();
  }
}

if (process.argv.includes('--receiver')) void receiver();
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
