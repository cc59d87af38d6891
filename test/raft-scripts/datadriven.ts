// The golden-file format of the Raft interaction scripts (etcd's "datadriven" layout) and the
// comparison that turns a mismatch into a readable diff:
//
//   # comments (kept when the file is rewritten)
//   command args
//   ----
//   expected output, one or more non-blank lines
//   <blank line>

import fs from 'node:fs';
import path from 'node:path';

export interface Block {
  /** Comment lines (with their '#') just above the command. */
  comments: string[];
  command: string;
  expected: string[];
  /** 1-based line of the command in the file. */
  line: number;
}

export interface Script {
  blocks: Block[];
  /** Comment lines after the last block. */
  trailing: string[];
}

export function parseScript(text: string, name = 'script'): Script {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let comments: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
      continue;
    }
    if (line.startsWith('#')) {
      comments.push(line);
      i++;
      continue;
    }
    if (lines[i + 1] !== '----') throw new Error(`${name}:${i + 1}: command "${line}" is not followed by ----`);
    const block: Block = { comments, command: line, expected: [], line: i + 1 };
    comments = [];
    i += 2;
    while (i < lines.length && lines[i]!.trim() !== '') block.expected.push(lines[i++]!);
    blocks.push(block);
  }
  return { blocks, trailing: comments };
}

export function formatScript(script: Script, outputs: string[][]): string {
  const parts: string[] = [];
  script.blocks.forEach((b, k) => {
    parts.push([...b.comments, b.command, '----', ...outputs[k]!].join('\n'));
  });
  if (script.trailing.length > 0) parts.push(script.trailing.join('\n'));
  return parts.join('\n\n') + '\n';
}

export interface GoldenResult {
  /** The file as it should read with the outputs this run produced. */
  actualText: string;
  ok: boolean;
  /** For each mismatching block: where, which command, and a line diff (- expected, + actual). */
  report: string;
}

/** Run every command of a script through `run` and compare each output with the expected one. */
export function runGolden(text: string, name: string, run: (command: string) => string[]): GoldenResult {
  const script = parseScript(text, name);
  const outputs = script.blocks.map((b) => {
    const out = run(b.command);
    // A blank line would end the block when the file is read back.
    if (out.some((l) => l.trim() === '')) throw new Error(`${name}:${b.line}: output of "${b.command}" has a blank line`);
    return out;
  });
  const actualText = formatScript(script, outputs);
  const reports: string[] = [];
  script.blocks.forEach((b, k) => {
    const actual = outputs[k]!;
    if (actual.join('\n') !== b.expected.join('\n')) {
      reports.push(`${name}:${b.line}: ${b.command}\n${diffLines(b.expected, actual).join('\n')}`);
    }
  });
  if (reports.length === 0 && actualText !== text) reports.push(`${name}: layout differs from the canonical form (rewrite the file)`);
  const rewriteHint = 'to accept the new output: OPENCMQ_REWRITE_GOLDEN=1 node --test dist/test/unit/raft-golden.test.js';
  return { actualText, ok: reports.length === 0, report: reports.length === 0 ? '' : `${reports.join('\n\n')}\n\n${rewriteHint}` };
}

/** A line diff (longest common subsequence): '  ' same, '- ' only expected, '+ ' only actual. */
export function diffLines(expected: readonly string[], actual: readonly string[]): string[] {
  const n = expected.length;
  const m = actual.length;
  // lcs[i][j]: length of the LCS of expected[i..] and actual[j..].
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = expected[i] === actual[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && expected[i] === actual[j]) {
      out.push(`  ${expected[i++]}`);
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${expected[i++]}`);
    } else {
      out.push(`+ ${actual[j++]}`);
    }
  }
  return out;
}

/**
 * Check one golden file; with `rewrite`, replace its outputs with this run's instead (and report
 * success). Returns the comparison either way.
 */
export function checkGoldenFile(file: string, rewrite: boolean, run: (command: string) => string[]): GoldenResult {
  const text = fs.readFileSync(file, 'utf8');
  const r = runGolden(text, path.basename(file), run);
  if (!rewrite) return r;
  if (r.actualText !== text) fs.writeFileSync(file, r.actualText);
  return { ...r, ok: true, report: '' };
}
