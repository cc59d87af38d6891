// One queue over two sets, as real processes: `cluster start-local --sets 2` starts six servers;
// `opencmq queue create --shards 2` spreads a queue over both sets; 200 messages sent through
// several nodes land on both shards; receives and deletes through other nodes get every one of
// them exactly once. Then a queue of one shard with messages grows to two (`queue set --shards 2`)
// and every message, old and new, is received once. Last, a queue of two shards with a dead-letter
// policy: every message received past maxReceiveCount reaches the dead-letter queue once, from
// both shards, and a redrive brings each one back.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { alive, freeBases, startCli } from '../helpers/cli-process';
import { callUntilOk, cmqRequest, type CmqResponse } from '../helpers/load-clients';
import { statusJson, until } from '../helpers/local-sets';

const NO_MESSAGE = 7000;



function ok(endpoint: string, action: string, params: Record<string, string | number>): Promise<CmqResponse> {
  return callUntilOk([endpoint], action, params, { timeoutMs: 30_000 });
}

/** CreateQueue through `endpoint`, repeated until created (a retry of one that was created answers queueExists, taken as done). */
function create(endpoint: string, params: Record<string, string | number>): Promise<CmqResponse> {
  return callUntilOk([endpoint], 'CreateQueue', params, { timeoutMs: 60_000, acceptCodes: [4460] });
}

/** An `opencmq queue ...` command through `endpoint`, repeated until it exits 0 (a set still electing answers notApplied). */
async function cliUntilOk(args: string[], endpoint: string): Promise<void> {
  await until(`opencmq ${args.join(' ')}`, 60_000, async () => {
    const r = await startCli([...args, '--endpoint', endpoint], { timeoutMs: 30_000 }).done;
    if (r.code === 0) return true;
    throw new Error(`exit ${r.code}: ${r.stderr.trim()}`);
  });
}

/**
 * Receive and delete until `count` messages were seen: receives through `via` in turn, each
 * batch deleted through the next node. Returns the bodies in the order received.
 */
async function drain(queueName: string, via: string[], count: number): Promise<string[]> {
  const bodies: string[] = [];
  let turn = 0;
  await until(`${count} messages from ${queueName}`, 180_000, async () => {
    const at = via[turn++ % via.length]!;
    const r = await cmqRequest(at, 'BatchReceiveMessage', { queueName, numOfMsg: 16, pollingWaitSeconds: 1 }, { timeoutMs: 20_000 });
    if (r.code === NO_MESSAGE) return bodies.length >= count ? true : undefined;
    assert.equal(r.code, 0, JSON.stringify(r));
    const got = r['msgInfoList'] as { msgBody: string; receiptHandle: string }[];
    bodies.push(...got.map((m) => m.msgBody));
    const del: Record<string, string> = { queueName };
    got.forEach((m, i) => (del[`receiptHandle.${i + 1}`] = m.receiptHandle));
    const d = await ok(via[turn % via.length]!, 'BatchDeleteMessage', del);
    assert.equal(d.code, 0, JSON.stringify(d));
    return undefined;
  });
  return bodies;
}

test('start-local --sets 2: a queue of two shards takes sends through any node and gives every message once', { timeout: 420_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-shards-'));
  const [api, raft, admin, sqs] = await freeBases(4, 6);
  const endpoints = [0, 1, 2, 3, 4, 5].map((i) => `http://127.0.0.1:${api! + i}`);
  const cli = startCli(
    ['cluster', 'start-local', '--sets', '2', '--keep-going', '--data-dir', path.join(dir, 'c'), '--base-port', String(api), '--raft-base-port', String(raft),
      '--admin-base-port', String(admin), '--sqs-base-port', String(sqs), '--log-format', 'json'],
    { timeoutMs: 400_000 },
  );
  let pids: Record<string, number> = {};
  try {
    await until('the members line', 30_000, () => Promise.resolve(/^members: /m.test(cli.stdout()) ? true : undefined));
    const line = /^members: (.*)$/m.exec(cli.stdout())![1]!;
    pids = Object.fromEntries([...line.matchAll(/(n\d) pid (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
    await until('both sets registered with the controller', 120_000, async () => {
      const s = await statusJson(endpoints.slice(0, 1));
      return s[0]?.sets?.length === 2 ? true : undefined;
    });

    // Two shards, through the CLI on a node of set 2; a third is more than the sets.
    await cliUntilOk(['queue', 'create', 'sh-wide', '--shards', '2'], endpoints[4]!);
    const three = await cmqRequest(endpoints[0]!, 'CreateQueue', { queueName: 'sh-three', shards: 3 }, { timeoutMs: 30_000 });
    assert.equal(three.code, 4450, JSON.stringify(three));
    const attrs = await ok(endpoints[1]!, 'GetQueueAttributes', { queueName: 'sh-wide' });
    assert.equal(attrs['shards'], 2, JSON.stringify(attrs));

    // 200 sends through n1, n2 and n4 (a retry carries the same dedupId: never sent twice).
    const senders = [endpoints[0]!, endpoints[1]!, endpoints[3]!];
    const msgIds: string[] = [];
    for (let i = 0; i < 200; i++) {
      const r = await ok(senders[i % senders.length]!, 'SendMessage', { queueName: 'sh-wide', msgBody: `m-${i}`, dedupId: `m-${i}` });
      msgIds.push(String(r['msgId']));
    }
    // Both shards took messages: ids of set 1's group have no prefix, set 2's do.
    const prefixed = msgIds.filter((id) => /^g\d+:/.test(id)).length;
    assert.ok(prefixed > 20 && prefixed < 180, `${prefixed} of 200 on the second shard`);
    const before = await ok(endpoints[5]!, 'GetQueueAttributes', { queueName: 'sh-wide' });
    assert.equal(before['activeMsgNum'], 200);
    const listed = await ok(endpoints[2]!, 'ListQueue', { searchWord: 'sh-wide' });
    assert.equal(listed['totalCount'], 1, JSON.stringify(listed));

    // Received and deleted through n3, n5 and n6: each message once.
    const bodies = await drain('sh-wide', [endpoints[2]!, endpoints[4]!, endpoints[5]!], 200);
    assert.equal(bodies.length, 200, 'no message received twice');
    assert.equal(new Set(bodies).size, 200);
    const after = await ok(endpoints[0]!, 'GetQueueAttributes', { queueName: 'sh-wide' });
    assert.equal(after['activeMsgNum'], 0, JSON.stringify(after));
    assert.equal(after['inactiveMsgNum'], 0, JSON.stringify(after));

    // A queue of one shard with messages grows to two, live; old and new messages all come once.
    await cliUntilOk(['queue', 'create', 'sh-grow'], endpoints[0]!);
    for (let i = 0; i < 20; i++) await ok(endpoints[i % 6]!, 'SendMessage', { queueName: 'sh-grow', msgBody: `old-${i}`, dedupId: `old-${i}` });
    await cliUntilOk(['queue', 'set', 'sh-grow', '--shards', '2'], endpoints[3]!);
    // A node that had the one-shard route learns of the second shard within seconds.
    await until('n3 seeing two shards of sh-grow', 30_000, async () => {
      const a = await ok(endpoints[2]!, 'GetQueueAttributes', { queueName: 'sh-grow' });
      return a['shards'] === 2 ? true : undefined;
    });
    for (let i = 0; i < 20; i++) await ok(endpoints[i % 6]!, 'SendMessage', { queueName: 'sh-grow', msgBody: `new-${i}`, dedupId: `new-${i}` });
    const all = await drain('sh-grow', [endpoints[1]!, endpoints[5]!], 40);
    assert.equal(all.length, 40);
    assert.equal(new Set(all).size, 40);

    // A dead-letter policy on a queue of two shards: messages received without delete past
    // maxReceiveCount reach the dead-letter queue (on one set) once each, from both shards; a
    // redrive brings every one back.
    await create(endpoints[1]!, { queueName: 'sh-dead' });
    const policy = JSON.stringify({ deadLetterQueue: 'sh-dead', policy: 0, maxReceiveCount: 1 });
    await create(endpoints[4]!, { queueName: 'sh-src', shards: 2, visibilityTimeout: 1, deadLetterPolicy: policy });
    const src = await ok(endpoints[3]!, 'GetQueueAttributes', { queueName: 'sh-src' });
    assert.deepEqual(src['deadLetterPolicy'], { deadLetterQueue: 'sh-dead', policy: 0, maxReceiveCount: 1 }, JSON.stringify(src));
    const sources = await ok(endpoints[5]!, 'ListDeadLetterSourceQueues', { deadLetterQueueName: 'sh-dead' });
    assert.equal(sources['totalCount'], 1, JSON.stringify(sources));
    assert.deepEqual((sources['queueList'] as { queueName: string }[]).map((q) => q.queueName), ['sh-src']);
    const deadIds: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await ok(endpoints[i % 6]!, 'SendMessage', { queueName: 'sh-src', msgBody: `dl-${i}`, dedupId: `dl-${i}` });
      deadIds.push(String(r['msgId']));
    }
    const onSecond = deadIds.filter((id) => /^g\d+:/.test(id)).length;
    assert.ok(onSecond > 0 && onSecond < 40, `${onSecond} of 40 on the second shard: both shards hold some`);
    let receives = 0;
    await until('every message of sh-src in sh-dead', 120_000, async () => {
      const r = await cmqRequest(endpoints[receives++ % 6]!, 'BatchReceiveMessage', { queueName: 'sh-src', numOfMsg: 16, pollingWaitSeconds: 0 }, { timeoutMs: 20_000 });
      assert.ok(r.code === 0 || r.code === NO_MESSAGE, JSON.stringify(r));
      const [s, d] = await Promise.all([ok(endpoints[0]!, 'GetQueueAttributes', { queueName: 'sh-src' }), ok(endpoints[3]!, 'GetQueueAttributes', { queueName: 'sh-dead' })]);
      const left = Number(s['activeMsgNum']) + Number(s['inactiveMsgNum']) + Number(s['delayMsgNum']);
      return left === 0 && Number(d['activeMsgNum']) >= 40 ? true : undefined;
    }, 300);
    // A dead letter sent twice (a lost answer, a new leader) would show up a little later.
    await new Promise((r) => setTimeout(r, 3_000));
    const dead = await ok(endpoints[2]!, 'GetQueueAttributes', { queueName: 'sh-dead' });
    assert.equal(dead['activeMsgNum'], 40, `each dead letter once: ${JSON.stringify(dead)}`);
    const inUse = await cmqRequest(endpoints[0]!, 'DeleteQueue', { queueName: 'sh-dead' }, { timeoutMs: 30_000 });
    assert.notEqual(inUse.code, 0, `a dead-letter queue named by a sharded queue is not deleted: ${JSON.stringify(inUse)}`);

    // Back to the sharded queue (received now within a longer visibility, so none dead-letters again).
    await ok(endpoints[1]!, 'SetQueueAttributes', { queueName: 'sh-src', visibilityTimeout: 60 });
    const redriven = await ok(endpoints[5]!, 'OpencmqRedriveDeadLetterQueue', { queueName: 'sh-dead' });
    assert.equal(redriven['moved'], 40, JSON.stringify(redriven));
    const again = await drain('sh-src', [endpoints[0]!, endpoints[3]!, endpoints[4]!], 40);
    assert.deepEqual(
      [...again].sort(),
      Array.from({ length: 40 }, (_, i) => `dl-${i}`).sort(),
      'every dead letter back once',
    );
    const emptied = await ok(endpoints[2]!, 'GetQueueAttributes', { queueName: 'sh-dead' });
    assert.equal(emptied['activeMsgNum'], 0, JSON.stringify(emptied));

    // Deleted through any node: gone from both sets.
    await ok(endpoints[3]!, 'DeleteQueue', { queueName: 'sh-wide' });
    const gone = await cmqRequest(endpoints[1]!, 'GetQueueAttributes', { queueName: 'sh-wide' }, { timeoutMs: 30_000 });
    assert.equal(gone.code, 4440, JSON.stringify(gone));
    cli.interrupt();
    const r = await cli.done;
    assert.equal(r.code, 0, r.stderr.slice(-2000));
  } catch (err) {
    console.error(cli.stderr().split('\n').filter((l) => !l.includes('"level":"info"')).slice(-80).join('\n'));
    throw err;
  } finally {
    cli.kill();
    for (const pid of Object.values(pids)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
