// The simulator's disk (test/sim/sim-fs.ts): its crash model on its own, then the shipped storage
// code on it (SegmentedWal, HardStateStore, SnapshotStore, a QueueNode): what an append, a save
// or a snapshot promised survives any power loss the seed picks, and what was never synced is
// dropped cleanly by recovery.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { QueueNode } from '../../src/node/queue-node';
import { pathExists } from '../../src/storage/file-io';
import { DiskStall } from '../../src/storage/disk-stall';
import { HardStateStore } from '../../src/storage/hard-state';
import { SnapshotStore } from '../../src/storage/snapshot-store';
import { ENTRY_KINDS, WalCorruptionError, type LogEntry } from '../../src/storage/types';
import { SegmentedWal } from '../../src/storage/wal';
import { HEADER_BYTES } from '../../src/storage/wal-format';
import { Prng } from '../sim/prng';
import { SECTOR_BYTES, SimFs, type SimFsOp } from '../sim/sim-fs';

const SEEDS = 40;
/** Generous: a test that hangs on a broken disk should fail, not stall the suite. */
const TEST_TIMEOUT_MS = 60_000;
const quiet = (): void => undefined;

// ---- fixtures -------------------------------------------------------------------------------------

/** A SimFs whose operations matching `hold` never complete (until the crash that kills them). */
function gatedFs(opts: { capacityBytes?: number } = {}): { fs: SimFs; gate: { hold: (op: SimFsOp, path: string) => boolean } } {
  const gate = { hold: (_op: SimFsOp, _path: string): boolean => false };
  const fs = new SimFs({
    ...opts,
    delay: (op, path) => (gate.hold(op, path) ? new Promise<void>(() => undefined) : undefined),
  });
  return { fs, gate };
}

function pattern(len: number, salt: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = ((i * 7 + salt * 13) % 251) + 1; // never zero
  return b;
}

function makeEntry(index: number, size = 200 + ((index * 7919) % 1500)): LogEntry {
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = (index * 31 + i * 7 + 1) & 0xff;
  return { index, term: 1, kind: ENTRY_KINDS[index % ENTRY_KINDS.length]!, timeMs: 1_700_000_000_000 + index, metaLen: Math.min(size, 16), payload };
}

function range(from: number, to: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push(makeEntry(i));
  return out;
}

function assertSameEntry(actual: LogEntry | undefined, expected: LogEntry): void {
  assert.ok(actual, `entry ${expected.index} missing`);
  assert.equal(actual.index, expected.index);
  assert.equal(actual.term, expected.term);
  assert.equal(actual.kind, expected.kind);
  assert.equal(actual.metaLen, expected.metaLen);
  assert.ok(Buffer.from(actual.payload).equals(Buffer.from(expected.payload)), `payload of entry ${expected.index}`);
}

/** Lets queued callbacks (the WAL's flush loop) run until `done()` or the turn budget is spent. */
async function turnsUntil(done: () => boolean, turns = 1000): Promise<void> {
  for (let i = 0; i < turns && !done(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(done(), 'condition not reached');
}

/** Whether `p` is still pending after the event loop has had many turns. */
async function staysPending(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  return !settled;
}

const WAL_OPTS = { segmentBytes: 16 * 1024, log: quiet };

// ---- SimFs on its own ------------------------------------------------------------------------------

test('SimFs: synced bytes survive every crash; an unsynced write is kept, lost or torn at a sector boundary', { timeout: TEST_TIMEOUT_MS }, async () => {
  const outcomes = new Set<string>();
  for (let seed = 1; seed <= SEEDS; seed++) {
    let fs = new SimFs();
    await fs.mkdir('/d', { recursive: true });
    const fh = await fs.open('/d/f', 'w+');
    const synced = pattern(3000, 1);
    await fh.write(synced, 0, synced.length, 0);
    await fh.datasync();
    // Unsynced: overwrites part of the synced bytes and extends the file.
    const pos = 1000;
    const unsynced = pattern(5000, 2);
    await fh.write(unsynced, 0, unsynced.length, pos);
    assert.equal(fs.unsyncedWrites('/d/f'), 1);
    const crashed = fs.crash(new Prng(seed));
    fs = crashed.fs;
    const after = await fs.readFile('/d/f');
    // What the disk may hold: the synced bytes with none, all, or a sector-aligned prefix of the write.
    const withPrefix = (n: number): Buffer => {
      const img = Buffer.alloc(Math.max(synced.length, pos + n));
      synced.copy(img);
      unsynced.copy(img, pos, 0, n);
      return img;
    };
    if (after.equals(synced)) outcomes.add('lost');
    else if (after.equals(withPrefix(unsynced.length))) outcomes.add('kept');
    else {
      const cuts: number[] = [];
      for (let b = Math.ceil((pos + 1) / SECTOR_BYTES) * SECTOR_BYTES; b < pos + unsynced.length; b += SECTOR_BYTES) cuts.push(b);
      assert.ok(cuts.some((b) => after.equals(withPrefix(b - pos))), `seed ${seed}: not the synced bytes plus a sector-aligned prefix of the write`);
      outcomes.add('torn');
    }
    assert.equal(fs.unsyncedWrites('/d/f'), 0);
    assert.equal(crashed.outcome.kept + crashed.outcome.lost + crashed.outcome.torn, 1);
  }
  assert.deepEqual([...outcomes].sort(), ['kept', 'lost', 'torn'], 'the seeds cover all three outcomes');
});

test('SimFs: the same seed leaves the same disk', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = async (seed: number): Promise<Buffer> => {
    const fs = new SimFs();
    const fh = await fs.open('/f', 'w+');
    for (let k = 0; k < 20; k++) {
      const b = pattern(700 + k * 97, k);
      await fh.write(b, 0, b.length, k * 600);
      if (k % 7 === 6) await fh.sync();
    }
    return fs.crash(new Prng(seed)).fs.readFile('/f');
  };
  assert.ok((await run(7)).equals(await run(7)));
  const images = await Promise.all([1, 2, 3, 4, 5, 6].map((s) => run(s)));
  assert.ok(images.some((img) => !img.equals(images[0]!)), 'different seeds give different disks');
});

test('SimFs: a full disk fails growing writes with ENOSPC; overwrites still succeed; unlink frees space', { timeout: TEST_TIMEOUT_MS }, async () => {
  const fs = new SimFs({ capacityBytes: 10_000 });
  const a = await fs.open('/a', 'wx+');
  await a.write(pattern(8000, 1), 0, 8000, 0);
  await assert.rejects(a.write(pattern(4000, 2), 0, 4000, 8000), (err: NodeJS.ErrnoException) => err.code === 'ENOSPC');
  assert.equal((await a.stat()).size, 8000, 'the failed write wrote nothing');
  await a.write(pattern(4000, 3), 0, 4000, 4000); // within the file: no new space
  await assert.rejects(fs.writeFile('/b', pattern(3000, 4)), (err: NodeJS.ErrnoException) => err.code === 'ENOSPC');
  await a.close();
  await fs.unlink('/a');
  await fs.writeFile('/b', pattern(3000, 4));
  assert.equal(fs.usedBytes(), 3000);
  fs.setCapacity(undefined);
  await fs.writeFile('/c', pattern(20_000, 5));
});

test('SimFs: directories, renames, unlinks and errors in Node\'s shape', { timeout: TEST_TIMEOUT_MS }, async () => {
  const fs = new SimFs();
  const code = (c: string) => (err: NodeJS.ErrnoException) => err.code === c;
  await fs.mkdir('/x/y/z', { recursive: true });
  await fs.mkdir('/x/y', { recursive: true }); // existing: fine
  await fs.writeFile('/x/y/b', 'bee');
  await fs.writeFile('/x/y/a', 'ay');
  assert.deepEqual(await fs.readdir('/x/y'), ['a', 'b', 'z']);
  await assert.rejects(fs.readdir('/nope'), code('ENOENT'));
  await assert.rejects(fs.open('/x/y/missing', 'r'), code('ENOENT'));
  await assert.rejects(fs.open('/x/y/a', 'wx+'), code('EEXIST'));
  await assert.rejects(fs.open('/no/dir/f', 'w'), code('ENOENT'));
  await assert.rejects(fs.unlink('/x/y/z'), code('EISDIR'));
  await fs.rename('/x/y/a', '/x/y/b'); // replaces b
  assert.equal(await fs.readFile('/x/y/b', 'utf8'), 'ay');
  assert.deepEqual(await fs.readdir('/x/y'), ['b', 'z']);
  await fs.writeFile('/x/y/z/deep', 'd');
  await fs.rename('/x/y', '/x/w'); // a directory moves with everything under it
  assert.equal(await fs.readFile('/x/w/z/deep', 'utf8'), 'd');
  await assert.rejects(fs.stat('/x/y'), code('ENOENT'));
  assert.ok((await fs.stat('/x/w')).isDirectory());
  assert.ok(await pathExists('/x/w/b', fs));
  await fs.unlink('/x/w/b');
  await assert.rejects(fs.unlink('/x/w/b'), code('ENOENT'));
  await fs.rm('/x', { recursive: true, force: true });
  await fs.rm('/x', { recursive: true, force: true }); // missing: fine with force
  assert.deepEqual(fs.paths(), ['/']);
  // An unlinked file stays readable through a handle opened before.
  await fs.writeFile('/keep', 'still here');
  const fh = await fs.open('/keep', 'r');
  await fs.unlink('/keep');
  assert.equal((await fh.readFile()).toString(), 'still here');
  await fh.close();
  await assert.rejects(fh.stat(), code('EBADF'));
});

test('SimFs: a crash kills the old view and its handles; the delay hook decides when an operation takes effect', { timeout: TEST_TIMEOUT_MS }, async () => {
  let release: () => void = () => undefined;
  let holdWrites = false;
  const fs = new SimFs({
    delay: (op) => (op === 'write' && holdWrites ? new Promise<void>((r) => (release = r)) : undefined),
  });
  const fh = await fs.open('/f', 'w+');
  holdWrites = true;
  const write = fh.write(pattern(10, 1), 0, 10, 0);
  await new Promise((r) => setImmediate(r));
  assert.equal((await fs.stat('/f')).size, 0, 'not written before the delay ends');
  release();
  await write;
  assert.equal((await fs.stat('/f')).size, 10);
  holdWrites = false;
  await fh.datasync();

  const next = fs.crash(new Prng(1)).fs;
  assert.equal(fs.alive, false);
  assert.ok(await staysPending(fh.read(Buffer.alloc(10), 0, 10, 0)), 'an old handle does nothing');
  assert.ok(await staysPending(fs.writeFile('/g', 'x')), 'the old view does nothing');
  assert.deepEqual(await next.readdir('/'), ['f']);
  assert.ok((await next.readFile('/f')).equals(pattern(10, 1)));
});

test('SimFs: a process crash (restart) keeps unsynced writes but kills the old view', { timeout: TEST_TIMEOUT_MS }, async () => {
  const fs = new SimFs();
  const fh = await fs.open('/f', 'w+');
  await fh.write(pattern(3000, 1), 0, 3000, 0);
  const next = fs.restart();
  assert.equal(fs.alive, false);
  assert.ok(await staysPending(fh.datasync()));
  assert.ok((await next.readFile('/f')).equals(pattern(3000, 1)));
});

test('SimFs: flipBit changes one bit, durably', { timeout: TEST_TIMEOUT_MS }, async () => {
  let fs = new SimFs();
  const fh = await fs.open('/f', 'w+');
  await fh.write(Buffer.alloc(100), 0, 100, 0);
  await fh.sync();
  fs.flipBit('/f', 42, 3);
  const b = await fs.readFile('/f');
  assert.equal(b[42], 8);
  fs = fs.crash(new Prng(3)).fs;
  assert.equal((await fs.readFile('/f'))[42], 8);
});

// ---- the shipped storage code on SimFs ----------------------------------------------------------------

test('SegmentedWal on SimFs: every append that resolved survives a power loss; an unsynced tail is kept whole or dropped', { timeout: TEST_TIMEOUT_MS }, async () => {
  let tornSeen = 0;
  let unackedKept = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const { fs, gate } = gatedFs();
    const { wal } = await SegmentedWal.open('/data/wal', { ...WAL_OPTS, fs });
    // Acknowledged: several batches, enough to roll over into a second segment.
    for (let i = 1; i <= 60; i += 6) await wal.append(range(i, i + 5));
    const acked = wal.lastIndex();
    assert.ok(wal.segments().length >= 2, 'rolled over');
    // Not acknowledged: the write reaches the disk, its fdatasync never completes.
    gate.hold = (op, path) => op === 'sync' && path.endsWith('.wal');
    const tail = `/data/wal/${wal.segments().at(-1)!.name}`;
    void wal.append(range(acked + 1, acked + 8)).catch(() => undefined);
    await turnsUntil(() => fs.unsyncedWrites(tail) > 0);

    gate.hold = () => false;
    const next = fs.crash(new Prng(seed)).fs;
    const reopened = await SegmentedWal.open('/data/wal', { ...WAL_OPTS, fs: next });
    const last = reopened.wal.lastIndex();
    assert.ok(last >= acked, `seed ${seed}: log ends at ${last}, ${acked} were acknowledged`);
    const got = await reopened.wal.readEntries(1, last);
    range(1, last).forEach((e, k) => assertSameEntry(got[k], e));
    if (reopened.report.tornTailBytes > 0) tornSeen++;
    if (last > acked) unackedKept++;
    assert.deepEqual(reopened.report.damagedBodies, []);
    // The recovered log takes appends again and keeps them across another crash.
    await reopened.wal.append(range(last + 1, last + 3));
    const again = await SegmentedWal.open('/data/wal', { ...WAL_OPTS, fs: next.crash(new Prng(seed + 1000)).fs });
    assert.equal(again.wal.lastIndex(), last + 3);
    await again.wal.close();
  }
  assert.ok(tornSeen > 0, 'some seeds tear the unsynced write (recovery drops the torn tail)');
  assert.ok(unackedKept > 0, 'some seeds keep unacknowledged entries (allowed: they are intact)');
});

test('SegmentedWal on SimFs: a WAL that skips fdatasync loses or damages acknowledged entries (the disk model catches it)', { timeout: TEST_TIMEOUT_MS }, async () => {
  // The same workload as above with the WAL's fdatasync turned off: what the disk model must catch.
  const seen = new Set<string>();
  for (let seed = 1; seed <= SEEDS; seed++) {
    const fs = new SimFs();
    const { wal } = await SegmentedWal.open('/wal', { ...WAL_OPTS, fs, fsync: false });
    for (let i = 1; i <= 30; i += 3) await wal.append(range(i, i + 2));
    try {
      const reopened = await SegmentedWal.open('/wal', { ...WAL_OPTS, fs: fs.crash(new Prng(seed)).fs });
      if (reopened.wal.lastIndex() < 30) seen.add('lost');
      await reopened.wal.close();
    } catch (err) {
      // An earlier batch lost and a later one kept: recovery refuses the hole.
      assert.ok(err instanceof WalCorruptionError, String(err));
      seen.add('refused');
    }
  }
  assert.ok(seen.size > 0, 'without fdatasync power losses drop acknowledged entries or leave holes');
});

test('SegmentedWal on SimFs: a full disk stalls appends until space returns, and nothing acknowledged is lost', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { fs } = gatedFs();
  const stall = new DiskStall(quiet, { retryMs: 5 });
  const { wal } = await SegmentedWal.open('/wal', { ...WAL_OPTS, fs, stall });
  await wal.append(range(1, 5));
  // Room for the files there are now and a little more: the next segments cannot be prepared.
  fs.setCapacity(fs.usedBytes() + 1000);
  let resolved = false;
  const appended = wal.append(range(6, 60)).then(() => (resolved = true));
  await turnsUntil(() => stall.current() !== undefined, 100_000);
  assert.equal(stall.current()!.code, 'ENOSPC');
  assert.equal(resolved, false, 'not acknowledged while the disk is full');
  fs.setCapacity(undefined);
  await appended;
  assert.equal(stall.current(), undefined);
  await wal.close();
  const reopened = await SegmentedWal.open('/wal', { ...WAL_OPTS, fs: fs.crash(new Prng(9)).fs });
  assert.equal(reopened.wal.lastIndex(), 60);
  const got = await reopened.wal.readEntries(1, 60);
  range(1, 60).forEach((e, k) => assertSameEntry(got[k], e));
  await reopened.wal.close();
});

test('SegmentedWal on SimFs: with less space left than a whole segment, the next segment grows as written instead of stalling', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { fs } = gatedFs();
  const stall = new DiskStall(quiet, { retryMs: 5 });
  const { wal } = await SegmentedWal.open('/wal', { ...WAL_OPTS, fs, stall });
  await wal.append(range(1, 5));
  // Room for three quarters of a segment more: a preallocated one no longer fits.
  const capacity = fs.usedBytes() + 12 * 1024;
  fs.setCapacity(capacity);
  let index = 6;
  let waiting: Promise<void> | undefined;
  for (; index < 500; index++) {
    let done = false;
    const p = wal.append([makeEntry(index)]).then(() => {
      done = true;
    });
    await turnsUntil(() => done || stall.current() !== undefined, 100_000);
    if (!done) {
      waiting = p;
      break;
    }
  }
  assert.ok(waiting, 'the disk never filled');
  const freeAtStall = capacity - fs.usedBytes();
  assert.equal(stall.current()!.code, 'ENOSPC');
  fs.setCapacity(undefined);
  await waiting;
  // It stalled only once the space was used up (an entry is at most about 1.8 KiB), not while a
  // preallocation of a whole segment failed with kilobytes still free.
  assert.ok(freeAtStall < 2048, `stalled with ${freeAtStall} bytes still free`);
  await wal.append(range(index + 1, index + 40));
  await wal.close();
  const last = index + 40;
  const reopened = await SegmentedWal.open('/wal', { ...WAL_OPTS, fs: fs.crash(new Prng(5)).fs });
  assert.equal(reopened.wal.lastIndex(), last);
  const got = await reopened.wal.readEntries(1, last);
  range(1, last).forEach((e, k) => assertSameEntry(got[k], e));
  await reopened.wal.close();
});

test('SegmentedWal on SimFs: a bit flipped in a body is reported as damage and refused on read', { timeout: TEST_TIMEOUT_MS }, async () => {
  let fs = new SimFs();
  const { wal } = await SegmentedWal.open('/wal', { ...WAL_OPTS, fs });
  await wal.append(range(1, 5));
  const at = wal.locate(3)!;
  await wal.close();
  const meta = makeEntry(3).metaLen;
  fs.flipBit(`/wal/${at.segment}`, at.fileOffset + HEADER_BYTES + meta + 5, 0);
  fs = fs.crash(new Prng(1)).fs;
  const { wal: reopened, report } = await SegmentedWal.open('/wal', { ...WAL_OPTS, fs });
  assert.deepEqual(report.damagedBodies.map((d) => d.index), [3]);
  assert.equal(reopened.lastIndex(), 5, 'the entry is kept: its meta is intact');
  await assert.rejects(reopened.readEntries(3, 3), WalCorruptionError);
  assertSameEntry((await reopened.readEntries(4, 4))[0], makeEntry(4));
  await reopened.close();
});

test('HardStateStore on SimFs: a resolved save survives a power loss; one cut short leaves the old or the new state', { timeout: TEST_TIMEOUT_MS }, async () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= SEEDS; seed++) {
    const { fs, gate } = gatedFs();
    const store = await HardStateStore.open('/raft', fs);
    await store.save({ term: 3, votedFor: 'n2', commitIndex: 10 });
    gate.hold = (op) => op === 'sync';
    void store.save({ term: 4, votedFor: 'n3', commitIndex: 12 }).catch(() => undefined);
    await turnsUntil(() => fs.unsyncedWrites('/raft/hardstate') > 0);
    gate.hold = () => false;
    const reopened = await HardStateStore.open('/raft', fs.crash(new Prng(seed)).fs);
    const term = reopened.current.term;
    seen.add(term);
    if (term === 3) assert.deepEqual(reopened.current, { term: 3, votedFor: 'n2', commitIndex: 10 });
    else assert.deepEqual(reopened.current, { term: 4, votedFor: 'n3', commitIndex: 12 }, `seed ${seed}`);
  }
  assert.deepEqual([...seen].sort(), [3, 4], 'the seeds cover both');
});

test('SnapshotStore on SimFs: a saved snapshot survives a power loss; one cut short is not seen', { timeout: TEST_TIMEOUT_MS }, async () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const { fs, gate } = gatedFs();
    const store = await SnapshotStore.open('/snaps', { fs, log: quiet });
    const first = pattern(9000, seed);
    await store.save({ index: 100, term: 2 }, first);
    gate.hold = (op) => op === 'sync';
    void store.save({ index: 200, term: 3 }, pattern(7000, seed + 1)).catch(() => undefined);
    await turnsUntil(() => fs.paths().some((p) => p.endsWith('.tmp')) && fs.unsyncedWrites('/snaps/snapshot-00000000000000000200.snap.tmp') > 0);
    gate.hold = () => false;
    const next = fs.crash(new Prng(seed)).fs;
    const reopened = await SnapshotStore.open('/snaps', { fs: next, log: quiet });
    const latest = await reopened.loadLatest();
    assert.ok(latest, `seed ${seed}`);
    assert.equal(latest.index, 100);
    assert.equal(latest.term, 2);
    assert.ok(latest.data.equals(first));
    assert.deepEqual(await next.readdir('/snaps'), ['snapshot-00000000000000000100.snap'], 'the unfinished temp file is removed');
  }
});

const CTX = { requestId: 'sim-fs-test', clientAddress: '', receivedAtMs: 0 };

test('QueueNode on SimFs: its whole data directory lives on the simulated disk and acknowledged sends survive a power loss', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = '/sim-only/opencmq-node';
  let fs = new SimFs();
  const opts = { dataDir, segmentBytes: 64 * 1024, log: quiet };
  const node = await QueueNode.open({ ...opts, fs });
  const created = await node.submit(CTX, { kind: 'createQueue', queueName: 'q', attrs: {} });
  assert.ok(created.ok);
  const sent = await node.submit(CTX, { kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('kept')] });
  assert.ok(sent.ok);
  assert.equal(await pathExists(dataDir), false, 'nothing on the real disk');
  assert.ok(fs.paths().includes(`${dataDir}/raft/hardstate`));
  assert.ok(fs.paths().includes(`${dataDir}/snapshots`));
  assert.ok(fs.paths().some((p) => p.startsWith(`${dataDir}/wal/`) && p.endsWith('.wal')));
  await node.close();
  fs = fs.crash(new Prng(5)).fs;
  const again = await QueueNode.open({ ...opts, fs });
  const r = await again.receive(CTX, 'q', 1, 0);
  assert.ok(r.ok);
  assert.equal(r.messages.length, 1);
  assert.equal(r.messages[0]!.bodyBytes.toString(), 'kept');
  await again.close();
});
