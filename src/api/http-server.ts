// The CMQ HTTP endpoint: node:http plus our own form parsing, at every path (spec §1.1 [rec]).
// `handleCmqRequest` is the whole request pipeline without sockets (tests drive it directly):
// method → parameters → authentication → action → response object. Whatever happens, the answer
// is HTTP 200 with a JSON envelope (spec §1.5); exceptions become 6000/10050 and are logged.

import { randomBytes } from 'node:crypto';
import type * as http from 'node:http';
import { errorKind, fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { createHttpListener, describeError, type HttpAnswer, type HttpProtocol, type HttpRequest, type ListenerOptions } from './http-listener';
import { buildActionTable, type ActionTable, type ApiCompat } from './actions';
import { createAuthenticator, type AuthConfig, type Authenticator } from './auth';
import { parseForm } from './form';
import { ADMIN_ACTIONS } from './admin-actions';
import { MOVE_QUEUE_ACTIONS } from './move-queue-action';
import { REDRIVE_ACTIONS } from './redrive-action';
import { QUEUE_ACTIONS } from './queue-actions';
import { TOPIC_ACTIONS } from './topic-actions';
import { clientRequestIdEcho, renderOutcome, responseBytes, type ActionOutcome } from './response';
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
const DEFAULT_ACTIONS: ActionTable = buildActionTable(QUEUE_ACTIONS, TOPIC_ACTIONS, ADMIN_ACTIONS, REDRIVE_ACTIONS, MOVE_QUEUE_ACTIONS);

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


export interface ApiServerOptions extends ApiOptions, ListenerOptions {}

/** An HTTP server answering CMQ requests at any path. Call `.listen()` on it. */
export function createApiServer(opts: ApiServerOptions): http.Server {
  return createHttpListener(cmqProtocol(createApiContext(opts), opts.forward), opts);
}

/**
 * CMQ on the shared listener: every answer, the listener's own refusals included, is HTTP 200
 * with a JSON envelope (spec §1.5).
 */
function cmqProtocol(ctx: ApiContext, forward: ApiOptions['forward']): HttpProtocol {
  return {
    async serve(req: HttpRequest): Promise<HttpAnswer> {
      const input: CmqRequestInput = { method: req.method, host: req.host, path: req.path, query: req.query, body: req.body };
      if (req.remote !== undefined) input.remote = req.remote;
      const traceparent = req.headers['traceparent'];
      if (typeof traceparent === 'string') input.traceparent = traceparent;
      const rc = newRequestContext(ctx, input);
      const forwarded = forward?.(input, rc);
      try {
        return cmqAnswer(await (forwarded ?? handleCmqRequest(ctx, input, rc)));
      } catch (e) {
        // handleCmqRequest does not reject; this is a last resort.
        ctx.log.error(`unexpected rejection in request ${rc.requestId}: ${describeError(e)}`, { requestId: rc.requestId });
        return cmqAnswer(renderOutcome(fail('internalError'), rc.requestId));
      }
    },
    tooLarge: () => cmqAnswer(renderOutcome(tooLarge(), ctx.nextRequestId())),
    // Keep the CMQ contract (HTTP 200 + JSON) for an over-long GET URL.
    headersTooLarge: () => cmqAnswer(renderOutcome(tooLarge(), ctx.nextRequestId())),
    timedOut: (timeoutMs: number): HttpAnswer =>
      cmqAnswer(renderOutcome(fail('notApplied', undefined, `(request not received within ${timeoutMs / 1000} s)`), ctx.nextRequestId())),
    failed: (e: unknown) => {
      const requestId = ctx.nextRequestId();
      ctx.log.error(`unexpected rejection in request ${requestId}: ${describeError(e)}`, { requestId });
      return cmqAnswer(renderOutcome(fail('internalError'), requestId));
    },
  };
}

function cmqAnswer(body: Record<string, unknown> | Buffer): HttpAnswer {
  return {
    status: 200,
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
    body: Buffer.isBuffer(body) ? body : responseBytes(body),
  };
}
