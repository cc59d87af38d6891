// When a cached route must be asked again. A route changes while nodes have it cached: a queue
// grows shards (every node must then send to and receive from the new ones too), a shard moves.
// The controller's routeEpoch grows with every route change anywhere, so a node reads it (one
// listSets, at most once per interval, only while it serves routes from its cache) and asks again,
// in the background, each cached route it uses that was read before the newest epoch it has seen.
// Nothing changed: no route is read again. Pure but for the injected clock and reader.

/** How often, at most, a node reads the controller's routeEpoch while it serves cached routes. */
export const ROUTE_EPOCH_CHECK_MS = 2000;

export interface RouteFreshnessOptions {
  nowMs: () => number;
  /** The controller's current routeEpoch; undefined when it cannot answer now. */
  readEpoch: () => Promise<number | undefined>;
  intervalMs?: number;
}

export class RouteFreshness {
  private newest = 0;
  private checkedAtMs = Number.NEGATIVE_INFINITY;
  private checking = false;
  private readonly intervalMs: number;

  constructor(private readonly opts: RouteFreshnessOptions) {
    this.intervalMs = opts.intervalMs ?? ROUTE_EPOCH_CHECK_MS;
  }

  /** An epoch some controller answer carried. */
  saw(epoch: number): void {
    if (epoch > this.newest) this.newest = epoch;
  }

  /** The newest routeEpoch seen: a route read at this epoch or later is current as far as this node knows. */
  get epoch(): number {
    return this.newest;
  }

  /**
   * A cached route read at `routeEpoch` is being used: true when it should be read again (a newer
   * epoch was seen). Starts the periodic epoch read when it is due (not awaited).
   */
  stale(routeEpoch: number): boolean {
    const now = this.opts.nowMs();
    if (!this.checking && now - this.checkedAtMs >= this.intervalMs) {
      this.checking = true;
      this.checkedAtMs = now;
      void this.opts
        .readEpoch()
        .then((e) => {
          if (e !== undefined) this.saw(e);
        })
        .catch(() => undefined)
        .finally(() => {
          this.checking = false;
        });
    }
    return routeEpoch < this.newest;
  }
}
