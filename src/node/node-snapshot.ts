// What a node's snapshot file holds: the Raft configuration at the snapshot point (the voters) and
// the queue state machine's own snapshot bytes. The snapshot store adds the index, term and CRC.

const MAGIC = 0x4e534e31; // "NSN1"
const HEADER_BYTES = 8;

export interface NodeSnapshot {
  voters: string[];
  /** Peer addresses ("host:port") of voters added by config changes the snapshot covers. */
  addresses: Record<string, string>;
  stateMachine: Uint8Array;
}

export function encodeNodeSnapshot(s: NodeSnapshot): Uint8Array {
  return Buffer.concat([configPart(s), s.stateMachine]);
}

/**
 * The same bytes as `encodeNodeSnapshot`, as pieces: the configuration part, then the state
 * machine's snapshot a piece at a time as `next` emits it (one piece per call, asked for lazily).
 */
export function* nodeSnapshotPieces(config: Omit<NodeSnapshot, 'stateMachine'>, stateMachine: { next(): Uint8Array | undefined }): Generator<Uint8Array> {
  yield configPart(config);
  for (let p = stateMachine.next(); p !== undefined; p = stateMachine.next()) yield p;
}

function configPart(s: Omit<NodeSnapshot, 'stateMachine'>): Buffer {
  // The configuration part is JSON: a plain voter array (first format) or { voters, addresses }.
  const voters = Buffer.from(JSON.stringify({ voters: s.voters, addresses: s.addresses }));
  const out = Buffer.allocUnsafe(HEADER_BYTES + voters.length);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(voters.length, 4);
  voters.copy(out, HEADER_BYTES);
  return out;
}

export function decodeNodeSnapshot(data: Uint8Array): NodeSnapshot {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < HEADER_BYTES || buf.readUInt32LE(0) !== MAGIC) throw new Error('snapshot: not a node snapshot');
  const votersLen = buf.readUInt32LE(4);
  if (HEADER_BYTES + votersLen > buf.length) throw new Error('snapshot: truncated voter list');
  const config = JSON.parse(buf.toString('utf8', HEADER_BYTES, HEADER_BYTES + votersLen)) as unknown;
  const obj = Array.isArray(config) ? { voters: config as unknown, addresses: {} } : (config as { voters?: unknown; addresses?: unknown } | null);
  const voters = obj?.voters;
  const addresses = obj?.addresses;
  if (!Array.isArray(voters) || !voters.every((v) => typeof v === 'string')) throw new Error('snapshot: bad voter list');
  if (typeof addresses !== 'object' || addresses === null || !Object.values(addresses).every((a) => typeof a === 'string')) {
    throw new Error('snapshot: bad address list');
  }
  return { voters, addresses: addresses as Record<string, string>, stateMachine: buf.subarray(HEADER_BYTES + votersLen) };
}
