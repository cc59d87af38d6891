// The `opencmq topic …`, `publish`, `subscribe` and `subscription …` commands (spec §3). Same
// shape as the queue commands: parse options, call the client, print a human or JSON answer.

import type { NotifyContentFormat, NotifyStrategy, SubscriptionAttributes, SubscriptionAttributesInput, TopicAttributes } from '../client/types';
import { LIMITS, TOPIC_ATTR_RANGES } from '../protocol/limits';
import { FILTER_TYPE, NOTIFY_CONTENT_FORMATS, NOTIFY_STRATEGIES, type SubscriptionProtocol, type TopicFilterType } from '../protocol/topic-types';
import { EXIT_OK, UsageError } from './cli-io';
import type { CommandSpec } from './commands';
import { formatJson, formatKeyValues, formatUnixSeconds } from './format';
import { LIST_OPTIONS, listHelp, listOptions, printListing } from './listing';
import { intOpt, rangeText, stringOpt, type OptionSpecs, type OptionValues } from './options';

// ---- option helpers ----

/** Every value of a repeatable string option, in command-line order. */
function listOpt(values: OptionValues, name: string): string[] | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x): x is string => typeof x === 'string');
}

function notifyStrategyOpt(values: OptionValues): NotifyStrategy | undefined {
  const v = stringOpt(values, 'notify-strategy')?.toUpperCase();
  if (v === undefined) return undefined;
  if (!(NOTIFY_STRATEGIES as readonly string[]).includes(v)) throw new UsageError(`--notify-strategy must be one of ${NOTIFY_STRATEGIES.join(', ')}`);
  return v as NotifyStrategy;
}

function formatOpt(values: OptionValues): NotifyContentFormat | undefined {
  const v = stringOpt(values, 'format')?.toUpperCase();
  if (v === undefined) return undefined;
  if (!(NOTIFY_CONTENT_FORMATS as readonly string[]).includes(v)) throw new UsageError(`--format must be one of ${NOTIFY_CONTENT_FORMATS.join(', ')}`);
  return v as NotifyContentFormat;
}

const SUBSCRIPTION_SETTING_OPTIONS: OptionSpecs = {
  'filter-tag': { type: 'string', multiple: true },
  'binding-key': { type: 'string', multiple: true },
  'notify-strategy': { type: 'string' },
  format: { type: 'string' },
};

const SUBSCRIPTION_SETTING_HELP = [
  `  --filter-tag T         only messages carrying tag T (repeat, at most ${LIMITS.filterTagsMax}; filterType 1 topics)`,
  `  --binding-key K        only routing keys matching K, with * and # (repeat, at most ${LIMITS.bindingKeysMax}; filterType 2)`,
  '  --notify-strategy S    BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY (http retries; default EXPONENTIAL_DECAY_RETRY)',
  '  --format F             JSON or SIMPLIFIED (http body; a queue always gets the raw body)',
];

function subscriptionSettings(values: OptionValues): SubscriptionAttributesInput {
  const out: SubscriptionAttributesInput = {};
  const strategy = notifyStrategyOpt(values);
  const format = formatOpt(values);
  const tags = listOpt(values, 'filter-tag');
  const keys = listOpt(values, 'binding-key');
  if (strategy !== undefined) out.notifyStrategy = strategy;
  if (format !== undefined) out.notifyContentFormat = format;
  if (tags !== undefined) out.filterTags = tags;
  if (keys !== undefined) out.bindingKeys = keys;
  return out;
}

function topicLines(name: string, a: TopicAttributes): string[] {
  return formatKeyValues([
    ['topicName', a.topicName ?? name],
    ['topicId', a.topicId ?? '-'],
    ['filterType', `${a.filterType} (${a.filterType === FILTER_TYPE.tag ? 'tags' : 'routing keys'})`],
    ['maxMsgSize', String(a.maxMsgSize)],
    ['msgRetentionSeconds', String(a.msgRetentionSeconds)],
    ['msgCount', String(a.msgCount)],
    ['createTime', formatUnixSeconds(a.createTime)],
    ['lastModifyTime', formatUnixSeconds(a.lastModifyTime)],
  ]);
}

function subscriptionLines(topic: string, name: string, a: SubscriptionAttributes): string[] {
  return formatKeyValues([
    ['topicName', topic],
    ['subscriptionName', name],
    ['protocol', a.protocol],
    ['endpoint', a.endpoint],
    ['notifyStrategy', a.notifyStrategy],
    ['notifyContentFormat', a.notifyContentFormat],
    ['filterTags', a.filterTags.length === 0 ? '-' : a.filterTags.join(', ')],
    ['bindingKeys', a.bindingKeys.length === 0 ? '-' : a.bindingKeys.join(', ')],
    ['msgCount', String(a.msgCount)],
    ['createTime', formatUnixSeconds(a.createTime)],
    ['lastModifyTime', formatUnixSeconds(a.lastModifyTime)],
  ]);
}

// ---- topic commands ----

const topicCreate: CommandSpec = {
  words: ['topic', 'create'],
  usage: 'opencmq topic create NAME [--filter-type 1|2] [--max-msg-size N]',
  summary: 'create a topic',
  help: [
    'Options:',
    '  --filter-type 1|2   1: subscriptions filter by tag (default); 2: by routing key. Fixed once created',
    `  --max-msg-size N    bytes (${rangeText(TOPIC_ATTR_RANGES.maxMsgSize)}, default ${TOPIC_ATTR_RANGES.maxMsgSize.def})`,
  ],
  options: { 'filter-type': { type: 'string' }, 'max-msg-size': { type: 'string' } },
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    const filterType = intOpt(ctx.opts, 'filter-type', FILTER_TYPE.tag, FILTER_TYPE.routingKey);
    const maxMsgSize = intOpt(ctx.opts, 'max-msg-size', 0, Number.MAX_SAFE_INTEGER);
    const opts: { filterType?: TopicFilterType; maxMsgSize?: number } = {};
    if (filterType !== undefined) opts.filterType = filterType === FILTER_TYPE.routingKey ? FILTER_TYPE.routingKey : FILTER_TYPE.tag;
    if (maxMsgSize !== undefined) opts.maxMsgSize = maxMsgSize;
    const topicId = await ctx.client().createTopic(name, opts);
    ctx.io.out(ctx.json ? formatJson({ topicName: name, topicId }) : `created topic ${name} (${topicId})`);
    return EXIT_OK;
  },
};

const topicList: CommandSpec = {
  words: ['topic', 'list'],
  usage: 'opencmq topic list [--search WORD] [--offset N] [--limit N]',
  summary: 'list topics',
  help: listHelp('topics', LIMITS.listLimitDefault, LIMITS.listLimitMax),
  options: LIST_OPTIONS,
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const list = await ctx.client().listTopics(listOptions(ctx, LIMITS.listLimitMax));
    printListing(ctx, 'topics', list, ['NAME', 'ID'], list.topics.map((t) => [t.topicName, t.topicId]));
    return EXIT_OK;
  },
};

const topicGet: CommandSpec = {
  words: ['topic', 'get'],
  usage: 'opencmq topic get NAME',
  summary: 'show a topic’s attributes',
  help: [],
  options: {},
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    const a = await ctx.client().getTopicAttributes(name);
    if (ctx.json) ctx.io.out(formatJson({ topicName: name, ...a }));
    else for (const line of topicLines(name, a)) ctx.io.out(line);
    return EXIT_OK;
  },
};

const topicSet: CommandSpec = {
  words: ['topic', 'set'],
  usage: 'opencmq topic set NAME --max-msg-size N',
  summary: 'change a topic’s maximum message size',
  help: ['Options:', `  --max-msg-size N    bytes (${rangeText(TOPIC_ATTR_RANGES.maxMsgSize)})`],
  options: { 'max-msg-size': { type: 'string' } },
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    const maxMsgSize = intOpt(ctx.opts, 'max-msg-size', 0, Number.MAX_SAFE_INTEGER);
    if (maxMsgSize === undefined) throw new UsageError('--max-msg-size is required');
    await ctx.client().setTopicAttributes(name, { maxMsgSize });
    ctx.io.out(ctx.json ? formatJson({ topicName: name, updated: { maxMsgSize } }) : `updated topic ${name}`);
    return EXIT_OK;
  },
};

const topicDelete: CommandSpec = {
  words: ['topic', 'delete'],
  usage: 'opencmq topic delete NAME',
  summary: 'delete a topic (it must have no subscriptions)',
  help: [],
  options: {},
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    await ctx.client().deleteTopic(name);
    ctx.io.out(ctx.json ? formatJson({ topicName: name, deleted: true }) : `deleted topic ${name}`);
    return EXIT_OK;
  },
};

// ---- publish ----

const publish: CommandSpec = {
  words: ['publish'],
  usage: 'opencmq publish TOPIC BODY... [--tag T ...] [--routing-key K]    (BODY "-" reads one message per stdin line)',
  summary: 'publish messages to a topic (several bodies go in one batch)',
  help: [
    'Options:',
    `  --tag T            tag the messages with T (repeat, at most ${LIMITS.msgTagsMax}; filterType 1 topics)`,
    '  --routing-key K    routing key, words separated by "." (filterType 2 topics; required there)',
    '',
    'With "-" as the only BODY, each non-empty stdin line is one message, published in batches of 16.',
  ],
  options: { tag: { type: 'string', multiple: true }, 'routing-key': { type: 'string' } },
  minArgs: 2,
  maxArgs: Infinity,
  async run(ctx) {
    const [topic = '', ...bodies] = ctx.args;
    const opts: { tags?: string[]; routingKey?: string } = {};
    const tags = listOpt(ctx.opts, 'tag');
    const routingKey = stringOpt(ctx.opts, 'routing-key');
    if (tags !== undefined) opts.tags = tags;
    if (routingKey !== undefined) opts.routingKey = routingKey;
    const fromStdin = bodies.includes('-');
    if (fromStdin && bodies.length !== 1) throw new UsageError('"-" (read stdin) must be the only BODY');
    const client = ctx.client();
    const ids: string[] = [];
    const publishChunk = async (chunk: string[]): Promise<void> => {
      const got = chunk.length === 1 ? [await client.publishMessage(topic, chunk[0] ?? '', opts)] : await client.batchPublishMessage(topic, chunk, opts);
      ids.push(...got);
      if (!ctx.json) for (const id of got) ctx.io.out(id);
    };
    if (fromStdin) {
      let chunk: string[] = [];
      for await (const line of ctx.io.stdinLines()) {
        if (line === '') continue;
        chunk.push(line);
        if (chunk.length === LIMITS.batchItemsMax) {
          await publishChunk(chunk);
          chunk = [];
        }
      }
      if (chunk.length > 0) await publishChunk(chunk);
    } else {
      for (let i = 0; i < bodies.length; i += LIMITS.batchItemsMax) await publishChunk(bodies.slice(i, i + LIMITS.batchItemsMax));
    }
    if (ctx.json) ctx.io.out(formatJson({ msgIds: ids }));
    return EXIT_OK;
  },
};

// ---- subscriptions ----

/** queue or http; without --protocol, an http:// target means http and anything else a queue. */
function protocolOpt(values: OptionValues, target: string): SubscriptionProtocol {
  const p = stringOpt(values, 'protocol')?.toLowerCase();
  if (p === undefined) return /^http:\/\//i.test(target) ? 'http' : 'queue';
  if (p !== 'queue' && p !== 'http') throw new UsageError('--protocol must be queue or http');
  return p;
}

const subscribe: CommandSpec = {
  words: ['subscribe'],
  usage: 'opencmq subscribe TOPIC SUBSCRIPTION --to QUEUE|URL [--protocol queue|http] [filter and delivery options]',
  summary: 'subscribe a queue (or an http endpoint) to a topic',
  help: [
    'Options:',
    '  --to QUEUE|URL         where messages go: a queue name, or an http:// URL that is POSTed to',
    '                         (the CMQ "endpoint"; --endpoint is the server URL)',
    '  --protocol P           queue or http (default: http for an http:// --to, else queue)',
    ...SUBSCRIPTION_SETTING_HELP,
  ],
  options: { to: { type: 'string' }, protocol: { type: 'string' }, ...SUBSCRIPTION_SETTING_OPTIONS },
  minArgs: 2,
  maxArgs: 2,
  async run(ctx) {
    const [topic = '', name = ''] = ctx.args;
    const endpoint = stringOpt(ctx.opts, 'to');
    if (endpoint === undefined) throw new UsageError('--to is required');
    const protocol = protocolOpt(ctx.opts, endpoint);
    const subscriptionId = await ctx.client().subscribe(topic, name, { protocol, endpoint, ...subscriptionSettings(ctx.opts) });
    ctx.io.out(
      ctx.json
        ? formatJson({ topicName: topic, subscriptionName: name, subscriptionId })
        : `subscribed ${name} (${subscriptionId}) to topic ${topic}: ${protocol} ${endpoint}`,
    );
    return EXIT_OK;
  },
};

const subscriptionList: CommandSpec = {
  words: ['subscription', 'list'],
  usage: 'opencmq subscription list TOPIC [--search WORD] [--offset N] [--limit N]',
  summary: 'list a topic’s subscriptions',
  help: listHelp('subscriptions', LIMITS.listLimitDefault, 100),
  options: LIST_OPTIONS,
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const topic = ctx.args[0] ?? '';
    const list = await ctx.client().listSubscriptions(topic, listOptions(ctx, 100));
    printListing(
      ctx,
      'subscriptions',
      list,
      ['NAME', 'PROTOCOL', 'ENDPOINT', 'ID'],
      list.subscriptions.map((s) => [s.subscriptionName, s.protocol, s.endpoint, s.subscriptionId]),
    );
    return EXIT_OK;
  },
};

const subscriptionGet: CommandSpec = {
  words: ['subscription', 'get'],
  usage: 'opencmq subscription get TOPIC SUBSCRIPTION',
  summary: 'show a subscription’s settings and pending message count',
  help: [],
  options: {},
  minArgs: 2,
  maxArgs: 2,
  async run(ctx) {
    const [topic = '', name = ''] = ctx.args;
    const a = await ctx.client().getSubscriptionAttributes(topic, name);
    if (ctx.json) ctx.io.out(formatJson({ topicName: topic, subscriptionName: name, ...a }));
    else for (const line of subscriptionLines(topic, name, a)) ctx.io.out(line);
    return EXIT_OK;
  },
};

const subscriptionSet: CommandSpec = {
  words: ['subscription', 'set'],
  usage: 'opencmq subscription set TOPIC SUBSCRIPTION [--filter-tag T ...] [--binding-key K ...] [--notify-strategy S] [--format F] [--clear-filter-tags]',
  summary: 'change a subscription’s filters or delivery settings',
  help: [
    'Options (at least one; a --filter-tag or --binding-key list replaces the whole set):',
    ...SUBSCRIPTION_SETTING_HELP,
    '  --clear-filter-tags    remove every filter tag (the subscription then takes every message)',
  ],
  options: { ...SUBSCRIPTION_SETTING_OPTIONS, 'clear-filter-tags': { type: 'boolean' } },
  minArgs: 2,
  maxArgs: 2,
  async run(ctx) {
    const [topic = '', name = ''] = ctx.args;
    const settings = subscriptionSettings(ctx.opts);
    const clear = ctx.opts['clear-filter-tags'] === true;
    if (clear && settings.filterTags !== undefined) throw new UsageError('--clear-filter-tags and --filter-tag do not go together');
    if (!clear && Object.keys(settings).length === 0) throw new UsageError('give at least one setting to change');
    const client = ctx.client();
    if (clear) await client.clearSubscriptionFilterTags(topic, name);
    if (Object.keys(settings).length > 0) await client.setSubscriptionAttributes(topic, name, settings);
    const updated = clear ? { ...settings, filterTags: [] } : settings;
    ctx.io.out(ctx.json ? formatJson({ topicName: topic, subscriptionName: name, updated }) : `updated subscription ${name} of topic ${topic}`);
    return EXIT_OK;
  },
};

const subscriptionDelete: CommandSpec = {
  words: ['subscription', 'delete'],
  usage: 'opencmq subscription delete TOPIC SUBSCRIPTION',
  summary: 'unsubscribe (messages still pending for it are dropped)',
  help: [],
  options: {},
  minArgs: 2,
  maxArgs: 2,
  async run(ctx) {
    const [topic = '', name = ''] = ctx.args;
    await ctx.client().unsubscribe(topic, name);
    ctx.io.out(ctx.json ? formatJson({ topicName: topic, subscriptionName: name, deleted: true }) : `deleted subscription ${name} of topic ${topic}`);
    return EXIT_OK;
  },
};

export const TOPIC_COMMANDS: readonly CommandSpec[] = [
  topicCreate,
  topicList,
  topicGet,
  topicSet,
  topicDelete,
  publish,
  subscribe,
  subscriptionList,
  subscriptionGet,
  subscriptionSet,
  subscriptionDelete,
];
