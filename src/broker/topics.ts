// Topics and subscriptions inside the state machine (spec §3). A publish is one log entry: its
// bodies are stored there once, and applying it serves every matching subscription at once, so a
// crash can never leave a message delivered to some subscribers and not others. Queue
// subscriptions get a queue message referencing the publish entry's bytes; http subscriptions get
// a replicated pending push, which the leader's node POSTs and settles through the log
// (pushSucceeded / pushFailed), so a new leader resumes where the old one stopped. A queue
// subscription whose queue is on another set (`remoteQueue`, set at subscribe, or later when its
// queue moves away: setSubscriptionAttributes) is served like an http one: a pending push, which the
// leader sends to that queue (node/outbox.ts).
//
// Time-driven: a pending push expires at publish + 86400 s (the topic retention). Pushes are kept
// in publish order per subscription, so expiry advances from the head; `schedule` holds
// (head expiry, subscription number), as the queues' schedule does.

import { DedupTable, topicScope } from './dedup';
import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import {
  FILTER_TYPE,
  TOPIC_RETENTION_SECONDS,
  type NotifyContentFormat,
  type NotifyStrategy,
  type SubscriptionAttributes,
  type SubscriptionProtocol,
  type TopicAttributes,
  type TopicFilterType,
} from '../protocol/topic-types';
import type { DecodedBody, DecodedCommand } from './codec';
import type { CommandResult, DuePush, SubscriptionList, TopicList } from './commands';
import { TimedIdHeap } from './heaps';
import type { GroupIds } from './ids';
import { toSec } from './queue';
import { subscriptionMatches } from './topic-filter';

export const TOPIC_RETENTION_MS = TOPIC_RETENTION_SECONDS * 1000;

/**
 * Retry schedules (spec §3.5). BACKOFF_RETRY: 19–29 s between attempts, dropped after 3 retries.
 * EXPONENTIAL_DECAY_RETRY: 1 s, 2 s, 4 s, ... until the topic retention; the cap of 512 s on one
 * interval is our choice (CMQ documents none; Alibaba MNS, its apparent model, caps at 512 s).
 */
export const PUSH_RETRY = {
  backoffMinMs: 19_000,
  /** The jitter is seed % (backoffSpreadMs + 1), so 19 000–29 000 ms inclusive. */
  backoffSpreadMs: 10_000,
  backoffRetriesMax: 3,
  decayFirstMs: 1_000,
  decayCapMs: 512_000,
} as const;

/**
 * When to attempt a push again after its `failedAttempts`-th failure at nowMs; undefined when it
 * is to be dropped (retries exhausted, or no attempt left before it expires at expireMs).
 */
export function nextAttemptMs(strategy: NotifyStrategy, failedAttempts: number, nowMs: number, seed: number, expireMs: number): number | undefined {
  let next: number;
  if (strategy === 'BACKOFF_RETRY') {
    if (failedAttempts > PUSH_RETRY.backoffRetriesMax) return undefined;
    next = nowMs + PUSH_RETRY.backoffMinMs + (seed % (PUSH_RETRY.backoffSpreadMs + 1));
  } else {
    const delay = Math.min(PUSH_RETRY.decayFirstMs * 2 ** Math.min(failedAttempts - 1, 30), PUSH_RETRY.decayCapMs);
    next = nowMs + delay;
  }
  return next < expireMs ? next : undefined;
}

/** A message waiting to be POSTed to an http subscription. The body stays in the publish entry. */
export interface PendingPush {
  entryIndex: number;
  bodyOffset: number;
  bodyLength: number;
  bodyCrc: number;
  batchPos: number;
  /** Shared by every push of one publish; never mutated. */
  msgTags: readonly string[];
  publishTimeMs: number;
  failedAttempts: number;
  nextAttemptMs: number;
}

export interface SubscriptionSettings {
  protocol: SubscriptionProtocol;
  endpoint: string;
  notifyStrategy: NotifyStrategy;
  notifyContentFormat: NotifyContentFormat;
  filterTags: string[];
  bindingKeys: string[];
}

export class SubscriptionState {
  readonly nameLower: string;
  /**
   * A queue subscription whose queue is on another set (Command subscribe.remoteQueue), or moving
   * there (setSubscriptionAttributes.remoteQueue): publish keeps its messages pending, as for http,
   * instead of enqueuing them on this set. Once set, never unset.
   */
  remoteQueue: boolean;
  /** By msgId, in publish order (so publish time, hence expiry, never decreases along it). */
  readonly pending = new Map<string, PendingPush>();
  /** The deadline this subscription is scheduled at (Infinity: none). */
  scheduledDeadlineMs = Infinity;

  constructor(
    readonly name: string,
    readonly subscriptionId: string,
    /** The index of the entry that created it: unique, orders subscriptions, keys the schedule. */
    readonly number: number,
    readonly createTimeMs: number,
    public lastModifyTimeMs: number,
    public settings: SubscriptionSettings,
    remoteQueue = false,
  ) {
    this.nameLower = name.toLowerCase();
    this.remoteQueue = remoteQueue && settings.protocol === 'queue';
  }

  /** Whether publish keeps pending pushes for it (http, or a queue on another set). */
  get pushes(): boolean {
    return this.settings.protocol !== 'queue' || this.remoteQueue;
  }

  /** Earliest expiry of a pending push; Infinity when none. */
  nextDeadlineMs(): number {
    for (const p of this.pending.values()) return p.publishTimeMs + TOPIC_RETENTION_MS;
    return Infinity;
  }

  /** Drops pushes whose retention ended at or before nowMs; returns how many. */
  expire(nowMs: number): number {
    let n = 0;
    for (const [msgId, p] of this.pending) {
      if (p.publishTimeMs + TOPIC_RETENTION_MS > nowMs) break;
      this.pending.delete(msgId);
      n++;
    }
    return n;
  }
}

export class TopicState {
  readonly nameLower: string;
  /** By exact name, in creation order; conflicts are checked case-insensitively. */
  readonly subscriptions = new Map<string, SubscriptionState>();

  constructor(
    readonly name: string,
    readonly topicId: string,
    /** The index of the entry that created it: unique, orders topics. */
    readonly number: number,
    readonly createTimeMs: number,
    public lastModifyTimeMs: number,
    public maxMsgSize: number,
    readonly filterType: TopicFilterType,
  ) {
    this.nameLower = name.toLowerCase();
  }

  findLower(nameLower: string): SubscriptionState | undefined {
    for (const s of this.subscriptions.values()) if (s.nameLower === nameLower) return s;
    return undefined;
  }

  msgCount(): number {
    let n = 0;
    for (const s of this.subscriptions.values()) n += s.pending.size;
    return n;
  }
}

/** How topics reach queues: SendMessage semantics (the queue's size and count limits apply). */
export interface QueueSink {
  /** false when the queue does not exist or refused the messages. */
  deliver(queueName: string, entryIndex: number, nowMs: number, bodies: DecodedBody[]): boolean;
}

export interface TopicCounters {
  /** Queue deliveries dropped (target queue missing or refusing), counted per message. */
  deliveryDrops: number;
  /** Pushes dropped: retries exhausted, retention expired, or the pending list full. */
  pushDrops: number;
  pushesDelivered: number;
  /** Of pushesDelivered, those into a queue on another set (remote queue subscriptions). */
  remoteQueueDeliveries: number;
}

export type TopicCommand = Extract<
  DecodedCommand,
  {
    kind:
      | 'createTopic'
      | 'setTopicAttributes'
      | 'deleteTopic'
      | 'subscribe'
      | 'unsubscribe'
      | 'setSubscriptionAttributes'
      | 'clearSubscriptionFilterTags'
      | 'publishMessages'
      | 'pushSucceeded'
      | 'pushFailed';
  }
>;

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export class TopicRegistry {
  private readonly byName = new Map<string, TopicState>();
  private readonly byLowerName = new Map<string, TopicState>();
  /** Subscription number → its topic and itself, for the schedule. */
  private readonly bySubNumber = new Map<number, { topic: TopicState; sub: SubscriptionState }>();
  private readonly schedule = new TimedIdHeap();
  readonly counters: TopicCounters = { deliveryDrops: 0, pushDrops: 0, pushesDelivered: 0, remoteQueueDeliveries: 0 };

  constructor(
    private readonly sink: QueueSink,
    private readonly ids: GroupIds,
    /** The state machine's deduplication ids (a publish with a dedupId is deduplicated as a whole). */
    private readonly dedup: DedupTable = new DedupTable(),
  ) {}

  execute(cmd: TopicCommand, index: number, nowMs: number): CommandResult {
    switch (cmd.kind) {
      case 'createTopic':
        return this.createTopic(cmd.topicName, cmd.maxMsgSize, cmd.filterType, index, nowMs);
      case 'setTopicAttributes': {
        const t = this.byName.get(cmd.topicName);
        if (t === undefined) return fail('topicNotExist');
        t.maxMsgSize = cmd.maxMsgSize;
        t.lastModifyTimeMs = nowMs;
        return { ok: true, kind: 'setTopicAttributes' };
      }
      case 'deleteTopic': {
        const t = this.byName.get(cmd.topicName);
        if (t === undefined) return fail('topicNotExist');
        if (t.subscriptions.size > 0) return fail('topicHasSubscriptions');
        this.byName.delete(t.name);
        this.byLowerName.delete(t.nameLower);
        return { ok: true, kind: 'deleteTopic' };
      }
      case 'subscribe':
        return this.subscribe(cmd, index, nowMs);
      case 'unsubscribe': {
        const found = this.find(cmd.topicName, cmd.subscriptionName);
        if (!('sub' in found)) return found;
        found.topic.subscriptions.delete(found.sub.name);
        this.bySubNumber.delete(found.sub.number);
        return { ok: true, kind: 'unsubscribe' };
      }
      case 'setSubscriptionAttributes':
        return this.setSubscription(cmd, nowMs);
      case 'clearSubscriptionFilterTags': {
        const found = this.find(cmd.topicName, cmd.subscriptionName);
        if (!('sub' in found)) return found;
        found.sub.settings = { ...found.sub.settings, filterTags: [] };
        found.sub.lastModifyTimeMs = nowMs;
        return { ok: true, kind: 'clearSubscriptionFilterTags' };
      }
      case 'publishMessages':
        return this.publish(cmd.topicName, cmd.bodies, cmd.msgTags, cmd.routingKey, cmd.dedupId, index, nowMs);
      case 'pushSucceeded': {
        const found = this.find(cmd.topicName, cmd.subscriptionName);
        const ok = 'sub' in found && found.sub.pending.delete(cmd.msgId);
        if (ok) {
          this.counters.pushesDelivered++;
          if (found.sub.remoteQueue) this.counters.remoteQueueDeliveries++;
          this.reschedule(found.sub);
        }
        return { ok: true, kind: 'pushSucceeded', found: ok };
      }
      case 'pushFailed':
        return this.pushFailed(cmd.topicName, cmd.subscriptionName, cmd.msgId, cmd.seed, nowMs);
      default: {
        const never: never = cmd;
        throw new Error(`unknown topic command ${String(never)}`);
      }
    }
  }

  private createTopic(name: string, maxMsgSize: number, filterType: TopicFilterType, index: number, nowMs: number): CommandResult {
    if (this.byLowerName.has(name.toLowerCase())) return fail('topicExists');
    if (this.byName.size >= LIMITS.topicCountMax) return fail('topicLimit');
    const topicId = this.ids.topicId(index);
    this.add(new TopicState(name, topicId, index, nowMs, nowMs, maxMsgSize, filterType));
    return { ok: true, kind: 'createTopic', topicId };
  }

  private add(t: TopicState): void {
    this.byName.set(t.name, t);
    this.byLowerName.set(t.nameLower, t);
  }

  private subscribe(cmd: Extract<TopicCommand, { kind: 'subscribe' }>, index: number, nowMs: number): CommandResult {
    const t = this.byName.get(cmd.topicName);
    if (t === undefined) return fail('topicNotExist');
    if (t.findLower(cmd.subscriptionName.toLowerCase()) !== undefined) return fail('subscriptionExists');
    if (t.subscriptions.size >= LIMITS.subscriptionsPerTopicMax) return fail('subscriptionLimit');
    if (t.filterType === FILTER_TYPE.routingKey && cmd.bindingKeys.length === 0) return fail('bindingKeyMissing');
    const subscriptionId = this.ids.subscriptionId(index);
    const settings: SubscriptionSettings = {
      protocol: cmd.protocol,
      endpoint: cmd.endpoint,
      notifyStrategy: cmd.notifyStrategy,
      notifyContentFormat: cmd.notifyContentFormat,
      filterTags: [...cmd.filterTags],
      bindingKeys: [...cmd.bindingKeys],
    };
    this.addSubscription(t, new SubscriptionState(cmd.subscriptionName, subscriptionId, index, nowMs, nowMs, settings, cmd.remoteQueue === true));
    return { ok: true, kind: 'subscribe', subscriptionId };
  }

  private addSubscription(t: TopicState, s: SubscriptionState): void {
    t.subscriptions.set(s.name, s);
    this.bySubNumber.set(s.number, { topic: t, sub: s });
  }

  private setSubscription(cmd: Extract<TopicCommand, { kind: 'setSubscriptionAttributes' }>, nowMs: number): CommandResult {
    const found = this.find(cmd.topicName, cmd.subscriptionName);
    if (!('sub' in found)) return found;
    if (found.topic.filterType === FILTER_TYPE.routingKey && cmd.bindingKeys?.length === 0) return fail('bindingKeyMissing');
    const s = found.sub.settings;
    found.sub.settings = {
      ...s,
      notifyStrategy: cmd.notifyStrategy ?? s.notifyStrategy,
      notifyContentFormat: cmd.notifyContentFormat ?? s.notifyContentFormat,
      filterTags: cmd.filterTags !== undefined ? [...cmd.filterTags] : s.filterTags,
      bindingKeys: cmd.bindingKeys !== undefined ? [...cmd.bindingKeys] : s.bindingKeys,
    };
    if (cmd.remoteQueue === true && s.protocol === 'queue') found.sub.remoteQueue = true;
    found.sub.lastModifyTimeMs = nowMs;
    return { ok: true, kind: 'setSubscriptionAttributes' };
  }

  private find(topicName: string, subscriptionName: string): { topic: TopicState; sub: SubscriptionState } | ErrorResult {
    const topic = this.byName.get(topicName);
    if (topic === undefined) return fail('topicNotExist');
    const sub = topic.subscriptions.get(subscriptionName);
    if (sub === undefined) return fail('subscriptionNotExist');
    return { topic, sub };
  }

  /**
   * Check order: topic exists → each body ≤ maxMsgSize → routingKey present (filterType 2) →
   * some subscription → some match. Then every match is served, in subscription creation order.
   */
  private publish(topicName: string, bodies: DecodedBody[], msgTags: string[], routingKey: string, dedupId: string | undefined, index: number, nowMs: number): CommandResult {
    const t = this.byName.get(topicName);
    if (t === undefined) return fail('topicNotExist');
    if (dedupId !== undefined) {
      // A retried publish: the first one's msgIds, and no second delivery to anyone.
      const first = this.dedup.find(topicScope(t.number), dedupId, nowMs);
      if (first !== undefined) {
        return { ok: true, kind: 'publishMessages', msgIds: Array.from({ length: first.batchPos }, (_, p) => this.ids.msgId(first.entryIndex, p)), deliveredQueues: [], pushes: 0 };
      }
    }
    for (const b of bodies) if (b.length > t.maxMsgSize) return fail('msgTooLarge');
    if (t.filterType === FILTER_TYPE.routingKey && routingKey === '') return fail('routingKeyMissing');
    if (t.subscriptions.size === 0) return fail('topicNoSubscription');
    const matches: SubscriptionState[] = [];
    for (const s of t.subscriptions.values()) if (subscriptionMatches(t.filterType, s.settings, msgTags, routingKey)) matches.push(s);
    if (matches.length === 0) return fail('topicNoMatch');
    const deliveredQueues: string[] = [];
    let pushes = 0;
    const tags: readonly string[] = [...msgTags];
    for (const s of matches) {
      if (!s.pushes) {
        if (this.sink.deliver(s.settings.endpoint, index, nowMs, bodies)) {
          if (!deliveredQueues.includes(s.settings.endpoint)) deliveredQueues.push(s.settings.endpoint);
        } else {
          this.counters.deliveryDrops += bodies.length;
        }
        continue;
      }
      pushes++;
      bodies.forEach((b, p) => {
        if (s.pending.size >= LIMITS.pendingPushesPerSubscriptionMax) {
          this.counters.pushDrops++;
          return;
        }
        s.pending.set(this.ids.msgId(index, p), {
          entryIndex: index,
          bodyOffset: b.offset,
          bodyLength: b.length,
          bodyCrc: b.crc32c,
          batchPos: p,
          msgTags: tags,
          publishTimeMs: nowMs,
          failedAttempts: 0,
          nextAttemptMs: nowMs,
        });
      });
      this.reschedule(s);
    }
    if (dedupId !== undefined) this.dedup.remember(topicScope(t.number), dedupId, { entryIndex: index, batchPos: bodies.length }, nowMs);
    return { ok: true, kind: 'publishMessages', msgIds: bodies.map((_, p) => this.ids.msgId(index, p)), deliveredQueues, pushes };
  }

  private pushFailed(topicName: string, subscriptionName: string, msgId: string, seed: number, nowMs: number): CommandResult {
    const found = this.find(topicName, subscriptionName);
    const push = 'sub' in found ? found.sub.pending.get(msgId) : undefined;
    if (push === undefined || !('sub' in found)) return { ok: true, kind: 'pushFailed', outcome: 'unknown' };
    push.failedAttempts++;
    const next = nextAttemptMs(found.sub.settings.notifyStrategy, push.failedAttempts, nowMs, seed, push.publishTimeMs + TOPIC_RETENTION_MS);
    if (next === undefined) {
      found.sub.pending.delete(msgId);
      this.counters.pushDrops++;
      this.reschedule(found.sub);
      return { ok: true, kind: 'pushFailed', outcome: 'dropped' };
    }
    push.nextAttemptMs = next;
    return { ok: true, kind: 'pushFailed', outcome: 'retry', nextAttemptMs: next };
  }

  // ---- time ----

  /** Expires pushes whose retention ended at or before nowMs. */
  advanceTime(nowMs: number): void {
    while (this.schedule.peekTime() <= nowMs) {
      const t = this.schedule.peekTime();
      const entry = this.bySubNumber.get(this.schedule.peekId());
      this.schedule.pop();
      if (entry === undefined || entry.sub.scheduledDeadlineMs !== t) continue;
      entry.sub.scheduledDeadlineMs = Infinity;
      this.counters.pushDrops += entry.sub.expire(nowMs);
      this.reschedule(entry.sub);
      if (!(entry.sub.scheduledDeadlineMs > nowMs)) throw new Error(`broker invariant violated: subscription ${entry.sub.name} still due`);
    }
  }

  private reschedule(s: SubscriptionState): void {
    if (this.bySubNumber.get(s.number)?.sub !== s) return;
    const d = s.nextDeadlineMs();
    if (d === s.scheduledDeadlineMs) return;
    s.scheduledDeadlineMs = d;
    if (d !== Infinity) this.schedule.push(d, s.number);
    if (this.schedule.size > 2 * this.bySubNumber.size + 64) this.schedule.retain((time, id) => this.isScheduled(time, id));
  }

  private isScheduled(t: number, subNumber: number): boolean {
    return this.bySubNumber.get(subNumber)?.sub.scheduledDeadlineMs === t;
  }

  /** Earliest pending-push expiry; Infinity when none. */
  nextDeadlineMs(): number {
    while (this.schedule.size > 0 && !this.isScheduled(this.schedule.peekTime(), this.schedule.peekId())) this.schedule.pop();
    return this.schedule.peekTime();
  }

  // ---- reads ----

  listTopics(searchWord: string | undefined, offset: number, limit: number): TopicList {
    const word = searchWord?.toLowerCase() ?? '';
    const matches = [...this.byName.values()].filter((t) => t.nameLower.includes(word)).sort(byName);
    return { totalCount: matches.length, topicList: matches.slice(offset, offset + limit).map((t) => ({ topicId: t.topicId, topicName: t.name })) };
  }

  getTopicAttributes(topicName: string): TopicAttributes | undefined {
    const t = this.byName.get(topicName);
    if (t === undefined) return undefined;
    return {
      topicId: t.topicId,
      topicName: t.name,
      msgCount: t.msgCount(),
      maxMsgSize: t.maxMsgSize,
      msgRetentionSeconds: TOPIC_RETENTION_SECONDS,
      filterType: t.filterType,
      createTime: toSec(t.createTimeMs),
      lastModifyTime: toSec(t.lastModifyTimeMs),
    };
  }

  topicMaxMsgSize(topicName: string): number | undefined {
    return this.byName.get(topicName)?.maxMsgSize;
  }

  /** Whether a queue subscription here enqueues into `queueName` on this set (not remoteQueue). */
  deliversLocallyInto(queueName: string): boolean {
    for (const t of this.byName.values()) {
      for (const s of t.subscriptions.values()) if (!s.pushes && s.settings.endpoint === queueName) return true;
    }
    return false;
  }

  listSubscriptions(topicName: string, searchWord: string | undefined, offset: number, limit: number): SubscriptionList | ErrorResult {
    const t = this.byName.get(topicName);
    if (t === undefined) return fail('topicNotExist');
    const word = searchWord?.toLowerCase() ?? '';
    const matches = [...t.subscriptions.values()].filter((s) => s.nameLower.includes(word)).sort(byName);
    return {
      totalCount: matches.length,
      subscriptionList: matches.slice(offset, offset + limit).map((s) => ({
        subscriptionId: s.subscriptionId,
        subscriptionName: s.name,
        protocol: s.settings.protocol,
        endpoint: s.settings.endpoint,
      })),
    };
  }

  getSubscriptionAttributes(topicName: string, subscriptionName: string): SubscriptionAttributes | ErrorResult {
    const found = this.find(topicName, subscriptionName);
    if (!('sub' in found)) return found;
    const s = found.sub;
    return {
      subscriptionId: s.subscriptionId,
      subscriptionName: s.name,
      topicName: found.topic.name,
      ...s.settings,
      filterTags: [...s.settings.filterTags],
      bindingKeys: [...s.settings.bindingKeys],
      msgCount: s.pending.size,
      createTime: toSec(s.createTimeMs),
      lastModifyTime: toSec(s.lastModifyTimeMs),
    };
  }

  /**
   * Pending pushes whose next attempt is due at nowMs (and not yet expired), earliest first
   * (ties: by msgId order, then subscription creation), at most `limit`. A push stays listed until
   * a pushSucceeded/pushFailed for it is applied, so the caller tracks the POSTs it has in flight.
   * Cost: O(pending pushes); fine while http subscriptions are few and healthy.
   */
  duePushes(nowMs: number, limit: number): DuePush[] {
    const due: { t: TopicState; s: SubscriptionState; msgId: string; p: PendingPush }[] = [];
    for (const t of this.byName.values()) {
      for (const s of t.subscriptions.values()) {
        for (const [msgId, p] of s.pending) {
          if (p.nextAttemptMs <= nowMs && p.publishTimeMs + TOPIC_RETENTION_MS > nowMs) due.push({ t, s, msgId, p });
        }
      }
    }
    due.sort((a, b) => a.p.nextAttemptMs - b.p.nextAttemptMs || a.p.entryIndex - b.p.entryIndex || a.p.batchPos - b.p.batchPos || a.s.number - b.s.number);
    return due.slice(0, limit).map(({ t, s, msgId, p }) => ({
      topicName: t.name,
      subscriptionName: s.name,
      endpoint: s.settings.endpoint,
      ...(s.remoteQueue ? { remoteQueue: true } : {}),
      notifyContentFormat: s.settings.notifyContentFormat,
      msgId,
      body: { entryIndex: p.entryIndex, offset: p.bodyOffset, length: p.bodyLength, crc32c: p.bodyCrc },
      msgTags: [...p.msgTags],
      publishTime: toSec(p.publishTimeMs),
      failedAttempts: p.failedAttempts,
      nextAttemptMs: p.nextAttemptMs,
    }));
  }

  /** Earliest next attempt of any pending push (for the node's push timer); Infinity when none. */
  nextPushAttemptMs(): number {
    let d = Infinity;
    for (const t of this.byName.values()) for (const s of t.subscriptions.values()) for (const p of s.pending.values()) d = Math.min(d, p.nextAttemptMs);
    return d;
  }

  /** Log entries whose bodies pending pushes still need. */
  collectEntryIndexes(out: number[]): void {
    this.forEachPushBody((entryIndex) => out.push(entryIndex));
  }

  /** Each pending push's body: the entry holding it and its length. */
  forEachPushBody(fn: (entryIndex: number, length: number) => void): void {
    for (const t of this.byName.values()) for (const s of t.subscriptions.values()) for (const p of s.pending.values()) fn(p.entryIndex, p.bodyLength);
  }

  /** Pushes (http, remote queues) not yet delivered or dropped, across all topics. */
  pendingPushCount(): number {
    let n = 0;
    for (const t of this.byName.values()) n += t.msgCount();
    return n;
  }

  topicCount(): number {
    return this.byName.size;
  }

  // ---- snapshots ----

  /** Topics in creation order, each with its subscriptions in creation order. */
  topicsInOrder(): TopicState[] {
    return [...this.byName.values()].sort((a, b) => a.number - b.number);
  }

  restoreTopic(t: TopicState, subs: SubscriptionState[]): void {
    if (this.byLowerName.has(t.nameLower)) throw new Error(`broker invariant violated: duplicate topic ${t.name} in snapshot`);
    this.add(t);
    for (const s of subs) {
      if (t.findLower(s.nameLower) !== undefined || this.bySubNumber.has(s.number)) throw new Error(`broker invariant violated: duplicate subscription ${s.name}`);
      this.addSubscription(t, s);
      this.reschedule(s);
    }
  }
}
