import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { HardStateStore } from '../../src/storage/hard-state';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'opencmq-hs-'));
}

test('a fresh store starts at term 0 with no vote; saved state survives reopen', async () => {
  const dir = await tempDir();
  try {
    const s = await HardStateStore.open(dir);
    assert.deepEqual(s.current, { term: 0, votedFor: '', commitIndex: 0 });
    await s.save({ term: 3, votedFor: 'n2', commitIndex: 17 });
    await s.save({ term: 4, votedFor: '', commitIndex: 20 });
    await s.close();
    const again = await HardStateStore.open(dir);
    assert.deepEqual(again.current, { term: 4, votedFor: '', commitIndex: 20 });
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a torn write of the newest slot falls back to the previous state', async () => {
  const dir = await tempDir();
  try {
    const s = await HardStateStore.open(dir);
    await s.save({ term: 5, votedFor: 'n1', commitIndex: 9 }); // seq 1 -> slot 1
    await s.save({ term: 6, votedFor: 'n3', commitIndex: 11 }); // seq 2 -> slot 0
    await s.close();
    const file = path.join(dir, 'hardstate');
    const buf = await readFile(file);
    buf[20] = buf[20]! ^ 0xff; // damage slot 0 (the newest)
    await writeFile(file, buf);
    const again = await HardStateStore.open(dir);
    assert.deepEqual(again.current, { term: 5, votedFor: 'n1', commitIndex: 9 });
    // The next save goes to the slot after the one that won, and wins on the following open.
    await again.save({ term: 7, votedFor: 'n2', commitIndex: 12 });
    await again.close();
    const third = await HardStateStore.open(dir);
    assert.deepEqual(third.current, { term: 7, votedFor: 'n2', commitIndex: 12 });
    await third.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
