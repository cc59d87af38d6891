// Compaction on one node over a real WAL: a few live messages scattered over many segments no
// longer pin them. The census finds the sparse segments, relocation copies their live bodies
// forward, a snapshot releases them; every message is still delivered intact (msgId, body,
// receipt handle) and after a restart. With compaction off the same workload keeps its segments.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import type { CommandResult } from '../../src/broker/commands';
import { QueueNode, type QueueNodeOptions } from '../../src/node/queue-node';
import type { RequestContext } from '../../src/service/request-context';
import { LEFTOVER_BODY_BYTES, LEFTOVERS, leftoverBody, scatteredLeftovers } from '../helpers/scattered-leftovers';

const RC: RequestContext = { requestId: 'test-compaction', clientAddress: '', receivedAtMs: 0 };
const SEGMENT_BYTES = 64 * 1024;
const BODY_BYTES = LEFTOVER_BODY_BYTES;

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function openNode(extra: Partial<QueueNodeOptions> = {}, dir?: string): Promise<{ node: QueueNode; dir: string }> {
  const dataDir = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'opencmq-compaction-')));
  if (!dir) dirs.push(dataDir);
  // The census runs when the test asks (compactNow), not on a timer.
  const node = await QueueNode.open({ dataDir, segmentBytes: SEGMENT_BYTES, snapshotEveryEntries: 200, log: () => {}, compaction: { censusIntervalMs: 3_600_000 }, ...extra });
  return { node, dir: dataDir };
}

function ok<T extends CommandResult>(r: T): Extract<T, { ok: true }> {
  assert.ok(r.ok, `expected success, got ${JSON.stringify(r)}`);
  return r as Extract<T, { ok: true }>;
}

/** Rewinds `keep` so the in-flight leftovers are visible again, and receives every one, checking its body. */
async function receiveAll(node: QueueNode, kept: Map<string, number>): Promise<void> {
  // In flight for 12 h: a rewind makes them visible again (the deleted ones were not kept for it).
  ok(await node.submit(RC, { kind: 'setQueueAttributes', queueName: 'keep', attrs: { rewindSeconds: 3600 } }));
  ok(await node.submit(RC, { kind: 'rewindQueue', queueName: 'keep', startConsumeTimeSec: Math.floor(Date.now() / 1000) - 600 }));
  const seen = new Map<string, number>();
  const deadline = Date.now() + 20_000;
  while (seen.size < kept.size && Date.now() < deadline) {
    const r = await node.receive(RC, 'keep', 16, 1);
    assert.ok(r.ok, JSON.stringify(r));
    for (const m of r.messages) {
      const i = kept.get(m.msgId);
      assert.ok(i !== undefined, `unexpected message ${m.msgId}`);
      assert.deepEqual(m.bodyBytes, leftoverBody(i), `body of message ${i} intact`);
      seen.set(m.msgId, i);
    }
  }
  assert.equal(seen.size, kept.size, 'every leftover is delivered');
  assert.equal(node.stats().corruptBodies, 0);
}

/** A snapshot, two censuses (the first sees the sparse segments, the second finds them settled and compacts), a snapshot. */
async function compactFully(node: QueueNode): Promise<number> {
  await node.snapshotNow();
  const before = node.stats().walBytes;
  await node.compactNow();
  await node.compactNow();
  await node.snapshotNow();
  return before;
}

test('compaction frees the segments a few scattered live messages pinned; every one is still delivered, also after a restart', async () => {
  const { node, dir } = await openNode();
  const kept = await scatteredLeftovers(node);
  const before = await compactFully(node);
  const st = node.stats();
  const live = kept.size * BODY_BYTES;
  assert.ok(st.compaction.runs >= 1, 'a relocation pass ran');
  assert.ok(st.compaction.bytesCopied >= live, `copied ${st.compaction.bytesCopied} bytes for ${live} live`);
  assert.ok(st.compaction.liveBytes >= live && st.compaction.liveBytes < 2 * live, `census counts ${st.compaction.liveBytes} live bytes`);
  assert.ok(st.walBytes <= 2 * live + 3 * SEGMENT_BYTES, `log is ${st.walBytes} bytes after compaction (was ${before}) for ${live} live bytes`);
  assert.ok(before > 3 * st.walBytes, `compaction freed most of the log: ${before} → ${st.walBytes}`);
  await node.close();

  const { node: again } = await openNode({}, dir);
  await receiveAll(again, kept);
  await again.close();
});

test('with compaction off (--compact-below 0) the same leftovers keep their segments', async () => {
  const { node } = await openNode({ compaction: { liveRatio: 0, censusIntervalMs: 3_600_000 } });
  await scatteredLeftovers(node);
  const before = await compactFully(node);
  const st = node.stats();
  assert.equal(st.compaction.runs, 0);
  assert.equal(st.compaction.bytesCopied, 0);
  assert.ok(st.compaction.liveBytes >= LEFTOVERS * BODY_BYTES, 'the census still counts the live bytes');
  assert.ok(st.walBytes >= before * 0.9, `nothing freed: ${before} → ${st.walBytes}`);
  await node.close();
});
