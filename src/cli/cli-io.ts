// What a CLI command may touch: output streams, environment, stdin, a stop signal, and factories
// for the client and the server. main.ts wires the real ones; tests pass fakes and capture output.

import type { CmqClientOptions } from '../client/client';
import type { CmqQueueApi, CmqTopicApi } from '../client/types';
import type { RunningServer, ServerOptions } from '../node/server-options';

export interface CliIo {
  /** Writes one line to stdout. */
  out(line: string): void;
  /** Writes one line to stderr. */
  err(line: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** stdin as lines (for `send QUEUE -`). */
  stdinLines(): AsyncIterable<string>;
  /** Fires on SIGINT/SIGTERM: ends `receive --watch` and `server`. */
  signal: AbortSignal;
}

export type CliClient = CmqQueueApi & CmqTopicApi & { close?(): void };

export interface CliDeps {
  makeClient(opts: CmqClientOptions): CliClient;
  startServer(opts: ServerOptions): Promise<RunningServer>;
}

/** A mistake in the command line: exit code 2 with the command's usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
/** A one-shot command cut short by SIGINT/SIGTERM. */
export const EXIT_INTERRUPTED = 130;
