/**
 * Per-stage latency on a real 3-process cluster (worker actors, real disk and TCP) under a small
 * load: every leader stage is recorded, in an order that must hold for every write; followers
 * record their side; the leader keeps a replicate histogram per follower; no duration came out
 * negative on any server (the cross-thread clock); the Prometheus endpoint parses and agrees with
 * the metrics RPC; a reset clears histograms but not counters; profiling off records no stage
 * while counters still move.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { testPort } from '../support/ports.js';
import { LocalCluster } from '../../src/cluster/local-cluster.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { defaultLimits } from '../../src/limits.js';
import { encodePut } from '../../src/statemachines/kv-ops.js';
import { followerStageNames, leaderStageNames, type HistogramSnapshot, type MetricsSnapshot, type StageSnapshot } from '../../src/metrics/types.js';

const writeCount = 3000;
const outstanding = 32;

async function load(client: RaftClient, prefix: string): Promise<number> {
  let next = 0;
  let acknowledged = 0;
  const deadline = Date.now() + 60_000;
  const lane = async (): Promise<void> => {
    while (next < writeCount && Date.now() < deadline) {
      await client.send(encodePut(`${prefix}${next++}`, 'v'.repeat(128)));
      acknowledged++;
    }
  };
  await Promise.all(Array.from({ length: outstanding }, lane));
  return acknowledged;
}

function stage<N extends string>(stages: StageSnapshot<N>[], name: N): StageSnapshot<N> {
  const found = stages.find((candidate) => candidate.name === name);
  assert.ok(found, `stage ${name} is in the snapshot`);
  return found;
}

/** Stages and their relations read the snapshot only once every write is replied and on every follower. */
async function settledMetrics(client: RaftClient, address: string): Promise<MetricsSnapshot> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const metrics = await client.metrics(address);
    const lastIndex = metrics.gauges['lastIndex'];
    // Replied writes need only one follower: the other may still be catching up.
    const replicated = Object.values(metrics.followers).every((follower) => follower.matchIndex === lastIndex);
    if (metrics.gauges['pendingRequests'] === 0 && metrics.gauges['updaterQueueEntries'] === 0 && replicated) return metrics;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`server ${address} did not settle`);
}

function httpGet(address: string, pathname: string): Promise<{ status: number; type: string; body: string }> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const request = http.get({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)), path: pathname }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }));
    });
    request.on('error', reject);
    request.setTimeout(5000, () => request.destroy(new Error('metrics endpoint did not answer')));
  });
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A small parser of the text exposition format 0.0.4: comments, samples with labels, values. */
function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  assert.ok(text.endsWith('\n'), 'the exposition ends with a line feed');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
      assert.ok(match, `comment line is HELP or TYPE: ${line}`);
      if (match[1] === 'TYPE') {
        assert.ok(['counter', 'gauge', 'summary', 'histogram', 'untyped'].includes(match[3]!), `known type: ${line}`);
        assert.ok(!types.has(match[2]!), `one TYPE line per family: ${match[2]}`);
        types.set(match[2]!, match[3]!);
      }
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `sample line parses: ${line}`);
    const labels: Record<string, string> = {};
    if (match[2] !== undefined && match[2] !== '') {
      const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
      let consumed = 0;
      for (let label = labelPattern.exec(match[2]); label !== null; label = labelPattern.exec(match[2])) {
        labels[label[1]!] = label[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        consumed = labelPattern.lastIndex;
      }
      assert.equal(consumed, match[2].length, `labels parse: ${match[2]}`);
    }
    const value = Number(match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : match[3]);
    assert.ok(!Number.isNaN(value) || match[3] === 'NaN', `value is a number: ${line}`);
    const family = [...types.keys()].find((name) => match[1] === name || match[1] === `${name}_sum` || match[1] === `${name}_count`);
    assert.ok(family, `sample ${match[1]} follows a TYPE line of its family`);
    samples.push({ name: match[1]!, labels, value });
  }
  return { types, samples };
}

/** For every write, each stage lies within its total, so total's distribution dominates. */
function assertWithinTotal(total: HistogramSnapshot, name: string, part: HistogramSnapshot): void {
  assert.ok(part.p50Us <= total.p50Us, `${name} p50 ${part.p50Us} <= total p50 ${total.p50Us}`);
  assert.ok(part.p99Us <= total.p99Us, `${name} p99 ${part.p99Us} <= total p99 ${total.p99Us}`);
  assert.ok(part.maxUs <= total.maxUs, `${name} max ${part.maxUs} <= total max ${total.maxUs}`);
}

test('3 processes, profiling on: every stage recorded in a consistent order, followers too, Prometheus agrees', { timeout: 180_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-metrics-'));
  const cluster = new LocalCluster({
    nodes: 3, dir, basePort: testPort(18401), metricsBasePort: testPort(18411), logFile: path.join(dir, 'servers.log'),
  });
  const client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 30_000 });
  try {
    cluster.startAll();
    const leader = await cluster.waitForLeader();
    const acknowledged = await load(client, 'on-');
    assert.equal(acknowledged, writeCount);
    const metrics = await settledMetrics(client, leader.address);
    assert.equal(metrics.serverId, leader.id);
    assert.equal(metrics.role, 'leader');
    assert.equal(metrics.profiling, true);
    assert.deepEqual(metrics.stages.map((s) => s.name), [...leaderStageNames]);

    // Every leader stage saw every write (the writes of this run, and nothing counted twice).
    for (const s of metrics.stages) {
      assert.ok(s.count >= writeCount && s.count <= writeCount + 64, `stage ${s.name} counted ${s.count} writes, ${writeCount} sent`);
      if (s.queue !== undefined && s.service !== undefined) {
        assert.equal(s.queue.count, s.count, `${s.name}: queue counted like the stage`);
        assert.equal(s.service.count, s.count, `${s.name}: service counted like the stage`);
        assert.ok(s.queue.maxUs <= s.maxUs && s.service.maxUs <= s.maxUs, `${s.name}: its parts are within it`);
      }
    }
    const total = stage(metrics.stages, 'total');
    for (const s of metrics.stages) if (s.name !== 'total') assertWithinTotal(total, s.name, s);
    // Commit waits for a majority to hold the write: it begins after the first follower's ack, so
    // the leader's replicate stage is within the write's time from append to reply.
    assert.ok(total.p50Us >= stage(metrics.stages, 'replicate').p50Us);
    assert.ok(stage(metrics.stages, 'logSync').service!.p50Us > 0, 'an fdatasync takes time');
    assert.ok(stage(metrics.stages, 'total').p50Us > stage(metrics.stages, 'receive').p50Us);

    // Both followers have a replicate histogram on the leader; they hold every entry between them.
    const followers = cluster.nodes.filter((node) => node.id !== leader.id).map((node) => node.id);
    assert.deepEqual(Object.keys(metrics.followers).sort(), followers.sort());
    for (const id of followers) {
      const follower = metrics.followers[id]!;
      assert.ok(follower.replicate.count >= writeCount, `replicate to ${id} counted ${follower.replicate.count}`);
      assert.ok(follower.replicate.p50Us > 0);
      assert.ok(follower.matchIndex >= writeCount, `match index of ${id}`);
    }
    assert.ok(metrics.counters['writesReplied']! >= writeCount);
    assert.ok(metrics.counters['logSyncs']! > 0);
    assert.ok(metrics.gauges['appendBatchEntriesMean']! >= 1);

    // Followers record their side: receive, logSync, acknowledge.
    for (const node of cluster.nodes.filter((candidate) => candidate.id !== leader.id)) {
      const followerMetrics = await client.metrics(node.address);
      assert.equal(followerMetrics.role, 'follower');
      assert.deepEqual(followerMetrics.followerStages.map((s) => s.name), [...followerStageNames]);
      for (const s of followerMetrics.followerStages) {
        assert.ok(s.count >= writeCount, `follower ${node.id} stage ${s.name} counted ${s.count}`);
      }
      const logSync = stage(followerMetrics.followerStages, 'logSync');
      assert.ok(logSync.service!.p50Us > 0 && logSync.queue!.count === logSync.count);
      assert.equal(followerMetrics.counters['negativeDurations'], 0, `no negative duration on ${node.id}`);
      assert.ok(followerMetrics.counters['entriesReceived']! >= writeCount);
    }
    // The shared clock: no stage on the leader ended before it began, on any thread.
    assert.equal(metrics.counters['negativeDurations'], 0);

    // Memory: the process's resident set, and the heap of every thread (the workers report theirs
    // through the shared board at least once a second), each young generation within the size the
    // server gives its workers and the local cluster its main thread.
    const memory = metrics.memory;
    assert.deepEqual(Object.keys(memory.threads).sort(), ['appender', 'log', 'main', 'updater']);
    let heapsResident = 0;
    for (const [thread, heap] of Object.entries(memory.threads)) {
      assert.ok(heap.usedBytes > 0 && heap.usedBytes <= heap.committedBytes, `${thread}: used ${heap.usedBytes} within committed ${heap.committedBytes}`);
      // V8 counts resident memory by page, committed by space, so resident can exceed committed a little.
      assert.ok(heap.residentBytes > 0 && heap.residentBytes <= heap.committedBytes * 1.25, `${thread}: resident ${heap.residentBytes} near committed`);
      assert.ok(heap.youngBytes > 0 && heap.youngBytes <= 2 * defaultLimits.heapSemiSpaceMb * 1024 * 1024,
        `${thread}: young generation ${heap.youngBytes} bytes, two semi-spaces of ${defaultLimits.heapSemiSpaceMb} MiB at most`);
      assert.ok(heap.ageMs <= 5000, `${thread}: figures ${heap.ageMs} ms old`);
      heapsResident += heap.residentBytes;
    }
    assert.ok(memory.rssBytes > heapsResident, `resident set ${memory.rssBytes} holds the heaps' ${heapsResident}`);
    if (process.platform === 'linux') {
      assert.ok(memory.rssAnonBytes! > heapsResident && memory.rssAnonBytes! + memory.rssFileBytes! <= memory.rssBytes,
        `anonymous ${memory.rssAnonBytes} holds the heaps, anonymous + file ${memory.rssFileBytes} within the resident set`);
    }

    // The Prometheus endpoint parses, and its counts are those of the metrics RPC.
    const response = await httpGet(leader.metricsAddress!, '/metrics');
    assert.equal(response.status, 200);
    assert.match(response.type, /^text\/plain; version=0\.0\.4/);
    const { types, samples } = parsePrometheus(response.body);
    const again = await client.metrics(leader.address);
    assert.equal(types.get('raftline_stage_latency_microseconds'), 'summary');
    for (const s of again.stages) {
      const count = samples.find((sample) => sample.name === 'raftline_stage_latency_microseconds_count' &&
        sample.labels['stage'] === s.name && sample.labels['part'] === 'all' && sample.labels['server'] === leader.id);
      assert.equal(count?.value, s.count, `Prometheus count of ${s.name}`);
      const p99 = samples.find((sample) => sample.name === 'raftline_stage_latency_microseconds' &&
        sample.labels['stage'] === s.name && sample.labels['part'] === 'all' && sample.labels['quantile'] === '0.99');
      assert.equal(p99?.value, s.p99Us, `Prometheus p99 of ${s.name}`);
      for (const quantile of ['0.5', '0.9', '0.99', '0.999']) {
        assert.ok(samples.some((sample) => sample.labels['stage'] === s.name && sample.labels['quantile'] === quantile));
      }
      if (s.queue) {
        const queue = samples.find((sample) => sample.name === 'raftline_stage_latency_microseconds_count' &&
          sample.labels['stage'] === s.name && sample.labels['part'] === 'queue');
        assert.equal(queue?.value, s.queue.count);
      }
    }
    for (const id of followers) {
      const count = samples.find((sample) => sample.name === 'raftline_replicate_latency_microseconds_count' && sample.labels['follower'] === id);
      assert.equal(count?.value, again.followers[id]!.replicate.count, `Prometheus replicate count of ${id}`);
    }
    const replied = samples.find((sample) => sample.name === 'raftline_writes_replied_total');
    assert.equal(types.get('raftline_writes_replied_total'), 'counter');
    assert.equal(replied?.value, again.counters['writesReplied']);
    for (const thread of ['main', 'log', 'appender', 'updater']) {
      const young = samples.find((sample) => sample.name === 'raftline_heap_young_bytes' && sample.labels['thread'] === thread);
      assert.ok(young !== undefined && young.value > 0 && young.value <= 2 * defaultLimits.heapSemiSpaceMb * 1024 * 1024,
        `Prometheus young generation of ${thread}`);
    }
    // Client sessions: the load's client holds one (it is still open), every server counted its open.
    assert.equal(types.get('raftline_sessions_held'), 'gauge');
    assert.equal(types.get('raftline_sessions_opened_total'), 'counter');
    assert.equal(samples.find((sample) => sample.name === 'raftline_sessions_held')?.value, again.gauges['sessionsHeld']);
    assert.ok(again.gauges['sessionsHeld']! >= 1 && again.counters['sessionsOpened']! >= 1, JSON.stringify(again.gauges));
    for (const name of ['raftline_retry_cache_clients', 'raftline_sessions_ended_total', 'raftline_sessions_expired_total']) {
      assert.ok(samples.some((sample) => sample.name === name), `Prometheus has ${name}`);
    }
    const anon = samples.find((sample) => sample.name === 'raftline_resident_bytes' && sample.labels['part'] === 'anon');
    if (process.platform === 'linux') assert.ok(anon !== undefined && anon.value > 0, 'Prometheus anonymous resident bytes');
    assert.equal((await httpGet(leader.metricsAddress!, '/other')).status, 404);

    // A reset clears the histograms after the snapshot it answers; counters keep counting.
    const beforeReset = await client.metrics(leader.address, { reset: true });
    assert.ok(stage(beforeReset.stages, 'total').count >= writeCount);
    const afterReset = await client.metrics(leader.address);
    for (const s of afterReset.stages) assert.equal(s.count, 0, `${s.name} cleared by the reset`);
    assert.equal(afterReset.followers[followers[0]!]!.replicate.count, 0);
    assert.ok(afterReset.counters['writesReplied']! >= writeCount);
  } catch (error) {
    const logFile = path.join(dir, 'servers.log');
    const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
    (error as Error).message += `\nserver log tail:\n${tail}`;
    throw error;
  } finally {
    await client.close();
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('3 processes, profiling off: no stage is recorded, counters and gauges still move', { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-metrics-off-'));
  const cluster = new LocalCluster({ nodes: 3, dir, basePort: testPort(18421), profiling: false, logFile: path.join(dir, 'servers.log') });
  const client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 30_000 });
  try {
    cluster.startAll();
    const leader = await cluster.waitForLeader();
    assert.equal(await load(client, 'off-'), writeCount);
    const metrics = await settledMetrics(client, leader.address);
    assert.equal(metrics.profiling, false);
    for (const s of [...metrics.stages, ...metrics.followerStages]) assert.equal(s.count, 0, `${s.name} not recorded`);
    for (const follower of Object.values(metrics.followers)) assert.equal(follower.replicate.count, 0);
    assert.ok(metrics.counters['writesReceived']! >= writeCount);
    assert.ok(metrics.counters['writesReplied']! >= writeCount);
    assert.ok(metrics.counters['entriesCommitted']! >= writeCount);
    assert.ok(metrics.counters['entriesReplicated']! >= writeCount * 2, 'both followers acknowledged every entry');
    assert.ok(metrics.counters['bytesReceived']! > writeCount * 128);
    assert.ok(metrics.gauges['commitIndex']! >= writeCount);
    for (const node of cluster.nodes.filter((candidate) => candidate.id !== leader.id)) {
      const followerMetrics = await client.metrics(node.address);
      assert.ok(followerMetrics.counters['entriesReceived']! >= writeCount);
      for (const s of followerMetrics.followerStages) assert.equal(s.count, 0);
    }
  } finally {
    await client.close();
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
