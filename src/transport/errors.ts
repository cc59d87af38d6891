// Typed failures of the peer transport. The node layer turns them into CMQ errors for clients; they
// never reach a client as-is.

export type TransportErrorCode =
  | 'PEER_UNAVAILABLE'
  | 'PEER_TIMEOUT'
  | 'PEER_OVERLOADED'
  | 'PEER_REMOTE_ERROR'
  | 'FRAME_TOO_LARGE'
  | 'UNKNOWN_PEER';

export abstract class TransportError extends Error {
  abstract readonly code: TransportErrorCode;
  constructor(
    message: string,
    /** The peer the failed operation was aimed at. */
    readonly peer: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * No connection to the peer, or the connection dropped while the request was in flight, or the
 * transport closed. A forwarded request that fails this way may or may not have been executed.
 */
export class PeerUnavailableError extends TransportError {
  readonly code = 'PEER_UNAVAILABLE';
}

/** The peer did not answer within the request's timeout (it may still execute the request). */
export class PeerTimeoutError extends TransportError {
  readonly code = 'PEER_TIMEOUT';
}

/** Too many requests in flight to the peer, its send queue is full, or the peer answered "busy". */
export class PeerOverloadedError extends TransportError {
  readonly code = 'PEER_OVERLOADED';
}

/** The peer's request handler failed (threw, or none is installed); the message says how. */
export class PeerRemoteError extends TransportError {
  readonly code = 'PEER_REMOTE_ERROR';
}

/** A payload is larger than `limits.frameBytesMax` allows. */
export class FrameTooLargeError extends TransportError {
  readonly code = 'FRAME_TOO_LARGE';
}

/** The peer id is not in the configured peer set. */
export class UnknownPeerError extends TransportError {
  readonly code = 'UNKNOWN_PEER';
}
