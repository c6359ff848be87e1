/**
 * The appender decides a leader's commit index where the followers' acknowledgements arrive and
 * hands it straight to the updater. These tests drive a real AppenderActor over real
 * MessageChannels (the server's, the log's and the updater's ends held here) with scripted
 * followers, and check the rules of that decision: a majority of durable copies, this server's own
 * copy counting only from a durable report of the current term, an earlier term's entry never
 * committed by counting, and nothing decided once the term is over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { AppenderActor, type PeerLink } from '../../src/actors/appender-actor.js';
import { ActorLink } from '../../src/shell/actor-link.js';
import { nodeTimers } from '../../src/shell/timers.js';
import { Kind } from '../../src/messages/kinds.js';
import { defaultLimits } from '../../src/limits.js';
import { encodeEntry, EntryType } from '../../src/messages/entry.js';
import { packPayloads } from '../../src/messages/packed-entries.js';
import { encode } from '../../src/messages/codec.js';
import type { PeerConnectionOptions } from '../../src/shell/peer-connection.js';
import type {
  AppendEntriesMessage, AppenderHigherTermMessage, AppenderInput, AppenderProgressMessage, LogDurableMessage, LogReadMessage,
  LogReadResultMessage, LogWatchMessage, PeerMessage, UpdaterCommitMessage,
} from '../../src/messages/messages.js';
import type { TermRun } from '../../src/core/types.js';

interface Scripted {
  sent: AppendEntriesMessage[];
  deliver(message: PeerMessage): void;
}

async function startAppender() {
  const mainPorts = new MessageChannel();
  const logPorts = new MessageChannel();
  const updaterPorts = new MessageChannel();
  const followers = new Map<string, Scripted>();
  const appender = new AppenderActor(
    { id: 'n1', groupId: 'g', peers: ['n1', 'n2', 'n3'].map((id) => ({ id, address: `127.0.0.1:${id}` })), limits: defaultLimits },
    { main: new ActorLink(mainPorts.port2), log: new ActorLink(logPorts.port2), updater: new ActorLink(updaterPorts.port2) },
    {
      timers: nodeTimers,
      dial: (options: PeerConnectionOptions): PeerLink => {
        const scripted: Scripted = { sent: [], deliver: (message) => options.onMessage(message) };
        followers.set(options.peerId, scripted);
        return {
          isConnected: true,
          send: (message) => {
            if ((message as AppendEntriesMessage).k === Kind.AppendEntries) scripted.sent.push(message as AppendEntriesMessage);
            return true;
          },
          sendBody: () => true,
          close: () => {},
        };
      },
    },
  );
  const main = new ActorLink<AppenderProgressMessage | AppenderHigherTermMessage, AppenderInput>(mainPorts.port1);
  const log = new ActorLink<LogReadMessage | LogWatchMessage, LogReadResultMessage | LogDurableMessage>(logPorts.port1);
  const updater = new ActorLink<UpdaterCommitMessage, never>(updaterPorts.port1);
  const commits: UpdaterCommitMessage[] = [];
  const watches: boolean[] = [];
  updater.onMessage((message) => commits.push(message));
  log.onMessage((message) => { if (message.k === Kind.LogWatch) watches.push(message.on); });
  await appender.start();

  /** A successful reply from `peer` to the last AppendEntries it got, matching `matchIndex`. */
  const ack = (peer: string, term: number, matchIndex: number): void => {
    const scripted = followers.get(peer)!;
    const last = scripted.sent.at(-1);
    assert.ok(last !== undefined, `${peer} was sent nothing`);
    scripted.deliver({
      k: Kind.AppendEntriesReply, g: 'g', from: peer, term, success: true, matchIndex, nextIndexHint: matchIndex + 1,
      seq: last.seq, round: 0,
    });
  };
  const durable = (seq: number, index: number): void => log.send({ k: Kind.LogDurable, seq, index });
  const lead = (term: number, lastIndex: number, termRuns: TermRun[], noopSeq: number, commitIndex = 0): void =>
    main.send({
      k: Kind.AppenderLeaderStart, term, commitIndex, lastIndex, termRuns, followers: ['n2', 'n3'], noopSeq, truncations: 1,
    });
  const entries = (firstIndex: number, terms: number[]): void => main.send({
    k: Kind.AppenderEntries, firstIndex, terms,
    entries: packPayloads(terms.map((_, i) => encodeEntry({ type: EntryType.write, clientId: 'c', callId: firstIndex + i, firstUnacked: 0, data: encode('v') }))),
  });
  const close = async (): Promise<void> => {
    await appender.stop();
    for (const channel of [mainPorts, logPorts, updaterPorts]) { channel.port1.close(); channel.port2.close(); }
  };
  /** The commit indexes the updater got (a function: an assertion on `commits` must not narrow its type). */
  const committed = (): number[] => commits.map((c) => c.commitIndex);
  return { ack, durable, lead, entries, main, commits, committed, watches, close };
}

/** Lets every queued message and immediate run (the channels deliver on later turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 10));
}

test('the appender commits once a majority holds an entry durably, its own copy from a durable report of this term', async () => {
  const a = await startAppender();
  try {
    a.lead(2, 1, [{ firstIndex: 1, term: 2 }], 5);
    a.entries(2, [2, 2]);
    await settle();
    assert.deepEqual(a.watches, [true], 'a leader asks the log for its durable index');
    a.ack('n2', 2, 3);
    await settle();
    assert.deepEqual(a.committed(), [], 'one follower alone is not a majority of three');
    a.durable(4, 3);
    await settle();
    assert.deepEqual(a.committed(), [], 'a durable report from before the term (seq below the no-op) does not count');
    a.durable(6, 3);
    await settle();
    assert.deepEqual(a.commits, [{ k: Kind.UpdaterCommit, commitIndex: 3, truncations: 1 }]);
    a.entries(4, [2]);
    await settle();
    a.ack('n3', 2, 4);
    await settle();
    assert.deepEqual(a.committed(), [3], 'index 4: only n3 holds it durably, the leader has not synced it');
    a.ack('n2', 2, 4);
    await settle();
    assert.deepEqual(a.committed(), [3, 4], 'two followers are a majority without the leader');
  } finally {
    await a.close();
  }
});

test('an earlier term\'s entry is not committed by counting, and nothing is decided after stepping down', async () => {
  const a = await startAppender();
  try {
    // Entries 1-2 are of term 2; this leader's no-op of term 3 is at 3.
    a.lead(3, 3, [{ firstIndex: 1, term: 2 }, { firstIndex: 3, term: 3 }], 7);
    await settle();
    a.ack('n2', 3, 2);
    a.ack('n3', 3, 2);
    await settle();
    assert.deepEqual(a.committed(), [], 'index 2 is on a majority but of term 2: not committed by counting (Raft §5.4.2)');
    a.ack('n2', 3, 3);
    a.durable(7, 3);
    await settle();
    assert.deepEqual(a.committed(), [3], 'the no-op of term 3 commits, and with it everything before');
    a.main.send({ k: Kind.AppenderStepDown, term: 4 });
    await settle();
    assert.deepEqual(a.watches, [true, false], 'a leader that steps down stops the log\'s reports');
    a.ack('n3', 3, 3);
    a.durable(8, 3);
    await settle();
    assert.deepEqual(a.committed(), [3], 'no commit after the term is over');
  } finally {
    await a.close();
  }
});
