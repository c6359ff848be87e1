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
import { Kind } from '../../src/messages/kinds.js';
import { settle, startAppender } from '../support/scripted-appender.js';

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
