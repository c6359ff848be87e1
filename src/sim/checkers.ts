/**
 * The simulation's safety checks, run after every step (cheaply: each looks only at what changed):
 *  - election safety: at most one leader per term;
 *  - log matching: two logs that hold an entry with the same index and term agree on every
 *    entry before it (compared as term runs whenever a log's end changed);
 *  - leader completeness: a node that becomes leader holds every entry known committed;
 *  - state machine safety: no two nodes apply different entries at one index, and an index
 *    committed with one term is never committed with another;
 *  - commit index never decreases within a node's life, and the cluster's known-committed
 *    prefix never changes or shrinks;
 *  - exactly once: no write applied twice on a node (within one life, which replays its log);
 *  - no acknowledged write lost: an acknowledged write is at the index it was acknowledged with,
 *    and at the end on every live node (checked by the simulation with `checkAcknowledged`);
 *  - linearizable reads: a read returns a ledger at least as long as the position of every write
 *    acknowledged before the read began;
 *  - sessions: a write is answered SESSION_EXPIRED only once its session has been idle past the
 *    servers' bound (checked against the client's latest acknowledged write of it);
 *  - snapshots: a ledger loaded from a snapshot (installed from the leader, or at a restart) holds
 *    exactly the values the cluster applied at the committed indexes through the snapshot's index,
 *    in index order;
 *  - leadership transfers (thesis §3.10): a leader handing over appends nothing (no write is
 *    accepted during a transfer: its target must catch up with a log that stops growing), a
 *    transfer reported done names the node that led that term, and a node whose elections are
 *    paused starts none (it is never candidate or leader of a term after the one it was paused in).
 * A violation is recorded with the simulated time and a sentence; the run stops at the first.
 */
import type { TermRun } from '../core/types.js';
import type { SimNode, SnapshotLoad } from './sim-node.js';

export interface Violation {
  atMs: number;
  rule: string;
  detail: string;
}

interface NodeWatch {
  life: unknown;
  commitIndex: number;
  lastIndex: number;
  lastTerm: number;
  leaderTermSeen: number;
  appliedValues: Set<string>;
  /** While this node, as leader, hands over: the term and its log's end when the transfer was first seen. */
  handingOver: { term: number; lastIndex: number } | null;
  /** While this node's elections are paused: its term when the pause was first seen. */
  pausedInTerm: number | null;
}

export class Checkers {
  readonly violations: Violation[] = [];
  /** term -> the one leader seen in it. */
  private readonly leaderOfTerm = new Map<number, string>();
  /** committedTerms[i] = term of committed entry i (index 0 unused). */
  private readonly committedTerms: number[] = [0];
  /** Log index -> the value applied there (client entries only). */
  private readonly appliedAt = new Map<number, string>();
  /** value -> [log index, ledger position] of its (first) apply anywhere. */
  private readonly placeOf = new Map<string, [number, number]>();
  private readonly watches = new Map<string, NodeWatch>();
  private logsChanged = false;
  duplicateApplies = 0;
  lostWrites = 0;
  sessionsExpired = 0;

  constructor(private readonly now: () => number) {}

  get committedIndex(): number {
    return this.committedTerms.length - 1;
  }

  get failed(): boolean {
    return this.violations.length > 0;
  }

  violation(rule: string, detail: string): void {
    this.violations.push({ atMs: this.now(), rule, detail });
  }

  /** After every step. */
  afterStep(nodes: readonly SimNode[]): void {
    for (const node of nodes) {
      const core = node.core;
      if (core === null || node.life === null || !node.life.alive) continue;
      const watch = this.watchOf(node);
      if (core.role === 'leader' && watch.leaderTermSeen !== core.term) {
        watch.leaderTermSeen = core.term;
        this.onLeader(node.id, core.term, core.lastIndex, (index) => core.termAt(index), core.firstKnownIndex);
      }
      // A leader's appender decides commits a step before its core hears of them (and its updater
      // may apply them): they are this node's commits as much as the core's.
      const commit = Math.max(core.commitIndex, node.appender?.decidedCommitIndex ?? 0);
      if (commit < watch.commitIndex) {
        this.violation('commitMonotonic', `${node.id} commit index went from ${watch.commitIndex} to ${commit}`);
      } else if (commit > watch.commitIndex) {
        this.onCommit(node.id, watch.commitIndex, commit, (index) => core.termAt(index), core.firstKnownIndex);
        watch.commitIndex = commit;
      }
      this.checkHandingOver(node.id, watch, core.role === 'leader' ? core.transferTarget : null, core.term, core.lastIndex);
      this.checkPaused(node.id, watch, core.electionsPaused, core.role, core.term);
      if (core.lastIndex !== watch.lastIndex || core.lastTerm !== watch.lastTerm) {
        watch.lastIndex = core.lastIndex;
        watch.lastTerm = core.lastTerm;
        this.logsChanged = true;
      }
    }
    if (this.logsChanged) {
      this.logsChanged = false;
      this.checkLogMatching(nodes);
    }
  }

  private watchOf(node: SimNode): NodeWatch {
    let watch = this.watches.get(node.id);
    if (watch === undefined || watch.life !== node.life) {
      watch = { life: node.life, commitIndex: 0, lastIndex: -1, lastTerm: -1, leaderTermSeen: 0, appliedValues: new Set(), handingOver: null, pausedInTerm: null };
      this.watches.set(node.id, watch);
    }
    return watch;
  }

  /**
   * A transfer is seen after the step that started it (an admin call, which appends nothing), so
   * the log's end then is where it started; until the transfer ends, it must not move.
   */
  private checkHandingOver(id: string, watch: NodeWatch, target: string | null, term: number, lastIndex: number): void {
    if (target === null) {
      watch.handingOver = null;
    } else if (watch.handingOver === null || watch.handingOver.term !== term) {
      watch.handingOver = { term, lastIndex };
    } else if (lastIndex !== watch.handingOver.lastIndex) {
      this.violation('writeDuringTransfer',
        `${id} appended up to ${lastIndex} in term ${term} while handing leadership to ${target} (its log ended at ${watch.handingOver.lastIndex})`);
      watch.handingOver.lastIndex = lastIndex;
    }
  }

  /** A node whose elections are paused starts none: it is never a candidate of a term after the pause's. */
  private checkPaused(id: string, watch: NodeWatch, paused: boolean, role: string, term: number): void {
    if (!paused) {
      watch.pausedInTerm = null;
    } else if (watch.pausedInTerm === null) {
      watch.pausedInTerm = term;
    } else if ((role === 'candidate' || role === 'leader') && term > watch.pausedInTerm) {
      this.violation('electionWhilePaused', `${id} is ${role} of term ${term}, elections paused since term ${watch.pausedInTerm}`);
      watch.pausedInTerm = term;
    }
  }

  /** A transfer by `from` was reported done: `leader` leads `term`, and the checks saw it do so. */
  onTransferred(from: string, leader: string, term: number): void {
    const seen = this.leaderOfTerm.get(term);
    if (seen !== leader) this.violation('transferOutcome', `${from} reported ${leader} leading term ${term}; the leader seen in that term is ${seen ?? 'none'}`);
  }

  /**
   * `firstKnown`: the first index whose term the node knows; the entries before it are in its
   * snapshot, which holds committed entries only, so they are checked when the snapshot was taken
   * or installed (by the commits that led to it), not here.
   */
  private onLeader(id: string, term: number, lastIndex: number, termAt: (index: number) => number | undefined, firstKnown: number): void {
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== id) {
      this.violation('electionSafety', `two leaders in term ${term}: ${other} and ${id}`);
      return;
    }
    this.leaderOfTerm.set(term, id);
    const committed = this.committedIndex;
    if (lastIndex < committed) {
      this.violation('leaderCompleteness', `${id} leads term ${term} with last index ${lastIndex}, below the committed ${committed}`);
      return;
    }
    for (let index = Math.max(1, firstKnown); index <= committed; index++) {
      if (termAt(index) !== this.committedTerms[index]) {
        this.violation('leaderCompleteness',
          `${id} leads term ${term} with term ${termAt(index)} at ${index}, committed with term ${this.committedTerms[index]}`);
        return;
      }
    }
  }

  private onCommit(id: string, from: number, to: number, termAt: (index: number) => number | undefined, firstKnown: number): void {
    for (let index = from + 1; index <= to; index++) {
      if (index < firstKnown) {
        // Committed by an installed snapshot: the leader that sent it had it committed already.
        if (index >= this.committedTerms.length) {
          this.violation('commitGap', `${id} holds a snapshot through ${firstKnown}, past the known-committed ${this.committedIndex}`);
          return;
        }
        continue;
      }
      const term = termAt(index);
      if (term === undefined) {
        this.violation('commitBeyondLog', `${id} committed ${index} beyond its log`);
        return;
      }
      if (index < this.committedTerms.length) {
        if (this.committedTerms[index] !== term) {
          this.violation('stateMachineSafety', `${id} committed index ${index} with term ${term}; it was committed with term ${this.committedTerms[index]}`);
          return;
        }
      } else if (index === this.committedTerms.length) {
        this.committedTerms.push(term);
      } else {
        this.violation('commitGap', `${id} committed ${index} past the known-committed ${this.committedIndex}`);
        return;
      }
    }
  }

  private checkLogMatching(nodes: readonly SimNode[]): void {
    const logs: { id: string; runs: TermRun[]; lastIndex: number }[] = [];
    for (const node of nodes) {
      if (node.core !== null && node.life?.alive && node.core.lastIndex > 0) {
        logs.push({ id: node.id, runs: node.core.termRuns(), lastIndex: node.core.lastIndex });
      }
    }
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        const problem = logMatchingProblem(logs[a]!.runs, logs[a]!.lastIndex, logs[b]!.runs, logs[b]!.lastIndex);
        if (problem !== null) {
          this.violation('logMatching', `${logs[a]!.id} and ${logs[b]!.id}: ${problem}`);
          return;
        }
      }
    }
  }

  /** A node applied `value` at log `index`, as ledger entry number `position`. */
  onApply(node: SimNode, index: number, value: string, position: number): void {
    const watch = this.watches.get(node.id);
    if (watch !== undefined && watch.life === node.life) {
      if (watch.appliedValues.has(value)) {
        this.duplicateApplies++;
        this.violation('exactlyOnce', `${node.id} applied ${value} twice (again at index ${index})`);
      }
      watch.appliedValues.add(value);
    }
    const there = this.appliedAt.get(index);
    if (there === undefined) this.appliedAt.set(index, value);
    else if (there !== value) this.violation('stateMachineSafety', `${node.id} applied ${value} at ${index}, another node applied ${there}`);
    if (index > this.committedIndex) this.violation('applyUncommitted', `${node.id} applied index ${index}, committed only ${this.committedIndex}`);
    const place = this.placeOf.get(value);
    if (place === undefined) this.placeOf.set(value, [index, position]);
    else if (place[0] !== index || place[1] !== position) {
      this.violation('stateMachineSafety', `${node.id} applied ${value} at index ${index} position ${position}; elsewhere at ${place[0]} position ${place[1]}`);
    }
  }

  /**
   * `node`'s ledger was loaded from a snapshot through `index`: it must be the committed prefix,
   * i.e. the values applied anywhere at the indexes up to `index` (every one of them was applied,
   * and reported, where it was first applied), in order. Every snapshot holds committed entries
   * only, so `index` is within the known-committed prefix. From here this life's applies continue
   * after the snapshot: a value in it applied again is applied twice.
   */
  onSnapshotLoaded(node: SimNode, how: SnapshotLoad, index: number, values: readonly string[]): void {
    const rule = how === 'install' ? 'snapshotInstall' : 'snapshotRestart';
    if (index > this.committedIndex) {
      this.violation(rule, `${node.id} loaded a snapshot through ${index} (${how}), past the known-committed ${this.committedIndex}`);
      return;
    }
    const expected: string[] = [];
    for (let i = 1; i <= index; i++) {
      const value = this.appliedAt.get(i);
      if (value !== undefined) expected.push(value);
    }
    const differs = values.findIndex((value, i) => value !== expected[i]);
    if (values.length !== expected.length || differs >= 0) {
      const at = differs >= 0 ? differs : Math.min(values.length, expected.length);
      this.violation(rule, `${node.id} loaded a snapshot through ${index} (${how}) holding ${values.length} values; ` +
        `the cluster applied ${expected.length} through that index; first difference at position ${at + 1}: ` +
        `${values[at] ?? 'nothing'} instead of ${expected[at] ?? 'nothing'}`);
      return;
    }
    if (node.life !== null) this.watchOf(node).appliedValues = new Set(values);
  }

  /** A client got ok for `value` at `index`: the entry there must be that value once applied. */
  onAcknowledged(value: string, index: number): void {
    const there = this.appliedAt.get(index);
    if (there !== undefined && there !== value) {
      this.violation('acknowledgedLost', `${value} acknowledged at ${index}, but ${there} was applied there`);
    }
  }

  /**
   * A write of `session` was answered SESSION_EXPIRED `sinceActiveMs` after the session's latest
   * acknowledged write was made: the session was applied-active then, so it cannot have been
   * forgotten before `idleMsMax` more had passed (log time never runs ahead of real time).
   */
  onSessionExpired(client: string, session: string, sinceActiveMs: number, idleMsMax: number): void {
    this.sessionsExpired++;
    if (sinceActiveMs <= idleMsMax) {
      this.violation('sessionExpiredEarly', `${client}'s session ${session} answered SESSION_EXPIRED ${sinceActiveMs} ms after its last acknowledged write was made; the bound is ${idleMsMax} ms`);
    }
  }

  /** Position in the ledger of a value applied anywhere, or undefined. */
  positionOf(value: string): number | undefined {
    return this.placeOf.get(value)?.[1];
  }

  /**
   * A read invoked when `acknowledgedBefore` were already acknowledged returned `length`: each
   * of them must be within the ledger it saw.
   */
  onRead(client: string, length: number, acknowledgedBefore: readonly string[]): void {
    for (const value of acknowledgedBefore) {
      const position = this.positionOf(value);
      if (position === undefined || position > length) {
        this.violation('linearizableRead', `${client} read a ledger of ${length} entries, missing ${value} acknowledged before the read (position ${position})`);
        return;
      }
    }
  }

  /**
   * A stale read bounded by the client's own last acknowledged write (its minIndex) returned
   * `length`: that write must be within the ledger it saw (read-after-write). Nothing more is
   * promised of a stale read.
   */
  onStaleRead(client: string, length: number, ownLast: string | null): void {
    if (ownLast === null) return;
    const position = this.positionOf(ownLast);
    if (position === undefined || position > length) {
      this.violation('staleReadBound', `${client} stale-read a ledger of ${length} entries, missing its own acknowledged ${ownLast} (position ${position})`);
    }
  }

  /** The end: every acknowledged write is in every live node's ledger, once, at its place. */
  checkAcknowledged(nodes: readonly SimNode[], acknowledged: ReadonlyMap<string, number>): void {
    for (const node of nodes) {
      const ledger = node.ledger;
      if (ledger === null || !node.isUp) continue;
      const seen = new Map<string, number>();
      ledger.values.forEach((value, i) => seen.set(value, (seen.get(value) ?? 0) + (i >= 0 ? 1 : 0)));
      for (const [value, index] of acknowledged) {
        const count = seen.get(value) ?? 0;
        if (count === 0) {
          this.lostWrites++;
          this.violation('acknowledgedLost', `${node.id} lacks ${value}, acknowledged at index ${index}`);
          return;
        }
        if (count > 1) {
          this.duplicateApplies++;
          this.violation('exactlyOnce', `${node.id} holds ${value} ${count} times`);
          return;
        }
      }
    }
  }
}

/**
 * Log matching on term runs: find the highest index where both logs have the same term; below
 * it the runs must be identical. Returns a sentence on a mismatch, null when the logs match.
 */
export function logMatchingProblem(a: readonly TermRun[], aLast: number, b: readonly TermRun[], bLast: number): string | null {
  const last = Math.min(aLast, bLast);
  if (last <= 0) return null;
  // A log that starts after a snapshot knows terms from its first run on: compare from where both do.
  const from = Math.max(a[0]?.firstIndex ?? 1, b[0]?.firstIndex ?? 1);
  if (from > last) return null;
  if (from > 1) {
    const clipFrom = (runs: readonly TermRun[]): TermRun[] => {
      const kept = runs.filter((run) => run.firstIndex >= from);
      const covering = [...runs].reverse().find((run) => run.firstIndex <= from);
      return covering !== undefined && (kept.length === 0 || kept[0]!.firstIndex > from) ? [{ firstIndex: from, term: covering.term }, ...kept] : kept;
    };
    return logMatchingFrom(clipFrom(a), clipFrom(b), from, last);
  }
  return logMatchingFrom(a, b, 1, last);
}

function logMatchingFrom(a: readonly TermRun[], b: readonly TermRun[], from: number, last: number): string | null {
  const termAt = (runs: readonly TermRun[], index: number): number => {
    let low = 0;
    let high = runs.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (runs[middle]!.firstIndex <= index) low = middle;
      else high = middle - 1;
    }
    return runs[low]!.term;
  };
  // Both logs' terms are constant between the run starts of either: the highest index where
  // they agree is the top of the highest such interval whose terms are equal.
  const splits = new Set<number>([from]);
  for (const run of a) if (run.firstIndex <= last) splits.add(run.firstIndex);
  for (const run of b) if (run.firstIndex <= last) splits.add(run.firstIndex);
  const starts = [...splits].sort((x, y) => x - y);
  let agreeAt = 0;
  for (let i = starts.length - 1; i >= 0; i--) {
    if (termAt(a, starts[i]!) === termAt(b, starts[i]!)) {
      agreeAt = i + 1 < starts.length ? starts[i + 1]! - 1 : last;
      break;
    }
  }
  if (agreeAt === 0) return null;
  // Everything at or below agreeAt must agree: compare the runs clipped to agreeAt.
  const clip = (runs: readonly TermRun[]): string => {
    const kept: TermRun[] = [];
    for (const run of runs) {
      if (run.firstIndex > agreeAt) break;
      if (kept.length === 0 || kept[kept.length - 1]!.term !== run.term) kept.push(run);
    }
    return kept.map((run) => `${run.firstIndex}:${run.term}`).join(',');
  };
  const left = clip(a);
  const right = clip(b);
  if (left !== right) return `both hold index ${agreeAt} with term ${termAt(a, agreeAt)}, but their earlier terms differ: [${left}] vs [${right}]`;
  return null;
}
