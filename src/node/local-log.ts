// A one-node CommitLog: an entry is committed when it is durable in the local WAL. Proposals made
// in one event-loop turn go to the WAL together, and the WAL's group commit lets one fdatasync
// cover everything that arrived while the previous one ran.

import type { SegmentedWal } from '../storage/wal';
import type { LogEntry } from '../storage/types';
import type { CommitLog } from './commit-log';

interface Pending<R> {
  entry: LogEntry;
  resolve: (result: R) => void;
  reject: (err: Error) => void;
}

export class LocalLog<R> implements CommitLog<R> {
  private nextIndex: number;
  private lastTimeMs: number;
  private batch: Pending<R>[] = [];
  private flushScheduled = false;
  private listener: ((entries: LogEntry[]) => R[]) | undefined;
  private failure: Error | undefined;
  /** Batches handed to the WAL, in order; committed strictly in this order. */
  private inFlight: { items: Pending<R>[]; durable: boolean }[] = [];

  constructor(
    private readonly wal: SegmentedWal,
    /** Time of the last entry in the log: entry times never go backwards. */
    lastTimeMs: number,
    private readonly now: () => number,
    private readonly term = 1,
  ) {
    this.nextIndex = wal.lastIndex() + 1;
    this.lastTimeMs = lastTimeMs;
  }

  onCommit(listener: (entries: LogEntry[]) => R[]): void {
    this.listener = listener;
  }

  lastIndex(): number {
    return this.nextIndex - 1;
  }

  propose(payload: Uint8Array, metaLen: number): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    const timeMs = Math.max(this.lastTimeMs, this.now());
    this.lastTimeMs = timeMs;
    const entry: LogEntry = { index: this.nextIndex++, term: this.term, kind: 'command', timeMs, metaLen, payload };
    return new Promise<R>((resolve, reject) => {
      this.batch.push({ entry, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const items = this.batch;
    this.batch = [];
    if (items.length === 0) return;
    const slot = { items, durable: false };
    this.inFlight.push(slot);
    this.wal.append(items.map((p) => p.entry)).then(
      () => {
        slot.durable = true;
        this.commitReady();
      },
      (err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** Commit durable batches in order (a later batch never overtakes an earlier one). */
  private commitReady(): void {
    while (this.inFlight.length > 0 && this.inFlight[0]!.durable) {
      const slot = this.inFlight.shift()!;
      const listener = this.listener;
      if (!listener) throw new Error('LocalLog: no commit listener');
      const results = listener(slot.items.map((p) => p.entry));
      slot.items.forEach((p, i) => p.resolve(results[i]!));
    }
  }

  private fail(err: Error): void {
    // A failed write or fsync leaves the log's durability unknown: refuse everything from now on.
    this.failure = err;
    for (const slot of this.inFlight) for (const p of slot.items) p.reject(err);
    for (const p of this.batch) p.reject(err);
    this.inFlight = [];
    this.batch = [];
  }

  async close(): Promise<void> {
    await this.wal.close();
  }
}
