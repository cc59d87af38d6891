// Real `opencmq server` processes against one data directory: the second is refused at once with
// exit code 75 naming the holder, the first keeps serving, a kill -9 leaves no stale lock, and
// every data directory that cannot hold data fails promptly with exit code 78 and its reason.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { SERVER_EXIT } from '../../src/node/server-options';
import { arrayParams, cmqCall } from '../helpers/raw-cmq';
import { freePort } from '../helpers/cluster';
import { makeDataDir, runServerExpectingExit, spawnServer, type ServerProcess } from '../helpers/server-process';

const QUEUE = 'lockq';
/** Generous for a loaded 2-core machine; a server that hangs is killed and reported as code null. */
const EXIT_WITHIN_MS = 20_000;


async function receiveAll(url: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const r = await cmqCall(url, 'BatchReceiveMessage', { queueName: QUEUE, numOfMsg: 16, pollingWaitSeconds: 0 });
    if (r.code === 7000) return bodies.sort();
    assert.equal(r.code, 0, JSON.stringify(r));
    for (const m of r.msgInfoList as { msgBody: string }[]) bodies.push(m.msgBody);
  }
}

test('a second server on the same data directory exits 75 naming the holder; the first keeps serving; kill -9 leaves no stale lock', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = await makeDataDir();
  let first: ServerProcess | undefined;
  let third: ServerProcess | undefined;
  try {
    first = await spawnServer(dir);
    assert.equal((await cmqCall(first.url, 'CreateQueue', { queueName: QUEUE, visibilityTimeout: 60 })).code, 0);
    const sent = Array.from({ length: 20 }, (_, i) => `m-${String(i).padStart(2, '0')}`);
    assert.equal((await cmqCall(first.url, 'BatchSendMessage', { queueName: QUEUE, ...arrayParams('msgBody', sent.slice(0, 10)) })).code, 0);

    const second = await runServerExpectingExit(dir, EXIT_WITHIN_MS);
    assert.equal(second.code, SERVER_EXIT.dataDirInUse, second.output);
    assert.match(second.stderr, new RegExp(`data directory ${dir} is in use by opencmq pid ${first.child.pid} on host `));
    assert.ok(second.stderr.includes(`API ${first.url}`), second.stderr);
    // Refused before it touched anything: no log line about recovery.
    assert.doesNotMatch(second.output, /recovered/);

    // The first server was not disturbed.
    assert.ok(!first.hasExited());
    assert.equal((await cmqCall(first.url, 'BatchSendMessage', { queueName: QUEUE, ...arrayParams('msgBody', sent.slice(10)) })).code, 0);

    await first.kill9();
    first = undefined;
    third = await spawnServer(dir);
    assert.deepEqual(await receiveAll(third.url), sent);
  } finally {
    await first?.kill9();
    await third?.stop();
    await cleanup();
  }
});

test('a second member of a replicated set on the same data directory is refused before it takes the peer port', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = await makeDataDir();
  let first: ServerProcess | undefined;
  try {
    const raftPort = await freePort();
    // Both would listen for peers on the same port: a refusal with 75 (not EADDRINUSE) shows the
    // lock is taken before the peer transport listens.
    const clusterArgs = ['--node-id', 'n1', '--raft-port', String(raftPort), '--peer', 'n2=127.0.0.1:1', '--peer', 'n3=127.0.0.1:2', '--cluster-secret', 'data-dir-lock-test-secret'];
    first = await spawnServer(dir, clusterArgs);
    const second = await runServerExpectingExit(dir, EXIT_WITHIN_MS, clusterArgs);
    assert.equal(second.code, SERVER_EXIT.dataDirInUse, second.output);
    assert.match(second.stderr, new RegExp(`pid ${first.child.pid} on host \\S+ \\(node n1, API ${first.url}, peers 127\\.0\\.0\\.1:${raftPort}, since `));
    assert.ok(!first.hasExited());
    // A graceful stop gives the directory back and clears the holder's description.
    assert.equal(await first.stop(), 0);
    first = undefined;
    assert.equal(await readFile(path.join(dir, 'LOCK'), 'utf8'), '');
  } finally {
    await first?.stop();
    await cleanup();
  }
});

test('data directories that cannot hold data exit 78 promptly with the directory and the reason', { timeout: 180_000 }, async () => {
  const base = await mkdtemp(path.join(os.tmpdir(), 'opencmq-baddir-'));
  try {
    const file = path.join(base, 'a-file');
    await writeFile(file, 'x');
    const cases: { dir: string; reason: RegExp }[] = [
      { dir: file, reason: /it exists and is not a directory/ },
      { dir: path.join(base, 'missing', 'data'), reason: new RegExp(`its parent directory ${path.join(base, 'missing')} does not exist`) },
      // Node's recursive mkdir loops forever here: the server used to spin and ignore SIGTERM.
      { dir: '/proc/nope', reason: /it is on the proc pseudo file system/ },
      { dir: '/sys/nope', reason: /it is on the sysfs pseudo file system/ },
    ];
    for (const c of cases) {
      const r = await runServerExpectingExit(c.dir, EXIT_WITHIN_MS);
      assert.equal(r.code, SERVER_EXIT.dataDirUnusable, `${c.dir}: ${r.code === null ? 'did not exit (killed)' : r.output}`);
      assert.ok(r.stderr.includes(`error: data directory ${c.dir} cannot be used: `), r.stderr);
      assert.match(r.stderr, c.reason);
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test(
  'a data directory on a read-only file system exits 78 as not writable',
  { timeout: 60_000, skip: process.getuid?.() === 0 ? false : 'needs root to mount a read-only tmpfs' },
  async () => {
    const mnt = await mkdtemp(path.join(os.tmpdir(), 'opencmq-rodir-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mnt]);
    try {
      const r = await runServerExpectingExit(mnt, EXIT_WITHIN_MS);
      assert.equal(r.code, SERVER_EXIT.dataDirUnusable, r.output);
      assert.match(r.stderr, new RegExp(`error: data directory ${mnt} cannot be used: it is not writable \\(cannot open LOCK: EROFS`));
    } finally {
      execFileSync('umount', [mnt]);
      await rm(mnt, { recursive: true, force: true });
    }
  },
);
