// The admin listener (`--admin-port`): liveness, readiness and Prometheus metrics for orchestrators
// and monitoring, on a port of its own because the CMQ port must answer every path as CMQ.
//   GET /healthz  200 while the process runs (and its event loop turns)
//   GET /readyz   200 when this node can serve clients, else 503 with {"ready":false,"reason",...}
//   GET /metrics  Prometheus text format

import * as http from 'node:http';

import type { NodeMetrics } from './metrics';
import type { NodeObservation } from './queue-node';
import { decideReadiness } from './readiness';
import type { Logger } from '../protocol/log';

export interface AdminServerOptions {
  /** The node's state now (readiness). */
  observe: () => NodeObservation;
  metrics: NodeMetrics;
  log: Logger;
}

export function createAdminServer(opts: AdminServerOptions): http.Server {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(res, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n', { Allow: 'GET, HEAD' });
      return;
    }
    if (path === '/healthz') {
      reply(res, 200, 'text/plain; charset=utf-8', 'ok\n');
    } else if (path === '/readyz') {
      const r = decideReadiness(opts.observe());
      const body = r.ready ? { ready: true, leader: r.leader } : { ready: false, reason: r.reason, detail: r.detail };
      reply(res, r.ready ? 200 : 503, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`);
    } else if (path === '/metrics') {
      opts.metrics.render().then(
        (text) => reply(res, 200, opts.metrics.contentType(), text),
        (err: unknown) => {
          opts.log.error(`/metrics failed: ${err instanceof Error ? err.message : String(err)}`);
          reply(res, 500, 'text/plain; charset=utf-8', 'metrics collection failed\n');
        },
      );
    } else {
      reply(res, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /readyz or /metrics\n');
    }
  });
  // Scrapers and probes reconnect cheaply; idle sockets must not hold a closing server open.
  server.keepAliveTimeout = 5000;
  return server;
}

function reply(res: http.ServerResponse, status: number, contentType: string, body: string, extra: http.OutgoingHttpHeaders = {}): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': bytes.length, 'Cache-Control': 'no-store', ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}
