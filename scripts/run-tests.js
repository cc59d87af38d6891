#!/usr/bin/env node
// Runs the compiled test files under dist/test with node's built-in test runner.
// Usage: node scripts/run-tests.js [subdir ...]   (e.g. "unit", "integration")
// The client API suites (integration/api-*) run a second time over HTTPS (OPENCMQ_TEST_TLS=1).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
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
// Two cores: run at most two test files at once.
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
const apiFiles = files.filter((f) => /[\\/]integration[\\/]api-[^\\/]*\.test\.js$/.test(f));
let tlsStatus = 0;
if (apiFiles.length > 0) {
  console.log(`\n# the ${apiFiles.length} client API suites again, over HTTPS (OPENCMQ_TEST_TLS=1)`);
  const tls = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...apiFiles], {
    stdio: 'inherit',
    env: { ...process.env, OPENCMQ_TEST_TLS: '1' },
  });
  tlsStatus = tls.status ?? 1;
}
process.exit((res.status ?? 1) !== 0 ? (res.status ?? 1) : tlsStatus);
