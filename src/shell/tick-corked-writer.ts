/**
 * Writes frames to a socket so that everything written in one tick leaves in one socket write:
 * cork on the first write of a tick, uncork on the next: on loopback one socket write per frame
 * costs over ten times as much per frame as 100 frames corked into one (`npm run bench:micro --
 * --only tcp`; figures in docs/results.md). Shared by the server's listener, the appender's
 * peer connections and the client's connection.
 *
 * `writeBody` frames a packed body into a buffer of this connection's own, taken back once the
 * socket is done with it, for a later frame. A fresh buffer per frame meant fresh memory per
 * AppendEntries: pages the kernel faults in and zeroes (on a VM each fault costs a hypervisor
 * exit; the leader's appender spent 8 % of its time in them at 256 outstanding).
 */
import type net from 'node:net';
import { frameHeaderBytes } from '../messages/framing.js';
import { SpareBuffers } from '../spare-buffers.js';

/** Frames over this size get a buffer of their own. */
const spareBytesMax = 4 * 1024 * 1024;

export class TickCorkedWriter {
  private corked = false;
  /** Frame buffers for reuse: four per connection (frames of one tick are in flight together). */
  private readonly spares = new SpareBuffers(16 * 1024, spareBytesMax, 4);

  constructor(private readonly socket: net.Socket) {}

  write(frame: Uint8Array, done?: () => void): void {
    const socket = this.socket;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        if (!socket.destroyed) socket.uncork();
      });
    }
    if (done === undefined) socket.write(frame);
    else socket.write(frame, done);
  }

  /** Frames `body` (copied: it may be a view the next pack overwrites) and writes it; returns the frame's size. */
  writeBody(body: Uint8Array): number {
    const size = frameHeaderBytes + body.length;
    if (size > spareBytesMax) {
      const frame = Buffer.allocUnsafe(size);
      frame.writeUInt32BE(body.length, 0);
      frame.set(body, frameHeaderBytes);
      this.write(frame);
      return size;
    }
    const buffer = this.spares.take(size);
    buffer.writeUInt32BE(body.length, 0);
    buffer.set(body, frameHeaderBytes);
    // Back to the spares once the socket has handed the bytes to the kernel (or failed).
    this.write(buffer.subarray(0, size), () => this.spares.giveBack(buffer));
    return size;
  }
}
