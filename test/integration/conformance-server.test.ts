// The conformance suite (test/conformance/) against the server, through the SDK over HTTP: once
// against a single node, once through a follower of a 3-node set (every write forwarded to the
// leader, every read answered after catching up), and once through a node of a cluster of two
// sets with a controller (queues and topics placed on both sets, every call routed to the set that
// holds its queue or topic). The same cases run against InMemoryCmq in
// test/unit/conformance-fake.test.ts.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CmqClient } from '../../src/client/client';
import { startServer, type StartedServer } from '../../src/node/server';
import { freePorts, startTestSet, waitForLeader } from '../helpers/cluster';
import { startTestServer } from '../helpers/http-harness';
import { fixture } from '../helpers/tls-fixtures';
import { queueCases } from '../conformance/queue-cases';
import { runConformance, type Target } from '../conformance/target';
import { topicCases } from '../conformance/topic-cases';

const cases = [...queueCases, ...topicCases];

runConformance('single server', async (): Promise<Target> => {
  const s = await startTestServer();
  const client = new CmqClient({ endpoint: s.url, retries: 0, timeoutMs: 30_000, ...(s.url.startsWith('https:') ? { ca: fixture('ca.pem') } : {}) });
  return {
    api: client,
    close: async () => {
      client.close();
      await s.close();
    },
  };
}, cases);

runConformance('follower of a 3-node set', async (): Promise<Target> => {
  const set = await startTestSet();
  try {
    const { leader } = await waitForLeader(set, { timeoutMs: 60_000 });
    const follower = set.ids.find((id) => id !== leader)!;
    const client = new CmqClient({ endpoint: set.url(follower), retries: 0, timeoutMs: 30_000 });
    return {
      api: client,
      close: async () => {
        client.close();
        await set.close();
      },
    };
  } catch (err) {
    await set.close();
    throw err;
  }
}, cases, { timeoutMs: 120_000 });

runConformance('a node of a cluster of two sets', async (): Promise<Target> => {
  // Two one-node sets in this process: n1 is set 1 and the controller's voter, n2 is set 2; the
  // client talks to n2 only.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-conformance-sets-'));
  const host = '127.0.0.1';
  const ports = await freePorts(['n1', 'n2']);
  const voters = { n1: { host, port: ports.n1! } };
  const servers: StartedServer[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(servers.map((x) => x.close()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, id] of ['n1', 'n2'].entries()) {
      servers.push(
        await startServer({
          dataDir: path.join(dir, id),
          host,
          port: 0,
          credentials: [],
          insecureNoAuth: false,
          fsync: false,
          log: () => undefined,
          cluster: { nodeId: id, raftHost: host, raftPort: ports[id]!, peers: {}, secret: 'conformance cluster secret 0123456789' },
          setId: i + 1,
          controller: { voters, callers: {} },
        }),
      );
    }
    const client = new CmqClient({ endpoint: servers[1]!.url, retries: 0, timeoutMs: 30_000 });
    // Placement needs both sets registered with the controller (each within its first report):
    // until then a set is unknown to the other's directory.
    const ctx = { requestId: 'conformance-warm-up', clientAddress: host, receivedAtMs: Date.now() };
    const deadline = Date.now() + 90_000;
    for (;;) {
      const [a, b] = await Promise.all([servers[0]!.sets!.service(2).listQueues(ctx, undefined, 0, 1), servers[1]!.sets!.service(1).listQueues(ctx, undefined, 0, 1)]);
      if (a.ok && b.ok) break;
      if (Date.now() > deadline) throw new Error(`the two sets did not register: ${JSON.stringify([a, b])}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return { api: client, close: async () => { client.close(); await close(); } };
  } catch (err) {
    await close();
    throw err;
  }
}, cases, { timeoutMs: 120_000 });
