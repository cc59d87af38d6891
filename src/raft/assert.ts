// Invariant checks that stay on in production. A broken invariant means this node's state can no
// longer be trusted: it throws, the process crashes, and the node recovers from what is on disk.

export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(`raft invariant violated: ${message}`);
    this.name = 'RaftInvariantError';
  }
}

export function raftAssert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new RaftInvariantError(typeof message === 'string' ? message : message());
}
