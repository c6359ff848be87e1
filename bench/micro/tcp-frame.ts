/**
 * TCP frame micro-benchmark: length-prefixed frames (the project's framing, 160-byte bodies)
 * written to a loopback socket and split again by FrameReader on the other side — one
 * socket.write per frame, and 100 frames corked into one write — in frames per second received.
 */
import net from 'node:net';
import { encode } from '../../src/messages/codec.js';
import { FrameReader, frameOfBody } from '../../src/messages/framing.js';
import { result, type MeasureOptions, type MicroResult } from './measure.js';

const framesPerRound = 100;

export async function tcpFrameBenchmarks(options: MeasureOptions): Promise<MicroResult[]> {
  let received = 0;
  let wake: (() => void) | null = null;
  const server = net.createServer((socket) => {
    const reader = new FrameReader(1024 * 1024);
    socket.on('data', (chunk: Buffer) => {
      received += reader.push(chunk).length;
      if (wake !== null) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const frame = frameOfBody(encode({ k: 1, payload: new Uint8Array(150).fill(3) }));
  const results: MicroResult[] = [];
  try {
    for (const corked of [false, true]) {
      received = 0;
      let sent = 0;
      const startMs = performance.now();
      const endMs = startMs + options.seconds * 1000;
      const sentMax = options.stepsMax === undefined ? 50_000_000 : options.stepsMax * framesPerRound;
      // Rounds of 100 frames, each round waiting until the receiver has them all: bounded in
      // memory, and the figure counts frames that arrived and were split, not just queued.
      while (performance.now() < endMs && sent < sentMax) {
        if (corked) socket.cork();
        for (let i = 0; i < framesPerRound; i++) socket.write(frame);
        if (corked) socket.uncork();
        sent += framesPerRound;
        const stallMs = performance.now() + 10_000;
        while (received < sent) {
          if (performance.now() > stallMs) throw new Error(`tcp frame benchmark: ${sent - received} frames not received within 10 s`);
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 100).unref();
          });
        }
        wake = null;
      }
      results.push(result(`tcp frame ${corked ? `corked x${framesPerRound}` : 'write each'}`, 'frames', received, (performance.now() - startMs) / 1000,
        { frameBytes: frame.length, framesPerRound, corked: String(corked) }));
    }
  } finally {
    socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return results;
}
