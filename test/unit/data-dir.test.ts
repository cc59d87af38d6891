// The data-directory lock and the checks before it: one owner at a time, the loser told who the
// owner is, and every directory that cannot hold data refused with its reason (never a hang).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { acquireDataDir, DataDirInUseError, DataDirUnusableError, LOCK_FILE } from '../../src/storage/data-dir';

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'opencmq-datadir-'));
}

test('a second acquisition conflicts, names the holder, and succeeds once the first is released', async () => {
  const dir = tempDir();
  try {
    const first = await acquireDataDir(dir, { nodeId: 'n1' });
    first.describe({ apiUrl: 'http://127.0.0.1:9601', peerAddress: '127.0.0.1:9701' });
    // Each acquisition opens its own file description, so even this process is refused.
    const err = await acquireDataDir(dir).then(
      () => assert.fail('a second acquisition must fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DataDirInUseError, String(err));
    assert.match(err.message, new RegExp(`data directory ${dir} is in use by opencmq pid ${process.pid} on host `));
    assert.match(err.message, /node n1, API http:\/\/127\.0\.0\.1:9601, peers 127\.0\.0\.1:9701, since \d{4}-/);
    // The loser's attempt did not wipe the holder's description.
    const holder = JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as Record<string, unknown>;
    assert.equal(holder.pid, process.pid);
    assert.equal(holder.nodeId, 'n1');

    first.release();
    first.release(); // idempotent
    const second = await acquireDataDir(dir);
    second.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock held by another process is refused until that process dies', async () => {
  const dir = tempDir();
  try {
    const modulePath = require.resolve('../../src/storage/data-dir');
    const holderScript = `require(${JSON.stringify(modulePath)}).acquireDataDir(${JSON.stringify(dir)}, { nodeId: 'other' }).then(() => { process.stdout.write('locked\\n'); setInterval(() => {}, 1000); });`;
    const child = spawn(process.execPath, ['-e', holderScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => c.toString().includes('locked') && resolve());
        child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
      });
      await assert.rejects(acquireDataDir(dir), (e: unknown) => e instanceof DataDirInUseError && e.message.includes(`pid ${child.pid} `));
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    // The kernel dropped the lock with the process: no stale lock to clean up.
    (await acquireDataDir(dir)).release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('only the last component of a missing directory is created; a missing parent is refused', async () => {
  const base = tempDir();
  try {
    const child = path.join(base, 'data');
    (await acquireDataDir(child)).release();
    assert.ok(existsSync(path.join(child, LOCK_FILE)));

    const deep = path.join(base, 'no-such-parent', 'data');
    await assert.rejects(acquireDataDir(deep), (e: unknown) => {
      assert.ok(e instanceof DataDirUnusableError);
      assert.match(e.message, new RegExp(`data directory ${deep} cannot be used: its parent directory ${path.dirname(deep)} does not exist`));
      return true;
    });
    assert.ok(!existsSync(path.dirname(deep)), 'the missing parent must not be created');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('a path that is a file is refused', async () => {
  const base = tempDir();
  try {
    const file = path.join(base, 'file');
    writeFileSync(file, 'x');
    await assert.rejects(acquireDataDir(file), (e: unknown) => e instanceof DataDirUnusableError && /cannot be used: it exists and is not a directory/.test(e.message));
    await assert.rejects(acquireDataDir(path.join(file, 'sub')), (e: unknown) => e instanceof DataDirUnusableError && /not a directory/.test(e.message));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('pseudo file systems (/proc, /sys) are refused without trying to create anything there', async () => {
  for (const [dir, fsName] of [
    ['/proc/opencmq-no-such-dir', 'proc'],
    ['/proc', 'proc'],
    ['/sys/opencmq-no-such-dir', 'sysfs'],
  ] as const) {
    await assert.rejects(acquireDataDir(dir), (e: unknown) => {
      assert.ok(e instanceof DataDirUnusableError, String(e));
      assert.equal(e.message, `data directory ${dir} cannot be used: it is on the ${fsName} pseudo file system, which cannot hold data; choose a directory on a disk`);
      return true;
    });
  }
});

const isRoot = process.getuid?.() === 0;

test(
  'a read-only file system is refused as not writable, for an existing directory and a missing one',
  { skip: isRoot ? false : 'needs root to mount a read-only tmpfs' },
  async () => {
    const mnt = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mnt]);
    try {
      await assert.rejects(acquireDataDir(mnt), (e: unknown) => {
        assert.ok(e instanceof DataDirUnusableError, String(e));
        assert.match(e.message, new RegExp(`data directory ${mnt} cannot be used: it is not writable \\(cannot open LOCK: EROFS`));
        return true;
      });
      const inside = path.join(mnt, 'data');
      await assert.rejects(acquireDataDir(inside), (e: unknown) => e instanceof DataDirUnusableError && /cannot create it: EROFS/.test(e.message));
    } finally {
      execFileSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  },
);

test('a directory where LOCK can be written but no new file can be created is refused', { skip: isRoot ? false : 'needs root for a bind mount' }, async () => {
  // The write-ahead log needs new files: a writable LOCK alone is not enough.
  const dir = tempDir();
  const lockOnly = tempDir();
  try {
    writeFileSync(path.join(dir, LOCK_FILE), '');
    mkdirSync(path.join(lockOnly, 'd'));
    // A read-only bind of the directory, with its LOCK file bound read-write over it.
    const target = path.join(lockOnly, 'd');
    execFileSync('mount', ['--bind', dir, target]);
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', target]);
      execFileSync('mount', ['--bind', path.join(dir, LOCK_FILE), path.join(target, LOCK_FILE)]);
      try {
        await assert.rejects(acquireDataDir(target), (e: unknown) => {
          assert.ok(e instanceof DataDirUnusableError, String(e));
          assert.match(e.message, /it is not writable \(cannot create a file in it: EROFS/);
          return true;
        });
      } finally {
        execFileSync('umount', [path.join(target, LOCK_FILE)]);
      }
    } finally {
      execFileSync('umount', [target]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(lockOnly, { recursive: true, force: true });
  }
});
