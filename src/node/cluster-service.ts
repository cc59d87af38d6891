// Any node serves any queue or topic: the QueueService a node's client protocols use once the
// cluster has several sets. Every call naming a queue or topic goes to the set that serves it,
// as the controller's route says (kept in a bounded cache, so the data path survives a controller
// election); a create asks the controller to place the name first; ListQueue / ListTopic merge
// every set's list. Pure of I/O: the controller, the other sets and this node's own set are all
// injected (in production the ControllerClient, the set directory and the RoutedQueueService).
//
// A queue of several shards (a route naming several sets) is served by node/sharded-queues.ts at
// each dispatch point below; a call not built for it is refused (shardedUnsupported), never sent
// to one shard alone.

import type {
  Command,
  CommandResult,
  DeadLetterPolicy,
  MoveTaskView,
  QueueAttributes,
  QueueList,
  QueueListItem,
  SubscriptionAttributes,
  SubscriptionList,
  TopicAttributes,
  TopicList,
} from '../broker/commands';
import { deadLetterQueueRefusal, deadLetterSourcesRefusal } from '../broker/dead-letter-rules';
import type { ControllerCommand, ControllerQuery, ControllerResult } from '../controller/commands';
import type { EntityType } from '../controller/model';
import { errorKind, fail, KIND_APPLIED, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import type { Logger } from '../protocol/log';
import type { ClusterStatusView, MembershipChange, QueueMoveView, QueueService, ReceiveOptions, ReceiveOutcome, ServiceResult } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import type { SetDirectory } from './remote-sets';
import { RouteCache, shardCount, type CachedRoute } from './route-cache';
import { RouteFreshness } from './route-freshness';
import { ShardedQueues } from './sharded-queues';
import { ClusterLists } from './cluster-lists';
import { shardedAttrsRefusal } from './shards';
import { isQueueMoveSend } from './outbox';
import { startQueueMove } from './queue-move-start';

/** What the access layer asks of the controller (the ControllerClient). */
export interface ControllerAccess {
  submit(command: ControllerCommand): Promise<ControllerResult>;
  read(query: ControllerQuery): Promise<ControllerResult>;
}

export interface ClusterServiceOptions {
  /** The set this node belongs to. */
  ownSetId: number;
  /** This node's own set's service (calls go to its leader). */
  own: QueueService;
  sets: SetDirectory;
  controller: ControllerAccess;
  log: Logger;
  /** Routes cached at most (default ROUTE_CACHE_MAX). */
  routeCacheMax?: number;
  /** The clock cached routes are checked against the controller's routeEpoch by (default Date.now). */
  nowMs?: () => number;
  /** A sharded queue's long-poll slice (default POLL_SLICE_SECONDS). */
  pollSliceSeconds?: number;
}

/** The set serving a name (shard 0's), and the route it came from (none: this node's own set, unrouted). */
type Located = { setId: number; route: CachedRoute | undefined } | ErrorResult;

function sameShards(a: CachedRoute | undefined, b: CachedRoute | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.shards.length === b.shards.length && a.shards.every((s, i) => s === b.shards[i]);
}

function isError(r: object): r is ErrorResult {
  return (r as { ok?: unknown }).ok === false;
}

function notExistOf(type: EntityType): 'queueNotExist' | 'topicNotExist' {
  return type === 'queue' ? 'queueNotExist' : 'topicNotExist';
}

function existsOf(type: EntityType): 'queueExists' | 'topicExists' {
  return type === 'queue' ? 'queueExists' : 'topicExists';
}

/** In place of a set id: a queue of several shards, on no one set (see attributesWhere). */
const SHARDED_SET = -1;


export class ClusterQueueService implements QueueService {
  private readonly cache: RouteCache;
  private readonly log: Logger;
  private readonly freshness: RouteFreshness;
  /** Routes being read again in the background (entityKey-like `type:name`). */
  private readonly rechecking = new Set<string>();
  private readonly sharded: ShardedQueues;
  private readonly lists: ClusterLists;

  constructor(private readonly opts: ClusterServiceOptions) {
    this.cache = new RouteCache(opts.routeCacheMax);
    this.log = opts.log;
    this.freshness = new RouteFreshness({
      nowMs: opts.nowMs ?? Date.now,
      readEpoch: async () => {
        const r = await opts.controller.read({ kind: 'listSets' });
        return r.ok ? r.routeEpoch : undefined;
      },
    });
    this.sharded = new ShardedQueues({
      serviceOf: (id) => this.serviceOf(id),
      controller: opts.controller,
      cache: this.cache,
      log: opts.log,
      sawEpoch: (e) => this.freshness.saw(e),
      ...(opts.pollSliceSeconds !== undefined ? { pollSliceSeconds: opts.pollSliceSeconds } : {}),
    });
    this.lists = new ClusterLists({ ownSetId: opts.ownSetId, controller: opts.controller, serviceOf: (id) => this.serviceOf(id), cache: this.cache });
  }

  private serviceOf(setId: number): QueueService {
    return setId === this.opts.ownSetId ? this.opts.own : this.opts.sets.service(setId);
  }

  /** The controller's route for the name (cached on success); its error as it gave it otherwise. */
  private async askRoute(type: EntityType, name: string): Promise<Located> {
    const r = await this.opts.controller.read({ kind: 'getRoute', type, name });
    if (!r.ok) {
      if (r.error !== 'notApplied') return r;
      return fail('notApplied', undefined, `the route of ${type} ${name} could not be read from the controller (${r.detail ?? 'no detail'}); retry`);
    }
    if (r.kind !== 'entity' || r.entity.shards.length === 0) {
      return fail('notApplied', undefined, `the controller answered getRoute of ${type} ${name} with ${r.kind}; retry`);
    }
    this.freshness.saw(r.routeEpoch);
    const route = this.cache.setEntity(r.entity, r.routeEpoch);
    return { setId: route.shards[0]!, route };
  }

  /**
   * The set serving the name: the cache, else the controller. A name the controller does not know
   * is queueNotExist / topicNotExist, as the set would say; a controller that cannot answer is
   * notApplied (retry) — a cached route keeps working meanwhile.
   */
  private locate(type: EntityType, name: string): Promise<Located> {
    const route = this.cache.get(type, name);
    if (route === undefined) return this.askRoute(type, name);
    // A route read before a newer routeEpoch may have changed (a growth, a move): read again in
    // the background; this call uses what is known.
    if (this.freshness.stale(route.epoch)) this.recheck(type, name);
    return Promise.resolve({ setId: route.shards[0]!, route });
  }

  private recheck(type: EntityType, name: string): void {
    const key = `${type}:${name}`;
    if (this.rechecking.has(key)) return;
    this.rechecking.add(key);
    void this.askRoute(type, name)
      .then((r) => {
        if (isError(r) && r.error === notExistOf(type)) this.cache.drop(type, name);
      })
      .catch(() => undefined)
      .finally(() => this.rechecking.delete(key));
  }

  /**
   * Run on what `at` names: `call` on its set for one shard; for several, `sharded` when the call
   * is built for them, else the refusal naming what `sharded` says is not supported.
   */
  private runOn<T extends object>(
    at: { setId: number; route: CachedRoute | undefined },
    call: (svc: QueueService, setId: number) => Promise<T | ErrorResult>,
    sharded: ((route: CachedRoute) => Promise<T | ErrorResult>) | string,
  ): Promise<T | ErrorResult> {
    if (at.route !== undefined && at.route.shards.length > 1) {
      return typeof sharded === 'string' ? Promise.resolve(fail('shardedUnsupported', sharded)) : sharded(at.route);
    }
    return call(this.serviceOf(at.setId), at.setId);
  }

  /**
   * Run `call` on the set serving the name. When that set says the name does not exist, the
   * route may be stale (a move, a delete and create elsewhere): the controller is asked once
   * more and, if it now names another set, the call runs there, once. Never more: two sets
   * that both say no are answered as the last said.
   */
  private async routed<T extends object>(
    type: EntityType,
    name: string,
    call: (svc: QueueService, setId: number) => Promise<T | ErrorResult>,
    sharded: ((route: CachedRoute) => Promise<T | ErrorResult>) | string = 'this request',
  ): Promise<T | ErrorResult> {
    let first = await this.locate(type, name);
    // A name the controller does not route may still be on this node's own set, not adopted yet
    // (a set that predates the controller, or a name created there while the controller was away:
    // its leader adopts what it holds within a reporting round). The own set is asked; it answers
    // queueNotExist / topicNotExist for a name it does not hold either.
    if (isError(first) && first.error === notExistOf(type)) first = { setId: this.opts.ownSetId, route: undefined };
    if (isError(first)) return first;
    const answer = await this.runOn(first, call, sharded);
    if (!isError(answer) || answer.error !== notExistOf(type)) return answer;
    this.cache.drop(type, name);
    const again = await this.askRoute(type, name);
    if (isError(again) || (again.setId === first.setId && (first.route === undefined || sameShards(again.route, first.route)))) return answer;
    return this.runOn(again, call, sharded);
  }

  // ---------------------------------------------------------------------------------------------
  // Writes

  submit(ctx: RequestContext, command: Command): Promise<CommandResult> {
    const own = this.opts.own;
    const onQueue = (name: string): Promise<CommandResult> =>
      this.routed(
        'queue',
        name,
        (s) => s.submit(ctx, command),
        (route) => this.sharded.submit(ctx, route, command),
      );
    const onTopic = (name: string): Promise<CommandResult> => this.routed('topic', name, (s) => s.submit(ctx, command));
    switch (command.kind) {
      case 'createQueue': {
        const { shards, ...plain } = command;
        if (shards !== undefined && shards > 1) return this.createSharded(ctx, plain, shards);
        return this.create(ctx, 'queue', command.queueName, plain, command.attrs.deadLetterPolicy?.deadLetterQueue);
      }
      case 'createTopic':
        return this.create(ctx, 'topic', command.topicName, command, undefined);
      case 'deleteQueue':
        return this.deleteQueue(ctx, command);
      case 'deleteTopic':
        return this.delete(ctx, 'topic', command.topicName, command);
      case 'setQueueAttributes': {
        if (command.shards !== undefined) return this.sharded.setShards(ctx, command, command.shards, (plain) => this.submit(ctx, plain));
        const policy = command.attrs.deadLetterPolicy;
        if (policy === undefined || policy === null) return onQueue(command.queueName);
        return this.bindDeadLetterQueue(ctx, command, policy);
      }
      case 'sendMessages':
        return isQueueMoveSend(command) ? this.sendMovedOut(ctx, command) : onQueue(command.queueName);
      case 'receiveMessages':
      case 'deleteMessages':
      case 'rewindQueue':
      case 'changeVisibility':
      case 'purgeQueue':
      case 'tagQueue':
      case 'untagQueue':
      case 'unbindDeadLetter':
        return onQueue(command.queueName);
      case 'moveMessages':
        // With a task handle it is the move loop of the set holding the task, on its leader.
        if (command.taskHandle !== undefined) return own.submit(ctx, command);
        return command.destinationQueue === null ? onQueue(command.sourceQueue) : this.moveTo(ctx, command, command.destinationQueue);
      case 'startMoveTask':
        return command.destinationQueue === null ? onQueue(command.sourceQueue) : this.moveTo(ctx, command, command.destinationQueue);
      case 'cancelMoveTask':
        return this.cancelMoveTask(ctx, command);
      case 'subscribe':
        return command.protocol === 'queue' ? this.subscribeQueue(ctx, command) : onTopic(command.topicName);
      case 'setTopicAttributes':
      case 'unsubscribe':
      case 'setSubscriptionAttributes':
      case 'clearSubscriptionFilterTags':
      case 'publishMessages':
        return onTopic(command.topicName);
      // What a node proposes about its own set's data (time, compaction, a damaged body, the
      // outcome of its own pushes and dead-letter sends): never a client's request, never another set's.
      case 'tick':
      case 'relocateBodies':
      case 'quarantineMessage':
      case 'pushSucceeded':
      case 'pushFailed':
      case 'deadLetterSent':
      case 'deadLetterFailed':
        return own.submit(ctx, command);
      default: {
        const unknown: never = command;
        return Promise.resolve(fail('internalError', undefined, `no route for command ${(unknown as { kind: string }).kind}`));
      }
    }
  }

  /**
   * A redrive (moveMessages, startMoveTask) to a named destination. On the source's set: as the
   * set runs it. On another set: checked here against the destination's attributes there (it
   * exists, FIFO or standard as the source: moveFifo otherwise), then run on the source's set
   * marked `remoteDestination`, so the messages leave through its outbox and its leader sends
   * them (broker/dead-letter-outbox.ts). A destination the controller does not know goes to the
   * source's set, which answers as it would for any missing queue.
   */
  private async moveTo(ctx: RequestContext, command: Extract<Command, { kind: 'moveMessages' | 'startMoveTask' }>, destination: string): Promise<CommandResult> {
    const source = command.sourceQueue;
    // A sharded source refuses moves out of it (node/sharded-queues.ts), whatever the destination.
    const shardedSource = (route: CachedRoute): Promise<CommandResult> => this.sharded.submit(ctx, route, command);
    const onSource = (): Promise<CommandResult> => this.routed('queue', source, (s) => s.submit(ctx, command), shardedSource);
    const d = await this.locate('queue', destination);
    if (isError(d)) return d.error === 'queueNotExist' ? onSource() : d;
    const dst = await this.attributesWhere(ctx, destination);
    if (isError(dst)) return dst.error === 'queueNotExist' ? onSource() : dst;
    return this.routed(
      'queue',
      source,
      async (s, setId) => {
        if (setId === dst.setId) return s.submit(ctx, command);
        const src = await s.getQueueAttributes(ctx, source);
        if (!src.ok) return src;
        if (src.attributes.sqs.fifo !== dst.attributes.sqs.fifo) return fail('moveFifo');
        return s.submit(ctx, { ...command, remoteDestination: true });
      },
      shardedSource,
    );
  }

  /**
   * A queue's attributes and the set holding it; a queue of several shards is on no one set
   * (SHARDED_SET): what goes into it from another queue always goes through this layer, which
   * spreads it over the shards.
   */
  private attributesWhere(ctx: RequestContext, name: string): Promise<ServiceResult<{ attributes: QueueAttributes; setId: number }>> {
    return this.routed(
      'queue',
      name,
      async (s, setId) => {
        const r = await s.getQueueAttributes(ctx, name);
        return r.ok ? { ...r, setId } : r;
      },
      async (route) => {
        const r = await this.sharded.attributes(ctx, name, route);
        return r.ok ? { ...r, setId: SHARDED_SET } : r;
      },
    );
  }

  /**
   * SetQueueAttributes with a dead-letter policy. Its dead-letter queue on the queue's own set: the
   * set checks everything. On another set: the rules about the dead-letter queue are checked here,
   * against its attributes read from its set, with the errors the set would give
   * (broker/dead-letter-rules.ts), and the policy goes to the queue's set marked `remote`: that set
   * keeps the queue's dead letters in an outbox and its leader sends them to the dead-letter queue
   * (broker/dead-letter-outbox.ts). Either way the queue must not itself be a dead-letter queue of
   * a queue on any set. Checks and bind are not atomic: two binds at once may pass the sources
   * bound together, as two sets may.
   *
   * A queue of several shards is checked the same way and every shard gets the policy marked
   * `remote`, the shard on the dead-letter queue's own set too: one way for all its shards, so
   * every shard's sources are listed and counted alike (remoteSources) and each dead letter goes
   * through the access layer under the same deduplication key, whichever shard it leaves.
   */
  private async bindDeadLetterQueue(ctx: RequestContext, command: Extract<Command, { kind: 'setQueueAttributes' }>, policy: DeadLetterPolicy): Promise<CommandResult> {
    const name = command.queueName;
    const dlqName = policy.deadLetterQueue;
    const remote: Extract<Command, { kind: 'setQueueAttributes' }> = { ...command, attrs: { ...command.attrs, deadLetterPolicy: { ...policy, remote: true } } };
    // A dead-letter queue the controller does not know: the queue's set answers dlqNotExist (or
    // queueNotExist, or a parameter error first), as for any missing queue.
    const d = await this.locate('queue', dlqName);
    if (isError(d) && d.error !== 'queueNotExist') return d;
    const dlq = isError(d) ? d : await this.attributesWhere(ctx, dlqName);
    if (isError(dlq) && dlq.error !== 'queueNotExist') return dlq;
    // Whether a queue on any set names this one as its dead-letter queue (its own set knows only
    // its own queues). Checked in the set's order: after the rules about the dead-letter queue.
    const isDeadLetterQueue = async (): Promise<ErrorResult | undefined> => {
      if (dlqName === name) return undefined;
      const sources = await this.deadLetterSourceCount(ctx, name);
      if (typeof sources !== 'number') return sources;
      return sources > 0 ? fail('dlqNested', undefined, 'this queue is a dead-letter queue') : undefined;
    };
    return this.routed(
      'queue',
      name,
      async (s, setId) => {
        if (isError(dlq)) return s.submit(ctx, command);
        if (setId === dlq.setId) return (await isDeadLetterQueue()) ?? s.submit(ctx, command);
        const src = await s.getQueueAttributes(ctx, name);
        if (!src.ok) return src;
        return (await this.remoteBindRefusal(ctx, name, src.attributes.sqs.fifo, dlq.attributes, isDeadLetterQueue)) ?? s.submit(ctx, remote);
      },
      async (route) => {
        // A one-shard queue being moved has two sets for a while, not shards: its policy (local or
        // remote by where the dead-letter queue is) waits for the move's end. A queue of several
        // shards binds it remote on every one, the moving shard's source and target alike.
        if (route.move !== undefined && shardCount(route) === 1) return fail('shardedUnsupported', 'dead-letter policies', '(the queue is moving to another set; set it once the move is done)');
        // Its own dead-letter queue: every shard's set refuses it as it refuses any queue's.
        if (dlqName === name) return this.sharded.submit(ctx, route, remote);
        if (isError(dlq)) return fail('dlqNotExist');
        const src = await this.sharded.attributes(ctx, name, route);
        if (!src.ok) return src;
        return (await this.remoteBindRefusal(ctx, name, src.attributes.sqs.fifo, dlq.attributes, isDeadLetterQueue)) ?? this.sharded.submit(ctx, route, remote);
      },
    );
  }

  /**
   * Why the queue `name` cannot have `dlq` (on another set than the queue, or the queue has several
   * shards) as its dead-letter queue, with the errors the queue's set would give, in its order: the
   * rules about the dead-letter queue, then `nested` (whether the queue is itself a dead-letter
   * queue; undefined: not checked, a queue being created), then whether the dead-letter queue has
   * room for one more source (the queue not counted if it is one already: a rebind).
   */
  private async remoteBindRefusal(
    ctx: RequestContext,
    name: string,
    fifo: boolean,
    dlq: QueueAttributes,
    nested: (() => Promise<ErrorResult | undefined>) | undefined,
  ): Promise<ErrorResult | undefined> {
    const refused = deadLetterQueueRefusal(name, fifo, { hasPolicy: dlq.deadLetterPolicy !== undefined, fifo: dlq.sqs.fifo, redriveAllowPolicy: dlq.sqs.redriveAllowPolicy });
    if (refused !== undefined) return refused;
    const isNested = await nested?.();
    if (isNested !== undefined) return isNested;
    const sources = await this.deadLetterSources(ctx, dlq.queueName);
    if (isError(sources)) return sources;
    return deadLetterSourcesRefusal(sources.filter((q) => q.queueName !== name).length);
  }

  /**
   * CreateQueue with `shards` > 1. With a dead-letter policy, the dead-letter queue is checked here
   * as for a policy set later (bindDeadLetterQueue) and every shard is created with the policy
   * marked `remote`; node/sharded-queues.ts then places and creates the shards.
   */
  private async createSharded(ctx: RequestContext, command: Extract<Command, { kind: 'createQueue' }>, shards: number): Promise<CommandResult> {
    const policy = command.attrs.deadLetterPolicy ?? undefined;
    // FIFO first: refused whatever the policy.
    const fifo = shardedAttrsRefusal(command.attrs);
    if (fifo !== undefined || policy === undefined) return fifo ?? this.sharded.create(ctx, command, shards);
    const remote: Extract<Command, { kind: 'createQueue' }> = { ...command, attrs: { ...command.attrs, deadLetterPolicy: { ...policy, remote: true } } };
    // Its own dead-letter queue: every shard's set refuses it (and nothing stays placed).
    if (policy.deadLetterQueue === command.queueName) return this.sharded.create(ctx, remote, shards);
    const d = await this.locate('queue', policy.deadLetterQueue);
    if (isError(d)) return d.error === 'queueNotExist' ? fail('dlqNotExist') : d;
    const dlq = await this.attributesWhere(ctx, policy.deadLetterQueue);
    if (isError(dlq)) return dlq.error === 'queueNotExist' ? fail('dlqNotExist') : dlq;
    const refused = await this.remoteBindRefusal(ctx, command.queueName, command.attrs.sqs?.fifo ?? false, dlq.attributes, undefined);
    return refused ?? this.sharded.create(ctx, remote, shards);
  }

  /** How many queues, on every set, have `dlqName` as their dead-letter queue. */
  private async deadLetterSourceCount(ctx: RequestContext, dlqName: string): Promise<number | ErrorResult> {
    const r = await this.deadLetterSources(ctx, dlqName);
    return isError(r) ? r : r.length;
  }

  /** The queues, on every set, that have `dlqName` as their dead-letter queue, each once. */
  private async deadLetterSources(ctx: RequestContext, dlqName: string): Promise<QueueListItem[] | ErrorResult> {
    const r = await this.listDeadLetterSourceQueues(ctx, dlqName, undefined, 0, LIMITS.queueCountMax);
    if (r.ok) return r.queueList;
    // Not a queue (yet): no queue names it on its own set; those naming it elsewhere still count.
    if (r.error !== 'queueNotExist') return r;
    const elsewhere = await this.lists.remoteSources(ctx, dlqName, undefined);
    return isError(elsewhere) ? elsewhere : this.lists.onceEach(elsewhere).map((x) => x.item);
  }

  /**
   * DeleteQueue. A queue that is the dead-letter queue of a queue on another set is refused as its
   * set refuses one of a queue on the same set (dlqDeleteInUse): its dead letters would be dropped.
   * Looking costs a list on every set; a controller or a set that cannot answer does not stop the
   * delete (deletes work while the controller is away): the look is skipped, with a warning, and
   * dead letters sent to the deleted queue later are dropped and counted (deadLetterDrops).
   */
  private async deleteQueue(ctx: RequestContext, command: Extract<Command, { kind: 'deleteQueue' }>): Promise<CommandResult> {
    const name = command.queueName;
    const elsewhere = await this.lists.remoteSources(ctx, name, undefined);
    if (isError(elsewhere)) {
      this.log.warn(`deleting queue ${name} without knowing whether queues on other sets name it as their dead-letter queue: ${elsewhere.detail ?? elsewhere.error}`, { queue: name });
    } else if (elsewhere.length > 0) {
      return fail('dlqDeleteInUse', undefined, `(the dead-letter queue of ${this.lists.onceEach(elsewhere).map((i) => i.name).join(', ')} on other sets)`);
    }
    return this.delete(ctx, 'queue', name, command);
  }

  /**
   * A queue subscription: on the topic's set, marked `remoteQueue` when the queue is on another
   * set, so the topic's set keeps its messages pending and sends them through the access layer
   * (node/outbox.ts) instead of into a local queue it does not have. A queue the controller does
   * not know is subscribed as on one set: the subscription is kept and delivers nothing, as a
   * set alone does.
   */
  private async subscribeQueue(ctx: RequestContext, command: Extract<Command, { kind: 'subscribe' }>): Promise<CommandResult> {
    const queue = await this.locate('queue', command.endpoint);
    if (isError(queue) && queue.error !== 'queueNotExist') return queue;
    const queueSet = isError(queue) ? undefined : queue.setId;
    // A queue of several shards always takes its messages through the access layer, which spreads them.
    const sharded = !isError(queue) && queue.route !== undefined && queue.route.shards.length > 1;
    return this.routed('topic', command.topicName, (s, topicSet) =>
      s.submit(ctx, sharded || (queueSet !== undefined && queueSet !== topicSet) ? { ...command, remoteQueue: true } : command),
    );
  }

  /**
   * CreateQueue / CreateTopic: the controller places the name (on the dead-letter queue's set
   * when the queue names one, else on the least loaded set), then the chosen set creates it.
   * A name the controller has already placed goes to its set: a create whose first attempt was
   * placed but never reached the set completes there, and the set says queueExists when the
   * queue really exists.
   */
  private async create(ctx: RequestContext, type: EntityType, name: string, command: Command, dlq: string | undefined): Promise<CommandResult> {
    let setId: number | undefined;
    if (dlq !== undefined && dlq !== name) {
      const d = await this.locate('queue', dlq);
      // The set would refuse a dead-letter queue it does not hold: so does this, before placing.
      if (isError(d)) return d.error === 'queueNotExist' ? fail('dlqNotExist') : d;
      setId = d.setId;
    }
    const placement: ControllerCommand = setId === undefined ? { kind: 'createEntity', type, name } : { kind: 'createEntity', type, name, setId };
    const placed = await this.opts.controller.submit(placement);
    let target: number;
    let placedNow = false;
    if (placed.ok) {
      if (placed.kind !== 'entity' || placed.entity.shards.length === 0) return fail('notApplied', undefined, `the controller answered createEntity with ${placed.kind}; retry`);
      target = placed.entity.shards[0]!;
      placedNow = true;
      this.freshness.saw(placed.routeEpoch);
      this.cache.set(type, name, placed.entity.shards, placed.entity.version, placed.routeEpoch);
    } else if (placed.error === existsOf(type)) {
      const r = await this.askRoute(type, name);
      // Taken but not under this spelling: names are unique regardless of case (the set would say
      // queueExists / topicExists too). Also what a name deleted between the two calls answers:
      // rare, and the client's retry then places it.
      if (isError(r)) return r.error === notExistOf(type) ? fail(existsOf(type)) : r;
      target = r.setId;
    } else if (placed.error === 'outcomeUnknown') {
      // Whether the controller placed it or not, no set created it: a retry completes it.
      return fail('notApplied', undefined, `placing ${type} ${name} at the controller: ${placed.detail ?? 'outcome unknown'}; nothing was created, retry`);
    } else {
      return placed;
    }
    const answer = await this.serviceOf(target).submit(ctx, command);
    // The dead-letter queue's route may have been stale (it moved): asked afresh on a retry.
    if (dlq !== undefined && isError(answer) && answer.error === 'dlqNotExist') this.cache.drop('queue', dlq);
    if (placedNow && isError(answer) && answer.error !== existsOf(type) && answer.error !== 'notApplied' && KIND_APPLIED[errorKind(answer.error)] === 'nothing') {
      // The set refused it for good (a limit, a bad attribute): the place just taken is given
      // back, so the name does not stay routed to a set that refuses it. A set that could not
      // be reached keeps the place: the client's retry completes the create there.
      await this.unroute(type, name, `its set ${target} refused the create (${answer.error})`);
    }
    return answer;
  }

  /**
   * DeleteQueue / DeleteTopic: on the set serving it, then its route at the controller. A
   * controller that cannot take the route's delete now does not fail the delete (the queue is
   * gone): the route left behind points at a set without the name, and the next create of the
   * name goes to that set and creates it there (see create).
   */
  private async delete(ctx: RequestContext, type: EntityType, name: string, command: Command): Promise<CommandResult> {
    let sharded = false;
    const answer = await this.routed(
      type,
      name,
      (s) => s.submit(ctx, command),
      (route) => {
        sharded = true; // every shard and the route: node/sharded-queues.ts
        return this.sharded.delete(ctx, name, route);
      },
    );
    if (answer.ok && !sharded) await this.unroute(type, name, 'deleted', ctx);
    return answer;
  }

  private async unroute(type: EntityType, name: string, why: string, ctx?: RequestContext): Promise<void> {
    this.cache.drop(type, name);
    const r = await this.opts.controller.submit({ kind: 'deleteEntity', type, name });
    // A queue deleted while it grew more shards: the growth goes too (node/sharded-queues.ts).
    if (!r.ok && r.error === 'routeChangeRunning' && type === 'queue' && ctx !== undefined && (await this.sharded.dropGrowth(ctx, name))) return;
    if (!r.ok && r.error !== notExistOf(type)) {
      this.log.warn(`the route of ${type} ${name} (${why}) could not be removed at the controller: ${r.error}${r.detail !== undefined ? ` ${r.detail}` : ''}; the next create of the name repairs it`, {
        type,
        name,
      });
    }
  }

  /**
   * A task handle names the Raft group that issued it (broker/ids.ts): a handle this node's set
   * does not know is looked for on the set whose group issued it.
   */
  private async cancelMoveTask(ctx: RequestContext, command: Command & { kind: 'cancelMoveTask' }): Promise<CommandResult> {
    const here = await this.opts.own.submit(ctx, command);
    if (here.ok || here.error !== 'moveTaskNotExist') return here;
    const m = /^g(\d+):/.exec(command.taskHandle);
    const group = m === null ? 0 : Number(m[1]);
    const sets = await this.opts.controller.read({ kind: 'listSets' });
    if (!sets.ok || sets.kind !== 'sets') return here;
    const owner = sets.sets.find((s) => s.group === group);
    if (owner === undefined || owner.id === this.opts.ownSetId) return here;
    return this.serviceOf(owner.id).submit(ctx, command);
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  receive(ctx: RequestContext, queueName: string, numOfMsg: number, waitSeconds: number | undefined, options?: ReceiveOptions): Promise<ReceiveOutcome> {
    return this.routed(
      'queue',
      queueName,
      (s) => s.receive(ctx, queueName, numOfMsg, waitSeconds, options),
      (route) => this.sharded.receive(ctx, queueName, route, numOfMsg, waitSeconds, options),
    );
  }

  getQueueAttributes(ctx: RequestContext, queueName: string): Promise<ServiceResult<{ attributes: QueueAttributes }>> {
    return this.routed(
      'queue',
      queueName,
      (s) => s.getQueueAttributes(ctx, queueName),
      (route) => this.sharded.attributes(ctx, queueName, route),
    );
  }

  /**
   * A dead-letter queue's sources: those on its own set (which answers queueNotExist when it does
   * not hold it), and those on every set whose policy names it there (bound after both queues were
   * created, or a queue of several shards: DeadLetterPolicy.remote). Merged in the broker's name
   * order, each queue once (a queue of several shards is a source on each of its shards' sets), as
   * ListQueue; a set that cannot answer fails the list (a partial one would look whole). Each set
   * lists all it has (a dead-letter queue has at most LIMITS.deadLetterSourcesMax sources), so
   * totalCount counts each queue once.
   */
  async listDeadLetterSourceQueues(ctx: RequestContext, deadLetterQueueName: string, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<QueueList>> {
    const n = LIMITS.queueCountMax;
    const home = await this.routed(
      'queue',
      deadLetterQueueName,
      async (s, setId) => {
        const r = await s.listDeadLetterSourceQueues(ctx, deadLetterQueueName, searchWord, 0, n);
        return r.ok ? { ...r, setId } : r;
      },
      // A queue of several shards: sources created with the policy are beside its shard 0; those
      // bound later are remote, on any set (its shard 0's too).
      async (route) => {
        const setId = route.shards[0]!;
        const r = await this.serviceOf(setId).listDeadLetterSourceQueues(ctx, deadLetterQueueName, searchWord, 0, n);
        return r.ok ? { ...r, setId } : r;
      },
    );
    if (isError(home)) return home;
    const others = await this.lists.remoteSources(ctx, deadLetterQueueName, searchWord);
    if (isError(others)) return others;
    const all = this.lists.onceEach([...home.queueList.map((q) => ({ name: q.queueName, item: q, setId: home.setId })), ...others]);
    return { ok: true, totalCount: all.length, queueList: all.slice(offset, offset + limit).map((x) => x.item) };
  }

  listMoveTasks(ctx: RequestContext, sourceQueue: string): Promise<ServiceResult<{ tasks: MoveTaskView[] }>> {
    return this.routed('queue', sourceQueue, (s) => s.listMoveTasks(ctx, sourceQueue), 'message move tasks');
  }

  getTopicAttributes(ctx: RequestContext, topicName: string): Promise<ServiceResult<{ attributes: TopicAttributes }>> {
    return this.routed('topic', topicName, (s) => s.getTopicAttributes(ctx, topicName));
  }

  listSubscriptions(ctx: RequestContext, topicName: string, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<SubscriptionList>> {
    return this.routed('topic', topicName, (s) => s.listSubscriptions(ctx, topicName, searchWord, offset, limit));
  }

  getSubscriptionAttributes(ctx: RequestContext, topicName: string, subscriptionName: string): Promise<ServiceResult<{ attributes: SubscriptionAttributes }>> {
    return this.routed('topic', topicName, (s) => s.getSubscriptionAttributes(ctx, topicName, subscriptionName));
  }

  listQueues(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<QueueList>> {
    return this.lists.queues(ctx, searchWord, offset, limit);
  }

  listTopics(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<TopicList>> {
    return this.lists.topics(ctx, searchWord, offset, limit);
  }

  // ---------------------------------------------------------------------------------------------
  // Moving a queue to another set (node/queue-move.ts)

  /**
   * A message of a queue being moved, sent on from the source's outbox (outbox.ts,
   * isQueueMoveSend): by a cached route only when it knows of the move, else by the controller's
   * route read now. Routed by a route from before the move, it would go back into the source.
   */
  private async sendMovedOut(ctx: RequestContext, command: Extract<Command, { kind: 'sendMessages' }>): Promise<CommandResult> {
    const name = command.queueName;
    let route = this.cache.get('queue', name);
    // A cached move of another shard (an earlier move of this queue) is not this one.
    if (route?.move === undefined || route.move.from !== this.opts.ownSetId) {
      const fresh = await this.askRoute('queue', name);
      if (isError(fresh)) return fresh;
      route = fresh.route;
    }
    if (route === undefined) return fail('notApplied', undefined, `the route of queue ${name} was forgotten; retry`);
    // These sends leave this set's copy of the queue. A route that sends them here (a cached one of
    // an earlier move into this set, or a controller answer from before this move began) would put
    // the message back into the queue it leaves, where it is moved again under a new deduplication
    // key: a copy that already reached the target would then be stored there twice.
    const to = route.move !== undefined ? route.move.to : route.shards[0];
    if (to === this.opts.ownSetId) {
      this.cache.drop('queue', name);
      return fail('notApplied', undefined, `the route of queue ${name} does not show its move away from set ${to} yet; retry`);
    }
    // Straight to the target: spread over the shards by its deduplication id, it would land on
    // another shard than the one moving (or on the source again).
    if (route.move !== undefined) return this.serviceOf(route.move.to).submit(ctx, command);
    return this.runOn(
      { setId: route.shards[0]!, route },
      (s) => s.submit(ctx, command),
      (r) => this.sharded.submit(ctx, r, command),
    );
  }

  /** Drops the cached route of a queue: its next use reads it from the controller. */
  forgetRoute(name: string): void {
    this.cache.drop('queue', name);
  }

  /** Starts moving a queue, or one shard of a queue of several, to another set (node/queue-move-start.ts). */
  moveQueue(ctx: RequestContext, name: string, toSet: number, fromSet?: number): Promise<ServiceResult<{ move: QueueMoveView }>> {
    return startQueueMove(
      {
        controller: this.opts.controller,
        serviceOf: (id) => this.serviceOf(id),
        log: this.log,
        sawRoute: (entity, routeEpoch) => {
          this.freshness.saw(routeEpoch);
          this.cache.setEntity(entity, routeEpoch);
        },
      },
      ctx,
      name,
      toSet,
      fromSet,
    );
  }

  // ---------------------------------------------------------------------------------------------
  // This node's own set

  clusterStatus(ctx: RequestContext): Promise<ServiceResult<{ status: ClusterStatusView }>> {
    return this.opts.own.clusterStatus(ctx);
  }

  transferLeader(ctx: RequestContext, nodeId: string): Promise<ServiceResult<{ from: string; to: string }>> {
    return this.opts.own.transferLeader(ctx, nodeId);
  }

  changeMembership(ctx: RequestContext, change: MembershipChange): Promise<ServiceResult<{ voters: string[] }>> {
    return this.opts.own.changeMembership(ctx, change);
  }
}
