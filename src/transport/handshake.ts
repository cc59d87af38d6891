// The handshake messages, their encoding, and the HMAC proofs and link keys derived from the
// cluster secret. Each side proves it knows the secret without sending it: a proof is
// HMAC-SHA256(secret, role label ‖ both node ids ‖ both nonces), so it is bound to this connection
// and cannot be replayed or reflected. Layouts are in docs/transport.md.

import { createHmac, timingSafeEqual } from 'node:crypto';

import { CHANNEL, FRAME_HEADER_BYTES, writeFrameHeader } from './frame-codec';
import { MAC_KEY_BYTES } from './batch-mac';

export const HANDSHAKE_MAGIC = Buffer.from('OCMQ', 'latin1');
export const PROTOCOL_VERSION = 1;
export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;

const TYPE = { hello: 1, challenge: 2, auth: 3, welcome: 4, reject: 5, withdraw: 6 } as const;

/** Why an authenticated dialer was turned away (strangers are just disconnected, never told why). */
export const REJECT_REASON = {
  /** Our own dial to the dialer is mid-handshake and wins the tie (lower node id). */
  duplicate: 1,
} as const;
export type RejectReason = keyof typeof REJECT_REASON;

export type HandshakeMessage =
  | { readonly type: 'hello'; readonly dialerId: string; readonly acceptorId: string; readonly dialerNonce: Buffer }
  | { readonly type: 'challenge'; readonly acceptorNonce: Buffer; readonly acceptorProof: Buffer }
  | { readonly type: 'auth'; readonly dialerProof: Buffer }
  | { readonly type: 'welcome' }
  | { readonly type: 'reject'; readonly reason: RejectReason }
  /** Dialer to acceptor: "I no longer need this connection" (it accepted one from you meanwhile). */
  | { readonly type: 'withdraw' };

/** What both proofs and both link keys are bound to. */
export interface HandshakeTranscript {
  readonly dialerId: string;
  readonly acceptorId: string;
  readonly dialerNonce: Buffer;
  readonly acceptorNonce: Buffer;
}

/** The whole frame (header included) carrying one handshake message. */
export function encodeHandshake(message: HandshakeMessage): Buffer {
  const body = handshakeBody(message);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + HANDSHAKE_MAGIC.length + 2 + body.length);
  writeFrameHeader(frame, 0, CHANNEL.handshake, frame.length - FRAME_HEADER_BYTES);
  HANDSHAKE_MAGIC.copy(frame, FRAME_HEADER_BYTES);
  frame[FRAME_HEADER_BYTES + 4] = PROTOCOL_VERSION;
  frame[FRAME_HEADER_BYTES + 5] = TYPE[message.type];
  body.copy(frame, FRAME_HEADER_BYTES + 6);
  return frame;
}

function handshakeBody(message: HandshakeMessage): Buffer {
  switch (message.type) {
    case 'hello':
      return Buffer.concat([message.dialerNonce, shortString(message.dialerId), shortString(message.acceptorId)]);
    case 'challenge':
      return Buffer.concat([message.acceptorNonce, message.acceptorProof]);
    case 'auth':
      return message.dialerProof;
    case 'welcome':
    case 'withdraw':
      return Buffer.alloc(0);
    case 'reject':
      return Buffer.from([REJECT_REASON[message.reason]]);
  }
}

/** Parses a handshake frame's payload; a string result says what is wrong with it. */
export function decodeHandshake(payload: Buffer): HandshakeMessage | string {
  if (payload.length < 6 || !payload.subarray(0, 4).equals(HANDSHAKE_MAGIC)) return 'not an opencmq peer (bad magic)';
  if (payload[4] !== PROTOCOL_VERSION) return `unsupported peer protocol version ${payload[4]}`;
  const type = payload[5]!;
  const body = payload.subarray(6);
  switch (type) {
    case TYPE.hello: {
      if (body.length < NONCE_BYTES + 2) return 'truncated hello';
      const dialerNonce = Buffer.from(body.subarray(0, NONCE_BYTES));
      const dialer = readShortString(body, NONCE_BYTES);
      const acceptor = dialer && readShortString(body, dialer.end);
      if (!dialer || !acceptor || acceptor.end !== body.length) return 'malformed hello';
      return { type: 'hello', dialerId: dialer.value, acceptorId: acceptor.value, dialerNonce };
    }
    case TYPE.challenge:
      if (body.length !== NONCE_BYTES + PROOF_BYTES) return 'malformed challenge';
      return { type: 'challenge', acceptorNonce: Buffer.from(body.subarray(0, NONCE_BYTES)), acceptorProof: Buffer.from(body.subarray(NONCE_BYTES)) };
    case TYPE.auth:
      if (body.length !== PROOF_BYTES) return 'malformed auth';
      return { type: 'auth', dialerProof: Buffer.from(body) };
    case TYPE.welcome:
      return body.length === 0 ? { type: 'welcome' } : 'malformed welcome';
    case TYPE.withdraw:
      return body.length === 0 ? { type: 'withdraw' } : 'malformed withdraw';
    case TYPE.reject:
      if (body.length === 1 && body[0] === REJECT_REASON.duplicate) return { type: 'reject', reason: 'duplicate' };
      return 'malformed reject';
    default:
      return `unknown handshake message type ${type}`;
  }
}

function shortString(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length === 0 || bytes.length > 255) throw new RangeError(`node id must be 1..255 bytes: '${value}'`);
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

function readShortString(buf: Buffer, at: number): { value: string; end: number } | undefined {
  const len = buf[at];
  if (len === undefined || len === 0 || at + 1 + len > buf.length) return undefined;
  return { value: buf.toString('utf8', at + 1, at + 1 + len), end: at + 1 + len };
}

const LABEL = {
  dialerProof: 'opencmq-peer-v1 dialer proof',
  acceptorProof: 'opencmq-peer-v1 acceptor proof',
  dialerToAcceptorKey: 'opencmq-peer-v1 mac key dialer->acceptor',
  acceptorToDialerKey: 'opencmq-peer-v1 mac key acceptor->dialer',
} as const;

function transcriptHmac(secret: Buffer, label: string, t: HandshakeTranscript): Buffer {
  return createHmac('sha256', secret)
    .update(label, 'latin1')
    .update(Buffer.from([0]))
    .update(shortString(t.dialerId))
    .update(shortString(t.acceptorId))
    .update(t.dialerNonce)
    .update(t.acceptorNonce)
    .digest();
}

export function handshakeProof(secret: Buffer, role: 'dialer' | 'acceptor', t: HandshakeTranscript): Buffer {
  return transcriptHmac(secret, role === 'dialer' ? LABEL.dialerProof : LABEL.acceptorProof, t);
}

export function proofMatches(expected: Buffer, received: Buffer): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

/** One GMAC key per direction of this connection. */
export function linkKeys(secret: Buffer, t: HandshakeTranscript): { dialerToAcceptor: Buffer; acceptorToDialer: Buffer } {
  const dialerToAcceptor = transcriptHmac(secret, LABEL.dialerToAcceptorKey, t);
  const acceptorToDialer = transcriptHmac(secret, LABEL.acceptorToDialerKey, t);
  if (dialerToAcceptor.length !== MAC_KEY_BYTES) throw new Error('link key length');
  return { dialerToAcceptor, acceptorToDialer };
}
