/**
 * The command line's value parsers and shared options. A parser throws commander's
 * InvalidArgumentError, which the CLI prints as one line and exits with code 2; checks that need
 * several flags at once (a port range, a required flag) throw ConfigurationError from the action,
 * after commander has refused any unknown flag, so a mistyped flag is named before anything else.
 */
import { leaseDriftMsDefault } from '../server/options.js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ConfigurationError } from '../errors.js';
import { readPemFile, readTlsFiles, type ClientTls } from '../shell/tls-identity.js';

/** Where `raftline cluster` puts its servers unless told otherwise; `kv` and `status` look there. */
export const clusterDefaults = { nodes: 3, basePort: 7101, dir: './data' } as const;

/** The client addresses of the cluster `raftline cluster` starts by default. */
export const defaultClientPeers = Array.from({ length: clusterDefaults.nodes },
  (_, i) => `127.0.0.1:${clusterDefaults.basePort + i}`).join(',');

export const portMax = 65_535;

/** Every limit and its default, in the package (the CLI's help names it). */
export const limitsDoc = 'docs/limits.md in the raftline package';

export function integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `${name} must be an integer >= ${min}` : `${name} must be an integer from ${min} to ${max}`);
    }
    return parsed;
  };
}

export const port = (name: string): ((value: string) => number) => integer(name, 1, portMax);

export { leaseDriftMsDefault };

/** `--read-lease` and `--lease-drift-ms`, shared by `server`, `cluster` and `bench`. */
export function readLeaseOptions(): Option[] {
  return [
    new Option('--read-lease', 'serve linearizable reads on the leader lease, without a heartbeat round while a majority was heard from recently'),
    new Option('--lease-drift-ms <ms>', `the most the servers' clocks may drift apart over an election timeout; the lease is that much shorter (default ${leaseDriftMsDefault})`)
      .argParser(integer('--lease-drift-ms', 0)),
  ];
}

/** The read lease the flags ask for (RaftServerOptions.readLease), or none. */
export function readLeaseFrom(flags: { readLease?: boolean; leaseDriftMs?: number }): { clockDriftMs: number } | undefined {
  if (flags.readLease !== true) {
    if (flags.leaseDriftMs !== undefined) throw new ConfigurationError('--lease-drift-ms applies with --read-lease');
    return undefined;
  }
  return { clockDriftMs: flags.leaseDriftMs ?? leaseDriftMsDefault };
}

/** Refuses a run of `count` consecutive ports from `first` that passes the last port. */
export function checkPortRange(flag: string, first: number, count: number, what: string): void {
  const last = first + count - 1;
  if (last > portMax) {
    throw new ConfigurationError(`${flag} ${first}: ${what} need ports ${first}-${last}, past the last port ${portMax}`);
  }
}

const hostPort = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

/**
 * A client's `--peers`: `host:port,...`, or the servers' own form `id=host:port,...` (the ids
 * are dropped). Each address once.
 */
export function clientPeerList(value: string): string[] {
  const list = value.split(',').filter((part) => part.length > 0).map((part) => {
    const address = part.replace(/^[^=:]+=/, '');
    const match = hostPort.exec(address);
    const portNumber = Number(match?.[2]);
    if (match === null || portNumber < 1 || portNumber > portMax) {
      throw new InvalidArgumentError(`'${part}' is not host:port or id=host:port`);
    }
    return address;
  });
  if (list.length === 0) throw new InvalidArgumentError('name at least one server');
  const seen = new Set<string>();
  for (const address of list) {
    if (seen.has(address)) throw new InvalidArgumentError(`${address} appears twice`);
    seen.add(address);
  }
  return list;
}

/** A flag commander cannot require without checking it before unknown flags: checked here. */
export function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new ConfigurationError(`required option '${flag}' not specified`);
  return value;
}

/** The TLS flags, as every command that connects to servers takes them. */
export interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

export const tlsCertOption = (who: string): Option =>
  new Option('--tls-cert <file>', `${who} certificate (PEM; a SAN URI raftline://peer/<id> or raftline://client/<name> with raftline://role/<role>)`);
export const tlsKeyOption = (who: string): Option => new Option('--tls-key <file>', `${who} private key (PEM)`);
export const tlsCaOption = (): Option => new Option('--tls-ca <file>', 'the CA that signs the group\'s certificates (PEM); TLS is used when given');

/** Adds --tls-cert, --tls-key and --tls-ca (PEM files) to `command`; `who` says whose certificate it is. */
export function addTlsOptions(command: Command, who: string): Command {
  return command.addOption(tlsCertOption(who)).addOption(tlsKeyOption(who)).addOption(tlsCaOption());
}

/**
 * A client's TLS from its flags: none without --tls-ca; with it, the CA and the client's certificate
 * and key (both or neither: without them only a server that allows anonymous readers answers).
 */
export function clientTlsOf(flags: TlsFlags): ClientTls | undefined {
  if (flags.tlsCa === undefined) {
    if (flags.tlsCert !== undefined || flags.tlsKey !== undefined) throw new ConfigurationError('--tls-cert and --tls-key need --tls-ca');
    return undefined;
  }
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new ConfigurationError('--tls-cert and --tls-key go together');
  if (flags.tlsCert === undefined) return { ca: readPemFile('CA', flags.tlsCa) };
  return readTlsFiles({ cert: flags.tlsCert, key: flags.tlsKey!, ca: flags.tlsCa });
}

export const profilingOption = (): Option => new Option('--profiling <mode>', 'per-stage latency profiling').choices(['on', 'off']).default('on');

export const actorsOption = (): Option => new Option('--actors <mode>', 'actors as worker threads or inline').choices(['workers', 'inline']).default('workers');

export const stateMachineHelp = 'kv, counter, or a JavaScript module: a path (relative to the working directory) or a file: URL';
