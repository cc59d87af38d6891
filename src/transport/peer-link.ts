// Everything the transport keeps about one peer: where to dial it, the live connection (at most
// one, plus a newer one from the peer awaiting its first frame), the dial in progress, the send
// queue, the requests in flight, and the counters reported by stats().

import type { Connection, LinkCounters } from './connection';
import type { DialerHandshake } from './handshake-session';
import { SendQueue, type QueuedFrame } from './send-queue';
import type { Socket } from 'node:net';

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

export interface DialAttempt {
  readonly socket: Socket;
  /** 'handshake' once TCP is up and our HELLO is out: from then on our dial can win a tie-break. */
  phase: 'connecting' | 'handshake';
  session: DialerHandshake | null;
  connectTimer: NodeJS.Timeout | null;
}

export interface PendingRequest {
  /** The connection the request went out on: if it closes, the request fails at once. */
  readonly conn: Connection;
  readonly resolve: (payload: Buffer) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** The request's frame: whether it left this node decides how a failure is reported. */
  readonly frame: QueuedFrame & { request: { written: boolean; readonly id: number } };
}

export interface PeerCounters extends LinkCounters {
  dropped: number;
  droppedBytes: number;
  connects: number;
  dialAttempts: number;
  rpcTimeouts: number;
  rpcLateResponses: number;
  rpcResponsesDropped: number;
  /** Frames and requests from the peer for a group this node does not serve with it. */
  unknownGroupFrames: number;
}

export class PeerLink {
  /** Invariant: if non-null, open and the only connection frames are written to. */
  active: Connection | null = null;
  /** An accepted connection that will replace `active` once the peer sends on it. */
  standby: Connection | null = null;
  dial: DialAttempt | null = null;
  retryTimer: NodeJS.Timeout | null = null;
  /** Failed dials since the last successful connection: drives the backoff. */
  failedAttempts = 0;
  /** Last dial failure logged, so a peer that stays down is not logged every retry. */
  lastDialError: string | null = null;
  lastError: string | null = null;
  /** True while raft frames are being dropped (logged once per episode). */
  dropping = false;
  removed = false;
  /**
   * Whether the peer's latest connection carries group ids (null: no connection has said yet).
   * Kept across reconnects: frames of groups other than 0 are refused while it is false.
   */
  groupFrames: boolean | null = null;
  readonly queue = new SendQueue();
  readonly pending = new Map<number, PendingRequest>();
  /** Requests from this peer being handled here. */
  serving = 0;
  readonly counters: PeerCounters = {
    bytesIn: 0,
    bytesOut: 0,
    framesIn: 0,
    framesOut: 0,
    writes: 0,
    dropped: 0,
    droppedBytes: 0,
    connects: 0,
    dialAttempts: 0,
    rpcTimeouts: 0,
    rpcLateResponses: 0,
    rpcResponsesDropped: 0,
    unknownGroupFrames: 0,
  };

  constructor(
    readonly id: string,
    /** Where to dial the peer; null for an inbound-only peer (it called an open group). */
    public address: PeerAddress | null,
  ) {}
}
