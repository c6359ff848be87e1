/**
 * When a leader appends a clock entry, and the time it carries (see src/actors/session-table.ts).
 *
 * The log's time is the leaders' monotonic time, continued from one leader to the next: a new
 * leader waits until its updater has applied its term's no-op (every clock entry of earlier
 * leaders that will ever be applied comes before it), takes the log's time there as its base,
 * and from then on writes base + its own monotonic time since. So log time never runs ahead of
 * real time (the election gap and a crashed leader's last unwritten stretch are simply not
 * counted, which only makes sessions live longer), a server's wall clock never matters, and
 * every updater decides expiry from the same numbers.
 *
 * A clock entry is appended every `sessionClockPeriodMs` while the updater holds sessions, and
 * never on a cluster that holds none: an idle cluster's log does not grow.
 */
import { sessionClockPeriodMs } from '../limits.js';

export class SessionClock {
  private term = 0;
  private noopIndex = 0;
  /** Log time at this term's start, and when (this server's monotonic ms) it was taken. */
  private base: { logTimeMs: number; atMs: number } | null = null;
  private lastAppendMs = 0;
  private readonly periodMs: number;

  /** @param now this server's monotonic clock, ms (the simulator's virtual one in simulation) */
  constructor(private readonly now: () => number, sessionIdleMsMax: number) {
    this.periodMs = sessionClockPeriodMs({ sessionIdleMsMax });
  }

  /** This server leads `term` from its no-op at `noopIndex`. */
  onLeaderStart(term: number, noopIndex: number): void {
    this.term = term;
    this.noopIndex = noopIndex;
    this.base = null;
  }

  /**
   * Asked on every tick while this server leads `term`: the log time of the clock entry to append
   * now, or null. `appliedIndex`, `sessionsHeld` and `logTimeMs` are the updater's latest report.
   */
  due(term: number, appliedIndex: number, sessionsHeld: number, logTimeMs: number): number | null {
    if (term !== this.term) return null;
    const nowMs = this.now();
    if (this.base === null) {
      if (appliedIndex < this.noopIndex) return null;
      this.base = { logTimeMs, atMs: nowMs };
      this.lastAppendMs = nowMs;
      return null;
    }
    if (sessionsHeld === 0 || nowMs - this.lastAppendMs < this.periodMs) return null;
    this.lastAppendMs = nowMs;
    return this.base.logTimeMs + (nowMs - this.base.atMs);
  }
}
