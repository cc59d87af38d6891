// Compact binary encoding of Raft messages (for the peer transport) and of config-entry payloads.
// Integers are unsigned LEB128 varints (canonical, below 2^53), strings are a varint length plus
// UTF-8, times are f64 little-endian. Every frame starts with a version byte. Decoding checks
// everything it can and throws RaftCodecError on garbage; decoded payloads are views into the
// input buffer (no copy), so the caller must not reuse that buffer while entries are alive.

import { entryBytes, RAFT_LIMITS } from './limits';
import type { ConfigChange, ConfigChangeEntry, EntryKind, RaftEntry, RaftMessage, RaftMessageType, SnapshotMeta } from './types';

export const RAFT_CODEC_VERSION = 1;
/** Version 2 added the new voter's address (after the voters); version 1 payloads still decode. */
const CONFIG_PAYLOAD_VERSION = 2;

export class RaftCodecError extends Error {
  constructor(message: string) {
    super(`raft codec: ${message}`);
    this.name = 'RaftCodecError';
  }
}

const TYPE_CODES: Record<RaftMessageType, number> = {
  RequestVote: 1,
  RequestVoteResponse: 2,
  PreVote: 3,
  PreVoteResponse: 4,
  AppendEntries: 5,
  AppendEntriesResponse: 6,
  Heartbeat: 7,
  HeartbeatResponse: 8,
  InstallSnapshot: 9,
  InstallSnapshotResponse: 10,
  TimeoutNow: 11,
};
const TYPES_BY_CODE = new Map<number, RaftMessageType>(Object.entries(TYPE_CODES).map(([k, v]) => [v, k as RaftMessageType]));
const KINDS: readonly EntryKind[] = ['command', 'noop', 'config'];

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// ---- writer / reader -------------------------------------------------------------------------------

class Writer {
  private buf: Uint8Array;
  private view: DataView;
  pos = 0;

  constructor(initialBytes: number) {
    this.buf = new Uint8Array(Math.max(64, initialBytes));
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  bool(v: boolean): void {
    this.u8(v ? 1 : 0);
  }

  varint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RaftCodecError(`cannot encode ${v} as an unsigned integer`);
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  str(s: string): void {
    const b = utf8Encoder.encode(s);
    if (b.length === 0 || b.length > RAFT_LIMITS.nodeIdBytesMax) throw new RaftCodecError(`node id of ${b.length} bytes`);
    this.bytes(b);
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RaftCodecError('truncated frame');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new RaftCodecError(`bad boolean ${v}`);
    return v === 1;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new RaftCodecError('overlong varint');
        if (!Number.isSafeInteger(result)) throw new RaftCodecError('varint above 2^53');
        return result;
      }
      scale *= 0x80;
    }
    throw new RaftCodecError('varint too long');
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  bytes(max: number): Uint8Array {
    const n = this.varint();
    if (n > max) throw new RaftCodecError(`field of ${n} bytes exceeds ${max}`);
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  str(): string {
    const b = this.bytes(RAFT_LIMITS.nodeIdBytesMax);
    if (b.length === 0) throw new RaftCodecError('empty node id');
    try {
      return utf8Decoder.decode(b);
    } catch {
      throw new RaftCodecError('node id is not UTF-8');
    }
  }

  end(): void {
    if (this.pos !== this.buf.length) throw new RaftCodecError(`${this.buf.length - this.pos} trailing bytes`);
  }
}

// ---- messages --------------------------------------------------------------------------------------

export function encodeMessage(m: RaftMessage): Uint8Array {
  let estimate = 64;
  if (m.type === 'AppendEntries') for (const e of m.entries) estimate += entryBytes(e.payload.length);
  const w = new Writer(estimate);
  w.u8(RAFT_CODEC_VERSION);
  w.u8(TYPE_CODES[m.type]);
  w.str(m.from);
  w.str(m.to);
  w.varint(m.term);
  switch (m.type) {
    case 'RequestVote':
      w.varint(m.lastLogIndex);
      w.varint(m.lastLogTerm);
      w.bool(m.transfer);
      break;
    case 'PreVote':
      w.varint(m.lastLogIndex);
      w.varint(m.lastLogTerm);
      break;
    case 'RequestVoteResponse':
    case 'PreVoteResponse':
      w.bool(m.voteGranted);
      break;
    case 'AppendEntries':
      w.varint(m.prevLogIndex);
      w.varint(m.prevLogTerm);
      w.varint(m.leaderCommit);
      w.varint(m.entries.length);
      m.entries.forEach((e, i) => {
        if (e.index !== m.prevLogIndex + 1 + i) throw new RaftCodecError('AppendEntries entries must follow prevLogIndex');
        writeEntryBody(w, e);
      });
      break;
    case 'AppendEntriesResponse':
      w.bool(m.success);
      if (m.success) {
        w.varint(m.matchIndex);
      } else {
        w.varint(m.rejectedIndex);
        w.varint(m.hintIndex);
        w.varint(m.hintTerm);
      }
      break;
    case 'Heartbeat':
      w.varint(m.leaderCommit);
      w.varint(m.readSeq);
      break;
    case 'HeartbeatResponse':
      w.varint(m.readSeq);
      break;
    case 'InstallSnapshot':
      writeSnapshotMeta(w, m.snapshot);
      break;
    case 'InstallSnapshotResponse':
      w.varint(m.matchIndex);
      break;
    case 'TimeoutNow':
      break;
  }
  return w.finish();
}

export function decodeMessage(buf: Uint8Array): RaftMessage {
  const r = new Reader(buf);
  const version = r.u8();
  if (version !== RAFT_CODEC_VERSION) throw new RaftCodecError(`unsupported version ${version}`);
  const code = r.u8();
  const type = TYPES_BY_CODE.get(code);
  if (type === undefined) throw new RaftCodecError(`unknown message type ${code}`);
  const from = r.str();
  const to = r.str();
  const term = r.varint();
  const m = decodeBody(r, type, from, to, term);
  r.end();
  return m;
}

function decodeBody(r: Reader, type: RaftMessageType, from: string, to: string, term: number): RaftMessage {
  switch (type) {
    case 'RequestVote': {
      const lastLogIndex = r.varint();
      const lastLogTerm = r.varint();
      checkTerm(lastLogTerm <= term, 'lastLogTerm above term');
      return { type, from, to, term, lastLogIndex, lastLogTerm, transfer: r.bool() };
    }
    case 'PreVote': {
      const lastLogIndex = r.varint();
      const lastLogTerm = r.varint();
      checkTerm(lastLogTerm <= term, 'lastLogTerm above term');
      return { type, from, to, term, lastLogIndex, lastLogTerm };
    }
    case 'RequestVoteResponse':
    case 'PreVoteResponse':
      return { type, from, to, term, voteGranted: r.bool() };
    case 'AppendEntries':
      return decodeAppendEntries(r, from, to, term);
    case 'AppendEntriesResponse':
      if (r.bool()) return { type, from, to, term, success: true, matchIndex: r.varint() };
      return { type, from, to, term, success: false, rejectedIndex: r.varint(), hintIndex: r.varint(), hintTerm: r.varint() };
    case 'Heartbeat':
      return { type, from, to, term, leaderCommit: r.varint(), readSeq: r.varint() };
    case 'HeartbeatResponse':
      return { type, from, to, term, readSeq: r.varint() };
    case 'InstallSnapshot':
      return { type, from, to, term, snapshot: readSnapshotMeta(r) };
    case 'InstallSnapshotResponse':
      return { type, from, to, term, matchIndex: r.varint() };
    case 'TimeoutNow':
      return { type, from, to, term };
  }
}

function decodeAppendEntries(r: Reader, from: string, to: string, term: number): RaftMessage {
  const prevLogIndex = r.varint();
  const prevLogTerm = r.varint();
  const leaderCommit = r.varint();
  const count = r.varint();
  if (count > RAFT_LIMITS.entriesPerMessageMax) throw new RaftCodecError(`${count} entries in one message`);
  checkTerm(prevLogTerm <= term, 'prevLogTerm above term');
  const entries: RaftEntry[] = [];
  let prevTerm = prevLogTerm;
  for (let i = 0; i < count; i++) {
    const e = readEntryBody(r, prevLogIndex + 1 + i);
    checkTerm(e.term >= prevTerm && e.term <= term, `entry ${e.index} has term ${e.term} out of order`);
    prevTerm = e.term;
    entries.push(e);
  }
  return { type: 'AppendEntries', from, to, term, prevLogIndex, prevLogTerm, entries, leaderCommit };
}

function checkTerm(ok: boolean, what: string): void {
  if (!ok) throw new RaftCodecError(what);
}

function writeEntryBody(w: Writer, e: RaftEntry): void {
  w.varint(e.term);
  w.u8(KINDS.indexOf(e.kind));
  w.f64(e.timeMs);
  w.varint(e.metaLen);
  w.bytes(e.payload);
}

function readEntryBody(r: Reader, index: number): RaftEntry {
  const term = r.varint();
  const kindCode = r.u8();
  const kind = KINDS[kindCode];
  if (kind === undefined) throw new RaftCodecError(`unknown entry kind ${kindCode}`);
  const timeMs = r.f64();
  if (!Number.isFinite(timeMs)) throw new RaftCodecError('entry time is not finite');
  const metaLen = r.varint();
  const payload = r.bytes(Number.MAX_SAFE_INTEGER);
  if (metaLen > payload.length) throw new RaftCodecError('metaLen exceeds payload');
  return { index, term, kind, timeMs, metaLen, payload };
}

function writeVoters(w: Writer, voters: readonly string[]): void {
  if (voters.length > RAFT_LIMITS.votersMax) throw new RaftCodecError(`${voters.length} voters`);
  w.varint(voters.length);
  for (const v of voters) w.str(v);
}

function readVoters(r: Reader): string[] {
  const n = r.varint();
  if (n > RAFT_LIMITS.votersMax) throw new RaftCodecError(`${n} voters`);
  const voters: string[] = [];
  for (let i = 0; i < n; i++) voters.push(r.str());
  if (new Set(voters).size !== voters.length) throw new RaftCodecError('duplicate voter');
  return voters;
}

function writeSnapshotMeta(w: Writer, s: SnapshotMeta): void {
  w.varint(s.index);
  w.varint(s.term);
  writeVoters(w, s.voters);
}

function readSnapshotMeta(r: Reader): SnapshotMeta {
  const index = r.varint();
  const term = r.varint();
  return { index, term, voters: readVoters(r) };
}

// ---- config-entry payloads -----------------------------------------------------------------------

export function encodeConfigChange(c: ConfigChangeEntry): Uint8Array {
  const w = new Writer(64);
  w.u8(CONFIG_PAYLOAD_VERSION);
  w.u8(c.change.type === 'addVoter' ? 1 : 2);
  w.str(c.change.node);
  writeVoters(w, c.voters);
  const address = c.change.type === 'addVoter' ? c.change.address : undefined;
  w.u8(address === undefined ? 0 : 1);
  if (address !== undefined) w.str(address);
  return w.finish();
}

export function decodeConfigChange(payload: Uint8Array): ConfigChangeEntry {
  const r = new Reader(payload);
  const version = r.u8();
  if (version !== 1 && version !== CONFIG_PAYLOAD_VERSION) throw new RaftCodecError(`unsupported config payload version ${version}`);
  const code = r.u8();
  if (code !== 1 && code !== 2) throw new RaftCodecError(`unknown config change ${code}`);
  const node = r.str();
  const voters = readVoters(r);
  const hasAddress = version >= 2 ? r.u8() : 0;
  if (hasAddress > 1 || (hasAddress === 1 && code === 2)) throw new RaftCodecError('bad address flag');
  const address = hasAddress === 1 ? r.str() : undefined;
  r.end();
  const change: ConfigChange =
    code === 1 ? (address === undefined ? { type: 'addVoter', node } : { type: 'addVoter', node, address }) : { type: 'removeVoter', node };
  if ((code === 1) !== voters.includes(node)) throw new RaftCodecError('voters do not reflect the change');
  return { change, voters };
}
