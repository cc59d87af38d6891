// The AWS SDK for JavaScript v3 (@aws-sdk/client-sqs, unchanged) against opencmq's SQS API: every
// action, on a single node that checks Signature Version 4 against its credentials, and through
// a follower of a 3-node set (any member serves any queue). Queues made through SQS are then seen
// through the CMQ API of the same server.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CreateQueueCommand, ListQueuesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';

import { CmqClient } from '../../src/client/client';
import { freePorts, startTestSet, waitForLeader } from '../helpers/cluster';
import { exerciseEveryAction, sqsClient } from '../helpers/sqs-every-action';
import { startSqsServer } from '../helpers/sqs-server';

const CREDENTIALS = { accessKeyId: 'AKIDsqs-test', secretAccessKey: 'sqs-test-key' };

test('single node, signatures checked: every action, and the same queues through the CMQ API', async () => {
  const sqsServer = await startSqsServer(CREDENTIALS);
  const server = sqsServer.server;
  const c = sqsClient(sqsServer.sqsUrl, CREDENTIALS);
  const cmq = new CmqClient({ endpoint: server.url, secretId: CREDENTIALS.accessKeyId, secretKey: CREDENTIALS.secretAccessKey });
  try {
    await exerciseEveryAction(c, 'single');
    // One broker, two views: a queue and a message made through SQS, read through CMQ, and back.
    const url = (await c.send(new CreateQueueCommand({ QueueName: 'both-apis', Attributes: { VisibilityTimeout: '7' } }))).QueueUrl!;
    await c.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'from sqs', MessageAttributes: { a: { DataType: 'String', StringValue: 'x' } } }));
    const attrs = await cmq.getQueueAttributes('both-apis');
    assert.equal(attrs.visibilityTimeout, 7);
    const m = await cmq.receiveMessage('both-apis', { pollingWaitSeconds: 2 });
    assert.equal(m?.body, 'from sqs', 'a CMQ receive gets the body without its SQS attributes');
    await cmq.createQueue('fromCmq');
    const listed = await c.send(new ListQueuesCommand({ QueueNamePrefix: 'fromCmq' }));
    assert.equal(listed.QueueUrls?.length, 1);
  } finally {
    c.destroy();
    cmq.close();
    await sqsServer.close();
  }
});

test('3-node set: every action through a follower', async () => {
  const sqsPorts = await freePorts(['n1', 'n2', 'n3']);
  const set = await startTestSet({ sqsPorts });
  try {
    const { leader } = await waitForLeader(set);
    const follower = set.ids.find((id) => id !== leader)!;
    const c = sqsClient(`http://127.0.0.1:${sqsPorts[follower]}`);
    try {
      await exerciseEveryAction(c, 'set');
    } finally {
      c.destroy();
    }
  } finally {
    await set.close();
  }
});
