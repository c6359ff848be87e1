/**
 * A deterministic in-memory cluster of consensus cores, for the paper tests. Each node has a log
 * (the term of each entry; payloads are not needed to check safety) and a persisted hard state,
 * both durable at once; a crash loses only volatile state, and a restart rebuilds the core from
 * what was persisted. A seeded network drops, delays (and so reorders) and partitions messages.
 * A small replicator stands in for the appender actor: per-follower next/match index, optimistic
 * pipelining, back-off on reject, heartbeat rounds for ReadIndex.
 *
 * Everything random comes from one seed, so a failing seed replays exactly; every violation is
 * thrown as an Error whose message starts with the seed.
 */

import { RaftCore } from '../../src/core/raft-core.js';
import { SeededRng } from '../../src/core/rng.js';
import type { GroupConfiguration, Member } from '../../src/core/configuration.js';
import type {
  AppendEntriesHeader,
  AppendEntriesReply,
  CoreConfig,
  CoreMessage,
  HardState,
  NodeId,
  Ready,
  RestoredState,
  TermRun,
} from '../../src/core/types.js';

/** The safety claims the cluster can check as it runs (Raft Figure 3), plus ReadIndex linearizability. */
export type Check = 'electionSafety' | 'logMatching' | 'leaderCompleteness' | 'stateMachineSafety' | 'readIndex';

export interface ClusterOptions {
  seed: number;
  nodeCount: number;
  electionTicksMin?: number;
  electionTicksMax?: number;
  heartbeatTicks?: number;
  /** Per-message probability of loss. */
  dropRate?: number;
  /** Messages are delivered 1..(1 + delayTicksMax) ticks after sending. */
  delayTicksMax?: number;
  entriesPerAppendMax?: number;
  checks?: readonly Check[];
  /** Builds each core; a test passes a deliberately broken subclass to show the checks catch it. */
  makeCore?: (config: CoreConfig, restored: RestoredState) => RaftCore;
  /** A fault of the disk, not of the core: a restart forgets the vote (used to show the checks can fail). */
  loseVoteOnRestart?: boolean;
  /** The first this many nodes are the start-up voters; the others start empty, waiting to be added. Default: all. */
  initialVoters?: number;
}

export interface ChaosOptions {
  steps: number;
  proposeRate?: number;
  readRate?: number;
  crashRate?: number;
  restartRate?: number;
  partitionRate?: number;
  healRate?: number;
  /** Per-tick chance that a leader starts a leadership transfer (to a random voter, or a step-down). */
  transferRate?: number;
  /** Per-tick chance that one node's elections are paused or resumed. */
  pauseRate?: number;
  /** Per-tick chance that the leader proposes a random membership change (a learner added, voters added, removed or replaced). */
  membershipRate?: number;
}

type Envelope =
  | { kind: 'core'; from: NodeId; to: NodeId; message: CoreMessage }
  | { kind: 'append'; from: NodeId; to: NodeId; header: AppendEntriesHeader; round: number }
  | { kind: 'appendReply'; from: NodeId; to: NodeId; requestTerm: number; reply: AppendEntriesReply; round: number };

interface Progress {
  nextIndex: number;
  matchIndex: number;
}

/** The appender's stand-in for one leadership term. */
interface Replicator {
  term: number;
  progress: Map<NodeId, Progress>;
  round: number;
  heartbeatElapsedTicks: number;
}

export interface SimNode {
  id: NodeId;
  /** Durable: log[i - 1] is the term of entry i. */
  log: number[];
  /** Durable: the configuration entries of the log, by index. */
  configs: Map<number, GroupConfiguration>;
  /** Durable. */
  hardState: HardState;
  /** Null while crashed. */
  core: RaftCore | null;
  replicator: Replicator | null;
  /** Highest commit index this node's core announced since its last start. */
  commitSeen: number;
}

interface PendingRead {
  node: NodeId;
  /** The highest index known committed anywhere when the read was issued. */
  committedAtIssue: number;
}

/** Runs of equal terms of a term array, as `RestoredState` wants them. */
export function termRunsOf(log: readonly number[]): TermRun[] {
  const runs: TermRun[] = [];
  for (let i = 0; i < log.length; i++) {
    if (i === 0 || log[i] !== log[i - 1]) runs.push({ firstIndex: i + 1, term: log[i]! });
  }
  return runs;
}

export class CoreCluster {
  readonly seed: number;
  readonly rng: SeededRng;
  readonly nodes: SimNode[] = [];
  time = 0;
  /** Term -> the one leader elected in it. */
  readonly leaderOfTerm = new Map<number, NodeId>();
  /** committedTerms[i] is the term of committed entry i (index 0 unused). */
  readonly committedTerms: number[] = [0];
  proposedCount = 0;
  readsServed = 0;

  private readonly options: Required<Omit<ClusterOptions, 'makeCore' | 'checks'>> & Pick<ClusterOptions, 'makeCore'>;
  /** The configuration every node starts with (index 0). */
  private readonly bootstrap: GroupConfiguration;
  /** Membership changes the leaders proposed and had appended. */
  configurationChanges = 0;
  private readonly checks: Set<Check>;
  private queue: { at: number; sequence: number; envelope: Envelope }[] = [];
  private sequence = 0;
  private partitionOf = new Map<NodeId, number>();
  private readonly pendingReads = new Map<number, PendingRead>();
  private nextReadId = 1;

  constructor(options: ClusterOptions) {
    this.options = {
      seed: options.seed,
      nodeCount: options.nodeCount,
      electionTicksMin: options.electionTicksMin ?? 10,
      electionTicksMax: options.electionTicksMax ?? 20,
      heartbeatTicks: options.heartbeatTicks ?? 3,
      dropRate: options.dropRate ?? 0.05,
      delayTicksMax: options.delayTicksMax ?? 3,
      entriesPerAppendMax: options.entriesPerAppendMax ?? 8,
      loseVoteOnRestart: options.loseVoteOnRestart ?? false,
      initialVoters: options.initialVoters ?? options.nodeCount,
      makeCore: options.makeCore,
    };
    this.checks = new Set(options.checks ?? ['electionSafety', 'logMatching', 'leaderCompleteness', 'stateMachineSafety', 'readIndex']);
    this.seed = options.seed;
    this.rng = new SeededRng(options.seed);
    for (let i = 1; i <= options.nodeCount; i++) {
      const node: SimNode = { id: `n${i}`, log: [], configs: new Map(), hardState: { term: 0, votedFor: null }, core: null, replicator: null, commitSeen: 0 };
      this.nodes.push(node);
    }
    this.bootstrap = {
      voters: this.nodes.slice(0, this.options.initialVoters).map((node) => ({ id: node.id, address: node.id })), learners: [], outgoing: null,
    };
    for (const node of this.nodes) this.start(node);
  }

  get voters(): NodeId[] {
    return this.nodes.map((node) => node.id);
  }

  /**
   * Leader `id` proposes `configuration` (ids; addresses are the ids); true if appended. A change
   * of voters is made joint here (outgoing: the voters in force), as a server's admin call does.
   */
  proposeConfiguration(id: NodeId, voters: NodeId[], learners: NodeId[]): boolean {
    const node = this.node(id);
    const core = node.core;
    if (core === null) return false;
    const members = (ids: NodeId[]): Member[] => ids.map((member) => ({ id: member, address: member }));
    const current = core.configuration.configuration;
    const sameVoters = JSON.stringify([...voters].sort()) === JSON.stringify(current.voters.map((member) => member.id).sort());
    const configuration: GroupConfiguration = { voters: members(voters), learners: members(learners), outgoing: sameVoters ? null : current.voters };
    const result = core.proposeConfiguration(configuration);
    if (!result.ok) return false;
    if (result.index !== node.log.length + 1) this.fail(`${id} proposed a configuration at ${result.index}, log ends at ${node.log.length}`);
    node.log.push(result.term);
    node.configs.set(result.index, configuration);
    this.configurationChanges++;
    this.drain(node);
    this.replicateToAll(node);
    return true;
  }

  node(id: NodeId): SimNode {
    const node = this.nodes.find((candidate) => candidate.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Live nodes that believe they lead. */
  leaders(): SimNode[] {
    return this.nodes.filter((node) => node.core?.role === 'leader');
  }

  fail(message: string): never {
    throw new Error(`seed ${this.seed} at tick ${this.time}: ${message}`);
  }

  // ---- faults ----

  crash(id: NodeId): void {
    const node = this.node(id);
    node.core = null;
    node.replicator = null;
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.core === null) this.start(node);
  }

  /** Splits the nodes into groups; messages between groups are lost. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.partitionOf = new Map();
    groups.forEach((group, position) => group.forEach((id) => this.partitionOf.set(id, position)));
  }

  heal(): void {
    this.partitionOf = new Map();
  }

  // ---- driving ----

  /** One tick: every live core ticks, replicators heartbeat, due messages are delivered. */
  tick(): void {
    this.time++;
    for (const node of this.nodes) {
      if (node.core === null) continue;
      node.core.tick();
      this.drain(node);
      const replicator = node.replicator;
      if (replicator !== null && ++replicator.heartbeatElapsedTicks >= this.options.heartbeatTicks) {
        replicator.heartbeatElapsedTicks = 0;
        this.replicateToAll(node);
      }
    }
    this.deliverDue();
    if (this.checks.has('logMatching') && this.time % 4 === 0) this.checkLogMatching();
    if (this.time % 8 === 0) this.checkCoresMatchLogs();
  }

  /** Proposes `count` entries at node `id` if it leads; true if accepted. */
  propose(id: NodeId, count = 1): boolean {
    const node = this.node(id);
    const core = node.core;
    if (core === null) return false;
    const result = core.propose(count);
    if (!result.ok) return false;
    if (result.firstIndex !== node.log.length + 1) this.fail(`${id} proposed at ${result.firstIndex}, log ends at ${node.log.length}`);
    for (let i = 0; i < count; i++) node.log.push(result.term);
    this.proposedCount += count;
    this.drain(node);
    this.replicateToAll(node);
    return true;
  }

  /** The leader's log is durable through its end: counts toward its own match (§5.3). */
  syncLocal(id: NodeId): void {
    const node = this.node(id);
    if (node.core === null) return;
    node.core.onLocalSynced(node.log.length);
    this.drain(node);
  }

  /** Issues a ReadIndex read at node `id`; true if the core accepted it. */
  read(id: NodeId): boolean {
    const node = this.node(id);
    if (node.core === null) return false;
    const readId = this.nextReadId++;
    const result = node.core.readIndex(readId);
    if (!result.ok) return false;
    this.pendingReads.set(readId, { node: id, committedAtIssue: this.committedTerms.length - 1 });
    this.drain(node);
    return true;
  }

  campaign(id: NodeId): void {
    const node = this.node(id);
    if (node.core === null) return;
    node.core.campaign();
    this.drain(node);
  }

  /** Leader `id` starts handing leadership to `target` (null: its most caught-up follower). */
  transfer(id: NodeId, target: NodeId | null, timeoutTicks = 20): ReturnType<RaftCore['transferLeadership']> | null {
    const node = this.node(id);
    if (node.core === null) return null;
    const started = node.core.transferLeadership(target, timeoutTicks);
    this.drain(node);
    return started;
  }

  setPaused(id: NodeId, paused: boolean): void {
    this.node(id).core?.setElectionsPaused(paused);
  }

  /** Random faults and client load for `steps` ticks (the safety phase). */
  runChaos(chaos: ChaosOptions): void {
    const rng = this.rng;
    for (let step = 0; step < chaos.steps; step++) {
      this.tick();
      for (const leader of this.leaders()) {
        if (rng.nextFloat() < 0.7) this.syncLocal(leader.id);
        if (rng.nextFloat() < (chaos.proposeRate ?? 0.2)) this.propose(leader.id, rng.intBetween(1, 3));
        if (rng.nextFloat() < (chaos.readRate ?? 0.1)) this.read(leader.id);
      }
      if (rng.nextFloat() < (chaos.crashRate ?? 0.01)) this.crash(this.pick().id);
      for (const node of this.nodes) {
        if (node.core === null && rng.nextFloat() < (chaos.restartRate ?? 0.05)) this.restart(node.id);
      }
      if (rng.nextFloat() < (chaos.partitionRate ?? 0.02)) this.randomPartition();
      if (rng.nextFloat() < (chaos.healRate ?? 0.05)) this.heal();
      if (rng.nextFloat() < (chaos.transferRate ?? 0.01)) {
        const leader = this.leaders()[0];
        const target = this.pick().id;
        if (leader !== undefined) this.transfer(leader.id, target === leader.id ? null : target, rng.intBetween(2, 30));
      }
      if (rng.nextFloat() < (chaos.membershipRate ?? 0)) this.randomMembershipChange();
      if (rng.nextFloat() < (chaos.pauseRate ?? 0.005)) {
        const node = this.pick();
        this.setPaused(node.id, !(node.core?.electionsPaused ?? true));
      }
    }
    // Nothing stays paused past the safety phase: the liveness phase needs every voter able to run.
    for (const node of this.nodes) this.setPaused(node.id, false);
  }

  /**
   * The liveness phase: faults off, every node up. Returns once one leader has committed an entry
   * of its own term that every node holds, or fails after `ticksMax`.
   */
  stabilize(ticksMax = 400): SimNode {
    this.heal();
    for (const node of this.nodes) this.restart(node.id);
    // Faults off: no loss, and a round trip well inside the election timeout (§5.6 timing).
    const { dropRate, delayTicksMax } = this.options;
    this.options.dropRate = 0;
    this.options.delayTicksMax = 0;
    try {
      for (let tick = 0; tick < ticksMax; tick++) {
        this.tick();
        for (const leader of this.leaders()) this.syncLocal(leader.id);
        const leaders = this.leaders();
        if (leaders.length !== 1) continue;
        const leader = leaders[0]!;
        const core = leader.core!;
        if (core.termAt(core.commitIndex) !== core.term) continue;
        if (core.configurationChanging) continue;
        if (this.members().every((node) => node.core !== null && node.core.commitIndex === core.lastIndex && node.log.length === core.lastIndex)) {
          return leader;
        }
      }
      return this.fail(`no stable leader within ${ticksMax} ticks after healing`);
    } finally {
      this.options.dropRate = dropRate;
      this.options.delayTicksMax = delayTicksMax;
    }
  }

  // ---- internals ----

  /** The leader adds a learner, promotes one, removes a voter, or replaces one by a learner (one voter at least stays). */
  private randomMembershipChange(): void {
    const leader = this.leaders()[0];
    if (leader === undefined) return;
    const current = leader.core!.configuration.configuration;
    const voters = current.voters.map((member) => member.id);
    const learners = current.learners.map((member) => member.id);
    const outside = this.nodes.map((node) => node.id).filter((id) => !voters.includes(id) && !learners.includes(id));
    const pickOf = (ids: NodeId[]): NodeId => ids[this.rng.intBetween(0, ids.length - 1)]!;
    const roll = this.rng.nextFloat();
    // As the server's membership change does (membership-change.ts), a learner becomes a voter
    // only once it has caught up with the leader's commit index: a voter far behind can leave a
    // joint configuration that no candidate can win once every node restarts.
    const commitIndex = leader.core!.commitIndex;
    const caughtUp = learners.filter((id) => this.node(id).log.length >= commitIndex);
    if (roll < 0.3 && outside.length > 0) {
      this.proposeConfiguration(leader.id, voters, [...learners, pickOf(outside)]);
    } else if (roll < 0.55 && caughtUp.length > 0) {
      const promoted = pickOf(caughtUp);
      this.proposeConfiguration(leader.id, [...voters, promoted], learners.filter((id) => id !== promoted));
    } else if (roll < 0.8 && voters.length > 1) {
      const removed = pickOf(voters);
      this.proposeConfiguration(leader.id, voters.filter((id) => id !== removed), learners);
    } else if (caughtUp.length > 0) {
      const removed = pickOf(voters);
      const added = pickOf(caughtUp);
      this.proposeConfiguration(leader.id, [...voters.filter((id) => id !== removed), added], learners.filter((id) => id !== added));
    }
  }

  /** The members of the leader's configuration in force (every node when there is no single leader). */
  private members(): SimNode[] {
    const leaders = this.leaders();
    if (leaders.length !== 1) return this.nodes;
    const configuration = leaders[0]!.core!.configuration.configuration;
    const ids = new Set([...configuration.voters, ...configuration.learners, ...(configuration.outgoing ?? [])].map((member) => member.id));
    return this.nodes.filter((node) => ids.has(node.id));
  }

  private pick(): SimNode {
    return this.nodes[this.rng.intBetween(0, this.nodes.length - 1)]!;
  }

  private randomPartition(): void {
    const groups: NodeId[][] = [[], []];
    for (const node of this.nodes) groups[this.rng.intBetween(0, 1)]!.push(node.id);
    this.partition(groups);
  }

  private start(node: SimNode): void {
    const joining = this.nodes.indexOf(node) >= this.options.initialVoters;
    const base: GroupConfiguration = joining ? { voters: [], learners: [], outgoing: null } : this.bootstrap;
    const config: CoreConfig = {
      id: node.id,
      voters: base.voters.map((member) => member.id),
      electionTicksMin: this.options.electionTicksMin,
      electionTicksMax: this.options.electionTicksMax,
      rng: new SeededRng(this.rng.nextUint32() | 0),
    };
    const hardState = { ...node.hardState };
    if (this.options.loseVoteOnRestart) hardState.votedFor = null;
    const configurations = [{ index: 0, configuration: base },
      ...[...node.configs.entries()].sort((a, b) => a[0] - b[0]).map(([index, configuration]) => ({ index, configuration }))];
    const restored: RestoredState = { hardState, termRuns: termRunsOf(node.log), lastIndex: node.log.length, configurations };
    node.core = this.options.makeCore ? this.options.makeCore(config, restored) : new RaftCore(config, restored);
    node.replicator = null;
    node.commitSeen = 0;
  }

  private send(envelope: Envelope): void {
    if (this.rng.nextFloat() < this.options.dropRate) return;
    const at = this.time + 1 + this.rng.intBetween(0, this.options.delayTicksMax);
    this.queue.push({ at, sequence: this.sequence++, envelope });
  }

  private deliverDue(): void {
    const due = this.queue.filter((item) => item.at <= this.time).sort((a, b) => a.at - b.at || a.sequence - b.sequence);
    if (due.length === 0) return;
    this.queue = this.queue.filter((item) => item.at > this.time);
    for (const { envelope } of due) {
      const target = this.node(envelope.to);
      if (target.core === null) continue;
      if ((this.partitionOf.get(envelope.from) ?? 0) !== (this.partitionOf.get(envelope.to) ?? 0)) continue;
      this.deliver(target, envelope);
    }
  }

  private deliver(node: SimNode, envelope: Envelope): void {
    const core = node.core!;
    switch (envelope.kind) {
      case 'core':
        core.step(envelope.from, envelope.message);
        this.drain(node);
        return;
      case 'append': {
        const header = envelope.header;
        const decision = core.handleAppendEntries(header);
        if (decision.kind === 'accept') {
          // The shell's half of the decision: truncate, then append from `appendFrom` on.
          if (decision.truncateFrom !== null) {
            node.log.length = decision.truncateFrom - 1;
            for (const index of [...node.configs.keys()]) if (index >= decision.truncateFrom) node.configs.delete(index);
          }
          const firstIndex = header.prevIndex + 1 + decision.appendFrom;
          if (firstIndex <= node.log.length && decision.appendFrom < header.entryTerms.length) {
            this.fail(`${node.id} told to append at ${firstIndex} over a log ending at ${node.log.length}`);
          }
          for (let i = decision.appendFrom; i < header.entryTerms.length; i++) node.log.push(header.entryTerms[i]!);
          for (const { offset, configuration } of header.configurations ?? []) {
            if (offset >= decision.appendFrom) node.configs.set(header.prevIndex + 1 + offset, configuration);
          }
          core.onLocalSynced(node.log.length);
        }
        // Persist first (the drain), reply after: the reply vouches for durable term and entries.
        this.drain(node);
        this.send({ kind: 'appendReply', from: node.id, to: envelope.from, requestTerm: header.term, reply: decision.reply, round: envelope.round });
        return;
      }
      case 'appendReply':
        this.handleAppendReply(node, envelope.from, envelope.requestTerm, envelope.reply, envelope.round);
        return;
    }
  }

  private handleAppendReply(node: SimNode, from: NodeId, requestTerm: number, reply: AppendEntriesReply, round: number): void {
    const core = node.core!;
    const replicator = node.replicator;
    if (reply.term > core.term) {
      core.onHigherTerm(reply.term, null);
      this.drain(node);
      return;
    }
    // Replies to an earlier leadership say nothing about this one's log.
    if (replicator === null || replicator.term !== requestTerm || reply.term !== replicator.term) return;
    const progress = replicator.progress.get(from);
    // A reply from a server the configuration no longer holds.
    if (progress === undefined) return;
    core.onPeerContact(from);
    if (round > 0) core.onRoundAck(from, round);
    if (reply.success) {
      progress.matchIndex = Math.max(progress.matchIndex, reply.matchIndex);
      progress.nextIndex = Math.max(progress.nextIndex, progress.matchIndex + 1);
      core.onMatch(from, reply.matchIndex);
    } else {
      progress.nextIndex = Math.min(Math.max(reply.nextIndexHint, progress.matchIndex + 1), node.log.length + 1);
    }
    this.drain(node);
  }

  private replicateToAll(node: SimNode): void {
    const replicator = node.replicator;
    if (replicator === null) return;
    for (const peer of replicator.progress.keys()) this.replicateTo(node, replicator, peer);
  }

  private replicateTo(node: SimNode, replicator: Replicator, peer: NodeId): void {
    const core = node.core!;
    const progress = replicator.progress.get(peer)!;
    const prevIndex = progress.nextIndex - 1;
    const prevTerm = core.termAt(prevIndex);
    if (prevTerm === undefined) this.fail(`${node.id} has no term at ${prevIndex} for ${peer}`);
    const entryTerms = node.log.slice(prevIndex, Math.min(node.log.length, prevIndex + this.options.entriesPerAppendMax));
    const configurations: { offset: number; configuration: GroupConfiguration }[] = [];
    for (let offset = 0; offset < entryTerms.length; offset++) {
      const configuration = node.configs.get(prevIndex + 1 + offset);
      if (configuration !== undefined) configurations.push({ offset, configuration });
    }
    const header: AppendEntriesHeader = {
      term: replicator.term, leaderId: node.id, prevIndex, prevTerm, leaderCommit: core.commitIndex, entryTerms, configurations,
    };
    // Optimistic pipelining: the next request continues where this one ends; a reject resets it.
    progress.nextIndex = prevIndex + entryTerms.length + 1;
    this.send({ kind: 'append', from: node.id, to: peer, header, round: replicator.round });
  }

  /** Carries out one node's Ready, in the order `Ready` documents: persist, then send. */
  private drain(node: SimNode): void {
    const core = node.core;
    if (core === null) return;
    while (core.hasReady()) this.apply(node, core.ready());
  }

  private apply(node: SimNode, ready: Ready): void {
    if (ready.hardState !== null) node.hardState = { ...ready.hardState };
    if (ready.leaderStart !== null) {
      const start = ready.leaderStart;
      if (start.noopIndex !== node.log.length + 1) this.fail(`${node.id} no-op at ${start.noopIndex}, log ends at ${node.log.length}`);
      this.checkLeaderCompleteness(node, start.term);
      node.log.push(start.term);
      const progress = new Map<NodeId, Progress>();
      for (const follower of start.followers) progress.set(follower, { nextIndex: start.noopIndex, matchIndex: 0 });
      node.replicator = { term: start.term, progress, round: 0, heartbeatElapsedTicks: 0 };
      this.recordLeader(node.id, start.term);
    }
    if (ready.roleChange !== null && ready.roleChange.role !== 'leader') node.replicator = null;
    if (ready.configurationAppend !== null) {
      const append = ready.configurationAppend;
      if (append.index !== node.log.length + 1) this.fail(`${node.id} appends C_new at ${append.index}, log ends at ${node.log.length}`);
      node.log.push(append.term);
      node.configs.set(append.index, append.configuration);
      this.configurationChanges++;
    }
    if (ready.configuration !== null && node.replicator !== null) {
      // The replicator follows the members in force: new ones from the log's end, gone ones dropped.
      const configuration = ready.configuration.configuration;
      const others = new Set([...configuration.voters, ...configuration.learners, ...(configuration.outgoing ?? [])].map((member) => member.id));
      others.delete(node.id);
      const progress = node.replicator.progress;
      for (const id of [...progress.keys()]) if (!others.has(id)) progress.delete(id);
      for (const id of others) if (!progress.has(id)) progress.set(id, { nextIndex: node.log.length + 1, matchIndex: 0 });
    }
    if (ready.commitIndex !== null) this.recordCommit(node, ready.commitIndex);
    for (const { to, message } of ready.messages) this.send({ kind: 'core', from: node.id, to, message });
    // Durable already (the hard state above was stored synchronously), so these may leave now.
    for (const { to, message } of ready.messagesAfterPersist) this.send({ kind: 'core', from: node.id, to, message });
    for (const read of ready.readsReady) this.checkRead(read.readId, read.readIndex);
    for (const readId of ready.readsFailed) this.pendingReads.delete(readId);
    if (ready.heartbeatRound !== null && node.replicator !== null) {
      node.replicator.round = ready.heartbeatRound;
      this.replicateToAll(node);
    }
    if (ready.leaderStart !== null && node.replicator !== null) this.replicateToAll(node);
  }

  // ---- the checks ----

  private recordLeader(id: NodeId, term: number): void {
    const existing = this.leaderOfTerm.get(term);
    if (this.checks.has('electionSafety') && existing !== undefined && existing !== id) {
      this.fail(`election safety: ${existing} and ${id} both leaders of term ${term}`);
    }
    this.leaderOfTerm.set(term, id);
  }

  /** §5.4.1: a new leader's log holds every entry committed so far. */
  private checkLeaderCompleteness(node: SimNode, term: number): void {
    if (!this.checks.has('leaderCompleteness')) return;
    for (let index = 1; index < this.committedTerms.length; index++) {
      if (node.log[index - 1] !== this.committedTerms[index]) {
        this.fail(
          `leader completeness: leader ${node.id} of term ${term} has term ${node.log[index - 1]} at ${index}, committed term ${this.committedTerms[index]}`,
        );
      }
    }
  }

  /** State machine safety (§5.4.3): no two nodes commit different entries at one index. */
  private recordCommit(node: SimNode, commitIndex: number): void {
    if (commitIndex > node.log.length) this.fail(`${node.id} commits ${commitIndex} beyond its log of ${node.log.length}`);
    for (let index = node.commitSeen + 1; index <= commitIndex; index++) {
      const term = node.log[index - 1]!;
      if (index < this.committedTerms.length) {
        if (this.checks.has('stateMachineSafety') && this.committedTerms[index] !== term) {
          this.fail(`state machine safety: ${node.id} commits term ${term} at ${index}, already committed with term ${this.committedTerms[index]}`);
        }
      } else {
        this.committedTerms.push(term);
      }
    }
    node.commitSeen = Math.max(node.commitSeen, commitIndex);
  }

  /** A ReadIndex read must see every entry committed before it was issued (thesis §6.4). */
  private checkRead(readId: number, readIndex: number): void {
    const read = this.pendingReads.get(readId);
    if (read === undefined) this.fail(`read ${readId} ready twice or never issued`);
    this.pendingReads.delete(readId);
    this.readsServed++;
    if (this.checks.has('readIndex') && readIndex < read.committedAtIssue) {
      this.fail(`linearizable read: read ${readId} at ${read.node} has read index ${readIndex}, ${read.committedAtIssue} was committed before it was issued`);
    }
  }

  /** Log Matching (§5.3): same index and term imply identical prefixes. */
  checkLogMatching(): void {
    for (let a = 0; a < this.nodes.length; a++) {
      for (let b = a + 1; b < this.nodes.length; b++) {
        const left = this.nodes[a]!.log;
        const right = this.nodes[b]!.log;
        let index = Math.min(left.length, right.length);
        while (index > 0 && left[index - 1] !== right[index - 1]) index--;
        for (let i = index - 1; i >= 1; i--) {
          if (left[i - 1] !== right[i - 1]) {
            this.fail(`log matching: ${this.nodes[a]!.id} and ${this.nodes[b]!.id} agree at ${index} (term ${left[index - 1]}) but differ at ${i}`);
          }
        }
      }
    }
  }

  /** The core's view of the terms is the shell's log, run for run. */
  private checkCoresMatchLogs(): void {
    for (const node of this.nodes) {
      const core = node.core;
      if (core === null) continue;
      const expected = JSON.stringify(termRunsOf(node.log));
      const actual = JSON.stringify(core.termRuns());
      if (core.lastIndex !== node.log.length || expected !== actual) {
        this.fail(`${node.id}: core sees ${actual} through ${core.lastIndex}, log is ${expected} through ${node.log.length}`);
      }
    }
  }
}
