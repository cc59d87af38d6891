// truncateSuffix on the simulated disk: a power loss at any point of the backwards zeroing must
// leave a log that starts again (a prefix of the old log, longer than asked for at worst), never
// damage followed by intact records of a later write batch, which recovery must take for lost
// acknowledged data. Found by the Raft-level simulation (a follower cut a conflicting suffix that
// spanned several write batches; a power loss tore the one zeroing write; it refused to start).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ENTRY_KINDS, type LogEntry } from '../../src/storage/types';
import { SegmentedWal } from '../../src/storage/wal';
import { Prng } from '../sim/prng';
import { SimFs } from '../sim/sim-fs';

const SEEDS = 30;
const SEGMENT_BYTES = 256 * 1024;
const quiet = (): void => undefined;

function makeEntry(index: number): LogEntry {
  const size = 300 + ((index * 7919) % 900);
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = (index * 31 + i * 7 + 1) & 0xff;
  return { index, term: 1, kind: ENTRY_KINDS[index % ENTRY_KINDS.length]!, timeMs: 1_700_000_000_000 + index, metaLen: 16, payload };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a power loss while truncateSuffix zeroes a suffix of several write batches leaves a log that opens', { timeout: 60_000 }, async () => {
  let torn = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    for (let syncsAllowed = 0; syncsAllowed <= 2; syncsAllowed++) {
      let syncs = 0;
      let holding = false;
      const fs = new SimFs({
        // Once holding, fdatasyncs beyond the first `syncsAllowed` never complete: the crash finds their writes unsynced.
        delay: (op) => (holding && op === 'sync' && syncs++ >= syncsAllowed ? new Promise<void>(() => undefined) : undefined),
      });
      // Small segments: the simulated disk holds (and zero-fills) every byte of a preallocated one.
      const { wal } = await SegmentedWal.open('/wal', { fs, log: quiet, segmentBytes: SEGMENT_BYTES });
      // Three write batches: 1-10, 11-20, 21-30 (each append awaited: durable before the next).
      for (const [from, to] of [[1, 10], [11, 20], [21, 30]] as const) {
        const batch: LogEntry[] = [];
        for (let i = from; i <= to; i++) batch.push(makeEntry(i));
        await wal.append(batch);
      }
      holding = true;
      void wal.truncateSuffix(12).catch(() => undefined);
      for (let i = 0; i < 20; i++) await settle();
      const { fs: after, outcome } = fs.crash(new Prng(seed));
      torn += outcome.torn;
      holding = false;
      const reopened = await SegmentedWal.open('/wal', { fs: after, log: quiet, segmentBytes: SEGMENT_BYTES }).catch((err: unknown) => {
        assert.fail(`seed ${seed}, ${syncsAllowed} syncs: the log does not open after the crash: ${String(err)}`);
      });
      const last = reopened.wal.lastIndex();
      assert.ok(last >= 11 && last <= 30, `seed ${seed}: log ends at ${last}`);
      const entries = await reopened.wal.readEntries(1, last);
      entries.forEach((e, k) => assert.deepEqual({ ...e, payload: Buffer.from(e.payload) }, { ...makeEntry(k + 1), payload: Buffer.from(makeEntry(k + 1).payload) }));
      await reopened.wal.close();
    }
  }
  assert.ok(torn > 0, 'some crash tore a zeroing write');
});
