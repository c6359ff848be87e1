/**
 * The server's one TCP port, for peers and clients alike. Each inbound connection decodes frames
 * through the validation gateway; a frame that does not decode, is over the size limit or has an
 * unknown kind closes only that connection, with a log line. Replies written in one turn of the
 * event loop leave in one socket write.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { FrameReader, frameOfBody } from '../messages/framing.js';
import { encodeView } from '../messages/codec.js';
import { decodeInboundMessage } from '../messages/validate.js';
import { Kind } from '../messages/kinds.js';
import type { ClientMessage, ClientReplyBatchMessage, PeerMessage } from '../messages/messages.js';
import type { WireError } from '../errors.js';
import { parseAddress } from '../shell/peer-connection.js';
import { TickCorkedWriter } from '../shell/tick-corked-writer.js';

/** One inbound connection, as the handlers see it. */
export interface Inbound {
  readonly id: number;
  send(message: unknown): void;
  /**
   * A reply to a call that came in a ClientRequestBatch: replies given in one turn of the event
   * loop leave together as one ClientReplyBatch frame (split before it nears the frame limit).
   */
  replyBatched(callId: number, index: number, result: Uint8Array | null, error: WireError | null): void;
  readonly closed: boolean;
}

export interface ListenerHandlers {
  onMessage(connection: Inbound, message: ClientMessage | PeerMessage): void;
  onClose(connection: Inbound): void;
}

class InboundConnection implements Inbound {
  closed = false;
  private readonly writer: TickCorkedWriter;
  private replies: ClientReplyBatchMessage | null = null;
  private replyBytes = 0;

  constructor(readonly id: number, socket: net.Socket, private readonly frameBytesMax: number) {
    this.writer = new TickCorkedWriter(socket);
  }

  send(message: unknown): void {
    if (this.closed) return;
    this.writer.write(frameOfBody(encodeView(message)));
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
    if (this.replyBytes > this.frameBytesMax / 2) this.flushReplies(replies);
  }

  private flushReplies(replies: ClientReplyBatchMessage): void {
    if (this.replies !== replies) return;
    this.replies = null;
    this.replyBytes = 0;
    this.send(replies);
  }
}

export class Listener {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private nextId = 1;

  constructor(frameBytesMax: number, outboundBytesMax: number, handlers: ListenerHandlers, logger: Logger) {
    this.server = net.createServer((socket) => {
      socket.setNoDelay(true);
      this.sockets.add(socket);
      const connection = new InboundConnection(this.nextId++, socket, frameBytesMax);
      const reader = new FrameReader(frameBytesMax);
      socket.on('data', (chunk: Buffer) => {
        let bodies: Buffer[];
        try {
          bodies = reader.push(chunk);
          for (const body of bodies) handlers.onMessage(connection, decodeInboundMessage(body));
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (code !== 'MALFORMED_MESSAGE') throw error;
          logger.warn({ remote: socket.remoteAddress, reason: (error as Error).message }, 'closing connection: malformed frame');
          socket.destroy();
          return;
        }
        if (socket.writableLength > outboundBytesMax && !socket.isPaused()) {
          socket.pause();
          socket.once('drain', () => socket.resume());
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        connection.closed = true;
        this.sockets.delete(socket);
        handlers.onClose(connection);
      });
    });
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

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
