// SDK compatibility through a follower of a real 3-node set: the follower relays the leader's
// answer, and what the client reads must be exactly what the leader would have said, byte for
// byte where it matters (a clientRequestId above 2^53, which the Go SDK decodes as a uint64).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { callUntilOk } from '../helpers/load-clients';
import { waitForLeader, withTestSet, type TestSet } from '../helpers/cluster';

const UINT64_MAX = '18446744073709551615';

/** POST a form to `endpoint` and return the response text, unparsed. */
async function postRaw(endpoint: string, form: Record<string, string>): Promise<string> {
  const res = await fetch(`${endpoint}/v2/index.php`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
    signal: AbortSignal.timeout(30_000),
  });
  assert.equal(res.status, 200);
  return res.text();
}

/**
 * Run `call` against a follower, and return its answer only if that member was a follower of
 * one unchanged leader before and after (else the request may have been answered locally, which
 * would prove nothing about forwarding): tries again on a leadership change.
 */
async function viaFollower(set: TestSet, call: (endpoint: string) => Promise<string>): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const { leader, term } = await waitForLeader(set);
    const follower = set.ids.find((id) => id !== leader)!;
    const text = await call(set.url(follower));
    const after = await set.status(follower, 5000);
    if ((after.role === 'follower' && after.leader === leader && after.term === term) || attempt >= 5) {
      assert.equal(after.role, 'follower', `${follower} stayed a follower of ${leader}`);
      return text;
    }
  }
}

test('through a follower: clientRequestId 2^64-1 is echoed exactly; QueryQueueRoute / QueryTopicRoute answer 4440 for what does not exist', { timeout: 180_000 }, async () => {
  await withTestSet({}, async (set) => {
    const endpoints = set.ids.map(set.url);
    await callUntilOk(endpoints, 'CreateQueue', { queueName: 'compat' }, { timeoutMs: 30_000, acceptCodes: [4460] });
    await callUntilOk(endpoints, 'CreateTopic', { topicName: 'compatTopic' }, { timeoutMs: 30_000, acceptCodes: [4460] });

    // A write and a read, each forwarded: the echo is the exact integer in the JSON text.
    const sent = await viaFollower(set, (e) => postRaw(e, { Action: 'SendMessage', queueName: 'compat', msgBody: 'x', clientRequestId: UINT64_MAX }));
    assert.match(sent, new RegExp(`"clientRequestId":${UINT64_MAX}[,}]`), sent);
    assert.equal((JSON.parse(sent) as { code: number }).code, 0, sent);
    // The leader answered under the follower's requestId (sent with the forward), not one of its own.
    assert.doesNotMatch((JSON.parse(sent) as { requestId: string }).requestId, /-fwd-/, sent);
    const read = await viaFollower(set, (e) => postRaw(e, { Action: 'GetQueueAttributes', queueName: 'compat', clientRequestId: UINT64_MAX }));
    assert.match(read, new RegExp(`"clientRequestId":${UINT64_MAX}[,}]`), read);
    // An error answer carries it too.
    const missing = await viaFollower(set, (e) => postRaw(e, { Action: 'GetQueueAttributes', queueName: 'noSuchQueue', clientRequestId: UINT64_MAX }));
    assert.match(missing, /"code":4440/);
    assert.match(missing, new RegExp(`"clientRequestId":${UINT64_MAX}[,}]`), missing);

    // The TDMQ route queries: an addr list for what exists, 4440 for what does not.
    const queueRoute = JSON.parse(await viaFollower(set, (e) => postRaw(e, { Action: 'QueryQueueRoute', queueName: 'compat' }))) as Record<string, unknown>;
    assert.equal(queueRoute['code'], 0, JSON.stringify(queueRoute));
    assert.deepEqual(queueRoute['addr'], []);
    const topicRoute = JSON.parse(await viaFollower(set, (e) => postRaw(e, { Action: 'QueryTopicRoute', topicName: 'compatTopic' }))) as Record<string, unknown>;
    assert.equal(topicRoute['code'], 0, JSON.stringify(topicRoute));
    assert.deepEqual(topicRoute['addr'], []);
    const noQueue = JSON.parse(await viaFollower(set, (e) => postRaw(e, { Action: 'QueryQueueRoute', queueName: 'noSuchQueue' }))) as Record<string, unknown>;
    assert.equal(noQueue['code'], 4440, JSON.stringify(noQueue));
    assert.equal(noQueue['message'], '(10100)queue is not existed, or deleted');
    const noTopic = JSON.parse(await viaFollower(set, (e) => postRaw(e, { Action: 'QueryTopicRoute', topicName: 'noSuchTopic' }))) as Record<string, unknown>;
    assert.equal(noTopic['code'], 4440, JSON.stringify(noTopic));
    assert.equal(noTopic['message'], '(10600)topic is not existed, or deleted');
  });
});
