/**
 * A follower's replication progress on the appender after a rejection: an ordinary one (the
 * follower is behind, or its log diverges) moves only the next index; one whose hint falls at or
 * below the follower's match index says the follower lost entries it had acknowledged (a replaced
 * disk, a damaged tail cut at restart), and the appender must forget that match and send the
 * follower its log again from the hint. A real AppenderActor with scripted followers
 * (test/support/scripted-appender.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { settle, startAppender } from '../support/scripted-appender.js';

/** The matches the appender reported for `peer`, in order. */
function matchesOf(progress: { matches: [string, number][] }[], peer: string): number[] {
  return progress.flatMap((message) => message.matches.filter(([id]) => id === peer).map(([, index]) => index));
}

/** A leader of term 2 whose log holds 1-10 (its no-op, then nine entries), acknowledged by `followers`. */
async function leaderOfTen(followers: string[]): Promise<Awaited<ReturnType<typeof startAppender>>> {
  const a = await startAppender();
  a.lead(2, 1, [{ firstIndex: 1, term: 2 }], 1);
  a.entries(2, [2, 2, 2, 2, 2, 2, 2, 2, 2]);
  await settle();
  for (const follower of followers) a.ack(follower, 2, 10);
  await settle();
  return a;
}

test('a follower that comes back with an empty log is sent the whole log again, and its old match stops counting', async () => {
  const a = await leaderOfTen(['n2', 'n3']);
  try {
    assert.deepEqual(matchesOf(a.progress, 'n2'), [10]);
    // n2 restarted on a wiped disk: it rejects the next request with the hint of an empty log.
    a.reject('n2', 2, 1);
    await settle();
    assert.deepEqual(matchesOf(a.progress, 'n2'), [10, 0], 'the match of entries n2 no longer holds is withdrawn');
    const resent = a.sentTo('n2').at(-1)!;
    assert.equal(resent.prevIndex, 0, 'replication to n2 starts over from its first entry');
    assert.equal(resent.terms.length, 10, 'the whole log, 1-10, in one batch');
    a.ack('n2', 2, 10);
    await settle();
    assert.deepEqual(matchesOf(a.progress, 'n2'), [10, 0, 10], 'a new acknowledgement counts again');
  } finally {
    await a.close();
  }
});

test('a follower whose damaged last entry was cut at restart is sent that entry again', async () => {
  const a = await leaderOfTen(['n2']);
  try {
    a.reject('n2', 2, 10);
    await settle();
    assert.deepEqual(matchesOf(a.progress, 'n2'), [10, 0]);
    const resent = a.sentTo('n2').at(-1)!;
    assert.deepEqual([resent.prevIndex, resent.prevTerm, resent.terms], [9, 2, [2]], 'entry 10 again, after entry 9 of term 2');
  } finally {
    await a.close();
  }
});

test('an ordinary rejection above the match index keeps the match and moves only the next index', async () => {
  const a = await startAppender();
  try {
    a.lead(2, 1, [{ firstIndex: 1, term: 2 }], 1);
    a.entries(2, [2, 2, 2, 2]);
    await settle();
    a.ack('n3', 2, 3);
    await settle();
    a.entries(6, [2, 2, 2, 2, 2]);
    await settle();
    a.reject('n3', 2, 7);
    await settle();
    assert.deepEqual(matchesOf(a.progress, 'n3'), [3], 'no match withdrawn');
    const next = a.sentTo('n3').at(-1)!;
    assert.equal(next.prevIndex, 6, 'the follower is probed from its hint');
  } finally {
    await a.close();
  }
});
