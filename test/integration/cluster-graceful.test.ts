// Graceful stop of a set's leader (SIGTERM, as in a rolling restart): it hands leadership to a
// follower before it exits, so writes through the survivors resume after a short pause and no
// acknowledged message is lost.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { startTestSet } from '../helpers/cluster';
import { callUntilOk } from '../helpers/load-clients';
import { arrayParams, cmqCall } from '../helpers/raw-cmq';

test('a leader stopped with SIGTERM hands off leadership first; nothing acknowledged is lost', { timeout: 120_000 }, async () => {
  const set = await startTestSet();
  try {
    const endpoints = set.ids.map(set.url);
    await callUntilOk(endpoints, 'CreateQueue', { queueName: 'jobs' }, { timeoutMs: 20_000, acceptCodes: [0, 4460] });
    const sent: string[] = [];
    for (let i = 0; i < 30; i++) {
      assert.equal((await cmqCall(endpoints[i % 3]!, 'SendMessage', { queueName: 'jobs', msgBody: `job-${i}` })).code, 0);
      sent.push(`job-${i}`);
    }
    const leader = set.leader()!;
    const old = set.servers.get(leader)!;
    const survivors = set.ids.filter((id) => id !== leader);
    const t0 = Date.now();
    const exited = old.stop();
    let pauseMs = -1;
    while (Date.now() - t0 < 20_000) {
      const r = await cmqCall(set.url(survivors[0]!), 'SendMessage', { queueName: 'jobs', msgBody: 'after-handoff' }).catch(() => undefined);
      if (r?.code === 0) {
        pauseMs = Date.now() - t0;
        sent.push('after-handoff');
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await exited, 0, 'the old leader exits cleanly');
    assert.match(old.output(), /transferring leadership to (n\d)/);
    assert.ok(pauseMs >= 0, 'writes resume through a survivor');
    console.log(`graceful hand-off: leader ${leader} stopped; first write through a survivor after ${pauseMs} ms`);

    const got: string[] = [];
    for (;;) {
      const r = await cmqCall(set.url(survivors[1]!), 'BatchReceiveMessage', { queueName: 'jobs', numOfMsg: 16, pollingWaitSeconds: 1 });
      if (r.code === 7000) break;
      assert.equal(r.code, 0, JSON.stringify(r));
      const list = r.msgInfoList as { msgBody: string; receiptHandle: string }[];
      got.push(...list.map((m) => m.msgBody));
      assert.equal((await cmqCall(set.url(survivors[1]!), 'BatchDeleteMessage', { queueName: 'jobs', ...arrayParams('receiptHandle', list.map((m) => m.receiptHandle)) })).code, 0);
    }
    assert.deepEqual([...got].sort(), [...sent].sort());
  } finally {
    await set.close();
  }
});
