#!/usr/bin/env node
// Runs the compiled test files under dist/test with node's built-in test runner.
// Usage: node scripts/run-tests.js [subdir ...]   (e.g. "unit", "integration")
// The client API suites (integration/api-*) run a second time over HTTPS (OPENCMQ_TEST_TLS=1).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..', 'dist', 'test');
const subdirs = process.argv.slice(2);
const files = [];
function walk(dir) {
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (fs.statSync(full).isDirectory()) walk(full);
    else if (name.endsWith('.test.js')) files.push(full);
  }
}
if (subdirs.length === 0) walk(root);
else for (const s of subdirs) walk(path.join(root, s));
if (files.length === 0) {
  console.error('no test files found under', root);
  process.exit(1);
}
// Each run also writes its TAP to a file, so that the failures can be printed again at the very end:
// a CI log is often read from its tail, and a failure 1,000 tests up is easy to miss there.
function runTests(label, testFiles, env) {
  const tap = path.join(os.tmpdir(), `opencmq-tests-${process.pid}-${label}.tap`);
  const r = spawnSync(
    process.execPath,
    ['--test', '--test-concurrency=2', '--test-reporter=tap', '--test-reporter-destination=stdout',
      '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...testFiles],
    { stdio: 'inherit', env },
  );
  return { status: r.status ?? 1, failures: failuresIn(tap, label) };
}
// The "not ok" lines of a TAP file, each with the first lines of its YAML block (error, location).
function failuresIn(tapFile, label) {
  let lines;
  try {
    lines = fs.readFileSync(tapFile, 'utf8').split('\n');
    fs.rmSync(tapFile, { force: true });
  } catch {
    return [`(${label}: no TAP output was written)`];
  }
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*not ok /.test(lines[i])) continue;
    out.push(`[${label}] ${lines[i].trim()}`);
    let shown = 0;
    for (let j = i + 1; j < lines.length && shown < 25; j++) {
      if (/^\s*\.\.\.\s*$/.test(lines[j])) break;
      if (/^\s*(---|duration_ms:|type:)/.test(lines[j])) continue;
      out.push('    ' + lines[j].trim());
      shown++;
    }
  }
  return out;
}
// Two cores: run at most two test files at once.
const res = runTests('main', files, process.env);
const apiFiles = files.filter((f) => /[\\/]integration[\\/]api-[^\\/]*\.test\.js$/.test(f));
let tlsStatus = 0;
if (apiFiles.length > 0) {
  console.log(`\n# the ${apiFiles.length} client API suites again, over HTTPS (OPENCMQ_TEST_TLS=1)`);
  const tls = runTests('https', apiFiles, { ...process.env, OPENCMQ_TEST_TLS: '1' });
  tlsStatus = tls.status;
  res.failures.push(...tls.failures);
}
if (res.failures.length > 0) {
  console.log(`\n# failures, repeated from above (${res.failures.filter((l) => l.startsWith('[')).length} "not ok" lines):`);
  for (const line of res.failures) console.log('# ' + line);
}
process.exit(res.status !== 0 ? res.status : tlsStatus);
