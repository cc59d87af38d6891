// Spawns `opencmq server` as a real child process on a free loopback port, for crash tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

/**
 * Readable log lines (`component: message`) although stderr is a pipe, where the server would
 * write JSON: tests match on that text. A test's own --log-format comes later and wins.
 */
const TEXT_LOGS = ['--log-format', 'pretty'];

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the server wrote to stderr/stdout so far. */
  output(): string;
  kill9(): Promise<void>;
  /** SIGTERM (graceful stop); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGSTOP: the process freezes (sockets stay open, nothing is answered) until resume(). */
  pause(): void;
  /** SIGCONT after pause(); harmless on a process that is not stopped. */
  resume(): void;
  /** The process has exited (killed, stopped, or crashed). */
  hasExited(): boolean;
}

export async function makeDataDir(prefix = 'opencmq-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function spawnServer(dataDir: string, extraArgs: string[] = [], port = 0): Promise<ServerProcess> {
  const env = { ...process.env };
  delete env.OPENCMQ_SECRET_ID;
  delete env.OPENCMQ_SECRET_KEY;
  // A fixed --port would also open the one-node default SQS port, shared by every test process.
  const sqsOff = port !== 0 && !extraArgs.includes('--sqs-port') ? ['--sqs-port', '0'] : [];
  const args = [CLI, 'server', '--data-dir', dataDir, '--port', String(port), '--segment-mb', '4', ...TEXT_LOGS, ...sqsOff, ...extraArgs];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /listening on (https?:\/\/[^\s]+:(\d+))/.exec(out);
      if (m) {
        child.stderr?.off('data', onData);
        child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
        resolve({
          url: m[1]!,
          port: Number(m[2]),
          child,
          output: () => out,
          kill9: async () => {
            child.kill('SIGKILL');
            await exited;
          },
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
          pause: () => {
            if (!hasExited()) child.kill('SIGSTOP');
          },
          resume: () => {
            if (!hasExited()) child.kill('SIGCONT');
          },
          hasExited,
        });
      }
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${out}`)));
  });
}

/**
 * Run the server expecting it to fail at start-up; resolves with its exit code and output. A
 * server still running after timeoutMs is killed (code null), so a hang fails the caller's check.
 */
export function runServerExpectingExit(
  dataDir: string,
  timeoutMs = 15_000,
  extraArgs: string[] = [],
): Promise<{ code: number | null; output: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'server', '--data-dir', dataDir, '--port', '0', '--segment-mb', '4', ...TEXT_LOGS, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
    stderr += c.toString();
  });
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, output: out, stderr });
    });
  });
}
