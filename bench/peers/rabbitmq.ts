// RabbitMQ as a peer: a 3-node cluster on loopback from the Debian `rabbitmq-server` package,
// one quorum queue per queue, publisher confirms (a bounded window of unconfirmed publishes) and
// manual acks; driven with amqplib. Debian's wrapper scripts re-run everything as the `rabbitmq`
// user (via su, keeping the environment), so this needs root and rabbitmq-owned directories.

import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { connect, type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';

import { bodyBuffer, closedLoops, IN_FLIGHT_MAX, idOf, sleep, STALL_TIMEOUT_MS, type ScenarioResult, type Until } from './measure';
import { accepts, exited, freePort, isExecutable, spawnPeer, waitForPort, type PeerProcess } from './peer-process';
import type { FailoverDriver, PeerSystem } from './system';

const run = promisify(execFile);

const SERVER = '/usr/sbin/rabbitmq-server';
const CTL = '/usr/sbin/rabbitmqctl';
const EPMD = 'epmd';
/**
 * Any Erlang run without ERL_EPMD_PORT (e.g. a rabbitmqctl probe) starts an epmd on the default
 * port; if one is there at the end and none was before, the harness stops it too (by the epmd
 * protocol, not by process name).
 */
const DEFAULT_EPMD_PORT = 4369;
const EPMD_KILL_ATTEMPTS = 10;
const NODE_NAMES = ['bench1@localhost', 'bench2@localhost', 'bench3@localhost'] as const;
const START_TIMEOUT_MS = 120_000;
const CTL_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

export function rabbitmqUnavailableReason(): string | undefined {
  // Probed by looking, not by running: any rabbitmqctl run starts an epmd on the default port.
  const missing = [SERVER, CTL].find((f) => !isExecutable(f));
  if (missing) return `${missing} not found; install with: apt-get install -y rabbitmq-server nats-server`;
  if (process.getuid?.() !== 0) return 'RabbitMQ needs root here: the Debian wrapper switches to the rabbitmq user with su';
  return undefined;
}

interface RabbitNode extends PeerProcess {
  nodeName: string;
  amqpPort: number;
  pidFile: string;
  /** The beam.smp process (from RABBITMQ_PID_FILE), for CPU and for killing it. */
  beamPid: number;
}

export class RabbitmqSystem implements PeerSystem {
  readonly name = 'RabbitMQ quorum queues';
  readonly durability = 'quorum queue: a publish is confirmed once fsynced on a majority (Raft WAL)';
  private publishChannel: Promise<ConfirmChannel> | undefined;

  private constructor(
    private readonly root: string,
    private readonly epmdPort: number,
    private readonly defaultEpmdBefore: boolean,
    private readonly nodes: RabbitNode[],
    private readonly conn: ChannelModel,
  ) {}

  static async start(): Promise<RabbitmqSystem> {
    const root = await mkdtemp(path.join(os.tmpdir(), 'opencmq-peers-rabbitmq-'));
    await chmod(root, 0o755); // the rabbitmq user must reach its directories inside
    const epmdPort = await freePort();
    const defaultEpmdBefore = await accepts(DEFAULT_EPMD_PORT);
    const nodes: RabbitNode[] = [];
    try {
      const uid = Number((await run('id', ['-u', 'rabbitmq'])).stdout.trim());
      const gid = Number((await run('id', ['-g', 'rabbitmq'])).stdout.trim());
      const plugins = path.join(root, 'enabled_plugins');
      await writeFile(plugins, '[].\n');
      await chown(plugins, uid, gid);
      for (const nodeName of NODE_NAMES) {
        const dir = path.join(root, nodeName.split('@')[0]!);
        for (const d of [dir, path.join(dir, 'mnesia'), path.join(dir, 'log')]) {
          await mkdir(d, { recursive: true });
          await chown(d, uid, gid);
        }
        const amqpPort = await freePort();
        const config = path.join(dir, 'rabbitmq.conf');
        await writeFile(config, 'loopback_users = none\nlisteners.tcp.1 = 127.0.0.1:' + amqpPort + '\n');
        const pidFile = path.join(dir, 'beam.pid');
        const env = {
          ...process.env,
          ERL_EPMD_PORT: String(epmdPort),
          ERL_EPMD_ADDRESS: '127.0.0.1',
          RABBITMQ_NODENAME: nodeName,
          RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
          RABBITMQ_NODE_PORT: String(amqpPort),
          RABBITMQ_DIST_PORT: String(await freePort()),
          RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
          RABBITMQ_LOG_BASE: path.join(dir, 'log'),
          RABBITMQ_CONFIG_FILE: config,
          RABBITMQ_ENABLED_PLUGINS_FILE: plugins,
          RABBITMQ_PID_FILE: pidFile,
          RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
        };
        nodes.push({ ...spawnPeer(`rabbitmq ${nodeName}`, SERVER, [], { env }), nodeName, amqpPort, pidFile, beamPid: 0 });
      }
      for (const n of nodes) {
        await waitForPort(n, n.amqpPort, START_TIMEOUT_MS);
        n.beamPid = Number((await readFile(n.pidFile, 'utf8')).trim());
      }
      const ctl = (node: string, ...args: string[]): Promise<string> => rabbitmqctl(epmdPort, node, args);
      for (const n of nodes.slice(1)) {
        await ctl(n.nodeName, 'stop_app');
        await ctl(n.nodeName, 'join_cluster', NODE_NAMES[0]);
        await ctl(n.nodeName, 'start_app');
      }
      const conn = await openConnection(nodes[0]!.amqpPort);
      return new RabbitmqSystem(root, epmdPort, defaultEpmdBefore, nodes, conn);
    } catch (err) {
      await stopNodes(epmdPort, nodes, defaultEpmdBefore);
      await rm(root, { recursive: true, force: true });
      throw err;
    }
  }

  serverPids(): number[] {
    return this.nodes.map((n) => n.beamPid);
  }

  async createQueue(q: string): Promise<void> {
    // Declared through node 1 with client-local placement, so the leader is the node the clients
    // talk to (the fast path, as opencmq's clients talk to its leader).
    const ch = await this.conn.createChannel();
    await ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-queue-leader-locator': 'client-local' } });
    await ch.close();
  }

  async produce(q: string, until: Until): Promise<ScenarioResult> {
    const ch = await (this.publishChannel ??= this.conn.createConfirmChannel());
    const payload = bodyBuffer(-1);
    return closedLoops(IN_FLIGHT_MAX, until, async () => {
      await publish(ch, q, payload);
      return 1;
    });
  }

  async consume(q: string, count: number): Promise<ScenarioResult> {
    const t0 = performance.now();
    const n = await consumeFor(this.conn, q, IN_FLIGHT_MAX, count, () => undefined, () => false);
    return { messages: n, seconds: (performance.now() - t0) / 1000, latenciesMs: [], errors: 0, note: 'push consumer: no per-message latency' };
  }

  async mixed(q: string, durationS: number): Promise<ScenarioResult> {
    const ch = await (this.publishChannel ??= this.conn.createConfirmChannel());
    let stop = false;
    let consumed = 0;
    const consumer = consumeFor(this.conn, q, IN_FLIGHT_MAX / 2, Infinity, () => consumed++, () => stop);
    const payload = bodyBuffer(-1);
    const r = await closedLoops(IN_FLIGHT_MAX / 2, { durationS }, async () => {
      await publish(ch, q, payload);
      return 1;
    });
    stop = true;
    await consumer;
    return { ...r, note: `consumed ${Math.round(consumed / r.seconds)} msg/s meanwhile` };
  }

  async failover(q: string): Promise<FailoverDriver> {
    await this.createQueue(q);
    const leader = await this.queueLeader(q);
    const via = this.nodes.find((n) => n.nodeName !== leader)!;
    const conn = await openConnection(via.amqpPort);
    let ch: Promise<ConfirmChannel> | undefined;
    const channel = (): Promise<ConfirmChannel> => {
      ch ??= conn.createConfirmChannel().then((c) => {
        c.on('close', () => (ch = undefined));
        c.on('error', () => undefined);
        return c;
      });
      return ch;
    };
    return {
      idsPerSend: 1,
      send: async (ids) => publish(await channel(), q, bodyBuffer(ids[0]!)),
      consume: (onMessage) => {
        let stop = false;
        // Re-subscribe whenever the consumer is cancelled or its channel closes.
        const loop = (async () => {
          while (!stop) {
            await consumeFor(conn, q, IN_FLIGHT_MAX / 4, Infinity, (text) => onMessage(idOf(text)), () => stop).catch(() => undefined);
            if (!stop) await sleep(100);
          }
        })();
        return Promise.resolve(async () => {
          stop = true;
          await loop;
          await conn.close().catch(() => undefined);
        });
      },
      killLeader: async () => {
        const name = await this.queueLeader(q);
        const n = this.nodes.find((x) => x.nodeName === name);
        if (!n) throw new Error(`queue ${q} has no known leader (${name})`);
        process.kill(n.beamPid, 'SIGKILL');
        return `${name} (beam.smp pid ${n.beamPid})`;
      },
    };
  }

  async stop(): Promise<void> {
    await this.conn.close().catch(() => undefined);
    await stopNodes(this.epmdPort, this.nodes, this.defaultEpmdBefore);
    await rm(this.root, { recursive: true, force: true });
  }

  /** The node leading a quorum queue, as the cluster reports it (`rabbitmqctl list_queues name leader`). */
  private async queueLeader(q: string): Promise<string> {
    const alive = this.nodes.find((n) => !exited(n))!;
    const out = await rabbitmqctl(this.epmdPort, alive.nodeName, ['list_queues', '-q', '--no-table-headers', 'name', 'leader']);
    for (const line of out.split('\n')) {
      const [name, leader] = line.trim().split(/\s+/);
      if (name === q && leader) return leader;
    }
    throw new Error(`queue ${q} not in list_queues:\n${out}`);
  }
}

/** A connection whose errors (its node killed in the failover run) do not crash the harness. */
async function openConnection(port: number): Promise<ChannelModel> {
  const conn = await connect(`amqp://guest:guest@127.0.0.1:${port}`);
  conn.on('error', () => undefined);
  return conn;
}

async function rabbitmqctl(epmdPort: number, node: string, args: string[]): Promise<string> {
  const env = { ...process.env, ERL_EPMD_PORT: String(epmdPort) };
  const r = await run(CTL, ['-n', node, ...args], { env, timeout: CTL_TIMEOUT_MS });
  return r.stdout;
}

function publish(ch: ConfirmChannel, q: string, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.sendToQueue(q, payload, { persistent: true }, (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
  });
}

/** Consume with manual acks (one per message) until count, stopped, or nothing came for a while. */
async function consumeFor(
  conn: ChannelModel,
  q: string,
  prefetch: number,
  count: number,
  onMessage: (text: string) => void,
  stopped: () => boolean,
): Promise<number> {
  const ch: Channel = await conn.createChannel();
  let closed = false;
  ch.on('close', () => (closed = true));
  ch.on('error', () => undefined);
  ch.on('cancel', () => (closed = true));
  await ch.prefetch(prefetch);
  let n = 0;
  let lastProgress = performance.now();
  const { consumerTag } = await ch.consume(q, (m) => {
    if (!m) {
      closed = true;
      return;
    }
    onMessage(m.content.toString('latin1', 0, 16));
    ch.ack(m);
    n++;
    lastProgress = performance.now();
  });
  while (n < count && !stopped() && !closed && performance.now() - lastProgress < STALL_TIMEOUT_MS) await sleep(5);
  if (!closed) {
    await ch.cancel(consumerTag).catch(() => undefined);
    await ch.close().catch(() => undefined);
  }
  return n;
}

/** `rabbitmqctl -n NODE stop` for every live node, then the epmd this cluster started. */
async function stopNodes(epmdPort: number, nodes: RabbitNode[], defaultEpmdBefore: boolean): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      if (exited(n)) return;
      const done = new Promise((r) => n.child.once('exit', r));
      await rabbitmqctl(epmdPort, n.nodeName, ['stop']).catch(() => undefined);
      const timer = setTimeout(() => {
        if (n.beamPid > 0) process.kill(n.beamPid, 'SIGKILL');
        n.child.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      await done;
      clearTimeout(timer);
    }),
  );
  await killEpmd(epmdPort);
  if (!defaultEpmdBefore) await killEpmd(DEFAULT_EPMD_PORT);
}

/** `epmd -port P -kill`, retried: epmd refuses while a (just stopped) node is still registered. */
async function killEpmd(port: number): Promise<void> {
  let answer = '';
  for (let attempt = 0; attempt < EPMD_KILL_ATTEMPTS; attempt++) {
    if (!(await accepts(port))) return;
    answer = await run(EPMD, ['-port', String(port), '-kill'], { timeout: 10_000 }).then(
      (r) => r.stdout + r.stderr,
      (err: unknown) => String(err),
    );
    await sleep(500);
  }
  console.log(`  WARNING: epmd on port ${port} is still running (${answer.trim()}); stop it with: epmd -port ${port} -kill`);
}

