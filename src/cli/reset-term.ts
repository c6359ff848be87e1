/**
 * `raftline reset-term`: the way back for a group whose term reached the ceiling (limits.ts,
 * termMax), which only a forged or damaged message can cause. With every server of the group
 * stopped, it prints each server's term and the last term in its log; the operator takes the
 * highest of those log terms, L, and sets the term of every server to L + 1 with no vote.
 *
 * Why that is safe: no log of the group holds an entry of a term above L, so no leader of a later
 * term ever wrote an entry anywhere; starting every server at L + 1 with no vote can elect a new
 * leader for L + 1 but can never make two logs disagree on an entry of the same index and term
 * (Log Matching, Raft §5.3). Votes cast before in terms above L are forgotten with the terms
 * themselves; they elected leaders that left nothing behind. Every server must be stopped (the
 * data directory lock is taken) and every server must get the same term.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigurationError } from '../errors.js';
import { integer } from './flags.js';
import { termMax } from '../limits.js';
import { acquireDirLock } from '../log/dir-lock.js';
import { recoverLog } from '../log/log-recovery.js';
import { readRaftMetaUnchecked, writeRaftMeta } from '../log/raft-meta.js';

export interface TermReport {
  dir: string;
  term: number;
  votedFor: string | null;
  lastIndex: number;
  lastLogTerm: number;
  termMax: number;
}

/**
 * Reads (and with `newTerm`, rewrites) the term of the server whose data directory is `dir`.
 * Throws ConfigurationError when the directory is in use or `newTerm` is not above the log's last
 * term and below the ceiling.
 */
export function resetTerm(dir: string, groupId: string, newTerm?: number): TermReport {
  const lock = acquireDirLock(dir);
  try {
    const groupDir = path.join(dir, groupId, 'current');
    if (!fs.existsSync(groupDir)) throw new ConfigurationError(`${dir} holds no data of group ${groupId} (no ${groupDir})`, { dir });
    const recovered = recoverLog(groupDir);
    const lastRun = recovered.termRuns[recovered.termRuns.length - 1];
    const lastSegment = recovered.segments[recovered.segments.length - 1];
    const lastLogTerm = lastRun?.term ?? 0;
    const lastIndex = lastSegment?.lastIndex ?? 0;
    const hardState = readRaftMetaUnchecked(groupDir);
    if (newTerm === undefined) return { dir: groupDir, ...hardState, lastIndex, lastLogTerm, termMax };
    if (!Number.isSafeInteger(newTerm) || newTerm <= lastLogTerm || newTerm >= termMax) {
      throw new ConfigurationError(
        `--term must be above this log's last term ${lastLogTerm} (and the highest last term of every server of the group) and below ${termMax}, got ${newTerm}`,
        { lastLogTerm, termMax });
    }
    writeRaftMeta(groupDir, { term: newTerm, votedFor: null });
    return { dir: groupDir, term: newTerm, votedFor: null, lastIndex, lastLogTerm, termMax };
  } finally {
    lock.release();
  }
}

export function addResetTermCommand(program: Command): void {
  program.command('reset-term')
    .description('with every server of the group stopped: print a server\'s term and last log term, or set its term (README: a term at the ceiling)')
    .requiredOption('--dir <dir>', 'the server\'s data directory')
    .option('--group <id>', 'group id', 'default')
    .option('--term <n>', 'the new term: one above the highest last log term of every server of the group', integer('--term', 1))
    .action((options: { dir: string; group: string; term?: number }) => {
      process.stdout.write(JSON.stringify(resetTerm(options.dir, options.group, options.term)) + '\n');
    });
}
