// One HTTP request/response over node:http(s), with the failure classified for the retry policy:
// whether the request could have reached the server decides whether a write may be retried.

import * as http from 'node:http';
import * as https from 'node:https';
import { CmqNetworkError } from './errors';

/** A response larger than this is refused (16 messages of 1 MiB, JSON-escaped, fit well inside). */
export const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;

export interface HttpExchangeRequest {
  url: URL;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Give up connecting after this long (default timeoutMs); such a request was never sent. */
  connectTimeoutMs?: number;
  agent: http.Agent;
  signal?: AbortSignal;
}

export interface HttpExchangeResponse {
  status: number;
  body: string;
}

const CONNECT_ERROR_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

function classify(err: unknown, connected: boolean): CmqNetworkError {
  if (err instanceof CmqNetworkError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.name === 'AbortError') return new CmqNetworkError('aborted', 'request aborted', { cause: err });
  const text = `${e.code ?? e.name}: ${e.message}`;
  if (!connected && e.code !== undefined && CONNECT_ERROR_CODES.has(e.code)) {
    return new CmqNetworkError('connect', text, { cause: err, mayHaveBeenApplied: false });
  }
  return new CmqNetworkError('reset', text, { cause: err });
}

export function httpExchange(x: HttpExchangeRequest): Promise<HttpExchangeResponse> {
  return new Promise((resolve, reject) => {
    if (x.signal?.aborted === true) {
      reject(new CmqNetworkError('aborted', 'request aborted', { mayHaveBeenApplied: false }));
      return;
    }
    let connected = false;
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      reject(classify(err, connected));
    };
    const transport = x.url.protocol === 'https:' ? https : http;
    const options: http.RequestOptions = { method: x.method, headers: x.headers, agent: x.agent, timeout: x.timeoutMs };
    if (x.signal !== undefined) options.signal = x.signal;
    const req = transport.request(x.url, options, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > RESPONSE_BYTES_MAX) {
          req.destroy(new CmqNetworkError('parse', `response larger than ${RESPONSE_BYTES_MAX} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', fail);
    });
    req.on('socket', (socket) => {
      if (!socket.connecting) {
        connected = true;
        return;
      }
      const connectTimeoutMs = x.connectTimeoutMs ?? x.timeoutMs;
      const timer = setTimeout(() => {
        req.destroy(new CmqNetworkError('connect', `no connection within ${connectTimeoutMs} ms`, { mayHaveBeenApplied: false }));
      }, connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        connected = true;
      });
      socket.once('close', () => clearTimeout(timer));
    });
    req.on('timeout', () => {
      req.destroy(
        connected
          ? new CmqNetworkError('timeout', `no response within ${x.timeoutMs} ms`)
          : new CmqNetworkError('connect', `no connection within ${x.timeoutMs} ms`, { mayHaveBeenApplied: false }),
      );
    });
    req.on('error', fail);
    req.end(x.body);
  });
}
