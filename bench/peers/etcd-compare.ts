/**
 * The closing step of the side-by-side benchmark (bench/peers/etcd.sh): reads the rounds' JSON
 * results of etcd and raftline, prints each round's figures and ratio and, over several rounds,
 * the median ratio; writes it all to `compare.json` beside them.
 *
 *   node dist/bench/peers/etcd-compare.js DIR ROUNDS
 *
 * Round 1's files are DIR/etcd.json and DIR/raftline.json; round n's carry `-n`.
 */
import fs from 'node:fs';
import path from 'node:path';

/** What this step reads of either side's JSON (the names both write). */
export interface SideResult {
  writesPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
}

export interface RoundComparison {
  round: number;
  etcd: SideResult;
  raftline: SideResult;
  /** raftline's writes/s over etcd's. */
  throughputRatio: number;
  p50Ratio: number;
  p99Ratio: number;
}

export interface Comparison {
  rounds: RoundComparison[];
  /** The median of the rounds' throughput ratios (the mean of the middle two for an even count). */
  medianThroughputRatio: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function compareRounds(pairs: readonly { etcd: SideResult; raftline: SideResult }[]): Comparison {
  const rounds = pairs.map(({ etcd, raftline }, i): RoundComparison => ({
    round: i + 1,
    etcd: pick(etcd),
    raftline: pick(raftline),
    throughputRatio: raftline.writesPerSecond / Math.max(1, etcd.writesPerSecond),
    p50Ratio: raftline.latencyMs.p50 / etcd.latencyMs.p50,
    p99Ratio: raftline.latencyMs.p99 / etcd.latencyMs.p99,
  }));
  return { rounds, medianThroughputRatio: median(rounds.map((round) => round.throughputRatio)) };
}

function pick(result: SideResult): SideResult {
  const { p50, p99, max } = result.latencyMs;
  return { writesPerSecond: result.writesPerSecond, latencyMs: { p50, p99, max } };
}

export function formatComparison(comparison: Comparison): string {
  const row = (name: string, result: SideResult): string =>
    `${name.padEnd(9)} ${String(result.writesPerSecond).padStart(9)} writes/s   p50 ${result.latencyMs.p50} ms   ` +
    `p99 ${result.latencyMs.p99} ms   max ${result.latencyMs.max} ms`;
  const lines: string[] = [];
  const several = comparison.rounds.length > 1;
  for (const round of comparison.rounds) {
    lines.push('');
    if (several) lines.push(`round ${round.round}`);
    lines.push(row('etcd', round.etcd), row('raftline', round.raftline));
    lines.push(`ratio     ${round.throughputRatio.toFixed(1)}x the writes/s of etcd; p50 ${round.p50Ratio.toFixed(2)}x, ` +
      `p99 ${round.p99Ratio.toFixed(2)}x its latency`);
  }
  if (several) {
    lines.push('', `median ratio over ${comparison.rounds.length} rounds: ${comparison.medianThroughputRatio.toFixed(1)}x ` +
      `(rounds: ${comparison.rounds.map((round) => round.throughputRatio.toFixed(1)).join(', ')})`);
  }
  return lines.join('\n');
}

function main(): void {
  const [dir, roundsText] = process.argv.slice(2);
  const rounds = Number(roundsText);
  if (dir === undefined || !Number.isInteger(rounds) || rounds < 1) {
    throw new Error('usage: etcd-compare.js DIR ROUNDS (ROUNDS a positive integer)');
  }
  const read = (name: string, round: number): SideResult =>
    JSON.parse(fs.readFileSync(path.join(dir, `${name}${round === 1 ? '' : `-${round}`}.json`), 'utf8')) as SideResult;
  const pairs = Array.from({ length: rounds }, (_, i) => ({ etcd: read('etcd', i + 1), raftline: read('raftline', i + 1) }));
  const comparison = compareRounds(pairs);
  process.stdout.write(formatComparison(comparison) + '\n');
  const file = path.join(dir, 'compare.json');
  fs.writeFileSync(file, JSON.stringify(comparison, null, 2) + '\n');
  process.stdout.write(`results: ${dir}/etcd*.json ${dir}/raftline*.json ${file}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
