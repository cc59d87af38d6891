// `opencmq server` client-connection options: the request deadline, the idle keep-alive time and
// the per-client-address connection cap reach ServerOptions in milliseconds / counts, in range.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverOptionsFrom } from '../../src/cli/commands';
import { UsageError } from '../../src/cli/cli-io';
import { LIMITS } from '../../src/protocol/limits';

const io = { env: {}, err: () => undefined };

void test('server options: --request-timeout, --keep-alive-timeout and --max-connections-per-client', () => {
  const opts = serverOptionsFrom({ 'request-timeout': '5', 'keep-alive-timeout': '120', 'max-connections-per-client': '1000' }, io);
  assert.equal(opts.requestTimeoutMs, 5000);
  assert.equal(opts.keepAliveTimeoutMs, 120_000);
  assert.equal(opts.maxConnectionsPerClient, 1000);
});

void test('server options: unset client-connection options leave the defaults to the HTTP server', () => {
  const opts = serverOptionsFrom({}, io);
  assert.equal(opts.requestTimeoutMs, undefined);
  assert.equal(opts.keepAliveTimeoutMs, undefined);
  assert.equal(opts.maxConnectionsPerClient, undefined);
});

void test('server options: out-of-range client-connection options are usage errors', () => {
  assert.throws(() => serverOptionsFrom({ 'request-timeout': '0' }, io), UsageError);
  assert.throws(() => serverOptionsFrom({ 'request-timeout': '1.5' }, io), UsageError);
  assert.throws(() => serverOptionsFrom({ 'keep-alive-timeout': '0' }, io), UsageError);
  assert.throws(() => serverOptionsFrom({ 'max-connections-per-client': '0' }, io), UsageError);
  assert.throws(() => serverOptionsFrom({ 'max-connections-per-client': String(LIMITS.httpConnectionsMax + 1) }, io), UsageError);
});
