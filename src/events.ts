/**
 * What a server tells its embedder (`server.on(...)`) and its state machine (the `notify...`
 * hooks, src/state-machine.ts) about leadership, membership and replication health, after
 * Ratis's EventApi / LeaderEventApi. The payloads are plain data; the order is documented on
 * `ServerEvents`.
 */

/** A member of the group, as the configuration names it. */
export interface MemberAddress {
  id: string;
  address: string;
}

/** The (term, leader) this server knows changed: a new leader, or none while an election runs. */
export interface LeaderChangedEvent {
  term: number;
  /** The leader of `term`, this server's own id when it leads; null while no leader is known. */
  leaderId: string | null;
}

/**
 * This server leads `term` and has applied the term's no-op entry (`index`): its state machine is
 * current with everything committed before the term, and it serves linearizable reads.
 */
export interface LeaderReadyEvent {
  term: number;
  index: number;
}

/** The group's configuration in force here, from the log entry at `index` (0: from the command line). */
export interface ConfigurationChangedEvent {
  voters: MemberAddress[];
  learners: MemberAddress[];
  /** While a change is joint (C_old,new): the old voters, whose majority must agree too; null otherwise. */
  outgoing: MemberAddress[] | null;
  /** The index of the configuration's log entry; 0 for the one the server was started with. */
  index: number;
}

/** On a leader: a follower's match index fell more than `followerSlowLagEntries` behind the commit index. */
export interface FollowerSlowEvent {
  follower: string;
  /** commitIndex - matchIndex. */
  lag: number;
  matchIndex: number;
  commitIndex: number;
}

/** On a leader: a follower reported slow is back below half the bound. */
export type FollowerCaughtUpEvent = FollowerSlowEvent;

/** No leader has been known on this server for longer than `noLeaderMsMax`. */
export interface NoLeaderEvent {
  /** How long, in milliseconds, this server has known no leader (since it lost the last one, or started). */
  sinceMs: number;
  /** This server's term when the bound passed. */
  term: number;
}

/**
 * The events of a RaftServer and their payloads. Their order, on one server:
 *  - `configurationChanged` first, when the server starts (the configuration in force), before any other;
 *  - `leaderChanged` whenever the known (term, leader) changes, to null when an election starts;
 *  - `leaderReady` at most once per term, on its leader, after that term's `leaderChanged`;
 *  - `followerSlow` then `followerCaughtUp`, alternating per follower, only while this server leads;
 *  - `noLeader` once per stretch without a leader, ended by the next `leaderChanged` naming one.
 * The state machine's hook for an event runs before the server's listeners for it.
 */
export interface ServerEvents {
  leaderChanged: LeaderChangedEvent;
  leaderReady: LeaderReadyEvent;
  configurationChanged: ConfigurationChangedEvent;
  followerSlow: FollowerSlowEvent;
  followerCaughtUp: FollowerCaughtUpEvent;
  noLeader: NoLeaderEvent;
}

export type ServerEventName = keyof ServerEvents;

/** Every event, in the order `ServerEvents` lists them. */
export const serverEventNames = [
  'leaderChanged', 'leaderReady', 'configurationChanged', 'followerSlow', 'followerCaughtUp', 'noLeader',
] as const satisfies readonly ServerEventName[];
export type ServerEventListener<E extends ServerEventName> = (event: ServerEvents[E]) => void;
