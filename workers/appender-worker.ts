/** Worker entry of the appender actor. */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { AppenderActor, type AppenderActorOptions } from '../src/actors/appender-actor.js';
import { ActorLink } from '../src/shell/actor-link.js';
import { exposeControl } from '../src/shell/control.js';
import { reportHeapFrom, type HeapBoardSeat } from '../src/metrics/memory.js';

const data = workerData as { options: AppenderActorOptions; ports: { main: MessagePort; log: MessagePort; updater: MessagePort }; heap: HeapBoardSeat };
const actor = new AppenderActor(data.options, {
  main: new ActorLink(data.ports.main), log: new ActorLink(data.ports.log), updater: new ActorLink(data.ports.updater),
});
exposeControl(actor, parentPort!);
reportHeapFrom(data.heap);
