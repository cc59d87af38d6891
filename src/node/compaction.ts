// Compaction: disk follows the live messages, not the traffic that went through the log.
//
// A message body lives in the log entry that enqueued it, and a log segment can be deleted only
// once no live message (visible, in flight, delayed, or kept for rewind) reads its body from it. A
// few slow or stuck messages would otherwise pin every segment they are scattered over until
// retention ends. Compaction copies them forward:
//
// 1. Census (every member, every `censusIntervalMs`): a sliced walk over the state machine's live
//    messages (broker scanBodies) sums the live body bytes held by each closed segment, counted
//    as `opencmq wal verify` counts them offline (segment-census.ts).
// 2. Relocation (the leader only): closed segments whose live bytes are below `liveRatio` of their
//    size and have settled (about as many live bytes as at the previous census: one being drained
//    by a consumer frees itself, copying it would be wasted), have their live bodies read
//    back (checked against their CRC32C, from another replica if the local copy is damaged) and
//    proposed in `relocateBodies` entries of bounded size, one at a time and paced. Every member
//    applies them, so every member's state machine points those messages at the new entry, and
//    snapshot transfer (which ships the log runs holding live bodies) needs nothing new.
// 3. Reclaim (every member): when the census finds closed segments without a live body worth more
//    than a snapshot costs, the member takes a snapshot, whose segment release deletes them.
//
// A crash at any point loses nothing: until a relocation entry is applied nothing changed; after,
// the old segments go only through the ordinary snapshot-then-release path. Relocation goes
// through the log like any command, so the simulator and the fault tests see it as they see sends.

import type { BodyRef, Command, CommandResult, RelocatedBody } from '../broker/commands';
import { RELOCATE_COUNT_MAX } from '../broker/codec';
import type { BodyScanCursor, QueueStateMachine } from '../broker/state-machine';
import type { Logger } from '../protocol/log';
import { unrefTimer } from '../runtime/node-runtime';
import type { Runtime, TimerHandle } from '../runtime/timers';
import { spanIndexOf, type EntrySpan } from './live-segments';
import type { ServingState } from './group-snapshots';
import { censusPushes, censusSlice, reclaimableBytes, SegmentTally, sparseSegments } from './segment-census';

export interface CompactionSettings {
  /** A closed segment whose live body bytes are below this fraction of its size is compacted; 0 turns compaction off. */
  liveRatio: number;
  /** How often the census runs. */
  censusIntervalMs: number;
}

export const DEFAULT_COMPACTION: CompactionSettings = { liveRatio: 0.5, censusIntervalMs: 10_000 };

/**
 * The census takes at most this share of the event loop: with a large backlog (it costs about
 * 45 ms per million queued messages) censuses are spaced further apart than censusIntervalMs.
 */
const CENSUS_DUTY_MAX = 0.02;
/** Message slots one census slice visits before yielding to the event loop (a few ms). */
const CENSUS_SLICE_SLOTS = 50_000;
/**
 * Body bytes one relocation entry carries at most (a single larger body goes alone): about two
 * batch sends' worth, so one never holds up the replication and fsync of the requests around it.
 * (256 KiB entries at 16 MiB/s, read in parallel, were seen with a p99 of 238 ms for sends at half
 * the peak on a set, against 97 ms without compaction; that p99 also varies 4x between runs.)
 */
const RELOCATE_ENTRY_BYTES = 32 * 1024;
/** Bodies one relocation entry carries at most. */
const RELOCATE_ENTRY_BODIES = 512;
/**
 * Relocation copies at most this many bytes per second while clients write to the log, so it never
 * crowds out the traffic it serves, and at the faster rate while the log is otherwise quiet (below
 * QUIET_LOG_BYTES_PER_S of other writes), so the disk settles soon after a burst.
 */
const RELOCATE_BYTES_PER_S = 2 * 1024 * 1024;
const RELOCATE_QUIET_BYTES_PER_S = 16 * 1024 * 1024;
const QUIET_LOG_BYTES_PER_S = 1024 * 1024;
/** One pass gathers at most this many messages / bytes (memory bound); the next census takes the rest. */
const PASS_MESSAGES_MAX = 200_000;
const PASS_BYTES_MAX = 64 * 1024 * 1024;

export interface CompactionStats {
  /** Body bytes of live messages at the last census (each shared body once per run of readers). */
  liveBytes: number;
  /** Closed-segment bytes a compaction and a snapshot would free, at the last census. */
  reclaimableBytes: number;
  /** What a snapshot would write at the last census: dead segments worth less are left until they are worth one. */
  snapshotCostBytes: number;
  censuses: number;
  /** Relocation passes that proposed at least one entry (the leader's). */
  runs: number;
  /** Body bytes relocation entries applied here copied into this member's log. */
  bytesCopied: number;
  /** Time spent in census slices and relocation passes, ms. */
  msSpent: number;
}

export interface CompactionHost {
  runtime: Runtime;
  log: Logger;
  state: ServingState<QueueStateMachine>;
  settings: CompactionSettings;
  /** True while this member leads its group (only the leader relocates). */
  leads(): boolean;
  /** Bodies read back intact (here or from a replica); undefined where no copy is intact. */
  readBodies(refs: readonly BodyRef[]): Promise<(Uint8Array | undefined)[]>;
  /** Proposes a command through the log and resolves with its result once applied here. */
  submit(command: Command): Promise<CommandResult>;
  /** Asks for a snapshot soon (its segment release deletes what the census found dead). */
  requestSnapshot(): void;
}

interface SegmentCensus {
  spans: EntrySpan[];
  fileBytes: number[];
  live: Float64Array;
  /** Bodies of live messages per segment (a relocation lists each). */
  bodies: Float64Array;
  /** Each segment's live bytes at the census before, by first entry (absent: not closed then). */
  previous: ReadonlyMap<number, number>;
  /** The segments to compact (indexes into spans): sparse and settled. */
  candidates: number[];
}

/**
 * A sparse segment is compacted only once it has settled: seen at the census before, and since
 * then it lost less than this fraction of its size. One still draining (a consumer working
 * through it, a batch about to be deleted) frees itself without copying anything.
 */
const SETTLED_CHANGE = 0.01;

/** A census finding dead segments that a requested snapshot did not free asks again after this many censuses. */
const SNAPSHOT_REASK_CENSUSES = 6;

export class Compaction {
  readonly stats: CompactionStats = { liveBytes: 0, reclaimableBytes: 0, snapshotCostBytes: 0, censuses: 0, runs: 0, bytesCopied: 0, msSpent: 0 };
  private timer: TimerHandle | undefined;
  private running = false;
  private stopped = false;
  /** Live bytes per closed segment (by first entry) at the last census. */
  private lastLive = new Map<number, number>();
  /** What the census found freeable when it last asked for a snapshot, and how many censuses ago. */
  private askedFreeable = -1;
  private censusesSinceAsked = 0;
  /** Event-loop time the last census took (its slices, not the waits between them). */
  private lastCensusBusyMs = 0;
  /** The log's bytes written, and when, at the last pacing decision (copyRate). */
  private lastLogBytes = 0;
  private lastLogAtMs = 0;

  constructor(private readonly host: CompactionHost) {}

  /** Censuses every censusIntervalMs from now on (none when it is 0: tests run them by hand). */
  start(): void {
    if (this.host.settings.censusIntervalMs <= 0) return;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.host.runtime.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A relocation entry was applied here (every member counts what its log received). */
  applied(result: CommandResult): void {
    if (result.ok && result.kind === 'relocateBodies') this.stats.bytesCopied += result.bytes;
  }

  /** One census now, then relocation and reclaim as it finds (tests; also what the timer runs). */
  async runOnce(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const census = await this.census();
      if (census === undefined) return;
      const { candidates } = census;
      let freeable = 0;
      for (let k = 0; k < census.spans.length; k++) if (census.live[k] === 0) freeable += census.fileBytes[k]!;
      if (candidates.length > 0 && this.host.leads()) {
        const moved = await this.relocate(census, candidates);
        if (moved) for (const k of candidates) freeable += census.fileBytes[k]!;
      }
      this.askForSnapshot(freeable);
    } catch (err) {
      this.host.log.warn(`compaction pass failed (tried again at the next census): ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.running = false;
    }
  }

  /**
   * A snapshot writes the index (mostly empty chunks sparsely): worth it once it frees more than
   * that. The same finding is not asked about census after census (a snapshot may not free a
   * segment yet, e.g. one whose entries this member has not applied): again only when it changed,
   * or after a while.
   */
  private askForSnapshot(freeable: number): void {
    this.censusesSinceAsked++;
    if (freeable === 0 || freeable < this.host.state.sm.estimatedSnapshotBytes()) return;
    if (freeable === this.askedFreeable && this.censusesSinceAsked < SNAPSHOT_REASK_CENSUSES) return;
    this.askedFreeable = freeable;
    this.censusesSinceAsked = 0;
    this.host.requestSnapshot();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.host.runtime.setTimeout(() => {
      this.timer = undefined;
      void this.runOnce().finally(() => this.schedule());
    }, Math.max(this.host.settings.censusIntervalMs, this.lastCensusBusyMs / CENSUS_DUTY_MAX));
    // Background upkeep: it never keeps a process (an embedder's, a test's) from exiting.
    unrefTimer(this.timer);
  }

  /** Live body bytes per closed segment, walked a slice at a time; undefined if the log or state was replaced meanwhile. */
  private async census(): Promise<SegmentCensus | undefined> {
    const { state, runtime } = this.host;
    const { sm, wal } = state;
    // Closed segments: sealed, holding entries, not the tail (what segment release may delete).
    const segs = wal.segments().slice(0, -1).filter((s) => s.sealed && s.lastIndex >= s.firstIndex);
    const spans = segs.map((s) => ({ firstIndex: s.firstIndex, lastIndex: s.lastIndex }));
    const tally = new SegmentTally(spans);
    let busyMs = 0;
    let cursor: BodyScanCursor | undefined = { queueNumber: 0, seq: 0 };
    while (cursor) {
      const t0 = runtime.nowMs();
      cursor = censusSlice(sm, cursor, CENSUS_SLICE_SLOTS, tally);
      busyMs += runtime.nowMs() - t0;
      if (cursor) await new Promise<void>((resolve) => runtime.setImmediate(resolve));
      if (this.stopped || state.sm !== sm || state.wal !== wal) return undefined;
    }
    censusPushes(sm, tally);
    const live = tally.live;
    const fileBytes = segs.map((s) => s.bytes);
    const census: SegmentCensus = { spans, fileBytes, live, bodies: tally.bodies, previous: this.lastLive, candidates: [] };
    census.candidates = this.candidates(census);
    this.lastLive = new Map(spans.map((sp, k) => [sp.firstIndex, live[k]!]));
    this.lastCensusBusyMs = busyMs;
    this.stats.msSpent += busyMs;
    this.stats.liveBytes = tally.liveBytes;
    this.stats.reclaimableBytes = reclaimableBytes(fileBytes, live, census.candidates);
    this.stats.snapshotCostBytes = sm.estimatedSnapshotBytes();
    this.stats.censuses++;
    return census;
  }

  /** Segments to compact: sparse, holding something, and settled since the previous census. */
  private candidates(c: Omit<SegmentCensus, 'candidates'>): number[] {
    return sparseSegments(c.fileBytes, c.live, c.bodies, this.host.settings.liveRatio, (k) => {
      const size = c.fileBytes[k]!;
      const before = c.previous.get(c.spans[k]!.firstIndex);
      return before !== undefined && before - c.live[k]! < SETTLED_CHANGE * size;
    });
  }

  /** The copy's pace now: slow while others write to the log, fast while it is quiet. */
  private copyRate(justCopied: number): number {
    const now = this.host.runtime.nowMs();
    const written = this.host.state.wal.stats.bytesWritten;
    const others = Math.max(0, written - this.lastLogBytes - justCopied);
    const elapsedMs = Math.max(1, now - this.lastLogAtMs);
    this.lastLogBytes = written;
    this.lastLogAtMs = now;
    return (others * 1000) / elapsedMs > QUIET_LOG_BYTES_PER_S ? RELOCATE_BYTES_PER_S : RELOCATE_QUIET_BYTES_PER_S;
  }

  /** Copies the candidates' live bodies forward; true when every one was proposed and applied. */
  private async relocate(census: SegmentCensus, candidates: number[]): Promise<boolean> {
    const { state, runtime } = this.host;
    const t0 = runtime.nowMs();
    const sm = state.sm;
    // The pace's first look at the log's other writes measures from here.
    this.lastLogBytes = state.wal.stats.bytesWritten;
    this.lastLogAtMs = t0;
    const spans = candidates.map((k) => census.spans[k]!);
    // Gather who reads what from the candidates (a second walk: the census kept only sums).
    const bodies = new Map<string, { from: BodyRef; messages: { queueNumber: number; seq: number }[] }>();
    let messages = 0;
    let bytes = 0;
    let complete = true;
    let hint = -1;
    let cursor: BodyScanCursor | undefined = { queueNumber: 0, seq: 0 };
    while (cursor) {
      cursor = sm.scanBodies(cursor, CENSUS_SLICE_SLOTS, (queueNumber, seq, entryIndex, offset, length, crc32c) => {
        hint = spanIndexOf(spans, entryIndex, hint);
        if (hint < 0) return;
        if (messages >= PASS_MESSAGES_MAX || bytes >= PASS_BYTES_MAX) {
          complete = false;
          return;
        }
        const key = `${entryIndex}:${offset}`;
        let b = bodies.get(key);
        if (b === undefined) {
          b = { from: { entryIndex, offset, length, crc32c }, messages: [] };
          bodies.set(key, b);
          bytes += length;
        }
        if (b.messages.length < RELOCATE_COUNT_MAX) b.messages.push({ queueNumber, seq });
        else complete = false;
        messages++;
      });
      if (cursor) await new Promise<void>((resolve) => runtime.setImmediate(resolve));
      if (this.stopped || state.sm !== sm || !this.host.leads()) return false;
    }
    const ordered = [...bodies.values()].sort((a, b) => a.from.entryIndex - b.from.entryIndex || a.from.offset - b.from.offset);
    let proposed = 0;
    for (let at = 0; at < ordered.length; ) {
      let end = at;
      let entryBytes = 0;
      while (end < ordered.length && end - at < RELOCATE_ENTRY_BODIES && (end === at || entryBytes + ordered[end]!.from.length <= RELOCATE_ENTRY_BYTES)) {
        entryBytes += ordered[end]!.from.length;
        end++;
      }
      const batch = ordered.slice(at, end);
      at = end;
      const read = await this.host.readBodies(batch.map((b) => b.from));
      const intact: RelocatedBody[] = [];
      batch.forEach((b, i) => {
        const body = read[i];
        // No intact copy anywhere: left where it is; a receive quarantines it as it would anyway.
        if (body === undefined) complete = false;
        else intact.push({ from: b.from, body, messages: b.messages });
      });
      if (intact.length === 0) continue;
      if (this.stopped || !this.host.leads()) return false;
      const r = await this.host.submit({ kind: 'relocateBodies', bodies: intact });
      if (!r.ok) {
        this.host.log.warn(`compaction: relocation not applied (${r.error}); tried again at the next census`);
        return false;
      }
      proposed++;
      // Paced: the copy never takes more than its share of the disk and the replication stream.
      await runtime.sleep(Math.max(1, Math.ceil((entryBytes / this.copyRate(entryBytes)) * 1000)));
    }
    if (proposed > 0) {
      this.stats.runs++;
      this.host.log.info(`compaction: relocated ${bodies.size} bodies (${bytes} bytes) out of ${candidates.length} sparse segments in ${runtime.nowMs() - t0} ms`);
    }
    this.stats.msSpent += runtime.nowMs() - t0;
    return complete;
  }
}
