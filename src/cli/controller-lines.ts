// The part of `opencmq cluster status` about the cluster controller and its sets, printed when the
// members asked run with a controller: its voters and leader, each answering voter's own view of
// the controller group, every set as the controller has it (members, state, last load report), and
// the route changes under way (moves and shard growths), one line each.

import type { ClusterNodeStatus, RouteChangeStatus } from '../protocol/cluster-types';
import { formatTable } from './format';

/** Lines for the members that answered (empty when none runs with a controller). */
export function controllerLines(statuses: readonly ClusterNodeStatus[], nowMs: number): string[] {
  const withController = statuses.filter((s) => s.controller !== undefined);
  const first = withController[0]?.controller;
  if (!first) return [];
  const out: string[] = [''];
  // The leader a voter knows first (it hears its heartbeats), else the one a caller last reached.
  const leader = withController.map((s) => s.controller?.member?.leader).find((l) => l) ?? withController.map((s) => s.controller?.leader).find((l) => l) ?? '';
  out.push(`controller: voters ${first.voters.map((v) => `${v.nodeId} (${v.peerAddress})`).join(', ')}; leader ${leader || 'unknown'}`);
  const members = withController.filter((s) => s.controller?.member !== undefined);
  if (members.length > 0) {
    out.push(
      ...formatTable(
        ['controller', 'role', 'term', 'leader', 'commit', 'applied', 'last'],
        members.map((s) => {
          const m = s.controller!.member!;
          return [s.nodeId, m.role, String(m.term), m.leader || '-', String(m.commitIndex), String(m.appliedIndex), String(m.lastIndex)];
        }),
      ),
    );
  }
  out.push(...setLines(withController, nowMs), ...changeLines(withController, nowMs));
  return out;
}

function setLines(withController: readonly ClusterNodeStatus[], nowMs: number): string[] {
  const reader = withController.find((s) => s.sets !== undefined);
  if (!reader?.sets) {
    const problems = withController.map((s) => s.controller?.problem).filter((p): p is string => p !== undefined);
    return [`sets: the controller did not answer (${problems[0] ?? 'no answer'})`];
  }
  const out: string[] = [];
  out.push(`sets (${reader.sets.length}, as ${reader.nodeId} read them from the controller):`);
  out.push(
    ...formatTable(
      ['set', 'group', 'state', 'members', 'entities', 'queues', 'messages', 'bytes', 'req/s', 'reported'],
      reader.sets.map((s) => [
        String(s.id),
        String(s.group),
        s.state,
        s.members.map((m) => m.nodeId).join(','),
        String(s.entities),
        ...(s.load
          ? [String(s.load.queues), String(s.load.messages), String(s.load.bytes), String(s.load.requestsPerSecond), `${new Date(s.load.atMs).toISOString()} (${ago(nowMs - s.load.atMs)})`]
          : ['-', '-', '-', '-', 'never']),
      ]),
    ),
  );
  return out;
}

/** The changes as the first member that read them has them; why not, when none did. */
function changeLines(withController: readonly ClusterNodeStatus[], nowMs: number): string[] {
  const reader = withController.find((s) => s.changes !== undefined);
  if (!reader?.changes) {
    const problems = withController.map((s) => s.controller?.changesProblem).filter((p): p is string => p !== undefined);
    return [`route changes: could not be read from the controller (${problems[0] ?? 'no answer'})`];
  }
  const { total, listed } = reader.changes;
  if (total === 0) return ['route changes under way: none'];
  const out = [`route changes under way (${total}, as ${reader.nodeId} read them from the controller${listed.length < total ? `; the ${listed.length} oldest listed` : ''}):`];
  for (const c of listed) out.push(`  ${changeLine(c, nowMs)}`);
  if (listed.length < total) out.push(`  ... and ${total - listed.length} more`);
  return out;
}

function changeLine(c: RouteChangeStatus, nowMs: number): string {
  const what = c.entityType === 'queue' ? `queue ${c.name}` : `topic ${c.name}`;
  const since = `since ${new Date(c.startedAtMs).toISOString()} (${ago(nowMs - c.startedAtMs)})`;
  if (c.change === 'move') return `${what}: move shard ${c.shard} from set ${c.from} to set ${c.to}, phase ${c.phase}, ${since}`;
  const pending = c.pending.map((p) => `shard ${p.shard} on set ${p.set} ${p.confirmed ? 'created' : 'pending'}`).join(', ');
  return `${what}: growth from ${c.shards} to ${c.toShards} shards (${pending}), ${since}`;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}
