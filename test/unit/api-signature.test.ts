import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator, type AuthConfig, type SignedRequest } from '../../src/api/auth';
import { parseForm } from '../../src/api/form';
import {
  canonicalQuery,
  computeSignature,
  constantTimeEqual,
  signatureMethodOf,
  stringToSign,
  type SignatureMethod,
} from '../../src/api/signature';
import { CMQ_ERRORS as ERRORS } from '../../src/protocol/cmq-codes';

// Spec §1.4 test vectors.
const SECRET_ID = 'AKIDPcYDclDJCn8D0Xypa4f3pKYUCVYLn3zT';
const SECRET_KEY = 'pPgfLipfEXZ7VcRzhAMIyPaU7UbQyFFx';

function vector1Params(method: SignatureMethod): Map<string, string> {
  // Deliberately not in sorted order: the server must sort.
  return new Map([
    ['queueName', 'test1'],
    ['msgBody', 'msg'],
    ['Action', 'SendMessage'],
    ['delaySeconds', '0'],
    ['clientRequestId', '1231231231'],
    ['Timestamp', '1534154812'],
    ['SignatureMethod', method],
    ['SecretId', SECRET_ID],
    ['RequestClient', 'SDK_Python_1.3'],
    ['Nonce', '2889712707386595659'],
  ]);
}
const V1_HOST = 'cmq-queue-gz.api.tencentyun.com';
const V1_PATH = '/v2/index.php';
const V1_TEXT =
  'POSTcmq-queue-gz.api.tencentyun.com/v2/index.php?Action=SendMessage&Nonce=2889712707386595659&RequestClient=SDK_Python_1.3' +
  '&SecretId=AKIDPcYDclDJCn8D0Xypa4f3pKYUCVYLn3zT&SignatureMethod=HmacSHA1&Timestamp=1534154812&clientRequestId=1231231231' +
  '&delaySeconds=0&msgBody=msg&queueName=test1';

function vector3Params(): Map<string, string> {
  return new Map([
    ['msgBody.2', 'a&b=c'],
    ['msgBody.1', 'hello world'],
    ['queueName', 'test1'],
    ['delaySeconds', '0'],
    ['Action', 'BatchSendMessage'],
    ['Nonce', '12345'],
    ['RequestClient', 'SDK_JAVA_1.3'],
    ['SecretId', SECRET_ID],
    ['SignatureMethod', 'HmacSHA1'],
    ['Timestamp', '1700000000'],
  ]);
}
const V3_TEXT =
  'POST127.0.0.1:8080/?Action=BatchSendMessage&Nonce=12345&RequestClient=SDK_JAVA_1.3&SecretId=AKIDPcYDclDJCn8D0Xypa4f3pKYUCVYLn3zT' +
  '&SignatureMethod=HmacSHA1&Timestamp=1700000000&delaySeconds=0&msgBody.1=hello world&msgBody.2=a&b=c&queueName=test1';

const signatureAuth: AuthConfig = {
  mode: 'signature',
  credentials: [{ secretId: SECRET_ID, secretKey: SECRET_KEY }],
  requireAkidPrefix: true,
};

void test('signature vector 1: string-to-sign and HmacSHA1 (official docs)', () => {
  const p = vector1Params('HmacSHA1');
  const text = stringToSign('post', V1_HOST, V1_PATH, canonicalQuery(p));
  assert.equal(text, V1_TEXT);
  assert.equal(computeSignature(text, SECRET_KEY, 'HmacSHA1'), 'C16WEtEXsD5v5tnaUMLAbZewXhI=');
  p.set('Signature', 'C16WEtEXsD5v5tnaUMLAbZewXhI=');
  assert.equal(createAuthenticator(signatureAuth).verify({ method: 'POST', host: V1_HOST, path: V1_PATH, params: p }), undefined);
});

void test('signature vector 2: HmacSHA256', () => {
  const p = vector1Params('HmacSHA256');
  const text = stringToSign('POST', V1_HOST, V1_PATH, canonicalQuery(p));
  assert.equal(text, V1_TEXT.replace('SignatureMethod=HmacSHA1', 'SignatureMethod=HmacSHA256'));
  assert.equal(computeSignature(text, SECRET_KEY, 'HmacSHA256'), '7aNNVzszJftqWPLvvnHU3lDznBYFPof7ACkTD3OJUu4=');
  p.set('Signature', '7aNNVzszJftqWPLvvnHU3lDznBYFPof7ACkTD3OJUu4=');
  assert.equal(createAuthenticator(signatureAuth).verify({ method: 'POST', host: V1_HOST, path: V1_PATH, params: p }), undefined);
});

void test('signature vector 3: host with port, path "/", raw values with spaces and "&"', () => {
  const p = vector3Params();
  const text = stringToSign('POST', '127.0.0.1:8080', '/', canonicalQuery(p));
  assert.equal(text, V3_TEXT);
  assert.equal(computeSignature(text, SECRET_KEY, 'HmacSHA1'), '3Gj+GSb0Uxu507HPwD9e2GiSjyU=');
  p.set('Signature', '3Gj+GSb0Uxu507HPwD9e2GiSjyU=');
  assert.equal(createAuthenticator(signatureAuth).verify({ method: 'POST', host: '127.0.0.1:8080', path: '/', params: p }), undefined);
});

void test('signature vector 3 from the wire: form-encoded body with %2B, %3D and "+" for spaces', () => {
  const body = new URLSearchParams([...vector3Params(), ['Signature', '3Gj+GSb0Uxu507HPwD9e2GiSjyU=']]).toString();
  assert.ok(body.includes('Signature=3Gj%2BGSb0Uxu507HPwD9e2GiSjyU%3D'));
  assert.ok(body.includes('msgBody.1=hello+world'));
  const parsed = parseForm(body);
  assert.ok(parsed.ok);
  assert.equal(createAuthenticator(signatureAuth).verify({ method: 'POST', host: '127.0.0.1:8080', path: '/', params: parsed.params }), undefined);
});

void test('signature: key order is code-unit order on original names; "_" → "." after sorting; Signature excluded', () => {
  const p = new Map([
    ['msgBody.2', 'b'],
    ['msgBody.10', 'j'],
    ['msgBody.1', 'a'],
    ['a_b', '1'],
    ['Zeta', 'z'],
    ['Signature', 'ignored'],
    ['routingKey', ''],
  ]);
  assert.equal(canonicalQuery(p), 'Zeta=z&a.b=1&msgBody.1=a&msgBody.10=j&msgBody.2=b&routingKey=');
  assert.equal(canonicalQuery(new Map([['k', '@x'], ['j', 'y']]), true), 'j=y');
});

void test('signature: method selection and constant-time compare', () => {
  assert.equal(signatureMethodOf(undefined), 'HmacSHA1');
  assert.equal(signatureMethodOf('HmacSHA256'), 'HmacSHA256');
  assert.equal(signatureMethodOf('HmacMD5'), 'HmacSHA1');
  assert.ok(constantTimeEqual('abc=', 'abc='));
  assert.ok(!constantTimeEqual('abc=', 'abd='));
  assert.ok(!constantTimeEqual('abc=', 'abc'));
});

// --- Quirks (spec §1.4): sign as a quirky client would, verify as the server sees the request.

const BASE: [string, string][] = [
  ['Action', 'SendMessage'],
  ['Nonce', '99'],
  ['SecretId', SECRET_ID],
  ['Timestamp', '1700000000'],
  ['queueName', 'q1'],
];

interface ClientSigning {
  method: string;
  /** What the client put before the path in its string-to-sign. */
  signedHostPath: string;
  extra?: [string, string][];
  omitAt?: boolean;
}

function signedRequest(c: ClientSigning, server: { host: string; path: string }): SignedRequest {
  const params = new Map<string, string>([...BASE, ...(c.extra ?? [])]);
  const text = c.method.toUpperCase() + c.signedHostPath + '?' + canonicalQuery(params, c.omitAt ?? false);
  params.set('Signature', computeSignature(text, SECRET_KEY, 'HmacSHA1'));
  return { method: c.method, host: server.host, path: server.path, params };
}

const verify = (r: SignedRequest): unknown => createAuthenticator(signatureAuth).verify(r);
const AUTH_FAILED = { ok: false, error: 'authFailed' };

void test('quirk 1: POST signed without "@"-valued parameters is accepted; GET is not', () => {
  const extra: [string, string][] = [['msgBody', '@hello']];
  const post = signedRequest({ method: 'POST', signedHostPath: 'h:1/v2/index.php', extra, omitAt: true }, { host: 'h:1', path: '/v2/index.php' });
  assert.equal(verify(post), undefined);
  const get = signedRequest({ method: 'GET', signedHostPath: 'h:1/v2/index.php', extra, omitAt: true }, { host: 'h:1', path: '/v2/index.php' });
  assert.deepEqual(verify(get), AUTH_FAILED);
  // The full string still works for '@' bodies (Java, Go).
  const full = signedRequest({ method: 'POST', signedHostPath: 'h:1/v2/index.php', extra }, { host: 'h:1', path: '/v2/index.php' });
  assert.equal(verify(full), undefined);
});

void test('quirk 2: "http://" left before the host (DivXPro Node SDK)', () => {
  const r = signedRequest({ method: 'POST', signedHostPath: 'http://127.0.0.1:9600/v2/index.php' }, { host: '127.0.0.1:9600', path: '/v2/index.php' });
  assert.equal(verify(r), undefined);
  const https = signedRequest({ method: 'POST', signedHostPath: 'https://127.0.0.1:9600/v2/index.php' }, { host: '127.0.0.1:9600', path: '/v2/index.php' });
  assert.deepEqual(verify(https), AUTH_FAILED);
});

void test('quirk 3: trailing slash on the endpoint or the path', () => {
  // Java endpoint "http://h:p/" signs "h:p/" + path while the request line has one slash.
  assert.equal(verify(signedRequest({ method: 'POST', signedHostPath: 'h:9/' + '/' }, { host: 'h:9', path: '/' })), undefined);
  assert.equal(verify(signedRequest({ method: 'POST', signedHostPath: 'h:9/' + '/v2/index.php' }, { host: 'h:9', path: '/v2/index.php' })), undefined);
  // The request line has the doubled slash, the signature one.
  assert.equal(verify(signedRequest({ method: 'POST', signedHostPath: 'h:9/v2/index.php' }, { host: 'h:9', path: '//v2/index.php' })), undefined);
  // Trailing slash on the path either way.
  assert.equal(verify(signedRequest({ method: 'POST', signedHostPath: 'h:9/v2/index.php/' }, { host: 'h:9', path: '/v2/index.php' })), undefined);
  assert.equal(verify(signedRequest({ method: 'POST', signedHostPath: 'h:9/v2/index.php' }, { host: 'h:9', path: '/v2/index.php/' })), undefined);
});

void test('quirk 4: host with and without ":port"', () => {
  // Python signs "example.com:80" but http.client sends "Host: example.com".
  assert.equal(verify(signedRequest({ method: 'POST', signedHostPath: 'example.com:80/v2/index.php' }, { host: 'example.com', path: '/v2/index.php' })), undefined);
  assert.equal(verify(signedRequest({ method: 'POST', signedHostPath: 'example.com:443/v2/index.php' }, { host: 'example.com', path: '/v2/index.php' })), undefined);
  // The client signed without the port the Host header carries.
  assert.equal(verify(signedRequest({ method: 'GET', signedHostPath: 'example.com/' }, { host: 'example.com:8080', path: '/' })), undefined);
  assert.equal(verify(signedRequest({ method: 'GET', signedHostPath: '[::1]/' }, { host: '[::1]:8080', path: '/' })), undefined);
  // A different port is not a variant.
  assert.deepEqual(verify(signedRequest({ method: 'GET', signedHostPath: 'example.com:81/' }, { host: 'example.com:8080', path: '/' })), AUTH_FAILED);
});

void test('quirks combine with the "@" omission (Python with an explicit default port)', () => {
  const r = signedRequest(
    { method: 'POST', signedHostPath: 'example.com:80/v2/index.php', extra: [['msgBody', '@x']], omitAt: true },
    { host: 'example.com', path: '/v2/index.php' },
  );
  assert.equal(verify(r), undefined);
});

void test('no quirk rescues a wrong host, path, method, key or value', () => {
  const server = { host: 'h:1', path: '/v2/index.php' };
  assert.deepEqual(verify(signedRequest({ method: 'POST', signedHostPath: 'other:1/v2/index.php' }, server)), AUTH_FAILED);
  assert.deepEqual(verify(signedRequest({ method: 'POST', signedHostPath: 'h:1/' }, server)), AUTH_FAILED);
  const asGet = signedRequest({ method: 'GET', signedHostPath: 'h:1/v2/index.php' }, server);
  assert.deepEqual(verify({ ...asGet, method: 'POST' }), AUTH_FAILED);
  const r = signedRequest({ method: 'POST', signedHostPath: 'h:1/v2/index.php' }, server);
  r.params.set('queueName', 'q2');
  assert.deepEqual(verify(r), AUTH_FAILED);
  const other = createAuthenticator({ mode: 'signature', credentials: [{ secretId: SECRET_ID, secretKey: 'wrong' }], requireAkidPrefix: false });
  assert.deepEqual(other.verify(signedRequest({ method: 'POST', signedHostPath: 'h:1/v2/index.php' }, server)), AUTH_FAILED);
});

// --- Authenticator errors.

function withParams(edit: (p: Map<string, string>) => void, config: AuthConfig = signatureAuth): unknown {
  const p = vector1Params('HmacSHA1');
  p.set('Signature', 'C16WEtEXsD5v5tnaUMLAbZewXhI=');
  edit(p);
  return createAuthenticator(config).verify({ method: 'POST', host: V1_HOST, path: V1_PATH, params: p });
}

void test('auth: missing SecretId / Signature / Nonce / Timestamp → 4000/10390 naming it', () => {
  for (const name of ['SecretId', 'Signature', 'Nonce', 'Timestamp']) {
    assert.deepEqual(withParams((p) => p.delete(name)), { ok: false, error: 'missingParam', arg: name });
    assert.deepEqual(withParams((p) => p.set(name, '')), { ok: false, error: 'missingParam', arg: name });
  }
  assert.equal(ERRORS.missingParam.code, 4000);
  assert.equal(ERRORS.missingParam.module, 10390);
});

void test('auth: unknown SecretId → 4100/10270; bad signature → 4100/10030', () => {
  const unknownId = withParams((p) => p.set('SecretId', 'AKIDnobody'));
  assert.deepEqual(unknownId, { ok: false, error: 'secretIdNotExist' });
  assert.equal(ERRORS.secretIdNotExist.code, 4100);
  assert.deepEqual(withParams((p) => p.set('Signature', 'C16WEtEXsD5v5tnaUMLAbZewXhJ=')), AUTH_FAILED);
  assert.deepEqual(withParams((p) => p.set('Signature', 'short')), AUTH_FAILED);
  assert.equal(ERRORS.authFailed.code, 4100);
});

void test('auth: SecretId without AKID → 4000/10450 only when required', () => {
  const creds = [{ secretId: 'local-id', secretKey: SECRET_KEY }];
  assert.deepEqual(
    withParams((p) => p.set('SecretId', 'local-id'), { mode: 'signature', credentials: creds, requireAkidPrefix: true }),
    { ok: false, error: 'secretIdNotAkid' },
  );
  // Not required: the id is known, and the signature (made with AKID...) no longer matches.
  assert.deepEqual(withParams((p) => p.set('SecretId', 'local-id'), { mode: 'signature', credentials: creds, requireAkidPrefix: false }), AUTH_FAILED);
});

void test('auth: Timestamp must be an integer (4000/10360)', () => {
  for (const t of ['abc', '1.5', '1e9', ' 1']) {
    assert.deepEqual(withParams((p) => p.set('Timestamp', t)), { ok: false, error: 'paramErrorType', arg: 'Timestamp' }, t);
  }
});

void test('auth: the skew check runs only when configured', () => {
  // Vector 1 is from 2018: accepted without a window.
  assert.equal(withParams(() => undefined), undefined);
  const at = (nowSec: number): AuthConfig => ({ ...signatureAuth, timestampSkewSeconds: 300, nowMs: () => nowSec * 1000 });
  assert.equal(withParams(() => undefined, at(1534154812 + 300)), undefined);
  assert.equal(withParams(() => undefined, at(1534154812 - 300)), undefined);
  const late = withParams(() => undefined, at(1534154812 + 301)) as { error: string; detail?: string };
  assert.equal(late.error, 'authFailed');
  assert.match(late.detail ?? '', /Timestamp/);
  assert.equal((withParams(() => undefined, at(1534154812 - 301)) as { error: string }).error, 'authFailed');
});

void test("auth: 'open' mode checks nothing (appId form, no signature, garbage signature)", () => {
  const open = createAuthenticator({ mode: 'open' });
  assert.equal(open.verify({ method: 'POST', host: '', path: '/', params: new Map([['appId', '1234'], ['Action', 'SendMessage']]) }), undefined);
  assert.equal(open.verify({ method: 'GET', host: 'x', path: '/', params: new Map([['Signature', 'bad']]) }), undefined);
});

void test("auth: the Go SDK's appId form is refused in 'signature' mode", () => {
  const p = new Map([['Action', 'SendMessage'], ['appId', '1234'], ['queueName', 'q']]);
  assert.deepEqual(createAuthenticator(signatureAuth).verify({ method: 'POST', host: 'h', path: '/', params: p }), {
    ok: false,
    error: 'missingParam',
    arg: 'SecretId',
  });
});
