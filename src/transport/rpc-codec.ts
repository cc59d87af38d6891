// Request/response framing on the rpc channels: a request is [u32 id][payload]; a response is
// [u32 id][u8 status][payload], matched to its request by id on the requesting side.

/** Status byte of a response. Values are part of the wire protocol (docs/transport.md). */
export const RPC_STATUS = {
  ok: 0,
  /** The handler threw or rejected; the payload is the UTF-8 error message. */
  handlerError: 1,
  /** The peer already serves rpcServingPerPeerMax requests from us. */
  busy: 2,
  /** The peer has no request handler installed. */
  noHandler: 3,
} as const;

export type RpcStatus = (typeof RPC_STATUS)[keyof typeof RPC_STATUS];

export const RPC_REQUEST_PREFIX_BYTES = 4;
export const RPC_RESPONSE_PREFIX_BYTES = 5;

export function requestPrefix(id: number): Buffer {
  const prefix = Buffer.allocUnsafe(RPC_REQUEST_PREFIX_BYTES);
  prefix.writeUInt32BE(id, 0);
  return prefix;
}

export function responsePrefix(id: number, status: RpcStatus): Buffer {
  const prefix = Buffer.allocUnsafe(RPC_RESPONSE_PREFIX_BYTES);
  prefix.writeUInt32BE(id, 0);
  prefix[4] = status;
  return prefix;
}

/** The request starting at `offset` of `payload` (after a group id, on the group channel). */
export function parseRequest(payload: Buffer, offset = 0): { id: number; body: Buffer } | undefined {
  if (payload.length - offset < RPC_REQUEST_PREFIX_BYTES) return undefined;
  return { id: payload.readUInt32BE(offset), body: payload.subarray(offset + RPC_REQUEST_PREFIX_BYTES) };
}

export function parseResponse(payload: Buffer): { id: number; status: number; body: Buffer } | undefined {
  if (payload.length < RPC_RESPONSE_PREFIX_BYTES) return undefined;
  return { id: payload.readUInt32BE(0), status: payload[4]!, body: payload.subarray(RPC_RESPONSE_PREFIX_BYTES) };
}
