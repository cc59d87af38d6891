// The WAL under a full disk and I/O errors (injected at its hooks): a failed write, allocation or
// fsync leaves the append waiting (never resolved while not durable), is retried with the
// unsynced records written again, and completes once the fault clears; the log reopens intact.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DiskStall } from '../../src/storage/disk-stall';
import { ENTRY_KINDS, type LogEntry } from '../../src/storage/types';
import { SegmentedWal, WalFailedError, type WalHooks } from '../../src/storage/wal';

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'opencmq-walfull-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function entry(index: number, size = 500): LogEntry {
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = (index * 13 + i) & 0xff;
  return { index, term: 1, kind: ENTRY_KINDS[0]!, timeMs: 1_700_000_000_000 + index, metaLen: 0, payload };
}

function errno(code: string): Error {
  return Object.assign(new Error(`${code} (injected)`), { code });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Tracks whether a promise has settled, without awaiting it. */
function watch(p: Promise<void>): { settled: () => boolean; result: Promise<void> } {
  let done = false;
  const result = p.finally(() => {
    done = true;
  });
  result.catch(() => undefined);
  return { settled: () => done, result };
}

async function open(dir: string, hooks: WalHooks, lines: string[], segmentBytes = 64 * 1024): Promise<{ wal: SegmentedWal; stall: DiskStall }> {
  const log = (l: string): void => void lines.push(l);
  const stall = new DiskStall(log, { nodeId: 'n1', retryMs: 20 });
  const { wal } = await SegmentedWal.open(dir, { segmentBytes, fsync: true, log, hooks, stall });
  return { wal, stall };
}

async function readAll(dir: string): Promise<number[]> {
  const { wal } = await SegmentedWal.open(dir, { log: () => undefined });
  try {
    return (await wal.readEntries(1, wal.lastIndex())).map((e) => e.index);
  } finally {
    await wal.close();
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

void test('ENOSPC on a write: the append waits (not durable, not resolved), the stall is reported, and it completes once space returns', async () => {
  await withTempDir(async (dir) => {
    let full = false;
    const lines: string[] = [];
    const { wal, stall } = await open(dir, { beforeWrite: () => { if (full) throw errno('ENOSPC'); } }, lines);
    await wal.append([entry(1)]);
    full = true;
    const pending = watch(wal.append([entry(2), entry(3)]));
    await sleep(200);
    assert.equal(pending.settled(), false, 'nothing is acknowledged while the write keeps failing');
    assert.equal(wal.lastDurableIndex(), 1);
    const s = stall.current();
    assert.ok(s, 'the stall is visible');
    assert.equal(s.code, 'ENOSPC');
    assert.equal(s.step, 'write');
    assert.match(s.file, /wal-|\d{10}/);
    assert.match(stall.describe(s), /^disk full on n1 \(ENOSPC at write of .+\)$/);
    assert.ok(lines.some((l) => l.includes('STALLED') && l.includes('ENOSPC')), lines.join('\n'));
    // Appends made meanwhile queue behind it (the driver refuses new client writes up front).
    const later = watch(wal.append([entry(4)]));
    full = false;
    await pending.result;
    await later.result;
    assert.equal(wal.lastDurableIndex(), 4);
    assert.equal(stall.current(), undefined);
    assert.ok(lines.some((l) => l.includes('RECOVERED')), lines.join('\n'));
    assert.deepEqual((await wal.readEntries(1, 4)).map((e) => e.index), [1, 2, 3, 4]);
    await wal.close();
    assert.deepEqual(await readAll(dir), [1, 2, 3, 4]);
  });
});

void test('a failed fdatasync (EIO) is retried only after the unsynced records are written again', async () => {
  await withTempDir(async (dir) => {
    let failSync = false;
    const events: string[] = [];
    const lines: string[] = [];
    const { wal } = await open(
      dir,
      {
        beforeWrite: () => void events.push('write'),
        beforeDatasync: () => {
          events.push(failSync ? 'sync-fail' : 'sync');
          if (failSync) throw errno('EIO');
        },
      },
      lines,
    );
    await wal.append([entry(1)]);
    failSync = true;
    events.length = 0;
    const pending = watch(wal.append([entry(2)]));
    await sleep(200);
    assert.equal(pending.settled(), false);
    assert.equal(wal.lastDurableIndex(), 1);
    failSync = false;
    await pending.result;
    // Every sync attempt, failed or not, follows its own write of the records: a sync after a
    // failed one never stands in for writes whose pages the kernel may have dropped.
    const firstOk = events.indexOf('sync');
    assert.ok(events.filter((e) => e === 'sync-fail').length >= 2, events.join(','));
    for (let i = 0; i <= firstOk; i++) {
      if (events[i] !== 'write') assert.equal(events[i - 1], 'write', `sync at ${i} not preceded by a write: ${events.join(',')}`);
    }
    assert.ok(lines.some((l) => l.includes('disk I/O error') && l.includes('fdatasync')), lines.join('\n'));
    // The in-memory index agrees with the file after the retries.
    await wal.append([entry(3)]);
    assert.deepEqual((await wal.readEntries(1, 3)).map((e) => e.index), [1, 2, 3]);
    assert.equal(wal.locate(3)?.fileOffset, wal.locate(2)!.fileOffset + wal.locate(2)!.recordBytes);
    await wal.close();
    assert.deepEqual(await readAll(dir), [1, 2, 3]);
  });
});

void test('ENOSPC allocating the next segment at a rollover waits, then rolls over and keeps every entry', async () => {
  await withTempDir(async (dir) => {
    let full = false;
    const lines: string[] = [];
    const { wal, stall } = await open(dir, { beforeAllocate: () => { if (full) throw errno('ENOSPC'); } }, lines, 8 * 1024);
    await wal.append(range(1, 10).map((i) => entry(i)));
    full = true;
    // Enough to need several new segments.
    const pending = watch(wal.append(range(11, 60).map((i) => entry(i))));
    await sleep(200);
    assert.equal(pending.settled(), false);
    assert.ok(wal.lastDurableIndex() < 60);
    assert.match(stall.current()?.step ?? '', /^allocate/);
    full = false;
    await pending.result;
    assert.ok(wal.segments().length > 3);
    await wal.close();
    assert.deepEqual(await readAll(dir), range(1, 60));
  });
});

void test('a rename of the next segment that fails keeps the allocated file for the retry instead of allocating another', async () => {
  await withTempDir(async (dir) => {
    let renameFails = 0;
    let allocations = 0;
    const hooks: WalHooks = {
      beforeAllocate: () => void allocations++,
      beforeRename: () => {
        if (renameFails > 0) {
          renameFails--;
          throw errno('ENOSPC');
        }
      },
    };
    const { wal } = await open(dir, hooks, [], 8 * 1024);
    await wal.append(range(1, 10).map((i) => entry(i)));
    // Let the background preparation of the next segment finish first.
    await sleep(100);
    const before = allocations;
    renameFails = 5;
    await wal.append(range(11, 20).map((i) => entry(i)));
    assert.equal(renameFails, 0, 'the rename was retried');
    // One allocation at most: the successor of the new segment, prepared after the rollover.
    assert.ok(allocations - before <= 1, `${allocations - before} allocations during the failed renames`);
    await wal.close();
    assert.deepEqual(await readAll(dir), range(1, 20));
  });
});

void test('a new log opens on a full disk; its first segment is made when space returns', async () => {
  await withTempDir(async (dir) => {
    let full = true;
    const { wal } = await open(dir, { beforeAllocate: () => { if (full) throw errno('ENOSPC'); } }, []);
    assert.equal(wal.lastIndex(), 0);
    const pending = watch(wal.append([entry(1)]));
    await sleep(150);
    assert.equal(pending.settled(), false);
    full = false;
    await pending.result;
    await wal.close();
    assert.deepEqual(await readAll(dir), [1]);
  });
});

void test('a rollover cut short by a full disk leaves a sealed last segment; the log reopens on the still-full disk and resumes', async () => {
  await withTempDir(async (dir) => {
    let full = false;
    const hooks: WalHooks = { beforeAllocate: () => { if (full) throw errno('ENOSPC'); } };
    const first = await open(dir, hooks, [], 8 * 1024);
    await first.wal.append(range(1, 10).map((i) => entry(i)));
    full = true;
    const cut = watch(first.wal.append(range(11, 60).map((i) => entry(i))));
    await sleep(150);
    assert.equal(cut.settled(), false);
    const durable = first.wal.lastDurableIndex();
    await first.wal.close();
    await assert.rejects(cut.result, WalFailedError);

    const { wal } = await open(dir, hooks, [], 8 * 1024);
    const segs = wal.segments();
    assert.equal(segs[segs.length - 1]!.sealed, true, 'the last segment is sealed and no successor exists');
    assert.equal(wal.lastIndex(), segs[segs.length - 1]!.lastIndex);
    assert.ok(wal.lastIndex() >= durable);
    const next = wal.lastIndex() + 1;
    const resumed = watch(wal.append([entry(next)]));
    await sleep(150);
    assert.equal(resumed.settled(), false);
    full = false;
    await resumed.result;
    await wal.close();
    assert.deepEqual(await readAll(dir), range(1, next));
  });
});

void test('closing while stalled gives up the unsynced appends (rejected, never resolved) and does not hang', async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const { wal } = await open(dir, { beforeWrite: () => { throw errno('EDQUOT'); } }, lines);
    const pending = watch(wal.append([entry(1)]));
    await sleep(100);
    await wal.close();
    await assert.rejects(pending.result, WalFailedError);
  });
});

void test('an error that is not disk full or EIO still stops the log', async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const { wal, stall } = await open(dir, { beforeWrite: () => { throw errno('EBADF'); } }, lines);
    await assert.rejects(wal.append([entry(1)]), (err: Error) => err instanceof WalFailedError && /EBADF at write of/.test(err.message));
    assert.equal(stall.current(), undefined);
    await wal.close();
    assert.ok((await readdir(dir)).length >= 1);
  });
});
