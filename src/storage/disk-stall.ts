// Disk full and I/O errors on the write path. A write, allocation or fsync that fails with ENOSPC,
// EDQUOT or EIO does not stop the node: the step is retried (after re-writing from memory whatever
// the failed attempt had written, see docs/storage.md) until it succeeds, and meanwhile the node
// refuses new writes up front. This file names those errors, tags them with the step and file, and
// tracks whether any step is currently stalled, logging loudly at the transition, periodically
// while it lasts, and when it ends.

import { loggerFor, type Logger, type LogSink } from '../protocol/log';
import { nodeRuntime } from '../runtime/node-runtime';
import type { Clock, Timers } from '../runtime/timers';

/** Errors waited out (retried) rather than fatal. Anything else on the write path stops the node. */
const STALL_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EIO']);

export const DISK_STALL_DEFAULTS = {
  /** Pause between attempts of a stalled step. */
  retryMs: 500,
  /** While stalled, how often the condition is logged again. */
  reportEveryMs: 10_000,
} as const;

/** A storage call that failed, with the step ("write", "fdatasync", "allocate", ...) and the file. */
export class StorageStepError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly step: string,
    readonly file: string,
    cause: unknown,
  ) {
    const code = errorCode(cause);
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(`${code ?? 'error'} at ${step} of ${file}: ${msg}`, { cause });
    this.name = 'StorageStepError';
    this.code = code;
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The error code if `err` is one the node waits out, else undefined. */
export function stallCode(err: unknown): string | undefined {
  const code = errorCode(err);
  return code !== undefined && STALL_CODES.has(code) ? code : undefined;
}

function rootMessage(err: unknown): string {
  const root = err instanceof StorageStepError ? err.cause : err;
  return root instanceof Error ? root.message : String(root);
}

/** Runs `op`; a failure is rethrown as a StorageStepError naming `step` and `file`. */
export async function atStep<T>(step: string, file: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof StorageStepError) throw err;
    throw new StorageStepError(step, file, err);
  }
}

export interface StallInfo {
  code: string;
  step: string;
  file: string;
  /** When this stall began (ms since the epoch). */
  since: number;
}

export interface DiskStallOptions {
  /** Names the node in messages ("disk full on n1 ..."). */
  nodeId?: string;
  retryMs?: number;
  reportEveryMs?: number;
  /** Default: the real clock and timers. */
  runtime?: Clock & Timers;
}

/** The node's one record of stalled storage steps. Shared by the WAL and the hard-state store. */
export class DiskStall {
  private readonly active = new Set<StallInfo>();
  private readonly retryMs: number;
  private readonly reportEveryMs: number;
  private readonly rt: Clock & Timers;

  private readonly log: Logger;

  constructor(
    log: LogSink,
    private readonly opts: DiskStallOptions = {},
  ) {
    this.log = loggerFor(log, 'storage', (line) => process.stderr.write(`${line}\n`));
    this.retryMs = opts.retryMs ?? DISK_STALL_DEFAULTS.retryMs;
    this.reportEveryMs = opts.reportEveryMs ?? DISK_STALL_DEFAULTS.reportEveryMs;
    this.rt = opts.runtime ?? nodeRuntime;
  }

  /** The oldest step stalled right now, if any. */
  current(): StallInfo | undefined {
    for (const s of this.active) return s;
    return undefined;
  }

  /** "disk full on n1 (ENOSPC at write of /data/wal/...)" for client-facing details and logs. */
  describe(s: StallInfo): string {
    const what = s.code === 'EIO' ? 'disk I/O error' : 'disk full';
    const on = this.opts.nodeId !== undefined ? ` on ${this.opts.nodeId}` : '';
    return `${what}${on} (${s.code} at ${s.step} of ${s.file})`;
  }

  /**
   * Runs `attempt` until it succeeds. A failure with a stall code is retried every retryMs (the
   * attempt itself must redo everything the failed one may have left undone or unsynced); any
   * other failure, or one after `stop()` turns true, is thrown.
   */
  async run<T>(attempt: () => Promise<T>, stop: () => boolean): Promise<T> {
    let stall: StallInfo | undefined;
    let reported = 0;
    try {
      for (;;) {
        try {
          const result = await attempt();
          if (stall) {
            const stalledMs = this.rt.nowMs() - stall.since;
            this.log.info(`RECOVERED: ${this.describe(stall)} cleared after ${stalledMs} ms; writes resume`, { stalledMs });
          }
          return result;
        } catch (err) {
          const code = stallCode(err);
          if (code === undefined || stop()) throw err;
          const step = err instanceof StorageStepError ? err.step : 'write';
          const file = err instanceof StorageStepError ? err.file : '(unknown file)';
          const now = this.rt.nowMs();
          if (!stall) {
            stall = { code, step, file, since: now };
            this.active.add(stall);
            reported = now;
            this.log.error(
              `STALLED: ${this.describe(stall)}: ${rootMessage(err)}. ` +
                `Nothing more is acknowledged; new writes are refused; retrying every ${this.retryMs} ms.`,
              { code, step, file },
            );
          } else {
            stall.code = code;
            stall.step = step;
            stall.file = file;
            if (now - reported >= this.reportEveryMs) {
              reported = now;
              this.log.error(`STILL STALLED for ${Math.round((now - stall.since) / 1000)} s: ${this.describe(stall)}`, { code, step, file });
            }
          }
          await this.rt.sleep(this.retryMs);
          if (stop()) throw err;
        }
      }
    } finally {
      if (stall) this.active.delete(stall);
    }
  }
}
