/**
 * The state machine updater actor (Ratis `StateMachineUpdater`): holds the durable entries the
 * log actor hands over, and applies them once committed, strictly in log order:
 * `applyTransactionSerial`, then `applyTransaction` (which may return a promise: calls are made in
 * order, results may complete out of order). It also answers queries.
 *
 * Exactly-once: every replica applies the same log, so deduplication by (session, callId) is done
 * here, deterministically, at apply time. An entry whose call was already applied (a client
 * retried a write after a leader change) is not applied again; it gets the first result. Results
 * below a client's `firstUnacked` are forgotten, which bounds the table per session. Sessions are
 * opened, ended and forgotten when idle by entries of the log (session-table.ts), which bounds the
 * tables in number: a write of a session not held is answered SESSION_EXPIRED and not applied.
 */
import { Kind } from '../messages/kinds.js';
import type {
  UpdaterAppliedMessage, UpdaterCommitMessage, UpdaterInput, UpdaterInstallChunkMessage, UpdaterInstallProgressMessage, UpdaterLogInput,
  UpdaterOutput, UpdaterQueryBatchMessage, UpdaterQueryMessage, UpdaterRestoreMessage, UpdaterSnapshotTakenMessage,
} from '../messages/messages.js';
import { decodeClockData, decodeConfigurationData, EntryDecoder, EntryType, type EntryBody } from '../messages/entry.js';
import { toSnapshotConfiguration } from '../core/configuration.js';
import { EntryRun, packedFrom } from '../messages/packed-entries.js';
import type { ActorLink } from '../shell/actor-link.js';
import type { ActorControl } from '../shell/control.js';
import type { SnapshotConfiguration, SnapshotInfo, SnapshotReader, SnapshotWriter, StateMachine, StateMachineContext } from '../state-machine.js';
import { loadStateMachine } from '../statemachines/load.js';
import {
  assert, ConfigurationError, errorToWire, SessionExpiredError, SnapshotRejectedError, StateMachineError, type WireError,
} from '../errors.js';
import { nowUs } from '../metrics/clock.js';
import { nodeTimers, type Timers } from '../shell/timers.js';
import { encode } from '../messages/codec.js';
import { defaultLimits } from '../limits.js';
import { SessionTable } from './session-table.js';
import { decodeCallOutcome, encodeCallOutcome } from './session-table.js';
import { nodeFileSystem, type FileSystem } from '../log/file-system.js';
import { SnapshotStore, type SnapshotFileSource, type SnapshotInstallJob, type SnapshotWriteJob } from '../snapshot/snapshot-store.js';

export interface UpdaterActorOptions {
  stateMachine: string;
  context: StateMachineContext;
  /** Stamp each apply loop for per-stage latency (reported in UpdaterApplied). */
  profiling?: boolean;
  /**
   * This server's session bound (Limits.sessionIdleMsMax), told to a client with its session so
   * that it renews an idle one in time. Only the bound a clock entry carries forgets sessions.
   */
  sessionIdleMsMax?: number;
  /** Take a snapshot once this many entries were applied since the last one; 0: only on demand. */
  snapshotEvery?: number;
  /** Snapshots kept on disk (the newest); older ones are deleted once a new one is durable. */
  snapshotRetain?: number;
  /** The configuration the group starts with, until a snapshot or a configuration entry says otherwise. */
  configuration?: SnapshotConfiguration;
  /**
   * Bytes a snapshot write job writes between two turns of the loop (applies run in between);
   * 4 MiB unless given. The simulator gives a few hundred, so that a crash can land mid-write.
   */
  snapshotStepBytes?: number;
}

/** The actor's shell: Node's timers, module loader and file system, or the simulator's clock, machines and disk. */
export interface UpdaterActorEnvironment {
  timers: Timers;
  loadStateMachine(spec: string): Promise<StateMachine>;
  /** The session table (the simulator's tests give deliberately broken ones). */
  sessionTable?(): SessionTable<unknown>;
  /** Where snapshots are written and installed; node:fs unless given. */
  fileSystem?: FileSystem;
}

const nodeEnvironment: UpdaterActorEnvironment = { timers: nodeTimers, loadStateMachine };

export interface UpdaterStatus {
  appliedIndex: number;
  commitIndex: number;
  bufferedEntries: number;
  sessions: number;
  /** The newest snapshot's index (0 for none). */
  snapshotIndex: number;
}

/** The server's own file in every snapshot: the client sessions and their exactly-once tables. */
const sessionsFile = 'raftline-sessions';
/** A state machine's file names (state-machine.ts, SnapshotWriter.addFile). */
const fileNamePattern = /^[A-Za-z0-9._-]{1,64}$/;
/**
 * Bytes a snapshot write job writes between two turns of the updater's loop, unless the options say:
 * with their CRC32C about 1.5 ms, so an apply waits no longer than that behind a snapshot.
 */
const snapshotStepBytesDefault = 512 * 1024;

interface InstallInProgress {
  key: string;
  manifest: SnapshotInfo;
  job: SnapshotInstallJob;
  startedMs: number;
}

export interface UpdaterActorLinks {
  main: ActorLink<UpdaterInput, UpdaterOutput>;
  log: ActorLink<UpdaterLogInput, never>;
  /** A leader's commit indexes, decided by the appender (Ratis: the log appender updates the commit and wakes the updater). */
  appender?: ActorLink<UpdaterCommitMessage, never>;
}

interface CallOutcome {
  ok: boolean;
  result: Uint8Array | null;
  error: WireError | null;
  /** While an async apply runs: settles when it is done; null once the outcome is known. */
  settled: Promise<void> | null;
}

/** The outcome of every synchronous apply that returned no result: shared, never changed. */
const appliedWithoutResult: CallOutcome = Object.freeze({ ok: true, result: null, error: null, settled: null }) as CallOutcome;

export class UpdaterActor implements ActorControl<void, UpdaterStatus> {
  private stateMachine: StateMachine | null = null;
  /** Durable entries not yet applied, as they came from the log (packed); the first is at index buffer.firstIndex. */
  private readonly buffer = new EntryRun(1);
  /** Log messages that came before the state machine and its snapshot were loaded, in order. */
  private early: UpdaterLogInput[] | null = [];
  private restore: UpdaterRestoreMessage | null = null;
  /**
   * The configurations applied, by index (the one in force at the settled index and any applied
   * after it): a snapshot's manifest records the one in force at its index.
   */
  private configurations: { index: number; configuration: SnapshotConfiguration }[] = [];
  /** The state machine loaded at start, before its snapshot is (then it becomes `stateMachine`). */
  private loaded: StateMachine | null = null;
  private beginning = false;
  private readonly store: SnapshotStore;
  /** The newest snapshot (taken here or installed), and the term of the last applied entry. */
  private latestSnapshot: SnapshotInfo | null = null;
  private appliedTerm = 0;
  private writing: { job: SnapshotWriteJob; info: SnapshotInfo; startedMs: number; requestIds: number[] } | null = null;
  /** On-demand requests waiting for the next snapshot (one is taken as soon as none is being written). */
  private snapshotRequests: number[] = [];
  private install: InstallInProgress | null = null;
  /** An install is loading the state machine: nothing is applied meanwhile. */
  private installing = false;
  private commitIndex = 0;
  /** Truncations received from the log actor, and commits waiting for theirs. */
  private truncationsSeen = 0;
  private heldCommits: UpdaterCommitMessage[] = [];
  /** Invariant: appliedIndex <= settledIndex is false; settledIndex <= appliedIndex <= commitIndex. */
  private appliedIndex = 0;
  /** Every apply through this index has completed (its promise settled). */
  private settledIndex = 0;
  private readonly unsettled = new Map<number, boolean>();
  private sessions: SessionTable<CallOutcome>;
  /** Outcomes since the last report, as columns (see UpdaterAppliedMessage). */
  private doneIndexes: number[] = [];
  private doneResults: (Uint8Array | null)[] = [];
  private doneErrors: (WireError | null)[] = [];
  private readonly entries = new EntryDecoder();
  /** While profiling: [firstIndex, lastIndex, startUs, endUs] of each apply loop since the last report. */
  private pendingLoops: number[] = [];
  /** While profiling: [commitIndex, committedUs] of the appender's commits since the last report. */
  private pendingCommitStamps: number[] = [];
  private reportScheduled = false;
  private queriesWaiting: (UpdaterQueryMessage | UpdaterQueryBatchMessage)[] = [];

  constructor(
    private readonly options: UpdaterActorOptions,
    private readonly links: UpdaterActorLinks,
    private readonly environment: UpdaterActorEnvironment = nodeEnvironment,
  ) {
    this.sessions = this.newSessionTable();
    this.store = new SnapshotStore(options.context.dir, environment.fileSystem ?? nodeFileSystem);
    // The log's first message says which snapshot its entries continue; entries may come while the
    // state machine loads: they wait, in order, until it and the snapshot are loaded.
    this.links.log.onMessage((message) => {
      if (message.k === Kind.UpdaterRestore) {
        this.restore = message;
        this.begin();
      } else if (this.early !== null) {
        this.early.push(message);
      } else {
        this.onLog(message);
      }
    });
  }

  private newSessionTable(): SessionTable<CallOutcome> {
    return (this.environment.sessionTable?.() as SessionTable<CallOutcome> | undefined) ?? new SessionTable<CallOutcome>();
  }

  /**
   * Loads the state machine; the snapshot the log continues is loaded once the log's restore
   * message is here too (it may come before or after), and only then is anything applied. Start
   * does not wait for it: in the simulator the message moves only once start has returned.
   */
  async start(): Promise<void> {
    const stateMachine = await this.environment.loadStateMachine(this.options.stateMachine);
    await stateMachine.initialize?.(this.options.context);
    this.loaded = stateMachine;
    this.links.main.onMessage((message) => this.onMain(message));
    this.links.appender?.onMessage((message) => this.onCommit(message));
    this.begin();
  }

  /** Once the state machine is loaded and the restore message arrived: the snapshot, then the waiting entries. */
  private begin(): void {
    const stateMachine = this.loaded;
    const restore = this.restore;
    if (stateMachine === null || restore === null || this.beginning) return;
    this.beginning = true;
    // The log actor recovered the folder (removed what a crash left) before it sent the restore.
    this.store.rescan(restore.snapshot);
    const ready = (): void => {
      this.stateMachine = stateMachine;
      const early = this.early ?? [];
      this.early = null;
      for (const message of early) this.onLog(message);
      this.scheduleReport();
      this.applyCommitted();
      this.answerQueries();
    };
    const loading = restore.snapshot === null ? undefined : this.loadSnapshot(stateMachine, restore.snapshot);
    if (loading === undefined) {
      ready();
    } else {
      loading.then(ready, (error: unknown) => {
        // The actor cannot run without its state: its failure stops the server (actor-hosts.ts).
        setImmediate(() => { throw error; });
      });
    }
  }

  /** Whether a snapshot is being taken: from the state machine's takeSnapshot until its manifest is durable. */
  get snapshotWriteInProgress(): boolean {
    return this.writing !== null;
  }

  /** Whether a snapshot from the leader is being received (chunks taken, not finished) or loaded. */
  get installInProgress(): boolean {
    return this.install !== null || this.installing;
  }

  /** The newest snapshot's index, taken here or installed (0 for none). */
  get snapshotIndex(): number {
    return this.latestSnapshot?.index ?? 0;
  }

  async status(): Promise<UpdaterStatus> {
    return {
      appliedIndex: this.settledIndex, commitIndex: this.commitIndex, bufferedEntries: this.buffer.length, sessions: this.sessions.size,
      snapshotIndex: this.latestSnapshot?.index ?? 0,
    };
  }

  async stop(): Promise<void> {
    this.writing?.job.abandon();
    this.writing = null;
    this.install?.job.abandon();
    this.install = null;
    await this.stateMachine?.close?.();
    this.stateMachine = null;
  }

  /**
   * Loads `snapshot` into `stateMachine` and the sessions with it: everything through its index
   * counts as applied, and the next entry is the one after it. Synchronous unless the state
   * machine's loadSnapshot returns a promise.
   */
  private loadSnapshot(stateMachine: StateMachine, snapshot: SnapshotInfo): Promise<void> | undefined {
    if (stateMachine.loadSnapshot === undefined) {
      throw new ConfigurationError(`state machine ${this.options.stateMachine} cannot load snapshot ${snapshot.index} (it has no loadSnapshot)`);
    }
    // Its files' CRC32C were checked moments ago: by the log actor's recover at start, or as the
    // install received them.
    const files = this.store.open(snapshot, true);
    // The configuration in force at the snapshot's index replaces what the entries before it said.
    this.configurations = [{ index: snapshot.index, configuration: snapshot.configuration }];
    const finish = (): void => {
      try {
        const sessions = this.newSessionTable();
        if (snapshot.files.some((file) => file.name === sessionsFile)) sessions.loadSnapshot(files.read(sessionsFile), decodeCallOutcome);
        this.sessions = sessions;
      } finally {
        files.close();
      }
      this.appliedIndex = snapshot.index;
      this.settledIndex = snapshot.index;
      this.appliedTerm = snapshot.term;
      this.commitIndex = Math.max(this.commitIndex, snapshot.index);
      this.latestSnapshot = snapshot;
      const buffer = this.buffer;
      if (buffer.nextIndex <= snapshot.index + 1) buffer.clear(snapshot.index + 1);
      else if (buffer.firstIndex <= snapshot.index) buffer.dropFront(snapshot.index + 1 - buffer.firstIndex);
    };
    let result: void | Promise<void>;
    try {
      const names = snapshot.files.map((file) => file.name).filter((name) => !name.startsWith('raftline'));
      const reader: SnapshotReader = { index: snapshot.index, term: snapshot.term, files: names, read: (name) => files.read(name) };
      result = stateMachine.loadSnapshot(reader);
    } catch (error) {
      files.close();
      throw error;
    }
    if (result instanceof Promise) {
      return result.then(finish, (error: unknown) => {
        files.close();
        throw error;
      });
    }
    finish();
    return undefined;
  }

  private onLog(message: UpdaterLogInput): void {
    if (message.k === Kind.UpdaterEntries) {
      const buffer = this.buffer;
      const skip = buffer.nextIndex - message.firstIndex;
      if (skip === 0) {
        buffer.push(message.entries, message.terms);
      } else {
        // Only after an install: entries the log sent before it learned of the snapshot. Those
        // through the snapshot's index are in it; any after it stay until the log's reset removes them.
        assert(skip > 0 && buffer.nextIndex - 1 <= (this.latestSnapshot?.index ?? 0),
          `updater got entries from ${message.firstIndex}, expected ${buffer.nextIndex}`);
        if (skip < message.terms.length) buffer.push(packedFrom(message.entries, skip), message.terms.slice(skip));
      }
      // Behind every truncation on this port already: it takes effect at once.
      if (message.commitIndex !== undefined) this.commitIndex = Math.max(this.commitIndex, message.commitIndex);
    } else if (message.k === Kind.UpdaterTruncate) {
      assert(message.fromIndex > this.appliedIndex || message.fromIndex <= (this.latestSnapshot?.index ?? 0) + 1,
        `truncation at ${message.fromIndex} below applied ${this.appliedIndex}`);
      this.buffer.truncate(Math.max(0, message.fromIndex - this.buffer.firstIndex));
      this.truncationsSeen++;
      this.takeHeldCommits();
    }
    this.applyCommitted();
  }

  private onMain(message: UpdaterInput): void {
    switch (message.k) {
      case Kind.UpdaterCommit:
        this.onCommit(message);
        break;
      case Kind.UpdaterQuery:
      case Kind.UpdaterQueryBatch:
        this.queriesWaiting.push(message);
        this.answerQueries();
        break;
      case Kind.UpdaterSnapshotNow:
        this.snapshotRequests.push(message.requestId);
        this.maybeSnapshot();
        break;
      case Kind.UpdaterInstallChunk:
        this.onInstallChunk(message);
        break;
      default:
        break;
    }
  }

  // ---- snapshots: taking ----

  /** Starts a snapshot when one is due (snapshotEvery) or asked for, none is being written, and every apply settled. */
  private maybeSnapshot(): void {
    const stateMachine = this.stateMachine;
    if (stateMachine === null || this.writing !== null || this.installing || this.unsettled.size > 0) return;
    const every = this.options.snapshotEvery ?? 0;
    const since = this.settledIndex - (this.latestSnapshot?.index ?? 0);
    const due = stateMachine.takeSnapshot !== undefined && every > 0 && since >= every;
    if (!due && this.snapshotRequests.length === 0) return;
    const requestIds = this.snapshotRequests;
    this.snapshotRequests = [];
    if (stateMachine.takeSnapshot === undefined) {
      const error = new ConfigurationError(`state machine ${this.options.stateMachine} takes no snapshots (it has no takeSnapshot)`).toWire();
      for (const requestId of requestIds) this.sendTaken(requestId, null, 0, 0, error);
      return;
    }
    if (since === 0 && this.latestSnapshot !== null) {
      // Nothing applied since the newest snapshot: it is the answer.
      for (const requestId of requestIds) this.sendTaken(requestId, this.latestSnapshot, this.store.bytesOf(this.latestSnapshot), 0, null);
      return;
    }
    this.takeSnapshot(stateMachine, requestIds);
  }

  /**
   * Takes the state machine's files (a point-in-time copy) and the sessions at the applied index,
   * then writes them a step at a time. Synchronous up to the first step unless the state
   * machine's takeSnapshot returns a promise.
   */
  private takeSnapshot(stateMachine: StateMachine, requestIds: number[]): void {
    const startedMs = Date.now();
    const index = this.settledIndex;
    const term = this.appliedTerm;
    const files: SnapshotFileSource[] = [];
    const info: SnapshotInfo = { index, term, configuration: this.configurationAt(index), files: [] };
    // A placeholder job holds the slot while the state machine's hook runs (it may be async).
    const writing = { job: { step: () => false, abandon: () => {} } as SnapshotWriteJob, info, startedMs, requestIds };
    this.writing = writing;
    const fail = (error: unknown): void => {
      this.writing = null;
      for (const requestId of requestIds) this.sendTaken(requestId, null, 0, 0, errorToWire(error));
      if (requestIds.length === 0) this.sendTaken(0, null, 0, 0, errorToWire(error));
    };
    const write = (covered: number | void): void => {
      if (covered !== undefined && covered !== index) {
        throw new ConfigurationError(`takeSnapshot returned index ${covered}, but the snapshot was taken at applied index ${index}`);
      }
      writing.job = this.store.beginWrite(info, files);
      this.stepSnapshot();
    };
    try {
      // The sessions at this index, copied now: applies go on while the files are written.
      files.push({ name: sessionsFile, chunks: [this.sessions.toSnapshot(encodeCallOutcome)] });
      const names = new Set<string>([sessionsFile]);
      const writer: SnapshotWriter = {
        index, term,
        addFile: (name, chunks) => {
          if (!fileNamePattern.test(name) || name === '.' || name === '..' || name.startsWith('raftline') || names.has(name)) {
            throw new ConfigurationError(`snapshot file name ${JSON.stringify(name)} is not allowed (1-64 of [A-Za-z0-9._-], once, not starting with 'raftline')`);
          }
          names.add(name);
          files.push({ name, chunks: [...chunks] });
        },
      };
      const covered = stateMachine.takeSnapshot!(writer);
      if (covered instanceof Promise) {
        covered.then(write).catch(fail);
      } else {
        write(covered);
      }
    } catch (error) {
      fail(error);
    }
  }

  /** One bounded step of the write, then a turn of the loop (applies, queries) before the next. */
  private stepSnapshot(): void {
    const writing = this.writing;
    if (writing === null) return;
    if (!writing.job.step(this.options.snapshotStepBytes ?? snapshotStepBytesDefault)) {
      this.environment.timers.setImmediate(() => this.stepSnapshot());
      return;
    }
    this.writing = null;
    const snapshot = this.store.latest();
    assert(snapshot !== null && snapshot.index === writing.info.index, `snapshot ${writing.info.index} written but not the newest`);
    if (this.latestSnapshot === null || snapshot.index > this.latestSnapshot.index) this.latestSnapshot = snapshot;
    this.store.retain(this.options.snapshotRetain ?? 2);
    const bytes = this.store.bytesOf(snapshot);
    const durationMs = Date.now() - writing.startedMs;
    if (writing.requestIds.length === 0) this.sendTaken(0, snapshot, bytes, durationMs, null);
    for (const requestId of writing.requestIds) this.sendTaken(requestId, snapshot, bytes, durationMs, null);
    this.maybeSnapshot();
  }

  private sendTaken(requestId: number, snapshot: SnapshotInfo | null, bytes: number, durationMs: number, error: WireError | null): void {
    const message: UpdaterSnapshotTakenMessage = { k: Kind.UpdaterSnapshotTaken, requestId, snapshot, bytes, durationMs, error };
    this.links.main.send(message);
  }

  // ---- snapshots: installing one from the leader (Raft §7) ----

  /** Synchronous unless an apply is still running or the state machine's loadSnapshot is asynchronous. */
  private onInstallChunk(message: UpdaterInstallChunkMessage): void {
    const manifest = message.manifest;
    const reply = (fields: Partial<UpdaterInstallProgressMessage>): void => {
      const expected = this.install?.job.expected() ?? { file: 0, offset: 0 };
      this.links.main.send({
        k: Kind.UpdaterInstallProgress, installId: message.installId, file: expected.file, offset: expected.offset, installed: null,
        error: null, bytes: 0, durationMs: 0, ...fields,
      });
    };
    const latest = this.latestSnapshot;
    if (latest !== null && latest.index === manifest.index && latest.term === manifest.term && this.install === null && !this.installing) {
      // Installed already (the reply to the last chunk was lost): say so again.
      reply({ installed: latest });
      return;
    }
    try {
      if (this.stateMachine === null || this.installing) {
        throw new SnapshotRejectedError('the state machine is loading; resend later', { reason: 'busy' });
      }
      if (this.stateMachine.loadSnapshot === undefined) {
        throw new SnapshotRejectedError(`state machine ${this.options.stateMachine} cannot load snapshots`, { reason: 'unsupported' });
      }
      const below = Math.max(this.appliedIndex, message.commitIndex);
      if (!Number.isSafeInteger(manifest.index) || manifest.index <= below) {
        throw new SnapshotRejectedError(`snapshot ${String(manifest.index)} is not above this server's commit index ${below}`,
          { reason: 'stale', index: manifest.index, commitIndex: below });
      }
      const key = `${manifest.index}_${manifest.term}`;
      if (this.install === null || this.install.key !== key) {
        this.install?.job.abandon();
        this.install = null;
        this.install = { key, manifest, job: this.store.beginInstall(manifest), startedMs: Date.now() };
      }
      const install = this.install;
      let complete: boolean;
      try {
        complete = install.job.accept({ file: message.file, offset: message.offset, data: message.data, crc32c: message.crc32c });
      } catch (error) {
        // A refused chunk changes nothing; an install it would have begun is not kept either.
        const expected = install.job.expected();
        if (expected.file === 0 && expected.offset === 0) {
          install.job.abandon();
          this.install = null;
        }
        throw error;
      }
      if (!complete) {
        reply({});
        return;
      }
      let installed: SnapshotInfo;
      try {
        installed = install.job.finish();
      } finally {
        this.install = null;
      }
      const done = (): void => reply({
        installed, bytes: this.store.bytesOf(installed), durationMs: Date.now() - install.startedMs, file: installed.files.length, offset: 0,
      });
      const installing = this.installSnapshot(installed);
      if (installing === undefined) done();
      else installing.then(done, (error: unknown) => reply({ error: errorToWire(error) }));
    } catch (error) {
      reply({ error: errorToWire(error) });
    }
  }

  /**
   * The installed snapshot replaces the state: the running state machine loads it (its
   * loadSnapshot replaces everything it holds), and the sessions with it, once every apply still
   * running has settled.
   */
  private installSnapshot(snapshot: SnapshotInfo): Promise<void> | undefined {
    this.installing = true;
    if (this.unsettled.size > 0) {
      return new Promise<void>((resolve) => this.environment.timers.setImmediate(resolve)).then(() => {
        this.installing = false;
        return this.installSnapshot(snapshot);
      });
    }
    const stateMachine = this.stateMachine!;
    this.stateMachine = null;
    const restore = (): void => {
      this.stateMachine = stateMachine;
      this.installing = false;
    };
    const after = (): void => {
      restore();
      this.store.retain(this.options.snapshotRetain ?? 2);
      this.scheduleReport();
      this.applyCommitted();
    };
    let loading: Promise<void> | undefined;
    try {
      loading = this.loadSnapshot(stateMachine, snapshot);
    } catch (error) {
      restore();
      throw error;
    }
    if (loading === undefined) {
      after();
      return undefined;
    }
    return loading.then(after, (error: unknown) => {
      restore();
      throw error;
    });
  }

  private onCommit(message: UpdaterCommitMessage): void {
    if (message.committedUs !== undefined) this.pendingCommitStamps.push(message.commitIndex, message.committedUs);
    this.heldCommits.push(message);
    this.takeHeldCommits();
    this.applyCommitted();
  }

  /** Commit indexes whose truncations have all arrived take effect (see UpdaterCommitMessage). */
  private takeHeldCommits(): void {
    let taken = 0;
    while (taken < this.heldCommits.length && this.heldCommits[taken]!.truncations <= this.truncationsSeen) {
      this.commitIndex = Math.max(this.commitIndex, this.heldCommits[taken]!.commitIndex);
      taken++;
    }
    if (taken > 0) this.heldCommits.splice(0, taken);
  }

  private applyCommitted(): void {
    const stateMachine = this.stateMachine;
    if (stateMachine === null) return;
    const buffer = this.buffer;
    const through = Math.min(this.commitIndex, buffer.nextIndex - 1);
    if (through <= this.appliedIndex) return;
    const offset = this.appliedIndex + 1 - buffer.firstIndex;
    const count = through - this.appliedIndex;
    const startUs = this.options.profiling ? nowUs() : 0;
    for (let i = 0; i < count; i++) {
      const index = this.appliedIndex + 1;
      const position = offset + i;
      const start = buffer.start(position);
      this.applyOne(stateMachine, index, buffer.termAt(position), buffer.source(position), start, start + buffer.payloadLength(position));
      this.appliedIndex = index;
    }
    this.appliedTerm = buffer.termAt(offset + count - 1);
    if (this.options.profiling) this.pendingLoops.push(through - count + 1, through, startUs, nowUs());
    // Drop applied entries from the front of the buffer.
    buffer.dropFront(offset + count);
    this.advanceSettled();
    this.scheduleReport();
    this.maybeSnapshot();
  }

  private applyOne(stateMachine: StateMachine, index: number, term: number, source: Uint8Array, start: number, end: number): void {
    const entry = this.entries.decodeAt(source, start, end);
    if (entry.type !== EntryType.write) {
      this.applyOther(index, entry);
      return;
    }
    const session = this.sessions.touch(entry.clientId);
    if (session === undefined) {
      // Ended, forgotten or never opened: whatever this copy of the call is, it is not applied.
      this.done(index, null, new SessionExpiredError(
        `session ${entry.clientId} is not held (closed, idle past the bound, or never opened); call ${entry.callId} not applied`,
        { session: entry.clientId, callId: entry.callId }).toWire());
      return;
    }
    const calls = session.calls;
    // Outcomes the client no longer waits for go, from the oldest: the cost per entry is what it
    // removes, not the size of the table.
    calls.pruneBelow(entry.firstUnacked);
    const earlier = calls.get(entry.callId);
    if (earlier !== undefined) {
      // A retried write: applied once already; it gets the first outcome, once that is known.
      const report = (): void => this.done(index, earlier.ok ? earlier.result : null, earlier.ok ? null : earlier.error);
      if (earlier.settled === null) {
        report();
      } else {
        this.unsettled.set(index, true);
        void earlier.settled.then(() => {
          report();
          this.unsettled.delete(index);
          this.advanceSettled();
          this.scheduleReport();
        });
      }
      return;
    }
    const transaction = { index, term, clientId: entry.clientId, callId: entry.callId, data: entry.data };
    let result: Uint8Array | null | void | Promise<Uint8Array | null | void>;
    try {
      stateMachine.applyTransactionSerial?.(transaction);
      result = stateMachine.applyTransaction(transaction);
    } catch (error) {
      const wire = asStateMachineError(error);
      calls.set(entry.callId, { ok: false, result: null, error: wire, settled: null });
      this.done(index, null, wire);
      return;
    }
    if (!(result instanceof Promise)) {
      // The common case, a synchronous apply: no closure, and no outcome object when there is no result.
      calls.set(entry.callId, result === undefined || result === null ? appliedWithoutResult : { ok: true, result, error: null, settled: null });
      this.done(index, result ?? null, null);
      return;
    }
    const outcome: CallOutcome = { ok: false, result: null, error: null, settled: null };
    calls.set(entry.callId, outcome);
    const finish = (ok: boolean, value: Uint8Array | null, error: WireError | null): void => {
      outcome.ok = ok;
      outcome.result = value;
      outcome.error = error;
      outcome.settled = null;
      this.done(index, ok ? value : null, ok ? null : error);
    };
    this.unsettled.set(index, true);
    outcome.settled = result.then(
      (value) => finish(true, value ?? null, null),
      (error: unknown) => finish(false, null, asStateMachineError(error)),
    ).finally(() => {
      this.unsettled.delete(index);
      this.advanceSettled();
      this.scheduleReport();
    });
  }

  /** The configuration in force at `index` (the latest applied at or before it). */
  private configurationAt(index: number): SnapshotConfiguration {
    let found: SnapshotConfiguration = this.options.configuration ?? { voters: [] };
    for (const entry of this.configurations) if (entry.index <= index) found = entry.configuration;
    return found;
  }

  private recordConfiguration(index: number, configuration: SnapshotConfiguration): void {
    const settled = this.settledIndex;
    // Older ones than the one in force at the settled index are never asked for again.
    while (this.configurations.length > 1 && this.configurations[1]!.index <= settled) this.configurations.shift();
    this.configurations = this.configurations.filter((entry) => entry.index < index);
    this.configurations.push({ index, configuration });
  }

  /** The entries that are not a client's write: the no-op, a session's open and end, the clock, a configuration. */
  private applyOther(index: number, entry: EntryBody): void {
    switch (entry.type) {
      case EntryType.configuration: {
        // Checked at the gateway; one that does not decode (none is ever written) changes nothing, on every replica alike.
        const configuration = decodeConfigurationData(entry.data);
        if (configuration !== null) this.recordConfiguration(index, toSnapshotConfiguration(configuration));
        break;
      }
      case EntryType.sessionOpen: {
        const session = this.sessions.open(entry.clientId, index);
        const idleMsMax = this.options.sessionIdleMsMax ?? defaultLimits.sessionIdleMsMax;
        this.done(index, encode({ session, idleMsMax }), null);
        break;
      }
      case EntryType.sessionEnd:
        this.sessions.end(entry.clientId);
        break;
      case EntryType.clock: {
        // A clock entry that does not decode (no leader writes one) changes nothing, on every replica alike.
        const clock = decodeClockData(entry.data);
        if (clock !== null) this.sessions.clock(clock.logTimeMs, clock.sessionIdleMsMax);
        break;
      }
      default:
        break;
    }
  }

  private advanceSettled(): void {
    let settled = this.appliedIndex;
    for (const index of this.unsettled.keys()) settled = Math.min(settled, index - 1);
    this.settledIndex = settled;
    this.answerQueries();
    if (this.unsettled.size === 0 && this.snapshotRequests.length > 0) this.maybeSnapshot();
  }

  private done(index: number, result: Uint8Array | null, error: WireError | null): void {
    // An outcome the report's applied index implies (no result, no error, and nothing earlier
    // still unsettled, so the settled index will cover it) need not be listed: most puts.
    if (result === null && error === null && this.unsettled.size === 0) return;
    this.doneIndexes.push(index);
    this.doneResults.push(result);
    this.doneErrors.push(error);
  }

  /**
   * Results are reported once per drained queue, not per entry; only the outcomes that are not
   * implied by the applied index travel (see UpdaterAppliedMessage).
   */
  private scheduleReport(): void {
    if (this.reportScheduled) return;
    this.reportScheduled = true;
    this.environment.timers.setImmediate(() => {
      this.reportScheduled = false;
      const appliedIndex = this.settledIndex;
      const message: UpdaterAppliedMessage = {
        k: Kind.UpdaterApplied, appliedIndex, indexes: [], results: [], errors: [], loops: this.pendingLoops,
        commits: this.pendingCommitStamps,
      };
      const sessions = this.sessions.takeReport();
      if (sessions !== null) message.sessions = sessions;
      this.pendingLoops = [];
      this.pendingCommitStamps = [];
      const { doneIndexes, doneResults, doneErrors } = this;
      for (let i = 0; i < doneIndexes.length; i++) {
        if (doneResults[i] !== null || doneErrors[i] !== null || doneIndexes[i]! > appliedIndex) {
          message.indexes.push(doneIndexes[i]!);
          message.results.push(doneResults[i]!);
          message.errors.push(doneErrors[i]!);
        }
      }
      this.doneIndexes = [];
      this.doneResults = [];
      this.doneErrors = [];
      this.links.main.send(message);
    });
  }

  private answerQueries(): void {
    const stateMachine = this.stateMachine;
    if (stateMachine === null || this.queriesWaiting.length === 0) return;
    const queries = this.queriesWaiting;
    this.queriesWaiting = [];
    const run = (data: Uint8Array, stale: boolean): QueryOutcome => {
      try {
        const result = stale && stateMachine.queryStale ? stateMachine.queryStale(data) : stateMachine.query(data);
        if (result instanceof Promise) {
          return result.then((value): SettledQuery => [value ?? null, null], (error: unknown): SettledQuery => [null, asStateMachineError(error)]);
        }
        return [result ?? null, null];
      } catch (error) {
        return [null, asStateMachineError(error)];
      }
    };
    for (const query of queries) {
      if (query.k === Kind.UpdaterQuery) {
        const reply = ([result, error]: SettledQuery): void =>
          this.links.main.send({ k: Kind.UpdaterQueryResult, queryId: query.queryId, ok: error === null, result, error });
        const outcome = run(query.data, query.stale);
        if (outcome instanceof Promise) void outcome.then(reply);
        else reply(outcome);
        continue;
      }
      // A batch is answered in one message: at once when every query answered at once, else
      // once the last asynchronous one settles.
      const outcomes = query.data.map((data) => run(data, query.stale));
      const reply = (settled: readonly SettledQuery[]): void => this.links.main.send({
        k: Kind.UpdaterQueryBatchResult, firstQueryId: query.firstQueryId,
        results: settled.map(([result]) => result), errors: settled.map(([, error]) => error),
      });
      if (outcomes.some((outcome) => outcome instanceof Promise)) void Promise.all(outcomes).then(reply);
      else reply(outcomes as SettledQuery[]);
    }
  }
}

/** A query's answer: its result, or the error it failed with. */
type SettledQuery = readonly [Uint8Array | null, WireError | null];
type QueryOutcome = SettledQuery | Promise<SettledQuery>;

function asStateMachineError(error: unknown): WireError {
  if (error instanceof Error && !('code' in error)) return new StateMachineError(error.message).toWire();
  return errorToWire(error);
}
