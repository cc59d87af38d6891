// The CMQ request signature (spec §1.4): the string-to-sign exactly as the official SDKs build it,
// HMAC-SHA1/SHA256 over it, and a constant-time comparison with the Signature parameter.

import { createHmac, timingSafeEqual } from 'node:crypto';

export type SignatureMethod = 'HmacSHA1' | 'HmacSHA256';

/** `SignatureMethod=HmacSHA256` selects SHA-256; a missing or any other value means SHA-1. */
export function signatureMethodOf(value: string | undefined): SignatureMethod {
  return value === 'HmacSHA256' ? 'HmacSHA256' : 'HmacSHA1';
}

/**
 * `key=value` pairs joined by '&', keys sorted by their original names (UTF-16 code-unit order),
 * then '_' replaced by '.' in each key; values raw (decoded), empty values included. The
 * Signature parameter never takes part. With `omitAtValues`, parameters whose value starts with
 * '@' are left out (quirk of the Python and DivXPro SDKs on POST).
 */
export function canonicalQuery(params: ReadonlyMap<string, string>, omitAtValues = false): string {
  const keys: string[] = [];
  for (const [k, v] of params) {
    if (k === 'Signature') continue;
    if (omitAtValues && v.startsWith('@')) continue;
    keys.push(k);
  }
  keys.sort();
  let out = '';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    if (i > 0) out += '&';
    out += k.replaceAll('_', '.') + '=' + (params.get(k) as string);
  }
  return out;
}

/** UPPER(method) + host + path + '?' + canonical query. */
export function stringToSign(method: string, host: string, path: string, query: string): string {
  return method.toUpperCase() + host + path + '?' + query;
}

/** Base64 HMAC of the string-to-sign, keyed by the UTF-8 bytes of the secret key. */
export function computeSignature(text: string, secretKey: string, method: SignatureMethod): string {
  const algo = method === 'HmacSHA256' ? 'sha256' : 'sha1';
  return createHmac(algo, secretKey).update(text, 'utf8').digest('base64');
}

/** Constant-time string equality (time depends only on the lengths). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ba.length !== bb.length) {
    // Still spend a comparison so a wrong length is not cheaper than a wrong byte.
    timingSafeEqual(ba, ba);
    return false;
  }
  return timingSafeEqual(ba, bb);
}

/**
 * The "host + path" prefixes to try after the strict one fails (spec §1.4 quirks 2–4): an
 * `http://` scheme left in (DivXPro Node SDK), a trailing slash on the endpoint (Java with
 * `http://h:p/`) or on the path, and the host with and without its port (Python drops a default
 * port from the Host header but signs it).
 */
export function hostPathVariants(host: string, path: string): string[] {
  const out: string[] = [];
  const add = (s: string): void => {
    if (s !== host + path && !out.includes(s)) out.push(s);
  };
  // Quirk 2: scheme prefix.
  add('http://' + host + path);
  // Quirk 3: trailing slash on the endpoint, i.e. one '/' more or less between host and path,
  // and a trailing slash on the path itself.
  add(host + '/' + path);
  if (path.startsWith('//')) add(host + path.slice(1));
  if (path.length > 1 && path.endsWith('/')) add(host + path.slice(0, -1));
  else add(host + path + '/');
  // Quirk 4: with and without ':port'.
  const m = /^(.+):(\d+)$/.exec(host);
  if (m && !(m[1] as string).endsWith(':')) {
    add((m[1] as string) + path);
  } else {
    add(host + ':80' + path);
    add(host + ':443' + path);
  }
  return out;
}
