// Property tests of the CMQ HTTP layer: random and malformed input never throws, always yields a
// well-formed envelope, and never reaches the service unless it passed validation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createAuthenticator, type AuthConfig } from '../../src/api/auth';
import { parseForm } from '../../src/api/form';
import { createApiContext, handleCmqRequest, type CmqRequestInput } from '../../src/api/http-server';
import { QUEUE_ACTIONS } from '../../src/api/queue-actions';
import { RecordingQueueService } from '../helpers/recording-service';
import { responseJson } from '../../src/api/response';
import { canonicalQuery, computeSignature } from '../../src/api/signature';
import { CMQ_ERRORS as ERRORS } from '../../src/protocol/cmq-codes';

const SECRET_ID = 'AKIDfuzz';
const SECRET_KEY = 'fuzz-key';
const SIGNATURE_AUTH: AuthConfig = { mode: 'signature', credentials: [{ secretId: SECRET_ID, secretKey: SECRET_KEY }], requireAkidPrefix: true };
const KNOWN_CODES = new Set<number>([0, ...Object.values(ERRORS).map((e) => e.code)]);

// --- Generators

const anyText = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 }));
const intText = fc.oneof(
  fc.integer({ min: -5, max: 50 }).map(String),
  fc.integer().map(String),
  fc.constantFrom('', '0', '1', '16', '17', '30', '31', '1024', '65536', '1048576', '1e3', '1.5', '-0', '+3', '99999999999999999999', 'abc', ' 1'),
);
const nameText = fc.oneof(fc.constantFrom('q1', 'Queue-A_1', 'dlq', '', '1q', 'a b', 'x'.repeat(64), 'x'.repeat(65)), anyText);
const dlpText = fc.oneof(
  fc.constantFrom('', '{}', '[]', 'null', '{"deadLetterQueue":"dlq","policy":0,"maxReceiveCount":5}', '{"deadLetterQueue":"dlq","policy":1,"maxTimeToLive":300}'),
  fc.record(
    {
      deadLetterQueue: fc.oneof(nameText, fc.integer()),
      policy: fc.oneof(fc.constantFrom(0, 1, 2, -1), fc.constant('0')),
      maxReceiveCount: fc.oneof(fc.integer({ min: -2, max: 1002 }), fc.double()),
      maxTimeToLive: fc.integer({ min: 0, max: 50000 }),
    },
    { requiredKeys: [] },
  ).map((o) => JSON.stringify(o)),
  anyText,
);
const handleText = fc.oneof(fc.constantFrom('', 'h', '1-2-3-abc', 'x'.repeat(256), 'x'.repeat(257)), anyText);

const PARAM_GENS: Record<string, fc.Arbitrary<string>> = {
  queueName: nameText,
  deadLetterQueueName: nameText,
  msgBody: fc.oneof(anyText, fc.constant('')),
  delaySeconds: intText,
  pollingWaitSeconds: intText,
  numOfMsg: intText,
  visibilityTimeout: intText,
  maxMsgHeapNum: intText,
  maxMsgSize: intText,
  msgRetentionSeconds: intText,
  rewindSeconds: intText,
  startConsumeTime: intText,
  offset: intText,
  limit: intText,
  searchWord: anyText,
  receiptHandle: handleText,
  deadLetterPolicy: dlpText,
  clientRequestId: fc.oneof(intText, anyText),
  UserpollingWaitSeconds: intText,
};

const actionName = fc.oneof(
  fc.constantFrom(...Object.keys(QUEUE_ACTIONS)).chain((a) => fc.constantFrom(a, a.toLowerCase(), a.toUpperCase())),
  fc.constantFrom('CreateTopic', 'PublishMessage', 'Subscribe', 'ClearQueue', ''),
  anyText,
);

const arrayItems = (name: string): fc.Arbitrary<[string, string][]> =>
  fc
    .tuple(fc.constantFrom(0, 1, 2), fc.integer({ min: 0, max: 18 }), fc.boolean(), fc.array(handleText, { maxLength: 18 }))
    .map(([from, count, gap, values]) =>
      Array.from({ length: count }, (_, i) => [`${name}.${from + i + (gap && i > 2 ? 1 : 0)}`, values[i % Math.max(1, values.length)] ?? 'v'] as [string, string]),
    );

/** A plausible CMQ parameter set: an Action, some known parameters with edge-case values, arrays, junk. */
const paramSet: fc.Arbitrary<[string, string][]> = fc
  .tuple(
    fc.option(actionName, { nil: undefined }),
    fc.record(PARAM_GENS, { requiredKeys: [] }),
    fc.option(fc.oneof(arrayItems('msgBody'), arrayItems('receiptHandle')), { nil: undefined }),
    fc.array(fc.tuple(anyText, anyText), { maxLength: 3 }),
  )
  .map(([action, known, items, junk]) => {
    const m = new Map<string, string>();
    if (action !== undefined) m.set('Action', action);
    for (const [k, v] of Object.entries(known)) if (v !== undefined) m.set(k, v);
    for (const [k, v] of items ?? []) m.set(k, v);
    for (const [k, v] of junk) if (!m.has(k)) m.set(k, v);
    return [...m];
  });

const method = fc.oneof(fc.constantFrom('POST', 'GET', 'post', 'PUT', 'DELETE', 'HEAD'), anyText);
const rawBytes = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));
const malformedForm = fc
  .array(fc.oneof(fc.constantFrom('%', '%z', '%4', '%ff', '%C3', '+', '&', '=', '==', '&&', 'Action=SendMessage', 'queueName=q', 'a=1', 'a=2', '%E4%BD%A0'), anyText), { maxLength: 12 })
  .map((parts) => parts.join(''));

function envelopeOk(r: Record<string, unknown>): void {
  assert.equal(typeof r['code'], 'number');
  assert.ok(KNOWN_CODES.has(r['code'] as number), `unknown code ${String(r['code'])}`);
  assert.equal(typeof r['message'], 'string');
  assert.equal(typeof r['requestId'], 'string');
  if (r['code'] === 0) assert.equal(r['message'], '');
  else assert.match(r['message'] as string, /^\(\d{5}\)/);
  // Must serialise (bigint clientRequestId included) to JSON that parses back.
  const back = JSON.parse(responseJson(r)) as Record<string, unknown>;
  assert.equal(back['code'], r['code']);
}

/** With an always-succeeding fake, only 0 and 7000 (empty receive) may follow a service call. */
function noCallsUnlessAccepted(r: Record<string, unknown>, service: RecordingQueueService): void {
  if (r['code'] !== 0 && r['code'] !== 7000) assert.deepEqual(service.calls, [], JSON.stringify(r));
}

function signedBody(params: [string, string][], host: string, path: string): Buffer {
  const m = new Map<string, string>([...params.filter(([k]) => !['SecretId', 'Nonce', 'Timestamp', 'Signature', 'SignatureMethod'].includes(k))]);
  m.set('SecretId', SECRET_ID);
  m.set('Nonce', '42');
  m.set('Timestamp', '1700000000');
  m.set('Signature', computeSignature('POST' + host + path + '?' + canonicalQuery(m), SECRET_KEY, 'HmacSHA1'));
  return Buffer.from(new URLSearchParams([...m]).toString());
}

// --- Properties

void test('fuzz: parseForm never throws on random bytes; errors are 10420 or 10330 only', () => {
  fc.assert(
    fc.property(fc.oneof(rawBytes, malformedForm.map((s) => Buffer.from(s))), (buf) => {
      const r = parseForm(buf);
      if (!r.ok) assert.ok(r.error === 'cannotParse' || r.error === 'paramNotRepeatable');
      else for (const [k, v] of r.params) assert.ok(typeof k === 'string' && typeof v === 'string');
    }),
    { numRuns: 2000 },
  );
});

void test('fuzz: parseForm inverts URLSearchParams encoding for any unique keys and values', () => {
  const text = fc.string({ unit: 'binary', maxLength: 20 });
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(text, text), { selector: (t) => t[0], maxLength: 10 }), (pairs) => {
      const encoded = new URLSearchParams(pairs).toString();
      const r = parseForm(encoded);
      assert.ok(r.ok);
      // Even ['', ''] survives: it is encoded as '=' and parsed back as an empty key.
      assert.deepEqual([...r.params], pairs);
    }),
    { numRuns: 500 },
  );
});

void test('fuzz: the signature verifier never throws and accepts exactly what was signed', () => {
  const auth = createAuthenticator(SIGNATURE_AUTH);
  fc.assert(
    fc.property(paramSet, anyText, fc.constantFrom('/', '/v2/index.php', '//'), (params, host, path) => {
      const body = signedBody(params, host, path);
      const parsed = parseForm(body);
      if (!parsed.ok) return; // A duplicate key after decoding; covered elsewhere.
      assert.equal(auth.verify({ method: 'POST', host, path, params: parsed.params }), undefined);
      const tampered = new Map(parsed.params);
      tampered.set('Nonce', '43');
      assert.deepEqual(auth.verify({ method: 'POST', host, path, params: tampered }), { ok: false, error: 'authFailed' });
    }),
    { numRuns: 300 },
  );
});

void test('fuzz: the signature verifier on random parameter maps returns undefined or an ErrorResult', () => {
  const auth = createAuthenticator({ ...SIGNATURE_AUTH, timestampSkewSeconds: 300 });
  const value = fc.oneof(anyText, fc.constantFrom(SECRET_ID, 'AKIDother', '1700000000', '-1', 'HmacSHA256'));
  fc.assert(
    fc.property(
      fc.dictionary(fc.oneof(fc.constantFrom('SecretId', 'Signature', 'Nonce', 'Timestamp', 'SignatureMethod', 'Action'), anyText), value, { maxKeys: 8 }),
      method,
      anyText,
      anyText,
      (dict, m, host, path) => {
        const r = auth.verify({ method: m, host, path, params: new Map(Object.entries(dict)) });
        if (r !== undefined) assert.ok(r.ok === false && r.error in ERRORS);
      },
    ),
    { numRuns: 1000 },
  );
});

for (const mode of ['open', 'signature'] as const) {
  void test(`fuzz: handleCmqRequest on random raw input (${mode} mode) never throws; envelope well-formed`, async () => {
    const service = new RecordingQueueService();
    const ctx = createApiContext({ service, auth: mode === 'open' ? { mode: 'open' } : SIGNATURE_AUTH, log: () => undefined });
    await fc.assert(
      fc.asyncProperty(method, anyText, anyText, fc.oneof(malformedForm, anyText), fc.oneof(rawBytes, malformedForm.map((s) => Buffer.from(s))), async (m, host, path, query, body) => {
        service.calls.length = 0;
        const input: CmqRequestInput = { method: m, host, path, query, body };
        const r = await handleCmqRequest(ctx, input);
        envelopeOk(r);
        noCallsUnlessAccepted(r, service);
      }),
      { numRuns: 1500 },
    );
  });

  void test(`fuzz: handleCmqRequest on plausible CMQ parameter sets (${mode} mode, signed when needed)`, async () => {
    const service = new RecordingQueueService();
    const ctx = createApiContext({ service, auth: mode === 'open' ? { mode: 'open' } : SIGNATURE_AUTH, log: () => undefined });
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(paramSet, fc.constantFrom('POST', 'GET'), async (params, m) => {
        service.calls.length = 0;
        const body = mode === 'signature' ? signedBody(params, 'h:1', '/') : Buffer.from(new URLSearchParams(params).toString());
        const input: CmqRequestInput =
          m === 'POST' ? { method: m, host: 'h:1', path: '/', query: '', body } : { method: m, host: 'h:1', path: '/', query: body.toString(), body: Buffer.alloc(0) };
        const r = await handleCmqRequest(ctx, input);
        envelopeOk(r);
        noCallsUnlessAccepted(r, service);
        if (mode === 'signature' && m === 'GET') assert.equal(r['code'] === 0, false); // signed for POST
        if (r['code'] === 0) accepted++;
      }),
      { numRuns: 1500 },
    );
    // The generator must reach the actions, not only their error paths.
    if (mode === 'open') assert.ok(accepted > 20, `only ${accepted} requests were accepted`);
  });
}

void test('fuzz: every submitted command is well-typed (validation lets nothing odd through)', async () => {
  const service = new RecordingQueueService();
  const ctx = createApiContext({ service, auth: { mode: 'open' }, log: () => undefined });
  await fc.assert(
    fc.asyncProperty(paramSet, async (params) => {
      service.calls.length = 0;
      await handleCmqRequest(ctx, { method: 'POST', host: 'h', path: '/', query: '', body: Buffer.from(new URLSearchParams(params).toString()) });
      for (const c of service.submitted) {
        if ('queueName' in c) assert.match(c.queueName, /^[A-Za-z][A-Za-z0-9_-]{0,63}$/);
        switch (c.kind) {
          case 'sendMessages':
            assert.ok(c.bodies.length >= 1 && c.bodies.length <= 16);
            for (const b of c.bodies) assert.ok(b.length >= 1 && b.length <= 1_048_576);
            assert.ok(c.delaySeconds === null || (Number.isInteger(c.delaySeconds) && c.delaySeconds >= 0 && c.delaySeconds <= 6_048_000));
            break;
          case 'deleteMessages':
            assert.ok(c.receiptHandles.length >= 1 && c.receiptHandles.length <= 16);
            for (const h of c.receiptHandles) assert.ok(h.length >= 1 && h.length <= 256);
            break;
          case 'createQueue':
          case 'setQueueAttributes':
            for (const [k, v] of Object.entries(c.attrs)) if (k !== 'deadLetterPolicy') assert.ok(Number.isInteger(v), k);
            break;
          case 'rewindQueue':
            assert.ok(Number.isSafeInteger(c.startConsumeTimeSec) && c.startConsumeTimeSec >= 0);
            break;
          case 'deleteQueue':
          case 'unbindDeadLetter':
          case 'moveMessages': // OpencmqRedriveDeadLetterQueue
            break;
          // Topic commands: their validation has its own tests (test/unit/api-topic-validation.test.ts).
          case 'createTopic':
          case 'setTopicAttributes':
          case 'deleteTopic':
          case 'subscribe':
          case 'unsubscribe':
          case 'setSubscriptionAttributes':
          case 'clearSubscriptionFilterTags':
          case 'publishMessages':
          case 'pushSucceeded':
          case 'pushFailed':
            break;
          case 'receiveMessages':
          case 'quarantineMessage':
          case 'tick':
          case 'relocateBodies':
          case 'changeVisibility': // this and the three below: the SQS API's commands
          case 'purgeQueue':
          case 'tagQueue':
          case 'untagQueue':
          case 'startMoveTask':
          case 'cancelMoveTask':
          case 'deadLetterSent':
          case 'deadLetterFailed':
            assert.fail(`the CMQ API never submits ${c.kind}`);
        }
      }
    }),
    { numRuns: 1000 },
  );
});
