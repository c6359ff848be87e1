/**
 * One seeded simulation run: a 3- or 5-node cluster of production servers on the virtual disk,
 * network and clock, with clients writing unique values and reading linearizably.
 *  - Safety phase: a nemesis injects faults on a seeded schedule (crashes with torn writes and
 *    restarts, partitions, one-way cuts, an isolated leader, message drop / duplicate / reorder /
 *    connection resets; crashes aimed at the snapshot paths: mid-write, mid-install, between a
 *    snapshot and the purge below it; leadership transfers and step-downs asked of the leader,
 *    to any node, down or cut off ones included; elections paused and resumed on a node); the
 *    checkers run after every step.
 *  - Liveness phase: faults healed, elections resumed, every node restarted; within `livenessMs` the
 *    cluster must elect a leader, commit new writes and converge (every node the same ledger, the
 *    same applied index), then hand leadership over to another node and converge again. Then every
 *    acknowledged write must be on every node, once.
 * Reads are linearizable, confirmed by heartbeat rounds or, in every other seed, on the leader
 * lease; clock faults stall nodes (the leader half of the time) and skew their clock rates within
 * the drift the lease allows (a negative control sets it beyond, and the checker must catch it).
 * Everything is drawn from the seed: the same seed replays the same run step for step (the trace
 * hash of the result says so).
 */
import { resolveLimits, type Limits } from '../limits.js';
import { Checkers, type Violation } from './checkers.js';
import { Life, SimScheduler } from './scheduler.js';
import { calmNetwork, SimNetwork, type NetworkFaults } from './sim-network.js';
import { addressOf, productionCore, SimNode, type CoreFactory, type LedgerFactory } from './sim-node.js';
import { quorumOf, type Member } from '../core/configuration.js';
import { quorumIndex, type QuorumConfiguration } from '../core/commit-rule.js';
import { SimClient } from './sim-client.js';
import { crashPoints, SnapshotActivity, type CrashPoint, type SnapshotFigures } from './snapshot-activity.js';
import type { SessionTable } from '../actors/session-table.js';
import { RaftlineError } from '../errors.js';

export interface SimConfig {
  seed: number;
  /** 3 or 5; drawn from the seed when not given. */
  nodeCount?: number;
  safetyMs: number;
  livenessMs: number;
  /** The run lasts at least this long (simulated). */
  totalMsMin: number;
  clientCount: number;
  /** Operations per client in the safety phase, and writes per client in the liveness phase. */
  opsPerClient: number;
  livenessWritesPerClient: number;
  /** Mean time between nemesis actions in the safety phase. */
  faultEveryMs: number;
  stepsMax: number;
  /** Called with the nodes at the end of the run (for a closer look at a failing seed). */
  inspect?(nodes: readonly SimNode[], clients: readonly SimClient[]): void;
  /** The core the servers run; a deliberately broken one shows the checkers catch it. */
  makeCore?: CoreFactory;
  limits?: Partial<Limits>;
  /** A deliberately broken disk whose fsync makes nothing durable. */
  lyingDisk?: boolean;
  /** Deliberately broken session tables for the updaters (the production one when absent). */
  makeSessionTable?: () => SessionTable<unknown>;
  /** Deliberately broken ledgers for the updaters (SimLedger when absent). */
  makeLedger?: LedgerFactory;
  /** Snapshot every this many applied entries (0: never) and entries kept below one; drawn from the seed when absent. */
  snapshotEvery?: number;
  logKeep?: number;
  /** How the servers confirm linearizable reads (a heartbeat round, or the leader lease); by the seed when absent (even seeds: lease). */
  readMode?: SimReadMode;
  /** The lease's clock drift bound, ms (RaftServerOptions.readLease); default 200: a lease of 900 - 200 ms under simLimits. */
  leaseDriftMs?: number;
  /**
   * Clock faults of the nemesis: `withinDrift` (default) stalls nodes (the leader's process half
   * of the time) and skews clock rates as far as the lease's drift bound allows; `beyondDrift`, a
   * deliberately broken setting for the negative control, slows the leader's clock far past it
   * while cutting it off from the other servers; `none`.
   */
  clockFaults?: 'none' | 'withinDrift' | 'beyondDrift';
  /** Share of the safety phase's operations that are reads (default 0.25). */
  readRatio?: number;
}

export type SimReadMode = 'linearizable' | 'lease';

/** The read mode of a seed when the config names none: every other seed runs on the lease. */
export function readModeOf(seed: number): SimReadMode {
  return seed % 2 === 0 ? 'lease' : 'linearizable';
}

export const defaultSimConfig: Omit<SimConfig, 'seed'> = {
  safetyMs: 45_000,
  livenessMs: 15_000,
  totalMsMin: 60_000,
  clientCount: 3,
  opsPerClient: 40,
  livenessWritesPerClient: 2,
  faultEveryMs: 1500,
  stepsMax: 3_000_000,
};

/**
 * Limits for simulation: coarse ticks and small segments (cheap runs, many segment rolls; a purge
 * removes whole segments, so small ones let the log start close behind the snapshots).
 */
export const simLimits: Partial<Limits> = {
  // Short, so that sessions idle out within a run: clock entries every second while any is held.
  sessionIdleMsMax: 4000,
  tickMs: 100,
  electionTicksMin: 10,
  electionTicksMax: 20,
  heartbeatMs: 200,
  segmentBytesMax: 1024,
  // A snapshot of the ledger is a few KiB: a leader sends it in several chunks, so a crash can fall mid-install.
  snapshotChunkBytes: 128,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 1000,
  appendInflightMax: 4,
};

/**
 * Leadership transfers the nemesis asked of a leader (RaftServer.transferLeadership, thesis §3.10):
 * started (the leader began handing over), completed (it learned that its target leads), failed
 * (TRANSFER_FAILED: given up after its timeout, or another node took over); a transfer whose
 * leader crashed first has no outcome. Refused: calls the leader turned down at once (another
 * transfer under way). The liveness phase's handover on the healed cluster counts among them
 * too, and in `afterHeal`. Then the client calls answered TRANSFER_IN_PROGRESS, and the
 * elections paused on a node.
 */
export interface TransferFigures {
  started: number;
  completed: number;
  failed: number;
  refused: number;
  writesRefused: number;
  pauses: number;
  /** Pauses that struck a pre-candidate or candidate (whose campaign must then stop). */
  pausesMidCampaign: number;
  /** Transfers completed on the healed cluster in the liveness phase (one per passing run). */
  afterHeal: number;
  /**
   * Membership changes the nemesis asked of a leader (RaftServer.addServer / removeServer /
   * setConfiguration, joint consensus): started, done (committed), refused or failed (another
   * change under way, a new voter that did not catch up, leadership lost midway); and the
   * restorations of the full membership in the liveness phase.
   */
  membershipStarted: number;
  membershipDone: number;
  membershipFailed: number;
  membershipRestored: number;
}

export function noTransferFigures(): TransferFigures {
  return {
    started: 0, completed: 0, failed: 0, refused: 0, writesRefused: 0, pauses: 0, pausesMidCampaign: 0, afterHeal: 0,
    membershipStarted: 0, membershipDone: 0, membershipFailed: 0, membershipRestored: 0,
  };
}

export interface SimResult {
  seed: number;
  nodeCount: number;
  readMode: SimReadMode;
  /** Reads the leaders served on their lease, and the clock faults (stalls, rate changes) injected. */
  leaseReads: number;
  clockFaults: number;
  ok: boolean;
  violations: Violation[];
  simulatedMs: number;
  steps: number;
  traceHash: number;
  operations: number;
  acknowledged: number;
  reads: number;
  /** Of the reads: follower reads (checked as linearizable reads) and stale reads (checked for their bound). */
  followerReads: number;
  staleReads: number;
  faults: number;
  crashes: number;
  tornWrites: number;
  /** Nodes that lost synced data (their disk, or a damaged last record), where Raft can absorb it. */
  replicaLosses: number;
  lostWrites: number;
  duplicateApplies: number;
  committed: number;
  /** Client sessions: opened, closed by their client, writes left to idle past the bound then resent, writes answered SESSION_EXPIRED. */
  sessions: { opened: number; closed: number; lateRetries: number; expired: number };
  network: SimNetwork['stats'];
  /** The run's snapshot policy (0: none taken), what happened on the snapshot paths, and the targeted crashes that landed. */
  snapshotEvery: number;
  logKeep: number;
  snapshots: SnapshotFigures;
  crashPoints: Record<CrashPoint, number>;
  /** Leadership transfers and paused elections: see TransferFigures. */
  transfers: TransferFigures;
  /** A short account of the run's last events, for a failure report. */
  journal: string[];
}

export async function runSimulation(config: SimConfig): Promise<SimResult> {
  const scheduler = new SimScheduler(config.seed);
  const rng = scheduler.rng;
  const nodeCount = config.nodeCount ?? (rng.nextFloat() < 0.5 ? 3 : 5);
  const nodeIds = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const network = new SimNetwork(scheduler);
  const checkers = new Checkers(() => scheduler.now);
  const journal: string[] = [];
  const note = (line: string): void => {
    journal.push(`${(scheduler.now / 1000).toFixed(3)}s ${line}`);
    if (journal.length > 60) journal.shift();
  };
  const limits = { ...simLimits, ...config.limits };
  resolveLimits(limits);
  // Most runs take snapshots often (and purge to a short window), so that installs follow crashes;
  // one in five takes none, the log then keeping everything.
  const snapshotEvery = config.snapshotEvery ?? (rng.nextFloat() < 0.2 ? 0 : 5 + Math.floor(rng.nextFloat() * 40));
  const logKeep = config.logKeep ?? Math.floor(rng.nextFloat() * 20);
  const snapshotActivity = new SnapshotActivity(logKeep);
  const readMode = config.readMode ?? readModeOf(config.seed);
  const leaseDriftMs = config.leaseDriftMs ?? 200;
  const clockFaults = config.clockFaults ?? 'withinDrift';
  const nodes: SimNode[] = nodeIds.map((id) => new SimNode(id, {
    scheduler, network, limits, nodeIds, timerJitterMs: 5,
    ...(readMode === 'lease' ? { readLease: { clockDriftMs: leaseDriftMs } } : {}),
    makeCore: config.makeCore ?? productionCore,
    lyingDisk: config.lyingDisk ?? false,
    snapshotEvery, logKeep, snapshotStepBytes: 128,
    ...(config.makeSessionTable === undefined ? {} : { makeSessionTable: config.makeSessionTable }),
    ...(config.makeLedger === undefined ? {} : { makeLedger: config.makeLedger }),
    onApply: (node, index, value, position) => checkers.onApply(node, index, value, position),
    onSnapshotLoaded: (node, how, index, values) => {
      snapshotActivity.onLoaded(node, how, index);
      checkers.onSnapshotLoaded(node, how, index, values);
      note(`${node.id} loaded snapshot ${index} (${how})`);
    },
  }));
  const acknowledged = new Map<string, number>();
  const acknowledgedOrder: string[] = [];
  let livenessAcks = 0;
  let inLiveness = false;
  const clients = Array.from({ length: config.clientCount }, (_, i) => new SimClient(`c${i + 1}`, scheduler, network, nodeIds, {
    attemptTimeoutMs: 800, callDeadlineMs: 10_000, thinkMsMin: 50, thinkMsMax: (2 * config.safetyMs) / Math.max(1, config.opsPerClient),
    readRatio: config.readRatio ?? 0.25, closeChance: 0.1, lateRetryChance: 0.04,
  }, {
    onAcknowledged: (_client, value, index) => {
      acknowledged.set(value, index);
      acknowledgedOrder.push(value);
      if (inLiveness) livenessAcks++;
      checkers.onAcknowledged(value, index);
    },
    onRead: (client, length, before) => checkers.onRead(client, length, before),
    onStaleRead: (client, length, ownLast) => checkers.onStaleRead(client, length, ownLast),
    onDefiniteFailure: (client, value, code) => checkers.violation('unexpectedFailure', `${client} got ${code} for ${value}`),
    onSessionExpired: (client, session, sinceActiveMs, idleMsMax) => checkers.onSessionExpired(client, session, sinceActiveMs, idleMsMax),
  }, () => acknowledgedOrder.slice()));

  const crashPlan: { next: { node: SimNode; atStep: number; waitForUnsynced: boolean } | null } = { next: null };
  let faults = 0;
  let crashes = 0;
  let tornWrites = 0;
  const pending: Promise<void>[] = [];
  const start = (node: SimNode): void => {
    note(`start ${node.id}`);
    pending.push(node.start());
  };
  let leaseReads = 0;
  const crash = (node: SimNode): void => {
    leaseReads += node.core?.readCounters.leaseReads ?? 0;
    snapshotActivity.onCrash(node);
    const outcome = node.crash(0.5, 0.5);
    crashes++;
    tornWrites += outcome.tornWrites;
    note(`crash ${node.id}${outcome.tornWrites > 0 ? ' (torn write)' : ''}`);
  };

  // A node that loses synced data (a replaced disk, a damaged last record) forgets entries it may
  // have acknowledged: Raft's guarantees assume it never does, so a write acknowledged by a
  // majority that included it could be lost if it then voted for a node lacking that write. The
  // fault therefore strikes only where Raft can absorb it: every node up, and everything the
  // victim holds durable on every other node. A lost disk loses the vote too, so the group must
  // also be settled under one leader (every other node its follower in its term): no candidate is
  // left that a second vote in that term could elect. What it exercises is that the leader
  // notices the follower's shorter log and sends it everything again (appender-actor.ts), and
  // that recovery cuts the damaged record.
  // The nemesis plans it; it lands at the first step (looked at every few steps) where it is
  // safe, or not at all when no such step comes soon.
  let replicaLosses = 0;
  const lossPlan: { next: { victim: SimNode; untilMs: number } | null } = { next: null };
  const safeToLoseData = (victim: SimNode): boolean => {
    const current = leader();
    if (current === undefined || !nodes.every((node) => node.isUp && node.core!.term === current.core!.term &&
        (node === current || (node.core!.role === 'follower' && node.core!.leaderId === current.id)))) return false;
    const last = victim.core!.lastIndex;
    const term = victim.core!.termAt(last);
    return nodes.every((node) => node === victim || (node.server!.status().synced >= last && node.core!.termAt(last) === term));
  };
  const loseReplicaData = (victim: SimNode): void => {
    crash(victim);
    replicaLosses++;
    if (rng.nextFloat() < 0.5) {
      victim.loseDisk();
      durableSeen.set(victim.id, 0);
      snapshotActivity.onDiskLost(victim);
      // It catches up by the leader's snapshot when the leader's log no longer starts at 1.
      note(`${victim.id} lost its disk (the leader's log starts at ${leader()?.log?.firstIndex ?? 'unknown'})`);
    } else {
      note(`${victim.id}'s last record damaged (index ${victim.damageLastRecord() ?? 'none'})`);
    }
  };

  // A node that enters a window of a crash point (snapshot-activity.ts) is marked for a crash there
  // with that point's chance; the crash lands at a step drawn within the window (none if it closes
  // first). Like the nemesis's crashes: in the safety phase, while fewer than half the nodes are down.
  // Installs are rarer than snapshots: their windows are taken more often.
  const crashPointChance: Record<CrashPoint, number> = { snapshotWrite: 0.08, install: 0.3, beforePurge: 0.08 };
  const crashPointHits: Record<CrashPoint, number> = { snapshotWrite: 0, install: 0, beforePurge: 0 };
  const windows = nodes.map(() => crashPoints.map(() => ({ open: false, marked: false })));
  const aimCrashes = (): void => {
    nodes.forEach((node, n) => {
      crashPoints.forEach((point, p) => {
        const window = windows[n]![p]!;
        const open = snapshotActivity.inWindow(node, point);
        if (open && !window.open) window.marked = rng.nextFloat() < crashPointChance[point];
        window.open = open;
        if (!open || !window.marked || !node.isUp || rng.nextFloat() >= 0.4) return;
        window.marked = false;
        if (nodes.filter((other) => other.life === null).length >= Math.ceil(nodeCount / 2)) return;
        crashPointHits[point]++;
        note(`${node.id} crashes at ${point} (snapshot ${node.updater!.snapshotIndex})`);
        crash(node);
      });
    });
  };

  // ---- leadership transfers and paused elections (thesis §3.10) ------------------------------
  // Asked of the servers as an operator would (RaftServer's admin calls). A transfer's outcome is
  // a promise: its handlers run at the loop's next await, which the loop makes after each step
  // while one is unsettled (a transfer whose leader crashed never settles and is dropped).
  const transfers = noTransferFigures();
  let transfersUnsettled: { life: Life }[] = [];
  /**
   * Asks `from` to hand leadership to `target` (null: step down); `settled` hears whether it
   * completed. False when the call started no transfer (refused at once, or joining the one
   * under way: only the call that started a transfer counts its outcome).
   */
  const transferLeadership = (from: SimNode, target: string | null, timeoutMs: number, settled?: (completed: boolean) => void): boolean => {
    const core = from.core!;
    const wanted = target ?? 'the most caught-up follower';
    const running = core.transferTarget;
    const outcome = from.server!.transferLeadership(target, timeoutMs);
    const chosen = core.transferTarget;
    if (running !== null || chosen === null) {
      outcome.catch(() => {});
      if (chosen === null || (target !== null && target !== running)) {
        transfers.refused++;
        note(`transfer ${from.id} -> ${wanted} refused${running === null ? '' : ` (handing over to ${running})`}`);
      }
      return false;
    }
    transfers.started++;
    const unsettled = { life: from.life! };
    transfersUnsettled.push(unsettled);
    note(`transfer ${from.id} -> ${chosen}${target === null ? ' (step down)' : ''} in term ${core.term}, timeout ${timeoutMs} ms`);
    outcome.then((done) => {
      transfersUnsettled = transfersUnsettled.filter((other) => other !== unsettled);
      transfers.completed++;
      note(`transfer ${from.id} -> ${done.leader} done: it leads term ${done.term} after ${Math.round(done.ms)} ms`);
      checkers.onTransferred(from.id, done.leader, done.term);
      settled?.(true);
    }, (error: unknown) => {
      transfersUnsettled = transfersUnsettled.filter((other) => other !== unsettled);
      transfers.failed++;
      const reason = error instanceof RaftlineError ? `${error.code} ${String(error.details['reason'] ?? '')}` : String(error);
      note(`transfer ${from.id} -> ${chosen} failed: ${reason}`);
      settled?.(false);
    });
    return true;
  };
  // Fewer than half the nodes paused at a time, so that the others can still elect a leader.
  const pausedMax = Math.floor((nodeCount - 1) / 2);
  const pausedCount = (): number => nodes.filter((node) => node.isUp && node.core!.electionsPaused).length;
  const setElectionPaused = (node: SimNode, paused: boolean): void => {
    const role = node.core!.role;
    node.server!.setElectionPaused(paused);
    if (paused) transfers.pauses++;
    if (paused && role !== 'follower' && role !== 'leader') transfers.pausesMidCampaign++;
    note(`${paused ? 'pause' : 'resume'} elections on ${node.id}${paused && role !== 'follower' ? ` (a ${role} of term ${node.core!.term})` : ''}`);
  };
  // Half the pauses are aimed at a campaign: they land at the first step (within a few seconds)
  // where a node is a pre-candidate or candidate, whose campaign must then go no further.
  let pauseAimedUntilMs = 0;
  const pauseCampaigner = (): void => {
    if (scheduler.now > pauseAimedUntilMs || inLiveness) {
      pauseAimedUntilMs = 0;
      return;
    }
    const campaigner = nodes.find((node) => node.isUp && !node.core!.electionsPaused && (node.core!.role === 'preCandidate' || node.core!.role === 'candidate'));
    if (campaigner === undefined) return;
    pauseAimedUntilMs = 0;
    if (pausedCount() < pausedMax) setElectionPaused(campaigner, true);
  };

  // ---- membership changes (Raft §6) ------------------------------------------------------------
  // Asked of the leader as an operator would: remove a voter (the leader too), add back a node
  // that is not a member (down or cut off ones too: their catch-up times out and they are removed
  // again), or replace one voter by another node, in one joint change.
  const members = (ids: readonly string[]): Member[] => ids.map((id) => ({ id, address: addressOf(id) }));
  /** Changes not settled yet, by the life of the leader asked (a crashed leader's never settles). */
  let membershipInFlight: Life[] = [];
  const membershipBusy = (): boolean => {
    membershipInFlight = membershipInFlight.filter((life) => life.alive);
    return membershipInFlight.length > 0;
  };
  const changeMembership = (current: SimNode, voters: string[], learners: string[], what: string, restoring = false): void => {
    transfers.membershipStarted++;
    note(`membership ${what} at ${current.id}: voters ${voters.join(',')}${learners.length > 0 ? ` learners ${learners.join(',')}` : ''}`);
    const life = current.life!;
    membershipInFlight.push(life);
    const settle = (): void => {
      const at = membershipInFlight.indexOf(life);
      if (at >= 0) membershipInFlight.splice(at, 1);
    };
    current.server!.setConfiguration({ voters: members(voters), learners: members(learners) }, 1000 + Math.floor(rng.nextFloat() * 3000)).then(
      (report) => {
        if (!life.alive) return;
        settle();
        transfers.membershipDone++;
        if (restoring) transfers.membershipRestored++;
        note(`membership ${what} done: index ${report.index}`);
      },
      (error: unknown) => {
        if (!life.alive) return;
        settle();
        transfers.membershipFailed++;
        note(`membership ${what} failed: ${(error as Error).message}`);
      },
    );
  };
  const membershipFault = (current: SimNode): boolean => {
    const core = current.core!;
    if (core.configurationChanging) return false;
    const configuration = core.configuration.configuration;
    const voters = configuration.voters.map((member) => member.id);
    const outside = nodeIds.filter((id) => !voters.includes(id));
    const roll = rng.nextFloat();
    if (outside.length > 0 && roll < 0.45) {
      const added = pick(outside);
      changeMembership(current, [...voters, added], [], `add ${added}`);
    } else if (voters.length > 2 && roll < 0.8) {
      const removed = pick(voters);
      changeMembership(current, voters.filter((id) => id !== removed), [], `remove ${removed}`);
    } else if (outside.length > 0 && voters.length > 1) {
      const removed = pick(voters);
      const added = pick(outside);
      changeMembership(current, [...voters.filter((id) => id !== removed), added], [], `replace ${removed} by ${added}`);
    } else {
      return false;
    }
    return true;
  };
  // A leader's commit is durable on a majority of the voters of its configuration (of both sets
  // while joint): learners, and members removed, never count (the commit rule, commit-rule.ts).
  // Checked when a leader's commit index grows within its term, against the durable index each
  // node last reported (a crashed node keeps what it had; a lost disk has nothing), and under the
  // configuration the leader had before that step: the one it decided with (a change it proposes
  // in the same turn, or C_new it appends once C_old,new commits, comes after the decision).
  const durableSeen = new Map<string, number>();
  const commitSeen = new Map<string, { commitIndex: number; quorum: QuorumConfiguration }>();
  const checkCommitQuorum = (): void => {
    for (const node of nodes) if (node.isUp) durableSeen.set(node.id, node.server!.durableIndex);
    for (const node of nodes) {
      if (!node.isUp || node.core!.role !== 'leader') continue;
      const core = node.core!;
      const key = `${node.id}#${node.incarnation}/${core.term}`;
      const seen = commitSeen.get(key);
      commitSeen.set(key, { commitIndex: core.commitIndex, quorum: quorumOf(core.configuration.configuration) });
      if (seen === undefined || core.commitIndex <= seen.commitIndex) continue;
      const quorum = seen.quorum;
      const durable = quorumIndex(quorum, (id) => durableSeen.get(id) ?? 0);
      if (durable < core.commitIndex) {
        checkers.violation('commitQuorum', `${node.id} committed ${core.commitIndex} in term ${core.term}, durable on a quorum of ` +
          `${JSON.stringify(quorum)} only through ${durable}`);
      }
    }
  };

  /** The leader's configuration is every node, as voters, committed: the run started so. */
  const fullMembership = (current: SimNode): boolean => {
    const { index, configuration } = current.core!.configuration;
    return configuration.outgoing === null && configuration.learners.length === 0 && configuration.voters.length === nodeCount &&
      index <= current.core!.commitIndex;
  };

  // ---- the nemesis -------------------------------------------------------------------------
  const nemesisLife = new Life('nemesis');
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rng.nextFloat() * items.length)]!;
  const leader = (): SimNode | undefined => nodes.find((node) => node.isUp && node.core!.role === 'leader');

  // ---- clock faults (the leader lease's assumptions) ---------------------------------------
  // The lease holds while the ratio of any two clocks' rates stays below window / lease, where the
  // window is the voters' stickiness ((electionTicksMin - 1) ticks) and the lease that less the
  // drift bound. Within drift, each clock's rate stays within the square root of 95 % of that.
  const windowMs = (limits.electionTicksMin! - 1) * limits.tickMs!;
  const rateSpread = Math.sqrt((0.95 * windowMs) / Math.max(1, windowMs - leaseDriftMs));
  let clockFaultCount = 0;
  const clockFault = (): void => {
    clockFaultCount++;
    const current = leader();
    if (clockFaults === 'beyondDrift') {
      // Deliberately broken: the leader's clock runs at a quarter of real time while it is cut
      // off, so its lease outlives the stickiness of the voters that confirmed it, by far.
      if (current === undefined) return;
      current.clock.setRate(0.25);
      for (const other of nodeIds) if (other !== current.id) { network.cut(current.id, other); network.cut(other, current.id); }
      note(`clock of leader ${current.id} at 0.25x real time; isolated`);
      return;
    }
    const roll = rng.nextFloat();
    if (roll < 0.45) {
      const victim = current !== undefined && rng.nextFloat() < 0.5 ? current : pick(nodes);
      if (victim.life === null) return;
      const ms = 200 + Math.floor(rng.nextFloat() * 2800);
      victim.life.pausedUntilMs = scheduler.now + ms;
      note(`${victim.id} stalls for ${ms} ms${victim === current ? ' (the leader)' : ''}`);
    } else if (roll < 0.9) {
      const victim = pick(nodes);
      const rate = Math.exp((rng.nextFloat() * 2 - 1) * Math.log(rateSpread));
      victim.clock.setRate(rate);
      note(`clock of ${victim.id} at ${rate.toFixed(3)}x real time`);
    } else {
      for (const node of nodes) node.clock.setRate(1);
      note('clocks at real time');
    }
  };
  const nemesis = (): void => {
    if (scheduler.now >= config.safetyMs) return;
    const up = nodes.filter((node) => node.life !== null);
    const down = nodes.filter((node) => node.life === null);
    const roll = rng.nextFloat();
    faults++;
    if (roll < 0.22 && up.length > 0 && down.length < Math.ceil(nodeCount / 2) && crashPlan.next === null) {
      // The crash lands some steps later, in the middle of whatever the node is doing; most
      // often at the first step where its disk holds writes not yet synced (or when waiting
      // for one takes too long), so that crashes lose and tear writes.
      const waitForUnsynced = rng.nextFloat() < 0.7;
      crashPlan.next = { node: pick(up), atStep: scheduler.steps + Math.floor(rng.nextFloat() * (waitForUnsynced ? 3000 : 40)), waitForUnsynced };
    } else if (roll < 0.38 && down.length > 0) {
      start(pick(down));
    } else if (roll < 0.47) {
      const shuffled = nodeIds.map((id) => ({ id, key: rng.nextFloat() })).sort((a, b) => a.key - b.key).map((x) => x.id);
      const size = 1 + Math.floor(rng.nextFloat() * Math.floor(nodeCount / 2));
      const side = new Set(shuffled.slice(0, size));
      for (const a of nodeIds) for (const b of nodeIds) if (side.has(a) !== side.has(b)) network.cut(a, b);
      if (rng.nextFloat() < 0.5) for (const a of side) for (const b of nodeIds) if (!side.has(b)) network.resetBetween(a, b);
      note(`partition ${[...side].join(',')} | rest`);
    } else if (roll < 0.54) {
      const current = leader();
      if (current !== undefined) {
        for (const other of nodeIds) if (other !== current.id) { network.cut(current.id, other); network.cut(other, current.id); }
        note(`isolate leader ${current.id}`);
      }
    } else if (roll < 0.62) {
      const from = pick(nodeIds);
      const to = pick(nodeIds.filter((id) => id !== from));
      network.cut(from, to);
      note(`cut ${from} -> ${to}`);
    } else if (roll < 0.73) {
      const storm: NetworkFaults = {
        dropRate: rng.nextFloat() * 0.2, duplicateRate: rng.nextFloat() * 0.1, reorderRate: rng.nextFloat() * 0.2,
        resetRate: rng.nextFloat() * 0.01, delayMsMin: 0.2, delayMsMax: 2 + rng.nextFloat() * 60,
      };
      network.faults = storm;
      note(`network drop ${storm.dropRate.toFixed(2)} dup ${storm.duplicateRate.toFixed(2)} reorder ${storm.reorderRate.toFixed(2)} delay<=${storm.delayMsMax.toFixed(0)}ms`);
    } else if (roll < 0.83) {
      network.healAll();
      network.faults = calmNetwork;
      note('heal network');
    } else if (roll < 0.88) {
      if (crashPlan.next === null && lossPlan.next === null) lossPlan.next = { victim: pick(nodes), untilMs: scheduler.now + 3000 };
      else faults--;
    } else if (roll < 0.93) {
      // To any other node, down, cut off or paused ones too (those transfers time out), or a step-down.
      const current = leader();
      if (current !== undefined) {
        const target = rng.nextFloat() < 0.25 ? null : pick(nodeIds.filter((id) => id !== current.id));
        transferLeadership(current, target, 300 + Math.floor(rng.nextFloat() * 2700));
      } else {
        faults--;
      }
    } else if (roll < 0.97) {
      const current = leader();
      if (current === undefined || !membershipFault(current)) faults--;
    } else {
      const paused = up.filter((node) => node.isUp && node.core!.electionsPaused);
      const running = up.filter((node) => node.isUp && !node.core!.electionsPaused);
      if (paused.length > 0 && (paused.length >= pausedMax || rng.nextFloat() < 0.5)) setElectionPaused(pick(paused), false);
      else if (pausedMax === 0 || running.length === 0) faults--;
      else if (rng.nextFloat() < 0.5) setElectionPaused(pick(running), true);
      else pauseAimedUntilMs = scheduler.now + 5000;
    }
    if (clockFaults !== 'none' && rng.nextFloat() < (clockFaults === 'beyondDrift' ? 0.3 : 0.12)) clockFault();
    scheduler.at(rng.nextFloat() * 2 * config.faultEveryMs, nemesisLife, nemesis);
  };

  // ---- the run -----------------------------------------------------------------------------
  const stopAt = { value: config.safetyMs + config.livenessMs };
  let converged = false;
  const converge = (): boolean => {
    if (!nodes.every((node) => node.isUp)) return false;
    const current = leader();
    if (current === undefined || livenessAcks === 0 || clients.some((client) => client.busy)) return false;
    if (!fullMembership(current)) return false;
    const reference = current.ledger!;
    const commit = current.core!.commitIndex;
    for (const node of nodes) {
      const ledger = node.ledger!;
      if (ledger.values.length !== reference.values.length) return false;
      if (node.server!.status().applied < commit) return false;
    }
    return true;
  };
  const livenessLife = new Life('liveness');
  let handover: 'asked' | 'done' | null = null;
  const handoverState = (): string => handover ?? 'not asked';
  const beginLiveness = (): void => {
    inLiveness = true;
    crashPlan.next = null;
    network.healAll();
    network.faults = calmNetwork;
    network.resetAll();
    for (const node of nodes) node.clock.setRate(1);
    note('liveness phase: faults healed');
    // A paused node never campaigns: with too few left to elect, liveness would be out of reach.
    for (const node of nodes) if (node.isUp && node.core!.electionsPaused) setElectionPaused(node, false);
    for (const node of nodes) if (node.life === null) start(node);
    for (const client of clients) {
      client.cancelRemaining();
      client.writesOnly();
      client.run(config.livenessWritesPerClient);
    }
    // Once converged, the leader hands over to another node: with every fault healed, every node
    // up and caught up, a transfer must complete (then the cluster converges again, under the new leader).
    const handOver = (current: SimNode): void => {
      const asked = transferLeadership(current, pick(nodeIds.filter((id) => id !== current.id)), 2000, (completed) => {
        if (completed) {
          handover = 'done';
          transfers.afterHeal++;
        } else {
          checkers.violation('liveness', `a leadership transfer from ${current.id} failed with every fault healed (see the last events)`);
        }
      });
      if (asked) handover = 'asked';
    };
    const poll = (): void => {
      // Every node a voter again, as the run began: the nodes the nemesis removed are added back.
      const current = leader();
      if (current !== undefined && !membershipBusy() && !current.core!.configurationChanging && !fullMembership(current)) {
        changeMembership(current, [...nodeIds], [], 'restore', true);
      }
      if (handover !== 'asked' && converge()) {
        if (handover === null) {
          handOver(leader()!);
          scheduler.at(100, livenessLife, poll);
          return;
        }
        converged = true;
        note('converged');
        stopAt.value = Math.max(scheduler.now, config.totalMsMin);
        return;
      }
      scheduler.at(100, livenessLife, poll);
    };
    scheduler.at(100, livenessLife, poll);
  };

  for (const node of nodes) start(node);
  await Promise.all(pending.splice(0));
  for (const client of clients) client.run(config.opsPerClient);
  scheduler.at(rng.nextFloat() * config.faultEveryMs, nemesisLife, nemesis);
  scheduler.at(config.safetyMs, livenessLife, beginLiveness);

  try {
    for (;;) {
      if (!scheduler.step(stopAt.value)) {
        if (scheduler.nextTimeMs > stopAt.value) break;
      }
      const planned = crashPlan.next;
      if (planned !== null && (scheduler.steps >= planned.atStep || (planned.waitForUnsynced && planned.node.disk.hasUnsynced))) {
        if (planned.node.life !== null) crash(planned.node);
        crashPlan.next = null;
      }
      const loss = lossPlan.next;
      if (loss !== null && scheduler.steps % 16 === 0) {
        if (inLiveness || scheduler.now > loss.untilMs) lossPlan.next = null;
        else if (crashPlan.next === null && safeToLoseData(loss.victim)) {
          lossPlan.next = null;
          loseReplicaData(loss.victim);
        }
      }
      if (pauseAimedUntilMs > 0) pauseCampaigner();
      if (pending.length > 0) await Promise.all(pending.splice(0));
      // An admin call in flight (a transfer, or a membership change: an async function of several
      // steps) goes on in microtask turns, one each step.
      transfersUnsettled = transfersUnsettled.filter((unsettled) => unsettled.life.alive);
      if (transfersUnsettled.length > 0 || membershipBusy()) await null;
      if (snapshotEvery > 0) {
        snapshotActivity.afterStep(nodes);
        if (!inLiveness && crashPlan.next === null) aimCrashes();
      }
      checkers.afterStep(nodes);
      checkCommitQuorum();
      if (checkers.failed) break;
      if (scheduler.steps > config.stepsMax) {
        checkers.violation('runaway', `more than ${config.stepsMax} steps`);
        break;
      }
    }
    scheduler.advanceTo(stopAt.value);
  } catch (error) {
    checkers.violation('exception', (error as Error).stack?.split('\n').slice(0, 6).join(' | ') ?? String(error));
  }

  if (!checkers.failed) {
    if (!converged) {
      const state = nodes.map((node) => node.isUp
        ? `${node.id}:${node.core!.role}/t${node.core!.term}/c${node.core!.commitIndex}/a${node.ledger!.values.length}`
        : `${node.id}:down`).join(' ');
      checkers.violation('liveness', `no convergence within ${config.livenessMs} ms after faults healed (${state}; acks after heal: ${livenessAcks}; handover after heal: ${handoverState()})`);
    } else {
      checkers.checkAcknowledged(nodes, acknowledged);
      const reference = leader()?.ledger?.values ?? nodes[0]!.ledger!.values;
      for (const node of nodes) {
        const values = node.ledger!.values;
        if (values.length !== reference.length || values.some((value, i) => value !== reference[i])) {
          checkers.violation('convergence', `${node.id}'s ledger differs from the leader's`);
          break;
        }
      }
    }
  }
  config.inspect?.(nodes, clients);
  for (const node of nodes) leaseReads += node.core?.readCounters.leaseReads ?? 0;
  const operations = clients.reduce((sum, client) => sum + client.written + client.reads, 0);
  return {
    seed: config.seed,
    nodeCount,
    readMode,
    leaseReads,
    clockFaults: clockFaultCount,
    ok: !checkers.failed,
    violations: checkers.violations,
    simulatedMs: scheduler.now,
    steps: scheduler.steps,
    traceHash: scheduler.traceHash,
    operations,
    acknowledged: acknowledged.size,
    reads: clients.reduce((sum, client) => sum + client.reads, 0),
    followerReads: clients.reduce((sum, client) => sum + client.followerReads, 0),
    staleReads: clients.reduce((sum, client) => sum + client.staleReads, 0),
    faults,
    crashes,
    tornWrites,
    replicaLosses,
    lostWrites: checkers.lostWrites,
    duplicateApplies: checkers.duplicateApplies,
    committed: checkers.committedIndex,
    sessions: {
      opened: clients.reduce((sum, client) => sum + client.sessionsOpened, 0),
      closed: clients.reduce((sum, client) => sum + client.sessionsClosed, 0),
      lateRetries: clients.reduce((sum, client) => sum + client.lateRetries, 0),
      expired: checkers.sessionsExpired,
    },
    network: { ...network.stats },
    snapshotEvery,
    logKeep,
    snapshots: { ...snapshotActivity.figures },
    crashPoints: { ...crashPointHits },
    transfers: { ...transfers, writesRefused: clients.reduce((sum, client) => sum + client.refusedInTransfer, 0) },
    journal,
  };
}
