/**
 * Who is at the other end of a TLS connection, from its certificate, and what it may do.
 *
 * Identities are URIs in the certificate's subject alternative name (the subject's CN is ignored):
 *   - `raftline://peer/<id>`: the server `<id>` of the group. Outgoing peer connections check that
 *     the server they dial names the id they expect at that address; the listener binds every
 *     connection with a peer certificate to that id, so its hello must name it and every server
 *     message on it is that server's. A peer certificate counts as role `admin`.
 *   - `raftline://client/<name>` with one or more `raftline://role/<role>` (read, write, admin): a
 *     client, granted the highest role its certificate names (admin > write > read; each includes
 *     those below). A client certificate that names no role is refused (badCertificate).
 * A certificate that names both a peer and a client, two of either, or neither, is refused.
 * A connection without a certificate is refused on a TLS port unless the server allows anonymous
 * readers (`anonymousClients: 'read'`).
 *
 * What each role allows: `read` the reads (linearizable and stale), the status, the metrics
 * without reset and the configuration; `write` also writes (and opening and closing a session);
 * `admin` everything (snapshots, transfers, elections, membership, metrics reset).
 */
import fs from 'node:fs';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import { ConfigurationError } from '../errors.js';

/** PEM contents: the certificate (chain), its private key, and the CA that signs the group's certificates. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

/**
 * A client's TLS (PEM contents): the CA that signs the group's certificates, and the client's own
 * certificate and key (both or neither; without them only a server that allows anonymous readers
 * takes the connection). The client checks that each server presents a peer certificate of that CA.
 */
export interface ClientTls {
  ca: string;
  cert?: string;
  key?: string;
}

/** Just the PEM contents of `options` (what crosses to the appender's thread). */
export function tlsMaterialOf(options: TlsMaterial): TlsMaterial {
  return { cert: options.cert, key: options.key, ca: options.ca };
}

/** Paths of PEM files (what the command line's --tls-cert, --tls-key, --tls-ca name). */
export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

export const roles = ['read', 'write', 'admin'] as const;
export type Role = (typeof roles)[number];

/** What a certificate names. */
export type CertifiedIdentity = { kind: 'peer'; id: string; role: 'admin' } | { kind: 'client'; name: string; role: Role };
/** Who a TLS connection is: a certificate's identity, or a reader without one (where allowed). */
export type Identity = CertifiedIdentity | { kind: 'anonymous'; role: 'read' };
export type CertificateRefusal = { refused: 'badCertificate'; why: string };

/** Why a TLS connection was closed before any message of it was taken (counters tlsRefused<Reason>). */
export const tlsRefusalReasons = ['wrongId', 'notPeer', 'badCertificate', 'noCertificate', 'plaintext', 'timeout', 'handshakeFailed'] as const;
export type TlsRefusalReason = (typeof tlsRefusalReasons)[number];
/** The counter of one refusal reason (src/metrics/stage-recorder.ts). */
export type TlsRefusalCounter = `tlsRefused${Capitalize<TlsRefusalReason>}`;

export function tlsRefusalCounter(reason: TlsRefusalReason): TlsRefusalCounter {
  return `tlsRefused${reason[0]!.toUpperCase()}${reason.slice(1)}` as TlsRefusalCounter;
}

/**
 * The reason a failed handshake (the server's 'tlsClientError') is counted under: a handshake
 * that did not finish within the bound, bytes that are not TLS at all, or another failure (the
 * other side refusing this server's certificate, no common protocol or cipher).
 */
export function handshakeFailureReason(error: { code?: string; message: string }): TlsRefusalReason {
  if (error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (/WRONG_VERSION_NUMBER|HTTP_REQUEST|HTTPS_PROXY_REQUEST|UNKNOWN_PROTOCOL|PACKET_LENGTH_TOO_LONG|RECORD_LENGTH_MISMATCH|WRONG_SSL_VERSION|UNEXPECTED_RECORD/i
    .test(`${error.code ?? ''} ${error.message}`)) return 'plaintext';
  return 'handshakeFailed';
}

export const peerUriPrefix = 'raftline://peer/';
export const clientUriPrefix = 'raftline://client/';
export const roleUriPrefix = 'raftline://role/';

/** An id or client name as a certificate may carry it. */
const namePattern = /^[A-Za-z0-9_.@-]{1,128}$/;

/** The URIs of a `subjectaltname` string as Node gives it ("URI:a, DNS:b, ..."; quoted entries when they hold a comma). */
export function sanUris(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName.length === 0) return [];
  const uris: string[] = [];
  // Entries are "TYPE:value" or TYPE:"json string", separated by ", ".
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (const match of subjectAltName.matchAll(entry)) {
    if (match[1] !== 'URI') continue;
    let value = match[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    uris.push(value);
  }
  return uris;
}

/** The identity a certificate's SAN URIs name, or why it names none. */
export function identityOfUris(uris: readonly string[]): CertifiedIdentity | CertificateRefusal {
  const peers = uris.filter((uri) => uri.startsWith(peerUriPrefix)).map((uri) => uri.slice(peerUriPrefix.length));
  const clients = uris.filter((uri) => uri.startsWith(clientUriPrefix)).map((uri) => uri.slice(clientUriPrefix.length));
  const named = uris.filter((uri) => uri.startsWith(roleUriPrefix)).map((uri) => uri.slice(roleUriPrefix.length));
  const bad = (why: string): CertificateRefusal => ({ refused: 'badCertificate', why });
  if (peers.length + clients.length !== 1) {
    return bad(peers.length + clients.length === 0 ? 'the certificate names no raftline://peer/ or raftline://client/ identity'
      : 'the certificate names more than one raftline identity');
  }
  const name = peers[0] ?? clients[0]!;
  if (!namePattern.test(name)) return bad(`the certificate's identity '${name}' is not a valid id`);
  if (peers.length === 1) return { kind: 'peer', id: name, role: 'admin' };
  const unknown = named.find((role) => !(roles as readonly string[]).includes(role));
  if (unknown !== undefined) return bad(`the certificate names an unknown role '${unknown}'`);
  if (named.length === 0) return bad(`client certificate ${name} names no role (raftline://role/read, write or admin)`);
  const role = roles[Math.max(...named.map((value) => roles.indexOf(value as Role)))]!;
  return { kind: 'client', name, role };
}

/** The identity of a verified peer certificate (`socket.getPeerCertificate()`), or why none. */
export function identityOfCertificate(certificate: PeerCertificate): CertifiedIdentity | CertificateRefusal {
  return identityOfUris(sanUris(certificate.subjectaltname));
}

/** Whether `role` includes `needed`. */
export function roleAllows(role: Role, needed: Role): boolean {
  return roles.indexOf(role) >= roles.indexOf(needed);
}

/**
 * For `tls.connect({ checkServerIdentity })`: the server must be the peer `expectedId` (a dialing
 * server) or any peer of the group (`expectedId` null: a client, which knows servers by address).
 * Returns an Error to refuse, as Node expects.
 */
export function checkPeerIdentity(expectedId: string | null): (host: string, certificate: PeerCertificate) => Error | undefined {
  return (_host, certificate) => {
    const identity = identityOfCertificate(certificate);
    if ('refused' in identity) return new Error(identity.why);
    if (identity.kind !== 'peer') return new Error(`the server presented a client certificate (${identity.name})`);
    if (expectedId !== null && identity.id !== expectedId) {
      return new Error(`the server's certificate names ${identity.id}, expected ${expectedId}`);
    }
    return undefined;
  };
}

/** Reads one PEM file; a missing or unreadable one is a ConfigurationError naming it. */
export function readPemFile(what: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`TLS ${what} file ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { file });
  }
}

/** Reads the three PEM files. */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  return { cert: readPemFile('certificate', files.cert), key: readPemFile('key', files.key), ca: readPemFile('CA', files.ca) };
}

/**
 * Refuses TLS material that cannot make a secure context (a key that does not match its
 * certificate, a PEM that does not parse) with a ConfigurationError naming what is wrong, before
 * any socket would fail on it.
 */
export function checkTlsMaterial(material: { cert?: string; key?: string; ca: string }, whose: string): void {
  try {
    createSecureContext({ ...material });
  } catch (error) {
    const reason = (error as Error).message;
    const hint = /key values mismatch/i.test(reason) ? ': the key is not the certificate\'s' : '';
    throw new ConfigurationError(`${whose} TLS certificate, key or CA cannot be used${hint} (${reason})`, { reason });
  }
}

/** The three files, all or none, from flags: a ConfigurationError when only some are given. */
export function tlsFilesOf(flags: { tlsCert?: string; tlsKey?: string; tlsCa?: string }): TlsFiles | null {
  const given = [flags.tlsCert, flags.tlsKey, flags.tlsCa].filter((value) => value !== undefined).length;
  if (given === 0) return null;
  if (given !== 3) throw new ConfigurationError('TLS needs all three of --tls-cert, --tls-key and --tls-ca');
  return { cert: flags.tlsCert!, key: flags.tlsKey!, ca: flags.tlsCa! };
}
