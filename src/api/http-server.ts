// The CMQ HTTP endpoint: node:http plus our own form parsing, at every path (spec §1.1 [rec]).
// `handleCmqRequest` is the whole request pipeline without sockets (tests drive it directly):
// method → parameters → authentication → action → response object. Whatever happens, the answer
// is HTTP 200 with a JSON envelope (spec §1.5); exceptions become 6000/10050 and are logged.

import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import { errorKind, fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { capConnectionsPerClient } from './client-cap';
import { buildActionTable, type ActionTable, type ApiCompat } from './actions';
import { createAuthenticator, type AuthConfig, type Authenticator } from './auth';
import { parseForm } from './form';
import { ADMIN_ACTIONS } from './admin-actions';
import { REDRIVE_ACTIONS } from './redrive-action';
import { QUEUE_ACTIONS } from './queue-actions';
import { TOPIC_ACTIONS } from './topic-actions';
import { clientRequestIdEcho, renderOutcome, responseBytes, responseJson, type ActionOutcome } from './response';
import { loggerFor, LogRateLimit, type Logger, type LogSink } from '../protocol/log';
import { NO_OBSERVER, type RequestObserver } from '../service/observer';
import type { QueueService } from '../service/queue-service';
import { validTraceparent, type RequestContext } from '../service/request-context';

export interface ApiOptions {
  service: QueueService;
  auth: AuthConfig;
  /** Where internal errors and refused signatures are reported (default: stderr lines). */
  log?: LogSink;
  /** Clock of the auth-failure log's per-minute window, in ms (default performance.now; tests step it). */
  logClockMs?: () => number;
  /** Prefix of every requestId (default: 8 random hex digits and '-'). */
  requestIdPrefix?: string;
  /**
   * Consulted for every request: a promise of the response when another node should answer it
   * (a follower forwarding to its leader), undefined to handle it here. A Buffer is a response
   * already serialised (the leader's bytes), sent as is: re-parsing it would round a
   * clientRequestId above 2^53. `ctx` is the request's context, to send along.
   */
  forward?: (input: CmqRequestInput, ctx: RequestContext) => Promise<Record<string, unknown> | Buffer> | undefined;
  /** Opt-in spec deviations for particular clients. */
  compat?: ApiCompat;
  /**
   * Told of every request this context executed (metrics): the action as the table names it
   * ("unknown" when absent or not an action), the CMQ result code, and the seconds it took.
   */
  onRequestDone?: (action: string, code: number, seconds: number) => void;
  /** Told of every request this context executed, protocol-neutrally (default: nobody). */
  observer?: RequestObserver;
}

export interface ApiContext {
  readonly service: QueueService;
  readonly authenticator: Authenticator;
  readonly actions: ActionTable;
  readonly log: Logger;
  /** Failed authentications are logged at most this often per reason (a flood must not flood the log). */
  readonly authFailureLogs: LogRateLimit;
  readonly compat?: ApiCompat;
  readonly onRequestDone?: ApiOptions['onRequestDone'];
  readonly observer: RequestObserver;
  nextRequestId(): string;
}

export interface CmqRequestInput {
  method: string;
  /** The Host header as received (signed as is). */
  host: string;
  /** The path without the query. */
  path: string;
  /** The query string without '?'. */
  query: string;
  body: Buffer;
  /** The client's address, when known (for logs). */
  remote?: string;
  /** The W3C `traceparent` header, when the client sent exactly one. */
  traceparent?: string;
}

/** All actions served. */
const DEFAULT_ACTIONS: ActionTable = buildActionTable(QUEUE_ACTIONS, TOPIC_ACTIONS, ADMIN_ACTIONS, REDRIVE_ACTIONS);

export function createApiContext(opts: ApiOptions): ApiContext {
  const prefix = opts.requestIdPrefix ?? randomBytes(4).toString('hex') + '-';
  let counter = 0;
  return {
    service: opts.service,
    authenticator: createAuthenticator(opts.auth),
    actions: DEFAULT_ACTIONS,
    log: loggerFor(opts.log, 'api', (line: string) => process.stderr.write(line + '\n')),
    authFailureLogs: new LogRateLimit(LIMITS.authFailureLogsPerMinute, 60_000, opts.logClockMs ?? (() => performance.now())),
    ...(opts.compat ? { compat: opts.compat } : {}),
    ...(opts.onRequestDone ? { onRequestDone: opts.onRequestDone } : {}),
    observer: opts.observer ?? NO_OBSERVER,
    nextRequestId: () => prefix + String(++counter),
  };
}

/** The context of a request that arrived here whole just now: a fresh requestId, who sent it. */
export function newRequestContext(ctx: ApiContext, input: CmqRequestInput): RequestContext {
  const rc: { -readonly [K in keyof RequestContext]: RequestContext[K] } = {
    requestId: ctx.nextRequestId(),
    clientAddress: input.remote ?? '',
    receivedAtMs: Date.now(),
  };
  const tp = validTraceparent(input.traceparent);
  if (tp !== undefined) rc.traceparent = tp;
  return rc;
}

/**
 * Run one CMQ request and return the response body. Never throws. `rc` is the request's context
 * when it was made elsewhere (by the follower that forwarded the request); else a new one.
 */
export async function handleCmqRequest(ctx: ApiContext, input: CmqRequestInput, rc: RequestContext = newRequestContext(ctx, input)): Promise<Record<string, unknown>> {
  const requestId = rc.requestId;
  const started = performance.now();
  const echo: RequestFacts = {};
  let outcome: ActionOutcome;
  try {
    outcome = await runRequest(ctx, input, rc, echo);
    if (!outcome.ok && outcome.error === 'internalError') {
      ctx.log.error(`internal error in request ${requestId}: ${outcome.detail ?? '(no detail)'}`, { requestId });
    }
  } catch (e) {
    // Services answer expected failures as results: whatever is thrown is a bug.
    ctx.log.error(`internal error in request ${requestId}: ${describeError(e)}`, { requestId });
    outcome = fail('internalError');
  }
  const body = renderOutcome(outcome, requestId);
  if (echo.value !== undefined) body['clientRequestId'] = echo.value;
  const elapsedMs = performance.now() - started;
  const action = echo.action ?? 'unknown';
  ctx.onRequestDone?.(action, body['code'] as number, elapsedMs / 1000);
  ctx.observer.served(action, rc, outcome.ok ? 'ok' : errorKind(outcome.error), elapsedMs);
  return body;
}

/** What runRequest learned that the caller reports: the clientRequestId echo, the action's name. */
interface RequestFacts {
  value?: number | bigint;
  action?: string;
}

async function runRequest(ctx: ApiContext, input: CmqRequestInput, rc: RequestContext, echo: RequestFacts): Promise<ActionOutcome> {
  const method = input.method.toUpperCase();
  if (method !== 'GET' && method !== 'POST') return fail('httpMethod', method);
  // POST: the body whatever the Content-Type; the query only when the body is empty (spec §1.2).
  const source: Buffer | string = method === 'POST' && input.body.length > 0 ? input.body : input.query;
  const size = typeof source === 'string' ? Buffer.byteLength(source, 'utf8') : source.length;
  if (size > LIMITS.requestBytesMax) return tooLarge();
  const parsed = parseForm(source);
  if (!parsed.ok) return parsed;
  const params = parsed.params;
  const clientRequestId = clientRequestIdEcho(params.get('clientRequestId'));
  if (clientRequestId !== undefined) echo.value = clientRequestId;

  const authError = ctx.authenticator.verify({ method, host: input.host, path: input.path, params });
  if (authError) {
    logAuthFailure(ctx, authError, params.get('SecretId'), params.get('Action'), input.remote);
    return authError;
  }

  const action = params.get('Action');
  if (action === undefined || action === '') return fail('missingParam', 'Action');
  const entry = ctx.actions.get(action.toLowerCase());
  if (entry === undefined) return fail('actionNameNotExist', action);
  // The table's spelling, not the client's: a bounded set of metric labels.
  echo.action = entry.name;
  const handler = entry.handler;
  return handler(ctx.compat ? { service: ctx.service, ctx: rc, compat: ctx.compat } : { service: ctx.service, ctx: rc }, params);
}

/** A refused signature, as a rate-limited warning: who tried what, never the signature itself. */
function logAuthFailure(ctx: ApiContext, err: ErrorResult, secretId: string | undefined, action: string | undefined, remote: string | undefined): void {
  const admitted = ctx.authFailureLogs.admit(err.error);
  if (!admitted) return;
  const suppressed = admitted.suppressed > 0 ? ` (${admitted.suppressed} more of these were not logged in the last minute)` : '';
  ctx.log.warn(`authentication failed: ${err.error}${err.arg !== undefined ? ` (${err.arg})` : ''}${err.detail !== undefined ? ` ${err.detail}` : ''}${suppressed}`, {
    reason: err.error,
    ...(secretId !== undefined ? { secretId } : {}),
    ...(action !== undefined ? { action } : {}),
    ...(remote !== undefined ? { remote } : {}),
    ...(admitted.suppressed > 0 ? { suppressed: admitted.suppressed } : {}),
  });
}

function tooLarge(): ErrorResult {
  return fail('cannotParse', 'request', `(more than ${LIMITS.requestBytesMax} bytes)`);
}

function describeError(e: unknown): string {
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  try {
    return String(e);
  } catch {
    return 'unprintable exception';
  }
}

export interface ApiServerOptions extends ApiOptions {
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

/** An HTTP server answering CMQ requests at any path. Call `.listen()` on it. */
export function createApiServer(opts: ApiServerOptions): http.Server {
  const ctx = createApiContext(opts);
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
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    serveRequest(ctx, req, res, opts.forward);
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
      onRequestDeadline(ctx, socket, requestTimeout);
      return;
    }
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      // Keep the CMQ contract (HTTP 200 + JSON) for an over-long GET URL.
      writeRawAnswer(socket, renderOutcome(tooLarge(), ctx.nextRequestId()));
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
  cut?: { requestsAtDeadline: number; headersHadArrived: boolean; answer: () => Record<string, unknown> };
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
 * first (in order, as HTTP requires); then the cut request gets a CMQ answer (nothing was
 * applied; retry) and the connection is closed. A connection that never sent a byte is just
 * closed: there is no request to answer, and an unasked-for answer would be read as the reply
 * to the client's next request.
 */
function onRequestDeadline(ctx: ApiContext, socket: net.Socket, timeoutMs: number): void {
  const state = connectionState(socket);
  state.cut = {
    requestsAtDeadline: state.requests,
    headersHadArrived: state.receiving !== undefined,
    answer: () => renderOutcome(fail('notApplied', undefined, `(request not received within ${timeoutMs / 1000} s)`), ctx.nextRequestId()),
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
    send(res, cut.answer(), true);
  } else if (!cut.headersHadArrived && state.requests === cut.requestsAtDeadline) {
    // Its headers are still incomplete: node:http has no response for it, so write one.
    writeRawAnswer(socket, cut.answer());
  }
  // Otherwise the late request did arrive meanwhile and has been answered.
  // Read nothing more: whatever else arrives is not answered.
  socket.pause();
  closeSoon(socket);
}

/**
 * A CMQ answer (HTTP 200, JSON, Connection: close) written straight to the socket, for a request
 * node:http has no response object for (its headers never arrived whole).
 */
function writeRawAnswer(socket: net.Socket, answer: Record<string, unknown>): void {
  const body = responseJson(answer);
  socket.write(
    'HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** End the connection now, and destroy it if the client has not closed its side soon after. */
function closeSoon(socket: net.Socket): void {
  socket.end();
  const timer = setTimeout(() => socket.destroy(), CLOSE_DELAY_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

function serveRequest(
  ctx: ApiContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  forward: ApiOptions['forward'],
): void {
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
    refuseOversize(ctx, req, res);
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
      refuseOversize(ctx, req, res);
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
    const input: CmqRequestInput = { method, host, path, query, body };
    if (req.socket.remoteAddress !== undefined) input.remote = req.socket.remoteAddress;
    const traceparent = req.headers['traceparent'];
    if (typeof traceparent === 'string') input.traceparent = traceparent;
    const rc = newRequestContext(ctx, input);
    const forwarded = forward?.(input, rc);
    (forwarded ?? handleCmqRequest(ctx, input, rc)).then(
      (r) => send(res, r, false),
      (e: unknown) => {
        // handleCmqRequest does not reject; this is a last resort.
        ctx.log.error(`unexpected rejection in request ${rc.requestId}: ${describeError(e)}`, { requestId: rc.requestId });
        send(res, renderOutcome(fail('internalError'), rc.requestId), false);
      },
    );
  });
  req.on('error', () => {
    // The client went away mid-body; nothing to answer.
  });
}

/** Answer 10420 now, stop buffering, and close the connection once the answer had time to leave. */
function refuseOversize(ctx: ApiContext, req: http.IncomingMessage, res: http.ServerResponse): void {
  send(res, renderOutcome(tooLarge(), ctx.nextRequestId()), true);
  // Discard (not buffer) whatever is still arriving, then cut the connection.
  req.resume();
  const timer = setTimeout(() => req.socket.destroy(), CLOSE_DELAY_MS);
  timer.unref();
  req.socket.once('close', () => clearTimeout(timer));
}

function send(res: http.ServerResponse, body: Record<string, unknown> | Buffer, close: boolean): void {
  if (res.headersSent || res.destroyed) return;
  const json = Buffer.isBuffer(body) ? body : responseBytes(body);
  const headers: http.OutgoingHttpHeaders = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': json.length,
  };
  if (close) headers['Connection'] = 'close';
  res.writeHead(200, headers);
  res.end(json);
}
