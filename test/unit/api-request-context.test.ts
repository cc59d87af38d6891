// The request context the HTTP layer builds (requestId, client address, arrival time, W3C
// traceparent) reaches every service call and the forward hook, and the service observer is told
// of every request executed here with the kind of its outcome.

import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';

import { createApiServer, type CmqRequestInput } from '../../src/api/http-server';
import { fail, type ErrorKind } from '../../src/protocol/errors';
import type { RequestObserver } from '../../src/service/observer';
import { validTraceparent, type RequestContext } from '../../src/service/request-context';
import { RecordingQueueService } from '../helpers/recording-service';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

let server: http.Server;
let port: number;
const service = new RecordingQueueService();
const served: { action: string; ctx: RequestContext; outcome: ErrorKind | 'ok'; durationMs: number }[] = [];
const observer: RequestObserver = { served: (action, ctx, outcome, durationMs) => served.push({ action, ctx, outcome, durationMs }) };
/** Requests whose body mentions "forward-me" go to the forward hook, which records their context. */
const forwarded: { input: CmqRequestInput; ctx: RequestContext }[] = [];

before(async () => {
  server = createApiServer({
    service,
    auth: { mode: 'open' },
    log: () => undefined,
    observer,
    requestIdPrefix: 'ctx-',
    forward: (input, ctx) => {
      if (!input.body.toString().includes('forward-me')) return undefined;
      forwarded.push({ input, ctx });
      return Promise.resolve({ code: 0, message: '', requestId: ctx.requestId });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function post(body: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body, headers, signal: AbortSignal.timeout(30_000) });
  return (await res.json()) as Record<string, unknown>;
}

void test('every service call gets the request\'s context: the requestId answered, the client address, the arrival time, the traceparent', async () => {
  const t0 = Date.now();
  const r = await post('Action=SendMessage&queueName=q&msgBody=x', { traceparent: TRACEPARENT });
  const t1 = Date.now();
  assert.equal(r['code'], 0);
  const ctx = service.contexts.at(-1)!;
  assert.equal(service.calls.at(-1)?.method, 'submit');
  assert.equal(ctx.requestId, r['requestId'], 'the id the client is given');
  assert.match(ctx.requestId, /^ctx-\d+$/);
  assert.equal(ctx.clientAddress, '127.0.0.1');
  assert.ok(ctx.receivedAtMs >= t0 && ctx.receivedAtMs <= t1, `received at ${ctx.receivedAtMs}, between ${t0} and ${t1}`);
  assert.equal(ctx.traceparent, TRACEPARENT);

  await post('Action=GetQueueAttributes&queueName=q');
  assert.equal(service.calls.at(-1)?.method, 'getQueueAttributes');
  assert.equal(service.contexts.at(-1)?.traceparent, undefined, 'no header, no traceparent');
  await post('Action=ListQueue', { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' });
  assert.equal(service.contexts.at(-1)?.traceparent, undefined, 'an invalid traceparent is ignored');
});

void test('a forwarded request hands its context to the forward hook, and is not observed here', async () => {
  const before = served.length;
  const r = await post('Action=SendMessage&queueName=q&msgBody=forward-me', { traceparent: TRACEPARENT });
  const f = forwarded.at(-1)!;
  assert.equal(f.ctx.requestId, r['requestId']);
  assert.equal(f.ctx.traceparent, TRACEPARENT);
  assert.equal(f.ctx.clientAddress, '127.0.0.1');
  assert.equal(served.length, before, 'executed (and observed) on the leader');
});

void test('the observer is told of every request executed here: action, context and outcome kind', async () => {
  served.length = 0;
  await post('Action=SendMessage&queueName=q&msgBody=x');
  service.scripts.getQueueAttributes = () => undefined;
  service.scripts.listQueues = () => fail('notApplied', undefined, 'no leader known');
  try {
    await post('Action=GetQueueAttributes&queueName=gone');
    await post('Action=ListQueue');
  } finally {
    delete service.scripts.getQueueAttributes;
    delete service.scripts.listQueues;
  }
  const r = await post('Action=NoSuchThing');
  assert.deepEqual(
    served.map((s) => [s.action, s.outcome]),
    [
      ['SendMessage', 'ok'],
      ['GetQueueAttributes', 'notFound'],
      ['ListQueue', 'notApplied'],
      ['unknown', 'invalid'],
    ],
  );
  assert.equal(served.at(-1)?.ctx.requestId, r['requestId']);
  for (const s of served) assert.ok(s.durationMs >= 0 && Number.isFinite(s.durationMs));
});

void test('traceparent: W3C version 00 exactly; later versions may append fields; malformed ones are dropped', () => {
  assert.equal(validTraceparent(TRACEPARENT), TRACEPARENT);
  assert.equal(validTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future'), '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future');
  for (const bad of [
    undefined,
    '',
    'garbage',
    TRACEPARENT.toUpperCase(),
    `${TRACEPARENT}-extra`,
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
    '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01',
    `01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-${'x'.repeat(300)}`,
  ]) {
    assert.equal(validTraceparent(bad), undefined, String(bad));
  }
});
