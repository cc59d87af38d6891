// The committed TLS test certificates (test/fixtures/tls, made by its generate.sh): a cluster CA,
// node certificates n1..n3 (which also serve localhost), a localhost server certificate, a client
// certificate, and two bad ones: node n2 from another CA, and a cluster-CA certificate naming n9.

import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { PeerTlsOptions } from '../../src/transport/peer-tls';

/** test/fixtures/tls in the source tree (tests run from dist/test/...). */
export const TLS_FIXTURES_DIR = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'tls');

export function fixturePath(name: string): string {
  return path.join(TLS_FIXTURES_DIR, name);
}

export function fixture(name: string): Buffer {
  return readFileSync(fixturePath(name));
}

/** Peer TLS options from `<name>.pem` / `<name>.key`, trusting `ca` (default the cluster CA). */
export function peerTls(name: string, ca = 'ca'): PeerTlsOptions {
  return { cert: fixture(`${name}.pem`), key: fixture(`${name}.key`), ca: fixture(`${ca}.pem`) };
}
