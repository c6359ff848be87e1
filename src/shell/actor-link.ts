/**
 * A data-plane link between two actors: one end of a MessageChannel, carrying msgpack-packed
 * messages as transferred byte arrays: a transferred buffer crosses threads as it is, where an
 * object graph is walked and rebuilt by the structured clone on both sides (the hop's own cost:
 * `npm run bench:micro -- --only hop`). The same link works between worker threads and on one thread (inline actors).
 */
import { decode, encodeForTransfer } from '../messages/codec.js';

/**
 * What a link needs of its port: a worker_threads MessagePort, or a virtual FIFO channel of the
 * simulator (src/sim/sim-channel.ts), whose deliveries its seeded scheduler interleaves.
 */
export interface LinkPort {
  postMessage(value: Uint8Array, transferList: ArrayBuffer[]): void;
  on(event: 'message', listener: (value: Uint8Array) => void): unknown;
  close(): void;
}

export class ActorLink<In, Out> {
  constructor(private readonly port: LinkPort) {}

  send(message: Out): void {
    const bytes = encodeForTransfer(message);
    this.port.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
  }

  /** Starts delivery; each message is decoded once, here. */
  onMessage(handler: (message: In) => void): void {
    this.port.on('message', (bytes: Uint8Array) => handler(decode(bytes) as In));
  }

  close(): void {
    this.port.close();
  }
}
