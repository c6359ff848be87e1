/**
 * A MetricsSnapshot in the Prometheus text exposition format 0.0.4: stage latencies as summaries
 * (quantiles 0.5, 0.9, 0.99, 0.999, with _sum and _count), counters, gauges. Labels: server, stage,
 * part (all, queue, service), follower; memory by thread (main, log, appender, updater).
 */
import type { HistogramSnapshot, MetricsSnapshot, StageSnapshot } from './types.js';
import type { MemorySnapshot, ThreadHeapSnapshot } from './memory.js';

export const prometheusContentType = 'text/plain; version=0.0.4; charset=utf-8';

const quantiles: [string, keyof HistogramSnapshot][] = [['0.5', 'p50Us'], ['0.9', 'p90Us'], ['0.99', 'p99Us'], ['0.999', 'p999Us']];

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Record<string, string>): string {
  return Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(',');
}

/** camelCase to snake_case, for metric names. */
function snake(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

class Family {
  readonly lines: string[] = [];
  constructor(readonly name: string, help: string, type: 'summary' | 'counter' | 'gauge') {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  sample(suffix: string, labels: Record<string, string>, value: number): void {
    this.lines.push(`${this.name}${suffix}{${labelText(labels)}} ${number(value)}`);
  }

  summary(labels: Record<string, string>, histogram: HistogramSnapshot): void {
    for (const [quantile, field] of quantiles) this.sample('', { ...labels, quantile }, histogram[field]);
    this.sample('_sum', labels, histogram.meanUs * histogram.count);
    this.sample('_count', labels, histogram.count);
  }
}

function stageSummaries(family: Family, server: string, stages: readonly StageSnapshot[]): void {
  for (const stage of stages) {
    family.summary({ server, stage: stage.name, part: 'all' }, stage);
    if (stage.queue) family.summary({ server, stage: stage.name, part: 'queue' }, stage.queue);
    if (stage.service) family.summary({ server, stage: stage.name, part: 'service' }, stage.service);
  }
}

export function formatPrometheus(metrics: MetricsSnapshot): string {
  const server = metrics.serverId;
  const families: Family[] = [];
  const leader = new Family('raftline_stage_latency_microseconds',
    'Time a write spends in each stage on the leader (part: all, queue wait, service)', 'summary');
  stageSummaries(leader, server, metrics.stages);
  families.push(leader);
  const follower = new Family('raftline_follower_stage_latency_microseconds',
    'Time replicated entries spend in each stage on this server as a follower', 'summary');
  stageSummaries(follower, server, metrics.followerStages);
  families.push(follower);
  const reads = new Family('raftline_read_stage_latency_microseconds',
    'Time a linearizable read spends in each stage on the leader: readIndex (round wait), readApply, query (part: all, queue wait, service), readTotal', 'summary');
  stageSummaries(reads, server, metrics.readStages ?? []);
  families.push(reads);
  const replicate = new Family('raftline_replicate_latency_microseconds',
    'AppendEntries sent to acknowledged, per entry, per follower (on the leader)', 'summary');
  for (const [id, snapshot] of Object.entries(metrics.followers)) replicate.summary({ server, follower: id }, snapshot.replicate);
  families.push(replicate);
  for (const [id, field] of [['match_index', 'matchIndex'], ['in_flight_requests', 'inFlightRequests'], ['in_flight_bytes', 'inFlightBytes']] as const) {
    const family = new Family(`raftline_follower_${id}`, `Per follower on the leader: ${field}`, 'gauge');
    for (const [name, snapshot] of Object.entries(metrics.followers)) family.sample('', { server, follower: name }, snapshot[field]);
    families.push(family);
  }
  // TLS connections refused, one family by reason (counters tlsRefused<Reason>).
  const tlsRefused = new Family('raftline_tls_handshakes_refused_total', 'TLS connections closed before any of their messages was taken, by reason', 'counter');
  for (const [name, value] of Object.entries(metrics.counters)) {
    if (name.startsWith('tlsRefused')) {
      tlsRefused.sample('', { server, reason: name[10]!.toLowerCase() + name.slice(11) }, value);
      continue;
    }
    const family = new Family(`raftline_${snake(name)}_total`, `Counter ${name}`, 'counter');
    family.sample('', { server }, value);
    families.push(family);
  }
  if (tlsRefused.lines.length > 2) families.push(tlsRefused);
  const term = new Family('raftline_term', 'Current term', 'gauge');
  term.sample('', { server }, metrics.term);
  families.push(term);
  const leading = new Family('raftline_leader', '1 while this server leads', 'gauge');
  leading.sample('', { server }, metrics.role === 'leader' ? 1 : 0);
  families.push(leading);
  const profiling = new Family('raftline_profiling', '1 while per-stage profiling is on', 'gauge');
  profiling.sample('', { server }, metrics.profiling ? 1 : 0);
  families.push(profiling);
  for (const [name, value] of Object.entries(metrics.gauges)) {
    const family = new Family(`raftline_${snake(name)}`, `Gauge ${name}`, 'gauge');
    family.sample('', { server }, value);
    families.push(family);
  }
  memoryFamilies(families, server, metrics.memory);
  return families.map((family) => family.lines.join('\n')).join('\n') + '\n';
}

function memoryFamilies(families: Family[], server: string, memory: MemorySnapshot): void {
  const resident = new Family('raftline_resident_bytes', 'Resident memory of the server process (part: all, anon, file)', 'gauge');
  resident.sample('', { server, part: 'all' }, memory.rssBytes);
  if (memory.rssAnonBytes !== null) resident.sample('', { server, part: 'anon' }, memory.rssAnonBytes);
  if (memory.rssFileBytes !== null) resident.sample('', { server, part: 'file' }, memory.rssFileBytes);
  families.push(resident);
  const perThread: [string, keyof ThreadHeapSnapshot, string][] = [
    ['raftline_heap_used_bytes', 'usedBytes', 'Bytes in V8 heap objects, per thread'],
    ['raftline_heap_committed_bytes', 'committedBytes', 'V8 heap committed, per thread'],
    ['raftline_heap_resident_bytes', 'residentBytes', 'V8 heap resident in memory, per thread'],
    ['raftline_heap_young_bytes', 'youngBytes', 'V8 young generation committed, per thread'],
    ['raftline_array_buffer_bytes', 'arrayBufferBytes', 'ArrayBuffers and Buffers outside the V8 heap, per thread'],
  ];
  for (const [name, field, help] of perThread) {
    const family = new Family(name, help, 'gauge');
    for (const [thread, heap] of Object.entries(memory.threads)) family.sample('', { server, thread }, heap[field]);
    families.push(family);
  }
}
