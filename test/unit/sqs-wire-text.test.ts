// The JSON protocol's shortcut for the characters SQS allows in a message: a body whose bytes hold
// no escape and no U+FFFE/U+FFFF needs no per-message check; anything else is checked as before,
// so a forbidden character is refused whether it arrives raw or escaped.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SQS_ACTIONS } from '../../src/api/sqs/actions';
import { verifySigV4 } from '../../src/api/sqs/sigv4';
import { createSqsContext, handleSqsRequest } from '../../src/api/sqs/wire';
import { RecordingQueueService } from '../helpers/recording-service';
import { sqsJsonRequest } from '../helpers/sqs-json-request';

const QUEUE_URL = 'http://127.0.0.1:9324/000000000000/q1';

async function send(rawJson: string): Promise<{ status: number; code: string | undefined; sent: number }> {
  const service = new RecordingQueueService();
  const ctx = createSqsContext({ service, auth: { mode: 'open' }, actions: SQS_ACTIONS, verifySigV4, log: () => undefined });
  const a = await handleSqsRequest(ctx, sqsJsonRequest('SendMessage', Buffer.from(rawJson, 'utf8')));
  const error = a.headers['x-amzn-query-error'];
  return { status: a.status, code: typeof error === 'string' ? error.split(';')[0] : undefined, sent: service.submitted.length };
}

const body = (messageBodyJson: string): string => `{"QueueUrl":"${QUEUE_URL}","MessageBody":${messageBodyJson}}`;

test('allowed text, raw or escaped, is sent', async () => {
  for (const b of ['"plain ascii"', '"tab\\tnewline\\n"', '"ünïcødé ✓ 😀"', '"\\u00e9"']) {
    assert.deepEqual(await send(body(b)), { status: 200, code: undefined, sent: 1 }, b);
  }
});

test('a forbidden character is refused whether raw or escaped', async () => {
  for (const b of ['"nul \\u0000 here"', '"bell \\u0007"', '"lone \\ud800 surrogate"', '"\\uffff"', '"raw \uffff"', '"raw \ufffe"']) {
    assert.deepEqual(await send(body(b)), { status: 400, code: 'InvalidMessageContents', sent: 0 }, b);
  }
});
