// A FIFO queue end to end with the AWS SDK for JavaScript (test/helpers/sqs-fifo.ts) against a
// one-node server's SQS listener. test/integration/cluster-sqs-clients.test.ts runs the same
// against a node of a cluster of sets whose set does not hold the queue.

import { test } from 'node:test';

import { sqsClient } from '../helpers/sqs-every-action';
import { exerciseFifo } from '../helpers/sqs-fifo';
import { startSqsServer } from '../helpers/sqs-server';

const CREDENTIAL = { accessKeyId: 'AKIDfifo', secretAccessKey: 'fifo-key' };

test('a FIFO queue through @aws-sdk/client-sqs: groups in order, deduplication, sequence numbers', { timeout: 60_000 }, async () => {
  const server = await startSqsServer(CREDENTIAL);
  const sqs = sqsClient(server.sqsUrl, CREDENTIAL, 1);
  try {
    await exerciseFifo(sqs, 'jobs.fifo');
  } finally {
    sqs.destroy();
    await server.close();
  }
});
