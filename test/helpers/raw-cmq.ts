// A deliberately minimal CMQ caller (form POST, unsigned) for wire-level tests that must not
// depend on our own SDK.

import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export type CmqResponse = Record<string, unknown> & { code: number; message: string; requestId: string };

export function cmqCall(endpoint: string, action: string, params: Record<string, string | number> = {}): Promise<CmqResponse> {
  const body = new URLSearchParams({ Action: action });
  for (const [k, v] of Object.entries(params)) body.append(k, String(v));
  const data = Buffer.from(body.toString());
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: '/v2/index.php',
        method: 'POST',
        agent,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': data.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
            resolve(JSON.parse(Buffer.concat(chunks).toString()) as CmqResponse);
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Array parameters as the SDKs send them: name.1 … name.n. */
export function arrayParams(name: string, values: string[], base = 1): Record<string, string> {
  const out: Record<string, string> = {};
  values.forEach((v, i) => (out[`${name}.${i + base}`] = v));
  return out;
}

/**
 * Receives (without deleting) every message of `queue` and returns the bodies. A receive whose
 * only message has a damaged body answers 6000 (quarantined); draining goes on past it.
 */
export async function drainBodiesPastDamage(endpoint: string, queue: string): Promise<string[]> {
  const out: string[] = [];
  for (let guard = 0; guard < 100; guard++) {
    const r = await cmqCall(endpoint, 'BatchReceiveMessage', { queueName: queue, numOfMsg: 16, pollingWaitSeconds: 0 });
    if (r.code === 7000) return out;
    if (r.code !== 0) {
      if (r.code !== 6000) throw new Error(`unexpected answer while draining ${queue}: ${JSON.stringify(r)}`);
      continue;
    }
    for (const m of r.msgInfoList as { msgBody: string }[]) out.push(m.msgBody);
  }
  return out;
}
