// The conformance suite (test/conformance/) against the server, through the SDK over HTTP: once
// against a single node, once through a follower of a 3-node set (every write forwarded to the
// leader, every read answered after catching up). The same cases run against InMemoryCmq in
// test/unit/conformance-fake.test.ts.

import { CmqClient } from '../../src/client/client';
import { startTestSet, waitForLeader } from '../helpers/cluster';
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
