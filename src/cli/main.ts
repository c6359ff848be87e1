#!/usr/bin/env node
/**
 * The `raftline` command: server, cluster, kv, status, bench. A bad flag or an invalid
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
import { formatBench, runBench } from './bench.js';

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
  .option('--limits <list>', 'limit overrides: name=value,... (see src/limits.ts)', '')
  .action(async (options: { id: string; peers: string; dir: string; listen?: string; group: string; stateMachine: string; actors: 'workers' | 'inline'; logLevel: string; limits: string }) => {
    const logger = pino({ level: options.logLevel });
    const server = new RaftServer({
      id: options.id, peers: parsePeers(options.peers), dir: options.dir, groupId: options.group,
      stateMachine: options.stateMachine, actors: options.actors, logger, limits: parseLimits(options.limits),
      ...(options.listen === undefined ? {} : { listen: options.listen }),
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
  .description('print each server\'s id, role, term, leader, commit, applied and synced indexes as JSON')
  .requiredOption('--peers <list>', 'host:port,...', addressList)
  .action(async (options: { peers: string[] }) => {
    const client = await RaftClient.connect({ peers: options.peers, requestTimeoutMs: 3000 });
    try {
      const statuses = await Promise.all(options.peers.map(async (address) => {
        try {
          const { id, role, term, leader, commit, applied, synced } = await client.status(address);
          return { address, id, role, term, leader, commit, applied, synced };
        } catch (error) {
          return { address, error: (error as Error).message };
        }
      }));
      process.stdout.write(JSON.stringify(statuses, null, 2) + '\n');
    } finally {
      await client.close();
    }
  });

program.command('bench')
  .description('run a local cluster under write load; print writes/s, latency and the stage table')
  .option('--nodes <n>', 'number of servers', integer('--nodes', 1), 3)
  .option('--outstanding <n>', 'writes kept in flight', integer('--outstanding', 1), 256)
  .option('--size <bytes>', 'value size', integer('--size', 1), 128)
  .option('--duration <s>', 'seconds of load', integer('--duration', 1), 10)
  .option('--clients <n>', 'load generator threads', integer('--clients', 1), 1)
  .option('--writes-max <n>', 'stop after this many writes', integer('--writes-max', 1), 10_000_000)
  .option('--base-port <port>', 'first port', integer('--base-port', 1), 7101)
  .option('--json <file>', 'write the result as JSON')
  .addOption(actorsOption())
  .action(async (options: { nodes: number; outstanding: number; size: number; duration: number; clients: number; writesMax: number; basePort: number; json?: string; actors: 'workers' | 'inline' }) => {
    const result = await runBench({
      nodes: options.nodes, outstanding: options.outstanding, sizeBytes: options.size, durationS: options.duration,
      actors: options.actors, clients: options.clients, basePort: options.basePort, writesMax: options.writesMax,
      ...(options.json === undefined ? {} : { jsonFile: options.json }),
    });
    process.stdout.write(formatBench(result) + '\n');
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
