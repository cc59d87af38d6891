// Which set serves a queue or topic, as the controller last said: the access layer asks the
// controller once per name and then serves from here, so the data path keeps working while the
// controller elects a new leader. Bounded: the least recently used route is forgotten first
// (asked again on its next use). Pure: no I/O, no clock.

import { entityKey, type EntityType } from '../controller/model';

/** Routes kept at most; a forgotten one costs one controller read on its next use. */
export const ROUTE_CACHE_MAX = 100_000;

export class RouteCache {
  /** Map order is use order: the first key is the least recently used. */
  private readonly routes = new Map<string, number>();

  constructor(private readonly max: number = ROUTE_CACHE_MAX) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`route cache size ${max} is not a positive integer`);
  }

  /** The set serving the entity, if known; marks it used. */
  get(type: EntityType, name: string): number | undefined {
    const key = entityKey(type, name);
    const setId = this.routes.get(key);
    if (setId === undefined) return undefined;
    this.routes.delete(key);
    this.routes.set(key, setId);
    return setId;
  }

  set(type: EntityType, name: string, setId: number): void {
    const key = entityKey(type, name);
    this.routes.delete(key);
    this.routes.set(key, setId);
    while (this.routes.size > this.max) {
      const oldest = this.routes.keys().next().value as string;
      this.routes.delete(oldest);
    }
  }

  drop(type: EntityType, name: string): void {
    this.routes.delete(entityKey(type, name));
  }

  get size(): number {
    return this.routes.size;
  }
}
