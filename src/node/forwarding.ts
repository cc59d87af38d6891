// Any node accepts any client request (CMQ SDKs do not follow redirects). A follower runs it
// itself and sends the leader its service calls (service-calls.ts); to a leader of an older
// version, which serves no service calls, it sends the request as received and relays the
// leader's answer. This file is that older way: both sides of it, since a leader of this version
// still serves followers of the older one during a rolling upgrade. A forwarded request is always
// handled where it arrives, so a request can never bounce between nodes. The follower's request
// context travels with it, so the leader answers and logs under the follower's requestId.

import { handleCmqRequest, type ApiContext, type CmqRequestInput } from '../api/http-server';
import { LOCAL_ACTION_NAMES } from '../api/admin-actions';
import { renderOutcome, responseBytes } from '../api/response';
import { fail } from '../protocol/errors';
import { parseRequestContext, type RequestContext } from '../service/request-context';
import type { PeerNetwork } from '../transport';
import type { PeerRequests } from './peer-requests';
import { RPC_SERVICE, type RpcRouter } from './rpc';
import { servesServiceCalls } from './service-calls';

/**
 * The JSON header before the raw request bytes. `context` was added after the first release: a
 * leader of that release reads the four request fields and ignores any other key, and a leader
 * of this one makes its own context when a follower of that release sends none. So either side
 * may be upgraded first.
 */
interface ForwardHeader {
  method: string;
  host: string;
  path: string;
  query: string;
  context?: RequestContext;
}

/** The request as sent to the leader, starting with its rpc service byte. */
export function encodeForwarded(input: CmqRequestInput, context?: RequestContext): Buffer {
  const header: ForwardHeader = { method: input.method, host: input.host, path: input.path, query: input.query };
  if (context !== undefined) header.context = context;
  const h = Buffer.from(JSON.stringify(header));
  const out = Buffer.allocUnsafe(5 + h.length + input.body.length);
  out[0] = RPC_SERVICE.forward;
  out.writeUInt32LE(h.length, 1);
  h.copy(out, 5);
  input.body.copy(out, 5 + h.length);
  return out;
}

/**
 * Decodes a request as the router hands it over (without the service byte), with the follower's
 * context when it sent a valid one.
 */
export function decodeForwarded(buf: Buffer): { input: CmqRequestInput; context: RequestContext | undefined } {
  const len = buf.readUInt32LE(0);
  const h = JSON.parse(buf.toString('utf8', 4, 4 + len)) as Partial<Record<keyof ForwardHeader, unknown>>;
  const { method, host, path, query } = h;
  if (typeof method !== 'string' || typeof host !== 'string' || typeof path !== 'string' || typeof query !== 'string') {
    throw new Error('forwarded request: bad header');
  }
  const context = parseRequestContext(h.context);
  const input: CmqRequestInput = { method, host, path, query, body: buf.subarray(4 + len) };
  if (context !== undefined && context.clientAddress !== '') input.remote = context.clientAddress;
  return { input, context };
}

const ACTION_KEY = Buffer.from('Action=');
const LOCAL_ACTIONS = new Set<string>(LOCAL_ACTION_NAMES.map((n) => n.toLowerCase()));

/**
 * Whether the request's Action is one the receiving node answers itself. A byte scan, not a
 * parse (it runs on every request a follower receives): an `Action=` that starts a parameter
 * (at the start or right after '&', which cannot occur unescaped inside a value) is the key.
 */
export function isLocalAction(input: CmqRequestInput): boolean {
  const method = input.method.toUpperCase();
  const src = method === 'POST' && input.body.length > 0 ? input.body : Buffer.from(input.query);
  for (let at = src.indexOf(ACTION_KEY); at >= 0; at = src.indexOf(ACTION_KEY, at + 1)) {
    if (at > 0 && src[at - 1] !== 0x26) continue;
    const start = at + ACTION_KEY.length;
    let end = src.indexOf(0x26, start);
    if (end < 0) end = src.length;
    if (end - start > 64) continue;
    if (LOCAL_ACTIONS.has(src.toString('latin1', start, end).toLowerCase())) return true;
  }
  return false;
}

/** Serve requests that followers forward to this node. */
export function serveForwarded(rpc: RpcRouter, ctx: ApiContext): void {
  rpc.serve(RPC_SERVICE.forward, async (_from, payload) => {
    const { input, context } = decodeForwarded(payload);
    const body = await handleCmqRequest(ctx, input, context);
    return responseBytes(body);
  });
}

/**
 * The API server's `forward` hook: undefined (run the request here) when this node leads, no
 * leader is known (the local answer then says so), the action is this node's own, or the leader
 * serves service calls (the request then runs here and only its service calls go to the leader,
 * service-calls.ts). Otherwise the leader runs an older version: the request goes to it whole,
 * and the answer is the leader's bytes, or, when the leader cannot be reached, notApplied (6100)
 * if it provably did not run the request and outcomeUnknown (6000/10810) if it may have.
 * `onForwarded` is told of every request whose work the leader does, by either way.
 */
export function forwarder(
  network: PeerNetwork,
  selfId: string,
  leaderId: () => string | undefined,
  requests: PeerRequests,
  onForwarded: () => void = () => {},
): (input: CmqRequestInput, context: RequestContext) => Promise<Record<string, unknown> | Buffer> | undefined {
  return (input, context) => {
    const leader = leaderId();
    if (leader === undefined || leader === selfId || isLocalAction(input)) return undefined;
    onForwarded();
    if (servesServiceCalls(network.peerWireVersion(leader))) return undefined;
    const failed = (outcome: 'notApplied' | 'outcomeUnknown', why: string): Record<string, unknown> =>
      renderOutcome(fail(outcome, undefined, `forwarding to leader ${leader} failed: ${why}`), context.requestId);
    return requests.recheck(leader, true).then((gone) => {
      if (gone !== undefined) return failed('notApplied', `${gone}; the request was not sent`);
      return requests.send(leader, encodeForwarded(input, context), true).then((a) =>
        // The leader's bytes go to the client untouched: parsing and re-serialising them here would
        // round a clientRequestId above 2^53, which the Go SDK then cannot decode.
        a.ok ? a.answer : failed(a.outcome, a.why),
      );
    });
  };
}
