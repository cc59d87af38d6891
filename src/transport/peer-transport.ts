// The peer transport: one authenticated TCP connection per pair of nodes, carrying opaque one-way
// raft frames and request/response RPCs (a follower forwarding a client request to the leader).
// Frames sent during one event-loop turn leave in one socket write. Links are plain TCP
// authenticated by the cluster secret, or mutually authenticated TLS (peer-tls.ts).
// Several Raft groups share the links: group(id) is one group's view (its peers, its handlers),
// and its frames carry its id. The group lives here, not in a wrapper around the transport,
// because whether a frame can carry its id depends on the connection it leaves on (wire-version.ts).
// Admission: every link is authenticated (secret or certificate); a group takes frames and
// requests only from its own peers, except that an open group (options.openGroups) also serves
// requests from any authenticated node. Such a node, configured in no group, gets an inbound-only
// link: never dialled, answered on the connection it came in on, forgotten when that closes.
// Protocol: docs/transport.md.

import { createServer, connect, type Server, type Socket } from 'node:net';
import * as tls from 'node:tls';
import { performance } from 'node:perf_hooks';

import { reconnectDelayMs } from './backoff';
import { Connection, type ConnectionEvents } from './connection';
import {
  FrameTooLargeError,
  PeerOverloadedError,
  PeerRefusedError,
  PeerRemoteError,
  PeerTimeoutError,
  PeerUnavailableError,
  RequestNotSentError,
  UnknownPeerError,
} from './errors';
import { CHANNEL, FRAME_HEADER_BYTES } from './frame-codec';
import { groupIdBytes, isGroupId, readGroupId } from './group-codec';
import { AcceptorHandshake, DialerHandshake, type HandshakeResult, type HandshakeSettings } from './handshake-session';
import { TRANSPORT_LIMITS, type TransportLimits } from './limits';
import { PeerLink, type DialAttempt, type PeerAddress } from './peer-link';
import type { GroupId, PeerNetwork } from './peer-network';
import { checkPeerCertificate, tlsChannelSecret, validatePeerTls, type PeerTlsOptions } from './peer-tls';
import {
  parseRequest,
  parseResponse,
  requestPrefix,
  responsePrefix,
  RPC_REQUEST_PREFIX_BYTES,
  RPC_RESPONSE_PREFIX_BYTES,
  RPC_STATUS,
  type RpcStatus,
} from './rpc-codec';
import type { QueuedFrame } from './send-queue';
import { CURRENT_WIRE_VERSION, isWireVersion, peerWireVersion, WIRE_VERSION, wireAnnouncement, type WireVersion } from './wire-version';
import { loggerFor, type Logger, type LogSink } from '../protocol/log';

export type { PeerAddress } from './peer-link';

/** One-way channels a caller may send on (rpc goes through request()). */
export type OneWayChannel = 'raft';

export type MessageHandler = (from: string, channel: OneWayChannel, payload: Buffer) => void;
/**
 * `fromPeer`: the caller is one of the group's peers; false only on an open group, for a node
 * admitted because the group is open (it may be a peer of another group here).
 */
export type RequestHandler = (from: string, payload: Buffer, fromPeer: boolean) => Promise<Uint8Array>;

/** One group's part of the transport. */
interface GroupState {
  /** By node id; never this node. */
  peers: ReadonlyMap<string, PeerAddress>;
  messageHandler: ((from: string, payload: Buffer) => void) | null;
  requestHandler: RequestHandler | null;
  view: PeerNetwork | null;
}

/** Frames held back while a connection has not yet said whether it carries group ids. */
const isOtherGroupFrame = (frame: QueuedFrame): boolean => frame.group !== undefined && frame.group !== 0;

export interface PeerTransportOptions {
  /** This node's id: 1..nodeIdBytesMax UTF-8 bytes, unique in the cluster. */
  readonly nodeId: string;
  readonly listen: PeerAddress;
  /** Every other node of the set by id. An entry for this node itself is ignored. */
  readonly peers: Readonly<Record<string, PeerAddress>>;
  /**
   * Shared by every node; at least clusterSecretBytesMin bytes. Never sent on the wire. Required
   * without `tls`; with it optional (when set, every member must have the same one).
   */
  readonly clusterSecret?: string | Buffer;
  /** Mutually authenticated TLS on every link (certificates from the cluster's own CA). */
  readonly tls?: PeerTlsOptions;
  readonly log?: LogSink;
  readonly limits?: Partial<TransportLimits>;
  /**
   * The newest wire version this node speaks (wire-version.ts); default: the current one. At 1 the
   * node behaves on the wire exactly as nodes from before group ids did (rolling-upgrade tests).
   */
  readonly wireVersion?: WireVersion;
  /**
   * Groups that serve requests from any node that passes the handshake (knows the secret, or has
   * a certificate of the cluster's CA), not only from their peers; e.g. the cluster controller,
   * which every set's nodes call. Raft frames are still taken only from a group's own peers, so
   * an open group's consensus stays among its members. Default: none.
   */
  readonly openGroups?: readonly GroupId[];
}

export interface PeerStats {
  /** Where this node dials the peer; '' for an inbound-only peer. */
  readonly address: string;
  /** A node in none of this node's groups that called an open group: never dialled from here. */
  readonly inboundOnly: boolean;
  readonly connected: boolean;
  /** Which side dialled the live connection (null when not connected). */
  readonly dialedByUs: boolean | null;
  readonly localPort: number | null;
  readonly remotePort: number | null;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly framesIn: number;
  readonly framesOut: number;
  /** Socket writes: each carries every frame queued for the peer in one event-loop turn. */
  readonly writes: number;
  /**
   * Raft frames dropped because the send queue was full (or the transport closed), or because
   * they belong to a group other than 0 and the peer's wire version has no group ids.
   */
  readonly dropped: number;
  readonly droppedBytes: number;
  readonly queuedBytes: number;
  readonly queuedFrames: number;
  /** Connections established, and re-established after the first. */
  readonly connects: number;
  readonly reconnects: number;
  readonly dialAttempts: number;
  readonly lastError: string | null;
  readonly rpcInflight: number;
  readonly rpcServing: number;
  readonly rpcTimeouts: number;
  /** Responses that arrived after their request timed out. */
  readonly rpcLateResponses: number;
  /** Responses not sent because the connection the request came on had closed. */
  readonly rpcResponsesDropped: number;
  /**
   * Frames and requests from the peer for a group this node does not serve with it (no such
   * group here, no handler, or the peer is not among the group's peers): dropped, or answered
   * with an error.
   */
  readonly unknownGroupFrames: number;
  /** The wire version the live connection uses, the lower of both sides' (1: no group ids); null until known. */
  readonly wireVersion: number | null;
}

export interface TransportStats {
  readonly nodeId: string;
  readonly port: number;
  readonly peers: Readonly<Record<string, PeerStats>>;
  /** Inbound connections turned away: strangers, wrong secret, garbage, slow handshakes. */
  readonly rejectedConnections: number;
  readonly pendingHandshakes: number;
  /** Every socket this transport holds, in any state. */
  readonly openSockets: number;
}

export class PeerTransport {
  readonly nodeId: string;
  private readonly limits: TransportLimits;
  private readonly settings: HandshakeSettings;
  private readonly log: Logger;
  private readonly links = new Map<string, PeerLink>();
  private readonly sockets = new Set<Socket>();
  private readonly handshakes = new Set<AcceptorHandshake>();
  private readonly dirty = new Set<PeerLink>();
  private flushScheduled = false;
  private server: Server | null = null;
  private readonly clusterSecret: Buffer | null;
  private readonly tlsContext: tls.SecureContext | null;
  /** Accepted TCP connections whose TLS handshake has not finished, by remote address. */
  private readonly tlsPending = new Map<string, Socket>();
  private state: 'new' | 'running' | 'closed' = 'new';
  private port = 0;
  private readonly wireVersion: WireVersion;
  private readonly groups = new Map<GroupId, GroupState>();
  private readonly openGroups: ReadonlySet<GroupId>;
  private nextRequestId = 1;
  private housekeepingTimer: NodeJS.Timeout | null = null;
  private lastHousekeepingAtMs = 0;
  private rejectedConnections = 0;
  private rejectLog = { windowStartMs: 0, logged: 0, suppressed: 0 };
  private socketsDrained: (() => void) | null = null;
  private readonly connEvents: ConnectionEvents = {
    onFrame: (conn, channel, payload) => this.onFrame(conn, channel, payload),
    onDrain: (conn) => {
      const link = this.links.get(conn.peerId);
      if (link) this.markDirty(link);
    },
    onClose: (conn, reason) => this.onConnectionClosed(conn, reason),
  };

  constructor(private readonly options: PeerTransportOptions) {
    this.limits = { ...TRANSPORT_LIMITS, ...options.limits };
    this.nodeId = options.nodeId;
    this.checkNodeId(options.nodeId);
    const raw = options.clusterSecret;
    const secret = raw === undefined ? null : typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw);
    if (secret === null && options.tls === undefined) throw new RangeError('transport: a cluster secret or TLS is required');
    if (secret !== null && secret.length < this.limits.clusterSecretBytesMin) {
      throw new RangeError(`transport: the cluster secret must have at least ${this.limits.clusterSecretBytesMin} bytes`);
    }
    this.clusterSecret = secret;
    if (options.tls) {
      validatePeerTls(options.tls, options.nodeId);
      this.tlsContext = tls.createSecureContext({ cert: options.tls.cert, key: options.tls.key, ca: options.tls.ca, minVersion: 'TLSv1.2' });
    } else {
      this.tlsContext = null;
    }
    if (this.limits.idleTimeoutMs <= this.limits.pingIntervalMs) throw new RangeError('transport: idleTimeoutMs must exceed pingIntervalMs');
    // On TLS links the proof key comes from each TLS session (tlsChannelSecret); this one is unused.
    this.settings = { nodeId: options.nodeId, secret: secret ?? Buffer.alloc(0), limits: this.limits };
    this.log = loggerFor(options.log, 'transport', (line) => process.stderr.write(`${line}\n`));
    this.wireVersion = options.wireVersion ?? CURRENT_WIRE_VERSION;
    if (!isWireVersion(this.wireVersion)) throw new RangeError(`transport: unknown wire version ${String(this.wireVersion)}`);
    for (const id of options.openGroups ?? []) if (!isGroupId(id)) throw new RangeError(`transport: open group id ${String(id)} is not a u32`);
    this.openGroups = new Set(options.openGroups ?? []);
    this.setGroupPeers(0, options.peers);
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Listens, then dials every peer. Resolves with the port actually bound (listen.port may be 0). */
  async start(): Promise<{ port: number }> {
    if (this.state !== 'new') throw new Error('transport: start() may be called once');
    const tlsOptions = this.options.tls;
    const server = tlsOptions === undefined ? createServer({ noDelay: true }, (socket) => this.onInbound(socket)) : this.createTlsServer(tlsOptions);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.listen.port, this.options.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err: Error) => this.log.error(`listener error: ${err.message}`));
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : this.options.listen.port;
    this.state = 'running';
    this.lastHousekeepingAtMs = performance.now();
    this.housekeepingTimer = setInterval(() => this.housekeep(), this.housekeepingIntervalMs());
    this.housekeepingTimer.unref();
    for (const link of this.links.values()) this.scheduleDial(link, true);
    return { port: this.port };
  }

  /**
   * Stops listening and dialling, writes what is queued, ends every connection (destroying those
   * that do not close within closeFlushTimeoutMs) and fails every request in flight.
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.housekeepingTimer) clearInterval(this.housekeepingTimer);
    for (const session of this.handshakes) session.abort();
    this.handshakes.clear();
    for (const link of this.links.values()) {
      this.cancelDial(link);
      this.flush(link);
      link.standby?.destroy(null);
      link.active?.end();
      this.failPending(link, null, 'the transport is closing');
    }
    const serverClosed = new Promise<void>((resolve) => {
      if (this.server) this.server.close(() => resolve());
      else resolve();
    });
    const socketsClosed = new Promise<void>((resolve) => {
      if (this.sockets.size === 0) resolve();
      else this.socketsDrained = resolve;
    });
    const force = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, this.limits.closeFlushTimeoutMs);
    await Promise.all([serverClosed, socketsClosed]);
    clearTimeout(force);
  }

  // ---- groups -----------------------------------------------------------------------------------

  /**
   * Group `id`'s view of the network: its own peers and handlers; its frames carry its id. The
   * same object for the same id. The methods below without a group are group 0's.
   */
  group(id: GroupId): PeerNetwork {
    if (!isGroupId(id)) throw new RangeError(`transport: group id ${String(id)} is not a u32`);
    const state = this.groupState(id);
    state.view ??= {
      setPeers: (peers) => {
        if (this.state !== 'closed') this.setGroupPeers(id, peers);
      },
      onMessage: (handler) => {
        state.messageHandler = handler;
      },
      send: (peer, payload) => {
        if (!state.peers.has(peer)) return false;
        return this.sendOneWay(id, peer, payload);
      },
      onRequest: (handler) => {
        state.requestHandler = handler;
      },
      request: (peer, payload, options) => this.sendRequest(id, peer, payload, options),
      peerWireVersion: (peer) => this.links.get(peer)?.active?.wireVersion ?? undefined,
      peerSilenceMs: (peer) => {
        const conn = this.links.get(peer)?.active;
        return conn ? Math.max(0, performance.now() - conn.lastReceivedAtMs) : undefined;
      },
    };
    return state.view;
  }

  /**
   * Replaces group 0's peer set (membership change): peers no group has any more are
   * disconnected, new ones dialled.
   */
  setPeers(peers: Readonly<Record<string, PeerAddress>>): void {
    if (this.state === 'closed') return;
    this.setGroupPeers(0, peers);
  }

  // ---- one-way frames ---------------------------------------------------------------------------

  /** Group 0's raft frames. */
  onMessage(handler: MessageHandler): void {
    this.groupState(0).messageHandler = (from, payload) => handler(from, 'raft', payload);
  }

  /**
   * Queues `payload` for `peer` in group 0; it leaves with everything else queued this turn, in
   * one write. Returns false if it was dropped because the send queue is full (see
   * stats().dropped). The transport keeps a reference: do not modify `payload` afterwards.
   */
  send(peer: string, channel: OneWayChannel, payload: Uint8Array): boolean {
    if (!this.groupState(0).peers.has(peer)) throw new UnknownPeerError(`transport: '${peer}' is not a configured peer`, peer);
    return this.sendOneWay(0, peer, payload, channel);
  }

  /** `peer` is one of the group's peers. */
  private sendOneWay(group: GroupId, peer: string, payload: Uint8Array, channel: OneWayChannel = 'raft'): boolean {
    const link = this.linkFor(peer);
    const groupBytes = groupIdBytes(group);
    if (groupBytes + payload.length > this.limits.frameBytesMax) {
      throw new FrameTooLargeError(`transport: a ${payload.length}-byte ${channel} frame exceeds frameBytesMax (${this.limits.frameBytesMax})`, peer);
    }
    const bytes = FRAME_HEADER_BYTES + groupBytes + payload.length;
    const queued = this.queuedBytesOf(link);
    // An empty queue takes any frame up to frameBytesMax, so the largest frame can always be sent.
    const full = link.queue.frames >= this.limits.sendQueueFramesMax || (queued > 0 && queued + bytes > this.limits.sendQueueBytesMax);
    // A peer of wire version 1 has only group 0; its next connection may say otherwise.
    const noGroups = group !== 0 && link.groupFrames === false;
    if (this.state === 'closed' || full || noGroups) {
      link.counters.dropped += 1;
      link.counters.droppedBytes += bytes;
      if (full && !link.dropping && this.state !== 'closed') {
        link.dropping = true;
        this.log.warn(`send queue to '${peer}' is full (${queued} bytes): dropping ${channel} frames`, { peer });
      }
      return false;
    }
    link.dropping = false;
    this.enqueue(link, { channel: this.channelByte(channel), prefix: null, payload, bytes, boundTo: null, group });
    return true;
  }

  /** Bytes waiting for `peer`: queued frames plus what its socket has not yet sent. */
  queuedBytes(peer: string): number {
    return this.queuedBytesOf(this.linkFor(peer));
  }

  // ---- request / response -----------------------------------------------------------------------

  /** Serves group 0's requests from peers; a throw or rejection reaches the caller as PeerRemoteError. */
  onRequest(handler: RequestHandler): void {
    this.groupState(0).requestHandler = handler;
  }

  /**
   * Sends a request to `peer` and resolves with its answer. Rejects with RequestNotSentError when it
   * never left this node (no connection; or still queued when the connection dropped or the timeout
   * passed), PeerUnavailableError when the connection dropped after it was written, PeerTimeoutError
   * when it was written and `timeoutMs` passed,
   * PeerOverloadedError past rpcInflightPerPeerMax, PeerRemoteError if the peer's handler failed.
   * It goes to the peer's group 0 handler.
   */
  request(peer: string, payload: Uint8Array, options: { timeoutMs?: number } = {}): Promise<Buffer> {
    return this.sendRequest(0, peer, payload, options);
  }

  private sendRequest(group: GroupId, peer: string, payload: Uint8Array, options: { timeoutMs?: number } = {}): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const link = this.links.get(peer);
      if (!link || !this.groupState(group).peers.has(peer)) return reject(new UnknownPeerError(`transport: '${peer}' is not a configured peer${group === 0 ? '' : ` of group ${group}`}`, peer));
      const groupBytes = groupIdBytes(group);
      if (groupBytes + payload.length + RPC_REQUEST_PREFIX_BYTES > this.limits.frameBytesMax) {
        return reject(new FrameTooLargeError(`transport: a ${payload.length}-byte request exceeds frameBytesMax`, peer));
      }
      const conn = link.active;
      if (this.state !== 'running' || conn === null) return reject(new RequestNotSentError(`transport: no connection to '${peer}'; the request was not sent`, peer));
      if (group !== 0 && conn.groupFrames === false) {
        return reject(new RequestNotSentError(`transport: '${peer}' runs a version without Raft groups; the request for group ${group} was not sent`, peer));
      }
      if (link.pending.size >= this.limits.rpcInflightPerPeerMax || link.queue.frames >= this.limits.sendQueueFramesMax) {
        return reject(new PeerOverloadedError(`transport: ${link.pending.size} requests already in flight to '${peer}'`, peer));
      }
      const id = this.allocateRequestId(link);
      const timeoutMs = options.timeoutMs ?? this.limits.rpcTimeoutMsDefault;
      const prefix = requestPrefix(id);
      const frame = {
        channel: CHANNEL.rpcRequest,
        prefix,
        payload,
        bytes: FRAME_HEADER_BYTES + groupBytes + prefix.length + payload.length,
        boundTo: conn,
        request: { written: false, id },
        group,
      };
      const timer = setTimeout(() => {
        if (!link.pending.delete(id)) return;
        link.counters.rpcTimeouts += 1;
        if (frame.request.written) {
          reject(new PeerTimeoutError(`transport: '${peer}' did not answer within ${timeoutMs} ms`, peer));
          return;
        }
        // Still queued behind a socket that will not drain: withdrawn, so it can never leave.
        link.queue.removeWhere((f) => f === frame);
        reject(new RequestNotSentError(`transport: the request to '${peer}' could not be sent within ${timeoutMs} ms; withdrawn unsent`, peer));
      }, timeoutMs);
      link.pending.set(id, { conn, resolve, reject, timer, frame });
      this.enqueue(link, frame);
    });
  }

  // ---- observation --------------------------------------------------------------------------------

  stats(): TransportStats {
    const peers: Record<string, PeerStats> = {};
    for (const link of this.links.values()) {
      const c = link.counters;
      const socket = link.active?.socket;
      peers[link.id] = {
        address: link.address === null ? '' : `${link.address.host}:${link.address.port}`,
        inboundOnly: link.address === null,
        connected: link.active !== null,
        dialedByUs: link.active?.dialedByUs ?? null,
        localPort: socket?.localPort ?? null,
        remotePort: socket?.remotePort ?? null,
        bytesIn: c.bytesIn,
        bytesOut: c.bytesOut,
        framesIn: c.framesIn,
        framesOut: c.framesOut,
        writes: c.writes,
        dropped: c.dropped,
        droppedBytes: c.droppedBytes,
        queuedBytes: this.queuedBytesOf(link),
        queuedFrames: link.queue.frames,
        connects: c.connects,
        reconnects: Math.max(0, c.connects - 1),
        dialAttempts: c.dialAttempts,
        lastError: link.lastError,
        rpcInflight: link.pending.size,
        rpcServing: link.serving,
        rpcTimeouts: c.rpcTimeouts,
        rpcLateResponses: c.rpcLateResponses,
        rpcResponsesDropped: c.rpcResponsesDropped,
        unknownGroupFrames: c.unknownGroupFrames,
        wireVersion: link.active?.wireVersion ?? null,
      };
    }
    return {
      nodeId: this.nodeId,
      port: this.port,
      peers,
      rejectedConnections: this.rejectedConnections,
      pendingHandshakes: this.handshakes.size + this.tlsPending.size,
      openSockets: this.sockets.size,
    };
  }

  // ---- peers --------------------------------------------------------------------------------------

  private groupState(id: GroupId): GroupState {
    let state = this.groups.get(id);
    if (!state) {
      state = { peers: new Map(), messageHandler: null, requestHandler: null, view: null };
      this.groups.set(id, state);
    }
    return state;
  }

  /**
   * Replaces one group's peers, then links exactly the union of every group's peers. A node id
   * that another group has at a different address is a configuration error: the change is
   * logged and refused as a whole (the group keeps its previous peers).
   */
  private setGroupPeers(group: GroupId, peers: Readonly<Record<string, PeerAddress>>): void {
    const wanted = new Map<string, PeerAddress>();
    for (const [id, address] of Object.entries(peers)) {
      if (id === this.nodeId) continue;
      this.checkNodeId(id);
      if (!Number.isInteger(address.port) || address.port <= 0 || address.port > 65535) {
        throw new RangeError(`transport: peer '${id}' has an invalid port ${address.port}`);
      }
      wanted.set(id, { host: address.host, port: address.port });
    }
    for (const [other, state] of this.groups) {
      if (other === group) continue;
      for (const [id, address] of wanted) {
        const theirs = state.peers.get(id);
        if (theirs && (theirs.host !== address.host || theirs.port !== address.port)) {
          this.log.error(
            `refused the peers of group ${group}: they put '${id}' at ${address.host}:${address.port}, group ${other} at ${theirs.host}:${theirs.port}`,
            { peer: id },
          );
          return;
        }
      }
    }
    this.groupState(group).peers = wanted;
    const union = new Map<string, PeerAddress>();
    for (const state of this.groups.values()) for (const [id, address] of state.peers) union.set(id, address);
    this.applyPeers(union);
  }

  private applyPeers(wanted: ReadonlyMap<string, PeerAddress>): void {
    for (const link of [...this.links.values()]) {
      // An inbound-only link belongs to no group's peers; it lives as long as its connection.
      if (!wanted.has(link.id) && link.address !== null) this.removeLink(link);
    }
    for (const [id, address] of wanted) {
      const link = this.links.get(id);
      if (!link) {
        const created = new PeerLink(id, { host: address.host, port: address.port });
        this.links.set(id, created);
        if (this.state === 'running') this.scheduleDial(created, true);
      } else if (link.address === null || link.address.host !== address.host || link.address.port !== address.port) {
        // (An inbound-only peer that a group now names becomes an ordinary one.)
        // The live connection (if any) stays: it is authenticated by id, not by address.
        link.address = { host: address.host, port: address.port };
        if (link.dial) {
          this.cancelDial(link);
          this.scheduleDial(link, true);
        }
      }
    }
  }

  private removeLink(link: PeerLink): void {
    link.removed = true;
    this.cancelDial(link);
    link.standby?.destroy('peer removed from the configuration');
    link.active?.destroy('peer removed from the configuration');
    this.failPending(link, null, 'the peer was removed from the configuration');
    link.queue.clear();
    this.links.delete(link.id);
  }

  private linkFor(peer: string): PeerLink {
    const link = this.links.get(peer);
    if (!link) throw new UnknownPeerError(`transport: '${peer}' is not a configured peer`, peer);
    return link;
  }

  private checkNodeId(id: string): void {
    const bytes = Buffer.byteLength(id, 'utf8');
    if (bytes === 0 || bytes > this.limits.nodeIdBytesMax) {
      throw new RangeError(`transport: node id '${id}' must be 1..${this.limits.nodeIdBytesMax} UTF-8 bytes`);
    }
  }

  // ---- dialling -----------------------------------------------------------------------------------

  private scheduleDial(link: PeerLink, immediately = false): void {
    if (this.state !== 'running' || link.removed || link.address === null || link.active || link.dial || link.retryTimer) return;
    const delayMs = immediately ? 0 : reconnectDelayMs(link.failedAttempts, this.limits);
    link.retryTimer = setTimeout(() => {
      link.retryTimer = null;
      this.dial(link);
    }, delayMs);
  }

  private dial(link: PeerLink): void {
    const address = link.address;
    if (this.state !== 'running' || link.removed || address === null || link.active || link.dial) return;
    link.counters.dialAttempts += 1;
    const target = `${address.host}:${address.port}`;
    const socket = this.tlsContext === null ? connect({ host: address.host, port: address.port, noDelay: true }) : this.tlsDial(address, this.tlsContext);
    this.track(socket);
    const attempt: DialAttempt = { socket, phase: 'connecting', session: null, connectTimer: null };
    link.dial = attempt;
    const onConnectError = (err: Error): void => this.dialFailed(link, attempt, `cannot connect to ${target}: ${err.message}`, false);
    socket.on('error', onConnectError);
    attempt.connectTimer = setTimeout(() => {
      socket.destroy();
      this.dialFailed(link, attempt, `cannot connect to ${target}: timed out`, false);
    }, this.limits.handshakeTimeoutMs);
    socket.once(this.tlsContext === null ? 'connect' : 'secureConnect', () => {
      socket.off('error', onConnectError);
      if (attempt.connectTimer) clearTimeout(attempt.connectTimer);
      attempt.connectTimer = null;
      if (link.dial !== attempt) {
        socket.destroy();
        return;
      }
      let settings = this.settings;
      if (socket instanceof tls.TLSSocket) {
        const checked = checkPeerCertificate(socket, link.id);
        if ('problem' in checked) {
          this.dialFailed(link, attempt, `TLS peer at ${target} refused: ${checked.problem}`, false);
          return;
        }
        settings = { ...this.settings, secret: tlsChannelSecret(socket, this.clusterSecret) };
      }
      attempt.phase = 'handshake';
      attempt.session = new DialerHandshake(socket, settings, link.id, (result) => this.onDialResult(link, attempt, result));
    });
  }

  private onDialResult(link: PeerLink, attempt: DialAttempt, result: HandshakeResult): void {
    if (link.dial !== attempt || this.state !== 'running') {
      if (result.ok) attempt.socket.destroy();
      return;
    }
    if (!result.ok) {
      const where = link.address === null ? '' : ` at ${link.address.host}:${link.address.port}`;
      this.dialFailed(link, attempt, `handshake with '${link.id}'${where} failed: ${result.reason}`, result.quiet);
      return;
    }
    link.dial = null;
    const conn = this.newConnection(attempt.socket, link, result, true);
    link.standby?.destroy('superseded by our own new connection');
    this.activate(link, conn);
    // The first frame on a new connection tells the acceptor to switch to it (see onFrame); from
    // wire version 2 on, that is the announcement newConnection wrote.
    if (this.wireVersion === WIRE_VERSION.legacy) this.enqueue(link, { channel: CHANNEL.ping, prefix: null, payload: Buffer.alloc(0), bytes: FRAME_HEADER_BYTES, boundTo: null });
    conn.start();
  }

  /** `quiet`: the peer kept its own connection instead (tie-break), which is no error. */
  private dialFailed(link: PeerLink, attempt: DialAttempt, reason: string, quiet: boolean): void {
    if (link.dial !== attempt) return;
    link.dial = null;
    if (attempt.connectTimer) clearTimeout(attempt.connectTimer);
    attempt.socket.destroy();
    if (!quiet) {
      link.failedAttempts += 1;
      link.lastError = reason;
      if (reason !== link.lastDialError) this.log.warn(`${reason} (retrying with backoff)`, { peer: link.id });
      link.lastDialError = reason;
    }
    this.scheduleDial(link);
  }

  private cancelDial(link: PeerLink): void {
    if (link.retryTimer) clearTimeout(link.retryTimer);
    link.retryTimer = null;
    const attempt = link.dial;
    if (!attempt) return;
    link.dial = null;
    if (attempt.connectTimer) clearTimeout(attempt.connectTimer);
    // A session mid-handshake says WITHDRAW before closing; otherwise just close.
    if (attempt.session) attempt.session.abort();
    else attempt.socket.destroy();
  }

  // ---- accepting ----------------------------------------------------------------------------------

  /** A plain TCP connection, or (TLS) the raw TCP connection before its TLS handshake: admits it or not. */
  private admitInbound(socket: Socket, remote: string): boolean {
    if (this.state !== 'running') {
      socket.destroy();
      return false;
    }
    const pending = this.handshakes.size + this.tlsPending.size;
    if (pending >= this.limits.pendingHandshakesMax) {
      socket.destroy();
      this.rejected(`refused connection from ${remote}: ${pending} handshakes already pending`);
      return false;
    }
    this.track(socket);
    return true;
  }

  private onInbound(socket: Socket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (!this.admitInbound(socket, remote)) return;
    this.startAcceptor(socket, remote, this.settings);
  }

  // ---- TLS --------------------------------------------------------------------------------------

  private createTlsServer(options: PeerTlsOptions): tls.Server {
    const server = tls.createServer(
      {
        // tls.Server makes its own context from these (it ignores a `secureContext` option).
        cert: options.cert,
        key: options.key,
        ca: options.ca,
        minVersion: 'TLSv1.2',
        requestCert: true,
        // Checked in onTlsInbound, which can then log why a peer was turned away.
        rejectUnauthorized: false,
        handshakeTimeout: this.limits.handshakeTimeoutMs,
      },
      (socket) => this.onTlsInbound(socket),
    );
    server.on('connection', (raw: Socket) => {
      const remote = `${raw.remoteAddress ?? '?'}:${raw.remotePort ?? '?'}`;
      if (!this.admitInbound(raw, remote)) return;
      raw.setNoDelay(true);
      this.tlsPending.set(remote, raw);
      raw.once('close', () => {
        if (this.tlsPending.get(remote) === raw) this.tlsPending.delete(remote);
      });
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
      this.tlsPending.delete(remote);
      // A reset before the handshake finished is a dial the peer gave up on (or a port probe).
      if (err.code === 'ECONNRESET') return;
      this.rejected(`rejected connection from ${remote}: TLS handshake failed: ${err.message.split('\n')[0]}`);
    });
    return server;
  }

  private tlsDial(address: PeerAddress, context: tls.SecureContext): tls.TLSSocket {
    const socket = tls.connect({
      host: address.host,
      port: address.port,
      secureContext: context,
      // Checked on secureConnect (checkPeerCertificate): the chain, then the node id, not the host name.
      rejectUnauthorized: false,
    });
    socket.setNoDelay(true);
    return socket;
  }

  private onTlsInbound(socket: tls.TLSSocket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.tlsPending.delete(remote);
    if (this.state !== 'running') {
      socket.destroy();
      return;
    }
    const checked = checkPeerCertificate(socket);
    if ('problem' in checked) {
      socket.destroy();
      this.rejected(`rejected connection from ${remote}: ${checked.problem}`);
      return;
    }
    this.startAcceptor(socket, remote, { ...this.settings, secret: tlsChannelSecret(socket, this.clusterSecret), certifiedIds: checked.ids });
  }

  private startAcceptor(socket: Socket, remote: string, settings: HandshakeSettings): void {
    const session: AcceptorHandshake = new AcceptorHandshake(
      socket,
      settings,
      { isKnownPeer: (id) => this.links.has(id) || this.admitsNewcomer(id), admit: (id) => this.admit(id) },
      (result) => {
        this.handshakes.delete(session);
        this.onInboundResult(socket, remote, result);
      },
    );
    this.handshakes.add(session);
  }

  /**
   * Tie-break for a peer that proved the secret. Both nodes may dial each other at once; if our
   * own dial is already mid-handshake, the dial of the lower node id wins on both sides. Otherwise
   * the peer only dials when it has no connection to us, so its new connection is the one to keep.
   */
  private admit(peerId: string): boolean {
    if (this.state !== 'running') return false;
    const link = this.links.get(peerId);
    if (!link) return this.admitsNewcomer(peerId);
    return !(link.dial?.phase === 'handshake' && this.nodeId < peerId);
  }

  /**
   * Whether a node in none of our groups may connect (it still has to pass the handshake): only
   * when a group here is open, and while the inbound-only links stay within inboundPeersMax.
   */
  private admitsNewcomer(peerId: string): boolean {
    if (this.openGroups.size === 0 || peerId === this.nodeId) return false;
    let inboundOnly = 0;
    for (const link of this.links.values()) if (link.address === null) inboundOnly += 1;
    return inboundOnly < this.limits.inboundPeersMax;
  }

  private onInboundResult(socket: Socket, remote: string, result: HandshakeResult): void {
    if (!result.ok) {
      if (!result.quiet) {
        const claimed = result.claimedId === null ? '' : ` claiming to be '${result.claimedId}'`;
        this.rejected(`rejected connection from ${remote}${claimed}: ${result.reason}`);
      }
      return;
    }
    let link = this.links.get(result.peerId);
    if (!link && this.state === 'running' && this.admitsNewcomer(result.peerId)) {
      link = new PeerLink(result.peerId, null);
      this.links.set(link.id, link);
      this.log.info(`'${link.id}', in none of this node's groups, connected from ${remote} for the open groups`, { peer: link.id });
    }
    if (!link || this.state !== 'running') {
      socket.destroy();
      return;
    }
    this.cancelDial(link);
    const conn = this.newConnection(socket, link, result, false);
    if (link.active === null) {
      this.activate(link, conn);
    } else {
      // Keep the current connection until the peer actually uses the new one: a dial the peer
      // abandoned mid-handshake must not take down a working link.
      link.standby?.destroy('superseded by a newer connection from the peer');
      link.standby = conn;
    }
    conn.start();
  }

  private rejected(line: string): void {
    this.rejectedConnections += 1;
    const now = performance.now();
    const window = this.rejectLog;
    if (now - window.windowStartMs >= 60_000) {
      if (window.suppressed > 0) this.log.warn(`${window.suppressed} more rejected connections were not logged`, { suppressed: window.suppressed });
      window.windowStartMs = now;
      window.logged = 0;
      window.suppressed = 0;
    }
    if (window.logged < this.limits.rejectLogsPerMinute) {
      window.logged += 1;
      this.log.warn(line);
    } else {
      window.suppressed += 1;
    }
  }

  // ---- connections --------------------------------------------------------------------------------

  private newConnection(socket: Socket, link: PeerLink, result: HandshakeResult & { ok: true }, dialedByUs: boolean): Connection {
    // TLS protects the link's integrity itself: no batch MAC on top.
    const keys = this.tlsContext === null ? result.keys : null;
    const conn = new Connection(socket, link.id, dialedByUs, result.decoder, keys, this.limits, link.counters, this.connEvents);
    if (this.wireVersion === WIRE_VERSION.legacy) {
      conn.groupFrames = false;
    } else {
      // Before anything else is written on it, so it is the first frame the peer reads.
      conn.writeBatch([{ channel: CHANNEL.ping, prefix: null, payload: wireAnnouncement(this.wireVersion) }]);
    }
    return conn;
  }

  private activate(link: PeerLink, conn: Connection): void {
    const previous = link.active;
    link.active = conn;
    if (link.standby === conn) link.standby = null;
    previous?.destroy('replaced by a newer connection');
    link.failedAttempts = 0;
    link.counters.connects += 1;
    const after = link.lastDialError === null ? '' : ' (after failed attempts)';
    link.lastDialError = null;
    const how = conn.dialedByUs ? 'dialled' : 'accepted';
    this.log.info(`connected to '${link.id}' (${how}, local port ${conn.socket.localPort}, remote port ${conn.socket.remotePort})${after}`, { peer: link.id });
    this.markDirty(link);
  }

  private onConnectionClosed(conn: Connection, reason: string | null): void {
    const link = this.links.get(conn.peerId);
    if (!link) return;
    this.failPending(link, conn, reason ?? 'the connection closed');
    if (link.standby === conn) {
      link.standby = null;
      return;
    }
    if (link.active !== conn) return;
    link.active = null;
    link.queue.removeWhere((f) => f.boundTo === conn);
    if (reason !== null) link.lastError = reason;
    if (this.state === 'running' && !link.removed) {
      this.log.warn(`connection to '${link.id}' ${reason === null ? 'closed' : `lost: ${reason}`}`, { peer: link.id });
    }
    if (link.standby) this.activate(link, link.standby);
    // Nothing to dial back: the peer calls again when it needs to.
    else if (link.address === null) {
      if (!link.removed) this.removeLink(link);
    }
    else this.scheduleDial(link);
  }

  private onFrame(conn: Connection, channel: number, payload: Buffer): void {
    const link = this.links.get(conn.peerId);
    if (!link) return;
    if (conn.wireVersion === null) this.learnWireVersion(link, conn, channel, payload);
    if (conn === link.standby) this.activate(link, conn);
    if (conn !== link.active) return;
    switch (channel) {
      case CHANNEL.raft:
        this.deliverMessage(link, 0, payload);
        return;
      case CHANNEL.rpcRequest:
        this.serve(link, conn, 0, payload);
        return;
      case CHANNEL.groupRaft:
      case CHANNEL.groupRpcRequest: {
        if (this.wireVersion === WIRE_VERSION.legacy) break;
        const tag = readGroupId(payload);
        if (!tag) {
          conn.destroy(`peer sent a malformed group id on channel ${channel}`);
          return;
        }
        if (channel === CHANNEL.groupRaft) this.deliverMessage(link, tag.group, payload.subarray(tag.bytes));
        else this.serve(link, conn, tag.group, payload, tag.bytes);
        return;
      }
      case CHANNEL.rpcResponse:
        this.complete(link, conn, payload);
        return;
      case CHANNEL.ping:
        return;
    }
    conn.destroy(`peer sent a frame on unexpected channel ${channel}`);
  }

  /** From the peer's first frame on `conn`: whether frames on it carry group ids (wire-version.ts). */
  private learnWireVersion(link: PeerLink, conn: Connection, channel: number, payload: Buffer): void {
    // A node of version 1 reads no ping payload: it takes every peer for version 1.
    const peer = this.wireVersion === WIRE_VERSION.legacy ? WIRE_VERSION.legacy : peerWireVersion(channel === CHANNEL.ping, payload);
    conn.wireVersion = Math.min(this.wireVersion, peer);
    conn.groupFrames = conn.wireVersion >= WIRE_VERSION.groups;
    link.groupFrames = conn.groupFrames;
    // Frames of other groups waited for this (see flush).
    this.markDirty(link);
  }

  /** A raft frame for `group`: to its handler if the peer is one of the group's peers here. */
  private deliverMessage(link: PeerLink, group: GroupId, payload: Buffer): void {
    const state = this.groups.get(group);
    const handler = state?.messageHandler;
    if (!state || !handler || !state.peers.has(link.id)) {
      link.counters.unknownGroupFrames += 1;
      return;
    }
    handler(link.id, payload);
  }

  // ---- sending --------------------------------------------------------------------------------------

  private enqueue(link: PeerLink, frame: QueuedFrame): void {
    link.queue.push(frame);
    this.markDirty(link);
  }

  private markDirty(link: PeerLink): void {
    this.dirty.add(link);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate runs after this turn's I/O callbacks, so everything they send shares one write.
    setImmediate(() => {
      this.flushScheduled = false;
      const links = [...this.dirty];
      this.dirty.clear();
      for (const l of links) this.flush(l);
    });
  }

  private flush(link: PeerLink): void {
    const conn = link.active;
    if (conn === null || !conn.isOpen) return;
    // Until the peer's first frame says whether this connection carries group ids, frames of
    // groups other than 0 (and everything queued after them) wait; learnWireVersion flushes again.
    const holdFrom = conn.groupFrames === null ? isOtherGroupFrame : undefined;
    while (link.queue.frames > 0 && !conn.needsDrain) {
      const batch = link.queue.takeBatch(this.limits.writeBatchBytesMax, holdFrom);
      if (batch.length === 0) return;
      // RPC frames of a connection that has since closed were already failed on both sides.
      let live = batch.filter((f) => f.boundTo === null || f.boundTo === conn);
      if (conn.groupFrames === false) live = this.withoutOtherGroups(link, live);
      // From here a request may reach the peer: its failure no longer proves it was not executed.
      for (const f of live) if (f.request) f.request.written = true;
      conn.writeBatch(live);
    }
  }

  /** Drops (raft) or fails as never sent (requests) the frames a peer without group ids cannot take. */
  private withoutOtherGroups(link: PeerLink, frames: QueuedFrame[]): QueuedFrame[] {
    if (!frames.some(isOtherGroupFrame)) return frames;
    const kept: QueuedFrame[] = [];
    for (const f of frames) {
      if (!isOtherGroupFrame(f)) {
        kept.push(f);
      } else if (f.request) {
        const pending = link.pending.get(f.request.id);
        if (pending?.frame !== f) continue;
        link.pending.delete(f.request.id);
        clearTimeout(pending.timer);
        pending.reject(new RequestNotSentError(`transport: '${link.id}' runs a version without Raft groups; the request for group ${f.group} was not sent`, link.id));
      } else {
        link.counters.dropped += 1;
        link.counters.droppedBytes += f.bytes;
      }
    }
    return kept;
  }

  private queuedBytesOf(link: PeerLink): number {
    return link.queue.bytes + (link.active?.unsentBytes ?? 0);
  }

  private channelByte(channel: OneWayChannel): number {
    switch (channel) {
      case 'raft':
        return CHANNEL.raft;
    }
  }

  // ---- rpc ------------------------------------------------------------------------------------------

  private allocateRequestId(link: PeerLink): number {
    let id = this.nextRequestId;
    while (link.pending.has(id)) id = (id + 1) >>> 0;
    this.nextRequestId = (id + 1) >>> 0;
    return id;
  }

  /** The request starts at `offset` of `payload`. */
  private serve(link: PeerLink, conn: Connection, group: GroupId, payload: Buffer, offset = 0): void {
    const request = parseRequest(payload, offset);
    if (!request) {
      conn.destroy('peer sent a malformed rpc request');
      return;
    }
    const state = this.groups.get(group);
    const handler = state?.requestHandler;
    const admitted = state !== undefined && (state.peers.has(link.id) || this.openGroups.has(group));
    if (!state || !handler || !admitted) {
      link.counters.unknownGroupFrames += 1;
      const why = state && !admitted ? `'${link.id}' is not a peer of group ${group} here` : `no request handler for group ${group} on this node`;
      this.respond(link, conn, request.id, RPC_STATUS.noHandler, Buffer.from(why));
      return;
    }
    if (link.serving >= this.limits.rpcServingPerPeerMax) {
      this.respond(link, conn, request.id, RPC_STATUS.busy, Buffer.alloc(0));
      return;
    }
    link.serving += 1;
    const fromPeer = state.peers.has(link.id);
    const answered = (async () => handler(link.id, request.body, fromPeer))();
    void answered
      .then(
        (answer) => {
          if (!(answer instanceof Uint8Array)) throw new TypeError('request handler resolved with something other than a Buffer');
          if (answer.length + RPC_RESPONSE_PREFIX_BYTES > this.limits.frameBytesMax) {
            throw new RangeError(`response of ${answer.length} bytes exceeds frameBytesMax`);
          }
          this.respond(link, conn, request.id, RPC_STATUS.ok, answer);
        },
        (err: unknown) => this.respond(link, conn, request.id, RPC_STATUS.handlerError, Buffer.from(errorText(err))),
      )
      .catch((err: unknown) => this.respond(link, conn, request.id, RPC_STATUS.handlerError, Buffer.from(errorText(err))))
      .finally(() => {
        link.serving -= 1;
      });
  }

  private respond(link: PeerLink, conn: Connection, id: number, status: RpcStatus, body: Uint8Array): void {
    // The requester fails its request when this connection closes, so there is no one to answer.
    if (!conn.isOpen || link.removed || this.state !== 'running') {
      link.counters.rpcResponsesDropped += 1;
      return;
    }
    const prefix = responsePrefix(id, status);
    this.enqueue(link, { channel: CHANNEL.rpcResponse, prefix, payload: body, bytes: FRAME_HEADER_BYTES + prefix.length + body.length, boundTo: conn });
  }

  private complete(link: PeerLink, conn: Connection, payload: Buffer): void {
    const response = parseResponse(payload);
    if (!response) {
      conn.destroy('peer sent a malformed rpc response');
      return;
    }
    const pending = link.pending.get(response.id);
    if (!pending) {
      link.counters.rpcLateResponses += 1;
      return;
    }
    link.pending.delete(response.id);
    clearTimeout(pending.timer);
    const text = (): string => response.body.toString('utf8');
    switch (response.status) {
      case RPC_STATUS.ok:
        pending.resolve(response.body);
        return;
      case RPC_STATUS.handlerError:
        pending.reject(new PeerRemoteError(`transport: '${link.id}' failed the request: ${text()}`, link.id));
        return;
      case RPC_STATUS.busy:
        pending.reject(new PeerOverloadedError(`transport: '${link.id}' is busy serving other requests`, link.id));
        return;
      case RPC_STATUS.noHandler:
        pending.reject(new PeerRefusedError(`transport: '${link.id}' cannot serve requests: ${text()}`, link.id));
        return;
      default:
        pending.reject(new PeerRemoteError(`transport: '${link.id}' answered with unknown status ${response.status}`, link.id));
    }
  }

  /**
   * Fails the requests that went out on `conn` (or all of the peer's when conn is null). Those
   * still queued are withdrawn and reported as never sent.
   */
  private failPending(link: PeerLink, conn: Connection | null, why: string): void {
    const unsent = new Set<QueuedFrame>();
    for (const [id, pending] of link.pending) {
      if (conn !== null && pending.conn !== conn) continue;
      link.pending.delete(id);
      clearTimeout(pending.timer);
      if (pending.frame.request.written) {
        pending.reject(new PeerUnavailableError(`transport: request to '${link.id}' failed after it was sent: ${why}`, link.id));
      } else {
        unsent.add(pending.frame);
        pending.reject(new RequestNotSentError(`transport: request to '${link.id}' failed before it was sent: ${why}`, link.id));
      }
    }
    if (unsent.size > 0) link.queue.removeWhere((f) => unsent.has(f));
  }

  // ---- housekeeping ---------------------------------------------------------------------------------

  private housekeepingIntervalMs(): number {
    return Math.max(5, Math.floor(this.limits.pingIntervalMs / 2));
  }

  /** Pings quiet links and closes links that have been silent for idleTimeoutMs. */
  private housekeep(): void {
    const now = performance.now();
    // If this timer itself ran late (the process was stopped or starved), the silence we measure
    // is ours, not the peers': skip the idle check once and let the inbound bytes be read first.
    const stalled = now - this.lastHousekeepingAtMs > 3 * this.housekeepingIntervalMs();
    this.lastHousekeepingAtMs = now;
    for (const link of this.links.values()) {
      const standby = link.standby;
      if (!stalled && standby && now - standby.lastReceivedAtMs > this.limits.idleTimeoutMs) standby.destroy('the peer never used its new connection');
      const conn = link.active;
      if (!conn) continue;
      if (!stalled && now - conn.lastReceivedAtMs > this.limits.idleTimeoutMs) {
        conn.destroy(`nothing received for ${Math.round(now - conn.lastReceivedAtMs)} ms`);
        continue;
      }
      if (now - conn.lastSentAtMs >= this.limits.pingIntervalMs && link.queue.frames === 0) {
        this.enqueue(link, { channel: CHANNEL.ping, prefix: null, payload: Buffer.alloc(0), bytes: FRAME_HEADER_BYTES, boundTo: null });
      }
    }
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.sockets.size === 0 && this.socketsDrained) {
        const done = this.socketsDrained;
        this.socketsDrained = null;
        done();
      }
    });
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
