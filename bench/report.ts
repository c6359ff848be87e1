/**
 * The benchmark's HTML report: one self-contained page (inline CSS and SVG, no scripts, no
 * external assets) with the figures, the verdict, throughput and latency percentiles over time
 * (snapshot events marked on the throughput), the per-stage waterfall, the snapshots per server,
 * the data directories and logs over time, the latency histogram, resident memory over time, and
 * the tables behind them.
 */
import type { BenchResult } from './bench-result.js';
import { escapeHtml, histogram, lineChart, waterfall, type ChartMarker, type LineSeries } from './svg-plot.js';
import { formatThroughputSplit, snapshotKinds, type SnapshotEvent, type SnapshotKind } from './snapshot-series.js';
import { formatIncidents } from './incidents.js';
import type { MemoryPart } from './memory-series.js';

const palette = ['#2f6db5', '#e08a1e', '#3a9a4a', '#b53f3f', '#7a4fb5', '#555555'];

function table(headers: string[], rows: (string | number)[][]): string {
  return `<table><thead><tr>${headers.map((header) => `<th>${escapeHtml(header)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(String(cell))}</td>`).join('')}</tr>`).join('') +
    '</tbody></table>';
}

const ms = (us: number): string => (us / 1000).toFixed(3);
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

const markerColors: Record<SnapshotKind, string> = { taken: '#3a9a4a', installed: '#7a4fb5', sent: '#b53f3f' };

/**
 * One marker per kind and burst: the servers take their snapshots at about the same index, so
 * their ends fall within a moment of each other; the marker stands at the first end of the burst
 * and its title lists each server's.
 */
function snapshotMarkers(events: readonly SnapshotEvent[]): ChartMarker[] {
  const burstS = 0.5;
  const bursts: SnapshotEvent[][] = [];
  for (const kind of snapshotKinds) {
    for (const event of events.filter((candidate) => candidate.kind === kind).sort((a, b) => a.atS - b.atS)) {
      const last = bursts.at(-1);
      if (last !== undefined && last[0]!.kind === kind && event.atS - last[0]!.atS <= burstS) last.push(event);
      else bursts.push([event]);
    }
  }
  return bursts.map((burst) => ({
    x: burst[0]!.atS, label: burst[0]!.kind, color: markerColors[burst[0]!.kind],
    title: `snapshot ${burst[0]!.kind}: ` +
      burst.map((event) => `${event.server}${event.count > 1 ? ` x${event.count}` : ''} ended by ${event.atS} s, ${event.ms} ms, ${mib(event.bytes)} MiB`).join('; '),
  }));
}

export function renderReport(result: BenchResult): string {
  const config = result.configuration;
  const seconds = result.series.seconds;
  const throughput: LineSeries[] = [
    { name: 'writes/s', color: palette[0]!, points: seconds.map((point) => [point.second + 1, point.writesPerSecond]) },
  ];
  if (result.reads > 0) throughput.push({ name: 'reads/s', color: palette[1]!, points: seconds.map((point) => [point.second + 1, point.readsPerSecond]) });
  const latency: LineSeries[] = [
    { name: 'p50', color: palette[0]!, points: seconds.map((point) => [point.second + 1, point.p50Ms]) },
    { name: 'p90', color: palette[2]!, points: seconds.map((point) => [point.second + 1, point.p90Ms]) },
    { name: 'p99', color: palette[3]!, points: seconds.map((point) => [point.second + 1, point.p99Ms]) },
  ];
  const rss: LineSeries[] = Object.entries(result.series.rssMiB).map(([id, points], i) => ({ id, points, color: palette[i % palette.length]! }))
    .map(({ id, points, color }) => ({ name: id, color, points }));
  const stages = result.stages;
  const plots = [
    lineChart('throughput', 'Throughput over time (dashed: snapshots taken, installed or sent end)', 'seconds', 'requests/s', throughput, config.warmupS,
      snapshotMarkers(result.snapshots.events)),
    lineChart('latency', 'Write latency percentiles over time', 'seconds', 'ms', latency, config.warmupS),
  ];
  if (stages) {
    plots.push(waterfall('waterfall', `Per-stage waterfall (leader ${stages.serverId})`,
      [...stages.rows, ...(stages.total ? [stages.total] : [])]));
  }
  plots.push(histogram('histogram', 'Write latency histogram (measured part)', result.latencyHistogram));
  if (rss.length > 0) plots.push(lineChart('memory', 'Resident memory over time', 'seconds', 'MiB', rss, config.warmupS));
  // Each server's V8 heaps (all threads, resident) and what is resident beside them and their buffers.
  const parts: LineSeries[] = Object.entries(result.series.memoryMiB).flatMap(([id, points], i) => [
    { name: `${id} V8 heaps`, color: palette[i % palette.length]!, points: points.map(([atS, , heaps]): [number, number] => [atS, heaps]) },
    { name: `${id} rest`, color: palette[(i + 3) % palette.length]!, points: points.map(([atS, rssMiB, heaps, buffers]): [number, number] => [atS, rssMiB - heaps - buffers]) },
  ]);
  const storage: LineSeries[] = [
    ...Object.entries(result.series.dataDirBytes).map(([id, points], i) => ({
      name: `${id} dir`, color: palette[i % palette.length]!, points: points.map(([atS, bytes]): [number, number] => [atS, bytes / 2 ** 20]),
    })),
    ...Object.entries(result.series.logBytes).map(([id, points], i) => ({
      name: `${id} log`, color: palette[(i + 3) % palette.length]!, points: points.map(([atS, bytes]): [number, number] => [atS, bytes / 2 ** 20]),
    })),
  ];
  if (storage.length > 0) plots.push(lineChart('storage', 'Each server\'s data directory on disk and its log', 'seconds', 'MiB', storage, config.warmupS));
  if (parts.length > 0) plots.push(lineChart('memory-parts', 'Where the memory is: V8 heaps, and the rest beside heaps and buffers', 'seconds', 'MiB', parts, config.warmupS));

  const summary = table(['figure', 'value'], [
    ['writes/s', result.writesPerSecond],
    ['acknowledged / failed', `${result.acknowledged} / ${result.failed}`],
    ['latency ms p50 / p90 / p99 / p99.9 / max',
      `${result.latencyMs.p50} / ${result.latencyMs.p90} / ${result.latencyMs.p99} / ${result.latencyMs.p999} / ${result.latencyMs.max}`],
    ...(result.reads > 0 ? [['reads/s, p50 / p99 ms', `${result.readsPerSecond}, ${result.readLatencyMs.p50} / ${result.readLatencyMs.p99}`]] : []),
    ['measured seconds', result.measuredS],
    ['incidents', formatIncidents(result.incidents)],
    ['machine', `${result.machine.cpus} x ${result.machine.cpuModel}, ${(result.machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, ${result.machine.os}, Node.js ${result.machine.node}`],
    ['versions', Object.entries(result.versions).map(([name, version]) => `${name} ${version}`).join(', ')],
  ]);
  const stageTable = stages ? table(['stage', 'p50 ms', 'p99 ms', 'share', 'queue p50/p99 ms', 'service p50/p99 ms', 'runs alongside'],
    [...stages.rows, ...(stages.total ? [stages.total] : [])].map((row) => [
      row.name, ms(row.p50Us), ms(row.p99Us), `${row.sharePercent}%`,
      row.queue ? `${ms(row.queue.p50Us)}/${ms(row.queue.p99Us)}` : '-', row.service ? `${ms(row.service.p50Us)}/${ms(row.service.p99Us)}` : '-',
      row.parallel ? 'yes' : '',
    ])) + (stages.followers.length > 0 ? table(['leader to follower', 'replicate p50 ms', 'replicate p99 ms', 'entries'],
      stages.followers.map((follower) => [follower.id, ms(follower.p50Us), ms(follower.p99Us), follower.count])) : '') +
    (stages.followerSides.length > 0 ? table(['follower', 'stage', 'p50 ms', 'p99 ms', 'queue p50/p99 ms', 'service p50/p99 ms'],
      stages.followerSides.flatMap((side) => side.stages.map((stage) => [side.id, stage.name, ms(stage.p50Us), ms(stage.p99Us),
        stage.queue ? `${ms(stage.queue.p50Us)}/${ms(stage.queue.p99Us)}` : '-', stage.service ? `${ms(stage.service.p50Us)}/${ms(stage.service.p99Us)}` : '-']))) : '') : '<p>No stage table.</p>';
  const snapshotFigures = result.snapshots;
  const cell = (total: { count: number; bytes: number; ms: number }): string =>
    (total.count === 0 ? '0' : `${total.count}, ${mib(total.bytes)}, ${Math.round(total.ms / total.count)}`);
  const snapshotTable = table(['server', ...snapshotKinds.map((kind) => `${kind} (n, MiB in all, mean ms)`), 'max data dir MiB', 'max log MiB'],
    Object.entries(snapshotFigures.servers).map(([id, perKind]) => [
      id, ...snapshotKinds.map((kind) => cell(perKind[kind])),
      snapshotFigures.dataDirMaxBytes[id] === undefined ? '-' : mib(snapshotFigures.dataDirMaxBytes[id]!),
      snapshotFigures.logMaxBytes[id] === undefined ? '-' : mib(snapshotFigures.logMaxBytes[id]!),
    ])) +
    `<p class="note">Snapshots in the measured part (${config.snapshotEvery === null ? 'the servers\' own policy' : config.snapshotEvery === 0 ? 'none by count'
      : `one every ${config.snapshotEvery} entries, ${config.logKeep} kept in the log below it`}). ` +
    `Throughput: ${escapeHtml(formatThroughputSplit(snapshotFigures.throughputDuringSnapshots))}; a snapshot counts as in progress for its duration ` +
    'before its manifest was written, or where that is unknown, from the poll before the one that saw it end, less its duration, to that poll.</p>';
  const cpuTable = result.cpu.processes.length > 0 ? table(['process', 'pid', 'cpu % of a core', 'main thread %', 'other threads %', 'rss MiB first → last', 'rss slope MiB/min', 'flat'],
    result.cpu.processes.map((process) => [
      process.id, process.pid, process.cpuPercent, process.mainThreadCpuPercent,
      process.threads.filter((thread) => thread.tid !== process.pid).slice(0, 6).map((thread) => `${thread.tid}: ${thread.cpuPercent}`).join(', '),
      `${process.rss.firstMiB} → ${process.rss.lastMiB}`, process.rss.slopeMiBPerMinute, process.rss.flat === null ? 'too short to tell' : process.rss.flat ? 'yes' : 'no',
    ])) + (result.cpu.machine ? `<p>Machine: ${result.cpu.machine.busyPercent}% of ${result.cpu.machine.cpus} cores busy.</p>` : '') : '<p>No CPU figures (no /proc).</p>';

  const slope = (part: MemoryPart): string => `${part.firstMiB} → ${part.lastMiB} (${part.slopeMiBPerMinute >= 0 ? '+' : ''}${part.slopeMiBPerMinute}/min)`;
  const partsTable = result.memoryParts.length > 0 ? table(['server', 'V8 heaps MiB', 'heap per thread MiB (last)', 'buffers MiB', 'rest MiB'],
    result.memoryParts.map((server) => [server.id, slope(server.heaps),
      Object.entries(server.threadsMiB).map(([thread, mib]) => `${thread} ${mib}`).join(', '), slope(server.arrayBuffers), slope(server.rest)])) : '';

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raftline bench report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1000px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; } th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
figure { margin: 16px 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
.plot .grid { stroke: #e4e4e4; } .plot .axis { stroke: #888; } .plot .tick { font-size: 11px; fill: #444; }
.plot .axis-label { font-size: 12px; fill: #222; } .plot .warmup { fill: #f1f1f1; }
.plot .marker-label { font-size: 10px; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
.verdict { background: #fff6e0; border-left: 4px solid #e08a1e; padding: 8px 12px; } .note { color: #666; }
</style></head>
<body>
<h1>raftline bench — ${result.writesPerSecond} writes/s</h1>
<p>${config.nodes} nodes, actors ${escapeHtml(config.actors)}, ${config.clients} client(s) × ${config.outstandingPerClient} outstanding,
${config.sizeBytes}-byte values, ${config.durationS} s after ${config.warmupS} s warm-up, fsync ${config.fsync ? 'on' : 'OFF (unsafe)'}${config.readFraction > 0 ? `, ${config.readFraction * 100}% reads` : ''}; started ${escapeHtml(result.startedAt)}.</p>
<p class="verdict">${escapeHtml(result.verdict.line)}</p>
${summary}
<h2>Over time</h2>
${plots.slice(0, 2).join('\n')}
<h2>Where a write spends its time</h2>
${stages ? plots[2] : ''}
${stageTable}
<section id="snapshots"><h3>Snapshots</h3>
${snapshotTable}
${plots.find((plot) => plot.includes('id="storage"')) ?? ''}
</section>
<h2>Latency distribution</h2>
${plots.find((plot) => plot.includes('id="histogram"'))}
<h2>CPU and memory</h2>
${plots.find((plot) => plot.includes('id="memory"')) ?? ''}
${plots.find((plot) => plot.includes('id="memory-parts"')) ?? ''}
${cpuTable}
${partsTable}
</body></html>
`;
}
