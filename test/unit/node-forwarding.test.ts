import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createApiContext } from '../../src/api/http-server';
import { decodeForwarded, encodeForwarded, forwarder, isLocalAction, serveForwarded } from '../../src/node/forwarding';
import { PeerRequests } from '../../src/node/peer-requests';
import { RpcRouter, RPC_SERVICE } from '../../src/node/rpc';
import type { RequestContext } from '../../src/service/request-context';
import { nodeRuntime } from '../../src/runtime/node-runtime';
import { PeerTimeoutError, PeerUnavailableError, RequestNotSentError, WIRE_VERSION, type PeerNetwork } from '../../src/transport';
import { RecordingQueueService } from '../helpers/recording-service';

/** Short, so the tests wait little. */
const TIMING = { silenceMs: 200, echoAfterMs: 200, echoTimeoutMs: 200 };

/** Requests go to a leader whole only when it runs the previous version (no service calls). */
const PREVIOUS = WIRE_VERSION.groups;

/** The follower's context of the request it forwards. */
const RC: RequestContext = { requestId: 'f1a2b3c4-7', clientAddress: '192.0.2.10', receivedAtMs: 1_700_000_000_000 };

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

test('a forwarded request arrives exactly as received, with the follower\'s context', () => {
  const input = { method: 'POST', host: '127.0.0.1:9601', path: '/v2/index.php', query: 'a=1', body: Buffer.from('Action=SendMessage&msgBody=%E4%BD%A0') };
  const traced: RequestContext = { ...RC, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
  const back = decodeForwarded(encodeForwarded(input, traced).subarray(1));
  assert.deepEqual({ ...back.input, body: back.input.body.toString() }, { ...input, remote: RC.clientAddress, body: input.body.toString() });
  assert.deepEqual(back.context, traced);
});

/**
 * decodeForwarded of the previous release, verbatim (it predates the context): a leader still
 * running it must accept what a follower of this release sends.
 */
function previousReleaseDecode(buf: Buffer): { method: string; host: string; path: string; query: string; body: Buffer } {
  const len = buf.readUInt32LE(0);
  const h = JSON.parse(buf.toString('utf8', 4, 4 + len)) as { method: string; host: string; path: string; query: string };
  if (typeof h.method !== 'string' || typeof h.host !== 'string' || typeof h.path !== 'string' || typeof h.query !== 'string') {
    throw new Error('forwarded request: bad header');
  }
  return { ...h, body: buf.subarray(4 + len) };
}

test('rolling upgrade: a leader of the previous release accepts a forward with a context; this one accepts a forward without', () => {
  const input = { method: 'POST', host: 'h:1', path: '/', query: '', body: Buffer.from('Action=SendMessage&queueName=q&msgBody=x') };
  const old = previousReleaseDecode(encodeForwarded(input, RC).subarray(1));
  assert.deepEqual([old.method, old.host, old.path, old.query, old.body.toString()], ['POST', 'h:1', '/', '', 'Action=SendMessage&queueName=q&msgBody=x']);
  // From a follower of the previous release (no context) or with a malformed one: the leader makes its own.
  assert.equal(decodeForwarded(encodeForwarded(input).subarray(1)).context, undefined);
  const bad = encodeForwarded({ ...input }, { requestId: 'x'.repeat(1000), clientAddress: '', receivedAtMs: 0 });
  assert.equal(decodeForwarded(bad.subarray(1)).context, undefined, 'an over-long requestId is not taken');
});

/** A follower's transport whose requests reach the leader's RpcRouter in process. */
function loopTransport(): { follower: PeerNetwork; leader: PeerNetwork } {
  let handler: ((from: string, payload: Buffer) => Promise<Uint8Array>) | undefined;
  const leader = { onRequest: (h: typeof handler) => (handler = h) } as unknown as PeerNetwork;
  const follower = {
    request: async (_to: string, payload: Buffer) => Buffer.from(await handler!('n1', payload)),
    peerWireVersion: () => PREVIOUS,
    peerSilenceMs: () => 0,
  } as unknown as PeerNetwork;
  return { follower, leader };
}

test('a forwarded request is served on the leader under the follower\'s context: its requestId reaches submit and the answer', async () => {
  const { follower, leader } = loopTransport();
  const service = new RecordingQueueService();
  serveForwarded(new RpcRouter(leader), createApiContext({ service, auth: { mode: 'open' }, log: () => undefined, requestIdPrefix: 'n2-fwd-' }));
  const forward = forwarder(follower, 'n1', () => 'n2', new PeerRequests(follower, nodeRuntime, TIMING));
  const traced: RequestContext = { ...RC, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
  const answer = await forward({ method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from('Action=SendMessage&queueName=q&msgBody=x') }, traced)!;
  assert.ok(Buffer.isBuffer(answer));
  const body = JSON.parse(answer.toString()) as Record<string, unknown>;
  assert.equal(body['code'], 0, answer.toString());
  assert.equal(body['requestId'], RC.requestId, 'the client sees the id the follower assigned');
  assert.equal(service.calls[0]?.method, 'submit');
  assert.deepEqual(service.contexts[0], traced, 'submit on the leader got the follower\'s context');

  // From a follower of the previous release the leader names the request itself.
  const oldFollower = { request: (to: string, payload: Buffer) => follower.request(to, encodeWithoutContext(payload)), peerWireVersion: () => PREVIOUS, peerSilenceMs: () => 0 } as unknown as PeerNetwork;
  const oldForward = forwarder(oldFollower, 'n1', () => 'n2', new PeerRequests(oldFollower, nodeRuntime, TIMING));
  const oldAnswer = await oldForward({ method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from('Action=SendMessage&queueName=q&msgBody=y') }, RC)!;
  assert.ok(Buffer.isBuffer(oldAnswer));
  assert.match(String((JSON.parse(oldAnswer.toString()) as Record<string, unknown>)['requestId']), /^n2-fwd-\d+$/);
  assert.match(service.contexts[1]?.requestId ?? '', /^n2-fwd-\d+$/);
});

/** A forward as the previous release encoded it: the same request, no context in the header. */
function encodeWithoutContext(payload: Buffer): Buffer {
  const { input } = decodeForwarded(payload.subarray(1));
  return encodeForwarded({ method: input.method, host: input.host, path: input.path, query: input.query, body: input.body });
}

test('a forward to a leader that keeps talking gets its answer, even after leadership moved; one to a silent leader is 6000 within the silence limit', async () => {
  let leader = 'n2';
  let answerAfterMs = Infinity;
  let frozen = false;
  let lastHeard = Date.now();
  const heartbeats = setInterval(() => {
    if (!frozen) lastHeard = Date.now();
  }, 20);
  const transport = {
    request: (_to: string, payload: Buffer) =>
      new Promise<Buffer>((resolve) => {
        if (payload[0] === RPC_SERVICE.echo && !frozen) resolve(Buffer.alloc(0));
        else if (Number.isFinite(answerAfterMs)) setTimeout(() => resolve(Buffer.from('{"code":0,"message":"","requestId":"x"}')), answerAfterMs);
      }),
    peerWireVersion: () => PREVIOUS,
    peerSilenceMs: () => Date.now() - lastHeard,
  } as unknown as PeerNetwork;
  try {
    const forward = forwarder(transport, 'n1', () => leader, new PeerRequests(transport, nodeRuntime, TIMING));
    const input = { method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from('Action=SendMessage&queueName=q&msgBody=x') };

    // A deposed but healthy leader answers in its own time: its answer is relayed.
    answerAfterMs = 400;
    const answered = forward(input, RC);
    assert.ok(answered, 'forwarded while n2 leads');
    setTimeout(() => (leader = 'n3'), 30);
    const relayed = await answered;
    assert.ok(Buffer.isBuffer(relayed), 'the leader\'s answer is relayed as bytes');
    assert.equal(relayed.toString(), '{"code":0,"message":"","requestId":"x"}');

    // A frozen one sends nothing and answers nothing: 6000 once it has been silent for the
    // limit, not after the transport's timeout; and the next request is not even sent to it.
    leader = 'n2';
    answerAfterMs = Infinity;
    const stuck = forward(input, RC);
    assert.ok(stuck);
    const started = Date.now();
    frozen = true;
    const answer = await stuck;
    assert.ok(!Buffer.isBuffer(answer));
    assert.equal(answer.code, 6000);
    assert.match(String(answer.message), /^\(10810\)outcome unknown.*nothing heard from n2 for \d+ ms/);
    const waited = Date.now() - started;
    assert.ok(waited >= TIMING.silenceMs - 30 && waited < 3000, `answered after ${waited} ms`);
    const next = await forward(input, RC)!;
    assert.ok(!Buffer.isBuffer(next));
    assert.equal(next.code, 6100, 'not sent to a silent leader: retry is safe');
    leader = 'n1';
    assert.equal(forward(input, RC), undefined, 'answered locally once this node leads');
  } finally {
    clearInterval(heartbeats);
  }
});

test('a forward that never left this node is 6100 (not applied); one written and then lost or unanswered is 6000/10810', async () => {
  let failure: Error = new Error('unset');
  const transport = { request: () => Promise.reject(failure), peerWireVersion: () => PREVIOUS, peerSilenceMs: () => 0 } as unknown as PeerNetwork;
  const forward = forwarder(transport, 'n1', () => 'n2', new PeerRequests(transport, nodeRuntime, TIMING));
  const input = { method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from('Action=SendMessage&queueName=q&msgBody=x') };
  const cases: [Error, number, RegExp][] = [
    [new RequestNotSentError("transport: no connection to 'n2'; the request was not sent", 'n2'), 6100, /^\(10800\).*leader n2.*not sent/],
    [new PeerUnavailableError("transport: request to 'n2' failed after it was sent: ECONNRESET", 'n2'), 6000, /^\(10810\).*leader n2.*ECONNRESET/],
    [new PeerTimeoutError("transport: 'n2' did not answer within 40000 ms", 'n2'), 6000, /^\(10810\)/],
  ];
  for (const [err, code, message] of cases) {
    failure = err;
    const answer = await forward(input, RC)!;
    assert.ok(!Buffer.isBuffer(answer));
    assert.equal(answer.code, code, err.message);
    assert.match(String(answer.message), message);
    assert.equal(answer.requestId, RC.requestId, 'answered under the request\'s own id');
  }
});

test('a leader answer is relayed byte for byte: a clientRequestId above 2^53 stays exact', async () => {
  const leaderAnswer = Buffer.from('{"code":0,"message":"","requestId":"r-1","msgId":"1","clientRequestId":18446744073709551615}');
  const transport = { request: () => Promise.resolve(leaderAnswer), peerWireVersion: () => PREVIOUS, peerSilenceMs: () => 0 } as unknown as PeerNetwork;
  const forward = forwarder(transport, 'n1', () => 'n2', new PeerRequests(transport, nodeRuntime, TIMING));
  const got = await forward({ method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from('Action=SendMessage&queueName=q&msgBody=x&clientRequestId=18446744073709551615') }, RC)!;
  assert.ok(Buffer.isBuffer(got));
  assert.equal(got.toString(), leaderAnswer.toString());
});
