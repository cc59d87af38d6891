// docs/errors.md must list every entry of the ERRORS registry with the same code, module and text,
// and nothing else, so the published table cannot drift from the code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { CMQ_CODES, CMQ_ERRORS as ERRORS } from '../../src/protocol/cmq-codes';
import { ERROR_KINDS, KIND_APPLIED, type ErrorName } from '../../src/protocol/errors';
import { findRepoFile } from '../helpers/repo-file';

interface DocRow {
  code: number;
  module: number;
  message: string;
  when: string;
}

function docRows(): Map<string, DocRow> {
  const text = fs.readFileSync(findRepoFile('docs/errors.md'), 'utf8');
  const rows = new Map<string, DocRow>();
  // | `name` | code | module | `message` | when |   (a '|' inside a cell is written '\|')
  const re = /^\| `(\w+)` \| (\d+) \| (\d+) \| `((?:[^`\\]|\\.)*)` \| (.*) \|$/gm;
  for (const m of text.matchAll(re)) {
    const [, name, code, module, message, when] = m as unknown as [string, string, string, string, string, string];
    assert.ok(!rows.has(name), `${name} listed twice`);
    rows.set(name, { code: Number(code), module: Number(module), message: message.replaceAll('\\|', '|'), when: when.trim() });
  }
  return rows;
}

void test('docs/errors.md lists every ERRORS entry with the same code, module and message', () => {
  const rows = docRows();
  for (const [name, def] of Object.entries(ERRORS) as [ErrorName, (typeof ERRORS)[ErrorName]][]) {
    const row = rows.get(name);
    assert.ok(row, `${name} (${def.code}/${def.module}) is missing from docs/errors.md`);
    assert.equal(row.code, def.code, `${name}: code`);
    assert.equal(row.module, def.module, `${name}: module`);
    assert.equal(row.message, `(${def.module})${def.text}`, `${name}: message`);
    assert.ok(row.when.length > 0, `${name}: no explanation`);
  }
});

void test('docs/errors.md lists nothing that is not in ERRORS', () => {
  for (const name of docRows().keys()) assert.ok(name in ERRORS, `docs/errors.md lists unknown error ${name}`);
});

/** The "Error kinds" table: kind -> [what was applied, the names listed]. */
function kindRows(): Map<string, { applied: string; names: string[] }> {
  const text = fs.readFileSync(findRepoFile('docs/errors.md'), 'utf8');
  const section = text.slice(text.indexOf('\n## Error kinds'));
  const rows = new Map<string, { applied: string; names: string[] }>();
  // | `kind` | applied | meaning | `name`, `name` |
  for (const m of section.matchAll(/^\| `(\w+)` \| ([^|]+) \| [^|]+ \| ((?:`\w+`(?:, )?)+) \|$/gm)) {
    const [, kind, applied, names] = m as unknown as [string, string, string, string];
    rows.set(kind, { applied: applied.trim(), names: [...names.matchAll(/`(\w+)`/g)].map((n) => n[1]!) });
  }
  return rows;
}

const APPLIED_WORDS = { nothing: 'nothing', part: 'part of it', unknown: 'unknown' } as const;

void test('docs/errors.md lists every error under its kind, and what each kind applied', () => {
  const rows = kindRows();
  assert.deepEqual([...rows.keys()].sort(), [...ERROR_KINDS].sort(), 'one row per kind');
  for (const kind of ERROR_KINDS) {
    const row = rows.get(kind)!;
    const want = (Object.keys(ERRORS) as ErrorName[]).filter((n) => ERRORS[n].kind === kind);
    assert.deepEqual([...row.names].sort(), want.sort(), `errors of kind ${kind}`);
    assert.equal(row.applied, APPLIED_WORDS[KIND_APPLIED[kind]], `what ${kind} applied`);
  }
});

void test('the kind alone tells "not applied, retry" from "outcome unknown"', () => {
  assert.equal(KIND_APPLIED[ERRORS.notApplied.kind], 'nothing');
  assert.equal(KIND_APPLIED[ERRORS.outcomeUnknown.kind], 'unknown');
  assert.notEqual(ERRORS.notApplied.kind, ERRORS.outcomeUnknown.kind);
  // On the CMQ wire outcomeUnknown shares code 6000 with internalError; the kinds differ too.
  assert.equal(ERRORS.outcomeUnknown.code, ERRORS.internalError.code);
});

void test('every registry name has its own CMQ code and module pair (but the four pairs the CMQ spec itself gives twice), so a client can name the error it got', () => {
  // The spec numbers some queue and topic errors alike; a client tells them apart by the action.
  const specPairs = new Set(['4000/10680', '4000/10700', '4000/10710', '4000/10720']);
  const seen = new Map<string, string>();
  for (const [name, c] of Object.entries(CMQ_CODES)) {
    const key = `${c.code}/${c.module}`;
    if (!specPairs.has(key)) assert.equal(seen.get(key), undefined, `${name} and ${seen.get(key)} share ${key}`);
    seen.set(key, name);
  }
});
