// Raw TCP conversations with an HTTP server, for tests of what node:http's client would hide:
// half-sent requests, half-closed connections, pipelining, and chosen source addresses.

import * as net from 'node:net';

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** A form POST to / as raw bytes (Content-Length set). */
export function rawPost(form: string, host = 'test'): string {
  return `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(form)}\r\n\r\n${form}`;
}

/**
 * Open a connection (optionally from a chosen loopback source address) and wait until it is up.
 * With `neverEnd`, the client does not end its side when the server ends its own (node's default
 * does), like a client that never closes.
 */
export function rawConnect(port: number, localAddress?: string, neverEnd = false): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: neverEnd, ...(localAddress ? { localAddress } : {}) });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Everything the server sends until it ends the connection (or `timeoutMs` passes: then
 * rejects). For a `neverEnd` socket that is the server's end of sending, which says nothing about
 * whether the server also let go of the connection: check that on the server.
 */
export function readUntilClose(socket: net.Socket, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    if (socket.closed) {
      resolve(got);
      return;
    }
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection still open after ${timeoutMs} ms; received so far: ${JSON.stringify(got)}`));
    }, timeoutMs);
    socket.on('data', (d: Buffer) => (got += d.toString('utf8')));
    socket.on('error', () => {
      // A reset after the server's answer: what was received is what counts.
    });
    const done = (): void => {
      clearTimeout(timer);
      resolve(got);
    };
    socket.on('close', done);
    if (socket.allowHalfOpen) socket.on('end', done);
  });
}

/** Split a byte stream of HTTP/1.1 responses (each with Content-Length and a JSON body); throws on a partial one. */
export function parseReplies(raw: string): RawReply[] {
  const { replies, rest } = splitReplies(Buffer.from(raw, 'utf8'));
  if (rest.length > 0) throw new Error(`incomplete response: ${JSON.stringify(rest.toString())}`);
  return replies;
}

/** The whole responses at the start of `buf`, and the bytes after them. */
export function splitReplies(buf: Buffer): { replies: RawReply[]; rest: Buffer } {
  const replies: RawReply[] = [];
  let rest = buf;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const lines = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (rest.length < end + 4 + length) break;
    const body = rest.subarray(end + 4, end + 4 + length).toString('utf8');
    replies.push({ status, headers, body: body === '' ? {} : (JSON.parse(body) as Record<string, unknown>) });
    rest = rest.subarray(end + 4 + length);
  }
  return { replies, rest };
}

/** Wait for the next `n` whole responses on an open connection (rejects if it closes first or after `timeoutMs`). */
export function readReplies(socket: net.Socket, n: number, timeoutMs = 30_000): Promise<RawReply[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err: Error | undefined, replies?: RawReply[]): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(replies ?? []);
    };
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const { replies } = splitReplies(buf);
      if (replies.length >= n) done(undefined, replies);
    };
    const onClose = (): void => done(new Error(`connection closed after ${splitReplies(buf).replies.length} of ${n} responses`));
    const timer = setTimeout(() => done(new Error(`${n} responses not received within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}
