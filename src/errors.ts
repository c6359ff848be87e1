/**
 * Every error raftline raises on purpose, in one registry. Each class has a stable `code` that
 * crosses threads and sockets as `{ code, message, details }` and is rebuilt by `fromWire`.
 * Codes are never reused once retired.
 */

export type ErrorDetails = Record<string, unknown>;

export interface WireError {
  code: string;
  message: string;
  details?: ErrorDetails;
}

export class RaftlineError extends Error {
  readonly code: string = 'RAFTLINE_ERROR';
  readonly details: ErrorDetails;
  constructor(message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }
  toWire(): WireError {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** The server is not the leader; `details.leaderId` / `details.leaderAddress` suggest who is. */
export class NotLeaderError extends RaftlineError {
  override readonly code = 'NOT_LEADER';
  get leaderId(): string | undefined { return this.details['leaderId'] as string | undefined; }
  get leaderAddress(): string | undefined { return this.details['leaderAddress'] as string | undefined; }
}

/** The leader has not yet committed an entry of its term, so it cannot serve this request yet. */
export class LeaderNotReadyError extends RaftlineError {
  override readonly code = 'LEADER_NOT_READY';
}

/** A bound (pending requests by count or bytes) is full; the client backs off and retries. */
export class ResourceUnavailableError extends RaftlineError {
  override readonly code = 'RESOURCE_UNAVAILABLE';
}

/** The state machine threw (startTransaction, preAppendTransaction, applyTransaction or query). */
export class StateMachineError extends RaftlineError {
  override readonly code = 'STATE_MACHINE_ERROR';
}

/** A message named a group this server does not run. */
export class GroupMismatchError extends RaftlineError {
  override readonly code = 'GROUP_MISMATCH';
}

/** An entry is larger than the configured limit; `details.sizeBytes` and `details.limitBytes`. */
export class EntryTooLargeError extends RaftlineError {
  override readonly code = 'ENTRY_TOO_LARGE';
}

/** A request did not complete before its deadline. */
export class TimeoutError extends RaftlineError {
  override readonly code = 'TIMEOUT';
}

/** The client's retry policy gave up; `details.cause` holds the last error. */
export class RetryFailureError extends RaftlineError {
  override readonly code = 'RETRY_FAILURE';
}

/** A configuration or command-line argument is invalid. */
export class ConfigurationError extends RaftlineError {
  override readonly code = 'CONFIGURATION';
}

/** The on-disk log is damaged before its tail; `details.file` and `details.offset` locate it. */
export class LogCorruptionError extends RaftlineError {
  override readonly code = 'LOG_CORRUPTION';
}

/** A disk operation failed; the server stops. */
export class DiskFailureError extends RaftlineError {
  override readonly code = 'DISK_FAILURE';
}

/** An actor (worker) died or broke an invariant; the server stops. */
export class ActorFailureError extends RaftlineError {
  override readonly code = 'ACTOR_FAILURE';
}

/** The server or client is closed. */
export class ClosedError extends RaftlineError {
  override readonly code = 'CLOSED';
}

/** A frame or message could not be decoded or validated. */
export class MalformedMessageError extends RaftlineError {
  override readonly code = 'MALFORMED_MESSAGE';
}

/** A server message came from an id that is not a voter of the group. */
export class UnknownPeerError extends RaftlineError {
  override readonly code = 'UNKNOWN_PEER';
}

/**
 * A well-formed server message that no correct member sends: a second leader for a term that
 * has one (election safety, Raft §5.2). Refused, and the receiver's state is left as it was.
 */
export class ProtocolViolationError extends RaftlineError {
  override readonly code = 'PROTOCOL_VIOLATION';
}

/**
 * A term at or over the ceiling (limits.ts, termMax) in `raft-meta` at start: written by a forged
 * or damaged message. `details.file`, `details.term`; `raftline reset-term` recovers the group.
 */
export class TermCeilingError extends RaftlineError {
  override readonly code = 'TERM_CEILING';
}

/**
 * A write named a client session the servers do not hold: it was ended (the client closed) or
 * forgotten after idling past `sessionIdleMsMax`, or never opened. Decided at apply time, the same
 * on every replica: this copy of the call was not applied. `details.session` names the session.
 */
export class SessionExpiredError extends RaftlineError {
  override readonly code = 'SESSION_EXPIRED';
}

/**
 * A snapshot that cannot be used: a chunk whose CRC32C does not match, a chunk out of order or
 * over the size its manifest gives, a manifest naming a file outside the snapshot folder, a
 * snapshot below what the receiver has committed. Nothing of it is installed. `details.reason`.
 */
export class SnapshotRejectedError extends RaftlineError {
  override readonly code = 'SNAPSHOT_REJECTED';
}

/**
 * At start, no valid snapshot and a log that does not reach back to index 1 (or to the snapshot):
 * the state cannot be rebuilt. `details.file` names what is damaged or missing.
 */
export class SnapshotCorruptionError extends RaftlineError {
  override readonly code = 'SNAPSHOT_CORRUPTION';
}

/**
 * The leader is handing its leadership to another server (a transfer or a step-down) and takes no
 * write until that ends, within the transfer's timeout: retry, here or at the new leader.
 * `details.target` names the server taking over, `details.retryAfterMs` when to try again.
 */
export class TransferInProgressError extends RaftlineError {
  override readonly code = 'TRANSFER_IN_PROGRESS';
}

/**
 * A leadership transfer did not happen: `details.reason` is `timeout` (the target did not catch up
 * or win within the timeout; the leader took writes again), `otherLeader` (another server won the
 * election), `notVoter` (the target is not a voter) or `noFollower` (no server to hand over to).
 */
export class TransferFailedError extends RaftlineError {
  override readonly code = 'TRANSFER_FAILED';
}

/**
 * A membership change that was not made: `details.reason` is `inProgress` (another change is
 * under way), `invalid` (no voter left, an id twice, two servers on one address, ...; the message
 * says which), `catchUpTimeout` (a new server did not catch up within the bound; it was removed
 * again), `transferring` (a leadership transfer is under way) or `unknownMember`.
 */
export class MembershipChangeError extends RaftlineError {
  override readonly code = 'MEMBERSHIP_CHANGE_REFUSED';
}

/**
 * A request beyond its connection's role (src/shell/tls-identity.ts: read, write, admin, granted
 * by the client certificate), or a TLS connection without an acceptable certificate;
 * `details.role` and `details.needed` say which. Nothing was appended.
 */
export class PermissionDeniedError extends RaftlineError {
  override readonly code = 'PERMISSION_DENIED';
}

type ErrorClass = new (message: string, details?: ErrorDetails) => RaftlineError;

/** The registry: code -> class. A test checks it against the README. */
export const errorClasses: Readonly<Record<string, ErrorClass>> = {
  NOT_LEADER: NotLeaderError,
  LEADER_NOT_READY: LeaderNotReadyError,
  RESOURCE_UNAVAILABLE: ResourceUnavailableError,
  STATE_MACHINE_ERROR: StateMachineError,
  GROUP_MISMATCH: GroupMismatchError,
  ENTRY_TOO_LARGE: EntryTooLargeError,
  TIMEOUT: TimeoutError,
  RETRY_FAILURE: RetryFailureError,
  CONFIGURATION: ConfigurationError,
  LOG_CORRUPTION: LogCorruptionError,
  DISK_FAILURE: DiskFailureError,
  ACTOR_FAILURE: ActorFailureError,
  CLOSED: ClosedError,
  MALFORMED_MESSAGE: MalformedMessageError,
  UNKNOWN_PEER: UnknownPeerError,
  PROTOCOL_VIOLATION: ProtocolViolationError,
  TERM_CEILING: TermCeilingError,
  SESSION_EXPIRED: SessionExpiredError,
  SNAPSHOT_REJECTED: SnapshotRejectedError,
  SNAPSHOT_CORRUPTION: SnapshotCorruptionError,
  TRANSFER_IN_PROGRESS: TransferInProgressError,
  TRANSFER_FAILED: TransferFailedError,
  MEMBERSHIP_CHANGE_REFUSED: MembershipChangeError,
  PERMISSION_DENIED: PermissionDeniedError,
};

/** Rebuilds an error from its wire form; an unknown code becomes a plain RaftlineError. */
export function errorFromWire(wire: WireError): RaftlineError {
  const cls = errorClasses[wire.code];
  if (cls) return new cls(wire.message, wire.details ?? {});
  const error = new RaftlineError(wire.message, wire.details ?? {});
  (error as { code: string }).code = wire.code;
  return error;
}

/** The wire form of any thrown value. */
export function errorToWire(error: unknown): WireError {
  if (error instanceof RaftlineError) return error.toWire();
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'STATE_MACHINE_ERROR', message, details: {} };
}

/** Always-on assertion: a broken invariant stops the actor, and the supervisor stops the server. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant broken: ${message}`);
}
