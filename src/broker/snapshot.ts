// Binary snapshot of the state machine (decoded here, written by snapshot-capture.ts, a slice at a
// time): a small header, then per queue its attributes as JSON and
// its message chunks as raw column buffers (copied in bulk both ways). Heaps, counters and the
// schedule are derived data, rebuilt on restore, so the bytes depend only on the applied entries.
//
// Layout (little-endian):
//   "OCQS" u8 version
//   f64 lastAppliedIndex, f64 lastTimeMs, f64 nextQueueNumber, f64 quarantined,
//   f64 deadLetterMoves, f64 deadLetterDrops, u32 queueCount
//   per queue: str32 metaJson, u32 chunkCount, per chunk: f64 firstSeq, u32 capacity, then
//     (version ≥ 3) u32 0xffffffff and capacity × 62 bytes (the columns), or u32 live, live × u16
//     slot, and each column's values for those slots (a chunk mostly empty: the others are GONE);
//     (before version 3) capacity × 54 bytes, the columns without bodyEntry
//   (version ≥ 2) str32 topicsJson: topic counters, then topics in creation order, each with its
//   subscriptions in creation order and their pending pushes in publish order. Fields added since
//   (a subscription's `remoteQueue`, the counter `remoteQueueDeliveries`) are written only when
//   set and read as false / 0 when absent, so older snapshots load unchanged.
// Version 1 (no topics section) still loads, as a machine without topics; versions 1 and 2 load
// with every body in the entry that enqueued it. A FIFO queue's meta also holds the group of each
// of its messages not GONE (`fifoGroups`, FifoGroups.snapshotRows); meta without the FIFO settings
// (written before FIFO queues) loads as a standard queue. A queue whose dead-letter queue is on
// another set has `remote: true` in its policy and, while it has dead letters not yet sent, their
// rows (`deadLetters`, dead-letter-outbox.ts); both are written only when present, so a snapshot
// without them keeps its old bytes and older snapshots load unchanged. So are a FIFO queue's
// recent receives by attempt id (`receiveAttempts`, receive-attempts.ts): absent, none.

import type { GroupIds } from './ids';
import { BrokerFormatError, ByteReader } from './binary';
import { parseAllowPolicy, parseDeduplicationScope, parseThroughputLimit } from './codec';
import type { FifoGroupRows } from './fifo-groups';
import { DeadLetterOutbox, type DeadLetterRow } from './dead-letter-outbox';
import { ReceiveAttempts, type ReceiveAttemptRow } from './receive-attempts';
import { dedupKey, type DedupRow } from './dedup';
import type { DeadLetterPolicy } from './commands';
import { SQS_QUEUE_DEFAULTS, type SqsQueueSettings } from '../protocol/queue-types';
import { BYTES_PER_SLOT, BYTES_PER_SLOT_V2, CHUNK_SLOTS, Chunk, GONE } from './message-store';
import { copyAllowPolicy, QueueState, type QueueConfig } from './queue';
import { parseRedriveMeta, redriveMeta, type RedriveMeta } from './redrive';
import { isTopicFilterType, NOTIFY_CONTENT_FORMATS, NOTIFY_STRATEGIES, SUBSCRIPTION_PROTOCOLS } from '../protocol/topic-types';
import { SubscriptionState, TopicState, type PendingPush, type SubscriptionSettings, type TopicCounters } from './topics';

export const MAGIC = [0x4f, 0x43, 0x51, 0x53];
export const SNAPSHOT_VERSION = 5;
/** In place of a chunk's live count: the whole column buffer follows. */
export const DENSE_CHUNK = 0xffff_ffff;
const OLDEST_READABLE_VERSION = 1;

export interface TopicsSnapshot {
  counters: TopicCounters;
  topics: TopicState[];
}

export interface RestoredTopics {
  counters: TopicCounters;
  topics: { topic: TopicState; subscriptions: SubscriptionState[] }[];
}

export interface SnapshotHeader {
  lastAppliedIndex: number;
  lastTimeMs: number;
  nextQueueNumber: number;
  quarantined: number;
  deadLetterMoves: number;
  deadLetterDrops: number;
}

interface QueueMeta {
  name: string;
  queueId: string;
  queueNumber: number;
  createTimeMs: number;
  lastModifyTimeMs: number;
  config: QueueConfig;
  policy: DeadLetterPolicy | null;
  nextSeq: number;
  headSeq: number;
  ttlCursor: number;
  /** Absent in snapshots written before compaction (0: no floor). */
  rewindFloorMs: number;
  /** Absent in snapshots written before the SQS API (defaults, no tags). */
  sqs: SqsQueueSettings;
  tags: [string, string][];
  /** FIFO queues only: each message's group (in JSON: `of` as base64 of its little-endian u32s). */
  fifoGroups?: FifoGroupRows;
  /** Only on queues with dead-letter sources or move tasks (absent in older snapshots: none). */
  redrive?: RedriveMeta;
  /** Only on queues with dead letters pending for another set (absent in older snapshots: none). */
  deadLetters?: DeadLetterRow[];
  /** Only on FIFO queues with receives remembered by attempt id (absent in older snapshots: none). */
  receiveAttempts?: ReceiveAttemptRow[];
}

/** The meta as JSON: a FIFO queue's per-message groups as base64 (a million messages: 5.3 MB, a few ms). */
export function queueMetaJson(q: QueueState): string {
  const m = queueMeta(q);
  const f = m.fifoGroups;
  if (f === undefined) return JSON.stringify(m);
  return JSON.stringify({ ...m, fifoGroups: { groups: f.groups, of: Buffer.from(f.of.buffer, f.of.byteOffset, f.of.byteLength).toString('base64') } });
}

/** Cursor fields are written normalized (first live seq), so lazily advanced ones never differ. */
export function queueMeta(q: QueueState): QueueMeta {
  const store = q.store;
  const head = store.firstLiveFrom(store.headSeq);
  const c = q.config;
  return {
    name: q.name,
    queueId: q.queueId,
    queueNumber: q.queueNumber,
    createTimeMs: q.createTimeMs,
    lastModifyTimeMs: q.lastModifyTimeMs,
    config: {
      maxMsgHeapNum: c.maxMsgHeapNum,
      pollingWaitSeconds: c.pollingWaitSeconds,
      visibilityTimeout: c.visibilityTimeout,
      maxMsgSize: c.maxMsgSize,
      msgRetentionSeconds: c.msgRetentionSeconds,
      rewindSeconds: c.rewindSeconds,
    },
    policy: q.policy === undefined ? null : { ...q.policy },
    nextSeq: store.nextSeq,
    headSeq: head,
    ttlCursor: store.firstLiveFrom(Math.max(q.ttlCursor, head)),
    rewindFloorMs: q.rewindFloorMs,
    // Field by field, so the JSON (and the snapshot's bytes) never depends on how the object was built.
    sqs: {
      delaySeconds: q.sqs.delaySeconds,
      redriveAllowPolicy: copyAllowPolicy(q.sqs.redriveAllowPolicy),
      fifo: q.sqs.fifo,
      contentBasedDeduplication: q.sqs.contentBasedDeduplication,
      deduplicationScope: q.sqs.deduplicationScope,
      fifoThroughputLimit: q.sqs.fifoThroughputLimit,
    },
    tags: [...q.tags],
    ...(q.fifo === undefined ? {} : { fifoGroups: q.fifo.snapshotRows() }),
    redrive: redriveMeta(q.redrive),
    ...(q.deadLetters === undefined || q.deadLetters.size === 0 ? {} : { deadLetters: q.deadLetters.rows() }),
    ...(q.receiveAttempts === undefined || q.receiveAttempts.size === 0 ? {} : { receiveAttempts: q.receiveAttempts.rows() }),
  };
}

export function decodeSnapshot(data: Uint8Array, ids: GroupIds): { header: SnapshotHeader; queues: QueueState[]; topics: RestoredTopics; dedup: DedupRow[] } {
  const r = new ByteReader(data, 0, data.length);
  for (const b of MAGIC) if (r.u8() !== b) throw new BrokerFormatError('not a broker snapshot');
  const version = r.u8();
  if (version < OLDEST_READABLE_VERSION || version > SNAPSHOT_VERSION) throw new BrokerFormatError(`unsupported snapshot version ${version}`);
  const header: SnapshotHeader = {
    lastAppliedIndex: r.int(),
    lastTimeMs: r.f64(),
    nextQueueNumber: r.int(),
    quarantined: r.int(),
    deadLetterMoves: r.int(),
    deadLetterDrops: r.int(),
  };
  const n = r.u32();
  const queues: QueueState[] = [];
  for (let k = 0; k < n; k++) queues.push(readQueue(r, ids, version));
  const topics: RestoredTopics = version >= 2 ? parseTopics(r.longStr()) : { counters: { deliveryDrops: 0, pushDrops: 0, pushesDelivered: 0, remoteQueueDeliveries: 0 }, topics: [] };
  const dedup = version >= 5 ? readDedup(r) : version === 4 ? parseDedupJson(r.longStr()) : [];
  r.expectEnd('snapshot');
  return { header, queues, topics, dedup };
}

function readQueue(r: ByteReader, ids: GroupIds, version: number): QueueState {
  const m = parseMeta(r.longStr());
  const q = new QueueState(m.name, m.queueId, m.queueNumber, m.createTimeMs, m.lastModifyTimeMs, m.config, m.policy ?? undefined, ids);
  const store = q.store;
  store.nextSeq = m.nextSeq;
  store.headSeq = m.headSeq;
  q.ttlCursor = m.ttlCursor;
  q.rewindFloorMs = m.rewindFloorMs;
  q.sqs = m.sqs;
  if (m.sqs.fifo) {
    if (m.fifoGroups === undefined) throw new BrokerFormatError(`snapshot: FIFO queue ${m.name} without its groups`);
    q.enableFifo();
  }
  for (const [k, v] of m.tags) q.tags.set(k, v);
  if (m.deadLetters !== undefined) q.deadLetters = DeadLetterOutbox.fromRows(m.deadLetters, `queue ${m.name}`);
  if (m.receiveAttempts !== undefined) {
    if (!m.sqs.fifo) throw new BrokerFormatError(`snapshot: standard queue ${m.name} with receive attempts`);
    q.receiveAttempts = ReceiveAttempts.fromRows(m.receiveAttempts, `queue ${m.name}`);
  }
  if (m.redrive !== undefined) {
    try {
      q.redrive = parseRedriveMeta(m.redrive);
    } catch (e) {
      throw new BrokerFormatError(`snapshot: queue ${m.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const count = r.u32();
  for (let j = 0; j < count; j++) {
    const firstSeq = r.int();
    const capacity = r.u32();
    const valid = firstSeq % CHUNK_SLOTS === 0 && capacity >= 1 && capacity <= CHUNK_SLOTS && firstSeq < m.nextSeq;
    if (!valid) throw new BrokerFormatError(`bad chunk ${firstSeq}/${capacity}`);
    let chunk: Chunk;
    if (version < 3) chunk = Chunk.fromV2Layout(firstSeq, capacity, r.bytes(capacity * BYTES_PER_SLOT_V2));
    else {
      const live = r.u32();
      if (live === DENSE_CHUNK) {
        const bytes = r.bytes(capacity * BYTES_PER_SLOT);
        const buffer = new ArrayBuffer(bytes.length);
        new Uint8Array(buffer).set(bytes);
        chunk = new Chunk(firstSeq, capacity, buffer);
      } else chunk = readSparseChunk(r, firstSeq, capacity, live);
    }
    const chunkNo = firstSeq / CHUNK_SLOTS;
    if (j === 0) store.chunkBase = chunkNo;
    const slot = chunkNo - store.chunkBase;
    if (slot < store.chunks.length) throw new BrokerFormatError('chunks out of order');
    store.chunks[slot] = chunk;
  }
  for (let k = 0; k < store.chunks.length; k++) if (!(k in store.chunks)) store.chunks[k] = undefined;
  q.rebuildIndexes(m.fifoGroups);
  return q;
}

/** A chunk written as its live slots only (snapshot-capture.ts writeSparse); every other slot is GONE. */
function readSparseChunk(r: ByteReader, firstSeq: number, capacity: number, live: number): Chunk {
  if (live > capacity) throw new BrokerFormatError(`chunk ${firstSeq}: ${live} live slots of ${capacity}`);
  const slots: number[] = [];
  for (let k = 0; k < live; k++) {
    const i = r.u16();
    if (i >= capacity || (k > 0 && i <= slots[k - 1]!)) throw new BrokerFormatError(`chunk ${firstSeq}: bad slot ${i}`);
    slots.push(i);
  }
  const c = new Chunk(firstSeq, capacity);
  for (const col of c.f64Columns()) for (const i of slots) col[i] = r.f64();
  for (const col of c.u32Columns()) for (const i of slots) col[i] = r.u32();
  for (const col of c.u8Columns()) for (const i of slots) col[i] = r.u8();
  for (const i of slots) if (c.state[i] === GONE) throw new BrokerFormatError(`chunk ${firstSeq}: slot ${i} listed but GONE`);
  return c;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(o: Record<string, unknown>, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BrokerFormatError(`snapshot: ${key} must be a number`);
  return v;
}

function str(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new BrokerFormatError(`snapshot: ${key} must be a string`);
  return v;
}

function parseMeta(json: string): QueueMeta {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new BrokerFormatError('snapshot: queue meta is not JSON');
  }
  if (!isRecord(raw) || !isRecord(raw.config)) throw new BrokerFormatError('snapshot: bad queue meta');
  const c = raw.config;
  const p = raw.policy;
  let policy: DeadLetterPolicy | null = null;
  if (p !== null) {
    if (!isRecord(p) || (p.policy !== 0 && p.policy !== 1)) throw new BrokerFormatError('snapshot: bad policy');
    policy = { deadLetterQueue: str(p, 'deadLetterQueue'), policy: p.policy };
    if (p.maxReceiveCount !== undefined) policy.maxReceiveCount = num(p, 'maxReceiveCount');
    if (p.maxTimeToLive !== undefined) policy.maxTimeToLive = num(p, 'maxTimeToLive');
    // Written only when set (a dead-letter queue on another set); older snapshots have none.
    if (p.remote !== undefined) {
      if (p.remote !== true) throw new BrokerFormatError('snapshot: bad policy remote flag');
      policy.remote = true;
    }
  }
  return {
    name: str(raw, 'name'),
    queueId: str(raw, 'queueId'),
    queueNumber: num(raw, 'queueNumber'),
    createTimeMs: num(raw, 'createTimeMs'),
    lastModifyTimeMs: num(raw, 'lastModifyTimeMs'),
    config: {
      maxMsgHeapNum: num(c, 'maxMsgHeapNum'),
      pollingWaitSeconds: num(c, 'pollingWaitSeconds'),
      visibilityTimeout: num(c, 'visibilityTimeout'),
      maxMsgSize: num(c, 'maxMsgSize'),
      msgRetentionSeconds: num(c, 'msgRetentionSeconds'),
      rewindSeconds: num(c, 'rewindSeconds'),
    },
    policy,
    nextSeq: num(raw, 'nextSeq'),
    headSeq: num(raw, 'headSeq'),
    ttlCursor: num(raw, 'ttlCursor'),
    rewindFloorMs: raw.rewindFloorMs === undefined ? 0 : num(raw, 'rewindFloorMs'),
    sqs: raw.sqs === undefined ? { ...SQS_QUEUE_DEFAULTS } : parseSqsMeta(raw.sqs),
    tags: raw.tags === undefined ? [] : parseTags(raw.tags),
    ...(raw.fifoGroups === undefined ? {} : { fifoGroups: parseFifoGroups(raw.fifoGroups) }),
    redrive: raw.redrive as RedriveMeta | undefined,
    ...(raw.deadLetters === undefined ? {} : { deadLetters: raw.deadLetters as DeadLetterRow[] }),
    ...(raw.receiveAttempts === undefined ? {} : { receiveAttempts: raw.receiveAttempts as ReceiveAttemptRow[] }),
  };
}

function parseFifoGroups(v: unknown): FifoGroupRows {
  if (!isRecord(v)) throw new BrokerFormatError('snapshot: bad FIFO groups');
  const { groups, of } = v;
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) throw new BrokerFormatError('snapshot: bad FIFO group ids');
  if (typeof of !== 'string') throw new BrokerFormatError('snapshot: bad FIFO group rows');
  const bytes = Buffer.from(of, 'base64');
  if (bytes.length % 4 !== 0) throw new BrokerFormatError('snapshot: bad FIFO group rows');
  const rows = new Uint32Array(bytes.length / 4);
  new Uint8Array(rows.buffer).set(bytes);
  for (const k of rows) if (k >= groups.length) throw new BrokerFormatError('snapshot: FIFO group row out of range');
  return { groups, of: rows };
}

function parseSqsMeta(v: unknown): SqsQueueSettings {
  if (!isRecord(v)) throw new BrokerFormatError('snapshot: bad sqs settings');
  const p = v.redriveAllowPolicy;
  let redriveAllowPolicy: SqsQueueSettings['redriveAllowPolicy'] = null;
  if (p !== null && p !== undefined) {
    try {
      redriveAllowPolicy = parseAllowPolicy(p);
    } catch {
      throw new BrokerFormatError('snapshot: bad redrive allow policy');
    }
  }
  const d = SQS_QUEUE_DEFAULTS;
  const flag = (key: string, def: boolean): boolean => {
    const f = v[key];
    if (f === undefined) return def;
    if (typeof f !== 'boolean') throw new BrokerFormatError(`snapshot: ${key} must be a boolean`);
    return f;
  };
  const setting = <T>(key: string, parse: (x: unknown) => T, def: T): T => {
    if (v[key] === undefined) return def;
    try {
      return parse(v[key]);
    } catch {
      throw new BrokerFormatError(`snapshot: bad ${key}`);
    }
  };
  // Settings added with FIFO queues are absent from older snapshots: their defaults.
  return {
    delaySeconds: num(v, 'delaySeconds'),
    redriveAllowPolicy,
    fifo: flag('fifo', d.fifo),
    contentBasedDeduplication: flag('contentBasedDeduplication', d.contentBasedDeduplication),
    deduplicationScope: setting('deduplicationScope', parseDeduplicationScope, d.deduplicationScope),
    fifoThroughputLimit: setting('fifoThroughputLimit', parseThroughputLimit, d.fifoThroughputLimit),
  };
}

/** Version 5's deduplication ids: a count, then rows (see snapshot-capture.ts). */
function readDedup(r: ByteReader): DedupRow[] {
  const n = r.u32();
  const rows: DedupRow[] = [];
  for (let k = 0; k < n; k++) {
    const row: DedupRow = [r.longStr(), r.f64(), r.f64(), r.f64()];
    if (!row.slice(1).every((v) => Number.isFinite(v))) throw new BrokerFormatError('snapshot: bad deduplication ids');
    rows.push(row);
  }
  return rows;
}

/** Version 4 kept them as JSON: [scope, id, entryIndex, batchPos, expiresMs] each. */
function parseDedupJson(json: string): DedupRow[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new BrokerFormatError('snapshot: deduplication ids are not JSON');
  }
  const ok = (row: unknown): boolean =>
    Array.isArray(row) && row.length === 5 && typeof row[0] === 'string' && typeof row[1] === 'string' && [row[2], row[3], row[4]].every((n) => typeof n === 'number' && Number.isFinite(n));
  if (!Array.isArray(raw) || !raw.every(ok)) throw new BrokerFormatError('snapshot: bad deduplication ids');
  return (raw as [string, string, number, number, number][]).map(([scope, id, entryIndex, batchPos, expiresMs]) => [dedupKey(scope, id), entryIndex, batchPos, expiresMs]);
}

function parseTags(v: unknown): [string, string][] {
  if (!Array.isArray(v) || !v.every((t) => Array.isArray(t) && t.length === 2 && typeof t[0] === 'string' && typeof t[1] === 'string')) {
    throw new BrokerFormatError('snapshot: bad tags');
  }
  return v as [string, string][];
}

// ---- topics ----

/** A pending push as a compact row: [msgId, entryIndex, offset, length, crc, batchPos, publishMs, failed, nextMs, tags]. */
type PushRow = [string, number, number, number, number, number, number, number, number, string[]];

export function topicsMeta(t: TopicsSnapshot): unknown {
  const c = t.counters;
  return {
    counters: {
      deliveryDrops: c.deliveryDrops,
      pushDrops: c.pushDrops,
      pushesDelivered: c.pushesDelivered,
      ...(c.remoteQueueDeliveries !== 0 ? { remoteQueueDeliveries: c.remoteQueueDeliveries } : {}),
    },
    topics: t.topics.map((topic) => ({
      name: topic.name,
      topicId: topic.topicId,
      number: topic.number,
      createTimeMs: topic.createTimeMs,
      lastModifyTimeMs: topic.lastModifyTimeMs,
      maxMsgSize: topic.maxMsgSize,
      filterType: topic.filterType,
      subscriptions: [...topic.subscriptions.values()].map((sub) => ({
        name: sub.name,
        subscriptionId: sub.subscriptionId,
        number: sub.number,
        createTimeMs: sub.createTimeMs,
        lastModifyTimeMs: sub.lastModifyTimeMs,
        protocol: sub.settings.protocol,
        endpoint: sub.settings.endpoint,
        notifyStrategy: sub.settings.notifyStrategy,
        notifyContentFormat: sub.settings.notifyContentFormat,
        filterTags: sub.settings.filterTags,
        bindingKeys: sub.settings.bindingKeys,
        // Written only when set: a snapshot without remote queue subscriptions keeps its old form.
        ...(sub.remoteQueue ? { remoteQueue: true } : {}),
        pending: [...sub.pending].map(
          ([msgId, p]): PushRow => [msgId, p.entryIndex, p.bodyOffset, p.bodyLength, p.bodyCrc, p.batchPos, p.publishTimeMs, p.failedAttempts, p.nextAttemptMs, [...p.msgTags]],
        ),
      })),
    })),
  };
}

function arr(o: Record<string, unknown>, key: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new BrokerFormatError(`snapshot: ${key} must be an array`);
  return v;
}

function strings(o: Record<string, unknown>, key: string): string[] {
  const v = arr(o, key);
  if (!v.every((x) => typeof x === 'string')) throw new BrokerFormatError(`snapshot: ${key} must hold strings`);
  return v;
}

function oneOf<T extends string>(values: readonly T[], o: Record<string, unknown>, key: string): T {
  const v = values.find((x) => x === o[key]);
  if (v === undefined) throw new BrokerFormatError(`snapshot: bad ${key}`);
  return v;
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (!isRecord(v)) throw new BrokerFormatError(`snapshot: bad ${what}`);
  return v;
}

function parseTopics(json: string): RestoredTopics {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new BrokerFormatError('snapshot: topics are not JSON');
  }
  const root = record(raw, 'topics section');
  const c = record(root.counters, 'topic counters');
  return {
    counters: {
      deliveryDrops: num(c, 'deliveryDrops'),
      pushDrops: num(c, 'pushDrops'),
      pushesDelivered: num(c, 'pushesDelivered'),
      // Snapshots from before remote queue subscriptions existed have none.
      remoteQueueDeliveries: c.remoteQueueDeliveries === undefined ? 0 : num(c, 'remoteQueueDeliveries'),
    },
    topics: arr(root, 'topics').map((v) => parseTopic(record(v, 'topic'))),
  };
}

function parseTopic(t: Record<string, unknown>): { topic: TopicState; subscriptions: SubscriptionState[] } {
  const filterType = t.filterType;
  if (!isTopicFilterType(filterType)) throw new BrokerFormatError('snapshot: bad filterType');
  const topic = new TopicState(str(t, 'name'), str(t, 'topicId'), num(t, 'number'), num(t, 'createTimeMs'), num(t, 'lastModifyTimeMs'), num(t, 'maxMsgSize'), filterType);
  return { topic, subscriptions: arr(t, 'subscriptions').map((v) => parseSubscription(record(v, 'subscription'))) };
}

function parseSubscription(s: Record<string, unknown>): SubscriptionState {
  const settings: SubscriptionSettings = {
    protocol: oneOf(SUBSCRIPTION_PROTOCOLS, s, 'protocol'),
    endpoint: str(s, 'endpoint'),
    notifyStrategy: oneOf(NOTIFY_STRATEGIES, s, 'notifyStrategy'),
    notifyContentFormat: oneOf(NOTIFY_CONTENT_FORMATS, s, 'notifyContentFormat'),
    filterTags: strings(s, 'filterTags'),
    bindingKeys: strings(s, 'bindingKeys'),
  };
  // Absent in snapshots taken before remote queue subscriptions existed (and whenever false).
  const remote = s.remoteQueue ?? false;
  if (typeof remote !== 'boolean') throw new BrokerFormatError('snapshot: bad remoteQueue');
  const sub = new SubscriptionState(str(s, 'name'), str(s, 'subscriptionId'), num(s, 'number'), num(s, 'createTimeMs'), num(s, 'lastModifyTimeMs'), settings, remote);
  for (const row of arr(s, 'pending')) {
    const [msgId, push] = parsePush(row);
    if (sub.pending.has(msgId)) throw new BrokerFormatError(`snapshot: duplicate push ${msgId}`);
    sub.pending.set(msgId, push);
  }
  return sub;
}

function parsePush(row: unknown): [string, PendingPush] {
  if (!Array.isArray(row) || row.length !== 10) throw new BrokerFormatError('snapshot: bad pending push');
  const [msgId, ...rest] = row as unknown[];
  const tags = rest.pop();
  const n = rest.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (typeof msgId !== 'string' || n.length !== 8) throw new BrokerFormatError('snapshot: bad pending push');
  if (!Array.isArray(tags) || !tags.every((x) => typeof x === 'string')) throw new BrokerFormatError('snapshot: bad push tags');
  const [entryIndex, bodyOffset, bodyLength, bodyCrc, batchPos, publishTimeMs, failedAttempts, nextAttemptMs] = n as [number, number, number, number, number, number, number, number];
  return [msgId, { entryIndex, bodyOffset, bodyLength, bodyCrc, batchPos, msgTags: tags, publishTimeMs, failedAttempts, nextAttemptMs }];
}
