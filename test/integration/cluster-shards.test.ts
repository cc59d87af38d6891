// One queue over two sets, as real processes: `cluster start-local --sets 2` starts six servers;
// `opencmq queue create --shards 2` spreads a queue over both sets; 200 messages sent through
// several nodes land on both shards; receives and deletes through other nodes get every one of
// them exactly once. Then a queue of one shard with messages grows to two (`queue set --shards 2`)
// and every message, old and new, is received once.

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
