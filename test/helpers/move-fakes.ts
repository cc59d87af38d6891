// What the tests of live moves (cluster-move, cluster-shard-move) drive by hand: the mover on a
// source set's leader, and that leader's outbox delivery loop, over the fakes of ./set-fakes.

import assert from 'node:assert/strict';

import type { ClusterQueueService } from '../../src/node/cluster-service';
import { deadLetterDedupId, queueSendCommand } from '../../src/node/outbox';
import { deadLetterSendOptions } from '../../src/node/push-delivery';
import { QueueMover } from '../../src/node/queue-move';
import { nodeRuntime } from '../../src/runtime/node-runtime';
import { captureLogger } from './capture-logger';
import { type cluster, ctx, ok, type FakeSet } from './set-fakes';

/** The mover of set `fromSet`, always leading; `forgetRoute` is told of each route it drops (default: nobody). */
export function moverOf(c: ReturnType<typeof cluster>, fromSet: number, forgetRoute: (name: string) => void = () => undefined): QueueMover {
  return new QueueMover({
    setId: fromSet,
    leads: () => true,
    controller: c.controller,
    own: c.set(fromSet),
    serviceOf: (id) => c.set(id),
    forgetRoute,
    runtime: nodeRuntime,
    log: captureLogger(),
    ctx: () => ctx,
  });
}

/**
 * What the source leader's delivery loop does with its outbox: each message sent through `via`,
 * then settled. A dead letter says where it came from, as node/push-delivery.ts sends it.
 */
export async function deliverOutbox(source: FakeSet, via: ClusterQueueService): Promise<number> {
  const due = source.h.sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 1000);
  for (const d of due) {
    const r = await via.submit(ctx, queueSendCommand(d.destinationQueue, source.h.body(d.body), deadLetterDedupId(d.sourceQueue, d.msgId, d.sinceIndex), deadLetterSendOptions(d, source.h.body(d.body))));
    assert.ok(r.ok, JSON.stringify(r));
    await ok(source, { kind: 'deadLetterSent', queueName: d.sourceQueue, msgId: d.msgId });
  }
  return due.length;
}
