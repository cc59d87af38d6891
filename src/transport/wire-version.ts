// Which frame layout a link uses, and which peer services the node behind it offers. The handshake (handshake.ts) cannot say: nodes of wire version 1
// accept only handshake version 1 and parse each handshake message strictly, so any extension of
// it would lock them out during a rolling upgrade. Instead each side's first frame after the
// handshake announces its wire version in the payload of a ping, which version 1 nodes ignore
// (they read no ping payload). Frames for groups travel on their own channels (frame-codec.ts),
// sent only to a peer that announced version 2 or later; every inbound frame says by its channel
// which layout it has, so no frame depends on when the announcement arrived.

/** Wire versions. Values are part of the wire protocol (docs/transport.md). */
export const WIRE_VERSION = {
  /** No group ids: every frame is for group 0. Nodes before groups; they send an empty first ping. */
  legacy: 1,
  /** Group ids on raft frames and rpc requests (the group channels). */
  groups: 2,
  /**
   * The frames of version 2; the node also answers service calls (a follower's calls of the
   * queue service, node/service-calls.ts), so a follower runs a client request itself and sends
   * the leader only the call. To a node of version 2 a follower forwards the request whole.
   */
  serviceCalls: 3,
  /**
   * The frames and services of version 3; the node's state machine also applies the commands of
   * the SQS API's release (new command kinds, and extensions of send, receive, publish and queue
   * attributes: broker/compat.ts). A leader proposes them only while no voter announces less.
   */
  sqsCommands: 4,
} as const;

export type WireVersion = (typeof WIRE_VERSION)[keyof typeof WIRE_VERSION];

export const CURRENT_WIRE_VERSION: WireVersion = WIRE_VERSION.sqsCommands;

export function isWireVersion(v: number): v is WireVersion {
  return (Object.values(WIRE_VERSION) as number[]).includes(v);
}

/** The announcement: a ping payload of [u8 wire version]. */
export function wireAnnouncement(version: WireVersion): Buffer {
  return Buffer.from([version]);
}

/**
 * The peer's wire version from its first frame after the handshake: an announcing ping says it;
 * anything else (an empty ping, a raft frame) comes from a version 1 node.
 */
export function peerWireVersion(firstChannelIsPing: boolean, payload: Buffer): number {
  if (!firstChannelIsPing || payload.length === 0) return WIRE_VERSION.legacy;
  return Math.max(WIRE_VERSION.legacy, payload[0]!);
}
