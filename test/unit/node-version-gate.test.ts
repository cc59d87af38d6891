// A rolling upgrade: while a voter announces the previous release's wire version, the leader
// proposes only commands that voter's state machine decodes (broker/compat.ts): plain CMQ traffic
// goes on (a deduplicated send loses its ids, as before this release), this release's commands are
// refused as not applied, and once every voter is upgraded they all work. On the simulator's
// scaffolding, as the server's code runs there.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Command, CommandResult } from '../../src/broker/commands';
import { forOlderReplicas, olderReplicasCanApply } from '../../src/broker/compat';
import { NodeHost } from '../../src/node/host';
import type { QueueNode } from '../../src/node/queue-node';
import { commandForVoters } from '../../src/node/version-gate';
import type { RequestContext } from '../../src/service/request-context';
import { WIRE_VERSION, type PeerNetwork } from '../../src/transport';
import { Prng } from '../sim/prng';
import { SimFs } from '../sim/sim-fs';
import { SimNetwork } from '../sim/sim-network';
import { SimProcessRuntime, SimScheduler } from '../sim/sim-runtime';

const CTX: RequestContext = { requestId: 'gate-test', clientAddress: '', receivedAtMs: 0 };
const IDS = ['n1', 'n2', 'n3'];

test('the previous release can apply exactly the commands it knew; sends and publishes have an older form', () => {
  const body = Buffer.from('x');
  assert.equal(olderReplicasCanApply({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [body] }), true);
  assert.equal(olderReplicasCanApply({ kind: 'purgeQueue', queueName: 'q' }), false);
  assert.equal(olderReplicasCanApply({ kind: 'createQueue', queueName: 'q', attrs: { tags: { a: 'b' } } }), false);
  assert.equal(olderReplicasCanApply({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 1, seed: 1, visibilitySeconds: 5 }), false);
  assert.deepEqual(forOlderReplicas({ kind: 'sendMessages', queueName: 'q', delaySeconds: null, bodies: [body], options: [{ dedupId: 'd' }] }), {
    kind: 'sendMessages',
    queueName: 'q',
    delaySeconds: 0,
    bodies: [body],
  });
  assert.equal(forOlderReplicas({ kind: 'sendMessages', queueName: 'q', delaySeconds: null, bodies: [body], options: [{ enveloped: true }] }), undefined);
  assert.deepEqual(forOlderReplicas({ kind: 'publishMessages', topicName: 't', bodies: [body], msgTags: [], routingKey: '', dedupId: 'p' }), {
    kind: 'publishMessages',
    topicName: 't',
    bodies: [body],
    msgTags: [],
    routingKey: '',
  });
  const refused = commandForVoters({ kind: 'tagQueue', queueName: 'q', tags: {} }, ['n3']);
  assert.ok(!('kind' in refused) && refused.error === 'notApplied' && /n3 still runs the previous release/.test(refused.detail ?? ''));
  assert.deepEqual(commandForVoters({ kind: 'tagQueue', queueName: 'q', tags: {} }, []), { kind: 'tagQueue', queueName: 'q', tags: {} });
});

test('a leader with a voter on the previous release gates this release\'s commands, and lifts the gate once it is upgraded', { timeout: 60_000 }, async () => {
  const scheduler = new SimScheduler(1_700_000_000_000);
  const prng = new Prng(7);
  const network = new SimNetwork(scheduler, prng.fork());
  /** The wire version every member sees the others announce. */
  let peersAnnounce: number = WIRE_VERSION.serviceCalls;
  const settle = async <T>(p: Promise<T>): Promise<T> => {
    const r = await scheduler.settle(p, 30_000);
    assert.ok(r && r.status === 'fulfilled', 'settled');
    return r.value;
  };
  const hosts = await settle(
    Promise.all(
      IDS.map((id) => {
        const runtime = new SimProcessRuntime(scheduler, id, 0, prng.fork());
        const net = network.attach(id, runtime);
        // The same network, but every peer announcing `peersAnnounce` on each group's view.
        const announcing = (view: PeerNetwork): PeerNetwork =>
          new Proxy(view, { get: (target, key) => (key === 'peerWireVersion' ? () => peersAnnounce : (Reflect.get(target, key, target) as unknown)) });
        const seen = new Proxy(net, {
          get: (target, key) => (key === 'group' ? (g: number) => announcing(target.group(g)) : (Reflect.get(target, key, target) as unknown)),
        });
        const peers = Object.fromEntries(IDS.filter((p) => p !== id).map((p, i) => [p, { host: 'sim', port: i + 1 }]));
        return NodeHost.open({ dataDir: `/data/${id}`, nodeId: id, network: seen, replica: { fs: new SimFs(), runtime, log: () => undefined } }, [
          { group: 0, voters: IDS, staticPeers: peers },
        ]);
      }),
    ),
  );
  const leader = (): QueueNode | undefined => hosts.map((h) => h.group(0)).find((n) => n.leaderId() === n.observe().raft.id);
  assert.ok(await scheduler.runUntilTrue(() => leader() !== undefined, 20_000), 'a leader');
  const submit = (c: Command): Promise<CommandResult> => settle(leader()!.submit(CTX, c));
  assert.ok((await submit({ kind: 'createQueue', queueName: 'q', attrs: {} })).ok);

  // Mixed versions: plain traffic goes on; ids are dropped; this release's commands are refused.
  const dedupSend = (dedupId: string): Command => ({ kind: 'sendMessages', queueName: 'q', delaySeconds: null, bodies: [Buffer.from('a')], options: [{ dedupId }] });
  const first = await submit(dedupSend('same'));
  const again = await submit(dedupSend('same'));
  assert.ok(first.ok && first.kind === 'sendMessages' && again.ok && again.kind === 'sendMessages');
  assert.notEqual(again.msgIds[0], first.msgIds[0], 'sent in the older form: not deduplicated');
  const refused: Command[] = [
    { kind: 'purgeQueue', queueName: 'q' },
    { kind: 'createQueue', queueName: 'q2', attrs: { sqs: { delaySeconds: 5 } } },
    { kind: 'sendMessages', queueName: 'q', delaySeconds: null, bodies: [Buffer.from('e')], options: [{ enveloped: true }] },
  ];
  for (const c of refused) {
    const r = await submit(c);
    assert.ok(!r.ok && r.error === 'notApplied', `${c.kind}: ${JSON.stringify(r)}`);
  }

  // Every voter upgraded: the gate lifts.
  peersAnnounce = WIRE_VERSION.sqsCommands;
  const d1 = await submit(dedupSend('after'));
  const d2 = await submit(dedupSend('after'));
  assert.ok(d1.ok && d1.kind === 'sendMessages' && d2.ok && d2.kind === 'sendMessages');
  assert.equal(d2.msgIds[0], d1.msgIds[0], 'deduplicated');
  const purged = await submit({ kind: 'purgeQueue', queueName: 'q' });
  assert.ok(purged.ok && purged.kind === 'purgeQueue' && purged.purged === 3);
  await settle(Promise.all(hosts.map((h) => h.close())));
});
