// The access layer across sets (node/cluster-service.ts): every call goes to the set serving its
// queue or topic, creates are placed by the controller, lists merge every set, stale routes are
// refreshed once, and a controller that is down stops only what needs it. The sets are real queue
// state machines behind a QueueService; the controller is a small fake with the controller's
// answers (routes, placement on a given set, exists / not exist, listSets).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { Command, DeadLetterPolicy, QueueAttributesInput, QueueList } from '../../src/broker/commands';
import type { ControllerCommand, ControllerQuery, ControllerResult, SetView } from '../../src/controller/commands';
import { entityKey, type EntityType } from '../../src/controller/model';
import { ClusterQueueService } from '../../src/node/cluster-service';
import type { SetDirectory } from '../../src/node/remote-sets';
import { RouteCache } from '../../src/node/route-cache';
import { fail, type ErrorResult } from '../../src/protocol/errors';
import { LIMITS } from '../../src/protocol/limits';
import type { ServiceResult } from '../../src/service/queue-service';
import type { RequestContext } from '../../src/service/request-context';
import { BrokerHarness } from '../helpers/broker-harness';
import { captureLogger } from '../helpers/capture-logger';
import { FakeSet } from '../helpers/set-fakes';

const ctx: RequestContext = { requestId: 'r-1', clientAddress: '', receivedAtMs: 0 };

interface Route {
  type: EntityType;
  name: string;
  setId: number;
}

/** The controller's answers, kept simple: routes by entityKey, placement on `placeOn` unless a set is named. */
class FakeController {
  readonly routes = new Map<string, Route>();
  down = false;
  /** Where the next createEntity without a setId goes (the real controller picks the least loaded set). */
  placeOn = 1;
  epoch = 1;
  readonly submitted: ControllerCommand[] = [];
  readonly reads: ControllerQuery[] = [];

  constructor(readonly setIds: number[]) {}

  route(type: EntityType, name: string, setId: number): void {
    this.routes.set(entityKey(type, name), { type, name, setId });
  }

  private entity(r: Route): ControllerResult {
    return { ok: true, kind: 'entity', entity: { type: r.type, name: r.name, shards: [r.setId], version: this.epoch, change: undefined }, routeEpoch: this.epoch };
  }

  submit(c: ControllerCommand): Promise<ControllerResult> {
    this.submitted.push(c);
    if (this.down) return Promise.resolve(fail('notApplied', undefined, 'no controller leader'));
    const notExist = (t: EntityType): ErrorResult => fail(t === 'queue' ? 'queueNotExist' : 'topicNotExist');
    if (c.kind === 'createEntity') {
      const key = entityKey(c.type, c.name);
      if (this.routes.has(key)) return Promise.resolve(fail(c.type === 'queue' ? 'queueExists' : 'topicExists'));
      const asked = (c as { setId?: number }).setId;
      const r: Route = { type: c.type, name: c.name, setId: asked ?? this.placeOn };
      this.routes.set(key, r);
      this.epoch++;
      return Promise.resolve(this.entity(r));
    }
    if (c.kind === 'deleteEntity') {
      const key = entityKey(c.type, c.name);
      const r = this.routes.get(key);
      if (!r) return Promise.resolve(notExist(c.type));
      this.routes.delete(key);
      this.epoch++;
      return Promise.resolve(this.entity(r));
    }
    return Promise.resolve(fail('invalidParams', undefined, `the fake controller does not take ${c.kind}`));
  }

  read(q: ControllerQuery): Promise<ControllerResult> {
    this.reads.push(q);
    if (this.down) return Promise.resolve(fail('notApplied', undefined, 'no controller leader'));
    if (q.kind === 'getRoute') {
      const r = this.routes.get(entityKey(q.type, q.name));
      return Promise.resolve(r ? this.entity(r) : fail(q.type === 'queue' ? 'queueNotExist' : 'topicNotExist'));
    }
    if (q.kind === 'listSets') {
      const sets: SetView[] = this.setIds.map((id) => ({ id, group: id, state: 'active', members: [], load: undefined, entities: 0 }));
      return Promise.resolve({ ok: true, kind: 'sets', sets, routeEpoch: this.epoch });
    }
    return Promise.resolve(fail('invalidParams', undefined, `the fake controller does not answer ${q.kind}`));
  }

  routeReads(): number {
    return this.reads.filter((q) => q.kind === 'getRoute').length;
  }
}

/** Sets 1..n, the node on set 1, and its access service. */
function cluster(n = 3): {
  sets: FakeSet[];
  set: (id: number) => FakeSet;
  controller: FakeController;
  svc: ClusterQueueService;
  log: ReturnType<typeof captureLogger>;
} {
  const sets = Array.from({ length: n }, (_, i) => new FakeSet(i + 1));
  const set = (id: number): FakeSet => sets[id - 1]!;
  const controller = new FakeController(sets.map((s) => s.id));
  const directory: SetDirectory = {
    service: (id) => {
      assert.notEqual(id, 1, 'the own set is never asked through the directory');
      return set(id);
    },
    invalidate: () => undefined,
  };
  const log = captureLogger();
  const svc = new ClusterQueueService({ ownSetId: 1, own: set(1), sets: directory, controller, log });
  return { sets, set, controller, svc, log };
}

/** A queue that exists on `setId` with its route at the controller (as a create leaves it). */
function placeQueue(c: ReturnType<typeof cluster>, name: string, setId: number, attrs: QueueAttributesInput = {}): void {
  c.set(setId).h.ok({ kind: 'createQueue', queueName: name, attrs });
  c.controller.route('queue', name, setId);
}

function placeTopic(c: ReturnType<typeof cluster>, name: string, setId: number): void {
  c.set(setId).h.ok({ kind: 'createTopic', topicName: name, maxMsgSize: 65_536, filterType: 1 });
  c.controller.route('topic', name, setId);
}

function errorOf(r: { ok: boolean }): string | undefined {
  return r.ok ? undefined : (r as ErrorResult).error;
}

void test('route cache: bounded, the least recently used route is forgotten first, names regardless of case', () => {
  const cache = new RouteCache(2);
  cache.set('queue', 'a', [1], 1);
  cache.set('queue', 'b', [2], 2);
  assert.equal(cache.get('queue', 'A')?.shards[0], 1); // a used: b is now the oldest
  cache.set('topic', 'a', [3], 3);
  assert.equal(cache.size, 2);
  assert.equal(cache.get('queue', 'b'), undefined);
  assert.equal(cache.get('queue', 'a')?.shards[0], 1);
  assert.equal(cache.get('topic', 'a')?.shards[0], 3);
  cache.drop('topic', 'A');
  assert.equal(cache.get('topic', 'a'), undefined);
});

void test('a call naming a queue or topic runs on the set serving it, wherever the node is', async () => {
  const c = cluster();
  placeQueue(c, 'orders', 2);
  placeTopic(c, 'news', 3);
  const sent = await c.svc.submit(ctx, { kind: 'sendMessages', queueName: 'orders', delaySeconds: null, bodies: [Buffer.from('hello')] });
  assert.ok(sent.ok, JSON.stringify(sent));
  const got = await c.svc.receive(ctx, 'orders', 1, 0);
  assert.ok(got.ok);
  assert.equal(got.messages[0]?.bodyBytes.toString(), 'hello');
  const attrs = await c.svc.getQueueAttributes(ctx, 'orders');
  assert.ok(attrs.ok);
  assert.equal(attrs.attributes.queueName, 'orders');
  const topic = await c.svc.getTopicAttributes(ctx, 'news');
  assert.ok(topic.ok);
  assert.equal(topic.attributes.topicName, 'news');
  // Set 1 (this node's own) was never asked about either.
  assert.equal(c.set(1).calls, 0);
  assert.equal(c.set(2).submitted.length, 1);
  // The route is read once per name, then cached.
  assert.equal(c.controller.routeReads(), 2);
  // A name nobody placed is answered as a set would.
  assert.equal(errorOf(await c.svc.getQueueAttributes(ctx, 'nothing')), 'queueNotExist');
  assert.equal(errorOf(await c.svc.listSubscriptions(ctx, 'nothing', undefined, 0, 20)), 'topicNotExist');
});

void test('node-internal commands and node status go to this node own set, without the controller', async () => {
  const c = cluster();
  assert.ok((await c.svc.submit(ctx, { kind: 'tick' })).ok);
  assert.ok((await c.svc.transferLeader(ctx, 'n2')).ok);
  assert.ok((await c.svc.changeMembership(ctx, { type: 'remove', nodeId: 'n3' })).ok);
  await c.svc.clusterStatus(ctx);
  assert.equal(c.set(1).calls, 4);
  assert.equal(c.set(2).calls + c.set(3).calls, 0);
  assert.equal(c.controller.reads.length + c.controller.submitted.length, 0);
});

void test('CreateQueue and CreateTopic: placed by the controller, created on the set it chose', async () => {
  const c = cluster();
  c.controller.placeOn = 3;
  const q = await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'placed', attrs: {} });
  assert.ok(q.ok, JSON.stringify(q));
  assert.ok(c.set(3).has('placed'));
  assert.ok(!c.set(1).has('placed') && !c.set(2).has('placed'));
  assert.deepEqual(c.controller.routes.get(entityKey('queue', 'placed'))?.setId, 3);
  c.controller.placeOn = 2;
  const t = await c.svc.submit(ctx, { kind: 'createTopic', topicName: 'events', maxMsgSize: 65_536, filterType: 1 });
  assert.ok(t.ok, JSON.stringify(t));
  assert.ok(c.set(2).h.sm.getTopicAttributes('events'));
  // The name is taken at the controller: the set holding it says so.
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'placed', attrs: {} })), 'queueExists');
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'PLACED', attrs: {} })), 'queueExists');
  // The controller down: nothing is created anywhere, and the client may retry.
  c.controller.down = true;
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'later', attrs: {} })), 'notApplied');
  assert.ok(c.sets.every((s) => !s.has('later')));
});

void test('a create placed at the controller but lost on the way to its set completes when retried', async () => {
  const c = cluster();
  c.controller.placeOn = 2;
  c.set(2).down = true;
  const first = await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'retried', attrs: {} });
  assert.equal(errorOf(first), 'notApplied');
  assert.equal(c.controller.routes.get(entityKey('queue', 'retried'))?.setId, 2, 'the place stays taken');
  c.set(2).down = false;
  c.controller.placeOn = 3; // the least loaded set changed meanwhile: the retry still goes to set 2
  const again = await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'retried', attrs: {} });
  assert.ok(again.ok, JSON.stringify(again));
  assert.ok(c.set(2).has('retried'));
  assert.ok(!c.set(3).has('retried'));
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'retried', attrs: {} })), 'queueExists');
});

void test('a create its set refuses for good gives the place back at the controller', async () => {
  const c = cluster();
  c.controller.placeOn = 2;
  const r = await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'bad', attrs: { rewindSeconds: 600, msgRetentionSeconds: 60 } });
  assert.equal(errorOf(r), 'rewindSecondsTooLarge');
  assert.equal(c.controller.routes.has(entityKey('queue', 'bad')), false);
  c.controller.placeOn = 3;
  assert.ok((await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'bad', attrs: {} })).ok);
  assert.ok(c.set(3).has('bad'));
});

void test('a queue with a dead-letter queue is placed on the dead-letter queue set', async () => {
  const c = cluster();
  placeQueue(c, 'dead', 3);
  c.controller.placeOn = 2;
  const policy = { deadLetterQueue: 'dead', policy: 0 as const, maxReceiveCount: 3 };
  const r = await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'work', attrs: { deadLetterPolicy: policy } });
  assert.ok(r.ok, JSON.stringify(r));
  assert.ok(c.set(3).has('work'));
  const placement = c.controller.submitted.find((x) => x.kind === 'createEntity');
  assert.equal((placement as { setId?: number } | undefined)?.setId, 3);
  const sources = await c.svc.listDeadLetterSourceQueues(ctx, 'dead', undefined, 0, 20);
  assert.ok(sources.ok);
  assert.deepEqual(
    sources.queueList.map((q) => q.queueName),
    ['work'],
  );
  // An unknown dead-letter queue: the set's answer, and nothing placed.
  const before = c.controller.submitted.length;
  const missing = await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'orphan', attrs: { deadLetterPolicy: { ...policy, deadLetterQueue: 'ghost' } } });
  assert.equal(errorOf(missing), 'dlqNotExist');
  assert.equal(c.controller.submitted.length, before);

  // The dead-letter queue moved after its route was cached: the create fails on the old set,
  // gives its place back, and the retry goes beside the dead-letter queue where it is now.
  c.set(3).h.ok({ kind: 'deleteQueue', queueName: 'work' });
  c.set(3).h.ok({ kind: 'deleteQueue', queueName: 'dead' });
  placeQueue(c, 'dead', 2);
  const stale = await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'work2', attrs: { deadLetterPolicy: policy } });
  assert.equal(errorOf(stale), 'dlqNotExist');
  assert.equal(c.controller.routes.has(entityKey('queue', 'work2')), false);
  const retried = await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'work2', attrs: { deadLetterPolicy: policy } });
  assert.ok(retried.ok, JSON.stringify(retried));
  assert.ok(c.set(2).has('work2'));
});

void test('a move to a queue on another set runs on the source set marked remoteDestination; within a set as given', async () => {
  const c = cluster();
  placeQueue(c, 'dlq-a', 1);
  placeQueue(c, 'src-a', 1, { deadLetterPolicy: { deadLetterQueue: 'dlq-a', policy: 0, maxReceiveCount: 1 } });
  placeQueue(c, 'other-b', 2);
  placeQueue(c, 'fifo-b', 2, { sqs: { fifo: true } });
  placeQueue(c, 'local-a', 1);
  c.set(1).h.ok({ kind: 'sendMessages', queueName: 'dlq-a', delaySeconds: null, bodies: [Buffer.from('m1'), Buffer.from('m2')] });

  const moved = await c.svc.submit(ctx, { kind: 'moveMessages', sourceQueue: 'dlq-a', destinationQueue: 'other-b', maxMessages: 1 });
  assert.ok(moved.ok && moved.kind === 'moveMessages' && moved.moved === 1, JSON.stringify(moved));
  assert.deepEqual(c.set(1).submitted.at(-1), { kind: 'moveMessages', sourceQueue: 'dlq-a', destinationQueue: 'other-b', maxMessages: 1, remoteDestination: true });
  // It left for the other set through the source set's outbox; the destination set was only read.
  assert.deepEqual(
    c.set(1).h.sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10).map((d) => [d.sourceQueue, d.destinationQueue, d.move]),
    [['dlq-a', 'other-b', true]],
  );
  assert.deepEqual(c.set(2).submitted, []);

  const started = await c.svc.submit(ctx, { kind: 'startMoveTask', sourceQueue: 'dlq-a', destinationQueue: 'other-b', maxPerSecond: null });
  assert.ok(started.ok && started.kind === 'startMoveTask', JSON.stringify(started));
  assert.equal(started.task.remoteDestination, true);
  assert.ok((await c.svc.submit(ctx, { kind: 'cancelMoveTask', taskHandle: started.taskHandle })).ok);

  // Refused as the source's set would refuse a local destination.
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'startMoveTask', sourceQueue: 'dlq-a', destinationQueue: 'fifo-b', maxPerSecond: null })), 'moveFifo');
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'moveMessages', sourceQueue: 'dlq-a', destinationQueue: 'ghost', maxMessages: 1 })), 'queueNotExist');
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'moveMessages', sourceQueue: 'ghost', destinationQueue: 'other-b', maxMessages: 1 })), 'queueNotExist');
  // Within one set, as the client gave it.
  const same = await c.svc.submit(ctx, { kind: 'startMoveTask', sourceQueue: 'dlq-a', destinationQueue: 'local-a', maxPerSecond: null });
  assert.ok(same.ok, JSON.stringify(same));
  assert.deepEqual(c.set(1).submitted.at(-1), { kind: 'startMoveTask', sourceQueue: 'dlq-a', destinationQueue: 'local-a', maxPerSecond: null });
});

void test('a move task is cancelled on the set that issued its handle', async () => {
  const c = cluster();
  placeQueue(c, 'dlq-b', 2);
  placeQueue(c, 'src-b', 2, { deadLetterPolicy: { deadLetterQueue: 'dlq-b', policy: 0, maxReceiveCount: 1 } });
  c.set(2).h.ok({ kind: 'sendMessages', queueName: 'dlq-b', delaySeconds: null, bodies: [Buffer.from('x')] });
  const started = await c.svc.submit(ctx, { kind: 'startMoveTask', sourceQueue: 'dlq-b', destinationQueue: null, maxPerSecond: null });
  assert.ok(started.ok && started.kind === 'startMoveTask', JSON.stringify(started));
  assert.match(started.taskHandle, /^g2:/);
  const cancelled = await c.svc.submit(ctx, { kind: 'cancelMoveTask', taskHandle: started.taskHandle });
  assert.ok(cancelled.ok && cancelled.kind === 'cancelMoveTask', JSON.stringify(cancelled));
  assert.equal(cancelled.task.status, 'CANCELLED');
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'cancelMoveTask', taskHandle: 'g9:move-1' })), 'moveTaskNotExist');
});

const TO_DLQ: DeadLetterPolicy = { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 2 };

function sourceNames(r: ServiceResult<QueueList>): { names: string[]; totalCount: number } {
  assert.ok(r.ok, JSON.stringify(r));
  return { names: r.queueList.map((q) => q.queueName), totalCount: r.totalCount };
}

void test('SetQueueAttributes with the dead-letter queue on another set: checked there, then bound on the queue set marked remote', async () => {
  const c = cluster();
  placeQueue(c, 'dlq', 2);
  placeQueue(c, 'work', 3);
  const r = await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'work', attrs: { deadLetterPolicy: TO_DLQ, visibilityTimeout: 7 } });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(c.set(3).submitted.at(-1), { kind: 'setQueueAttributes', queueName: 'work', attrs: { deadLetterPolicy: { ...TO_DLQ, remote: true }, visibilityTimeout: 7 } });
  assert.deepEqual(c.set(2).submitted, [], 'the dead-letter queue set is only read');
  assert.equal(c.set(3).h.sm.getQueueAttributes('work')!.visibilityTimeout, 7);
  // Within one set the policy goes as the client gave it.
  placeQueue(c, 'near', 2);
  assert.ok((await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'near', attrs: { deadLetterPolicy: TO_DLQ } })).ok);
  assert.deepEqual(c.set(2).submitted.at(-1), { kind: 'setQueueAttributes', queueName: 'near', attrs: { deadLetterPolicy: TO_DLQ } });

  // ListDeadLetterSourceQueues: every set's sources, merged in name order, as one set would answer.
  placeQueue(c, 'alpha', 1);
  assert.ok((await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: 'alpha', attrs: { deadLetterPolicy: TO_DLQ } })).ok);
  assert.deepEqual(sourceNames(await c.svc.listDeadLetterSourceQueues(ctx, 'dlq', undefined, 0, 20)), { names: ['alpha', 'near', 'work'], totalCount: 3 });
  assert.deepEqual(sourceNames(await c.svc.listDeadLetterSourceQueues(ctx, 'dlq', undefined, 1, 1)), { names: ['near'], totalCount: 3 });
  assert.deepEqual(sourceNames(await c.svc.listDeadLetterSourceQueues(ctx, 'dlq', 'WOR', 0, 20)), { names: ['work'], totalCount: 1 });
  assert.equal(errorOf(await c.svc.listDeadLetterSourceQueues(ctx, 'ghost', undefined, 0, 20)), 'queueNotExist');
  // A set that cannot answer fails the list: a part of it would look whole.
  c.set(3).down = true;
  assert.equal(errorOf(await c.svc.listDeadLetterSourceQueues(ctx, 'dlq', undefined, 0, 20)), 'notApplied');
  c.set(3).down = false;

  // The dead-letter queue is not deleted while a queue on another set names it (as its own set
  // refuses while one of its own queues does); once they let go of it, it is.
  assert.equal(errorOf(await c.svc.submit(ctx, { kind: 'deleteQueue', queueName: 'dlq' })), 'dlqDeleteInUse');
  assert.ok(c.set(2).has('dlq'));
  for (const q of ['work', 'alpha', 'near']) assert.ok((await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: q, attrs: { deadLetterPolicy: null } })).ok);
  assert.ok((await c.svc.submit(ctx, { kind: 'deleteQueue', queueName: 'dlq' })).ok);
});

void test('a dead-letter queue on another set is refused with the errors its own set would give', async () => {
  type Place = (name: string, setId: number, attrs?: QueueAttributesInput) => void;
  type Bind = (name: string, policy: DeadLetterPolicy) => Promise<string | undefined>;
  const scenarios: { what: string; run: (place: Place, bind: Bind) => Promise<string | undefined> }[] = [
    { what: 'a missing dead-letter queue', run: async (place, bind) => (place('work', 3), bind('work', { ...TO_DLQ, deadLetterQueue: 'ghost' })) },
    { what: 'the queue itself', run: async (place, bind) => (place('dlq', 2), bind('dlq', TO_DLQ)) },
    { what: 'a bad parameter', run: async (place, bind) => (place('dlq', 2), place('work', 3), bind('work', { deadLetterQueue: 'dlq', policy: 0 })) },
    {
      what: 'a dead-letter queue with its own',
      run: async (place, bind) => {
        place('x', 2);
        place('dlq', 2, { deadLetterPolicy: { deadLetterQueue: 'x', policy: 0, maxReceiveCount: 1 } });
        place('work', 3);
        return bind('work', TO_DLQ);
      },
    },
    { what: 'a FIFO dead-letter queue of a standard queue', run: async (place, bind) => (place('dlq', 2, { sqs: { fifo: true } }), place('work', 3), bind('work', TO_DLQ)) },
    { what: 'a standard dead-letter queue of a FIFO queue', run: async (place, bind) => (place('dlq', 2), place('work', 3, { sqs: { fifo: true } }), bind('work', TO_DLQ)) },
    { what: 'denyAll', run: async (place, bind) => (place('dlq', 2, { sqs: { redriveAllowPolicy: { permission: 'denyAll' } } }), place('work', 3), bind('work', TO_DLQ)) },
    {
      what: 'byQueue without it',
      run: async (place, bind) => (place('dlq', 2, { sqs: { redriveAllowPolicy: { permission: 'byQueue', sourceQueueNames: ['other'] } } }), place('work', 3), bind('work', TO_DLQ)),
    },
    {
      what: 'byQueue with it',
      run: async (place, bind) => (place('dlq', 2, { sqs: { redriveAllowPolicy: { permission: 'byQueue', sourceQueueNames: ['work'] } } }), place('work', 3), bind('work', TO_DLQ)),
    },
    {
      what: 'a queue that is itself the dead-letter queue of a queue on another set',
      run: async (place, bind) => {
        place('dlq', 2);
        place('work', 3);
        place('feeder', 1);
        assert.equal(await bind('feeder', { ...TO_DLQ, deadLetterQueue: 'work' }), undefined);
        return bind('work', TO_DLQ);
      },
    },
    {
      what: 'one source too many, counted across sets',
      run: async (place, bind) => {
        place('dlq', 2);
        for (let k = 0; k < LIMITS.deadLetterSourcesMax; k++) {
          place(`s${k}`, 1 + (k % 3));
          assert.equal(await bind(`s${k}`, TO_DLQ), undefined, `source ${k}`);
        }
        place('extra', 3);
        // A source bound again is not one more.
        assert.equal(await bind('s2', { ...TO_DLQ, maxReceiveCount: 4 }), undefined);
        return bind('extra', TO_DLQ);
      },
    },
  ];
  const answers: string[] = [];
  for (const sc of scenarios) {
    const ref = new BrokerHarness();
    const expected = await sc.run(
      (name, _setId, attrs = {}) => void ref.ok({ kind: 'createQueue', queueName: name, attrs }),
      (name, policy) => Promise.resolve(errorOf(ref.run({ kind: 'setQueueAttributes', queueName: name, attrs: { deadLetterPolicy: policy } }))),
    );
    const c = cluster();
    const got = await sc.run(
      (name, setId, attrs = {}) => placeQueue(c, name, setId, attrs),
      async (name, policy) => errorOf(await c.svc.submit(ctx, { kind: 'setQueueAttributes', queueName: name, attrs: { deadLetterPolicy: policy } })),
    );
    assert.equal(got, expected, sc.what);
    answers.push(`${sc.what}: ${String(got)}`);
  }
  // The scenarios do reach every refusal (and the one that passes).
  assert.deepEqual(
    answers.map((a) => a.slice(a.lastIndexOf(': ') + 2)),
    ['dlqNotExist', 'dlqPolicyParams', 'dlqPolicyParams', 'dlqNested', 'dlqPolicyParams', 'dlqPolicyParams', 'dlqNotAllowed', 'dlqNotAllowed', 'undefined', 'dlqNested', 'dlqBindTooMany'],
  );
});

void test('DeleteQueue / DeleteTopic: deleted on their set, then their route; a controller that is down does not fail it', async () => {
  const c = cluster();
  placeQueue(c, 'gone', 2);
  placeTopic(c, 'gone-topic', 3);
  assert.ok((await c.svc.getQueueAttributes(ctx, 'gone')).ok); // cached now
  assert.ok((await c.svc.submit(ctx, { kind: 'deleteQueue', queueName: 'gone' })).ok);
  assert.ok(!c.set(2).has('gone'));
  assert.equal(c.controller.routes.has(entityKey('queue', 'gone')), false);
  assert.equal(errorOf(await c.svc.getQueueAttributes(ctx, 'gone')), 'queueNotExist');
  assert.ok((await c.svc.submit(ctx, { kind: 'deleteTopic', topicName: 'gone-topic' })).ok);
  assert.equal(c.controller.routes.has(entityKey('topic', 'gone-topic')), false);

  // The route cannot be removed now: the delete still succeeds, the leftover is logged...
  placeQueue(c, 'left', 2);
  assert.ok((await c.svc.getQueueAttributes(ctx, 'left')).ok);
  c.controller.down = true;
  assert.ok((await c.svc.submit(ctx, { kind: 'deleteQueue', queueName: 'left' })).ok);
  assert.ok(!c.set(2).has('left'));
  assert.ok(c.log.lines.some((l) => l.level === 'warn' && l.msg.includes('left')));
  // ...and the next create of the name goes to the set the leftover route names.
  c.controller.down = false;
  c.controller.placeOn = 3;
  assert.ok((await c.svc.submit(ctx, { kind: 'createQueue', queueName: 'left', attrs: {} })).ok);
  assert.ok(c.set(2).has('left'));
});

void test('ListQueue and ListTopic merge every set: order, searchWord, offset, limit and totalCount as one set would answer', async () => {
  const c = cluster();
  const names = ['beta', 'Alpha', 'alpha2', 'Gamma', 'delta', 'ALPHAX', 'zeta', 'eta', 'Theta', 'iota', 'kappa'];
  const reference = new BrokerHarness();
  names.forEach((name, i) => {
    placeQueue(c, name, (i % 3) + 1);
    placeTopic(c, `t-${name}`, ((i + 1) % 3) + 1);
    reference.ok({ kind: 'createQueue', queueName: name, attrs: {} });
    reference.ok({ kind: 'createTopic', topicName: `t-${name}`, maxMsgSize: 65_536, filterType: 1 });
  });
  for (const searchWord of [undefined, 'alpha', 'ETA', 't-a', 'none']) {
    for (const [offset, limit] of [[0, 20], [0, 3], [2, 4], [5, 2], [7, 1], [9, 50], [20, 5], [1, 0]] as const) {
      const q = await c.svc.listQueues(ctx, searchWord, offset, limit);
      assert.ok(q.ok, JSON.stringify(q));
      const want = reference.sm.listQueues(searchWord, offset, limit);
      assert.equal(q.totalCount, want.totalCount, `queues ${searchWord} ${offset} ${limit}: totalCount`);
      assert.deepEqual(
        q.queueList.map((x) => x.queueName),
        want.queueList.map((x) => x.queueName),
        `queues ${searchWord} ${offset} ${limit}`,
      );
      const t = await c.svc.listTopics(ctx, searchWord, offset, limit);
      assert.ok(t.ok, JSON.stringify(t));
      const wantT = reference.sm.listTopics(searchWord, offset, limit);
      assert.equal(t.totalCount, wantT.totalCount, `topics ${searchWord} ${offset} ${limit}: totalCount`);
      assert.deepEqual(
        t.topicList.map((x) => x.topicName),
        wantT.topicList.map((x) => x.topicName),
        `topics ${searchWord} ${offset} ${limit}`,
      );
    }
  }
  // Ids are each set's own (the queue's set issued it).
  const all = await c.svc.listQueues(ctx, 'beta', 0, 1);
  assert.ok(all.ok);
  assert.equal(all.queueList[0]?.queueId, c.set(1).h.sm.getQueueAttributes('beta')?.queueId);
});

void test('a page far into the list asks no set for more than one set can hold', async () => {
  const c = cluster();
  placeQueue(c, 'a', 1);
  placeQueue(c, 'b', 2);
  const r = await c.svc.listQueues(ctx, undefined, 1_000_000_000, 50);
  assert.ok(r.ok);
  assert.equal(r.totalCount, 2);
  assert.deepEqual(r.queueList, []);
  for (const s of c.sets) assert.deepEqual(s.listLimits, [LIMITS.queueCountMax]);
});

void test('a list includes this node own set before the controller lists it', async () => {
  const c = cluster();
  placeQueue(c, 'mine', 1);
  placeQueue(c, 'theirs', 2);
  c.controller.setIds.splice(0, 1); // set 1 has not registered yet
  const r = await c.svc.listQueues(ctx, undefined, 0, 20);
  assert.ok(r.ok);
  assert.deepEqual(
    r.queueList.map((q) => q.queueName),
    ['mine', 'theirs'],
  );
});

void test('a list with a set or the controller that cannot answer fails whole, naming what failed', async () => {
  const c = cluster();
  placeQueue(c, 'a', 1);
  placeQueue(c, 'b', 2);
  c.set(3).down = true;
  const r = await c.svc.listQueues(ctx, undefined, 0, 20);
  assert.equal(errorOf(r), 'notApplied');
  assert.match((r as ErrorResult).detail ?? '', /set 3/);
  c.set(3).down = false;
  c.controller.down = true;
  assert.equal(errorOf(await c.svc.listTopics(ctx, undefined, 0, 20)), 'notApplied');
});

void test('a set that says "not mine" makes the route be asked again once: the call runs on the new set, and never loops', async () => {
  const c = cluster();
  placeQueue(c, 'moving', 2);
  assert.ok((await c.svc.getQueueAttributes(ctx, 'moving')).ok); // cached: set 2
  // The queue moves to set 3 (as a completed move leaves it).
  c.set(2).h.ok({ kind: 'deleteQueue', queueName: 'moving' });
  placeQueue(c, 'moving', 3);
  const sent = await c.svc.submit(ctx, { kind: 'sendMessages', queueName: 'moving', delaySeconds: null, bodies: [Buffer.from('m')] });
  assert.ok(sent.ok, JSON.stringify(sent));
  assert.equal(c.set(3).h.sm.visibleCount('moving'), 1);
  const reads = c.controller.routeReads();
  assert.ok((await c.svc.getQueueAttributes(ctx, 'moving')).ok);
  assert.equal(c.controller.routeReads(), reads, 'the new route is cached');

  // Both sets say no: one refresh, one more try, then the set's answer.
  placeTopic(c, 'lost', 2);
  assert.ok((await c.svc.getTopicAttributes(ctx, 'lost')).ok);
  c.set(2).h.ok({ kind: 'deleteTopic', topicName: 'lost' });
  c.controller.route('topic', 'lost', 3); // set 3 does not hold it either
  const calls = c.set(2).calls + c.set(3).calls;
  const r = await c.svc.getTopicAttributes(ctx, 'lost');
  assert.equal(errorOf(r), 'topicNotExist');
  assert.equal(c.set(2).calls + c.set(3).calls - calls, 2);
  // The same set after the refresh: no second try there.
  const again = c.set(3).calls;
  assert.equal(errorOf(await c.svc.getTopicAttributes(ctx, 'lost')), 'topicNotExist');
  assert.equal(c.set(3).calls - again, 1);
});

void test('with the controller down, cached routes keep serving and uncached ones answer notApplied', async () => {
  const c = cluster();
  placeQueue(c, 'known', 2);
  placeQueue(c, 'unknown', 3);
  assert.ok((await c.svc.getQueueAttributes(ctx, 'known')).ok);
  c.controller.down = true;
  const sent = await c.svc.submit(ctx, { kind: 'sendMessages', queueName: 'known', delaySeconds: null, bodies: [Buffer.from('k')] });
  assert.ok(sent.ok, JSON.stringify(sent));
  const got = await c.svc.receive(ctx, 'known', 1, 0);
  assert.ok(got.ok && got.messages.length === 1);
  const r = await c.svc.submit(ctx, { kind: 'sendMessages', queueName: 'unknown', delaySeconds: null, bodies: [Buffer.from('u')] });
  assert.equal(errorOf(r), 'notApplied');
  assert.match((r as ErrorResult).detail ?? '', /route of queue unknown/);
  assert.equal(c.set(3).calls, 0);
});

void test('a queue or topic the controller does not route yet is served from the own set when it holds it (not adopted yet), else not found', async () => {
  const c = cluster();
  // On the own set (1) and on set 2, neither routed: what predates the controller.
  c.set(1).h.ok({ kind: 'createQueue', queueName: 'legacy', attrs: {} });
  c.set(1).h.ok({ kind: 'createTopic', topicName: 'old-topic', maxMsgSize: 65_536, filterType: 1 });
  c.set(2).h.ok({ kind: 'createQueue', queueName: 'elsewhere', attrs: {} });
  assert.ok((await c.svc.submit(ctx, { kind: 'sendMessages', queueName: 'legacy', delaySeconds: null, bodies: [Buffer.from('x')] })).ok);
  assert.ok((await c.svc.getQueueAttributes(ctx, 'legacy')).ok);
  assert.ok((await c.svc.getTopicAttributes(ctx, 'old-topic')).ok);
  // Another set's unrouted queue is not found from here until its set adopts it.
  assert.equal(errorOf(await c.svc.getQueueAttributes(ctx, 'elsewhere')), 'queueNotExist');
  assert.equal(errorOf(await c.svc.getQueueAttributes(ctx, 'nowhere')), 'queueNotExist');
  assert.equal(errorOf(await c.svc.getTopicAttributes(ctx, 'nowhere')), 'topicNotExist');
  // Once adopted, it is served from any node.
  c.controller.route('queue', 'elsewhere', 2);
  assert.ok((await c.svc.getQueueAttributes(ctx, 'elsewhere')).ok);
});

void test('a queue subscription is marked remoteQueue on the topic set exactly when the queue is on another set', async () => {
  const c = cluster();
  placeTopic(c, 'news', 2);
  placeQueue(c, 'near', 2);
  placeQueue(c, 'far', 3);
  const subscribe = (subscriptionName: string, protocol: 'queue' | 'http', endpoint: string): Command => ({
    kind: 'subscribe',
    topicName: 'news',
    subscriptionName,
    protocol,
    endpoint,
    notifyStrategy: 'BACKOFF_RETRY',
    notifyContentFormat: 'SIMPLIFIED',
    filterTags: [],
    bindingKeys: [],
  });
  for (const [name, protocol, endpoint] of [['s-near', 'queue', 'near'], ['s-far', 'queue', 'far'], ['s-none', 'queue', 'unknown'], ['s-http', 'http', 'http://x/far']] as const) {
    assert.ok((await c.svc.submit(ctx, subscribe(name, protocol, endpoint))).ok, name);
  }
  const flags = c.set(2).submitted.filter((x) => x.kind === 'subscribe').map((x) => [x.subscriptionName, x.remoteQueue === true]);
  assert.deepEqual(flags, [['s-near', false], ['s-far', true], ['s-none', false], ['s-http', false]]);
  // The controller down and the queue not cached: nothing is subscribed (retry).
  c.controller.down = true;
  assert.equal(errorOf(await c.svc.submit(ctx, subscribe('s-later', 'queue', 'later'))), 'notApplied');
});
