// The CLI run in this process (runCli), its output captured: for tests of a command's request and
// what it prints, with the client they give it.

import type { CliClient, CliIo } from '../../src/cli/cli-io';
import type { CmqClientOptions } from '../../src/client/client';
import { runCli } from '../../src/cli/run';

export interface CliRun {
  code: number;
  out: string[];
  err: string[];
}

/** Runs `argv` with no stdin; `makeClient` gives the client the command uses; no server can start. */
export async function runCliCaptured(argv: string[], makeClient: (o: CmqClientOptions) => CliClient, env: Record<string, string> = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env,
    stdinLines: async function* () {
      await Promise.resolve();
      yield* [];
    },
    signal: new AbortController().signal,
  };
  const code = await runCli(argv, io, { makeClient, startServer: () => Promise.reject(new Error('no server in this test')) });
  return { code, out, err };
}
