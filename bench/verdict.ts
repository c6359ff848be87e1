/**
 * The one-line verdict of a benchmark run: what limits throughput now, and which option would
 * move it. Read from the per-stage table and the CPU of the server processes and threads:
 * a leader main thread near a full core means its event loop is the limit whatever the stages
 * say; a machine with every core busy is CPU-bound; otherwise the stage with the largest share
 * of the end-to-end time names the limit (disk sync, replication round trip, apply, encoding).
 */
import type { MachineUsage, ProcessUsage } from './proc-sampler.js';
import type { StageRow, StageTable } from './stage-table.js';

export type Limit =
  | 'leader event loop' | 'machine CPU' | 'disk sync' | 'replication round trip' | 'apply' | 'encoding'
  | 'pending requests' | 'concurrency' | 'other processes' | 'unknown';

export interface Verdict {
  limit: Limit;
  /** The figures the verdict rests on. */
  evidence: string;
  /** The option or change that would move it. */
  option: string;
  line: string;
}

export interface VerdictInput {
  stages: StageTable | null;
  processes: ProcessUsage[];
  machine: MachineUsage | null;
  leaderId: string | null;
  actors: 'workers' | 'inline';
  outstanding: number;
  fsync: boolean;
}

const eventLoopBusyPercent = 85;
const machineBusyPercent = 90;
const lowConcurrency = 4;
/** Below this share of the machine's busy time, the CPU went mostly to processes outside the benchmark. */
const otherLoadShare = 0.6;

function kindOf(row: StageRow): Limit {
  if (/^(logWrite|logSync)$/.test(row.name)) return 'disk sync';
  if (/^(replicate|commit)$/.test(row.name)) return 'replication round trip';
  if (/^(applySerial|apply)$/.test(row.name)) return 'apply';
  if (row.name === 'admit' && row.queue !== undefined && row.queue.meanUs > (row.service?.meanUs ?? 0)) return 'pending requests';
  return 'encoding';
}

const options: Record<Limit, (input: VerdictInput) => string> = {
  'leader event loop': (input) => input.actors === 'inline'
    ? '--actors workers moves the log, appender and updater off the leader\'s main thread'
    : 'less per-entry work on the request path (decode, encode, bookkeeping); more --outstanding will not help',
  'machine CPU': (input) => input.actors === 'workers'
    ? 'more cores or servers on separate machines; --actors inline saves thread hops where cores are few'
    : 'more cores, or servers on separate machines',
  'disk sync': (input) => input.fsync
    ? 'more --outstanding (more entries per fdatasync) or a faster disk; --unsafe-no-fsync shows the ceiling without the sync'
    : 'the sync is already off: more --outstanding',
  'replication round trip': () => 'more --outstanding (more entries per AppendEntries round trip)',
  apply: () => 'a cheaper state machine applyTransaction; --actors workers keeps apply off the request path',
  encoding: () => 'larger batches (more --outstanding) and cheaper encode/decode of requests',
  'pending requests': () => 'fewer --outstanding, or a larger pending-request limit',
  concurrency: (input) => `more --outstanding: only ${input.outstanding} in flight leaves the pipeline mostly idle`,
  'other processes': () => 'rerun on a quiet machine; these figures understate what the cluster can do',
  unknown: () => 'rerun with a longer --duration',
};

export function verdictOf(input: VerdictInput): Verdict {
  const leader = input.processes.find((process) => process.id === input.leaderId);
  let limit: Limit = 'unknown';
  let evidence = 'no stage table or CPU figures';
  const busiestStage = input.stages?.rows
    .filter((row) => row.name !== 'reply')
    .reduce<StageRow | null>((best, row) => (best === null || row.meanUs > best.meanUs ? row : best), null) ?? null;
  const split = busiestStage?.queue && busiestStage.service
    ? ` (${busiestStage.queue.meanUs > busiestStage.service.meanUs ? 'mostly queue wait' : 'mostly service'}: ` +
      `queue ${(busiestStage.queue.meanUs / 1000).toFixed(2)} ms, service ${(busiestStage.service.meanUs / 1000).toFixed(2)} ms)`
    : '';
  const stageEvidence = busiestStage && input.stages?.total
    ? `${busiestStage.name} takes ${busiestStage.sharePercent}% of the ${(input.stages.total.meanUs / 1000).toFixed(2)} ms end-to-end mean${split}`
    : '';
  if (leader !== undefined && leader.mainThreadCpuPercent >= eventLoopBusyPercent) {
    limit = 'leader event loop';
    evidence = `the leader's main thread used ${leader.mainThreadCpuPercent}% of a core`;
  } else if (input.machine !== null && input.machine.busyPercent >= machineBusyPercent) {
    limit = 'machine CPU';
    const ours = input.processes.reduce((sum, process) => sum + process.cpuPercent, 0);
    const busy = input.machine.busyPercent * input.machine.cpus;
    const servers = input.processes.map((process) => `${process.id} ${process.cpuPercent}%`).join(', ');
    evidence = `${input.machine.busyPercent}% of ${input.machine.cpus} cores busy (${servers} of a core)`;
    if (ours < otherLoadShare * busy) {
      limit = 'other processes';
      evidence += `: the benchmark's processes used ${Math.round(ours)}% of the ${Math.round(busy)}% busy`;
    }
  } else if (input.outstanding <= lowConcurrency) {
    limit = 'concurrency';
    evidence = `${input.outstanding} writes in flight${stageEvidence ? `; ${stageEvidence}` : ''}`;
  } else if (busiestStage !== null) {
    limit = kindOf(busiestStage);
    evidence = stageEvidence;
    // The leader's own write and the replication run side by side; commit waits for the slower.
    const sync = input.stages!.rows.find((row) => /^logSync$/.test(row.name));
    if (limit === 'replication round trip' && sync !== undefined && sync.meanUs >= 0.8 * busiestStage.meanUs) {
      limit = 'disk sync';
      evidence += `, and the leader's own sync takes ${(sync.meanUs / 1000).toFixed(2)} ms of it`;
    }
  }
  const option = options[limit](input);
  return { limit, evidence, option, line: `limit: ${limit} — ${evidence}; to move it: ${option}` };
}
