// A node hosts Raft groups: one peer network with a view per group, one replica per group with
// its data in its own directory and ids naming its group. Run here on the simulator's scaffolding
// (virtual time, simulated disks and network), as the server's code runs there.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CommandResult } from '../../src/broker/commands';
import { groupDataDir, NodeHost } from '../../src/node/host';
import { QueueNode } from '../../src/node/queue-node';
import type { RequestContext } from '../../src/service/request-context';
import { Prng } from '../sim/prng';
import { SimFs } from '../sim/sim-fs';
import { SimNetwork } from '../sim/sim-network';
import { SimProcessRuntime, SimScheduler } from '../sim/sim-runtime';

const CTX: RequestContext = { requestId: 'host-test', clientAddress: '', receivedAtMs: 0 };
const IDS = ['n1', 'n2', 'n3'];
const GROUPS = [0, 7];
const quiet = (): void => undefined;

async function settled<T>(scheduler: SimScheduler, p: Promise<T>, maxMs = 30_000): Promise<T> {
  const r = await scheduler.settle(p, maxMs);
  assert.ok(r, 'did not settle in virtual time');
  if (r.status === 'rejected') throw r.reason;
  return r.value;
}

test('three hosts run two groups over one network each: both elect, serve, and keep apart', { timeout: 60_000 }, async () => {
  const scheduler = new SimScheduler(1_700_000_000_000);
  const prng = new Prng(42);
  const network = new SimNetwork(scheduler, prng.fork());
  const disks = new Map(IDS.map((id) => [id, new SimFs()]));
  /** setInterval calls per host: the Raft ticks of both groups share one timer. */
  const intervals = new Map<string, number>();
  const hosts = await settled(
    scheduler,
    Promise.all(
      IDS.map((id) => {
        const runtime = new SimProcessRuntime(scheduler, id, 0, prng.fork());
        const setInterval = runtime.setInterval.bind(runtime);
        runtime.setInterval = (fn, ms) => {
          intervals.set(id, (intervals.get(id) ?? 0) + 1);
          return setInterval(fn, ms);
        };
        const peers = Object.fromEntries(IDS.filter((p) => p !== id).map((p, i) => [p, { host: 'sim', port: i + 1 }]));
        return NodeHost.open(
          { dataDir: `/data/${id}`, nodeId: id, network: network.attach(id, runtime), replica: { fs: disks.get(id)!, runtime, log: quiet } },
          GROUPS.map((group) => ({ group, voters: IDS, staticPeers: peers })),
        );
      }),
    ),
  );
  const leaderOf = (group: number): QueueNode | undefined => hosts.map((h) => h.group(group)).find((n) => n.leaderId() !== undefined && n.leaderId() === n.observe().raft.id);
  assert.ok(await scheduler.runUntilTrue(() => GROUPS.every((g) => leaderOf(g) !== undefined), 20_000), 'both groups elect a leader');
  for (const id of IDS) assert.equal(intervals.get(id), 1, `${id} runs one tick timer for its two groups`);

  const sent = new Map<number, CommandResult>();
  for (const g of GROUPS) {
    const leader = leaderOf(g)!;
    const created = await settled(scheduler, leader.submit(CTX, { kind: 'createQueue', queueName: 'q', attrs: { pollingWaitSeconds: 0 } }));
    assert.ok(created.ok && created.kind === 'createQueue');
    assert.equal(created.queueId.startsWith('g7:'), g === 7);
    const r = await settled(scheduler, leader.submit(CTX, { kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from(`to group ${g}`)] }));
    sent.set(g, r);
  }
  const s0 = sent.get(0)!;
  const s7 = sent.get(7)!;
  assert.ok(s0.ok && s0.kind === 'sendMessages' && s7.ok && s7.kind === 'sendMessages');
  assert.match(s0.msgIds[0]!, /^\d+$/, 'group 0 ids as they always were');
  assert.match(s7.msgIds[0]!, /^g7:\d+$/);

  for (const g of GROUPS) {
    const got = await settled(scheduler, leaderOf(g)!.receive(CTX, 'q', 16, 0));
    assert.ok(got.ok);
    assert.deepEqual(
      got.messages.map((m) => m.bodyBytes.toString()),
      [`to group ${g}`],
      'each group serves only its own messages',
    );
  }
  // Each group's log is in its own directory on every member: group 0 where it always was.
  for (const id of IDS) {
    const paths = disks.get(id)!.paths();
    assert.ok(paths.some((p) => p.startsWith(`/data/${id}/wal/`) && p.endsWith('.wal')), `group 0's log on ${id}`);
    assert.ok(paths.some((p) => p.startsWith(`${groupDataDir(`/data/${id}`, 7)}/wal/`) && p.endsWith('.wal')), `group 7's log on ${id}`);
  }
  assert.equal(groupDataDir('/d', 0), '/d');
  assert.equal(groupDataDir('/d', 7), '/d/groups/7');
  await settled(scheduler, Promise.all(hosts.map((h) => h.close())));
});

test('a data directory written before hosts existed opens unchanged as group 0', { timeout: 60_000 }, async () => {
  const scheduler = new SimScheduler(1_700_000_000_000);
  const runtime = new SimProcessRuntime(scheduler, 'n1', 0, new Prng(1));
  let fs = new SimFs();
  const old = await settled(scheduler, QueueNode.open({ dataDir: '/data', fs, runtime, log: quiet }));
  await settled(scheduler, old.submit(CTX, { kind: 'createQueue', queueName: 'q', attrs: { pollingWaitSeconds: 0 } }));
  const sent = await settled(scheduler, old.submit(CTX, { kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('kept')] }));
  assert.ok(sent.ok && sent.kind === 'sendMessages');
  await settled(scheduler, old.close());
  fs = fs.restart();
  const again = new SimProcessRuntime(scheduler, 'n1#2', 0, new Prng(2));
  const host = await settled(scheduler, NodeHost.open({ dataDir: '/data', replica: { fs, runtime: again, log: quiet } }, [{ group: 0, voters: ['n1'] }]));
  const got = await settled(scheduler, host.group(0).receive(CTX, 'q', 1, 0));
  assert.ok(got.ok);
  assert.equal(got.messages[0]?.msgId, sent.msgIds[0]);
  assert.equal(got.messages[0]?.bodyBytes.toString(), 'kept');
  assert.ok(!fs.paths().some((p) => p.startsWith('/data/groups')), 'nothing moved');
  await assert.rejects(NodeHost.open({ dataDir: '/x', replica: { fs, runtime: again, log: quiet } }, [{ group: 1, voters: ['n1'] }, { group: 1, voters: ['n1'] }]), /hosted twice/);
  assert.throws(() => host.group(3), /not hosted/);
  await settled(scheduler, host.close());
});
