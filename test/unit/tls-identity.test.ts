/** Certificate identities (SAN URIs), roles and what each role may send; the permission error's code. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkPeerIdentity, handshakeFailureReason, identityOfUris, roleAllows, sanUris, tlsRefusalCounter, tlsRefusalReasons,
} from '../../src/shell/tls-identity.js';
import { permissionRefusal, roleNeeded } from '../../src/server/request-roles.js';
import { Kind } from '../../src/messages/kinds.js';
import { RequestType, type InboundMessage } from '../../src/messages/messages.js';
import { errorFromWire, PermissionDeniedError } from '../../src/errors.js';
import { counterNames } from '../../src/metrics/stage-recorder.js';
import type { PeerCertificate } from 'node:tls';

test('the SAN string as Node gives it yields its URIs, quoted ones included, other types skipped', () => {
  assert.deepEqual(sanUris('URI:raftline://peer/n1, DNS:localhost, IP Address:127.0.0.1'), ['raftline://peer/n1']);
  assert.deepEqual(sanUris('URI:raftline://client/ops, URI:raftline://role/write'), ['raftline://client/ops', 'raftline://role/write']);
  assert.deepEqual(sanUris('DNS:a, URI:"raftline://client/x,y"'), ['raftline://client/x,y']);
  assert.deepEqual(sanUris(undefined), []);
  assert.deepEqual(sanUris(''), []);
});

test('a peer certificate names one server and counts as admin; a client one gets its highest role', () => {
  assert.deepEqual(identityOfUris(['raftline://peer/n2']), { kind: 'peer', id: 'n2', role: 'admin' });
  assert.deepEqual(identityOfUris(['raftline://client/ops', 'raftline://role/read']), { kind: 'client', name: 'ops', role: 'read' });
  assert.deepEqual(identityOfUris(['raftline://role/read', 'raftline://client/ops', 'raftline://role/admin', 'raftline://role/write']),
    { kind: 'client', name: 'ops', role: 'admin' });
});

test('a certificate naming no identity, two, both kinds, a bad id, an unknown role or no role is refused', () => {
  for (const uris of [
    [], ['https://example.com'], ['raftline://peer/n1', 'raftline://peer/n2'], ['raftline://peer/n1', 'raftline://client/c', 'raftline://role/read'],
    ['raftline://peer/'], ['raftline://peer/n 1'], ['raftline://peer/n1/../n2'], ['raftline://client/c', 'raftline://role/root'], ['raftline://client/c'],
  ]) {
    const identity = identityOfUris(uris);
    assert.ok('refused' in identity && identity.refused === 'badCertificate', JSON.stringify(uris));
  }
});

test('roles include those below them', () => {
  assert.equal(roleAllows('admin', 'write'), true);
  assert.equal(roleAllows('write', 'read'), true);
  assert.equal(roleAllows('read', 'write'), false);
  assert.equal(roleAllows('write', 'admin'), false);
});

const request = (type: number): InboundMessage =>
  ({ k: Kind.ClientRequest, g: 'default', clientId: 'c', callId: 1, firstUnacked: 1, type, data: new Uint8Array(0) }) as InboundMessage;
const admin = (op: string): InboundMessage => ({ k: Kind.AdminRequest, g: 'default', callId: 1, operation: { op } }) as InboundMessage;

test('each client message needs its role: reads read, writes and sessions write, admin operations admin', () => {
  assert.equal(roleNeeded(request(RequestType.readOnly)), 'read');
  assert.equal(roleNeeded(request(RequestType.staleRead)), 'read');
  for (const type of [RequestType.write, RequestType.openSession, RequestType.closeSession]) assert.equal(roleNeeded(request(type)), 'write');
  const batch = (types: number[]): InboundMessage =>
    ({ k: Kind.ClientRequestBatch, g: 'default', clientId: 'c', firstUnacked: 1, callIds: types.map((_, i) => i + 1), types, data: [] }) as unknown as InboundMessage;
  assert.equal(roleNeeded(batch([RequestType.readOnly, RequestType.staleRead])), 'read');
  assert.equal(roleNeeded(batch([RequestType.readOnly, RequestType.write])), 'write');
  assert.equal(roleNeeded({ k: Kind.StatusRequest, g: 'default', callId: 1 } as InboundMessage), 'read');
  assert.equal(roleNeeded({ k: Kind.MetricsRequest, g: 'default', callId: 1, reset: false } as InboundMessage), 'read');
  assert.equal(roleNeeded({ k: Kind.MetricsRequest, g: 'default', callId: 1, reset: true } as InboundMessage), 'admin');
  assert.equal(roleNeeded({ k: Kind.SnapshotRequest, g: 'default', callId: 1 } as InboundMessage), 'admin');
  assert.equal(roleNeeded(admin('configuration')), 'read');
  for (const op of ['transferLeadership', 'pauseElection', 'resumeElection', 'setConfiguration', 'addServer', 'removeServer']) assert.equal(roleNeeded(admin(op)), 'admin', op);
  assert.equal(roleNeeded({ k: Kind.PeerHello, g: 'default', from: 'n1' } as InboundMessage), null);
});

test('a request beyond its role is a PERMISSION_DENIED naming both roles, which survives the wire', () => {
  const reader = { kind: 'client', name: 'ro', role: 'read' } as const;
  const denied = permissionRefusal(reader, request(RequestType.write));
  assert.ok(denied instanceof PermissionDeniedError);
  assert.equal(denied.code, 'PERMISSION_DENIED');
  assert.deepEqual(denied.details, { role: 'read', needed: 'write' });
  const rebuilt = errorFromWire(denied.toWire());
  assert.ok(rebuilt instanceof PermissionDeniedError);
  assert.equal(permissionRefusal(reader, request(RequestType.readOnly)), null);
  assert.ok(permissionRefusal({ kind: 'anonymous', role: 'read' }, admin('pauseElection')) instanceof PermissionDeniedError);
  assert.equal(permissionRefusal({ kind: 'peer', id: 'n1', role: 'admin' }, admin('pauseElection')), null);
});

test('a dialer accepts only a peer certificate naming the id it expects; a client any peer certificate', () => {
  const certificate = (san: string): PeerCertificate => ({ subjectaltname: san }) as PeerCertificate;
  assert.equal(checkPeerIdentity('n2')('127.0.0.1', certificate('URI:raftline://peer/n2')), undefined);
  assert.match(checkPeerIdentity('n2')('127.0.0.1', certificate('URI:raftline://peer/n3'))!.message, /names n3, expected n2/);
  assert.ok(checkPeerIdentity(null)('127.0.0.1', certificate('URI:raftline://client/c, URI:raftline://role/admin')) instanceof Error);
  assert.equal(checkPeerIdentity(null)('127.0.0.1', certificate('URI:raftline://peer/n9')), undefined);
});

test('every refusal reason has its counter, and handshake failures are told apart', () => {
  for (const reason of tlsRefusalReasons) assert.ok((counterNames as readonly string[]).includes(tlsRefusalCounter(reason)), reason);
  assert.equal(handshakeFailureReason({ code: 'ERR_TLS_HANDSHAKE_TIMEOUT', message: 'TLS handshake timeout' }), 'timeout');
  assert.equal(handshakeFailureReason({ code: 'ERR_SSL_WRONG_VERSION_NUMBER', message: 'wrong version number' }), 'plaintext');
  assert.equal(handshakeFailureReason({ code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', message: 'tlsv1 alert unknown ca' }), 'handshakeFailed');
});
