// The payment-notification flow: a payment service publishes each payment once to the topic
// `payments`; a queue subscription feeds the settlement worker, and an http subscription pushes
// to the risk-control service, which is down until settlement is done and --down-ms more have
// passed (it answers 503). opencmq keeps retrying
// the pushes (EXPONENTIAL_DECAY_RETRY: 1 s, 2 s, 4 s, ...) until risk control is back, without
// holding up settlement. Exits 0 once every payment was settled and seen by risk control.
//
// Usage: node dist/examples/payment-notification/run.js [--payments N] [--down-ms MS]

import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { CmqClient } from '../../src/client';
import { startServer } from '../../src/node/server';

const DEADLINE_MS = 60_000;

interface RiskControl {
  url: string;
  seen: Set<string>;
  refused: number;
  close(): Promise<void>;
}

/** The risk-control service: answers 503 while `down()`, then records each payment it is told about. */
async function riskControl(down: () => boolean): Promise<RiskControl> {
  const rc = { seen: new Set<string>(), refused: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (down()) {
        rc.refused++;
        res.statusCode = 503;
        res.end('down for maintenance');
        return;
      }
      // JSON notification: {"topicName","subscriptionName","msgId","msgBody","publishTime",...}
      const note = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { msgBody: string };
      const payment = JSON.parse(note.msgBody) as { id: string };
      rc.seen.add(payment.id); // pushes are at-least-once: a set absorbs repeats
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    seen: rc.seen,
    get refused() {
      return rc.refused;
    },
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/risk`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { payments: { type: 'string' }, 'down-ms': { type: 'string' } } });
  const count = Number(values.payments ?? 10);
  const downMs = Number(values['down-ms'] ?? 2500);
  const started = Date.now();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'opencmq-payments-'));
  const server = await startServer({ dataDir, host: '127.0.0.1', port: 0, credentials: [], insecureNoAuth: false, log: () => undefined });
  // Risk control is down until settlement is done and `downMs` more have passed.
  let upAt = Infinity;
  const risk = await riskControl(() => Date.now() < upAt);
  const client = new CmqClient({ endpoint: server.url });
  try {
    await client.createQueue('settlement', { visibilityTimeout: 30 });
    await client.createTopic('payments');
    await client.subscribe('payments', 'settle', { protocol: 'queue', endpoint: 'settlement' });
    await client.subscribe('payments', 'risk', { protocol: 'http', endpoint: risk.url, notifyStrategy: 'EXPONENTIAL_DECAY_RETRY' });

    // Publish once per payment: one log entry puts it in the queue and queues the push.
    for (let i = 1; i <= count; i++) {
      await client.publishMessage('payments', JSON.stringify({ id: `pay-${i}`, amount: i * 10 }), { tags: ['cny'] });
    }
    console.log(`published ${count} payments; risk control is down`);

    // The settlement worker: receive, settle, delete.
    const settled = new Set<string>();
    while (settled.size < count && Date.now() - started < DEADLINE_MS) {
      const m = await client.receiveMessage('settlement', { pollingWaitSeconds: 2 });
      if (!m) continue;
      settled.add((JSON.parse(m.body) as { id: string }).id);
      await client.deleteMessage('settlement', m.receiptHandle);
    }
    console.log(`settled ${settled.size}/${count} after ${Date.now() - started} ms while risk control was down`);
    upAt = Date.now() + downMs;

    while (risk.seen.size < count && Date.now() - started < DEADLINE_MS) await new Promise((r) => setTimeout(r, 100));
    const waiting = (await client.getSubscriptionAttributes('payments', 'risk')).msgCount;
    console.log(`risk control saw ${risk.seen.size}/${count} after ${Date.now() - started} ms; it refused ${risk.refused} pushes while down; ${waiting} still waiting`);
    const okAll = settled.size === count && risk.seen.size === count;
    console.log(okAll ? 'all payments settled and checked' : 'FAILED: some payments were not delivered');
    return okAll ? 0 : 1;
  } finally {
    client.close();
    await risk.close();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
