// Runs the handshake of handshake.ts on a socket, for either role, under a deadline. Until it
// succeeds nothing the other side sends is delivered anywhere: only handshake frames of at most
// `handshakeFrameBytesMax` bytes are parsed, and anything else ends the connection.

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';

import { CHANNEL, FrameDecoder } from './frame-codec';
import {
  decodeHandshake,
  encodeHandshake,
  handshakeProof,
  linkKeys,
  NONCE_BYTES,
  proofMatches,
  type HandshakeMessage,
  type HandshakeTranscript,
} from './handshake';
import type { TransportLimits } from './limits';

export interface HandshakeSettings {
  readonly nodeId: string;
  readonly secret: Buffer;
  readonly limits: TransportLimits;
  /** On a TLS link: the node ids the dialer's certificate names; its HELLO must claim one of them. */
  readonly certifiedIds?: readonly string[];
}

export type HandshakeResult =
  | { readonly ok: true; readonly peerId: string; readonly decoder: FrameDecoder; readonly keys: { send: Buffer; recv: Buffer } }
  | {
      readonly ok: false;
      readonly reason: string;
      /** The id the other side claimed, once known (not proof of identity unless `authenticated`). */
      readonly claimedId: string | null;
      readonly authenticated: boolean;
      /** Not an error: the tie-break between two dials, a withdrawn dial, or a probe that sent nothing. */
      readonly quiet: boolean;
    };

export interface AcceptorHooks {
  isKnownPeer(id: string): boolean;
  /** Called once the dialer has proved the secret: true to keep this connection. */
  admit(peerId: string): boolean;
}

/** Drives one side of a handshake; `done` is called exactly once. */
abstract class HandshakeSession {
  protected readonly decoder: FrameDecoder;
  protected claimedId: string | null = null;
  protected authenticated = false;
  private finished = false;
  private readonly timer: NodeJS.Timeout;
  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onError = (err: Error): void => this.fail(`socket error during handshake: ${err.message}`);
  private readonly onClose = (): void => this.fail('connection closed during handshake', this.bytesReceived === 0);
  private bytesReceived = 0;
  /** Set once our first message is out: from then on an abort tells the other side why. */
  protected spoken = false;

  constructor(
    protected readonly socket: Socket,
    protected readonly settings: HandshakeSettings,
    private readonly done: (result: HandshakeResult) => void,
  ) {
    this.decoder = new FrameDecoder(settings.limits.handshakeFrameBytesMax);
    this.timer = setTimeout(() => this.fail(`handshake not finished within ${settings.limits.handshakeTimeoutMs} ms`), settings.limits.handshakeTimeoutMs);
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  /**
   * Ends the session without calling `done`: the transport no longer wants this connection. A
   * dialer that already spoke says so (WITHDRAW), so the acceptor does not log a stranger.
   */
  abort(): void {
    if (this.finished) return;
    this.detach();
    const farewell = this.spoken ? this.farewell() : null;
    if (farewell) {
      this.send(farewell);
      this.endSoon();
    } else {
      this.socket.destroy();
    }
  }

  protected abstract onMessage(message: HandshakeMessage): void;

  /** What to tell the other side when the transport aborts the session; null: just close. */
  protected farewell(): HandshakeMessage | null {
    return null;
  }

  protected send(message: HandshakeMessage): void {
    this.spoken = true;
    this.socket.write(encodeHandshake(message));
  }

  /** Lets our last message reach the other side, which then closes; destroys if it lingers. */
  private endSoon(): void {
    this.socket.end();
    this.socket.resume(); // read (and discard) to the other side's FIN, so the socket closes
    setTimeout(() => this.socket.destroy(), this.settings.limits.handshakeTimeoutMs).unref();
  }

  protected succeed(peerId: string, keys: { send: Buffer; recv: Buffer }): void {
    if (this.finished) return;
    this.detach();
    this.done({ ok: true, peerId, decoder: this.decoder, keys });
  }

  protected fail(reason: string, quiet = false, letLastMessageThrough = false): void {
    if (this.finished) return;
    this.detach();
    if (letLastMessageThrough) this.endSoon();
    else this.socket.destroy();
    this.done({ ok: false, reason, claimedId: this.claimedId, authenticated: this.authenticated, quiet });
  }

  private detach(): void {
    this.finished = true;
    clearTimeout(this.timer);
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    // Errors after this point belong to whoever owns the socket next (or to nobody).
    this.socket.on('error', () => undefined);
  }

  private receive(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.decoder.push(chunk);
    while (!this.finished) {
      const result = this.decoder.next();
      if (result.kind === 'need-more') return;
      if (result.kind === 'too-large') {
        this.fail(`not an opencmq peer: handshake frame of ${result.payloadBytes} bytes`);
        return;
      }
      if (result.channel !== CHANNEL.handshake) {
        this.fail(`frame on channel ${result.channel} before authentication`);
        return;
      }
      const message = decodeHandshake(result.payload);
      if (typeof message === 'string') this.fail(message);
      else this.onMessage(message);
    }
  }
}

/** The accepting side: HELLO in, CHALLENGE out, AUTH in, WELCOME (or REJECT) out. */
export class AcceptorHandshake extends HandshakeSession {
  private transcript: HandshakeTranscript | null = null;

  constructor(socket: Socket, settings: HandshakeSettings, private readonly hooks: AcceptorHooks, done: (result: HandshakeResult) => void) {
    super(socket, settings, done);
  }

  protected onMessage(message: HandshakeMessage): void {
    const { nodeId, secret } = this.settings;
    if (this.transcript === null) {
      if (message.type !== 'hello') return this.fail(`expected hello, got ${message.type}`);
      this.claimedId = message.dialerId;
      if (message.acceptorId !== nodeId) return this.fail(`dialer '${message.dialerId}' wanted node '${message.acceptorId}', this is '${nodeId}'`);
      if (!this.hooks.isKnownPeer(message.dialerId)) return this.fail(`unknown node id '${message.dialerId}'`);
      const certified = this.settings.certifiedIds;
      if (certified !== undefined && !certified.includes(message.dialerId)) {
        return this.fail(`its TLS certificate names node ${certified.map((i) => `'${i}'`).join(', ')}, not '${message.dialerId}'`);
      }
      this.transcript = { dialerId: message.dialerId, acceptorId: nodeId, dialerNonce: message.dialerNonce, acceptorNonce: randomBytes(NONCE_BYTES) };
      this.send({ type: 'challenge', acceptorNonce: this.transcript.acceptorNonce, acceptorProof: handshakeProof(secret, 'acceptor', this.transcript) });
      return;
    }
    if (message.type === 'withdraw' && this.hooks.isKnownPeer(this.transcript.dialerId)) return this.fail('the dialer withdrew', true);
    if (message.type !== 'auth') return this.fail(`expected auth, got ${message.type}`);
    if (!proofMatches(handshakeProof(secret, 'dialer', this.transcript), message.dialerProof)) {
      return this.fail(`'${this.transcript.dialerId}' failed authentication (wrong cluster secret?)`);
    }
    this.authenticated = true;
    const peerId = this.transcript.dialerId;
    if (!this.hooks.admit(peerId)) {
      this.send({ type: 'reject', reason: 'duplicate' });
      return this.fail('our own connection to the peer wins the tie-break', true, true);
    }
    const keys = linkKeys(secret, this.transcript);
    this.send({ type: 'welcome' });
    this.succeed(peerId, { send: keys.acceptorToDialer, recv: keys.dialerToAcceptor });
  }
}

/** The dialling side, started once TCP is connected: HELLO out, CHALLENGE in, AUTH out, WELCOME in. */
export class DialerHandshake extends HandshakeSession {
  private readonly dialerNonce = randomBytes(NONCE_BYTES);
  private transcript: HandshakeTranscript | null = null;

  constructor(socket: Socket, settings: HandshakeSettings, private readonly peerId: string, done: (result: HandshakeResult) => void) {
    super(socket, settings, done);
    this.claimedId = peerId;
    this.send({ type: 'hello', dialerId: settings.nodeId, acceptorId: peerId, dialerNonce: this.dialerNonce });
  }

  protected override farewell(): HandshakeMessage {
    return { type: 'withdraw' };
  }

  protected onMessage(message: HandshakeMessage): void {
    const { nodeId, secret } = this.settings;
    if (this.transcript === null) {
      if (message.type !== 'challenge') return this.fail(`expected challenge, got ${message.type}`);
      this.transcript = { dialerId: nodeId, acceptorId: this.peerId, dialerNonce: this.dialerNonce, acceptorNonce: message.acceptorNonce };
      if (!proofMatches(handshakeProof(secret, 'acceptor', this.transcript), message.acceptorProof)) {
        return this.fail(`the node at this address failed to prove the cluster secret for '${this.peerId}' (wrong secret or wrong address?)`);
      }
      this.authenticated = true;
      this.send({ type: 'auth', dialerProof: handshakeProof(secret, 'dialer', this.transcript) });
      return;
    }
    if (message.type === 'reject') return this.fail('the peer keeps its own connection (tie-break)', true);
    if (message.type !== 'welcome') return this.fail(`expected welcome, got ${message.type}`);
    const keys = linkKeys(secret, this.transcript);
    this.succeed(this.peerId, { send: keys.dialerToAcceptor, recv: keys.acceptorToDialer });
  }
}
