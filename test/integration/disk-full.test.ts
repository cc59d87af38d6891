// A real server on a real, tiny file system (tmpfs) that fills up: sends are refused with 6100
// (not 6000, not a hang), the process keeps running, a restart on the still-full disk starts and
// serves, and once space is freed sends succeed again and every acknowledged message is received.
// Needs root (to mount a tmpfs); skipped, saying why, otherwise.

import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';

import { freePort } from '../helpers/cluster';
import { parsePromText, sampleValue } from '../helpers/prom-text';
import { arrayParams, cmqCall, type CmqResponse } from '../helpers/raw-cmq';
import { spawnServer, type ServerProcess } from '../helpers/server-process';
import { fillFileSystem as fill, mountTmpfs, unmount } from '../helpers/tmpfs';

const QUEUE = 'fullq';
const FS_MIB = 24;
/** 16 bodies of ~6 KiB: about 100 KiB of log per request. */
const BATCH = 16;
const BODY_BYTES = 6000;

/** Cleanup that must happen even if a test times out (its own finally never runs then). */
const leftovers: (() => Promise<void>)[] = [];
after(async () => {
  for (const fn of leftovers.splice(0)) await fn().catch(() => undefined);
});

let seq = 0;
function bodies(tag: string): string[] {
  return Array.from({ length: BATCH }, () => `${tag}-${seq++}-`.padEnd(BODY_BYTES, 'x'));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** GET on the admin listener: status and body. */
async function admin(port: number, p: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  return { status: res.status, body: await res.text() };
}

interface Sender {
  acked: Set<string>;
  /** Requests that did not answer within the patience window (entries waiting for the disk). */
  waiting: Promise<void>[];
}

/** One batch send; answers within `patienceMs` are returned, slower ones are left running. */
async function sendBatch(url: string, s: Sender, tag: string, patienceMs: number): Promise<CmqResponse | 'waiting'> {
  const b = bodies(tag);
  const call = cmqCall(url, 'BatchSendMessage', { queueName: QUEUE, ...arrayParams('msgBody', b) }).then((r) => {
    if (r.code === 0) for (const x of b) s.acked.add(x);
    return r;
  });
  const answer = await Promise.race([call, sleep(patienceMs).then(() => 'waiting' as const)]);
  if (answer === 'waiting') {
    s.waiting.push(
      call.then(
        () => undefined,
        () => undefined,
      ),
    );
  }
  return answer;
}

/** Sends until a 6100 comes back; asserts no 6000 (or other error) is answered meanwhile. */
async function sendUntilRefused(server: ServerProcess, s: Sender, tag: string): Promise<CmqResponse> {
  for (let i = 0; i < 200; i++) {
    const r = await sendBatch(server.url, s, tag, 3000);
    if (r === 'waiting') continue;
    if (r.code === 6100) return r;
    assert.equal(r.code, 0, `a send on the full disk answered ${JSON.stringify(r)}`);
  }
  throw new Error(`no 6100 after 200 sends on a full disk:\n${server.output().slice(-3000)}`);
}

async function sendUntilAccepted(server: ServerProcess, s: Sender, tag: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await sendBatch(server.url, s, tag, 15_000);
    if (r !== 'waiting' && r.code === 0) return;
    assert.ok(r === 'waiting' || r.code === 6100, `unexpected answer after freeing space: ${JSON.stringify(r)}`);
    assert.ok(Date.now() < deadline, `sends not accepted within 30 s of freeing space:\n${server.output().slice(-3000)}`);
    await sleep(200);
  }
}

async function drain(url: string): Promise<Set<string>> {
  const got = new Set<string>();
  for (;;) {
    const r = await cmqCall(url, 'BatchReceiveMessage', { queueName: QUEUE, numOfMsg: 16, pollingWaitSeconds: 0 });
    if (r.code === 7000) return got;
    assert.equal(r.code, 0, JSON.stringify(r));
    const list = r.msgInfoList as { msgBody: string; receiptHandle: string }[];
    for (const m of list) got.add(m.msgBody);
    const del = await cmqCall(url, 'BatchDeleteMessage', { queueName: QUEUE, ...arrayParams('receiptHandle', list.map((m) => m.receiptHandle)) });
    assert.equal(del.code, 0, JSON.stringify(del));
  }
}

/**
 * A tmpfs of `mib` MiB for one test; `cleanup` kills the test's current server (`current`) and
 * unmounts it, also from the file's after hook. Undefined, and the test skipped, where no tmpfs
 * can be mounted.
 */
async function smallDisk(t: TestContext, mib: number, current: () => ServerProcess | undefined): Promise<{ mnt: string; cleanup: () => Promise<void> } | undefined> {
  const mnt = await mkdtemp(path.join(os.tmpdir(), 'opencmq-tmpfs-'));
  const why = mountTmpfs(mnt, mib);
  if (why) {
    await rm(mnt, { recursive: true, force: true });
    t.skip(why);
    return undefined;
  }
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    const server = current();
    if (server && !server.hasExited()) await server.kill9();
    unmount(mnt);
    await rm(mnt, { recursive: true, force: true });
  };
  leftovers.push(cleanup);
  return { mnt, cleanup };
}

test('a full disk refuses sends with 6100, survives a restart, and resumes when space returns', { timeout: 240_000 }, async (t) => {
  let server: ServerProcess | undefined;
  const disk = await smallDisk(t, FS_MIB, () => server);
  if (!disk) return;
  const { mnt, cleanup } = disk;
  try {
    const dataDir = path.join(mnt, 'data');
    // Every run of the server on this directory keeps one admin port (a stopped one frees it).
    const adminArgs = ['--admin-port', String(await freePort())];
    const adminPort = Number(adminArgs[1]);
    server = await spawnServer(dataDir, ['--segment-mb', '1', ...adminArgs]);
    assert.equal((await admin(adminPort, '/readyz')).status, 200);
    assert.equal((await cmqCall(server.url, 'CreateQueue', { queueName: QUEUE, visibilityTimeout: 120, maxMsgSize: 65536 })).code, 0);
    const s: Sender = { acked: new Set(), waiting: [] };
    for (let i = 0; i < 5; i++) assert.equal((await sendBatch(server.url, s, 'pre', 10_000)) !== 'waiting', true);
    assert.equal(s.acked.size, 5 * BATCH);

    // Fill the file system: the node keeps writing into preallocated segment space, then stalls.
    let filler = await fill(mnt);
    const refused = await sendUntilRefused(server, s, 'full');
    assert.match(String(refused.message), /disk full on n1 \(ENOSPC at .+ of .+\); not applied, retry/);
    assert.match(server.output(), /storage: STALLED: disk full on n1 \(ENOSPC at [^)]+ of [^)]+\/data\/wal\/[^)]+\): ENOSPC: no space left on device/);
    // Not ready while stalled, and says why; alive all the same.
    const stalled = await admin(adminPort, '/readyz');
    assert.equal(stalled.status, 503, stalled.body);
    assert.equal((JSON.parse(stalled.body) as { reason: string }).reason, 'diskStalled');
    assert.match((JSON.parse(stalled.body) as { detail: string }).detail, /ENOSPC/);
    assert.equal((await admin(adminPort, '/healthz')).status, 200);
    assert.equal(sampleValue(parsePromText((await admin(adminPort, '/metrics')).body), 'opencmq_disk_stalled'), 1);
    // Refusals are quick and repeatable; the process stays up.
    for (let i = 0; i < 3; i++) {
      const r = await sendBatch(server.url, s, 'full', 3000);
      assert.ok(r !== 'waiting' && r.code === 6100, JSON.stringify(r));
    }
    // Reads are still answered.
    const attrs = await cmqCall(server.url, 'GetQueueAttributes', { queueName: QUEUE });
    assert.equal(attrs.code, 0, JSON.stringify(attrs));
    await sleep(1000);
    assert.equal(server.hasExited(), false, `the server exited on a full disk:\n${server.output().slice(-3000)}`);

    // A restart on the still-full disk starts and serves (a graceful stop, then a hard kill).
    assert.equal(await server.stop(), 0, server.output().slice(-3000));
    // The snapshot at shutdown did not fit: skipped, not fatal.
    assert.match(server.output(), /snapshot at \d+ failed \(skipped;.*ENOSPC/);
    server = await spawnServer(dataDir, ['--segment-mb', '1', ...adminArgs]);
    const afterRestart = await sendUntilRefused(server, s, 'restarted');
    assert.equal(afterRestart.code, 6100);
    await server.kill9();
    server = await spawnServer(dataDir, ['--segment-mb', '1', ...adminArgs]);
    assert.equal((await sendUntilRefused(server, s, 'killed')).code, 6100);

    // Free the space: writes resume with no operator action on the node.
    await unlink(filler);
    await sendUntilAccepted(server, s, 'freed');
    for (let i = 0; i < 10; i++) {
      const r = await sendBatch(server.url, s, 'freed', 15_000);
      assert.ok(r !== 'waiting' && r.code === 0, JSON.stringify(r));
    }
    assert.match(server.output(), /storage: RECOVERED/);
    await Promise.all(s.waiting);
    assert.equal((await admin(adminPort, '/readyz')).status, 200);
    assert.equal(sampleValue(parsePromText((await admin(adminPort, '/metrics')).body), 'opencmq_disk_stalled'), 0);

    // Full again, then freed again, on the same running process.
    filler = await fill(mnt);
    await sendUntilRefused(server, s, 'again');
    await unlink(filler);
    await sendUntilAccepted(server, s, 'again-freed');
    await Promise.all(s.waiting);

    const got = await drain(server.url);
    const missing = [...s.acked].filter((b) => !got.has(b));
    assert.equal(missing.length, 0, `${missing.length} acknowledged messages missing, e.g. ${missing[0]?.slice(0, 40)}`);
    assert.equal(server.hasExited(), false);
  } finally {
    await cleanup();
  }
});

test('restarted on a disk too full for another whole segment, a server starts, refuses writes naming step and file, and takes them again once some space is freed', { timeout: 240_000 }, async (t) => {
  // Segments of 8 MiB on a 20 MiB file system: the log's two preallocated segments leave about
  // 4 MiB for other data. Once the log has filled both and needs a third, freeing that other data
  // leaves less than a segment, so the log has to go on without a preallocated one.
  let server: ServerProcess | undefined;
  const disk = await smallDisk(t, 20, () => server);
  if (!disk) return;
  const { mnt, cleanup } = disk;
  try {
    const dataDir = path.join(mnt, 'data');
    const args = ['--segment-mb', '8'];
    server = await spawnServer(dataDir, args);
    assert.equal((await cmqCall(server.url, 'CreateQueue', { queueName: QUEUE, visibilityTimeout: 120, maxMsgSize: 65536 })).code, 0);
    const s: Sender = { acked: new Set(), waiting: [] };
    const filler = await fill(mnt);
    await sendUntilRefused(server, s, 'full');
    // Killed on the full disk, then started again, twice: it starts every time and stays up.
    for (let run = 0; run < 2; run++) {
      await server.kill9();
      server = await spawnServer(dataDir, args);
      // A read is answered from everything acknowledged, or refused as not applied while entries
      // written before the crash wait for the disk to be confirmed; never from older state (the
      // queue missing).
      const attrs = await cmqCall(server.url, 'GetQueueAttributes', { queueName: QUEUE });
      assert.ok(attrs.code === 0 || attrs.code === 6100, JSON.stringify(attrs));
      if (attrs.code === 6100) assert.match(String(attrs.message), /disk full on n1 \(ENOSPC at .+ of .+\)/);
      const refused = await sendUntilRefused(server, s, `restarted-${run}`);
      assert.match(String(refused.message), /disk full on n1 \(ENOSPC at (allocate|write|fdatasync|allocate-fsync|write-seal) of [^)]+\/data\/wal\/[^)]+\); not applied, retry/);
      await sleep(1500);
      assert.equal(server.hasExited(), false, `the server exited on a full disk:\n${server.output().slice(-3000)}`);
    }
    // Freeing the filler leaves less than a segment: writes must be taken all the same.
    await unlink(filler);
    await sendUntilAccepted(server, s, 'freed');
    assert.match(server.output(), /storage: RECOVERED/);
    const attrs = await cmqCall(server.url, 'GetQueueAttributes', { queueName: QUEUE });
    assert.equal(attrs.code, 0, JSON.stringify(attrs));
    await Promise.all(s.waiting);
    const got = await drain(server.url);
    const missing = [...s.acked].filter((b) => !got.has(b));
    assert.equal(missing.length, 0, `${missing.length} acknowledged messages missing`);
  } finally {
    await cleanup();
  }
});
