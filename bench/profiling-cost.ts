/**
 * What per-stage profiling costs: `raftline bench` runs alternately with profiling on and off in
 * the servers (same cluster size, load and duration), and the ratio of the median writes/s is
 * printed, with the servers' CPU time per write (all threads): on a busy machine throughput swings
 * with the neighbours, CPU per write much less. Alternating pairs keep the comparison fair.
 *
 * With `together`, each pair runs both clusters at the same time (ports basePort and basePort+10),
 * so that both meet the same neighbours: on a shared machine that is the fairer comparison.
 *
 * Each run measures after the same warm-up as `raftline bench` (8 s): V8 keeps optimizing the
 * once-per-batch code that long, and profiling adds some of it, so a shorter warm-up measures
 * how fast that code gets optimized rather than what profiling costs once it is.
 *
 * Each run is the `raftline bench` command itself, in a child process, read back through its
 * `--json` file: this script drives the CLI and imports none of it.
 *
 *   node dist/bench/profiling-cost.js [pairs=5] [durationS=5] [outstanding=256] [basePort=7101] [alternate|together] [warmupS=8]
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './bench-result.js';

const cliPath = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const jsonDir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-profiling-cost-'));

const [pairs = 5, durationS = 5, outstanding = 256, basePort = 7101] = process.argv.slice(2, 6).map(Number);
const together = process.argv[6] === 'together';
const warmupS = Number(process.argv[7] ?? 8);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const ok = <T>(value: T): PromiseSettledResult<T> => ({ status: 'fulfilled', value });
const notOk = (reason: unknown): PromiseSettledResult<never> => ({ status: 'rejected', reason });

const rates: Record<'on' | 'off', number[]> = { on: [], off: [] };
const cpu: Record<'on' | 'off', number[]> = { on: [], off: [] };
for (let pair = 0; pair < pairs; pair++) {
  // Alternate which setting goes first, so neither always meets the warmer (or busier) machine.
  const order: ('on' | 'off')[] = pair % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
  const run = (setting: 'on' | 'off', port: number): Promise<BenchResult> => {
    const jsonFile = path.join(jsonDir, `pair-${pair}-${setting}.json`);
    const args = [cliPath, 'bench', '--nodes', '3', '--outstanding', String(outstanding), '--size', '128', '--duration', String(durationS),
      '--warmup', String(warmupS), '--actors', 'workers', '--clients', '1', '--base-port', String(port), '--writes-max', '10000000',
      '--profiling', setting, '--no-live', '--json', jsonFile];
    return new Promise((resolve, reject) => {
      execFile(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
        if (error !== null) reject(new Error(`bench with profiling ${setting} failed: ${stderr.trim() || error.message}`));
        else resolve(JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as BenchResult);
      });
    });
  };
  // A pair where either run failed (no leader in time on an overloaded machine) is left out.
  const settled = together
    ? await Promise.allSettled(order.map((setting, i) => run(setting, basePort + i * 10)))
    : [await run(order[0]!, basePort).then(ok, notOk), await run(order[1]!, basePort).then(ok, notOk)];
  const failure = settled.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) {
    process.stdout.write(`pair ${pair + 1} left out: ${String((failure as PromiseRejectedResult).reason)}\n`);
    continue;
  }
  for (const [i, setting] of order.entries()) {
    const result = (settled[i] as PromiseFulfilledResult<BenchResult>).value;
    rates[setting].push(result.writesPerSecond);
    if (result.serverCpuUsPerWrite !== null) cpu[setting].push(result.serverCpuUsPerWrite);
    process.stdout.write(`pair ${pair + 1} profiling ${setting}: ${result.writesPerSecond} writes/s, ` +
      `${result.serverCpuUsPerWrite ?? '?'} µs server CPU per write, p50 ${result.latencyMs.p50.toFixed(2)} ms\n`);
  }
}
fs.rmSync(jsonDir, { recursive: true, force: true });
const on = median(rates.on);
const off = median(rates.off);
const cpuOn = median(cpu.on);
const cpuOff = median(cpu.off);
process.stdout.write(`median writes/s: on ${on}, off ${off}; on/off = ${(on / off).toFixed(3)}\n`);
process.stdout.write(`median server CPU µs per write: on ${cpuOn}, off ${cpuOff}; on/off = ${(cpuOn / cpuOff).toFixed(3)}\n`);
process.stdout.write(JSON.stringify({
  mode: together ? 'together' : 'alternate', pairs, durationS, outstanding, writesPerSecond: rates, serverCpuUsPerWrite: cpu, throughputRatio: on / off, cpuRatio: cpuOn / cpuOff,
}) + '\n');
