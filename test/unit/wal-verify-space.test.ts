// `opencmq wal verify` on a stopped data directory reports the space figures a running member's
// compaction metrics give: it restores the state a start would run on (the snapshot, then the
// committed log after it) and counts live body bytes per segment with the member's own census.
// The workload leaves a few live messages scattered over many 64 KiB segments.

import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import type { CommandResult } from '../../src/broker/commands';
import type { CliDeps, CliIo } from '../../src/cli/cli-io';
import { runCli } from '../../src/cli/run';
import { QueueNode, type QueueNodeOptions } from '../../src/node/queue-node';
import { formatVerifyReport, verifyDataDir, type VerifyReport } from '../../src/node/wal-verify';
import type { RequestContext } from '../../src/service/request-context';
import { LEFTOVER_BODY_BYTES, LEFTOVERS, leftoverBody, scatteredLeftovers } from '../helpers/scattered-leftovers';

const RC: RequestContext = { requestId: 'test-verify-space', clientAddress: '', receivedAtMs: 0 };
const SEGMENT_BYTES = 64 * 1024;
const BODY_BYTES = LEFTOVER_BODY_BYTES;
const KEPT = LEFTOVERS;

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'opencmq-verify-space-'));
  dirs.push(d);
  return d;
}

function openNode(dataDir: string, extra: Partial<QueueNodeOptions> = {}): Promise<QueueNode> {
  // The census runs when the test asks (compactNow), not on a timer; snapshots only when asked.
  return QueueNode.open({
    dataDir,
    segmentBytes: SEGMENT_BYTES,
    snapshotEveryEntries: 100_000_000,
    log: () => {},
    compaction: { censusIntervalMs: 3_600_000 },
    ...extra,
  });
}

function ok(r: CommandResult): void {
  assert.ok(r.ok, `expected success, got ${JSON.stringify(r)}`);
}

/**
 * The data directory of `node` as a crash would leave it now (its writes are durable once
 * acknowledged): a stop takes a snapshot and saves the commit hint, a crash does neither.
 */
async function crashImage(dataDir: string): Promise<string> {
  const image = await tempDir();
  for (const part of ['wal', 'raft', 'snapshots']) await cp(path.join(dataDir, part), path.join(image, part), { recursive: true }).catch(() => undefined);
  return image;
}

/** Per-segment live bytes add up to the total (no pending pushes here), and every figure is there. */
function assertConsistent(r: VerifyReport): void {
  const s = r.space;
  assert.equal(s.unavailable, null, `space computed (${s.unavailable})`);
  assert.ok(r.segments.every((g) => g.liveBytes !== null));
  assert.equal(
    r.segments.reduce((n, g) => n + g.liveBytes!, 0),
    s.liveBytes,
    'per-segment live bytes sum to the live bytes',
  );
  assert.equal(s.logBytes >= r.segments.reduce((n, g) => n + g.bytes, 0), true);
  assert.equal(s.diskPerLiveByte, (s.logBytes + s.snapshotBytes) / s.liveBytes!);
}

test('wal verify on a log alone (no snapshot): the leftovers are the live bytes, spread over the segments, and most of the log is reclaimable', async () => {
  const dir = await tempDir();
  const node = await openNode(dir);
  await scatteredLeftovers(node);
  const image = await crashImage(dir);
  await node.close();

  const { report } = await verifyDataDir(image);
  assert.equal(report.verdict, 'start');
  assert.equal(report.snapshot, null);
  assertConsistent(report);
  const s = report.space;
  assert.equal(s.liveBytes, KEPT * BODY_BYTES);
  assert.ok(report.segments.length > 10, `many segments (${report.segments.length})`);
  assert.equal(s.snapshotBytes, 0);
  assert.equal(s.restored?.snapshotIndex, 0);
  assert.ok(s.restored.entriesReplayed > 100, `the whole log was applied (${s.restored.entriesReplayed} entries)`);
  assert.ok(s.restored.commitHint < s.restored.throughIndex, 'a crash leaves the commit hint behind: the log is applied past it');
  // The leftovers sit in several segments, each mostly dead.
  assert.ok(report.segments.filter((g) => g.liveBytes! > 0).length >= 3, 'leftovers are scattered');
  assert.ok(s.reclaimableBytes! > s.logBytes / 2, `reclaimable ${s.reclaimableBytes} of ${s.logBytes}`);

  const lines = formatVerifyReport(report);
  assert.ok(lines.includes('space:'), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith(`  live ${KEPT * BODY_BYTES} B`) && l.includes('bytes on disk per live byte')), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('  reclaimable ')), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('.wal') && / live \d+ /.test(l)), 'segment lines carry their live bytes');

  // The stopped original (a snapshot at the stop, most segments released) counts the same.
  const { report: stopped } = await verifyDataDir(dir);
  assert.ok(stopped.snapshot !== null);
  assertConsistent(stopped);
  assert.equal(stopped.space.liveBytes, KEPT * BODY_BYTES);
});

test('wal verify with a snapshot agrees with the restarted member\'s census; after compaction and a snapshot nothing much is left to reclaim', async () => {
  const dir = await tempDir();
  let node = await openNode(dir);
  await scatteredLeftovers(node);
  await node.snapshotNow();
  // A little more after the snapshot, which verify must apply from the log.
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'after', attrs: {} }));
  ok(await node.submit(RC, { kind: 'sendMessages', queueName: 'after', delaySeconds: 0, bodies: [leftoverBody(7)] }));
  const image = await crashImage(dir);
  await node.close();

  const { report: before } = await verifyDataDir(image);
  assert.equal(before.verdict, 'start');
  assert.ok(before.snapshot !== null && before.snapshot.index > 0);
  assertConsistent(before);
  assert.equal(before.space.liveBytes, (KEPT + 1) * BODY_BYTES);
  assert.equal(before.space.restored?.snapshotIndex, before.snapshot.index);
  assert.equal(before.space.restored?.entriesReplayed, 2, 'the two entries after the snapshot');
  assert.ok(before.space.snapshotBytes > 0);
  assert.ok(before.space.reclaimableBytes! > 4 * SEGMENT_BYTES, `reclaimable before compaction: ${before.space.reclaimableBytes}`);

  // A member started on that directory counts what verify counted.
  node = await openNode(image);
  await node.compactNow();
  assert.equal(node.stats().compaction.liveBytes, before.space.liveBytes);
  await node.compactNow();
  await node.snapshotNow();
  assert.ok(node.stats().compaction.runs >= 1, 'compaction relocated the leftovers');
  await node.close();

  const { report: afterCompaction } = await verifyDataDir(image);
  assertConsistent(afterCompaction);
  assert.equal(afterCompaction.space.liveBytes, (KEPT + 1) * BODY_BYTES, 'the same messages are live, read from their copies');
  assert.ok(afterCompaction.space.reclaimableBytes! < SEGMENT_BYTES, `reclaimable after compaction: ${afterCompaction.space.reclaimableBytes}`);
  assert.ok(afterCompaction.space.logBytes * 3 < before.space.logBytes, `log ${before.space.logBytes} → ${afterCompaction.space.logBytes}`);
});

test('wal verify --compact-below sets the threshold the reclaimable bytes assume (0: only segments without a live body)', async () => {
  const dir = await tempDir();
  const node = await openNode(dir);
  await scatteredLeftovers(node);
  await node.close();
  const out: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => out.push(l), env: {}, stdinLines: async function* () {}, signal: new AbortController().signal };
  const deps = {} as CliDeps; // wal commands use neither a client nor a server
  const reclaimable = async (args: string[]): Promise<{ reclaimable: number; segments: VerifyReport['segments'] }> => {
    out.length = 0;
    assert.equal(await runCli(['wal', 'verify', dir, '--json', ...args], io, deps), 0, out.join('\n'));
    const r = JSON.parse(out.join('\n')) as VerifyReport;
    return { reclaimable: r.space.reclaimableBytes!, segments: r.segments };
  };
  const byDefault = await reclaimable([]);
  const off = await reclaimable(['--compact-below', '0']);
  const closed = off.segments.slice(0, -1);
  const emptyBytes = closed.filter((g) => g.liveBytes === 0).reduce((n, g) => n + g.bytes, 0);
  assert.equal(off.reclaimable, emptyBytes, 'with compaction off only segments without a live body count');
  assert.ok(byDefault.reclaimable > off.reclaimable, `the sparse segments' dead bytes count at 50% (${byDefault.reclaimable} > ${off.reclaimable})`);
  out.length = 0;
  assert.equal(await runCli(['wal', 'verify', dir, '--compact-below', '95'], io, deps), 2, 'out of range is a usage error');
});

test('a directory a start refuses is still reported: the space is measured, the live bytes are unknown and say why', async () => {
  const dir = await tempDir();
  const node = await openNode(dir);
  await scatteredLeftovers(node);
  await node.close();
  // Damage the first record header of a sealed segment in the middle: a start refuses.
  const segs = (await readdir(path.join(dir, 'wal'))).filter((n) => n.endsWith('.wal')).sort();
  const victim = path.join(dir, 'wal', segs[2]!);
  const buf = await readFile(victim);
  buf[10] = buf[10]! ^ 0xff;
  await writeFile(victim, buf);

  const { report } = await verifyDataDir(dir);
  assert.equal(report.verdict, 'refuse');
  assert.equal(report.space.liveBytes, null);
  assert.equal(report.space.reclaimableBytes, null);
  assert.match(report.space.unavailable ?? '', /refuses/);
  assert.ok(report.space.logBytes > 0);
  assert.ok(report.segments.every((g) => g.liveBytes === null));
  const lines = formatVerifyReport(report);
  assert.ok(lines.some((l) => l.startsWith('  live: unknown (')), lines.join('\n'));
});
