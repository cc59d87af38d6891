// A controllable TCP proxy for real-process fault tests: one per peer link, so a test can
// partition, half-partition, delay or reset the traffic between two Raft nodes.
//
// Blocking discards bytes (it does not buffer them), exactly as a partition loses packets. Unlike a
// real partition, the TCP connections through the proxy do not retransmit what was lost, so a
// connection that lost bytes carries a stream with a gap. The peer transport under test must
// therefore experience a partition + heal as "connections were reset": use `partition()` (block and
// reset what is open) and `heal()` (unblock and reset every connection that lost bytes) as a pair.
// `block()` / `blockOneWay()` / `unblock()` are the raw controls, for tests that want to watch the
// transport cope with a gapped stream.

import net from 'node:net';

export type Direction = 'clientToServer' | 'serverToClient';

export interface TcpProxyOptions {
  /** Where connections are forwarded. */
  targetPort: number;
  /** Default 127.0.0.1. */
  targetHost?: string;
}

export interface TcpProxyStats {
  /** Connections accepted since start. */
  connectionsAccepted: number;
  /** Connections currently open. */
  connectionsOpen: number;
  /** Bytes delivered to the target (client → server). */
  bytesClientToServer: number;
  /** Bytes delivered to the client (server → client). */
  bytesServerToClient: number;
  /** Bytes discarded while the client → server direction was blocked. */
  droppedClientToServer: number;
  /** Bytes discarded while the server → client direction was blocked. */
  droppedServerToClient: number;
  /** Connections reset by the controls: reset(), partition(), heal(), unblock(), close(). */
  resets: number;
}

const LOOPBACK = '127.0.0.1';

/** One direction of one proxied connection: a FIFO of chunks, each due at its own time. */
class Pipe {
  private readonly queue: { dueMs: number; chunk: Buffer }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ending = false;
  private waitingForDrain = false;
  /** The source's FIN arrived while blocked; it is passed on when the block ends. */
  private finPending = false;
  /** Set when this direction lost bytes: the stream now has a gap. */
  lostBytes = false;

  constructor(
    private readonly proxy: TcpProxy,
    readonly direction: Direction,
    private readonly from: net.Socket,
    private readonly to: net.Socket,
  ) {}

  push(chunk: Buffer): void {
    if (this.proxy.isBlocked(this.direction)) return this.drop(chunk);
    const delayMs = this.proxy.delayMs;
    if (delayMs <= 0 && this.queue.length === 0) return this.deliver(chunk);
    // Never earlier than the chunk before it, so lowering the delay cannot reorder bytes.
    const last = this.queue[this.queue.length - 1];
    const dueMs = Math.max(Date.now() + delayMs, last?.dueMs ?? 0);
    this.queue.push({ dueMs, chunk });
    this.schedule();
  }

  /** The source ended (FIN): end the destination once everything queued has gone. */
  end(): void {
    if (this.proxy.isBlocked(this.direction)) {
      this.finPending = true;
      return;
    }
    this.finPending = false;
    this.ending = true;
    if (this.queue.length === 0) this.endDestination();
  }

  /** The block ended: a FIN held back by it goes through now. */
  unblocked(): void {
    if (this.finPending && !this.proxy.isBlocked(this.direction)) this.end();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    const head = this.queue[0];
    if (head === undefined) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, head.dueMs - Date.now()));
  }

  private flush(): void {
    this.timer = undefined;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.dueMs <= now) {
      const { chunk } = this.queue.shift()!;
      // Bytes still "in flight" when a block starts are lost too.
      if (this.proxy.isBlocked(this.direction)) this.drop(chunk);
      else this.deliver(chunk);
    }
    if (this.queue.length > 0) this.schedule();
    else if (this.ending) {
      // A FIN still in flight when a block starts is held back like one that arrives during it.
      this.ending = false;
      this.end();
    }
  }

  private endDestination(): void {
    if (!this.to.destroyed && !this.to.writableEnded) this.to.end();
  }

  private deliver(chunk: Buffer): void {
    if (this.to.destroyed || this.to.writableEnded) return;
    this.proxy.countDelivered(this.direction, chunk.length);
    if (!this.to.write(chunk) && !this.waitingForDrain) {
      this.waitingForDrain = true;
      this.from.pause();
      this.to.once('drain', () => {
        this.waitingForDrain = false;
        this.from.resume();
      });
    }
  }

  private drop(chunk: Buffer): void {
    this.lostBytes = true;
    this.proxy.countDropped(this.direction, chunk.length);
  }
}

interface Connection {
  client: net.Socket;
  upstream: net.Socket;
  c2s: Pipe;
  s2c: Pipe;
  /** One side failed while the way from it was blocked, so the other side was not told (yet). */
  halfDead: boolean;
}

export class TcpProxy {
  /** Port the proxy listens on (127.0.0.1). */
  readonly port: number;
  private targetHost: string;
  private targetPort: number;
  private readonly blocked: Record<Direction, boolean> = { clientToServer: false, serverToClient: false };
  private delay = 0;
  private readonly connections = new Set<Connection>();
  private readonly counters: TcpProxyStats = {
    connectionsAccepted: 0,
    connectionsOpen: 0,
    bytesClientToServer: 0,
    bytesServerToClient: 0,
    droppedClientToServer: 0,
    droppedServerToClient: 0,
    resets: 0,
  };

  private constructor(
    private readonly server: net.Server,
    opts: TcpProxyOptions,
  ) {
    this.targetHost = opts.targetHost ?? LOOPBACK;
    this.targetPort = opts.targetPort;
    this.port = (server.address() as net.AddressInfo).port;
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Listen on 127.0.0.1 on a free port and forward to the target. */
  static async start(opts: TcpProxyOptions): Promise<TcpProxy> {
    const server = net.createServer({ noDelay: true, allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, LOOPBACK, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new TcpProxy(server, opts);
  }

  /** `127.0.0.1:port`. */
  get address(): string {
    return `${LOOPBACK}:${this.port}`;
  }

  /** Drop all traffic both ways; sockets stay open, new connections are accepted but carry nothing. */
  block(): void {
    this.blocked.clientToServer = true;
    this.blocked.serverToClient = true;
  }

  /** Drop the traffic of one direction only (the other keeps flowing). */
  blockOneWay(direction: Direction): void {
    this.blocked[direction] = true;
  }

  /**
   * Let traffic flow both ways again. Connections that lost bytes keep their gapped streams; a FIN
   * held back by the block goes through now, and a connection whose other side failed during the
   * block is reset now.
   */
  unblock(): void {
    this.blocked.clientToServer = false;
    this.blocked.serverToClient = false;
    for (const c of [...this.connections]) {
      if (c.halfDead) this.destroy(c, 'reset');
      else {
        c.c2s.unblocked();
        c.s2c.unblocked();
      }
    }
  }

  /** Destroy (RST) every current connection, both sides. New connections are still accepted. */
  reset(): void {
    for (const c of [...this.connections]) this.destroy(c, 'reset');
  }

  /** The recommended partition: block both ways and reset the connections open now. */
  partition(): void {
    this.block();
    this.reset();
  }

  /** The recommended heal: unblock, and reset every connection whose stream lost bytes. */
  heal(): void {
    for (const c of [...this.connections]) {
      if (c.c2s.lostBytes || c.s2c.lostBytes) this.destroy(c, 'reset');
    }
    this.unblock();
  }

  /** Delay every chunk by `ms` from now on (order is kept; 0 turns delay off). */
  setDelay(ms: number): void {
    if (!(ms >= 0)) throw new Error(`delay must be >= 0, got ${ms}`);
    this.delay = ms;
  }

  /** Added to every chunk, both directions (see setDelay). */
  get delayMs(): number {
    return this.delay;
  }

  /** Forward new connections elsewhere (e.g. the node restarted on another port). */
  retarget(targetPort: number, targetHost = LOOPBACK): void {
    this.targetPort = targetPort;
    this.targetHost = targetHost;
  }

  // isBlocked / countDelivered / countDropped are for the pipes of this file.

  isBlocked(direction: Direction): boolean {
    return this.blocked[direction];
  }

  stats(): TcpProxyStats {
    return { ...this.counters, connectionsOpen: this.connections.size };
  }

  /** Stop listening and reset every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of [...this.connections]) this.destroy(c, 'reset');
    await closed;
  }

  countDelivered(direction: Direction, n: number): void {
    if (direction === 'clientToServer') this.counters.bytesClientToServer += n;
    else this.counters.bytesServerToClient += n;
  }

  countDropped(direction: Direction, n: number): void {
    if (direction === 'clientToServer') this.counters.droppedClientToServer += n;
    else this.counters.droppedServerToClient += n;
  }

  private accept(client: net.Socket): void {
    this.counters.connectionsAccepted++;
    client.setNoDelay(true);
    // allowHalfOpen (here and on the server) so a FIN is forwarded after queued bytes, not mirrored.
    const upstream = net.connect({ host: this.targetHost, port: this.targetPort, allowHalfOpen: true, noDelay: true });
    const c2s = new Pipe(this, 'clientToServer', client, upstream);
    const s2c = new Pipe(this, 'serverToClient', upstream, client);
    const conn: Connection = { client, upstream, c2s, s2c, halfDead: false };
    this.connections.add(conn);
    client.on('data', (chunk: Buffer) => c2s.push(chunk));
    upstream.on('data', (chunk: Buffer) => s2c.push(chunk));
    client.on('end', () => c2s.end());
    upstream.on('end', () => s2c.end());
    // A refused upstream (target down) resets the client, as connecting to a dead node would,
    // unless the link is blocked: then the client is not told, as in a partition.
    client.on('error', () => this.sideFailed(conn, c2s));
    upstream.on('error', () => this.sideFailed(conn, s2c));
    // A clean close follows FINs both ways, which the pipes forward after their queued bytes.
    const closed = (): void => {
      if (conn.client.destroyed && conn.upstream.destroyed) this.destroy(conn, 'close');
    };
    client.on('close', closed);
    upstream.on('close', closed);
  }

  /** The socket feeding `from` failed: reset the other side, unless its direction is blocked. */
  private sideFailed(conn: Connection, from: Pipe): void {
    if (!this.connections.has(conn)) return;
    if (this.isBlocked(from.direction)) {
      conn.halfDead = true;
      from.lostBytes = true;
      return;
    }
    this.destroy(conn, 'abort');
  }

  /** 'reset': a control reset it (counted, RST); 'abort': one side failed (RST); 'close': it ended. */
  private destroy(conn: Connection, how: 'reset' | 'abort' | 'close'): void {
    if (!this.connections.delete(conn)) return;
    if (how === 'reset') this.counters.resets++;
    conn.c2s.stop();
    conn.s2c.stop();
    for (const s of [conn.client, conn.upstream]) {
      if (s.destroyed) continue;
      // resetAndDestroy needs a connected handle with no shutdown under way (libuv spins on a
      // reset after shutdown); others are just destroyed.
      if (how !== 'close' && !s.connecting && !s.writableEnded) s.resetAndDestroy();
      else s.destroy();
    }
  }
}

/** How a node reaches one peer. */
export interface PeerAddress {
  host: string;
  port: number;
}

/**
 * One proxy per ordered pair of nodes: node `from` dials node `to` through proxy(from, to). Since
 * either end of a pair may have dialed the connection that carries their traffic, cutting the
 * traffic between a and b always acts on both proxy(a, b) and proxy(b, a).
 */
export class ProxyMesh {
  private constructor(
    private readonly nodeIds: string[],
    private readonly proxies: Map<string, TcpProxy>,
  ) {}

  /** `nodes`: node id → the port that node really listens on for peers. */
  static async start(nodes: Record<string, number>): Promise<ProxyMesh> {
    const ids = Object.keys(nodes);
    const proxies = new Map<string, TcpProxy>();
    try {
      for (const from of ids) {
        for (const to of ids) {
          if (from === to) continue;
          proxies.set(linkKey(from, to), await TcpProxy.start({ targetPort: nodes[to]! }));
        }
      }
    } catch (err) {
      await Promise.all([...proxies.values()].map((p) => p.close()));
      throw err;
    }
    return new ProxyMesh(ids, proxies);
  }

  get nodes(): readonly string[] {
    return this.nodeIds;
  }

  /** The proxy that node `from` dials to reach node `to`. */
  proxy(from: string, to: string): TcpProxy {
    const p = this.proxies.get(linkKey(from, to));
    if (p === undefined) throw new Error(`no link ${from} -> ${to} (nodes: ${this.nodeIds.join(', ')})`);
    return p;
  }

  /** The address node `from` must use to reach node `to`. */
  addressFor(from: string, to: string): PeerAddress {
    return { host: LOOPBACK, port: this.proxy(from, to).port };
  }

  /** Every peer address node `from` must use, by peer id. */
  peersOf(from: string): Record<string, PeerAddress> {
    const out: Record<string, PeerAddress> = {};
    for (const to of this.nodeIds) if (to !== from) out[to] = this.addressFor(from, to);
    return out;
  }

  /** Cut every link to and from `node`. */
  isolate(node: string): void {
    this.partition(
      [node],
      this.nodeIds.filter((n) => n !== node),
    );
  }

  /** Cut every link between a node of `groupA` and a node of `groupB` (both directions, reset). */
  partition(groupA: string[], groupB: string[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        if (a === b) throw new Error(`node ${a} is in both groups`);
        this.proxy(a, b).partition();
        this.proxy(b, a).partition();
      }
    }
  }

  /**
   * Lose everything `from` sends to `to`, while `to` → `from` still flows. Open connections are kept
   * (so the asymmetric case is visible on them); healAll() resets the ones that lost bytes.
   */
  oneWay(from: string, to: string): void {
    this.proxy(from, to).blockOneWay('clientToServer');
    this.proxy(to, from).blockOneWay('serverToClient');
  }

  /** Heal every link (see TcpProxy.heal). */
  healAll(): void {
    for (const p of this.proxies.values()) p.heal();
  }

  /** Delay every chunk on every link to and from `node`. */
  setDelay(node: string, ms: number): void {
    for (const other of this.nodeIds) {
      if (other === node) continue;
      this.proxy(node, other).setDelay(ms);
      this.proxy(other, node).setDelay(ms);
    }
  }

  /** `node` now listens for peers on `port` (e.g. restarted): point the links to it there. */
  retarget(node: string, port: number): void {
    for (const from of this.nodeIds) if (from !== node) this.proxy(from, node).retarget(port);
  }

  async close(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
  }
}

function linkKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}
