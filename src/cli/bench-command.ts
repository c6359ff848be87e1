/**
 * `raftline bench`: its flags, and the run (bench.ts) printed with the terminal summary
 * (bench-format.ts). Bad settings are refused before anything starts.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { runBench } from './bench.js';
import { readModes, type ReadMode } from '../../bench/load-worker.js';
import { formatBench } from './bench-format.js';
import { logKeepDefault, snapshotEveryDefault } from '../server/options.js';
import { actorsOption, checkPortRange, clientPeerList, clusterDefaults, integer, leaseDriftMsDefault, port, profilingOption } from './flags.js';

function fraction(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 1) throw new InvalidArgumentError('--reads must be a fraction from 0 to 1');
  return parsed;
}

interface BenchFlags {
  nodes: string; clients: number; outstanding: number; size: number; duration: number; warmup: number; reads: number; keys: number;
  actors: 'workers' | 'inline'; peers?: string[]; unsafeNoFsync?: boolean; writesMax: number; basePort: number;
  json?: string; report?: string; live?: boolean; profiling: 'on' | 'off'; snapshotEvery?: number; logKeep?: number;
  readMode: ReadMode; leaseDriftMs?: number; tls?: string;
}

export function addBenchCommand(program: Command): void {
  program.command('bench')
    .description('run a local cluster (or --peers) under load; print writes/s, latency, the stage table and what limits throughput')
    .addOption(new Option('--nodes <n>', 'number of servers').choices(['3', '5']).default('3'))
    .option('--clients <n>', 'load generator threads, one client each', integer('--clients', 1), 1)
    .option('--outstanding <n>', 'requests kept in flight per client', integer('--outstanding', 1), 256)
    .option('--size <bytes>', 'value size', integer('--size', 1), 128)
    .option('--duration <s>', 'seconds of measured load', integer('--duration', 1), 10)
    .option('--warmup <s>', 'seconds of load before measuring', integer('--warmup', 0), 8)
    .option('--reads <fraction>', 'fraction of requests that are reads', fraction, 0)
    .addOption(new Option('--read-mode <mode>', 'how reads are made: ReadIndex on the leader (a heartbeat round shared by the reads of a turn), '
      + 'the leader lease (servers started with --read-lease), follower reads (a read index from the leader, served by followers in turn), '
      + 'or stale reads on the followers (each at least the client\'s own last write)')
      .choices([...readModes]).default('linearizable'))
    .option('--lease-drift-ms <ms>', `with --read-mode lease: the clock drift the servers' lease allows (default ${leaseDriftMsDefault})`, integer('--lease-drift-ms', 0))
    .option('--keys <n>', 'distinct keys per client; writes cycle through them so the state stays bounded', integer('--keys', 1), 100_000)
    .addOption(actorsOption())
    .addOption(profilingOption())
    .option('--peers <list>', 'drive an existing cluster (host:port,... or id=host:port,...) instead of starting one', clientPeerList)
    .option('--unsafe-no-fsync', 'UNSAFE: start the servers without fdatasync, to see the ceiling without it')
    // No commander defaults: left out, the servers keep their own, and --peers can tell they were not given.
    .option('--snapshot-every <entries>', `the servers take a snapshot every this many applied entries (0: none; default ${snapshotEveryDefault})`,
      integer('--snapshot-every', 0))
    .option('--log-keep <entries>', `entries the servers keep in the log below their newest snapshot (default ${logKeepDefault})`, integer('--log-keep', 0))
    .option('--writes-max <n>', 'stop after this many requests', integer('--writes-max', 1), 100_000_000)
    .option('--base-port <port>', 'first port of the local cluster', port('--base-port'), clusterDefaults.basePort)
    .option('--json <file>', 'write every figure as JSON')
    .option('--report <file>', 'write an HTML report with plots (reads offline)')
    .option('--no-live', 'no live progress line')
    .option('--tls <dir>', 'the servers bench starts serve TLS with the certificates raftline certs create made in <dir>; the clients use client.pem')
    .action(async (flags: BenchFlags) => {
      if (flags.peers === undefined) checkPortRange('--base-port', flags.basePort, Number(flags.nodes), `${flags.nodes} servers`);
      const result = await runBench({
        nodes: Number(flags.nodes), clients: flags.clients, outstanding: flags.outstanding, sizeBytes: flags.size,
        durationS: flags.duration, warmupS: flags.warmup, readFraction: flags.reads, keys: flags.keys, actors: flags.actors,
        unsafeNoFsync: flags.unsafeNoFsync === true, basePort: flags.basePort, writesMax: flags.writesMax,
        profiling: flags.profiling === 'on', readMode: flags.readMode,
        ...(flags.leaseDriftMs === undefined ? {} : { leaseDriftMs: flags.leaseDriftMs }),
        live: flags.live === false ? 'off' : process.stderr.isTTY ? 'tty' : 'lines',
        ...(flags.peers === undefined ? {} : { peers: flags.peers }),
        ...(flags.snapshotEvery === undefined ? {} : { snapshotEvery: flags.snapshotEvery }),
        ...(flags.logKeep === undefined ? {} : { logKeep: flags.logKeep }),
        ...(flags.json === undefined ? {} : { jsonFile: flags.json }),
        ...(flags.tls === undefined ? {} : { tlsDir: flags.tls }),
        ...(flags.report === undefined ? {} : { reportFile: flags.report }),
      });
      process.stdout.write(formatBench(result) + '\n');
    });
}
