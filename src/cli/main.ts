#!/usr/bin/env node
/**
 * The `raftline` command: server, cluster, kv, status, bench, chaos. A bad flag or an invalid
 * configuration prints one line and exits with code 2.
 */
import fs from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { RaftServer } from '../server/raft-server.js';
import { parseLimits, parsePeers } from '../server/options.js';
import { RaftClient } from '../client/raft-client.js';
import { kv } from '../client/kv.js';
import { ConfigurationError } from '../errors.js';
import { LocalCluster, sleep } from './local-cluster.js';
import { runBench } from './bench.js';
import { formatBench } from './bench-format.js';
import { formatChaos, runChaos, workloadNames, type WorkloadName } from '../chaos/run-chaos.js';
import { faultKinds, type FaultKind } from '../chaos/nemesis.js';
import { resetTerm } from './reset-term.js';

const usageExitCode = 2;

function integer(name: string, min: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return parsed;
  };
}

function addressList(value: string): string[] {
  const list = value.split(',').filter((part) => part.length > 0);
  for (const address of list) {
    if (!/^[^\s:]+:\d{1,5}$/.test(address)) throw new InvalidArgumentError(`'${address}' is not host:port`);
  }
  return list;
}

const profilingOption = (): Option => new Option('--profiling <mode>', 'per-stage latency profiling').choices(['on', 'off']).default('on');

const actorsOption = (): Option => new Option('--actors <mode>', 'actors as worker threads or inline').choices(['workers', 'inline']).default('workers');

const program = new Command('raftline')
  .description('A Raft replication engine for Node.js')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text.split('\n')[0] + '\n') });

program.command('server')
  .description('run one server in the foreground until SIGINT or SIGTERM')
  .requiredOption('--id <id>', 'this server\'s id')
  .requiredOption('--peers <list>', 'every server: id=host:port,...')
  .requiredOption('--dir <dir>', 'data directory')
  .option('--listen <address>', 'host:port to listen on (default: this server\'s address in --peers)')
  .option('--group <id>', 'group id', 'default')
  .option('--state-machine <name>', 'kv, counter or a module path', 'kv')
  .addOption(actorsOption())
  .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'))
  .addOption(profilingOption())
  .option('--metrics <address>', 'host:port of the Prometheus endpoint (HTTP GET /metrics)')
  .option('--unsafe-no-fsync', 'UNSAFE, benchmarks only: acknowledge writes without fdatasync')
  .option('--limits <list>', 'limit overrides: name=value,... (see src/limits.ts)', '')
  .action(async (options: {
    id: string; peers: string; dir: string; listen?: string; group: string; stateMachine: string; actors: 'workers' | 'inline';
    logLevel: string; profiling: 'on' | 'off'; metrics?: string; unsafeNoFsync?: boolean; limits: string;
  }) => {
    const logger = pino({ level: options.logLevel });
    if (options.unsafeNoFsync === true) {
      process.stderr.write(`raftline server ${options.id}: UNSAFE --unsafe-no-fsync: writes are acknowledged without fdatasync\n`);
    }
    const server = new RaftServer({
      id: options.id, peers: parsePeers(options.peers), dir: options.dir, groupId: options.group,
      stateMachine: options.stateMachine, actors: options.actors, logger, profiling: options.profiling === 'on',
      unsafeNoFsync: options.unsafeNoFsync === true, limits: parseLimits(options.limits),
      ...(options.listen === undefined ? {} : { listen: options.listen }),
      ...(options.metrics === undefined ? {} : { metricsAddress: options.metrics }),
    });
    server.onFailure((error) => {
      process.stderr.write(`raftline server ${options.id} stopped: ${error.message}\n`);
      process.exitCode = 1;
      setTimeout(() => process.exit(1), 2000).unref();
    });
    await server.start();
    const stop = (): void => {
      void server.close().then(() => process.exit(process.exitCode ?? 0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program.command('cluster')
  .description('start a local cluster of server processes; Ctrl-C stops them all')
  .option('--nodes <n>', 'number of servers', integer('--nodes', 1), 3)
  .option('--dir <dir>', 'data directory', './data')
  .option('--base-port <port>', 'first port', integer('--base-port', 1), 7101)
  .option('--state-machine <name>', 'kv, counter or a module path', 'kv')
  .addOption(actorsOption())
  .action(async (options: { nodes: number; dir: string; basePort: number; stateMachine: string; actors: 'workers' | 'inline' }) => {
    fs.mkdirSync(options.dir, { recursive: true });
    const cluster = new LocalCluster({ nodes: options.nodes, dir: options.dir, basePort: options.basePort, stateMachine: options.stateMachine, actors: options.actors });
    cluster.startAll();
    for (const node of cluster.nodes) process.stdout.write(`${node.id} ${node.address} ${node.dir}\n`);
    const leader = await cluster.waitForLeader();
    process.stdout.write(`leader ${leader.id} ${leader.address}\npeers ${cluster.addresses.join(',')}\n`);
    const stop = (): void => { void cluster.stopAll().then(() => process.exit(0)); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await sleep(2 ** 31 - 1);
  });

program.command('kv')
  .description('put, get or delete a key')
  .argument('<op>', 'put | get | delete')
  .argument('<key>')
  .argument('[value]')
  .requiredOption('--peers <list>', 'host:port,...', addressList)
  .action(async (op: string, key: string, value: string | undefined, options: { peers: string[] }) => {
    if (!['put', 'get', 'delete'].includes(op)) throw new ConfigurationError(`unknown kv operation '${op}' (put, get or delete)`);
    if (op === 'put' && value === undefined) throw new ConfigurationError('kv put needs a value');
    const client = await RaftClient.connect({ peers: options.peers, requestTimeoutMs: 10000 });
    try {
      const store = kv(client);
      if (op === 'put') await store.put(key, value!);
      else if (op === 'get') process.stdout.write(JSON.stringify(await store.get(key)) + '\n');
      else process.stdout.write(JSON.stringify(await store.delete(key)) + '\n');
    } finally {
      await client.close();
    }
  });

program.command('status')
  .description('print each server\'s id, role, term, leader, commit, applied and synced indexes, a log tail cut at its start and whether its term is at the ceiling, as JSON')
  .requiredOption('--peers <list>', 'host:port,...', addressList)
  .action(async (options: { peers: string[] }) => {
    const client = await RaftClient.connect({ peers: options.peers, requestTimeoutMs: 3000 });
    try {
      const statuses = await Promise.all(options.peers.map(async (address) => {
        try {
          const { id, role, term, leader, commit, applied, synced, logTailCut, termCeilingReached } = await client.status(address);
          return { address, id, role, term, leader, commit, applied, synced, logTailCut, termCeilingReached };
        } catch (error) {
          return { address, error: (error as Error).message };
        }
      }));
      process.stdout.write(JSON.stringify(statuses, null, 2) + '\n');
    } finally {
      await client.close();
    }
  });

function fraction(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 1) throw new InvalidArgumentError('--reads must be a fraction from 0 to 1');
  return parsed;
}

interface BenchFlags {
  nodes: string; clients: number; outstanding: number; size: number; duration: number; warmup: number; reads: number; keys: number;
  actors: 'workers' | 'inline'; peers?: string[]; unsafeNoFsync?: boolean; writesMax: number; basePort: number;
  json?: string; report?: string; live?: boolean; profiling: 'on' | 'off';
}

program.command('bench')
  .description('run a local cluster (or --peers) under load; print writes/s, latency, the stage table and what limits throughput')
  .addOption(new Option('--nodes <n>', 'number of servers').choices(['3', '5']).default('3'))
  .option('--clients <n>', 'load generator threads, one client each', integer('--clients', 1), 1)
  .option('--outstanding <n>', 'requests kept in flight per client', integer('--outstanding', 1), 256)
  .option('--size <bytes>', 'value size', integer('--size', 1), 128)
  .option('--duration <s>', 'seconds of measured load', integer('--duration', 1), 10)
  .option('--warmup <s>', 'seconds of load before measuring', integer('--warmup', 0), 8)
  .option('--reads <fraction>', 'fraction of requests that are linearizable reads', fraction, 0)
  .option('--keys <n>', 'distinct keys per client; writes cycle through them so the state stays bounded', integer('--keys', 1), 100_000)
  .addOption(actorsOption())
  .addOption(profilingOption())
  .option('--peers <list>', 'drive an existing cluster (host:port,...) instead of starting one', addressList)
  .option('--unsafe-no-fsync', 'UNSAFE: start the servers without fdatasync, to see the ceiling without it')
  .option('--writes-max <n>', 'stop after this many requests', integer('--writes-max', 1), 100_000_000)
  .option('--base-port <port>', 'first port of the local cluster', integer('--base-port', 1), 7101)
  .option('--json <file>', 'write every figure as JSON')
  .option('--report <file>', 'write an HTML report with plots (reads offline)')
  .option('--no-live', 'no live progress line')
  .action(async (flags: BenchFlags) => {
    const result = await runBench({
      nodes: Number(flags.nodes), clients: flags.clients, outstanding: flags.outstanding, sizeBytes: flags.size,
      durationS: flags.duration, warmupS: flags.warmup, readFraction: flags.reads, keys: flags.keys, actors: flags.actors,
      unsafeNoFsync: flags.unsafeNoFsync === true, basePort: flags.basePort, writesMax: flags.writesMax,
      profiling: flags.profiling === 'on',
      live: flags.live === false ? 'off' : process.stderr.isTTY ? 'tty' : 'lines',
      ...(flags.peers === undefined ? {} : { peers: flags.peers }),
      ...(flags.json === undefined ? {} : { jsonFile: flags.json }),
      ...(flags.report === undefined ? {} : { reportFile: flags.report }),
    });
    process.stdout.write(formatBench(result) + '\n');
  });

function workloadList(value: string): WorkloadName[] {
  const list = value.split(/[,+]/).filter((part) => part.length > 0);
  for (const name of list) {
    if (!(workloadNames as readonly string[]).includes(name)) throw new InvalidArgumentError(`'${name}' is not a workload (${workloadNames.join(', ')})`);
  }
  if (list.length === 0) throw new InvalidArgumentError('name at least one workload');
  return [...new Set(list)] as WorkloadName[];
}

function faultList(value: string): FaultKind[] {
  const list = value.split(',').filter((part) => part.length > 0);
  for (const name of list) {
    if (!(faultKinds as readonly string[]).includes(name)) throw new InvalidArgumentError(`'${name}' is not a fault (${faultKinds.join(', ')})`);
  }
  if (list.length === 0) throw new InvalidArgumentError('name at least one fault');
  return list as FaultKind[];
}

program.command('chaos')
  .description('a cluster of real processes under seeded faults and workloads; checks the histories and prints the result')
  .addOption(new Option('--nodes <n>', 'number of servers').choices(['3', '5']).default('3'))
  .option('--workload <names>', 'register, append-set, counter, or several joined by commas', workloadList, ['register'] as WorkloadName[])
  .option('--duration <s>', 'seconds of faults and load', integer('--duration', 1), 30)
  .option('--seed <n>', 'seed of the fault schedule and the workload choices', integer('--seed', 0))
  .option('--history-dir <dir>', 'where histories are written (kept); default a temporary folder kept only on failure')
  .option('--json <file>', 'write the result as JSON')
  .addOption(new Option('--server-log-level <level>', 'the servers\' log level (their log is kept with the history)').choices(['error', 'warn', 'info', 'debug']).default('warn'))
  .option('--faults <kinds>', `only these faults, comma-separated (${faultKinds.join(', ')})`, faultList)
  .option('--base-port <port>', 'first server port; the fault proxies take the ports after the servers', integer('--base-port', 1), 7301)
  .addOption(actorsOption())
  .action(async (options: { nodes: string; workload: WorkloadName[]; duration: number; seed?: number; historyDir?: string; json?: string; faults?: FaultKind[]; serverLogLevel: string; basePort: number; actors: 'workers' | 'inline' }) => {
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    const result = await runChaos({
      nodes: Number(options.nodes) as 3 | 5, workloads: options.workload, durationS: options.duration, seed,
      basePort: options.basePort, actors: options.actors, serverLogLevel: options.serverLogLevel,
      ...(options.faults === undefined ? {} : { nemesis: { kinds: options.faults } }),
      ...(options.historyDir === undefined ? {} : { historyDir: options.historyDir }),
      log: (line) => process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`),
    });
    if (options.json !== undefined) fs.writeFileSync(options.json, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(formatChaos(result) + '\n');
    if (!result.ok) process.exitCode = 1;
  });

program.command('reset-term')
  .description('with every server of the group stopped: print a server\'s term and last log term, or set its term (README: a term at the ceiling)')
  .requiredOption('--dir <dir>', 'the server\'s data directory')
  .option('--group <id>', 'group id', 'default')
  .option('--term <n>', 'the new term: one above the highest last log term of every server of the group', integer('--term', 1))
  .action((options: { dir: string; group: string; term?: number }) => {
    process.stdout.write(JSON.stringify(resetTerm(options.dir, options.group, options.term)) + '\n');
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exit(error.exitCode === 0 ? 0 : usageExitCode);
  }
  const code = (error as { code?: string }).code;
  process.stderr.write(`raftline: ${(error as Error).message}\n`);
  process.exit(code === 'CONFIGURATION' ? usageExitCode : 1);
}
