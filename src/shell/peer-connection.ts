/**
 * An outbound TCP connection to one peer, owned by the appender: connects, reconnects with
 * exponential back-off, frames what it sends and decodes what comes back through the validation
 * gateway. Frames written in one turn of the event loop leave in one socket write (cork/uncork).
 * A malformed frame closes only this connection; it is then re-established. Every connection
 * opens with a PeerHello naming this server, so the listener on the other side sees a frame
 * within its idle limit even when nothing else is due (a follower's connection to a follower).
 * With `tls`, the connection presents this server's certificate and goes on only if the server
 * dialed presents one from the same CA naming `peerId` (src/shell/tls-identity.ts).
 */
import net from 'node:net';
import tls from 'node:tls';
import { checkPeerIdentity, type TlsMaterial } from './tls-identity.js';
import { FrameReader } from '../messages/framing.js';
import { encodeView } from '../messages/codec.js';
import { decodePeerMessage, defaultFrameShape, type FrameShapeLimits } from '../messages/validate.js';
import { Kind } from '../messages/kinds.js';
import type { PeerMessage } from '../messages/messages.js';
import { TickCorkedWriter } from './tick-corked-writer.js';

export interface PeerConnectionOptions {
  /** This server's id and group, for the hello. */
  selfId: string;
  groupId: string;
  peerId: string;
  address: string;
  frameBytesMax: number;
  frameShape?: FrameShapeLimits;
  reconnectDelayMsMin: number;
  reconnectDelayMsMax: number;
  tls?: TlsMaterial;
  onMessage(message: PeerMessage): void;
  onConnect(): void;
  onDisconnect(reason: string): void;
}

export function parseAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

export class PeerConnection {
  private socket: net.Socket | null = null;
  private connected = false;
  private closed = false;
  private delayMs: number;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private writer: TickCorkedWriter | null = null;

  constructor(private readonly options: PeerConnectionOptions) {
    this.delayMs = options.reconnectDelayMsMin;
    this.connect();
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Sends a message; false when not connected (the caller's protocol retries). */
  send(message: unknown): boolean {
    return this.sendBody(encodeView(message));
  }

  sendBody(body: Uint8Array): boolean {
    if (!this.connected || this.writer === null) return false;
    this.writer.writeBody(body);
    return true;
  }

  /** Bytes queued in the socket not yet handed to the kernel: back-pressure for the appender. */
  get writableLength(): number {
    return this.socket?.writableLength ?? 0;
  }

  /** Drops the connection; it is dialed again after the back-off, as after any disconnect. */
  reset(): void {
    this.socket?.destroy();
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
  }

  private connect(): void {
    if (this.closed) return;
    const { host, port } = parseAddress(this.options.address);
    const secure = this.options.tls;
    const socket = secure === undefined ? net.connect({ host, port })
      : tls.connect({ host, port, ...secure, checkServerIdentity: checkPeerIdentity(this.options.peerId) });
    this.socket = socket;
    this.writer = new TickCorkedWriter(socket);
    const reader = new FrameReader(this.options.frameBytesMax);
    const shape = this.options.frameShape ?? defaultFrameShape;
    socket.setNoDelay(true);
    socket.on(secure === undefined ? 'connect' : 'secureConnect', () => {
      this.connected = true;
      this.delayMs = this.options.reconnectDelayMsMin;
      this.send({ k: Kind.PeerHello, g: this.options.groupId, from: this.options.selfId });
      this.options.onConnect();
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const body of reader.push(chunk)) this.options.onMessage(decodePeerMessage(body, shape));
      } catch (error) {
        socket.destroy(error as Error);
      }
    });
    socket.on('error', () => {
      // 'close' follows; the reason is reported there.
    });
    socket.on('close', () => {
      const wasConnected = this.connected;
      this.connected = false;
      this.socket = null;
      if (wasConnected) this.options.onDisconnect('connection closed');
      if (this.closed) return;
      this.reconnectTimer = setTimeout(() => this.connect(), this.delayMs);
      this.delayMs = Math.min(this.delayMs * 2, this.options.reconnectDelayMsMax);
    });
  }
}
