// Refused signatures are logged as warnings, at most LIMITS.authFailureLogsPerMinute a minute per
// reason, the next line after the minute counting the ones left out; a flood of bad requests
// cannot flood the log.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { AddressInfo } from 'node:net';

import type { AuthConfig } from '../../src/api/auth';
import { createApiContext, createApiServer, handleCmqRequest } from '../../src/api/http-server';
import { LIMITS } from '../../src/protocol/limits';
import { captureLogger } from '../helpers/capture-logger';
import { RecordingQueueService } from '../helpers/recording-service';

const AUTH: AuthConfig = { mode: 'signature', credentials: [{ secretId: 'AKIDgood', secretKey: 'key' }], requireAkidPrefix: false };

function request(secretId: string): { method: string; host: string; path: string; query: string; body: Buffer; remote: string } {
  const params = new URLSearchParams({
    Action: 'ListQueue',
    SecretId: secretId,
    Signature: 'not-the-signature',
    Nonce: '1',
    Timestamp: String(Math.floor(Date.now() / 1000)),
  });
  return { method: 'POST', host: 'localhost:9600', path: '/v2/index.php', query: '', body: Buffer.from(params.toString()), remote: '192.0.2.7' };
}

test('authentication failures are warnings, rate-limited per reason with a suppressed count', async () => {
  const log = captureLogger();
  let now = 0;
  const ctx = createApiContext({ service: new RecordingQueueService(), auth: AUTH, log, logClockMs: () => now });
  const cap = LIMITS.authFailureLogsPerMinute;
  const attempts = cap * 3;
  for (let i = 0; i < attempts; i++) {
    const r = await handleCmqRequest(ctx, request('AKIDgood'));
    assert.notEqual(r['code'], 0, 'a wrong signature is refused');
  }
  const authLines = (): typeof log.lines => log.lines.filter((l) => l.msg.startsWith('authentication failed'));
  assert.equal(authLines().length, cap, 'no more than the cap within a minute');
  const first = authLines()[0]!;
  assert.equal(first.level, 'warn');
  assert.equal(first.component, 'api');
  assert.equal(first.fields?.['reason'], 'authFailed');
  assert.equal(first.fields?.['secretId'], 'AKIDgood');
  assert.equal(first.fields?.['action'], 'ListQueue');
  assert.equal(first.fields?.['remote'], '192.0.2.7');
  assert.ok(!JSON.stringify(log.lines).includes('not-the-signature'), 'the signature is never logged');

  // Another reason has its own budget.
  await handleCmqRequest(ctx, request('AKIDunknown'));
  assert.equal(authLines().length, cap + 1);
  assert.equal(authLines()[cap]!.fields?.['reason'], 'secretIdNotExist');

  // After the minute, the next line says how many were left out.
  now += 60_000;
  await handleCmqRequest(ctx, request('AKIDgood'));
  const after = authLines()[cap + 1]!;
  assert.equal(after.fields?.['suppressed'], attempts - cap);
  assert.match(after.msg, new RegExp(`${attempts - cap} more of these were not logged`));
});

test('a request that passes authentication logs nothing about it', async () => {
  const log = captureLogger();
  const ctx = createApiContext({ service: new RecordingQueueService(), auth: { mode: 'open' }, log });
  await handleCmqRequest(ctx, request('AKIDgood'));
  assert.deepEqual(log.lines, []);
});

test('over HTTP the failure names the client address', async () => {
  const log = captureLogger();
  const server = createApiServer({ service: new RecordingQueueService(), auth: AUTH, log });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const r = await fetch(`http://127.0.0.1:${port}/v2/index.php`, { method: 'POST', body: request('AKIDgood').body.toString() });
    assert.notEqual(((await r.json()) as { code: number }).code, 0);
    const line = log.lines.find((l) => l.msg.startsWith('authentication failed'));
    assert.ok(line, JSON.stringify(log.lines));
    assert.match(String(line.fields?.['remote']), /^(::ffff:)?127\.0\.0\.1$/);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
