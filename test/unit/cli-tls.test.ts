// `opencmq server` TLS options: the client API's --tls-cert/--tls-key/--tls-client-ca and the
// peer links' --peer-tls-cert/--peer-tls-key/--peer-tls-ca, which replace the cluster secret.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UsageError } from '../../src/cli/cli-io';
import { serverOptionsFrom } from '../../src/cli/commands';

const io = { env: {} as Record<string, string | undefined>, err: () => {} };
const member = { 'node-id': 'n1', 'raft-port': '9701', peer: ['n2=h:9702'] };
const peerTls = { 'peer-tls-cert': 'n1.pem', 'peer-tls-key': 'n1.key', 'peer-tls-ca': 'ca.pem' };

test('server: --tls-cert and --tls-key serve HTTPS; --tls-client-ca also requires client certificates', () => {
  assert.equal(serverOptionsFrom({}, io).tls, undefined);
  assert.deepEqual(serverOptionsFrom({ 'tls-cert': 'a.pem', 'tls-key': 'a.key' }, io).tls, { certFile: 'a.pem', keyFile: 'a.key' });
  assert.deepEqual(serverOptionsFrom({ 'tls-cert': 'a.pem', 'tls-key': 'a.key', 'tls-client-ca': 'ca.pem' }, io).tls, {
    certFile: 'a.pem',
    keyFile: 'a.key',
    clientCaFile: 'ca.pem',
  });
  assert.throws(() => serverOptionsFrom({ 'tls-cert': 'a.pem' }, io), UsageError);
  assert.throws(() => serverOptionsFrom({ 'tls-client-ca': 'ca.pem' }, io), /needs --tls-cert/);
});

test('server: peer TLS files make a member without a cluster secret; with one, both are used', () => {
  const opts = serverOptionsFrom({ ...member, ...peerTls }, io);
  assert.deepEqual(opts.cluster?.tls, { certFile: 'n1.pem', keyFile: 'n1.key', caFile: 'ca.pem' });
  assert.equal(opts.cluster?.secret, undefined);
  const both = serverOptionsFrom({ ...member, ...peerTls, 'cluster-secret': 'x'.repeat(16) }, io);
  assert.equal(both.cluster?.secret, 'x'.repeat(16));
  assert.ok(both.cluster?.tls);
  assert.throws(() => serverOptionsFrom({ ...member, 'peer-tls-cert': 'n1.pem', 'peer-tls-key': 'n1.key' }, io), /go together/);
  assert.throws(() => serverOptionsFrom(member, io), /--cluster-secret .* or --peer-tls-cert/);
});
