// kill -9 the server while concurrent clients send, restart it, and check that every
// acknowledged message is there exactly once and that acknowledged deletes stayed deleted.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { arrayParams, cmqCall } from '../helpers/raw-cmq';
import { makeDataDir, spawnServer, type ServerProcess } from '../helpers/server-process';

const QUEUE = 'crashq';
const CLIENTS = 8;

async function drain(url: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const r = await cmqCall(url, 'BatchReceiveMessage', { queueName: QUEUE, numOfMsg: 16, pollingWaitSeconds: 0 });
    if (r.code === 7000) return bodies;
    assert.equal(r.code, 0, JSON.stringify(r));
    const list = r.msgInfoList as { msgBody: string; receiptHandle: string }[];
    for (const m of list) bodies.push(m.msgBody);
    const del = await cmqCall(url, 'BatchDeleteMessage', { queueName: QUEUE, ...arrayParams('receiptHandle', list.map((m) => m.receiptHandle)) });
    assert.equal(del.code, 0, JSON.stringify(del));
  }
}

test('acknowledged sends and deletes survive kill -9', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = await makeDataDir();
  let server: ServerProcess | undefined;
  try {
    server = await spawnServer(dir);
    const url = server.url;
    assert.equal((await cmqCall(url, 'CreateQueue', { queueName: QUEUE, visibilityTimeout: 60 })).code, 0);

    // Phase 1: some messages are sent, received and deleted; those deletes are acknowledged.
    const first = Array.from({ length: 300 }, (_, i) => `pre-${i}`);
    for (let i = 0; i < first.length; i += 16) {
      const r = await cmqCall(url, 'BatchSendMessage', { queueName: QUEUE, ...arrayParams('msgBody', first.slice(i, i + 16)) });
      assert.equal(r.code, 0);
    }
    const deleted = new Set<string>();
    while (deleted.size < 150) {
      const r = await cmqCall(url, 'BatchReceiveMessage', { queueName: QUEUE, numOfMsg: 16 });
      assert.equal(r.code, 0, JSON.stringify(r));
      const list = r.msgInfoList as { msgBody: string; receiptHandle: string }[];
      const d = await cmqCall(url, 'BatchDeleteMessage', { queueName: QUEUE, ...arrayParams('receiptHandle', list.map((m) => m.receiptHandle)) });
      assert.equal(d.code, 0);
      for (const m of list) deleted.add(m.msgBody);
    }
    // Every received message was deleted, so nothing is in flight at the crash.
    const acked = new Set<string>(first.filter((b) => !deleted.has(b)));
    const attempted = new Set<string>(first);

    // Phase 2: concurrent senders, killed mid-stream.
    let stop = false;
    const senders = Array.from({ length: CLIENTS }, async (_, c) => {
      let n = 0;
      while (!stop) {
        const batch = n % 3 === 0;
        const bodies = batch ? Array.from({ length: 16 }, (_, k) => `c${c}-${n}-${k}`) : [`c${c}-${n}`];
        n++;
        for (const b of bodies) attempted.add(b);
        try {
          const r = batch
            ? await cmqCall(url, 'BatchSendMessage', { queueName: QUEUE, ...arrayParams('msgBody', bodies) })
            : await cmqCall(url, 'SendMessage', { queueName: QUEUE, msgBody: bodies[0]! });
          if (r.code === 0) for (const b of bodies) acked.add(b);
        } catch {
          return; // connection reset by the kill
        }
      }
    });
    while (acked.size < 5000) await new Promise((r) => setTimeout(r, 20));
    await server.kill9();
    stop = true;
    await Promise.all(senders);
    assert.ok(acked.size >= 5000, `only ${acked.size} acknowledged`);

    // Restart and drain everything visible.
    server = await spawnServer(dir);
    const attrs = await cmqCall(server.url, 'GetQueueAttributes', { queueName: QUEUE });
    assert.equal(attrs.code, 0);
    const bodies = await drain(server.url);
    const seen = new Set<string>();
    for (const b of bodies) {
      assert.ok(!seen.has(b), `message ${b} delivered twice`);
      seen.add(b);
      assert.ok(attempted.has(b), `unknown message body ${b}`);
      assert.ok(!deleted.has(b), `deleted message ${b} came back`);
    }
    for (const b of acked) assert.ok(seen.has(b), `acknowledged message ${b} was lost`);
    assert.equal(attrs.inactiveMsgNum, 0);
    assert.ok((attrs.activeMsgNum as number) >= acked.size, 'counters after recovery cover every acknowledged message');
    assert.ok(server.output().includes('recovered'), 'server reports recovery');
  } finally {
    await server?.stop();
    await cleanup();
  }
});
