// Peer links over mutually authenticated TLS. Every member holds a certificate issued by the
// cluster's own CA that names its node id as a URI subject alternative name
// (`urn:opencmq:node:<id>`); both ends require the other's chain to end at that CA and its
// certificate to name the node id it claims, so one member cannot pose as another. The node-id
// handshake of handshake.ts still runs inside TLS (it drives the one-connection-per-pair
// tie-break), with its proofs keyed by keying material exported from this TLS session, so they
// bind the ids to this very connection. TLS already protects integrity, so no batch MAC is added.

import { createHmac, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/** PEM text or bytes of each file. */
export interface PeerTlsOptions {
  /** This node's certificate (chain), naming its node id. */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** The cluster CA: the only issuer whose certificates are accepted from peers. */
  readonly ca: string | Buffer;
}

/** The subject alternative name that names node `id` in a peer certificate. */
export const NODE_ID_URI_PREFIX = 'urn:opencmq:node:';

const EXPORT_LABEL = 'EXPORTER-opencmq-peer-v1';
const EXPORT_BYTES = 32;

/** The node ids a certificate names (URI SANs urn:opencmq:node:<id>). */
export function certificateNodeIds(cert: X509Certificate | undefined): string[] {
  const san = cert?.subjectAltName;
  if (!san) return [];
  const ids: string[] = [];
  // Node lists entries as `TYPE:value, TYPE:value`; a value with special characters is JSON-quoted.
  const entry = /(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (let m = entry.exec(san); m !== null; m = entry.exec(san)) {
    let value = m[1]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    if (value.startsWith(NODE_ID_URI_PREFIX)) ids.push(value.slice(NODE_ID_URI_PREFIX.length));
  }
  return ids;
}

/**
 * Why the other end of a finished TLS handshake is not an acceptable member (null if it is): its
 * certificate must chain to the cluster CA and, when `expectedId` is given, name that node id.
 * Returns the ids the certificate names, for the acceptor to compare with the HELLO.
 */
export function checkPeerCertificate(socket: TLSSocket, expectedId?: string): { problem: string } | { ids: string[] } {
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return { problem: 'no TLS client certificate' };
  if (!socket.authorized) {
    return { problem: `certificate '${cert.subject.replace(/\n/g, ', ')}' not accepted: ${String(socket.authorizationError ?? 'not issued by the cluster CA')}` };
  }
  const ids = certificateNodeIds(cert);
  if (ids.length === 0) return { problem: `certificate '${cert.subject.replace(/\n/g, ', ')}' names no node id (URI ${NODE_ID_URI_PREFIX}<id>)` };
  if (expectedId !== undefined && !ids.includes(expectedId)) {
    return { problem: `the certificate at this address names node ${ids.map((i) => `'${i}'`).join(', ')}, not '${expectedId}'` };
  }
  return { ids };
}

/**
 * The key of the handshake proofs on a TLS link: keying material exported from this TLS session
 * (the same at both ends, unknown to anyone else), mixed with the cluster secret when one is set.
 */
export function tlsChannelSecret(socket: TLSSocket, clusterSecret: Buffer | null): Buffer {
  const material = socket.exportKeyingMaterial(EXPORT_BYTES, EXPORT_LABEL, Buffer.alloc(0));
  return createHmac('sha256', clusterSecret ?? Buffer.alloc(0)).update(material).digest();
}

/** Checks at start-up that the files are what they should be, so a mistake fails fast. */
export function validatePeerTls(options: PeerTlsOptions, nodeId: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(options.cert);
  } catch (err) {
    throw new RangeError(`transport: the peer TLS certificate cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const ids = certificateNodeIds(cert);
  if (!ids.includes(nodeId)) {
    throw new RangeError(
      `transport: the peer TLS certificate names node ${ids.length === 0 ? '(none)' : ids.map((i) => `'${i}'`).join(', ')}, ` +
        `but this node is '${nodeId}' (it needs the subject alternative name URI:${NODE_ID_URI_PREFIX}${nodeId})`,
    );
  }
}
