// The SQS wire: everything between an HTTP request and an SqsAction. Two protocols arrive on the
// same listener:
//
// - AWS JSON 1.0: POST with `X-Amz-Target: AmazonSQS.<Action>` and a JSON object body; answered
//   with JSON, errors as `{"__type", "message"}` plus the `x-amzn-query-error` header current
//   AWS SDKs read the error code from.
// - AWS query: `Action=<Action>&Version=2012-11-05&...` as a form body (or a GET query);
//   answered with XML, errors as `<ErrorResponse>`.
//
// Both are parsed into the action's input in the JSON 1.0 shape (./query-input.ts), checked
// against the service model's shapes (./shapes.ts), authenticated with AWS Signature Version 4
// against the same credentials as the CMQ API, run, and rendered back in the request's protocol.
// `handleSqsRequest` never throws: whatever happens is an answer.

import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { CMQ_CODES } from '../../protocol/cmq-codes';
import { errorKind, errorText, fail, type ErrorName, type ErrorResult } from '../../protocol/errors';
import { LIMITS } from '../../protocol/limits';
import { loggerFor, LogRateLimit, type Logger, type LogSink } from '../../protocol/log';
import { SQS_CODES } from '../../protocol/sqs-codes';
import { NO_OBSERVER, type RequestObserver } from '../../service/observer';
import type { QueueService } from '../../service/queue-service';
import { validTraceparent, type RequestContext } from '../../service/request-context';
import type { AuthConfig } from '../auth';
import { parseForm, type FormParams } from '../form';
import { describeError, type HttpAnswer, type HttpRequest } from '../http-listener';
import { jsonBytes } from '../json-bytes';
import { runPlainSend, servesStandardSend } from './plain-send';
import { readPlainSend, type PlainSend } from './plain-send-reader';
import { jsonInput, queryInput, type InputResult } from './query-input';
import { sqsOperation, type SqsOperation } from './shapes';
import type { SigV4Failure, SigV4Request, SigV4Result } from './sigv4';
import type { SqsAction, SqsEnv, SqsInput, SqsOutput } from './types';
import { renderXmlError, renderXmlResult } from './xml-output';

/** The account id of queue URLs and ARNs: one per server, as LocalStack-style emulators use. */
export const SQS_DEFAULT_ACCOUNT_ID = '000000000000';
/** The region of ARNs when the request was not signed (a signed one names its own). */
export const SQS_DEFAULT_REGION = 'us-east-1';
/** The only API version there is; a query request naming another is refused. */
export const SQS_API_VERSION = '2012-11-05';
/** The JSON 1.0 namespace of error shapes (`__type`). */
const ERROR_NAMESPACE = 'com.amazonaws.sqs#';
const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';
const XML_CONTENT_TYPE = 'text/xml';
const TARGET_PREFIX = 'AmazonSQS.';

export type { SigV4Failure, SigV4Request, SigV4Result };

/**
 * Checks an AWS Signature Version 4 (header or presigned query); `secretOf` gives an access key
 * id's secret. Injected (./sigv4.ts's verifySigV4 in the server), so tests can fake the outcome.
 */
export type VerifySigV4 = (req: SigV4Request, secretOf: (accessKeyId: string) => string | undefined, nowMs: number) => SigV4Result;

/** The registry name of each signature failure. */
const SIGNATURE_FAILURES: Readonly<Record<SigV4Failure, ErrorName>> = {
  missing: 'authMissing',
  incomplete: 'authIncomplete',
  unknownKey: 'secretIdNotExist',
  mismatch: 'authFailed',
  expired: 'authExpired',
};

export interface SqsWireOptions {
  service: QueueService;
  /** The CMQ API's: a SecretId is an access key id, its SecretKey the secret access key. */
  auth: AuthConfig;
  /** The actions served, by their SQS names. */
  actions: Readonly<Record<string, SqsAction>>;
  verifySigV4: VerifySigV4;
  /** Default SQS_DEFAULT_ACCOUNT_ID. */
  accountId?: string;
  /** Default SQS_DEFAULT_REGION. */
  region?: string;
  /** Where internal errors and refused signatures are reported (default: stderr lines). */
  log?: LogSink;
  /** Clock of the auth-failure log's per-minute window, in ms (default performance.now). */
  logClockMs?: () => number;
  /** Wall clock for signature dates, in ms (default Date.now). */
  nowMs?: () => number;
  /** Prefix of every requestId (default: 8 random hex digits and '-'). */
  requestIdPrefix?: string;
  /**
   * Told of every request (metrics), as the CMQ API tells it: the action as `sqs:<Action>`
   * ("sqs:unknown" when it names none the API has), the CMQ code of its error (0 when it
   * succeeded: one code per error, whichever protocol carried it), the seconds it took.
   */
  onRequestDone?: (action: string, code: number, seconds: number) => void;
  /** Told of every request, protocol-neutrally (default: nobody). */
  observer?: RequestObserver;
}

export interface SqsContext {
  readonly service: QueueService;
  readonly actions: Readonly<Record<string, SqsAction>>;
  readonly verifySigV4: VerifySigV4;
  /** undefined on an open server (no credentials). */
  readonly secretOf: ((accessKeyId: string) => string | undefined) | undefined;
  readonly accountId: string;
  readonly region: string;
  readonly log: Logger;
  readonly authFailureLogs: LogRateLimit;
  readonly nowMs: () => number;
  readonly onRequestDone?: SqsWireOptions['onRequestDone'];
  readonly observer: RequestObserver;
  nextRequestId(): string;
}

export function createSqsContext(opts: SqsWireOptions): SqsContext {
  const prefix = opts.requestIdPrefix ?? randomBytes(4).toString('hex') + '-';
  let counter = 0;
  let secretOf: SqsContext['secretOf'];
  let nowMs = opts.nowMs ?? Date.now;
  if (opts.auth.mode === 'signature') {
    const keys = new Map<string, string>();
    for (const c of opts.auth.credentials) if (!keys.has(c.secretId)) keys.set(c.secretId, c.secretKey);
    secretOf = (id) => keys.get(id);
    nowMs = opts.nowMs ?? opts.auth.nowMs ?? Date.now;
  }
  return {
    service: opts.service,
    actions: opts.actions,
    verifySigV4: opts.verifySigV4,
    secretOf,
    accountId: opts.accountId ?? SQS_DEFAULT_ACCOUNT_ID,
    region: opts.region ?? SQS_DEFAULT_REGION,
    log: loggerFor(opts.log, 'sqs', (line: string) => process.stderr.write(line + '\n')),
    authFailureLogs: new LogRateLimit(LIMITS.authFailureLogsPerMinute, 60_000, opts.logClockMs ?? (() => performance.now())),
    nowMs,
    ...(opts.onRequestDone ? { onRequestDone: opts.onRequestDone } : {}),
    observer: opts.observer ?? NO_OBSERVER,
    nextRequestId: () => prefix + String(++counter),
  };
}

export type SqsProtocolName = 'json' | 'query';

/** The protocol a request speaks, from its headers alone: JSON 1.0 names its action in X-Amz-Target. */
export function sqsProtocolOf(headers: IncomingHttpHeaders): SqsProtocolName {
  return headers['x-amz-target'] !== undefined ? 'json' : 'query';
}

/** What a request asks, once parsed: the action, its operation and its input. */
interface Parsed {
  action: string;
  operation: SqsOperation;
  input: SqsInput;
}

/** Run one SQS request and return its answer. Never throws. */
export async function handleSqsRequest(ctx: SqsContext, req: HttpRequest): Promise<HttpAnswer> {
  const rc = newSqsRequestContext(ctx, req);
  const protocol = sqsProtocolOf(req.headers);
  const started = performance.now();
  const facts: { action?: string } = {};
  let outcome: Outcome;
  try {
    outcome = await runRequest(ctx, req, rc, protocol, facts);
    if (!outcome.ok && outcome.error === 'internalError') {
      ctx.log.error(`internal error in request ${rc.requestId}: ${outcome.detail ?? '(no detail)'}`, { requestId: rc.requestId });
    }
  } catch (e) {
    // Actions answer expected failures as results: whatever is thrown is a bug.
    ctx.log.error(`internal error in request ${rc.requestId}: ${describeError(e)}`, { requestId: rc.requestId });
    outcome = fail('internalError');
  }
  const elapsedMs = performance.now() - started;
  const label = `sqs:${facts.action ?? 'unknown'}`;
  ctx.onRequestDone?.(label, outcome.ok ? 0 : CMQ_CODES[outcome.error].code, elapsedMs / 1000);
  ctx.observer.served(label, rc, outcome.ok ? 'ok' : errorKind(outcome.error), elapsedMs);
  if (!outcome.ok) return sqsErrorAnswer(protocol, outcome, rc.requestId);
  if (outcome.rendered !== undefined) return jsonAnswer(outcome.rendered, rc.requestId);
  return sqsResultAnswer(protocol, outcome.action, outcome.operation, outcome.output, rc.requestId);
}

/** What a request came to: its output (or, from a plain send, its JSON answer already rendered), or an error. */
type Outcome = { ok: true; action: string; operation: SqsOperation; output: SqsOutput; rendered?: Buffer } | ErrorResult;

export function newSqsRequestContext(ctx: SqsContext, req: HttpRequest): RequestContext {
  const rc: { -readonly [K in keyof RequestContext]: RequestContext[K] } = {
    requestId: ctx.nextRequestId(),
    clientAddress: req.remote ?? '',
    receivedAtMs: Date.now(),
  };
  const traceparent = req.headers['traceparent'];
  const tp = validTraceparent(typeof traceparent === 'string' ? traceparent : undefined);
  if (tp !== undefined) rc.traceparent = tp;
  return rc;
}

async function runRequest(
  ctx: SqsContext,
  req: HttpRequest,
  rc: RequestContext,
  protocol: SqsProtocolName,
  facts: { action?: string },
): Promise<Outcome> {
  const method = req.method.toUpperCase();
  const plain = protocol === 'json' ? plainSendOf(ctx, req, method) : undefined;
  if (plain !== undefined) return runPlain(ctx, req, rc, plain, facts);
  // The action is named before anything is checked, so the metrics can say which one failed.
  const request = protocol === 'json' ? jsonRequest(req, method) : queryRequest(req, method);
  if (!request.ok) return request;
  if (sqsOperation(request.action) !== undefined) facts.action = request.action;

  const signer = authenticate(ctx, req, method, request.params, request.action);
  if (!signer.ok) return signer;

  const parsed = parseInput(request);
  if (!parsed.ok) return parsed;
  const input = withQueueUrlFromPath(parsed, req);
  const action = ctx.actions[parsed.action];
  if (action === undefined || !Object.prototype.hasOwnProperty.call(ctx.actions, parsed.action)) {
    return fail('actionNameNotExist', parsed.action, '(not served by this server)');
  }
  const env = sqsEnv(ctx, req, rc, signer);
  if (request.protocol === 'json' && request.textAllowed) env.textAllowed = true;
  const result = await action(env, input);
  if ('ok' in result && result.ok === false) return result as ErrorResult;
  return { ok: true, action: parsed.action, operation: parsed.operation, output: result as SqsOutput };
}

function sqsEnv(ctx: SqsContext, req: HttpRequest, rc: RequestContext, signer: { accessKeyId?: string; region?: string }): SqsEnv {
  return {
    service: ctx.service,
    ctx: rc,
    baseUrl: baseUrlOf(req),
    accountId: ctx.accountId,
    region: signer.region ?? ctx.region,
    senderId: signer.accessKeyId ?? ctx.accountId,
  };
}

/**
 * The request as a plain send (./plain-send-reader.ts), when it is one the general path would
 * accept whole and the standard send action serves it; else undefined (the general path).
 */
function plainSendOf(ctx: SqsContext, req: HttpRequest, method: string): PlainSend | undefined {
  if (method !== 'POST') return undefined;
  const target = headerValue(req.headers['x-amz-target']);
  const action = target === 'AmazonSQS.SendMessageBatch' ? 'SendMessageBatch' : target === 'AmazonSQS.SendMessage' ? 'SendMessage' : undefined;
  if (action === undefined || !servesStandardSend(ctx.actions, action)) return undefined;
  if (!(headerValue(req.headers['content-type']) ?? '').toLowerCase().startsWith(JSON_CONTENT_TYPE)) return undefined;
  return readPlainSend(action, req.body, ctx);
}

/**
 * A plain send, run as the general path would run it: named, authenticated, then sent with what
 * the general path's checks would have found (every string allowed text: no escape in the body).
 */
async function runPlain(ctx: SqsContext, req: HttpRequest, rc: RequestContext, plain: PlainSend, facts: { action?: string }): Promise<Outcome> {
  facts.action = plain.action;
  const signer = authenticate(ctx, req, 'POST', undefined, plain.action);
  if (!signer.ok) return signer;
  const env = sqsEnv(ctx, req, rc, signer);
  env.textAllowed = true;
  const r = await runPlainSend(env, plain);
  if (!r.ok) return r;
  const operation = sqsOperation(plain.action)!;
  return 'rendered' in r ? { ok: true, action: plain.action, operation, output: {}, rendered: r.rendered } : { ok: true, action: plain.action, operation, output: r.output };
}

/** A request's action and its still unparsed input. */
type Request =
  | { ok: true; protocol: 'json'; action: string; body: unknown; params?: undefined; textAllowed: boolean }
  | { ok: true; protocol: 'query'; action: string; params: FormParams };

function jsonRequest(req: HttpRequest, method: string): Request | ErrorResult {
  const target = headerValue(req.headers['x-amz-target']) ?? '';
  const action = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
  if (method !== 'POST') return fail('httpMethod', method, '(the JSON protocol takes POST only)');
  if (action === '') return fail('actionNameNotExist', target, `(X-Amz-Target must be ${TARGET_PREFIX}<Action>)`);
  const contentType = (headerValue(req.headers['content-type']) ?? '').toLowerCase();
  if (!contentType.startsWith(JSON_CONTENT_TYPE)) {
    return fail('cannotParse', 'request', `(Content-Type must be ${JSON_CONTENT_TYPE} with X-Amz-Target)`);
  }
  if (req.body.length === 0) return { ok: true, protocol: 'json', action, body: {}, textAllowed: true };
  if (!isUtf8(req.body)) return fail('cannotParse', 'request', '(invalid UTF-8)');
  let body: unknown;
  try {
    body = JSON.parse(req.body.toString('utf8'));
  } catch {
    return fail('cannotParse', 'request', '(the body is not JSON)');
  }
  return { ok: true, protocol: 'json', action, body, textAllowed: onlyAllowedText(req.body) };
}

const BACKSLASH = 0x5c;
/** U+FFFE and U+FFFF in UTF-8: the only characters valid UTF-8 can hold that SQS does not allow. */
const U_FFFE = Buffer.from([0xef, 0xbf, 0xbe]);
const U_FFFF = Buffer.from([0xef, 0xbf, 0xbf]);

/**
 * Whether every string of a JSON body (already checked to be UTF-8) holds only characters SQS
 * allows, from its bytes alone: JSON strings cannot hold raw control characters, so without an
 * escape (no backslash at all) a string holds what the bytes hold, and valid UTF-8 holds no lone
 * surrogate; that leaves U+FFFE and U+FFFF. Three native scans instead of a pattern per message.
 */
function onlyAllowedText(body: Buffer): boolean {
  return body.indexOf(BACKSLASH) < 0 && body.indexOf(U_FFFE) < 0 && body.indexOf(U_FFFF) < 0;
}

function queryRequest(req: HttpRequest, method: string): Request | ErrorResult {
  if (method !== 'GET' && method !== 'POST') return fail('httpMethod', method);
  // POST: the form body; a POST without one (and GET) carries the parameters in the query.
  const source: Buffer | string = method === 'POST' && req.body.length > 0 ? req.body : req.query;
  const size = typeof source === 'string' ? Buffer.byteLength(source, 'utf8') : source.length;
  if (size > LIMITS.requestBytesMax) return fail('cannotParse', 'request', `(more than ${LIMITS.requestBytesMax} bytes)`);
  const form = parseForm(source);
  if (!form.ok) return form;
  const action = form.params.get('Action');
  if (action === undefined || action === '') return fail('missingParam', 'Action');
  return { ok: true, protocol: 'query', action, params: form.params };
}

function parseInput(request: Request): ({ ok: true } & Parsed) | ErrorResult {
  const operation = sqsOperation(request.action);
  if (operation === undefined) return fail('actionNameNotExist', request.action);
  let result: InputResult;
  if (request.protocol === 'json') {
    result = jsonInput(operation.input, request.body);
  } else {
    const version = request.params.get('Version');
    if (version !== undefined && version !== SQS_API_VERSION) return fail('paramOutOfRange', 'Version', `(only ${SQS_API_VERSION})`);
    result = queryInput(operation.input, request.params);
  }
  if (!result.ok) return result;
  return { ok: true, action: request.action, operation, input: result.input };
}

/** A queue URL's path: `/<account id>/<queue name>`. */
const QUEUE_PATH_RE = /^\/[^/?#]+\/[^/?#]+$/;

/**
 * The query protocol's older form names the queue by the request's path (a POST to the queue
 * URL) instead of a QueueUrl parameter: the action gets the URL either way.
 */
function withQueueUrlFromPath(parsed: Parsed, req: HttpRequest): SqsInput {
  if (!('QueueUrl' in parsed.operation.input.members) || parsed.input['QueueUrl'] !== undefined || !QUEUE_PATH_RE.test(req.path)) return parsed.input;
  return { ...parsed.input, QueueUrl: baseUrlOf(req) + req.path };
}

/** Who signed (when anyone did): the access key id and the region of its credential scope. */
type Signer = { ok: true; accessKeyId?: string; region?: string } | ErrorResult;

/**
 * The CMQ rule for SQS: an open server (no credentials: loopback, or --insecure-no-auth) accepts
 * any request, and a signed one is not checked but names its sender; a server with credentials
 * requires a valid Signature Version 4.
 */
function authenticate(ctx: SqsContext, req: HttpRequest, method: string, params: FormParams | undefined, action: string): Signer {
  if (ctx.secretOf === undefined) {
    const claimed = claimedCredential(req, params);
    return claimed === undefined ? { ok: true } : { ok: true, ...claimed };
  }
  const result = ctx.verifySigV4({ method, path: req.path, query: req.query, headers: req.headers, body: req.body }, ctx.secretOf, ctx.nowMs());
  if (result.ok) return { ok: true, accessKeyId: result.accessKeyId, region: result.region };
  const err = fail(SIGNATURE_FAILURES[result.failure], undefined, result.detail === '' ? undefined : `(${result.detail})`);
  logAuthFailure(ctx, err, claimedCredential(req, params)?.accessKeyId, action, req.remote);
  return err;
}

/** `Credential=<id>/<date>/<region>/<service>/aws4_request`, from the Authorization header or X-Amz-Credential. */
const CREDENTIAL_RE = /^([^/\s,]+)\/\d{8}\/([^/\s,]+)\/[^/\s,]+\/aws4_request$/;

/** The access key id and region a request claims to be signed with (not checked). */
export function claimedCredential(req: Pick<HttpRequest, 'headers' | 'query'>, params?: FormParams): { accessKeyId: string; region: string } | undefined {
  let credential: string | undefined;
  const authorization = headerValue(req.headers['authorization']);
  if (authorization !== undefined) credential = /Credential=([^,\s]+)/.exec(authorization)?.[1];
  if (credential === undefined) credential = params?.get('X-Amz-Credential');
  if (credential === undefined && req.query !== '') {
    const q = parseForm(req.query);
    if (q.ok) credential = q.params.get('X-Amz-Credential');
  }
  const m = credential === undefined ? null : CREDENTIAL_RE.exec(credential);
  return m ? { accessKeyId: m[1]!, region: m[2]! } : undefined;
}

/** A refused signature, as a rate-limited warning: who tried what, never the signature itself. */
function logAuthFailure(ctx: SqsContext, err: ErrorResult, accessKeyId: string | undefined, action: string, remote: string | undefined): void {
  const admitted = ctx.authFailureLogs.admit(err.error);
  if (!admitted) return;
  const suppressed = admitted.suppressed > 0 ? ` (${admitted.suppressed} more of these were not logged in the last minute)` : '';
  ctx.log.warn(`SQS authentication failed: ${err.error}${err.detail !== undefined ? ` ${err.detail}` : ''}${suppressed}`, {
    reason: err.error,
    ...(accessKeyId !== undefined ? { accessKeyId } : {}),
    action,
    ...(remote !== undefined ? { remote } : {}),
    ...(admitted.suppressed > 0 ? { suppressed: admitted.suppressed } : {}),
  });
}

/** A Host header fit to start a URL with: a name or address and an optional port. */
const HOST_RE = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Scheme, host and port the client addressed: queue URLs start with it. */
export function baseUrlOf(req: Pick<HttpRequest, 'host' | 'tls'>): string {
  const host = HOST_RE.test(req.host) ? req.host : 'localhost';
  return `${req.tls ? 'https' : 'http'}://${host}`;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

// ---- answers ----

/** The text of an error: the registry's, then the detail. */
export function sqsErrorMessage(err: ErrorResult): string {
  const text = errorText(err.error, err.arg);
  return err.detail === undefined || err.detail === '' ? text : `${text} ${err.detail}`;
}

export function sqsErrorAnswer(protocol: SqsProtocolName, err: ErrorResult, requestId: string): HttpAnswer {
  const code = SQS_CODES[err.error];
  const message = sqsErrorMessage(err);
  if (protocol === 'json') {
    return {
      status: code.status,
      headers: {
        'Content-Type': JSON_CONTENT_TYPE,
        'x-amzn-RequestId': requestId,
        'x-amzn-query-error': `${code.code};${code.fault}`,
      },
      body: Buffer.from(JSON.stringify({ __type: ERROR_NAMESPACE + code.shape, message }), 'utf8'),
    };
  }
  return {
    status: code.status,
    headers: { 'Content-Type': XML_CONTENT_TYPE, 'x-amzn-RequestId': requestId },
    body: Buffer.from(renderXmlError(code.fault, code.code, message, requestId), 'utf8'),
  };
}

function jsonAnswer(body: Buffer, requestId: string): HttpAnswer {
  return { status: 200, headers: { 'Content-Type': JSON_CONTENT_TYPE, 'x-amzn-RequestId': requestId }, body };
}

export function sqsResultAnswer(protocol: SqsProtocolName, action: string, operation: SqsOperation, output: SqsOutput, requestId: string): HttpAnswer {
  if (protocol === 'json') return jsonAnswer(jsonBytes(output), requestId);
  return {
    status: 200,
    headers: { 'Content-Type': XML_CONTENT_TYPE, 'x-amzn-RequestId': requestId },
    body: Buffer.from(renderXmlResult(action, operation.output, output, requestId), 'utf8'),
  };
}

