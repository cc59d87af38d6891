// Message bodies, read back for delivery: from the driver's window of recent entries or the log,
// each checked against the CRC32C recorded at send time, and when the local copy is damaged or
// missing, from another replica over the peer RPC (every committed entry is on a majority). This
// file also serves other members' requests for a body, and owns that request's small codec.

import type { BodyRef, ReceivedMessage } from '../broker/commands';
import type { Logger } from '../protocol/log';
import { crc32c } from '../storage/crc32c';
import type { SegmentedWal } from '../storage/wal';
import { RPC_SERVICE, type RpcRouter } from './rpc';

/** How long a reader waits for one replica's copy of a body damaged locally. */
const BODY_FROM_REPLICA_TIMEOUT_MS = 2000;
/** Service byte, entry index (f64), offset (u32), length (u32). */
const BODY_REQUEST_BYTES = 17;

/** Part of an entry's payload, starting at payload offset `start`. */
interface EntrySpan {
  start: number;
  bytes: Buffer;
}

export interface BodySource {
  selfId: string;
  /** The payload of a recent entry, if still in memory. */
  recentPayload(index: number): Uint8Array | undefined;
  /** The log now (a snapshot install replaces it). */
  wal(): SegmentedWal;
  /** The group's voters, this node included. */
  voters(): readonly string[];
  /** Absent for a one-voter group: no replica to ask. */
  rpc: RpcRouter | undefined;
  log: Logger;
}

export class BodyReader {
  /** Bodies that failed their checksum (or could not be read) here. */
  corruptBodies = 0;
  /** Of those, delivered from an intact copy on another replica. */
  bodiesFromReplicas = 0;

  constructor(private readonly src: BodySource) {}

  /** Answers other members' requests for a body (see `fromReplica`). */
  serve(rpc: RpcRouter): void {
    rpc.serve(RPC_SERVICE.body, (_from, payload) => this.serveBody(payload));
  }

  /**
   * Each message's body, intact, or undefined where no replica has an intact copy (the caller
   * quarantines those). One read per entry: a batch receive usually takes consecutive bodies of
   * one batch send.
   */
  read(messages: readonly ReceivedMessage[]): Promise<(Buffer | undefined)[]> {
    return this.readLabelled(messages.map((m) => m.body), (i) => `message ${messages[i]!.msgId}`, false);
  }

  /**
   * Bodies by reference (compaction's copies), like `read`: intact from here or a replica, else
   * undefined. One disk read at a time: background copying must not fill the I/O thread pool that
   * the log's writes and fsyncs wait in.
   */
  readRefs(refs: readonly BodyRef[]): Promise<(Buffer | undefined)[]> {
    return this.readLabelled(refs, (i) => `relocated body ${refs[i]!.entryIndex}+${refs[i]!.offset}`, true);
  }

  private async readLabelled(refs: readonly BodyRef[], label: (i: number) => string, oneAtATime: boolean): Promise<(Buffer | undefined)[]> {
    const spans = await this.readSpans(refs, oneAtATime);
    const bodies = refs.map((ref, i) => this.checkedBody(ref, label, i, spans.get(ref.entryIndex)));
    // The usual case, every local copy intact, needs no promise per message.
    if (!bodies.includes(undefined)) return bodies;
    // Damaged ones are fetched at once, not one after another: a receive waits one replica round.
    return Promise.all(refs.map(async (ref, i) => bodies[i] ?? this.fromReplica(label(i), ref)));
  }

  /** One body (a topic push), intact from here or a replica; rejects when no copy is intact. */
  async readOne(ref: BodyRef): Promise<Buffer> {
    const what = `message push@${ref.entryIndex}+${ref.offset}`;
    const cached = this.src.recentPayload(ref.entryIndex);
    let body: Buffer | undefined;
    try {
      body = cached ? Buffer.from(cached.buffer, cached.byteOffset + ref.offset, ref.length) : await this.src.wal().readSlice(ref.entryIndex, ref.offset, ref.length);
    } catch (err) {
      this.src.log.error(`CORRUPTION: a pushed body (entry ${ref.entryIndex}) could not be read here: ${String(err)}`);
    }
    if (body && body.length === ref.length && crc32c(body) === ref.crc32c) return body;
    this.corruptBodies++;
    const fromReplica = await this.fromReplica(what, ref);
    if (fromReplica) return fromReplica;
    throw new Error(`body of entry ${ref.entryIndex} at ${ref.offset} failed its checksum on every replica`);
  }

  private async readSpans(refs: readonly BodyRef[], oneAtATime: boolean): Promise<Map<number, EntrySpan | Error>> {
    const wanted = new Map<number, { lo: number; hi: number }>();
    for (const body of refs) {
      const w = wanted.get(body.entryIndex);
      if (w) {
        w.lo = Math.min(w.lo, body.offset);
        w.hi = Math.max(w.hi, body.offset + body.length);
      } else wanted.set(body.entryIndex, { lo: body.offset, hi: body.offset + body.length });
    }
    const spans = new Map<number, EntrySpan | Error>();
    const readOne = async (index: number, lo: number, hi: number): Promise<void> => {
      const cached = this.src.recentPayload(index);
      if (cached) {
        spans.set(index, { start: 0, bytes: Buffer.from(cached.buffer, cached.byteOffset, cached.byteLength) });
        return;
      }
      try {
        spans.set(index, { start: lo, bytes: await this.src.wal().readSlice(index, lo, hi - lo) });
      } catch (err) {
        spans.set(index, err instanceof Error ? err : new Error(String(err)));
      }
    };
    if (oneAtATime) for (const [index, { lo, hi }] of wanted) await readOne(index, lo, hi);
    else await Promise.all([...wanted].map(([index, { lo, hi }]) => readOne(index, lo, hi)));
    return spans;
  }

  /** The body checked against its CRC32C; undefined (and reported) when damaged or missing. */
  private checkedBody(ref: BodyRef, label: (i: number) => string, i: number, span: EntrySpan | Error | undefined): Buffer | undefined {
    if (span === undefined || span instanceof Error) {
      this.corruptBodies++;
      this.src.log.error(`CORRUPTION: ${label(i)} (entry ${ref.entryIndex}) could not be read here: ${String(span)}`);
      return undefined;
    }
    const from = ref.offset - span.start;
    const body = span.bytes.subarray(from, from + ref.length);
    if (body.length !== ref.length || crc32c(body) !== ref.crc32c) {
      this.corruptBodies++;
      this.src.log.error(`CORRUPTION: ${label(i)} (entry ${ref.entryIndex}) failed its CRC32C check here`);
      return undefined;
    }
    return body;
  }

  /**
   * The local copy of a body is damaged or missing: ask the other members for theirs and return
   * an intact one. Undefined only when no reachable replica has it intact.
   */
  private async fromReplica(what: string, ref: BodyRef): Promise<Buffer | undefined> {
    const { rpc, log } = this.src;
    if (!rpc) {
      log.error(`CORRUPTION: ${what}: no other replica to read it from`);
      return undefined;
    }
    const req = encodeBodyRequest(ref);
    // Every other replica is asked at once; the first intact copy wins, so one slow or cut-off
    // member costs the receive nothing while another answers.
    const peers = this.src.voters().filter((p) => p !== this.src.selfId);
    const body = await new Promise<Buffer | undefined>((resolve) => {
      let left = peers.length;
      let found = false;
      const oneDone = (): void => {
        if (--left === 0) resolve(undefined);
      };
      if (left === 0) resolve(undefined);
      for (const peer of peers) {
        rpc.network.request(peer, req, { timeoutMs: BODY_FROM_REPLICA_TIMEOUT_MS }).then(
          (copy) => {
            if (copy.length === ref.length && crc32c(copy) === ref.crc32c) {
              if (!found) log.error(`CORRUPTION: ${what} (entry ${ref.entryIndex}): local copy damaged, delivered the intact copy from ${peer}`);
              found = true;
              resolve(copy);
            } else log.error(`CORRUPTION: ${what} (entry ${ref.entryIndex}): ${peer}'s copy is damaged too`);
            oneDone();
          },
          (err: unknown) => {
            log.warn(`${what}: reading its body from ${peer} failed: ${err instanceof Error ? err.message : String(err)}`);
            oneDone();
          },
        );
      }
    });
    if (body) {
      this.bodiesFromReplicas++;
      return body;
    }
    log.error(`CORRUPTION: ${what} (entry ${ref.entryIndex}) has no intact copy on any reachable replica; quarantined, not delivered`);
    return undefined;
  }

  /** Another member's `fromReplica`: the raw bytes of part of an entry's payload (it checks them). */
  private async serveBody(payload: Buffer): Promise<Uint8Array> {
    const { index, offset, length } = decodeBodyRequest(payload);
    const cached = this.src.recentPayload(index);
    if (cached) {
      if (offset + length > cached.byteLength) throw new Error('body request: outside the entry');
      return cached.subarray(offset, offset + length);
    }
    return this.src.wal().readSlice(index, offset, length);
  }
}

function encodeBodyRequest(ref: BodyRef): Buffer {
  const req = Buffer.alloc(BODY_REQUEST_BYTES);
  req[0] = RPC_SERVICE.body;
  req.writeDoubleLE(ref.entryIndex, 1);
  req.writeUInt32LE(ref.offset, 9);
  req.writeUInt32LE(ref.length, 13);
  return req;
}

/** The request without its service byte (the RPC router strips it). */
function decodeBodyRequest(payload: Buffer): { index: number; offset: number; length: number } {
  if (payload.length !== BODY_REQUEST_BYTES - 1) throw new Error('body request: bad length');
  return { index: payload.readDoubleLE(0), offset: payload.readUInt32LE(8), length: payload.readUInt32LE(12) };
}
