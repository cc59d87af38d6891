// What the real-process tests of a cluster of sets (`opencmq cluster start-local --sets N`) share:
// waiting for a condition, and reading `opencmq cluster status --json` from some members.

import type { ClusterNodeStatus } from '../../src/protocol/cluster-types';
import { startCli } from './cli-process';

/** One member's answer to `cluster status --json`. */
export type StatusReport = ClusterNodeStatus & { endpoint: string; reachable: boolean };

/** `opencmq cluster status --json` asked of `endpoints`. */
export async function statusJson(endpoints: string[]): Promise<StatusReport[]> {
  const r = await startCli(['cluster', 'status', '--endpoints', endpoints.join(','), '--timeout', '5', '--json'], { timeoutMs: 60_000 }).done;
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
