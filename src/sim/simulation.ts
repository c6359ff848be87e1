/**
 * One seeded simulation run: a 3- or 5-node cluster of production servers on the virtual disk,
 * network and clock, with clients writing unique values and reading linearizably.
 *  - Safety phase: a nemesis injects faults on a seeded schedule (crashes with torn writes and
 *    restarts, partitions, one-way cuts, an isolated leader, message drop / duplicate / reorder /
 *    connection resets; crashes aimed at the snapshot paths: mid-write, mid-install, between a
 *    snapshot and the purge below it); the checkers run after every step.
 *  - Liveness phase: faults healed, every node restarted; within `livenessMs` the cluster must
 *    elect a leader, commit new writes and converge (every node the same ledger, the same applied
 *    index). Then every acknowledged write must be on every node, once.
 * Everything is drawn from the seed: the same seed replays the same run step for step (the trace
 * hash of the result says so).
 */
import { resolveLimits, type Limits } from '../limits.js';
import { Checkers, type Violation } from './checkers.js';
import { Life, SimScheduler } from './scheduler.js';
import { calmNetwork, SimNetwork, type NetworkFaults } from './sim-network.js';
import { productionCore, SimNode, type CoreFactory, type LedgerFactory } from './sim-node.js';
import { SimClient } from './sim-client.js';
import { crashPoints, SnapshotActivity, type CrashPoint, type SnapshotFigures } from './snapshot-activity.js';
import type { SessionTable } from '../actors/session-table.js';

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

export interface SimResult {
  seed: number;
  nodeCount: number;
  ok: boolean;
  violations: Violation[];
  simulatedMs: number;
  steps: number;
  traceHash: number;
  operations: number;
  acknowledged: number;
  reads: number;
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
  const nodes: SimNode[] = nodeIds.map((id) => new SimNode(id, {
    scheduler, network, limits, nodeIds, timerJitterMs: 5,
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
    readRatio: 0.25, closeChance: 0.1, lateRetryChance: 0.04,
  }, {
    onAcknowledged: (_client, value, index) => {
      acknowledged.set(value, index);
      acknowledgedOrder.push(value);
      if (inLiveness) livenessAcks++;
      checkers.onAcknowledged(value, index);
    },
    onRead: (client, length, before) => checkers.onRead(client, length, before),
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
  const crash = (node: SimNode): void => {
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

  // ---- the nemesis -------------------------------------------------------------------------
  const nemesisLife = new Life('nemesis');
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rng.nextFloat() * items.length)]!;
  const leader = (): SimNode | undefined => nodes.find((node) => node.isUp && node.core!.role === 'leader');
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
    } else if (roll < 0.4 && down.length > 0) {
      start(pick(down));
    } else if (roll < 0.5) {
      const shuffled = nodeIds.map((id) => ({ id, key: rng.nextFloat() })).sort((a, b) => a.key - b.key).map((x) => x.id);
      const size = 1 + Math.floor(rng.nextFloat() * Math.floor(nodeCount / 2));
      const side = new Set(shuffled.slice(0, size));
      for (const a of nodeIds) for (const b of nodeIds) if (side.has(a) !== side.has(b)) network.cut(a, b);
      if (rng.nextFloat() < 0.5) for (const a of side) for (const b of nodeIds) if (!side.has(b)) network.resetBetween(a, b);
      note(`partition ${[...side].join(',')} | rest`);
    } else if (roll < 0.58) {
      const current = leader();
      if (current !== undefined) {
        for (const other of nodeIds) if (other !== current.id) { network.cut(current.id, other); network.cut(other, current.id); }
        note(`isolate leader ${current.id}`);
      }
    } else if (roll < 0.68) {
      const from = pick(nodeIds);
      const to = pick(nodeIds.filter((id) => id !== from));
      network.cut(from, to);
      note(`cut ${from} -> ${to}`);
    } else if (roll < 0.8) {
      const storm: NetworkFaults = {
        dropRate: rng.nextFloat() * 0.2, duplicateRate: rng.nextFloat() * 0.1, reorderRate: rng.nextFloat() * 0.2,
        resetRate: rng.nextFloat() * 0.01, delayMsMin: 0.2, delayMsMax: 2 + rng.nextFloat() * 60,
      };
      network.faults = storm;
      note(`network drop ${storm.dropRate.toFixed(2)} dup ${storm.duplicateRate.toFixed(2)} reorder ${storm.reorderRate.toFixed(2)} delay<=${storm.delayMsMax.toFixed(0)}ms`);
    } else if (roll < 0.9) {
      network.healAll();
      network.faults = calmNetwork;
      note('heal network');
    } else if (roll < 0.95 && crashPlan.next === null && lossPlan.next === null) {
      lossPlan.next = { victim: pick(nodes), untilMs: scheduler.now + 3000 };
    } else {
      faults--;
    }
    scheduler.at(rng.nextFloat() * 2 * config.faultEveryMs, nemesisLife, nemesis);
  };

  // ---- the run -----------------------------------------------------------------------------
  const stopAt = { value: config.safetyMs + config.livenessMs };
  let converged = false;
  const converge = (): boolean => {
    if (!nodes.every((node) => node.isUp)) return false;
    const current = leader();
    if (current === undefined || livenessAcks === 0 || clients.some((client) => client.busy)) return false;
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
  const beginLiveness = (): void => {
    inLiveness = true;
    crashPlan.next = null;
    network.healAll();
    network.faults = calmNetwork;
    network.resetAll();
    note('liveness phase: faults healed');
    for (const node of nodes) if (node.life === null) start(node);
    for (const client of clients) {
      client.cancelRemaining();
      client.writesOnly();
      client.run(config.livenessWritesPerClient);
    }
    const poll = (): void => {
      if (converge()) {
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
      if (pending.length > 0) await Promise.all(pending.splice(0));
      if (snapshotEvery > 0) {
        snapshotActivity.afterStep(nodes);
        if (!inLiveness && crashPlan.next === null) aimCrashes();
      }
      checkers.afterStep(nodes);
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
      checkers.violation('liveness', `no convergence within ${config.livenessMs} ms after faults healed (${state}; acks after heal: ${livenessAcks})`);
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
  const operations = clients.reduce((sum, client) => sum + client.written + client.reads, 0);
  return {
    seed: config.seed,
    nodeCount,
    ok: !checkers.failed,
    violations: checkers.violations,
    simulatedMs: scheduler.now,
    steps: scheduler.steps,
    traceHash: scheduler.traceHash,
    operations,
    acknowledged: acknowledged.size,
    reads: clients.reduce((sum, client) => sum + client.reads, 0),
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
    journal,
  };
}
