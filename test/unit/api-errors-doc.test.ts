// docs/errors.md must list every entry of the ERRORS registry with the same code, module and text,
// and nothing else, so the published table cannot drift from the code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { CMQ_ERRORS as ERRORS } from '../../src/protocol/cmq-codes';
import type { ErrorName } from '../../src/protocol/errors';
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
