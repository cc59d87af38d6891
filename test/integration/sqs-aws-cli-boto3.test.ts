// The AWS CLI and boto3 as Debian packages them (awscli 2.9, python3-boto3 1.26: both speak the
// AWS query protocol, form-encoded requests and XML answers) against opencmq's SQS API, unchanged,
// signing with SigV4 against the server's credentials. .ci/run installs both; where they are
// missing, these tests say so and are skipped.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { startSqsServer, type SqsTestServer } from '../helpers/sqs-server';
import { findRepoFile } from '../helpers/repo-file';

const run = promisify(execFile);
const AWS = '/usr/bin/aws';
const PYTHON = '/usr/bin/python3';
const KEY = 'AKIDcli-test';
const SECRET = 'cli-test-secret';

let server: SqsTestServer;
let home: string;

const awsMissing = existsSync(AWS) ? false : `${AWS} is not installed (Debian package awscli; .ci/run installs it)`;

before(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'opencmq-sqs-cli-home-'));
  server = await startSqsServer({ accessKeyId: KEY, secretAccessKey: SECRET });
});

after(async () => {
  await server.close();
  await rm(home, { recursive: true, force: true });
});

/** A clean environment: only these credentials, no user configuration, no pager. */
function env(): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/bin:/bin',
    HOME: home,
    AWS_ACCESS_KEY_ID: KEY,
    AWS_SECRET_ACCESS_KEY: SECRET,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: path.join(home, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'none'),
    AWS_PAGER: '',
  };
}

/** One `aws sqs` command; its JSON output (undefined when it printed nothing). */
async function aws(...args: string[]): Promise<Record<string, unknown> | undefined> {
  const { stdout } = await run(AWS, ['sqs', ...args, '--endpoint-url', server.sqsUrl, '--output', 'json'], { env: env(), timeout: 60_000 });
  return stdout.trim() === '' ? undefined : (JSON.parse(stdout) as Record<string, unknown>);
}

async function awsError(...args: string[]): Promise<string> {
  try {
    await aws(...args);
  } catch (e) {
    return String((e as { stderr?: string }).stderr ?? e);
  }
  assert.fail(`aws sqs ${args.join(' ')} succeeded`);
}

test('boto3 (query protocol): every action it has', { skip: existsSync(PYTHON) ? false : `${PYTHON} is missing` }, async (t) => {
  const probe = await run(PYTHON, ['-c', 'import boto3'], { env: env() }).then(
    () => true,
    () => false,
  );
  if (!probe) {
    t.skip('boto3 is not installed for /usr/bin/python3 (Debian package python3-boto3; .ci/run installs it)');
    return;
  }
  const script = findRepoFile('test/interop/sqs_boto3.py');
  const { stdout } = await run(PYTHON, [script, server.sqsUrl, KEY, SECRET, 'boto'], { env: env(), timeout: 120_000 });
  assert.equal(stdout.trim(), 'OK');
});

test('AWS CLI (query protocol): every action it has', { skip: awsMissing }, async () => {
  const url = (await aws('create-queue', '--queue-name', 'cli-main', '--attributes', 'VisibilityTimeout=5', '--tags', 'team=payments'))!['QueueUrl'] as string;
  assert.match(url, /\/\d{12}\/cli-main$/);
  const dlq = (await aws('create-queue', '--queue-name', 'cli-dlq'))!['QueueUrl'] as string;
  assert.equal((await aws('get-queue-url', '--queue-name', 'cli-main'))!['QueueUrl'], url);
  assert.match(await awsError('get-queue-url', '--queue-name', 'cli-missing'), /NonExistentQueue/);
  assert.deepEqual(((await aws('list-queues', '--queue-name-prefix', 'cli-'))!['QueueUrls'] as string[]).sort(), [dlq, url].sort());

  const dlqArn = ((await aws('get-queue-attributes', '--queue-url', dlq, '--attribute-names', 'QueueArn'))!['Attributes'] as Record<string, string>)['QueueArn'];
  await aws('set-queue-attributes', '--queue-url', url, '--attributes', JSON.stringify({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 }) }));
  const attrs = (await aws('get-queue-attributes', '--queue-url', url, '--attribute-names', 'All'))!['Attributes'] as Record<string, string>;
  assert.equal(attrs['VisibilityTimeout'], '5');
  assert.match(attrs['RedrivePolicy'] ?? '', /"maxReceiveCount":3/);
  assert.deepEqual((await aws('list-dead-letter-source-queues', '--queue-url', dlq))!['queueUrls'], [url]);

  await aws('tag-queue', '--queue-url', url, '--tags', 'env=test');
  await aws('untag-queue', '--queue-url', url, '--tag-keys', 'team');
  assert.deepEqual((await aws('list-queue-tags', '--queue-url', url))!['Tags'], { env: 'test' });

  const sent = await aws('send-message', '--queue-url', url, '--message-body', 'hello <cli> & more', '--message-attributes', JSON.stringify({ kind: { DataType: 'String', StringValue: 'greeting' } }));
  assert.ok(sent?.['MessageId'] && sent['MD5OfMessageAttributes']);
  const batch = await aws(
    'send-message-batch',
    '--queue-url',
    url,
    '--entries',
    JSON.stringify([
      { Id: 'a', MessageBody: 'one' },
      { Id: 'b', MessageBody: 'two' },
    ]),
  );
  assert.equal((batch!['Successful'] as unknown[]).length, 2);

  const received: { MessageId: string; ReceiptHandle: string; Body: string; MessageAttributes?: Record<string, { StringValue: string }> }[] = [];
  for (let i = 0; i < 10 && received.length < 3; i++) {
    const r = await aws('receive-message', '--queue-url', url, '--max-number-of-messages', '10', '--wait-time-seconds', '1', '--message-attribute-names', 'All', '--attribute-names', 'All');
    received.push(...((r?.['Messages'] as typeof received | undefined) ?? []));
  }
  assert.equal(received.length, 3);
  const first = received.find((m) => m.MessageId === sent['MessageId'])!;
  assert.equal(first.Body, 'hello <cli> & more');
  assert.equal(first.MessageAttributes?.['kind']?.StringValue, 'greeting');

  await aws('change-message-visibility', '--queue-url', url, '--receipt-handle', received[0]!.ReceiptHandle, '--visibility-timeout', '60');
  const vis = await aws('change-message-visibility-batch', '--queue-url', url, '--entries', JSON.stringify([{ Id: 'x', ReceiptHandle: received[1]!.ReceiptHandle, VisibilityTimeout: 60 }]));
  assert.equal((vis!['Successful'] as unknown[]).length, 1);
  await aws('delete-message', '--queue-url', url, '--receipt-handle', received[0]!.ReceiptHandle);
  const del = await aws('delete-message-batch', '--queue-url', url, '--entries', JSON.stringify(received.slice(1).map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle }))));
  assert.equal((del!['Successful'] as unknown[]).length, 2);

  await aws('send-message', '--queue-url', dlq, '--message-body', 'to purge');
  await aws('purge-queue', '--queue-url', dlq);
  const counts = (await aws('get-queue-attributes', '--queue-url', dlq, '--attribute-names', 'ApproximateNumberOfMessages'))!['Attributes'] as Record<string, string>;
  assert.equal(counts['ApproximateNumberOfMessages'], '0');

  await aws('delete-queue', '--queue-url', url);
  await aws('delete-queue', '--queue-url', dlq);
  assert.equal((await aws('list-queues', '--queue-name-prefix', 'cli-'))?.['QueueUrls'], undefined);
});

test('AWS CLI: a wrong secret is refused with SignatureDoesNotMatch', { skip: awsMissing }, async () => {
  const wrong = { ...env(), AWS_SECRET_ACCESS_KEY: 'not-the-secret' };
  const err = await run(AWS, ['sqs', 'list-queues', '--endpoint-url', server.sqsUrl], { env: wrong, timeout: 60_000 }).then(
    () => assert.fail('accepted'),
    (e: { stderr?: string }) => e.stderr ?? '',
  );
  assert.match(err, /SignatureDoesNotMatch/);
});
