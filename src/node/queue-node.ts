// The node driver: wires the commit log, the queue state machine and the on-disk bodies into the
// QueueService the HTTP layer calls. It owns every timer (ticks, long polls, snapshots) and all
// I/O; the state machine stays pure and sees time only through log entries.

import { randomInt } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import type { DeliveredMessage, QueueService, ReceiveOutcome } from '../api/service';
import { encodeCommand } from '../broker/codec';
import type { Command, CommandResult, QueueAttributes, QueueList, ReceivedMessage } from '../broker/commands';
import { QueueStateMachine } from '../broker/state-machine';
import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { crc32c } from '../storage/crc32c';
import { SnapshotStore } from '../storage/snapshot-store';
import { WalCorruptionError, type LogEntry } from '../storage/types';
import { SegmentedWal, type WalOptions } from '../storage/wal';
import type { CommitLog } from './commit-log';
import { LocalLog } from './local-log';
import { ParkedReceives } from './long-poll';
import { PayloadCache } from './payload-cache';

export interface QueueNodeOptions {
  dataDir: string;
  /** fdatasync before acknowledging (default true). */
  fsync?: boolean;
  /** Wall clock in ms (injected for tests). */
  now?: () => number;
  /** 32-bit random numbers for receipt-handle seeds (injected for tests). */
  randomU32?: () => number;
  log?: (line: string) => void;
  /** Take a snapshot after this many applied entries (default 100,000). */
  snapshotEveryEntries?: number;
  segmentBytes?: number;
  /** Recent payloads kept in memory for receives (default 64 MiB). */
  payloadCacheBytes?: number;
  /** Called when the node can no longer guarantee durability (failed fsync, broken invariant). */
  onFatal?: (err: Error) => void;
  /** Fault injection for tests: runs before every fdatasync; throwing stands in for a failed one. */
  beforeDatasync?: (segment: string) => void;
}

export interface NodeStats {
  lastAppliedIndex: number;
  parkedReceives: number;
  inflightProposals: number;
  corruptBodies: number;
  snapshotsTaken: number;
  segmentsReleased: number;
  walBytes: number;
}

/** Part of an entry's payload, starting at payload offset `start`. */
interface EntrySpan {
  start: number;
  bytes: Buffer;
}

/**
 * Ticks are at least this far apart: deadlines (one per in-flight message) can be a millisecond
 * apart, and one tick entry per deadline would flood the log. A receive applies due transitions
 * of its own queue anyway; the tick only bounds how late an idle queue notices them.
 */
const TICK_MIN_INTERVAL_MS = 50;
const DEFAULT_SNAPSHOT_EVERY_ENTRIES = 100_000;
const DEFAULT_PAYLOAD_CACHE_BYTES = 64 * 1024 * 1024;

export class QueueNode implements QueueService {
  private readonly parked = new ParkedReceives();
  private readonly cache: PayloadCache;
  private readonly now: () => number;
  private readonly randomU32: () => number;
  private readonly log: (line: string) => void;
  private readonly snapshotEveryEntries: number;
  private inflight = 0;
  private closing = false;
  private fatal: Error | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private tickAtMs = Infinity;
  private tickInFlight = false;
  private lastTickMs = -Infinity;
  private entriesSinceSnapshot = 0;
  private snapshotRunning: Promise<void> | undefined;
  private readonly counters = { corruptBodies: 0, snapshotsTaken: 0, segmentsReleased: 0 };

  private constructor(
    private readonly sm: QueueStateMachine,
    private readonly wal: SegmentedWal,
    private readonly commitLog: CommitLog<CommandResult>,
    private readonly snapshots: SnapshotStore,
    private readonly opts: QueueNodeOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.randomU32 = opts.randomU32 ?? (() => randomInt(0, 2 ** 32 - 1));
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.snapshotEveryEntries = opts.snapshotEveryEntries ?? DEFAULT_SNAPSHOT_EVERY_ENTRIES;
    this.cache = new PayloadCache(opts.payloadCacheBytes ?? DEFAULT_PAYLOAD_CACHE_BYTES);
    commitLog.onCommit((entries) => this.applyCommitted(entries));
  }

  /** Recover from the latest snapshot plus the log after it, then start serving. */
  static async open(opts: QueueNodeOptions): Promise<QueueNode> {
    const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    await mkdir(opts.dataDir, { recursive: true });
    const snapshots = await SnapshotStore.open(path.join(opts.dataDir, 'snapshots'), { log });
    const latest = await snapshots.loadLatest();
    const sm = latest ? QueueStateMachine.restore(latest.data) : new QueueStateMachine();
    const walOpts: WalOptions = { fsync: opts.fsync ?? true, log };
    if (opts.segmentBytes !== undefined) walOpts.segmentBytes = opts.segmentBytes;
    if (opts.beforeDatasync) walOpts.hooks = { beforeDatasync: opts.beforeDatasync };
    const { wal, report } = await SegmentedWal.open(path.join(opts.dataDir, 'wal'), walOpts).catch((err: unknown) => {
      if (!(err instanceof WalCorruptionError)) throw err;
      throw new Error(
        `CORRUPTION: the write-ahead log in ${opts.dataDir} is damaged (${err.message}). ` +
          'Refusing to start rather than lose acknowledged messages: restore the data directory from a backup ' +
          'or move the damaged segment aside knowingly.',
      );
    });
    if (report.tornTailBytes > 0) log(`wal: dropped a torn tail of ${report.tornTailBytes} bytes (never acknowledged)`);
    for (const d of report.damagedBodies) {
      log(`wal: CORRUPTION: entry ${d.index} in ${d.segment} at offset ${d.fileOffset} has a damaged body part; its messages will be quarantined when read`);
    }
    if (wal.lastIndex() < sm.lastAppliedIndex) {
      throw new Error(`log ends at ${wal.lastIndex()} but the snapshot is at ${sm.lastAppliedIndex}: data directory is inconsistent`);
    }
    let lastTimeMs = sm.lastTimeMs;
    let replayed = 0;
    for await (const e of wal.entriesFrom(sm.lastAppliedIndex + 1)) {
      if (e.kind === 'command') sm.apply(e.index, e.timeMs, e.payload, e.metaLen);
      lastTimeMs = Math.max(lastTimeMs, e.timeMs);
      replayed++;
    }
    log(`recovered: snapshot at ${latest ? latest.index : 0}, replayed ${replayed} entries, last index ${wal.lastIndex()}`);
    const now = opts.now ?? Date.now;
    const commitLog = new LocalLog<CommandResult>(wal, lastTimeMs, now);
    const node = new QueueNode(sm, wal, commitLog, snapshots, opts);
    node.entriesSinceSnapshot = replayed;
    node.afterApply();
    return node;
  }

  // ---- QueueService ------------------------------------------------------------------------

  async submit(command: Command): Promise<CommandResult> {
    if (this.fatal) return fail('internalError', undefined, 'node stopped after a storage failure');
    if (this.closing) return fail('internalError', undefined, 'node is shutting down');
    if (this.inflight >= LIMITS.inflightProposalsMax) return fail('throttled');
    const { payload, metaLen } = encodeCommand(command);
    this.inflight++;
    try {
      return await this.commitLog.propose(payload, metaLen);
    } catch (err) {
      this.onFatal(err);
      return fail('internalError', undefined, 'the write could not be made durable');
    } finally {
      this.inflight--;
    }
  }

  async receive(queueName: string, numOfMsg: number, waitSeconds: number | undefined): Promise<ReceiveOutcome> {
    const settings = this.sm.queueSettings(queueName);
    if (!settings) return fail('queueNotExist');
    const waitMs = (waitSeconds ?? settings.pollingWaitSeconds) * 1000;
    const deadline = this.now() + waitMs;
    for (;;) {
      if (this.sm.visibleCount(queueName) > 0) {
        const r = await this.submit({ kind: 'receiveMessages', queueName, numOfMsg, seed: this.randomU32() });
        if (!r.ok) return r;
        if (r.kind !== 'receiveMessages') return fail('internalError');
        if (r.messages.length > 0) return this.readBodies(queueName, r.messages);
      }
      // A graceful shutdown cuts long polls short with the ordinary "no message" answer, which
      // every consumer loop already handles by polling again (elsewhere, after a failover).
      if (this.closing) return { ok: true, messages: [] };
      const remaining = deadline - this.now();
      if (remaining <= 0) return { ok: true, messages: [] };
      const parked = this.parked.park(queueName, remaining);
      if (!parked) return fail('internalError', undefined, 'too many receives are waiting');
      if (!(await parked)) return { ok: true, messages: [] };
      if (!this.sm.queueSettings(queueName)) return fail('queueNotExist');
    }
  }

  listQueues(searchWord: string | undefined, offset: number, limit: number): Promise<QueueList> {
    return Promise.resolve(this.sm.listQueues(searchWord, offset, limit));
  }

  getQueueAttributes(queueName: string): Promise<QueueAttributes | undefined> {
    return Promise.resolve(this.sm.getQueueAttributes(queueName));
  }

  listDeadLetterSourceQueues(
    deadLetterQueueName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
  ): Promise<QueueList | ErrorResult> {
    return Promise.resolve(this.sm.listDeadLetterSourceQueues(deadLetterQueueName, searchWord, offset, limit));
  }

  // ---- apply loop ----------------------------------------------------------------------------

  private applyCommitted(entries: LogEntry[]): CommandResult[] {
    const results: CommandResult[] = [];
    try {
      for (const e of entries) {
        // Only commands reach the state machine; noop and config entries are Raft's own.
        if (e.kind !== 'command') {
          results.push({ ok: true, kind: 'tick' });
          continue;
        }
        results.push(this.sm.apply(e.index, e.timeMs, e.payload, e.metaLen));
        if (e.payload.byteLength > e.metaLen) this.cache.put(e.index, e.payload);
      }
    } catch (err) {
      // A broken invariant: stop rather than serve a state we cannot trust; restart recovers.
      this.onFatal(err);
      while (results.length < entries.length) results.push(fail('internalError'));
      return results;
    }
    this.entriesSinceSnapshot += entries.length;
    this.afterApply();
    return results;
  }

  /** Wake long polls that can now be served, schedule the next tick, snapshot when due. */
  private afterApply(): void {
    for (const q of [...this.parked.queuesWithWaiters()]) {
      if (!this.sm.queueSettings(q)) this.parked.wake(q, Infinity);
      else {
        const n = this.sm.visibleCount(q);
        if (n > 0) this.parked.wake(q, n);
      }
    }
    this.scheduleTick();
    if (this.entriesSinceSnapshot >= this.snapshotEveryEntries && !this.snapshotRunning && !this.closing) {
      void this.snapshotNow();
    }
  }

  private scheduleTick(): void {
    const deadline = this.sm.nextDeadlineMs();
    if (deadline === undefined || this.closing || this.fatal) return;
    const due = Math.max(deadline, this.lastTickMs + TICK_MIN_INTERVAL_MS);
    if (this.tickTimer && due >= this.tickAtMs) return;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickAtMs = due;
    // +1 ms: entry time must be strictly past the deadline when the tick is applied.
    const delay = Math.max(0, due - this.now() + 1);
    this.tickTimer = setTimeout(() => {
      this.tickTimer = undefined;
      this.tickAtMs = Infinity;
      if (this.tickInFlight) return;
      this.tickInFlight = true;
      this.lastTickMs = this.now();
      void this.submit({ kind: 'tick' }).finally(() => {
        this.tickInFlight = false;
        this.scheduleTick();
      });
    }, Math.min(delay, 2 ** 31 - 1));
  }

  // ---- bodies ------------------------------------------------------------------------------

  private async readBodies(queueName: string, messages: ReceivedMessage[]): Promise<ReceiveOutcome> {
    const spans = await this.readSpans(messages);
    const delivered: DeliveredMessage[] = [];
    for (const m of messages) {
      const body = this.checkedBody(m, spans.get(m.body.entryIndex));
      if (body) delivered.push({ ...m, bodyBytes: body });
      else await this.submit({ kind: 'quarantineMessage', queueName, queueNumber: m.queueNumber, seq: m.seq });
    }
    if (delivered.length === 0) {
      return fail('receiveFailed', undefined, 'message body failed its checksum and was quarantined');
    }
    return { ok: true, messages: delivered };
  }

  /**
   * The bytes of each entry that holds a body of these messages, one read per entry (a batch
   * receive usually takes consecutive bodies of one batch send). Recent entries come from memory.
   */
  private async readSpans(messages: ReceivedMessage[]): Promise<Map<number, EntrySpan | Error>> {
    const wanted = new Map<number, { lo: number; hi: number }>();
    for (const { body } of messages) {
      const w = wanted.get(body.entryIndex);
      if (w) {
        w.lo = Math.min(w.lo, body.offset);
        w.hi = Math.max(w.hi, body.offset + body.length);
      } else wanted.set(body.entryIndex, { lo: body.offset, hi: body.offset + body.length });
    }
    const spans = new Map<number, EntrySpan | Error>();
    await Promise.all(
      [...wanted].map(async ([index, { lo, hi }]) => {
        const cached = this.cache.get(index);
        if (cached) {
          spans.set(index, { start: 0, bytes: Buffer.from(cached.buffer, cached.byteOffset, cached.byteLength) });
          return;
        }
        try {
          spans.set(index, { start: lo, bytes: await this.wal.readSlice(index, lo, hi - lo) });
        } catch (err) {
          spans.set(index, err instanceof Error ? err : new Error(String(err)));
        }
      }),
    );
    return spans;
  }

  /** The message's body checked against its CRC32C; undefined (and reported) when damaged or missing. */
  private checkedBody(m: ReceivedMessage, span: EntrySpan | Error | undefined): Buffer | undefined {
    const ref = m.body;
    if (span === undefined || span instanceof Error) {
      this.counters.corruptBodies++;
      this.log(`CORRUPTION: message ${m.msgId} (entry ${ref.entryIndex}) could not be read: ${String(span)}; quarantined`);
      return undefined;
    }
    const from = ref.offset - span.start;
    const body = span.bytes.subarray(from, from + ref.length);
    if (body.length !== ref.length || crc32c(body) !== ref.crc32c) {
      this.counters.corruptBodies++;
      this.log(`CORRUPTION: message ${m.msgId} (entry ${ref.entryIndex}) failed its CRC32C check; quarantined, not delivered`);
      return undefined;
    }
    return body;
  }

  // ---- snapshots and reclamation -------------------------------------------------------------

  /** Snapshot the state machine, then delete log segments nobody needs any more. */
  snapshotNow(): Promise<void> {
    if (this.snapshotRunning) return this.snapshotRunning;
    const index = this.sm.lastAppliedIndex;
    const data = this.sm.snapshot();
    const live = this.sm.liveEntryIndexes();
    this.entriesSinceSnapshot = 0;
    this.snapshotRunning = (async () => {
      try {
        await this.snapshots.save({ index, term: 1 }, data);
        this.counters.snapshotsTaken++;
        const released = await this.wal.releaseSegments((first, last) => anyInRange(live, first, last), index + 1);
        this.counters.segmentsReleased += released;
      } catch (err) {
        this.log(`snapshot at ${index} failed: ${String(err)}`);
      } finally {
        this.snapshotRunning = undefined;
      }
    })();
    return this.snapshotRunning;
  }

  stats(): NodeStats {
    return {
      lastAppliedIndex: this.sm.lastAppliedIndex,
      parkedReceives: this.parked.size,
      inflightProposals: this.inflight,
      corruptBodies: this.counters.corruptBodies,
      snapshotsTaken: this.counters.snapshotsTaken,
      segmentsReleased: this.counters.segmentsReleased,
      walBytes: this.wal.diskBytes(),
    };
  }

  /** Stop serving: answer parked receives, wait for writes in flight, snapshot, close the log. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.parked.wakeAll();
    while (this.inflight > 0) await new Promise((r) => setTimeout(r, 5));
    if (this.snapshotRunning) await this.snapshotRunning;
    // A snapshot at shutdown makes the next start-up replay nothing.
    if (!this.fatal && this.entriesSinceSnapshot > 0) await this.snapshotNow();
    await this.commitLog.close();
  }

  private onFatal(err: unknown): void {
    if (this.fatal) return;
    this.fatal = err instanceof Error ? err : new Error(String(err));
    this.log(`FATAL: ${this.fatal.stack ?? this.fatal.message}`);
    this.opts.onFatal?.(this.fatal);
  }
}

/** True when the sorted array holds a value in [lo, hi]. */
function anyInRange(sorted: number[], lo: number, hi: number): boolean {
  let a = 0;
  let b = sorted.length;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (sorted[mid]! < lo) a = mid + 1;
    else b = mid;
  }
  return a < sorted.length && sorted[a]! <= hi;
}
