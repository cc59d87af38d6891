// opencmq's own actions beside the CMQ ones, reached the same way (any path, signed like any
// action). `OpencmqClusterStatus` reports the Raft state of the node that receives it.

import type { ActionHandler } from './actions';
import { success } from './response';

/** Actions answered by the node that receives them, never forwarded to the leader. */
export const LOCAL_ACTION_NAMES = ['OpencmqClusterStatus'] as const;

export const ADMIN_ACTIONS: Readonly<Record<string, ActionHandler>> = {
  OpencmqClusterStatus: async (env) => {
    const s = await env.service.clusterStatus();
    return success({ ...s });
  },
};
