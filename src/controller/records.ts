// Binary layout of the controller's records (a set, an entity with its route and change), shared
// by the result codec (./codec.ts) and the snapshot (./snapshot.ts), so both write a record the same
// way. Numbers are f64 (integers checked on read where they must be integers): controller traffic
// is metadata, a few entries a second at most, so exactness and simplicity beat a few bytes.
//
//   set:     f64 id, f64 group, u8 state, members, u8 hasLoad, [f64 queues, f64 messages,
//            f64 bytes, f64 requestsPerSecond, f64 atMs]
//   members: u16 count, count × (str16 nodeId, str16 peerAddress, str16 apiAddress, opt sqsAddress)
//   entity:  u8 type, str16 name, f64 version, u16 shardCount, shardCount × f64 setId,
//            u8 change (0 none, 1 move, 2 grow), then
//            move: f64 shard, f64 from, f64 to, u8 phase, f64 startedAtMs
//            grow: f64 startedAtMs, u16 count, count × (f64 shard, f64 set, u8 confirmed)
// where opt = u8 present (0/1), [str16]. Enums are indexes into the arrays of ./model.ts.

import { FormatError, type ByteReader, type ByteWriter } from '../protocol/binary';
import { ENTITY_TYPES, MOVE_PHASES, SET_STATES, type EntityRecord, type EntityType, type RouteChange, type SetMember, type SetRecord } from './model';

export function check(cond: boolean, what: string): asserts cond {
  if (!cond) throw new FormatError(what);
}

/** A count written as u16; more cannot be encoded. */
export function writeCount(w: ByteWriter, n: number): void {
  check(n <= 0xffff, `list of ${n} items`);
  w.u16(n);
}

export function writeEnum<T>(w: ByteWriter, values: readonly T[], v: T): void {
  const i = values.indexOf(v);
  check(i >= 0, `unknown value ${String(v)}`);
  w.u8(i);
}

export function readEnum<T>(r: ByteReader, values: readonly T[]): T {
  const i = r.u8();
  check(i < values.length, `enum index ${i}`);
  return values[i]!;
}

export function writeType(w: ByteWriter, t: EntityType): void {
  writeEnum(w, ENTITY_TYPES, t);
}

export function readType(r: ByteReader): EntityType {
  return readEnum(r, ENTITY_TYPES);
}

export function writeOpt(w: ByteWriter, s: string | undefined): void {
  w.u8(s === undefined ? 0 : 1);
  if (s !== undefined) w.shortStr(s);
}

export function readOpt(r: ByteReader): string | undefined {
  const flag = r.u8();
  check(flag <= 1, `presence flag ${flag}`);
  return flag === 1 ? r.shortStr() : undefined;
}

export function readFlag(r: ByteReader): boolean {
  const flag = r.u8();
  check(flag <= 1, `flag ${flag}`);
  return flag === 1;
}

export function writeMembers(w: ByteWriter, members: readonly SetMember[]): void {
  writeCount(w, members.length);
  for (const m of members) {
    w.shortStr(m.nodeId);
    w.shortStr(m.peerAddress);
    w.shortStr(m.apiAddress);
    writeOpt(w, m.sqsAddress);
  }
}

export function readMembers(r: ByteReader): SetMember[] {
  const n = r.u16();
  const out: SetMember[] = [];
  for (let i = 0; i < n; i++) {
    const m: SetMember = { nodeId: r.shortStr(), peerAddress: r.shortStr(), apiAddress: r.shortStr() };
    const sqs = readOpt(r);
    if (sqs !== undefined) m.sqsAddress = sqs;
    out.push(m);
  }
  return out;
}

export function writeSet(w: ByteWriter, s: SetRecord): void {
  w.f64(s.id);
  w.f64(s.group);
  writeEnum(w, SET_STATES, s.state);
  writeMembers(w, s.members);
  w.u8(s.load === undefined ? 0 : 1);
  if (s.load !== undefined) {
    w.f64(s.load.queues);
    w.f64(s.load.messages);
    w.f64(s.load.bytes);
    w.f64(s.load.requestsPerSecond);
    w.f64(s.load.atMs);
  }
}

export function readSet(r: ByteReader): SetRecord {
  const id = r.int();
  const group = r.int();
  const state = readEnum(r, SET_STATES);
  const members = readMembers(r);
  const load = readFlag(r) ? { queues: r.int(), messages: r.int(), bytes: r.int(), requestsPerSecond: r.f64(), atMs: r.int() } : undefined;
  check(load === undefined || (Number.isFinite(load.requestsPerSecond) && load.requestsPerSecond >= 0), 'requestsPerSecond');
  return { id, group, state, members, load };
}

export function writeEntity(w: ByteWriter, e: EntityRecord): void {
  writeType(w, e.type);
  w.shortStr(e.name);
  w.f64(e.version);
  writeCount(w, e.shards.length);
  for (const s of e.shards) w.f64(s);
  const c = e.change;
  if (c === undefined) {
    w.u8(0);
  } else if (c.type === 'move') {
    w.u8(1);
    w.f64(c.shard);
    w.f64(c.from);
    w.f64(c.to);
    writeEnum(w, MOVE_PHASES, c.phase);
    w.f64(c.startedAtMs);
  } else {
    w.u8(2);
    w.f64(c.startedAtMs);
    writeCount(w, c.pending.length);
    for (const p of c.pending) {
      w.f64(p.shard);
      w.f64(p.set);
      w.u8(p.confirmed ? 1 : 0);
    }
  }
}

export function readEntity(r: ByteReader): EntityRecord {
  const type = readType(r);
  const name = r.shortStr();
  const version = r.int();
  const n = r.u16();
  const shards: number[] = [];
  for (let i = 0; i < n; i++) shards.push(r.int());
  const tag = r.u8();
  let change: RouteChange | undefined;
  if (tag === 1) {
    change = { type: 'move', shard: r.int(), from: r.int(), to: r.int(), phase: readEnum(r, MOVE_PHASES), startedAtMs: r.int() };
  } else if (tag === 2) {
    const startedAtMs = r.int();
    const count = r.u16();
    const pending = [];
    for (let i = 0; i < count; i++) pending.push({ shard: r.int(), set: r.int(), confirmed: readFlag(r) });
    change = { type: 'grow', pending, startedAtMs };
  } else {
    check(tag === 0, `change tag ${tag}`);
  }
  return { type, name, version, shards, change };
}
