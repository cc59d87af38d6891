// Shared plumbing of the HTTP-level API tests (test/integration/api-*.test.ts): a real server
// (startServer: real node, real log on disk) on a loopback port, raw node:http requests shaped the
// way the SDKs send them, envelope checks, and an independent implementation of the CMQ request
// signature (spec §1.4) that deliberately does not reuse src/api/signature.ts.
// With OPENCMQ_TEST_TLS=1 the same suites run over HTTPS (scripts/run-tests.js runs them both ways).

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import os from 'node:os';
import path from 'node:path';

import { startServer, type StartedServer } from '../../src/node/server';
import type { Credential, ServerOptions } from '../../src/node/server-options';
import { fixture, fixturePath } from './tls-fixtures';

/** The API suites talk HTTPS (server certificate for localhost from test/fixtures/tls). */
export const TEST_TLS = process.env.OPENCMQ_TEST_TLS === '1';

/** What a test server needs to serve HTTPS when TEST_TLS is on (spread into startServer options). */
export function testServerTls(): Pick<ServerOptions, 'tls'> {
  return TEST_TLS ? { tls: { certFile: fixturePath('server.pem'), keyFile: fixturePath('server.key') } } : {};
}

/** A keep-alive agent for the test server's scheme, trusting the test CA over HTTPS. */
export function keepAliveAgent(opts: http.AgentOptions): http.Agent {
  return TEST_TLS ? new https.Agent({ ...opts, ca: fixture('ca.pem') }) : new http.Agent(opts);
}

export interface TestServer {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  port: number;
  /** `127.0.0.1:port`: what clients put in the Host header and sign. */
  host: string;
  server: StartedServer;
  /** Unsigned form POST to /v2/index.php; checks the envelope before returning. */
  call(action: string, params?: Params): Promise<CmqBody>;
  close(): Promise<void>;
}

export type Params = Record<string, string | number>;

export type CmqBody = Record<string, unknown> & { code: number; message: string; requestId: string };

export interface StartOptions {
  credentials?: Credential[];
  requireAkidPrefix?: boolean;
}

/** An in-process server over a fresh temporary data directory. */
export async function startTestServer(opts: StartOptions = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-api-'));
  const server = await startServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    credentials: opts.credentials ?? [],
    insecureNoAuth: false,
    segmentBytes: 1 << 20,
    log: () => {},
    ...(opts.requireAkidPrefix !== undefined ? { requireAkidPrefix: opts.requireAkidPrefix } : {}),
    ...testServerTls(),
  });
  const port = server.port;
  return {
    url: server.url,
    port,
    host: `127.0.0.1:${port}`,
    server,
    call: async (action, params = {}) => {
      const r = await httpRequest(port, { body: formEncode({ Action: action, ...params }) });
      return envelope(r);
    },
    close: async () => {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface RawRequest {
  method?: string;
  /** Path plus optional query, e.g. `/v2/index.php?Action=…` (default `/v2/index.php`). */
  path?: string;
  /** Exactly the headers to send besides Host/Content-Length (node adds those). */
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  /** Default: a fresh connection per request (agent: false). */
  agent?: http.Agent | false;
  /** Send the body with chunked transfer encoding (no Content-Length). */
  chunked?: boolean;
}

export interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The response body as text, for checks on the exact JSON (e.g. big integers). */
  raw: string;
  json: Record<string, unknown>;
  /** Local port of the socket used (keep-alive checks). */
  localPort: number | undefined;
  elapsedMs: number;
}

/** One HTTP(S) request to the server on 127.0.0.1:port; resolves with whatever comes back. */
export function httpRequest(port: number, req: RawRequest): Promise<RawReply> {
  const started = performance.now();
  const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
  const headers: http.OutgoingHttpHeaders = { ...(req.headers ?? {}) };
  if (body !== undefined && !req.chunked) headers['Content-Length'] = body.length;
  return new Promise((resolve, reject) => {
    let gotResponse = false;
    let lastError: Error | undefined;
    // Over HTTPS the certificate is checked against 'localhost', whatever Host header a test sends.
    const r = (TEST_TLS ? https : http).request(
      {
        host: '127.0.0.1',
        port,
        method: req.method ?? 'POST',
        path: req.path ?? '/v2/index.php',
        headers,
        agent: req.agent ?? false,
        ...(TEST_TLS ? { ca: fixture('ca.pem'), servername: 'localhost' } : {}),
      },
      (res) => {
        gotResponse = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(raw) as Record<string, unknown>;
          } catch {
            // left empty: the caller's envelope check reports it
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, json, localPort: res.socket?.localPort, elapsedMs: performance.now() - started });
        });
        res.on('error', reject);
      },
    );
    // The server may answer (and close) before a large request is fully written: that is fine
    // as long as the answer arrives; if the connection ends without one, fail.
    r.on('error', (err: NodeJS.ErrnoException) => {
      lastError = err;
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') return;
      reject(err);
    });
    r.on('close', () => {
      if (!gotResponse) reject(lastError ?? new Error('connection closed without a response'));
    });
    if (body === undefined) r.end();
    else if (req.chunked) {
      r.write(body.subarray(0, Math.floor(body.length / 2)));
      r.end(body.subarray(Math.floor(body.length / 2)));
    } else r.end(body);
  });
}

/** application/x-www-form-urlencoded as Python/Java/Go encode it: space → '+', keys with '.' unescaped. */
export function formEncode(params: Params): string {
  return Object.entries(params)
    .map(([k, v]) => `${encodeFormComponent(k)}=${encodeFormComponent(String(v))}`)
    .join('&');
}

/** Like Python's quote_plus: unreserved characters kept, space as '+', everything else %XX (UTF-8). */
export function encodeFormComponent(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

/**
 * Checks the spec §1.5 envelope of a reply — HTTP 200, JSON Content-Type, `code` an integer,
 * `message` a string ('' on success), `requestId` a non-empty string — and returns the body.
 */
export function envelope(r: RawReply): CmqBody {
  assert.equal(r.status, 200, `HTTP status ${r.status}: ${r.raw.slice(0, 200)}`);
  assert.match(String(r.headers['content-type']), /^application\/json/, 'Content-Type');
  const b = r.json;
  assert.equal(typeof b['code'], 'number', `code is a number: ${r.raw.slice(0, 200)}`);
  assert.ok(Number.isInteger(b['code']), 'code is an integer');
  assert.equal(typeof b['message'], 'string', 'message is a string');
  assert.equal(typeof b['requestId'], 'string', 'requestId is a string');
  assert.notEqual(b['requestId'], '', 'requestId is not empty');
  if (b['code'] === 0) assert.equal(b['message'], '', 'message is empty on success');
  return b as CmqBody;
}

/** Success: code 0. Returns the body for further checks. */
export function ok(r: CmqBody): CmqBody {
  assert.equal(r.code, 0, `expected success, got ${JSON.stringify(r).slice(0, 400)}`);
  return r;
}

/** An error with this code whose message is `(module)…`. */
export function err(r: CmqBody, code: number, module?: number): void {
  const got = JSON.stringify(r).slice(0, 400);
  assert.equal(r.code, code, `expected code ${code}${module !== undefined ? `/${module}` : ''}, got ${got}`);
  if (module !== undefined) assert.ok(r.message.startsWith(`(${module})`), `expected message (${module})…, got ${got}`);
}

/** Array parameters `name.N`, N from `base` (Python/Java: 1, Go: 0). */
export function arrayOf(name: string, values: string[], base = 1): Record<string, string> {
  const out: Record<string, string> = {};
  values.forEach((v, i) => (out[`${name}.${i + base}`] = v));
  return out;
}

export { sleep } from './wait-for';

export function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

let nameCounter = 0;
/** A queue name unique within the process: `${prefix}-<n>-<random>`. */
export function uniqueName(prefix: string): string {
  nameCounter++;
  return `${prefix}-${nameCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

// ---- signing (spec §1.4), written independently of src/api/signature.ts ----

export type SignAlgo = 'HmacSHA1' | 'HmacSHA256';

/**
 * The string-to-sign: METHOD + host + path + '?' + the parameters (minus Signature) sorted by key
 * in code-unit order, `_` → `.` in keys after sorting, raw values. With `omitAtValues` the
 * parameters whose value starts with '@' are left out (Python SDK on POST).
 */
export function stringToSign(method: string, host: string, reqPath: string, params: Record<string, string>, omitAtValues = false): string {
  const keys = Object.keys(params)
    .filter((k) => k !== 'Signature' && !(omitAtValues && params[k]!.startsWith('@')))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const query = keys.map((k) => `${k.replace(/_/g, '.')}=${params[k]!}`).join('&');
  return `${method.toUpperCase()}${host}${reqPath}?${query}`;
}

export function hmacBase64(text: string, key: string, algo: SignAlgo): string {
  return createHmac(algo === 'HmacSHA256' ? 'sha256' : 'sha1', Buffer.from(key, 'utf8'))
    .update(Buffer.from(text, 'utf8'))
    .digest('base64');
}

export interface SignOptions {
  method: 'GET' | 'POST';
  host: string;
  path: string;
  secretId: string;
  secretKey: string;
  algo: SignAlgo;
  /** Python quirk: leave '@'-valued parameters out of the string-to-sign. */
  omitAtValues?: boolean;
  /** Extra common parameters (RequestClient, clientRequestId, Token…). */
  extra?: Record<string, string>;
  /** Override Nonce/Timestamp (default: random / now). */
  nonce?: string;
  timestamp?: string;
}

/** All parameters of a signed request, Signature included. */
export function signedParams(action: string, params: Params, o: SignOptions): Record<string, string> {
  const all: Record<string, string> = {
    Action: action,
    Nonce: o.nonce ?? String(1 + Math.floor(Math.random() * 2 ** 31)),
    SecretId: o.secretId,
    SignatureMethod: o.algo,
    Timestamp: o.timestamp ?? String(nowSec()),
    ...(o.extra ?? {}),
  };
  for (const [k, v] of Object.entries(params)) all[k] = String(v);
  all['Signature'] = hmacBase64(stringToSign(o.method, o.host, o.path, all, o.omitAtValues ?? false), o.secretKey, o.algo);
  return all;
}
