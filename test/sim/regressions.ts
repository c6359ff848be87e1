/**
 * Every seed the simulator ever failed on, kept as a named case and run on every `npm test`.
 * `caught` says what the seed showed when it failed, and what was fixed (in the simulator or in
 * raftline). A case replays with `SEED=<seed> npm run test:sim` plus the options in `args`.
 */
import type { SimConfig } from '../../src/sim/simulation.js';

export interface RegressionCase {
  name: string;
  seed: number;
  config: Partial<SimConfig>;
  /** Extra command-line options of the replay command (beyond SEED=<seed>). */
  args: string;
  caught: string;
}

export const regressions: readonly RegressionCase[] = [
  {
    name: 'convergence-waits-for-idle-clients',
    seed: 23,
    config: {},
    args: '',
    caught: 'The liveness check declared convergence while a client still had writes to issue; the last write ' +
      'committed on the leader only, and the end check saw followers one commit behind. Fixed in the simulator: ' +
      'clients stop issuing safety-phase operations when the liveness phase begins, and convergence waits for them.',
  },
  {
    name: 'wedged-probe-after-a-lost-frame-5-nodes',
    seed: 42,
    config: {},
    args: '',
    caught: 'A follower stayed behind forever: the one probing AppendEntries in flight to it was dropped while the ' +
      'connection stayed up, so the appender waited for its reply and sent no heartbeat (it never retransmits a ' +
      'probe). TCP cannot lose a frame without breaking the connection, so production is not exposed; the ' +
      'simulator resets every connection when the liveness phase begins.',
  },
  {
    name: 'wedged-probe-after-a-lost-frame-5-nodes-b',
    seed: 37,
    config: {},
    args: '',
    caught: 'Same wedge as wedged-probe-after-a-lost-frame-5-nodes, another schedule.',
  },
  {
    name: 'term-written-after-the-entries-that-raised-it',
    seed: 1277,
    config: {},
    args: '',
    caught: 'A follower restarted with a log entry of term 3 and a durable term of 2, and its core refused to start ' +
      '("log term 3 beyond term 2"). An AppendEntries of a new term made the server submit the entries to the log ' +
      'actor before the term write (processReady ran after the appends); the log wrote the entries unsynced, the ' +
      'crash kept them and lost the term. Fixed in RaftServer.onAppendEntries: the core\'s ready state (the new ' +
      'term) is submitted before the entries.',
  },
  {
    name: 'liveness-operations-are-writes',
    seed: 2351,
    config: {},
    args: '',
    caught: 'Every operation the clients issued after the heal happened to be a read, so no new write was ' +
      'acknowledged and the liveness check failed a healthy cluster. Fixed in the simulator: liveness-phase ' +
      'operations are writes.',
  },
  {
    name: 'crash-planned-before-heal-lands-after-it',
    seed: 66,
    config: {},
    args: '',
    caught: 'A crash planned in the safety phase landed just after the liveness phase had restarted every node, ' +
      'so a node stayed down and the cluster could not converge. Fixed in the simulator: the liveness phase ' +
      'cancels a planned crash.',
  },
  {
    name: 'follower-back-without-its-disk-3-nodes',
    seed: 296,
    config: {},
    args: '',
    caught: 'A follower that lost its disk came back with an empty log and stayed at commit 0 while the same leader ' +
      'led: the appender never moved its next index below the old match index + 1, so every probe was rejected ' +
      'again (found by the replica-loss fault with that rule in place; liveness failed). Fixed in the appender: a ' +
      'rejection hinting at or below the match withdraws the match and replicates from the hint.',
  },
  {
    name: 'follower-back-without-its-disk-5-nodes',
    seed: 274,
    config: {},
    args: '',
    caught: 'The same, in a group of five.',
  },
  {
    name: 'paused-mid-pre-vote-3-nodes',
    seed: 9,
    config: {},
    args: '',
    caught: 'Elections were paused on a pre-candidate (a pause aimed at a campaign); the pre-votes it was waiting for ' +
      'came back granted and it started an election of term 1 anyway (electionWhilePaused), so a paused node could ' +
      'still campaign and win. Fixed in RaftCore.setElectionsPaused: a pause gives up a campaign under way (the node ' +
      'waits as a follower of its term).',
  },
  {
    name: 'paused-mid-pre-vote-5-nodes',
    seed: 13,
    config: {},
    args: '',
    caught: 'The same, in a group of five, in term 2.',
  },
  {
    name: 'step-down-joins-the-handover-of-a-removed-leader',
    seed: 137,
    config: {},
    args: '',
    caught: 'A leader removed from the voters began handing over by itself; a step-down asked of it meanwhile found ' +
      'the core handing over but no call waiting, and joining that wait threw. Fixed in RaftServer.transferLeadership: ' +
      'a handover the core began itself is watched from the first call that asks for it.',
  },
];
