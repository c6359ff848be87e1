/**
 * One chaos run (`raftline chaos`): a 3- or 5-node cluster of real server processes on loopback,
 * every server-to-server link through the fault network (fault-proxy.ts), the nemesis
 * (nemesis.ts) on a seeded schedule, and the workloads against the servers directly. Afterwards:
 * the register history is checked for linearizability key by key, the append-set and counter
 * are read once the faults healed and checked for lost, duplicated and phantom writes, the
 * converged servers must hand leadership over (a transfer through the admin API completes), and
 * the recovery figures are taken from the fault records and the times writes completed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDevCertificates } from '../cluster/dev-certificates.js';
import { leaseDriftMsDefault } from '../server/options.js';
import { LocalCluster } from '../cluster/local-cluster.js';
import { damageLastRecord, lastIndexOnDisk } from '../log/disk-damage.js';
import { nodeFileSystem } from '../log/file-system.js';
import { RaftClient } from '../client/raft-client.js';
import { SeededRng } from '../core/rng.js';
import { HistoryWriter, readHistory } from '../check/history.js';
import { checkHistory, type KeyResult } from '../check/linearizability.js';
import { FaultNetwork } from './fault-proxy.js';
import { defaultNemesisOptions, Nemesis, partitionKinds, type FaultRecord, type NemesisHost, type NemesisOptions, type TransferAnswer } from './nemesis.js';
import { RaftlineError } from '../errors.js';
import { runRegisterWorkload, type RegisterReads } from './register-workload.js';
import { startAppendSetWorkload, startCounterWorkload, type SetWorkload, type WriteCheck } from './set-counter-workloads.js';

export const workloadNames = ['register', 'append-set', 'counter'] as const;
export type WorkloadName = (typeof workloadNames)[number];

export interface ChaosOptions {
  nodes: 3 | 5;
  /** One or more workloads, run at the same time against the same cluster. */
  workloads: WorkloadName[];
  durationS: number;
  seed: number;
  /** Where histories go (kept); without it a temporary folder, removed when the run passes. */
  historyDir?: string;
  actors?: 'workers' | 'inline';
  /** Servers listen from here; the fault proxies take the next n * (n - 1) ports. */
  basePort: number;
  registerClients?: number;
  /** The servers' log level (their log is kept with a failing run's history). Default 'warn'. */
  serverLogLevel?: string;
  /** How the register workload reads: see RegisterWorkloadOptions.reads. */
  registerReads?: RegisterReads;
  nemesis?: Partial<NemesisOptions>;
  /**
   * The servers' snapshot policy: small by default (`chaosSnapshotEvery`, `chaosLogKeep`), so that
   * snapshots, purges and installs happen under the faults (a server that lost its disk, or was
   * down while the others purged, catches up by snapshot). 0 takes none.
   */
  snapshotEvery?: number;
  logKeep?: number;
  /** Progress lines (faults, phases); silent when absent. */
  log?: (line: string) => void;
  /**
   * TLS everywhere (`raftline chaos --tls`): development certificates made for the run
   * (src/cluster/dev-certificates.ts), mutual TLS between the servers (through the fault
   * proxies, which forward the bytes), and every client of the run with the admin certificate.
   */
  tls?: boolean;
  /** The servers serve linearizable reads on the leader lease (`--read-lease`, the default drift). */
  readLease?: boolean;
}

/** Recovery waits over the rounds in which the fault was alone and began on a settled cluster. */
export interface Percentiles {
  samples: number;
  /** Faults after which no write succeeded before the run ended. */
  unrecovered: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface ChaosResult {
  ok: boolean;
  seed: number;
  nodes: number;
  workloads: WorkloadName[];
  actors: 'workers' | 'inline';
  /** Whether the run was over TLS (ChaosOptions.tls), and on servers with the read lease. */
  tls: boolean;
  readLease: boolean;
  durationS: number;
  historyDir: string | null;
  histories: number;
  /** Operations checked: register operations the checker searched, appends and increments. */
  operations: number;
  faults: number;
  faultCounts: Partial<Record<FaultRecord['kind'], number>>;
  /**
   * Leadership transfers the nemesis asked for: done (the target took over) and failed, with the
   * done ones' mean time; and the one asked once the faults healed and the servers converged,
   * which must complete: its time, or null when it did not (a problem) or was not asked.
   */
  transfers: { done: number; failed: number; doneMsMean: number | null; afterHealMs: number | null };
  /**
   * Membership changes (joint consensus through the admin API): asked and committed by the
   * nemesis (a server removed, added back at the heal), and the round after the heal: one server
   * removed and added back with every fault healed, which must succeed.
   */
  membership: { asked: number; done: number; afterHeal: boolean };
  lostWrites: number;
  violations: number;
  undecided: number;
  duplicateApplies: number;
  phantoms: number;
  /** Register gets made as follower reads (a random server asks the leader for a read index), checked like every other read. */
  followerReads: number;
  /** Servers that exited on their own (not killed by the nemesis). */
  crashes: string[];
  /**
   * Whether, with the faults healed and the load over, every server came to hold, commit and
   * apply the leader's whole log (a server that lost its disk or a damaged tail included).
   */
  converged: boolean;
  register?: { file: string; operations: number; verdict: string; keys: number; failedKeys: KeyResult[] };
  appendSet?: WriteCheck;
  counter?: WriteCheck;
  recovery: { leaderKill: Percentiles; partitionHeal: Percentiles };
  /** Writes acknowledged in each second of the run, from the start of the load. */
  writesPerSecond: number[];
  /**
   * Client sessions, from the leader's metrics after the checks: opened, ended by their client's
   * close, and forgotten after idling past the bound, since that server started.
   */
  sessions: { opened: number; ended: number; expired: number } | null;
  /** Reads the servers served on the leader lease, as their counters stood at the end (restarts reset them). */
  leaseReads: number;
  /**
   * Snapshots over the run, summed over the servers (counters polled every second, carried over
   * their restarts): taken, sent to followers behind the purge, installed from a leader.
   */
  snapshots: { taken: number; sent: number; installed: number } | null;
  /** Each recovery sample with the round it came from (null: no write succeeded after it). */
  recoverySamples: { figure: 'leaderKill' | 'partitionHeal'; kind: string; detail: string; composed: boolean; settled: boolean; waitMs: number | null }[];
  problems: string[];
  faultLog: FaultRecord[];
}

/** Waits until every server holds, commits and applies the same log end; false at the deadline. */
async function converged(cluster: LocalCluster, deadlineMs: number): Promise<boolean> {
  for (;;) {
    const statuses = await cluster.statuses();
    if (statuses.every((status) => status !== null)) {
      const last = Math.max(...statuses.map((status) => status!.lastIndex));
      if (statuses.every((status) => status!.lastIndex === last && status!.commit === last && status!.applied === last)) return true;
    }
    if (Date.now() > deadlineMs) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const chaosStateMachine = fileURLToPath(new URL('./chaos-state-machine.js', import.meta.url));

/**
 * The servers' session bound in a chaos run: short, so that sessions idle out within a run (the
 * leader appends clock entries every 1.25 s while any is held) and the counter's late copies
 * arrive after their session was forgotten. Longer than every client deadline of the workloads.
 */
export const chaosSessionIdleMs = 5000;

/** A chaos run's snapshot policy: a snapshot every few seconds of its load, a short log window below it. */
export const chaosSnapshotEvery = 1000;
export const chaosLogKeep = 200;

export function percentiles(values: number[], unrecovered: number): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number | null => sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { samples: sorted.length, unrecovered, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.length === 0 ? null : sorted[sorted.length - 1]! };
}

/**
 * For each event time, the wait until the first write invoked at or after it completed: what a
 * client that starts writing at that moment sees (a reply already on its way from a killed
 * leader does not count as recovery).
 */
function recoveryTimes(times: number[], writesOk: readonly { invokedMs: number; completedMs: number }[]): (number | null)[] {
  return times.map((time) => {
    let first = Infinity;
    for (const write of writesOk) if (write.invokedMs >= time && write.completedMs < first) first = write.completedMs;
    return first === Infinity ? null : first - time;
  });
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? (() => {});
  const actors = options.actors ?? 'workers';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `raftline-chaos-${options.seed}-`));
  const historyDir = options.historyDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `raftline-chaos-history-${options.seed}-`));
  fs.mkdirSync(historyDir, { recursive: true });
  const servers = Array.from({ length: options.nodes }, (_, i) => ({ id: `n${i + 1}`, address: `127.0.0.1:${options.basePort + i}` }));
  const network = new FaultNetwork({ servers, basePort: options.basePort + options.nodes });
  const usesChaosMachine = options.workloads.some((name) => name !== 'register');
  const logFile = path.join(dataDir, 'servers.log');
  const tlsDir = options.tls === true ? path.join(dataDir, 'certs') : undefined;
  if (tlsDir !== undefined) createDevCertificates(options.nodes, tlsDir);
  const cluster = new LocalCluster({
    ...(tlsDir === undefined ? {} : { tlsDir }),
    ...(options.readLease === true ? { readLease: { clockDriftMs: leaseDriftMsDefault } } : {}),
    nodes: options.nodes, dir: dataDir, basePort: options.basePort, actors, logFile, logLevel: options.serverLogLevel ?? 'warn',
    stateMachine: usesChaosMachine ? chaosStateMachine : 'kv',
    // Small segments and a small replication cache: the log is purged within a run, and a server
    // that was down or lost its disk finds its entries gone and must install a snapshot.
    limits: { sessionIdleMsMax: chaosSessionIdleMs, segmentBytesMax: 256 * 1024, appenderCacheBytesMax: 256 * 1024 },
    snapshotEvery: options.snapshotEvery ?? chaosSnapshotEvery, logKeep: options.logKeep ?? chaosLogKeep,
    peerAddress: (from, to) => network.proxyAddress(from, to),
  });
  const groupDirOf = (id: string): string => path.join(cluster.node(id).dir, 'default', 'current');
  const killedByNemesis = new Set<string>();
  const crashes: string[] = [];
  const problems: string[] = [];
  const writesOk: { invokedMs: number; completedMs: number }[] = [];
  const onWriteOk = (invokedMs: number, completedMs: number): void => {
    writesOk.push({ invokedMs, completedMs });
  };
  // The nemesis's admin calls (transfers, paused elections) go through a client of their own; its
  // deadline outlasts the longest transfer timeout, so a transfer's own outcome comes back.
  const adminClient: { connecting: Promise<RaftClient> | null } = { connecting: null };
  const admin = (): Promise<RaftClient> => {
    adminClient.connecting ??= RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 3000, ...cluster.clientTls });
    return adminClient.connecting;
  };
  const nemesisHost: NemesisHost = {
    ids: servers.map((server) => server.id),
    network,
    async leader(): Promise<string | null> {
      const statuses = await cluster.statuses();
      let best: { id: string; term: number } | null = null;
      for (const status of statuses) {
        if (status?.role === 'leader' && (best === null || status.term > best.term)) best = { id: status.id, term: status.term };
      }
      return best?.id ?? null;
    },
    async settled(): Promise<boolean> {
      const statuses = await cluster.statuses();
      return statuses.every((status) => status !== null) && statuses.some((status) => status?.role === 'leader');
    },
    kill(id: string): void {
      killedByNemesis.add(id);
      cluster.kill(id);
    },
    async restart(id: string): Promise<void> {
      await cluster.waitExit(id);
      killedByNemesis.delete(id);
      cluster.start(id);
    },
    pause(id: string): void {
      cluster.node(id).process?.kill('SIGSTOP');
    },
    resume(id: string): void {
      cluster.node(id).process?.kill('SIGCONT');
    },
    exited: (id: string): Promise<void> => cluster.waitExit(id),
    async durableCommitted(): Promise<Map<string, number | null>> {
      const statuses = await cluster.statuses();
      return new Map(cluster.nodes.map((node, i) => {
        const status = statuses[i];
        return [node.id, status === null || status === undefined ? null : Math.min(status.commit, status.synced)];
      }));
    },
    lastIndexOnDisk: (id: string): number => lastIndexOnDisk(nodeFileSystem, groupDirOf(id)),
    loseDisk(id: string): void {
      fs.rmSync(cluster.node(id).dir, { recursive: true, force: true });
    },
    damageTail: (id: string): number | null => damageLastRecord(nodeFileSystem, groupDirOf(id)),
    async transferLeadership(to: string, timeoutMs: number): Promise<TransferAnswer> {
      try {
        return { ok: true, ...await (await admin()).admin().transferLeadership(to, { timeoutMs }) };
      } catch (error) {
        const reason = error instanceof RaftlineError ? `${error.code}${error.details['reason'] === undefined ? '' : ` ${String(error.details['reason'])}`}` : String(error);
        return { ok: false, reason };
      }
    },
    async changeMembership(change: 'remove' | 'add', id: string): Promise<{ ok: boolean; detail: string }> {
      try {
        const client = await admin();
        const report = change === 'remove' ? await client.admin().removeServer(id)
          : await client.admin().addServer({ id, address: cluster.node(id).address }, { catchUpTimeoutMs: 10_000 });
        return { ok: true, detail: `voters ${report.voters.map((member) => member.id).join(',')} at index ${report.index}` };
      } catch (error) {
        const detail = error instanceof RaftlineError ? `${error.code}${error.details['reason'] === undefined ? '' : ` ${String(error.details['reason'])}`}` : String(error);
        return { ok: false, detail };
      }
    },
    async replaceMember(out: string, incoming: string): Promise<{ ok: boolean; detail: string }> {
      try {
        const calls = (await admin()).admin();
        const current = await calls.configuration();
        const voters = [...current.voters.filter((member) => member.id !== out && member.id !== incoming), { id: incoming, address: cluster.node(incoming).address }];
        const report = await calls.setConfiguration({ voters, learners: current.learners.filter((member) => member.id !== incoming) }, { catchUpTimeoutMs: 10_000 });
        return { ok: true, detail: `voters ${report.voters.map((member) => member.id).join(',')} at index ${report.index}` };
      } catch (error) {
        const detail = error instanceof RaftlineError ? `${error.code}${error.details['reason'] === undefined ? '' : ` ${String(error.details['reason'])}`}` : String(error);
        return { ok: false, detail };
      }
    },
    async setElectionPaused(id: string, paused: boolean): Promise<boolean> {
      const client = await admin();
      const address = cluster.node(id).address;
      return (paused ? client.admin().pauseElection(address) : client.admin().resumeElection(address)).then(() => true, () => false);
    },
  };
  const nemesis = new Nemesis(nemesisHost, new SeededRng(options.seed), { ...defaultNemesisOptions, ...options.nemesis }, log);
  let registerFile: string | null = null;
  let handoverMs: number | null = null;
  let ok = false;
  const result: ChaosResult = {
    ok: false, seed: options.seed, nodes: options.nodes, workloads: options.workloads, actors, tls: tlsDir !== undefined, readLease: options.readLease === true, leaseReads: 0, durationS: options.durationS,
    historyDir: options.historyDir ?? null, histories: 0, operations: 0, faults: 0, faultCounts: {}, transfers: { done: 0, failed: 0, doneMsMean: null, afterHealMs: null },
    membership: { asked: 0, done: 0, afterHeal: false },
    lostWrites: 0, violations: 0,
    undecided: 0, duplicateApplies: 0, phantoms: 0, followerReads: 0, crashes, converged: false, recovery: { leaderKill: percentiles([], 0), partitionHeal: percentiles([], 0) },
    recoverySamples: [], writesPerSecond: [], sessions: null, snapshots: null, problems, faultLog: [],
  };
  try {
    await network.start();
    cluster.startAll();
    const snapshotTally = new SnapshotTally(cluster);
    const pollSnapshots = setInterval(() => void snapshotTally.poll(), 1000);
    // A server that exits on its own during the run is a finding, whatever the cause.
    const watchCrashes = setInterval(() => {
      for (const node of cluster.nodes) {
        if (node.process === null && !killedByNemesis.has(node.id) && node.exitCode !== null && !crashes.includes(`${node.id}:${node.exitCode}`)) {
          crashes.push(`${node.id}:${node.exitCode}`);
        }
      }
    }, 200);
    try {
      const first = await cluster.waitForLeader(30_000);
      log(`cluster of ${options.nodes} up; leader ${first.id}; workloads ${options.workloads.join(', ')} for ${options.durationS} s, seed ${options.seed}`);
      const loadStartMs = Date.now();
      const stopAtMs = loadStartMs + options.durationS * 1000;
      const workloadRng = new SeededRng(options.seed ^ 0x5bd1e995);
      const addresses = cluster.addresses;
      const running: Promise<unknown>[] = [];
      let history: HistoryWriter | null = null;
      if (options.workloads.includes('register')) {
        registerFile = path.join(historyDir, `register-seed${options.seed}-n${options.nodes}.jsonl`);
        history = new HistoryWriter(registerFile);
        running.push(runRegisterWorkload({
          addresses, clients: options.registerClients ?? 10, keysLive: 6, operationsPerKeyMax: 120, requestTimeoutMs: 2500,
          stopAtMs, rng: workloadRng, history, onWriteOk, reads: options.registerReads ?? 'mixed', ...cluster.clientTls,
        }).then((register) => {
          result.followerReads = register.followerReads;
        }));
      }
      let appendSet: SetWorkload | null = null;
      let counter: SetWorkload | null = null;
      if (options.workloads.includes('append-set')) {
        appendSet = startAppendSetWorkload({
          addresses, sessionIdleMs: chaosSessionIdleMs, clients: 4, stopAtMs, rng: workloadRng, onWriteOk, requestTimeoutMs: 3000, ...cluster.clientTls,
        });
        running.push(appendSet.done);
      }
      if (options.workloads.includes('counter')) {
        counter = startCounterWorkload({
          addresses, sessionIdleMs: chaosSessionIdleMs, clients: 3, stopAtMs, rng: workloadRng, onWriteOk, attemptTimeoutMsMax: 60, ...cluster.clientTls,
          callDeadlineMs: 4000,
        });
        running.push(counter.done);
      }
      // The faults end a little before the load, so that recovery from the last one is seen too.
      const faults = nemesis.run(stopAtMs - Math.min(5000, options.durationS * 200));
      await Promise.all([faults, ...running]);
      for (const write of writesOk) {
        const second = Math.floor((write.completedMs - loadStartMs) / 1000);
        while (result.writesPerSecond.length <= second) result.writesPerSecond.push(0);
        result.writesPerSecond[second]!++;
      }
      history?.close();
      log('faults healed; final reads and checks');
      await cluster.waitForLeader(30_000);
      const checkDeadline = Date.now() + 30_000;
      if (appendSet) result.appendSet = await appendSet.check(checkDeadline);
      if (counter) result.counter = await counter.check(checkDeadline);
      result.converged = await converged(cluster, Date.now() + 30_000);
      if (!result.converged) problems.push(`servers did not converge on the leader's log within 30 s: ${JSON.stringify(await cluster.statuses())}`);
      result.sessions = await sessionCounts(cluster);
      result.leaseReads = await counterSum(cluster, 'leaseReads');
      await snapshotTally.poll();
      result.snapshots = snapshotTally.totals();
      if (result.converged) {
        // With every fault healed and every server caught up, a transfer must complete.
        const from = await nemesisHost.leader();
        const ids = servers.map((server) => server.id).filter((id) => id !== from);
        const to = ids[new SeededRng(options.seed).intBetween(0, ids.length - 1)]!;
        const answer = await nemesisHost.transferLeadership(to, 2000);
        handoverMs = answer.ok ? answer.ms : null;
        if (!answer.ok) problems.push(`a leadership transfer from ${from ?? 'the leader'} to ${to} failed once the faults healed: ${answer.reason}`);
        // And the membership: one server removed, then added back (a learner until caught up, then a voter).
        const leaderNow = await nemesisHost.leader();
        const others = servers.map((server) => server.id).filter((id) => id !== leaderNow);
        const moved = others[new SeededRng(options.seed + 1).intBetween(0, others.length - 1)]!;
        const removed = await nemesisHost.changeMembership('remove', moved);
        const added = removed.ok ? await nemesisHost.changeMembership('add', moved) : removed;
        result.membership.afterHeal = removed.ok && added.ok;
        log(`membership after the heal: ${moved} removed (${removed.detail}) and added back (${added.detail})`);
        if (!result.membership.afterHeal) problems.push(`${moved} could not be removed and added back once the faults healed: ${added.detail}`);
      }
    } finally {
      clearInterval(watchCrashes);
      clearInterval(pollSnapshots);
      await snapshotTally.close();
    }

    for (const check of [result.appendSet, result.counter]) {
      if (check === undefined) continue;
      result.histories++;
      result.operations += check.operations;
      result.lostWrites += check.lostWrites;
      result.duplicateApplies += check.duplicateApplies;
      result.phantoms += check.phantoms;
      problems.push(...check.problems);
    }
    if (registerFile !== null) {
      const checked = checkHistory(readHistory(registerFile));
      const failedKeys = checked.keys.filter((key) => key.verdict !== 'linearizable');
      result.register = { file: registerFile, operations: checked.operations, verdict: checked.verdict, keys: checked.keys.length, failedKeys };
      result.histories++;
      result.operations += checked.operations;
      result.violations += failedKeys.filter((key) => key.verdict === 'violation').length;
      result.undecided += failedKeys.filter((key) => key.verdict === 'undecided').length;
      for (const key of failedKeys) problems.push(`register: key ${key.key} ${key.verdict}${key.explanation ? `: ${key.explanation}` : ''}`);
    }
    const records = nemesis.faults;
    result.faultLog = [...records];
    result.faults = records.length;
    for (const record of records) result.faultCounts[record.kind] = (result.faultCounts[record.kind] ?? 0) + 1;
    const transfersDone = records.filter((record) => record.transfer?.done === true);
    result.transfers = {
      done: transfersDone.length, failed: records.filter((record) => record.transfer?.done === false).length,
      doneMsMean: transfersDone.length === 0 ? null : transfersDone.reduce((sum, record) => sum + record.transfer!.ms, 0) / transfersDone.length,
      afterHealMs: handoverMs,
    };
    result.membership.asked += nemesis.membership.asked;
    result.membership.done += nemesis.membership.done;
    const figures = (figure: 'leaderKill' | 'partitionHeal', chosen: FaultRecord[], at: (record: FaultRecord) => number): Percentiles => {
      const waits = recoveryTimes(chosen.map(at), writesOk);
      for (const [i, record] of chosen.entries()) {
        result.recoverySamples.push({
          figure, kind: record.kind, detail: record.detail, composed: record.composed, settled: record.settled, waitMs: waits[i]!,
        });
      }
      // The figures are taken over rounds with that fault alone that began with every server up:
      // a second fault (a partition, a paused server) or a server still restarting from the
      // round before may keep the cluster without a majority by design.
      const solo = waits.filter((_, i) => !chosen[i]!.composed && chosen[i]!.settled);
      const values = solo.filter((wait): wait is number => wait !== null);
      return percentiles(values, solo.length - values.length);
    };
    result.recovery = {
      leaderKill: figures('leaderKill', records.filter((record) => record.hitLeader && record.kind.startsWith('kill')), (record) => record.startMs),
      partitionHeal: figures('partitionHeal', records.filter((record) => partitionKinds.has(record.kind)), (record) => record.healMs),
    };
    if (crashes.length > 0) problems.push(`servers exited on their own: ${crashes.join(', ')}`);
    ok = result.lostWrites === 0 && result.violations === 0 && result.undecided === 0 && result.duplicateApplies === 0 && handoverMs !== null &&
      result.phantoms === 0 && crashes.length === 0 && result.converged;
    result.ok = ok;
    return result;
  } catch (error) {
    problems.push(`run failed: ${(error as Error).message}`);
    throw error;
  } finally {
    await nemesis.healAll().catch(() => {});
    await (await adminClient.connecting?.catch(() => null))?.close();
    await cluster.stopAll().catch(() => {});
    await network.close();
    if (!ok || options.historyDir !== undefined) {
      // Keep what explains the run next to the history.
      if (fs.existsSync(logFile)) fs.copyFileSync(logFile, path.join(historyDir, 'servers.log'));
      fs.writeFileSync(path.join(historyDir, 'faults.json'), JSON.stringify(nemesis.faults, null, 1));
      result.historyDir = historyDir;
    } else {
      fs.rmSync(historyDir, { recursive: true, force: true });
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The servers' snapshot counters over the whole run: polled every second, and a counter that went
 * down (its server restarted) adds what it had counted before to that server's base.
 */
class SnapshotTally {
  private static readonly names = { taken: 'snapshotsTaken', sent: 'snapshotsSent', installed: 'snapshotsInstalled' } as const;
  private readonly last = new Map<string, Record<string, number>>();
  private readonly base = new Map<string, Record<string, number>>();
  private client: Promise<RaftClient> | null = null;
  private answered = false;
  private polling: Promise<void> | null = null;

  constructor(private readonly cluster: LocalCluster) {}

  /** One poll at a time: a slow one is joined, not overlapped. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => { this.polling = null; });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    this.client ??= RaftClient.connect({ peers: this.cluster.addresses, requestTimeoutMs: 800, ...this.cluster.clientTls });
    const client = await this.client;
    await Promise.all(this.cluster.nodes.map(async (node) => {
      const metrics = await client.metrics(node.address).catch(() => null);
      if (metrics === null) return;
      this.answered = true;
      const last = this.last.get(node.id) ?? {};
      const base = this.base.get(node.id) ?? {};
      for (const name of Object.values(SnapshotTally.names)) {
        const now = metrics.counters[name] ?? 0;
        if (now < (last[name] ?? 0)) base[name] = (base[name] ?? 0) + last[name]!;
        last[name] = now;
      }
      this.last.set(node.id, last);
      this.base.set(node.id, base);
    }));
  }

  totals(): ChaosResult['snapshots'] {
    if (!this.answered) return null;
    const sum = (name: string): number => this.cluster.nodes.reduce((total, node) =>
      total + (this.last.get(node.id)?.[name] ?? 0) + (this.base.get(node.id)?.[name] ?? 0), 0);
    return { taken: sum(SnapshotTally.names.taken), sent: sum(SnapshotTally.names.sent), installed: sum(SnapshotTally.names.installed) };
  }

  async close(): Promise<void> {
    await (await this.client?.catch(() => null))?.close();
  }
}

/** One counter summed over the servers that answer. */
async function counterSum(cluster: LocalCluster, name: string): Promise<number> {
  const client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 3000, ...cluster.clientTls });
  try {
    const counts = await Promise.all(cluster.nodes.map((node) => client.metrics(node.address).then((metrics) => metrics.counters[name] ?? 0, () => 0)));
    return counts.reduce((sum, count) => sum + count, 0);
  } finally {
    await client.close();
  }
}

/** The leader's session counters (null when no leader answers). */
async function sessionCounts(cluster: LocalCluster): Promise<ChaosResult['sessions']> {
  const leader = await cluster.waitForLeader(10_000).catch(() => null);
  if (leader === null) return null;
  const client = await RaftClient.connect({ peers: [leader.address], requestTimeoutMs: 3000, ...cluster.clientTls });
  try {
    const { counters } = await client.metrics(leader.address);
    return { opened: counters['sessionsOpened'] ?? 0, ended: counters['sessionsEnded'] ?? 0, expired: counters['sessionsExpired'] ?? 0 };
  } catch {
    return null;
  } finally {
    await client.close();
  }
}

/** The one-paragraph summary `raftline chaos` prints. */
export function formatChaos(result: ChaosResult): string {
  const ms = (value: number | null): string => value === null ? '-' : `${Math.round(value)} ms`;
  const figure = (p: Percentiles): string =>
    `p50 ${ms(p.p50Ms)}, p99 ${ms(p.p99Ms)}, max ${ms(p.maxMs)} (${p.samples} samples${p.unrecovered > 0 ? `, ${p.unrecovered} unrecovered` : ''})`;
  const lines = [
    `chaos ${result.ok ? 'PASS' : 'FAIL'}: seed ${result.seed}, ${result.nodes} nodes (${result.actors}${result.tls ? ', TLS' : ''}${result.readLease ? ', read lease' : ''}), ${result.workloads.join('+')}, ${result.durationS} s`,
    `faults ${result.faults}: ${Object.entries(result.faultCounts).map(([kind, count]) => `${kind} ${count}`).join(', ')}`,
    `leadership transfers: ${result.transfers.done} done${result.transfers.doneMsMean === null ? '' : ` (mean ${Math.round(result.transfers.doneMsMean)} ms)`}, ` +
      `${result.transfers.failed} failed under faults; after the heal ${result.transfers.afterHealMs === null ? 'none' : `done in ${Math.round(result.transfers.afterHealMs)} ms`}`,
    `membership changes: ${result.membership.done} of ${result.membership.asked} asked under faults committed; after the heal ` +
      `${result.membership.afterHeal ? 'a server removed and added back' : 'none'}`,
    `histories ${result.histories}, operations checked ${result.operations}, lost writes ${result.lostWrites}, ` +
      `linearizability violations ${result.violations}, undecided ${result.undecided}, duplicate applies ${result.duplicateApplies}, phantoms ${result.phantoms}, ` +
      `follower reads ${result.followerReads}, ${result.readLease ? `lease reads ${result.leaseReads}, ` : ''}` +
      `servers converged ${result.converged ? 'yes' : 'no'}`,
    `recovery (single-fault rounds on a settled cluster): leader kill → next write ${figure(result.recovery.leaderKill)}`,
    `recovery (single-fault rounds on a settled cluster): partition heal → next write ${figure(result.recovery.partitionHeal)}`,
  ];
  if (result.sessions !== null) {
    lines.push(`client sessions (leader): ${result.sessions.opened} opened, ${result.sessions.ended} ended by close, ${result.sessions.expired} forgotten idle`);
  }
  if (result.snapshots !== null) {
    lines.push(`snapshots: ${result.snapshots.taken} taken, ${result.snapshots.sent} sent to followers, ${result.snapshots.installed} installed`);
  }
  if (result.register) {
    const where = result.historyDir === null ? '' : ` (${result.register.file})`;
    lines.push(`register history: ${result.register.operations} operations on ${result.register.keys} keys, ${result.register.verdict}${where}`);
  }
  for (const problem of result.problems.slice(0, 10)) lines.push(`  ${problem}`);
  if (!result.ok && result.historyDir) lines.push(`kept in ${result.historyDir}; replay the schedule with --seed ${result.seed}`);
  return lines.join('\n');
}
