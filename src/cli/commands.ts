// The `opencmq` commands: each one's options, help and handler. Handlers get everything through a
// CommandContext (client, output, stdin, signal), so tests run them with a fake client.

import { readFileSync } from 'node:fs';

import type { CmqClientOptions } from '../client/client';
import { CmqNetworkError } from '../client/errors';
import type { BatchDeleteFailure, ClusterNodeStatus, Message, QueueAttributes } from '../client/types';
import { LIMITS } from '../protocol/limits';
import {
  ADMIN_PORT_OFFSET,
  DEFAULT_SQS_PORT,
  COMPACT_BELOW_PERCENT,
  DEFAULT_DATA_DIR,
  DEFAULT_HOST,
  DEFAULT_PORT,
  METRICS_DEFAULTS,
  OTHER_QUEUES_LABEL,
  RAFT_TIMING_DEFAULTS,
  raftTiming,
  SERVER_EXIT,
  serverStartExitCode,
  type ClusterOptions,
  type Credential,
  type RunningServer,
  type ServerOptions,
} from '../node/server-options';
import { clusterStatus } from './cluster-status';
import { clusterStartLocal } from './local-cluster';
import { SET_FLAG_HELP, SET_FLAG_OPTIONS, setOptionsFrom } from './set-flags';
import { TOPIC_COMMANDS } from './topic-commands';
import { WAL_COMMANDS } from './wal-commands';
import { EXIT_ERROR, EXIT_OK, UsageError, type CliClient, type CliDeps, type CliIo } from './cli-io';
import { formatJson, formatKeyValues, formatUnixSeconds } from './format';
import { LIST_OPTIONS, listHelp, listOptions, printListing } from './listing';
import {
  QUEUE_ATTR_HELP,
  QUEUE_ATTR_OPTIONS,
  boolOpt,
  configFileValues,
  intOpt,
  logOptions,
  queueAttributesFromOptions,
  stringOpt,
  type OptionSpecs,
  type OptionValues,
} from './options';

export interface CommandContext {
  /** Positional arguments after the command words. */
  args: string[];
  opts: OptionValues;
  io: CliIo;
  json: boolean;
  deps: CliDeps;
  /** The client for --endpoint/--secret-*, created on first use. */
  client(): CliClient;
  /** A client for another endpoint, with the same credentials (and these client options). */
  clientFor(endpoint: string, overrides?: Partial<CmqClientOptions>): CliClient;
  /** The endpoint(s) --endpoint / $OPENCMQ_ENDPOINT / the default name, in order. */
  endpoints(): string[];
}

export interface CommandSpec {
  words: readonly string[];
  usage: string;
  summary: string;
  help: readonly string[];
  options: OptionSpecs;
  minArgs: number;
  maxArgs: number;
  run(ctx: CommandContext): Promise<number>;
}

// ---- output helpers ----

function messageJson(m: Message): Record<string, unknown> {
  return { ...m };
}

function printMessageHuman(io: CliIo, m: Message): void {
  for (const line of formatKeyValues([
    ['msgId', m.msgId],
    ['receiptHandle', m.receiptHandle],
    ['dequeueCount', String(m.dequeueCount)],
    ['enqueueTime', formatUnixSeconds(m.enqueueTime)],
    ['firstDequeueTime', formatUnixSeconds(m.firstDequeueTime)],
    ['nextVisibleTime', formatUnixSeconds(m.nextVisibleTime)],
    ['body', m.body],
  ])) {
    io.out(line);
  }
}

function printDeleteFailures(io: CliIo, failed: readonly BatchDeleteFailure[]): void {
  for (const f of failed) io.err(`error ${f.code}: ${f.message} (receipt handle ${f.receiptHandle})`);
}

const TIME_ATTRS = new Set(['createTime', 'lastModifyTime', 'minMsgTime']);

function attributeLines(name: string, a: QueueAttributes): string[] {
  const pairs: Array<[string, string]> = [['queueName', a.queueName ?? name]];
  if (a.queueId !== undefined) pairs.push(['queueId', a.queueId]);
  for (const [k, v] of Object.entries(a)) {
    if (k === 'queueName' || k === 'queueId' || k === 'deadLetterPolicy') continue;
    pairs.push([k, typeof v === 'number' && TIME_ATTRS.has(k) ? formatUnixSeconds(v) : String(v)]);
  }
  pairs.push(['deadLetterPolicy', a.deadLetterPolicy === undefined ? '-' : JSON.stringify(a.deadLetterPolicy)]);
  return formatKeyValues(pairs);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

// ---- queue commands ----

const queueCreate: CommandSpec = {
  words: ['queue', 'create'],
  usage: 'opencmq queue create NAME [attribute options]',
  summary: 'create a queue',
  help: ['Attribute options:', ...QUEUE_ATTR_HELP],
  options: QUEUE_ATTR_OPTIONS,
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    const attrs = queueAttributesFromOptions(ctx.opts, false);
    const queueId = await ctx.client().createQueue(name, attrs);
    ctx.io.out(ctx.json ? formatJson({ queueName: name, queueId }) : `created queue ${name} (${queueId})`);
    return EXIT_OK;
  },
};

const queueList: CommandSpec = {
  words: ['queue', 'list'],
  usage: 'opencmq queue list [--search WORD] [--offset N] [--limit N]',
  summary: 'list queues',
  help: listHelp('queues', LIMITS.listLimitDefault, LIMITS.listLimitMax),
  options: LIST_OPTIONS,
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const list = await ctx.client().listQueues(listOptions(ctx, LIMITS.listLimitMax));
    printListing(ctx, 'queues', list, ['NAME', 'ID'], list.queues.map((q) => [q.queueName, q.queueId]));
    return EXIT_OK;
  },
};

const queueGet: CommandSpec = {
  words: ['queue', 'get'],
  usage: 'opencmq queue get NAME',
  summary: 'show a queue’s attributes and message counts',
  help: [],
  options: {},
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    const attrs = await ctx.client().getQueueAttributes(name);
    if (ctx.json) ctx.io.out(formatJson({ queueName: name, ...attrs }));
    else for (const line of attributeLines(name, attrs)) ctx.io.out(line);
    return EXIT_OK;
  },
};

const queueSet: CommandSpec = {
  words: ['queue', 'set'],
  usage: 'opencmq queue set NAME [attribute options]',
  summary: 'change queue attributes',
  help: ['Attribute options (at least one):', ...QUEUE_ATTR_HELP],
  options: QUEUE_ATTR_OPTIONS,
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    const attrs = queueAttributesFromOptions(ctx.opts, true);
    await ctx.client().setQueueAttributes(name, attrs);
    ctx.io.out(ctx.json ? formatJson({ queueName: name, updated: attrs }) : `updated queue ${name}`);
    return EXIT_OK;
  },
};

const queueDelete: CommandSpec = {
  words: ['queue', 'delete'],
  usage: 'opencmq queue delete NAME',
  summary: 'delete a queue and its messages',
  help: [],
  options: {},
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    await ctx.client().deleteQueue(name);
    ctx.io.out(ctx.json ? formatJson({ queueName: name, deleted: true }) : `deleted queue ${name}`);
    return EXIT_OK;
  },
};

const queueRewind: CommandSpec = {
  words: ['queue', 'rewind'],
  usage: 'opencmq queue rewind NAME --time UNIX_SECONDS',
  summary: 'redeliver messages sent at or after a time (needs --rewind-seconds > 0)',
  help: ['Options:', '  --time UNIX_SECONDS   start of the redelivery, within the queue’s rewind window'],
  options: { time: { type: 'string' } },
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    const time = intOpt(ctx.opts, 'time', 0, Number.MAX_SAFE_INTEGER);
    if (time === undefined) throw new UsageError('--time is required');
    await ctx.client().rewindQueue(name, time);
    ctx.io.out(ctx.json ? formatJson({ queueName: name, startConsumeTime: time }) : `rewound queue ${name} to ${formatUnixSeconds(time)}`);
    return EXIT_OK;
  },
};

const queueRedrive: CommandSpec = {
  words: ['queue', 'redrive'],
  usage: 'opencmq queue redrive DLQ [--to QUEUE] [--max N]',
  summary: 'move a dead-letter queue’s messages back to the queues they came from',
  help: [
    'Moves the visible messages of the dead-letter queue DLQ, oldest first, each back to the queue',
    'it was dead-lettered from; a message whose source is unknown or deleted stays. Messages keep',
    'their msgId and body and are enqueued afresh. Prints how many moved.',
    '',
    'Options:',
    '  --to QUEUE   move every message to QUEUE instead',
    `  --max N      move at most N messages (1-${LIMITS.redriveMessagesMax}; default: all)`,
  ],
  options: { to: { type: 'string' }, max: { type: 'string' } },
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    const to = stringOpt(ctx.opts, 'to');
    const max = intOpt(ctx.opts, 'max', 1, LIMITS.redriveMessagesMax);
    const opts: { destinationQueue?: string; maxMessages?: number } = {};
    if (to !== undefined) opts.destinationQueue = to;
    if (max !== undefined) opts.maxMessages = max;
    const moved = await ctx.client().redriveDeadLetterQueue(name, opts);
    const where = to === undefined ? 'back to their source queues' : `to ${to}`;
    ctx.io.out(ctx.json ? formatJson({ queueName: name, destinationQueueName: to ?? null, moved }) : `moved ${moved} messages from ${name} ${where}`);
    return EXIT_OK;
  },
};

// ---- message commands ----

const send: CommandSpec = {
  words: ['send'],
  usage: 'opencmq send QUEUE BODY... [--delay N]    (BODY "-" reads one message per stdin line)',
  summary: 'send messages (several bodies go in one batch)',
  help: [
    'Options:',
    '  --delay N   seconds before the messages become visible',
    '',
    'With "-" as the only BODY, each non-empty stdin line is one message, sent in batches of 16.',
  ],
  options: { delay: { type: 'string' } },
  minArgs: 2,
  maxArgs: Infinity,
  async run(ctx) {
    const [queue = '', ...bodies] = ctx.args;
    const delay = intOpt(ctx.opts, 'delay', 0, LIMITS.delaySecondsMax);
    const sendOpts = delay === undefined ? {} : { delaySeconds: delay };
    const fromStdin = bodies.includes('-');
    if (fromStdin && bodies.length !== 1) throw new UsageError('"-" (read stdin) must be the only BODY');
    const client = ctx.client();
    const ids: string[] = [];
    const sendChunk = async (chunk: string[]): Promise<void> => {
      const got = chunk.length === 1 ? [await client.sendMessage(queue, chunk[0] ?? '', sendOpts)] : await client.batchSendMessage(queue, chunk, sendOpts);
      ids.push(...got);
      if (!ctx.json) for (const id of got) ctx.io.out(id);
    };
    if (fromStdin) {
      let chunk: string[] = [];
      for await (const line of ctx.io.stdinLines()) {
        if (line === '') continue;
        chunk.push(line);
        if (chunk.length === LIMITS.batchItemsMax) {
          await sendChunk(chunk);
          chunk = [];
        }
      }
      if (chunk.length > 0) await sendChunk(chunk);
    } else {
      for (let i = 0; i < bodies.length; i += LIMITS.batchItemsMax) await sendChunk(bodies.slice(i, i + LIMITS.batchItemsMax));
    }
    if (ctx.json) ctx.io.out(formatJson({ msgIds: ids }));
    return EXIT_OK;
  },
};

/** Default long-poll wait for `receive --watch` when --wait is not given. */
const WATCH_WAIT_SECONDS = 10;

const receive: CommandSpec = {
  words: ['receive'],
  usage: 'opencmq receive QUEUE [--count N] [--wait S] [--delete] [--watch]',
  summary: 'receive messages (they stay hidden for the visibility timeout unless --delete)',
  help: [
    'Options:',
    `  --count N   receive up to N messages at once (1-${LIMITS.batchItemsMax}, default 1)`,
    `  --wait S    long-poll up to S seconds (0-${LIMITS.pollingWaitSecondsMax}; default: the queue’s pollingWaitSeconds)`,
    '  --delete    delete each message after printing it',
    `  --watch     keep receiving until interrupted (default wait ${WATCH_WAIT_SECONDS} s; with --json: one JSON line per message)`,
  ],
  options: { count: { type: 'string' }, wait: { type: 'string' }, delete: { type: 'boolean' }, watch: { type: 'boolean' } },
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const queue = ctx.args[0] ?? '';
    const count = intOpt(ctx.opts, 'count', 1, LIMITS.batchItemsMax) ?? 1;
    const watch = boolOpt(ctx.opts, 'watch');
    const wait = intOpt(ctx.opts, 'wait', 0, LIMITS.pollingWaitSecondsMax) ?? (watch ? WATCH_WAIT_SECONDS : undefined);
    const del = boolOpt(ctx.opts, 'delete');
    const client = ctx.client();
    const signal = ctx.io.signal;
    const receiveOnce = async (): Promise<Message[]> => {
      const opts = wait === undefined ? { signal } : { pollingWaitSeconds: wait, signal };
      if (count === 1) {
        const m = await client.receiveMessage(queue, opts);
        return m === undefined ? [] : [m];
      }
      return client.batchReceiveMessage(queue, count, opts);
    };
    const deleteAll = async (messages: Message[]): Promise<boolean> => {
      if (!del || messages.length === 0) return true;
      const { failed } = await client.batchDeleteMessage(
        queue,
        messages.map((m) => m.receiptHandle),
      );
      printDeleteFailures(ctx.io, failed);
      return failed.length === 0;
    };

    if (!watch) {
      const messages = await receiveOnce();
      if (ctx.json) ctx.io.out(formatJson({ messages: messages.map(messageJson) }));
      else if (messages.length === 0) ctx.io.err('no message');
      else
        messages.forEach((m, i) => {
          if (i > 0) ctx.io.out('');
          printMessageHuman(ctx.io, m);
        });
      return (await deleteAll(messages)) ? EXIT_OK : EXIT_ERROR;
    }

    let printed = 0;
    let ok = true;
    while (!signal.aborted) {
      let messages: Message[];
      try {
        messages = await receiveOnce();
      } catch (err) {
        if (signal.aborted) break;
        if (!(err instanceof CmqNetworkError)) throw err;
        ctx.io.err(`error network: ${err.message} (retrying)`);
        await sleep(1000, signal);
        continue;
      }
      for (const m of messages) {
        if (ctx.json) ctx.io.out(JSON.stringify(messageJson(m)));
        else {
          if (printed > 0) ctx.io.out('');
          printMessageHuman(ctx.io, m);
        }
        printed++;
      }
      if (!(await deleteAll(messages))) ok = false;
    }
    return ok ? EXIT_OK : EXIT_ERROR;
  },
};

const deleteCmd: CommandSpec = {
  words: ['delete'],
  usage: 'opencmq delete QUEUE HANDLE...',
  summary: 'delete received messages by receipt handle',
  help: [],
  options: {},
  minArgs: 2,
  maxArgs: Infinity,
  async run(ctx) {
    const [queue = '', ...handles] = ctx.args;
    const client = ctx.client();
    if (handles.length === 1) {
      await client.deleteMessage(queue, handles[0] ?? '');
      ctx.io.out(ctx.json ? formatJson({ deleted: 1, failed: [] }) : 'deleted 1 message');
      return EXIT_OK;
    }
    const failed: BatchDeleteFailure[] = [];
    for (let i = 0; i < handles.length; i += LIMITS.batchItemsMax) {
      failed.push(...(await client.batchDeleteMessage(queue, handles.slice(i, i + LIMITS.batchItemsMax))).failed);
    }
    const deleted = handles.length - failed.length;
    if (ctx.json) ctx.io.out(formatJson({ deleted, failed }));
    else ctx.io.out(`deleted ${deleted} message${deleted === 1 ? '' : 's'}`);
    printDeleteFailures(ctx.io, failed);
    return failed.length === 0 ? EXIT_OK : EXIT_ERROR;
  },
};

// ---- server ----

const SERVER_OPTIONS: OptionSpecs = {
  'data-dir': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'keys-file': { type: 'string' },
  'insecure-no-auth': { type: 'boolean' },
  'no-fsync': { type: 'boolean' },
  'require-akid': { type: 'boolean' },
  'segment-mb': { type: 'string' },
  'compact-below': { type: 'string' },
  'snapshot-every': { type: 'string' },
  'push-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
  'keep-alive-timeout': { type: 'string' },
  'max-connections-per-client': { type: 'string' },
  'compat-empty-subscription-list': { type: 'boolean' },
  'admin-port': { type: 'string' },
  'admin-host': { type: 'string' },
  'metrics-max-queues': { type: 'string' },
  'sqs-port': { type: 'string' },
  'sqs-host': { type: 'string' },
  'node-id': { type: 'string' },
  'raft-host': { type: 'string' },
  'raft-port': { type: 'string' },
  peer: { type: 'string', multiple: true },
  'cluster-secret': { type: 'string' },
  'peer-tls-cert': { type: 'string' },
  'peer-tls-key': { type: 'string' },
  'peer-tls-ca': { type: 'string' },
  join: { type: 'boolean' },
  'heartbeat-ms': { type: 'string' },
  'election-timeout-ms': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-client-ca': { type: 'string' },
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },
  config: { type: 'string' },
  ...SET_FLAG_OPTIONS,
};

const server: CommandSpec = {
  words: ['server'],
  usage: 'opencmq server [--data-dir DIR] [--host H] [--port P] [credentials] [--no-fsync]',
  summary: 'run an opencmq server (until SIGINT/SIGTERM)',
  help: [
    'Options:',
    `  --data-dir DIR          where the log and snapshots live (default ${DEFAULT_DATA_DIR})`,
    `  --host H                listen address (default ${DEFAULT_HOST})`,
    `  --port P                listen port (default ${DEFAULT_PORT}; 0 picks a free one)`,
    '  --keys-file F           accepted credentials: one "SECRET_ID SECRET_KEY" per line, # comments',
    '  --secret-id ID          an accepted credential (default $OPENCMQ_SECRET_ID) ...',
    '  --secret-key KEY        ... with its key (default $OPENCMQ_SECRET_KEY)',
    '  --insecure-no-auth      allow a non-loopback --host without any credentials',
    '  --require-akid          reject SecretIds not starting with AKID, as Tencent Cloud does',
    '  --no-fsync              acknowledge before data is on disk (benchmarks only)',
    '  --segment-mb N          size of a log segment file in MiB (default 64)',
    '  --snapshot-every N      snapshot the state (and compact the log) every N entries (default 100000)',
    '  --compact-below PCT     copy the live messages out of a log segment holding less than PCT% live',
    '                          data, so it can be deleted (default 50; 0 never compacts)',
    '  --push-timeout S        seconds an http subscriber may take to answer a push (default 15)',
    '  --request-timeout S     seconds a client request may take to arrive, first byte to end of body;',
    `                          then 6100/10800 and the connection is closed (default ${LIMITS.httpRequestTimeoutMsDefault / 1000})`,
    `  --keep-alive-timeout S  seconds an idle client connection is kept open (default ${LIMITS.httpKeepAliveTimeoutMsDefault / 1000})`,
    '  --max-connections-per-client N',
    '                          open connections one client address may hold; more are closed at once',
    `                          (default ${LIMITS.httpConnectionsPerClientDefault}; all clients: ${LIMITS.httpConnectionsMax})`,
    '  --compat-empty-subscription-list',
    '                          ListSubscriptionByTopic on a missing topic answers 0 and an empty list',
    '                          (as the Java SDK\'s TopicTest expects) instead of 4440',
    '  --log-format F          auto (default: readable lines on a terminal, else JSON lines), json or pretty',
    '  --log-level L           trace, debug, info (default), warn or error',
    '',
    'Admin listener (health, readiness, Prometheus metrics; no authentication):',
    `  --admin-port P          GET /healthz, /readyz, /metrics on this port (default --port + ${ADMIN_PORT_OFFSET},`,
    '                          e.g. 9680; off when --port is 0 unless given; 0 turns it and all metrics off)',
    '  --admin-host H          its listen address (default --host)',
    `  --metrics-max-queues N  queues with their own queue label in /metrics; the rest are summed`,
    `                          under queue="${OTHER_QUEUES_LABEL}" (default ${METRICS_DEFAULTS.maxQueues})`,
    '',
    'Amazon SQS API (same queues, credentials and rules; JSON and query protocols, Signature Version 4):',
    `  --sqs-port P            its listen port (default ${DEFAULT_SQS_PORT} for a one-node server; none for a member of`,
    '                          a set, or when --port is 0, unless given; 0 turns it off)',
    '  --sqs-host H            its listen address (default --host)',
    '',
    'HTTPS for the client API (and the SQS API):',
    '  --tls-cert FILE         serve HTTPS with this certificate (PEM, chain first) ...',
    '  --tls-key FILE          ... and its private key (PEM); SIGHUP re-reads both',
    '  --tls-client-ca FILE    require client certificates issued by this CA (PEM)',
    '',
    'Replicated set (all three together):',
    '  --node-id ID            this node\'s id in the set, e.g. n1',
    '  --raft-port P           where this node listens for its peers (--raft-host H, default --host)',
    '  --peer ID=HOST:PORT     another member\'s peer address (repeat for each)',
    '  --cluster-secret S      shared by the members (default $OPENCMQ_CLUSTER_SECRET; >= 16 bytes)',
    '  --peer-tls-cert FILE    peer links over mutual TLS: this node\'s certificate, naming its node id',
    '                          as URI:urn:opencmq:node:ID (then --cluster-secret is optional) ...',
    '  --peer-tls-key FILE     ... its private key ...',
    '  --peer-tls-ca FILE      ... and the cluster CA, the only issuer accepted from peers',
    '  --join                  a new member of an existing set: wait to be added (opencmq cluster add-node)',
    `  --heartbeat-ms N        the leader heartbeats every member this often (default ${RAFT_TIMING_DEFAULTS.heartbeatMs})`,
    `  --election-timeout-ms N a member that hears no leader for a random time from N to 2N ms starts`,
    `                          an election (default ${RAFT_TIMING_DEFAULTS.electionTimeoutMs}; at least 3 heartbeats; give every member the same)`,
    '',
    ...SET_FLAG_HELP,
    '',
    '  --config FILE           read options from a JSON file keyed by option name, e.g.',
    '                          {"node-id": "n1", "raft-port": 9700, "peer": ["n2=10.0.0.2:9700"]};',
    '                          options given on the command line win',
    '',
    'Without credentials the server accepts unsigned requests, on loopback only.',
    '',
    'The data directory is locked for the life of the server (file LOCK in it). Its parent must exist.',
    `Exit codes: 0 stopped, 1 error, 2 usage error, 70 storage failure, ${SERVER_EXIT.dataDirInUse} data directory in use`,
    `by another server, ${SERVER_EXIT.dataDirUnusable} data directory unusable (not a directory, not writable, /proc...).`,
  ],
  options: SERVER_OPTIONS,
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const configFile = stringOpt(ctx.opts, 'config');
    let values = ctx.opts;
    if (configFile !== undefined) {
      let text: string;
      try {
        text = readFileSync(configFile, 'utf8');
      } catch (err) {
        throw new UsageError(`--config ${configFile}: ${err instanceof Error ? err.message : String(err)}`);
      }
      const fromFile = configFileValues(configFile, text, { ...SERVER_OPTIONS, 'secret-id': { type: 'string' }, 'secret-key': { type: 'string' } });
      values = { ...fromFile, ...Object.fromEntries(Object.entries(ctx.opts).filter(([, v]) => v !== undefined)) };
    }
    const opts = serverOptionsFrom(values, ctx.io);
    let running: RunningServer;
    try {
      running = await ctx.deps.startServer(opts);
    } catch (err) {
      // A supervisor can tell "in use, retry later" and "fix the configuration" from other failures.
      const code = serverStartExitCode(err);
      if (code === undefined) throw err;
      ctx.io.err(`error: ${(err as Error).message}`);
      return code;
    }
    if (ctx.json) ctx.io.out(JSON.stringify({ url: running.url, port: running.port, ...(running.sqsUrl !== undefined ? { sqsUrl: running.sqsUrl } : {}) }));
    if (!ctx.io.signal.aborted) {
      await new Promise<void>((resolve) => ctx.io.signal.addEventListener('abort', () => resolve(), { once: true }));
    }
    await running.close();
    ctx.io.err('opencmq stopped');
    return EXIT_OK;
  },
};

/**
 * Next to the API port (9680 for 9600), so members on one host get distinct ones. A free API port
 * (--port 0, tests) has no fixed neighbour: no admin listener unless --admin-port is given.
 */
function defaultAdminPort(apiPort: number): number {
  if (apiPort === 0 || apiPort + ADMIN_PORT_OFFSET > 65535) return 0;
  return apiPort + ADMIN_PORT_OFFSET;
}

/**
 * The fixed SQS port for a one-node server, the embedded one. Members of a set share a machine
 * in `cluster start-local` (which gives each its own) and in tests, so they get none unless
 * given; nor does a server on a free API port (--port 0, tests).
 */
function defaultSqsPort(opts: ServerOptions): number {
  return opts.cluster !== undefined || opts.port === 0 ? 0 : DEFAULT_SQS_PORT;
}

/** ServerOptions from the command line, falling back to the environment and the defaults. */
export function serverOptionsFrom(values: OptionValues, io: Pick<CliIo, 'env' | 'err'>): ServerOptions {
  // An empty environment variable counts as unset.
  const secretId = stringOpt(values, 'secret-id') ?? (io.env.OPENCMQ_SECRET_ID || undefined);
  const secretKey = stringOpt(values, 'secret-key') ?? (io.env.OPENCMQ_SECRET_KEY || undefined);
  const credentials: Credential[] = [];
  if ((secretId === undefined) !== (secretKey === undefined)) {
    throw new UsageError('--secret-id and --secret-key (or OPENCMQ_SECRET_ID and OPENCMQ_SECRET_KEY) go together');
  }
  if (secretId !== undefined && secretKey !== undefined) credentials.push({ secretId, secretKey });
  const opts: ServerOptions = {
    dataDir: stringOpt(values, 'data-dir') ?? DEFAULT_DATA_DIR,
    host: stringOpt(values, 'host') ?? DEFAULT_HOST,
    port: intOpt(values, 'port', 0, 65535) ?? DEFAULT_PORT,
    credentials,
    insecureNoAuth: boolOpt(values, 'insecure-no-auth'),
    requireAkidPrefix: boolOpt(values, 'require-akid'),
    fsync: !boolOpt(values, 'no-fsync'),
    ...logOptions(values),
  };
  const keysFile = stringOpt(values, 'keys-file');
  if (keysFile !== undefined) opts.keysFile = keysFile;
  const segmentMb = intOpt(values, 'segment-mb', 1, 4096);
  if (segmentMb !== undefined) opts.segmentBytes = segmentMb * 1024 * 1024;
  const snapshotEvery = intOpt(values, 'snapshot-every', 100, 100_000_000);
  if (snapshotEvery !== undefined) opts.snapshotEveryEntries = snapshotEvery;
  const compactBelow = intOpt(values, 'compact-below', COMPACT_BELOW_PERCENT.min, COMPACT_BELOW_PERCENT.max);
  if (compactBelow !== undefined) opts.compactBelowPercent = compactBelow;
  const pushTimeout = intOpt(values, 'push-timeout', 1, 300);
  if (pushTimeout !== undefined) opts.pushTimeoutMs = pushTimeout * 1000;
  const requestTimeout = intOpt(values, 'request-timeout', 1, 300);
  if (requestTimeout !== undefined) opts.requestTimeoutMs = requestTimeout * 1000;
  const keepAliveTimeout = intOpt(values, 'keep-alive-timeout', 1, 3600);
  if (keepAliveTimeout !== undefined) opts.keepAliveTimeoutMs = keepAliveTimeout * 1000;
  const perClient = intOpt(values, 'max-connections-per-client', 1, LIMITS.httpConnectionsMax);
  if (perClient !== undefined) opts.maxConnectionsPerClient = perClient;
  if (boolOpt(values, 'compat-empty-subscription-list')) opts.compatEmptySubscriptionList = true;
  const tlsCert = stringOpt(values, 'tls-cert');
  const tlsKey = stringOpt(values, 'tls-key');
  const tlsClientCa = stringOpt(values, 'tls-client-ca');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (tlsCert !== undefined && tlsKey !== undefined) {
    opts.tls = { certFile: tlsCert, keyFile: tlsKey, ...(tlsClientCa !== undefined ? { clientCaFile: tlsClientCa } : {}) };
  } else if (tlsClientCa !== undefined) {
    throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key');
  }
  const adminPort = intOpt(values, 'admin-port', 0, 65535) ?? defaultAdminPort(opts.port);
  if (adminPort !== 0) opts.adminPort = adminPort;
  const adminHost = stringOpt(values, 'admin-host');
  if (adminHost !== undefined) opts.adminHost = adminHost;
  const maxQueues = intOpt(values, 'metrics-max-queues', 0, 1_000_000);
  if (maxQueues !== undefined) opts.metricsMaxQueues = maxQueues;
  const cluster = clusterOptionsFrom(values, io, opts.host);
  if (cluster) opts.cluster = cluster;
  Object.assign(opts, setOptionsFrom(values, cluster));
  const sqsPort = intOpt(values, 'sqs-port', 0, 65535) ?? defaultSqsPort(opts);
  if (sqsPort !== 0) opts.sqsPort = sqsPort;
  const sqsHost = stringOpt(values, 'sqs-host');
  if (sqsHost !== undefined) opts.sqsHost = sqsHost;
  return opts;
}

/** The replicated-set options, or undefined for a one-node set. */
function clusterOptionsFrom(values: OptionValues, io: Pick<CliIo, 'env'>, host: string): ClusterOptions | undefined {
  const nodeId = stringOpt(values, 'node-id');
  const rawPeers = values['peer'];
  const peerList = Array.isArray(rawPeers) ? rawPeers.filter((p): p is string => typeof p === 'string') : [];
  if (nodeId === undefined && peerList.length === 0) {
    for (const flag of ['heartbeat-ms', 'election-timeout-ms']) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} applies to a replicated set (--node-id, --peer)`);
    }
    return undefined;
  }
  if (nodeId === undefined || peerList.length === 0) throw new UsageError('--node-id and --peer go together');
  const raftPort = intOpt(values, 'raft-port', 0, 65535);
  if (raftPort === undefined) throw new UsageError('--raft-port is required with --node-id');
  const secret = stringOpt(values, 'cluster-secret') ?? (io.env.OPENCMQ_CLUSTER_SECRET || undefined);
  const peerTlsFiles = [stringOpt(values, 'peer-tls-cert'), stringOpt(values, 'peer-tls-key'), stringOpt(values, 'peer-tls-ca')];
  const [peerCert, peerKey, peerCa] = peerTlsFiles;
  const peerTls = peerCert !== undefined && peerKey !== undefined && peerCa !== undefined ? { certFile: peerCert, keyFile: peerKey, caFile: peerCa } : undefined;
  if (peerTls === undefined && peerTlsFiles.some((f) => f !== undefined)) throw new UsageError('--peer-tls-cert, --peer-tls-key and --peer-tls-ca go together');
  if (secret === undefined && peerTls === undefined) {
    throw new UsageError('--cluster-secret (or OPENCMQ_CLUSTER_SECRET) or --peer-tls-cert/--peer-tls-key/--peer-tls-ca is required with --node-id');
  }
  const peers: ClusterOptions['peers'] = {};
  for (const p of peerList) {
    const m = /^([^=]+)=(.+):(\d+)$/.exec(p);
    if (!m) throw new UsageError(`--peer ${p}: expected ID=HOST:PORT`);
    if (m[1] === nodeId) throw new UsageError(`--peer ${p}: that is this node's own id`);
    peers[m[1]!] = { host: m[2]!, port: Number(m[3]) };
  }
  const cluster: ClusterOptions = { nodeId, raftHost: stringOpt(values, 'raft-host') ?? host, raftPort, peers };
  if (secret !== undefined) cluster.secret = secret;
  if (peerTls !== undefined) cluster.tls = peerTls;
  if (boolOpt(values, 'join')) cluster.join = true;
  const heartbeatMs = intOpt(values, 'heartbeat-ms', 1, 1_000_000);
  const electionTimeoutMs = intOpt(values, 'election-timeout-ms', 1, 1_000_000);
  const timing = raftTiming(heartbeatMs, electionTimeoutMs);
  if (typeof timing === 'string') throw new UsageError(timing);
  if (heartbeatMs !== undefined) cluster.heartbeatMs = heartbeatMs;
  if (electionTimeoutMs !== undefined) cluster.electionTimeoutMs = electionTimeoutMs;
  return cluster;
}

/** The set-administration calls, which only a real server (not the in-memory fake) answers. */
interface ClusterAdminClient {
  clusterStatus(): Promise<ClusterNodeStatus>;
  transferLeader(nodeId: string): Promise<{ from: string; to: string }>;
  addNode(nodeId: string, address: string): Promise<{ voters: string[] }>;
  removeNode(nodeId: string): Promise<{ voters: string[] }>;
}

function clusterAdmin(c: CliClient, command: string): ClusterAdminClient {
  const admin = c as Partial<ClusterAdminClient>;
  if (typeof admin.clusterStatus !== 'function' || typeof admin.transferLeader !== 'function' || typeof admin.addNode !== 'function' || typeof admin.removeNode !== 'function') {
    throw new UsageError(`${command} needs a server endpoint`);
  }
  return admin as ClusterAdminClient;
}

const clusterTransferLeader: CommandSpec = {
  words: ['cluster', 'transfer-leader'],
  usage: 'opencmq cluster transfer-leader NODE_ID',
  summary: 'hand the set\'s leadership to another member (e.g. before maintenance)',
  help: ['Any member may be asked; it answers once the new leader has taken over.'],
  options: {},
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const r = await clusterAdmin(ctx.client(), 'cluster transfer-leader').transferLeader(ctx.args[0] ?? '');
    ctx.io.out(ctx.json ? formatJson(r) : r.from === r.to ? `${r.to} already leads the set` : `leadership moved from ${r.from} to ${r.to}`);
    return EXIT_OK;
  },
};

/** How long `cluster move-queue --wait` waits by default, and how often it asks. */
const MOVE_WAIT_DEFAULT_S = 600;
const MOVE_POLL_MS = 1000;

interface QueueMoveClient {
  moveQueue(queueName: string, toSet: number, fromSet?: number): Promise<{ fromSet: number; toSet: number; phase: 'copying' | 'cutover' | 'done'; sourceMessages: number }>;
}

const clusterMoveQueue: CommandSpec = {
  words: ['cluster', 'move-queue'],
  usage: 'opencmq cluster move-queue NAME --to SET [--from SET] [--wait] [--timeout S]',
  summary: 'move a queue (or one shard of it) with its messages to another set while it stays in use',
  help: [
    'Records the move at the cluster controller, creates the queue on set SET with the same settings,',
    'and returns; the leader of the set it is on then moves its messages over. Meanwhile new messages',
    'go to SET, receives take from both sets, and every receipt handle keeps working. Messages in',
    'flight stay until deleted or visible again; delayed ones move once due. When nothing is left the',
    'old copy is deleted and the queue is on SET alone. Asked again, it prints how far the move got.',
    'A queue of several shards moves one shard at a time: --from names the set of the shard to move,',
    'and SET must hold no shard of the queue; the other shards serve on meanwhile. FIFO queues are refused.',
    '',
    'Options:',
    '  --to SET     the id of the set to move it to (see cluster status)',
    '  --from SET   the set of the shard to move (required for a queue of several shards)',
    '  --wait       wait until the move is done, printing progress',
    `  --timeout S  with --wait, give up waiting after S seconds (default ${MOVE_WAIT_DEFAULT_S}; the move goes on)`,
    '',
    'Exit codes: 0 the move is under way (with --wait: done), 1 refused, failed or timed out, 2 usage error.',
  ],
  options: { to: { type: 'string' }, from: { type: 'string' }, wait: { type: 'boolean' }, timeout: { type: 'string' } },
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    const to = intOpt(ctx.opts, 'to', 1, 0xffff_ffff);
    if (to === undefined) throw new UsageError('--to SET is required');
    const from = intOpt(ctx.opts, 'from', 1, 0xffff_ffff);
    const timeoutMs = (intOpt(ctx.opts, 'timeout', 1, 86_400) ?? MOVE_WAIT_DEFAULT_S) * 1000;
    const c = ctx.client() as Partial<QueueMoveClient>;
    if (typeof c.moveQueue !== 'function') throw new UsageError('cluster move-queue needs a server endpoint');
    const client = c as QueueMoveClient;
    const what = from === undefined ? `queue ${name}` : `queue ${name} (the shard from set ${from})`;
    const show = (r: Awaited<ReturnType<QueueMoveClient['moveQueue']>>): void =>
      ctx.io.out(ctx.json ? formatJson(r) : r.phase === 'done' ? `${what} is on set ${r.toSet}` : `${what}: moving from set ${r.fromSet} to set ${r.toSet} (${r.phase}, ${r.sourceMessages} messages left on set ${r.fromSet})`);
    let r = await client.moveQueue(name, to, from);
    show(r);
    if (ctx.opts['wait'] !== true) return EXIT_OK;
    const deadline = Date.now() + timeoutMs;
    while (r.phase !== 'done') {
      if (Date.now() >= deadline || ctx.io.signal.aborted) {
        ctx.io.err(`queue ${name}: still moving after the wait; the move goes on (run the command again to see how far it got)`);
        return EXIT_ERROR;
      }
      await sleep(MOVE_POLL_MS, ctx.io.signal);
      const next = await client.moveQueue(name, to, from);
      if (next.phase !== r.phase || next.sourceMessages !== r.sourceMessages) show(next);
      r = next;
    }
    return EXIT_OK;
  },
};

const clusterAddNode: CommandSpec = {
  words: ['cluster', 'add-node'],
  usage: 'opencmq cluster add-node NODE_ID=HOST:PORT',
  summary: 'add a member (started with --join) to the set; HOST:PORT is its peer (raft) address',
  help: [
    'Start the new node first with --node-id, --raft-port, --peer for every current member and --join.',
    'Membership changes one server at a time; the command answers once the change is committed.',
    'To replace a dead member: add the new node, then remove the dead one.',
  ],
  options: {},
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const m = /^([^=]+)=(.+:\d+)$/.exec(ctx.args[0] ?? '');
    if (!m) throw new UsageError('expected NODE_ID=HOST:PORT');
    const r = await clusterAdmin(ctx.client(), 'cluster add-node').addNode(m[1]!, m[2]!);
    ctx.io.out(ctx.json ? formatJson(r) : `added ${m[1]!}; voters: ${r.voters.join(', ')}`);
    return EXIT_OK;
  },
};

const clusterRemoveNode: CommandSpec = {
  words: ['cluster', 'remove-node'],
  usage: 'opencmq cluster remove-node NODE_ID',
  summary: 'remove a member from the set (a removed leader hands over first)',
  help: ['Answers once the change is committed; the removed node can then be stopped and its data deleted.'],
  options: {},
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const id = ctx.args[0] ?? '';
    const r = await clusterAdmin(ctx.client(), 'cluster remove-node').removeNode(id);
    ctx.io.out(ctx.json ? formatJson(r) : `removed ${id}; voters: ${r.voters.join(', ')}`);
    return EXIT_OK;
  },
};

export const COMMANDS: readonly CommandSpec[] = [
  server,
  clusterStartLocal,
  clusterStatus,
  clusterTransferLeader,
  clusterAddNode,
  clusterRemoveNode,
  clusterMoveQueue,
  queueCreate,
  queueList,
  queueGet,
  queueSet,
  queueDelete,
  queueRewind,
  queueRedrive,
  send,
  receive,
  deleteCmd,
  ...TOPIC_COMMANDS,
  ...WAL_COMMANDS,
];
