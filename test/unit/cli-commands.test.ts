// The opencmq CLI: argument parsing, output formats and exit codes, run against the in-memory fake
// with captured output.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, findCommand } from '../../src/cli/run';
import type { CliDeps, CliIo } from '../../src/cli/cli-io';
import type { CmqClientOptions } from '../../src/client/client';
import { InMemoryCmq } from '../../src/client/fake';
import { CmqNetworkError } from '../../src/client/errors';
import type { RunningServer, ServerOptions } from '../../src/node/server-options';

interface Harness {
  cmq: InMemoryCmq;
  out: string[];
  err: string[];
  clientOpts: CmqClientOptions[];
  serverOpts: ServerOptions[];
  closed: number;
  abort: AbortController;
  run(argv: string[], opts?: { stdin?: string[]; env?: Record<string, string> }): Promise<number>;
}

function harness(cmq = new InMemoryCmq({ pollIntervalMs: 5 })): Harness {
  const h: Harness = {
    cmq,
    out: [],
    err: [],
    clientOpts: [],
    serverOpts: [],
    closed: 0,
    abort: new AbortController(),
    async run(argv, opts = {}) {
      h.out = [];
      h.err = [];
      const io: CliIo = {
        out: (l) => h.out.push(l),
        err: (l) => h.err.push(l),
        env: opts.env ?? {},
        stdinLines: async function* () {
          await Promise.resolve();
          yield* opts.stdin ?? [];
        },
        signal: h.abort.signal,
      };
      const deps: CliDeps = {
        makeClient: (o) => {
          h.clientOpts.push(o);
          return h.cmq;
        },
        startServer: (o): Promise<RunningServer> => {
          h.serverOpts.push(o);
          return Promise.resolve({
            url: `http://${o.host}:${o.port}`,
            port: o.port,
            close: () => {
              h.closed++;
              return Promise.resolve();
            },
          });
        },
      };
      return runCli(argv, io, deps);
    },
  };
  return h;
}

void test('command words are found around global options', () => {
  assert.deepEqual(findCommand(['--endpoint', 'http://x', 'queue', 'create', 'q', '--visibility-timeout', '5'])?.words, ['queue', 'create']);
  assert.deepEqual(findCommand(['--json', 'send', 'q', 'a'])?.words, ['send']);
  assert.deepEqual(findCommand(['--endpoint=http://x', 'receive', 'q'])?.words, ['receive']);
  assert.equal(findCommand(['queue']), undefined);
  assert.equal(findCommand(['nope']), undefined);
});

void test('help and usage errors', async () => {
  const h = harness();
  assert.equal(await h.run(['--help']), 0);
  assert.match(h.out.join('\n'), /usage: opencmq <command>/);
  assert.match(h.out.join('\n'), /queue rewind/);
  assert.equal(await h.run(['queue', 'create', '--help']), 0);
  assert.match(h.out[0] ?? '', /^usage: opencmq queue create NAME/);
  assert.match(h.out.join('\n'), /--visibility-timeout N/);
  assert.equal(await h.run([]), 2);
  assert.match(h.err[0] ?? '', /no command/);
  assert.equal(await h.run(['frobnicate']), 2);
  assert.match(h.err[0] ?? '', /unknown command 'frobnicate'/);
  assert.equal(await h.run(['queue']), 2);
  assert.match(h.err[0] ?? '', /'queue' needs one of: create, list/);
  assert.equal(await h.run(['queue', 'create']), 2, 'missing NAME');
  assert.equal(await h.run(['queue', 'get', 'a', 'b']), 2, 'extra argument');
  assert.equal(await h.run(['queue', 'create', 'q', '--bogus']), 2);
  assert.match(h.err[0] ?? '', /^usage error: .*bogus/);
  assert.equal(await h.run(['queue', 'create', 'q', '--visibility-timeout', 'abc']), 2);
  assert.match(h.err[0] ?? '', /--visibility-timeout must be an integer/);
  assert.equal(await h.run(['receive', 'q', '--count', '17']), 2);
  assert.equal(await h.run(['queue', 'create', 'q', '--max-receive-count', '3']), 2, 'needs --dead-letter-queue');
  assert.equal(await h.run(['queue', 'set', 'q']), 2, 'nothing to set');
  assert.equal(await h.run(['queue', 'rewind', 'q']), 2, '--time is required');
  assert.equal(await h.run(['send', 'q', '-', 'x']), 2);
  assert.equal(await h.run(['queue', 'list', '--secret-id', 'AKID']), 2, 'id without key');
  assert.equal(h.clientOpts.length, 0, 'no client is made for usage errors');
});

void test('client options come from flags, then the environment, then the default', async () => {
  const h = harness();
  await h.run(['queue', 'list']);
  assert.deepEqual(h.clientOpts.pop(), { endpoint: 'http://127.0.0.1:9600' });
  await h.run(['queue', 'list'], { env: { OPENCMQ_ENDPOINT: 'http://h:1', OPENCMQ_SECRET_ID: 'AKIDa', OPENCMQ_SECRET_KEY: 'k' } });
  assert.deepEqual(h.clientOpts.pop(), { endpoint: 'http://h:1', secretId: 'AKIDa', secretKey: 'k' });
  await h.run(['--endpoint', 'http://h:2', 'queue', 'list', '--secret-id', 'AKIDb', '--secret-key', 'k2'], { env: { OPENCMQ_ENDPOINT: 'http://h:1' } });
  assert.deepEqual(h.clientOpts.pop(), { endpoint: 'http://h:2', secretId: 'AKIDb', secretKey: 'k2' });
  assert.equal(await h.run(['queue', 'list', '--endpoint', 'not a url']), 2);
});

void test('--endpoint with a comma-separated list gives the client every member to fail over between', async () => {
  const h = harness();
  await h.run(['--endpoint', 'http://h:1, http://h:2,http://h:3', 'queue', 'list']);
  assert.deepEqual(h.clientOpts.pop(), { endpoints: ['http://h:1', 'http://h:2', 'http://h:3'] });
  await h.run(['queue', 'list'], { env: { OPENCMQ_ENDPOINT: 'http://h:1,http://h:2' } });
  assert.deepEqual(h.clientOpts.pop(), { endpoints: ['http://h:1', 'http://h:2'] });
  assert.equal(await h.run(['queue', 'list', '--endpoint', 'http://h:1,not a url']), 2, 'every member must be a URL');
  assert.equal(await h.run(['queue', 'list', '--endpoint', ',']), 2, 'an empty list is refused');
});

void test('queue create / get / set / list / delete, human and JSON', async () => {
  const h = harness();
  assert.equal(await h.run(['queue', 'create', 'orders', '--visibility-timeout', '5', '--retention-seconds', '3600']), 0);
  assert.deepEqual(h.out, ['created queue orders (queue-1)']);
  assert.equal(await h.run(['--json', 'queue', 'create', 'dlq']), 0);
  assert.deepEqual(JSON.parse(h.out.join('\n')), { queueName: 'dlq', queueId: 'queue-2' });
  assert.equal(await h.run(['queue', 'set', 'orders', '--dead-letter-queue', 'dlq', '--max-receive-count', '3', '--polling-wait-seconds', '2']), 0);
  assert.deepEqual(h.out, ['updated queue orders']);

  assert.equal(await h.run(['queue', 'get', 'orders']), 0);
  const lines = h.out;
  assert.equal(lines[0], 'queueName:           orders');
  assert.ok(lines.includes('visibilityTimeout:   5'), lines.join('\n'));
  assert.ok(lines.includes('msgRetentionSeconds: 3600'));
  assert.ok(lines.includes('pollingWaitSeconds:  2'));
  assert.ok(lines.some((l) => /^createTime: +\d+ \(\d{4}-\d\d-\d\dT/.test(l)));
  assert.ok(lines.includes('deadLetterPolicy:    {"deadLetterQueue":"dlq","policy":0,"maxReceiveCount":3}'));
  // Every value starts in the same column.
  assert.equal(new Set(lines.map((l) => l.search(/(?<=: +)\S/))).size, 1);

  assert.equal(await h.run(['queue', 'get', 'orders', '--json']), 0);
  const attrs = JSON.parse(h.out.join('\n')) as Record<string, unknown>;
  assert.equal(attrs.visibilityTimeout, 5);
  assert.deepEqual(attrs.deadLetterPolicy, { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 3 });

  assert.equal(await h.run(['queue', 'list']), 0);
  // Sorted by name, as the server lists queues.
  assert.deepEqual(h.out, ['NAME    ID', 'dlq     queue-2', 'orders  queue-1', 'showing 1-2 of 2']);
  assert.equal(await h.run(['queue', 'list', '--search', 'ORD', '--json']), 0);
  assert.deepEqual(JSON.parse(h.out.join('\n')), { totalCount: 1, queues: [{ queueId: 'queue-1', queueName: 'orders' }] });
  assert.equal(await h.run(['queue', 'list', '--offset', '1', '--limit', '1']), 0);
  assert.deepEqual(h.out, ['NAME    ID', 'orders  queue-1', 'showing 2-2 of 2']);
  assert.equal(await h.run(['queue', 'list', '--search', 'zzz']), 0);
  assert.deepEqual(h.out, ['no queues (0 matching)']);

  assert.equal(await h.run(['queue', 'delete', 'dlq']), 1, 'still the DLQ of orders');
  assert.deepEqual(h.err, ['error 4000: (10750)it is not allowed to be deleted when the queue is dead letter queue']);
  assert.equal(await h.run(['queue', 'delete', 'orders']), 0);
  assert.deepEqual(h.out, ['deleted queue orders']);
  assert.equal(await h.run(['queue', 'get', 'orders']), 1);
  assert.deepEqual(h.err, ['error 4440: (10100)queue is not existed, or deleted']);
  assert.deepEqual(h.out, []);
});

void test('queue rewind', async () => {
  const h = harness();
  await h.cmq.createQueue('q', { rewindSeconds: 600 });
  const now = Math.floor(Date.now() / 1000);
  assert.equal(await h.run(['queue', 'rewind', 'q', '--time', String(now)]), 0);
  assert.match(h.out[0] ?? '', new RegExp(`^rewound queue q to ${now} \\(`));
  assert.equal(await h.run(['queue', 'rewind', 'q', '--time', '1']), 1);
  assert.match(h.err[0] ?? '', /^error 4000: \(10680\)invalid rewind time/);
});

void test('send: one body, several bodies in one batch, stdin lines in batches of 16', async () => {
  const h = harness();
  await h.cmq.createQueue('q');
  const batches: number[] = [];
  const realBatch = h.cmq.batchSendMessage.bind(h.cmq);
  h.cmq.batchSendMessage = (q, bodies, o) => {
    batches.push(bodies.length);
    return realBatch(q, bodies, o);
  };
  assert.equal(await h.run(['send', 'q', 'hello world']), 0);
  assert.equal(h.out.length, 1);
  assert.match(h.out[0] ?? '', /^\d+$/);
  assert.equal(await h.run(['send', 'q', 'a', 'b', 'c', '--delay', '0']), 0);
  assert.equal(h.out.length, 3);
  assert.deepEqual(batches, [3]);
  const lines = Array.from({ length: 20 }, (_, i) => `line ${i}`);
  lines.splice(5, 0, '');
  assert.equal(await h.run(['send', 'q', '-', '--json'], { stdin: lines }), 0);
  assert.equal((JSON.parse(h.out.join('\n')) as { msgIds: string[] }).msgIds.length, 20);
  assert.deepEqual(batches, [3, 16, 4]);
  assert.equal((await h.cmq.getQueueAttributes('q')).activeMsgNum, 24);
  assert.equal(await h.run(['send', 'q', 'later', '--delay', '60']), 0);
  assert.equal((await h.cmq.getQueueAttributes('q')).delayMsgNum, 1);
  assert.equal(await h.run(['send', 'missing', 'x']), 1);
  assert.deepEqual(h.err, ['error 4440: (10100)queue is not existed, or deleted']);
});

void test('receive: no message, human blocks, JSON, --delete', async () => {
  const h = harness();
  await h.cmq.createQueue('q');
  assert.equal(await h.run(['receive', 'q', '--wait', '0']), 0);
  assert.deepEqual(h.err, ['no message']);
  assert.deepEqual(h.out, []);
  assert.equal(await h.run(['receive', 'q', '--wait', '0', '--json']), 0);
  assert.deepEqual(JSON.parse(h.out.join('\n')), { messages: [] });

  await h.cmq.batchSendMessage('q', ['first', 'second']);
  assert.equal(await h.run(['receive', 'q', '--count', '2']), 0);
  const blocks = h.out.join('\n').split('\n\n');
  assert.equal(blocks.length, 2);
  assert.match(blocks[0] ?? '', /^msgId: +\d+\nreceiptHandle: +\S+\ndequeueCount: +1\nenqueueTime: +\d+ \(/);
  assert.match(blocks[0] ?? '', /\nbody: +first$/);
  assert.equal((await h.cmq.getQueueAttributes('q')).inactiveMsgNum, 2, 'not deleted without --delete');

  await h.cmq.sendMessage('q', 'third');
  assert.equal(await h.run(['receive', 'q', '--json', '--delete', '--count', '5']), 0);
  const doc = JSON.parse(h.out.join('\n')) as { messages: Array<Record<string, unknown>> };
  assert.equal(doc.messages.length, 1);
  assert.equal(doc.messages[0]?.body, 'third');
  assert.equal(doc.messages[0]?.dequeueCount, 1);
  assert.deepEqual(Object.keys(doc.messages[0] ?? {}).sort(), [
    'body',
    'dequeueCount',
    'enqueueTime',
    'firstDequeueTime',
    'msgId',
    'nextVisibleTime',
    'receiptHandle',
  ]);
  const attrs = await h.cmq.getQueueAttributes('q');
  assert.equal(attrs.inactiveMsgNum, 2, 'third was deleted, the first two are still in flight');
});

void test('receive --watch prints one JSON line per message until interrupted', async () => {
  const h = harness();
  await h.cmq.createQueue('q');
  const done = h.run(['receive', 'q', '--watch', '--json', '--delete', '--wait', '1']);
  await h.cmq.sendMessage('q', 'm1');
  await h.cmq.batchSendMessage('q', ['m2', 'm3']);
  const deadline = Date.now() + 3000;
  while (h.out.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  h.abort.abort();
  assert.equal(await done, 0);
  assert.deepEqual(
    h.out.map((l) => (JSON.parse(l) as { body: string }).body),
    ['m1', 'm2', 'm3'],
  );
  const attrs = await h.cmq.getQueueAttributes('q');
  assert.equal(attrs.activeMsgNum + attrs.inactiveMsgNum, 0);
});

void test('delete: one handle, several handles with failures', async () => {
  const h = harness();
  await h.cmq.createQueue('q');
  await h.cmq.batchSendMessage('q', ['a', 'b', 'c']);
  const [a, b, c] = await h.cmq.batchReceiveMessage('q', 3, { pollingWaitSeconds: 0 });
  assert.ok(a && b && c);
  assert.equal(await h.run(['delete', 'q', a.receiptHandle]), 0);
  assert.deepEqual(h.out, ['deleted 1 message']);
  assert.equal(await h.run(['delete', 'q', a.receiptHandle]), 1);
  assert.deepEqual(h.err, ['error 4430: (10260)receipt handle is invalid']);
  assert.equal(await h.run(['delete', 'q', b.receiptHandle, 'bogus']), 1);
  assert.deepEqual(h.out, ['deleted 1 message']);
  assert.deepEqual(h.err, ['error 4430: (10260)receipt handle is invalid (receipt handle bogus)']);
  assert.equal(await h.run(['delete', 'q', c.receiptHandle, 'x', '--json']), 1);
  assert.deepEqual(JSON.parse(h.out.join('\n')), {
    deleted: 1,
    failed: [{ receiptHandle: 'x', code: 4430, message: '(10260)receipt handle is invalid' }],
  });
});

void test('network failures print "error network" and exit 1', async () => {
  const h = harness();
  h.cmq.listQueues = () => Promise.reject(new CmqNetworkError('connect', 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9600', { mayHaveBeenApplied: false }));
  assert.equal(await h.run(['queue', 'list']), 1);
  assert.deepEqual(h.err, ['error network: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9600']);
});

void test('server: options, environment credentials, graceful stop on signal', async () => {
  const h = harness();
  const running = h.run(['server', '--data-dir', '/tmp/x', '--port', '0', '--no-fsync', '--require-akid', '--json'], {
    env: { OPENCMQ_SECRET_ID: 'AKIDenv', OPENCMQ_SECRET_KEY: 'envkey' },
  });
  while (h.serverOpts.length === 0) await new Promise((r) => setTimeout(r, 1));
  const o = h.serverOpts[0];
  assert.ok(o);
  assert.equal(o.dataDir, '/tmp/x');
  assert.equal(o.host, '127.0.0.1');
  assert.equal(o.port, 0);
  assert.deepEqual(o.credentials, [{ secretId: 'AKIDenv', secretKey: 'envkey' }]);
  assert.equal(o.fsync, false);
  assert.equal(o.requireAkidPrefix, true);
  assert.equal(o.insecureNoAuth, false);
  assert.equal(o.keysFile, undefined);
  assert.equal(h.closed, 0);
  await new Promise((r) => setTimeout(r, 10));
  h.abort.abort();
  assert.equal(await running, 0);
  assert.equal(h.closed, 1);
  assert.deepEqual(JSON.parse(h.out[0] ?? ''), { url: 'http://127.0.0.1:0', port: 0 });

  const d = harness();
  d.abort.abort();
  assert.equal(await d.run(['server', '--host', '0.0.0.0', '--insecure-no-auth', '--keys-file', 'keys.txt', '--secret-id', 'AKIDx', '--secret-key', 'kx']), 0);
  const p = d.serverOpts[0];
  assert.ok(p);
  assert.equal(p.dataDir, './opencmq-data');
  assert.equal(p.port, 9600);
  assert.equal(p.host, '0.0.0.0');
  assert.equal(p.insecureNoAuth, true);
  assert.equal(p.fsync, true);
  assert.equal(p.keysFile, 'keys.txt');
  assert.deepEqual(p.credentials, [{ secretId: 'AKIDx', secretKey: 'kx' }]);
  assert.equal(await d.run(['server', '--port', '70000']), 2);
  assert.equal(await d.run(['server', '--secret-id', 'AKIDx']), 2);
});

void test('server --config: options from a JSON file, the command line winning; bad files are usage errors', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opencmq-config-'));
  try {
    const file = path.join(dir, 'n1.json');
    writeFileSync(
      file,
      JSON.stringify({
        'data-dir': '/var/lib/opencmq',
        port: 9600,
        'node-id': 'n1',
        'raft-port': 9700,
        peer: ['n2=10.0.0.2:9700', 'n3=10.0.0.3:9700'],
        'cluster-secret': 'a-secret-of-16-bytes',
        'no-fsync': false,
        'secret-id': 'AKIDfile',
        'secret-key': 'filekey',
      }),
    );
    const h = harness();
    h.abort.abort();
    assert.equal(await h.run(['server', '--config', file, '--port', '9601']), 0);
    const o = h.serverOpts[0];
    assert.ok(o);
    assert.equal(o.dataDir, '/var/lib/opencmq');
    assert.equal(o.port, 9601, 'the command line wins');
    assert.equal(o.fsync, true);
    assert.deepEqual(o.credentials, [{ secretId: 'AKIDfile', secretKey: 'filekey' }]);
    assert.deepEqual(o.cluster?.peers, { n2: { host: '10.0.0.2', port: 9700 }, n3: { host: '10.0.0.3', port: 9700 } });
    assert.equal(o.cluster?.raftPort, 9700);

    const bad = path.join(dir, 'bad.json');
    for (const [text, why] of [
      ['{"portt": 1}', /unknown option 'portt'/],
      ['{"join": "yes"}', /'join' must be true or false/],
      ['[1]', /expected a JSON object/],
      ['{', /not valid JSON/],
    ] as const) {
      writeFileSync(bad, text);
      assert.equal(await h.run(['server', '--config', bad]), 2);
      assert.match(h.err.join('\n'), why);
    }
    assert.equal(await h.run(['server', '--config', path.join(dir, 'missing.json')]), 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('cluster commands need a real server: the in-memory fake gets a usage error', async () => {
  const h = harness();
  for (const argv of [['cluster', 'status'], ['cluster', 'transfer-leader', 'n2'], ['cluster', 'add-node', 'n4=h:9704'], ['cluster', 'remove-node', 'n3']]) {
    assert.equal(await h.run(argv), 2, argv.join(' '));
    assert.match(h.err.join('\n'), new RegExp(`${argv.slice(0, 2).join(' ')} needs a server endpoint`));
  }
  assert.equal(await h.run(['cluster', 'add-node', 'n4']), 2);
  assert.match(h.err.join('\n'), /expected NODE_ID=HOST:PORT/);
});

void test('queue redrive: back to the source, to another queue with a maximum, usage and server errors', async () => {
  let now = Date.now();
  const h = harness(new InMemoryCmq({ pollIntervalMs: 5, now: () => now }));
  await h.cmq.createQueue('dlq');
  await h.cmq.createQueue('src', { visibilityTimeout: 1, deadLetterPolicy: { deadLetterQueue: 'dlq', policy: 0, maxReceiveCount: 1 } });
  await h.cmq.createQueue('other');
  await h.cmq.batchSendMessage('src', ['a', 'b', 'c']);
  assert.equal((await h.cmq.batchReceiveMessage('src', 16, { pollingWaitSeconds: 0 })).length, 3);
  now += 2000;
  assert.deepEqual(await h.cmq.batchReceiveMessage('src', 16, { pollingWaitSeconds: 0 }), []);
  assert.equal(await h.run(['queue', 'redrive', 'dlq', '--to', 'other', '--max', '1']), 0);
  assert.deepEqual(h.out, ['moved 1 messages from dlq to other']);
  assert.equal(await h.run(['queue', 'redrive', 'dlq', '--json']), 0);
  assert.deepEqual(JSON.parse(h.out.join('\n')), { queueName: 'dlq', destinationQueueName: null, moved: 2 });
  assert.equal((await h.cmq.getQueueAttributes('src')).activeMsgNum, 2);
  assert.equal((await h.cmq.getQueueAttributes('other')).activeMsgNum, 1);
  assert.equal(await h.run(['queue', 'redrive', 'dlq', '--max', '0']), 2, 'usage error');
  assert.match(h.err.join('\n'), /--max must be between 1 and 1000000/);
  assert.equal(await h.run(['queue', 'redrive']), 2);
  assert.equal(await h.run(['queue', 'redrive', 'dlq', '--to', 'dlq']), 1);
  assert.match(h.err[0] ?? '', /^error 4000: \(10960\)the destination queue must differ/);
  assert.equal(await h.run(['queue', 'redrive', 'nope']), 1);
  assert.deepEqual(h.err, ['error 4440: (10100)queue is not existed, or deleted']);
});
