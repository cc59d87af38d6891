// `opencmq server` tells a supervisor why it could not start: a data directory held by another
// server (75, retry later), one that cannot hold data (78, fix the configuration), anything else (1).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { CliDeps, CliIo } from '../../src/cli/cli-io';
import { runCli } from '../../src/cli/run';
import { SERVER_EXIT } from '../../src/node/server-options';
import { DataDirInUseError, DataDirUnusableError } from '../../src/storage/data-dir-errors';

async function startFailingWith(err: Error): Promise<{ code: number; err: string[] }> {
  const lines: string[] = [];
  const io: CliIo = {
    out: () => {},
    err: (l) => lines.push(l),
    env: {},
    stdinLines: async function* () {},
    signal: new AbortController().signal,
  };
  const deps: CliDeps = {
    makeClient: () => assert.fail('the server command makes no client'),
    startServer: () => Promise.reject(err),
  };
  return { code: await runCli(['server', '--data-dir', '/d', '--port', '0'], io, deps), err: lines };
}

test('a data directory in use exits 75 with the message', async () => {
  const r = await startFailingWith(new DataDirInUseError('data directory /d is in use by opencmq pid 42 on host h (since x)'));
  assert.equal(r.code, SERVER_EXIT.dataDirInUse);
  assert.equal(SERVER_EXIT.dataDirInUse, 75);
  assert.deepEqual(r.err, ['error: data directory /d is in use by opencmq pid 42 on host h (since x)']);
});

test('an unusable data directory exits 78 with the message', async () => {
  const r = await startFailingWith(new DataDirUnusableError('data directory /d cannot be used: it exists and is not a directory'));
  assert.equal(r.code, SERVER_EXIT.dataDirUnusable);
  assert.equal(SERVER_EXIT.dataDirUnusable, 78);
  assert.deepEqual(r.err, ['error: data directory /d cannot be used: it exists and is not a directory']);
});

test('any other start-up failure still exits 1', async () => {
  const r = await startFailingWith(new Error('listen EADDRINUSE'));
  assert.equal(r.code, 1);
  assert.deepEqual(r.err, ['error: listen EADDRINUSE']);
});
