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
   * A move of one shard of the queue (a one-shard queue: the queue) to another set is under way:
   * `shards` is the route's shards with the target appended (a one-shard queue: [from, to]); the
   * source takes no new messages, the target takes them in its stead, receives gather from all,
   * handles go to the set that issued them (node/queue-move.ts has the whole story).
   */
  move?: RouteMove;
}

export interface RouteMove {
  /** The shard moving: the index of `from` in the route (0 for a one-shard queue). */
  shard: number;
  from: number;
  to: number;
  phase: MovePhase;
}

/**
 * The shards the data path serves an entity on, as the controller's record says: its route, and
 * for a queue with a shard being moved the route plus the target (last, so every other shard keeps
 * its index).
 */
export function servedShards(e: Pick<EntityRecord, 'type' | 'shards' | 'change'>): { shards: number[]; move: RouteMove | undefined } {
  const c = e.change;
  if (c?.type === 'move' && e.type === 'queue') return { shards: [...e.shards, c.to], move: { shard: c.shard, from: c.from, to: c.to, phase: c.phase } };
  return { shards: [...e.shards], move: undefined };
}

/** How many shards the queue has (a move's target is not one more: it replaces its source). */
export function shardCount(route: Pick<CachedRoute, 'shards' | 'move'>): number {
  return route.move === undefined ? route.shards.length : route.shards.length - 1;
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
