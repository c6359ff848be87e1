/**
 * The role each client message needs on a TLS port (src/shell/tls-identity.ts): `read` for reads,
 * the status, the metrics and the configuration; `write` for writes and the session opens and
 * closes that carry them; `admin` for snapshots, the metrics reset and every other admin
 * operation. Checked on the request path before anything reaches `startTransaction`; a plaintext
 * port checks nothing (its connections have no identity).
 */
import { PermissionDeniedError } from '../errors.js';
import { Kind } from '../messages/kinds.js';
import { RequestType, type InboundMessage, type RequestTypeNumber } from '../messages/messages.js';
import { roleAllows, type Identity, type Role } from '../shell/tls-identity.js';

function roleOfType(type: RequestTypeNumber): Role {
  return type === RequestType.readOnly || type === RequestType.staleRead ? 'read' : 'write';
}

/** The role `message` needs; null for server messages, which the peer gateway admits. */
export function roleNeeded(message: InboundMessage): Role | null {
  switch (message.k) {
    case Kind.ClientRequest:
      return roleOfType(message.type);
    case Kind.ClientRequestBatch:
      return message.types.every((type) => roleOfType(type) === 'read') ? 'read' : 'write';
    case Kind.StatusRequest:
      return 'read';
    case Kind.MetricsRequest:
      return message.reset ? 'admin' : 'read';
    case Kind.SnapshotRequest:
      return 'admin';
    case Kind.AdminRequest:
      return message.operation.op === 'configuration' ? 'read' : 'admin';
    default:
      return null;
  }
}

/** Null when `identity` may send `message`; otherwise the PERMISSION_DENIED to answer it with. */
export function permissionRefusal(identity: Identity, message: InboundMessage): PermissionDeniedError | null {
  const needed = roleNeeded(message);
  if (needed === null || roleAllows(identity.role, needed)) return null;
  const who = identity.kind === 'peer' ? `server ${identity.id}` : identity.kind === 'client' ? `client ${identity.name}` : 'a connection without a certificate';
  return new PermissionDeniedError(`${who} has role ${identity.role}; this request needs ${needed}`, { role: identity.role, needed });
}
