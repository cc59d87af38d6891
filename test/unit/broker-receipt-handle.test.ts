// Receipt handle parsing (src/broker/receipt-handle.ts) accepts exactly the handles of our shape:
// checked against the rule written the plain way (split on '-', a regular expression per field).

import assert from 'node:assert/strict';
import test from 'node:test';
import fc from 'fast-check';
import { formatReceiptHandle, parseReceiptHandle, type ParsedHandle } from '../../src/broker/receipt-handle';

/** The shape, stated directly: four canonical decimals joined by '-', safe integers, a u32 token, at most 80 characters. */
function referenceParse(handle: string): ParsedHandle | undefined {
  if (handle.length > 80) return undefined;
  const parts = handle.split('-');
  if (parts.length !== 4) return undefined;
  const nums = parts.map((p) => (/^(0|[1-9][0-9]{0,15})$/.test(p) && Number.isSafeInteger(Number(p)) ? Number(p) : -1));
  if (nums.some((v) => v < 0)) return undefined;
  const [queueNumber, seq, dequeueCount, token] = nums as [number, number, number, number];
  if (token > 0xffff_ffff) return undefined;
  return { queueNumber, seq, dequeueCount, token };
}

void test('parseReceiptHandle inverts formatReceiptHandle', () => {
  const safe = fc.nat({ max: Number.MAX_SAFE_INTEGER });
  fc.assert(
    fc.property(safe, safe, safe, fc.nat({ max: 0xffff_ffff }), (queueNumber, seq, dequeueCount, token) => {
      const handle = formatReceiptHandle(queueNumber, seq, dequeueCount, token);
      assert.deepEqual(parseReceiptHandle(handle), { queueNumber, seq, dequeueCount, token });
    }),
    { numRuns: 2000 },
  );
});

void test('parseReceiptHandle agrees with the plain rule on near-misses', () => {
  const field = fc.oneof(
    fc.nat().map(String),
    fc.constantFrom('', '0', '00', '01', '-0', '+1', '1e3', '0x1', ' 1', '1 ', '٣', '１', '9007199254740991', '9007199254740992', '9999999999999999', '10000000000000000'),
    fc.constantFrom('4294967295', '4294967296', '18446744073709551615'),
    fc.string({ unit: fc.constantFrom('0', '1', '9', '-', ':', 'a', '/', '\u0000'), maxLength: 20 }),
  );
  fc.assert(
    fc.property(fc.array(field, { minLength: 1, maxLength: 6 }), fc.constantFrom('-', '--', ':'), (fields, sep) => {
      for (const handle of [fields.join('-'), fields.join(sep), `${fields.join('-')}-`, `-${fields.join('-')}`]) {
        assert.deepEqual(parseReceiptHandle(handle), referenceParse(handle), JSON.stringify(handle));
      }
    }),
    { numRuns: 5000 },
  );
  for (const handle of ['1-2-3-4', '1-2-3-4294967295', '1-2-3-4294967296', `1-2-3-${'1'.repeat(74)}`, `${'1'.repeat(16)}-${'2'.repeat(16)}-${'3'.repeat(16)}-4294967295`, `9007199254740991-${'1'.repeat(16)}-1-1`]) {
    assert.deepEqual(parseReceiptHandle(handle), referenceParse(handle), handle);
  }
  assert.equal(parseReceiptHandle(`${'1'.repeat(16)}-${'2'.repeat(16)}-${'3'.repeat(16)}-${'4'.repeat(10)}`), undefined);
});
