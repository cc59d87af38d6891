// The client-facing HTTP listener every client protocol (CMQ, SQS) shares: node:http (or HTTPS)
// with the request deadline, the keep-alive timeout, the per-client connection cap, half-open
// connections, oversize refusal and the answers owed on a connection cut at its deadline. A
// protocol supplies how a request received whole is answered, and its own answers for the
// requests the listener refuses itself (too large, too slow, headers too long), so each client
// sees its protocol's error shape.

import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import { LIMITS } from '../protocol/limits';
import { capConnectionsPerClient } from './client-cap';

/** An answer as sent. Content-Length and Connection are the listener's. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** A request received whole. */
export interface HttpRequest {
  method: string;
  /** The Host header as received. */
  host: string;
  /** The path without the query (an absolute-form target reduced to its path). */
  path: string;
  /** The query string without '?'. */
  query: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The client's address, when known. */
  remote?: string;
  /** Whether it came over TLS. */
  tls: boolean;
}

export interface HttpProtocol {
  /** Answer a request received whole. A rejection is a bug: it is answered with `failed`. */
  serve(req: HttpRequest): Promise<HttpAnswer>;
  /** The body (or the query) is larger than LIMITS.requestBytesMax; `headers` are the request's. */
  tooLarge(headers: http.IncomingHttpHeaders): HttpAnswer;
  /** The headers (an over-long URL) did not fit in the header limit. */
  headersTooLarge(): HttpAnswer;
  /**
   * The request did not arrive whole within the deadline: nothing was applied. `headers` are the
   * request's when they had arrived.
   */
  timedOut(timeoutMs: number, headers: http.IncomingHttpHeaders | undefined): HttpAnswer;
  /** `serve` rejected (its error is passed for the log). */
  failed(err: unknown): HttpAnswer;
}

export interface ListenerOptions {
  /** Idle keep-alive connections are closed after this long (default LIMITS.httpKeepAliveTimeoutMsDefault). */
  keepAliveTimeoutMs?: number;
  /**
   * A request must arrive, from its first byte to the end of its body, within this long (default
   * LIMITS.httpRequestTimeoutMsDefault); a fresh connection must send its first request within it.
   */
  requestTimeoutMs?: number;
  /** Open connections per client address (default LIMITS.httpConnectionsPerClientDefault). */
  maxConnectionsPerClient?: number;
  /** Open connections in all (default LIMITS.httpConnectionsMax); lower only in tests. */
  maxConnections?: number;
  /** Serve HTTPS with these options (certificate, key, client CA) instead of HTTP. */
  tls?: https.ServerOptions;
}

/** Headers (and so GET query strings) may be as large as a request body (spec §1.2: 1 MB). */
const MAX_HEADER_BYTES = LIMITS.requestBytesMax + 64 * 1024;
/** After a final answer (oversized body, cut request, malformed HTTP), give the client this long to read it before closing. */
const CLOSE_DELAY_MS = 2000;
/** How often the request deadline is checked, at most (node's default, 30 s, would let it slip that far). */
const DEADLINE_CHECK_MAX_MS = 1000;

/** An HTTP(S) server answering every request through `protocol`. Call `.listen()` on it. */
export function createHttpListener(protocol: HttpProtocol, opts: ListenerOptions): http.Server {
  const requestTimeout = opts.requestTimeoutMs ?? LIMITS.httpRequestTimeoutMsDefault;
  const serverOptions: http.ServerOptions = {
    maxHeaderSize: MAX_HEADER_BYTES,
    // node:http times a request from its first byte (or from accept, for a connection's first
    // request) to the end of its body; an idle keep-alive connection between requests is not
    // timed by these but by keepAliveTimeout, and neither covers producing the answer.
    requestTimeout,
    headersTimeout: requestTimeout,
    connectionsCheckingInterval: Math.max(50, Math.min(DEADLINE_CHECK_MAX_MS, Math.floor(requestTimeout / 10))),
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? LIMITS.httpKeepAliveTimeoutMsDefault,
  };
  const tls = opts.tls !== undefined;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    serveRequest(protocol, req, res, tls);
  };
  // An https.Server is an http.Server with TLS underneath: same settings, same events.
  const server = opts.tls
    ? (https.createServer({ ...opts.tls, ...serverOptions }, handler) as unknown as http.Server)
    : http.createServer(serverOptions, handler);
  server.maxConnections = opts.maxConnections ?? LIMITS.httpConnectionsMax;
  // On an https server 'connection' is the raw TCP socket: over-cap clients cost no handshake.
  capConnectionsPerClient(server, opts.maxConnectionsPerClient ?? LIMITS.httpConnectionsPerClientDefault);
  // A client may end its side once its request is sent (shutdown(SHUT_WR)); node's default ends
  // ours too, so an answer still being produced (a forward, a long poll) would be lost. The
  // switch is node:http's own (untyped) one; test/unit/api-http-deadlines.test.ts guards it.
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      onRequestDeadline(protocol, socket, requestTimeout);
      return;
    }
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      // Keep the protocol's contract for an over-long GET URL.
      writeRawAnswer(socket, protocol.headersTooLarge());
      closeSoon(socket);
      return;
    }
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    closeSoon(socket);
  });
  return server;
}

/** What one connection is doing, for the request deadline. */
interface ConnectionState {
  /** The response of the request whose body is still arriving (at most one at a time). */
  receiving: http.ServerResponse | undefined;
  /** Requests received whole and not yet answered. */
  answering: number;
  /** Requests whose headers arrived, ever. */
  requests: number;
  /** Set when the deadline passed: the connection is closed once owed answers are sent. */
  cut?: { requestsAtDeadline: number; headersHadArrived: boolean; answer: (headers: http.IncomingHttpHeaders | undefined) => HttpAnswer };
}

const connections = new WeakMap<net.Socket, ConnectionState>();

function connectionState(socket: net.Socket): ConnectionState {
  let state = connections.get(socket);
  if (state === undefined) {
    state = { receiving: undefined, answering: 0, requests: 0 };
    connections.set(socket, state);
  }
  return state;
}

/**
 * A request did not arrive whole in time. Answers already owed on this connection are sent
 * first (in order, as HTTP requires); then the cut request gets the protocol's answer (nothing
 * was applied; retry) and the connection is closed. A connection that never sent a byte is just
 * closed: there is no request to answer, and an unasked-for answer would be read as the reply
 * to the client's next request.
 */
function onRequestDeadline(protocol: HttpProtocol, socket: net.Socket, timeoutMs: number): void {
  const state = connectionState(socket);
  state.cut = {
    requestsAtDeadline: state.requests,
    headersHadArrived: state.receiving !== undefined,
    answer: (headers) => protocol.timedOut(timeoutMs, headers),
  };
  if (state.answering === 0) cutConnection(socket, state);
}

function cutConnection(socket: net.Socket, state: ConnectionState): void {
  const cut = state.cut;
  if (cut === undefined || socket.destroyed || socket.bytesRead === 0) {
    socket.destroy();
    return;
  }
  const res = state.receiving;
  if (res !== undefined && !res.headersSent) {
    // Its headers arrived, its body did not: answer through node:http.
    send(res, cut.answer(res.req.headers), true);
  } else if (!cut.headersHadArrived && state.requests === cut.requestsAtDeadline) {
    // Its headers are still incomplete: node:http has no response for it, so write one.
    writeRawAnswer(socket, cut.answer(undefined));
  }
  // Otherwise the late request did arrive meanwhile and has been answered.
  // Read nothing more: whatever else arrives is not answered.
  socket.pause();
  closeSoon(socket);
}

/**
 * An answer (with Connection: close) written straight to the socket, for a request node:http
 * has no response object for (its headers never arrived whole).
 */
function writeRawAnswer(socket: net.Socket, answer: HttpAnswer): void {
  let head = `HTTP/1.1 ${answer.status} ${http.STATUS_CODES[answer.status] ?? 'Unknown'}\r\n`;
  for (const [name, value] of Object.entries(answer.headers)) head += `${name}: ${value}\r\n`;
  head += `Connection: close\r\nContent-Length: ${answer.body.length}\r\n\r\n`;
  socket.write(Buffer.concat([Buffer.from(head, 'latin1'), answer.body]));
}

/** End the connection now, and destroy it if the client has not closed its side soon after. */
function closeSoon(socket: net.Socket): void {
  socket.end();
  const timer = setTimeout(() => socket.destroy(), CLOSE_DELAY_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

function serveRequest(protocol: HttpProtocol, req: http.IncomingMessage, res: http.ServerResponse, tls: boolean): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  let path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  // Absolute-form request target (via a proxy): keep only the path.
  const abs = /^https?:\/\/[^/]*/i.exec(path);
  if (abs) path = path.slice(abs[0].length) || '/';
  const host = req.headers.host ?? '';
  const method = req.method ?? 'GET';

  const conn = connectionState(req.socket);
  conn.requests++;
  conn.receiving = res;
  res.once('close', () => {
    if (conn.receiving === res) conn.receiving = undefined;
  });
  const declared = Number(req.headers['content-length']);
  if (declared > LIMITS.requestBytesMax) {
    refuseOversize(protocol, req, res);
    return;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  let refused = false;
  req.on('data', (chunk: Buffer) => {
    if (refused) return;
    total += chunk.length;
    if (total > LIMITS.requestBytesMax) {
      refused = true;
      chunks.length = 0;
      refuseOversize(protocol, req, res);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (conn.receiving === res) conn.receiving = undefined;
    if (refused) return;
    conn.answering++;
    res.once('close', () => {
      conn.answering--;
      if (conn.answering === 0 && conn.cut !== undefined) cutConnection(req.socket, conn);
    });
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
    const input: HttpRequest = { method, host, path, query, headers: req.headers, body, tls };
    if (req.socket.remoteAddress !== undefined) input.remote = req.socket.remoteAddress;
    protocol.serve(input).then(
      (answer) => send(res, answer, false),
      (e: unknown) => send(res, protocol.failed(e), false),
    );
  });
  req.on('error', () => {
    // The client went away mid-body; nothing to answer.
  });
}

/** Answer "too large" now, stop buffering, and close the connection once the answer had time to leave. */
function refuseOversize(protocol: HttpProtocol, req: http.IncomingMessage, res: http.ServerResponse): void {
  send(res, protocol.tooLarge(req.headers), true);
  // Discard (not buffer) whatever is still arriving, then cut the connection.
  req.resume();
  const timer = setTimeout(() => req.socket.destroy(), CLOSE_DELAY_MS);
  timer.unref();
  req.socket.once('close', () => clearTimeout(timer));
}

function send(res: http.ServerResponse, answer: HttpAnswer, close: boolean): void {
  if (res.headersSent || res.destroyed) return;
  const headers: http.OutgoingHttpHeaders = { ...answer.headers, 'Content-Length': answer.body.length };
  if (close) headers['Connection'] = 'close';
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}

/** A thrown value as text for the log: its stack when it has one (a bug is being reported). */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  try {
    return String(e);
  } catch {
    return 'unprintable exception';
  }
}
