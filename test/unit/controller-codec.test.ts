// The controller's binary codec and snapshot: every command, read and result round-trips exactly;
// decoding garbage, truncated or corrupted bytes never throws (it gives undefined).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FormatError } from '../../src/protocol/binary';
import {
  CONTROLLER_CODEC_VERSION,
  decodeControllerCommand,
  decodeControllerQuery,
  decodeControllerResult,
  encodeControllerCommand,
  encodeControllerQuery,
  encodeControllerResult,
} from '../../src/controller/codec';
import type { ControllerCommand, ControllerResult } from '../../src/controller/commands';
import { decodeSnapshot } from '../../src/controller/snapshot';
import { ControllerStateMachine } from '../../src/controller/state-machine';
import { controllerCommand, controllerLog, controllerQuery } from '../helpers/controller-arbitraries';

/** Commands with any numbers at all: the codec carries them as they are, apply refuses the bad ones. */
const oddNumber = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(0, -0, -1, 2 ** 32, Number.NaN, Infinity));
const oddCommand: fc.Arbitrary<ControllerCommand> = fc.oneof(
  fc.record({ kind: fc.constant('reportLoad' as const), setId: oddNumber, queues: oddNumber, messages: oddNumber, bytes: oddNumber, requestsPerSecond: oddNumber }),
  fc.record({ kind: fc.constant('beginMove' as const), type: fc.constantFrom('queue' as const, 'topic' as const), name: fc.string(), to: oddNumber, shard: oddNumber }),
  fc.record({ kind: fc.constant('createEntity' as const), type: fc.constantFrom('queue' as const, 'topic' as const), name: fc.string({ unit: 'grapheme' }), shards: oddNumber }),
  fc.record(
    { kind: fc.constant('createEntity' as const), type: fc.constantFrom('queue' as const, 'topic' as const), name: fc.string(), shards: oddNumber, setId: oddNumber },
    { requiredKeys: ['kind', 'type', 'name', 'setId'] },
  ),
  fc.record({
    kind: fc.constant('adoptEntities' as const),
    setId: oddNumber,
    entities: fc.array(fc.record({ type: fc.constantFrom('queue' as const, 'topic' as const), name: fc.string({ unit: 'grapheme' }) }, { noNullPrototype: true }), { maxLength: 5 }),
  }),
);

/** Results as the machine produces them: from random logs, then random reads. */
function resultsOf(log: { cmd: ControllerCommand; timeMs: number }[]): ControllerResult[] {
  const m = new ControllerStateMachine();
  const out = log.map(({ cmd, timeMs }) => m.apply(cmd, timeMs));
  out.push(m.read({ kind: 'listSets' }));
  for (const type of ['queue', 'topic'] as const) out.push(m.read({ kind: 'listRoutes', type, prefix: '', offset: 0, limit: 1000 }));
  out.push(m.read({ kind: 'listChanges', offset: 0, limit: 1000 }));
  return out;
}

test('commands round-trip', () => {
  fc.assert(
    fc.property(fc.oneof(controllerCommand, oddCommand), (cmd) => {
      assert.deepEqual(decodeControllerCommand(encodeControllerCommand(cmd)), { ...cmd });
    }),
    { numRuns: 1000 },
  );
});

test('reads round-trip', () => {
  fc.assert(
    fc.property(controllerQuery, (q) => {
      assert.deepEqual(decodeControllerQuery(encodeControllerQuery(q)), { ...q });
    }),
    { numRuns: 300 },
  );
});

test('results round-trip, errors with their arg and detail included', () => {
  fc.assert(
    fc.property(controllerLog, (log) => {
      for (const res of resultsOf(log)) assert.deepEqual(decodeControllerResult(encodeControllerResult(res)), res);
    }),
    { numRuns: 200 },
  );
  const err: ControllerResult = { ok: false, error: 'setNotExist', arg: '7', detail: '(détail)' };
  assert.deepEqual(decodeControllerResult(encodeControllerResult(err)), err);
});

test('snapshots round-trip through decodeSnapshot', () => {
  fc.assert(
    fc.property(controllerLog, (log) => {
      const m = new ControllerStateMachine();
      for (const { cmd, timeMs } of log) m.apply(cmd, timeMs);
      const snap = decodeSnapshot(m.snapshot());
      assert.ok(snap);
      assert.equal(snap.routeEpoch, m.epoch);
      assert.deepEqual(
        snap.sets,
        m.listSets().map(({ entities: _, ...s }) => s),
      );
    }),
    { numRuns: 200 },
  );
});

const DECODERS = [decodeControllerCommand, decodeControllerQuery, decodeControllerResult, decodeSnapshot, (b: Uint8Array) => ControllerStateMachine.restore(b)];

test('garbage never throws: random bytes, and valid messages truncated or corrupted', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      for (const decode of DECODERS) decode(bytes);
      // With the version byte right, the random rest reaches the kind decoders.
      const versioned = Uint8Array.from([CONTROLLER_CODEC_VERSION, ...bytes]);
      for (const decode of DECODERS) decode(versioned);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(controllerLog, fc.nat(), fc.nat(255), (log, at, value) => {
      const m = new ControllerStateMachine();
      const all: [Uint8Array, (b: Uint8Array) => unknown][] = [];
      for (const { cmd, timeMs } of log) {
        all.push([encodeControllerCommand(cmd), decodeControllerCommand]);
        all.push([encodeControllerResult(m.apply(cmd, timeMs)), decodeControllerResult]);
      }
      all.push([m.snapshot(), decodeSnapshot]);
      for (const [bytes, own] of all) {
        // Cut short, a message never decodes as one of its own kind (it may as another kind's).
        for (const cut of [bytes.length - 1, at % bytes.length]) {
          const part = bytes.subarray(0, cut);
          assert.equal(own(part), undefined, 'a truncated message is refused');
          for (const decode of DECODERS) decode(part);
        }
        const flipped = Uint8Array.from(bytes);
        flipped[at % bytes.length] = value;
        for (const decode of DECODERS) decode(flipped);
      }
    }),
    { numRuns: 200 },
  );
});

test('a wrong version, an unknown kind, trailing bytes or an unknown error name decode to undefined', () => {
  const good = encodeControllerCommand({ kind: 'advanceMove', type: 'queue', name: 'q' });
  assert.deepEqual(decodeControllerCommand(good), { kind: 'advanceMove', type: 'queue', name: 'q' });
  assert.equal(decodeControllerCommand(Uint8Array.from([CONTROLLER_CODEC_VERSION + 1, ...good.subarray(1)])), undefined);
  assert.equal(decodeControllerCommand(Uint8Array.from([good[0]!, 99, ...good.subarray(2)])), undefined);
  assert.equal(decodeControllerCommand(Uint8Array.from([...good, 0])), undefined);
  assert.equal(decodeControllerCommand(Uint8Array.from([good[0]!, good[1]!, 7, ...good.subarray(3)])), undefined, 'entity type out of range');
  const err = encodeControllerResult({ ok: false, error: 'setNotExist' });
  const renamed = Buffer.from(err).toString('latin1').replace('setNotExist', 'setNotExiss');
  assert.equal(decodeControllerResult(Buffer.from(renamed, 'latin1')), undefined);
  assert.equal(decodeControllerResult(Uint8Array.from([...err.subarray(0, 2), 0xff, 0xff])), undefined);
  const snap = new ControllerStateMachine().snapshot();
  assert.ok(decodeSnapshot(snap));
  assert.equal(decodeSnapshot(Uint8Array.from([0, ...snap.subarray(1)])), undefined, 'bad magic');
  assert.equal(decodeSnapshot(Uint8Array.from([...snap.subarray(0, 4), 2, ...snap.subarray(5)])), undefined, 'unknown version');
});

/** Bytes as the encoder wrote createEntity before setId: [version, code 5, type, u16 length, name, hasShards 0/1, (f64 shards)]. */
function createEntityBeforeSetId(type: number, name: string, shards?: number): Uint8Array {
  const tail = Buffer.alloc(shards === undefined ? 1 : 9);
  tail[0] = shards === undefined ? 0 : 1;
  if (shards !== undefined) tail.writeDoubleLE(shards, 1);
  const len = Buffer.alloc(2);
  len.writeUInt16LE(name.length);
  return Uint8Array.from([1, 5, type, ...len, ...Buffer.from(name, 'ascii'), ...tail]);
}

test('createEntity entries written before setId still decode as they were; setId rides on a new bit of the same byte', () => {
  assert.equal(CONTROLLER_CODEC_VERSION, 1, 'old entries carry version 1');
  assert.deepEqual(decodeControllerCommand(createEntityBeforeSetId(0, 'orders')), { kind: 'createEntity', type: 'queue', name: 'orders' });
  assert.deepEqual(decodeControllerCommand(createEntityBeforeSetId(1, 'news', 1)), { kind: 'createEntity', type: 'topic', name: 'news', shards: 1 });
  assert.deepEqual(decodeControllerCommand(createEntityBeforeSetId(0, 'wide', 4)), { kind: 'createEntity', type: 'queue', name: 'wide', shards: 4 });
  // The encoder still writes those same bytes for a command without setId.
  assert.deepEqual(encodeControllerCommand({ kind: 'createEntity', type: 'queue', name: 'wide', shards: 4 }), createEntityBeforeSetId(0, 'wide', 4));
  assert.deepEqual(encodeControllerCommand({ kind: 'createEntity', type: 'queue', name: 'orders' }), createEntityBeforeSetId(0, 'orders'));
  for (const cmd of [
    { kind: 'createEntity', type: 'queue', name: 'dlq-beside', setId: 3 },
    { kind: 'createEntity', type: 'queue', name: 'both', shards: 1, setId: 2 },
  ] as const) {
    assert.deepEqual(decodeControllerCommand(encodeControllerCommand(cmd)), cmd);
  }
  // A fields byte with a bit this release does not know is refused, not half read.
  const bytes = Uint8Array.from(createEntityBeforeSetId(0, 'q'));
  bytes[bytes.length - 1] = 4;
  assert.equal(decodeControllerCommand(bytes), undefined);
});

test('adoptEntities and its result round-trip, in the layout the header describes', () => {
  const cmd: ControllerCommand = { kind: 'adoptEntities', setId: 2, entities: [{ type: 'queue', name: 'a' }, { type: 'topic', name: 'b.c' }] };
  const bytes = encodeControllerCommand(cmd);
  assert.deepEqual(decodeControllerCommand(bytes), cmd);
  // version, code 13, f64 setId, u32 count, then (type, u16 length, name) twice.
  assert.equal(bytes[1], 13);
  assert.equal(bytes.length, 2 + 8 + 4 + (1 + 2 + 1) + (1 + 2 + 3));
  assert.deepEqual(decodeControllerCommand(encodeControllerCommand({ kind: 'adoptEntities', setId: 1, entities: [] })), { kind: 'adoptEntities', setId: 1, entities: [] });
  const res: ControllerResult = { ok: true, kind: 'adopted', adopted: 7, conflicts: [{ type: 'queue', name: 'x', setId: 4 }], routeEpoch: 31 };
  assert.deepEqual(decodeControllerResult(encodeControllerResult(res)), res);
  assert.deepEqual(decodeControllerResult(encodeControllerResult({ ...res, conflicts: [] })), { ...res, conflicts: [] });
});

test('a string too long to encode throws FormatError when encoding (api/ limits names long before)', () => {
  assert.throws(() => encodeControllerCommand({ kind: 'createEntity', type: 'queue', name: 'x'.repeat(70_000) }), FormatError);
});
