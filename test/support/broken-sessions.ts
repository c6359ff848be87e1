/**
 * Deliberately broken session tables for the updater, so the simulator's tests can show that its
 * checkers catch what a wrong session rule does (a check that cannot fail proves nothing).
 */
import { SessionTable, type Session } from '../../src/actors/session-table.js';

/**
 * Opens a session for any write of a session it does not hold, instead of refusing it: a late
 * copy of a write of a forgotten session is applied again.
 */
export class RevivingSessionTable<V> extends SessionTable<V> {
  override touch(id: string): Session<V> | undefined {
    return super.touch(id) ?? this.add(id);
  }
}

/** Forgets sessions after a quarter of the bound the clock entry carries: too early. */
export class HastySessionTable<V> extends SessionTable<V> {
  override clock(logTimeMs: number, idleMsMax: number): number {
    return super.clock(logTimeMs, idleMsMax / 4);
  }
}

export const makeRevivingSessions = (): SessionTable<unknown> => new RevivingSessionTable();
export const makeHastySessions = (): SessionTable<unknown> => new HastySessionTable();
