/**
 * The far end of the thread-hop micro-benchmark: a worker that answers every message on the port
 * it is given with the same message, until it receives `null`.
 */
import { workerData, type MessagePort } from 'node:worker_threads';

const port = (workerData as { port: MessagePort }).port;
port.on('message', (message: unknown) => {
  if (message === null) {
    port.close();
    return;
  }
  port.postMessage(message);
});
