// Binary snapshot of the state machine: a small header, then per queue its attributes as JSON and
// its message chunks as raw column buffers (copied in bulk both ways). Heaps, counters and the
// schedule are derived data, rebuilt on restore, so the bytes depend only on the applied entries.
//
// Layout (little-endian):
//   "OCQS" u8 version
//   f64 lastAppliedIndex, f64 lastTimeMs, f64 nextQueueNumber, f64 quarantined,
//   f64 deadLetterMoves, f64 deadLetterDrops, u32 queueCount
//   per queue: str32 metaJson, u32 chunkCount, per chunk: f64 firstSeq, u32 capacity, capacity × 54 bytes

import { BrokerFormatError, ByteReader, ByteWriter, utf8Bytes } from './binary';
import type { DeadLetterPolicy } from './commands';
import { BYTES_PER_SLOT, CHUNK_SLOTS, Chunk } from './message-store';
import { QueueState, type QueueConfig } from './queue';

const MAGIC = [0x4f, 0x43, 0x51, 0x53];
export const SNAPSHOT_VERSION = 1;

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
}

/** Cursor fields are written normalized (first live seq), so lazily advanced ones never differ. */
function queueMeta(q: QueueState): QueueMeta {
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
  };
}

export function encodeSnapshot(header: SnapshotHeader, queues: QueueState[]): Uint8Array {
  const sorted = [...queues].sort((a, b) => a.queueNumber - b.queueNumber);
  const metas = sorted.map((q) => utf8Bytes(JSON.stringify(queueMeta(q))));
  let size = 4 + 1 + 6 * 8 + 4;
  sorted.forEach((q, k) => {
    size += 4 + metas[k]!.length + 4;
    for (const c of q.store.chunks) if (c !== undefined) size += 12 + c.buffer.byteLength;
  });
  const w = new ByteWriter(size);
  for (const b of MAGIC) w.u8(b);
  w.u8(SNAPSHOT_VERSION);
  w.f64(header.lastAppliedIndex);
  w.f64(header.lastTimeMs);
  w.f64(header.nextQueueNumber);
  w.f64(header.quarantined);
  w.f64(header.deadLetterMoves);
  w.f64(header.deadLetterDrops);
  w.u32(sorted.length);
  sorted.forEach((q, k) => {
    const meta = metas[k]!;
    w.u32(meta.length);
    w.bytes(meta);
    const chunks = q.store.chunks.filter((c): c is Chunk => c !== undefined);
    w.u32(chunks.length);
    for (const c of chunks) {
      w.f64(c.firstSeq);
      w.u32(c.capacity);
      w.bytes(new Uint8Array(c.buffer));
    }
  });
  if (w.pos !== size) throw new Error(`snapshot size mismatch: ${w.pos} != ${size}`);
  return w.finish();
}

export function decodeSnapshot(data: Uint8Array): { header: SnapshotHeader; queues: QueueState[] } {
  const r = new ByteReader(data, 0, data.length);
  for (const b of MAGIC) if (r.u8() !== b) throw new BrokerFormatError('not a broker snapshot');
  const version = r.u8();
  if (version !== SNAPSHOT_VERSION) throw new BrokerFormatError(`unsupported snapshot version ${version}`);
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
  for (let k = 0; k < n; k++) queues.push(readQueue(r));
  r.expectEnd('snapshot');
  return { header, queues };
}

function readQueue(r: ByteReader): QueueState {
  const m = parseMeta(r.longStr());
  const q = new QueueState(m.name, m.queueId, m.queueNumber, m.createTimeMs, m.lastModifyTimeMs, m.config, m.policy ?? undefined);
  const store = q.store;
  store.nextSeq = m.nextSeq;
  store.headSeq = m.headSeq;
  q.ttlCursor = m.ttlCursor;
  const count = r.u32();
  for (let j = 0; j < count; j++) {
    const firstSeq = r.int();
    const capacity = r.u32();
    const valid = firstSeq % CHUNK_SLOTS === 0 && capacity >= 1 && capacity <= CHUNK_SLOTS && firstSeq < m.nextSeq;
    if (!valid) throw new BrokerFormatError(`bad chunk ${firstSeq}/${capacity}`);
    const bytes = r.bytes(capacity * BYTES_PER_SLOT);
    const buffer = new ArrayBuffer(bytes.length);
    new Uint8Array(buffer).set(bytes);
    const chunkNo = firstSeq / CHUNK_SLOTS;
    if (j === 0) store.chunkBase = chunkNo;
    const slot = chunkNo - store.chunkBase;
    if (slot < store.chunks.length) throw new BrokerFormatError('chunks out of order');
    store.chunks[slot] = new Chunk(firstSeq, capacity, buffer);
  }
  for (let k = 0; k < store.chunks.length; k++) if (!(k in store.chunks)) store.chunks[k] = undefined;
  q.rebuildIndexes();
  return q;
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
  };
}
