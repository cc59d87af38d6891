// Option specs shared by the commands, and the conversions from raw option strings to typed
// values. Every conversion failure is a UsageError (exit code 2).

import type { DeadLetterPolicy, QueueAttributesRequest } from '../client/types';
import type { QueueSettingsValues } from '../protocol/queue-types';
import { UsageError } from './cli-io';
import { DEAD_LETTER_RANGES, LIMITS, QUEUE_ATTR_RANGES } from '../protocol/limits';
import { LOG_LEVELS, parseLogLevel } from '../protocol/log';
import { LOG_FORMATS, type LogFormat, type ServerOptions } from '../node/server-options';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;
export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

export const GLOBAL_OPTIONS: OptionSpecs = {
  endpoint: { type: 'string' },
  'secret-id': { type: 'string' },
  'secret-key': { type: 'string' },
  ca: { type: 'string' },
  'client-cert': { type: 'string' },
  'client-key': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export const GLOBAL_HELP = [
  'Global options:',
  '  --endpoint URL       server URL, or members of one set comma-separated (the client fails over',
  '                       between them); default $OPENCMQ_ENDPOINT, else http://127.0.0.1:9600',
  '  --secret-id ID       SecretId to sign with (default $OPENCMQ_SECRET_ID; unsigned when absent)',
  '  --secret-key KEY     SecretKey to sign with (default $OPENCMQ_SECRET_KEY)',
  '  --ca FILE            https: trust the CA certificate(s) in this PEM file (default $OPENCMQ_CA)',
  '  --client-cert FILE   https with client certificates: this client\'s certificate (default $OPENCMQ_CLIENT_CERT)',
  '  --client-key FILE    ... and its key (default $OPENCMQ_CLIENT_KEY)',
  '  --json               machine-readable output: one JSON document',
  '  -h, --help           show help',
];

export const QUEUE_ATTR_OPTIONS: OptionSpecs = {
  'visibility-timeout': { type: 'string' },
  'polling-wait-seconds': { type: 'string' },
  'max-msg-size': { type: 'string' },
  'retention-seconds': { type: 'string' },
  'rewind-seconds': { type: 'string' },
  'max-msg-heap-num': { type: 'string' },
  'dead-letter-queue': { type: 'string' },
  'dead-letter-policy': { type: 'string' },
  'max-receive-count': { type: 'string' },
  'max-time-to-live': { type: 'string' },
  shards: { type: 'string' },
};

/** "min-max" of a range the server enforces, so help text cannot drift from it. */
export function rangeText(r: { readonly min: number; readonly max: number }): string {
  return `${r.min}-${r.max}`;
}

const Q = QUEUE_ATTR_RANGES;
export const QUEUE_ATTR_HELP = [
  `  --visibility-timeout N     seconds a received message stays hidden (${rangeText(Q.visibilityTimeout)})`,
  `  --polling-wait-seconds N   default long-poll wait (${rangeText(Q.pollingWaitSeconds)})`,
  `  --max-msg-size N           bytes (${rangeText(Q.maxMsgSize)})`,
  `  --retention-seconds N      message lifetime (${rangeText(Q.msgRetentionSeconds)})`,
  '  --rewind-seconds N         rewind window, 0 = off',
  '  --max-msg-heap-num N       maximum messages kept',
  '  --dead-letter-queue Q      move failing messages to queue Q',
  '  --dead-letter-policy 0|1   0: after --max-receive-count receives; 1: after --max-time-to-live seconds',
  `  --max-receive-count N      ${rangeText(DEAD_LETTER_RANGES.maxReceiveCount)} (policy 0)`,
  `  --max-time-to-live N       ${rangeText(DEAD_LETTER_RANGES.maxTimeToLive)} seconds (policy 1)`,
  `  --shards K                 spread the queue over K sets (1-${LIMITS.queueShardsMax}; a cluster of`,
  '                             several sets; queue set: grow to K, never fewer)',
];

export function stringOpt(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function boolOpt(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

/** An integer option within [min, max], or undefined when absent. */
export function intOpt(values: OptionValues, name: string, min: number, max: number): number | undefined {
  const raw = stringOpt(values, name);
  if (raw === undefined) return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw new UsageError(`--${name} must be an integer, got '${raw}'`);
  const n = Number(raw);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/**
 * Queue attributes from the options. Ranges are left to the server (it knows the exact rules);
 * only integer syntax is checked here. With `requireSome`, no attribute at all is a usage error.
 */
export function queueAttributesFromOptions(values: OptionValues, requireSome: boolean): QueueAttributesRequest {
  const attrs: QueueAttributesRequest = {};
  const big = Number.MAX_SAFE_INTEGER;
  const set = (key: keyof QueueSettingsValues, opt: string): void => {
    const v = intOpt(values, opt, 0, big);
    if (v !== undefined) attrs[key] = v;
  };
  set('visibilityTimeout', 'visibility-timeout');
  set('pollingWaitSeconds', 'polling-wait-seconds');
  set('maxMsgSize', 'max-msg-size');
  set('msgRetentionSeconds', 'retention-seconds');
  set('rewindSeconds', 'rewind-seconds');
  set('maxMsgHeapNum', 'max-msg-heap-num');
  const dlq = deadLetterPolicyFromOptions(values);
  if (dlq !== undefined) attrs.deadLetterPolicy = dlq;
  const shards = intOpt(values, 'shards', 1, LIMITS.queueShardsMax);
  if (shards !== undefined) attrs.shards = shards;
  if (requireSome && Object.keys(attrs).length === 0) throw new UsageError('give at least one attribute to set');
  return attrs;
}

function deadLetterPolicyFromOptions(values: OptionValues): DeadLetterPolicy | undefined {
  const queue = stringOpt(values, 'dead-letter-queue');
  const policyOpt = intOpt(values, 'dead-letter-policy', 0, 1);
  const maxReceiveCount = intOpt(values, 'max-receive-count', 0, Number.MAX_SAFE_INTEGER);
  const maxTimeToLive = intOpt(values, 'max-time-to-live', 0, Number.MAX_SAFE_INTEGER);
  if (queue === undefined) {
    if (policyOpt !== undefined || maxReceiveCount !== undefined || maxTimeToLive !== undefined) {
      throw new UsageError('--dead-letter-policy, --max-receive-count and --max-time-to-live need --dead-letter-queue');
    }
    return undefined;
  }
  const policy = policyOpt ?? (maxTimeToLive !== undefined && maxReceiveCount === undefined ? 1 : 0);
  const out: DeadLetterPolicy = { deadLetterQueue: queue, policy: policy === 1 ? 1 : 0 };
  if (maxReceiveCount !== undefined) out.maxReceiveCount = maxReceiveCount;
  if (maxTimeToLive !== undefined) out.maxTimeToLive = maxTimeToLive;
  return out;
}

/**
 * Option values from a JSON config file (an object keyed by long option names, e.g.
 * {"node-id": "n1", "raft-port": 9700, "peer": ["n2=10.0.0.2:9700"]}), checked against `specs`.
 * Numbers become strings, as on the command line; flags given on the command line win.
 */
export function configFileValues(file: string, text: string, specs: OptionSpecs): OptionValues {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`${file}: expected a JSON object of options`);
  const out: OptionValues = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const spec = specs[key];
    if (!spec || key === 'config') throw new UsageError(`${file}: unknown option '${key}'`);
    const one = (v: unknown): string | boolean => {
      if (spec.type === 'boolean') {
        if (typeof v !== 'boolean') throw new UsageError(`${file}: '${key}' must be true or false`);
        return v;
      }
      if (typeof v === 'string') return v;
      if (typeof v === 'number' && Number.isFinite(v)) return String(v);
      throw new UsageError(`${file}: '${key}' must be a string or a number`);
    };
    if (spec.multiple) {
      const list = Array.isArray(value) ? (value as unknown[]) : [value];
      out[key] = list.map(one);
    } else {
      if (Array.isArray(value)) throw new UsageError(`${file}: '${key}' takes one value`);
      out[key] = one(value);
    }
  }
  return out;
}

/** --log-format and --log-level (the server's logger is built from them; stderr is where it writes). */
export function logOptions(values: OptionValues): Pick<ServerOptions, 'logFormat' | 'logLevel'> {
  const out: Pick<ServerOptions, 'logFormat' | 'logLevel'> = {};
  const format = stringOpt(values, 'log-format');
  if (format !== undefined) {
    if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, got '${format}'`);
    out.logFormat = format as LogFormat;
  }
  const level = stringOpt(values, 'log-level');
  if (level !== undefined) {
    const parsed = parseLogLevel(level);
    if (parsed === undefined) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
    out.logLevel = parsed;
  }
  return out;
}
