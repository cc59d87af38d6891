// Loaded with `node --require` into each server by `npm run bench -- --heap-sample DIR`: samples
// every allocation, including objects the garbage collector has already freed, so the profile
// shows where the collector's work comes from (a `--heap-prof` profile keeps only what is still
// alive at exit, which hides short-lived garbage). Written at exit to the directory in
// OPENCMQ_BENCH_HEAP_SAMPLE_DIR; summarise it with heap-profile-summary.js.

import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

/** Mean bytes between samples: fine enough for sites of a few hundred bytes per round. */
const SAMPLING_INTERVAL_BYTES = 16 * 1024;

const dir = process.env.OPENCMQ_BENCH_HEAP_SAMPLE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.enable');
  session.post('HeapProfiler.startSampling', {
    samplingInterval: SAMPLING_INTERVAL_BYTES,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  // An in-process session answers synchronously, so the profile is written before the exit.
  process.on('exit', () => {
    session.post('HeapProfiler.stopSampling', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${process.pid}.heapprofile`), JSON.stringify(result.profile));
    });
  });
}
