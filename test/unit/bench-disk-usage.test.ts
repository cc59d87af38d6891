// The disk benchmarks' measures: a data directory's bytes on disk by part (log, snapshots, the
// rest), the target the compaction workload checks, and when a timeline got within it for good.
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { diskTarget, dirUsage, passingFrom } from '../../bench/disk-usage';

test('a data directory is measured in allocated bytes, split into log, snapshots and the rest', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-diskusage-'));
  try {
    const files: [string, number][] = [
      ['wal/00000001.seg', 3 * 4096],
      ['wal/00000002.seg', 4096],
      ['snapshots/snapshot-00000000000000000010.snap', 2 * 4096],
      ['snapshots/snapshot-00000000000000000020.snap', 5 * 4096],
      ['snapshots/partial.tmp', 7 * 4096],
      ['raft/hardstate', 4096],
      ['groups/1/wal/00000001.seg', 4096],
    ];
    for (const [name, size] of files) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), Buffer.alloc(size, 1));
    }
    const onDisk = (name: string): number => lstatSync(path.join(dir, name)).blocks * 512;
    const sum = (prefix: string): number => files.filter(([n]) => n.startsWith(prefix)).reduce((s, [n]) => s + onDisk(n), 0);
    const u = await dirUsage(dir);
    assert.ok(u.wal >= 4 * 4096, `the log's blocks are counted (${u.wal})`);
    assert.equal(u.wal, sum('wal/'));
    assert.equal(u.snapshots, sum('snapshots/'));
    // A group's own log is not the top-level log: it counts with the rest.
    assert.equal(u.other, sum('raft/') + sum('groups/'));
    assert.equal(u.total, u.wal + u.snapshots + u.other);
    // The largest snapshot is the largest .snap file, not a leftover temporary file.
    assert.equal(u.largestSnapshot, onDisk('snapshots/snapshot-00000000000000000020.snap'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a directory that is not there measures 0', async () => {
  assert.deepEqual(await dirUsage(path.join(os.tmpdir(), 'opencmq-no-such-dir-' + process.pid)), {
    wal: 0,
    snapshots: 0,
    other: 0,
    total: 0,
    largestSnapshot: 0,
  });
});

test('the target is twice the live bytes plus three segments and two snapshots', () => {
  assert.equal(diskTarget(400 * 1024, 4 * 1024 * 1024, 1000), 2 * 400 * 1024 + 12 * 1024 * 1024 + 2000);
});

test('a timeline is within a limit from the first sample after its last miss, and never if it ends outside', () => {
  const at = (t: number, v: number): { t: number; v: number } => ({ t, v });
  const ok = (s: { v: number }): boolean => s.v <= 10;
  assert.equal(passingFrom([at(0, 50), at(5, 8), at(10, 20), at(15, 9), at(20, 10)], ok), 15);
  assert.equal(passingFrom([at(0, 1), at(5, 2)], ok), 0);
  assert.equal(passingFrom([at(0, 1), at(5, 11)], ok), undefined);
  assert.equal(passingFrom([], ok), undefined);
});
