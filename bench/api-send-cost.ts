// CPU per message of each API's own code for a batched send of 10 x 1 KiB: the request handler
// (parsing, checks, envelopes and digests, the answer's bytes) over a service that answers every
// command at once, in this one process. No broker, log, disk or sockets, so the figure is the
// protocol's own cost, and it is CPU time (process.cpuUsage), so other work on the machine moves
// it far less than a throughput figure. `md5` is the floor SQS cannot go below: the body digests
// alone.
//
//   node dist/bench/api-send-cost.js [--requests N] [--rounds R]

import { hash } from 'node:crypto';
import { parseArgs } from 'node:util';

import { createApiContext, handleCmqRequest } from '../src/api/http-server';
import { responseBytes } from '../src/api/response';
import { SQS_ACTIONS } from '../src/api/sqs/actions';
import { verifySigV4 } from '../src/api/sqs/sigv4';
import { createSqsContext, handleSqsRequest } from '../src/api/sqs/wire';
import type { Command, CommandResult } from '../src/broker/commands';
import type { QueueService } from '../src/service/queue-service';
import { BODY } from './load';
import { SQS_BATCH } from './sqs-load';

let seq = 0;
/** Answers sends only: every message gets the next id. */
const service = {
  submit: (_ctx: unknown, c: Command): Promise<CommandResult> =>
    Promise.resolve(c.kind === 'sendMessages' ? { ok: true, kind: 'sendMessages', msgIds: c.bodies.map(() => String(1e12 + ++seq)) } : { ok: false, error: 'internalError' }),
} as unknown as QueueService;

const SQS_HOST = '127.0.0.1:9324';
const sqsBody = Buffer.from(
  JSON.stringify({ QueueUrl: `http://${SQS_HOST}/000000000000/sq`, Entries: Array.from({ length: SQS_BATCH }, (_, i) => ({ Id: `m${i}`, MessageBody: BODY })) }),
);
let form = 'Action=BatchSendMessage&queueName=cq';
for (let i = 1; i <= SQS_BATCH; i++) form += `&msgBody.${i}=${BODY}`;
const cmqBody = Buffer.from(form);

const sqsCtx = createSqsContext({ service, auth: { mode: 'open' }, actions: SQS_ACTIONS, verifySigV4, log: () => undefined });
const cmqCtx = createApiContext({ service, auth: { mode: 'open' }, log: () => undefined });

const SENDS: Record<string, () => Promise<void>> = {
  cmq: async () => {
    const r = await handleCmqRequest(cmqCtx, { method: 'POST', host: '127.0.0.1:9600', path: '/', query: '', body: cmqBody, remote: '127.0.0.1' });
    responseBytes(r);
    if (r['code'] !== 0) throw new Error(JSON.stringify(r));
  },
  sqs: async () => {
    const a = await handleSqsRequest(sqsCtx, {
      method: 'POST',
      host: SQS_HOST,
      path: '/',
      query: '',
      headers: { host: SQS_HOST, 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.SendMessageBatch', 'content-length': String(sqsBody.length) },
      body: sqsBody,
      tls: false,
      remote: '127.0.0.1',
    });
    if (a.status !== 200) throw new Error(a.body.toString());
  },
  md5: () => {
    const body = Buffer.from(BODY);
    for (let i = 0; i < SQS_BATCH; i++) hash('md5', body, 'binary');
    return Promise.resolve();
  },
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { requests: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' } } });
  const requests = Number(values.requests);
  const rounds = Number(values.rounds);
  for (const [name, send] of Object.entries(SENDS)) {
    for (let i = 0; i < requests / 4; i++) await send(); // warm-up
    const perMessage: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const before = process.cpuUsage();
      for (let i = 0; i < requests; i++) await send();
      const used = process.cpuUsage(before);
      perMessage.push((used.user + used.system) / (requests * SQS_BATCH));
    }
    perMessage.sort((a, b) => a - b);
    console.log(`${name}: ${perMessage[0]!.toFixed(2)} µs CPU per message (least of ${rounds} rounds; all: ${perMessage.map((x) => x.toFixed(2)).join(' ')})`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
