// OpencmqRedriveDeadLetterQueue through the CMQ request pipeline, over a recording service: the
// batches it submits, when it stops, its validation, and a failure part way.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Command, CommandResult } from '../../src/broker/commands';
import { createApiContext, handleCmqRequest } from '../../src/api/http-server';
import { fail } from '../../src/protocol/errors';
import { LIMITS } from '../../src/protocol/limits';
import { RecordingQueueService } from '../helpers/recording-service';

/** A service whose dead-letter queue holds `held` movable messages. */
function harness(held: number, failAt?: number) {
  let left = held;
  let entries = 0;
  const service = new RecordingQueueService({
    submit: (c: Command): CommandResult => {
      assert.equal(c.kind, 'moveMessages');
      if (c.kind !== 'moveMessages') return fail('internalError');
      if (++entries === failAt) return fail('outcomeUnknown', undefined, 'leader lost');
      const moved = Math.min(left, c.maxMessages);
      left -= moved;
      return { ok: true, kind: 'moveMessages', moved, remaining: left, stayed: 0 };
    },
  });
  const ctx = createApiContext({ service, auth: { mode: 'open' }, log: () => undefined });
  const call = (params: Record<string, string>): Promise<Record<string, unknown>> =>
    handleCmqRequest(ctx, { method: 'POST', host: 'localhost', path: '/', query: '', body: Buffer.from(new URLSearchParams({ Action: 'OpencmqRedriveDeadLetterQueue', ...params }).toString()) });
  return { service, call };
}

test('it moves batches of moveBatchMax until nothing is left, and answers how many moved', async () => {
  const { service, call } = harness(2500);
  const r = await call({ queueName: 'dlq' });
  assert.deepEqual([r['code'], r['moved']], [0, 2500]);
  assert.deepEqual(
    service.submitted,
    [1000, 1000, 1000].map((maxMessages) => ({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: null, maxMessages })),
  );
});

test('maxMessages and destinationQueueName', async () => {
  const { service, call } = harness(5000);
  const r = await call({ queueName: 'dlq', destinationQueueName: 'orders', maxMessages: '1500' });
  assert.deepEqual([r['code'], r['moved']], [0, 1500]);
  assert.deepEqual(
    service.submitted.map((c) => c.kind === 'moveMessages' && [c.destinationQueue, c.maxMessages]),
    [
      ['orders', LIMITS.moveBatchMax],
      ['orders', 500],
    ],
  );
});

test('validation happens before anything is submitted', async () => {
  const { service, call } = harness(10);
  assert.equal((await call({}))['code'], 4000);
  assert.match(String((await call({}))['message']), /^\(10390\)/);
  assert.match(String((await call({ queueName: '1bad' }))['message']), /^\(10020\)/);
  assert.match(String((await call({ queueName: 'dlq', destinationQueueName: 'bad name' }))['message']), /^\(10020\)/);
  assert.match(String((await call({ queueName: 'dlq', maxMessages: '0' }))['message']), /^\(10350\)/);
  assert.match(String((await call({ queueName: 'dlq', maxMessages: '1000001' }))['message']), /^\(10350\)/);
  assert.match(String((await call({ queueName: 'dlq', maxMessages: 'x' }))['message']), /^\(10360\)/);
  assert.equal(service.submitted.length, 0);
});

test('a failure part way answers the error, saying how many moved before it', async () => {
  const { call } = harness(5000, 3);
  const r = await call({ queueName: 'dlq' });
  assert.equal(r['code'], 6000);
  assert.match(String(r['message']), /^\(10810\).*leader lost; 2000 messages had been moved before this failure/);
  const first = await harness(5000, 1).call({ queueName: 'dlq' });
  assert.doesNotMatch(String(first['message']), /moved before/);
});
