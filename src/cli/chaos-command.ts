/**
 * `raftline chaos`: its flags, and one chaos run (src/chaos/run-chaos.ts) printed as a summary;
 * exit code 1 when the run found anything.
 */
import fs from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { chaosSnapshotEvery, formatChaos, runChaos, workloadNames, type WorkloadName } from '../chaos/run-chaos.js';
import { faultKinds, type FaultKind } from '../chaos/nemesis.js';
import { registerReadModes, type RegisterReads } from '../chaos/register-workload.js';
import { actorsOption, checkPortRange, integer, port } from './flags.js';

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

export function addChaosCommand(program: Command): void {
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
    .addOption(new Option('--register-reads <mode>', 'register gets: half on the leader, half follower reads (mixed), all on the leader, '
      + 'or stale reads from any server (a control the checker must catch)').choices([...registerReadModes]).default('mixed'))
    .option('--snapshot-every <entries>', 'the servers take a snapshot every this many applied entries (0: none)', integer('--snapshot-every', 0), chaosSnapshotEvery)
    .option('--base-port <port>', 'first server port; the fault proxies take the ports after the servers', port('--base-port'), 7301)
    .option('--read-lease', 'the servers serve linearizable reads on the leader lease (the register workload reads on it)')
    .option('--tls', 'TLS everywhere: certificates made for the run (needs openssl), mutual TLS between the servers, every client with one')
    .addOption(actorsOption())
    .action(async (options: { tls?: boolean; readLease?: boolean; nodes: string; workload: WorkloadName[]; duration: number; seed?: number; historyDir?: string; json?: string; faults?: FaultKind[]; serverLogLevel: string; basePort: number; actors: 'workers' | 'inline'; snapshotEvery: number; registerReads: RegisterReads }) => {
      const nodes = Number(options.nodes);
      checkPortRange('--base-port', options.basePort, nodes + nodes * (nodes - 1), `${nodes} servers and their ${nodes * (nodes - 1)} fault proxies`);
      const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
      const result = await runChaos({
        nodes: Number(options.nodes) as 3 | 5, workloads: options.workload, durationS: options.duration, seed,
        basePort: options.basePort, actors: options.actors, serverLogLevel: options.serverLogLevel, snapshotEvery: options.snapshotEvery,
        registerReads: options.registerReads, tls: options.tls === true, readLease: options.readLease === true,
        ...(options.faults === undefined ? {} : { nemesis: { kinds: options.faults } }),
        ...(options.historyDir === undefined ? {} : { historyDir: options.historyDir }),
        log: (line) => process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`),
      });
      if (options.json !== undefined) fs.writeFileSync(options.json, JSON.stringify(result, null, 2) + '\n');
      process.stdout.write(formatChaos(result) + '\n');
      if (!result.ok) process.exitCode = 1;
    });
}
