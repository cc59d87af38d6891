// docs/api.md must describe every action the server answers, and no action it does not, so the
// published reference cannot drift from the action table. Every error it names as
// [`name`](errors.md#section) code/module must be a registry entry with that code and module,
// listed in that section of docs/errors.md; every in-page link must reach a heading.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createApiContext } from '../../src/api/http-server';
import type { QueueService } from '../../src/service/queue-service';
import { CMQ_ERRORS as ERRORS } from '../../src/protocol/cmq-codes';
import type { ErrorName } from '../../src/protocol/errors';
import { findRepoFile } from '../helpers/repo-file';

const API_DOC = fs.readFileSync(findRepoFile('docs/api.md'), 'utf8');
const ERRORS_DOC = fs.readFileSync(findRepoFile('docs/errors.md'), 'utf8');

/** The canonical names of every action the HTTP server dispatches. */
function servedActions(): string[] {
  // The table does not touch the service; a context is the one place the served table is exposed.
  const ctx = createApiContext({ service: {} as QueueService, auth: { mode: 'open' }, log: () => undefined });
  return [...ctx.actions.values()].map((a) => a.name);
}

/** Outside fenced code blocks, so a heading-like line in an example does not count. */
function proseLines(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    else if (!fenced) out.push(line);
  }
  return out;
}

/** An action section is a `###` heading made only of code spans: "### `Name`" or "### `A` / `B`". */
function documentedActions(markdown: string): string[] {
  const names: string[] = [];
  for (const line of proseLines(markdown)) {
    const m = /^### (`\w+`(?: \/ `\w+`)*)\s*$/.exec(line);
    if (m) for (const n of (m[1] as string).matchAll(/`(\w+)`/g)) names.push(n[1] as string);
  }
  return names;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to '-'. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function headings(markdown: string): { slug: string; text: string }[] {
  return proseLines(markdown)
    .map((l) => /^#{1,6} (.*)$/.exec(l)?.[1])
    .filter((t): t is string => t !== undefined)
    .map((text) => ({ slug: slug(text), text }));
}

/** errors.md: section anchor -> the error names listed in its table. */
function errorSections(): Map<string, Set<string>> {
  const sections = new Map<string, Set<string>>();
  let current = new Set<string>();
  for (const line of proseLines(ERRORS_DOC)) {
    const h = /^## (.*)$/.exec(line);
    if (h) {
      current = new Set();
      sections.set(slug(h[1] as string), current);
    }
    const row = /^\| `(\w+)` \|/.exec(line);
    if (row) current.add(row[1] as string);
  }
  return sections;
}

void test('docs/api.md describes every action the server answers', () => {
  const documented = new Set(documentedActions(API_DOC));
  for (const name of servedActions()) assert.ok(documented.has(name), `action ${name} is served but not described in docs/api.md (add a "### \`${name}\`" section)`);
});

void test('docs/api.md describes no action the server does not answer', () => {
  const served = new Set(servedActions());
  const documented = documentedActions(API_DOC);
  assert.equal(new Set(documented).size, documented.length, 'an action is described twice');
  for (const name of documented) {
    assert.ok(served.has(name), `docs/api.md describes ${name}, which the server does not answer`);
  }
});

void test('every error docs/api.md names has the code and module of the registry and its errors.md section', () => {
  const sections = errorSections();
  let count = 0;
  for (const m of API_DOC.matchAll(/\[`(\w+)`\]\(errors\.md#([\w-]+)\) (\d+)\/(\d+)/g)) {
    const [, name, anchor, code, module] = m as unknown as [string, string, string, string, string];
    count++;
    assert.ok(name in ERRORS, `docs/api.md names unknown error ${name}`);
    const def = ERRORS[name as ErrorName];
    assert.equal(Number(code), def.code, `${name}: code in docs/api.md`);
    assert.equal(Number(module), def.module, `${name}: module in docs/api.md`);
    assert.ok(sections.get(anchor)?.has(name), `${name}: docs/errors.md has no section #${anchor} listing it`);
  }
  assert.ok(count > 50, `expected the actions' errors to be linked, found ${count}`);
});

void test('every in-page link of docs/api.md reaches a heading', () => {
  const anchors = new Set(headings(API_DOC).map((h) => h.slug));
  for (const m of API_DOC.matchAll(/\]\(#([^)]+)\)/g)) assert.ok(anchors.has(m[1] as string), `docs/api.md links to #${m[1]}, which is no heading`);
  const errorAnchors = new Set(headings(ERRORS_DOC).map((h) => h.slug));
  for (const m of API_DOC.matchAll(/\]\(errors\.md#([^)]+)\)/g)) assert.ok(errorAnchors.has(m[1] as string), `docs/api.md links to errors.md#${m[1]}, which is no heading`);
});
