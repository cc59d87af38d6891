// CmqClient against the real CMQ HTTP layer (src/api) over a scripted QueueService: the server's
// signature check accepts what the client signs, and parameters arrive as the broker commands
// the client meant.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiServer } from '../../src/api/http-server';
import { RecordingQueueService, sampleDeliveredMessage } from '../helpers/recording-service';
import type { Command } from '../../src/broker/commands';
import { CmqClient, type CmqClientOptions } from '../../src/client/client';
import { CmqError } from '../../src/client/errors';

const SECRET_ID = 'AKIDinterop';
const SECRET_KEY = 'interop-key';

let server: http.Server;
let endpoint: string;
const service = new RecordingQueueService();

before(async () => {
  server = createApiServer({
    service,
    auth: { mode: 'signature', credentials: [{ secretId: SECRET_ID, secretKey: SECRET_KEY }], requireAkidPrefix: true },
    log: () => undefined,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function client(opts: Partial<CmqClientOptions> = {}): CmqClient {
  return new CmqClient({ endpoint, secretId: SECRET_ID, secretKey: SECRET_KEY, retries: 0, ...opts });
}

function lastSubmitted(): Command {
  const c = service.submitted[service.submitted.length - 1];
  assert.ok(c);
  return c;
}

void test('the server accepts the client’s signatures: SHA256/SHA1, POST/GET, any path; rejects a wrong key', async () => {
  const variants: Array<Partial<CmqClientOptions>> = [
    {},
    { signatureMethod: 'HmacSHA1' },
    { method: 'GET' },
    { method: 'GET', signatureMethod: 'HmacSHA1', path: '/v2/index.php' },
  ];
  for (const v of variants) {
    const c = client(v);
    const msgId = await c.sendMessage('q1', 'a b&c=d+e %20 ✓ 消息');
    assert.match(msgId, /^\d+$/);
    const cmd = lastSubmitted();
    assert.ok(cmd.kind === 'sendMessages');
    assert.equal(Buffer.from(cmd.bodies[0] ?? new Uint8Array()).toString('utf8'), 'a b&c=d+e %20 ✓ 消息');
    c.close();
  }
  const wrong = client({ secretKey: 'nope' });
  await assert.rejects(wrong.deleteQueue('q1'), (e: unknown) => e instanceof CmqError && e.code === 4100 && e.errorName === 'authFailed');
  wrong.close();
});

void test('message bodies and batches arrive byte for byte, in order', async () => {
  const c = client();
  const body = 'line1\nline2 & more = 1+1 %41 ünïcode 消息 @start';
  await c.sendMessage('q1', body, { delaySeconds: 7 });
  let cmd = lastSubmitted();
  assert.ok(cmd.kind === 'sendMessages');
  assert.equal(Buffer.from(cmd.bodies[0] ?? new Uint8Array()).toString('utf8'), body);
  assert.equal(cmd.delaySeconds, 7);

  const bodies = Array.from({ length: 12 }, (_, i) => `body ${i}`);
  const ids = await c.batchSendMessage('q1', bodies);
  assert.equal(ids.length, 12);
  cmd = lastSubmitted();
  assert.ok(cmd.kind === 'sendMessages');
  assert.deepEqual(
    cmd.bodies.map((b) => Buffer.from(b).toString('utf8')),
    bodies,
  );
  c.close();
});

void test('queue attributes and dead-letter policy reach the command; null clears the policy', async () => {
  const c = client();
  assert.equal(
    await c.createQueue('Orders', { visibilityTimeout: 5, rewindSeconds: 60, deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 4 } }),
    'queue-orders',
  );
  let cmd = lastSubmitted();
  assert.ok(cmd.kind === 'createQueue');
  assert.equal(cmd.queueName, 'Orders');
  assert.equal(cmd.attrs.visibilityTimeout, 5);
  assert.equal(cmd.attrs.rewindSeconds, 60);
  assert.deepEqual(cmd.attrs.deadLetterPolicy, { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 4 });
  await c.setQueueAttributes('Orders', { deadLetterPolicy: null });
  cmd = lastSubmitted();
  assert.ok(cmd.kind === 'setQueueAttributes');
  assert.equal(cmd.attrs.deadLetterPolicy, null);
  const attrs = await c.getQueueAttributes('Orders');
  assert.equal(attrs.queueName, 'Orders');
  assert.equal(attrs.visibilityTimeout, 30);
  assert.equal(attrs.maxMsgSize, 65536);
  c.close();
});

void test('receive, 7000, and batch delete with a partial failure', async () => {
  const c = client();
  service.scripts.receive = (_q, n) => ({ ok: true, messages: Array.from({ length: n }, (_, i) => sampleDeliveredMessage(`m${i}`, i + 1)) });
  const m = await c.receiveMessage('q1', { pollingWaitSeconds: 1 });
  assert.ok(m);
  assert.equal(m.body, 'm0');
  assert.equal(m.receiptHandle, '1-1-1-abcdef');
  assert.equal(m.dequeueCount, 1);
  assert.equal(m.nextVisibleTime, 1_700_000_030);
  const batch = await c.batchReceiveMessage('q1', 3, { pollingWaitSeconds: 0 });
  assert.deepEqual(
    batch.map((x) => x.body),
    ['m0', 'm1', 'm2'],
  );
  service.scripts.receive = () => ({ ok: true, messages: [] });
  assert.equal(await c.receiveMessage('q1', { pollingWaitSeconds: 0 }), undefined);
  assert.deepEqual(await c.batchReceiveMessage('q1', 2, { pollingWaitSeconds: 0 }), []);

  service.scripts.submit = (cmd) => {
    assert.ok(cmd.kind === 'deleteMessages');
    return {
      ok: true,
      kind: 'deleteMessages',
      failures: cmd.receiptHandles.flatMap((h, index) => (h === 'bad' ? [{ index, receiptHandle: h, error: 'receiptHandleInvalid' as const, malformed: false }] : [])),
    };
  };
  const res = await c.batchDeleteMessage('q1', ['1-1-1-aa', 'bad']);
  assert.deepEqual(res.failed, [{ receiptHandle: 'bad', code: 4430, message: '(10260)receipt handle is invalid' }]);
  const all = await c.batchDeleteMessage('q1', ['bad']);
  assert.deepEqual(
    all.failed.map((f) => f.code),
    [4430],
  );
  const cmd = lastSubmitted();
  assert.ok(cmd.kind === 'deleteMessages');
  assert.deepEqual(cmd.receiptHandles, ['bad']);
  delete service.scripts.submit;
  delete service.scripts.receive;
  c.close();
});
