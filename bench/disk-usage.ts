// What a server's data directory occupies on disk, part by part, and the compaction gauges it
// reports: what the disk benchmarks (the `disk` scenario, bench:compaction) sample over time.

import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

import type { ServerProc } from './bench-servers';

export interface DirUsage {
  /** The log's segment files (wal/), the preallocated next one included. */
  wal: number;
  /** Saved snapshots (snapshots/). */
  snapshots: number;
  /** Everything else (hard state, staging of a snapshot install, group directories). */
  other: number;
  total: number;
  /** The largest snapshot file, 0 when there is none. */
  largestSnapshot: number;
}

/** Bytes a tree occupies on disk (allocated blocks, as `du` counts them), by file; files vanishing meanwhile count 0. */
async function walk(dir: string, onFile: (p: string, name: string, bytes: number) => void): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const p = path.join(dir, name);
    const st = await lstat(p).catch(() => undefined);
    if (st === undefined) continue;
    if (st.isDirectory()) await walk(p, onFile);
    else onFile(p, name, st.blocks * 512);
  }
}

/** The data directory on disk: the log, the snapshots and the rest, measured in one walk. */
export async function dirUsage(dataDir: string): Promise<DirUsage> {
  const u: DirUsage = { wal: 0, snapshots: 0, other: 0, total: 0, largestSnapshot: 0 };
  await walk(dataDir, (p, name, bytes) => {
    const part = path.relative(dataDir, p).split(path.sep)[0];
    u.total += bytes;
    if (part === 'wal') u.wal += bytes;
    else if (part === 'snapshots') {
      u.snapshots += bytes;
      if (name.endsWith('.snap')) u.largestSnapshot = Math.max(u.largestSnapshot, bytes);
    } else u.other += bytes;
  });
  return u;
}

/** Compaction and log gauges of one server (started with `admin`), from one scrape of /metrics. */
export interface CompactionGauges {
  liveBytes: number;
  reclaimableBytes: number;
  censuses: number;
  runs: number;
  copiedBytes: number;
  seconds: number;
  walDiskBytes: number;
}

const GAUGES: Record<keyof CompactionGauges, string> = {
  liveBytes: 'opencmq_compaction_live_bytes',
  reclaimableBytes: 'opencmq_compaction_reclaimable_bytes',
  censuses: 'opencmq_compaction_censuses_total',
  runs: 'opencmq_compaction_runs_total',
  copiedBytes: 'opencmq_compaction_copied_bytes_total',
  seconds: 'opencmq_compaction_seconds_total',
  walDiskBytes: 'opencmq_wal_disk_bytes',
};

/** The server's compaction gauges now; NaN for any it did not answer (no admin listener, or it is busy). */
export async function compactionGauges(server: ServerProc): Promise<CompactionGauges> {
  const out = Object.fromEntries(Object.keys(GAUGES).map((k) => [k, NaN])) as unknown as CompactionGauges;
  if (server.adminPort === undefined) return out;
  const text = await fetch(`http://127.0.0.1:${server.adminPort}/metrics`, { signal: AbortSignal.timeout(5000) })
    .then((r) => r.text())
    .catch(() => '');
  const byName = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    if (sp > 0) byName.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  for (const [k, name] of Object.entries(GAUGES)) out[k as keyof CompactionGauges] = byName.get(name) ?? NaN;
  return out;
}

/**
 * The disk target of the compaction workload: at most twice the live bytes, plus three log
 * segments (the tail, the preallocated next one, one closed since the last census) and the two
 * snapshots a node keeps.
 */
export function diskTarget(liveBytes: number, segmentBytes: number, snapshotBytes: number): number {
  return 2 * liveBytes + 3 * segmentBytes + 2 * snapshotBytes;
}

/** The time of the first sample from which every later one passes `ok`; undefined when the last one does not. */
export function passingFrom<T extends { t: number }>(samples: readonly T[], ok: (s: T) => boolean): number | undefined {
  let from: number | undefined;
  for (const s of samples) {
    if (!ok(s)) from = undefined;
    else from ??= s.t;
  }
  return from;
}

export const mib = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / 1024 / 1024).toFixed(1) : '?');
