import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { signString, stringToSign } from '../../src/client/signature';
import { CmqError, errorNameFor, isCmqError, parseModuleCode } from '../../src/client/errors';
import { CLIENT_VERSION, REQUEST_CLIENT } from '../../src/client/version';

const KEY = 'pPgfLipfEXZ7VcRzhAMIyPaU7UbQyFFx';
const SECRET_ID = 'AKIDPcYDclDJCn8D0Xypa4f3pKYUCVYLn3zT';

const vector1Params: Record<string, string> = {
  Action: 'SendMessage',
  Nonce: '2889712707386595659',
  RequestClient: 'SDK_Python_1.3',
  SecretId: SECRET_ID,
  SignatureMethod: 'HmacSHA1',
  Timestamp: '1534154812',
  clientRequestId: '1231231231',
  delaySeconds: '0',
  msgBody: 'msg',
  queueName: 'test1',
};

void test('spec §1.4 vector 1: string-to-sign and HmacSHA1', () => {
  // Insertion order must not matter, and Signature is never signed.
  const shuffled = Object.fromEntries(Object.entries(vector1Params).reverse());
  shuffled.Signature = 'ignored';
  const s = stringToSign('post', 'cmq-queue-gz.api.tencentyun.com', '/v2/index.php', shuffled);
  assert.equal(
    s,
    'POSTcmq-queue-gz.api.tencentyun.com/v2/index.php?Action=SendMessage&Nonce=2889712707386595659&RequestClient=SDK_Python_1.3' +
      '&SecretId=AKIDPcYDclDJCn8D0Xypa4f3pKYUCVYLn3zT&SignatureMethod=HmacSHA1&Timestamp=1534154812&clientRequestId=1231231231' +
      '&delaySeconds=0&msgBody=msg&queueName=test1',
  );
  assert.equal(signString(s, KEY, 'HmacSHA1'), 'C16WEtEXsD5v5tnaUMLAbZewXhI=');
});

void test('spec §1.4 vector 2: HmacSHA256', () => {
  const s = stringToSign('POST', 'cmq-queue-gz.api.tencentyun.com', '/v2/index.php', { ...vector1Params, SignatureMethod: 'HmacSHA256' });
  assert.equal(signString(s, KEY, 'HmacSHA256'), '7aNNVzszJftqWPLvvnHU3lDznBYFPof7ACkTD3OJUu4=');
});

void test('spec §1.4 vector 3: host with port, path /, raw values with spaces and &', () => {
  const s = stringToSign('POST', '127.0.0.1:8080', '/', {
    'msgBody.2': 'a&b=c',
    'msgBody.1': 'hello world',
    Action: 'BatchSendMessage',
    Nonce: '12345',
    RequestClient: 'SDK_JAVA_1.3',
    SecretId: SECRET_ID,
    SignatureMethod: 'HmacSHA1',
    Timestamp: '1700000000',
    delaySeconds: '0',
    queueName: 'test1',
  });
  assert.ok(s.includes('&msgBody.1=hello world&msgBody.2=a&b=c&'));
  assert.equal(signString(s, KEY, 'HmacSHA1'), '3Gj+GSb0Uxu507HPwD9e2GiSjyU=');
});

void test('keys sort lexicographically: msgBody.10 before msgBody.2, upper case first; _ becomes . after sorting', () => {
  const s = stringToSign('GET', 'h', '/', { 'msgBody.2': 'b', 'msgBody.10': 'j', a_b: 'x', Z: 'z' });
  assert.equal(s, 'GETh/?Z=z&a.b=x&msgBody.10=j&msgBody.2=b');
});

void test('RequestClient carries the package version', () => {
  const pkgPath = path.join(__dirname, '..', '..', '..', 'package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string };
  assert.equal(CLIENT_VERSION, pkg.version);
  assert.equal(REQUEST_CLIENT, `opencmq-ts/${pkg.version}`);
});

void test('errorNameFor maps (code, module) back to registry names only when unambiguous', () => {
  assert.equal(errorNameFor(4440, 10100), 'queueNotExist');
  assert.equal(errorNameFor(4440, 10600), 'topicNotExist');
  assert.equal(errorNameFor(4440, undefined), undefined, '4440 alone could be a queue or a topic');
  assert.equal(errorNameFor(7000, 10200), 'noMessage');
  assert.equal(errorNameFor(4460, 10060), 'queueExists');
  assert.equal(errorNameFor(4460, 10660), 'topicExists');
  assert.equal(errorNameFor(4460, 12345), undefined, '4460 could be a queue or a topic');
  assert.equal(errorNameFor(4000, 10470), 'receiptHandleError');
  assert.equal(errorNameFor(4490, 10470), 'subscriptionExists');
  assert.equal(errorNameFor(4000, 99999), undefined);
  assert.equal(errorNameFor(9999, undefined), undefined);
});

void test('CmqError parses the module code and keeps the server message', () => {
  const e = new CmqError(4440, '(10100)queue is not existed, or deleted', 'req-1');
  assert.equal(e.code, 4440);
  assert.equal(e.moduleCode, 10100);
  assert.equal(e.cmqMessage, '(10100)queue is not existed, or deleted');
  assert.equal(e.requestId, 'req-1');
  assert.equal(e.errorName, 'queueNotExist');
  assert.equal(e.name, 'CmqError');
  assert.ok(e instanceof Error);
  assert.ok(isCmqError(e, 'queueNotExist'));
  assert.ok(!isCmqError(e, 'queueExists'));
  assert.equal(parseModuleCode('no module'), undefined);
  const f = CmqError.fromName('paramOutOfRange', 'delaySeconds');
  assert.equal(f.code, 4000);
  assert.equal(f.cmqMessage, '(10350)parameter delaySeconds value or length is out of range');
  assert.equal(f.errorName, 'paramOutOfRange');
});
