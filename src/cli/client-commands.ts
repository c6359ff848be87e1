/**
 * `raftline kv` and `raftline status`, the client side of the command line. Both reach the servers
 * at `--peers` (by default where `raftline cluster` puts them), given as client addresses
 * (`host:port,...`) or in the servers' own form (`id=host:port,...`). A value too large for the
 * command line comes from a file or standard input (`--value-file F`, `--value-file -`).
 *
 * `status` prints one JSON record per server and exits 0 when every server answered, 3 when some
 * did not (their records carry the error), and 1 when none did.
 */
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { RaftClient } from '../client/raft-client.js';
import { kv } from '../client/kv.js';
import { ConfigurationError } from '../errors.js';
import { clientPeerList, defaultClientPeers, integer } from './flags.js';

/** `status` exit codes: every server answered, some did not, none did. */
export const statusExitCodes = { allAnswered: 0, someUnanswered: 3, noneAnswered: 1 } as const;

const peersOption = (): Option => new Option('--peers <list>', 'the servers: host:port,... or id=host:port,...')
  .argParser(clientPeerList).default(clientPeerList(defaultClientPeers), defaultClientPeers);

function readValueFile(file: string): string {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`--value-file ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function addClientCommands(program: Command): void {
  const snapshot = program.command('snapshot').description('snapshots of the servers\' state');
  snapshot.command('create')
    .description('take a snapshot now on one server (default: the leader) and print it (index, term, configuration, files) as JSON once it is durable; the log is purged below it, keeping --log-keep entries')
    .addOption(peersOption())
    .option('--server <id|address>', 'the server: its id as in --peers id=host:port,..., or its address')
    .option('--group <id>', 'group id', 'default')
    .option('--timeout <ms>', 'how long to wait for the snapshot', integer('--timeout', 1), 120_000)
    .action(async (options: { peers: string[]; server?: string; group: string; timeout: number }) => {
      const client = await RaftClient.connect({ peers: options.peers, groupId: options.group, requestTimeoutMs: options.timeout });
      try {
        let target = options.server;
        if (target !== undefined && !target.includes(':')) {
          // An id: find its address by asking each server who it is.
          const statuses = await Promise.all(options.peers.map(async (address) => ({ address, status: await client.status(address).catch(() => null) })));
          const found = statuses.find((entry) => entry.status?.id === target);
          if (found === undefined) throw new ConfigurationError(`no server with id ${target} answered at ${options.peers.join(',')}`);
          target = found.address;
        }
        const info = await client.admin().snapshot(target);
        process.stdout.write(JSON.stringify(info, null, 2) + '\n');
      } finally {
        await client.close();
      }
    });

  program.command('kv')
    .description('put, get or delete a key of the built-in kv state machine')
    .argument('<op>', 'put | get | delete')
    .argument('<key>')
    .argument('[value]', 'the value to put (or --value-file)')
    .option('--value-file <file>', 'put the contents of this file (UTF-8); - reads standard input')
    .addOption(peersOption())
    .option('--group <id>', 'group id', 'default')
    .action(async (op: string, key: string, value: string | undefined, options: { peers: string[]; group: string; valueFile?: string }) => {
      if (!['put', 'get', 'delete'].includes(op)) throw new ConfigurationError(`unknown kv operation '${op}' (put, get or delete)`);
      if (op !== 'put' && (value !== undefined || options.valueFile !== undefined)) throw new ConfigurationError(`kv ${op} takes no value`);
      if (op === 'put' && value !== undefined && options.valueFile !== undefined) throw new ConfigurationError('kv put takes a VALUE or --value-file, not both');
      if (op === 'put' && value === undefined && options.valueFile === undefined) throw new ConfigurationError('kv put needs a VALUE or --value-file FILE (- for standard input)');
      const putValue = op === 'put' ? value ?? readValueFile(options.valueFile!) : '';
      const client = await RaftClient.connect({ peers: options.peers, groupId: options.group, requestTimeoutMs: 10000 });
      try {
        const store = kv(client);
        if (op === 'put') await store.put(key, putValue);
        else if (op === 'get') process.stdout.write(JSON.stringify(await store.get(key)) + '\n');
        else process.stdout.write(JSON.stringify(await store.delete(key)) + '\n');
      } finally {
        await client.close();
      }
    });

  program.command('status')
    .description('print each server\'s id, role, term, leader, commit, applied and synced indexes, a log tail cut at its start, whether its term is at the ceiling, its newest snapshot\'s index, its log\'s first index and bytes, as JSON; exit 0 if all answered, 3 if some did not, 1 if none did')
    .addOption(peersOption())
    .option('--group <id>', 'group id', 'default')
    .action(async (options: { peers: string[]; group: string }) => {
      const client = await RaftClient.connect({ peers: options.peers, groupId: options.group, requestTimeoutMs: 3000 });
      try {
        const statuses = await Promise.all(options.peers.map(async (address) => {
          try {
            const {
              id, role, term, leader, commit, applied, synced, logTailCut, termCeilingReached, snapshotIndex, snapshots, firstLogIndex, logBytes,
            } = await client.status(address);
            return {
              address, id, role, term, leader, commit, applied, synced, logTailCut, termCeilingReached, snapshotIndex, snapshots, firstLogIndex,
              logBytes,
            };
          } catch (error) {
            return { address, error: (error as Error).message };
          }
        }));
        process.stdout.write(JSON.stringify(statuses, null, 2) + '\n');
        const answered = statuses.filter((status) => !('error' in status)).length;
        process.exitCode = answered === statuses.length ? statusExitCodes.allAnswered
          : answered === 0 ? statusExitCodes.noneAnswered : statusExitCodes.someUnanswered;
      } finally {
        await client.close();
      }
    });
}
