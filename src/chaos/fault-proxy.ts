/**
 * The fault network of a chaos run: one TCP proxy on loopback per directed server link A→B (the
 * connections A opens to B), so every server reaches each peer through a proxy the run controls.
 * A connection through the proxy A→B carries A's messages to B one way and B's replies to A the
 * other, so faults are set per direction of travel, `from` → `to`, and each proxy consults the
 * direction its bytes are going:
 *  - `delay`: bytes leave `delayMs` later, in order (the stream stays a valid stream);
 *  - `blackhole`: bytes are dropped silently while the connection stays open; when the cut heals,
 *    every connection that lost bytes is reset, as TCP would after its retransmissions gave up, so
 *    no server ever reads a stream with a hole in it;
 *  - `refuse`: connections are closed and the link's proxies stop listening, so a server that
 *    dials gets "connection refused" (a crashed host, a firewall that rejects) and backs off as
 *    it would in life, rather than connecting and being dropped in a tight loop.
 * Clients do not go through these proxies; they talk to the servers directly.
 */
import net from 'node:net';

export type CutMode = 'blackhole' | 'refuse';

interface DirectionFault {
  cut: CutMode | null;
  delayMs: number;
}

const linkKey = (from: string, to: string): string => `${from}>${to}`;

/** One piped connection through a link proxy: the side the dialing server opened, the side to its peer. */
class Pipe {
  lostBytes = false;
  closed = false;
  private readonly queues = { up: [] as { at: number; chunk: Buffer }[], down: [] as { at: number; chunk: Buffer }[] };
  private readonly timers: { up: NodeJS.Timeout | null; down: NodeJS.Timeout | null } = { up: null, down: null };

  constructor(
    readonly from: string,
    readonly to: string,
    private readonly dialer: net.Socket,
    private readonly peer: net.Socket,
    private readonly network: FaultNetwork,
    private readonly onClosed: (pipe: Pipe) => void,
  ) {
    dialer.on('data', (chunk: Buffer) => this.carry('up', chunk));
    peer.on('data', (chunk: Buffer) => this.carry('down', chunk));
    for (const socket of [dialer, peer]) {
      socket.on('error', () => this.close());
      socket.on('close', () => this.close());
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of Object.values(this.timers)) if (timer !== null) clearTimeout(timer);
    this.dialer.destroy();
    this.peer.destroy();
    this.onClosed(this);
  }

  /** 'up' is from → to (dialer to peer); 'down' is to → from (the peer's replies). */
  private carry(direction: 'up' | 'down', chunk: Buffer): void {
    if (this.closed) return;
    const [source, target] = direction === 'up' ? [this.from, this.to] : [this.to, this.from];
    const fault = this.network.fault(source, target);
    if (fault.cut === 'refuse') {
      this.close();
      return;
    }
    if (fault.cut === 'blackhole') {
      this.lostBytes = true;
      return;
    }
    const queue = this.queues[direction];
    if (fault.delayMs === 0 && queue.length === 0) {
      this.write(direction, chunk);
      return;
    }
    // Bytes never overtake earlier bytes, even when the delay shrinks.
    const lastAt = queue.length > 0 ? queue[queue.length - 1]!.at : 0;
    queue.push({ at: Math.max(Date.now() + fault.delayMs, lastAt), chunk });
    this.schedule(direction);
  }

  private schedule(direction: 'up' | 'down'): void {
    if (this.timers[direction] !== null || this.closed) return;
    const queue = this.queues[direction];
    const first = queue[0];
    if (first === undefined) return;
    this.timers[direction] = setTimeout(() => {
      this.timers[direction] = null;
      const now = Date.now();
      while (queue.length > 0 && queue[0]!.at <= now) this.write(direction, queue.shift()!.chunk);
      this.schedule(direction);
    }, Math.max(0, first.at - Date.now()));
  }

  private write(direction: 'up' | 'down', chunk: Buffer): void {
    if (this.closed) return;
    (direction === 'up' ? this.peer : this.dialer).write(chunk);
  }
}

export interface FaultNetworkOptions {
  /** Server ids, and where each listens. */
  servers: { id: string; address: string }[];
  /** The first proxy port; the proxies take n * (n - 1) consecutive ports from here. */
  basePort: number;
  host?: string;
}

export class FaultNetwork {
  private readonly faults = new Map<string, DirectionFault>();
  private readonly proxies = new Map<string, { server: net.Server; address: string; listening: boolean }>();
  private readonly pipes = new Set<Pipe>();

  constructor(options: FaultNetworkOptions) {
    const host = options.host ?? '127.0.0.1';
    let port = options.basePort;
    for (const from of options.servers) {
      for (const to of options.servers) {
        if (from.id === to.id) continue;
        const address = `${host}:${port++}`;
        const server = net.createServer((socket) => this.accept(from.id, to.id, to.address, socket));
        this.proxies.set(linkKey(from.id, to.id), { server, address, listening: false });
      }
    }
  }

  async start(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((proxy) => this.listen(proxy)));
  }

  private listen(proxy: { server: net.Server; address: string; listening: boolean }): Promise<void> {
    if (proxy.listening) return Promise.resolve();
    proxy.listening = true;
    const colon = proxy.address.lastIndexOf(':');
    return new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(Number(proxy.address.slice(colon + 1)), proxy.address.slice(0, colon), () => {
        proxy.server.off('error', reject);
        resolve();
      });
    });
  }

  private unlisten(proxy: { server: net.Server; listening: boolean }): Promise<void> {
    if (!proxy.listening) return Promise.resolve();
    proxy.listening = false;
    return new Promise<void>((resolve) => proxy.server.close(() => resolve()));
  }

  /** Where server `from` reaches server `to`. */
  proxyAddress(from: string, to: string): string {
    const proxy = this.proxies.get(linkKey(from, to));
    if (proxy === undefined) throw new Error(`no link ${from}→${to}`);
    return proxy.address;
  }

  fault(from: string, to: string): Readonly<DirectionFault> {
    return this.faults.get(linkKey(from, to)) ?? { cut: null, delayMs: 0 };
  }

  /** Messages from `from` no longer reach `to`. */
  cut(from: string, to: string, mode: CutMode): void {
    this.update(from, to, { cut: mode });
    if (mode === 'refuse') {
      for (const pipe of [...this.pipes]) {
        if ((pipe.from === from && pipe.to === to) || (pipe.from === to && pipe.to === from)) pipe.close();
      }
      for (const key of [linkKey(from, to), linkKey(to, from)]) void this.unlisten(this.proxies.get(key)!);
    }
  }

  delay(from: string, to: string, delayMs: number): void {
    this.update(from, to, { delayMs });
  }

  /** Every link back to normal; connections that lost bytes in a blackhole are reset. */
  async heal(): Promise<void> {
    this.faults.clear();
    for (const pipe of [...this.pipes]) if (pipe.lostBytes) pipe.close();
    await Promise.all([...this.proxies.values()].map((proxy) => this.listen(proxy)));
  }

  async close(): Promise<void> {
    for (const pipe of [...this.pipes]) pipe.close();
    await Promise.all([...this.proxies.values()].map((proxy) => this.unlisten(proxy)));
  }

  private update(from: string, to: string, change: Partial<DirectionFault>): void {
    this.faults.set(linkKey(from, to), { ...this.fault(from, to), ...change });
  }

  private accept(from: string, to: string, target: string, socket: net.Socket): void {
    const fault = this.fault(from, to);
    const back = this.fault(to, from);
    if (fault.cut === 'refuse' || back.cut === 'refuse') {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const colon = target.lastIndexOf(':');
    const peer = net.connect({ host: target.slice(0, colon), port: Number(target.slice(colon + 1)), noDelay: true });
    // Bytes from the dialer that arrive before the peer's side connects are queued by that socket.
    const pipe = new Pipe(from, to, socket, peer, this, (closed) => this.pipes.delete(closed));
    this.pipes.add(pipe);
  }
}
