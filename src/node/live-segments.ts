// Which closed log segments still hold the body of a message that is live at a snapshot: filled
// while the snapshot is emitted (one call per live entry, as the state machine reports them), then
// asked by the log's segment release. Marking segments as entries go by costs one search per
// distinct entry; the sorted list of every live entry it replaces cost a sort of millions of
// numbers in one go on a large backlog.

export interface EntrySpan {
  firstIndex: number;
  lastIndex: number;
}

export class LiveSegments {
  private readonly live: boolean[];
  private lastEntry = -1;
  private lastSpan = -1;

  /** `spans`: the closed segments when the snapshot was taken, in log order, not overlapping. */
  constructor(private readonly spans: readonly EntrySpan[]) {
    this.live = spans.map(() => false);
  }

  /** A live message's body is in entry `entryIndex`. */
  add(entryIndex: number): void {
    if (entryIndex === this.lastEntry) return;
    this.lastEntry = entryIndex;
    // Live entries come in runs (a batch, a queue's messages in order): the last segment first.
    const k = spanIndexOf(this.spans, entryIndex, this.lastSpan);
    if (k < 0) return; // in the tail segment, or newer: never released by this snapshot anyway
    this.live[k] = true;
    this.lastSpan = k;
  }

  /** True unless the segment holding exactly [firstIndex, lastIndex] was seen and holds no live entry. */
  keeps(firstIndex: number, lastIndex: number): boolean {
    const k = spanIndexOf(this.spans, firstIndex, -1);
    if (k < 0 || this.spans[k]!.lastIndex !== lastIndex) return true; // not a segment this snapshot saw
    return this.live[k]!;
  }
}

/**
 * The span holding `entryIndex` in `spans` (in log order, not overlapping), or -1. `hint` (a span
 * index, or -1) is tried first: look-ups come in runs of nearby entries.
 */
export function spanIndexOf(spans: readonly EntrySpan[], entryIndex: number, hint: number): number {
  const h = spans[hint];
  if (h !== undefined && h.firstIndex <= entryIndex && entryIndex <= h.lastIndex) return hint;
  let lo = 0;
  let hi = spans.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = spans[mid]!;
    if (entryIndex < s.firstIndex) hi = mid - 1;
    else if (entryIndex > s.lastIndex) lo = mid + 1;
    else return mid;
  }
  return -1;
}
