// Deduplication ids in snapshots: they survive one (a retried send after a restore still answers
// the first msgId), a capture emits them as they were when it was taken while the table goes on,
// in pieces rather than encoded all at once, and a snapshot of the earlier format (ids as JSON)
// still restores.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ByteReader, ByteWriter } from '../../src/broker/binary';
import type { CommandResult } from '../../src/broker/commands';
import { dedupKey, queueScope } from '../../src/broker/dedup';
import { MAGIC, SNAPSHOT_VERSION } from '../../src/broker/snapshot';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { LIMITS } from '../../src/protocol/limits';
import { BrokerHarness } from '../helpers/broker-harness';

type Sent = Extract<CommandResult, { ok: true; kind: 'sendMessages' }>;

function send(h: BrokerHarness, dedupIds: string[]): Sent {
  return h.ok({
    kind: 'sendMessages',
    queueName: 'q',
    delaySeconds: 0,
    bodies: dedupIds.map((id) => Buffer.from(`body ${id}`)),
    options: dedupIds.map((dedupId) => ({ dedupId })),
  });
}

/** A retried send of `ids` on `sm`, applied as the next entry: the msgIds it answers. */
function retry(h: BrokerHarness, sm: QueueStateMachine, ids: string[]): string[] {
  h.sm = sm;
  return send(h, ids).msgIds;
}

function harness(): BrokerHarness {
  const h = new BrokerHarness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: {} });
  return h;
}

test('remembered ids survive a snapshot: a send retried after the restore answers the first msgIds', () => {
  const h = harness();
  const first = send(h, ['a', 'b', 'c']).msgIds;
  const restored = QueueStateMachine.restore(h.sm.snapshot());
  assert.deepEqual(retry(h, restored, ['a', 'b', 'c']), first);
  assert.equal(restored.stats().dedup.ids, 3);
});

test('a capture emits the ids as they were when it was taken, in many pieces, while the table goes on', () => {
  const h = harness();
  const ids = Array.from({ length: 10_000 }, (_, i) => `id-${i}`);
  const first: string[] = [];
  for (let i = 0; i < ids.length; i += 16) first.push(...send(h, ids.slice(i, i + 16)).msgIds);
  const capture = h.sm.beginSnapshot();
  // After the capture: new ids, and the old ones expire.
  const later = send(h, ['later']).msgIds;
  h.advance(LIMITS.dedupWindowMs + 1);
  send(h, ['after-expiry']);
  assert.equal(h.sm.stats().dedup.ids, 1);
  const pieces: Uint8Array[] = [];
  for (let p = capture.next(64 * 1024); p !== undefined; p = capture.next(64 * 1024)) pieces.push(p);
  // 10,000 ids take about 380 kB: emitted a slice at a time, the last piece holds only some.
  assert.ok(pieces.at(-1)!.length < 200_000, `last piece of ${pieces.at(-1)!.length} bytes: the ids were not emitted a slice at a time`);
  const restored = QueueStateMachine.restore(Buffer.concat(pieces));
  assert.equal(restored.stats().dedup.ids, ids.length, 'the ids of the capture, none added or expired since');
  const fresh = harness();
  fresh.timeMs = h.timeMs - LIMITS.dedupWindowMs - 1; // within the window again, on the restored machine
  fresh.index = h.index;
  assert.deepEqual(retry(fresh, restored, ids.slice(0, 16)), first.slice(0, 16));
  assert.notDeepEqual(retry(fresh, restored, ['later']), later, '"later" came after the capture');
});

test('a snapshot of the earlier format, ids as JSON, still restores them', () => {
  const h = harness();
  const first = send(h, ['x', 'y']).msgIds;
  const restored = QueueStateMachine.restore(asVersion4(h.sm.snapshot(), ['x', 'y']));
  assert.deepEqual(retry(h, restored, ['x', 'y']), first);
});

/**
 * The snapshot with its ids (those of queue number 1, in this order) written as version 4 did:
 * one JSON array of [scope, id, entryIndex, batchPos, expiresMs]. They are its last section: a
 * count, then per id its key, entryIndex, batchPos and expiresMs.
 */
function asVersion4(current: Uint8Array, ids: string[]): Uint8Array {
  assert.equal(current[MAGIC.length], SNAPSHOT_VERSION);
  const scope = queueScope(1);
  const keys = ids.map((id) => dedupKey(scope, id));
  const at = current.length - 4 - keys.reduce((n, k) => n + 4 + Buffer.byteLength(k) + 3 * 8, 0);
  const r = new ByteReader(current, at, current.length);
  assert.equal(r.u32(), ids.length);
  const rows = ids.map((id, i) => {
    assert.equal(r.longStr(), keys[i]);
    return [scope, id, r.f64(), r.f64(), r.f64()];
  });
  const json = Buffer.from(JSON.stringify(rows));
  const w = new ByteWriter(4 + json.length);
  w.u32(json.length);
  w.bytes(json);
  const out = Buffer.concat([current.subarray(0, at), w.finish()]);
  out[MAGIC.length] = 4;
  return out;
}
