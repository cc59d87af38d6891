// A follower that was down while the leader compacted its log catches up through a snapshot
// transfer (InstallSnapshot): the leader ships its snapshot plus the log runs that still hold live
// message bodies (with holes where segments were released), the follower installs them, survives
// a kill -9 afterwards, and, made leader, delivers exactly the messages that should be there.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { callUntilOk, drainQueue } from '../helpers/load-clients';
import { cmqCall } from '../helpers/raw-cmq';
import { startTestSet, waitCaughtUp, waitForLeader } from '../helpers/cluster';

async function send(endpoint: string, queue: string, body: string): Promise<void> {
  const r = await cmqCall(endpoint, 'SendMessage', { queueName: queue, msgBody: body });
  assert.equal(r.code, 0, JSON.stringify(r));
}

/** Receive and delete until the queue is empty; returns the bodies. */
function drain(endpoint: string, queueName: string): Promise<string[]> {
  return drainQueue({ endpoints: [endpoint], queueName, pollingWaitSeconds: 0, emptyReceivesToStop: 1 });
}

test('a follower behind the compacted log catches up by snapshot transfer and keeps every message', { timeout: 120_000 }, async () => {
  const set = await startTestSet({ extraArgs: ['--snapshot-every', '150'] });
  try {
    const endpoints = set.ids.map(set.url);
    await callUntilOk(endpoints, 'CreateQueue', { queueName: 'keep', visibilityTimeout: 60 }, { timeoutMs: 20_000, acceptCodes: [0, 4460] });
    await callUntilOk(endpoints, 'CreateQueue', { queueName: 'churn', visibilityTimeout: 60 }, { timeoutMs: 20_000, acceptCodes: [0, 4460] });
    const { leader } = await waitForLeader(set);
    const lead = set.url(leader);
    const lagger = set.ids.find((id) => id !== leader)!;

    const expected: string[] = [];
    for (let i = 0; i < 30; i++) {
      await send(lead, 'keep', `early-${i}`);
      expected.push(`early-${i}`);
    }
    await set.servers.get(lagger)!.kill9();

    // 32 KiB messages fill several 4 MiB segments; once consumed, those segments hold nothing
    // live and the leader's next snapshot releases them, leaving holes below the snapshot.
    const pad = 'x'.repeat(32 * 1024);
    for (let i = 0; i < 300; i++) await send(lead, 'churn', `big-${i}:${pad}`);
    const churned = await drain(lead, 'churn');
    assert.equal(churned.length, 300);
    for (let i = 0; i < 250; i++) {
      await send(lead, 'keep', `late-${i}`);
      expected.push(`late-${i}`);
    }

    await set.restart(lagger);
    await waitCaughtUp(set, lagger, { timeoutMs: 30_000 });
    const sent = /sent snapshot (\d+) \(\d+ bytes\) and (\d+) entries/.exec(set.servers.get(leader)!.output());
    assert.ok(sent, 'the leader shipped a snapshot');
    console.log(`snapshot-transfer: ${sent[0]}`);
    // Released segments left holes: fewer entries went than the snapshot covers.
    assert.ok(Number(sent[2]) < Number(sent[1]), `shipped ${sent[2]} entries for snapshot ${sent[1]}`);
    assert.match(set.servers.get(lagger)!.output(), /installed snapshot \d+/, 'the follower installed it');

    // The installed state is durable: kill -9 and restart the follower, it recovers from it.
    await send(lead, 'keep', 'after-install');
    expected.push('after-install');
    await set.servers.get(lagger)!.kill9();
    await set.restart(lagger);
    await waitCaughtUp(set, lagger, { timeoutMs: 30_000 });

    // Made leader, it serves every message from its own log and snapshot.
    const { leader: current } = await waitForLeader(set);
    const moved = await cmqCall(set.url(current), 'OpencmqTransferLeader', { nodeId: lagger });
    assert.equal(moved.code, 0, JSON.stringify(moved));
    const got = await drain(set.url(lagger), 'keep');
    assert.deepEqual([...got].sort(), [...expected].sort());
    const rest = await cmqCall(set.url(lagger), 'ReceiveMessage', { queueName: 'churn', pollingWaitSeconds: 0 });
    assert.equal(rest.code, 7000, 'consumed messages stay consumed');
  } catch (err) {
    for (const [id, s] of set.servers) console.log(`---- ${id} ----\n${s.output().slice(-4000)}`);
    throw err;
  } finally {
    await set.close();
  }
});
