// Where a new queue, topic or shard goes: the least loaded active sets. Deterministic (the same
// sets, reports and counts always give the same answer on every replica).
//
// The rule. For each active set s, from its last load report (no report yet: all zero, an idle
// set) and from the controller's own count of what it placed there:
//
//   requestShare(s) = requestsPerSecond(s) / sum over active sets of requestsPerSecond
//   bytesShare(s)   = bytes(s)             / sum over active sets of bytes
//   entityShare(s)  = entities(s)          / sum over active sets of entities
//   score(s)        = (requestShare + bytesShare + entityShare) / 3
//
// where a share is 0 when its sum is 0, and entities(s) counts the shards the controller has
// placed on s plus those moving or being added to it. That count changes with every placement,
// so placements made between two load reports still spread over the sets instead of all landing
// on the set that was least loaded at the last report. Queued message counts and queue counts are
// reported too but not scored: bytes measure the backlog, and the controller's own entity count
// is fresher than a reported queue count.
//
// The K best sets are the K lowest scores, ties broken by the lowest set id; shard i goes to the
// i-th best. Draining sets and sets passed in `exclude` (those already holding a shard of the
// queue) are never chosen.

import type { SetRecord } from './model';

export interface PlacementInput {
  sets: Iterable<SetRecord>;
  /** The controller's count per set id (see the header). */
  entities: (setId: number) => number;
}

/** The sets to use, best first; fewer than `count` when not enough active sets qualify. */
export function chooseSets(input: PlacementInput, count: number, exclude: ReadonlySet<number> = new Set()): number[] {
  const active = [...input.sets].filter((s) => s.state === 'active');
  let reqSum = 0;
  let bytesSum = 0;
  let entitySum = 0;
  for (const s of active) {
    reqSum += s.load?.requestsPerSecond ?? 0;
    bytesSum += s.load?.bytes ?? 0;
    entitySum += input.entities(s.id);
  }
  const share = (v: number, sum: number): number => (sum > 0 ? v / sum : 0);
  const scored = active
    .filter((s) => !exclude.has(s.id))
    .map((s) => ({
      id: s.id,
      score: (share(s.load?.requestsPerSecond ?? 0, reqSum) + share(s.load?.bytes ?? 0, bytesSum) + share(input.entities(s.id), entitySum)) / 3,
    }));
  scored.sort((a, b) => a.score - b.score || a.id - b.id);
  return scored.slice(0, count).map((s) => s.id);
}
