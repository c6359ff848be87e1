/**
 * Runs a seeded scenario over many seeds and collects the failures, so a paper test reports every
 * failing seed (each message starts with its seed and replays exactly).
 */

export interface SeedReport {
  failures: string[];
  runs: number;
}

export function forSeeds(firstSeed: number, count: number, scenario: (seed: number) => void): SeedReport {
  const failures: string[] = [];
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    try {
      scenario(seed);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failures.push(message.startsWith('seed ') ? message : `seed ${seed}: ${message}`);
    }
  }
  return { failures, runs: count };
}

/** The assertion message: the first failures, each with its seed. */
export function describeFailures(report: SeedReport): string {
  return `${report.failures.length}/${report.runs} seeds failed:\n${report.failures.slice(0, 5).join('\n')}`;
}

import { CoreCluster } from './core-cluster.js';
import type { Check, ClusterOptions, ChaosOptions } from './core-cluster.js';

/**
 * The standard paper-test run for one seed: 3 or 5 nodes, a safety phase of random partitions,
 * crashes, restarts, proposals and reads with only `checks` enforced, then a liveness phase
 * (faults off) that must elect one leader and bring every node up to its commit index.
 */
export function chaosRun(
  seed: number,
  checks: readonly Check[],
  cluster: Partial<ClusterOptions> = {},
  chaos: Partial<ChaosOptions> = {},
): CoreCluster {
  const run = new CoreCluster({ seed, nodeCount: seed % 2 === 0 ? 5 : 3, checks, ...cluster });
  run.runChaos({ steps: 300, ...chaos });
  run.stabilize();
  return run;
}
