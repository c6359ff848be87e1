/**
 * Memory under many short-lived clients: a local 3-server cluster (real processes, fsync on) and
 * N clients one after the other on a few lanes, each connecting, writing one put and leaving —
 * by `close()` (its session ends through the log), or with `--no-close` by dropping its
 * connection (a crashed client: its session is forgotten once idle past the bound). Each
 * server's resident memory (VmRSS) is sampled every second and its sessions every five; a line
 * every ten seconds, then a JSON result: per server, the resident size once the first bound (and
 * two clock periods) has passed, at the end of the load and after settling, the slope from the
 * first to the end of the load, and the sessions held. Memory must be flat after the bound:
 * the servers hold the live sessions only, not every client ever seen.
 *
 *   node dist/bench/sessions.js [--clients 100000] [--lanes 32] [--bound-ms 60000] [--no-close]
 *     [--base-port 7401] [--settle-s S] [--json FILE]
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { LocalCluster, sleep } from '../src/cluster/local-cluster.js';
import { RaftClient } from '../src/client/raft-client.js';
import { kv } from '../src/client/kv.js';
import { decode } from '../src/messages/codec.js';
import { encodeFrame, FrameReader } from '../src/messages/framing.js';
import { Kind } from '../src/messages/kinds.js';
import { RequestType, type ClientRequestMessage } from '../src/messages/messages.js';
import { encodePut } from '../src/statemachines/kv-ops.js';
import { sessionClockPeriodMs } from '../src/limits.js';
import { slopePerSecond } from './proc-sampler.js';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}
const jsonAt = process.argv.indexOf('--json');
const options = {
  clients: flag('clients', 100_000),
  lanes: flag('lanes', 32),
  boundMs: flag('bound-ms', 60_000),
  basePort: flag('base-port', 7401),
  close: !process.argv.includes('--no-close'),
  json: jsonAt >= 0 ? process.argv[jsonAt + 1]! : null,
};
/** The bound plus two clock periods: by then every session idle from the start is forgotten. */
const forgetMs = options.boundMs + 2 * sessionClockPeriodMs({ sessionIdleMsMax: options.boundMs });
const settleS = flag('settle-s', Math.ceil(forgetMs / 1000) + 10);
const MiB = 1024 * 1024;

function residentMiB(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** One short-lived client without RaftClient's close: open a session, put, drop the connection. */
async function vanishingClient(address: string, n: number): Promise<void> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  const socket = net.connect({ host, port });
  const reader = new FrameReader(16 * MiB);
  const replies: Record<string, unknown>[] = [];
  let wake: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    for (const body of reader.push(chunk)) replies.push(decode(body) as Record<string, unknown>);
    wake?.();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => { wake?.(); resolve(); }));
  socket.on('error', () => {});
  const request = async (message: Omit<ClientRequestMessage, 'k' | 'g'>): Promise<Record<string, unknown>> => {
    const seen = replies.length;
    socket.write(encodeFrame({ k: Kind.ClientRequest, g: 'default', ...message } satisfies ClientRequestMessage));
    while (replies.length === seen && !socket.destroyed) await new Promise<void>((resolve) => { wake = resolve; });
    const reply = replies[seen];
    if (reply === undefined || reply['ok'] !== true) throw new Error(`client ${n}: ${JSON.stringify(reply?.['error'] ?? 'connection closed')}`);
    return reply;
  };
  try {
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    const opened = await request({ clientId: `vanishing-${n}`, callId: 0, firstUnacked: 0, type: RequestType.openSession, data: new Uint8Array(0) });
    const { session } = decode(opened['result'] as Uint8Array) as { session: string };
    await request({ clientId: session, callId: 1, firstUnacked: 1, type: RequestType.write, data: encodePut(`k${n % 1000}`, 'v') });
  } finally {
    socket.destroy();
    await closed;
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-sessions-bench-'));
  const cluster = new LocalCluster({
    nodes: 3, dir, basePort: options.basePort, actors: 'workers', logFile: path.join(dir, 'servers.log'),
    limits: { sessionIdleMsMax: options.boundMs },
  });
  cluster.startAll();
  const observer = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 5000 });
  const rss = new Map<string, [number, number][]>(cluster.nodes.map((node) => [node.id, []]));
  const held = new Map<string, [number, number, number][]>(cluster.nodes.map((node) => [node.id, []]));
  let done = 0;
  let failed = 0;
  let sampler: NodeJS.Timeout | null = null;
  try {
    const leader = await cluster.waitForLeader(30_000);
    const startMs = performance.now();
    const at = (): number => Math.round((performance.now() - startMs) / 100) / 10;
    let ticks = 0;
    sampler = setInterval(() => {
      const seconds = at();
      for (const node of cluster.nodes) {
        const value = node.process?.pid === undefined ? null : residentMiB(node.process.pid);
        if (value !== null) rss.get(node.id)!.push([seconds, value]);
      }
      if (++ticks % 5 === 0) {
        void Promise.all(cluster.nodes.map(async (node) => {
          const metrics = await observer.metrics(node.address).catch(() => null);
          if (metrics !== null) held.get(node.id)!.push([seconds, metrics.gauges['sessionsHeld'] ?? -1, metrics.gauges['retryCacheClients'] ?? -1]);
        })).then(() => {
          if (ticks % 10 !== 0) return;
          const line = cluster.nodes.map((node) => {
            const last = rss.get(node.id)!.at(-1)?.[1] ?? 0;
            const sessions = held.get(node.id)!.at(-1);
            return `${node.id} ${last.toFixed(0)} MiB, ${sessions?.[1] ?? '?'} sessions, ${sessions?.[2] ?? '?'} cached`;
          }).join('; ');
          process.stdout.write(`${seconds.toFixed(0).padStart(4)} s  ${String(done).padStart(7)} clients  ${line}\n`);
        });
      }
    }, 1000);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < options.clients) {
        const n = next++;
        try {
          if (options.close) {
            const client = await RaftClient.connect({ peers: [leader.address, ...cluster.addresses], requestTimeoutMs: 20_000 });
            try {
              await kv(client).put(`k${n % 1000}`, 'v');
            } finally {
              await client.close();
            }
          } else {
            await vanishingClient(leader.address, n);
          }
          done++;
        } catch (error) {
          if (failed++ < 5) process.stderr.write(`${(error as Error).message}\n`);
        }
      }
    };
    await Promise.all(Array.from({ length: options.lanes }, lane));
    const loadEndS = at();
    process.stdout.write(`load done: ${done} clients in ${loadEndS} s (${failed} failed); settling ${settleS} s\n`);
    await sleep(settleS * 1000);
    const endS = at();
    const forgetS = forgetMs / 1000;
    const servers = cluster.nodes.map((node) => {
      const series = rss.get(node.id)!;
      const near = (seconds: number): number => {
        let best = series[0]!;
        for (const point of series) if (Math.abs(point[0] - seconds) < Math.abs(best[0] - seconds)) best = point;
        return Math.round(best[1] * 10) / 10;
      };
      const afterBound = series.filter(([seconds]) => seconds >= forgetS && seconds <= loadEndS);
      const sessions = held.get(node.id)!;
      return {
        id: node.id,
        rssMiB: {
          start: near(0), afterBound: near(forgetS), endOfLoad: near(loadEndS), afterSettle: near(endS),
          max: Math.round(Math.max(...series.map(([, value]) => value)) * 10) / 10,
        },
        // Least squares over the load after the bound: flat means about 0.
        slopeAfterBoundMiBPerMinute: afterBound.length >= 2 ? Math.round(slopePerSecond(afterBound) * 60 * 100) / 100 : null,
        sessionsHeldMax: Math.max(0, ...sessions.map(([, count]) => count)),
        sessionsHeldEnd: sessions.at(-1)?.[1] ?? null,
        retryCacheClientsEnd: sessions.at(-1)?.[2] ?? null,
      };
    });
    const result = {
      mode: options.close ? 'close' : 'no-close', clients: done, failed, lanes: options.lanes, sessionIdleMsMax: options.boundMs,
      forgetWithinS: forgetS, loadSeconds: loadEndS, clientsPerSecond: Math.round(done / loadEndS), settleSeconds: settleS, servers,
      machine: { cpus: os.cpus().length, node: process.version },
    };
    process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
    if (options.json !== null) {
      fs.writeFileSync(options.json, JSON.stringify({ ...result, series: Object.fromEntries(rss), sessions: Object.fromEntries(held) }));
    }
  } finally {
    if (sampler !== null) clearInterval(sampler);
    await observer.close();
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
