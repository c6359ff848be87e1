/**
 * The closing step of bench/tls.sh: reads each round's plaintext and TLS results (`raftline
 * bench --json`) at each number of outstanding writes, prints each pair's ratios and their
 * medians over the rounds, and writes it all to `compare.json` beside them.
 *
 *   node dist/bench/tls-compare.js DIR ROUNDS OUTSTANDING_LIST
 *
 * Files: DIR/plain-o<outstanding>-r<round>.json and DIR/tls-o<outstanding>-r<round>.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { median } from './peers/etcd-compare.js';

/** What this step reads of a run's JSON. */
export interface TlsSide {
  writesPerSecond: number;
  latencyMs: { p50: number; p99: number };
  serverCpuUsPerWrite: number | null;
}

export interface TlsPair {
  round: number;
  outstanding: number;
  plain: TlsSide;
  tls: TlsSide;
  /** TLS over plaintext: writes/s, p50, p99, server CPU per write (null when either lacks it). */
  throughputRatio: number;
  p50Ratio: number;
  p99Ratio: number;
  cpuRatio: number | null;
}

export interface TlsComparison {
  pairs: TlsPair[];
  /** By number of outstanding writes: the medians of the pairs' ratios, and TLS's throughput cost (1 - ratio). */
  medians: Record<string, { throughputRatio: number; p50Ratio: number; p99Ratio: number; cpuRatio: number | null; throughputCost: number }>;
}

export function compareTls(runs: readonly { round: number; outstanding: number; plain: TlsSide; tls: TlsSide }[]): TlsComparison {
  const pairs = runs.map(({ round, outstanding, plain, tls }): TlsPair => ({
    round, outstanding, plain: pick(plain), tls: pick(tls),
    throughputRatio: tls.writesPerSecond / Math.max(1, plain.writesPerSecond),
    p50Ratio: tls.latencyMs.p50 / plain.latencyMs.p50,
    p99Ratio: tls.latencyMs.p99 / plain.latencyMs.p99,
    cpuRatio: tls.serverCpuUsPerWrite === null || plain.serverCpuUsPerWrite === null ? null : tls.serverCpuUsPerWrite / plain.serverCpuUsPerWrite,
  }));
  const medians: TlsComparison['medians'] = {};
  for (const outstanding of new Set(pairs.map((pair) => pair.outstanding))) {
    const at = pairs.filter((pair) => pair.outstanding === outstanding);
    const cpu = at.flatMap((pair) => pair.cpuRatio === null ? [] : [pair.cpuRatio]);
    const throughputRatio = median(at.map((pair) => pair.throughputRatio));
    medians[String(outstanding)] = {
      throughputRatio, p50Ratio: median(at.map((pair) => pair.p50Ratio)), p99Ratio: median(at.map((pair) => pair.p99Ratio)),
      cpuRatio: cpu.length === 0 ? null : median(cpu), throughputCost: 1 - throughputRatio,
    };
  }
  return { pairs, medians };
}

function pick(side: TlsSide): TlsSide {
  return { writesPerSecond: side.writesPerSecond, latencyMs: { p50: side.latencyMs.p50, p99: side.latencyMs.p99 }, serverCpuUsPerWrite: side.serverCpuUsPerWrite };
}

export function formatTls(comparison: TlsComparison): string {
  const side = (name: string, result: TlsSide): string =>
    `  ${name.padEnd(9)} ${String(result.writesPerSecond).padStart(8)} writes/s   p50 ${result.latencyMs.p50} ms   p99 ${result.latencyMs.p99} ms` +
    `   server CPU ${result.serverCpuUsPerWrite ?? '-'} µs/write`;
  const lines: string[] = [];
  for (const pair of comparison.pairs) {
    lines.push(`round ${pair.round}, ${pair.outstanding} outstanding`, side('plaintext', pair.plain), side('TLS', pair.tls),
      `  TLS/plaintext: writes/s ${pair.throughputRatio.toFixed(2)}x, p50 ${pair.p50Ratio.toFixed(2)}x, p99 ${pair.p99Ratio.toFixed(2)}x, ` +
      `CPU per write ${pair.cpuRatio === null ? '-' : `${pair.cpuRatio.toFixed(2)}x`}`);
  }
  lines.push('');
  for (const [outstanding, figures] of Object.entries(comparison.medians)) {
    lines.push(`median over the rounds, ${outstanding} outstanding: TLS writes/s ${figures.throughputRatio.toFixed(2)}x plaintext ` +
      `(cost ${(figures.throughputCost * 100).toFixed(1)} %), p50 ${figures.p50Ratio.toFixed(2)}x, p99 ${figures.p99Ratio.toFixed(2)}x, ` +
      `CPU per write ${figures.cpuRatio === null ? '-' : `${figures.cpuRatio.toFixed(2)}x`}`);
  }
  return lines.join('\n');
}

function main(): void {
  const [dir, roundsText, outstandingText] = process.argv.slice(2);
  const rounds = Number(roundsText);
  const levels = (outstandingText ?? '').split(',').map(Number);
  if (dir === undefined || !Number.isInteger(rounds) || rounds < 1 || levels.some((level) => !Number.isInteger(level) || level < 1)) {
    throw new Error('usage: tls-compare.js DIR ROUNDS OUTSTANDING_LIST (positive integers, the list comma-separated)');
  }
  const read = (side: string, outstanding: number, round: number): TlsSide =>
    JSON.parse(fs.readFileSync(path.join(dir, `${side}-o${outstanding}-r${round}.json`), 'utf8')) as TlsSide;
  const runs = Array.from({ length: rounds }, (_, i) => levels.map((outstanding) => ({
    round: i + 1, outstanding, plain: read('plain', outstanding, i + 1), tls: read('tls', outstanding, i + 1),
  }))).flat();
  const comparison = compareTls(runs);
  process.stdout.write(formatTls(comparison) + '\n');
  const file = path.join(dir, 'compare.json');
  fs.writeFileSync(file, JSON.stringify(comparison, null, 2) + '\n');
  process.stdout.write(`results: ${dir}/plain-*.json ${dir}/tls-*.json ${file}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
