// Two sets with a controller, as `opencmq server` wires them (in one process): n1 is set 1 and
// the controller's voter, n2 is set 2. Neither is configured as a peer of the other's set, yet
// each node's directory of other sets reaches the other set's leader: the members come from the
// controller's list of sets, and each set group is open to other sets' nodes for service calls.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { startServer, type StartedServer } from '../../src/node/server';
import type { RequestContext } from '../../src/service/request-context';
import { freePorts } from '../helpers/cluster';

const HOST = '127.0.0.1';
const SECRET = 'integration cluster secret 0123456789';
const RC: RequestContext = { requestId: 'setlink-1', clientAddress: HOST, receivedAtMs: Date.now() };

/** Calls `f` until it answers ok (a set registers with the controller a little after its start). */
async function untilOk<T extends { ok: boolean }>(what: string, f: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 90_000;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await f();
    if (last.ok) return last;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what}: still failing: ${JSON.stringify(last)}`);
}

test("each set's node reaches the other set's leader through the controller's list of sets", { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-setlink-'));
  const ports = await freePorts(['n1', 'n2']);
  const voters = { n1: { host: HOST, port: ports.n1! } };
  const servers: StartedServer[] = [];
  try {
    for (const [i, id] of ['n1', 'n2'].entries()) {
      servers.push(
        await startServer({
          dataDir: path.join(dir, id),
          host: HOST,
          port: 0,
          credentials: [],
          insecureNoAuth: false,
          fsync: false,
          log: () => undefined,
          cluster: { nodeId: id, raftHost: HOST, raftPort: ports[id]!, peers: {}, secret: SECRET },
          setId: i + 1,
          controller: { voters, callers: {} },
        }),
      );
    }
    const [n1, n2] = servers as [StartedServer, StartedServer];
    assert.ok(n1.sets && n2.sets, 'a node with a controller has a directory of other sets');

    // n2 creates a queue on set 1 and sends to it; it lands in n1's own state.
    await untilOk('createQueue on set 1 from n2', () => n2.sets!.service(1).submit(RC, { kind: 'createQueue', queueName: 'from-set-2', attrs: {} }));
    const sent = await n2.sets.service(1).submit(RC, { kind: 'sendMessages', queueName: 'from-set-2', delaySeconds: 0, bodies: [Buffer.from('hello')] });
    assert.ok(sent.ok, JSON.stringify(sent));
    const here = await n1.node.getQueueAttributes(RC, 'from-set-2');
    assert.ok(here.ok, JSON.stringify(here));
    assert.equal(here.attributes.activeMsgNum, 1);

    // And the other way round.
    await untilOk('createQueue on set 2 from n1', () => n1.sets!.service(2).submit(RC, { kind: 'createQueue', queueName: 'from-set-1', attrs: {} }));
    const there = await n2.node.getQueueAttributes(RC, 'from-set-1');
    assert.ok(there.ok, JSON.stringify(there));
    const listed = await n1.sets.service(2).listQueues(RC, undefined, 0, 10);
    assert.ok(listed.ok);
    assert.deepEqual(listed.queueList.map((q) => q.queueName), ['from-set-1']);

    const unknown = await n1.sets.service(9).listQueues(RC, undefined, 0, 10);
    assert.ok(!unknown.ok);
    assert.equal(unknown.error, 'setNotExist');
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  }
});
