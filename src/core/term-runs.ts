/**
 * The terms of a log, kept as runs of equal terms (a leader writes long runs of one term, so a log
 * of millions of entries is a handful of runs): the consensus core's view of its log, the
 * appender's, and the durable log store's own index of the terms it holds (log/segmented-log.ts),
 * one structure for all three. Payloads never come here; the log actor owns them. Lookups are a
 * binary search over the runs.
 *
 * Invariants (checked on every mutation): runs are sorted by strictly increasing `firstIndex`,
 * adjacent runs have strictly increasing terms (a Raft log's terms never decrease, §5.3), every
 * run starts at or before `lastIndex`, and an empty log has no runs. Entries before the first run
 * (a log that starts after a snapshot) have no known term here.
 */

import { assert } from '../errors.js';
import type { TermRun } from './types.js';

export class TermLog {
  private readonly termRuns: TermRun[] = [];
  private lastEntryIndex = 0;

  constructor(runs: readonly TermRun[] = [], lastIndex = 0) {
    assert(Number.isInteger(lastIndex) && lastIndex >= 0, `bad lastIndex ${lastIndex}`);
    // No runs with a last index: a log that holds no entry after a snapshot (or a purge): the
    // terms it knows start with the next entry appended.
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i]!;
      const next = runs[i + 1];
      const end = next === undefined ? lastIndex : next.firstIndex - 1;
      assert(run.firstIndex >= 1 && run.term >= 1, `bad run ${JSON.stringify(run)}`);
      assert(end >= run.firstIndex, `empty or out-of-order run ${JSON.stringify(run)}`);
      // Adjacent runs of one term are merged, so `firstIndexOfTerm` sees the whole term.
      this.pushRun(run.firstIndex, run.term);
    }
    this.lastEntryIndex = lastIndex;
  }

  get lastIndex(): number {
    return this.lastEntryIndex;
  }

  /** Term of the last entry; 0 for an empty log. */
  get lastTerm(): number {
    const last = this.termRuns[this.termRuns.length - 1];
    return last === undefined ? 0 : last.term;
  }

  /**
   * The first index whose term is known: 1 for a log that starts at the beginning; for a log that
   * starts after a snapshot, the snapshot's index (its last entry's term is kept as the first run)
   * or the first entry the log still holds.
   */
  get firstKnownIndex(): number {
    return this.termRuns[0]?.firstIndex ?? this.lastEntryIndex + 1;
  }

  /**
   * The log restarts after a snapshot at `index` of `term` (a follower installed one the log did
   * not continue): the snapshot's last entry is all that is left, as a run of its own.
   */
  resetTo(index: number, term: number): void {
    assert(Number.isInteger(index) && index >= 1 && Number.isInteger(term) && term >= 1, `bad snapshot point (${index}, ${term})`);
    this.termRuns.length = 0;
    this.termRuns.push({ firstIndex: index, term });
    this.lastEntryIndex = index;
  }

  /** Term of the entry at `index`: 0 for index 0, undefined beyond `lastIndex` or before the first run. */
  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    if (index < 0 || index > this.lastEntryIndex) return undefined;
    const position = this.runPosition(index);
    return position < 0 ? undefined : this.termRuns[position]!.term;
  }

  /** First index of the run that holds `index` (the first entry of that term, since runs are merged). */
  firstIndexOfTerm(index: number): number {
    assert(index >= 1 && index <= this.lastEntryIndex, `index ${index} outside the log (last ${this.lastEntryIndex})`);
    const position = this.runPosition(index);
    assert(position >= 0, `index ${index} is before the first known run`);
    return this.termRuns[position]!.firstIndex;
  }

  /**
   * Appends entries with the given terms at `firstIndex`, which must be `lastIndex + 1`. Only a
   * change of term is checked and recorded (pushRun): an entry of the last run's term is valid by
   * construction, and a batch is almost always one term, so its cost is a comparison per entry
   * (the log store and every follower call this for every entry).
   */
  append(firstIndex: number, terms: readonly number[]): void {
    assert(firstIndex === this.lastEntryIndex + 1, `append at ${firstIndex}, expected ${this.lastEntryIndex + 1}`);
    let lastTerm = this.lastTerm;
    for (let i = 0; i < terms.length; i++) {
      const term = terms[i]!;
      if (term === lastTerm) continue;
      this.pushRun(firstIndex + i, term);
      lastTerm = term;
    }
    this.lastEntryIndex += terms.length;
  }

  /** Appends `count` entries of one term at `firstIndex` (`lastIndex + 1`). */
  appendRun(firstIndex: number, count: number, term: number): void {
    assert(firstIndex === this.lastEntryIndex + 1, `append at ${firstIndex}, expected ${this.lastEntryIndex + 1}`);
    assert(Number.isInteger(count) && count >= 0, `bad count ${count}`);
    if (count === 0) return;
    this.pushRun(firstIndex, term);
    this.lastEntryIndex += count;
  }

  /** Removes the entries from `index` to the end; `index` in [1, lastIndex + 1]. */
  truncateFrom(index: number): void {
    assert(index >= 1 && index <= this.lastEntryIndex + 1, `truncate from ${index} outside [1, ${this.lastEntryIndex + 1}]`);
    while (this.termRuns.length > 0 && this.termRuns[this.termRuns.length - 1]!.firstIndex >= index) {
      this.termRuns.pop();
    }
    this.lastEntryIndex = index - 1;
  }

  /** A copy of the runs, for persistence checks and tests. */
  runs(): TermRun[] {
    return this.termRuns.map((run) => ({ firstIndex: run.firstIndex, term: run.term }));
  }

  /** Starts a run of `term` at `index` unless the last run already has that term. */
  private pushRun(index: number, term: number): void {
    assert(Number.isInteger(term) && term >= 1, `bad term ${term}`);
    const last = this.termRuns[this.termRuns.length - 1];
    if (last !== undefined) {
      assert(term >= last.term, `term ${term} at ${index} after term ${last.term}: log terms never decrease (§5.3)`);
      assert(index > last.firstIndex, `run at ${index} does not follow run at ${last.firstIndex}`);
      if (term === last.term) return;
    }
    this.termRuns.push({ firstIndex: index, term });
  }

  /** Position of the run holding `index` (the last run starting at or before it), or -1. */
  private runPosition(index: number): number {
    let low = 0;
    let high = this.termRuns.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.termRuns[middle]!.firstIndex <= index) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }
}
