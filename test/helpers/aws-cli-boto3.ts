// The AWS CLI and boto3 as Debian packages them (awscli 2.9, python3-boto3 1.26: both speak the
// AWS query protocol, form-encoded requests and XML answers), driven at one SQS endpoint: a
// one-node server's, or any node's of a cluster of sets. Shared by the tests that run them, so the
// same checks run against every kind of target. .ci/run installs both; where they are missing,
// the tests say so and are skipped.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { findRepoFile } from './repo-file';

const run = promisify(execFile);
const AWS = '/usr/bin/aws';
const PYTHON = '/usr/bin/python3';

/** Where the tools are aimed, and as whom. */
export interface AwsTarget {
  sqsUrl: string;
  key: string;
  secret: string;
  /** An empty directory for HOME: no user configuration is read. */
  home: string;
}

/** The skip reason when the AWS CLI is missing, else false. */
export const awsMissing: string | false = existsSync(AWS) ? false : `${AWS} is not installed (Debian package awscli; .ci/run installs it)`;

/** The skip reason when boto3 is missing for /usr/bin/python3, else false. */
export async function boto3Missing(home: string): Promise<string | false> {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  const probe = await run(PYTHON, ['-c', 'import boto3'], { env: { PATH: '/usr/bin:/bin', HOME: home } }).then(
    () => true,
    () => false,
  );
  return probe ? false : 'boto3 is not installed for /usr/bin/python3 (Debian package python3-boto3; .ci/run installs it)';
}

/** A clean environment: only these credentials, no user configuration, no pager. */
export function awsEnv(t: AwsTarget): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/bin:/bin',
    HOME: t.home,
    AWS_ACCESS_KEY_ID: t.key,
    AWS_SECRET_ACCESS_KEY: t.secret,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: path.join(t.home, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(t.home, 'none'),
    AWS_PAGER: '',
  };
}

/** The queues test/interop/sqs_boto3.py creates, as it creates them (so a test may create them beforehand, alike). */
export function boto3Queues(prefix: string): { name: string; attributes?: Record<string, string>; tags?: Record<string, string> }[] {
  return [{ name: `${prefix}-main`, attributes: { VisibilityTimeout: '5' }, tags: { team: 'payments' } }, { name: `${prefix}-dlq` }, { name: `${prefix}-other` }];
}

/** test/interop/sqs_boto3.py at the target: every action boto3 has, on queues PREFIX-main, -dlq, -other. */
export async function runBoto3(t: AwsTarget, prefix: string): Promise<void> {
  const script = findRepoFile('test/interop/sqs_boto3.py');
  const { stdout } = await run(PYTHON, [script, t.sqsUrl, t.key, t.secret, prefix], { env: awsEnv(t), timeout: 120_000 });
  assert.equal(stdout.trim(), 'OK');
}

/** One `aws sqs` command; its JSON output (undefined when it printed nothing). */
async function aws(t: AwsTarget, ...args: string[]): Promise<Record<string, unknown> | undefined> {
  const { stdout } = await run(AWS, ['sqs', ...args, '--endpoint-url', t.sqsUrl, '--output', 'json'], { env: awsEnv(t), timeout: 60_000 });
  return stdout.trim() === '' ? undefined : (JSON.parse(stdout) as Record<string, unknown>);
}

async function awsError(t: AwsTarget, ...args: string[]): Promise<string> {
  try {
    await aws(t, ...args);
  } catch (e) {
    return String((e as { stderr?: string }).stderr ?? e);
  }
  assert.fail(`aws sqs ${args.join(' ')} succeeded`);
}

/** The queues exerciseAwsCli creates, as it creates them (so a test may create them beforehand, alike). */
export function awsCliQueues(prefix: string): { name: string; attributes?: Record<string, string>; tags?: Record<string, string> }[] {
  return [{ name: `${prefix}-main`, attributes: { VisibilityTimeout: '5' }, tags: { team: 'payments' } }, { name: `${prefix}-dlq` }];
}

/** Every `aws sqs` action, on queues PREFIX-main and PREFIX-dlq (no other queue may start with PREFIX-). */
export async function exerciseAwsCli(t: AwsTarget, prefix: string): Promise<void> {
  const [main, dead] = awsCliQueues(prefix) as [{ name: string; attributes: Record<string, string>; tags: Record<string, string> }, { name: string }];
  const pairs = (m: Record<string, string>): string => Object.entries(m).map(([k, v]) => `${k}=${v}`).join(',');
  const url = (await aws(t, 'create-queue', '--queue-name', main.name, '--attributes', pairs(main.attributes), '--tags', pairs(main.tags)))!['QueueUrl'] as string;
  assert.match(url, new RegExp(`/\\d{12}/${main.name}$`));
  const dlq = (await aws(t, 'create-queue', '--queue-name', dead.name))!['QueueUrl'] as string;
  assert.equal((await aws(t, 'get-queue-url', '--queue-name', main.name))!['QueueUrl'], url);
  assert.match(await awsError(t, 'get-queue-url', '--queue-name', `${prefix}-missing`), /NonExistentQueue/);
  assert.deepEqual(((await aws(t, 'list-queues', '--queue-name-prefix', `${prefix}-`))!['QueueUrls'] as string[]).sort(), [dlq, url].sort());

  const dlqArn = ((await aws(t, 'get-queue-attributes', '--queue-url', dlq, '--attribute-names', 'QueueArn'))!['Attributes'] as Record<string, string>)['QueueArn'];
  await aws(t, 'set-queue-attributes', '--queue-url', url, '--attributes', JSON.stringify({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 }) }));
  const attrs = (await aws(t, 'get-queue-attributes', '--queue-url', url, '--attribute-names', 'All'))!['Attributes'] as Record<string, string>;
  assert.equal(attrs['VisibilityTimeout'], '5');
  assert.match(attrs['RedrivePolicy'] ?? '', /"maxReceiveCount":3/);
  assert.deepEqual((await aws(t, 'list-dead-letter-source-queues', '--queue-url', dlq))!['queueUrls'], [url]);

  await aws(t, 'tag-queue', '--queue-url', url, '--tags', 'env=test');
  await aws(t, 'untag-queue', '--queue-url', url, '--tag-keys', 'team');
  assert.deepEqual((await aws(t, 'list-queue-tags', '--queue-url', url))!['Tags'], { env: 'test' });

  const sent = await aws(t, 'send-message', '--queue-url', url, '--message-body', 'hello <cli> & more', '--message-attributes', JSON.stringify({ kind: { DataType: 'String', StringValue: 'greeting' } }));
  assert.ok(sent?.['MessageId'] && sent['MD5OfMessageAttributes']);
  const batch = await aws(
    t,
    'send-message-batch',
    '--queue-url',
    url,
    '--entries',
    JSON.stringify([
      { Id: 'a', MessageBody: 'one' },
      { Id: 'b', MessageBody: 'two' },
    ]),
  );
  assert.equal((batch!['Successful'] as unknown[] | undefined)?.length, 2, JSON.stringify(batch));

  const received: { MessageId: string; ReceiptHandle: string; Body: string; MessageAttributes?: Record<string, { StringValue: string }> }[] = [];
  for (let i = 0; i < 10 && received.length < 3; i++) {
    // Received for 60 s, not the queue's 5: on a busy machine each aws command takes seconds, and
    // the handles must still be in flight when the visibility changes and deletes below use them.
    const r = await aws(t, 'receive-message', '--queue-url', url, '--max-number-of-messages', '10', '--wait-time-seconds', '1', '--visibility-timeout', '60', '--message-attribute-names', 'All', '--attribute-names', 'All');
    received.push(...((r?.['Messages'] as typeof received | undefined) ?? []));
  }
  assert.equal(received.length, 3);
  const first = received.find((m) => m.MessageId === sent['MessageId'])!;
  assert.equal(first.Body, 'hello <cli> & more');
  assert.equal(first.MessageAttributes?.['kind']?.StringValue, 'greeting');

  await aws(t, 'change-message-visibility', '--queue-url', url, '--receipt-handle', received[0]!.ReceiptHandle, '--visibility-timeout', '60');
  const vis = await aws(t, 'change-message-visibility-batch', '--queue-url', url, '--entries', JSON.stringify([{ Id: 'x', ReceiptHandle: received[1]!.ReceiptHandle, VisibilityTimeout: 60 }]));
  assert.equal((vis!['Successful'] as unknown[] | undefined)?.length, 1, JSON.stringify(vis));
  await aws(t, 'delete-message', '--queue-url', url, '--receipt-handle', received[0]!.ReceiptHandle);
  const del = await aws(t, 'delete-message-batch', '--queue-url', url, '--entries', JSON.stringify(received.slice(1).map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle }))));
  assert.equal((del!['Successful'] as unknown[] | undefined)?.length, 2, JSON.stringify(del));

  await aws(t, 'send-message', '--queue-url', dlq, '--message-body', 'to purge');
  await aws(t, 'purge-queue', '--queue-url', dlq);
  const counts = (await aws(t, 'get-queue-attributes', '--queue-url', dlq, '--attribute-names', 'ApproximateNumberOfMessages'))!['Attributes'] as Record<string, string>;
  assert.equal(counts['ApproximateNumberOfMessages'], '0');

  await aws(t, 'delete-queue', '--queue-url', url);
  await aws(t, 'delete-queue', '--queue-url', dlq);
  assert.equal((await aws(t, 'list-queues', '--queue-name-prefix', `${prefix}-`))?.['QueueUrls'], undefined);
}

/** A wrong secret is refused with SignatureDoesNotMatch. */
export async function awsCliWrongSecretRefused(t: AwsTarget): Promise<void> {
  const wrong = { ...awsEnv(t), AWS_SECRET_ACCESS_KEY: 'not-the-secret' };
  const err = await run(AWS, ['sqs', 'list-queues', '--endpoint-url', t.sqsUrl], { env: wrong, timeout: 60_000 }).then(
    () => assert.fail('accepted'),
    (e: { stderr?: string }) => e.stderr ?? '',
  );
  assert.match(err, /SignatureDoesNotMatch/);
}
