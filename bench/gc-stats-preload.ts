// Loaded with `node --require` into each server by `npm run bench -- --gc-stats DIR`: counts the
// garbage collector's pauses by kind (young generation, incremental marking, full) and their total
// time, and writes them at exit as gc-stats.json in the directory in OPENCMQ_BENCH_GC_STATS_DIR.
// Counts are steadier between runs than CPU figures, so they show an allocation change first.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';

export interface GcStats {
  /** By kind: how many pauses and their total milliseconds. */
  [kind: string]: { count: number; ms: number };
}

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'young',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'full',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};

const dir = process.env.OPENCMQ_BENCH_GC_STATS_DIR;
if (dir) {
  const stats: GcStats = {};
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = KINDS[(e as unknown as { detail: { kind: number } }).detail.kind] ?? 'other';
      const s = (stats[kind] ??= { count: 0, ms: 0 });
      s.count += 1;
      s.ms += e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  process.on('exit', () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'gc-stats.json'), JSON.stringify(stats));
  });
}
