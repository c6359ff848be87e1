/**
 * The server's one TCP port, for peers and clients alike. Each inbound connection decodes frames
 * through the validation gateway; a frame that does not decode, is over the size limit or has an
 * unknown kind closes only that connection, with a log line. Replies written in one turn of the
 * event loop leave in one socket write.
 *
 * The bounds on a connection (limits.ts): its first whole frame within `idleBeforeFirstFrameMs`
 * of being accepted; every frame complete within `frameDeadlineMs` of its first byte. The time
 * checks cost a comparison per read, not a timer per frame: a frame's start is stamped only when
 * a read ends inside it, and one sweep per quarter of the shortest limit closes what is late.
 *
 * Connection slots. A connection is a client's until its first frame is a hello from a member
 * (the server says so through `identifyPeer`); then it is a member's. At most `connectionsMax`
 * connections are open at once: one more is sent a RESOURCE_UNAVAILABLE refusal and closed.
 * Clients hold at most `clientConnectionsMax` of them, and at most
 * `clientConnectionsPerAddressMax` from one remote address, so the slots above
 * `clientConnectionsMax` stay free for members: a restarting server always gets in, however many
 * clients hold connections. A connection that arrives while the clients' bounds are full is taken
 * on probation: its first frame must be a member's hello; anything else is refused
 * (RESOURCE_UNAVAILABLE, naming the bound) and the connection closed.
 *
 * TLS (opt-in, `ListenerOptions.tls`): the port speaks only TLS, and asks every connection for a
 * certificate from the group's CA. The certificate is the connection's identity
 * (src/shell/tls-identity.ts): a peer's binds its hello (peer-gateway.ts), a client's grants a role.
 * A connection is closed before any of its frames is read, and counted by reason (counters
 * tlsRefused<Reason>), when its handshake fails or takes over `handshakeTimeoutMs` (a socket that
 * starts TLS and stalls), when it sends plaintext, when its certificate is not the CA's or names no
 * identity, and when it has none unless anonymous readers are allowed; the last two hear a
 * PERMISSION_DENIED refusal first. Connections still in their handshake hold no slot; the server
 * takes at most twice `connectionsMax` sockets at once, handshakes included. A plaintext listener
 * does no per-frame work for any of this.
 */
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { FrameReader, frameOfBody } from '../messages/framing.js';
import { encode, encodeView } from '../messages/codec.js';
import { decodeInboundMessage, type FrameShapeLimits } from '../messages/validate.js';
import { Kind } from '../messages/kinds.js';
import type { ClientReplyBatchMessage, InboundMessage } from '../messages/messages.js';
import { PermissionDeniedError, ResourceUnavailableError, type WireError } from '../errors.js';
import {
  handshakeFailureReason, identityOfCertificate, tlsRefusalCounter, type Identity, type TlsMaterial, type TlsRefusalCounter, type TlsRefusalReason,
} from '../shell/tls-identity.js';
import { batchCallsMax, type Limits } from '../limits.js';
import { parseAddress } from '../shell/peer-connection.js';
import { TickCorkedWriter } from '../shell/tick-corked-writer.js';
import { nowUs } from '../metrics/clock.js';

/** One inbound connection, as the handlers see it. */
export interface Inbound {
  readonly id: number;
  /** The member this connection speaks for, from its hello; null on a client's connection. */
  readonly peerId: string | null;
  /**
   * Who the connection's TLS certificate says is at the other end (and so its role); null on a
   * plaintext listener, where nothing is authenticated and every connection may do everything.
   */
  readonly identity: Identity | null;
  /** Messages received on it so far, the one being handled included. */
  readonly messagesReceived: number;
  /** The hello named `peerId`, a member: every peer message on this connection is from it. */
  identifyPeer(peerId: string): void;
  /** Closes the connection, with the reason in the server's log. */
  close(reason: string): void;
  send(message: unknown): void;
  /**
   * A reply to a call that came in a ClientRequestBatch: replies given in one turn of the event
   * loop leave together as one ClientReplyBatch frame (split before it nears the frame limit or
   * passes batchCallsMax replies, so that the client's gateway takes it whole).
   */
  replyBatched(callId: number, index: number, result: Uint8Array | null, error: WireError | null): void;
  readonly closed: boolean;
  /** When the chunk being handled arrived (shared clock, µs); 0 unless the listener stamps chunks. */
  readonly receivedUs: number;
}

/** Bytes through the listener's connections, and connections refused (counters, always on). */
export type ListenerCounters = {
  bytesReceived: number;
  bytesSent: number;
  connectionsRefused: number;
} & Record<TlsRefusalCounter, number>;

/** Open connections by kind (gauges). */
export interface ConnectionCounts {
  members: number;
  clients: number;
  /** Of those, connections authenticated by a TLS certificate (0 on a plaintext listener). */
  tlsMembers: number;
  tlsClients: number;
}

/** A TLS port: the server's certificate and CA, and what it does with a connection without a certificate. */
export interface ListenerTls {
  material: TlsMaterial;
  /** `refuse` (the default a deployment should keep), or take such connections as role `read`. */
  anonymousClients: 'refuse' | 'read';
  /** A connection whose handshake has not completed this long after it connected is closed (counted `timeout`). */
  handshakeTimeoutMs: number;
}

export interface ListenerOptions extends ListenerLimits {
  /** Stamp each received chunk with the shared clock (per-stage latency). */
  stampChunks: boolean;
  counters: ListenerCounters;
  /** Serve TLS only, with these; plaintext when absent. */
  tls?: ListenerTls;
}

export interface ListenerHandlers {
  onMessage(connection: Inbound, message: InboundMessage): void;
  onClose(connection: Inbound): void;
}

export type ListenerLimits = Pick<Limits,
  'frameBytesMax' | 'connectionOutboundBytesMax' | 'frameNestingDepthMax' | 'frameItemsMax' |
  'frameDeadlineMs' | 'idleBeforeFirstFrameMs' | 'connectionsMax' | 'clientConnectionsMax' | 'clientConnectionsPerAddressMax'>;

const notStarted = -1;
/** The first byte of a TLS connection: a handshake record. */
const tlsHandshakeRecord = 0x16;

/** The remote address a client bound counts by: IPv4 as such, not in its IPv6-mapped form. */
function remoteHost(socket: net.Socket): string {
  const address = socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

class InboundConnection implements Inbound {
  closed = false;
  peerId: string | null = null;
  messagesReceived = 0;
  /** Why it was taken on probation (only a member's hello may open it); null when it holds a client slot. */
  probation: string | null = null;
  readonly host: string;
  /** When the chunk being handled arrived (shared clock, µs); 0 unless the listener stamps chunks. */
  receivedUs = 0;
  readonly reader: FrameReader;
  /** When the connection was accepted, until its first frame is complete; then notStarted. */
  awaitingFirstFrameSinceMs: number;
  /** When the first byte of the frame now partly received arrived; notStarted between frames. */
  frameStartedMs = notStarted;
  private readonly writer: TickCorkedWriter;
  private replies: ClientReplyBatchMessage | null = null;
  private replyBytes = 0;

  constructor(readonly id: number, readonly socket: net.Socket, readonly identity: Identity | null, private readonly frameBytesMax: number,
    private readonly counters: ListenerCounters, private readonly slots: ConnectionSlots) {
    this.writer = new TickCorkedWriter(socket);
    this.reader = new FrameReader(frameBytesMax);
    this.awaitingFirstFrameSinceMs = performance.now();
    this.host = remoteHost(socket);
  }

  identifyPeer(peerId: string): void {
    if (this.peerId !== null) return;
    this.peerId = peerId;
    if (this.probation === null) this.slots.leaveClients(this.host);
    this.probation = null;
    this.slots.members++;
  }

  close(reason: string): void {
    this.slots.endConnection(this, reason);
  }

  send(message: unknown): void {
    if (this.closed) return;
    this.counters.bytesSent += this.writer.writeBody(encodeView(message));
  }

  replyBatched(callId: number, index: number, result: Uint8Array | null, error: WireError | null): void {
    if (this.closed) return;
    let replies = this.replies;
    if (replies === null) {
      replies = { k: Kind.ClientReplyBatch, callIds: [], indexes: [], results: [], errors: [] };
      this.replies = replies;
      process.nextTick(() => this.flushReplies(replies!));
    }
    replies.callIds.push(callId);
    replies.indexes.push(index);
    replies.results.push(result);
    replies.errors.push(error);
    // A generous allowance per reply for its framing and error text.
    this.replyBytes += (result?.length ?? 0) + 64 + (error === null ? 0 : 512);
    if (this.replyBytes > this.frameBytesMax / 2 || replies.callIds.length >= batchCallsMax) this.flushReplies(replies);
  }

  private flushReplies(replies: ClientReplyBatchMessage): void {
    if (this.replies !== replies) return;
    this.replies = null;
    this.replyBytes = 0;
    this.send(replies);
  }
}

/** What a connection needs of its listener's slot bookkeeping. */
interface ConnectionSlots {
  members: number;
  leaveClients(host: string): void;
  endConnection(connection: InboundConnection, reason: string | null): void;
}

export class Listener implements ConnectionSlots {
  private readonly server: net.Server;
  /** A TLS port's TLS server (it takes the sockets `sniff` hands it); null on a plaintext port. */
  private tlsServer: tls.Server | null = null;
  private readonly connections = new Set<InboundConnection>();
  /** Member connections open; client connections open, in all and by remote address. */
  members = 0;
  private clients = 0;
  private readonly clientsByHost = new Map<string, number>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly shape: FrameShapeLimits;
  private refusedSinceSweep = 0;
  private nextId = 1;

  constructor(private readonly options: ListenerOptions, private readonly handlers: ListenerHandlers, private readonly logger: Logger) {
    this.shape = { nestingDepthMax: options.frameNestingDepthMax, itemsMax: options.frameItemsMax };
    const secure = options.tls;
    if (secure === undefined) {
      this.server = net.createServer((socket) => this.accept(socket, null));
    } else {
      // The TLS server does not listen: the port's sockets are handed to it once their first
      // byte shows a TLS handshake (see `sniff`).
      const tlsServer = tls.createServer({
        ...secure.material, requestCert: true, rejectUnauthorized: false, handshakeTimeout: secure.handshakeTimeoutMs, minVersion: 'TLSv1.2',
      }, (socket) => this.secured(socket, secure));
      tlsServer.on('tlsClientError', (error: Error & { code?: string }, socket: tls.TLSSocket) => {
        socket.destroy();
        this.refusedTls(handshakeFailureReason(error), error.message, socket.remoteAddress);
      });
      this.tlsServer = tlsServer;
      this.server = net.createServer((socket) => this.sniff(socket, tlsServer, secure.handshakeTimeoutMs));
      this.server.maxConnections = 2 * options.connectionsMax;
    }
    const sweepMs = Math.max(10, Math.floor(Math.min(options.frameDeadlineMs, options.idleBeforeFirstFrameMs) / 4));
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
  }

  /** Replaces the server's certificate, key and CA for connections from now on (open ones keep theirs). */
  setTlsMaterial(material: TlsMaterial): void {
    this.tlsServer?.setSecureContext({ ...material });
  }

  /**
   * A TLS port's new socket: its first byte says whether it speaks TLS (a handshake record,
   * 0x16). Plaintext gets one plaintext frame saying this port takes TLS only (a client fails at
   * once with PERMISSION_DENIED instead of retrying until its deadline), then is closed and
   * counted; TLS goes to the TLS server, whose handshake must complete within `handshakeTimeoutMs`.
   */
  private sniff(socket: net.Socket, tlsServer: tls.Server, handshakeTimeoutMs: number): void {
    socket.on('error', () => {});
    const silent = setTimeout(() => {
      socket.destroy();
      this.refusedTls('timeout', `nothing sent within ${handshakeTimeoutMs} ms`, socket.remoteAddress);
    }, handshakeTimeoutMs);
    silent.unref();
    // Paused mode ('readable'), so that the bytes read here stay in the socket's buffer once put
    // back: the TLS socket made for it starts by reading that buffer.
    const onReadable = (): void => {
      const first = socket.read() as Buffer | null;
      if (first === null) return;
      socket.off('readable', onReadable);
      clearTimeout(silent);
      if (first[0] !== tlsHandshakeRecord) {
        this.refusedTls('plaintext', 'plaintext on a TLS port', socket.remoteAddress);
        const error = new PermissionDeniedError('this port takes TLS connections only (the client needs the group\'s CA, and a certificate)', { reason: 'plaintext' });
        socket.end(frameOfBody(encode({ k: Kind.Refused, error: error.toWire() })));
        setTimeout(() => socket.destroy(), 1000).unref();
        return;
      }
      socket.unshift(first);
      tlsServer.emit('connection', socket);
    };
    socket.on('readable', onReadable);
  }

  /** A handshake done: the connection is taken with its certificate's identity, or closed (and counted) before anything is read. */
  private secured(socket: tls.TLSSocket, secure: ListenerTls): void {
    socket.on('error', () => {});
    const certificate = socket.getPeerCertificate();
    let identity: Identity;
    if (certificate === null || Object.keys(certificate).length === 0) {
      if (secure.anonymousClients !== 'read') {
        this.refuseTls(socket, 'noCertificate', 'this server takes only connections with a client certificate from its CA');
        return;
      }
      identity = { kind: 'anonymous', role: 'read' };
    } else if (!socket.authorized) {
      this.refuseTls(socket, 'badCertificate', `the certificate is not trusted here: ${String(socket.authorizationError)}`);
      return;
    } else {
      const named = identityOfCertificate(certificate);
      if ('refused' in named) {
        this.refuseTls(socket, 'badCertificate', named.why);
        return;
      }
      identity = named;
    }
    this.accept(socket, identity);
  }

  /** Counts and logs a TLS connection closed before any of its frames was read. */
  refusedTls(reason: TlsRefusalReason, why: string, remote: string | undefined): void {
    this.options.counters[tlsRefusalCounter(reason)]++;
    this.logger.warn({ remote, reason }, `TLS connection refused: ${why}`);
  }

  private refuseTls(socket: tls.TLSSocket, reason: TlsRefusalReason, why: string): void {
    this.refusedTls(reason, why, socket.remoteAddress);
    const error = new PermissionDeniedError(why, { reason });
    socket.write(frameOfBody(encode({ k: Kind.Refused, error: error.toWire() })), () => socket.end());
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private accept(socket: net.Socket, identity: Identity | null): void {
    socket.on('error', () => {});
    if (this.connections.size >= this.options.connectionsMax) {
      // Refused before anything is read from it: one frame saying why, then closed.
      this.refuse(socket, `this server holds its limit of ${this.options.connectionsMax} connections`, { limit: this.options.connectionsMax });
      return;
    }
    socket.setNoDelay(true);
    const connection = new InboundConnection(this.nextId++, socket, identity, this.options.frameBytesMax, this.options.counters, this);
    const host = connection.host;
    const fromHost = this.clientsByHost.get(host) ?? 0;
    if (this.clients >= this.options.clientConnectionsMax) {
      connection.probation = `this server holds its limit of ${this.options.clientConnectionsMax} client connections`;
    } else if (fromHost >= this.options.clientConnectionsPerAddressMax) {
      connection.probation = `this server holds its limit of ${this.options.clientConnectionsPerAddressMax} client connections from ${host}`;
    } else {
      this.clients++;
      this.clientsByHost.set(host, fromHost + 1);
    }
    this.connections.add(connection);
    socket.on('data', (chunk: Buffer) => this.receive(connection, chunk));
    socket.on('close', () => {
      connection.closed = true;
      this.connections.delete(connection);
      if (connection.peerId !== null) this.members--;
      else if (connection.probation === null) this.leaveClients(host);
      this.handlers.onClose(connection);
    });
  }

  private refuse(socket: net.Socket, reason: string, details: Record<string, unknown>): void {
    this.refusedSinceSweep++;
    this.options.counters.connectionsRefused++;
    const error = new ResourceUnavailableError(reason, details);
    socket.write(frameOfBody(encode({ k: Kind.Refused, error: error.toWire() })), () => socket.destroy());
  }

  /** A client connection closed or became a member's. */
  leaveClients(host: string): void {
    this.clients--;
    const left = (this.clientsByHost.get(host) ?? 1) - 1;
    if (left === 0) this.clientsByHost.delete(host);
    else this.clientsByHost.set(host, left);
  }


  /**
   * The first message of a connection on probation: a hello goes to the server, which identifies
   * a member; anything else, or a hello that did not identify one, is refused.
   */
  private admitOnProbation(connection: InboundConnection, message: InboundMessage): void {
    const reason = connection.probation!;
    if (message.k === Kind.PeerHello) {
      this.handlers.onMessage(connection, message);
      if (connection.peerId !== null || connection.closed) return;
    }
    this.options.counters.connectionsRefused++;
    this.refusedSinceSweep++;
    connection.send({ k: Kind.Refused, error: new ResourceUnavailableError(`${reason}; the slots left are kept for the group's servers`,
      { clientConnectionsMax: this.options.clientConnectionsMax, clientConnectionsPerAddressMax: this.options.clientConnectionsPerAddressMax }).toWire() });
    this.endConnection(connection, null);
  }

  /**
   * Closes a connection once what was written to it has left (a refusal says why first); a peer
   * that does not close its end in turn is cut off a second later. A reason is logged.
   */
  endConnection(connection: InboundConnection, reason: string | null): void {
    if (connection.closed) return;
    if (reason !== null) this.logger.warn({ remote: connection.socket.remoteAddress, peer: connection.peerId, reason }, 'closing connection');
    connection.closed = true;
    const socket = connection.socket;
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private receive(connection: InboundConnection, chunk: Buffer): void {
    const { socket, reader } = connection;
    if (this.options.stampChunks) connection.receivedUs = nowUs();
    this.options.counters.bytesReceived += chunk.length;
    let bodies: Buffer[];
    try {
      bodies = reader.push(chunk);
      for (const body of bodies) {
        if (connection.closed) break;
        const message = decodeInboundMessage(body, this.shape);
        connection.messagesReceived++;
        if (connection.probation !== null) this.admitOnProbation(connection, message);
        else this.handlers.onMessage(connection, message);
      }
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== 'MALFORMED_MESSAGE') throw error;
      this.closeConnection(connection, `malformed frame: ${(error as Error).message}`);
      return;
    }
    if (bodies.length > 0) connection.awaitingFirstFrameSinceMs = notStarted;
    // A read that ends inside a frame: stamp the frame's start, unless the same frame was already
    // partial before this read (then it keeps its first stamp).
    if (reader.partialBytes === 0) connection.frameStartedMs = notStarted;
    else if (bodies.length > 0 || connection.frameStartedMs === notStarted) connection.frameStartedMs = performance.now();
    if (socket.writableLength > this.options.connectionOutboundBytesMax && !socket.isPaused()) {
      socket.pause();
      socket.once('drain', () => {
        // Time spent paused by the server is not the peer's: the frame's deadline starts over.
        if (connection.frameStartedMs !== notStarted) connection.frameStartedMs = performance.now();
        socket.resume();
      });
    }
  }

  /** Closes connections past their first-frame or frame deadline. */
  private sweep(): void {
    const now = performance.now();
    for (const connection of this.connections) {
      if (connection.socket.isPaused()) continue;
      if (connection.awaitingFirstFrameSinceMs !== notStarted &&
          now - connection.awaitingFirstFrameSinceMs > this.options.idleBeforeFirstFrameMs) {
        this.closeConnection(connection, `no whole frame within ${this.options.idleBeforeFirstFrameMs} ms of connecting`);
      } else if (connection.frameStartedMs !== notStarted && now - connection.frameStartedMs > this.options.frameDeadlineMs) {
        this.closeConnection(connection, `a frame took over ${this.options.frameDeadlineMs} ms (${connection.reader.partialBytes} bytes received)`);
      }
    }
    if (this.refusedSinceSweep > 0) {
      this.logger.warn({ refused: this.refusedSinceSweep, connectionsMax: this.options.connectionsMax,
        clientConnectionsMax: this.options.clientConnectionsMax, clientConnectionsPerAddressMax: this.options.clientConnectionsPerAddressMax },
      'refused connections over the connection limits');
      this.refusedSinceSweep = 0;
    }
  }

  private closeConnection(connection: InboundConnection, reason: string): void {
    this.logger.warn({ remote: connection.socket.remoteAddress, peer: connection.peerId, reason }, 'closing connection');
    connection.closed = true;
    connection.socket.destroy();
  }

  listen(address: string): Promise<void> {
    const { host, port } = parseAddress(address);
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Connections now open (refused ones are never counted). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Open connections by kind (those on probation are neither yet). */
  connectionCounts(): ConnectionCounts {
    if (this.options.tls === undefined) return { members: this.members, clients: this.clients, tlsMembers: 0, tlsClients: 0 };
    let tlsMembers = 0;
    let tlsClients = 0;
    for (const connection of this.connections) {
      if (connection.closed || connection.identity === null || connection.identity.kind === 'anonymous') continue;
      if (connection.peerId !== null) tlsMembers++;
      else if (connection.probation === null) tlsClients++;
    }
    return { members: this.members, clients: this.clients, tlsMembers, tlsClients };
  }

  close(): Promise<void> {
    clearInterval(this.sweepTimer);
    for (const connection of this.connections) connection.socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
