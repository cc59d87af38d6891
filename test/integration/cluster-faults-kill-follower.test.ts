// kill -9 of a follower of a 3-node set under steady send/receive/delete load through every node:
// the clients barely notice, the follower restarts and catches up, and the clients' history
// checks clean against a final drain.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { CheckedLoad, describeReport } from '../helpers/checked-load';
import { waitCaughtUp, waitForLeader, withTestSet } from '../helpers/cluster';
import { sendPauses } from '../helpers/load-clients';

const VISIBILITY_S = 3;
/** A follower's death costs a client one failed request and a move to the next node. */
const FOLLOWER_KILL_PAUSE_MS_MAX = 5000;

test('kill -9 of a follower under load: service goes on, the restarted follower catches up', { timeout: 90_000 }, async () => {
  await withTestSet({}, async (set) => {
    const endpoints = set.ids.map(set.url);
    const load = await CheckedLoad.start({ endpoints, queueName: 'kill-follower', visibilityTimeoutS: VISIBILITY_S, batch: 4 });
    set.onClose(() => load.stop());
    await sleep(1500);
    await load.waitForProgress({ sends: 50, deletes: 20 });
    const { leader } = await waitForLeader(set);
    const follower = set.ids.find((id) => id !== leader)!;
    const others = set.ids.filter((id) => id !== follower);

    const killedAt = Date.now();
    await set.servers.get(follower)!.kill9();
    await sleep(2000);
    await load.waitForProgress({ sends: 50, deletes: 20 });
    const pauses = sendPauses(load.history, killedAt, Date.now());
    console.log(`follower-kill max-pause-ms: ${pauses.longestGapMs} (follower ${follower}; slowest acknowledged send ${pauses.longestAckLatencyMs} ms)`);
    assert.ok(pauses.longestGapMs < FOLLOWER_KILL_PAUSE_MS_MAX, `a client waited ${pauses.longestGapMs} ms (${pauses.longestGapClient})`);
    const during = await waitForLeader(set, { among: others });
    console.log(`follower-kill: leader ${leader} before, ${during.leader} with ${follower} down`);

    const restartedAt = Date.now();
    await set.restart(follower);
    const caught = await waitCaughtUp(set, follower);
    console.log(
      `follower-kill: ${follower} caught up ${Date.now() - restartedAt} ms after restart ` +
        `(applied ${caught.appliedIndex} >= leader ${caught.leader} commit ${caught.leaderCommitIndex})`,
    );
    await waitForLeader(set); // all three agree on one leader again
    await load.waitForProgress({ sends: 20, deletes: 10 });

    const report = await load.finish();
    console.log(`follower-kill: ${describeReport(report)}`);
  });
});
