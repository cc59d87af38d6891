// Request signing exactly as the official SDKs do it (spec §1.4): sort the parameter names, join
// `name=rawValue` with '&', prefix METHOD + host + path + '?', HMAC with the SecretKey, Base64.

import { createHmac } from 'node:crypto';

export type SignatureMethod = 'HmacSHA1' | 'HmacSHA256';

/** The string the HMAC is computed over. `params` holds decoded values; Signature is never part of it. */
export function stringToSign(httpMethod: string, host: string, path: string, params: Readonly<Record<string, string>>): string {
  // Default sort compares UTF-16 code units: the byte order the SDKs use for ASCII names.
  const keys = Object.keys(params)
    .filter((k) => k !== 'Signature')
    .sort();
  // The '_' -> '.' mapping on names is a PHP left-over that every SDK applies after sorting.
  const query = keys.map((k) => `${k.replace(/_/g, '.')}=${params[k] ?? ''}`).join('&');
  return `${httpMethod.toUpperCase()}${host}${path}?${query}`;
}

/** Base64 HMAC of `text` keyed by `secretKey`; SHA256 for HmacSHA256, SHA1 otherwise (spec §1.4). */
export function signString(text: string, secretKey: string, method: SignatureMethod): string {
  const algorithm = method === 'HmacSHA256' ? 'sha256' : 'sha1';
  return createHmac(algorithm, Buffer.from(secretKey, 'utf8')).update(text, 'utf8').digest('base64');
}
