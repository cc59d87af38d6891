// An action's input in the AWS JSON 1.0 shape, from either protocol:
//
// - queryInput: the query protocol's parameters (`Attribute.1.Name=...`) rebuilt into the JSON
//   input, following ./shapes.ts: flattened lists (`AttributeName.N`), flattened maps
//   (`Attribute.N.Name` / `.Value`), nested structures (`SendMessageBatchRequestEntry.N.Id`),
//   integers and booleans parsed strictly. Parameters the action does not take (Action, Version,
//   the X-Amz-* signature parameters, anything else) are ignored.
// - jsonInput: a JSON 1.0 body checked against the same shapes, so an action sees the same types
//   whichever protocol the request came by. Members the action does not take are dropped.
//
// Blobs (a message attribute's BinaryValue) stay base64 text in both: the actions decode them.

import { fail, type ErrorResult } from '../../protocol/errors';
import type { FormParams } from '../form';
import type { SqsInput } from './types';
import type { SqsList, SqsMap, SqsMember, SqsShape, SqsStruct } from './shapes';

export type InputResult = { ok: true; input: SqsInput } | ErrorResult;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INTEGER_TEXT = /^-?\d+$/;
/** A list or map index: 1, 2, ... without leading zeros. */
const INDEX_TEXT = /^[1-9]\d*$/;

/** One level of the dotted parameter names: `Attribute.1.Name` is root → Attribute → 1 → Name. */
interface Node {
  value?: string;
  children?: Map<string, Node>;
}

class InputError extends Error {
  constructor(readonly result: ErrorResult) {
    super(result.error);
  }
}

function bad(result: ErrorResult): never {
  throw new InputError(result);
}

// ---- query protocol ----

export function queryInput(shape: SqsStruct, params: FormParams): InputResult {
  const root: Node = {};
  for (const [key, value] of params) {
    let node = root;
    for (const part of key.split('.')) {
      node.children ??= new Map();
      let child = node.children.get(part);
      if (child === undefined) {
        child = {};
        node.children.set(part, child);
      }
      node = child;
    }
    node.value = value;
  }
  try {
    return { ok: true, input: readStruct(shape, root, '') };
  } catch (e) {
    if (e instanceof InputError) return e.result;
    throw e;
  }
}

function join(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

function readStruct(shape: SqsStruct, node: Node, prefix: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [member, def] of Object.entries(shape.members)) {
    const name = def.name ?? member;
    const s = def.shape;
    let value: unknown;
    if (s.t === 'list') value = readListMember(s, node, prefix, name);
    else if (s.t === 'map') value = readMap(s, node.children?.get(name), join(prefix, name));
    else value = readValue(s, node.children?.get(name), join(prefix, name));
    if (value !== undefined) out[member] = value;
  }
  return out;
}

/** A list member: flattened, its items stand under the item name (`AttributeName.1`); else under `Name.member.1`. */
function readListMember(s: SqsList, parent: Node, prefix: string, name: string): unknown[] | undefined {
  if (s.flat) {
    const itemName = s.item ?? name;
    const items = parent.children?.get(itemName);
    if (items?.children !== undefined) return readItems(s, items, join(prefix, itemName));
    // An empty list is sent as the member's name with an empty value (`AttributeNames=`).
    return isEmptyMarker(parent.children?.get(name)) || isEmptyMarker(items) ? [] : undefined;
  }
  const container = parent.children?.get(name);
  if (container === undefined) return undefined;
  const items = container.children?.get(s.item ?? 'member');
  if (items?.children !== undefined) return readItems(s, items, join(join(prefix, name), s.item ?? 'member'));
  return isEmptyMarker(container) ? [] : undefined;
}

function isEmptyMarker(node: Node | undefined): boolean {
  return node !== undefined && node.value === '' && node.children === undefined;
}

function readItems(s: SqsList, items: Node, path: string): unknown[] {
  return indexed(items, path).map(([i, item]) => {
    const v = readValue(s.of, item, `${path}.${i}`);
    if (v === undefined) bad(fail('missingParam', `${path}.${i}`));
    return v;
  });
}

function readMap(s: SqsMap, node: Node | undefined, path: string): Record<string, unknown> | undefined {
  if (node === undefined) return undefined;
  if (node.children === undefined) return node.value === '' ? {} : undefined;
  const container = s.flat ? node : node.children.get('entry');
  if (container?.children === undefined) return undefined;
  const base = s.flat ? path : `${path}.entry`;
  const out: Record<string, unknown> = {};
  for (const [i, entry] of indexed(container, base)) {
    const keyPath = `${base}.${i}.${s.key}`;
    const key = entry.children?.get(s.key)?.value;
    if (key === undefined || key === '') bad(fail('missingParam', keyPath));
    if (Object.prototype.hasOwnProperty.call(out, key)) bad(fail('paramNotRepeatable', keyPath, `(${key})`));
    const valuePath = `${base}.${i}.${s.value}`;
    const value = readValue(s.of, entry.children?.get(s.value), valuePath);
    if (value === undefined) bad(fail('missingParam', valuePath));
    setOwn(out, key, value);
  }
  return out;
}

/** A map entry named by the client: an own property even when the name is `__proto__`. */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The numbered children of a node, in order; the numbers must run 1, 2, ... without a gap. */
function indexed(node: Node, path: string): [number, Node][] {
  const entries: [number, Node][] = [];
  for (const [k, child] of node.children ?? []) {
    if (!INDEX_TEXT.test(k)) bad(fail('paramKeyFormat', `${path}.${k}`));
    entries.push([Number(k), child]);
  }
  entries.sort((a, b) => a[0] - b[0]);
  entries.forEach(([n], i) => {
    if (n !== i + 1) bad(fail('paramNotConsecutive', path));
  });
  return entries;
}

function readValue(s: SqsShape, node: Node | undefined, path: string): unknown {
  if (node === undefined) return undefined;
  switch (s.t) {
    case 'struct':
      return node.children === undefined ? (node.value === '' ? {} : undefined) : readStruct(s, node, path);
    case 'list': {
      // A list inside a list or map value (not used by SQS): items under `member`/the item name.
      const items = node.children?.get(s.item ?? 'member');
      return items?.children !== undefined ? readItems(s, items, join(path, s.item ?? 'member')) : isEmptyMarker(node) ? [] : undefined;
    }
    case 'map':
      return readMap(s, node, path);
    case 'string':
    case 'integer':
    case 'long':
    case 'boolean':
    case 'blob':
      return node.value === undefined ? undefined : scalarFromText(s.t, node.value, path);
  }
}

function scalarFromText(t: 'string' | 'integer' | 'long' | 'boolean' | 'blob', text: string, path: string): unknown {
  switch (t) {
    case 'string':
    case 'blob':
      return text;
    case 'boolean':
      if (text === 'true') return true;
      if (text === 'false') return false;
      return bad(fail('paramErrorType', path, '(expected true or false)'));
    case 'integer':
    case 'long': {
      const n = INTEGER_TEXT.test(text) ? Number(text) : NaN;
      if (t === 'integer' ? !(n >= INT32_MIN && n <= INT32_MAX) : !Number.isSafeInteger(n)) {
        return bad(fail('paramErrorType', path, '(expected an integer)'));
      }
      return n;
    }
  }
}

// ---- JSON protocol ----

export function jsonInput(shape: SqsStruct, body: unknown): InputResult {
  if (!isPlainObject(body)) return fail('cannotParse', 'request', '(the JSON body must be an object)');
  try {
    return { ok: true, input: checkStruct(shape, body, '') };
  } catch (e) {
    if (e instanceof InputError) return e.result;
    throw e;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Each struct's members as a list, made once (a send batch checks ten entries per request). */
const MEMBER_LISTS = new WeakMap<SqsStruct, [string, SqsMember][]>();

function membersOf(shape: SqsStruct): [string, SqsMember][] {
  let list = MEMBER_LISTS.get(shape);
  if (list === undefined) {
    list = Object.entries(shape.members);
    MEMBER_LISTS.set(shape, list);
  }
  return list;
}

function checkStruct(shape: SqsStruct, obj: Record<string, unknown>, prefix: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [member, def] of membersOf(shape)) {
    if (!Object.prototype.hasOwnProperty.call(obj, member)) continue;
    const v = obj[member];
    // JSON null is "not set", as the AWS SDKs treat it.
    if (v === null || v === undefined) continue;
    out[member] = checkValue(def.shape, v, prefix, member);
  }
  return out;
}

/**
 * `v` checked against shape `s`; it is member `key` of the value at `parent`. The path is joined
 * only for an error or a container's items, not for every scalar of every request.
 */
function checkValue(s: SqsShape, v: unknown, parent: string, key: string): unknown {
  const wrongType = (expected: string): never => bad(fail('paramErrorType', join(parent, key), `(expected ${expected})`));
  switch (s.t) {
    case 'string':
    case 'blob':
      return typeof v === 'string' ? v : wrongType('a string');
    case 'boolean':
      return typeof v === 'boolean' ? v : wrongType('true or false');
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX ? v : wrongType('an integer');
    case 'long':
      return typeof v === 'number' && Number.isSafeInteger(v) ? v : wrongType('an integer');
    case 'list': {
      if (!Array.isArray(v)) return wrongType('a list');
      const path = join(parent, key);
      return v.map((item, i) => {
        if (item === null || item === undefined) bad(fail('paramErrorType', `${path}.${i + 1}`, '(a list item cannot be null)'));
        return checkValue(s.of, item, path, String(i + 1));
      });
    }
    case 'map': {
      if (!isPlainObject(v)) return wrongType('a map');
      const path = join(parent, key);
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) {
        if (item === null || item === undefined) bad(fail('paramErrorType', `${path}.${k}`, '(a map value cannot be null)'));
        setOwn(out, k, checkValue(s.of, item, path, k));
      }
      return out;
    }
    case 'struct':
      return isPlainObject(v) ? checkStruct(s, v, join(parent, key)) : wrongType('an object');
  }
}
