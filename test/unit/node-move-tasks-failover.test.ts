// A message move task survives the loss of its leader: three real QueueNodes on simulated disks,
// network and virtual time (test/sim/); the leader moving a paced task loses power mid-task, and
// the member elected next resumes the task from the replicated state and completes it, each
// message moved exactly once.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { CommandResult, MoveTaskView } from '../../src/broker/commands';
import { NodeHost } from '../../src/node/host';
import type { QueueNode } from '../../src/node/queue-node';
import type { RequestContext } from '../../src/service/request-context';
import { Prng } from '../sim/prng';
import { SimNetwork } from '../sim/sim-network';
import { SimMachine, type MachineStats } from '../sim/sim-machine';
import { SimScheduler } from '../sim/sim-runtime';

const RC: RequestContext = { requestId: 'test-move-failover', clientAddress: '', receivedAtMs: 0 };
const IDS = ['n1', 'n2', 'n3'];
const MESSAGES = 60;
const RATE = 10;

class Member extends SimMachine {
  node: QueueNode | undefined;
}

function setUp(seed: number) {
  const scheduler = new SimScheduler(1_700_000_000_000);
  const rng = new Prng(seed);
  const network = new SimNetwork(scheduler, rng.fork());
  const stats: MachineStats = { crashes: 0, restarts: 0, fatalStops: 0, tornWrites: 0, lostWrites: 0 };
  const members = IDS.map((id) => new Member(id, scheduler, rng, stats));
  const boot = (m: Member): void => {
    const runtime = m.startProcess();
    const net = network.attach(m.id, runtime);
    m.node = undefined;
    const peers = Object.fromEntries(IDS.filter((p) => p !== m.id).map((p, i) => [p, { host: 'sim', port: i + 1 }]));
    void NodeHost.open({ dataDir: `/data/${m.id}`, nodeId: m.id, network: net, replica: { fs: m.fs, runtime, log: () => undefined } }, [
      { group: 0, voters: [...IDS], staticPeers: peers },
    ]).then((host) => {
      if (m.runs(runtime)) m.node = host.group(0);
    });
  };
  for (const m of members) boot(m);
  const leader = (): Member | undefined => members.find((m) => m.up && m.node !== undefined && m.node.leaderId() === m.id);
  /** Runs virtual time until `p` settles; its value. */
  const settle = async <T>(p: Promise<T>, maxMs = 30_000): Promise<T> => {
    const r = await scheduler.settle(p, maxMs);
    assert.ok(r !== undefined, 'settled within the virtual wait');
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  };
  const untilLeader = async (): Promise<Member> => {
    assert.ok(await scheduler.runUntilTrue(() => leader() !== undefined, 30_000), 'a leader is elected');
    return leader()!;
  };
  return { scheduler, members, leader, settle, untilLeader };
}

function ok<T extends CommandResult>(r: T): Extract<T, { ok: true }> {
  assert.ok(r.ok, `expected success, got ${JSON.stringify(r)}`);
  return r as Extract<T, { ok: true }>;
}

test('a paced move task is resumed by the next leader after its leader loses power, and completes', { timeout: 120_000 }, async () => {
  const sim = setUp(7);
  let lead = await sim.untilLeader();
  const node = (): QueueNode => lead.node!;
  ok(await sim.settle(node().submit(RC, { kind: 'createQueue', queueName: 'dlq', attrs: {} })));
  ok(await sim.settle(node().submit(RC, { kind: 'createQueue', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1 } } })));
  for (let k = 0; k < MESSAGES; k += 15) {
    const bodies = Array.from({ length: 15 }, (_, j) => Buffer.from(`m${k + j}`));
    ok(await sim.settle(node().submit(RC, { kind: 'sendMessages', queueName: 'src', delaySeconds: 0, bodies })));
  }
  for (let got = 0; got < MESSAGES; ) {
    const r = await sim.settle(node().receive(RC, 'src', 16, 0, { visibilitySeconds: 1 }));
    assert.ok(r.ok);
    got += r.messages.length;
  }
  await sim.scheduler.runUntil(sim.scheduler.nowMs + 1500);
  // Each receive now moves what it takes to the dead-letter queue.
  for (let k = 0; k < 8; k++) assert.deepEqual(await sim.settle(node().receive(RC, 'src', 16, 0)), { ok: true, messages: [] });
  const dlq = await sim.settle(node().getQueueAttributes(RC, 'dlq'));
  assert.ok(dlq.ok && dlq.attributes.activeMsgNum === MESSAGES, 'every message was dead-lettered');

  const started = ok(await sim.settle(node().submit(RC, { kind: 'startMoveTask', sourceQueue: 'dlq', destinationQueue: null, maxPerSecond: RATE })));
  if (started.kind !== 'startMoveTask') throw new Error(started.kind);
  const handle = started.taskHandle;
  const taskOn = async (n: QueueNode): Promise<MoveTaskView> => {
    const r = await sim.settle(n.listMoveTasks(RC, 'dlq'));
    assert.ok(r.ok, JSON.stringify(r));
    return r.tasks.find((t) => t.taskHandle === handle)!;
  };
  // Two batches at ten a second, then the leader loses power mid-task.
  await sim.scheduler.runUntil(sim.scheduler.nowMs + 1500);
  const before = await taskOn(node());
  assert.equal(before.status, 'RUNNING');
  assert.ok(before.movedCount >= RATE && before.movedCount < MESSAGES, `moved ${before.movedCount} before the crash`);
  const old = lead;
  old.powerLoss(60_000);
  old.node = undefined;

  lead = await sim.untilLeader();
  assert.notEqual(lead.id, old.id);
  let t = await taskOn(node());
  for (let k = 0; k < 40 && t.status === 'RUNNING'; k++) {
    await sim.scheduler.runUntil(sim.scheduler.nowMs + 500);
    t = await taskOn(node());
  }
  assert.deepEqual({ status: t.status, movedCount: t.movedCount, toMove: t.toMove }, { status: 'COMPLETED', movedCount: MESSAGES, toMove: MESSAGES });
  // Each message moved exactly once: all back in their source, none left behind or doubled.
  const src = await sim.settle(node().getQueueAttributes(RC, 'src'));
  const left = await sim.settle(node().getQueueAttributes(RC, 'dlq'));
  assert.ok(src.ok && left.ok);
  assert.deepEqual([src.attributes.activeMsgNum, left.attributes.activeMsgNum], [MESSAGES, 0]);
  const bodies = new Set<string>();
  for (;;) {
    const r = await sim.settle(node().receive(RC, 'src', 16, 0));
    assert.ok(r.ok);
    if (r.messages.length === 0) break;
    for (const m of r.messages) bodies.add(m.bodyBytes.toString());
  }
  assert.equal(bodies.size, MESSAGES);
  for (const m of sim.members) if (m.up) m.runtime.kill();
  assert.deepEqual(sim.scheduler.uncaught, [], 'no task of the driver threw');
});
