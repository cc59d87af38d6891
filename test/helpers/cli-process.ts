// The `opencmq` command as a real process, for the tests that run `cluster start-local` and
// `cluster status` the way an operator does: started in its own process group (so a failed test
// can end it and every server it started), with the free port ranges start-local needs.

import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  /** Resolves when the process has exited; killed (and the test failed) after `timeoutMs`. */
  done: Promise<CliRun>;
  stdout(): string;
  /** What it has written to stderr so far. */
  stderr(): string;
  /** SIGKILL the CLI and everything it started. */
  kill(): void;
  /** SIGINT to the CLI alone, as Ctrl-C would. */
  interrupt(): void;
}

/** `env`: the process's environment instead of this one's (e.g. the servers' credentials for start-local). */
export function startCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const killGroup = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<CliRun>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error(`opencmq ${args.join(' ')} still running after ${opts.timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-3000)}`));
    }, opts.timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { done, stdout: () => stdout, stderr: () => stderr, kill: killGroup, interrupt: () => child.kill('SIGINT') };
}

/** A listener on 127.0.0.1:port (a port held, so nothing else takes it). */
export function listenOn(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/**
 * `count` base ports, each with `n` consecutive free ports on 127.0.0.1, all distinct: found in one
 * search that holds every port until all are known, so two bases never overlap.
 */
export async function freeBases(count: number, n: number): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * 40_000);
    const bases = Array.from({ length: count }, (_, k) => first + k * n);
    const held: net.Server[] = [];
    try {
      for (const b of bases) for (let i = 0; i < n; i++) held.push(await listenOn(b + i));
      return bases;
    } catch {
      // taken: try another range
    } finally {
      await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
    }
  }
  throw new Error('no free port range');
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
