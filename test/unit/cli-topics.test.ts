// The topic, publish, subscribe and subscription commands against the in-memory fake: human and
// JSON output, option handling, usage errors and CMQ errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { runCli } from '../../src/cli/run';
import type { CliDeps, CliIo } from '../../src/cli/cli-io';
import { InMemoryCmq } from '../../src/client/fake';

interface Harness {
  cmq: InMemoryCmq;
  out: string[];
  err: string[];
  run(argv: string[], stdin?: string[]): Promise<number>;
}

function harness(): Harness {
  const h: Harness = {
    cmq: new InMemoryCmq({ pollIntervalMs: 5 }),
    out: [],
    err: [],
    async run(argv, stdin = []) {
      h.out = [];
      h.err = [];
      const io: CliIo = {
        out: (l) => h.out.push(l),
        err: (l) => h.err.push(l),
        env: {},
        stdinLines: async function* () {
          await Promise.resolve();
          yield* stdin;
        },
        signal: new AbortController().signal,
      };
      const deps: CliDeps = {
        makeClient: () => h.cmq,
        startServer: () => Promise.reject(new Error('no server in these tests')),
      };
      return runCli(argv, io, deps);
    },
  };
  return h;
}

function json(h: Harness): Record<string, unknown> {
  return JSON.parse(h.out.join('\n')) as Record<string, unknown>;
}

void test('topic create / get / set / list / delete, human and JSON', async () => {
  const h = harness();
  assert.equal(await h.run(['topic', 'create', 'news', '--filter-type', '2', '--max-msg-size', '2048']), 0);
  assert.match(h.out[0] ?? '', /^created topic news \(topic-\d+\)$/);
  assert.equal(await h.run(['topic', 'get', 'news']), 0);
  assert.ok(h.out.some((l) => /^filterType: +2 \(routing keys\)$/.test(l)), h.out.join('\n'));
  assert.ok(h.out.some((l) => /^maxMsgSize: +2048$/.test(l)));
  assert.equal(await h.run(['topic', 'set', 'news', '--max-msg-size', '4096', '--json']), 0);
  assert.deepEqual(json(h), { topicName: 'news', updated: { maxMsgSize: 4096 } });
  assert.equal(await h.run(['topic', 'get', 'news', '--json']), 0);
  assert.equal(json(h)['maxMsgSize'], 4096);
  await h.run(['topic', 'create', 'other']);
  assert.equal(await h.run(['topic', 'list']), 0);
  assert.match(h.out[0] ?? '', /^NAME +ID$/);
  assert.equal(h.out.at(-1), 'showing 1-2 of 2');
  assert.equal(await h.run(['topic', 'list', '--search', 'oth', '--json']), 0);
  assert.equal(json(h)['totalCount'], 1);
  assert.equal(await h.run(['topic', 'delete', 'other']), 0);
  assert.deepEqual(h.out, ['deleted topic other']);
  assert.equal(await h.run(['topic', 'get', 'other']), 1);
  assert.deepEqual(h.err, ['error 4440: (10600)topic is not existed, or deleted']);
});

void test('topic usage errors: missing name, bad --filter-type, set without --max-msg-size, bare "topic"', async () => {
  const h = harness();
  assert.equal(await h.run(['topic', 'create']), 2);
  assert.equal(await h.run(['topic', 'create', 't', '--filter-type', '3']), 2);
  assert.match(h.err[0] ?? '', /--filter-type must be between 1 and 2/);
  assert.equal(await h.run(['topic', 'set', 't']), 2);
  assert.match(h.err[0] ?? '', /--max-msg-size is required/);
  assert.equal(await h.run(['topic']), 2);
  assert.match(h.err[0] ?? '', /'topic' needs one of: create, list, get, set, delete/);
  assert.equal(await h.run(['subscription']), 2);
  assert.match(h.err[0] ?? '', /'subscription' needs one of: list, get, set, delete/);
});

void test('subscribe a queue with filter tags, publish with tags, receive from the queue', async () => {
  const h = harness();
  await h.cmq.createQueue('inbox');
  await h.cmq.createQueue('vip');
  await h.run(['topic', 'create', 'news']);
  assert.equal(await h.run(['publish', 'news', 'lost']), 1);
  assert.deepEqual(h.err, ['error 6030: (10650)topic has no subscription, please create a subscription before publishing message']);
  assert.equal(await h.run(['subscribe', 'news', 'all', '--to', 'inbox']), 0);
  assert.match(h.out[0] ?? '', /^subscribed all \(subsc-\d+\) to topic news: queue inbox$/);
  assert.equal(await h.run(['subscribe', 'news', 'vips', '--protocol', 'QUEUE', '--to', 'vip', '--filter-tag', 'gold', '--filter-tag', 'silver', '--json']), 0);
  assert.equal(json(h)['subscriptionName'], 'vips');
  assert.equal(await h.run(['publish', 'news', 'hello', '--tag', 'gold']), 0);
  assert.equal(h.out.length, 1);
  assert.equal(await h.run(['publish', 'news', 'a', 'b', '--json']), 0);
  assert.equal((json(h)['msgIds'] as string[]).length, 2);
  assert.equal(await h.run(['publish', 'news', '-', '--tag', 'silver'], ['x', '', 'y']), 0);
  assert.equal(h.out.length, 2);
  const inbox = await h.cmq.batchReceiveMessage('inbox', 16, { pollingWaitSeconds: 0 });
  assert.deepEqual(
    inbox.map((m) => m.body),
    ['hello', 'a', 'b', 'x', 'y'],
  );
  const vip = await h.cmq.batchReceiveMessage('vip', 16, { pollingWaitSeconds: 0 });
  assert.deepEqual(
    vip.map((m) => m.body),
    ['hello', 'x', 'y'],
  );
});

void test('routing keys: subscribe --binding-key, publish --routing-key', async () => {
  const h = harness();
  await h.cmq.createQueue('orders');
  await h.run(['topic', 'create', 'events', '--filter-type', '2']);
  assert.equal(await h.run(['subscribe', 'events', 'o', '--to', 'orders']), 1);
  assert.deepEqual(h.err, ['error 4000: (10710)parameters lack of bindingKey']);
  assert.equal(await h.run(['subscribe', 'events', 'o', '--to', 'orders', '--binding-key', 'order.*', '--binding-key', 'audit.#']), 0);
  assert.equal(await h.run(['publish', 'events', 'x']), 1);
  assert.deepEqual(h.err, ['error 4000: (10700)parameters lack of routingKey']);
  assert.equal(await h.run(['publish', 'events', 'nomatch', '--routing-key', 'order']), 1);
  assert.deepEqual(h.err, ['error 6030: (10730)no bindingKey or filterTag matches the routingKey or msgTag']);
  assert.equal(await h.run(['publish', 'events', 'created', '--routing-key', 'order.created']), 0);
  assert.equal(await h.run(['publish', 'events', 'audit', '--routing-key', 'audit']), 0);
  const got = await h.cmq.batchReceiveMessage('orders', 16, { pollingWaitSeconds: 0 });
  assert.deepEqual(
    got.map((m) => m.body),
    ['created', 'audit'],
  );
});

void test('subscription list / get / set / delete; an http subscription from an http:// --to', async () => {
  const h = harness();
  await h.run(['topic', 'create', 'news']);
  assert.equal(await h.run(['subscribe', 'news', 'hook', '--to', 'http://127.0.0.1:8080/push', '--notify-strategy', 'backoff_retry', '--format', 'simplified']), 0);
  assert.match(h.out[0] ?? '', /: http http:\/\/127\.0\.0\.1:8080\/push$/);
  await h.run(['subscribe', 'news', 'q', '--to', 'inbox', '--filter-tag', 'a']);
  assert.equal(await h.run(['subscription', 'list', 'news']), 0);
  assert.match(h.out[0] ?? '', /^NAME +PROTOCOL +ENDPOINT +ID$/);
  assert.equal(h.out.at(-1), 'showing 1-2 of 2');
  assert.equal(await h.run(['subscription', 'get', 'news', 'hook']), 0);
  assert.ok(h.out.some((l) => /^notifyStrategy: +BACKOFF_RETRY$/.test(l)), h.out.join('\n'));
  assert.ok(h.out.some((l) => /^notifyContentFormat: +SIMPLIFIED$/.test(l)));
  assert.equal(await h.run(['subscription', 'set', 'news', 'q', '--filter-tag', 'b', '--filter-tag', 'c']), 0);
  assert.deepEqual(h.out, ['updated subscription q of topic news']);
  assert.equal(await h.run(['subscription', 'get', 'news', 'q', '--json']), 0);
  assert.deepEqual(json(h)['filterTags'], ['b', 'c']);
  assert.equal(await h.run(['subscription', 'set', 'news', 'q', '--clear-filter-tags']), 0);
  assert.deepEqual((await h.cmq.getSubscriptionAttributes('news', 'q')).filterTags, []);
  assert.equal(await h.run(['subscription', 'set', 'news', 'q']), 2);
  assert.match(h.err[0] ?? '', /at least one setting/);
  assert.equal(await h.run(['subscription', 'set', 'news', 'q', '--format', 'xml']), 2);
  assert.equal(await h.run(['topic', 'delete', 'news']), 1);
  assert.match(h.err[0] ?? '', /^error 4000: \(10540\)/);
  assert.equal(await h.run(['subscription', 'delete', 'news', 'hook']), 0);
  assert.deepEqual(h.out, ['deleted subscription hook of topic news']);
  assert.equal(await h.run(['subscription', 'delete', 'news', 'hook']), 1);
  assert.deepEqual(h.err, ['error 4440: (10560)subscription is not existed, or deleted']);
});

void test('subscribe usage errors: no --to, bad --protocol, bad --notify-strategy', async () => {
  const h = harness();
  assert.equal(await h.run(['subscribe', 't', 's']), 2);
  assert.match(h.err[0] ?? '', /--to is required/);
  assert.equal(await h.run(['subscribe', 't', 's', '--to', 'q', '--protocol', 'sms']), 2);
  assert.equal(await h.run(['subscribe', 't', 's', '--to', 'q', '--notify-strategy', 'never']), 2);
  assert.equal(await h.run(['subscribe', '--help']), 0);
  assert.ok(h.out.some((l) => l.includes('--to QUEUE|URL')));
});
