// The command codec: round trips for every command kind, body references that point at the right
// bytes without the decoder reading them, and rejection of malformed meta.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BrokerFormatError } from '../../src/broker/binary';
import { crc32c } from '../../src/broker/checksum';
import { CODEC_VERSION, decodeCommand, encodeCommand, type DecodedCommand } from '../../src/broker/codec';
import type { Command, QueueAttributesInput } from '../../src/broker/commands';

const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/);
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const int = fc.integer({ min: 0, max: 2 ** 40 });
const policy = fc.record(
  {
    deadLetterQueue: name,
    policy: fc.constantFrom(0 as const, 1 as const),
    maxReceiveCount: fc.integer({ min: 1, max: 1000 }),
    maxTimeToLive: fc.integer({ min: 300, max: 43_200 }),
    remote: fc.constant(true as const),
  },
  { requiredKeys: ['deadLetterQueue', 'policy'], noNullPrototype: true },
);
const attrs: fc.Arbitrary<QueueAttributesInput> = fc.record(
  {
    maxMsgHeapNum: int,
    pollingWaitSeconds: int,
    visibilityTimeout: int,
    maxMsgSize: int,
    msgRetentionSeconds: int,
    rewindSeconds: int,
    deadLetterPolicy: fc.option(policy, { nil: null }),
  },
  { requiredKeys: [], noNullPrototype: true },
);
const bodies = fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { minLength: 1, maxLength: 16 });

const NP = { noNullPrototype: true } as const;
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('createQueue' as const), queueName: name, attrs }, NP),
  fc.record({ kind: fc.constant('setQueueAttributes' as const), queueName: name, attrs }, NP),
  fc.record({ kind: fc.constant('deleteQueue' as const), queueName: name }, NP),
  fc.record({ kind: fc.constant('sendMessages' as const), queueName: name, delaySeconds: fc.integer({ min: 0, max: 6_048_000 }), bodies }, NP),
  fc.record(
    {
      kind: fc.constant('receiveMessages' as const),
      queueName: name,
      numOfMsg: fc.integer({ min: 1, max: 16 }),
      seed: u32,
      visibilitySeconds: fc.integer({ min: 0, max: 43_200 }),
      attemptId: fc.string({ minLength: 1, maxLength: 128 }),
    },
    { requiredKeys: ['kind', 'queueName', 'numOfMsg', 'seed'], noNullPrototype: true },
  ),
  fc.record({
    kind: fc.constant('deleteMessages' as const),
    queueName: name,
    receiptHandles: fc.array(fc.string({ maxLength: 256, unit: 'grapheme' }), { minLength: 1, maxLength: 16 }),
  }, NP),
  fc.record({ kind: fc.constant('rewindQueue' as const), queueName: name, startConsumeTimeSec: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }) }, NP),
  fc.record({ kind: fc.constant('unbindDeadLetter' as const), queueName: name }, NP),
  fc.record({ kind: fc.constant('quarantineMessage' as const), queueName: name, queueNumber: int, seq: int }, NP),
  fc.record({ kind: fc.constant('deadLetterSent' as const), queueName: name, msgId: fc.nat().map(String) }, NP),
  fc.record({ kind: fc.constant('deadLetterFailed' as const), queueName: name, msgId: fc.nat().map(String), gone: fc.boolean() }, NP),
  fc.constant({ kind: 'tick' as const }),
  fc.record({
    kind: fc.constant('relocateBodies' as const),
    bodies: fc.array(
      fc.uint8Array({ maxLength: 64 }).chain((body) =>
        fc.record({
          from: fc.record({ entryIndex: fc.integer({ min: 1, max: 2 ** 40 }), offset: u32, length: fc.constant(body.length), crc32c: u32 }, NP),
          body: fc.constant(body),
          messages: fc.array(fc.record({ queueNumber: int, seq: fc.nat() }, NP), { minLength: 1, maxLength: 4 }),
        }, NP),
      ),
      { minLength: 1, maxLength: 5 },
    ),
  }, NP),
  ...topicCommands(),
);

function topicCommands(): fc.Arbitrary<Command>[] {
  const list = fc.array(fc.string({ maxLength: 64, unit: 'grapheme' }), { maxLength: 5 });
  const strategy = fc.constantFrom('BACKOFF_RETRY' as const, 'EXPONENTIAL_DECAY_RETRY' as const);
  const format = fc.constantFrom('JSON' as const, 'SIMPLIFIED' as const);
  const sub = { topicName: name, subscriptionName: name };
  return [
    fc.record({ kind: fc.constant('createTopic' as const), topicName: name, maxMsgSize: u32, filterType: fc.constantFrom(1 as const, 2 as const) }, NP),
    fc.record({ kind: fc.constant('setTopicAttributes' as const), topicName: name, maxMsgSize: u32 }, NP),
    fc.record({ kind: fc.constant('deleteTopic' as const), topicName: name }, NP),
    fc.record(
      {
        kind: fc.constant('subscribe' as const),
        ...sub,
        protocol: fc.constantFrom('queue' as const, 'http' as const),
        endpoint: fc.string({ maxLength: 500 }),
        notifyStrategy: strategy,
        notifyContentFormat: format,
        filterTags: list,
        bindingKeys: list,
      },
      NP,
    ),
    fc.record({ kind: fc.constant('unsubscribe' as const), ...sub }, NP),
    fc.record({ kind: fc.constant('clearSubscriptionFilterTags' as const), ...sub }, NP),
    fc.record(
      { kind: fc.constant('setSubscriptionAttributes' as const), ...sub, notifyStrategy: strategy, notifyContentFormat: format, filterTags: list, bindingKeys: list, remoteQueue: fc.constant(true) },
      { requiredKeys: ['kind', 'topicName', 'subscriptionName'], noNullPrototype: true },
    ),
    fc.record({ kind: fc.constant('publishMessages' as const), topicName: name, bodies, msgTags: list, routingKey: fc.string({ maxLength: 64 }) }, NP),
    fc.record({ kind: fc.constant('pushSucceeded' as const), ...sub, msgId: fc.nat().map(String) }, NP),
    fc.record({ kind: fc.constant('pushFailed' as const), ...sub, msgId: fc.nat().map(String), seed: u32 }, NP),
  ];
}

/** What decoding should give back: sends and publishes carry body references instead of bytes. */
function expected(cmd: Command, metaLen: number, payload: Uint8Array): DecodedCommand {
  if (cmd.kind === 'relocateBodies') {
    let at = metaLen;
    const bodies = cmd.bodies.map((b) => {
      assert.deepEqual(payload.subarray(at, at + b.body.length), b.body);
      const d = { from: b.from, offset: at, messages: b.messages };
      at += b.body.length;
      return d;
    });
    assert.equal(at, payload.length, 'payload = meta ‖ bodies, nothing else');
    return { kind: 'relocateBodies', bodies };
  }
  if (cmd.kind !== 'sendMessages' && cmd.kind !== 'publishMessages') return cmd;
  let offset = metaLen;
  const refs = cmd.bodies.map((b) => {
    const ref = { offset, length: b.length, crc32c: crc32c(b) };
    assert.deepEqual(payload.subarray(offset, offset + b.length), b);
    offset += b.length;
    return ref;
  });
  assert.equal(offset, payload.length, 'payload = meta ‖ bodies, nothing else');
  if (cmd.kind === 'publishMessages') return { kind: 'publishMessages', topicName: cmd.topicName, bodies: refs, msgTags: cmd.msgTags, routingKey: cmd.routingKey };
  return { kind: 'sendMessages', queueName: cmd.queueName, delaySeconds: cmd.delaySeconds, bodies: refs };
}

test('every command survives encode → decode', () => {
  fc.assert(
    fc.property(command, (cmd) => {
      const { payload, metaLen } = encodeCommand(cmd);
      assert.equal(payload[0], CODEC_VERSION);
      assert.deepEqual(decodeCommand(payload, metaLen), expected(cmd, metaLen, payload));
    }),
    { numRuns: 1000 },
  );
});

test('decoding reads only the meta part: the body part may be missing or anything', () => {
  fc.assert(
    fc.property(name, bodies, (queueName, bs) => {
      const cmd: Command = { kind: 'sendMessages', queueName, delaySeconds: 3, bodies: bs };
      const { payload, metaLen } = encodeCommand(cmd);
      const want = decodeCommand(payload, metaLen);
      assert.deepEqual(decodeCommand(payload.subarray(0, metaLen), metaLen), want);
      const scrambled = payload.slice();
      scrambled.fill(0xee, metaLen);
      assert.deepEqual(decodeCommand(scrambled, metaLen), want);
    }),
    { numRuns: 200 },
  );
});

test('the body part is exactly the bodies: entries with UTF-8 names still point at the right bytes', () => {
  const bodiesIn = [Buffer.from('first'), Buffer.from('sécond'), Buffer.alloc(0)];
  const { payload, metaLen } = encodeCommand({ kind: 'sendMessages', queueName: 'ünïcode', delaySeconds: 0, bodies: bodiesIn });
  const d = decodeCommand(payload, metaLen);
  assert.ok(d.kind === 'sendMessages');
  assert.equal(d.queueName, 'ünïcode');
  assert.deepEqual(
    d.bodies.map((b) => Buffer.from(payload.subarray(b.offset, b.offset + b.length)).toString()),
    ['first', 'sécond', ''],
  );
});

function encodeRaw(bytes: number[]): Uint8Array {
  return Uint8Array.from(bytes);
}

test('malformed meta is rejected with BrokerFormatError', () => {
  const tick = encodeCommand({ kind: 'tick' });
  const del = encodeCommand({ kind: 'deleteQueue', queueName: 'q' });
  const send = encodeCommand({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('x')] });
  const create = encodeCommand({ kind: 'createQueue', queueName: 'q', attrs: {} });
  const bad: [string, Uint8Array, number][] = [
    ['wrong version', encodeRaw([CODEC_VERSION + 1, 10]), 2],
    ['unknown kind', encodeRaw([CODEC_VERSION, 99]), 2],
    ['kind zero', encodeRaw([CODEC_VERSION, 0]), 2],
    ['empty', new Uint8Array(0), 0],
    ['metaLen beyond payload', tick.payload, 3],
    ['trailing bytes', encodeRaw([CODEC_VERSION, 10, 0]), 3],
    ['truncated name', del.payload.subarray(0, del.metaLen - 1), del.metaLen - 1],
    ['metaLen cuts a send', send.payload, send.metaLen - 4],
    ['metaLen reaches into the bodies', send.payload, send.metaLen + 1],
    ['invalid UTF-8 name', encodeRaw([CODEC_VERSION, 3, 2, 0, 0xc3, 0x28]), 6],
    ['zero bodies', encodeRaw([CODEC_VERSION, 4, 1, 0, 0x71, 0, 0, 0, 0, 0]), 10],
    ['17 handles', encodeRaw([CODEC_VERSION, 6, 1, 0, 0x71, 17]), 6],
    ['negative metaLen', tick.payload, -1],
    ['filterType 3', encodeRaw([CODEC_VERSION, 11, 1, 0, 0x74, 0, 4, 0, 0, 3]), 10],
    ['unknown protocol', encodeRaw([CODEC_VERSION, 14, 1, 0, 0x74, 1, 0, 0x73, 9, 1, 0, 0x71, 0, 0, 0, 0]), 16],
    ['unknown setSubscriptionAttributes flag', encodeRaw([CODEC_VERSION, 16, 1, 0, 0x74, 1, 0, 0x73, 32]), 9],
    ['publish without bodies', encodeRaw([CODEC_VERSION, 18, 1, 0, 0x74, 0, 0, 0, 0]), 9],
  ];
  const j = (json: string): Uint8Array => {
    const s = Buffer.from(json);
    return encodeRaw([CODEC_VERSION, 1, 1, 0, 0x71, s.length, 0, 0, 0, ...s]);
  };
  for (const json of ['nope', '[]', '{"visibilityTimeout":"30"}', '{"bogus":1}', '{"visibilityTimeout":1.5}', '{"deadLetterPolicy":{"deadLetterQueue":"d","policy":2}}', '{"deadLetterPolicy":{"policy":0}}']) {
    const p = j(json);
    bad.push([`attrs ${json}`, p, p.length]);
  }
  assert.ok(create.payload.length > 0);
  for (const [what, payload, metaLen] of bad) {
    assert.throws(() => decodeCommand(payload, metaLen), BrokerFormatError, what);
  }
});

test('random bytes either decode to a command that re-encodes identically or are rejected', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(), (bytes, cut) => {
      if (bytes.length >= 2 && cut % 2 === 0) bytes[0] = CODEC_VERSION;
      const metaLen = bytes.length === 0 ? 0 : cut % (bytes.length + 1);
      let d: DecodedCommand;
      try {
        d = decodeCommand(bytes, metaLen);
      } catch (e) {
        assert.ok(e instanceof BrokerFormatError, String(e));
        return;
      }
      if (d.kind === 'sendMessages' || d.kind === 'publishMessages' || d.kind === 'relocateBodies') return; // bodies are references here; covered above
      assert.deepEqual(decodeCommand(encodeCommand(d).payload, encodeCommand(d).metaLen), d);
    }),
    { numRuns: 3000 },
  );
});

test('encoding refuses commands that would break msgId uniqueness or the wire format', () => {
  const tooMany = Array.from({ length: 17 }, () => Buffer.from('x'));
  assert.throws(() => encodeCommand({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: tooMany }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [] }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 1, seed: -1 }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'receiveMessages', queueName: 'q', numOfMsg: 0, seed: 1 }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'sendMessages', queueName: 'q', delaySeconds: 1.5, bodies: [Buffer.from('x')] }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'createQueue', queueName: 'q', attrs: { visibilityTimeout: 1.5 } }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'createQueue', queueName: 'q', attrs: { visibilityTimeout: NaN } }), BrokerFormatError);
  const extra = { deadLetterQueue: 'd', policy: 0 as const, maxReceiveCount: 1, note: 'x' };
  assert.throws(() => encodeCommand({ kind: 'setQueueAttributes', queueName: 'q', attrs: { deadLetterPolicy: extra } }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'deleteQueue', queueName: 'x'.repeat(70_000) }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'publishMessages', topicName: 't', bodies: tooMany, msgTags: [], routingKey: '' }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'publishMessages', topicName: 't', bodies: [], msgTags: [], routingKey: '' }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'pushFailed', topicName: 't', subscriptionName: 's', msgId: '1', seed: 2 ** 32 }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'createTopic', topicName: 't', maxMsgSize: 1.5, filterType: 1 }), BrokerFormatError);
  assert.throws(() => encodeCommand({ kind: 'createTopic', topicName: 't', maxMsgSize: 1024, filterType: 3 as 1 }), BrokerFormatError);
  const sub: Extract<Command, { kind: 'subscribe' }> = {
    kind: 'subscribe',
    topicName: 't',
    subscriptionName: 's',
    protocol: 'queue',
    endpoint: 'q',
    notifyStrategy: 'BACKOFF_RETRY',
    notifyContentFormat: 'JSON',
    filterTags: [],
    bindingKeys: [],
  };
  assert.doesNotThrow(() => encodeCommand(sub));
  assert.throws(() => encodeCommand({ ...sub, protocol: 'smtp' as 'queue' }), BrokerFormatError);
  assert.throws(() => encodeCommand({ ...sub, notifyStrategy: 'NEVER' as 'BACKOFF_RETRY' }), BrokerFormatError);
  assert.throws(() => encodeCommand({ ...sub, protocol: 'queue', filterTags: Array.from({ length: 256 }, () => 'a') }), BrokerFormatError);
});

test('strings are written as the UTF-8 decoder reads them: ASCII in place, anything else through the encoder, the same bytes either way', () => {
  const names = ['q', 'orders-queue', 'x'.repeat(64), 'é', 'queue-ß', 'a😀b', 'mixed-ascii-then-é', '\u007f\u0080'];
  for (const name of names) {
    const handles = [name, `12-3-1-${name}`];
    const e = encodeCommand({ kind: 'deleteMessages', queueName: name, receiptHandles: handles });
    // The layout spelled out with TextEncoder: version, kind, u16 length + bytes, u8 count, handles.
    const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)];
    const str = (s: string): number[] => [utf8(s).length & 0xff, utf8(s).length >> 8, ...utf8(s)];
    const expected = [...str(name), handles.length, ...handles.flatMap(str)];
    assert.deepEqual([...e.payload.subarray(2)], expected, `bytes of ${JSON.stringify(name)}`);
    assert.deepEqual(decodeCommand(e.payload, e.metaLen), { kind: 'deleteMessages', queueName: name, receiptHandles: handles });
  }
});
