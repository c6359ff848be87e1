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
import {
  addTlsOptions, clientPeerList, clientTlsOf, defaultClientPeers, integer, tlsCaOption, tlsCertOption, tlsKeyOption, type TlsFlags,
} from './flags.js';

const clientWho = 'this client\'s';
import { decodeStringOrNullResult, encodeGet } from '../statemachines/kv-ops.js';
import { watchLevels, type WatchLevel } from '../messages/messages.js';

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

/** A server given by address, or by id: then found by asking each server who it is. */
async function serverAddress(client: RaftClient, peers: string[], server: string): Promise<string> {
  if (server.includes(':')) return server;
  const statuses = await Promise.all(peers.map(async (address) => ({ address, status: await client.status(address).catch(() => null) })));
  const found = statuses.find((entry) => entry.status?.id === server);
  if (found === undefined) throw new ConfigurationError(`no server with id ${server} answered at ${peers.join(',')}`);
  return found.address;
}

/** A client of `--peers` and `--group`, over TLS when the TLS flags are given. */
function connectClient(options: { peers: string[]; group: string } & TlsFlags, timeoutMs: number): Promise<RaftClient> {
  const tls = clientTlsOf(options);
  return RaftClient.connect({ peers: options.peers, groupId: options.group, requestTimeoutMs: timeoutMs, ...(tls === undefined ? {} : { tls }) });
}

/** Runs `body` with a client of `--peers` and `--group`, prints its result as JSON, and closes the client. */
async function withClient(options: { peers: string[]; group: string } & TlsFlags, timeoutMs: number, body: (client: RaftClient) => Promise<unknown>): Promise<void> {
  const client = await connectClient(options, timeoutMs);
  try {
    process.stdout.write(JSON.stringify(await body(client), null, 2) + '\n');
  } finally {
    await client.close();
  }
}

/**
 * `raftline election transfer|step-down|pause|resume` (ratis-shell's vocabulary): hand the
 * leadership over, or stop and restart elections on one server; `raftline peer list`.
 */
function addElectionCommands(program: Command): void {
  const election = program.command('election').description('leadership: transfer it, step down, pause or resume elections on a server');
  const common = (command: Command): Command => addTlsOptions(command.addOption(peersOption()), clientWho).option('--group <id>', 'group id', 'default');
  common(election.command('transfer')
    .description('the leader hands leadership to --to (which it first brings up to date); prints the new leader, term and ms once done')
    .requiredOption('--to <id>', 'the voter to take over')
    .option('--timeout <ms>', 'give up after this long (the leader then takes writes again)', integer('--timeout', 1), 3000))
    .action((options: { peers: string[]; group: string; to: string; timeout: number }) =>
      withClient(options, options.timeout + 5000, (client) => client.admin().transferLeadership(options.to, { timeoutMs: options.timeout })));
  common(election.command('step-down')
    .description('the leader hands leadership to its most caught-up follower (no election timeout\'s gap)')
    .option('--timeout <ms>', 'give up after this long', integer('--timeout', 1), 3000))
    .action((options: { peers: string[]; group: string; timeout: number }) =>
      withClient(options, options.timeout + 5000, (client) => client.admin().stepDown({ timeoutMs: options.timeout })));
  for (const [name, paused] of [['pause', true], ['resume', false]] as const) {
    common(election.command(name)
      .description(paused ? 'stop elections on one server (maintenance): it never campaigns nor takes a handed-over leadership, until resumed or restarted'
        : 'let one server campaign again')
      .requiredOption('--server <id|address>', 'the server: its id as in --peers id=host:port,..., or its address'))
      .action((options: { peers: string[]; group: string; server: string }) => withClient(options, 10_000, async (client) => {
        const address = await serverAddress(client, options.peers, options.server);
        return paused ? client.admin().pauseElection(address) : client.admin().resumeElection(address);
      }));
  }
  const peer = program.command('peer').description('the group\'s members: list, add, remove');
  common(peer.command('list').description('the voters (id, address), the learners, the leader and term, as one server knows them, as JSON'))
    .action((options: { peers: string[]; group: string }) => withClient(options, 10_000, (client) => client.admin().configuration()));
  common(peer.command('add')
    .description('add a server (started with raftline server --join): it catches up as a learner, then becomes a voter through a joint configuration; prints the configuration once committed')
    .requiredOption('--id <id>', 'the new server\'s id')
    .requiredOption('--address <host:port>', 'where the other servers reach it')
    .option('--learner', 'add it as a learner: it receives the log but never votes')
    .option('--catch-up-timeout <ms>', 'give up (and remove it again) if it has not caught up after this long', integer('--catch-up-timeout', 1), 30_000))
    .action((options: { peers: string[]; group: string; id: string; address: string; learner?: boolean; catchUpTimeout: number }) =>
      withClient(options, options.catchUpTimeout + 60_000, (client) => client.admin().addServer({ id: options.id, address: options.address },
        { learner: options.learner === true, catchUpTimeoutMs: options.catchUpTimeout })));
  common(peer.command('remove')
    .description('remove a server (voter or learner) through a joint configuration; prints the configuration once committed')
    .requiredOption('--id <id>', 'the server to remove'))
    .action((options: { peers: string[]; group: string; id: string }) =>
      withClient(options, 60_000, (client) => client.admin().removeServer(options.id)));
}

export function addClientCommands(program: Command): void {
  addElectionCommands(program);
  const snapshot = program.command('snapshot').description('snapshots of the servers\' state');
  snapshot.command('create')
    .description('take a snapshot now on one server (default: the leader) and print it (index, term, configuration, files) as JSON once it is durable; the log is purged below it, keeping --log-keep entries')
    .addOption(peersOption())
    .addOption(tlsCertOption(clientWho)).addOption(tlsKeyOption(clientWho)).addOption(tlsCaOption())
    .option('--server <id|address>', 'the server: its id as in --peers id=host:port,..., or its address')
    .option('--group <id>', 'group id', 'default')
    .option('--timeout <ms>', 'how long to wait for the snapshot', integer('--timeout', 1), 120_000)
    .action(async (options: { peers: string[]; server?: string; group: string; timeout: number }) => {
      const client = await connectClient(options, options.timeout);
      try {
        const target = options.server === undefined ? undefined : await serverAddress(client, options.peers, options.server);
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
    .option('--server <id|address>', 'get: served by this server (a follower asks the leader for a read index: still linearizable)')
    .option('--stale', 'get: served from the applied state of --server (default: the leader) without asking the leader; may be stale')
    .option('--min-index <n>', 'get --stale: served once the server has applied this log index', integer('--min-index', 0))
    .addOption(peersOption())
    .addOption(tlsCertOption(clientWho)).addOption(tlsKeyOption(clientWho)).addOption(tlsCaOption())
    .option('--group <id>', 'group id', 'default')
    .action(async (op: string, key: string, value: string | undefined,
      options: { peers: string[]; group: string; valueFile?: string; server?: string; stale?: boolean; minIndex?: number }) => {
      if (!['put', 'get', 'delete'].includes(op)) throw new ConfigurationError(`unknown kv operation '${op}' (put, get or delete)`);
      if (op !== 'get' && (options.server !== undefined || options.stale === true || options.minIndex !== undefined)) {
        throw new ConfigurationError(`--server, --stale and --min-index are for kv get, not kv ${op}`);
      }
      if (options.minIndex !== undefined && options.stale !== true) throw new ConfigurationError('--min-index goes with --stale');
      if (op !== 'put' && (value !== undefined || options.valueFile !== undefined)) throw new ConfigurationError(`kv ${op} takes no value`);
      if (op === 'put' && value !== undefined && options.valueFile !== undefined) throw new ConfigurationError('kv put takes a VALUE or --value-file, not both');
      if (op === 'put' && value === undefined && options.valueFile === undefined) throw new ConfigurationError('kv put needs a VALUE or --value-file FILE (- for standard input)');
      const putValue = op === 'put' ? value ?? readValueFile(options.valueFile!) : '';
      const client = await connectClient(options, 10000);
      try {
        const store = kv(client);
        if (op === 'put') await store.put(key, putValue);
        else if (op === 'get' && (options.server !== undefined || options.stale === true)) {
          const server = options.server === undefined ? undefined : await serverAddress(client, options.peers, options.server);
          const read = encodeGet(key);
          const result = options.stale === true
            ? await client.sendStaleRead(read, { ...(server === undefined ? {} : { server }), ...(options.minIndex === undefined ? {} : { minIndex: options.minIndex }) })
            : await client.sendReadOnly(read, { server: server! });
          process.stdout.write(JSON.stringify(decodeStringOrNullResult(result)) + '\n');
        } else if (op === 'get') process.stdout.write(JSON.stringify(await store.get(key)) + '\n');
        else process.stdout.write(JSON.stringify(await store.delete(key)) + '\n');
      } finally {
        await client.close();
      }
    });

  program.command('watch')
    .description('wait until log entry --index has reached --level on the group (MAJORITY: stored on a majority of the voters, ALL: on every voter, '
      + 'MAJORITY_COMMITTED / ALL_COMMITTED: a majority / every voter knows it committed); prints the index each level reached and each voter\'s '
      + 'match and commit index, as JSON; a timeout fails with TIMEOUT')
    .requiredOption('--index <n>', 'the log index', integer('--index', 0))
    .addOption(new Option('--level <level>', 'the replication level').choices([...watchLevels]).default('MAJORITY'))
    .option('--timeout <ms>', 'give up after this long', integer('--timeout', 1), 10_000)
    .addOption(peersOption())
    .option('--group <id>', 'group id', 'default')
    .action((options: { peers: string[]; group: string; index: number; level: WatchLevel; timeout: number }) =>
      withClient(options, options.timeout + 5000, (client) => client.watch(options.index, options.level, { timeoutMs: options.timeout })));

  program.command('status')
    .description('print each server\'s id, role, term, leader, commit, applied and synced indexes, a log tail cut at its start, whether its term is at the ceiling, its newest snapshot\'s index, its log\'s first index and bytes, whether its elections are paused and a transfer it leads, the configuration in force (voters, learners, joint, its index), its reads (follower reads, read-index requests, stale reads waiting, watches), as JSON; exit 0 if all answered, 3 if some did not, 1 if none did')
    .addOption(peersOption())
    .addOption(tlsCertOption(clientWho)).addOption(tlsKeyOption(clientWho)).addOption(tlsCaOption())
    .option('--group <id>', 'group id', 'default')
    .action(async (options: { peers: string[]; group: string }) => {
      const client = await connectClient(options, 3000);
      try {
        const statuses = await Promise.all(options.peers.map(async (address) => {
          try {
            const {
              id, role, term, leader, commit, applied, synced, logTailCut, termCeilingReached, snapshotIndex, snapshots, firstLogIndex, logBytes,
              electionPaused, transferTarget, voters, learners, joint, configurationIndex, reads, readLease,
            } = await client.status(address);
            return {
              address, id, role, term, leader, commit, applied, synced, logTailCut, termCeilingReached, snapshotIndex, snapshots, firstLogIndex,
              logBytes, electionPaused, transferTarget, voters, learners, joint, configurationIndex, ...(reads === undefined ? {} : { reads }),
              ...(readLease === undefined ? {} : { readLease }),
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
