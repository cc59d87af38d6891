// A snapshot transfer from a leader whose log holds a damaged body: the member receiving it keeps
// its own intact copy of that entry rather than the leader's damaged one, so one bit flip on the
// leader's disk cannot leave no good copy of a message anywhere in the set.

import assert from 'node:assert/strict';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { intactEntry } from '../../src/node/group-raft';
import { RpcRouter } from '../../src/node/rpc';
import { SnapshotReceiver, SnapshotSender } from '../../src/node/snapshot-transfer';
import { nodeRuntime } from '../../src/runtime/node-runtime';
import type { LogEntry } from '../../src/storage/types';
import { SegmentedWal } from '../../src/storage/wal';
import { HEADER_BYTES } from '../../src/storage/wal-format';
import type { PeerNetwork } from '../../src/transport';

const quiet = (): void => undefined;
const META_LEN = 20;

function entry(index: number): LogEntry {
  const payload = new Uint8Array(400);
  for (let i = 0; i < payload.length; i++) payload[i] = (index * 31 + i * 7 + 1) & 0xff;
  return { index, term: 1, kind: 'command', timeMs: 1_700_000_000_000 + index, metaLen: META_LEN, payload };
}

/** The leader's side talks straight to the member's handler, as the peer RPC would. */
function linked(): { leader: RpcRouter; member: RpcRouter } {
  let deliver: ((from: string, payload: Buffer) => Promise<Uint8Array>) | undefined;
  const memberNet = { onRequest: (h: typeof deliver) => (deliver = h) } as unknown as PeerNetwork;
  const leaderNet = { onRequest: () => undefined, request: (_peer: string, payload: Buffer) => deliver!('n1', payload) } as unknown as PeerNetwork;
  return { leader: new RpcRouter(leaderNet), member: new RpcRouter(memberNet) };
}

async function withDirs<T>(fn: (leaderDir: string, memberDir: string) => Promise<T>): Promise<T> {
  const a = await mkdtemp(join(tmpdir(), 'opencmq-xfer-leader-'));
  const b = await mkdtemp(join(tmpdir(), 'opencmq-xfer-member-'));
  try {
    return await fn(a, b);
  } finally {
    await rm(a, { recursive: true, force: true });
    await rm(b, { recursive: true, force: true });
  }
}

/** A leader log of entries 1-10 whose entry 5 has a flipped body byte (found at its start-up). */
async function damagedLeaderLog(dir: string): Promise<SegmentedWal> {
  const first = await SegmentedWal.open(join(dir, 'wal'), { log: quiet });
  await first.wal.append(Array.from({ length: 10 }, (_, i) => entry(i + 1)));
  const loc = first.wal.locate(5)!;
  await first.wal.close();
  const fh = await open(join(dir, 'wal', loc.segment), 'r+');
  const at = loc.fileOffset + HEADER_BYTES + META_LEN + 100;
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] = b[0]! ^ 0x10;
  await fh.write(b, 0, 1, at);
  await fh.close();
  const { wal, report } = await SegmentedWal.open(join(dir, 'wal'), { log: quiet });
  assert.deepEqual(report.damagedBodies.map((d) => d.index), [5]);
  return wal;
}

/** Ships the leader's snapshot and entries 1-10 to a member whose own log is `memberLog`; the staged entries. */
async function transfer(leaderWal: SegmentedWal, memberDir: string, memberLog: SegmentedWal | undefined): Promise<LogEntry[]> {
  const { leader, member } = linked();
  const receiver = new SnapshotReceiver(memberDir, { log: quiet }, nodeRuntime, quiet, (index, term) =>
    memberLog === undefined ? Promise.resolve(undefined) : intactEntry(memberLog, index, term),
  );
  receiver.serve(member);
  const sender = new SnapshotSender(leader, 'n1', { loadSnapshot: () => Promise.resolve(new Uint8Array([1, 2, 3])), wal: () => leaderWal }, quiet);
  await sender.send('n2', { index: 10, term: 1, voters: ['n1', 'n2'] });
  const staged = await SegmentedWal.open(join(memberDir, 'install', 'wal'), { log: quiet });
  try {
    return await staged.wal.readEntries(1, 10);
  } finally {
    await staged.wal.close();
  }
}

test('a member installing a snapshot keeps its own intact copy of an entry the leader holds damaged', async () => {
  await withDirs(async (leaderDir, memberDir) => {
    const leaderWal = await damagedLeaderLog(leaderDir);
    const own = await SegmentedWal.open(join(memberDir, 'wal'), { log: quiet });
    await own.wal.append(Array.from({ length: 10 }, (_, i) => entry(i + 1)));
    try {
      const staged = await transfer(leaderWal, memberDir, own.wal);
      assert.deepEqual(
        staged.map((e) => e.index),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      );
      for (const e of staged) assert.ok(Buffer.from(e.payload).equals(Buffer.from(entry(e.index).payload)), `entry ${e.index} is not the intact one`);
    } finally {
      await leaderWal.close();
      await own.wal.close();
    }
  });
});

test('a member without an intact copy gets the entry as the leader holds it (its message bodies fail their own checks)', async () => {
  await withDirs(async (leaderDir, memberDir) => {
    const leaderWal = await damagedLeaderLog(leaderDir);
    try {
      const staged = await transfer(leaderWal, memberDir, undefined);
      assert.equal(staged.length, 10);
      assert.ok(!Buffer.from(staged[4]!.payload).equals(Buffer.from(entry(5).payload)), 'the damaged copy is what there is');
      assert.ok(Buffer.from(staged[3]!.payload).equals(Buffer.from(entry(4).payload)));
    } finally {
      await leaderWal.close();
    }
  });
});

test('intactEntry: only an entry of the same term, durable and with an intact body', async () => {
  await withDirs(async (leaderDir) => {
    const wal = await damagedLeaderLog(leaderDir);
    try {
      assert.equal((await intactEntry(wal, 4, 1))?.index, 4);
      assert.equal(await intactEntry(wal, 4, 2), undefined, 'another term');
      assert.equal(await intactEntry(wal, 5, 1), undefined, 'damaged');
      assert.equal(await intactEntry(wal, 11, 1), undefined, 'not in the log');
    } finally {
      await wal.close();
    }
  });
});
