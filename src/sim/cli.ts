#!/usr/bin/env node
/**
 * The simulator's command line: runs seeds and prints each failure with the one-line command that
 * replays it.
 *   node dist/src/sim/cli.js --seeds 20000 [--start 1] [--nodes 3|5] [--summary .safety/sim.json]
 *   SEED=<n> node dist/src/sim/cli.js          (replays one seed; prints its journal on failure)
 * `npm run test:sim -- <args>` builds first and runs this.
 */
import { runCampaign, formatFailure, snapshotLine, transferLine } from './campaign.js';

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

const seedEnv = process.env['SEED'];
const nodes = argument('nodes');
const verbose = process.argv.includes('--verbose') || seedEnv !== undefined;
const summary = await runCampaign({
  startSeed: seedEnv !== undefined ? Number(seedEnv) : Number(argument('start') ?? 1),
  seedCount: seedEnv !== undefined ? 1 : Number(argument('seeds') ?? 300),
  ...(nodes !== undefined ? { nodeCount: Number(nodes) } : {}),
  // A replay of one seed leaves the suite's summary alone unless asked.
  summaryFile: argument('summary') ?? (seedEnv !== undefined ? null : '.safety/sim.json'),
  onResult: (result) => {
    if (!result.ok) console.log(formatFailure(result, true));
    else if (verbose) {
      console.log(`seed ${result.seed}: ok, ${result.nodeCount} nodes, ${(result.simulatedMs / 1000).toFixed(1)} s simulated, ` +
        `${result.steps} steps, ${result.operations} operations (${result.acknowledged} writes acknowledged, ${result.reads} reads), ` +
        `${result.faults} faults (${result.crashes} crashes, ${result.tornWrites} torn writes, ${result.replicaLosses} replicas losing data), ` +
        `reads ${result.readMode} (${result.leaseReads} on the lease), ${result.clockFaults} clock faults, ` +
        `sessions ${JSON.stringify(result.sessions)}, snapshot every ${result.snapshotEvery} keeping ${result.logKeep}: ` +
        `${snapshotLine(result.snapshots, result.crashPoints)}; ${transferLine(result.transfers)}, trace ${result.traceHash.toString(16)}`);
    }
  },
  onProgress: (done, total, failed) => {
    if (!verbose && done % 100 === 0) console.log(`${done}/${total} seeds, ${failed} failed`);
  },
});
console.log(`sim: ${summary.seeds} seeds, ${summary.simulatedSeconds.toFixed(0)} s simulated, ${summary.operations} operations, ` +
  `${summary.faults} faults (${summary.replicaLosses} replicas losing data), ${summary.violations} violations, ${summary.lostWrites} acknowledged writes lost, ` +
  `${summary.duplicateApplies} duplicate applies; ${summary.leaseSeeds} seeds on the read lease (${summary.leaseReads} lease reads), ` +
  `${summary.clockFaults} clock faults; sessions ${summary.sessions.opened} opened, ${summary.sessions.closed} closed, ` +
  `${summary.sessions.lateRetries} writes resent past the idle bound, ${summary.sessions.expired} answered SESSION_EXPIRED; ` +
  `${snapshotLine(summary.snapshots, summary.crashPoints)}; ${transferLine(summary.transfers, { with: summary.transferSeeds, of: summary.seeds })} (${summary.wallSeconds.toFixed(1)} s)`);
process.exitCode = summary.failedSeeds.length > 0 ? 1 : 0;
