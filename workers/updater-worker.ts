/** Worker entry of the state machine updater actor. */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { UpdaterActor, type UpdaterActorOptions } from '../src/actors/updater-actor.js';
import { ActorLink } from '../src/shell/actor-link.js';
import { exposeControl } from '../src/shell/control.js';
import { reportHeapFrom, type HeapBoardSeat } from '../src/metrics/memory.js';

const data = workerData as { options: UpdaterActorOptions; ports: { main: MessagePort; log: MessagePort; appender: MessagePort }; heap: HeapBoardSeat };
const actor = new UpdaterActor(data.options, {
  main: new ActorLink(data.ports.main), log: new ActorLink(data.ports.log), appender: new ActorLink(data.ports.appender),
});
exposeControl(actor, parentPort!);
reportHeapFrom(data.heap);
