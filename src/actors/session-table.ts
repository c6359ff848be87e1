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
import type { WireError } from '../errors.js';
import { decode, encode } from '../messages/codec.js';
import type { UpdaterSessionsReport } from '../messages/messages.js';

/** The format of `SessionTable.toSnapshot`; a change to it takes a new version. */
const SNAPSHOT_VERSION = 1;

/**
 * A session in a snapshot: id, period, idleSinceMs (null for Infinity: active since the latest
 * clock entry), the call ids oldest first, and their outcomes as `encodeOutcome` made them.
 */
type SessionRecord = [string, number, number | null, number[], unknown[]];

/** The table in a snapshot (msgpack): the sessions in the table's order, which clock entries visit them in. */
interface SessionTableRecord {
  version: number;
  period: number;
  logTimeMs: number;
  sessions: SessionRecord[];
}

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

  /**
   * The replicated part of the table, for a snapshot: every session (id, calls with outcomes,
   * period, idleSinceMs) in the table's order, the table's period and log time. `encodeOutcome`
   * turns an outcome into something msgpack carries (`encodeCallOutcome` for the updater's).
   * The counters opened, ended and expired are this process's counts since it started (the
   * server's gauges), not replicated state: they are not carried.
   */
  toSnapshot(encodeOutcome: (outcome: V) => unknown): Uint8Array {
    const sessions: SessionRecord[] = [];
    for (const [id, session] of this.sessions) {
      const { ids, values } = session.calls.entries();
      const idleSinceMs = session.idleSinceMs === Infinity ? null : session.idleSinceMs;
      sessions.push([id, session.period, idleSinceMs, ids, values.map(encodeOutcome)]);
    }
    const record: SessionTableRecord = { version: SNAPSHOT_VERSION, period: this.period, logTimeMs: this.logTime, sessions };
    return encode(record);
  }

  /**
   * Makes the table hold what `toSnapshot` wrote, so it behaves from here on as the table that
   * wrote it for any later open, touch, end or clock. Usually called on a new table (the updater's
   * factory may make a subclass, so this is an instance method); sessions it held that the
   * snapshot lacks are reported forgotten, so the server's retry cache drops them too. The
   * counters stay this process's own. Throws on bytes that are not such a snapshot.
   */
  loadSnapshot(bytes: Uint8Array, decodeOutcome: (encoded: unknown) => V): void {
    const record = decode(bytes) as Partial<SessionTableRecord> | null;
    if (record === null || typeof record !== 'object' || record.version !== SNAPSHOT_VERSION) {
      throw new Error(`session table snapshot: expected version ${SNAPSHOT_VERSION}`);
    }
    const { period, logTimeMs, sessions } = record;
    if (!isCount(period) || typeof logTimeMs !== 'number' || !Number.isFinite(logTimeMs) || !Array.isArray(sessions)) {
      throw new Error('session table snapshot: period, logTimeMs and sessions are malformed');
    }
    const loaded = new Map<string, Session<V>>();
    for (const item of sessions as unknown[]) {
      if (!Array.isArray(item) || item.length !== 5) throw new Error('session table snapshot: a session is not [id, period, idleSinceMs, callIds, outcomes]');
      const [id, sessionPeriod, idleSinceMs, callIds, outcomes] = item as unknown[];
      if (typeof id !== 'string' || loaded.has(id) || !isCount(sessionPeriod) || sessionPeriod > period
        || (idleSinceMs !== null && (typeof idleSinceMs !== 'number' || !Number.isFinite(idleSinceMs)))
        || !Array.isArray(callIds) || !Array.isArray(outcomes)) {
        throw new Error(`session table snapshot: session ${String(id)} is malformed`);
      }
      const calls = CallTable.fromEntries(callIds as number[], (outcomes as unknown[]).map(decodeOutcome));
      loaded.set(id, { calls, period: sessionPeriod, idleSinceMs: idleSinceMs ?? Infinity });
    }
    for (const id of this.sessions.keys()) if (!loaded.has(id)) this.forgotten.push(id);
    this.sessions.clear();
    for (const [id, session] of loaded) this.sessions.set(id, session);
    this.period = period;
    this.logTime = logTimeMs;
    this.changed = true;
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

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * A call's outcome once it is known, as the updater keeps it in a session's calls (its
 * `CallOutcome` with `settled` null): what a snapshot carries. The updater takes a snapshot only
 * when no apply is unsettled.
 */
export interface SettledCallOutcome {
  ok: boolean;
  result: Uint8Array | null;
  error: WireError | null;
  settled: null;
}

/** The outcome of a call that applied with no result: shared by every such call loaded, never changed. */
const appliedWithoutResult: SettledCallOutcome = Object.freeze({ ok: true, result: null, error: null, settled: null });

/**
 * An outcome for `SessionTable.toSnapshot`: `[ok, result, error]`. Throws on an outcome still
 * unsettled (its result is not known yet, so a snapshot of it would be wrong).
 */
export function encodeCallOutcome(outcome: { ok: boolean; result: Uint8Array | null; error: WireError | null; settled: unknown }): unknown {
  if (outcome.settled !== null) throw new Error('session table snapshot: a call outcome is still unsettled');
  const error = outcome.error === null ? null
    : outcome.error.details === undefined ? { code: outcome.error.code, message: outcome.error.message }
      : { code: outcome.error.code, message: outcome.error.message, details: outcome.error.details };
  return [outcome.ok, outcome.result, error];
}

/**
 * The outcome `encodeCallOutcome` wrote, for `SessionTable.loadSnapshot`. A result is copied out
 * of the snapshot's bytes (it goes to a client as a reply of its own). The common outcome,
 * applied with no result, is one shared frozen object, as the updater's own.
 */
export function decodeCallOutcome(encoded: unknown): SettledCallOutcome {
  if (!Array.isArray(encoded) || encoded.length !== 3 || typeof encoded[0] !== 'boolean') {
    throw new Error('session table snapshot: a call outcome is not [ok, result, error]');
  }
  const [ok, result, error] = encoded as [boolean, unknown, unknown];
  if (result !== null && !(result instanceof Uint8Array)) throw new Error('session table snapshot: a call result is not bytes');
  if (error !== null && !isWireError(error)) throw new Error('session table snapshot: a call error is not { code, message, details? }');
  if (ok && result === null && error === null) return appliedWithoutResult;
  return { ok, result: result === null ? null : new Uint8Array(result), error, settled: null };
}

function isWireError(value: unknown): value is WireError {
  if (value === null || typeof value !== 'object') return false;
  const { code, message, details } = value as Partial<WireError>;
  return typeof code === 'string' && typeof message === 'string'
    && (details === undefined || (details !== null && typeof details === 'object' && !Array.isArray(details)));
}
