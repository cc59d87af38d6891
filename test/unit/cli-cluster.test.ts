import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UsageError } from '../../src/cli/cli-io';
import { serverOptionsFrom } from '../../src/cli/commands';

const io = { env: {} as Record<string, string | undefined>, err: () => {} };

test('server: --node-id, --raft-port, --peer and the cluster secret make a replicated-set member', () => {
  const opts = serverOptionsFrom(
    { 'node-id': 'n1', 'raft-port': '9701', peer: ['n2=10.0.0.2:9701', 'n3=host3:9702'], 'cluster-secret': 'a-secret-of-16-bytes' },
    io,
  );
  assert.deepEqual(opts.cluster, {
    nodeId: 'n1',
    raftHost: '127.0.0.1',
    raftPort: 9701,
    peers: { n2: { host: '10.0.0.2', port: 9701 }, n3: { host: 'host3', port: 9702 } },
    secret: 'a-secret-of-16-bytes',
  });
  const fromEnv = serverOptionsFrom(
    { 'node-id': 'n1', 'raft-port': '9701', peer: ['n2=h:1'] },
    { ...io, env: { OPENCMQ_CLUSTER_SECRET: 'from-the-environment' } },
  );
  assert.equal(fromEnv.cluster?.secret, 'from-the-environment');
});

test('server: no cluster options means a one-node set; incomplete ones are usage errors', () => {
  assert.equal(serverOptionsFrom({}, io).cluster, undefined);
  assert.throws(() => serverOptionsFrom({ 'node-id': 'n1' }, io), UsageError);
  assert.throws(() => serverOptionsFrom({ peer: ['n2=h:1'] }, io), UsageError);
  assert.throws(() => serverOptionsFrom({ 'node-id': 'n1', peer: ['n2=h:1'], 'cluster-secret': 'x'.repeat(16) }, io), /raft-port/);
  assert.throws(() => serverOptionsFrom({ 'node-id': 'n1', peer: ['n2=h:1'], 'raft-port': '1' }, io), /cluster-secret/);
  assert.throws(() => serverOptionsFrom({ 'node-id': 'n1', peer: ['n2-no-port'], 'raft-port': '1', 'cluster-secret': 'x'.repeat(16) }, io), /ID=HOST:PORT/);
  assert.throws(() => serverOptionsFrom({ 'node-id': 'n1', peer: ['n1=h:1'], 'raft-port': '1', 'cluster-secret': 'x'.repeat(16) }, io), /own id/);
});

test('server: --join marks a new member that waits to be added; --snapshot-every sets the cadence', () => {
  const base = { 'node-id': 'n4', 'raft-port': '9704', peer: ['n1=h:9701'], 'cluster-secret': 'x'.repeat(16) };
  assert.equal(serverOptionsFrom(base, io).cluster?.join, undefined);
  assert.equal(serverOptionsFrom({ ...base, join: true }, io).cluster?.join, true);
  assert.equal(serverOptionsFrom({ 'snapshot-every': '5000' }, io).snapshotEveryEntries, 5000);
  assert.throws(() => serverOptionsFrom({ 'snapshot-every': '5' }, io), UsageError);
});
