// A one-node server with its SQS listener on a free port, checking signatures against one
// credential, for the SQS integration tests; and the SQS error a promise must fail with.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SQSServiceException } from '@aws-sdk/client-sqs';

import { startServer, type StartedServer } from '../../src/node/server';
import { freePort } from './cluster';

export interface SqsTestServer {
  server: StartedServer;
  /** The SQS listener's URL. */
  sqsUrl: string;
  close(): Promise<void>;
}

export async function startSqsServer(credential: { accessKeyId: string; secretAccessKey: string }, sqsPort?: number): Promise<SqsTestServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-sqs-'));
  const server = await startServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    credentials: [{ secretId: credential.accessKeyId, secretKey: credential.secretAccessKey }],
    insecureNoAuth: false,
    // sqsPort 0 turns the listener off: a free port is picked here instead.
    sqsPort: sqsPort ?? (await freePort()),
    log: () => undefined,
  });
  return {
    server,
    sqsUrl: server.sqsUrl!,
    close: async () => {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The SQS error `p` fails with (the test fails if it succeeds or fails otherwise). */
export async function sqsErrorOf(p: Promise<unknown>): Promise<SQSServiceException> {
  return p.then(
    () => assert.fail('expected an error'),
    (e: unknown) => {
      assert.ok(e instanceof SQSServiceException, String(e));
      return e;
    },
  );
}
