// `opencmq server`'s --set, --controller-peer and --controller-caller: what they give the server,
// that without them nothing changes, and that each inconsistency is refused with a usage error
// naming the flag. Also the flags `cluster start-local --sets N` gives each process.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UsageError } from '../../src/cli/cli-io';
import { serverOptionsFrom } from '../../src/cli/commands';
import { localNodeArgs, localNodes, passedServerFlags } from '../../src/cli/local-cluster';
import type { OptionValues } from '../../src/cli/options';

const io = { env: { OPENCMQ_CLUSTER_SECRET: 'a-cluster-secret-of-enough-bytes' }, err: (): void => undefined };

/** n1..n3 of set 1 at 127.0.0.1:7001..7003 (their peers given consistently). */
function setOne(id: 'n1' | 'n2' | 'n3', extra: OptionValues = {}): OptionValues {
  const port = { n1: 7001, n2: 7002, n3: 7003 }[id];
  const peers = (['n1', 'n2', 'n3'] as const).filter((p) => p !== id).map((p) => `${p}=127.0.0.1:${{ n1: 7001, n2: 7002, n3: 7003 }[p]}`);
  return { 'node-id': id, 'raft-port': String(port), peer: peers, ...extra };
}

const VOTERS = ['n1=127.0.0.1:7001', 'n2=127.0.0.1:7002', 'n3=127.0.0.1:7003'];

function refused(values: OptionValues, pattern: RegExp): void {
  assert.throws(
    () => serverOptionsFrom(values, io),
    (err: unknown) => err instanceof UsageError && pattern.test(err.message),
    `refused with ${String(pattern)}`,
  );
}

test('without --controller-peer a server gets no set or controller options: it runs as before', () => {
  const single = serverOptionsFrom({}, io);
  assert.equal(single.setId, undefined);
  assert.equal(single.controller, undefined);
  const m = serverOptionsFrom(setOne('n1'), io);
  assert.equal(m.setId, undefined);
  assert.equal(m.controller, undefined);
  // --set 1 alone is today's node too.
  assert.equal(serverOptionsFrom(setOne('n1', { set: '1' }), io).controller, undefined);
});

test('a controller voter gets the voters and its callers; a node of another set gets its set and the voters', () => {
  const voter = serverOptionsFrom(setOne('n2', { 'controller-peer': VOTERS, 'controller-caller': ['n4=127.0.0.1:7004'] }), io);
  assert.equal(voter.setId, 1);
  assert.deepEqual(Object.keys(voter.controller!.voters), ['n1', 'n2', 'n3']);
  assert.deepEqual(voter.controller!.callers, { n4: { host: '127.0.0.1', port: 7004 } });
  const other = serverOptionsFrom(
    { 'node-id': 'n4', 'raft-port': '7004', peer: ['n5=127.0.0.1:7005', 'n6=127.0.0.1:7006'], set: '2', 'controller-peer': VOTERS },
    io,
  );
  assert.equal(other.setId, 2);
  assert.deepEqual(other.controller!.voters['n3'], { host: '127.0.0.1', port: 7003 });
  assert.deepEqual(other.controller!.callers, {});
});

test('the flags are checked: each inconsistency is a usage error that names it', () => {
  refused(setOne('n1', { set: '0' }), /--set must be between 1 and/);
  refused(setOne('n1', { set: 'two' }), /--set must be an integer/);
  refused(setOne('n1', { set: '2' }), /--set 2 needs --controller-peer/);
  refused({ 'controller-peer': VOTERS }, /--controller-peer needs a member of a replicated set/);
  refused(setOne('n1', { 'controller-peer': VOTERS.slice(0, 2) }), /odd number of voters.*got 2/);
  refused(setOne('n1', { 'controller-peer': ['n1=127.0.0.1:7001', 'n1=127.0.0.1:7001', 'n2=127.0.0.1:7002'] }), /n1 is given twice/);
  refused(setOne('n1', { 'controller-peer': ['n1=127.0.0.1', ...VOTERS.slice(1)] }), /--controller-peer n1=127.0.0.1: expected ID=HOST:PORT/);
  // A voter whose own entry is not where it listens for peers.
  refused(setOne('n1', { 'controller-peer': ['n1=127.0.0.1:9999', ...VOTERS.slice(1)] }), /is this node, which listens for peers on 127.0.0.1:7001/);
  // One node, one address: the controller's list and the set's must agree.
  refused(setOne('n1', { 'controller-peer': ['n1=127.0.0.1:7001', 'n2=127.0.0.1:8002', 'n3=127.0.0.1:7003'] }), /disagrees with --peer n2=127.0.0.1:7002/);
  refused(setOne('n1', { 'controller-caller': ['n4=127.0.0.1:7004'] }), /--controller-caller needs --controller-peer/);
  refused(
    { 'node-id': 'n4', 'raft-port': '7004', peer: ['n5=127.0.0.1:7005', 'n6=127.0.0.1:7006'], set: '2', 'controller-peer': VOTERS, 'controller-caller': ['n7=127.0.0.1:7007'] },
    /--controller-caller applies to a controller voter; n4 is not among/,
  );
  refused(setOne('n1', { 'controller-peer': VOTERS, 'controller-caller': ['n2=127.0.0.1:7002'] }), /--controller-caller n2 is a controller voter/);
});

test('start-local --sets: one set is today\'s flags; two sets put set 1 on the controller, which is not told of set 2', () => {
  const one = localNodes(1);
  assert.deepEqual(
    one.map((n) => n.id),
    ['n1', 'n2', 'n3'],
  );
  assert.deepEqual(localNodeArgs(one[0]!, one, 9701), ['--node-id', 'n1', '--raft-port', '9701', '--peer', 'n2=127.0.0.1:9702', '--peer', 'n3=127.0.0.1:9703']);
  const two = localNodes(2);
  assert.deepEqual(
    two.map((n) => `${n.id}:${n.set}`),
    ['n1:1', 'n2:1', 'n3:1', 'n4:2', 'n5:2', 'n6:2'],
  );
  const n2 = localNodeArgs(two[1]!, two, 9701);
  assert.deepEqual(n2.slice(0, 8), ['--node-id', 'n2', '--raft-port', '9702', '--peer', 'n1=127.0.0.1:9701', '--peer', 'n3=127.0.0.1:9703']);
  assert.ok(n2.join(' ').includes('--set 1'));
  // The voters are not told of set 2's nodes: the controller group is open to every member.
  assert.doesNotMatch(n2.join(' '), /--controller-caller/);
  assert.match(n2.join(' '), /--controller-peer n1=127.0.0.1:9701 --controller-peer n2=127.0.0.1:9702 --controller-peer n3=127.0.0.1:9703/);
  const n5 = localNodeArgs(two[4]!, two, 9701).join(' ');
  assert.match(n5, /--raft-port 9705 --peer n4=127.0.0.1:9704 --peer n6=127.0.0.1:9706 --set 2/);
  assert.match(n5, /--controller-peer n1=127.0.0.1:9701 --controller-peer n2=127.0.0.1:9702 --controller-peer n3=127.0.0.1:9703/);
  assert.doesNotMatch(n5, /--controller-caller/);
  // Every flag set a node is given is one the server takes.
  for (const n of two) {
    const args = localNodeArgs(n, two, 9701);
    const values: OptionValues = {};
    for (let i = 0; i < args.length; i += 2) {
      const key = args[i]!.slice(2);
      if (['peer', 'controller-peer', 'controller-caller'].includes(key)) values[key] = [...((values[key] as string[] | undefined) ?? []), args[i + 1]!];
      else values[key] = args[i + 1]!;
    }
    const opts = serverOptionsFrom(values, io);
    assert.equal(opts.setId, n.set);
    assert.equal(opts.controller?.voters[n.id] !== undefined, n.set === 1);
  }
});

test('start-local passes --compat-empty-subscription-list to every server, and nothing it was not given', () => {
  assert.deepEqual(passedServerFlags({ 'compat-empty-subscription-list': true, sets: '2' }), ['--compat-empty-subscription-list']);
  assert.deepEqual(passedServerFlags({ sets: '2' }), []);
});
