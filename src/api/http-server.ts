// The CMQ HTTP endpoint: node:http plus our own form parsing, at every path (spec §1.1 [rec]).
// `handleCmqRequest` is the whole request pipeline without sockets (tests drive it directly):
// method → parameters → authentication → action → response object. Whatever happens, the answer
// is HTTP 200 with a JSON envelope (spec §1.5); exceptions become 6000/10050 and are logged.

import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { buildActionTable, findAction, type ActionTable, type ApiCompat } from './actions';
import { createAuthenticator, type AuthConfig, type Authenticator } from './auth';
import { parseForm } from './form';
import { ADMIN_ACTIONS } from './admin-actions';
import { QUEUE_ACTIONS } from './queue-actions';
import { TOPIC_ACTIONS } from './topic-actions';
import { clientRequestIdEcho, renderOutcome, responseJson, type ActionOutcome } from './response';
import type { QueueService } from './service';

export interface ApiOptions {
  service: QueueService;
  auth: AuthConfig;
  /** Where internal errors are reported (default: stderr). */
  log?: (line: string) => void;
  /** Prefix of every requestId (default: 8 random hex digits and '-'). */
  requestIdPrefix?: string;
  /**
   * Consulted for every request: a promise of the response when another node should answer it
   * (a follower forwarding to its leader), undefined to handle it here.
   */
  forward?: (input: CmqRequestInput) => Promise<Record<string, unknown>> | undefined;
  /** Opt-in spec deviations for particular clients. */
  compat?: ApiCompat;
}

export interface ApiContext {
  readonly service: QueueService;
  readonly authenticator: Authenticator;
  readonly actions: ActionTable;
  readonly log: (line: string) => void;
  readonly compat?: ApiCompat;
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
}

/** All actions served. */
const DEFAULT_ACTIONS: ActionTable = buildActionTable(QUEUE_ACTIONS, TOPIC_ACTIONS, ADMIN_ACTIONS);

export function createApiContext(opts: ApiOptions): ApiContext {
  const prefix = opts.requestIdPrefix ?? randomBytes(4).toString('hex') + '-';
  let counter = 0;
  return {
    service: opts.service,
    authenticator: createAuthenticator(opts.auth),
    actions: DEFAULT_ACTIONS,
    log: opts.log ?? ((line: string) => process.stderr.write(line + '\n')),
    ...(opts.compat ? { compat: opts.compat } : {}),
    nextRequestId: () => prefix + String(++counter),
  };
}

/** Run one CMQ request and return the response body. Never throws. */
export async function handleCmqRequest(ctx: ApiContext, input: CmqRequestInput): Promise<Record<string, unknown>> {
  const requestId = ctx.nextRequestId();
  const echo: { value?: number | bigint } = {};
  let outcome: ActionOutcome;
  try {
    outcome = await runRequest(ctx, input, echo);
    if (!outcome.ok && outcome.error === 'internalError') {
      ctx.log(`opencmq api: internal error in request ${requestId}: ${outcome.detail ?? '(no detail)'}`);
    }
  } catch (e) {
    ctx.log(`opencmq api: internal error in request ${requestId}: ${describeError(e)}`);
    outcome = fail('internalError');
  }
  const body = renderOutcome(outcome, requestId);
  if (echo.value !== undefined) body['clientRequestId'] = echo.value;
  return body;
}

async function runRequest(
  ctx: ApiContext,
  input: CmqRequestInput,
  echo: { value?: number | bigint },
): Promise<ActionOutcome> {
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
  if (authError) return authError;

  const action = params.get('Action');
  if (action === undefined || action === '') return fail('missingParam', 'Action');
  const handler = findAction(ctx.actions, action);
  if (handler === undefined) return fail('actionNameNotExist', action);
  return handler(ctx.compat ? { service: ctx.service, compat: ctx.compat } : { service: ctx.service }, params);
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
  /** Idle keep-alive connections are closed after this long (default 65 s, above common client pools' checks). */
  keepAliveTimeoutMs?: number;
  /** Serve HTTPS with these options (certificate, key, client CA) instead of HTTP. */
  tls?: https.ServerOptions;
}

/** Headers (and so GET query strings) may be as large as a request body (spec §1.2: 1 MB). */
const MAX_HEADER_BYTES = LIMITS.requestBytesMax + 64 * 1024;
/** After refusing an oversized body, give the client this long to read the answer before closing. */
const OVERSIZE_CLOSE_DELAY_MS = 2000;

/** An HTTP server answering CMQ requests at any path. Call `.listen()` on it. */
export function createApiServer(opts: ApiServerOptions): http.Server {
  const ctx = createApiContext(opts);
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    serveRequest(ctx, req, res, opts.forward);
  };
  // An https.Server is an http.Server with TLS underneath: same settings, same events.
  const server = opts.tls
    ? (https.createServer({ ...opts.tls, maxHeaderSize: MAX_HEADER_BYTES }, handler) as unknown as http.Server)
    : http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, handler);
  server.maxConnections = LIMITS.httpConnectionsMax;
  server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 65_000;
  // Kept above keepAliveTimeout (the usual advice, so a reused connection is never cut by the
  // headers timer first); still below node's requestTimeout (300 s).
  server.headersTimeout = server.keepAliveTimeout + 5_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      // Keep the CMQ contract (HTTP 200 + JSON) for an over-long GET URL.
      const body = responseJson(renderOutcome(tooLarge(), ctx.nextRequestId()));
      socket.end(
        'HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  return server;
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
    if (refused) return;
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
    const input: CmqRequestInput = { method, host, path, query, body };
    (forward?.(input) ?? handleCmqRequest(ctx, input)).then(
      (r) => send(res, r, false),
      (e: unknown) => {
        // handleCmqRequest does not reject; this is a last resort.
        ctx.log(`opencmq api: unexpected rejection: ${describeError(e)}`);
        send(res, renderOutcome(fail('internalError'), ctx.nextRequestId()), false);
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
  const timer = setTimeout(() => req.socket.destroy(), OVERSIZE_CLOSE_DELAY_MS);
  timer.unref();
  req.socket.once('close', () => clearTimeout(timer));
}

function send(res: http.ServerResponse, body: Record<string, unknown>, close: boolean): void {
  if (res.headersSent || res.destroyed) return;
  const json = Buffer.from(responseJson(body), 'utf8');
  const headers: http.OutgoingHttpHeaders = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': json.length,
  };
  if (close) headers['Connection'] = 'close';
  res.writeHead(200, headers);
  res.end(json);
}
