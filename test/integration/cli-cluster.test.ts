// The CLI's cluster commands as real processes: `cluster start-local` stops the set and fails
// with the member's id, exit status and last stderr lines when a member dies; `cluster status`
// shows a member that is down as its own row and still succeeds while a majority answers.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { alive, freeBases, listenOn, startCli, type CliProcess } from '../helpers/cli-process';
import { callUntilOk } from '../helpers/load-clients';
import { waitForLeader, withTestSet } from '../helpers/cluster';

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
  const [base, raftBase] = (await freeBases(2, 3)) as [number, number];
  // n2's client port is taken: n2 fails to listen and exits 1.
  const blocker = await listenOn(base + 1);
  let pids: Record<string, number> = {};
  let cli: CliProcess | undefined;
  try {
    cli = startCli(['cluster', 'start-local', '--data-dir', path.join(dir, 'set'), '--base-port', String(base), '--raft-base-port', String(raftBase)], { cwd: dir, timeoutMs: 90_000 });
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
  const [base, raftBase] = (await freeBases(2, 3)) as [number, number];
  let pids: Record<string, number> = {};
  let cli: CliProcess | undefined;
  try {
    const c = startCli(['cluster', 'start-local', '--data-dir', path.join(dir, 'set'), '--base-port', String(base), '--raft-base-port', String(raftBase)], { cwd: dir, timeoutMs: 90_000 });
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
    const r = await startCli(['cluster', 'status', '--endpoints', endpoints.join(',')], { cwd: os.tmpdir(), timeoutMs: 60_000 }).done;
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
    const two = await startCli(['cluster', 'status', '--endpoints', endpoints.join(','), '--json'], { cwd: os.tmpdir(), timeoutMs: 60_000 }).done;
    assert.equal(two.code, 1);
    const json = JSON.parse(two.stdout) as { endpoint: string; reachable: boolean }[];
    assert.deepEqual(json.map((x) => x.reachable), [true, false, false]);
    assert.match(two.stderr, /^no quorum: 1 of 3 members answered \(a majority is 2\)$/m);
  });
});
