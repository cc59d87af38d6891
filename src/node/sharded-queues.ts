// The data path of a queue spread over several sets (shards), for the access layer
// (node/cluster-service.ts): creating it on every shard's set, growing it live, spreading sends,
// gathering receives, sending each receipt handle to the set that issued it, adding up attributes,
// and applying settings, rewinds, purges, tags and deletes on every shard. The pure rules are in
// ./shards.ts; every call to a set goes through the injected `serviceOf`.
//
// Ordering: none across shards. Each shard is an ordinary queue on its set and keeps that queue's
// order; a send goes whole to one shard; a receive may return messages of several shards, each
// shard's in its own order.

import type { Command, CommandResult, DeleteFailure, QueueAttributes } from '../broker/commands';
import type { ControllerCommand, ControllerResult } from '../controller/commands';
import { setsOf, type EntityRecord } from '../controller/model';
import { errorKind, fail, KIND_APPLIED, type ErrorResult } from '../protocol/errors';
import type { Logger } from '../protocol/log';
import type { DeliveredMessage, QueueService, ReceiveOptions, ReceiveOutcome, ServiceResult } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import { shardCount, type CachedRoute, type RouteCache } from './route-cache';
import { groupOfId, mergeAttributes, receiveStart, reassembleFailures, sendShard, shardCreateAttrs, shardedAttrsRefusal, splitByShard, unboundPolicyRefusal } from './shards';

/** While a receive waits, each shard in turn is waited on this long before the next is asked. */
export const POLL_SLICE_SECONDS = 1;

export interface ShardedQueuesOptions {
  serviceOf(setId: number): QueueService;
  controller: {
    submit(command: ControllerCommand): Promise<ControllerResult>;
    read(query: { kind: 'getRoute'; type: 'queue'; name: string } | { kind: 'listSets' }): Promise<ControllerResult>;
  };
  cache: RouteCache;
  log: Logger;
  /** Every routeEpoch a controller answer carries (node/route-freshness.ts). */
  sawEpoch?: (epoch: number) => void;
  pollSliceSeconds?: number;
}

type Of<K extends Command['kind']> = Extract<Command, { kind: K }>;

function isError(r: object): r is ErrorResult {
  return (r as { ok?: unknown }).ok === false;
}

function detailOf(e: ErrorResult): string {
  return `${e.error}${e.detail !== undefined ? ` ${e.detail}` : ''}`;
}

/** The answer of something done on several shards of which some failed and some did not. */
function partly(done: number, of: number, what: string, failed: { shard: number; set: number; error: ErrorResult }[]): ErrorResult {
  const which = failed.map((f) => `shard ${f.shard} on set ${f.set}: ${detailOf(f.error)}`).join('; ');
  return fail('outcomeUnknown', undefined, `${what} was applied on ${done} of ${of} shards (${which}); retrying completes it`);
}

/**
 * The source of a move that answers the queue does not exist: it was emptied and deleted, the
 * last step of the move before its route names the target alone. Nothing is lost there (it was
 * deleted only once it held nothing): it counts as an empty shard.
 */
function sourceGone(route: CachedRoute, set: number, r: object): boolean {
  return route.move !== undefined && set === route.move.from && isError(r) && r.error === 'queueNotExist';
}

/**
 * The target of a move that answers the queue does not exist: the controller recorded the move
 * before the queue was made there (moveQueue, then the mover, create it at once after). Until then
 * the source holds the queue whole, so the target counts as an empty shard for sends and reads;
 * "the queue does not exist" would be false. (Both ends missing is a stale route, answered as such.)
 */
function targetPending(route: CachedRoute, set: number, r: object): boolean {
  return route.move !== undefined && set === route.move.to && isError(r) && r.error === 'queueNotExist';
}

/** An end of a move that holds no copy of the queue now: an empty shard, not a stale route. */
function moveEndAbsent(route: CachedRoute, set: number, r: object): boolean {
  return sourceGone(route, set, r) || targetPending(route, set, r);
}

/** The error of a call every shard failed: a stale route's sign first (queueNotExist), then one that may have applied. */
function allFailed(errors: readonly ErrorResult[]): ErrorResult {
  return errors.find((e) => e.error === 'queueNotExist') ?? errors.find((e) => e.error === 'outcomeUnknown' || e.error === 'internalError') ?? errors[0]!;
}

export class ShardedQueues {
  /** Raft group number -> set id, from listSets (a set's group never changes). */
  private readonly setOfGroup = new Map<number, number>();
  private readonly slice: number;

  constructor(private readonly opts: ShardedQueuesOptions) {
    this.slice = opts.pollSliceSeconds ?? POLL_SLICE_SECONDS;
  }

  private svc(setId: number): QueueService {
    return this.opts.serviceOf(setId);
  }

  /** The queue's record as the controller has it now (with a growth under way), cached as its route. */
  private async record(name: string): Promise<EntityRecord | ErrorResult> {
    const r = await this.opts.controller.read({ kind: 'getRoute', type: 'queue', name });
    if (!r.ok) return r.error === 'queueNotExist' ? r : fail('notApplied', undefined, `the route of queue ${name} could not be read from the controller (${detailOf(r)}); retry`);
    if (r.kind !== 'entity') return fail('notApplied', undefined, `the controller answered getRoute of queue ${name} with ${r.kind}; retry`);
    this.opts.sawEpoch?.(r.routeEpoch);
    this.opts.cache.setEntity(r.entity, r.routeEpoch);
    return r.entity;
  }

  private async controllerSubmit(command: ControllerCommand): Promise<ControllerResult> {
    const r = await this.opts.controller.submit(command);
    if (r.ok) this.opts.sawEpoch?.(r.routeEpoch);
    return r;
  }

  // ---------------------------------------------------------------------------------------------
  // Create and grow

  /**
   * CreateQueue with `shards` > 1: the controller places the shards on as many sets, then every
   * shard's set creates the queue. A set that fails leaves the route in place and the create
   * answers its error: a retry completes the shards still missing (those that exist answer
   * queueExists, taken as done). A set that refuses the queue for good (a limit, a bad setting)
   * undoes the create: the shards made are deleted and the route removed. A dead-letter policy
   * comes checked and bound `remote` by the access layer (ClusterQueueService).
   */
  async create(ctx: RequestContext, command: Of<'createQueue'>, shards: number): Promise<CommandResult> {
    const name = command.queueName;
    const refused = shardedAttrsRefusal(command.attrs) ?? unboundPolicyRefusal(command.attrs.deadLetterPolicy);
    if (refused) return refused;
    const placed = await this.controllerSubmit({ kind: 'createEntity', type: 'queue', name, shards });
    let entity: EntityRecord;
    let placedNow = false;
    if (placed.ok) {
      if (placed.kind !== 'entity') return fail('notApplied', undefined, `the controller answered createEntity with ${placed.kind}; retry`);
      entity = placed.entity;
      placedNow = true;
      this.opts.cache.set('queue', name, entity.shards, entity.version, placed.routeEpoch);
    } else if (placed.error === 'queueExists') {
      const r = await this.record(name);
      // Taken under another spelling, or deleted meanwhile: as a set would say.
      if (isError(r)) return r.error === 'queueNotExist' ? fail('queueExists') : r;
      if (r.shards.length !== shards) return fail('queueExists', undefined, `(it has ${r.shards.length} shard${r.shards.length === 1 ? '' : 's'})`);
      entity = r;
    } else if (placed.error === 'outcomeUnknown') {
      return fail('notApplied', undefined, `placing queue ${name} at the controller: ${placed.detail ?? 'outcome unknown'}; nothing was created, retry`);
    } else {
      return placed;
    }
    const plain: Command = { kind: 'createQueue', queueName: name, attrs: command.attrs };
    const answers = await Promise.all(entity.shards.map((set) => this.svc(set).submit(ctx, plain)));
    const failed: { shard: number; set: number; error: ErrorResult }[] = [];
    answers.forEach((a, shard) => {
      if (isError(a) && a.error !== 'queueExists') failed.push({ shard, set: entity.shards[shard]!, error: a });
    });
    if (failed.length === 0) {
      if (answers.every((a) => isError(a))) return fail('queueExists');
      const first = answers[0]!;
      if (first.ok && first.kind === 'createQueue') return first;
      const a0 = await this.svc(entity.shards[0]!).getQueueAttributes(ctx, name);
      return a0.ok ? { ok: true, kind: 'createQueue', queueId: a0.attributes.queueId } : a0;
    }
    // Refused for good: nothing applied and the same create would fail again (as the access layer judges a one-shard create).
    const forGood = failed.every((f) => KIND_APPLIED[errorKind(f.error.error)] === 'nothing' && f.error.error !== 'notApplied' && f.error.error !== 'throttled');
    const first = failed[0]!;
    if (placedNow && forGood) {
      await Promise.all(
        answers.map(async (a, shard) => {
          if (a.ok) await this.svc(entity.shards[shard]!).submit(ctx, { kind: 'deleteQueue', queueName: name });
        }),
      );
      await this.unroute(name, `shard ${first.shard} on set ${first.set} refused the create (${first.error.error})`);
      return first.error;
    }
    const made = answers.length - failed.length;
    return { ...first.error, detail: `${first.error.detail !== undefined ? `${first.error.detail} ` : ''}(shard ${first.shard} on set ${first.set}; ${made} of ${answers.length} shards exist: retry to complete the create)` };
  }

  /**
   * SetQueueAttributes with `shards`: fewer than now is refused; more grows the queue (see grow);
   * the other attributes of the request, if any, are then set on every shard by `rest`.
   */
  async setShards(ctx: RequestContext, command: Of<'setQueueAttributes'>, shards: number, rest: (plain: Of<'setQueueAttributes'>) => Promise<CommandResult>): Promise<CommandResult> {
    const name = command.queueName;
    const plain: Of<'setQueueAttributes'> = { kind: 'setQueueAttributes', queueName: name, attrs: command.attrs };
    const rec = await this.record(name);
    if (isError(rec)) return rec;
    const now = rec.shards.length;
    if (shards < now) return fail('paramOutOfRange', 'shards', `(the queue has ${now} shards; a queue's shards can only grow)`);
    if (shards > now) {
      const grown = await this.grow(ctx, rec, shards);
      if (isError(grown)) return grown;
    }
    if (Object.keys(command.attrs).length > 0) return rest(plain);
    const route = this.opts.cache.get('queue', name);
    if (route === undefined) return fail('notApplied', undefined, `the route of queue ${name} was forgotten; retry`);
    const a = await this.attributes(ctx, name, route);
    return a.ok ? { ok: true, kind: 'setQueueAttributes', attributes: a.attributes } : a;
  }

  /**
   * Grow to `shards`: the controller records the new shards as pending on sets without one, each
   * pending shard's set creates the queue with shard 0's settings (its dead-letter policy bound
   * `remote`: shardCreateAttrs) and the shard is confirmed; the
   * last confirmation grows the route. Until then the queue keeps working on its old shards. A
   * retry after a failure completes the growth (shards already made answer queueExists).
   */
  private async grow(ctx: RequestContext, rec: EntityRecord, shards: number): Promise<CachedRoute | ErrorResult> {
    const name = rec.name;
    // Refused, not queued behind the move: the controller keeps one route change per queue, and a
    // growth placed while a shard moves could pick the move's target (the controller refuses
    // that set) or leave the operator unsure which of the two ran. Grow once the move is done.
    const moving = rec.change?.type === 'move' ? rec.change : undefined;
    if (moving !== undefined) return fail('routeChangeRunning', undefined, `(shard ${moving.shard} is moving from set ${moving.from} to set ${moving.to}; grow the queue once the move is done)`);
    const a0 = await this.svc(rec.shards[0]!).getQueueAttributes(ctx, name);
    if (!a0.ok) return a0;
    let e = rec;
    if (e.change === undefined) {
      const refused = shardedAttrsRefusal(a0.attributes);
      if (refused) return refused;
      const r = await this.controllerSubmit({ kind: 'growShards', name, shards });
      if (!r.ok) return r.error === 'outcomeUnknown' ? fail('notApplied', undefined, `growing queue ${name} at the controller: ${r.detail ?? 'outcome unknown'}; retry`) : r;
      if (r.kind !== 'entity') return fail('notApplied', undefined, `the controller answered growShards with ${r.kind}; retry`);
      e = r.entity;
    }
    const change = e.change;
    if (change?.type !== 'grow' || e.shards.length + change.pending.length !== shards) {
      const under = change?.type === 'grow' ? `a growth to ${e.shards.length + change.pending.length} shards` : 'a move';
      return fail('routeChangeRunning', undefined, `(${under} is under way)`);
    }
    const attrs = shardCreateAttrs(a0.attributes);
    let last: EntityRecord | undefined;
    let lastEpoch = 0;
    const failed: { shard: number; set: number; error: ErrorResult }[] = [];
    await Promise.all(
      change.pending.map(async (p) => {
        if (!p.confirmed) {
          const made = await this.svc(p.set).submit(ctx, { kind: 'createQueue', queueName: name, attrs });
          if (isError(made) && made.error !== 'queueExists') {
            failed.push({ shard: p.shard, set: p.set, error: made });
            return;
          }
        }
        const c = await this.controllerSubmit({ kind: 'confirmShard', name, shard: p.shard });
        if (!c.ok || c.kind !== 'entity') {
          failed.push({ shard: p.shard, set: p.set, error: c.ok ? fail('notApplied', undefined, `confirmShard answered ${c.kind}`) : c });
          return;
        }
        if (last === undefined || c.entity.shards.length > last.shards.length || c.routeEpoch > lastEpoch) {
          last = c.entity;
          lastEpoch = c.routeEpoch;
        }
      }),
    );
    if (failed.length > 0) {
      const f = failed.sort((a, b) => a.shard - b.shard)[0]!;
      return { ...f.error, detail: `${f.error.detail !== undefined ? `${f.error.detail} ` : ''}(new shard ${f.shard} on set ${f.set}; the queue keeps its ${e.shards.length} shards until a retry completes the growth)` };
    }
    const done: EntityRecord | undefined = last;
    if (done === undefined || done.change !== undefined) {
      // Confirmed by someone else meanwhile, or still pending: as the controller has it now.
      const r = await this.record(name);
      if (isError(r)) return r;
      return this.opts.cache.get('queue', name) ?? fail('notApplied', undefined, `the route of queue ${name} was forgotten; retry`);
    }
    this.log(`queue ${name} grew to ${done.shards.length} shards`, name);
    return this.opts.cache.set('queue', name, done.shards, done.version, lastEpoch);
  }

  private log(msg: string, name: string): void {
    this.opts.log.info(msg, { queue: name });
  }

  // ---------------------------------------------------------------------------------------------
  // The data path

  /** A write naming a queue of several shards. */
  submit(ctx: RequestContext, route: CachedRoute, command: Command): Promise<CommandResult> {
    switch (command.kind) {
      case 'sendMessages':
        return this.send(ctx, route, command);
      case 'receiveMessages':
        return this.receiveCommand(ctx, route, command);
      case 'deleteMessages':
        return this.byHandle(ctx, route, command.queueName, command.receiptHandles, (h) => h, (receiptHandles) => ({ ...command, receiptHandles }), 'deleteMessages');
      case 'changeVisibility':
        return this.byHandle(ctx, route, command.queueName, command.entries, (e) => e.receiptHandle, (entries) => ({ ...command, entries }), 'changeVisibility');
      case 'setQueueAttributes': {
        const refused = shardedAttrsRefusal(command.attrs) ?? unboundPolicyRefusal(command.attrs.deadLetterPolicy);
        if (refused) return Promise.resolve(refused);
        return this.everyShard(ctx, route, command);
      }
      case 'rewindQueue':
      case 'purgeQueue':
      case 'tagQueue':
      case 'untagQueue':
      case 'unbindDeadLetter':
        return this.everyShard(ctx, route, command);
      // Whole-queue commands the access layer sends elsewhere (create, delete), and what a sharded
      // queue does not support (message moves from it): refused, never run on one shard alone.
      case 'createQueue':
      case 'deleteQueue':
      case 'moveMessages':
      case 'startMoveTask':
      case 'cancelMoveTask':
      case 'quarantineMessage':
      case 'tick':
      case 'relocateBodies':
      case 'createTopic':
      case 'setTopicAttributes':
      case 'deleteTopic':
      case 'subscribe':
      case 'unsubscribe':
      case 'setSubscriptionAttributes':
      case 'clearSubscriptionFilterTags':
      case 'publishMessages':
      case 'pushSucceeded':
      case 'pushFailed':
      case 'deadLetterSent':
      case 'deadLetterFailed':
        return Promise.resolve(fail('shardedUnsupported', command.kind));
    }
  }

  /**
   * A send goes whole to one shard (sendShard). Without a deduplication id, a shard whose set
   * applied nothing (unreachable, or the shard not created yet) passes it to the next shard; with
   * one it stays on its shard, where a retry must find it.
   */
  private async send(ctx: RequestContext, route: CachedRoute, command: Of<'sendMessages'>): Promise<CommandResult> {
    const k = route.shards.length;
    const key = command.options?.[0]?.dedupId;
    const first = sendShard(route, key);
    // The source of a moving shard is being emptied: sendShard gives its turn to the target, and
    // it is tried last, only when no other set could take the send (the mover moves it on).
    const inTurn = Array.from({ length: k }, (_, i) => route.shards[(first + i) % k]!);
    const from = route.move?.from;
    const sets = from === undefined ? inTurn : [...inTurn.filter((set) => set !== from), from];
    const tries = key === undefined ? sets.length : 1;
    let answer: CommandResult = fail('notApplied');
    for (let i = 0; i < tries; i++) {
      const set = sets[i]!;
      let r = await this.svc(set).submit(ctx, command);
      // A target not made yet: the source still holds that shard whole, and takes the send in its
      // place (with a deduplication id too: it stays on its shard). Both ends without the queue is a
      // stale route, answered as such.
      if (from !== undefined && targetPending(route, set, r)) {
        r = await this.svc(from).submit(ctx, command);
        if (sourceGone(route, from, r)) return r;
      }
      // A move's emptied source takes nothing: the target's answer (notApplied: retry) stands.
      if (sourceGone(route, set, r)) continue;
      answer = r;
      if (answer.ok || (answer.error !== 'notApplied' && answer.error !== 'queueNotExist')) return answer;
    }
    return answer;
  }

  /**
   * A receive asks the shards in turn (starting one further each time) without waiting, for what
   * is still missing of numOfMsg. Nothing anywhere and time to wait: one shard at a time is waited
   * on for a short slice, in turn, until a message comes or the wait is over. Every message a
   * shard hands out is returned: none is taken that the answer does not carry.
   */
  async receive(ctx: RequestContext, name: string, route: CachedRoute, numOfMsg: number, waitSeconds: number | undefined, options?: ReceiveOptions): Promise<ReceiveOutcome> {
    const k = route.shards.length;
    const start = receiveStart(route, options?.attemptId);
    const order = Array.from({ length: k }, (_, i) => route.shards[(start + i) % k]!);
    const got: DeliveredMessage[] = [];
    const errors: ErrorResult[] = [];
    let asked = k;
    for (const set of order) {
      const r = await this.svc(set).receive(ctx, name, numOfMsg - got.length, 0, options);
      if (moveEndAbsent(route, set, r)) {
        asked--;
        continue;
      }
      if (!r.ok) {
        errors.push(r);
        continue;
      }
      got.push(...r.messages);
      if (got.length >= numOfMsg) break;
    }
    if (got.length > 0) return { ok: true, messages: got };
    if ((errors.length === asked && errors.length > 0) || errors.some((e) => e.error === 'queueNotExist')) return allFailed(errors);
    let wait = waitSeconds ?? (await this.pollingWaitSeconds(ctx, name, route));
    for (let i = 0; wait > 0; i++) {
      const set = order[i % k]!;
      // The emptied source of a move is not waited on (it is gone: what comes now goes to the target).
      if (route.move !== undefined && set === route.move.from && asked < k) continue;
      const slice = Math.min(this.slice, wait);
      wait -= slice;
      const r = await this.svc(set).receive(ctx, name, numOfMsg, slice, options);
      if (sourceGone(route, set, r)) {
        asked--; // deleted during the wait: the target alone from now on
        continue;
      }
      if (targetPending(route, set, r)) continue; // made there any moment: asked again in its turn
      if (!r.ok) {
        if (r.error === 'queueNotExist') return r;
        continue;
      }
      if (r.messages.length > 0) return r;
    }
    return { ok: true, messages: [] };
  }

  /** The queue's own long-poll wait (shard 0's setting, as every shard has it); 0 if it cannot be read. */
  private async pollingWaitSeconds(ctx: RequestContext, name: string, route: CachedRoute): Promise<number> {
    // A moving queue's target: its source may be gone.
    const a = await this.svc(route.move?.to ?? route.shards[0]!).getQueueAttributes(ctx, name);
    return a.ok ? a.attributes.pollingWaitSeconds : 0;
  }

  /** receiveMessages as a command (no wait): the shards in turn, as receive's first pass. */
  private async receiveCommand(ctx: RequestContext, route: CachedRoute, command: Of<'receiveMessages'>): Promise<CommandResult> {
    const k = route.shards.length;
    const start = receiveStart(route, command.attemptId);
    const messages: Extract<CommandResult, { kind: 'receiveMessages' }>['messages'] = [];
    const errors: ErrorResult[] = [];
    let asked = k;
    for (let i = 0; i < k && messages.length < command.numOfMsg; i++) {
      const set = route.shards[(start + i) % k]!;
      const r = await this.svc(set).submit(ctx, { ...command, numOfMsg: command.numOfMsg - messages.length });
      if (moveEndAbsent(route, set, r)) asked--;
      else if (!r.ok) errors.push(r);
      else if (r.kind === 'receiveMessages') messages.push(...r.messages);
    }
    if (messages.length === 0 && errors.length > 0 && errors.length === asked) return allFailed(errors);
    return { ok: true, kind: 'receiveMessages', messages };
  }

  /** The set of a Raft group, from listSets (read again when a group is not known yet). */
  private async shardOfGroups(groups: readonly number[], route: CachedRoute): Promise<(group: number) => number | undefined> {
    if (groups.some((g) => !this.setOfGroup.has(g))) {
      const r = await this.opts.controller.read({ kind: 'listSets' });
      if (r.ok && r.kind === 'sets') {
        this.opts.sawEpoch?.(r.routeEpoch);
        for (const s of r.sets) this.setOfGroup.set(s.group, s.id);
      }
    }
    return (group) => {
      const set = this.setOfGroup.get(group);
      if (set === undefined) return undefined;
      const shard = route.shards.indexOf(set);
      return shard < 0 ? undefined : shard;
    };
  }

  /**
   * DeleteMessage, ChangeVisibility and their batches: each receipt handle goes to the set whose
   * group issued it, a batch split by shard and the failures put back in the request's order. A
   * handle no shard of the route issued is answered as a set answers a handle it never issued
   * (after reading the route again once: it may be from a shard this node does not know yet).
   */
  private async byHandle<E, K extends 'deleteMessages' | 'changeVisibility'>(
    ctx: RequestContext,
    cached: CachedRoute,
    name: string,
    entries: readonly E[],
    handleOf: (e: E) => string,
    build: (entries: E[]) => Command,
    kind: K,
  ): Promise<CommandResult> {
    const groups = [...new Set(entries.map((e) => groupOfId(handleOf(e))).filter((g): g is number => g !== undefined))];
    let route = cached;
    let split = splitByShard(entries, handleOf, await this.shardOfGroups(groups, route));
    if (split.foreign.length > 0) {
      const r = await this.record(name);
      const fresh = isError(r) ? undefined : this.opts.cache.get('queue', name);
      if (fresh !== undefined && fresh.version !== route.version) {
        route = fresh;
        split = splitByShard(entries, handleOf, await this.shardOfGroups(groups, route));
      }
    }
    const answers = await Promise.all(split.parts.map((p) => this.svc(route.shards[p.shard]!).submit(ctx, build(p.entries))));
    const failed: { shard: number; set: number; error: ErrorResult }[] = [];
    const done: { indexes: number[]; failures: DeleteFailure[] }[] = [];
    answers.forEach((a, i) => {
      const p = split.parts[i]!;
      if (sourceGone(route, route.shards[p.shard]!, a)) {
        // The emptied source of a move held no message in flight when it was deleted: none of its
        // handles can be current, as its set would have said of each one.
        done.push({ indexes: p.indexes, failures: p.entries.map((e, index) => ({ index, receiptHandle: handleOf(e), error: 'receiptHandleInvalid', malformed: false })) });
      } else if (!a.ok) failed.push({ shard: p.shard, set: route.shards[p.shard]!, error: a });
      else if (a.kind === kind && 'failures' in a) done.push({ indexes: p.indexes, failures: a.failures });
      else failed.push({ shard: p.shard, set: route.shards[p.shard]!, error: fail('internalError', undefined, `(result kind ${a.kind} for ${kind})`) });
    });
    if (failed.length > 0) return done.length === 0 ? allFailed(failed.map((f) => f.error)) : partly(done.length, split.parts.length, kind, failed);
    const failures = reassembleFailures(done, split.foreign, (index) => handleOf(entries[index]!));
    return { ok: true, kind, failures };
  }

  /** A change of the whole queue: on every shard; its answer as one queue's. */
  private async everyShard(ctx: RequestContext, route: CachedRoute, command: Command & { queueName: string }): Promise<CommandResult> {
    const all = await Promise.all(route.shards.map(async (set) => ({ set, a: await this.svc(set).submit(ctx, command) })));
    // The emptied source of a move is no shard any more (see sourceGone).
    const answers = all.filter((x) => !sourceGone(route, x.set, x.a)).map((x) => x.a);
    const failed: { shard: number; set: number; error: ErrorResult }[] = [];
    answers.forEach((a, shard) => {
      if (isError(a)) failed.push({ shard, set: route.shards[shard]!, error: a });
    });
    if (answers.length === 0) return fail('queueNotExist');
    if (failed.length === answers.length) return allFailed(failed.map((f) => f.error));
    if (failed.length > 0) return partly(answers.length - failed.length, answers.length, command.kind, failed);
    const first = answers[0]!;
    if (command.kind === 'setQueueAttributes') {
      const attributes = answers.map((a) => (a.ok && a.kind === 'setQueueAttributes' ? a.attributes : undefined));
      if (attributes.some((a) => a === undefined)) return fail('internalError', undefined, '(a shard answered setQueueAttributes with another kind)');
      return { ok: true, kind: 'setQueueAttributes', attributes: mergeAttributes(attributes as QueueAttributes[]) };
    }
    if (command.kind === 'purgeQueue') {
      const purged = answers.reduce((n, a) => n + (a.ok && a.kind === 'purgeQueue' ? a.purged : 0), 0);
      return { ok: true, kind: 'purgeQueue', purged };
    }
    return first;
  }

  /** GetQueueAttributes: every shard's, added up (mergeAttributes); a shard that cannot answer fails it (a partial sum would look whole). */
  async attributes(ctx: RequestContext, name: string, route: CachedRoute): Promise<ServiceResult<{ attributes: QueueAttributes }>> {
    const answers = await Promise.all(route.shards.map((set) => this.svc(set).getQueueAttributes(ctx, name)));
    const all: QueueAttributes[] = [];
    for (let shard = 0; shard < answers.length; shard++) {
      const a = answers[shard]!;
      if (moveEndAbsent(route, route.shards[shard]!, a)) continue;
      if (!a.ok) {
        if (a.error === 'queueNotExist') return a;
        return fail('notApplied', undefined, `shard ${shard} of queue ${name} (set ${route.shards[shard]}) could not answer (${detailOf(a)}); retry`);
      }
      all.push(a.attributes);
    }
    if (all.length === 0) return fail('queueNotExist');
    if (route.move !== undefined) {
      // A shard on its way to another set: the source and the target both count; the settings are
      // the target's (the source may be gone, and the target is a shard like the others), and the
      // queue has as many shards as before (a one-shard queue says none, as it did before its move).
      const merged = mergeAttributes([all[all.length - 1]!, ...all.slice(0, -1)]);
      const k = shardCount(route);
      if (k === 1) delete merged.shards;
      else merged.shards = k;
      return { ok: true, attributes: merged };
    }
    return { ok: true, attributes: mergeAttributes(all) };
  }

  /**
   * DeleteQueue: on every shard (and every shard of a growth under way, which is abandoned), then
   * the route. A shard already gone counts as deleted, so a retry after a partial failure
   * completes it; a shard that fails leaves the route, and the answer says so.
   */
  async delete(ctx: RequestContext, name: string, cached: CachedRoute): Promise<CommandResult> {
    const rec = await this.record(name);
    if (isError(rec) && rec.error === 'queueNotExist') return rec;
    const sets = isError(rec) ? [...cached.shards] : setsOf(rec);
    const answers = await Promise.all(sets.map((set) => this.svc(set).submit(ctx, { kind: 'deleteQueue', queueName: name })));
    const failed: { shard: number; set: number; error: ErrorResult }[] = [];
    let deleted = 0;
    answers.forEach((a, shard) => {
      if (a.ok) deleted++;
      else if (a.error !== 'queueNotExist') failed.push({ shard, set: sets[shard]!, error: a });
    });
    if (failed.length > 0) return deleted === 0 && failed.length === answers.length ? allFailed(failed.map((f) => f.error)) : partly(answers.length - failed.length, answers.length, 'deleteQueue', failed);
    // A growth or a move under way is abandoned with the queue (a move's mover then finds nothing to do).
    if (!isError(rec) && rec.change !== undefined) await this.controllerSubmit({ kind: 'abortMove', type: 'queue', name });
    await this.unroute(name, deleted > 0 ? 'deleted' : 'no shard holds it');
    return deleted > 0 ? { ok: true, kind: 'deleteQueue' } : fail('queueNotExist');
  }

  /**
   * A queue of one shard was deleted while a growth to more was pending: the queues made on the
   * pending shards' sets are deleted, the growth abandoned and the route removed. false: the route
   * could not be removed (the caller says so).
   */
  async dropGrowth(ctx: RequestContext, name: string): Promise<boolean> {
    const rec = await this.record(name);
    this.opts.cache.drop('queue', name);
    if (isError(rec) || rec.change?.type !== 'grow') return false;
    await Promise.all(rec.change.pending.map((p) => this.svc(p.set).submit(ctx, { kind: 'deleteQueue', queueName: name })));
    const aborted = await this.controllerSubmit({ kind: 'abortMove', type: 'queue', name });
    if (!aborted.ok) return false;
    const r = await this.controllerSubmit({ kind: 'deleteEntity', type: 'queue', name });
    return r.ok || r.error === 'queueNotExist';
  }

  private async unroute(name: string, why: string): Promise<void> {
    this.opts.cache.drop('queue', name);
    const r = await this.controllerSubmit({ kind: 'deleteEntity', type: 'queue', name });
    if (!r.ok && r.error !== 'queueNotExist') {
      this.opts.log.warn(`the route of sharded queue ${name} (${why}) could not be removed at the controller: ${detailOf(r)}; the next create of the name repairs it`, { queue: name });
    }
  }
}
