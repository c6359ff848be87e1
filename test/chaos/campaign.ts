/**
 * A longer chaos campaign: `npm run test:chaos -- --minutes N [--seed S] [--duration S]
 * [--history-dir DIR]`. Runs chaos rounds back to back until N minutes have passed, rotating
 * through the cluster sizes, actor modes and workloads, with seeds S, S+1, ... (S drawn when not
 * given). Every run's summary is printed; a failing run keeps its history, fault log and server
 * log under the history folder. At the end: the totals as one safety line (also written to
 * `.safety/chaos-campaign.json`), and exit code 1 if any run failed.
 */
import { parseArgs } from 'node:util';
import { testPort } from '../support/ports.js';
import { formatChaos, runChaos, type ChaosOptions, type ChaosResult } from '../../src/chaos/run-chaos.js';
import { summaryLine, writeSafetyFigures, type SafetyFigures } from '../support/safety-summary.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seed: { type: 'string' },
    duration: { type: 'string', default: '60' },
    'history-dir': { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const durationS = Number(values.duration);
if (!(minutes > 0) || !Number.isInteger(durationS) || durationS < 5) {
  process.stderr.write('usage: npm run test:chaos -- --minutes N [--seed S] [--duration S] [--history-dir DIR]\n');
  process.exit(2);
}
const firstSeed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 30);

const shapes: Omit<ChaosOptions, 'seed' | 'durationS'>[] = [
  { nodes: 3, workloads: ['register'], actors: 'workers', basePort: testPort(20400) },
  { nodes: 5, workloads: ['register'], actors: 'inline', basePort: testPort(20400) },
  { nodes: 3, workloads: ['append-set', 'counter'], actors: 'workers', basePort: testPort(20400) },
  { nodes: 5, workloads: ['register', 'append-set', 'counter'], actors: 'workers', basePort: testPort(20400) },
  { nodes: 3, workloads: ['register', 'counter'], actors: 'inline', basePort: testPort(20400) },
  { nodes: 5, workloads: ['append-set'], actors: 'inline', basePort: testPort(20400) },
];

const endAtMs = Date.now() + minutes * 60_000;
const results: ChaosResult[] = [];
let failures = 0;
for (let run = 0; Date.now() + durationS * 1000 < endAtMs || run === 0; run++) {
  const seed = firstSeed + run;
  const shape = shapes[run % shapes.length]!;
  try {
    const result = await runChaos({
      ...shape, seed, durationS,
      ...(values['history-dir'] === undefined ? {} : { historyDir: `${values['history-dir']}/seed-${seed}` }),
    });
    results.push(result);
    if (!result.ok) failures++;
    process.stdout.write(`${formatChaos(result)}\n\n`);
  } catch (error) {
    failures++;
    process.stdout.write(`chaos run seed ${seed} (${shape.nodes} nodes, ${shape.workloads.join('+')}) could not complete: ${(error as Error).message}\n\n`);
  }
}
const sum = (pick: (result: ChaosResult) => number): number => results.reduce((total, result) => total + pick(result), 0);
const figures: SafetyFigures = {
  suite: 'chaos-campaign',
  histories: sum((result) => result.histories),
  operations: sum((result) => result.operations),
  faults: sum((result) => result.faults),
  lostWrites: sum((result) => result.lostWrites),
  violations: sum((result) => result.violations + result.undecided),
  duplicateApplies: sum((result) => result.duplicateApplies + result.phantoms),
  transfers: {
    started: sum((result) => result.transfers.done + result.transfers.failed + (result.transfers.afterHealMs === null ? 0 : 1)),
    completed: sum((result) => result.transfers.done + (result.transfers.afterHealMs === null ? 0 : 1)),
    failed: sum((result) => result.transfers.failed),
    pauses: sum((result) => result.faultCounts['pause-election'] ?? 0),
  },
};
writeSafetyFigures(figures);
const kills = results.flatMap((result) => result.recoverySamples.filter((sample) => sample.figure === 'leaderKill' && !sample.composed && sample.settled && sample.waitMs !== null).map((sample) => sample.waitMs!));
const heals = results.flatMap((result) => result.recoverySamples.filter((sample) => sample.figure === 'partitionHeal' && !sample.composed && sample.settled && sample.waitMs !== null).map((sample) => sample.waitMs!));
const quantile = (list: number[], q: number): string => {
  if (list.length === 0) return '-';
  const sorted = [...list].sort((a, b) => a - b);
  return `${Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!)} ms`;
};
process.stdout.write(`campaign: ${results.length} runs from seed ${firstSeed}, ${failures} failed\n`);
process.stdout.write(`recovery: leader kill → next write p50 ${quantile(kills, 0.5)}, p99 ${quantile(kills, 0.99)} (${kills.length}); ` +
  `partition heal → next write p50 ${quantile(heals, 0.5)}, p99 ${quantile(heals, 0.99)} (${heals.length})\n`);
process.stdout.write(`${summaryLine([figures])}\n`);
if (failures > 0) process.exitCode = 1;
