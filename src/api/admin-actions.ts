// opencmq's own actions beside the CMQ ones, reached the same way (any path, signed like any
// action). `OpencmqClusterStatus` reports the Raft state of the node that receives it;
// `OpencmqTransferLeader` moves leadership to another voter.

import type { ActionHandler } from './actions';
import { isError, requiredString } from './params';
import { success } from './response';

/** Actions answered by the node that receives them, never forwarded to the leader. */
export const LOCAL_ACTION_NAMES = ['OpencmqClusterStatus'] as const;

export const ADMIN_ACTIONS: Readonly<Record<string, ActionHandler>> = {
  OpencmqClusterStatus: async (env) => {
    const s = await env.service.clusterStatus();
    return success({ ...s });
  },
  /** Forwarded to the leader like any write; answers once leadership has moved (or failed to). */
  OpencmqTransferLeader: async (env, params) => {
    const nodeId = requiredString(params, 'nodeId');
    if (isError(nodeId)) return nodeId;
    const r = await env.service.transferLeader(nodeId);
    return r.ok ? success({ from: r.from, to: r.to }) : r;
  },
};
