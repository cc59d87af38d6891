// The opencmq CLI's --version, the help of every command and command group, and
// `cluster status` with members down, run through runCli with fake clients and captured output.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import type { CliClient, CliDeps, CliIo } from '../../src/cli/cli-io';
import { COMMANDS } from '../../src/cli/commands';
import { runCli } from '../../src/cli/run';
import type { CmqClientOptions } from '../../src/client/client';
import { CmqError, CmqNetworkError } from '../../src/client/errors';
import { InMemoryCmq } from '../../src/client/fake';
import type { ClusterNodeStatus } from '../../src/client/types';

interface Run {
  code: number;
  out: string[];
  err: string[];
  clientOpts: CmqClientOptions[];
}

/** Runs one command line; `clientFor` gives the client for each endpoint asked. */
async function run(argv: string[], clientFor: (o: CmqClientOptions) => CliClient = () => new InMemoryCmq()): Promise<Run> {
  const r: Run = { code: -1, out: [], err: [], clientOpts: [] };
  const io: CliIo = {
    out: (l) => r.out.push(l),
    err: (l) => r.err.push(l),
    env: {},
    stdinLines: async function* () {},
    signal: new AbortController().signal,
  };
  const deps: CliDeps = {
    makeClient: (o) => {
      r.clientOpts.push(o);
      return clientFor(o);
    },
    startServer: () => Promise.reject(new Error('not in this test')),
  };
  r.code = await runCli(argv, io, deps);
  return r;
}

const GROUPS = [...new Set(COMMANDS.filter((c) => c.words.length > 1).map((c) => c.words[0]!))];

void test('--version and -V print the version in package.json and exit 0', async () => {
  const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await run([flag]);
    assert.equal(r.code, 0, flag);
    assert.deepEqual(r.out, [`opencmq ${pkg.version}`]);
    assert.deepEqual(r.err, []);
  }
  assert.match((await run(['--help'])).out.join('\n'), /-V, --version/);
  // After a command it is not a global option: that command's usage error.
  assert.equal((await run(['queue', 'list', '--version'])).code, 2);
});

void test('every command answers --help (and "opencmq help ...") with its own usage', async () => {
  assert.ok(COMMANDS.length >= 28);
  for (const c of COMMANDS) {
    const name = c.words.join(' ');
    assert.ok(c.usage.startsWith(`opencmq ${name}`), `usage of ${name} starts with its words: ${c.usage}`);
    for (const argv of [[...c.words, '--help'], [...c.words, '-h'], ['help', ...c.words]]) {
      const r = await run(argv);
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.err.join('\n')}`);
      assert.equal(r.out[0], `usage: ${c.usage}`, argv.join(' '));
      assert.ok(r.out.includes(c.summary), `${argv.join(' ')} shows the summary`);
      assert.deepEqual(r.clientOpts, [], 'help makes no client');
    }
  }
});

void test('every command group answers --help with its commands only', async () => {
  for (const g of ['cluster', 'queue', 'subscription', 'topic', 'wal']) assert.ok(GROUPS.includes(g), `group ${g}`);
  for (const g of GROUPS) {
    const mine = COMMANDS.filter((c) => c.words[0] === g && c.words.length > 1);
    const others = COMMANDS.filter((c) => !mine.includes(c));
    for (const argv of [[g, '--help'], [g, '-h'], ['help', g], ['--json', g, '--help']]) {
      const r = await run(argv);
      assert.equal(r.code, 0, argv.join(' '));
      assert.equal(r.out[0], `usage: opencmq ${g} <command> [options]`);
      const text = r.out.join('\n');
      for (const c of mine) assert.match(text, new RegExp(`^  ${c.words.join(' ')} +${escape(c.summary)}$`, 'm'), `${g} --help lists ${c.words.join(' ')}`);
      for (const c of others) assert.doesNotMatch(text, new RegExp(`^  ${c.words.join(' ')} `, 'm'), `${g} --help does not list ${c.words.join(' ')}`);
    }
    // The group alone is a usage error that shows the same list.
    const bare = await run([g]);
    assert.equal(bare.code, 2);
    assert.match(bare.err[0] ?? '', new RegExp(`'${g}' needs one of: ${mine.map((c) => c.words[1]).join(', ')}`));
    assert.equal(bare.err[1], `usage: opencmq ${g} <command> [options]`);
  }
  // Unknown words are usage errors, --help or not.
  const unknown = await run(['queue', 'frobnicate', '--help']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err[0] ?? '', /unknown command 'queue frobnicate'/);
  assert.equal((await run(['frobnicate', '--help'])).code, 2);
  // And the top-level help is still every command.
  const top = await run(['help']);
  assert.equal(top.code, 0);
  for (const c of COMMANDS) assert.match(top.out.join('\n'), new RegExp(`^  ${c.words.join(' ')} `, 'm'));
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- cluster status ----

function status(nodeId: string, role: ClusterNodeStatus['role'], leader: string): ClusterNodeStatus {
  return {
    nodeId,
    role,
    term: 4,
    leader,
    commitIndex: 120,
    appliedIndex: 120,
    lastIndex: 121,
    voters: ['n1', 'n2', 'n3'],
    peers: role === 'leader' ? [{ nodeId: 'n2', matchIndex: 120, nextIndex: 121, state: 'replicate', lag: 0 }] : [],
  };
}

/** A fake member per endpoint: a status, or the error its call fails with. */
function members(byEndpoint: Record<string, ClusterNodeStatus | Error>): (o: CmqClientOptions) => CliClient {
  return (o) => {
    const answer = byEndpoint[o.endpoint ?? ''];
    assert.ok(answer !== undefined, `unexpected endpoint ${o.endpoint}`);
    const fake = new InMemoryCmq() as unknown as CliClient & Record<string, unknown>;
    fake['clusterStatus'] = () => (answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer));
    return fake;
  };
}

const A = 'http://127.0.0.1:9601';
const B = 'http://127.0.0.1:9602';
const C = 'http://127.0.0.1:9603';
const refused = (): CmqNetworkError => new CmqNetworkError('connect', 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9603', { mayHaveBeenApplied: false });

void test('cluster status: a member that is down gets its own row saying unreachable and why; a majority answering is success', async () => {
  const r = await run(['cluster', 'status', '--endpoints', `${A},${B},${C}`], members({ [A]: status('n1', 'leader', 'n1'), [B]: status('n2', 'follower', 'n1'), [C]: refused() }));
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.deepEqual(r.err, []);
  assert.match(r.out[0] ?? '', /^node +endpoint +role +term +leader +commit +applied +last$/);
  assert.match(r.out[1] ?? '', /^n1 +http:\/\/127\.0\.0\.1:9601 +leader +4 +n1 +120 +120 +121$/);
  assert.match(r.out[2] ?? '', /^n2 +http:\/\/127\.0\.0\.1:9602 +follower +4 +n1 +120 +120 +121$/);
  assert.match(r.out[3] ?? '', /^\? +http:\/\/127\.0\.0\.1:9603 +unreachable +- +- +- +- +- +ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:9603$/);
  assert.ok(r.out.includes('n1 -> n2: match 120, next 121, replicate, lag 0'));
  assert.ok(r.out.includes('voters that did not answer here: n3'));
  // Each member is asked once, with the short per-member timeout and no retries.
  assert.deepEqual(r.clientOpts.map((o) => [o.endpoint, o.timeoutMs, o.retries]), [A, B, C].map((e) => [e, 5000, 0]));
});

void test('cluster status: fewer than a majority answering exits 1, still with a row per member', async () => {
  const timedOut = new CmqNetworkError('timeout', 'no response within 2000 ms');
  const r = await run(['cluster', 'status', '--endpoints', `${A},${B},${C}`, '--timeout', '2'], members({ [A]: status('n1', 'follower', ''), [B]: timedOut, [C]: refused() }));
  assert.equal(r.code, 1);
  assert.equal(r.out.length, 5, r.out.join('\n'));
  assert.match(r.out[2] ?? '', /^\? +http:\/\/127\.0\.0\.1:9602 +unreachable .* timeout: no response within 2000 ms$/);
  assert.match(r.out[3] ?? '', /unreachable .*ECONNREFUSED/);
  const noConnect = new CmqNetworkError('connect', 'no connection within 2000 ms', { mayHaveBeenApplied: false });
  const slow = await run(['cluster', 'status', '--endpoints', C], members({ [C]: noConnect }));
  assert.match(slow.out[1] ?? '', /unreachable .* timeout: no connection within 2000 ms$/, 'a connect timeout says timeout');
  assert.deepEqual(r.err, ['no quorum: 1 of 3 members answered (a majority is 2)']);
  assert.ok(r.clientOpts.every((o) => o.timeoutMs === 2000));

  // A member that answers with an error (e.g. a credential it does not accept) says so.
  const refusedAuth = new CmqError(4100, '(10110)authentication failed');
  const e = await run(['cluster', 'status', '--endpoints', `${A},${B}`], members({ [A]: status('n1', 'leader', 'n1'), [B]: refusedAuth }));
  assert.equal(e.code, 1, 'one of two is not a majority');
  assert.match(e.out[2] ?? '', /^\? +http:\/\/127\.0\.0\.1:9602 +error .* error 4100: \(10110\)authentication failed$/);
});

void test('cluster status: the members are the --endpoint list when --endpoints is not given; --json has a row per member', async () => {
  const fakes = members({ [A]: status('n1', 'leader', 'n1'), [B]: status('n2', 'follower', 'n1'), [C]: refused() });
  const r = await run(['--endpoint', `${A},${B},${C}`, 'cluster', 'status', '--json'], fakes);
  assert.equal(r.code, 0);
  const rows = JSON.parse(r.out.join('\n')) as Record<string, unknown>[];
  assert.deepEqual(
    rows.map((x) => [x['endpoint'], x['reachable'], x['nodeId'], x['problem']]),
    [
      [A, true, 'n1', undefined],
      [B, true, 'n2', undefined],
      [C, false, undefined, 'unreachable'],
    ],
  );
  assert.match(String(rows[2]!['reason']), /ECONNREFUSED/);

  // One endpoint: that member alone is the list, and its answer is a majority of it.
  const one = await run(['--endpoint', A, 'cluster', 'status'], fakes);
  assert.equal(one.code, 0);
  assert.ok(one.out.includes('voters that did not answer here: n2, n3'));
  const down = await run(['--endpoint', C, 'cluster', 'status'], fakes);
  assert.equal(down.code, 1);
  assert.equal(down.out.length, 2, 'the header and the one unreachable row');
  assert.equal((await run(['cluster', 'status', '--endpoints', 'not a url'], fakes)).code, 2);
});
