// A 3-node set as real processes: any node accepts any request (followers forward to the
// leader), every acknowledged message is delivered once, and after kill -9 of the leader the
// survivors elect a new one and keep serving. Prints the measured failover time.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { callUntilOk } from '../helpers/load-clients';
import { arrayParams, cmqCall } from '../helpers/raw-cmq';
import { startTestSet, waitForLeader } from '../helpers/cluster';

async function drain(endpoint: string, queue: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const r = await cmqCall(endpoint, 'BatchReceiveMessage', { queueName: queue, numOfMsg: 16, pollingWaitSeconds: 1 });
    if (r.code === 7000) return bodies;
    assert.equal(r.code, 0, JSON.stringify(r));
    const list = r.msgInfoList as { msgBody: string; receiptHandle: string }[];
    bodies.push(...list.map((m) => m.msgBody));
    const d = await cmqCall(endpoint, 'BatchDeleteMessage', { queueName: queue, ...arrayParams('receiptHandle', list.map((m) => m.receiptHandle)) });
    assert.equal(d.code, 0, JSON.stringify(d));
  }
}

test('a 3-node set: forwarding, replication, and failover after kill -9 of the leader', { timeout: 120_000 }, async () => {
  const set = await startTestSet();
  const { ids, servers, url } = set;
  try {
    const endpoints = ids.map(url);

    await callUntilOk(endpoints, 'CreateQueue', { queueName: 'orders', visibilityTimeout: 30 }, { timeoutMs: 20_000, acceptCodes: [0, 4460] });
    // Start-up may see a second election (a member that timed out before the first leader reached
    // it); count on the set once every member agrees on one leader.
    await waitForLeader(set);
    // Every node answers; followers forward to the leader.
    const sent: string[] = [];
    for (let i = 0; i < 60; i++) {
      const body = `order-${i}`;
      const r = await cmqCall(endpoints[i % 3]!, 'SendMessage', { queueName: 'orders', msgBody: body });
      assert.equal(r.code, 0, `send via ${ids[i % 3]}: ${JSON.stringify(r)}`);
      sent.push(body);
    }
    const firstLeader = set.leader();
    assert.ok(firstLeader, 'a leader was elected and logged');
    // Each node reports its own Raft state: one leader, one term, everyone agrees on the leader.
    const statuses = await Promise.all(ids.map((id) => cmqCall(url(id), 'OpencmqClusterStatus')));
    for (const [i, st] of statuses.entries()) {
      assert.equal(st.code, 0, JSON.stringify(st));
      assert.equal(st.nodeId, ids[i], 'answered by the node asked, not forwarded');
      assert.equal(st.leader, firstLeader);
      assert.deepEqual(st.voters, ids);
    }
    assert.deepEqual(statuses.filter((st) => st.role === 'leader').map((st) => st.nodeId), [firstLeader]);
    assert.equal(new Set(statuses.map((st) => st.term)).size, 1);
    const leaderStatus = statuses.find((st) => st.role === 'leader')!;
    assert.equal((leaderStatus.peers as unknown[]).length, 2, "the leader reports its followers' progress");

    // Leadership moves on request, asked through a follower (forwarded to the leader).
    const target = ids.find((id) => id !== firstLeader)!;
    const asked = ids.find((id) => id !== firstLeader && id !== target)!;
    const moved = await cmqCall(url(asked), 'OpencmqTransferLeader', { nodeId: target });
    assert.equal(moved.code, 0, JSON.stringify(moved));
    assert.deepEqual([moved.from, moved.to], [firstLeader, target]);
    const after = await cmqCall(url(target), 'OpencmqClusterStatus');
    assert.equal(after.role, 'leader');
    const bad = await cmqCall(url(asked), 'OpencmqTransferLeader', { nodeId: 'n9' });
    assert.equal(bad.code, 4000, 'an unknown member is refused');
    const leader = target;
    const survivors = ids.filter((id) => id !== leader);

    // kill -9 the (new) leader; time until a write succeeds through a survivor.
    await servers.get(leader)!.kill9();
    const t0 = Date.now();
    let failoverMs = -1;
    for (let attempt = 0; Date.now() - t0 < 30_000; attempt++) {
      const r = await cmqCall(url(survivors[attempt % 2]!), 'SendMessage', { queueName: 'orders', msgBody: 'after-failover' }).catch(() => undefined);
      if (r?.code === 0) {
        failoverMs = Date.now() - t0;
        sent.push('after-failover');
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(failoverMs >= 0, 'a survivor accepted a write after the leader died');
    console.log(`failover: leader ${leader} killed; first successful write after ${failoverMs} ms`);

    const got = await drain(url(survivors[1]!), 'orders');
    assert.deepEqual([...got].sort(), [...sent].sort(), 'every acknowledged message delivered exactly once');
  } finally {
    await set.close();
  }
});
