// Public surface of the peer transport (see docs/transport.md).
export {
  PeerTransport,
  type MessageHandler,
  type OneWayChannel,
  type PeerAddress,
  type PeerStats,
  type PeerTransportOptions,
  type RequestHandler,
  type TransportStats,
} from './peer-transport';
export {
  FrameTooLargeError,
  PeerOverloadedError,
  PeerRefusedError,
  PeerRemoteError,
  PeerTimeoutError,
  PeerUnavailableError,
  RequestNotSentError,
  requestNotExecuted,
  TransportError,
  UnknownPeerError,
  type TransportErrorCode,
} from './errors';
export { TRANSPORT_LIMITS, type TransportLimits } from './limits';
export type { GroupId, PeerNetwork } from './peer-network';
export { CURRENT_WIRE_VERSION, WIRE_VERSION, type WireVersion } from './wire-version';
