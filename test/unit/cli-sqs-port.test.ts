// `opencmq server --sqs-port`: the one-node server listens for SQS on 9324 unless told otherwise;
// a member of a set, or a server on a free API port, only when given a port; 0 turns it off.
// An open server (no credentials) refuses a non-loopback SQS address like a non-loopback API one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverOptionsFrom } from '../../src/cli/commands';
import { UsageError } from '../../src/cli/cli-io';
import { DEFAULT_SQS_PORT } from '../../src/node/server-options';
import { startServer } from '../../src/node/server';

const io = { env: { OPENCMQ_CLUSTER_SECRET: 'a-secret-of-enough-bytes' }, err: () => undefined };
const MEMBER = { 'node-id': 'n1', 'raft-port': '9701', peer: ['n2=127.0.0.1:9702', 'n3=127.0.0.1:9703'] };

test('a one-node server serves SQS on 9324 by default, at --host unless --sqs-host', () => {
  assert.equal(DEFAULT_SQS_PORT, 9324);
  const opts = serverOptionsFrom({}, io);
  assert.equal(opts.sqsPort, 9324);
  assert.equal(opts.sqsHost, undefined);
  assert.equal(serverOptionsFrom({ 'sqs-port': '9400', 'sqs-host': '0.0.0.0' }, io).sqsHost, '0.0.0.0');
  assert.equal(serverOptionsFrom({ 'sqs-port': '9400' }, io).sqsPort, 9400);
});

test('--sqs-port 0 turns it off; a member of a set or --port 0 has none unless given', () => {
  assert.equal(serverOptionsFrom({ 'sqs-port': '0' }, io).sqsPort, undefined);
  assert.equal(serverOptionsFrom({ port: '0' }, io).sqsPort, undefined);
  assert.equal(serverOptionsFrom({ port: '0', 'sqs-port': '9500' }, io).sqsPort, 9500);
  assert.equal(serverOptionsFrom(MEMBER, io).sqsPort, undefined);
  assert.equal(serverOptionsFrom({ ...MEMBER, 'sqs-port': '9325' }, io).sqsPort, 9325);
  assert.throws(() => serverOptionsFrom({ 'sqs-port': '70000' }, io), UsageError);
  assert.throws(() => serverOptionsFrom({ 'sqs-port': 'x' }, io), UsageError);
});

test('without credentials, a non-loopback --sqs-host is refused like a non-loopback --host', async () => {
  await assert.rejects(
    startServer({ dataDir: '/nonexistent/never-used', host: '127.0.0.1', port: 0, credentials: [], insecureNoAuth: false, sqsPort: 9324, sqsHost: '0.0.0.0', log: () => undefined }),
    /refusing to listen on 0\.0\.0\.0/,
  );
});
