/**
 * The main thread's side of per-stage latency: it joins the stamps of a write's passage through
 * the stages (docs/metrics.md) and records them into HDR histograms, per batch.
 *
 * Nothing here is per entry. The request path stamps one write per received socket chunk (its
 * stage boundaries stand for every write of that chunk); the log actor, the appender and the
 * updater stamp their batches and send a few numbers back in the messages they already send
 * (LogSynced, AppenderProgress, UpdaterApplied). A leader batch (the writes appended in one turn)
 * collects its stamps as they arrive and is recorded once, with its count, when its last write
 * is replied and its log stamps are in. Durations are microseconds on the shared clock
 * (clock.ts), so stamps from different threads subtract.
 *
 * Leader stages and what bounds them (queue → service where the stage has a queue):
 *   receive           chunk arrives → startTransaction begins (frame split and decode)
 *   startTransaction  the state machine's leader hook
 *   admit             the pending-request permit
 *   preAppend         preAppendTransaction (service) → the batch is encoded and appended (queue)
 *   logWrite          appended → the log actor takes the batch (queue) → written (service)
 *   logSync           written → the group-commit sync starts (queue) → fdatasync done (service)
 *   replicate         appended → sent to the follower whose acknowledgement made a majority
 *                     (queue) → its acknowledgement arrives at the appender (service)
 *   commit            the later of logSync and replicate → the appender decides a commit index
 *                     that covers the batch (its stamp reaches the server with the applies)
 *   applySerial       committed → the updater starts the batch's in-order loop (queue) → that loop
 *                     (applyTransactionSerial, applyTransaction) ends (service)
 *   apply             the loop ends → the results reach the server (async applies, report)
 *   reply             the results reach the server → the replies are written
 *   total             chunk arrives → reply written
 * Follower stages: receive (AppendEntries chunk → handed to the log), logSync (→ the log actor
 * takes it (queue) → written and synced (service)), acknowledge (synced → reply written).
 * Read stages (linearizable reads on the leader): readIndex, readApply, query (queue → service),
 * readTotal (src/metrics/types.ts, readStageNames).
 */
import {
  followerStageNames, leaderStageNames, readStageNames, type FollowerStageName, type LeaderStageName, type ReadStageName, type StageSnapshot,
} from './types.js';
import { LatencyHistogram, negativeDurations, StageHistograms } from './histogram.js';
import { nowUs } from './clock.js';

/** Stage boundaries of the first write of one received chunk; `count` writes share them. */
export interface ChunkSample {
  receivedUs: number;
  startUs: number;
  admitUs: number;
  preAppendUs: number;
  preAppendedUs: number;
  count: number;
  batch: WriteBatch | null;
}

/** The writes appended in one turn, and the stamps of their stages after preAppend. */
export interface WriteBatch {
  seq: number;
  firstIndex: number;
  lastIndex: number;
  count: number;
  samples: ChunkSample[];
  appendedUs: number;
  logArrivedUs: number;
  logWrittenUs: number;
  syncStartUs: number;
  syncedUs: number;
  acks: number;
  replicateSentUs: number;
  replicatedUs: number;
  committedUs: number;
  replied: number;
  recorded: boolean;
}

/** A write as the recorder needs it at reply time. */
export interface RepliedWrite {
  index: number;
  sample: ChunkSample | null;
}

interface FollowerAppend {
  count: number;
  receivedUs: number;
  submittedUs: number;
}

const hasQueue = new Set<string>(['preAppend', 'logWrite', 'logSync', 'replicate', 'applySerial']);
const followerHasQueue = new Set<string>(['logSync']);
const readHasQueue = new Set<string>(['query']);

/**
 * A linearizable read's stamps (µs, shared clock; 0 where not stamped): its frame arrived, its
 * read index was confirmed, the state machine had caught up with it, its query went to the
 * updater, the answer came back.
 */
export interface ReadStamps {
  receivedUs: number;
  confirmedUs: number;
  appliedUs: number;
  sentUs: number;
  resultUs: number;
}

export const counterNames = [
  'writesReceived', 'writesRefused', 'writesReplied', 'appendBatches', 'entriesAppended', 'logSyncs',
  'entriesCommitted', 'entriesApplied', 'appendEntriesReceived', 'entriesReceived', 'replicationAcks',
  'entriesReplicated', 'bytesReceived', 'bytesSent', 'negativeDurations',
  // Robustness: connections refused over a connection bound, peer messages refused (no hello, a
  // sender other than the hello's, a non-member), followers found with a shorter log than they
  // had acknowledged, and damaged log tails cut at start (with the entries they held).
  'connectionsRefused', 'peerMessagesRefused', 'followerLogResets', 'logTailCuts', 'entriesCutAtRecovery',
  // Snapshots (their number, bytes and time): taken here; installed here from a leader; sent by
  // this leader to followers the log no longer reached.
  'snapshotsTaken', 'snapshotBytes', 'snapshotMs', 'snapshotsInstalled', 'snapshotInstallBytes', 'snapshotInstallMs',
  'snapshotsSent', 'snapshotSendBytes', 'snapshotSendMs',
  // Leadership transfers this server led (started, done, given up, and the time of those done,
  // of which until TimeoutNow went out: the target catching up), handed-over elections it started
  // (TimeoutNow received; those won, the time from TimeoutNow to winning and from winning to its
  // no-op applied), and writes refused meanwhile.
  'transfersStarted', 'transfersCompleted', 'transfersFailed', 'transferMs', 'transferCatchUpMs', 'timeoutNowReceived',
  'takeovers', 'takeoverElectionMs', 'takeoverReadyMs', 'requestsRefusedInTransfer',
  // Client requests a server held while it knew no leader (an election), answered once it knew one.
  'requestsHeldForLeader',
  // Membership: configurations that came in force here, and changes this server led (started, done, refused or failed).
  'configurationChanges', 'membershipChangesStarted', 'membershipChangesDone', 'membershipChangesFailed',
  // Events (src/events.ts): leaderChanged, followerSlow and noLeader announced here.
  'leaderChanges', 'followerSlowEvents', 'noLeaderEvents',
  // Reads beside the leader's: follower reads served here; read-index requests this follower sent
  // and answers it got, and those this leader answered; stale reads that had to wait for their
  // minIndex; watches answered and timed out (src/server/watches.ts).
  'followerReadsServed', 'readIndexRequestsSent', 'readIndexRepliesReceived', 'readIndexRequestsAnswered', 'staleReadsWaited',
  'watchesAnswered', 'watchesTimedOut',
  // Trust (TLS ports, src/shell/tls-identity.ts): connections closed before any of their messages
  // was taken, by reason (a hello naming another id than the certificate; a client certificate
  // saying hello; a certificate not from the CA or naming no valid identity; none where one is
  // needed; plaintext bytes; a handshake not done in time; another handshake failure), and
  // requests refused as beyond their connection's role.
  'tlsRefusedWrongId', 'tlsRefusedNotPeer', 'tlsRefusedBadCertificate', 'tlsRefusedNoCertificate', 'tlsRefusedPlaintext',
  'tlsRefusedTimeout', 'tlsRefusedHandshakeFailed', 'permissionDenied',
  // Linearizable reads on a leader: received, and the query batches they went to the updater in;
  // heartbeat rounds started (for reads or to renew the lease), the reads they confirmed, reads
  // served on the lease, and reads that found the lease lapsed and went by a round.
  'readsReceived', 'queryBatches', 'readRounds', 'readRoundReads', 'leaseReads', 'leaseFallbacks',
] as const;
export type CounterName = (typeof counterNames)[number];

export class StageRecorder {
  readonly counters: Record<CounterName, number>;
  private readonly leaderStages: Record<LeaderStageName, StageHistograms>;
  private readonly followerStages: Record<FollowerStageName, StageHistograms>;
  private readonly readStages: Record<ReadStageName, StageHistograms>;
  private readonly replicateByFollower = new Map<string, LatencyHistogram>();
  /** Leader batches in index order, and by log sequence number. */
  private batches: WriteBatch[] = [];
  private readonly batchesBySeq = new Map<number, WriteBatch>();
  private commitCursor = 0;
  private readonly ackCursors = new Map<string, number>();
  /** Updater loops not yet matched to all their results: [firstIndex, lastIndex, startUs, endUs]... */
  private loops: number[] = [];
  private readonly followerAppends = new Map<number, FollowerAppend>();

  /**
   * @param profiling whether stages are stamped and recorded at all (counters always move)
   * @param acksForMajority follower acknowledgements that make a majority with the leader
   * @param clock the shared clock (tests give their own)
   */
  constructor(readonly profiling: boolean, private readonly acksForMajority: number, private readonly clock: () => number = nowUs) {
    this.counters = Object.fromEntries(counterNames.map((name) => [name, 0])) as Record<CounterName, number>;
    this.leaderStages = Object.fromEntries(leaderStageNames.map((name) => [name, new StageHistograms(name, hasQueue.has(name))])) as Record<LeaderStageName, StageHistograms>;
    this.followerStages = Object.fromEntries(followerStageNames.map((name) => [name, new StageHistograms(name, followerHasQueue.has(name))])) as Record<FollowerStageName, StageHistograms>;
    this.readStages = Object.fromEntries(readStageNames.map((name) => [name, new StageHistograms(name, readHasQueue.has(name))])) as Record<ReadStageName, StageHistograms>;
  }

  // ---- linearizable reads ---------------------------------------------------------------------

  /**
   * Reads answered at `repliedUs`. A read whose frame was not stamped (`receivedUs` 0) has no
   * readIndex, readApply nor readTotal.
   */
  onReadsAnswered(reads: readonly ReadStamps[], repliedUs: number): void {
    if (!this.profiling) return;
    const stages = this.readStages;
    for (const read of reads) {
      if (read.receivedUs > 0) {
        stages.readIndex.record(read.confirmedUs - read.receivedUs, 1);
        stages.readApply.record(read.appliedUs - read.receivedUs, 1);
        stages.readTotal.record(repliedUs - read.receivedUs, 1);
      }
      stages.query.recordSplit(read.sentUs - read.appliedUs, read.resultUs - read.sentUs, 1);
    }
  }

  // ---- leader ---------------------------------------------------------------------------------

  /** A batch was handed to the log (sequence `seq`) and the appender at `appendedUs`. */
  onAppendBatch(seq: number, firstIndex: number, count: number, samples: ChunkSample[], appendedUs: number): void {
    this.counters.appendBatches++;
    this.counters.entriesAppended += count;
    if (!this.profiling) return;
    const batch: WriteBatch = {
      seq, firstIndex, lastIndex: firstIndex + count - 1, count, samples, appendedUs, logArrivedUs: 0, logWrittenUs: 0,
      syncStartUs: 0, syncedUs: 0, acks: 0, replicateSentUs: 0, replicatedUs: 0, committedUs: 0, replied: 0, recorded: false,
    };
    for (const sample of samples) sample.batch = batch;
    this.batches.push(batch);
    this.batchesBySeq.set(seq, batch);
  }

  /**
   * Follower acknowledgements from the appender, each [follower, lastIndex, entries, sentUs,
   * ackedUs] for one AppendEntries request: the follower's replicate histogram, and the batches
   * it completes a majority for.
   */
  onAcks(acks: readonly (readonly [string, number, number, number, number])[]): void {
    for (const [follower, lastIndex, entries, sentUs, ackedUs] of acks) {
      this.counters.replicationAcks++;
      this.counters.entriesReplicated += entries;
      if (!this.profiling) continue;
      let histogram = this.replicateByFollower.get(follower);
      if (histogram === undefined) {
        histogram = new LatencyHistogram();
        this.replicateByFollower.set(follower, histogram);
      }
      histogram.record(ackedUs - sentUs, entries);
      let cursor = this.ackCursors.get(follower) ?? 0;
      while (cursor < this.batches.length && this.batches[cursor]!.lastIndex <= lastIndex) {
        const batch = this.batches[cursor++]!;
        if (++batch.acks === this.acksForMajority) {
          batch.replicateSentUs = sentUs;
          batch.replicatedUs = ackedUs;
          this.completeIfDone(batch);
        }
      }
      this.ackCursors.set(follower, cursor);
    }
  }

  /**
   * The core's commit index: counted, and the batches it covers stamped now unless `stamp` is
   * false (a leader's appender decides its commits; their stamps come through stampCommitted).
   */
  onCommitted(commitIndex: number, previousCommitIndex: number, stamp = true): void {
    if (commitIndex > previousCommitIndex) this.counters.entriesCommitted += commitIndex - previousCommitIndex;
    if (stamp) this.stampCommitted(commitIndex, this.clock());
  }

  /** The batches through `commitIndex` were committed at `committedUs`. */
  stampCommitted(commitIndex: number, committedUs: number): void {
    if (!this.profiling) return;
    while (this.commitCursor < this.batches.length && this.batches[this.commitCursor]!.lastIndex <= commitIndex) {
      const batch = this.batches[this.commitCursor++]!;
      batch.committedUs = committedUs;
      this.completeIfDone(batch);
    }
  }

  /** Apply loops the updater reported, flattened [firstIndex, lastIndex, startUs, endUs]... */
  onApplyLoops(loops: readonly number[]): void {
    if (!this.profiling || loops.length === 0) return;
    for (const value of loops) this.loops.push(value);
  }

  /**
   * Writes replied at `repliedUs`, whose results reached the server at `receiptUs`, in index
   * order. Writes of one chunk applied in one loop share every stamp and are recorded together.
   */
  onReplied(writes: readonly RepliedWrite[], receiptUs: number, repliedUs: number): void {
    this.counters.writesReplied += writes.length;
    if (!this.profiling) return;
    const stages = this.leaderStages;
    stages.reply.record(repliedUs - receiptUs, writes.length);
    let loop = 0;
    let i = 0;
    while (i < writes.length) {
      const sample = writes[i]!.sample;
      const index = writes[i]!.index;
      if (loop >= this.loops.length || index < this.loops[loop]!) loop = 0;
      while (loop < this.loops.length && this.loops[loop + 1]! < index) loop += 4;
      const found = loop < this.loops.length && this.loops[loop]! <= index;
      let end = i + 1;
      while (end < writes.length && writes[end]!.sample === sample &&
             (!found || writes[end]!.index <= this.loops[loop + 1]!)) end++;
      const count = end - i;
      i = end;
      if (sample === null) continue;
      stages.total.record(repliedUs - sample.receivedUs, count);
      const batch = sample.batch;
      if (found) {
        const loopStartUs = this.loops[loop + 2]!;
        const loopEndUs = this.loops[loop + 3]!;
        if (batch !== null && batch.committedUs > 0) stages.applySerial.recordSplit(loopStartUs - batch.committedUs, loopEndUs - loopStartUs, count);
        stages.apply.record(receiptUs - loopEndUs, count);
      }
      if (batch !== null) {
        batch.replied += count;
        this.completeIfDone(batch);
      }
    }
    this.compact();
  }

  /** Loops through `appliedIndex` have had all their results reported (settled index). */
  releaseApplyLoops(appliedIndex: number): void {
    let drop = 0;
    while (drop < this.loops.length && this.loops[drop + 1]! <= appliedIndex) drop += 4;
    if (drop > 0) this.loops.splice(0, drop);
  }

  /** Leadership lost: batches in progress will never complete. */
  clearLeader(): void {
    this.batches = [];
    this.batchesBySeq.clear();
    this.commitCursor = 0;
    this.ackCursors.clear();
    this.loops = [];
  }

  /**
   * A batch is recorded once everything about it has arrived: its replies, its log stamps, its
   * commit stamp and the acknowledgements of a majority (with the commit decided by the appender,
   * its report of those may come after the replies).
   */
  private completeIfDone(batch: WriteBatch): void {
    if (batch.recorded || batch.replied < batch.count || batch.syncedUs === 0) return;
    if (batch.committedUs === 0 || batch.acks < this.acksForMajority) return;
    batch.recorded = true;
    this.batchesBySeq.delete(batch.seq);
    const stages = this.leaderStages;
    for (const sample of batch.samples) {
      stages.receive.record(sample.startUs - sample.receivedUs, sample.count);
      stages.startTransaction.record(sample.admitUs - sample.startUs, sample.count);
      stages.admit.record(sample.preAppendUs - sample.admitUs, sample.count);
      stages.preAppend.recordSplit(batch.appendedUs - sample.preAppendedUs, sample.preAppendedUs - sample.preAppendUs, sample.count);
    }
    const count = batch.count;
    stages.logWrite.recordSplit(batch.logArrivedUs - batch.appendedUs, batch.logWrittenUs - batch.logArrivedUs, count);
    stages.logSync.recordSplit(batch.syncStartUs - batch.logWrittenUs, batch.syncedUs - batch.syncStartUs, count);
    let readyUs = batch.syncedUs <= batch.committedUs ? batch.syncedUs : 0;
    if (batch.replicatedUs > 0) {
      stages.replicate.recordSplit(batch.replicateSentUs - batch.appendedUs, batch.replicatedUs - batch.replicateSentUs, count);
      if (batch.replicatedUs <= batch.committedUs) readyUs = Math.max(readyUs, batch.replicatedUs);
    }
    if (batch.committedUs > 0 && readyUs > 0) stages.commit.record(batch.committedUs - readyUs, count);
  }

  /** Drops recorded batches from the front, keeping the cursors in place. */
  private compact(): void {
    let drop = 0;
    while (drop < this.batches.length && drop < this.commitCursor && this.batches[drop]!.recorded) drop++;
    if (drop < 256 && drop < this.batches.length) return;
    if (drop === 0) return;
    this.batches = this.batches.slice(drop);
    this.commitCursor -= drop;
    for (const [follower, cursor] of this.ackCursors) this.ackCursors.set(follower, Math.max(0, cursor - drop));
  }

  // ---- follower -------------------------------------------------------------------------------

  /** AppendEntries with `count` new entries, received at `receivedUs`, handed to the log as `seq` at `submittedUs`. */
  onFollowerAppend(seq: number, count: number, receivedUs: number, submittedUs: number): void {
    this.counters.appendEntriesReceived++;
    this.counters.entriesReceived += count;
    if (!this.profiling) return;
    this.followerAppends.set(seq, { count, receivedUs, submittedUs });
  }

  // ---- both: the log actor's report -----------------------------------------------------------

  /**
   * The log synced: `stamps` holds [seq, arrivedUs, writtenUs] for every append since the last
   * sync. Called after the acknowledgements that waited for this sync were written.
   */
  onLogSynced(stamps: readonly number[], syncStartUs: number, syncedUs: number): void {
    this.counters.logSyncs++;
    if (!this.profiling || stamps.length === 0) return;
    const acknowledgedUs = this.clock();
    for (let i = 0; i + 2 < stamps.length; i += 3) {
      const seq = stamps[i]!;
      const batch = this.batchesBySeq.get(seq);
      if (batch !== undefined) {
        batch.logArrivedUs = stamps[i + 1]!;
        batch.logWrittenUs = stamps[i + 2]!;
        batch.syncStartUs = syncStartUs;
        batch.syncedUs = syncedUs;
        this.completeIfDone(batch);
        continue;
      }
      const append = this.followerAppends.get(seq);
      if (append === undefined) continue;
      this.followerAppends.delete(seq);
      const stages = this.followerStages;
      stages.receive.record(append.submittedUs - append.receivedUs, append.count);
      stages.logSync.recordSplit(stamps[i + 1]! - append.submittedUs, syncedUs - stamps[i + 1]!, append.count);
      stages.acknowledge.record(acknowledgedUs - syncedUs, append.count);
    }
    // Appends whose stamps never came (written before a restart of leadership) are not kept.
    if (this.followerAppends.size > 4096) this.followerAppends.clear();
  }

  // ---- snapshots ------------------------------------------------------------------------------

  leaderSnapshot(): StageSnapshot<LeaderStageName>[] {
    return leaderStageNames.map((name) => stageSnapshot(name, this.leaderStages[name]));
  }

  followerSnapshot(): StageSnapshot<FollowerStageName>[] {
    return followerStageNames.map((name) => stageSnapshot(name, this.followerStages[name]));
  }

  readSnapshot(): StageSnapshot<ReadStageName>[] {
    return readStageNames.map((name) => stageSnapshot(name, this.readStages[name]));
  }

  replicateSnapshot(follower: string): ReturnType<LatencyHistogram['snapshot']> {
    return (this.replicateByFollower.get(follower) ?? emptyHistogram).snapshot();
  }

  countersSnapshot(): Record<string, number> {
    return { ...this.counters, negativeDurations: negativeDurations.count };
  }

  /** Clears every histogram (counters keep counting). */
  resetHistograms(): void {
    for (const stage of Object.values(this.leaderStages)) stage.reset();
    for (const stage of Object.values(this.followerStages)) stage.reset();
    for (const stage of Object.values(this.readStages)) stage.reset();
    for (const histogram of this.replicateByFollower.values()) histogram.reset();
  }
}

const emptyHistogram = new LatencyHistogram();

function stageSnapshot<N extends string>(name: N, stage: StageHistograms): StageSnapshot<N> {
  const snapshot: StageSnapshot<N> = { name, ...stage.all.snapshot() };
  if (stage.queue !== null) snapshot.queue = stage.queue.snapshot();
  if (stage.service !== null) snapshot.service = stage.service.snapshot();
  return snapshot;
}
