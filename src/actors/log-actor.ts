/**
 * The log actor: owns the segmented log on disk and the term/vote metadata (Ratis
 * `SegmentedRaftLogWorker`). Writes arrive in batches from the server; everything queued is
 * written, then synced with one fdatasync (group commit: the sync runs as soon as the queue is
 * drained, never after a fixed wait), and only then is the server told `LogSynced` and the
 * entries handed to the updater. So the updater never applies an entry that is not durable here.
 */
import { Kind } from '../messages/kinds.js';
import { EntryType } from '../messages/entry.js';
import type {
  EntryBatch, LogDurableMessage, LogInput, LogReadMessage, LogReadResultMessage, LogSyncedMessage, LogWatchMessage, UpdaterEntriesMessage, UpdaterLogInput,
} from '../messages/messages.js';
import type { ActorLink } from '../shell/actor-link.js';
import type { ActorControl } from '../shell/control.js';
import { SegmentedLog, type LogEntryRecord } from '../log/segmented-log.js';
import type { TailCut } from '../log/log-recovery.js';
import { readRaftMeta, writeRaftMeta } from '../log/raft-meta.js';
import type { HardState, TermRun } from '../core/types.js';
import { assert } from '../errors.js';
import { nowUs } from '../metrics/clock.js';
import { nodeFileSystem, type FileSystem } from '../log/file-system.js';
import { nodeTimers, type Timers } from '../shell/timers.js';
import { packPayloads } from '../messages/packed-entries.js';
import { SnapshotStore } from '../snapshot/snapshot-store.js';
import type { SnapshotInfo } from '../state-machine.js';
import { SnapshotCorruptionError } from '../errors.js';
import * as path from 'node:path';

export interface LogActorOptions {
  dir: string;
  segmentBytesMax: number;
  /** Stamp appends and syncs for per-stage latency (reported in LogSynced). */
  profiling?: boolean;
  /** UNSAFE (benchmarks only): acknowledge appends without fdatasync. */
  unsafeNoFsync?: boolean;
}

export interface LogRecovered {
  hardState: HardState;
  /** From the snapshot's index on when the log starts after it (RestoredState). */
  termRuns: TermRun[];
  lastIndex: number;
  /** The damaged or torn tail recovery cut, if any: the server reports it. */
  tailCut: TailCut | null;
  /** The newest valid snapshot, which the log continues (the updater loads it); null for none. */
  snapshot: SnapshotInfo | null;
  /** Snapshots found damaged at start and not used: [file, reason]. */
  damagedSnapshots: { file: string; reason: string }[];
  /** True when the log did not continue the snapshot and was restarted after it. */
  logReset: boolean;
  firstIndex: number;
  bytes: number;
  /** The configuration entries after the snapshot (or in the whole log without one): index and payload. */
  configurations: { index: number; payload: Uint8Array }[];
}

export interface LogStatus {
  lastIndex: number;
  syncedIndex: number;
  syncCount: number;
  firstIndex: number;
  bytes: number;
}

export interface LogActorLinks {
  main: ActorLink<LogInput, LogSyncedMessage>;
  updater: ActorLink<never, UpdaterLogInput>;
  appender: ActorLink<LogReadMessage | LogWatchMessage, LogReadResultMessage | LogDurableMessage>;
}

/** The actor's shell: node:fs and Node's timers, or the simulator's virtual disk and clock. */
export interface LogActorEnvironment {
  fileSystem: FileSystem;
  timers: Timers;
}

const nodeEnvironment: LogActorEnvironment = { fileSystem: nodeFileSystem, timers: nodeTimers };

/** Batches handed to the updater after recovery, so one message stays moderate in size. */
const recoveryBatchEntriesMax = 4096;

export class LogActor implements ActorControl<LogRecovered, LogStatus> {
  private log: SegmentedLog | null = null;
  private lastSeq = 0;
  private syncScheduled = false;
  private syncCount = 0;
  /** The seq and index of the last sync (everything submitted through that seq is durable). */
  private durableSeq = 0;
  private durableIndex = 0;
  /** Whether a leading appender wants a LogDurable after every sync (LogWatchMessage). */
  private appenderWatching = false;
  /** What was written since the last sync, in order, for the updater once it is durable. */
  private unsyncedForUpdater: UpdaterLogInput[] = [];
  /** While profiling: [seq, arrivedUs, writtenUs] of each append since the last sync. */
  private stamps: number[] = [];
  /** The highest index a LogPurge asked to purge through, in this life (0 for none). */
  private purgeAsked = 0;

  constructor(
    private readonly options: LogActorOptions,
    private readonly links: LogActorLinks,
    private readonly environment: LogActorEnvironment = nodeEnvironment,
  ) {}

  async start(): Promise<LogRecovered> {
    const log = SegmentedLog.open(this.options.dir, {
      segmentSizeBytesMax: this.options.segmentBytesMax, unsafeNoSync: this.options.unsafeNoFsync === true,
      fileSystem: this.environment.fileSystem,
    });
    this.log = log;
    const hardState = readRaftMeta(this.options.dir, this.environment.fileSystem);
    const store = new SnapshotStore(path.join(this.options.dir, 'sm'), this.environment.fileSystem);
    const { latest: snapshot, damaged } = store.recover();
    const logReset = this.continueSnapshot(log, snapshot, damaged);
    this.durableIndex = log.syncedIndex;
    // The updater loads the snapshot first (the state machine and its sessions at its index), then
    // gets the log's entries after it: the state is rebuilt from the snapshot, not from index 1.
    this.links.updater.send({ k: Kind.UpdaterRestore, snapshot });
    const replayFrom = snapshot === null ? log.firstIndex : snapshot.index + 1;
    const configurations: { index: number; payload: Uint8Array }[] = [];
    for (let from = replayFrom; from <= log.lastIndex;) {
      const records = log.read(from, recoveryBatchEntriesMax, Number.MAX_SAFE_INTEGER);
      assert(records.length > 0, 'log read returned nothing inside the log');
      // The configuration entries, for the core: the one in force is the latest in the log (Raft §6).
      for (const record of records) {
        if (record.payload[0] === EntryType.configuration) configurations.push({ index: record.index, payload: Uint8Array.prototype.slice.call(record.payload) });
      }
      this.links.updater.send({ k: Kind.UpdaterEntries, ...batchOf(records) });
      from += records.length;
    }
    this.links.main.onMessage((message) => this.onMain(message));
    this.links.appender.onMessage((message) => {
      if (message.k === Kind.LogRead) this.onRead(message);
      else this.onWatch(message);
    });
    let termRuns = log.termRuns();
    if (snapshot !== null && (termRuns.length === 0 || termRuns[0]!.firstIndex > snapshot.index)) {
      // The log starts right after the snapshot: its last entry's term is the first run (term-runs.ts).
      termRuns = [{ firstIndex: snapshot.index, term: snapshot.term }, ...termRuns];
    }
    return {
      hardState, termRuns, lastIndex: log.lastIndex, tailCut: log.tailCut, snapshot, damagedSnapshots: damaged, logReset,
      firstIndex: log.firstIndex, bytes: log.bytes, configurations,
    };
  }

  /**
   * Makes the log continue `snapshot` (Raft §7): kept when it holds the snapshot's last entry with
   * its term (entries below it are purged later), restarted after it when it ends before that entry
   * or holds another term there (an install was interrupted before the log was reset). A log that
   * starts after the snapshot leaves a hole no state can fill: start is refused, naming what is
   * damaged. Returns whether the log was restarted.
   */
  private continueSnapshot(log: SegmentedLog, snapshot: SnapshotInfo | null, damaged: { file: string; reason: string }[]): boolean {
    const base = snapshot === null ? 0 : snapshot.index;
    if (log.firstIndex > base + 1) {
      const why = damaged.length > 0 ? `the newer snapshot ${damaged[0]!.file} is damaged (${damaged[0]!.reason})` : 'no snapshot covers them';
      throw new SnapshotCorruptionError(
        `the log in ${this.options.dir} starts at index ${log.firstIndex}, and the entries before it cannot be rebuilt: ${why}`,
        { file: damaged[0]?.file ?? this.options.dir, firstIndex: log.firstIndex, snapshotIndex: base });
    }
    if (snapshot === null) return false;
    // Starting right after the snapshot (purged, or reset there), whatever the log holds follows it.
    if (log.firstIndex === snapshot.index + 1) return false;
    if (log.lastIndex >= snapshot.index && log.termAt(snapshot.index) === snapshot.term) return false;
    log.resetAfter(snapshot.index, snapshot.term);
    return true;
  }

  /** The log's first index (0 before start). */
  get firstIndex(): number {
    return this.log?.firstIndex ?? 0;
  }

  /** The highest index the server asked to purge through since start: the purge below a snapshot has run. */
  get purgedUpTo(): number {
    return this.purgeAsked;
  }

  async status(): Promise<LogStatus> {
    const log = this.requireLog();
    return { lastIndex: log.lastIndex, syncedIndex: log.syncedIndex, syncCount: this.syncCount, firstIndex: log.firstIndex, bytes: log.bytes };
  }

  async stop(): Promise<void> {
    this.log?.close();
    this.log = null;
  }

  private requireLog(): SegmentedLog {
    assert(this.log !== null, 'log actor used before start or after stop');
    return this.log;
  }

  private onMain(message: LogInput): void {
    const log = this.requireLog();
    switch (message.k) {
      case Kind.LogAppend: {
        const arrivedUs = this.options.profiling ? nowUs() : 0;
        log.appendPacked(message.firstIndex, message.terms, message.entries);
        if (this.options.profiling) this.stamps.push(message.seq, arrivedUs, nowUs());
        // The updater gets the same packed bytes: nothing per entry here.
        const forUpdater: UpdaterEntriesMessage = { k: Kind.UpdaterEntries, firstIndex: message.firstIndex, terms: message.terms, entries: message.entries };
        if (message.commitIndex !== undefined) forUpdater.commitIndex = message.commitIndex;
        this.unsyncedForUpdater.push(forUpdater);
        break;
      }
      case Kind.LogTruncate:
        log.truncateFrom(message.fromIndex);
        this.unsyncedForUpdater.push({ k: Kind.UpdaterTruncate, fromIndex: message.fromIndex });
        break;
      case Kind.LogWriteMeta:
        writeRaftMeta(this.options.dir, { term: message.term, votedFor: message.votedFor }, this.environment.fileSystem);
        break;
      case Kind.LogReset:
        log.resetAfter(message.index, message.term);
        // To the updater as a truncation after the snapshot: it drops whatever it buffered past it.
        this.unsyncedForUpdater.push({ k: Kind.UpdaterTruncate, fromIndex: message.index + 1 });
        break;
      case Kind.LogPurge:
        log.purgeTo(message.upTo);
        this.purgeAsked = Math.max(this.purgeAsked, message.upTo);
        break;
    }
    this.lastSeq = message.seq;
    this.scheduleSync();
  }

  /** Group commit: one sync after the queued messages are drained (setImmediate runs after them). */
  private scheduleSync(): void {
    if (this.syncScheduled) return;
    this.syncScheduled = true;
    this.environment.timers.setImmediate(() => {
      this.syncScheduled = false;
      const log = this.log;
      if (log === null) return;
      const syncStartUs = this.options.profiling ? nowUs() : 0;
      const index = log.sync();
      const syncedUs = this.options.profiling ? nowUs() : 0;
      this.syncCount++;
      this.durableSeq = this.lastSeq;
      this.durableIndex = index;
      // The server first: on a follower its acknowledgement to the leader waits for this. Then a
      // leader's appender, which may commit on it, before the updater gets the entries.
      this.links.main.send({
        k: Kind.LogSynced, seq: this.lastSeq, index, stamps: this.stamps, syncStartUs, syncedUs, firstIndex: log.firstIndex, bytes: log.bytes,
      });
      if (this.appenderWatching) this.links.appender.send({ k: Kind.LogDurable, seq: this.lastSeq, index });
      for (const message of this.unsyncedForUpdater) this.links.updater.send(message);
      this.unsyncedForUpdater = [];
      this.stamps = [];
    });
  }

  private onWatch(message: LogWatchMessage): void {
    this.appenderWatching = message.on;
    if (message.on) this.links.appender.send({ k: Kind.LogDurable, seq: this.durableSeq, index: this.durableIndex });
  }

  private onRead(message: LogReadMessage): void {
    const log = this.requireLog();
    if (message.fromIndex < log.firstIndex || message.fromIndex > log.lastIndex) {
      this.links.appender.send({
        k: Kind.LogReadResult, peer: message.peer, firstIndex: message.fromIndex, terms: [], entries: new Uint8Array(0), logFirstIndex: log.firstIndex,
      });
      return;
    }
    const records = log.read(message.fromIndex, message.maxCount, message.maxBytes);
    this.links.appender.send({ k: Kind.LogReadResult, peer: message.peer, ...batchOf(records), logFirstIndex: log.firstIndex });
  }
}

function batchOf(records: readonly LogEntryRecord[]): EntryBatch {
  return {
    firstIndex: records[0]!.index,
    terms: records.map((record) => record.term),
    entries: packPayloads(records.map((record) => record.payload)),
  };
}
