// Binary min-heaps over typed arrays, so a million queued messages cost 8–16 bytes each here and
// no JS object apiece. Entries are never removed from the middle: owners discard stale entries
// when they reach the top (lazy deletion) and call `retain` to rebuild when stale ones pile up.

const MIN_CAPACITY = 16;

/** Min-heap of sequence numbers: a queue's visible messages, lowest seq (oldest) first. */
export class SeqHeap {
  private keys = new Float64Array(MIN_CAPACITY);
  size = 0;

  push(seq: number): void {
    if (this.size === this.keys.length) this.resize(this.keys.length * 2);
    const k = this.keys;
    let i = this.size++;
    // Sends append increasing seqs, so this loop usually stops at once: push is O(1) then.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = k[parent]!;
      if (p <= seq) break;
      k[i] = p;
      i = parent;
    }
    k[i] = seq;
  }

  /** The smallest seq, or -1 when empty. */
  peek(): number {
    return this.size === 0 ? -1 : this.keys[0]!;
  }

  /** Removes and returns the smallest seq, or -1 when empty. */
  pop(): number {
    if (this.size === 0) return -1;
    const k = this.keys;
    const top = k[0]!;
    const last = k[--this.size]!;
    if (this.size > 0) {
      let i = 0;
      const n = this.size;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && k[r]! < k[l]! ? r : l;
        if (k[c]! >= last) break;
        k[i] = k[c]!;
        i = c;
      }
      k[i] = last;
    }
    this.maybeShrink();
    return top;
  }

  /** Keeps only the entries `keep` accepts, then restores heap order (O(n)). */
  retain(keep: (seq: number) => boolean): void {
    const k = this.keys;
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      const s = k[i]!;
      if (keep(s)) k[n++] = s;
    }
    this.size = n;
    // Sorting is O(n log n) but a sorted array is a heap, and typed-array sort is fast native code.
    k.subarray(0, n).sort();
    this.maybeShrink();
  }

  capacityBytes(): number {
    return this.keys.byteLength;
  }

  private maybeShrink(): void {
    if (this.keys.length > MIN_CAPACITY && this.size < this.keys.length / 4) this.resize(this.keys.length / 2);
  }

  private resize(cap: number): void {
    const next = new Float64Array(cap);
    next.set(this.keys.subarray(0, this.size));
    this.keys = next;
  }
}

/**
 * Min-heap of (timeMs, id) pairs ordered by time, then id: in-flight messages by next visible
 * time, delayed messages by due time, queues by next deadline. The total order makes pop order
 * independent of the heap's shape, which keeps replicas and restored snapshots identical.
 */
export class TimedIdHeap {
  private times = new Float64Array(MIN_CAPACITY);
  private ids = new Float64Array(MIN_CAPACITY);
  size = 0;

  push(timeMs: number, id: number): void {
    if (this.size === this.times.length) this.resize(this.times.length * 2);
    this.siftUp(this.size++, timeMs, id);
  }

  /** Appends without ordering; call `heapify` before any other operation. */
  pushUnordered(timeMs: number, id: number): void {
    if (this.size === this.times.length) this.resize(this.times.length * 2);
    this.times[this.size] = timeMs;
    this.ids[this.size] = id;
    this.size++;
  }

  heapify(): void {
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.siftDown(i, this.times[i]!, this.ids[i]!);
  }

  /** Time of the top entry; Infinity when empty. */
  peekTime(): number {
    return this.size === 0 ? Infinity : this.times[0]!;
  }

  /** Id of the top entry; -1 when empty. */
  peekId(): number {
    return this.size === 0 ? -1 : this.ids[0]!;
  }

  /** Removes the top entry (read it first with peekTime/peekId). */
  pop(): void {
    if (this.size === 0) return;
    const n = --this.size;
    if (n > 0) this.siftDown(0, this.times[n]!, this.ids[n]!);
    this.maybeShrink();
  }

  retain(keep: (timeMs: number, id: number) => boolean): void {
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      const t = this.times[i]!;
      const id = this.ids[i]!;
      if (keep(t, id)) {
        this.times[n] = t;
        this.ids[n] = id;
        n++;
      }
    }
    this.size = n;
    this.heapify();
    this.maybeShrink();
  }

  capacityBytes(): number {
    return this.times.byteLength + this.ids.byteLength;
  }

  private siftUp(i: number, t: number, id: number): void {
    const times = this.times;
    const ids = this.ids;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent]!;
      const pid = ids[parent]!;
      if (pt < t || (pt === t && pid <= id)) break;
      times[i] = pt;
      ids[i] = pid;
      i = parent;
    }
    times[i] = t;
    ids[i] = id;
  }

  private siftDown(i: number, t: number, id: number): void {
    const times = this.times;
    const ids = this.ids;
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      const r = l + 1;
      if (r < n && (times[r]! < times[l]! || (times[r] === times[l] && ids[r]! < ids[l]!))) c = r;
      const ct = times[c]!;
      const cid = ids[c]!;
      if (t < ct || (t === ct && id <= cid)) break;
      times[i] = ct;
      ids[i] = cid;
      i = c;
    }
    times[i] = t;
    ids[i] = id;
  }

  private maybeShrink(): void {
    if (this.times.length > MIN_CAPACITY && this.size < this.times.length / 4) this.resize(this.times.length / 2);
  }

  private resize(cap: number): void {
    const t = new Float64Array(cap);
    const d = new Float64Array(cap);
    t.set(this.times.subarray(0, this.size));
    d.set(this.ids.subarray(0, this.size));
    this.times = t;
    this.ids = d;
  }
}
