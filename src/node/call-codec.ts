// The queue service's calls and answers as bytes, for a follower that runs a client request
// itself and sends only its service calls to the leader (service-calls.ts). Pure: no I/O.
//
// Call:   u8 version, u8 method, u32 headerLen, header JSON {ctx, args}, then for `submit` the
//         command as the log's binary command codec encodes it (args.metaLen says where its meta
//         part ends), so message bodies cross the link as raw bytes, each with its CRC32C.
// Answer: u8 version, u32 headerLen, header JSON (the result; a delivered message's body replaced
//         by its length), then the delivered bodies back to back.
// Little-endian. A decoding failure throws CallFormatError: the caller decides what it means
// (on the leader, nothing was executed; on the follower, the outcome of a write is unknown).

import { commandFromPayload, encodeCommand, type EncodedCommand } from '../broker/codec';
import type { Command, CommandResult } from '../broker/commands';
import { ERRORS } from '../protocol/errors';
import type { MembershipChange, QueueService, ReceiveOptions } from '../service/queue-service';
import { parseRequestContext, type RequestContext } from '../service/request-context';

export const CALL_CODEC_VERSION = 1;

/** The methods a follower sends to its leader (clusterStatus is answered by the node asked). */
const METHOD_CODES = {
  submit: 1,
  receive: 2,
  listQueues: 3,
  getQueueAttributes: 4,
  listDeadLetterSourceQueues: 5,
  listTopics: 6,
  getTopicAttributes: 7,
  listSubscriptions: 8,
  getSubscriptionAttributes: 9,
  transferLeader: 10,
  changeMembership: 11,
  listMoveTasks: 12,
} as const;

export type CallMethod = keyof typeof METHOD_CODES;
const METHOD_BY_CODE = new Map<number, CallMethod>(Object.entries(METHOD_CODES).map(([m, c]) => [c, m as CallMethod]));

/** One service call, as the service's signature names its arguments. */
export type ServiceCall =
  /** `encoded`: the command as it arrived, when it was decoded from a call (not encoded again). */
  | { method: 'submit'; command: Command; encoded?: EncodedCommand }
  | { method: 'receive'; queueName: string; numOfMsg: number; waitSeconds: number | undefined; options?: ReceiveOptions }
  | { method: 'listQueues'; searchWord: string | undefined; offset: number; limit: number }
  | { method: 'getQueueAttributes'; queueName: string }
  /** remoteOnly: DeadLetterSourceScope.remoteOnly (absent: false; a release before it ignores it). */
  | { method: 'listDeadLetterSourceQueues'; deadLetterQueueName: string; searchWord: string | undefined; offset: number; limit: number; remoteOnly?: boolean }
  | { method: 'listTopics'; searchWord: string | undefined; offset: number; limit: number }
  | { method: 'getTopicAttributes'; topicName: string }
  | { method: 'listSubscriptions'; topicName: string; searchWord: string | undefined; offset: number; limit: number }
  | { method: 'getSubscriptionAttributes'; topicName: string; subscriptionName: string }
  | { method: 'transferLeader'; nodeId: string }
  | { method: 'changeMembership'; change: MembershipChange }
  | { method: 'listMoveTasks'; sourceQueue: string };

export class CallFormatError extends Error {
  constructor(message: string) {
    super(`service call: ${message}`);
    this.name = 'CallFormatError';
  }
}

function check(cond: boolean, what: string): asserts cond {
  if (!cond) throw new CallFormatError(what);
}

/**
 * `prefix` (the rpc service byte) is written first, so the call is never copied to be tagged.
 * `relay`: the receiver, if it does not lead, passes the call on to its leader (once).
 */
export function encodeCall(prefix: number, ctx: RequestContext, call: ServiceCall, relay = false): Buffer {
  let tail: Uint8Array | undefined;
  let args: Record<string, unknown>;
  if (call.method === 'submit') {
    const { payload, metaLen } = encodeCommand(call.command);
    tail = payload;
    args = { metaLen };
  } else {
    const { method: _method, ...rest } = call;
    args = rest;
  }
  const header = Buffer.from(JSON.stringify(relay ? { ctx, args, relay } : { ctx, args }));
  const out = Buffer.allocUnsafe(7 + header.length + (tail?.length ?? 0));
  out[0] = prefix;
  out[1] = CALL_CODEC_VERSION;
  out[2] = METHOD_CODES[call.method];
  out.writeUInt32LE(header.length, 3);
  header.copy(out, 7);
  if (tail) out.set(tail, 7 + header.length);
  return out;
}

const str = (v: unknown, what: string): string => {
  check(typeof v === 'string', `${what} is not a string`);
  return v;
};
const optStr = (v: unknown, what: string): string | undefined => (v === undefined || v === null ? undefined : str(v, what));
const int = (v: unknown, what: string): number => {
  check(typeof v === 'number' && Number.isSafeInteger(v), `${what} is not an integer`);
  return v;
};
const optInt = (v: unknown, what: string): number | undefined => (v === undefined || v === null ? undefined : int(v, what));

/** A call as the rpc router hands it over (without the service byte). */
export function decodeCall(buf: Buffer): { ctx: RequestContext | undefined; call: ServiceCall; relay: boolean } {
  check(buf.length >= 6, 'too short');
  check(buf[0] === CALL_CODEC_VERSION, `unsupported version ${buf[0]}`);
  const method = METHOD_BY_CODE.get(buf[1]!);
  check(method !== undefined, `unknown method ${buf[1]}`);
  const headerLen = buf.readUInt32LE(2);
  check(6 + headerLen <= buf.length, 'header past the end');
  let header: { ctx?: unknown; args?: Record<string, unknown>; relay?: unknown };
  try {
    header = JSON.parse(buf.toString('utf8', 6, 6 + headerLen)) as typeof header;
  } catch {
    throw new CallFormatError('header is not JSON');
  }
  check(typeof header === 'object' && header !== null && typeof header.args === 'object' && header.args !== null, 'header has no args');
  const a = header.args;
  const ctx = parseRequestContext(header.ctx);
  const relay = header.relay === true;
  const rest = buf.subarray(6 + headerLen);
  if (method !== 'submit') check(rest.length === 0, `${rest.length} bytes after the header`);
  const list = { searchWord: optStr(a['searchWord'], 'searchWord'), offset: int(a['offset'] ?? 0, 'offset'), limit: int(a['limit'] ?? 0, 'limit') };
  switch (method) {
    case 'submit': {
      const metaLen = int(a['metaLen'], 'metaLen');
      let command: Command;
      try {
        command = commandFromPayload(rest, metaLen);
      } catch (e) {
        throw new CallFormatError(`command: ${e instanceof Error ? e.message : String(e)}`);
      }
      return { ctx, relay, call: { method, command, encoded: { payload: rest, metaLen } } };
    }
    case 'receive':
    {
      const call: ServiceCall = { method, queueName: str(a['queueName'], 'queueName'), numOfMsg: int(a['numOfMsg'], 'numOfMsg'), waitSeconds: optInt(a['waitSeconds'], 'waitSeconds') };
      const o = a['options'];
      if (o !== undefined) {
        check(typeof o === 'object' && o !== null, 'receive options must be an object');
        const visibilitySeconds = optInt((o as Record<string, unknown>)['visibilitySeconds'], 'visibilitySeconds');
        const attemptId = optStr((o as Record<string, unknown>)['attemptId'], 'attemptId');
        const options: ReceiveOptions = {};
        if (visibilitySeconds !== undefined) options.visibilitySeconds = visibilitySeconds;
        if (attemptId !== undefined) options.attemptId = attemptId;
        call.options = options;
      }
      return { ctx, relay, call };
    }
    case 'listQueues':
    case 'listTopics':
      return { ctx, relay, call: { method, ...list } };
    case 'getQueueAttributes':
      return { ctx, relay, call: { method, queueName: str(a['queueName'], 'queueName') } };
    case 'listDeadLetterSourceQueues': {
      const remote = a['remoteOnly'];
      check(remote === undefined || remote === true, 'remoteOnly must be true when present');
      return { ctx, relay, call: { method, deadLetterQueueName: str(a['deadLetterQueueName'], 'deadLetterQueueName'), ...list, ...(remote === true ? { remoteOnly: true } : {}) } };
    }
    case 'getTopicAttributes':
      return { ctx, relay, call: { method, topicName: str(a['topicName'], 'topicName') } };
    case 'listSubscriptions':
      return { ctx, relay, call: { method, topicName: str(a['topicName'], 'topicName'), ...list } };
    case 'getSubscriptionAttributes':
      return { ctx, relay, call: { method, topicName: str(a['topicName'], 'topicName'), subscriptionName: str(a['subscriptionName'], 'subscriptionName') } };
    case 'transferLeader':
      return { ctx, relay, call: { method, nodeId: str(a['nodeId'], 'nodeId') } };
    case 'changeMembership':
      return { ctx, relay, call: { method, change: membershipChange(a['change']) } };
    case 'listMoveTasks':
      return { ctx, relay, call: { method, sourceQueue: str(a['sourceQueue'], 'sourceQueue') } };
  }
}

function membershipChange(v: unknown): MembershipChange {
  check(typeof v === 'object' && v !== null, 'change is not an object');
  const c = v as Record<string, unknown>;
  if (c['type'] === 'add') return { type: 'add', nodeId: str(c['nodeId'], 'nodeId'), address: str(c['address'], 'address') };
  check(c['type'] === 'remove', 'change type is neither add nor remove');
  return { type: 'remove', nodeId: str(c['nodeId'], 'nodeId') };
}

/** The leader's own service, which also takes a command already encoded. */
export interface LeaderService extends QueueService {
  submitEncoded(ctx: RequestContext, command: Command, encoded: EncodedCommand): Promise<CommandResult>;
}

/**
 * Run a call on `service`. A command that arrived encoded goes to `submitEncoded` where the
 * service has it (the leader's own), so it is not encoded again.
 */
export function dispatchCall(service: QueueService & Partial<Pick<LeaderService, 'submitEncoded'>>, ctx: RequestContext, call: ServiceCall): Promise<object> {
  switch (call.method) {
    case 'submit':
      return call.encoded && service.submitEncoded ? service.submitEncoded(ctx, call.command, call.encoded) : service.submit(ctx, call.command);
    case 'receive':
      return call.options === undefined ? service.receive(ctx, call.queueName, call.numOfMsg, call.waitSeconds) : service.receive(ctx, call.queueName, call.numOfMsg, call.waitSeconds, call.options);
    case 'listQueues':
      return service.listQueues(ctx, call.searchWord, call.offset, call.limit);
    case 'getQueueAttributes':
      return service.getQueueAttributes(ctx, call.queueName);
    case 'listDeadLetterSourceQueues':
      return call.remoteOnly === true
        ? service.listDeadLetterSourceQueues(ctx, call.deadLetterQueueName, call.searchWord, call.offset, call.limit, { remoteOnly: true })
        : service.listDeadLetterSourceQueues(ctx, call.deadLetterQueueName, call.searchWord, call.offset, call.limit);
    case 'listTopics':
      return service.listTopics(ctx, call.searchWord, call.offset, call.limit);
    case 'getTopicAttributes':
      return service.getTopicAttributes(ctx, call.topicName);
    case 'listSubscriptions':
      return service.listSubscriptions(ctx, call.topicName, call.searchWord, call.offset, call.limit);
    case 'getSubscriptionAttributes':
      return service.getSubscriptionAttributes(ctx, call.topicName, call.subscriptionName);
    case 'transferLeader':
      return service.transferLeader(ctx, call.nodeId);
    case 'changeMembership':
      return service.changeMembership(ctx, call.change);
    case 'listMoveTasks':
      return service.listMoveTasks(ctx, call.sourceQueue);
  }
}

/**
 * A service answer as bytes. Delivered messages (a receive's `messages`, each with `bodyBytes`)
 * travel with their bodies after the header; every other answer is its JSON.
 */
export function encodeAnswer(answer: object): Buffer {
  const bodies: Buffer[] = [];
  const messages = (answer as { messages?: unknown }).messages;
  let header = answer;
  if (Array.isArray(messages) && messages.some((m) => m !== null && typeof m === 'object' && 'bodyBytes' in m)) {
    header = {
      ...answer,
      messages: messages.map((m: { bodyBytes?: Buffer }) => {
        if (m.bodyBytes === undefined) return m;
        const { bodyBytes, ...rest } = m;
        bodies.push(bodyBytes);
        return { ...rest, bodyLength: bodyBytes.length };
      }),
    };
  }
  const json = Buffer.from(JSON.stringify(header));
  let total = 5 + json.length;
  for (const b of bodies) total += b.length;
  const out = Buffer.allocUnsafe(total);
  out[0] = CALL_CODEC_VERSION;
  out.writeUInt32LE(json.length, 1);
  json.copy(out, 5);
  let at = 5 + json.length;
  for (const b of bodies) at += b.copy(out, at);
  return out;
}

/**
 * The answer encodeAnswer wrote. Its shape is the service's (the leader runs the same code); what
 * is checked is what a caller relies on before it looks further: `ok`, a known error name, and
 * that the bodies add up.
 */
export function decodeAnswer<T extends object>(buf: Buffer): T {
  check(buf.length >= 5, 'answer too short');
  check(buf[0] === CALL_CODEC_VERSION, `unsupported answer version ${buf[0]}`);
  const jsonLen = buf.readUInt32LE(1);
  check(5 + jsonLen <= buf.length, 'answer header past the end');
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(buf.toString('utf8', 5, 5 + jsonLen)) as Record<string, unknown>;
  } catch {
    throw new CallFormatError('answer is not JSON');
  }
  check(typeof answer === 'object' && answer !== null && typeof answer['ok'] === 'boolean', 'answer has no ok');
  if (answer['ok'] === false) check(typeof answer['error'] === 'string' && Object.hasOwn(ERRORS, answer['error']), `unknown error ${String(answer['error'])}`);
  let at = 5 + jsonLen;
  const messages = answer['messages'];
  if (Array.isArray(messages)) {
    for (const m of messages as Record<string, unknown>[]) {
      if (m === null || typeof m !== 'object' || m['bodyLength'] === undefined) continue;
      const n = int(m['bodyLength'], 'bodyLength');
      check(n >= 0 && at + n <= buf.length, 'body past the end of the answer');
      m['bodyBytes'] = buf.subarray(at, at + n);
      delete m['bodyLength'];
      at += n;
    }
  }
  check(at === buf.length, `${buf.length - at} bytes after the answer`);
  return answer as T;
}
