/**
 * Thread-hop micro-benchmark: postMessage round trips between two worker threads joined by a
 * MessageChannel (as the actors are): one message in flight at a time (the latency of a hop
 * there and back), and 64 in flight (the rate). Messages are a 160-byte Uint8Array, about one
 * packed entry.
 */
import { MessageChannel, Worker, workerData, isMainThread, parentPort, type MessagePort } from 'node:worker_threads';
import { measureAsync, type MeasureOptions, type MicroResult } from './measure.js';

const inFlight = 64;

async function pinger(port: MessagePort, options: MeasureOptions): Promise<MicroResult[]> {
  const message = new Uint8Array(160).fill(1);
  let waiting: (() => void) | null = null;
  let outstanding = 0;
  port.on('message', () => {
    outstanding--;
    const wake = waiting;
    waiting = null;
    wake?.();
  });
  const one = (): Promise<void> => new Promise((resolve) => {
    waiting = resolve;
    outstanding++;
    port.postMessage(message);
  });
  const sequential = await measureAsync('thread hop round trip, 1 in flight', 'round trips', 1, one, options, { messageBytes: 160 });
  const batch = (): Promise<void> => new Promise((resolve) => {
    for (let i = 0; i < inFlight; i++) {
      outstanding++;
      port.postMessage(message);
    }
    const check = (): void => {
      if (outstanding === 0) resolve();
      else waiting = check;
    };
    waiting = check;
  });
  const pipelined = await measureAsync(`thread hop round trip, ${inFlight} in flight`, 'round trips', inFlight, batch, options,
    { messageBytes: 160, inFlight });
  port.postMessage(null);
  port.close();
  return [sequential, pipelined];
}

/** Runs in the main thread: starts both workers and returns what the pinging one measured. */
export async function threadHopBenchmarks(options: MeasureOptions): Promise<MicroResult[]> {
  const channel = new MessageChannel();
  const echo = new Worker(new URL('./hop-worker.js', import.meta.url), { workerData: { port: channel.port2 }, transferList: [channel.port2] });
  const ping = new Worker(new URL('./thread-hop.js', import.meta.url), { workerData: { port: channel.port1, options }, transferList: [channel.port1] });
  try {
    return await new Promise<MicroResult[]>((resolve, reject) => {
      ping.once('message', (results: MicroResult[]) => resolve(results));
      ping.once('error', reject);
    });
  } finally {
    await ping.terminate();
    await echo.terminate();
  }
}

if (!isMainThread && (workerData as { options?: MeasureOptions }).options !== undefined) {
  const data = workerData as { port: MessagePort; options: MeasureOptions };
  parentPort!.postMessage(await pinger(data.port, data.options));
}
