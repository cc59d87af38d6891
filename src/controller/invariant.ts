// Invariants of the controller's state, on in production like the broker's (broker/invariant.ts):
// a broken one means this replica's cluster map can no longer be trusted, so the check throws and
// the node rebuilds the controller from its snapshot and log rather than route by a corrupt map.
// `invariant` guards single steps inside apply; `checkState` walks the whole state (after a
// restore, and after every command in the tests).

import { CONTROLLER_LIMITS, ENTITY_NAME_RE, entityKey, setsOf, type EntityRecord, type SetRecord } from './model';

export class ControllerInvariantError extends Error {
  constructor(what: string) {
    super(`controller invariant violated: ${what}`);
    this.name = 'ControllerInvariantError';
  }
}

export function invariant(cond: boolean, what: string | (() => string)): asserts cond {
  if (!cond) throw new ControllerInvariantError(typeof what === 'string' ? what : what());
}

export interface ControllerStateView {
  routeEpoch: number;
  sets: ReadonlyMap<number, SetRecord>;
  entities: ReadonlyMap<string, EntityRecord>;
  /** The controller's count of shards on (or coming to) each set. */
  hosted: ReadonlyMap<number, number>;
}

/**
 * Every set of every route exists; an entity's shards and change targets are distinct sets; a
 * topic has one shard; routeEpoch >= every version; a move's `from` is the current owner of its
 * shard; a growth's pending shards are the next indexes in order; the per-set counts agree with
 * the routes; set groups are distinct.
 */
export function checkState(s: ControllerStateView): void {
  invariant(Number.isSafeInteger(s.routeEpoch) && s.routeEpoch >= 0, `routeEpoch ${s.routeEpoch}`);
  const groups = new Set<number>();
  for (const [id, set] of s.sets) {
    invariant(id === set.id && id >= 1 && id <= CONTROLLER_LIMITS.idMax, `set key ${id} vs id ${set.id}`);
    invariant(!groups.has(set.group), `group ${set.group} used by two sets`);
    groups.add(set.group);
    invariant(set.members.length >= 1 && set.members.length <= CONTROLLER_LIMITS.membersMax, `set ${id} has ${set.members.length} members`);
  }
  const counted = new Map<number, number>();
  for (const [key, e] of s.entities) {
    invariant(key === entityKey(e.type, e.name) && ENTITY_NAME_RE.test(e.name), `entity key ${key} vs ${e.type} ${e.name}`);
    invariant(e.version >= 1 && e.version <= s.routeEpoch, `${key}: version ${e.version} > routeEpoch ${s.routeEpoch}`);
    invariant(e.shards.length >= 1 && e.shards.length <= CONTROLLER_LIMITS.shardsMax, `${key}: ${e.shards.length} shards`);
    invariant(e.type === 'queue' || (e.shards.length === 1 && e.change?.type !== 'grow'), `${key}: a sharded topic`);
    const c = e.change;
    if (c?.type === 'move') {
      invariant(c.shard >= 0 && c.shard < e.shards.length, `${key}: move of shard ${c.shard}`);
      invariant(e.shards[c.shard] === c.from, `${key}: move from ${c.from} but shard ${c.shard} is on ${e.shards[c.shard]}`);
    } else if (c?.type === 'grow') {
      invariant(c.pending.length >= 1 && e.shards.length + c.pending.length <= CONTROLLER_LIMITS.shardsMax, `${key}: growth by ${c.pending.length}`);
      c.pending.forEach((p, i) => invariant(p.shard === e.shards.length + i, `${key}: pending shard ${p.shard} at ${i}`));
    }
    const all = setsOf(e);
    invariant(new Set(all).size === all.length, `${key}: two shards on one set (${all.join(',')})`);
    for (const id of all) {
      invariant(s.sets.has(id), `${key}: set ${id} does not exist`);
      counted.set(id, (counted.get(id) ?? 0) + 1);
    }
  }
  for (const id of s.sets.keys()) invariant((s.hosted.get(id) ?? 0) === (counted.get(id) ?? 0), `set ${id}: counted ${s.hosted.get(id)} vs ${counted.get(id)}`);
  for (const id of s.hosted.keys()) invariant(s.sets.has(id), `count for unknown set ${id}`);
}
