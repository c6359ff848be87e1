/**
 * The follower's half of AppendEntries on the log's terms (Raft §5.3, Figure 2 "receiver
 * implementation" steps 2-4): the consistency check on (prevIndex, prevTerm), the back-off hint
 * on a mismatch, and which suffix to truncate and which entries to append on a match. It changes
 * only the `TermLog`; term, role and commit stay with `RaftCore`.
 */

import { assert } from '../errors.js';
import type { TermLog } from './term-runs.js';
import type { AppendEntriesHeader } from './types.js';

export type LogMatch =
  | { kind: 'reject'; nextIndexHint: number }
  | { kind: 'accept'; truncateFrom: number | null; appendFrom: number; matchIndex: number };

/**
 * Checks `header` against `log` and, when it matches, applies it to `log`. A log that starts after
 * a snapshot knows no terms before its first known index; everything before that is committed
 * (a snapshot covers committed entries only) and so matches any leader's log (Leader Completeness):
 * the part of a request that lies there is skipped, not checked.
 */
export function matchAndAppend(log: TermLog, commitIndex: number, header: AppendEntriesHeader): LogMatch {
  const firstKnown = log.firstKnownIndex;
  if (header.prevIndex >= 1 && header.prevIndex < firstKnown) {
    const skip = firstKnown - header.prevIndex;
    const matchIndex = header.prevIndex + header.entryTerms.length;
    if (skip > header.entryTerms.length) return { kind: 'accept', truncateFrom: null, appendFrom: header.entryTerms.length, matchIndex };
    const trimmed = { ...header, prevIndex: firstKnown, prevTerm: header.entryTerms[skip - 1]!, entryTerms: header.entryTerms.slice(skip) };
    const match = matchAndAppendKnown(log, commitIndex, trimmed);
    return match.kind === 'reject' ? match : { ...match, appendFrom: match.appendFrom + skip };
  }
  return matchAndAppendKnown(log, commitIndex, header);
}

function matchAndAppendKnown(log: TermLog, commitIndex: number, header: AppendEntriesHeader): LogMatch {
  if (header.prevIndex > log.lastIndex) return { kind: 'reject', nextIndexHint: log.lastIndex + 1 };
  const localPrevTerm = log.termAt(header.prevIndex);
  assert(localPrevTerm !== undefined, `prevIndex ${header.prevIndex} is before this log's first known entry`);
  if (localPrevTerm !== header.prevTerm) {
    // Skip the whole conflicting term at once (the optimization at the end of §5.3); entries up
    // to the commit index match any leader's (Leader Completeness), so never hint below them.
    return { kind: 'reject', nextIndexHint: Math.max(commitIndex + 1, log.firstIndexOfTerm(header.prevIndex)) };
  }

  // Entries already present with the same term are skipped, not rewritten: a delayed or
  // duplicated request must never cut off entries that a later request appended (§5.3 step 3
  // truncates only on a conflict).
  const entryTerms = header.entryTerms;
  let appendFrom = 0;
  let truncateFrom: number | null = null;
  while (appendFrom < entryTerms.length) {
    const index = header.prevIndex + 1 + appendFrom;
    if (index > log.lastIndex) break;
    if (log.termAt(index) !== entryTerms[appendFrom]) {
      assert(index > commitIndex, `truncating committed entry ${index} (commit ${commitIndex})`);
      truncateFrom = index;
      log.truncateFrom(index);
      break;
    }
    appendFrom++;
  }
  if (appendFrom < entryTerms.length) log.append(header.prevIndex + 1 + appendFrom, entryTerms.slice(appendFrom));
  return { kind: 'accept', truncateFrom, appendFrom, matchIndex: header.prevIndex + entryTerms.length };
}
