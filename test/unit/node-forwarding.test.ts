import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeForwarded, encodeForwarded, forwarder, isLocalAction } from '../../src/node/forwarding';
import type { PeerTransport } from '../../src/transport';

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

test('a forward still waiting when another node becomes leader is answered 6000 at once', async () => {
  let leader = 'n2';
  const never = { request: () => new Promise<Buffer>(() => undefined) } as unknown as PeerTransport;
  const forward = forwarder(never, 'n1', () => leader, () => 'req-1');
  const input = { method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from('Action=SendMessage&queueName=q&msgBody=x') };
  const pending = forward(input);
  assert.ok(pending, 'forwarded while n2 leads');
  const started = Date.now();
  setTimeout(() => (leader = 'n3'), 30);
  const answer = await pending;
  assert.equal(answer.code, 6000);
  assert.match(String(answer.message), /leadership moved to n3/);
  assert.ok(Date.now() - started < 1000, 'answered promptly, not after the request timeout');
  leader = 'n1';
  assert.equal(forward(input), undefined, 'answered locally once this node leads');
});
