// Any node of any set serves any queue or topic, as real processes: `cluster start-local --sets 2`
// starts six servers; queues created through any node are placed by the controller on both sets;
// each queue is sent to through a node of one set and received from through a node of the other;
// ListQueue through any node lists every queue once with the cluster's totalCount and pages; a
// topic delivers into queues on both sets (the other set's through the topic set's outbox); every
// SQS action works through a node of set 2, and SQS queues work across nodes of both sets. Then
// the controller's leader is killed and the data path goes on.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';

import { alive, freeBases, startCli } from '../helpers/cli-process';
import { callUntilOk, cmqRequest, type CmqResponse } from '../helpers/load-clients';
import { exerciseEveryAction, sqsClient } from '../helpers/sqs-every-action';
import { statusJson, until } from '../helpers/local-sets';



const QUEUE_EXISTS = 4460;

/** One call that must succeed (retried on the answers a client retries: not applied, no leader yet). */
async function ok(endpoint: string, action: string, params: Record<string, string | number>): Promise<CmqResponse> {
  return callUntilOk([endpoint], action, params, { timeoutMs: 30_000 });
}

async function receiveOne(endpoint: string, queueName: string): Promise<CmqResponse> {
  return until(`a message on ${queueName} through ${endpoint}`, 60_000, async () => {
    const r = await cmqRequest(endpoint, 'ReceiveMessage', { queueName, pollingWaitSeconds: 1 }, { timeoutMs: 10_000 });
    return r.code === 0 ? r : undefined;
  });
}

test('start-local --sets 2: any node serves any queue and topic; queues spread over both sets; lists merge; the data path survives the controller leader', { timeout: 420_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-access-'));
  const [api, raft, admin, sqs] = await freeBases(4, 6);
  const endpoints = [0, 1, 2, 3, 4, 5].map((i) => `http://127.0.0.1:${api! + i}`);
  const set1 = endpoints.slice(0, 3);
  const set2 = endpoints.slice(3);
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
    // Both sets registered: placement has somewhere to put queues.
    await until('both sets registered with the controller', 120_000, async () => {
      const s = await statusJson(endpoints.slice(0, 1));
      return s[0]?.sets?.length === 2 ? true : undefined;
    });

    // Six queues, each created through a different node.
    const names = ['acc-a', 'acc-b', 'acc-c', 'acc-d', 'acc-e', 'acc-f'];
    for (const [i, queueName] of names.entries()) {
      await callUntilOk([endpoints[i]!], 'CreateQueue', { queueName }, { timeoutMs: 60_000, acceptCodes: [QUEUE_EXISTS] });
    }
    // A second create of the same name, through a node of the other set, is refused as a duplicate.
    const again = await cmqRequest(set2[2]!, 'CreateQueue', { queueName: 'ACC-A' }, { timeoutMs: 30_000 });
    assert.equal(again.code, QUEUE_EXISTS, JSON.stringify(again));

    // The controller placed them on both sets.
    const spread = await until('both sets holding queues', 60_000, async () => {
      const s = await statusJson(endpoints.slice(0, 1));
      const sets = s[0]?.sets;
      return sets && sets.length === 2 && sets.every((x) => x.entities > 0) ? sets : undefined;
    });
    assert.equal(spread.reduce((n, s) => n + s.entities, 0), names.length);

    // Each queue: sent through a set-1 node, received through a set-2 node, deleted through a set-1 node; and the other way round.
    for (const [i, queueName] of names.entries()) {
      const from = i % 2 === 0 ? set1 : set2;
      const to = i % 2 === 0 ? set2 : set1;
      await ok(from[i % 3]!, 'SendMessage', { queueName, msgBody: `body of ${queueName}` });
      const got = await receiveOne(to[(i + 1) % 3]!, queueName);
      assert.equal(got['msgBody'], `body of ${queueName}`);
      await ok(from[(i + 2) % 3]!, 'DeleteMessage', { queueName, receiptHandle: String(got['receiptHandle']) });
      const attrs = await ok(to[i % 3]!, 'GetQueueAttributes', { queueName });
      assert.equal(attrs['activeMsgNum'], 0, `${queueName}: ${JSON.stringify(attrs)}`);
    }

    // ListQueue through any node: every queue once, the cluster's totalCount, pages that join up.
    for (const endpoint of [set1[1]!, set2[1]!]) {
      const all = await ok(endpoint, 'ListQueue', { searchWord: 'acc-', limit: 50 });
      assert.equal(all['totalCount'], names.length);
      const listed = (all['queueList'] as { queueName: string }[]).map((q) => q.queueName);
      assert.deepEqual(listed, names);
      const pages: string[] = [];
      for (let offset = 0; offset < names.length; offset += 4) {
        const page = await ok(endpoint, 'ListQueue', { searchWord: 'acc-', offset, limit: 4 });
        assert.equal(page['totalCount'], names.length);
        pages.push(...(page['queueList'] as { queueName: string }[]).map((q) => q.queueName));
      }
      assert.deepEqual(pages, names);
    }

    // The SQS API through any node: every action through a set-2 node; a queue made through one
    // node is sent to and received from through nodes of the other set.
    await exerciseEveryAction(sqsClient(`http://127.0.0.1:${sqs! + 4}`), 'acc-sqs-');
    const viaSet1 = sqsClient(`http://127.0.0.1:${sqs! + 1}`);
    const viaSet2 = sqsClient(`http://127.0.0.1:${sqs! + 5}`);
    for (const QueueName of ['acc-sqs-x', 'acc-sqs-y', 'acc-sqs-z']) {
      const { QueueUrl } = await viaSet2.send(new CreateQueueCommand({ QueueName }));
      await viaSet1.send(new SendMessageCommand({ QueueUrl, MessageBody: `sqs ${QueueName}` }));
      const got = await viaSet2.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 5 }));
      assert.equal(got.Messages?.[0]?.Body, `sqs ${QueueName}`);
      await viaSet1.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: got.Messages[0].ReceiptHandle }));
    }

    // A topic delivering into every queue, on whichever set each is.
    await ok(set2[0]!, 'CreateTopic', { topicName: 'acc-topic' });
    for (const [i, queueName] of names.entries()) {
      await ok(endpoints[i]!, 'Subscribe', { topicName: 'acc-topic', subscriptionName: `to-${queueName}`, protocol: 'queue', endpoint: queueName, notifyContentFormat: 'SIMPLIFIED' });
    }
    await ok(set1[2]!, 'PublishMessage', { topicName: 'acc-topic', msgBody: 'fan-out' });
    for (const [i, queueName] of names.entries()) {
      const got = await receiveOne(endpoints[(i + 3) % 6]!, queueName);
      assert.equal(got['msgBody'], 'fan-out', queueName);
      await ok(endpoints[(i + 3) % 6]!, 'DeleteMessage', { queueName, receiptHandle: String(got['receiptHandle']) });
    }

    // The controller's leader killed: every queue still takes sends and gives receives through every node.
    const reports = await statusJson(set1);
    const leader = reports.find((r) => r.controller?.member?.role === 'leader')?.nodeId;
    assert.ok(leader !== undefined, JSON.stringify(reports.map((r) => r.controller)));
    process.kill(pids[leader]!, 'SIGKILL');
    const living = endpoints.filter((_, i) => `n${i + 1}` !== leader);
    for (const [i, queueName] of names.entries()) {
      await ok(living[i % living.length]!, 'SendMessage', { queueName, msgBody: `after ${queueName}` });
      const got = await receiveOne(living[(i + 2) % living.length]!, queueName);
      assert.equal(got['msgBody'], `after ${queueName}`);
    }
    // Deleting a queue through another set's node frees its name cluster-wide.
    await ok(set2[1]!, 'DeleteQueue', { queueName: 'acc-a' });
    const gone = await cmqRequest(living.find((e) => set1.includes(e))!, 'GetQueueAttributes', { queueName: 'acc-a' }, { timeoutMs: 30_000 });
    assert.equal(gone.code, 4440, JSON.stringify(gone));
    for (const [id, pid] of Object.entries(pids)) if (id !== leader) assert.ok(alive(pid), `${id} still runs`);
    cli.interrupt();
    const r = await cli.done;
    assert.equal(r.code, 0, r.stderr.slice(-2000));
  } catch (err) {
    // What the servers said is what explains a failure here.
    console.error(cli.stderr().split('\n').filter((l) => !l.includes('"level":"info"')).slice(-80).join('\n'));
    throw err;
  } finally {
    cli.kill();
    for (const pid of Object.values(pids)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
