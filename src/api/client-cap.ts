// Per-client-address connection cap: one address (one misbehaving client, or one attacker) may
// hold at most `max` of the node's connections, so it cannot fill the global cap
// (LIMITS.httpConnectionsMax) and lock every other client out. A connection over the cap is
// destroyed as soon as it is accepted, before a byte is read: no request, no answer.

import type * as net from 'node:net';

/**
 * The address connections are counted by. An IPv4 client reaching a dual-stack ('::') listener
 * shows up as '::ffff:a.b.c.d'; it is the same client as 'a.b.c.d' on an IPv4 listener, so both
 * count as 'a.b.c.d'. Other IPv6 addresses count one by one (lower-cased).
 */
export function clientAddressKey(address: string | undefined): string {
  if (address === undefined) return '';
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  return mapped ? (mapped[1] as string) : lower;
}

/** Count open connections per client address on `server` and destroy those over `max`. */
export function capConnectionsPerClient(server: net.Server, max: number): void {
  const open = new Map<string, number>();
  // Prepended: the refusal runs before node:http's own handler, which finds a destroyed socket.
  server.prependListener('connection', (socket: net.Socket) => {
    const key = clientAddressKey(socket.remoteAddress);
    const count = open.get(key) ?? 0;
    if (count >= max) {
      socket.destroy();
      return;
    }
    open.set(key, count + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left <= 0) open.delete(key);
      else open.set(key, left);
    });
  });
}
