/**
 * The benchmark's terminal output: the live progress line, and the closing summary — throughput,
 * latency percentiles, snapshots, the per-stage table, CPU, memory and the verdict.
 */
import type { BenchResult } from '../../bench/bench-result.js';
import type { MemoryPart } from '../../bench/memory-series.js';
import { formatIncidents } from '../../bench/incidents.js';
import { formatSnapshots } from '../../bench/snapshot-series.js';

const ms = (value: number): string => value.toFixed(value < 10 ? 2 : 1);
const usAsMs = (us: number): string => (us / 1000).toFixed(3);

export function formatLiveLine(elapsedS: number, totalS: number, warmup: boolean, writesPerSecond: number, p99Ms: number): string {
  return `  ${Math.floor(elapsedS).toString().padStart(String(totalS).length)}/${totalS} s   writes/s ${String(writesPerSecond).padStart(7)}   p99 ${ms(p99Ms)} ms${warmup ? '   (warm-up)' : ''}`;
}

export function formatBench(result: BenchResult): string {
  const config = result.configuration;
  const lines = [
    `raftline bench: ${config.nodes} nodes, actors=${config.actors}, ${config.clients} client${config.clients === 1 ? '' : 's'} x ${config.outstandingPerClient} outstanding, ` +
    `${config.sizeBytes}-byte values, ${config.durationS} s after ${config.warmupS} s warm-up, fsync ${config.fsync ? 'on' : 'OFF (unsafe)'}${config.tls === true ? ', TLS' : ''}` +
    (config.readFraction > 0 ? `, ${Math.round(config.readFraction * 100)}% reads (${config.readMode ?? 'linearizable'})` : '') + `, profiling ${config.profiling ? 'on' : 'off'}`,
    `  writes/s     ${result.writesPerSecond}   (${result.acknowledged} acknowledged, ${result.failed} failed)`,
    `  latency ms   p50 ${ms(result.latencyMs.p50)}   p90 ${ms(result.latencyMs.p90)}   p99 ${ms(result.latencyMs.p99)}   p99.9 ${ms(result.latencyMs.p999)}   max ${ms(result.latencyMs.max)}`,
  ];
  if (result.reads > 0) {
    lines.push(`  reads/s      ${result.readsPerSecond}   latency ms p50 ${ms(result.readLatencyMs.p50)}   p99 ${ms(result.readLatencyMs.p99)}`);
  }
  if (result.serverCpuUsPerWrite !== null) lines.push(`  server CPU   ${result.serverCpuUsPerWrite} µs per write (all threads of all servers)`);
  if (result.batches !== null) {
    const batches = result.batches;
    lines.push(`  batches      ${batches.appendEntriesMean} entries per log append, ${batches.replicationEntriesMean} per acknowledged AppendEntries, ` +
      `${batches.followerEntriesMean} per AppendEntries a follower received`);
  }
  if (result.wakeups !== null) {
    lines.push(`  wake-ups     ${result.wakeups.contextSwitchesPerWrite} context switches per write, ${result.wakeups.contextSwitchesPerBatch} per log append batch (all threads of all servers)`);
  }
  if (result.errors.length > 0) lines.push(`  errors       ${result.errors.join('; ')}`);
  lines.push(`  incidents    ${formatIncidents(result.incidents)}`);
  lines.push(`  snapshots    ${formatSnapshots(result.snapshots)}`);
  const stages = config.profiling ? result.stages : null;
  if (stages) {
    lines.push('', `  leader ${stages.serverId} stage            p50 ms    p99 ms   share   queue p50/p99 ms   service p50/p99 ms`);
    const split = (part: { p50Us: number; p99Us: number } | undefined): string =>
      (part ? `${usAsMs(part.p50Us)}/${usAsMs(part.p99Us)}` : '-').padStart(18);
    for (const row of [...stages.rows, ...(stages.total ? [stages.total] : [])]) {
      lines.push(`  ${row.name}`.padEnd(30) +
        `${usAsMs(row.p50Us).padStart(8)}  ${usAsMs(row.p99Us).padStart(8)}  ${`${row.sharePercent}%`.padStart(6)}  ${split(row.queue)}   ${split(row.service)}${row.parallel ? '   ||' : ''}`);
    }
    if (stages.readRows !== undefined) {
      for (const row of stages.readRows) {
        lines.push(`  ${row.name}`.padEnd(30) +
          `${usAsMs(row.p50Us).padStart(8)}  ${usAsMs(row.p99Us).padStart(8)}  ${`${row.sharePercent}%`.padStart(6)}  ${split(row.queue)}   ${split(row.service)}`);
      }
      const counter = (name: string): number => stages.counters[name] ?? 0;
      const rounds = counter('readRounds');
      lines.push(`  reads: ${rounds} heartbeat rounds, ${rounds === 0 ? 0 : Math.round((counter('readRoundReads') / rounds) * 10) / 10} reads per round, ` +
        `${counter('leaseReads')} on the lease, ${counter('leaseFallbacks')} lease fallbacks, ${counter('queryBatches')} query batches`);
    }
    for (const follower of stages.followers) {
      lines.push(`  replicate to ${follower.id}`.padEnd(30) + `${usAsMs(follower.p50Us).padStart(8)}  ${usAsMs(follower.p99Us).padStart(8)}`);
    }
    for (const side of stages.followerSides) {
      lines.push(`  follower ${side.id}: ` + side.stages.map((stage) => `${stage.name} p50 ${usAsMs(stage.p50Us)} p99 ${usAsMs(stage.p99Us)}`).join(', '));
    }
    const notes = ['share: stage mean over end-to-end mean (a read stage: over readTotal); || runs alongside the others marked so'];
    lines.push(`  (${notes.join('; ')})`);
  }
  if (result.cpu.processes.length > 0) {
    const cpu = result.cpu.processes.map((process) =>
      `${process.id} ${process.cpuPercent}%` + (process.id === 'load' ? '' : ` (main ${process.mainThreadCpuPercent}%, busiest other thread ${process.threads.find((thread) => thread.tid !== process.pid)?.cpuPercent ?? 0}%)`));
    lines.push('', `  cpu, % of a core   ${cpu.join('   ')}`);
    if (result.cpu.machine) lines.push(`  machine            ${result.cpu.machine.busyPercent}% of ${result.cpu.machine.cpus} cores busy`);
  }
  if (result.memory.length > 0) {
    lines.push(`  rss MiB            ${result.memory.map((memory) =>
      `${memory.id} ${memory.firstMiB}->${memory.lastMiB} (${memory.slopeMiBPerMinute >= 0 ? '+' : ''}${memory.slopeMiBPerMinute}/min${memory.id === 'load' ? '' : memory.flat === null ? ', too short to tell' : memory.flat ? ', flat' : ', GROWING'})`).join('   ')}`);
  }
  const signed = (value: number): string => `${value >= 0 ? '+' : ''}${value}`;
  const part = (name: string, value: MemoryPart): string => `${name} ${value.firstMiB}->${value.lastMiB} (${signed(value.slopeMiBPerMinute)}/min)`;
  result.memoryParts.forEach((parts, i) => {
    const threads = Object.entries(parts.threadsMiB).map(([thread, mib]) => `${thread} ${mib}`).join(', ');
    lines.push(`  ${i === 0 ? 'rss parts MiB' : ''.padEnd(13)}      ${parts.id} ${part('V8 heaps', parts.heaps)} [${threads}]   ${part('buffers', parts.arrayBuffers)}   ${part('rest', parts.rest)}`);
  });
  lines.push('', `  ${result.verdict.line}`);
  return lines.join('\n');
}
