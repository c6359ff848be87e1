/**
 * What a leadership transfer (thesis §3.10) costs the clients, against what an election after a
 * crash costs them and, with `--etcd`, against etcd's move-leader on the same machine.
 *
 * A local 3-server raftline cluster (real processes, fsync on, default limits) takes a write load
 * from this process: one RaftClient issuing kv puts of `--size`-byte values over `--keys` keys,
 * `--outstanding` of them always in flight, the completion time (performance.now()) of every
 * acknowledged write recorded. After a warm-up:
 *  1. a phase of the same length as the transfer phase with no transfer (the baseline: writes/s,
 *     and the longest gap between acknowledged writes in windows as long as a transfer's);
 *  2. `--transfers` transfers, one every `--every-ms`, each from the leader to a random other
 *     server, asked through a second client that carries no writes (why: where `admin` is made). For each:
 *     the longest gap between consecutive acknowledged writes in the window from just before the
 *     call until `--after-ms` after it resolved, the transfer's own `ms` (the old leader's
 *     measure), the call's time as the client saw it, and the writes that failed in the window
 *     (any client-visible error counts; there should be none). Writes/s over the phase against
 *     the baseline's;
 *  3. `--kills` elections after `kill -9` of the leader: the longest gap around each (from the kill
 *     until `--after-ms` after writes resumed), the killed server then restarted and waited for
 *     until it has applied what the leader had committed, before the next kill;
 *  4. `--replaces` replacements of a dead server (default 1): a follower killed with SIGKILL, an
 *     empty server started with `--join` and added (client.admin().addServer: a learner until
 *     caught up, then a voter through a joint configuration), the dead one removed; writes/s in
 *     the 5 s before, from the kill until the removal committed, and in the 5 s after; the time
 *     until the new server is a voter; the writes that failed (there should be none);
 *  5. with `--etcd`, the raftline cluster stopped first: a 3-member etcd cluster (Debian's
 *     etcd-server on PATH; skipped with a note when it is missing or does not start) under the
 *     same load from one etcd3 client in this process, a baseline phase, then `--transfers`
 *     MoveLeader calls (the etcd3 client's maintenance API, sent to the leader, as
 *     `etcdctl move-leader` does), with the same figures.
 * A table at the end and, with `--json FILE`, the whole result with every event. Every wait is
 * bounded, and a deadline (`--deadline-s`, default from the plan) ends the run; server
 * processes and temp directories go on exit, on failure and on SIGINT/SIGTERM (after a SIGKILL
 * the servers and etcd members still stop by themselves; only the temp directories stay).
 * Read the etcd figures with their writes/s: one etcd3 (gRPC) client in this process drives etcd
 * well below the rate raftline takes, and a gap depends on the load it is measured under.
 *
 *   npm run bench:transfer -- [--transfers 20] [--every-ms 1000] [--kills 5] [--etcd]
 *     [--after-ms 300] [--warmup-s 3] [--outstanding 256] [--size 128] [--keys 100000]
 *     [--transfer-timeout-ms N] [--request-timeout-ms 30000] [--base-port 7601]
 *     [--etcd-base-port 23890] [--deadline-s N] [--json FILE] [--tls]
 *
 * --tls runs raftline over TLS: certificates made for the run (src/cluster/dev-certificates.ts),
 * mutual TLS between the servers, the clients with one; the kill phase then shows what
 * reconnecting over TLS costs.
 *   (or node dist/bench/transfer-figures.js ... after npm run build)
 *
 * etcd ports: clients on --etcd-base-port .. +2, peers on +10 .. +12.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';
import { LocalCluster, sleep, withTimeout, type LocalNode } from '../src/cluster/local-cluster.js';
import { createDevCertificates } from '../src/cluster/dev-certificates.js';
import { RaftClient } from '../src/client/raft-client.js';
import { kv } from '../src/client/kv.js';
import { machineInfo, versions } from './run-info.js';

// ---- flags ------------------------------------------------------------------------------------

const { values: flags } = parseArgs({
  strict: true,
  options: {
    transfers: { type: 'string', default: '20' }, 'every-ms': { type: 'string', default: '1000' }, kills: { type: 'string', default: '5' },
    replaces: { type: 'string', default: '1' },
    etcd: { type: 'boolean', default: false }, 'after-ms': { type: 'string', default: '300' }, 'warmup-s': { type: 'string', default: '3' },
    outstanding: { type: 'string', default: '256' }, size: { type: 'string', default: '128' }, keys: { type: 'string', default: '100000' },
    'transfer-timeout-ms': { type: 'string' }, 'request-timeout-ms': { type: 'string', default: '30000' },
    'base-port': { type: 'string', default: '7601' }, 'etcd-base-port': { type: 'string', default: '23890' },
    'deadline-s': { type: 'string' }, json: { type: 'string' }, tls: { type: 'boolean', default: false },
  },
});

function integer(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min}, got '${text}'`);
  return value;
}

const config = {
  transfers: integer('transfers', flags.transfers, 0),
  everyMs: integer('every-ms', flags['every-ms'], 100),
  kills: integer('kills', flags.kills, 0),
  replaces: integer('replaces', flags.replaces, 0),
  etcd: flags.etcd,
  afterMs: integer('after-ms', flags['after-ms'], 0),
  warmupS: integer('warmup-s', flags['warmup-s'], 0),
  outstanding: integer('outstanding', flags.outstanding, 1),
  sizeBytes: integer('size', flags.size, 1),
  keys: integer('keys', flags.keys, 1),
  /** null: the servers' default (their longest election timeout). */
  transferTimeoutMs: flags['transfer-timeout-ms'] === undefined ? null : integer('transfer-timeout-ms', flags['transfer-timeout-ms'], 1),
  requestTimeoutMs: integer('request-timeout-ms', flags['request-timeout-ms'], 1),
  basePort: integer('base-port', flags['base-port'], 1),
  etcdBasePort: integer('etcd-base-port', flags['etcd-base-port'], 1),
  /** raftline over TLS (certificates made for the run, every server and client with one). */
  tls: flags.tls,
};
/** How long after a window's end the probes between transfers (metrics, the leader's status) start. */
const probeMarginMs = 150;
/** The issue's target for the transfers' p99 gap. */
const targetP99GapMs = 50;
/** How long the kill phase may wait for each step (an election, writes resuming, a catch-up). */
const electionWaitMs = 30_000;
const catchUpWaitMs = 120_000;

// The run's plan, in seconds, bounds it: twice the plan and two minutes of margin by default.
const phaseS = (config.transfers * config.everyMs) / 1000;
const plannedS = config.warmupS + 2 * phaseS + config.kills * (config.everyMs / 1000 + 15) + config.replaces * 40 +
  (config.etcd ? config.warmupS + 2 * phaseS + 20 : 0) + 20;
const deadlineS = flags['deadline-s'] === undefined ? Math.ceil(2 * plannedS + 120) : integer('deadline-s', flags['deadline-s'], 1);

// ---- the write load ---------------------------------------------------------------------------

/** One failed write: when the client gave up on it, and why. */
interface WriteFailure { atMs: number; message: string }

/**
 * `outstanding` lanes, each issuing one put after another, so that `outstanding` writes are in
 * flight; the completion time of every acknowledged write, in order. A failed write is recorded
 * and its lane goes on (the load must not thin out because of an error it is there to count).
 */
class WriteLoad {
  private acks = new Float64Array(1 << 18);
  private count = 0;
  readonly failures: WriteFailure[] = [];
  private running = true;
  private lanes: Promise<void>[] = [];
  private issued = 0;

  constructor(private readonly put: (key: string) => Promise<unknown>, private readonly keys: number) {}

  start(outstanding: number): void {
    this.lanes = Array.from({ length: outstanding }, () => this.lane());
  }

  private async lane(): Promise<void> {
    while (this.running) {
      const key = `transfer-figures-${this.issued++ % this.keys}`;
      try {
        await this.put(key);
      } catch (error) {
        if (!this.running) return;
        this.failures.push({ atMs: performance.now(), message: (error as Error).message });
        continue;
      }
      this.record(performance.now());
    }
  }

  private record(atMs: number): void {
    if (this.count === this.acks.length) {
      const grown = new Float64Array(this.acks.length * 2);
      grown.set(this.acks);
      this.acks = grown;
    }
    this.acks[this.count++] = atMs;
  }

  /** The completion times so far (ascending: performance.now() does not go back). */
  get times(): Float64Array {
    return this.acks.subarray(0, this.count);
  }

  get latestMs(): number {
    return this.count === 0 ? -Infinity : this.acks[this.count - 1]!;
  }

  acknowledgedBetween(fromMs: number, toMs: number): number {
    const times = this.times;
    return firstAtOrAfter(times, toMs) - firstAtOrAfter(times, fromMs);
  }

  failedBetween(fromMs: number, toMs: number): WriteFailure[] {
    return this.failures.filter((failure) => failure.atMs >= fromMs && failure.atMs <= toMs);
  }

  /** Stops issuing and waits (at most `timeoutMs`) for the writes in flight. */
  async stop(timeoutMs: number): Promise<void> {
    this.running = false;
    await Promise.race([Promise.all(this.lanes), sleep(timeoutMs)]);
  }
}

/** The first index whose time is >= t (times ascending). */
function firstAtOrAfter(times: Float64Array, t: number): number {
  let low = 0;
  let high = times.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (times[middle]! < t) low = middle + 1;
    else high = middle;
  }
  return low;
}

interface Gap { gapMs: number; /** Where it began, from the window's start (negative: before it). */ gapStartMs: number }

/**
 * The longest gap between consecutive acknowledged writes that overlaps [fromMs, toMs]: the one
 * running across `fromMs` counts (a stall that began just before the call is the call's), and a
 * stall still open at `toMs` counts up to `toMs`.
 */
function longestGap(times: Float64Array, fromMs: number, toMs: number): Gap {
  let best: Gap = { gapMs: 0, gapStartMs: 0 };
  const first = Math.max(1, firstAtOrAfter(times, fromMs));
  let i = first;
  for (; i < times.length && times[i - 1]! <= toMs; i++) {
    const gapMs = times[i]! - times[i - 1]!;
    if (gapMs > best.gapMs) best = { gapMs, gapStartMs: times[i - 1]! - fromMs };
  }
  if (i === times.length && times.length > 0 && times[i - 1]! < toMs) {
    const open = toMs - Math.max(times[i - 1]!, fromMs);
    if (open > best.gapMs) best = { gapMs: open, gapStartMs: Math.max(times[i - 1]!, fromMs) - fromMs };
  }
  return best;
}

// ---- figures ----------------------------------------------------------------------------------

interface Spread { n: number; p50: number | null; p99: number | null; max: number | null }

/** Nearest-rank percentiles (with 20 samples the p99 is the maximum: say so rather than interpolate). */
function spread(samples: readonly number[]): Spread {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number): number | null => sorted.length === 0 ? null : round1(sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!);
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) };
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** a / b to three places, or null when b is 0. */
function ratio(a: number, b: number): number | null {
  return b > 0 ? Math.round((a / b) * 1000) / 1000 : null;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? `${(error as Error & { code?: string }).code ?? error.name}: ${error.message}` : String(error);
}

/**
 * A phase of the load: its bounds, throughput, and writes acknowledged in each of its seconds (a
 * throughput that stays down after the transfers, not only during them, shows there).
 */
interface Phase { fromMs: number; toMs: number; acknowledged: number; writesPerSecond: number; failed: number; perSecond: number[] }

function phaseOf(load: WriteLoad, fromMs: number, toMs: number): Phase {
  const acknowledged = load.acknowledgedBetween(fromMs, toMs);
  const perSecond: number[] = [];
  for (let atMs = fromMs; atMs + 1000 <= toMs + 1; atMs += 1000) perSecond.push(load.acknowledgedBetween(atMs, atMs + 1000));
  return {
    fromMs: round1(fromMs), toMs: round1(toMs), acknowledged,
    writesPerSecond: Math.round(acknowledged / ((toMs - fromMs) / 1000)), failed: load.failedBetween(fromMs, toMs).length, perSecond,
  };
}

/** One handover (a raftline transfer or an etcd MoveLeader) as it happened. */
interface Handover {
  i: number;
  from: string;
  to: string;
  /** The call's start and end (performance.now()). */
  startMs: number;
  endMs: number;
  /** The call as the client saw it. */
  callMs: number;
  /** The transfer's own `ms` (raftline: the old leader's measure); null for etcd or a failure. */
  serverMs: number | null;
  term: number | null;
  error: string | null;
}

interface HandoverFigures extends Handover { windowMs: number; gapMs: number; gapStartMs: number; failedWrites: number; failures: string[] }

/**
 * `count` handovers, one every `everyMs` from the phase's start (later when one runs long: the
 * next starts `afterMs` after the previous resolved at the earliest, so windows never overlap).
 */
async function handovers(count: number, run: (i: number) => Promise<Handover>): Promise<{ fromMs: number; toMs: number; events: Handover[] }> {
  const fromMs = performance.now();
  const events: Handover[] = [];
  let earliestMs = fromMs;
  for (let i = 0; i < count; i++) {
    const dueMs = Math.max(fromMs + i * config.everyMs, earliestMs);
    await sleep(Math.max(0, dueMs - performance.now()));
    const event = await run(i + 1);
    events.push(event);
    console.log(`  #${event.i} ${event.from} -> ${event.to}: ${event.error === null ? `call ${event.callMs.toFixed(1)} ms` +
      (event.serverMs === null ? '' : `, transfer ${event.serverMs} ms, term ${event.term}`) : `FAILED ${event.error}`}`);
    earliestMs = event.endMs + config.afterMs;
  }
  // The phase lasts its plan, and at least until the last window is over.
  const toMs = Math.max(fromMs + count * config.everyMs, earliestMs);
  await sleep(Math.max(0, toMs - performance.now()));
  return { fromMs, toMs, events };
}

/** A transfer's stages, as the servers' counters moved across it. */
interface TransferStages { catchUpMs: number; electionMs: number; readyMs: number; refused: number }

/**
 * What the old leader (`transferCatchUpMs`: until the target held its whole log and TimeoutNow
 * went out) and the target (`takeoverElectionMs`: TimeoutNow to winning; `takeoverReadyMs`:
 * winning to its no-op applied) counted for one transfer; null when it did not complete.
 */
function transferStages(event: Handover, before: Map<string, Record<string, number>>, after: Map<string, Record<string, number>>): TransferStages | null {
  const moved = (id: string, name: string): number => round1((after.get(id)?.[name] ?? 0) - (before.get(id)?.[name] ?? 0));
  if (event.error !== null || moved(event.to, 'takeovers') !== 1) return null;
  let refused = 0;
  for (const id of after.keys()) refused += moved(id, 'requestsRefusedInTransfer');
  return { catchUpMs: moved(event.from, 'transferCatchUpMs'), electionMs: moved(event.to, 'takeoverElectionMs'), readyMs: moved(event.to, 'takeoverReadyMs'), refused };
}

function handoverFigures(load: WriteLoad, events: readonly Handover[]): HandoverFigures[] {
  return events.map((event) => {
    const windowEndMs = event.endMs + config.afterMs;
    const gap = longestGap(load.times, event.startMs, windowEndMs);
    const failures = load.failedBetween(event.startMs, windowEndMs);
    return {
      ...event, startMs: round1(event.startMs), endMs: round1(event.endMs), callMs: round1(event.callMs),
      windowMs: round1(windowEndMs - event.startMs), gapMs: round1(gap.gapMs), gapStartMs: round1(gap.gapStartMs),
      failedWrites: failures.length, failures: [...new Set(failures.map((failure) => failure.message))].slice(0, 3),
    };
  });
}

/**
 * The longest gaps of a phase with no handover, in `count` windows as long as the handovers'
 * median window, spread over it like the handovers: what the load's own hiccups (GC, fsync, a
 * shared machine) give, to read the handovers' gaps against.
 */
function quietGaps(load: WriteLoad, phase: { fromMs: number; toMs: number }, count: number, windowMs: number): number[] {
  const gaps: number[] = [];
  for (let i = 0; i < count; i++) {
    const fromMs = phase.fromMs + i * config.everyMs;
    if (fromMs + windowMs > phase.toMs) break;
    gaps.push(round1(longestGap(load.times, fromMs, fromMs + windowMs).gapMs));
  }
  return gaps;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.floor((sorted.length - 1) / 2)]!;
}

// ---- clean-up ---------------------------------------------------------------------------------

/** Undo steps, run last-in first-out on the way out, whatever the way (and between the systems). */
const cleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | null = null;

/** Runs every undo step registered so far; a call while one runs joins it. Each step is bounded. */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const step = cleanups.pop()!;
      try {
        await withTimeout(Promise.resolve().then(step), 15_000);
      } catch (error) {
        console.error(`clean-up: ${errorMessage(error)}`);
      }
    }
  })().finally(() => {
    cleaning = null;
  });
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}
const deadline = setTimeout(() => {
  console.error(`transfer-figures: still running after --deadline-s ${deadlineS}; giving up`);
  void cleanUp().finally(() => process.exit(1));
}, deadlineS * 1000);

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Why nothing else may listen on 127.0.0.1:port, or null when it is free. */
function portProblem(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => probe.close(() => resolve(null)));
  });
}

// ---- raftline ---------------------------------------------------------------------------------

interface KillFigures {
  i: number;
  killed: string;
  newLeader: string;
  /** From the kill until a status poll (every 20 ms) found a new leader with a commit. */
  electionMs: number;
  /** From the kill until the end of the longest gap: writes flowing again. */
  resumedMs: number;
  gapMs: number;
  gapStartMs: number;
  failedWrites: number;
  failures: string[];
  /** The killed server's restart until it applied what the leader had committed then. */
  catchUpMs: number;
}

async function raftlineFigures(): Promise<Record<string, unknown>> {
  const dir = tempDir('raftline-transfer-figures-');
  const tlsDir = config.tls ? path.join(dir, 'certs') : undefined;
  // The replace phase adds servers n4, n5, ...: their certificates are made with the others'.
  if (tlsDir !== undefined) createDevCertificates(3 + config.replaces, tlsDir);
  const cluster = new LocalCluster({
    nodes: 3, dir, basePort: config.basePort, actors: 'workers', logLevel: 'warn', logFile: path.join(dir, 'servers.log'), ...(tlsDir === undefined ? {} : { tlsDir }),
  });
  await cluster.checkPorts();
  cleanups.push(() => cluster.stopAll());
  cluster.startAll();
  await cluster.waitForLeader(30_000);

  // The transfers go through a client of their own. On the load's client they would share the
  // leader channel with the writes: the NOT_LEADER answers to the writes make it drop the old
  // leader's connection and resend every call on it to the new leader, the transfer call
  // included, which the new leader answers at once as a transfer to itself ({ ms: 0 }).
  const admin = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 10_000, ...cluster.clientTls });
  cleanups.push(() => admin.close());
  const client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: config.requestTimeoutMs, ...cluster.clientTls });
  cleanups.push(() => client.close());
  const store = kv(client);
  const value = 'v'.repeat(config.sizeBytes);
  const load = new WriteLoad((key) => store.put(key, value), config.keys);
  // On the way out after a failure the writes still in flight are not waited for: closing the
  // client (the next step) rejects them.
  cleanups.push(() => load.stop(2000));

  /** The running server that says of itself that it leads and has committed something, polled every 20 ms. */
  const leaderNow = async (exclude: string | null, timeoutMs: number): Promise<LocalNode> => {
    const deadlineMs = performance.now() + timeoutMs;
    for (;;) {
      const alive = cluster.nodes.filter((node) => node.process !== null && node.id !== exclude);
      const statuses = await Promise.all(alive.map((node) => withTimeout(admin.status(node.address), 500).catch(() => null)));
      const leader = alive.find((node, i) => statuses[i]?.role === 'leader' && statuses[i]!.commit > 0 && statuses[i]!.id === node.id);
      if (leader !== undefined) return leader;
      if (performance.now() > deadlineMs) throw new Error(`no leader among ${alive.map((node) => node.id).join(',')} within ${timeoutMs} ms`);
      await sleep(20);
    }
  };

  console.log(`raftline: 3 servers on 127.0.0.1:${config.basePort}.., ${config.outstanding} writes outstanding, ${config.sizeBytes}-byte values; warm-up ${config.warmupS} s${config.tls ? '; TLS' : ''}`);
  load.start(config.outstanding);
  await sleep(config.warmupS * 1000);
  if (load.times.length === 0) throw new Error(`no write acknowledged in the ${config.warmupS} s warm-up`);

  console.log(`baseline: ${phaseS} s without transfers`);
  const baselineFrom = performance.now();
  await sleep(phaseS * 1000);
  const baselineTo = performance.now();

  console.log(`transfers: ${config.transfers}, one every ${config.everyMs} ms`);
  const transferTimeout = config.transferTimeoutMs === null ? {} : { timeoutMs: config.transferTimeoutMs };
  // Each server's transfer counters before the first transfer and after each one's window (not
  // inside it: the metrics calls cost the servers time): their differences split a transfer into
  // its stages (the old leader's catch-up wait, the election, the no-op).
  const stageCounters = async (): Promise<Map<string, Record<string, number>>> => new Map(await Promise.all(cluster.nodes.map(async (node) =>
    [node.id, (await withTimeout(admin.metrics(node.address), 2000).catch(() => null))?.counters ?? {}] as const)));
  // Likewise the leader each transfer starts from is found before its window opens.
  const countersAt = [await stageCounters()];
  let current = await leaderNow(null, 10_000);
  const transferRun = await handovers(config.transfers, async (i) => {
    const event = await transfer(i, current);
    // Past the window's end by a margin: a stall the probes cause must not overlap the window.
    await sleep(config.afterMs + probeMarginMs);
    countersAt.push(await stageCounters());
    current = await leaderNow(null, 10_000);
    return event;
  });
  async function transfer(i: number, from: LocalNode): Promise<Handover> {
    const others = cluster.nodes.filter((node) => node !== from);
    const to = others[Math.floor(Math.random() * others.length)]!;
    const startMs = performance.now();
    try {
      const outcome = await admin.admin().transferLeadership(to.id, transferTimeout);
      const endMs = performance.now();
      return { i, from: from.id, to: to.id, startMs, endMs, callMs: endMs - startMs, serverMs: round1(outcome.ms), term: outcome.term, error: outcome.leader === to.id ? null : `leader is ${outcome.leader}` };
    } catch (error) {
      const endMs = performance.now();
      return { i, from: from.id, to: to.id, startMs, endMs, callMs: endMs - startMs, serverMs: null, term: null, error: errorMessage(error) };
    }
  }
  const transferEvents = handoverFigures(load, transferRun.events).map((event, i) => ({ ...event, stages: transferStages(event, countersAt[i]!, countersAt[i + 1]!) }));
  for (const event of transferEvents) {
    const stages = event.stages;
    console.log(`  #${event.i}: longest gap ${event.gapMs} ms (from ${event.gapStartMs} ms), failed writes ${event.failedWrites}` +
      (stages === null ? '' : `; catch-up ${stages.catchUpMs} ms, election ${stages.electionMs} ms, no-op applied ${stages.readyMs} ms, writes refused ${stages.refused}`));
  }
  // The servers' own count of the transfers and of the writes they turned away meanwhile.
  const counters: Record<string, number> = {};
  for (const node of cluster.nodes) {
    const metrics = await withTimeout(admin.metrics(node.address), 2000).catch(() => null);
    for (const name of ['transfersStarted', 'transfersCompleted', 'transfersFailed', 'requestsRefusedInTransfer', 'timeoutNowReceived']) {
      counters[name] = (counters[name] ?? 0) + (metrics?.counters[name] ?? 0);
    }
  }

  console.log(`kills: ${config.kills} (kill -9 of the leader, restart, catch-up)`);
  const kills: KillFigures[] = [];
  for (let i = 1; i <= config.kills; i++) {
    const leader = await leaderNow(null, electionWaitMs);
    const killedMs = performance.now();
    cluster.kill(leader.id);
    await cluster.waitExit(leader.id);
    const newLeader = await leaderNow(leader.id, electionWaitMs);
    const electedMs = performance.now();
    while (load.latestMs < electedMs) {
      if (performance.now() - electedMs > electionWaitMs) throw new Error(`no write acknowledged within ${electionWaitMs} ms of ${newLeader.id} leading`);
      await sleep(5);
    }
    // Writes may have resumed before the 20 ms poll saw the leader: the stall is the longest gap
    // from the kill until afterMs past the first write acknowledged once the leader was seen.
    const windowEndMs = load.times[firstAtOrAfter(load.times, electedMs)]! + config.afterMs;
    await sleep(Math.max(0, windowEndMs - performance.now()));
    const gap = longestGap(load.times, killedMs, windowEndMs);
    const failures = load.failedBetween(killedMs, windowEndMs);
    // Restarted on its own directory; it has caught up once it applied the leader's commit of then.
    cluster.start(leader.id);
    const restartedMs = performance.now();
    const target = (await withTimeout(admin.status(newLeader.address), 2000)).commit;
    for (;;) {
      const status = await withTimeout(admin.status(leader.address), 500).catch(() => null);
      if (status !== null && status.applied >= target) break;
      if (performance.now() - restartedMs > catchUpWaitMs) throw new Error(`${leader.id} did not apply ${target} within ${catchUpWaitMs} ms of its restart`);
      await sleep(50);
    }
    const kill: KillFigures = {
      i, killed: leader.id, newLeader: newLeader.id, electionMs: round1(electedMs - killedMs), resumedMs: round1(gap.gapStartMs + gap.gapMs),
      gapMs: round1(gap.gapMs), gapStartMs: round1(gap.gapStartMs), failedWrites: failures.length,
      failures: [...new Set(failures.map((failure) => failure.message))].slice(0, 3), catchUpMs: Math.round(performance.now() - restartedMs),
    };
    kills.push(kill);
    console.log(`  #${i} killed ${kill.killed}: ${kill.newLeader} leads after ${kill.electionMs} ms, writes resumed at ${kill.resumedMs} ms; ` +
      `longest gap ${kill.gapMs} ms, failed writes ${kill.failedWrites}; ${kill.killed} caught up in ${kill.catchUpMs} ms`);
    if (i < config.kills) await sleep(config.everyMs);
  }

  console.log(`replaces: ${config.replaces} (a follower killed, an empty server added with --join, the dead one removed)`);
  const replaces: Record<string, unknown>[] = [];
  for (let i = 1; i <= config.replaces; i++) {
    const leader = await leaderNow(null, electionWaitMs);
    const dead = cluster.nodes.find((node) => node !== leader && node.process !== null)!;
    await sleep(5000);
    const killedMs = performance.now();
    cluster.kill(dead.id);
    await cluster.waitExit(dead.id);
    const fresh = cluster.addNode();
    cluster.start(fresh.id);
    const addedFromMs = performance.now();
    await admin.admin().addServer({ id: fresh.id, address: fresh.address }, { catchUpTimeoutMs: 120_000 });
    const voterMs = performance.now() - addedFromMs;
    await admin.admin().removeServer(dead.id);
    const removedMs = performance.now();
    await sleep(5000);
    const before = phaseOf(load, killedMs - 5000, killedMs);
    const during = phaseOf(load, killedMs, removedMs);
    const after = phaseOf(load, removedMs, removedMs + 5000);
    const replace = {
      i, dead: dead.id, added: fresh.id, voterMs: Math.round(voterMs), changeMs: Math.round(removedMs - killedMs),
      writesPerSecond: { before: before.writesPerSecond, during: during.writesPerSecond, after: after.writesPerSecond },
      duringRatio: ratio(during.writesPerSecond, before.writesPerSecond), failedWrites: load.failedBetween(killedMs, removedMs + 5000).length,
    };
    replaces.push(replace);
    console.log(`  #${i} ${dead.id} killed, ${fresh.id} a voter after ${replace.voterMs} ms, ${dead.id} removed ${replace.changeMs} ms after the kill; ` +
      `writes/s ${before.writesPerSecond} before, ${during.writesPerSecond} during, ${after.writesPerSecond} after; failed writes ${replace.failedWrites}`);
  }

  await load.stop(config.requestTimeoutMs + 1000);
  const baseline = phaseOf(load, baselineFrom, baselineTo);
  const transferPhase = phaseOf(load, transferRun.fromMs, transferRun.toMs);
  const windowMs = median(transferEvents.map((event) => event.windowMs));
  const baselineGaps = quietGaps(load, { fromMs: baselineFrom, toMs: baselineTo }, config.transfers, windowMs);
  return {
    baseline: { ...baseline, windowMs, gapMs: spread(baselineGaps), gaps: baselineGaps },
    transfers: {
      ...transferPhase, writesPerSecondRatio: ratio(transferPhase.writesPerSecond, baseline.writesPerSecond),
      gapMs: spread(transferEvents.map((event) => event.gapMs)),
      transferMs: spread(transferEvents.flatMap((event) => event.serverMs === null ? [] : [event.serverMs])),
      catchUpMs: spread(transferEvents.flatMap((event) => event.stages === null ? [] : [event.stages.catchUpMs])),
      electionMs: spread(transferEvents.flatMap((event) => event.stages === null ? [] : [event.stages.electionMs])),
      readyMs: spread(transferEvents.flatMap((event) => event.stages === null ? [] : [event.stages.readyMs])),
      refusedWrites: spread(transferEvents.flatMap((event) => event.stages === null ? [] : [event.stages.refused])),
      callMs: spread(transferEvents.filter((event) => event.error === null).map((event) => event.callMs)),
      failedTransfers: transferEvents.filter((event) => event.error !== null).length,
      failedWrites: transferEvents.reduce((sum, event) => sum + event.failedWrites, 0),
      serverCounters: counters, events: transferEvents,
    },
    kills: {
      gapMs: spread(kills.map((kill) => kill.gapMs)), electionMs: spread(kills.map((kill) => kill.electionMs)),
      resumedMs: spread(kills.map((kill) => kill.resumedMs)),
      failedWrites: kills.reduce((sum, kill) => sum + kill.failedWrites, 0), events: kills,
    },
    replaces,
    failedWritesTotal: load.failures.length,
    failureMessages: [...new Set(load.failures.map((failure) => failure.message))].slice(0, 5),
  };
}

// ---- etcd -------------------------------------------------------------------------------------

/**
 * A 3-member etcd cluster. Each member runs under a bash guard in a process group of its own: the
 * guard stops its member when this process is gone, however it ended (SIGKILL included), and
 * stopping the group stops both.
 */
class EtcdCluster {
  readonly members: { name: string; endpoint: string; peerUrl: string; guard: ChildProcess | null }[];

  constructor(private readonly dir: string, basePort: number) {
    this.members = [1, 2, 3].map((i) => ({
      name: `e${i}`, endpoint: `http://127.0.0.1:${basePort + i - 1}`, peerUrl: `http://127.0.0.1:${basePort + 9 + i}`, guard: null,
    }));
  }

  get endpoints(): string[] {
    return this.members.map((member) => member.endpoint);
  }

  async start(): Promise<void> {
    for (const member of this.members) {
      for (const url of [member.endpoint, member.peerUrl]) {
        const port = Number(new URL(url).port);
        const problem = await portProblem(port);
        if (problem !== null) throw new Error(`port ${port} for etcd member ${member.name} is not free (${problem}); choose another --etcd-base-port`);
      }
    }
    const initialCluster = this.members.map((member) => `${member.name}=${member.peerUrl}`).join(',');
    const guard = `etcd "$@" & child=$!
trap 'kill $child 2>/dev/null; wait $child; exit 0' TERM INT
while kill -0 ${process.pid} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5 & wait $!; done
kill $child 2>/dev/null; wait $child`;
    for (const member of this.members) {
      const log = fs.openSync(path.join(this.dir, `${member.name}.log`), 'a');
      member.guard = spawn('bash', ['-c', guard, 'etcd-guard', '--name', member.name, '--data-dir', path.join(this.dir, member.name),
        '--listen-client-urls', member.endpoint, '--advertise-client-urls', member.endpoint,
        '--listen-peer-urls', member.peerUrl, '--initial-advertise-peer-urls', member.peerUrl,
        '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'raftline-transfer-figures',
        '--logger', 'zap', '--log-level', 'error'], { stdio: ['ignore', log, log], detached: true });
      fs.closeSync(log);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map(async (member) => {
      const guard = member.guard;
      member.guard = null;
      if (guard === null || guard.pid === undefined || guard.exitCode !== null || guard.signalCode !== null) return;
      const exited = new Promise((resolve) => guard.once('exit', resolve));
      const group = -guard.pid;
      try {
        process.kill(group, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(group, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }));
  }
}

/** Whether etcd is on PATH, and its version line. */
function etcdVersion(): string | null {
  const result = spawnSync('etcd', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (result.error !== undefined || result.status !== 0) return null;
  return result.stdout.split('\n')[0]?.trim() ?? 'etcd';
}

async function etcdFigures(): Promise<Record<string, unknown>> {
  const version = etcdVersion();
  if (version === null) {
    return { skipped: 'etcd is not on PATH: apt-get install -y etcd-server (Debian), then run again with --etcd' };
  }
  const dir = tempDir('raftline-transfer-figures-etcd-');
  const etcd = new EtcdCluster(dir, config.etcdBasePort);
  cleanups.push(() => etcd.stop());
  try {
    await etcd.start();
  } catch (error) {
    return { skipped: `etcd did not start: ${errorMessage(error)}`, version };
  }
  // One client per member for status and MoveLeader (which only the leader takes), and the load's.
  const memberClients = new Map(etcd.members.map((member) => [member.name, new Etcd3({ hosts: [member.endpoint], dialTimeout: 2000 })]));
  cleanups.push(() => { for (const client of memberClients.values()) client.close(); });
  const client = new Etcd3({ hosts: etcd.endpoints, dialTimeout: 10_000 });
  cleanups.push(() => client.close());
  const readyDeadlineMs = performance.now() + 30_000;
  for (;;) {
    try {
      await withTimeout(client.put('transfer-figures-ready').value('1').exec(), 2000);
      break;
    } catch (error) {
      if (performance.now() > readyDeadlineMs) {
        return { skipped: `etcd took no write within 30 s: ${errorMessage(error)} (logs were in ${dir})`, version };
      }
      await sleep(200);
    }
  }
  const members = (await memberClients.get('e1')!.cluster.memberList({})).members;
  const nameOf = new Map(members.map((member) => [member.ID, member.name]));
  const idOf = new Map(members.map((member) => [member.name, member.ID]));

  /** The leader as a majority of members report it (Status names each member's idea of the leader). */
  const leaderNow = async (): Promise<string> => {
    const deadlineMs = performance.now() + 10_000;
    for (;;) {
      const statuses = await Promise.all([...memberClients.values()].map((member) => withTimeout(member.maintenance.status(), 1000).catch(() => null)));
      const votes = new Map<string, number>();
      for (const status of statuses) if (status !== null && status.leader !== '0') votes.set(status.leader, (votes.get(status.leader) ?? 0) + 1);
      const leader = [...votes].find(([, count]) => count >= 2)?.[0];
      const name = leader === undefined ? undefined : nameOf.get(leader);
      if (name !== undefined) return name;
      if (performance.now() > deadlineMs) throw new Error('etcd: no leader agreed on within 10 s');
      await sleep(20);
    }
  };

  const value = Buffer.from('v'.repeat(config.sizeBytes));
  const load = new WriteLoad((key) => client.put(key).value(value).exec(), config.keys);
  cleanups.push(() => load.stop(2000));
  console.log(`etcd (${version}): 3 members on 127.0.0.1:${config.etcdBasePort}.., the same load; warm-up ${config.warmupS} s`);
  load.start(config.outstanding);
  await sleep(config.warmupS * 1000);
  if (load.times.length === 0) throw new Error(`etcd: no write acknowledged in the ${config.warmupS} s warm-up`);

  console.log(`etcd baseline: ${phaseS} s without transfers`);
  const baselineFrom = performance.now();
  await sleep(phaseS * 1000);
  const baselineTo = performance.now();

  console.log(`etcd move-leader: ${config.transfers}, one every ${config.everyMs} ms`);
  const run = await handovers(config.transfers, async (i) => {
    const from = await leaderNow();
    const others = etcd.members.filter((member) => member.name !== from);
    const to = others[Math.floor(Math.random() * others.length)]!;
    const startMs = performance.now();
    try {
      // MoveLeader returns once the leader has handed over (or failed to, in etcd's own time).
      const reply: unknown = await withTimeout(memberClients.get(from)!.maintenance.moveLeader({ targetID: idOf.get(to.name)! }), 30_000);
      const endMs = performance.now();
      // The typings promise a header; etcd 3.4's MoveLeader reply comes without one.
      const term = (reply as { header?: { raft_term?: string } | null } | null)?.header?.raft_term;
      return { i, from, to: to.name, startMs, endMs, callMs: endMs - startMs, serverMs: null, term: term === undefined ? null : Number(term), error: null };
    } catch (error) {
      const endMs = performance.now();
      return { i, from, to: to.name, startMs, endMs, callMs: endMs - startMs, serverMs: null, term: null, error: errorMessage(error) };
    }
  });
  await load.stop(config.requestTimeoutMs + 1000);
  const events = handoverFigures(load, run.events);
  for (const event of events) console.log(`  #${event.i}: longest gap ${event.gapMs} ms (from ${event.gapStartMs} ms), failed writes ${event.failedWrites}`);
  const baseline = phaseOf(load, baselineFrom, baselineTo);
  const transferPhase = phaseOf(load, run.fromMs, run.toMs);
  const windowMs = median(events.map((event) => event.windowMs));
  const baselineGaps = quietGaps(load, { fromMs: baselineFrom, toMs: baselineTo }, config.transfers, windowMs);
  return {
    version,
    baseline: { ...baseline, windowMs, gapMs: spread(baselineGaps), gaps: baselineGaps },
    transfers: {
      ...transferPhase, writesPerSecondRatio: ratio(transferPhase.writesPerSecond, baseline.writesPerSecond),
      gapMs: spread(events.map((event) => event.gapMs)),
      callMs: spread(events.filter((event) => event.error === null).map((event) => event.callMs)),
      failedTransfers: events.filter((event) => event.error !== null).length,
      failedWrites: events.reduce((sum, event) => sum + event.failedWrites, 0),
      events,
    },
    failedWritesTotal: load.failures.length,
    failureMessages: [...new Set(load.failures.map((failure) => failure.message))].slice(0, 5),
  };
}

// ---- the run ----------------------------------------------------------------------------------

function cell(value: number | null | undefined): string {
  return (value === null || value === undefined ? '-' : String(value)).padStart(9);
}

function row(label: string, figures: Spread | undefined): string {
  return `${label.padEnd(50)}${cell(figures?.n)}${cell(figures?.p50)}${cell(figures?.p99)}${cell(figures?.max)}`;
}

type Figures = Record<string, unknown> & {
  baseline?: Phase & { gapMs: Spread; windowMs: number };
  transfers?: Phase & { gapMs: Spread; transferMs?: Spread; catchUpMs?: Spread; electionMs?: Spread; readyMs?: Spread; refusedWrites?: Spread; callMs: Spread; writesPerSecondRatio: number | null; failedTransfers: number; failedWrites: number };
  kills?: { gapMs: Spread; electionMs: Spread; resumedMs: Spread; failedWrites: number };
  replaces?: { voterMs: number; changeMs: number; writesPerSecond: { before: number; during: number; after: number }; duringRatio: number | null; failedWrites: number }[];
  failedWritesTotal?: number;
  skipped?: string;
};

let exitCode = 0;
try {
  const raftline = await raftlineFigures() as Figures;
  // Stopped before etcd starts: the two never share the machine's cores.
  await cleanUp();
  const etcd: Figures | null = config.etcd ? await etcdFigures() as Figures : null;
  await cleanUp();

  const lines = [
    '',
    `${config.outstanding} writes outstanding, ${config.sizeBytes}-byte values, fsync on; ${config.transfers} handovers every ${config.everyMs} ms, ` +
      `window: the call until ${config.afterMs} ms after it resolved; ${os.cpus().length} CPUs`,
    `${''.padEnd(50)}${'n'.padStart(9)}${'p50'.padStart(9)}${'p99'.padStart(9)}${'max'.padStart(9)}`,
    row('raftline transfer: longest write gap, ms', raftline.transfers?.gapMs),
    row('raftline transfer: its own ms', raftline.transfers?.transferMs),
    row('raftline transfer: call ms (client)', raftline.transfers?.callMs),
    row('  stage: target catching up, ms (old leader)', raftline.transfers?.catchUpMs),
    row('  stage: TimeoutNow to elected, ms (target)', raftline.transfers?.electionMs),
    row('  stage: elected to no-op applied, ms (target)', raftline.transfers?.readyMs),
    row('  writes refused TRANSFER_IN_PROGRESS (count)', raftline.transfers?.refusedWrites),
    row(`raftline no transfer: longest gap per ${raftline.baseline?.windowMs ?? '-'} ms`, raftline.baseline?.gapMs),
    row('raftline kill -9 + election: longest gap, ms', raftline.kills?.gapMs),
    row('raftline kill -9: a new leader after, ms', raftline.kills?.electionMs),
    row('raftline kill -9: writes resumed after, ms', raftline.kills?.resumedMs),
  ];
  if (etcd !== null && etcd.skipped === undefined) {
    lines.push(
      row('etcd move-leader: longest write gap, ms', etcd.transfers?.gapMs),
      row('etcd move-leader: call ms', etcd.transfers?.callMs),
      row(`etcd no transfer: longest gap per ${etcd.baseline?.windowMs ?? '-'} ms`, etcd.baseline?.gapMs),
    );
  }
  lines.push('',
    `raftline writes/s: ${raftline.baseline?.writesPerSecond} without transfers, ${raftline.transfers?.writesPerSecond} with them ` +
      `(ratio ${raftline.transfers?.writesPerSecondRatio}); failed transfers ${raftline.transfers?.failedTransfers}, ` +
      `failed writes ${raftline.transfers?.failedWrites} around transfers, ${raftline.kills?.failedWrites} around kills, ${raftline.failedWritesTotal} in all`);
  for (const [i, replace] of (raftline.replaces ?? []).entries()) {
    lines.push(`raftline replace #${i + 1}: new server a voter after ${replace.voterMs} ms, the change done ${replace.changeMs} ms after the kill; ` +
      `writes/s ${replace.writesPerSecond.before} before, ${replace.writesPerSecond.during} during (ratio ${replace.duringRatio}), ` +
      `${replace.writesPerSecond.after} after; failed writes ${replace.failedWrites}`);
  }
  if (etcd !== null) {
    lines.push(etcd.skipped !== undefined ? `etcd: skipped (${etcd.skipped})`
      : `etcd writes/s: ${etcd.baseline?.writesPerSecond} without transfers, ${etcd.transfers?.writesPerSecond} with them ` +
        `(ratio ${etcd.transfers?.writesPerSecondRatio}); failed move-leaders ${etcd.transfers?.failedTransfers}, ` +
        `failed writes ${etcd.transfers?.failedWrites} around them, ${etcd.failedWritesTotal} in all`);
  }
  const p99 = raftline.transfers?.gapMs.p99 ?? null;
  if (p99 !== null) {
    lines.push(`target: transfers' p99 longest gap <= ${targetP99GapMs} ms: ${p99 <= targetP99GapMs ? 'met' : 'NOT met'} (${p99} ms over ${raftline.transfers?.gapMs.n} transfers)`);
  }
  console.log(lines.join('\n'));
  if (flags.json !== undefined) {
    fs.writeFileSync(flags.json, JSON.stringify({
      benchmark: 'transfer-figures', configuration: { ...config, targetP99GapMs, deadlineS }, machine: machineInfo(), versions: versions(),
      raftline, etcd,
    }, null, 2) + '\n');
  }
} catch (error) {
  console.error(`transfer-figures: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  exitCode = 1;
} finally {
  await cleanUp();
  clearTimeout(deadline);
}
process.exit(exitCode);
