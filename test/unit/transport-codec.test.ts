// The transport's pure parts: frame decoding across chunk boundaries, handshake messages and
// proofs, the batch MAC, the send queue and the reconnect backoff.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { reconnectDelayMs } from '../../src/transport/backoff';
import { BatchMacStream, MAC_TAG_BYTES } from '../../src/transport/batch-mac';
import { CHANNEL, FRAME_HEADER_BYTES, FrameDecoder, frameHeader } from '../../src/transport/frame-codec';
import {
  decodeHandshake,
  encodeHandshake,
  handshakeProof,
  linkKeys,
  NONCE_BYTES,
  PROOF_BYTES,
  type HandshakeMessage,
  type HandshakeTranscript,
} from '../../src/transport/handshake';
import { TRANSPORT_LIMITS } from '../../src/transport/limits';
import { SendQueue, type QueuedFrame } from '../../src/transport/send-queue';

function frame(channel: number, payload: Buffer): Buffer {
  return Buffer.concat([frameHeader(channel, payload.length), payload]);
}

/** A chunk with memory of its own, as a socket read delivers (small Buffer.from / concat results share a pool). */
function ownMemory(bytes: Buffer): Buffer {
  const chunk = Buffer.alloc(bytes.length);
  bytes.copy(chunk);
  return chunk;
}

function problem(decoded: HandshakeMessage | string): string {
  assert.equal(typeof decoded, 'string', 'expected a decoding problem');
  return decoded as string;
}

function drain(decoder: FrameDecoder): { channel: number; payload: Buffer }[] {
  const out: { channel: number; payload: Buffer }[] = [];
  for (;;) {
    const r = decoder.next();
    if (r.kind === 'need-more') return out;
    assert.equal(r.kind, 'frame');
    if (r.kind === 'frame') out.push({ channel: r.channel, payload: r.payload });
  }
}

test('the decoder reassembles frames fed one byte at a time and many per chunk', () => {
  const payloads = [Buffer.alloc(0), Buffer.from('a'), randomBytes(1000), randomBytes(70_000)];
  const stream = Buffer.concat(payloads.map((p, i) => frame(1 + (i % 3), p)));

  const byteWise = new FrameDecoder(1 << 20);
  const got: { channel: number; payload: Buffer }[] = [];
  for (const byte of stream) {
    byteWise.push(Buffer.from([byte]));
    got.push(...drain(byteWise));
  }
  assert.deepEqual(
    got.map((g) => g.payload),
    payloads,
  );
  assert.deepEqual(
    got.map((g) => g.channel),
    [1, 2, 3, 1],
  );
  assert.equal(byteWise.bufferedBytes, 0);

  const whole = new FrameDecoder(1 << 20);
  whole.push(stream);
  assert.deepEqual(
    drain(whole).map((g) => g.payload),
    payloads,
  );
});

test('a payload that arrived in one chunk is a view into it; one spread over chunks is a copy', () => {
  const inOne = ownMemory(frame(CHANNEL.raft, Buffer.from('hello')));
  const decoder = new FrameDecoder(100);
  decoder.push(inOne);
  const r = decoder.next();
  assert.equal(r.kind, 'frame');
  if (r.kind === 'frame') {
    assert.equal(r.payload.buffer, inOne.buffer, 'no copy of a frame inside one chunk');
    assert.equal(r.payload.byteOffset, inOne.byteOffset + FRAME_HEADER_BYTES);
  }

  const split = frame(CHANNEL.raft, Buffer.from('world'));
  const first = Buffer.from(split.subarray(0, 7));
  const second = Buffer.from(split.subarray(7));
  decoder.push(first);
  decoder.push(second);
  const s = decoder.next();
  assert.equal(s.kind, 'frame');
  first.fill(0);
  second.fill(0);
  if (s.kind === 'frame') assert.equal(s.payload.toString(), 'world');
});

test('a small frame sharing its chunk with much more is copied, so keeping it does not keep the chunk', () => {
  const small = frame(CHANNEL.raft, Buffer.from('tiny'));
  const large = frame(CHANNEL.raft, randomBytes(60_000));
  const chunk = Buffer.concat([small, large]);
  const decoder = new FrameDecoder(1 << 20);
  decoder.push(chunk);
  const [first, second] = drain(decoder);
  assert.equal(first?.payload.toString(), 'tiny');
  assert.notEqual(first?.payload.buffer, chunk.buffer, 'copied: a view would keep 60 KB alive for 4 bytes');
  assert.equal(second?.payload.buffer, chunk.buffer, 'the frame filling most of the chunk is a view');
});

test('decoded payloads stay intact while the decoder takes and decodes further chunks', () => {
  // What a follower relies on: entries decoded from a payload are kept (the window of recent
  // entries) while later frames arrive, so nothing the decoder does later may write over them.
  const decoder = new FrameDecoder(1 << 20);
  const kept: { payload: Buffer; expected: Buffer }[] = [];
  const payloads = Array.from({ length: 200 }, (_, i) => randomBytes(1 + ((i * 7919) % 3000)));
  const frames = payloads.map((p) => frame(CHANNEL.raft, p));
  const pushed = new Set<ArrayBufferLike>();
  const push = (bytes: Buffer): void => {
    const chunk = ownMemory(bytes);
    pushed.add(chunk.buffer);
    decoder.push(chunk);
    for (const f of drain(decoder)) kept.push({ payload: f.payload, expected: Buffer.from(f.payload) });
  };
  // Frames alone in a chunk (views), cut into small pieces (copies), and three to a chunk (copies).
  for (let i = 0, step = 0; i < frames.length; step++) {
    const f = frames[i]!;
    if (step % 3 === 0) {
      push(f);
      i += 1;
    } else if (step % 3 === 1) {
      for (let at = 0; at < f.length; at += 7) push(f.subarray(at, at + 7));
      i += 1;
    } else {
      push(Buffer.concat(frames.slice(i, i + 3)));
      i += 3;
    }
  }
  assert.equal(kept.length, payloads.length);
  assert.ok(kept.filter((k) => pushed.has(k.payload.buffer)).length >= 50, 'the frames alone in their chunks are views');
  kept.forEach((k, i) => {
    assert.deepEqual(k.payload, payloads[i], `payload ${i} as decoded`);
    assert.deepEqual(k.payload, k.expected, `payload ${i} unchanged since it was decoded`);
  });
});

test('a header announcing more than the limit is reported before any payload arrives', () => {
  const decoder = new FrameDecoder(1024);
  decoder.push(frameHeader(CHANNEL.raft, 1025));
  assert.deepEqual(decoder.next(), { kind: 'too-large', payloadBytes: 1025, channel: CHANNEL.raft });
  const exact = new FrameDecoder(1024);
  exact.push(frameHeader(CHANNEL.raft, 1024));
  assert.deepEqual(exact.next(), { kind: 'need-more' });
});

test('handshake messages round-trip and malformed ones are described, not thrown', () => {
  const messages: HandshakeMessage[] = [
    { type: 'hello', dialerId: 'node-ä', acceptorId: 'b', dialerNonce: randomBytes(NONCE_BYTES) },
    { type: 'challenge', acceptorNonce: randomBytes(NONCE_BYTES), acceptorProof: randomBytes(PROOF_BYTES) },
    { type: 'auth', dialerProof: randomBytes(PROOF_BYTES) },
    { type: 'welcome' },
    { type: 'reject', reason: 'duplicate' },
  ];
  for (const m of messages) {
    const bytes = encodeHandshake(m);
    assert.equal(bytes.readUInt32BE(0), bytes.length - FRAME_HEADER_BYTES);
    assert.equal(bytes[4], CHANNEL.handshake);
    assert.deepEqual(decodeHandshake(bytes.subarray(FRAME_HEADER_BYTES)), m);
  }
  const hello = encodeHandshake(messages[0]!).subarray(FRAME_HEADER_BYTES);
  assert.match(problem(decodeHandshake(Buffer.from('GET / HTTP/1.1'))), /bad magic/);
  const badVersion = Buffer.from(hello);
  badVersion[4] = 99;
  assert.match(problem(decodeHandshake(badVersion)), /version 99/);
  assert.match(problem(decodeHandshake(hello.subarray(0, hello.length - 1))), /malformed hello/);
  assert.match(problem(decodeHandshake(Buffer.concat([hello, Buffer.from([0])]))), /malformed hello/);
});

test('proofs bind the role, both ids and both nonces; link keys differ per direction', () => {
  const secret = Buffer.from('a cluster secret of enough bytes');
  const t: HandshakeTranscript = { dialerId: 'a', acceptorId: 'b', dialerNonce: randomBytes(32), acceptorNonce: randomBytes(32) };
  const base = handshakeProof(secret, 'dialer', t);
  assert.equal(base.length, PROOF_BYTES);
  assert.deepEqual(handshakeProof(secret, 'dialer', { ...t }), base);
  const variants = [
    handshakeProof(secret, 'acceptor', t),
    handshakeProof(Buffer.from('another cluster secret of bytes'), 'dialer', t),
    handshakeProof(secret, 'dialer', { ...t, dialerId: 'c' }),
    handshakeProof(secret, 'dialer', { ...t, acceptorId: 'c' }),
    handshakeProof(secret, 'dialer', { ...t, dialerNonce: randomBytes(32) }),
    handshakeProof(secret, 'dialer', { ...t, acceptorNonce: randomBytes(32) }),
    // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
    handshakeProof(secret, 'dialer', { ...t, dialerId: 'ab', acceptorId: 'c' }),
  ];
  const alsoSwapped = handshakeProof(secret, 'dialer', { ...t, dialerId: 'a', acceptorId: 'bc' });
  for (const v of [...variants, alsoSwapped]) assert.notDeepEqual(v, base);
  assert.notDeepEqual(variants[6], alsoSwapped);
  const keys = linkKeys(secret, t);
  assert.notDeepEqual(keys.dialerToAcceptor, keys.acceptorToDialer);
});

test('the batch MAC verifies in order and catches altered, dropped or replayed batches', () => {
  const key = randomBytes(32);
  const batches = [randomBytes(100), randomBytes(5000), randomBytes(1)];
  const sender = new BatchMacStream(key);
  const tags = batches.map((b) => {
    sender.update(b);
    return sender.digest();
  });
  assert.ok(tags.every((t) => t.length === MAC_TAG_BYTES));

  const receiver = new BatchMacStream(key);
  batches.forEach((b, i) => {
    // Fed in pieces, as frames arrive.
    receiver.update(b.subarray(0, 7));
    receiver.update(b.subarray(7));
    assert.ok(receiver.verify(tags[i]!), `batch ${i}`);
  });

  const altered = new BatchMacStream(key);
  const flipped = Buffer.from(batches[0]!);
  flipped[3] = flipped[3]! ^ 1;
  altered.update(flipped);
  assert.equal(altered.verify(tags[0]!), false);

  const skipped = new BatchMacStream(key); // batch 0 dropped by an attacker: batch 1 arrives as batch 0
  skipped.update(batches[1]!);
  assert.equal(skipped.verify(tags[1]!), false);

  const replayed = new BatchMacStream(key);
  replayed.update(batches[0]!);
  assert.ok(replayed.verify(tags[0]!));
  replayed.update(batches[0]!);
  assert.equal(replayed.verify(tags[0]!), false);

  const otherKey = new BatchMacStream(randomBytes(32));
  otherKey.update(batches[0]!);
  assert.equal(otherKey.verify(tags[0]!), false);
});

test('the send queue takes batches up to a byte budget, always at least one frame', () => {
  const q = new SendQueue();
  const f = (bytes: number, boundTo: null = null): QueuedFrame => ({ channel: 1, prefix: null, payload: Buffer.alloc(bytes - 5), bytes, boundTo });
  for (const size of [10, 20, 30, 1000, 5]) q.push(f(size));
  assert.equal(q.bytes, 1065);
  assert.deepEqual(
    q.takeBatch(60).map((x) => x.bytes),
    [10, 20, 30],
  );
  assert.deepEqual(
    q.takeBatch(60).map((x) => x.bytes),
    [1000],
  );
  assert.equal(q.frames, 1);
  assert.equal(q.bytes, 5);
  q.push(f(7));
  assert.equal(
    q.removeWhere((x) => x.bytes === 5),
    1,
  );
  assert.equal(q.bytes, 7);
  assert.equal(q.frames, 1);
});

test('reconnect delays grow from the minimum to the cap, with jitter in the upper half', () => {
  const limits = { ...TRANSPORT_LIMITS, reconnectBackoffMsMin: 50, reconnectBackoffMsMax: 2000 };
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(2000, 50 * 2 ** attempt);
    for (let i = 0; i < 50; i++) {
      const d = reconnectDelayMs(attempt, limits);
      assert.ok(d >= Math.floor(ceiling / 2) && d <= ceiling, `attempt ${attempt}: ${d}`);
    }
  }
  const draws = new Set(Array.from({ length: 50 }, () => reconnectDelayMs(10, limits)));
  assert.ok(draws.size > 10, 'jittered');
});
