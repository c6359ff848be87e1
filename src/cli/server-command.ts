/**
 * `raftline server`: one server in the foreground until SIGINT or SIGTERM (or, with
 * `--exit-with-parent`, until the process that started it is gone), then a clean close. The data
 * directory is checked and made before the server starts, so a path that cannot be one is a
 * one-line configuration error.
 *
 * With --tls-cert, --tls-key and --tls-ca (all three) the server's port takes TLS only, peers and
 * clients alike (identities and roles: src/shell/tls-identity.ts); SIGHUP reads the three files
 * again and new connections get them. Without them it serves plaintext, with a loud warning when
 * the address is not loopback.
 */
import { Option, type Command } from 'commander';
import pino from 'pino';
import { RaftServer } from '../server/raft-server.js';
import { parseLimits, parsePeers } from '../server/options.js';
import { prepareDataDir } from '../log/data-dir.js';
import { ConfigurationError } from '../errors.js';
import { actorsOption, addTlsOptions, integer, limitsDoc, profilingOption, readLeaseFrom, readLeaseOptions, required, stateMachineHelp, type TlsFlags } from './flags.js';
import { readTlsFiles, tlsFilesOf } from '../shell/tls-identity.js';
import { logKeepDefault, snapshotEveryDefault, snapshotRetainDefault } from '../server/options.js';

interface ServerFlags {
  id?: string; peers?: string; peerRoutes?: string; join?: boolean; dir?: string; listen?: string; group: string; stateMachine: string; actors: 'workers' | 'inline';
  logLevel: string; profiling: 'on' | 'off'; metrics?: string; unsafeNoFsync?: boolean; limits: string; exitWithParent?: boolean;
  snapshotEvery: number; logKeep: number; snapshotRetain: number; tlsAnonymousClients: 'refuse' | 'read'; readLease?: boolean; leaseDriftMs?: number;
}

/** How long a close may take once asked for before the process exits anyway. */
const closeGraceMs = 10_000;

export function addServerCommand(program: Command): void {
  const command = addTlsOptions(program.command('server'), 'this server\'s')
    .description('run one server in the foreground until SIGINT or SIGTERM')
    .option('--id <id>', 'this server\'s id (required)')
    .option('--peers <list>', 'every server: id=host:port,... (required, unless --join)')
    .option('--peer-routes <list>', 'where this server dials some members, when not at their configured address (a proxy): id=host:port,...')
    .option('--join', 'start empty and wait to be added to a running group (raftline peer add); needs --listen, takes no --peers')
    .option('--dir <dir>', 'data directory (required)')
    .option('--listen <address>', 'host:port to listen on (default: this server\'s address in --peers)')
    .option('--group <id>', 'group id', 'default')
    .option('--state-machine <module>', stateMachineHelp, 'kv')
    .addOption(actorsOption())
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'))
    .addOption(profilingOption())
    .option('--metrics <address>', 'host:port of the Prometheus endpoint (HTTP GET /metrics)')
    .option('--unsafe-no-fsync', 'UNSAFE, benchmarks only: acknowledge writes without fdatasync')
    .option('--snapshot-every <entries>', 'take a snapshot once this many entries were applied since the last (0: only on demand)',
      integer('--snapshot-every', 0), snapshotEveryDefault)
    .option('--log-keep <entries>', 'entries kept in the log below the newest snapshot, for followers a little behind', integer('--log-keep', 0), logKeepDefault)
    .option('--snapshot-retain <n>', 'snapshots kept on disk', integer('--snapshot-retain', 1), snapshotRetainDefault)
    .option('--limits <list>', `limit overrides: name=value,... (every limit and its default: ${limitsDoc})`, '')
    .addOption(new Option('--tls-anonymous-clients <mode>', 'on a TLS port, a client without a certificate: refused, or taken as role read')
      .choices(['refuse', 'read']).default('refuse'))
    .option('--exit-with-parent', 'stop when the process that started this one exits (needs an IPC channel from it, as `raftline cluster` gives)');
  for (const option of readLeaseOptions()) command.addOption(option);
  command.action(runServer);
}

async function runServer(options: ServerFlags & TlsFlags): Promise<void> {
  const id = required(options.id, '--id <id>');
  const tlsFiles = tlsFilesOf(options);
  if (options.join === true && options.peers !== undefined) throw new ConfigurationError('--join takes no --peers: the server learns the group from its leader');
  if (options.join === true && options.listen === undefined) throw new ConfigurationError('--join needs --listen <host:port>');
  const peers = options.join === true ? [] : parsePeers(required(options.peers, '--peers <list>'));
  const dir = required(options.dir, '--dir <dir>');
  if (options.exitWithParent === true && process.channel === undefined) {
    throw new ConfigurationError('--exit-with-parent needs an IPC channel from the parent process (spawn with stdio \'ipc\')');
  }
  const readLease = readLeaseFrom(options);
  const logger = pino({ level: options.logLevel });
  const server = new RaftServer({
    id, peers, dir, groupId: options.group, ...(options.join === true ? { join: true } : {}),
    ...(options.peerRoutes === undefined ? {} : { peerRoutes: Object.fromEntries(parsePeers(options.peerRoutes).map((peer) => [peer.id, peer.address])) }),
    stateMachine: options.stateMachine, actors: options.actors, logger, profiling: options.profiling === 'on',
    unsafeNoFsync: options.unsafeNoFsync === true, limits: parseLimits(options.limits),
    snapshotEvery: options.snapshotEvery, logKeep: options.logKeep, snapshotRetain: options.snapshotRetain,
    ...(readLease === undefined ? {} : { readLease }),
    ...(options.listen === undefined ? {} : { listen: options.listen }),
    ...(options.metrics === undefined ? {} : { metricsAddress: options.metrics }),
    ...(tlsFiles === null ? {} : { tls: { ...readTlsFiles(tlsFiles), anonymousClients: options.tlsAnonymousClients } }),
  });
  prepareDataDir(dir);
  if (options.unsafeNoFsync === true) {
    process.stderr.write(`raftline server ${id}: UNSAFE --unsafe-no-fsync: writes are acknowledged without fdatasync\n`);
  }
  server.onFailure((error) => {
    process.stderr.write(`raftline server ${id} stopped: ${error.message}\n`);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 2000).unref();
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(process.exitCode ?? 1), closeGraceMs).unref();
    void server.close().then(() => process.exit(process.exitCode ?? 0));
  };
  if (options.exitWithParent === true) {
    // The parent's end of the IPC pipe closes when it exits, however it exits (SIGKILL included).
    process.once('disconnect', stop);
    process.channel?.unref();
  }
  await server.start();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (tlsFiles !== null) {
    process.on('SIGHUP', () => {
      try {
        server.reloadTls(readTlsFiles(tlsFiles));
      } catch (error) {
        logger.error({ id, error: (error as Error).message }, 'TLS reload failed; the server keeps its current certificate');
      }
    });
  }
}
