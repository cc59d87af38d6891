// The node over a WAL whose writes or fsyncs fail with ENOSPC / EIO (injected at the WAL's test
// hooks): new writes are refused up front as notApplied (6100), a write already in the log is not
// acknowledged while it is not durable, nothing is fatal, and everything resumes once the fault
// clears, with every acknowledged message still there.

import { nodeRuntime } from '../../src/runtime/node-runtime';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import type { CommandResult } from '../../src/broker/commands';
import { QueueNode, type QueueNodeOptions } from '../../src/node/queue-node';
import { RaftDriver } from '../../src/node/raft-driver';
import { DiskStall, StorageStepError } from '../../src/storage/disk-stall';
import { HardStateStore } from '../../src/storage/hard-state';
import { SegmentedWal } from '../../src/storage/wal';
import type { RequestContext } from '../../src/service/request-context';

const RC: RequestContext = { requestId: 'test-1', clientAddress: '', receivedAtMs: 0 };

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function errno(code: string): Error {
  return Object.assign(new Error(`${code} (injected)`), { code });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const body = (s: string): Buffer => Buffer.from(s);

async function openNode(extra: Partial<QueueNodeOptions>, dir?: string): Promise<{ node: QueueNode; dir: string; fatal: Error[]; lines: string[] }> {
  const dataDir = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'opencmq-nodefull-')));
  if (!dir) dirs.push(dataDir);
  const fatal: Error[] = [];
  const lines: string[] = [];
  const node = await QueueNode.open({
    dataDir,
    segmentBytes: 64 * 1024,
    log: (l) => void lines.push(l),
    diskStallRetryMs: 50,
    onFatal: (e) => fatal.push(e),
    ...extra,
  });
  return { node, dir: dataDir, fatal, lines };
}

function send(node: QueueNode, text: string): Promise<CommandResult> {
  return node.submit(RC, { kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body(text)] });
}

async function receiveAll(node: QueueNode): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    const r = await node.receive(RC, 'q', 16, 0);
    assert.ok(r.ok, JSON.stringify(r));
    if (r.messages.length === 0) return got.sort();
    for (const m of r.messages) got.push(m.bodyBytes.toString());
  }
}

for (const fault of [
  { name: 'ENOSPC on a WAL write', code: 'ENOSPC', at: 'write' as const },
  { name: 'EIO on an fdatasync', code: 'EIO', at: 'sync' as const },
]) {
  test(`${fault.name}: refused with notApplied, nothing unsynced acknowledged, resumes when it clears`, async () => {
    let failing = false;
    const inject = (): void => {
      if (failing) throw errno(fault.code);
    };
    const { node, dir, fatal, lines } = await openNode(fault.at === 'write' ? { walHooks: { beforeWrite: inject } } : { beforeDatasync: inject });
    assert.ok((await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} })).ok);
    assert.ok((await send(node, 'before')).ok);

    failing = true;
    // This one reaches the log before the fault is noticed: it must wait, not be acknowledged.
    let inLogAnswer: CommandResult | undefined;
    const inLog = send(node, 'in-log').then((r) => (inLogAnswer = r));
    await sleep(300);
    assert.equal(inLogAnswer, undefined, 'not acknowledged while not durable');

    const refused = await send(node, 'refused');
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.error, 'notApplied');
    const detail = (!refused.ok && refused.detail) || '';
    assert.match(detail, fault.code === 'EIO' ? /^disk I\/O error on n1 \(EIO at fdatasync of .+\.wal\); not applied, retry$/ : /^disk full on n1 \(ENOSPC at write of .+\.wal\); not applied, retry$/);
    assert.ok(lines.some((l) => l.includes('STALLED')), 'the stall is logged');
    // A lone voter still answers reads of what it has applied, without waiting for the disk.
    const attrs = await Promise.race([node.getQueueAttributes(RC, 'q'), sleep(5000).then(() => 'hung' as const)]);
    assert.ok(attrs !== 'hung' && attrs.ok, 'a read is answered during the stall');
    assert.equal(fatal.length, 0, 'not fatal');

    failing = false;
    const r = await inLog;
    assert.ok(r.ok, `the waiting write completes once durable: ${JSON.stringify(r)}`);
    assert.ok((await send(node, 'after')).ok);
    assert.ok(lines.some((l) => l.includes('RECOVERED')));
    assert.equal(fatal.length, 0);
    await node.close();

    // Everything acknowledged is there (and nothing refused), after a restart too.
    const again = await openNode({}, dir);
    assert.deepEqual(await receiveAll(again.node), ['after', 'before', 'in-log']);
    await again.node.close();
  });
}

test('closing a node while its disk is full neither hangs nor reports a fatal error', async () => {
  let failing = false;
  const { node, fatal } = await openNode({ walHooks: { beforeWrite: () => { if (failing) throw errno('ENOSPC'); } } });
  assert.ok((await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} })).ok);
  failing = true;
  const waiting = send(node, 'x');
  await sleep(200);
  await node.close();
  const r = await waiting;
  assert.equal(r.ok, false, 'never acknowledged');
  assert.equal(fatal.length, 0);
});

test('a snapshot that cannot be written is skipped, not fatal, and tried again later without waiting for another full interval', { timeout: 60_000 }, async () => {
  const { node, dir, fatal, lines } = await openNode({ snapshotEveryEntries: 20 });
  assert.ok((await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} })).ok);
  // Stand-in for a snapshot directory that cannot take a new file.
  const snaps = path.join(dir, 'snapshots');
  await rename(snaps, `${snaps}.away`);
  await writeFile(snaps, 'not a directory');
  for (let i = 0; i < 30; i++) assert.ok((await send(node, `m${i}`)).ok);
  const deadline = Date.now() + 10_000;
  while (!lines.some((l) => l.includes('failed (skipped'))) {
    assert.ok(Date.now() < deadline, 'the snapshot was attempted');
    await sleep(50);
  }
  assert.equal(node.stats().snapshotsTaken, 0);
  assert.equal(fatal.length, 0);
  await rm(snaps);
  await rename(`${snaps}.away`, snaps);
  // Past the retry pause, a single further entry is enough to try again.
  await sleep(10_500);
  assert.ok((await send(node, 'one more')).ok);
  const until = Date.now() + 10_000;
  while (node.stats().snapshotsTaken === 0) {
    assert.ok(Date.now() < until, 'the snapshot was retried');
    await sleep(50);
  }
  assert.equal(fatal.length, 0);
  await node.close();
});

test('a node starts on a full disk (its first segment cannot be made), refuses writes, and takes them once space returns', { timeout: 60_000 }, async () => {
  let full = true;
  const opened = openNode({ walHooks: { beforeAllocate: () => { if (full) throw errno('ENOSPC'); } } });
  const started = await Promise.race([opened, sleep(15_000).then(() => 'hung' as const)]);
  assert.notEqual(started, 'hung', 'open() returned while the disk is full');
  const { node, fatal, lines } = await opened;
  assert.ok(lines.some((l) => l.includes('starting while storage is stalled')), lines.join('\n'));
  const refused = await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} });
  assert.equal(!refused.ok && refused.error, 'notApplied');
  full = false;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await node.submit(RC, { kind: 'createQueue', queueName: 'q', attrs: {} });
    if (r.ok) break;
    assert.ok(Date.now() < deadline, `still refused: ${JSON.stringify(r)}`);
    await sleep(100);
  }
  assert.ok((await send(node, 'x')).ok);
  assert.deepEqual(await receiveAll(node), ['x']);
  assert.equal(fatal.length, 0);
  await node.close();
});

test('a hard-state save that hits a full disk is retried, not fatal; proposals are refused meanwhile', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-hsfull-'));
  dirs.push(dir);
  const lines: string[] = [];
  const log = (l: string): void => void lines.push(l);
  const stall = new DiskStall(log, { nodeId: 'solo', retryMs: 50 });
  const { wal } = await SegmentedWal.open(path.join(dir, 'wal'), { segmentBytes: 64 * 1024, log, stall });
  const hardState = await HardStateStore.open(dir);
  let full = true;
  const save = hardState.save.bind(hardState);
  hardState.save = (state) => (full ? Promise.reject(new StorageStepError('write', path.join(dir, 'hardstate'), errno('ENOSPC'))) : save(state));
  const fatal: Error[] = [];
  const raft = new RaftDriver<string>({
    id: 'solo',
    voters: ['solo'],
    wal,
    hardState,
    appliedIndex: 0,
    lastTimeMs: 0,
    configEntries: [],
    runtime: { ...nodeRuntime, random: () => 0.5 },
    tickMs: 20,
    electionTicks: 2,
    heartbeatTicks: 1,
    log,
    onFatal: (e) => fatal.push(e),
    diskStall: stall,
  });
  raft.onCommit((entries) => entries.map((e) => `applied ${e.index}`));
  const deadline = Date.now() + 10_000;
  while (!stall.current()) {
    assert.ok(Date.now() < deadline, 'the election saved its vote or stalled on it');
    await sleep(20);
  }
  assert.equal(stall.current()!.file, path.join(dir, 'hardstate'));
  const refused = await raft.propose(Buffer.from('refused'), 0);
  assert.ok(!refused.ok && refused.outcome === 'notApplied' && refused.reason === 'diskStalled', JSON.stringify(refused));
  full = false;
  for (;;) {
    const r = await raft.propose(Buffer.from('after'), 0);
    if (r.ok) {
      assert.match(r.value, /^applied \d+$/);
      break;
    }
    assert.ok(r.outcome === 'notApplied' && (r.reason === 'diskStalled' || r.reason === 'notLeader'), JSON.stringify(r));
    assert.ok(Date.now() < deadline + 10_000, 'proposals accepted once the save succeeds');
    await sleep(50);
  }
  assert.equal(hardState.current.votedFor, 'solo');
  assert.equal(fatal.length, 0);
  assert.ok(lines.some((l) => l.includes('RECOVERED')));
  await raft.close();
});
