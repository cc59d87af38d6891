// Tests of SegmentedWal: round trips across rollovers, group commit, reopen, torn tails versus
// corruption, damaged bodies, slices, reclamation, truncation and the failed state.
import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EntryUnavailableError, WalCorruptionError, type LogEntry, ENTRY_KINDS } from '../../src/storage/types';
import { SegmentedWal, WalFailedError, type WalOptions } from '../../src/storage/wal';
import { HEADER_BYTES, PREALLOC_SUFFIX } from '../../src/storage/wal-format';
import type { FileSystem } from '../../src/runtime/fs';
import { nodeFs } from '../../src/runtime/node-fs';

// ---- fixtures -------------------------------------------------------------------------------------

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'opencmq-wal-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A deterministic entry: payload bytes derive from (index, salt) so tests can recompute them. */
function makeEntry(index: number, opts: { term?: number; size?: number; metaLen?: number; salt?: number } = {}): LogEntry {
  const size = opts.size ?? (index * 7919) % 3000;
  const salt = opts.salt ?? 0;
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = (index * 31 + i * 7 + salt * 101 + 1) & 0xff;
  return {
    index,
    term: opts.term ?? 1,
    // Every kind appears, so round trips check that the kind byte is stored.
    kind: ENTRY_KINDS[index % ENTRY_KINDS.length]!,
    timeMs: 1_700_000_000_000 + index,
    metaLen: Math.min(size, opts.metaLen ?? index % 40),
    payload,
  };
}

function makeEntries(from: number, to: number, opts: Parameters<typeof makeEntry>[1] = {}): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push(makeEntry(i, opts));
  return out;
}

function assertSameEntry(actual: LogEntry | undefined, expected: LogEntry): void {
  assert.ok(actual, `entry ${expected.index} missing`);
  assert.equal(actual.index, expected.index);
  assert.equal(actual.term, expected.term);
  assert.equal(actual.timeMs, expected.timeMs);
  assert.equal(actual.metaLen, expected.metaLen);
  assert.ok(Buffer.from(actual.payload).equals(Buffer.from(expected.payload)), `payload of entry ${expected.index}`);
}

/** Appends each entry with its own awaited append call, so each is its own write batch. */
async function appendEach(wal: SegmentedWal, entries: LogEntry[]): Promise<void> {
  for (const e of entries) await wal.append([e]);
}

async function patchFile(path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, offset);
  } finally {
    await fh.close();
  }
}

async function flipByte(path: string, offset: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0x5a;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

async function truncateFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}

function collectLog(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}

const SMALL: WalOptions = { segmentBytes: 64 * 1024, fsync: false, log: () => undefined };
const TINY: WalOptions = { segmentBytes: 8 * 1024, fsync: false, log: () => undefined };

function located(wal: SegmentedWal, dir: string, index: number): { path: string; segment: string; offset: number; bytes: number } {
  const loc = wal.locate(index);
  assert.ok(loc, `entry ${index} not located`);
  return { path: join(dir, loc.segment), segment: loc.segment, offset: loc.fileOffset, bytes: loc.recordBytes };
}

async function readAll(wal: SegmentedWal, from: number): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of wal.entriesFrom(from)) out.push(e);
  return out;
}

// ---- appending and reading -------------------------------------------------------------------------

void test('entries round-trip across several segment rollovers, including one larger than a segment', async () => {
  await withTempDir(async (dir) => {
    const expected = makeEntries(1, 400);
    expected[200] = makeEntry(201, { size: 100 * 1024, metaLen: 17 }); // bigger than a 64 KiB segment
    const { wal } = await SegmentedWal.open(dir, { ...SMALL, replayChunkBytes: 8 * 1024 });
    for (let i = 0; i < expected.length; i += 10) await wal.append(expected.slice(i, i + 10));
    const segs = wal.segments();
    assert.ok(segs.length >= 8, `expected many segments, got ${segs.length}`);
    for (let k = 1; k < segs.length; k++) assert.equal(segs[k]!.firstIndex, segs[k - 1]!.lastIndex + 1);
    assert.ok(segs.some((s) => s.usedBytes > 64 * 1024), 'the big entry grew its segment');
    assert.equal(wal.firstIndex(), 1);
    assert.equal(wal.lastIndex(), 400);
    const all = await wal.readEntries(1, 400);
    assert.equal(all.length, 400);
    all.forEach((e, k) => assertSameEntry(e, expected[k]!));
    const streamed = await readAll(wal, 1);
    assert.equal(streamed.length, 400);
    streamed.forEach((e, k) => assertSameEntry(e, expected[k]!));
    const fromMiddle = await readAll(wal, 250);
    assert.equal(fromMiddle[0]?.index, 250);
    assert.equal(fromMiddle.length, 151);
    await wal.close();
  });
});

void test('group commit: 200 concurrent appends share a few fdatasyncs and resolve in order', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await SegmentedWal.open(dir, { segmentBytes: 256 * 1024, fsync: true, log: () => undefined });
    const order: number[] = [];
    const appends = makeEntries(1, 200, { size: 200 }).map((e) => wal.append([e]).then(() => order.push(e.index)));
    await Promise.all(appends);
    assert.deepEqual(order, Array.from({ length: 200 }, (_, k) => k + 1));
    assert.equal(wal.stats.appends, 200);
    assert.ok(wal.stats.datasyncs >= 1 && wal.stats.datasyncs <= 10, `datasyncs: ${wal.stats.datasyncs}`);
    assert.equal(wal.lastDurableIndex(), 200);
    await wal.close();
  });
});

void test('a reopened log holds everything appended before close, and appends continue after it', async () => {
  await withTempDir(async (dir) => {
    const first = await SegmentedWal.open(dir, SMALL);
    assert.deepEqual([first.report.firstIndex, first.report.lastIndex], [1, 0]);
    assert.equal(first.wal.lastTerm(), 0);
    const expected = [...makeEntries(1, 100, { term: 1 }), ...makeEntries(101, 150, { term: 3 })];
    await first.wal.append(expected.slice(0, 100));
    await first.wal.append(expected.slice(100));
    await first.wal.close();
    assert.deepEqual((await readdir(dir)).filter((n) => !n.endsWith('.wal')), [], 'no preallocated leftovers');

    const { wal, report } = await SegmentedWal.open(dir, SMALL);
    assert.deepEqual(report, { firstIndex: 1, lastIndex: 150, tornTailBytes: 0, damagedBodies: [] });
    assert.equal(wal.lastTerm(), 3);
    assert.equal(wal.termAt(100), 1);
    assert.equal(wal.termAt(101), 3);
    (await wal.readEntries(1, 150)).forEach((e, k) => assertSameEntry(e, expected[k]!));
    await wal.append([makeEntry(151, { term: 3 })]);
    await wal.close();
    const again = await SegmentedWal.open(dir, SMALL);
    assert.equal(again.report.lastIndex, 151);
    await again.wal.close();
  });
});

void test('a crash between sealing a segment and creating the next: open continues after the sealed one', async () => {
  await withTempDir(async (dir) => {
    const first = await SegmentedWal.open(dir, TINY);
    await first.wal.append(makeEntries(1, 40, { size: 900, term: 2 }));
    const segs = first.wal.segments();
    await first.wal.close();
    // The tail never got its name, and a half-prepared next segment was left behind.
    await rm(join(dir, segs.at(-1)!.name));
    await writeFile(join(dir, 'next-7.prealloc'), Buffer.alloc(100, 1));

    const { wal, report } = await SegmentedWal.open(dir, TINY);
    const sealedLast = segs.at(-2)!.lastIndex;
    assert.deepEqual([report.lastIndex, report.tornTailBytes], [sealedLast, 0]);
    assert.equal(wal.lastTerm(), 2);
    assert.ok(!(await readdir(dir)).includes('next-7.prealloc'));
    await wal.append([makeEntry(sealedLast + 1, { term: 2 })]);
    await wal.close();
    const again = await SegmentedWal.open(dir, TINY);
    assert.equal(again.report.lastIndex, sealedLast + 1);
    await again.wal.close();
  });
});

void test('append rejects a gap or a decreasing term and the log stays usable', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await SegmentedWal.open(dir, SMALL);
    await wal.append(makeEntries(1, 3, { term: 2 }));
    await assert.rejects(wal.append([makeEntry(5, { term: 2 })]), RangeError);
    await assert.rejects(wal.append([makeEntry(4, { term: 1 })]), RangeError);
    await assert.rejects(wal.append([{ ...makeEntry(4, { term: 2, size: 10 }), metaLen: 11 }]), RangeError);
    await wal.append([makeEntry(4, { term: 2 })]);
    assert.equal(wal.lastIndex(), 4);
    await wal.close();
  });
});

void test('reads of entries appended but not yet durable wait for them', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await SegmentedWal.open(dir, SMALL);
    const e = makeEntry(1, { size: 500 });
    const appended = wal.append([e]);
    const [read] = await wal.readEntries(1, 1);
    assertSameEntry(read, e);
    const slice = await wal.readSlice(1, 0, 500);
    assert.ok(slice.equals(Buffer.from(e.payload)));
    await appended;
    await wal.close();
  });
});

void test('readSlice returns exact payload bytes and refuses what is not there', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await SegmentedWal.open(dir, SMALL);
    const entries = makeEntries(1, 30, { size: 1500, metaLen: 37 });
    await wal.append(entries);
    for (const [index, off, len] of [[1, 0, 1500], [7, 37, 1463], [30, 1499, 1], [15, 100, 0], [22, 5, 300]] as const) {
      const got = await wal.readSlice(index, off, len);
      assert.ok(got.equals(Buffer.from(entries[index - 1]!.payload.subarray(off, off + len))), `slice ${index}/${off}/${len}`);
    }
    await assert.rejects(wal.readSlice(0, 0, 1), EntryUnavailableError);
    await assert.rejects(wal.readSlice(31, 0, 1), EntryUnavailableError);
    await assert.rejects(wal.readSlice(3, 1000, 501), RangeError);
    await assert.rejects(wal.readEntries(29, 31), EntryUnavailableError);
    await wal.close();
  });
});

// ---- recovery: torn tails ------------------------------------------------------------------------

void test('torn tail: a file cut mid-record loses exactly that record; appends continue and survive reopen', async () => {
  await withTempDir(async (dir) => {
    const first = await SegmentedWal.open(dir, SMALL);
    await appendEach(first.wal, makeEntries(1, 10, { size: 400 }));
    const last = located(first.wal, dir, 10);
    await first.wal.close();
    await truncateFile(last.path, last.offset + 30);

    const log = collectLog();
    const { wal, report } = await SegmentedWal.open(dir, { ...SMALL, log: log.log });
    assert.equal(report.lastIndex, 9);
    assert.equal(report.tornTailBytes, 30);
    assert.ok(log.lines.some((l) => l.includes('torn tail')));
    const replacement = makeEntries(10, 12, { size: 900, salt: 9 });
    await wal.append(replacement);
    await wal.close();

    const again = await SegmentedWal.open(dir, SMALL);
    assert.deepEqual([again.report.lastIndex, again.report.tornTailBytes], [12, 0]);
    (await again.wal.readEntries(10, 12)).forEach((e, k) => assertSameEntry(e, replacement[k]!));
    await again.wal.close();
  });
});

void test('torn tail: garbage over the last record body drops it; a zeroed last header drops it too', async () => {
  await withTempDir(async (dir) => {
    const first = await SegmentedWal.open(dir, SMALL);
    await appendEach(first.wal, makeEntries(1, 10, { size: 400 }));
    const tenth = located(first.wal, dir, 10);
    const ninth = located(first.wal, dir, 9);
    await first.wal.close();
    await patchFile(tenth.path, tenth.offset + HEADER_BYTES + 200, Buffer.alloc(100, 0xee));

    const second = await SegmentedWal.open(dir, SMALL);
    assert.equal(second.report.lastIndex, 9);
    assert.equal(second.report.tornTailBytes, tenth.bytes);
    assert.deepEqual(second.report.damagedBodies, []);
    await second.wal.close();

    // Now the (new) last record loses its header: its body bytes are leftovers to clear.
    await patchFile(ninth.path, ninth.offset, Buffer.alloc(HEADER_BYTES));
    const third = await SegmentedWal.open(dir, SMALL);
    assert.equal(third.report.lastIndex, 8);
    assert.equal(third.report.tornTailBytes, ninth.bytes); // counted from the end of intact data
    // A much shorter entry 9 must not let old bytes behind it look like records on the next open.
    await third.wal.append([makeEntry(9, { size: 8, salt: 3 })]);
    await third.wal.close();
    const fourth = await SegmentedWal.open(dir, SMALL);
    assert.deepEqual([fourth.report.lastIndex, fourth.report.tornTailBytes], [9, 0]);
    assertSameEntry((await fourth.wal.readEntries(9, 9))[0], makeEntry(9, { size: 8, salt: 3 }));
    await fourth.wal.close();
  });
});

void test('torn tail: damage inside the last write batch drops the rest of that batch, not an error', async () => {
  await withTempDir(async (dir) => {
    const first = await SegmentedWal.open(dir, SMALL);
    await appendEach(first.wal, makeEntries(1, 5, { size: 300 }));
    await first.wal.append(makeEntries(6, 10, { size: 300 })); // one batch: 6..10
    const seventh = located(first.wal, dir, 7);
    await first.wal.close();
    // As if the pages of 7 never reached the disk while those of 8..10 did.
    await patchFile(seventh.path, seventh.offset, Buffer.alloc(seventh.bytes));

    const { wal, report } = await SegmentedWal.open(dir, SMALL);
    assert.equal(report.lastIndex, 6);
    assert.ok(report.tornTailBytes > 0);
    await wal.append([makeEntry(7, { size: 50, salt: 1 })]);
    await wal.close();
    const again = await SegmentedWal.open(dir, SMALL);
    assert.deepEqual([again.report.lastIndex, again.report.tornTailBytes], [7, 0]);
    await again.wal.close();
  });
});

// ---- recovery: corruption ------------------------------------------------------------------------

void test('a damaged header followed by entries from later writes is corruption, not a torn tail', async () => {
  await withTempDir(async (dir) => {
    const first = await SegmentedWal.open(dir, SMALL);
    await appendEach(first.wal, makeEntries(1, 10, { size: 300 }));
    const fifth = located(first.wal, dir, 5);
    await first.wal.close();
    await flipByte(fifth.path, fifth.offset + 17); // inside the term field

    await assert.rejects(SegmentedWal.open(dir, SMALL), (err: unknown) => {
      assert.ok(err instanceof WalCorruptionError);
      assert.equal(err.segment, fifth.segment);
      assert.equal(err.fileOffset, fifth.offset);
      return true;
    });
  });
});

void test('damage in a sealed (non-last) segment, or a missing seal, refuses to open', async () => {
  await withTempDir(async (dir) => {
    const first = await SegmentedWal.open(dir, TINY);
    await first.wal.append(makeEntries(1, 40, { size: 900 }));
    const segs = first.wal.segments();
    assert.ok(segs.length >= 3);
    const victim = located(first.wal, dir, segs[0]!.lastIndex); // the last record of segment 0
    const sealOffset = segs[1]!.usedBytes;
    const seg1Path = join(dir, segs[1]!.name);
    await first.wal.close();

    await patchFile(victim.path, victim.offset, Buffer.alloc(HEADER_BYTES)); // zeroed, not garbage
    await assert.rejects(SegmentedWal.open(dir, TINY), (err: unknown) => {
      assert.ok(err instanceof WalCorruptionError);
      assert.deepEqual([err.segment, err.fileOffset], [victim.segment, victim.offset]);
      return true;
    });
    await rm(victim.path);
    await flipByte(seg1Path, sealOffset + 9);
    await assert.rejects(SegmentedWal.open(dir, TINY), WalCorruptionError);
  });
});

void test('a damaged body in a middle record is kept, reported, and refused on read', async () => {
  await withTempDir(async (dir) => {
    const first = await SegmentedWal.open(dir, SMALL);
    await first.wal.append(makeEntries(1, 10, { size: 400, metaLen: 20 }));
    const fifth = located(first.wal, dir, 5);
    await first.wal.close();
    await flipByte(fifth.path, fifth.offset + HEADER_BYTES + 20 + 100);

    const log = collectLog();
    const { wal, report } = await SegmentedWal.open(dir, { ...SMALL, log: log.log });
    assert.equal(report.lastIndex, 10);
    assert.deepEqual(report.damagedBodies, [{ index: 5, segment: fifth.segment, fileOffset: fifth.offset }]);
    assert.ok(log.lines.some((l) => l.includes('DAMAGED BODY') && l.includes('entry 5')));
    await assert.rejects(wal.readEntries(5, 5), WalCorruptionError);
    await assert.rejects(wal.readEntries(3, 7), WalCorruptionError);
    assert.equal((await wal.readEntries(4, 4)).length, 1);
    assert.equal((await wal.readEntries(6, 10)).length, 5);
    const replayed = await readAll(wal, 1);
    assert.deepEqual(replayed.map((e) => e.index), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.ok(Buffer.from(replayed[4]!.payload.subarray(0, 20)).equals(Buffer.from(makeEntry(5, { size: 400, metaLen: 20 }).payload.subarray(0, 20))));
    assert.equal(wal.stats.checksumFailures, 2);
    await wal.close();
  });
});

void test('a body damaged after start-up becomes known damage on the first read that finds it', async () => {
  await withTempDir(async (dir) => {
    const log = collectLog();
    const { wal } = await SegmentedWal.open(dir, { ...SMALL, log: log.log });
    await wal.append(makeEntries(1, 10, { size: 400, metaLen: 20 }));
    const fifth = located(wal, dir, 5);
    await flipByte(fifth.path, fifth.offset + HEADER_BYTES + 20 + 100);
    // Strict reads refuse it; reads that tolerate known damage (Raft entry loads) now get it as
    // it is, meta intact, instead of failing: its message bodies fail their own CRCs.
    await assert.rejects(wal.readEntries(5, 5), WalCorruptionError);
    assert.ok(log.lines.some((l) => l.includes('DAMAGED BODY') && l.includes('entry 5')));
    const [e5] = await wal.readEntries(5, 5, { tolerateKnownDamage: true });
    assert.equal(e5?.index, 5);
    assert.ok(Buffer.from(e5.payload.subarray(0, 20)).equals(Buffer.from(makeEntry(5, { size: 400, metaLen: 20 }).payload.subarray(0, 20))));
    assert.equal((await wal.readEntries(3, 7, { tolerateKnownDamage: true })).length, 5);
    await assert.rejects(wal.readEntries(3, 7), WalCorruptionError);
    await wal.close();
  });
});

// ---- reclamation and truncation ------------------------------------------------------------------

void test('releaseSegments deletes only closed, unwanted segments below the mark; holes survive reopen', async () => {
  await withTempDir(async (dir) => {
    const first = await SegmentedWal.open(dir, TINY);
    await first.wal.append(makeEntries(1, 60, { size: 1000 }));
    const before = first.wal.segments();
    assert.ok(before.length >= 6, `segments: ${before.length}`);
    const keepIndex = 20;
    const below = 45;
    const doomed = before.slice(0, -1).filter((s) => s.lastIndex < below && !(s.firstIndex <= keepIndex && keepIndex <= s.lastIndex));
    const kept = before.filter((s) => !doomed.includes(s));
    const deleted = await first.wal.releaseSegments((f, l) => f <= keepIndex && keepIndex <= l, below);
    assert.equal(deleted, doomed.length);
    assert.deepEqual(first.wal.segments().map((s) => s.name), kept.map((s) => s.name));
    assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.wal')), kept.map((s) => s.name));
    await assert.rejects(first.wal.readSlice(1, 0, 1), EntryUnavailableError);
    assert.equal((await first.wal.readEntries(keepIndex, keepIndex)).length, 1);
    const runStart = kept.find((s) => s.firstIndex > keepIndex && s.firstIndex > doomed[doomed.length - 1]!.lastIndex)!.firstIndex;
    assert.equal(first.wal.firstIndex(), runStart);
    await first.wal.close();

    const { wal, report } = await SegmentedWal.open(dir, TINY);
    assert.deepEqual([report.firstIndex, report.lastIndex], [runStart, 60]);
    assert.deepEqual(wal.segments().map((s) => [s.firstIndex, s.lastIndex]), kept.map((s) => [s.firstIndex, s.lastIndex]));
    await assert.rejects(readAll(wal, 1), EntryUnavailableError);
    assert.equal((await readAll(wal, runStart)).length, 60 - runStart + 1);
    await wal.append([makeEntry(61, { size: 1000 })]);
    // Everything closed goes; the tail stays, and a log starting far above 1 reopens fine.
    assert.ok((await wal.releaseSegments(() => false, Number.MAX_SAFE_INTEGER)) >= 1);
    assert.equal(wal.segments().length, 1);
    await wal.close();
    const last = await SegmentedWal.open(dir, TINY);
    assert.equal(last.report.lastIndex, 61);
    assert.equal(last.report.firstIndex, last.wal.segments()[0]!.firstIndex);
    assert.ok(last.report.firstIndex > 1);
    await last.wal.close();
  });
});

void test('truncateSuffix drops entries inside the tail, inside a sealed segment, at a boundary, and all', async () => {
  await withTempDir(async (dir) => {
    const first = await SegmentedWal.open(dir, TINY);
    const wal = first.wal;
    await wal.append(makeEntries(1, 60, { size: 1000, term: 1 }));
    await wal.truncateSuffix(58); // inside the tail
    assert.equal(wal.lastIndex(), 57);
    await assert.rejects(wal.readEntries(58, 58), EntryUnavailableError);

    await wal.truncateSuffix(25); // inside an earlier, sealed segment
    assert.equal(wal.lastIndex(), 24);
    assert.equal(wal.lastTerm(), 1);
    assert.equal(wal.segments().at(-1)!.lastIndex, 24);
    const replacement = makeEntries(25, 40, { size: 1000, term: 2, salt: 5 });
    await wal.append(replacement);
    const boundary = wal.segments().find((s) => s.firstIndex > 25)!.firstIndex;
    assert.ok(boundary < 40);
    await wal.truncateSuffix(boundary); // the segment starting there goes; the one before ends at boundary - 1
    assert.equal(wal.lastIndex(), boundary - 1);
    await wal.append(makeEntries(boundary, 45, { size: 1000, term: 2, salt: 5 }));
    // Inside the tail again, replaced by a shorter entry: the cleared records behind it must not
    // resurface (or look like damage) on reopen.
    const tailSeg = wal.segments().at(-1)!;
    assert.ok(tailSeg.lastIndex > tailSeg.firstIndex);
    const cut = tailSeg.lastIndex - 1;
    await wal.truncateSuffix(cut);
    const short = makeEntry(cut, { size: 100, term: 2, salt: 6 });
    await wal.append([short]);
    await wal.close();

    const { wal: reopened, report } = await SegmentedWal.open(dir, TINY);
    assert.deepEqual([report.firstIndex, report.lastIndex, report.tornTailBytes], [1, cut, 0]);
    const read = await reopened.readEntries(1, cut);
    read.slice(0, 24).forEach((e, k) => assertSameEntry(e, makeEntry(k + 1, { size: 1000, term: 1 })));
    read.slice(24, -1).forEach((e, k) => assertSameEntry(e, makeEntry(k + 25, { size: 1000, term: 2, salt: 5 })));
    assertSameEntry(read.at(-1), short);
    assert.equal(reopened.lastTerm(), 2);

    await reopened.truncateSuffix(1);
    assert.deepEqual([reopened.firstIndex(), reopened.lastIndex(), reopened.lastTerm()], [1, 0, 0]);
    await reopened.append([makeEntry(1, { term: 3 })]);
    await reopened.close();
    const empty = await SegmentedWal.open(dir, TINY);
    assert.deepEqual([empty.report.firstIndex, empty.report.lastIndex], [1, 1]);
    assert.equal(empty.wal.lastTerm(), 3);
    await empty.wal.close();
  });
});

void test('reset empties the log and moves the next index past a snapshot', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await SegmentedWal.open(dir, TINY);
    await wal.append(makeEntries(1, 20, { size: 1000 }));
    await wal.reset(101);
    assert.deepEqual([wal.firstIndex(), wal.lastIndex()], [101, 100]);
    await assert.rejects(wal.readEntries(5, 5), EntryUnavailableError);
    await wal.append(makeEntries(101, 105, { term: 4 }));
    await wal.close();
    const again = await SegmentedWal.open(dir, TINY);
    assert.deepEqual([again.report.firstIndex, again.report.lastIndex], [101, 105]);
    await again.wal.close();
  });
});

void test('skipTo leaves a hole: runs before it stay readable, appends continue after it, restart keeps both', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await SegmentedWal.open(dir, TINY);
    await wal.reset(10);
    const run1 = makeEntries(10, 14, { size: 300 });
    await wal.append(run1);
    await wal.skipTo(40);
    const run2 = makeEntries(40, 41, { size: 300 });
    await wal.append(run2);
    await wal.skipTo(100); // the snapshot point: later appends continue from here
    await wal.skipTo(101); // an empty tail is replaced, not sealed
    const after = makeEntries(101, 103, { term: 2 });
    await wal.append(after);
    await assert.rejects(wal.skipTo(50), RangeError);
    assert.equal(wal.firstIndex(), 101);
    assert.equal(wal.termAt(12), 1);
    assert.equal(wal.termAt(20), undefined);
    await assert.rejects(wal.readEntries(20, 20), EntryUnavailableError);
    assertSameEntry((await wal.readEntries(13, 13))[0], run1[3]!);
    await wal.close();
    const again = await SegmentedWal.open(dir, TINY);
    assert.deepEqual([again.report.firstIndex, again.report.lastIndex], [101, 103]);
    assertSameEntry((await again.wal.readEntries(41, 41))[0], run2[1]!);
    assertSameEntry((await again.wal.readEntries(102, 102))[0], after[1]!);
    assert.deepEqual(
      again.wal.segments().map((s) => [s.firstIndex, s.lastIndex]),
      [
        [10, 14],
        [40, 41],
        [101, 103],
      ],
    );
    await again.wal.close();
  });
});

void test('a failed fdatasync rejects its appends and every later one', async () => {
  await withTempDir(async (dir) => {
    let syncs = 0;
    const log = collectLog();
    const { wal } = await SegmentedWal.open(dir, {
      segmentBytes: 64 * 1024,
      fsync: true,
      log: log.log,
      hooks: {
        beforeDatasync: () => {
          if (++syncs === 2) throw new Error('EIO (injected)');
        },
      },
    });
    await wal.append([makeEntry(1)]);
    await assert.rejects(wal.append([makeEntry(2)]), WalFailedError);
    await assert.rejects(wal.append([makeEntry(3)]), WalFailedError);
    assert.equal(wal.lastDurableIndex(), 1);
    assert.equal((await wal.readEntries(1, 1)).length, 1);
    assert.ok(log.lines.some((l) => l.includes('EIO (injected)')));
    await wal.close();
  });
});

void test('the next segment is zero-filled in paced steps, flushed every 4 MiB, not written and synced in one burst', async () => {
  await withTempDir(async (dir) => {
    // Every fdatasync of a segment being prepared, by file, with how many bytes it had written by then.
    const flushes = new Map<string, number[]>();
    const counting: FileSystem = {
      ...nodeFs,
      open: async (path, flags) => {
        const fh = await nodeFs.open(path, flags);
        if (!path.endsWith(PREALLOC_SUFFIX)) return fh;
        let written = 0;
        // Its fsync ends the preparation; later fdatasyncs are of appends, once it is a segment.
        let prepared = false;
        return {
          ...fh,
          read: fh.read.bind(fh),
          writev: fh.writev.bind(fh),
          sync: async () => {
            prepared = true;
            await fh.sync();
          },
          truncate: fh.truncate.bind(fh),
          stat: fh.stat.bind(fh),
          readFile: fh.readFile.bind(fh),
          close: fh.close.bind(fh),
          write: async (buffer, offset, length, position) => {
            const r = await fh.write(buffer, offset, length, position);
            written += r.bytesWritten;
            return r;
          },
          datasync: async () => {
            if (!prepared) flushes.set(path, [...(flushes.get(path) ?? []), written]);
            await fh.datasync();
          },
        };
      },
    };
    const segmentBytes = 10 * 1024 * 1024;
    const { wal } = await SegmentedWal.open(dir, { segmentBytes, fs: counting, log: () => {} });
    // Filling the first segment rolls over into the prepared one and starts preparing the next.
    const big = (index: number): LogEntry => makeEntry(index, { size: 1024 * 1024 });
    for (let i = 1; i <= 12; i++) await wal.append([big(i)]);
    assert.deepEqual((await wal.readEntries(1, 12)).map((e) => e.index), Array.from({ length: 12 }, (_, i) => i + 1));
    await wal.close();
    const paced = [...flushes.values()].filter((f) => f.length > 0);
    assert.ok(paced.length >= 1, 'a segment was prepared while the log was open');
    const mib = 1024 * 1024;
    // 10 MiB: flushed after 4 and 8 MiB (the last 2 MiB go with the final fsync).
    for (const f of paced) assert.deepEqual(f, [4 * mib, 8 * mib]);
  });
});
