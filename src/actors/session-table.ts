/**
 * The updater's client sessions: per session, its calls' outcomes (the exactly-once table) and
 * when it was last active in log time. Every replica applies the same log, so every replica's
 * table opens, ends and forgets the same sessions at the same entries:
 *  - a session is opened by a sessionOpen entry and named after it: the client's id and the
 *    entry's log index (`<clientId>@<index>`), so no two opens ever make the same session, and a
 *    late copy of an open (a retry that reached a new leader) makes a new, unused session instead
 *    of reviving one that was forgotten — a forgotten session's writes can never be applied;
 *  - it ends with a sessionEnd entry (the client's close);
 *  - it is forgotten at a clock entry once it has been idle longer than the bound the entry
 *    carries. Log time moves only at clock entries (the leader's monotonic time, continued from
 *    one leader to the next), and never faster than real time. A session's idle time counts from
 *    the first clock entry after its last entry (its last activity came before that entry was
 *    appended), so it is never forgotten before it has really been idle for the bound.
 * A write costs one map lookup and one store (`period`); a clock entry visits every session
 * (clock entries come a few times a minute while sessions exist, none otherwise).
 */
import { CallTable } from '../call-table.js';
import type { UpdaterSessionsReport } from '../messages/messages.js';

export interface Session<V> {
  readonly calls: CallTable<V>;
  /** Clock entries applied before this session's latest entry. */
  period: number;
  /** Log time from which this session counts as idle: the first clock entry after its latest entry. */
  idleSinceMs: number;
}

export class SessionTable<V> {
  private readonly sessions = new Map<string, Session<V>>();
  /** Clock entries applied so far. */
  private period = 0;
  private logTime = 0;
  private opened = 0;
  private ended = 0;
  private expired = 0;
  private forgotten: string[] = [];
  private changed = false;

  get size(): number {
    return this.sessions.size;
  }

  /** The log's time: the latest clock entry's (ms; 0 before the first). */
  get logTimeMs(): number {
    return this.logTime;
  }

  /** Opens the session of the sessionOpen entry of `clientId` at `index`; returns its id. */
  open(clientId: string, index: number): string {
    const id = `${clientId}@${index}`;
    this.add(id);
    return id;
  }

  /** Holds a new session `id`, active from now. */
  protected add(id: string): Session<V> {
    const session: Session<V> = { calls: new CallTable(), period: this.period, idleSinceMs: Infinity };
    this.sessions.set(id, session);
    this.opened++;
    this.changed = true;
    return session;
  }

  /** The session `id`, marked active at this entry; undefined when it is not held. */
  touch(id: string): Session<V> | undefined {
    const session = this.sessions.get(id);
    if (session !== undefined) session.period = this.period;
    return session;
  }

  /** Ends session `id` (a client's close); an end of a session not held changes nothing. */
  end(id: string): void {
    if (!this.sessions.delete(id)) return;
    this.ended++;
    this.forgotten.push(id);
    this.changed = true;
  }

  /**
   * A clock entry: the log's time moves to `logTimeMs` (never back), and every session idle for
   * more than `idleMsMax` of log time is forgotten. Returns how many were.
   */
  clock(logTimeMs: number, idleMsMax: number): number {
    const now = Math.max(this.logTime, logTimeMs);
    this.logTime = now;
    const closing = this.period;
    this.period++;
    this.changed = true;
    let expired = 0;
    for (const [id, session] of this.sessions) {
      if (session.period === closing) {
        // Active since the previous clock entry: idle, if at all, only from this one on.
        session.idleSinceMs = now;
      } else if (now - session.idleSinceMs > idleMsMax) {
        this.sessions.delete(id);
        this.forgotten.push(id);
        expired++;
      }
    }
    this.expired += expired;
    return expired;
  }

  /** What changed since the last report (for the server: gauges, counters, its retry cache), or null. */
  takeReport(): UpdaterSessionsReport | null {
    if (!this.changed) return null;
    this.changed = false;
    const forgotten = this.forgotten;
    this.forgotten = [];
    return { held: this.sessions.size, logTimeMs: this.logTime, opened: this.opened, ended: this.ended, expired: this.expired, forgotten };
  }
}
