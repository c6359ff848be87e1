/**
 * The closing step of the side-by-side benchmark (bench/peers/etcd.sh): reads the rounds' JSON
 * results of etcd and raftline, prints each round's figures and ratio and, over several rounds,
 * the median ratio; writes it all to `compare.json` beside them. With reads, reads/s and read
 * latency stand beside the writes' (etcd's reads are linearizable), per raftline read mode.
 *
 *   node dist/bench/peers/etcd-compare.js DIR ROUNDS [READ_MODES]
 *
 * Round 1's files are DIR/etcd.json and DIR/raftline.json (DIR/raftline-MODE.json for a read mode
 * other than linearizable); round n's carry `-n`.
 */
import fs from 'node:fs';
import path from 'node:path';

/** What this step reads of either side's JSON (the names both write). */
export interface SideResult {
  writesPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** With a read fraction: linearizable reads (etcd) or reads in the run's read mode (raftline). */
  readsPerSecond?: number;
  readLatencyMs?: { p50: number; p99: number; max: number };
}

/** One raftline run of a round against the round's etcd run. */
export interface SideComparison {
  /** raftline's read mode in this run (`linearizable` unless the round ran others). */
  mode: string;
  raftline: SideResult;
  /** raftline's writes/s over etcd's. */
  throughputRatio: number;
  p50Ratio: number;
  p99Ratio: number;
  /** raftline's reads/s over etcd's (null without reads), and its operations/s (reads and writes) over etcd's. */
  readsRatio: number | null;
  operationsRatio: number;
}

export interface RoundComparison extends SideComparison {
  round: number;
  etcd: SideResult;
  /** The round's other raftline runs, one per further read mode. */
  modes: SideComparison[];
}

export interface Comparison {
  rounds: RoundComparison[];
  /** The median of the rounds' throughput ratios (the mean of the middle two for an even count). */
  medianThroughputRatio: number;
  /** With reads, the median of the rounds' reads/s ratios per read mode. */
  medianReadsRatio: Record<string, number>;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const operations = (result: SideResult): number => result.writesPerSecond + (result.readsPerSecond ?? 0);

function compareSide(mode: string, etcd: SideResult, raftline: SideResult): SideComparison {
  const etcdReads = etcd.readsPerSecond ?? 0;
  return {
    mode,
    raftline: pick(raftline),
    throughputRatio: raftline.writesPerSecond / Math.max(1, etcd.writesPerSecond),
    p50Ratio: raftline.latencyMs.p50 / etcd.latencyMs.p50,
    p99Ratio: raftline.latencyMs.p99 / etcd.latencyMs.p99,
    readsRatio: etcdReads > 0 ? (raftline.readsPerSecond ?? 0) / etcdReads : null,
    operationsRatio: operations(raftline) / Math.max(1, operations(etcd)),
  };
}

/**
 * Each round's etcd run against its raftline run (read mode `mode` of the first, default
 * linearizable) and against the round's runs in further read modes (`modes`, by name).
 */
export function compareRounds(pairs: readonly { etcd: SideResult; raftline: SideResult; mode?: string; modes?: Record<string, SideResult> }[]): Comparison {
  const rounds = pairs.map(({ etcd, raftline, mode, modes }, i): RoundComparison => ({
    round: i + 1,
    etcd: pick(etcd),
    ...compareSide(mode ?? 'linearizable', etcd, raftline),
    modes: Object.entries(modes ?? {}).map(([name, result]) => compareSide(name, etcd, result)),
  }));
  const medianReadsRatio: Record<string, number> = {};
  for (const side of rounds.flatMap((round) => [round, ...round.modes])) {
    if (side.readsRatio === null || side.mode in medianReadsRatio) continue;
    const ratios = rounds.flatMap((round) => [round, ...round.modes]).filter((each) => each.mode === side.mode && each.readsRatio !== null);
    medianReadsRatio[side.mode] = median(ratios.map((each) => each.readsRatio!));
  }
  return { rounds, medianThroughputRatio: median(rounds.map((round) => round.throughputRatio)), medianReadsRatio };
}

function pick(result: SideResult): SideResult {
  const { p50, p99, max } = result.latencyMs;
  const picked: SideResult = { writesPerSecond: result.writesPerSecond, latencyMs: { p50, p99, max } };
  if ((result.readsPerSecond ?? 0) > 0 && result.readLatencyMs !== undefined) {
    const read = result.readLatencyMs;
    picked.readsPerSecond = result.readsPerSecond!;
    picked.readLatencyMs = { p50: read.p50, p99: read.p99, max: read.max };
  }
  return picked;
}

export function formatComparison(comparison: Comparison): string {
  // With reads only (100 %), there are no write figures to show or compare.
  const row = (name: string, result: SideResult): string[] => {
    const reads = result.readsPerSecond !== undefined && result.readLatencyMs !== undefined;
    const lines = reads && result.writesPerSecond === 0 ? [] : [`${name.padEnd(9)} ${String(result.writesPerSecond).padStart(9)} writes/s   ` +
      `p50 ${result.latencyMs.p50} ms   p99 ${result.latencyMs.p99} ms   max ${result.latencyMs.max} ms`];
    if (reads) {
      lines.push(`${(lines.length === 0 ? name : '').padEnd(9)} ${String(result.readsPerSecond).padStart(9)} reads/s    p50 ${result.readLatencyMs!.p50} ms   ` +
        `p99 ${result.readLatencyMs!.p99} ms   max ${result.readLatencyMs!.max} ms`);
    }
    return lines;
  };
  const ratio = (side: SideComparison, etcd: SideResult): string =>
    `ratio     ` + [
      ...(etcd.writesPerSecond === 0 ? [] : [`${side.throughputRatio.toFixed(1)}x the writes/s of etcd; p50 ${side.p50Ratio.toFixed(2)}x, p99 ${side.p99Ratio.toFixed(2)}x its latency`]),
      ...(side.readsRatio === null ? [] : [`${side.readsRatio.toFixed(1)}x its reads/s, ${side.operationsRatio.toFixed(1)}x its operations/s`]),
    ].join('; ');
  const lines: string[] = [];
  const several = comparison.rounds.length > 1;
  for (const round of comparison.rounds) {
    lines.push('');
    if (several) lines.push(`round ${round.round}`);
    lines.push(...row('etcd', round.etcd));
    for (const side of [round, ...round.modes]) {
      const name = round.modes.length === 0 && side.mode === 'linearizable' ? 'raftline' : `raftline ${side.mode}`;
      lines.push(...row(name, side.raftline), ratio(side, round.etcd));
    }
  }
  if (several) {
    lines.push('', `median ratio over ${comparison.rounds.length} rounds: ${comparison.medianThroughputRatio.toFixed(1)}x ` +
      `(rounds: ${comparison.rounds.map((round) => round.throughputRatio.toFixed(1)).join(', ')})`);
    for (const [mode, value] of Object.entries(comparison.medianReadsRatio)) lines.push(`median reads/s ratio, ${mode}: ${value.toFixed(1)}x`);
  }
  return lines.join('\n');
}

function main(): void {
  const [dir, roundsText, modesText] = process.argv.slice(2);
  const rounds = Number(roundsText);
  if (dir === undefined || !Number.isInteger(rounds) || rounds < 1) {
    throw new Error('usage: etcd-compare.js DIR ROUNDS [READ_MODES] (ROUNDS a positive integer, READ_MODES a comma list)');
  }
  const modes = (modesText ?? 'linearizable').split(',');
  const read = (name: string, round: number): SideResult =>
    JSON.parse(fs.readFileSync(path.join(dir, `${name}${round === 1 ? '' : `-${round}`}.json`), 'utf8')) as SideResult;
  const pairs = Array.from({ length: rounds }, (_, i) => ({
    etcd: read('etcd', i + 1), raftline: read(raftlineFile(modes[0]!), i + 1), mode: modes[0]!,
    modes: Object.fromEntries(modes.slice(1).map((mode) => [mode, read(raftlineFile(mode), i + 1)])),
  }));
  const comparison = compareRounds(pairs);
  process.stdout.write(formatComparison(comparison) + '\n');
  const file = path.join(dir, 'compare.json');
  fs.writeFileSync(file, JSON.stringify(comparison, null, 2) + '\n');
  process.stdout.write(`results: ${dir}/etcd*.json ${dir}/raftline*.json ${file}\n`);
}

/** raftline's result file in read mode `mode` (bench/peers/etcd.sh names them so). */
export function raftlineFile(mode: string): string {
  return mode === 'linearizable' ? 'raftline' : `raftline-${mode}`;
}

if (import.meta.url === `file://${process.argv[1]}`) main();
