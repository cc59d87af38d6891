// The bench's load: CMQ requests prebuilt as bytes, sent over a pool of keep-alive connections
// to one server, in closed loops (each worker waits for its answer before the next request).

import { isOk, RawHttpConnection } from './raw-http';

export const BODY = 'x'.repeat(1024);
export const BATCH = 16;

/** Keep-alive connections to one port, opened as first asked for and reused across scenarios. */
export class ConnectionPool {
  private readonly pool: RawHttpConnection[] = [];

  constructor(readonly port: number) {}

  async connection(i: number): Promise<RawHttpConnection> {
    while (this.pool.length <= i) this.pool.push(await RawHttpConnection.connect(this.port));
    return this.pool[i]!;
  }

  close(): void {
    for (const c of this.pool) c.close();
    this.pool.length = 0;
  }
}

/** One server's CMQ port and the connections to it. */
export class Target extends ConnectionPool {
  private readonly receiveRequests = new Map<string, Buffer>();

  constructor(
    readonly nodeId: string,
    port: number,
  ) {
    super(port);
  }

  /** The prebuilt BatchReceiveMessage request for a queue (n messages at most). */
  receiveRequest(q: string, n = BATCH): Buffer {
    const key = `${q}/${n}`;
    let req = this.receiveRequests.get(key);
    if (!req) {
      req = RawHttpConnection.request(`Action=BatchReceiveMessage&queueName=${q}&numOfMsg=${n}&pollingWaitSeconds=0`);
      this.receiveRequests.set(key, req);
    }
    return req;
  }
}

export async function call(conn: RawHttpConnection, request: Buffer): Promise<Record<string, unknown>> {
  return JSON.parse((await conn.send(request)).toString()) as Record<string, unknown>;
}

export async function mustOk(conn: RawHttpConnection, request: Buffer): Promise<void> {
  const body = await conn.send(request);
  if (!isOk(body)) throw new Error(body.toString());
}

export const sendOne = (q: string): Buffer => RawHttpConnection.request(`Action=SendMessage&queueName=${q}&msgBody=${BODY}`);

export const sendBatch = (q: string, n = BATCH): Buffer => {
  let s = `Action=BatchSendMessage&queueName=${q}`;
  for (let i = 1; i <= n; i++) s += `&msgBody.${i}=${BODY}`;
  return RawHttpConnection.request(s);
};

/** Receive up to a batch and delete what came; the messages handled (0 when the queue was empty). */
export async function receiveDeleteBatch(target: Target, conn: RawHttpConnection, q: string, n = BATCH): Promise<number> {
  const r = await call(conn, target.receiveRequest(q, n));
  if (r.code !== 0) {
    if (r.code === 7000) return 0;
    throw new Error(JSON.stringify(r));
  }
  const list = r.msgInfoList as { receiptHandle: string }[];
  let p = `Action=BatchDeleteMessage&queueName=${q}`;
  list.forEach((m, i) => (p += `&receiptHandle.${i + 1}=${encodeURIComponent(m.receiptHandle)}`));
  await mustOk(conn, RawHttpConnection.request(p));
  return list.length;
}

/** Create a queue, retrying while a new set has no leader yet or is still electing one. */
export async function createQueue(target: Target, q: string, timeoutMs = 10_000): Promise<void> {
  const conn = await target.connection(0);
  const req = RawHttpConnection.request(`Action=CreateQueue&queueName=${q}&maxMsgHeapNum=100000000&visibilityTimeout=300&maxMsgSize=65536`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = await conn.send(req);
    if (isOk(body)) return;
    const r = JSON.parse(body.toString()) as { code: number };
    if (r.code === 4460) return; // already there (a retried create that had been applied)
    if (Date.now() > deadline) throw new Error(`CreateQueue ${q}: ${body.toString()}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

export async function backlogOf(target: Target, q: string): Promise<number> {
  const r = await call(await target.connection(0), RawHttpConnection.request(`Action=GetQueueAttributes&queueName=${q}`));
  return r.activeMsgNum as number;
}

/** Send batches (of n) from `workers` connections until about `count` messages went in. */
export async function fill(target: Target, q: string, count: number, workers = 32, n = BATCH): Promise<void> {
  const req = sendBatch(q, n);
  let sent = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const c = await target.connection(w);
      while (sent < count) {
        sent += n;
        await mustOk(c, req);
      }
    }),
  );
}

export interface LoadResult {
  messages: number;
  seconds: number;
  /** Per operation (one request, or a receive plus its delete). */
  latenciesMs: number[];
  errors: number;
  /** Receives that found the queue empty (code 7000). */
  emptyReceives: number;
}

/** Run `workers` closed loops of `op` for `durationS`; op returns the messages it handled. */
export async function runFor(
  target: ConnectionPool,
  workers: number,
  durationS: number,
  op: (conn: RawHttpConnection, worker: number) => Promise<number>,
): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  let messages = 0;
  let errors = 0;
  let emptyReceives = 0;
  const conns: RawHttpConnection[] = [];
  for (let w = 0; w < workers; w++) conns.push(await target.connection(w));
  const t0 = performance.now();
  const end = t0 + durationS * 1000;
  await Promise.all(
    conns.map(async (conn, w) => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          const n = await op(conn, w);
          if (n === 0) emptyReceives++;
          messages += n;
          latenciesMs.push(performance.now() - s);
        } catch {
          errors++;
          if (conn.closed) return; // the server went away: a tight loop of failures measures nothing
        }
      }
    }),
  );
  return { messages, seconds: (performance.now() - t0) / 1000, latenciesMs, errors, emptyReceives };
}
