// What one Raft group sees of the peer network. A node hosts several groups (its share of several
// sets, a controller member) over one PeerTransport: each group gets its own view, with its own
// peers and handlers, and its frames carry its group id on the wire (docs/transport.md).

import type { PeerAddress } from './peer-link';

/** u32; the single set of a node without groups is group 0. */
export type GroupId = number;

export interface PeerNetwork {
  /** This group's peers; the transport dials the union of every group's peers. */
  setPeers(peers: Readonly<Record<string, PeerAddress>>): void;
  onMessage(handler: (from: string, payload: Buffer) => void): void;
  /** False when the frame was not queued (unknown peer, overloaded link). */
  send(peer: string, payload: Uint8Array): boolean;
  /**
   * `fromPeer` is false for a caller admitted only because the group is open (not one of its
   * peers): such a caller may use only what the group serves to every node of the cluster.
   */
  onRequest(handler: (from: string, payload: Buffer, fromPeer: boolean) => Promise<Uint8Array>): void;
  request(peer: string, payload: Uint8Array, options?: { timeoutMs?: number }): Promise<Buffer>;
  /**
   * The wire version of the live connection to `peer`, the lower of both sides'
   * (wire-version.ts); undefined while there is none. It tells which peer services the peer offers.
   */
  peerWireVersion(peer: string): number | undefined;
  /**
   * How long ago anything (any group's frame, a ping) last arrived from `peer` on the live
   * connection, in ms; undefined while there is none. Raft heartbeats keep a healthy link busy
   * both ways, so a long silence means the peer is frozen or cut off (failure detection).
   */
  peerSilenceMs(peer: string): number | undefined;
}
