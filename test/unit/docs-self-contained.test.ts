// The README and docs/ are read by users who have only this repository: they must not point at
// files outside it (a sibling checkout, a spec kept elsewhere) or name internal work items.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

function repoRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'README.md'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`repository root not found above ${__dirname}`);
  }
}

const ROOT = repoRoot();

function userDocs(): string[] {
  const docs = fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => path.join('docs', f));
  return ['README.md', ...docs];
}

/** What a user-facing document must not contain, and why. */
const FORBIDDEN: { re: RegExp; why: string }[] = [
  { re: /\.\.\/shared/, why: 'a path outside the repository' },
  { re: /cmq-api\.md/, why: 'a spec file that is not in the repository' },
  { re: /\bissues? #?\d/i, why: 'an internal work item' },
  { re: /(^|[\s(`'"])\/work\//, why: 'a path on the machine it was written on' },
];

void test('README.md and docs/*.md point nowhere outside the repository and name no internal work items', () => {
  const found: string[] = [];
  for (const rel of userDocs()) {
    const lines = fs.readFileSync(path.join(ROOT, rel), 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const { re, why } of FORBIDDEN) if (re.test(line)) found.push(`${rel}:${i + 1}: ${why}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});

void test('relative links in README.md and docs/*.md reach files inside the repository', () => {
  const broken: string[] = [];
  for (const rel of userDocs()) {
    const text = fs.readFileSync(path.join(ROOT, rel), 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1] as string;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
      const file = path.resolve(ROOT, path.dirname(rel), target.split('#')[0] as string);
      const inside = file === ROOT || file.startsWith(ROOT + path.sep);
      if (!inside || !fs.existsSync(file)) broken.push(`${rel}: ${target}${inside ? '' : ' (outside the repository)'}`);
    }
  }
  assert.deepEqual(broken, []);
});
