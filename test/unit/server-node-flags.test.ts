// Every way a server is started passes the V8 flags of src/cli/node-flags.ts (the `opencmq`
// command through its first line, npm start, the Docker entrypoint, local-cluster, the bench):
// a launcher that loses them still works, only slower, which no other test would notice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SERVER_NODE_FLAGS } from '../../src/cli/node-flags';

const ROOT = path.join(__dirname, '..', '..', '..');
const read = (rel: string): string => fs.readFileSync(path.join(ROOT, rel), 'utf8');

test('the server V8 flags are given by every launcher', () => {
  assert.ok(SERVER_NODE_FLAGS.length > 0);
  const flags = SERVER_NODE_FLAGS.join(' ');
  const shebang = read('src/cli/main.ts').split('\n')[0]!;
  assert.equal(shebang, `#!/usr/bin/env -S node ${flags}`, 'the opencmq command (src/cli/main.ts, first line)');
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.start!, new RegExp(`node ${flags} dist/src/cli/main\\.js server`), 'npm start');
  const execs = read('deploy/docker/entrypoint.sh')
    .split('\n')
    .filter((l) => /\bexec node\b/.test(l));
  assert.ok(execs.length >= 2, 'the entrypoint runs node');
  for (const l of execs) assert.ok(l.includes(`exec node ${flags} "$OPENCMQ_MAIN"`), `entrypoint: ${l.trim()}`);
  assert.match(read('src/cli/local-cluster.ts'), /spawn\(process\.execPath, \[\.\.\.SERVER_NODE_FLAGS, /, 'local-cluster');
  assert.match(read('bench/bench-servers.ts'), /const nodeArgs = \[\.\.\.SERVER_NODE_FLAGS, /, 'the bench');
});

test('the opencmq command starts node with the server V8 flags', () => {
  // The built file keeps the first line; `env -S` splits it into node and its flags.
  const built = fs.readFileSync(path.join(__dirname, '..', '..', 'src', 'cli', 'main.js'), 'utf8').split('\n')[0];
  assert.equal(built, `#!/usr/bin/env -S node ${SERVER_NODE_FLAGS.join(' ')}`);
});
