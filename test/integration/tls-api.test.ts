// The client API over HTTPS: a server started with a certificate serves https:// URLs; with a
// client CA it refuses clients without a certificate from that CA; the SDK and the CLI reach it
// given the CA (and the client certificate); SIGHUP re-reads the certificate files.
// Certificates: test/fixtures/tls (see its generate.sh).

import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import * as http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import * as tls from 'node:tls';
import { after, before, describe, test } from 'node:test';

import { CmqClient, type CmqClientOptions } from '../../src/client/client';
import { CmqNetworkError } from '../../src/client/errors';
import { startServer, type StartedServer } from '../../src/node/server';
import type { ServerOptions } from '../../src/node/server-options';
import { runCliCaptured, type CliRun } from '../helpers/cli-in-process';
import { fixture, fixturePath } from '../helpers/tls-fixtures';

const dirs: string[] = [];

async function start(tlsFiles: ServerOptions['tls'], log: (line: string) => void = () => {}): Promise<StartedServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-api-tls-'));
  dirs.push(dataDir);
  return startServer({ dataDir, host: '127.0.0.1', port: 0, credentials: [], insecureNoAuth: false, segmentBytes: 1 << 20, log, ...(tlsFiles ? { tls: tlsFiles } : {}) });
}

after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function withClient<T>(opts: CmqClientOptions, fn: (c: CmqClient) => Promise<T>): Promise<T> {
  const c = new CmqClient({ retries: 0, timeoutMs: 10_000, ...opts });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** Runs the CLI in this process with the real client; returns exit code and output. */
function cli(argv: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCliCaptured(argv, (o) => new CmqClient({ ...o, retries: 0 }), env);
}

/** The subject CN of the certificate a fresh TLS connection to `port` is served. */
function servedCommonName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: fixture('ca.pem'), servername: 'localhost', checkServerIdentity: () => undefined });
    s.once('secureConnect', () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.destroy();
      resolve(String(cn));
    });
    s.once('error', reject);
  });
}

describe('HTTPS with client certificates required (--tls-client-ca)', () => {
  let server: StartedServer;
  const client = { ca: fixture('ca.pem'), cert: fixture('client.pem'), key: fixture('client.key') };

  before(async () => {
    server = await start({ certFile: fixturePath('server.pem'), keyFile: fixturePath('server.key'), clientCaFile: fixturePath('ca.pem') });
  });
  after(async () => {
    await server.close();
  });

  test('the server announces an https URL; a client with the CA and a client certificate is served', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const endpoint = `https://localhost:${server.port}`;
    await withClient({ endpoint, ...client }, async (c) => {
      await c.createQueue('tls-q');
      const id = await c.sendMessage('tls-q', 'over https');
      const m = await c.receiveMessage('tls-q', { pollingWaitSeconds: 0 });
      assert.equal(m?.msgId, id);
      assert.equal(m?.body, 'over https');
      await c.deleteMessage('tls-q', m.receiptHandle);
    });
  });

  test('no client certificate, one from another CA, an untrusted server CA, or plain HTTP: refused', async () => {
    const endpoint = `https://localhost:${server.port}`;
    await withClient({ endpoint, ca: fixture('ca.pem') }, async (c) => {
      await assert.rejects(c.listQueues(), CmqNetworkError);
    });
    await withClient({ endpoint, ca: fixture('ca.pem'), cert: fixture('other-n2.pem'), key: fixture('other-n2.key') }, async (c) => {
      await assert.rejects(c.listQueues(), CmqNetworkError);
    });
    // Without the CA the server's certificate is not trusted.
    await withClient({ endpoint, cert: client.cert, key: client.key }, async (c) => {
      await assert.rejects(c.listQueues(), (e: unknown) => e instanceof CmqNetworkError && /certificate/i.test(e.message));
    });
    const plain = await new Promise<string>((resolve) => {
      const r = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/' }, (res) => {
        res.resume();
        resolve(`HTTP ${res.statusCode ?? 0}`);
      });
      r.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      r.end('Action=ListQueue');
    });
    assert.doesNotMatch(plain, /HTTP 200/, `plain HTTP got ${plain}`);
  });

  test('the CLI takes --ca, --client-cert and --client-key (or OPENCMQ_CA, OPENCMQ_CLIENT_CERT/KEY)', async () => {
    const endpoint = `https://localhost:${server.port}`;
    const flags = ['--ca', fixturePath('ca.pem'), '--client-cert', fixturePath('client.pem'), '--client-key', fixturePath('client.key')];
    const listed = await cli(['--endpoint', endpoint, ...flags, '--json', 'queue', 'list']);
    assert.equal(listed.code, 0, listed.err.join('\n'));
    assert.match(listed.out.join('\n'), /tls-q/);
    const viaEnv = await cli(['queue', 'list'], {
      OPENCMQ_ENDPOINT: endpoint,
      OPENCMQ_CA: fixturePath('ca.pem'),
      OPENCMQ_CLIENT_CERT: fixturePath('client.pem'),
      OPENCMQ_CLIENT_KEY: fixturePath('client.key'),
    });
    assert.equal(viaEnv.code, 0, viaEnv.err.join('\n'));
    const noCert = await cli(['--endpoint', endpoint, '--ca', fixturePath('ca.pem'), 'queue', 'list']);
    assert.equal(noCert.code, 1);
    assert.match(noCert.err.join('\n'), /^error network:/);
    const half = await cli(['--endpoint', endpoint, '--client-cert', fixturePath('client.pem'), 'queue', 'list']);
    assert.equal(half.code, 2);
    const missing = await cli(['--endpoint', endpoint, '--ca', '/nonexistent/ca.pem', 'queue', 'list']);
    assert.equal(missing.code, 2);
    assert.match(missing.err.join('\n'), /--ca \/nonexistent\/ca\.pem/);
  });
});

test('HTTPS without --tls-client-ca serves any client that trusts the CA; SIGHUP re-reads the certificate', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-tls-files-'));
  dirs.push(dir);
  const cert = path.join(dir, 'api.pem');
  const key = path.join(dir, 'api.key');
  await copyFile(fixturePath('n1.pem'), cert);
  await copyFile(fixturePath('n1.key'), key);
  const logs: string[] = [];
  const server = await start({ certFile: cert, keyFile: key }, (l) => logs.push(l));
  try {
    await withClient({ endpoint: `https://localhost:${server.port}`, ca: fixture('ca.pem') }, async (c) => {
      assert.deepEqual((await c.listQueues()).queues, []);
    });
    assert.equal(await servedCommonName(server.port), 'n1');
    await copyFile(fixturePath('server.pem'), cert);
    await copyFile(fixturePath('server.key'), key);
    process.emit('SIGHUP', 'SIGHUP');
    const deadline = Date.now() + 10_000;
    while (!logs.some((l) => /reloaded the client API TLS certificate/.test(l))) {
      assert.ok(Date.now() < deadline, `no reload logged: ${logs.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await servedCommonName(server.port), 'localhost');
  } finally {
    await server.close();
  }
});

test('a missing certificate file stops the start with the option and file named', async () => {
  await assert.rejects(start({ certFile: '/nonexistent/api.pem', keyFile: fixturePath('server.key') }), /--tls-cert \/nonexistent\/api\.pem/);
});
