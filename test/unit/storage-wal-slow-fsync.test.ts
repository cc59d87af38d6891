// A slow fdatasync (every acknowledged write waits for it) is logged as a warning with its
// duration, above STORAGE_LIMITS.slowFsyncWarnMs; the delay is injected through the WAL's hooks.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { STORAGE_LIMITS } from '../../src/storage/limits';
import { ENTRY_KINDS, type LogEntry } from '../../src/storage/types';
import { SegmentedWal, type WalOptions } from '../../src/storage/wal';
import { captureLogger } from '../helpers/capture-logger';

function entry(index: number): LogEntry {
  return { index, term: 1, kind: ENTRY_KINDS[0]!, timeMs: 1_700_000_000_000 + index, metaLen: 0, payload: new Uint8Array(64).fill(index & 0xff) };
}

/** Blocks the thread for `ms` (the hook is synchronous): the fsync it precedes takes that much longer. */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function appendWith(opts: WalOptions, entries: number): Promise<ReturnType<typeof captureLogger>['lines']> {
  const dir = await mkdtemp(join(tmpdir(), 'opencmq-slow-fsync-'));
  const log = captureLogger();
  try {
    const { wal } = await SegmentedWal.open(dir, { segmentBytes: 64 * 1024, fsync: true, log, ...opts });
    for (let i = 1; i <= entries; i++) await wal.append([entry(i)]);
    await wal.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return log.lines.filter((l) => l.msg.startsWith('slow fdatasync'));
}

test('an fdatasync slower than the threshold is a warning with its duration and segment', async () => {
  const delay = STORAGE_LIMITS.slowFsyncWarnMs + 100;
  const slow = await appendWith({ hooks: { beforeDatasync: () => stall(delay) } }, 2);
  assert.ok(slow.length >= 1, 'logged');
  const line = slow[0]!;
  assert.equal(line.level, 'warn');
  assert.equal(line.component, 'wal');
  assert.ok(Number(line.fields?.['durationMs']) >= delay, JSON.stringify(line));
  assert.match(String(line.fields?.['segment']), /\S/);
});

test('fsyncs under the threshold are not logged', async () => {
  // The same injected delay, under a threshold far above it: nothing (a loaded machine's real
  // fsync stays far below 30 s too).
  const quiet = await appendWith({ hooks: { beforeDatasync: () => stall(150) }, slowFsyncWarnMs: 30_000 }, 2);
  assert.deepEqual(quiet, []);
});

test('a disk that stays slow is reported a few times a minute, not once per write', async () => {
  const many = STORAGE_LIMITS.slowFsyncLogsPerMinute + 4;
  const slow = await appendWith({ hooks: { beforeDatasync: () => stall(2) }, slowFsyncWarnMs: 0 }, many);
  assert.equal(slow.length, STORAGE_LIMITS.slowFsyncLogsPerMinute);
});
