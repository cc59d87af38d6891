// The stored form of a message with SQS message attributes: round trips, hostile bytes, and the
// size SQS counts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { countedBytes, decodeEnvelope, encodeEnvelope, ENVELOPE_VERSION, type MessageAttributeValue, type MessageEnvelope } from '../../src/service/message-envelope';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

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
  assert.equal(bytes.length, 1 + 4 + 4 + 4);
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
        // Whatever decodes re-encodes to the same bytes: decoding accepts only what encoding writes.
        assert.deepEqual([...encodeEnvelope(back)], [...bytes]);
      }
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const back = decodeEnvelope(bytes);
      if (back !== undefined) assert.deepEqual([...encodeEnvelope(back)], [...bytes]);
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
  assert.equal(decodeEnvelope(patched(0, [2])), undefined); // version 2
  assert.equal(decodeEnvelope(patched(1, [0xff, 0xff, 0xff, 0xff])), undefined); // attribute count 2^32-1
  assert.equal(decodeEnvelope(patched(5, [0xff, 0xff, 0xff, 0x7f])), undefined); // first name's length
  // Layout of the first attribute: count(1..4) nameLen(5..8) 'a'(9) typeLen(10..13) 'String'(14..19) kind(20)
  assert.equal(decodeEnvelope(patched(20, [3])), undefined); // value kind 3
  assert.equal(decodeEnvelope(patched(9, [0xc3])), undefined); // name 'a' -> a lone UTF-8 lead byte
  assert.equal(decodeEnvelope(patched(9, [0x62])), undefined); // name 'a' -> 'b': two attributes named 'b'
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
