// The SQS listener of a running server: `sqsPort` opens it beside the CMQ API, on the same
// credentials (an AWS SDK signing with a configured SecretId/SecretKey is accepted, a wrong key
// refused), `sqsUrl` names it, and close() closes it.

import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import { ListQueuesCommand } from '@aws-sdk/client-sqs';

import { freePort } from '../helpers/cluster';
import { sqsClient } from '../helpers/sqs-every-action';
import { sqsErrorOf, startSqsServer } from '../helpers/sqs-server';

test('sqsPort: an SQS listener on the CMQ credentials, closed with the server', async () => {
  const sqsPort = await freePort();
  const server = await startSqsServer({ accessKeyId: 'AKIDsqs', secretAccessKey: 'the-key' }, sqsPort);
  try {
    assert.equal(server.sqsUrl, `http://127.0.0.1:${sqsPort}`);
    // A wrong secret: refused by the signature check.
    const wrong = sqsClient(server.sqsUrl, { accessKeyId: 'AKIDsqs', secretAccessKey: 'not-the-key' }, 1);
    const refused = await sqsErrorOf(wrong.send(new ListQueuesCommand({})));
    wrong.destroy();
    assert.equal(refused.name, 'SignatureDoesNotMatch');
    assert.equal(refused.$metadata.httpStatusCode, 403);
    // The right one passes the signature check and is served.
    const right = sqsClient(server.sqsUrl, { accessKeyId: 'AKIDsqs', secretAccessKey: 'the-key' }, 1);
    try {
      const out = await right.send(new ListQueuesCommand({}));
      assert.equal(out.$metadata.httpStatusCode, 200);
    } finally {
      right.destroy();
    }
  } finally {
    await server.close();
  }
  // Closed with the server.
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(sqsPort, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      reject(new Error('the SQS port still accepts connections after close()'));
    });
    s.once('error', () => resolve());
  });
});
