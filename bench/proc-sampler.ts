/**
 * CPU and memory of the processes under benchmark, read from Linux's /proc: CPU time per process
 * and per thread (/proc/<pid>/stat, /proc/<pid>/task/<tid>/stat) between the end of the warm-up
 * and the end of the run, the whole machine's busy time (/proc/stat) over the same window, and
 * each process's resident memory (VmRSS in /proc/<pid>/status) once a second, with the slope of
 * a least-squares line through the samples taken after the warm-up, and the context switches of
 * every thread over the window (/proc/<pid>/task/<tid>/status): each is a thread going to sleep
 * or being woken, the fixed cost of every hop between threads and processes.
 *
 * Where /proc is missing (not Linux) every figure is simply absent; a process that exits stops
 * being sampled.
 */
import fs from 'node:fs';

export interface ProcTarget {
  /** A name for the report: a server id, or `load` for the benchmark's own process. */
  id: string;
  pid: number;
}

export interface ThreadCpu {
  tid: number;
  /** Thread name from /proc (Node names every thread `node` or after its pool). */
  name: string;
  /** Percent of one core over the measured window. */
  cpuPercent: number;
}

export interface ProcessUsage {
  id: string;
  pid: number;
  /** Percent of one core over the measured window, all threads together. */
  cpuPercent: number;
  /** The main thread (tid = pid): the event loop that runs the server's request path. */
  mainThreadCpuPercent: number;
  /** Every thread that used CPU, busiest first. */
  threads: ThreadCpu[];
  /** Context switches (voluntary and not) of all its threads over the measured window. */
  contextSwitches: number;
  rss: RssSummary;
}

export interface RssSummary {
  /** [seconds since the run started, MiB], one a second. */
  series: [number, number][];
  firstMiB: number;
  lastMiB: number;
  maxMiB: number;
  /** Least-squares slope of the samples after the warm-up, MiB per minute. */
  slopeMiBPerMinute: number;
  /**
   * The slope projects growth under 1 % of the mean resident size per minute (or under 1 MiB/min);
   * null when fewer than `flatWindowSMin` seconds were sampled after the warm-up (too short to tell).
   */
  flat: boolean | null;
}

export interface MachineUsage {
  cpus: number;
  /** Busy share of all cores over the measured window, percent of the whole machine. */
  busyPercent: number;
}

const clockTicksPerSecond = 100;
const rssSamplesMax = 24 * 3600;
/** Below this many seconds after the warm-up, start-up growth (JIT, pools, caches) hides any leak. */
export const flatWindowSMin = 20;

interface ThreadMark {
  ticks: number;
  name: string;
  switches: number;
}

interface CpuMark {
  atMs: number;
  processTicks: Map<string, number>;
  threadTicks: Map<string, Map<number, ThreadMark>>;
  machine: { busy: number; total: number } | null;
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** utime + stime of a /proc stat line, in clock ticks; the name is between the parentheses. */
function parseStat(text: string): { ticks: number; name: string } | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < 0) return null;
  const fields = text.slice(close + 2).split(' ');
  // After the name: state (field 3) ... utime is field 14 and stime field 15 of proc(5).
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return { ticks: utime + stime, name: text.slice(open + 1, close) };
}

/** voluntary_ctxt_switches + nonvoluntary_ctxt_switches of a /proc status file; 0 where absent. */
function contextSwitchesOf(status: string | null): number {
  if (status === null) return 0;
  const voluntary = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(status);
  const involuntary = /^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status);
  return Number(voluntary?.[1] ?? 0) + Number(involuntary?.[1] ?? 0);
}

function machineTicks(): { busy: number; total: number } | null {
  const line = readText('/proc/stat')?.split('\n')[0];
  if (line === undefined || !line.startsWith('cpu ')) return null;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

export class ProcSampler {
  private readonly rss = new Map<string, [number, number][]>();
  private readonly startMs = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private warmupMark: CpuMark | null = null;
  private warmupEndS = 0;

  constructor(private readonly targets: ProcTarget[], private readonly cpus: number) {
    for (const target of targets) this.rss.set(target.id, []);
  }

  /** Whether /proc can be read here. */
  static available(): boolean {
    return readText(`/proc/${process.pid}/stat`) !== null;
  }

  start(): void {
    this.sampleRss();
    this.timer = setInterval(() => this.sampleRss(), 1000);
    this.timer.unref();
  }

  /** The measured window (CPU figures) starts here; memory slopes use samples from here on. */
  markWarmupEnd(): void {
    this.warmupMark = this.mark();
    this.warmupEndS = (Date.now() - this.startMs) / 1000;
  }

  stop(): { processes: ProcessUsage[]; machine: MachineUsage | null } {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sampleRss();
    const end = this.mark();
    const begin = this.warmupMark ?? end;
    const seconds = Math.max(0.001, (end.atMs - begin.atMs) / 1000);
    const percent = (ticks: number): number => Math.round((ticks / clockTicksPerSecond / seconds) * 1000) / 10;
    const processes = this.targets.map((target): ProcessUsage => {
      const threadsEnd = end.threadTicks.get(target.id) ?? new Map();
      const threadsBegin = begin.threadTicks.get(target.id) ?? new Map();
      const threads: ThreadCpu[] = [];
      let contextSwitches = 0;
      for (const [tid, value] of threadsEnd) {
        const used = value.ticks - (threadsBegin.get(tid)?.ticks ?? 0);
        if (used > 0) threads.push({ tid, name: value.name, cpuPercent: percent(used) });
        contextSwitches += value.switches - (threadsBegin.get(tid)?.switches ?? 0);
      }
      threads.sort((a, b) => b.cpuPercent - a.cpuPercent);
      const processUsed = (end.processTicks.get(target.id) ?? 0) - (begin.processTicks.get(target.id) ?? 0);
      return {
        id: target.id, pid: target.pid, cpuPercent: percent(Math.max(0, processUsed)),
        mainThreadCpuPercent: threads.find((thread) => thread.tid === target.pid)?.cpuPercent ?? 0,
        threads, contextSwitches, rss: this.rssSummary(target.id),
      };
    });
    let machine: MachineUsage | null = null;
    if (begin.machine && end.machine && end.machine.total > begin.machine.total) {
      const busy = (end.machine.busy - begin.machine.busy) / (end.machine.total - begin.machine.total);
      machine = { cpus: this.cpus, busyPercent: Math.round(busy * 1000) / 10 };
    }
    return { processes, machine };
  }

  private mark(): CpuMark {
    const processTicks = new Map<string, number>();
    const threadTicks = new Map<string, Map<number, ThreadMark>>();
    for (const target of this.targets) {
      const stat = readText(`/proc/${target.pid}/stat`);
      const parsed = stat === null ? null : parseStat(stat);
      if (parsed === null) continue;
      processTicks.set(target.id, parsed.ticks);
      const threads = new Map<number, ThreadMark>();
      let tids: string[] = [];
      try {
        tids = fs.readdirSync(`/proc/${target.pid}/task`);
      } catch {
        // The process exited between the two reads.
      }
      for (const tid of tids) {
        const text = readText(`/proc/${target.pid}/task/${tid}/stat`);
        const thread = text === null ? null : parseStat(text);
        if (thread !== null) threads.set(Number(tid), { ...thread, switches: contextSwitchesOf(readText(`/proc/${target.pid}/task/${tid}/status`)) });
      }
      threadTicks.set(target.id, threads);
    }
    return { atMs: Date.now(), processTicks, threadTicks, machine: machineTicks() };
  }

  private sampleRss(): void {
    const atS = Math.round((Date.now() - this.startMs) / 100) / 10;
    for (const target of this.targets) {
      const match = /VmRSS:\s+(\d+) kB/.exec(readText(`/proc/${target.pid}/status`) ?? '');
      const series = this.rss.get(target.id)!;
      if (match && series.length < rssSamplesMax) series.push([atS, Math.round((Number(match[1]) / 1024) * 10) / 10]);
    }
  }

  private rssSummary(id: string): RssSummary {
    const series = this.rss.get(id) ?? [];
    const after = series.filter(([atS]) => atS >= this.warmupEndS);
    const slope = slopePerSecond(after) * 60;
    const mean = after.reduce((sum, [, mib]) => sum + mib, 0) / Math.max(1, after.length);
    return {
      series,
      firstMiB: series[0]?.[1] ?? 0,
      lastMiB: series[series.length - 1]?.[1] ?? 0,
      maxMiB: series.reduce((max, [, mib]) => Math.max(max, mib), 0),
      slopeMiBPerMinute: Math.round(slope * 100) / 100,
      flat: after.length < 3 || after[after.length - 1]![0] - after[0]![0] < flatWindowSMin ? null : slope <= 1 || slope <= mean * 0.01,
    };
  }
}

/** Least-squares slope of y over x. */
export function slopePerSecond(points: readonly [number, number][]): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let numerator = 0;
  let denominator = 0;
  for (const [x, y] of points) {
    numerator += (x - meanX) * (y - meanY);
    denominator += (x - meanX) ** 2;
  }
  return denominator === 0 ? 0 : numerator / denominator;
}

/**
 * The processes listening on these loopback TCP ports (for `--peers` on the same machine): the
 * socket's inode from /proc/net/tcp{,6}, then the process holding it among /proc/<pid>/fd. Ports
 * whose owner cannot be seen (another machine, another user) are left out.
 */
export function pidsListeningOn(ports: readonly number[]): Map<number, number> {
  const inodes = new Map<string, number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (readText(table) ?? '').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT, st 0A is LISTEN, inode is field 10.
      if (fields.length < 10 || fields[3] !== '0A') continue;
      const port = parseInt(fields[1]!.split(':')[1] ?? '', 16);
      if (ports.includes(port)) inodes.set(fields[9]!, port);
    }
  }
  const out = new Map<number, number>();
  if (inodes.size === 0) return out;
  let pids: string[] = [];
  try {
    pids = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return out;
  }
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link = '';
      try {
        link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      const port = inode === undefined ? undefined : inodes.get(inode);
      if (port !== undefined) out.set(port, Number(pid));
    }
    if (out.size === inodes.size) break;
  }
  return out;
}
