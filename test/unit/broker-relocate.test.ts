// Compaction's state-machine half: a relocateBodies entry points live messages at copies of their
// bodies, and nothing a client sees changes (msgId, receipt handles, order, counters); stale or
// mismatched relocations are ignored; the census visits every live body once, slice by slice.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeCommand } from '../../src/broker/codec';
import type { BodyRef, CommandResult, ReceivedMessage } from '../../src/broker/commands';
import { QueueStateMachine, type BodyScanCursor } from '../../src/broker/state-machine';
import { BrokerHarness, HARNESS_T0 } from '../helpers/broker-harness';

const T0 = HARNESS_T0;

class Harness extends BrokerHarness {
  /** Every live message's (queueNumber, seq, body) as the census sees them, in slices of `slice`. */
  census(slice: number): { queueNumber: number; seq: number; ref: BodyRef }[] {
    const out: { queueNumber: number; seq: number; ref: BodyRef }[] = [];
    let cursor: BodyScanCursor | undefined = { queueNumber: 0, seq: 0 };
    while (cursor) {
      cursor = this.sm.scanBodies(cursor, slice, (queueNumber, seq, entryIndex, offset, length, crc) =>
        out.push({ queueNumber, seq, ref: { entryIndex, offset, length, crc32c: crc } }),
      );
    }
    return out;
  }
}

function relocateAll(h: Harness, which: (ref: BodyRef) => boolean): Extract<CommandResult, { ok: true; kind: 'relocateBodies' }> {
  const byBody = new Map<string, { from: BodyRef; body: Uint8Array; messages: { queueNumber: number; seq: number }[] }>();
  for (const m of h.census(7)) {
    if (!which(m.ref)) continue;
    const key = `${m.ref.entryIndex}/${m.ref.offset}`;
    let b = byBody.get(key);
    if (!b) byBody.set(key, (b = { from: m.ref, body: h.body(m.ref), messages: [] }));
    b.messages.push({ queueNumber: m.queueNumber, seq: m.seq });
  }
  return h.ok({ kind: 'relocateBodies', bodies: [...byBody.values()] });
}

test('relocated messages read their bodies from the new entry; msgIds, handles and order stay', () => {
  const h = new Harness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { visibilityTimeout: 60 } });
  const bodies = ['alpha', 'beta', 'gamma', 'delta'].map((s) => Buffer.from(s));
  const { msgIds } = h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies });
  const sendEntry = h.index;
  const first = h.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 1, seed: 1 }).messages[0]!;
  const before = h.sm.getQueueAttributes('q');
  const r = relocateAll(h, (ref) => ref.entryIndex === sendEntry);
  const relocEntry = h.index;
  assert.deepEqual([r.relocated, r.bytes], [4, bodies.reduce((n, b) => n + b.length, 0)]);
  assert.deepEqual(h.sm.getQueueAttributes('q'), before, 'counters and attributes do not change');
  assert.deepEqual(h.sm.liveEntryIndexes(), [relocEntry], 'the send entry no longer holds a live body');
  // The in-flight message's handle still deletes it.
  assert.deepEqual(h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [first.receiptHandle] }).failures, []);
  const got: ReceivedMessage[] = h.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: 2 }).messages;
  assert.deepEqual(got.map((m) => m.msgId), msgIds.slice(1), 'same msgIds, same order');
  assert.deepEqual(got.map((m) => h.body(m.body).toString()), ['beta', 'gamma', 'delta']);
  for (const m of got) assert.equal(m.body.entryIndex, relocEntry);
});

test('a relocation that no longer matches is ignored: deleted, already moved, or a different body', () => {
  const h = new Harness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { visibilityTimeout: 60 } });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('one'), Buffer.from('two')] });
  const [a, b] = h.census(100);
  const [m] = h.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 1, seed: 1 }).messages;
  h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [m!.receiptHandle] });
  const wrongCrc = { ...b!.ref, crc32c: (b!.ref.crc32c + 1) >>> 0 };
  const r = h.ok({
    kind: 'relocateBodies',
    bodies: [
      { from: a!.ref, body: h.body(a!.ref), messages: [{ queueNumber: a!.queueNumber, seq: a!.seq }] }, // deleted
      { from: wrongCrc, body: h.body(b!.ref), messages: [{ queueNumber: b!.queueNumber, seq: b!.seq }] }, // not where it is
      { from: b!.ref, body: h.body(b!.ref), messages: [{ queueNumber: 99, seq: 0 }, { queueNumber: b!.queueNumber, seq: 5 }] }, // no such queue / seq
    ],
  });
  assert.deepEqual([r.relocated, r.bytes], [0, 0]);
  assert.equal(h.census(100)[0]!.ref.entryIndex, b!.ref.entryIndex);
  // Relocating twice from the same place: the second finds it moved.
  assert.equal(relocateAll(h, () => true).relocated, 1);
  const again = h.ok({ kind: 'relocateBodies', bodies: [{ from: b!.ref, body: h.body(b!.ref), messages: [{ queueNumber: b!.queueNumber, seq: b!.seq }] }] });
  assert.equal(again.relocated, 0);
});

test('a body shared by a dead-letter move keeps working after relocation, and snapshots keep the new place', () => {
  const h = new Harness();
  h.ok({ kind: 'createQueue', queueName: 'dlq', attrs: {} });
  h.ok({ kind: 'createQueue', queueName: 'src', attrs: { visibilityTimeout: 1, deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1 } } });
  const { msgIds } = h.ok({ kind: 'sendMessages', queueName: 'src', delaySeconds: 0, bodies: [Buffer.from('payload')] });
  h.ok({ kind: 'receiveMessages', queueName: 'src', numOfMsg: 1, seed: 1 });
  // Past the visibility timeout the next receive moves it to the dead-letter queue.
  const later = h.index;
  const { payload, metaLen } = encodeCommand({ kind: 'receiveMessages', queueName: 'src', numOfMsg: 1, seed: 2 });
  h.payloads.set(later + 1, payload);
  h.sm.apply(++h.index, T0 + 5_000, payload, metaLen);
  assert.equal(h.sm.getQueueAttributes('dlq')?.activeMsgNum, 1);
  const cmd = encodeCommand({ kind: 'tick' });
  h.sm.apply(++h.index, T0 + 5_000, cmd.payload, cmd.metaLen);
  const { payload: p2, metaLen: m2 } = (() => {
    const byBody = h.census(3).map((m) => ({ from: m.ref, body: h.body(m.ref), messages: [{ queueNumber: m.queueNumber, seq: m.seq }] }));
    return encodeCommand({ kind: 'relocateBodies', bodies: byBody });
  })();
  h.payloads.set(h.index + 1, p2);
  const r = h.sm.apply(++h.index, T0 + 5_000, p2, m2);
  assert.ok(r.ok && r.kind === 'relocateBodies' && r.relocated === 1);
  const restored = QueueStateMachine.restore(h.sm.snapshot());
  const rec = encodeCommand({ kind: 'receiveMessages', queueName: 'dlq', numOfMsg: 1, seed: 3 });
  const got = restored.apply(h.index + 1, T0 + 5_000, rec.payload, rec.metaLen);
  assert.ok(got.ok && got.kind === 'receiveMessages');
  assert.equal(got.messages[0]!.msgId, msgIds[0], 'the dead-lettered message keeps its msgId');
  assert.equal(got.messages[0]!.body.entryIndex, h.index, 'and reads its body from the relocation entry after a restore');
  assert.equal(h.body(got.messages[0]!.body).toString(), 'payload');
});

test('the census visits every live message exactly once, whatever the slice size', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 50 }), fc.nat(300), (batches, slice, deletes) => {
      const h = new Harness();
      for (const q of ['a', 'b', 'c']) h.ok({ kind: 'createQueue', queueName: q, attrs: { visibilityTimeout: 60 } });
      h.ok({ kind: 'deleteQueue', queueName: 'b' });
      let total = 0;
      batches.forEach((n, k) => {
        const bodies = Array.from({ length: n }, (_, i) => Buffer.from(`m${k}.${i}`));
        h.ok({ kind: 'sendMessages', queueName: k % 2 === 0 ? 'a' : 'c', delaySeconds: 0, bodies });
        total += n;
      });
      // Take some out: received and deleted messages are not live (no rewind window).
      let left = Math.min(deletes, total);
      for (const q of ['a', 'c']) {
        while (left > 0) {
          const got = h.ok({ kind: 'receiveMessages', queueName: q, numOfMsg: Math.min(16, left), seed: left }).messages;
          if (got.length === 0) break;
          h.ok({ kind: 'deleteMessages', queueName: q, receiptHandles: got.map((m) => m.receiptHandle) });
          left -= got.length;
          total -= got.length;
        }
      }
      const all = h.census(slice);
      assert.equal(all.length, total);
      assert.equal(new Set(all.map((m) => `${m.queueNumber}/${m.seq}`)).size, total, 'no message twice');
      assert.deepEqual(h.census(slice), h.census(1_000_000), 'slicing changes nothing');
    }),
    { numRuns: 200 },
  );
});

test('deleted messages kept for rewind need their bodies only inside the rewind window; a larger window does not reach back', () => {
  const h = new Harness();
  h.ok({ kind: 'createQueue', queueName: 'q', attrs: { rewindSeconds: 60, visibilityTimeout: 30 } });
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('early')] });
  const early = h.index;
  const consume = (): void => {
    const got = h.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: h.index }).messages;
    h.ok({ kind: 'deleteMessages', queueName: 'q', receiptHandles: got.map((m) => m.receiptHandle) });
  };
  consume();
  assert.deepEqual(h.sm.liveEntryIndexes(), [early], 'deleted, inside the window: kept for rewind');
  assert.equal(h.census(10).length, 1);
  h.timeMs += 61_000;
  h.ok({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('late')] });
  const late = h.index;
  consume();
  assert.equal(h.sm.getQueueAttributes('q')?.rewindMsgNum, 2, 'both still counted for rewind until retention (spec)');
  assert.deepEqual(h.sm.liveEntryIndexes(), [late], 'the early one left the window: its body is no longer needed');
  assert.deepEqual(h.census(10).map((m) => m.ref.entryIndex), [late]);
  const before = h.sm.snapshot();
  // A larger window from now on: the early message, already out of the old window, stays out.
  h.ok({ kind: 'setQueueAttributes', queueName: 'q', attrs: { rewindSeconds: 3600 } });
  h.ok({ kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: Math.floor(T0 / 1000) - 1 });
  const again = h.ok({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: 9 }).messages;
  assert.deepEqual(again.map((m) => h.body(m.body).toString()), ['late']);
  // And the floor survives a snapshot: a restored replica rewinds the same way.
  const restored = QueueStateMachine.restore(h.sm.snapshot());
  assert.notDeepEqual(before, h.sm.snapshot());
  for (const m of [h.sm, restored]) {
    const rw = encodeCommand({ kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: Math.floor(T0 / 1000) - 1 });
    assert.ok(m.apply(h.index + 1, h.timeMs, rw.payload, rw.metaLen).ok);
    const rc = encodeCommand({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: 10 });
    const r = m.apply(h.index + 2, h.timeMs, rc.payload, rc.metaLen);
    assert.ok(r.ok && r.kind === 'receiveMessages');
    assert.deepEqual(r.messages.map((x) => h.body(x.body).toString()), ['late']);
  }
});
