// opencmq cluster move-queue: the request it makes, what it prints, --wait following the move to
// its end, and its usage errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { CliClient } from '../../src/cli/cli-io';
import { runCliCaptured, type CliRun } from '../helpers/cli-in-process';
import { InMemoryCmq } from '../../src/client/fake';

type Answer = { fromSet: number; toSet: number; phase: 'copying' | 'cutover' | 'done'; sourceMessages: number };

function run(argv: string[], client: object): Promise<CliRun> {
  return runCliCaptured(argv, () => client as CliClient);
}

/** A server whose move goes copying -> cutover -> done, one step per request. */
function movingServer(): { calls: [string, number, number | undefined][]; moveQueue(name: string, toSet: number, fromSet?: number): Promise<Answer> } {
  const steps: Answer[] = [
    { fromSet: 1, toSet: 2, phase: 'copying', sourceMessages: 3 },
    { fromSet: 1, toSet: 2, phase: 'copying', sourceMessages: 3 },
    { fromSet: 1, toSet: 2, phase: 'cutover', sourceMessages: 0 },
    { fromSet: 2, toSet: 2, phase: 'done', sourceMessages: 0 },
  ];
  const calls: [string, number, number | undefined][] = [];
  return {
    calls,
    moveQueue(name, toSet, fromSet) {
      calls.push([name, toSet, fromSet]);
      return Promise.resolve(steps[Math.min(calls.length - 1, steps.length - 1)]!);
    },
  };
}

void test('cluster move-queue NAME --to SET starts the move and prints where it stands', async () => {
  const server = movingServer();
  const r = await run(['cluster', 'move-queue', 'orders', '--to', '2'], server);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.deepEqual(server.calls, [['orders', 2, undefined]]);
  assert.deepEqual(r.out, ['queue orders: moving from set 1 to set 2 (copying, 3 messages left on set 1)']);
});

void test('cluster move-queue NAME --from SET --to SET moves the shard on that set, and says so', { timeout: 30_000 }, async () => {
  const server = movingServer();
  const r = await run(['cluster', 'move-queue', 'orders', '--from', '1', '--to', '2', '--wait'], server);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.deepEqual(server.calls[0], ['orders', 2, 1]);
  assert.ok(server.calls.every((c) => c[2] === 1), 'every progress request names the shard');
  assert.equal(r.out[0], 'queue orders (the shard from set 1): moving from set 1 to set 2 (copying, 3 messages left on set 1)');
  assert.equal(r.out.at(-1), 'queue orders (the shard from set 1) is on set 2');
  assert.equal((await run(['cluster', 'move-queue', 'orders', '--from', '0', '--to', '2'], movingServer())).code, 2);
});

void test('cluster move-queue --wait follows the move to its end, printing each change', { timeout: 30_000 }, async () => {
  const server = movingServer();
  const r = await run(['cluster', 'move-queue', 'orders', '--to', '2', '--wait'], server);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.equal(server.calls.length, 4);
  assert.deepEqual(r.out, ['queue orders: moving from set 1 to set 2 (copying, 3 messages left on set 1)', 'queue orders: moving from set 1 to set 2 (cutover, 0 messages left on set 1)', 'queue orders is on set 2']);
});

void test('cluster move-queue: --to is required and a set id; the in-memory fake is no server', async () => {
  assert.equal((await run(['cluster', 'move-queue', 'orders'], movingServer())).code, 2);
  assert.equal((await run(['cluster', 'move-queue', 'orders', '--to', '0'], movingServer())).code, 2);
  assert.equal((await run(['cluster', 'move-queue', '--to', '2'], movingServer())).code, 2);
  const fake = await run(['cluster', 'move-queue', 'orders', '--to', '2'], new InMemoryCmq());
  assert.equal(fake.code, 2);
  assert.match(fake.err.join('\n'), /cluster move-queue needs a server endpoint/);
});
