/** Worker entry of the log actor: builds it from workerData and serves its control plane. */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { LogActor, type LogActorOptions } from '../src/actors/log-actor.js';
import { ActorLink } from '../src/shell/actor-link.js';
import { exposeControl } from '../src/shell/control.js';
import { reportHeapFrom, type HeapBoardSeat } from '../src/metrics/memory.js';

const data = workerData as { options: LogActorOptions; ports: { main: MessagePort; updater: MessagePort; appender: MessagePort }; heap: HeapBoardSeat };
const actor = new LogActor(data.options, {
  main: new ActorLink(data.ports.main), updater: new ActorLink(data.ports.updater), appender: new ActorLink(data.ports.appender),
});
exposeControl(actor, parentPort!);
reportHeapFrom(data.heap);
