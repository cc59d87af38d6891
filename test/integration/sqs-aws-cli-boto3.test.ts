// The AWS CLI and boto3 (test/helpers/aws-cli-boto3.ts) against a one-node server's SQS API,
// unchanged, signing with SigV4 against the server's credentials.
// test/integration/cluster-sqs-clients.test.ts runs the same checks against a cluster of sets.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { startSqsServer, type SqsTestServer } from '../helpers/sqs-server';
import { awsCliWrongSecretRefused, awsMissing, boto3Missing, exerciseAwsCli, runBoto3, type AwsTarget } from '../helpers/aws-cli-boto3';

const KEY = 'AKIDcli-test';
const SECRET = 'cli-test-secret';

let server: SqsTestServer;
let target: AwsTarget;

before(async () => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'opencmq-sqs-cli-home-'));
  server = await startSqsServer({ accessKeyId: KEY, secretAccessKey: SECRET });
  target = { sqsUrl: server.sqsUrl, key: KEY, secret: SECRET, home };
});

after(async () => {
  await server.close();
  await rm(target.home, { recursive: true, force: true });
});

test('boto3 (query protocol): every action it has', async (t) => {
  const missing = await boto3Missing(target.home);
  if (missing) {
    t.skip(missing);
    return;
  }
  await runBoto3(target, 'boto');
});

test('AWS CLI (query protocol): every action it has', { skip: awsMissing }, async () => {
  await exerciseAwsCli(target, 'cli');
});

test('AWS CLI: a wrong secret is refused with SignatureDoesNotMatch', { skip: awsMissing }, async () => {
  await awsCliWrongSecretRefused(target);
});
