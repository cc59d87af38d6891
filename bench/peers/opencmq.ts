// opencmq as a peer: a 3-node set on loopback (bench-servers), driven over keep-alive HTTP with
// the bench's raw load generator (Node's http client would cost more CPU than the server).

import { agreedLeader, startSet, type BenchServers, type ServerProc } from '../bench-servers';
import { BATCH as LOAD_BATCH, createQueue, mustOk, receiveDeleteBatch, sendBatch, Target } from '../load';
import { isOk, RawHttpConnection } from '../raw-http';
import { BATCH, body, closedLoops, IN_FLIGHT_MAX, idOf, sleep, type ScenarioResult, type Until } from './measure';
import type { FailoverDriver, PeerSystem } from './system';

const CONNECTIONS = IN_FLIGHT_MAX / BATCH;
/** Short, so a message whose delete was lost in the failover comes back within the drain. */
const FAILOVER_VISIBILITY_S = 5;

export class OpencmqSystem implements PeerSystem {
  readonly name: string;
  readonly durability: string;
  private leader: Target;

  private constructor(
    private readonly servers: BenchServers,
    leaderProc: ServerProc,
    fsync: boolean,
  ) {
    this.name = fsync ? 'opencmq' : 'opencmq --no-fsync';
    this.durability = fsync ? 'fdatasync on a majority before the ack' : 'NO fsync (page cache on a majority)';
    this.leader = new Target(leaderProc.id, leaderProc.port);
  }

  static async start(fsync: boolean): Promise<OpencmqSystem> {
    const servers = await startSet({ fsync });
    try {
      return new OpencmqSystem(servers, await agreedLeader(servers.nodes), fsync);
    } catch (err) {
      await servers.stop();
      throw err;
    }
  }

  serverPids(): number[] {
    return this.servers.nodes.map((n) => n.pid);
  }

  async createQueue(q: string): Promise<void> {
    await createQueue(this.leader, q);
  }

  async produce(q: string, until: Until): Promise<ScenarioResult> {
    const req = sendBatch(q);
    const conns = await this.connections(CONNECTIONS);
    return closedLoops(CONNECTIONS, until, async (w) => {
      await mustOk(conns[w]!, req);
      return LOAD_BATCH;
    });
  }

  async consume(q: string, count: number): Promise<ScenarioResult> {
    const conns = await this.connections(CONNECTIONS);
    return closedLoops(CONNECTIONS, { messages: count }, (w) => receiveDeleteBatch(this.leader, conns[w]!, q));
  }

  async mixed(q: string, durationS: number): Promise<ScenarioResult> {
    const req = sendBatch(q);
    const conns = await this.connections(CONNECTIONS);
    let consumed = 0;
    const r = await closedLoops(
      CONNECTIONS,
      { durationS },
      async (w) => {
        if (w % 2 === 0) {
          await mustOk(conns[w]!, req);
          return LOAD_BATCH;
        }
        const n = await receiveDeleteBatch(this.leader, conns[w]!, q);
        consumed += n; // not `+= await`: that would read `consumed` before the await
        return 0;
      },
      (w) => w % 2 === 0,
    );
    return { ...r, note: `consumed ${Math.round(consumed / r.seconds)} msg/s meanwhile` };
  }

  async failover(q: string): Promise<FailoverDriver> {
    const create = RawHttpConnection.request(
      `Action=CreateQueue&queueName=${q}&maxMsgHeapNum=100000000&visibilityTimeout=${FAILOVER_VISIBILITY_S}&maxMsgSize=65536`,
    );
    const c = await this.leader.connection(0);
    if (!isOk(await c.send(create))) throw new Error(`CreateQueue ${q} failed`);
    const leaderProc = await agreedLeader(this.servers.nodes);
    // Clients talk to a follower, which forwards to whoever leads; killing the leader leaves them connected.
    const follower = this.servers.nodes.find((n) => n !== leaderProc)!;
    const via = new Target(follower.id, follower.port);
    const sendConns: RawHttpConnection[] = [];
    const receive = via.receiveRequest(q);
    return {
      idsPerSend: BATCH,
      send: async (ids) => {
        const conn = sendConns.pop() ?? (await RawHttpConnection.connect(follower.port));
        try {
          // The same dedupId on every retry of this batch (as the SDK does): a batch whose first
          // attempt was applied before the leader died is not enqueued a second time.
          let form = `Action=BatchSendMessage&queueName=${q}&dedupId=batch-${ids[0]}`;
          ids.forEach((id, i) => (form += `&msgBody.${i + 1}=${body(id)}`));
          const answer = await conn.send(RawHttpConnection.request(form));
          if (!isOk(answer)) throw new Error(answer.toString());
        } finally {
          if (conn.closed) conn.close();
          else sendConns.push(conn);
        }
      },
      consume: (onMessage) => {
        let stopped = false;
        const loops = Array.from({ length: CONNECTIONS / 2 }, async () => {
          const conn = await RawHttpConnection.connect(follower.port);
          while (!stopped) {
            try {
              const r = JSON.parse((await conn.send(receive)).toString()) as { code: number; msgInfoList?: { msgBody: string; msgId: string; receiptHandle: string }[] };
              if (r.code !== 0 || !r.msgInfoList) {
                await sleep(20);
                continue;
              }
              let form = `Action=BatchDeleteMessage&queueName=${q}`;
              r.msgInfoList.forEach((m, i) => {
                onMessage(idOf(m.msgBody), m.msgId);
                form += `&receiptHandle.${i + 1}=${encodeURIComponent(m.receiptHandle)}`;
              });
              await conn.send(RawHttpConnection.request(form));
            } catch {
              await sleep(20);
            }
          }
          conn.close();
        });
        return Promise.resolve(async () => {
          stopped = true;
          await Promise.all(loops);
          for (const s of sendConns) s.close();
          via.close();
        });
      },
      killLeader: async () => {
        const now = await agreedLeader(this.servers.nodes);
        now.child.kill('SIGKILL');
        return `${now.id} (pid ${now.pid})`;
      },
    };
  }

  async stop(): Promise<void> {
    this.leader.close();
    await this.servers.stop();
  }

  private async connections(n: number): Promise<RawHttpConnection[]> {
    const conns: RawHttpConnection[] = [];
    for (let i = 0; i < n; i++) conns.push(await this.leader.connection(i));
    return conns;
  }
}
