// Dead-letter queues across sets, as real processes: `cluster start-local --sets 2`, a queue and
// its dead-letter queue created apart (so the controller puts them on different sets), then the
// SQS order of things: a RedrivePolicy set afterwards, through a node of the other set. A message
// received past maxReceiveCount reaches the dead-letter queue on the other set with its body and
// message attributes; ListDeadLetterSourceQueues finds its source; the dead-letter queue cannot
// be deleted while named; and StartMessageMoveTask sends the message back to its source set.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListDeadLetterSourceQueuesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  StartMessageMoveTaskCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

import { alive, freeBases, startCli } from '../helpers/cli-process';
import { sqsClient } from '../helpers/sqs-every-action';
import { sqsErrorOf } from '../helpers/sqs-server';
import { statusJson, until } from '../helpers/local-sets';



/** Entities each set holds, by set id. */
async function entitiesPerSet(endpoint: string): Promise<number[]> {
  const s = await statusJson([endpoint]);
  return (s[0]?.sets ?? []).map((x) => x.entities);
}

async function visible(c: SQSClient, QueueUrl: string): Promise<number> {
  const a = await c.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
  return Number(a.Attributes?.ApproximateNumberOfMessages);
}

test('start-local --sets 2: a RedrivePolicy set after both queues exist dead-letters into the other set, and a redrive brings the message back', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-xdlq-'));
  const [api, raft, admin, sqs] = await freeBases(4, 6);
  const endpoints = [0, 1, 2, 3, 4, 5].map((i) => `http://127.0.0.1:${api! + i}`);
  const cli = startCli(
    ['cluster', 'start-local', '--sets', '2', '--keep-going', '--data-dir', path.join(dir, 'c'), '--base-port', String(api), '--raft-base-port', String(raft),
      '--admin-base-port', String(admin), '--sqs-base-port', String(sqs), '--log-format', 'json'],
    { timeoutMs: 280_000 },
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
    const viaSet1 = sqsClient(`http://127.0.0.1:${sqs! + 1}`, undefined, 10);
    const viaSet2 = sqsClient(`http://127.0.0.1:${sqs! + 4}`, undefined, 10);

    // Created one after the other on an empty cluster: the controller puts them on different sets.
    const mainUrl = (await viaSet2.send(new CreateQueueCommand({ QueueName: 'xd-main', Attributes: { VisibilityTimeout: '1' } }))).QueueUrl!;
    await until('the main queue counted', 30_000, async () => ((await entitiesPerSet(endpoints[0]!)).reduce((a, b) => a + b, 0) === 1 ? true : undefined));
    const dlqUrl = (await viaSet2.send(new CreateQueueCommand({ QueueName: 'xd-dlq' }))).QueueUrl!;
    await until('one queue on each set', 30_000, async () => ((await entitiesPerSet(endpoints[0]!)).join() === '1,1' ? true : undefined));
    const dlqArn = (await viaSet1.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;

    // The SQS order: the policy set afterwards, through a node of set 1.
    await viaSet1.send(new SetQueueAttributesCommand({ QueueUrl: mainUrl, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }) } }));
    assert.deepEqual((await viaSet2.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlqUrl }))).queueUrls, [mainUrl]);

    // Received once, then past maxReceiveCount: on to the dead-letter queue on the other set.
    const sent = await viaSet1.send(
      new SendMessageCommand({ QueueUrl: mainUrl, MessageBody: 'poison ✓', MessageAttributes: { kind: { DataType: 'String', StringValue: 'credit' }, raw: { DataType: 'Binary', BinaryValue: Buffer.from([0, 255]) } } }),
    );
    const first = await viaSet2.send(new ReceiveMessageCommand({ QueueUrl: mainUrl, WaitTimeSeconds: 5 }));
    assert.equal(first.Messages?.[0]?.MessageId, sent.MessageId);
    const dead = await until('the dead letter in the other set', 60_000, async () => {
      await viaSet2.send(new ReceiveMessageCommand({ QueueUrl: mainUrl, WaitTimeSeconds: 1 }));
      const got = await viaSet1.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, WaitTimeSeconds: 1, MessageAttributeNames: ['All'], VisibilityTimeout: 1 }));
      return got.Messages?.[0];
    });
    assert.equal(dead.Body, 'poison ✓');
    assert.equal(dead.MessageAttributes?.kind?.StringValue, 'credit');
    assert.deepEqual(Buffer.from(dead.MessageAttributes?.raw?.BinaryValue ?? []), Buffer.from([0, 255]));
    assert.equal(dead.MD5OfMessageAttributes, sent.MD5OfMessageAttributes);
    assert.equal(await visible(viaSet1, mainUrl), 0);

    // Still named by the main queue: not deleted.
    const inUse = await sqsErrorOf(viaSet2.send(new DeleteQueueCommand({ QueueUrl: dlqUrl })));
    assert.equal(inUse.$metadata.httpStatusCode, 400, inUse.name);

    // A redrive with no destination: back to its source, on the other set.
    await until('the dead letter visible again', 30_000, async () => ((await visible(viaSet1, dlqUrl)) === 1 ? true : undefined));
    const task = await viaSet2.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
    assert.ok(task.TaskHandle);
    await until('the move task completed', 60_000, async () => {
      const t = (await viaSet1.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results ?? [];
      return t[0]?.Status === 'COMPLETED' ? t[0] : undefined;
    });
    const back = await until('the message back in its source queue', 60_000, async () => {
      const got = await viaSet1.send(new ReceiveMessageCommand({ QueueUrl: mainUrl, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }));
      return got.Messages?.[0];
    });
    assert.equal(back.Body, 'poison ✓');
    assert.equal(back.MessageAttributes?.kind?.StringValue, 'credit');
    assert.equal(await visible(viaSet2, dlqUrl), 0);

    // Unbound, the dead-letter queue can go.
    await viaSet2.send(new SetQueueAttributesCommand({ QueueUrl: mainUrl, Attributes: { RedrivePolicy: '' } }));
    await viaSet1.send(new DeleteQueueCommand({ QueueUrl: dlqUrl }));
    await viaSet2.send(new DeleteQueueCommand({ QueueUrl: mainUrl }));
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
