// One link's write and read paths without a network: what Connection hands its socket for a batch
// (large payloads by reference, the rest packed with the batch MAC into one buffer) and that the
// peer's Connection verifies and delivers exactly the frames that were written.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { test } from 'node:test';

import { Connection, type LinkCounters, type OutFrame } from '../../src/transport/connection';
import { CHANNEL, FrameDecoder } from '../../src/transport/frame-codec';
import { TRANSPORT_LIMITS } from '../../src/transport/limits';

/** The socket surface Connection uses, recording what is written and how. */
class FakeSocket extends EventEmitter {
  readonly writes: Uint8Array[] = [];
  corked = 0;
  writableNeedDrain = false;
  writableLength = 0;
  write(chunk: Uint8Array): boolean {
    this.writes.push(chunk);
    return true;
  }
  cork(): void {
    this.corked++;
  }
  uncork(): void {
    this.corked--;
  }
  end(): void {}
  destroy(): void {}
}

function counters(): LinkCounters {
  return { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0, writes: 0 };
}

function link(keys: { send: Buffer; recv: Buffer }, delivered: { channel: number; payload: Buffer }[] = []): { conn: Connection; socket: FakeSocket; closed: (string | null)[] } {
  const socket = new FakeSocket();
  const closed: (string | null)[] = [];
  const conn = new Connection(socket as unknown as Socket, 'peer', true, new FrameDecoder(TRANSPORT_LIMITS.handshakeFrameBytesMax), keys, TRANSPORT_LIMITS, counters(), {
    onFrame: (_c, channel, payload) => delivered.push({ channel, payload }),
    onDrain: () => undefined,
    onClose: (_c, reason) => closed.push(reason),
  });
  return { conn, socket, closed };
}

test('a large payload goes to the socket by reference, in one corked write with the rest packed around it', () => {
  const keys = { send: randomBytes(32), recv: randomBytes(32) };
  const { conn, socket } = link(keys);
  const large = randomBytes(100_000);
  const frames: OutFrame[] = [
    { channel: CHANNEL.raft, prefix: null, payload: randomBytes(40) },
    { channel: CHANNEL.raft, prefix: null, payload: large },
    { channel: CHANNEL.rpcRequest, prefix: Buffer.from([0, 0, 0, 7]), payload: randomBytes(3000) },
  ];
  conn.writeBatch(frames);
  assert.equal(socket.corked, 0, 'uncorked again');
  assert.equal(socket.writes.length, 3, 'packed bytes before, the large payload, packed bytes after');
  assert.equal(socket.writes[1], large, 'the very payload object, not a copy');
  const small = [{ channel: CHANNEL.raft, prefix: null, payload: randomBytes(500) }];
  conn.writeBatch(small);
  assert.equal(socket.writes.length, 4, 'a batch of small payloads is one buffer, as before');
});

test("the peer verifies the batch MAC over the pieces and delivers every frame as written", () => {
  const keyAB = randomBytes(32);
  const keyBA = randomBytes(32);
  const a = link({ send: keyAB, recv: keyBA });
  const delivered: { channel: number; payload: Buffer }[] = [];
  const b = link({ send: keyBA, recv: keyAB }, delivered);
  const batches: OutFrame[][] = [
    [
      { channel: CHANNEL.raft, prefix: null, payload: randomBytes(8 * 1024) },
      { channel: CHANNEL.raft, prefix: null, payload: randomBytes(8 * 1024 - 1) },
      { channel: CHANNEL.raft, prefix: null, payload: Buffer.alloc(0) },
      { channel: CHANNEL.rpcRequest, prefix: Buffer.from([0, 0, 0, 1]), payload: randomBytes(70_000) },
    ],
    [{ channel: CHANNEL.raft, prefix: null, payload: randomBytes(200_000) }],
    [{ channel: CHANNEL.raft, prefix: null, payload: randomBytes(12) }],
  ];
  for (const batch of batches) a.conn.writeBatch(batch);
  const wire = Buffer.concat(a.socket.writes);
  // Arbitrary chunking on the way, as TCP may do.
  for (let at = 0; at < wire.length; at += 4093) b.socket.emit('data', Buffer.from(wire.subarray(at, at + 4093)));
  assert.deepEqual(b.closed, [], 'no MAC mismatch');
  const expected = batches.flat().map((f) => ({ channel: f.channel, payload: Buffer.concat([f.prefix ?? Buffer.alloc(0), f.payload]) }));
  assert.deepEqual(delivered, expected);
});
