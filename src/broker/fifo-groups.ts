// The message groups of one FIFO queue (SQS FIFO semantics), kept beside the queue's message
// columns so that standard queues pay nothing for them: a standard queue has no FifoGroups at all.
//
// Rules (decided in QueueState.receive with these structures):
// - a group's messages are delivered in seq (= send) order;
// - while any message of a group is in flight the group is locked: none of its messages is
//   delivered, so a later message never overtakes an earlier one that may still come back;
// - groups are independent: a receive takes the unlocked group whose next message is oldest, as
//   many of its messages as it may (consecutive, in order), then the next such group.
//
// Structures and their costs (n: messages of the queue not GONE, g: groups holding any):
// - `pages`: the group number of each message, u32 per seq in pages of CHUNK_SLOTS aligned with
//   the message store's chunks (a page starts at 64 slots and doubles, like a chunk; it is dropped
//   once full and without live messages). 4 bytes per message.
// - per group (`FifoGroup`, keyed by id and by a small number reused once the group is gone): its
//   VISIBLE messages in a seq min-heap (8 bytes each, lazy deletion as in heaps.ts), how many are
//   VISIBLE and in flight, and how many messages it holds in any state but GONE (the rewind area
//   included, since a rewind may make them deliverable again). A group is forgotten once it holds
//   none. About 250 bytes per group with its id and map entries (measured). The table by number
//   keeps one slot (8 bytes) per group number ever in use at once.
// - `ready`: (head seq, group number) of every unlocked group with a VISIBLE message, a (time,
//   id) heap used with seqs for times. Invariant: each such group has an entry whose seq is ≤ its
//   current head (entries of groups locked, emptied or with a newer head are stale and skipped or
//   corrected when they reach the top). Rebuilt from the groups once stale entries pile up.
// Every state change costs O(log) in the group's heap and in `ready`; a receive O(k log) for k
// messages; nothing walks the groups except the rebuilds (amortized) and a snapshot.

import { TimedIdHeap } from './heaps';
import { invariant } from './invariant';
import { CHUNK_SLOTS, GONE, INFLIGHT, VISIBLE, type MessageStore } from './message-store';

const PAGE_MIN_SLOTS = 64;
const COMPACT_SLACK = 1024;

/**
 * A min-heap of seqs in a plain array: most groups hold a few messages at a time, and a typed
 * array apiece (heaps.ts) would cost about 200 bytes per group before its first message.
 */
class GroupHeap {
  /** undefined while empty; made with its first seq, so a group of one message holds a one-slot array. */
  private a: number[] | undefined = undefined;

  get size(): number {
    return this.a?.length ?? 0;
  }

  /** The smallest seq, or -1 when empty. */
  peek(): number {
    return this.a === undefined ? -1 : this.a[0]!;
  }

  push(seq: number): void {
    const a = this.a;
    if (a === undefined) {
      this.a = [seq];
      return;
    }
    let i = a.length;
    a.push(seq);
    // Sends add increasing seqs, so this usually stops at once.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = a[parent]!;
      if (p <= seq) break;
      a[i] = p;
      i = parent;
    }
    a[i] = seq;
  }

  pop(): void {
    const a = this.a;
    if (a === undefined) return;
    const last = a.pop()!;
    const n = a.length;
    if (n === 0) {
      this.a = undefined;
      return;
    }
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && a[r]! < a[l]! ? r : l;
      if (a[c]! >= last) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
  }

  /** Keeps only the entries `keep` accepts (a sorted array is a heap). */
  retain(keep: (seq: number) => boolean): void {
    const kept = this.a?.filter(keep).sort((x, y) => x - y);
    this.a = kept === undefined || kept.length === 0 ? undefined : kept;
  }

  bytes(): number {
    return 16 + 8 * this.size;
  }
}

export class FifoGroup {
  /** VISIBLE messages of the group by seq; entries of messages no longer VISIBLE are stale. */
  readonly visible = new GroupHeap();
  visibleCount = 0;
  /** Messages in flight: the group is locked while this is above 0. */
  inflight = 0;
  /** Messages of the group in any state but GONE; the group is forgotten at 0. */
  held = 0;

  constructor(
    readonly id: string,
    readonly no: number,
  ) {}
}

interface Page {
  nos: Uint32Array;
  /** Messages of this page not GONE. */
  live: number;
}

/** What a snapshot keeps of a FIFO queue's groups (snapshot.ts): see FifoGroups.snapshotRows. */
export interface FifoGroupRows {
  /** Group ids, in the order their first live message comes. */
  groups: string[];
  /** For each message not GONE, in seq order: its group's index in `groups`. */
  of: Uint32Array;
}

export class FifoGroups {
  private readonly byId = new Map<string, FifoGroup>();
  private readonly byNo: (FifoGroup | undefined)[] = [];
  private readonly freeNos: number[] = [];
  private readonly pages = new Map<number, Page>();
  private ready = new TimedIdHeap();
  /** Entries in all groups' `visible` heaps, live or stale. */
  private heapEntries = 0;

  constructor(private readonly store: MessageStore) {}

  get groupCount(): number {
    return this.byId.size;
  }

  /** Message `seq`, just allocated (still GONE), belongs to group `id`. Call before its first state change. */
  assign(seq: number, id: string): void {
    this.assignTo(seq, this.byId.get(id) ?? this.create(id));
  }

  private create(id: string): FifoGroup {
    const g = new FifoGroup(id, this.freeNos.pop() ?? this.byNo.length);
    this.byId.set(id, g);
    this.byNo[g.no] = g;
    return g;
  }

  /**
   * A restore (QueueState.rebuildIndexes): the groups a snapshot names, in its order, then
   * assignTo for each message not GONE in seq order.
   */
  restoreGroups(ids: readonly string[]): FifoGroup[] {
    invariant(this.byId.size === 0, 'FIFO groups restored twice');
    return ids.map((id) => this.create(id));
  }

  /** As assign, with the group already looked up. */
  assignTo(seq: number, g: FifoGroup): void {
    g.held++;
    const k = Math.floor(seq / CHUNK_SLOTS);
    const i = seq - k * CHUNK_SLOTS;
    let p = this.pages.get(k);
    if (p === undefined) {
      p = { nos: new Uint32Array(PAGE_MIN_SLOTS), live: 0 };
      this.pages.set(k, p);
    }
    if (i >= p.nos.length) {
      let n = p.nos.length;
      while (n <= i) n *= 2;
      const grown = new Uint32Array(Math.min(CHUNK_SLOTS, n));
      grown.set(p.nos);
      p.nos = grown;
    }
    p.nos[i] = g.no;
    p.live++;
  }

  /** The group of a message not GONE. */
  groupOf(seq: number): FifoGroup {
    const k = Math.floor(seq / CHUNK_SLOTS);
    const p = this.pages.get(k);
    const g = p === undefined ? undefined : this.byNo[p.nos[seq - k * CHUNK_SLOTS]!];
    invariant(g !== undefined, () => `FIFO message ${seq} has no group`);
    return g;
  }

  /** Message `seq` went from state prev to next (QueueState.setState, after the column changed). */
  changed(seq: number, prev: number, next: number): void {
    const g = this.groupOf(seq);
    let unlocked = false;
    if (prev === INFLIGHT) {
      g.inflight--;
      unlocked = g.inflight === 0;
    } else if (prev === VISIBLE) g.visibleCount--;
    if (next === INFLIGHT) g.inflight++;
    else if (next === VISIBLE) {
      const head = this.cleanHead(g);
      g.visible.push(seq);
      g.visibleCount++;
      this.heapEntries++;
      // A new head of an unlocked group needs an entry at or below it (an unlocking group gets one below).
      if (g.inflight === 0 && !unlocked && (head < 0 || seq < head)) this.ready.push(seq, g.no);
    }
    invariant(g.inflight >= 0 && g.visibleCount >= 0, () => `FIFO group ${g.id}: a counter went below zero`);
    if (unlocked && g.visibleCount > 0) this.ready.push(this.cleanHead(g), g.no);
    if (next === GONE) this.release(seq, g);
  }

  private release(seq: number, g: FifoGroup): void {
    const k = Math.floor(seq / CHUNK_SLOTS);
    const p = this.pages.get(k)!;
    p.live--;
    if (p.live === 0 && (k + 1) * CHUNK_SLOTS <= this.store.nextSeq) this.pages.delete(k);
    g.held--;
    invariant(g.held >= 0 && (g.held > 0 || (g.visibleCount === 0 && g.inflight === 0)), () => `FIFO group ${g.id}: held count inconsistent`);
    if (g.held > 0) return;
    this.byId.delete(g.id);
    this.byNo[g.no] = undefined;
    this.freeNos.push(g.no);
    this.heapEntries -= g.visible.size;
  }

  /** The group's lowest VISIBLE seq, stale entries above it dropped; -1 when none. */
  private cleanHead(g: FifoGroup): number {
    while (g.visible.size > 0 && this.store.state(g.visible.peek()) !== VISIBLE) {
      g.visible.pop();
      this.heapEntries--;
    }
    return g.visible.peek();
  }

  /**
   * The unlocked group whose next message is the oldest, taken out of `ready` (receive then
   * delivers from it with popHead and hands it back with requeue); undefined when none.
   */
  popReady(): FifoGroup | undefined {
    while (this.ready.size > 0) {
      const t = this.ready.peekTime();
      const no = this.ready.peekId();
      this.ready.pop();
      const g = this.byNo[no];
      if (g === undefined || g.inflight > 0 || g.visibleCount === 0) continue;
      const head = this.cleanHead(g);
      invariant(head >= 0, () => `FIFO group ${g.id}: ${g.visibleCount} visible messages but none in its heap`);
      if (head !== t) {
        this.ready.push(head, no);
        continue;
      }
      return g;
    }
    return undefined;
  }

  /** The group's next VISIBLE message, taken out of its heap; -1 when none. */
  popHead(g: FifoGroup): number {
    const head = this.cleanHead(g);
    if (head < 0) return -1;
    g.visible.pop();
    this.heapEntries--;
    return head;
  }

  /** After a receive took from g: if it is still unlocked with messages (all it took were dead-lettered), it is ready again. */
  requeue(g: FifoGroup): void {
    if (this.byNo[g.no] === g && g.inflight === 0 && g.visibleCount > 0) this.ready.push(this.cleanHead(g), g.no);
  }

  /** Rebuilds heaps once stale entries outnumber live ones (visibleCount: the queue's VISIBLE messages). */
  compact(visibleCount: number): void {
    invariant(this.heapEntries >= visibleCount, () => `FIFO heaps hold ${this.heapEntries} entries for ${visibleCount} visible messages`);
    if (this.heapEntries > 2 * visibleCount + COMPACT_SLACK) {
      this.heapEntries = 0;
      for (const g of this.byId.values()) {
        g.visible.retain((seq) => this.store.state(seq) === VISIBLE);
        this.heapEntries += g.visible.size;
      }
    }
    if (this.ready.size > 2 * this.byId.size + COMPACT_SLACK) {
      this.ready = new TimedIdHeap();
      for (const g of this.byId.values()) if (g.inflight === 0 && g.visibleCount > 0) this.ready.pushUnordered(this.cleanHead(g), g.no);
      this.ready.heapify();
    }
  }

  /**
   * Each message not GONE, in seq order, with its group (snapshots): one pass over the typed
   * columns, no object per message, so a capture of a large FIFO backlog stays short (about 10 ms
   * per million messages; see broker.md).
   */
  snapshotRows(): FifoGroupRows {
    const store = this.store;
    const remap = new Int32Array(this.byNo.length).fill(-1);
    const groups: string[] = [];
    let total = 0;
    for (const c of store.chunks) if (c !== undefined) total += c.live;
    const of = new Uint32Array(total);
    let k = 0;
    for (const c of store.chunks) {
      if (c === undefined || c.live === 0) continue;
      const nos = this.pages.get(c.firstSeq / CHUNK_SLOTS)?.nos;
      invariant(nos !== undefined, () => `FIFO messages from ${c.firstSeq} have no groups`);
      const used = Math.min(c.capacity, store.nextSeq - c.firstSeq);
      for (let i = 0; i < used; i++) {
        if (c.state[i] === GONE) continue;
        const no = nos[i]!;
        let r = remap[no]!;
        if (r < 0) {
          r = groups.length;
          remap[no] = r;
          groups.push(this.byNo[no]!.id);
        }
        of[k++] = r;
      }
    }
    invariant(k === total, () => `FIFO snapshot: ${k} messages found, ${total} counted live`);
    return { groups, of };
  }

  bytes(): number {
    let n = this.ready.capacityBytes() + this.byId.size * 250;
    for (const p of this.pages.values()) n += p.nos.byteLength;
    for (const g of this.byId.values()) n += g.visible.bytes();
    return n;
  }
}
