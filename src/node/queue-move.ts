// Moving a queue, or one shard of a queue of several, to another set while producers and
// consumers keep running (drain, no freeze). A shard is the queue of that name on its set, so a
// shard moves exactly as a one-shard queue does; the other shards go on serving meanwhile. The controller's route change is the replicated state of a move: beginMove records it
// (phase copying), advanceMove (cutover) and completeMove (the route names the target) end it.
// While it runs, the access layer (node/cluster-service.ts, node/sharded-queues.ts) serves the
// queue from both sets: new messages go to the target, receives gather from both, every receipt
// handle goes to the set that issued it (so handles of the source keep working).
//
// The mover, here, runs on the source set's leader. Every round it asks the controller for the
// moves leaving its set and, for each one:
//   1. makes sure the queue exists on the target (with the source's settings and dead-letter
//      policy: bound locally when its dead-letter queue is on the target, else `remote`, its dead
//      letters then leaving through the target's outbox; createMoveTarget);
//   1b. then makes sure nothing on the source set hands messages to the source copy directly
//      (prepareSource): a queue of this set whose dead-letter queue is the moving one is bound
//      again `remote`, and a topic of this set subscribed to it is made `remoteQueue`; their dead
//      letters and publishes then go by name through the access layer, which routes them to the
//      target. What they handed over before is moved with the rest. Done once per leadership and
//      again before every delete; the delete itself refuses while either is left (dlqDeleteInUse,
//      queueNotEmpty), judged in its log entry, so one bound or subscribed meanwhile is caught;
//   2. moves the source's visible messages into the source's outbox, addressed to the same queue
//      name (moveMessages with remoteDestination): the leader's outbox sends them through the
//      access layer, which now routes them to the target, with a stable deduplication id, and
//      settles them through the log (broker/dead-letter-outbox.ts, node/push-delivery.ts);
//   3. leaves messages in flight alone: their consumer deletes them (the handle goes to the
//      source) or they become visible again and are moved then; delayed ones are moved once due.
//      So no message is delivered twice within one visibility period;
//   4. once the source holds nothing visible, in flight or delayed, moves its messages kept for
//      rewind (deleted, within rewindSeconds) the same way, still kept (moveMessages `kept`): only
//      now, as a message its consumer deletes during the move becomes kept on the source. Those
//      enqueued too long ago for any rewind to reach are dropped instead;
//   5. once the source holds nothing (visible, in flight, delayed, kept for rewind, in its outbox):
//      advanceMove, then deletes the source with deleteQueue `ifEmpty` and `keptToo` (judged in the
//      same log entry: a message a node that did not know of the move yet sent there meanwhile, or
//      one deleted meanwhile and kept, refuses it, and is moved on in the next round), then
//      completeMove.
// During the drain the source keeps its own dead-letter policy: a message it dead-letters goes to
// its dead-letter queue as before (locally, or through its outbox, which the delete waits for). A
// dead-letter queue's messages carry the queue each came from (redrive.ts), so a redrive on the
// target sends them back to their sources through the access layer, wherever those are.
// A moved message keeps its first enqueue time on the target (SendBodyOptions.moveOrigin), so
// retention and RewindQueue by time judge it there as on the source: a rewind on the target to a
// time before the move makes visible again what it would have made visible on the source. It
// keeps its receive count and first receive time too, so a maxReceiveCount dead-letter policy
// counts on across the move instead of starting again.
//
// RewindQueue during a move reaches both sets (the access layer sends whole-queue changes to
// every set of a route with a move). Each message is in one place at a time: in the source's
// store, in its outbox (receivable nowhere), or on the target, so a rewind cannot make one visible
// on both sets. A kept message waiting in the source's outbox is rewound there (sent visible,
// DeadLetterOutbox.rewindKept); one already on the target is rewound there. One whose send is
// under way at that very moment (sent kept before the source's rewind, stored on the target after
// the target's) is missed by both: it stays kept.
// Everything it needs is in replicated state (the controller's move, the source queue and its
// outbox), so a new leader resumes where the old one stopped: each step is safe to repeat.
//
// Known limits: a moved message's msgId is the target's. FIFO queues are not moved (a message
// group keeps its order on one set).

import type { CommandResult, DeadLetterPolicy, QueueAttributes, QueueAttributesInput } from '../broker/commands';
import type { ControllerCommand, ControllerQuery, ControllerResult } from '../controller/commands';
import { CONTROLLER_LIMITS, type EntityRecord, type MoveChange } from '../controller/model';
import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { LogRateLimit, type Logger } from '../protocol/log';
import type { Runtime, TimerHandle } from '../runtime/timers';
import type { QueueService } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import { shardCreateAttrs } from './shards';

/** How often a leading member looks for moves leaving its set, and drives each one a step. */
export const QUEUE_MOVE_ROUND_MS = 500;
/** moveMessages entries proposed per queue per round (each of up to LIMITS.moveBatchMax messages). */
const BATCHES_PER_ROUND = 4;
/** A step failing every round (a set without a leader, an upgrade under way) is logged this often per queue and minute. */
const FAILURE_LOGS_PER_MINUTE = 3;

export interface QueueMoverOptions {
  setId: number;
  /** Whether this node leads its set now. */
  leads: () => boolean;
  controller: { submit(c: ControllerCommand): Promise<ControllerResult>; read(q: ControllerQuery): Promise<ControllerResult> };
  /** This set's service (its state machine, through its leader). */
  own: QueueService;
  /** The service of another set (the target). */
  serviceOf: (setId: number) => QueueService;
  /** Drops this node's cached route of the queue, so its outbox sends see the move at once. */
  forgetRoute: (name: string) => void;
  runtime: Runtime;
  log: Logger;
  ctx: () => RequestContext;
  roundMs?: number;
}

/** Where one move stands after a step, for logs and tests. */
export type MoveStep = 'targetMissing' | 'moving' | 'waiting' | 'notEmpty' | 'completed' | 'failed';

function isError(r: object): r is ErrorResult {
  return (r as { ok?: unknown }).ok === false;
}

function detailOf(e: ErrorResult): string {
  return `${e.error}${e.detail !== undefined ? ` ${e.detail}` : ''}`;
}

/** Messages a queue holds that keep its move from ending (kept-for-rewind ones do not). */
export function heldMessages(a: QueueAttributes): number {
  return a.activeMsgNum + a.inactiveMsgNum + a.delayMsgNum;
}

/** What the controller answers reads with (the mover's and the access layer's ControllerClient). */
type ControllerReads = { read(q: ControllerQuery): Promise<ControllerResult> };

/**
 * Creates the moving queue `name` on set `to` with the source's settings (`src`) and its dead-letter
 * policy: bound locally when the controller routes its dead-letter queue to `to` alone (one shard,
 * no change under way), else `remote` (its dead letters leave through the outbox of the queue's
 * copy there and reach the dead-letter queue by name wherever it is). A local bind the target set
 * refuses because it does not hold the dead-letter queue after all (a route read just before it
 * moved) is made remote. Already there (queueExists) is fine: a retry.
 */
export async function createMoveTarget(controller: ControllerReads, target: QueueService, ctx: RequestContext, name: string, to: number, src: QueueAttributes, sharded = false): Promise<CommandResult> {
  const attrs: QueueAttributesInput = shardCreateAttrs(src);
  const policy = src.deadLetterPolicy;
  // A shard of a queue of several keeps its policy bound `remote` (shardCreateAttrs), as every
  // other shard has it: one path for all shards' dead letters, wherever the dead-letter queue is.
  if (policy === undefined || sharded) return target.submit(ctx, { kind: 'createQueue', queueName: name, attrs });
  const { remote: _was, ...plain } = policy;
  const remote: DeadLetterPolicy = { ...plain, remote: true };
  const r = await controller.read({ kind: 'getRoute', type: 'queue', name: policy.deadLetterQueue });
  const local = r.ok && r.kind === 'entity' && r.entity.shards.length === 1 && r.entity.shards[0] === to && r.entity.change === undefined;
  if (local) {
    const made = await target.submit(ctx, { kind: 'createQueue', queueName: name, attrs: { ...attrs, deadLetterPolicy: plain } });
    if (made.ok || made.error !== 'dlqNotExist') return made;
  }
  return target.submit(ctx, { kind: 'createQueue', queueName: name, attrs: { ...attrs, deadLetterPolicy: remote } });
}

export class QueueMover {
  private timer: TimerHandle | undefined;
  private running = false;
  /** Moves seen this leadership (by lower-case name): the route was dropped once, the target checked. */
  private readonly known = new Set<string>();
  private readonly limit: LogRateLimit;
  /** The routeEpoch of the last listing of every route (NaN: none yet), and the moves it found still under way. */
  private listedEpoch = Number.NaN;
  private moving: string[] = [];

  constructor(private readonly opts: QueueMoverOptions) {
    this.limit = new LogRateLimit(FAILURE_LOGS_PER_MINUTE, 60_000, () => opts.runtime.monotonicMs());
  }

  start(): void {
    this.timer ??= this.opts.runtime.setInterval(() => void this.tick(), this.opts.roundMs ?? QUEUE_MOVE_ROUND_MS);
  }

  stop(): void {
    if (this.timer !== undefined) this.opts.runtime.clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    if (!this.opts.leads()) {
      this.known.clear();
      this.listedEpoch = Number.NaN; // leading again: list everything once
      return;
    }
    this.running = true;
    try {
      await this.round();
    } catch (err) {
      this.opts.log.warn(`queue move round failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.running = false;
    }
  }

  /** One round: every move leaving this set driven one step. */
  async round(): Promise<Map<string, MoveStep>> {
    const out = new Map<string, MoveStep>();
    const moves = await this.movesFromHere();
    if (isError(moves)) return out;
    for (const e of moves) out.set(e.name, await this.step(e, e.change as MoveChange));
    return out;
  }

  /**
   * The moves leaving this set. Every route is listed only when the controller's routeEpoch moved
   * since the last listing (a move begun, advanced or ended moves it; a cluster of 100,000 queues
   * is 100 pages): otherwise one listSets, and each move still under way read again by name.
   */
  private async movesFromHere(): Promise<EntityRecord[] | ErrorResult> {
    const sets = await this.opts.controller.read({ kind: 'listSets' });
    if (!sets.ok) return sets;
    if (sets.routeEpoch !== this.listedEpoch) {
      const all = await this.listMoves();
      if (isError(all)) return all;
      // The epoch read before the listing: a change during it is listed again next round.
      this.listedEpoch = sets.routeEpoch;
      this.moving = all.map((e) => e.name);
      return all;
    }
    const out: EntityRecord[] = [];
    for (const name of this.moving) {
      const r = await this.opts.controller.read({ kind: 'getRoute', type: 'queue', name });
      if (!r.ok && r.error !== 'queueNotExist') return r;
      if (r.ok && r.kind === 'entity' && this.leaving(r.entity)) out.push(r.entity);
    }
    this.moving = out.map((e) => e.name);
    return out;
  }

  /** A queue, or a shard of one, moving away from this set (each shard is the queue of that name on its set). */
  private leaving(e: EntityRecord): boolean {
    return e.type === 'queue' && e.change?.type === 'move' && e.change.from === this.opts.setId;
  }

  /** The queues and shards moving away from this set, from every route the controller has. */
  private async listMoves(): Promise<EntityRecord[] | ErrorResult> {
    const out: EntityRecord[] = [];
    for (let offset = 0; ; offset += CONTROLLER_LIMITS.listLimitMax) {
      const r = await this.opts.controller.read({ kind: 'listRoutes', type: 'queue', prefix: '', offset, limit: CONTROLLER_LIMITS.listLimitMax });
      if (!r.ok) return r;
      if (r.kind !== 'routes') return fail('notApplied', undefined, `listRoutes answered ${r.kind}`);
      for (const e of r.entities) if (this.leaving(e)) out.push(e);
      if (r.entities.length < CONTROLLER_LIMITS.listLimitMax || offset + r.entities.length >= r.totalCount) return out;
    }
  }

  /** One step of one move; every step is safe to repeat (after a failure, on a new leader). */
  async step(e: EntityRecord, move: MoveChange): Promise<MoveStep> {
    const name = e.name;
    const ctx = this.opts.ctx();
    const key = name.toLowerCase();
    const first = !this.known.has(key);
    if (first) this.opts.forgetRoute(name);
    const src = await this.opts.own.getQueueAttributes(ctx, name);
    if (isError(src)) {
      // Deleted as the move's last step (by this leader or one before): only the route is left to change.
      if (src.error === 'queueNotExist') return this.complete(name, move);
      return this.failed(name, 'reading the source queue', src);
    }
    if (first) {
      // Nothing is sent until the target holds the queue: a send to a missing queue drops the message.
      const made = await createMoveTarget(this.opts.controller, this.opts.serviceOf(move.to), ctx, name, move.to, src.attributes, e.shards.length > 1);
      if (isError(made) && made.error !== 'queueExists') {
        this.warn(name, `moving queue ${name} to set ${move.to}: the queue could not be created there (${detailOf(made)}); trying again`);
        return 'targetMissing';
      }
      const ready = await this.prepareSource(ctx, name);
      if (ready !== undefined) return this.failed(name, 'handing the queue\'s feeders on this set over to the route', ready);
      this.known.add(key);
    }
    let moved = 0;
    for (let i = 0; i < BATCHES_PER_ROUND; i++) {
      const r = await this.opts.own.submit(ctx, { kind: 'moveMessages', sourceQueue: name, destinationQueue: name, maxMessages: LIMITS.moveBatchMax, remoteDestination: true });
      if (isError(r)) return this.failed(name, 'moving messages out', r);
      if (r.kind !== 'moveMessages') return this.failed(name, 'moving messages out', fail('internalError', undefined, `moveMessages answered ${r.kind}`));
      moved += r.moved;
      if (r.moved < LIMITS.moveBatchMax) break;
    }
    if (moved > 0) return 'moving';
    if (heldMessages(src.attributes) > 0) {
      // In flight (deleted by their consumer, or visible again later) or delayed (moved once due).
      const again = await this.opts.own.getQueueAttributes(ctx, name);
      if (isError(again) || heldMessages(again.attributes) > 0) return 'waiting';
    }
    const kept = await this.moveKept(name);
    if (kept !== 'done') return kept;
    if (move.phase === 'copying') {
      const r = await this.opts.controller.submit({ kind: 'advanceMove', type: 'queue', name });
      if (isError(r) && r.error !== 'routeChangePhase') return this.failed(name, 'advancing the move', r);
    }
    // A queue bound or subscribed on this set since the first step (through a route read before
    // the move) is handed over too; the delete refuses while one is left, so none is missed.
    const ready = await this.prepareSource(ctx, name);
    if (ready !== undefined) return this.failed(name, 'handing the queue\'s feeders on this set over to the route', ready);
    const del = await this.opts.own.submit(ctx, { kind: 'deleteQueue', queueName: name, ifEmpty: true, keptToo: true });
    if (isError(del)) {
      // queueNotEmpty: its outbox is still sending, a late send arrived, or a topic here was
      // subscribed to it meanwhile; dlqDeleteInUse: a queue here bound it meanwhile. The next
      // round hands them over and goes on.
      if (del.error === 'queueNotEmpty' || del.error === 'dlqDeleteInUse') return 'notEmpty';
      if (del.error !== 'queueNotExist') return this.failed(name, 'deleting the emptied source', del);
    }
    return this.complete(name, { ...move, phase: 'cutover' });
  }

  /**
   * Hands what feeds the source copy on this set directly over to the route: each queue here
   * whose dead-letter queue is `name`, bound locally, is bound again `remote` (same policy); each
   * queue subscription of a topic here delivering into `name` is made `remoteQueue`. Safe to repeat
   * (a remote one stays remote). undefined when done.
   */
  private async prepareSource(ctx: RequestContext, name: string): Promise<ErrorResult | undefined> {
    const own = this.opts.own;
    // One page holds them all: a dead-letter queue has at most LIMITS.deadLetterSourcesMax sources.
    const sources = await own.listDeadLetterSourceQueues(ctx, name, undefined, 0, LIMITS.listLimitMax);
    if (!sources.ok && sources.error !== 'queueNotExist') return sources;
    for (const s of sources.ok ? sources.queueList : []) {
      const a = await own.getQueueAttributes(ctx, s.queueName);
      if (!a.ok) {
        if (a.error === 'queueNotExist') continue; // deleted meanwhile
        return a;
      }
      const p = a.attributes.deadLetterPolicy;
      if (p === undefined || p.remote === true || p.deadLetterQueue !== name) continue;
      const r = await own.submit(ctx, { kind: 'setQueueAttributes', queueName: s.queueName, attrs: { deadLetterPolicy: { ...p, remote: true } } });
      if (isError(r) && r.error !== 'queueNotExist') return r;
      this.opts.log.info(`queue ${s.queueName} now sends its dead letters to ${name} through the route: ${name} is moving to another set`, { queue: s.queueName });
    }
    for (let offset = 0; ; offset += LIMITS.listLimitMax) {
      const topics = await own.listTopics(ctx, undefined, offset, LIMITS.listLimitMax);
      if (!topics.ok) return topics;
      for (const t of topics.topicList) {
        const subs = await this.queueSubscriptionsOf(ctx, t.topicName, name);
        if (isError(subs)) return subs;
        for (const sub of subs) {
          const r = await own.submit(ctx, { kind: 'setSubscriptionAttributes', topicName: t.topicName, subscriptionName: sub, remoteQueue: true });
          if (isError(r) && r.error !== 'topicNotExist' && r.error !== 'subscriptionNotExist') return r;
        }
      }
      if (topics.topicList.length < LIMITS.listLimitMax) return undefined;
    }
  }

  /** The queue subscriptions of topic `topicName` on this set whose queue is `queue` (as delivery names it: exactly). */
  private async queueSubscriptionsOf(ctx: RequestContext, topicName: string, queue: string): Promise<string[] | ErrorResult> {
    const out: string[] = [];
    for (let at = 0; ; at += LIMITS.listLimitMax) {
      const subs = await this.opts.own.listSubscriptions(ctx, topicName, undefined, at, LIMITS.listLimitMax);
      if (!subs.ok) return subs.error === 'topicNotExist' ? out : subs; // deleted meanwhile
      for (const x of subs.subscriptionList) if (x.protocol === 'queue' && x.endpoint === queue) out.push(x.subscriptionName);
      if (subs.subscriptionList.length < LIMITS.listLimitMax) return out;
    }
  }

  /**
   * Once nothing visible, in flight or delayed is left on the source (so the messages its
   * consumers deleted are all kept for rewind already): its messages kept for rewind go into its
   * outbox for the target, still kept, with their enqueue times; those no rewind reaches any more
   * are dropped. The outbox's deduplication id (source, msgId, the entry that took it) keeps a step
   * repeated by a new leader from storing one twice on the target: it is taken from the source
   * once, in that entry. 'done' when none is left.
   */
  private async moveKept(name: string): Promise<MoveStep | 'done'> {
    const ctx = this.opts.ctx();
    let moved = 0;
    for (let i = 0; i < BATCHES_PER_ROUND; i++) {
      const r = await this.opts.own.submit(ctx, { kind: 'moveMessages', sourceQueue: name, destinationQueue: name, maxMessages: LIMITS.moveBatchMax, remoteDestination: true, kept: true });
      if (isError(r)) return this.failed(name, 'moving messages kept for rewind out', r);
      if (r.kind !== 'moveMessages') return this.failed(name, 'moving messages kept for rewind out', fail('internalError', undefined, `moveMessages answered ${r.kind}`));
      moved += r.moved;
      if (r.remaining === 0) return moved > 0 ? 'moving' : 'done';
    }
    return 'moving';
  }

  private async complete(name: string, move: MoveChange): Promise<MoveStep> {
    if (move.phase === 'copying') {
      const r = await this.opts.controller.submit({ kind: 'advanceMove', type: 'queue', name });
      if (isError(r) && r.error !== 'routeChangePhase') return this.failed(name, 'advancing the move', r);
    }
    const r = await this.opts.controller.submit({ kind: 'completeMove', type: 'queue', name });
    if (isError(r) && r.error !== 'routeChangeNotExist') return this.failed(name, 'completing the move', r);
    this.known.delete(name.toLowerCase());
    this.opts.forgetRoute(name);
    this.opts.log.info(`queue ${name} moved from set ${move.from} to set ${move.to}`, { queue: name });
    return 'completed';
  }

  private failed(name: string, what: string, e: ErrorResult): MoveStep {
    this.warn(name, `moving queue ${name}: ${what} failed (${detailOf(e)}); the next round tries again`);
    return 'failed';
  }

  private warn(name: string, msg: string): void {
    const admitted = this.limit.admit(name.toLowerCase());
    if (admitted === undefined) return;
    this.opts.log.warn(admitted.suppressed > 0 ? `${msg} (${admitted.suppressed} similar lines suppressed)` : msg, { queue: name });
  }
}
