// A 3-node set whose peer links run over mutual TLS (certificates from test/fixtures/tls, no
// cluster secret): it elects a leader, followers forward client requests to it, every member
// replicates, and a member that was down catches up by a snapshot transfer over the same links.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { callUntilOk, drainQueue } from '../helpers/load-clients';
import { cmqCall } from '../helpers/raw-cmq';
import { startTestSet, troubleLogged, waitCaughtUp, waitForLeader } from '../helpers/cluster';

test('a 3-node set over peer TLS serves, forwards, replicates and ships a snapshot', { timeout: 120_000 }, async () => {
  const set = await startTestSet({ peerTls: true, extraArgs: ['--snapshot-every', '100'] });
  try {
    const endpoints = set.ids.map(set.url);
    await callUntilOk(endpoints, 'CreateQueue', { queueName: 'tls-q', visibilityTimeout: 60 }, { timeoutMs: 20_000, acceptCodes: [0, 4460] });
    const { leader } = await waitForLeader(set);
    for (const id of set.ids) assert.match(set.output(id), /peer transport for \S+ listening on \S+ \(TLS\)/);
    const followers = set.ids.filter((id) => id !== leader);
    const lagger = followers[1]!;

    // Sent through a follower: forwarded to the leader over a TLS link.
    for (let i = 0; i < 20; i++) {
      const r = await cmqCall(set.url(followers[0]!), 'SendMessage', { queueName: 'tls-q', msgBody: `m-${i}` });
      assert.equal(r.code, 0, JSON.stringify(r));
    }
    await set.servers.get(lagger)!.kill9();
    for (let i = 20; i < 260; i++) {
      const r = await cmqCall(set.url(leader), 'SendMessage', { queueName: 'tls-q', msgBody: `m-${i}` });
      assert.equal(r.code, 0, JSON.stringify(r));
    }
    await set.restart(lagger);
    await waitCaughtUp(set, lagger, { timeoutMs: 30_000 });
    assert.match(set.servers.get(lagger)!.output(), /installed snapshot \d+/, 'the restarted member caught up by snapshot');

    // Asked through the restarted member, the set delivers every message.
    const bodies = await drainQueue({ endpoints: [set.url(lagger)], queueName: 'tls-q', pollingWaitSeconds: 0, emptyReceivesToStop: 1 });
    assert.deepEqual(bodies.sort(), Array.from({ length: 260 }, (_, i) => `m-${i}`).sort());
    assert.deepEqual(troubleLogged(set), []);
    for (const id of set.ids) assert.doesNotMatch(set.output(id), /rejected connection|TLS peer at .* refused/, `${id} refused no member`);
  } finally {
    await set.close();
  }
});
