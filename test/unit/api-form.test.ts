import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseForm, valueBytes, type FormParams } from '../../src/api/form';
import { CMQ_ERRORS as ERRORS } from '../../src/protocol/cmq-codes';
import type { ErrorResult } from '../../src/protocol/errors';

function ok(input: Buffer | string): FormParams {
  const r = parseForm(input);
  assert.ok(r.ok, `expected ${JSON.stringify(String(input))} to parse, got ${JSON.stringify(r)}`);
  return r.params;
}

function err(input: Buffer | string): ErrorResult {
  const r = parseForm(input);
  assert.ok(!r.ok, `expected ${JSON.stringify(String(input))} to fail`);
  return r;
}

void test('form: plain pairs, keys kept as sent (dots stay dots)', () => {
  const p = ok('Action=SendMessage&msgBody.1=a&msgBody.10=b&queue_name=x');
  assert.deepEqual([...p], [
    ['Action', 'SendMessage'],
    ['msgBody.1', 'a'],
    ['msgBody.10', 'b'],
    ['queue_name', 'x'],
  ]);
});

void test("form: '+' is a space, '%2B' is a plus, '%20' is a space, in keys and values", () => {
  const p = ok('msgBody=hello+world%2B1%20x&a+b=1&c%2Bd=2');
  assert.equal(p.get('msgBody'), 'hello world+1 x');
  assert.equal(p.get('a b'), '1');
  assert.equal(p.get('c+d'), '2');
});

void test('form: percent-encoded UTF-8, upper and lower case hex, and raw UTF-8 bytes', () => {
  const p = ok('a=%E4%BD%A0%e5%a5%bd&b=' + '你好' + '&c=%F0%9F%98%80');
  assert.equal(p.get('a'), '你好');
  assert.equal(p.get('b'), '你好');
  assert.equal(p.get('c'), '😀');
});

void test('form: empty values, missing "=", "a=b=c", empty segments', () => {
  const p = ok('routingKey=&flag&a=b=c&&x=1&');
  assert.equal(p.get('routingKey'), '');
  assert.equal(p.get('flag'), '');
  assert.equal(p.get('a'), 'b=c');
  assert.equal(p.get('x'), '1');
  assert.equal(p.size, 4);
});

void test('form: empty input gives no parameters', () => {
  assert.equal(ok('').size, 0);
  assert.equal(ok(Buffer.alloc(0)).size, 0);
  assert.equal(ok('&&&').size, 0);
});

void test('form: "=v" is a parameter with an empty key', () => {
  assert.equal(ok('=v').get(''), 'v');
});

void test('form: encoded "&" and "=" inside values do not split', () => {
  const p = ok('msgBody=a%26b%3Dc&Signature=C16WEtEXsD5v5tnaUMLAbZewXhI%3D');
  assert.equal(p.get('msgBody'), 'a&b=c');
  assert.equal(p.get('Signature'), 'C16WEtEXsD5v5tnaUMLAbZewXhI=');
});

for (const bad of ['a=%', 'a=%4', 'a=%zz', 'a=%4g', '%=1', 'a=1&b=x%']) {
  void test(`form: malformed percent-encoding ${JSON.stringify(bad)} → 4000/10420`, () => {
    const e = err(bad);
    assert.equal(e.error, 'cannotParse');
    assert.equal(ERRORS[e.error].code, 4000);
    assert.equal(ERRORS[e.error].module, 10420);
    assert.equal(e.arg, 'request');
  });
}

void test('form: invalid UTF-8, encoded or raw → 4000/10420', () => {
  for (const bad of ['a=%FF', 'a=%C3', 'a=%C3%28', 'a=%ED%A0%80' /* surrogate */, '%80=1']) {
    assert.equal(err(bad).error, 'cannotParse', bad);
  }
  assert.equal(err(Buffer.from([0x61, 0x3d, 0xff])).error, 'cannotParse');
  assert.equal(err(Buffer.from([0x61, 0x3d, 0xe4, 0xbd])).error, 'cannotParse');
});

void test('form: a repeated key → 4000/10330 naming it (also after decoding)', () => {
  let e = err('a=1&b=2&a=3');
  assert.equal(e.error, 'paramNotRepeatable');
  assert.equal(e.arg, 'a');
  e = err('msgBody.1=x&msgBody%2E1=y');
  assert.equal(e.error, 'paramNotRepeatable');
  assert.equal(e.arg, 'msgBody.1');
  e = err('a&a=');
  assert.equal(e.error, 'paramNotRepeatable');
});

void test('form: a string input is read as UTF-8; Buffer and string agree', () => {
  const s = 'k=%E2%82%AC+%C3%A9&l=é';
  assert.deepEqual([...ok(s)], [...ok(Buffer.from(s, 'utf8'))]);
  assert.equal(ok(s).get('k'), '€ é');
});

void test('form: agrees with URLSearchParams on well-formed input', () => {
  const src = new URLSearchParams();
  src.append('Action', 'BatchSendMessage');
  src.append('msgBody.1', 'hello world & more = stuff + 100% ✓');
  src.append('msgBody.2', '');
  src.append('odd key_with.chars', '@file');
  const p = ok(src.toString());
  assert.deepEqual([...p], [...src]);
});

void test('form: valueBytes is each value as UTF-8, sent escaped or raw', () => {
  const text = fc.string({ unit: 'binary', maxLength: 30 });
  // Raw values: any text without the characters the form syntax gives a meaning.
  const rawText = text.map((t) => t.replace(/[&=%+]/g, ''));
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(fc.string({ unit: 'grapheme-ascii', maxLength: 8 }), text, rawText), { selector: (t) => t[0], maxLength: 8 }), (items) => {
      const escaped = ok(new URLSearchParams(items.map(([k, v]): [string, string] => [k, v])).toString());
      const keys = items.map(([k]) => encodeURIComponent(k));
      const raw = Buffer.from(items.map(([, , r], i) => `${keys[i]}=${r}`).join('&'));
      const rawParams = ok(raw);
      for (const [i, [k, v, r]] of items.entries()) {
        assert.deepEqual(valueBytes(escaped, k), Buffer.from(v, 'utf8'));
        const bytes = valueBytes(rawParams, decodeURIComponent(keys[i] as string));
        assert.deepEqual(bytes, Buffer.from(r, 'utf8'));
      }
      assert.equal(valueBytes(escaped, 'absent key \u0000'), undefined);
    }),
    { numRuns: 500 },
  );
  // A map not made by parseForm: the value encoded.
  assert.deepEqual(valueBytes(new Map([['msgBody', 'é']]), 'msgBody'), Buffer.from('é'));
});

void test('form: long values read back whole through get and every way of iterating', () => {
  // Long enough that some values are decoded only when first read.
  const text = fc.string({ unit: 'binary', maxLength: 400, size: 'max' });
  const readers: ((p: FormParams) => [string, string][])[] = [
    (p) => [...p],
    (p) => [...p.entries()],
    (p) => [...p.keys()].map((k, i) => [k, [...p.values()][i] as string]),
    (p) => {
      const out: [string, string][] = [];
      p.forEach((v, k) => out.push([k, v]));
      return out;
    },
    (p) => [...new Map(p)],
    (p) => [...p.keys()].map((k) => [k, p.get(k) as string]),
  ];
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(fc.string({ maxLength: 6 }), text), { selector: (t) => t[0], maxLength: 6 }),
      fc.nat({ max: readers.length - 1 }),
      fc.boolean(),
      (pairs, reader, raw) => {
        // Raw: the values sent unescaped (without the characters the syntax gives a meaning).
        const sent = raw ? pairs.map(([k, v]): [string, string] => [k, v.replace(/[&=%+]/g, '')]) : pairs;
        const input = raw
          ? Buffer.from(sent.map(([k, v]) => `${encodeURIComponent(k)}=${v}`).join('&'))
          : new URLSearchParams(sent).toString();
        const p = ok(input);
        assert.deepEqual((readers[reader] as (p: FormParams) => [string, string][])(p), sent);
        // And again, now that whatever was read has been decoded.
        assert.deepEqual([...p], sent);
        for (const [k, v] of sent) {
          const bytes = valueBytes(p, k);
          assert.deepEqual(bytes, Buffer.from(v, 'utf8'));
          // A long body sent unescaped goes on as a view of the request, not a copy.
          if (raw && Buffer.byteLength(v) >= 256) assert.equal(bytes?.buffer, (input as Buffer).buffer, 'a long raw value is not copied');
        }
      },
    ),
    { numRuns: 1000 },
  );
});

void test('form: a value set after parsing replaces the one sent, bytes included', () => {
  const p = ok(`msgBody=${'a'.repeat(1000)}&x=1`);
  p.set('msgBody', 'short');
  assert.equal(p.get('msgBody'), 'short');
  assert.deepEqual([...p], [['msgBody', 'short'], ['x', '1']]);
  assert.deepEqual(valueBytes(p, 'msgBody'), Buffer.from('short'));
});
