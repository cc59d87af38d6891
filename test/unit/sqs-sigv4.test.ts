// SigV4 verification of incoming SQS requests: the public AWS test-suite vectors, requests signed
// by the AWS SDK's own signer (the SQS client itself, and @smithy/signature-v4 for the query
// protocol, odd paths and presigned URLs), every single-field tamper, the clock, and hostile input.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import fc from 'fast-check';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/core/protocols';
import type { HttpRequest as SignedHttpRequest, SourceData } from '@smithy/types';
import {
  canonicalUri,
  MAX_SIGNED_HEADERS,
  SIGNING_KEY_CACHE_LIMIT,
  signingKeyCacheSize,
  signingKey,
  verifySigV4,
  type SigV4Request,
  type SigV4Result,
} from '../../src/api/sqs/sigv4';

// ---------------------------------------------------------------------------------------------
// (a) The AWS SigV4 test suite (2015-08-30 edition): credentials, date, region and service of
// every vector; each request is the vector's, each signature the published one.

const SUITE_KEY = 'AKIDEXAMPLE';
const SUITE_SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const SUITE_NOW = Date.UTC(2015, 7, 30, 12, 36, 0);
const SUITE_SCOPE = `${SUITE_KEY}/20150830/us-east-1/service/aws4_request`;
const suiteSecrets = (id: string): string | undefined => (id === SUITE_KEY ? SUITE_SECRET : undefined);

interface Vector {
  name: string;
  method: string;
  path: string;
  query?: string;
  headers?: Record<string, string>;
  body?: string;
  signedHeaders: string;
  signature: string;
}

const VECTORS: Vector[] = [
  { name: 'get-vanilla', method: 'GET', path: '/', signedHeaders: 'host;x-amz-date', signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' },
  { name: 'post-vanilla', method: 'POST', path: '/', signedHeaders: 'host;x-amz-date', signature: '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b' },
  {
    name: 'post-x-www-form-urlencoded',
    method: 'POST',
    path: '/',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Param1=value1',
    signedHeaders: 'content-type;host;x-amz-date',
    signature: 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
  },
  {
    name: 'get-vanilla-query-order-key-case',
    method: 'GET',
    path: '/',
    query: 'Param2=value2&Param1=value1',
    signedHeaders: 'host;x-amz-date',
    signature: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
  },
  {
    name: 'get-vanilla-query-unreserved',
    method: 'GET',
    path: '/',
    query: '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
    signedHeaders: 'host;x-amz-date',
    signature: '9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197',
  },
  { name: 'get-utf8', method: 'GET', path: '/ሴ', signedHeaders: 'host;x-amz-date', signature: '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85' },
  { name: 'get-space', method: 'GET', path: '/example space/', signedHeaders: 'host;x-amz-date', signature: '652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741' },
  {
    name: 'get-unreserved',
    method: 'GET',
    path: '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
    signedHeaders: 'host;x-amz-date',
    signature: '07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f',
  },
  // normalize-path: the canonical URI of these is '/', so the signature is get-vanilla's.
  { name: 'get-relative-relative', method: 'GET', path: '/example1/example2/../..', signedHeaders: 'host;x-amz-date', signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' },
  { name: 'get-slash-dot-slash', method: 'GET', path: '/./', signedHeaders: 'host;x-amz-date', signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' },
  { name: 'get-slash', method: 'GET', path: '//', signedHeaders: 'host;x-amz-date', signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' },
  {
    name: 'get-header-value-trim',
    method: 'GET',
    path: '/',
    headers: { 'my-header1': ' value1', 'my-header2': ' "a   b   c"' },
    signedHeaders: 'host;my-header1;my-header2;x-amz-date',
    signature: 'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736',
  },
];

function vectorRequest(v: Vector): SigV4Request {
  return {
    method: v.method,
    path: v.path,
    query: v.query ?? '',
    headers: {
      host: 'example.amazonaws.com',
      'x-amz-date': '20150830T123600Z',
      ...v.headers,
      authorization: `AWS4-HMAC-SHA256 Credential=${SUITE_SCOPE}, SignedHeaders=${v.signedHeaders}, Signature=${v.signature}`,
    },
    body: Buffer.from(v.body ?? '', 'utf8'),
  };
}

for (const v of VECTORS) {
  test(`AWS test suite vector ${v.name} verifies`, () => {
    assert.deepEqual(verifySigV4(vectorRequest(v), suiteSecrets, SUITE_NOW, { service: 'service' }), { ok: true, accessKeyId: SUITE_KEY, region: 'us-east-1' });
  });
}

test('the AWS test suite vectors fail with any other signature', () => {
  for (const v of VECTORS) {
    const wrong = { ...v, signature: v.signature.replace(/^./, (c) => (c === '0' ? '1' : '0')) };
    assert.equal(failure(verifySigV4(vectorRequest(wrong), suiteSecrets, SUITE_NOW, { service: 'service' })), 'mismatch', v.name);
  }
});

test('the signing key of the AWS documentation example', () => {
  // "Derive a signing key": secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam.
  assert.equal(signingKey(SUITE_SECRET, '20120215', 'us-east-1', 'iam').toString('hex'), 'f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d');
});

test('the date may come from the Date header (converted to ISO 8601 basic in the string to sign)', () => {
  // Sign with the documented construction, by hand, for a Date-header request.
  const canonical = ['GET', '/', '', 'date:Sun, 30 Aug 2015 12:36:00 GMT', 'host:example.amazonaws.com', '', 'date;host', sha256('')].join('\n');
  const sts = ['AWS4-HMAC-SHA256', '20150830T123600Z', '20150830/us-east-1/service/aws4_request', sha256(canonical)].join('\n');
  const signature = createHmac('sha256', signingKey(SUITE_SECRET, '20150830', 'us-east-1', 'service')).update(sts).digest('hex');
  const req: SigV4Request = {
    method: 'GET',
    path: '/',
    query: '',
    headers: {
      host: 'example.amazonaws.com',
      date: 'Sun, 30 Aug 2015 12:36:00 GMT',
      authorization: `AWS4-HMAC-SHA256 Credential=${SUITE_SCOPE}, SignedHeaders=date;host, Signature=${signature}`,
    },
    body: Buffer.alloc(0),
  };
  assert.equal(verifySigV4(req, suiteSecrets, SUITE_NOW, { service: 'service' }).ok, true);
  assert.equal(failure(verifySigV4({ ...req, headers: { ...req.headers, date: 'Sun, 30 Aug 2015 12:36:01 GMT' } }, suiteSecrets, SUITE_NOW, { service: 'service' })), 'mismatch');
  assert.equal(failure(verifySigV4({ ...req, headers: { ...req.headers, date: 'yesterday' } }, suiteSecrets, SUITE_NOW, { service: 'service' })), 'incomplete');
});

test('canonical URIs: the wire path is normalized and encoded once more', () => {
  assert.equal(canonicalUri(''), '/');
  assert.equal(canonicalUri('/'), '/');
  assert.equal(canonicalUri('//example//'), '/example/');
  assert.equal(canonicalUri('/123456789012/my-queue'), '/123456789012/my-queue');
  assert.equal(canonicalUri('/a%20b/%E1%88%B4'), '/a%2520b/%25E1%2588%25B4');
  assert.equal(canonicalUri('/a/./b/../c'), '/a/c');
});

// ---------------------------------------------------------------------------------------------
// (b) Requests signed by the AWS SDK's signer.

const KEY = 'AKIAOPENCMQTESTKEY01';
const SECRET = 'c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ/+example';
const OTHER_KEY = 'AKIAOPENCMQTESTKEY02';
const OTHER_SECRET = 'another/secret+key';
const secrets = (id: string): string | undefined => (id === KEY ? SECRET : id === OTHER_KEY ? OTHER_SECRET : undefined);
const SIGNED_AT = new Date(Date.UTC(2026, 11, 7, 12, 0, 0));
const NOW = SIGNED_AT.getTime() + 2000;

/** The hash class the smithy signer takes, on node:crypto (SHA-256, or HMAC-SHA256 with a key). */
class NodeSha256 {
  private readonly h: Hash | Hmac;
  constructor(secret?: SourceData) {
    if (secret === undefined) this.h = createHash('sha256');
    else if (typeof secret === 'string') this.h = createHmac('sha256', secret);
    else if (secret instanceof ArrayBuffer) this.h = createHmac('sha256', new Uint8Array(secret));
    else this.h = createHmac('sha256', new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength));
  }
  update(data: Uint8Array): void {
    this.h.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.h.digest());
  }
}

function signer(region = 'us-east-1', accessKeyId = KEY, secretAccessKey = SECRET, applyChecksum = true): SignatureV4 {
  return new SignatureV4({ credentials: { accessKeyId, secretAccessKey }, region, service: 'sqs', sha256: NodeSha256, applyChecksum });
}

/** A signed smithy request as node:http would hand it to the server. */
function received(r: SignedHttpRequest): SigV4Request {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(r.headers)) headers[name.toLowerCase()] = value;
  const query = Object.entries(r.query ?? {})
    .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v ?? '']]))
    .map(([k, v]) => `${encodeURIComponent(k!)}=${encodeURIComponent(v!)}`)
    .join('&');
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body as string | Uint8Array);
  return { method: r.method, path: r.path, query, headers, body };
}

const JSON_BODY = JSON.stringify({ QueueUrl: 'http://127.0.0.1:9324/000000000000/orders', MessageBody: 'héllo wörld' });
function jsonRequest(): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 9324,
    path: '/',
    headers: { host: '127.0.0.1:9324', 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.SendMessage', 'content-length': String(Buffer.byteLength(JSON_BODY)) },
    body: JSON_BODY,
  });
}
const FORM_BODY = 'Action=SendMessage&Version=2012-11-05&QueueUrl=http%3A%2F%2F127.0.0.1%3A9324%2F000000000000%2Forders&MessageBody=a%20b%2Bc';
function formRequest(): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 9324,
    path: '/000000000000/orders',
    headers: { host: '127.0.0.1:9324', 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: FORM_BODY,
  });
}

test('a JSON 1.0 SendMessage signed by the SDK signer verifies', async () => {
  const signed = received(await signer().sign(jsonRequest(), { signingDate: SIGNED_AT }));
  assert.match(String(signed.headers['authorization']), /SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target,/);
  assert.deepEqual(verifySigV4(signed, secrets, NOW), { ok: true, accessKeyId: KEY, region: 'us-east-1' });
  // Without X-Amz-Content-Sha256 the verifier hashes the body itself.
  const bare = received(await signer('us-east-1', KEY, SECRET, false).sign(jsonRequest(), { signingDate: SIGNED_AT }));
  assert.equal(bare.headers['x-amz-content-sha256'], undefined);
  assert.deepEqual(verifySigV4(bare, secrets, NOW), { ok: true, accessKeyId: KEY, region: 'us-east-1' });
});

test('a query-protocol form POST signed by the SDK signer verifies, in any region', async () => {
  const signed = received(await signer('eu-west-3').sign(formRequest(), { signingDate: SIGNED_AT }));
  assert.deepEqual(verifySigV4(signed, secrets, NOW), { ok: true, accessKeyId: KEY, region: 'eu-west-3' });
});

test('a path with spaces and non-ASCII characters, signed by the SDK signer, verifies', async () => {
  // The SDK puts the path on the wire URI-encoded; it signs that wire form encoded once more.
  const req = new HttpRequest({
    method: 'GET',
    hostname: 'localhost',
    path: '/000000000000/' + encodeURIComponent('queue with spaces ✓ ሴ'),
    query: { Action: 'GetQueueUrl', QueueName: 'a b+c/ü' },
    headers: { host: 'localhost' },
  });
  const signed = received(await signer().sign(req, { signingDate: SIGNED_AT }));
  assert.deepEqual(verifySigV4(signed, secrets, NOW), { ok: true, accessKeyId: KEY, region: 'us-east-1' });
});

test('a presigned GET made by the SDK signer verifies until it expires', async () => {
  const req = new HttpRequest({
    method: 'GET',
    hostname: 'localhost',
    port: 9324,
    path: '/000000000000/orders',
    query: { Action: 'ReceiveMessage', MaxNumberOfMessages: '10', Version: '2012-11-05' },
    headers: { host: 'localhost:9324' },
  });
  const presigned = received(await signer('ap-south-1').presign(req, { signingDate: SIGNED_AT, expiresIn: 300 }));
  assert.equal(presigned.headers['authorization'], undefined);
  assert.match(presigned.query, /X-Amz-Signature=[0-9a-f]{64}/);
  assert.deepEqual(verifySigV4(presigned, secrets, NOW), { ok: true, accessKeyId: KEY, region: 'ap-south-1' });
  // Valid to the last second of X-Amz-Expires (even beyond the skew allowed to header signatures)...
  assert.equal(verifySigV4(presigned, secrets, SIGNED_AT.getTime() + 300_000, { maxSkewMs: 60_000 }).ok, true);
  // ...and no longer.
  assert.equal(failure(verifySigV4(presigned, secrets, SIGNED_AT.getTime() + 300_001)), 'expired');
  // Tampering with the query (a parameter, the expiry) breaks it.
  assert.equal(failure(verifySigV4({ ...presigned, query: presigned.query.replace('MaxNumberOfMessages=10', 'MaxNumberOfMessages=1') }, secrets, NOW)), 'mismatch');
  assert.equal(failure(verifySigV4({ ...presigned, query: presigned.query.replace('X-Amz-Expires=300', 'X-Amz-Expires=900') }, secrets, NOW)), 'mismatch');
  // A presigned URL signed in the future beyond the skew is refused like a header signature.
  assert.equal(failure(verifySigV4(presigned, secrets, SIGNED_AT.getTime() - 16 * 60_000)), 'expired');
});

test('the real SQS client\'s SendMessage request verifies', async () => {
  let captured: HttpRequest | undefined;
  const client = new SQSClient({
    region: 'us-west-2',
    endpoint: 'http://127.0.0.1:9324',
    credentials: { accessKeyId: KEY, secretAccessKey: SECRET },
    maxAttempts: 1,
    requestHandler: {
      handle: (request: HttpRequest) => {
        captured = request;
        return Promise.reject(new Error('captured'));
      },
    },
  });
  await assert.rejects(
    client.send(new SendMessageCommand({ QueueUrl: 'http://127.0.0.1:9324/000000000000/orders', MessageBody: 'hello', MessageAttributes: { a: { DataType: 'String', StringValue: 'x' } } })),
    /captured/,
  );
  client.destroy();
  assert.ok(captured);
  const req = received(captured);
  assert.equal(req.headers['x-amz-target'], 'AmazonSQS.SendMessage');
  assert.equal(req.headers['content-type'], 'application/x-amz-json-1.0');
  // The SDK read the wall clock to sign: verify at the wall clock too.
  assert.deepEqual(verifySigV4(req, secrets, Date.now()), { ok: true, accessKeyId: KEY, region: 'us-west-2' });
});

// ---------------------------------------------------------------------------------------------
// (c) Every single-field tamper fails, with the failure that names it.

function failure(r: SigV4Result): string | undefined {
  return r.ok ? undefined : r.failure;
}

/** Signed over the body itself (no X-Amz-Content-Sha256), so a body tamper reaches the signature. */
async function signedJson(): Promise<SigV4Request> {
  return received(await signer('us-east-1', KEY, SECRET, false).sign(jsonRequest(), { signingDate: SIGNED_AT }));
}

const withHeaders = (r: SigV4Request, h: Record<string, string | undefined>): SigV4Request => ({ ...r, headers: { ...r.headers, ...h } });
const authorization = (r: SigV4Request): string => r.headers['authorization'] as string;

test('a changed body byte fails as a mismatch, wherever the byte is', async () => {
  const req = await signedJson();
  for (let i = 0; i < req.body.length; i++) {
    const body = Buffer.from(req.body);
    body[i] = body[i]! ^ 0x01;
    assert.equal(failure(verifySigV4({ ...req, body }, secrets, NOW)), 'mismatch', `byte ${i}`);
  }
  assert.equal(failure(verifySigV4({ ...req, body: Buffer.concat([req.body, Buffer.from(' ')]) }, secrets, NOW)), 'mismatch');
});

test('a changed signed header, method, path or query fails as a mismatch', async () => {
  const req = await signedJson();
  assert.equal(failure(verifySigV4(withHeaders(req, { 'x-amz-target': 'AmazonSQS.DeleteQueue' }), secrets, NOW)), 'mismatch');
  assert.equal(failure(verifySigV4(withHeaders(req, { host: 'evil.example:9324' }), secrets, NOW)), 'mismatch');
  assert.equal(failure(verifySigV4(withHeaders(req, { 'content-type': 'application/x-amz-json-1.1' }), secrets, NOW)), 'mismatch');
  assert.equal(failure(verifySigV4({ ...req, method: 'PUT' }, secrets, NOW)), 'mismatch');
  assert.equal(failure(verifySigV4({ ...req, path: '/000000000000/orders' }, secrets, NOW)), 'mismatch');
  assert.equal(failure(verifySigV4({ ...req, query: 'Action=DeleteQueue' }, secrets, NOW)), 'mismatch');
  // Headers that are not signed may change (proxies add them).
  assert.equal(verifySigV4(withHeaders(req, { 'user-agent': 'changed', 'x-forwarded-for': '10.0.0.1' }), secrets, NOW).ok, true);
  // A signed header that is missing is not a well-formed signed request.
  assert.equal(failure(verifySigV4(withHeaders(req, { 'x-amz-target': undefined }), secrets, NOW)), 'incomplete');
});

test('a changed date fails: within the day as a mismatch, on another day as a scope error', async () => {
  const req = await signedJson();
  assert.equal(req.headers['x-amz-date'], '20261207T120000Z');
  assert.equal(failure(verifySigV4(withHeaders(req, { 'x-amz-date': '20261207T120001Z' }), secrets, NOW)), 'mismatch');
  const otherDay = verifySigV4(withHeaders(req, { 'x-amz-date': '20261208T000001Z' }), secrets, Date.UTC(2026, 11, 8, 0, 0, 1));
  assert.equal(failure(otherDay), 'incomplete');
  assert.match((otherDay as { detail: string }).detail, /scope's date 20261207 is not the request date's day 20261208/);
  assert.equal(failure(verifySigV4(withHeaders(req, { 'x-amz-date': undefined }), secrets, NOW)), 'incomplete');
  assert.equal(failure(verifySigV4(withHeaders(req, { 'x-amz-date': '20261332T120000Z' }), secrets, NOW)), 'incomplete');
});

test('a changed access key id fails: unknown as unknownKey, another known key as a mismatch', async () => {
  const req = await signedJson();
  assert.equal(failure(verifySigV4(withHeaders(req, { authorization: authorization(req).replace(KEY, 'AKIANOBODYKNOWSTHIS') }), secrets, NOW)), 'unknownKey');
  assert.equal(failure(verifySigV4(withHeaders(req, { authorization: authorization(req).replace(KEY, OTHER_KEY) }), secrets, NOW)), 'mismatch');
  // The right key id with the wrong secret (the client's idea of the secret is off).
  const wrongSecret = received(await signer('us-east-1', KEY, OTHER_SECRET).sign(jsonRequest(), { signingDate: SIGNED_AT }));
  assert.equal(failure(verifySigV4(wrongSecret, secrets, NOW)), 'mismatch');
});

test('a region in the scope other than the one signed for fails as a mismatch', async () => {
  const req = await signedJson();
  assert.equal(failure(verifySigV4(withHeaders(req, { authorization: authorization(req).replace('/us-east-1/', '/us-east-2/') }), secrets, NOW)), 'mismatch');
});

test('a service other than sqs in the scope is refused, and the detail says so', async () => {
  const req = received(await new SignatureV4({ credentials: { accessKeyId: KEY, secretAccessKey: SECRET }, region: 'us-east-1', service: 'sns', sha256: NodeSha256 }).sign(jsonRequest(), { signingDate: SIGNED_AT }));
  const r = verifySigV4(req, secrets, NOW);
  assert.equal(failure(r), 'incomplete');
  assert.match((r as { detail: string }).detail, /service "sns".*"sqs"/);
});

test('the host header must be signed', async () => {
  const req = received(await signer().sign(jsonRequest(), { signingDate: SIGNED_AT, unsignableHeaders: new Set(['host']) }));
  assert.doesNotMatch(authorization(req), /host/);
  const r = verifySigV4(req, secrets, NOW);
  assert.equal(failure(r), 'incomplete');
  assert.match((r as { detail: string }).detail, /host/);
});

test('X-Amz-Content-Sha256: the declared body hash must be the body\'s; UNSIGNED-PAYLOAD is accepted', async () => {
  const declared = jsonRequest();
  declared.headers['x-amz-content-sha256'] = sha256(JSON_BODY);
  const req = received(await signer().sign(declared, { signingDate: SIGNED_AT }));
  assert.equal(verifySigV4(req, secrets, NOW).ok, true);
  assert.equal(failure(verifySigV4({ ...req, body: Buffer.from(JSON_BODY.replace('h', 'j')) }, secrets, NOW)), 'mismatch');

  const unsigned = jsonRequest();
  unsigned.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  const u = received(await signer().sign(unsigned, { signingDate: SIGNED_AT }));
  assert.equal(verifySigV4(u, secrets, NOW).ok, true);
  // Claiming UNSIGNED-PAYLOAD on a request signed over its body does not unlock it.
  assert.equal(failure(verifySigV4(withHeaders(req, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }), secrets, NOW)), 'mismatch');
});

test('dates beyond the skew, past or future, fail as expired; within it they verify', async () => {
  const req = await signedJson();
  const signedAt = SIGNED_AT.getTime();
  assert.equal(verifySigV4(req, secrets, signedAt + 15 * 60_000).ok, true);
  assert.equal(verifySigV4(req, secrets, signedAt - 15 * 60_000).ok, true);
  assert.equal(failure(verifySigV4(req, secrets, signedAt + 15 * 60_000 + 1)), 'expired');
  assert.equal(failure(verifySigV4(req, secrets, signedAt - 15 * 60_000 - 1)), 'expired');
  assert.equal(failure(verifySigV4(req, secrets, signedAt + 61_000, { maxSkewMs: 60_000 })), 'expired');
  assert.equal(failure(verifySigV4(req, secrets, signedAt + 86_400_000 * 365)), 'expired');
});

test('an unsigned request is missing; other schemes and malformed headers are incomplete', async () => {
  const req = await signedJson();
  assert.equal(failure(verifySigV4(withHeaders(req, { authorization: undefined }), secrets, NOW)), 'missing');
  assert.equal(failure(verifySigV4({ ...withHeaders(req, { authorization: undefined }), query: 'a=%zz' }, secrets, NOW)), 'missing');
  const incomplete = [
    'AWS AKIAOPENCMQTESTKEY01:c2lnbmF0dXJl',
    'AWS4-HMAC-SHA256',
    'AWS4-ECDSA-P256-SHA256 Credential=x',
    authorization(req).replace(/, Signature=[0-9a-f]+/, ''),
    authorization(req).replace(/Signature=([0-9a-f]+)/, 'Signature=$1, Signature=$1'),
    authorization(req).replace(/Signature=[0-9a-f]{2}/, 'Signature='),
    authorization(req).replace(/Signature=([0-9a-f]+)/, (_m, s: string) => `Signature=${s.toUpperCase()}`),
    authorization(req).replace('/aws4_request', '/aws5_request'),
    authorization(req).replace('/20261207/', '/2026127/'),
    authorization(req).replace('/us-east-1/', '/us east 1/'),
    authorization(req).replace('content-length;content-type', 'content-type;content-length'),
    authorization(req).replace('SignedHeaders=', 'SignedHeaders=x-a;'),
    authorization(req).replace('SignedHeaders=content-length', 'SignedHeaders=Content-Length'),
    authorization(req).replace('Credential=', 'Credential=extra/'),
    authorization(req) + ', ' + 'x'.repeat(4096),
  ];
  for (const a of incomplete) assert.equal(failure(verifySigV4(withHeaders(req, { authorization: a }), secrets, NOW)), 'incomplete', a.slice(0, 120));
  // More signed headers than the bound, each present.
  const many = Array.from({ length: MAX_SIGNED_HEADERS + 1 }, (_, i) => `h${String(i).padStart(3, '0')}`);
  const manyHeaders = Object.fromEntries(many.map((n) => [n, 'v']));
  const a = authorization(req).replace(/SignedHeaders=[^,]+/, `SignedHeaders=${['host', ...many].sort().join(';')}`);
  assert.equal(failure(verifySigV4(withHeaders(withHeaders(req, manyHeaders), { authorization: a }), secrets, NOW)), 'incomplete');
  // Both forms at once.
  assert.equal(failure(verifySigV4({ ...req, query: 'X-Amz-Algorithm=AWS4-HMAC-SHA256' }, secrets, NOW)), 'incomplete');
  // A query with broken percent-encoding.
  assert.equal(failure(verifySigV4({ ...req, query: 'a=%E1%88' }, secrets, NOW)), 'incomplete');
});

test('a signed header named like an Object.prototype member is absent, not a crash', async () => {
  const req = await signedJson();
  const a = authorization(req).replace(/SignedHeaders=[^,]+/, 'SignedHeaders=constructor;host;x-amz-date');
  assert.equal(failure(verifySigV4(withHeaders(req, { authorization: a }), secrets, NOW)), 'incomplete');
});

test('garbage Authorization headers and queries never throw', async () => {
  const req = await signedJson();
  const base = authorization(req);
  fc.assert(
    fc.property(fc.string({ maxLength: 300, unit: 'binary' }), fc.string({ maxLength: 100, unit: 'binary' }), fc.nat(base.length), (garbage, query, cut) => {
      for (const a of [garbage, `AWS4-HMAC-SHA256 ${garbage}`, base.slice(0, cut) + garbage, base.slice(0, cut) + garbage + base.slice(cut)]) {
        const r = verifySigV4({ ...withHeaders(req, { authorization: a }), query }, secrets, NOW);
        assert.ok(!r.ok || a === base);
        if (!r.ok) assert.ok(['missing', 'incomplete', 'unknownKey', 'mismatch', 'expired'].includes(r.failure));
      }
      const presigned = verifySigV4({ ...withHeaders(req, { authorization: undefined }), query: `X-Amz-Algorithm=AWS4-HMAC-SHA256&${query}` }, secrets, NOW);
      assert.equal(presigned.ok, false);
    }),
    { numRuns: 500 },
  );
});

test('signing keys are cached per secret, day, region and service, within a bound', () => {
  const a = signingKey('s', '20261207', 'us-east-1', 'sqs');
  assert.equal(signingKey('s', '20261207', 'us-east-1', 'sqs'), a); // the same Buffer: a cache hit
  assert.notDeepEqual(signingKey('s', '20261207', 'us-east-2', 'sqs'), a);
  assert.notDeepEqual(signingKey('t', '20261207', 'us-east-1', 'sqs'), a);
  for (let i = 0; i < SIGNING_KEY_CACHE_LIMIT * 2; i++) signingKey('s', '20261207', `region-${i}`, 'sqs');
  assert.ok(signingKeyCacheSize() <= SIGNING_KEY_CACHE_LIMIT);
  // Evicted keys are derived again, identically.
  assert.deepEqual(signingKey('s', '20261207', 'us-east-1', 'sqs'), a);
});

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
