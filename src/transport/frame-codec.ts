// The frame layout shared by the handshake and the link: [u32 payload length][u8 channel][payload],
// big-endian, and an incremental decoder that never buffers more than one frame beyond a chunk.

/** Bytes before each payload: u32 length, u8 channel. */
export const FRAME_HEADER_BYTES = 5;

/** Channel byte of each frame. Values are part of the wire protocol (docs/transport.md). */
export const CHANNEL = {
  /** Handshake messages; the only channel accepted before authentication. */
  handshake: 0,
  /** One-way opaque raft payloads of group 0, delivered in order to onMessage. */
  raft: 1,
  /** [u32 request id][request payload], for group 0. */
  rpcRequest: 2,
  /** [u32 request id][u8 status][response payload] */
  rpcResponse: 3,
  /** Keep-alive, empty payload; the first one on a link may carry the wire version (wire-version.ts). */
  ping: 4,
  /** [16-byte GMAC tag] over every frame since the previous batch MAC. */
  batchMac: 5,
  /** [varint group id][raft payload]: `raft` for one group; only to peers of wire version 2+. */
  groupRaft: 6,
  /** [varint group id][u32 request id][request payload]; answered on `rpcResponse`. */
  groupRpcRequest: 7,
} as const;

export type ChannelByte = (typeof CHANNEL)[keyof typeof CHANNEL];

/** The channel carrying a group's frames in place of a group-0-only one (raft, rpcRequest). */
export function groupChannelOf(channel: number): number {
  if (channel === CHANNEL.raft) return CHANNEL.groupRaft;
  if (channel === CHANNEL.rpcRequest) return CHANNEL.groupRpcRequest;
  throw new RangeError(`channel ${channel} carries no group id`);
}

export function writeFrameHeader(target: Buffer, offset: number, channel: number, payloadBytes: number): void {
  target.writeUInt32BE(payloadBytes, offset);
  target[offset + 4] = channel;
}

export function frameHeader(channel: number, payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  writeFrameHeader(header, 0, channel, payloadBytes);
  return header;
}

/**
 * One whole frame. `payload` is a view into the chunk it arrived in when the frame lies inside one
 * chunk and fills at least half of that chunk's memory; otherwise a fresh buffer the payload was
 * copied into. The decoder never writes to a pushed chunk nor reuses one, so the payload stays
 * intact for as long as it is kept, provided the pusher does not reuse chunk memory either (a
 * socket's 'data' chunks are fresh Buffers). A kept view keeps at most twice its own size in
 * memory, so a window of small kept payloads (recent log entries) cannot hold on to whole reads.
 */
export interface DecodedFrame {
  readonly kind: 'frame';
  readonly channel: number;
  readonly payload: Buffer;
}

export type DecodeResult = DecodedFrame | { readonly kind: 'need-more' } | { readonly kind: 'too-large'; readonly payloadBytes: number; readonly channel: number };

const NEED_MORE = { kind: 'need-more' } as const;

/**
 * Reassembles frames from socket chunks. Invariant: `buffered` == unread bytes in
 * chunks[head..], starting at `offset` inside chunks[head]. Consumed chunks are dropped in bulk,
 * so a frame arriving in many small chunks costs linear, not quadratic, time.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private head = 0;
  private offset = 0;
  private buffered = 0;

  constructor(
    /** Largest payload accepted; a header announcing more yields 'too-large'. Changes after the handshake. */
    public payloadBytesMax: number,
  ) {}

  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  next(): DecodeResult {
    if (this.buffered < FRAME_HEADER_BYTES) return NEED_MORE;
    const payloadBytes = ((this.byteAt(0) << 24) | (this.byteAt(1) << 16) | (this.byteAt(2) << 8) | this.byteAt(3)) >>> 0;
    const channel = this.byteAt(4);
    if (payloadBytes > this.payloadBytesMax) return { kind: 'too-large', payloadBytes, channel };
    if (this.buffered < FRAME_HEADER_BYTES + payloadBytes) return NEED_MORE;
    const chunk = this.chunks[this.head]!;
    const start = this.offset + FRAME_HEADER_BYTES;
    if (start + payloadBytes <= chunk.length && payloadBytes * 2 >= chunk.buffer.byteLength) {
      // The whole frame is in one chunk: a view saves allocating and copying the payload (fresh
      // buffers are what drive a follower's full collections).
      this.copyOut(null, FRAME_HEADER_BYTES + payloadBytes);
      return { kind: 'frame', channel, payload: chunk.subarray(start, start + payloadBytes) };
    }
    this.copyOut(null, FRAME_HEADER_BYTES);
    const payload = Buffer.allocUnsafe(payloadBytes);
    this.copyOut(payload, payloadBytes);
    return { kind: 'frame', channel, payload };
  }

  private byteAt(index: number): number {
    let i = index + this.offset;
    for (let c = this.head; c < this.chunks.length; c++) {
      const chunk = this.chunks[c]!;
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
    throw new RangeError('frame decoder: read past the buffered bytes');
  }

  /** Consumes `count` bytes, copying them into `target` unless it is null. */
  private copyOut(target: Buffer | null, count: number): void {
    let done = 0;
    while (done < count) {
      const chunk = this.chunks[this.head]!;
      const step = Math.min(count - done, chunk.length - this.offset);
      if (target) chunk.copy(target, done, this.offset, this.offset + step);
      done += step;
      this.offset += step;
      this.buffered -= step;
      if (this.offset === chunk.length) {
        this.head += 1;
        this.offset = 0;
      }
    }
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 64) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
