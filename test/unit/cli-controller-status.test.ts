// The controller part of the status: what a node with a controller adds to its OpencmqClusterStatus
// answer (the sets and the route changes under way, each read on its own so one failing leaves the
// other; every other call still runs on the node's own service), and the lines `opencmq cluster
// status` prints from it (none for members without a controller).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { controllerLines } from '../../src/cli/controller-lines';
import type { ControllerQuery, ControllerResult } from '../../src/controller/commands';
import type { EntityRecord } from '../../src/controller/model';
import { controllerStatus, withControllerStatus } from '../../src/node/controller-status';
import { fail } from '../../src/protocol/errors';
import type { ClusterNodeStatus } from '../../src/protocol/cluster-types';
import { LIMITS } from '../../src/protocol/limits';
import type { QueueService } from '../../src/service/queue-service';

const base: ClusterNodeStatus = { nodeId: 'n4', role: 'leader', term: 3, leader: 'n4', commitIndex: 9, appliedIndex: 9, lastIndex: 9, voters: ['n4', 'n5', 'n6'], peers: [] };
const voters = { n1: { host: '127.0.0.1', port: 9701 }, n2: { host: '127.0.0.1', port: 9702 }, n3: { host: '127.0.0.1', port: 9703 } };
const sets: ControllerResult = {
  ok: true,
  kind: 'sets',
  routeEpoch: 0,
  sets: [
    { id: 1, group: 0, state: 'active', members: [{ nodeId: 'n1', peerAddress: '127.0.0.1:9701', apiAddress: 'http://127.0.0.1:9601' }], load: undefined, entities: 0 },
    { id: 2, group: 1, state: 'draining', members: [{ nodeId: 'n4', peerAddress: '127.0.0.1:9704', apiAddress: 'http://127.0.0.1:9604' }], load: { queues: 2, messages: 5, bytes: 50, requestsPerSecond: 7, atMs: 1_000_000 }, entities: 2 },
  ],
};

const noChanges: ControllerResult = { ok: true, kind: 'routes', totalCount: 0, entities: [], routeEpoch: 0 };

/** A controller that answers listSets with `setsAnswer` and listChanges with `changesAnswer`; the reads asked go to `asked`. */
function controller(setsAnswer: ControllerResult, changesAnswer: ControllerResult = noChanges, asked: ControllerQuery[] = []): (q: ControllerQuery) => Promise<ControllerResult> {
  return (q) => {
    asked.push(q);
    return Promise.resolve(q.kind === 'listSets' ? setsAnswer : q.kind === 'listChanges' ? changesAnswer : fail('internalError', undefined, `unexpected read ${q.kind}`));
  };
}

const moving: EntityRecord = { type: 'queue', name: 'orders', shards: [1, 2], version: 4, change: { type: 'move', shard: 1, from: 2, to: 3, phase: 'cutover', startedAtMs: 1_000_000 } };
const growing: EntityRecord = {
  type: 'queue',
  name: 'events',
  shards: [1],
  version: 2,
  change: { type: 'grow', pending: [{ shard: 1, set: 2, confirmed: true }, { shard: 2, set: 3, confirmed: false }], startedAtMs: 1_002_000 },
};
const changes: ControllerResult = { ok: true, kind: 'routes', totalCount: 2, entities: [moving, growing], routeEpoch: 9 };

test('a node outside the controller group reports its set, the voters, the leader it reached and every set', async () => {
  const s = await controllerStatus({ setId: 2, group: 1, voters, lastLeader: () => 'n2', read: controller(sets) });
  assert.deepEqual(s.set, { id: 2, group: 1 });
  assert.deepEqual(s.controller, { voters: [{ nodeId: 'n1', peerAddress: '127.0.0.1:9701' }, { nodeId: 'n2', peerAddress: '127.0.0.1:9702' }, { nodeId: 'n3', peerAddress: '127.0.0.1:9703' }], leader: 'n2' });
  assert.deepEqual(
    s.sets?.map((x) => [x.id, x.state, x.load]),
    [
      [1, 'active', null],
      [2, 'draining', { queues: 2, messages: 5, bytes: 50, requestsPerSecond: 7, atMs: 1_000_000 }],
    ],
  );
});

test('a voter adds its own replica\'s view; a failed read leaves the sets out and says why', async () => {
  const member = { ...base, nodeId: 'n1', role: 'follower' as const, leader: 'n3', voters: ['n1', 'n2', 'n3'] };
  const down = fail('notApplied', undefined, 'no controller leader');
  const s = await controllerStatus({ setId: 1, group: 0, voters, member: () => member, lastLeader: () => undefined, read: controller(down, down) });
  assert.equal(s.controller?.leader, 'n3');
  assert.deepEqual(s.controller?.member, { role: 'follower', term: 3, leader: 'n3', commitIndex: 9, appliedIndex: 9, lastIndex: 9 });
  assert.equal(s.sets, undefined);
  assert.equal(s.controller?.problem, 'notApplied: no controller leader');
  assert.equal(s.changes, undefined);
  assert.equal(s.controller?.changesProblem, 'notApplied: no controller leader');
});

test('the route changes under way: read with a bounded page, each move and growth as the status shows it, the total beside them', async () => {
  const asked: ControllerQuery[] = [];
  const s = await controllerStatus({ setId: 2, group: 1, voters, lastLeader: () => 'n2', read: controller(sets, { ...changes, totalCount: 250 }, asked) });
  assert.deepEqual(asked.find((q) => q.kind === 'listChanges'), { kind: 'listChanges', offset: 0, limit: LIMITS.statusRouteChangesMax });
  assert.equal(LIMITS.statusRouteChangesMax, 100);
  assert.deepEqual(s.changes, {
    total: 250,
    listed: [
      { entityType: 'queue', name: 'orders', shards: 2, startedAtMs: 1_000_000, change: 'move', shard: 1, from: 2, to: 3, phase: 'cutover' },
      {
        entityType: 'queue',
        name: 'events',
        shards: 1,
        startedAtMs: 1_002_000,
        change: 'grow',
        toShards: 3,
        pending: [
          { shard: 1, set: 2, confirmed: true },
          { shard: 2, set: 3, confirmed: false },
        ],
      },
    ],
  });
  assert.equal(s.controller?.changesProblem, undefined);
  assert.equal(s.sets?.length, 2);
});

test('a controller of a release without the listing: the sets and everything else still answered, the changes said to be unreadable', async () => {
  // What such a controller answers a read it cannot decode (node/controller-calls.ts).
  const old = fail('internalError', undefined, 'n1 could not decode the controller call');
  const s = await controllerStatus({ setId: 2, group: 1, voters, lastLeader: () => 'n1', read: controller(sets, old) });
  assert.equal(s.sets?.length, 2);
  assert.equal(s.controller?.problem, undefined);
  assert.equal(s.changes, undefined);
  assert.equal(s.controller?.changesProblem, 'internalError: n1 could not decode the controller call');
  assert.match(controllerLines([{ ...base, ...s }], 0).join('\n'), /^route changes: could not be read from the controller \(internalError: n1 could not decode the controller call\)$/m);
});

test('the wrapped service answers clusterStatus with the extra fields and runs every other call on the service itself', async () => {
  class Counting {
    private calls = 0;
    clusterStatus(): Promise<{ ok: true; status: ClusterNodeStatus }> {
      return Promise.resolve({ ok: true, status: base });
    }
    listQueue(): number {
      this.calls++;
      return this.calls;
    }
    seen(): number {
      return this.calls;
    }
  }
  const inner = new Counting();
  const wrapped = withControllerStatus(inner as unknown as QueueService, () => Promise.resolve({ set: { id: 2, group: 1 } }));
  const r = await wrapped.clusterStatus({} as never);
  assert.ok(r.ok);
  assert.deepEqual(r.status, { ...base, set: { id: 2, group: 1 } });
  const asCounting = wrapped as unknown as Counting;
  asCounting.listQueue();
  asCounting.listQueue();
  assert.equal(inner.seen(), 2, 'state changes land on the service itself');
});

test('cluster status lines: nothing without a controller; the voters, leader, voter rows and a row per set with one', async () => {
  assert.deepEqual(controllerLines([base], 0), []);
  const member = { ...base, nodeId: 'n1', role: 'leader' as const, leader: 'n1', voters: ['n1', 'n2', 'n3'] };
  const n1 = { ...member, ...(await controllerStatus({ setId: 1, group: 0, voters, member: () => member, lastLeader: () => undefined, read: controller(sets) })) };
  const lines = controllerLines([base, n1], 1_005_000);
  const text = lines.join('\n');
  assert.match(text, /^controller: voters n1 \(127\.0\.0\.1:9701\), n2 \(127\.0\.0\.1:9702\), n3 \(127\.0\.0\.1:9703\); leader n1$/m);
  assert.match(text, /^n1 +leader +3 +n1 +9 +9 +9$/m);
  assert.match(text, /^sets \(2, as n1 read them from the controller\):$/m);
  assert.match(text, /^1 +0 +active +n1 +0 +- +- +- +- +never$/m);
  assert.match(text, /^2 +1 +draining +n4 +2 +2 +5 +50 +7 +1970-01-01T00:16:40\.000Z \(5 s ago\)$/m);
  assert.match(text, /^route changes under way: none$/m);
  const down = { ...n1, sets: undefined, controller: { ...n1.controller!, problem: 'notApplied: no controller leader' } } as ClusterNodeStatus;
  assert.match(controllerLines([down], 0).join('\n'), /^sets: the controller did not answer \(notApplied: no controller leader\)$/m);
});

test('cluster status lines: a line per route change (move: shard, sets, phase; growth: target shards, pending ones), and the count of those not listed', async () => {
  const read = async (total: number): Promise<ClusterNodeStatus> => ({ ...base, ...(await controllerStatus({ setId: 2, group: 1, voters, lastLeader: () => 'n2', read: controller(sets, { ...changes, totalCount: total }) })) });
  const lines = controllerLines([await read(2)], 1_010_000);
  const at = lines.indexOf('route changes under way (2, as n4 read them from the controller):');
  assert.ok(at > 0, lines.join('\n'));
  assert.deepEqual(lines.slice(at + 1), [
    '  queue orders: move shard 1 from set 2 to set 3, phase cutover, since 1970-01-01T00:16:40.000Z (10 s ago)',
    '  queue events: growth from 1 to 3 shards (shard 1 on set 2 created, shard 2 on set 3 pending), since 1970-01-01T00:16:42.000Z (8 s ago)',
  ]);
  const many = controllerLines([await read(102)], 1_010_000);
  assert.ok(many.includes('route changes under way (102, as n4 read them from the controller; the 2 oldest listed):'), many.join('\n'));
  assert.equal(many.at(-1), '  ... and 100 more');
});
