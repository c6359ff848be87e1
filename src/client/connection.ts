/**
 * One client TCP connection to one server: dialing (with a timeout), framing, the validation
 * gateway for what the server sends, and write coalescing. Frames written in the same tick leave
 * in one write (cork now, uncork on the next tick), so a burst of pipelined calls costs one
 * system call instead of one each; Nagle is off so that a lone call is not held back.
 * With `tls` the connection is TLS (src/shell/tls-identity.ts): the server must present a peer
 * certificate from the CA given, and the client presents its own certificate when it has one.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { checkPeerIdentity, type ClientTls } from '../shell/tls-identity.js';
import { FrameReader } from '../messages/framing.js';
import { decodeServerToClientMessage } from '../messages/validate.js';
import type { ServerToClientMessage } from '../messages/messages.js';
import { TickCorkedWriter } from '../shell/tick-corked-writer.js';
import { ClosedError, ConfigurationError, TimeoutError } from '../errors.js';

export interface ConnectionHandlers {
  onConnect(connection: Connection): void;
  onMessage(connection: Connection, message: ServerToClientMessage): void;
  /** At most once, and never after `destroy()`: the connection failed or the server closed it. */
  onFailure(connection: Connection, error: Error): void;
}

export interface ServerAddress {
  host: string;
  port: number;
}

/** A host name or IPv4 address, or an IPv6 address in brackets. */
const hostPattern = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])$/;

/**
 * Parses 'host:port' (IPv6 hosts in brackets: '[::1]:7000'); throws ConfigurationError at once
 * for anything else, such as a server's `id=host:port`, which would otherwise fail only when
 * dialed, as a name lookup error.
 */
export function parseAddress(address: string): ServerAddress {
  const colon = address.lastIndexOf(':');
  const hostPart = address.slice(0, colon);
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !hostPattern.test(hostPart) || !/^\d+$/.test(address.slice(colon + 1)) || port <= 0 || port > 65535) {
    throw new ConfigurationError(`server address '${address}' is not host:port`, { address });
  }
  return { host: hostPart.replace(/^\[(.*)\]$/, '$1'), port };
}

export class Connection {
  private readonly socket: Socket;
  private readonly reader: FrameReader;
  private connectTimer: NodeJS.Timeout | null;
  private readonly writer: TickCorkedWriter;
  private finished = false;
  private connected = false;

  constructor(
    readonly address: string,
    frameBytesMax: number,
    connectTimeoutMs: number,
    private readonly handlers: ConnectionHandlers,
    tls?: ClientTls,
  ) {
    const { host, port } = parseAddress(address);
    this.reader = new FrameReader(frameBytesMax);
    this.socket = tls === undefined ? connect({ host, port, noDelay: true })
      : tlsConnect({ host, port, ...tls, checkServerIdentity: checkPeerIdentity(null) });
    this.writer = new TickCorkedWriter(this.socket);
    this.socket.setNoDelay(true);
    this.connectTimer = setTimeout(() => {
      this.fail(new TimeoutError(`connecting to ${address} took over ${connectTimeoutMs} ms`, { address }));
    }, connectTimeoutMs);
    this.socket.on(tls === undefined ? 'connect' : 'secureConnect', () => {
      this.clearConnectTimer();
      this.connected = true;
      this.handlers.onConnect(this);
    });
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.fail(new ClosedError(`connection to ${address} closed`, { address })));
  }

  get isConnected(): boolean {
    return this.connected && !this.finished;
  }

  /** Queues a whole frame; frames of one tick leave together. */
  write(frame: Uint8Array): void {
    if (!this.isConnected) return;
    this.writer.write(frame);
  }

  /** Queues a message's packed body as a frame (copied at once); frames of one tick leave together. */
  writeBody(body: Uint8Array): void {
    if (!this.isConnected) return;
    this.writer.writeBody(body);
  }

  /** Closes the connection on our side; no failure is reported for it. */
  destroy(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearConnectTimer();
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    let messages: ServerToClientMessage[];
    try {
      // Decode the whole chunk first: a malformed frame anywhere closes the connection before
      // any reply of the chunk is acted on, which keeps "what was answered" simple to reason about.
      messages = this.reader.push(chunk).map((body) => decodeServerToClientMessage(body));
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    for (const message of messages) {
      if (this.finished) return;
      this.handlers.onMessage(this, message);
    }
  }

  private fail(error: Error): void {
    if (this.finished) return;
    this.destroy();
    this.handlers.onFailure(this, error);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }
}
