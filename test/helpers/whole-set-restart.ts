// A fault scenario shared by two test files: the whole 3-node set goes down at once under load and
// comes back on its data directories.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { CheckedLoad, describeReport } from './checked-load';
import { waitForLeader, withTestSet } from './cluster';
import type { History } from './history';

const VISIBILITY_S = 3;

/** Messages acknowledged by `atMs` and not (acknowledged as) deleted by then: what must survive. */
function backlogAt(history: History, atMs: number): number {
  const bodyOfHandle = new Map(history.receives().map((r) => [r.receiptHandle, r.body] as const));
  const deleted = new Set<string>();
  for (const d of history.deletes()) {
    const body = bodyOfHandle.get(d.receiptHandle);
    if (d.acked && d.atMs <= atMs && body !== undefined) deleted.add(body);
  }
  return history.sends().filter((s) => s.outcome === 'acked' && s.endMs !== undefined && s.endMs <= atMs && !deleted.has(s.body)).length;
}

/**
 * Start a set and a load on `queueName` (more senders than receivers, so a backlog builds up),
 * take all three members down at once (`how`), start them again, let the load go on, and check
 * the history against a final drain.
 */
export async function restartWholeSetUnderLoad(how: 'kill -9' | 'SIGTERM', queueName: string): Promise<void> {
  await withTestSet({}, async (set) => {
    const endpoints = set.ids.map(set.url);
    // More senders than receivers, so a backlog builds up that the restart must keep.
    const load = await CheckedLoad.start({ endpoints, queueName, visibilityTimeoutS: VISIBILITY_S, senders: 3, receivers: 1, batch: 4 });
    set.onClose(() => load.stop());
    await sleep(2000);
    await load.waitForProgress({ sends: 100, deletes: 20 });

    const downAt = Date.now();
    if (how === 'kill -9') {
      await Promise.all(set.ids.map((id) => set.servers.get(id)!.kill9()));
    } else {
      const codes = await Promise.all(set.ids.map((id) => set.servers.get(id)!.stop()));
      assert.deepEqual(codes, [0, 0, 0], 'every member exits cleanly on SIGTERM');
    }
    const backlog = backlogAt(load.history, downAt);
    assert.ok(backlog > 0, 'a backlog of acknowledged messages was in the queue when the set went down');

    const upAt = Date.now();
    await Promise.all(set.ids.map((id) => set.restart(id)));
    const { leader, term } = await waitForLeader(set);
    console.log(`restart-all (${how}): ${backlog} acknowledged messages queued at the stop; leader ${leader} in term ${term} ${Date.now() - upAt} ms after the restart`);
    await load.waitForProgress({ sends: 50, deletes: 20 });

    const report = await load.finish();
    console.log(`restart-all (${how}): ${describeReport(report)}`);
  });
}
