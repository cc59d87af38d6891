// Who asked, and when: the first argument of every service call, whichever protocol the request
// came in by. A follower that forwards a request sends its context along, so the leader answers
// and logs under the same requestId the follower assigned.

export interface RequestContext {
  /** Unique per request; returned to the client and put on every log line about it. */
  readonly requestId: string;
  /** The client's address as the receiving node saw it ('' when unknown). */
  readonly clientAddress: string;
  /** When the receiving node had the whole request (wall clock, ms). */
  readonly receivedAtMs: number;
  /** The W3C Trace Context `traceparent` the client sent, when it sent a well-formed one. */
  readonly traceparent?: string;
}

/** Bounds on a context received from a peer: it goes into logs, so it stays small. */
export const REQUEST_ID_CHARS_MAX = 128;
const CLIENT_ADDRESS_CHARS_MAX = 128;

/** version-traceid-parentid-flags, lower-case hex (W3C Trace Context §3.2); later versions may append fields. */
const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-[\x21-\x7e]*)?$/;
const TRACEPARENT_CHARS_MAX = 256;

/**
 * The traceparent header value if it is well formed, else undefined (the spec says to ignore an
 * invalid one): version ff, an all-zero trace id or parent id, and version 00 with extra fields
 * are invalid.
 */
export function validTraceparent(value: string | undefined): string | undefined {
  if (value === undefined || value.length > TRACEPARENT_CHARS_MAX) return undefined;
  const m = TRACEPARENT_RE.exec(value);
  if (!m) return undefined;
  const [, version, traceId, parentId, extra] = m;
  if (version === 'ff' || (version === '00' && extra !== undefined)) return undefined;
  if (/^0+$/.test(traceId!) || /^0+$/.test(parentId!)) return undefined;
  return value;
}

/**
 * A context received from elsewhere (a forwarded request's envelope), checked field by field:
 * undefined when it is not one, so the caller makes its own.
 */
export function parseRequestContext(value: unknown): RequestContext | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const { requestId, clientAddress, receivedAtMs, traceparent } = v;
  if (typeof requestId !== 'string' || requestId === '' || requestId.length > REQUEST_ID_CHARS_MAX) return undefined;
  if (typeof clientAddress !== 'string' || clientAddress.length > CLIENT_ADDRESS_CHARS_MAX) return undefined;
  if (typeof receivedAtMs !== 'number' || !Number.isFinite(receivedAtMs)) return undefined;
  const ctx: { -readonly [K in keyof RequestContext]: RequestContext[K] } = { requestId, clientAddress, receivedAtMs };
  const tp = typeof traceparent === 'string' ? validTraceparent(traceparent) : undefined;
  if (tp !== undefined) ctx.traceparent = tp;
  return ctx;
}
