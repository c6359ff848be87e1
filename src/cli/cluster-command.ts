/**
 * `raftline cluster`: a local cluster of server processes on loopback, supervised. Before it starts
 * anything it checks what would make a server fail at once — a port range past 65535, a data
 * directory that cannot be one or is locked by a running server, a port already taken — and
 * refuses with one line (exit 2). Then it reports the leader and watches its servers: each exit is
 * reported, a server that dies during start-up stops the whole cluster (exit 1), and so does the
 * last one. Ctrl-C (or SIGTERM) stops them all; a SIGKILL of `cluster` stops them too, since each
 * server exits with its parent (`--exit-with-parent`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigurationError } from '../errors.js';
import { prepareDataDir } from '../log/data-dir.js';
import { lockOwner } from '../log/dir-lock.js';
import { builtInStateMachines } from '../state-machine.js';
import { checkStateMachineFile } from '../statemachines/load.js';
import { LocalCluster, type LocalNode } from '../cluster/local-cluster.js';
import { actorsOption, checkPortRange, clusterDefaults, integer, port, readLeaseFrom, readLeaseOptions, stateMachineHelp } from './flags.js';

interface ClusterFlags {
  nodes: number; dir: string; basePort: number; stateMachine: string; actors: 'workers' | 'inline'; group: string; tls?: string;
  readLease?: boolean; leaseDriftMs?: number;
}

export function addClusterCommand(program: Command): void {
  const command = program.command('cluster')
    .description('start a local cluster of server processes; Ctrl-C stops them all')
    .option('--nodes <n>', 'number of servers', integer('--nodes', 1, 99), clusterDefaults.nodes)
    .option('--dir <dir>', 'data directory (one folder per server inside)', clusterDefaults.dir)
    .option('--base-port <port>', 'port of the first server; the others take the next ones', port('--base-port'), clusterDefaults.basePort)
    .option('--group <id>', 'group id', 'default')
    .option('--state-machine <module>', stateMachineHelp, 'kv')
    .addOption(actorsOption())
    .option('--tls <dir>', 'serve TLS only, with the certificates raftline certs create made in <dir> (n1.pem, n1-key.pem, ..., ca.pem)');
  for (const option of readLeaseOptions()) command.addOption(option);
  command.action(runCluster);
}

/** The state machine as every server of the cluster must load it, whatever its working directory. */
function stateMachineFor(spec: string): string {
  if ((builtInStateMachines as readonly string[]).includes(spec) || spec.startsWith('file:')) return spec;
  return path.resolve(spec);
}

function describeExit(node: LocalNode, code: number | null, signal: NodeJS.Signals | null): string {
  return `server ${node.id} (${node.address}) exited ${signal !== null ? `on ${signal}` : `with code ${String(code)}`}`;
}

async function runCluster(options: ClusterFlags): Promise<void> {
  checkPortRange('--base-port', options.basePort, options.nodes, `${options.nodes} servers`);
  checkStateMachineFile(options.stateMachine);
  const readLease = readLeaseFrom(options);
  let onExit: (node: LocalNode, code: number | null, signal: NodeJS.Signals | null) => void = () => undefined;
  const cluster = new LocalCluster({
    nodes: options.nodes, dir: options.dir, basePort: options.basePort, stateMachine: stateMachineFor(options.stateMachine),
    actors: options.actors, groupId: options.group, onExit: (node, code, signal) => onExit(node, code, signal),
    ...(options.tls === undefined ? {} : { tlsDir: options.tls }),
    ...(readLease === undefined ? {} : { readLease }),
  });
  if (options.tls !== undefined) {
    for (const file of ['ca.pem', 'client.pem', 'client-key.pem', ...cluster.nodes.flatMap((node) => [`${node.id}.pem`, `${node.id}-key.pem`])]) {
      if (!fs.existsSync(path.join(options.tls, file))) {
        throw new ConfigurationError(`--tls ${options.tls} has no ${file}; make the files with raftline certs create --nodes ${options.nodes} --out ${options.tls}`);
      }
    }
  }
  prepareDataDir(options.dir);
  for (const node of cluster.nodes) {
    prepareDataDir(node.dir);
    const owner = lockOwner(node.dir);
    if (owner !== null) throw new ConfigurationError(`data directory ${node.dir} is locked by another server (pid ${owner})`, { dir: node.dir, pid: owner });
  }
  await cluster.checkPorts();

  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    void cluster.stopAll().then(() => process.exit(code));
  };
  // During start-up any exit is fatal: the cluster the user asked for cannot form.
  let failedStart: ((error: Error) => void) | null = null;
  const startFailed = new Promise<never>((_, reject) => { failedStart = reject; });
  startFailed.catch(() => undefined);
  onExit = (node, code, signal) => {
    if (stopping) return;
    failedStart?.(new Error(`${describeExit(node, code, signal)} during start-up; the cluster is stopped`));
  };
  process.once('SIGINT', () => stop(0));
  process.once('SIGTERM', () => stop(0));

  cluster.startAll();
  for (const node of cluster.nodes) process.stdout.write(`${node.id} ${node.address} ${node.dir} pid ${node.process?.pid ?? '-'}\n`);
  let leader: LocalNode;
  try {
    leader = await Promise.race([cluster.waitForLeader(), startFailed]);
  } catch (error) {
    process.stderr.write(`raftline cluster: ${(error as Error).message}\n`);
    stop(1);
    return;
  }
  failedStart = null;
  process.stdout.write(`leader ${leader.id} ${leader.address}\npeers ${cluster.addresses.join(',')}\n`);
  if (options.tls !== undefined) {
    const file = (name: string): string => path.join(options.tls!, name);
    process.stdout.write(`tls --tls-ca ${file('ca.pem')} --tls-cert ${file('client.pem')} --tls-key ${file('client-key.pem')}\n`);
  }

  onExit = (node, code, signal) => {
    if (stopping) return;
    const running = cluster.nodes.filter((candidate) => candidate.process !== null).length;
    process.stderr.write(`raftline cluster: ${describeExit(node, code, signal)}; ${running} of ${cluster.nodes.length} servers running\n`);
    if (running === 0) {
      process.stderr.write('raftline cluster: every server has exited; stopping\n');
      stop(1);
    }
  };
}
