/**
 * The control plane of an actor (start, status, stop), served over comlink in a worker and called
 * directly when the actor runs inline. The data plane never goes through here.
 */
import * as Comlink from 'comlink';
import nodeAdapter from 'comlink/dist/umd/node-adapter.js';
import type { MessagePort, Worker } from 'node:worker_threads';

// The adapter is a UMD module: Node's ESM loader hands over the function itself, while its
// typings describe a default export; accept both shapes.
type AdapterFunction = typeof nodeAdapter.default;
const nodeEndpoint: AdapterFunction =
  typeof nodeAdapter === 'function' ? (nodeAdapter as unknown as AdapterFunction) : nodeAdapter.default;

export interface ActorControl<StartResult, Status> {
  start(): Promise<StartResult>;
  status(): Promise<Status>;
  stop(): Promise<void>;
}

type Endpoint = Parameters<typeof nodeEndpoint>[0];

/** Worker side: serve the control object on the parent port. */
export function exposeControl<S, T>(control: ActorControl<S, T>, port: MessagePort): void {
  Comlink.expose(control, nodeEndpoint(port as unknown as Endpoint));
}

/** Supervisor side: a proxy whose calls travel to the worker. */
export function wrapControl<S, T>(worker: Worker): ActorControl<S, T> {
  const remote = Comlink.wrap<ActorControl<S, T>>(nodeEndpoint(worker as unknown as Endpoint));
  return {
    start: () => remote.start() as Promise<S>,
    status: () => remote.status() as Promise<T>,
    stop: () => remote.stop() as Promise<void>,
  };
}
