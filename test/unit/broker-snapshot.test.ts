// Snapshots and determinism: restore(snapshot(s)) behaves exactly like s for any further entries;
// machines fed the same entries produce identical snapshots whatever reads they served; the
// per-message index stays small and is reclaimed when messages go.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BrokerFormatError } from '../../src/broker/binary';
import { encodeCommand } from '../../src/broker/codec';
import type { Command, CommandResult, DeadLetterPolicy, QueueAttributesInput } from '../../src/broker/commands';
import { BYTES_PER_SLOT, CHUNK_SLOTS } from '../../src/broker/message-store';
import { SNAPSHOT_PIECE_BYTES, type SnapshotCapture } from '../../src/broker/snapshot-capture';
import { QueueStateMachine } from '../../src/broker/state-machine';

const NAMES = ['a', 'b', 'c', 'd'];
const T0 = 1_700_000_000_000;

type Op =
  | { t: 'create' | 'set'; q: number; attrs: AttrsSpec }
  | { t: 'deleteQueue' | 'unbind'; q: number }
  | { t: 'send'; q: number; n: number; delay: number }
  | { t: 'recv'; q: number; n: number; seed: number }
  | { t: 'del'; q: number; picks: number[] }
  | { t: 'rewind'; q: number; back: number }
  | { t: 'quarantine'; pick: number }
  | { t: 'adv'; ms: number };

interface AttrsSpec {
  vt?: number;
  retention?: number;
  rewind?: number;
  heap?: number;
  policy?: { dlq: number; kind: 0 | 1; n: number } | null;
}

const NP = { noNullPrototype: true } as const;
const q = fc.integer({ min: 0, max: NAMES.length - 1 });
const attrsArb: fc.Arbitrary<AttrsSpec> = fc.record(
  {
    vt: fc.integer({ min: 1, max: 20 }),
    retention: fc.integer({ min: 60, max: 900 }),
    rewind: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 900 })),
    heap: fc.integer({ min: 1, max: 30 }),
    policy: fc.option(fc.record({ dlq: q, kind: fc.constantFrom(0 as const, 1 as const), n: fc.integer({ min: 1, max: 3 }) }, NP), { nil: null }),
  },
  { requiredKeys: [], noNullPrototype: true },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ t: fc.constant('create' as const), q, attrs: attrsArb }, NP) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('set' as const), q, attrs: attrsArb }, NP) },
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom('deleteQueue' as const, 'unbind' as const), q }, NP) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('send' as const), q, n: fc.integer({ min: 1, max: 16 }), delay: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 400 })) }, NP) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('recv' as const), q, n: fc.integer({ min: 1, max: 16 }), seed: fc.integer({ min: 0, max: 0xffff_ffff }) }, NP) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('del' as const), q, picks: fc.array(fc.nat(), { minLength: 1, maxLength: 16 }) }, NP) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('rewind' as const), q, back: fc.integer({ min: 0, max: 1000 }) }, NP) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('quarantine' as const), pick: fc.nat() }, NP) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('adv' as const), ms: fc.oneof(fc.integer({ min: 0, max: 30_000 }), fc.integer({ min: 0, max: 400_000 })) }, NP) },
);

function attrsOf(s: AttrsSpec): QueueAttributesInput {
  const a: QueueAttributesInput = {};
  if (s.vt !== undefined) a.visibilityTimeout = s.vt;
  if (s.retention !== undefined) a.msgRetentionSeconds = s.retention;
  if (s.rewind !== undefined) a.rewindSeconds = s.rewind;
  if (s.heap !== undefined) a.maxMsgHeapNum = s.heap;
  if (s.policy === null) a.deadLetterPolicy = null;
  else if (s.policy !== undefined) {
    const p: DeadLetterPolicy = { deadLetterQueue: NAMES[s.policy.dlq]!, policy: s.policy.kind };
    if (s.policy.kind === 0) p.maxReceiveCount = s.policy.n;
    else p.maxTimeToLive = 300 + s.policy.n * 50;
    a.deadLetterPolicy = p;
  }
  return a;
}

/** Turns ops into log entries, picking handles and quarantine targets from earlier results. */
class Driver {
  index = 0;
  timeMs = T0;
  handles: string[] = [];
  received: { queueName: string; queueNumber: number; seq: number }[] = [];

  entry(op: Op): { index: number; timeMs: number; payload: Uint8Array; metaLen: number } {
    if (op.t === 'adv') this.timeMs += op.ms;
    const { payload, metaLen } = encodeCommand(this.command(op));
    return { index: ++this.index, timeMs: this.timeMs, payload, metaLen };
  }

  private command(op: Op): Command {
    const queueName = 'q' in op ? NAMES[op.q]! : '';
    switch (op.t) {
      case 'create':
        return { kind: 'createQueue', queueName, attrs: attrsOf(op.attrs) };
      case 'set':
        return { kind: 'setQueueAttributes', queueName, attrs: attrsOf(op.attrs) };
      case 'deleteQueue':
        return { kind: 'deleteQueue', queueName };
      case 'unbind':
        return { kind: 'unbindDeadLetter', queueName };
      case 'send':
        return { kind: 'sendMessages', queueName, delaySeconds: op.delay, bodies: Array.from({ length: op.n }, (_, i) => Buffer.from(`m${this.index}-${i}`)) };
      case 'recv':
        return { kind: 'receiveMessages', queueName, numOfMsg: op.n, seed: op.seed };
      case 'del':
        return { kind: 'deleteMessages', queueName, receiptHandles: op.picks.map((p) => this.handles[this.handles.length - 1 - (p % (this.handles.length + 1))] ?? 'nope') };
      case 'rewind':
        return { kind: 'rewindQueue', queueName, startConsumeTimeSec: Math.floor(this.timeMs / 1000) - op.back };
      case 'quarantine': {
        const r = this.received[this.received.length - 1 - (op.pick % Math.max(1, this.received.length))];
        return r ? { kind: 'quarantineMessage', ...r } : { kind: 'tick' };
      }
      case 'adv':
        return { kind: 'tick' };
    }
  }

  observe(result: CommandResult, queueName: string): void {
    if (!result.ok || result.kind !== 'receiveMessages') return;
    for (const m of result.messages) {
      this.handles.push(m.receiptHandle);
      this.received.push({ queueName, queueNumber: m.queueNumber, seq: m.seq });
    }
  }
}

function applyOp(d: Driver, op: Op, machines: QueueStateMachine[]): CommandResult[] {
  const e = d.entry(op);
  const results = machines.map((m) => m.apply(e.index, e.timeMs, e.payload, e.metaLen));
  d.observe(results[0]!, 'q' in op ? NAMES[op.q]! : '');
  return results;
}

/** Everything a client or the driver can read. */
function reads(m: QueueStateMachine): unknown {
  return {
    attrs: NAMES.map((n) => m.getQueueAttributes(n)),
    list: m.listQueues(undefined, 0, 50),
    sources: NAMES.map((n) => m.listDeadLetterSourceQueues(n, undefined, 0, 50)),
    visible: NAMES.map((n) => m.visibleCount(n)),
    settings: NAMES.map((n) => m.queueSettings(n)),
    deadline: m.nextDeadlineMs(),
    live: m.liveEntryIndexes(),
    stats: m.stats(),
    index: m.lastAppliedIndex,
    time: m.lastTimeMs,
  };
}

test('restore(snapshot(s)) behaves exactly like s for any further entries', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 150 }), fc.nat(), (ops, cut) => {
      const split = cut % (ops.length + 1);
      const d = new Driver();
      const original = new QueueStateMachine();
      for (const op of ops.slice(0, split)) applyOp(d, op, [original]);
      const snap = original.snapshot();
      const restored = QueueStateMachine.restore(snap);
      assert.deepEqual(restored.snapshot(), snap, 'snapshot of a restore is the same bytes');
      assert.deepEqual(reads(restored), reads(original));
      for (const op of ops.slice(split)) {
        const [a, b] = applyOp(d, op, [original, restored]);
        assert.deepEqual(b, a);
        assert.deepEqual(reads(restored), reads(original));
      }
      assert.deepEqual(restored.snapshot(), original.snapshot());
    }),
    { numRuns: 300 },
  );
});

/** Emits `capture` a piece of at most `pieceBytes` at a time, running `between` after each piece. */
function emitInPieces(capture: SnapshotCapture, pieceBytes: number, between: () => void): Uint8Array {
  const pieces: Uint8Array[] = [];
  for (let p = capture.next(pieceBytes); p !== undefined; p = capture.next(pieceBytes)) {
    pieces.push(p);
    between();
  }
  return Buffer.concat(pieces);
}

test('a snapshot emitted in pieces while the machine goes on applying holds exactly the state of its capture', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 150 }), fc.nat(), fc.integer({ min: 1, max: 20_000 }), (ops, cut, pieceBytes) => {
      const split = cut % (ops.length + 1);
      const d = new Driver();
      const m = new QueueStateMachine();
      for (const op of ops.slice(0, split)) applyOp(d, op, [m]);
      const expected = m.snapshot();
      const expectedLive = m.liveEntryIndexes();
      const heard = new Set<number>();
      const capture = m.beginSnapshot((e) => heard.add(e));
      assert.equal(capture.size, expected.length);
      const rest = ops.slice(split);
      // Every remaining op runs while the capture is emitted (one or more per piece), the rest after.
      const got = emitInPieces(capture, pieceBytes, () => {
        for (const op of rest.splice(0, 3)) applyOp(d, op, [m]);
      });
      for (const op of rest) applyOp(d, op, [m]);
      assert.deepEqual(got, Buffer.from(expected));
      assert.deepEqual([...heard].sort((a, b) => a - b), expectedLive);
      assert.ok(capture.done());
      assert.equal(capture.next(), undefined);
      // The machine itself is unchanged by the capture: its own snapshot now restores to it.
      assert.deepEqual(reads(QueueStateMachine.restore(m.snapshot())), reads(m));
    }),
    { numRuns: 300 },
  );
});

test('a capture of a large backlog is emitted in bounded pieces, never in one go', () => {
  const m = new QueueStateMachine();
  let index = 0;
  run(m, ++index, T0, { kind: 'createQueue', queueName: 'big', attrs: { visibilityTimeout: 60 } });
  const bodies = Array.from({ length: 16 }, (_, i) => Buffer.alloc(100, i));
  for (let sent = 0; sent < 300_000; sent += 16) run(m, ++index, T0, { kind: 'sendMessages', queueName: 'big', delaySeconds: 0, bodies });
  const expected = m.snapshot();
  const capture = m.beginSnapshot();
  const pieces: Uint8Array[] = [];
  for (let p = capture.next(); p !== undefined; p = capture.next()) {
    assert.ok(p.length <= SNAPSHOT_PIECE_BYTES + CHUNK_SLOTS * BYTES_PER_SLOT + 12, `a piece of ${p.length} bytes`);
    pieces.push(p);
    // Receives and deletes between pieces change chunks the capture still holds.
    run(m, ++index, T0 + index, { kind: 'receiveMessages', queueName: 'big', numOfMsg: 16, seed: index });
  }
  assert.ok(pieces.length >= Math.floor(expected.length / SNAPSHOT_PIECE_BYTES), `${pieces.length} pieces for ${expected.length} bytes`);
  assert.deepEqual(Buffer.concat(pieces), Buffer.from(expected));
});

test('two captures open at once each keep their own state; an abandoned one lets go of its chunks', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 20, maxLength: 150 }), fc.integer({ min: 1, max: 5_000 }), (ops, pieceBytes) => {
      const d = new Driver();
      const m = new QueueStateMachine();
      const third = Math.floor(ops.length / 3);
      for (const op of ops.slice(0, third)) applyOp(d, op, [m]);
      const expectedA = m.snapshot();
      const a = m.beginSnapshot();
      const firstA = a.next(pieceBytes);
      for (const op of ops.slice(third, 2 * third)) applyOp(d, op, [m]);
      const expectedB = m.snapshot();
      const b = m.beginSnapshot();
      const abandoned = m.beginSnapshot();
      abandoned.next(pieceBytes);
      abandoned.release();
      assert.ok(abandoned.done());
      const rest = ops.slice(2 * third);
      const gotB = emitInPieces(b, pieceBytes, () => {
        for (const op of rest.splice(0, 2)) applyOp(d, op, [m]);
      });
      const gotA = Buffer.concat([firstA ?? new Uint8Array(0), emitInPieces(a, pieceBytes, () => undefined)]);
      assert.deepEqual(gotA, Buffer.from(expectedA));
      assert.deepEqual(gotB, Buffer.from(expectedB));
    }),
    { numRuns: 200 },
  );
});

test('machines fed the same entries produce identical snapshots, whatever reads they served', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 150 }), (ops) => {
      const d = new Driver();
      const quiet = new QueueStateMachine();
      const busy = new QueueStateMachine();
      ops.forEach((op, k) => {
        applyOp(d, op, [busy, quiet]);
        reads(busy);
        if (k % 10 === 0) assert.deepEqual(busy.snapshot(), quiet.snapshot());
      });
      assert.deepEqual(busy.snapshot(), quiet.snapshot());
    }),
    { numRuns: 100 },
  );
});

test('the scenarios above reach the interesting states (guards against a vacuous generator)', () => {
  const seen = { moves: 0, quarantined: 0, rewind: 0, delayed: 0, inFlight: 0, deletes: 0 };
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 100, maxLength: 150 }), (ops) => {
      const d = new Driver();
      const m = new QueueStateMachine();
      for (const op of ops) {
        const [r] = applyOp(d, op, [m]);
        if (r?.ok && r.kind === 'deleteMessages' && r.failures.length < (op.t === 'del' ? op.picks.length : 0)) seen.deletes++;
        const s = m.stats();
        seen.rewind += s.messages.rewind > 0 ? 1 : 0;
        seen.delayed += s.messages.delayed > 0 ? 1 : 0;
        seen.inFlight += s.messages.inFlight > 0 ? 1 : 0;
      }
      seen.moves += m.stats().deadLetterMoves;
      seen.quarantined += m.stats().quarantined;
    }),
    { numRuns: 50, seed: 42 },
  );
  for (const [k, v] of Object.entries(seen)) assert.ok(v > 0, `no run reached ${k}`);
});

test('malformed snapshots are rejected', () => {
  const d = new Driver();
  const m = new QueueStateMachine();
  applyOp(d, { t: 'create', q: 0, attrs: {} }, [m]);
  applyOp(d, { t: 'send', q: 0, n: 3, delay: 0 }, [m]);
  const good = m.snapshot();
  const bad = [good.subarray(0, good.length - 1), Uint8Array.of(...good, 0), good.slice(), good.slice(), new Uint8Array(0)];
  bad[2]![0] = 0x58; // magic
  bad[3]![4] = 99; // version
  for (const b of bad) assert.throws(() => QueueStateMachine.restore(b), BrokerFormatError);
  assert.deepEqual(QueueStateMachine.restore(good).snapshot(), good);
});

function run(m: QueueStateMachine, index: number, timeMs: number, cmd: Command): CommandResult {
  const { payload, metaLen } = encodeCommand(cmd);
  return m.apply(index, timeMs, payload, metaLen);
}

test('a 200k-message backlog costs under 100 index bytes per message, and restores exactly', () => {
  const m = new QueueStateMachine();
  let index = 0;
  const time = T0;
  run(m, ++index, time, { kind: 'createQueue', queueName: 'big', attrs: { visibilityTimeout: 60 } });
  const bodies = Array.from({ length: 16 }, (_, i) => Buffer.alloc(100, i));
  const total = 200_000;
  for (let sent = 0; sent < total; sent += 16) run(m, ++index, time, { kind: 'sendMessages', queueName: 'big', delaySeconds: 0, bodies });
  const perMessage = m.indexBytes() / total;
  assert.ok(perMessage < 100, `index costs ${perMessage.toFixed(1)} bytes per message`);
  assert.ok(perMessage > 62, 'the estimate counts the columns');
  const snap = m.snapshot();
  assert.ok(snap.length / total < 70, `snapshot costs ${(snap.length / total).toFixed(1)} bytes per message`);
  const r = QueueStateMachine.restore(snap);
  for (let k = 0; k < 20; k++) {
    const cmd: Command = { kind: 'receiveMessages', queueName: 'big', numOfMsg: 16, seed: k };
    assert.deepEqual(run(r, index + 1, time + 1000, cmd), run(m, index + 1, time + 1000, cmd));
    index++;
  }
  assert.equal(m.getQueueAttributes('big')?.activeMsgNum, total - 320);
});

test('memory is reclaimed: deleted messages free their chunks and stale heap entries are compacted', () => {
  const m = new QueueStateMachine();
  let index = 0;
  const time = T0;
  run(m, ++index, time, { kind: 'createQueue', queueName: 'q', attrs: { visibilityTimeout: 43_200 } });
  const idle = m.indexBytes();
  const bodies = Array.from({ length: 16 }, () => Buffer.from('x'));
  for (let round = 0; round < 1000; round++) {
    run(m, ++index, time, { kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies });
    const r = run(m, ++index, time, { kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: round });
    assert.ok(r.ok && r.kind === 'receiveMessages' && r.messages.length === 16);
    const del = run(m, ++index, time, { kind: 'deleteMessages', queueName: 'q', receiptHandles: r.messages.map((x) => x.receiptHandle) });
    assert.deepEqual(del, { ok: true, kind: 'deleteMessages', failures: [] });
  }
  // 16,000 messages passed through; at most one partly used chunk and compacted heaps remain.
  assert.ok(m.indexBytes() < idle + 4096 * 54 + 64 * 1024, `index holds ${m.indexBytes()} bytes`);
  assert.deepEqual(m.liveEntryIndexes(), []);
  assert.equal(m.nextDeadlineMs(), undefined);
});

test('a snapshot writes only the live slots of a mostly empty chunk: its size follows the live messages, not the ones sent', () => {
  const m = new QueueStateMachine();
  let index = 0;
  run(m, ++index, T0, { kind: 'createQueue', queueName: 'q', attrs: { visibilityTimeout: 43_200 } });
  const bodies = Array.from({ length: 16 }, (_, i) => Buffer.alloc(10, i));
  const total = 40_960; // ten full chunks
  for (let sent = 0; sent < total; sent += 16) run(m, ++index, T0, { kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies });
  const dense = m.snapshot().length;
  let kept = 0;
  for (let got = 0; got < total; got += 16) {
    const r = run(m, ++index, T0, { kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: got });
    assert.ok(r.ok && r.kind === 'receiveMessages');
    // Every 100th message stays in flight; the rest are deleted.
    const doomed = r.messages.filter((_, k) => (got + k) % 100 !== 0).map((x) => x.receiptHandle);
    kept += r.messages.length - doomed.length;
    run(m, ++index, T0, { kind: 'deleteMessages', queueName: 'q', receiptHandles: doomed });
  }
  const snap = m.snapshot();
  assert.ok(dense > total * 62, `a full backlog is written whole (${dense} bytes)`);
  assert.ok(snap.length < 1000 + kept * 80, `${snap.length} bytes for ${kept} live messages (was ${dense} with all ${total})`);
  const r = QueueStateMachine.restore(snap);
  assert.deepEqual(r.snapshot(), snap);
  assert.deepEqual(r.getQueueAttributes('q'), m.getQueueAttributes('q'));
  // The restored machine answers further entries exactly as the original.
  for (const cmd of [
    { kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: Math.floor(T0 / 1000) } as const,
    { kind: 'setQueueAttributes', queueName: 'q', attrs: { rewindSeconds: 60 } } as const,
    { kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: Math.floor(T0 / 1000) } as const,
    { kind: 'receiveMessages', queueName: 'q', numOfMsg: 16, seed: 1 } as const,
  ]) {
    index++;
    assert.deepEqual(run(r, index, T0 + 1000, cmd), run(m, index, T0 + 1000, cmd));
  }
});
