// AWS Signature Version 4 on an incoming SQS request: the Authorization header form and the
// presigned query form. The canonical request is rebuilt from the request exactly as received,
// the way AWS documents it and the AWS SDKs build it (@smithy/signature-v4, botocore), then the
// signature is recomputed with the caller's secret and compared in constant time. Pure apart from
// node:crypto: the clock is a parameter, so tests pin it. Hostile input never throws: every
// malformed thing is a failure result.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface SigV4Request {
  method: string;
  /** Raw, as received, without the query. */
  path: string;
  /** Raw, without the '?'. */
  query: string;
  /** Lower-case names, as node:http gives them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer;
}

export type SigV4Failure =
  /** No signature at all. */
  | 'missing'
  /** Malformed Authorization or credential scope, missing date, host not signed, wrong service. */
  | 'incomplete'
  | 'unknownKey'
  | 'mismatch'
  /** Date outside the allowed skew, or presigned URL past its expiry. */
  | 'expired';

export type SigV4Result = { ok: true; accessKeyId: string; region: string } | { ok: false; failure: SigV4Failure; detail: string };

export interface SigV4Options {
  /** How far the request's date may be from now, either way. Default 15 minutes, as AWS. */
  maxSkewMs?: number;
  /** The service the credential scope must name. Default 'sqs' (other values are for test vectors). */
  service?: string;
}

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
export const DEFAULT_MAX_SKEW_MS = 15 * 60_000;
/** AWS caps X-Amz-Expires at seven days. */
export const MAX_PRESIGNED_EXPIRES_S = 7 * 24 * 3600;
/** Bounds on what is parsed from a request, so hostile headers cost little. */
export const MAX_AUTHORIZATION_CHARS = 4096;
export const MAX_SIGNED_HEADERS = 64;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const SCOPE_TERMINATOR = 'aws4_request';

type Failed = Extract<SigV4Result, { ok: false }>;
const fail = (failure: SigV4Failure, detail: string): Failed => ({ ok: false, failure, detail });

/** A value from the request shown in a failure detail: quoted and cut short. */
function shown(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

// ---------------------------------------------------------------------------------------------
// Canonical request pieces

const HEX = '0123456789ABCDEF';

/** RFC 3986 percent-encoding of the UTF-8 bytes, unreserved characters kept ('/' too when asked). */
export function uriEncode(text: string, keepSlash = false): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const unreserved =
      (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e || (keepSlash && byte === 0x2f);
    out += unreserved ? String.fromCharCode(byte) : '%' + HEX[byte >> 4]! + HEX[byte & 15]!;
  }
  return out;
}

/**
 * The canonical URI for every service but S3: the path as received (already URI-encoded once by
 * the client) with '.', '..' and empty segments removed, then URI-encoded again. This "double"
 * encoding is what AWS documents for non-S3 services and what the SDK signers do: they encode the
 * path they put on the wire once more, so the server must encode the wire form, not decode it.
 */
export function canonicalUri(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  return uriEncode('/' + segments.join('/') + trailing, true);
}

/** The query's parameters, percent-decoded ('+' stays a plus: the signers encode a space as %20). */
export function parseQuery(rawQuery: string): [string, string][] | undefined {
  const out: [string, string][] = [];
  if (rawQuery === '') return out;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    try {
      out.push(eq < 0 ? [decodeURIComponent(part), ''] : [decodeURIComponent(part.slice(0, eq)), decodeURIComponent(part.slice(eq + 1))]);
    } catch {
      return undefined; // malformed percent-encoding
    }
  }
  return out;
}

/** Parameters re-encoded, sorted by encoded name then value; X-Amz-Signature never takes part. */
export function canonicalQuery(params: readonly (readonly [string, string])[]): string {
  const encoded: [string, string][] = [];
  for (const [name, value] of params) {
    if (name.toLowerCase() === 'x-amz-signature') continue;
    encoded.push([uriEncode(name), uriEncode(value)]);
  }
  // Encoded strings are ASCII, so code-unit order is byte order.
  encoded.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return encoded.map(([n, v]) => `${n}=${v}`).join('&');
}

/** A header value as signed: line breaks to spaces, runs of blanks collapsed, ends trimmed. */
export function canonicalHeaderValue(value: string | readonly string[]): string {
  const joined = typeof value === 'string' ? value : value.map((v) => canonicalHeaderValue(v)).join(',');
  return joined.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}

export interface CanonicalParts {
  method: string;
  canonicalUri: string;
  canonicalQuery: string;
  /** Signed header names (lower case, sorted) with their canonical values. */
  headers: readonly (readonly [string, string])[];
  payloadHash: string;
}

export function canonicalRequest(p: CanonicalParts): string {
  const lines = p.headers.map(([n, v]) => `${n}:${v}\n`).join('');
  const names = p.headers.map(([n]) => n).join(';');
  return `${p.method}\n${p.canonicalUri}\n${p.canonicalQuery}\n${lines}\n${names}\n${p.payloadHash}`;
}

export function stringToSign(longDate: string, scope: string, canonical: string): string {
  return `${SIGV4_ALGORITHM}\n${longDate}\n${scope}\n${sha256Hex(canonical)}`;
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Signing keys, cached: every request of a day with one key and region derives the same one.

/** Bound on cached signing keys (one per secret, day, region and service in use). */
export const SIGNING_KEY_CACHE_LIMIT = 256;
const signingKeys = new Map<string, Buffer>();

export function signingKey(secret: string, shortDate: string, region: string, service: string): Buffer {
  const cacheKey = `${shortDate}\n${region}\n${service}\n${secret}`;
  const cached = signingKeys.get(cacheKey);
  if (cached !== undefined) return cached;
  let key: Buffer = Buffer.from(`AWS4${secret}`, 'utf8');
  for (const part of [shortDate, region, service, SCOPE_TERMINATOR]) key = createHmac('sha256', key).update(part, 'utf8').digest();
  // Oldest first out: yesterday's keys leave as today's arrive.
  if (signingKeys.size >= SIGNING_KEY_CACHE_LIMIT) signingKeys.delete(signingKeys.keys().next().value as string);
  signingKeys.set(cacheKey, key);
  return key;
}

/** How many signing keys are cached (for tests of the bound). */
export function signingKeyCacheSize(): number {
  return signingKeys.size;
}

/** The hex signature of a canonical request. */
export function computeSignature(secret: string, longDate: string, shortDate: string, region: string, service: string, canonical: string): string {
  const scope = `${shortDate}/${region}/${service}/${SCOPE_TERMINATOR}`;
  return createHmac('sha256', signingKey(secret, shortDate, region, service)).update(stringToSign(longDate, scope, canonical), 'utf8').digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Parsing what the client claims

interface Claim {
  accessKeyId: string;
  shortDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  /** ISO 8601 basic, e.g. 20150830T123600Z. */
  longDate: string;
  /** Presigned form only: seconds the URL stays valid. */
  expiresS?: number;
}

const ACCESS_KEY_ID = /^[\x21-\x7e]{1,128}$/;
const SHORT_DATE = /^\d{8}$/;
const REGION = /^[A-Za-z0-9._-]{1,64}$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
const SIGNATURE = /^[0-9a-f]{64}$/;
const LONG_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const IMF_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Milliseconds since the epoch of a valid YYYYMMDDTHHMMSSZ, else undefined. */
function longDateMs(longDate: string): number | undefined {
  const m = LONG_DATE.exec(longDate);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  // Reject what Date.UTC would roll over (month 13, 31 February, hour 24).
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== s) return undefined;
  return ms;
}

/** An HTTP Date header (IMF-fixdate) as YYYYMMDDTHHMMSSZ, the form the string to sign uses. */
function imfToLongDate(value: string): string | undefined {
  const m = IMF_DATE.exec(value);
  if (m === null) return undefined;
  const month = String(MONTHS.indexOf(m[2]!) + 1).padStart(2, '0');
  return `${m[3]!}${month}${m[1]!}T${m[4]!}${m[5]!}${m[6]!}Z`;
}

function claimFromParts(credential: string, signedHeaders: string, signature: string, longDate: string, service: string): Claim | Failed {
  const scope = credential.split('/');
  if (scope.length !== 5) return fail('incomplete', `credential ${shown(credential)} is not AKID/date/region/service/aws4_request`);
  const [accessKeyId, shortDate, region, scopeService, terminator] = scope as [string, string, string, string, string];
  if (!ACCESS_KEY_ID.test(accessKeyId)) return fail('incomplete', 'the credential has no valid access key id');
  if (!SHORT_DATE.test(shortDate)) return fail('incomplete', `the credential scope's date ${shown(shortDate)} is not YYYYMMDD`);
  if (!REGION.test(region)) return fail('incomplete', `the credential scope's region ${shown(region)} is not a region name`);
  if (scopeService !== service) return fail('incomplete', `the credential scope names service ${shown(scopeService)}; it should be scoped to ${shown(service)}`);
  if (terminator !== SCOPE_TERMINATOR) return fail('incomplete', `the credential scope ends in ${shown(terminator)}, not ${SCOPE_TERMINATOR}`);
  const names = signedHeaders.split(';');
  if (names.length > MAX_SIGNED_HEADERS) return fail('incomplete', `more than ${MAX_SIGNED_HEADERS} signed headers`);
  for (let i = 0; i < names.length; i++) {
    if (!HEADER_NAME.test(names[i]!)) return fail('incomplete', `signed header ${shown(names[i]!)} is not a lower-case header name`);
    if (i > 0 && names[i - 1]! >= names[i]!) return fail('incomplete', 'signed headers are not sorted and unique');
  }
  if (!names.includes('host')) return fail('incomplete', 'the host header is not signed');
  if (!SIGNATURE.test(signature)) return fail('incomplete', 'the signature is not 64 lower-case hex digits');
  const dateMs = longDateMs(longDate);
  if (dateMs === undefined) return fail('incomplete', `the request date ${shown(longDate)} is not YYYYMMDDTHHMMSSZ`);
  if (longDate.slice(0, 8) !== shortDate) return fail('incomplete', `the credential scope's date ${shortDate} is not the request date's day ${longDate.slice(0, 8)}`);
  return { accessKeyId, shortDate, region, service: scopeService, signedHeaders: names, signature, longDate };
}

/** `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` with its date header. */
function headerClaim(authorization: string, headers: SigV4Request['headers'], service: string): Claim | Failed {
  if (authorization.length > MAX_AUTHORIZATION_CHARS) return fail('incomplete', `the Authorization header is longer than ${MAX_AUTHORIZATION_CHARS} characters`);
  const space = authorization.search(/[ \t]/);
  const algorithm = space < 0 ? authorization : authorization.slice(0, space);
  if (algorithm !== SIGV4_ALGORITHM) return fail('incomplete', `unsupported signature algorithm ${shown(algorithm)}; expected ${SIGV4_ALGORITHM}`);
  if (space < 0) return fail('incomplete', 'the Authorization header has no Credential, SignedHeaders or Signature');
  const fields = new Map<string, string>();
  for (const item of authorization.slice(space).split(',')) {
    const text = item.trim();
    const eq = text.indexOf('=');
    if (eq <= 0) return fail('incomplete', `malformed Authorization component ${shown(text)}`);
    const name = text.slice(0, eq);
    if (fields.has(name)) return fail('incomplete', `the Authorization header repeats ${shown(name)}`);
    fields.set(name, text.slice(eq + 1));
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    return fail('incomplete', 'the Authorization header needs Credential, SignedHeaders and Signature');
  }
  let longDate: string | undefined;
  const amzDate = headers['x-amz-date'];
  const date = headers['date'];
  if (amzDate !== undefined) {
    if (typeof amzDate !== 'string') return fail('incomplete', 'more than one X-Amz-Date header');
    longDate = amzDate;
  } else if (typeof date === 'string') {
    longDate = imfToLongDate(date);
    if (longDate === undefined) return fail('incomplete', `the Date header ${shown(date)} is not an HTTP date`);
  } else {
    return fail('incomplete', 'the request has neither an X-Amz-Date nor a Date header');
  }
  return claimFromParts(credential, signedHeaders, signature, longDate, service);
}

const PRESIGN_PARAMS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature'] as const;

function queryClaim(params: readonly [string, string][], service: string): Claim | Failed {
  const found = new Map<string, string>();
  for (const [name, value] of params) {
    if (!(PRESIGN_PARAMS as readonly string[]).includes(name)) continue;
    if (found.has(name)) return fail('incomplete', `the query repeats ${name}`);
    found.set(name, value);
  }
  for (const name of PRESIGN_PARAMS) if (!found.has(name)) return fail('incomplete', `the presigned query lacks ${name}`);
  const algorithm = found.get('X-Amz-Algorithm')!;
  if (algorithm !== SIGV4_ALGORITHM) return fail('incomplete', `unsupported signature algorithm ${shown(algorithm)}; expected ${SIGV4_ALGORITHM}`);
  const expires = found.get('X-Amz-Expires')!;
  const expiresS = /^\d{1,7}$/.test(expires) ? Number(expires) : NaN;
  if (!(expiresS >= 1 && expiresS <= MAX_PRESIGNED_EXPIRES_S)) return fail('incomplete', `X-Amz-Expires must be 1 to ${MAX_PRESIGNED_EXPIRES_S} seconds`);
  const credential = found.get('X-Amz-Credential')!;
  if (credential.length > MAX_AUTHORIZATION_CHARS) return fail('incomplete', 'X-Amz-Credential is too long');
  const signedHeaders = found.get('X-Amz-SignedHeaders')!;
  if (signedHeaders.length > MAX_AUTHORIZATION_CHARS) return fail('incomplete', 'X-Amz-SignedHeaders is too long');
  const claim = claimFromParts(credential, signedHeaders, found.get('X-Amz-Signature')!, found.get('X-Amz-Date')!, service);
  if ('ok' in claim) return claim;
  return { ...claim, expiresS };
}

// ---------------------------------------------------------------------------------------------

/**
 * Checks the request's SigV4 signature against `secretOf(accessKeyId)` at time `nowMs`. On
 * success, returns who signed and the region they signed for (any region is accepted).
 */
export function verifySigV4(
  req: SigV4Request,
  secretOf: (accessKeyId: string) => string | undefined,
  nowMs: number,
  opts: SigV4Options = {},
): SigV4Result {
  const service = opts.service ?? 'sqs';
  const maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const authorization = req.headers['authorization'];
  const params = parseQuery(req.query);
  if (params === undefined) {
    // An unsigned request stays 'missing' whatever its query looks like.
    if (authorization === undefined && !req.query.includes('X-Amz-Algorithm')) return fail('missing', 'the request is not signed');
    return fail('incomplete', 'the query has malformed percent-encoding');
  }
  const presigned = params.some(([name]) => name === 'X-Amz-Algorithm');
  if (authorization === undefined && !presigned) return fail('missing', 'the request is not signed');
  if (authorization !== undefined && presigned) return fail('incomplete', 'the request carries both an Authorization header and a presigned query');
  if (Array.isArray(authorization)) return fail('incomplete', 'more than one Authorization header');

  const claim = typeof authorization === 'string' ? headerClaim(authorization, req.headers, service) : queryClaim(params, service);
  if ('ok' in claim) return claim;

  const secret = secretOf(claim.accessKeyId);
  if (secret === undefined) return fail('unknownKey', `no such access key id ${shown(claim.accessKeyId)}`);

  const signedAtMs = longDateMs(claim.longDate)!;
  if (signedAtMs - nowMs > maxSkewMs) return fail('expired', `the request date ${claim.longDate} is more than ${maxSkewMs / 1000} s in the future`);
  if (claim.expiresS === undefined) {
    if (nowMs - signedAtMs > maxSkewMs) return fail('expired', `the request date ${claim.longDate} is more than ${maxSkewMs / 1000} s in the past`);
  } else if (nowMs > signedAtMs + claim.expiresS * 1000) {
    return fail('expired', `the presigned URL signed at ${claim.longDate} expired after ${claim.expiresS} s`);
  }

  const headers: [string, string][] = [];
  for (const name of claim.signedHeaders) {
    // Own properties only: a signed header named like an Object.prototype member is just absent.
    const value = Object.hasOwn(req.headers, name) ? req.headers[name] : undefined;
    if (!(typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string')))) {
      return fail('incomplete', `signed header ${shown(name)} is absent from the request`);
    }
    headers.push([name, canonicalHeaderValue(value)]);
  }

  const bodyHash = sha256Hex(req.body);
  let payloadHash = bodyHash;
  const declared = req.headers['x-amz-content-sha256'];
  if (declared !== undefined) {
    // The declared hash is what was signed; unless the client chose not to sign the payload, it
    // must also be the body's, or the body would ride on a signature that does not cover it.
    if (declared !== UNSIGNED_PAYLOAD && declared !== bodyHash) return fail('mismatch', 'X-Amz-Content-Sha256 is not the SHA-256 of the body');
    payloadHash = declared;
  }

  const canonical = canonicalRequest({
    method: req.method,
    canonicalUri: canonicalUri(req.path),
    canonicalQuery: canonicalQuery(params),
    headers,
    payloadHash,
  });
  const expected = computeSignature(secret, claim.longDate, claim.shortDate, claim.region, claim.service, canonical);
  // Both are 64 hex digits here (checked when parsed), so the comparison's time is fixed.
  if (!timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(claim.signature, 'latin1'))) {
    return fail('mismatch', 'the request signature does not match the one computed with the secret key');
  }
  return { ok: true, accessKeyId: claim.accessKeyId, region: claim.region };
}
