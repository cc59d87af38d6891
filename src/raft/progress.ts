// The leader's view of one follower (Raft paper: nextIndex, matchIndex), plus the flow-control
// state etcd made standard: probe (one AppendEntries at a time until the logs match), replicate
// (optimistic pipeline, bounded by in-flight count and bytes) and snapshot (waiting for one).

import { raftAssert } from './assert';
import type { PeerStatus, ProgressState } from './types';

/** The AppendEntries in flight to one peer, as (last index carried, payload bytes), oldest first. */
export class Inflights {
  private lastIndexes: number[] = [];
  private bytesEach: number[] = [];
  private head = 0;
  private bytesTotal = 0;

  constructor(
    readonly maxCount: number,
    readonly maxBytes: number,
  ) {}

  get count(): number {
    return this.lastIndexes.length - this.head;
  }

  get bytes(): number {
    return this.bytesTotal;
  }

  full(): boolean {
    return this.count >= this.maxCount || this.bytesTotal >= this.maxBytes;
  }

  add(lastIndex: number, bytes: number): void {
    raftAssert(!this.full(), 'inflights: add while full');
    const n = this.lastIndexes.length;
    raftAssert(n === this.head || lastIndex > this.lastIndexes[n - 1]!, 'inflights: indexes must increase');
    this.lastIndexes.push(lastIndex);
    this.bytesEach.push(bytes);
    this.bytesTotal += bytes;
  }

  /** Forget every append whose last index is <= index (acknowledged). */
  freeLE(index: number): void {
    while (this.head < this.lastIndexes.length && this.lastIndexes[this.head]! <= index) {
      this.bytesTotal -= this.bytesEach[this.head]!;
      this.head++;
    }
    this.compactStorage();
  }

  freeFirst(): void {
    if (this.count === 0) return;
    this.bytesTotal -= this.bytesEach[this.head]!;
    this.head++;
    this.compactStorage();
  }

  reset(): void {
    this.lastIndexes = [];
    this.bytesEach = [];
    this.head = 0;
    this.bytesTotal = 0;
  }

  private compactStorage(): void {
    if (this.head === this.lastIndexes.length) {
      this.reset();
    } else if (this.head > 64 && this.head * 2 > this.lastIndexes.length) {
      this.lastIndexes = this.lastIndexes.slice(this.head);
      this.bytesEach = this.bytesEach.slice(this.head);
      this.head = 0;
    }
  }
}

export class Progress {
  /** Highest index known to be replicated on the peer (Raft paper: matchIndex). */
  matchIndex = 0;
  /** Next index to send (Raft paper: nextIndex). Invariant: matchIndex < nextIndex. */
  nextIndex: number;
  state: ProgressState = 'probe';
  /** In probe state: an AppendEntries is out and unanswered; send no other until a reply or heartbeat. */
  probeSent = false;
  /** In snapshot state: the snapshot index being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Highest ReadIndex round this peer confirmed in the current term. */
  readAckSeq = 0;
  readonly inflights: Inflights;

  constructor(nextIndex: number, maxInflight: number, maxInflightBytes: number) {
    this.nextIndex = nextIndex;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it; otherwise just after what is known to match.
    const next = this.state === 'snapshot' ? Math.max(this.matchIndex + 1, this.pendingSnapshot + 1) : this.matchIndex + 1;
    this.reset('probe');
    this.nextIndex = next;
  }

  becomeReplicate(): void {
    this.reset('replicate');
    this.nextIndex = this.matchIndex + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  /** A successful response up to `index`; false when it tells nothing new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.matchIndex < index) {
      this.matchIndex = index;
      updated = true;
      this.probeSent = false;
    }
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    return updated;
  }

  /**
   * A rejection of an AppendEntries with prevLogIndex `rejected`; `hintNext` is where to probe next.
   * False when the rejection is stale (answers an older message than the current state expects).
   */
  maybeDecrTo(rejected: number, hintNext: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.matchIndex) return false;
      this.nextIndex = this.matchIndex + 1;
      return true;
    }
    if (this.nextIndex - 1 !== rejected) return false;
    this.nextIndex = Math.max(Math.min(rejected, hintNext), this.matchIndex + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  status(): PeerStatus {
    const s: PeerStatus = {
      matchIndex: this.matchIndex,
      nextIndex: this.nextIndex,
      state: this.state,
      inflight: this.inflights.count,
      recentActive: this.recentActive,
    };
    if (this.state === 'snapshot') s.pendingSnapshot = this.pendingSnapshot;
    return s;
  }
}
