// `opencmq wal verify DIR`: reads a server's data directory without changing anything and says
// what a start would do with it. The WAL is read by the same scan and judgement as start-up
// (storage/wal-inspect.ts over storage/wal-recovery.ts); this file adds the snapshot, the hard
// state, a staged snapshot install, and what the damage means in messages.

import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

import { decodeCommand } from '../broker/codec';
import { msgIdOf } from '../broker/ids';
import { QueueStateMachine } from '../broker/state-machine';
import { crc32c } from '../storage/crc32c';
import { pathExists, readFully } from '../storage/file-io';
import { inspectHardState, type HardState } from '../storage/hard-state';
import { inspectSnapshots } from '../storage/snapshot-store';
import { HEADER_BYTES, RECORD_MAGIC, decodeRecord, readHeader } from '../storage/wal-format';
import { inspectWal, lostCount, type DamagedRange, type InspectedSegment, type WalInspection } from '../storage/wal-inspect';
import { DEFAULT_COMPACTION } from './compaction';
import { decodeNodeSnapshot } from './node-snapshot';
import { measureSpace, type SpaceReport } from './wal-space';

/** Where a node keeps what (see QueueNode.open and snapshot-transfer.ts). */
export const DATA_DIR_PARTS = {
  wal: 'wal',
  snapshots: 'snapshots',
  raft: 'raft',
  install: 'install',
  installReady: path.join('install', 'READY'),
} as const;

/** Exit codes of `opencmq wal verify` (documented in the command's help and the operations notes). */
export const VERIFY_EXIT = {
  /** A start succeeds and loses nothing acknowledged (a torn tail, never acknowledged, may be dropped). */
  ok: 0,
  /** The directory could not be read (I/O error, not a data directory). */
  error: 1,
  /** A start succeeds, but damaged message bodies are quarantined when read (or a snapshot is skipped). */
  startsWithDamage: 3,
  /** A start refuses (CORRUPTION): salvage, or wipe and rejoin. */
  refuses: 4,
} as const;

export type VerifyVerdict = 'start' | 'drop-torn-tail' | 'quarantine-damaged-bodies' | 'refuse';

export interface SegmentRow {
  file: string;
  firstIndex: number;
  /** Last intact entry found (firstIndex - 1 if none). */
  lastIndex: number;
  entries: number;
  bytes: number;
  sealed: boolean;
  status: 'ok' | 'torn-tail' | 'damaged-bodies' | 'damaged';
  /** Body bytes live messages (and pending http pushes) read from this segment; null when not known (see space.unavailable). */
  liveBytes: number | null;
}

export interface DamagedBody {
  index: number;
  segment: string;
  fileOffset: number;
  /** What the entry's (intact) meta says: the command, and the msgIds whose bodies fail their CRC. */
  command?: string;
  target?: string;
  damagedMsgIds?: string[];
}

export interface HeaderDamage {
  segment: string;
  startOffset: number;
  endOffset: number;
  /** Entries whose records were in the range; lastIndex null when unbounded (end of the log). */
  firstIndex: number;
  lastIndex: number | null;
  /** False for a damaged seal alone (no entry in the range). */
  losesEntries: boolean;
  /** Whether a start reaches this range at all (it stops at the first damage). */
  blocksStart: boolean;
  /**
   * For a single lost entry whose record still decodes: what it probably was. Unverified, since
   * its checksum failed (a damaged name, for instance, reads as a different name).
   */
  probably?: { command: string; target?: string; msgIds?: string[] };
}

export interface VerifyReport {
  dataDir: string;
  verdict: VerifyVerdict;
  exitCode: number;
  /** One sentence: what a start would do. */
  summary: string;
  startError?: string;
  segments: SegmentRow[];
  preallocFiles: string[];
  snapshot: { index: number; term: number; voters: string[] } | null;
  damagedSnapshots: { name: string; reason: string }[];
  hardState: (HardState & { valid: boolean }) | null;
  /** A complete snapshot transfer waits in install/: a start installs it first, replacing wal/. */
  pendingInstall: { index: number; term: number } | null;
  tornTail: { segment: string; bytes: number } | null;
  damagedBodies: DamagedBody[];
  headerDamage: HeaderDamage[];
  /** Entries below the snapshot point that live messages still read bodies from, lost to header damage. */
  liveBodyEntriesLost: number[];
  lastIndex: number;
  /** Disk against live data: what the running member's compaction metrics would say. */
  space: SpaceReport;
  notes: string[];
}

export interface VerifyOptions {
  /** The server's --compact-below (percent): the threshold reclaimable bytes assume (default the server's). */
  compactBelowPercent?: number;
}


/** Reads `dataDir` as a start would, changing nothing. Throws only when it cannot be read at all. */
export async function verifyDataDir(dataDir: string, opts: VerifyOptions = {}): Promise<{ report: VerifyReport; wal: WalInspection }> {
  const st = await stat(dataDir).catch(() => undefined);
  if (!st?.isDirectory()) throw new Error(`${dataDir} is not a directory`);
  const notes: string[] = [];
  let pendingInstall: VerifyReport['pendingInstall'] = null;
  let walDir = path.join(dataDir, DATA_DIR_PARTS.wal);
  const readyPath = path.join(dataDir, DATA_DIR_PARTS.installReady);
  if (await pathExists(readyPath)) {
    const meta = JSON.parse(await readFile(readyPath, 'utf8')) as { index: number; term: number };
    pendingInstall = { index: meta.index, term: meta.term };
    walDir = path.join(dataDir, DATA_DIR_PARTS.install, DATA_DIR_PARTS.wal);
    notes.push(`a complete snapshot transfer (snapshot ${meta.index}) waits in install/: a start installs it first; the log checked is the staged one`);
  } else if (await pathExists(path.join(dataDir, DATA_DIR_PARTS.install))) {
    notes.push('an unfinished snapshot transfer in install/ is deleted by a start');
  }
  const parts = [DATA_DIR_PARTS.wal, DATA_DIR_PARTS.snapshots, DATA_DIR_PARTS.raft];
  if (!pendingInstall && !(await Promise.all(parts.map((p) => pathExists(path.join(dataDir, p))))).some(Boolean)) {
    // Most likely a wrong path: a start would create an empty node here, not recover anything.
    throw new Error(`${dataDir} holds no ${parts.join('/, ')}/: not a server data directory`);
  }
  const wal = await inspectWal(walDir);
  const snaps = await inspectSnapshots(path.join(dataDir, DATA_DIR_PARTS.snapshots));
  const hs = await inspectHardState(path.join(dataDir, DATA_DIR_PARTS.raft));
  let snapshot: VerifyReport['snapshot'] = null;
  let liveEntries: number[] = [];
  // The state a start runs on: the snapshot it loads (or an empty one), the log applied later.
  let state: QueueStateMachine | { unavailable: string } = new QueueStateMachine();
  if (snaps.latest) {
    snapshot = { index: snaps.latest.index, term: snaps.latest.term, voters: [] };
    try {
      const node = decodeNodeSnapshot(snaps.latest.data);
      snapshot.voters = node.voters;
      state = QueueStateMachine.restore(node.stateMachine);
      liveEntries = state.liveEntryIndexes();
    } catch (err) {
      const why = `snapshot ${snaps.latest.index} passes its checksum but does not decode (${err instanceof Error ? err.message : String(err)}): a start fails`;
      notes.push(why);
      state = { unavailable: why };
    }
  }
  if (pendingInstall) state = { unavailable: 'a snapshot install is pending: the live state is known once a start installed it' };
  if (pendingInstall) snapshot = { index: pendingInstall.index, term: pendingInstall.term, voters: snapshot?.voters ?? [] };
  for (const d of snaps.damaged) notes.push(`snapshot ${d.name} is damaged (${d.reason}); a start falls back to an older one`);
  if (hs && !hs.valid) notes.push('raft/hardstate has no valid slot: a start forgets the term and vote (dangerous for a set member)');

  const { space, segmentLive } = await measureSpace({
    wal,
    snapshotsDir: path.join(dataDir, DATA_DIR_PARTS.snapshots),
    state,
    commitHint: hs?.valid === true ? hs.state.commitIndex : 0,
    compactBelowPercent: opts.compactBelowPercent ?? DEFAULT_COMPACTION.liveRatio * 100,
  });
  const segments = wal.segments.map((seg, k) => segmentRow(seg, segmentLive[k] ?? null));
  const headerDamage: HeaderDamage[] = [];
  for (const seg of wal.segments) {
    for (const r of seg.damaged) {
      const isTornTail = wal.startup.kind === 'starts' && wal.startup.tornTailSegment === seg.name && seg.verdict.kind === 'tornTail' && r.startOffset >= seg.verdict.from;
      if (isTornTail) continue; // reported as the torn tail
      headerDamage.push(await headerDamageRow(walDir, seg, r, wal));
    }
  }
  const damagedBodies: DamagedBody[] = [];
  for (const seg of wal.segments) {
    for (const rec of seg.records) {
      if (rec.bodyOk) continue;
      const droppedAsTorn = seg.verdict.kind === 'tornTail' && seg.verdict.dropLastRecord && rec.index > seg.verdict.lastIndexAfter && wal.startup.kind === 'starts';
      if (droppedAsTorn) continue;
      damagedBodies.push(await describeDamagedBody(walDir, seg.name, rec.offset, rec.bytes, rec.index));
    }
  }
  const lostIndexes = new Set<number>();
  for (const h of headerDamage) if (h.losesEntries && h.lastIndex !== null) for (let i = h.firstIndex; i <= h.lastIndex; i++) lostIndexes.add(i);
  const liveBodyEntriesLost = liveEntries.filter((i) => lostIndexes.has(i));

  let verdict: VerifyVerdict;
  let summary: string;
  let startError: string | undefined;
  const lastIndex = wal.startup.kind === 'starts' ? wal.startup.lastIndex : 0;
  if (wal.startup.kind === 'refuses') {
    verdict = 'refuse';
    startError = wal.startup.message;
    summary = `a start REFUSES (CORRUPTION): ${wal.startup.message}`;
  } else if (snapshot && !pendingInstall && lastIndex < snapshot.index) {
    verdict = 'refuse';
    startError = `log ends at ${lastIndex} but the snapshot is at ${snapshot.index}: data directory is inconsistent`;
    summary = `a start REFUSES: ${startError}`;
  } else if (wal.startup.damagedBodies.length > 0) {
    verdict = 'quarantine-damaged-bodies';
    summary = `a start succeeds; ${wal.startup.damagedBodies.length} entr${wal.startup.damagedBodies.length === 1 ? 'y has' : 'ies have'} a damaged body part whose messages are quarantined when read (delivered from another replica if one has an intact copy)`;
  } else if (wal.startup.tornTailBytes > 0) {
    verdict = 'drop-torn-tail';
    summary = `a start succeeds and drops a torn tail of ${wal.startup.tornTailBytes} bytes in ${wal.startup.tornTailSegment ?? '?'} (an unfinished write, never acknowledged)`;
  } else {
    verdict = 'start';
    summary = 'a start succeeds normally; no damage found';
  }
  if (verdict !== 'refuse' && headerDamage.some((h) => h.losesEntries)) {
    // Cannot happen with start-up's rules (damage before the end refuses); kept as a guard.
    notes.push('damage was found that a start does not reach');
  }
  let exitCode: number = VERIFY_EXIT.ok;
  if (verdict === 'refuse') exitCode = VERIFY_EXIT.refuses;
  else if (verdict === 'quarantine-damaged-bodies' || snaps.damaged.length > 0 || (hs !== undefined && !hs.valid)) exitCode = VERIFY_EXIT.startsWithDamage;
  if (wal.preallocFiles.length > 0) notes.push(`${wal.preallocFiles.length} half-prepared segment file(s) (*.prealloc, no data) are deleted by a start`);
  if (snapshot && snapshot.voters.length > 1) {
    notes.push(`this node is a member of a ${snapshot.voters.length}-voter set (${snapshot.voters.join(', ')}): prefer wipe-and-rejoin to salvage`);
  }
  const report: VerifyReport = {
    dataDir,
    verdict,
    exitCode,
    summary,
    segments,
    preallocFiles: wal.preallocFiles,
    snapshot,
    damagedSnapshots: snaps.damaged,
    hardState: hs ? { ...hs.state, valid: hs.valid } : null,
    pendingInstall,
    tornTail: wal.startup.kind === 'starts' && wal.startup.tornTailBytes > 0 ? { segment: wal.startup.tornTailSegment ?? '', bytes: wal.startup.tornTailBytes } : null,
    damagedBodies,
    headerDamage,
    liveBodyEntriesLost,
    lastIndex,
    space,
    notes,
  };
  if (startError !== undefined) report.startError = startError;
  return { report, wal };
}

function segmentRow(seg: InspectedSegment, liveBytes: number | null): SegmentRow {
  const last = seg.records[seg.records.length - 1];
  const v = seg.verdict;
  const beyondTornTail = (offset: number): boolean => v.kind === 'tornTail' && offset >= v.from;
  let status: SegmentRow['status'] = 'ok';
  if (v.kind === 'corrupt' || seg.damaged.some((d) => !beyondTornTail(d.startOffset))) status = 'damaged';
  else if (v.kind === 'tornTail') status = 'torn-tail';
  else if (seg.records.some((r) => !r.bodyOk)) status = 'damaged-bodies';
  return {
    file: seg.name,
    firstIndex: seg.firstIndex,
    lastIndex: last ? last.index : seg.firstIndex - 1,
    entries: seg.records.length,
    bytes: seg.fileBytes,
    sealed: seg.sealed,
    status,
    liveBytes,
  };
}

async function headerDamageRow(walDir: string, seg: InspectedSegment, r: DamagedRange, wal: WalInspection): Promise<HeaderDamage> {
  const n = lostCount(r);
  const refusedAt = wal.startup.kind === 'refuses' ? wal.startup : undefined;
  const blocksStart = refusedAt !== undefined && refusedAt.segment === seg.name && refusedAt.fileOffset === r.startOffset;
  const probably = n === 1 ? await guessLostEntry(walDir, seg.name, r) : undefined;
  return {
    ...(probably ? { probably } : {}),
    segment: seg.name,
    startOffset: r.startOffset,
    endOffset: r.endOffset,
    firstIndex: r.firstIndex,
    lastIndex: r.lastIndex ?? null,
    losesEntries: n === undefined || n > 0,
    blocksStart,
  };
}

/** Reads the one unreadable record in `r` as if it were intact: what it probably held, if it decodes. */
async function guessLostEntry(walDir: string, segment: string, r: DamagedRange): Promise<HeaderDamage['probably']> {
  const bytes = r.endOffset - r.startOffset;
  if (bytes < HEADER_BYTES) return undefined;
  const buf = Buffer.allocUnsafe(bytes);
  const fh = await open(path.join(walDir, segment), 'r');
  try {
    await readFully(fh, buf, 0, bytes, r.startOffset);
  } finally {
    await fh.close();
  }
  const h = readHeader(buf, 0);
  if (h.magic !== RECORD_MAGIC || h.kind !== 'command' || HEADER_BYTES + h.metaLen + h.bodyLen > bytes) return undefined;
  try {
    const cmd = decodeCommand(buf.subarray(HEADER_BYTES, HEADER_BYTES + h.metaLen + h.bodyLen), h.metaLen);
    if (cmd.kind === 'sendMessages') return { command: cmd.kind, target: `queue ${cmd.queueName}`, msgIds: cmd.bodies.map((_, p) => msgIdOf(r.firstIndex, p)) };
    if (cmd.kind === 'publishMessages') return { command: cmd.kind, target: `topic ${cmd.topicName}`, msgIds: cmd.bodies.map((_, p) => msgIdOf(r.firstIndex, p)) };
    const named = cmd as { queueName?: string; topicName?: string };
    const target = named.queueName !== undefined ? `queue ${named.queueName}` : named.topicName !== undefined ? `topic ${named.topicName}` : undefined;
    return target !== undefined ? { command: cmd.kind, target } : { command: cmd.kind };
  } catch {
    return undefined;
  }
}

/** The damaged-body entry's command (its meta is intact) and which of its message bodies fail their CRC. */
async function describeDamagedBody(walDir: string, segment: string, offset: number, bytes: number, index: number): Promise<DamagedBody> {
  const out: DamagedBody = { index, segment, fileOffset: offset };
  const buf = Buffer.allocUnsafe(bytes);
  const fh = await open(path.join(walDir, segment), 'r');
  try {
    await readFully(fh, buf, 0, bytes, offset);
  } finally {
    await fh.close();
  }
  const d = decodeRecord(buf, 0, index);
  if (!d.ok || d.entry.kind !== 'command') return out;
  try {
    const cmd = decodeCommand(d.entry.payload, d.entry.metaLen);
    out.command = cmd.kind;
    if (cmd.kind === 'sendMessages' || cmd.kind === 'publishMessages') {
      out.target = cmd.kind === 'sendMessages' ? `queue ${cmd.queueName}` : `topic ${cmd.topicName}`;
      out.damagedMsgIds = [];
      cmd.bodies.forEach((b, p) => {
        const body = d.entry.payload.subarray(b.offset, b.offset + b.length);
        if (body.length !== b.length || crc32c(body) !== b.crc32c) out.damagedMsgIds!.push(msgIdOf(index, p));
      });
    }
  } catch {
    // The meta verified by its checksum but does not decode: report the entry alone.
  }
  return out;
}

export function describeGuess(g: NonNullable<HeaderDamage['probably']>): string {
  return `${g.command}${g.target ? ` to ${g.target}` : ''}${g.msgIds && g.msgIds.length > 0 ? `, messages ${g.msgIds.join(', ')}` : ''}`;
}

/** Human-readable lines of a verify report. */
export function formatVerifyReport(r: VerifyReport): string[] {
  const lines: string[] = [`data directory: ${r.dataDir}`, `verdict: ${r.verdict} (exit ${r.exitCode})`, `  ${r.summary}`, ''];
  lines.push(r.snapshot ? `snapshot: index ${r.snapshot.index}, term ${r.snapshot.term}, voters ${r.snapshot.voters.join(', ') || '-'}` : 'snapshot: none');
  for (const d of r.damagedSnapshots) lines.push(`  DAMAGED snapshot ${d.name}: ${d.reason}`);
  lines.push(
    r.hardState
      ? `hard state: term ${r.hardState.term}, voted for ${r.hardState.votedFor || '-'}, commit index ${r.hardState.commitIndex}${r.hardState.valid ? '' : ' (NO VALID SLOT)'}`
      : 'hard state: none',
  );
  if (r.pendingInstall) lines.push(`pending snapshot install: snapshot ${r.pendingInstall.index} (term ${r.pendingInstall.term})`);
  lines.push('', 'segments:');
  if (r.segments.length === 0) lines.push('  (none)');
  for (const s of r.segments) {
    const live = s.liveBytes === null ? '' : `  live ${s.liveBytes}`;
    lines.push(`  ${s.file}  entries ${s.firstIndex}..${s.lastIndex} (${s.entries})  ${s.bytes} bytes${live}  ${s.sealed ? 'sealed' : 'open'}  ${s.status}`);
  }
  lines.push('', ...formatSpace(r.space));
  if (r.tornTail) lines.push('', `torn tail: ${r.tornTail.bytes} bytes at the end of ${r.tornTail.segment} (never acknowledged; a start drops it)`);
  if (r.headerDamage.length > 0) {
    lines.push('', 'header/metadata damage (records unreadable):');
    for (const h of r.headerDamage) {
      const what = !h.losesEntries
        ? 'only the seal (no entry lost)'
        : h.lastIndex === null
          ? `entries from ${h.firstIndex} on (end of the log)`
          : h.lastIndex === h.firstIndex
            ? `entry ${h.firstIndex}`
            : `entries ${h.firstIndex}..${h.lastIndex}`;
      lines.push(`  ${h.segment} bytes ${h.startOffset}..${h.endOffset}: ${what}${h.blocksStart ? '  <- a start stops here' : ''}`);
      if (h.probably) lines.push(`    probably (unverified): ${describeGuess(h.probably)}`);
    }
  }
  if (r.damagedBodies.length > 0) {
    lines.push('', 'body-only damage (command intact, message bodies fail their checksum):');
    for (const b of r.damagedBodies) {
      const msgs = b.damagedMsgIds && b.damagedMsgIds.length > 0 ? `; damaged messages ${b.damagedMsgIds.join(', ')}` : '';
      lines.push(`  entry ${b.index} in ${b.segment} at offset ${b.fileOffset}${b.command ? ` (${b.command}${b.target ? ` to ${b.target}` : ''})` : ''}${msgs}`);
    }
  }
  if (r.liveBodyEntriesLost.length > 0) {
    lines.push('', `live messages read their bodies from lost entries ${r.liveBodyEntriesLost.join(', ')}: those messages cannot be delivered`);
  }
  if (r.notes.length > 0) lines.push('', 'notes:', ...r.notes.map((n) => `  ${n}`));
  return lines;
}

/** The "space" section: disk against live data, in the terms of the compaction metrics. */
function formatSpace(s: SpaceReport): string[] {
  const lines = ['space:'];
  lines.push(`  log ${bytesText(s.logBytes)}, snapshots ${bytesText(s.snapshotBytes)}`);
  if (s.liveBytes === null || s.reclaimableBytes === null) {
    lines.push(`  live: unknown (${s.unavailable ?? 'not computed'})`);
    return lines;
  }
  const ratio = s.diskPerLiveByte === null ? 'no live data' : `${s.diskPerLiveByte.toFixed(1)} bytes on disk per live byte`;
  lines.push(`  live ${bytesText(s.liveBytes)} (${ratio})`);
  lines.push(`  reclaimable ${bytesText(s.reclaimableBytes)} by compaction (below ${s.compactBelowPercent}% live) and a snapshot`);
  if (s.restored) {
    const from = s.restored.snapshotIndex > 0 ? `snapshot ${s.restored.snapshotIndex}` : 'an empty state (no snapshot)';
    lines.push(`  counted from ${from} and the ${s.restored.entriesReplayed} commands in the log after it (through entry ${s.restored.throughIndex})`);
    if (s.restored.throughIndex > s.restored.commitHint) {
      lines.push(`  (entries after ${s.restored.commitHint}, where the commit hint saved with the hard state ends, were counted as committed)`);
    }
  }
  return lines;
}

function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${n} B (${v.toFixed(1)} ${units[u]})`;
}
