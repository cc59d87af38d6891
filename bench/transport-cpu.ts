// CPU time per peer request round trip and per small one-way frame, both transports in this one
// process (so the figure covers sender and receiver). Throughput on a shared 2-core machine swings
// with what else runs; CPU time per operation swings far less, so this is what to compare when a
// change to the frame path should cost little. Not a test: it prints figures.
//
//   node dist/bench/transport-cpu.js [--requests N] [--frames N]

import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { PeerTransport } from '../src/transport';

const HOST = '127.0.0.1';
const SECRET = 'transport-bench cluster secret 0123456789';
const CONCURRENCY = 16;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { requests: { type: 'string', default: '100000' }, frames: { type: 'string', default: '400000' } } });
  const requests = Number(values.requests);
  const frames = Number(values.frames);
  const a = new PeerTransport({ nodeId: 'a', listen: { host: HOST, port: 0 }, peers: {}, clusterSecret: SECRET, log: () => {} });
  const b = new PeerTransport({ nodeId: 'b', listen: { host: HOST, port: 0 }, peers: {}, clusterSecret: SECRET, log: () => {} });
  let received = 0;
  b.onMessage(() => {
    received += 1;
  });
  b.onRequest((_from, payload) => Promise.resolve(payload));
  const aPort = (await a.start()).port;
  const bPort = (await b.start()).port;
  a.setPeers({ b: { host: HOST, port: bPort } });
  b.setPeers({ a: { host: HOST, port: aPort } });
  while (a.stats().peers['b']?.connected !== true || b.stats().peers['a']?.connected !== true) await new Promise((r) => setTimeout(r, 5));

  const body = Buffer.alloc(100, 1);
  let sent = 0;
  const rpcCpu = process.cpuUsage();
  const rpcStart = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (sent < requests) {
        sent += 1;
        await a.request('b', body);
      }
    }),
  );
  const rpc = process.cpuUsage(rpcCpu);
  const rpcS = (performance.now() - rpcStart) / 1000;

  const frame = Buffer.alloc(200, 2);
  const oneWayCpu = process.cpuUsage();
  for (let i = 0; i < frames; i++) {
    a.send('b', 'raft', frame);
    if (i % 256 === 255) await turn();
  }
  while (received < frames) await turn();
  const oneWay = process.cpuUsage(oneWayCpu);

  const perRequest = (rpc.user + rpc.system) / requests;
  const perFrame = (oneWay.user + oneWay.system) / frames;
  console.log(
    `rpc 100-byte echo, concurrency ${CONCURRENCY}: ${perRequest.toFixed(2)} µs CPU per round trip (${Math.round(requests / rpcS)}/s); ` +
      `one-way 200-byte frames: ${perFrame.toFixed(2)} µs CPU per frame`,
  );
  await Promise.all([a.close(), b.close()]);
}

void main();
