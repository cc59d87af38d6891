// The SDK given every member of a real 3-node set, with the first member in its list down (killed
// with kill -9, and first the leader itself, so the set is electing while the client starts): every
// call succeeds through the survivors, and every acknowledged send is received exactly once. A
// write whose outcome the SDK cannot know is reported with retrySafe false, never silently resent.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CmqClient } from '../../src/client/client';
import { CmqError, CmqNetworkError } from '../../src/client/errors';
import { callUntilOk } from '../helpers/load-clients';
import { waitForLeader, withTestSet } from '../helpers/cluster';

const SENDS = 30;

test('SDK with all members of a set, the first one down (the killed leader): writes and reads go through the others', { timeout: 90_000 }, async () => {
  await withTestSet({}, async (set) => {
    const endpoints = set.ids.map(set.url);
    await callUntilOk(endpoints, 'CreateQueue', { queueName: 'fo', visibilityTimeout: 30 }, { timeoutMs: 20_000, acceptCodes: [4460] });
    const { leader } = await waitForLeader(set);
    const others = set.ids.filter((id) => id !== leader);
    await set.servers.get(leader)!.kill9();

    // The dead leader first: every call must leave it, and ride out the election on the others.
    const client = new CmqClient({ endpoints: [set.url(leader), ...others.map(set.url)], timeoutMs: 5000 });
    try {
      const acked: string[] = [];
      const unknown: string[] = [];
      for (let i = 0; i < SENDS; i++) {
        const body = `fo-${i}`;
        try {
          await client.sendMessage('fo', body);
          acked.push(body);
        } catch (err) {
          // Allowed only as an honest "unknown": never a 6100 left unretried, never a refused connection.
          assert.ok((err instanceof CmqError || err instanceof CmqNetworkError) && !err.retrySafe, `send ${body}: ${String(err)}`);
          unknown.push(`${body}: ${String(err)}`);
        }
      }
      assert.notEqual(client.endpoint, set.url(leader), 'the client left the dead member');
      assert.ok(acked.length >= SENDS - 3, `acknowledged ${acked.length} of ${SENDS}; unknown: ${unknown.join('; ')}`);

      // Reads and receives through the same client.
      const attrs = await client.getQueueAttributes('fo');
      assert.ok(attrs.activeMsgNum >= acked.length, `activeMsgNum ${attrs.activeMsgNum} < ${acked.length} acknowledged`);
      const got: string[] = [];
      for (;;) {
        const batch = await client.batchReceiveMessage('fo', 16, { pollingWaitSeconds: 1 });
        if (batch.length === 0) break;
        got.push(...batch.map((m) => m.body));
        const r = await client.batchDeleteMessage('fo', batch.map((m) => m.receiptHandle));
        assert.equal(r.failed.length, 0, JSON.stringify(r.failed));
      }
      for (const b of acked) assert.equal(got.filter((g) => g === b).length, 1, `${b} received once`);
      console.log(`client-failover: ${acked.length} sends acknowledged through ${others.join(', ')} with ${leader} (killed leader) first in the list; ${unknown.length} unknown`);
    } finally {
      client.close();
    }
  });
});
