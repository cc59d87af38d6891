// What the real-process tests of a cluster of sets (`opencmq cluster start-local --sets N`) share:
// waiting for a condition, and reading `opencmq cluster status --json` from some members.

import type { ClusterNodeStatus } from '../../src/protocol/cluster-types';
import { startCli } from './cli-process';

/** One member's answer to `cluster status --json`. */
export type StatusReport = ClusterNodeStatus & { endpoint: string; reachable: boolean };

/** The credential a CLI command signs with (servers that check signatures). */
export interface CliCredential {
  secretId: string;
  secretKey: string;
}

/** The CLI's arguments that sign with `credential` (none: unsigned). */
export function signArgs(credential?: CliCredential): string[] {
  return credential === undefined ? [] : ['--secret-id', credential.secretId, '--secret-key', credential.secretKey];
}

/** `opencmq cluster status --json` asked of `endpoints`. */
export async function statusJson(endpoints: string[], credential?: CliCredential): Promise<StatusReport[]> {
  const r = await startCli(['cluster', 'status', '--endpoints', endpoints.join(','), '--timeout', '5', '--json', ...signArgs(credential)], { timeoutMs: 60_000 }).done;
  return JSON.parse(r.stdout) as StatusReport[];
}

/**
 * `probe` again every `pollMs` until it gives a value (a throw counts as "not yet" and its message
 * is kept for the timeout's error); fails after `timeoutMs`.
 */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, pollMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${last}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
