// Tests of SnapshotStore: atomic save and load, keeping the newest two, and falling back past a
// damaged snapshot.
import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SnapshotStore, snapshotFileName } from '../../src/storage/snapshot-store';

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'opencmq-snap-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function data(seed: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (seed * 13 + i * 3) & 0xff;
  return b;
}

async function flipByte(path: string, offset: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0x01;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

void test('an empty store has no snapshot; a saved one loads back exactly', async () => {
  await withTempDir(async (dir) => {
    const store = await SnapshotStore.open(join(dir, 'snap'));
    assert.equal(await store.loadLatest(), undefined);
    const payload = data(1, 300_000);
    await store.save({ index: 2 ** 40 + 7, term: 5 }, payload.subarray(1000, 200_000));
    const loaded = await store.loadLatest();
    assert.ok(loaded);
    assert.deepEqual([loaded.index, loaded.term], [2 ** 40 + 7, 5]);
    assert.ok(loaded.data.equals(payload.subarray(1000, 200_000)));
    await store.save({ index: 9, term: 1 }, new Uint8Array(0)); // empty data is valid
  });
});

void test('a snapshot saved from pieces, each asked for only after the one before was written, is the same file', async () => {
  await withTempDir(async (dir) => {
    const whole = data(3, 20 * 1024 * 1024 + 12_345); // more than one read piece when loaded back
    const a = await SnapshotStore.open(join(dir, 'a'));
    const b = await SnapshotStore.open(join(dir, 'b'));
    await a.save({ index: 77, term: 3 }, whole);
    const asked: number[] = [];
    function* pieces(): Generator<Uint8Array> {
      for (let off = 0; off < whole.length; off += 3_000_000) {
        asked.push(off);
        yield whole.subarray(off, off + 3_000_000);
      }
    }
    const iterable = pieces();
    await b.save({ index: 77, term: 3 }, iterable);
    assert.equal(asked.length, Math.ceil(whole.length / 3_000_000));
    const name = snapshotFileName(77);
    const [fa, fb] = [await readFile(join(dir, 'a', name)), await readFile(join(dir, 'b', name))];
    assert.ok(fa.equals(fb), 'the same bytes, header included');
    const loaded = await b.loadLatest();
    assert.ok(loaded?.data.equals(whole));
  });
});

void test('a save whose pieces fail part way leaves no file and loses the older snapshot nothing', async () => {
  await withTempDir(async (dir) => {
    const store = await SnapshotStore.open(dir);
    await store.save({ index: 5, term: 1 }, data(5, 1000));
    function* failing(): Generator<Uint8Array> {
      yield data(6, 1000);
      throw new Error('the capture broke');
    }
    await assert.rejects(store.save({ index: 6, term: 1 }, failing()), /the capture broke/);
    assert.deepEqual(await readdir(dir), [snapshotFileName(5)]);
    assert.equal((await store.loadLatest())?.index, 5);
  });
});

void test('only the newest two snapshots are kept, and leftover temp files are removed at open', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, snapshotFileName(3) + '.tmp'), 'half written');
    const store = await SnapshotStore.open(dir);
    for (const index of [10, 20, 30, 40]) await store.save({ index, term: index / 10 }, data(index, 1000));
    assert.deepEqual(await readdir(dir), [snapshotFileName(30), snapshotFileName(40)]);
    const latest = await store.loadLatest();
    assert.deepEqual([latest?.index, latest?.term], [40, 4]);
  });
});

void test('a damaged newest snapshot is reported and the older one is loaded; none intact gives undefined', async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const store = await SnapshotStore.open(dir, { log: (l) => lines.push(l) });
    await store.save({ index: 100, term: 2 }, data(100, 5000));
    await store.save({ index: 200, term: 3 }, data(200, 5000));
    await flipByte(join(dir, snapshotFileName(200)), 40 + 2500); // in the data
    const loaded = await store.loadLatest();
    assert.deepEqual([loaded?.index, loaded?.term], [100, 2]);
    assert.ok(loaded?.data.equals(data(100, 5000)));
    assert.ok(lines.some((l) => l.includes(snapshotFileName(200)) && l.includes('data checksum')));

    await flipByte(join(dir, snapshotFileName(100)), 20); // in the header (term)
    assert.equal(await store.loadLatest(), undefined);
    assert.ok(lines.some((l) => l.includes(snapshotFileName(100)) && l.includes('header checksum')));
  });
});

void test('a truncated snapshot is not loaded', async () => {
  await withTempDir(async (dir) => {
    const store = await SnapshotStore.open(dir, { log: () => undefined });
    await store.save({ index: 5, term: 1 }, data(5, 4000));
    const fh = await open(join(dir, snapshotFileName(5)), 'r+');
    await fh.truncate(3000);
    await fh.close();
    assert.equal(await store.loadLatest(), undefined);
  });
});
