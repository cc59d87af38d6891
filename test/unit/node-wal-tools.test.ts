// wal verify / salvage on logs written by SegmentedWal with small segments, so damage lands in
// sealed segments, in seals and next to reclamation holes: the read-only map agrees with what a
// start does, and salvage writes a contiguous log (no-op for an unreadable entry, holes kept)
// that opens cleanly and holds every readable entry unchanged.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { salvageDataDir } from '../../src/node/wal-salvage';
import { VERIFY_EXIT, verifyDataDir } from '../../src/node/wal-verify';
import type { LogEntry } from '../../src/storage/types';
import { SegmentedWal } from '../../src/storage/wal';
import { HEADER_BYTES, SEAL_BYTES } from '../../src/storage/wal-format';
import { inspectWal } from '../../src/storage/wal-inspect';

const SEGMENT_BYTES = 4096;
const quiet = { log: (): void => undefined, segmentBytes: SEGMENT_BYTES };

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'opencmq-waltools-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function entry(index: number, term = 1): LogEntry {
  const payload = Buffer.alloc(300, index & 0xff);
  return { index, term, kind: 'command', timeMs: 1_700_000_000_000 + index, metaLen: 20, payload };
}

/** Writes entries 1..n (terms from `termOf`) into dataDir/wal and closes it. */
async function writeLog(dataDir: string, n: number, termOf: (i: number) => number = () => 1): Promise<void> {
  const { wal } = await SegmentedWal.open(join(dataDir, 'wal'), quiet);
  for (let i = 1; i <= n; i++) await wal.append([entry(i, termOf(i))]);
  await wal.close();
}

async function segmentFiles(dataDir: string): Promise<string[]> {
  return (await readdir(join(dataDir, 'wal'))).filter((n) => n.endsWith('.wal')).sort();
}

async function flipAt(file: string, offset: number): Promise<void> {
  const buf = await readFile(file);
  buf[offset] = buf[offset]! ^ 0xff;
  await writeFile(file, buf);
}

async function readAll(walDir: string): Promise<{ report: Awaited<ReturnType<typeof SegmentedWal.open>>['report']; entries: LogEntry[] }> {
  const { wal, report } = await SegmentedWal.open(walDir, quiet);
  try {
    const entries: LogEntry[] = [];
    for await (const e of wal.entriesFrom(report.firstIndex)) entries.push({ ...e, payload: Buffer.from(e.payload) });
    return { report, entries };
  } finally {
    await wal.close();
  }
}

test('a damaged record header in a sealed segment: start refuses, verify names the one entry, salvage puts a no-op there', async () => {
  await withTempDir(async (root) => {
    const src = join(root, 'src');
    await writeLog(src, 40, (i) => (i <= 20 ? 1 : 2));
    const files = await segmentFiles(src);
    assert.ok(files.length >= 3, `small segments roll over: ${files.join(', ')}`);
    // Damage the 3rd record of the second segment (its first index is in the name).
    const second = join(src, 'wal', files[1]!);
    const firstOfSecond = Number(files[1]!.slice(0, 20));
    const inspected = await inspectWal(join(src, 'wal'));
    const rec = inspected.segments[1]!.records[2]!;
    await flipAt(second, rec.offset + 17); // the term field, covered by the header CRC
    const victim = firstOfSecond + 2;

    await assert.rejects(SegmentedWal.open(join(src, 'wal'), quiet), /WalCorruption|followed by later segments/);
    const { report } = await verifyDataDir(src);
    assert.equal(report.exitCode, VERIFY_EXIT.refuses);
    assert.equal(report.verdict, 'refuse');
    assert.equal(report.headerDamage.length, 1);
    assert.equal(report.headerDamage[0]!.firstIndex, victim);
    assert.equal(report.headerDamage[0]!.lastIndex, victim);
    assert.equal(report.headerDamage[0]!.startOffset, rec.offset);
    assert.ok(report.headerDamage[0]!.blocksStart);
    assert.equal(report.segments[1]!.status, 'damaged');
    assert.equal(report.segments[0]!.status, 'ok');
    // Entries after the damage in the same segment were still found.
    assert.equal(report.segments[1]!.lastIndex, Number(files[2]!.slice(0, 20)) - 1);

    const out = join(root, 'out');
    const salvage = await salvageDataDir(src, out, { segmentBytes: SEGMENT_BYTES });
    assert.deepEqual(salvage.replacedByNoop.map((n) => n.index), [victim]);
    assert.equal(salvage.replacedByNoop[0]!.termKnown, victim <= 20 || victim > 21);
    const { entries } = await readAll(join(out, 'wal'));
    assert.deepEqual(entries.map((e) => e.index), Array.from({ length: 40 }, (_, k) => k + 1), 'contiguous');
    for (const e of entries) {
      if (e.index === victim) {
        assert.equal(e.kind, 'noop');
        assert.equal(e.payload.length, 0);
        continue;
      }
      const want = entry(e.index, e.index <= 20 ? 1 : 2);
      assert.equal(e.term, want.term);
      assert.equal(e.timeMs, want.timeMs);
      assert.deepEqual(Buffer.from(e.payload), Buffer.from(want.payload));
    }
    assert.equal((await verifyDataDir(out)).report.exitCode, VERIFY_EXIT.ok);
  });
});

test('a damaged seal alone: start refuses, but no entry is lost and salvage copies everything (exit 0)', async () => {
  await withTempDir(async (root) => {
    const src = join(root, 'src');
    await writeLog(src, 30);
    const inspected = await inspectWal(join(src, 'wal'));
    const first = inspected.segments[0]!;
    const last = first.records[first.records.length - 1]!;
    await flipAt(join(src, 'wal', first.name), last.offset + last.bytes + 10);
    // Another tool's lock file is not part of the node's state: ignored, not copied.
    await writeFile(join(src, 'LOCK'), 'pid 1\n');
    const { report } = await verifyDataDir(src);
    assert.equal(report.verdict, 'refuse');
    assert.equal(report.headerDamage.length, 1);
    assert.equal(report.headerDamage[0]!.losesEntries, false);
    assert.ok(report.headerDamage[0]!.endOffset - report.headerDamage[0]!.startOffset <= SEAL_BYTES);
    const salvage = await salvageDataDir(src, join(root, 'out'), { segmentBytes: SEGMENT_BYTES });
    assert.equal(salvage.exitCode, 0);
    assert.deepEqual(salvage.replacedByNoop, []);
    const { entries } = await readAll(join(root, 'out', 'wal'));
    assert.equal(entries.length, 30);
    assert.deepEqual((await readdir(join(root, 'out'))).sort(), ['wal']);
  });
});

test('salvage keeps a reclamation hole where it was', async () => {
  await withTempDir(async (root) => {
    const src = join(root, 'src');
    const { wal } = await SegmentedWal.open(join(src, 'wal'), quiet);
    for (let i = 1; i <= 40; i++) await wal.append([entry(i)]);
    // Release the second segment only (as after a snapshot, with live bodies in the first).
    const segs = wal.segments();
    const hole = segs[1]!;
    assert.equal(await wal.releaseSegments((f) => f !== hole.firstIndex, 41), 1);
    await wal.close();
    const before = await readAll(join(src, 'wal'));
    const { report } = await verifyDataDir(src);
    assert.equal(report.exitCode, VERIFY_EXIT.ok, JSON.stringify(report));
    const salvage = await salvageDataDir(src, join(root, 'out'), { segmentBytes: SEGMENT_BYTES });
    assert.equal(salvage.exitCode, 0);
    const after = await readAll(join(root, 'out', 'wal'));
    assert.equal(after.report.firstIndex, before.report.firstIndex);
    assert.equal(after.report.lastIndex, before.report.lastIndex);
    // Entries before the hole are still readable one by one, and the hole is still a hole.
    const { wal: copy } = await SegmentedWal.open(join(root, 'out', 'wal'), quiet);
    try {
      assert.equal((await copy.readEntries(1, 1))[0]!.index, 1);
      await assert.rejects(copy.readEntries(hole.firstIndex, hole.firstIndex));
    } finally {
      await copy.close();
    }
  });
});

test('verify changes nothing: a torn tail is reported, not zeroed', async () => {
  await withTempDir(async (root) => {
    const src = join(root, 'src');
    await writeLog(src, 5);
    const files = await segmentFiles(src);
    const file = join(src, 'wal', files[files.length - 1]!);
    const inspected = await inspectWal(join(src, 'wal'));
    const lastRec = inspected.segments[inspected.segments.length - 1]!.records.at(-1)!;
    await flipAt(file, lastRec.offset + HEADER_BYTES + 100); // body of the last record: a torn write
    const bytes = await readFile(file);
    const { report } = await verifyDataDir(src);
    assert.equal(report.verdict, 'drop-torn-tail');
    assert.equal(report.exitCode, VERIFY_EXIT.ok);
    assert.ok(report.tornTail && report.tornTail.bytes > 0);
    assert.deepEqual(await readFile(file), bytes, 'verify wrote nothing');
    // A start drops exactly what verify announced.
    const { wal, report: opened } = await SegmentedWal.open(join(src, 'wal'), quiet);
    await wal.close();
    assert.equal(opened.tornTailBytes, report.tornTail.bytes);
    assert.equal(opened.lastIndex, report.lastIndex);
  });
});

test('hard state: an empty file is no damage; a file whose slots all fail their checksum is (exit 3)', async () => {
  await withTempDir(async (root) => {
    const src = join(root, 'src');
    await writeLog(src, 3);
    await mkdir(join(src, 'raft'));
    await writeFile(join(src, 'raft', 'hardstate'), '');
    assert.equal((await verifyDataDir(src)).report.exitCode, VERIFY_EXIT.ok);
    await writeFile(join(src, 'raft', 'hardstate'), Buffer.alloc(1024, 0x33));
    const { report } = await verifyDataDir(src);
    assert.equal(report.exitCode, VERIFY_EXIT.startsWithDamage);
    assert.equal(report.hardState?.valid, false);
  });
});
