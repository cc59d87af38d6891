// Typed accessors over decoded request parameters. Each returns the value or an ErrorResult with
// the CMQ code for what is wrong, so validation reads as a straight sequence of early returns.

import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import type { FormParams } from './form';

export function isError(x: unknown): x is ErrorResult {
  return typeof x === 'object' && x !== null && (x as { ok?: unknown }).ok === false;
}

export interface IntRange {
  readonly min: number;
  readonly max: number;
}

/** Present and non-empty, else 4000/10390 naming the parameter. */
export function requiredString(p: FormParams, name: string): string | ErrorResult {
  const v = p.get(name);
  if (v === undefined || v === '') return fail('missingParam', name);
  return v;
}

/** The value, or undefined when absent or empty. */
export function optionalString(p: FormParams, name: string): string | undefined {
  const v = p.get(name);
  return v === undefined || v === '' ? undefined : v;
}

const INT_RE = /^[+-]?\d+$/;

/**
 * Parse a decimal integer parameter. Text that is not an integer → 4000/10360; an integer outside
 * [min, max] (or beyond 2^53) → 4000/10350.
 */
export function parseIntParam(name: string, text: string, range: IntRange): number | ErrorResult {
  if (!INT_RE.test(text)) return fail('paramErrorType', name);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) return fail('paramOutOfRange', name);
  // Normalise '-0' and '+5'.
  return n === 0 ? 0 : n;
}

/** Missing (or empty) → 4000/10390; otherwise as parseIntParam. */
export function requiredInt(p: FormParams, name: string, range: IntRange): number | ErrorResult {
  const v = p.get(name);
  if (v === undefined || v === '') return fail('missingParam', name);
  return parseIntParam(name, v, range);
}

/** Absent → undefined. Present, even empty, must be a valid integer in range. */
export function optionalInt(p: FormParams, name: string, range: IntRange): number | undefined | ErrorResult {
  const v = p.get(name);
  if (v === undefined) return undefined;
  return parseIntParam(name, v, range);
}

const INDEX_DIGITS_MAX = 9;

/**
 * The array `name.N` (spec §1.2 [rec]): every key matching `^name\.(\d+)$`, in numeric index
 * order. Indexes must start at 0 or 1 and be consecutive (4000/10380); at most `itemsMax` items
 * (default LIMITS.batchItemsMax; beyond it `tooMany`, default 4000/10370); none at all when
 * required → 4000/10390.
 */
export function arrayParam(p: FormParams, name: string, required: boolean, itemsMax?: number, tooMany?: ErrorResult): string[] | ErrorResult {
  const keys = arrayParamKeys(p, name, required, itemsMax, tooMany);
  return isError(keys) ? keys : keys.map((k) => p.get(k) as string);
}

/** The keys of the array `name.N` in index order, checked as arrayParam checks them. */
export function arrayParamKeys(
  p: FormParams,
  name: string,
  required: boolean,
  itemsMax: number = LIMITS.batchItemsMax,
  tooMany: ErrorResult = fail('batchSizeOutOfRange', name),
): string[] | ErrorResult {
  const prefix = name + '.';
  const items: { index: number; key: string }[] = [];
  for (const key of p.keys()) {
    if (!key.startsWith(prefix)) continue;
    // The index: one or more ASCII digits after the prefix, and nothing else.
    let index = 0;
    let i = prefix.length;
    for (; i < key.length; i++) {
      const d = key.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) break;
      index = index * 10 + d;
    }
    if (i === prefix.length || i < key.length) continue;
    // A huge index can only be a gap; keep it finite so the consecutiveness check rejects it.
    if (key.length - prefix.length > INDEX_DIGITS_MAX) index = Number.MAX_SAFE_INTEGER;
    items.push({ index, key });
  }
  if (items.length === 0) return required ? fail('missingParam', name) : [];
  if (items.length > itemsMax) return tooMany;
  items.sort((a, b) => a.index - b.index);
  const first = (items[0] as { index: number }).index;
  if (first !== 0 && first !== 1) return fail('paramNotConsecutive', name);
  for (let i = 0; i < items.length; i++) {
    if ((items[i] as { index: number }).index !== first + i) return fail('paramNotConsecutive', name);
  }
  return items.map((it) => it.key);
}
