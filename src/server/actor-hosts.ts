/**
 * Spawns the three actors of a server — log, appender, updater — either each in its own worker
 * thread (production) or all inline on the main thread (the baseline, and embedding without
 * threads). Either way they are wired by MessageChannels: log <-> updater, appender <-> log and
 * appender -> updater (a leader's commits) directly (worker to worker, no relay through the main
 * thread), and each to the server.
 * A worker that dies or throws stops the server through `onFailure`; nothing restarts silently.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { ActorLink, type LinkPort } from '../shell/actor-link.js';
import { wrapControl, type ActorControl } from '../shell/control.js';
import { LogActor, type LogActorLinks, type LogActorOptions, type LogRecovered, type LogStatus } from '../actors/log-actor.js';
import { UpdaterActor, type UpdaterActorLinks, type UpdaterActorOptions, type UpdaterStatus } from '../actors/updater-actor.js';
import { AppenderActor, type AppenderActorLinks, type AppenderActorOptions, type AppenderStatus } from '../actors/appender-actor.js';
import { ActorFailureError } from '../errors.js';
import { youngGenerationMb } from '../limits.js';
import { HeapBoard, type HeapBoardSeat, type ThreadHeapSnapshot } from '../metrics/memory.js';
import type {
  AppenderHigherTermMessage, AppenderInput, AppenderProgressMessage, LogInput, LogSyncedMessage,
  UpdaterInput, UpdaterOutput,
} from '../messages/messages.js';

export type ActorMode = 'workers' | 'inline';

export interface ActorOptions {
  log: LogActorOptions;
  updater: UpdaterActorOptions;
  appender: AppenderActorOptions;
  /** Each worker's young-generation semi-space size in MiB (Limits.heapSemiSpaceMb); unused inline. */
  heapSemiSpaceMb: number;
}

/** The server's ends of the data plane and the actors' control planes. */
export interface ActorSet {
  log: ActorLink<LogSyncedMessage, LogInput>;
  updater: ActorLink<UpdaterOutput, UpdaterInput>;
  appender: ActorLink<AppenderProgressMessage | AppenderHigherTermMessage, AppenderInput>;
  logControl: ActorControl<LogRecovered, LogStatus>;
  updaterControl: ActorControl<void, UpdaterStatus>;
  appenderControl: ActorControl<void, AppenderStatus>;
  /** Heap figures of the actor threads (none when they run inline, on the server's own thread). */
  threadHeaps(nowMs: number): Record<string, ThreadHeapSnapshot>;
  /** Terminates workers (after their stop()), or nothing inline. */
  terminate(): Promise<void>;
}

/** Worker entry files are compiled to dist/workers/ beside dist/src/. */
function workerUrl(name: string): URL {
  return new URL(`../../workers/${name}-worker.js`, import.meta.url);
}

/**
 * Which end of which channel each party holds: the server's three, and each actor's. The one
 * wiring for worker threads, inline actors and the simulator (its virtual channels).
 */
export interface ActorPorts<P> {
  server: { log: P; updater: P; appender: P };
  log: { main: P; updater: P; appender: P };
  updater: { main: P; log: P; appender: P };
  appender: { main: P; log: P; updater: P };
  all: P[];
}

export function wireActorPorts<P>(channel: () => { port1: P; port2: P }): ActorPorts<P> {
  const [mainLog, mainUpdater, mainAppender, logUpdater, appenderLog, appenderUpdater] = Array.from({ length: 6 }, channel);
  return {
    server: { log: mainLog!.port1, updater: mainUpdater!.port1, appender: mainAppender!.port1 },
    log: { main: mainLog!.port2, updater: logUpdater!.port1, appender: appenderLog!.port2 },
    updater: { main: mainUpdater!.port2, log: logUpdater!.port2, appender: appenderUpdater!.port2 },
    appender: { main: mainAppender!.port2, log: appenderLog!.port1, updater: appenderUpdater!.port1 },
    all: [mainLog, mainUpdater, mainAppender, logUpdater, appenderLog, appenderUpdater].flatMap((c) => [c!.port1, c!.port2]),
  };
}

/** The server's links to its actors. */
export function serverLinks(ports: ActorPorts<LinkPort>): Pick<ActorSet, 'log' | 'updater' | 'appender'> {
  return {
    log: new ActorLink<LogSyncedMessage, LogInput>(ports.server.log),
    updater: new ActorLink<UpdaterOutput, UpdaterInput>(ports.server.updater),
    appender: new ActorLink<AppenderProgressMessage | AppenderHigherTermMessage, AppenderInput>(ports.server.appender),
  };
}

/** The actors' links, for actors on the server's own thread (inline, or in the simulator). */
export function actorLinks(ports: ActorPorts<LinkPort>): { log: LogActorLinks; updater: UpdaterActorLinks; appender: AppenderActorLinks } {
  return {
    log: { main: new ActorLink(ports.log.main), updater: new ActorLink(ports.log.updater), appender: new ActorLink(ports.log.appender) },
    updater: { main: new ActorLink(ports.updater.main), log: new ActorLink(ports.updater.log), appender: new ActorLink(ports.updater.appender) },
    appender: { main: new ActorLink(ports.appender.main), log: new ActorLink(ports.appender.log), updater: new ActorLink(ports.appender.updater) },
  };
}

export function spawnActors(mode: ActorMode, options: ActorOptions, onFailure: (error: Error) => void): ActorSet {
  const ports = wireActorPorts(() => new MessageChannel());
  const server = serverLinks(ports);
  if (mode === 'inline') {
    const links = actorLinks(ports);
    const log = new LogActor(options.log, links.log);
    const updater = new UpdaterActor(options.updater, links.updater);
    const appender = new AppenderActor(options.appender, links.appender);
    return {
      ...server, logControl: log, updaterControl: updater, appenderControl: appender,
      threadHeaps: () => ({}),
      terminate: async () => { for (const port of ports.all) port.close(); },
    };
  }
  const workers: Worker[] = [];
  let stopping = false;
  const heaps = new HeapBoard(['log', 'appender', 'updater']);
  const spawn = (name: string, actorOptions: unknown, ports: Record<string, MessagePort>): Worker => {
    const heap: HeapBoardSeat = { buffer: heaps.buffer, names: [...heaps.names], name };
    const worker = new Worker(workerUrl(name), {
      workerData: { options: actorOptions, ports, heap },
      transferList: Object.values(ports),
      resourceLimits: { maxYoungGenerationSizeMb: youngGenerationMb(options.heapSemiSpaceMb) },
    });
    worker.on('error', (error) => {
      onFailure(new ActorFailureError(`${name} actor failed: ${error.message}`, { actor: name, stack: error.stack }));
    });
    worker.on('exit', (code) => {
      exited.set(worker, new ActorFailureError(`${name} actor exited with code ${code}`, { actor: name, code }));
      if (!stopping) onFailure(exited.get(worker)!);
    });
    workers.push(worker);
    return worker;
  };
  // A control call to a worker that has exited would never be answered: it fails instead, so a
  // server closing after an actor died still stops the others and releases its directory.
  const exited = new Map<Worker, ActorFailureError>();
  const control = <S, T>(worker: Worker): ActorControl<S, T> => {
    const remote = wrapControl<S, T>(worker);
    const call = <R>(method: () => Promise<R>): Promise<R> => {
      const dead = exited.get(worker);
      if (dead !== undefined) return Promise.reject(dead);
      return new Promise<R>((resolve, reject) => {
        const onExit = (): void => reject(exited.get(worker));
        worker.once('exit', onExit);
        method().then(resolve, reject).finally(() => worker.off('exit', onExit));
      });
    };
    return { start: () => call(remote.start), status: () => call(remote.status), stop: () => call(remote.stop) };
  };
  const logWorker = spawn('log', options.log, ports.log);
  const updaterWorker = spawn('updater', options.updater, ports.updater);
  const appenderWorker = spawn('appender', options.appender, ports.appender);
  return {
    ...server,
    logControl: control(logWorker),
    updaterControl: control(updaterWorker),
    appenderControl: control(appenderWorker),
    threadHeaps: (nowMs) => heaps.read(nowMs),
    terminate: async () => {
      stopping = true;
      await Promise.all(workers.map((worker) => worker.terminate()));
      for (const link of [server.log, server.updater, server.appender]) link.close();
    },
  };
}
