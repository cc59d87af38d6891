// Errors the SDK throws: CmqError for an answer from the server with a non-zero code, and
// CmqNetworkError when no usable answer arrived (transport failure, non-200 status, non-JSON body).

import { CMQ_CODES, errorMessage } from '../protocol/cmq-codes';
import type { ErrorName } from '../protocol/errors';

const MODULE_CODE_RE = /^\((\d+)\)/;

/** Every registry entry, indexed by "code/module" and by code alone, for the reverse lookup. */
const byCodeAndModule = new Map<string, ErrorName[]>();
const byCode = new Map<number, ErrorName[]>();
for (const name of Object.keys(CMQ_CODES) as ErrorName[]) {
  const d = CMQ_CODES[name];
  const key = `${d.code}/${d.module}`;
  byCodeAndModule.set(key, [...(byCodeAndModule.get(key) ?? []), name]);
  byCode.set(d.code, [...(byCode.get(d.code) ?? []), name]);
}

/**
 * The registry name for a (code, module) pair, when exactly one entry matches. Without a match on
 * both, falls back to the code alone if only one entry uses it (e.g. 4460, 7000); else undefined.
 */
export function errorNameFor(code: number, moduleCode: number | undefined): ErrorName | undefined {
  if (moduleCode !== undefined) {
    const exact = byCodeAndModule.get(`${code}/${moduleCode}`);
    if (exact !== undefined) return exact.length === 1 ? exact[0] : undefined;
  }
  const loose = byCode.get(code);
  return loose !== undefined && loose.length === 1 ? loose[0] : undefined;
}

/** The module code shown as `(NNNNN)` at the start of a CMQ message, if any. */
export function parseModuleCode(message: string): number | undefined {
  const m = MODULE_CODE_RE.exec(message);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/**
 * What a failed request did: `notApplied` — certainly nothing (retrying cannot apply it twice);
 * `unknown` — it may have been applied (read back before repeating a non-idempotent write);
 * `decided` — the server answered with a definite result (a CMQ error code other than 6100/6000).
 */
export type RequestOutcome = 'notApplied' | 'unknown' | 'decided';

/** The server answered with `code != 0`. */
export class CmqError extends Error {
  override readonly name = 'CmqError';
  /** The response's `code`: what CMQ clients branch on (e.g. 4440, 7000). */
  readonly code: number;
  /** The `(NNNNN)` module code from the message, when present. */
  readonly moduleCode: number | undefined;
  /** The server's `message`, verbatim (e.g. "(10100)queue is not existed, or deleted"). */
  readonly cmqMessage: string;
  readonly requestId: string | undefined;
  /** The ERRORS registry name for (code, moduleCode) when unambiguous. */
  readonly errorName: ErrorName | undefined;
  /** The whole decoded response body (e.g. BatchDeleteMessage's errorList). */
  readonly response: Readonly<Record<string, unknown>> | undefined;
  /** 6100: nothing was applied; 6000 (10810 outcome unknown, or an internal error): may have been. */
  readonly outcome: RequestOutcome;
  /** True only when the request certainly was not applied (6100): it may be sent again as it is. */
  readonly retrySafe: boolean;

  constructor(code: number, cmqMessage: string, requestId?: string, response?: Record<string, unknown>) {
    super(`CMQ error ${code}: ${cmqMessage}`);
    this.code = code;
    this.cmqMessage = cmqMessage;
    this.moduleCode = parseModuleCode(cmqMessage);
    this.requestId = requestId;
    this.errorName = errorNameFor(code, this.moduleCode);
    this.response = response;
    this.outcome = code === CMQ_CODES.notApplied.code ? 'notApplied' : code === CMQ_CODES.outcomeUnknown.code ? 'unknown' : 'decided';
    this.retrySafe = this.outcome === 'notApplied';
  }

  /** The error the server would send for a registry entry (used by the in-memory fake). */
  static fromName(name: ErrorName, arg?: string, requestId?: string): CmqError {
    return new CmqError(CMQ_CODES[name].code, errorMessage(name, arg), requestId);
  }
}

/** True when `err` is a CmqError, optionally of the given registry name. */
export function isCmqError(err: unknown, name?: ErrorName): err is CmqError {
  return err instanceof CmqError && (name === undefined || err.errorName === name);
}

/**
 * What went wrong on the wire:
 * - connect: no connection was made (the request was certainly not applied);
 * - timeout / reset: the connection broke or went silent after the request may have been sent;
 * - status: an HTTP status other than 200 (CMQ answers every API outcome with 200);
 * - parse: a 200 whose body is not a CMQ JSON object;
 * - aborted: the caller's AbortSignal fired.
 */
export type NetworkErrorKind = 'connect' | 'timeout' | 'reset' | 'status' | 'parse' | 'aborted';

export class CmqNetworkError extends Error {
  override readonly name = 'CmqNetworkError';
  readonly kind: NetworkErrorKind;
  /** False only when the request certainly never reached the server. */
  readonly mayHaveBeenApplied: boolean;
  /** `notApplied` when the request certainly never reached the server, else `unknown`. */
  readonly outcome: 'notApplied' | 'unknown';
  /** True only when the request certainly never reached the server: it may be sent again as it is. */
  readonly retrySafe: boolean;
  readonly status: number | undefined;

  constructor(kind: NetworkErrorKind, message: string, opts: { status?: number; cause?: unknown; mayHaveBeenApplied?: boolean } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.kind = kind;
    this.status = opts.status;
    this.mayHaveBeenApplied = opts.mayHaveBeenApplied ?? kind !== 'connect';
    this.outcome = this.mayHaveBeenApplied ? 'unknown' : 'notApplied';
    this.retrySafe = !this.mayHaveBeenApplied;
  }
}
