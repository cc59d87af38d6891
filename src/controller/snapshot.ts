// Binary snapshot of the controller state machine: everything it holds, in a canonical order (sets
// by id, entities by type and lower-cased name), so two replicas that applied the same entries
// write the same bytes. Per-set entity counts are derived data, recounted on restore.
//
// Layout (little-endian):
//   "OCCS" u8 version
//   f64 routeEpoch, u32 setCount, setCount × set, u32 entityCount, entityCount × entity
// with set and entity as in ./records.ts. The Raft index the snapshot stands for is kept by the
// driver beside it, as for the broker's. Decoding never throws: malformed bytes give undefined.

import { ByteReader, ByteWriter, FormatError } from '../protocol/binary';
import { entityKey, type EntityRecord, type SetRecord } from './model';
import { check, readEntity, readSet, writeEntity, writeSet } from './records';

export const CONTROLLER_SNAPSHOT_MAGIC = [0x4f, 0x43, 0x43, 0x53];
export const CONTROLLER_SNAPSHOT_VERSION = 1;

export interface ControllerSnapshot {
  routeEpoch: number;
  sets: SetRecord[];
  entities: EntityRecord[];
}

function byKey(a: EntityRecord, b: EntityRecord): number {
  const ka = entityKey(a.type, a.name);
  const kb = entityKey(b.type, b.name);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function encodeSnapshot(s: ControllerSnapshot): Uint8Array {
  const w = new ByteWriter(64 + s.sets.length * 256 + s.entities.length * 64);
  for (const b of CONTROLLER_SNAPSHOT_MAGIC) w.u8(b);
  w.u8(CONTROLLER_SNAPSHOT_VERSION);
  w.f64(s.routeEpoch);
  w.u32(s.sets.length);
  for (const set of [...s.sets].sort((a, b) => a.id - b.id)) writeSet(w, set);
  w.u32(s.entities.length);
  for (const e of [...s.entities].sort(byKey)) writeEntity(w, e);
  return w.finish();
}

export function decodeSnapshot(bytes: Uint8Array): ControllerSnapshot | undefined {
  try {
    const r = new ByteReader(bytes, 0, bytes.length);
    for (const b of CONTROLLER_SNAPSHOT_MAGIC) check(r.u8() === b, 'not a controller snapshot');
    const version = r.u8();
    check(version === CONTROLLER_SNAPSHOT_VERSION, `unsupported snapshot version ${version}`);
    const routeEpoch = r.int();
    const sets: SetRecord[] = [];
    for (let i = r.u32(); i > 0; i--) sets.push(readSet(r));
    const entities: EntityRecord[] = [];
    for (let i = r.u32(); i > 0; i--) entities.push(readEntity(r));
    r.expectEnd('controller snapshot');
    return { routeEpoch, sets, entities };
  } catch (e) {
    if (e instanceof FormatError) return undefined;
    throw e;
  }
}
