// What `OpencmqClusterStatus` adds on a node that runs with a controller: its set, the controller
// as this node sees it, every set the controller knows and the route changes under way (read from
// its leader, bounded in time so a status answer never waits for a controller election).

import type { ControllerQuery, ControllerResult } from '../controller/commands';
import type { EntityRecord } from '../controller/model';
import type { ClusterNodeStatus, ControllerStatus, RouteChangeStatus, SetStatus } from '../protocol/cluster-types';
import type { ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import type { QueueService } from '../service/queue-service';

/** The fields a node with a controller adds to its status. */
export type ControllerStatusFields = Pick<ClusterNodeStatus, 'set' | 'controller' | 'sets' | 'changes'>;

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

/**
 * The status fields of a node with a controller. The sets and the changes are two reads, asked at
 * once; either failing leaves its field out and says why, never the other. A controller of a
 * release without listChanges cannot decode that read and answers an error: the changes are then
 * reported unreadable and the rest of the answer is whole.
 */
export async function controllerStatus(src: ControllerStatusSource): Promise<ControllerStatusFields> {
  const [r, c] = await Promise.all([src.read({ kind: 'listSets' }), src.read({ kind: 'listChanges', offset: 0, limit: LIMITS.statusRouteChangesMax })]);
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
  const out: ControllerStatusFields = { set: { id: src.setId, group: src.group }, controller };
  if (!r.ok) controller.problem = problemOf(r);
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
  if (!c.ok) controller.changesProblem = problemOf(c);
  else if (c.kind !== 'routes') controller.changesProblem = `listChanges answered ${c.kind}`;
  else out.changes = { total: c.totalCount, listed: c.entities.flatMap(changeStatus) };
  return out;
}

function problemOf(r: ErrorResult): string {
  return `${r.error}${r.detail !== undefined ? `: ${r.detail}` : ''}`;
}

/** The entity's change as the status shows it (none: an entity listed without one, never expected). */
function changeStatus(e: EntityRecord): RouteChangeStatus[] {
  const c = e.change;
  if (c === undefined) return [];
  const common = { entityType: e.type, name: e.name, shards: e.shards.length, startedAtMs: c.startedAtMs };
  if (c.type === 'move') return [{ ...common, change: 'move', shard: c.shard, from: c.from, to: c.to, phase: c.phase }];
  return [{ ...common, change: 'grow', toShards: e.shards.length + c.pending.length, pending: c.pending.map((p) => ({ ...p })) }];
}

/**
 * `service` with its clusterStatus answer extended by `extra`. Every other call runs on `service`
 * itself (bound to it), so what the node serves is unchanged.
 */
export function withControllerStatus<S extends QueueService>(service: S, extra: () => Promise<ControllerStatusFields>): S {
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
