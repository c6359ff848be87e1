/**
 * A local cluster of separate server processes on loopback, as `raftline cluster`, `raftline
 * bench` and the integration tests run it: check the ports, spawn, find the leader, kill -9 one,
 * restart it, stop. Every server is started with an IPC channel and `--exit-with-parent`, so the
 * servers stop when the process that started them exits, even when it is killed with SIGKILL.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RaftClient } from '../client/raft-client.js';
import type { DivisionStatus } from '../messages/messages.js';
import { ConfigurationError, TimeoutError } from '../errors.js';
import { defaultLimits, type Limits } from '../limits.js';
import { readTlsFiles, type ClientTls } from '../shell/tls-identity.js';

export interface LocalClusterOptions {
  nodes: number;
  dir: string;
  basePort: number;
  stateMachine?: string;
  actors?: 'workers' | 'inline';
  logLevel?: string;
  /** Per-stage profiling in the servers (default on). */
  profiling?: boolean;
  /** When set, node i serves its Prometheus endpoint on 127.0.0.1:(metricsBasePort + i). */
  metricsBasePort?: number;
  /** Limit overrides for every server (`--limits`). */
  limits?: Partial<Limits>;
  /** Where server processes write their output; inherits when absent. */
  logFile?: string;
  /** Starts the servers with `--unsafe-no-fsync` (benchmarks only). */
  unsafeNoFsync?: boolean;
  /** The servers' group id (default `default`). */
  groupId?: string;
  /** Snapshot policy of every server (`--snapshot-every`, `--log-keep`); the servers' defaults when absent. */
  snapshotEvery?: number;
  logKeep?: number;
  /** Every server with a read lease allowing this clock drift (`--read-lease --lease-drift-ms`); none when absent. */
  readLease?: { clockDriftMs: number };
  /** Called when a server process exits, for whatever reason (a kill this class made included). */
  onExit?: (node: LocalNode, code: number | null, signal: NodeJS.Signals | null) => void;
  /**
   * Where server `from` reaches server `to` (default: `to`'s own address). The chaos runs route
   * every link through a fault proxy this way; each server still listens on its own address.
   */
  peerAddress?: (from: string, to: string) => string;
  /**
   * A TLS cluster, from the certificates `raftline certs create` made in this folder: server n<i>
   * runs with `n<i>.pem`, `n<i>-key.pem` and `ca.pem`; the cluster's own status client uses
   * `client.pem` (role admin).
   */
  tlsDir?: string;
}

/** The TLS options of a client with certificate `<stem>.pem` (default the admin's) from a `raftline certs create` folder. */
export function clientTlsFromDir(dir: string, stem = 'client'): ClientTls {
  return readTlsFiles({ cert: path.join(dir, `${stem}.pem`), key: path.join(dir, `${stem}-key.pem`), ca: path.join(dir, 'ca.pem') });
}

export interface LocalNode {
  id: string;
  address: string;
  dir: string;
  process: ChildProcess | null;
  /** Its Prometheus endpoint (host:port), when the cluster has them. */
  metricsAddress: string | null;
  /** The exit code of the last process that ran this node (null: still running, or killed by a signal). */
  exitCode: number | null;
  /** Added after the start (`addNode`): it runs with `--join` and learns the group from its leader. */
  joins?: boolean;
}

const mainScript = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export class LocalCluster {
  readonly nodes: LocalNode[];
  private client: RaftClient | null = null;

  constructor(private readonly options: LocalClusterOptions) {
    this.nodes = Array.from({ length: options.nodes }, (_, i) => ({
      id: `n${i + 1}`,
      address: `127.0.0.1:${options.basePort + i}`,
      dir: path.join(options.dir, `n${i + 1}`),
      process: null,
      metricsAddress: options.metricsBasePort === undefined ? null : `127.0.0.1:${options.metricsBasePort + i}`,
      exitCode: null,
    }));
  }

  /** The --peers flag of one server: every server's own address (the start-up configuration, the same on all). */
  private peersFlag(): string {
    return this.nodes.filter((node) => node.joins !== true).map((node) => `${node.id}=${node.address}`).join(',');
  }

  /** With `peerAddress`: the --peer-routes flag of one server, each other server as this one reaches it. */
  private routesFlag(self: LocalNode): string[] {
    const via = this.options.peerAddress;
    if (via === undefined) return [];
    return ['--peer-routes', this.nodes.filter((node) => node !== self).map((node) => `${node.id}=${via(self.id, node.id)}`).join(',')];
  }

  /** A client for status calls only; no writes go through it. */
  private async statusClient(): Promise<RaftClient> {
    this.client ??= await RaftClient.connect({ peers: this.addresses, requestTimeoutMs: 2000, groupId: this.groupId, ...this.clientTls });
    return this.client;
  }

  /** What a client of this cluster adds to its connect options: `{ tls }` (the admin certificate) on a TLS cluster, else nothing. */
  get clientTls(): { tls?: ClientTls } {
    return this.options.tlsDir === undefined ? {} : { tls: clientTlsFromDir(this.options.tlsDir) };
  }

  get groupId(): string {
    return this.options.groupId ?? 'default';
  }

  /**
   * Refuses to start when a server's port is taken: the server could not listen there, and
   * whatever does listen could be taken for it.
   */
  async checkPorts(): Promise<void> {
    for (const node of this.nodes) {
      const [host, port] = [node.address.slice(0, node.address.lastIndexOf(':')), Number(node.address.slice(node.address.lastIndexOf(':') + 1))];
      const problem = await portProblem(host, port);
      if (problem !== null) {
        throw new ConfigurationError(`port ${port} for server ${node.id} is not free (${problem}); choose another --base-port`, { port });
      }
    }
  }

  get addresses(): string[] {
    return this.nodes.map((node) => node.address);
  }

  /**
   * A new node, on the next port, with an empty directory, that starts with `--join`: it waits
   * until the group's leader adds it (client.admin().addServer) and learns the group from it.
   */
  addNode(): LocalNode {
    const position = this.nodes.length;
    const node: LocalNode = {
      id: `n${position + 1}`, address: `127.0.0.1:${this.options.basePort + position}`, dir: path.join(this.options.dir, `n${position + 1}`),
      process: null, metricsAddress: this.options.metricsBasePort === undefined ? null : `127.0.0.1:${this.options.metricsBasePort + position}`,
      exitCode: null, joins: true,
    };
    this.nodes.push(node);
    return node;
  }

  startAll(): void {
    for (const node of this.nodes) this.start(node.id);
  }

  start(id: string): void {
    const node = this.node(id);
    const args = [mainScript, 'server', '--id', node.id, '--listen', node.address, ...(node.joins === true ? ['--join'] : ['--peers', this.peersFlag()]), ...this.routesFlag(node), '--dir', node.dir,
      '--state-machine', this.options.stateMachine ?? 'kv', '--actors', this.options.actors ?? 'workers',
      '--log-level', this.options.logLevel ?? 'warn', '--profiling', this.options.profiling === false ? 'off' : 'on',
      ...(node.metricsAddress === null ? [] : ['--metrics', node.metricsAddress]),
      ...(this.options.unsafeNoFsync === true ? ['--unsafe-no-fsync'] : []),
      ...(this.options.groupId === undefined ? [] : ['--group', this.options.groupId]),
      ...(this.options.snapshotEvery === undefined ? [] : ['--snapshot-every', String(this.options.snapshotEvery)]),
      ...(this.options.logKeep === undefined ? [] : ['--log-keep', String(this.options.logKeep)]),
      ...(this.options.readLease === undefined ? [] : ['--read-lease', '--lease-drift-ms', String(this.options.readLease.clockDriftMs)]), '--exit-with-parent',
      ...this.tlsFlags(node)];
    const limits = Object.entries(this.options.limits ?? {});
    if (limits.length > 0) args.push('--limits', limits.map(([name, value]) => `${name}=${String(value)}`).join(','));
    let stdio: StdioOptions = ['inherit', 'inherit', 'inherit', 'ipc'];
    if (this.options.logFile) {
      fs.mkdirSync(path.dirname(this.options.logFile), { recursive: true });
      const fd = fs.openSync(this.options.logFile, 'a');
      stdio = ['ignore', fd, fd, 'ipc'];
    }
    // The main thread's young generation sized like the actors' (Limits.heapSemiSpaceMb: only a
    // flag at start-up can size it), then extra Node.js flags for the server processes, e.g.
    // RAFTLINE_SERVER_NODE_ARGS="--cpu-prof"; a --max-semi-space-size there wins, being later.
    const semiSpaceMb = this.options.limits?.heapSemiSpaceMb ?? defaultLimits.heapSemiSpaceMb;
    const nodeArgs = [`--max-semi-space-size=${semiSpaceMb}`,
      ...(process.env['RAFTLINE_SERVER_NODE_ARGS'] ?? '').split(' ').filter((arg) => arg.length > 0)];
    const child = spawn(process.execPath, [...nodeArgs, ...args], { stdio });
    // The IPC channel is there for the server to notice this process's end, not to keep it alive.
    child.channel?.unref();
    node.process = child;
    node.exitCode = null;
    child.on('exit', (code, signal) => {
      if (node.process === child) node.process = null;
      node.exitCode = code;
      this.options.onExit?.(node, code, signal);
    });
  }

  /** The TLS flags of one server (none for a plaintext cluster). */
  private tlsFlags(node: LocalNode): string[] {
    const dir = this.options.tlsDir;
    if (dir === undefined) return [];
    return ['--tls-cert', path.join(dir, `${node.id}.pem`), '--tls-key', path.join(dir, `${node.id}-key.pem`), '--tls-ca', path.join(dir, 'ca.pem')];
  }

  /** kill -9: no chance to close anything. */
  kill(id: string): void {
    this.node(id).process?.kill('SIGKILL');
  }

  async waitExit(id: string): Promise<void> {
    const child = this.node(id).process;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((resolve) => child.once('exit', resolve));
  }

  node(id: string): LocalNode {
    const node = this.nodes.find((candidate) => candidate.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  async statuses(): Promise<(DivisionStatus | null)[]> {
    const client = await this.statusClient();
    return Promise.all(this.nodes.map((node) => withTimeout(client.status(node.address), 1000).catch(() => null)));
  }

  /**
   * Waits until one running server is leader and has committed an entry of its term. A server is
   * recognised by all it says of itself, not by an id alone: the status at a node's address must
   * name that node's id and this cluster's group, and the node's process must be running (so
   * another cluster's server on a port this one meant to use is not taken for its own).
   */
  async waitForLeader(timeoutMs = 20000): Promise<LocalNode> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const statuses = await this.statuses();
      const leader = this.nodes.find((node, i) => {
        const status = statuses[i];
        return status?.role === 'leader' && status.commit > 0 && status.id === node.id && status.groupId === this.groupId &&
          node.process !== null;
      });
      if (leader) return leader;
      await sleep(100);
    }
    throw new TimeoutError(`no leader within ${timeoutMs} ms`);
  }

  async stopAll(): Promise<void> {
    // The status client goes too: a cluster started again after this gets a fresh one.
    await this.client?.close();
    this.client = null;
    await Promise.all(this.nodes.map(async (node) => {
      const child = node.process;
      if (child === null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/** Why nothing else may listen on host:port, or null when it is free. */
function portProblem(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(null)));
  });
}
