// Reads the PEM files named by the TLS options of `opencmq server`, with errors that name the
// option and the file, so a typo fails at start-up rather than at the first connection.

import { readFile } from 'node:fs/promises';
import type * as https from 'node:https';

import type { PeerTlsOptions } from '../transport/peer-tls';
import type { ApiTlsFiles, PeerTlsFiles } from './server-options';

async function pem(option: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new Error(`${option} ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** https.createServer options for the client API; with a client CA, clients must present a certificate it issued. */
export async function loadApiTls(files: ApiTlsFiles): Promise<https.ServerOptions> {
  const options: https.ServerOptions = {
    cert: await pem('--tls-cert', files.certFile),
    key: await pem('--tls-key', files.keyFile),
    minVersion: 'TLSv1.2',
  };
  if (files.clientCaFile !== undefined) {
    options.ca = await pem('--tls-client-ca', files.clientCaFile);
    options.requestCert = true;
    options.rejectUnauthorized = true;
  }
  return options;
}

export async function loadPeerTls(files: PeerTlsFiles): Promise<PeerTlsOptions> {
  return {
    cert: await pem('--peer-tls-cert', files.certFile),
    key: await pem('--peer-tls-key', files.keyFile),
    ca: await pem('--peer-tls-ca', files.caFile),
  };
}
