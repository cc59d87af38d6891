// A follower's service calls on the leader (node/service-calls.ts, service/call-codec.ts): every
// call arrives with its arguments and the follower's request context, every answer comes back as
// the leader's service gave it (bodies byte for byte), and a failure on the way says whether the
// leader can have run the call.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { encodeCommand } from '../../src/broker/codec';
import type { Command } from '../../src/broker/commands';
import { forwarder } from '../../src/node/forwarding';
import { RpcRouter, RPC_SERVICE, UNKNOWN_RPC_SERVICE } from '../../src/node/rpc';
import { RoutedQueueService, serveServiceCalls } from '../../src/node/service-calls';
import { fail } from '../../src/protocol/errors';
import { noopLogger } from '../../src/protocol/log';
import { nodeRuntime } from '../../src/runtime/node-runtime';
import { CallFormatError, decodeAnswer, decodeCall, dispatchCall, encodeAnswer, encodeCall, type LeaderService, type ServiceCall } from '../../src/node/call-codec';
import { PeerRequests } from '../../src/node/peer-requests';
import type { RequestContext } from '../../src/service/request-context';
import { CURRENT_WIRE_VERSION, PeerRemoteError, PeerTimeoutError, PeerUnavailableError, RequestNotSentError, WIRE_VERSION, type PeerNetwork } from '../../src/transport';
import { RecordingQueueService, sampleDeliveredMessage } from '../helpers/recording-service';

const RC: RequestContext = {
  requestId: 'f1a2b3c4-7',
  clientAddress: '192.0.2.10',
  receivedAtMs: 1_700_000_000_000,
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
};

/** Every command kind a client request can submit, with bodies that are not valid UTF-8. */
const COMMANDS: Command[] = [
  { kind: 'createQueue', queueName: 'q', attrs: { visibilityTimeout: 40 } },
  { kind: 'sendMessages', queueName: 'q', delaySeconds: 3, bodies: [Buffer.from([0xff, 0x00, 0xfe]), Buffer.from('second'), Buffer.alloc(0)] },
  { kind: 'deleteMessages', queueName: 'q', receiptHandles: ['1-2-3-abc', '4-5-6-def'] },
  { kind: 'rewindQueue', queueName: 'q', startConsumeTimeSec: 1_700_000_000 },
  { kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('p1'), Buffer.from([0x80])], msgTags: ['a', 'b'], routingKey: 'x.y' },
  {
    kind: 'subscribe',
    topicName: 't',
    subscriptionName: 's',
    protocol: 'http',
    endpoint: 'http://192.0.2.1/hook',
    notifyStrategy: 'BACKOFF_RETRY',
    notifyContentFormat: 'JSON',
    filterTags: ['a'],
    bindingKeys: [],
  },
  { kind: 'setSubscriptionAttributes', topicName: 't', subscriptionName: 's', filterTags: ['b'] },
  { kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: null, maxMessages: 1000 },
  { kind: 'startMoveTask', sourceQueue: 'dlq', destinationQueue: 'q', maxPerSecond: 50 },
  { kind: 'cancelMoveTask', taskHandle: 'move-2s' },
];

const CALLS: ServiceCall[] = [
  ...COMMANDS.map((command): ServiceCall => ({ method: 'submit', command })),
  { method: 'receive', queueName: 'q', numOfMsg: 16, waitSeconds: 5 },
  { method: 'receive', queueName: 'q', numOfMsg: 1, waitSeconds: undefined },
  { method: 'receive', queueName: 'q.fifo', numOfMsg: 10, waitSeconds: 0, options: { visibilitySeconds: 30, attemptId: 'try-1' } },
  { method: 'receive', queueName: 'q.fifo', numOfMsg: 10, waitSeconds: 0, options: { attemptId: 'try-2' } },
  { method: 'listQueues', searchWord: 'pay', offset: 20, limit: 10 },
  { method: 'listQueues', searchWord: undefined, offset: 0, limit: 20 },
  { method: 'getQueueAttributes', queueName: 'q' },
  { method: 'listDeadLetterSourceQueues', deadLetterQueueName: 'dlq', searchWord: undefined, offset: 0, limit: 50 },
  { method: 'listTopics', searchWord: 't', offset: 1, limit: 2 },
  { method: 'getTopicAttributes', topicName: 't' },
  { method: 'listSubscriptions', topicName: 't', searchWord: undefined, offset: 0, limit: 20 },
  { method: 'getSubscriptionAttributes', topicName: 't', subscriptionName: 's' },
  { method: 'transferLeader', nodeId: 'n3' },
  { method: 'changeMembership', change: { type: 'add', nodeId: 'n4', address: '10.0.0.4:9700' } },
  { method: 'changeMembership', change: { type: 'remove', nodeId: 'n4' } },
  { method: 'listMoveTasks', sourceQueue: 'dlq' },
];

/** Bodies compare by their bytes, whatever view they arrive in. */
function plain(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? Buffer.from(x).toString('hex') : (x as { type?: string; data?: number[] })?.type === 'Buffer' ? Buffer.from((x as { data: number[] }).data).toString('hex') : x)));
}

test('every service call decodes to itself, with the caller\'s context', () => {
  for (const call of CALLS) {
    const bytes = encodeCall(RPC_SERVICE.call, RC, call);
    assert.equal(bytes[0], RPC_SERVICE.call, 'the rpc service byte comes first');
    const back = decodeCall(bytes.subarray(1));
    assert.deepEqual(back.ctx, RC);
    if (back.call.method === 'submit') {
      // The command as it arrived comes along, so the leader proposes it without encoding it again.
      const { encoded, ...command } = back.call;
      assert.deepEqual(plain(command), plain(call), call.method);
      assert.ok(encoded);
      assert.deepEqual(plain(encoded), plain(encodeCommand((call as { command: Command }).command)));
    } else {
      assert.deepEqual(plain(back.call), plain(call), call.method);
    }
  }
});

test('a damaged call is refused before anything runs: truncated, a body that fails its CRC32C, extra bytes, unknown method', () => {
  const send = encodeCall(RPC_SERVICE.call, RC, { method: 'submit', command: COMMANDS[1]! }).subarray(1);
  assert.throws(() => decodeCall(send.subarray(0, send.length - 1)), CallFormatError);
  const flipped = Buffer.from(send);
  flipped[flipped.length - 7]! ^= 0x01; // the first body's last byte
  assert.throws(() => decodeCall(flipped), /CRC32C/);
  assert.throws(() => decodeCall(Buffer.concat([send, Buffer.from([0])])), CallFormatError);
  const unknown = Buffer.from(send);
  unknown[1] = 200;
  assert.throws(() => decodeCall(unknown), /unknown method 200/);
  const version = Buffer.from(send);
  version[0] = 9;
  assert.throws(() => decodeCall(version), /unsupported version 9/);
});

test('answers decode to themselves: delivered bodies byte for byte, errors by their registry name', () => {
  const messages = [sampleDeliveredMessage(Buffer.from([0, 1, 2, 255]), 1), sampleDeliveredMessage('', 2), sampleDeliveredMessage('third', 3)];
  const received = { ok: true, messages };
  const back = decodeAnswer<typeof received>(encodeAnswer(received));
  assert.deepEqual(back.messages.map((m) => Buffer.from(m.bodyBytes).toString('hex')), ['000102ff', '', Buffer.from('third').toString('hex')]);
  assert.deepEqual(plain(back), plain(received));
  const err = fail('queueNotExist', undefined, 'detail');
  assert.deepEqual(decodeAnswer(encodeAnswer(err)), err);
  const bad = encodeAnswer({ ok: false, error: 'noSuchErrorName' });
  assert.throws(() => decodeAnswer(bad), /unknown error noSuchErrorName/);
  assert.throws(() => decodeAnswer(encodeAnswer(received).subarray(0, 20)), CallFormatError);
});

/** A follower's network whose requests run the leader's router in the same process. */
function loop(version: number = CURRENT_WIRE_VERSION): { follower: PeerNetwork; leader: PeerNetwork; sent: number[] } {
  let handler: ((from: string, payload: Buffer) => Promise<Uint8Array>) | undefined;
  const sent: number[] = [];
  const leader = { onRequest: (h: typeof handler) => (handler = h) } as unknown as PeerNetwork;
  const follower = {
    request: async (_to: string, payload: Buffer) => {
      sent.push(payload[0]!);
      return Buffer.from(await handler!('n1', payload));
    },
    peerWireVersion: () => version,
    peerSilenceMs: () => 0,
  } as unknown as PeerNetwork;
  return { follower, leader, sent };
}

/** Short, so the tests wait little. */
const TIMING = { silenceMs: 150, echoAfterMs: 150, echoTimeoutMs: 150 };

/** A routed service as the server wires one, for a set of n1, n2, n3. */
function routedOn(local: LeaderService, selfId: string, network: PeerNetwork, leaderId: () => string | undefined, requests = new PeerRequests(network, nodeRuntime, TIMING)): RoutedQueueService {
  return new RoutedQueueService(local, { selfId, network, leaderId, voters: () => ['n1', 'n2', 'n3'] }, requests);
}


test('through a follower every call runs on the leader\'s service under the follower\'s context and answers as the leader\'s service does', async () => {
  const { follower, leader, sent } = loop();
  const onLeader = new RecordingQueueService({ receive: () => ({ ok: true, messages: [sampleDeliveredMessage(Buffer.from([0xde, 0xad]), 7)] }) });
  serveServiceCalls(new RpcRouter(leader), onLeader, undefined, 'n2', nodeRuntime, noopLogger);
  const onFollower = new RecordingQueueService();
  const routed = routedOn(onFollower, 'n1', follower, () => 'n2');
  const direct = new RecordingQueueService({ receive: () => ({ ok: true, messages: [sampleDeliveredMessage(Buffer.from([0xde, 0xad]), 7)] }) });
  for (const call of CALLS) {
    const via = await dispatchCall(routed, RC, call);
    const here = await dispatchCall(direct, RC, call);
    assert.deepEqual(plain(via), plain(here), `${call.method}: the follower gets the leader's answer`);
  }
  assert.equal(onFollower.calls.length, 0, 'nothing ran on the follower');
  assert.equal(onLeader.encodedSubmits, COMMANDS.length, 'the leader proposes the commands as they arrived');
  assert.equal(sent.length, CALLS.length);
  assert.ok(sent.every((b) => b === RPC_SERVICE.call));
  assert.deepEqual(plain(onLeader.calls), plain(direct.calls), 'the leader saw the same calls, with the same arguments');
  assert.ok(onLeader.contexts.every((c) => JSON.stringify(c) === JSON.stringify(RC)), 'each under the follower\'s context');

  // Node status is always the node's own: answered here, nothing sent to the leader.
  const before = sent.length;
  const status = await routed.clusterStatus(RC);
  assert.ok(status.ok);
  assert.equal(sent.length, before, 'cluster status is not forwarded');
});

test('where this node leads, calls run here', async () => {
  const { follower, sent } = loop();
  const local = new RecordingQueueService();
  const routed = routedOn(local, 'n1', follower, () => 'n1');
  await routed.getQueueAttributes(RC, 'q');
  await routed.submit(RC, COMMANDS[0]!);
  assert.equal(local.calls.length, 2);
  assert.equal(sent.length, 0);
});

test('a call that fails on the way: 6100 when the leader cannot have run it, or for any read; else outcome unknown', async () => {
  let failure: Error = new Error('unset');
  let version: number = CURRENT_WIRE_VERSION;
  let requests = 0;
  const network = {
    request: () => {
      requests++;
      return Promise.reject(failure);
    },
    peerWireVersion: () => version,
    peerSilenceMs: () => 0,
  } as unknown as PeerNetwork;
  const routed = routedOn(new RecordingQueueService(), 'n1', network, () => 'n2');
  const cases: [Error, 'notApplied' | 'outcomeUnknown'][] = [
    [new RequestNotSentError("transport: no connection to 'n2'; the request was not sent", 'n2'), 'notApplied'],
    [new PeerRemoteError(`transport: 'n2' failed the request: ${UNKNOWN_RPC_SERVICE} 4`, 'n2'), 'notApplied'],
    [new PeerUnavailableError("transport: request to 'n2' failed after it was sent: ECONNRESET", 'n2'), 'outcomeUnknown'],
    [new PeerTimeoutError("transport: 'n2' did not answer within 40000 ms", 'n2'), 'outcomeUnknown'],
    [new PeerRemoteError("transport: 'n2' failed the request: boom", 'n2'), 'outcomeUnknown'],
  ];
  for (const [err, outcome] of cases) {
    failure = err;
    const w = await routed.submit(RC, COMMANDS[1]!);
    assert.ok(!w.ok);
    assert.equal(w.error, outcome, err.message);
    assert.match(w.detail ?? '', /forwarding to leader n2 failed/);
    const r = await routed.listQueues(RC, undefined, 0, 20);
    assert.ok(!r.ok);
    assert.equal(r.error, 'notApplied', `a read is never outcome unknown (${err.message})`);
  }
  // A leader of the previous version takes whole requests only: the call is not even sent.
  version = WIRE_VERSION.groups;
  const before = requests;
  const w = await routed.submit(RC, COMMANDS[1]!);
  assert.ok(!w.ok);
  assert.equal(w.error, 'notApplied');
  assert.match(w.detail ?? '', /older version/);
  assert.equal(requests, before);
});

test('the API\'s forward hook sends a whole request only to a leader of the previous version; it counts every request the leader works on', async () => {
  let version: number | undefined = WIRE_VERSION.serviceCalls;
  const network = { request: () => Promise.resolve(Buffer.from('{"code":0}')), peerWireVersion: () => version, peerSilenceMs: () => 0 } as unknown as PeerNetwork;
  let counted = 0;
  const forward = forwarder(network, 'n1', () => 'n2', new PeerRequests(network, nodeRuntime, TIMING), () => counted++);
  const input = { method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from('Action=SendMessage&queueName=q&msgBody=x') };
  assert.equal(forward(input, RC), undefined, 'run here: its service calls go to the leader');
  version = undefined;
  assert.equal(forward(input, RC), undefined, 'no connection yet: run here too (the call then says whether it was sent)');
  version = WIRE_VERSION.groups;
  const whole = forward(input, RC);
  assert.ok(whole, 'a leader of the previous version gets the whole request');
  const answer = await whole;
  assert.ok(Buffer.isBuffer(answer));
  assert.equal(answer.toString(), '{"code":0}');
  assert.equal(counted, 3);
  assert.equal(forward({ ...input, body: Buffer.from('Action=OpencmqClusterStatus') }, RC), undefined);
  assert.equal(counted, 3, 'a node-local action is not the leader\'s work');
});

/**
 * Three members in one process: each with a recording service, a routed service and the rpc
 * server, over links that can be cut one way. A request over a cut link is written and never
 * arrives (as through a TCP connection whose bytes stop flowing); silence is counted from the last
 * "heartbeat" the leader got through to each member.
 */
function mesh(leader: string | undefined) {
  const ids = ['n1', 'n2', 'n3'];
  const cut = new Set<string>(); // "from>to"
  const handlers = new Map<string, (from: string, payload: Buffer) => Promise<Uint8Array>>();
  const services = new Map<string, RecordingQueueService>();
  const routed = new Map<string, RoutedQueueService>();
  const requests = new Map<string, PeerRequests>();
  const sentBy = new Map<string, string[]>();
  const lastHeard = new Map<string, number>(); // "to<from"
  const heartbeat = (): void => {
    for (const a of ids) for (const b of ids) if (a !== b && !cut.has(`${a}>${b}`)) lastHeard.set(`${b}<${a}`, Date.now());
  };
  heartbeat();
  const beat = setInterval(heartbeat, 20);
  for (const id of ids) {
    const network = {
      onRequest: (h: (from: string, payload: Buffer) => Promise<Uint8Array>) => handlers.set(id, h),
      request: (to: string, payload: Buffer, options?: { timeoutMs?: number }) => {
        (sentBy.get(id) ?? sentBy.set(id, []).get(id)!).push(`${to}:${payload[0]}`);
        // Lost on the way there or back: the transport's timeout is all the caller gets.
        const lost = (): Promise<Buffer> =>
          new Promise<Buffer>((_resolve, reject) => {
            setTimeout(() => reject(new PeerTimeoutError(`no answer from ${to}`, to)), options?.timeoutMs ?? 10_000).unref();
          });
        if (cut.has(`${id}>${to}`)) return lost();
        return handlers.get(to)!(id, payload).then((b) => (cut.has(`${to}>${id}`) ? lost() : Buffer.from(b)));
      },
      peerWireVersion: () => CURRENT_WIRE_VERSION,
      peerSilenceMs: (peer: string) => Date.now() - (lastHeard.get(`${id}<${peer}`) ?? 0),
    } as unknown as PeerNetwork;
    const service = new RecordingQueueService();
    services.set(id, service);
    const peerRequests = new PeerRequests(network, nodeRuntime, TIMING);
    requests.set(id, peerRequests);
    const r = routedOn(service, id, network, () => leader, peerRequests);
    routed.set(id, r);
    serveServiceCalls(new RpcRouter(network), service, r, id, nodeRuntime, noopLogger);
  }
  const cutLink = (a: string, b: string, oneWay = false): void => {
    cut.add(`${a}>${b}`);
    if (!oneWay) cut.add(`${b}>${a}`);
  };
  const healLink = (link: string): void => {
    cut.delete(link);
  };
  return { services, routed, requests, sentBy, cutLink, healLink, close: () => clearInterval(beat) };
}

test('a member cut off from the leader but not from another member is served through that member', async () => {
  const m = mesh('n1');
  try {
    m.cutLink('n3', 'n1');
    await sleep(TIMING.silenceMs + 60); // n3 has not heard n1 for the silence limit
    const r = await m.routed.get('n3')!.submit(RC, COMMANDS[1]!);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(m.services.get('n1')!.submitted.length, 1, 'it ran on the leader');
    assert.equal(m.services.get('n2')!.calls.length, 0, 'the relay only passed it on');
    assert.deepEqual(m.services.get('n1')!.contexts[0], RC, 'under the context of the member the client asked');
    assert.ok(!(m.sentBy.get('n3') ?? []).includes(`n1:${RPC_SERVICE.call}`), 'n3 sent nothing to the leader it cannot hear');
    const read = await m.routed.get('n3')!.listQueues(RC, undefined, 0, 20);
    assert.ok(read.ok);
    assert.equal(m.routed.get('n3')!.counters.relayedOut, 2, 'both calls counted as relayed from n3');
    assert.equal(m.routed.get('n2')!.counters.relayedIn, 2, 'and as passed on by n2');
  } finally {
    m.close();
  }
});

test('one-way cut, the leader\'s frames reach the member but not back: the call is given up after an echo, then relayed', async () => {
  const m = mesh('n1');
  try {
    m.cutLink('n3', 'n1', true); // n3 still hears n1's heartbeats
    const started = Date.now();
    const first = await m.routed.get('n3')!.submit(RC, COMMANDS[1]!);
    const waited = Date.now() - started;
    assert.ok(!first.ok);
    assert.equal(first.error, 'outcomeUnknown', `written to a link that may have carried it: ${first.detail}`);
    assert.match(first.detail ?? '', /did not answer an echo/);
    assert.ok(waited < 2000, `given up after ${waited} ms, not the transport's timeout`);
    const counted = m.requests.get('n3')!.counters;
    assert.equal(counted.echoesUnanswered, 1);
    assert.equal(counted.givenUpEchoUnanswered, 1);
    assert.equal(counted.givenUpLeaderSilent, 0, 'the leader was heard all along');
    const second = await m.routed.get('n3')!.submit(RC, COMMANDS[1]!);
    assert.ok(second.ok, JSON.stringify(second));
    assert.equal(m.services.get('n1')!.submitted.length, 1, 'the relayed one ran on the leader; the lost one never arrived');
  } finally {
    m.close();
  }
});

test('a member that can reach nobody answers at once with 6100; a relay that knows no leader says so', async () => {
  const m = mesh('n1');
  try {
    m.cutLink('n3', 'n1');
    m.cutLink('n3', 'n2');
    await sleep(TIMING.silenceMs + 60);
    // n3 has heard nothing from its leader, and n2 does not answer an echo: nothing is sent.
    const started = Date.now();
    const r = await m.routed.get('n3')!.submit(RC, COMMANDS[1]!);
    const waited = Date.now() - started;
    assert.ok(!r.ok);
    assert.equal(r.error, 'notApplied', r.detail);
    assert.match(r.detail ?? '', /leader n1 is unreachable from n3.*no other member answers/);
    assert.ok(waited < TIMING.echoTimeoutMs + 500, `answered after ${waited} ms: one echo's wait at most`);
    const again = Date.now();
    const r2 = await m.routed.get('n3')!.listQueues(RC, undefined, 0, 20);
    assert.ok(!r2.ok);
    assert.ok(Date.now() - again < 100, 'the failed echo is remembered: the next call is answered at once');
    assert.equal(m.routed.get('n3')!.counters.refusedUnreachable, 2);
    assert.equal(m.services.get('n1')!.calls.length + m.services.get('n2')!.calls.length, 0);
  } finally {
    m.close();
  }
  const noLeader = mesh(undefined);
  try {
    const r = await noLeader.routed.get('n3')!.submit(RC, COMMANDS[1]!);
    assert.ok(!r.ok);
    assert.equal(r.error, 'notApplied');
    assert.match(r.detail ?? '', /knows no leader either/);
  } finally {
    noLeader.close();
  }
});

test('a follower asks the leader for a queue\'s move tasks', async () => {
  const m = mesh('n1');
  try {
    const task = { taskHandle: 'move-2s', sourceQueue: 'dlq', destinationQueue: null, maxPerSecond: 5, status: 'RUNNING' as const, startedMs: 1, movedCount: 2, toMove: 9 };
    m.services.get('n1')!.scripts = { listMoveTasks: (q) => (q === 'dlq' ? [task] : fail('queueNotExist')) };
    const r = await m.routed.get('n2')!.listMoveTasks(RC, 'dlq');
    assert.deepEqual(r, { ok: true, tasks: [task] });
    const missing = await m.routed.get('n2')!.listMoveTasks(RC, 'nope');
    assert.ok(!missing.ok && missing.error === 'queueNotExist');
    assert.equal(m.services.get('n2')!.calls.length, 0, 'the follower ran nothing itself');
    assert.deepEqual(m.services.get('n1')!.calls, [{ method: 'listMoveTasks', sourceQueue: 'dlq' }, { method: 'listMoveTasks', sourceQueue: 'nope' }]);
  } finally {
    m.close();
  }
});

test('a member whose echoes to every peer failed serves again once the links heal: a failed echo is tried again, not final', async () => {
  const m = mesh('n1');
  try {
    m.cutLink('n3', 'n1', true); // n3 still hears n1's heartbeats; what it sends n1 vanishes
    const first = await m.routed.get('n3')!.submit(RC, COMMANDS[1]!);
    assert.ok(!first.ok);
    assert.match(first.detail ?? '', /did not answer an echo/);
    m.cutLink('n3', 'n2', true);
    const second = await m.routed.get('n3')!.submit(RC, COMMANDS[1]!);
    assert.ok(!second.ok);
    assert.equal(second.error, 'notApplied', second.detail);
    // The links heal (a partition ends); once the failed echoes are older than echoAfterMs, n3
    // echoes the leader again before it answers, and the call goes through.
    for (const link of ['n3>n1', 'n3>n2']) m.healLink(link);
    await sleep(TIMING.echoAfterMs + 60);
    const third = await m.routed.get('n3')!.submit(RC, COMMANDS[1]!);
    assert.ok(third.ok, JSON.stringify(third));
    assert.equal(m.services.get('n1')!.submitted.length, 1, 'it ran on the leader');
    const read = await m.routed.get('n3')!.listQueues(RC, undefined, 0, 20);
    assert.ok(read.ok, JSON.stringify(read));
  } finally {
    m.close();
  }
});
