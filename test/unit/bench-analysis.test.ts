/**
 * The benchmark's analysis: the stage table's waterfall layout and shares, the verdict's choice
 * of limit, the least-squares slope of resident memory, and the /proc sampler on this process
 * (a busy loop on the main thread must show as main-thread CPU).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stageTableFromMetrics, type StageTable } from '../../bench/stage-table.js';
import { verdictOf, type VerdictInput } from '../../bench/verdict.js';
import { ProcSampler, slopePerSecond, type ProcessUsage } from '../../bench/proc-sampler.js';
import { leaderStageNames, type MetricsSnapshot, type HistogramSnapshot } from '../../src/metrics/types.js';

const summary = (meanUs: number, count = 100): HistogramSnapshot => ({
  count, meanUs, p50Us: meanUs, p90Us: meanUs * 1.5, p99Us: meanUs * 2, p999Us: meanUs * 3, maxUs: meanUs * 4,
});

const memory: MetricsSnapshot['memory'] = { rssBytes: 0, rssAnonBytes: null, rssFileBytes: null, threads: {} };

/** A leader's snapshot whose stages have these means (µs); stages not named take 1 µs. */
function snapshotWith(means: Record<string, number>, extra: Partial<MetricsSnapshot> = {}): MetricsSnapshot {
  return {
    serverId: 'n1', role: 'leader', term: 3, takenAtMs: 0, profiling: true,
    stages: leaderStageNames.map((name) => ({ name, ...summary(means[name] ?? 1) })),
    followers: {}, followerStages: [], counters: {}, gauges: {}, memory, ...extra,
  };
}

test('metrics snapshot: logSync follows logWrite, replicate runs beside both, queue and service splits are kept', () => {
  const means: Record<string, number> = {
    receive: 10, startTransaction: 5, admit: 5, preAppend: 20, logWrite: 30, logSync: 200, replicate: 400, commit: 10,
    applySerial: 20, apply: 50, reply: 10, total: 600,
  };
  const snapshot: MetricsSnapshot = {
    serverId: 'n2', role: 'leader', term: 3, takenAtMs: 0, profiling: true,
    stages: leaderStageNames.map((name) => ({
      name, ...summary(means[name]!),
      ...(name === 'logSync' ? { queue: summary(150), service: summary(50) } : {}),
    })),
    followers: { n1: { replicate: summary(380), matchIndex: 10, inFlightRequests: 1, inFlightBytes: 100 } },
    followerStages: [], counters: { committed: 100 }, gauges: { pending: 3 }, memory,
  };
  const table = stageTableFromMetrics(snapshot);
  const start = (name: string): number => table.rows.find((row) => row.name === name)!.startUs;
  assert.equal(start('preAppend'), 20);
  assert.equal(start('logWrite'), 40);
  assert.equal(start('logSync'), 70);
  assert.equal(start('replicate'), 40);
  assert.equal(start('commit'), 440, 'commit starts when the longer of sync (270) and replicate (440) ends');
  assert.equal(start('reply'), 520);
  assert.deepEqual(table.rows.find((row) => row.name === 'logSync')!.queue, { meanUs: 150, p50Us: 150, p99Us: 300 });
  assert.deepEqual(table.followers, [{ id: 'n1', p50Us: 380, p99Us: 760, count: 100 }]);
});

const usage = (id: string, pid: number, cpuPercent: number, mainThreadCpuPercent: number): ProcessUsage => ({
  id, pid, cpuPercent, mainThreadCpuPercent, threads: [{ tid: pid, name: 'node', cpuPercent: mainThreadCpuPercent }], contextSwitches: 0,
  rss: { series: [], firstMiB: 0, lastMiB: 0, maxMiB: 0, slopeMiBPerMinute: 0, flat: null },
});

function input(overrides: Partial<VerdictInput>, stages: StageTable | null = null): VerdictInput {
  return {
    stages, processes: [usage('n1', 10, 60, 40), usage('n2', 11, 30, 20), usage('n3', 12, 30, 20)],
    machine: { cpus: 2, busyPercent: 70 }, leaderId: 'n1', actors: 'workers', outstanding: 256, fsync: true, ...overrides,
  };
}

test('verdict: a leader main thread near a full core is the event loop, whatever the stages say', () => {
  const verdict = verdictOf(input({ processes: [usage('n1', 10, 130, 97), usage('n2', 11, 40, 20)], actors: 'inline' }));
  assert.equal(verdict.limit, 'leader event loop');
  assert.match(verdict.line, /97% of a core/);
  assert.match(verdict.option, /--actors workers/);
});

test('verdict: a busy machine is CPU-bound, unless most of the busy time is other processes', () => {
  assert.equal(verdictOf(input({ machine: { cpus: 2, busyPercent: 98 }, processes: [usage('n1', 10, 80, 60), usage('n2', 11, 50, 20), usage('n3', 12, 50, 20)] })).limit, 'machine CPU');
  assert.equal(verdictOf(input({ machine: { cpus: 2, busyPercent: 98 }, processes: [usage('n1', 10, 10, 5), usage('n2', 11, 10, 5)] })).limit, 'other processes');
});

test('verdict: otherwise the largest stage names the limit; replication that waits on the leader\'s own sync is the disk', () => {
  const syncBound = stageTableFromMetrics(snapshotWith({ admit: 50, logSync: 900, replicate: 1000, commit: 10, apply: 100, reply: 20, total: 1200 }));
  const verdict = verdictOf(input({}, syncBound));
  assert.equal(verdict.limit, 'disk sync');
  assert.match(verdict.option, /--unsafe-no-fsync/);
  const networkBound = stageTableFromMetrics(snapshotWith({ admit: 50, logSync: 200, replicate: 1000, commit: 10, apply: 100, reply: 20, total: 1200 }));
  assert.equal(verdictOf(input({}, networkBound)).limit, 'replication round trip');
  const applyBound = stageTableFromMetrics(snapshotWith({ admit: 50, logSync: 200, replicate: 300, apply: 2000, reply: 20, total: 2400 }));
  assert.equal(verdictOf(input({}, applyBound)).limit, 'apply');
  assert.equal(verdictOf(input({ outstanding: 1 }, applyBound)).limit, 'concurrency');
});

test('slope: least squares over (seconds, MiB)', () => {
  assert.equal(slopePerSecond([[0, 100], [1, 102], [2, 104], [3, 106]]), 2);
  assert.equal(slopePerSecond([[0, 50], [10, 50], [20, 50]]), 0);
  assert.equal(slopePerSecond([[5, 1]]), 0);
});

test('proc sampler: a busy main thread shows as main-thread CPU of this process, with its resident memory', { skip: !ProcSampler.available() && 'no /proc' }, async () => {
  const sampler = new ProcSampler([{ id: 'self', pid: process.pid }], 2);
  sampler.start();
  sampler.markWarmupEnd();
  const endMs = Date.now() + 400;
  let spins = 0;
  while (Date.now() < endMs) spins++;
  const { processes, machine } = sampler.stop();
  const self = processes[0]!;
  assert.ok(spins > 0);
  assert.ok(self.mainThreadCpuPercent >= 10, `main thread ${self.mainThreadCpuPercent}% while spinning`);
  // The process's ticks and its threads' are read one after the other: allow a tick (10 ms) apart at each end.
  assert.ok(self.cpuPercent + 5 >= self.mainThreadCpuPercent, `process ${self.cpuPercent}%, main thread ${self.mainThreadCpuPercent}%`);
  assert.equal(self.threads[0]!.tid, process.pid, 'the spinning main thread is the busiest');
  assert.ok(self.rss.series.length >= 2 && self.rss.lastMiB > 10, 'VmRSS sampled');
  assert.equal(self.rss.flat, null, 'too short to tell');
  assert.ok(machine !== null && machine.busyPercent > 0);
});

test('proc sampler: a thread that sleeps and wakes again counts a context switch each time', { skip: !ProcSampler.available() && 'no /proc' }, async () => {
  const sampler = new ProcSampler([{ id: 'self', pid: process.pid }], 2);
  sampler.markWarmupEnd();
  const sleeps = 40;
  for (let i = 0; i < sleeps; i++) await new Promise((resolve) => setTimeout(resolve, 2));
  const counted = sampler.stop().processes[0]!.contextSwitches;
  // A timer already due when the loop looks needs no sleep, so a few sleeps may not switch.
  assert.ok(counted >= sleeps / 2, `${sleeps} sleeps counted ${counted} context switches`);
});

test('load series: per-second percentiles stay the same after a second is sealed, and a late report still adds its counts', async () => {
  const { LoadSeries } = await import('../../bench/load-series.js');
  const { newLatencyHistogram, latencyBucketCount } = await import('../../bench/latency.js');
  const hdr = await import('hdr-histogram-js');
  const report = (second: number, latencyUs: number, count: number) => {
    const histogram = newLatencyHistogram();
    for (let i = 0; i < count; i++) histogram.recordValue(latencyUs + i);
    const empty = newLatencyHistogram();
    return {
      second, writes: count, reads: 0, failed: 0, writeHistogram: hdr.encodeIntoCompressedBase64(histogram),
      readHistogram: hdr.encodeIntoCompressedBase64(empty), writeBuckets: new Array<number>(latencyBucketCount).fill(0),
    };
  };
  const series = new LoadSeries(2);
  // Second s has 100 writes at (s + 1) ms and up; two generators report each second.
  for (let second = 0; second < 40; second++) {
    series.add(report(second, (second + 1) * 1000, 50));
    series.add(report(second, (second + 1) * 1000 + 50, 50));
  }
  const points = series.points();
  assert.equal(points.length, 40);
  for (const point of points) {
    assert.equal(point.writesPerSecond, 100);
    // p50 of values (s+1)*1000 + [0, 100) is about (s+1)*1000 + 50 µs (3 significant digits),
    // whether sealed (early seconds) or not.
    const expectedMs = point.second + 1 + 0.05;
    assert.ok(Math.abs(point.p50Ms - expectedMs) <= expectedMs * 0.001 + 0.002, `second ${point.second}: p50 ${point.p50Ms}`);
    assert.ok(point.p99Ms >= point.p90Ms && point.p90Ms >= point.p50Ms);
  }
  // A late report for a sealed second: counted, its percentiles keep their sealed values.
  const before = points[3]!;
  series.add(report(3, 500_000, 10));
  const after = series.points()[3]!;
  assert.equal(after.writesPerSecond, 110);
  assert.equal(after.p99Ms, before.p99Ms);
  assert.equal(series.second(39).writes, 100);
  assert.equal(series.measuredWrites.totalCount, 38 * 100 + 10);
});

test('etcd side by side: each round has its ratio, the median is the middle round (or the mean of the middle two)', async () => {
  const { compareRounds, formatComparison, median } = await import('../../bench/peers/etcd-compare.js');
  const side = (writesPerSecond: number, p50: number) => ({ writesPerSecond, latencyMs: { p50, p99: p50 * 3, max: p50 * 5 } });
  const comparison = compareRounds([
    { etcd: side(4000, 60), raftline: side(32000, 8) },
    { etcd: side(3000, 80), raftline: side(36000, 6) },
    { etcd: side(5000, 50), raftline: side(30000, 9) },
  ]);
  assert.deepEqual(comparison.rounds.map((round) => round.throughputRatio), [8, 12, 6]);
  assert.equal(comparison.medianThroughputRatio, 8);
  assert.equal(comparison.rounds[1]!.p50Ratio, 6 / 80);
  assert.equal(median([6, 12, 8, 10]), 9);
  const text = formatComparison(comparison);
  assert.match(text, /round 2\n.*etcd +3000 writes\/s/);
  assert.match(text, /median ratio over 3 rounds: 8\.0x \(rounds: 8\.0, 12\.0, 6\.0\)/);
  const single = formatComparison(compareRounds([{ etcd: side(4000, 60), raftline: side(32000, 8) }]));
  assert.doesNotMatch(single, /round|median/);
  assert.match(single, /ratio +8\.0x the writes\/s of etcd/);
  assert.doesNotMatch(single, /reads\/s/, 'no reads, no read figures');
});

test('etcd side by side with reads: reads/s and read latency beside the writes, per raftline read mode, with their ratios', async () => {
  const { compareRounds, formatComparison, raftlineFile } = await import('../../bench/peers/etcd-compare.js');
  const side = (writesPerSecond: number, readsPerSecond: number, readP50: number) => ({
    writesPerSecond, latencyMs: { p50: 10, p99: 30, max: 50 }, readsPerSecond, readLatencyMs: { p50: readP50, p99: readP50 * 4, max: readP50 * 9 },
  });
  const comparison = compareRounds([
    { etcd: side(200, 2000, 40), raftline: side(1000, 20000, 20), modes: { lease: side(1500, 40000, 8), follower: side(1200, 30000, 15) } },
    { etcd: side(100, 1000, 50), raftline: side(800, 16000, 25), modes: { lease: side(1000, 50000, 7), follower: side(900, 20000, 18) } },
  ]);
  const [first] = comparison.rounds;
  assert.equal(first!.mode, 'linearizable');
  assert.equal(first!.readsRatio, 10);
  assert.equal(first!.operationsRatio, 21000 / 2200);
  assert.deepEqual(first!.modes.map((mode) => [mode.mode, mode.readsRatio]), [['lease', 20], ['follower', 15]]);
  assert.deepEqual(comparison.medianReadsRatio, { linearizable: 13, lease: 35, follower: 17.5 });
  const text = formatComparison(comparison);
  assert.match(text, /etcd +200 writes\/s.*\n +2000 reads\/s +p50 40 ms/);
  assert.match(text, /raftline lease +1500 writes\/s.*\n +40000 reads\/s +p50 8 ms.*\nratio +7\.5x the writes\/s of etcd.*20\.0x its reads\/s/);
  assert.match(text, /median reads\/s ratio, lease: 35\.0x/);
  // Reads only: no write figures, and no NaN ratios.
  const readsOnly = formatComparison(compareRounds([{ etcd: side(0, 6000, 40), raftline: side(0, 120000, 2) }]));
  assert.doesNotMatch(readsOnly, /writes\/s|NaN/);
  assert.match(readsOnly, /raftline +120000 reads\/s.*\nratio +20\.0x its reads\/s/);
  assert.equal(raftlineFile('linearizable'), 'raftline');
  assert.equal(raftlineFile('lease'), 'raftline-lease');
});

test('TLS against plaintext: each pair\'s ratios, their medians per number of outstanding writes, and the throughput cost', async () => {
  const { compareTls, formatTls } = await import('../../bench/tls-compare.js');
  const side = (writesPerSecond: number, p50: number, cpu: number | null) => ({ writesPerSecond, latencyMs: { p50, p99: p50 * 4 }, serverCpuUsPerWrite: cpu });
  const comparison = compareTls([
    { round: 1, outstanding: 256, plain: side(40000, 5, 30), tls: side(36000, 5.5, 33) },
    { round: 1, outstanding: 1, plain: side(1000, 0.8, 100), tls: side(900, 1, null) },
    { round: 2, outstanding: 256, plain: side(30000, 6, 30), tls: side(30000, 6, 36) },
  ]);
  assert.equal(comparison.pairs[0]!.throughputRatio, 0.9);
  assert.equal(comparison.pairs[0]!.cpuRatio, 1.1);
  assert.equal(comparison.pairs[1]!.cpuRatio, null, 'no CPU figure on one side: no CPU ratio');
  assert.equal(comparison.medians['256']!.throughputRatio, 0.95);
  assert.ok(Math.abs(comparison.medians['256']!.throughputCost - 0.05) < 1e-9);
  assert.equal(comparison.medians['256']!.cpuRatio, 1.15);
  assert.equal(comparison.medians['1']!.cpuRatio, null);
  const text = formatTls(comparison);
  assert.match(text, /round 2, 256 outstanding\n  plaintext +30000 writes\/s/);
  assert.match(text, /median over the rounds, 256 outstanding: TLS writes\/s 0\.95x plaintext \(cost 5\.0 %\)/);
});

test('snapshot series: a poll that sees a counter grow makes an event, placed by the new manifest\'s time, or else from the poll before less its duration', async () => {
  const { SnapshotSeries } = await import('../../bench/snapshot-series.js');
  const counters = (taken: number, bytes: number, ms: number, installed = 0, sent = 0) => ({
    snapshotsTaken: taken, snapshotBytes: bytes, snapshotMs: ms, snapshotsInstalled: installed, snapshotInstallBytes: installed * 500,
    snapshotInstallMs: installed * 40, snapshotsSent: sent, snapshotSendBytes: sent * 900, snapshotSendMs: sent * 250,
  });
  const dir = (bytes: number, ...snapshots: [number, number][]) => ({ bytes, snapshots: snapshots.map(([index, endS]) => ({ index, endS })) });
  const series = new SnapshotSeries();
  series.add('n1', 0.5, counters(0, 0, 0), 100, dir(4096));
  series.add('n1', 1.5, counters(0, 0, 0), 200, dir(8192));
  // One taken, its manifest written at 2.2 s: in progress the 300 ms before.
  series.add('n1', 2.5, counters(1, 1000, 300), 300, dir(12_288, [100, 2.2]));
  // No directory (--peers): the span runs from the poll before less the duration.
  series.add('n2', 2.5, counters(0, 0, 0), 50, null);
  series.add('n2', 3.5, counters(0, 0, 0, 2), 60, null);
  // Answered out of order: older counters, later time; only its sizes count.
  series.add('n1', 2.6, counters(0, 0, 0), 310, dir(12_288, [100, 2.2]));
  // Two taken but one new manifest by the time the counters were read (the one at 5.6 s comes after): placed by the polls.
  series.add('n1', 5.5, counters(3, 4000, 700), 150, dir(8192, [100, 2.2], [200, 3.1], [300, 5.6]));
  // The manifest at 5.6 s ends the next one taken; a snapshot sent is always placed by the polls.
  series.add('n1', 6.5, counters(4, 5000, 800, 0, 1), 160, dir(8192, [200, 3.1], [300, 5.6]));
  assert.deepEqual(series.events.map((event) => [event.server, event.kind, event.second, event.fromS, event.atS, event.count, event.ms, event.bytes, event.placedBy]), [
    ['n1', 'taken', 2, 1.9, 2.2, 1, 300, 1000, 'manifest'],
    ['n2', 'installed', 3, 2.42, 3.5, 2, 80, 1000, 'poll'],
    ['n1', 'taken', 5, 2.1, 5.5, 2, 400, 3000, 'poll'],
    ['n1', 'taken', 5, 5.5, 5.6, 1, 100, 1000, 'manifest'],
    ['n1', 'sent', 6, 5.25, 6.5, 1, 250, 900, 'poll'],
  ]);
  const points = [0, 1, 2, 3, 4, 5].map((second) => ({
    second, warmup: second < 2, writesPerSecond: 1000 * (second + 1), readsPerSecond: 0, failed: 0, p50Ms: 1, p90Ms: 1, p99Ms: 1,
  }));
  const figures = series.figures(points, 3, 6);
  assert.deepEqual(figures.servers['n1']!.taken, { count: 3, bytes: 4000, ms: 500 }, 'the measured part only (ended from 3 s on)');
  assert.deepEqual(figures.servers['n1']!.sent, { count: 1, bytes: 900, ms: 250 });
  assert.deepEqual(figures.servers['n2']!.installed, { count: 2, bytes: 1000, ms: 80 });
  assert.deepEqual(figures.dataDirMaxBytes, { n1: 12_288 });
  assert.deepEqual(figures.logMaxBytes, { n1: 310, n2: 60 });
  assert.equal(figures.throughputDuringSnapshots.duringSeconds, 3, 'seconds 3 to 5 overlap a span');
  assert.deepEqual(series.series().logBytes['n2'], [[2.5, 50], [3.5, 60]]);
});

test('snapshot throughput: measured seconds that overlap an event\'s span are "during", the rest "without", each the mean of its seconds', async () => {
  const { throughputSplit, formatThroughputSplit } = await import('../../bench/snapshot-series.js');
  const writes = [900, 1000, 1000, 800, 1000, 1000, 700, 1000, 1000, 1000];
  const points = writes.map((writesPerSecond, second) => ({
    second, warmup: second < 2, writesPerSecond, readsPerSecond: 0, failed: 0, p50Ms: 1, p90Ms: 1, p99Ms: 1,
  }));
  // Seconds 3 and 6 hold a snapshot each (one span ends exactly at 6: second 6 is not in it); one in the warm-up is left out.
  const events = [{ fromS: 0.5, atS: 1.2 }, { fromS: 3.4, atS: 3.9 }, { fromS: 5.2, atS: 6 }, { fromS: 6.1, atS: 6.6 }];
  const split = throughputSplit(points, events, 2, 9);
  assert.deepEqual(split, {
    duringSeconds: 3, duringWritesPerSecond: Math.round((800 + 1000 + 700) / 3),
    withoutSeconds: 4, withoutWritesPerSecond: 1000, ratio: Math.round((833 / 1000) * 1000) / 1000,
  });
  assert.equal(formatThroughputSplit(split), 'writes/s 833 in 3 s with one in progress, 1000 in 4 s without (83.3%)');
  const none = throughputSplit(points, [], 2, 9);
  assert.equal(none.duringSeconds, 0);
  assert.equal(none.ratio, null);
  assert.equal(formatThroughputSplit(none), 'no measured second with one in progress');
});

test('line chart markers: a dashed line per marker with its title, labels that would overlap left out (all where the markers are dense), one legend entry per label', async () => {
  const { lineChart } = await import('../../bench/svg-plot.js');
  const svg = lineChart('t', 'title', 's', 'y', [{ name: 'writes/s', color: '#000', points: [[1, 10], [2, 20], [100, 30]] }], 0, [
    { x: 10, label: 'taken', color: '#0a0', title: 'n1 taken <300 ms>' },
    { x: 10.2, label: 'taken', color: '#0a0', title: 'n2' },
    { x: 10.4, label: 'taken', color: '#0a0', title: 'n3' },
    { x: 10.6, label: 'installed', color: '#a0a', title: 'n3' },
    { x: 120, label: 'taken', color: '#0a0', title: 'late' },
  ]);
  assert.equal(svg.match(/<line [^>]*class="marker"/g)?.length, 5);
  assert.match(svg, /<title>n1 taken &lt;300 ms&gt;<\/title>/);
  assert.equal(svg.match(/class="marker-label"/g)?.length, 2, 'the first near x 10 (the others would overlap it), and the one at 120');
  assert.match(svg, /stroke-dasharray="3 2"\/><text [^>]*>installed<\/text>/, 'the legend names the marker labels');
  assert.match(svg, /<line x1="704.0" x2="704.0" [^>]*class="marker"/, 'the x axis reaches the last marker: it is at the right edge');
  const dense = lineChart('t', 'title', 's', 'y', [], 0, Array.from({ length: 40 }, (_, i) => ({ x: i, label: 'taken', color: '#0a0', title: `${i}` })));
  assert.equal(dense.match(/class="marker"/g)?.length, 40);
  assert.equal(dense.match(/class="marker-label"/g), null, 'too many to label: the legend names them');
});
