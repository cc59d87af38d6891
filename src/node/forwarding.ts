// Any node accepts any client request: a follower sends it, as received, to the leader over the
// peer connection and relays the leader's answer (CMQ SDKs do not follow redirects). A forwarded
// request is always handled where it arrives, so a request can never bounce between nodes. The
// follower's request context travels with it, so the leader answers and logs under the
// follower's requestId.

import { handleCmqRequest, type ApiContext, type CmqRequestInput } from '../api/http-server';
import { LOCAL_ACTION_NAMES } from '../api/admin-actions';
import { renderOutcome, responseJson } from '../api/response';
import { fail } from '../protocol/errors';
import { parseRequestContext, type RequestContext } from '../service/request-context';
import { requestNotExecuted, type PeerNetwork } from '../transport';
import { RPC_SERVICE, type RpcRouter } from './rpc';

/** Longer than the longest long poll (30 s), so a forwarded receive is not cut short. */
const FORWARD_TIMEOUT_MS = 40_000;

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
    return Buffer.from(responseJson(body));
  });
}

/** How often forwards in flight check whether the leader they went to is still the leader. */
const LEADER_CHECK_MS = 50;
/**
 * After another leader is known, the old one still gets this long to answer (a deposed but
 * healthy leader answers at once, often with the committed result); past it, it is presumed
 * frozen or cut off.
 */
const OLD_LEADER_GRACE_MS = 1000;

/**
 * The API server's `forward` hook: undefined (answer here) when this node leads or no leader is
 * known (the local answer then says so); otherwise the leader's answer as it sent it (bytes), or, when the leader cannot
 * be reached, notApplied (6100) if the request never left this node and outcomeUnknown
 * (6000/10810) if it was written and then the connection broke or no answer came. A forward still
 * waiting OLD_LEADER_GRACE_MS after this node sees another leader is answered outcomeUnknown: the
 * old leader is presumably frozen or cut off (else the transport's idle timeout, ~5 s, would be
 * the wait).
 */
export function forwarder(
  network: PeerNetwork,
  selfId: string,
  leaderId: () => string | undefined,
): (input: CmqRequestInput, context: RequestContext) => Promise<Record<string, unknown> | Buffer> | undefined {
  const waiting = new Set<{ leader: string; otherSince: number | undefined; abandon: () => void }>();
  let checker: NodeJS.Timeout | undefined;
  const check = (): void => {
    const current = leaderId();
    const now = Date.now();
    for (const w of waiting) {
      if (current === undefined || current === w.leader) w.otherSince = undefined;
      else if (w.otherSince === undefined) w.otherSince = now;
      else if (now - w.otherSince >= OLD_LEADER_GRACE_MS) w.abandon();
    }
    if (waiting.size === 0 && checker) {
      clearInterval(checker);
      checker = undefined;
    }
  };
  // Whether the leader can have executed the request decides the code: 6100 (retry is safe)
  // only when the request provably never reached it, else 6000/10810 (outcome unknown).
  const failed = (error: 'notApplied' | 'outcomeUnknown', leader: string, why: string, context: RequestContext): Record<string, unknown> =>
    renderOutcome(fail(error, undefined, `forwarding to leader ${leader} failed: ${why}`), context.requestId);
  return (input, context) => {
    const leader = leaderId();
    if (leader === undefined || leader === selfId || isLocalAction(input)) return undefined;
    return new Promise<Record<string, unknown> | Buffer>((resolve) => {
      const w = {
        leader,
        otherSince: undefined as number | undefined,
        abandon: () => {
          waiting.delete(w);
          resolve(failed('outcomeUnknown', leader, `leadership moved to ${leaderId() ?? '(unknown)'} while the request was in flight`, context));
        },
      };
      waiting.add(w);
      checker ??= setInterval(check, LEADER_CHECK_MS);
      network.request(leader, encodeForwarded(input, context), { timeoutMs: FORWARD_TIMEOUT_MS }).then(
        (answer) => {
          if (!waiting.delete(w)) return;
          // The leader's bytes go to the client untouched: parsing and re-serialising them here
          // would round a clientRequestId above 2^53, which the Go SDK then cannot decode.
          resolve(answer);
        },
        (err: unknown) => {
          if (!waiting.delete(w)) return;
          const why = err instanceof Error ? err.message : String(err);
          resolve(failed(requestNotExecuted(err) ? 'notApplied' : 'outcomeUnknown', leader, why, context));
        },
      );
    });
  };
}
