/**
 * A virtual MessageChannel: two ports, each a FIFO queue of packed messages. A port whose queue
 * holds a message and has a listener is a ready source of the scheduler, which picks the next
 * delivery among all ready sources by the seed. Like a MessagePort, messages posted before the
 * listener is attached wait for it, and nothing is delivered after the channel is closed.
 */
import type { LinkPort } from '../shell/actor-link.js';
import type { Life, ReadySource, SimScheduler } from './scheduler.js';

export class SimPort implements LinkPort, ReadySource {
  readonly sourceId: number;
  queued = false;
  peer: SimPort | null = null;
  private queue: Uint8Array[] = [];
  private head = 0;
  private listener: ((value: Uint8Array) => void) | null = null;
  private closed = false;

  constructor(private readonly scheduler: SimScheduler, readonly life: Life) {
    this.sourceId = scheduler.newSourceId();
  }

  postMessage(value: Uint8Array): void {
    const peer = this.peer;
    if (this.closed || peer === null || peer.closed) return;
    peer.queue.push(value);
    if (peer.listener !== null) this.scheduler.markReady(peer);
  }

  on(_event: 'message', listener: (value: Uint8Array) => void): this {
    this.listener = listener;
    if (this.hasWork()) this.scheduler.markReady(this);
    return this;
  }

  close(): void {
    this.closed = true;
    if (this.peer !== null) this.peer.closed = true;
  }

  hasWork(): boolean {
    return !this.closed && this.listener !== null && this.head < this.queue.length;
  }

  runOne(): void {
    const value = this.queue[this.head++]!;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    this.listener!(value);
  }
}

/** A pair of connected ports, as `new MessageChannel()` gives. */
export function simChannel(scheduler: SimScheduler, life: Life): { port1: SimPort; port2: SimPort } {
  const port1 = new SimPort(scheduler, life);
  const port2 = new SimPort(scheduler, life);
  port1.peer = port2;
  port2.peer = port1;
  return { port1, port2 };
}
