// The AWS CLI, boto3 and the AWS SDK for JavaScript's FIFO checks, unchanged, against a node of a
// cluster of sets (`cluster start-local --sets 2`, signatures checked) whose set does NOT hold the
// queues it is asked about: the same checks as sqs-aws-cli-boto3.test.ts and sqs-fifo.test.ts
// run against a one-node server (test/helpers/aws-cli-boto3.ts, test/helpers/sqs-fifo.ts).
//
// Both sets hold queues (filler queues are created until the controller has placed some on
// each). The queues the CLI and boto3 use are created first, as those tools create them (their
// own creates then find them, as SQS's CreateQueue of an existing queue with the same attributes
// does), and moved to set 1; the tools are then aimed at nodes of set 2. A FIFO queue cannot be
// moved, so the FIFO check is aimed at a node of whichever set the controller did not place it on.
// One cluster start serves the whole file.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { CreateQueueCommand, TagQueueCommand } from '@aws-sdk/client-sqs';

import { awsCliQueues, awsCliWrongSecretRefused, awsMissing, boto3Missing, boto3Queues, exerciseAwsCli, runBoto3, type AwsTarget } from '../helpers/aws-cli-boto3';
import { alive, freeBases, startCli, type CliProcess } from '../helpers/cli-process';
import { signArgs, statusJson, until } from '../helpers/local-sets';
import { sqsClient } from '../helpers/sqs-every-action';
import { exerciseFifo, FIFO_ATTRIBUTES } from '../helpers/sqs-fifo';

const KEY = 'AKIDsets-sqs';
const SECRET = 'sets-sqs-secret';
const CREDENTIAL = { secretId: KEY, secretKey: SECRET };
const SQS_CREDENTIAL = { accessKeyId: KEY, secretAccessKey: SECRET };

let dir: string;
let cli: CliProcess | undefined;
let pids: number[] = [];
/** n1..n6: n1-n3 are set 1, n4-n6 set 2. */
let apiUrls: string[] = [];
let sqsUrls: string[] = [];

/** Per set id, the queues and topics the controller has placed there (its own count, fresh). */
async function entitiesBySet(): Promise<Map<number, number>> {
  const s = await statusJson(apiUrls.slice(0, 1), CREDENTIAL);
  const sets = s[0]?.sets;
  assert.ok(sets !== undefined && sets.length === 2, JSON.stringify(s[0]?.controller));
  return new Map(sets.map((x) => [x.id, x.entities]));
}

/** Creates `queues` as the tools will (through a node of set 2) and moves each to set 1. */
async function onSet1(queues: { name: string; attributes?: Record<string, string>; tags?: Record<string, string> }[]): Promise<void> {
  const sqs = sqsClient(sqsUrls[3]!, SQS_CREDENTIAL);
  try {
    for (const q of queues) {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: q.name, Attributes: q.attributes }));
      if (q.tags !== undefined) await sqs.send(new TagQueueCommand({ QueueUrl, Tags: q.tags }));
      const r = await startCli(['cluster', 'move-queue', q.name, '--to', '1', '--wait', '--timeout', '60', '--endpoint', apiUrls[0]!, ...signArgs(CREDENTIAL)], { timeoutMs: 90_000 }).done;
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`queue ${q.name} is on set 1`));
    }
  } finally {
    sqs.destroy();
  }
}

function target(sqsUrl: string, home: string): AwsTarget {
  return { sqsUrl, key: KEY, secret: SECRET, home };
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-sets-sqs-'));
  const [api, raft, admin, sqs] = await freeBases(4, 6);
  apiUrls = [0, 1, 2, 3, 4, 5].map((i) => `http://127.0.0.1:${api! + i}`);
  sqsUrls = [0, 1, 2, 3, 4, 5].map((i) => `http://127.0.0.1:${sqs! + i}`);
  cli = startCli(
    ['cluster', 'start-local', '--sets', '2', '--data-dir', path.join(dir, 'c'), '--base-port', String(api), '--raft-base-port', String(raft),
      '--admin-base-port', String(admin), '--sqs-base-port', String(sqs), '--log-format', 'json', '--log-level', 'warn'],
    // Every server checks signatures against this one credential.
    { env: { ...process.env, OPENCMQ_SECRET_ID: KEY, OPENCMQ_SECRET_KEY: SECRET }, timeoutMs: 600_000 },
  );
  await until('the members line', 30_000, () => Promise.resolve(/^members: /m.test(cli!.stdout()) ? true : undefined));
  pids = [.../^members: (.*)$/m.exec(cli.stdout())![1]!.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
  await until('both sets registered with the controller', 120_000, async () => ((await entitiesBySet()).size === 2 ? true : undefined));
  // Queues on both sets: fillers (no check uses them) until the controller has placed some on each.
  const filler = sqsClient(sqsUrls[0]!, SQS_CREDENTIAL);
  try {
    for (let i = 0; [...(await entitiesBySet()).values()].some((n) => n === 0); i++) {
      assert.ok(i < 8, 'eight fillers all placed on one set');
      await filler.send(new CreateQueueCommand({ QueueName: `filler-${i}` }));
    }
  } finally {
    filler.destroy();
  }
});

after(async () => {
  if (cli !== undefined) {
    cli.interrupt();
    const r = await Promise.race([cli.done, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    if (r === undefined) cli.kill();
  }
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('boto3 through a node of set 2: every action it has, on queues of set 1', { timeout: 240_000 }, async (t) => {
  const home = mkdtempSync(path.join(dir, 'home-'));
  const missing = await boto3Missing(home);
  if (missing) {
    t.skip(missing);
    return;
  }
  await onSet1(boto3Queues('boto'));
  await runBoto3(target(sqsUrls[4]!, home), 'boto');
});

test('AWS CLI through a node of set 2: every action it has, on queues of set 1; a wrong secret refused', { skip: awsMissing, timeout: 240_000 }, async () => {
  const home = mkdtempSync(path.join(dir, 'home-'));
  await onSet1(awsCliQueues('cli'));
  await exerciseAwsCli(target(sqsUrls[5]!, home), 'cli');
  await awsCliWrongSecretRefused(target(sqsUrls[3]!, home));
});

test('a FIFO queue through @aws-sdk/client-sqs at a node of the set that does not hold it', { timeout: 120_000 }, async () => {
  const placedBefore = await entitiesBySet();
  const creator = sqsClient(sqsUrls[1]!, SQS_CREDENTIAL);
  try {
    await creator.send(new CreateQueueCommand({ QueueName: 'jobs.fifo', Attributes: FIFO_ATTRIBUTES }));
  } finally {
    creator.destroy();
  }
  const placedAfter = await entitiesBySet();
  const holder = [...placedAfter].find(([id, n]) => n === (placedBefore.get(id) ?? 0) + 1)?.[0];
  assert.ok(holder === 1 || holder === 2, `before ${JSON.stringify([...placedBefore])}, after ${JSON.stringify([...placedAfter])}`);
  // A node of the other set: n4 when set 1 holds it, n2 when set 2 does.
  const sqs = sqsClient(sqsUrls[holder === 1 ? 3 : 1]!, SQS_CREDENTIAL, 1);
  try {
    await exerciseFifo(sqs, 'jobs.fifo');
  } finally {
    sqs.destroy();
  }
});
