// A snapshot asked for (by compaction's census, on its own timer) while the core has accepted a
// snapshot from the leader that the driver has not installed yet: the local state machine is
// about to be replaced and the core no longer holds its entries. The ask must come to nothing;
// it used to throw "snapshotMetaAt(...): entry is compacted" out of a timer, killing the process
// (found by the queue simulator, seed 127 at intensity 3, a follower catching up by snapshot).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GroupSnapshots, type GroupSnapshotsOptions } from '../../src/node/group-snapshots';
import { noopLogger } from '../../src/protocol/log';
import { nodeRuntime } from '../../src/runtime/node-runtime';

test('a snapshot asked for while a snapshot from the leader awaits installation is skipped, not a crash', async () => {
  const saved: number[] = [];
  // The core accepted snapshot 1835; the state machine still stands at 1830, its log ends there.
  const commitLog = {
    status: () => ({ snapshotIndex: 1835 }),
    snapshotMetaAt: (index: number) => {
      if (index < 1835) throw new Error(`raft invariant violated: snapshotMetaAt(${index}): entry is compacted`);
      return { index, term: 12, voters: ['n1', 'n2', 'n3'] };
    },
    learnedAddresses: () => ({}),
    compact: () => undefined,
  };
  const state = {
    sm: { lastAppliedIndex: 1830, beginSnapshot: () => assert.fail('no snapshot of a state machine about to be replaced') },
    wal: { lastIndex: () => 1830, closedSpans: () => [] },
  };
  const snapshots = new GroupSnapshots({
    dataDir: '/nowhere',
    fs: undefined,
    runtime: nodeRuntime,
    logger: noopLogger,
    commitLog,
    store: { save: (meta: { index: number }) => void saved.push(meta.index) },
    state,
    everyEntries: 1000,
    reopenWal: () => assert.fail('no install here'),
    afterInstall: () => undefined,
    closing: () => false,
    stopped: () => false,
  } as unknown as GroupSnapshotsOptions);
  await snapshots.snapshotNow();
  assert.deepEqual(saved, []);
  assert.equal(snapshots.snapshotsTaken, 0);
});
