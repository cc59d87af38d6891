// Invariant checks that stay on in production. A broken invariant means this node's broker state
// can no longer be trusted: the check throws, the process crashes, and the node rebuilds its state
// from the snapshot and log on disk rather than answer from a corrupt one.

export class BrokerInvariantError extends Error {
  constructor(what: string) {
    super(`broker invariant violated: ${what}`);
    this.name = 'BrokerInvariantError';
  }
}

export function invariant(cond: boolean, what: string | (() => string)): asserts cond {
  if (!cond) throw new BrokerInvariantError(typeof what === 'string' ? what : what());
}
