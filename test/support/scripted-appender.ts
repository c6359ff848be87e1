/**
 * A real AppenderActor over real MessageChannels (the server's, the log's and the updater's ends
 * held here) with scripted followers: what it sends each follower is recorded, and replies are
 * delivered as a follower's connection would. For the appender's unit tests.
 */
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

export interface Scripted {
  sent: AppendEntriesMessage[];
  deliver(message: PeerMessage): void;
}

export async function startAppender() {
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
          reset: () => {},
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
  const reads: LogReadMessage[] = [];
  const progress: AppenderProgressMessage[] = [];
  log.onMessage((message) => {
    if (message.k === Kind.LogWatch) watches.push(message.on);
    else reads.push(message);
  });
  main.onMessage((message) => { if (message.k === Kind.AppenderProgress) progress.push(message); });
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
  /** A rejection from `peer` of the last AppendEntries it got, with its next index hint. */
  const reject = (peer: string, term: number, nextIndexHint: number): void => {
    const scripted = followers.get(peer)!;
    const last = scripted.sent.at(-1);
    assert.ok(last !== undefined, `${peer} was sent nothing`);
    scripted.deliver({
      k: Kind.AppendEntriesReply, g: 'g', from: peer, term, success: false, matchIndex: 0, nextIndexHint, seq: last.seq, round: 0,
    });
  };
  /** What `peer` was sent, in order. */
  const sentTo = (peer: string): AppendEntriesMessage[] => followers.get(peer)!.sent;
  const durable = (seq: number, index: number): void => log.send({ k: Kind.LogDurable, seq, index });
  const lead = (term: number, lastIndex: number, termRuns: TermRun[], noopSeq: number, commitIndex = 0): void =>
    main.send({
      k: Kind.AppenderLeaderStart, term, commitIndex, lastIndex, termRuns, followers: ['n2', 'n3'], quorum: { voters: ['n1', 'n2', 'n3'] },
      noopSeq, truncations: 1, snapshot: null,
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
  /** Answers the log read the appender made last with `count` entries of `term` from its index. */
  const answerRead = (term: number, count: number): void => {
    const read = reads.at(-1);
    assert.ok(read !== undefined, 'the appender read nothing from the log');
    log.send({
      k: Kind.LogReadResult, peer: read.peer, firstIndex: read.fromIndex, logFirstIndex: 1, terms: new Array<number>(count).fill(term),
      entries: packPayloads(Array.from({ length: count }, (_, i) => encodeEntry({
        type: EntryType.write, clientId: 'c', callId: read.fromIndex + i, firstUnacked: 0, data: encode('v'),
      }))),
    });
  };
  return { ack, reject, sentTo, reads, answerRead, progress, durable, lead, entries, main, commits, committed, watches, close };
}

/** Lets every queued message and immediate run (the channels deliver on later turns). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 10));
}
