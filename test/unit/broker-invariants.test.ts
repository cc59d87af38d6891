// The run-time invariant checks of src/broker/queue.ts: each one trips on a deliberately broken
// queue state (with a BrokerInvariantError, so the node crashes and recovers from disk instead of
// answering from corrupt state), and none trips on a healthy life cycle.

import { GROUP_0_IDS } from '../../src/broker/ids';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerInvariantError } from '../../src/broker/invariant';
import { QueueState, type DeadLetterRouter, type MovedMessage, type QueueConfig } from '../../src/broker/queue';
import { QUEUE_ATTR_RANGES } from '../../src/protocol/limits';

const T0 = 1_700_000_000_000;

function config(): QueueConfig {
  const c: Partial<QueueConfig> = {};
  for (const [k, r] of Object.entries(QUEUE_ATTR_RANGES)) c[k as keyof QueueConfig] = r.def;
  return c as QueueConfig;
}

function queue(): QueueState {
  return new QueueState('q', 'qid', 1, T0, T0, config(), undefined, GROUP_0_IDS);
}

function message(entryIndex: number): MovedMessage {
  return { entryIndex, bodyEntry: entryIndex, bodyOffset: 0, bodyLength: 1, bodyCrc: 0, batchPos: 0 };
}

const router: DeadLetterRouter = {
  deadLetter: () => assert.fail('no dead-letter policy is set'),
};

function tripsOn(what: RegExp, fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof BrokerInvariantError && what.test(err.message));
}

test('a healthy life cycle trips nothing', () => {
  const q = queue();
  q.append(message(1), T0, T0);
  q.append(message(2), T0, T0 + 5000);
  const [m] = q.receive(T0, 1, 7, router);
  assert.ok(m);
  assert.deepEqual(q.deleteMessages(T0 + 1, [m.receiptHandle]), []);
  q.processDue(T0 + 10_000, router);
  assert.equal(q.receive(T0 + 10_000, 5, 8, router).length, 1);
  assert.equal(q.receive(T0 + 10_000, 5, 9, router).length, 0);
});

test('a message counter below zero trips', () => {
  const q = queue();
  q.append(message(1), T0, T0);
  q.visibleCount = 0; // the counter lost the message: leaving VISIBLE takes it below zero
  tripsOn(/counter went below zero/, () => q.receive(T0, 1, 7, router));
});

test('a VISIBLE message missing from the visible heap trips', () => {
  const q = queue();
  q.append(message(1), T0, T0);
  q.visible.pop(); // the only entry: the message can never be received again
  tripsOn(/1 visible messages but none in the visible heap/, () => q.receive(T0, 1, 7, router));
});

test('an in-flight heap with fewer entries than in-flight messages trips', () => {
  const q = queue();
  q.append(message(1), T0, T0);
  assert.equal(q.receive(T0, 1, 7, router).length, 1);
  q.inflight.pop(); // the message would never become visible again
  tripsOn(/hold fewer entries than messages/, () => q.deleteMessages(T0, []));
});

test('a delayed heap with fewer entries than delayed messages trips', () => {
  const q = queue();
  q.append(message(1), T0, T0 + 60_000);
  q.delayed.pop();
  tripsOn(/hold fewer entries than messages/, () => q.deleteMessages(T0, []));
});

test('an enqueue time before the previous message’s trips', () => {
  const q = queue();
  q.append(message(1), T0 + 1000, T0 + 1000);
  tripsOn(/enqueue time .* of seq 1 before the latest one/, () => q.append(message(2), T0, T0));
});

test('a message a queue move carries in may be enqueued before the previous one, and is then also in carried', () => {
  const q = queue();
  q.append(message(1), T0 + 1000, T0 + 1000);
  q.append(message(2), T0, T0, true);
  assert.equal(q.carried.size, 1);
  assert.equal(q.carried.peekId(), 1);
});
