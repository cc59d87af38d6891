// `opencmq queue create --shards K` and `opencmq queue set --shards K`: the flag reaches the
// client's request as the `shards` parameter (1 to 64); a server of one set refuses more than one.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { attributeParams } from '../../src/client/client';
import type { QueueAttributesRequest } from '../../src/client/types';
import { InMemoryCmq } from '../../src/client/fake';
import { runCliCaptured, type CliRun } from '../helpers/cli-in-process';

function run(cmq: InMemoryCmq, argv: string[]): Promise<CliRun> {
  return runCliCaptured(argv, () => cmq);
}

void test('queue create / queue set --shards send shards; out of range is a usage error; one set refuses more than one', async () => {
  const cmq = new InMemoryCmq({ pollIntervalMs: 5 });
  const asked: QueueAttributesRequest[] = [];
  const create = cmq.createQueue.bind(cmq);
  const set = cmq.setQueueAttributes.bind(cmq);
  cmq.createQueue = (name, attrs = {}) => (asked.push(attrs), create(name, attrs));
  cmq.setQueueAttributes = (name, attrs) => (asked.push(attrs), set(name, attrs));

  // The in-memory server is one set, as a server without a controller: more than one shard is refused.
  const wide = await run(cmq, ['queue', 'create', 'wide', '--shards', '3']);
  assert.notEqual(wide.code, 0);
  assert.match(wide.err.join('\n'), /11040|not enough active sets/);
  assert.equal((await run(cmq, ['queue', 'create', 'one', '--shards', '1'])).code, 0);
  assert.equal((await run(cmq, ['queue', 'set', 'one', '--shards', '2'])).code, 1);
  assert.deepEqual(
    asked.map((a) => a.shards),
    [3, 1, 2],
  );
  for (const bad of ['0', '65', 'two']) {
    const r = await run(cmq, ['queue', 'create', 'bad', '--shards', bad]);
    assert.equal(r.code, 2, `--shards ${bad}`);
  }
  assert.equal(asked.length, 3, 'a usage error sends nothing');
  assert.deepEqual(attributeParams({ shards: 4, visibilityTimeout: 5 }), { shards: '4', visibilityTimeout: '5' });
  assert.deepEqual(attributeParams({}), {});
});
