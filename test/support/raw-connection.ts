/**
 * A raw TCP connection to a server, for hostile input: it writes whatever bytes a test gives it,
 * collects whatever frames come back (decoded without the gateway: a test wants to see exactly
 * what the server said), and knows when and how soon the server closed it.
 */
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { decode } from '../../src/messages/codec.js';
import { encodeFrame, FrameReader } from '../../src/messages/framing.js';
import { Kind } from '../../src/messages/kinds.js';

export type Reply = Record<string, unknown>;

export class RawConnection {
  readonly replies: Reply[] = [];
  /** Milliseconds from connect to the close; null while open. */
  closedAfterMs: number | null = null;
  private readonly closedPromise: Promise<number>;
  private readonly reader = new FrameReader(64 * 1024 * 1024);
  private waiters: (() => void)[] = [];
  private connectedAtMs = performance.now();

  private constructor(readonly socket: net.Socket) {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      for (const body of this.reader.push(chunk)) this.replies.push(decode(body) as Reply);
      this.wake();
    });
    this.closedPromise = new Promise((resolve) => socket.once('close', () => {
      this.closedAfterMs = performance.now() - this.connectedAtMs;
      this.wake();
      resolve(this.closedAfterMs);
    }));
  }

  /** Connects to `address`, from `localAddress` when given (any 127.x.y.z reaches a loopback server). */
  static open(address: string, timeoutMs = 5000, localAddress?: string): Promise<RawConnection> {
    const colon = address.lastIndexOf(':');
    const socket = net.connect({
      host: address.slice(0, colon), port: Number(address.slice(colon + 1)), ...(localAddress === undefined ? {} : { localAddress }),
    });
    const connection = new RawConnection(socket);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connection to ${address} within ${timeoutMs} ms`)), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        connection.connectedAtMs = performance.now();
        resolve(connection);
      });
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(connection);
      });
    });
  }

  /**
   * A TLS connection to `address` with `options` (a certificate to present, or none); it does not
   * check the server's certificate. Resolves once the handshake is done, or the socket closed.
   */
  static openTls(address: string, options: tls.ConnectionOptions, timeoutMs = 5000): Promise<RawConnection> {
    const colon = address.lastIndexOf(':');
    const socket = tls.connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)), rejectUnauthorized: false, ...options });
    const connection = new RawConnection(socket);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no TLS connection to ${address} within ${timeoutMs} ms`)), timeoutMs);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        connection.connectedAtMs = performance.now();
        resolve(connection);
      });
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(connection);
      });
    });
  }

  /** Connects as server `from` would: the first frame is its hello. */
  static async asPeer(address: string, from: string, groupId = 'default'): Promise<RawConnection> {
    const connection = await RawConnection.open(address);
    connection.write(encodeFrame({ k: Kind.PeerHello, g: groupId, from }));
    return connection;
  }

  get isClosed(): boolean {
    return this.closedAfterMs !== null;
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Resolves with the milliseconds from connect to close; rejects if still open after `timeoutMs`. */
  async closed(timeoutMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([this.closedPromise, new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the server kept the connection open for over ${timeoutMs} ms`)), timeoutMs);
      })]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next reply at or after position `from` of `replies`, waiting up to `timeoutMs`. */
  async reply(from: number, timeoutMs: number): Promise<Reply> {
    const deadline = performance.now() + timeoutMs;
    while (this.replies.length <= from) {
      if (this.isClosed) throw new Error(`the server closed the connection instead of replying (${this.replies.length} replies)`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return this.replies[from]!;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
