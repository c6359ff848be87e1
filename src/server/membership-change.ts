/**
 * A membership change led by this server (Ratis setConfiguration with its staging, Raft §6):
 *  1. servers that are to vote and are not members yet join as learners, and the change waits
 *     until each has caught up with the leader (its match at the commit index as it was when
 *     they joined), within a bounded time; one that does not is removed again and the change
 *     refused (`catchUpTimeout`);
 *  2. if the voters change, C_old,new goes in the log; the core appends C_new once that commits;
 *     the change is done once C_new (or, for learners only, the one entry) is committed.
 * One change at a time: the core refuses a second one while the configuration in force is
 * uncommitted or joint. Losing leadership midway rejects the call with NOT_LEADER; a change
 * whose C_old,new committed is completed by the next leader, and asking again for the same
 * membership then answers at once.
 */
import { MembershipChangeError } from '../errors.js';
import { configurationProblem, membersOf, type GroupConfiguration, type Member } from '../core/configuration.js';
import type { ConfigurationAt } from '../core/configuration.js';
import type { ConfigurationProposal, NodeId } from '../core/types.js';

/** What the change needs of its server. */
export interface MembershipHost {
  readonly id: NodeId;
  /** The configuration in force, and whether a change is under way (uncommitted or joint). */
  configuration(): ConfigurationAt;
  configurationChanging(): boolean;
  commitIndex(): number;
  isLeader(): boolean;
  /** Appends a configuration entry through the core (and writes and replicates it). */
  propose(configuration: GroupConfiguration): ConfigurationProposal;
  /** The match index the leader's appender last reported for `peer`. */
  matchOf(peer: NodeId): number;
  /** Resolves once `done()` holds (checked after each step of the server), rejects after `timeoutMs` or on lost leadership. */
  waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void>;
  log(message: string, fields: Record<string, unknown>): void;
}

const ids = (members: readonly Member[]): NodeId[] => members.map((member) => member.id);
const sameIds = (a: readonly Member[], b: readonly Member[]): boolean =>
  JSON.stringify(ids(a).sort()) === JSON.stringify(ids(b).sort());

/** Waits, as a leader, for the entry at `index` to commit (or for a later configuration to be in force and committed). */
function committed(host: MembershipHost, index: number, timeoutMs: number, what: string): Promise<void> {
  return host.waitUntil(() => host.commitIndex() >= index, timeoutMs, what);
}

export async function changeMembership(host: MembershipHost, target: { voters: Member[]; learners: Member[] }, catchUpTimeoutMs: number,
  commitTimeoutMs: number): Promise<void> {
  const wanted: GroupConfiguration = { voters: target.voters, learners: target.learners, outgoing: null };
  const problem = configurationProblem(wanted);
  if (problem !== null) throw new MembershipChangeError(`the configuration is refused: ${problem}`, { reason: 'invalid' });
  const current = host.configuration().configuration;
  // Every member keeps one address: a server named with another address is another server (an id that collides).
  const known = new Map(membersOf(current).map((member) => [member.id, member.address]));
  for (const member of [...wanted.voters, ...wanted.learners]) {
    const address = known.get(member.id);
    if (address !== undefined && address !== member.address) {
      throw new MembershipChangeError(`${member.id} is a member at ${address}, not ${member.address}`, { reason: 'invalid', id: member.id });
    }
  }
  if (!host.configurationChanging() && sameIds(current.voters, wanted.voters) && sameIds(current.learners, wanted.learners)) return;
  if (host.configurationChanging()) {
    throw new MembershipChangeError('another membership change is under way', { reason: 'inProgress', index: host.configuration().index });
  }
  const currentIds = new Set(ids(membersOf(current)));
  const joining = wanted.voters.filter((member) => !ids(current.voters).includes(member.id));
  const staging = joining.filter((member) => !ids(current.learners).includes(member.id));
  // 1. Future voters that are not members yet: learners first, until caught up.
  if (joining.length > 0) {
    if (staging.length > 0) {
      const learners = [...current.learners, ...staging.filter((member) => !currentIds.has(member.id))];
      const index = proposed(host, { voters: current.voters, learners, outgoing: null });
      host.log('new servers join as learners', { servers: ids(staging), index });
      await committed(host, index, commitTimeoutMs, 'the learners\' entry to commit');
    }
    const upTo = host.commitIndex();
    try {
      await host.waitUntil(() => joining.every((member) => host.matchOf(member.id) >= upTo), catchUpTimeoutMs,
        `${ids(joining).join(', ')} to catch up`);
    } catch (error) {
      if (!host.isLeader() || staging.length === 0) throw error;
      // Removed again: a server that cannot catch up must not stay a member nobody asked for.
      const back = host.configuration().configuration;
      const stagedIds = new Set(ids(staging));
      const index = proposed(host, { voters: back.voters, learners: back.learners.filter((member) => !stagedIds.has(member.id)), outgoing: null });
      await committed(host, index, commitTimeoutMs, 'the learners\' removal to commit').catch(() => {});
      const behind = joining.filter((member) => host.matchOf(member.id) < upTo).map((member) => member.id);
      throw new MembershipChangeError(`${behind.join(', ')} did not catch up within ${catchUpTimeoutMs} ms (unreachable?); removed again`,
        { reason: 'catchUpTimeout', servers: behind, catchUpTimeoutMs });
    }
  }
  // 2. The voters change: joint consensus; the core appends C_new once C_old,new commits.
  const now = host.configuration().configuration;
  if (!sameIds(now.voters, wanted.voters)) {
    const index = proposed(host, { voters: wanted.voters, learners: wanted.learners, outgoing: now.voters });
    host.log('joint configuration appended', { voters: ids(wanted.voters), outgoing: ids(now.voters), index });
    await host.waitUntil(() => {
      const inForce = host.configuration();
      return inForce.configuration.outgoing === null && inForce.index > index && host.commitIndex() >= inForce.index;
    }, commitTimeoutMs, 'C_old,new and C_new to commit');
  } else if (!sameIds(now.learners, wanted.learners)) {
    const index = proposed(host, { voters: now.voters, learners: wanted.learners, outgoing: null });
    await committed(host, index, commitTimeoutMs, 'the learners\' entry to commit');
  }
}

function proposed(host: MembershipHost, configuration: GroupConfiguration): number {
  const result = host.propose(configuration);
  if (result.ok) return result.index;
  if (result.reason === 'notLeader') throw new MembershipChangeError(`${host.id} is no longer the leader`, { reason: 'notLeader', leaderId: result.leaderId });
  throw new MembershipChangeError(result.reason === 'inProgress' ? 'another membership change is under way' : 'a leadership transfer is under way',
    { reason: result.reason, index: result.index });
}
