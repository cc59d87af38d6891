// The public surface of the Raft core: the node, its types, the wire codec and the limits.

export { RaftInvariantError, raftAssert } from './assert';
export { RaftCodecError, RAFT_CODEC_VERSION, decodeConfigChange, decodeMessage, encodeConfigChange, encodeMessage } from './codec';
export { RAFT_LIMITS } from './limits';
export { RaftNode } from './raft-node';
export type * from './types';
