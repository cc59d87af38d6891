import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  arrayParam,
  isError,
  optionalInt,
  optionalString,
  parseIntParam,
  requiredInt,
  requiredString,
} from '../../src/api/params';
import type { ErrorResult } from '../../src/protocol/errors';

const p = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));

function errorOf(x: unknown): ErrorResult {
  assert.ok(isError(x), `expected an error, got ${JSON.stringify(x)}`);
  return x;
}

void test('params: required and optional strings', () => {
  assert.equal(requiredString(p({ a: 'x' }), 'a'), 'x');
  assert.deepEqual(errorOf(requiredString(p({}), 'a')), { ok: false, error: 'missingParam', arg: 'a' });
  assert.equal(errorOf(requiredString(p({ a: '' }), 'a')).error, 'missingParam');
  assert.equal(optionalString(p({}), 'a'), undefined);
  assert.equal(optionalString(p({ a: '' }), 'a'), undefined);
  assert.equal(optionalString(p({ a: ' ' }), 'a'), ' ');
});

void test('params: integers parse, with range checks', () => {
  const r = { min: 0, max: 30 };
  assert.equal(parseIntParam('n', '0', r), 0);
  assert.equal(parseIntParam('n', '30', r), 30);
  assert.equal(parseIntParam('n', '+7', r), 7);
  assert.equal(parseIntParam('n', '-0', r), 0);
  assert.equal(parseIntParam('n', '007', r), 7);
  assert.deepEqual(errorOf(parseIntParam('n', '31', r)), { ok: false, error: 'paramOutOfRange', arg: 'n' });
  assert.equal(errorOf(parseIntParam('n', '-1', r)).error, 'paramOutOfRange');
  assert.equal(errorOf(parseIntParam('n', '99999999999999999999999', r)).error, 'paramOutOfRange');
  for (const bad of ['', ' 1', '1 ', '1.0', '1e3', '0x10', 'abc', '--1', '١']) {
    assert.deepEqual(errorOf(parseIntParam('n', bad, r)), { ok: false, error: 'paramErrorType', arg: 'n' }, bad);
  }
});

void test('params: requiredInt / optionalInt', () => {
  const r = { min: 1, max: 16 };
  assert.equal(requiredInt(p({ n: '16' }), 'n', r), 16);
  assert.equal(errorOf(requiredInt(p({}), 'n', r)).error, 'missingParam');
  assert.equal(errorOf(requiredInt(p({ n: '' }), 'n', r)).error, 'missingParam');
  assert.equal(errorOf(requiredInt(p({ n: '0' }), 'n', r)).error, 'paramOutOfRange');
  assert.equal(optionalInt(p({}), 'n', r), undefined);
  assert.equal(optionalInt(p({ n: '3' }), 'n', r), 3);
  assert.equal(errorOf(optionalInt(p({ n: '' }), 'n', r)).error, 'paramErrorType');
  assert.equal(errorOf(optionalInt(p({ n: 'x' }), 'n', r)).error, 'paramErrorType');
});

void test('params: arrays 1-based and 0-based, sorted numerically not lexically', () => {
  const one = p({ 'msgBody.2': 'b', 'msgBody.10': 'j', 'msgBody.1': 'a' });
  for (let i = 3; i <= 9; i++) one.set(`msgBody.${i}`, String.fromCharCode(0x60 + i));
  assert.deepEqual(arrayParam(one, 'msgBody', true), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  assert.deepEqual(arrayParam(p({ 'msgBody.1': 'x', 'msgBody.0': 'w' }), 'msgBody', true), ['w', 'x']);
  assert.deepEqual(arrayParam(p({ 'h.0': '' }), 'h', true), ['']);
});

void test('params: arrays ignore other keys that merely share the prefix', () => {
  const q = p({
    msgBody: 'plain',
    'msgBody.1': 'a',
    'msgBody.x': 'no',
    'msgBody.1.2': 'no',
    'msgBodyX.2': 'no',
    'msgbody.2': 'no',
    'msgBody.': 'no',
    'msgBody.-2': 'no',
    'msgBody.+2': 'no',
    'msgBody. 2': 'no',
    'msgBody.2 ': 'no',
    'msgBody.٢': 'no',
    'msgBody.２': 'no',
  });
  assert.deepEqual(arrayParam(q, 'msgBody', true), ['a']);
});

void test('params: array gaps, bad start and duplicate indexes → 10380', () => {
  for (const keys of [['1', '3'], ['2', '3'], ['0', '2'], ['5'], ['1', '01'], ['1', '99999999999999999999']]) {
    const q = new Map(keys.map((k) => [`r.${k}`, 'v']));
    assert.deepEqual(errorOf(arrayParam(q, 'r', true)), { ok: false, error: 'paramNotConsecutive', arg: 'r' }, keys.join());
  }
});

void test('params: arrays of 16 pass, 17 → 10370 (from 0 or 1)', () => {
  for (const start of [0, 1]) {
    const q = new Map<string, string>();
    for (let i = 0; i < 16; i++) q.set(`b.${start + i}`, String(i));
    assert.equal((arrayParam(q, 'b', true) as string[]).length, 16);
    q.set(`b.${start + 16}`, 'x');
    assert.deepEqual(errorOf(arrayParam(q, 'b', true)), { ok: false, error: 'batchSizeOutOfRange', arg: 'b' });
  }
});

void test('params: no items → missingParam when required, [] otherwise', () => {
  assert.deepEqual(errorOf(arrayParam(p({ msgBody: 'x' }), 'msgBody', true)), { ok: false, error: 'missingParam', arg: 'msgBody' });
  assert.deepEqual(arrayParam(p({}), 'msgTag', false), []);
});
