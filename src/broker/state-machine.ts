// The queue state machine: applies log entries (binary commands, ./codec.ts) in order and answers
// reads as of the last applied entry. Pure and deterministic: time comes only from the entries'
// timeMs, randomness only from the commands' seeds, so every replica (and every restore of a
// snapshot) reaches the same state and results, byte for byte.
//
// Time-driven transitions (delays ending, visibility timeouts, retention, dead-letter TTL) happen
// when an entry carries time past them: each queue keeps its next deadline in `schedule`, a heap
// ordered by (deadline, queueNumber), so a tick costs O(due work), not O(queues). The driver asks
// nextDeadlineMs() and proposes a `tick` entry then.
//
// Topics and subscriptions (./topics.ts) live in the same machine and the same log, so a publish
// and its delivery into every subscribed queue are one entry.

import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS, QUEUE_ATTR_RANGES } from '../protocol/limits';
import { decodeCommand, type DecodedCommand, type DecodedRelocation } from './codec';
import type {
  CommandResult,
  DeadLetterPolicy,
  DueDeadLetter,
  DueDelivery,
  DuePush,
  MoveOrigin,
  MoveTaskView,
  QueueAttributes,
  QueueAttributesInput,
  QueueList,
  SendBodyOptions,
  SqsQueueSettings,
  SubscriptionAttributes,
  SubscriptionList,
  TopicAttributes,
  TopicList,
} from './commands';
import { DeadLetterOutbox } from './dead-letter-outbox';
import { deadLetterQueueRefusal, deadLetterSourcesRefusal } from './dead-letter-rules';
import { DedupTable, queueScope, type DedupHit } from './dedup';
import { TimedIdHeap } from './heaps';
import { invariant } from './invariant';
import { copyAllowPolicy, QueueState, type DeadLetterRouter, type MovedMessage, type QueueConfig } from './queue';
import { GROUP_0_IDS, type GroupIds, type GroupNumber } from './ids';
import { BATCH_POS_MASK } from './message-store';
import { Redriver } from './redrive';
import { decodeSnapshot } from './snapshot';
import { chunkSnapshotBytes, drainSnapshot, SnapshotCapture } from './snapshot-capture';
import { TopicRegistry, type QueueSink, type TopicCounters } from './topics';

/** Where a census of live bodies goes on (scanBodies): the next queue number and seq to visit. */
export interface BodyScanCursor {
  queueNumber: number;
  seq: number;
}

export interface QueueSettings {
  pollingWaitSeconds: number;
  visibilityTimeout: number;
  maxMsgSize: number;
  /** A FIFO queue (the only kind that remembers receive attempts). */
  fifo: boolean;
}

export interface BrokerStats {
  queues: number;
  messages: { visible: number; inFlight: number; delayed: number; rewind: number };
  /** Messages removed from delivery because their body failed its checksum. */
  quarantined: number;
  /**
   * Messages moved to a dead-letter queue (one on another set: once it took them) / dropped
   * because it no longer existed (or, on another set, refused them for good).
   */
  deadLetterMoves: number;
  deadLetterDrops: number;
  /** Dead letters waiting to be sent to their dead-letter queue on another set. */
  deadLetterPending: number;
  /** Deduplication ids remembered now, and those forgotten before their window ended (table full) since this replica started. */
  dedup: { ids: number; evicted: number };
}

const DEFAULT_CONFIG: QueueConfig = {
  maxMsgHeapNum: QUEUE_ATTR_RANGES.maxMsgHeapNum.def,
  pollingWaitSeconds: QUEUE_ATTR_RANGES.pollingWaitSeconds.def,
  visibilityTimeout: QUEUE_ATTR_RANGES.visibilityTimeout.def,
  maxMsgSize: QUEUE_ATTR_RANGES.maxMsgSize.def,
  msgRetentionSeconds: QUEUE_ATTR_RANGES.msgRetentionSeconds.def,
  rewindSeconds: QUEUE_ATTR_RANGES.rewindSeconds.def,
};

function mergeConfig(base: QueueConfig, a: QueueAttributesInput): QueueConfig {
  return {
    maxMsgHeapNum: a.maxMsgHeapNum ?? base.maxMsgHeapNum,
    pollingWaitSeconds: a.pollingWaitSeconds ?? base.pollingWaitSeconds,
    visibilityTimeout: a.visibilityTimeout ?? base.visibilityTimeout,
    maxMsgSize: a.maxMsgSize ?? base.maxMsgSize,
    msgRetentionSeconds: a.msgRetentionSeconds ?? base.msgRetentionSeconds,
    rewindSeconds: a.rewindSeconds ?? base.rewindSeconds,
  };
}

function mergeSqs(base: SqsQueueSettings, a: QueueAttributesInput): SqsQueueSettings {
  const s = a.sqs;
  if (s === undefined) return base;
  return {
    delaySeconds: s.delaySeconds ?? base.delaySeconds,
    redriveAllowPolicy: s.redriveAllowPolicy === undefined ? base.redriveAllowPolicy : copyAllowPolicy(s.redriveAllowPolicy),
    fifo: s.fifo ?? base.fifo,
    contentBasedDeduplication: s.contentBasedDeduplication ?? base.contentBasedDeduplication,
    deduplicationScope: s.deduplicationScope ?? base.deduplicationScope,
    fifoThroughputLimit: s.fifoThroughputLimit ?? base.fifoThroughputLimit,
  };
}

function copyPolicy(p: DeadLetterPolicy): DeadLetterPolicy {
  const out: DeadLetterPolicy = { deadLetterQueue: p.deadLetterQueue, policy: p.policy };
  if (p.maxReceiveCount !== undefined) out.maxReceiveCount = p.maxReceiveCount;
  if (p.maxTimeToLive !== undefined) out.maxTimeToLive = p.maxTimeToLive;
  if (p.remote === true) out.remote = true;
  return out;
}

function page(queues: QueueState[], searchWord: string | undefined, offset: number, limit: number): QueueList {
  const word = searchWord?.toLowerCase() ?? '';
  const matches = queues.filter((q) => q.nameLower.includes(word)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    totalCount: matches.length,
    queueList: matches.slice(offset, offset + limit).map((q) => ({ queueId: q.queueId, queueName: q.name })),
  };
}

export class QueueStateMachine {
  /** By exact name (lookups); by lower-cased name (create conflicts); by number (schedule, handles). */
  private readonly byName = new Map<string, QueueState>();
  private readonly byLowerName = new Map<string, QueueState>();
  private readonly byNumber = new Map<number, QueueState>();
  /** (deadline, queueNumber); an entry is current iff the queue exists and its scheduledDeadlineMs matches. */
  private readonly schedule = new TimedIdHeap();
  private nextQueueNumber = 1;
  private appliedIndex = 0;
  private timeMs = 0;
  private quarantined = 0;
  private deadLetterMoves = 0;
  private deadLetterDrops = 0;
  /** The queues whose outbox holds dead letters for another set (QueueState.deadLetters). */
  private readonly outboxQueues = new Set<QueueState>();
  private readonly router: DeadLetterRouter = {
    deadLetter: (src, moved, nowMs) => this.deadLetter(src, moved, nowMs),
  };
  /** Publishing to a queue subscription is SendMessage of the raw bodies (no delay). */
  private readonly queueSink: QueueSink = {
    deliver: (queueName, entryIndex, nowMs, bodies) => {
      const q = this.byName.get(queueName);
      if (q === undefined) return false;
      // A FIFO queue refuses a publish (no group id): the delivery is dropped and counted.
      const ok = q.send(entryIndex, nowMs, 0, bodies).ok;
      if (ok) this.reschedule(q);
      return ok;
    },
  };
  private readonly topics: TopicRegistry;
  private readonly dedup = new DedupTable();
  private readonly redriver: Redriver;

  /** `ids`: the ids of the Raft group this state machine is the replica of (group 0 by default). */
  constructor(private readonly ids: GroupIds = GROUP_0_IDS) {
    this.topics = new TopicRegistry(this.queueSink, ids, this.dedup);
    this.redriver = new Redriver({
      ids,
      queue: (name) => this.byName.get(name),
      queueByNumber: (n) => this.byNumber.get(n),
      queues: () => this.byName.values(),
      isDeadLetterQueue: (q) => this.sourcesOf(q.name).length > 0,
      reschedule: (q) => this.reschedule(q),
      sendElsewhere: (q, destination, m, nowMs, origin, deadLetterSource) => this.sendElsewhere(q, destination, m, nowMs, true, origin, deadLetterSource),
    });
  }

  /** The Raft group this state machine belongs to, which every id it issues names. */
  get group(): GroupNumber {
    return this.ids.group;
  }

  get lastAppliedIndex(): number {
    return this.appliedIndex;
  }

  get lastTimeMs(): number {
    return this.timeMs;
  }

  /** Applies one log entry: carries time forward to timeMs, then executes its command. */
  apply(index: number, timeMs: number, payload: Uint8Array, metaLen: number): CommandResult {
    invariant(Number.isSafeInteger(index) && index > this.appliedIndex, `entry index ${index} after ${this.appliedIndex}`);
    invariant(Number.isFinite(timeMs) && timeMs >= this.timeMs, `entry time ${timeMs} before ${this.timeMs}`);
    const cmd = decodeCommand(payload, metaLen);
    this.appliedIndex = index;
    this.timeMs = timeMs;
    this.advanceTime(timeMs);
    this.topics.advanceTime(timeMs);
    this.dedup.expire(timeMs);
    return this.execute(cmd, index, timeMs);
  }

  private execute(cmd: DecodedCommand, index: number, nowMs: number): CommandResult {
    switch (cmd.kind) {
      case 'createQueue':
        return this.createQueue(cmd.queueName, cmd.attrs, index, nowMs);
      case 'setQueueAttributes':
        return this.setQueueAttributes(cmd.queueName, cmd.attrs, nowMs);
      case 'deleteQueue':
        return this.deleteQueue(cmd.queueName, cmd.ifEmpty === true, cmd.keptToo === true);
      case 'sendMessages': {
        const q = this.byName.get(cmd.queueName);
        if (q === undefined) return fail('queueNotExist');
        const duplicateOf = this.duplicatesOf(q, cmd.options, index, nowMs);
        const sent = q.send(index, nowMs, cmd.delaySeconds, cmd.bodies, cmd.options, duplicateOf);
        if (!sent.ok) return sent;
        cmd.options?.forEach((o, p) => {
          if (o.dedupId !== undefined && duplicateOf?.[p] === undefined) this.dedup.remember(queueScope(q.queueNumber), o.dedupId, { entryIndex: index, batchPos: p }, nowMs);
        });
        this.reschedule(q);
        return sent.sequenceNumbers === undefined
          ? { ok: true, kind: 'sendMessages', msgIds: sent.msgIds }
          : { ok: true, kind: 'sendMessages', msgIds: sent.msgIds, sequenceNumbers: sent.sequenceNumbers };
      }
      case 'receiveMessages': {
        const q = this.byName.get(cmd.queueName);
        if (q === undefined) return fail('queueNotExist');
        const messages = q.receive(nowMs, cmd.numOfMsg, cmd.seed, this.router, cmd.visibilitySeconds, cmd.attemptId);
        this.reschedule(q);
        return { ok: true, kind: 'receiveMessages', messages };
      }
      case 'deleteMessages': {
        const q = this.byName.get(cmd.queueName);
        if (q === undefined) return fail('queueNotExist');
        const failures = q.deleteMessages(nowMs, cmd.receiptHandles);
        this.reschedule(q);
        return { ok: true, kind: 'deleteMessages', failures };
      }
      case 'changeVisibility': {
        const q = this.byName.get(cmd.queueName);
        if (q === undefined) return fail('queueNotExist');
        const failures = q.changeVisibility(nowMs, cmd.entries);
        this.reschedule(q);
        return { ok: true, kind: 'changeVisibility', failures };
      }
      case 'purgeQueue': {
        const q = this.byName.get(cmd.queueName);
        if (q === undefined) return fail('queueNotExist');
        const purged = q.purge();
        this.reschedule(q);
        return { ok: true, kind: 'purgeQueue', purged };
      }
      case 'tagQueue': {
        const q = this.byName.get(cmd.queueName);
        if (q === undefined) return fail('queueNotExist');
        const added = Object.keys(cmd.tags).filter((k) => !q.tags.has(k)).length;
        if (q.tags.size + added > LIMITS.queueTagsMax) return fail('queueTagsFull');
        for (const [k, v] of Object.entries(cmd.tags)) q.tags.set(k, v);
        return { ok: true, kind: 'tagQueue' };
      }
      case 'untagQueue': {
        const q = this.byName.get(cmd.queueName);
        if (q === undefined) return fail('queueNotExist');
        for (const k of cmd.keys) q.tags.delete(k);
        return { ok: true, kind: 'untagQueue' };
      }
      case 'rewindQueue': {
        const q = this.byName.get(cmd.queueName);
        if (q === undefined) return fail('queueNotExist');
        const err = q.rewind(nowMs, cmd.startConsumeTimeSec);
        if (err !== undefined) return err;
        // Kept messages on their way to the set the queue moves to are rewound too: sent visible.
        q.deadLetters?.rewindKept(Math.max(cmd.startConsumeTimeSec * 1000, q.rewindFloorMs));
        this.reschedule(q);
        return { ok: true, kind: 'rewindQueue' };
      }
      case 'unbindDeadLetter': {
        const q = this.byName.get(cmd.queueName);
        if (q === undefined) return fail('queueNotExist');
        // Unbinding a queue without a policy succeeds: the caller's goal (no policy) holds.
        if (q.policy !== undefined) {
          q.policy = undefined;
          q.lastModifyTimeMs = nowMs;
          this.reschedule(q);
        }
        return { ok: true, kind: 'unbindDeadLetter' };
      }
      case 'quarantineMessage': {
        // Ignored when the queue or message is gone: there is nothing left to keep from delivery.
        const q = this.byName.get(cmd.queueName);
        if (q !== undefined && q.queueNumber === cmd.queueNumber && q.quarantine(cmd.seq)) {
          this.quarantined++;
          this.reschedule(q);
        }
        return { ok: true, kind: 'quarantineMessage' };
      }
      case 'tick':
        return { ok: true, kind: 'tick' };
      case 'relocateBodies':
        return this.relocateBodies(cmd.bodies, index);
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
        return this.topics.execute(cmd, index, nowMs);
      case 'moveMessages':
        if (cmd.kept === true) return this.redriver.moveKept(cmd.sourceQueue, cmd.maxMessages, nowMs);
        return this.redriver.moveMessages(cmd.sourceQueue, cmd.destinationQueue, cmd.maxMessages, cmd.taskHandle, nowMs, cmd.remoteDestination === true);
      case 'startMoveTask':
        return this.redriver.startMoveTask(cmd.sourceQueue, cmd.destinationQueue, cmd.maxPerSecond, index, nowMs, cmd.remoteDestination === true);
      case 'cancelMoveTask':
        return this.redriver.cancelMoveTask(cmd.taskHandle);
      case 'deadLetterSent':
        return this.deadLetterSent(cmd.queueName, cmd.msgId);
      case 'deadLetterFailed':
        return this.deadLetterFailed(cmd.queueName, cmd.msgId, cmd.gone, nowMs);
      default: {
        const never: never = cmd;
        throw new Error(`unknown command ${String(never)}`);
      }
    }
  }

  /**
   * Compaction (node/compaction.ts): every listed message still reading its body at exactly the old
   * place now reads the copy in this entry. Messages deleted, moved or relocated since the leader
   * looked are left alone, so proposing from a stale look is harmless. Nothing visible changes.
   */
  private relocateBodies(bodies: readonly DecodedRelocation[], index: number): CommandResult {
    let relocated = 0;
    let bytes = 0;
    for (const b of bodies) {
      let used = false;
      for (const m of b.messages) {
        const q = this.byNumber.get(m.queueNumber);
        if (q !== undefined && m.seq < q.store.nextSeq && q.relocateBody(m.seq, b.from, index, b.offset)) {
          relocated++;
          used = true;
        }
      }
      if (used) bytes += b.from.length;
    }
    return { ok: true, kind: 'relocateBodies', relocated, bytes };
  }

  /**
   * Visits live messages for compaction's census, a slice at a time: from `from` (queue number and
   * seq), at most `maxSlots` message slots; fn hears each live message's body location. Returns
   * where to continue, or undefined once every queue was visited. Reads only.
   */
  scanBodies(
    from: BodyScanCursor,
    maxSlots: number,
    fn: (queueNumber: number, seq: number, bodyEntry: number, offset: number, length: number, crc: number) => void,
  ): BodyScanCursor | undefined {
    const numbers = [...this.byNumber.keys()].filter((n) => n >= from.queueNumber).sort((a, b) => a - b);
    const budget = { slots: Math.max(1, maxSlots) };
    for (const n of numbers) {
      const start = n === from.queueNumber ? from.seq : 0;
      const next = this.byNumber.get(n)!.scanBodies(start, this.timeMs, budget, (seq, e, off, len, crc) => fn(n, seq, e, off, len, crc));
      if (next >= 0) return { queueNumber: n, seq: next };
      // Each queue costs at least a slot, so a slice over many empty queues still ends.
      if (--budget.slots <= 0) return { queueNumber: n + 1, seq: 0 };
    }
    return undefined;
  }

  /** Each pending http push's body (entry, length): they pin segments as queued messages do, and are not relocated. */
  forEachPushBody(fn: (entryIndex: number, length: number) => void): void {
    this.topics.forEachPushBody(fn);
    for (const q of this.outboxQueues) q.deadLetters?.forEachBody(fn);
  }

  /**
   * Per body of a send: the message an earlier send of the same dedupId made (within the window,
   * or earlier in this very send), or undefined; undefined in all when no body has an id.
   */
  private duplicatesOf(q: QueueState, options: readonly SendBodyOptions[] | undefined, index: number, nowMs: number): (DedupHit | undefined)[] | undefined {
    if (options === undefined || !options.some((o) => o.dedupId !== undefined)) return undefined;
    const inThisSend = new Map<string, number>();
    return options.map((o, p) => {
      if (o.dedupId === undefined) return undefined;
      const earlier = inThisSend.get(o.dedupId);
      if (earlier !== undefined) return { entryIndex: index, batchPos: earlier };
      const hit = this.dedup.find(queueScope(q.queueNumber), o.dedupId, nowMs);
      if (hit === undefined) inThisSend.set(o.dedupId, p);
      return hit;
    });
  }

  private createQueue(name: string, attrs: QueueAttributesInput, index: number, nowMs: number): CommandResult {
    if (this.byLowerName.has(name.toLowerCase())) return fail('queueExists');
    if (this.byName.size >= LIMITS.queueCountMax) return fail('queueLimit');
    const config = mergeConfig(DEFAULT_CONFIG, attrs);
    const policy = attrs.deadLetterPolicy ?? undefined;
    const err = this.validate(undefined, name, config, policy, attrs.sqs?.fifo ?? false);
    if (err !== undefined) return err;
    const tags = attrs.tags === undefined ? [] : Object.entries(attrs.tags);
    if (tags.length > LIMITS.queueTagsMax) return fail('queueTagsFull');
    const queueId = this.ids.queueId(index);
    const q = new QueueState(name, queueId, this.nextQueueNumber++, nowMs, nowMs, config, policy && copyPolicy(policy), this.ids);
    q.sqs = mergeSqs(q.sqs, attrs);
    if (q.sqs.fifo) q.enableFifo();
    for (const [k, v] of tags) q.tags.set(k, v);
    this.byName.set(name, q);
    this.byLowerName.set(q.nameLower, q);
    this.byNumber.set(q.queueNumber, q);
    return { ok: true, kind: 'createQueue', queueId };
  }

  private setQueueAttributes(name: string, attrs: QueueAttributesInput, nowMs: number): CommandResult {
    const q = this.byName.get(name);
    if (q === undefined) return fail('queueNotExist');
    if (attrs.sqs?.fifo !== undefined && attrs.sqs.fifo !== q.sqs.fifo) return fail('fifoImmutable');
    const config = mergeConfig(q.config, attrs);
    const policy = attrs.deadLetterPolicy === undefined ? q.policy : (attrs.deadLetterPolicy ?? undefined);
    const err = this.validate(q, name, config, policy, q.sqs.fifo);
    if (err !== undefined) return err;
    q.setRewindSeconds(config.rewindSeconds, nowMs);
    q.config = config;
    q.sqs = mergeSqs(q.sqs, attrs);
    if (config.rewindSeconds === 0) q.dropRewindArea();
    if (attrs.deadLetterPolicy !== undefined) {
      q.policy = policy && copyPolicy(policy);
      // A (re)set policy applies its TTL to every message from the oldest on.
      q.ttlCursor = 0;
    }
    q.lastModifyTimeMs = nowMs;
    // A shorter retention or a new TTL may already be due.
    q.processDue(nowMs, this.router);
    this.reschedule(q);
    return { ok: true, kind: 'setQueueAttributes', attributes: q.attributes() };
  }

  private deleteQueue(name: string, ifEmpty: boolean, keptToo: boolean): CommandResult {
    const q = this.byName.get(name);
    if (q === undefined) return fail('queueNotExist');
    if (this.sourcesOf(name).length > 0) return fail('dlqDeleteInUse');
    if (ifEmpty) {
      const held = q.visibleCount + q.inflightCount + q.delayedCount + (q.deadLetters?.size ?? 0) + (keptToo ? q.rewindCount : 0);
      if (held > 0) return fail('queueNotEmpty', undefined, `(${held} messages)`);
      // The emptied source of a move (node/queue-move.ts): a topic of this set that still enqueues
      // into it would drop what it delivers once it is gone; its subscription is made remote first.
      if (this.topics.deliversLocallyInto(name)) return fail('queueNotEmpty', undefined, '(a topic on this set delivers into it)');
    }
    this.redriver.queueDeleted(name);
    // Its dead letters still on their way to another set go with it, counted as dropped.
    if (q.deadLetters !== undefined) this.deadLetterDrops += q.deadLetters.size;
    this.outboxQueues.delete(q);
    this.byName.delete(name);
    this.byLowerName.delete(q.nameLower);
    this.byNumber.delete(q.queueNumber);
    return { ok: true, kind: 'deleteQueue' };
  }

  /** State-dependent checks shared by create (q undefined) and set (spec §2.6, §2.7). */
  private validate(q: QueueState | undefined, name: string, config: QueueConfig, policy: DeadLetterPolicy | undefined, fifo: boolean): ErrorResult | undefined {
    if (config.rewindSeconds > config.msgRetentionSeconds) return fail('rewindSecondsTooLarge');
    if (policy === undefined) return undefined;
    if (policy.deadLetterQueue === name) return fail('dlqPolicyParams', undefined, 'a queue cannot be its own dead-letter queue');
    if (policy.policy === 0 && policy.maxReceiveCount === undefined) return fail('dlqPolicyParams', undefined, 'policy 0 needs maxReceiveCount');
    if (policy.policy === 1 && (policy.maxTimeToLive === undefined || policy.maxTimeToLive >= config.msgRetentionSeconds)) {
      return fail('dlqPolicyParams', undefined, 'policy 1 needs maxTimeToLive < msgRetentionSeconds');
    }
    if (policy.remote === true) {
      // The dead-letter queue is on another set: the access layer checked it there (it exists, is
      // of this queue's kind, allows this queue, has no policy of its own, has room for another
      // source). What depends on this set only is checked here.
      if (q !== undefined && this.sourcesOf(q.name).length > 0) return fail('dlqNested', undefined, 'this queue is a dead-letter queue');
      return undefined;
    }
    const dlq = this.byName.get(policy.deadLetterQueue);
    if (dlq === undefined) return fail('dlqNotExist');
    const refused = deadLetterQueueRefusal(name, fifo, { hasPolicy: dlq.policy !== undefined, fifo: dlq.sqs.fifo, redriveAllowPolicy: dlq.sqs.redriveAllowPolicy });
    if (refused !== undefined) return refused;
    if (q !== undefined && this.sourcesOf(q.name).length > 0) return fail('dlqNested', undefined, 'this queue is a dead-letter queue');
    return deadLetterSourcesRefusal(this.sourcesOf(dlq.name).filter((s) => s !== q).length);
  }

  /** The queues whose dead-letter queue is `dlqName` on this set (not one of that name on another set). */
  private sourcesOf(dlqName: string): QueueState[] {
    const out: QueueState[] = [];
    for (const q of this.byName.values()) if (q.policy?.deadLetterQueue === dlqName && q.policy.remote !== true) out.push(q);
    return out;
  }

  /** The queues whose dead-letter queue is `dlqName` on another set. */
  private remoteSourcesOf(dlqName: string): QueueState[] {
    const out: QueueState[] = [];
    for (const q of this.byName.values()) if (q.policy?.deadLetterQueue === dlqName && q.policy.remote === true) out.push(q);
    return out;
  }

  private deadLetterSent(queueName: string, msgId: string): CommandResult {
    const q = this.byName.get(queueName);
    const sent = q?.deadLetters?.sent(msgId);
    if (sent !== undefined) {
      // A redrive's move was counted by its task when it left the queue.
      if (!sent.move) this.deadLetterMoves++;
      this.tidyOutbox(q!);
    }
    return { ok: true, kind: 'deadLetterSent', found: sent !== undefined };
  }

  private deadLetterFailed(queueName: string, msgId: string, gone: boolean, nowMs: number): CommandResult {
    const q = this.byName.get(queueName);
    const r = q?.deadLetters?.failed(msgId, gone, nowMs) ?? { outcome: 'unknown' as const };
    if (r.outcome === 'dropped') {
      this.deadLetterDrops++;
      this.tidyOutbox(q!);
    }
    return { ok: true, kind: 'deadLetterFailed', ...r };
  }

  private tidyOutbox(q: QueueState): void {
    if (q.deadLetters?.size !== 0) return;
    q.deadLetters = undefined;
    this.outboxQueues.delete(q);
  }

  /**
   * A message leaves `src` for its dead-letter queue: same body, same msgId, a new seq there,
   * enqueue time = now, dequeueCount 0. Moves ignore the DLQ's maxMsgHeapNum (refusing would
   * have to drop or keep redelivering the message). A missing DLQ drops the message; deleteQueue
   * refuses to delete a DLQ in use, so this is defensive.
   */
  private deadLetter(src: QueueState, moved: MovedMessage, nowMs: number): void {
    if (src.policy?.remote === true) {
      // Its dead-letter queue is on another set: the message waits in the outbox until the
      // leader has sent it there (dead-letter-outbox.ts).
      this.sendElsewhere(src, src.policy.deadLetterQueue, moved, nowMs, false);
      return;
    }
    const dlqName = src.policy?.deadLetterQueue;
    const dlq = dlqName === undefined ? undefined : this.byName.get(dlqName);
    if (dlq === undefined) {
      this.deadLetterDrops++;
      return;
    }
    this.redriver.recordDeadLetter(dlq, dlq.append(moved, nowMs, 0), src);
    this.deadLetterMoves++;
    this.reschedule(dlq);
  }

  /** `moved` has left `q` for `destination` on another set (a dead letter, or a redrive's `move`): into q's outbox. */
  private sendElsewhere(q: QueueState, destination: string, moved: MovedMessage, nowMs: number, move: boolean, origin?: MoveOrigin, deadLetterSource?: string): void {
    q.deadLetters ??= new DeadLetterOutbox();
    q.deadLetters.add(this.ids.msgId(moved.entryIndex, moved.batchPos & BATCH_POS_MASK), destination, moved, this.appliedIndex, nowMs, move, origin, deadLetterSource);
    this.outboxQueues.add(q);
  }

  private advanceTime(nowMs: number): void {
    while (this.schedule.peekTime() <= nowMs) {
      const t = this.schedule.peekTime();
      const q = this.byNumber.get(this.schedule.peekId());
      this.schedule.pop();
      if (q === undefined || q.scheduledDeadlineMs !== t) continue;
      q.scheduledDeadlineMs = Infinity;
      q.processDue(nowMs, this.router);
      this.reschedule(q);
      // Without this, a queue that fails to process its due work would spin here forever.
      invariant(q.scheduledDeadlineMs > nowMs, `queue ${q.name} still due after processing`);
    }
  }

  private reschedule(q: QueueState): void {
    if (this.byNumber.get(q.queueNumber) !== q) return;
    const d = q.nextDeadlineMs();
    if (d === q.scheduledDeadlineMs) return;
    q.scheduledDeadlineMs = d;
    if (d !== Infinity) this.schedule.push(d, q.queueNumber);
    if (this.schedule.size > 2 * this.byNumber.size + 64) this.schedule.retain((t, id) => this.isScheduled(t, id));
  }

  private isScheduled(t: number, queueNumber: number): boolean {
    return this.byNumber.get(queueNumber)?.scheduledDeadlineMs === t;
  }

  // ---- reads (as of the last applied entry) ----

  /** Earliest future time at which a time-driven transition happens anywhere. */
  nextDeadlineMs(): number | undefined {
    while (this.schedule.size > 0 && !this.isScheduled(this.schedule.peekTime(), this.schedule.peekId())) this.schedule.pop();
    const d = Math.min(this.schedule.peekTime(), this.topics.nextDeadlineMs());
    return d === Infinity ? undefined : d;
  }

  listQueues(searchWord: string | undefined, offset: number, limit: number): QueueList {
    return page([...this.byName.values()], searchWord, offset, limit);
  }

  listDeadLetterSourceQueues(dlqName: string, searchWord: string | undefined, offset: number, limit: number): QueueList | ErrorResult {
    if (!this.byName.has(dlqName)) return fail('queueNotExist');
    return page(this.sourcesOf(dlqName), searchWord, offset, limit);
  }

  /**
   * The queues here whose dead-letter queue `dlqName` is on another set (so it need not exist
   * here): with the dead-letter queue's own set's listDeadLetterSourceQueues, every source.
   */
  listRemoteDeadLetterSources(dlqName: string, searchWord: string | undefined, offset: number, limit: number): QueueList {
    return page(this.remoteSourcesOf(dlqName), searchWord, offset, limit);
  }

  /** The source queue's message move tasks, most recent first; queueNotExist if it does not exist. */
  listMoveTasks(sourceQueue: string): MoveTaskView[] | ErrorResult {
    return this.redriver.listMoveTasks(sourceQueue);
  }

  /** Every RUNNING move task (the leader's move loop proposes their moves). */
  runningMoveTasks(): MoveTaskView[] {
    return this.redriver.runningMoveTasks();
  }

  getQueueAttributes(queueName: string): QueueAttributes | undefined {
    return this.byName.get(queueName)?.attributes();
  }

  queueSettings(queueName: string): QueueSettings | undefined {
    const q = this.byName.get(queueName);
    if (q === undefined) return undefined;
    const c = q.config;
    return { pollingWaitSeconds: c.pollingWaitSeconds, visibilityTimeout: c.visibilityTimeout, maxMsgSize: c.maxMsgSize, fifo: q.fifo !== undefined };
  }

  /**
   * Messages receivable right now (as of the last applied time). Under dead-letter policy 0 some
   * of them may be moved instead of delivered, so a receive can still come back empty.
   */
  visibleCount(queueName: string): number {
    return this.byName.get(queueName)?.visibleCount ?? 0;
  }

  /** Every queue's attributes (for per-queue metrics, computed when asked rather than kept). */
  *eachQueueAttributes(): Generator<QueueAttributes> {
    for (const q of this.byName.values()) yield q.attributes();
  }

  stats(): BrokerStats {
    const messages = { visible: 0, inFlight: 0, delayed: 0, rewind: 0 };
    for (const q of this.byName.values()) {
      messages.visible += q.visibleCount;
      messages.inFlight += q.inflightCount;
      messages.delayed += q.delayedCount;
      messages.rewind += q.rewindCount;
    }
    return {
      queues: this.byName.size,
      messages,
      quarantined: this.quarantined,
      deadLetterMoves: this.deadLetterMoves,
      deadLetterDrops: this.deadLetterDrops,
      deadLetterPending: this.pendingDeadLetterCount(),
      dedup: { ids: this.dedup.size, evicted: this.dedup.evicted },
    };
  }

  /**
   * About how many bytes a snapshot now would write: the message chunks as the snapshot encodes
   * them (mostly empty ones sparse), plus a little per queue. Compaction weighs it against the
   * log space a snapshot would free.
   */
  estimatedSnapshotBytes(): number {
    let n = 1024;
    for (const q of this.byName.values()) {
      n += 512;
      for (const c of q.store.chunks) if (c !== undefined) n += chunkSnapshotBytes(c.capacity, c.live);
      // A FIFO queue's groups: a u32 in base64 per message, and its group ids.
      if (q.fifo !== undefined) n += 6 * (q.heldCount() + q.rewindCount) + 40 * q.fifo.groupCount;
    }
    return n;
  }

  /** Approximate bytes of the per-message index (columns and heaps), for memory budgeting. */
  indexBytes(): number {
    let n = this.schedule.capacityBytes();
    for (const q of this.byName.values()) n += q.indexBytes();
    return n;
  }

  /**
   * Sorted unique log entry indexes whose bodies may still be delivered: messages visible, in
   * flight, delayed or in a rewind area (inside the rewind window), and pending http pushes. Many messages may share one
   * entry (a batch, or a publish delivered to several queues); the entry stays live while any
   * of them does. Storage may reclaim any other entry once snapshotted.
   */
  liveEntryIndexes(): number[] {
    const all: number[] = [];
    for (const q of this.byName.values()) q.collectEntryIndexes(this.timeMs, all);
    this.topics.collectEntryIndexes(all);
    for (const q of this.outboxQueues) q.deadLetters?.forEachBody((e) => all.push(e));
    const sorted = Float64Array.from(all).sort();
    const out: number[] = [];
    for (let k = 0; k < sorted.length; k++) {
      const e = sorted[k]!;
      if (k === 0 || e !== sorted[k - 1]) out.push(e);
    }
    return out;
  }

  // ---- topic reads (as of the last applied entry) ----

  listTopics(searchWord: string | undefined, offset: number, limit: number): TopicList {
    return this.topics.listTopics(searchWord, offset, limit);
  }

  getTopicAttributes(topicName: string): TopicAttributes | undefined {
    return this.topics.getTopicAttributes(topicName);
  }

  /** The topic's maxMsgSize, for the API's early body-size check; undefined if no such topic. */
  topicMaxMsgSize(topicName: string): number | undefined {
    return this.topics.topicMaxMsgSize(topicName);
  }

  listSubscriptions(topicName: string, searchWord: string | undefined, offset: number, limit: number): SubscriptionList | ErrorResult {
    return this.topics.listSubscriptions(topicName, searchWord, offset, limit);
  }

  getSubscriptionAttributes(topicName: string, subscriptionName: string): SubscriptionAttributes | ErrorResult {
    return this.topics.getSubscriptionAttributes(topicName, subscriptionName);
  }

  /** HTTP pushes due at nowMs (the node's clock), earliest first; see TopicRegistry.duePushes. */
  duePushes(nowMs: number, limit: number): DuePush[] {
    return this.topics.duePushes(nowMs, limit);
  }

  /**
   * Dead letters for dead-letter queues on other sets whose send is due at nowMs (the node's
   * clock), earliest first, at most `limit`. One stays listed until its outcome is applied.
   */
  dueDeadLetters(nowMs: number, limit: number): DueDeadLetter[] {
    const due: DueDeadLetter[] = [];
    // By queue number, then the order of dead-lettering: the same on every replica and restore.
    const queues = [...this.outboxQueues].sort((a, b) => a.queueNumber - b.queueNumber);
    for (const q of queues) q.deadLetters?.collectDue(q.name, nowMs, due);
    due.sort((a, b) => a.nextAttemptMs - b.nextAttemptMs);
    return due.slice(0, limit);
  }

  /**
   * What the leader's delivery loop should attempt at nowMs: pushes (duePushes) and dead letters
   * for other sets (dueDeadLetters), earliest first, at most `limit`.
   */
  dueDeliveries(nowMs: number, limit: number): DueDelivery[] {
    const all: DueDelivery[] = [...this.topics.duePushes(nowMs, limit), ...this.dueDeadLetters(nowMs, limit)];
    // Stable: among equal times, pushes first, each list in its own order.
    all.sort((a, b) => a.nextAttemptMs - b.nextAttemptMs);
    return all.slice(0, limit);
  }

  /** When the next push or dead-letter send is due (not a state change, so not in nextDeadlineMs). */
  nextPushAttemptMs(): number | undefined {
    let d = this.topics.nextPushAttemptMs();
    for (const q of this.outboxQueues) d = Math.min(d, q.deadLetters?.nextAttemptMs() ?? Infinity);
    return d === Infinity ? undefined : d;
  }

  private pendingDeadLetterCount(): number {
    let n = 0;
    for (const q of this.outboxQueues) n += q.deadLetters?.size ?? 0;
    return n;
  }

  topicStats(): TopicCounters & { topics: number; pendingPushes: number } {
    return { topics: this.topics.topicCount(), pendingPushes: this.topics.pendingPushCount(), ...this.topics.counters };
  }

  // ---- snapshots ----

  /** The whole snapshot of the state now, in one buffer. */
  snapshot(): Uint8Array {
    return drainSnapshot(this.beginSnapshot());
  }

  /**
   * A snapshot of the state now, emitted a piece at a time while this machine goes on applying
   * (snapshot-capture.ts). `onLiveEntry` hears the log entries still live at this point.
   */
  beginSnapshot(onLiveEntry?: (entryIndex: number) => void): SnapshotCapture {
    return new SnapshotCapture(
      {
        lastAppliedIndex: this.appliedIndex,
        lastTimeMs: this.timeMs,
        nextQueueNumber: this.nextQueueNumber,
        quarantined: this.quarantined,
        deadLetterMoves: this.deadLetterMoves,
        deadLetterDrops: this.deadLetterDrops,
      },
      [...this.byName.values()],
      { counters: this.topics.counters, topics: this.topics.topicsInOrder() },
      this.dedup.entries(),
      onLiveEntry,
    );
  }

  static restore(data: Uint8Array, ids: GroupIds = GROUP_0_IDS): QueueStateMachine {
    const { header, queues, topics, dedup } = decodeSnapshot(data, ids);
    const sm = new QueueStateMachine(ids);
    sm.appliedIndex = header.lastAppliedIndex;
    sm.timeMs = header.lastTimeMs;
    sm.nextQueueNumber = header.nextQueueNumber;
    sm.quarantined = header.quarantined;
    sm.deadLetterMoves = header.deadLetterMoves;
    sm.deadLetterDrops = header.deadLetterDrops;
    for (const q of queues) {
      invariant(!sm.byLowerName.has(q.nameLower) && !sm.byNumber.has(q.queueNumber), `duplicate queue ${q.name} in snapshot`);
      sm.byName.set(q.name, q);
      sm.byLowerName.set(q.nameLower, q);
      sm.byNumber.set(q.queueNumber, q);
    }
    for (const q of queues) {
      sm.reschedule(q);
      if (q.deadLetters !== undefined) sm.outboxQueues.add(q);
    }
    Object.assign(sm.topics.counters, topics.counters);
    for (const { topic, subscriptions } of topics.topics) sm.topics.restoreTopic(topic, subscriptions);
    sm.dedup.restore(dedup);
    return sm;
  }
}
