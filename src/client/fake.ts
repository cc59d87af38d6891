// InMemoryCmq: an in-process stand-in for CmqClient, for users' unit tests. Same methods, same
// errors (CmqError with the server's codes), CMQ semantics kept simple but faithful: visibility
// timeout, per-receive receipt handles (only the latest one deletes), delay, 7000 "no message",
// long polling woken by sends, rewind, retention and dead-letter moves; topics and subscriptions
// with tag and routing-key filtering, publishing into queue subscriptions (./fake-topics.ts).
// Time comes from an injectable clock so tests can step past a visibility timeout without waiting.

import { FakeDedup } from './fake-dedup';
import { randomBytes } from 'node:crypto';
import { CmqError, CmqNetworkError } from './errors';
import { checkBatchBytes } from './fake-batch';
import { InMemoryTopics } from './fake-topics';
import type {
  BatchDeleteResult,
  CmqQueueApi,
  CmqTopicApi,
  CreateTopicOptions,
  PublishOptions,
  SubscribeOptions,
  SubscriptionAttributes,
  SubscriptionAttributesInput,
  SubscriptionList,
  TopicAttributes,
  TopicAttributesInput,
  TopicList,
  DeadLetterPolicy,
  ListOptions,
  Message,
  QueueAttributes,
  QueueAttributesInput,
  QueueAttributesRequest,
  QueueList,
  ReceiveOptions,
  RedriveOptions,
  SendOptions,
} from './types';
import type { ErrorName } from '../protocol/errors';
import { DEAD_LETTER_RANGES, LIMITS, QUEUE_ATTR_RANGES } from '../protocol/limits';
import { isValidResourceName } from '../protocol/names';

export interface InMemoryCmqOptions {
  /** Current time in milliseconds (default Date.now). Drives visibility, delay, retention, rewind. */
  now?: () => number;
  /** How often a waiting receive re-checks the queue, in real milliseconds (default 20). */
  pollIntervalMs?: number;
  /** Upper bound on the real time one receive waits, in milliseconds (default: the requested wait). */
  maxWaitMs?: number;
}

interface StoredMessage {
  seq: number;
  msgId: string;
  body: string;
  enqueueMs: number;
  /** Hidden (delayed or in flight) until this time. */
  visibleAtMs: number;
  dequeueCount: number;
  firstDequeueMs: number;
  /** The handle of the latest receive; only it deletes the message, and only before visibleAtMs. */
  handle: string | undefined;
  /** Deleted but kept for rewind (only while the queue's rewindSeconds > 0). */
  deleted: boolean;
  /** In a dead-letter queue: the number of the queue it was dead-lettered from. */
  source?: number;
}

type NumericAttrs = { [K in keyof typeof QUEUE_ATTR_RANGES]: number };

interface StoredQueue {
  number: number;
  queueId: string;
  name: string;
  attrs: NumericAttrs;
  deadLetterPolicy: DeadLetterPolicy | undefined;
  createMs: number;
  modifyMs: number;
  messages: StoredMessage[];
  waiters: Set<() => void>;
}

function fail(name: ErrorName, arg?: string): never {
  throw CmqError.fromName(name, arg);
}

export class InMemoryCmq implements CmqQueueApi, CmqTopicApi {
  private readonly now: () => number;
  private readonly pollIntervalMs: number;
  private readonly maxWaitMs: number | undefined;
  private readonly queues = new Map<string, StoredQueue>();
  private queueCounter = 0;
  private msgCounter = 0;
  private receiveCounter = 0;
  private readonly topics: InMemoryTopics;
  private readonly dedup = new FakeDedup();

  constructor(opts: InMemoryCmqOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.pollIntervalMs = opts.pollIntervalMs ?? 20;
    this.maxWaitMs = opts.maxWaitMs;
    this.topics = new InMemoryTopics({
      now: () => this.now(),
      run: (op) => this.run(op),
      nextMsgIds: (count) => Array.from({ length: count }, () => String(++this.msgCounter)),
      deliver: (queueName, bodies, msgIds) => this.deliver(queueName, bodies, msgIds),
      dedup: this.dedup,
    });
  }

  // ---- topics and subscriptions (./fake-topics.ts) ----

  createTopic(topicName: string, opts?: CreateTopicOptions): Promise<string> {
    return this.topics.createTopic(topicName, opts);
  }

  setTopicAttributes(topicName: string, attrs: TopicAttributesInput): Promise<void> {
    return this.topics.setTopicAttributes(topicName, attrs);
  }

  listTopics(opts?: ListOptions): Promise<TopicList> {
    return this.topics.listTopics(opts);
  }

  getTopicAttributes(topicName: string): Promise<TopicAttributes> {
    return this.topics.getTopicAttributes(topicName);
  }

  deleteTopic(topicName: string): Promise<void> {
    return this.topics.deleteTopic(topicName);
  }

  publishMessage(topicName: string, body: string | Buffer, opts?: PublishOptions): Promise<string> {
    return this.topics.publishMessage(topicName, body, opts);
  }

  batchPublishMessage(topicName: string, bodies: ReadonlyArray<string | Buffer>, opts?: PublishOptions): Promise<string[]> {
    return this.topics.batchPublishMessage(topicName, bodies, opts);
  }

  subscribe(topicName: string, subscriptionName: string, opts: SubscribeOptions): Promise<string> {
    return this.topics.subscribe(topicName, subscriptionName, opts);
  }

  listSubscriptions(topicName: string, opts?: ListOptions): Promise<SubscriptionList> {
    return this.topics.listSubscriptions(topicName, opts);
  }

  setSubscriptionAttributes(topicName: string, subscriptionName: string, attrs: SubscriptionAttributesInput): Promise<void> {
    return this.topics.setSubscriptionAttributes(topicName, subscriptionName, attrs);
  }

  getSubscriptionAttributes(topicName: string, subscriptionName: string): Promise<SubscriptionAttributes> {
    return this.topics.getSubscriptionAttributes(topicName, subscriptionName);
  }

  unsubscribe(topicName: string, subscriptionName: string): Promise<void> {
    return this.topics.unsubscribe(topicName, subscriptionName);
  }

  clearSubscriptionFilterTags(topicName: string, subscriptionName: string): Promise<void> {
    return this.topics.clearSubscriptionFilterTags(topicName, subscriptionName);
  }

  // ---- queues ----

  createQueue(queueName: string, attrs: QueueAttributesRequest = {}): Promise<string> {
    return this.run(() => {
      if (!isValidResourceName(queueName)) fail('queueNameFormat');
      checkAttrFields(attrs);
      checkShards(attrs.shards);
      const lower = queueName.toLowerCase();
      for (const q of this.queues.values()) if (q.name.toLowerCase() === lower) fail('queueExists');
      if (this.queues.size >= LIMITS.queueCountMax) fail('queueLimit');
      const defaults = Object.fromEntries(Object.entries(QUEUE_ATTR_RANGES).map(([k, r]) => [k, r.def])) as NumericAttrs;
      const merged = mergeAttrs(defaults, attrs);
      this.checkAttrState(queueName, merged, attrs.deadLetterPolicy ?? undefined);
      const now = this.now();
      const number = ++this.queueCounter;
      const q: StoredQueue = {
        number,
        queueId: `queue-${number}`,
        name: queueName,
        attrs: merged,
        deadLetterPolicy: attrs.deadLetterPolicy ? { ...attrs.deadLetterPolicy } : undefined,
        createMs: now,
        modifyMs: now,
        messages: [],
        waiters: new Set(),
      };
      this.queues.set(queueName, q);
      return q.queueId;
    });
  }

  listQueues(opts: ListOptions = {}): Promise<QueueList> {
    return this.run(() => this.page([...this.queues.values()], opts));
  }

  getQueueAttributes(queueName: string): Promise<QueueAttributes> {
    return this.run(() => {
      const q = this.queue(queueName);
      const now = this.now();
      let active = 0;
      let inactive = 0;
      let delayed = 0;
      let rewind = 0;
      let minMs = 0;
      for (const m of q.messages) {
        if (m.deleted) rewind++;
        else if (now >= m.visibleAtMs) active++;
        else if (m.dequeueCount === 0) delayed++;
        else inactive++;
        if (!m.deleted && (minMs === 0 || m.enqueueMs < minMs)) minMs = m.enqueueMs;
      }
      const out: QueueAttributes = {
        queueId: q.queueId,
        queueName: q.name,
        ...q.attrs,
        createTime: sec(q.createMs),
        lastModifyTime: sec(q.modifyMs),
        activeMsgNum: active,
        inactiveMsgNum: inactive,
        delayMsgNum: delayed,
        rewindMsgNum: rewind,
        minMsgTime: sec(minMs),
      };
      if (q.deadLetterPolicy !== undefined) out.deadLetterPolicy = { ...q.deadLetterPolicy };
      return out;
    });
  }

  setQueueAttributes(queueName: string, attrs: QueueAttributesRequest): Promise<void> {
    return this.run(() => {
      checkName(queueName);
      checkAttrFields(attrs);
      checkShards(attrs.shards);
      const q = this.queue(queueName);
      const merged = mergeAttrs(q.attrs, attrs);
      // As on the server, the policy in force after the change is checked, whether or not it changes.
      const policy = attrs.deadLetterPolicy === undefined ? q.deadLetterPolicy : (attrs.deadLetterPolicy ?? undefined);
      this.checkAttrState(queueName, merged, policy);
      q.attrs = merged;
      if (attrs.deadLetterPolicy === null) q.deadLetterPolicy = undefined;
      else if (attrs.deadLetterPolicy !== undefined) q.deadLetterPolicy = { ...attrs.deadLetterPolicy };
      if (q.attrs.rewindSeconds === 0) q.messages = q.messages.filter((m) => !m.deleted);
      q.modifyMs = this.now();
    });
  }

  deleteQueue(queueName: string): Promise<void> {
    return this.run(() => {
      const q = this.queue(queueName);
      if (this.sourcesOf(q.name).length > 0) fail('dlqDeleteInUse');
      this.queues.delete(queueName);
      for (const wake of q.waiters) wake();
    });
  }

  sendMessage(queueName: string, body: string | Buffer, opts: SendOptions = {}): Promise<string> {
    return this.run(() => {
      checkName(queueName);
      checkBatchBytes([body]);
      checkDelay(opts.delaySeconds ?? 0);
      const [id] = this.enqueueOnce(queueName, [body], opts);
      return id ?? '';
    });
  }

  batchSendMessage(queueName: string, bodies: ReadonlyArray<string | Buffer>, opts: SendOptions = {}): Promise<string[]> {
    return this.run(() => {
      // As CmqClient: an empty batch is answered without a request (so without any check).
      if (bodies.length === 0) return [];
      checkName(queueName);
      if (bodies.length > LIMITS.batchItemsMax) fail('batchSizeOutOfRange', 'msgBody');
      checkBatchBytes(bodies);
      checkDelay(opts.delaySeconds ?? 0);
      return this.enqueueOnce(queueName, bodies, opts);
    });
  }

  /** A send with a dedupId seen within the window answers the first msgIds (as the server). */
  private enqueueOnce(queueName: string, bodies: ReadonlyArray<string | Buffer>, opts: SendOptions): string[] {
    const q = this.queue(queueName);
    const scope = `q:${queueName}`;
    const first = this.dedup.recall(scope, opts.dedupId, this.now());
    if (first !== undefined) return first;
    const ids = this.enqueue(q, bodies, opts.delaySeconds ?? 0);
    this.dedup.remember(scope, opts.dedupId, ids, this.now());
    return ids;
  }

  async receiveMessage(queueName: string, opts: ReceiveOptions = {}): Promise<Message | undefined> {
    const [msg] = await this.receive(queueName, 1, opts);
    return msg;
  }

  batchReceiveMessage(queueName: string, numOfMsg: number, opts: ReceiveOptions = {}): Promise<Message[]> {
    if (!Number.isInteger(numOfMsg) || numOfMsg < 1 || numOfMsg > LIMITS.batchItemsMax) {
      return this.run(() => fail('paramOutOfRange', 'numOfMsg'));
    }
    return this.receive(queueName, numOfMsg, opts);
  }

  deleteMessage(queueName: string, receiptHandle: string): Promise<void> {
    return this.run(() => {
      if (!this.deleteOne(this.queue(queueName), receiptHandle)) fail('receiptHandleInvalid');
    });
  }

  batchDeleteMessage(queueName: string, receiptHandles: readonly string[]): Promise<BatchDeleteResult> {
    return this.run(() => {
      // As CmqClient: an empty batch is answered without a request (so without any check).
      if (receiptHandles.length === 0) return { failed: [] };
      const q = this.queue(queueName);
      if (receiptHandles.length > LIMITS.batchItemsMax) fail('batchSizeOutOfRange', 'receiptHandle');
      const invalid = CmqError.fromName('receiptHandleInvalid');
      const failed = receiptHandles
        .filter((h) => !this.deleteOne(q, h))
        .map((receiptHandle) => ({ receiptHandle, code: invalid.code, message: invalid.cmqMessage }));
      return { failed };
    });
  }

  rewindQueue(queueName: string, startConsumeTimeSec: number): Promise<void> {
    return this.run(() => {
      const q = this.queue(queueName);
      if (q.attrs.rewindSeconds === 0) fail('rewindDisabled');
      const now = this.now();
      const nowSec = sec(now);
      if (startConsumeTimeSec > nowSec || startConsumeTimeSec < nowSec - q.attrs.rewindSeconds) fail('rewindTimeInvalid');
      for (const m of q.messages) {
        // As on the server: deleted and in-flight messages come back; delayed ones stay delayed.
        const inFlight = m.dequeueCount > 0 && now < m.visibleAtMs;
        if (sec(m.enqueueMs) >= startConsumeTimeSec && (m.deleted || inFlight)) {
          m.deleted = false;
          m.visibleAtMs = now;
          m.handle = undefined;
        }
      }
      for (const wake of q.waiters) wake();
    });
  }

  unbindDeadLetterQueue(queueName: string): Promise<void> {
    return this.run(() => {
      const q = this.queue(queueName);
      // As on the server: unbinding a queue without a policy succeeds (no policy is the goal).
      if (q.deadLetterPolicy === undefined) return;
      q.deadLetterPolicy = undefined;
      q.modifyMs = this.now();
    });
  }

  listDeadLetterSourceQueues(deadLetterQueueName: string, opts: ListOptions = {}): Promise<QueueList> {
    return this.run(() => this.page(this.sourcesOf(this.queue(deadLetterQueueName).name), opts));
  }

  redriveDeadLetterQueue(deadLetterQueueName: string, opts: RedriveOptions = {}): Promise<number> {
    return this.run(() => {
      // In the server's order: the request's parameters, then the queues.
      checkName(deadLetterQueueName);
      const destName = opts.destinationQueue;
      if (destName !== undefined && destName !== '') checkName(destName);
      const max = opts.maxMessages ?? LIMITS.redriveMessagesMax;
      if (!Number.isInteger(max) || max < 1 || max > LIMITS.redriveMessagesMax) fail('paramOutOfRange', 'maxMessages');
      const q = this.queue(deadLetterQueueName);
      const dest = destName === undefined || destName === '' ? undefined : this.queue(destName);
      if (dest === q) fail('moveSameQueue');
      const now = this.now();
      const moved = new Set<StoredMessage>();
      for (const m of q.messages) {
        if (moved.size >= max) break;
        if (m.deleted || now < m.visibleAtMs) continue;
        // Back to its source: the queue of that number, if it still exists (a re-created one is another queue).
        const target = dest ?? [...this.queues.values()].find((x) => m.source !== undefined && x.number === m.source);
        if (target === undefined || target === q) continue;
        this.sweep(target);
        // As on the server: same msgId and body, enqueued afresh, whatever the target's maxMsgHeapNum.
        this.append(target, m.body, now, now, m.msgId);
        for (const wake of target.waiters) wake();
        moved.add(m);
      }
      q.messages = q.messages.filter((m) => !moved.has(m));
      return moved.size;
    });
  }

  // ---- internals ----

  /** Runs a synchronous operation as an async call, turning throws into rejections. */
  private run<T>(op: () => T): Promise<T> {
    try {
      return Promise.resolve(op());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private queue(name: string): StoredQueue {
    checkName(name);
    const q = this.queues.get(name);
    if (q === undefined) fail('queueNotExist');
    this.sweep(q);
    return q;
  }

  private sourcesOf(dlqName: string): StoredQueue[] {
    return [...this.queues.values()].filter((q) => q.deadLetterPolicy?.deadLetterQueue === dlqName);
  }

  private page(all: StoredQueue[], opts: ListOptions): QueueList {
    const word = opts.searchWord?.toLowerCase();
    const found = word === undefined || word === '' ? all : all.filter((q) => q.name.toLowerCase().includes(word));
    // Sorted by name (code-point order), as the server pages them: pages stay stable as queues come and go.
    const matching = [...found].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const offset = Math.max(0, opts.offset ?? 0);
    const limit = Math.min(LIMITS.listLimitMax, Math.max(0, opts.limit ?? LIMITS.listLimitDefault));
    return {
      totalCount: matching.length,
      queues: matching.slice(offset, offset + limit).map((q) => ({ queueId: q.queueId, queueName: q.name })),
    };
  }

  /** What depends on stored state, in the server's order (spec §2.6, §2.7). */
  private checkAttrState(queueName: string, attrs: NumericAttrs, policy: DeadLetterPolicy | undefined): void {
    if (attrs.rewindSeconds > attrs.msgRetentionSeconds) fail('rewindSecondsTooLarge');
    if (policy === undefined) return;
    if (policy.deadLetterQueue === queueName) fail('dlqPolicyParams');
    if (policy.policy === 1 && (policy.maxTimeToLive ?? 0) >= attrs.msgRetentionSeconds) fail('dlqPolicyParams');
    const dlq = this.queues.get(policy.deadLetterQueue);
    if (dlq === undefined) fail('dlqNotExist');
    if (dlq.deadLetterPolicy !== undefined || this.sourcesOf(queueName).length > 0) fail('dlqNested');
    const sources = this.sourcesOf(dlq.name).filter((q) => q.name !== queueName);
    if (sources.length >= LIMITS.deadLetterSourcesMax) fail('dlqBindTooMany');
  }

  /** Bodies and delay were checked by the caller (request checks come before the queue's own). */
  private enqueue(q: StoredQueue, bodies: ReadonlyArray<string | Buffer>, delaySeconds: number): string[] {
    const texts = bodies.map((b) => (typeof b === 'string' ? b : b.toString('utf8')));
    for (const t of texts) if (Buffer.byteLength(t) > q.attrs.maxMsgSize) fail('msgTooLarge');
    if (q.messages.filter((m) => !m.deleted).length + texts.length > q.attrs.maxMsgHeapNum) fail('heapFull');
    const now = this.now();
    const ids = texts.map((body) => this.append(q, body, now, now + delaySeconds * 1000));
    for (const wake of q.waiters) wake();
    return ids;
  }

  /** A new message; msgId: a published message keeps its topic msgId (as on the server). */
  private append(q: StoredQueue, body: string, enqueueMs: number, visibleAtMs: number, msgId?: string): string {
    const seq = ++this.msgCounter;
    const id = msgId ?? String(seq);
    q.messages.push({ seq, msgId: id, body, enqueueMs, visibleAtMs, dequeueCount: 0, firstDequeueMs: 0, handle: undefined, deleted: false });
    return id;
  }

  /** A publish into a queue subscription: dropped when the queue is missing or refuses (size, heap). */
  private deliver(queueName: string, bodies: readonly string[], msgIds: readonly string[]): void {
    const q = this.queues.get(queueName);
    if (q === undefined) return;
    this.sweep(q);
    if (bodies.some((b) => Buffer.byteLength(b) > q.attrs.maxMsgSize)) return;
    if (q.messages.filter((m) => !m.deleted).length + bodies.length > q.attrs.maxMsgHeapNum) return;
    const now = this.now();
    bodies.forEach((body, i) => this.append(q, body, now, now, msgIds[i]));
    for (const wake of q.waiters) wake();
  }

  /** Drops expired messages and applies the time-to-live dead-letter policy. */
  private sweep(q: StoredQueue): void {
    const now = this.now();
    const retentionMs = q.attrs.msgRetentionSeconds * 1000;
    const ttlPolicy = q.deadLetterPolicy?.policy === 1 ? q.deadLetterPolicy : undefined;
    q.messages = q.messages.filter((m) => {
      if (now - m.enqueueMs >= retentionMs) return false;
      if (!m.deleted && ttlPolicy?.maxTimeToLive !== undefined && now - m.enqueueMs >= ttlPolicy.maxTimeToLive * 1000) {
        return !this.moveToDeadLetter(q, ttlPolicy, m);
      }
      return true;
    });
  }

  /**
   * Appends a copy (same msgId, as on the server) to the dead-letter queue, remembering `src` for
   * redrive; false when that queue no longer exists.
   */
  private moveToDeadLetter(src: StoredQueue, policy: DeadLetterPolicy, m: StoredMessage): boolean {
    const dlq = this.queues.get(policy.deadLetterQueue);
    if (dlq === undefined) return false;
    const now = this.now();
    this.append(dlq, m.body, now, now, m.msgId);
    dlq.messages[dlq.messages.length - 1]!.source = src.number;
    for (const wake of dlq.waiters) wake();
    return true;
  }

  /** Takes up to `max` visible messages in order, issuing new handles. */
  private take(q: StoredQueue, max: number): Message[] {
    const now = this.now();
    const out: Message[] = [];
    const countPolicy = q.deadLetterPolicy?.policy === 0 ? q.deadLetterPolicy : undefined;
    const moved = new Set<StoredMessage>();
    for (const m of q.messages) {
      if (out.length >= max) break;
      if (m.deleted || now < m.visibleAtMs) continue;
      if (countPolicy?.maxReceiveCount !== undefined && m.dequeueCount >= countPolicy.maxReceiveCount) {
        if (this.moveToDeadLetter(q, countPolicy, m)) moved.add(m);
        continue;
      }
      m.dequeueCount++;
      if (m.firstDequeueMs === 0) m.firstDequeueMs = now;
      m.visibleAtMs = now + q.attrs.visibilityTimeout * 1000;
      m.handle = `${q.number}-${m.seq}-${++this.receiveCounter}-${randomBytes(6).toString('hex')}`;
      out.push({
        msgId: m.msgId,
        body: m.body,
        receiptHandle: m.handle,
        enqueueTime: sec(m.enqueueMs),
        firstDequeueTime: sec(m.firstDequeueMs),
        nextVisibleTime: sec(m.visibleAtMs),
        dequeueCount: m.dequeueCount,
      });
    }
    if (moved.size > 0) q.messages = q.messages.filter((m) => !moved.has(m));
    return out;
  }

  private deleteOne(q: StoredQueue, handle: string): boolean {
    const now = this.now();
    const i = q.messages.findIndex((m) => !m.deleted && m.handle === handle && now < m.visibleAtMs);
    const m = q.messages[i];
    if (m === undefined) return false;
    m.handle = undefined;
    if (q.attrs.rewindSeconds > 0) m.deleted = true;
    else q.messages.splice(i, 1);
    return true;
  }

  private async receive(queueName: string, max: number, opts: ReceiveOptions): Promise<Message[]> {
    checkName(queueName);
    const asked = opts.pollingWaitSeconds;
    if (asked !== undefined && (!Number.isInteger(asked) || asked < 0 || asked > LIMITS.pollingWaitSecondsMax)) {
      fail('paramOutOfRange', 'pollingWaitSeconds');
    }
    const waitSeconds = asked ?? this.queue(queueName).attrs.pollingWaitSeconds;
    const waitMs = Math.min(waitSeconds * 1000, this.maxWaitMs ?? Infinity);
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (opts.signal?.aborted === true) throw new CmqNetworkError('aborted', 'request aborted');
      const q = this.queue(queueName);
      const got = this.take(q, max);
      const left = deadline - Date.now();
      if (got.length > 0 || left <= 0) return got;
      await this.park(q, Math.min(left, this.pollIntervalMs), opts.signal);
    }
  }

  /** Waits until a send wakes the queue, `ms` pass, or the signal fires. */
  private park(q: StoredQueue, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        q.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      q.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

function checkName(queueName: string): void {
  if (!isValidResourceName(queueName)) fail('queueNameFormat');
}

function checkDelay(delaySeconds: number): void {
  if (!Number.isInteger(delaySeconds) || delaySeconds < 0 || delaySeconds > LIMITS.delaySecondsMax) {
    fail('paramOutOfRange', 'delaySeconds');
  }
}

/** `shards`: as a server without a cluster controller answers (one set, one shard per queue). */
function checkShards(shards: number | undefined): void {
  if (shards === undefined) return;
  if (!Number.isInteger(shards) || shards < 1 || shards > LIMITS.queueShardsMax) fail('paramOutOfRange', 'shards');
  if (shards > 1) fail('notEnoughSets', String(shards));
}

/** The request's own attribute fields, checked before anything stored (as the server parses them). */
function checkAttrFields(input: QueueAttributesInput): void {
  for (const key of Object.keys(QUEUE_ATTR_RANGES) as Array<keyof NumericAttrs>) {
    const v = input[key];
    if (v === undefined) continue;
    const range = QUEUE_ATTR_RANGES[key];
    if (!Number.isInteger(v) || v < range.min || v > range.max) fail('paramOutOfRange', key);
  }
  const p = input.deadLetterPolicy;
  if (p === undefined || p === null) return;
  if (typeof p.deadLetterQueue !== 'string') fail('dlqPolicyQueueMember');
  // A name that is not a valid queue name cannot exist.
  if (!isValidResourceName(p.deadLetterQueue)) fail('dlqNotExist');
  if (p.policy !== 0 && p.policy !== 1) fail('dlqPolicyPolicyMember');
  const isIn = (v: number | undefined, r: { min: number; max: number }): boolean => v !== undefined && Number.isInteger(v) && v >= r.min && v <= r.max;
  if (p.policy === 0 && !isIn(p.maxReceiveCount, DEAD_LETTER_RANGES.maxReceiveCount)) fail('dlqPolicyParams');
  if (p.policy === 1) {
    const ttl = p.maxTimeToLive;
    if (!isIn(ttl, DEAD_LETTER_RANGES.maxTimeToLive)) fail('dlqPolicyParams');
    // Only against a retention given in the same request; the stored one is checked with the state.
    if (input.msgRetentionSeconds !== undefined && (ttl ?? 0) >= input.msgRetentionSeconds) fail('dlqPolicyParams');
  }
}

function mergeAttrs(base: NumericAttrs, input: QueueAttributesInput): NumericAttrs {
  const out = { ...base };
  for (const key of Object.keys(QUEUE_ATTR_RANGES) as Array<keyof NumericAttrs>) {
    const v = input[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

function sec(ms: number): number {
  return Math.floor(ms / 1000);
}
