// kill -9 of the leader of a 3-node set under steady send/receive/delete load through every node:
// a survivor takes over (the failover time is printed), the old leader comes back and catches up,
// and the clients' history checks clean against a final drain.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { CheckedLoad, describeReport } from '../helpers/checked-load';
import { waitCaughtUp, waitForLeader, withTestSet } from '../helpers/cluster';

const VISIBILITY_S = 3;
/** Generous: the aim is well under 1 s (elections after 0.5-1 s of silence), but CI machines stall. */
const FAILOVER_MS_MAX = 5000;

test('kill -9 of the leader under load: a survivor takes over, the old leader rejoins, nothing acknowledged is lost', { timeout: 90_000 }, async () => {
  await withTestSet({}, async (set) => {
    const endpoints = set.ids.map(set.url);
    const load = await CheckedLoad.start({ endpoints, queueName: 'kill-leader', visibilityTimeoutS: VISIBILITY_S });
    set.onClose(() => load.stop());
    await sleep(1500);
    await load.waitForProgress({ sends: 50, deletes: 20 });
    const { leader, term } = await waitForLeader(set);
    const survivors = set.ids.filter((id) => id !== leader);

    const killedAt = Date.now();
    await set.servers.get(leader)!.kill9();
    const failoverMs = await load.firstWrite(survivors.map(set.url), killedAt);
    console.log(`failover-ms: ${failoverMs} (leader ${leader} killed with kill -9 under load; first write through a survivor)`);
    assert.ok(failoverMs < FAILOVER_MS_MAX, `failover took ${failoverMs} ms`);
    const elected = await waitForLeader(set, { among: survivors });
    assert.ok(elected.term > term, `new leader ${elected.leader} in term ${elected.term}, after ${term}`);
    // The load clients themselves get going again (they fail over past the dead node).
    await load.waitForProgress({ sends: 50, deletes: 20 });

    // The old leader restarts (any tail it never replicated is replaced) and catches up.
    await set.restart(leader);
    const caught = await waitCaughtUp(set, leader);
    await waitForLeader(set); // all three agree on one leader again
    console.log(`kill-leader: ${leader} restarted and caught up (applied ${caught.appliedIndex} >= leader ${caught.leader} commit ${caught.leaderCommitIndex})`);
    await load.waitForProgress({ sends: 20, deletes: 10 });

    const report = await load.finish();
    console.log(`kill-leader: ${describeReport(report)}`);
  });
});
