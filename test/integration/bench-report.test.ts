/**
 * `raftline bench --report`: a short real run of a 3-process cluster writes the HTML report and
 * the JSON result; the report is opened in headless Chromium (Debian's `chromium`, driven by
 * playwright-core) and every plot must render: SVG elements with a non-zero size, line paths
 * through the data points, stage bars, histogram bars, and no console or page errors. The servers
 * take a snapshot every 1000 entries, so every one of them takes some: the JSON has the events,
 * the report marks them on the throughput plot and counts them in its snapshot table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { testPort } from '../support/ports.js';
import { runCli } from '../support/cli.js';

const chromiumPath = '/usr/bin/chromium';

interface PlotCheck {
  width: number;
  height: number;
  seriesPoints: number[];
  bars: number;
  barWidths: number[];
}

test('bench --report: the HTML report renders every plot in Chromium, and --json holds every figure', {
  timeout: 90_000, skip: fs.existsSync(chromiumPath) ? false : `${chromiumPath} is not installed (apt-get install chromium)`,
}, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-bench-report-'));
  const reportFile = path.join(dir, 'report.html');
  const jsonFile = path.join(dir, 'bench.json');
  try {
    const run = await runCli(['bench', '--nodes', '3', '--outstanding', '16', '--size', '128', '--duration', '3', '--warmup', '1',
      '--reads', '0.2', '--snapshot-every', '1000', '--base-port', String(testPort(19761)), '--json', jsonFile, '--report', reportFile], { timeoutMs: 60_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /limit: /, 'the verdict line is printed');

    const json = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as {
      writesPerSecond: number; latencyMs: Record<string, number>; acknowledged: number; reads: number;
      stages: { rows: { name: string; p50Us: number; p99Us: number; sharePercent: number }[]; total: { count: number } };
      series: {
        seconds: { second: number; writesPerSecond: number; p99Ms: number }[]; rssMiB: Record<string, [number, number][]>;
        memoryMiB: Record<string, [number, number, number, number][]>;
      };
      memoryParts: {
        id: string; threadsMiB: Record<string, number>;
        heaps: { lastMiB: number }; arrayBuffers: { lastMiB: number }; rest: { lastMiB: number };
      }[];
      machine: { cpus: number; node: string }; versions: Record<string, string>; configuration: { fsync: boolean; clients: number };
      verdict: { limit: string; line: string };
      incidents: Record<string, Record<string, number>>;
      snapshots: {
        servers: Record<string, Record<'taken' | 'installed' | 'sent', { count: number; bytes: number; ms: number }>>;
        events: { second: number; atS: number; fromS: number; server: string; kind: string; count: number; ms: number; bytes: number }[];
        dataDirMaxBytes: Record<string, number>; logMaxBytes: Record<string, number>;
        throughputDuringSnapshots: { duringSeconds: number; duringWritesPerSecond: number | null; withoutSeconds: number; withoutWritesPerSecond: number | null; ratio: number | null };
      };
    };
    assert.ok(json.writesPerSecond > 0);
    assert.deepEqual(json.incidents, {}, 'a clean run: no connection or peer message refused, no follower reset, no log tail cut');
    assert.match(run.stdout, /incidents +none/);
    assert.deepEqual(Object.keys(json.latencyMs).filter((key) => key !== 'mean'), ['p50', 'p90', 'p99', 'p999', 'max']);
    assert.ok(json.latencyMs['p50']! > 0 && json.latencyMs['p50']! <= json.latencyMs['p99']! && json.latencyMs['p99']! <= json.latencyMs['max']!);
    assert.ok(json.reads > 0, 'a fifth of the requests were linearizable reads');
    assert.ok(json.stages.rows.length >= 5 && json.stages.total.count > 0, 'the leader reported its stages');
    assert.ok(json.series.seconds.length >= 4, 'one point per second of warm-up and load');
    assert.equal(json.series.seconds.reduce((sum, point) => sum + point.writesPerSecond, 0), json.acknowledged,
      'the time series adds up to the acknowledged writes');
    assert.equal(json.configuration.fsync, true);
    assert.ok(json.machine.cpus > 0 && json.machine.node.startsWith('v'));
    assert.ok(json.versions['raftline'] && json.versions['msgpackr']);
    for (const id of ['n1', 'n2', 'n3']) assert.ok((json.series.rssMiB[id]?.length ?? 0) >= 3, `rss samples of ${id}`);
    // The servers' own memory figures split each resident set: heaps and buffers within it.
    assert.deepEqual(json.memoryParts.map((parts) => parts.id).sort(), ['n1', 'n2', 'n3']);
    for (const parts of json.memoryParts) {
      assert.deepEqual(Object.keys(parts.threadsMiB).sort(), ['appender', 'log', 'main', 'updater'], `${parts.id}: a heap per thread`);
      const rss = json.series.memoryMiB[parts.id]!.at(-1)![1];
      assert.ok(parts.heaps.lastMiB > 0 && parts.rest.lastMiB > 0 && parts.heaps.lastMiB + parts.arrayBuffers.lastMiB + parts.rest.lastMiB <= rss + 0.2,
        `${parts.id}: heaps ${parts.heaps.lastMiB} + buffers ${parts.arrayBuffers.lastMiB} + rest ${parts.rest.lastMiB} make up ${rss}`);
    }
    // Snapshots: every server took some in the measured part; each poll that saw one is an event.
    assert.equal((json.configuration as { snapshotEvery?: number }).snapshotEvery, 1000);
    for (const id of ['n1', 'n2', 'n3']) {
      assert.ok(json.snapshots.servers[id]!.taken.count > 0 && json.snapshots.servers[id]!.taken.bytes > 0, `${id} took snapshots: ${JSON.stringify(json.snapshots.servers[id])}`);
      const events = json.snapshots.events.filter((event) => event.server === id && event.kind === 'taken');
      assert.ok(events.length > 0 && events.every((event) => event.count > 0 && event.bytes > 0 && event.fromS <= event.atS && event.second === Math.floor(event.atS)));
      assert.ok(json.snapshots.dataDirMaxBytes[id]! > 0 && json.snapshots.logMaxBytes[id]! > 0, `${id}: sizes`);
    }
    // The split is the series' measured seconds (1 to 3), each with or without an event's span over it.
    const measured = json.series.seconds.filter((point) => point.second >= 1 && point.second < 4);
    const busy = measured.filter((point) => json.snapshots.events.some((event) => event.fromS < point.second + 1 && event.atS > point.second));
    const split = json.snapshots.throughputDuringSnapshots;
    assert.equal(split.duringSeconds, busy.length);
    assert.equal(split.duringSeconds + split.withoutSeconds, measured.length);
    if (busy.length > 0) assert.equal(split.duringWritesPerSecond, Math.round(busy.reduce((sum, point) => sum + point.writesPerSecond, 0) / busy.length));
    assert.match(run.stdout, /snapshots +taken n1 \d+, n2 \d+, n3 \d+ \(mean \d+ ms, [\d.]+ MiB\); installed \d+; sent \d+ .*max data dir MiB n1 /);
    assert.match(run.stdout, /rss parts MiB +n\d V8 heaps [\d.]+->[\d.]+ \([+-][\d.]+\/min\) \[main /, 'the parts are printed');

    const html = fs.readFileSync(reportFile, 'utf8');
    assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'the report loads nothing from the network');
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('request', (request) => { if (!request.url().startsWith('file:')) errors.push(`network request ${request.url()}`); });
      await page.goto(`file://${reportFile}`);
      const plots: Record<string, PlotCheck> = {};
      for (const figure of await page.locator('figure').all()) {
        const box = await figure.locator('svg').boundingBox();
        const paths = await figure.locator('path.series').all();
        const bars = await figure.locator('rect.stage-bar, rect.bar').all();
        const barBoxes = await Promise.all(bars.map((bar) => bar.boundingBox()));
        plots[(await figure.getAttribute('id'))!] = {
          width: box?.width ?? 0, height: box?.height ?? 0,
          seriesPoints: await Promise.all(paths.map(async (line) =>
            ((await line.getAttribute('d')) ?? '').split(/[ML]/).filter((part) => part.trim().length > 0).length)),
          bars: bars.length,
          barWidths: barBoxes.map((barBox) => barBox?.width ?? 0),
        };
      }
      assert.deepEqual(Object.keys(plots).sort(), ['histogram', 'latency', 'memory', 'memory-parts', 'storage', 'throughput', 'waterfall']);
      for (const [id, plot] of Object.entries(plots)) assert.ok(plot.width > 100 && plot.height > 100, `${id} has a size`);
      assert.equal(plots['throughput']!.seriesPoints.length, 2, 'writes/s and reads/s');
      for (const points of plots['throughput']!.seriesPoints) assert.ok(points >= 4, 'a point per second');
      assert.equal(plots['latency']!.seriesPoints.length, 3, 'p50, p90, p99');
      // Dashed markers where snapshots were taken (one per burst of the servers' ends), named in the legend; a table row per server.
      const markers = page.locator('#throughput line.marker[data-marker="taken"]');
      const takenEnds = json.snapshots.events.filter((event) => event.kind === 'taken').map((event) => event.atS);
      assert.ok(await markers.count() >= 1 && await markers.count() <= takenEnds.length, `${await markers.count()} markers for ${takenEnds.length} ends`);
      assert.ok((await markers.first().boundingBox())!.height > 100, 'a marker spans the plot');
      assert.ok(await page.locator('#throughput text', { hasText: /^taken$/ }).count() >= 1, 'labelled taken');
      assert.deepEqual(await page.locator('#snapshots table tbody tr td:first-child').allTextContents(), ['n1', 'n2', 'n3']);
      assert.equal(plots['storage']!.seriesPoints.length, 6, 'data directory and log of three servers');
      assert.equal(plots['memory']!.seriesPoints.length, 4, 'three servers and the load generator');
      assert.equal(plots['memory-parts']!.seriesPoints.length, 6, 'V8 heaps and the rest of three servers');
      for (const points of plots['memory-parts']!.seriesPoints) assert.ok(points >= 2, 'at the end of the warm-up and of the run at least');
      assert.equal(plots['waterfall']!.bars, json.stages.rows.length + 1, 'a bar per stage and the total');
      assert.ok(plots['waterfall']!.barWidths.every((barWidth) => barWidth > 0));
      assert.ok(plots['histogram']!.bars >= 1 && plots['histogram']!.barWidths.every((barWidth) => barWidth > 0));
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
