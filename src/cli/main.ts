#!/usr/bin/env -S node --initial-old-space-size=64
// The `opencmq` executable: real stdin/stdout, signals and factories around runCli.

import * as readline from 'node:readline';
import { CmqClient } from '../client/client';
import type { CliDeps, CliIo } from './cli-io';
import { runCli } from './run';

function realIo(signal: AbortSignal): CliIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    stdinLines: () => readline.createInterface({ input: process.stdin, crlfDelay: Infinity }),
    signal,
  };
}

const deps: CliDeps = {
  makeClient: (opts) => new CmqClient(opts),
  // Loaded only by `opencmq server`, so client commands never load the server code.
  startServer: async (opts) => (await import('../node/server')).startServer(opts),
};

async function main(): Promise<void> {
  // Output piped into a reader that stops early (`| head`): stop quietly, as Unix tools do.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    // The first signal asks for a graceful stop; a second one ends the process at once.
    if (++signals > 1) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const code = await runCli(process.argv.slice(2), realIo(stop.signal), deps);
  // Let stdout drain; then leave even if a stray handle (e.g. stdin) is still open.
  process.stdout.write('', () => process.exit(code));
}

void main();
