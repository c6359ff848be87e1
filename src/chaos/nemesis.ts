/**
 * The nemesis of a chaos run: a seeded schedule of faults, applied in rounds. Each round picks a
 * fault, sometimes composes it with a second one of another category, holds them for a while,
 * then heals everything (links restored, paused servers continued, killed servers restarted) and
 * lets the cluster recover before the next round. The schedule (which faults, which servers by
 * role or position, how long) follows from the seed; which server is leader when a round starts
 * is read from the live cluster.
 *
 * Categories: cuts (partition into halves, isolate the leader, majorities ring, bridge, one-way
 * cuts, dropped links), delay, process faults (kill -9 of the leader or of any server, and
 * SIGSTOP beyond the election timeout, then SIGCONT), disk faults (a follower killed and
 * restarted without its data directory (a replaced disk), or with its last log record damaged),
 * and the operator's leadership calls, through the admin API: a transfer, the leader asked to
 * hand over to another server (thesis §3.10; writes meanwhile are answered TRANSFER_IN_PROGRESS
 * and retried; its outcome and time go into the record), and elections paused on a follower for
 * the hold (it neither campaigns nor takes a handed-over leadership), resumed at the heal. The
 * two are categories of their own, so a transfer may meet a paused target, a cut or a kill.
 *
 * A server that loses synced data forgets entries it may have acknowledged, and its vote: Raft
 * assumes it never does. So a disk fault strikes alone, on a settled cluster, and only once
 * everything the victim held is committed and durable on every other server (it waits for that,
 * briefly, and otherwise keeps the disk: a plain kill). Then no acknowledged write depends on the
 * victim, and no candidate is about that its lost vote could elect twice.
 */
import type { SeededRng } from '../core/rng.js';
import type { CutMode, FaultNetwork } from './fault-proxy.js';

export const faultKinds = [
  'partition-halves', 'isolate-leader', 'majorities-ring', 'bridge', 'one-way', 'drop', 'delay', 'kill', 'kill-leader', 'pause',
  'lose-disk', 'damage-tail', 'transfer', 'pause-election', 'membership',
] as const;
export type FaultKind = (typeof faultKinds)[number];

const categoryOf: Record<FaultKind, 'cut' | 'delay' | 'process' | 'disk' | 'leadership' | 'election' | 'membership'> = {
  'partition-halves': 'cut', 'isolate-leader': 'cut', 'majorities-ring': 'cut', bridge: 'cut', 'one-way': 'cut', drop: 'cut',
  delay: 'delay', kill: 'process', 'kill-leader': 'process', pause: 'process', 'lose-disk': 'disk', 'damage-tail': 'disk',
  transfer: 'leadership', 'pause-election': 'election', membership: 'membership',
};

/** Faults that cut links; the recovery figure "heal to next write" is taken after these. */
export const partitionKinds: ReadonlySet<FaultKind> = new Set(['partition-halves', 'isolate-leader', 'majorities-ring', 'bridge', 'one-way', 'drop']);

export interface FaultRecord {
  kind: FaultKind;
  /** What it did, e.g. "n1,n2 | n3 (refuse)". */
  detail: string;
  /** The servers it aimed at (the leader, the killed or paused server); may be empty. */
  targets: string[];
  /** Whether the leader at the start of the round was among the targets of a process fault. */
  hitLeader: boolean;
  /** Whether another fault was active in the same round. */
  composed: boolean;
  /** Whether, when the round began, every server answered and one was leader. */
  settled: boolean;
  startMs: number;
  healMs: number;
  /**
   * A transfer's outcome once it settled: whether the target took over, and how long that took:
   * the handover on the leader that made it when done (the call, retries included, is in the
   * detail), the whole call when failed.
   */
  transfer?: { done: boolean; ms: number };
}

/** What the leader answered a transfer: the new leader and its term, or why it failed. */
export type TransferAnswer = { ok: true; leader: string; term: number; ms: number } | { ok: false; reason: string };

export interface NemesisHost {
  readonly ids: readonly string[];
  readonly network: FaultNetwork;
  /** The current leader's id, or null when none answers as leader. */
  leader(): Promise<string | null>;
  /** Whether every server answers and one of them is leader. */
  settled(): Promise<boolean>;
  kill(id: string): void;
  /** Restarts a killed server once its process has exited. */
  restart(id: string): Promise<void>;
  pause(id: string): void;
  resume(id: string): void;
  /** Resolves once a killed server's process has exited. */
  exited(id: string): Promise<void>;
  /** Per running server (null when it does not answer): the index through which it holds entries committed and durable. */
  durableCommitted(): Promise<Map<string, number | null>>;
  /** The last index in a stopped server's log on disk. */
  lastIndexOnDisk(id: string): number;
  /** Removes a stopped server's data directory. */
  loseDisk(id: string): void;
  /** Damages the last record of a stopped server's log; its index, or null when there is none to damage. */
  damageTail(id: string): number | null;
  /** Asks the leader (whichever server it is by then) to hand leadership to `to` within `timeoutMs`; never rejects. */
  transferLeadership(to: string, timeoutMs: number): Promise<TransferAnswer>;
  /** Pauses or resumes elections on a server; false when it did not answer. */
  setElectionPaused(id: string, paused: boolean): Promise<boolean>;
  /**
   * Asks the leader to remove a server from the group, or to add it back (at its own address, as
   * a learner until caught up, then a voter); never rejects: what happened, or why not.
   */
  changeMembership(change: 'remove' | 'add', id: string): Promise<{ ok: boolean; detail: string }>;
  /** Asks the leader to replace voter `out` by server `incoming` in one joint change; never rejects. */
  replaceMember(out: string, incoming: string): Promise<{ ok: boolean; detail: string }>;
}

export interface NemesisOptions {
  holdMsMin: number;
  holdMsMax: number;
  quietMsMin: number;
  quietMsMax: number;
  /** A paused server stays stopped at least this long (beyond the longest election timeout). */
  pauseMsMin: number;
  /** After a heal and the quiet time, how long to wait at most for all servers and a leader. */
  settleMsMax: number;
  /** A transfer's timeout is drawn between these (the default election timeout is 500-1000 ms). */
  transferMsMin: number;
  transferMsMax: number;
  /** Probability that a round composes a second fault. */
  composeProbability: number;
  /**
   * Faults the run should reach: a round that starts behind this pace always composes two
   * faults (a slow machine stretches rounds; the count stays comparable across machines).
   */
  faultsMin: number;
  /** The kinds to draw from (default: all that fit the cluster size). */
  kinds?: readonly FaultKind[];
}

export const defaultNemesisOptions: NemesisOptions = {
  holdMsMin: 500, holdMsMax: 1800, quietMsMin: 300, quietMsMax: 800, pauseMsMin: 1300, settleMsMax: 2000, transferMsMin: 500,
  transferMsMax: 1500, composeProbability: 0.45, faultsMin: 0,
};

function shuffled<T>(rng: SeededRng, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = rng.intBetween(0, i);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

export class Nemesis {
  private readonly records: FaultRecord[] = [];
  private readonly killed = new Set<string>();
  private readonly paused = new Set<string>();
  /** Servers whose elections this nemesis paused, and its admin calls (transfers, pauses) of the round. */
  private readonly electionPaused = new Set<string>();
  private readonly adminCalls: Promise<void>[] = [];
  /** Servers this nemesis removed from the group: added back at the heal. */
  private readonly removed = new Set<string>();
  /** Membership changes asked (removals and additions) and those committed. */
  readonly membership = { asked: 0, done: 0 };

  constructor(
    private readonly host: NemesisHost,
    private readonly rng: SeededRng,
    private readonly options: NemesisOptions = defaultNemesisOptions,
    private readonly log: (line: string) => void = () => {},
  ) {}

  get faults(): readonly FaultRecord[] {
    return this.records;
  }

  /** Runs rounds until `stopAtMs`, then heals everything. */
  async run(stopAtMs: number): Promise<FaultRecord[]> {
    const kinds = (this.options.kinds ?? faultKinds).filter((kind) => this.host.ids.length >= 5 || (kind !== 'majorities-ring' && kind !== 'bridge'));
    if (kinds.length === 0) throw new Error('no fault kind fits this cluster (majorities-ring and bridge need 5 nodes)');
    const startMs = Date.now();
    let settled = await this.host.settled();
    while (Date.now() + this.options.holdMsMin < stopAtMs) {
      const first = kinds[this.rng.intBetween(0, kinds.length - 1)]!;
      const round: FaultKind[] = [first];
      const pace = (Date.now() - startMs) / Math.max(1, stopAtMs - startMs) + 0.2;
      const behind = this.records.length + 1 < this.options.faultsMin * pace;
      // Disk faults strike alone (see the file header).
      const others = kinds.filter((kind) => categoryOf[kind] !== categoryOf[first] && categoryOf[kind] !== 'disk');
      if (categoryOf[first] !== 'disk' && others.length > 0 && (this.rng.nextFloat() < this.options.composeProbability || behind)) {
        round.push(others[this.rng.intBetween(0, others.length - 1)]!);
      }
      // Behind the pace: shorter holds and settling, so a slow machine still reaches faultsMin.
      let holdMs = this.rng.intBetween(this.options.holdMsMin, behind ? this.options.holdMsMin + 400 : this.options.holdMsMax);
      if (round.includes('pause')) holdMs = Math.max(holdMs, this.options.pauseMsMin + this.rng.intBetween(0, 1200));
      const quietMs = this.rng.intBetween(this.options.quietMsMin, this.options.quietMsMax);
      const leader = await this.host.leader();
      const started: FaultRecord[] = [];
      for (const kind of round) {
        const record = categoryOf[kind] === 'disk' ? await this.injectDiskFault(kind, leader, settled) : this.inject(kind, leader, round.length > 1, settled);
        started.push(record);
        this.records.push(record);
        this.log(`fault ${kind}: ${record.detail}`);
      }
      await sleep(Math.min(holdMs, stopAtMs - Date.now()));
      await this.healAll(false);
      const healMs = Date.now();
      for (const record of started) record.healMs = healMs;
      this.log('healed');
      await sleep(Math.min(quietMs, stopAtMs - Date.now()));
      // Let restarted servers come up and the cluster elect before the next round (bounded), so
      // that rounds test recovery from a working cluster rather than pile onto one that never
      // got back up (a restart can take seconds on a loaded machine).
      const settleUntilMs = Math.min(Date.now() + (behind ? this.options.settleMsMax / 4 : this.options.settleMsMax), stopAtMs);
      while (!(settled = await this.host.settled()) && Date.now() < settleUntilMs) await sleep(100);
    }
    await this.healAll();
    return this.records;
  }

  /**
   * Links restored, paused servers continued, killed servers restarted, elections resumed; a
   * transfer still running is waited for (its timeout bounds it), so its record is complete, and
   * a pause still on its way, so that the resume comes after it.
   */
  async healAll(final = true): Promise<void> {
    await this.host.network.heal();
    for (const id of this.paused) this.host.resume(id);
    this.paused.clear();
    const restarting = [...this.killed];
    this.killed.clear();
    await Promise.all(restarting.map((id) => this.host.restart(id)));
    await Promise.all(this.adminCalls.splice(0));
    // A server removed stays out for a later round (to be added back, or to replace another) half
    // of the time; at the last heal every one is added back (a change under way, or a leader lost
    // midway, is retried).
    for (const id of final || this.rng.nextFloat() < 0.5 ? [...this.removed] : []) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const answer = await this.host.changeMembership('add', id);
        this.membership.asked++;
        if (answer.ok) {
          this.membership.done++;
          this.removed.delete(id);
          this.log(`membership: ${id} added back: ${answer.detail}`);
          break;
        }
        this.log(`membership: adding ${id} back failed (${answer.detail}), retrying`);
        await sleep(300);
      }
    }
    // A restart clears a pause (it is not durable), but a pause that was still on its way may
    // have reached the restarted server: every server paused is asked to resume. One that does
    // not answer (still starting, slow) is asked again, and stays in the set for the next heal.
    await Promise.all([...this.electionPaused].map(async (id) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        if (await this.host.setElectionPaused(id, false)) {
          this.electionPaused.delete(id);
          return;
        }
        await sleep(200);
      }
    }));
  }

  /** A follower killed, then (when safe: see the file header) restarted at heal without its disk or with a damaged tail. */
  private async injectDiskFault(kind: FaultKind, leader: string | null, settled: boolean): Promise<FaultRecord> {
    const ids = this.host.ids;
    const followers = ids.filter((id) => id !== leader);
    const target = followers[this.rng.intBetween(0, followers.length - 1)]!;
    const startMs = Date.now();
    this.host.kill(target);
    this.killed.add(target);
    const record = (detail: string): FaultRecord => ({ kind, detail, targets: [target], hitLeader: false, composed: false, settled, startMs, healMs: 0 });
    if (!settled || leader === null) return record(`kill -9 ${target}; disk kept (the cluster was not settled)`);
    await this.host.exited(target);
    const lastIndex = this.host.lastIndexOnDisk(target);
    const deadlineMs = Date.now() + 2000;
    for (;;) {
      const durable = await this.host.durableCommitted();
      if (ids.every((id) => id === target || (durable.get(id) ?? -1) >= lastIndex)) break;
      if (Date.now() > deadlineMs) return record(`kill -9 ${target}; disk kept (its entries through ${lastIndex} were not yet on every other server)`);
      await sleep(100);
    }
    if (kind === 'lose-disk') {
      this.host.loseDisk(target);
      return record(`kill -9 ${target}, its data directory removed (it held entries through ${lastIndex})`);
    }
    const damaged = this.host.damageTail(target);
    return record(damaged === null ? `kill -9 ${target}; no record to damage in its newest segment` : `kill -9 ${target}, its last record (${damaged}) damaged on disk`);
  }

  private inject(kind: FaultKind, leader: string | null, composed: boolean, settled: boolean): FaultRecord {
    const rng = this.rng;
    const ids = this.host.ids;
    const network = this.host.network;
    const anyId = (): string => ids[rng.intBetween(0, ids.length - 1)]!;
    const aimed = leader ?? anyId();
    const mode: CutMode = rng.nextFloat() < 0.5 ? 'blackhole' : 'refuse';
    const record = (detail: string, targets: string[] = []): FaultRecord => ({
      kind, detail, targets, hitLeader: leader !== null && targets.includes(leader) && categoryOf[kind] === 'process',
      composed, settled, startMs: Date.now(), healMs: 0,
    });
    const separate = (groups: string[][], cutMode: CutMode): void => {
      for (const [g, group] of groups.entries()) {
        for (const other of groups.slice(g + 1)) {
          for (const a of group) {
            for (const b of other) {
              network.cut(a, b, cutMode);
              network.cut(b, a, cutMode);
            }
          }
        }
      }
    };
    switch (kind) {
      case 'partition-halves': {
        const order = shuffled(rng, ids);
        const half = Math.floor(ids.length / 2);
        const groups = [order.slice(0, half), order.slice(half)];
        separate(groups, mode);
        return record(`${groups.map((group) => group.join(',')).join(' | ')} (${mode})`);
      }
      case 'isolate-leader': {
        separate([[aimed], ids.filter((id) => id !== aimed)], mode);
        return record(`${aimed} alone (${mode})`, [aimed]);
      }
      case 'majorities-ring': {
        // Each server sees its two neighbours on a ring: a majority each, but no common one.
        const ring = shuffled(rng, ids);
        for (const [i, a] of ring.entries()) {
          for (const [j, b] of ring.entries()) {
            const distance = Math.min((i - j + ring.length) % ring.length, (j - i + ring.length) % ring.length);
            if (distance > 1) network.cut(a, b, mode);
          }
        }
        return record(`ring ${ring.join('-')} (${mode})`);
      }
      case 'bridge': {
        // Two halves that see each other only through one server in the middle.
        const order = shuffled(rng, ids);
        const middle = order[2]!;
        const left = order.slice(0, 2);
        const right = order.slice(3);
        separate([left, right], mode);
        return record(`${left.join(',')} | ${middle} | ${right.join(',')} (${mode})`, [middle]);
      }
      case 'one-way': {
        const shape = rng.intBetween(0, 2);
        if (shape === 0) {
          // The leader still hears everyone but nobody hears it.
          for (const id of ids) if (id !== aimed) network.cut(aimed, id, 'blackhole');
          return record(`${aimed} → others cut`, [aimed]);
        }
        if (shape === 1) {
          // The leader's messages go out, nothing reaches it.
          for (const id of ids) if (id !== aimed) network.cut(id, aimed, 'blackhole');
          return record(`others → ${aimed} cut`, [aimed]);
        }
        const pairs: string[] = [];
        const count = rng.intBetween(1, ids.length);
        for (let i = 0; i < count; i++) {
          const [a, b] = shuffled(rng, ids);
          network.cut(a!, b!, 'blackhole');
          pairs.push(`${a}→${b}`);
        }
        return record(pairs.join(' '));
      }
      case 'drop': {
        const pairs: string[] = [];
        const count = rng.intBetween(1, ids.length - 1);
        for (let i = 0; i < count; i++) {
          const [a, b] = shuffled(rng, ids);
          separate([[a!], [b!]], 'refuse');
          pairs.push(`${a}×${b}`);
        }
        return record(`links dropped ${pairs.join(' ')}`);
      }
      case 'delay': {
        const everywhere = rng.nextFloat() < 0.5;
        const details: string[] = [];
        for (const a of ids) {
          for (const b of ids) {
            if (a === b || (!everywhere && rng.nextFloat() < 0.5)) continue;
            const delayMs = rng.intBetween(20, 250);
            network.delay(a, b, delayMs);
            if (!everywhere) details.push(`${a}→${b} ${delayMs}ms`);
          }
        }
        return record(everywhere ? 'every link 20-250 ms' : details.join(' '));
      }
      case 'kill':
      case 'kill-leader': {
        const target = kind === 'kill' ? anyId() : aimed;
        this.host.kill(target);
        this.killed.add(target);
        return record(`kill -9 ${target}`, [target]);
      }
      case 'pause': {
        const target = rng.nextFloat() < 0.6 ? aimed : anyId();
        this.host.pause(target);
        this.paused.add(target);
        return record(`SIGSTOP ${target}`, [target]);
      }
      case 'transfer': {
        const target = shuffled(rng, ids).find((id) => id !== leader)!;
        const timeoutMs = rng.intBetween(this.options.transferMsMin, this.options.transferMsMax);
        const entry = record(`${leader ?? 'the leader'} → ${target}, timeout ${timeoutMs} ms`, [target]);
        this.adminCalls.push(this.host.transferLeadership(target, timeoutMs).then((answer) => {
          const ms = Date.now() - entry.startMs;
          entry.transfer = { done: answer.ok, ms: answer.ok ? answer.ms : ms };
          entry.detail += answer.ok ? `: done, ${answer.leader} leads term ${answer.term} after ${Math.round(answer.ms)} ms (call ${ms} ms)`
            : `: failed (${answer.reason}) after ${ms} ms`;
          this.log(`transfer ${entry.detail}`);
        }));
        return entry;
      }
      case 'pause-election': {
        // A follower: the leader's possible successor, left out of the next election.
        const followers = ids.filter((id) => id !== leader);
        const target = followers[rng.intBetween(0, followers.length - 1)]!;
        this.electionPaused.add(target);
        const entry = record(`elections paused on ${target}`, [target]);
        this.adminCalls.push(this.host.setElectionPaused(target, true).then((answered) => {
          if (!answered) entry.detail += ' (not answered)';
        }));
        return entry;
      }
      case 'membership': {
        // A server out since an earlier round replaces a member, or is added back; otherwise a
        // member (the leader too: it hands over before it leaves) is removed, fewer than half of
        // the servers being out at a time.
        const out = [...this.removed];
        const members = ids.filter((id) => !this.removed.has(id));
        // A server counts as back only once its change is done: else the last heal adds it back.
        const settle = (entry: FaultRecord, change: Promise<{ ok: boolean; detail: string }>, back: string | null = null): FaultRecord => {
          this.adminCalls.push(change.then((answer) => {
            this.membership.asked++;
            if (answer.ok) this.membership.done++;
            if (answer.ok && back !== null) this.removed.delete(back);
            entry.detail += answer.ok ? `: done, ${answer.detail}` : `: not made (${answer.detail})`;
          }));
          return entry;
        };
        const outMax = Math.floor((ids.length - 1) / 2);
        if (out.length > 0 && (out.length >= outMax || rng.nextFloat() < 0.6)) {
          const incoming = out[rng.intBetween(0, out.length - 1)]!;
          if (rng.nextFloat() < 0.5) {
            return settle(record(`add ${incoming} back`, [incoming]), this.host.changeMembership('add', incoming), incoming);
          }
          const leaving = members[rng.intBetween(0, members.length - 1)]!;
          this.removed.add(leaving);
          return settle(record(`replace ${leaving}${leaving === leader ? ' (the leader)' : ''} by ${incoming}`, [leaving, incoming]),
            this.host.replaceMember(leaving, incoming), incoming);
        }
        const target = members[rng.intBetween(0, members.length - 1)]!;
        this.removed.add(target);
        return settle(record(`remove ${target}${target === leader ? ' (the leader)' : ''}`, [target]), this.host.changeMembership('remove', target));
      }
      case 'lose-disk':
      case 'damage-tail':
        throw new Error(`${kind} is injected by injectDiskFault`);
    }
  }
}
