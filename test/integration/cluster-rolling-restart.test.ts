// A rolling restart of a 3-node set under continuous load: each member in turn is stopped with
// SIGTERM (the leader hands off first), started again on its data directory, and waited for until
// it has caught up, before the next. No acknowledged message is lost; the longest pause any client
// saw is printed.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { CheckedLoad, describeReport } from '../helpers/checked-load';
import { waitCaughtUp, waitForLeader, withTestSet } from '../helpers/cluster';
import { sendPauses } from '../helpers/load-clients';

const VISIBILITY_S = 3;
/** Generous: a graceful hand-off pauses writes for tens of ms, but CI machines stall. */
const ROLLING_PAUSE_MS_MAX = 8000;

test('rolling restart under load: every member restarted in turn, nothing acknowledged is lost', { timeout: 120_000 }, async () => {
  await withTestSet({}, async (set) => {
    const endpoints = set.ids.map(set.url);
    const load = await CheckedLoad.start({ endpoints, queueName: 'rolling', visibilityTimeoutS: VISIBILITY_S, batch: 2 });
    set.onClose(() => load.stop());
    await sleep(1500);
    await load.waitForProgress({ sends: 50, deletes: 20 });
    const { leader } = await waitForLeader(set);
    const followers = set.ids.filter((id) => id !== leader);
    // The leader in the middle: one restart of a follower before it, one after it.
    const order = [followers[0]!, leader, followers[1]!];

    const startedAt = Date.now();
    for (const id of order) {
      const t0 = Date.now();
      const role = (await set.status(id)).role;
      const code = await set.servers.get(id)!.stop();
      assert.equal(code, 0, `${id} exits cleanly on SIGTERM`);
      await set.restart(id);
      const caught = await waitCaughtUp(set, id);
      await waitForLeader(set); // all three agree on one leader again
      console.log(`rolling-restart: ${id} (${role}) stopped, restarted and caught up in ${Date.now() - t0} ms (applied ${caught.appliedIndex}, leader ${caught.leader})`);
      await load.waitForProgress({ sends: 30, deletes: 10 });
    }
    const endedAt = Date.now();

    const pauses = sendPauses(load.history, startedAt, endedAt);
    console.log(
      `rolling-restart max-pause-ms: ${pauses.longestGapMs} (longest gap between a client's acknowledged sends, ${pauses.longestGapClient}; ` +
        `slowest acknowledged send ${pauses.longestAckLatencyMs} ms; whole restart ${endedAt - startedAt} ms)`,
    );
    assert.ok(pauses.longestGapMs < ROLLING_PAUSE_MS_MAX, `a client waited ${pauses.longestGapMs} ms`);

    const report = await load.finish();
    console.log(`rolling-restart: ${describeReport(report)}`);
  });
});
