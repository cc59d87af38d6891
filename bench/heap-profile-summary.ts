// Where a server allocated: the top allocation sites of a V8 sampling heap profile (as written by
// heap-sample-preload.ts under `npm run bench -- --heap-sample DIR`). Sizes are the sampler's
// estimates of bytes allocated over the whole run, freed or not. On its own:
//
//   node dist/bench/heap-profile-summary.js FILE.heapprofile [--top N]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

const isProjectUrl = (url: string): boolean => /\/(src|bench)\//.test(url);

function where(f: HeapNode['callFrame']): string {
  const url = f.url.replace(/^file:\/\//, '');
  // Project files relative to their build directory (dist or a copy of it), Node's as they are.
  const m = /\/((?:src|bench|test)\/.*)$/.exec(url);
  const file = m ? m[1]! : url || '(native/VM)';
  return `${f.functionName || '(anonymous)'}  ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`;
}

function top(m: Map<string, number>, n: number): [string, number][] {
  return [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
}

/** Lines of text summarising one profile. */
export function summarizeHeapProfile(file: string, topN = 25): string[] {
  const head = (JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode }).head;
  const bySite = new Map<string, number>();
  /** Allocations charged to the nearest project function on their stack, with the allocating frame. */
  const byCaller = new Map<string, number>();
  /** Allocations charged to each project function anywhere on their stack (inclusive). */
  const inclusive = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode, stack: HeapNode['callFrame'][]): void => {
    const frames = [...stack, n.callFrame];
    if (n.selfSize > 0) {
      total += n.selfSize;
      const site = where(n.callFrame);
      bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
      const caller = [...frames].reverse().find((f) => isProjectUrl(f.url));
      const key = caller ? (caller === n.callFrame ? site : `${n.callFrame.functionName || '(anonymous)'} <- ${where(caller)}`) : `${site} (no project frame)`;
      byCaller.set(key, (byCaller.get(key) ?? 0) + n.selfSize);
      for (const f of new Set(frames.filter((x) => isProjectUrl(x.url)).map(where))) inclusive.set(f, (inclusive.get(f) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, frames);
  };
  walk(head, []);
  const mb = (b: number): string => `${(b / 2 ** 20).toFixed(1).padStart(8)} MiB ${((100 * b) / total).toFixed(1).padStart(5)}%`;
  const lines = [`heap profile ${file}: ${(total / 2 ** 20).toFixed(0)} MiB allocated (sampled estimate, freed included)`];
  lines.push(`  top ${topN} allocation sites (self):`);
  for (const [k, b] of top(bySite, topN)) lines.push(`    ${mb(b)}  ${k}`);
  lines.push(`  by the nearest project function on the stack:`);
  for (const [k, b] of top(byCaller, topN)) lines.push(`    ${mb(b)}  ${k}`);
  lines.push(`  project functions, inclusive of what they call:`);
  for (const [k, b] of top(inclusive, topN)) lines.push(`    ${mb(b)}  ${k}`);
  return lines;
}

if (require.main === module) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  for (const f of positionals) for (const line of summarizeHeapProfile(f, Number(values.top))) console.log(line);
}
