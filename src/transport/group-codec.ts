// The group id on the wire: an unsigned LEB128 varint (1 byte for groups 0..127, at most 5 for a
// u32) at the start of the payload of the group channels (frame-codec.ts CHANNEL.groupRaft,
// CHANNEL.groupRpcRequest). Group 0, the single set of today, costs one byte per frame.

import type { GroupId } from './peer-network';

export const GROUP_ID_MAX = 0xffff_ffff;
/** The longest encoding, of a u32. */
export const GROUP_ID_BYTES_MAX = 5;

export function isGroupId(value: unknown): value is GroupId {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= GROUP_ID_MAX;
}

export function groupIdBytes(group: GroupId): number {
  if (group < 128) return 1;
  let bytes = 1;
  for (let rest = Math.floor(group / 128); rest > 0; rest = Math.floor(rest / 128)) bytes += 1;
  return bytes;
}

/** Writes `group` at `offset`; returns the offset after it. */
export function writeGroupId(target: Uint8Array, offset: number, group: GroupId): number {
  let rest = group;
  let at = offset;
  while (rest >= 128) {
    target[at++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  target[at++] = rest;
  return at;
}

/** Reads the group id at the start of `payload`; undefined if it is truncated, over-long or above u32. */
export function readGroupId(payload: Uint8Array): { group: GroupId; bytes: number } | undefined {
  const first = payload[0];
  if (first !== undefined && first < 128) return { group: first, bytes: 1 };
  let group = 0;
  let scale = 1;
  for (let i = 0; i < GROUP_ID_BYTES_MAX && i < payload.length; i++) {
    const byte = payload[i]!;
    group += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      // A longer encoding than needed would make one group id two different byte strings.
      if (i > 0 && byte === 0) return undefined;
      return group <= GROUP_ID_MAX ? { group, bytes: i + 1 } : undefined;
    }
    scale *= 128;
  }
  return undefined;
}
