// The lists that span every set (node/cluster-service.ts delegates to them): ListQueue and
// ListTopic merged in the broker's name order with one totalCount, and a dead-letter queue's
// sources bound across sets. A queue of several shards is listed by each of its shards' sets and
// counted once. Pure of I/O: the controller and the sets are injected.

import type { QueueList, QueueListItem, TopicList } from '../broker/commands';
import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import type { QueueService, ServiceResult } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import type { ControllerAccess } from './cluster-service';
import type { RouteCache } from './route-cache';

/** One item of a list one set gave: its name, and which set listed it. */
export interface Listed<I> {
  name: string;
  item: I;
  setId: number;
}

export interface ClusterListsOptions {
  ownSetId: number;
  controller: ControllerAccess;
  serviceOf: (setId: number) => QueueService;
  /** Read only (peek): which set serves a listed queue's shard 0, to keep that set's item. */
  cache: RouteCache;
}

function isError(r: object): r is ErrorResult {
  return (r as { ok?: unknown }).ok === false;
}

/** The broker's list order: names by UTF-16 code units, as `<` compares them. */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class ClusterLists {
  constructor(private readonly opts: ClusterListsOptions) {}

  private serviceOf(setId: number): QueueService {
    return this.opts.serviceOf(setId);
  }

  queues(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<QueueList>> {
    return this.merged(
      offset,
      limit,
      LIMITS.queueCountMax,
      async (s, n) => {
        const r = await s.listQueues(ctx, searchWord, 0, n);
        return r.ok ? { totalCount: r.totalCount, items: r.queueList.map((q) => ({ name: q.queueName, item: q })) } : r;
      },
      (totalCount, items) => ({ ok: true, totalCount, queueList: items }),
      true,
    );
  }

  topics(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<TopicList>> {
    return this.merged(
      offset,
      limit,
      LIMITS.topicCountMax,
      async (s, n) => {
        const r = await s.listTopics(ctx, searchWord, 0, n);
        return r.ok ? { totalCount: r.totalCount, items: r.topicList.map((t) => ({ name: t.topicName, item: t })) } : r;
      },
      (totalCount, items) => ({ ok: true, totalCount, topicList: items }),
    );
  }

  /**
   * One page of a list across every set: each set gives its first offset+limit matches (at most
   * what one set can hold, `perSetMax`, so an offset past it costs no more), merged in the
   * broker's name order; totalCount is the sum. A set that cannot answer fails the whole list
   * (notApplied, naming it): a partial list would look complete.
   *
   * With `sharded` (queues: a queue of several shards is listed by each of its sets), each set
   * gives every match (so duplicates are all seen) and a name is listed, and counted, once
   * (onceEach).
   */
  private async merged<I, R>(
    offset: number,
    limit: number,
    perSetMax: number,
    list: (s: QueueService, n: number) => Promise<{ totalCount: number; items: { name: string; item: I }[] } | ErrorResult>,
    page: (totalCount: number, items: I[]) => R,
    sharded = false,
  ): Promise<R | ErrorResult> {
    const ids = await this.listSets();
    if (isError(ids)) return ids;
    const n = sharded ? perSetMax : Math.min(offset + limit, perSetMax);
    const answers = await Promise.all(ids.map((id) => list(this.serviceOf(id), n)));
    let totalCount = 0;
    let all: { name: string; item: I; setId: number }[] = [];
    for (let i = 0; i < ids.length; i++) {
      const a = answers[i]!;
      if (isError(a)) return fail('notApplied', undefined, `set ${ids[i]} could not list (${a.error}${a.detail !== undefined ? ` ${a.detail}` : ''}); retry`);
      totalCount += a.totalCount;
      all.push(...a.items.map((x) => ({ ...x, setId: ids[i]! })));
    }
    all.sort((a, b) => byName(a.name, b.name));
    if (sharded) {
      const once = this.onceEach(all);
      totalCount -= all.length - once.length;
      all = once;
    }
    return page(
      totalCount,
      all.slice(offset, offset + limit).map((x) => x.item),
    );
  }

  /** Every set's id, as the controller lists them, this node's own included. */
  private async listSets(): Promise<number[] | ErrorResult> {
    const sets = await this.opts.controller.read({ kind: 'listSets' });
    if (!sets.ok) return fail('notApplied', undefined, `the list of sets could not be read from the controller (${sets.error}${sets.detail !== undefined ? ` ${sets.detail}` : ''}); retry`);
    if (sets.kind !== 'sets') return fail('notApplied', undefined, `the controller answered listSets with ${sets.kind}; retry`);
    const ids = sets.sets.map((s) => s.id);
    // This node's set is listed even before it registered (a set holds what it holds).
    if (!ids.includes(this.opts.ownSetId)) ids.push(this.opts.ownSetId);
    return ids;
  }

  /**
   * The queues of every set whose dead-letter queue is `dlqName` on another set (`remote`), every
   * one each set has; a queue of several shards is listed by each of its shards' sets. A set that
   * answers queueNotExist runs a release that lists only a dead-letter queue it holds: it has none
   * of these (binding one waits for every member's upgrade).
   */
  async remoteSources(ctx: RequestContext, dlqName: string, searchWord: string | undefined): Promise<Listed<QueueListItem>[] | ErrorResult> {
    const ids = await this.listSets();
    if (isError(ids)) return ids;
    const answers = await Promise.all(ids.map((id) => this.serviceOf(id).listDeadLetterSourceQueues(ctx, dlqName, searchWord, 0, LIMITS.queueCountMax, { remoteOnly: true })));
    const items: Listed<QueueListItem>[] = [];
    for (let i = 0; i < ids.length; i++) {
      const a = answers[i]!;
      if (isError(a)) {
        if (a.error === 'queueNotExist') continue;
        return fail('notApplied', undefined, `set ${ids[i]} could not list the sources of ${dlqName} (${a.error}${a.detail !== undefined ? ` ${a.detail}` : ''}); retry`);
      }
      items.push(...a.queueList.map((q) => ({ name: q.queueName, item: q, setId: ids[i]! })));
    }
    return items;
  }

  /**
   * Items listed by several sets, in the broker's name order and each name once: a queue of several
   * shards is listed by each of its sets. The item kept is that of the set serving its shard 0 when
   * the route is cached, else the first.
   */
  onceEach<I>(items: readonly Listed<I>[]): Listed<I>[] {
    const sorted = [...items].sort((a, b) => byName(a.name, b.name));
    const once: Listed<I>[] = [];
    for (const x of sorted) {
      const prev = once[once.length - 1];
      if (prev === undefined || prev.name !== x.name) once.push(x);
      else if (this.opts.cache.peek('queue', x.name)?.shards[0] === x.setId) once[once.length - 1] = x;
    }
    return once;
  }
}
