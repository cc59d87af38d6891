// `opencmq cluster start-local`: a 3-node set on this machine, for trying it out. It runs three
// `opencmq server` processes (the same command a real deployment runs on each host), prefixes
// their output with the node id, and stops them all on Ctrl-C or when one of them dies.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

import type { CommandSpec } from './commands';
import { EXIT_ERROR, EXIT_OK } from './cli-io';
import { boolOpt, intOpt, logOptions, stringOpt, type OptionValues } from './options';
import { ADMIN_PORT_OFFSET, DEFAULT_SQS_PORT } from '../node/server-options';
import { SERVER_NODE_FLAGS } from './node-flags';

/** Members of each set start-local runs. */
const SET_SIZE = 3;
/** start-local runs at most this many sets (3 processes each) on one machine. */
export const START_LOCAL_SETS_MAX = 9;

/** One process of the local cluster: its id, set and ports (n1..n3 are set 1, n4..n6 set 2, ...). */
export interface LocalNode {
  id: string;
  set: number;
  /** Position in the whole cluster, from 0: each port is its base plus this. */
  index: number;
}

export function localNodes(sets: number): LocalNode[] {
  return Array.from({ length: sets * SET_SIZE }, (_, index) => ({ id: `n${index + 1}`, set: Math.floor(index / SET_SIZE) + 1, index }));
}

/**
 * The server flags of one node: its set's peers and, with more than one set, the set and the
 * controller (run by set 1's members; the other sets' nodes reach it without being named).
 */
export function localNodeArgs(node: LocalNode, all: readonly LocalNode[], raftBasePort: number): string[] {
  const address = (n: LocalNode): string => `${n.id}=127.0.0.1:${raftBasePort + n.index}`;
  const args = ['--node-id', node.id, '--raft-port', String(raftBasePort + node.index)];
  for (const p of all) if (p.set === node.set && p.id !== node.id) args.push('--peer', address(p));
  const sets = Math.max(...all.map((n) => n.set));
  if (sets === 1) return args;
  args.push('--set', String(node.set));
  for (const v of all) if (v.set === 1) args.push('--controller-peer', address(v));
  return args;
}

/**
 * Server flags start-local passes to every member as it was given them: settings a local cluster
 * may need to behave as a deployment does (the Java SDK's TopicTest expects the empty
 * subscription list of --compat-empty-subscription-list).
 */
const PASSED_SERVER_FLAGS = ['compat-empty-subscription-list'] as const;

export function passedServerFlags(opts: OptionValues): string[] {
  return PASSED_SERVER_FLAGS.filter((f) => boolOpt(opts, f)).map((f) => `--${f}`);
}

export const clusterStartLocal: CommandSpec = {
  words: ['cluster', 'start-local'],
  usage: 'opencmq cluster start-local [--sets N] [--keep-going] [--data-dir DIR] [--base-port P] [--raft-base-port R] [--admin-base-port A] [--sqs-base-port S] [--compat-empty-subscription-list]',
  summary: 'run a 3-node replicated set (or N sets and a controller) on this machine (for trying it out)',
  help: [
    'Starts n1, n2, n3 as three server processes on 127.0.0.1:',
    '  client API on P, P+1, P+2 (default 9601-9603), peers on R, R+1, R+2 (default 9701-9703),',
    `  admin (/healthz, /readyz, /metrics) on A, A+1, A+2 (default P+${ADMIN_PORT_OFFSET}: 9681-9683),`,
    `  the SQS API on S, S+1, S+2 (default ${DEFAULT_SQS_PORT}-${DEFAULT_SQS_PORT + 2}),`,
    '  data in DIR/n1, DIR/n2, DIR/n3 (default ./opencmq-data/local-set).',
    'Any node accepts any request. Ctrl-C stops all three.',
    'If a member stops on its own (e.g. its port is taken), the command says which, how (exit code or',
    'signal) and its last stderr lines, stops the other two and exits 1.',
    '--log-format and --log-level are passed to each server; with json (the default when stderr is not',
    'a terminal) their lines are passed through as they are, else each is prefixed with its node id.',
    '',
    `--sets N (1-${START_LOCAL_SETS_MAX}, default 1): N sets of three processes. Set 2 is n4, n5, n6, set 3 n7, n8, n9, and so on;`,
    '  every port continues from its base (set 2 takes P+3..P+5, R+3..R+5, A+3..A+5, S+3..S+5), data in DIR/n4...',
    '  With more than one set, set 1\'s members also run the cluster controller, every set\'s leader',
    '  registers its set with it and reports its load, and opencmq cluster status shows the controller',
    '  and every set. Any node serves any queue or topic: new ones are placed on the least loaded set.',
    '  The same DIR and ports as a one-set run upgrade it in place: n1-n3 keep their data as set 1, whose',
    '  queues and topics stay served through every node; n4... start empty.',
    '--compat-empty-subscription-list is passed to every server (see opencmq server --help).',
    '--keep-going: a member that stops is reported (how, and its last stderr lines) and the others keep',
    '  running, e.g. to watch a new leader take over; the command exits 1 once every member has stopped.',
  ],
  options: {
    'data-dir': { type: 'string' },
    'base-port': { type: 'string' },
    'raft-base-port': { type: 'string' },
    'log-format': { type: 'string' },
    'log-level': { type: 'string' },
    'admin-base-port': { type: 'string' },
    'sqs-base-port': { type: 'string' },
    sets: { type: 'string' },
    'keep-going': { type: 'boolean' },
    'compat-empty-subscription-list': { type: 'boolean' },
  },
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const dataDir = stringOpt(ctx.opts, 'data-dir') ?? path.join('opencmq-data', 'local-set');
    const sets = intOpt(ctx.opts, 'sets', 1, START_LOCAL_SETS_MAX) ?? 1;
    const nodes = localNodes(sets);
    const last = nodes.length - 1;
    const basePort = intOpt(ctx.opts, 'base-port', 1, 65535 - last) ?? 9601;
    const raftBasePort = intOpt(ctx.opts, 'raft-base-port', 1, 65535 - last) ?? 9701;
    // The children write to a pipe (ours), so "auto" is decided here, where the terminal is.
    const logs = logOptions(ctx.opts);
    const logFormat = logs.logFormat === undefined || logs.logFormat === 'auto' ? (process.stderr.isTTY ? 'pretty' : 'json') : logs.logFormat;
    const adminBasePort = intOpt(ctx.opts, 'admin-base-port', 1, 65535 - last) ?? Math.min(basePort + ADMIN_PORT_OFFSET, 65535 - last);
    const sqsBasePort = intOpt(ctx.opts, 'sqs-base-port', 1, 65535 - last) ?? DEFAULT_SQS_PORT;
    // A fresh secret per run: the members of this run share it; nobody else knows it.
    const secret = randomBytes(24).toString('hex');
    // A server creates only the last component of its --data-dir (DIR/n1): DIR is ours to create.
    makeDirectories(dataDir);
    const cli = process.argv[1] ?? path.join(__dirname, 'main.js');
    const members: Member[] = nodes.map((n) => {
      const i = n.index;
      const args = [cli, 'server', '--data-dir', path.join(dataDir, n.id), '--port', String(basePort + i), '--admin-port', String(adminBasePort + i)];
      args.push(...localNodeArgs(n, nodes, raftBasePort), '--sqs-port', String(sqsBasePort + i));
      args.push('--log-format', logFormat, ...(logs.logLevel !== undefined ? ['--log-level', logs.logLevel] : []), ...passedServerFlags(ctx.opts));
      const env = { ...process.env, OPENCMQ_CLUSTER_SECRET: secret };
      // JSON lines pass through whole (each names its node); readable ones get the id in front.
      return startMember(n.id, spawn(process.execPath, [...SERVER_NODE_FLAGS, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env }), (line) => ctx.io.err(line), logFormat !== 'json');
    });
    const ports = (base: number): string => nodes.map((n) => (n.index === 0 ? String(base) : `:${base + n.index}`)).join(', ');
    const what = sets === 1 ? '3-node set' : `${sets} sets of 3 nodes and a controller (on ${nodes.filter((n) => n.set === 1).map((n) => n.id).join(', ')})`;
    ctx.io.out(`${what} starting: http://127.0.0.1:${ports(basePort)} (Ctrl-C stops it)`);
    ctx.io.out(`admin endpoints: http://127.0.0.1:${adminBasePort}/readyz, ${ports(adminBasePort).split(', ').slice(1).join(', ')}`);
    ctx.io.out(`SQS endpoints: http://127.0.0.1:${ports(sqsBasePort)}`);
    ctx.io.out(`members: ${members.map((m) => `${m.id} pid ${m.child.pid ?? '?'}`).join(', ')}`);
    // Runs until Ctrl-C, or until a member stops on its own: a set missing a member is not what
    // was asked for, so the others are stopped and the command fails.
    // With --keep-going a member that stops is reported and the others go on (to watch a
    // failover); the command then ends on Ctrl-C, or fails once every member has stopped.
    const interrupted = new Promise<undefined>((resolve) => {
      if (ctx.io.signal.aborted) resolve(undefined);
      ctx.io.signal.addEventListener('abort', () => resolve(undefined), { once: true });
    });
    const keepGoing = boolOpt(ctx.opts, 'keep-going');
    if (keepGoing) {
      for (const m of members) {
        void m.ended.then(() => {
          if (ctx.io.signal.aborted) return;
          ctx.io.err(`member ${m.id} ${describeExit(m.exit)}; the others keep running (--keep-going)`);
          for (const line of m.stderrTail) ctx.io.err(`  ${line}`);
        });
      }
    }
    const allEnded = Promise.all(members.map((m) => m.ended)).then(() => 'all' as const);
    const first = await Promise.race([interrupted, keepGoing ? allEnded : Promise.race(members.map((m) => m.ended.then(() => m)))]);
    if (first === 'all' && !ctx.io.signal.aborted) {
      ctx.io.err('error: every member has stopped');
      return EXIT_ERROR;
    }
    for (const m of members) if (m.exit === undefined) m.child.kill('SIGTERM');
    // A member that does not finish its graceful stop in time is killed, so the command ends.
    const killer = setTimeout(() => {
      for (const m of members) {
        if (m.exit !== undefined) continue;
        ctx.io.err(`[${m.id}] did not stop within ${STOP_GRACE_MS / 1000} s: killing it`);
        m.child.kill('SIGKILL');
      }
    }, STOP_GRACE_MS);
    await Promise.all(members.map((m) => m.ended));
    clearTimeout(killer);
    // A member that ends after Ctrl-C was asked to (it may see the terminal's SIGINT first).
    if (first !== undefined && first !== 'all' && !ctx.io.signal.aborted) {
      ctx.io.err(`error: member ${first.id} ${describeExit(first.exit)}; stopped the others`);
      if (first.stderrTail.length > 0) {
        ctx.io.err(`last lines ${first.id} wrote to stderr:`);
        for (const line of first.stderrTail) ctx.io.err(`  ${line}`);
      }
      return EXIT_ERROR;
    }
    ctx.io.err(sets === 1 ? '3-node set stopped' : `${sets} sets stopped`);
    return EXIT_OK;
  },
};

/** How long a member gets to stop gracefully after SIGTERM. */
const STOP_GRACE_MS = 20_000;

/** How many of a member's last stderr lines are repeated when it dies. */
const STDERR_TAIL_LINES = 10;

type MemberExit = { code: number | null; signal: NodeJS.Signals | null } | { error: Error };

interface Member {
  id: string;
  child: ChildProcess;
  /** Resolves once the process has ended (or could not be started). */
  ended: Promise<void>;
  exit: MemberExit | undefined;
  stderrTail: string[];
}

/** Relays a member's output prefixed with its id, keeps its last stderr lines, notes its exit. */
function startMember(id: string, child: ChildProcess, print: (line: string) => void, prefixLines: boolean): Member {
  const member: Member = { id, child, ended: Promise.resolve(), exit: undefined, stderrTail: [] };
  const relay = (stream: NodeJS.ReadableStream | null, keep: boolean): void => {
    let partial = '';
    const emit = (line: string): void => {
      if (line === '') return;
      print(prefixLines ? `[${id}] ${line}` : line);
      if (keep) {
        member.stderrTail.push(line);
        if (member.stderrTail.length > STDERR_TAIL_LINES) member.stderrTail.shift();
      }
    };
    stream?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) emit(line);
    });
    stream?.on('end', () => emit(partial));
  };
  relay(child.stdout, false);
  relay(child.stderr, true);
  member.ended = new Promise<void>((resolve) => {
    // 'close' (not 'exit'): by then its output has all been read, so the tail is complete.
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      member.exit ??= { code, signal };
      resolve();
    });
    child.once('error', (error) => {
      // The process could not be started: no 'close' follows.
      if (child.pid === undefined) {
        member.exit ??= { error };
        resolve();
      }
    });
  });
  return member;
}

function describeExit(exit: MemberExit | undefined): string {
  if (exit === undefined) return 'stopped';
  if ('error' in exit) return `could not be started: ${exit.error.message}`;
  if (exit.signal !== null) return `was killed by signal ${exit.signal}`;
  return `exited with code ${exit.code ?? '?'}`;
}

/** mkdir -p, one component at a time: Node's recursive mkdir can loop forever under /proc. */
function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let p = path.resolve(dir); !existsSync(p); p = path.dirname(p)) {
    missing.unshift(p);
    if (path.dirname(p) === p) break;
  }
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (err) {
      throw new Error(`cannot create the data directory ${p}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
