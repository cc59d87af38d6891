// One authenticated TCP link to a peer: turns batches of outgoing frames into single socket writes
// sealed by a batch MAC, and turns inbound bytes back into frames that are delivered only after
// their batch MAC checks out. On a TLS link (no MAC keys) TLS protects integrity, so batches go
// out without a MAC and frames are delivered as they arrive. It knows nothing of peers' state;
// PeerTransport owns that.

import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';

import { BatchMacStream, MAC_TAG_BYTES } from './batch-mac';
import { CHANNEL, FRAME_HEADER_BYTES, FrameDecoder, groupChannelOf, writeFrameHeader } from './frame-codec';
import { groupIdBytes, writeGroupId } from './group-codec';
import type { TransportLimits } from './limits';
import type { GroupId } from './peer-network';

/**
 * A frame waiting to be written: its payload is `prefix ‖ payload` (the prefix saves a copy), after
 * the group id when the frame has one and the link carries group ids.
 */
export interface OutFrame {
  readonly channel: number;
  readonly prefix: Buffer | null;
  /** Left unmodified until written: a large one goes to the socket by reference (see writeBatch). */
  readonly payload: Uint8Array;
  /** Raft frames and rpc requests: the group they belong to. */
  readonly group?: GroupId;
}

/** Header plus payload bytes of `frame` as written with (`tagged`) or without its group id. */
export function outFrameBytes(frame: OutFrame, tagged: boolean): number {
  const groupBytes = tagged && frame.group !== undefined ? groupIdBytes(frame.group) : 0;
  return FRAME_HEADER_BYTES + groupBytes + (frame.prefix?.length ?? 0) + frame.payload.length;
}

/** Counters a connection adds to (the peer's, so they survive reconnects). */
export interface LinkCounters {
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
  writes: number;
}

export interface ConnectionEvents {
  /** A verified frame, in the order the peer sent it. May close the connection. */
  onFrame(conn: Connection, channel: number, payload: Buffer): void;
  /** The socket can take more bytes again. */
  onDrain(conn: Connection): void;
  /** Called once; `reason` is null for a clean close by either side. */
  onClose(conn: Connection, reason: string | null): void;
}

const BATCH_MAC_FRAME_BYTES = FRAME_HEADER_BYTES + MAC_TAG_BYTES;

/**
 * Payloads this large go to the socket without a copy. Below it a copy is cheaper than another
 * piece of a writev, and the copy comes from Node's buffer pool rather than a new allocation.
 */
const PAYLOAD_BY_REFERENCE_BYTES_MIN = 8 * 1024;

function byReference(payload: Uint8Array): boolean {
  return payload.length >= PAYLOAD_BY_REFERENCE_BYTES_MIN;
}

export class Connection {
  lastReceivedAtMs = performance.now();
  lastSentAtMs = performance.now();
  private closed = false;
  private readonly sendMac: BatchMacStream | null;
  private readonly recvMac: BatchMacStream | null;
  /** Frames received since the last batch MAC, held back until it verifies. */
  private unverified: { channel: number; payload: Buffer }[] = [];
  private unverifiedBytes = 0;
  private readonly headerScratch = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  /**
   * Whether frames to the peer carry group ids (both sides speak wire version 2+); null until the
   * peer's first frame says (wire-version.ts). Until then only group 0 frames may be written.
   */
  groupFrames: boolean | null = null;
  /** The wire version this connection uses, the lower of both sides'; null until the peer's first frame. */
  wireVersion: number | null = null;

  constructor(
    readonly socket: Socket,
    readonly peerId: string,
    readonly dialedByUs: boolean,
    private readonly decoder: FrameDecoder,
    /** Null on a TLS link: no batch MAC. */
    keys: { send: Buffer; recv: Buffer } | null,
    private readonly limits: TransportLimits,
    private readonly counters: LinkCounters,
    private readonly events: ConnectionEvents,
  ) {
    this.sendMac = keys === null ? null : new BatchMacStream(keys.send);
    this.recvMac = keys === null ? null : new BatchMacStream(keys.recv);
    decoder.payloadBytesMax = limits.frameBytesMax;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.events.onDrain(this));
    socket.on('error', (err) => this.fail(`socket error: ${err.message}`));
    socket.on('end', () => this.fail(null));
    socket.on('close', () => this.fail(null));
  }

  /** Processes bytes that arrived together with the end of the handshake. */
  start(): void {
    this.drainDecoder();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** The socket holds at least its high-water mark of unsent bytes: wait for onDrain. */
  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  get unsentBytes(): number {
    return this.closed ? 0 : this.socket.writableLength;
  }

  /**
   * Writes the frames and their batch MAC with one socket write. Headers, small payloads and the
   * MAC go into one new buffer; payloads of PAYLOAD_BY_REFERENCE_BYTES_MIN or more are handed to
   * the socket as they are (one writev), so a large AppendEntries is not copied and the copy
   * leaves no garbage behind (the transport's callers already leave payloads unmodified).
   */
  writeBatch(frames: readonly OutFrame[]): void {
    if (this.closed || frames.length === 0) return;
    const mac = this.sendMac;
    const tagged = this.groupFrames === true;
    let total = mac === null ? 0 : BATCH_MAC_FRAME_BYTES;
    let packed = total;
    for (const f of frames) {
      // Written without its id, a frame of another group would reach the peer's group 0.
      if (!tagged && f.group !== undefined && f.group !== 0) throw new Error(`transport: a frame of group ${f.group} on a link without group ids`);
      const bytes = outFrameBytes(f, tagged);
      total += bytes;
      packed += byReference(f.payload) ? bytes - f.payload.length : bytes;
    }
    const buf = Buffer.allocUnsafe(packed);
    /** Pieces written in order: stretches of `buf` and payloads by reference. */
    const pieces: Uint8Array[] = [];
    let pieceFrom = 0;
    let at = 0;
    for (const f of frames) {
      const bodyBytes = (f.prefix?.length ?? 0) + f.payload.length;
      if (tagged && f.group !== undefined) {
        writeFrameHeader(buf, at, groupChannelOf(f.channel), groupIdBytes(f.group) + bodyBytes);
        at = writeGroupId(buf, at + FRAME_HEADER_BYTES, f.group);
      } else {
        writeFrameHeader(buf, at, f.channel, bodyBytes);
        at += FRAME_HEADER_BYTES;
      }
      if (f.prefix) at += f.prefix.copy(buf, at);
      if (byReference(f.payload)) {
        pieces.push(buf.subarray(pieceFrom, at), f.payload);
        pieceFrom = at;
      } else {
        buf.set(f.payload, at);
        at += f.payload.length;
      }
    }
    if (mac !== null) {
      // The MAC covers the frames' bytes in wire order, whichever piece they are in.
      for (const piece of pieces) mac.update(piece);
      mac.update(buf.subarray(pieceFrom, at));
      writeFrameHeader(buf, at, CHANNEL.batchMac, MAC_TAG_BYTES);
      mac.digest().copy(buf, at + FRAME_HEADER_BYTES);
    }
    this.counters.bytesOut += total;
    this.counters.framesOut += frames.length;
    this.counters.writes += 1;
    this.lastSentAtMs = performance.now();
    if (pieces.length === 0) {
      this.socket.write(buf);
      return;
    }
    pieces.push(buf.subarray(pieceFrom));
    // Corked writes leave as one writev when uncorked.
    this.socket.cork();
    for (const piece of pieces) if (piece.length > 0) this.socket.write(piece);
    this.socket.uncork();
  }

  /** Flushes what was written, then closes; the peer sees a clean end. */
  end(): void {
    if (this.closed) return;
    this.socket.end();
  }

  /** Closes at once; `reason` (if any) is reported through onClose. */
  destroy(reason: string | null): void {
    this.fail(reason);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.counters.bytesIn += chunk.length;
    this.lastReceivedAtMs = performance.now();
    this.decoder.push(chunk);
    this.drainDecoder();
  }

  private drainDecoder(): void {
    while (!this.closed) {
      const result = this.decoder.next();
      if (result.kind === 'need-more') return;
      if (result.kind === 'too-large') {
        this.fail(`peer sent a frame of ${result.payloadBytes} bytes on channel ${result.channel}, over frameBytesMax (${this.limits.frameBytesMax})`);
        return;
      }
      if (this.recvMac === null) {
        if (result.channel === CHANNEL.batchMac) this.fail('peer sent a batch MAC on a TLS link');
        else this.deliver(result.channel, result.payload);
      } else if (result.channel === CHANNEL.batchMac) this.verifyBatch(this.recvMac, result.payload);
      else this.holdUnverified(this.recvMac, result.channel, result.payload);
    }
  }

  private holdUnverified(mac: BatchMacStream, channel: number, payload: Buffer): void {
    writeFrameHeader(this.headerScratch, 0, channel, payload.length);
    mac.update(this.headerScratch);
    mac.update(payload);
    this.unverified.push({ channel, payload });
    this.unverifiedBytes += FRAME_HEADER_BYTES + payload.length;
    // A well-behaved peer never writes more than one batch between MACs.
    if (this.unverifiedBytes > this.limits.writeBatchBytesMax + this.limits.frameBytesMax + FRAME_HEADER_BYTES) {
      this.fail('peer sent more than one write batch without a batch MAC');
    }
  }

  private verifyBatch(mac: BatchMacStream, tag: Buffer): void {
    if (!mac.verify(tag)) {
      this.fail('batch MAC mismatch: frames altered or injected on the wire');
      return;
    }
    const batch = this.unverified;
    this.unverified = [];
    this.unverifiedBytes = 0;
    for (const frame of batch) {
      if (this.closed) return;
      this.deliver(frame.channel, frame.payload);
    }
  }

  private deliver(channel: number, payload: Buffer): void {
    this.counters.framesIn += 1;
    this.events.onFrame(this, channel, payload);
  }

  private fail(reason: string | null): void {
    if (this.closed) return;
    this.closed = true;
    this.unverified = [];
    this.socket.destroy();
    this.events.onClose(this, reason);
  }
}
