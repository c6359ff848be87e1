/**
 * One simulated server: the production RaftServer with its production actors (LogActor with its
 * SegmentedLog and raft-meta, AppenderActor, UpdaterActor) and consensus core, given the
 * simulator's shell through RaftServer's environment: the node's virtual disk, virtual actor
 * channels, timers on the virtual clock, and the virtual network. A crash ends the node's life
 * (every queued message and timer of it is dropped) and crashes its disk; a restart builds fresh
 * objects that recover from what the disk kept, as a restarted process does.
 */
import pino from 'pino';
import type { RaftCore } from '../core/raft-core.js';
import type { CoreConfig, RestoredState } from '../core/types.js';
import { RaftServer } from '../server/raft-server.js';
import type { ServerEnvironment } from '../server/environment.js';
import { actorLinks, serverLinks, wireActorPorts, type ActorSet } from '../server/actor-hosts.js';
import { LogActor } from '../actors/log-actor.js';
import { UpdaterActor } from '../actors/updater-actor.js';
import type { SessionTable } from '../actors/session-table.js';
import { AppenderActor } from '../actors/appender-actor.js';
import { RaftCore as ProductionCore } from '../core/raft-core.js';
import type { Limits } from '../limits.js';
import { assert } from '../errors.js';
import { damageLastRecord } from '../log/disk-damage.js';
import { Life, SimClock, SimTimers, type SimScheduler } from './scheduler.js';
import { simChannel } from './sim-channel.js';
import { SimDisk } from './sim-disk.js';
import { SimPeerLink, type SimNetwork } from './sim-network.js';
import { SimLedger, type ApplyObserver, type LoadObserver } from './sim-ledger.js';

export type CoreFactory = (config: CoreConfig, restored: RestoredState) => RaftCore;
/** The ledger the updaters run (the simulator's tests give deliberately broken ones). */
export type LedgerFactory = (observer: ApplyObserver, loadObserver: LoadObserver) => SimLedger;

/** How a node's ledger came to be loaded from a snapshot: installed from the leader, or at a restart. */
export type SnapshotLoad = 'install' | 'restart';

export interface SimNodeContext {
  scheduler: SimScheduler;
  network: SimNetwork;
  limits: Partial<Limits>;
  nodeIds: readonly string[];
  timerJitterMs: number;
  makeCore: CoreFactory;
  /** Deliberately broken: fsync makes nothing durable. */
  lyingDisk: boolean;
  /** The updaters' session tables, when not the production one (deliberately broken ones). */
  makeSessionTable?: () => SessionTable<unknown>;
  /** The updaters' ledgers, when not SimLedger (deliberately broken ones). */
  makeLedger?: LedgerFactory;
  /** Snapshot policy of every server (RaftServerOptions): small, so that snapshots, purges and installs happen in a run. */
  snapshotEvery: number;
  logKeep: number;
  /** Bytes the updater writes of a snapshot per turn of its loop: small, so that a write spans steps a crash can fall between. */
  snapshotStepBytes: number;
  /** Every server's read lease (RaftServerOptions.readLease); none when absent. */
  readLease?: { clockDriftMs: number };
  onApply(node: SimNode, index: number, value: string, position: number): void;
  onSnapshotLoaded(node: SimNode, how: SnapshotLoad, index: number, values: readonly string[]): void;
}

const silentLogger = pino({ level: 'silent' });

export function addressOf(id: string): string {
  return `${id}:7000`;
}

export class SimNode {
  readonly disk: SimDisk;
  life: Life | null = null;
  server: RaftServer | null = null;
  core: RaftCore | null = null;
  /** This life's appender: as a leader it decides commits before the core hears of them. */
  appender: AppenderActor | null = null;
  /** This life's updater and log actor, looked at (read only) for the snapshot statistics and crash points. */
  updater: UpdaterActor | null = null;
  log: LogActor | null = null;
  ledger: SimLedger | null = null;
  incarnation = 0;
  /** The machine's clock: the server's monotonic clock and its timers run on it (a nemesis skews it). */
  readonly clock: SimClock;

  constructor(readonly id: string, private readonly context: SimNodeContext) {
    this.disk = new SimDisk(!context.lyingDisk);
    this.clock = new SimClock(context.scheduler);
  }

  get isUp(): boolean {
    return this.life !== null && this.life.alive && this.core !== null;
  }

  async start(): Promise<void> {
    const context = this.context;
    const life = new Life(`${this.id}#${++this.incarnation}`);
    this.life = life;
    this.core = null;
    this.appender = null;
    this.updater = null;
    this.log = null;
    const observer: ApplyObserver = (index, value, position) => context.onApply(this, index, value, position);
    // The updater loads a snapshot at start (the one its log continues) or when it installs the leader's.
    const loaded: LoadObserver = (index, values) =>
      context.onSnapshotLoaded(this, this.updater?.installInProgress === true ? 'install' : 'restart', index, values);
    const ledger = context.makeLedger?.(observer, loaded) ?? new SimLedger(observer, loaded);
    this.ledger = ledger;
    const timers = (): SimTimers => new SimTimers(context.scheduler, life, context.timerJitterMs, this.clock);
    const environment: Partial<ServerEnvironment> = {
      fileSystem: this.disk,
      timers: timers(),
      monotonicMs: this.clock.now,
      lockDir: (dir) => ({ dir, release: () => {} }),
      loadStateMachine: async () => new SimLedger(null),
      spawnActors: (_mode, options) => this.spawnActors(life, options, ledger, timers),
      listen: async (_address, _limits, handlers) => {
        context.network.listen(this.id, life, handlers);
        return { close: async () => {} };
      },
      electionSeed: () => context.scheduler.rng.nextUint32(),
      makeCore: (config, restored) => {
        const core = context.makeCore(config, restored);
        this.core = core;
        return core;
      },
    };
    const server = new RaftServer({
      id: this.id,
      peers: context.nodeIds.map((id) => ({ id, address: addressOf(id) })),
      dir: `/sim/${this.id}`,
      actors: 'inline',
      limits: context.limits,
      logger: silentLogger,
      snapshotEvery: context.snapshotEvery,
      logKeep: context.logKeep,
      ...(context.readLease === undefined ? {} : { readLease: context.readLease }),
    }, environment);
    this.server = server;
    await server.start();
  }

  /** kill -9 and power loss at once: the life ends, the disk keeps what a crash keeps. */
  crash(loseAllProbability: number, tearProbability: number): { tornWrites: number } {
    if (this.life !== null) this.life.alive = false;
    this.life = null;
    this.server = null;
    this.core = null;
    this.appender = null;
    this.updater = null;
    this.log = null;
    this.ledger = null;
    this.context.network.crashNode(this.id);
    return this.disk.crash(this.context.scheduler, loseAllProbability, tearProbability);
  }

  /** The data directory of the group on this node's disk (RaftServer's `groupDir`). */
  get groupDir(): string {
    return `/sim/${this.id}/default/current`;
  }

  /** A down node's disk is replaced by an empty one: it restarts with no log and no term. */
  loseDisk(): void {
    assert(this.life === null, `${this.id} must be down to lose its disk`);
    this.disk.replace();
  }

  /** Damages the last record of a down node's log on disk (disk-damage.ts); its index, or null. */
  damageLastRecord(): number | null {
    assert(this.life === null, `${this.id} must be down to damage its log`);
    return damageLastRecord(this.disk, this.groupDir);
  }

  private spawnActors(life: Life, options: Parameters<ServerEnvironment['spawnActors']>[1], ledger: SimLedger,
    timers: () => SimTimers): ActorSet {
    const scheduler = this.context.scheduler;
    const ports = wireActorPorts(() => simChannel(scheduler, life));
    const links = actorLinks(ports);
    const log = new LogActor(options.log, links.log, { fileSystem: this.disk, timers: timers() });
    const makeSessionTable = this.context.makeSessionTable;
    const updater = new UpdaterActor({ ...options.updater, snapshotStepBytes: this.context.snapshotStepBytes }, links.updater, {
      timers: timers(), loadStateMachine: async () => ledger, fileSystem: this.disk,
      ...(makeSessionTable === undefined ? {} : { sessionTable: makeSessionTable }),
    });
    this.log = log;
    this.updater = updater;
    const network = this.context.network;
    const appender = new AppenderActor(options.appender, links.appender,
      { timers: timers(), dial: (peer) => new SimPeerLink(network, this.id, life, peer), fileSystem: this.disk });
    this.appender = appender;
    return {
      ...serverLinks(ports),
      logControl: log,
      updaterControl: updater,
      appenderControl: appender,
      threadHeaps: () => ({}),
      terminate: async () => {},
    };
  }
}

export const productionCore: CoreFactory = (config, restored) => new ProductionCore(config, restored);
