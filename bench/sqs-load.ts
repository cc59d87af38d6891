// The bench's SQS load: AWS JSON 1.0 requests (what current AWS SDKs send) prebuilt as bytes on
// the same raw keep-alive connections as the CMQ load, unsigned (the bench server is open on
// loopback). SendMessageBatch of SQS_BATCH x 1 KiB, and ReceiveMessage + DeleteMessageBatch.

import { RawHttpConnection } from './raw-http';
import { BODY, ConnectionPool } from './load';

/** SQS allows at most 10 entries per batch. */
export const SQS_BATCH = 10;
const ACCOUNT = '000000000000';

function jsonRequest(action: string, body: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(body));
  const head =
    `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS.${action}\r\n` +
    `Content-Length: ${json.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), json]);
}

/** One server's SQS port and the connections to it. */
export class SqsTarget extends ConnectionPool {
  readonly sendRequests = new Map<string, Buffer>();

  queueUrl(q: string): string {
    return `http://127.0.0.1:${this.port}/${ACCOUNT}/${q}`;
  }

  /** The prebuilt SendMessageBatch of SQS_BATCH bodies for a queue. */
  sendBatch(q: string): Buffer {
    let req = this.sendRequests.get(q);
    if (!req) {
      req = jsonRequest('SendMessageBatch', { QueueUrl: this.queueUrl(q), Entries: Array.from({ length: SQS_BATCH }, (_, i) => ({ Id: `m${i}`, MessageBody: BODY })) });
      this.sendRequests.set(q, req);
    }
    return req;
  }
}

async function call(conn: RawHttpConnection, req: Buffer): Promise<Record<string, unknown>> {
  const body = (await conn.send(req)).toString();
  const r = JSON.parse(body) as Record<string, unknown>;
  if (typeof r['__type'] === 'string') throw new Error(body);
  return r;
}

export async function sqsCreateQueue(t: SqsTarget, q: string): Promise<void> {
  await call(await t.connection(0), jsonRequest('CreateQueue', { QueueName: q, Attributes: { VisibilityTimeout: '300', MaximumMessageSize: '65536' } }));
}

/** What ends the answer to a SendMessageBatch whose every entry succeeded (the server's member order). */
const NONE_FAILED = Buffer.from('"Failed":[]}');

/**
 * One SendMessageBatch; the messages it sent (every entry must succeed). Success is read from the
 * answer's bytes without parsing it, as the CMQ load's `isOk` does, so both loads cost the shared
 * cores alike; anything else is parsed and reported.
 */
export async function sqsSendBatch(t: SqsTarget, conn: RawHttpConnection, q: string): Promise<number> {
  const body = await conn.send(t.sendBatch(q));
  // An error answer ({"__type", "message"}) never ends this way.
  if (body.length >= NONE_FAILED.length && body.subarray(body.length - NONE_FAILED.length).equals(NONE_FAILED)) return SQS_BATCH;
  const r = JSON.parse(body.toString()) as Record<string, unknown>;
  const failed = (r['Failed'] as unknown[] | undefined)?.length ?? 0;
  throw new Error(failed > 0 ? `${failed} entries failed: ${JSON.stringify(r['Failed'])}` : body.toString());
}

/** ReceiveMessage of up to a batch, then DeleteMessageBatch of what came: the messages handled. */
export async function sqsReceiveDelete(t: SqsTarget, conn: RawHttpConnection, q: string): Promise<number> {
  const QueueUrl = t.queueUrl(q);
  const r = await call(conn, jsonRequest('ReceiveMessage', { QueueUrl, MaxNumberOfMessages: SQS_BATCH, WaitTimeSeconds: 0 }));
  const messages = (r['Messages'] as { ReceiptHandle: string }[] | undefined) ?? [];
  if (messages.length === 0) return 0;
  const d = await call(conn, jsonRequest('DeleteMessageBatch', { QueueUrl, Entries: messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) }));
  if (((d['Failed'] as unknown[] | undefined)?.length ?? 0) > 0) throw new Error(`delete failed: ${JSON.stringify(d['Failed'])}`);
  return messages.length;
}

/** Send batches from `workers` connections until about `count` messages went in. */
export async function sqsFill(t: SqsTarget, q: string, count: number, workers = 32): Promise<void> {
  let sent = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const c = await t.connection(w);
      while (sent < count) {
        sent += SQS_BATCH;
        await sqsSendBatch(t, c, q);
      }
    }),
  );
}
