import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeForwarded, encodeForwarded, forwarder, isLocalAction } from '../../src/node/forwarding';
import { PeerTimeoutError, PeerUnavailableError, RequestNotSentError, type PeerNetwork } from '../../src/transport';

const post = (body: string): Parameters<typeof isLocalAction>[0] => ({ method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from(body) });

test('only an Action parameter naming a node-local action keeps a request on the follower', () => {
  assert.equal(isLocalAction(post('Action=OpencmqClusterStatus')), true);
  assert.equal(isLocalAction(post('Nonce=1&Action=opencmqclusterstatus&x=1')), true, 'action names match in any case');
  assert.equal(isLocalAction({ method: 'GET', host: 'h', path: '/', query: 'Action=OpencmqClusterStatus', body: Buffer.alloc(0) }), true);
  // The same text inside a message body, or as another parameter's value, is not the action.
  assert.equal(isLocalAction(post('Action=SendMessage&queueName=q&msgBody=Action=OpencmqClusterStatus')), false);
  assert.equal(isLocalAction(post('Action=SendMessage&msgBody=OpencmqClusterStatus')), false);
  assert.equal(isLocalAction(post('XAction=OpencmqClusterStatus')), false);
});

test('a forwarded request arrives exactly as received', () => {
  const input = { method: 'POST', host: '127.0.0.1:9601', path: '/v2/index.php', query: 'a=1', body: Buffer.from('Action=SendMessage&msgBody=%E4%BD%A0') };
  const back = decodeForwarded(encodeForwarded(input).subarray(1));
  assert.deepEqual({ ...back, body: back.body.toString() }, { ...input, body: input.body.toString() });
});

test('a forward to a leader that lost leadership gets its answer if it comes soon, else 6000 after a grace period', async () => {
  let leader = 'n2';
  let answerAfterMs = Infinity;
  const transport = {
    request: () =>
      new Promise<Buffer>((resolve) => {
        if (Number.isFinite(answerAfterMs)) setTimeout(() => resolve(Buffer.from('{"code":0,"message":"","requestId":"x"}')), answerAfterMs);
      }),
  } as unknown as PeerNetwork;
  const forward = forwarder(transport, 'n1', () => leader, () => 'req-1');
  const input = { method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from('Action=SendMessage&queueName=q&msgBody=x') };

  // A deposed but healthy leader answers within the grace period: its answer is relayed.
  answerAfterMs = 300;
  const answered = forward(input);
  assert.ok(answered, 'forwarded while n2 leads');
  setTimeout(() => (leader = 'n3'), 30);
  const relayed = await answered;
  assert.ok(Buffer.isBuffer(relayed), 'the leader\'s answer is relayed as bytes');
  assert.equal(relayed.toString(), '{"code":0,"message":"","requestId":"x"}');

  // A frozen one never answers: 6000 about a second after the new leader is known, not after the
  // transport's timeout.
  leader = 'n2';
  answerAfterMs = Infinity;
  const frozen = forward(input);
  assert.ok(frozen);
  const started = Date.now();
  setTimeout(() => (leader = 'n3'), 30);
  const answer = await frozen;
  assert.ok(!Buffer.isBuffer(answer));
  assert.equal(answer.code, 6000);
  assert.match(String(answer.message), /^\(10810\)outcome unknown.*leadership moved to n3/);
  const waited = Date.now() - started;
  assert.ok(waited >= 900 && waited < 3000, `answered after ${waited} ms`);
  leader = 'n1';
  assert.equal(forward(input), undefined, 'answered locally once this node leads');
});

test('a forward that never left this node is 6100 (not applied); one written and then lost or unanswered is 6000/10810', async () => {
  let failure: Error = new Error('unset');
  const transport = { request: () => Promise.reject(failure) } as unknown as PeerNetwork;
  const forward = forwarder(transport, 'n1', () => 'n2', () => 'req-1');
  const input = { method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from('Action=SendMessage&queueName=q&msgBody=x') };
  const cases: [Error, number, RegExp][] = [
    [new RequestNotSentError("transport: no connection to 'n2'; the request was not sent", 'n2'), 6100, /^\(10800\).*leader n2.*not sent/],
    [new PeerUnavailableError("transport: request to 'n2' failed after it was sent: ECONNRESET", 'n2'), 6000, /^\(10810\).*leader n2.*ECONNRESET/],
    [new PeerTimeoutError("transport: 'n2' did not answer within 40000 ms", 'n2'), 6000, /^\(10810\)/],
  ];
  for (const [err, code, message] of cases) {
    failure = err;
    const answer = await forward(input)!;
    assert.ok(!Buffer.isBuffer(answer));
    assert.equal(answer.code, code, err.message);
    assert.match(String(answer.message), message);
  }
});

test('a leader answer is relayed byte for byte: a clientRequestId above 2^53 stays exact', async () => {
  const leaderAnswer = Buffer.from('{"code":0,"message":"","requestId":"r-1","msgId":"1","clientRequestId":18446744073709551615}');
  const transport = { request: () => Promise.resolve(leaderAnswer) } as unknown as PeerNetwork;
  const forward = forwarder(transport, 'n1', () => 'n2', () => 'req-1');
  const got = await forward({ method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from('Action=SendMessage&queueName=q&msgBody=x&clientRequestId=18446744073709551615') })!;
  assert.ok(Buffer.isBuffer(got));
  assert.equal(got.toString(), leaderAnswer.toString());
});
