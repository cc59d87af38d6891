// Golden Raft interaction transcripts: every script in test/raft-scripts/data/*.txt is run through
// the interpreter (test/raft-scripts/interpreter.ts) and each command's output must equal the
// expected output recorded under it. The transcripts were checked by hand against the Raft paper;
// a difference is a behaviour change to review, not noise.
//
// To accept new output after an intended change, rewrite the files and review the git diff:
//   npm run build && OPENCMQ_REWRITE_GOLDEN=1 node --test dist/test/unit/raft-golden.test.js

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { checkGoldenFile, diffLines, parseScript, runGolden } from '../raft-scripts/datadriven';
import { RaftNode } from '../../src/raft/raft-node';
import type { PreVote, RequestVote } from '../../src/raft/types';
import { RaftScriptEnv, type NodeFactory } from '../raft-scripts/interpreter';

// Compiled to dist/test/unit: the scripts stay in the source tree.
const DATA = path.join(__dirname, '..', '..', '..', 'test', 'raft-scripts', 'data');
const REWRITE = process.env.OPENCMQ_REWRITE_GOLDEN === '1';

const files = fs
  .readdirSync(DATA)
  .filter((f) => f.endsWith('.txt'))
  .sort();

test('the golden script directory holds the scripts', () => {
  assert.ok(files.length >= 8, `only ${files.length} scripts in ${DATA}`);
});

for (const file of files) {
  test(`raft script ${file}`, () => {
    const env = new RaftScriptEnv();
    const r = checkGoldenFile(path.join(DATA, file), REWRITE, (command) => env.run(command));
    assert.ok(r.ok, `\n${r.report}`);
  });
}

// ---- the scripts catch a broken core ------------------------------------------------------------------

/** Figure 2 broken: every RequestVote is granted, even a second one in the same term. */
class VoteTwiceNode extends RaftNode {
  protected override mayVoteFor(m: RequestVote | PreVote): boolean {
    return m.type === 'RequestVote' || super.mayVoteFor(m);
  }
}

/** §5.4.2 broken: an entry of an earlier term is committed by counting replicas. */
class CommitByCountNode extends RaftNode {
  protected override canCommitAt(): boolean {
    return true;
  }
}

function failingScripts(makeNode: NodeFactory): Map<string, string> {
  const failed = new Map<string, string>();
  for (const file of files) {
    const env = new RaftScriptEnv(1, makeNode);
    const r = checkGoldenFile(path.join(DATA, file), false, (command) => env.run(command));
    if (!r.ok) failed.set(file, r.report);
  }
  return failed;
}

test('a core that grants two votes in one term fails the one-vote-per-term script: two leaders', () => {
  const failed = failingScripts((c) => new VoteTwiceNode(c));
  const report = failed.get('11-one-vote-per-term.txt');
  assert.ok(report !== undefined, `failed only: ${[...failed.keys()].join(', ')}`);
  assert.match(report, /^\+ error: RaftInvariantError: .*two leaders in term 1/m);
});

test("a core that commits an earlier term's entry by counting replicas fails the Figure 8 script", () => {
  const failed = failingScripts((c) => new CommitByCountNode(c));
  const report = failed.get('12-figure-8.txt');
  assert.ok(report !== undefined, `failed only: ${[...failed.keys()].join(', ')}`);
  assert.match(report, /^\+ {3}apply: 2\/1 "x"$/m);
});

// ---- the comparison itself --------------------------------------------------------------------------

const SMALL = `# a one-node group elects itself
add-nodes 1 voters=(1)
----
1: started voters=(1) election=10 heartbeat=5 prevote=true checkquorum=true

campaign 1
----
1 timed out after 11 ticks: leader term=1 leader=1
`;

test('a script whose outputs match passes and rewrites to itself', () => {
  const env = new RaftScriptEnv();
  const r = runGolden(SMALL, 'small.txt', (c) => env.run(c));
  assert.equal(r.report, '');
  assert.ok(r.ok);
  assert.equal(r.actualText, SMALL);
});

test('a changed expected line fails with its location, the command and a -/+ diff', () => {
  const broken = SMALL.replace('leader term=1 leader=1', 'leader term=2 leader=1');
  const env = new RaftScriptEnv();
  const r = runGolden(broken, 'small.txt', (c) => env.run(c));
  assert.equal(r.ok, false);
  assert.match(r.report, /^small\.txt:6: campaign 1$/m);
  assert.match(r.report, /^- 1 timed out after 11 ticks: leader term=2 leader=1$/m);
  assert.match(r.report, /^\+ 1 timed out after 11 ticks: leader term=1 leader=1$/m);
  assert.match(r.report, /OPENCMQ_REWRITE_GOLDEN=1/);
  // The rewrite restores the true output.
  assert.equal(r.actualText, SMALL);
});

test('a changed line in a real transcript fails that script with a diff at the right command', () => {
  const file = '01-election-first-commit.txt';
  const text = fs.readFileSync(path.join(DATA, file), 'utf8');
  const line = '  send: 2->1 MsgVoteResp term=1 granted';
  assert.ok(text.includes(line));
  const env = new RaftScriptEnv();
  const r = runGolden(text.replace(line, '  send: 2->1 MsgVoteResp term=1 rejected'), file, (c) => env.run(c));
  assert.equal(r.ok, false);
  assert.match(r.report, /^01-election-first-commit\.txt:\d+: process-ready 2 3$/m);
  assert.match(r.report, /^- {3}send: 2->1 MsgVoteResp term=1 rejected$/m);
  assert.match(r.report, /^\+ {3}send: 2->1 MsgVoteResp term=1 granted$/m);
  assert.match(r.report, /^ {4}send: 3->1 MsgVoteResp term=1 granted$/m, 'unchanged lines are shown as context');
});

test('rewrite mode replaces wrong outputs in the file, keeping comments and commands', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-golden-'));
  try {
    const file = path.join(dir, 'small.txt');
    fs.writeFileSync(file, SMALL.replace('after 11 ticks', 'after 99 ticks'));
    const check = new RaftScriptEnv();
    const checked = checkGoldenFile(file, false, (c) => check.run(c));
    assert.equal(checked.ok, false);
    assert.match(checked.report, /^- 1 timed out after 99 ticks/m);
    const rewrite = new RaftScriptEnv();
    assert.ok(checkGoldenFile(file, true, (c) => rewrite.run(c)).ok);
    assert.equal(fs.readFileSync(file, 'utf8'), SMALL);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing or extra output line is reported as such', () => {
  assert.deepEqual(diffLines(['a', 'b', 'c'], ['a', 'c', 'd']), ['  a', '- b', '  c', '+ d']);
  assert.deepEqual(diffLines([], ['x']), ['+ x']);
  assert.deepEqual(diffLines(['x'], []), ['- x']);
});

test('a command not followed by ---- is a format error, not a silent pass', () => {
  assert.throws(() => parseScript('status 1\nok\n', 'bad.txt'), /bad\.txt:1: command "status 1" is not followed by ----/);
});

test('an unknown command is reported in the output', () => {
  const env = new RaftScriptEnv();
  assert.deepEqual(env.run('frobnicate 1'), ['error: unknown command frobnicate']);
});
