// opencmq's own actions beside the CMQ ones, reached the same way (any path, signed like any
// action). `OpencmqClusterStatus` reports the Raft state of the node that receives it;
// `OpencmqTransferLeader` moves leadership to another voter; `OpencmqAddNode` and
// `OpencmqRemoveNode` change the set's membership one server at a time.

import type { ActionHandler } from './actions';
import { isError, requiredString } from './params';
import { success } from './response';
import { fail, type ErrorResult } from '../protocol/errors';

/** Actions answered by the node that receives them, never forwarded to the leader. */
export const LOCAL_ACTION_NAMES = ['OpencmqClusterStatus'] as const;

export const ADMIN_ACTIONS: Readonly<Record<string, ActionHandler>> = {
  OpencmqClusterStatus: async (env) => {
    const s = await env.service.clusterStatus(env.ctx);
    return s.ok ? success({ ...s.status }) : s;
  },
  /** Forwarded to the leader like any write; answers once leadership has moved (or failed to). */
  OpencmqTransferLeader: async (env, params) => {
    const nodeId = requiredString(params, 'nodeId');
    if (isError(nodeId)) return nodeId;
    const r = await env.service.transferLeader(env.ctx, nodeId);
    return r.ok ? success({ from: r.from, to: r.to }) : r;
  },
  /** Forwarded to the leader; answers once the new configuration is committed. */
  OpencmqAddNode: async (env, params) => {
    const nodeId = requiredString(params, 'nodeId');
    if (isError(nodeId)) return nodeId;
    const address = requiredString(params, 'address');
    if (isError(address)) return address;
    const bad = checkNodeId(nodeId) ?? checkAddress(address);
    if (bad) return bad;
    const r = await env.service.changeMembership(env.ctx, { type: 'add', nodeId, address });
    return r.ok ? success({ voters: r.voters }) : r;
  },
  OpencmqRemoveNode: async (env, params) => {
    const nodeId = requiredString(params, 'nodeId');
    if (isError(nodeId)) return nodeId;
    const r = await env.service.changeMembership(env.ctx, { type: 'remove', nodeId });
    return r.ok ? success({ voters: r.voters }) : r;
  },
};

/** 1-64 ASCII characters: the peer transport's nodeIdBytesMax (test/unit/limits-agree.test.ts checks). */
export const NODE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function checkNodeId(nodeId: string): ErrorResult | undefined {
  return NODE_ID_RE.test(nodeId) ? undefined : fail('invalidParams', undefined, 'nodeId must be 1-64 letters, digits, ".", "_" or "-"');
}

function checkAddress(address: string): ErrorResult | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : 0;
  return port >= 1 && port <= 65535 ? undefined : fail('invalidParams', undefined, 'address must be HOST:PORT, the new node\'s peer (raft) address');
}
