// A server without a cluster controller is one set: CreateQueue and SetQueueAttributes with
// `shards` above 1 are refused (notEnoughSets, nothing created or changed), `shards` 1 is an
// ordinary queue, and GetQueueAttributes of an ordinary queue has no `shards` field.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { startServer } from '../../src/node/server';
import { callUntilOk, cmqRequest } from '../helpers/load-clients';

test('one server: shards above 1 refused with notEnoughSets, 1 is an ordinary queue', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-shards-one-'));
  const server = await startServer({ dataDir, host: '127.0.0.1', port: 0, credentials: [], insecureNoAuth: false, log: () => {} });
  try {
    const call = (action: string, params: Record<string, string | number>): ReturnType<typeof cmqRequest> => cmqRequest(server.url, action, params, { timeoutMs: 10_000 });
    const wide = await call('CreateQueue', { queueName: 'wide', shards: 2 });
    assert.equal(wide.code, 4450, JSON.stringify(wide));
    assert.match(wide.message, /^\(11040\)/);
    assert.equal((await call('GetQueueAttributes', { queueName: 'wide' })).code, 4440, 'nothing created');
    await callUntilOk([server.url], 'CreateQueue', { queueName: 'one', shards: 1 });
    const grow = await call('SetQueueAttributes', { queueName: 'one', shards: 3, visibilityTimeout: 99 });
    assert.equal(grow.code, 4450, JSON.stringify(grow));
    const attrs = await call('GetQueueAttributes', { queueName: 'one' });
    assert.equal(attrs.code, 0);
    assert.equal(attrs['visibilityTimeout'], 30, 'a refused change changes nothing');
    assert.equal(attrs['shards'], undefined);
    const same = await call('SetQueueAttributes', { queueName: 'one', shards: 1, visibilityTimeout: 99 });
    assert.equal(same.code, 0, JSON.stringify(same));
    assert.equal(same['visibilityTimeout'], 99);
    assert.equal((await call('CreateQueue', { queueName: 'zero', shards: 0 })).code, 4000);
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
