// The compaction workload at test scale (64 KiB segments): 2,000 1 KiB messages into `keep` (a
// 12-hour visibility timeout, 15-day retention), all received and all but every 100th deleted, so
// 20 stay in flight scattered over many segments; then 1,000 more sent and deleted through `churn`.
// Shared by the compaction and `wal verify` tests so both measure the same directory shape.

import assert from 'node:assert/strict';

import type { CommandResult } from '../../src/broker/commands';
import type { QueueNode } from '../../src/node/queue-node';
import type { RequestContext } from '../../src/service/request-context';

export const LEFTOVER_BODY_BYTES = 1024;
/** Messages left in flight by `scatteredLeftovers`. */
export const LEFTOVERS = 20;

const RC: RequestContext = { requestId: 'test-scattered-leftovers', clientAddress: '', receivedAtMs: 0 };

function ok(r: CommandResult): void {
  assert.ok(r.ok, `expected success, got ${JSON.stringify(r)}`);
}

/** Body of message i: its number, then filler (the ';' ends the number whatever the filler byte). */
export function leftoverBody(i: number): Buffer {
  const b = Buffer.alloc(LEFTOVER_BODY_BYTES, i % 251);
  b.write(`message ${i};`);
  return b;
}

/** The number a body made by leftoverBody carries. */
export function leftoverNumber(body: Buffer): number {
  return Number(/message (\d+);/.exec(body.toString('latin1'))![1]);
}

/** Runs the workload; returns the msgIds of the messages left in flight, with their numbers. */
export async function scatteredLeftovers(node: QueueNode): Promise<Map<string, number>> {
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'keep', attrs: { visibilityTimeout: 43_200, msgRetentionSeconds: 1_296_000 } }));
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'churn', attrs: {} }));
  for (let i = 0; i < 2000; i += 16) {
    ok(await node.submit(RC, { kind: 'sendMessages', queueName: 'keep', delaySeconds: 0, bodies: Array.from({ length: 16 }, (_, k) => leftoverBody(i + k)) }));
  }
  const kept = new Map<string, number>();
  for (;;) {
    const r = await node.receive(RC, 'keep', 16, 0);
    assert.ok(r.ok);
    if (r.messages.length === 0) break;
    const doomed: string[] = [];
    for (const m of r.messages) {
      const i = leftoverNumber(m.bodyBytes);
      if (i % 100 === 0) kept.set(m.msgId, i);
      else doomed.push(m.receiptHandle);
    }
    if (doomed.length > 0) ok(await node.submit(RC, { kind: 'deleteMessages', queueName: 'keep', receiptHandles: doomed }));
  }
  for (let i = 0; i < 1000; i += 16) {
    ok(await node.submit(RC, { kind: 'sendMessages', queueName: 'churn', delaySeconds: 0, bodies: Array.from({ length: 16 }, (_, k) => leftoverBody(i + k)) }));
    const r = await node.receive(RC, 'churn', 16, 0);
    assert.ok(r.ok);
    ok(await node.submit(RC, { kind: 'deleteMessages', queueName: 'churn', receiptHandles: r.messages.map((m) => m.receiptHandle) }));
  }
  assert.equal(kept.size, LEFTOVERS);
  return kept;
}
