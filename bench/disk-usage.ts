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

/** Bytes a tree occupies on disk (allocated blocks, as `du` counts them); files vanishing meanwhile count 0. */
async function treeBytes(dir: string, onFile?: (name: string, bytes: number) => void): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let sum = 0;
  for (const name of names) {
    const p = path.join(dir, name);
    const st = await lstat(p).catch(() => undefined);
    if (st === undefined) continue;
    if (st.isDirectory()) sum += await treeBytes(p, onFile);
    else {
      const bytes = st.blocks * 512;
      sum += bytes;
      onFile?.(name, bytes);
    }
  }
  return sum;
}

/** The data directory on disk: the log, the snapshots and the rest, measured now. */
export async function dirUsage(dataDir: string): Promise<DirUsage> {
  let largestSnapshot = 0;
  const wal = await treeBytes(path.join(dataDir, 'wal'));
  const snapshots = await treeBytes(path.join(dataDir, 'snapshots'), (name, bytes) => {
    if (name.endsWith('.snap')) largestSnapshot = Math.max(largestSnapshot, bytes);
  });
  const total = await treeBytes(dataDir);
  return { wal, snapshots, other: Math.max(0, total - wal - snapshots), total, largestSnapshot };
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

export const mib = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / 1024 / 1024).toFixed(1) : '?');
