/**
 * The terms of the log as compact runs: entries [runs[i].firstIndex, runs[i+1].firstIndex) have
 * runs[i].term. Terms only change at elections, so a log of millions of entries has a handful of
 * runs; this is the shape the consensus core takes (`TermRun` in core/types.ts) and lets `termAt`
 * be a binary search instead of a term per entry in memory.
 */
import type { TermRun } from '../core/types.js';

export class TermRunIndex {
  /** Invariant: firstIndex strictly increasing, term strictly increasing. */
  private readonly list: TermRun[];

  constructor(runs: readonly TermRun[]) {
    this.list = runs.map((run) => ({ firstIndex: run.firstIndex, term: run.term }));
  }

  /** Term of the last entry, or 0 when there is none. */
  lastTerm(): number {
    return this.list[this.list.length - 1]?.term ?? 0;
  }

  /** Records the entry at `index` (the next one) with `term` (not lower than lastTerm). */
  append(index: number, term: number): void {
    const last = this.list[this.list.length - 1];
    if (last === undefined || last.term !== term) this.list.push({ firstIndex: index, term });
  }

  /** Term of `index`, assumed within the log; undefined before the first run. */
  termAt(index: number): number | undefined {
    let low = 0;
    let high = this.list.length - 1;
    if (high < 0 || this.list[0]!.firstIndex > index) return undefined;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.list[middle]!.firstIndex <= index) low = middle;
      else high = middle - 1;
    }
    return this.list[low]!.term;
  }

  /** Forgets every entry at or after `index`. */
  truncateFrom(index: number): void {
    while (this.list.length > 0 && this.list[this.list.length - 1]!.firstIndex >= index) this.list.pop();
  }

  /** A copy of the runs, so callers cannot disturb the index. */
  runs(): TermRun[] {
    return this.list.map((run) => ({ firstIndex: run.firstIndex, term: run.term }));
  }
}
