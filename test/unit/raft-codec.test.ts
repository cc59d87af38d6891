// The wire codec: every message and config payload survives a round trip, and garbage is refused
// with a RaftCodecError (never another exception, never a silently different message).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeConfigChange, decodeMessage, encodeConfigChange, encodeMessage, RaftCodecError, RAFT_CODEC_VERSION } from '../../src/raft/codec';
import type { ConfigChangeEntry, RaftEntry, RaftMessage, SnapshotMeta } from '../../src/raft/types';

const id = fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }).filter((s) => new TextEncoder().encode(s).length <= 255);
const index = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const term = fc.nat(1_000_000);
const voters = fc.uniqueArray(id, { maxLength: 7 });
const snapshot: fc.Arbitrary<SnapshotMeta> = fc.record({ index, term, voters });

const envelope = fc.record({ from: id, to: id, term });

const entries = (prevLogIndex: number, prevLogTerm: number, msgTerm: number): fc.Arbitrary<RaftEntry[]> =>
  fc
    .array(
      fc.record({
        kind: fc.constantFrom('command' as const, 'noop' as const, 'config' as const),
        timeMs: fc.double({ noNaN: true, noDefaultInfinity: true }),
        payload: fc.uint8Array({ maxLength: 64 }),
        metaFraction: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
      { maxLength: 5 },
    )
    .map((raw) =>
      raw.map((r, i) => ({
        index: prevLogIndex + 1 + i,
        term: Math.max(prevLogTerm, msgTerm - (raw.length - 1 - i) > prevLogTerm ? msgTerm : prevLogTerm),
        kind: r.kind,
        timeMs: r.timeMs,
        metaLen: Math.floor(r.metaFraction * r.payload.length),
        payload: r.payload,
      })),
    );

const message: fc.Arbitrary<RaftMessage> = envelope.chain((e) =>
  fc.oneof(
    fc.record({ lastLogIndex: index, lastLogTerm: fc.nat(e.term), transfer: fc.boolean() }).map((b) => ({ ...e, type: 'RequestVote' as const, ...b })),
    fc.record({ lastLogIndex: index, lastLogTerm: fc.nat(e.term) }).map((b) => ({ ...e, type: 'PreVote' as const, ...b })),
    fc.boolean().map((voteGranted) => ({ ...e, type: 'RequestVoteResponse' as const, voteGranted })),
    fc.boolean().map((voteGranted) => ({ ...e, type: 'PreVoteResponse' as const, voteGranted })),
    fc
      .record({ prevLogIndex: fc.nat(1_000_000), prevLogTerm: fc.nat(e.term), leaderCommit: index })
      .chain((b) => entries(b.prevLogIndex, b.prevLogTerm, e.term).map((es) => ({ ...e, type: 'AppendEntries' as const, ...b, entries: es }))),
    index.map((matchIndex) => ({ ...e, type: 'AppendEntriesResponse' as const, success: true as const, matchIndex })),
    fc
      .record({ rejectedIndex: index, hintIndex: index, hintTerm: term })
      .map((b) => ({ ...e, type: 'AppendEntriesResponse' as const, success: false as const, ...b })),
    fc.record({ leaderCommit: index, readSeq: index }).map((b) => ({ ...e, type: 'Heartbeat' as const, ...b })),
    index.map((readSeq) => ({ ...e, type: 'HeartbeatResponse' as const, readSeq })),
    snapshot.map((s) => ({ ...e, type: 'InstallSnapshot' as const, snapshot: s })),
    index.map((matchIndex) => ({ ...e, type: 'InstallSnapshotResponse' as const, matchIndex })),
    fc.constant({ ...e, type: 'TimeoutNow' as const }),
  ),
);

/** Plain objects and arrays all the way down (fast-check builds null-prototype records). */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

test('every message survives encode/decode unchanged', () => {
  fc.assert(
    fc.property(message, (m) => {
      assert.deepEqual(plain(decodeMessage(encodeMessage(m))), plain(m));
    }),
    { numRuns: 2000 },
  );
});

test('config-change payloads survive encode/decode; inconsistent ones are refused', () => {
  const change: fc.Arbitrary<ConfigChangeEntry> = fc
    .tuple(fc.constantFrom('addVoter' as const, 'removeVoter' as const), id, voters, fc.option(fc.constantFrom('10.0.0.4:9704', 'h:1'), { nil: undefined }))
    .map(([type, node, vs, address]) => ({
      change: type === 'addVoter' ? (address === undefined ? { type, node } : { type, node, address }) : { type, node },
      voters: type === 'addVoter' ? [...new Set([...vs, node])] : vs.filter((v) => v !== node),
    }));
  fc.assert(fc.property(change, (c) => assert.deepEqual(plain(decodeConfigChange(encodeConfigChange(c))), plain(c))));
  const bad = encodeConfigChange({ change: { type: 'addVoter', node: 'n4' }, voters: ['n1', 'n4'] });
  const lying = encodeConfigChange({ change: { type: 'removeVoter', node: 'n4' }, voters: ['n1'] });
  bad.set(lying.subarray(0, 2)); // same layout, now claims to remove n4 while the voters keep it
  assert.throws(() => decodeConfigChange(bad), RaftCodecError);
});

test('random bytes are refused with RaftCodecError or decode to something that re-encodes identically', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(11), (bytes, type) => {
      const framed = new Uint8Array([RAFT_CODEC_VERSION, type + 1, ...bytes]);
      for (const input of [bytes, framed]) {
        let decoded: RaftMessage;
        try {
          decoded = decodeMessage(input);
        } catch (err) {
          assert.ok(err instanceof RaftCodecError, String(err));
          continue;
        }
        assert.deepEqual([...encodeMessage(decoded)], [...input]);
      }
    }),
    { numRuns: 3000 },
  );
});

test('every truncation of a valid frame and any trailing byte are refused', () => {
  fc.assert(
    fc.property(message, (m) => {
      const wire = encodeMessage(m);
      for (let n = 0; n < wire.length; n++) assert.throws(() => decodeMessage(wire.subarray(0, n)), RaftCodecError);
      assert.throws(() => decodeMessage(new Uint8Array([...wire, 0])), RaftCodecError);
    }),
    { numRuns: 300 },
  );
});

test('specific garbage: wrong version, unknown type, overlong varint, bad UTF-8, metaLen past payload', () => {
  const hb = encodeMessage({ type: 'Heartbeat', from: 'a', to: 'b', term: 1, leaderCommit: 0, readSeq: 0 });
  const wrongVersion = Uint8Array.from(hb);
  wrongVersion[0] = 99;
  assert.throws(() => decodeMessage(wrongVersion), /unsupported version 99/);
  const wrongType = Uint8Array.from(hb);
  wrongType[1] = 200;
  assert.throws(() => decodeMessage(wrongType), /unknown message type/);
  assert.throws(() => decodeMessage(new Uint8Array([1, 11, 1, 97, 1, 98, 0x80, 0x00])), /overlong varint/);
  assert.throws(() => decodeMessage(new Uint8Array([1, 11, 1, 0xff, 1, 98, 1])), /not UTF-8/);
  const ae = encodeMessage({
    type: 'AppendEntries',
    from: 'a',
    to: 'b',
    term: 1,
    prevLogIndex: 0,
    prevLogTerm: 0,
    leaderCommit: 0,
    entries: [{ index: 1, term: 1, kind: 'command', timeMs: 5, metaLen: 2, payload: new Uint8Array([1, 2, 3]) }],
  });
  const metaPos = ae.length - 5; // metaLen varint sits before the payload length and 3 payload bytes
  assert.equal(ae[metaPos], 2);
  const badMeta = Uint8Array.from(ae);
  badMeta[metaPos] = 4;
  assert.throws(() => decodeMessage(badMeta), /metaLen exceeds payload/);
  assert.throws(
    () => encodeMessage({ type: 'AppendEntries', from: 'a', to: 'b', term: 1, prevLogIndex: 5, prevLogTerm: 0, leaderCommit: 0, entries: [{ index: 9, term: 1, kind: 'noop', timeMs: 0, metaLen: 0, payload: new Uint8Array() }] }),
    RaftCodecError,
  );
});

test('decoded payloads are views into the frame (no copy per entry)', () => {
  const payload = new Uint8Array(1000).fill(7);
  const wire = encodeMessage({ type: 'AppendEntries', from: 'a', to: 'b', term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, entries: [{ index: 1, term: 1, kind: 'command', timeMs: 0, metaLen: 0, payload }] });
  const m = decodeMessage(wire);
  assert.ok(m.type === 'AppendEntries');
  assert.equal(m.entries[0]!.payload.buffer, wire.buffer);
});
