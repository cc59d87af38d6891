// The plain send path (src/api/sqs/plain-send-reader.ts, plain-send.ts) against the general one:
// generated SendMessage and SendMessageBatch requests, valid and not, of the common shape and
// around it, each run through a server with the standard send actions (which takes the plain
// path when it can) and through one whose send actions are wrapped (so always the general path).
// Answers must be byte for byte the same, and so must every command submitted (the envelopes).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SQS_ACTIONS } from '../../src/api/sqs/actions';
import { hasControlByte, readPlainSend } from '../../src/api/sqs/plain-send-reader';
import { verifySigV4 } from '../../src/api/sqs/sigv4';
import type { SqsAction } from '../../src/api/sqs/types';
import { createSqsContext, handleSqsRequest, type SqsContext } from '../../src/api/sqs/wire';
import type { Command, CommandResult } from '../../src/broker/commands';
import { fail } from '../../src/protocol/errors';
import { decodeEnvelope } from '../../src/service/message-envelope';
import { RecordingQueueService } from '../helpers/recording-service';
import { sqsJsonRequest } from '../helpers/sqs-json-request';

const ACCOUNT = '000000000000';
const URL = `http://127.0.0.1:9324/${ACCOUNT}/q1`;

/** A small seeded generator, so a failing case can be replayed from its seed. */
class Rng {
  /** Scales the odds of every oddity: 0 makes requests of the common shape only (spaces aside). */
  noise = 1;
  constructor(private s: number) {}
  next(): number {
    // mulberry32
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** An oddity's chance, scaled by the request's noise. */
  odd(p: number): boolean {
    return this.next() < p * this.noise;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

const TEXT_PIECES = ['a', 'Z', '0', ' ', '-', '_', 'é', '✓', '😀', '{', '}', '[', ']', ':', ',', '/', '<', '&'];
/** Pieces only the general path takes (escapes, characters SQS refuses, raw controls). */
const ODD_PIECES = ['\\"', '\\\\', '\\n', '\\u00e9', '\\u0000', '\\ud800', '\t', '\n', '\u0001', '\uffff', '\ufffe', '"'];

function text(r: Rng, max: number, odd: boolean): string {
  let s = '';
  const n = r.int(max + 1);
  for (let i = 0; i < n; i++) s += odd && r.chance(0.05) ? r.pick(ODD_PIECES) : r.pick(TEXT_PIECES);
  return s;
}

/** A JSON string literal written raw: `s` may hold escapes on purpose. */
const lit = (s: string): string => `"${s}"`;

function idOf(r: Rng, i: number): string {
  switch (r.odd(1) ? r.int(12) : 12) {
    case 0:
      return lit('');
    case 1:
      return lit('x'.repeat(80 + r.int(2)));
    case 2:
      return lit(r.pick(['a b', 'a.b', 'é', 'a"b'.replace('"', '\\"')]));
    case 3:
      return r.pick(['7', 'null', 'true']);
    default:
      return lit(r.chance(0.1) ? 'dup' : `m${i}${r.chance(0.5) ? '_-Az9' : ''}`);
  }
}

function delayOf(r: Rng): string {
  return r.pick(['0', '5', '900', '901', '-1', '05', '5.0', '5e1', '1e400', '"5"', 'null', '899', '1000', '0.5', '-0']);
}

function bodyOf(r: Rng): string {
  switch (r.odd(1) ? r.int(20) : 20) {
    case 0:
      return lit('');
    case 1:
      return 'null';
    case 2:
      return '123';
    case 3:
      // Around the largest message a queue may take (256 KiB), now and then.
      return r.chance(0.2) ? lit('b'.repeat(262_144 - 2 + r.int(4))) : lit('b'.repeat(r.int(3000)));
    case 4:
      return lit(text(r, 30, true));
    default:
      return lit(text(r, 40, false));
  }
}

/** A space or more, rarely other whitespace (which JSON allows and the plain path leaves alone). */
function ws(r: Rng): string {
  if (!r.chance(0.1)) return '';
  return r.odd(0.3) ? r.pick(['\n', '\t', '\r\n']) : r.pick([' ', '  ']);
}

function member(r: Rng, key: string, value: string): string {
  return `${ws(r)}"${key}"${ws(r)}:${ws(r)}${value}${ws(r)}`;
}

/** Extra members the common shape does not have. */
function extraMember(r: Rng): string {
  return r.pick([
    '"MessageAttributes":{"a":{"DataType":"String","StringValue":"v"}}',
    '"MessageAttributes":{}',
    '"MessageSystemAttributes":{"AWSTraceHeader":{"DataType":"String","StringValue":"Root=1"}}',
    '"MessageGroupId":"g1"',
    '"MessageDeduplicationId":"d1"',
    '"Unknown":1',
    '"__proto__":{}',
    '"MessageBody":"again"',
    '"DelaySeconds":null',
  ]);
}

function entry(r: Rng, i: number): string {
  const members: string[] = [];
  if (!r.odd(0.03)) members.push(member(r, 'Id', idOf(r, i)));
  if (!r.odd(0.03)) members.push(member(r, 'MessageBody', bodyOf(r)));
  if (r.chance(0.3)) members.push(member(r, 'DelaySeconds', r.odd(0.3) ? delayOf(r) : r.pick(['0', '5', '900'])));
  if (r.odd(0.05)) members.push(extraMember(r));
  if (r.chance(0.7)) members.reverse();
  return `${ws(r)}{${members.join(',')}}${ws(r)}`;
}

function queueUrl(r: Rng): string {
  if (!r.odd(0.1)) return lit(URL);
  return r.pick([lit(''), lit('http://127.0.0.1:9324/111111111111/q1'), lit('not a url'), lit('https://sqs.example.com/000000000000/q1.fifo'), lit('/000000000000/q1'), 'null', '5']);
}

function sendMessageBatch(r: Rng): string {
  const n = r.odd(0.05) ? r.pick([0, 11]) : 1 + r.int(10);
  const entries = Array.from({ length: n }, (_, i) => entry(r, i));
  const members: string[] = [];
  if (!r.odd(0.03)) members.push(member(r, 'QueueUrl', queueUrl(r)));
  members.push(member(r, 'Entries', r.odd(0.02) ? r.pick(['null', '{}', '"x"']) : `[${entries.join(',')}]`));
  if (r.odd(0.03)) members.push(member(r, 'QueueUrl', lit(URL)));
  if (r.chance(0.5)) members.reverse();
  return `${ws(r)}{${members.join(',')}}${ws(r)}`;
}

function sendMessage(r: Rng): string {
  const members: string[] = [];
  if (!r.odd(0.03)) members.push(member(r, 'QueueUrl', queueUrl(r)));
  if (!r.odd(0.03)) members.push(member(r, 'MessageBody', bodyOf(r)));
  if (r.chance(0.3)) members.push(member(r, 'DelaySeconds', r.odd(1) ? delayOf(r) : r.pick(['0', '5', '900'])));
  if (r.odd(0.05)) members.push(extraMember(r));
  if (r.chance(0.5)) members.reverse();
  return `${ws(r)}{${members.join(',')}}${ws(r)}`;
}

/** Damage to the bytes: cut short, trailing text, a byte that is not UTF-8. */
function damaged(r: Rng, body: Buffer): Buffer {
  switch (r.odd(1) ? r.int(40) : 40) {
    case 0:
      return body.subarray(0, r.int(body.length));
    case 1:
      return Buffer.concat([body, Buffer.from(r.pick(['x', '}', ',', ' ']))]);
    case 2: {
      const b = Buffer.from(body);
      b[r.int(b.length)] = 0xff;
      return b;
    }
    case 3:
      return Buffer.alloc(0);
    default:
      return body;
  }
}

/** What the service answers a send: success, or now and then a failure for the request or the batch. */
function scriptedSubmit(r: Rng): ((command: Command) => CommandResult) | undefined {
  switch (r.int(12)) {
    case 0:
      return () => fail('queueNotExist');
    case 1:
      return () => fail('notApplied');
    case 2:
      // Message ids that need escaping in JSON (the broker's never do): the general renderer.
      return (c) => (c.kind === 'sendMessages' ? { ok: true, kind: 'sendMessages', msgIds: c.bodies.map((_, i) => `id"${i}é`) } : fail('internalError'));
    case 3:
      return (c) => (c.kind === 'sendMessages' ? { ok: true, kind: 'sendMessages', msgIds: c.bodies.slice(1).map((_, i) => String(i)) } : fail('internalError'));
    default:
      return undefined;
  }
}

interface Side {
  service: RecordingQueueService;
  ctx: SqsContext;
}

function side(submit: ((command: Command) => CommandResult) | undefined, actions: Readonly<Record<string, SqsAction>>): Side {
  const service = new RecordingQueueService(submit === undefined ? {} : { submit });
  const ctx = createSqsContext({ service, auth: { mode: 'open' }, actions, verifySigV4, log: () => undefined, requestIdPrefix: 'r-' });
  return { service, ctx };
}

/** The standard actions with the sends wrapped: the same code, reached through the general path only. */
const GENERAL_ONLY: Readonly<Record<string, SqsAction>> = {
  ...SQS_ACTIONS,
  SendMessage: (env, input) => SQS_ACTIONS['SendMessage']!(env, input),
  SendMessageBatch: (env, input) => SQS_ACTIONS['SendMessageBatch']!(env, input),
};

async function both(action: string, body: Buffer, submit: ((command: Command) => CommandResult) | undefined, headers: Record<string, string> = {}) {
  const out = [];
  for (const actions of [SQS_ACTIONS, GENERAL_ONLY]) {
    const s = side(submit, actions);
    const a = await handleSqsRequest(s.ctx, sqsJsonRequest(action, body, headers));
    out.push({ status: a.status, headers: a.headers, body: Buffer.from(a.body).toString('utf8'), submitted: s.service.submitted });
  }
  return out;
}

test('generated sends: the plain path answers and stores exactly what the general path does', async () => {
  const seed = Number(process.env['SQS_PLAIN_SEED'] ?? 20261208);
  const r = new Rng(seed);
  let plain = 0;
  let sentPlain = 0;
  const runs = 3000;
  for (let i = 0; i < runs; i++) {
    r.noise = r.pick([0, 0.3, 1, 3]);
    const action = r.chance(0.6) ? 'SendMessageBatch' : 'SendMessage';
    const json = action === 'SendMessageBatch' ? sendMessageBatch(r) : sendMessage(r);
    const body = damaged(r, Buffer.from(json, 'utf8'));
    const submit = scriptedSubmit(r);
    const isPlain = readPlainSend(action, body, { accountId: ACCOUNT }) !== undefined;
    if (isPlain) plain++;
    const [fast, general] = await both(action, body, submit);
    const what = `seed ${seed}, request ${i}: ${action} ${body.toString('utf8').slice(0, 300)}`;
    assert.deepEqual(fast, general, what);
    if (isPlain) {
      // Taken only when the general path accepts the request whole.
      assert.equal(general!.submitted.length, 1, what);
      if (fast!.status === 200) sentPlain++;
    }
  }
  // The generator reaches both paths often (else this test proves little).
  assert.ok(plain > runs / 4, `${plain} of ${runs} requests took the plain path`);
  assert.ok(plain < (runs * 3) / 4, `${plain} of ${runs} requests took the plain path`);
  assert.ok(sentPlain > runs / 5, `${sentPlain} plain sends succeeded`);
});

test('the common shapes take the plain path, and their envelopes hold the body and its digest', async () => {
  const entries = Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: `body ${i} ✓`, ...(i === 3 ? { DelaySeconds: 7 } : {}) }));
  const batch = Buffer.from(JSON.stringify({ QueueUrl: URL, Entries: entries }));
  const plain = readPlainSend('SendMessageBatch', batch, { accountId: ACCOUNT });
  assert.ok(plain !== undefined);
  assert.equal(plain.queueName, 'q1');
  assert.deepEqual(
    plain.messages.map((m) => [m.id, batch.toString('utf8', m.start, m.end), m.delaySeconds]),
    entries.map((e) => [e.Id, e.MessageBody, e.DelaySeconds]),
  );
  const single = Buffer.from(JSON.stringify({ QueueUrl: URL, MessageBody: 'hello', DelaySeconds: 0 }));
  assert.ok(readPlainSend('SendMessage', single, { accountId: ACCOUNT }) !== undefined);
  // Only the two send actions.
  assert.equal(readPlainSend('DeleteMessage', single, { accountId: ACCOUNT }), undefined);

  const [fast] = await both('SendMessageBatch', batch, undefined);
  assert.equal(fast!.status, 200);
  const answer = JSON.parse(fast!.body) as { Successful: { Id: string; MD5OfMessageBody: string }[]; Failed: unknown[] };
  const command = fast!.submitted[0]!;
  assert.ok(command.kind === 'sendMessages');
  command.bodies.forEach((b, i) => {
    const e = decodeEnvelope(b)!;
    assert.equal(Buffer.from(e.body).toString('utf8'), entries[i]!.MessageBody);
    assert.equal(Buffer.from(e.bodyMd5!).toString('hex'), answer.Successful[i]!.MD5OfMessageBody);
    assert.equal(e.system.get('SenderId')?.stringValue, ACCOUNT);
  });
  assert.deepEqual(command.options?.[3], { enveloped: true, countedBytes: Buffer.byteLength(entries[3]!.MessageBody), delaySeconds: 7 });
});

test('a plain send is authenticated as any other request', async () => {
  const single = Buffer.from(JSON.stringify({ QueueUrl: URL, MessageBody: 'hello' }));
  for (const actions of [SQS_ACTIONS, GENERAL_ONLY]) {
    const service = new RecordingQueueService();
    const ctx = createSqsContext({
      service,
      auth: { mode: 'signature', credentials: [{ secretId: 'AKID', secretKey: 'secret' }], requireAkidPrefix: false },
      actions,
      verifySigV4,
      log: () => undefined,
    });
    const a = await handleSqsRequest(ctx, sqsJsonRequest('SendMessage', single));
    assert.equal(a.status, 403);
    assert.equal(service.submitted.length, 0);
  }
});

test('the control-byte scan finds a byte below 0x20 wherever it is, at any alignment', () => {
  const r = new Rng(7);
  const backing = Buffer.alloc(200, 0x61);
  for (let i = 0; i < 2000; i++) {
    backing.fill(0x61 + r.int(0x80));
    const start = r.int(40);
    const b = backing.subarray(start, start + r.int(150));
    if (b.length > 0 && r.chance(0.6)) b[r.int(b.length)] = r.int(0x20);
    assert.equal(hasControlByte(b), b.some((c) => c < 0x20), `offset ${start}, length ${b.length}`);
  }
});
