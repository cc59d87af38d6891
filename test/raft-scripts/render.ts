// One-line, stable renderings of what the Raft core exchanges, for the scripted interaction
// transcripts. Message names follow etcd's (MsgApp, MsgVote, ...) because they are short and
// familiar; every field the core put in the message is shown, so a transcript is a full record.
//
//   entry      index/term kind: `3/1 "data"` (command), `1/1 noop`, `4/2 config addVoter 4 -> (1,2,3,4)`
//   message    `from->to MsgX term=T fields...`
//   last=I/T   a vote request's lastLogIndex/lastLogTerm; prev=I/T an AppendEntries' prevLogIndex/Term

import { decodeConfigChange } from '../../src/raft/codec';
import type { HardState, RaftEntry, RaftMessage, RaftStatus, Ready, SnapshotMeta } from '../../src/raft/types';
import { commandText } from '../sim/state-machine';

export function ids(list: readonly string[]): string {
  return `(${list.join(',')})`;
}

export function renderEntry(e: RaftEntry): string {
  const at = `${e.index}/${e.term}`;
  switch (e.kind) {
    case 'command':
      return `${at} ${JSON.stringify(commandText(e))}`;
    case 'noop':
      return `${at} noop`;
    case 'config': {
      const c = decodeConfigChange(e.payload);
      return `${at} config ${c.change.type} ${c.change.node} -> ${ids(c.voters)}`;
    }
  }
}

export function renderSnapshot(s: SnapshotMeta): string {
  return `${s.index}/${s.term} voters=${ids(s.voters)}`;
}

export function renderHardState(h: HardState): string {
  return `term=${h.term} vote=${h.votedFor ?? 'none'} commit=${h.commitIndex}`;
}

export function renderMessage(m: RaftMessage): string {
  const head = `${m.from}->${m.to}`;
  switch (m.type) {
    case 'PreVote':
      return `${head} MsgPreVote term=${m.term} last=${m.lastLogIndex}/${m.lastLogTerm}`;
    case 'PreVoteResponse':
      return `${head} MsgPreVoteResp term=${m.term} ${m.voteGranted ? 'granted' : 'rejected'}`;
    case 'RequestVote':
      return `${head} MsgVote term=${m.term} last=${m.lastLogIndex}/${m.lastLogTerm}${m.transfer ? ' transfer' : ''}`;
    case 'RequestVoteResponse':
      return `${head} MsgVoteResp term=${m.term} ${m.voteGranted ? 'granted' : 'rejected'}`;
    case 'AppendEntries': {
      const entries = m.entries.length === 0 ? '' : ` entries=[${m.entries.map(renderEntry).join(', ')}]`;
      return `${head} MsgApp term=${m.term} prev=${m.prevLogIndex}/${m.prevLogTerm} commit=${m.leaderCommit}${entries}`;
    }
    case 'AppendEntriesResponse':
      return m.success
        ? `${head} MsgAppResp term=${m.term} match=${m.matchIndex}`
        : `${head} MsgAppResp term=${m.term} reject=${m.rejectedIndex} hint=${m.hintIndex}/${m.hintTerm}`;
    case 'Heartbeat':
      return `${head} MsgHeartbeat term=${m.term} commit=${m.leaderCommit} readSeq=${m.readSeq}`;
    case 'HeartbeatResponse':
      return `${head} MsgHeartbeatResp term=${m.term} readSeq=${m.readSeq}`;
    case 'InstallSnapshot':
      return `${head} MsgSnap term=${m.term} snapshot=${renderSnapshot(m.snapshot)}`;
    case 'InstallSnapshotResponse':
      return `${head} MsgSnapResp term=${m.term} match=${m.matchIndex}`;
    case 'TimeoutNow':
      return `${head} MsgTimeoutNow term=${m.term}`;
  }
}

/** A Ready, one labelled line per item, in the order the driver acts on them. */
export function renderReady(rd: Ready): string[] {
  const out: string[] = [];
  if (rd.softState) out.push(`soft: ${rd.softState.role} leader=${rd.softState.leader ?? 'none'}`);
  if (rd.hardState) out.push(`hard: ${renderHardState(rd.hardState)}`);
  if (rd.snapshotToInstall) out.push(`install snapshot: ${renderSnapshot(rd.snapshotToInstall)}`);
  if (rd.truncateFrom !== undefined) out.push(`truncate from ${rd.truncateFrom}`);
  for (const e of rd.entriesToPersist) out.push(`persist: ${renderEntry(e)}`);
  for (const e of rd.committedEntries) out.push(`apply: ${renderEntry(e)}`);
  for (const r of rd.readStates) out.push(`read-state: ${r.requestId} index=${r.index}`);
  for (const id of rd.droppedReads) out.push(`dropped-read: ${id}`);
  for (const f of rd.entryFetches) out.push(`fetch: ${f.from}..${f.to}`);
  for (const m of rd.messages) out.push(`send: ${renderMessage(m)}`);
  return out;
}

export function renderStatus(s: RaftStatus): string[] {
  const transfer = s.leadTransferee !== undefined ? ` transferee=${s.leadTransferee}` : '';
  const out = [
    `${s.id} ${s.role} term=${s.term} vote=${s.votedFor ?? 'none'} leader=${s.leader ?? 'none'}${transfer}`,
    `  log: last=${s.lastIndex} persisted=${s.persistedIndex} commit=${s.commitIndex} applied=${s.appliedIndex} snapshot=${s.snapshotIndex}`,
    `  voters=${ids(s.voters)}`,
  ];
  for (const id of Object.keys(s.progress).sort(byId)) {
    const p = s.progress[id]!;
    const snap = p.pendingSnapshot ? ` pendingSnapshot=${p.pendingSnapshot}` : '';
    out.push(`  ${id}: ${p.state} match=${p.matchIndex} next=${p.nextIndex} inflight=${p.inflight}${p.recentActive ? ' active' : ''}${snap}`);
  }
  return out;
}

/** Node ids are numbers in the scripts: order them as numbers. */
export function byId(a: string, b: string): number {
  return Number(a) - Number(b) || a.localeCompare(b);
}
