// The frames waiting for one peer's next socket write. The queue itself only counts; the limits
// (bytes and frames) are applied by PeerTransport, which knows which frames may be dropped.

import type { Connection, OutFrame } from './connection';

export interface QueuedFrame extends OutFrame {
  /** Header plus payload bytes. */
  readonly bytes: number;
  /** RPC frames belong to the connection their request arrived or was sent on; null: any. */
  readonly boundTo: Connection | null;
  /** An rpc request's frame: set once it is handed to the socket (until then it can be withdrawn unsent). */
  readonly request?: { written: boolean; readonly id: number };
}

export class SendQueue {
  private items: QueuedFrame[] = [];
  /** Index of the oldest frame in `items`; invariant: bytes == sum of items[head..].bytes. */
  private head = 0;
  private byteCount = 0;

  get frames(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.byteCount;
  }

  push(frame: QueuedFrame): void {
    this.items.push(frame);
    this.byteCount += frame.bytes;
  }

  /**
   * Removes the oldest frames up to `bytesMax` in total, but always at least one, unless the oldest
   * matches `holdFrom`: no frame from the first one matching it on is taken (the batch may be empty).
   */
  takeBatch(bytesMax: number, holdFrom?: (frame: QueuedFrame) => boolean): QueuedFrame[] {
    let end = this.head;
    let bytes = 0;
    while (end < this.items.length) {
      const next = this.items[end]!;
      if (end > this.head && bytes + next.bytes > bytesMax) break;
      if (holdFrom?.(next)) break;
      bytes += next.bytes;
      end += 1;
    }
    const batch = this.items.slice(this.head, end);
    this.head = end;
    this.byteCount -= bytes;
    this.compact();
    return batch;
  }

  /** Drops every frame matching `predicate`; returns how many. */
  removeWhere(predicate: (frame: QueuedFrame) => boolean): number {
    const kept = this.items.slice(this.head).filter((f) => !predicate(f));
    const removed = this.frames - kept.length;
    this.items = kept;
    this.head = 0;
    this.byteCount = kept.reduce((sum, f) => sum + f.bytes, 0);
    return removed;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.byteCount = 0;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
