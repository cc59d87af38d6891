// The way out of a damaged WAL for a member of a 3-node set: the member refuses to start
// (CORRUPTION), `opencmq wal verify` says so, and the operator removes it from the set, moves its
// data directory aside, starts it empty with --join under the same id and adds it back. It catches
// up by snapshot transfer, serves requests, and every acknowledged message is delivered once.
//
// Why not just restart it empty as a voter: a wiped member has forgotten its vote and its log, so
// it could vote twice in one term, or help elect a leader that lacks acknowledged entries.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { callUntilOk, drainQueue } from '../helpers/load-clients';
import { cmqCall } from '../helpers/raw-cmq';
import { freePorts, SECRET, startTestSet, waitCaughtUp, waitForLeader, waitApplied } from '../helpers/cluster';
import { spawnServer, type ServerProcess } from '../helpers/server-process';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const run = promisify(execFile);
const QUEUE = 'jobs';

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Flips a byte of the queue name in the meta of the record holding `marker` (header CRC covers it). */
async function damageRecordMeta(dataDir: string, marker: string): Promise<void> {
  const walDir = path.join(dataDir, 'wal');
  for (const name of (await readdir(walDir)).sort()) {
    const file = path.join(walDir, name);
    const buf = await readFile(file);
    const at = buf.indexOf(marker);
    if (at < 0) continue;
    const target = buf.lastIndexOf(QUEUE, at);
    assert.ok(target >= 0);
    buf[target + 1] = buf[target + 1]! ^ 0x5a;
    await writeFile(file, buf);
    return;
  }
  throw new Error(`${marker} not found in ${walDir}`);
}

/** Spawns on a fixed client port, retrying while the port is briefly held by a client connection. */
async function spawnOnPort(dataDir: string, args: string[], port: number): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnServer(dataDir, args, port);
    } catch (err) {
      if (attempt >= 5 || !String(err).includes('EADDRINUSE')) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

test('a member whose WAL is damaged is wiped and rejoins by snapshot transfer; nothing acknowledged is lost', { timeout: 180_000 }, async () => {
  const ids = ['n1', 'n2', 'n3'];
  const ports = await freePorts(ids);
  const set = await startTestSet({ ids, raftPorts: ports, extraArgs: ['--snapshot-every', '150'] });
  let asideDir: string | undefined;
  try {
    await callUntilOk(ids.map(set.url), 'CreateQueue', { queueName: QUEUE, visibilityTimeout: 60 }, { timeoutMs: 20_000, acceptCodes: [0, 4460] });
    const { leader } = await waitForLeader(set);
    const acked: string[] = [];
    for (let i = 0; i < 200; i++) {
      const b = `before-${i}`;
      const r = await cmqCall(set.url(leader), 'SendMessage', { queueName: QUEUE, msgBody: b });
      assert.equal(r.code, 0, JSON.stringify(r));
      acked.push(b);
    }
    const victim = ids.find((id) => id !== leader)!;
    const others = ids.filter((id) => id !== victim);
    await waitCaughtUp(set, victim);

    // The victim's disk goes bad while it is down: a record header in mid-log.
    const victimPort = set.servers.get(victim)!.port;
    await set.servers.get(victim)!.stop();
    const dir = set.dataDir(victim);
    await damageRecordMeta(dir, 'before-100');
    const peers = (list: string[]): string[] => list.flatMap((p) => ['--peer', `${p}=127.0.0.1:${ports[p]!}`]);
    const memberArgs = ['--node-id', victim, '--raft-port', String(ports[victim]), '--cluster-secret', SECRET, ...peers(others)];
    await assert.rejects(spawnServer(dir, memberArgs, victimPort), /CORRUPTION/, 'the damaged member refuses to start');
    const verify = await cli('wal', 'verify', dir);
    assert.equal(verify.code, 4, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /REFUSES/);

    // 1. Remove it from the set (the two healthy members are the majority of the old set).
    const removed = await cli('cluster', 'remove-node', victim, '--endpoint', set.url(leader));
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, new RegExp(`removed ${victim}; voters: ${others.join(', ')}`));
    // The two-member set keeps acknowledging writes.
    for (let i = 0; i < 20; i++) {
      const b = `while-removed-${i}`;
      const r = await cmqCall(set.url(leader), 'SendMessage', { queueName: QUEUE, msgBody: b });
      assert.equal(r.code, 0, JSON.stringify(r));
      acked.push(b);
    }

    // 2. Move its data directory aside (kept for inspection) and give it an empty one.
    asideDir = `${dir}-damaged`;
    await rename(dir, asideDir);
    await mkdir(dir);

    // 3. Start it empty with --join under the same id: it waits, a voter of nothing, until added.
    const rejoined = await spawnOnPort(dir, [...memberArgs, '--join'], victimPort);
    set.servers.set(victim, rejoined);

    // 4. Add it back; it catches up by snapshot transfer (the set has compacted its log).
    const added = await cli('cluster', 'add-node', `${victim}=127.0.0.1:${ports[victim]!}`, '--endpoint', set.url(leader));
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /voters: n1, n2, n3/);
    const lst = await cmqCall(set.url(leader), 'OpencmqClusterStatus');
    await waitApplied(rejoined.url, Number(lst.commitIndex), 60_000);
    assert.match(rejoined.output(), /installed snapshot \d+/, 'caught up through a snapshot transfer');
    assert.doesNotMatch(rejoined.output(), /CORRUPTION/);

    // The rejoined member serves requests (a send through it is forwarded to the leader).
    const via = await callUntilOk([rejoined.url], 'SendMessage', { queueName: QUEUE, msgBody: 'via-rejoined' }, { timeoutMs: 30_000 });
    assert.equal(via.code, 0);
    acked.push('via-rejoined');
    const st = await cmqCall(rejoined.url, 'OpencmqClusterStatus');
    assert.deepEqual(st.voters, ids);

    // Make it the leader, so every message is delivered from its own copy of the state.
    await waitCaughtUp(set, victim, { timeoutMs: 60_000 });
    const moved = await cli('cluster', 'transfer-leader', victim, '--endpoint', set.url(victim));
    assert.equal(moved.code, 0, moved.stderr);
    const got = await drainQueue({ endpoints: [rejoined.url], queueName: QUEUE, pollingWaitSeconds: 0, emptyReceivesToStop: 1 });
    // callUntilOk may have retried 'via-rejoined' after an ambiguous failure: compare the rest exactly.
    assert.ok(got.includes('via-rejoined'));
    const exact = (list: string[]): string[] => list.filter((b) => b !== 'via-rejoined').sort();
    assert.deepEqual(exact(got), exact(acked), 'every acknowledged message, each exactly once');
  } catch (err) {
    for (const id of ids) console.log(`---- ${id} ----\n${set.output(id).slice(-3000)}`);
    throw err;
  } finally {
    await set.close();
    if (asideDir) await rm(asideDir, { recursive: true, force: true });
  }
});
