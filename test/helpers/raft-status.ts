// A leader's RaftStatus for tests that read one (metrics, the stalled leader's hand-over): n1
// leading in term 4, commit 90, with `progress` for its followers.
import type { PeerStatus, RaftStatus } from '../../src/raft/types';

export function leaderStatus(progress: Record<string, PeerStatus>, over: Partial<RaftStatus> = {}): RaftStatus {
  return {
    id: 'n1',
    term: 4,
    votedFor: 'n1',
    role: 'leader',
    leader: 'n1',
    commitIndex: 90,
    appliedIndex: 90,
    lastIndex: 100,
    persistedIndex: 100,
    snapshotIndex: 0,
    voters: ['n1', ...Object.keys(progress)],
    progress,
    ...over,
  };
}
