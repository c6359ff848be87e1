/**
 * The group's configuration (Raft §6, thesis §4): who votes, who only listens, and while a change
 * is joint (C_old,new) the outgoing voters too. Configurations live in the log as entries of
 * their own and take effect on every server as soon as they are appended, committed or not; a
 * truncation of the entry reverts to the configuration before it. `ConfigurationLog` keeps the
 * configurations of the log's uncommitted part (and the last committed one) by index, which is
 * all that rule needs; the core asks it for the configuration in force.
 *
 * A change goes through the log in at most three entries: the new servers as learners, which
 * receive the log but never vote or count, until they caught up (Ratis's staging); then
 * C_old,new (voters: the new set, outgoing: the old), under which a decision needs a majority of
 * each; once that commits, the leader appends C_new. A leader that is not in C_new steps down
 * once C_new commits.
 */
import { assert } from '../errors.js';
import type { QuorumConfiguration } from './commit-rule.js';
import type { NodeId } from './types.js';

export interface Member {
  id: NodeId;
  /** host:port, where the other servers reach it. */
  address: string;
}

export interface GroupConfiguration {
  voters: Member[];
  /** Non-voting members: replicated to, never counted, never campaigning. */
  learners: Member[];
  /** While joint (C_old,new): the old configuration's voters; null otherwise. */
  outgoing: Member[] | null;
}

export interface ConfigurationAt {
  /** The log index of its entry; 0 for the configuration the servers were started with. */
  index: number;
  configuration: GroupConfiguration;
}

const ids = (members: readonly Member[]): NodeId[] => members.map((member) => member.id);

/** The commit rule's view: voters, and the outgoing voters while joint. */
export function quorumOf(configuration: GroupConfiguration): QuorumConfiguration {
  return configuration.outgoing === null
    ? { voters: ids(configuration.voters) }
    : { voters: ids(configuration.voters), outgoing: ids(configuration.outgoing) };
}

/** Every member, each once: voters, outgoing voters, learners. */
export function membersOf(configuration: GroupConfiguration): Member[] {
  const seen = new Map<NodeId, Member>();
  for (const member of [...configuration.voters, ...(configuration.outgoing ?? []), ...configuration.learners]) {
    if (!seen.has(member.id)) seen.set(member.id, member);
  }
  return [...seen.values()];
}

/** Whether `id` votes under `configuration` (in the voters or, while joint, the outgoing voters). */
export function isVoterIn(configuration: GroupConfiguration, id: NodeId): boolean {
  return configuration.voters.some((member) => member.id === id) || (configuration.outgoing ?? []).some((member) => member.id === id);
}

/** What is wrong with a configuration (null when nothing): ids distinct, addresses given, a voter at least. */
export function configurationProblem(configuration: GroupConfiguration): string | null {
  if (configuration.voters.length === 0) return 'it leaves no voter';
  for (const set of [configuration.voters, configuration.learners, configuration.outgoing ?? []]) {
    if (new Set(ids(set)).size !== set.length) return 'an id appears twice';
  }
  const learnerIds = new Set(ids(configuration.learners));
  if (configuration.voters.some((member) => learnerIds.has(member.id))) return 'a server is both voter and learner';
  const addressOf = new Map<NodeId, string>();
  for (const member of membersOf(configuration)) {
    if (member.id.length === 0) return 'an id is empty';
    if (member.address.length === 0) return `${member.id} has no address`;
    addressOf.set(member.id, member.address);
  }
  for (const member of [...configuration.voters, ...configuration.learners, ...(configuration.outgoing ?? [])]) {
    if (addressOf.get(member.id) !== member.address) return `${member.id} has two addresses`;
  }
  const byAddress = new Map<string, NodeId>();
  for (const [id, address] of addressOf) {
    if (byAddress.has(address)) return `${byAddress.get(address)} and ${id} share the address ${address}`;
    byAddress.set(address, id);
  }
  return null;
}

/** A snapshot manifest's form of a configuration (ids, and the addresses apart). */
export function toSnapshotConfiguration(configuration: GroupConfiguration): {
  voters: string[]; learners: string[]; outgoing: string[] | null; addresses: Record<string, string>;
} {
  return {
    voters: ids(configuration.voters),
    learners: ids(configuration.learners),
    outgoing: configuration.outgoing === null ? null : ids(configuration.outgoing),
    addresses: Object.fromEntries(membersOf(configuration).map((member) => [member.id, member.address])),
  };
}

/** A configuration from a snapshot manifest; members without a recorded address (older manifests) get `addressOf`'s. */
export function fromSnapshotConfiguration(
  snapshot: { voters: string[]; learners?: string[]; outgoing?: string[] | null; addresses?: Record<string, string> },
  addressOf: (id: NodeId) => string,
): GroupConfiguration {
  const member = (id: NodeId): Member => ({ id, address: snapshot.addresses?.[id] ?? addressOf(id) });
  return {
    voters: snapshot.voters.map(member),
    learners: (snapshot.learners ?? []).map(member),
    outgoing: snapshot.outgoing === undefined || snapshot.outgoing === null ? null : snapshot.outgoing.map(member),
  };
}

export function sameConfiguration(a: GroupConfiguration, b: GroupConfiguration): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The configurations of one log: the one in force at the log's committed start (index 0 for the
 * start-up one, or a snapshot's), and every configuration entry after it, in index order.
 */
export class ConfigurationLog {
  private readonly entries: ConfigurationAt[];

  constructor(entries: readonly ConfigurationAt[]) {
    assert(entries.length > 0, 'a configuration log starts with a configuration');
    for (let i = 1; i < entries.length; i++) assert(entries[i]!.index > entries[i - 1]!.index, 'configurations out of index order');
    this.entries = [...entries];
  }

  /** The configuration in force: the latest in the log (Raft §6). */
  get latest(): ConfigurationAt {
    return this.entries[this.entries.length - 1]!;
  }

  /** The configuration in force at `index` (the latest at or before it). */
  at(index: number): ConfigurationAt {
    for (let i = this.entries.length - 1; i > 0; i--) if (this.entries[i]!.index <= index) return this.entries[i]!;
    return this.entries[0]!;
  }

  append(entry: ConfigurationAt): void {
    assert(entry.index > this.latest.index, `configuration at ${entry.index} not after ${this.latest.index}`);
    this.entries.push(entry);
  }

  /** The log lost its entries from `index` on: configurations there are gone too. True if the one in force changed. */
  truncateFrom(index: number): boolean {
    let keep = this.entries.length;
    while (keep > 1 && this.entries[keep - 1]!.index >= index) keep--;
    assert(this.entries[0]!.index < index || keep > 1 || this.entries[0]!.index === 0, `truncation at ${index} below the base configuration`);
    const changed = keep < this.entries.length;
    this.entries.length = keep;
    return changed;
  }

  /** Everything through `index` is committed: older configurations than the one in force there are dropped. */
  compactTo(index: number): void {
    let first = 0;
    while (first + 1 < this.entries.length && this.entries[first + 1]!.index <= index) first++;
    if (first > 0) this.entries.splice(0, first);
  }

  /** The log restarts after a snapshot through `index`, whose configuration is `configuration`. */
  resetTo(index: number, configuration: GroupConfiguration): void {
    this.entries.length = 0;
    this.entries.push({ index, configuration });
  }

  /** A snapshot through `index` (of `configuration`) now covers the log's start; later entries stay. */
  rebase(index: number, configuration: GroupConfiguration): void {
    const later = this.entries.filter((entry) => entry.index > index);
    this.entries.length = 0;
    this.entries.push({ index, configuration }, ...later);
  }
}
