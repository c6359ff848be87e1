/**
 * The server's shell, at its construction boundary: where it gets its file system, its data
 * directory lock, its state machine, its actors, its listener, its clocks and its consensus core.
 * `RaftServer` uses Node's (real files, worker threads or inline actors on MessageChannels, TCP,
 * real timers) unless given others; the deterministic simulator (src/sim/) gives its virtual disk,
 * network and clock and runs every server of a cluster on one thread.
 */
import type { Logger } from 'pino';
import type { TlsMaterial } from '../shell/tls-identity.js';
import { RaftCore } from '../core/raft-core.js';
import type { CoreConfig, RestoredState } from '../core/types.js';
import { acquireDirLock, type DirLock } from '../log/dir-lock.js';
import { nodeFileSystem, type FileSystem } from '../log/file-system.js';
import type { StateMachine } from '../state-machine.js';
import { loadStateMachine } from '../statemachines/load.js';
import { nodeTimers, type Timers } from '../shell/timers.js';
import { spawnActors, type ActorMode, type ActorOptions, type ActorSet } from './actor-hosts.js';
import { Listener, type ConnectionCounts, type ListenerHandlers, type ListenerOptions } from './listener.js';

/** A listening endpoint, as the server holds it. */
export interface ListeningEndpoint {
  close(): Promise<void>;
  /** Open connections by kind; absent where nothing counts them (the simulator). */
  connectionCounts?(): ConnectionCounts;
  /** A TLS port: the certificate, key and CA for connections from now on. */
  setTlsMaterial?(material: TlsMaterial): void;
}

export interface ServerEnvironment {
  fileSystem: FileSystem;
  timers: Timers;
  /** A monotonic clock in ms (the log's time for client sessions runs on a leader's; see session-clock.ts). */
  monotonicMs(): number;
  lockDir(dir: string): DirLock;
  loadStateMachine(spec: string): Promise<StateMachine>;
  spawnActors(mode: ActorMode, options: ActorOptions, onFailure: (error: Error) => void): ActorSet;
  listen(address: string, options: ListenerOptions, handlers: ListenerHandlers, logger: Logger): Promise<ListeningEndpoint>;
  /** The seed of the core's election-timeout generator. */
  electionSeed(serverId: string): number;
  makeCore(config: CoreConfig, restored: RestoredState): RaftCore;
}

export const nodeServerEnvironment: ServerEnvironment = {
  fileSystem: nodeFileSystem,
  timers: nodeTimers,
  monotonicMs: () => performance.now(),
  lockDir: acquireDirLock,
  loadStateMachine,
  spawnActors,
  listen: async (address, options, handlers, logger) => {
    const listener = new Listener(options, handlers, logger);
    await listener.listen(address);
    return listener;
  },
  electionSeed: (serverId) => [...serverId].reduce((hash, char) => (hash * 31 + char.charCodeAt(0)) >>> 0, Date.now() >>> 0),
  makeCore: (config, restored) => new RaftCore(config, restored),
};
