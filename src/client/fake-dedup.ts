// The in-memory fake's deduplication of sends and publishes that carry a dedupId: as the server
// does it, a retry within the window answers the first msgIds and changes nothing.

import { LIMITS } from '../protocol/limits';

export class FakeDedup {
  private readonly seen = new Map<string, { msgIds: string[]; atMs: number }>();

  /** The first msgIds of `dedupId` in `scope` within the window, else undefined. */
  recall(scope: string, dedupId: string | undefined, nowMs: number): string[] | undefined {
    if (dedupId === undefined) return undefined;
    const s = this.seen.get(`${scope}\u0000${dedupId}`);
    return s !== undefined && nowMs - s.atMs < LIMITS.dedupWindowMs ? [...s.msgIds] : undefined;
  }

  remember(scope: string, dedupId: string | undefined, msgIds: string[], nowMs: number): void {
    if (dedupId !== undefined) this.seen.set(`${scope}\u0000${dedupId}`, { msgIds: [...msgIds], atMs: nowMs });
  }
}
