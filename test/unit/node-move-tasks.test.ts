// Message move tasks on a real node: the leader's loop proposes the moves of a running task until
// it completes, paced to its maxPerSecond, and a node that restarts mid-task (as a new leader
// would) resumes it from the replicated task state.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import type { CommandResult, MoveTaskView } from '../../src/broker/commands';
import { QueueNode } from '../../src/node/queue-node';
import type { RequestContext } from '../../src/service/request-context';

const RC: RequestContext = { requestId: 'test-move-tasks', clientAddress: '', receivedAtMs: 0 };

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function openNode(dir?: string): Promise<{ node: QueueNode; dir: string }> {
  const dataDir = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'opencmq-move-tasks-')));
  if (!dir) dirs.push(dataDir);
  const node = await QueueNode.open({ dataDir, log: () => {} });
  return { node, dir: dataDir };
}

function ok<T extends CommandResult>(r: T): Extract<T, { ok: true }> {
  assert.ok(r.ok, `expected success, got ${JSON.stringify(r)}`);
  return r as Extract<T, { ok: true }>;
}

async function attrs(node: QueueNode, q: string): Promise<{ active: number; inactive: number }> {
  const r = await node.getQueueAttributes(RC, q);
  assert.ok(r.ok);
  return { active: r.attributes.activeMsgNum, inactive: r.attributes.inactiveMsgNum };
}

/** Queues `src` → `dlq` (one receive allowed) and `n` messages dead-lettered from src. */
async function deadLetters(node: QueueNode, n: number): Promise<void> {
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'dlq', attrs: {} }));
  ok(await node.submit(RC, { kind: 'createQueue', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1 } } }));
  for (let k = 0; k < n; k += 16) {
    const bodies = Array.from({ length: Math.min(16, n - k) }, (_, j) => Buffer.from(`m${k + j}`));
    ok(await node.submit(RC, { kind: 'sendMessages', queueName: 'src', delaySeconds: 0, bodies }));
  }
  let got = 0;
  while (got < n) {
    const r = await node.receive(RC, 'src', 16, 0, { visibilitySeconds: 1 });
    assert.ok(r.ok);
    got += r.messages.length;
  }
  // Once visible again, each receive moves what it takes to the dead-letter queue.
  const deadline = Date.now() + 20_000;
  while ((await attrs(node, 'dlq')).active < n && Date.now() < deadline) {
    const r = await node.receive(RC, 'src', 16, 1);
    assert.ok(r.ok);
    assert.equal(r.messages.length, 0, 'no message is delivered a second time');
  }
  assert.equal((await attrs(node, 'dlq')).active, n);
}

async function task(node: QueueNode, handle: string): Promise<MoveTaskView> {
  const r = await node.listMoveTasks(RC, 'dlq');
  assert.ok(r.ok, JSON.stringify(r));
  const t = r.tasks.find((x) => x.taskHandle === handle);
  assert.ok(t, `task ${handle} is listed`);
  return t;
}

async function untilDone(node: QueueNode, handle: string, timeoutMs = 30_000): Promise<MoveTaskView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await task(node, handle);
    if (t.status !== 'RUNNING' || Date.now() > deadline) return t;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the leader moves a running task\'s messages back to their source until it completes', async () => {
  const { node } = await openNode();
  try {
    await deadLetters(node, 40);
    const started = ok(await node.submit(RC, { kind: 'startMoveTask', sourceQueue: 'dlq', destinationQueue: null, maxPerSecond: null }));
    assert.equal(started.kind, 'startMoveTask');
    if (started.kind !== 'startMoveTask') return;
    const t = await untilDone(node, started.taskHandle);
    assert.deepEqual({ status: t.status, movedCount: t.movedCount, toMove: t.toMove }, { status: 'COMPLETED', movedCount: 40, toMove: 40 });
    assert.deepEqual(await attrs(node, 'dlq'), { active: 0, inactive: 0 });
    assert.equal((await attrs(node, 'src')).active, 40);
    const r = await node.receive(RC, 'src', 16, 0);
    assert.ok(r.ok && r.messages.length === 16 && r.messages.every((m) => m.dequeueCount === 1 && /^m\d+$/.test(m.bodyBytes.toString())));
  } finally {
    await node.close();
  }
});

test('a paced task moves maxPerSecond messages a second, and resumes after a restart', async () => {
  const { node, dir } = await openNode();
  let reopened: QueueNode | undefined;
  try {
    await deadLetters(node, 30);
    const started = ok(await node.submit(RC, { kind: 'startMoveTask', sourceQueue: 'dlq', destinationQueue: null, maxPerSecond: 10 }));
    if (started.kind !== 'startMoveTask') throw new Error(started.kind);
    const t0 = Date.now();
    // 10 a second: the first batch at once, the second no sooner than a second later.
    const deadline = Date.now() + 20_000;
    while ((await task(node, started.taskHandle)).movedCount < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const afterFirst = await task(node, started.taskHandle);
    assert.ok(afterFirst.movedCount >= 10 && afterFirst.movedCount < 30, `moved ${afterFirst.movedCount}`);
    if (Date.now() - t0 < 800) assert.equal(afterFirst.movedCount, 10, 'not more than one batch within the first second');
    await node.close();

    // As a new leader would: it finds the task running in the replicated state and goes on.
    reopened = (await openNode(dir)).node;
    const t = await untilDone(reopened, started.taskHandle);
    assert.deepEqual({ status: t.status, movedCount: t.movedCount }, { status: 'COMPLETED', movedCount: 30 });
    assert.equal((await attrs(reopened, 'src')).active, 30);
    // Pacing starts afresh under a new leader, so at least the last batch waited its second.
    assert.ok(Date.now() - t0 >= 900, `30 messages at 10 a second took ${Date.now() - t0} ms`);
  } finally {
    await node.close();
    await reopened?.close();
  }
});
