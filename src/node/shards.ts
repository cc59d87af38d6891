// The pure parts of a queue spread over several sets (shards): which shard a send goes to, which
// set a receipt handle belongs to, how a batch is split by shard and its answers put back in the
// caller's order, how the shards' attributes add up, and what a sharded queue refuses. No I/O, no
// clock: node/sharded-queues.ts does the calls.
//
// Each shard is an ordinary queue of the queue's name in its set's state machine; shard i is on
// set route.shards[i]. A message lives on exactly one shard, from its send to its delete.

import type { DeleteFailure, QueueAttributes, QueueAttributesInput } from '../broker/commands';
import { fail, type ErrorResult } from '../protocol/errors';
import { SETTABLE_QUEUE_INT_ATTRS } from '../protocol/queue-types';
import type { QueueService } from '../service/queue-service';
import { shardCount, type CachedRoute } from './route-cache';

/**
 * The Raft group that issued a receipt handle or msgId (broker/ids.ts): `g<group>:` names it;
 * no prefix is group 0's. undefined: a prefix that is no group number.
 */
export function groupOfId(id: string): number | undefined {
  const m = /^g(\d{1,10}):/.exec(id);
  // No group prefix: group 0's shape (its set says whether it is a handle at all).
  if (m === null) return 0;
  const n = Number(m[1]);
  return n <= 0xffff_ffff ? n : undefined;
}

/** FNV-1a of the UTF-16 code units: the same key always picks the same shard (on every node). */
function hash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The shard a send goes to first. With a deduplication key, the shard the key hashes to, so a
 * retried send meets its first attempt on the same shard (and is deduplicated there); without,
 * this node's next shard in turn (per-node round robin over the route).
 */
export function sendShard(route: CachedRoute, dedupKey: string | undefined): number {
  // A shard being moved takes new messages on its target only: the source is being emptied. The
  // choice is made over the queue's shards (the target last, outside them) and the source's turn
  // given to the target, so a deduplication key keeps hashing to the same shard through the move.
  const k = shardCount(route);
  let shard: number;
  if (dedupKey !== undefined) shard = hash(dedupKey) % k;
  else {
    shard = route.next % k;
    route.next = (shard + 1) % k;
  }
  return route.move !== undefined && shard === route.move.shard ? k : shard;
}

/**
 * The shard receives start at: turns like sends, so every shard is asked first in turn. A receive
 * with an attempt id starts where its id hashes to, so that a retry asks the sets in the same
 * order, each with the id, and each could hand back its part of the first answer. Only FIFO
 * queues honour the id, and they have one shard and are not moved, so today this only keeps the
 * order stable; a standard queue's shards ignore the id.
 */
export function receiveStart(route: CachedRoute, attemptId?: string): number {
  const k = route.shards.length;
  if (attemptId !== undefined) return hash(attemptId) % k;
  const shard = route.nextReceive % k;
  route.nextReceive = (shard + 1) % k;
  return shard;
}

/** One shard's part of a batch: the entries, and where each was in the caller's request. */
export interface ShardPart<E> {
  shard: number;
  entries: E[];
  indexes: number[];
}

/**
 * A batch split by the shard whose set issued each entry's receipt handle, in shard order; the
 * indexes of entries no shard of the route issued (another queue's, a garbled prefix) apart.
 */
export function splitByShard<E>(entries: readonly E[], handleOf: (e: E) => string, shardOfGroup: (group: number) => number | undefined): { parts: ShardPart<E>[]; foreign: number[] } {
  const byShard = new Map<number, ShardPart<E>>();
  const foreign: number[] = [];
  entries.forEach((e, index) => {
    const group = groupOfId(handleOf(e));
    const shard = group === undefined ? undefined : shardOfGroup(group);
    if (shard === undefined) {
      foreign.push(index);
      return;
    }
    let part = byShard.get(shard);
    if (part === undefined) byShard.set(shard, (part = { shard, entries: [], indexes: [] }));
    part.entries.push(e);
    part.indexes.push(index);
  });
  return { parts: [...byShard.values()].sort((a, b) => a.shard - b.shard), foreign };
}

/**
 * The failures of a split batch as one set would list them: each part's failures with the index
 * of the entry in the caller's request, plus the foreign handles (malformed, as a set answers a
 * handle it never issued), in request order.
 */
export function reassembleFailures(parts: readonly { indexes: readonly number[]; failures: readonly DeleteFailure[] }[], foreign: readonly number[], handleAt: (index: number) => string): DeleteFailure[] {
  const out: DeleteFailure[] = [];
  for (const p of parts) {
    for (const f of p.failures) {
      const index = p.indexes[f.index];
      if (index === undefined) continue; // a set answering an index it was not given: nothing to map
      out.push({ ...f, index });
    }
  }
  for (const index of foreign) out.push({ index, receiptHandle: handleAt(index), error: 'receiptHandleInvalid', malformed: true });
  return out.sort((a, b) => a.index - b.index);
}

/** The message counters of GetQueueAttributes: each shard counts its own messages. */
export const SUMMED_COUNTERS = ['activeMsgNum', 'inactiveMsgNum', 'delayMsgNum', 'rewindMsgNum'] as const;

/**
 * The attributes of a queue of several shards: its configuration, id and creation time are shard
 * 0's (every shard is set alike); message counters are summed; minMsgTime is the oldest of the
 * shards' (0: none has a message); lastModifyTime the latest; `shards` says how many.
 */
export function mergeAttributes(perShard: readonly QueueAttributes[]): QueueAttributes {
  const first = perShard[0];
  if (first === undefined) throw new RangeError('no shard attributes to merge');
  const out: QueueAttributes = { ...first, sqs: { ...first.sqs }, tags: { ...first.tags }, shards: perShard.length };
  for (const c of SUMMED_COUNTERS) out[c] = perShard.reduce((n, a) => n + a[c], 0);
  const times = perShard.map((a) => a.minMsgTime).filter((t) => t > 0);
  out.minMsgTime = times.length === 0 ? 0 : Math.min(...times);
  out.lastModifyTime = Math.max(...perShard.map((a) => a.lastModifyTime));
  return out;
}

/**
 * The attributes a new shard is created with: shard 0's settings, SQS settings and tags, and its
 * dead-letter policy bound `remote` (the shards of a queue are on several sets and its dead-letter
 * queue is on one: every shard's dead letters leave through its set's outbox and the access layer).
 */
export function shardCreateAttrs(a: QueueAttributes): QueueAttributesInput {
  const attrs: QueueAttributesInput = {};
  for (const k of SETTABLE_QUEUE_INT_ATTRS) attrs[k] = a[k];
  attrs.sqs = { ...a.sqs };
  if (Object.keys(a.tags).length > 0) attrs.tags = { ...a.tags };
  if (a.deadLetterPolicy !== undefined) attrs.deadLetterPolicy = { ...a.deadLetterPolicy, remote: true };
  return attrs;
}

/**
 * What a queue of several shards cannot have: FIFO, as a message group must stay on one shard to
 * keep its order, and sends spread over shards. (A dead-letter policy it can have: the access
 * layer binds it on every shard marked `remote`, see ClusterQueueService.)
 */
export function shardedAttrsRefusal(attrs: { sqs?: { fifo?: boolean } | undefined }): ErrorResult | undefined {
  if (attrs.sqs?.fifo === true) return fail('shardedUnsupported', 'FIFO', '(a message group keeps its order on one shard; a FIFO queue has one shard)');
  return undefined;
}

/**
 * A dead-letter policy reaching the shards of a queue not bound `remote`: the access layer marks
 * every policy it sends to several shards (their sets are not all the dead-letter queue's), so
 * one unmarked is a caller's mistake, never applied to some shards and not others.
 */
export function unboundPolicyRefusal(policy: { remote?: boolean } | null | undefined): ErrorResult | undefined {
  if (policy === undefined || policy === null || policy.remote === true) return undefined;
  return fail('internalError', undefined, '(a dead-letter policy for a queue of several shards must be bound remote by the access layer)');
}

/**
 * The service of a node without a cluster controller: one set, so every queue has one shard. A
 * create or attribute change asking for more is refused (notEnoughSets); one shard is what every
 * queue has, so `shards` 1 changes nothing. Every other call runs on `service` as it is.
 */
export function oneSetOnly<S extends QueueService>(service: S): S {
  const submit: QueueService['submit'] = (ctx, command) => {
    if ((command.kind === 'createQueue' || command.kind === 'setQueueAttributes') && command.shards !== undefined) {
      const { shards, ...plain } = command;
      if (shards > 1) return Promise.resolve(fail('notEnoughSets', String(shards), '(a node without a cluster controller is one set: a queue has one shard)'));
      return service.submit(ctx, plain);
    }
    return service.submit(ctx, command);
  };
  return new Proxy(service, {
    get(target, prop) {
      if (prop === 'submit') return submit;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
