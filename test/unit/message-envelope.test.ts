// The stored form of a message with SQS message attributes: round trips, hostile bytes, and the
// size SQS counts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { countedBytes, decodeEnvelope, encodeEnvelope, envelopeHead, ENVELOPE_VERSION, writeEnvelopes, type MessageAttributeValue, type MessageEnvelope } from '../../src/service/message-envelope';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const md5 = (b: Uint8Array): Buffer => createHash('md5').update(b).digest();
/** Where the body's digest is (after the version byte), and its length. */
const DIGEST_AT = 1;
const DIGEST_BYTES = 16;

/** The same envelope in the layout of version 1, which stored no digest. */
function asVersion1(bytes: Uint8Array): Uint8Array {
  const v1 = new Uint8Array(bytes.length - DIGEST_BYTES);
  v1[0] = 1;
  v1.set(bytes.subarray(DIGEST_AT + DIGEST_BYTES), 1);
  return v1;
}

/** Bytes with the digest's place blanked: what decoding checks (the digest is the body's, as stored). */
function withoutDigest(bytes: Uint8Array): number[] {
  return [...bytes.subarray(0, DIGEST_AT), ...bytes.subarray(DIGEST_AT + DIGEST_BYTES)];
}

const value: fc.Arbitrary<MessageAttributeValue> = fc.oneof(
  fc.record({ dataType: fc.constantFrom('String', 'Number', 'String.custom ✓'), stringValue: fc.string({ maxLength: 40, unit: 'grapheme' }) }),
  fc.record({ dataType: fc.constantFrom('Binary', 'Binary.gif'), binaryValue: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ dataType: fc.string({ maxLength: 10, unit: 'grapheme' }) }),
);
const attributes = fc.uniqueArray(fc.tuple(fc.string({ maxLength: 20, unit: 'grapheme' }), value), { maxLength: 12, selector: ([n]) => n }).map((e) => new Map(e));
const envelope: fc.Arbitrary<MessageEnvelope> = fc.record({ attributes, system: attributes, body: fc.uint8Array({ maxLength: 300 }) });

/** Maps in name order with plain-array values, so deepEqual compares contents, not views. */
function plain(e: MessageEnvelope): unknown {
  const attrs = (m: Map<string, MessageAttributeValue>): unknown =>
    [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, v]) => [n, { ...v, ...(v.binaryValue ? { binaryValue: [...v.binaryValue] } : {}) }]);
  return { attributes: attrs(e.attributes), system: attrs(e.system), body: [...e.body] };
}

test('an envelope decodes to what was encoded', () => {
  fc.assert(
    fc.property(envelope, (e) => {
      const bytes = encodeEnvelope(e);
      assert.equal(bytes[0], ENVELOPE_VERSION);
      const back = decodeEnvelope(bytes);
      assert.ok(back);
      assert.deepEqual(plain(back), plain(e));
    }),
    { numRuns: 500 },
  );
});

test('empty body and empty maps round-trip', () => {
  const empty: MessageEnvelope = { attributes: new Map(), system: new Map(), body: new Uint8Array(0) };
  const bytes = encodeEnvelope(empty);
  assert.equal(bytes.length, 1 + DIGEST_BYTES + 4 + 4 + 4);
  assert.deepEqual(plain(decodeEnvelope(bytes)!), plain(empty));
  // An empty name, data type and value are kept as such.
  const blanks: MessageEnvelope = { attributes: new Map([['', { dataType: '', stringValue: '' }]]), system: new Map([['b', { dataType: 'Binary', binaryValue: new Uint8Array(0) }]]), body: utf8('x') };
  assert.deepEqual(plain(decodeEnvelope(encodeEnvelope(blanks))!), plain(blanks));
});

test('the body is returned as a view into the stored bytes, not a copy', () => {
  const bytes = encodeEnvelope({ attributes: new Map([['k', { dataType: 'String', stringValue: 'v' }]]), system: new Map(), body: utf8('hello') });
  const back = decodeEnvelope(bytes)!;
  assert.equal(back.body.buffer, bytes.buffer);
  assert.equal(back.body.byteOffset + back.body.length, bytes.byteOffset + bytes.length); // the body is last
  assert.equal(new TextDecoder().decode(back.body), 'hello');
});

test('decoding works on a view that does not start at its buffer\'s beginning', () => {
  const inner = encodeEnvelope({ attributes: new Map([['a', { dataType: 'Number', stringValue: '42' }]]), system: new Map(), body: utf8('body') });
  const outer = new Uint8Array(inner.length + 7);
  outer.set(inner, 3);
  const back = decodeEnvelope(outer.subarray(3, 3 + inner.length));
  assert.ok(back);
  assert.equal(back.attributes.get('a')?.stringValue, '42');
  assert.equal(new TextDecoder().decode(back.body), 'body');
});

test('every truncation of an envelope does not decode', () => {
  fc.assert(
    fc.property(envelope, (e) => {
      const bytes = encodeEnvelope(e);
      for (let n = 0; n < bytes.length; n++) assert.equal(decodeEnvelope(bytes.subarray(0, n)), undefined, `truncated to ${n} of ${bytes.length}`);
      // Nor does an envelope with bytes after it.
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      assert.equal(decodeEnvelope(longer), undefined);
    }),
    { numRuns: 100 },
  );
});

test('random corruption decodes to undefined or to an envelope, never throws', () => {
  fc.assert(
    fc.property(envelope, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (e, edits) => {
      const bytes = encodeEnvelope(e);
      for (const [at, byte] of edits) bytes[at % bytes.length] = byte;
      const back = decodeEnvelope(bytes);
      if (back !== undefined) {
        // Whatever decodes re-encodes to the same bytes but the digest (stored, not checked: the
        // log's checksums guard it): decoding accepts only what encoding writes.
        assert.deepEqual(withoutDigest(encodeEnvelope(back)), withoutDigest(bytes));
      }
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const back = decodeEnvelope(bytes);
      if (back === undefined) return;
      const again = encodeEnvelope(back);
      if (bytes[0] === 1) assert.deepEqual([...asVersion1(again)], [...bytes]);
      else assert.deepEqual(withoutDigest(again), withoutDigest(bytes));
    }),
    { numRuns: 2000 },
  );
});

test('hostile framing is refused: other versions, huge counts and lengths, unknown kinds, bad UTF-8, unsorted names', () => {
  const good = encodeEnvelope({ attributes: new Map([['a', { dataType: 'String', stringValue: 'x' }], ['b', { dataType: 'String', stringValue: 'y' }]]), system: new Map(), body: utf8('z') });
  const patched = (at: number, bytes: number[]): Uint8Array => {
    const copy = Uint8Array.from(good);
    copy.set(bytes, at);
    return copy;
  };
  assert.ok(decodeEnvelope(good));
  assert.equal(decodeEnvelope(new Uint8Array(0)), undefined);
  assert.equal(decodeEnvelope(patched(0, [3])), undefined); // version 3
  assert.equal(decodeEnvelope(patched(0, [1])), undefined); // version 1 with a digest in it: not that layout
  assert.equal(decodeEnvelope(good.subarray(0, DIGEST_AT + 5)), undefined); // cut inside the digest
  const a = DIGEST_AT + DIGEST_BYTES; // the attribute count
  assert.equal(decodeEnvelope(patched(a, [0xff, 0xff, 0xff, 0xff])), undefined); // attribute count 2^32-1
  assert.equal(decodeEnvelope(patched(a + 4, [0xff, 0xff, 0xff, 0x7f])), undefined); // first name's length
  // Layout of the first attribute: count(a..a+3) nameLen(+4..+7) 'a'(+8) typeLen(+9..+12) 'String'(+13..+18) kind(+19)
  assert.equal(decodeEnvelope(patched(a + 19, [3])), undefined); // value kind 3
  assert.equal(decodeEnvelope(patched(a + 8, [0xc3])), undefined); // name 'a' -> a lone UTF-8 lead byte
  assert.equal(decodeEnvelope(patched(a + 8, [0x62])), undefined); // name 'a' -> 'b': two attributes named 'b'
});

test('the body\'s MD5 is stored with it when written, and read back as stored', () => {
  fc.assert(
    fc.property(envelope, (e) => {
      const bytes = encodeEnvelope(e);
      assert.deepEqual([...bytes.subarray(DIGEST_AT, DIGEST_AT + DIGEST_BYTES)], [...md5(e.body)]);
      assert.deepEqual([...decodeEnvelope(bytes)!.bodyMd5!], [...md5(e.body)]);
    }),
    { numRuns: 200 },
  );
  // Several envelopes written together each carry their own body's digest.
  const bodies = ['one', 'two ✓', ''].map(utf8);
  const written = writeEnvelopes(bodies.map((body) => ({ head: envelopeHead(new Map(), new Map()), body })));
  written.forEach((w, i) => {
    assert.deepEqual([...w.bodyMd5], [...md5(bodies[i]!)]);
    assert.deepEqual([...decodeEnvelope(w.bytes)!.body], [...bodies[i]!]);
  });
});

test('decoding the body alone steps over the attributes, with their framing still checked', () => {
  fc.assert(
    fc.property(envelope, (e) => {
      const bytes = encodeEnvelope(e);
      const all = decodeEnvelope(bytes)!;
      const body = decodeEnvelope(bytes, 'body')!;
      assert.deepEqual([...body.body], [...all.body]);
      assert.deepEqual([...body.bodyMd5!], [...all.bodyMd5!]);
      assert.equal(body.attributes.size + body.system.size, 0);
      for (let n = 0; n < bytes.length; n++) assert.equal(decodeEnvelope(bytes.subarray(0, n), 'body'), undefined);
    }),
    { numRuns: 200 },
  );
});

test('an envelope of version 1 (no stored digest) still decodes, without a digest', () => {
  fc.assert(
    fc.property(envelope, (e) => {
      const back = decodeEnvelope(asVersion1(encodeEnvelope(e)));
      assert.ok(back);
      assert.equal(back.bodyMd5, undefined);
      assert.deepEqual(plain(back), plain(e));
    }),
    { numRuns: 200 },
  );
});

test('countedBytes: the body and each attribute\'s name, data type and value, as SQS counts them', () => {
  const e: MessageEnvelope = {
    attributes: new Map<string, MessageAttributeValue>([
      ['nàme', { dataType: 'String.ü', stringValue: 'héllo' }], // 5 + 9 + 6: UTF-8 bytes, not characters
      ['bin', { dataType: 'Binary', binaryValue: new Uint8Array(10) }], // 3 + 6 + 10
    ]),
    // System attributes do not count toward the message size.
    system: new Map([['AWSTraceHeader', { dataType: 'String', stringValue: 'Root=1-abc' }]]),
    body: utf8('body ✓'), // 8
  };
  assert.equal(countedBytes(e), 8 + (5 + 9 + 6) + (3 + 6 + 10));
  assert.equal(countedBytes({ attributes: new Map(), system: new Map(), body: new Uint8Array(0) }), 0);
});
