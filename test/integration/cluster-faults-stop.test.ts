// SIGSTOP of a 3-node set's leader under load, for longer than the election timeout: the frozen
// leader keeps its sockets but answers nothing. The other two elect a new leader and serve; on
// SIGCONT the old leader, which still believes it leads, must acknowledge nothing from its stale
// term, step down and follow. The clients' history checks clean against a final drain.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import type { ClusterNodeStatus } from '../../src/protocol/cluster-types';
import { CheckedLoad, describeReport } from '../helpers/checked-load';
import { waitCaughtUp, waitForLeader, withTestSet, type TestSet } from '../helpers/cluster';
import { sendPauses } from '../helpers/load-clients';

const VISIBILITY_S = 3;
/** Longer than the longest randomized election timeout (1 s) and the clients' request timeout (3 s). */
const FROZEN_MS = 4000;
const FAILOVER_MS_MAX = 5000;
/** How long requests sent to the frozen leader may take: the freeze plus a generous margin. */
const STALE_REQUEST_TIMEOUT_MS = FROZEN_MS + 10_000;

/** Poll `id`'s status until it is a follower in a term of at least `term`. */
async function untilFollower(set: TestSet, id: string, term: number, timeoutMs: number): Promise<ClusterNodeStatus> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const st = await set.status(id, 1000).catch((err: unknown) => String(err));
    if (typeof st !== 'string' && st.role === 'follower' && st.term >= term && st.leader !== '' && st.leader !== id) return st;
    last = typeof st === 'string' ? st : `${st.role} in term ${st.term}, leader ${st.leader || '-'}`;
    await sleep(100);
  }
  throw new Error(`${id} did not become a follower (term >= ${term}) within ${timeoutMs} ms; last: ${last}`);
}

test('SIGSTOP of the leader beyond the election timeout: the majority serves; on SIGCONT it steps down and catches up', { timeout: 90_000 }, async () => {
  await withTestSet({}, async (set) => {
    const endpoints = set.ids.map(set.url);
    const load = await CheckedLoad.start({ endpoints, queueName: 'frozen-leader', visibilityTimeoutS: VISIBILITY_S, batch: 2 });
    set.onClose(() => load.stop());
    await sleep(1500);
    await load.waitForProgress({ sends: 50, deletes: 20 });
    const before = await waitForLeader(set);
    const old = before.leader;
    const survivors = set.ids.filter((id) => id !== old);

    const frozen = set.servers.get(old)!;
    const pausedAt = Date.now();
    frozen.pause();
    // Sent straight to the frozen leader: it reads them on SIGCONT while it still believes it leads.
    // They must not be acknowledged unless committed (the history checks), and must be answered.
    const stale = [0, 1, 2].map(() => load.probeSend(set.url(old), STALE_REQUEST_TIMEOUT_MS));
    let during: { leader: string; term: number };
    try {
      const failoverMs = await load.firstWrite(survivors.map(set.url), pausedAt);
      during = await waitForLeader(set, { among: survivors });
      console.log(`sigstop failover-ms: ${failoverMs} (leader ${old} frozen; ${during.leader} leads in term ${during.term})`);
      assert.ok(failoverMs < FAILOVER_MS_MAX, `failover took ${failoverMs} ms`);
      assert.ok(during.term > before.term, `new term ${during.term} after ${before.term}`);
      // The load clients, too, are served by the majority while the old leader is frozen.
      await load.waitForProgress({ sends: 30, deletes: 10 });
      await sleep(Math.max(0, pausedAt + FROZEN_MS - Date.now()));
    } finally {
      frozen.resume();
    }
    const resumedAt = Date.now();

    const staleOutcomes = await Promise.all(stale);
    console.log(`sigstop: sends held by the frozen leader: ${staleOutcomes.map((o) => (o.acked ? `acked after ${o.atMs - resumedAt} ms` : o.reason)).join('; ')}`);
    for (const o of staleOutcomes) assert.doesNotMatch(o.reason, /timed out/, 'a request held by the deposed leader is answered');
    const pauses = sendPauses(load.history, pausedAt, resumedAt);
    console.log(
      `sigstop max-pause-ms: ${pauses.longestGapMs} (longest gap between a client's acknowledged sends while ${old} was frozen, ` +
        `${pauses.longestGapClient}; slowest acknowledged send ${pauses.longestAckLatencyMs} ms)`,
    );
    const stepped = await untilFollower(set, old, during.term, 15_000);
    console.log(`sigstop: ${old} resumed; a follower of ${stepped.leader} in term ${stepped.term} after ${Date.now() - resumedAt} ms`);
    // The frozen member says, when it runs again, how long its event loop was held.
    const held = /event loop held for (\d+) ms/.exec(frozen.output());
    assert.ok(held, 'the member that was frozen warns of the stall');
    assert.ok(Number(held[1]) >= FROZEN_MS * 0.8, `it reports ${held[1]} ms held, frozen for ${FROZEN_MS} ms`);
    const caught = await waitCaughtUp(set, old);
    console.log(`sigstop: ${old} caught up (applied ${caught.appliedIndex} >= leader ${caught.leader} commit ${caught.leaderCommitIndex})`);
    await waitForLeader(set); // all three agree on one leader again
    await load.waitForProgress({ sends: 30, deletes: 10 });

    const report = await load.finish();
    console.log(`sigstop: ${describeReport(report)}`);
  });
});
