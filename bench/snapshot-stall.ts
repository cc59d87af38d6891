// How long a snapshot of a large backlog holds the event loop. A state machine with N queued
// 1 KiB-message entries (batches of 16) is snapshotted exactly as a node does it (capture, pieces
// written to the snapshot store, live log segments marked) while a 1 ms timer keeps applying
// receives (which change chunks the capture still holds); the script prints the longest gap
// between two firings of that timer, then the same while the snapshot is loaded back.
//
//   npm run build && node dist/bench/snapshot-stall.js [N=4000000]

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { encodeCommand } from '../src/broker/codec';
import type { Command } from '../src/broker/commands';
import { QueueStateMachine } from '../src/broker/state-machine';
import { LiveSegments } from '../src/node/live-segments';
import { nodeSnapshotPieces } from '../src/node/node-snapshot';
import { SnapshotStore } from '../src/storage/snapshot-store';

const T0 = 1_700_000_000_000;

function apply(sm: QueueStateMachine, index: number, cmd: Command): void {
  const { payload, metaLen } = encodeCommand(cmd);
  sm.apply(index, T0 + index, payload, metaLen);
}

/** Runs `work` while a 1 ms timer applies `tick`; resolves with the work's duration and the longest gap between firings. */
async function watched(work: () => Promise<void>, tick: () => void): Promise<{ ms: number; longestGapMs: number; ticks: number }> {
  let last = performance.now();
  let longest = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    ticks++;
    tick();
  }, 1);
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  clearInterval(timer);
  return { ms, longestGapMs: Math.max(longest, performance.now() - last), ticks };
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 4_000_000);
  const sm = new QueueStateMachine();
  let index = 0;
  apply(sm, ++index, { kind: 'createQueue', queueName: 'big', attrs: { visibilityTimeout: 3600 } });
  const bodies = Array.from({ length: 16 }, (_, i) => Buffer.alloc(1024, i));
  for (let sent = 0; sent < total; sent += 16) apply(sm, ++index, { kind: 'sendMessages', queueName: 'big', delaySeconds: 0, bodies });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-snapstall-'));
  try {
    const store = await SnapshotStore.open(dir);
    const receive = (): void => apply(sm, ++index, { kind: 'receiveMessages', queueName: 'big', numOfMsg: 16, seed: index });
    // A log of 64 MiB segments of 1,000 entries each, as the spans a node would pass.
    const spans = Array.from({ length: Math.ceil(index / 1000) }, (_, k) => ({ firstIndex: k * 1000 + 1, lastIndex: (k + 1) * 1000 }));
    const snapIndex = sm.lastAppliedIndex;
    let bytes = 0;
    const save = await watched(async () => {
      const live = new LiveSegments(spans);
      const capture = sm.beginSnapshot((e) => live.add(e));
      bytes = capture.size;
      await store.save({ index: snapIndex, term: 1 }, nodeSnapshotPieces({ voters: ['n1'], addresses: {} }, capture));
    }, receive);
    const load = await watched(async () => {
      await store.loadLatest();
    }, () => undefined);
    const mb = (bytes / 1e6).toFixed(0);
    console.log(`${total} messages queued, snapshot ${mb} MB`);
    console.log(`take and save: ${save.ms.toFixed(0)} ms, event loop held at most ${save.longestGapMs.toFixed(1)} ms (${save.ticks} receives applied meanwhile)`);
    console.log(`load and verify: ${load.ms.toFixed(0)} ms, event loop held at most ${load.longestGapMs.toFixed(1)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
