// The SQS listener on loopback: driven by the AWS SDK for JavaScript (JSON 1.0, Signature
// Version 4) against a fake action table, and the listener's own refusals (too large, too slow,
// headers too long) in SQS's shapes and statuses.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type * as http from 'node:http';
import type * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as sdk from '@aws-sdk/client-sqs';
import { GetQueueUrlCommand, ListQueuesCommand, SQSClient, SQSServiceException } from '@aws-sdk/client-sqs';
import { createSqsServer, type SqsServerOptions } from '../../src/api/sqs/server';
import type { SqsAction, SqsEnv } from '../../src/api/sqs/types';
import { fail } from '../../src/protocol/errors';
import { LIMITS } from '../../src/protocol/limits';
import { SQS_MODELED_ERRORS } from '../../src/protocol/sqs-codes';
import type { QueueService } from '../../src/service/queue-service';
import { rawConnect, readUntilClose } from '../helpers/raw-http';
import { one, parseXml, text } from '../helpers/tiny-xml';

const servers: http.Server[] = [];
const sockets: net.Socket[] = [];

after(async () => {
  for (const s of sockets) s.destroy();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function start(opts: Partial<SqsServerOptions> = {}): Promise<{ port: number; envs: SqsEnv[] }> {
  const envs: SqsEnv[] = [];
  const actions: Record<string, SqsAction> = {
    ListQueues: (env, input) => {
      envs.push(env);
      const prefix = typeof input['QueueNamePrefix'] === 'string' ? input['QueueNamePrefix'] : '';
      return Promise.resolve({ QueueUrls: [`${env.baseUrl}/${env.accountId}/${prefix}one`, `${env.baseUrl}/${env.accountId}/${prefix}two`] });
    },
    GetQueueUrl: (env) => {
      envs.push(env);
      return Promise.resolve(fail('queueNotExist'));
    },
  };
  const server = createSqsServer({
    service: {} as QueueService,
    auth: { mode: 'open' },
    actions,
    verifySigV4: () => assert.fail('not checked on an open server'),
    log: () => undefined,
    ...opts,
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, envs };
}

function client(port: number): SQSClient {
  return new SQSClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
}

test('the AWS SDK: ListQueues comes back as the SDK expects, signed by the SDK', async () => {
  const { port, envs } = await start();
  const sqs = client(port);
  try {
    const out = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'p-' }));
    assert.deepEqual(out.QueueUrls, [`http://127.0.0.1:${port}/000000000000/p-one`, `http://127.0.0.1:${port}/000000000000/p-two`]);
    assert.equal(out.$metadata.httpStatusCode, 200);
    assert.match(out.$metadata.requestId ?? '', /-1$/);
    // An open server takes the signature's word for who sent it.
    assert.equal(envs[0]?.senderId, 'AKIATEST');
    assert.equal(envs[0]?.region, 'eu-west-1');
  } finally {
    sqs.destroy();
  }
});

test('the AWS SDK: an error comes back as its modeled exception with the HTTP status', async () => {
  const { port } = await start();
  const sqs = client(port);
  try {
    const err = await sqs.send(new GetQueueUrlCommand({ QueueName: 'missing' })).then(
      () => assert.fail('expected QueueDoesNotExist'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SQSServiceException, String(err));
    assert.equal(err.name, 'QueueDoesNotExist');
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.equal(err.$fault, 'client');
    assert.match(err.message, /queue is not existed/);
    // The query-compatible code, as SDKs that read x-amzn-query-error see it.
    assert.equal((err as unknown as { Code?: string }).Code, 'AWS.SimpleQueueService.NonExistentQueue');
  } finally {
    sqs.destroy();
  }
});

test('the AWS SDK against a server with credentials: an unknown key is InvalidClientTokenId, 403', async () => {
  const { port } = await start({
    auth: { mode: 'signature', credentials: [{ secretId: 'AKIAOTHER', secretKey: 'k' }], requireAkidPrefix: false },
    verifySigV4: (_req, secretOf) => (secretOf('AKIATEST') === undefined ? { ok: false, failure: 'unknownKey', detail: 'AKIATEST' } : assert.fail('AKIATEST is not configured')),
  });
  const sqs = client(port);
  try {
    const err = await sqs.send(new ListQueuesCommand({})).then(
      () => assert.fail('expected a refusal'),
      (e: unknown) => e as SQSServiceException,
    );
    assert.equal(err.name, 'InvalidClientTokenId');
    assert.equal(err.$metadata.httpStatusCode, 403);
  } finally {
    sqs.destroy();
  }
});

test('every modeled error shape in the SQS code table is an exception class of the AWS SDK', () => {
  for (const [shape, code] of Object.entries(SQS_MODELED_ERRORS)) {
    assert.equal(code.shape, shape);
    const ctor = (sdk as unknown as Record<string, unknown>)[shape];
    assert.equal(typeof ctor, 'function', shape);
    const e = new (ctor as new (o: object) => SQSServiceException)({ message: 'm', $metadata: {} });
    assert.ok(e instanceof SQSServiceException, shape);
    assert.equal(e.name, shape);
  }
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function parseRaw(raw: string): RawAnswer[] {
  const out: RawAnswer[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    assert.ok(end >= 0, `incomplete answer: ${JSON.stringify(rest)}`);
    const lines = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
    const length = Number(headers['content-length'] ?? 0);
    out.push({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

async function connect(port: number): Promise<net.Socket> {
  const s = await rawConnect(port);
  sockets.push(s);
  return s;
}

const JSON_HEADERS = 'X-Amz-Target: AmazonSQS.ListQueues\r\nContent-Type: application/x-amz-json-1.0\r\n';

test('too large: a JSON request gets a JSON 400 InvalidParameterValue, a query request XML; the connection is closed', async () => {
  const { port } = await start();
  const json = await connect(port);
  json.write(`POST / HTTP/1.1\r\nHost: t\r\n${JSON_HEADERS}Content-Length: ${LIMITS.requestBytesMax + 1}\r\n\r\n{`);
  const [j] = parseRaw(await readUntilClose(json, 15_000));
  assert.equal(j?.status, 400);
  assert.equal(j?.headers['connection'], 'close');
  assert.equal(j?.headers['x-amzn-query-error'], 'InvalidParameterValue;Sender');
  assert.equal((JSON.parse(j?.body ?? '') as Record<string, unknown>)['__type'], 'com.amazonaws.sqs#InvalidParameterValue');

  const query = await connect(port);
  query.write(`POST / HTTP/1.1\r\nHost: t\r\nContent-Length: ${LIMITS.requestBytesMax + 1}\r\n\r\nAction=ListQueues`);
  const [q] = parseRaw(await readUntilClose(query, 15_000));
  assert.equal(q?.status, 400);
  assert.equal(q?.headers['content-type'], 'text/xml');
  assert.equal(text(parseXml(q?.body ?? ''), 'Error', 'Code'), 'InvalidParameterValue');
});

test('an over-long URL gets an XML 400 (no headers to tell the protocol by)', async () => {
  const { port } = await start();
  const s = await connect(port);
  s.write(`GET /?Action=ListQueues&x=${'a'.repeat(LIMITS.requestBytesMax + 70 * 1024)} HTTP/1.1\r\nHost: t\r\n\r\n`);
  const [a] = parseRaw(await readUntilClose(s, 15_000));
  assert.equal(a?.status, 400);
  const root = parseXml(a?.body ?? '');
  assert.equal(root.name, 'ErrorResponse');
  assert.equal(text(root, 'Error', 'Code'), 'InvalidParameterValue');
});

test('too slow: a request cut at its deadline gets 503 ServiceUnavailable (retry), in its protocol', async () => {
  const { port } = await start({ requestTimeoutMs: 1000 });
  // Headers arrived, body did not: JSON, since X-Amz-Target was seen.
  const body = await connect(port);
  body.write(`POST / HTTP/1.1\r\nHost: t\r\n${JSON_HEADERS}Content-Length: 100\r\n\r\n{`);
  const [b] = parseRaw(await readUntilClose(body, 15_000));
  assert.equal(b?.status, 503);
  assert.equal(b?.headers['connection'], 'close');
  assert.equal(b?.headers['x-amzn-query-error'], 'ServiceUnavailable;Receiver');
  assert.match((JSON.parse(b?.body ?? '') as Record<string, string>)['message'] ?? '', /not received within 1 s/);
  // Headers never finished: XML.
  const head = await connect(port);
  head.write('POST / HTTP/1.1\r\nHost: t\r\nContent-Ty');
  const [h] = parseRaw(await readUntilClose(head, 15_000));
  assert.equal(h?.status, 503);
  const e = one(parseXml(h?.body ?? ''), 'Error');
  assert.deepEqual([text(e, 'Type'), text(e, 'Code')], ['Receiver', 'ServiceUnavailable']);
});
