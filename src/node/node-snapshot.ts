// What a node's snapshot file holds: the Raft configuration at the snapshot point (the voters) and
// the queue state machine's own snapshot bytes. The snapshot store adds the index, term and CRC.

const MAGIC = 0x4e534e31; // "NSN1"
const HEADER_BYTES = 8;

export interface NodeSnapshot {
  voters: string[];
  stateMachine: Uint8Array;
}

export function encodeNodeSnapshot(s: NodeSnapshot): Uint8Array {
  const voters = Buffer.from(JSON.stringify(s.voters));
  const out = Buffer.allocUnsafe(HEADER_BYTES + voters.length + s.stateMachine.byteLength);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(voters.length, 4);
  voters.copy(out, HEADER_BYTES);
  out.set(s.stateMachine, HEADER_BYTES + voters.length);
  return out;
}

export function decodeNodeSnapshot(data: Uint8Array): NodeSnapshot {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < HEADER_BYTES || buf.readUInt32LE(0) !== MAGIC) throw new Error('snapshot: not a node snapshot');
  const votersLen = buf.readUInt32LE(4);
  if (HEADER_BYTES + votersLen > buf.length) throw new Error('snapshot: truncated voter list');
  const voters = JSON.parse(buf.toString('utf8', HEADER_BYTES, HEADER_BYTES + votersLen)) as unknown;
  if (!Array.isArray(voters) || !voters.every((v) => typeof v === 'string')) throw new Error('snapshot: bad voter list');
  return { voters, stateMachine: buf.subarray(HEADER_BYTES + votersLen) };
}
