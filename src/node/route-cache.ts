// Which sets serve a queue or topic, as the controller last said: the access layer asks the
// controller once per name and then serves from here, so the data path keeps working while the
// controller elects a new leader. A route is the whole shard list (shard i on set shards[i]; a
// topic and an unsharded queue have one) with the version the controller gave it. Bounded: the
// least recently used route is forgotten first (asked again on its next use). Pure: no I/O, no
// clock.

import { entityKey, type EntityRecord, type EntityType, type MovePhase } from '../controller/model';

/** Routes kept at most; a forgotten one costs one controller read on its next use. */
export const ROUTE_CACHE_MAX = 100_000;

export interface CachedRoute {
  /** shards[i]: the set serving shard i (at least one). */
  readonly shards: readonly number[];
  /** The route's version at the controller (EntityRecord.version). */
  version: number;
  /** The controller's routeEpoch when the route was read (node/route-freshness.ts). */
  epoch: number;
  /** The shard this node's next send goes to (per-node round robin; see node/shards.ts). */
  next: number;
  /** The shard this node's next receive asks first (turns apart from sends', so neither follows the other). */
  nextReceive: number;
  /**
   * A move of the (one-shard) queue to another set is under way: `shards` is [from, to], sends go
   * to `to` only, receives gather from both (node/queue-move.ts has the whole story).
   */
  move?: RouteMove;
}

export interface RouteMove {
  from: number;
  to: number;
  phase: MovePhase;
}

/**
 * The shards the data path serves an entity on, as the controller's record says: its route, and
 * for a one-shard queue being moved the source and the target (sends to the target).
 */
export function servedShards(e: Pick<EntityRecord, 'type' | 'shards' | 'change'>): { shards: number[]; move: RouteMove | undefined } {
  const c = e.change;
  if (c?.type === 'move' && e.type === 'queue' && e.shards.length === 1) return { shards: [c.from, c.to], move: { from: c.from, to: c.to, phase: c.phase } };
  return { shards: [...e.shards], move: undefined };
}

export class RouteCache {
  /** Map order is use order: the first key is the least recently used. */
  private readonly routes = new Map<string, CachedRoute>();

  constructor(private readonly max: number = ROUTE_CACHE_MAX) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`route cache size ${max} is not a positive integer`);
  }

  /** The route of the entity, if known; marks it used. */
  get(type: EntityType, name: string): CachedRoute | undefined {
    const key = entityKey(type, name);
    const route = this.routes.get(key);
    if (route === undefined) return undefined;
    this.routes.delete(key);
    this.routes.set(key, route);
    return route;
  }

  /** The route, if known, without marking it used (a list looking at many names). */
  peek(type: EntityType, name: string): CachedRoute | undefined {
    return this.routes.get(entityKey(type, name));
  }

  /**
   * Keeps the route. The same shards again (a refresh that found no change) update the route kept,
   * in place: calls holding it go on turning the same round robin.
   */
  set(type: EntityType, name: string, shards: readonly number[], version: number, epoch: number = version, move?: RouteMove): CachedRoute {
    if (shards.length === 0) throw new RangeError(`route of ${type} ${name} without shards`);
    const key = entityKey(type, name);
    const old = this.routes.get(key);
    const same = old !== undefined && old.shards.length === shards.length && old.shards.every((s, i) => s === shards[i]);
    let route: CachedRoute;
    if (same) {
      route = old;
      route.version = version;
      route.epoch = Math.max(route.epoch, epoch);
    } else {
      route = { shards: [...shards], version, epoch, next: 0, nextReceive: 0 };
    }
    if (move === undefined) delete route.move;
    else route.move = { ...move };
    this.routes.delete(key);
    this.routes.set(key, route);
    while (this.routes.size > this.max) {
      const oldest = this.routes.keys().next().value as string;
      this.routes.delete(oldest);
    }
    return route;
  }

  /** Keeps the route of the controller's record (a move under way included). */
  setEntity(e: EntityRecord, epoch: number): CachedRoute {
    const { shards, move } = servedShards(e);
    return this.set(e.type, e.name, shards, e.version, epoch, move);
  }

  drop(type: EntityType, name: string): void {
    this.routes.delete(entityKey(type, name));
  }

  get size(): number {
    return this.routes.size;
  }
}
