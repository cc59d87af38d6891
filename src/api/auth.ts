// Request authentication (spec §1.3–§1.4). 'signature' mode checks SecretId, Nonce, Timestamp and
// the HMAC signature, strictly first and then with the SDK quirks the spec says to tolerate;
// 'open' mode checks nothing (the Go SDK's `appId` form is accepted only there).

import { fail, type ErrorResult } from '../protocol/errors';
import type { FormParams } from './form';
import {
  canonicalQuery,
  computeSignature,
  constantTimeEqual,
  hostPathVariants,
  signatureMethodOf,
} from './signature';

export interface ApiCredential {
  secretId: string;
  secretKey: string;
}

export type AuthConfig =
  | { mode: 'open' }
  | {
      mode: 'signature';
      credentials: ApiCredential[];
      /** Require SecretId to start with 'AKID' (4000/10450), as the real service does. */
      requireAkidPrefix: boolean;
      /** When set, |now − Timestamp| above this many seconds fails with 4100/10030. Off by default. */
      timestampSkewSeconds?: number;
      /** Wall clock in ms, for the skew check (tests inject one). Default Date.now. */
      nowMs?: () => number;
    };

export interface SignedRequest {
  /** As received; compared upper-cased. */
  method: string;
  /** The Host header, including ':port' when the client sent one. */
  host: string;
  /** Request path without the query. */
  path: string;
  params: FormParams;
}

export interface Authenticator {
  /** undefined when the request may proceed. */
  verify(req: SignedRequest): ErrorResult | undefined;
}

const TIMESTAMP_RE = /^-?\d+$/;

export function createAuthenticator(config: AuthConfig): Authenticator {
  if (config.mode === 'open') return { verify: () => undefined };
  const keys = new Map<string, string>();
  for (const c of config.credentials) if (!keys.has(c.secretId)) keys.set(c.secretId, c.secretKey);
  const { requireAkidPrefix, timestampSkewSeconds } = config;
  const nowMs = config.nowMs ?? Date.now;
  return {
    verify(req: SignedRequest): ErrorResult | undefined {
      const p = req.params;
      for (const name of ['SecretId', 'Signature', 'Nonce', 'Timestamp'] as const) {
        const v = p.get(name);
        if (v === undefined || v === '') return fail('missingParam', name);
      }
      const secretId = p.get('SecretId') as string;
      const signature = p.get('Signature') as string;
      const timestamp = p.get('Timestamp') as string;
      if (!TIMESTAMP_RE.test(timestamp)) return fail('paramErrorType', 'Timestamp');
      if (requireAkidPrefix && !secretId.startsWith('AKID')) return fail('secretIdNotAkid');
      const secretKey = keys.get(secretId);
      if (secretKey === undefined) return fail('secretIdNotExist');
      if (timestampSkewSeconds !== undefined) {
        const skew = Math.abs(nowMs() / 1000 - Number(timestamp));
        if (!(skew <= timestampSkewSeconds)) {
          return fail('authFailed', undefined, `(Timestamp is more than ${timestampSkewSeconds} s from server time)`);
        }
      }
      return signatureMatches(req, secretKey, signature) ? undefined : fail('authFailed');
    },
  };
}

/**
 * Strict check first; only if it fails, the tolerated variants (spec §1.4 quirks): for POST the
 * query without '@'-valued parameters, then each alternative host/path prefix with the full
 * query, then (POST with '@' values) each prefix with the reduced query.
 */
export function signatureMatches(req: SignedRequest, secretKey: string, signature: string): boolean {
  const method = req.method.toUpperCase();
  const algo = signatureMethodOf(req.params.get('SignatureMethod'));
  const check = (hostPath: string, query: string): boolean =>
    constantTimeEqual(computeSignature(method + hostPath + '?' + query, secretKey, algo), signature);

  const strictHostPath = req.host + req.path;
  const fullQuery = canonicalQuery(req.params);
  if (check(strictHostPath, fullQuery)) return true;

  let reducedQuery: string | undefined;
  if (method === 'POST') {
    const q = canonicalQuery(req.params, true);
    if (q !== fullQuery) reducedQuery = q;
  }
  if (reducedQuery !== undefined && check(strictHostPath, reducedQuery)) return true;
  const variants = hostPathVariants(req.host, req.path);
  for (const hp of variants) if (check(hp, fullQuery)) return true;
  if (reducedQuery !== undefined) {
    for (const hp of variants) if (check(hp, reducedQuery)) return true;
  }
  return false;
}
