// A minimal keep-alive HTTP/1.1 client for load generation. Node's http client costs more CPU per
// request than the server does, so on a 2-core machine it, not the server, would set the figures.
// This one writes prebuilt request bytes on a raw socket and frames responses by Content-Length.

import net from 'node:net';
import tls from 'node:tls';

export class RawHttpConnection {
  /** Set: connect over TLS, trusting this CA (the servers run with `--tls-cert`). */
  static tlsCa: Buffer | undefined;

  private readonly socket: net.Socket | tls.TLSSocket;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (body: Buffer) => void; reject: (e: Error) => void } | undefined;
  private closedError: Error | undefined;

  private constructor(socket: net.Socket | tls.TLSSocket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const onClose = (err?: Error): void => {
      this.closedError = err ?? new Error('connection closed');
      this.waiting?.reject(this.closedError);
      this.waiting = undefined;
    };
    socket.on('error', onClose);
    socket.on('close', () => onClose());
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawHttpConnection> {
    return new Promise((resolve, reject) => {
      const ca = RawHttpConnection.tlsCa;
      const connected = (): void => {
        s.off('error', reject);
        resolve(new RawHttpConnection(s));
      };
      const s = ca === undefined ? net.connect(port, host, connected) : tls.connect({ port, host, ca, servername: 'localhost' }, connected);
      s.once('error', reject);
    });
  }

  /** A complete POST request for a form body, built once and reused. */
  static request(form: string, path = '/'): Buffer {
    const body = Buffer.from(form);
    const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`;
    return Buffer.concat([Buffer.from(head), body]);
  }

  /** Send one request and resolve with the response body (one request in flight per connection). */
  send(request: Buffer): Promise<Buffer> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(request);
    });
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const headEnd = this.buf.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.buf.toString('latin1', 0, headEnd);
    const m = /content-length:\s*(\d+)/i.exec(head);
    if (!m) {
      this.waiting?.reject(new Error(`response without Content-Length: ${head}`));
      return;
    }
    const total = headEnd + 4 + Number(m[1]);
    if (this.buf.length < total) return;
    const body = this.buf.subarray(headEnd + 4, total);
    this.buf = this.buf.length > total ? this.buf.subarray(total) : Buffer.alloc(0);
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve(body);
  }
}

/** True when a CMQ response body says code 0, without parsing the JSON. */
export function isOk(body: Buffer): boolean {
  return body.indexOf('"code":0,') >= 0 && body.indexOf('"code":0,') < 16;
}
