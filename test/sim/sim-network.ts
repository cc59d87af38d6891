// The simulated peer network: every simulated process gets an endpoint with the shape one Raft
// group sees of the real transport (one-way frames, requests with responses, its peer list), and
// the network decides each frame's fate from the seed: lost, delayed (which reorders), duplicated,
// or cut by a partition (symmetric or one-way). Frames are copied at send, as the real transport
// writes them to a socket. A frame in flight to a process that crashed is lost with its
// connection; a response to a requester that crashed is dropped.

import { CURRENT_WIRE_VERSION, type PeerNetwork } from '../../src/transport';
import { PeerRemoteError, PeerTimeoutError, PeerUnavailableError, RequestNotSentError } from '../../src/transport/errors';
import type { Prng } from './prng';
import type { SimProcessRuntime, SimScheduler } from './sim-runtime';

export interface NetworkWeather {
  /** Probability that a frame is lost. */
  loss: number;
  /** Probability that a frame arrives twice. */
  duplicate: number;
  delayMinMs: number;
  delayMaxMs: number;
}

export const CALM: NetworkWeather = { loss: 0, duplicate: 0, delayMinMs: 1, delayMaxMs: 3 };

export interface SimNetworkStats {
  frames: number;
  lost: number;
  duplicated: number;
  cut: number;
  requests: number;
  requestsFailed: number;
}

type MessageHandler = (from: string, payload: Buffer) => void;
/** `fromPeer`: whether the caller is among the receiving view's peers (an open group serves others too, as the real transport's does). */
type RequestHandler = (from: string, payload: Buffer, fromPeer: boolean) => Promise<Uint8Array>;

/** One Raft group's handlers on one process. */
interface GroupHandlers {
  onMessage: MessageHandler | undefined;
  onRequest: RequestHandler | undefined;
  /** The view's configured peers. */
  peers: Set<string>;
}

interface Endpoint {
  runtime: SimProcessRuntime;
  groups: Map<number, GroupHandlers>;
  /** When something from each peer last arrived (the process's monotonic ms), as a connection's last read. */
  lastHeardMs: Map<string, number>;
  /** Requests sent to this instance and not answered yet: each fails as a reset if the instance is replaced. */
  openRequests: Set<() => void>;
}

export class SimNetwork {
  private readonly endpoints = new Map<string, Endpoint>();
  /** Directed links that deliver nothing: "from>to". */
  private readonly cut = new Set<string>();
  weather: NetworkWeather = CALM;
  /**
   * A view's setPeers dials the peers it did not have (as the real transport does): once the
   * connection is up, the dialer has heard from the peer (peerSilenceMs is defined). Off for the
   * single-set workload, whose peers are all configured from the start.
   */
  dialOnSetPeers = false;
  readonly stats: SimNetworkStats = { frames: 0, lost: 0, duplicated: 0, cut: 0, requests: 0, requestsFailed: 0 };

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly prng: Prng,
  ) {}

  /**
   * The network as process `id` sees it (a new endpoint replaces the old one at a restart: frames
   * on their way to the old instance die with it).
   */
  attach(id: string, runtime: SimProcessRuntime): SimHostNetwork {
    // Connections do not outlive a process: a request waiting on the old instance fails as a reset
    // (a real requester's next write on that connection, an echo say, meets the restarted
    // machine's RST), never answered by the new instance in its place.
    const old = this.endpoints.get(id);
    if (old !== undefined) for (const reset of old.openRequests) reset();
    const ep: Endpoint = { runtime, groups: new Map(), lastHeardMs: new Map(), openRequests: new Set() };
    this.endpoints.set(id, ep);
    return new SimHostNetwork(this, id, ep);
  }

  /** Cut `a` from `b` in both directions (or only a -> b when oneWay). */
  partition(a: string, b: string, oneWay = false): void {
    this.cut.add(`${a}>${b}`);
    if (!oneWay) this.cut.add(`${b}>${a}`);
  }

  isolate(id: string, all: readonly string[]): void {
    for (const other of all) if (other !== id) this.partition(id, other);
  }

  heal(): void {
    this.cut.clear();
    // A connection that lost bytes to the partition cannot carry on (the real transport's
    // connections are reset on a heal, or time out): the requests it lost fail now.
    const lost = this.lostToCuts.splice(0);
    for (const reset of lost) reset();
  }

  /** Requests whose request or answer a partition swallowed: failed as a reset when it heals. */
  private readonly lostToCuts: (() => void)[] = [];

  /** `reset` runs when the network next heals. */
  afterHeal(reset: () => void): void {
    this.lostToCuts.push(reset);
  }

  /**
   * Schedules `deliver` on `to`'s current instance after a weather-dependent delay; false when cut
   * or lost. Requests and answers are never duplicated (the real transport runs them over one
   * connection, which cannot); Raft frames may be, and any frame may be reordered.
   */
  /**
   * Sends one frame: 'sent' (it arrives after the weather's delay unless a cut comes first),
   * 'cut' (a partition: it vanishes, as bytes into a black hole) or 'lost' (the weather).
   */
  transmit(from: string, to: string, deliver: (ep: Endpoint) => void, duplicable = true, onCut?: () => void): 'sent' | 'cut' | 'lost' {
    this.stats.frames++;
    if (this.cut.has(`${from}>${to}`)) {
      this.stats.cut++;
      onCut?.();
      return 'cut';
    }
    const w = this.weather;
    if (this.prng.chance(w.loss)) {
      this.stats.lost++;
      return 'lost';
    }
    const copies = duplicable && this.prng.chance(w.duplicate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const target = this.endpoints.get(to);
    if (!target) return 'lost';
    for (let i = 0; i < copies; i++) {
      const delay = this.prng.int(w.delayMinMs, w.delayMaxMs);
      this.scheduler.schedule(delay, () => {
        // A partition that began while the frame was in flight cuts it too (a dropped connection).
        if (this.endpoints.get(to) !== target) return;
        if (this.cut.has(`${from}>${to}`)) {
          onCut?.();
          return;
        }
        target.lastHeardMs.set(from, target.runtime.monotonicMs());
        deliver(target);
      }, target.runtime);
    }
    return 'sent';
  }

  /** A connection from `from` to `to` comes up (when both ends are reachable): `from` has heard from `to`. Draws nothing from the seed. */
  dial(from: string, to: string): void {
    const ep = this.endpoints.get(from);
    if (!ep || !this.reachable(from, to) || !this.reachable(to, from)) return;
    this.scheduler.schedule(this.weather.delayMaxMs, () => {
      if (this.endpoints.get(from) === ep && this.reachable(to, from)) ep.lastHeardMs.set(to, ep.runtime.monotonicMs());
    }, ep.runtime);
  }

  /** The current instance of process `id`, if it ever started. */
  endpointOf(id: string): Endpoint | undefined {
    return this.endpoints.get(id);
  }

  /** Whether `to` can currently be reached from `from` at all (no partition, a live instance). */
  reachable(from: string, to: string): boolean {
    const ep = this.endpoints.get(to);
    return !this.cut.has(`${from}>${to}`) && ep !== undefined && ep.runtime.alive;
  }


}

/** One process's network, as the peer transport is: a view per Raft group (frames carry the group). */
export class SimHostNetwork {
  private readonly views = new Map<number, SimPeerNetwork>();

  constructor(
    private readonly net: SimNetwork,
    readonly id: string,
    private readonly ep: Endpoint,
  ) {}

  group(group: number): SimPeerNetwork {
    let view = this.views.get(group);
    if (!view) {
      const handlers: GroupHandlers = { onMessage: undefined, onRequest: undefined, peers: new Set() };
      this.ep.groups.set(group, handlers);
      view = new SimPeerNetwork(this.net, this.id, this.ep, group, handlers);
      this.views.set(group, view);
    }
    return view;
  }
}

/** One process's view for one Raft group: what the driver and its RPC router call. */
export class SimPeerNetwork implements PeerNetwork {
  constructor(
    private readonly net: SimNetwork,
    readonly id: string,
    private readonly ep: Endpoint,
    private readonly group: number,
    private readonly handlers: GroupHandlers,
  ) {}

  private get peers(): Set<string> {
    return this.handlers.peers;
  }

  setPeers(peers: Readonly<Record<string, unknown>>): void {
    const before = this.handlers.peers;
    this.handlers.peers = new Set(Object.keys(peers));
    if (this.net.dialOnSetPeers) for (const p of this.handlers.peers) if (!before.has(p)) this.net.dial(this.id, p);
  }

  onMessage(handler: MessageHandler): void {
    this.handlers.onMessage = handler;
  }

  send(peer: string, payload: Uint8Array): boolean {
    if (!this.peers.has(peer) || !this.ep.runtime.alive) return false;
    const copy = Buffer.from(payload);
    this.net.transmit(this.id, peer, (target) => target.groups.get(this.group)?.onMessage?.(this.id, Buffer.from(copy)));
    return true;
  }

  onRequest(handler: RequestHandler): void {
    this.handlers.onRequest = handler;
  }

  /** Virtual ms since anything from `peer` (of any group) was last delivered here; undefined before the first. */
  peerSilenceMs(peer: string): number | undefined {
    if (!this.peers.has(peer)) return undefined;
    const at = this.ep.lastHeardMs.get(peer);
    return at === undefined ? undefined : this.ep.runtime.monotonicMs() - at;
  }

  /** Every simulated process runs the code under test: the current version, while attached. */
  peerWireVersion(peer: string): number | undefined {
    return this.peers.has(peer) ? CURRENT_WIRE_VERSION : undefined;
  }

  request(peer: string, payload: Uint8Array, options: { timeoutMs?: number } = {}): Promise<Buffer> {
    this.net.stats.requests++;
    const rt = this.ep.runtime;
    if (!this.peers.has(peer) || !this.net.reachable(this.id, peer)) {
      this.net.stats.requestsFailed++;
      return Promise.reject(new RequestNotSentError(`no connection to ${peer}`, peer));
    }
    const copy = Buffer.from(payload);
    const target = this.net.endpointOf(peer);
    return new Promise<Buffer>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | undefined, body?: Buffer): void => {
        if (done) return;
        done = true;
        target?.openRequests.delete(reset);
        rt.clearTimeout(timer);
        if (err) {
          this.net.stats.requestsFailed++;
          reject(err);
        } else resolve(body!);
      };
      const timer = rt.setTimeout(() => finish(new PeerTimeoutError(`no answer from ${peer} within ${options.timeoutMs ?? 10_000} ms`, peer)), options.timeoutMs ?? 10_000);
      // A request or answer cut by a partition vanishes: the caller hears nothing (its timeout,
      // or its own failure detection). One the weather loses stands for the connection it was on
      // breaking, as a frame never goes missing on a live TCP connection: the caller learns of it
      // (the outcome is unknown: the request may have run).
      const reset = (): void => {
        rt.setTimeout(() => finish(new PeerUnavailableError(`request to ${peer} failed after it was sent: connection reset`, peer)), this.net.weather.delayMaxMs);
      };
      target?.openRequests.add(reset);
      const cut = (): void => this.net.afterHeal(reset);
      const answerWith = (settle: () => void): void => {
        if (this.net.transmit(peer, this.id, settle, false, cut) === 'lost') reset();
      };
      const sent = this.net.transmit(this.id, peer, (target) => {
        const handlers = target.groups.get(this.group);
        const handler = handlers?.onRequest;
        const answer = handler ? handler(this.id, copy, handlers.peers.has(this.id)) : Promise.reject(new Error(`no request handler for group ${this.group}`));
        answer.then(
          (body) => {
            const bytes = Buffer.from(body);
            answerWith(() => finish(undefined, bytes));
          },
          (err: unknown) => {
            const why = err instanceof Error ? err.message : String(err);
            answerWith(() => finish(new PeerRemoteError(why, peer)));
          },
        );
      }, false, cut);
      if (sent === 'lost') reset();
    });
  }
}
