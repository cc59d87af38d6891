// Deduplication of sends: a send whose body carries a deduplication id already seen on the same
// queue within the window is not enqueued again; it answers the msgId of the first. Decided in
// the state machine, so it holds across failover: a client that retries a send after an
// "outcome unknown" answer (the leader died before answering) gets the first msgId back instead
// of a second copy.
//
// Bounded: ids are kept for LIMITS.dedupWindowMs from their first send, and at most
// LIMITS.dedupIdsMax in all (across queues); past that the oldest are forgotten early, which the
// `evicted` counter shows. Entries are kept in the order they were added, which is also the order
// they expire (time never goes backwards and the window is one constant), so expiry is a walk from
// the front.

import { LIMITS } from '../protocol/limits';

/**
 * Where the first send of a deduplication id put its message (a queue send: the body's entry and
 * batch position) or messages (a publish, deduplicated as a whole: its entry, and its body count in
 * batchPos).
 */
export interface DedupHit {
  entryIndex: number;
  batchPos: number;
}

/**
 * Ids are remembered per scope: a queue ('q' and its number) or a topic ('t' and its number).
 * One remembered id, as a snapshot keeps it: [key (the scope, NUL, the id), entryIndex, batchPos,
 * expiresMs].
 */
export type DedupRow = [string, number, number, number];

/** What is remembered of an id; never changed once made (a snapshot may still hold it). */
export interface Remembered extends DedupHit {
  readonly expiresMs: number;
}

export class DedupTable {
  /** Insertion-ordered: the front expires first. Key: scope, NUL, id. */
  private readonly byKey = new Map<string, Remembered>();
  /** Ids forgotten before their window ended because the table was full. */
  evicted = 0;

  constructor(private readonly capacity: number = LIMITS.dedupIdsMax) {}

  get size(): number {
    return this.byKey.size;
  }

  /** The first send of `id` on this queue, if it is still remembered. */
  find(scope: string, id: string, nowMs: number): DedupHit | undefined {
    const r = this.byKey.get(key(scope, id));
    return r !== undefined && r.expiresMs > nowMs ? r : undefined;
  }

  remember(scope: string, id: string, hit: DedupHit, nowMs: number): void {
    const k = key(scope, id);
    this.byKey.delete(k);
    this.byKey.set(k, { ...hit, expiresMs: nowMs + LIMITS.dedupWindowMs });
    while (this.byKey.size > this.capacity) {
      this.byKey.delete(this.byKey.keys().next().value!);
      this.evicted++;
    }
  }

  /** Forgets ids whose window ended by nowMs. */
  expire(nowMs: number): void {
    for (const [k, r] of this.byKey) {
      if (r.expiresMs > nowMs) return;
      this.byKey.delete(k);
    }
  }

  /**
   * Every remembered id in expiry order, as [key, record] (the key as dedupKey makes it). The
   * records never change, so a snapshot may keep them while the table goes on.
   */
  entries(): IterableIterator<[string, Remembered]> {
    return this.byKey.entries();
  }

  /** Rows from a snapshot, in their order (expiry order). */
  restore(rows: Iterable<DedupRow>): void {
    for (const [k, entryIndex, batchPos, expiresMs] of rows) this.byKey.set(k, { entryIndex, batchPos, expiresMs });
  }
}

/** The key of `id` in `scope`: what the table and its snapshot rows hold. */
export function dedupKey(scope: string, id: string): string {
  return key(scope, id);
}

function key(scope: string, id: string): string {
  return `${scope}\u0000${id}`;
}

/** The scope of a queue's ids, and of a topic's. */
export function queueScope(queueNumber: number): string {
  return `q${queueNumber}`;
}

export function topicScope(topicNumber: number): string {
  return `t${topicNumber}`;
}
