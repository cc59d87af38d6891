// `opencmq cluster start-local --log-format json` passes the format to its three servers and their
// JSON lines through unchanged (no node-id prefix that would break parsing): each line is one
// record naming its node, and every member logs who leads.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A base port with `count` free consecutive ports from it. */
async function freeRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error('no free run of ports');
}

test('cluster start-local --log-format json: parseable records from every member', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-start-local-'));
  const basePort = await freeRun(3);
  let raftBase = await freeRun(3);
  while (Math.abs(raftBase - basePort) < 3) raftBase = await freeRun(3);
  const args = [CLI, 'cluster', 'start-local', '--data-dir', path.join(dir, 'set'), '--base-port', String(basePort), '--raft-base-port', String(raftBase), '--log-format', 'json'];
  // Its own process group, so a failed test can take the three servers down with it.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', () => undefined);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const records = (): Record<string, unknown>[] =>
    stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  try {
    const deadline = Date.now() + 90_000;
    const leaderSeenBy = (): Set<unknown> =>
      new Set(records().filter((r) => r['component'] === 'raft' && typeof r['leader'] === 'string').map((r) => r['nodeId']));
    while (leaderSeenBy().size < 3) {
      assert.ok(Date.now() < deadline, `not every member logged a leader:\n${stderr.slice(-4000)}`);
      assert.equal(child.exitCode, null, `start-local exited:\n${stderr.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr.slice(-4000));
    // Besides the records: each server's "opencmq stopped" and the set's own closing line.
    const other = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'));
    assert.deepEqual([...new Set(other)].sort(), ['3-node set stopped', 'opencmq stopped'], stderr.slice(-4000));
    const all = records();
    assert.deepEqual([...new Set(all.map((r) => r['nodeId']))].sort(), ['n1', 'n2', 'n3']);
    for (const r of all) {
      for (const key of ['time', 'level', 'nodeId', 'component', 'msg']) assert.ok(key in r, JSON.stringify(r));
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(-child.pid, 'SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  }
});
