// The part of `opencmq cluster status` about the cluster controller and its sets, printed when the
// members asked run with a controller: its voters and leader, each answering voter's own view of
// the controller group, and every set as the controller has it (members, state, last load report).

import type { ClusterNodeStatus } from '../protocol/cluster-types';
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
  const reader = withController.find((s) => s.sets !== undefined);
  if (!reader?.sets) {
    const problems = withController.map((s) => s.controller?.problem).filter((p): p is string => p !== undefined);
    out.push(`sets: the controller did not answer (${problems[0] ?? 'no answer'})`);
    return out;
  }
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

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}
