// Starting and stopping peer server processes: free loopback ports, waiting for a port to accept
// connections, a bounded tail of each process's output, and whether a command is installed.

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';

import { sleep } from './measure';

/** Output kept per process for error reports (the tail). */
const OUTPUT_KEEP_CHARS = 32 * 1024;
const STOP_TIMEOUT_MS = 15_000;

export interface PeerProcess {
  name: string;
  child: ChildProcess;
  output(): string;
}

export function spawnPeer(name: string, command: string, args: string[], options: SpawnOptions = {}): PeerProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString()).slice(-OUTPUT_KEEP_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(`spawn error: ${err.message}\n`)));
  return { name, child, output: () => out };
}

export function exited(p: PeerProcess): boolean {
  return p.child.exitCode !== null || p.child.signalCode !== null;
}

/** SIGTERM (or the given signal), then SIGKILL after a grace period; resolves once it exited. */
export async function stopPeer(p: PeerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (exited(p)) return;
  const done = new Promise((r) => p.child.once('exit', r));
  p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await done;
  clearTimeout(timer);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Whether a TCP port on 127.0.0.1 accepts connections. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function waitForPort(p: PeerProcess, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited(p)) throw new Error(`${p.name} exited before listening:\n${p.output()}`);
    if (await accepts(port)) return;
    await sleep(100);
  }
  throw new Error(`${p.name} not listening on ${port} after ${timeoutMs} ms:\n${p.output()}`);
}

/** Whether a file exists and may be executed (a check that runs nothing). */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Undefined when `command --version`-style probing runs; otherwise why not. */
export function missingCommand(command: string, probeArgs: string[]): string | undefined {
  const r = spawnSync(command, probeArgs, { stdio: 'ignore', timeout: 10_000 });
  return r.error ? `${command} not found (${r.error.message}); install with: apt-get install -y rabbitmq-server nats-server` : undefined;
}

/** Retry an async step until it succeeds or the time is up (clusters need a moment to elect). */
export async function retry<T>(what: string, timeoutMs: number, step: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      await sleep(250);
    }
  }
}
