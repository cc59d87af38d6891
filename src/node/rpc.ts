// Several node services share one group's request/response channel: the first byte
// of every request names the service (forwarded client requests, snapshot transfer). Encoders
// write that byte themselves, so a request is never copied just to be tagged.

import type { PeerNetwork } from '../transport';

export const RPC_SERVICE = {
  /** A client request a follower relays to the leader (forwarding.ts). */
  forward: 1,
  /** The leader shipping a snapshot and the entries it needs to a follower (snapshot-transfer.ts). */
  snapshot: 2,
  /** A message body read from a replica's log, when the local copy fails its checksum (body-reader.ts). */
  body: 3,
  /** A call of the queue service a follower makes on the leader's (service-calls.ts; wire version 3 on). */
  call: 4,
  /** An empty request answered at once: proof that the path to a peer works both ways (peer-requests.ts). */
  echo: 5,
  /** A controller command or read a member of the controller group sends its leader (controller-calls.ts). */
  controller: 6,
  /** A set's leader asking a member for its addresses, to register the set with the controller (set-reporter.ts). */
  memberInfo: 7,
} as const;

/**
 * How a node answers a request for a service it does not serve. Every release since the router
 * existed says this, so a caller can tell that an older node refused a request before running it.
 */
export const UNKNOWN_RPC_SERVICE = 'no handler for rpc service';

export type RpcService = (typeof RPC_SERVICE)[keyof typeof RPC_SERVICE];

/**
 * The services a node that is not one of a group's peers may use on it (the group is open: the
 * controller's, a set's): its calls, and the echo that tells whether the path works. Everything
 * else (forwarding, snapshot transfer, body repair, member info) is for members only.
 */
export const NON_MEMBER_RPC_SERVICES: ReadonlySet<number> = new Set<RpcService>([RPC_SERVICE.call, RPC_SERVICE.echo, RPC_SERVICE.controller]);

/** How a node refuses a members-only service to a non-member, before running anything. */
export const MEMBERS_ONLY_RPC_SERVICE = 'rpc service for members only';

/** Gets the request without its service byte; `member`: `from` is one of the group's peers. */
export type ServiceHandler = (from: string, payload: Buffer, member: boolean) => Promise<Uint8Array>;

const EMPTY = new Uint8Array(0);

export class RpcRouter {
  private readonly handlers = new Map<number, ServiceHandler>();

  constructor(readonly network: PeerNetwork) {
    this.handlers.set(RPC_SERVICE.echo, () => Promise.resolve(EMPTY));
    network.onRequest((from, payload, fromPeer) => {
      const service = payload[0];
      const handler = service === undefined ? undefined : this.handlers.get(service);
      if (!handler) return Promise.reject(new Error(`${UNKNOWN_RPC_SERVICE} ${String(service)}`));
      // Only the transport of an open group says false; a network that admits only peers may say nothing.
      const member = fromPeer !== false;
      if (!member && !NON_MEMBER_RPC_SERVICES.has(service!)) return Promise.reject(new Error(`${MEMBERS_ONLY_RPC_SERVICE} ${String(service)}: '${from}' is not a member of this group`));
      return handler(from, payload.subarray(1), member);
    });
  }

  serve(service: RpcService, handler: ServiceHandler): void {
    this.handlers.set(service, handler);
  }
}
