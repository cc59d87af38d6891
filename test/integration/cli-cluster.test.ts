// The CLI's cluster commands as real processes: `cluster start-local` stops the set and fails
// with the member's id, exit status and last stderr lines when a member dies; `cluster status`
// shows a member that is down as its own row and still succeeds while a majority answers.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { callUntilOk } from '../helpers/load-clients';
import { waitForLeader, withTestSet } from '../helpers/cluster';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface CliProcess {
  /** Resolves when the process has exited; killed (and the test failed) after `timeoutMs`. */
  done: Promise<CliRun>;
  stdout(): string;
  /** SIGKILL the CLI and everything it started. */
  kill(): void;
  /** SIGINT to the CLI alone, as Ctrl-C would. */
  interrupt(): void;
}

function startCli(args: string[], cwd: string, timeoutMs: number): CliProcess {
  // Its own process group, so that a failed test can end the CLI and every server it started.
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const killGroup = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<CliRun>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error(`opencmq ${args.join(' ')} still running after ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-3000)}`));
    }, timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { done, stdout: () => stdout, kill: killGroup, interrupt: () => child.kill('SIGINT') };
}

/** A base port P with P, P+1 and P+2 all free on 127.0.0.1 (for start-local's consecutive ports). */
async function freeRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const held: net.Server[] = [];
    try {
      for (let i = 0; i < n; i++) held.push(await listen(base + i));
      return base;
    } catch {
      // taken: try another range
    } finally {
      await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
    }
  }
  throw new Error('no free port range');
}

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The member pids start-local prints: "members: n1 pid 1, n2 pid 2, n3 pid 3". */
function memberPids(stdout: string): Record<string, number> {
  const line = /^members: (.*)$/m.exec(stdout);
  assert.ok(line, `no members line in:\n${stdout}`);
  return Object.fromEntries([...line[1]!.matchAll(/(n\d) pid (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Whatever start-local left running is killed, so a failed test leaves no server behind. */
function killLeftovers(pids: Record<string, number>): void {
  for (const pid of Object.values(pids)) {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
}

test('cluster start-local: a member that cannot start is named with its exit code and stderr, and the others are stopped', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-start-local-'));
  const base = await freeRange(3);
  const raftBase = await freeRange(3);
  // n2's client port is taken: n2 fails to listen and exits 1.
  const blocker = await listen(base + 1);
  let pids: Record<string, number> = {};
  let cli: CliProcess | undefined;
  try {
    cli = startCli(['cluster', 'start-local', '--data-dir', path.join(dir, 'set'), '--base-port', String(base), '--raft-base-port', String(raftBase)], dir, 90_000);
    const r = await cli.done;
    pids = memberPids(r.stdout);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: member n2 exited with code 1; stopped the others$/m);
    const tail = r.stderr.slice(r.stderr.indexOf('last lines n2 wrote to stderr:'));
    assert.match(tail, /^last lines n2 wrote to stderr:\n( {2}.*\n)*? {2}error: .*EADDRINUSE.*$/m, r.stderr.slice(-2000));
    assert.doesNotMatch(r.stderr, /3-node set stopped/);
    for (const id of ['n1', 'n3']) assert.equal(alive(pids[id]!), false, `${id} (pid ${pids[id]}) was stopped`);
  } finally {
    cli?.kill();
    killLeftovers(pids);
    await new Promise((resolve) => blocker.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs `cluster start-local` until the set serves, hands it to `body`, and cleans up whatever happens. */
async function withServingLocalSet(body: (c: CliProcess, pids: Record<string, number>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-start-local-'));
  const base = await freeRange(3);
  const raftBase = await freeRange(3);
  let pids: Record<string, number> = {};
  let cli: CliProcess | undefined;
  try {
    const c = startCli(['cluster', 'start-local', '--data-dir', path.join(dir, 'set'), '--base-port', String(base), '--raft-base-port', String(raftBase)], dir, 90_000);
    cli = c;
    await waitFor('the members line', () => /^members: /m.test(c.stdout()), 30_000);
    pids = memberPids(c.stdout());
    await callUntilOk([0, 1, 2].map((i) => `http://127.0.0.1:${base + i}`), 'ListQueue', {}, { timeoutMs: 30_000 });
    await body(c, pids);
  } finally {
    cli?.kill();
    killLeftovers(pids);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('cluster start-local: a member killed by a signal is reported with that signal, and the others are stopped', { timeout: 120_000 }, async () => {
  await withServingLocalSet(async (c, pids) => {
    // The set serves requests; n3 dies as if the OOM killer took it.
    process.kill(pids['n3']!, 'SIGKILL');
    const r = await c.done;
    assert.equal(r.code, 1, r.stderr.slice(-2000));
    assert.match(r.stderr, /^error: member n3 was killed by signal SIGKILL; stopped the others$/m);
    for (const id of ['n1', 'n2']) assert.equal(alive(pids[id]!), false, `${id} (pid ${pids[id]}) was stopped`);
  });
});

test('cluster start-local: Ctrl-C stops all three members and exits 0', { timeout: 120_000 }, async () => {
  await withServingLocalSet(async (c, pids) => {
    c.interrupt();
    const r = await c.done;
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.match(r.stderr, /^3-node set stopped$/m);
    assert.doesNotMatch(r.stderr, /^error: member/m);
    for (const id of ['n1', 'n2', 'n3']) assert.equal(alive(pids[id]!), false, `${id} (pid ${pids[id]}) was stopped`);
  });
});

test('cluster status against a real set with one member down: a row per member, exit 0; with two down, exit 1', { timeout: 180_000 }, async () => {
  await withTestSet({}, async (set) => {
    const endpoints = set.ids.map(set.url);
    await waitForLeader(set);
    const down = set.ids[2]!;
    await set.servers.get(down)!.kill9();
    const r = await startCli(['cluster', 'status', '--endpoints', endpoints.join(',')], os.tmpdir(), 60_000).done;
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.split('\n');
    assert.match(rows[0] ?? '', /^node +endpoint +role/);
    for (const [i, id] of set.ids.entries()) {
      const row = rows.find((l) => l.includes(` ${endpoints[i]} `));
      assert.ok(row, `a row for ${endpoints[i]}:\n${r.stdout}`);
      if (id === down) assert.match(row, /^\? +\S+ +unreachable .*ECONNREFUSED/);
      else assert.match(row, new RegExp(`^${id} +\\S+ +(leader|follower) `));
    }
    assert.match(r.stdout, new RegExp(`^voters that did not answer here: ${down}$`, 'm'));

    await set.servers.get(set.ids[1]!)!.kill9();
    const two = await startCli(['cluster', 'status', '--endpoints', endpoints.join(','), '--json'], os.tmpdir(), 60_000).done;
    assert.equal(two.code, 1);
    const json = JSON.parse(two.stdout) as { endpoint: string; reachable: boolean }[];
    assert.deepEqual(json.map((x) => x.reachable), [true, false, false]);
    assert.match(two.stderr, /^no quorum: 1 of 3 members answered \(a majority is 2\)$/m);
  });
});
