// `opencmq wal salvage DIR --out NEWDIR`: copies what can be read of a damaged data directory
// into a new one that starts, never touching DIR. Every intact entry is copied with its index,
// term and payload unchanged (message bodies are slices of log entries, found by entry index, so
// positions must not move). The Raft log stays contiguous: an entry whose header or meta is
// unreadable becomes a no-op entry of the same index; unreadable bytes at the very end of the log
// (an unfinished write) are dropped, as a start drops a torn tail. Entries beyond the commit index
// are kept, as a start keeps them: Raft decides about them once the node runs.

import { mkdir, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

import { HardStateStore, inspectHardState } from '../storage/hard-state';
import { inspectSnapshots, SnapshotStore } from '../storage/snapshot-store';
import { readFully } from '../storage/file-io';
import type { LogEntry } from '../storage/types';
import { SegmentedWal } from '../storage/wal';
import { decodeRecord } from '../storage/wal-format';
import { msgIdOf } from '../broker/ids';
import { LIMITS } from '../protocol/limits';
import { DATA_DIR_PARTS, describeGuess, verifyDataDir, type DamagedBody, type HeaderDamage } from './wal-verify';

/** Exit codes of `opencmq wal salvage`. */
export const SALVAGE_EXIT = {
  /** Everything acknowledged was copied (a torn tail, never acknowledged, may have been left out). */
  ok: 0,
  /** Refused (NEWDIR not empty, unreadable DIR, pending install) or failed. */
  error: 1,
  /** Copied, but entries were replaced by no-ops or damaged bodies were copied (see the report). */
  copiedWithLosses: 3,
} as const;

/** Appends are gathered up to about this many payload bytes before waiting for them. */
const COPY_BATCH_BYTES = 4 * 1024 * 1024;

export interface NoopReplacement {
  index: number;
  term: number;
  /** True when the entries on both sides have this term, so it is the term the entry had. */
  termKnown: boolean;
  /**
   * At or below the snapshot point: its command's effect is in the snapshot, so nothing is lost
   * unless a live message's body was in it (liveBodyEntriesLost).
   */
  coveredBySnapshot: boolean;
  /** What the unreadable record probably held (read as if intact; unverified). */
  probably?: HeaderDamage['probably'];
}

export interface SalvageReport {
  dataDir: string;
  outDir: string;
  exitCode: number;
  summary: string;
  /** Entries written to the new log (no-ops included) and the index range. */
  entriesCopied: number;
  firstIndex: number;
  lastIndex: number;
  snapshot: { index: number; term: number } | null;
  hardState: { term: number; votedFor: string; commitIndex: number } | null;
  replacedByNoop: NoopReplacement[];
  /** Unreadable bytes at the end of the log that were not copied. */
  droppedTail: { segment: string; bytes: number; fromIndex: number } | null;
  /** Copied as they are: their commands replay, their damaged message bodies are quarantined when read. */
  damagedBodiesCopied: DamagedBody[];
  liveBodyEntriesLost: number[];
  notes: string[];
}

type PlanItem = { kind: 'record'; segment: string; offset: number; bytes: number; index: number } | { kind: 'noop'; index: number; term: number; termKnown: boolean };

async function ensureEmptyOut(dataDir: string, outDir: string): Promise<void> {
  const src = path.resolve(dataDir);
  const dst = path.resolve(outDir);
  if (dst === src || dst.startsWith(src + path.sep) || src.startsWith(dst + path.sep)) {
    throw new Error(`--out ${outDir} must lie outside ${dataDir} (which is never modified)`);
  }
  const st = await stat(dst).catch(() => undefined);
  if (st && !st.isDirectory()) throw new Error(`--out ${outDir} exists and is not a directory`);
  if (st && (await readdir(dst)).length > 0) throw new Error(`--out ${outDir} is not empty`);
}

/** Copies what is readable of `dataDir` into `outDir` (which must not exist or be empty). */
export async function salvageDataDir(dataDir: string, outDir: string, opts: { segmentBytes?: number } = {}): Promise<SalvageReport> {
  await ensureEmptyOut(dataDir, outDir);
  const { report: verify, wal: inspection } = await verifyDataDir(dataDir);
  if (verify.pendingInstall) {
    throw new Error('a complete snapshot transfer waits in install/: start the node once to install it, then verify again');
  }
  const walDir = path.join(dataDir, DATA_DIR_PARTS.wal);
  const notes: string[] = [];
  const plan: PlanItem[] = [];
  const replacedByNoop: NoopReplacement[] = [];
  let droppedTail: SalvageReport['droppedTail'] = null;
  let lastIndex = 0;
  let lastTerm = 0;
  const lastSeg = inspection.segments[inspection.segments.length - 1];
  for (const seg of inspection.segments) {
    // A torn tail of the last segment is what a start drops too: never acknowledged.
    const tornFrom = seg === lastSeg && seg.verdict.kind === 'tornTail' && inspection.startup.kind === 'starts' ? seg.verdict.from : Infinity;
    type Piece = { offset: number; rec?: (typeof seg.records)[number]; range?: (typeof seg.damaged)[number] };
    const pieces: Piece[] = [...seg.records.map((rec) => ({ offset: rec.offset, rec })), ...seg.damaged.map((range) => ({ offset: range.startOffset, range }))].sort(
      (a, b) => a.offset - b.offset,
    );
    for (const p of pieces) {
      if (p.offset >= tornFrom) {
        droppedTail ??= { segment: seg.name, bytes: verify.tornTail?.bytes ?? 0, fromIndex: lastIndex + 1 };
        break;
      }
      if (p.rec) {
        if (p.rec.index <= lastIndex) {
          notes.push(`record of entry ${p.rec.index} in ${seg.name} at offset ${p.rec.offset} repeats an earlier index; skipped`);
          continue;
        }
        plan.push({ kind: 'record', segment: seg.name, offset: p.rec.offset, bytes: p.rec.bytes, index: p.rec.index });
        lastIndex = p.rec.index;
        lastTerm = p.rec.term;
        continue;
      }
      const r = p.range!;
      if (r.lastIndex === undefined) {
        // Unreadable bytes with nothing readable after them: the end of the log, an unfinished write.
        droppedTail = { segment: seg.name, bytes: r.endOffset - r.startOffset, fromIndex: r.firstIndex };
        continue;
      }
      for (let i = Math.max(r.firstIndex, lastIndex + 1); i <= r.lastIndex; i++) {
        // Terms never decrease along the log: the lost entry's term lies between its neighbours'.
        const term = Math.max(lastTerm, r.termBefore ?? 0) || (r.termAfter ?? 0);
        const termKnown = r.termAfter === undefined ? r.termBefore === term : r.termAfter === term;
        plan.push({ kind: 'noop', index: i, term, termKnown });
        const probably = verify.headerDamage.find((h) => h.firstIndex === i && h.lastIndex === i)?.probably;
        replacedByNoop.push({ index: i, term, termKnown, coveredBySnapshot: i <= (verify.snapshot?.index ?? 0), ...(probably ? { probably } : {}) });
        lastIndex = i;
        lastTerm = term;
      }
    }
  }

  // Only the node's state is copied (wal/, snapshots/, raft/): anything else in DATA_DIR, such as
  // a LOCK file or an interrupted transfer's leftovers, is not part of it.
  const snaps = await inspectSnapshots(path.join(dataDir, DATA_DIR_PARTS.snapshots));
  const hs = await inspectHardState(path.join(dataDir, DATA_DIR_PARTS.raft));
  await mkdir(outDir, { recursive: true });
  const walOpts = { log: () => undefined, ...(opts.segmentBytes !== undefined ? { segmentBytes: opts.segmentBytes } : {}) };
  const { wal } = await SegmentedWal.open(path.join(outDir, DATA_DIR_PARTS.wal), walOpts);
  let firstIndex = 0;
  try {
    firstIndex = await copyEntries(wal, walDir, plan);
    const snapIndex = snaps.latest?.index ?? 0;
    if (wal.lastIndex() < snapIndex) {
      // A start needs the log to reach the snapshot point (as after a snapshot install).
      if (wal.lastIndex() === 0) await wal.reset(snapIndex + 1);
      else await wal.skipTo(snapIndex + 1);
      notes.push(`the log ended before the snapshot at ${snapIndex}; the new log continues after it`);
    }
  } finally {
    await wal.close();
  }
  if (snaps.latest) {
    const store = await SnapshotStore.open(path.join(outDir, DATA_DIR_PARTS.snapshots), { log: () => undefined });
    await store.save({ index: snaps.latest.index, term: snaps.latest.term }, snaps.latest.data);
  }
  for (const d of snaps.damaged) notes.push(`damaged snapshot ${d.name} not copied (${d.reason})`);
  let hardState: SalvageReport['hardState'] = null;
  if (hs?.valid) {
    // The vote is kept: this is still the same node, and a vote forgotten could elect two leaders.
    hardState = { term: hs.state.term, votedFor: hs.state.votedFor, commitIndex: Math.min(hs.state.commitIndex, lastIndex) };
    const store = await HardStateStore.open(path.join(outDir, DATA_DIR_PARTS.raft));
    await store.save(hardState);
    await store.close();
  } else if (hs) {
    notes.push('raft/hardstate had no valid slot: not copied (the new directory starts from term 0 with no vote)');
  }
  if (verify.snapshot && verify.snapshot.voters.length > 1) {
    notes.push(
      `this node is a member of a ${verify.snapshot.voters.length}-voter set: entries replaced by no-ops differ from the other members' copies; ` +
        'prefer wipe-and-rejoin, which copies the set\'s own state',
    );
  }
  const damagedBodiesCopied = verify.damagedBodies.filter((b) => b.index <= lastIndex);
  const lossy = replacedByNoop.some((n) => !n.coveredBySnapshot) || damagedBodiesCopied.length > 0 || verify.liveBodyEntriesLost.length > 0;
  const exitCode = lossy ? SALVAGE_EXIT.copiedWithLosses : SALVAGE_EXIT.ok;
  const summary = lossy
    ? `copied ${plan.length} entries to ${outDir}; ${replacedByNoop.length} unreadable entr${replacedByNoop.length === 1 ? 'y' : 'ies'} replaced by no-ops, ${damagedBodiesCopied.length} with damaged bodies copied as they are`
    : `copied ${plan.length} entries to ${outDir}; nothing acknowledged was lost`;
  return {
    dataDir,
    outDir,
    exitCode,
    summary,
    entriesCopied: plan.length,
    firstIndex,
    lastIndex,
    snapshot: snaps.latest ? { index: snaps.latest.index, term: snaps.latest.term } : null,
    hardState,
    replacedByNoop,
    droppedTail,
    damagedBodiesCopied,
    liveBodyEntriesLost: verify.liveBodyEntriesLost,
    notes,
  };
}

/** Writes the plan into `wal`, with a hole wherever indexes jump; returns the first index written. */
async function copyEntries(wal: SegmentedWal, walDir: string, plan: PlanItem[]): Promise<number> {
  const handles = new Map<string, Awaited<ReturnType<typeof open>>>();
  let batch: LogEntry[] = [];
  let batchBytes = 0;
  let lastTimeMs = 0;
  const flush = async (): Promise<void> => {
    if (batch.length > 0) await wal.append(batch);
    batch = [];
    batchBytes = 0;
  };
  try {
    for (const item of plan) {
      const expected = wal.lastIndex() + batch.length + 1;
      if (item.index !== expected) {
        await flush();
        if (wal.lastIndex() === 0) await wal.reset(item.index);
        else await wal.skipTo(item.index);
      }
      let entry: LogEntry;
      if (item.kind === 'noop') {
        entry = { index: item.index, term: item.term, kind: 'noop', timeMs: lastTimeMs, metaLen: 0, payload: new Uint8Array(0) };
      } else {
        let fh = handles.get(item.segment);
        if (!fh) {
          fh = await open(path.join(walDir, item.segment), 'r');
          handles.set(item.segment, fh);
        }
        const buf = Buffer.allocUnsafe(item.bytes);
        await readFully(fh, buf, 0, item.bytes, item.offset);
        const d = decodeRecord(buf, 0, item.index);
        if (!d.ok) throw new Error(`entry ${item.index} in ${item.segment} no longer reads back (${d.reason}): is the directory in use?`);
        // A damaged body is copied as it is: the command must replay, and each message body
        // carries its own CRC32C, so the damaged ones are still quarantined when read.
        entry = d.entry;
      }
      lastTimeMs = Math.max(lastTimeMs, entry.timeMs);
      batch.push(entry);
      batchBytes += entry.payload.length;
      if (batchBytes >= COPY_BATCH_BYTES) await flush();
    }
    await flush();
  } finally {
    for (const fh of handles.values()) await fh.close();
  }
  return plan[0]?.index ?? 0;
}

/** Human-readable lines of a salvage report. */
export function formatSalvageReport(r: SalvageReport): string[] {
  const lines = [`salvaged ${r.dataDir} into ${r.outDir} (exit ${r.exitCode})`, `  ${r.summary}`, ''];
  lines.push(r.entriesCopied > 0 ? `log: entries ${r.firstIndex}..${r.lastIndex} (${r.entriesCopied} written)` : 'log: empty');
  lines.push(r.snapshot ? `snapshot: index ${r.snapshot.index}, term ${r.snapshot.term} (copied)` : 'snapshot: none');
  lines.push(r.hardState ? `hard state: term ${r.hardState.term}, voted for ${r.hardState.votedFor || '-'}, commit index ${r.hardState.commitIndex} (copied)` : 'hard state: none');
  if (r.replacedByNoop.length > 0) {
    lines.push('', 'unreadable entries replaced by no-op entries of the same index (their commands are lost):');
    for (const n of r.replacedByNoop) {
      if (n.coveredBySnapshot) {
        lines.push(`  entry ${n.index} (term ${n.term}): at or below the snapshot point, its effect is in the snapshot`);
        continue;
      }
      if (n.probably) {
        lines.push(`  entry ${n.index} (term ${n.term}${n.termKnown ? '' : ', term inferred'}): probably (unverified) ${describeGuess(n.probably)}; lost`);
        continue;
      }
      lines.push(
        `  entry ${n.index} (term ${n.term}${n.termKnown ? '' : ', term inferred'}): if it sent or published messages, their msgIds were ` +
          `${msgIdOf(n.index, 0)}..${msgIdOf(n.index, LIMITS.batchItemsMax - 1)} and they are lost; if it received or deleted messages, those may be delivered again`,
      );
    }
  }
  if (r.droppedTail) lines.push('', `dropped: ${r.droppedTail.bytes} unreadable bytes at the end of ${r.droppedTail.segment} (entries from ${r.droppedTail.fromIndex} on; an unfinished write, never acknowledged)`);
  if (r.damagedBodiesCopied.length > 0) {
    lines.push('', 'entries with damaged message bodies, copied as they are (those messages are quarantined when read):');
    for (const b of r.damagedBodiesCopied) {
      lines.push(`  entry ${b.index}${b.target ? ` (${b.target})` : ''}${b.damagedMsgIds && b.damagedMsgIds.length > 0 ? `: messages ${b.damagedMsgIds.join(', ')}` : ''}`);
    }
  }
  if (r.liveBodyEntriesLost.length > 0) lines.push('', `messages whose bodies were in lost entries ${r.liveBodyEntriesLost.join(', ')} cannot be delivered`);
  if (r.notes.length > 0) lines.push('', 'notes:', ...r.notes.map((n) => `  ${n}`));
  return lines;
}
