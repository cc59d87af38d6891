// `opencmq server`'s cluster-of-sets flags: which set this node belongs to (--set), where the
// cluster controller's voters are (--controller-peer) and (deprecated, no longer needed) on a voter
// which other nodes call it (--controller-caller). Without --controller-peer a node runs its set
// alone, exactly as before.

import { CONTROLLER_GROUP } from '../protocol/groups';
import { CONTROLLER_VOTERS_MAX, type ClusterOptions, type ControllerPeers, type ServerOptions } from '../node/server-options';
import { UsageError } from './cli-io';
import { intOpt, type OptionSpecs, type OptionValues } from './options';

export const SET_FLAG_OPTIONS: OptionSpecs = {
  set: { type: 'string' },
  'controller-peer': { type: 'string', multiple: true },
  'controller-caller': { type: 'string', multiple: true },
};

export const SET_FLAG_HELP = [
  'Cluster of sets (a controller keeps the sets; without --controller-peer the node runs its set alone):',
  '  --set N                 the set this node is a member of (default 1; its Raft group is N-1)',
  '  --controller-peer ID=HOST:PORT',
  '                          a voter of the cluster controller and its peer address (repeat for each,',
  '                          an odd number); a node whose --node-id is among them runs a controller replica',
  '  --controller-caller ID=HOST:PORT',
  '                          deprecated, optional: a voter now serves controller requests from any node that',
  '                          passes the peer handshake; still accepted (the voter also dials the node)',
];

/** The highest set id: its group (N-1) must stay below the controller's. */
export const SET_ID_MAX = CONTROLLER_GROUP;

function list(values: OptionValues, name: string): string[] {
  const raw = values[name];
  return Array.isArray(raw) ? raw.filter((p): p is string => typeof p === 'string') : typeof raw === 'string' ? [raw] : [];
}

function addresses(flag: string, entries: readonly string[]): Record<string, { host: string; port: number }> {
  const out: Record<string, { host: string; port: number }> = {};
  for (const e of entries) {
    const m = /^([^=]+)=(.+):(\d+)$/.exec(e);
    const port = m ? Number(m[3]) : 0;
    if (!m || port < 1 || port > 65535) throw new UsageError(`--${flag} ${e}: expected ID=HOST:PORT`);
    if (out[m[1]!] !== undefined) throw new UsageError(`--${flag} ${m[1]!} is given twice`);
    out[m[1]!] = { host: m[2]!, port };
  }
  return out;
}

const same = (a: { host: string; port: number }, b: { host: string; port: number }): boolean => a.host === b.host && a.port === b.port;

/**
 * The set and controller options from the flags, checked against the replicated-set options
 * (`cluster`, undefined for a one-node server). Every inconsistency is a UsageError naming the flag.
 */
export function setOptionsFrom(values: OptionValues, cluster: ClusterOptions | undefined): Pick<ServerOptions, 'setId' | 'controller'> {
  const setId = intOpt(values, 'set', 1, SET_ID_MAX);
  const voterList = list(values, 'controller-peer');
  const callerList = list(values, 'controller-caller');
  if (voterList.length === 0) {
    if (callerList.length > 0) throw new UsageError('--controller-caller needs --controller-peer');
    // Set 1 alone is today's node; any other set only exists in a cluster with a controller.
    if (setId !== undefined && setId !== 1) throw new UsageError(`--set ${setId} needs --controller-peer: a set other than the first belongs to a cluster with a controller`);
    return {};
  }
  if (!cluster) throw new UsageError('--controller-peer needs a member of a replicated set (--node-id, --raft-port, --peer)');
  const voters = addresses('controller-peer', voterList);
  const ids = Object.keys(voters);
  if (ids.length % 2 === 0) throw new UsageError(`--controller-peer: the controller needs an odd number of voters (a majority must survive a failure), got ${ids.length}`);
  if (ids.length > CONTROLLER_VOTERS_MAX) throw new UsageError(`--controller-peer: at most ${CONTROLLER_VOTERS_MAX} voters, got ${ids.length}`);
  const self = voters[cluster.nodeId];
  if (self !== undefined && cluster.raftPort !== 0 && !same(self, { host: cluster.raftHost, port: cluster.raftPort })) {
    throw new UsageError(
      `--controller-peer ${cluster.nodeId}=${self.host}:${self.port} is this node, which listens for peers on ${cluster.raftHost}:${cluster.raftPort}: give its own peer address`,
    );
  }
  // One peer transport links every group's peers: a node must have one address in all of them.
  for (const [id, a] of Object.entries(voters)) {
    const p = cluster.peers[id];
    if (p !== undefined && !same(p, a)) throw new UsageError(`--controller-peer ${id}=${a.host}:${a.port} disagrees with --peer ${id}=${p.host}:${p.port}`);
  }
  const callers = addresses('controller-caller', callerList);
  if (callerList.length > 0 && self === undefined) throw new UsageError(`--controller-caller applies to a controller voter; ${cluster.nodeId} is not among the --controller-peer ids`);
  for (const [id, a] of Object.entries(callers)) {
    if (voters[id] !== undefined) throw new UsageError(`--controller-caller ${id} is a controller voter (--controller-peer) already`);
    if (id === cluster.nodeId) throw new UsageError(`--controller-caller ${id} is this node's own id`);
    const p = cluster.peers[id];
    if (p !== undefined && !same(p, a)) throw new UsageError(`--controller-caller ${id}=${a.host}:${a.port} disagrees with --peer ${id}=${p.host}:${p.port}`);
  }
  const controller: ControllerPeers = { voters, callers };
  return { setId: setId ?? 1, controller };
}
