/**
 * A small real TCP server for client tests, scripted per case: it decodes the client's frames
 * through the validation gateway, records every request it saw (so a test can show that a retry
 * reused its callId, never a new one), and lets the case answer as it needs. A client's session
 * open and close are answered here (the open with session `<clientId>@1` and idle bound
 * `sessionIdleMs`) and kept in `opens` and `closes`, not passed to the case, unless the case asks
 * for them too (`handleSessions`).
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { encodeFrame, FrameReader } from '../../src/messages/framing.js';
import { Kind } from '../../src/messages/kinds.js';
import { encode } from '../../src/messages/codec.js';
import { RequestType, type ClientMessage, type ClientRequestMessage } from '../../src/messages/messages.js';
import { decodeClientMessage } from '../../src/messages/validate.js';

export type Handler = (message: ClientMessage, socket: Socket, server: TestServer) => void;

export interface TestServerOptions {
  /** Pass session opens and closes to the handler instead of answering them. */
  handleSessions?: boolean;
  /** The idle bound an answered open names. Default 60000. */
  sessionIdleMs?: number;
}

export class TestServer {
  readonly seen: ClientMessage[] = [];
  /** Session opens and closes answered here (not in `seen`). */
  readonly opens: ClientRequestMessage[] = [];
  readonly closes: ClientRequestMessage[] = [];
  /** How many calls each ClientRequestBatch frame carried, in arrival order. */
  readonly batchSizes: number[] = [];
  connectionCount = 0;
  chunkCount = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, private readonly handler: Handler, private readonly options: TestServerOptions) {}

  static async start(handler: Handler, options: TestServerOptions = {}): Promise<TestServer> {
    const server = createServer();
    const testServer = new TestServer(server, handler, options);
    server.on('connection', (socket) => testServer.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return testServer;
  }

  get address(): string {
    const address = this.server.address();
    assert.ok(address !== null && typeof address === 'object');
    return `127.0.0.1:${address.port}`;
  }

  /** The callIds of the client requests seen, in arrival order. */
  get callIds(): number[] {
    return this.seen.filter((m): m is ClientRequestMessage => m.k === Kind.ClientRequest).map((m) => m.callId);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.connectionCount += 1;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const reader = new FrameReader(1 << 20);
    socket.on('data', (chunk: Buffer) => {
      this.chunkCount += 1;
      for (const body of reader.push(chunk)) {
        // A batch is seen (and answered) call by call, as the single requests it carries.
        for (const message of unbatched(decodeClientMessage(body), this.batchSizes)) {
          if (message.k === Kind.ClientRequest && this.options.handleSessions !== true) {
            if (message.type === RequestType.openSession) {
              this.opens.push(message);
              replyOk(socket, message.callId, encode({ session: `${message.clientId}@1`, idleMsMax: this.options.sessionIdleMs ?? 60_000 }));
              continue;
            }
            if (message.type === RequestType.closeSession) {
              this.closes.push(message);
              replyOk(socket, message.callId, null);
              continue;
            }
          }
          this.seen.push(message);
          this.handler(message, socket, this);
        }
      }
    });
  }
}

function unbatched(message: ClientMessage, batchSizes: number[]): ClientMessage[] {
  if (message.k !== Kind.ClientRequestBatch) return [message];
  batchSizes.push(message.callIds.length);
  return message.callIds.map((callId, i): ClientRequestMessage => ({
    k: Kind.ClientRequest, g: message.g, clientId: message.clientId, callId, firstUnacked: message.firstUnacked,
    type: message.types[i]!, data: message.data[i]!,
  }));
}

export function reply(socket: Socket, value: unknown): void {
  if (!socket.destroyed) socket.write(encodeFrame(value));
}

export function replyOk(socket: Socket, callId: number, result: Uint8Array | null): void {
  reply(socket, { k: Kind.ClientReply, callId, ok: true, result, error: null, index: callId });
}

export function replyError(socket: Socket, callId: number, code: string, details: Record<string, unknown> = {}): void {
  reply(socket, { k: Kind.ClientReply, callId, ok: false, result: null, error: { code, message: `test: ${code}`, details }, index: 0 });
}

export function asRequest(message: ClientMessage): ClientRequestMessage {
  assert.equal(message.k, Kind.ClientRequest);
  return message as ClientRequestMessage;
}

/** Echoes the request's data back as the result. */
export const echo: Handler = (message, socket) => {
  const request = asRequest(message);
  replyOk(socket, request.callId, request.data);
};

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array | null): string => new TextDecoder().decode(data ?? new Uint8Array(0));
