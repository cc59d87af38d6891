// What `OpencmqClusterStatus` adds on a node that runs with a controller: its set, the controller
// as this node sees it, and every set the controller knows (read from its leader, bounded in
// time so a status answer never waits for a controller election).

import type { ControllerQuery, ControllerResult } from '../controller/commands';
import type { ClusterNodeStatus, ControllerStatus, SetStatus } from '../protocol/cluster-types';
import type { QueueService } from '../service/queue-service';

export interface ControllerStatusSource {
  setId: number;
  group: number;
  voters: Readonly<Record<string, { host: string; port: number }>>;
  /** This node's controller replica's view, when it is a voter. */
  member?: () => ClusterNodeStatus;
  /** The leader this node last reached (through its controller client). */
  lastLeader: () => string | undefined;
  read(query: ControllerQuery): Promise<ControllerResult>;
}

/** The status fields of a node with a controller. */
export async function controllerStatus(src: ControllerStatusSource): Promise<Pick<ClusterNodeStatus, 'set' | 'controller' | 'sets'>> {
  const r = await src.read({ kind: 'listSets' });
  const member = src.member?.();
  const controller: ControllerStatus = {
    voters: Object.entries(src.voters)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([nodeId, a]) => ({ nodeId, peerAddress: `${a.host}:${a.port}` })),
    leader: member?.leader || src.lastLeader() || '',
  };
  if (member) {
    const { role, term, leader, commitIndex, appliedIndex, lastIndex } = member;
    controller.member = { role, term, leader, commitIndex, appliedIndex, lastIndex };
  }
  const out: Pick<ClusterNodeStatus, 'set' | 'controller' | 'sets'> = { set: { id: src.setId, group: src.group }, controller };
  if (!r.ok) controller.problem = `${r.error}${r.detail !== undefined ? `: ${r.detail}` : ''}`;
  else if (r.kind !== 'sets') controller.problem = `listSets answered ${r.kind}`;
  else {
    out.sets = r.sets.map(
      (s): SetStatus => ({
        id: s.id,
        group: s.group,
        state: s.state,
        members: s.members.map((m) => ({ ...m })),
        entities: s.entities,
        load: s.load ? { ...s.load } : null,
      }),
    );
  }
  return out;
}

/**
 * `service` with its clusterStatus answer extended by `extra`. Every other call runs on `service`
 * itself (bound to it), so what the node serves is unchanged.
 */
export function withControllerStatus<S extends QueueService>(service: S, extra: () => Promise<Pick<ClusterNodeStatus, 'set' | 'controller' | 'sets'>>): S {
  const clusterStatus: QueueService['clusterStatus'] = async (ctx) => {
    const base = await service.clusterStatus(ctx);
    if (!base.ok) return base;
    return { ok: true, status: { ...base.status, ...(await extra()) } };
  };
  return new Proxy(service, {
    get(target, prop) {
      if (prop === 'clusterStatus') return clusterStatus;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
