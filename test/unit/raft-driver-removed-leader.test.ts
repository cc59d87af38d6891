// A member whose log holds an uncommitted entry removing node X must still answer X: the entry
// may be replaced by the log of a new leader that is X itself. The driver used to drop X from the
// transport's peers as soon as the removal was appended, so such a member could never tell the
// new leader where its log diverged, and stayed behind for good (found by the Raft-level
// simulation, test/sim/raft-driver-sim.ts). Staged here on the simulation scaffolding with three
// shipped drivers on simulated disks, network and time.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RaftDriver } from '../../src/node/raft-driver';
import { HardStateStore } from '../../src/storage/hard-state';
import { SegmentedWal } from '../../src/storage/wal';
import { Prng } from '../sim/prng';
import { SimFs } from '../sim/sim-fs';
import { SimNetwork } from '../sim/sim-network';
import { SimProcessRuntime, SimScheduler } from '../sim/sim-runtime';

const IDS = ['n1', 'n2', 'n3'];
const quiet = (): void => undefined;

interface Member {
  id: string;
  driver: RaftDriver<number>;
  applied: number;
}

async function startSet(): Promise<{ scheduler: SimScheduler; network: SimNetwork; members: Map<string, Member> }> {
  const prng = new Prng(7);
  const scheduler = new SimScheduler(1_700_000_000_000);
  const network = new SimNetwork(scheduler, prng.fork());
  const members = new Map<string, Member>();
  for (const [k, id] of IDS.entries()) {
    const runtime = new SimProcessRuntime(scheduler, id, 0, prng.fork());
    const net = network.attach(id, runtime).group(0);
    const fs = new SimFs();
    const { wal } = await SegmentedWal.open(`/data/${id}/wal`, { fs, runtime, log: quiet });
    const hardState = await HardStateStore.open(`/data/${id}/raft`, fs);
    const driver = new RaftDriver<number>({
      id,
      voters: IDS,
      wal,
      hardState,
      network: net,
      staticPeers: Object.fromEntries(IDS.filter((p) => p !== id).map((p) => [p, { host: 'sim', port: IDS.indexOf(p) + 1 }])),
      appliedIndex: 0,
      lastTimeMs: 0,
      configEntries: [],
      runtime,
      tickMs: 50,
      electionTicks: 10 + k * 5, // n1 times out first and leads; then n2
      heartbeatTicks: 2,
      log: process.env.DBG ? (l: string) => console.log(scheduler.nowMs - 1_700_000_000_000, id, l) : quiet,
      onFatal: (err) => assert.fail(`${id} stopped: ${err.message}`),
    });
    const m: Member = { id, driver, applied: 0 };
    driver.onCommit((entries) => entries.map((e) => (m.applied = e.index)));
    members.set(id, m);
  }
  return { scheduler, network, members };
}

test('a member with an uncommitted removal of the new leader still follows that leader', { timeout: 60_000 }, async () => {
  const { scheduler, network, members } = await startSet();
  const n1 = members.get('n1')!;
  const n3 = members.get('n3')!;
  const leads = (m: Member): boolean => m.driver.status().role === 'leader';
  assert.ok(await scheduler.runUntilTrue(() => leads(n1), 10_000), 'n1 leads');
  let acked = false;
  void n1.driver.propose(new Uint8Array([1]), 0).then((r) => (acked = r.ok));
  assert.ok(await scheduler.runUntilTrue(() => acked && [...members.values()].every((m) => m.applied === n1.driver.status().commitIndex), 10_000));

  // n1 appends "remove n3", but nobody else ever receives it.
  network.isolate('n1', IDS);
  void n1.driver.proposeConfigChange({ type: 'removeVoter', node: 'n3' });
  await scheduler.runUntil(scheduler.nowMs + 100);
  assert.deepEqual(n1.driver.status().voters, ['n1', 'n2'], 'the removal took effect on n1 at append');

  // n2 and n3 go on without n1: n2 leads and commits more, then hands leadership to n3, whose
  // first message to n1 then probes past the end of n1's log (n1 must answer to be caught up).
  const n2 = members.get('n2')!;
  assert.ok(await scheduler.runUntilTrue(() => leads(n2), 20_000), 'n2 leads');
  let acks = 0;
  for (let i = 0; i < 5; i++) void n2.driver.propose(new Uint8Array([2, i]), 0).then((r) => (acks += r.ok ? 1 : 0));
  assert.ok(await scheduler.runUntilTrue(() => acks === 5, 10_000), 'n2 commits with n3');
  assert.equal(n2.driver.transferLeadership('n3').ok, true);
  assert.ok(await scheduler.runUntilTrue(() => leads(n3), 10_000), 'n3 leads');
  acked = false;
  void n3.driver.propose(new Uint8Array([3]), 0).then((r) => (acked = r.ok));
  assert.ok(await scheduler.runUntilTrue(() => acked, 10_000), 'n3 commits with n2');

  // Once the links are back, n1 must learn that its removal entry was replaced, and catch up.
  network.heal();
  const caughtUp = await scheduler.runUntilTrue(() => n1.applied === n3.driver.status().commitIndex && n1.driver.status().voters.includes('n3'), 20_000);
  assert.ok(caughtUp, `n1 applied ${n1.applied} of ${n3.driver.status().commitIndex}; its voters ${n1.driver.status().voters.join(',')}`);
  assert.equal(leads(n3), true);
});
