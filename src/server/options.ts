/**
 * A server's options, and their validation at start: every id once, this server among the
 * voters, addresses well formed. An invalid configuration is a ConfigurationError naming it.
 */
import { ConfigurationError } from '../errors.js';
import { defaultLimits, type Limits } from '../limits.js';
import type { ActorMode } from './actor-hosts.js';
import type { Logger } from 'pino';
import { checkTlsMaterial, type TlsMaterial } from '../shell/tls-identity.js';

export interface PeerAddress {
  id: string;
  address: string;
}

export interface RaftServerOptions {
  id: string;
  /**
   * Every voter of the group, this server included: the configuration the group starts with. Once
   * the log or a snapshot holds a configuration, that one is in force. Empty with `join`.
   */
  peers: PeerAddress[];
  /**
   * Start as a new, empty server waiting to be added to a running group (`raftline peer add`):
   * no `peers`; it learns the configuration from the leader. Needs `listen`.
   */
  join?: boolean;
  /**
   * Where this server dials some members, when not at the address the configuration gives them
   * (a proxy, another network path): id -> host:port. The configuration keeps one address per
   * member, the one clients and hints use; this only changes the route from here.
   */
  peerRoutes?: Record<string, string>;
  /** The data folder; the group's files live in `<dir>/<groupId>/current`. */
  dir: string;
  /** Where to listen for peers and clients; defaults to this server's address in `peers`. */
  listen?: string;
  groupId?: string;
  /**
   * `kv`, `counter`, or your own JavaScript module whose default export is a state machine
   * factory: a file URL (`new URL('./ledger.js', import.meta.url)`, resolved against your module)
   * or a path (resolved against the working directory when the server starts). Default `kv`.
   */
  stateMachine?: string | URL;
  actors?: ActorMode;
  limits?: Partial<Limits>;
  logger?: Logger;
  /** Per-stage latency profiling (default on); counters and gauges move either way. */
  profiling?: boolean;
  /** host:port for the Prometheus text endpoint (HTTP GET /metrics); none when absent. */
  metricsAddress?: string;
  /**
   * UNSAFE, for benchmarks only: the log acknowledges appends without fdatasync, so a machine
   * crash loses acknowledged writes. Off unless given by name; logged loudly at start.
   */
  unsafeNoFsync?: boolean;
  /**
   * Take a snapshot once this many entries were applied since the last one (0: only on demand).
   * Default 100,000: about 19 MB of log per server at raftline's 190 bytes per write, so a restart
   * replays at most that much, and at this machine's full rate a snapshot every few seconds.
   * Ignored for a state machine without `takeSnapshot`.
   */
  snapshotEvery?: number;
  /**
   * Entries kept in the log below the newest snapshot, for followers a little behind (they catch
   * up from the log instead of receiving the whole snapshot). Default 20,000.
   */
  logKeep?: number;
  /** Snapshots kept on disk, the newest; default 2. */
  snapshotRetain?: number;
  /**
   * Mutual TLS for the server's port, peers and clients alike (off when absent): this server's
   * certificate chain, its private key and the CA that signs the group's certificates, as PEM
   * contents (`readTlsFiles` reads them from files). The certificate names this server in a SAN URI
   * `raftline://peer/<id>`; identities and roles: src/shell/tls-identity.ts. Outgoing peer
   * connections present it and check that the server dialed names the id expected there.
   */
  tls?: TlsMaterial & {
    /**
     * A connection without a client certificate: `refuse` (default) or take it as role `read`.
     * Refusing is the default a deployment should keep: on a TLS port every caller is someone.
     */
    anonymousClients?: 'refuse' | 'read';
  };
  /**
   * Leader lease for linearizable reads (Ratis's leader lease; absent: off). A leader that heard
   * from a majority within the lease serves a read without a heartbeat round. The lease runs from
   * when the confirming round was sent, for the shortest election timeout less one tick (a voter
   * counts that window in whole ticks) less `clockDriftMs`: the most the servers' clocks may drift
   * apart over that window. Give every server of a group the same setting: a server with a lease
   * also refuses votes for an election timeout after it starts. A leader handing leadership over,
   * with elections paused, or stepped down serves none.
   */
  readLease?: ReadLeaseOptions;
}

/**
 * The clock drift a server's read lease allows when none is given (`--lease-drift-ms`): the lease
 * is the shortest election timeout less one tick less this (RaftServerOptions.readLease).
 */
export const leaseDriftMsDefault = 50;

export interface ReadLeaseOptions {
  clockDriftMs: number;
}

/** The lease (ms) that `readLease` gives under `limits`; ConfigurationError when none is left. */
export function readLeaseMs(readLease: ReadLeaseOptions, limits: Pick<Limits, 'tickMs' | 'electionTicksMin'>): number {
  const drift = readLease.clockDriftMs;
  const windowMs = (limits.electionTicksMin - 1) * limits.tickMs;
  if (!Number.isSafeInteger(drift) || drift < 0) throw new ConfigurationError(`readLease.clockDriftMs must be an integer of at least 0, got ${String(drift)}`);
  if (drift >= windowMs) {
    throw new ConfigurationError(`readLease.clockDriftMs ${drift} leaves no lease: it must be below ${windowMs} ms ` +
      `((electionTicksMin - 1) × tickMs)`);
  }
  return windowMs - drift;
}

export const snapshotEveryDefault = 100_000;
export const logKeepDefault = 20_000;
export const snapshotRetainDefault = 2;

const addressPattern = /^[^\s:=]+:(\d{1,5})$/;

/** Whether `address` is host:port with a port from 1 to 65535. */
function isHostPort(address: string): boolean {
  const port = Number(addressPattern.exec(address)?.[1]);
  return port >= 1 && port <= 65_535;
}

/** Parses `n1=127.0.0.1:7101,n2=...`. */
export function parsePeers(text: string): PeerAddress[] {
  return text.split(',').filter((part) => part.length > 0).map((part) => {
    const equals = part.indexOf('=');
    if (equals <= 0) throw new ConfigurationError(`peer '${part}' is not of the form id=host:port`);
    return { id: part.slice(0, equals), address: part.slice(equals + 1) };
  });
}

/** Parses `frameDeadlineMs=2000,connectionsMax=64` into limit overrides (checked by resolveLimits). */
export function parseLimits(text: string): Partial<Limits> {
  const limits: Partial<Record<keyof Limits, number>> = {};
  for (const part of text.split(',').filter((item) => item.length > 0)) {
    const equals = part.indexOf('=');
    const name = part.slice(0, equals);
    if (equals <= 0 || !Object.hasOwn(defaultLimits, name)) {
      throw new ConfigurationError(`'${part}' does not set a limit; the limits are ${Object.keys(defaultLimits).join(', ')}`);
    }
    const value = Number(part.slice(equals + 1));
    if (!Number.isSafeInteger(value)) throw new ConfigurationError(`limit ${name} must be an integer, got '${part.slice(equals + 1)}'`);
    limits[name as keyof Limits] = value;
  }
  return limits;
}

export function validateServerOptions(options: RaftServerOptions): void {
  if (!options.id) throw new ConfigurationError('server id is empty');
  const seen = new Set<string>();
  const owners = new Map<string, string>();
  for (const peer of options.peers) {
    if (seen.has(peer.id)) throw new ConfigurationError(`peer id ${peer.id} appears twice in peers`);
    seen.add(peer.id);
    if (!isHostPort(peer.address)) {
      throw new ConfigurationError(`peer ${peer.id} has address '${peer.address}', expected host:port with a port from 1 to 65535`);
    }
    // Two ids on one address: every message for one would reach the other, which refuses it as
    // not a voter, forever.
    const owner = owners.get(peer.address.toLowerCase());
    if (owner !== undefined) throw new ConfigurationError(`peers ${owner} and ${peer.id} have the same address ${peer.address}`);
    owners.set(peer.address.toLowerCase(), peer.id);
  }
  if (options.join === true) {
    if (options.peers.length > 0) throw new ConfigurationError('a server that joins takes no peers: it learns the group from its leader');
    if (options.listen === undefined) throw new ConfigurationError('a server that joins needs a listen address');
  } else if (!seen.has(options.id)) {
    throw new ConfigurationError(`server id ${options.id} is missing from peers`);
  }
  if (options.listen !== undefined && !isHostPort(options.listen)) {
    throw new ConfigurationError(`listen address '${options.listen}' is not host:port`);
  }
  if (options.metricsAddress !== undefined && !isHostPort(options.metricsAddress)) {
    throw new ConfigurationError(`metrics address '${options.metricsAddress}' is not host:port`);
  }
  for (const [name, value, min] of [
    ['snapshotEvery', options.snapshotEvery, 0], ['logKeep', options.logKeep, 0], ['snapshotRetain', options.snapshotRetain, 1],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
      throw new ConfigurationError(`${name} must be an integer of at least ${min}, got ${String(value)}`);
    }
  }
  if (options.groupId !== undefined && !/^[A-Za-z0-9_.-]+$/.test(options.groupId)) {
    throw new ConfigurationError(`group id '${options.groupId}' may hold letters, digits, '.', '_' and '-' only`);
  }
  if (options.tls !== undefined) checkTlsMaterial(options.tls, `server ${options.id}'s`);
}
