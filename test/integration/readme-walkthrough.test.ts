// The README's CLI walkthroughs must run as written. Every shell block marked
// `<!-- walkthrough: NAME -->` is run line by line against a fresh server (each `npx opencmq` is
// the built CLI, the endpoint comes from OPENCMQ_ENDPOINT): each command must exit 0, and the
// block's last `receive` must print every body the block sent or published. A walkthrough that
// subscribes a queue it never created fails here, because the publish is then silently dropped.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { parseArgs } from 'node:util';
import { findCommand } from '../../src/cli/run';
import { GLOBAL_OPTIONS } from '../../src/cli/options';
import { makeDataDir, spawnServer, type ServerProcess } from '../helpers/server-process';
import { findRepoFile } from '../helpers/repo-file';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
/** A walkthrough command is a short client call; a minute means it hangs. */
const COMMAND_TIMEOUT_MS = 60_000;
/** The walkthroughs the README must keep marked (a marker removed by mistake fails the test). */
const REQUIRED = ['queue', 'topic'];

interface Walkthrough {
  name: string;
  /** Shell command lines, continuations joined, comments and blank lines dropped. */
  lines: string[];
}

/** The `sh` block right after each `<!-- walkthrough: NAME -->` marker (blank lines may sit between). */
function walkthroughs(markdown: string): Walkthrough[] {
  const out: Walkthrough[] = [];
  const re = /<!--\s*walkthrough:\s*([\w-]+)\s*-->\s*\n(?:[ \t]*\n)*```(?:sh|bash|shell)[ \t]*\n([\s\S]*?)\n```/g;
  for (const m of markdown.matchAll(re)) {
    const [, name, body] = m as unknown as [string, string, string];
    const lines = body
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    out.push({ name, lines });
  }
  return out;
}

/** Shell words of a simple command line: '...' and "..." quoting, a `#` word ends the line. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(#.*$)|([^\s"'#][^\s"']*)/g;
  for (const m of line.matchAll(re)) {
    if (m[3] !== undefined) break;
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[4] ?? ''));
  }
  return words;
}

/** For each `npx opencmq` call in a line (`&&`-joined calls too): its command words and positionals. */
function cliCalls(line: string): { words: readonly string[]; args: string[] }[] {
  const calls: { words: readonly string[]; args: string[] }[] = [];
  for (const part of line.split('&&')) {
    const w = shellWords(part.trim());
    if (w[0] !== 'npx' || w[1] !== 'opencmq') continue;
    const argv = w.slice(2);
    const spec = findCommand(argv);
    assert.ok(spec, `README walkthrough: unknown command in "${part.trim()}"`);
    const parsed = parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...spec.options }, allowPositionals: true, strict: true });
    calls.push({ words: spec.words, args: parsed.positionals.slice(spec.words.length) });
  }
  return calls;
}

function run(line: string, endpoint: string): Promise<{ code: number | null; out: string; err: string }> {
  const command = line.replaceAll('npx opencmq', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)}`);
  const env: NodeJS.ProcessEnv = { ...process.env, OPENCMQ_ENDPOINT: endpoint };
  delete env.OPENCMQ_SECRET_ID;
  delete env.OPENCMQ_SECRET_KEY;
  const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

const README = fs.readFileSync(findRepoFile('README.md'), 'utf8');
const WALKTHROUGHS = walkthroughs(README);

const servers: ServerProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const s of servers) if (!s.hasExited()) await s.stop();
  for (const c of cleanups) await c();
});

void test('the README marks its queue and topic walkthroughs, and none of them starts a server', () => {
  const names = WALKTHROUGHS.map((w) => w.name);
  for (const name of REQUIRED) assert.ok(names.includes(name), `README.md has no <!-- walkthrough: ${name} --> block (found: ${names.join(', ')})`);
  for (const w of WALKTHROUGHS) {
    for (const line of w.lines) {
      // Servers and sets are started by the test (and covered by their own tests).
      assert.doesNotMatch(line, /opencmq\s+(server|cluster\s+start-local)\b/, `walkthrough ${w.name}: "${line}" starts a server`);
      assert.match(line, /^npx opencmq /, `walkthrough ${w.name}: "${line}" is not an opencmq command`);
    }
  }
});

for (const w of WALKTHROUGHS) {
  void test(`README walkthrough "${w.name}" runs as written and receives what it sent`, { timeout: 300_000 }, async () => {
    const data = await makeDataDir('opencmq-readme-');
    cleanups.push(data.cleanup);
    const server = await spawnServer(data.dir);
    servers.push(server);

    const sent: string[] = [];
    let lastReceive: string | undefined;
    for (const line of w.lines) {
      const r = await run(line, server.url);
      assert.equal(r.code, 0, `walkthrough ${w.name}: "${line}" exited ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`);
      for (const call of cliCalls(line)) {
        const verb = call.words.join(' ');
        if (verb === 'send' || verb === 'publish') sent.push(...call.args.slice(1));
        if (verb === 'receive') lastReceive = r.out;
      }
    }
    assert.ok(sent.length > 0, `walkthrough ${w.name} sends or publishes nothing`);
    assert.ok(lastReceive !== undefined, `walkthrough ${w.name} never receives`);
    for (const body of sent) assert.ok(lastReceive.includes(body), `walkthrough ${w.name}: the last receive did not print "${body}":\n${lastReceive}`);
    assert.equal(await server.stop(), 0, server.output());
  });
}
