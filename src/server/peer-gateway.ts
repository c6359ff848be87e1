/**
 * Who may speak as a member. Only the group's other voters take part in elections and
 * replication, and only on a connection that opened with a hello naming them: the hello binds the
 * connection to one member, and every later message on it must be from that member. So a socket
 * that never said hello cannot speak for a member, and one member's connection cannot speak for
 * another. On a TLS port the hello itself is authenticated: it must name the server its
 * connection's certificate names (src/shell/tls-identity.ts), else the connection is closed
 * (counted `wrongId`, or `notPeer` for a client's certificate); so no message on a connection can
 * claim a sender other than its certificate's. Membership is still checked message by message
 * below, as on a plaintext port: a certified server outside the configuration is heard only as a
 * leader (thesis §4.1). The server counts, logs and answers a refusal; a violation by a connection
 * that claims membership also closes it.
 */
import { PermissionDeniedError, ProtocolViolationError, UnknownPeerError, type RaftlineError } from '../errors.js';
import type { TlsRefusalReason } from '../shell/tls-identity.js';
import { Kind, kindName } from '../messages/kinds.js';
import type {
  AppendEntriesMessage, InstallSnapshotMessage, PeerHelloMessage, ReadIndexReplyMessage, ReadIndexRequestMessage, TimeoutNowMessage,
  VoteRequestMessage, VoteResponseMessage,
} from '../messages/messages.js';
import type { Inbound } from './listener.js';

export type PeerInbound =
  AppendEntriesMessage | InstallSnapshotMessage | VoteRequestMessage | VoteResponseMessage | TimeoutNowMessage | PeerHelloMessage
  | ReadIndexRequestMessage | ReadIndexReplyMessage;

export interface PeerRefusal {
  error: RaftlineError;
  /** Close the connection after the refusal: it claimed a membership it broke. */
  close: boolean;
  /** On a TLS port: the hello contradicted the connection's certificate (counted by this reason). */
  tlsReason?: TlsRefusalReason;
}

function notMember(from: string, groupId: string): RaftlineError {
  return new UnknownPeerError(`${from} is not a member of group ${groupId}`, { from });
}

/**
 * Null when `message` may be taken from `connection` (a hello identifies the connection as its
 * member's); otherwise why not. `isOtherMember` says whether an id is another member of the group
 * in this server's configuration, `selfId` is this server's. Election messages (votes, TimeoutNow)
 * count only from members; a leader's AppendEntries and InstallSnapshot are taken from any other
 * id (Raft thesis §4.1: a server whose configuration is behind, catching up through old entries,
 * must still hear the leader a later configuration elected). Read-index requests and replies
 * (follower reads) count only from members, like votes.
 */
export function peerMessageRefusal(connection: Inbound, message: PeerInbound, groupId: string,
  isOtherMember: (id: string) => boolean, selfId: string): PeerRefusal | null {
  if (message.k === Kind.PeerHello) {
    const identity = connection.identity;
    if (identity !== null && (identity.kind !== 'peer' || identity.id !== message.from)) {
      const certified = identity.kind === 'peer' ? `server ${identity.id}` : identity.kind === 'client' ? `client ${identity.name}` : 'no one';
      return { error: new PermissionDeniedError(`a hello from ${message.from} on a connection whose certificate names ${certified}`,
        { from: message.from, certified }), close: true, tlsReason: identity.kind === 'peer' ? 'wrongId' : 'notPeer' };
    }
    const first = connection.peerId === null && connection.messagesReceived === 1;
    if (!isOtherMember(message.from)) {
      // A first hello binds its connection even when its sender is no member now: membership is
      // checked message by message, so a server being added is heard on the connection it opened
      // as soon as the configuration names it (else it would be unheard until it reconnects).
      if (first) connection.identifyPeer(message.from);
      return { error: notMember(message.from, groupId), close: false };
    }
    if (!first) {
      return { error: new ProtocolViolationError(`a hello from ${message.from} that is not the first message of its connection`,
        { from: message.from, peer: connection.peerId }), close: true };
    }
    connection.identifyPeer(message.from);
    return null;
  }
  const leaderTraffic = message.k === Kind.AppendEntries || message.k === Kind.InstallSnapshot;
  if (leaderTraffic ? message.from === selfId : !isOtherMember(message.from) || (message.k === Kind.VoteRequest && message.candidateId !== message.from)) {
    return { error: notMember(message.from, groupId), close: false };
  }
  if (connection.peerId === null) {
    return { error: new ProtocolViolationError(`${kindName(message.k)} from ${message.from} on a connection that did not open with a hello`,
      { from: message.from }), close: true };
  }
  if (connection.peerId !== message.from) {
    return { error: new ProtocolViolationError(`${kindName(message.k)} from ${message.from} on the connection of ${connection.peerId}`,
      { from: message.from, peer: connection.peerId }), close: true };
  }
  return null;
}
