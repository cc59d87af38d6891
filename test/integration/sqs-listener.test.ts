// The SQS listener of a running server: `sqsPort` opens it beside the CMQ API, on the same
// credentials (an AWS SDK signing with a configured SecretId/SecretKey is accepted, a wrong key
// refused), `sqsUrl` names it, and close() closes it.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ListQueuesCommand, SQSClient, SQSServiceException } from '@aws-sdk/client-sqs';
import { startServer } from '../../src/node/server';

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function client(endpoint: string, secretAccessKey: string): SQSClient {
  return new SQSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDsqs', secretAccessKey }, maxAttempts: 1 });
}

async function errorOf(p: Promise<unknown>): Promise<SQSServiceException> {
  return p.then(
    () => assert.fail('expected an error'),
    (e: unknown) => {
      assert.ok(e instanceof SQSServiceException, String(e));
      return e;
    },
  );
}

test('sqsPort: an SQS listener on the CMQ credentials, closed with the server', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-sqs-'));
  const sqsPort = await freePort();
  const server = await startServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    credentials: [{ secretId: 'AKIDsqs', secretKey: 'the-key' }],
    insecureNoAuth: false,
    sqsPort,
    log: () => undefined,
  });
  try {
    assert.equal(server.sqsUrl, `http://127.0.0.1:${sqsPort}`);
    // A wrong secret: refused by the signature check.
    const wrong = client(server.sqsUrl, 'not-the-key');
    const refused = await errorOf(wrong.send(new ListQueuesCommand({})));
    wrong.destroy();
    assert.equal(refused.name, 'SignatureDoesNotMatch');
    assert.equal(refused.$metadata.httpStatusCode, 403);
    // The right one passes the signature check and is served.
    const right = client(server.sqsUrl, 'the-key');
    try {
      const out = await right.send(new ListQueuesCommand({}));
      assert.equal(out.$metadata.httpStatusCode, 200);
    } finally {
      right.destroy();
    }
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
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
