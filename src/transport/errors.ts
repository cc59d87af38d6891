// Typed failures of the peer transport. The node layer turns them into CMQ errors for clients; they
// never reach a client as-is.

export type TransportErrorCode =
  | 'PEER_UNAVAILABLE'
  | 'REQUEST_NOT_SENT'
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
  readonly code: 'PEER_UNAVAILABLE' | 'REQUEST_NOT_SENT' = 'PEER_UNAVAILABLE';
}

/**
 * The request never left this node: there was no connection, or it was still waiting in the send
 * queue when its connection closed, the transport closed or its timeout passed (it was withdrawn
 * then, so it cannot leave later). The peer cannot have executed it. A subclass of
 * PeerUnavailableError, which callers that do not care about the difference keep catching.
 */
export class RequestNotSentError extends PeerUnavailableError {
  override readonly code = 'REQUEST_NOT_SENT';
}

/** The peer did not answer within the request's timeout (it may still execute the request). */
export class PeerTimeoutError extends TransportError {
  readonly code = 'PEER_TIMEOUT';
}

/**
 * Too many requests in flight to the peer, its send queue is full, or the peer answered "busy"
 * (before running its handler). Either way the peer did not execute the request.
 */
export class PeerOverloadedError extends TransportError {
  readonly code = 'PEER_OVERLOADED';
}

/** The peer's request handler failed (threw, or none is installed); the message says how. */
export class PeerRemoteError extends TransportError {
  readonly code = 'PEER_REMOTE_ERROR';
}

/**
 * The peer refused the request before running anything: the group has no request handler there,
 * or does not take requests from this node (it is not one of the group's peers there, and the
 * group is not open). Nothing was executed, so a caller may try another node.
 */
export class PeerRefusedError extends PeerRemoteError {}

/** A payload is larger than `limits.frameBytesMax` allows. */
export class FrameTooLargeError extends TransportError {
  readonly code = 'FRAME_TOO_LARGE';
}

/** The peer id is not in the configured peer set. */
export class UnknownPeerError extends TransportError {
  readonly code = 'UNKNOWN_PEER';
}

/**
 * Whether a failed request certainly was not executed by the peer: it never left this node, was
 * refused before it was queued (no connection, too many in flight, too large, unknown peer), or the
 * peer refused it before running its handler (busy, no handler, not admitted). Every other
 * failure (connection lost or timeout after the request was written, the handler failed) leaves
 * the outcome unknown.
 */
export function requestNotExecuted(err: unknown): boolean {
  return (
    err instanceof RequestNotSentError ||
    err instanceof PeerOverloadedError ||
    err instanceof UnknownPeerError ||
    err instanceof FrameTooLargeError ||
    err instanceof PeerRefusedError
  );
}
