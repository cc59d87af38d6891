// CmqClient: the classic CMQ HTTP API over node:http(s) with a keep-alive agent. Requests are
// form-urlencoded, signed as spec §1.4 when credentials are given, and answers are decoded from the
// `{code, message, requestId, ...}` envelope (spec §1.5).

import * as http from 'node:http';
import * as https from 'node:https';
import { randomInt, randomUUID } from 'node:crypto';
import { CmqError, CmqNetworkError, parseModuleCode } from './errors';
import { CMQ_CODES } from '../protocol/cmq-codes';
import { httpExchange } from './http-exchange';
import { signString, stringToSign, type SignatureMethod } from './signature';
import type {
  BatchDeleteFailure,
  ClusterNodeStatus,
  BatchDeleteResult,
  CmqQueueApi,
  CmqTopicApi,
  CreateTopicOptions,
  DeadLetterPolicy,
  ListOptions,
  Message,
  NotifyContentFormat,
  NotifyStrategy,
  PublishOptions,
  QueueAttributes,
  QueueAttributesRequest,
  QueueList,
  ReceiveOptions,
  RedriveOptions,
  SendOptions,
  SubscribeOptions,
  SubscriptionAttributes,
  SubscriptionAttributesInput,
  SubscriptionList,
  SubscriptionProtocol,
  TopicAttributes,
  TopicAttributesInput,
  TopicList,
} from './types';
import { REQUEST_CLIENT } from './version';
import { LIMITS } from '../protocol/limits';
import { FILTER_TYPE } from '../protocol/topic-types';

export interface CmqClientOptions {
  /**
   * e.g. 'http://127.0.0.1:9600'. A path in the URL is used as the request path unless `path` is
   * set. Give this or `endpoints`.
   */
  endpoint?: string;
  /**
   * Several members of one set (any member serves any request). The client uses one at a time and
   * moves to the next when a request certainly was not applied there: the connection could not be
   * made (refused, unreachable, connect timeout) or the member answered 6100 (not applied). After
   * an ambiguous failure (the connection broke after sending, no answer, 6000/10810 outcome
   * unknown) only idempotent actions (or all, with `retryWrites`) are retried; other writes throw
   * an error whose `retrySafe` is false. Combined with `endpoint`, that one comes first.
   */
  endpoints?: readonly string[];
  /** Without secretId/secretKey requests go unsigned (for a server running open on loopback). */
  secretId?: string;
  secretKey?: string;
  /** Temporary-credential token, sent as `Token` and signed like any parameter. */
  token?: string;
  /** Default HmacSHA256. */
  signatureMethod?: SignatureMethod;
  /** Request path, default '/' (the server also serves '/v2/index.php'). */
  path?: string;
  /** Default POST (parameters in a form-urlencoded body); GET puts them in the query string. */
  method?: 'POST' | 'GET';
  /** Socket timeout for one request, default 10 000 ms. Receives always allow wait + 5 s. */
  timeoutMs?: number;
  /**
   * How long to wait for a TCP connection before trying the next endpoint (default: `timeoutMs`
   * with one endpoint, 3000 ms with several). A request that could not connect was not sent.
   */
  connectTimeoutMs?: number;
  /**
   * Extra attempts after a failure (default 2 with one endpoint, the number of endpoints + 4 with
   * several), with exponential backoff (the first move to each other endpoint is immediate), and
   * never after `retryTimeMs`. Which requests are retried: one that certainly was not applied
   * (connection refused, DNS, connect timeout, or a 6100 answer) is always retried; otherwise only
   * idempotent ones: ListQueue, GetQueueAttributes,
   * ListDeadLetterSourceQueues, ListTopic, GetTopicAttributes, ListSubscriptionByTopic,
   * GetSubscriptionAttributes, (Batch)ReceiveMessage (a receive whose answer was lost only hides
   * its messages until their visibility timeout ends), and sends and publishes that carry a
   * `dedupId` (by default every one does, see `deduplicateSends`): the server answers a retry with
   * the first attempt's msgIds and enqueues nothing twice. Creates, deletes, sets and rewinds are
   * not retried after the request may have reached the server unless `retryWrites` is true:
   * a retried delete may report 4430 for a message it did delete.
   * CMQ errors (code != 0) other than 6100 (not applied) and, for the actions above, 6000/10810
   * (outcome unknown) are never retried.
   */
  retries?: number;
  /** No retry starts later than this after the call began (default 15 000 ms). */
  retryTimeMs?: number;
  /** First backoff delay, doubled per attempt (with jitter), capped at 2 s. Default 100 ms. */
  retryBackoffMs?: number;
  /** Retry non-idempotent actions after ambiguous failures too. Default false. */
  retryWrites?: boolean;
  /**
   * Give every send and publish a fresh `dedupId` (an opencmq extension) unless the call names its
   * own, so that retrying it after an ambiguous failure cannot enqueue it twice (within the
   * server's 5-minute window). Default true. Set it false against servers that do not deduplicate
   * (opencmq before this release, or another CMQ server): they ignore the id, and a send this
   * client then retries after an ambiguous failure may be enqueued twice.
   */
  deduplicateSends?: boolean;
  /** Use this agent instead of the client's own keep-alive agent. */
  agent?: http.Agent;
  /**
   * https endpoints: the CA certificate(s) (PEM) to trust instead of the system's, e.g. the CA
   * that issued a server's own certificate. Ignored with `agent`.
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /** https endpoints that require client certificates: this client's certificate and key (PEM). */
  cert?: string | Buffer;
  key?: string | Buffer;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MULTI_ENDPOINT_CONNECT_TIMEOUT_MS = 3_000;
const DEFAULT_RETRY_TIME_MS = 15_000;
/** Extra attempts beyond one per other endpoint, with several endpoints: rides out an election. */
const MULTI_ENDPOINT_EXTRA_RETRIES = 4;
const NOT_APPLIED_CODE = CMQ_CODES.notApplied.code;
/** Socket time allowed beyond a long poll's wait. */
const RECEIVE_SLACK_MS = 5_000;
const RETRY_BACKOFF_MAX_MS = 2_000;
/** Below Node's default server keepAliveTimeout (5 s), so an idle socket is dropped by us first. */
const IDLE_SOCKET_TIMEOUT_MS = 4_000;

const IDEMPOTENT_ACTIONS: ReadonlySet<string> = new Set([
  'ListQueue',
  'GetQueueAttributes',
  'ListDeadLetterSourceQueues',
  'ReceiveMessage',
  'BatchReceiveMessage',
  'ListTopic',
  'GetTopicAttributes',
  'ListSubscriptionByTopic',
  'GetSubscriptionAttributes',
]);

/** Is this action retried after a failure that may have reached the server (see retries)? */
export function isIdempotentAction(action: string): boolean {
  return IDEMPOTENT_ACTIONS.has(action);
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

type Params = Record<string, string>;
type Body = Record<string, unknown>;

/** Where requests go: one member of the set. */
interface Endpoint {
  readonly url: string;
  readonly origin: string;
  /** The Host header and the host signed (spec §1.4). */
  readonly host: string;
  readonly path: string;
}

function parseEndpoint(endpoint: string, path: string | undefined): Endpoint {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new TypeError(`endpoint is not a URL: ${endpoint}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`endpoint must be an http:// or https:// URL: ${endpoint}`);
  }
  // URL.host keeps a non-default port and drops a default one, as node:http's Host header does.
  return { url: endpoint, origin: `${url.protocol}//${url.host}`, host: url.host, path: path ?? (url.pathname === '' ? '/' : url.pathname) };
}

export class CmqClient implements CmqQueueApi, CmqTopicApi {
  private readonly endpoints: readonly Endpoint[];
  /** The endpoint in use: the last that answered; moved on when one certainly did not apply a request. */
  private current = 0;
  private readonly connectTimeoutMs: number;
  private readonly retryTimeMs: number;
  private readonly method: 'POST' | 'GET';
  private readonly agent: http.Agent;
  private readonly ownsAgent: boolean;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryBackoffMs: number;
  private readonly retryWrites: boolean;
  private readonly deduplicateSends: boolean;
  private readonly signatureMethod: SignatureMethod;
  private readonly credentials: { secretId: string; secretKey: string } | undefined;
  private readonly token: string | undefined;

  constructor(opts: CmqClientOptions) {
    const urls = [...(opts.endpoint !== undefined ? [opts.endpoint] : []), ...(opts.endpoints ?? [])].filter((u, i, all) => all.indexOf(u) === i);
    if (urls.length === 0) throw new TypeError('an endpoint (or endpoints) is required');
    this.endpoints = urls.map((u) => parseEndpoint(u, opts.path));
    const protocols = new Set(this.endpoints.map((e) => e.origin.split(':')[0]));
    if (protocols.size > 1) throw new TypeError('endpoints must all be http:// or all https://');
    const several = this.endpoints.length > 1;
    this.method = opts.method ?? 'POST';
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? (several ? Math.min(this.timeoutMs, MULTI_ENDPOINT_CONNECT_TIMEOUT_MS) : this.timeoutMs);
    this.retries = Math.max(0, opts.retries ?? (several ? this.endpoints.length + MULTI_ENDPOINT_EXTRA_RETRIES : 2));
    this.retryTimeMs = opts.retryTimeMs ?? DEFAULT_RETRY_TIME_MS;
    this.retryBackoffMs = opts.retryBackoffMs ?? 100;
    this.retryWrites = opts.retryWrites ?? false;
    this.deduplicateSends = opts.deduplicateSends ?? true;
    this.signatureMethod = opts.signatureMethod ?? 'HmacSHA256';
    if ((opts.secretId === undefined) !== (opts.secretKey === undefined)) {
      throw new TypeError('secretId and secretKey must be given together');
    }
    this.credentials =
      opts.secretId !== undefined && opts.secretKey !== undefined ? { secretId: opts.secretId, secretKey: opts.secretKey } : undefined;
    this.token = opts.token;
    if (opts.agent !== undefined) {
      this.agent = opts.agent;
      this.ownsAgent = false;
    } else {
      const agentOptions = { keepAlive: true, timeout: IDLE_SOCKET_TIMEOUT_MS };
      if ((opts.cert === undefined) !== (opts.key === undefined)) throw new TypeError('cert and key must be given together');
      const tlsOptions: https.AgentOptions = {};
      if (opts.ca !== undefined) tlsOptions.ca = opts.ca;
      if (opts.cert !== undefined) tlsOptions.cert = opts.cert;
      if (opts.key !== undefined) tlsOptions.key = opts.key;
      this.agent = this.endpoints[0]!.origin.startsWith('https:') ? new https.Agent({ ...agentOptions, ...tlsOptions }) : new http.Agent(agentOptions);
      this.ownsAgent = true;
    }
  }

  /** Closes the client's own idle sockets (a no-op for a caller-supplied agent). */
  close(): void {
    if (this.ownsAgent) this.agent.destroy();
  }

  // ---- queue actions (spec §2.3) ----

  async createQueue(queueName: string, attrs: QueueAttributesRequest = {}): Promise<string> {
    const body = await this.call('CreateQueue', { queueName, ...attributeParams(attrs) });
    return str(body.queueId);
  }

  async listQueues(opts: ListOptions = {}): Promise<QueueList> {
    return parseQueueList(await this.call('ListQueue', listParams(opts)));
  }

  async getQueueAttributes(queueName: string): Promise<QueueAttributes> {
    return parseQueueAttributes(await this.call('GetQueueAttributes', { queueName }));
  }

  async setQueueAttributes(queueName: string, attrs: QueueAttributesRequest): Promise<void> {
    await this.call('SetQueueAttributes', { queueName, ...attributeParams(attrs) });
  }

  async deleteQueue(queueName: string): Promise<void> {
    await this.call('DeleteQueue', { queueName });
  }

  async sendMessage(queueName: string, body: string | Buffer, opts: SendOptions = {}): Promise<string> {
    const params: Params = { queueName, msgBody: bodyText(body), ...this.dedupParam(opts) };
    if (opts.delaySeconds !== undefined) params.delaySeconds = String(opts.delaySeconds);
    return str((await this.call('SendMessage', params)).msgId);
  }

  async batchSendMessage(queueName: string, bodies: ReadonlyArray<string | Buffer>, opts: SendOptions = {}): Promise<string[]> {
    if (bodies.length === 0) return [];
    const params: Params = { queueName, ...arrayParams('msgBody', bodies.map(bodyText)), ...this.dedupParam(opts) };
    if (opts.delaySeconds !== undefined) params.delaySeconds = String(opts.delaySeconds);
    const list = (await this.call('BatchSendMessage', params)).msgList;
    return Array.isArray(list) ? list.map((m) => str(asBody(m).msgId)) : [];
  }

  async receiveMessage(queueName: string, opts: ReceiveOptions = {}): Promise<Message | undefined> {
    const params: Params = { queueName };
    if (opts.pollingWaitSeconds !== undefined) params.pollingWaitSeconds = String(opts.pollingWaitSeconds);
    const raw = await this.callRaw('ReceiveMessage', params, this.receiveCallOptions(opts));
    if (raw.code === NO_MESSAGE_CODE) return undefined;
    return parseMessage(throwUnlessOk(raw));
  }

  async batchReceiveMessage(queueName: string, numOfMsg: number, opts: ReceiveOptions = {}): Promise<Message[]> {
    const params: Params = { queueName, numOfMsg: String(numOfMsg) };
    if (opts.pollingWaitSeconds !== undefined) params.pollingWaitSeconds = String(opts.pollingWaitSeconds);
    const raw = await this.callRaw('BatchReceiveMessage', params, this.receiveCallOptions(opts));
    if (raw.code === NO_MESSAGE_CODE) return [];
    const list = throwUnlessOk(raw).msgInfoList;
    return Array.isArray(list) ? list.map((m) => parseMessage(asBody(m))) : [];
  }

  async deleteMessage(queueName: string, receiptHandle: string): Promise<void> {
    await this.call('DeleteMessage', { queueName, receiptHandle });
  }

  async batchDeleteMessage(queueName: string, receiptHandles: readonly string[]): Promise<BatchDeleteResult> {
    if (receiptHandles.length === 0) return { failed: [] };
    const raw = await this.callRaw('BatchDeleteMessage', { queueName, ...arrayParams('receiptHandle', receiptHandles) });
    if (raw.code === 0) return { failed: [] };
    if (raw.code !== DELETE_PARTIAL_CODE && raw.code !== DELETE_ALL_FAILED_CODE) throw toCmqError(raw);
    const list = raw.body.errorList;
    if (Array.isArray(list)) return { failed: list.map((e) => parseDeleteFailure(asBody(e))) };
    // 6020 without a list: every handle failed. 6010 without one cannot be attributed.
    if (raw.code === DELETE_PARTIAL_CODE) throw toCmqError(raw);
    const message = str(raw.body.message);
    return { failed: receiptHandles.map((receiptHandle) => ({ receiptHandle, code: raw.code, message })) };
  }

  async rewindQueue(queueName: string, startConsumeTimeSec: number): Promise<void> {
    await this.call('RewindQueue', { queueName, startConsumeTime: String(Math.floor(startConsumeTimeSec)) });
  }

  async unbindDeadLetterQueue(queueName: string): Promise<void> {
    await this.call('UnbindDeadLetterQueue', { queueName });
  }

  async listDeadLetterSourceQueues(deadLetterQueueName: string, opts: ListOptions = {}): Promise<QueueList> {
    return parseQueueList(await this.call('ListDeadLetterSourceQueues', { deadLetterQueueName, ...listParams(opts) }));
  }

  async redriveDeadLetterQueue(deadLetterQueueName: string, opts: RedriveOptions = {}): Promise<number> {
    const params: Params = { queueName: deadLetterQueueName };
    if (opts.destinationQueue !== undefined) params.destinationQueueName = opts.destinationQueue;
    if (opts.maxMessages !== undefined) params.maxMessages = String(opts.maxMessages);
    return num((await this.call('OpencmqRedriveDeadLetterQueue', params)).moved);
  }

  // ---- topic and subscription actions (spec §3.3) ----

  async createTopic(topicName: string, opts: CreateTopicOptions = {}): Promise<string> {
    const params: Params = { topicName };
    if (opts.maxMsgSize !== undefined) params.maxMsgSize = String(opts.maxMsgSize);
    if (opts.filterType !== undefined) params.filterType = String(opts.filterType);
    return str((await this.call('CreateTopic', params)).topicId);
  }

  async setTopicAttributes(topicName: string, attrs: TopicAttributesInput): Promise<void> {
    const params: Params = { topicName };
    if (attrs.maxMsgSize !== undefined) params.maxMsgSize = String(attrs.maxMsgSize);
    await this.call('SetTopicAttributes', params);
  }

  async listTopics(opts: ListOptions = {}): Promise<TopicList> {
    return parseTopicList(await this.call('ListTopic', listParams(opts)));
  }

  async getTopicAttributes(topicName: string): Promise<TopicAttributes> {
    return parseTopicAttributes(await this.call('GetTopicAttributes', { topicName }));
  }

  async deleteTopic(topicName: string): Promise<void> {
    await this.call('DeleteTopic', { topicName });
  }

  async publishMessage(topicName: string, body: string | Buffer, opts: PublishOptions = {}): Promise<string> {
    const params: Params = { topicName, msgBody: bodyText(body), ...publishParams(opts), ...this.dedupParam(opts) };
    return str((await this.call('PublishMessage', params)).msgId);
  }

  async batchPublishMessage(topicName: string, bodies: ReadonlyArray<string | Buffer>, opts: PublishOptions = {}): Promise<string[]> {
    if (bodies.length === 0) return [];
    const params: Params = { topicName, ...arrayParams('msgBody', bodies.map(bodyText)), ...publishParams(opts), ...this.dedupParam(opts) };
    const list = (await this.call('BatchPublishMessage', params)).msgList;
    return Array.isArray(list) ? list.map((m) => str(asBody(m).msgId)) : [];
  }

  async subscribe(topicName: string, subscriptionName: string, opts: SubscribeOptions): Promise<string> {
    const params: Params = {
      topicName,
      subscriptionName,
      protocol: opts.protocol,
      endpoint: opts.endpoint,
      ...subscriptionParams(opts),
    };
    return str((await this.call('Subscribe', params)).subscriptionId);
  }

  async listSubscriptions(topicName: string, opts: ListOptions = {}): Promise<SubscriptionList> {
    return parseSubscriptionList(await this.call('ListSubscriptionByTopic', { topicName, ...listParams(opts) }));
  }

  async setSubscriptionAttributes(topicName: string, subscriptionName: string, attrs: SubscriptionAttributesInput): Promise<void> {
    await this.call('SetSubscriptionAttributes', { topicName, subscriptionName, ...subscriptionParams(attrs) });
  }

  async getSubscriptionAttributes(topicName: string, subscriptionName: string): Promise<SubscriptionAttributes> {
    return parseSubscriptionAttributes(await this.call('GetSubscriptionAttributes', { topicName, subscriptionName }));
  }

  async unsubscribe(topicName: string, subscriptionName: string): Promise<void> {
    await this.call('Unsubscribe', { topicName, subscriptionName });
  }

  async clearSubscriptionFilterTags(topicName: string, subscriptionName: string): Promise<void> {
    await this.call('ClearSubscriptionFilterTags', { topicName, subscriptionName });
  }

  /** The Raft state of the node this client talks to (opencmq's `OpencmqClusterStatus` action). */
  async clusterStatus(): Promise<ClusterNodeStatus> {
    const b = await this.call('OpencmqClusterStatus', {});
    return {
      nodeId: String(b['nodeId']),
      role: String(b['role']) as ClusterNodeStatus['role'],
      term: Number(b['term']),
      leader: typeof b['leader'] === 'string' ? b['leader'] : '',
      commitIndex: Number(b['commitIndex']),
      appliedIndex: Number(b['appliedIndex']),
      lastIndex: Number(b['lastIndex']),
      voters: Array.isArray(b['voters']) ? b['voters'].map(String) : [],
      peers: Array.isArray(b['peers']) ? (b['peers'] as ClusterNodeStatus['peers']) : [],
      // A node that runs with a cluster controller adds these (protocol/cluster-types.ts).
      ...(isObject(b['set']) ? { set: b['set'] as unknown as NonNullable<ClusterNodeStatus['set']> } : {}),
      ...(isObject(b['controller']) ? { controller: b['controller'] as unknown as NonNullable<ClusterNodeStatus['controller']> } : {}),
      ...(Array.isArray(b['sets']) ? { sets: b['sets'] as NonNullable<ClusterNodeStatus['sets']> } : {}),
      ...(isObject(b['changes']) ? { changes: b['changes'] as unknown as NonNullable<ClusterNodeStatus['changes']> } : {}),
    };
  }

  /** Move the set's leadership to `nodeId` (opencmq's `OpencmqTransferLeader`; any node may be asked). */
  async transferLeader(nodeId: string): Promise<{ from: string; to: string }> {
    const b = await this.call('OpencmqTransferLeader', { nodeId });
    return { from: String(b['from']), to: String(b['to']) };
  }

  /** Add a member (started with --join) reachable by its peers at `address` ("host:port"); opencmq's `OpencmqAddNode`. */
  async addNode(nodeId: string, address: string): Promise<{ voters: string[] }> {
    const b = await this.call('OpencmqAddNode', { nodeId, address });
    return { voters: Array.isArray(b['voters']) ? b['voters'].map(String) : [] };
  }

  /**
   * Move a queue with its messages to set `toSet` of the cluster (opencmq's `OpencmqMoveQueue`);
   * for a queue of several shards, the shard on set `fromSet` (required for one). Answers once the
   * move is under way; asked again, how far it got (`done`: the queue, or that shard, is on `toSet`).
   */
  async moveQueue(queueName: string, toSet: number, fromSet?: number): Promise<{ fromSet: number; toSet: number; phase: 'copying' | 'cutover' | 'done'; sourceMessages: number }> {
    const params: Record<string, string> = { queueName, toSet: String(toSet) };
    if (fromSet !== undefined) params['fromSet'] = String(fromSet);
    const b = await this.call('OpencmqMoveQueue', params);
    const phase = String(b['phase']);
    return { fromSet: Number(b['fromSet']), toSet: Number(b['toSet']), phase: phase === 'cutover' || phase === 'done' ? phase : 'copying', sourceMessages: Number(b['sourceMessages']) };
  }

  /** Remove a member from the set (opencmq's `OpencmqRemoveNode`). */
  async removeNode(nodeId: string): Promise<{ voters: string[] }> {
    const b = await this.call('OpencmqRemoveNode', { nodeId });
    return { voters: Array.isArray(b['voters']) ? b['voters'].map(String) : [] };
  }

  // ---- transport ----

  /** Performs any action and returns the decoded body; throws CmqError when code != 0. */
  async call(action: string, params: Params, opts: CallOptions = {}): Promise<Body> {
    return throwUnlessOk(await this.callRaw(action, params, opts));
  }

  /** The call's own dedupId, else a fresh one (unless deduplicateSends is off): the same on every attempt. */
  private dedupParam(opts: { dedupId?: string }): Params {
    if (opts.dedupId !== undefined) return { dedupId: opts.dedupId };
    return this.deduplicateSends ? { dedupId: randomUUID() } : {};
  }

  /** The endpoint requests go to now (it changes when one fails; see `endpoints`). */
  get endpoint(): string {
    return this.endpoints[this.current]!.url;
  }

  /**
   * Performs any action and returns the decoded envelope whatever its code. Failures that are safe
   * to retry move to the next endpoint (see `retries` and `endpoints`); a 6100 answer that is still
   * 6100 when the attempts run out is returned as it is.
   */
  async callRaw(action: string, params: Params, opts: CallOptions = {}): Promise<{ code: number; body: Body }> {
    // A send or publish with a dedupId is idempotent: the server deduplicates its retries.
    const retryAmbiguous = this.retryWrites || isIdempotentAction(action) || params.dedupId !== undefined;
    const startedMs = Date.now();
    for (let attempt = 0; ; attempt++) {
      const at = this.current;
      let failure: CmqNetworkError | { code: number; body: Body };
      try {
        const raw = await this.exchangeOnce(this.endpoints[at]!, action, params, opts);
        if (!isRetryableAnswer(raw.code, raw.body, retryAmbiguous)) return raw;
        failure = raw;
      } catch (err) {
        if (!(err instanceof CmqNetworkError) || !isRetryable(err, retryAmbiguous)) throw err;
        failure = err;
      }
      const exhausted = attempt >= this.retries || Date.now() - startedMs >= this.retryTimeMs;
      if (exhausted) {
        if (failure instanceof CmqNetworkError) throw failure;
        return failure;
      }
      // Another request may already have moved on from this endpoint.
      if (this.current === at) this.current = (at + 1) % this.endpoints.length;
      // The first move to each other endpoint is immediate; after that, back off.
      const backoffStep = attempt - (this.endpoints.length - 1);
      if (backoffStep >= 0) await sleep(backoffMs(this.retryBackoffMs, backoffStep), opts.signal);
    }
  }

  private receiveCallOptions(opts: ReceiveOptions): CallOptions {
    const waitSeconds = opts.pollingWaitSeconds ?? LIMITS.pollingWaitSecondsMax;
    const call: CallOptions = { timeoutMs: Math.max(this.timeoutMs, waitSeconds * 1000 + RECEIVE_SLACK_MS) };
    if (opts.signal !== undefined) call.signal = opts.signal;
    return call;
  }

  /** The full parameter set of one attempt: fresh Nonce and Timestamp, signed when we have keys. */
  signedParams(action: string, params: Params, endpoint: Endpoint = this.endpoints[this.current]!): Params {
    const all: Params = {
      ...params,
      Action: action,
      Nonce: String(randomInt(1, 2 ** 47)),
      Timestamp: String(Math.floor(Date.now() / 1000)),
      RequestClient: REQUEST_CLIENT,
    };
    if (this.credentials !== undefined) {
      all.SecretId = this.credentials.secretId;
      all.SignatureMethod = this.signatureMethod;
      if (this.token !== undefined) all.Token = this.token;
      all.Signature = signString(stringToSign(this.method, endpoint.host, endpoint.path, all), this.credentials.secretKey, this.signatureMethod);
    }
    return all;
  }

  private async exchangeOnce(endpoint: Endpoint, action: string, params: Params, opts: CallOptions): Promise<{ code: number; body: Body }> {
    const encoded = new URLSearchParams(this.signedParams(action, params, endpoint)).toString();
    const headers: Record<string, string> = { Host: endpoint.host };
    let url: URL;
    let body: string | undefined;
    if (this.method === 'POST') {
      url = new URL(endpoint.origin + endpoint.path);
      body = encoded;
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      headers['Content-Length'] = String(Buffer.byteLength(encoded));
    } else {
      url = new URL(`${endpoint.origin}${endpoint.path}?${encoded}`);
    }
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const request = { url, method: this.method, headers, timeoutMs, connectTimeoutMs: Math.min(timeoutMs, this.connectTimeoutMs), agent: this.agent };
    const res = await httpExchange(opts.signal === undefined ? { ...request, body } : { ...request, body, signal: opts.signal });
    if (res.status !== 200) {
      throw new CmqNetworkError('status', `HTTP ${res.status} from ${action}: ${res.body.slice(0, 200)}`, { status: res.status });
    }
    return decodeEnvelope(action, res.body);
  }
}

// ---- encoding ----

const NO_MESSAGE_CODE = 7000;
const DELETE_PARTIAL_CODE = 6010;
const DELETE_ALL_FAILED_CODE = 6020;

function bodyText(body: string | Buffer): string {
  return typeof body === 'string' ? body : body.toString('utf8');
}

/** `name.1 .. name.n`, the numbering the Python and Java SDKs use. */
function arrayParams(name: string, values: readonly string[]): Params {
  const out: Params = {};
  values.forEach((v, i) => (out[`${name}.${i + 1}`] = v));
  return out;
}

function listParams(opts: ListOptions): Params {
  const out: Params = {};
  if (opts.searchWord !== undefined) out.searchWord = opts.searchWord;
  if (opts.offset !== undefined) out.offset = String(opts.offset);
  if (opts.limit !== undefined) out.limit = String(opts.limit);
  // The docs require limit whenever offset is given.
  if (opts.offset !== undefined && opts.limit === undefined) out.limit = String(LIMITS.listLimitDefault);
  return out;
}

function publishParams(opts: PublishOptions): Params {
  const out: Params = opts.tags !== undefined ? arrayParams('msgTag', opts.tags) : {};
  if (opts.routingKey !== undefined) out.routingKey = opts.routingKey;
  return out;
}

/**
 * The optional subscription settings. A tag or key list replaces the server's whole set; an empty
 * one is sent as a single empty item, which the server reads as "the empty set".
 */
function subscriptionParams(attrs: SubscriptionAttributesInput): Params {
  const out: Params = {};
  if (attrs.notifyStrategy !== undefined) out.notifyStrategy = attrs.notifyStrategy;
  if (attrs.notifyContentFormat !== undefined) out.notifyContentFormat = attrs.notifyContentFormat;
  if (attrs.filterTags !== undefined) Object.assign(out, attrs.filterTags.length === 0 ? { 'filterTag.1': '' } : arrayParams('filterTag', attrs.filterTags));
  if (attrs.bindingKeys !== undefined) Object.assign(out, attrs.bindingKeys.length === 0 ? { 'bindingKey.1': '' } : arrayParams('bindingKey', attrs.bindingKeys));
  return out;
}

const NUMERIC_ATTRS = ['maxMsgHeapNum', 'pollingWaitSeconds', 'visibilityTimeout', 'maxMsgSize', 'msgRetentionSeconds', 'rewindSeconds'] as const;

export function attributeParams(attrs: QueueAttributesRequest): Params {
  const out: Params = {};
  if (attrs.shards !== undefined) out.shards = String(attrs.shards);
  for (const k of NUMERIC_ATTRS) {
    const v = attrs[k];
    if (v !== undefined) out[k] = String(v);
  }
  if (attrs.deadLetterPolicy === null) out.deadLetterPolicy = '';
  else if (attrs.deadLetterPolicy !== undefined) out.deadLetterPolicy = JSON.stringify(attrs.deadLetterPolicy);
  return out;
}

// ---- decoding ----

function decodeEnvelope(action: string, text: string): { code: number; body: Body } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CmqNetworkError('parse', `${action}: response is not JSON: ${text.slice(0, 200)}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CmqNetworkError('parse', `${action}: response is not a JSON object`);
  }
  const body = parsed as Body;
  const code = typeof body.code === 'string' ? Number(body.code) : body.code;
  if (typeof code !== 'number' || !Number.isInteger(code)) {
    throw new CmqNetworkError('parse', `${action}: response has no integer code`);
  }
  return { code, body };
}

function toCmqError(raw: { code: number; body: Body }): CmqError {
  const requestId = raw.body.requestId;
  return new CmqError(raw.code, str(raw.body.message), requestId === undefined ? undefined : str(requestId), raw.body);
}

function throwUnlessOk(raw: { code: number; body: Body }): Body {
  if (raw.code !== 0) throw toCmqError(raw);
  return raw.body;
}

/**
 * An answer worth trying again elsewhere: 6100 (nothing was applied) always; 6000/10810 (outcome
 * unknown) only when a repeat is harmless.
 */
function isRetryableAnswer(code: number, body: Body, retryAmbiguous: boolean): boolean {
  if (code === NOT_APPLIED_CODE) return true;
  if (!retryAmbiguous || code !== CMQ_CODES.outcomeUnknown.code) return false;
  return parseModuleCode(str(body.message)) === CMQ_CODES.outcomeUnknown.module;
}

function isRetryable(err: CmqNetworkError, retryAmbiguous: boolean): boolean {
  switch (err.kind) {
    case 'connect':
      return true;
    case 'timeout':
    case 'reset':
      return retryAmbiguous;
    case 'status':
      return retryAmbiguous && (err.status === 502 || err.status === 503 || err.status === 504);
    case 'parse':
    case 'aborted':
      return false;
  }
}

function backoffMs(baseMs: number, attempt: number): number {
  const ceiling = Math.min(RETRY_BACKOFF_MAX_MS, baseMs * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new CmqNetworkError('aborted', 'request aborted', { mayHaveBeenApplied: false }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new CmqNetworkError('aborted', 'request aborted', { mayHaveBeenApplied: false }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function asBody(v: unknown): Body {
  return typeof v === 'object' && v !== null ? (v as Body) : {};
}

function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return '';
}

function num(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : 0;
}

function parseMessage(b: Body): Message {
  return {
    msgId: str(b.msgId),
    body: str(b.msgBody),
    receiptHandle: str(b.receiptHandle),
    enqueueTime: num(b.enqueueTime),
    firstDequeueTime: num(b.firstDequeueTime),
    nextVisibleTime: num(b.nextVisibleTime),
    dequeueCount: num(b.dequeueCount),
  };
}

function parseQueueList(b: Body): QueueList {
  const list = Array.isArray(b.queueList) ? b.queueList : [];
  return {
    totalCount: num(b.totalCount),
    queues: list.map((q) => {
      const e = asBody(q);
      return { queueId: str(e.queueId), queueName: str(e.queueName) };
    }),
  };
}

function parseDeleteFailure(b: Body): BatchDeleteFailure {
  return { receiptHandle: str(b.receiptHandle), code: num(b.code), message: str(b.message ?? b.Message) };
}

/** The server may return deadLetterPolicy as an object or as the JSON string it was given. */
function parseDeadLetterPolicy(v: unknown): DeadLetterPolicy | undefined {
  let obj: unknown = v;
  if (typeof v === 'string') {
    if (v === '') return undefined;
    try {
      obj = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  if (typeof obj !== 'object' || obj === null) return undefined;
  const p = obj as Body;
  const policy: DeadLetterPolicy = { deadLetterQueue: str(p.deadLetterQueue), policy: num(p.policy) === 1 ? 1 : 0 };
  if (p.maxReceiveCount !== undefined) policy.maxReceiveCount = num(p.maxReceiveCount);
  if (p.maxTimeToLive !== undefined) policy.maxTimeToLive = num(p.maxTimeToLive);
  return policy;
}

function parseQueueAttributes(b: Body): QueueAttributes {
  const attrs: QueueAttributes = {
    ...(typeof b.queueId === 'string' ? { queueId: b.queueId } : {}),
    ...(typeof b.queueName === 'string' ? { queueName: b.queueName } : {}),
    maxMsgHeapNum: num(b.maxMsgHeapNum),
    pollingWaitSeconds: num(b.pollingWaitSeconds),
    visibilityTimeout: num(b.visibilityTimeout),
    maxMsgSize: num(b.maxMsgSize),
    msgRetentionSeconds: num(b.msgRetentionSeconds),
    rewindSeconds: num(b.rewindSeconds),
    createTime: num(b.createTime),
    lastModifyTime: num(b.lastModifyTime),
    activeMsgNum: num(b.activeMsgNum),
    inactiveMsgNum: num(b.inactiveMsgNum),
    delayMsgNum: num(b.delayMsgNum),
    rewindMsgNum: num(b.rewindMsgNum ?? b.rewindmsgNum),
    minMsgTime: num(b.minMsgTime),
  };
  const dlq = parseDeadLetterPolicy(b.deadLetterPolicy);
  if (dlq !== undefined) attrs.deadLetterPolicy = dlq;
  if (typeof b.shards === 'number') attrs.shards = b.shards;
  return attrs;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map(str) : [];
}

function parseTopicList(b: Body): TopicList {
  const list = Array.isArray(b.topicList) ? b.topicList : [];
  return {
    totalCount: num(b.totalCount),
    topics: list.map((t) => {
      const e = asBody(t);
      return { topicId: str(e.topicId), topicName: str(e.topicName) };
    }),
  };
}

function parseTopicAttributes(b: Body): TopicAttributes {
  return {
    ...(typeof b.topicId === 'string' ? { topicId: b.topicId } : {}),
    ...(typeof b.topicName === 'string' ? { topicName: b.topicName } : {}),
    msgCount: num(b.msgCount),
    maxMsgSize: num(b.maxMsgSize),
    msgRetentionSeconds: num(b.msgRetentionSeconds),
    filterType: num(b.filterType) === FILTER_TYPE.routingKey ? FILTER_TYPE.routingKey : FILTER_TYPE.tag,
    createTime: num(b.createTime),
    lastModifyTime: num(b.lastModifyTime),
  };
}

function parseProtocol(v: unknown): SubscriptionProtocol {
  return str(v).toLowerCase() === 'http' ? 'http' : 'queue';
}

function parseSubscriptionList(b: Body): SubscriptionList {
  const list = Array.isArray(b.subscriptionList) ? b.subscriptionList : [];
  return {
    totalCount: num(b.totalCount),
    subscriptions: list.map((x) => {
      const e = asBody(x);
      return {
        subscriptionId: str(e.subscriptionId),
        subscriptionName: str(e.subscriptionName),
        protocol: parseProtocol(e.protocol),
        endpoint: str(e.endpoint),
      };
    }),
  };
}

function parseSubscriptionAttributes(b: Body): SubscriptionAttributes {
  return {
    topicOwner: str(b.topicOwner),
    msgCount: num(b.msgCount),
    protocol: parseProtocol(b.protocol ?? b.protocal),
    endpoint: str(b.endpoint),
    notifyStrategy: str(b.notifyStrategy) === 'BACKOFF_RETRY' ? 'BACKOFF_RETRY' : ('EXPONENTIAL_DECAY_RETRY' satisfies NotifyStrategy),
    notifyContentFormat: str(b.notifyContentFormat) === 'SIMPLIFIED' ? 'SIMPLIFIED' : ('JSON' satisfies NotifyContentFormat),
    filterTags: strings(b.filterTag ?? b.filterTags),
    bindingKeys: strings(b.bindingKey),
    createTime: num(b.createTime),
    lastModifyTime: num(b.lastModifyTime),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
