// What a stopped data directory's disk holds against what is live, for `opencmq wal verify`: the
// figures a running member reports as metrics (live bytes, log bytes, reclaimable bytes), here
// from the files. The state machine is brought to where a started member gets to (the snapshot
// start-up loads, then the log after it, read-only from the segment files one record at a time),
// and the census is the running member's own (segment-census.ts).
//
// The whole log a start keeps is applied, not just up to the commit hint saved with the hard
// state: that hint is current after a clean stop but only as new as the last election after a
// crash, and a started member applies the rest as soon as it learns the commit index. Only the
// last few entries of a set member that crashed may be uncommitted (and later replaced); they
// move the figures by at most what they hold.

import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

import type { QueueStateMachine } from '../broker/state-machine';
import { decodeRecord } from '../storage/wal-format';
import type { InspectedSegment, WalInspection } from '../storage/wal-inspect';
import { WindowReader } from '../storage/wal-recovery';
import { liveBytesPerSegment, reclaimableBytes, sparseSegments } from './segment-census';

export interface SpaceReport {
  /** Bytes of the log's files: its segments and any half-prepared next segment (as opencmq_wal_disk_bytes). */
  logBytes: number;
  /** Bytes of the files in snapshots/. */
  snapshotBytes: number;
  /** Body bytes of live messages (opencmq_compaction_live_bytes); null when the state could not be restored. */
  liveBytes: number | null;
  /** Closed-segment bytes compaction and a snapshot would free (opencmq_compaction_reclaimable_bytes); null as liveBytes. */
  reclaimableBytes: number | null;
  /** The compaction threshold reclaimableBytes assumes (the server's --compact-below). */
  compactBelowPercent: number;
  /** (logBytes + snapshotBytes) / liveBytes; null without live bytes. */
  diskPerLiveByte: number | null;
  /**
   * Where the live state comes from: the snapshot start-up loads (0: none), the command entries
   * applied after it through `throughIndex`, and the commit hint (entries after it were counted
   * as if committed, which a started member learns).
   */
  restored: { snapshotIndex: number; entriesReplayed: number; throughIndex: number; commitHint: number } | null;
  /** Why liveBytes and reclaimableBytes are null. */
  unavailable: string | null;
}

export interface SpaceInput {
  wal: WalInspection;
  snapshotsDir: string;
  /** The state restored from the snapshot start-up loads (an empty one without a snapshot), or why there is none. */
  state: QueueStateMachine | { unavailable: string };
  /** The hard state's commit hint (0 without a valid hard state): reported beside what was applied. */
  commitHint: number;
  compactBelowPercent: number;
}

/** The space figures, and each segment's live body bytes (in wal.segments' order; null as liveBytes). */
export async function measureSpace(input: SpaceInput): Promise<{ space: SpaceReport; segmentLive: (number | null)[] }> {
  const { wal } = input;
  const logBytes = wal.segments.reduce((n, s) => n + s.fileBytes, 0) + (await fileBytes(wal.dir, wal.preallocFiles));
  const snapshotBytes = await dirBytes(input.snapshotsDir);
  const space: SpaceReport = {
    logBytes,
    snapshotBytes,
    liveBytes: null,
    reclaimableBytes: null,
    compactBelowPercent: input.compactBelowPercent,
    diskPerLiveByte: null,
    restored: null,
    unavailable: null,
  };
  const none = { space, segmentLive: wal.segments.map(() => null) };
  if ('unavailable' in input.state) {
    space.unavailable = input.state.unavailable;
    return none;
  }
  if (wal.startup.kind !== 'starts') {
    space.unavailable = 'a start refuses this log, so there is no state to count from';
    return none;
  }
  const sm = input.state;
  const snapshotIndex = sm.lastAppliedIndex;
  const through = wal.startup.lastIndex;
  let replayed: number;
  try {
    replayed = await replay(wal, sm, through);
  } catch (err) {
    space.unavailable = `the log after the snapshot could not be applied: ${err instanceof Error ? err.message : String(err)}`;
    return none;
  }
  space.restored = { snapshotIndex, entriesReplayed: replayed, throughIndex: Math.max(through, snapshotIndex), commitHint: input.commitHint };

  // Every segment as start-up keeps it; the closed ones (all but the tail, sealed, holding
  // entries) are what segment release may delete, exactly as the running census picks them.
  const spans = wal.segments.map((s) => ({ firstIndex: s.firstIndex, lastIndex: s.startupLastIndex }));
  const tally = liveBytesPerSegment(sm, spans);
  const closed = wal.segments.flatMap((s, k) => (k < wal.segments.length - 1 && s.sealed && s.startupLastIndex >= s.firstIndex ? [k] : []));
  const closedBytes = closed.map((k) => wal.segments[k]!.fileBytes);
  const closedLive = Float64Array.from(closed, (k) => tally.live[k]!);
  const closedBodies = Float64Array.from(closed, (k) => tally.bodies[k]!);
  // Offline every closed segment is settled: a started member's second census would compact it.
  const sparse = sparseSegments(closedBytes, closedLive, closedBodies, input.compactBelowPercent / 100, () => true);
  space.liveBytes = tally.liveBytes;
  space.reclaimableBytes = reclaimableBytes(closedBytes, closedLive, sparse);
  space.diskPerLiveByte = tally.liveBytes > 0 ? (logBytes + snapshotBytes) / tally.liveBytes : null;
  return { space, segmentLive: Array.from(tally.live) };
}

/**
 * Applies the command entries after the state's snapshot point up to `through`, as a start does,
 * reading each record from its segment file (one record in memory at a time, nothing written).
 * Returns how many were applied; throws at a missing or unreadable entry.
 */
async function replay(wal: WalInspection, sm: QueueStateMachine, through: number): Promise<number> {
  let next = sm.lastAppliedIndex + 1;
  let applied = 0;
  for (const seg of wal.segments) {
    if (next > through) break;
    if (seg.startupLastIndex < next) continue;
    applied += await replaySegment(wal.dir, seg, sm, next, through);
    next = Math.min(seg.startupLastIndex, through) + 1;
  }
  if (next <= through) throw new Error(`entry ${next} is missing from the log`);
  return applied;
}

async function replaySegment(dir: string, seg: InspectedSegment, sm: QueueStateMachine, from: number, through: number): Promise<number> {
  const last = Math.min(seg.startupLastIndex, through);
  const first = seg.records.findIndex((r) => r.index >= from);
  if (first < 0 || seg.records[first]!.index !== from) throw new Error(`entry ${from} is missing from the log (expected in ${seg.name})`);
  const fh = await open(path.join(dir, seg.name), 'r');
  let applied = 0;
  try {
    const reader = new WindowReader(fh, seg.fileBytes);
    for (let k = first, index = from; index <= last; k++, index++) {
      const rec = seg.records[k];
      if (rec?.index !== index) throw new Error(`entry ${index} is missing from ${seg.name}`);
      const view = await reader.view(rec.offset, rec.bytes);
      if (view === undefined) throw new Error(`entry ${index} runs past the end of ${seg.name}`);
      const d = decodeRecord(view, 0, index);
      if (!d.ok) throw new Error(`entry ${index} in ${seg.name}: ${d.reason}`);
      // A damaged body part does not stop start-up either: the command is applied, its messages
      // are quarantined when read (and their body bytes still sit in this segment).
      if (d.entry.kind === 'command') {
        sm.apply(index, d.entry.timeMs, d.entry.payload, d.entry.metaLen);
        applied++;
      }
    }
  } finally {
    await fh.close();
  }
  return applied;
}

async function fileBytes(dir: string, names: readonly string[]): Promise<number> {
  let n = 0;
  for (const name of names) n += (await stat(path.join(dir, name)).catch(() => undefined))?.size ?? 0;
  return n;
}

async function dirBytes(dir: string): Promise<number> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  return fileBytes(dir, names);
}
