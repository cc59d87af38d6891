// Where a server's CPU went: the top self-time functions and source files of a V8 `.cpuprofile`
// (as written by `node --cpu-prof`). Used by `npm run bench -- --cpu-prof DIR`, and on its own:
//
//   node dist/bench/cpu-profile-summary.js FILE.cpuprofile [--top N]

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Time in (idle) is the event loop waiting; everything else counts as busy. */
const IDLE = '(idle)';
/** Frames from the project's own code (built into dist or any other outDir). */
const isProjectUrl = (url: string): boolean => /\/(src|bench)\//.test(url);

function fileOf(url: string): string {
  if (url === '') return '(native/VM)';
  const p = url.replace(/^file:\/\//, '');
  const i = p.lastIndexOf('/dist');
  // Project files relative to their build dir; Node internals (node:...) as they are.
  return i >= 0 ? p.slice(p.indexOf('/', i + 1) + 1) : p.startsWith('node:') ? p : path.basename(p);
}

function top(m: Map<string, number>, n: number): [string, number][] {
  return [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
}

/** Lines of text summarising one profile. */
export function summarizeCpuProfile(file: string, topN = 20): string[] {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUsByNode = new Map<number, number>();
  // A sample's time is the delta to the next sample (the last one has none to measure).
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i + 1] ?? 0;
    const id = prof.samples[i]!;
    selfUsByNode.set(id, (selfUsByNode.get(id) ?? 0) + dt);
  }
  const parentOf = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const label = (f: ProfileNode['callFrame']): string => `${f.functionName || '(anonymous)'}  ${fileOf(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  /** Node and native time (socket writes, Buffer copies, crypto) charged to the project code that called it. */
  const outsideByCaller = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUsByNode) {
    const f = byId.get(id)!.callFrame;
    totalUs += us;
    if (f.functionName === IDLE) {
      idleUs += us;
      continue;
    }
    const where = fileOf(f.url);
    const name = label(f);
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    byFile.set(where, (byFile.get(where) ?? 0) + us);
    if (!isProjectUrl(f.url)) {
      let up = parentOf.get(id);
      while (up !== undefined && !isProjectUrl(byId.get(up)!.callFrame.url)) up = parentOf.get(up);
      if (up !== undefined) {
        const key = `${f.functionName || '(anonymous)'} <- ${label(byId.get(up)!.callFrame)}`;
        outsideByCaller.set(key, (outsideByCaller.get(key) ?? 0) + us);
      }
    }
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number): string => `${((100 * us) / busyUs).toFixed(1).padStart(5)}%`;
  const lines = [
    `profile ${file}: ${(totalUs / 1e6).toFixed(1)} s sampled, main thread busy ${(busyUs / 1e6).toFixed(1)} s ` +
      `(${((100 * busyUs) / totalUs).toFixed(0)}%); shares below are of busy time`,
    `  top ${topN} functions by self time:`,
  ];
  for (const [name, us] of top(byFunction, topN)) lines.push(`    ${pct(us)}  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${name}`);
  lines.push('  by source file:');
  for (const [name, us] of top(byFile, 15)) lines.push(`    ${pct(us)}  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${name}`);
  lines.push('  Node/native self time by the project function that called it:');
  for (const [name, us] of top(outsideByCaller, 12)) lines.push(`    ${pct(us)}  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${name}`);
  return lines;
}

if (require.main === module) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  for (const f of positionals) for (const line of summarizeCpuProfile(f, Number(values.top))) console.log(line);
}
