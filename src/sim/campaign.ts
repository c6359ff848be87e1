/**
 * Runs many seeds and sums them up: the figures written to `.safety/sim.json`, and a failure
 * report that names the seed and the command that replays it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultSimConfig, noTransferFigures, runSimulation, type SimConfig, type SimResult, type TransferFigures } from './simulation.js';
import { noSnapshotFigures } from './snapshot-activity.js';

export interface CampaignOptions {
  startSeed: number;
  seedCount: number;
  nodeCount?: number;
  config?: Partial<SimConfig>;
  /** Where to write the JSON summary; null for nowhere. */
  summaryFile: string | null;
  onResult?(result: SimResult): void;
  onProgress?(done: number, total: number, failed: number): void;
}

export interface CampaignSummary {
  suite: 'sim';
  seeds: number;
  simulatedSeconds: number;
  operations: number;
  /** Reads by kind: on the leader, follower reads (linearizable) and stale reads (bounded by the client's own last write). */
  reads: { all: number; follower: number; stale: number };
  faults: number;
  /** Nodes that lost synced data (a replaced disk, a damaged last record). */
  replicaLosses: number;
  lostWrites: number;
  violations: number;
  duplicateApplies: number;
  /** Client sessions over all seeds (see SimResult.sessions). */
  sessions: SimResult['sessions'];
  /** Snapshots over all seeds (see SimResult.snapshots), and the targeted crashes that landed at each crash point. */
  snapshots: SimResult['snapshots'];
  crashPoints: SimResult['crashPoints'];
  /** Leadership transfers and paused elections over all seeds (see SimResult.transfers). */
  transfers: TransferFigures;
  /** Seeds in which a transfer asked under faults (not the one after the heal) completed. */
  transferSeeds: number;
  /** Seeds run with the leader lease, the reads served on it, and the clock faults (stalls, skewed rates) over all seeds. */
  leaseSeeds: number;
  leaseReads: number;
  clockFaults: number;
  failedSeeds: number[];
  wallSeconds: number;
}

/** The snapshot figures as the cli and the safety summary print them. */
export function snapshotLine(snapshots: SimResult['snapshots'], crashPoints: SimResult['crashPoints']): string {
  return `snapshots ${snapshots.taken} taken, ${snapshots.purges} purges, ${snapshots.installs} installs ` +
    `(${snapshots.installsInterrupted} interrupted by a crash, ${snapshots.installsAfterDiskLoss} after a lost disk), ` +
    `${snapshots.restarts} restarts from a snapshot; crashes while writing one ${crashPoints.snapshotWrite}, ` +
    `while installing ${crashPoints.install}, before its purge ${crashPoints.beforePurge}`;
}

/** The transfer figures as the cli prints them (`seeds`: in how many a transfer under faults completed, of how many). */
export function transferLine(transfers: TransferFigures, seeds?: { with: number; of: number }): string {
  const share = seeds === undefined ? '' : `, in ${seeds.with} of ${seeds.of} seeds`;
  return `leadership transfers ${transfers.started} started, ${transfers.completed} completed (${transfers.afterHeal} after the heal` +
    `${share}), ${transfers.failed} failed, ${transfers.refused} refused at once, ${transfers.writesRefused} client calls answered ` +
    `TRANSFER_IN_PROGRESS; elections paused ${transfers.pauses} times (${transfers.pausesMidCampaign} in the middle of a campaign); ` +
    `membership changes ${transfers.membershipStarted} started, ${transfers.membershipDone} committed (${transfers.membershipRestored} restoring ` +
    `every node after the heal), ${transfers.membershipFailed} refused or failed`;
}

export function replayCommand(result: Pick<SimResult, 'seed'>): string {
  return `SEED=${result.seed} npm run test:sim`;
}

export function formatFailure(result: SimResult, withJournal: boolean): string {
  const lines = [
    `sim seed ${result.seed} FAILED (${result.nodeCount} nodes, at ${((result.violations[0]?.atMs ?? 0) / 1000).toFixed(3)} s simulated, trace ${result.traceHash.toString(16)})`,
    ...result.violations.slice(0, 3).map((violation) => `  ${violation.rule}: ${violation.detail}`),
    `  replay: ${replayCommand(result)}`,
  ];
  if (withJournal) lines.push('  last events:', ...result.journal.slice(-25).map((line) => `    ${line}`));
  return lines.join('\n');
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignSummary> {
  const began = performance.now();
  const summary: CampaignSummary = {
    suite: 'sim', seeds: 0, simulatedSeconds: 0, operations: 0, reads: { all: 0, follower: 0, stale: 0 }, faults: 0, replicaLosses: 0, lostWrites: 0, violations: 0,
    duplicateApplies: 0, sessions: { opened: 0, closed: 0, lateRetries: 0, expired: 0 }, snapshots: noSnapshotFigures(),
    crashPoints: { snapshotWrite: 0, install: 0, beforePurge: 0 }, transfers: noTransferFigures(), transferSeeds: 0,
    leaseSeeds: 0, leaseReads: 0, clockFaults: 0, failedSeeds: [], wallSeconds: 0,
  };
  for (let i = 0; i < options.seedCount; i++) {
    const seed = options.startSeed + i;
    const result = await runSimulation({
      ...defaultSimConfig, ...options.config, seed, ...(options.nodeCount !== undefined ? { nodeCount: options.nodeCount } : {}),
    });
    summary.seeds++;
    summary.simulatedSeconds += result.simulatedMs / 1000;
    summary.operations += result.operations;
    summary.reads.all += result.reads;
    summary.reads.follower += result.followerReads;
    summary.reads.stale += result.staleReads;
    summary.faults += result.faults;
    summary.replicaLosses += result.replicaLosses;
    summary.lostWrites += result.lostWrites;
    summary.duplicateApplies += result.duplicateApplies;
    summary.violations += result.violations.length;
    summary.sessions.opened += result.sessions.opened;
    summary.sessions.closed += result.sessions.closed;
    summary.sessions.lateRetries += result.sessions.lateRetries;
    summary.sessions.expired += result.sessions.expired;
    for (const key of Object.keys(summary.snapshots) as (keyof SimResult['snapshots'])[]) summary.snapshots[key] += result.snapshots[key];
    for (const key of Object.keys(summary.crashPoints) as (keyof SimResult['crashPoints'])[]) summary.crashPoints[key] += result.crashPoints[key];
    for (const key of Object.keys(summary.transfers) as (keyof TransferFigures)[]) summary.transfers[key] += result.transfers[key];
    if (result.transfers.completed > result.transfers.afterHeal) summary.transferSeeds++;
    if (result.readMode === 'lease') summary.leaseSeeds++;
    summary.leaseReads += result.leaseReads;
    summary.clockFaults += result.clockFaults;
    if (!result.ok) summary.failedSeeds.push(seed);
    options.onResult?.(result);
    options.onProgress?.(summary.seeds, options.seedCount, summary.failedSeeds.length);
  }
  summary.wallSeconds = (performance.now() - began) / 1000;
  if (options.summaryFile !== null) writeSummary(options.summaryFile, summary);
  return summary;
}

export function writeSummary(file: string, summary: CampaignSummary): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const { suite, seeds, operations, faults, lostWrites, violations, duplicateApplies, snapshots, crashPoints } = summary;
  const { started, completed, failed, pauses, membershipStarted, membershipDone } = summary.transfers;
  fs.writeFileSync(file, `${JSON.stringify({
    suite, seeds, simulatedSeconds: Math.round(summary.simulatedSeconds), operations, faults, lostWrites, violations, duplicateApplies,
    snapshots, crashPoints, transfers: { started, completed, failed, pauses, membershipStarted, membershipDone },
  })}\n`);
}
