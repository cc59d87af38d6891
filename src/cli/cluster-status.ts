// `opencmq cluster status`: asks every member it is given for its own Raft state, at the same
// time and each with a short timeout, and prints one row per member, answering or not. The members
// are the endpoints given; the command fails only when fewer than a majority of them answer.

import { CmqError, CmqNetworkError } from '../client/errors';
import type { ClusterNodeStatus } from '../client/types';
import { LIMITS } from '../protocol/limits';
import { EXIT_ERROR, EXIT_OK, UsageError, type CliClient } from './cli-io';
import type { CommandSpec } from './commands';
import { controllerLines } from './controller-lines';
import { formatJson, formatTable } from './format';
import { intOpt, stringOpt } from './options';

/** Seconds each member gets to answer, unless --timeout says otherwise. */
const DEFAULT_TIMEOUT_S = 5;

/** One member asked: its status, or why there is none. */
export type MemberReport =
  | { endpoint: string; answered: true; status: ClusterNodeStatus }
  | { endpoint: string; answered: false; problem: 'unreachable' | 'error'; reason: string };

interface StatusClient {
  clusterStatus(): Promise<ClusterNodeStatus>;
}

function statusClient(c: CliClient): StatusClient {
  const s = c as Partial<StatusClient>;
  if (typeof s.clusterStatus !== 'function') throw new UsageError('cluster status needs a server endpoint');
  return s as StatusClient;
}

/** Ask one member; never throws for a member that cannot answer. */
async function askMember(endpoint: string, client: StatusClient): Promise<MemberReport> {
  try {
    return { endpoint, answered: true, status: await client.clusterStatus() };
  } catch (err) {
    if (err instanceof CmqNetworkError) {
      // A refused or timed-out connection means the member is down or cut off; other network
      // failures (a broken connection, an answer that is not CMQ) are reported the same way.
      const timedOut = err.kind === 'timeout' || /^no connection within/.test(err.message);
      return { endpoint, answered: false, problem: 'unreachable', reason: timedOut ? `timeout: ${err.message}` : err.message };
    }
    if (err instanceof CmqError) return { endpoint, answered: false, problem: 'error', reason: `error ${err.code}: ${err.cmqMessage}` };
    throw err;
  }
}

/** Majority of `n` members. */
export function quorumOf(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** Voters named by the members that answered but which no answering member is. */
export function silentVoters(reports: readonly MemberReport[]): string[] {
  const answered = new Set<string>();
  const voters = new Set<string>();
  for (const r of reports) {
    if (!r.answered) continue;
    answered.add(r.status.nodeId);
    for (const v of r.status.voters) voters.add(v);
  }
  return [...voters].filter((v) => !answered.has(v)).sort();
}

function tableLines(reports: readonly MemberReport[]): string[] {
  return formatTable(
    ['node', 'endpoint', 'role', 'term', 'leader', 'commit', 'applied', 'last'],
    reports.map((r) => {
      if (!r.answered) return ['?', r.endpoint, r.problem, '-', '-', '-', '-', '-', r.reason];
      const s = r.status;
      return [s.nodeId, r.endpoint, s.role, String(s.term), s.leader || '-', String(s.commitIndex), String(s.appliedIndex), String(s.lastIndex)];
    }),
  );
}

export const clusterStatus: CommandSpec = {
  words: ['cluster', 'status'],
  usage: 'opencmq cluster status [--endpoints URL,URL,...] [--timeout S]',
  summary: "each node's role, term, leader, commit and applied index, and the leader's view of lag",
  help: [
    'Asks every member given, at the same time, for its own Raft state, and prints one row per',
    'member. A member that does not answer gets a row saying unreachable (or error) and why:',
    'connection refused, timeout, an error code.',
    '',
    'Options:',
    '  --endpoints URL,...  the members to ask (default: the --endpoint list, else $OPENCMQ_ENDPOINT)',
    `  --timeout S          seconds each member gets to answer (1-60, default ${DEFAULT_TIMEOUT_S})`,
    '',
    'The members are the endpoints given. Voters that the answering members name but that none of',
    'them is are listed after the table (not asked, or asked and silent).',
    '',
    'Members that run with a cluster controller (--controller-peer) add the controller: its voters and',
    'leader, each voter\'s role, term and indexes in the controller group, every set the controller',
    'knows with its members, state and last load report, and the route changes under way: a line per',
    'queue moving (shard, from and to set, phase) or growing shards (target count, the new shards and',
    `whether each is created yet), the ${LIMITS.statusRouteChangesMax} oldest and a count of the rest`,
    '(--json: the set, controller, sets and changes fields).',
    '',
    'Exit codes: 0 a majority of the members given answered, 1 fewer did, 2 usage error.',
  ],
  options: { endpoints: { type: 'string' }, timeout: { type: 'string' } },
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const timeoutMs = (intOpt(ctx.opts, 'timeout', 1, 60) ?? DEFAULT_TIMEOUT_S) * 1000;
    const given = stringOpt(ctx.opts, 'endpoints');
    const endpoints = given === undefined ? ctx.endpoints() : given.split(',').map((e) => e.trim()).filter((e) => e !== '');
    if (endpoints.length === 0) throw new UsageError('--endpoints is empty');
    for (const e of endpoints) {
      try {
        new URL(e);
      } catch {
        throw new UsageError(`--endpoints: not a URL: ${e}`);
      }
    }
    // No retries: the status action is answered where it arrives, so a failure is that member's.
    const clients = endpoints.map((e) => statusClient(ctx.clientFor(e, { timeoutMs, connectTimeoutMs: timeoutMs, retries: 0 })));
    const reports = await Promise.all(endpoints.map((e, i) => askMember(e, clients[i]!)));
    const answered = reports.filter((r) => r.answered).length;
    const quorum = quorumOf(endpoints.length);
    const silent = silentVoters(reports);

    if (ctx.json) {
      ctx.io.out(
        formatJson(reports.map((r) => (r.answered ? { endpoint: r.endpoint, reachable: true, ...r.status } : { endpoint: r.endpoint, reachable: false, problem: r.problem, reason: r.reason }))),
      );
    } else {
      for (const line of tableLines(reports)) ctx.io.out(line);
      for (const r of reports) {
        if (!r.answered) continue;
        for (const p of r.status.peers) ctx.io.out(`${r.status.nodeId} -> ${p.nodeId}: match ${p.matchIndex}, next ${p.nextIndex}, ${p.state}, lag ${p.lag}`);
      }
      if (silent.length > 0) ctx.io.out(`voters that did not answer here: ${silent.join(', ')}`);
      for (const line of controllerLines(reports.flatMap((r) => (r.answered ? [r.status] : [])), Date.now())) ctx.io.out(line);
    }
    if (answered < quorum) {
      ctx.io.err(`no quorum: ${answered} of ${endpoints.length} members answered (a majority is ${quorum})`);
      return EXIT_ERROR;
    }
    return EXIT_OK;
  },
};
