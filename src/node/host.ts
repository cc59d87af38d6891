// A node process as a host of Raft groups: one peer transport, of which each group gets its own
// view (its frames and requests carry its group id), one tick scheduler driving every group's
// Raft ticks, and one replica per group (QueueNode: its
// Raft driver, WAL, snapshots, state machine, body repair, long polls and pushes), each with its
// data under its own directory and issuing ids that name its group. A server hosts group 0 only
// today; multi-set placement will add groups through the same door. A host may also run a replica
// of the cluster controller's group (ControllerNode), numbered CONTROLLER_GROUP
// (protocol/groups.ts: the top of the u32 range, never a set's group).
//
// Data layout: group 0 keeps the data directory's top level (wal/, raft/, snapshots/), exactly as
// before groups existed, so existing data directories start unchanged; group G > 0 lives in
// groups/G/ with the same layout inside (the controller's in groups/4294967295/).

import path from 'node:path';

import { CONTROLLER_GROUP, type GroupNumber } from '../broker/ids';
import type { PeerAddress, PeerNetwork } from '../transport';
import { nodeRuntime } from '../runtime/node-runtime';
import { QueueNode, type QueueNodeOptions } from './queue-node';
import { ControllerNode, type ControllerNodeOptions } from './controller-node';
import { LogRateLimit, toLogger, type Logger } from '../protocol/log';
import type { Runtime } from '../runtime/timers';
import { stderrLine } from './logger';
import { DEFAULT_RAFT_TIMING, type RaftTiming } from './raft-timing';
import { TickScheduler, type TickStallWatch } from './tick-scheduler';
import { RpcRouter } from './rpc';

/** Where group `group`'s replica keeps its data inside the node's data directory. */
export function groupDataDir(dataDir: string, group: GroupNumber): string {
  return group === 0 ? dataDir : path.join(dataDir, 'groups', String(group));
}

/** One group this host runs a replica of. */
export interface HostedGroup {
  group: GroupNumber;
  /** What the group runs (default 'queue'): a set's queues and topics, or the cluster controller (group CONTROLLER_GROUP only). */
  kind?: 'queue' | 'controller';
  /** The group's initial voters (empty: this node joins an existing group). */
  voters: string[];
  /** The group's peers' addresses as configured (the transport links the union over groups). */
  staticPeers?: Readonly<Record<string, PeerAddress>>;
}

/** What a group replica shares with the host's other groups. */
export type ReplicaOptions = Omit<QueueNodeOptions, 'dataDir' | 'group' | 'voters' | 'network' | 'rpc' | 'staticPeers' | 'nodeId' | 'ticks'>;

export interface NodeHostOptions {
  dataDir: string;
  /** This node's id in every group it hosts. */
  nodeId?: string;
  /** The peer transport, as views per group; absent when every group has this node as its only voter. */
  network?: { group(id: GroupNumber): PeerNetwork };
  replica: ReplicaOptions;
  /** The controller replica's own options, when the host runs one (its other options are `replica`'s). */
  controller?: Pick<ControllerNodeOptions, 'snapshotEveryEntries' | 'onApplied'>;
}

export class NodeHost {
  private constructor(
    private readonly replicas: ReadonlyMap<GroupNumber, QueueNode>,
    private readonly routers: ReadonlyMap<GroupNumber, RpcRouter>,
    private readonly controllerReplica: ControllerNode | undefined,
  ) {}

  /** Opens (recovering from disk) a replica of each group, in order. */
  static async open(opts: NodeHostOptions, groups: readonly HostedGroup[]): Promise<NodeHost> {
    const seen = new Set<GroupNumber>();
    for (const g of groups) {
      if (seen.has(g.group)) throw new Error(`group ${g.group} is hosted twice`);
      seen.add(g.group);
      if ((g.kind === 'controller') !== (g.group === CONTROLLER_GROUP)) {
        throw new Error(`group ${CONTROLLER_GROUP} is the controller's and only the controller's; group ${g.group} cannot run a ${g.kind ?? 'queue'} replica`);
      }
    }
    const replicas = new Map<GroupNumber, QueueNode>();
    let controller: ControllerNode | undefined;
    const routers = new Map<GroupNumber, RpcRouter>();
    const rt = opts.replica.runtime ?? nodeRuntime;
    const timing = opts.replica.timing ?? DEFAULT_RAFT_TIMING;
    const ticks = new TickScheduler(rt, timing.tickMs, loopStallWarning(toLogger(opts.replica.log, stderrLine).child('server'), timing, rt));
    try {
      for (const g of groups) {
        const network = opts.network?.group(g.group);
        const rpc = network ? new RpcRouter(network) : undefined;
        if (rpc) routers.set(g.group, rpc);
        const placed = {
          dataDir: groupDataDir(opts.dataDir, g.group),
          group: g.group,
          voters: g.voters,
          ticks,
          ...(opts.nodeId !== undefined ? { nodeId: opts.nodeId } : {}),
          ...(network && rpc ? { network, rpc } : {}),
          ...(g.staticPeers ? { staticPeers: g.staticPeers } : {}),
        };
        if (g.kind === 'controller') {
          // The queue replica's own options (its apply observer, pushes, compaction) are not the controller's.
          const { onApplied: _queueOnly, pushTimeoutMs: _push, compaction: _compaction, snapshotEveryEntries: _queueSnapshots, ...shared } = opts.replica;
          controller = await ControllerNode.open({ ...shared, ...opts.controller, ...placed });
        } else replicas.set(g.group, await QueueNode.open({ ...opts.replica, ...placed }));
      }
    } catch (err) {
      // A group that failed to open must not leave the others running.
      await Promise.allSettled([...replicas.values(), ...(controller ? [controller] : [])].map((r) => r.close()));
      throw err;
    }
    return new NodeHost(replicas, routers, controller);
  }

  /** The replica of `group`; throws when this host does not run that group. */
  group(group: GroupNumber): QueueNode {
    const r = this.replicas.get(group);
    if (!r) throw new Error(`group ${group} is not hosted here`);
    return r;
  }

  /** The controller replica; throws when this host does not run one. */
  controller(): ControllerNode {
    if (!this.controllerReplica) throw new Error(`the controller group (${CONTROLLER_GROUP}) is not hosted here`);
    return this.controllerReplica;
  }

  /** The peer request router of `group` (forwarding, snapshot transfer, body repair); undefined without peers. */
  rpc(group: GroupNumber): RpcRouter | undefined {
    return this.routers.get(group);
  }

  get groups(): ReadonlyMap<GroupNumber, QueueNode> {
    return this.replicas;
  }

  /** Closes every replica (each hands leadership over first where it leads). */
  async close(): Promise<void> {
    await Promise.all([...this.replicas.values(), ...(this.controllerReplica ? [this.controllerReplica] : [])].map((r) => r.close()));
  }
}

/**
 * Warns when the event loop was held for half an election timeout or more: a leader's heartbeats
 * were that late, and past the election timeout its followers elect another leader. What holds
 * the loop (a long garbage collection, a machine out of CPU, a synchronous step that grows with
 * the data) is for the operator to find; this says when, and for how long. At most a few lines a
 * minute.
 */
function loopStallWarning(log: Logger, timing: RaftTiming, rt: Pick<Runtime, 'monotonicMs'>): TickStallWatch {
  const limit = new LogRateLimit(LOOP_STALL_LOGS_PER_MINUTE, 60_000, () => rt.monotonicMs());
  return {
    minGapMs: timing.electionTimeoutMs / 2,
    onStall(gapMs) {
      const admitted = limit.admit('stall');
      if (admitted === undefined) return;
      const more = admitted.suppressed > 0 ? ` (${admitted.suppressed} earlier stalls not logged)` : '';
      log.warn(
        `event loop held for ${Math.round(gapMs)} ms: Raft ticks (every ${timing.tickMs} ms) and heartbeats were that late; ` +
          `a leader held past the election timeout (${timing.electionTimeoutMs} ms) loses its leadership${more}`,
        { stallMs: Math.round(gapMs) },
      );
    },
  };
}

const LOOP_STALL_LOGS_PER_MINUTE = 6;
