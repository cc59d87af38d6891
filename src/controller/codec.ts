// Binary codec of the controller's commands (its log entries), reads and results (what a member
// relays to and from the leader). Binary, like the broker's codec, with the same byte reader and
// writer (protocol/binary.ts): one style of codec for every state machine, no JSON number or
// key-order questions, and exact round trips. Numbers are f64 throughout: the traffic is rare
// metadata, and an out-of-range value (a set id of 0, a NaN rate) is carried as is and refused by
// apply with a result, the same on every replica, instead of being wrapped into a valid one here.
//
// Every message: u8 version, u8 kind, then
//   registerSet:  f64 setId, f64 group, members          setMembers:  f64 setId, members
//   setSetState:  f64 setId, u8 state
//   reportLoad:   f64 setId, f64 queues, f64 messages, f64 bytes, f64 requestsPerSecond
//   createEntity: u8 type, str16 name, u8 fields, [f64 shards if bit 0], [f64 setId if bit 1]
//                 (fields was a 0/1 hasShards flag before setId: those entries read the same)
//   deleteEntity / advanceMove / completeMove / abortMove: u8 type, str16 name
//   beginMove:    u8 type, str16 name, f64 to, u8 hasShard, [f64 shard]
//   growShards:   str16 name, f64 shards                 confirmShard: str16 name, f64 shard
//   adoptEntities: f64 setId, u32 count, count × (u8 type, str16 name)
//   getRoute:     u8 type, str16 name
//   listRoutes:   u8 type, str16 prefix, f64 offset, f64 limit
//   listSets:     (nothing)                            listChanges: f64 offset, f64 limit
//   result error: str16 errorName, opt arg, opt detail
//   result done:  f64 routeEpoch                         result entity: f64 routeEpoch, entity
//   result routes: f64 routeEpoch, f64 totalCount, u32 count, count × entity
//   result sets:  f64 routeEpoch, u32 count, count × (set, f64 entities)
//   result adopted: f64 routeEpoch, f64 adopted, u32 count, count × (u8 type, str16 name, f64 setId)
// with members, entity, set and opt as in ./records.ts.
//
// A command gains an optional field as a bit of a fields byte where it had a presence flag
// (createEntity's setId), so entries already in a log decode unchanged; a new command gets a new
// code. The version byte changes only for a layout old entries cannot be read in.
//
// Encoding throws FormatError only for what cannot be written (a string over 65535 bytes, over
// 65535 members); decoding never throws: malformed bytes give undefined.

import { ByteReader, ByteWriter, FormatError } from '../protocol/binary';
import { ERRORS, type ErrorName, type ErrorResult } from '../protocol/errors';
import type { AdoptConflict, ControllerCommand, ControllerCommandKind, ControllerQuery, ControllerQueryKind, ControllerResult, ControllerResultKind, EntityRef, SetView } from './commands';
import { SET_STATES, type EntityRecord } from './model';
import { check, readEntity, readEnum, readFlag, readMembers, readOpt, readSet, readType, writeEntity, writeEnum, writeMembers, writeOpt, writeSet, writeType } from './records';

export const CONTROLLER_CODEC_VERSION = 1;

/** Wire codes: never reuse or renumber one (old log entries carry them). */
const COMMAND_CODES = {
  registerSet: 1,
  setMembers: 2,
  setSetState: 3,
  reportLoad: 4,
  createEntity: 5,
  deleteEntity: 6,
  beginMove: 7,
  advanceMove: 8,
  completeMove: 9,
  abortMove: 10,
  growShards: 11,
  confirmShard: 12,
  adoptEntities: 13,
} as const satisfies Record<ControllerCommandKind, number>;

/** createEntity's fields byte: which optional fields follow (bit 0 was the old hasShards flag). */
const CREATE_SHARDS = 1;
const CREATE_SET_ID = 2;

const QUERY_CODES = { getRoute: 1, listRoutes: 2, listSets: 3, listChanges: 4 } as const satisfies Record<ControllerQueryKind, number>;

const RESULT_CODES = { error: 0, done: 1, entity: 2, routes: 3, sets: 4, adopted: 5 } as const satisfies Record<ControllerResultKind | 'error', number>;

function byCode<K extends string>(codes: Record<K, number>): Map<number, K> {
  return new Map((Object.entries(codes) as [K, number][]).map(([k, c]) => [c, k]));
}
const COMMAND_KINDS = byCode<ControllerCommandKind>(COMMAND_CODES);
const QUERY_KINDS = byCode<ControllerQueryKind>(QUERY_CODES);
const RESULT_KINDS = byCode<ControllerResultKind | 'error'>(RESULT_CODES);

function header(kindCode: number): ByteWriter {
  const w = new ByteWriter(64);
  w.u8(CONTROLLER_CODEC_VERSION);
  w.u8(kindCode);
  return w;
}

/** Runs `body` over the whole of `bytes` after the version; undefined on any malformation. */
function decodeWith<T>(bytes: Uint8Array, body: (r: ByteReader, kindCode: number) => T): T | undefined {
  try {
    const r = new ByteReader(bytes, 0, bytes.length);
    check(r.u8() === CONTROLLER_CODEC_VERSION, 'unsupported version');
    const out = body(r, r.u8());
    r.expectEnd('controller message');
    return out;
  } catch (e) {
    if (e instanceof FormatError) return undefined;
    throw e;
  }
}

export function encodeControllerCommand(cmd: ControllerCommand): Uint8Array {
  const w = header(COMMAND_CODES[cmd.kind]);
  switch (cmd.kind) {
    case 'registerSet':
      w.f64(cmd.setId);
      w.f64(cmd.group);
      writeMembers(w, cmd.members);
      break;
    case 'setMembers':
      w.f64(cmd.setId);
      writeMembers(w, cmd.members);
      break;
    case 'setSetState':
      w.f64(cmd.setId);
      writeEnum(w, SET_STATES, cmd.state);
      break;
    case 'reportLoad':
      w.f64(cmd.setId);
      w.f64(cmd.queues);
      w.f64(cmd.messages);
      w.f64(cmd.bytes);
      w.f64(cmd.requestsPerSecond);
      break;
    case 'createEntity':
      writeType(w, cmd.type);
      w.shortStr(cmd.name);
      w.u8((cmd.shards === undefined ? 0 : CREATE_SHARDS) | (cmd.setId === undefined ? 0 : CREATE_SET_ID));
      if (cmd.shards !== undefined) w.f64(cmd.shards);
      if (cmd.setId !== undefined) w.f64(cmd.setId);
      break;
    case 'deleteEntity':
    case 'advanceMove':
    case 'completeMove':
    case 'abortMove':
      writeType(w, cmd.type);
      w.shortStr(cmd.name);
      break;
    case 'beginMove':
      writeType(w, cmd.type);
      w.shortStr(cmd.name);
      w.f64(cmd.to);
      w.u8(cmd.shard === undefined ? 0 : 1);
      if (cmd.shard !== undefined) w.f64(cmd.shard);
      break;
    case 'growShards':
      w.shortStr(cmd.name);
      w.f64(cmd.shards);
      break;
    case 'confirmShard':
      w.shortStr(cmd.name);
      w.f64(cmd.shard);
      break;
    case 'adoptEntities':
      w.f64(cmd.setId);
      w.u32(cmd.entities.length);
      for (const e of cmd.entities) {
        writeType(w, e.type);
        w.shortStr(e.name);
      }
      break;
  }
  return w.finish();
}

export function decodeControllerCommand(bytes: Uint8Array): ControllerCommand | undefined {
  return decodeWith(bytes, (r, code): ControllerCommand => {
    const kind = COMMAND_KINDS.get(code);
    check(kind !== undefined, `command code ${code}`);
    switch (kind) {
      case 'registerSet':
        return { kind, setId: r.f64(), group: r.f64(), members: readMembers(r) };
      case 'setMembers':
        return { kind, setId: r.f64(), members: readMembers(r) };
      case 'setSetState':
        return { kind, setId: r.f64(), state: readEnum(r, SET_STATES) };
      case 'reportLoad':
        return { kind, setId: r.f64(), queues: r.f64(), messages: r.f64(), bytes: r.f64(), requestsPerSecond: r.f64() };
      case 'createEntity': {
        const cmd: ControllerCommand = { kind, type: readType(r), name: r.shortStr() };
        const fields = r.u8();
        check((fields & ~(CREATE_SHARDS | CREATE_SET_ID)) === 0, `createEntity fields ${fields}`);
        if (fields & CREATE_SHARDS) cmd.shards = r.f64();
        if (fields & CREATE_SET_ID) cmd.setId = r.f64();
        return cmd;
      }
      case 'deleteEntity':
      case 'advanceMove':
      case 'completeMove':
      case 'abortMove':
        return { kind, type: readType(r), name: r.shortStr() };
      case 'beginMove': {
        const cmd: ControllerCommand = { kind, type: readType(r), name: r.shortStr(), to: r.f64() };
        if (readFlag(r)) cmd.shard = r.f64();
        return cmd;
      }
      case 'growShards':
        return { kind, name: r.shortStr(), shards: r.f64() };
      case 'confirmShard':
        return { kind, name: r.shortStr(), shard: r.f64() };
      case 'adoptEntities': {
        const setId = r.f64();
        const entities: EntityRef[] = [];
        for (let n = r.u32(); n > 0; n--) entities.push({ type: readType(r), name: r.shortStr() });
        return { kind, setId, entities };
      }
    }
  });
}

export function encodeControllerQuery(q: ControllerQuery): Uint8Array {
  const w = header(QUERY_CODES[q.kind]);
  switch (q.kind) {
    case 'getRoute':
      writeType(w, q.type);
      w.shortStr(q.name);
      break;
    case 'listRoutes':
      writeType(w, q.type);
      w.shortStr(q.prefix);
      w.f64(q.offset);
      w.f64(q.limit);
      break;
    case 'listSets':
      break;
    case 'listChanges':
      w.f64(q.offset);
      w.f64(q.limit);
      break;
  }
  return w.finish();
}

export function decodeControllerQuery(bytes: Uint8Array): ControllerQuery | undefined {
  return decodeWith(bytes, (r, code): ControllerQuery => {
    const kind = QUERY_KINDS.get(code);
    check(kind !== undefined, `query code ${code}`);
    switch (kind) {
      case 'getRoute':
        return { kind, type: readType(r), name: r.shortStr() };
      case 'listRoutes':
        return { kind, type: readType(r), prefix: r.shortStr(), offset: r.f64(), limit: r.f64() };
      case 'listSets':
        return { kind };
      case 'listChanges':
        return { kind, offset: r.f64(), limit: r.f64() };
    }
  });
}

export function encodeControllerResult(res: ControllerResult): Uint8Array {
  if (!res.ok) {
    const w = header(RESULT_CODES.error);
    w.shortStr(res.error);
    writeOpt(w, res.arg);
    writeOpt(w, res.detail);
    return w.finish();
  }
  const w = header(RESULT_CODES[res.kind]);
  w.f64(res.routeEpoch);
  switch (res.kind) {
    case 'done':
      break;
    case 'entity':
      writeEntity(w, res.entity);
      break;
    case 'routes':
      w.f64(res.totalCount);
      w.u32(res.entities.length);
      for (const e of res.entities) writeEntity(w, e);
      break;
    case 'sets':
      w.u32(res.sets.length);
      for (const s of res.sets) {
        writeSet(w, s);
        w.f64(s.entities);
      }
      break;
    case 'adopted':
      w.f64(res.adopted);
      w.u32(res.conflicts.length);
      for (const c of res.conflicts) {
        writeType(w, c.type);
        w.shortStr(c.name);
        w.f64(c.setId);
      }
      break;
  }
  return w.finish();
}

export function decodeControllerResult(bytes: Uint8Array): ControllerResult | undefined {
  return decodeWith(bytes, (r, code): ControllerResult => {
    const kind = RESULT_KINDS.get(code);
    check(kind !== undefined, `result code ${code}`);
    if (kind === 'error') {
      const name = r.shortStr();
      check(Object.hasOwn(ERRORS, name), `unknown error ${name}`);
      const res: { ok: false; error: ErrorName; arg?: string; detail?: string } = { ok: false, error: name as ErrorName };
      const arg = readOpt(r);
      const detail = readOpt(r);
      if (arg !== undefined) res.arg = arg;
      if (detail !== undefined) res.detail = detail;
      return res satisfies ErrorResult;
    }
    const routeEpoch = r.int();
    switch (kind) {
      case 'done':
        return { ok: true, kind, routeEpoch };
      case 'entity':
        return { ok: true, kind, entity: readEntity(r), routeEpoch };
      case 'routes': {
        const totalCount = r.int();
        const n = r.u32();
        const entities: EntityRecord[] = [];
        for (let i = 0; i < n; i++) entities.push(readEntity(r));
        return { ok: true, kind, totalCount, entities, routeEpoch };
      }
      case 'sets': {
        const n = r.u32();
        const sets: SetView[] = [];
        for (let i = 0; i < n; i++) sets.push({ ...readSet(r), entities: r.int() });
        return { ok: true, kind, sets, routeEpoch };
      }
      case 'adopted': {
        const adopted = r.int();
        const conflicts: AdoptConflict[] = [];
        for (let n = r.u32(); n > 0; n--) conflicts.push({ type: readType(r), name: r.shortStr(), setId: r.int() });
        return { ok: true, kind, adopted, conflicts, routeEpoch };
      }
    }
  });
}
