// NATS JetStream as a peer: three nats-server processes (the Debian package's binary) clustered on
// loopback, one R3 file-backed stream per queue, publishes awaiting their PubAck, a durable pull
// consumer with explicit acks; driven with the `nats` npm client.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { AckPolicy, connect, StorageType, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';

import { bodyBuffer, closedLoops, IN_FLIGHT_MAX, idOf, sleep, STALL_TIMEOUT_MS, type ScenarioResult, type Until } from './measure';
import { freePort, isExecutable, missingCommand, retry, spawnPeer, stopPeer, waitForPort, type PeerProcess } from './peer-process';
import type { FailoverDriver, PeerSystem } from './system';

/** Debian installs it in /usr/sbin, which a non-root PATH often lacks. */
const DEBIAN_NATS_SERVER = '/usr/sbin/nats-server';
const NATS_SERVER = isExecutable(DEBIAN_NATS_SERVER) ? DEBIAN_NATS_SERVER : 'nats-server';
const SERVER_NAMES = ['n1', 'n2', 'n3'] as const;
const START_TIMEOUT_MS = 30_000;
/** JetStream needs its meta leader elected before a stream can be created. */
const READY_TIMEOUT_MS = 30_000;
/** A publish without a PubAck after this long fails. */
const PUBLISH_TIMEOUT_MS = 2_000;
/**
 * In the failover run a publish to the dead leader gets no answer at all; the client notices by
 * this timeout and retries, so it bounds how finely the unavailable time is measured.
 */
const FAILOVER_PUBLISH_TIMEOUT_MS = 500;

export function natsUnavailableReason(): string | undefined {
  return missingCommand(NATS_SERVER, ['--version']);
}

interface NatsServer extends PeerProcess {
  clientPort: number;
}

export class NatsSystem implements PeerSystem {
  readonly name = 'NATS JetStream';
  readonly durability =
    'acknowledged once stored on a majority; the Debian nats-server (2.9) fsyncs in the background only (sync_interval, 2 min by default)';
  /** One client per stream, connected to the server leading it (as opencmq's and RabbitMQ's clients talk to the leader). */
  private readonly clients = new Map<string, { nc: NatsConnection; js: JetStreamClient }>();

  private constructor(
    private readonly root: string,
    private readonly servers: NatsServer[],
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
  ) {}

  static async start(): Promise<NatsSystem> {
    const root = await mkdtemp(path.join(os.tmpdir(), 'opencmq-peers-nats-'));
    const servers: NatsServer[] = [];
    try {
      const clusterPorts: number[] = [];
      for (let i = 0; i < SERVER_NAMES.length; i++) clusterPorts.push(await freePort());
      for (const [i, name] of SERVER_NAMES.entries()) {
        const clientPort = await freePort();
        const conf = path.join(root, `${name}.conf`);
        const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`);
        await writeFile(
          conf,
          `server_name: ${name}\nlisten: 127.0.0.1:${clientPort}\n` +
            `jetstream { store_dir: "${path.join(root, name)}" }\n` +
            `cluster { name: bench, listen: 127.0.0.1:${clusterPorts[i]}, routes: [${routes.join(', ')}] }\n`,
        );
        servers.push({ ...spawnPeer(`nats ${name}`, NATS_SERVER, ['-c', conf]), clientPort });
      }
      for (const s of servers) await waitForPort(s, s.clientPort, START_TIMEOUT_MS);
      const nc = await connect({ servers: servers.map((s) => `127.0.0.1:${s.clientPort}`) });
      const jsm = await nc.jetstreamManager({ checkAPI: false });
      await retry('JetStream ready', READY_TIMEOUT_MS, () => jsm.getAccountInfo());
      return new NatsSystem(root, servers, nc, jsm);
    } catch (err) {
      await Promise.all(servers.map((s) => stopPeer(s)));
      await rm(root, { recursive: true, force: true });
      throw err;
    }
  }

  serverPids(): number[] {
    return this.servers.flatMap((s) => (s.child.pid === undefined ? [] : [s.child.pid]));
  }

  async createQueue(q: string): Promise<void> {
    await retry(`create stream ${q}`, READY_TIMEOUT_MS, () =>
      this.jsm.streams.add({ name: q, subjects: [q], storage: StorageType.File, num_replicas: 3 }),
    );
    await this.jsm.consumers.add(q, { durable_name: q, ack_policy: AckPolicy.Explicit });
  }

  async produce(q: string, until: Until): Promise<ScenarioResult> {
    const payload = bodyBuffer(-1);
    const { js } = await this.client(q);
    return closedLoops(IN_FLIGHT_MAX, until, async () => {
      await js.publish(q, payload);
      return 1;
    });
  }

  async consume(q: string, count: number): Promise<ScenarioResult> {
    const t0 = performance.now();
    const n = await this.consumeFor((await this.client(q)).js, q, count, () => undefined);
    return { messages: n, seconds: (performance.now() - t0) / 1000, latenciesMs: [], errors: 0, note: 'push-style pull consumer: no per-message latency' };
  }

  async mixed(q: string, durationS: number): Promise<ScenarioResult> {
    let stop = false;
    let consumed = 0;
    const { js } = await this.client(q);
    const consumer = this.consumeFor(js, q, Infinity, () => {
      consumed++;
    }, () => stop);
    const payload = bodyBuffer(-1);
    const r = await closedLoops(IN_FLIGHT_MAX / 2, { durationS }, async () => {
      await js.publish(q, payload);
      return 1;
    });
    stop = true;
    await consumer;
    return { ...r, note: `consumed ${Math.round(consumed / r.seconds)} msg/s meanwhile` };
  }

  async failover(q: string): Promise<FailoverDriver> {
    await this.createQueue(q);
    const leaderName = (await this.jsm.streams.info(q)).cluster?.leader;
    const via = this.servers.find((s) => s.name !== `nats ${leaderName}`)!;
    // Only a non-leader in the list: killing the leader must not cost this client its connection.
    const nc = await connect({ servers: [`127.0.0.1:${via.clientPort}`], maxReconnectAttempts: -1 });
    const js = nc.jetstream({ timeout: FAILOVER_PUBLISH_TIMEOUT_MS });
    return {
      idsPerSend: 1,
      send: async (ids) => {
        // msgID: a retried publish is deduplicated by the stream (the usual JetStream practice).
        await js.publish(q, bodyBuffer(ids[0]!), { msgID: String(ids[0]) });
      },
      consume: (onMessage) => {
        let stop = false;
        // The stream sequence names the stored copy (a redelivery keeps it).
        const done = this.consumeFor(js, q, Infinity, (text, seq) => onMessage(idOf(text), String(seq)), () => stop);
        return Promise.resolve(async () => {
          stop = true;
          await done;
          await nc.close();
        });
      },
      killLeader: async () => {
        const leader = (await this.jsm.streams.info(q)).cluster?.leader;
        const s = this.servers.find((x) => x.name === `nats ${leader}`);
        if (!s) throw new Error(`stream ${q} has no leader (${leader})`);
        s.child.kill('SIGKILL');
        return `${leader} (pid ${s.child.pid})`;
      },
    };
  }

  async stop(): Promise<void> {
    for (const c of this.clients.values()) await c.nc.close().catch(() => undefined);
    await this.nc.close().catch(() => undefined);
    await Promise.all(this.servers.map((s) => stopPeer(s)));
    await rm(this.root, { recursive: true, force: true });
  }

  private async client(q: string): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
    let c = this.clients.get(q);
    if (!c) {
      const leader = (await this.jsm.streams.info(q)).cluster?.leader;
      const s = this.servers.find((x) => x.name === `nats ${leader}`) ?? this.servers[0]!;
      const nc = await connect({ servers: [`127.0.0.1:${s.clientPort}`] });
      c = { nc, js: nc.jetstream({ timeout: PUBLISH_TIMEOUT_MS }) };
      this.clients.set(q, c);
    }
    return c;
  }

  /** Consume from the durable consumer named after the stream, acking each message, until count or stopped. */
  private async consumeFor(js: JetStreamClient, q: string, count: number, onMessage: (text: string, seq: number) => void, stopped = (): boolean => false): Promise<number> {
    const consumer = await js.consumers.get(q, q);
    let n = 0;
    let lastProgress = performance.now();
    const messages = await consumer.consume({
      max_messages: IN_FLIGHT_MAX,
      callback: (m) => {
        onMessage(Buffer.from(m.data.buffer, m.data.byteOffset, Math.min(16, m.data.length)).toString('latin1'), m.seq);
        m.ack();
        n++;
        lastProgress = performance.now();
      },
    });
    while (n < count && !stopped() && performance.now() - lastProgress < STALL_TIMEOUT_MS) await sleep(5);
    await messages.close();
    return n;
  }
}
