// The answer renderer (src/api/json-bytes.ts) must write exactly the bytes JSON.stringify and
// UTF-8 encoding would: for any string (controls, quotes, backslashes, non-ASCII, lone
// surrogates), any message body bytes (valid UTF-8 or not), at any offset in the answer.

import assert from 'node:assert/strict';
import test from 'node:test';
import fc from 'fast-check';
import { jsonBytes, Utf8JsonString } from '../../src/api/json-bytes';
import { createApiContext, handleCmqRequest } from '../../src/api/http-server';
import { responseBytes, responseJson } from '../../src/api/response';
import type { DeliveredMessage } from '../../src/service/queue-service';
import { RecordingQueueService } from '../helpers/recording-service';

/** What the answers were before the renderer: JSON.stringify, then UTF-8. */
const reference = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');

/** One UTF-16 code unit or code point, biased towards what JSON must escape or treats specially. */
const codeUnit: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.constantFrom('"', '\\', '/', '\u007f', '\u2028', '\u2029', '\ufeff', '\ufffd') },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xffff }).map((c) => String.fromCharCode(c)) },
  // Lone halves of surrogate pairs: JSON.stringify escapes them as \udXXX.
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
);
const anyString = fc.string({ unit: codeUnit, maxLength: 80 });

/** Byte sequences a body may hold: ASCII runs, UTF-8 of any text, and sequences that are not UTF-8. */
const byteChunk: fc.Arbitrary<number[]> = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength: 40 }) },
  { weight: 3, arbitrary: anyString.map((s) => [...Buffer.from(s, 'utf8')]) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 8 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<number[]>(
      [0xed, 0xa0, 0x80], // an encoded surrogate (not UTF-8)
      [0xc0, 0xaf], // overlong '/'
      [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
      [0x80], // a lone continuation byte
      [0xe2, 0x82], // truncated
      [0xef, 0xbb, 0xbf], // a byte order mark (kept, not stripped)
      [0x22],
      [0x5c],
      [0x00],
      [0x1f],
      [0x7f],
    ),
  },
);
const bodyBytes = fc.array(byteChunk, { maxLength: 12 }).map((chunks) => Buffer.from(chunks.flat()));

const jsonish: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    anyString,
    fc.integer(),
    fc.integer({ min: 0, max: 0xffff_ffff }),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(anyString, tie('value'), { maxKeys: 5 }),
  ),
})).value;

void test('jsonBytes writes what JSON.stringify does, as UTF-8, for any JSON-like value', () => {
  fc.assert(
    fc.property(jsonish, (v) => {
      if (v === undefined) return;
      assert.deepEqual(jsonBytes(v), reference(v));
    }),
    { numRuns: 3000 },
  );
});

void test('jsonBytes: every string of one character, and each among plain text', () => {
  for (let c = 0; c <= 0xffff; c++) {
    const ch = String.fromCharCode(c);
    for (const s of [ch, `ab${ch}`, `abc${ch}defgh`]) assert.deepEqual(jsonBytes({ s }), reference({ s }), `U+${c.toString(16)}`);
  }
});

void test('jsonBytes: numbers as JSON.stringify writes them', () => {
  const numbers = [0, -0, 1, 9, 10, 99, 100, 999_999, 1_000_000, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 1_765_000_000, 2 ** 53, -1, -(2 ** 31), 0.5, 1e21, 1e-7, -1.5e300];
  for (const n of [...numbers, NaN, Infinity, -Infinity]) assert.deepEqual(jsonBytes([n, { n }]), reference([n, { n }]), String(n));
  fc.assert(fc.property(fc.oneof(fc.nat(), fc.integer(), fc.double()), (n) => assert.deepEqual(jsonBytes([n]), reference([n]))));
});

void test('jsonBytes leaves out undefined members and functions as JSON.stringify does, and defers to toJSON', () => {
  const values: unknown[] = [
    { a: undefined, b: 1, c: () => 1, d: Symbol('x'), e: 'x' },
    { a: undefined },
    [undefined, () => 1, 1],
    { when: new Date(0), list: [new Date(1)] },
    { custom: { toJSON: () => 'replaced' }, gone: { toJSON: () => undefined } },
    Object.assign(Object.create(null) as object, { nullProto: true }),
    { map: new Map([[1, 2]]) },
    'top-level string',
    7,
    null,
  ];
  for (const v of values) assert.deepEqual(jsonBytes(v), reference(v), JSON.stringify(v));
});

void test('Utf8JsonString renders as its bytes decoded as UTF-8 would, for any bytes at any offset', () => {
  fc.assert(
    fc.property(bodyBytes, fc.string({ maxLength: 7 }), (bytes, pad) => {
      // The padding moves the body across word boundaries of the renderer's buffer.
      const fast = jsonBytes({ pad, msgBody: new Utf8JsonString(bytes) });
      assert.deepEqual(fast, reference({ pad, msgBody: bytes.toString('utf8') }));
    }),
    { numRuns: 5000 },
  );
});

void test('Utf8JsonString: each byte value at each position of short and word-sized bodies', () => {
  for (let b = 0; b < 256; b++) {
    for (const len of [1, 3, 4, 5, 8, 13]) {
      for (let at = 0; at < len; at++) {
        for (const pad of ['', 'p', 'pp', 'ppp']) {
          const bytes = Buffer.alloc(len, 'x');
          bytes[at] = b;
          const fast = jsonBytes({ pad, msgBody: new Utf8JsonString(bytes) });
          assert.deepEqual(fast, reference({ pad, msgBody: bytes.toString('utf8') }), `byte ${b} at ${at} of ${len}, pad ${pad.length}`);
        }
      }
    }
  }
});

void test('jsonBytes: answers larger than a slab, and small ones after them', () => {
  for (const size of [70_000, 200_000, 3_000_000, 10]) {
    const bytes = Buffer.alloc(size, 'y');
    bytes[size - 1] = 0x41;
    const v = { list: [{ msgBody: new Utf8JsonString(bytes) }, { msgBody: 'é'.repeat(size % 5000) }, { s: 'x'.repeat(size % 7000) }] };
    assert.deepEqual(jsonBytes(v), reference(v));
  }
});

void test('jsonBytes: answers handed out earlier keep their bytes while later ones are rendered', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(bodyBytes, fc.nat({ max: 40_000 }), anyString), { minLength: 1, maxLength: 60 }), (specs) => {
      const values = specs.map(([bytes, pad, s]) => ({ s, pad: 'p'.repeat(pad), msgBody: new Utf8JsonString(bytes), u: undefined }));
      const answers = values.map((v) => jsonBytes(v));
      values.forEach((v, i) => assert.deepEqual(answers[i], reference(v), `answer ${i}`));
    }),
    { numRuns: 200 },
  );
});

void test('jsonBytes: a value JSON.stringify rejects throws, and the next answer is whole', () => {
  const cyclic: Record<string, unknown> = { a: 'x'.repeat(100) };
  cyclic['self'] = { again: cyclic };
  assert.throws(() => jsonBytes({ before: 'y'.repeat(5000), when: { toJSON: () => { throw new Error('boom'); } } }), /boom/);
  assert.throws(() => jsonBytes(cyclic));
  const v = { after: 'z'.repeat(300) };
  assert.deepEqual(jsonBytes(v), reference(v));
});

function delivered(body: Buffer, seq: number): DeliveredMessage {
  return {
    msgId: String(1_000_000 + seq),
    receiptHandle: `7-${seq}-1-${(seq * 2_654_435_761) >>> 0}`,
    enqueueTime: 1_765_000_000 + seq,
    firstDequeueTime: 1_765_000_100,
    nextVisibleTime: 1_765_000_130,
    dequeueCount: 1 + (seq % 3),
    enqueueMs: (1_765_000_000 + seq) * 1000,
    firstDequeueMs: 1_765_000_100_000,
    enveloped: false,
    sequenceNumber: String(1_000_000 + seq).padStart(20, '0'),
    body: { entryIndex: seq, offset: 0, length: body.length, crc32c: 0 },
    queueNumber: 7,
    seq,
    bodyBytes: body,
  };
}

/** The message fields of a receive answer as they were rendered before: the body decoded to a string. */
function oldFields(m: DeliveredMessage): Record<string, unknown> {
  return {
    msgId: m.msgId,
    msgBody: m.bodyBytes.toString('utf8'),
    receiptHandle: m.receiptHandle,
    enqueueTime: m.enqueueTime,
    firstDequeueTime: m.firstDequeueTime,
    nextVisibleTime: m.nextVisibleTime,
    dequeueCount: m.dequeueCount,
  };
}

/** A (Batch)ReceiveMessage answered by handleCmqRequest from these messages: what the server sends, and the reference renderer's text. */
async function receiveAnswer(action: string, messages: DeliveredMessage[], clientRequestId: number | bigint | undefined) {
  const service = new RecordingQueueService({ receive: () => ({ ok: true, messages }) });
  const ctx = createApiContext({ service, auth: { mode: 'open' }, requestIdPrefix: 'r-' });
  const params: Record<string, string> = { Action: action, queueName: 'q1', numOfMsg: '16' };
  if (clientRequestId !== undefined) params['clientRequestId'] = String(clientRequestId);
  const r = await handleCmqRequest(ctx, { method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from(new URLSearchParams(params).toString()) });
  return { sent: responseBytes(r), reference: responseJson(r), requestId: r['requestId'] as string };
}

const clientRequestIds = fc.option(fc.oneof(fc.nat(), fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n })), { nil: undefined });

void test('a batched receive answer is byte for byte the one rendered from decoded bodies', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(bodyBytes, { minLength: 1, maxLength: 16 }), clientRequestIds, async (bodies, clientRequestId) => {
      const messages = bodies.map((b, i) => delivered(b, i + 1));
      const { sent, reference: ref, requestId } = await receiveAnswer('BatchReceiveMessage', messages, clientRequestId);
      const old = responseJson({
        code: 0,
        message: '',
        requestId,
        msgInfoList: messages.map(oldFields),
        ...(clientRequestId !== undefined ? { clientRequestId } : {}),
      });
      assert.equal(sent.toString('utf8'), old);
      assert.deepEqual(sent, Buffer.from(old, 'utf8'));
      // The reference renderer (still used for answers forwarded from a follower) agrees too.
      assert.equal(ref, old);
      if (typeof clientRequestId === 'bigint') assert.ok(old.endsWith(`,"clientRequestId":${clientRequestId}}`));
    }),
    { numRuns: 1000 },
  );
});

void test('a single receive answer is byte for byte the one rendered from the decoded body', async () => {
  await fc.assert(
    fc.asyncProperty(bodyBytes, clientRequestIds, async (body, clientRequestId) => {
      const m = delivered(body, 1);
      const { sent, reference: ref, requestId } = await receiveAnswer('ReceiveMessage', [m], clientRequestId);
      const old = responseJson({ code: 0, message: '', requestId, ...oldFields(m), ...(clientRequestId !== undefined ? { clientRequestId } : {}) });
      assert.deepEqual(sent, Buffer.from(old, 'utf8'));
      assert.equal(ref, old);
    }),
    { numRuns: 500 },
  );
});
